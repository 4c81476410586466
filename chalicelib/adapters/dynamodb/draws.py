"""Draws in DynamoDB: each drop's record in its own entries partition, and the draws due.

    dropKey = <sessionId>#<productId>
    entryKey = #closed                   entries closed (closedAt): written before the entrants
                                         are read; a join conditioned on its absence is either
                                         in the draw or refused
               #draw                     the draw: drawId, seed, units, entrantCount,
                                         entrantPages, winners, drawnAt, allocated
               #draw#<drawId>#<page>     a page of entrants (domain/draws.py ENTRANTS_PER_PAGE)

The pages are written first, then `#draw` with `attribute_not_exists`: two runs racing write
one draw, and the loser reads the winner's from the refusal (no second read) and deletes its own
pages. A draw published is a frozen record: later entries (there should be none) or entries
deleted do not change what it says.

Draws due: the lineup table's sparse `drawsDue` index (drawDue, opensAt) holds the draw drops
until their draw is made and every winner allocated; `finish` removes drawDue.
"""
from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from chalicelib.adapters.dynamodb.entries import CLOSED, drop_key
from chalicelib.adapters.dynamodb.models import DRAW_DUE, DrawModel, LineupModel
from chalicelib.adapters.dynamodb.support import ConditionFailed, put_or_old, update_or_old
from chalicelib.domain.draws import Draw

DRAW_KEY = "#draw"
CLOSED_KEY = CLOSED


def page_key(draw_id: str, page: int) -> str:
    return f"{DRAW_KEY}#{draw_id}#{page:05d}"


def _draw(session_id: str, product_id: str, row: DrawModel) -> Draw:
    return Draw(id=row.draw_id or "", session_id=session_id, product_id=product_id, seed=row.seed or "",
                units=int(row.units or 0), entrant_count=int(row.entrant_count or 0),
                entrant_pages=int(row.entrant_pages or 1), winners=tuple(row.winners or ()),
                drawn_at=row.drawn_at or "", allocated=int(row.allocated or 0))


class DrawRepository:
    def get(self, session_id: str, product_id: str) -> Draw | None:
        try:
            row = DrawModel.get(drop_key(session_id, product_id), DRAW_KEY, consistent_read=True)
        except DoesNotExist:
            return None
        return _draw(session_id, product_id, row)

    def close_entries(self, session_id: str, product_id: str, at: str) -> None:
        # Unconditional: racing runs may both write it; the first time stands for nothing more.
        DrawModel(drop_key(session_id, product_id), CLOSED_KEY, closed_at=at).save()

    def record(self, draw: Draw, pages: list[list[str]]) -> Draw:
        key = drop_key(draw.session_id, draw.product_id)
        for number, page in enumerate(pages):  # one put each (no BatchWriteItem: the policy grants none)
            DrawModel(key, page_key(draw.id, number), entrants=page).save()
        row = DrawModel(key, DRAW_KEY, draw_id=draw.id, seed=draw.seed, units=draw.units,
                        entrant_count=draw.entrant_count, entrant_pages=draw.entrant_pages,
                        winners=list(draw.winners), drawn_at=draw.drawn_at, allocated=draw.allocated)
        try:
            put_or_old(row, condition=DrawModel.entry_key.does_not_exist())
        except ConditionFailed as lost:
            if lost.old is None:
                raise
            for number in range(len(pages)):  # this run's pages are nobody's
                DrawModel(key, page_key(draw.id, number)).delete()
            return _draw(draw.session_id, draw.product_id, lost.old)
        return draw

    def entrants_page(self, draw: Draw, page: int) -> list[str]:
        try:
            row = DrawModel.get(drop_key(draw.session_id, draw.product_id), page_key(draw.id, page),
                                consistent_read=True)
        except DoesNotExist:
            return []
        return list(row.entrants or [])

    def mark_allocated(self, draw: Draw, allocated: int) -> None:
        try:
            update_or_old(DrawModel, drop_key(draw.session_id, draw.product_id), range_key=DRAW_KEY,
                          actions=[DrawModel.allocated.set(allocated)],
                          condition=DrawModel.entry_key.exists() & (DrawModel.allocated < allocated))
        except ConditionFailed:
            pass  # another run got as far or further

    def finish(self, session_id: str, product_id: str) -> None:
        try:
            update_or_old(LineupModel, session_id, range_key=product_id, actions=[LineupModel.draw_due.remove()],
                          condition=LineupModel.draw_due.exists())
        except ConditionFailed:
            pass  # finished already, or the drop is gone

    def due(self, now: str, limit: int) -> list[tuple[str, str]]:
        rows = LineupModel.draws_due.query(DRAW_DUE, LineupModel.opens_at <= now, limit=limit)
        return [(row.session_id, row.product_id) for row in rows]
