"""The analytics rules (chalicelib/domain/analytics.py): windows, attribution, likes per minute,
and the property the stream handler stands on: the changes of any set of order histories,
applied in any order and any number of times (each record once), equal a recount."""
from __future__ import annotations

from collections import Counter

from hypothesis import given, settings, strategies as st

from chalicelib.domain.analytics import (
    Attribution, OrderChange, OrderFacts, OrderLineFacts, Pin, change_delta, featured_at, featured_in_minute,
    feature_windows, likes_per_minute, recount, settled,
)
from chalicelib.domain.drops import OrderStatus

ATTRIBUTION = Attribution(latency_allowance_ms=3000, grace_ms=30000)


def test_a_window_runs_from_the_send_time_plus_the_allowance_to_the_next_pin_plus_the_allowance_and_grace():
    pins = [Pin("A", 10_000, 10_400), Pin("B", 90_000, None, "channel_not_broadcasting")]
    first, second = feature_windows(pins, ATTRIBUTION)
    assert (first.start_ms, first.end_ms) == (13_400, 90_000 + 3000 + 30000)  # B was never sent: its pin time
    assert (second.start_ms, second.end_ms) == (93_000, None)
    assert featured_at([first, second], "A", 13_400) and not featured_at([first, second], "A", 13_399)
    assert featured_at([first, second], "A", 122_999) and not featured_at([first, second], "A", 123_000)
    assert featured_at([first, second], "B", 100_000) and not featured_at([first, second], "B", 50_000)


def test_a_superseded_pin_never_reached_viewers_and_a_product_pinned_twice_has_two_windows():
    pins = [Pin("A", 0, 0), Pin("B", 5_000, None, "superseded"), Pin("C", 5_001, 5_001), Pin("A", 120_000, 120_000)]
    windows = feature_windows(pins, ATTRIBUTION)
    assert [w.pin.product_id for w in windows] == ["A", "C", "A"]
    assert not featured_at(windows, "B", 20_000)
    assert featured_at(windows, "A", 30_000) and not featured_at(windows, "A", 60_000)
    assert featured_at(windows, "A", 130_000)


def test_the_featured_product_of_a_minute_is_the_one_on_screen_longest_ties_to_the_later():
    windows = feature_windows([Pin("A", 10_000, 10_000), Pin("B", 90_000, 90_000)], ATTRIBUTION)
    assert featured_in_minute(windows, 0, 180_000) == "A"
    assert featured_in_minute(windows, 1, 180_000) == "B"  # 30 s each
    assert featured_in_minute(feature_windows([Pin("A", 10_000, 10_000), Pin("B", 80_000, 80_000)], ATTRIBUTION),
                              1, 180_000) == "B"
    assert featured_in_minute(windows, 5, 180_000) is None  # after the end


def test_likes_per_minute_are_the_rise_of_each_shards_highest_count_seen():
    likes = {0: {0: 3, 1: 2}, 2: {0: 4}, 3: {1: 2}}  # minute 3 saw shard 1 at 2 again (a late record)
    assert likes_per_minute(likes) == {0: 5, 2: 1, 3: 0}


# --- the property ------------------------------------------------------------------------------

PATHS = [
    [OrderStatus.RESERVED],
    [OrderStatus.RESERVED, OrderStatus.PAYING, OrderStatus.PAID],
    [OrderStatus.RESERVED, OrderStatus.PAYING, OrderStatus.RESERVED, OrderStatus.PAYING, OrderStatus.PAID],
    [OrderStatus.RESERVED, OrderStatus.CANCELLED],
    [OrderStatus.RESERVED, OrderStatus.EXPIRED],
    [OrderStatus.RESERVED, OrderStatus.PAYING, OrderStatus.RESERVED, OrderStatus.EXPIRED],
]

orders = st.lists(st.tuples(
    st.sampled_from(range(len(PATHS))), st.integers(0, 5), st.integers(0, 300_000),
    st.lists(st.tuples(st.sampled_from("ABC"), st.integers(1, 3)), min_size=1, max_size=2, unique_by=lambda x: x[0]),
    st.sampled_from(["EUR", "USD"])), max_size=25)


def histories(spec):
    """Each order's images through its path, as stream records with ids of their own."""
    records, finals = [], []
    for n, (path, shopper, created, lines, currency) in enumerate(spec):
        facts = [OrderFacts(f"ord_{n}", "ses", f"shp_{shopper}", status, currency,
                            sum(q * 100 for _, q in lines), created,
                            tuple(OrderLineFacts(p, q, 100) for p, q in lines)) for status in PATHS[path]]
        previous = None
        for step, image in enumerate(facts):
            records.append(OrderChange(f"{n}.{step}", f"ord_{n}", "ses", previous, image))
            previous = image
        finals.append(previous)
    return records, finals


@settings(max_examples=200, deadline=None)
@given(orders, st.randoms(use_true_random=False))
def test_changes_applied_once_in_any_order_equal_a_recount(spec, rng):
    windows = feature_windows([Pin("A", 10_000, 10_000), Pin("B", 100_000, 100_000)], ATTRIBUTION)

    def featured(product, at):
        return featured_at(windows, product, at)

    records, finals = histories(spec)
    delivered = records * 2  # every record twice, in any order: the marker keeps the first
    rng.shuffle(delivered)
    applied, cells = set(), Counter()
    for change in delivered:
        if change.record_id not in applied:
            applied.add(change.record_id)
            cells.update(change_delta(change, featured))
    counted = recount(finals, featured)
    assert {k: v for k, v in cells.items() if v} == {k: v for k, v in counted.items() if v}
    buyers = Counter()
    for (row, _name), value in cells.items():
        if row[0] == "buyer" and value > 0:
            buyers[row[1]] += 1
    resolved = all(order.status not in (OrderStatus.RESERVED, OrderStatus.PAYING) for order in finals)
    assert settled(cells, buyers, counted) == resolved


def test_a_recount_that_differs_is_not_settled():
    records, finals = histories([(1, 0, 1000, [("A", 1)], "EUR")])
    cells = Counter()
    for change in records[:-1]:  # the stream has not delivered the payment yet
        cells.update(change_delta(change, lambda p, t: False))
    assert not settled(cells, Counter(), recount(finals, lambda p, t: False))
