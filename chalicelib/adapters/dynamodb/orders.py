"""Orders and drop stock in DynamoDB: the checkout transaction and the status transitions.

Checkout is one TransactWriteItems request, all or nothing:

    Put    order            attribute_not_exists(id)        <- also the Idempotency-Key check
    Update stock shard(s)   left >= q AND opensAt <= now AND (no closesAt OR closesAt > now)
                            AND revision = the lineup item's the order was priced from
    Update purchase counts  no count yet OR bought <= limit - q
    Update open orders      ADD the order id, if fewer than the hold cap are listed
    Update rate window      ADD 1 to the shopper's `order` window, if it has room (rate_limits.py)

Each item asks for ALL_OLD on a failed condition, so a refusal explains itself (the existing
order for a replay, a shard's level, a shopper's count) without a second read.

Releasing an order (cancel, expiry) is the mirror transaction, conditioned on the order still
being `reserved`; paying moves `reserved -> paying -> paid` (services/payments.py), and no
release touches a `paying` or `paid` order:

    reserved --pay--> paying --authorised--> paid
       |   ^             |
       |   +--declined, abandoned---+
       +--cancel--> cancelled       +--expiry (expiresAt <= now)--> expired
"""
from __future__ import annotations

import json
import random
from typing import Iterable, Mapping

from chalicelib.adapters.dynamodb.models import (
    HOLD_SHARDS, Db, OpenOrdersModel, OrderModel, PurchaseCountModel, RateWindowModel, StockShardModel,
)
from chalicelib.adapters.dynamodb.rate_limits import window_update
from chalicelib.adapters.dynamodb.support import (
    Cancelled, ConditionFailed, Transaction, page, transact, update_or_old,
)
from chalicelib.domain.drops import OrderStatus, count_key, open_orders_key, shard_key
from chalicelib.domain.errors import NotFound, OrderExpired, OrderNotPayable, OrderNotRefundable
from chalicelib.domain.money import Money
from chalicelib.domain.ports import (
    AlreadyPaid, DropStock, OrderNotReleasable, ReservationRefused, ShardRefusal, StockChange,
)
from chalicelib.domain.rate_limits import Window
from chalicelib.domain.records import LineupItem, Order, OrderLine

# Every write of an order after its reservation (version 1) raises its version: what a webhook
# receiver compares to drop an older state that arrives after a newer one.
NEXT_VERSION = OrderModel.version.add(1)

# The checkout's transaction is a drop's hot path: its items are written in DynamoDB's JSON with
# constant expressions, not through PynamoDB's expression builder, which cost a third of a
# checkout's CPU (bench/checkout_cpu.py). tests/unit/test_reservation_items.py holds the order item
# equal to OrderModel's, and the checkout's tests hold every condition to its rule.
ALL_OLD = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}  # a refusal explains itself


def _n(number: int) -> dict[str, str]:
    return {"N": str(number)}


def order_item(order: Order, hold_shard: int) -> dict[str, dict]:
    """The reserved order as OrderModel stores it (its attribute names and encodings)."""
    lines = [{"productId": line.product_id, "quantity": line.quantity, "unitAmount": line.unit_price.amount,
              "shards": {str(s): u for s, u in line.shards.items()}, "counted": line.counted}
             for line in order.lines]
    item = {"id": {"S": order.id}, "shopperId": {"S": order.shopper_id}, "sessionId": {"S": order.session_id},
            "brandId": {"S": order.brand_id}, "status": {"S": order.status.value}, "lines": {"S": json.dumps(lines)},
            "currency": {"S": order.total.currency}, "totalAmount": _n(order.total.amount),
            "requestHash": {"S": order.request_hash}, "createdAt": {"S": order.created_at},
            "expiresAt": _n(order.expires_at), "holdShard": _n(hold_shard), "holdUntil": _n(order.expires_at)}
    if order.version is not None:
        item["version"] = _n(order.version)
    return item


def _take(key: str, units: int, now: str, revision: int) -> dict:
    """Units off one shard: enough left, the drop open (opensAt <= now < closesAt), and the shard
    at the revision of the lineup item the order was priced from (none stored: revision 0)."""
    same_revision = "(#revision = :revision OR attribute_not_exists(#revision))" if revision == 0 \
        else "#revision = :revision"
    return {"TableName": StockShardModel.Meta.table_name, "Key": {"shardKey": {"S": key}},
            "UpdateExpression": "ADD #left :taken",
            "ConditionExpression": "#left >= :units AND #opensAt <= :now"
                                   " AND (attribute_not_exists(#closesAt) OR #closesAt > :now) AND " + same_revision,
            "ExpressionAttributeNames": {"#left": "left", "#opensAt": "opensAt", "#closesAt": "closesAt",
                                         "#revision": "revision"},
            "ExpressionAttributeValues": {":taken": _n(-units), ":units": _n(units), ":now": {"S": now},
                                          ":revision": _n(revision)},
            **ALL_OLD}


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
        version=int(row.version or 0), payment_provider=row.payment_provider,
        payment_attempt=None if row.payment_attempt is None else int(row.payment_attempt),
        payment_reference=row.payment_reference,
        payment_due=None if row.payment_due is None else int(row.payment_due), captured_at=row.captured_at,
        refund_requested_at=row.refund_requested_at, refunded_at=row.refunded_at, refund_reference=row.refund_reference,
    )


def stock_changes(records: list[tuple[dict | None, dict | None]]) -> list[StockChange]:
    """The stock table's stream records, as (old image, new image), decoded."""
    changes = []
    for old, new in records:
        if not new or "sessionId" not in new:
            continue
        changes.append(StockChange(
            new["sessionId"]["S"], new["productId"]["S"],
            opened="opensAt" in new and not (old and "opensAt" in old),
            emptied=int(new["left"]["N"]) == 0 and bool(old) and int(old["left"]["N"]) > 0))  # type: ignore[index]
    return changes


class StockRepository:

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
    def __init__(self, db: Db) -> None:
        self.db = db

    def reserve(self, order: Order, limits: dict[str, int | None], now: str,
                revisions: Mapping[str, int] | None = None, hold_cap: int | None = None,
                rate: Window | None = None) -> None:
        """Take every line's units from its planned shards (each at the revision of the lineup
        item the order was priced from), count them against the shopper's limits, list the order
        among the shopper's open ones (under the hold cap), and store the order: one transaction.
        Raises ReservationRefused."""
        revisions = revisions or {}
        tx = Transaction()
        tx.raw("order", OrderModel, {"Put": {
            "TableName": OrderModel.Meta.table_name, "Item": order_item(order, random.randrange(HOLD_SHARDS)),
            "ConditionExpression": "attribute_not_exists(#id)", "ExpressionAttributeNames": {"#id": "id"},
            **ALL_OLD}})
        for line in order.lines:
            for shard, units in line.shards.items():
                tx.raw(("shard", line.product_id, shard), StockShardModel, {"Update": _take(
                    shard_key(order.session_id, line.product_id, shard), units, now,
                    revisions.get(line.product_id, 0))})
            limit = limits.get(line.product_id)
            if limit is not None:
                tx.raw(("limit", line.product_id), PurchaseCountModel, {"Update": {
                    "TableName": PurchaseCountModel.Meta.table_name,
                    "Key": {"countKey": {"S": count_key(order.session_id, line.product_id, order.shopper_id)}},
                    "UpdateExpression": "ADD #bought :q",
                    "ConditionExpression": "attribute_not_exists(#bought) OR #bought <= :most",
                    "ExpressionAttributeNames": {"#bought": "bought"},
                    "ExpressionAttributeValues": {":q": _n(line.quantity), ":most": _n(limit - line.quantity)},
                    **ALL_OLD}})
        listed = {"TableName": OpenOrdersModel.Meta.table_name,
                  "Key": {"countKey": {"S": open_orders_key(order.session_id, order.shopper_id)}},
                  "UpdateExpression": "ADD #orders :order", "ExpressionAttributeNames": {"#orders": "orders"},
                  "ExpressionAttributeValues": {":order": {"SS": [order.id]}}, **ALL_OLD}
        if hold_cap is not None:
            listed["ConditionExpression"] = "attribute_not_exists(#orders) OR size(#orders) < :cap"
            listed["ExpressionAttributeValues"][":cap"] = _n(hold_cap)
        tx.raw("open", OpenOrdersModel, {"Update": listed})
        if rate is not None:
            tx.raw("rate", RateWindowModel, {"Update": {**window_update(rate), **ALL_OLD}})
        try:
            transact(self.db.client, tx)
        except Cancelled as cancelled:
            raise _refusal(cancelled) from None

    def forget_open(self, session_id: str, shopper_id: str, order_ids: Iterable[str]) -> None:
        ids = set(order_ids)
        if ids:
            OpenOrdersModel(count_key=open_orders_key(session_id, shopper_id)).update(
                actions=[OpenOrdersModel.orders.delete(ids)])

    def get(self, order_id: str) -> Order | None:
        try:
            return _order(OrderModel.get(order_id, consistent_read=True))  # a retry right after its order
        except OrderModel.DoesNotExist:
            return None

    def list_for_session(self, session_id: str, limit: int, cursor: str | None) -> tuple[list[Order], str | None]:
        partition = ("sessionId", session_id)
        start = self.db.cursors.decode(cursor, partition)
        return page(OrderModel.by_session.query(session_id, limit=limit, last_evaluated_key=start), _order,
                    self.db.cursors, partition)

    def release(self, order: Order, to: OrderStatus, at: str, now_epoch: int, shopper_id: str | None = None) -> None:
        """Return the order's units to the shards they came from and its counts to the shopper,
        if it is still reserved (and, for expiry, past its time). Raises OrderNotReleasable."""
        condition = OrderModel.status == OrderStatus.RESERVED.value
        if to is OrderStatus.EXPIRED:
            condition &= OrderModel.expires_at <= now_epoch
        if shopper_id is not None:
            condition &= OrderModel.shopper_id == shopper_id
        tx = Transaction()
        tx.update("order", OrderModel(id=order.id),
                  actions=[OrderModel.status.set(to.value), OrderModel.closed_at.set(at),
                           OrderModel.hold_shard.remove(), OrderModel.hold_until.remove(), NEXT_VERSION],
                  condition=condition)
        for line in order.lines:
            for shard, units in line.shards.items():
                tx.update(("shard", line.product_id, shard),
                          StockShardModel(shard_key=shard_key(order.session_id, line.product_id, shard)),
                          actions=[StockShardModel.left.add(units)])
            if line.counted:
                tx.update(("limit", line.product_id),
                          PurchaseCountModel(count_key=count_key(order.session_id, line.product_id, order.shopper_id)),
                          actions=[PurchaseCountModel.bought.add(-line.quantity)])
        tx.update("open", OpenOrdersModel(count_key=open_orders_key(order.session_id, order.shopper_id)),
                  actions=[OpenOrdersModel.orders.delete({order.id})])
        try:
            transact(self.db.client, tx)
        except Cancelled as cancelled:
            old = cancelled.old("order")
            raise OrderNotReleasable(old.status if old else "missing", old.closed_at if old else None) from None

    def begin_payment(self, order_id: str, shopper_id: str, now_epoch: int, provider: str,
                      due_epoch: int) -> tuple[Order, bool]:
        """Open the order's next payment attempt, from reserved (not expired); an order already
        paying is answered as it is, so a retried request goes on with its attempt. The order
        stays on the due index, now until the attempt's window ends: reconciliation's, never the
        release sweep's (that one releases only `reserved`)."""
        try:
            row = update_or_old(
                OrderModel, order_id,
                actions=[OrderModel.status.set(OrderStatus.PAYING.value), OrderModel.payment_attempt.add(1),
                         OrderModel.payment_provider.set(provider), OrderModel.payment_reference.remove(),
                         OrderModel.payment_due.set(due_epoch), OrderModel.hold_shard.set(random.randrange(HOLD_SHARDS)),
                         OrderModel.hold_until.set(due_epoch), NEXT_VERSION],
                condition=(OrderModel.shopper_id == shopper_id) & (OrderModel.status == OrderStatus.RESERVED.value)
                & (OrderModel.expires_at > now_epoch),
            )
        except ConditionFailed as failure:
            old = failure.old
            if old is None or old.shopper_id != shopper_id:
                raise NotFound("order", order_id) from None
            status = OrderStatus(old.status)
            if status is OrderStatus.PAYING:
                return _order(old), False
            if status is OrderStatus.PAID:
                raise AlreadyPaid(_order(old)) from None
            if status is OrderStatus.RESERVED:
                raise OrderExpired() from None
            raise OrderNotPayable(status.value) from None
        return _order(row), True

    def _update(self, order_id: str, actions: list, condition) -> Order | None:
        try:
            return _order(update_or_old(OrderModel, order_id, actions=actions + [NEXT_VERSION], condition=condition))
        except ConditionFailed:
            return None

    def _under_way(self, attempt: int):
        return (OrderModel.status == OrderStatus.PAYING.value) & (OrderModel.payment_attempt == attempt)

    def attach_intent(self, order_id: str, attempt: int, reference: str) -> Order | None:
        return self._update(order_id, [OrderModel.payment_reference.set(reference)],
                            self._under_way(attempt) & (OrderModel.payment_reference.does_not_exist()
                                                        | (OrderModel.payment_reference == reference)))

    def finish_payment(self, order_id: str, attempt: int, reference: str, at: str, capture_by: int) -> Order | None:
        return self._update(order_id, [OrderModel.status.set(OrderStatus.PAID.value), OrderModel.closed_at.set(at),
                                       OrderModel.payment_reference.set(reference), OrderModel.hold_until.set(capture_by)],
                            self._under_way(attempt))

    def record_capture(self, order_id: str, at: str) -> Order | None:
        """Nothing is left due, unless a refund was asked meanwhile: then it stays due for it."""
        paid_uncaptured = (OrderModel.status == OrderStatus.PAID.value) & OrderModel.captured_at.does_not_exist()
        done = self._update(order_id, [OrderModel.captured_at.set(at), OrderModel.hold_shard.remove(),
                                       OrderModel.hold_until.remove()],
                            paid_uncaptured & OrderModel.refund_requested_at.does_not_exist())
        return done or self._update(order_id, [OrderModel.captured_at.set(at)],
                                    paid_uncaptured & OrderModel.refunded_at.does_not_exist())

    def abort_payment(self, order: Order, attempt: int) -> Order | None:
        """Back to reserved, due at its original expiry (the release sweep may then release it)."""
        return self._update(order.id, [OrderModel.status.set(OrderStatus.RESERVED.value), OrderModel.payment_due.remove(),
                                       OrderModel.hold_shard.set(random.randrange(HOLD_SHARDS)),
                                       OrderModel.hold_until.set(order.expires_at)],
                            self._under_way(attempt))

    def postpone(self, order_id: str, until_epoch: int) -> None:
        try:
            update_or_old(OrderModel, order_id, actions=[OrderModel.hold_until.set(until_epoch)],
                          condition=OrderModel.status.is_in(OrderStatus.PAYING.value, OrderStatus.PAID.value)
                          & OrderModel.hold_until.exists())
        except ConditionFailed:
            pass  # settled meanwhile: nothing is due

    def request_refund(self, order_id: str, brand_id: str, at: str, retry_by: int) -> Order:
        try:
            return _order(update_or_old(
                OrderModel, order_id,
                actions=[OrderModel.refund_requested_at.set(at), OrderModel.hold_shard.set(random.randrange(HOLD_SHARDS)),
                         OrderModel.hold_until.set(retry_by), NEXT_VERSION],
                condition=(OrderModel.brand_id == brand_id) & (OrderModel.status == OrderStatus.PAID.value)
                & OrderModel.refund_requested_at.does_not_exist()))
        except ConditionFailed as failure:
            old = failure.old
            if old is None or old.brand_id != brand_id:
                raise NotFound("order", order_id) from None
            if old.status != OrderStatus.PAID.value:
                raise OrderNotRefundable(old.status) from None
            return _order(old)  # asked before: the refund goes on (or is done)

    def record_refund(self, order_id: str, reference: str, at: str) -> Order:
        order = self._update(order_id, [OrderModel.refunded_at.set(at), OrderModel.refund_reference.set(reference),
                                        OrderModel.hold_shard.remove(), OrderModel.hold_until.remove()],
                             OrderModel.refund_requested_at.exists() & OrderModel.refunded_at.does_not_exist())
        return order or self.get(order_id)  # type: ignore[return-value]

    def due(self, now_epoch: int, limit: int) -> list[Order]:
        due: list[Order] = []
        for hold_shard in range(HOLD_SHARDS):
            query = OrderModel.on_hold.query(hold_shard, OrderModel.hold_until <= now_epoch, limit=limit - len(due))
            due += [_order(row) for row in query]
            if len(due) >= limit:
                break
        return due


def _refusal(cancelled: Cancelled) -> ReservationRefused:
    """The cancelled checkout, decoded: the order that exists already (a replay), shards that
    were short or outside their window, shoppers at their limit."""
    refusal = ReservationRefused()
    for label, item in cancelled.refusals.items():
        old = item.old
        if label == "order":
            refusal.existing_order = _order(old) if old is not None else None  # type: ignore[arg-type]
        elif label == "rate":
            refusal.rate_refused = True
        elif label == "open":
            refusal.open_orders = tuple(sorted(old.orders or ())) if old is not None else ()  # type: ignore[union-attr]
        elif label[0] == "shard":  # type: ignore[index]
            _, product_id, shard = label  # type: ignore[misc]
            refusal.short_shards.append(ShardRefusal(
                product_id, shard, None if old is None else int(old.left),
                None if old is None else old.opens_at, None if old is None else old.closes_at,
                None if old is None else int(old.revision or 0)))
        else:
            _, product_id = label  # type: ignore[misc]
            refusal.limit_reached.append((product_id, 0 if old is None else int(old.bought)))
    return refusal
