"""The things Livedrop keeps, as plain values. Repositories load and store them; views show them."""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain.money import Money
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
    """What IVS gives a session: the public playback URL and the owner-only ingest details."""
    arn: str
    playback_url: str
    ingest_endpoint: str
    stream_key: str = field(repr=False)  # a secret: kept out of reprs and therefore out of logs


@dataclass(frozen=True)
class LiveSession:
    id: str
    brand_id: str
    title: str
    status: SessionStatus
    scheduled_at: str
    created_at: str
    started_at: str | None
    ended_at: str | None
    channel: Channel


@dataclass(frozen=True)
class LineupItem:
    session_id: str
    product_id: str
    brand_id: str
    price: Money
    quantity: int
    per_customer_limit: int | None
    added_at: str
