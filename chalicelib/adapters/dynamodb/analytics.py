"""Show analytics in DynamoDB: one table, its rows by partition.

    pk = <sessionId>           the show's figures, all read by one query (paged by 1 MB):
        sk = c#<CUR>#<k>           totals of a currency            (counters, ADDed)
             m#<minute>#<CUR>#<k>  a minute's orders in a currency (counters)
             p#<productId>#<k>     a product's sales               (counters)
             a#<minute>#v          the minute's viewer sample
             a#<minute>#l<shard>   a like shard's count as of that minute (the highest seen)
             config                the attribution the show is counted by
             final                 when the figures were checked final
    pk = buyers#<sessionId>    sk = <CUR>#<shopperId>: the shopper's paid orders (read only by the
                               handler, to count distinct buyers on the totals)
    pk = applied#<orderId>     sk = <stream sequence number>: the record was applied (expires)
    pk = unsettled             sk = <sessionId>: an ended show whose figures are not final yet

Counter rows are spread over AGGREGATE_SHARDS items (`k`, random per transaction): the stream's
shards are handled in parallel, and transactions on one hot item would only cancel each other.
"""
from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from chalicelib.adapters.dynamodb.models import AnalyticsModel, CounterModel, Db, OrderModel, SessionModel
from chalicelib.adapters.dynamodb.orders import _order
from chalicelib.adapters.dynamodb.support import Cancelled, Transaction, transact
from chalicelib.domain.analytics import Aggregates, Attribution, Cell, OrderChange, facts_of
from chalicelib.domain.drops import MAX_TRANSACTION_ITEMS
from chalicelib.domain.errors import Busy
from chalicelib.domain.ports import AppliedChange, LikeCount

AGGREGATE_SHARDS = 4
# A stream keeps a record 24 hours: no redelivery comes after its marker is gone.
MARKER_SECONDS = 3 * 86400
APPLY_ATTEMPTS = 20
UNSETTLED = "unsettled"
FIELDS = {attribute.attr_name: attribute for attribute in (
    AnalyticsModel.reservations, AnalyticsModel.reserved, AnalyticsModel.paid, AnalyticsModel.cancelled,
    AnalyticsModel.expired, AnalyticsModel.gmv, AnalyticsModel.reserved_value, AnalyticsModel.units_sold,
    AnalyticsModel.paid_orders, AnalyticsModel.units_while_featured, AnalyticsModel.buyers)}


def _sort_key(row: tuple[str, ...], shard: int) -> str:
    kind = row[0]
    if kind == "currency":
        return f"c#{row[1]}#{shard}"
    if kind == "minute":
        return f"m#{int(row[1]):012d}#{row[2]}#{shard}"
    if kind == "product":
        return f"p#{row[1]}#{shard}"
    raise ValueError(f"not a figure row: {row}")


def _row_of(sort_key: str) -> tuple[str, ...] | None:
    parts = sort_key.split("#")
    if parts[0] == "c":
        return ("currency", parts[1])
    if parts[0] == "m":
        return ("minute", str(int(parts[1])), parts[2])
    if parts[0] == "p":
        return ("product", "#".join(parts[1:-1]))
    return None


# attribute name in the table -> the model's field name
_python_name = {attribute.attr_name: name for name, attribute in AnalyticsModel.get_attributes().items()}


def _expiry(seconds: int) -> datetime:
    return datetime.fromtimestamp(time.time() + seconds, tz=timezone.utc)


class AnalyticsRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    # --- attribution ---------------------------------------------------------------------------

    def attribution(self, session_id: str) -> Attribution | None:
        try:
            row = AnalyticsModel.get(session_id, "config", consistent_read=True)
        except AnalyticsModel.DoesNotExist:
            return None
        return Attribution(int(row.latency_allowance_ms), int(row.grace_ms))

    def fix_attribution(self, session_id: str, attribution: Attribution) -> Attribution:
        try:
            AnalyticsModel(pk=session_id, sk="config", latency_allowance_ms=attribution.latency_allowance_ms,
                           grace_ms=attribution.grace_ms).save(condition=AnalyticsModel.pk.does_not_exist())
            return attribution
        except Exception as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
        return self.attribution(session_id) or attribution

    # --- orders --------------------------------------------------------------------------------

    def apply(self, session_id: str, changes: Iterable[AppliedChange]) -> int:
        """Chunks of changes, each one transaction: a marker per record (which fails if the record
        was applied before: that change is dropped and the rest sent again), the summed counters,
        and the buyers whose count of paid orders crosses zero (each written on the count read
        just before, so two handlers can not both count one buyer)."""
        # One change per record: a batch may hold a redelivered record twice, and one transaction
        # can not write its marker twice.
        pending = list({change.record_id: change for change in changes if change.delta}.values())
        applied = 0
        while pending:
            chunk = self._chunk(pending)
            for _ in range(APPLY_ATTEMPTS):
                try:
                    self._apply_chunk(session_id, chunk)
                    break
                except Cancelled as cancelled:
                    seen = {label[1] for label in cancelled.refusals if label[0] == "marker"}
                    chunk = [change for change in chunk if change.record_id not in seen]
                    pending = [change for change in pending if change.record_id not in seen]
                    if not chunk:
                        break
            else:
                raise Busy("analytics: buyers kept changing under the handler; the batch is retried")
            applied += len(chunk)
            done = {change.record_id for change in chunk}
            pending = [change for change in pending if change.record_id not in done]
        return applied

    @staticmethod
    def _chunk(pending: list[AppliedChange]) -> list[AppliedChange]:
        """As many changes as one transaction holds: a marker each, plus the rows they touch."""
        rows: set[tuple[str, ...]] = set()
        chunk: list[AppliedChange] = []
        for change in pending:
            touched = rows | {row for (row, _name) in change.delta}
            buyers = sum(1 for row in touched if row[0] == "buyer")
            if chunk and len(chunk) + 1 + len(touched) + buyers > MAX_TRANSACTION_ITEMS:
                break
            chunk.append(change)
            rows = touched
        return chunk

    def _apply_chunk(self, session_id: str, chunk: list[AppliedChange]) -> None:
        total: Counter[Cell] = Counter()
        for change in chunk:
            total.update(change.delta)
        shard = random.randrange(AGGREGATE_SHARDS)
        tx = Transaction()
        expires = _expiry(MARKER_SECONDS)
        for change in chunk:
            tx.put(("marker", change.record_id),
                   AnalyticsModel(pk=f"applied#{change.order_id}", sk=change.record_id, expires_at=expires),
                   condition=AnalyticsModel.pk.does_not_exist())
        buyers_delta: Counter[tuple[str, str]] = Counter()
        for ((row, _name), value) in total.items():
            if row[0] == "buyer" and value:
                buyers_delta[(row[1], row[2])] += value
        if buyers_delta:
            keys = [(f"buyers#{session_id}", f"{cur}#{shopper}") for cur, shopper in buyers_delta]
            held = {row.sk: int(row.paid_orders or 0) for row in AnalyticsModel.batch_get(keys, consistent_read=True)}
            for (cur, shopper), change in buyers_delta.items():
                before = held.get(f"{cur}#{shopper}", 0)
                after = before + change
                item = AnalyticsModel(pk=f"buyers#{session_id}", sk=f"{cur}#{shopper}")
                tx.update(("buyer", cur, shopper), item, actions=[AnalyticsModel.paid_orders.set(after)],
                          condition=(AnalyticsModel.paid_orders == before) if before else
                          (AnalyticsModel.paid_orders.does_not_exist() | (AnalyticsModel.paid_orders == 0)))
                if (before > 0) != (after > 0):
                    total[(("currency", cur), "buyers")] += 1 if after > 0 else -1
        actions: dict[str, list[Any]] = {}
        for ((row, name), value) in total.items():
            if row[0] != "buyer" and value:
                actions.setdefault(_sort_key(row, shard), []).append(FIELDS[name].add(value))
        for sort_key, row_actions in actions.items():
            tx.update(("row", sort_key), AnalyticsModel(pk=session_id, sk=sort_key), actions=row_actions)
        transact(self.db.client, tx)

    # --- audience ------------------------------------------------------------------------------

    def record_likes(self, counts: Iterable[LikeCount]) -> None:
        highest: dict[tuple[str, int, int], int] = {}
        for like in counts:
            key = (like.session_id, like.at_ms // 60_000, like.shard)
            highest[key] = max(highest.get(key, 0), like.count)
        for (session_id, minute, shard), count in highest.items():
            self._raise_to(session_id, f"a#{minute:012d}#l{shard}", AnalyticsModel.likes, count)

    def record_viewers(self, session_id: str, minute: int, viewers: int) -> bool:
        try:
            AnalyticsModel(pk=session_id, sk=f"a#{minute:012d}#v").update(
                actions=[AnalyticsModel.viewers.set(viewers)], condition=AnalyticsModel.viewers.does_not_exist())
            return True
        except Exception as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
            return False

    @staticmethod
    def _raise_to(session_id: str, sort_key: str, attribute: Any, value: int) -> None:
        try:
            AnalyticsModel(pk=session_id, sk=sort_key).update(
                actions=[attribute.set(value)], condition=attribute.does_not_exist() | (attribute < value))
        except Exception as error:  # a higher count is there already: nothing to do
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise

    # --- reading -------------------------------------------------------------------------------

    def aggregates(self, session_id: str) -> Aggregates:
        return _aggregates(AnalyticsModel.query(session_id, consistent_read=True))

    def summaries(self, session_ids: Iterable[str]) -> dict[str, Aggregates]:
        """sk from "a" to "final": audience rows, totals, config and final (not minutes, products)."""
        return {session_id: _aggregates(AnalyticsModel.query(
            session_id, AnalyticsModel.sk.between("a", "final"), consistent_read=True)) for session_id in session_ids}

    # --- settling ------------------------------------------------------------------------------

    def mark_unsettled(self, session_id: str) -> None:
        AnalyticsModel(pk=UNSETTLED, sk=session_id).save()

    def unsettled(self) -> list[str]:
        return [row.sk for row in AnalyticsModel.query(UNSETTLED)]  # PynamoDB follows every page

    def finalize(self, session_id: str, at: str) -> None:
        """Final at `at`, unless it was already (a repeated settling keeps the first time)."""
        try:
            AnalyticsModel(pk=session_id, sk="final", finalized_at=at).save(
                condition=AnalyticsModel.pk.does_not_exist())
        except Exception as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
        AnalyticsModel(pk=UNSETTLED, sk=session_id).delete()

    def is_final(self, session_id: str) -> bool:
        try:
            AnalyticsModel.get(session_id, "final", consistent_read=True)
            return True
        except AnalyticsModel.DoesNotExist:
            return False

    def replace_figures(self, session_id: str, cells: Mapping[Cell, int], buyers: Mapping[str, int]) -> None:
        """The show's order figures, written afresh (the repair of a show whose stream records
        were lost): every counter row removed, the given figures put in their first shard."""
        rows = AnalyticsModel.query(session_id, consistent_read=True)
        stale = [row for row in rows if _row_of(row.sk) is not None]
        fresh: dict[str, AnalyticsModel] = {}
        for (row, name), value in cells.items():
            if row[0] == "buyer" or not value:
                continue
            key = _sort_key(row, 0)
            item = fresh.setdefault(key, AnalyticsModel(pk=session_id, sk=key))
            setattr(item, _python_name[name], value)
        for currency, count in buyers.items():
            key = _sort_key(("currency", currency), 0)
            fresh.setdefault(key, AnalyticsModel(pk=session_id, sk=key)).buyers = count
        with AnalyticsModel.batch_write() as batch:
            for row in stale:
                if row.sk not in fresh:
                    batch.delete(row)
            for item in fresh.values():
                batch.save(item)


def _aggregates(rows: Iterable[AnalyticsModel]) -> Aggregates:
    result = Aggregates()
    for row in rows:
        sort_key = row.sk
        if sort_key == "config":
            result.attribution = Attribution(int(row.latency_allowance_ms), int(row.grace_ms))
        elif sort_key == "final":
            result.finalized_at = row.finalized_at
        elif sort_key.startswith("a#"):
            _, minute, which = sort_key.split("#")
            if which == "v" and row.viewers is not None:
                result.viewers[int(minute)] = int(row.viewers)
            elif which.startswith("l") and row.likes is not None:
                result.likes.setdefault(int(minute), {})[int(which[1:])] = int(row.likes)
        else:
            figure_row = _row_of(sort_key)
            if figure_row is None:
                continue
            for name in FIELDS:
                value = getattr(row, _python_name[name])
                if value is None:
                    continue
                if name == "buyers":
                    result.buyers[figure_row[1]] += int(value)
                else:
                    result.cells[(figure_row, name)] += int(value)
    return result


# --- stream records, decoded ---------------------------------------------------------------------


class AnalyticsRecords:
    """Decodes (record id, old image, new image) of the orders, counters and sessions streams."""

    @staticmethod
    def order_changes(records: list[Any]) -> list[OrderChange]:
        changes = []
        for record_id, old, new in records:
            old_facts = facts_of(_order(OrderModel.from_raw_data(old))) if old else None
            new_facts = facts_of(_order(OrderModel.from_raw_data(new))) if new else None
            either = new_facts or old_facts
            if either is not None:
                changes.append(OrderChange(record_id, either.order_id, either.session_id, old_facts, new_facts))
        return changes

    @staticmethod
    def like_counts(records: list[Any]) -> list[LikeCount]:
        counts = []
        for _record_id, _old, new in records:
            key = (new or {}).get("counterKey", {}).get("S", "")
            if not key.startswith("likes#") or "lastAt" not in new:
                continue
            row = CounterModel.from_raw_data(new)
            _, session_id, shard = key.split("#")
            counts.append(LikeCount(session_id, int(shard), int(row.count), int(row.last_at)))
        return counts

    @staticmethod
    def ended_sessions(records: list[Any]) -> list[str]:
        ended = []
        for _record_id, old, new in records:
            if new and new.get("status", {}).get("S") == "ended" and (old or {}).get("status", {}).get("S") != "ended":
                ended.append(SessionModel.from_raw_data(new).id)
        return ended
