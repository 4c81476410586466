"""The orders, sessions and timeline streams' records, decoded for the webhooks: each record is
(record id, old image, new image), as the deployed handlers and `make run`'s feed pass them on."""
from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.catalog import _session
from chalicelib.adapters.dynamodb.live import _entry
from chalicelib.adapters.dynamodb.models import OrderModel, SessionModel, TimelineModel
from chalicelib.adapters.dynamodb.orders import _order
from chalicelib.domain.records import Order, Session, TimelineEntry


class WebhookRecords:
    @staticmethod
    def orders(records: list[Any]) -> list[tuple[Order | None, Order]]:
        """(order before, order after) of each write; removals are left out."""
        return [(_order(OrderModel.from_raw_data(old)) if old else None, _order(OrderModel.from_raw_data(new)))
                for _record_id, old, new in records if new]

    @staticmethod
    def sessions(records: list[Any]) -> list[tuple[Session | None, Session]]:
        return [(_session(SessionModel.from_raw_data(old)) if old else None, _session(SessionModel.from_raw_data(new)))
                for _record_id, old, new in records if new]

    @staticmethod
    def timeline(records: list[Any]) -> list[TimelineEntry]:
        """Entries as they were added (a later write only marks how the entry was delivered)."""
        return [_entry(TimelineModel.from_raw_data(new)) for _record_id, old, new in records if new and not old]
