"""In-memory implementations of every port (chalicelib/domain/ports.py), for tests that run the
services without I/O.

Each repository keeps the rule its DynamoDB twin (chalicelib/adapters/dynamodb) states as a
condition, and refuses with the same typed values; tests/integration/test_repository_contract.py
runs one set of cases on both, so the two can not drift. The repositories share one `FakeStore`
whose lock makes every call atomic, as one conditional write or one transaction is in DynamoDB.

Every fake counts its calls (`calls["reserve"]`), and a test can make the next call of a method
fail (`fail_next`) or run something just before it (`before_next`: an interleaving, without
threads or sleeping). `fake_services()` builds the services on fakes only.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import random
import secrets
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

from chalicelib.domain.analytics import Aggregates, Attribution
from chalicelib.domain.draws import Draw
from chalicelib.domain.drops import DropMode, OrderStatus, changeable, count_key, shard_key, split
from chalicelib.domain.errors import (
    AlreadyInLineup, Busy, DropOpened, EntriesClosed, InsufficientStock, InvalidInput, InvalidTransition, NotFound, OrderExpired,
    OrderNotPayable, OrderNotRefundable, SessionChanged, SessionEnded, SessionHasDrops, SessionLive,
)
from chalicelib.domain.money import Money
from chalicelib.domain.payments import (
    EventRejected, Intent, IntentStateConflict, IntentStatus, PaymentRefused, PaymentUnavailable, ProviderEvent,
)
from chalicelib.domain.ports import (
    AlreadyPaid, AppliedChange, ChatToken, Delivery, DropStock, LikeCount,
    OrderNotReleasable, OwnedSession, ReservationRefused, ShardRefusal,
)
from chalicelib.domain.rate_limits import Window
from chalicelib.domain.queues import STEP_MS, QueueState, highest_position, position_of
from chalicelib.domain.records import Brand, Channel, Entry, LineupItem, Order, Product, Session, TimelineEntry
from chalicelib.domain.sessions import SessionStatus, list_key

from chalicelib.domain.drops import MAX_TRANSACTION_ITEMS  # the DynamoDB adapter enforces it before sending
from chalicelib.domain.drops import open_orders_key


class FakeClock:
    """Time that moves only when a test moves it; `sleep` moves it too, so waiting costs nothing.

    `at_next_sleep(action)` runs `action` when some code next sleeps, before time moves: the way
    to let another request in while one waits (a burst of pins), deterministically."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(timezone.utc)
        self._monotonic = 1000.0
        self._lock = threading.Lock()
        self._at_sleep: list[Callable[[], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def sleep(self, seconds: float) -> None:
        with self._lock:
            action = self._at_sleep.pop(0) if self._at_sleep else None
        if action is not None:
            action()
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._monotonic += seconds

    def at_next_sleep(self, action: Callable[[], None]) -> None:
        with self._lock:
            self._at_sleep.append(action)


# --- call recording and fault injection ---------------------------------------------------------


class Recorded:
    """Counts calls by method name; `fail_next` / `before_next` queue something for the next call."""

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.calls: Counter[str] = Counter()
        self._next: dict[str, list[Exception | Callable[[], None]]] = defaultdict(list)

    def fail_next(self, method: str, error: Exception) -> None:
        with self.lock:
            self._next[method].append(error)

    def before_next(self, method: str, action: Callable[[], None]) -> None:
        """Run `action` at the start of the next call of `method`, before it reads or writes anything."""
        with self.lock:
            self._next[method].append(action)

    def _enter(self, method: str) -> None:
        with self.lock:
            self.calls[method] += 1
            queued = self._next[method].pop(0) if self._next.get(method) else None
        if isinstance(queued, Exception):
            raise queued
        if queued is not None:
            queued()  # outside the lock, as another request would run


def port_call(method: Callable) -> Callable:
    """Record the call, play what was queued for it, then run it atomically under the store's lock."""

    @functools.wraps(method)
    def call(self: Recorded, *args: Any, **kwargs: Any) -> Any:
        self._enter(method.__name__)
        with self.lock:
            return method(self, *args, **kwargs)

    return call


# --- the store the repositories share ----------------------------------------------------------


@dataclass
class SessionRow:
    session: Session
    lineup_count: int | None = None  # drops added by add_taking_stock: a delete is conditioned on it
    deleted_at: str | None = None
    feature_seq: int | None = None


@dataclass
class ShardRow:
    session_id: str | None
    product_id: str | None
    left: int
    opens_at: str | None
    closes_at: str | None
    revision: int = 0  # its lineup item's: a take priced from another revision is refused


@dataclass
class OrderRow:
    order: Order
    hold_until: int | None  # set while reserved: what the sweeper finds


class FakeCursors:
    """Opaque cursors, each valid only for the listing partition that issued it."""

    def __init__(self) -> None:
        self._issued: dict[str, tuple[tuple[str, str], Any]] = {}

    def issue(self, partition: tuple[str, str], last_key: Any) -> str:
        token = secrets.token_urlsafe(12)
        self._issued[token] = (partition, last_key)
        return token

    def resume(self, cursor: str | None, partition: tuple[str, str]) -> Any:
        if cursor is None:
            return None
        issued = self._issued.get(cursor)
        if issued is None or issued[0] != partition:
            raise InvalidInput.of("cursor", "not a cursor this listing issued")
        return issued[1]

    def page(self, rows: list[Any], key: Callable[[Any], Any], limit: int, cursor: str | None,
             partition: tuple[str, str], descending: bool = False) -> tuple[list[Any], str | None]:
        """A page after the cursor's key. Like a DynamoDB Query with Limit, a full page carries a
        cursor even when nothing follows it."""
        start = self.resume(cursor, partition)
        ordered = sorted(rows, key=key, reverse=descending)
        if start is not None:
            ordered = [row for row in ordered if (key(row) < start if descending else key(row) > start)]
        items = ordered[:limit]
        return items, (self.issue(partition, key(items[-1])) if items and len(items) == limit else None)


class FakeStore:
    """The tables, in memory. One re-entrant lock: a call is atomic, as one DynamoDB request is."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.cursors = FakeCursors()
        self.brands: dict[str, Brand] = {}
        self.products: dict[str, Product] = {}
        self.sessions: dict[str, SessionRow] = {}
        self.lineup: dict[tuple[str, str], LineupItem] = {}
        self.shards: dict[str, ShardRow] = {}
        self.purchases: dict[str, int] = {}
        self.open_orders: dict[str, set[str]] = {}  # open#session#shopper -> order ids (the hold cap)
        self.orders: dict[str, OrderRow] = {}
        self.timeline: dict[str, dict[int, TimelineEntry]] = defaultdict(dict)
        self.counters: dict[str, int] = {}
        self.rate_windows: dict[str, int] = {}  # window key -> requests counted
        self.draws: dict[tuple[str, str], Draw] = {}  # the `#draw` items
        self.draw_pages: dict[tuple[str, int], list[str]] = {}  # (draw id, page) -> shopper ids
        self.draws_finished: set[tuple[str, str]] = set()  # drops off the draws-due index
        self.entries_closed: dict[tuple[str, str], str] = {}  # the `#closed` items
        self.entries: dict[tuple[str, str], dict[str, Entry]] = defaultdict(dict)  # drop -> shopper -> entry
        self.position_counters: dict[tuple[str, str, int], int] = {}  # (session, product, counter) -> n
        self.queues: dict[tuple[str, str], QueueState] = {}  # as stored: without `issued`


class DuplicateItem(Exception):
    """An add of an id that exists (DynamoDB: a failed `attribute_not_exists` put)."""


class FakeRepository(Recorded):
    def __init__(self, store: FakeStore) -> None:
        super().__init__(store.lock)
        self.store = store


# --- catalogue ---------------------------------------------------------------------------------


class FakeBrandRepository(FakeRepository):
    @port_call
    def add(self, brand: Brand) -> None:
        if brand.id in self.store.brands:
            raise DuplicateItem(brand.id)
        self.store.brands[brand.id] = brand

    @port_call
    def get(self, brand_id: str) -> Brand | None:
        return self.store.brands.get(brand_id)


class FakeProductRepository(FakeRepository):
    @port_call
    def add(self, product: Product) -> None:
        if product.id in self.store.products:
            raise DuplicateItem(product.id)
        self.store.products[product.id] = product

    @port_call
    def get(self, product_id: str) -> Product | None:
        return self.store.products.get(product_id)

    @port_call
    def get_many(self, product_ids: Iterable[str]) -> dict[str, Product]:
        return {p: self.store.products[p] for p in dict.fromkeys(product_ids) if p in self.store.products}

    @port_call
    def list_for_brand(self, brand_id: str, limit: int, cursor: str | None) -> tuple[list[Product], str | None]:
        rows = [p for p in self.store.products.values() if p.brand_id == brand_id]
        return self.store.cursors.page(rows, lambda p: p.id, limit, cursor, ("brandId", brand_id))

    def _owned(self, brand_id: str, product_id: str) -> Product:
        product = self.store.products.get(product_id)
        if product is None or product.brand_id != brand_id:
            raise NotFound("product", product_id)
        return product

    @port_call
    def update(self, brand_id: str, product_id: str, changes: dict[str, Any], updated_at: str) -> Product:
        product = self._owned(brand_id, product_id)
        fields: dict[str, Any] = {"updated_at": updated_at}
        for name, value in changes.items():
            if name == "images":
                fields[name] = tuple(value or ())
            else:
                fields[name] = value
        self.store.products[product_id] = product = replace(product, **fields)
        return product

    @port_call
    def adjust_stock(self, brand_id: str, product_id: str, delta: int, updated_at: str) -> Product:
        product = self._owned(brand_id, product_id)
        if product.stock < -delta:
            raise InsufficientStock(product.stock)
        self.store.products[product_id] = product = replace(product, stock=product.stock + delta,
                                                            updated_at=updated_at)
        return product


class FakeSessionRepository(FakeRepository):
    @port_call
    def add(self, session: Session) -> None:
        if session.id in self.store.sessions:
            raise DuplicateItem(session.id)
        # What DynamoDB's add stores: a new session, nothing that only later writes set.
        self.store.sessions[session.id] = SessionRow(replace(session, started_at=None, ended_at=None,
                                                             featured_product_id=None, replay_url=None))

    @port_call
    def get(self, session_id: str) -> Session | None:
        row = self.store.sessions.get(session_id)
        return row.session if row else None

    @port_call
    def list_by_status(self, status: SessionStatus, limit: int, cursor: str | None,
                       newest_first: bool) -> tuple[list[Session], str | None]:
        rows = [r.session for r in self.store.sessions.values() if r.session.status is status]
        return self.store.cursors.page(rows, lambda s: list_key(s.scheduled_at, s.id), limit, cursor,
                                       ("status", status.value), descending=newest_first)

    @port_call
    def list_for_brand(self, brand_id: str, status: SessionStatus | None, limit: int,
                       cursor: str | None, scheduled_from: str | None = None,
                       scheduled_to: str | None = None) -> tuple[list[OwnedSession], str | None]:
        rows = [OwnedSession(r.session, r.lineup_count or 0) for r in self.store.sessions.values()
                if r.session.brand_id == brand_id and r.deleted_at is None
                and (status is None or r.session.status is status)
                and (scheduled_from is None or r.session.scheduled_at >= scheduled_from)
                and (scheduled_to is None or r.session.scheduled_at < scheduled_to)]
        partition = ("brandSessions", f"{brand_id}#{status.value if status else '*'}#{scheduled_from}#{scheduled_to}")
        return self.store.cursors.page(rows, lambda s: list_key(s.session.scheduled_at, s.session.id), limit, cursor,
                                       partition, descending=True)

    def _owned(self, brand_id: str, session_id: str) -> SessionRow:
        row = self.store.sessions.get(session_id)
        if row is None or row.session.brand_id != brand_id:
            raise NotFound("session", session_id)
        return row

    @port_call
    def move_status(self, brand_id: str, session_id: str, target: SessionStatus,
                    allowed_from: Iterable[SessionStatus], at: str) -> Session:
        row = self._owned(brand_id, session_id)
        if row.session.status not in set(allowed_from):
            raise InvalidTransition(row.session.status.value, target.value)
        if target is SessionStatus.LIVE:  # the first start (or end) time stays, as if_not_exists keeps it
            row.session = replace(row.session, status=target, started_at=row.session.started_at or at)
        else:
            row.session = replace(row.session, status=target, ended_at=row.session.ended_at or at)
        return row.session

    @port_call
    def close_for_deletion(self, brand_id: str, session_id: str, at: str) -> Session:
        row = self._owned(brand_id, session_id)
        status = row.session.status
        if status is SessionStatus.LIVE:
            raise SessionLive()
        if status is SessionStatus.SCHEDULED and row.lineup_count:
            raise SessionHasDrops()
        row.session = replace(row.session, status=SessionStatus.ENDED, ended_at=row.session.ended_at or at)
        row.deleted_at = row.deleted_at or at
        return row.session

    @port_call
    def delete_closed(self, brand_id: str, session_id: str) -> bool:
        row = self.store.sessions.get(session_id)
        if row is None or row.session.brand_id != brand_id or row.deleted_at is None or row.lineup_count:
            return False
        del self.store.sessions[session_id]
        return True

    @port_call
    def set_featured(self, brand_id: str, entry: TimelineEntry) -> TimelineEntry:
        row = self.store.sessions.get(entry.session_id)
        if row is None or row.session.brand_id != brand_id:
            raise NotFound("session", entry.session_id)
        if row.session.status is SessionStatus.ENDED:
            raise SessionEnded("the show has ended: nothing can be featured")
        # Above the featured seq and on a free timeline seq: where DynamoDB's retries end up.
        seq = entry.seq if row.feature_seq is None else max(entry.seq, row.feature_seq + 1)
        timeline = self.store.timeline[entry.session_id]
        while seq in timeline:
            seq += 1
        row.feature_seq = seq
        row.session = replace(row.session, featured_product_id=entry.product_id)
        timeline[seq] = replace(entry, seq=seq, delivery="pending", sent_at=None)
        return replace(entry, seq=seq)

    @port_call
    def featured_seq(self, session_id: str) -> int | None:
        row = self.store.sessions.get(session_id)
        return row.feature_seq if row else None

    @port_call
    def set_replay(self, session_id: str, replay_url: str) -> None:
        row = self.store.sessions.get(session_id)
        if row is not None:
            row.session = replace(row.session, replay_url=replay_url)


class FakeLineupRepository(FakeRepository):
    @port_call
    def list_for_session(self, session_id: str) -> list[LineupItem]:
        return sorted((item for (s, _), item in self.store.lineup.items() if s == session_id),
                      key=lambda item: item.product_id)

    @port_call
    def add_taking_stock(self, item: LineupItem, session_status: SessionStatus) -> None:
        session = self.store.sessions.get(item.session_id)
        if session is None or session.session.brand_id != item.brand_id or session.session.status is not session_status:
            raise SessionChanged("the session changed status meanwhile (or was deleted); read it again")
        if (item.session_id, item.product_id) in self.store.lineup:
            raise AlreadyInLineup(item.product_id)
        product = self.store.products.get(item.product_id)
        if product is None or product.brand_id != item.brand_id:
            raise NotFound("product", item.product_id, field="productId")
        if product.stock < item.quantity:
            raise InsufficientStock(product.stock, wanted=item.quantity)
        session.lineup_count = (session.lineup_count or 0) + 1
        self.store.lineup[(item.session_id, item.product_id)] = item
        for shard, units in enumerate(split(item.quantity, item.shards)):
            self.store.shards[shard_key(item.session_id, item.product_id, shard)] = ShardRow(
                item.session_id, item.product_id, units, item.opens_at, item.closes_at, item.revision)
        self.store.products[product.id] = replace(product, stock=product.stock - item.quantity,
                                                  updated_at=item.added_at)


    def _before_opening(self, item: LineupItem, session_status: SessionStatus, now: str,
                        check_revision: bool = False) -> SessionRow:
        """What the DynamoDB transaction's conditions check, in the order its refusals are read."""
        session = self.store.sessions.get(item.session_id)
        if session is None or session.session.brand_id != item.brand_id:
            raise NotFound("session", item.session_id)
        if session.session.status is not session_status:
            raise SessionChanged("the session changed status meanwhile; read it again")
        current = self.store.lineup.get((item.session_id, item.product_id))
        if current is None or current.brand_id != item.brand_id:
            raise NotFound("product", item.product_id, field="productId",
                           detail=f"product {item.product_id} is not in this session's lineup")
        if check_revision and current.revision != item.revision:
            raise SessionChanged("the drop changed meanwhile; read it again")
        for shard, units in enumerate(split(item.quantity, item.shards)):
            row = self.store.shards.get(shard_key(item.session_id, item.product_id, shard))
            if row is None or row.left != units or not changeable(now, row.opens_at):
                raise DropOpened(item.product_id, row.opens_at if row else None)
        return session

    @port_call
    def update_before_opening(self, item: LineupItem, session_status: SessionStatus, now: str) -> None:
        self._before_opening(item, session_status, now, check_revision=True)
        key = (item.session_id, item.product_id)
        revision = item.revision + 1
        self.store.lineup[key] = replace(self.store.lineup[key], price=item.price,
                                         per_customer_limit=item.per_customer_limit,
                                         verified_only=item.verified_only, hold_seconds=item.hold_seconds,
                                         revision=revision)
        for shard in range(item.shards):
            self.store.shards[shard_key(item.session_id, item.product_id, shard)].revision = revision

    @port_call
    def remove_returning_stock(self, item: LineupItem, session_status: SessionStatus, now: str,
                               lineup_size: int) -> None:
        session = self._before_opening(item, session_status, now)
        product = self.store.products.get(item.product_id)
        if product is None or product.brand_id != item.brand_id:
            raise NotFound("product", item.product_id, field="productId")
        session.lineup_count = (lineup_size if session.lineup_count is None else session.lineup_count) - 1
        del self.store.lineup[(item.session_id, item.product_id)]
        for shard in range(item.shards):
            del self.store.shards[shard_key(item.session_id, item.product_id, shard)]
        self.store.products[product.id] = replace(product, stock=product.stock + item.quantity, updated_at=now)


# --- stock and orders --------------------------------------------------------------------------


class FakeStockRepository(FakeRepository):
    @port_call
    def levels(self, drops: Iterable[LineupItem]) -> dict[str, DropStock]:
        result: dict[str, DropStock] = {}
        for drop in drops:
            for shard in range(drop.shards):
                row = self.store.shards.get(shard_key(drop.session_id, drop.product_id, shard))
                if row is not None:
                    stock = result.setdefault(drop.product_id, DropStock({}, row.opens_at, row.closes_at))
                    stock.left[shard] = row.left
        return result

    @port_call
    def set_window_edge(self, drops: Iterable[LineupItem], opens_at: str | None = None,
                        closes_at: str | None = None) -> None:
        for drop in drops:
            for shard in range(drop.shards):
                row = self.store.shards.get(shard_key(drop.session_id, drop.product_id, shard))
                if row is None:
                    continue
                if opens_at is not None and row.opens_at is None:
                    row.opens_at = opens_at
                if closes_at is not None and (row.closes_at is None or row.closes_at > closes_at):
                    row.closes_at = closes_at  # only ever earlier


class FakeOrderRepository(FakeRepository):
    @port_call
    def reserve(self, order: Order, limits: dict[str, int | None], now: str,
                revisions: Mapping[str, int] | None = None, hold_cap: int | None = None,
                rate: Window | None = None) -> None:
        # As the DynamoDB transaction holds them: the order, the open orders, the rate window if counted.
        items = 2 + (rate is not None) + sum(len(line.shards) for line in order.lines) + sum(
            1 for line in order.lines if limits.get(line.product_id) is not None)
        if items > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{items} items: DynamoDB takes at most {MAX_TRANSACTION_ITEMS} in a transaction")
        refusal = ReservationRefused()
        existing = self.store.orders.get(order.id)
        if existing is not None:
            refusal.existing_order = existing.order
        for line in order.lines:
            for shard, units in line.shards.items():
                row = self.store.shards.get(shard_key(order.session_id, line.product_id, shard))
                takeable = (row is not None and row.left >= units and row.opens_at is not None
                            and row.opens_at <= now and (row.closes_at is None or row.closes_at > now)
                            and row.revision == (revisions or {}).get(line.product_id, 0))
                if not takeable:
                    refusal.short_shards.append(ShardRefusal(
                        line.product_id, shard, None if row is None else row.left,
                        None if row is None else row.opens_at, None if row is None else row.closes_at,
                        None if row is None else row.revision))
            limit = limits.get(line.product_id)
            if limit is not None:
                bought = self.store.purchases.get(count_key(order.session_id, line.product_id, order.shopper_id))
                if bought is not None and bought > limit - line.quantity:
                    refusal.limit_reached.append((line.product_id, bought))
        listed = self.store.open_orders.get(open_orders_key(order.session_id, order.shopper_id), set())
        if hold_cap is not None and len(listed) >= hold_cap:
            refusal.open_orders = tuple(sorted(listed))
        refusal.rate_refused = rate is not None and self.store.rate_windows.get(rate.key, 0) >= rate.limit
        if (refusal.existing_order or refusal.short_shards or refusal.limit_reached or refusal.open_orders
                or refusal.rate_refused):
            raise refusal
        if rate is not None:
            self.store.rate_windows[rate.key] = self.store.rate_windows.get(rate.key, 0) + 1
        self.store.open_orders.setdefault(open_orders_key(order.session_id, order.shopper_id), set()).add(order.id)
        self.store.orders[order.id] = OrderRow(copy.deepcopy(order), hold_until=order.expires_at)
        for line in order.lines:
            for shard, units in line.shards.items():
                self.store.shards[shard_key(order.session_id, line.product_id, shard)].left -= units
            if limits.get(line.product_id) is not None:
                key = count_key(order.session_id, line.product_id, order.shopper_id)
                self.store.purchases[key] = self.store.purchases.get(key, 0) + line.quantity

    @port_call
    def get(self, order_id: str) -> Order | None:
        row = self.store.orders.get(order_id)
        return row.order if row else None

    @port_call
    def list_for_session(self, session_id: str, limit: int, cursor: str | None) -> tuple[list[Order], str | None]:
        rows = [r.order for r in self.store.orders.values() if r.order.session_id == session_id]
        return self.store.cursors.page(rows, lambda o: (o.created_at, o.id), limit, cursor, ("sessionId", session_id))

    @port_call
    def release(self, order: Order, to: OrderStatus, at: str, now_epoch: int, shopper_id: str | None = None) -> None:
        row = self.store.orders.get(order.id)
        if row is None:
            raise OrderNotReleasable("missing")
        releasable = (row.order.status is OrderStatus.RESERVED
                      and (to is not OrderStatus.EXPIRED or row.order.expires_at <= now_epoch)
                      and (shopper_id is None or row.order.shopper_id == shopper_id))
        if not releasable:
            raise OrderNotReleasable(row.order.status.value, row.order.closed_at)
        row.order = replace(row.order, status=to, closed_at=at, version=row.order.version + 1)
        row.hold_until = None
        # The units go back where the given order says they came from, unconditionally, as in DynamoDB.
        for line in order.lines:
            for shard, units in line.shards.items():
                key = shard_key(order.session_id, line.product_id, shard)
                shard_row = self.store.shards.setdefault(key, ShardRow(None, None, 0, None, None))
                shard_row.left += units
            if line.counted:
                key = count_key(order.session_id, line.product_id, order.shopper_id)
                self.store.purchases[key] = self.store.purchases.get(key, 0) - line.quantity
        self.store.open_orders.get(open_orders_key(order.session_id, order.shopper_id), set()).discard(order.id)

    @port_call
    def forget_open(self, session_id: str, shopper_id: str, order_ids) -> None:
        self.store.open_orders.get(open_orders_key(session_id, shopper_id), set()).difference_update(order_ids)

    @port_call
    def begin_payment(self, order_id: str, shopper_id: str, now_epoch: int, provider: str,
                      due_epoch: int) -> tuple[Order, bool]:
        row = self.store.orders.get(order_id)
        if row is None or row.order.shopper_id != shopper_id:
            raise NotFound("order", order_id)
        order = row.order
        if order.status is OrderStatus.RESERVED and order.expires_at > now_epoch:
            row.order = replace(order, status=OrderStatus.PAYING, payment_attempt=(order.payment_attempt or 0) + 1,
                                payment_provider=provider, payment_reference=None, payment_due=due_epoch,
                                version=order.version + 1)
            row.hold_until = due_epoch
            return row.order, True
        if order.status is OrderStatus.PAYING:
            return order, False
        if order.status is OrderStatus.PAID:
            raise AlreadyPaid(order)
        if order.status is OrderStatus.RESERVED:
            raise OrderExpired()
        raise OrderNotPayable(order.status.value)

    def _write(self, order_id: str, allowed: Callable[[Order], bool], hold: object = "keep", **changes) -> Order | None:
        row = self.store.orders.get(order_id)
        if row is None or not allowed(row.order):
            return None
        row.order = replace(row.order, version=row.order.version + 1, **changes)
        if hold != "keep":
            row.hold_until = hold  # type: ignore[assignment]
        return row.order

    @staticmethod
    def _under_way(attempt: int) -> Callable[[Order], bool]:
        return lambda o: o.status is OrderStatus.PAYING and o.payment_attempt == attempt

    @port_call
    def attach_intent(self, order_id: str, attempt: int, reference: str) -> Order | None:
        return self._write(order_id, lambda o: self._under_way(attempt)(o) and o.payment_reference in (None, reference),
                           payment_reference=reference)

    @port_call
    def finish_payment(self, order_id: str, attempt: int, reference: str, at: str, capture_by: int) -> Order | None:
        return self._write(order_id, self._under_way(attempt), hold=capture_by, status=OrderStatus.PAID, closed_at=at,
                           payment_reference=reference)

    @port_call
    def record_capture(self, order_id: str, at: str) -> Order | None:
        row = self.store.orders.get(order_id)
        refunding = row is not None and row.order.refund_requested_at is not None and row.order.refunded_at is None
        return self._write(order_id, lambda o: o.status is OrderStatus.PAID and o.captured_at is None
                           and (o.refund_requested_at is None or refunding),
                           hold="keep" if refunding else None, captured_at=at)

    @port_call
    def abort_payment(self, order: Order, attempt: int) -> Order | None:
        return self._write(order.id, self._under_way(attempt), hold=order.expires_at, status=OrderStatus.RESERVED,
                           payment_due=None)

    @port_call
    def postpone(self, order_id: str, until_epoch: int) -> None:
        row = self.store.orders.get(order_id)
        if row is not None and row.hold_until is not None and row.order.status in (OrderStatus.PAYING, OrderStatus.PAID):
            row.hold_until = until_epoch

    @port_call
    def request_refund(self, order_id: str, brand_id: str, at: str, retry_by: int) -> Order:
        row = self.store.orders.get(order_id)
        if row is None or row.order.brand_id != brand_id:
            raise NotFound("order", order_id)
        if row.order.status is not OrderStatus.PAID:
            raise OrderNotRefundable(row.order.status.value)
        if row.order.refund_requested_at is not None:
            return row.order
        return self._write(order_id, lambda o: True, hold=retry_by, refund_requested_at=at)  # type: ignore[return-value]

    @port_call
    def record_refund(self, order_id: str, reference: str, at: str) -> Order:
        written = self._write(order_id, lambda o: o.refund_requested_at is not None and o.refunded_at is None,
                              hold=None, refunded_at=at, refund_reference=reference)
        return written or self.store.orders[order_id].order

    @port_call
    def due(self, now_epoch: int, limit: int) -> list[Order]:
        due = sorted((r for r in self.store.orders.values() if r.hold_until is not None and r.hold_until <= now_epoch),
                     key=lambda r: r.hold_until)  # type: ignore[arg-type, return-value]
        return [r.order for r in due[:limit]]


# --- draws -------------------------------------------------------------------------------------


class FakeDrawRepository(FakeRepository):
    """The `#draw` items and pages of adapters/dynamodb/draws.py; the draws due are the store's
    draw drops by opensAt, as the lineup's sparse index holds them."""

    @port_call
    def get(self, session_id: str, product_id: str) -> Draw | None:
        return self.store.draws.get((session_id, product_id))

    @port_call
    def close_entries(self, session_id: str, product_id: str, at: str) -> None:
        self.store.entries_closed[(session_id, product_id)] = at

    @port_call
    def record(self, draw: Draw, pages: list[list[str]]) -> Draw:
        for number, page in enumerate(pages):
            self.store.draw_pages[(draw.id, number)] = list(page)
        key = (draw.session_id, draw.product_id)
        if key in self.store.draws:  # the conditional put fails: this run's pages go
            for number in range(len(pages)):
                del self.store.draw_pages[(draw.id, number)]
        return self.store.draws.setdefault(key, draw)

    @port_call
    def entrants_page(self, draw: Draw, page: int) -> list[str]:
        return list(self.store.draw_pages.get((draw.id, page), []))

    @port_call
    def mark_allocated(self, draw: Draw, allocated: int) -> None:
        key = (draw.session_id, draw.product_id)
        stored = self.store.draws[key]
        if stored.allocated < allocated:
            self.store.draws[key] = replace(stored, allocated=allocated)

    @port_call
    def finish(self, session_id: str, product_id: str) -> None:
        self.store.draws_finished.add((session_id, product_id))

    @port_call
    def due(self, now: str, limit: int) -> list[tuple[str, str]]:
        due = sorted((item.opens_at, key) for key, item in self.store.lineup.items()
                     if item.mode is DropMode.DRAW and item.opens_at is not None and item.opens_at <= now
                     and key not in self.store.draws_finished)
        return [key for _, key in due[:limit]]


# --- the live layer ----------------------------------------------------------------------------


class FakeLiveRepository(FakeRepository):
    def _claim(self, key: str, now_ms: int, interval_ms: int) -> tuple[bool, int]:
        last = self.store.counters.get(key)
        if last is not None and last > now_ms - interval_ms:
            return False, max(1, last + interval_ms - now_ms)
        self.store.counters[key] = now_ms
        return True, 0

    @port_call
    def claim_send_slot(self, session_id: str, now_ms: int, min_interval_ms: int) -> tuple[bool, int]:
        return self._claim(f"metadata-slot#{session_id}", now_ms, min_interval_ms)

    @port_call
    def claim_ticker(self, session_id: str, product_id: str, now_ms: int, every_ms: int) -> bool:
        return self._claim(f"ticker#{session_id}#{product_id}", now_ms, every_ms)[0]

    @port_call
    def append(self, entry: TimelineEntry) -> TimelineEntry:
        timeline = self.store.timeline[entry.session_id]
        for seq in range(entry.seq, entry.seq + 20):
            if seq not in timeline:
                timeline[seq] = replace(entry, seq=seq)
                return timeline[seq]
        raise Busy("timeline contention; try again")

    @port_call
    def mark_delivery(self, session_id: str, seq: int, delivery: str, sent_at: int | None) -> None:
        timeline = self.store.timeline[session_id]
        if seq in timeline:
            entry = timeline[seq]
            timeline[seq] = replace(entry, delivery=delivery, sent_at=entry.sent_at if sent_at is None else sent_at)

    @port_call
    def timeline(self, session_id: str) -> list[TimelineEntry]:
        return [entry for _, entry in sorted(self.store.timeline[session_id].items())]

    @port_call
    def recent(self, session_id: str, limit: int) -> list[TimelineEntry]:
        return self.timeline(session_id)[-limit:]

    @port_call
    def like(self, session_id: str, now_ms: int, shards: int) -> None:
        key = f"likes#{session_id}#{random.randrange(shards)}"
        self.store.counters[key] = self.store.counters.get(key, 0) + 1

    @port_call
    def likes(self, session_id: str, shards: int) -> int:
        return sum(self.store.counters.get(f"likes#{session_id}#{shard}", 0) for shard in range(shards))


class FakeRateCounters(FakeRepository):
    """Rate windows: a window counts while it has room, as the conditional ADD does."""

    @port_call
    def hit(self, window: Window) -> bool:
        counted = self.store.rate_windows.get(window.key, 0)
        if counted >= window.limit:
            return False
        self.store.rate_windows[window.key] = counted + 1
        return True


# --- queue and draw entries -------------------------------------------------------------------


class FakeEntryRepository(FakeRepository):
    @port_call
    def join(self, session_id: str, product_id: str, shopper_id: str, shards: int, now: str,
             closable: bool = False) -> tuple[Entry, bool]:
        entries = self.store.entries[(session_id, product_id)]
        if shopper_id in entries:
            return entries[shopper_id], False
        if closable and (session_id, product_id) in self.store.entries_closed:
            raise EntriesClosed(product_id, None)
        counter = random.randrange(shards)
        key = (session_id, product_id, counter)
        count = self.store.position_counters[key] = self.store.position_counters.get(key, 0) + 1
        entries[shopper_id] = Entry(session_id, product_id, shopper_id, position_of(count, counter, shards), now)
        return entries[shopper_id], True

    @port_call
    def get(self, session_id: str, product_id: str, shopper_id: str) -> Entry | None:
        return self.store.entries[(session_id, product_id)].get(shopper_id)

    @port_call
    def entrants(self, session_id: str, product_id: str) -> list[str]:
        return list(self.store.entries[(session_id, product_id)])

    @port_call
    def read(self, session_id: str, product_id: str, shopper_id: str, shards: int) -> tuple[Entry | None, QueueState]:
        counts = {k: self.store.position_counters.get((session_id, product_id, k), 0) for k in range(shards)}
        stored = self.store.queues.get((session_id, product_id), QueueState())
        return (self.store.entries[(session_id, product_id)].get(shopper_id),
                replace(stored, issued=highest_position(counts, shards)))

    @port_call
    def record_step(self, session_id: str, product_id: str, before: QueueState, after: QueueState) -> QueueState:
        stored = self.store.queues.get((session_id, product_id), QueueState())
        if stored.last_step_ms != before.last_step_ms or (
                stored.last_step_ms is not None and stored.last_step_ms > after.last_step_ms - STEP_MS):
            return replace(stored, issued=after.issued)
        self.store.queues[(session_id, product_id)] = replace(after, issued=0)
        return after


# --- video, chat, payments ---------------------------------------------------------------------


class FakeChannels(Recorded):
    """IVS channels in memory. `metadata` lists every PutMetadata as (channel, payload, epoch ms
    by the clock); `broadcasting=False` answers as IVS does for an offline channel."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        super().__init__()
        self.clock = clock
        self.broadcasting = True
        self.viewers: dict[str, int] = {}
        self.created: list[Channel] = []
        self.deleted: list[str] = []
        self.stopped: list[str] = []
        self.metadata: list[tuple[str, str, int | None]] = []

    @port_call
    def create(self, session_id: str, brand_id: str, channel_type: str, latency_mode: str,
               recording_configuration_arn: str | None = None) -> Channel:
        channel_id = hashlib.sha256(session_id.encode()).hexdigest()[:12]
        channel = Channel(arn=f"arn:aws:ivs:us-east-1:000000000000:channel/{channel_id}",
                          playback_url=f"https://fake.live-video.net/{channel_id}.m3u8",
                          ingest_endpoint=f"{channel_id}.global-contribute.live-video.net")
        self.created.append(channel)
        return channel

    @port_call
    def delete(self, channel_arn: str) -> None:
        self.deleted.append(channel_arn)

    @port_call
    def stream_key(self, channel_arn: str) -> str:
        return "sk_fake_" + hashlib.sha256(channel_arn.encode()).hexdigest()[:24]

    @port_call
    def stop_stream(self, channel_arn: str) -> bool:
        self.stopped.append(channel_arn)
        return self.broadcasting

    @port_call
    def put_metadata(self, channel_arn: str, payload: str) -> Delivery:
        at = int(self.clock.now().timestamp() * 1000) if self.clock else None
        self.metadata.append((channel_arn, payload, at))
        return Delivery(True) if self.broadcasting else Delivery(False, "channel_not_broadcasting")

    @port_call
    def viewer_count(self, channel_arn: str) -> int | None:
        return self.viewers.get(channel_arn) if self.broadcasting else None


class FakeChat(Recorded):
    def __init__(self) -> None:
        super().__init__()
        self.rooms: list[str] = []
        self.deleted: list[str] = []
        self.tokens: list[tuple[str, str]] = []
        self.deleted_messages: list[tuple[str, str, str | None]] = []
        self.disconnected: list[tuple[str, str, str | None]] = []

    @port_call
    def create_room(self, session_id: str, brand_id: str) -> str:
        room = f"arn:aws:ivschat:us-east-1:000000000000:room/{hashlib.sha256(session_id.encode()).hexdigest()[:12]}"
        self.rooms.append(room)
        return room

    @port_call
    def delete_room(self, room_arn: str) -> None:
        self.deleted.append(room_arn)

    @port_call
    def token(self, room_arn: str, shopper_id: str) -> ChatToken:
        self.tokens.append((room_arn, shopper_id))
        now = datetime.now(timezone.utc)
        return ChatToken("fake-chat-token." + secrets.token_urlsafe(8), now + timedelta(hours=1),
                         now + timedelta(hours=3), "wss://edge.ivschat." + room_arn.split(":")[3] + ".amazonaws.com")

    @port_call
    def delete_message(self, room_arn: str, message_id: str, reason: str | None) -> None:
        self.deleted_messages.append((room_arn, message_id, reason))

    @port_call
    def disconnect_user(self, room_arn: str, user_id: str, reason: str | None) -> None:
        self.disconnected.append((room_arn, user_id, reason))


class FakePaymentGateway(Recorded):
    """PaymentIntents in memory, moving as Stripe's do with manual capture. `requests` lists every
    call with its idempotency key; `authorize(id)` / `decline(id)` / `set_status(id, status)` move
    an intent as the shopper's browser or the provider would; `fail_next(method, PaymentUnavailable())`
    makes the next call fail, and `lose_next(method)` makes it happen at the provider and then fail
    (the answer lost on its way back)."""
    name = "stripe"
    publishable_key = "pk_test_fake"

    def __init__(self, confirms_in_browser: bool = True) -> None:
        super().__init__()
        self.confirms_in_browser = confirms_in_browser
        self.intents: dict[str, Intent] = {}
        self.requests: list[tuple[str, str]] = []  # (method, idempotency key or intent id)
        self.refunds: dict[str, str] = {}          # intent id -> refund id
        self.events_secret = "whsec_fake"
        self._lose: set[str] = set()

    def lose_next(self, method: str) -> None:
        self._lose.add(method)

    def _done(self, method: str, result):
        if method in self._lose:
            self._lose.discard(method)
            raise PaymentUnavailable(f"{method}: the answer was lost")
        return result

    def _set(self, intent_id: str, **changes) -> Intent:
        self.intents[intent_id] = replace(self.intents[intent_id], **changes)
        return self.intents[intent_id]

    def authorize(self, intent_id: str) -> Intent:
        """As Stripe.js confirming: refused once the intent is cancelled or captured, as Stripe refuses."""
        with self.lock:
            if self.intents[intent_id].status in (IntentStatus.CANCELLED, IntentStatus.CAPTURED):
                raise IntentStateConflict(self.intents[intent_id])
            return self._set(intent_id, status=IntentStatus.AUTHORIZED, failure=None)

    def decline(self, intent_id: str) -> Intent:
        with self.lock:
            return self._set(intent_id, status=IntentStatus.FAILED, failure="card_declined")

    def set_status(self, intent_id: str, status: IntentStatus) -> Intent:
        with self.lock:
            return self._set(intent_id, status=status)

    def captured(self) -> list[str]:
        return [i.id for i in self.intents.values() if i.status is IntentStatus.CAPTURED]

    def create_intent(self, order: Order, attempt: int) -> Intent:
        self._enter("create_intent")
        with self.lock:
            key = f"livedrop:{order.id}:{attempt}:create"
            self.requests.append(("create_intent", key))
            intent_id = "pi_" + hashlib.sha256(key.encode()).hexdigest()[:16]
            if intent_id not in self.intents:
                self.intents[intent_id] = Intent(intent_id, order.id, attempt, IntentStatus.PENDING, order.total.amount,
                                                 order.total.currency, client_secret=f"{intent_id}_secret_x")
            return self._done("create_intent", self.intents[intent_id])

    def confirm(self, intent_id: str, payment_method: str, order_id: str, attempt: int) -> Intent:
        self._enter("confirm")
        with self.lock:
            self.requests.append(("confirm", f"livedrop:{order_id}:{attempt}:confirm"))
            intent = self.intents[intent_id]
            if intent.status not in (IntentStatus.PENDING, IntentStatus.FAILED):
                raise IntentStateConflict(intent)
            if payment_method in ("ok", "pm_card_visa"):
                return self._done("confirm", self._set(intent_id, status=IntentStatus.AUTHORIZED, failure=None))
            return self._done("confirm", self._set(intent_id, status=IntentStatus.FAILED, failure="card_declined"))

    def retrieve(self, intent_id: str) -> Intent:
        self._enter("retrieve")
        with self.lock:
            if intent_id not in self.intents:
                raise PaymentRefused("resource_missing", "no such intent")
            return self.intents[intent_id]

    def capture(self, intent_id: str, order_id: str, attempt: int) -> Intent:
        self._enter("capture")
        with self.lock:
            self.requests.append(("capture", f"livedrop:{order_id}:{attempt}:capture"))
            intent = self.intents[intent_id]
            if intent.status is IntentStatus.CAPTURED:
                return intent
            if intent.status is not IntentStatus.AUTHORIZED:
                raise IntentStateConflict(intent)
            return self._done("capture", self._set(intent_id, status=IntentStatus.CAPTURED))

    def cancel(self, intent_id: str, order_id: str, attempt: int) -> Intent:
        self._enter("cancel")
        with self.lock:
            self.requests.append(("cancel", f"livedrop:{order_id}:{attempt}:cancel"))
            intent = self.intents[intent_id]
            if intent.status is IntentStatus.CANCELLED:
                return intent
            if intent.status in (IntentStatus.CAPTURED, IntentStatus.PROCESSING):
                raise IntentStateConflict(intent)
            return self._done("cancel", self._set(intent_id, status=IntentStatus.CANCELLED))

    def refund(self, intent_id: str, order_id: str, amount: int) -> str:
        self._enter("refund")
        with self.lock:
            self.requests.append(("refund", f"livedrop:{order_id}:{intent_id}:refund"))
            if self.intents[intent_id].status is not IntentStatus.CAPTURED:
                raise IntentStateConflict(self.intents[intent_id])
            return self._done("refund", self.refunds.setdefault(intent_id, "re_" + secrets.token_hex(6)))

    def verify_event(self, body: bytes, signature: str | None) -> ProviderEvent:
        self._enter("verify_event")
        if signature != "good":
            raise EventRejected("no valid signature")
        event = json.loads(body)
        return ProviderEvent(event["id"], event["type"], event["data"]["object"]["id"])



class FakeAnalyticsRepository:
    """The analytics table in memory, with the DynamoDB adapter's promises: a record's change is
    applied once, likes keep the highest count per shard and minute, the first viewer sample of a
    minute stays, and the first attribution fixed stays."""

    def __init__(self) -> None:
        self.applied: set[str] = set()
        self.figures: dict[str, Aggregates] = defaultdict(Aggregates)
        self.paid_by_buyer: Counter[tuple[str, str, str]] = Counter()
        self.pending: set[str] = set()
        self.lock = threading.Lock()

    def attribution(self, session_id: str) -> Attribution | None:
        return self.figures[session_id].attribution

    def fix_attribution(self, session_id: str, attribution: Attribution) -> Attribution:
        figures = self.figures[session_id]
        figures.attribution = figures.attribution or attribution
        return figures.attribution

    def apply(self, session_id: str, changes: Iterable[AppliedChange]) -> int:
        applied = 0
        with self.lock:
            figures = self.figures[session_id]
            for change in changes:
                if not change.delta or change.record_id in self.applied:
                    continue
                self.applied.add(change.record_id)
                applied += 1
                for (row, name), value in change.delta.items():
                    if row[0] != "buyer":
                        figures.cells[(row, name)] += value
                        continue
                    key = (session_id, row[1], row[2])
                    before = self.paid_by_buyer[key]
                    self.paid_by_buyer[key] += value
                    if (before > 0) != (self.paid_by_buyer[key] > 0):
                        figures.buyers[row[1]] += 1 if self.paid_by_buyer[key] > 0 else -1
        return applied

    def record_likes(self, counts: Iterable[LikeCount]) -> None:
        for like in counts:
            shards = self.figures[like.session_id].likes.setdefault(like.at_ms // 60_000, {})
            shards[like.shard] = max(shards.get(like.shard, 0), like.count)

    def record_viewers(self, session_id: str, minute: int, viewers: int) -> bool:
        samples = self.figures[session_id].viewers
        if minute in samples:
            return False
        samples[minute] = viewers
        return True

    def aggregates(self, session_id: str) -> Aggregates:
        return copy.deepcopy(self.figures[session_id])

    def summaries(self, session_ids: Iterable[str]) -> dict[str, Aggregates]:
        return {session_id: self.aggregates(session_id) for session_id in session_ids}

    def mark_unsettled(self, session_id: str) -> None:
        self.pending.add(session_id)

    def unsettled(self) -> list[str]:
        return sorted(self.pending)

    def finalize(self, session_id: str, at: str) -> None:
        figures = self.figures[session_id]
        figures.finalized_at = figures.finalized_at or at
        self.pending.discard(session_id)

    def is_final(self, session_id: str) -> bool:
        return self.figures[session_id].finalized_at is not None

    def replace_figures(self, session_id: str, cells, buyers) -> None:
        figures = self.figures[session_id]
        figures.cells = Counter({cell: value for cell, value in cells.items() if value and cell[0][0] != "buyer"})
        figures.buyers = Counter(buyers)


class PassThroughRecords:
    """A fake stream carries the decoded values already: OrderChange, LikeCount, ended session ids."""

    @staticmethod
    def order_changes(records: list[Any]) -> list[Any]:
        return list(records)

    @staticmethod
    def like_counts(records: list[Any]) -> list[Any]:
        return list(records)

    @staticmethod
    def ended_sessions(records: list[Any]) -> list[Any]:
        return list(records)


# --- webhooks -----------------------------------------------------------------------------------


class FakeWebhookRepository:
    """Endpoints and the deliveries outbox in memory, with the DynamoDB adapter's conditions."""

    def __init__(self) -> None:
        self.endpoints: dict[tuple[str, str], Any] = {}
        self.deliveries: dict[tuple[str, str], Any] = {}
        self.lock = threading.Lock()

    def add_endpoint(self, endpoint: Any) -> None:
        self.endpoints[(endpoint.brand_id, endpoint.id)] = endpoint

    def get_endpoint(self, brand_id: str, endpoint_id: str) -> Any:
        return self.endpoints.get((brand_id, endpoint_id))

    def list_endpoints(self, brand_id: str, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
        mine = self.endpoints_of(brand_id)
        start = int(cursor or 0)
        return mine[start:start + limit], str(start + limit) if start + limit < len(mine) else None

    def endpoints_of(self, brand_id: str) -> list[Any]:
        return sorted((e for (b, _), e in self.endpoints.items() if b == brand_id), key=lambda e: e.id)

    def update_endpoint(self, brand_id: str, endpoint_id: str, changes: Mapping[str, Any], at: str) -> Any:
        endpoint = self.endpoints.get((brand_id, endpoint_id))
        if endpoint is None:
            raise NotFound("webhook", endpoint_id)
        endpoint = replace(endpoint, **changes, updated_at=at)
        self.endpoints[(brand_id, endpoint_id)] = endpoint
        return endpoint

    def delete_endpoint(self, brand_id: str, endpoint_id: str) -> bool:
        return self.endpoints.pop((brand_id, endpoint_id), None) is not None

    def add_deliveries(self, deliveries: Iterable[Any]) -> int:
        added = 0
        with self.lock:
            for delivery in deliveries:
                key = (delivery.endpoint_id, delivery.id)
                if key not in self.deliveries:
                    self.deliveries[key] = delivery
                    added += 1
        return added

    def due(self, now_ms: int, limit: int) -> list[Any]:
        due = [d for d in self.deliveries.values()
               if d.status == "pending" and d.next_attempt_ms is not None and d.next_attempt_ms <= now_ms]
        return sorted(due, key=lambda d: d.next_attempt_ms)[:limit]

    def claim(self, delivery: Any, now_ms: int, lease_until_ms: int, lease: str) -> Any:
        from chalicelib.domain.clock import iso_of_ms

        with self.lock:
            key = (delivery.endpoint_id, delivery.id)
            current = self.deliveries.get(key)
            if (current is None or current.status != "pending" or current.next_attempt_ms is None
                    or current.next_attempt_ms > now_ms or current.attempts != delivery.attempts):
                return None
            current = replace(current, attempts=current.attempts + 1, lease=lease, last_attempt_at=iso_of_ms(now_ms),
                              next_attempt_ms=lease_until_ms)
            self.deliveries[key] = current
            return current

    def finish(self, delivery: Any, lease: str, status: str, next_attempt_ms: int | None,
               response_code: int | None, error: str | None) -> bool:
        with self.lock:
            key = (delivery.endpoint_id, delivery.id)
            current = self.deliveries.get(key)
            if current is None or current.lease != lease:
                return False
            self.deliveries[key] = replace(current, status=status, next_attempt_ms=next_attempt_ms, lease=None,
                                           last_response_code=response_code, last_error=error)
            return True

    def get_delivery(self, endpoint_id: str, delivery_id: str) -> Any:
        return self.deliveries.get((endpoint_id, delivery_id))

    def list_deliveries(self, endpoint_id: str, limit: int, cursor: str | None,
                        status: str | None = None) -> tuple[list[Any], str | None]:
        mine = sorted((d for (e, _), d in self.deliveries.items() if e == endpoint_id and status in (None, d.status)),
                      key=lambda d: (d.created_at, d.id), reverse=True)
        start = int(cursor or 0)
        return mine[start:start + limit], str(start + limit) if start + limit < len(mine) else None

    def defer(self, delivery: Any, until_ms: int) -> bool:
        with self.lock:
            key = (delivery.endpoint_id, delivery.id)
            current = self.deliveries.get(key)
            if (current is None or current.status != "pending" or current.lease is not None
                    or current.attempts != delivery.attempts):
                return False
            self.deliveries[key] = replace(current, next_attempt_ms=until_ms)
            return True

    def requeue(self, endpoint_id: str, delivery_id: str, due_ms: int, manual: bool) -> Any:
        with self.lock:
            current = self.deliveries.get((endpoint_id, delivery_id))
            if current is None or current.lease is not None:
                return None
            current = replace(current, status="pending", next_attempt_ms=due_ms, manual=manual)
            self.deliveries[(endpoint_id, delivery_id)] = current
            return current


class FakeSecretBox:
    """Reversible, and bound to its context as KMS's encryption context binds a ciphertext."""

    def encrypt(self, plaintext: str, context: Mapping[str, str]) -> str:
        return "enc:" + repr(sorted(context.items())) + ":" + plaintext

    def decrypt(self, ciphertext: str, context: Mapping[str, str]) -> str:
        prefix = "enc:" + repr(sorted(context.items())) + ":"
        if not ciphertext.startswith(prefix):
            raise ValueError("another context")
        return ciphertext[len(prefix):]


class FakeWebhookSender:
    """Answers each POST with the next scripted result for its URL (else 204), and keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        self.script: dict[str, list[Any]] = defaultdict(list)
        self.refused: dict[str, str] = {}

    def answer(self, url: str, *results: Any) -> None:
        self.script[url] += list(results)

    def refusal(self, url: str) -> str | None:
        return self.refused.get(url)

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Any:
        from chalicelib.domain.ports import SendResult

        self.calls.append((url, dict(headers), body))
        return self.script[url].pop(0) if self.script[url] else SendResult(204)


class PassThroughWebhookRecords:
    """A fake stream carries decoded values already: (old, new) orders and sessions, timeline entries."""

    @staticmethod
    def orders(records: list[Any]) -> list[Any]:
        return list(records)

    @staticmethod
    def sessions(records: list[Any]) -> list[Any]:
        return list(records)

    @staticmethod
    def timeline(records: list[Any]) -> list[Any]:
        return list(records)


class FakeIdentityTokens:
    """An identity provider whose ID tokens are opaque strings it handed out (`issue`); any other
    string, or one past its expiry, is refused as the Cognito adapter refuses it."""

    def __init__(self, issuer: str = "https://idp.example/pool") -> None:
        self.issuer = issuer
        self.tokens: dict[str, tuple[str, int]] = {}

    def issue(self, subject: str, expires: int) -> str:
        token = "idt_" + secrets.token_hex(8)
        self.tokens[token] = (subject, expires)
        return token

    def verify(self, id_token: str, now: int) -> Any:
        from chalicelib.domain.errors import Unauthorized
        from chalicelib.domain.ports import VerifiedIdentity

        subject, expires = self.tokens.get(id_token, ("", 0))
        if not subject or expires <= now:
            raise Unauthorized("not a valid ID token")
        return VerifiedIdentity(self.issuer, subject)


# --- wiring ------------------------------------------------------------------------------------


class Ports(dict):
    """The ports by name (as bootstrap.build takes them), also readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def fake_ports(clock: FakeClock | None = None) -> Ports:
    """A fake for every name in bootstrap.PORTS, the repositories sharing one store."""
    clock = clock or FakeClock()
    store = FakeStore()
    return Ports(
        clock=clock, store=store,
        brands=FakeBrandRepository(store), products=FakeProductRepository(store),
        sessions=FakeSessionRepository(store), lineup=FakeLineupRepository(store), draws=FakeDrawRepository(store),
        stock=FakeStockRepository(store), orders=FakeOrderRepository(store), live=FakeLiveRepository(store),
        channels=FakeChannels(clock), chat=FakeChat(), payment_gateway=FakePaymentGateway(),
        operator_key=lambda: "op", shopper_token_secret=lambda: "fake-shopper-secret",
        stock_changes=lambda records: list(records),  # a fake stream carries StockChange values already
        analytics=FakeAnalyticsRepository(), analytics_records=PassThroughRecords(),
        webhooks=FakeWebhookRepository(), secret_box=FakeSecretBox(), webhook_sender=FakeWebhookSender(),
        webhook_records=PassThroughWebhookRecords(), rate_counters=FakeRateCounters(store),
        identity_tokens=FakeIdentityTokens(), entries=FakeEntryRepository(store),
    )


def fake_services(clock: FakeClock | None = None, rate_limits: str | None = None, **replace_ports: Any):
    """(services, ports): the services built by bootstrap.build on fakes only, nothing real built.
    `fake_services(**ports)` builds another container on the same ports (a cold memory, the same store).
    Rate limits are the suite's generous ones unless `rate_limits` says (LIVEDROP_RATE_LIMITS: "" is
    the defaults)."""
    from chalicelib import bootstrap
    from chalicelib.settings import Settings
    from tests.conftest import GENEROUS_RATE_LIMITS

    clock = clock or replace_ports.pop("clock", None) or FakeClock()
    replace_ports.pop("clock", None)
    ports = Ports({**fake_ports(clock), **replace_ports, "clock": clock})
    wired = {name: ports[name] for name in bootstrap.PORTS}
    assert set(wired) == bootstrap.PORTS  # all overridden: build makes no real adapter
    settings = Settings.from_env({"LIVEDROP_STAGE": "fake",
                                  "LIVEDROP_RATE_LIMITS": GENEROUS_RATE_LIMITS if rate_limits is None else rate_limits})
    return bootstrap.build(settings, **wired), ports


# --- scenes: a brand, a show and its drops, through the services -------------------------------


@dataclass(frozen=True)
class Drop:
    brand_id: str
    session_id: str
    product_id: str
    quantity: int


def new_show(services: Any, hold_seconds: int = 600) -> tuple[str, str]:
    """(brand id, session id) of a scheduled show."""
    brand, _ = services.brands.create("Acme")
    return brand.id, services.sessions.schedule(brand.id, "Friday drop", None, hold_seconds=hold_seconds).id


def add_drop(services: Any, brand_id: str, session_id: str, quantity: int = 10, shards: int = 1,
             per_customer_limit: int | None = None, opens_at: str | None = None, title: str = "Hoodie",
             **drop: Any) -> Drop:
    """A drop in the show; `drop`: more of add_to_lineup's settings (mode, verified_only, hold_seconds)."""
    product = services.catalog.create(brand_id, title, None, Money(4900, "EUR"), quantity, ())
    services.sessions.add_to_lineup(brand_id, session_id, product.id, None, quantity, per_customer_limit,
                                 opens_at=opens_at, shards=shards, **drop)
    return Drop(brand_id, session_id, product.id, quantity)


def open_drop(services: Any, quantity: int = 10, shards: int = 1, per_customer_limit: int | None = None,
              hold_seconds: int = 600, start: bool = True) -> Drop:
    """A show with one drop, live unless `start=False`."""
    brand_id, session_id = new_show(services, hold_seconds)
    drop = add_drop(services, brand_id, session_id, quantity, shards, per_customer_limit)
    if start:
        services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    return drop


def buy(services: Any, shopper_id: str, session_id: str, items: dict[str, int], key: str | None = None,
        verified: bool = False, admission: str | None = None):
    """(order, replayed) for {product id: quantity}, with the body the API would hash."""
    from chalicelib.services.checkout import Buyer, CheckoutLine

    body = {"sessionId": session_id, "items": [{"productId": p, "quantity": q} for p, q in items.items()]}
    return services.checkout.reserve(Buyer(shopper_id, verified=verified, admission=admission),
                                     key or secrets.token_hex(8), session_id,
                                     [CheckoutLine(p, q) for p, q in items.items()], body)


def conservation(ports: Ports, drop: Drop) -> tuple[int, int]:
    """(units left over all shards, units held by reserved, paying and paid orders)."""
    from chalicelib.domain.drops import HOLDING

    store: FakeStore = ports.store
    with store.lock:
        left = sum(row.left for row in store.shards.values()
                   if row.session_id == drop.session_id and row.product_id == drop.product_id)
        held = sum(line.quantity for row in store.orders.values()
                   if row.order.session_id == drop.session_id and row.order.status in HOLDING
                   for line in row.order.lines if line.product_id == drop.product_id)
    return left, held
