"""Fair drops at checkout, on fakes: the hold cap, draw and queue drops, verified-only drops and a
drop's own hold. What checkout refuses from the drop and the buyer's token costs no write."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.domain.drops import DropMode, OrderStatus
from chalicelib.domain.errors import (
    AdmissionRequired, DropByDraw, HoldLimitReached, InvalidInput, RateLimited, VerificationRequired,
)
from chalicelib.domain.clock import epoch_ms, to_iso
from chalicelib.domain.sessions import SessionStatus
from chalicelib.services.checkout import REFUSAL_MEMORY_SECONDS
from tests.fakes import add_drop, buy, conservation, fake_services, new_show


def reserves(ports) -> int:
    return ports.orders.calls["reserve"]


def live_show(services, drops: int = 4, **drop):
    brand_id, session_id = new_show(services)
    made = [add_drop(services, brand_id, session_id, quantity=10, title=f"P{n}", **drop) for n in range(drops)]
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    return made


def test_a_shopper_holds_at_most_three_unpaid_orders_in_a_session(world):
    services, ports = world
    drops = live_show(services)
    for drop in drops[:3]:
        buy(services, "shp_hoarder", drop.session_id, {drop.product_id: 1})
    with pytest.raises(HoldLimitReached) as refused:
        buy(services, "shp_hoarder", drops[3].session_id, {drops[3].product_id: 1})
    assert refused.value.facts() == {"openOrders": 3, "limit": 3}
    assert conservation(ports, drops[3]) == (10, 0)  # nothing taken
    buy(services, "shp_other", drops[3].session_id, {drops[3].product_id: 1})  # the cap is per shopper


def test_the_cap_counts_unpaid_orders_only_cancelled_expired_and_paid_ones_free_a_place(world, clock):
    services, ports = world
    drops = live_show(services)
    session_id = drops[0].session_id
    held = [buy(services, "shp_a", session_id, {drop.product_id: 1})[0] for drop in drops[:3]]
    services.checkout.cancel(held[0].id, "shp_a")  # released: taken off the list in the same write
    fourth, _ = buy(services, "shp_a", session_id, {drops[3].product_id: 1})
    with pytest.raises(HoldLimitReached):
        buy(services, "shp_a", session_id, {drops[0].product_id: 1})

    services.payments.pay(held[1].id, "shp_a", "pm_card_visa")  # paid: still listed, pruned at the cap
    reads = ports.orders.calls["get"]
    again, _ = buy(services, "shp_a", session_id, {drops[0].product_id: 1})
    assert again.status is OrderStatus.RESERVED
    assert ports.orders.calls["get"] - reads == 3  # the three listed orders, read once at the cap

    clock.advance(601)  # every reservation past its time, the sweep not run yet
    buy(services, "shp_a", session_id, {drops[1].product_id: 1})
    assert {o.status for o in (held[2], fourth, again)} == {OrderStatus.RESERVED}  # as the sweep will find them
    assert services.checkout.release_expired() == 3
    for drop in drops:
        assert sum(conservation(ports, drop)) == 10


def test_a_capped_shopper_costs_no_write_once_refused(world):
    services, ports = world
    drops = live_show(services)
    for drop in drops[:3]:
        buy(services, "shp_b", drop.session_id, {drop.product_id: 1})
    before = reserves(ports)
    with pytest.raises(HoldLimitReached):
        buy(services, "shp_b", drops[3].session_id, {drops[3].product_id: 1})
    assert reserves(ports) - before == 1  # the one refused transaction, no retry


def test_the_cap_is_a_setting(clock):
    from chalicelib import bootstrap
    from chalicelib.settings import Settings
    from tests.fakes import Ports, fake_ports

    ports = Ports({**fake_ports(clock), "clock": clock})
    services = bootstrap.build(Settings.from_env({"LIVEDROP_STAGE": "fake", "LIVEDROP_MAX_OPEN_ORDERS": "1"}),
                               **{name: ports[name] for name in bootstrap.PORTS})
    first, second = live_show(services, drops=2)
    buy(services, "shp_c", first.session_id, {first.product_id: 1})
    with pytest.raises(HoldLimitReached):
        buy(services, "shp_c", second.session_id, {second.product_id: 1})
    with pytest.raises(ValueError, match="LIVEDROP_MAX_OPEN_ORDERS"):
        Settings.from_env({"LIVEDROP_STAGE": "fake", "LIVEDROP_MAX_OPEN_ORDERS": "0"})


def test_a_draw_drop_is_reserved_only_by_its_draw_and_a_won_unit_is_not_capped(world, clock):
    services, ports = world
    brand_id, session_id = new_show(services)
    opens = to_iso(clock.now() + timedelta(minutes=5))
    draw = add_drop(services, brand_id, session_id, quantity=5, opens_at=opens, mode=DropMode.DRAW)
    others = [add_drop(services, brand_id, session_id, quantity=5, title=f"O{n}") for n in range(3)]
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    for other in others:
        buy(services, "shp_w", session_id, {other.product_id: 1})
    clock.advance(301)
    before = reserves(ports)
    with pytest.raises(DropByDraw):
        buy(services, "shp_x", session_id, {draw.product_id: 1})
    assert reserves(ports) == before
    won, replayed = services.checkout.reserve_for_winner("shp_w", session_id, draw.product_id)
    assert not replayed and won.lines[0].quantity == 1 and won.status is OrderStatus.RESERVED
    assert services.checkout.reserve_for_winner("shp_w", session_id, draw.product_id) == (won, True)
    assert conservation(ports, draw) == (4, 1)


def test_a_queue_drop_needs_a_valid_admission_and_is_ordered_alone(world):
    services, ports = world
    admitted = {("adm-ok", "shp_q")}
    services.checkout.admits = lambda token, shopper, session, product: (token, shopper) in admitted
    brand_id, session_id = new_show(services)
    queue = add_drop(services, brand_id, session_id, title="Queued", mode=DropMode.QUEUE)
    other = add_drop(services, brand_id, session_id, title="Other")
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    with pytest.raises(AdmissionRequired):
        buy(services, "shp_q", session_id, {queue.product_id: 1})
    with pytest.raises(AdmissionRequired):
        buy(services, "shp_r", session_id, {queue.product_id: 1}, admission="adm-ok")  # someone else's
    with pytest.raises(InvalidInput):
        buy(services, "shp_q", session_id, {queue.product_id: 1, other.product_id: 1}, admission="adm-ok")
    assert reserves(ports) == 0
    order, _ = buy(services, "shp_q", session_id, {queue.product_id: 1}, admission="adm-ok")
    assert order.status is OrderStatus.RESERVED


def test_a_verified_only_drop_refuses_anonymous_shoppers_without_a_write(world):
    services, ports = world
    (drop,) = live_show(services, drops=1, verified_only=True)
    with pytest.raises(VerificationRequired):
        buy(services, "shp_anon", drop.session_id, {drop.product_id: 1})
    assert reserves(ports) == 0
    order, _ = buy(services, "shp_person", drop.session_id, {drop.product_id: 1}, verified=True)
    assert order.status is OrderStatus.RESERVED


def test_a_drop_holds_its_reservations_for_its_own_shorter_time(world, clock):
    services, ports = world
    brand_id, session_id = new_show(services, hold_seconds=600)
    hot = add_drop(services, brand_id, session_id, title="Hot", hold_seconds=60)
    calm = add_drop(services, brand_id, session_id, title="Calm")
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    now = epoch_ms(clock.now()) // 1000
    assert buy(services, "shp_h", session_id, {hot.product_id: 1})[0].expires_at == now + 60
    assert buy(services, "shp_i", session_id, {calm.product_id: 1})[0].expires_at == now + 600
    both, _ = buy(services, "shp_j", session_id, {hot.product_id: 1, calm.product_id: 1})
    assert both.expires_at == now + 60  # an order holds for its shortest drop's time
    clock.advance(61)
    assert services.checkout.release_expired() == 2


def test_orders_per_shopper_per_second_are_counted_in_the_reservation_itself(clock):
    services, ports = fake_services(clock, rate_limits="")  # the defaults: 2 orders a second
    drops = live_show(services, drops=3)
    session_id = drops[0].session_id
    buy(services, "shp_fast", session_id, {drops[0].product_id: 1})
    buy(services, "shp_fast", session_id, {drops[1].product_id: 1})
    writes = reserves(ports)
    with pytest.raises(RateLimited) as refused:
        buy(services, "shp_fast", session_id, {drops[2].product_id: 1})
    assert refused.value.retry_after == 1 and reserves(ports) - writes == 1  # refused by its own transaction
    assert conservation(ports, drops[2]) == (10, 0)
    buy(services, "shp_slow", session_id, {drops[2].product_id: 1})  # another shopper's window
    clock.advance(1)
    assert buy(services, "shp_fast", session_id, {drops[2].product_id: 1})[0].status is OrderStatus.RESERVED


def test_a_draws_reservations_are_not_counted_against_the_winners_rate(clock):
    services, ports = fake_services(clock, rate_limits="")
    brand_id, session_id = new_show(services)
    opens = to_iso(clock.now() + timedelta(minutes=5))
    draws = [add_drop(services, brand_id, session_id, quantity=5, opens_at=opens, mode=DropMode.DRAW,
                      title=f"D{n}") for n in range(3)]
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    clock.advance(301)
    for draw in draws:  # three won units in the same second, past the cap and the rate
        assert services.checkout.reserve_for_winner("shp_lucky", session_id, draw.product_id)[0].status \
            is OrderStatus.RESERVED


def test_a_drop_opened_to_all_is_not_refused_from_a_containers_memory_for_long(clock):
    services, ports = fake_services(clock)
    brand_id, session_id = new_show(services)
    drop = add_drop(services, brand_id, session_id, verified_only=True)
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    with pytest.raises(VerificationRequired):
        buy(services, "shp_anon", session_id, {drop.product_id: 1})  # this container now remembers the drop
    ports.lineup.store.lineup[(session_id, drop.product_id)] = replace(
        ports.lineup.store.lineup[(session_id, drop.product_id)], verified_only=False)  # changed by another container
    with pytest.raises(VerificationRequired):
        buy(services, "shp_anon", session_id, {drop.product_id: 1})  # from memory, within its 5 s
    reads = ports.lineup.calls["list_for_session"]
    clock.advance(REFUSAL_MEMORY_SECONDS)
    assert buy(services, "shp_anon", session_id, {drop.product_id: 1})[0].status is OrderStatus.RESERVED
    assert ports.lineup.calls["list_for_session"] - reads == 1  # read again once, before refusing
