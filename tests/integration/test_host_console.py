"""What the browser pages need: the host console's own sessions, changing or removing a drop
before it opens (its units back to the product's stock), and where a page connects its chat."""
from datetime import timedelta

from tests.conftest import make_product, make_session


def own_sessions(api, key, query=""):
    response = api.get("/v1/brand/sessions" + query, key=key)
    assert response.status_code == 200, response.body
    return response.json


def test_a_brand_lists_its_own_sessions_latest_first_by_status(api, brand, other_brand):
    key = brand["apiKey"]
    first = make_session(api, key, scheduledAt="2031-01-01T10:00:00Z")
    second = make_session(api, key, scheduledAt="2031-01-02T10:00:00Z")
    third = make_session(api, key, scheduledAt="2031-01-03T10:00:00Z")
    product = make_product(api, key, stock=5)
    api.post(f"/v1/sessions/{second['id']}/lineup", {"productId": product["id"], "quantity": 2}, key=key)
    assert api.post(f"/v1/sessions/{first['id']}/start", key=key).status_code == 200
    deleted = make_session(api, key, scheduledAt="2031-01-04T10:00:00Z")
    assert api.call("DELETE", f"/v1/sessions/{deleted['id']}", key=key).status_code == 200
    theirs = make_session(api, other_brand["apiKey"])

    page = own_sessions(api, key, "?limit=2")
    assert [s["id"] for s in page["items"]] == [third["id"], second["id"]]
    assert page["items"][1] == {
        "id": second["id"], "brandId": brand["id"], "title": "Friday drop", "status": "scheduled",
        "scheduledAt": "2031-01-02T10:00:00.000Z", "startedAt": None, "endedAt": None,
        "playbackUrl": second["playbackUrl"], "lineupCount": 1}
    rest = own_sessions(api, key, f"?limit=2&cursor={page['nextCursor']}")
    assert [(s["id"], s["status"]) for s in rest["items"]] == [(first["id"], "live")]
    assert [s["id"] for s in own_sessions(api, key, "?status=live")["items"]] == [first["id"]]
    assert [s["id"] for s in own_sessions(api, key, "?status=scheduled")["items"]] == [third["id"], second["id"]]
    assert own_sessions(api, key, "?status=ended")["items"] == []  # the deleted one is not listed
    assert [s["id"] for s in own_sessions(api, other_brand["apiKey"])["items"]] == [theirs["id"]]


def test_the_brand_listing_refuses_bad_queries_and_foreign_cursors(api, brand, other_brand):
    key = brand["apiKey"]
    for _ in range(2):
        make_session(api, key)
    for query, field in (("?status=cancelled", "status"), ("?limit=0", "limit"), ("?cursor=forged", "cursor")):
        response = api.get("/v1/brand/sessions" + query, key=key)
        assert response.status_code == 400 and response.json["field"] == field, response.body
    cursor = own_sessions(api, key, "?limit=1")["nextCursor"]
    for other_key, query in ((other_brand["apiKey"], ""), (key, "&status=live")):
        response = api.get(f"/v1/brand/sessions?limit=1&cursor={cursor}{query}", key=other_key)
        assert response.status_code == 400 and response.json["field"] == "cursor"
    assert api.get("/v1/brand/sessions").status_code == 401


def lineup_path(session, product):
    return f"/v1/sessions/{session['id']}/lineup/{product['id']}"


def test_a_drop_is_repriced_and_removed_before_the_show_and_its_stock_comes_back(api, brand):
    key = brand["apiKey"]
    product = make_product(api, key, stock=30)
    session = make_session(api, key)
    added = api.post(f"/v1/sessions/{session['id']}/lineup",
                     {"productId": product["id"], "quantity": 12, "perCustomerLimit": 2, "shards": 3}, key=key)
    assert added.status_code == 201 and api.get(f"/v1/products/{product['id']}", key=key).json["stock"] == 18

    changed = api.patch(lineup_path(session, product), {"price": {"amount": 2500, "currency": "EUR"}}, key=key)
    assert changed.status_code == 200, changed.body
    assert {**added.json, "price": {"amount": 2500, "currency": "EUR"}} == changed.json
    unlimited = api.patch(lineup_path(session, product), {"perCustomerLimit": None}, key=key)
    assert unlimited.json["perCustomerLimit"] is None and unlimited.json["price"]["amount"] == 2500
    assert api.get(f"/v1/sessions/{session['id']}").json["lineup"][0]["price"]["amount"] == 2500
    assert own_sessions(api, key, "?status=scheduled")["items"][0]["lineupCount"] == 1

    removed = api.call("DELETE", lineup_path(session, product), key=key)
    assert removed.status_code == 200, removed.body
    assert removed.json == {"sessionId": session["id"], "productId": product["id"], "returnedUnits": 12}
    assert api.get(f"/v1/products/{product['id']}", key=key).json["stock"] == 30  # as before the add
    assert api.get(f"/v1/sessions/{session['id']}", key=key).json["lineup"] == []
    assert own_sessions(api, key, "?status=scheduled")["items"][0]["lineupCount"] == 0
    again = api.call("DELETE", lineup_path(session, product), key=key)
    assert again.status_code == 404 and again.json["field"] == "productId"
    # Without drops, the session can be deleted whole again.
    assert api.call("DELETE", f"/v1/sessions/{session['id']}", key=key).json["recordDeleted"] is True


def test_an_opened_drop_can_not_change_nor_leave(api, brand, clock):
    key = brand["apiKey"]
    now = clock.now()
    product, later = make_product(api, key, stock=5), make_product(api, key, stock=5)
    session = make_session(api, key)
    for item, opens in ((product, None), (later, (now.replace(microsecond=0) + timedelta(hours=1)).isoformat())):
        body = {"productId": item["id"], "quantity": 3, **({"opensAt": opens} if opens else {})}
        assert api.post(f"/v1/sessions/{session['id']}/lineup", body, key=key).status_code == 201
    assert api.post(f"/v1/sessions/{session['id']}/start", key=key).status_code == 200
    for response in (api.patch(lineup_path(session, product), {"perCustomerLimit": 1}, key=key),
                     api.call("DELETE", lineup_path(session, product), key=key)):
        assert response.status_code == 409 and response.json["type"].endswith("/drop_opened"), response.body
        assert response.json["productId"] == product["id"] and response.json["opensAt"]
    # Live, but this drop opens in an hour: it may still change and leave.
    assert api.patch(lineup_path(session, later), {"perCustomerLimit": 1}, key=key).status_code == 200
    assert api.call("DELETE", lineup_path(session, later), key=key).json["returnedUnits"] == 3
    assert api.get(f"/v1/products/{later['id']}", key=key).json["stock"] == 5
    assert api.get(f"/v1/products/{product['id']}", key=key).json["stock"] == 2
    api.post(f"/v1/sessions/{session['id']}/end", key=key)
    ended = api.call("DELETE", lineup_path(session, product), key=key)
    assert ended.status_code == 409 and ended.json["type"].endswith("/session_not_editable")


def test_a_drop_whose_own_opening_passed_stays_as_it_is_scheduled_or_live(api, brand, shopper, clock):
    """A drop with an opensAt of its own opens by the clock, before the show too: a buyer can take
    it then, so it can not change nor leave, whatever the session's status."""
    key = brand["apiKey"]
    past = (clock.now().replace(microsecond=0) - timedelta(minutes=1)).isoformat()
    for start in (False, True):
        product = make_product(api, key, stock=5)
        session = make_session(api, key)
        body = {"productId": product["id"], "quantity": 3, "opensAt": past}
        assert api.post(f"/v1/sessions/{session['id']}/lineup", body, key=key).status_code == 201
        if start:
            assert api.post(f"/v1/sessions/{session['id']}/start", key=key).status_code == 200
        for response in (api.patch(lineup_path(session, product), {"price": {"amount": 1, "currency": "EUR"}}, key=key),
                         api.call("DELETE", lineup_path(session, product), key=key)):
            assert response.status_code == 409 and response.json["type"].endswith("/drop_opened"), response.body
            assert response.json["productId"] == product["id"]
        assert api.get(f"/v1/sessions/{session['id']}").json["lineup"][0]["price"]["amount"] == 4900
        assert api.get(f"/v1/products/{product['id']}", key=key).json["stock"] == 2
        sold = api.post("/v1/orders", {"sessionId": session["id"], "items": [{"productId": product["id"], "quantity": 1}]},
                        key=shopper["token"], headers={"Idempotency-Key": f"k-{start}"})
        assert sold.status_code == 201, sold.body  # on sale indeed, scheduled or live
        assert sold.json["items"][0]["unitPrice"]["amount"] == 4900


def test_lineup_changes_refuse_bad_input_unknown_products_and_other_brands(api, brand, other_brand):
    key = brand["apiKey"]
    product = make_product(api, key, stock=5)
    session = make_session(api, key)
    api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": 2}, key=key)
    path = lineup_path(session, product)
    for body, field in (({}, "body"), ({"price": None}, "price"), ({"perCustomerLimit": 0}, "perCustomerLimit"),
                        ({"perCustomerLimit": "2"}, "perCustomerLimit"), ({"quantity": 3}, "quantity"),
                        ({"price": {"amount": 100, "currency": "XXY"}}, "price.currency")):
        response = api.patch(path, body, key=key)
        assert response.status_code == 400 and response.json["field"] == field, (body, response.body)
    stranger = make_product(api, key, stock=1)  # the brand's, but not in this lineup
    for response in (api.patch(lineup_path(session, stranger), {"perCustomerLimit": 1}, key=key),
                     api.call("DELETE", lineup_path(session, stranger), key=key)):
        assert response.status_code == 404 and response.json["field"] == "productId"
    for response in (api.patch(path, {"perCustomerLimit": 1}, key=other_brand["apiKey"]),
                     api.call("DELETE", path, key=other_brand["apiKey"])):
        assert response.status_code == 404 and "Hoodie" not in response.body.decode()
    assert api.get(f"/v1/products/{product['id']}", key=key).json["stock"] == 3
    assert api.get(f"/v1/sessions/{session['id']}", key=key).json["lineup"][0]["perCustomerLimit"] is None


def test_a_chat_token_says_where_to_connect_or_that_there_is_no_chat(api, brand, clock):
    from datetime import datetime, timezone

    from chalicelib import bootstrap
    from chalicelib.adapters.ivs_chat import AwsChat
    from tests.conftest import make_shopper
    from tests.stubs import stubbed

    shopper = make_shopper(api)
    embedded = make_session(api, brand["apiKey"])
    token = api.post(f"/v1/sessions/{embedded['id']}/chat-token", key=shopper["token"])
    assert token.status_code == 200 and token.json["messagingEndpoint"] is None  # no real room: hide the chat

    room = "arn:aws:ivschat:eu-west-1:123456789012:room/g1H2I3j4k5L6"
    later = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with stubbed("ivschat") as (client, stubber):
        stubber.add_response("create_room", {"arn": room})
        stubber.add_response("create_chat_token", {"token": "t", "tokenExpirationTime": later,
                                                   "sessionExpirationTime": later})
        bootstrap.override(clock=clock, chat=AwsChat(client))
        try:
            session = make_session(api, brand["apiKey"])
            token = api.post(f"/v1/sessions/{session['id']}/chat-token", key=shopper["token"])
        finally:
            bootstrap.override(clock=clock)
    assert token.json == {"token": "t", "tokenExpiresAt": "2030-01-01T00:00:00.000Z",
                          "sessionExpiresAt": "2030-01-01T00:00:00.000Z",
                          "messagingEndpoint": "wss://edge.ivschat.eu-west-1.amazonaws.com"}
