"""What a live show puts on top of the video: the featured product and its timeline, and the
per-channel send slot that keeps timed metadata within IVS's 5 requests per second."""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

import random
from datetime import datetime, timezone

from chalicelib.adapters.dynamodb.models import CounterModel, SessionModel, TimelineModel, transact_connection
from chalicelib.adapters.dynamodb.support import ConditionFailed, back_off, conflicted, update_or_old
from chalicelib.domain.money import Money
from chalicelib.domain.records import TimelineEntry
from chalicelib.domain.sessions import SessionStatus
from chalicelib.domain.errors import Busy, SessionEnded
from chalicelib.settings import Settings


def _entry(row: TimelineModel) -> TimelineEntry:
    return TimelineEntry(session_id=row.session_id, seq=int(row.seq), type=row.type, product_id=row.product_id,
                         at=row.at, price=Money(int(row.price_amount), row.currency), delivery=row.delivery,
                         sent_at=None if row.sent_at is None else int(row.sent_at))


class LiveRepository:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def record_feature(self, brand_id: str, entry: TimelineEntry) -> TimelineEntry:
        """Make `entry` the session's featured product and append it to the timeline, together.
        Its seq must be above the featured one: when another pin got there first, the next seq
        above it is taken (the pin that commits last is the one on screen)."""
        seq = entry.seq
        for attempt in range(60):
            try:
                with TransactWrite(connection=transact_connection(self.settings.region,
                                                                  self.settings.dynamodb_endpoint)) as tx:
                    tx.update(SessionModel(id=entry.session_id),
                              actions=[SessionModel.featured_product_id.set(entry.product_id),
                                       SessionModel.feature_seq.set(seq)],
                              condition=(SessionModel.brand_id == brand_id)
                              & (SessionModel.status != SessionStatus.ENDED.value)
                              & (SessionModel.feature_seq.does_not_exist() | (SessionModel.feature_seq < seq)),
                              return_values="ALL_OLD")
                    tx.save(TimelineModel(session_id=entry.session_id, seq=seq, type=entry.type,
                                          product_id=entry.product_id, at=entry.at, price_amount=entry.price.amount,
                                          currency=entry.price.currency),
                            condition=TimelineModel.seq.does_not_exist())
                return TimelineEntry(**{**entry.__dict__, "seq": seq})
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                # PynamoDB sends puts before updates: [timeline put, session update].
                session_reason = reasons[1] if len(reasons) > 1 else None
                old = session_reason.raw_item if session_reason is not None else None
                if old and old.get("status", {}).get("S") == SessionStatus.ENDED.value:
                    raise SessionEnded("the show has ended: nothing can be featured") from None
                if not reasons:
                    raise
                if old and "featureSeq" in old:
                    seq = max(seq, int(old["featureSeq"]["N"])) + 1
                else:
                    seq += 1
                if conflicted(reasons):
                    back_off(attempt)
        raise Busy("too many pins at once; try again")

    def claim_send_slot(self, session_id: str, now_ms: int, min_interval_ms: int,
                        read_newest: bool) -> tuple[bool, int | None, int]:
        """(claimed, newest featured seq if asked, ms to wait if not). The slot is an item of its
        own, so hosts waiting for it do not collide with the pins being written on the session."""
        try:
            update_or_old(CounterModel, f"metadata-slot#{session_id}", actions=[CounterModel.count.set(now_ms)],
                          condition=CounterModel.count.does_not_exist()
                          | (CounterModel.count <= now_ms - min_interval_ms))
        except ConditionFailed as failure:
            last = int((failure.old_item or {}).get("count", {}).get("N", now_ms))
            return False, None, max(1, last + min_interval_ms - now_ms)
        if not read_newest:
            return True, None, 0
        session = SessionModel.get(session_id, consistent_read=True, attributes_to_get=["id", "featureSeq"])
        return True, None if session.feature_seq is None else int(session.feature_seq), 0

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
                          actions=[CounterModel.count.set(now_ms),
                                   CounterModel.expires_at.set(datetime.fromtimestamp(now_ms // 1000 + 86400,
                                                                                      tz=timezone.utc))],
                          condition=CounterModel.count.does_not_exist() | (CounterModel.count <= now_ms - every_ms))
            return True
        except ConditionFailed:
            return False

    def mark_delivery(self, session_id: str, seq: int, delivery: str, sent_at: int | None) -> None:
        actions = [TimelineModel.delivery.set(delivery)]
        if sent_at is not None:
            actions.append(TimelineModel.sent_at.set(sent_at))
        TimelineModel(session_id=session_id, seq=seq).update(actions=actions)

    def timeline(self, session_id: str, limit: int = 100) -> list[TimelineEntry]:
        return [_entry(row) for row in TimelineModel.query(session_id, limit=limit)]

    def like(self, session_id: str, shopper_id: str, now: float, per_second: int, shards: int) -> bool:
        """Count a like unless the shopper already liked `per_second` times this second.
        The window is an item of its own that DynamoDB's TTL removes; the total is sharded."""
        second = int(now)
        try:
            update_or_old(CounterModel, f"likerate#{session_id}#{shopper_id}#{second}",
                          actions=[CounterModel.count.add(1),
                                   CounterModel.expires_at.set(datetime.fromtimestamp(second + 60, tz=timezone.utc))],
                          condition=CounterModel.count.does_not_exist() | (CounterModel.count < per_second))
        except ConditionFailed:
            return False
        CounterModel(counter_key=f"likes#{session_id}#{random.randrange(shards)}").update(
            actions=[CounterModel.count.add(1)])
        return True

    def likes(self, session_id: str, shards: int) -> int:
        keys = [f"likes#{session_id}#{shard}" for shard in range(shards)]
        return sum(int(row.count) for row in CounterModel.batch_get(keys))

    def set_replay(self, session_id: str, replay_url: str) -> None:
        update_or_old(SessionModel, session_id, actions=[SessionModel.replay_url.set(replay_url)],
                      condition=SessionModel.id.exists())
