"""A DynamoDB error at each call of checkout, pay, cancel and expiry: the request fails cleanly
(503, retry later), conservation holds, and a retry finishes the job exactly once."""
import contextlib
import threading

import botocore.client
import pytest
from botocore.exceptions import ClientError

from chalicelib import bootstrap
from tests.conftest import conservation, live_drop, make_shopper, order, swept


class DynamoDBFaults:
    """Counts DynamoDB requests while armed; the `fail_at`-th raises InternalServerError."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_at: int | None = None
        self.armed = False
        self.lock = threading.Lock()

    def before(self, client, operation) -> None:
        if not self.armed or client.meta.service_model.signing_name != "dynamodb":
            return
        with self.lock:
            self.calls += 1
            failing = self.calls == self.fail_at
        if failing:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, operation)

    @contextlib.contextmanager
    def arm(self, fail_at: int | None):
        self.calls, self.fail_at, self.armed = 0, fail_at, True
        try:
            yield self
        finally:
            self.armed = False


@pytest.fixture
def faults(aws_calls, monkeypatch):
    injector = DynamoDBFaults()
    recording = botocore.client.BaseClient._make_api_call  # the recorder's wrapper: keep it underneath

    def faulty(self, operation_name, api_params):
        injector.before(self, operation_name)
        return recording(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", faulty)
    return injector


def calls_in(faults, action) -> int:
    with faults.arm(None):
        action()
    return faults.calls


def test_checkout_with_a_failure_at_each_call(api, brand, faults):
    session, product = live_drop(api, brand["apiKey"], quantity=20)
    bootstrap.services().checkout.drops._items.clear()  # a cold container: the lineup read is a call too
    shopper = make_shopper(api)
    total = calls_in(faults, lambda: order(api, shopper, session["id"], product["id"]))
    assert total == 2  # one lineup read (cold), one transaction
    for call in range(1, total + 1):
        bootstrap.services().checkout.drops._items.clear()
        buyer = make_shopper(api)
        with faults.arm(call):
            failed = order(api, buyer, session["id"], product["id"], key="retry-me")
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "1", failed.body
        assert sum(conservation(session["id"], product["id"], 20)) == 20
        retried = order(api, buyer, session["id"], product["id"], key="retry-me")
        assert retried.status_code == 201
    assert conservation(session["id"], product["id"], 20) == (20 - 1 - total, 1 + total)


def intents_of(order_id: str) -> list[dict]:
    """The test provider's intents for an order, as it keeps them (its own table, not the order)."""
    import boto3

    from chalicelib.settings import get_settings

    items = boto3.client("dynamodb").scan(TableName=get_settings().tables["payments"], ConsistentRead=True)["Items"]
    return [item for item in items if item["orderId"]["S"] == order_id]


def test_pay_with_a_failure_at_each_call(api, brand, faults):
    session, product = live_drop(api, brand["apiKey"], quantity=20)

    def reserved():
        shopper = make_shopper(api)
        return shopper, order(api, shopper, session["id"], product["id"]).json["id"]

    def pay(shopper, order_id):
        return api.post(f"/v1/orders/{order_id}/pay", {"paymentToken": "ok"}, key=shopper["token"])

    shopper, order_id = reserved()
    total = calls_in(faults, lambda: pay(shopper, order_id))
    # Lock the order, make the intent, record it, confirm, write paid, capture, record the capture.
    assert total >= 7
    for call in range(1, total + 1):
        shopper, order_id = reserved()
        with faults.arm(call):
            failed = pay(shopper, order_id)
        # Before the paid write: 503, retry. After it: the sale stands (200 paid), and a capture
        # that failed is due to reconciliation.
        assert failed.status_code == 503 or (failed.status_code == 200 and failed.json["status"] == "paid"), \
            (call, failed.body)
        assert api.get(f"/v1/orders/{order_id}", key=shopper["token"]).json["status"] in ("reserved", "paying", "paid")
        assert sum(conservation(session["id"], product["id"], 20)) == 20
        retried = pay(shopper, order_id)
        assert retried.status_code == 200 and retried.json["status"] == "paid", (call, retried.body)
        assert pay(shopper, order_id).status_code == 200  # and once more: still paid
        # One attempt, one intent, captured once: a retry goes on with the attempt it finds.
        (intent,) = intents_of(order_id)
        assert intent["status"]["S"] in ("captured", "authorized"), (call, intent)
        assert retried.json["payment"]["attempt"] == 1
    assert sum(conservation(session["id"], product["id"], 20)) == 20


def test_cancel_with_a_failure_at_each_call(api, brand, faults):
    session, product = live_drop(api, brand["apiKey"], quantity=20)
    shopper = make_shopper(api)
    first = order(api, shopper, session["id"], product["id"]).json["id"]
    total = calls_in(faults, lambda: api.post(f"/v1/orders/{first}/cancel", key=shopper["token"]))
    for call in range(1, total + 1):
        order_id = order(api, shopper, session["id"], product["id"]).json["id"]
        with faults.arm(call):
            failed = api.post(f"/v1/orders/{order_id}/cancel", key=shopper["token"])
        assert failed.status_code == 503
        assert sum(conservation(session["id"], product["id"], 20)) == 20
        assert api.post(f"/v1/orders/{order_id}/cancel", key=shopper["token"]).json["status"] == "cancelled"
    assert conservation(session["id"], product["id"], 20) == (20, 0)


def test_expiry_with_a_failure_at_each_call(api, brand, faults, clock):

    session, product = live_drop(api, brand["apiKey"], quantity=20, hold_seconds=5)
    for _ in range(3):
        order(api, make_shopper(api), session["id"], product["id"])
    clock.advance(5.5)
    checkout = bootstrap.services().checkout
    # The holds index is read partition by partition, then one release transaction per due order.
    for call in range(1, 16 + 3 + 1):
        with faults.arm(call):
            try:
                checkout.release_expired()
                failed = False
            except Exception:
                failed = True
        assert failed == (faults.calls >= call)  # a fault reached always surfaces, never swallowed
        if call <= 16:
            assert failed  # every sweep reads the 16 hold partitions first: these faults always fire
        assert sum(conservation(session["id"], product["id"], 20)) == 20
    swept(checkout.release_expired)
    assert conservation(session["id"], product["id"], 20) == (20, 0)
