"""Checkout, one request at a time: the rules a buyer meets. Concurrency over real HTTP is in tests/e2e."""

from datetime import timedelta

import pytest

from chalicelib import bootstrap
from tests.conftest import conservation, live_drop, make_product, make_session, make_shopper, order, swept


def test_shopper_tokens(api):
    shopper = make_shopper(api)
    assert shopper["shopperId"].startswith("shp_") and shopper["token"].startswith("shp.")
    forged = shopper["token"].rsplit(".", 1)[0] + ".AAAA"
    for token in (None, forged, "shp.x.1.y", "ldk.brd.x"):
        response = api.post("/v1/orders", {"sessionId": "ses_x", "items": [{"productId": "prd_x", "quantity": 1}]},
                            key=token, headers={"Idempotency-Key": "k"})
        assert response.status_code == 401


def test_reserve_then_pay(api, brand, shopper):
    session, product = live_drop(api, brand["apiKey"], quantity=5)
    created = order(api, shopper, session["id"], product["id"], quantity=2)
    assert created.status_code == 201, created.body
    body = created.json
    assert body["status"] == "reserved" and body["total"] == {"amount": 9800, "currency": "EUR"}
    assert body["items"] == [{"productId": product["id"], "quantity": 2, "unitPrice": product["price"]}]
    assert created.headers["Idempotent-Replayed"] == "false"

    declined = api.post(f"/v1/orders/{body['id']}/pay", {"paymentToken": "decline"}, key=shopper["token"])
    assert declined.status_code == 402 and declined.json["type"].endswith("/payment_declined")
    assert api.get(f"/v1/orders/{body['id']}", key=shopper["token"]).json["status"] == "reserved"

    paid = api.post(f"/v1/orders/{body['id']}/pay", {"paymentToken": "ok"}, key=shopper["token"])
    assert paid.status_code == 200 and paid.json["status"] == "paid"
    again = api.post(f"/v1/orders/{body['id']}/pay", {"paymentToken": "ok"}, key=shopper["token"])
    assert again.status_code == 200 and again.json == paid.json  # a retry of the payment that paid it
    other = api.post(f"/v1/orders/{body['id']}/pay", {"paymentToken": "decline"}, key=shopper["token"])
    assert other.status_code == 200 and other.json == paid.json  # paid is paid: nothing more is asked
    assert paid.json["payment"]["attempt"] == 2 and paid.json["payment"]["capturedAt"]
    assert api.post(f"/v1/orders/{body['id']}/cancel", key=shopper["token"]).status_code == 409
    assert conservation(session["id"], product["id"], 5) == (3, 2)

    live = api.get(f"/v1/sessions/{session['id']}/live").json
    assert live["status"] == "live"
    assert live["lineup"][0]["stockLeft"] == 3 and live["lineup"][0]["soldOut"] is False
    started_at = api.get(f"/v1/sessions/{session['id']}").json["startedAt"]
    assert live["lineup"][0]["opensAt"] == started_at and live["lineup"][0]["closesAt"] is None


def test_cancel_returns_units_and_frees_the_limit(api, brand, shopper):
    session, product = live_drop(api, brand["apiKey"], quantity=5, per_customer_limit=2)
    first = order(api, shopper, session["id"], product["id"], quantity=2).json
    refused = order(api, shopper, session["id"], product["id"], quantity=1)
    assert refused.status_code == 409 and refused.json["type"].endswith("/limit_exceeded")
    assert refused.json["bought"] == 2
    cancelled = api.post(f"/v1/orders/{first['id']}/cancel", key=shopper["token"], raw="")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert conservation(session["id"], product["id"], 5) == (5, 0)
    assert order(api, shopper, session["id"], product["id"], quantity=2).status_code == 201


def test_over_the_limit_in_one_order_is_refused_without_a_write(api, brand, shopper, aws_calls):
    session, product = live_drop(api, brand["apiKey"], quantity=5, per_customer_limit=2)
    order(api, shopper, session["id"], product["id"])  # warms the drop configuration
    aws_calls.log.clear()
    refused = order(api, shopper, session["id"], product["id"], quantity=3)
    assert refused.status_code == 409 and refused.json["limit"] == 2
    assert aws_calls.log == ["dynamodb:GetItem"]  # only the buyer's own order: is this a retry?


def test_idempotency_key_replays_and_refuses_another_body(api, brand, shopper):
    session, product = live_drop(api, brand["apiKey"], quantity=5)
    first = order(api, shopper, session["id"], product["id"], key="same-key")
    replay = order(api, shopper, session["id"], product["id"], key="same-key")
    assert replay.status_code == 201 and replay.json == first.json
    assert replay.headers["Idempotent-Replayed"] == "true"
    other = order(api, shopper, session["id"], product["id"], quantity=2, key="same-key")
    assert other.status_code == 422 and other.json["type"].endswith("/idempotency_key_reused")
    assert conservation(session["id"], product["id"], 5) == (4, 1)
    missing = api.post("/v1/orders", {"sessionId": session["id"], "items": [{"productId": product["id"], "quantity": 1}]},
                       key=shopper["token"])
    assert missing.status_code == 400 and missing.json["field"] == "Idempotency-Key"


def test_drop_windows(api, brand, shopper):
    session, product = live_drop(api, brand["apiKey"], quantity=5, start=False)
    not_live = order(api, shopper, session["id"], product["id"])
    assert not_live.status_code == 409 and not_live.json["type"].endswith("/drop_not_open")
    api.post(f"/v1/sessions/{session['id']}/start", key=brand["apiKey"])
    assert order(api, shopper, session["id"], product["id"]).status_code == 201
    api.post(f"/v1/sessions/{session['id']}/end", key=brand["apiKey"])
    closed = order(api, shopper, session["id"], product["id"])
    assert closed.status_code == 409 and closed.json["type"].endswith("/drop_closed")

    later, product2 = live_drop(api, brand["apiKey"], quantity=5, opensAt="2099-01-01T00:00:00Z")
    early = order(api, shopper, later["id"], product2["id"])
    assert early.status_code == 409 and early.json["opensAt"] == "2099-01-01T00:00:00.000Z"


def test_sold_out_names_the_item_and_what_is_left(api, brand, shopper):
    session, product = live_drop(api, brand["apiKey"], quantity=3, shards=3)
    assert order(api, shopper, session["id"], product["id"], quantity=2).status_code == 201
    short = order(api, make_shopper(api), session["id"], product["id"], quantity=2)
    assert short.status_code == 409 and short.json["type"].endswith("/sold_out")
    assert short.json["productId"] == product["id"] and short.json["left"] == 1
    assert order(api, make_shopper(api), session["id"], product["id"], quantity=1).status_code == 201
    assert api.get(f"/v1/sessions/{session['id']}/live").json["lineup"][0]["soldOut"] is True


def test_a_multi_shard_order_spans_shards(api, brand):
    session, product = live_drop(api, brand["apiKey"], quantity=4, shards=4)
    whole = order(api, make_shopper(api), session["id"], product["id"], quantity=4)
    assert whole.status_code == 201, whole.body
    assert conservation(session["id"], product["id"], 4) == (0, 4)


def test_multi_item_orders_are_all_or_nothing(api, brand, shopper):
    key = brand["apiKey"]
    session = make_session(api, key)
    plenty, scarce = make_product(api, key, stock=10), make_product(api, key, stock=1)
    for product, quantity in ((plenty, 10), (scarce, 1)):
        api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": quantity}, key=key)
    api.post(f"/v1/sessions/{session['id']}/start", key=key)
    body = {"sessionId": session["id"], "items": [{"productId": plenty["id"], "quantity": 3},
                                                   {"productId": scarce["id"], "quantity": 2}]}
    refused = api.post("/v1/orders", body, key=shopper["token"], headers={"Idempotency-Key": "multi"})
    assert refused.status_code == 409 and refused.json["productId"] == scarce["id"]
    assert conservation(session["id"], plenty["id"], 10) == (10, 0)
    body["items"][1]["quantity"] = 1
    both = api.post("/v1/orders", body, key=shopper["token"], headers={"Idempotency-Key": "multi-2"})
    assert both.status_code == 201 and both.json["total"]["amount"] == 4 * 4900
    assert conservation(session["id"], plenty["id"], 10) == (7, 3)
    assert conservation(session["id"], scarce["id"], 1) == (0, 1)


@pytest.mark.parametrize("body, field", [
    ({"sessionId": "s", "items": []}, "items"),
    ({"sessionId": "s", "items": [{"productId": "p", "quantity": 0}]}, "items.0.quantity"),
    ({"sessionId": "s", "items": [{"productId": "p", "quantity": 1}, {"productId": "p", "quantity": 1}]}, "items"),
    ({"items": [{"productId": "p", "quantity": 1}]}, "sessionId"),
])
def test_invalid_orders(api, shopper, body, field):
    response = api.post("/v1/orders", body, key=shopper["token"], headers={"Idempotency-Key": "k"})
    assert response.status_code == 400 and response.json["field"] == field


def test_unknown_products_and_sessions_are_404(api, brand, shopper):
    session, product = live_drop(api, brand["apiKey"], quantity=1)
    other = make_product(api, brand["apiKey"])
    assert order(api, shopper, session["id"], other["id"]).status_code == 404
    assert order(api, shopper, "ses_00000000000000000000ff", product["id"]).status_code == 404


def test_who_may_read_an_order(api, brand, other_brand, shopper):
    session, product = live_drop(api, brand["apiKey"], quantity=2)
    created = order(api, shopper, session["id"], product["id"]).json
    path = f"/v1/orders/{created['id']}"
    assert api.get(path, key=shopper["token"]).status_code == 200
    assert api.get(path, key=brand["apiKey"]).status_code == 200
    assert api.get(path, key=other_brand["apiKey"]).status_code == 404
    assert api.get(path, key=make_shopper(api)["token"]).status_code == 404
    stranger = make_shopper(api)
    assert api.post(f"{path}/pay", {"paymentToken": "ok"}, key=stranger["token"]).status_code == 404
    assert api.post(f"{path}/cancel", key=stranger["token"]).status_code == 404
    listing = api.get(f"/v1/orders?sessionId={session['id']}", key=brand["apiKey"])
    assert [o["id"] for o in listing.json["items"]] == [created["id"]]
    assert api.get(f"/v1/orders?sessionId={session['id']}", key=other_brand["apiKey"]).status_code == 404


def test_expired_reservations_are_released_by_the_sweeper(api, brand, shopper, clock):
    session, product = live_drop(api, brand["apiKey"], quantity=3, hold_seconds=5, per_customer_limit=1)
    created = order(api, shopper, session["id"], product["id"]).json
    buyer = make_shopper(api)
    paid = order(api, buyer, session["id"], product["id"]).json
    assert api.post(f"/v1/orders/{paid['id']}/pay", {"paymentToken": "ok"}, key=buyer["token"]).status_code == 200
    assert conservation(session["id"], product["id"], 3) == (1, 2)
    clock.advance(6.2)
    late = api.post(f"/v1/orders/{created['id']}/pay", {"paymentToken": "ok"}, key=shopper["token"])
    assert late.status_code == 409 and late.json["type"].endswith("/order_expired")
    assert swept(bootstrap.services().checkout.release_expired) >= 1
    assert api.get(f"/v1/orders/{created['id']}", key=shopper["token"]).json["status"] == "expired"
    assert api.get(f"/v1/orders/{paid['id']}", key=buyer["token"]).json["status"] == "paid"  # never released
    assert conservation(session["id"], product["id"], 3) == (2, 1)
    # The limit counts only live orders: the shopper may buy again.
    assert order(api, shopper, session["id"], product["id"]).status_code == 201


def test_the_scheduled_function_releases(api, brand, shopper, clock):
    from app import release_expired_reservations

    session, product = live_drop(api, brand["apiKey"], quantity=2, hold_seconds=5)
    order(api, shopper, session["id"], product["id"])
    clock.advance(6.2)
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-22T00:00:00Z", "resources": [],
             "region": "us-east-1", "account": "123456789012", "id": "1", "detail": {}, "version": "0"}
    assert swept(lambda: release_expired_reservations(event, None)["released"]) >= 1  # each minute's run, till done
    assert conservation(session["id"], product["id"], 2) == (2, 0)


def test_requests_per_checkout_and_per_sold_out_rejection(api, brand, aws_calls, clock):
    session, product = live_drop(api, brand["apiKey"], quantity=2)
    assert order(api, make_shopper(api), session["id"], product["id"]).status_code == 201  # warms the drop
    buyers = [make_shopper(api) for _ in range(8)]  # minted first: a mint is a write of its own (rate limit)
    aws_calls.log.clear()
    assert order(api, buyers[0], session["id"], product["id"]).status_code == 201
    assert aws_calls.log == ["dynamodb:TransactWriteItems"]  # one request per warm checkout

    assert order(api, buyers[1], session["id"], product["id"]).status_code == 409  # learns it is empty
    aws_calls.log.clear()
    for buyer in buyers[2:7]:
        assert order(api, buyer, session["id"], product["id"]).json["type"].endswith("/sold_out")
    # Known sold out: no write and no read of the drop; one read of the buyer's own order (a retry
    # of a reservation that was made gets it back, whatever the drop's state).
    assert aws_calls.log == ["dynamodb:GetItem"] * 5

    clock.advance(2.1)  # past the container's memory: a read confirms, still no write
    aws_calls.log.clear()
    assert order(api, buyers[7], session["id"], product["id"]).status_code == 409
    assert aws_calls.log == ["dynamodb:BatchGetItem", "dynamodb:GetItem"]


def test_cancelled_units_sell_again_after_sold_out(api, brand, clock):
    session, product = live_drop(api, brand["apiKey"], quantity=1)
    holder = make_shopper(api)
    held = order(api, holder, session["id"], product["id"]).json
    assert order(api, make_shopper(api), session["id"], product["id"]).status_code == 409
    api.post(f"/v1/orders/{held['id']}/cancel", key=holder["token"])
    clock.advance(2.1)
    assert order(api, make_shopper(api), session["id"], product["id"]).status_code == 201


def test_a_drop_repriced_before_it_opens_sells_at_its_new_price_and_limit_in_a_container_that_cached_it(
        api, brand, aws_calls, clock):
    """The container's checkout caches the session's lineup (a sale of another drop); the brand
    re-prices and re-limits a drop that opens later. Once it opens, the first checkout is refused
    by the shard (another revision), reads the lineup again and sells at the new price; later
    checkouts are one request again."""
    key = brand["apiKey"]
    now_on, later = make_product(api, key, stock=5), make_product(api, key, stock=6)
    session = make_session(api, key)
    opens = (clock.now().replace(microsecond=0) + timedelta(hours=1)).isoformat()
    for body in ({"productId": now_on["id"], "quantity": 5},
                 {"productId": later["id"], "quantity": 6, "shards": 2, "perCustomerLimit": 3, "opensAt": opens}):
        assert api.post(f"/v1/sessions/{session['id']}/lineup", body, key=key).status_code == 201
    assert api.post(f"/v1/sessions/{session['id']}/start", key=key).status_code == 200
    buyer = make_shopper(api)
    assert order(api, buyer, session["id"], now_on["id"]).status_code == 201  # the lineup is cached now
    changed = api.patch(f"/v1/sessions/{session['id']}/lineup/{later['id']}",
                        {"price": {"amount": 1900, "currency": "EUR"}, "perCustomerLimit": 1}, key=key)
    assert changed.status_code == 200, changed.body
    clock.advance(2 * 3600)

    aws_calls.log.clear()
    sold = order(api, buyer, session["id"], later["id"])
    assert sold.status_code == 201, sold.body
    assert sold.json["items"][0]["unitPrice"] == {"amount": 1900, "currency": "EUR"}
    assert sold.json["total"] == {"amount": 1900, "currency": "EUR"}
    assert aws_calls.log == ["dynamodb:TransactWriteItems", "dynamodb:Query", "dynamodb:TransactWriteItems"]
    again = order(api, buyer, session["id"], later["id"])
    assert again.status_code == 409 and again.json["type"].endswith("/limit_exceeded"), again.body
    assert again.json["limit"] == 1
    over = order(api, make_shopper(api), session["id"], later["id"], quantity=2)
    assert over.status_code == 409 and over.json["type"].endswith("/limit_exceeded")
    other = make_shopper(api)
    aws_calls.log.clear()
    warm = order(api, other, session["id"], later["id"])
    assert warm.status_code == 201 and warm.json["total"]["amount"] == 1900
    assert aws_calls.log == ["dynamodb:TransactWriteItems"]  # one request per warm checkout again
    assert conservation(session["id"], later["id"], 6) == (4, 2)
