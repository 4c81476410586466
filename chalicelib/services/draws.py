"""Draw drops: once entries close (the drop's opensAt), the draw is made and each winner gets one
unit reserved.

A run reads every entrant, ranks them with the drop's seed (domain/draws.py) and records the draw
(seed, entrants, winners) in one conditional write before reserving anything: two runs racing
record one draw, and the loser goes on with the winner's. Then each winner's unit is reserved
through checkout under a key of the draw's own (no second order for anyone, whoever runs it), and
the progress is recorded as it goes, so a run that crashed or ran out of time is finished by the
next one. Units nobody won (fewer entrants than units) stay unsold.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Callable

from chalicelib.domain import draws
from chalicelib.domain.clock import to_iso
from chalicelib.domain.draws import Draw
from chalicelib.domain.drops import DropMode
from chalicelib.domain.errors import Busy, DomainError, DrawNotDue, NotFound
from chalicelib.domain.ownership import well_formed
from chalicelib.domain.ports import Clock, DrawRepository, EntryRepository, LineupRepository
from chalicelib.domain.records import LineupItem, Order
from chalicelib.observability import logger

PROGRESS_EVERY = 25       # reservations between two writes of the progress: what a crash may redo
# How long a run reserves for winners before it leaves the rest to the next run: the brand's POST
# within the API's 15 s Lambda timeout.
RUN_BUDGET_SECONDS = 8.0


@dataclass(frozen=True)
class DrawView:
    """A draw drop and its draw, if made: what GET .../draw shows (the seed only once drawn)."""
    drop: LineupItem
    draw: Draw | None
    entrants: list[str] | None  # the page asked for, once drawn
    page: int

    @property
    def seed_hash(self) -> str:
        return draws.commitment(self.drop.draw_seed or "")


class Draws:
    def __init__(self, repo: DrawRepository, entries: EntryRepository, lineup: LineupRepository,
                 reserve_for_winner: Callable[[str, str, str], tuple[Order, bool]],
                 session_owner: Callable[[str, str], object], clock: Clock) -> None:
        self.repo = repo
        self.entries = entries
        self.lineup = lineup
        self.reserve_for_winner = reserve_for_winner
        self.session_owner = session_owner  # raises NotFound unless the brand owns the session
        self.clock = clock
        self._finished: dict[tuple[str, str], Draw] = {}  # allocated draws no longer change: kept per container

    # --- reading -------------------------------------------------------------------------------

    def view(self, session_id: str, product_id: str, page: int = 0) -> DrawView:
        """The draw as published. A read never makes the draw (a crowd of public reads at opensAt
        would each read every entry): `run_draws` and the owner's POST do."""
        drop = self._draw_drop(session_id, product_id)
        return self._view(drop, self.repo.get(session_id, product_id), page)

    def outcome(self, drop: LineupItem, shopper_id: str) -> draws.Outcome:
        """Where an entrant of a draw drop stands (a shopper's `entries/me` polls): `entered`
        before opensAt without a read, then as the draw says. A finished draw is kept by the
        container, so polls after it cost no read."""
        if not draws.due(to_iso(self.clock.now()), drop.opens_at):
            return draws.Outcome("entered")
        key = (drop.session_id, drop.product_id)
        draw = self._finished.get(key) or self.repo.get(*key)
        if draw is not None and draw.allocated_all:
            self._finished[key] = draw
        return draws.outcome(draw, shopper_id)

    def run_now(self, brand_id: str, session_id: str, product_id: str, page: int = 0) -> DrawView:
        """The owner brand's draw, made now if opensAt has passed (DrawNotDue before), then allocated."""
        self.session_owner(brand_id, session_id)
        drop = self._draw_drop(session_id, product_id)
        if not draws.due(to_iso(self.clock.now()), drop.opens_at):
            raise DrawNotDue(product_id, drop.opens_at)
        return self._view(drop, self._run(drop, self.repo.get(session_id, product_id), RUN_BUDGET_SECONDS), page)

    def _view(self, drop: LineupItem, draw: Draw | None, page: int) -> DrawView:
        if draw is None:
            return DrawView(drop, None, None, 0)
        # A page past the last is empty, as a listing read past its end.
        return DrawView(drop, draw, self.repo.entrants_page(draw, page) if page < draw.entrant_pages else [], page)

    def _draw_drop(self, session_id: str, product_id: str) -> LineupItem:
        item = None
        if well_formed(session_id, "ses") and well_formed(product_id, "prd"):
            item = next((drop for drop in self.lineup.list_for_session(session_id)
                         if drop.product_id == product_id), None)
        if item is None or item.mode is not DropMode.DRAW or item.draw_seed is None:
            raise NotFound("draw", product_id, field="productId",
                           detail=f"product {product_id} is not a draw drop of session {session_id}")
        return item

    # --- running -------------------------------------------------------------------------------

    def run(self, session_id: str, product_id: str, budget_seconds: float = RUN_BUDGET_SECONDS) -> Draw | None:
        """Make the draw if it is due and not made yet, then reserve for its winners until done
        or out of time. None while it is not due."""
        drop = self._draw_drop(session_id, product_id)
        draw = self.repo.get(session_id, product_id)
        if draw is None and not draws.due(to_iso(self.clock.now()), drop.opens_at):
            return None
        return self._run(drop, draw, budget_seconds)

    def run_due(self, limit: int = 50, budget_seconds: float = RUN_BUDGET_SECONDS) -> int:
        """Draws due (opensAt passed) and not finished: made and allocated, until out of time.
        The scheduled `run_draws` calls it every minute (`make run`'s sweeper every few seconds).
        Returns how many draws were finished."""
        started = self.clock.monotonic()
        finished = 0
        for session_id, product_id in self.repo.due(to_iso(self.clock.now()), limit):
            left = budget_seconds - (self.clock.monotonic() - started)
            if left <= 0:
                break
            try:
                draw = self.run(session_id, product_id, left)
            except NotFound:
                self.repo.finish(session_id, product_id)  # not a draw drop any more: nothing to run
                continue
            except Exception:
                logger.exception("a draw failed; the next run tries again",
                                 extra={"session_id": session_id, "product_id": product_id})
                continue
            finished += bool(draw and draw.allocated_all)
        return finished

    def _run(self, drop: LineupItem, draw: Draw | None, budget_seconds: float) -> Draw:
        """The draw as read (None: not made yet) made if need be, then allocated."""
        return self._allocated(draw or self._draw(drop), budget_seconds)

    def _allocated(self, draw: Draw, budget_seconds: float) -> Draw:
        if not draw.allocated_all:
            draw = self._allocate(draw, budget_seconds)
        if draw.allocated_all:
            self.repo.finish(draw.session_id, draw.product_id)
        return draw

    def _draw(self, drop: LineupItem) -> Draw:
        seed = drop.draw_seed or ""
        now = to_iso(self.clock.now())
        self.repo.close_entries(drop.session_id, drop.product_id, now)  # before the read: no entry slips between
        entrants = self.entries.entrants(drop.session_id, drop.product_id)
        pages = draws.pages(entrants)
        made = Draw(id=secrets.token_hex(8), session_id=drop.session_id, product_id=drop.product_id, seed=seed,
                    units=drop.quantity, entrant_count=sum(map(len, pages)), entrant_pages=len(pages),
                    winners=tuple(draws.winners(seed, entrants, drop.quantity)), drawn_at=now)
        draw = self.repo.record(made, pages)
        if draw.id == made.id:
            logger.info("draw made", extra={"session_id": drop.session_id, "product_id": drop.product_id,
                                            "entrants": draw.entrant_count, "winners": len(draw.winners)})
        return draw

    def _allocate(self, draw: Draw, budget_seconds: float) -> Draw:
        """One unit reserved for each winner from where the recorded progress stands, in rank
        order. Reserving is idempotent, so whatever a crash left unrecorded is only done again."""
        started = self.clock.monotonic()
        done = draw.allocated
        for index in range(draw.allocated, len(draw.winners)):
            if self.clock.monotonic() - started >= budget_seconds:
                break
            winner = draw.winners[index]
            try:
                self.reserve_for_winner(winner, draw.session_id, draw.product_id)
            except Busy:
                raise  # passing: the next run goes on from the recorded progress
            except DomainError as refusal:
                # For good (the drop closed as its session ended, its units went elsewhere, ...):
                # one winner never blocks those after them.
                logger.error("a draw's winner could not be given a unit",
                             extra={"session_id": draw.session_id, "product_id": draw.product_id,
                                    "shopper_id": winner, "reason": type(refusal).__name__})
            done = index + 1
            if done % PROGRESS_EVERY == 0 and done < len(draw.winners):
                self.repo.mark_allocated(draw, done)
        if done > draw.allocated:
            self.repo.mark_allocated(draw, done)
        return replace(draw, allocated=done)
