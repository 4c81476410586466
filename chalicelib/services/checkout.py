"""Checkout: reserving a drop's units for a shopper, paying, cancelling, and releasing expired
reservations. Every unit is sold exactly once; the rules live in the conditional writes of
adapters/dynamodb/orders.py, and this module decides what to try and what to answer.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from chalicelib.adapters.dynamodb import LineupRepository
from chalicelib.adapters.dynamodb.orders import OrderRepository, ReservationRefused, StockRepository
from chalicelib.adapters.dynamodb.support import ConditionFailed, Contended, back_off
from chalicelib.adapters.payments import ChargeOutcomeUnknown, ExactlyOnceCharges
from chalicelib.domain.clock import now_iso
from chalicelib.domain.drops import OrderStatus, drop_state, order_id_for, plan_take, request_hash
from chalicelib.domain.money import Money
from chalicelib.domain.records import LineupItem, Order, OrderLine
from chalicelib.domain.errors import (
    Busy, DropClosed, DropNotOpen, IdempotencyKeyReused, InvalidInput, LimitExceeded, NotFound,
    OrderNotCancellable, PaymentDeclined, PaymentInProgress, PaymentOutcomeUnknown, SoldOut,
)
from chalicelib.observability import logger

MAX_ATTEMPTS = 40          # contention retries before answering 503
SOLD_OUT_MEMORY_SECONDS = 2.0  # how long a container trusts what it saw of a drop's shards


class DropConfigs:
    """Lineup items by (session, product), kept per container. What checkout reads from them
    (price, limit, shards, brand) never changes once an item is in a lineup, so a warm checkout
    reads nothing before its one write."""

    def __init__(self, lineup: LineupRepository) -> None:
        self.lineup = lineup
        self._items: dict[tuple[str, str], LineupItem] = {}

    def get(self, session_id: str, product_ids: list[str]) -> dict[str, LineupItem | None]:
        if any((session_id, p) not in self._items for p in product_ids):
            for item in self.lineup.list_for_session(session_id):
                self._items[(session_id, item.product_id)] = item
        return {p: self._items.get((session_id, p)) for p in product_ids}


class ShardLevels:
    """What this container has seen of each shard's units left, and when (the sold-out fast path)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seen: dict[tuple[str, str, int], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def note(self, drop: LineupItem, shard: int, left: int) -> None:
        with self._lock:
            self._seen[(drop.session_id, drop.product_id, shard)] = (left, self.clock())

    def took(self, drop: LineupItem, shard: int, units: int) -> None:
        with self._lock:
            key = (drop.session_id, drop.product_id, shard)
            if key in self._seen:
                left, _ = self._seen[key]
                self._seen[key] = (max(left - units, 0), self.clock())

    def known(self, drop: LineupItem, fresh_only: bool) -> dict[int, int | None]:
        now = self.clock()
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


class Checkout:
    def __init__(self, orders: OrderRepository, stock: StockRepository, lineup: LineupRepository,
                 charges: ExactlyOnceCharges, session_owner: Callable[[str, str], object]) -> None:
        self.session_owner = session_owner  # raises NotFound unless the brand owns the session
        self.orders = orders
        self.stock = stock
        self.drops = DropConfigs(lineup)
        self.levels = ShardLevels()
        self.charges = charges

    # --- reserve ---------------------------------------------------------------------------

    def reserve(self, shopper_id: str, idempotency_key: str, session_id: str, lines: list[CheckoutLine],
                body_for_hash: dict) -> tuple[Order, bool]:
        """(order, replayed). Raises the 4xx errors a buyer can meet."""
        order_id = order_id_for(shopper_id, idempotency_key)
        fingerprint = request_hash(body_for_hash)
        drops = self._drops_for(session_id, lines)
        currency = self._one_currency(drops)
        now = now_iso()
        for line in lines:
            self._refuse_without_writing(drops[line.product_id], line.quantity, now)
        for attempt in range(MAX_ATTEMPTS):
            planned = [(line, self._plan(drops[line.product_id], line.quantity)) for line in lines]
            order = Order(
                id=order_id, shopper_id=shopper_id, session_id=session_id,
                brand_id=next(iter(drops.values())).brand_id, status=OrderStatus.RESERVED,
                lines=tuple(OrderLine(product_id=line.product_id, quantity=line.quantity,
                                      unit_price=drops[line.product_id].price, shards=plan,
                                      counted=drops[line.product_id].per_customer_limit is not None)
                            for line, plan in planned),
                total=Money(sum(drops[line.product_id].price.amount * line.quantity for line in lines), currency),
                request_hash=fingerprint, created_at=now, expires_at=int(time.time()) + min(d.hold_seconds for d in drops.values()),
            )
            limits = {p: d.per_customer_limit for p, d in drops.items()}
            try:
                self.orders.reserve(order, limits, now)
            except ReservationRefused as refusal:
                replay = self._explain(refusal, drops, fingerprint, now)
                if replay is not None:
                    return replay, True
                if refusal.contended:
                    back_off(attempt)
                continue
            for line, plan in planned:
                for shard, units in plan.items():
                    self.levels.took(drops[line.product_id], shard, units)
            return order, False
        logger.warning("checkout gave up after contention", extra={"session": session_id, "attempts": MAX_ATTEMPTS})
        raise Busy("the drop is under heavy contention; retry with the same Idempotency-Key")

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

    def _refuse_without_writing(self, drop: LineupItem, quantity: int, now: str) -> None:
        """What can be refused from what this container already knows: no request at all."""
        if drop.per_customer_limit is not None and quantity > drop.per_customer_limit:
            raise LimitExceeded(drop.product_id, drop.per_customer_limit)
        if drop.opens_at is not None and now < drop.opens_at:
            raise DropNotOpen(drop.product_id, drop.opens_at)
        if drop.closes_at is not None and now >= drop.closes_at:
            raise DropClosed(drop.product_id, drop.closes_at)
        fresh = self.levels.known(drop, fresh_only=True)
        if None not in fresh.values() and sum(fresh.values()) < quantity:  # type: ignore[arg-type]
            self._sold_out(drop, sum(fresh.values()))  # type: ignore[arg-type]

    def _plan(self, drop: LineupItem, quantity: int) -> dict[int, int]:
        plan = plan_take(quantity, self.levels.known(drop, fresh_only=False))
        if plan is not None:
            return plan
        # Every shard was seen short: read them all once before telling anyone it is sold out.
        stock = self.stock.levels([drop]).get(drop.product_id)
        levels = stock.left if stock else {}
        for shard in range(drop.shards):
            self.levels.note(drop, shard, levels.get(shard, 0))
        plan = plan_take(quantity, {shard: levels.get(shard, 0) for shard in range(drop.shards)})
        if plan is None:
            self._sold_out(drop, sum(levels.values()))
        return plan  # type: ignore[return-value]

    @staticmethod
    def _sold_out(drop: LineupItem, left: int) -> None:
        raise SoldOut(drop.product_id, left)

    def _explain(self, refusal: ReservationRefused, drops: dict[str, LineupItem], fingerprint: str,
                 now: str) -> Order | None:
        """Turn a refusal into a replay (returned), an answer (raised), or nothing (try again)."""
        if refusal.existing_order is not None:
            if refusal.existing_order.request_hash != fingerprint:
                raise IdempotencyKeyReused()
            return refusal.existing_order
        for product_id, bought in refusal.limit_reached:
            limit = drops[product_id].per_customer_limit
            raise LimitExceeded(product_id, limit, bought)  # type: ignore[arg-type]
        for product_id, shard, left, old in refusal.short_shards:
            if old is None or "left" not in old:
                raise NotFound("product", product_id, field="items",
                               detail=f"product {product_id} has no stock in this session")
            state = drop_state(now, old.get("opensAt", {}).get("S"), old.get("closesAt", {}).get("S"))
            if state == "not_open":
                raise DropNotOpen(product_id, old.get("opensAt", {}).get("S"))
            if state == "closed":
                raise DropClosed(product_id, old.get("closesAt", {}).get("S"))
            self.levels.note(drops[product_id], shard, left or 0)
        return None

    # --- after the reservation -------------------------------------------------------------

    def order_for(self, order_id: str, shopper_id: str | None = None, brand_id: str | None = None) -> Order:
        """The order, for its shopper or for the brand that sold it; anyone else: not found."""
        order = self.orders.get(order_id) if order_id.startswith("ord_") and len(order_id) <= 64 else None
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
        except ConditionFailed as failure:
            old = failure.old_item or {}
            status = old.get("status", {}).get("S", "unknown")
            if status == OrderStatus.CANCELLED.value:  # a concurrent cancel got there first
                return replace(order, status=OrderStatus.CANCELLED, closed_at=old.get("closedAt", {}).get("S"))
            raise OrderNotCancellable(status) from None

    def pay(self, order_id: str, shopper_id: str, payment_token: str) -> Order:
        """reserved -> paying -> paid; a decline or provider failure puts it back to reserved.
        The same token retried re-enters its own attempt and gets the first charge's result."""
        attempt = hashlib.sha256(payment_token.encode()).hexdigest()[:20]
        order = self.orders.begin_payment(order_id, shopper_id, int(time.time()), attempt)
        try:
            result = self.charges.charge(order.id, attempt, order.total, payment_token)
        except PaymentInProgress:
            raise  # the same attempt is being charged by a concurrent request
        except ChargeOutcomeUnknown:
            # Charged or not, we can not tell: the order stays `paying` (its units held, never
            # released) until a retry with the same token learns the outcome.
            raise PaymentOutcomeUnknown() from None
        except Exception:
            self.orders.abort_payment(order, attempt)  # nothing was charged: the reservation stands
            raise
        if not result.approved:
            self.orders.abort_payment(order, attempt)
            raise PaymentDeclined(result.reason)
        try:
            return self.orders.finish_payment(order.id, result.reference or "", now_iso())
        except ConditionFailed:
            return self.orders.get(order.id)  # type: ignore[return-value]  # a retry finished it first

    def release_expired(self, limit: int = 100) -> int:
        """Release reservations past their time. Called every minute by the scheduled function."""
        released = 0
        now = int(time.time())
        for order in self.orders.due_for_release(now, limit):
            try:
                self._release(order, OrderStatus.EXPIRED)
                released += 1
            except ConditionFailed:
                continue  # paid, paying or cancelled since it was listed
        return released

    def _release(self, order: Order, to: OrderStatus, shopper_id: str | None = None) -> Order:
        for attempt in range(MAX_ATTEMPTS):
            at = now_iso()
            try:
                self.orders.release(order, to, at, int(time.time()), shopper_id=shopper_id)
                return replace(order, status=to, closed_at=at)
            except Contended:
                back_off(attempt)
        raise Busy("too much contention to release the order now; try again")
