"""Rate windows on DynamoDB: one conditional `ADD n 1` per check, on the window's own item."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamodb.models import RateWindowModel
from chalicelib.domain.rate_limits import Window


def window_update(window: Window) -> tuple[RateWindowModel, list[Any], Any]:
    """(row, actions, condition) of counting one request in the window, for `Model.update` or as
    one item of a transaction: `Transaction.update(label, *window_update(window))`
    (adapters/dynamodb/support.py). A full window fails the condition."""
    n = RateWindowModel.n
    return (RateWindowModel(key=window.key),
            [n.add(1), RateWindowModel.expires_at.set(datetime.fromtimestamp(window.expires_epoch, tz=timezone.utc))],
            n.does_not_exist() | (n < window.limit))


class RateCounters:
    def hit(self, window: Window) -> bool:
        row, actions, condition = window_update(window)
        try:
            row.update(actions=actions, condition=condition)
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise  # throttling or an outage: 503 `busy` at the edge, as everywhere
            return False
        return True
