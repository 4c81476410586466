"""CORS: every path answers a preflight; origins come from the settings, per audience; errors
(problem+json, Chalice's own 405 too) carry the CORS headers, or a browser could read none of them."""
import dataclasses
import json

import pytest

from chalicelib.api import routing
from chalicelib.api.routing import ROUTES
from chalicelib.settings import Settings, get_settings
from tests.conftest import ROOT

CONSOLE = "http://localhost:8001"
SHOP = "https://shop.example.com"


def preflight(api, path, method, origin, request_headers="authorization, content-type"):
    return api.call("OPTIONS", path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                              "Access-Control-Request-Headers": request_headers})


def concrete(path):
    return path.replace("{product_id}", "prd_x").replace("{session_id}", "ses_x").replace("{order_id}", "ord_x")


@pytest.fixture
def listed_origins(monkeypatch):
    """The prod shape: explicit lists instead of `*`."""
    settings = dataclasses.replace(get_settings(), cors_origins={"shop": (SHOP,), "console": (CONSOLE,)})
    monkeypatch.setattr(routing, "get_settings", lambda: settings)


def test_every_route_answers_a_preflight_from_its_audience(api):
    for spec in ROUTES:
        origin = CONSOLE if spec.auth in ("brand", "operator") else "https://any.example"
        response = preflight(api, concrete(spec.path), spec.method, origin)
        assert response.status_code == 204, (spec.method, spec.path, response.body)
        headers = response.headers
        assert headers["Access-Control-Allow-Origin"] in ("*", origin), (spec.method, spec.path)
        assert spec.method in headers["Access-Control-Allow-Methods"].split(", ")
        allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key"} <= allowed
        assert int(headers["Access-Control-Max-Age"]) > 0


def test_default_origins_any_shop_and_the_local_console(api):
    assert preflight(api, "/v1/orders", "POST", "https://any.example").headers["Access-Control-Allow-Origin"] == "*"
    console = preflight(api, "/v1/products", "POST", "http://127.0.0.1:8001")
    assert console.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8001"
    assert "Origin" in console.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in preflight(api, "/v1/products", "POST", "https://evil.example").headers


def test_with_lists_the_origin_is_echoed_only_when_allowed(api, brand, listed_origins):
    # A brand route: the console only.
    ok = preflight(api, "/v1/products", "POST", CONSOLE)
    assert ok.headers["Access-Control-Allow-Origin"] == CONSOLE and "Origin" in ok.headers["Vary"]
    refused = preflight(api, "/v1/products", "POST", SHOP)
    assert "Access-Control-Allow-Origin" not in refused.headers and "Origin" in refused.headers["Vary"]
    # A shopper route: the shop only.
    assert preflight(api, "/v1/orders", "POST", SHOP).headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Origin" not in preflight(api, "/v1/orders", "POST", CONSOLE).headers
    # One path, two methods, two audiences: the preflight takes the method it asks about.
    assert preflight(api, "/v1/sessions", "GET", SHOP).headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Origin" not in preflight(api, "/v1/sessions", "POST", SHOP).headers
    # Routes that take either credential serve both.
    for origin in (SHOP, CONSOLE):
        assert preflight(api, "/v1/products/prd_x", "GET", origin).headers["Access-Control-Allow-Origin"] == origin
    # The actual answer, too.
    listed = api.get("/v1/products", key=brand["apiKey"], headers={"Origin": CONSOLE})
    assert listed.status_code == 200 and listed.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert set(listed.headers["Vary"].replace(" ", "").split(",")) >= {"Origin", "Authorization"}
    assert "Access-Control-Allow-Origin" not in api.get("/v1/products", key=brand["apiKey"],
                                                        headers={"Origin": SHOP}).headers


def test_errors_carry_cors_headers_so_a_browser_can_read_them(api, listed_origins):
    unauthorized = api.get("/v1/products", headers={"Origin": CONSOLE})
    assert unauthorized.status_code == 401 and unauthorized.headers["Content-Type"] == "application/problem+json"
    assert unauthorized.headers["Access-Control-Allow-Origin"] == CONSOLE
    exposed = {h.strip() for h in unauthorized.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed >= {"Idempotent-Replayed", "Retry-After"}
    assert api.post("/v1/shoppers", headers={"Origin": SHOP}).headers["Access-Control-Allow-Origin"] == SHOP
    bad_body = api.post("/v1/orders", raw="{", headers={"Origin": SHOP, "Content-Type": "application/json",
                                                         "Authorization": "Bearer nope"})
    assert bad_body.status_code == 401 and bad_body.headers["Access-Control-Allow-Origin"] == SHOP
    # Chalice's own 405, made problem+json by the app, is readable too.
    not_allowed = api.call("DELETE", "/v1/brands", headers={"Origin": CONSOLE})
    assert not_allowed.status_code == 405 and not_allowed.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert "OPTIONS" in not_allowed.headers["Allow"]


def test_a_failure_inside_a_handler_carries_cors_headers(api, brand, monkeypatch):
    from chalicelib.adapters.dynamodb import ProductRepository

    def failing_add(self, product):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(ProductRepository, "add", failing_add)
    response = api.post("/v1/products", {"title": "t", "price": {"amount": 1, "currency": "EUR"}, "stock": 1},
                        key=brand["apiKey"], headers={"Origin": CONSOLE})
    assert response.status_code == 500 and response.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert response.headers["Cache-Control"] == "no-store"


def test_stages_configure_origins_per_audience():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())

    def origins(stage):
        env = {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}
        return Settings.from_env(env).cors_origins

    for stage in ("dev", "local"):
        assert origins(stage) == {"shop": ("*",), "console": ("http://127.0.0.1:8001", "http://localhost:8001")}
    prod = origins("prod")
    assert "*" not in prod["shop"] + prod["console"] and prod["shop"] and prod["console"]
    assert all(origin.startswith("https://") for origin in prod["shop"] + prod["console"])

