"""Fixtures for every suite.

By default the AWS endpoints are the embedded stack (DynamoDB Local + moto), attached through
pytest-localstack's `RunningSession`. With `--localstack`, a LocalStack container is started
through pytest-localstack's docker session for DynamoDB and SSM (skipped with the reason where
no docker daemon answers); IVS is not in LocalStack Community, so it stays on moto either way.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STACK_SERVICES = ("dynamodb", "ssm")


TIERS = ("unit", "integration", "e2e", "contract", "browser")

# Every client of the suite's API is 127.0.0.1 (the Chalice test client, `chalice local`, `make run`)
# and many tests mint more shoppers, like, pay and chat faster than a person: the suite's rate limits
# are out of the way unless a test asks for the defaults (`default_rate_limits`, `fake_services(
# rate_limits="")`, `MakeRun(rate_limits=None)`).
GENEROUS_RATE_LIMITS = ",".join(f"{rule}=1000000/1" for rule in ("shopper_mint", "order", "payment", "like",
                                                                 "chat_token"))


def pytest_collection_modifyitems(config, items):
    """Each test's tier is its folder (tests/<tier>/...), so `pytest -m <tier>` runs one tier."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def pytest_addoption(parser):
    parser.addoption("--localstack", action="store_true",
                     help="run AWS-backed tests against a LocalStack container (needs docker)")


def _docker_unavailable_reason() -> str | None:
    try:
        import docker

        docker.from_env().ping()
        return None
    except Exception as error:  # any failure to reach the daemon means: no docker here
        return f"--localstack needs a docker daemon, and none answers ({type(error).__name__})"


@pytest.fixture(scope="session")
def aws_stack(request, tmp_path_factory):
    """Start the AWS endpoints and put them in the environment, as boto3 and the app read them."""
    from pytest_localstack.session import LocalstackSession, RunningSession

    from devstack.stack import LOOPBACK, EmbeddedStack

    embedded = EmbeddedStack(log_dir=tmp_path_factory.mktemp("stack-logs")).start()
    moto_port = int(embedded.moto_url.rsplit(":", 1)[1])
    localstack = None
    if request.config.getoption("--localstack"):
        reason = _docker_unavailable_reason()
        if reason:
            embedded.stop()
            pytest.skip(reason)
        import docker

        localstack = LocalstackSession(docker.from_env(), services=list(STACK_SERVICES))
        localstack.start()
        session = localstack
    else:
        ddb_port = int(embedded.dynamodb_url.rsplit(":", 1)[1])
        session = RunningSession(LOOPBACK, services={"dynamodb": ddb_port, "ssm": moto_port})
        session.start(timeout=30)
    env = {
        **embedded.env(),
        "AWS_ENDPOINT_URL_DYNAMODB": session.endpoint_url("dynamodb"),
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": session.endpoint_url("dynamodb"),
        "AWS_ENDPOINT_URL_SSM": session.endpoint_url("ssm"),
        "AWS_ENDPOINT_URL_IVS": embedded.moto_url,
        # A fresh table prefix per run: a LocalStack container may outlive one run.
        "LIVEDROP_STAGE": "t" + secrets.token_hex(3),
        "LIVEDROP_OPERATOR_KEY": "op-test-" + secrets.token_hex(8),
        "LIVEDROP_SHOPPER_TOKEN_SECRET": secrets.token_urlsafe(32),
        "LIVEDROP_IVS_MODE": "embedded",
        "LIVEDROP_EMBEDDED_SECRET": secrets.token_urlsafe(16),
        "POWERTOOLS_METRICS_DISABLED": "true",
        "LIVEDROP_RATE_LIMITS": GENEROUS_RATE_LIMITS,
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    import boto3

    from chalicelib import bootstrap
    from chalicelib.settings import get_settings
    from infra.keys import ensure_webhook_key, webhook_key_alias
    from infra.tables import create_tables

    bootstrap.reset()
    create_tables(boto3.client("dynamodb"), dict(get_settings().tables))
    ensure_webhook_key(boto3.client("kms"), webhook_key_alias(env["LIVEDROP_STAGE"]))
    yield env
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    bootstrap.reset()
    if localstack is not None:
        localstack.stop()
    embedded.stop()


class AwsCallRecorder:
    """Records the IAM actions that AWS calls made while recording is on (see test_iam_policy)."""

    def __init__(self) -> None:
        self.actions: set[str] = set()
        self.log: list[str] = []  # every request, in order, as service:Operation
        self.on = threading.local()

    def record(self, client, operation: str, params: dict) -> None:
        if not getattr(self.on, "value", False):
            return
        prefix = client.meta.service_model.signing_name
        self.log.append(f"{prefix}:{operation}")
        if operation == "TransactWriteItems":
            # No IAM action of that name: each item needs the action of its own kind.
            kinds = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem",
                     "Delete": "DeleteItem"}
            for item in params.get("TransactItems", []):
                self.actions.update(f"{prefix}:{kinds[kind]}" for kind in item)
        else:
            self.actions.add(f"{prefix}:{operation}")


@pytest.fixture(scope="session")
def aws_calls():
    import botocore.client

    recorder = AwsCallRecorder()
    original = botocore.client.BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        recorder.record(self, operation_name, api_params)
        return original(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = recording
    yield recorder
    botocore.client.BaseClient._make_api_call = original


class Api:
    """The Chalice test client with JSON in and out, and bearer keys."""

    def __init__(self, client, recorder: AwsCallRecorder) -> None:
        self.client = client
        self.recorder = recorder

    def call(self, method: str, path: str, body=None, key: str | None = None, headers: dict | None = None,
             raw: str | None = None):
        all_headers = {}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        if key:
            all_headers["Authorization"] = f"Bearer {key}"
        all_headers.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        self.recorder.on.value = True
        try:
            response = getattr(self.client.http, method.lower())(path, headers=all_headers, body=payload)
        finally:
            self.recorder.on.value = False
        is_json = "json" in (response.headers.get("Content-Type") or "application/json")
        response.json = json.loads(response.body) if response.body and is_json else None
        return response

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body=body, **kw)


@pytest.fixture(scope="session")
def user_pool():
    """A Cognito user pool stand-in on 127.0.0.1 (tests/identity_provider.py): its JWKS served, its
    ID tokens signed by the test. The served API takes its tokens (POST /v1/shoppers/verified)."""
    from tests.identity_provider import LocalUserPool

    pool = LocalUserPool().start()
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
def base_url(aws_stack, user_pool, tmp_path_factory):
    """Real HTTP: `chalice local` (what `make run` serves) on a free loopback port, on the same
    AWS stack, one per run for the e2e and contract tiers, with the user pool stand-in configured."""
    from devstack.run import start_api, stop_api, wait_for_api
    from devstack.stack import LOOPBACK, free_port

    port = free_port()
    log = tmp_path_factory.mktemp("chalice-local") / "chalice-local.log"
    process = start_api({**os.environ, **aws_stack, **user_pool.env}, port, log_path=log)
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_for_api(url + "/v1/openapi.json", process)
        yield url
    finally:
        stop_api(process)


@pytest.fixture(scope="session")
def api(aws_stack, aws_calls):
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        yield Api(client, aws_calls)


@pytest.fixture(scope="session")
def operator_key(aws_stack):
    return aws_stack["LIVEDROP_OPERATOR_KEY"]


def make_brand(api, operator_key, name="Brand"):
    response = api.post("/v1/brands", {"name": name}, key=operator_key)
    assert response.status_code == 201, response.body
    return response.json


def make_product(api, key, **fields):
    body = {"title": "Hoodie", "price": {"amount": 4900, "currency": "EUR"}, "stock": 100, **fields}
    response = api.post("/v1/products", body, key=key)
    assert response.status_code == 201, response.body
    return response.json


def make_session(api, key, **fields):
    response = api.post("/v1/sessions", {"title": "Friday drop", **fields}, key=key)
    assert response.status_code == 201, response.body
    return response.json


def listed(api, path, key=None, limit=100):
    """Every item of a paginated listing: the shared tables hold every earlier test's rows, so one page may not."""
    items, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        page = api.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""), key=key)
        assert page.status_code == 200, page.body
        items += page.json["items"]
        cursor = page.json["nextCursor"]
        if not cursor:
            return items


def swept(release):
    """What a sweep (e.g. `checkout.release_expired`) released, run until a run releases nothing:
    one run takes at most its limit of due orders, partition by partition, and the shared tables'
    other expired holds may come before the test's own."""
    total = 0
    while released := release():
        total += released
    return total


@pytest.fixture
def brand(api, operator_key):
    return make_brand(api, operator_key, "Acme")


@pytest.fixture
def other_brand(api, operator_key):
    return make_brand(api, operator_key, "Rival")


def make_shopper(api):
    response = api.post("/v1/shoppers")
    assert response.status_code == 201, response.body
    return response.json


@pytest.fixture
def shopper(api):
    return make_shopper(api)


def live_drop(api, key, quantity=10, per_customer_limit=None, shards=None, hold_seconds=600, start=True, **extra):
    """A live session with one product in its lineup: (session, product)."""
    product = make_product(api, key, stock=quantity + 5)
    session = make_session(api, key, holdSeconds=hold_seconds)
    body = {"productId": product["id"], "quantity": quantity, **extra}
    if per_customer_limit is not None:
        body["perCustomerLimit"] = per_customer_limit
    if shards is not None:
        body["shards"] = shards
    added = api.post(f"/v1/sessions/{session['id']}/lineup", body, key=key)
    assert added.status_code == 201, added.body
    if start:
        assert api.post(f"/v1/sessions/{session['id']}/start", key=key).status_code == 200
    return session, product


def order(api, shopper, session_id, product_id, quantity=1, key=None):
    return api.post("/v1/orders", {"sessionId": session_id, "items": [{"productId": product_id, "quantity": quantity}]},
                    key=shopper["token"], headers={"Idempotency-Key": key or secrets.token_hex(8)})


def conservation(session_id, product_id, quantity):
    """(units left over all shards, units held by live orders): their sum must be `quantity`."""
    import boto3

    from chalicelib.settings import get_settings

    ddb = boto3.client("dynamodb")
    tables = get_settings().tables
    left = sum(int(item["left"]["N"]) for item in _scan(ddb, tables["stock"])
               if item["sessionId"]["S"] == session_id and item["productId"]["S"] == product_id)
    held = 0
    for item in _scan(ddb, tables["orders"]):
        if item["sessionId"]["S"] != session_id or item["status"]["S"] not in ("reserved", "paying", "paid"):
            continue
        for line in json.loads(item["lines"]["S"]):
            if line["productId"] == product_id:
                held += line["quantity"]
    return left, held


def _scan(ddb, table):
    paginator = ddb.get_paginator("scan")
    for page in paginator.paginate(TableName=table, ConsistentRead=True):
        yield from page["Items"]


@pytest.fixture
def clock(aws_stack):
    """A clock the test moves, under the in-process app (`api`): expiry, memory windows and rate
    windows without sleeping. Real HTTP tests (tests/e2e) keep the real clock."""
    from chalicelib import bootstrap
    from tests.fakes import FakeClock

    fake = FakeClock()
    bootstrap.override(clock=fake)
    yield fake
    bootstrap.override()


@pytest.fixture
def default_rate_limits(aws_stack):
    """The in-process app (`api`) with the default rate limits, not the suite's generous ones;
    but for `shopper_mint`: every in-process request comes from 127.0.0.1, and the suite's tests
    share its windows (tests/e2e/test_rate_limits_http.py mints from addresses of its own)."""
    from chalicelib import bootstrap
    from chalicelib.settings import get_settings

    def use(value):
        os.environ["LIVEDROP_RATE_LIMITS"] = value
        get_settings.cache_clear()
        bootstrap.services.cache_clear()  # rebuilt with these settings; a `clock` override stays

    use("shopper_mint=1000000/1")
    yield get_settings().rate_limits
    use(aws_stack["LIVEDROP_RATE_LIMITS"])


def ivs_channels() -> list[dict]:
    """Every channel on the embedded IVS (moto pages its answer, and the suite makes many)."""
    import boto3

    ivs, channels, token = boto3.client("ivs"), [], None
    while True:
        page = ivs.list_channels(**({"nextToken": token} if token else {}))
        channels += page["channels"]
        token = page.get("nextToken")
        if not token:
            return channels


@pytest.fixture
def log_buffer():
    """Every log line the app writes meanwhile, as Lambda would ship them (the JSON formatter)."""
    import io
    import logging

    from chalicelib.observability import logger

    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    yield buffer
    logger.removeHandler(capture)
