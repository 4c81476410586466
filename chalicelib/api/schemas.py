"""The shapes of the API: pydantic models that validate requests and describe responses.

The OpenAPI document is generated from these same models (chalicelib/api/openapi.py), and every
response is built through a view model, so a field that is not in a public view (a stream key,
an API key hash, stock) can not reach a public response.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Callable, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from chalicelib.domain.clock import iso_of_ms, to_iso
from chalicelib.domain.draws import MAX_DRAW_UNITS
from chalicelib.domain.money import CURRENCY_EXPONENTS, MAX_AMOUNT, Money, is_currency
from chalicelib.domain.records import Entry, LineupItem, Session, Product

if TYPE_CHECKING:
    from chalicelib.services.queues import EntryStatus

MAX_UNITS = 1_000_000_000


def _known_currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError("must be an ISO 4217 currency code, such as EUR or USD")
    return code


# Moments a show can have: beyond them, a date is a typo (and year 1 or 9999 overflows in UTC).
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)  # exclusive


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("must include a time zone, such as 2026-12-01T18:00:00Z")
    # Compared before any conversion: converting year 1 or 9999 to UTC can overflow.
    if not EARLIEST <= moment < LATEST:
        raise ValueError("must be from 2000-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z")
    return moment


Moment = Annotated[datetime, AfterValidator(_aware), Field(
    description="ISO 8601 with a time zone, from 2000-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z",
    # What a pattern can say of that window: the year as written (the offset is the description's).
    json_schema_extra={"pattern": "^20[0-9]{2}-"})]
# What the API writes: ISO 8601 UTC with milliseconds and a Z.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

# Free text refuses what can hide or reorder what a reader sees: C0 and C1 controls and DEL, and the
# Unicode bidi overrides and isolates. A description keeps its line breaks and tabs; one line
# (a title, a name, a reason) keeps none, and shows at least one visible character. Each pattern
# is both the check and, as written, the document's `pattern` (valid in Python, ECMA-262 and Rust).
_HIDDEN = r"\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069"
_HIDDEN_IN_TEXT = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069"
ONE_LINE_PATTERN = rf"^[^{_HIDDEN}]*[^\s{_HIDDEN}][^{_HIDDEN}]*$"
TEXT_PATTERN = rf"^[^{_HIDDEN_IN_TEXT}]*$"
# An https URL in RFC 3986's characters (percent-encode the rest): a host name, a port that can be
# one, then path, query and fragment. Anything it admits, urllib.parse reads with that host.
_URL_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
IMAGE_URL_PATTERN = (rf"^https://[A-Za-z0-9.-]+(?::{_PORT})?(?:/(?:{_URL_CHAR}|/)*)?"
                     rf"(?:\?(?:{_URL_CHAR}|[/?])*)?(?:#(?:{_URL_CHAR}|[/?])*)?$")


def _checked(pattern: str, message: str, also: Callable[[str], bool] = lambda _: True):
    """A string rule: the check, and the same pattern in the document."""
    compiled = re.compile(pattern)

    def check(text: str) -> str:
        if not (compiled.fullmatch(text) and also(text)):
            raise ValueError(message)
        return text

    return [AfterValidator(check), Field(json_schema_extra={"pattern": pattern})]


def _has_host(url: str) -> bool:
    try:
        parts = urlsplit(url)
        has_valid_port = parts.port is None or parts.port > 0  # a port that is not a number raises here
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and has_valid_port


def _one_line(max_length: int):
    return Annotated[str, Field(min_length=1, max_length=max_length),
                     *_checked(ONE_LINE_PATTERN, "one line of visible text: no control characters "
                                                 "(NUL, ESC, CR, LF, ...) nor bidi overrides")]


Title = _one_line(200)
Description = Annotated[str, Field(max_length=5000),
                        *_checked(TEXT_PATTERN, "no control characters (NUL, ESC, ...) nor bidi overrides; "
                                                "line breaks and tabs are fine")]
Reason = _one_line(256)
ImageUrl = Annotated[str, Field(max_length=2048, json_schema_extra={"format": "uri"}),
                     *_checked(IMAGE_URL_PATTERN, "must be an https URL with a host (percent-encode spaces "
                                                  "and non-ASCII)", _has_host)]
Images = Annotated[list[ImageUrl], Field(max_length=10)]
Currency = Annotated[str, Field(min_length=3, max_length=3, description="ISO 4217 code",
                                json_schema_extra={"enum": sorted(CURRENCY_EXPONENTS)})]
# JSON has one kind of number, and JSON Schema (so the document) counts 2.0 as an integer: so does
# the API. 1.5, "2" and true are still refused.
# (After the bounds in each Annotated, so that the bounds stay minimum/maximum in the document.)
WHOLE = BeforeValidator(lambda v: int(v) if isinstance(v, float) and v.is_integer() else v)
Units = Annotated[int, Field(ge=0, le=MAX_UNITS), WHOLE]
ResourceId = Annotated[str, Field(min_length=1, max_length=64)]

# Every model's validator and serialiser are built on its first use, not at import: a container
# starts without building the back office's (analytics, webhooks...); the crowd's routes are built
# in Lambda's init phase all the same (routing.build_crowd_models, from app.py).
DEFERRED = True


class RequestModel(BaseModel):
    # Strict: "12" is not a number, true is not 1, 1.5 is not an integer; unknown fields are mistakes.
    model_config = ConfigDict(strict=True, extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              defer_build=DEFERRED)



class ResponseModel(BaseModel):
    # Closed: the owner's and the public views of one thing can never be mistaken for each other.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=DEFERRED)


class MoneyIn(RequestModel):
    amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT, description="Integer amount of minor units (cents)"), WHOLE]
    currency: Annotated[Currency, AfterValidator(_known_currency)]

    def to_domain(self) -> Money:
        return Money(self.amount, self.currency)


class MoneyOut(ResponseModel):
    amount: int
    currency: Currency

    @classmethod
    def of(cls, money: Money) -> "MoneyOut":
        return cls(amount=money.amount, currency=money.currency)


class ProblemError(ResponseModel):
    field: str = Field(description="Where: a body field (dotted, e.g. price.currency), a query parameter or a header")
    message: str


class Problem(ResponseModel):
    """RFC 9457 problem details. Besides these, a problem may carry facts of its own type (e.g.
    productId and left for sold_out, retryAfter for busy); a fact that has no value is left out."""
    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    field: str = Field(None, description="The first offending field or parameter (invalid input, not found)")
    errors: list[ProblemError] = Field(None, description="Every offending field, for invalid input")


# --- queries --------------------------------------------------------------------------------


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=DEFERRED)
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, Field(min_length=1, max_length=2048,
                                 description="nextCursor of the previous page; absent for the first")] = None


class SessionListQuery(PageQuery):
    status: Literal["scheduled", "live", "ended"] = "live"


class BrandSessionListQuery(PageQuery):
    status: Literal["scheduled", "live", "ended"] = Field(None, description="Only this status; every status if absent")


# --- brands ---------------------------------------------------------------------------------


class BrandCreate(RequestModel):
    name: _one_line(100)


class BrandCreated(ResponseModel):
    id: str
    name: str
    api_key: str = Field(description="Shown once; Livedrop keeps only a hash of it")
    created_at: Timestamp


# --- products -------------------------------------------------------------------------------


class ProductCreate(RequestModel):
    title: Title
    description: Description | None = None
    price: MoneyIn
    stock: Units
    images: Images = []


class ProductPatch(RequestModel):
    """Fields to change, at least one; `description: null` removes it (the others can not be null).
    Stock changes go through /stock."""
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    # Absent means unchanged; the types refuse null, except the description's.
    title: Title = None
    description: Description | None = None
    price: MoneyIn = None
    images: Images = None

    @model_validator(mode="after")
    def _not_empty(self) -> "ProductPatch":
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self


class StockAdjust(RequestModel):
    delta: Annotated[int, Field(ge=-MAX_UNITS, le=MAX_UNITS, description="Units to add (negative to remove), not 0",
                                json_schema_extra={"not": {"const": 0}}), WHOLE]

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("delta must not be zero")
        return delta


class ProductView(ResponseModel):
    """The owner brand's view."""
    id: str
    title: str
    description: str | None
    price: MoneyOut
    stock: int
    images: list[str]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, product: Product) -> "ProductView":
        return cls(id=product.id, title=product.title, description=product.description,
                   price=MoneyOut.of(product.price), stock=product.stock, images=list(product.images),
                   created_at=product.created_at, updated_at=product.updated_at)


class PublicProductView(ResponseModel):
    id: str
    title: str
    description: str | None
    price: MoneyOut
    images: list[str]
    in_stock: bool

    @classmethod
    def of(cls, product: Product) -> "PublicProductView":
        return cls(id=product.id, title=product.title, description=product.description,
                   price=MoneyOut.of(product.price), images=list(product.images), in_stock=product.stock > 0)


class ProductPage(ResponseModel):
    items: list[ProductView]
    next_cursor: str | None


# --- sessions -------------------------------------------------------------------------------


class SessionCreate(RequestModel):
    title: Title
    scheduled_at: Moment | None = None
    hold_seconds: Annotated[int, Field(ge=5, le=86400, description="How long a reservation holds its units"),
                            WHOLE] = 600
    channel_type: Literal["BASIC", "STANDARD", "ADVANCED_SD", "ADVANCED_HD"] | None = Field(
        None, description="IVS channel type; the deployment's default if absent")
    latency_mode: Literal["LOW", "NORMAL"] | None = Field(None, description="IVS latency mode")

    def scheduled_iso(self) -> str | None:
        return to_iso(self.scheduled_at) if self.scheduled_at else None


class LineupAdd(RequestModel):
    product_id: ResourceId
    price: MoneyIn | None = Field(None, description="Session price; the product's price if absent")
    quantity: Annotated[int, Field(ge=1, le=MAX_UNITS), WHOLE] | None = Field(
        None, description="Units taken from the product's stock for this show; all of it if absent")
    per_customer_limit: Annotated[int, Field(ge=1, le=1000), WHOLE] | None = Field(
        None, description="Most units one shopper may buy; no limit if absent (a queue drop: 1)")
    opens_at: Moment | None = Field(None, description="When the drop opens; when the session goes live if absent")
    closes_at: Moment | None = Field(None, description="When the drop closes, strictly after opensAt (a rule JSON "
                                                       "Schema can not state); when the session ends if absent")
    shards: Annotated[int, Field(ge=1, le=50), WHOLE] | None = Field(
        None, description="Stock items the quantity is spread over; from expectedOrdersPerSecond if absent")
    expected_orders_per_second: Annotated[int, Field(ge=1, le=100_000), WHOLE] | None = Field(
        None, description="Expected peak demand: one shard per 250 orders/s")
    mode: Literal["open", "queue", "draw"] = Field(
        "open", description="open: first come, first served; queue: shoppers join before it opens and buy "
                            "when admitted, in order; draw: shoppers enter until opensAt (required), then a "
                            "seeded draw reserves one unit for each winner (at most "
                            f"{MAX_DRAW_UNITS:,} units: a larger quantity, or a stock above it when quantity "
                            "is absent, is refused naming quantity)")
    verified_only: bool = Field(False, description="Only shoppers with a verified identity may buy or enter")
    hold_seconds: Annotated[int, Field(ge=30, le=86400), WHOLE] | None = Field(
        None, description="How long this drop's reservations hold their units: at most the session's "
                          "holdSeconds (the session's if absent)")
    expected_entries_per_second: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] | None = Field(
        None, description="Queue drops: expected peak joins per second (one position counter per 1,000)")

    @field_validator("closes_at")
    @classmethod
    def _window(cls, closes_at, info):
        opens_at = info.data.get("opens_at")
        if opens_at and closes_at and closes_at <= opens_at:
            raise ValueError("closesAt must be after opensAt")
        return closes_at


class LineupPatch(RequestModel):
    """Fields to change, at least one, before the drop opens; `perCustomerLimit: null` removes the
    limit (`price`, `verifiedOnly` and `holdSeconds` can not be null). A drop's mode is set when
    it is added and does not change."""
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    price: MoneyIn = Field(None, description="Session price")
    per_customer_limit: Annotated[int, Field(ge=1, le=1000), WHOLE] | None = Field(
        None, description="Most units one shopper may buy; null removes the limit")
    verified_only: bool = Field(None, description="Only shoppers with a verified identity may buy or enter (an "
                                                  "open drop's only: a queue or draw drop keeps the one it was "
                                                  "added with)")
    hold_seconds: Annotated[int, Field(ge=30, le=86400), WHOLE] = Field(
        None, description="How long this drop's reservations hold their units (at most the session's)")

    @model_validator(mode="after")
    def _not_empty(self) -> "LineupPatch":
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self


class LineupRemoved(ResponseModel):
    session_id: str
    product_id: str
    returned_units: int = Field(description="Units given back to the product's stock")


class PublicLineupItem(ResponseModel):
    product_id: str
    title: str | None
    image: str | None
    price: MoneyOut
    per_customer_limit: int | None
    mode: Literal["open", "queue", "draw"]
    verified_only: bool

    @classmethod
    def of(cls, item: LineupItem, product: Product | None) -> "PublicLineupItem":
        return cls(product_id=item.product_id, title=product.title if product else None,
                   image=product.images[0] if product and product.images else None,
                   price=MoneyOut.of(item.price), per_customer_limit=item.per_customer_limit,
                   mode=item.mode.value, verified_only=item.verified_only)


class LineupItemView(PublicLineupItem):
    """The owner brand's view adds the quantity allocated to the show and the drop settings."""
    quantity: int
    added_at: Timestamp
    opens_at: Timestamp | None
    closes_at: Timestamp | None
    shards: int
    hold_seconds: int

    @classmethod
    def of(cls, item: LineupItem, product: Product | None) -> "LineupItemView":
        public = PublicLineupItem.of(item, product).model_dump()
        return cls(**public, quantity=item.quantity, added_at=item.added_at, opens_at=item.opens_at,
                   closes_at=item.closes_at, shards=item.shards, hold_seconds=item.hold_seconds)


class PublicSessionSummary(ResponseModel):
    id: str
    brand_id: str
    title: str
    status: Literal["scheduled", "live", "ended"]
    scheduled_at: Timestamp
    started_at: Timestamp | None
    ended_at: Timestamp | None
    playback_url: str

    @classmethod
    def fields_of(cls, session: Session) -> dict:
        return dict(id=session.id, brand_id=session.brand_id, title=session.title, status=session.status.value,
                    scheduled_at=session.scheduled_at, started_at=session.started_at,
                    ended_at=session.ended_at, playback_url=session.channel.playback_url)

    @classmethod
    def of(cls, session: Session) -> "PublicSessionSummary":
        return cls(**cls.fields_of(session))


class PublicSessionView(PublicSessionSummary):
    lineup: list[PublicLineupItem]

    @classmethod
    def with_lineup(cls, session: Session, lineup) -> "PublicSessionView":
        return cls(**cls.fields_of(session), lineup=[PublicLineupItem.of(i, p) for i, p in lineup])


class SessionView(PublicSessionSummary):
    """The owner brand's view: the lineup with quantities. Never the stream key (see /ingest)."""
    created_at: Timestamp
    hold_seconds: int
    channel_type: str
    latency_mode: str
    lineup: list[LineupItemView]

    @classmethod
    def with_lineup(cls, session: Session, lineup) -> "SessionView":
        return cls(**cls.fields_of(session), created_at=session.created_at, hold_seconds=session.hold_seconds,
                   channel_type=session.channel_type, latency_mode=session.latency_mode,
                   lineup=[LineupItemView.of(i, p) for i, p in lineup])


class SessionPage(ResponseModel):
    items: list[PublicSessionSummary]
    next_cursor: str | None


class OwnedSessionSummary(PublicSessionSummary):
    """A session in its brand's own listing: the summary and how many drops its lineup holds."""
    lineup_count: int = Field(description="Products in the lineup (0 for sessions stored before drops were counted)")

    @classmethod
    def of_owned(cls, owned) -> "OwnedSessionSummary":
        return cls(**cls.fields_of(owned.session), lineup_count=owned.lineup_count)


class OwnedSessionPage(ResponseModel):
    items: list[OwnedSessionSummary]
    next_cursor: str | None


class IngestView(ResponseModel):
    ingest_endpoint: str
    stream_key: str


# --- shoppers and orders ---------------------------------------------------------------------


class ShopperCreated(ResponseModel):
    # `verified` is always sent: the document says so, default or not.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    shopper_id: str
    token: str = Field(description="Send as `Authorization: Bearer <token>` on shopper routes")
    expires_at: Timestamp
    verified: bool = Field(False, description="true for a verified shopper (POST /v1/shoppers/verified): the "
                                              "shopper id is the signed-in person's, the same at every sign-in")


class OrderItemIn(RequestModel):
    product_id: ResourceId
    quantity: Annotated[int, Field(ge=1, le=1000), WHOLE]


class OrderCreate(RequestModel):
    session_id: ResourceId
    items: Annotated[list[OrderItemIn], Field(
        min_length=1, max_length=20,
        description="Each product at most once (add up its quantity instead): JSON Schema can not say so")]
    admission: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[!-~]+$")] | None = Field(
        None, description="For a queue drop: the admission token its queue gave this shopper "
                          "(GET .../entries/me); not part of the Idempotency-Key's request")

    @field_validator("items")
    @classmethod
    def _distinct_products(cls, items: list[OrderItemIn]) -> list[OrderItemIn]:
        ids = [item.product_id for item in items]
        if len(set(ids)) != len(ids):
            raise ValueError("each product may appear once in items; add up its quantity instead")
        return items


class PaymentIn(RequestModel):
    payment_token: Annotated[str | None, Field(
        default=None, min_length=1, max_length=200,
        description='The payment method to confirm with, here and now. Test provider (required): "ok" '
                    'authorises, "decline" declines. Stripe: a PaymentMethod id (pm_...); leave it out to '
                    'confirm in the browser with Stripe.js and the answer\'s clientSecret')]


class RefundIn(RequestModel):
    reason: Annotated[str | None, Field(default=None, max_length=500,
                                        description="Why, for the brand's own records (kept in its logs)")]


class OrderLineView(ResponseModel):
    product_id: str
    quantity: int
    unit_price: MoneyOut


class PaymentSummary(ResponseModel):
    provider: Literal["test", "stripe"]
    attempt: int = Field(description="Attempts are numbered from 1; a declined or abandoned one is followed by the next")
    reference: str | None = Field(description="The attempt's intent at the provider (a Stripe PaymentIntent id)")
    captured_at: Timestamp | None = Field(description="When the money was taken; a paid order is captured "
                                                      "right after it is written paid")
    refund_requested_at: Timestamp | None
    refunded_at: Timestamp | None
    refund_reference: str | None = Field(description="The provider's refund (re_...), or the intent voided "
                                                     "when the refund came before the capture")

    @classmethod
    def of(cls, order) -> "PaymentSummary | None":
        if order.payment_attempt is None:
            return None
        return cls(provider=order.payment_provider or "test", attempt=order.payment_attempt,
                   reference=order.payment_reference, captured_at=order.captured_at,
                   refund_requested_at=order.refund_requested_at, refunded_at=order.refunded_at,
                   refund_reference=order.refund_reference)


class OrderView(ResponseModel):
    id: str
    session_id: str
    status: Literal["reserved", "paying", "paid", "cancelled", "expired"]
    items: list[OrderLineView]
    total: MoneyOut
    created_at: Timestamp
    expires_at: Timestamp = Field(description="Until when a reserved order holds its units")
    closed_at: Timestamp | None
    payment: PaymentSummary | None = Field(description="null until the order's first payment attempt")

    @classmethod
    def of(cls, order) -> "OrderView":
        return cls(
            id=order.id, session_id=order.session_id, status=order.status.value,
            items=[OrderLineView(product_id=line.product_id, quantity=line.quantity,
                                 unit_price=MoneyOut.of(line.unit_price)) for line in order.lines],
            total=MoneyOut.of(order.total), created_at=order.created_at,
            expires_at=to_iso(datetime.fromtimestamp(order.expires_at, tz=timezone.utc)), closed_at=order.closed_at,
            payment=PaymentSummary.of(order),
        )


class OrderPayment(OrderView):
    client_secret: str | None = Field(description="While `paying` with Stripe: what Stripe.js confirms with "
                                                  "(stripe.confirmPayment). Only the shopper ever gets it")
    publishable_key: str | None = Field(description="The Stripe publishable key Stripe.js is loaded with, "
                                                    "when one is configured")

    @classmethod
    def of_payment(cls, payment) -> "OrderPayment":
        return cls(**OrderView.of(payment.order).model_dump(), client_secret=payment.client_secret,
                   publishable_key=payment.publishable_key)


class PaymentConfig(ResponseModel):
    provider: Literal["test", "stripe"]
    publishable_key: str | None = Field(description="Stripe's publishable key, when one is configured")
    confirms_in_browser: bool = Field(description="true: pay without paymentToken and confirm the clientSecret "
                                                  "with Stripe.js; false: send paymentToken")


class EventReceived(ResponseModel):
    received: bool
    outcome: str = Field(description="What the event led to: the order's status, or ignored, not ours")


class OrderPage(ResponseModel):
    items: list[OrderView]
    next_cursor: str | None


class OrderListQuery(PageQuery):
    session_id: Annotated[str, Field(alias="sessionId", min_length=1, max_length=64)]


class LiveLineupItem(PublicLineupItem):
    stock_left: int = Field(description="Units left over all the drop's shards")
    sold_out: bool
    opens_at: Timestamp | None = Field(description="null: not open yet (it opens when the session goes live)")
    closes_at: Timestamp | None


class FeatureIn(RequestModel):
    product_id: ResourceId


class TimelineItem(ResponseModel):
    seq: int
    type: Literal["feature", "drop_open", "sold_out"]
    product_id: str
    at: Timestamp
    price: MoneyOut
    delivery: str = Field(description="delivered, recorded_locally, channel_not_broadcasting, throttled, "
                                      "superseded (a newer state went out instead), queued or pending")

    @classmethod
    def of(cls, entry) -> "TimelineItem":
        return cls(seq=entry.seq, type=entry.type, product_id=entry.product_id, at=entry.at,
                   price=MoneyOut.of(entry.price), delivery=entry.delivery)


class MetadataDelivery(ResponseModel):
    delivered: bool = Field(description="Whether the timed metadata reached the stream")
    reason: str | None
    bytes: int


class FeatureView(ResponseModel):
    featured: TimelineItem
    metadata: MetadataDelivery


class LiveView(ResponseModel):
    id: str
    status: Literal["scheduled", "live", "ended"]
    title: str
    playback_url: str
    featured_product_id: str | None = Field(description="The product pinned on the stream now")
    viewer_count: int | None = Field(description="From IVS while live (cached briefly); null otherwise")
    likes: int
    timeline: list[TimelineItem] = Field(description="What was featured, oldest first, for late joiners")
    lineup: list[LiveLineupItem]

    @classmethod
    def of(cls, state) -> "LiveView":
        session, drops = state.session, state.drops
        return cls(
            id=session.id, status=session.status.value, title=session.title,
            playback_url=session.channel.playback_url, featured_product_id=session.featured_product_id,
            viewer_count=state.viewers, likes=state.likes, timeline=[TimelineItem.of(e) for e in state.timeline],
            lineup=[LiveLineupItem(**PublicLineupItem.of(item, product).model_dump(),
                                   stock_left=sum(stock.left.values()) if stock else 0,
                                   sold_out=not stock or sum(stock.left.values()) == 0,
                                   opens_at=stock.opens_at if stock else item.opens_at,
                                   closes_at=stock.closes_at if stock else item.closes_at)
                    for item, product, stock in drops],
        )


class ChapterView(ResponseModel):
    product_id: str
    start_offset_ms: int
    end_offset_ms: int | None


class ReplayView(ResponseModel):
    session_id: str
    replay_url: str | None = Field(description="Set when IVS reports the recording ended; null until then")
    chapters: list[ChapterView] = Field(description="The feature windows: what was on screen when")


class ChatTokenView(ResponseModel):
    token: str = Field(description="For the IVS Chat client SDK; lets this shopper send messages")
    token_expires_at: Timestamp
    session_expires_at: Timestamp
    messaging_endpoint: str | None = Field(
        description="The IVS Chat messaging websocket for the room's region (wss://edge.ivschat.<region>.amazonaws.com), "
                    "to connect with the token; null when the deployment has no real chat room (embedded mode): "
                    "hide the chat")


class ModerateMessage(RequestModel):
    message_id: Annotated[str, Field(min_length=12, max_length=12, pattern=r"^[a-zA-Z0-9]+$",
                                     description="The IVS Chat message id")]
    reason: Reason | None = None


class ModerateUser(RequestModel):
    user_id: Annotated[str, Field(min_length=1, max_length=128)]
    reason: Reason | None = None


class ModerationDone(ResponseModel):
    action: Literal["message_deleted", "user_disconnected"]
    target: str


class LikesView(ResponseModel):
    likes: int


class SessionDeleted(ResponseModel):
    id: str
    record_deleted: bool = Field(description="False when the session had drops: its record stays for orders and replay")
    channel_deleted: bool
    chat_room_deleted: bool


# --- queue and draw entries ---------------------------------------------------------------------


class EntryView(ResponseModel):
    """A shopper's entry in a queue or draw drop."""
    session_id: str
    product_id: str
    position: int = Field(description="Place in the queue, from 1: in join order (per position counter, when the "
                                      "drop expects over 1,000 joins a second)")
    joined_at: Timestamp

    @classmethod
    def fields_of(cls, entry: Entry) -> dict:
        return dict(session_id=entry.session_id, product_id=entry.product_id, position=entry.position,
                    joined_at=entry.joined_at)

    @classmethod
    def of(cls, entry: Entry) -> "EntryView":
        return cls(**cls.fields_of(entry))


class EntryStatusView(EntryView):
    """Where the entry stands now."""
    state: Literal["waiting", "admitted", "lapsed", "sold_out", "closed", "entered", "won", "not_won"] = Field(
        description="Queues: waiting (see ahead), admitted (check out with `admission` before "
                    "admissionExpiresAt), lapsed (the admission is over), sold_out (no unit left, none held), "
                    "closed (the drop closed before this turn). Draws: entered until the draw, then won (see "
                    "orderId) or not_won")
    ahead: int | None = Field(description="While waiting: positions before this one not yet admitted (an "
                                          "estimate); else null")
    admission: str | None = Field(description="While admitted: the admission token to check out with; else null")
    admission_expires_at: Timestamp | None = Field(description="While admitted: when the admission ends; else null")
    order_id: str | None = Field(description="A draw's winner: the order the draw reserved for them, to pay "
                                             "(null until it is made); else null")

    @classmethod
    def of_status(cls, status: EntryStatus) -> "EntryStatusView":
        expires = status.admission_expires_ms
        return cls(**cls.fields_of(status.entry), state=status.state, ahead=status.ahead, admission=status.admission,
                   admission_expires_at=None if expires is None else iso_of_ms(expires), order_id=status.order_id)
