"""Changing and removing a drop on fakes: only before it opens, its units back to the product's
stock, and a race with a start decided by the transaction's conditions."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.clock import to_iso
from chalicelib.domain.errors import DropOpened, LimitExceeded, NotFound, SessionChanged, SessionNotEditable
from chalicelib.domain.money import Money
from chalicelib.domain.sessions import SessionStatus
from tests.fakes import FakeClock, add_drop, buy, fake_services, new_show


@pytest.fixture
def world():
    clock = FakeClock()
    services, ports = fake_services(clock)
    return services, ports, clock


def stock_of(services, product_id: str) -> int:
    return services.catalog.get_public(product_id).stock


def test_a_drop_of_a_scheduled_show_changes_and_leaves_with_its_units(world):
    services, ports, _ = world
    brand_id, session_id = new_show(services)
    drop = add_drop(services, brand_id, session_id, quantity=7, shards=3, per_customer_limit=2)
    other = add_drop(services, brand_id, session_id, quantity=2, title="Cap")
    assert stock_of(services, drop.product_id) == 0
    item, product = services.sessions.change_drop(brand_id, session_id, drop.product_id,
                                                  {"price": Money(2900, "EUR"), "per_customer_limit": None})
    assert (item.price, item.per_customer_limit, product.id) == (Money(2900, "EUR"), None, drop.product_id)
    assert item in ports.lineup.list_for_session(session_id)  # stored as answered
    assert services.sessions.remove_drop(brand_id, session_id, drop.product_id) == 7
    assert stock_of(services, drop.product_id) == 7
    assert [i.product_id for i in ports.lineup.list_for_session(session_id)] == [other.product_id]
    assert ports.stock.levels([item]) == {}
    assert ports.store.sessions[session_id].lineup_count == 1
    with pytest.raises(NotFound) as gone:
        services.sessions.remove_drop(brand_id, session_id, drop.product_id)
    assert gone.value.facts() == {"field": "productId"}


def test_a_live_show_changes_only_drops_that_open_later(world):
    services, ports, clock = world
    brand_id, session_id = new_show(services)
    later = to_iso(clock.now() + timedelta(hours=1))
    waiting = add_drop(services, brand_id, session_id, quantity=3, opens_at=later, title="Later")
    opening = add_drop(services, brand_id, session_id, quantity=3, title="Now")
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    with pytest.raises(DropOpened) as opened:  # no time of its own: it opened with the show
        services.sessions.change_drop(brand_id, session_id, opening.product_id, {"per_customer_limit": 1})
    assert opened.value.facts()["productId"] == opening.product_id
    with pytest.raises(DropOpened):
        services.sessions.remove_drop(brand_id, session_id, opening.product_id)
    services.sessions.change_drop(brand_id, session_id, waiting.product_id, {"per_customer_limit": 1})
    assert services.sessions.remove_drop(brand_id, session_id, waiting.product_id) == 3
    assert stock_of(services, waiting.product_id) == 3
    clock.advance(2 * 3600)
    buy(services, "shp_1", session_id, {opening.product_id: 1})
    with pytest.raises(DropOpened):
        services.sessions.remove_drop(brand_id, session_id, opening.product_id)
    services.sessions.move(brand_id, session_id, SessionStatus.ENDED)
    with pytest.raises(SessionNotEditable):
        services.sessions.change_drop(brand_id, session_id, opening.product_id, {"per_customer_limit": 1})


def test_another_brand_and_unknown_products_are_not_found(world):
    services, _, _ = world
    brand_id, session_id = new_show(services)
    drop = add_drop(services, brand_id, session_id)
    rival, _ = services.brands.create("Rival")
    with pytest.raises(NotFound) as foreign:
        services.sessions.remove_drop(rival.id, session_id, drop.product_id)
    assert "session" in foreign.value.detail
    with pytest.raises(NotFound) as unknown:
        services.sessions.change_drop(brand_id, session_id, "prd_unknown", {"per_customer_limit": 2})
    assert unknown.value.facts() == {"field": "productId"}
    assert stock_of(services, drop.product_id) == 0


def test_a_start_between_the_read_and_the_write_refuses_the_removal(world):
    services, ports, _ = world
    brand_id, session_id = new_show(services)
    drop = add_drop(services, brand_id, session_id, quantity=4)
    # The removal has read the show as scheduled; the start writes first (and opens the drop).
    ports.lineup.before_next("remove_returning_stock",
                             lambda: services.sessions.move(brand_id, session_id, SessionStatus.LIVE))
    with pytest.raises(SessionChanged):
        services.sessions.remove_drop(brand_id, session_id, drop.product_id)
    assert stock_of(services, drop.product_id) == 0
    assert sum(ports.stock.levels(ports.lineup.list_for_session(session_id))[drop.product_id].left.values()) == 4


def test_a_scheduled_shows_drop_opens_by_its_own_clock_and_then_stays_as_it_is(world):
    """The rule is the drop's opening, whatever the session's status: checkout sells a drop whose
    opensAt has passed before the show went live too, so such a drop can not change or leave."""
    services, ports, clock = world
    brand_id, session_id = new_show(services)
    past = add_drop(services, brand_id, session_id, quantity=3,
                    opens_at=to_iso(clock.now() - timedelta(minutes=1)), title="Early")
    ahead = add_drop(services, brand_id, session_id, quantity=3,
                     opens_at=to_iso(clock.now() + timedelta(hours=1)), title="Later")
    untimed = add_drop(services, brand_id, session_id, quantity=3, title="With the show")
    assert services.sessions.get_public(session_id).status is SessionStatus.SCHEDULED
    stored = ports.lineup.list_for_session(session_id)
    for call in (lambda: services.sessions.change_drop(brand_id, session_id, past.product_id, {"price": Money(1, "EUR")}),
                 lambda: services.sessions.remove_drop(brand_id, session_id, past.product_id)):
        with pytest.raises(DropOpened) as opened:  # nothing sold yet, but on sale: a buyer may come at any moment
            call()
        assert opened.value.facts()["productId"] == past.product_id
    assert ports.lineup.list_for_session(session_id) == stored and stock_of(services, past.product_id) == 0
    order, _ = buy(services, "shp_1", session_id, {past.product_id: 1})  # on sale indeed, before the show
    assert order.lines[0].unit_price == Money(4900, "EUR")
    for drop in (ahead, untimed):  # not open yet: they change and leave
        services.sessions.change_drop(brand_id, session_id, drop.product_id, {"per_customer_limit": 1})
        assert services.sessions.remove_drop(brand_id, session_id, drop.product_id) == 3
        assert stock_of(services, drop.product_id) == 3


def test_a_live_shows_drop_whose_opening_passed_stays_as_it_is(world):
    services, ports, clock = world
    brand_id, session_id = new_show(services)
    drop = add_drop(services, brand_id, session_id, quantity=3, opens_at=to_iso(clock.now() + timedelta(minutes=5)))
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    clock.advance(600)
    with pytest.raises(DropOpened):
        services.sessions.change_drop(brand_id, session_id, drop.product_id, {"per_customer_limit": 1})
    with pytest.raises(DropOpened):
        services.sessions.remove_drop(brand_id, session_id, drop.product_id)
    assert ports.lineup.list_for_session(session_id)[0].per_customer_limit is None
    assert stock_of(services, drop.product_id) == 0


def test_a_reprice_racing_the_opening_is_refused_once_a_unit_has_gone(world):
    """The service read the drop as not open; before its write, the drop opens and sells a unit
    at the old price. The write's condition (every shard still full) refuses the new price."""
    services, ports, clock = world
    brand_id, session_id = new_show(services)
    drop = add_drop(services, brand_id, session_id, quantity=4, shards=2,
                    opens_at=to_iso(clock.now() + timedelta(milliseconds=5)))

    def opens_and_sells() -> None:
        clock.advance(0.01)
        buy(services, "shp_1", session_id, {drop.product_id: 1})

    before = ports.lineup.list_for_session(session_id)
    ports.lineup.before_next("update_before_opening", opens_and_sells)
    with pytest.raises(DropOpened):
        services.sessions.change_drop(brand_id, session_id, drop.product_id, {"price": Money(100, "EUR")})
    assert ports.lineup.list_for_session(session_id) == before  # the old price stands, as sold
    assert sum(ports.stock.levels(before)[drop.product_id].left.values()) == 3


def test_a_container_that_cached_the_lineup_sells_a_repriced_drop_at_its_new_price_and_limit(world):
    """A checkout caches every drop of its session; the brand then re-prices and re-limits another
    drop before it opens. Once it opens, the same container's next checkout is refused by the
    shard (another revision), reads the lineup again and sells at the new price and limit."""
    services, ports, clock = world
    brand_id, session_id = new_show(services)
    now_on = add_drop(services, brand_id, session_id, quantity=5, title="Now")
    later = add_drop(services, brand_id, session_id, quantity=6, shards=2, per_customer_limit=3,
                     opens_at=to_iso(clock.now() + timedelta(hours=1)), title="Later")
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    buy(services, "shp_1", session_id, {now_on.product_id: 1})  # this container now holds both drops
    brand_side, _ = fake_services(**ports)  # the brand's request, served by another container
    brand_side.sessions.change_drop(brand_id, session_id, later.product_id,
                                    {"price": Money(1900, "EUR"), "per_customer_limit": 1})
    clock.advance(2 * 3600)
    reserves, reads = ports.orders.calls["reserve"], ports.lineup.calls["list_for_session"]
    order, _ = buy(services, "shp_1", session_id, {later.product_id: 1})
    assert order.lines[0].unit_price == Money(1900, "EUR") and order.total == Money(1900, "EUR")
    assert ports.orders.calls["reserve"] - reserves == 2  # refused once at the old revision, then sold
    assert ports.lineup.calls["list_for_session"] - reads == 1
    with pytest.raises(LimitExceeded) as over:  # the new limit, from what the shopper holds
        buy(services, "shp_1", session_id, {later.product_id: 1})
    assert over.value.facts()["limit"] == 1
    with pytest.raises(LimitExceeded):  # ...and refused without a write for an order above it
        buy(services, "shp_2", session_id, {later.product_id: 2})
    reserves, reads = ports.orders.calls["reserve"], ports.lineup.calls["list_for_session"]
    second, _ = buy(services, "shp_2", session_id, {later.product_id: 1})  # warm again: one request
    assert second.total == Money(1900, "EUR")
    assert (ports.orders.calls["reserve"] - reserves, ports.lineup.calls["list_for_session"] - reads) == (1, 0)


def test_a_change_read_at_an_older_revision_is_refused(world):
    services, ports, _ = world
    brand_id, session_id = new_show(services)
    drop = add_drop(services, brand_id, session_id, quantity=4)
    (added,) = ports.lineup.list_for_session(session_id)
    ports.lineup.before_next("update_before_opening", lambda: services.sessions.change_drop(
        brand_id, session_id, drop.product_id, {"per_customer_limit": 2}))
    with pytest.raises(SessionChanged):
        services.sessions.change_drop(brand_id, session_id, drop.product_id, {"price": Money(100, "EUR")})
    (item,) = ports.lineup.list_for_session(session_id)
    assert (item.price, item.per_customer_limit, item.revision) == (Money(4900, "EUR"), 2, added.revision + 1)


def test_a_product_removed_and_added_again_sells_at_its_new_price_to_a_container_that_cached_it(world):
    """The re-added product is a new item (a new revision), not the old one with the old price."""
    services, ports, clock = world
    brand_id, session_id = new_show(services)
    now_on = add_drop(services, brand_id, session_id, quantity=5, title="Now")
    later = add_drop(services, brand_id, session_id, quantity=6, opens_at=to_iso(clock.now() + timedelta(hours=1)),
                     title="Later")
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    buy(services, "shp_1", session_id, {now_on.product_id: 1})  # this container now holds both drops
    brand_side, _ = fake_services(**ports)
    brand_side.sessions.remove_drop(brand_id, session_id, later.product_id)
    clock.advance(1)
    brand_side.sessions.add_to_lineup(brand_id, session_id, later.product_id, Money(1900, "EUR"), 6, None,
                                      opens_at=to_iso(clock.now() + timedelta(hours=1)))
    clock.advance(2 * 3600)
    order, _ = buy(services, "shp_1", session_id, {later.product_id: 1})
    assert order.total == Money(1900, "EUR")
