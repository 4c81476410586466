"""The OpenAPI document: valid 3.1, covering every route Chalice serves."""
from openapi_spec_validator import validate


def test_document_is_valid_openapi_31_and_covers_every_route(api):
    response = api.get("/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1")
    validate(document)

    from app import app

    # OPTIONS is the CORS preflight every path answers (not an operation of the API).
    served = {(method.lower(), path) for path, methods in app.routes.items() for method in methods
              if method != "OPTIONS"}
    described = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert served == described
    assert all("OPTIONS" in methods for methods in app.routes.values())


def test_request_schemas_come_from_the_validating_models(api):
    schemas = api.get("/v1/openapi.json").json["components"]["schemas"]
    product = schemas["ProductCreate"]
    assert product["additionalProperties"] is False
    assert set(product["required"]) == {"title", "price", "stock"}
    assert schemas["MoneyIn"]["properties"]["amount"]["minimum"] == 0
    assert "streamKey" not in str(schemas["PublicSessionView"])


def test_chalice_own_errors_are_problem_json_too(api):
    response = api.call("DELETE", "/v1/brands")
    assert response.status_code == 405
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["status"] == 405 and response.json["type"].endswith("/method_not_allowed")


# --- the document is exact: each point checked on the generated document --------------------------

import re  # noqa: E402

import jsonschema  # noqa: E402
import pytest  # noqa: E402

from tests.conftest import live_drop, make_product, make_session, order  # noqa: E402


@pytest.fixture(scope="module")
def document(api):
    return api.get("/v1/openapi.json").json


def schema_of(document, name):
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def valid(document, schema, value) -> bool:
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker()).is_valid(value)


def walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for key, child in node.items():
            yield from walk(child, path + (key,))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from walk(child, path + (index,))


def operations(document):
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            yield method, path, operation


def test_owner_and_public_views_match_exactly_one_branch(api, brand, document):
    key = brand["apiKey"]
    product = make_product(api, key)
    session, drop = live_drop(api, key, quantity=1)
    cases = [(f"/v1/products/{product['id']}", "/v1/products/{product_id}"),
             (f"/v1/sessions/{session['id']}", "/v1/sessions/{session_id}")]
    for url, path in cases:
        branches = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
        for answer in (api.get(url, key=key).json, api.get(url).json):
            matching = [b["$ref"] for b in branches if valid(document, b, answer)]
            assert len(matching) == 1, (url, matching)
    # Response models are closed; Problem alone is open (it carries its type's facts).
    for name, schema in document["components"]["schemas"].items():
        if schema.get("type") == "object" and name != "Problem":
            assert schema.get("additionalProperties") is False, name


def test_optional_fields_have_no_default_and_patch_nulls_match_the_server(api, brand, document):
    for path, node in walk(document):
        assert not (isinstance(node, dict) and "default" in node and node["default"] is None), path
    patch = schema_of(document, "ProductPatch")
    assert valid(document, patch, {"title": "Only the title"})
    product = make_product(api, brand["apiKey"])
    for body in ({"title": None}, {"price": None}, {"images": None}, {"description": None}, {"title": "New"}, {}):
        accepted = api.patch(f"/v1/products/{product['id']}", body, key=brand["apiKey"]).status_code == 200
        assert valid(document, patch, body) == accepted, body


REQUEST_MODELS = {"BrandCreate", "ProductCreate", "ProductPatch", "StockAdjust", "SessionCreate", "LineupAdd",
                  "OrderCreate", "OrderItemIn", "PaymentIn", "FeatureIn", "ModerateMessage", "ModerateUser", "MoneyIn"}


def test_request_bodies_state_no_defaults(document):
    schemas = document["components"]["schemas"]
    assert set(schemas) >= REQUEST_MODELS
    for name in REQUEST_MODELS:
        for path, node in walk(schemas[name]):
            assert not (isinstance(node, dict) and "default" in node and "properties" in path), (name, path)
    # ...but the default is still said, in words.
    assert "600" in schemas["SessionCreate"]["properties"]["holdSeconds"]["description"]


def test_currencies_are_the_iso_4217_table(document):
    from chalicelib.domain.money import CURRENCY_EXPONENTS

    for model in ("MoneyIn", "MoneyOut"):
        enum = document["components"]["schemas"][model]["properties"]["currency"]["enum"]
        assert set(enum) == set(CURRENCY_EXPONENTS) and "000" not in enum


def test_delta_zero_is_refused_by_the_document_as_by_the_server(document):
    stock = schema_of(document, "StockAdjust")
    assert not valid(document, stock, {"delta": 0})
    assert valid(document, stock, {"delta": -3}) and valid(document, stock, {"delta": 3})


def test_idempotency_key_rule_is_the_same_in_the_document_and_the_server(api, brand, shopper, document):
    header = next(p for p in document["paths"]["/v1/orders"]["post"]["parameters"] if p["name"] == "Idempotency-Key")
    session, product = live_drop(api, brand["apiKey"], quantity=20)
    for value in ("k", "K" * 255, "K" * 256, "a b", "caf\u00e9", "k\u200bk", "\u00a0k", "tab\tk",
                  "550e8400-e29b-41d4-a716-446655440000"):
        response = order(api, shopper, session["id"], product["id"], key=value)
        refused = response.status_code == 400 and response.json.get("field") == "Idempotency-Key"
        assert valid(document, header["schema"], value) == (not refused), (value, response.body)


def test_cursor_and_path_ids_are_bounded_as_the_server_bounds_them(api, document):
    for _, _, operation in operations(document):
        for parameter in operation["parameters"]:
            if parameter["name"] == "cursor":
                assert parameter["schema"]["minLength"] == 1 and "anyOf" not in parameter["schema"]
            if parameter["in"] == "path":
                schema = parameter["schema"]
                assert schema["maxLength"] == 64 and schema["pattern"].startswith("^")
                assert re.search(schema["pattern"], "ord_" + "0" * 24) and not re.search(schema["pattern"], "a.b")
    assert api.get("/v1/sessions?status=live&cursor=").status_code == 400


def test_problem_fields_are_absent_rather_than_null(api, brand, document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem["properties"]["field"] == {**problem["properties"]["field"], "type": "string"}
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ProblemError"}
    assert set(document["components"]["schemas"]["ProblemError"]["required"]) == {"field", "message"}
    invalid = api.post("/v1/products", {"title": ""}, key=brand["apiKey"]).json
    missing = api.get("/v1/orders/ord_missing", key=brand["apiKey"]).json
    assert "field" not in missing
    for answer in (invalid, missing):
        assert valid(document, schema_of(document, "Problem"), answer), answer


def test_response_headers_are_declared(document):
    order_created = document["paths"]["/v1/orders"]["post"]["responses"]["201"]["headers"]
    assert order_created["Idempotent-Replayed"]["schema"]["enum"] == ["true", "false"]
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            headers = response["headers"]
            assert headers["Cache-Control"]["required"] is True, (method, path, status)
            assert "Vary" in headers
            if status in ("429", "503"):
                assert headers["Retry-After"]["required"] is True, (method, path, status)
    pay_conflict = document["paths"]["/v1/orders/{order_id}/pay"]["post"]["responses"]["409"]["headers"]
    assert "Retry-After" in pay_conflict  # payment_in_progress
    assert "Allow" in document["components"]["responses"]["MethodNotAllowed"]["headers"]
    live = document["paths"]["/v1/sessions/{session_id}/live"]["get"]["responses"]["200"]["headers"]
    assert live["Cache-Control"]["schema"]["const"] == "public, max-age=2"


def test_every_timestamp_is_a_date_time(document):
    stamps = 0
    for path, node in walk(document["components"]["schemas"]):
        if len(path) >= 3 and path[-2] == "properties" and (path[-1] == "at" or path[-1].endswith("At")):
            stamps += 1
            formats = {n.get("format") for _, n in walk(node) if isinstance(n, dict) and n.get("type") == "string"}
            assert formats == {"date-time"}, path
    assert stamps >= 15


def test_created_resources_link_to_their_follow_ups(document):
    ids = {operation["operationId"]: (method, path) for method, path, operation in operations(document)}
    expected = {("post", "/v1/products"): {"get_v1_products_product_id", "patch_v1_products_product_id"},
                ("post", "/v1/sessions"): {"get_v1_sessions_session_id", "post_v1_sessions_session_id_lineup",
                                           "post_v1_sessions_session_id_start"},
                ("post", "/v1/orders"): {"get_v1_orders_order_id", "post_v1_orders_order_id_pay",
                                         "post_v1_orders_order_id_cancel"}}
    for (method, path), wanted in expected.items():
        links = document["paths"][path][method]["responses"]["201"]["links"]
        assert wanted <= set(links)
        for link in links.values():
            target_method, target_path = ids[link["operationId"]]
            assert set(link["parameters"]) == set(re.findall(r"{(\w+)}", target_path))
            assert link["parameters"] == {name: "$response.body#/id" for name in link["parameters"]}


def test_operations_tags_license_and_contact_are_described(document):
    assert document["info"]["license"]["name"] and document["info"]["contact"]
    declared = {tag["name"]: tag["description"] for tag in document["tags"]}
    assert all(declared.values())
    for method, path, operation in operations(document):
        assert len(operation["description"]) > len(operation["summary"]), (method, path)
        assert set(operation["tags"]) <= set(declared) and operation["tags"], (method, path)


def test_problem_types_and_their_statuses_are_listed(document):
    from chalicelib.api.problems import PROBLEM_BASE, PROBLEMS

    listed = {p["type"]: p["status"] for p in document["x-problem-types"]}
    assert listed == {p["type"]: p["status"] for p in document["components"]["schemas"]["Problem"]["x-problem-types"]}
    for status, code, _ in PROBLEMS.values():
        assert listed[PROBLEM_BASE + code] == status
    conflict = document["paths"]["/v1/products/{product_id}/stock"]["post"]["responses"]["409"]["description"]
    assert "insufficient_stock" in conflict


def test_image_urls_the_document_admits_are_those_the_server_admits(api, brand, document):
    item = document["components"]["schemas"]["ProductCreate"]["properties"]["images"]["items"]
    refused = ["https://C`K?qYBb", "https:///a.png", "https://a:65536/a.png", "https://a/%zz", "https://a#b#c",
               "https://a/{x}", "https://a/<b>", "http://a/b.png", "https://[::1/a.png", "https://a b/c"]
    admitted = ["https://cdn.example.com:8443/p/hoodie%20blue.png?w=800&h=600#front", "https://a.b/c(1),d;e=f~g",
                "https://IMG.example.com", "https://a:65535/?q=/x?y#/f?g"]
    for url in refused + admitted:
        response = api.post("/v1/products", {"title": "t", "price": {"amount": 1, "currency": "EUR"}, "stock": 1,
                                             "images": [url]}, key=brand["apiKey"])
        assert valid(document, item, url) == (url in admitted) == (response.status_code == 201), (url, response.body)


def test_a_lineup_item_links_to_featuring_it_and_the_link_works(api, brand, document):
    key = brand["apiKey"]
    session, product = make_session(api, key), make_product(api, key)
    added = api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": 1}, key=key)
    link = document["paths"]["/v1/sessions/{session_id}/lineup"]["post"]["responses"]["201"]["links"][
        "post_v1_sessions_session_id_feature"]
    assert link["parameters"] == {"session_id": "$request.path.session_id"}
    body = {name: added.json[expression.rsplit("/", 1)[1]] for name, expression in link["requestBody"].items()}
    assert valid(document, schema_of(document, "FeatureIn"), body)
    assert api.post(f"/v1/sessions/{session['id']}/feature", body, key=key).status_code == 200


def test_the_timestamp_window_is_stated_as_the_server_applies_it(api, brand, document):
    schema = document["components"]["schemas"]["SessionCreate"]["properties"]["scheduledAt"]
    for moment in ("0001-01-01T00:00:00+01:00", "0149-06-21T02:55:37Z", "1999-12-31T23:59:59Z",
                   "2100-01-01T00:00:00Z", "2026-12-01T18:00:00Z", "2099-12-31T22:00:00-01:00"):
        accepted = api.post("/v1/sessions", {"title": "x", "scheduledAt": moment}, key=brand["apiKey"]).status_code
        assert valid(document, schema, moment) == (accepted == 201), moment
