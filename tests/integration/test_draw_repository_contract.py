"""The draws repository, on the fake and on DynamoDB Local (as tests/integration/test_repository_contract.py):
a draw is written once and the loser of a race gets the winner's, progress only rises, the draws
due are the draw drops past opensAt until finished, and a full draw fits in its items."""
from __future__ import annotations

import secrets
from dataclasses import replace

from chalicelib.domain import draws
from chalicelib.domain.draws import Draw
from chalicelib.domain.drops import DropMode
from chalicelib.domain.ids import new_id
from chalicelib.domain.records import LineupItem
from tests.integration import test_repository_contract as contract
from tests.integration.test_repository_contract import EUR, NOW, T1, T2, T3, a_brand, a_product, a_session

repos = contract.repos  # the fixture: every case on the fake and on DynamoDB Local


def a_draw(session_id: str | None = None, product_id: str | None = None, entrants: list[str] | None = None,
           units: int = 3) -> tuple[Draw, list[list[str]]]:
    seed = draws.new_seed()
    everyone = entrants if entrants is not None else [f"shp_{secrets.token_hex(11)}" for _ in range(7)]
    pages = draws.pages(everyone)
    return Draw(id=secrets.token_hex(8), session_id=session_id or new_id("ses"), product_id=product_id or new_id("prd"),
                seed=seed, units=units, entrant_count=len(set(everyone)), entrant_pages=len(pages),
                winners=tuple(draws.winners(seed, everyone, units)), drawn_at=NOW), pages


def a_draw_drop(repos, opens_at: str, mode: DropMode = DropMode.DRAW) -> LineupItem:
    session = a_session(repos, a_brand(repos).id)
    product = a_product(repos, session.brand_id, stock=5)
    item = LineupItem(session_id=session.id, product_id=product.id, brand_id=session.brand_id, price=EUR,
                      quantity=5, per_customer_limit=None, added_at=T1, opens_at=opens_at, hold_seconds=300,
                      mode=mode, draw_seed=draws.new_seed() if mode is DropMode.DRAW else None)
    repos["lineup"].add_taking_stock(item, session.status)
    return item


def test_a_draw_is_recorded_once_and_a_racing_run_gets_the_first(repos):
    store = repos["draws"]
    first, pages = a_draw()
    assert store.get(first.session_id, first.product_id) is None
    assert store.record(first, pages) == first
    assert store.get(first.session_id, first.product_id) == first
    second, other_pages = a_draw(first.session_id, first.product_id)
    assert store.record(second, other_pages) == first
    assert store.get(first.session_id, first.product_id) == first
    assert store.entrants_page(first, 0) == pages[0]
    assert store.entrants_page(second, 0) == []  # the loser's pages were taken away


def test_allocation_progress_only_rises(repos):
    store = repos["draws"]
    draw, pages = a_draw()
    store.record(draw, pages)
    store.mark_allocated(draw, 2)
    store.mark_allocated(draw, 1)  # a slower run, behind
    assert store.get(draw.session_id, draw.product_id).allocated == 2
    store.mark_allocated(draw, 3)
    assert store.get(draw.session_id, draw.product_id) == replace(draw, allocated=3)


def test_draws_due_are_draw_drops_past_opens_at_until_finished(repos):
    store = repos["draws"]
    passed, ahead = a_draw_drop(repos, T1), a_draw_drop(repos, T3)
    not_a_draw = a_draw_drop(repos, T1, mode=DropMode.OPEN)
    mine = {(d.session_id, d.product_id) for d in (passed, ahead, not_a_draw)}

    def due():
        return [key for key in store.due(T2, 1000) if key in mine]

    assert due() == [(passed.session_id, passed.product_id)]
    store.finish(passed.session_id, passed.product_id)
    store.finish(passed.session_id, passed.product_id)  # again: harmless
    assert due() == []
    assert [key for key in store.due(T3, 1000) if key in mine] == [(ahead.session_id, ahead.product_id)]
    # Finishing a drop that is not there writes nothing.
    gone = new_id("ses")
    store.finish(gone, new_id("prd"))
    assert repos["lineup"].list_for_session(gone) == []
    assert repos["lineup"].list_for_session(passed.session_id)[0].mode is DropMode.DRAW


def test_a_draw_of_max_units_and_a_full_page_of_the_longest_ids_fit_their_items(repos):
    store = repos["draws"]
    longest = [f"shp_{n:060d}" for n in range(max(draws.MAX_DRAW_UNITS, draws.ENTRANTS_PER_PAGE) + 1)]
    draw, pages = a_draw(entrants=longest, units=draws.MAX_DRAW_UNITS)
    assert len(draw.winners) == draws.MAX_DRAW_UNITS and len(pages[0]) == draws.ENTRANTS_PER_PAGE
    assert store.record(draw, pages) == draw
    assert store.get(draw.session_id, draw.product_id).winners == draw.winners
    assert store.entrants_page(draw, 0) + store.entrants_page(draw, 1) == sorted(longest)


def test_once_a_draw_closes_its_entries_a_closable_join_is_refused_and_other_joins_are_not(repos):
    import pytest

    from chalicelib.domain.errors import EntriesClosed

    session_id, product_id = new_id("ses"), new_id("prd")
    early, late, queued = (f"shp_{secrets.token_hex(11)}" for _ in range(3))
    entry, created = repos["entries"].join(session_id, product_id, early, 1, NOW, closable=True)
    assert created
    repos["draws"].close_entries(session_id, product_id, T2)
    with pytest.raises(EntriesClosed):
        repos["entries"].join(session_id, product_id, late, 1, T3, closable=True)
    assert repos["entries"].join(session_id, product_id, early, 1, T3, closable=True) == (entry, False)
    assert sorted(repos["entries"].entrants(session_id, product_id)) == [early]  # the draw reads exactly these
    assert repos["entries"].join(session_id, product_id, queued, 1, T3)[1]  # not closable (a queue): no mark asked
