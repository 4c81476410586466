"""Rate limits through the in-process app on DynamoDB Local: `/pay` per order, the `Refused`
metric of a 429, the `limits` table as deployed (TTL, no stream), and the document's 429s.
Per-address minting needs real client addresses: tests/e2e/test_rate_limits_http.py."""
from __future__ import annotations

import json

import boto3

from tests.conftest import live_drop, make_shopper, order

RATE_LIMITED_ROUTES = [("post", "/v1/shoppers"), ("post", "/v1/orders/{order_id}/pay"),
                       ("post", "/v1/sessions/{session_id}/likes"), ("post", "/v1/sessions/{session_id}/chat-token")]


def test_pay_takes_ten_requests_a_minute_per_order(api, brand, clock, default_rate_limits):
    session, product = live_drop(api, brand["apiKey"], quantity=5)
    shopper = make_shopper(api)
    first, second = (order(api, shopper, session["id"], product["id"]).json for _ in range(2))
    clock.advance(60 - clock.now().second - clock.now().microsecond / 1e6)  # the start of a minute

    def pay(order_id, card):
        return api.post(f"/v1/orders/{order_id}/pay", {"paymentToken": card}, key=shopper["token"])

    assert [pay(first["id"], "decline").status_code for _ in range(10)] == [402] * 10
    refused = pay(first["id"], "ok")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json["type"].endswith("/too_many_requests")
    assert refused.json["detail"] == "at most 10 payment attempts every 60 seconds per order"
    assert api.get(f"/v1/orders/{first['id']}", key=shopper["token"]).json["status"] == "reserved"
    assert pay(second["id"], "ok").json["status"] == "paid"  # per order
    clock.advance(60)
    assert pay(first["id"], "ok").json["status"] == "paid"


def test_a_429_over_http_is_counted_as_refused_by_its_reason(api, brand, clock, default_rate_limits, monkeypatch,
                                                              capsys):
    session, _ = live_drop(api, brand["apiKey"], quantity=1)
    shopper = make_shopper(api)
    clock.advance(1 - clock.now().microsecond / 1e6)
    for _ in range(5):
        assert api.post(f"/v1/sessions/{session['id']}/likes", key=shopper["token"]).status_code == 200
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    capsys.readouterr()
    assert api.post(f"/v1/sessions/{session['id']}/likes", key=shopper["token"]).status_code == 429
    emitted = [json.loads(out) for out in capsys.readouterr().out.splitlines() if out.startswith('{"_aws"')]
    refused = [line for line in emitted if "Refused" in line]
    assert [(line["reason"], line["Refused"]) for line in refused] == [("too_many_requests", [1.0])]


def test_the_limits_table_expires_its_windows_and_has_no_stream(aws_stack):
    from chalicelib.settings import get_settings

    ddb, table = boto3.client("dynamodb"), get_settings().tables["limits"]
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt" and ttl["TimeToLiveStatus"] == "ENABLED"
    assert "StreamSpecification" not in ddb.describe_table(TableName=table)["Table"]


def test_each_rate_limited_route_documents_its_429_with_retry_after(api):
    paths = api.get("/v1/openapi.json").json["paths"]
    for method, path in RATE_LIMITED_ROUTES:
        operation = paths[path][method]
        too_many = operation["responses"]["429"]
        assert "too_many_requests" in too_many["description"], path
        assert too_many["headers"]["Retry-After"]["required"] is True, path
        assert "429" in operation["description"] and "by default" in operation["description"], path
