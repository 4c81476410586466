"""Webhooks against `make run` as a user starts it, with a shortened retry schedule
(LIVEDROP_WEBHOOK_RETRY_SCHEDULE=1,1,1): a receiver on 127.0.0.1 registered with the demo brand's
key hears a scripted show, every request signed per Standard Webhooks (checked with the PyPI
library); what it refused once comes again with the same webhook-id; nothing comes twice beyond
that; and the delivery log lists every event with its attempts."""
from __future__ import annotations

import secrets
from collections import Counter

import pytest
import requests
from standardwebhooks import Webhook

from devstack.stack import LOOPBACK, free_port
from tests.makerun import MakeRun
from tests.webhook_receiver import Answer, start_receiver

BOUND = 30  # s: the webhook thread polls twice a second; a bound against hanging, not a speed claim
EVENTS = ["order.reserved", "order.paid", "order.cancelled", "session.live", "session.ended", "product.featured",
          "drop.opened", "drop.sold_out"]


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    run = MakeRun(free_port(), tmp_path_factory.mktemp("make-run"),
                  settings={"LIVEDROP_WEBHOOK_RETRY_SCHEDULE": "1,1,1"})
    try:
        run.wait_for_line("OpenAPI document:")
        yield run
    finally:
        run.kill_what_is_left()


def test_a_scripted_show_arrives_signed_retried_and_logged(make_run):
    base = f"http://{LOOPBACK}:{make_run.port}"
    key = make_run.wait_for_line("demo brand key:").split()[-1]
    http = requests.Session()

    def call(method, path, token=key, **kwargs):
        answer = http.request(method, base + path, headers={"Authorization": f"Bearer {token}",
                                                            **kwargs.pop("headers", {})}, timeout=30, **kwargs)
        assert answer.ok, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    receiver = start_receiver()
    try:
        hook = call("POST", "/v1/webhooks", json={"url": receiver.url, "events": EVENTS, "description": "held-out"})
        receiver.answer(Answer(500), Answer(429, retry_after="1"))  # the first two requests fail

        def product(title, stock):
            return call("POST", "/v1/products", json={"title": title, "stock": stock,
                                                      "price": {"amount": 1500, "currency": "EUR"}})["id"]

        # One unit of the tee (it sells out and stays so), five caps (one reserved, then cancelled).
        tee, cap = product("Webhook tee", 1), product("Webhook cap", 5)
        session = call("POST", "/v1/sessions", json={"title": "Webhooks over HTTP"})["id"]
        call("POST", f"/v1/sessions/{session}/lineup", json={"productId": tee, "quantity": 1})
        call("POST", f"/v1/sessions/{session}/lineup", json={"productId": cap, "quantity": 5})
        call("POST", f"/v1/sessions/{session}/start")
        call("POST", f"/v1/sessions/{session}/feature", json={"productId": tee})
        shopper = call("POST", "/v1/shoppers", token="")["token"]

        def reserve(product_id):
            return call("POST", "/v1/orders", token=shopper, headers={"Idempotency-Key": secrets.token_hex(8)},
                        json={"sessionId": session, "items": [{"productId": product_id, "quantity": 1}]})["id"]

        paid, cancelled = reserve(tee), reserve(cap)
        call("POST", f"/v1/orders/{paid}/pay", token=shopper, json={"paymentToken": "ok"})
        call("POST", f"/v1/orders/{cancelled}/cancel", token=shopper)
        # The stock ticker tells a sell-out it has read (once a second): heard before the show ends.
        receiver.wait_until(lambda received: any(r.type == "drop.sold_out" for r in received), BOUND)
        call("POST", f"/v1/sessions/{session}/end")

        expected = Counter({"session.live": 1, "drop.opened": 2, "product.featured": 1, "order.reserved": 2,
                            "drop.sold_out": 1, "order.paid": 1, "order.cancelled": 1, "session.ended": 1})
        ours = [t for t in expected.elements()]

        def log_done():
            log = call("GET", f"/v1/webhooks/{hook['id']}/deliveries?limit=100")["items"]
            done = len(log) == len(ours) and all(d["status"] == "succeeded" for d in log)
            return log if done else None

        # Each event once, plus the two refused attempts again: waited for at the receiver (no
        # polling), then the log, whose last write follows the last answer by a moment.
        received = receiver.wait_for(len(ours) + 2, timeout=BOUND)
        log = make_run.wait_until(log_done, "every delivery succeeded", BOUND)
        assert len(receiver.received) == len(ours) + 2
        events = [Webhook(hook["secret"]).verify(r.body, r.headers) for r in received]
        assert Counter(e["type"] for e in events) == expected + Counter(e["type"] for e in events[:2])
        by_id = Counter(r.id for r in received)
        assert sorted(by_id.values()) == [1] * (len(ours) - 2) + [2, 2] or sorted(by_id.values()) == [1] * (len(ours) - 1) + [3]
        retried = [i for i, n in by_id.items() if n > 1]
        assert set(retried) <= {received[0].id, received[1].id}
        assert sorted(d["eventId"] for d in log) == sorted(by_id)
        attempts = {d["eventId"]: d["attempts"] for d in log}
        assert attempts == dict(by_id)
        assert all(d["lastResponseCode"] == 204 and d["nextAttemptAt"] is None for d in log)
        sessions = [e for e in events if e["type"].startswith("session.")]
        assert all(e["data"]["id"] == session for e in sessions)
    finally:
        receiver.close()
