"""The shape of a draw as published (GET/POST .../draw). The seed is in it only once the draw is
made: `DrawView.of` is the one place a seed reaches an answer."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.schemas import DEFERRED, ResponseModel, Timestamp
from chalicelib.services.draws import DrawView as Published

HEX64 = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class DrawQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=DEFERRED)
    page: Annotated[int, Field(ge=0, le=100_000)] = Field(
        0, description="Which page of entrants (entrantsPages of them, from 0); the other fields are the same on every page")


class DrawView(ResponseModel):
    """A draw drop's draw. Before it: the seed's SHA-256 only (committed to when the drop was
    added). After it: the seed, every entrant (by shopper id, in pages) and the winners in rank
    order, so anyone can recompute it (README: "Draw drops"; scripts/verify_draw.py)."""
    session_id: str
    product_id: str
    state: Literal["open", "drawn"] = Field(
        description="open: entries are taken until opensAt, then the draw is made; drawn: made, and published")
    opens_at: Timestamp = Field(description="When entries close and the draw is made")
    seed_hash: HEX64 = Field(description="SHA-256 of the seed's text, in hex: published before the draw")
    seed: HEX64 | None = Field(description="The seed (64 hex characters) once drawn; null before")
    drawn_at: Timestamp | None
    units: int | None = Field(description="Once drawn: the units drawn, one per winner at most")
    entrant_count: int | None = Field(description="Once drawn: how many shoppers were in the draw")
    entrants: list[str] | None = Field(
        description="Once drawn: the entrants' shopper ids in string order, this page of them; null before")
    entrants_page: int | None = Field(description="Once drawn: which page `entrants` is, from 0")
    entrants_pages: int | None = Field(description="Once drawn: how many pages of entrants there are (at least 1)")
    winners: list[str] | None = Field(
        description="Once drawn: the winners' shopper ids in rank order (by HMAC-SHA256(seed, shopper id)); null before")
    allocated: bool = Field(description="Whether every winner's unit has been reserved (each winner has one "
                                        "order, to pay within the drop's hold)")

    @classmethod
    def of(cls, published: Published) -> "DrawView":
        drop, draw = published.drop, published.draw
        fields = dict(session_id=drop.session_id, product_id=drop.product_id, opens_at=drop.opens_at,
                      seed_hash=published.seed_hash)
        if draw is None:
            return cls(**fields, state="open", seed=None, drawn_at=None, units=None, entrant_count=None,
                       entrants=None, entrants_page=None, entrants_pages=None, winners=None, allocated=False)
        return cls(**fields, state="drawn", seed=draw.seed, drawn_at=draw.drawn_at, units=draw.units,
                   entrant_count=draw.entrant_count, entrants=published.entrants, entrants_page=published.page,
                   entrants_pages=draw.entrant_pages, winners=list(draw.winners), allocated=draw.allocated_all)
