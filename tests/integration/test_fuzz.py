"""Nothing a client sends produces a 500: random JSON, random bytes, random ids and queries."""
import re
from urllib.parse import quote
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app  # noqa: F401  (importing the app registers its routes in ROUTES)
from chalicelib.api.routing import ROUTES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=12,
)
# Any moment Python can write, at any offset, and often the first and last days Python has: years 1
# and 9999 overflow when converted to UTC.
_days_at_the_ends = (st.datetimes(max_value=datetime(1, 1, 1, 23, 59)) |
                     st.datetimes(min_value=datetime(9999, 12, 31)))
timestamps = st.builds(lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
                       st.datetimes() | _days_at_the_ends, st.integers(min_value=-1439, max_value=1439))
# Bodies shaped like the real ones, with wrong values, reach deeper than random JSON does.
field_names = st.sampled_from(["title", "price", "amount", "currency", "stock", "images", "delta", "productId",
                               "quantity", "perCustomerLimit", "scheduledAt", "opensAt", "closesAt", "name",
                               "description", "reason", "userId"])
shaped_bodies = st.dictionaries(field_names, json_values | timestamps | st.fixed_dictionaries(
    {"amount": json_values, "currency": json_values}), max_size=6)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def body_routes():
    return [spec for spec in ROUTES if spec.request is not None]


def assert_client_error_or_success(response, context):
    assert response.status_code < 500, (context, response.body)
    if response.status_code >= 400:
        assert response.headers.get("Content-Type") == "application/problem+json", context
        assert response.json["status"] == response.status_code


def concrete(path, ids):
    return re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)


def key_for(spec, brand, shopper):
    if spec.auth.startswith("shopper"):
        return shopper["token"]
    return brand["apiKey"] if spec.auth != "operator" else "not-the-operator"


# Every route that takes a body is fuzzed on its own (parametrized), so none can be left out by chance.
@pytest.mark.parametrize("spec", body_routes(), ids=lambda spec: f"{spec.method} {spec.path}")
def test_random_json_bodies(api, brand, shopper, spec):
    from tests.conftest import make_product, make_session

    hook = api.post("/v1/webhooks", {"url": "http://127.0.0.1:9/hooks", "events": ["order.paid"]},
                    key=brand["apiKey"]).json
    ids = {"product_id": make_product(api, brand["apiKey"])["id"],
           "session_id": make_session(api, brand["apiKey"])["id"], "order_id": "ord_0123456789abcdef01234567",
           "webhook_id": hook["id"], "delivery_id": api.post(f"/v1/webhooks/{hook['id']}/test",
                                                             key=brand["apiKey"]).json["id"]}

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=json_values | shaped_bodies, idempotency_key=st.text(max_size=300))
    def check(body, idempotency_key):
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key.isprintable() else {}
        response = api.call(spec.method, concrete(spec.path, ids), body=body, key=key_for(spec, brand, shopper),
                            headers=headers)
        assert_client_error_or_success(response, (spec.path, body))

    check()


PATH_IDS = ("product_id", "session_id", "order_id", "webhook_id", "delivery_id")


def test_random_bytes_and_headers(api, brand):
    @FUZZ
    @given(spec=st.sampled_from(body_routes()), raw=st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
           content_type=st.sampled_from(["application/json", "text/plain", "application/problem+json", ""]),
           auth=st.sampled_from(["", "Bearer", "Bearer x", "ldk..", brand["apiKey"] + "x", "Basic " + "a" * 300]))
    def check(spec, raw, content_type, auth):
        headers = {"Authorization": auth} if auth else {}
        if content_type:
            headers["Content-Type"] = content_type
        response = api.call(spec.method, concrete(spec.path, {"product_id": "prd_x", "session_id": "ses_x",
                                                              "order_id": "ord_x", "webhook_id": "whk_x",
                                                              "delivery_id": "dlv_x"}),
                            raw=raw, headers=headers)
        assert_client_error_or_success(response, (spec.path, raw, content_type, auth))

    check()


def test_random_ids_and_queries(api, brand, shopper):
    safe_text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%&"),
                        min_size=1, max_size=40)

    @FUZZ
    @given(spec=st.sampled_from([s for s in ROUTES if s.method == "GET"]), ident=safe_text,
           query=st.dictionaries(st.sampled_from(["limit", "cursor", "status", "sessionId", "x"]), safe_text,
                                 max_size=3))
    def check(spec, ident, query):
        path = concrete(spec.path, {name: ident for name in PATH_IDS})
        if query:
            path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        response = api.call("GET", path, key=key_for(spec, brand, shopper) if spec.auth != "public" else None)
        assert_client_error_or_success(response, (path,))

    check()


def test_random_ids_on_every_route(api, brand, shopper):
    """Ids of any length and characters, on every route and method: a 404 naming the parameter when
    no id could look like that, never a 500 (DynamoDB refuses keys over 2 KB)."""
    from chalicelib.api.routing import PATH_ID

    ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_characters="/?#%"),
                  min_size=1, max_size=40) | st.integers(min_value=65, max_value=4000).map(lambda n: "x" * n)

    @FUZZ
    @given(spec=st.sampled_from([s for s in ROUTES if "{" in s.path]), ident=ids)
    def check(spec, ident):
        # As a browser sends it: percent-encoded (raw, a space-like character could route elsewhere).
        encoded = quote(ident, safe="")
        path = concrete(spec.path, {name: encoded for name in PATH_IDS})
        response = api.call(spec.method, path, body={} if spec.request else None, key=key_for(spec, brand, shopper))
        assert_client_error_or_success(response, (spec.method, path[:100]))
        if not re.fullmatch(PATH_ID, ident):
            assert response.status_code == 404 and response.json["field"].endswith("Id"), (spec.path, response.body)

    check()


def test_random_timestamps_in_otherwise_valid_bodies(api, brand):
    """Any moment, at any offset, where a body takes one: accepted, or 400 naming the field."""
    from tests.conftest import make_product, make_session

    key = brand["apiKey"]
    session, product = make_session(api, key), make_product(api, key, stock=1000)

    @FUZZ
    @given(moment=timestamps, name=st.sampled_from(["scheduledAt", "opensAt", "closesAt"]))
    def check(moment, name):
        if name == "scheduledAt":
            response = api.post("/v1/sessions", {"title": "t", name: moment}, key=key)
        else:
            response = api.post(f"/v1/sessions/{session['id']}/lineup",
                                {"productId": product["id"], "quantity": 1, name: moment}, key=key)
        assert_client_error_or_success(response, (name, moment))
        if response.status_code == 400:
            assert response.json["field"] == name, response.body

    check()
