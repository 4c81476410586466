"""The shapes of webhooks: the endpoint routes' requests and answers, and the events themselves
(the OpenAPI document's `webhooks`), each event's `data` rendered by the API's own views."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from chalicelib.api.schemas import (
    _PORT, _URL_CHAR, LineupItemView, _checked, MoneyOut, OrderView, PageQuery, RequestModel, ResponseModel, SessionView,
    Timestamp, _one_line,
)
from chalicelib.domain.clock import iso_of_ms
from chalicelib.domain.ports import WebhookDelivery, Endpoint
from chalicelib.domain.records import LineupItem, Order, Product, Session, TimelineEntry
from chalicelib.domain.webhooks import EVENT_TYPES, MAX_URL_LENGTH

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
# What a schema can say of a webhook URL: http(s), a host (a name or a bracketed IPv6 address), no
# user name, no fragment. What it resolves to is checked when it is registered and at each attempt.
WEBHOOK_URL_PATTERN = (rf"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::{_PORT})?(?:/(?:{_URL_CHAR}|/)*)?"
                       rf"(?:\?(?:{_URL_CHAR}|[/?])*)?$")
WebhookUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"format": "uri"}),
                       *_checked(WEBHOOK_URL_PATTERN, "must be an http(s) URL with a host, no user name and no "
                                                      "fragment (percent-encode spaces and non-ASCII)"),
                       Field(description="https only (plain http to a loopback receiver under `make run`); a host "
                                         "that does not resolve, or resolves to a private, loopback, link-local, "
                                         "CGNAT or metadata address, is refused, here and at every delivery; so is "
                                         "a numeric host in a non-standard IPv4 form (127.1)")]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES),
                                              json_schema_extra={"uniqueItems": True},
                                              description="The event types sent to this endpoint (`ping` always is)")]
WebhookStatus = Literal["enabled", "disabled"]


def _unique(events: list[str] | None) -> list[str] | None:
    if events is not None and len(set(events)) != len(events):
        raise ValueError("each event type once")
    return events


class WebhookCreate(RequestModel):
    url: WebhookUrl
    events: EventTypes
    description: _one_line(256) = None  # type: ignore[valid-type]

    _events_once = field_validator("events")(_unique)


class WebhookPatch(RequestModel):
    """Fields to change, at least one; `description: null` removes it. `status: enabled` turns a
    disabled endpoint back on (and forgets why it was disabled)."""
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    url: WebhookUrl = None
    events: EventTypes = None
    description: _one_line(256) | None = None  # type: ignore[valid-type]
    status: WebhookStatus = None

    _events_once = field_validator("events")(_unique)

    @model_validator(mode="after")
    def _not_empty(self) -> "WebhookPatch":
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self


class WebhookView(ResponseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    status: WebhookStatus
    disabled_reason: Literal["gone", "failing", "brand"] | None = Field(
        description="gone: it answered 410; failing: no success for 5 days; brand: disabled by PATCH")
    failing_since: Timestamp | None = Field(description="The first failure since its last success")
    previous_secret_expires_at: Timestamp | None = Field(
        description="After a rotation: until when the previous secret still signs beside the new one")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def fields_of(cls, endpoint: Endpoint) -> dict[str, Any]:
        overlapping = [s.expires_at for s in endpoint.secrets if s.expires_at]
        return dict(id=endpoint.id, url=endpoint.url, events=list(endpoint.events), description=endpoint.description,
                    status=endpoint.status, disabled_reason=endpoint.disabled_reason,
                    failing_since=endpoint.failing_since,
                    previous_secret_expires_at=max(overlapping) if overlapping else None,
                    created_at=endpoint.created_at, updated_at=endpoint.updated_at)

    @classmethod
    def of(cls, endpoint: Endpoint) -> "WebhookView":
        return cls(**cls.fields_of(endpoint))


class WebhookCreated(WebhookView):
    secret: str = Field(description="The signing secret (whsec_...), shown this once: keep it to verify "
                                    "webhook-signature. Livedrop keeps it encrypted.")

    @classmethod
    def with_secret(cls, endpoint: Endpoint, secret: str) -> "WebhookCreated":
        return cls(**cls.fields_of(endpoint), secret=secret)


class WebhookPage(ResponseModel):
    items: list[WebhookView]
    next_cursor: str | None


class DeliveryListQuery(PageQuery):
    status: Literal["pending", "succeeded", "failed"] = Field(None, description="Only deliveries in this status")


class DeliveryView(ResponseModel):
    """One event to one endpoint, and how its attempts went."""
    id: str
    event_id: str = Field(description="Sent as webhook-id, the same on every attempt")
    event_type: str
    status: Literal["pending", "succeeded", "failed"] = Field(
        description="pending: to be attempted (again) at nextAttemptAt; succeeded: a 2xx came back; "
                    "failed: retries exhausted, the endpoint answered 410, or it was disabled or deleted")
    attempts: int
    last_response_code: int | None = Field(description="The HTTP status of the last attempt; null: no answer")
    last_error: str | None = Field(description="Why the last attempt failed (timeout, refused address, status)")
    last_attempt_at: Timestamp | None
    next_attempt_at: Timestamp | None = Field(description="While pending: when it is attempted next")
    created_at: Timestamp

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> "DeliveryView":
        pending = delivery.status == "pending" and delivery.next_attempt_ms is not None
        return cls(id=delivery.id, event_id=delivery.event_id, event_type=delivery.event_type, status=delivery.status,
                   attempts=delivery.attempts, last_response_code=delivery.last_response_code,
                   last_error=delivery.last_error, last_attempt_at=delivery.last_attempt_at,
                   next_attempt_at=iso_of_ms(delivery.next_attempt_ms) if pending else None,  # type: ignore[arg-type]
                   created_at=delivery.created_at)


class DeliveryPage(ResponseModel):
    items: list[DeliveryView]
    next_cursor: str | None


# --- the events ------------------------------------------------------------------------------------

SEQUENCE = Field(description="Grows with each change of the event's object (an order; a session; a drop, by "
                             "sessionId and productId; a session's pin): a receiver keeps the highest it has "
                             "seen and drops an older state that arrives after a newer one")


class OrderEventData(OrderView):
    sequence: int = SEQUENCE


class SessionEventData(SessionView):
    sequence: int = SEQUENCE


class DropView(LineupItemView):
    """A drop as its brand sees it in the session's lineup, with the units left over its shards."""
    session_id: str
    stock_left: int

    @classmethod
    def of_drop(cls, session_id: str, item: LineupItem, product: Product | None, left: int) -> "DropView":
        return cls(**LineupItemView.of(item, product).model_dump(), session_id=session_id, stock_left=left)


class DropEventData(DropView):
    sequence: int = SEQUENCE


class PinView(ResponseModel):
    """A product featured (pinned) on the stream."""
    session_id: str
    product_id: str
    title: str | None
    image: str | None
    price: MoneyOut
    seq: int = Field(description="The pin's place in the session's timeline")
    at: Timestamp

    @classmethod
    def of(cls, entry: TimelineEntry, product: Product | None) -> "PinView":
        return cls(session_id=entry.session_id, product_id=entry.product_id,
                   title=product.title if product else None,
                   image=product.images[0] if product and product.images else None,
                   price=MoneyOut.of(entry.price), seq=entry.seq, at=entry.at)


class PinEventData(PinView):
    sequence: int = SEQUENCE


class PingData(ResponseModel):
    endpoint_id: str
    message: str
    sequence: int = SEQUENCE


def _event(name: str, types: tuple[str, ...], data: type, summary: str) -> type[ResponseModel]:
    fields = {"type": (Literal[types], ...),  # type: ignore[valid-type]
              "timestamp": (Timestamp, Field(description="When it happened")),
              "data": (data, ...)}
    from pydantic import create_model

    model = create_model(name, __base__=ResponseModel, __doc__=summary, **fields)  # type: ignore[call-overload]
    return model  # type: ignore[no-any-return]


ORDER_EVENTS = ("order.reserved", "order.paid", "order.cancelled", "order.expired", "order.refunded")
OrderEvent = _event("OrderEvent", ORDER_EVENTS, OrderEventData,
                    "An order reserved, paid, cancelled, expired or refunded (it stays paid, with "
                    "payment.refundedAt): the order as GET /v1/orders/{id} shows it.")
SessionEvent = _event("SessionEvent", ("session.live", "session.ended"), SessionEventData,
                      "A session went live or ended: the session as its brand sees it (GET /v1/sessions/{id}).")
DropEvent = _event("DropEvent", ("drop.opened", "drop.sold_out"), DropEventData,
                   "A drop opened, or sold out (told once: units given back later go on sale without an event).")
PinEvent = _event("PinEvent", ("product.featured",), PinEventData, "A product pinned on the stream.")
PingEvent = _event("PingEvent", ("ping",), PingData, "POST /v1/webhooks/{id}/test sends it.")

# Event type -> the model of its payload, for the document's `webhooks`.
EVENT_MODELS: dict[str, type[ResponseModel]] = {
    **{t: OrderEvent for t in ORDER_EVENTS},
    **{t: SessionEvent for t in ("session.live", "session.ended")},
    **{t: DropEvent for t in ("drop.opened", "drop.sold_out")},
    "product.featured": PinEvent,
    "ping": PingEvent,
}


class EventViews:
    """Each event's `data`, rendered by the same views the API answers with (ports.EventViews)."""

    @staticmethod
    def order(order: Order) -> dict[str, Any]:
        return OrderView.of(order).model_dump(mode="json", by_alias=True)

    @staticmethod
    def session(session: Session, lineup: list[tuple[LineupItem, Product | None]]) -> dict[str, Any]:
        return SessionView.with_lineup(session, lineup).model_dump(mode="json", by_alias=True)

    @staticmethod
    def drop(session_id: str, item: LineupItem, product: Product | None, left: int) -> dict[str, Any]:
        return DropView.of_drop(session_id, item, product, left).model_dump(mode="json", by_alias=True)

    @staticmethod
    def pin(entry: TimelineEntry, product: Product | None) -> dict[str, Any]:
        return PinView.of(entry, product).model_dump(mode="json", by_alias=True)

