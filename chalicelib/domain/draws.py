"""Draws: a drop's units allocated at random among its entrants, auditably.

The procedure, which anyone can recompute with a few lines of any language:

1. When a draw drop is added, a secret seed is drawn: 32 random bytes written as 64 lowercase
   hex characters. Only its commitment is published then: `seedHash` = SHA-256 of the seed's
   text (its 64 ASCII characters), in lowercase hex.
2. Shoppers enter until the drop's `opensAt`. Each shopper id counts once.
3. At `opensAt` (or as soon after as the draw runs) every entrant gets a ticket:
   `ticket = HMAC-SHA256(key = the seed's text as ASCII bytes, message = the shopper id as UTF-8)`,
   in lowercase hex.
4. The entrants are ranked by ticket, ascending (plain string order of the hex); two equal tickets
   (never seen in practice) are ordered by shopper id, also in plain string (code point) order.
5. The first `quantity` entrants of the rank win one unit each. With fewer entrants than units,
   every entrant wins and the other units stay unsold.
6. The seed, the entrants and the winners are published, so anyone can check that
   SHA-256(seed) is the commitment published before the draw and recompute the winners
   (scripts/verify_draw.py does both).

In Python: `sorted(set(entrants), key=lambda s: (hmac.new(seed.encode(), s.encode(),
hashlib.sha256).hexdigest(), s))[:quantity]`.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Iterable

from chalicelib.domain.drops import order_id_for

# A draw records its winners in one DynamoDB item (400 KB): at most this many units per draw
# drop keeps the list well inside it.
MAX_DRAW_UNITS = 5000
# The published list of entrants is kept in pages of this many shopper ids, one item each.
ENTRANTS_PER_PAGE = 5000


@dataclass(frozen=True)
class Draw:
    """A draw as it was made: written once, before any unit is reserved, so what it says can not
    change with what happens after (a reservation refused, a crash). `id` names this draw's
    pages of entrants (a run that lost the race to record its draw leaves its pages unused)."""
    id: str
    session_id: str
    product_id: str
    seed: str
    units: int                 # the drop's quantity: at most this many winners
    entrant_count: int
    entrant_pages: int
    winners: tuple[str, ...]   # in rank order
    drawn_at: str
    allocated: int = 0         # winners, in rank order, whose reservation is made (or refused for good)

    @property
    def allocated_all(self) -> bool:
        return self.allocated >= len(self.winners)


@dataclass(frozen=True)
class Outcome:
    """Where one entrant stands: `entered` until the draw, then `won` (with the order holding the
    unit once it is reserved) or `not_won`."""
    state: str
    order_id: str | None = None


def outcome(draw: Draw | None, shopper_id: str) -> Outcome:
    if draw is None:
        return Outcome("entered")
    if shopper_id not in draw.winners:
        return Outcome("not_won")
    reserved = draw.winners.index(shopper_id) < draw.allocated
    return Outcome("won", winner_order_id(shopper_id, draw.session_id, draw.product_id) if reserved else None)


def winner_key(session_id: str, product_id: str) -> str:
    """The Idempotency-Key of a winner's reservation: one order per winner, however often the
    allocation runs (services/checkout.py reserve_for_winner uses the same). It holds spaces, which
    no Idempotency-Key header may (visible ASCII only), so no shopper can take a winner's order id
    beforehand with an order of their own."""
    return f"draw {session_id} {product_id}"


def winner_order_id(shopper_id: str, session_id: str, product_id: str) -> str:
    return order_id_for(shopper_id, winner_key(session_id, product_id))


def new_seed() -> str:
    return secrets.token_hex(32)


def commitment(seed: str) -> str:
    """What is published before the draw: the SHA-256 of the seed's text, in hex."""
    return hashlib.sha256(seed.encode()).hexdigest()


def ticket(seed: str, shopper_id: str) -> str:
    """An entrant's ticket: HMAC-SHA256 keyed with the seed's text, of the shopper id, in hex.
    Unpredictable without the seed, and the seed was fixed (committed to) before anyone entered."""
    return hmac.new(seed.encode(), shopper_id.encode(), hashlib.sha256).hexdigest()


def rank(seed: str, entrants: Iterable[str]) -> list[str]:
    """Every entrant once, by ticket; equal tickets by shopper id. The order entries came in
    plays no part."""
    return sorted(set(entrants), key=lambda shopper_id: (ticket(seed, shopper_id), shopper_id))


def winners(seed: str, entrants: Iterable[str], units: int) -> list[str]:
    """The first `units` of the rank: one unit each."""
    return rank(seed, entrants)[:max(units, 0)]


def due(now_iso: str, opens_at: str | None) -> bool:
    """Whether the draw may be made: entries are taken until opensAt, the draw from then on.
    Both are ISO 8601 UTC of one width (domain/clock.py), so string order is time order."""
    return opens_at is not None and now_iso >= opens_at


def pages(entrants: Iterable[str]) -> list[list[str]]:
    """The entrants in shopper id order, cut into the pages the draw publishes (at least one)."""
    ordered = sorted(set(entrants))
    return [ordered[start:start + ENTRANTS_PER_PAGE]
            for start in range(0, len(ordered), ENTRANTS_PER_PAGE)] or [[]]
