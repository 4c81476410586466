"""Webhooks end to end on DynamoDB Local, moto's KMS and a real receiver on 127.0.0.1: the API
registers endpoints, the tables' streams are fanned out by the same feed `make run` runs, and the
sweeper delivers. What arrives is verified with the `standardwebhooks` library from PyPI, not with
Livedrop's own code, and checked against the OpenAPI document's `webhooks`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest
from standardwebhooks import Webhook

from devstack.run import WebhookFeed
from devstack.stack import ROOT
from tests.conftest import live_drop, make_brand, make_product, make_session, make_shopper, order
from tests.webhook_receiver import Answer, start_receiver

ORDER_EVENTS = ["order.reserved", "order.paid", "order.cancelled", "order.expired"]
ALL_EVENTS = ORDER_EVENTS + ["drop.opened", "drop.sold_out", "session.live", "session.ended", "product.featured"]


@pytest.fixture
def receiver():
    receiver = start_receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def feed(aws_stack):
    return WebhookFeed()


def deliver(feed):
    """What the deployed handlers and sweeper do within a moment: streams into the outbox, then
    every due delivery attempted."""
    from chalicelib.bootstrap import services

    feed.drain()
    while services().webhooks.deliver_due():
        pass


def register(api, key, url, events):
    answer = api.post("/v1/webhooks", {"url": url, "events": events}, key=key)
    assert answer.status_code == 201, answer.body
    assert answer.headers["Cache-Control"] == "no-store"
    return answer.json


def schema_of(api, event_type):
    """The webhook's payload schema as the OpenAPI document states it, components resolved."""
    document = api.get("/v1/openapi.json").json
    ref = document["webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return {**ref, "components": document["components"]}


def verified(secret, received):
    """The body, if the signature verifies with the PyPI library (its tolerance is 5 minutes)."""
    return Webhook(secret).verify(received.body, received.headers)


def deliveries(api, key, webhook_id, **query):
    path = f"/v1/webhooks/{webhook_id}/deliveries" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    answer = api.get(path, key=key)
    assert answer.status_code == 200, answer.body
    return answer.json["items"]


def test_an_orders_life_arrives_signed_in_order_of_sequence(api, brand, receiver, feed):
    key = brand["apiKey"]
    hook = register(api, key, receiver.url, ORDER_EVENTS)
    session, product = live_drop(api, key, quantity=5)
    shopper = make_shopper(api)
    paid = order(api, shopper, session["id"], product["id"]).json
    assert api.post(f"/v1/orders/{paid['id']}/pay", {"paymentToken": "ok"}, key=shopper["token"]).status_code == 200
    cancelled = order(api, shopper, session["id"], product["id"]).json
    assert api.post(f"/v1/orders/{cancelled['id']}/cancel", key=shopper["token"]).status_code == 200
    deliver(feed)

    received = receiver.wait_for(4)
    assert len(received) == 4  # each event once, nothing else
    events = [verified(hook["secret"], r) for r in received]
    by_order: dict[str, list] = {}
    for event in events:
        by_order.setdefault(event["data"]["id"], []).append(event)
    assert [e["type"] for e in by_order[paid["id"]]] == ["order.reserved", "order.paid"]
    assert [e["type"] for e in by_order[cancelled["id"]]] == ["order.reserved", "order.cancelled"]
    for life in by_order.values():
        sequences = [e["data"]["sequence"] for e in life]
        assert sequences == sorted(sequences) and len(set(sequences)) == 2
    final = {e["data"]["id"]: e["data"] for e in events if e["type"] != "order.reserved"}
    for order_id, data in final.items():
        shown = api.get(f"/v1/orders/{order_id}", key=key).json
        told = {k: v for k, v in data.items() if k != "sequence"}
        if shown["payment"]:  # the capture is recorded by the write after `paid` (no event of its own)
            assert shown["payment"]["capturedAt"] and told["payment"]["capturedAt"] is None
            told["payment"] = {**told["payment"], "capturedAt": shown["payment"]["capturedAt"]}
        assert told == shown  # the order as the API shows it
    for r, event in zip(received, events, strict=True):
        jsonschema.validate(event, schema_of(api, event["type"]))
        assert r.headers["content-type"] == "application/json"
    assert len({r.id for r in received}) == 4
    log = deliveries(api, key, hook["id"])
    assert sorted(d["eventType"] for d in log) == sorted(["order.reserved"] * 2 + ["order.paid", "order.cancelled"])
    assert all(d["status"] == "succeeded" and d["attempts"] == 1 and d["lastResponseCode"] == 204 for d in log)
    assert {d["eventId"] for d in log} == {r.id for r in received}


def test_a_show_tells_live_pins_drops_and_its_end(api, brand, receiver, feed):
    from chalicelib.bootstrap import services
    from chalicelib.settings import get_settings
    from devstack.streams import StreamReader

    key = brand["apiKey"]
    hook = register(api, key, receiver.url, ALL_EVENTS)
    product = make_product(api, key, stock=10)
    session = make_session(api, key)
    assert api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": 2},
                    key=key).status_code == 201
    stock = StreamReader(get_settings().tables["stock"])  # the stock ticker's stream, as `make run` reads it
    assert api.post(f"/v1/sessions/{session['id']}/start", key=key).status_code == 200
    assert api.post(f"/v1/sessions/{session['id']}/feature", {"productId": product["id"]}, key=key).status_code == 200
    assert order(api, make_shopper(api), session["id"], product["id"], quantity=2).status_code == 201
    services().live.on_stock_records(stock.read())  # drop opened, then sold out: into the timeline
    assert api.post(f"/v1/sessions/{session['id']}/end", key=key).status_code == 200
    deliver(feed)

    received = receiver.wait_for(6)
    types = [verified(hook["secret"], r)["type"] for r in received]
    assert sorted(types) == sorted(["session.live", "drop.opened", "product.featured", "order.reserved",
                                    "drop.sold_out", "session.ended"])
    for r in received:
        jsonschema.validate(r.event, schema_of(api, r.type))
    ended = receiver.of_type("session.ended")[0].event["data"]
    assert ended["status"] == "ended" and ended["id"] == session["id"] and ended["sequence"] == 3
    assert receiver.of_type("session.live")[0].event["data"]["sequence"] == 2
    opened, sold_out = (receiver.of_type(t)[0].event["data"] for t in ("drop.opened", "drop.sold_out"))
    assert (sold_out["productId"], sold_out["stockLeft"], sold_out["sessionId"]) == (product["id"], 0, session["id"])
    assert (opened["sequence"], sold_out["sequence"]) == (1, 2)
    pin = receiver.of_type("product.featured")[0].event["data"]
    assert (pin["productId"], pin["title"]) == (product["id"], product["title"])


def test_fails_twice_then_succeeds_with_one_webhook_id(api, brand, receiver, feed, clock):
    key = brand["apiKey"]
    hook = register(api, key, receiver.url, ["order.reserved"])
    session, product = live_drop(api, key)
    receiver.answer(Answer(500), Answer(503))
    order(api, make_shopper(api), session["id"], product["id"])
    deliver(feed)
    (pending,) = deliveries(api, key, hook["id"])
    assert (pending["status"], pending["attempts"], pending["lastResponseCode"]) == ("pending", 1, 500)
    for _ in range(2):
        clock.advance((datetime.fromisoformat(pending["nextAttemptAt"].replace("Z", "+00:00"))
                       - clock.now()).total_seconds() + 0.01)
        deliver(feed)
        (pending,) = deliveries(api, key, hook["id"])
    received = receiver.wait_for(3)
    assert len(received) == 3 and len({r.id for r in received}) == 1 and len({r.body for r in received}) == 1
    assert (pending["status"], pending["attempts"], pending["lastResponseCode"]) == ("succeeded", 3, 204)
    for r in received:  # signed afresh at each attempt: checked by the library's own signer
        stamp = datetime.fromtimestamp(int(r.headers["webhook-timestamp"]), tz=timezone.utc)
        assert Webhook(hook["secret"]).sign(r.id, stamp, r.body) == r.headers["webhook-signature"]


def test_410_disables_the_endpoint(api, brand, receiver, feed):
    key = brand["apiKey"]
    hook = register(api, key, receiver.url, ["order.reserved"])
    session, product = live_drop(api, key)
    receiver.answer(Answer(410))
    order(api, make_shopper(api), session["id"], product["id"])
    deliver(feed)
    shown = api.get(f"/v1/webhooks/{hook['id']}", key=key).json
    assert (shown["status"], shown["disabledReason"]) == ("disabled", "gone")
    order(api, make_shopper(api), session["id"], product["id"])
    deliver(feed)
    assert len(receiver.received) == 1
    (failed,) = deliveries(api, key, hook["id"])
    assert (failed["status"], failed["lastResponseCode"]) == ("failed", 410)
    retry = api.post(f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/retry", key=key)
    assert retry.status_code == 409 and retry.json["type"].endswith("endpoint_disabled")
    assert api.patch(f"/v1/webhooks/{hook['id']}", {"status": "enabled"}, key=key).json["status"] == "enabled"
    assert api.post(f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/retry", key=key).status_code == 202
    deliver(feed)
    assert receiver.wait_for(2)[1].id == receiver.received[0].id  # the same event, the same webhook-id


def test_a_rotation_is_verified_with_both_secrets(api, brand, receiver, feed):
    key = brand["apiKey"]
    hook = register(api, key, receiver.url, ["order.reserved"])
    rotated = api.post(f"/v1/webhooks/{hook['id']}/rotate-secret", key=key)
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    new = rotated.json["secret"]
    assert new.startswith("whsec_") and new != hook["secret"] and rotated.json["previousSecretExpiresAt"]
    ping = api.post(f"/v1/webhooks/{hook['id']}/test", key=key)
    assert ping.status_code == 202 and ping.json["eventType"] == "ping"
    deliver(feed)
    (received,) = receiver.wait_for(1)
    assert len(received.headers["webhook-signature"].split()) == 2
    for secret in (hook["secret"], new):
        assert verified(secret, received)["data"]["endpointId"] == hook["id"]
    listed = api.get("/v1/webhooks", key=key).json["items"]
    assert hook["id"] in {w["id"] for w in listed}
    assert "secret" not in json.dumps(listed).lower().replace("previoussecretexpiresat", "")


def test_a_killed_worker_loses_nothing(api, brand, receiver, feed, clock):
    """A worker process takes the delivery, the receiver holds the request, the worker is killed
    (SIGKILL: no cleanup). When its lease ends, the next sweep delivers it with the same id."""
    from chalicelib.services.webhooks import LEASE_MS

    key = brand["apiKey"]
    hook = register(api, key, receiver.url, ["order.reserved"])
    session, product = live_drop(api, key)
    order(api, make_shopper(api), session["id"], product["id"])
    feed.drain()
    receiver.answer(Answer(hold=threading.Event()))
    worker = subprocess.Popen([sys.executable, "-c", "from chalicelib.bootstrap import services; "
                                                     "services().webhooks.deliver_due()"],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        receiver.wait_for(1, timeout=60)
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    (held,) = deliveries(api, key, hook["id"])
    assert (held["status"], held["attempts"]) == ("pending", 1)
    lease_ends = datetime.fromisoformat(held["nextAttemptAt"].replace("Z", "+00:00"))
    assert lease_ends - datetime.fromisoformat(held["lastAttemptAt"].replace("Z", "+00:00")) == timedelta(
        milliseconds=LEASE_MS)
    deliver(feed)
    assert len(receiver.received) == 1  # its lease still holds it
    clock.advance((lease_ends - clock.now()).total_seconds() + 0.01)
    deliver(feed)
    first, second = receiver.wait_for(2)
    assert first.id == second.id and first.body == second.body
    (done,) = deliveries(api, key, hook["id"])
    assert (done["status"], done["attempts"]) == ("succeeded", 2)


@pytest.mark.parametrize("url", ["http://10.0.0.7/hooks", "https://169.254.169.254/latest/meta-data",
                                 "https://[fd00:ec2::254]/", "https://192.168.1.1/x", "ftp://example.com/x",
                                 "https://user:pw@example.com/x", "https://100.64.0.1/x"])
def test_internal_addresses_are_refused_at_registration(api, brand, url):
    answer = api.post("/v1/webhooks", {"url": url, "events": ["order.paid"]}, key=brand["apiKey"])
    assert answer.status_code == 400 and answer.json["field"] == "url", answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_bad_input_names_the_field(api, brand):
    key = brand["apiKey"]
    for body, field in (({"url": "http://127.0.0.1:9/x", "events": ["order.shipped"]}, "events.0"),
                        ({"url": "http://127.0.0.1:9/x", "events": []}, "events"),
                        ({"url": "http://127.0.0.1:9/x", "events": ["order.paid", "order.paid"]}, "events"),
                        ({"events": ["order.paid"]}, "url")):
        answer = api.post("/v1/webhooks", body, key=key)
        assert answer.status_code == 400 and answer.json["field"] == field, (body, answer.body)
    hook = register(api, key, "http://127.0.0.1:9/x", ["order.paid"])
    assert api.patch(f"/v1/webhooks/{hook['id']}", {}, key=key).status_code == 400
    answer = api.patch(f"/v1/webhooks/{hook['id']}", {"status": "paused"}, key=key)
    assert answer.status_code == 400 and answer.json["field"] == "status"
    answer = api.get(f"/v1/webhooks/{hook['id']}/deliveries?status=lost", key=key)
    assert answer.status_code == 400 and answer.json["field"] == "status"


def test_another_brand_gets_404_everywhere(api, brand, other_brand):
    key, other = brand["apiKey"], other_brand["apiKey"]
    hook = register(api, key, "http://127.0.0.1:9/x", ["order.paid"])
    ping = api.post(f"/v1/webhooks/{hook['id']}/test", key=key).json
    base = f"/v1/webhooks/{hook['id']}"
    for method, path, body in (("GET", base, None), ("PATCH", base, {"description": "mine"}), ("DELETE", base, None),
                               ("POST", base + "/rotate-secret", None), ("POST", base + "/test", None),
                               ("GET", base + "/deliveries", None),
                               ("POST", f"{base}/deliveries/{ping['id']}/retry", None)):
        answer = api.call(method, path, body=body, key=other)
        assert answer.status_code == 404, (method, path, answer.body)
    assert hook["id"] not in {w["id"] for w in api.get("/v1/webhooks", key=other).json["items"]}
    assert api.get(base, key=key).json["description"] is None


def test_listing_pages_and_deleting(api, operator_key):
    key = make_brand(api, operator_key, "Hooks")["apiKey"]
    made = [register(api, key, f"http://127.0.0.1:9/{n}", ["order.paid"])["id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        page = api.get("/v1/webhooks?limit=2" + (f"&cursor={cursor}" if cursor else ""), key=key).json
        seen += [w["id"] for w in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == made
    assert api.call("DELETE", f"/v1/webhooks/{made[0]}", key=key).status_code == 204
    assert api.get(f"/v1/webhooks/{made[0]}", key=key).status_code == 404
