"""schemathesis against the running API: no input gets a 5xx, and the document and the server agree.

Every operation of `GET /v1/openapi.json` runs through schemathesis' examples, coverage and fuzzing
phases with positive and negative data, under every check schemathesis has; then its state machine
walks the document's OpenAPI links under the same checks. Each operation gets the credential its
`security` names, and path, query and body ids are, most of the time, real ones (`contract_world`),
so that requests get past 404s. Generation is derandomized: a failure reproduces from run to run.
"""
from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.openapi.checks import EnsureResourceAvailability, RejectedPositiveData

from tests.contract.conftest import OPENAPI_PATH, ContractWorld

pytestmark = pytest.mark.contract

MAX_EXAMPLES = 30  # fuzzed examples per operation; the coverage phase adds its own deterministic cases
STATEFUL_SCENARIOS = 60
STATEFUL_STEPS = 6
# How often an id is a real one rather than a generated one: mostly, to get past 404s, but not always.
REAL_ID_PROBABILITY = 0.75
PROBLEM_BASE = "https://livedrop.dev/problems/"
HYPOTHESIS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(hypothesis.HealthCheck))


def config_data(world: ContractWorld) -> dict:
    def real(dictionary: str) -> dict:
        return {"dictionary": dictionary, "probability": REAL_ID_PROBABILITY}

    return {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # Every check schemathesis has (max_response_time stays off: no wall-clock assertions here).
        "checks": {
            "enabled": True,
            # Schema-valid data may be refused for the server's state (a conflict, a rate limit), which the
            # document declares per operation. Refusals of unknown ids and tokens: see `is_opaque_refusal`.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "409", "429"]},
        },
        # Only the document's own links: the stateful test is about them, not about inferred ones.
        "phases": {"stateful": {"inference": {"algorithms": []}}},
        # One credential per security scheme; schemathesis sends the one each operation's `security` names.
        "auth": {"openapi": {"operatorKey": {"bearer": world.operator_key},
                             "brandKey": {"bearer": world.brand_key},
                             "shopperToken": {"bearer": world.shopper_token},
                             "cognitoIdToken": {"bearer": world.id_token}}},
        "dictionaries": {"products": {"values": [world.product_id]},
                         "sessions": {"values": [world.scheduled_session_id, world.live_session_id]},
                         "orders": {"values": [world.order_id]},
                         "webhooks": {"values": [world.webhook_id]}, "deliveries": {"values": [world.delivery_id]}},
        "parameters": {"path.product_id": real("products"), "body.productId": real("products"),
                       "body.items[*].productId": real("products"),
                       "path.session_id": real("sessions"), "body.sessionId": real("sessions"),
                       "query.sessionId": real("sessions"),
                       "path.order_id": real("orders"),
                       "path.webhook_id": real("webhooks"), "path.delivery_id": real("deliveries")},
    }


# A webhook URL is judged by the addresses its host resolves to (and resolving needs DNS), which no
# schema can state: the document says it in words. So are a drop's holdSeconds (at most its
# session's) and a draw drop's required opensAt.
CROSS_FIELD_OR_OPAQUE = frozenset({"cursor", "closesAt", "items", "url", "holdSeconds", "opensAt"})


def is_opaque_refusal(world: ContractWorld, failure, response) -> bool:
    """A schema-valid id or token that the server does not know, refused as such. No schema can list
    which ids and tokens exist, so this is the one disagreement between the document and the server
    that the document can not prevent; every other failure stands."""
    try:
        problem = response.json()
    except ValueError:
        return False
    if not isinstance(problem, dict):
        return False
    code = str(problem.get("type", "")).removeprefix(PROBLEM_BASE)
    if isinstance(failure, RejectedPositiveData) and code == "invalid_input":
        # A cursor is an opaque token too: only one a listing issued (and signed) is accepted. A
        # webhook URL's host is judged by what it resolves to (see CROSS_FIELD_OR_OPAQUE). And two
        # rules relate two values, which JSON Schema can not state (the document says them in words):
        # closesAt after opensAt, and each product once in an order's items.
        field = problem.get("field")
        if field == "paymentToken":  # optional with Stripe, required by the test provider: said in words
            return "confirms here" in str(problem.get("detail", ""))
        if field == "items":  # only the each-product-once rule; a mixed-currency refusal still fails
            return any(rule in str(problem.get("detail", ""))
                       for rule in ("each product may appear once", "a queue drop is ordered on its own"))
        return field in CROSS_FIELD_OR_OPAQUE
    if isinstance(failure, RejectedPositiveData):
        # An unknown id (404), a bearer token that is none of the world's credentials (401), an unknown
        # payment method (402 `invalid_payment_method`).
        ours = {f"Bearer {key}" for key in (world.operator_key, world.brand_key, world.shopper_token, world.id_token)}
        return (code == "not_found"
                or (code == "unauthorized" and response.request.headers.get("Authorization") not in ours)
                or (code == "payment_declined" and problem.get("reason") == "invalid_payment_method"))
    if isinstance(failure, EnsureResourceAvailability):
        # The created resource is the one in the path; a 404 that names a body field refuses another,
        # generated id (a lineup's `productId`, say), not the resource just created.
        return code == "not_found" and problem.get("field") is not None
    return False


def load_schema(world: ContractWorld, config: dict):
    loaded = schemathesis.openapi.from_url(world.url + OPENAPI_PATH, config=schemathesis.Config.from_dict(config))

    @loaded.hook
    def filter_failure(context, failure, case, response) -> bool:
        return not is_opaque_refusal(world, failure, response)

    return loaded


@pytest.fixture(scope="session")
def api_schema(contract_world):
    return load_schema(contract_world, config_data(contract_world))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis.settings(max_examples=MAX_EXAMPLES, **HYPOTHESIS)
def test_every_operation_keeps_the_contract(case):
    case.call_and_validate()


def document_links(document: dict) -> list[str]:
    return [f"{method.upper()} {path} -> {status}: {name}"
            for path, operations in document.get("paths", {}).items()
            for method, operation in operations.items() if isinstance(operation, dict)
            for status, response in operation.get("responses", {}).items()
            for name in response.get("links", {})]


def test_stateful_walk_over_the_document_links(api_schema):
    if not document_links(api_schema.raw_schema):
        pytest.fail("the document declares no OpenAPI links: the state machine has nothing to walk", pytrace=False)
    api_schema.as_state_machine().run(settings=hypothesis.settings(
        max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS, **HYPOTHESIS))
