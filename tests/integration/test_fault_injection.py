"""A DynamoDB error at each call of checkout, pay, cancel and expiry: the request fails cleanly
(503, retry later), conservation holds, and a retry finishes the job exactly once."""
import contextlib
import threading

import botocore.client
import pytest
from botocore.exceptions import ClientError

from chalicelib import bootstrap
from tests.conftest import conservation, live_drop, make_shopper, order


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


def expire_in_progress_charges():
    """Stand-in for time passing: the invocation that was charging is over (Powertools then lets
    a retry run the charge again, with the same idempotency key for the provider)."""
    import time

    import boto3

    from chalicelib.settings import get_settings

    ddb, table = boto3.client("dynamodb"), get_settings().tables["idempotency"]
    for item in ddb.scan(TableName=table, ConsistentRead=True)["Items"]:
        if item["status"]["S"] == "INPROGRESS":
            ddb.update_item(TableName=table, Key={"id": item["id"]},
                            UpdateExpression="SET in_progress_expiration = :past",
                            ExpressionAttributeValues={":past": {"N": str(int(time.time() * 1000) - 1000)}})


def test_pay_with_a_failure_at_each_call(api, brand, faults):
    session, product = live_drop(api, brand["apiKey"], quantity=20)

    def reserved():
        shopper = make_shopper(api)
        return shopper, order(api, shopper, session["id"], product["id"]).json["id"]

    def pay(shopper, order_id):
        return api.post(f"/v1/orders/{order_id}/pay", {"paymentToken": "ok"}, key=shopper["token"])

    provider = bootstrap.services().checkout.charges.provider  # counts every charge it is asked for

    def charges_of(order_id):
        return [key for key, _, _ in provider.calls if key.startswith(order_id + ":")]

    shopper, order_id = reserved()
    total = calls_in(faults, lambda: pay(shopper, order_id))
    assert total >= 3  # lock the order, record the charge (Powertools), mark it paid
    assert len(charges_of(order_id)) == 1
    for call in range(1, total + 1):
        shopper, order_id = reserved()
        with faults.arm(call):
            failed = pay(shopper, order_id)
        assert failed.status_code == 503, (call, failed.body)
        assert api.get(f"/v1/orders/{order_id}", key=shopper["token"]).json["status"] in ("reserved", "paying")
        assert sum(conservation(session["id"], product["id"], 20)) == 20
        retried = pay(shopper, order_id)
        waited = retried.status_code == 409
        if waited:  # the failed call's charge is still "in progress" for Powertools
            assert retried.json["type"].endswith("/payment_in_progress")
            expire_in_progress_charges()
            retried = pay(shopper, order_id)
        assert retried.status_code == 200 and retried.json["status"] == "paid", (call, retried.body)
        assert pay(shopper, order_id).status_code == 200  # and once more: still paid, no new charge
        charges = charges_of(order_id)
        # Once recorded, a charge is replayed, never repeated. The one gap: the provider answered
        # but recording its answer failed; after the in-progress record expires the retry asks
        # the provider again with the SAME idempotency key (a real provider returns the first charge).
        assert len(charges) == (2 if waited else 1) and len(set(charges)) == 1, (call, charges)
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
    checkout.release_expired()
    assert conservation(session["id"], product["id"], 20) == (20, 0)
