"""Orders and drop stock in DynamoDB: the checkout transaction and the status transitions.

Checkout is one TransactWriteItems request, all or nothing:

    Put    order            attribute_not_exists(id)        <- also the Idempotency-Key check
    Update stock shard(s)   left >= q AND opensAt <= now AND (no closesAt OR closesAt > now)
    Update purchase counts  no count yet OR bought <= limit - q

Each item asks for ALL_OLD on a failed condition, so a refusal explains itself (the existing
order for a replay, a shard's level, a shopper's count) without a second read.

Releasing an order (cancel, expiry) is the mirror transaction, conditioned on the order still
being `reserved`; paying moves `reserved -> paying -> paid`, and neither release touches a
`paying` order:

    reserved --pay--> paying --approved--> paid
       |   ^             |
       |   +--declined---+
       +--cancel--> cancelled       +--expiry (expiresAt <= now)--> expired
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterable

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import (
    HOLD_SHARDS, OrderModel, PurchaseCountModel, StockShardModel, transact_connection,
)
from chalicelib.adapters.dynamodb.support import (
    ConditionFailed, Contended, conflicted, decode_cursor, page, update_or_old,
)
from chalicelib.domain.drops import OrderStatus, count_key, shard_key
from chalicelib.domain.money import Money
from chalicelib.domain.records import LineupItem, Order, OrderLine
from chalicelib.domain.errors import NotFound, OrderExpired, OrderNotPayable, PaymentInProgress
from chalicelib.settings import Settings


def _order(row: OrderModel) -> Order:
    return Order(
        id=row.id, shopper_id=row.shopper_id, session_id=row.session_id, brand_id=row.brand_id,
        status=OrderStatus(row.status),
        lines=tuple(
            OrderLine(product_id=line["productId"], quantity=line["quantity"],
                      unit_price=Money(line["unitAmount"], row.currency),
                      shards={int(shard): units for shard, units in line["shards"].items()},
                      counted=line["counted"])
            for line in row.lines
        ),
        total=Money(int(row.total_amount), row.currency), request_hash=row.request_hash,
        created_at=row.created_at, expires_at=int(row.expires_at), closed_at=row.closed_at,
        payment_reference=row.payment_reference,
    )


def _order_from_raw(item: dict) -> Order:
    return _order(OrderModel.from_raw_data(item))


@dataclass
class DropStock:
    left: dict[int, int]  # shard -> units left
    opens_at: str | None
    closes_at: str | None


@dataclass
class ReservationRefused(Exception):
    """Why a checkout transaction was cancelled; the service decides whether to try again."""
    existing_order: Order | None = None
    # (product id, shard, units left then, or None if the shard refused for its window)
    short_shards: list[tuple[str, int, int | None, dict | None]] = field(default_factory=list)
    limit_reached: list[tuple[str, int]] = field(default_factory=list)  # (product id, units bought)
    contended: bool = False  # TransactionConflict: another transaction held an item; try again


class StockRepository:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def levels(self, drops: Iterable[LineupItem]) -> dict[str, DropStock]:
        """Units left per shard of each drop and its sale window, in one BatchGetItem per hundred shards."""
        keys = [shard_key(d.session_id, d.product_id, n) for d in drops for n in range(d.shards)]
        result: dict[str, DropStock] = {}
        for row in StockShardModel.batch_get(keys) if keys else []:
            stock = result.setdefault(row.product_id, DropStock({}, row.opens_at, row.closes_at))
            stock.left[int(row.shard_key.rsplit("#", 1)[1])] = int(row.left)
        return result

    def set_window_edge(self, drops: Iterable[LineupItem], opens_at: str | None = None,
                        closes_at: str | None = None) -> None:
        """Open drops that had no opening time, or close drops that were still open, at `at`."""
        for drop in drops:
            for shard in range(drop.shards):
                row = StockShardModel(shard_key=shard_key(drop.session_id, drop.product_id, shard))
                try:
                    if opens_at is not None:
                        update_or_old(StockShardModel, row.shard_key,
                                      actions=[StockShardModel.opens_at.set(StockShardModel.opens_at | opens_at)],
                                      condition=StockShardModel.shard_key.exists())
                    if closes_at is not None:
                        update_or_old(StockShardModel, row.shard_key,
                                      actions=[StockShardModel.closes_at.set(closes_at)],
                                      condition=StockShardModel.shard_key.exists()
                                      & (StockShardModel.closes_at.does_not_exist()
                                         | (StockShardModel.closes_at > closes_at)))
                except ConditionFailed:
                    continue  # already closed earlier: keep the earlier time


class OrderRepository:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _transaction(self) -> TransactWrite:
        return TransactWrite(connection=transact_connection(self.settings.region, self.settings.dynamodb_endpoint))

    def reserve(self, order: Order, limits: dict[str, int | None], now: str) -> None:
        """Take every line's units from its planned shards, count them against the shopper's
        limits, and store the order: one transaction. Raises ReservationRefused."""
        row = OrderModel(
            id=order.id, shopper_id=order.shopper_id, session_id=order.session_id, brand_id=order.brand_id,
            status=order.status.value, currency=order.total.currency, total_amount=order.total.amount,
            lines=[{"productId": line.product_id, "quantity": line.quantity, "unitAmount": line.unit_price.amount,
                    "shards": {str(s): u for s, u in line.shards.items()}, "counted": line.counted}
                   for line in order.lines],
            request_hash=order.request_hash, created_at=order.created_at, expires_at=order.expires_at,
            hold_shard=random.randrange(HOLD_SHARDS), hold_until=order.expires_at,
        )
        updates: list[tuple[str, str, int | None]] = []  # what each update is, for the reasons
        try:
            with self._transaction() as transaction:
                transaction.save(row, condition=OrderModel.id.does_not_exist(), return_values="ALL_OLD")
                for line in order.lines:
                    for shard, units in line.shards.items():
                        transaction.update(
                            StockShardModel(shard_key=shard_key(order.session_id, line.product_id, shard)),
                            actions=[StockShardModel.left.add(-units)],
                            condition=(StockShardModel.left >= units) & (StockShardModel.opens_at <= now)
                            & (StockShardModel.closes_at.does_not_exist() | (StockShardModel.closes_at > now)),
                            return_values="ALL_OLD",
                        )
                        updates.append(("shard", line.product_id, shard))
                for line in order.lines:
                    limit = limits.get(line.product_id)
                    if limit is None:
                        continue
                    transaction.update(
                        PurchaseCountModel(count_key=count_key(order.session_id, line.product_id, order.shopper_id)),
                        actions=[PurchaseCountModel.bought.add(line.quantity)],
                        condition=PurchaseCountModel.bought.does_not_exist()
                        | (PurchaseCountModel.bought <= limit - line.quantity),
                        return_values="ALL_OLD",
                    )
                    updates.append(("limit", line.product_id, None))
        except TransactWriteError as error:
            raise self._refusal(error, updates) from None

    @staticmethod
    def _refusal(error: TransactWriteError, updates: list[tuple[str, str, int | None]]) -> ReservationRefused:
        reasons = error.cancellation_reasons or []
        if not reasons:
            raise error  # not a cancellation: a real failure, for the caller to see
        refusal = ReservationRefused()
        # PynamoDB sends puts before updates: reason 0 is the order, then the updates in order.
        order_reason, update_reasons = reasons[0], reasons[1:]
        if order_reason is not None and order_reason.code == "ConditionalCheckFailed":
            refusal.existing_order = _order_from_raw(order_reason.raw_item) if order_reason.raw_item else None
        for (kind, product_id, shard), reason in zip(updates, update_reasons):
            if reason is None or reason.code == "None":
                continue
            if reason.code == "ConditionalCheckFailed":
                old = reason.raw_item or {}
                if kind == "shard":
                    left = int(old["left"]["N"]) if "left" in old else None
                    refusal.short_shards.append((product_id, shard, left, old))
                else:
                    refusal.limit_reached.append((product_id, int(old.get("bought", {}).get("N", 0))))
        refusal.contended = conflicted(reasons)
        return refusal

    def get(self, order_id: str) -> Order | None:
        try:
            return _order(OrderModel.get(order_id))
        except OrderModel.DoesNotExist:
            return None

    def list_for_session(self, session_id: str, limit: int, cursor: str | None) -> tuple[list[Order], str | None]:
        start = decode_cursor(cursor, ("sessionId", session_id))
        return page(OrderModel.by_session.query(session_id, limit=limit, last_evaluated_key=start), _order)

    def release(self, order: Order, to: OrderStatus, at: str, now_epoch: int, shopper_id: str | None = None) -> None:
        """Return the order's units to the shards they came from and its counts to the shopper,
        if it is still reserved (and, for expiry, past its time). Raises ConditionFailed or Contended."""
        condition = OrderModel.status == OrderStatus.RESERVED.value
        if to is OrderStatus.EXPIRED:
            condition &= OrderModel.expires_at <= now_epoch
        if shopper_id is not None:
            condition &= OrderModel.shopper_id == shopper_id
        try:
            with self._transaction() as transaction:
                transaction.update(
                    OrderModel(id=order.id),
                    actions=[OrderModel.status.set(to.value), OrderModel.closed_at.set(at),
                             OrderModel.hold_shard.remove(), OrderModel.hold_until.remove()],
                    condition=condition, return_values="ALL_OLD",
                )
                for line in order.lines:
                    for shard, units in line.shards.items():
                        transaction.update(
                            StockShardModel(shard_key=shard_key(order.session_id, line.product_id, shard)),
                            actions=[StockShardModel.left.add(units)],
                        )
                    if line.counted:
                        transaction.update(
                            PurchaseCountModel(count_key=count_key(order.session_id, line.product_id, order.shopper_id)),
                            actions=[PurchaseCountModel.bought.add(-line.quantity)],
                        )
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            first = reasons[0] if reasons else None
            if first is not None and first.code == "ConditionalCheckFailed":
                raise ConditionFailed(first.raw_item) from None
            if conflicted(reasons):
                raise Contended() from None
            raise

    def begin_payment(self, order_id: str, shopper_id: str, now_epoch: int, attempt: str) -> Order:
        """Lock the order for one payment attempt: from reserved (not expired), or re-entering the
        same attempt (a retried request after a crash), so one charge is ever under way."""
        try:
            row = update_or_old(
                OrderModel, order_id,
                actions=[OrderModel.status.set(OrderStatus.PAYING.value), OrderModel.payment_attempt.set(attempt),
                         OrderModel.hold_shard.remove(), OrderModel.hold_until.remove()],
                condition=(OrderModel.shopper_id == shopper_id)
                & (((OrderModel.status == OrderStatus.RESERVED.value) & (OrderModel.expires_at > now_epoch))
                   | ((OrderModel.status == OrderStatus.PAYING.value) & (OrderModel.payment_attempt == attempt))),
            )
        except ConditionFailed as failure:
            old = failure.old_item
            if old is None or old["shopperId"]["S"] != shopper_id:
                raise NotFound("order", order_id) from None
            status = old["status"]["S"]
            if status == OrderStatus.RESERVED.value:
                raise OrderExpired() from None
            if status == OrderStatus.PAYING.value:
                raise PaymentInProgress() from None
            raise OrderNotPayable(status) from None
        return _order(row)

    def finish_payment(self, order_id: str, reference: str, at: str) -> Order:
        return _order(update_or_old(
            OrderModel, order_id,
            actions=[OrderModel.status.set(OrderStatus.PAID.value), OrderModel.closed_at.set(at),
                     OrderModel.payment_reference.set(reference)],
            condition=OrderModel.status == OrderStatus.PAYING.value,
        ))

    def abort_payment(self, order: Order, attempt: str) -> Order:
        """Back to reserved, on hold until its original expiry (the sweeper may then release it)."""
        return _order(update_or_old(
            OrderModel, order.id,
            actions=[OrderModel.status.set(OrderStatus.RESERVED.value),
                     OrderModel.hold_shard.set(random.randrange(HOLD_SHARDS)),
                     OrderModel.hold_until.set(order.expires_at)],
            condition=(OrderModel.status == OrderStatus.PAYING.value) & (OrderModel.payment_attempt == attempt),
        ))

    def due_for_release(self, now_epoch: int, limit: int) -> list[Order]:
        due: list[Order] = []
        for hold_shard in range(HOLD_SHARDS):
            for row in OrderModel.on_hold.query(hold_shard, OrderModel.hold_until <= now_epoch, limit=limit):
                due.append(_order(row))
        return due
