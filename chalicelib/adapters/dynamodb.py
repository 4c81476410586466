"""DynamoDB through PynamoDB: the table models, and repositories that speak in domain records.

Every write that has a rule states it as one condition, so that concurrent requests can never
break it: stock never goes below zero, a lineup item is added once, a status moves only from the
statuses its action allows, and each write also checks the brand that owns the item.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Iterable, Iterator

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.domain.money import Money
from chalicelib.domain.records import Brand, Channel, LineupItem, LiveSession, Product
from chalicelib.domain.sessions import SessionStatus, list_key
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.settings import Settings


class BrandModel(Model):
    class Meta:
        table_name = "unbound"  # set by bind()

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    api_key_hash = UnicodeAttribute(attr_name="apiKeyHash")
    created_at = UnicodeAttribute(attr_name="createdAt")


class ProductsByBrand(GlobalSecondaryIndex):
    class Meta:
        index_name = "byBrand"
        projection = AllProjection()

    brand_id = UnicodeAttribute(hash_key=True, attr_name="brandId")
    id = UnicodeAttribute(range_key=True)


class ProductModel(Model):
    class Meta:
        table_name = "unbound"

    id = UnicodeAttribute(hash_key=True)
    brand_id = UnicodeAttribute(attr_name="brandId")
    title = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    price_amount = NumberAttribute(attr_name="priceAmount")
    currency = UnicodeAttribute()
    stock = NumberAttribute()
    images = ListAttribute(of=UnicodeAttribute, null=True)
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")
    by_brand = ProductsByBrand()


class SessionsByStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "byStatus"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True, attr_name="listKey")


class SessionModel(Model):
    class Meta:
        table_name = "unbound"

    id = UnicodeAttribute(hash_key=True)
    brand_id = UnicodeAttribute(attr_name="brandId")
    title = UnicodeAttribute()
    status = UnicodeAttribute()
    list_key = UnicodeAttribute(attr_name="listKey")
    scheduled_at = UnicodeAttribute(attr_name="scheduledAt")
    created_at = UnicodeAttribute(attr_name="createdAt")
    started_at = UnicodeAttribute(attr_name="startedAt", null=True)
    ended_at = UnicodeAttribute(attr_name="endedAt", null=True)
    channel_arn = UnicodeAttribute(attr_name="channelArn")
    playback_url = UnicodeAttribute(attr_name="playbackUrl")
    ingest_endpoint = UnicodeAttribute(attr_name="ingestEndpoint")
    stream_key = UnicodeAttribute(attr_name="streamKey")
    by_status = SessionsByStatus()


class LineupModel(Model):
    class Meta:
        table_name = "unbound"

    session_id = UnicodeAttribute(hash_key=True, attr_name="sessionId")
    product_id = UnicodeAttribute(range_key=True, attr_name="productId")
    brand_id = UnicodeAttribute(attr_name="brandId")
    price_amount = NumberAttribute(attr_name="priceAmount")
    currency = UnicodeAttribute()
    quantity = NumberAttribute()
    per_customer_limit = NumberAttribute(attr_name="perCustomerLimit", null=True)
    added_at = UnicodeAttribute(attr_name="addedAt")


MODELS: dict[str, type[Model]] = {
    "brands": BrandModel,
    "products": ProductModel,
    "sessions": SessionModel,
    "lineup": LineupModel,
}


def bind(settings: Settings) -> None:
    """Point every model at its table and at the DynamoDB endpoint the environment names."""
    for key, model in MODELS.items():
        model.Meta.table_name = settings.tables[key]
        model.Meta.host = settings.dynamodb_endpoint
        model.Meta.region = settings.region
        model._connection = None  # drop a connection made for an earlier binding


def transact_connection(settings: Settings) -> Connection:
    return Connection(region=settings.region, host=settings.dynamodb_endpoint)


# ---------------------------------------------------------------------------------------------
# Cursors: the LastEvaluatedKey of a page, opaque to clients. A cursor is only accepted for the
# partition it came from, so a cursor can never open another brand's listing.


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, partition: tuple[str, str]) -> dict[str, Any] | None:
    if cursor is None:
        return None
    invalid = InvalidInput("cursor is not one this listing issued", [{"field": "cursor", "message": "invalid cursor"}])
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(key, dict) or not all(
        isinstance(name, str) and isinstance(value, dict) and list(value) == ["S"] and isinstance(value["S"], str)
        for name, value in key.items()
    ):
        raise invalid
    attribute, expected = partition
    if key.get(attribute) != {"S": expected} or not 2 <= len(key) <= 3:
        raise invalid
    return key


def page(results: Iterator[Model], convert) -> tuple[list, str | None]:
    items = [convert(row) for row in results]
    return items, encode_cursor(results.last_evaluated_key)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------


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
                        ingest_endpoint=row.ingest_endpoint, stream_key=row.stream_key),
    )


def _lineup_item(row: LineupModel) -> LineupItem:
    return LineupItem(
        session_id=row.session_id, product_id=row.product_id, brand_id=row.brand_id,
        price=Money(int(row.price_amount), row.currency), quantity=int(row.quantity),
        per_customer_limit=None if row.per_customer_limit is None else int(row.per_customer_limit),
        added_at=row.added_at,
    )


class ConditionFailed(Exception):
    def __init__(self, old_item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.old_item = old_item  # the raw item as it was, None if it did not exist


def update_or_old(model: type[Model], hash_key: str, actions: list, condition) -> Model:
    """One UpdateItem that returns the new item, or raises ConditionFailed with the item as it was.

    PynamoDB's Model.update can not ask for ReturnValuesOnConditionCheckFailure=ALL_OLD, so this
    builds the request with PynamoDB's serialiser and sends it through the same botocore client:
    a failed condition costs no second read to explain itself.
    """
    table = model._get_connection()
    request = table.connection.get_operation_kwargs(
        table.table_name, hash_key, actions=actions, condition=condition,
        return_values="ALL_NEW", return_values_on_condition_failure="ALL_OLD",
    )
    client = table.connection.client
    try:
        response = client.update_item(**request)
    except client.exceptions.ConditionalCheckFailedException as error:
        raise ConditionFailed(error.response.get("Item")) from None
    return model.from_raw_data(response["Attributes"])


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
            raise NotFound(f"product {product_id} not found") from None
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
                raise NotFound(f"product {product_id} not found") from None
            raise Conflict(
                "insufficient_stock", f"stock is {old['stock']['N']}; it can not go below zero",
                stock=int(old["stock"]["N"]),
            ) from None
        return _product(row)


class SessionRepository:
    def add(self, session: LiveSession) -> None:
        SessionModel(
            id=session.id, brand_id=session.brand_id, title=session.title, status=session.status.value,
            list_key=list_key(session.scheduled_at, session.id), scheduled_at=session.scheduled_at,
            created_at=session.created_at, channel_arn=session.channel.arn,
            playback_url=session.channel.playback_url, ingest_endpoint=session.channel.ingest_endpoint,
            stream_key=session.channel.stream_key,
        ).save(condition=SessionModel.id.does_not_exist())

    def get(self, session_id: str) -> LiveSession | None:
        try:
            return _session(SessionModel.get(session_id))
        except SessionModel.DoesNotExist:
            return None

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
                raise NotFound(f"session {session_id} not found") from None
            raise Conflict(
                "invalid_transition",
                f"a session that is {old['status']['S']} can not become {target.value}",
                currentStatus=old["status"]["S"],
            ) from None
        return _session(row)


class LineupRepository:
    def list_for_session(self, session_id: str) -> list[LineupItem]:
        return [_lineup_item(row) for row in LineupModel.query(session_id)]

    def add_taking_stock(self, item: LineupItem, editable: Iterable[SessionStatus], settings: Settings) -> None:
        """Allocate the item's quantity from the product's stock and add it, all or nothing.

        One transaction: the session must be the brand's and editable, the product the brand's
        with enough stock, and the product not yet in the lineup.
        """
        session_check = (SessionModel.brand_id == item.brand_id) & SessionModel.status.is_in(
            *[status.value for status in editable])
        product_condition = (ProductModel.brand_id == item.brand_id) & (ProductModel.stock >= item.quantity)
        row = LineupModel(
            session_id=item.session_id, product_id=item.product_id, brand_id=item.brand_id,
            price_amount=item.price.amount, currency=item.price.currency, quantity=item.quantity,
            per_customer_limit=item.per_customer_limit, added_at=item.added_at,
        )
        try:
            with TransactWrite(connection=transact_connection(settings)) as transaction:
                transaction.condition_check(SessionModel, item.session_id, condition=session_check)
                transaction.update(
                    ProductModel(id=item.product_id),
                    actions=[ProductModel.stock.add(-item.quantity), ProductModel.updated_at.set(item.added_at)],
                    condition=product_condition,
                )
                transaction.save(row, condition=LineupModel.product_id.does_not_exist())
        except TransactWriteError as error:
            # PynamoDB sends condition checks, then puts, then updates: reasons come in that order.
            session_failed, lineup_failed, product_failed = (
                reason is not None and reason.code == "ConditionalCheckFailed"
                for reason in (error.cancellation_reasons or [None, None, None])
            )
            if session_failed:
                raise Conflict("session_not_editable", "the lineup of an ended session can not change") from None
            if lineup_failed:
                raise Conflict("already_in_lineup", "the product is already in this session's lineup") from None
            if product_failed:
                raise Conflict("insufficient_stock", f"the product has fewer than {item.quantity} units in stock") from None
            raise

