"""DynamoDB helpers shared by the repositories: opaque cursors, and updates that explain a
failed condition with the item as it was."""
from __future__ import annotations

import base64
import binascii
import json
import random
import time
from typing import Any, Iterator

from pynamodb.models import Model

from chalicelib.domain.errors import InvalidInput


# Cursors: the LastEvaluatedKey of a page, opaque to clients. A cursor is only accepted for the
# partition it came from, so a cursor can never open another brand's listing.


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, partition: tuple[str, str]) -> dict[str, Any] | None:
    if cursor is None:
        return None
    invalid = InvalidInput("cursor is not one this listing issued", [{"field": "cursor", "message": "invalid cursor"}])
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(key, dict) or not all(
        isinstance(name, str) and isinstance(value, dict) and list(value) == ["S"] and isinstance(value["S"], str)
        for name, value in key.items()
    ):
        raise invalid
    attribute, expected = partition
    if key.get(attribute) != {"S": expected} or not 2 <= len(key) <= 3:
        raise invalid
    return key


def page(results: Iterator[Model], convert) -> tuple[list, str | None]:
    items = [convert(row) for row in results]
    return items, encode_cursor(results.last_evaluated_key)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------


class ConditionFailed(Exception):
    def __init__(self, old_item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.old_item = old_item  # the raw item as it was, None if it did not exist


def update_or_old(model: type[Model], hash_key: str, actions: list, condition) -> Model:
    """One UpdateItem that returns the new item, or raises ConditionFailed with the item as it was.

    PynamoDB's Model.update can not ask for ReturnValuesOnConditionCheckFailure=ALL_OLD, so this
    builds the request with PynamoDB's serialiser and sends it through the same botocore client:
    a failed condition costs no second read to explain itself.
    """
    table = model._get_connection()
    request = table.connection.get_operation_kwargs(
        table.table_name, hash_key, actions=actions, condition=condition,
        return_values="ALL_NEW", return_values_on_condition_failure="ALL_OLD",
    )
    client = table.connection.client
    try:
        response = client.update_item(**request)
    except client.exceptions.ConditionalCheckFailedException as error:
        raise ConditionFailed(error.response.get("Item")) from None
    return model.from_raw_data(response["Attributes"])


# Transactions: DynamoDB cancels a transaction that meets another one on the same item
# (TransactionConflict) instead of queueing it; the caller backs off and tries again.


class Contended(Exception):
    """Another transaction held one of the items: nothing was written; try again."""


def conflicted(reasons) -> bool:
    return any(reason is not None and reason.code == "TransactionConflict" for reason in reasons or [])


def back_off(attempt: int) -> None:
    """Full jitter, doubling from 2 ms up to 128 ms."""
    time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
