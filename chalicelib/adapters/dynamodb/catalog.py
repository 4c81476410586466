"""Repositories of brands, products, sessions and lineups, speaking in domain records.

Every write that has a rule states it as one condition, so that concurrent requests can never
break it: stock never goes below zero, a lineup item is added once, a status moves only from the
statuses its action allows, and each write also checks the brand that owns the item.
"""
from __future__ import annotations

from typing import Any, Iterable

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import (
    BrandModel, LineupModel, ProductModel, SessionModel, StockShardModel, transact_connection,
)
from chalicelib.adapters.dynamodb.support import ConditionFailed, decode_cursor, page, update_or_old
from chalicelib.domain.drops import shard_key, split
from chalicelib.domain.money import Money
from chalicelib.domain.records import Brand, Channel, LineupItem, LiveSession, Product
from chalicelib.domain.sessions import SessionStatus, list_key
from chalicelib.domain.errors import (
    AlreadyInLineup, InsufficientStock, InvalidTransition, NotFound, SessionChanged,
)
from chalicelib.settings import Settings


def _brand(row: BrandModel) -> Brand:
    return Brand(id=row.id, name=row.name, api_key_hash=row.api_key_hash, created_at=row.created_at)


def _product(row: ProductModel) -> Product:
    return Product(
        id=row.id, brand_id=row.brand_id, title=row.title, description=row.description,
        price=Money(int(row.price_amount), row.currency), stock=int(row.stock),
        images=tuple(row.images or ()), created_at=row.created_at, updated_at=row.updated_at,
    )


def _session(row: SessionModel) -> LiveSession:
    return LiveSession(
        id=row.id, brand_id=row.brand_id, title=row.title, status=SessionStatus(row.status),
        scheduled_at=row.scheduled_at, created_at=row.created_at, started_at=row.started_at,
        ended_at=row.ended_at,
        channel=Channel(arn=row.channel_arn, playback_url=row.playback_url,
                        ingest_endpoint=row.ingest_endpoint),
        hold_seconds=int(row.hold_seconds), channel_type=row.channel_type, latency_mode=row.latency_mode,
        featured_product_id=row.featured_product_id, replay_url=row.replay_url, chat_room_arn=row.chat_room_arn,
    )


def _lineup_item(row: LineupModel) -> LineupItem:
    return LineupItem(
        session_id=row.session_id, product_id=row.product_id, brand_id=row.brand_id,
        price=Money(int(row.price_amount), row.currency), quantity=int(row.quantity),
        per_customer_limit=None if row.per_customer_limit is None else int(row.per_customer_limit),
        added_at=row.added_at, opens_at=row.opens_at, closes_at=row.closes_at, shards=int(row.shards),
        hold_seconds=int(row.hold_seconds),
    )


class BrandRepository:
    def add(self, brand: Brand) -> None:
        BrandModel(id=brand.id, name=brand.name, api_key_hash=brand.api_key_hash,
                   created_at=brand.created_at).save(condition=BrandModel.id.does_not_exist())

    def get(self, brand_id: str) -> Brand | None:
        try:
            return _brand(BrandModel.get(brand_id))
        except BrandModel.DoesNotExist:
            return None


class ProductRepository:
    def add(self, product: Product) -> None:
        ProductModel(
            id=product.id, brand_id=product.brand_id, title=product.title,
            description=product.description, price_amount=product.price.amount,
            currency=product.price.currency, stock=product.stock, images=list(product.images) or None,
            created_at=product.created_at, updated_at=product.updated_at,
        ).save(condition=ProductModel.id.does_not_exist())

    def get(self, product_id: str) -> Product | None:
        try:
            return _product(ProductModel.get(product_id))
        except ProductModel.DoesNotExist:
            return None

    def get_many(self, product_ids: Iterable[str]) -> dict[str, Product]:
        keys = list(dict.fromkeys(product_ids))
        return {row.id: _product(row) for row in ProductModel.batch_get(keys)} if keys else {}

    def list_for_brand(self, brand_id: str, limit: int, cursor: str | None) -> tuple[list[Product], str | None]:
        start = decode_cursor(cursor, ("brandId", brand_id))
        results = ProductModel.by_brand.query(brand_id, limit=limit, last_evaluated_key=start)
        return page(results, _product)

    def update(self, brand_id: str, product_id: str, changes: dict[str, Any], updated_at: str) -> Product:
        """Apply `changes` (field name -> new value, None to remove) to the brand's own product."""
        attributes = {
            "title": ProductModel.title, "description": ProductModel.description,
            "images": ProductModel.images,
        }
        actions = [ProductModel.updated_at.set(updated_at)]
        for name, value in changes.items():
            if name == "price":
                actions += [ProductModel.price_amount.set(value.amount), ProductModel.currency.set(value.currency)]
            elif value is None:
                actions.append(attributes[name].remove())
            else:
                actions.append(attributes[name].set(list(value) if name == "images" else value))
        try:
            row = update_or_old(ProductModel, product_id, actions=actions, condition=ProductModel.brand_id == brand_id)
        except ConditionFailed:
            raise NotFound("product", product_id) from None
        return _product(row)

    def adjust_stock(self, brand_id: str, product_id: str, delta: int, updated_at: str) -> Product:
        """Add `delta` (negative to take) in one conditional write: stock never goes below zero."""
        try:
            row = update_or_old(
                ProductModel, product_id,
                actions=[ProductModel.stock.add(delta), ProductModel.updated_at.set(updated_at)],
                condition=(ProductModel.brand_id == brand_id) & (ProductModel.stock >= -delta),
            )
        except ConditionFailed as failure:
            old = failure.old_item
            if old is None or old.get("brandId", {}).get("S") != brand_id:
                raise NotFound("product", product_id) from None
            raise InsufficientStock(int(old["stock"]["N"])) from None
        return _product(row)


class SessionRepository:
    def add(self, session: LiveSession) -> None:
        SessionModel(
            id=session.id, brand_id=session.brand_id, title=session.title, status=session.status.value,
            list_key=list_key(session.scheduled_at, session.id), scheduled_at=session.scheduled_at,
            created_at=session.created_at, channel_arn=session.channel.arn,
            playback_url=session.channel.playback_url, ingest_endpoint=session.channel.ingest_endpoint,
            hold_seconds=session.hold_seconds, channel_type=session.channel_type,
            latency_mode=session.latency_mode, chat_room_arn=session.chat_room_arn,
        ).save(condition=SessionModel.id.does_not_exist())

    def get(self, session_id: str) -> LiveSession | None:
        try:
            return _session(SessionModel.get(session_id))
        except SessionModel.DoesNotExist:
            return None

    def delete(self, brand_id: str, session_id: str) -> None:
        SessionModel(id=session_id).delete(condition=SessionModel.brand_id == brand_id)

    def list_by_status(self, status: SessionStatus, limit: int, cursor: str | None,
                       newest_first: bool) -> tuple[list[LiveSession], str | None]:
        start = decode_cursor(cursor, ("status", status.value))
        results = SessionModel.by_status.query(
            status.value, limit=limit, last_evaluated_key=start, scan_index_forward=not newest_first,
        )
        return page(results, _session)

    def move_status(self, brand_id: str, session_id: str, target: SessionStatus,
                    allowed_from: Iterable[SessionStatus], at: str) -> LiveSession:
        """Move to `target` only from an allowed status, in one conditional write."""
        stamp = SessionModel.started_at if target is SessionStatus.LIVE else SessionModel.ended_at
        try:
            row = update_or_old(
                SessionModel, session_id,
                # `stamp | at` is if_not_exists: a repeated start keeps the first start time.
                actions=[SessionModel.status.set(target.value), stamp.set(stamp | at)],
                condition=(SessionModel.brand_id == brand_id)
                & SessionModel.status.is_in(*[status.value for status in allowed_from]),
            )
        except ConditionFailed as failure:
            old = failure.old_item
            if old is None or old.get("brandId", {}).get("S") != brand_id:
                raise NotFound("session", session_id) from None
            raise InvalidTransition(old["status"]["S"], target.value) from None
        return _session(row)


class LineupRepository:
    def list_for_session(self, session_id: str) -> list[LineupItem]:
        return [_lineup_item(row) for row in LineupModel.query(session_id)]

    def add_taking_stock(self, item: LineupItem, session_status: SessionStatus, settings: Settings) -> None:
        """Allocate the item's quantity from the product's stock into its drop shards, all or nothing.

        One transaction: the session must be the brand's and still in the status it was read in
        (a drop added to a live session opens at once, one added before the show opens with it),
        the product the brand's with enough stock, and the product not yet in the lineup.
        """
        session_check = (SessionModel.brand_id == item.brand_id) & (SessionModel.status == session_status.value)
        product_condition = (ProductModel.brand_id == item.brand_id) & (ProductModel.stock >= item.quantity)
        row = LineupModel(
            session_id=item.session_id, product_id=item.product_id, brand_id=item.brand_id,
            price_amount=item.price.amount, currency=item.price.currency, quantity=item.quantity,
            per_customer_limit=item.per_customer_limit, added_at=item.added_at, opens_at=item.opens_at,
            closes_at=item.closes_at, shards=item.shards, hold_seconds=item.hold_seconds,
        )
        try:
            with TransactWrite(connection=transact_connection(settings.region, settings.dynamodb_endpoint)) as tx:
                tx.condition_check(SessionModel, item.session_id, condition=session_check)
                tx.save(row, condition=LineupModel.product_id.does_not_exist())
                for shard, units in enumerate(split(item.quantity, item.shards)):
                    tx.save(StockShardModel(shard_key=shard_key(item.session_id, item.product_id, shard),
                                            session_id=item.session_id, product_id=item.product_id, left=units,
                                            opens_at=item.opens_at, closes_at=item.closes_at))
                tx.update(
                    ProductModel(id=item.product_id),
                    actions=[ProductModel.stock.add(-item.quantity), ProductModel.updated_at.set(item.added_at)],
                    condition=product_condition,
                )
        except TransactWriteError as error:
            # PynamoDB sends condition checks, then puts, then updates: reasons come in that order.
            failed = [reason is not None and reason.code == "ConditionalCheckFailed"
                      for reason in (error.cancellation_reasons or [])]
            if not failed:
                raise
            if failed[0]:
                raise SessionChanged("the session changed status meanwhile; try again") from None
            if failed[1]:
                raise AlreadyInLineup(item.product_id) from None
            if failed[-1]:
                raise InsufficientStock(None, wanted=item.quantity) from None
            raise
