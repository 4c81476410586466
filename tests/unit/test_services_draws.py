"""Draws on fakes: one draw under a race, resumed after a crash or out of time, one order per
winner, never more winners than units. Time moves only when a test moves the FakeClock."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from chalicelib.domain import draws
from chalicelib.domain.clock import to_iso
from chalicelib.domain.drops import DropMode, OrderStatus
from chalicelib.domain.errors import DrawNotDue, InvalidInput, NotFound, SoldOut
from chalicelib.domain.money import Money
from chalicelib.services.draws import PROGRESS_EVERY, Draws
from tests.fakes import Drop, add_drop, conservation, new_show

HOUR = 3600


@dataclass(frozen=True)
class DrawDrop:
    drop: Drop
    seed: str


def draw_drop(services, ports, clock, units=5, entrants=12) -> DrawDrop:
    """A draw drop opening in an hour, with `entrants` shoppers entered."""
    brand_id, session_id = new_show(services)
    product = services.catalog.create(brand_id, "Sneaker", None, Money(19900, "EUR"), units, ())
    item, _ = services.sessions.add_to_lineup(brand_id, session_id, product.id, None, units, None,
                                              opens_at=opens_in(clock, HOUR), mode=DropMode.DRAW)
    for _ in range(entrants):
        ports.entries.join(session_id, product.id, services.shoppers.register()[0], 1, to_iso(clock.now()))
    return DrawDrop(Drop(brand_id, session_id, product.id, units), item.draw_seed)


def opens_in(clock, seconds) -> str:
    return to_iso(clock.now() + timedelta(seconds=seconds))


def entrants_of(ports, drop: Drop) -> list[str]:
    return list(ports.store.entries[(drop.session_id, drop.product_id)])


def orders_of(ports, drop: Drop) -> dict[str, list]:
    """Orders holding the drop, by shopper."""
    by_shopper: dict[str, list] = {}
    for row in ports.store.orders.values():
        if row.order.session_id == drop.session_id and any(line.product_id == drop.product_id for line in row.order.lines):
            by_shopper.setdefault(row.order.shopper_id, []).append(row.order)
    return by_shopper


def assert_allocated(ports, drop: Drop, winners) -> None:
    """Each winner holds exactly one reserved unit under the draw's order id; nobody else holds any."""
    orders = orders_of(ports, drop)
    assert set(orders) == set(winners)
    for winner in winners:
        (order,) = orders[winner]
        assert order.id == draws.winner_order_id(winner, drop.session_id, drop.product_id)
        assert order.status is OrderStatus.RESERVED and [line.quantity for line in order.lines] == [1]
    assert conservation(ports, drop) == (drop.quantity - len(winners), len(winners))


def test_before_opens_at_there_is_no_draw_and_the_seed_is_only_committed_to(world, clock):
    services, ports = world
    made = draw_drop(services, ports, clock)
    drop = made.drop
    assert services.draws.run(drop.session_id, drop.product_id) is None
    view = services.draws.view(drop.session_id, drop.product_id)
    assert view.draw is None and view.entrants is None and view.seed_hash == draws.commitment(made.seed)
    with pytest.raises(DrawNotDue):
        services.draws.run_now(drop.brand_id, drop.session_id, drop.product_id)
    assert ports.draws.calls["record"] == 0 and not orders_of(ports, drop)
    assert services.draws.run_due() == 0


def test_the_draw_follows_the_rule_and_each_winner_gets_one_unit(world, clock):
    services, ports = world
    made = draw_drop(services, ports, clock, units=5, entrants=12)
    drop = made.drop
    clock.advance(HOUR)
    closed_first = []
    ports.entries.before_next("entrants", lambda: closed_first.append(
        ports.store.entries_closed.get((drop.session_id, drop.product_id))))
    draw = services.draws.run(drop.session_id, drop.product_id)
    assert closed_first == [to_iso(clock.now())]  # entries marked closed before they were read
    everyone = entrants_of(ports, drop)
    assert list(draw.winners) == draws.winners(made.seed, everyone, 5) and len(draw.winners) == 5
    assert draw.seed == made.seed and draw.entrant_count == 12 and draw.units == 5 and draw.allocated_all
    assert draw.drawn_at == to_iso(clock.now())
    assert_allocated(ports, drop, draw.winners)
    view = services.draws.view(drop.session_id, drop.product_id)
    assert view.entrants == sorted(everyone) and view.draw == ports.store.draws[(drop.session_id, drop.product_id)]
    # Running again, from any path, changes nothing.
    again = services.draws.run_now(drop.brand_id, drop.session_id, drop.product_id).draw
    assert again == view.draw and ports.draws.calls["record"] == 1
    assert_allocated(ports, drop, draw.winners)


def test_fewer_entrants_than_units_all_win_and_the_rest_stay_unsold(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock, units=10, entrants=3).drop
    clock.advance(HOUR)
    draw = services.draws.run(drop.session_id, drop.product_id)
    assert sorted(draw.winners) == sorted(entrants_of(ports, drop))
    assert_allocated(ports, drop, draw.winners)  # 7 units left in the drop


def test_a_draw_with_no_entrants_is_made_and_finished(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock, units=3, entrants=0).drop
    clock.advance(HOUR)
    assert services.draws.run_due() == 1
    draw = ports.store.draws[(drop.session_id, drop.product_id)]
    assert draw.winners == () and draw.entrant_count == 0 and draw.entrant_pages == 1
    assert services.draws.view(drop.session_id, drop.product_id).entrants == []
    assert services.draws.run_due() == 0 and ports.draws.due(to_iso(clock.now()), 10) == []


def test_two_runs_racing_make_one_draw_and_the_loser_goes_on_with_it(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock, units=4, entrants=10).drop
    clock.advance(HOUR)
    late = services.shoppers.register()[0]

    def other_run():  # between this run's read of the entrants and its write, another run draws
        ports.entries.join(drop.session_id, drop.product_id, late, 1, to_iso(clock.now()))
        services.draws.run(drop.session_id, drop.product_id)

    ports.draws.before_next("record", other_run)
    draw = services.draws.run(drop.session_id, drop.product_id)
    stored = ports.store.draws[(drop.session_id, drop.product_id)]
    assert draw.id == stored.id and draw.winners == stored.winners and stored.entrant_count == 11
    assert {draw_id for draw_id, _ in ports.store.draw_pages} == {stored.id}  # the loser's pages are gone
    assert_allocated(ports, drop, stored.winners)


def test_a_crash_between_the_draw_and_the_reservations_is_resumed_by_the_next_run(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock, units=5, entrants=8).drop
    clock.advance(HOUR)
    ports.orders.fail_next("reserve", RuntimeError("the container died"))
    with pytest.raises(RuntimeError):
        services.draws.run(drop.session_id, drop.product_id)
    recorded = ports.store.draws[(drop.session_id, drop.product_id)]
    assert recorded.allocated == 0 and len(recorded.winners) == 5 and not orders_of(ports, drop)
    assert services.draws.run_due() == 1
    assert_allocated(ports, drop, recorded.winners)
    assert ports.store.draws[(drop.session_id, drop.product_id)].winners == recorded.winners


def test_a_crash_mid_allocation_redoes_only_unrecorded_reservations_and_makes_no_second_order(world, clock):
    services, ports = world
    units = PROGRESS_EVERY + 10
    drop = draw_drop(services, ports, clock, units=units, entrants=units + 5).drop
    clock.advance(HOUR)
    reserved = []

    def crashing(shopper_id, session_id, product_id):
        if len(reserved) == PROGRESS_EVERY + 3:
            raise RuntimeError("the container died")
        reserved.append(shopper_id)
        return services.checkout.reserve_for_winner(shopper_id, session_id, product_id)

    dying = Draws(ports.draws, ports.entries, ports.lineup, crashing, services.sessions.get_owned, clock)
    with pytest.raises(RuntimeError):
        dying.run(drop.session_id, drop.product_id)
    assert ports.store.draws[(drop.session_id, drop.product_id)].allocated == PROGRESS_EVERY
    calls = ports.orders.calls["reserve"]
    draw = services.draws.run(drop.session_id, drop.product_id)
    assert ports.orders.calls["reserve"] - calls == units - PROGRESS_EVERY  # from the recorded progress on
    assert draw.allocated_all
    assert_allocated(ports, drop, draw.winners)


def test_a_run_out_of_time_is_finished_by_the_next(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock, units=6, entrants=9).drop
    clock.advance(HOUR)

    def slow(shopper_id, session_id, product_id):  # each reservation takes a second
        clock.advance(1)
        return services.checkout.reserve_for_winner(shopper_id, session_id, product_id)

    slow_draws = Draws(ports.draws, ports.entries, ports.lineup, slow, services.sessions.get_owned, clock)
    assert slow_draws.run_due(budget_seconds=4) == 0
    assert ports.store.draws[(drop.session_id, drop.product_id)].allocated == 4
    assert ports.draws.due(to_iso(clock.now()), 10) == [(drop.session_id, drop.product_id)]
    assert services.draws.run_due() == 1
    assert_allocated(ports, drop, ports.store.draws[(drop.session_id, drop.product_id)].winners)
    assert ports.draws.due(to_iso(clock.now()), 10) == []


def test_a_winner_refused_for_good_is_logged_and_the_others_still_get_theirs(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock, units=3, entrants=5).drop
    clock.advance(HOUR)
    refused = []

    def refusing_first(shopper_id, session_id, product_id):
        if not refused:
            refused.append(shopper_id)
            raise SoldOut(product_id, 0)
        return services.checkout.reserve_for_winner(shopper_id, session_id, product_id)

    draw = Draws(ports.draws, ports.entries, ports.lineup, refusing_first, services.sessions.get_owned,
                 clock).run(drop.session_id, drop.product_id)
    assert draw.allocated_all and refused == [draw.winners[0]]
    assert set(orders_of(ports, drop)) == set(draw.winners[1:])


def test_only_draw_drops_have_a_draw_and_only_the_owner_runs_it(world, clock):
    services, ports = world
    made = draw_drop(services, ports, clock)
    open_drop = add_drop(services, made.drop.brand_id, made.drop.session_id)
    with pytest.raises(NotFound):
        services.draws.view(open_drop.session_id, open_drop.product_id)
    with pytest.raises(NotFound):
        services.draws.view(made.drop.session_id, "prd_nope")
    other_brand, _ = services.brands.create("Rival")
    clock.advance(HOUR)
    with pytest.raises(NotFound):
        services.draws.run_now(other_brand.id, made.drop.session_id, made.drop.product_id)
    assert ports.draws.calls["record"] == 0


def test_a_page_past_the_last_has_no_entrants(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock).drop
    clock.advance(HOUR)
    services.draws.run_due()
    view = services.draws.view(drop.session_id, drop.product_id, page=1)
    assert view.draw is not None and view.entrants == [] and view.page == 1
    assert services.draws.view(drop.session_id, drop.product_id, page=0).entrants == sorted(entrants_of(ports, drop))


def test_a_draw_drop_has_at_most_max_draw_units(world, clock):
    services, _ = world
    brand_id, session_id = new_show(services)
    product = services.catalog.create(brand_id, "Sneaker", None, Money(100, "EUR"), draws.MAX_DRAW_UNITS + 1, ())
    for quantity in (draws.MAX_DRAW_UNITS + 1, None):  # None: the whole stock
        with pytest.raises(InvalidInput) as refused:
            services.sessions.add_to_lineup(brand_id, session_id, product.id, None, quantity, None,
                                            opens_at=opens_in(clock, HOUR), mode=DropMode.DRAW)
        assert refused.value.errors[0]["field"] == "quantity"
    item, _ = services.sessions.add_to_lineup(brand_id, session_id, product.id, None, draws.MAX_DRAW_UNITS, None,
                                              opens_at=opens_in(clock, HOUR), mode=DropMode.DRAW)
    assert item.quantity == draws.MAX_DRAW_UNITS


def test_an_entrants_outcome_entered_then_won_with_the_order_or_not_won(world, clock):
    services, ports = world
    made = draw_drop(services, ports, clock, units=2, entrants=5)
    drop = made.drop
    item = ports.lineup.list_for_session(drop.session_id)[0]
    everyone = entrants_of(ports, drop)
    reads = ports.draws.calls["get"]
    assert {services.draws.outcome(item, s) for s in everyone} == {draws.Outcome("entered")}
    assert ports.draws.calls["get"] == reads  # before opensAt: no read
    clock.advance(HOUR)
    assert services.draws.outcome(item, everyone[0]) == draws.Outcome("entered")  # due, not made yet
    draw = services.draws.run(drop.session_id, drop.product_id)
    orders = orders_of(ports, drop)
    for shopper in everyone:
        if shopper in draw.winners:
            assert services.draws.outcome(item, shopper) == draws.Outcome("won", orders[shopper][0].id)
        else:
            assert services.draws.outcome(item, shopper) == draws.Outcome("not_won")
    reads = ports.draws.calls["get"]
    services.draws.outcome(item, everyone[0])
    assert ports.draws.calls["get"] == reads  # a finished draw is kept


def test_a_winner_not_reserved_yet_has_no_order_id():
    draw = draws.Draw(id="d", session_id="ses_1", product_id="prd_1", seed="s", units=2, entrant_count=3,
                      entrant_pages=1, winners=("shp_b", "shp_a"), drawn_at="2026-11-22T20:00:00.000Z", allocated=1)
    assert draws.outcome(draw, "shp_b") == draws.Outcome("won", draws.winner_order_id("shp_b", "ses_1", "prd_1"))
    assert draws.outcome(draw, "shp_a") == draws.Outcome("won", None)
    assert draws.outcome(draw, "shp_c") == draws.Outcome("not_won")


def test_checkout_reserves_a_winner_under_the_draws_order_id(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock, units=1, entrants=0).drop
    clock.advance(HOUR)
    order, _ = services.checkout.reserve_for_winner("shp_someone", drop.session_id, drop.product_id)
    assert order.id == draws.winner_order_id("shp_someone", drop.session_id, drop.product_id)


def test_a_read_never_makes_the_draw_and_a_run_whose_reservations_fail_is_finished_by_the_next(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock, units=2, entrants=4).drop
    clock.advance(HOUR)
    assert services.draws.view(drop.session_id, drop.product_id).draw is None  # due, yet a read makes nothing
    ports.orders.fail_next("reserve", RuntimeError("DynamoDB hiccup"))
    assert services.draws.run_due() == 0  # drawn, its reservations not made
    view = services.draws.view(drop.session_id, drop.product_id)
    assert view.draw is not None and len(view.draw.winners) == 2 and not view.draw.allocated_all
    assert not orders_of(ports, drop)
    assert services.draws.run_due() == 1  # the next run reserves them
    assert_allocated(ports, drop, view.draw.winners)


def test_a_winner_who_cannot_be_given_a_unit_never_blocks_those_after_them(world, clock):
    services, ports = world
    drop = draw_drop(services, ports, clock, units=3, entrants=3).drop  # everyone wins
    clock.advance(HOUR)
    first = {"calls": 0}
    reserve = services.draws.reserve_for_winner

    def refuse_the_first(shopper_id, session_id, product_id):
        first["calls"] += 1
        if first["calls"] == 1:
            from chalicelib.domain.errors import IdempotencyKeyReused
            raise IdempotencyKeyReused()
        return reserve(shopper_id, session_id, product_id)

    services.draws.reserve_for_winner = refuse_the_first
    assert services.draws.run_due() == 1
    assert len(orders_of(ports, drop)) == 2  # the two after the refused one


def test_no_idempotency_key_a_shopper_can_send_makes_a_winners_order_id():
    from chalicelib.api.orders import IDEMPOTENCY_KEY
    import re

    key = draws.winner_key("ses_01", "prd_01")
    assert not re.fullmatch(IDEMPOTENCY_KEY.pattern, key)
