"""The API with LIVEDROP_PAYMENTS=stripe, against a local fake of Stripe's HTTP API
(tests/stripe_fake.py, behind STRIPE_API_BASE) and signed Stripe webhooks, on DynamoDB Local:
what Livedrop asks of Stripe (manual capture, idempotency keys, capture only after `paid` was
written, cancel when the order is no longer ours) and how the order follows.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager

import pytest

from chalicelib.domain.drops import OrderStatus
from tests.conftest import conservation, live_drop, make_shopper, order
from tests.stripe_fake import start_fake_stripe

SECRET_KEY = "sk_test_livedrop_fake_key"
WEBHOOK_SECRET = "whsec_livedrop_fake_secret"
PUBLISHABLE_KEY = "pk_test_livedrop_fake"
WEBHOOK = "/v1/payments/stripe/webhook"
SHARED_TABLES = 10_000  # the sweeps' limit here: the suite's other orders are due on the moved clock too


@pytest.fixture
def stripe(clock):
    """The fake, and the API's services rebuilt with LIVEDROP_PAYMENTS=stripe pointed at it."""
    from chalicelib import bootstrap

    fake = start_fake_stripe()
    env = {"LIVEDROP_PAYMENTS": "stripe", "STRIPE_API_BASE": fake.url, "LIVEDROP_STRIPE_SECRET_KEY": SECRET_KEY,
           "LIVEDROP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "LIVEDROP_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    bootstrap.get_settings.cache_clear()
    bootstrap.services.cache_clear()  # the clock override stays
    try:
        yield fake
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        bootstrap.get_settings.cache_clear()
        bootstrap.services.cache_clear()
        fake.stop()


@pytest.fixture
def captures_checked(stripe):
    """Every capture Livedrop makes, checked at the moment it is made: its order is already
    written `paid` with that PaymentIntent. Returns the intents captured, in order."""
    from chalicelib.bootstrap import services

    gateway, orders = services().payments.gateway, services().payments.orders
    real, seen = gateway.capture, []

    def capture(intent_id, order_id, attempt):
        stored = orders.get(order_id)
        assert stored.status is OrderStatus.PAID and stored.payment_reference == intent_id, "captured before paid"
        seen.append(intent_id)
        return real(intent_id, order_id, attempt)

    gateway.capture = capture
    return seen


@contextmanager
def failing(method: str):
    """The orders repository's `method` fails (Busy) while inside: a crash at that write."""
    from chalicelib.adapters.dynamodb.orders import OrderRepository
    from chalicelib.domain.errors import Busy

    real = getattr(OrderRepository, method)
    setattr(OrderRepository, method, lambda *a, **k: (_ for _ in ()).throw(Busy()))
    try:
        yield
    finally:
        setattr(OrderRepository, method, real)


def posted(fake, suffix: str, intent_id: str | None = None) -> list:
    return [c for c in fake.calls if c[0] == "POST" and c[1].endswith(suffix) and (intent_id is None or intent_id in c[1])]


def webhook(api, fake, kind: str, intent_id: str, t: int | None = None, secret: str = WEBHOOK_SECRET):
    body = fake.event(kind, intent_id)
    return api.post(WEBHOOK, raw=body.decode(), headers={"Content-Type": "application/json",
                                                         "Stripe-Signature": fake.sign(body, secret, t)})


def reserved(api, brand, quantity=5, hold_seconds=600):
    session, product = live_drop(api, brand["apiKey"], quantity=quantity, hold_seconds=hold_seconds)
    shopper = make_shopper(api)
    made = order(api, shopper, session["id"], product["id"], quantity=2).json
    return session, product, shopper, made


def pay(api, shopper, order_id, token=None):
    return api.post(f"/v1/orders/{order_id}/pay", {} if token is None else {"paymentToken": token},
                    key=shopper["token"])


def test_the_browser_flow_authorises_then_the_webhook_pays_and_only_then_captures(api, brand, stripe,
                                                                                 captures_checked):
    session, product, shopper, made = reserved(api, brand)
    config = api.get("/v1/payments/config").json
    assert config == {"provider": "stripe", "publishableKey": PUBLISHABLE_KEY, "confirmsInBrowser": True}
    started = pay(api, shopper, made["id"])
    assert started.status_code == 200, started.body
    body = started.json
    assert body["status"] == "paying" and body["clientSecret"].startswith(body["payment"]["reference"] + "_secret_")
    assert started.headers["Cache-Control"] == "no-store"
    intent_id = body["payment"]["reference"]
    (create,) = posted(stripe, "/v1/payment_intents")
    assert create[2]["capture_method"] == "manual" and create[2]["amount"] == "9800" and create[2]["currency"] == "eur"
    assert create[2]["metadata"] == {"order_id": made["id"], "attempt": "1", "brand_id": brand["id"],
                                     "session_id": session["id"]}
    assert create[3] == f"livedrop:{made['id']}:1:create"
    # The brand never sees the client secret.
    assert "clientSecret" not in api.get(f"/v1/orders/{made['id']}", key=brand["apiKey"]).json

    assert pay(api, shopper, made["id"]).json["clientSecret"] == body["clientSecret"]  # asked again: the same
    assert len(stripe.intent_ids()) == 1

    stripe.authorize(intent_id)  # Stripe.js confirmed in the browser
    for kind in ("payment_intent.amount_capturable_updated", "payment_intent.payment_failed",  # stale, reordered
                 "payment_intent.amount_capturable_updated"):                                # and duplicated
        answer = webhook(api, stripe, kind, intent_id)
        assert answer.status_code == 200 and answer.json == {"received": True, "outcome": "paid"}, answer.body
    paid = api.get(f"/v1/orders/{made['id']}", key=shopper["token"]).json
    assert paid["status"] == "paid" and paid["payment"]["capturedAt"]
    assert captures_checked == [intent_id] and stripe.intent(intent_id)["status"] == "succeeded"
    assert len(posted(stripe, "/capture")) == 1  # once, though three events and a retry came
    assert conservation(session["id"], product["id"], 5) == (3, 2)


def test_a_payment_method_confirmed_by_the_pay_request_pays_at_once(api, brand, stripe, captures_checked):
    session, product, shopper, made = reserved(api, brand)
    answer = pay(api, shopper, made["id"], "pm_card_visa")
    assert answer.status_code == 200 and answer.json["status"] == "paid" and answer.json["clientSecret"] is None
    (confirm,) = posted(stripe, "/confirm")
    assert confirm[2]["payment_method"] == "pm_card_visa" and confirm[3].startswith(f"livedrop:{made['id']}:1:confirm:")
    assert len(captures_checked) == 1


def test_a_decline_answers_402_puts_the_order_back_and_cancels_the_intent(api, brand, stripe):
    session, product, shopper, made = reserved(api, brand)
    declined = pay(api, shopper, made["id"], "pm_card_chargeDeclined")
    assert declined.status_code == 402 and declined.json["reason"] == "generic_decline"
    first = stripe.intent_ids()[0]
    assert stripe.intent(first)["status"] == "canceled"
    assert api.get(f"/v1/orders/{made['id']}", key=shopper["token"]).json["status"] == "reserved"
    again = pay(api, shopper, made["id"], "pm_card_visa").json
    assert again["status"] == "paid" and again["payment"]["attempt"] == 2 and again["payment"]["reference"] != first
    assert [c[3] for c in posted(stripe, "/v1/payment_intents")] == [f"livedrop:{made['id']}:1:create",
                                                                      f"livedrop:{made['id']}:2:create"]


@pytest.mark.parametrize("signature", ["none", "forged", "stale", "garbage"])
def test_a_webhook_with_a_bad_or_stale_signature_is_refused_and_changes_nothing(api, brand, stripe, signature):
    session, product, shopper, made = reserved(api, brand)
    intent_id = pay(api, shopper, made["id"]).json["payment"]["reference"]
    stripe.authorize(intent_id)
    body = stripe.event("payment_intent.amount_capturable_updated", intent_id)
    header = {"none": None, "forged": stripe.sign(body, "whsec_not_ours"),
              "stale": stripe.sign(body, WEBHOOK_SECRET, int(time.time()) - 301), "garbage": "v1=zz"}[signature]
    headers = {"Content-Type": "application/json", **({"Stripe-Signature": header} if header else {})}
    answer = api.post(WEBHOOK, raw=body.decode(), headers=headers)
    assert answer.status_code == 400 and answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json["type"].endswith("/signature_refused" if header else "/invalid_input")
    assert "Stripe-Signature" in answer.body.decode()  # the field is named
    assert WEBHOOK_SECRET not in answer.body.decode()
    assert api.get(f"/v1/orders/{made['id']}", key=shopper["token"]).json["status"] == "paying"
    assert posted(stripe, "/capture") == []


def test_the_webhook_route_is_not_there_without_stripe(api):
    assert api.post(WEBHOOK, raw="{}", headers={"Stripe-Signature": "t=1,v1=00"}).status_code == 404


@pytest.mark.parametrize("state, status, captured", [
    ("requires_payment_method", "reserved", False),  # abandoned in the browser
    ("requires_action", "reserved", False),          # 3-D Secure never completed
    ("declined", "reserved", False),
    ("processing", "paying", False),
    ("requires_capture", "paid", True),
    ("succeeded", "paid", True),
    ("canceled", "reserved", False),
])
def test_reconciliation_settles_every_way_a_payment_can_be_left(api, brand, stripe, clock, state, status, captured):
    from chalicelib.bootstrap import services

    session, product, shopper, made = reserved(api, brand, hold_seconds=60)
    intent_id = pay(api, shopper, made["id"]).json["payment"]["reference"]
    if state == "declined":
        stripe.decline(intent_id)
    else:
        stripe.set_status(intent_id, state)
    clock.advance(899)
    services().payments.reconcile(limit=SHARED_TABLES)
    services().checkout.release_expired(limit=SHARED_TABLES)
    assert api.get(f"/v1/orders/{made['id']}", key=shopper["token"]).json["status"] == "paying"  # held, paying
    clock.advance(1)  # the paying window (900 s) is over
    services().payments.reconcile(limit=SHARED_TABLES)  # (the shared tables' other orders due then are settled too)
    shown = api.get(f"/v1/orders/{made['id']}", key=shopper["token"]).json
    assert shown["status"] == status
    assert bool(posted(stripe, "/capture")) is captured and bool(shown["payment"]["capturedAt"]) is captured
    if status == "reserved":
        assert stripe.intent(intent_id)["status"] == "canceled"
        services().checkout.release_expired(limit=SHARED_TABLES)  # its hold long over: released now
        assert api.get(f"/v1/orders/{made['id']}", key=shopper["token"]).json["status"] == "expired"
        assert conservation(session["id"], product["id"], 5) == (5, 0)
    else:
        assert conservation(session["id"], product["id"], 5) == (3, 2)  # never released


def test_a_crash_between_stripes_answer_and_the_paid_write_is_recovered_with_one_capture(api, brand, stripe, clock,
                                                                                        captures_checked):
    from chalicelib.bootstrap import services

    session, product, shopper, made = reserved(api, brand, hold_seconds=60)
    with failing("finish_payment"):  # the write after Stripe's answer
        crashed = pay(api, shopper, made["id"], "pm_card_visa")
    assert crashed.status_code == 503
    (intent_id,) = stripe.intent_ids()
    assert stripe.intent(intent_id)["status"] == "requires_capture" and posted(stripe, "/capture") == []
    clock.advance(900)
    services().checkout.release_expired(limit=SHARED_TABLES)
    assert api.get(f"/v1/orders/{made['id']}", key=shopper["token"]).json["status"] == "paying"  # never released
    services().payments.reconcile(limit=SHARED_TABLES)
    assert api.get(f"/v1/orders/{made['id']}", key=shopper["token"]).json["status"] == "paid"
    assert captures_checked == [intent_id]


def test_a_crash_before_the_intent_was_recorded_finds_the_same_intent_again(api, brand, stripe, clock):
    session, product, shopper, made = reserved(api, brand, hold_seconds=60)
    with failing("attach_intent"):
        assert pay(api, shopper, made["id"]).status_code == 503
    (intent_id,) = stripe.intent_ids()
    retried = pay(api, shopper, made["id"])  # the shopper's retry: the create replayed by its key
    assert retried.json["payment"]["reference"] == intent_id and stripe.intent_ids() == [intent_id]
    assert len(posted(stripe, "/v1/payment_intents")) == 2  # the same key twice: one intent


def test_an_attempt_whose_intent_was_never_recorded_ends_at_its_window_without_asking_stripe(api, brand, stripe,
                                                                                              clock):
    from chalicelib.bootstrap import services

    session, product, shopper, made = reserved(api, brand, hold_seconds=60)
    with failing("attach_intent"):
        assert pay(api, shopper, made["id"]).status_code == 503
    asked = len(stripe.calls)
    (intent_id,) = stripe.intent_ids()
    clock.advance(900)
    services().payments.reconcile(limit=SHARED_TABLES)
    assert not [c for c in stripe.calls[asked:] if intent_id in c[1] or made["id"] in str(c[2])]
    assert stripe.intent(intent_id)["status"] == "requires_payment_method"  # never confirmable: no secret left  # no client secret ever left: nothing to ask Stripe
    assert api.get(f"/v1/orders/{made['id']}", key=shopper["token"]).json["status"] == "reserved"


def test_a_refund_by_the_selling_brand_is_made_once_and_recorded(api, brand, other_brand, stripe):
    session, product, shopper, made = reserved(api, brand)
    intent_id = pay(api, shopper, made["id"], "pm_card_visa").json["payment"]["reference"]
    path = f"/v1/orders/{made['id']}/refund"
    assert api.post(path, {}, key=other_brand["apiKey"]).status_code == 404
    assert api.post(path, {}, key=shopper["token"]).status_code == 401
    first = api.post(path, {"reason": "customer changed their mind"}, key=brand["apiKey"])
    assert first.status_code == 200 and first.json["status"] == "paid", first.body
    assert first.json["payment"]["refundedAt"] and first.json["payment"]["refundReference"].startswith("re_")
    assert api.post(path, {}, key=brand["apiKey"]).json == first.json
    refunds = posted(stripe, "/v1/refunds")
    assert len(refunds) == 1 and refunds[0][2] == {"payment_intent": intent_id, "amount": "9800"}
    assert refunds[0][3] == f"livedrop:{made['id']}:{intent_id}:refund"
    assert conservation(session["id"], product["id"], 5) == (3, 2)  # the units stay sold
    unpaid = order(api, shopper, session["id"], product["id"]).json
    refused = api.post(f"/v1/orders/{unpaid['id']}/refund", {}, key=brand["apiKey"])
    assert refused.status_code == 409 and refused.json["orderStatus"] == "reserved"


def test_stripes_secrets_never_reach_an_answer_or_a_log(api, brand, stripe, capsys):
    session, product, shopper, made = reserved(api, brand)
    intent_id = pay(api, shopper, made["id"]).json["payment"]["reference"]
    stripe.authorize(intent_id)
    webhook(api, stripe, "payment_intent.amount_capturable_updated", intent_id)
    webhook(api, stripe, "payment_intent.amount_capturable_updated", intent_id, secret="whsec_wrong")
    stripe.fail_next(5)
    api.post(f"/v1/orders/{made['id']}/refund", {}, key=brand["apiKey"])
    answers = [api.get(f"/v1/orders/{made['id']}", key=k).body.decode() for k in (brand["apiKey"], shopper["token"])]
    logged = capsys.readouterr()
    for text in answers + [logged.out, logged.err]:
        assert SECRET_KEY not in text and WEBHOOK_SECRET not in text
        assert stripe.intent(intent_id)["client_secret"] not in text


def test_a_shopper_cancels_while_paying_and_the_intent_is_cancelled_first(api, brand, stripe):
    session, product, shopper, made = reserved(api, brand)
    intent_id = pay(api, shopper, made["id"]).json["payment"]["reference"]
    cancelled = api.post(f"/v1/orders/{made['id']}/cancel", key=shopper["token"])
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert stripe.intent(intent_id)["status"] == "canceled" and posted(stripe, "/capture") == []
    assert conservation(session["id"], product["id"], 5) == (5, 0)


def test_a_payment_method_stripe_does_not_know_is_a_400_naming_the_field(api, brand, stripe):
    session, product, shopper, made = reserved(api, brand)
    refused = pay(api, shopper, made["id"], "card_4242")  # not a PaymentMethod id
    assert refused.status_code == 400 and refused.json["field"] == "paymentToken", refused.body
    assert pay(api, shopper, made["id"], "pm_card_visa").json["status"] == "paid"  # the same attempt goes on


def test_stripe_unavailable_is_a_503_whose_cause_is_logged(api, brand, stripe, log_buffer):
    session, product, shopper, made = reserved(api, brand)
    stripe.fail_next(5)  # every try of the create (the SDK retries once)
    answer = pay(api, shopper, made["id"])
    assert answer.status_code == 503 and answer.json["type"].endswith("/payment_outcome_unknown")
    lines = [json.loads(line) for line in log_buffer.getvalue().splitlines() if line.startswith("{")]
    [warning] = [line for line in lines if line["message"] == "payment provider unavailable"]
    assert warning["level"] == "WARNING" and warning["order_id"] == made["id"]
    assert "APIError" in warning["error"] and "HTTP 500" in warning["error"]
    assert SECRET_KEY not in log_buffer.getvalue()
