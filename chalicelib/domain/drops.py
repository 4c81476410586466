"""Drop rules: how stock is spread over shards, when a drop is open, how a quantity is planned
over shards, and the order lifecycle. Pure: no I/O, no clock of its own."""
from __future__ import annotations

import hashlib
import json
import math
import random
from enum import Enum
from typing import Mapping, Sequence

# A shard is one DynamoDB item: at most 1,000 WCU/s, and a transactional write costs 2 WCU, so
# one shard sustains 500 checkouts/s at the very most. Plan for half of that.
CHECKOUTS_PER_SHARD_PER_SECOND = 250
MAX_SHARDS = 50


def shards_for(expected_orders_per_second: int | None, quantity: int) -> int:
    """Enough shards for the expected peak, never more shards than units."""
    if not expected_orders_per_second:
        return 1
    wanted = math.ceil(expected_orders_per_second / CHECKOUTS_PER_SHARD_PER_SECOND)
    return max(1, min(wanted, MAX_SHARDS, max(quantity, 1)))


def split(quantity: int, shards: int) -> list[int]:
    """Spread `quantity` over `shards` as evenly as whole units allow."""
    base, extra = divmod(quantity, shards)
    return [base + (1 if index < extra else 0) for index in range(shards)]


def shard_key(session_id: str, product_id: str, shard: int) -> str:
    return f"{session_id}#{product_id}#{shard}"


def count_key(session_id: str, product_id: str, shopper_id: str) -> str:
    return f"{session_id}#{product_id}#{shopper_id}"


def plan_take(quantity: int, levels: Mapping[int, int | None], ceilings: Sequence[int],
              rng: random.Random | None = None) -> dict[int, int] | None:
    """Which shards to take `quantity` from, given what is known of their levels (None: unknown).

    A shard never holds more than it was given (units only ever go back to the shard they came
    from), so an unknown shard is planned up to that ceiling. Fullest first, so an order touches
    as few shards as it can; random among equals, so buyers spread over the shards. None when
    what is known can not cover the quantity.
    """
    order = list(levels)
    (rng or random).shuffle(order)

    def estimate(shard: int) -> int:
        level = levels[shard]
        return ceilings[shard] if level is None else level

    order.sort(key=estimate, reverse=True)
    plan: dict[int, int] = {}
    remaining = quantity
    for shard in order:
        take = min(estimate(shard), remaining)
        if take > 0:
            plan[shard] = take
            remaining -= take
        if remaining == 0:
            return plan
    return None


MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit for one TransactWriteItems


# Items every checkout transaction holds besides its shards and counts: the order itself, the
# shopper's open orders in the session (the hold cap) and the shopper's `order` rate window.
ORDER_ITEMS = 3


def transaction_items(shards_per_line: Sequence[int], counted_lines: int) -> int:
    """Items a checkout transaction holds: the order's own, one per shard taken, one per limit counted."""
    return ORDER_ITEMS + sum(shards_per_line) + counted_lines


def open_orders_key(session_id: str, shopper_id: str) -> str:
    """The item listing a shopper's open orders in a session, for the hold cap."""
    return f"open#{session_id}#{shopper_id}"


class DropMode(str, Enum):
    """How a drop's units reach buyers: first come first served, in queue order, or by a draw."""
    OPEN = "open"
    QUEUE = "queue"   # shoppers join before it opens and buy when admitted (domain/queues.py)
    DRAW = "draw"     # shoppers enter until it opens; a seeded draw reserves units for winners


# One atomic counter item takes 1,000 writes a second: a queue expecting more joins spreads its
# positions over this many counters (domain/queues.py).
JOINS_PER_COUNTER_PER_SECOND = 1000
MAX_ENTRY_SHARDS = 20


def entry_shards_for(expected_entries_per_second: int | None) -> int:
    if not expected_entries_per_second:
        return 1
    return max(1, min(math.ceil(expected_entries_per_second / JOINS_PER_COUNTER_PER_SECOND), MAX_ENTRY_SHARDS))


class OrderStatus(str, Enum):
    RESERVED = "reserved"   # units held until expiresAt
    PAYING = "paying"       # a payment is under way: neither expiry nor cancel may touch it
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Orders whose units are out of stock: what conservation counts.
HOLDING = frozenset({OrderStatus.RESERVED, OrderStatus.PAYING, OrderStatus.PAID})
# Orders holding units unpaid: what the hold cap counts (a shopper may have only so many at once).
OPEN = frozenset({OrderStatus.RESERVED, OrderStatus.PAYING})


def is_order_id(value: str) -> bool:
    return len(value) == 28 and value.startswith("ord_") and all(c in "0123456789abcdef" for c in value[4:])


def order_id_for(shopper_id: str, idempotency_key: str) -> str:
    """The order a (shopper, Idempotency-Key) pair creates: deterministic, so that the put of the
    order itself is the idempotency check, inside the same transaction that takes the stock."""
    digest = hashlib.sha256(f"{shopper_id}\n{idempotency_key}".encode()).hexdigest()
    return "ord_" + digest[:24]


def request_hash(body: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def drop_state(now: str, opens_at: str | None, closes_at: str | None) -> str:
    """'open', 'not_open' or 'closed' for ISO-8601 UTC timestamps (string order is time order)."""
    if opens_at is None or now < opens_at:
        return "not_open"
    if closes_at is not None and now >= closes_at:
        return "closed"
    return "open"


def changeable(now: str, opens_at: str | None) -> bool:
    """Whether a drop may still be re-priced, re-limited or taken out of the lineup at `now`: only
    while no buyer can take from it, that is while it has no opening time yet (it opens when the
    session goes live) or one still ahead. The session's status does not enter: a drop with an
    opening time of its own opens by the clock, before the show too (checkout checks the stock
    shards' window, never the session's status), so a scheduled session's drop whose opensAt has
    passed is on sale and stays as it is. A drop that has closed had opened.

    The repositories' transactions check the same on every shard as they write, with every shard
    still holding its full share (nothing sold or held): a change never follows a sale."""
    return opens_at is None or now < opens_at
