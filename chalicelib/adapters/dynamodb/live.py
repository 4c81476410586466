"""What a live show puts on top of the video: the timeline, the per-channel send slot that keeps
timed metadata within IVS's 5 requests per second, the stock ticker's slot, and the like counters
(the like rate is the rate limiter's: services/rate_limits.py)."""
from __future__ import annotations

import random
from datetime import datetime, timezone

from chalicelib.adapters.dynamodb.models import CounterModel, Db, TimelineModel
from chalicelib.adapters.dynamodb.support import ConditionFailed, update_or_old
from chalicelib.domain.errors import Busy
from chalicelib.domain.money import Money
from chalicelib.domain.records import TimelineEntry


def _entry(row: TimelineModel) -> TimelineEntry:
    return TimelineEntry(session_id=row.session_id, seq=int(row.seq), type=row.type, product_id=row.product_id,
                         at=row.at, price=Money(int(row.price_amount), row.currency), delivery=row.delivery,
                         sent_at=None if row.sent_at is None else int(row.sent_at))


def _expiry(now_ms: int, seconds: int) -> datetime:
    return datetime.fromtimestamp(now_ms // 1000 + seconds, tz=timezone.utc)


class LiveRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    def claim_send_slot(self, session_id: str, now_ms: int, min_interval_ms: int) -> tuple[bool, int]:
        """(claimed, ms to wait if not). The slot is an item of its own, so hosts waiting for it
        do not collide with the pins being written on the session."""
        try:
            update_or_old(CounterModel, f"metadata-slot#{session_id}", actions=[CounterModel.count.set(now_ms)],
                          condition=CounterModel.count.does_not_exist()
                          | (CounterModel.count <= now_ms - min_interval_ms))
        except ConditionFailed as failure:
            last = int(failure.old.count) if failure.old is not None else now_ms
            return False, max(1, last + min_interval_ms - now_ms)
        return True, 0

    def append(self, entry: TimelineEntry) -> TimelineEntry:
        """A timeline entry that changes nothing else (drop opened, sold out)."""
        for seq in range(entry.seq, entry.seq + 20):
            try:
                TimelineModel(session_id=entry.session_id, seq=seq, type=entry.type, product_id=entry.product_id,
                              at=entry.at, price_amount=entry.price.amount, currency=entry.price.currency,
                              delivery=entry.delivery, sent_at=entry.sent_at).save(
                    condition=TimelineModel.seq.does_not_exist())
                return TimelineEntry(**{**entry.__dict__, "seq": seq})
            except Exception as error:
                if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                    raise
        raise Busy("timeline contention; try again")

    def claim_ticker(self, session_id: str, product_id: str, now_ms: int, every_ms: int) -> bool:
        """At most one stock tick per item per `every_ms`, across every container."""
        try:
            update_or_old(CounterModel, f"ticker#{session_id}#{product_id}",
                          actions=[CounterModel.count.set(now_ms), CounterModel.expires_at.set(_expiry(now_ms, 86400))],
                          condition=CounterModel.count.does_not_exist() | (CounterModel.count <= now_ms - every_ms))
            return True
        except ConditionFailed:
            return False

    def mark_delivery(self, session_id: str, seq: int, delivery: str, sent_at: int | None) -> None:
        actions = [TimelineModel.delivery.set(delivery)]
        if sent_at is not None:
            actions.append(TimelineModel.sent_at.set(sent_at))
        try:  # only an entry that exists: an update would otherwise create half of one
            update_or_old(TimelineModel, session_id, range_key=seq, actions=actions,
                          condition=TimelineModel.seq.exists())
        except ConditionFailed:
            pass

    def timeline(self, session_id: str) -> list[TimelineEntry]:
        # PynamoDB follows every page; consistent: a pin just written decides an order's attribution
        return [_entry(row) for row in TimelineModel.query(session_id, consistent_read=True)]

    def recent(self, session_id: str, limit: int) -> list[TimelineEntry]:
        newest = TimelineModel.query(session_id, scan_index_forward=False, limit=limit, page_size=limit)
        return [_entry(row) for row in newest][::-1]

    def like(self, session_id: str, now_ms: int, shards: int) -> None:
        CounterModel(counter_key=f"likes#{session_id}#{random.randrange(shards)}").update(
            actions=[CounterModel.count.add(1), CounterModel.last_at.set(now_ms)])

    def likes(self, session_id: str, shards: int) -> int:
        keys = [f"likes#{session_id}#{shard}" for shard in range(shards)]
        return sum(int(row.count) for row in CounterModel.batch_get(keys))
