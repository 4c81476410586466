"""The ports: what the services need from the world, as Protocols.

Services import these and the domain only; chalicelib/adapters implements them (DynamoDB, IVS,
IVS Chat, payments, the system clock) and tests/fakes.py implements them in memory.
chalicelib/bootstrap.py picks the implementations. Refusals cross a port as typed values
(`ReservationRefused`, domain errors), never as DynamoDB items.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Protocol

from chalicelib.domain.analytics import Aggregates, Attribution, Cell, OrderChange
from chalicelib.domain.draws import Draw
from chalicelib.domain.drops import OrderStatus
from chalicelib.domain.payments import Intent, ProviderEvent
from chalicelib.domain.rate_limits import Window
from chalicelib.domain.queues import QueueState
from chalicelib.domain.records import (
    Brand, Channel, Entry, LineupItem, Order, Product, Session, TimelineEntry,
)
from chalicelib.domain.sessions import SessionStatus

class Clock(Protocol):
    """Every rule that reads the time reads it here, so tests move time instead of sleeping."""

    def now(self) -> datetime:
        """Aware UTC."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


# --- repositories ---------------------------------------------------------------------------------


class BrandRepository(Protocol):
    def add(self, brand: Brand) -> None: ...

    def get(self, brand_id: str) -> Brand | None: ...


class ProductRepository(Protocol):
    def add(self, product: Product) -> None: ...

    def get(self, product_id: str) -> Product | None: ...

    def get_many(self, product_ids: Iterable[str]) -> dict[str, Product]: ...

    def list_for_brand(self, brand_id: str, limit: int, cursor: str | None) -> tuple[list[Product], str | None]: ...

    def update(self, brand_id: str, product_id: str, changes: dict[str, Any], updated_at: str) -> Product:
        """Raises NotFound unless the brand owns the product."""
        ...

    def adjust_stock(self, brand_id: str, product_id: str, delta: int, updated_at: str) -> Product:
        """Raises NotFound, or InsufficientStock when stock would go below zero."""
        ...


@dataclass(frozen=True)
class OwnedSession:
    """A session in its brand's own listing, with the drops counted on it (`lineupCount`)."""
    session: Session
    lineup_count: int


class SessionRepository(Protocol):
    def add(self, session: Session) -> None: ...

    def get(self, session_id: str) -> Session | None: ...

    def list_by_status(self, status: SessionStatus, limit: int, cursor: str | None,
                       newest_first: bool) -> tuple[list[Session], str | None]: ...

    def list_for_brand(self, brand_id: str, status: SessionStatus | None, limit: int,
                       cursor: str | None, scheduled_from: str | None = None,
                       scheduled_to: str | None = None) -> tuple[list[OwnedSession], str | None]:
        """The brand's sessions (of one status, if given; scheduled in [from, to), if given),
        latest scheduled time first; deleted ones (their channel gone) are left out. A cursor
        opens only the listing that issued it."""
        ...

    def move_status(self, brand_id: str, session_id: str, target: SessionStatus,
                    allowed_from: Iterable[SessionStatus], at: str) -> Session:
        """Raises NotFound or InvalidTransition."""
        ...

    def close_for_deletion(self, brand_id: str, session_id: str, at: str) -> Session:
        """End a session that is not live and has no drops (or has ended), so that nothing can
        start it or add to its lineup any more. Raises NotFound, SessionLive or SessionHasDrops."""
        ...

    def delete_closed(self, brand_id: str, session_id: str) -> bool:
        """Remove a closed session's record if it holds no drops; False if it holds some."""
        ...

    def set_featured(self, brand_id: str, entry: TimelineEntry) -> TimelineEntry:
        """Make the entry the featured product and append it to the timeline, together; its seq
        is raised above the featured one if needed. Raises NotFound or SessionEnded."""
        ...

    def featured_seq(self, session_id: str) -> int | None: ...

    def set_replay(self, session_id: str, replay_url: str) -> None: ...


class LineupRepository(Protocol):
    def list_for_session(self, session_id: str) -> list[LineupItem]: ...

    def add_taking_stock(self, item: LineupItem, session_status: SessionStatus) -> None:
        """Allocate the item's quantity from the product into its drop shards, all or nothing.
        Raises SessionChanged, AlreadyInLineup or InsufficientStock."""
        ...

    def update_before_opening(self, item: LineupItem, session_status: SessionStatus, now: str) -> None:
        """Write the item's price and per-customer limit (None removes the limit), in one
        transaction that holds only while the session is the brand's and still in the status it
        was read in, the item still at `item.revision`, and none of the drop's shards has opened by
        `now`; the item and every shard go to revision `item.revision + 1` (what tells a checkout
        that cached the item to read it again). Raises NotFound (productId: not in the lineup),
        SessionChanged (also: the item changed meanwhile) or DropOpened."""
        ...

    def remove_returning_stock(self, item: LineupItem, session_status: SessionStatus, now: str,
                               lineup_size: int) -> None:
        """Remove the item and its shards and give its quantity back to the product's stock, all
        in one transaction: each shard only if it is untouched (every unit it was given is there:
        nothing sold or held) and not open by `now`, the session as for update_before_opening; its
        lineup count goes down by one (`lineup_size`, as read, for sessions stored before drops
        were counted). Raises NotFound (productId), SessionChanged or DropOpened."""
        ...


class DrawRepository(Protocol):
    """Draws as made (domain/draws.py): the `#draw` item of a drop in the entries table, its pages
    of entrants, and the list of draw drops still to draw or allocate."""

    def get(self, session_id: str, product_id: str) -> Draw | None:
        """The draw, read consistently; None before it is made."""
        ...

    def close_entries(self, session_id: str, product_id: str, at: str) -> None:
        """Mark the drop's entries closed (`#closed`), before its entrants are read: a join still
        in flight that checks the mark in its own write is then either read by the draw or refused."""
        ...

    def record(self, draw: Draw, pages: list[list[str]]) -> Draw:
        """Write the draw's pages of entrants, then the draw, once (a conditional put): the draw
        that stands is returned, this one or one another run recorded first."""
        ...

    def entrants_page(self, draw: Draw, page: int) -> list[str]: ...

    def mark_allocated(self, draw: Draw, allocated: int) -> None:
        """Raise the draw's allocation progress to `allocated` (never lower it)."""
        ...

    def finish(self, session_id: str, product_id: str) -> None:
        """Every winner allocated: the drop leaves the list of draws due."""
        ...

    def due(self, now: str, limit: int) -> list[tuple[str, str]]:
        """(session id, product id) of draw drops whose opensAt is at or before `now`, not yet
        finished: soonest first."""
        ...


@dataclass
class DropStock:
    left: dict[int, int]  # shard -> units left
    opens_at: str | None
    closes_at: str | None


@dataclass(frozen=True)
class ShardRefusal:
    """A stock shard that refused its take: its level then, its window and its revision (left and
    revision None: no such shard). A revision other than the one the take asked for: the lineup
    item changed since the checkout read it."""
    product_id: str
    shard: int
    left: int | None
    opens_at: str | None
    closes_at: str | None
    revision: int | None = 0


@dataclass
class ReservationRefused(Exception):
    """Why a checkout transaction was cancelled; the service decides what to answer or retry."""
    existing_order: Order | None = None
    short_shards: list[ShardRefusal] = field(default_factory=list)
    limit_reached: list[tuple[str, int]] = field(default_factory=list)  # (product id, units held)
    # The shopper's open orders as listed when the hold cap refused (some may have closed since).
    open_orders: tuple[str, ...] | None = None
    rate_refused: bool = False  # the shopper's `order` rate window was full


@dataclass(frozen=True)
class StockChange:
    """What one stream record of a stock shard says: the drop opened, or its shard emptied."""
    session_id: str
    product_id: str
    opened: bool
    emptied: bool


class StockRepository(Protocol):
    def levels(self, drops: Iterable[LineupItem]) -> dict[str, DropStock]: ...

    def set_window_edge(self, drops: Iterable[LineupItem], opens_at: str | None = None,
                        closes_at: str | None = None) -> None: ...


class OrderRepository(Protocol):
    def reserve(self, order: Order, limits: dict[str, int | None], now: str,
                revisions: Mapping[str, int] | None = None, hold_cap: int | None = None,
                rate: Window | None = None) -> None:
        """One all-or-nothing write. Each shard gives units only at the revision of its lineup item
        that the order was priced from (`revisions` by product id; a product not named: 0). The
        order joins its shopper's open orders in the session, of which there may be fewer than
        `hold_cap` before it (None: no cap), and counts in the shopper's `rate` window if it has
        room (None: not counted). Raises ReservationRefused (or Busy under contention)."""
        ...

    def forget_open(self, session_id: str, shopper_id: str, order_ids: Iterable[str]) -> None:
        """Take orders that are no longer open (paid) off the shopper's open orders; idempotent."""
        ...

    def get(self, order_id: str) -> Order | None: ...

    def list_for_session(self, session_id: str, limit: int, cursor: str | None) -> tuple[list[Order], str | None]: ...

    def release(self, order: Order, to: OrderStatus, at: str, now_epoch: int, shopper_id: str | None = None) -> None:
        """Give the units back if the order is still reserved. Raises OrderNotReleasable."""
        ...

    def begin_payment(self, order_id: str, shopper_id: str, now_epoch: int, provider: str,
                      due_epoch: int) -> tuple[Order, bool]:
        """reserved (unexpired) -> paying with the next attempt number, to be settled by `due_epoch`:
        (the paying order, True). An order already paying: (it as it is, False), its attempt goes
        on. Raises NotFound (not the shopper's), AlreadyPaid, OrderExpired, OrderNotPayable."""
        ...

    def attach_intent(self, order_id: str, attempt: int, reference: str) -> Order | None:
        """Record the attempt's intent on the order while that attempt is under way; None if not."""
        ...

    def finish_payment(self, order_id: str, attempt: int, reference: str, at: str, capture_by: int) -> Order | None:
        """paying (this attempt) -> paid with this intent, its capture due by `capture_by`; None if
        the attempt was no longer under way."""
        ...

    def record_capture(self, order_id: str, at: str) -> Order | None:
        """A paid order's intent was captured: nothing left to do for it. None if not paid."""
        ...

    def abort_payment(self, order: Order, attempt: int) -> Order | None:
        """paying (this attempt) -> reserved, held until its original expiry (the sweeper releases
        it if that passed). None if the attempt was no longer under way."""
        ...

    def postpone(self, order_id: str, until_epoch: int) -> None:
        """Look at a paying or paid order again at `until_epoch` (reconciliation found it unfinished)."""
        ...

    def request_refund(self, order_id: str, brand_id: str, at: str, retry_by: int) -> Order:
        """Mark a paid order of the brand's to be refunded (once; a second call returns it as it is).
        Raises NotFound (not the brand's) or OrderNotRefundable."""
        ...

    def record_refund(self, order_id: str, reference: str, at: str) -> Order: ...

    def due(self, now_epoch: int, limit: int) -> list[Order]:
        """Orders whose time to be looked at has come: reservations past their expiry, payments
        past their window, captures and refunds not done yet."""
        ...


@dataclass(frozen=True)
class OrderNotReleasable(Exception):
    """The order was no longer reserved (or not yet expired): its status as it was."""
    status: str
    closed_at: str | None = None


class RateCounters(Protocol):
    """The counters of rate windows (chalicelib/domain/rate_limits.py)."""

    def hit(self, window: Window) -> bool:
        """Count one request in the window if it has room (fewer than `window.limit` counted):
        True if counted, False if full. One conditional write: atomic across containers."""
        ...


@dataclass(frozen=True)
class AlreadyPaid(Exception):
    """Pay asked of an order that is paid: the paid order, to answer again."""
    order: Order


class EntryRepository(Protocol):
    """Entries of queue and draw drops: one per shopper and drop, numbered by the drop's position
    counters; and each drop's own state beside them (the queue's admission steps)."""

    def join(self, session_id: str, product_id: str, shopper_id: str, shards: int, now: str,
             closable: bool = False) -> tuple[Entry, bool]:
        """(the shopper's entry, True if made now). A new entry takes the next number of one of the
        drop's `shards` position counters, picked at random; a shopper who has an entry (or whose
        concurrent join won) gets that one, and a number taken by a lost race is not reused.
        `closable` (a draw): the entry is written only while the drop's entries are not closed,
        else EntriesClosed."""
        ...

    def get(self, session_id: str, product_id: str, shopper_id: str) -> Entry | None: ...

    def entrants(self, session_id: str, product_id: str) -> list[str]:
        """Every entrant's shopper id (all pages), in no particular order."""
        ...

    def read(self, session_id: str, product_id: str, shopper_id: str, shards: int) -> tuple[Entry | None, QueueState]:
        """The shopper's entry and the drop's queue (its `issued` from the `shards` counters), in
        one read; an empty QueueState when no step was taken yet."""
        ...

    def record_step(self, session_id: str, product_id: str, before: QueueState, after: QueueState) -> QueueState:
        """Store `after` only if the queue's last step is still `before`'s and at least a second
        before `after`'s (one step a second per drop, whoever takes it); else the queue as another
        reader stored it. Either way with `after.issued`."""
        ...


class LiveRepository(Protocol):
    """What a show puts on top of the video: timeline, send slots, tickers, likes."""

    def claim_send_slot(self, session_id: str, now_ms: int, min_interval_ms: int) -> tuple[bool, int]:
        """(claimed, ms to wait if not): at most one send per interval per channel."""
        ...

    def append(self, entry: TimelineEntry) -> TimelineEntry: ...

    def claim_ticker(self, session_id: str, product_id: str, now_ms: int, every_ms: int) -> bool: ...

    def mark_delivery(self, session_id: str, seq: int, delivery: str, sent_at: int | None) -> None: ...

    def timeline(self, session_id: str) -> list[TimelineEntry]:
        """Every entry, oldest first (replay chapters and announcements need all of a long show)."""
        ...

    def recent(self, session_id: str, limit: int) -> list[TimelineEntry]:
        """The newest `limit` entries, oldest first: what a late joiner needs, in one read."""
        ...

    def like(self, session_id: str, now_ms: int, shards: int) -> None:
        """Count a like on one of the session's `shards` counters (the rate limit is checked before)."""
        ...

    def likes(self, session_id: str, shards: int) -> int: ...


@dataclass(frozen=True)
class LikeCount:
    """What one stream record of a like shard says: its count after a like made at `at_ms`."""
    session_id: str
    shard: int
    count: int
    at_ms: int


@dataclass(frozen=True)
class AppliedChange:
    """An order record's effect on the figures, named by the record so it is applied once."""
    order_id: str
    record_id: str
    delta: Mapping[Cell, int]


class AnalyticsRepository(Protocol):
    """A show's figures, aggregated from the tables' streams, and the shows still to settle."""

    def attribution(self, session_id: str) -> Attribution | None: ...

    def fix_attribution(self, session_id: str, attribution: Attribution) -> Attribution:
        """The show's attribution: the first one fixed stays (figures already counted by it)."""
        ...

    def apply(self, session_id: str, changes: Iterable[AppliedChange]) -> int:
        """Add each change's delta to the show's figures unless its record was applied before;
        each change all or nothing. Returns how many were applied now."""
        ...

    def record_likes(self, counts: Iterable[LikeCount]) -> None:
        """Keep the highest count seen per like shard and minute (order and repeats do not matter)."""
        ...

    def record_viewers(self, session_id: str, minute: int, viewers: int) -> bool:
        """The minute's sample, unless it has one: False then."""
        ...

    def aggregates(self, session_id: str) -> Aggregates:
        """Every stored figure of the show: a bounded number of reads, whatever its orders."""
        ...

    def summaries(self, session_ids: Iterable[str]) -> dict[str, Aggregates]:
        """Totals, audience and status of each show, without its minutes and products."""
        ...

    def mark_unsettled(self, session_id: str) -> None: ...

    def unsettled(self) -> list[str]:
        """Every ended show whose figures are not final yet."""
        ...

    def finalize(self, session_id: str, at: str) -> None:
        """The show's figures are final: marked so (the first time stays), and no longer to settle."""
        ...

    def is_final(self, session_id: str) -> bool: ...

    def replace_figures(self, session_id: str, cells: Mapping[Cell, int], buyers: Mapping[str, int]) -> None:
        """Write the show's order figures afresh (a repair: its stream records were lost)."""
        ...


class AnalyticsRecords(Protocol):
    """Stream records decoded, each kind by what it tells the analytics. A record is
    (record id, old image, new image) as the stream gives it."""

    def order_changes(self, records: list[Any]) -> list[OrderChange]: ...

    def like_counts(self, records: list[Any]) -> list[LikeCount]: ...

    def ended_sessions(self, records: list[Any]) -> list[str]: ...


# --- video, chat, payments -------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """Whether timed metadata reached the stream, and if not, why (the state is kept either way)."""
    delivered: bool
    reason: str | None = None


@dataclass(frozen=True)
class ChatToken:
    token: str
    token_expires_at: datetime
    session_expires_at: datetime
    # The IVS Chat messaging websocket of the room's region; None where no real room exists.
    messaging_endpoint: str | None = None


class Channels(Protocol):
    def create(self, session_id: str, brand_id: str, channel_type: str, latency_mode: str,
               recording_configuration_arn: str | None = None) -> Channel: ...

    def delete(self, channel_arn: str) -> None: ...

    def stream_key(self, channel_arn: str) -> str: ...

    def stop_stream(self, channel_arn: str) -> bool: ...

    def put_metadata(self, channel_arn: str, payload: str) -> Delivery: ...

    def viewer_count(self, channel_arn: str) -> int | None: ...


class Chat(Protocol):
    def create_room(self, session_id: str, brand_id: str) -> str: ...

    def delete_room(self, room_arn: str) -> None: ...

    def token(self, room_arn: str, shopper_id: str) -> ChatToken: ...

    def delete_message(self, room_arn: str, message_id: str, reason: str | None) -> None: ...

    def disconnect_user(self, room_arn: str, user_id: str, reason: str | None) -> None: ...


class PaymentGateway(Protocol):
    """A payment provider, in the shape of Stripe's PaymentIntents with manual capture: an intent
    per (order, attempt) authorises, and only a capture takes the money. Every call is idempotent
    (the provider's idempotency keys are made from the order and attempt). Raises
    PaymentUnavailable when the outcome is unknown, IntentStateConflict (with the intent as it
    is) when the intent's state does not allow the call."""
    name: str                    # "stripe" or "test", recorded on the order
    publishable_key: str | None  # what the browser loads Stripe.js with, if configured
    confirms_in_browser: bool    # False: every payment is confirmed by the pay request (the test provider)

    def create_intent(self, order: Order, attempt: int) -> Intent: ...

    def confirm(self, intent_id: str, payment_method: str, order_id: str, attempt: int) -> Intent:
        """A decline is an answer (the intent, FAILED), not an exception."""
        ...

    def retrieve(self, intent_id: str) -> Intent: ...

    def capture(self, intent_id: str, order_id: str, attempt: int) -> Intent: ...

    def cancel(self, intent_id: str, order_id: str, attempt: int) -> Intent: ...

    def refund(self, intent_id: str, order_id: str, amount: int) -> str:
        """The refund's reference; asked again, the same refund."""
        ...

    def verify_event(self, body: bytes, signature: str | None) -> ProviderEvent:
        """A webhook from the provider, its signature checked. Raises EventRejected."""
        ...


# --- webhooks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredSecret:
    """A signing secret as kept: encrypted (the `SecretBox` port), signing until `expires_at`
    (None: the current one; a rotated-out one signs beside it for a while)."""
    ciphertext: str
    created_at: str
    expires_at: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """A brand's webhook receiver."""
    id: str                      # whk_...
    brand_id: str
    url: str
    events: tuple[str, ...]      # event types it subscribes to (domain/webhooks.py EVENT_TYPES)
    description: str | None
    status: str                  # "enabled" | "disabled"
    disabled_reason: str | None  # "gone" (answered 410), "failing" (5 days of failures), "brand" (PATCH)
    secrets: tuple[StoredSecret, ...]
    created_at: str
    updated_at: str
    failing_since: str | None = None  # first failure since its last success


@dataclass(frozen=True)
class WebhookDelivery:
    """One event to one endpoint: the outbox item and its line in the delivery log."""
    id: str                  # dlv_..., derived from (endpoint, event): a repeated put is a no-op
    endpoint_id: str
    brand_id: str
    event_id: str            # evt_..., sent as webhook-id on every attempt
    event_type: str
    subject: str             # the object the event is about (order id, session id, ...)
    sequence: int            # grows with each change of the subject
    body: str                # the exact JSON sent and signed, the same on every attempt
    created_at: str
    status: str = "pending"  # "pending" | "succeeded" | "failed"
    attempts: int = 0
    next_attempt_ms: int | None = None  # epoch ms, while pending (while in flight: when its lease ends)
    last_attempt_at: str | None = None
    last_response_code: int | None = None
    last_error: str | None = None
    manual: bool = False     # a retry asked for by the brand: one attempt, no schedule after it
    lease: str | None = None  # the worker that has it in flight


class WebhookRepository(Protocol):
    """Endpoints per brand, and the deliveries outbox (which is also the delivery log)."""

    def add_endpoint(self, endpoint: Endpoint) -> None: ...

    def get_endpoint(self, brand_id: str, endpoint_id: str) -> Endpoint | None: ...

    def list_endpoints(self, brand_id: str, limit: int, cursor: str | None) -> tuple[list[Endpoint], str | None]:
        """Oldest first; a cursor opens only the listing (brand) that issued it."""
        ...

    def endpoints_of(self, brand_id: str) -> list[Endpoint]:
        """Every endpoint of the brand (fan-out reads them once per batch)."""
        ...

    def update_endpoint(self, brand_id: str, endpoint_id: str, changes: Mapping[str, Any], at: str) -> Endpoint:
        """Set the given fields (names as on Endpoint: url, events, description, status,
        disabled_reason, secrets, failing_since; None removes) and updated_at. Raises NotFound."""
        ...

    def delete_endpoint(self, brand_id: str, endpoint_id: str) -> bool: ...

    def add_deliveries(self, deliveries: Iterable[WebhookDelivery]) -> int:
        """Store each delivery unless one with its id exists (a stream record seen again);
        returns how many were new. Each is due at its next_attempt_ms."""
        ...

    def due(self, now_ms: int, limit: int) -> list[WebhookDelivery]:
        """Pending deliveries whose next attempt (or expired lease) is at or before now_ms,
        earliest first (read from an index: may be a moment stale; claim decides)."""
        ...

    def claim(self, delivery: WebhookDelivery, now_ms: int, lease_until_ms: int, lease: str) -> WebhookDelivery | None:
        """Take the delivery for one attempt: only if it is still pending, due by now_ms and at
        `delivery.attempts`. Counts the attempt, sets last_attempt_at and the lease, and makes it due
        again at lease_until_ms (a worker that dies leaves it to the next sweep). None if not taken."""
        ...

    def finish(self, delivery: WebhookDelivery, lease: str, status: str, next_attempt_ms: int | None,
               response_code: int | None, error: str | None) -> bool:
        """Record the attempt's outcome, if the lease is still ours: status, next attempt (None:
        not due any more), last response code and error; the lease is dropped. False if not ours."""
        ...

    def get_delivery(self, endpoint_id: str, delivery_id: str) -> WebhookDelivery | None: ...

    def list_deliveries(self, endpoint_id: str, limit: int, cursor: str | None,
                        status: str | None = None) -> tuple[list[WebhookDelivery], str | None]:
        """Newest first."""
        ...

    def requeue(self, endpoint_id: str, delivery_id: str, due_ms: int, manual: bool) -> WebhookDelivery | None:
        """A brand's retry: pending again, due at due_ms, marked `manual` or not (unless in flight
        now: None then, and None if there is no such delivery)."""
        ...

    def defer(self, delivery: WebhookDelivery, until_ms: int) -> bool:
        """Push a due delivery back to until_ms without an attempt (its endpoint just failed or asked
        to wait): only if it is still pending, not in flight and at `delivery.attempts`."""
        ...


class SecretBox(Protocol):
    """Encrypts signing secrets at rest (KMS in deployment and on the embedded stack)."""

    def encrypt(self, plaintext: str, context: Mapping[str, str]) -> str: ...

    def decrypt(self, ciphertext: str, context: Mapping[str, str]) -> str: ...


@dataclass(frozen=True)
class SendResult:
    """What one HTTP attempt got: a status (None: no answer), Retry-After as sent, or why it failed."""
    status: int | None
    retry_after: str | None = None
    error: str | None = None
    duration_ms: int = 0


class WebhookSender(Protocol):
    def refusal(self, url: str) -> str | None:
        """Why the URL may not be called (scheme, or an address it resolves to), else None."""
        ...

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        """POST once, to an address checked as `refusal` does (the connection goes to that very
        address), no redirects followed, within the timeout."""
        ...


class WebhookRecords(Protocol):
    """Stream records decoded for the webhooks; a record is (record id, old image, new image)."""

    def orders(self, records: list[Any]) -> list[tuple[Order | None, Order]]: ...

    def sessions(self, records: list[Any]) -> list[tuple[Session | None, Session]]: ...

    def timeline(self, records: list[Any]) -> list[TimelineEntry]:
        """Entries as they were added."""
        ...


class EventViews(Protocol):
    """An event's `data`: the object as the API shows it to its brand (chalicelib/api renders it)."""

    def order(self, order: Order) -> dict[str, Any]: ...

    def session(self, session: Session, lineup: list[tuple[LineupItem, Product | None]]) -> dict[str, Any]: ...

    def drop(self, session_id: str, item: LineupItem, product: Product | None, left: int) -> dict[str, Any]: ...

    def pin(self, entry: TimelineEntry, product: Product | None) -> dict[str, Any]: ...


# --- verified shoppers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who the identity provider says signed in: its issuer, and the person's `sub` there."""
    issuer: str
    subject: str


class IdentityTokens(Protocol):
    """The identity provider's ID tokens (Cognito's: chalicelib/adapters/cognito.py)."""

    def verify(self, id_token: str, now: int) -> VerifiedIdentity:
        """The identity of a genuine ID token, unexpired at `now` (epoch seconds), issued by the
        configured provider to one of the allowed app clients. Raises Unauthorized for any other
        token, and Busy when the provider's keys can not be fetched."""
        ...
