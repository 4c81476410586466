"""What an attacker and a generated client found (issue: hardening), one test per finding."""
import secrets

import pytest

from chalicelib import bootstrap
from tests.conftest import conservation, live_drop, make_product, make_session, make_shopper, order


def test_a_retry_gets_its_order_back_after_the_drop_sold_out(api, brand):
    session, product = live_drop(api, brand["apiKey"], quantity=1)
    buyer = make_shopper(api)
    first = order(api, buyer, session["id"], product["id"], key="tap-1")
    assert first.status_code == 201
    assert order(api, make_shopper(api), session["id"], product["id"]).json["type"].endswith("/sold_out")
    retry = order(api, buyer, session["id"], product["id"], key="tap-1")  # the container knows it sold out
    assert retry.status_code == 201 and retry.json == first.json
    assert retry.headers["Idempotent-Replayed"] == "true"
    other_body = order(api, buyer, session["id"], product["id"], quantity=2, key="tap-1")
    assert other_body.status_code == 422
    bootstrap.override()  # a fresh container: it learns the drop is empty from the transaction
    again = order(api, buyer, session["id"], product["id"], key="tap-1")
    assert again.status_code == 201 and again.json["id"] == first.json["id"]
    assert conservation(session["id"], product["id"], 1) == (0, 1)


def test_a_retry_gets_its_order_back_after_the_drop_closed(api, brand, clock):
    from datetime import timedelta

    from chalicelib.domain.clock import to_iso

    session, product = live_drop(api, brand["apiKey"], quantity=3, closesAt=to_iso(clock.now() + timedelta(seconds=2)))
    buyer = make_shopper(api)
    first = order(api, buyer, session["id"], product["id"], key="tap-2")
    clock.advance(3)  # past the drop's own closing time: the container refuses without writing
    retry = order(api, buyer, session["id"], product["id"], key="tap-2")
    assert retry.status_code == 201 and retry.json["id"] == first.json["id"]
    closed = order(api, buyer, session["id"], product["id"], key="tap-3")
    assert closed.status_code == 409 and closed.json["type"].endswith("/drop_closed")


def test_a_big_sharded_drop_serves_its_first_buyer_in_a_few_requests(api, brand, aws_calls):
    session, product = live_drop(api, brand["apiKey"], quantity=480, shards=48)  # 10 units a shard
    bootstrap.override()  # a container that has never seen this drop
    aws_calls.log.clear()
    big = order(api, make_shopper(api), session["id"], product["id"], quantity=25)
    assert big.status_code == 201, big.body
    assert aws_calls.log.count("dynamodb:TransactWriteItems") == 1
    assert conservation(session["id"], product["id"], 480) == (455, 25)
    # More than is left: a few requests, then how many are left.
    aws_calls.log.clear()
    too_many = order(api, make_shopper(api), session["id"], product["id"], quantity=1000)
    assert too_many.status_code == 409 and too_many.json["left"] == 455
    assert len(aws_calls.log) <= 4


def test_an_order_over_more_shards_than_one_transaction_holds_is_refused_with_a_reason(api, brand):
    key = brand["apiKey"]
    session = make_session(api, key)
    products = [make_product(api, key, stock=500) for _ in range(3)]
    for product in products:
        added = api.post(f"/v1/sessions/{session['id']}/lineup",
                         {"productId": product["id"], "quantity": 450, "shards": 45}, key=key)
        assert added.status_code == 201, added.body
    api.post(f"/v1/sessions/{session['id']}/start", key=key)
    shopper = make_shopper(api)
    # 3 lines x 45 shards of 10 units: 136 items, DynamoDB takes 100 in one transaction.
    response = api.post("/v1/orders", {"sessionId": session["id"], "items": [
        {"productId": p["id"], "quantity": 450} for p in products]}, key=shopper["token"],
        headers={"Idempotency-Key": secrets.token_hex(8)})
    assert response.status_code == 400 and response.json["type"].endswith("/order_too_large")
    assert response.json["field"] == "items"
    for product in products:
        assert conservation(session["id"], product["id"], 450) == (450, 0)


def test_an_order_total_over_the_money_bound_is_refused(api, brand):
    session, product = live_drop(api, brand["apiKey"], quantity=5, price={"amount": 10**12, "currency": "EUR"})
    response = order(api, make_shopper(api), session["id"], product["id"], quantity=2)
    assert response.status_code == 400 and response.json["field"] == "items"
    assert conservation(session["id"], product["id"], 5) == (5, 0)


@pytest.mark.parametrize("route", ["/v1/orders", "/v1/sessions/ses_x/likes", "/v1/sessions/ses_x/chat-token",
                                   "/v1/orders/ord_x/pay"])
def test_a_shopper_token_with_non_ascii_in_its_signature_is_401(api, route):
    shopper = make_shopper(api)
    token = shopper["token"][:-1] + "é"
    response = api.post(route, {"paymentToken": "ok"} if route.endswith("/pay") else None, key=token,
                        headers={"Idempotency-Key": "k"})
    assert response.status_code == 401


def test_listing_cursors_are_only_those_a_listing_issued(api, brand):
    import base64
    import json

    for _ in range(3):
        make_session(api, brand["apiKey"], scheduledAt="2099-01-01T00:00:00Z")
    first = api.get("/v1/sessions?status=scheduled&limit=1").json
    assert first["nextCursor"]
    following = api.get(f"/v1/sessions?status=scheduled&limit=1&cursor={first['nextCursor']}")
    assert following.status_code == 200 and following.json["items"][0]["id"] != first["items"][0]["id"]
    signature = first["nextCursor"].split(".")[1]
    for forged in ({"status": {"S": "scheduled"}}, {"status": {"S": "scheduled"}, "listKey": {"S": ""}},
                   {"status": {"S": "scheduled"}, "listKey": {"S": "x"}, "id": {"S": "x"}, "x": {"S": "y"}}):
        payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        response = api.get(f"/v1/sessions?status=scheduled&cursor={payload}.{signature}")
        assert response.status_code == 400 and response.json["field"] == "cursor"
    other_partition = api.get(f"/v1/sessions?status=live&cursor={first['nextCursor']}")
    assert other_partition.status_code == 400


def test_deleting_a_session_and_changing_it_afterwards(api, brand):
    key = brand["apiKey"]
    product = make_product(api, key, stock=5)
    with_drops = make_session(api, key)
    api.post(f"/v1/sessions/{with_drops['id']}/lineup", {"productId": product["id"], "quantity": 2}, key=key)
    refused = api.call("DELETE", f"/v1/sessions/{with_drops['id']}", key=key)
    assert refused.status_code == 409 and refused.json["type"].endswith("/session_has_drops")
    empty = make_session(api, key)
    assert api.call("DELETE", f"/v1/sessions/{empty['id']}", key=key).json["recordDeleted"] is True
    late_add = api.post(f"/v1/sessions/{empty['id']}/lineup", {"productId": product["id"], "quantity": 1}, key=key)
    assert late_add.status_code == 404
    assert api.post(f"/v1/sessions/{empty['id']}/start", key=key).status_code == 404
    assert api.get(f"/v1/products/{product['id']}", key=key).json["stock"] == 3


def test_a_deleted_session_keeps_its_record_but_no_route_reaches_for_its_channel(api, brand):
    """After DELETE, a session with drops keeps its record; its channel and room are gone, so the
    stream key and moderation are refused (409), and ending it again asks IVS for nothing."""
    key = brand["apiKey"]
    session, _ = live_drop(api, key, quantity=1)
    base = f"/v1/sessions/{session['id']}"
    api.post(base + "/end", key=key)
    assert api.call("DELETE", base, key=key).json["recordDeleted"] is False
    assert api.get(base + "/ingest", key=key).status_code == 409
    assert api.post(base + "/chat/disconnect", {"userId": "shp_x"}, key=key).status_code == 409
    assert api.post(base + "/end", key=key).status_code == 200
    assert api.get(base + "/replay").status_code == 200
