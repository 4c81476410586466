"""A second brand tries every brand route on the first brand's resources and gets nothing."""
import re

from chalicelib.api.routing import ROUTES
from tests.conftest import listed, live_drop, make_product, make_session, make_shopper, order

# A valid body for each brand route that takes one, so that only ownership can refuse it.
BODIES = {
    ("PATCH", "/v1/products/{product_id}"): {"title": "Stolen"},
    ("POST", "/v1/products/{product_id}/stock"): {"delta": -1},
    ("POST", "/v1/sessions/{session_id}/lineup"): {"productId": "{product_id}", "quantity": 1},
    ("POST", "/v1/sessions/{session_id}/feature"): {"productId": "{product_id}"},
    ("PATCH", "/v1/sessions/{session_id}/lineup/{product_id}"): {"perCustomerLimit": 1},
    ("POST", "/v1/sessions/{session_id}/chat/delete-message"): {"messageId": "ABCDEFabcdef"},
    ("POST", "/v1/sessions/{session_id}/chat/disconnect"): {"userId": "shp_x"},
    ("PATCH", "/v1/webhooks/{webhook_id}"): {"description": "Stolen"},
    ("POST", "/v1/orders/{order_id}/refund"): {"reason": "Stolen"},
}


def test_every_brand_route_on_another_brands_resources_is_404(api, brand, other_brand):
    product = make_product(api, brand["apiKey"], stock=10)
    session = make_session(api, brand["apiKey"])
    api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": 2}, key=brand["apiKey"])
    hook = api.post("/v1/webhooks", {"url": "http://127.0.0.1:9/hooks", "events": ["order.paid"]},
                    key=brand["apiKey"]).json
    ping = api.post(f"/v1/webhooks/{hook['id']}/test", key=brand["apiKey"]).json
    show, drop = live_drop(api, brand["apiKey"], quantity=2)
    buyer = make_shopper(api)
    sold = order(api, buyer, show["id"], drop["id"]).json
    assert api.post(f"/v1/orders/{sold['id']}/pay", {"paymentToken": "ok"}, key=buyer["token"]).status_code == 200
    ids = {"product_id": product["id"], "session_id": session["id"], "webhook_id": hook["id"],
           "delivery_id": ping["id"], "order_id": sold["id"]}

    def snapshot():
        return (api.get(f"/v1/products/{product['id']}", key=brand["apiKey"]).json,
                api.get(f"/v1/sessions/{session['id']}", key=brand["apiKey"]).json,
                api.get(f"/v1/webhooks/{hook['id']}", key=brand["apiKey"]).json,
                api.get(f"/v1/webhooks/{hook['id']}/deliveries", key=brand["apiKey"]).json,
                api.get(f"/v1/orders/{sold['id']}", key=brand["apiKey"]).json)

    before = snapshot()

    tried = set()
    for spec in ROUTES:
        if spec.auth not in ("brand", "optional-brand") or "{" not in spec.path:
            continue
        path = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], spec.path)
        assert spec.request is None or (spec.method, spec.path) in BODIES, f"add a valid body for {spec.path}"
        body = BODIES.get((spec.method, spec.path))
        if body is not None:
            body = {k: ids["product_id"] if v == "{product_id}" else v for k, v in body.items()}
        response = api.call(spec.method, path, body=body, key=other_brand["apiKey"])
        assert response.status_code == 404, (spec.method, spec.path, response.body)
        assert "Hoodie" not in response.body.decode() and "Friday drop" not in response.body.decode()
        tried.add((spec.method, spec.path))
    assert len(tried) >= 8, tried

    # Another brand's session can not take the first brand's product either.
    own_session = make_session(api, other_brand["apiKey"])
    response = api.post(f"/v1/sessions/{own_session['id']}/lineup", {"productId": product["id"], "quantity": 1},
                        key=other_brand["apiKey"])
    assert response.status_code == 404 and response.json["field"] == "productId"

    assert snapshot() == before


def test_listings_show_only_the_callers_products(api, brand, other_brand):
    mine = make_product(api, brand["apiKey"])
    theirs = make_product(api, other_brand["apiKey"])
    seen = [p["id"] for p in listed(api, "/v1/products", key=other_brand["apiKey"])]
    assert theirs["id"] in seen and mine["id"] not in seen
