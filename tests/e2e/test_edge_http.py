"""CORS and caching over real HTTP, as a browser meets them: `chalice local --stage local` reads the
stage's origins from .chalice/config.json."""
import requests

CONSOLE = "http://localhost:8001"


def preflight(base_url, path, method, origin):
    return requests.options(base_url + path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"}, timeout=30)


def test_preflights_over_http(base_url):
    console = preflight(base_url, "/v1/products", "POST", CONSOLE)
    assert console.status_code == 204
    assert console.headers["Access-Control-Allow-Origin"] == CONSOLE and "Origin" in console.headers["Vary"]
    assert "POST" in console.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in console.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    stranger = preflight(base_url, "/v1/products", "POST", "https://elsewhere.example")
    assert "Access-Control-Allow-Origin" not in stranger.headers
    shop = preflight(base_url, "/v1/orders", "POST", "https://shop.example")
    assert shop.status_code == 204 and shop.headers["Access-Control-Allow-Origin"] == "*"


def test_answers_and_errors_over_http_carry_cors_and_caching(base_url):
    refused = requests.get(base_url + "/v1/products", headers={"Origin": CONSOLE}, timeout=30)
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/problem+json"
    assert refused.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert "Retry-After" in refused.headers["Access-Control-Expose-Headers"]
    assert refused.headers["Cache-Control"] == "no-store"
    missing = requests.get(base_url + "/v1/sessions/" + "x" * 3000 + "/live",
                           headers={"Origin": "https://shop.example"}, timeout=30)
    assert missing.status_code == 404 and missing.json()["field"] == "sessionId"
    assert missing.headers["Access-Control-Allow-Origin"] == "*"
    listing = requests.get(base_url + "/v1/sessions?status=live", headers={"Origin": "https://shop.example"},
                           timeout=30)
    assert listing.status_code == 200 and listing.headers["Cache-Control"].startswith("public, max-age=")
    token = requests.post(base_url + "/v1/shoppers", headers={"Origin": "https://shop.example"}, timeout=30)
    assert token.status_code == 201 and token.headers["Cache-Control"] == "no-store"
    assert token.headers["Access-Control-Allow-Origin"] == "*"
