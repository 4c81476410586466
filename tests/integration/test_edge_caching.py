"""Caching is explicit: one rule (routing.cache_rule) gives every route its Cache-Control."""
from chalicelib.api.routing import ROUTES
from tests.conftest import live_drop, make_product, make_session, make_shopper, order


def test_live_state_is_briefly_public_for_a_cdn(api, brand):
    session = make_session(api, brand["apiKey"])
    live = api.get(f"/v1/sessions/{session['id']}/live")
    assert live.status_code == 200
    assert live.headers["Cache-Control"] == "public, max-age=2"
    assert "Authorization" not in live.headers.get("Vary", "")


def test_answers_with_a_secret_are_never_stored(api, operator_key, brand, shopper):
    created = api.post("/v1/brands", {"name": "Secretive"}, key=operator_key)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    token = api.post("/v1/shoppers")
    assert token.status_code == 201 and token.headers["Cache-Control"] == "no-store"
    session, _ = live_drop(api, brand["apiKey"], quantity=1)
    ingest = api.get(f"/v1/sessions/{session['id']}/ingest", key=brand["apiKey"])
    assert ingest.status_code == 200 and ingest.headers["Cache-Control"] == "no-store"
    chat = api.post(f"/v1/sessions/{session['id']}/chat-token", key=shopper["token"])
    assert chat.status_code == 200 and chat.headers["Cache-Control"] == "no-store"


def test_answers_that_depend_on_the_credential_are_private(api, brand, shopper):
    key = brand["apiKey"]
    product = make_product(api, key)
    for response in (api.get("/v1/products", key=key), api.get(f"/v1/products/{product['id']}", key=key),
                     api.get(f"/v1/products/{product['id']}")):
        assert response.status_code == 200
        assert response.headers["Cache-Control"].startswith("private")
        assert "Authorization" in response.headers["Vary"]
    session, drop = live_drop(api, key, quantity=2)
    placed = order(api, shopper, session["id"], drop["id"])
    assert placed.status_code == 201 and placed.headers["Cache-Control"].startswith("private")
    mine = api.get(f"/v1/orders/{placed.json['id']}", key=shopper["token"])
    assert mine.headers["Cache-Control"].startswith("private") and "Authorization" in mine.headers["Vary"]


def test_errors_are_not_stored(api, brand):
    assert api.get("/v1/sessions/ses_missing/live").headers["Cache-Control"] == "no-store"
    assert api.get("/v1/products").headers["Cache-Control"] == "no-store"  # 401
    assert api.get("/v1/sessions?limit=0").headers["Cache-Control"] == "no-store"  # 400


def test_every_route_has_a_stated_rule():
    rules = {(spec.method, spec.path): spec.cache_control for spec in ROUTES}
    assert rules[("GET", "/v1/sessions/{session_id}/live")] == "public, max-age=2"
    secrets = [("POST", "/v1/brands"), ("POST", "/v1/shoppers"), ("POST", "/v1/shoppers/verified"),
               ("GET", "/v1/sessions/{session_id}/ingest"),
               ("POST", "/v1/sessions/{session_id}/chat-token"), ("POST", "/v1/webhooks"),
               ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"), ("POST", "/v1/orders/{order_id}/pay"),
               ("GET", "/v1/sessions/{session_id}/drops/{product_id}/entries/me")]  # an admission token
    for secret in secrets:
        assert rules[secret] == "no-store"
    for spec in ROUTES:
        if spec.auth != "public" and (spec.method, spec.path) not in secrets:
            assert spec.cache_control == "private, no-cache", spec.path
        elif spec.auth == "public" and spec.method == "GET":
            assert spec.cache_control.startswith("public, max-age="), spec.path


def test_a_shopper_token_on_a_brand_optional_route_sees_the_public_view(api, brand):
    key = brand["apiKey"]
    product = make_product(api, key)
    session = make_session(api, key)
    buyer = make_shopper(api)
    as_shopper = api.get(f"/v1/products/{product['id']}", key=buyer["token"])
    assert as_shopper.status_code == 200 and "stock" not in as_shopper.json and "inStock" in as_shopper.json
    seen = api.get(f"/v1/sessions/{session['id']}", key=buyer["token"])
    assert seen.status_code == 200 and "createdAt" not in seen.json
    # A wrong brand key is still refused: only a shopper's token means "no brand here".
    assert api.get(f"/v1/products/{product['id']}", key=key + "x").status_code == 401
