"""Rate windows on DynamoDB: one conditional `ADD n 1` per check, on the window's own item."""
from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.models import Db, RateWindowModel
from chalicelib.domain.rate_limits import Window


def window_update(window: Window) -> dict[str, Any]:
    """The `Update` counting one request in the window, in DynamoDB's own JSON: sent alone by
    `RateCounters.hit`, or as one item of the checkout's transaction (written without PynamoDB's
    expression builder, like the rest of that transaction: adapters/dynamodb/orders.py). A full
    window fails the condition."""
    return {
        "TableName": RateWindowModel.Meta.table_name,
        "Key": {"key": {"S": window.key}},
        "UpdateExpression": "ADD #n :one SET #expires = :expires",
        "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
        "ExpressionAttributeNames": {"#n": "n", "#expires": "expiresAt"},
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":expires": {"N": str(window.expires_epoch)},
                                      ":limit": {"N": str(window.limit)}},
    }


class RateCounters:
    def __init__(self, db: Db) -> None:
        self.db = db

    def hit(self, window: Window) -> bool:
        client = self.db.client
        try:
            client.update_item(**window_update(window))
        except client.exceptions.ConditionalCheckFailedException:
            return False  # throttling or an outage raise on: 503 `busy` at the edge, as everywhere
        return True
