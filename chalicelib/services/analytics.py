"""Show analytics: the stream handlers that aggregate a show's figures off the checkout's path,
the viewer sampler, the settling of ended shows, and the reports (domain/analytics.py)."""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from typing import Any, Callable, Mapping

from chalicelib.domain.analytics import (
    MINUTE_MS, Attribution, DropEntries, LineupFacts, Pin, Report, build_report, buyers_of, change_delta, facts_of,
    feature_windows,
    featured_at, recount, settled,
)
from chalicelib.domain.clock import epoch_ms, iso_ms, to_iso
from chalicelib.domain.errors import Busy
from chalicelib.domain.ports import (
    AnalyticsRecords, AnalyticsRepository, AppliedChange, Channels, Clock, DrawRepository, EntryRepository,
    LiveRepository, OrderRepository, OwnedSession, StockRepository,
)
from chalicelib.domain.drops import DropMode
from chalicelib.domain.records import LineupItem, Session, TimelineEntry
from chalicelib.domain.sessions import SessionStatus
from chalicelib.observability import logger
from chalicelib.services.sessions import Sessions

QUEUE_ITEM = "#queue"  # read() for the drop's own items alone: a state key is nobody's entry

PENDING_PIN_MS = 60_000  # a pin still being sent is waited for this long, then counted from its pin time
ORDERS_PAGE = 1000
SETTLE_AFTER_MS = 10_000  # after the end: the last orders' records reach the handler, and the orders index
REPAIR_AFTER_MS = 26 * 3600_000  # a stream keeps records 24 h: after that, what it missed never comes


class PinsPending(Busy):
    """A pin that decides this batch's attribution is still being sent: the batch comes again."""


class Analytics:
    def __init__(self, sessions: Sessions, repo: AnalyticsRepository, records: AnalyticsRecords,
                 orders: OrderRepository, live: LiveRepository, stock: StockRepository, channels: Channels,
                 clock: Clock, latency_ms: Mapping[str, int], grace_ms: int,
                 entries: EntryRepository | None = None, draws: DrawRepository | None = None) -> None:
        self.sessions = sessions
        self.entries = entries
        self.draws = draws
        self.repo = repo
        self.records = records
        self.orders = orders
        self.live = live
        self.stock = stock
        self.channels = channels
        self.clock = clock
        self.latency_ms = latency_ms
        self.grace_ms = grace_ms
        self._sampled: dict[str, int] = {}  # session -> the minute this container last sampled

    def _now_ms(self) -> int:
        return epoch_ms(self.clock.now())

    def default_attribution(self, session: Session) -> Attribution:
        return Attribution(self.latency_ms.get(session.latency_mode, self.latency_ms["LOW"]), self.grace_ms)

    def _pins(self, session_id: str, timeline: list[TimelineEntry] | None = None) -> list[Pin]:
        entries = self.live.timeline(session_id) if timeline is None else timeline
        return [Pin(e.product_id, iso_ms(e.at), e.sent_at, e.delivery) for e in entries if e.type == "feature"]

    # --- the stream handlers ---------------------------------------------------------------------

    def on_order_records(self, records: list[Any]) -> int:
        """The orders stream: each record's change to its show's figures, applied once."""
        by_session = defaultdict(list)
        for change in self.records.order_changes(records):
            by_session[change.session_id].append(change)
        applied, deferred = 0, []
        for session_id, changes in by_session.items():
            session = self.sessions.repo.get(session_id)
            if session is None:
                continue
            attribution = self.repo.attribution(session_id) or self.repo.fix_attribution(
                session_id, self.default_attribution(session))
            pins = self._pins(session_id)
            latest = max(max(c.new.created_ms if c.new else 0, c.old.created_ms if c.old else 0) for c in changes)
            now = self._now_ms()
            if any(p.delivery == "pending" and p.pinned_at_ms <= latest and now - p.pinned_at_ms < PENDING_PIN_MS
                   for p in pins):
                deferred.append(session_id)  # the other shows' changes go on
                continue
            featured = self._featured(pins, attribution)
            applied += self.repo.apply(session_id, [
                AppliedChange(c.order_id, c.record_id, change_delta(c, featured)) for c in changes])
        if deferred:  # the batch comes again; what was applied is known by its markers
            raise PinsPending(f"a pin of {deferred} is still being sent; the records come again", retry_after=1)
        return applied

    @staticmethod
    def _featured(pins: list[Pin], attribution: Attribution) -> Callable[[str, int], bool]:
        windows = feature_windows(pins, attribution)
        return lambda product_id, at_ms: featured_at(windows, product_id, at_ms)

    def on_like_records(self, records: list[Any]) -> int:
        counts = self.records.like_counts(records)
        self.repo.record_likes(counts)
        return len(counts)

    def on_session_records(self, records: list[Any]) -> int:
        """The sessions stream: a show that ended is to be settled."""
        ended = self.records.ended_sessions(records)
        for session_id in ended:
            if not self.repo.is_final(session_id):  # a repeated record does not reopen a final show
                self.repo.mark_unsettled(session_id)
        return len(ended)

    # --- scheduled -------------------------------------------------------------------------------

    def sample_viewers(self) -> int:
        """Each live show's viewer count, once a minute (the first sample of a minute stays)."""
        minute = self._now_ms() // MINUTE_MS
        sampled, cursor = 0, None
        while True:
            sessions, cursor = self.sessions.repo.list_by_status(SessionStatus.LIVE, 100, cursor, newest_first=False)
            for session in sessions:
                if self._sampled.get(session.id) == minute:
                    continue
                viewers = self.channels.viewer_count(session.channel.arn)
                if viewers is not None:
                    self.repo.record_viewers(session.id, minute, viewers)
                    sampled += 1
                self._sampled[session.id] = minute
            if not cursor:
                return sampled

    def settle(self, budget_seconds: float = 10.0) -> int:
        """Ended shows whose holds are all resolved, checked against a recount of their orders:
        equal, they are final (the report no longer changes); not yet equal (the stream is
        behind), they are looked at again next time. One that still differs a day after its end,
        when the stream can no longer bring what it missed (records lost to a handler failing for
        longer than the stream keeps them, a handler deployed after the show began), takes the
        recount as its figures. In a random order, within a time budget: a show that never
        settles holds none of the others back."""
        finalized = 0
        started = self.clock.monotonic()
        pending = self.repo.unsettled()
        random.shuffle(pending)
        for session_id in pending:
            if self.clock.monotonic() - started > budget_seconds:
                break
            session = self.sessions.repo.get(session_id)
            if session is None:  # gone: nothing to settle
                self.repo.finalize(session_id, to_iso(self.clock.now()))
                continue
            ended = iso_ms(session.ended_at) if session.ended_at else None
            now = self._now_ms()
            if session.status is not SessionStatus.ENDED or ended is None or now - ended < SETTLE_AFTER_MS:
                continue
            aggregates = self.repo.aggregates(session_id)
            if aggregates.finalized_at is not None:
                self.repo.finalize(session_id, aggregates.finalized_at)
                continue
            if any(value for (_row, name), value in aggregates.cells.items() if name == "reserved"):
                continue
            orders, cursor = [], None
            while True:
                page, cursor = self.orders.list_for_session(session_id, ORDERS_PAGE, cursor)
                orders += page
                if not cursor:
                    break
            attribution = aggregates.attribution or self.default_attribution(session)
            counted = recount((facts_of(order) for order in orders), self._featured(self._pins(session_id), attribution))
            if settled(aggregates.cells, aggregates.buyers, counted):
                self.repo.finalize(session_id, to_iso(self.clock.now()))
                finalized += 1
            elif now - ended > REPAIR_AFTER_MS and not any(
                    value for (_row, name), value in counted.items() if name == "reserved"):
                logger.warning("analytics repaired from a recount: the stream missed records",
                               extra={"sessionId": session_id, "orders": len(orders)})
                self.repo.replace_figures(session_id, counted, buyers_of(counted))
                self.repo.finalize(session_id, to_iso(self.clock.now()))
                finalized += 1
            else:
                logger.info("analytics not settled yet: the stream is behind the orders",
                            extra={"sessionId": session_id, "orders": len(orders)})
        return finalized

    # --- reports ---------------------------------------------------------------------------------

    def report(self, brand_id: str, session_id: str, currency: str | None = None) -> tuple[Session, Report]:
        """The show's report: its stored figures, lineup, stock and timeline; never its orders."""
        session = self.sessions.get_owned(brand_id, session_id)
        lineup = self.sessions.lineup_of(session_id)
        stock = self.stock.levels(item for item, _ in lineup)
        aggregates = self.repo.aggregates(session_id)
        timeline = self.live.timeline(session_id)
        sold_out = {e.product_id: iso_ms(e.at) for e in timeline if e.type == "sold_out"}  # the last one
        facts = []
        for item, product in lineup:
            drop = stock.get(item.product_id)
            opens = (drop.opens_at if drop else None) or item.opens_at
            closes = (drop.closes_at if drop else None) or item.closes_at
            facts.append(LineupFacts(
                product_id=item.product_id, title=product.title if product else None, currency=item.price.currency,
                allocated=item.quantity, opens_at_ms=iso_ms(opens) if opens else None,
                closes_at_ms=iso_ms(closes) if closes else None,
                units_left=sum(drop.left.values()) if drop else None, last_sold_out_ms=sold_out.get(item.product_id)))
        pins = self._pins(session_id, timeline)
        report = build_report(
            session.status, iso_ms(session.started_at) if session.started_at else None,
            iso_ms(session.ended_at) if session.ended_at else None, self._now_ms(), facts, aggregates, pins,
            aggregates.attribution or self.default_attribution(session), currency)
        return session, replace(report, entries=self._drop_entries([item for item, _ in lineup]))

    def _drop_entries(self, lineup: list[LineupItem]) -> dict[str, DropEntries]:
        """Queue and draw drops' entrants: one read per such drop (a queue's `#queue` and position
        counters in one request; a draw's record), none for open drops."""
        found: dict[str, DropEntries] = {}
        for item in lineup:
            if item.mode is DropMode.QUEUE and self.entries is not None:
                _, queue = self.entries.read(item.session_id, item.product_id, QUEUE_ITEM, item.entry_shards)
                found[item.product_id] = DropEntries(item.mode.value, queue.issued,
                                                     admitted=min(queue.admitted_through, queue.issued))
            elif item.mode is DropMode.DRAW and self.draws is not None and self.entries is not None:
                draw = self.draws.get(item.session_id, item.product_id)
                if draw is not None:
                    found[item.product_id] = DropEntries(item.mode.value, draw.entrant_count,
                                                         winners=len(draw.winners))
                else:  # not drawn yet: the joins so far
                    _, queue = self.entries.read(item.session_id, item.product_id, QUEUE_ITEM, item.entry_shards)
                    found[item.product_id] = DropEntries(item.mode.value, queue.issued)
        return found

    def reports(self, brand_id: str, scheduled_from: str | None, scheduled_to: str | None, limit: int,
                cursor: str | None) -> tuple[list[tuple[OwnedSession, Report]], str | None]:
        """The brand's shows scheduled in [from, to), latest first, each with its totals: one
        query for the page, and one per show."""
        if scheduled_from and scheduled_to and scheduled_to <= scheduled_from:
            return [], None  # an empty period
        owned, next_cursor = self.sessions.repo.list_for_brand(brand_id, None, limit, cursor, scheduled_from,
                                                               scheduled_to)
        summaries = self.repo.summaries(o.session.id for o in owned)
        now = self._now_ms()
        items = []
        for entry in owned:
            session, aggregates = entry.session, summaries[entry.session.id]
            items.append((entry, build_report(
                session.status, None, None, now, [], aggregates, [],
                aggregates.attribution or self.default_attribution(session))))
        return items, next_cursor
