"""A drop sold and paid through Stripe over real HTTP: `chalice local` run with LIVEDROP_PAYMENTS=stripe
against the local fake of Stripe's API, on DynamoDB Local. Sixty buyers race for forty units on
short holds; the reserved ones pay at once; their browsers authorise, decline or abandon; Stripe's
webhooks arrive duplicated, stale and in any order while shoppers ask /pay again and the expiry
sweep runs; then reconciliation runs past the paying window. At the end stock is conserved, and
no order is both released and captured: every captured PaymentIntent is the one its order is
paid with, and every released order's intents are cancelled."""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from devstack.load import buyers, spike
from tests.conftest import conservation
from tests.e2e.test_spike import brand_key, live_drop
from tests.stripe_fake import start_fake_stripe

SECRET_KEY = "sk_test_spike_fake"
WEBHOOK_SECRET = "whsec_spike_fake"
UNITS, BUYERS, HOLD = 40, 60, 5
SETTLED_WITHIN = 60  # seconds: a bound against hanging, not a speed claim


@pytest.fixture(scope="module")
def stripe_api(aws_stack, tmp_path_factory):
    """(base url, fake Stripe): a second `chalice local` whose payments go to the fake."""
    import os

    from devstack.run import start_api, stop_api, wait_for_api
    from devstack.stack import LOOPBACK, free_port

    fake = start_fake_stripe()
    port = free_port()
    env = {**os.environ, **aws_stack, "LIVEDROP_PAYMENTS": "stripe", "STRIPE_API_BASE": fake.url,
           "LIVEDROP_STRIPE_SECRET_KEY": SECRET_KEY, "LIVEDROP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    process = start_api(env, port, log_path=tmp_path_factory.mktemp("stripe-api") / "chalice-local.log")
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_for_api(url + "/v1/openapi.json", process)
        yield url, fake
    finally:
        stop_api(process)
        fake.stop()


def test_a_drop_paid_through_stripe_under_racing_webhooks_and_expiry(stripe_api, operator_key, aws_stack):
    from chalicelib.adapters.stripe_payments import StripeGateway
    from chalicelib.bootstrap import services
    from chalicelib.services.payments import Payments
    from tests.fakes import FakeClock

    base_url, fake = stripe_api
    auth = brand_key(base_url, operator_key)
    session_id, product_id = live_drop(base_url, auth, UNITS, shards=4, hold_seconds=HOLD)
    result = spike(base_url, buyers(aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"], session_id, product_id, BUYERS))
    assert result.count(201) == UNITS and result.count(409, "sold_out") == BUYERS - UNITS
    orders = {a.body["id"]: a.token for a in result.attempts if a.status == 201}

    stop = threading.Event()

    def sweep():  # the scheduled release, as often as it likes, all along
        while not stop.is_set():
            services().checkout.release_expired(limit=500)

    sweeper = threading.Thread(target=sweep, daemon=True)
    sweeper.start()
    http = threading.local()

    def post(path, body, token=None, headers=None):
        if not hasattr(http, "session"):
            http.session = requests.Session()
        answer = http.session.post(base_url + path, data=body, timeout=60, headers={
            "Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}),
            **(headers or {})})
        return answer.status_code, answer.json() if answer.content else None

    try:
        with ThreadPoolExecutor(32) as pool:
            started = dict(zip(orders, pool.map(lambda oid: post(f"/v1/orders/{oid}/pay", "{}", orders[oid]), orders),
                               strict=True))
        paying = {oid: body["payment"]["reference"] for oid, (status, body) in started.items() if status == 200}
        assert all(status in (200, 409) for status, _ in started.values()), started  # 409: expired first
        assert all(body["status"] == "paying" for status, body in started.values() if status == 200)

        fates = {}
        for index, (order_id, intent_id) in enumerate(sorted(paying.items())):
            fates[order_id] = ("decline", "abandon", "authorize", "authorize")[index % 4]
            if fates[order_id] == "decline":
                fake.decline(intent_id)
            elif fates[order_id] == "authorize":
                fake.authorize(intent_id)

        def deliver(item):
            kind, intent_id, token_or_none, order_id = item
            if kind == "pay":
                return post(f"/v1/orders/{order_id}/pay", "{}", token_or_none)[0]
            body = fake.event(kind, intent_id)
            return post("/v1/payments/stripe/webhook", body, headers={"Stripe-Signature": fake.sign(body, WEBHOOK_SECRET)})[0]

        work = []
        for order_id, intent_id in paying.items():
            if fates[order_id] == "authorize":
                work += [("payment_intent.amount_capturable_updated", intent_id, None, order_id)] * 2
                work += [("payment_intent.payment_failed", intent_id, None, order_id)]  # stale
                work += [("pay", intent_id, orders[order_id], order_id)]               # the browser asks too
            elif fates[order_id] == "decline":
                work += [("payment_intent.payment_failed", intent_id, None, order_id)] * 2
        random.Random(7).shuffle(work)
        with ThreadPoolExecutor(32) as pool:
            statuses = list(pool.map(deliver, work))
        assert set(statuses) <= {200, 402, 409}, statuses  # a pay after a decline: 402; never a 5xx

        # Reconciliation past the paying window (its scheduled function, run here with a clock moved on).
        gateway = StripeGateway(lambda: SECRET_KEY, lambda: WEBHOOK_SECRET, None, fake.url)
        later = FakeClock(services().payments.clock.now() + timedelta(seconds=901))
        Payments(services().payments.orders, gateway, later, 900, services().checkout.cancel,
                 services().payments.limiter).reconcile(limit=500)

        deadline = time.monotonic() + SETTLED_WITHIN  # the sweeper releases what went back to reserved
        while time.monotonic() < deadline:
            shown = listed(base_url, auth, session_id)
            if not any(o["status"] in ("reserved", "paying") for o in shown):
                break
            stop.wait(0.2)
    finally:
        stop.set()
        sweeper.join()

    shown = {o["id"]: o for o in listed(base_url, auth, session_id)}
    assert set(shown) == set(orders)
    intents = {intent_id: fake.intent(intent_id) for intent_id in fake.intent_ids()}
    by_order: dict[str, list[dict]] = {}
    for intent in intents.values():
        by_order.setdefault(intent["metadata"]["order_id"], []).append(intent)

    paid = {oid for oid, o in shown.items() if o["status"] == "paid"}
    assert {o["status"] for o in shown.values()} <= {"paid", "expired"}
    for order_id, order in shown.items():
        for intent in by_order.get(order_id, []):
            if intent["status"] in ("succeeded", "requires_capture"):
                # Money taken or held only for the intent the order is paid with: never for a released order.
                assert order["status"] == "paid" and order["payment"]["reference"] == intent["id"], (order, intent)
            else:
                assert intent["status"] == "canceled", intent
        if order["status"] == "paid":
            assert order["payment"]["capturedAt"] and intents[order["payment"]["reference"]]["status"] == "succeeded"
    assert paid == {oid for oid, fate in fates.items() if fate == "authorize"}
    units = sum(item["quantity"] for oid in paid for item in shown[oid]["items"])
    assert conservation(session_id, product_id, UNITS) == (UNITS - units, units)


def listed(base_url, auth, session_id) -> list[dict]:
    items, cursor = [], None
    while True:
        page = requests.get(f"{base_url}/v1/orders", headers=auth, timeout=30,
                            params={"sessionId": session_id, "limit": 100, **({"cursor": cursor} if cursor else {})}).json()
        items += page["items"]
        cursor = page["nextCursor"]
        if not cursor:
            return items
