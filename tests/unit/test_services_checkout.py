"""Checkout on fakes: planning over shards, retries, replays, cancel and expiry, in milliseconds.

Two `fake_services` built on the same ports are two containers: the same tables, each with its
own memory of shard levels. Time moves only when a test moves the FakeClock.
"""
from __future__ import annotations


import pytest

from chalicelib.domain.drops import OrderStatus
from chalicelib.domain.errors import (
    DropClosed, IdempotencyKeyReused, LimitExceeded, OrderExpired, OrderNotCancellable, OrderTooLarge,
    SoldOut,
)
from chalicelib.domain.sessions import SessionStatus
from tests.fakes import add_drop, buy, conservation, fake_services, new_show, open_drop



def shopper(services) -> str:
    return services.shoppers.register()[0]


def reserves(ports) -> int:
    return ports.orders.calls["reserve"]


# --- planning over shards ------------------------------------------------------------------------


def test_an_order_spans_shards_in_one_reserve(world):
    services, ports = world
    drop = open_drop(services, quantity=12, shards=3)  # 4 units a shard
    order, replayed = buy(services, shopper(services), drop.session_id, {drop.product_id: 10})
    assert not replayed and order.status is OrderStatus.RESERVED
    assert len(order.lines[0].shards) == 3 and sum(order.lines[0].shards.values()) == 10
    assert reserves(ports) == 1
    assert conservation(ports, drop) == (2, 10)


def test_a_big_buyer_on_a_drained_40_shard_drop_gets_201_in_a_few_reserves(world):
    services, ports = world
    drop = open_drop(services, quantity=400, shards=40)  # 10 units a shard
    for _ in range(36):  # other buyers, in this container, empty 36 shards
        buy(services, shopper(services), drop.session_id, {drop.product_id: 10})
    assert conservation(ports, drop) == (40, 360)
    cold, _ = fake_services(**ports)  # another container: it knows no shard's level
    before, reads = reserves(ports), ports.stock.calls["levels"]
    order, _ = buy(cold, shopper(cold), drop.session_id, {drop.product_id: 25})  # more than a shard holds
    assert sum(order.lines[0].shards.values()) == 25 and len(order.lines[0].shards) == 3
    # Two plans from guesses at most, then one read of every shard, then a plan that fits.
    assert reserves(ports) - before <= 3
    assert ports.stock.calls["levels"] - reads <= 1
    assert conservation(ports, drop) == (15, 385)


def test_a_short_drop_answers_only_n_left(world):
    services, ports = world
    drop = open_drop(services, quantity=12, shards=3)
    buy(services, shopper(services), drop.session_id, {drop.product_id: 9})
    cold, _ = fake_services(**ports)
    with pytest.raises(SoldOut) as refused:
        buy(cold, shopper(cold), drop.session_id, {drop.product_id: 5})
    assert refused.value.left == 3 and refused.value.detail == "only 3 left"
    assert conservation(ports, drop) == (3, 9)


def test_sold_out_is_said_only_after_every_shard_was_seen_short(world):
    services, ports = world
    drop = open_drop(services, quantity=12, shards=12)  # one unit a shard
    other, _ = fake_services(**ports)
    for sale in range(12):  # one buyer at a time, alternating containers: every unit sells
        container = services if sale % 2 else other
        order, _ = buy(container, shopper(container), drop.session_id, {drop.product_id: 1})
        assert order.status is OrderStatus.RESERVED, f"sale {sale + 1}"
    for container in (services, other):
        with pytest.raises(SoldOut) as refused:
            buy(container, shopper(container), drop.session_id, {drop.product_id: 1})
        assert refused.value.left == 0 and refused.value.detail == "sold out"
    assert conservation(ports, drop) == (0, 12)


def test_a_known_sold_out_drop_is_refused_from_memory_then_read_again_after_two_seconds(world, clock):
    services, ports = world
    drop = open_drop(services, quantity=2, shards=2)
    buyer = shopper(services)
    first, _ = buy(services, buyer, drop.session_id, {drop.product_id: 2})
    with pytest.raises(SoldOut):
        buy(services, shopper(services), drop.session_id, {drop.product_id: 1})  # now it knows every shard
    services.checkout.cancel(first.id, buyer)  # units back, behind this container's memory
    writes, reads = reserves(ports), ports.stock.calls["levels"]
    clock.advance(1.5)
    with pytest.raises(SoldOut):
        buy(services, shopper(services), drop.session_id, {drop.product_id: 1})
    assert (reserves(ports), ports.stock.calls["levels"]) == (writes, reads)  # no write, no stock read
    clock.advance(0.6)  # the sighting is now 2.1 s old: not trusted any more
    order, _ = buy(services, shopper(services), drop.session_id, {drop.product_id: 1})
    assert order.status is OrderStatus.RESERVED


def test_an_order_needing_more_than_100_transaction_items_is_too_large_without_a_write(world):
    services, ports = world
    brand_id, session_id = new_show(services)
    a = add_drop(services, brand_id, session_id, quantity=50, shards=50, title="A")  # one unit a shard
    b = add_drop(services, brand_id, session_id, quantity=50, shards=50, title="B")
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    with pytest.raises(OrderTooLarge):  # the order, the open orders, the rate window + 100 shards = 103 items
        buy(services, shopper(services), session_id, {a.product_id: 50, b.product_id: 50})
    assert reserves(ports) == 0
    assert conservation(ports, a) == (50, 0) and conservation(ports, b) == (50, 0)
    order, _ = buy(services, shopper(services), session_id, {a.product_id: 50, b.product_id: 47})  # 100 items
    assert sum(len(line.shards) for line in order.lines) == 97


def test_over_the_limit_in_one_order_is_refused_without_a_write(world):
    services, ports = world
    drop = open_drop(services, quantity=10, per_customer_limit=2)
    with pytest.raises(LimitExceeded) as refused:
        buy(services, shopper(services), drop.session_id, {drop.product_id: 3})
    assert refused.value.limit == 2 and reserves(ports) == 0


def test_a_limit_counts_what_the_shopper_already_holds(world):
    services, _ = world
    drop = open_drop(services, quantity=10, per_customer_limit=2)
    buyer = shopper(services)
    buy(services, buyer, drop.session_id, {drop.product_id: 2})
    with pytest.raises(LimitExceeded) as refused:
        buy(services, buyer, drop.session_id, {drop.product_id: 1})
    assert refused.value.bought == 2
    buy(services, shopper(services), drop.session_id, {drop.product_id: 2})  # another shopper is not limited by it


# --- idempotent replay ---------------------------------------------------------------------------


def test_a_retry_after_the_drop_sold_out_replays_the_order(world):
    services, ports = world
    drop = open_drop(services, quantity=1)
    buyer = shopper(services)
    first, _ = buy(services, buyer, drop.session_id, {drop.product_id: 1}, key="k-1")
    with pytest.raises(SoldOut):
        buy(services, shopper(services), drop.session_id, {drop.product_id: 1})
    cold, _ = fake_services(**ports)
    for container in (services, cold):  # knows it is sold out / knows nothing
        again, replayed = buy(container, buyer, drop.session_id, {drop.product_id: 1}, key="k-1")
        assert replayed and again == first
    assert conservation(ports, drop) == (0, 1)


def test_a_retry_after_the_show_ended_replays_the_order(world):
    services, ports = world
    drop = open_drop(services, quantity=5)
    buyer = shopper(services)
    first, _ = buy(services, buyer, drop.session_id, {drop.product_id: 2}, key="k-1")
    services.sessions.move(drop.brand_id, drop.session_id, SessionStatus.ENDED)
    with pytest.raises(DropClosed):
        buy(services, shopper(services), drop.session_id, {drop.product_id: 1})
    again, replayed = buy(services, buyer, drop.session_id, {drop.product_id: 2}, key="k-1")
    assert replayed and again == first
    assert conservation(ports, drop) == (3, 2)


def test_the_same_key_with_another_body_is_refused(world):
    services, ports = world
    drop = open_drop(services, quantity=3)
    buyer = shopper(services)
    buy(services, buyer, drop.session_id, {drop.product_id: 1}, key="k-1")
    with pytest.raises(IdempotencyKeyReused):
        buy(services, buyer, drop.session_id, {drop.product_id: 2}, key="k-1")
    buy(services, shopper(services), drop.session_id, {drop.product_id: 2})  # now sold out
    with pytest.raises(IdempotencyKeyReused):
        buy(services, buyer, drop.session_id, {drop.product_id: 2}, key="k-1")
    assert conservation(ports, drop) == (0, 3)


def test_a_key_is_the_shoppers_own(world):
    services, _ = world
    drop = open_drop(services, quantity=1)
    buy(services, shopper(services), drop.session_id, {drop.product_id: 1}, key="shared")
    with pytest.raises(SoldOut):  # another shopper's same key is another order, not a replay
        buy(services, shopper(services), drop.session_id, {drop.product_id: 1}, key="shared")


# --- expiry and cancel ---------------------------------------------------------------------------


def test_expired_reservations_are_released_and_free_the_limit(world, clock):
    services, ports = world
    drop = open_drop(services, quantity=5, per_customer_limit=3, hold_seconds=300)
    buyer = shopper(services)
    order, _ = buy(services, buyer, drop.session_id, {drop.product_id: 3})
    clock.advance(299)
    assert services.checkout.release_expired() == 0
    assert conservation(ports, drop) == (2, 3)
    clock.advance(1)
    with pytest.raises(OrderExpired):  # past its time, not yet swept: it can not be paid
        services.payments.pay(order.id, buyer, "ok")
    assert services.checkout.release_expired() == 1
    assert ports.orders.get(order.id).status is OrderStatus.EXPIRED
    assert conservation(ports, drop) == (5, 0)
    assert services.checkout.release_expired() == 0  # released once
    again, _ = buy(services, buyer, drop.session_id, {drop.product_id: 3})  # the count went back too
    assert again.status is OrderStatus.RESERVED
    assert not ports.payment_gateway.intents  # nothing was ever asked of the provider


def test_cancel_returns_the_units_once_and_a_paid_order_can_not_be_cancelled(world):
    services, ports = world
    drop = open_drop(services, quantity=4)
    buyer = shopper(services)
    order, _ = buy(services, buyer, drop.session_id, {drop.product_id: 2})
    assert services.checkout.cancel(order.id, buyer).status is OrderStatus.CANCELLED
    assert services.checkout.cancel(order.id, buyer).status is OrderStatus.CANCELLED  # harmless twice
    assert conservation(ports, drop) == (4, 0)
    paid, _ = buy(services, buyer, drop.session_id, {drop.product_id: 1})
    services.payments.pay(paid.id, buyer, "ok")
    with pytest.raises(OrderNotCancellable):
        services.checkout.cancel(paid.id, buyer)
    assert conservation(ports, drop) == (3, 1)


# --- wiring and threads --------------------------------------------------------------------------


def test_services_on_fakes_build_no_real_adapter(monkeypatch):
    from chalicelib import bootstrap

    def no_adapters(settings):
        raise AssertionError("a real adapter was built")

    monkeypatch.setattr(bootstrap, "adapters", no_adapters)
    services, ports = fake_services()
    assert services.checkout.orders is ports.orders and services.live.channels is ports.channels


def test_concurrent_buyers_in_two_containers_sell_every_unit_once(world):
    from concurrent.futures import ThreadPoolExecutor

    services, ports = world
    other, _ = fake_services(**ports)
    drop = open_drop(services, quantity=10, shards=3)

    def attempt(n: int) -> str:
        container = (services, other)[n % 2]
        try:
            buy(container, shopper(container), drop.session_id, {drop.product_id: 1})
            return "sold"
        except SoldOut:
            return "sold_out"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(40)))
    assert outcomes.count("sold") == 10 and outcomes.count("sold_out") == 30
    assert conservation(ports, drop) == (0, 10)


def test_a_retry_gets_its_order_back_even_when_the_first_request_commits_meanwhile():
    """The retry's own transaction is refused; meanwhile the first request with the same key
    commits; the retry then meets sold out: it still answers with the order (one read tells)."""


    services, ports = fake_services()
    drop = open_drop(services, quantity=1)
    holder = services.shoppers.register()[0]
    held, _ = buy(services, holder, drop.session_id, {drop.product_id: 1})
    buyer = services.shoppers.register()[0]
    other_container, _ = fake_services(**ports)
    made = []

    def meanwhile():
        services.checkout.cancel(held.id, holder)
        made.append(buy(other_container, buyer, drop.session_id, {drop.product_id: 1}, key="k")[0])

    ports.stock.before_next("levels", meanwhile)
    order, replayed = buy(services, buyer, drop.session_id, {drop.product_id: 1}, key="k")
    assert made and order.id == made[0].id and replayed is True
