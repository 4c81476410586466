"""Brand onboarding and API-key authentication."""
import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.settings import get_settings


def test_operator_creates_a_brand_whose_key_is_stored_only_as_a_hash(api, operator_key):
    response = api.post("/v1/brands", {"name": "Acme"}, key=operator_key)
    assert response.status_code == 201
    brand = response.json
    assert brand["apiKey"].startswith(f"ldk.{brand['id']}.")
    item = boto3.client("dynamodb").get_item(TableName=get_settings().tables["brands"], Key={"id": {"S": brand["id"]}})
    stored = str(item["Item"])
    assert brand["apiKey"].split(".")[2] not in stored and "apiKeyHash" in stored
    assert api.get("/v1/products", key=brand["apiKey"]).status_code == 200


@pytest.mark.parametrize("key", [None, "wrong", "ldk.brd_x.y"])
def test_brands_need_the_operator_key(api, key):
    response = api.post("/v1/brands", {"name": "Acme"}, key=key)
    assert response.status_code == 401 and response.headers["Content-Type"] == "application/problem+json"


def test_a_brand_key_is_not_an_operator_key(api, brand):
    assert api.post("/v1/brands", {"name": "Sneaky"}, key=brand["apiKey"]).status_code == 401


@pytest.mark.parametrize("key", [None, "", "ldk.brd_01a2054b2adfd9bc4a3604.guess", "Basic abc",
                                 "ldk.brd_01a2054b2adfd9bc4a3604"])
def test_brand_routes_need_a_valid_key(api, key):
    response = api.get("/v1/products", key=key)
    assert response.status_code == 401 and response.json["status"] == 401


def test_tampered_brand_key_is_refused(api, brand):
    tampered = brand["apiKey"][:-2] + ("AA" if not brand["apiKey"].endswith("AA") else "BB")
    assert api.get("/v1/products", key=tampered).status_code == 401


def test_operator_key_can_come_from_ssm_parameter_store(api, monkeypatch):
    boto3.client("ssm").put_parameter(Name="/livedrop/test/operator-key", Value="from-ssm-key",
                                      Type="SecureString", Overwrite=True)
    monkeypatch.delenv("LIVEDROP_OPERATOR_KEY")
    monkeypatch.setenv("LIVEDROP_OPERATOR_KEY_PARAMETER", "/livedrop/test/operator-key")
    bootstrap.reset()
    try:
        assert api.post("/v1/brands", {"name": "Via SSM"}, key="from-ssm-key").status_code == 201
        assert api.post("/v1/brands", {"name": "Via SSM"}, key="other").status_code == 401
    finally:
        monkeypatch.undo()
        bootstrap.reset()
