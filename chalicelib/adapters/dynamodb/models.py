"""The DynamoDB tables as PynamoDB models, and their binding to tables and endpoint.

infra/tables.py defines the same tables for creation; tests/unit/test_infra_matches_models.py
holds the two equal.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute, JSONAttribute, ListAttribute, MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.adapters import aws
from chalicelib.adapters.dynamodb.support import Cursors
from chalicelib.settings import Settings

HOLD_SHARDS = 16
DUE_SHARDS = 8


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


class SessionsByBrand(GlobalSecondaryIndex):
    """A brand's own sessions in every status, by scheduled time (the same listKey)."""
    class Meta:
        index_name = "byBrand"
        projection = AllProjection()

    brand_id = UnicodeAttribute(hash_key=True, attr_name="brandId")
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
    featured_product_id = UnicodeAttribute(attr_name="featuredProductId", null=True)
    feature_seq = NumberAttribute(attr_name="featureSeq", null=True)
    replay_url = UnicodeAttribute(attr_name="replayUrl", null=True)
    chat_room_arn = UnicodeAttribute(attr_name="chatRoomArn", null=True)
    channel_type = UnicodeAttribute(attr_name="channelType", default="STANDARD")
    latency_mode = UnicodeAttribute(attr_name="latencyMode", default="LOW")
    hold_seconds = NumberAttribute(attr_name="holdSeconds", default=600)
    # Drops in the lineup, counted by the lineup's own transaction: deleting a session is
    # conditioned on it, so an add and a delete can never both succeed.
    lineup_count = NumberAttribute(attr_name="lineupCount", null=True)
    deleted_at = UnicodeAttribute(attr_name="deletedAt", null=True)  # its channel and room are gone
    by_status = SessionsByStatus()
    by_brand = SessionsByBrand()


DRAW_DUE = "pending"  # drawDue's one value: the index's one partition


class DrawsDue(GlobalSecondaryIndex):
    """Sparse: only draw drops not yet drawn and allocated carry drawDue, so the draws' sweeper
    reads only those, by opensAt (adapters/dynamodb/draws.py). Draw drops are few: one partition."""
    class Meta:
        index_name = "drawsDue"
        projection = KeysOnlyProjection()

    draw_due = UnicodeAttribute(hash_key=True, attr_name="drawDue")
    opens_at = UnicodeAttribute(range_key=True, attr_name="opensAt")


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
    opens_at = UnicodeAttribute(attr_name="opensAt", null=True)
    closes_at = UnicodeAttribute(attr_name="closesAt", null=True)
    shards = NumberAttribute(default=1)
    hold_seconds = NumberAttribute(attr_name="holdSeconds", default=600)
    revision = NumberAttribute(null=True)  # raised with its shards' by each change (absent: 0)
    mode = UnicodeAttribute(null=True)  # absent: open
    verified_only = BooleanAttribute(attr_name="verifiedOnly", null=True)
    entry_shards = NumberAttribute(attr_name="entryShards", null=True)
    draw_seed = UnicodeAttribute(attr_name="drawSeed", null=True)
    draw_due = UnicodeAttribute(attr_name="drawDue", null=True)  # DRAW_DUE until the draw is allocated
    draws_due = DrawsDue()


class StockShardModel(Model):
    """One shard of a drop's stock: `left` units, sold only inside [opensAt, closesAt), and only
    to a checkout priced from its lineup item's `revision` (absent: 0)."""
    class Meta:
        table_name = "unbound"

    shard_key = UnicodeAttribute(hash_key=True, attr_name="shardKey")  # sessionId#productId#n
    session_id = UnicodeAttribute(attr_name="sessionId")
    product_id = UnicodeAttribute(attr_name="productId")
    left = NumberAttribute()
    opens_at = UnicodeAttribute(attr_name="opensAt", null=True)
    closes_at = UnicodeAttribute(attr_name="closesAt", null=True)
    revision = NumberAttribute(null=True)


class PurchaseCountModel(Model):
    """Units a shopper holds of one drop, counted against the drop's per-customer limit."""
    class Meta:
        table_name = "unbound"

    count_key = UnicodeAttribute(hash_key=True, attr_name="countKey")  # sessionId#productId#shopperId
    bought = NumberAttribute()


class OpenOrdersModel(Model):
    """A shopper's open (reserved or paying) orders in one session, for the hold cap. A paid
    order stays listed until a reservation at the cap prunes it (services/checkout.py)."""
    class Meta:
        table_name = "unbound"

    count_key = UnicodeAttribute(hash_key=True, attr_name="countKey")  # open#sessionId#shopperId
    orders = UnicodeSetAttribute(null=True)  # absent once empty: DynamoDB keeps no empty set


class OrdersBySession(GlobalSecondaryIndex):
    class Meta:
        index_name = "bySession"
        projection = AllProjection()

    session_id = UnicodeAttribute(hash_key=True, attr_name="sessionId")
    created_at = UnicodeAttribute(range_key=True, attr_name="createdAt")


class OrdersOnHold(GlobalSecondaryIndex):
    """Sparse: only orders something is due to happen to carry holdShard/holdUntil (a reservation's
    expiry, a payment's window, a capture or refund to finish), so the sweepers read only those.
    The hash is spread over HOLD_SHARDS values so a spike of reservations is not one hot partition."""
    class Meta:
        index_name = "onHold"
        projection = AllProjection()

    hold_shard = NumberAttribute(hash_key=True, attr_name="holdShard")
    hold_until = NumberAttribute(range_key=True, attr_name="holdUntil")


class OrderModel(Model):
    class Meta:
        table_name = "unbound"

    id = UnicodeAttribute(hash_key=True)
    shopper_id = UnicodeAttribute(attr_name="shopperId")
    session_id = UnicodeAttribute(attr_name="sessionId")
    brand_id = UnicodeAttribute(attr_name="brandId")
    status = UnicodeAttribute()
    lines = JSONAttribute()
    currency = UnicodeAttribute()
    total_amount = NumberAttribute(attr_name="totalAmount")
    request_hash = UnicodeAttribute(attr_name="requestHash")
    created_at = UnicodeAttribute(attr_name="createdAt")
    expires_at = NumberAttribute(attr_name="expiresAt")
    hold_shard = NumberAttribute(attr_name="holdShard", null=True)
    hold_until = NumberAttribute(attr_name="holdUntil", null=True)
    closed_at = UnicodeAttribute(attr_name="closedAt", null=True)
    version = NumberAttribute(null=True)  # raised by every write of the order: webhooks' sequence
    payment_provider = UnicodeAttribute(attr_name="paymentProvider", null=True)
    payment_attempt = NumberAttribute(attr_name="paymentAttempt", null=True)
    payment_reference = UnicodeAttribute(attr_name="paymentReference", null=True)
    payment_due = NumberAttribute(attr_name="paymentDue", null=True)
    captured_at = UnicodeAttribute(attr_name="capturedAt", null=True)
    refund_requested_at = UnicodeAttribute(attr_name="refundRequestedAt", null=True)
    refunded_at = UnicodeAttribute(attr_name="refundedAt", null=True)
    refund_reference = UnicodeAttribute(attr_name="refundReference", null=True)
    by_session = OrdersBySession()
    on_hold = OrdersOnHold()


class TimelineModel(Model):
    class Meta:
        table_name = "unbound"

    session_id = UnicodeAttribute(hash_key=True, attr_name="sessionId")
    seq = NumberAttribute(range_key=True)
    type = UnicodeAttribute()
    product_id = UnicodeAttribute(attr_name="productId")
    at = UnicodeAttribute()
    price_amount = NumberAttribute(attr_name="priceAmount")
    currency = UnicodeAttribute()
    delivery = UnicodeAttribute(default="pending")
    sent_at = NumberAttribute(attr_name="sentAt", null=True)  # epoch ms when PutMetadata carried it


class CounterModel(Model):
    class Meta:
        table_name = "unbound"

    counter_key = UnicodeAttribute(hash_key=True, attr_name="counterKey")
    count = NumberAttribute(default=0)
    expires_at = TTLAttribute(attr_name="expiresAt", null=True)
    # A like shard: epoch ms of its last like, so its stream records say in which minute it counted.
    last_at = NumberAttribute(attr_name="lastAt", null=True)


class RateWindowModel(Model):
    """One subject's count in one window of one rate rule (key `rate#<rule>#<subject>#<index>`)."""
    class Meta:
        table_name = "unbound"

    key = UnicodeAttribute(hash_key=True)
    n = NumberAttribute(null=True)
    expires_at = TTLAttribute(attr_name="expiresAt", null=True)


class AnalyticsModel(Model):
    """A row of show analytics (adapters/dynamodb/analytics.py says which rows there are): the
    figures are counters that the stream handler ADDs to, one attribute per figure."""
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    reservations = NumberAttribute(null=True)
    reserved = NumberAttribute(null=True)
    paid = NumberAttribute(null=True)
    cancelled = NumberAttribute(null=True)
    expired = NumberAttribute(null=True)
    gmv = NumberAttribute(null=True)
    reserved_value = NumberAttribute(attr_name="reservedValue", null=True)
    units_sold = NumberAttribute(attr_name="unitsSold", null=True)
    paid_orders = NumberAttribute(attr_name="paidOrders", null=True)
    units_while_featured = NumberAttribute(attr_name="unitsWhileFeatured", null=True)
    buyers = NumberAttribute(null=True)
    likes = NumberAttribute(null=True)
    viewers = NumberAttribute(null=True)
    latency_allowance_ms = NumberAttribute(attr_name="latencyAllowanceMs", null=True)
    grace_ms = NumberAttribute(attr_name="graceMs", null=True)
    finalized_at = UnicodeAttribute(attr_name="finalizedAt", null=True)
    expires_at = TTLAttribute(attr_name="expiresAt", null=True)


class SecretMap(MapAttribute[str, Any]):
    """A webhook signing secret, encrypted (domain.ports.StoredSecret)."""
    ciphertext = UnicodeAttribute()
    created_at = UnicodeAttribute(attr_name="createdAt")
    expires_at = UnicodeAttribute(attr_name="expiresAt", null=True)


class WebhookEndpointModel(Model):
    """A brand's webhook endpoints, in the brand's partition (ids are time-ordered: oldest first)."""
    class Meta:
        table_name = "unbound"

    brand_id = UnicodeAttribute(hash_key=True, attr_name="brandId")
    id = UnicodeAttribute(range_key=True)
    url = UnicodeAttribute()
    events = ListAttribute[str](of=UnicodeAttribute)
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    disabled_reason = UnicodeAttribute(attr_name="disabledReason", null=True)
    secrets = ListAttribute[SecretMap](of=SecretMap)
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")
    failing_since = UnicodeAttribute(attr_name="failingSince", null=True)


class DeliveriesByCreated(LocalSecondaryIndex):
    """An endpoint's delivery log by creation (listKey = createdAt#id): newest first when read backwards."""
    class Meta:
        index_name = "byCreated"
        projection = AllProjection()

    endpoint_id = UnicodeAttribute(hash_key=True, attr_name="endpointId")
    list_key = UnicodeAttribute(range_key=True, attr_name="listKey")


class DeliveriesDue(GlobalSecondaryIndex):
    """Sparse: only pending deliveries carry dueShard, so the sweeper reads only those, by when
    they are due. The hash is spread over DUE_SHARDS values: a burst of events is not one hot partition."""
    class Meta:
        index_name = "due"
        projection = AllProjection()

    due_shard = NumberAttribute(hash_key=True, attr_name="dueShard")
    next_attempt_ms = NumberAttribute(range_key=True, attr_name="nextAttemptMs")


class WebhookDeliveryModel(Model):
    """One event to one endpoint: the outbox item and its line in the delivery log."""
    class Meta:
        table_name = "unbound"

    endpoint_id = UnicodeAttribute(hash_key=True, attr_name="endpointId")
    id = UnicodeAttribute(range_key=True)
    brand_id = UnicodeAttribute(attr_name="brandId")
    event_id = UnicodeAttribute(attr_name="eventId")
    event_type = UnicodeAttribute(attr_name="eventType")
    subject = UnicodeAttribute()
    sequence = NumberAttribute()
    body = UnicodeAttribute()
    created_at = UnicodeAttribute(attr_name="createdAt")
    list_key = UnicodeAttribute(attr_name="listKey")
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    next_attempt_ms = NumberAttribute(attr_name="nextAttemptMs", null=True)
    due_shard = NumberAttribute(attr_name="dueShard", null=True)
    last_attempt_at = UnicodeAttribute(attr_name="lastAttemptAt", null=True)
    last_response_code = NumberAttribute(attr_name="lastResponseCode", null=True)
    last_error = UnicodeAttribute(attr_name="lastError", null=True)
    manual = BooleanAttribute(default=False)
    lease = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(attr_name="expiresAt")
    by_created = DeliveriesByCreated()
    due = DeliveriesDue()


class EntryModel(Model):
    """A queue or draw drop's partition (dropKey = sessionId#productId): an entry per shopper
    (entryKey = the shopper id) and the drop's own state items, whose entryKeys start with "#"
    (domain ids never do): `#pos#<k>` position counters (`n`), `#queue` (the admission steps),
    `#draw`."""
    class Meta:
        table_name = "unbound"

    drop_key = UnicodeAttribute(hash_key=True, attr_name="dropKey")
    entry_key = UnicodeAttribute(range_key=True, attr_name="entryKey")
    # an entry
    position = NumberAttribute(null=True)
    joined_at = UnicodeAttribute(attr_name="joinedAt", null=True)
    # a position counter
    n = NumberAttribute(null=True)
    # the queue (#queue): domain/queues.py QueueState
    steps = ListAttribute(null=True)  # [[atMs, upTo, left], ...]
    lapsed_through = NumberAttribute(attr_name="lapsedThrough", null=True)
    last_step_ms = NumberAttribute(attr_name="lastStepMs", null=True)
    left = NumberAttribute(null=True)
    last_admission_ms = NumberAttribute(attr_name="lastAdmissionMs", null=True)
    closed = BooleanAttribute(null=True)


class DrawModel(Model):
    """A draw drop's record in its entries partition (adapters/dynamodb/draws.py): `#draw`, written
    once (seed revealed, entrants counted, winners in rank order, drawnAt), then only its
    allocation progress; its pages of entrants, `#draw#<draw id>#<page>`, written before it; and
    `#closed`, written before the entrants are read."""
    class Meta:
        table_name = "unbound"

    drop_key = UnicodeAttribute(hash_key=True, attr_name="dropKey")
    entry_key = UnicodeAttribute(range_key=True, attr_name="entryKey")
    # `#draw`
    draw_id = UnicodeAttribute(attr_name="drawId", null=True)
    seed = UnicodeAttribute(null=True)
    units = NumberAttribute(null=True)
    entrant_count = NumberAttribute(attr_name="entrantCount", null=True)
    entrant_pages = NumberAttribute(attr_name="entrantPages", null=True)
    winners = ListAttribute[str](of=UnicodeAttribute, null=True)
    drawn_at = UnicodeAttribute(attr_name="drawnAt", null=True)
    allocated = NumberAttribute(null=True)
    # a page of entrants, in shopper id order
    entrants = ListAttribute[str](of=UnicodeAttribute, null=True)
    # `#closed`: entries closed, written before the entrants are read
    closed_at = UnicodeAttribute(attr_name="closedAt", null=True)


class TestIntentModel(Model):
    """The built-in test payment provider's intents (adapters/payments.py)."""
    class Meta:
        table_name = "unbound"

    id = UnicodeAttribute(hash_key=True)
    order_id = UnicodeAttribute(attr_name="orderId")
    attempt = NumberAttribute()
    status = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    failure = UnicodeAttribute(null=True)
    refund = UnicodeAttribute(null=True)
    expiration = TTLAttribute()


MODELS: dict[str, type[Model]] = {
    "brands": BrandModel,
    "products": ProductModel,
    "sessions": SessionModel,
    "lineup": LineupModel,
    "stock": StockShardModel,
    "purchases": PurchaseCountModel,
    "orders": OrderModel,
    "payments": TestIntentModel,
    "timeline": TimelineModel,
    "counters": CounterModel,
    "analytics": AnalyticsModel,
    "webhooks": WebhookEndpointModel,
    "deliveries": WebhookDeliveryModel,
    "limits": RateWindowModel,
    "entries": EntryModel,
}
# Models of other items of a table above (the same keys), bound with it.
ITEM_MODELS: dict[str, tuple[type[Model], ...]] = {
    "purchases": (OpenOrdersModel,),
    "entries": (DrawModel,),
}


def bind(settings: Settings) -> None:
    """Point every model at its table, all of them at the container's one DynamoDB connection."""
    shared = connection(settings.region, settings.dynamodb_endpoint)
    bound = [*MODELS.items(), *((key, model) for key, models in ITEM_MODELS.items() for model in models)]
    for key, model in bound:
        model.Meta.table_name = settings.tables[key]
        model.Meta.host = settings.dynamodb_endpoint
        model.Meta.region = settings.region
        model._connection = None  # drop a connection made for an earlier binding
        table = model._get_connection()  # PynamoDB's table view of the model: its keys and indexes
        try:
            shared.add_meta_table(table.get_meta_table())
        except ValueError:
            pass  # a second model of the same table (ITEM_MODELS): the same keys
        table.connection = shared


def prime(settings: Settings) -> None:
    """Prime the shared client for the calls of a checkout and of `/live`, so that a new
    container's first buyer and first viewer wait no longer than the next
    (bench/first_requests.py). Nothing is sent."""
    aws.prime(connection(settings.region, settings.dynamodb_endpoint).client, priming_calls(settings))


def priming_calls(settings: Settings) -> list[tuple[str, dict]]:
    """A checkout's calls (Query, TransactWriteItems) and `/live`'s (GetItem, Query, BatchGetItem).
    The placeholder key (`primeKey`) is no table's: a call that did get out would be refused, not
    written (a test sends them)."""
    table, key = settings.tables["lineup"], {"primeKey": {"S": "prime"}}
    value = {":v": {"S": "prime"}}
    return [
        ("query", {"TableName": table, "KeyConditionExpression": "primeKey = :v", "ExpressionAttributeValues": value}),
        ("transact_write_items", {"TransactItems": [
            {"Put": {"TableName": table, "Item": key, "ConditionExpression": "attribute_not_exists(primeKey)"}},
            {"Update": {"TableName": table, "Key": key, "UpdateExpression": "SET v = :v",
                        "ConditionExpression": "attribute_exists(primeKey)", "ExpressionAttributeValues": value}}]}),
        ("get_item", {"TableName": table, "Key": key}),
        ("batch_get_item", {"RequestItems": {table: {"Keys": [key]}}}),
    ]


class SharedConnection(Connection):
    """PynamoDB's connection on the container's one DynamoDB client (chalicelib/adapters/aws.py),
    instead of a botocore session and client of its own per model class."""

    @property
    def client(self) -> Any:
        return aws.client("dynamodb", self.region, self.host)


@lru_cache(maxsize=4)
def connection(region: str, host: str | None) -> SharedConnection:
    return SharedConnection(region=region, host=host)


@dataclass(frozen=True)
class Db:
    """What every repository needs besides its models: the client for transactions, and the
    cursor signer."""
    region: str
    host: str | None
    cursors: Cursors

    @property
    def client(self) -> Any:
        return aws.client("dynamodb", self.region, self.host)
