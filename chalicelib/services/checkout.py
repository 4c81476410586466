"""Checkout: reserving a drop's units for a shopper, cancelling, and releasing expired
reservations (paying is services/payments.py). Every unit is sold exactly once; the rules live in the one conditional transaction
behind `OrderRepository.reserve`, and this module decides what to try and what to answer.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Callable

from chalicelib.domain import draws
from chalicelib.domain.clock import epoch_ms, to_iso
from chalicelib.domain.drops import (
    MAX_TRANSACTION_ITEMS, OPEN, DropMode, OrderStatus, drop_state, is_order_id, order_id_for, plan_take,
    request_hash, split, transaction_items,
)
from chalicelib.domain.errors import (
    AdmissionRequired, Busy, DropByDraw, DropClosed, DropNotOpen, HoldLimitReached, IdempotencyKeyReused,
    InvalidInput, LimitExceeded, NotFound, OrderNotCancellable, OrderTooLarge, SoldOut, VerificationRequired,
)
from chalicelib.domain.money import MAX_AMOUNT, Money
from chalicelib.domain.ports import (
    Clock, LineupRepository, OrderNotReleasable,
    OrderRepository, ReservationRefused, StockRepository,
)
from chalicelib.domain.rate_limits import Window
from chalicelib.domain.records import LineupItem, Order, OrderLine
from chalicelib.services.rate_limits import RateLimiter

MAX_PLANS = 8                  # plans one checkout may try as stock moves under it (conflicts are retried below)
READ_AFTER_REFUSALS = 2        # after this many refused plans, read every shard before planning again
SOLD_OUT_MEMORY_SECONDS = 2.0  # how long a container trusts what it saw of a drop's shards
REFUSAL_MEMORY_SECONDS = 5.0   # how long a refusal may come from cached lineup items alone


class DropConfigs:
    """Lineup items by session, then product, kept per container, so that a warm checkout reads
    nothing before its one write. What checkout reads from an item (price, limit) may change
    before the drop opens: each change raises the item's revision and its shards', a checkout's
    take is conditioned on the revision it priced from, and a shard that refuses at another
    revision makes checkout `forget` the session's items and read them again. A refusal made from
    the items alone (no shard asked) reads them again first if they are older than
    REFUSAL_MEMORY_SECONDS (`older_than`), so a drop made open to all is not refused for long."""

    def __init__(self, lineup: LineupRepository, clock: Clock | None = None) -> None:
        self.lineup = lineup
        self.clock = clock
        self._items: dict[str, tuple[dict[str, LineupItem], float]] = {}

    def get(self, session_id: str, product_ids: list[str]) -> dict[str, LineupItem | None]:
        cached = self._items.get(session_id)
        if cached is None or any(p not in cached[0] for p in product_ids):
            items = {item.product_id: item for item in self.lineup.list_for_session(session_id)}
            # One assignment: other threads see the old or the new.
            self._items[session_id] = (items, self.clock.monotonic() if self.clock else 0.0)
        else:
            items = cached[0]
        return {p: items.get(p) for p in product_ids}

    def older_than(self, session_id: str, seconds: float) -> bool:
        cached = self._items.get(session_id)
        return cached is not None and self.clock is not None and self.clock.monotonic() - cached[1] >= seconds

    def forget(self, session_id: str) -> None:
        self._items.pop(session_id, None)


class ShardLevels:
    """What this container has seen of each shard's units left, and when (the sold-out fast path)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._seen: dict[tuple[str, str, int], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def note(self, drop: LineupItem, shard: int, left: int) -> None:
        with self._lock:
            self._seen[(drop.session_id, drop.product_id, shard)] = (left, self.clock.monotonic())

    def took(self, drop: LineupItem, shard: int, units: int) -> None:
        with self._lock:
            key = (drop.session_id, drop.product_id, shard)
            if key in self._seen:
                left, _ = self._seen[key]
                self._seen[key] = (max(left - units, 0), self.clock.monotonic())

    def known(self, drop: LineupItem, fresh_only: bool) -> dict[int, int | None]:
        now = self.clock.monotonic()
        with self._lock:
            levels: dict[int, int | None] = {}
            for shard in range(drop.shards):
                seen = self._seen.get((drop.session_id, drop.product_id, shard))
                fresh = seen is not None and now - seen[1] < SOLD_OUT_MEMORY_SECONDS
                levels[shard] = seen[0] if seen is not None and (fresh or not fresh_only) else None
            return levels


@dataclass(frozen=True)
class CheckoutLine:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class Buyer:
    """Who reserves, as their token says (no read): the shopper, whether a verified identity
    minted the token, the queue admission they send, and whether the reservation is a draw's."""
    shopper_id: str
    verified: bool = False
    admission: str | None = None
    won: bool = False


# (admission token, shopper, session, product) -> whether it admits them now; no I/O (domain/admissions.py).
Admits = Callable[[str, str, str, str], bool]


class Checkout:
    def __init__(self, orders: OrderRepository, stock: StockRepository, lineup: LineupRepository,
                 session_owner: Callable[[str, str], object], clock: Clock, hold_cap: int | None = None,
                 admits: Admits | None = None, limiter: RateLimiter | None = None) -> None:
        self.session_owner = session_owner  # raises NotFound unless the brand owns the session
        self.limiter = limiter  # its `order` rule is counted inside the reservation's transaction
        self.hold_cap = hold_cap  # unpaid orders one shopper may hold per session (None: no cap)
        self.admits: Admits = admits or (lambda token, shopper, session, product: False)
        self.orders = orders
        self.stock = stock
        self.drops = DropConfigs(lineup, clock)
        self.levels = ShardLevels(clock)
        self.clock = clock

    # --- reserve ---------------------------------------------------------------------------

    def reserve(self, buyer: Buyer, idempotency_key: str, session_id: str, lines: list[CheckoutLine],
                body_for_hash: dict[str, object]) -> tuple[Order, bool]:
        """(order, replayed). Raises the refusals a buyer can meet; a retry of an order that was
        made (same key, same body) gets that order back, whatever the drop's state now."""
        shopper_id = buyer.shopper_id
        order_id = order_id_for(shopper_id, idempotency_key)
        fingerprint = request_hash(body_for_hash)
        try:
            return self._reserve(order_id, fingerprint, buyer, session_id, lines), False
        except (SoldOut, DropClosed, DropNotOpen, LimitExceeded, OrderTooLarge, NotFound, HoldLimitReached,
                DropByDraw, AdmissionRequired, VerificationRequired) as refusal:
            # Not RateLimited: the transaction that found the window full names the order too, if
            # it exists (DynamoDB gives a reason per item), and was answered as a replay first.
            # Perhaps this is a retry of a reservation that was made (even by a request racing
            # this one): one consistent read of the buyer's own order (no write, no hot item) tells.
            existing = self.orders.get(order_id)
            if existing is None or existing.shopper_id != shopper_id:
                raise refusal
            return self._replayed(existing, fingerprint), True
        except _Replay as replay:
            return replay.order, True

    def reserve_for_winner(self, shopper_id: str, session_id: str, product_id: str) -> tuple[Order, bool]:
        """One unit of a draw drop reserved for a winner: the same transaction as any order, under
        an idempotency key of the draw's own, so allocating again after a crash makes no second order."""
        return self.reserve(Buyer(shopper_id, won=True), draws.winner_key(session_id, product_id), session_id,
                            [CheckoutLine(product_id, 1)], {"draw": product_id})

    def _reserve(self, order_id: str, fingerprint: str, buyer: Buyer, session_id: str,
                 lines: list[CheckoutLine]) -> Order:
        shopper_id = buyer.shopper_id
        now = self.clock.now()
        now_iso = to_iso(now)
        drops: dict[str, LineupItem] | None = None
        # The draw's own reservations are not the shopper's requests: not counted.
        rate = self.limiter.window("order", shopper_id) if self.limiter and not buyer.won else None
        for attempt in range(MAX_PLANS):
            if drops is None:
                # Priced from the lineup as this container knows it (no read when warm); a shard
                # at another revision refuses the take, and the lineup is then read again.
                drops, total = self._priced(session_id, lines, now_iso, buyer)
            plans = self._plan_all(lines, drops, read_first=attempt >= READ_AFTER_REFUSALS)
            order = Order(
                id=order_id, shopper_id=shopper_id, session_id=session_id,
                brand_id=next(iter(drops.values())).brand_id, status=OrderStatus.RESERVED,
                lines=tuple(OrderLine(product_id=line.product_id, quantity=line.quantity,
                                      unit_price=drops[line.product_id].price, shards=plan,
                                      counted=drops[line.product_id].per_customer_limit is not None)
                            for line, plan in zip(lines, plans, strict=True)),
                total=total, request_hash=fingerprint, created_at=now_iso,
                expires_at=epoch_ms(now) // 1000 + min(d.hold_seconds for d in drops.values()),
                version=1,  # its first write; each later one raises it
            )
            try:
                self.orders.reserve(order, {p: d.per_customer_limit for p, d in drops.items()}, now_iso,
                                    {p: d.revision for p, d in drops.items()},
                                    hold_cap=None if buyer.won else self.hold_cap,  # a won unit is not hoarded
                                    rate=rate)
            except ReservationRefused as refusal:
                if self._explain(refusal, drops, fingerprint, now_iso, order, rate) == "stale":
                    self.drops.forget(session_id)
                    drops = None
                continue
            for line, plan in zip(lines, plans, strict=True):
                for shard, units in plan.items():
                    self.levels.took(drops[line.product_id], shard, units)
            return order
        raise Busy("the drop's stock kept moving under this order; retry with the same Idempotency-Key")

    def _priced(self, session_id: str, lines: list[CheckoutLine], now: str,
                buyer: Buyer) -> tuple[dict[str, LineupItem], Money]:
        """The order's drops and total, after what can be refused without a request."""
        drops = self._drops_for(session_id, lines)
        try:
            for drop in drops.values():
                self._refuse_buyer(drop, buyer, session_id, alone=len(lines) == 1)
        except (VerificationRequired, DropByDraw, AdmissionRequired):
            if not self.drops.older_than(session_id, REFUSAL_MEMORY_SECONDS):
                raise
            self.drops.forget(session_id)  # the drop may have changed since: read it again, once
            drops = self._drops_for(session_id, lines)
            for drop in drops.values():
                self._refuse_buyer(drop, buyer, session_id, alone=len(lines) == 1)
        currency = self._one_currency(drops)
        total = sum(drops[line.product_id].price.amount * line.quantity for line in lines)
        if total > MAX_AMOUNT:
            raise OrderTooLarge(f"the order's total exceeds the largest amount an order may hold ({MAX_AMOUNT} minor units)")
        for line in lines:
            self._refuse_without_writing(drops[line.product_id], line.quantity, now)
        return drops, Money(total, currency)

    def _drops_for(self, session_id: str, lines: list[CheckoutLine]) -> dict[str, LineupItem]:
        drops = self.drops.get(session_id, [line.product_id for line in lines])
        for index, line in enumerate(lines):
            if drops[line.product_id] is None:
                raise NotFound("product", line.product_id, field=f"items.{index}.productId",
                               detail=f"product {line.product_id} is not in session {session_id}'s lineup")
        return drops  # type: ignore[return-value]

    @staticmethod
    def _one_currency(drops: dict[str, LineupItem]) -> str:
        currencies = {drop.price.currency for drop in drops.values()}
        if len(currencies) > 1:
            raise InvalidInput("an order is paid in one currency; these items are priced in several",
                               [{"field": "items", "message": f"currencies {sorted(currencies)}"}])
        return currencies.pop()

    def _refuse_buyer(self, drop: LineupItem, buyer: Buyer, session_id: str, alone: bool) -> None:
        """Who may reserve this drop, from the drop and the buyer's token alone (no request)."""
        if drop.verified_only and not buyer.verified and not buyer.won:
            raise VerificationRequired(drop.product_id)
        if buyer.won:
            return
        if drop.mode is DropMode.DRAW:
            raise DropByDraw(drop.product_id)
        if drop.mode is DropMode.QUEUE:
            if not alone:
                raise InvalidInput.of("items", "a queue drop is ordered on its own, with its admission")
            if not buyer.admission or not self.admits(buyer.admission, buyer.shopper_id, session_id, drop.product_id):
                raise AdmissionRequired(drop.product_id)

    def _refuse_without_writing(self, drop: LineupItem, quantity: int, now: str) -> None:
        """What can be refused from what this container already knows: no request at all."""
        if drop.per_customer_limit is not None and quantity > drop.per_customer_limit:
            raise LimitExceeded(drop.product_id, drop.per_customer_limit)
        state = drop_state(now, drop.opens_at or now, drop.closes_at)
        if drop.opens_at is not None and state == "not_open":
            raise DropNotOpen(drop.product_id, drop.opens_at)
        if state == "closed":
            raise DropClosed(drop.product_id, drop.closes_at)
        fresh = self.levels.known(drop, fresh_only=True)
        if None not in fresh.values() and sum(fresh.values()) < quantity:  # type: ignore[arg-type]
            raise SoldOut(drop.product_id, sum(fresh.values()))  # type: ignore[arg-type]

    def _plan_all(self, lines: list[CheckoutLine], drops: dict[str, LineupItem], read_first: bool) -> list[dict[int, int]]:
        """A plan per line, within one transaction's item limit. Planned from what this container
        knows (and each shard's ceiling), or from a fresh read of every shard when asked or when
        a plan from guesses would not fit in one transaction."""
        counted = sum(1 for line in lines if drops[line.product_id].per_customer_limit is not None)
        plans = None if read_first else [self._plan(drops[line.product_id], line.quantity, fresh=False)
                                          for line in lines]
        if plans is None or transaction_items([len(p) for p in plans], counted) > MAX_TRANSACTION_ITEMS:
            self._read_levels([drops[line.product_id] for line in lines])
            plans = [self._plan(drops[line.product_id], line.quantity, fresh=True) for line in lines]
        if transaction_items([len(p) for p in plans], counted) > MAX_TRANSACTION_ITEMS:
            raise OrderTooLarge(
                f"this order would take units from {sum(map(len, plans))} stock shards, more than one "
                f"transaction holds ({MAX_TRANSACTION_ITEMS} items); order fewer units or products at once")
        return plans

    def _plan(self, drop: LineupItem, quantity: int, fresh: bool) -> dict[int, int]:
        ceilings = split(drop.quantity, drop.shards)
        plan = plan_take(quantity, self.levels.known(drop, fresh_only=False), ceilings)
        if plan is None and not fresh:
            # Every shard was seen short: read them all once before telling anyone it is sold out.
            self._read_levels([drop])
            plan = plan_take(quantity, self.levels.known(drop, fresh_only=False), ceilings)
        if plan is None:
            raise SoldOut(drop.product_id, sum(level or 0 for level in self.levels.known(drop, fresh_only=False).values()))
        return plan

    def _read_levels(self, drops: list[LineupItem]) -> None:
        stock = self.stock.levels(drops)
        for drop in drops:
            levels = stock[drop.product_id].left if drop.product_id in stock else {}
            for shard in range(drop.shards):
                self.levels.note(drop, shard, levels.get(shard, 0))

    @staticmethod
    def _replayed(existing: Order, fingerprint: str) -> Order:
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        return existing

    def _explain(self, refusal: ReservationRefused, drops: dict[str, LineupItem], fingerprint: str,
                 now: str, order: Order, rate: Window | None) -> str | None:
        """Turn a refusal into a replay or an answer (raised), or learn from it and return (try
        again): "stale" when a shard is at another revision than the item the order was priced
        from (the lineup changed: read it again before anything else is answered from it)."""
        if refusal.existing_order is not None:
            raise _Replay(self._replayed(refusal.existing_order, fingerprint))
        if any(short.revision is not None and short.revision != drops[short.product_id].revision
               for short in refusal.short_shards):
            return "stale"
        for product_id, bought in refusal.limit_reached:
            raise LimitExceeded(product_id, drops[product_id].per_customer_limit or 0, bought)
        for short in refusal.short_shards:
            if short.left is None:
                raise NotFound("product", short.product_id, field="items",
                               detail=f"product {short.product_id} has no stock in this session")
            state = drop_state(now, short.opens_at, short.closes_at)
            if state == "not_open":
                raise DropNotOpen(short.product_id, short.opens_at)
            if state == "closed":
                raise DropClosed(short.product_id, short.closes_at)
            self.levels.note(drops[short.product_id], short.shard, short.left)
        if refusal.open_orders is not None:
            self._at_hold_cap(order, refusal.open_orders)
        if refusal.rate_refused and rate is not None and self.limiter is not None:
            raise self.limiter.refused("order", rate)
        return None

    def _at_hold_cap(self, order: Order, listed: tuple[str, ...]) -> None:
        """The hold cap refused: paid orders stay listed until now (the payment's write does not
        touch the list), and so do reservations past their time that the sweep has not released
        yet; take those off and try again. If all are still open, refuse. Only a shopper at the
        cap pays these reads."""
        now = epoch_ms(self.clock.now()) // 1000
        closed = [order_id for order_id in listed
                  if (found := self.orders.get(order_id)) is None or found.status not in OPEN
                  or (found.status is OrderStatus.RESERVED and found.expires_at <= now)]
        if not closed:
            raise HoldLimitReached(len(listed), self.hold_cap or 0)
        self.orders.forget_open(order.session_id, order.shopper_id, closed)

    # --- after the reservation -------------------------------------------------------------

    def order_for(self, order_id: str, shopper_id: str | None = None, brand_id: str | None = None) -> Order:
        """The order, for its shopper or for the brand that sold it; anyone else: not found."""
        order = self.orders.get(order_id) if is_order_id(order_id) else None
        if order is None or not (order.shopper_id == shopper_id or (brand_id and order.brand_id == brand_id)):
            raise NotFound("order", order_id)
        return order

    def orders_of_session(self, brand_id: str, session_id: str, limit: int,
                          cursor: str | None) -> tuple[list[Order], str | None]:
        """A session's orders, for the brand that owns the session."""
        self.session_owner(brand_id, session_id)
        return self.orders.list_for_session(session_id, limit, cursor)

    def cancel(self, order_id: str, shopper_id: str) -> Order:
        order = self.order_for(order_id, shopper_id=shopper_id)
        if order.status is OrderStatus.CANCELLED:
            return order  # cancelling twice is harmless
        try:
            return self._release(order, OrderStatus.CANCELLED, shopper_id=shopper_id)
        except OrderNotReleasable as refused:
            if refused.status == OrderStatus.CANCELLED.value:  # a concurrent cancel got there first
                return replace(order, status=OrderStatus.CANCELLED, closed_at=refused.closed_at)
            raise OrderNotCancellable(refused.status) from None

    def release_expired(self, limit: int = 100) -> int:
        """Release reservations past their time. Called every minute by the scheduled function."""
        released = 0
        for order in self.orders.due(epoch_ms(self.clock.now()) // 1000, limit):
            if order.status is not OrderStatus.RESERVED:
                continue  # a payment past its window: reconciliation's (services/payments.py)
            try:
                self._release(order, OrderStatus.EXPIRED)
                released += 1
            except OrderNotReleasable:
                continue  # paying, paid or cancelled since it was listed
            except Busy:
                continue  # contended now: the next sweep takes it
        return released

    def _release(self, order: Order, to: OrderStatus, shopper_id: str | None = None) -> Order:
        now = self.clock.now()
        at = to_iso(now)
        self.orders.release(order, to, at, epoch_ms(now) // 1000, shopper_id=shopper_id)
        return replace(order, status=to, closed_at=at)


class _Replay(Exception):
    """Inside reserve: the transaction met this very order already made."""

    def __init__(self, order: Order) -> None:
        super().__init__("replay")
        self.order = order
