"""Bounded ids on every route, sane timestamps, clean free text, parsed image URLs, one rule for
the Idempotency-Key: each refusal a 4xx problem naming the field, never a 500."""
import re

import pytest

from chalicelib.api.routing import ROUTES
from tests.conftest import live_drop, make_product, make_session, order

TOO_LONG = "o" * 3000


def key_for(spec, brand, shopper, operator_key):
    if spec.auth.startswith("shopper"):
        return shopper["token"]
    return operator_key if spec.auth == "operator" else brand["apiKey"]


@pytest.mark.parametrize("bad_id", [TOO_LONG, "ses_x.y", "a" * 65, "%00"])
def test_every_path_id_is_bounded_before_the_handler(api, brand, shopper, operator_key, bad_id):
    for spec in ROUTES:
        params = re.findall(r"{(\w+)}", spec.path)
        for name in params:
            path = spec.path.replace("{" + name + "}", bad_id)
            path = re.sub(r"{(\w+)}", "x_1", path)
            response = api.call(spec.method, path, body={} if spec.request else None,
                                key=key_for(spec, brand, shopper, operator_key))
            assert response.status_code == 404, (spec.method, path[:80], response.body[:300])
            camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), name)
            assert response.json["field"] == camel and response.json["type"].endswith("/not_found")
            assert bad_id not in response.json["detail"]


def test_a_long_order_id_on_pay_is_a_404_not_a_500(api, shopper):
    response = api.post(f"/v1/orders/{TOO_LONG}/pay", {"paymentToken": "ok"}, key=shopper["token"])
    assert response.status_code == 404 and response.json["field"] == "orderId"


def test_timestamps_are_accepted_in_a_window_and_refused_outside_it(api, brand):
    key = brand["apiKey"]
    session, product = make_session(api, key), make_product(api, key)
    for moment in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1999-12-31T23:59:59Z",
                   "2100-01-01T00:00:00Z", "2099-12-31T23:30:00-01:00"):
        scheduled = api.post("/v1/sessions", {"title": "x", "scheduledAt": moment}, key=key)
        assert scheduled.status_code == 400 and scheduled.json["field"] == "scheduledAt", (moment, scheduled.body)
        for name in ("opensAt", "closesAt"):
            added = api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], name: moment},
                             key=key)
            assert added.status_code == 400 and added.json["field"] == name, (moment, added.body)
    for moment in ("2000-01-01T00:00:00Z", "2099-12-31T23:59:59.999Z", "2000-01-01T01:00:00+01:00"):
        created = api.post("/v1/sessions", {"title": "x", "scheduledAt": moment}, key=key)
        assert created.status_code == 201, (moment, created.body)


HIDDEN = ["\x00", "\x1b", "\x07", "\x7f", "\x85", "\x9b", "\u202a", "\u202e", "\u2066", "\u2069"]


@pytest.mark.parametrize("char", HIDDEN + ["\n", "\r", "\t"])
def test_one_line_texts_refuse_control_and_bidi_characters(api, brand, operator_key, char):
    key = brand["apiKey"]
    text = f"Hood{char}ie"
    product = api.post("/v1/products", {"title": text, "price": {"amount": 1, "currency": "EUR"}, "stock": 1}, key=key)
    assert product.status_code == 400 and product.json["field"] == "title"
    session = api.post("/v1/sessions", {"title": text}, key=key)
    assert session.status_code == 400 and session.json["field"] == "title"
    named = api.post("/v1/brands", {"name": text}, key=operator_key)
    assert named.status_code == 400 and named.json["field"] == "name"
    existing = make_product(api, key)
    patched = api.patch(f"/v1/products/{existing['id']}", {"title": text}, key=key)
    assert patched.status_code == 400 and patched.json["field"] == "title"


def test_descriptions_and_reasons_refuse_them_too_but_a_description_keeps_its_line_breaks(api, brand):
    key = brand["apiKey"]
    session, _ = live_drop(api, key, quantity=1)
    for char in HIDDEN:
        text = f"Soft{char}cotton"
        product = api.post("/v1/products", {"title": "t", "description": text,
                                            "price": {"amount": 1, "currency": "EUR"}, "stock": 1}, key=key)
        assert product.status_code == 400 and product.json["field"] == "description", repr(char)
        reason = api.post(f"/v1/sessions/{session['id']}/chat/disconnect", {"userId": "shp_x", "reason": text},
                          key=key)
        assert reason.status_code == 400 and reason.json["field"] == "reason", repr(char)
    kept = make_product(api, key, description="Soft cotton.\r\n\tWash cold.\nMade in \u00c9vora \u2014 \U0001f9e5")
    assert kept["description"].startswith("Soft cotton.\r\n\t")


def test_image_urls_must_parse_as_https_with_a_host(api, brand):
    for url in ["https:///image.png", "https://", "https://:443/a.png", "https://a:b/a.png", "https://[::1/a.png",
                "\x01https://cdn.example.com/a.png", "https://cdn.example.com/a b.png", "http://cdn.example.com/a.png",
                "https://cdn.example.com/\u00e9.png"]:
        response = api.post("/v1/products", {"title": "t", "price": {"amount": 1, "currency": "EUR"}, "stock": 1,
                                             "images": [url]}, key=brand["apiKey"])
        assert response.status_code == 400 and response.json["field"] == "images.0", (url, response.body)
    url = "https://cdn.example.com:8443/p/hoodie%20blue.png?w=800&h=600#front"
    assert make_product(api, brand["apiKey"], images=[url])["images"] == [url]


def test_idempotency_key_is_1_to_255_visible_ascii_characters(api, brand, shopper):
    session, product = live_drop(api, brand["apiKey"], quantity=1)
    body = {"sessionId": session["id"], "items": [{"productId": product["id"], "quantity": 1}]}
    for value in ("", " ", "k" * 256, "caf\u00e9", "a b"):
        response = api.post("/v1/orders", body, key=shopper["token"], headers={"Idempotency-Key": value})
        assert response.status_code == 400 and response.json["field"] == "Idempotency-Key", (value, response.body)
    assert order(api, shopper, session["id"], product["id"], key="K" * 254 + "~").status_code == 201


def test_a_number_with_a_zero_fraction_is_an_integer_as_in_json_schema(api, brand):
    key = brand["apiKey"]
    product = api.post("/v1/products", {"title": "t", "price": {"amount": 4900.0, "currency": "EUR"}, "stock": 3.0},
                       key=key)
    assert product.status_code == 201 and product.json["price"]["amount"] == 4900 and product.json["stock"] == 3
    adjusted = api.post(f"/v1/products/{product.json['id']}/stock", {"delta": -1.0}, key=key)
    assert adjusted.status_code == 200 and adjusted.json["stock"] == 2
    for wrong in (1.5, "2", True):
        refused = api.post(f"/v1/products/{product.json['id']}/stock", {"delta": wrong}, key=key)
        assert refused.status_code == 400 and refused.json["field"] == "delta", wrong
