"""Queue and draw entries: joining a drop, and where a shopper's entry stands.

A queue drop admits its entrants in position order (domain/queues.py) and an admitted shopper
gets an admission token (domain/admissions.py) for checkout; a draw drop takes entries until its
opensAt and its draw (services/draws.py) decides the rest, through `draw_status`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from chalicelib.domain import admissions, queues
from chalicelib.domain.clock import epoch_ms, to_iso
from chalicelib.domain.drops import DropMode, drop_state
from chalicelib.domain.errors import DropClosed, EntriesClosed, NotAQueue, NotFound, VerificationRequired
from chalicelib.domain.ports import Clock, EntryRepository, LineupRepository, StockRepository
from chalicelib.domain.records import Entry, LineupItem
from chalicelib.services.checkout import DropConfigs

# A lineup item read by this container is trusted this long: verifiedOnly may change before a
# drop opens, and a join is refused or allowed by it (checkout checks it again when buying).
DROP_MEMORY_SECONDS = 5.0


@dataclass(frozen=True)
class EntryStatus:
    """Where a shopper's entry stands (`state`: see domain/queues.py Standing; draws: `entered`
    until the draw's own states). `admission`: the token to check out with, while admitted."""
    entry: Entry
    drop: LineupItem
    state: str
    ahead: int | None = None
    admission: str | None = None
    admission_expires_ms: int | None = None
    order_id: str | None = None  # a draw's winner: the reservation the draw made for them


def entered(entry: Entry, drop: LineupItem) -> EntryStatus:
    """A draw entry before the draw; the draws service answers won / not_won after it."""
    return EntryStatus(entry, drop, "entered")


class Queues:
    def __init__(self, entries: EntryRepository, lineup: LineupRepository, stock: StockRepository,
                 secret: Callable[[], str], clock: Clock,
                 draw_status: Callable[[Entry, LineupItem], EntryStatus] = entered) -> None:
        self.entries = entries
        self.stock = stock
        self.drops = DropConfigs(lineup)
        self._read_at: dict[str, float] = {}
        self._secret = secret
        self.clock = clock
        self.draw_status = draw_status

    def join(self, shopper_id: str, verified: bool, session_id: str, product_id: str) -> tuple[Entry, bool]:
        """(the shopper's entry, made now). Positions are in join order per position counter (one
        counter unless the drop expects over 1,000 joins a second). Joining again answers the
        entry made first, whatever the drop's state now."""
        drop = self._drop(session_id, product_id)
        if drop.verified_only and not verified:
            raise VerificationRequired(product_id)
        now = to_iso(self.clock.now())
        try:
            self._refuse_late(drop, now)
        except (EntriesClosed, DropClosed) as refusal:
            existing = self.entries.get(session_id, product_id, shopper_id)  # a retry of a join that was made
            if existing is None:
                raise refusal
            return existing, False
        try:
            return self.entries.join(session_id, product_id, shopper_id, drop.entry_shards, now,
                                     closable=drop.mode is DropMode.DRAW)
        except EntriesClosed:  # the draw closed its entries between the check above and the write
            raise EntriesClosed(product_id, drop.opens_at) from None

    def _refuse_late(self, drop: LineupItem, now: str) -> None:
        if drop.mode is DropMode.DRAW and drop.opens_at is not None and now >= drop.opens_at:
            raise EntriesClosed(drop.product_id, drop.opens_at)
        stock = self.stock.levels([drop]).get(drop.product_id)
        if stock is None:
            raise NotFound("product", drop.product_id, field="productId",
                           detail=f"product {drop.product_id} has no stock in session {drop.session_id}")
        if drop_state(now, stock.opens_at or now, stock.closes_at) == "closed":
            raise DropClosed(drop.product_id, stock.closes_at)

    def status(self, shopper_id: str, session_id: str, product_id: str) -> EntryStatus:
        """The shopper's entry and where it stands. A queue whose step is due takes it here (at
        most once a second per drop, whoever polls first): the units left are read, the rule
        applied and the result written only if no other poll took this step meanwhile."""
        drop = self._drop(session_id, product_id)
        entry, queue = self.entries.read(session_id, product_id, shopper_id, drop.entry_shards)
        if entry is None:
            raise NotFound("entry", shopper_id, field="productId", detail="you have not joined this drop")
        if drop.mode is DropMode.DRAW:
            return self.draw_status(entry, drop)
        now = self.clock.now()
        now_ms = epoch_ms(now)
        if queues.due(queue, now_ms):
            queue = self._step(drop, queue, now_ms, to_iso(now))
        standing = queues.standing(queue, entry.position, now_ms, drop.hold_seconds * 1000)
        token = None
        if standing.state == "admitted":
            token = admissions.issue(self._secret(), shopper_id, session_id, product_id, entry.position,
                                     standing.expires_ms)  # type: ignore[arg-type]
        return EntryStatus(entry, drop, standing.state, standing.ahead, token, standing.expires_ms)

    def admits(self, token: str, shopper_id: str, session_id: str, product_id: str) -> bool:
        """Whether an admission token lets this shopper buy this drop now (checkout's question):
        no request, the signature and expiry only."""
        return admissions.verify(self._secret(), token, shopper_id, session_id, product_id, epoch_ms(self.clock.now()))

    def _step(self, drop: LineupItem, queue: queues.QueueState, now_ms: int, now: str) -> queues.QueueState:
        stock = self.stock.levels([drop]).get(drop.product_id)
        left = sum(stock.left.values()) if stock else 0
        window = drop_state(now, stock.opens_at, stock.closes_at) if stock else "closed"
        after = queues.step(queue, now_ms, left, opened=window != "not_open", closed=window == "closed")
        return self.entries.record_step(drop.session_id, drop.product_id, queue, after)

    def _drop(self, session_id: str, product_id: str) -> LineupItem:
        """The queue or draw drop, from this container's memory of the lineup (DROP_MEMORY_SECONDS)."""
        now = self.clock.monotonic()
        read_at = self._read_at.get(session_id)
        if read_at is None or now - read_at >= DROP_MEMORY_SECONDS:
            self.drops.forget(session_id)
            self._read_at[session_id] = now
        drop = self.drops.get(session_id, [product_id])[product_id]
        if drop is None:
            raise NotFound("product", product_id, field="productId",
                           detail=f"product {product_id} is not in session {session_id}'s lineup")
        if drop.mode is DropMode.OPEN:
            raise NotAQueue(product_id)
        return drop
