"""What the browser host console needs: the brand's own sessions, and changing or removing a drop
before it opens (its units back to the product's stock)."""
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
