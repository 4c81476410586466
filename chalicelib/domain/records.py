"""The things Livedrop keeps, as plain values. Repositories load and store them; views show them."""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain.money import Money
from chalicelib.domain.drops import DropMode, OrderStatus
from chalicelib.domain.sessions import SessionStatus


@dataclass(frozen=True)
class Brand:
    id: str
    name: str
    api_key_hash: str
    created_at: str


@dataclass(frozen=True)
class Product:
    id: str
    brand_id: str
    title: str
    description: str | None
    price: Money
    stock: int
    images: tuple[str, ...]
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Channel:
    """What IVS gives a session. The stream key is not here: it stays in IVS (see /ingest)."""
    arn: str
    playback_url: str
    ingest_endpoint: str


@dataclass(frozen=True)
class Session:
    id: str
    brand_id: str
    title: str
    status: SessionStatus
    scheduled_at: str
    created_at: str
    started_at: str | None
    ended_at: str | None
    channel: Channel
    hold_seconds: int = 600  # how long a reservation holds its units
    channel_type: str = "STANDARD"
    latency_mode: str = "LOW"
    featured_product_id: str | None = None
    replay_url: str | None = None
    chat_room_arn: str | None = None
    deleted_at: str | None = None  # its IVS channel and chat room are gone (the record stays for its orders)


@dataclass(frozen=True)
class LineupItem:
    session_id: str
    product_id: str
    brand_id: str
    price: Money
    quantity: int
    per_customer_limit: int | None
    added_at: str
    opens_at: str | None = None   # None: the drop opens when the session goes live
    closes_at: str | None = None  # None: the drop closes when the session ends
    shards: int = 1               # stock items the quantity is spread over (see domain/drops.py)
    hold_seconds: int = 600       # the drop's own or the session's, copied: checkout reads no session
    # Raised by every change of what checkout reads from the item (price, limit), on the item and
    # on each of its shards together: a checkout's shard take is conditioned on it, so a container
    # that cached an older item is refused and reads the lineup again. A new item starts at its
    # creation time in ms (a re-added product is not its old item); absent on old items: 0.
    revision: int = 0
    mode: DropMode = DropMode.OPEN
    verified_only: bool = False   # only shoppers with a verified identity may buy or enter
    entry_shards: int = 1         # queue position counters (domain/drops.py entry_shards_for)
    # A draw's secret seed, committed to by its hash when the drop is added, revealed after the
    # draw (domain/draws.py). Never in a view before then, nor in the item's repr (a log line).
    draw_seed: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    quantity: int
    unit_price: Money
    shards: dict[int, int]  # shard -> units taken from it, so a release returns them there
    counted: bool           # whether the units count against a per-customer limit


@dataclass(frozen=True)
class Order:
    id: str
    shopper_id: str
    session_id: str
    brand_id: str
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    total: Money
    request_hash: str
    created_at: str
    expires_at: int  # epoch seconds
    closed_at: str | None = None
    version: int = 0  # 1 when reserved, raised by every later write (webhooks' sequence); 0: stored before
    # Payment: attempts are numbered from 1, each with its own intent at the provider (reference).
    payment_provider: str | None = None
    payment_attempt: int | None = None
    payment_reference: str | None = None  # the attempt's intent (a Stripe PaymentIntent id)
    payment_due: int | None = None        # epoch seconds: a `paying` attempt not settled by then is reconciled
    captured_at: str | None = None
    refund_requested_at: str | None = None
    refunded_at: str | None = None
    refund_reference: str | None = None


@dataclass(frozen=True)
class TimelineEntry:
    session_id: str
    seq: int
    type: str
    product_id: str
    at: str
    price: Money
    delivery: str = "pending"
    sent_at: int | None = None



@dataclass(frozen=True)
class Entry:
    """A shopper's place in a queue or draw drop: one per shopper and drop."""
    session_id: str
    product_id: str
    shopper_id: str
    position: int   # from the drop's position counters: in join order per counter (domain/queues.py)
    joined_at: str
