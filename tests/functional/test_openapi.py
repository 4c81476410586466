"""The OpenAPI document: valid 3.1, covering every route Chalice serves."""
from openapi_spec_validator import validate


def test_document_is_valid_openapi_31_and_covers_every_route(api):
    response = api.get("/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1")
    validate(document)

    from app import app

    served = {(method.lower(), path) for path, methods in app.routes.items() for method in methods}
    described = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert served == described


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
