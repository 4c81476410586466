"""DynamoDB helpers shared by the repositories: signed cursors, updates that explain a failed
condition with the item as it was, and labelled transactions. Everything that speaks DynamoDB's
wire format (`{"S": ...}`) stays in this package: refusals leave it decoded by the model.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator, TypeVar

from pynamodb.models import Model

from chalicelib.domain.drops import MAX_TRANSACTION_ITEMS
from chalicelib.domain.errors import Busy, InvalidInput

M = TypeVar("M", bound=Model)


# --- cursors ---------------------------------------------------------------------------------------
# A cursor is a page's LastEvaluatedKey, signed (HMAC-SHA256) with the partition it belongs to, so
# only keys that a listing issued are accepted, and a cursor can never open another brand's listing.


class Cursors:
    def __init__(self, secret: Callable[[], str]) -> None:
        self._secret = secret  # a callable: the secret may live in SSM

    def _sign(self, partition: tuple[str, str], payload: str) -> str:
        key = hashlib.sha256(("livedrop-cursor\n" + self._secret()).encode()).digest()
        message = f"{partition[0]}\n{partition[1]}\n{payload}".encode()
        return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()[:18]).decode()

    def encode(self, last_key: dict[str, Any] | None, partition: tuple[str, str]) -> str | None:
        if not last_key:
            return None
        payload = base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode().rstrip("=")
        return f"{payload}.{self._sign(partition, payload)}"

    def decode(self, cursor: str | None, partition: tuple[str, str]) -> dict[str, Any] | None:
        if cursor is None:
            return None
        payload, _, signature = cursor.partition(".")
        if not payload or not hmac.compare_digest(signature.encode(), self._sign(partition, payload).encode()):
            raise InvalidInput.of("cursor", "not a cursor this listing issued")
        try:
            key = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):  # signed by us, so only if the secret leaked
            raise InvalidInput.of("cursor", "not a cursor this listing issued") from None
        return key  # type: ignore[no-any-return]


def page(results: Iterator[M], convert: Callable[[M], Any], cursors: Cursors,
         partition: tuple[str, str]) -> tuple[list[Any], str | None]:
    items = [convert(row) for row in results]
    return items, cursors.encode(results.last_evaluated_key, partition)  # type: ignore[attr-defined]


# --- single-item updates ---------------------------------------------------------------------------


def at_revision(attribute: Any, revision: int) -> Any:
    """The condition that an item is at `revision`; items stored before revisions were kept
    have none, and are at 0."""
    if revision == 0:
        return (attribute == 0) | attribute.does_not_exist()
    return attribute == revision


class ConditionFailed(Exception):
    def __init__(self, old: Model | None) -> None:
        super().__init__("condition failed")
        self.old = old  # the item as it was, decoded with its model; None if it did not exist


def update_or_old(model: type[M], hash_key: str, actions: list, condition: Any,
                  range_key: Any = None) -> M:
    """One UpdateItem that returns the new item, or raises ConditionFailed with the item as it was.

    PynamoDB's Model.update can not ask for ReturnValuesOnConditionCheckFailure=ALL_OLD, so this
    builds the request with PynamoDB's serialiser and sends it through the same botocore client:
    a failed condition costs no second read to explain itself.
    """
    table = model._get_connection()
    request = table.connection.get_operation_kwargs(
        table.table_name, hash_key, range_key=range_key, actions=actions, condition=condition,
        return_values="ALL_NEW", return_values_on_condition_failure="ALL_OLD",
    )
    client = table.connection.client
    try:
        response = client.update_item(**request)
    except client.exceptions.ConditionalCheckFailedException as error:
        item = error.response.get("Item")
        raise ConditionFailed(model.from_raw_data(item) if item else None) from None
    return model.from_raw_data(response["Attributes"])


def put_or_old(row: M, condition: Any) -> None:
    """One conditional PutItem of `row`, or ConditionFailed with the item as it was (no second read)."""
    request = row.get_save_kwargs_from_instance(condition=condition, return_values_on_condition_failure="ALL_OLD")
    client = row._get_connection().connection.client
    try:
        client.put_item(**request)
    except client.exceptions.ConditionalCheckFailedException as error:
        item = error.response.get("Item")
        raise ConditionFailed(type(row).from_raw_data(item) if item else None) from None


# --- transactions ----------------------------------------------------------------------------------
# DynamoDB cancels a transaction that meets another one on the same item (TransactionConflict)
# instead of queueing it. That is this package's business: `transact` backs off and sends the same
# items again, and the caller only ever hears of conditions that failed (`Cancelled`), by label.


CONFLICT_ATTEMPTS = 40
_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


@dataclass(frozen=True)
class Refusal:
    label: Hashable
    old: Model | None  # the item as it was, decoded with its model; None if it did not exist


class Cancelled(Exception):
    """Conditions that failed, by the label each item was given."""

    def __init__(self, refusals: dict[Hashable, Refusal]) -> None:
        super().__init__(f"transaction cancelled: {sorted(map(str, refusals))}")
        self.refusals = refusals

    def __contains__(self, label: Hashable) -> bool:
        return label in self.refusals

    def old(self, label: Hashable) -> Model | None:
        refusal = self.refusals.get(label)
        return refusal.old if refusal else None


class Transaction:
    """The items of one TransactWriteItems, each with a label and its model, in the order given:
    a cancellation reason is matched to its item by position, whatever order PynamoDB would use."""

    def __init__(self) -> None:
        self.items: list[tuple[Hashable, type[Model], dict[str, Any]]] = []

    def put(self, label: Hashable, row: Model, condition: Any = None) -> None:
        request = row.get_save_kwargs_from_instance(condition=condition, return_values_on_condition_failure="ALL_OLD")
        self.items.append((label, type(row), {"Put": request}))

    def update(self, label: Hashable, row: Model, actions: list, condition: Any = None) -> None:
        request = row.get_update_kwargs_from_instance(actions=actions, condition=condition,
                                                      return_values_on_condition_failure="ALL_OLD")
        self.items.append((label, type(row), {"Update": request}))

    def delete(self, label: Hashable, row: Model, condition: Any = None) -> None:
        request = row.get_delete_kwargs_from_instance(condition=condition, return_values_on_condition_failure="ALL_OLD")
        self.items.append((label, type(row), {"Delete": request}))

    def raw(self, label: Hashable, model: type[Model], item: dict[str, Any]) -> None:
        """An item already in DynamoDB's JSON (`{"Put": {...}}`, ...): the checkout's, whose
        expressions are constants (adapters/dynamodb/orders.py); `model` decodes its refusal."""
        self.items.append((label, model, item))

    def check(self, label: Hashable, row: Model, condition: Any) -> None:
        """A ConditionCheck: the item is not written, only its condition must hold."""
        request = row.get_delete_kwargs_from_instance(condition=condition, return_values_on_condition_failure="ALL_OLD")
        self.items.append((label, type(row), {"ConditionCheck": request}))


def transact(client: Any, transaction: Transaction, attempts: int = CONFLICT_ATTEMPTS,
             sleep: Callable[[float], None] = time.sleep) -> None:
    """Send the transaction; on a conflict, back off and send it again. Raises Cancelled with the
    failed conditions, or Busy when contention outlasts `attempts`."""
    if len(transaction.items) > MAX_TRANSACTION_ITEMS:  # the services plan within it; this is a bug
        raise ValueError(f"{len(transaction.items)} items: DynamoDB takes at most {MAX_TRANSACTION_ITEMS}")
    request = [item for _, _, item in transaction.items]
    for attempt in range(attempts):
        try:
            client.transact_write_items(TransactItems=request)
            return
        except client.exceptions.TransactionCanceledException as error:
            reasons = error.response.get("CancellationReasons") or []
        refusals = {}
        for (label, model, _), reason in zip(transaction.items, reasons, strict=False):
            if reason.get("Code") == "ConditionalCheckFailed":
                item = reason.get("Item")
                refusals[label] = Refusal(label, model.from_raw_data(item) if item else None)
        if refusals:
            raise Cancelled(refusals)
        if not any(reason.get("Code") in _RETRYABLE for reason in reasons):
            raise RuntimeError(f"transaction cancelled for another reason: {reasons}")
        sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))  # full jitter, 2 ms doubling to 128 ms
    raise Busy("the items are under heavy contention; retry", retry_after=1)
