"""Queue and draw entries on fakes (services/queues.py): joining, the refusals, and where an entry
stands as the queue steps. Time moves only when a test moves the FakeClock."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.clock import epoch_ms, to_iso
from chalicelib.domain.drops import DropMode
from chalicelib.domain.errors import (
    DropClosed, EntriesClosed, InvalidInput, NotAQueue, NotFound, VerificationRequired,
)
from chalicelib.domain.money import Money
from chalicelib.domain.queues import ADMISSION_SECONDS
from chalicelib.domain.sessions import SessionStatus
from chalicelib.services.queues import EntryStatus
from tests.fakes import Drop, add_drop, buy, fake_services, new_show


def a_drop(services, quantity=3, mode=DropMode.QUEUE, verified_only=False, opens_at=None, hold_seconds=None) -> Drop:
    brand_id, session_id = new_show(services)
    product = services.catalog.create(brand_id, "Sneaker", None, Money(9900, "EUR"), quantity, ())
    services.sessions.add_to_lineup(brand_id, session_id, product.id, None, quantity, None, opens_at=opens_at,
                                    mode=mode, verified_only=verified_only, hold_seconds=hold_seconds)
    return Drop(brand_id, session_id, product.id, quantity)


def go_live(services, drop: Drop) -> None:
    services.sessions.move(drop.brand_id, drop.session_id, SessionStatus.LIVE)


def shoppers(services, n: int) -> list[str]:
    return [services.shoppers.register()[0] for _ in range(n)]


def join(services, shopper: str, drop: Drop, verified: bool = False):
    return services.queues.join(shopper, verified, drop.session_id, drop.product_id)


def state(services, shopper: str, drop: Drop) -> EntryStatus:
    return services.queues.status(shopper, drop.session_id, drop.product_id)


# --- joining -------------------------------------------------------------------------------------


def test_joins_are_numbered_in_order_and_joining_again_answers_the_first_entry(world):
    services, _ = world
    drop = a_drop(services)
    people = shoppers(services, 5)
    joined = [join(services, shopper, drop) for shopper in people]
    assert [(entry.position, created) for entry, created in joined] == [(n, True) for n in range(1, 6)]
    assert join(services, people[2], drop) == (joined[2][0], False)


def test_an_open_drop_or_a_product_not_in_the_lineup_has_no_queue(world):
    services, _ = world
    brand_id, session_id = new_show(services)
    open_one = add_drop(services, brand_id, session_id)
    with pytest.raises(NotAQueue):
        join(services, shoppers(services, 1)[0], open_one)
    with pytest.raises(NotFound) as missing:
        services.queues.join(shoppers(services, 1)[0], False, session_id, "prd_" + "0" * 22)
    assert missing.value.facts()["field"] == "productId"


def test_a_verified_only_drop_takes_verified_shoppers_only(world):
    services, _ = world
    drop = a_drop(services, verified_only=True)
    anonymous, verified = shoppers(services, 2)
    with pytest.raises(VerificationRequired):
        join(services, anonymous, drop)
    assert join(services, verified, drop, verified=True)[1] is True


def test_a_queue_drops_verified_only_is_fixed_once_added_and_its_entrants_joined_under_it(world):
    services, _ = world
    drop = a_drop(services)
    join(services, shoppers(services, 1)[0], drop)
    with pytest.raises(InvalidInput) as refused:
        services.sessions.change_drop(drop.brand_id, drop.session_id, drop.product_id, {"verified_only": True})
    assert refused.value.errors[0]["field"] == "verifiedOnly"


def test_a_closed_drop_takes_no_more_entries_but_an_entrant_joining_again_gets_their_entry(world):
    services, _ = world
    drop = a_drop(services)
    early, late = shoppers(services, 2)
    entry, _ = join(services, early, drop)
    go_live(services, drop)
    services.sessions.move(drop.brand_id, drop.session_id, SessionStatus.ENDED)
    with pytest.raises(DropClosed):
        join(services, late, drop)
    assert join(services, early, drop) == (entry, False)


def test_a_draw_takes_entries_until_its_opening_time(world, clock):
    services, _ = world
    opens_at = to_iso(clock.now() + timedelta(minutes=5))
    drop = a_drop(services, mode=DropMode.DRAW, opens_at=opens_at)
    early, late = shoppers(services, 2)
    entry, created = join(services, early, drop)
    assert created and state(services, early, drop).state == "entered"
    clock.advance(299.999)
    assert join(services, late, drop)[1] is True
    clock.advance(0.001)
    with pytest.raises(EntriesClosed) as closed:
        join(services, shoppers(services, 1)[0], drop)
    assert closed.value.facts()["opensAt"] == opens_at
    assert join(services, early, drop) == (entry, False)


def test_a_draws_entry_stands_as_the_draw_hook_says(clock):
    seen = []

    def drawn(entry, drop):
        seen.append((entry.shopper_id, drop.mode))
        return EntryStatus(entry, drop, "won")

    services, ports = fake_services(clock)
    services.queues.draw_status = drawn
    drop = a_drop(services, mode=DropMode.DRAW, opens_at=to_iso(clock.now() + timedelta(minutes=5)))
    shopper = shoppers(services, 1)[0]
    join(services, shopper, drop)
    assert state(services, shopper, drop).state == "won"
    assert seen == [(shopper, DropMode.DRAW)]


# --- where an entry stands -------------------------------------------------------------------------


def test_not_entered_is_not_found(world):
    services, _ = world
    drop = a_drop(services)
    with pytest.raises(NotFound):
        state(services, shoppers(services, 1)[0], drop)


def test_before_the_drop_opens_everyone_waits_and_then_the_first_units_worth_are_admitted(world, clock):
    services, _ = world
    drop = a_drop(services, quantity=3)
    people = shoppers(services, 5)
    for shopper in people:
        join(services, shopper, drop)
    assert [(s.state, s.ahead) for s in (state(services, p, drop) for p in people)] == [
        ("waiting", 0), ("waiting", 1), ("waiting", 2), ("waiting", 3), ("waiting", 4)]
    go_live(services, drop)
    clock.advance(1)
    standings = [state(services, p, drop) for p in people]
    assert [s.state for s in standings] == ["admitted"] * 3 + ["waiting"] * 2
    assert [s.ahead for s in standings[3:]] == [0, 1]
    expires = epoch_ms(clock.now()) + ADMISSION_SECONDS * 1000
    for shopper, status in zip(people[:3], standings[:3], strict=True):
        assert status.admission_expires_ms == expires
        assert services.queues.admits(status.admission, shopper, drop.session_id, drop.product_id)
        assert not services.queues.admits(status.admission, people[4], drop.session_id, drop.product_id)
    assert standings[3].admission is None


def test_everyone_admitted_buying_at_once_admits_nobody_more_and_then_it_is_sold_out(world, clock):
    services, _ = world
    drop = a_drop(services, quantity=3, hold_seconds=60)
    people = shoppers(services, 6)
    for shopper in people:
        join(services, shopper, drop)
    go_live(services, drop)
    clock.advance(1)
    standing = {p: state(services, p, drop) for p in people}
    admitted = [p for p in people if standing[p].state == "admitted"]
    for shopper in admitted:
        buy(services, shopper, drop.session_id, {drop.product_id: 1}, admission=standing[shopper].admission)
    for _ in range(ADMISSION_SECONDS + 60 - 1):  # the holds, 60 s each, may still come back
        clock.advance(1)
        assert state(services, people[3], drop).state == "waiting"
    clock.advance(1)
    assert [state(services, p, drop).state for p in people] == ["lapsed"] * 3 + ["sold_out"] * 3


def test_an_admission_unused_lapses_and_the_next_batch_is_admitted(world, clock):
    services, _ = world
    drop = a_drop(services, quantity=2)
    people = shoppers(services, 5)
    for shopper in people:
        join(services, shopper, drop)
    go_live(services, drop)
    clock.advance(1)
    token = state(services, people[0], drop).admission
    clock.advance(ADMISSION_SECONDS)
    assert not services.queues.admits(token, people[0], drop.session_id, drop.product_id)
    assert [state(services, p, drop).state for p in people] == ["lapsed", "lapsed", "admitted", "admitted", "waiting"]


def test_a_step_is_taken_at_most_once_a_second_whatever_the_polls_and_containers(world, clock):
    services, ports = world
    other_container, _ = fake_services(**ports)
    drop = a_drop(services, quantity=2)
    people = shoppers(services, 4)
    for shopper in people:
        join(services, shopper, drop)
    go_live(services, drop)
    clock.advance(1)
    levels_before = ports.stock.calls["levels"]
    for container in (services, other_container, services):
        for shopper in people:
            container.queues.status(shopper, drop.session_id, drop.product_id)
    assert ports.stock.calls["levels"] - levels_before == 1  # the first poll read the units left; none other
    assert ports.entries.calls["record_step"] == 1
    clock.advance(0.999)
    state(services, people[0], drop)
    assert ports.entries.calls["record_step"] == 1
    clock.advance(0.001)
    state(services, people[0], drop)
    assert ports.entries.calls["record_step"] == 2


def test_a_poll_that_loses_the_step_to_another_container_answers_from_the_winners_step(world, clock):
    services, ports = world
    other_container, _ = fake_services(**ports)
    drop = a_drop(services, quantity=2)
    people = shoppers(services, 3)
    for shopper in people:
        join(services, shopper, drop)
    go_live(services, drop)
    clock.advance(1)
    # Both read the queue before either wrote: the other container's step is recorded first.
    ports.entries.before_next("record_step", lambda: state(other_container, people[2], drop))
    assert state(services, people[1], drop).state == "admitted"
    assert ports.entries.calls["record_step"] == 2
    assert ports.store.queues[(drop.session_id, drop.product_id)].admitted_through == 2
