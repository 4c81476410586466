"""The contract tier: the OpenAPI document held against the running API (schemathesis) and against a
TypeScript client (openapi-typescript + tsc).

The API runs under `chalice local` on a free loopback port over the session's AWS stack, as in
tests/e2e. `contract_world` makes the identities and resources that the generated requests
need to get past authentication and 404s.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests


CONTRACT_DIR = Path(__file__).resolve().parent
OPENAPI_PATH = "/v1/openapi.json"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "contract: the OpenAPI document against the running API (schemathesis) and a TypeScript client")


def pytest_collection_modifyitems(items):
    # schemathesis 4.32's `from_fixture` tests read and rename `item._nodeid`, which pytest 9.2 replaced
    # with a structured id (pytest-dev/pytest#14758): give this tier's items the old name back.
    for item in items:
        if CONTRACT_DIR in item.path.parents and not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid


@dataclass(frozen=True)
class ContractWorld:
    """Credentials for every security scheme of the document, and real ids to aim requests at."""
    url: str
    operator_key: str = field(repr=False)  # credentials stay out of failure reports
    brand_key: str = field(repr=False)
    shopper_token: str = field(repr=False)
    id_token: str = field(repr=False)  # of the user pool stand-in (tests/identity_provider.py)
    product_id: str
    scheduled_session_id: str  # with the product in its lineup, not started
    live_session_id: str  # started, with the product in its lineup: orders can be reserved
    order_id: str  # reserved by the shopper in the live session
    webhook_id: str  # an endpoint of the brand (a loopback URL nobody listens on)
    delivery_id: str  # the ping queued to it


def _call(url: str, method: str, path: str, body=None, key: str | None = None, headers=None) -> dict:
    all_headers = {"Authorization": f"Bearer {key}"} if key else {}
    all_headers.update(headers or {})
    response = requests.request(method, url + path, json=body, headers=all_headers, timeout=30)
    assert response.status_code in (200, 201, 202), f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


@pytest.fixture(scope="session")
def contract_world(base_url, aws_stack, user_pool) -> ContractWorld:
    operator_key = aws_stack["LIVEDROP_OPERATOR_KEY"]
    brand = _call(base_url, "POST", "/v1/brands", {"name": "Contract"}, key=operator_key)
    key = brand["apiKey"]
    product = _call(base_url, "POST", "/v1/products",
                    {"title": "Hoodie", "price": {"amount": 4900, "currency": "EUR"}, "stock": 1000}, key=key)
    sessions = []
    for title in ("Scheduled show", "Live show"):
        session = _call(base_url, "POST", "/v1/sessions", {"title": title}, key=key)
        _call(base_url, "POST", f"/v1/sessions/{session['id']}/lineup",
              {"productId": product["id"], "quantity": 200}, key=key)
        sessions.append(session["id"])
    _call(base_url, "POST", f"/v1/sessions/{sessions[1]}/start", key=key)
    shopper = _call(base_url, "POST", "/v1/shoppers")
    order = _call(base_url, "POST", "/v1/orders",
                  {"sessionId": sessions[1], "items": [{"productId": product["id"], "quantity": 1}]},
                  key=shopper["token"], headers={"Idempotency-Key": secrets.token_hex(8)})
    webhook = _call(base_url, "POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/hooks", "events": ["order.paid"]},
                    key=key)
    ping = _call(base_url, "POST", f"/v1/webhooks/{webhook['id']}/test", key=key)
    id_token = user_pool.id_token("contract", exp=int(time.time()) + 6 * 3600)  # outlives the tier's run
    return ContractWorld(url=base_url, operator_key=operator_key, brand_key=key, shopper_token=shopper["token"],
                         id_token=id_token,
                         product_id=product["id"], scheduled_session_id=sessions[0], live_session_id=sessions[1],
                         order_id=order["id"], webhook_id=webhook["id"], delivery_id=ping["id"])
