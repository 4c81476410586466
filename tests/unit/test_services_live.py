"""The live layer on fakes: pins and the per-channel send slot, replay chapters, likes.

No thread and no sleep: a burst is an interleaving (`FakeClock.at_next_sleep` lets the next pin in
while one waits for the slot), and the clock only moves when the code under test sleeps or the
test advances it.
"""
from __future__ import annotations

import json
from itertools import pairwise
from datetime import timedelta

import pytest

from chalicelib.domain.clock import to_iso
from chalicelib.domain.errors import RateLimited, SessionNotLive
from chalicelib.domain.metadata import MIN_INTERVAL_MS
from chalicelib.domain.sessions import SessionStatus
from chalicelib.services.live import Chapter
from tests.fakes import add_drop, fake_services, new_show

from tests.unit.conftest import START


def show_with(services, products: int, start: bool = True):
    """(brand id, session id, [product ids]) of a show with `products` one-unit drops."""
    brand_id, session_id = new_show(services)
    ids = [add_drop(services, brand_id, session_id, quantity=1, title=f"P{n}").product_id for n in range(products)]
    if start:
        services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    return brand_id, session_id, ids


def sent(ports) -> list[tuple[str, int]]:
    """(product id, epoch ms) of every PutMetadata."""
    return [(json.loads(payload)["product"]["id"], at) for _, payload, at in ports.channels.metadata]


# --- pins and the send slot ---------------------------------------------------------------------


def test_a_burst_of_pins_sends_the_newest_and_supersedes_the_ones_it_overtook(world, clock):
    services, ports = world
    brand_id, session_id, (first, *burst) = show_with(services, 5)
    answers = {}

    def pin(product_id):
        answers[product_id] = services.live.feature(brand_id, session_id, product_id)

    pin(first)  # the slot is free: sent at once
    # Each later pin arrives while the one before waits for the slot.
    for product_id in burst[1:]:
        clock.at_next_sleep(lambda product_id=product_id: pin(product_id))
    pin(burst[0])

    newest = burst[-1]
    t0 = int(START.timestamp() * 1000)
    assert sent(ports) == [(first, t0), (newest, t0 + MIN_INTERVAL_MS)]
    assert answers[newest][1].delivered and answers[first][1].delivered
    assert [answers[p][1].reason for p in burst[:-1]] == ["superseded"] * 3
    assert services.sessions.get_public(session_id).featured_product_id == newest
    deliveries = {e.product_id: e.delivery for e in services.live.timeline(session_id)}
    assert deliveries == {first: "delivered", **{p: "superseded" for p in burst[:-1]}, newest: "delivered"}


def test_pins_one_after_another_are_all_sent_at_most_one_per_200_ms(world, clock):
    services, ports = world
    brand_id, session_id, products = show_with(services, 3)
    for product_id in products:  # same instant: each waits for the slot, none is overtaken
        entry, delivery, size = services.live.feature(brand_id, session_id, product_id)
        assert delivery.delivered and entry.delivery == "delivered" and 0 < size <= 1024
    times = [at for _, at in sent(ports)]
    assert [p for p, _ in sent(ports)] == products
    assert all(later - earlier >= MIN_INTERVAL_MS for earlier, later in pairwise(times))
    seqs = [e.seq for e in services.live.timeline(session_id)]
    assert seqs == sorted(set(seqs))  # pins of the same millisecond still get rising seqs


def test_a_pin_on_an_offline_channel_keeps_the_state_and_says_why(world):
    services, ports = world
    brand_id, session_id, (product_id,) = show_with(services, 1)
    ports.channels.broadcasting = False
    _, delivery, _ = services.live.feature(brand_id, session_id, product_id)
    assert (delivery.delivered, delivery.reason) == (False, "channel_not_broadcasting")
    assert services.sessions.get_public(session_id).featured_product_id == product_id
    assert [e.delivery for e in services.live.timeline(session_id)] == ["channel_not_broadcasting"]


# --- replay chapters -----------------------------------------------------------------------------


def test_replay_chapters_are_the_feature_windows_from_the_start_of_the_show(world, clock):
    services, _ = world
    brand_id, session_id, (early, ignored, a, b) = show_with(services, 4, start=False)
    services.live.feature(brand_id, session_id, ignored)
    clock.advance(1)
    services.live.feature(brand_id, session_id, early)  # the last pin before the show: on screen at 0
    assert services.live.replay(session_id)[1] == []  # not started: no chapters
    clock.advance(5)
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    clock.advance(10)
    services.live.feature(brand_id, session_id, a)
    clock.advance(20)
    services.live.feature(brand_id, session_id, b)
    assert services.live.replay(session_id)[1][-1] == Chapter(b, 30_000, None)  # still on air: open-ended
    clock.advance(30)
    services.sessions.move(brand_id, session_id, SessionStatus.ENDED)
    session, chapters = services.live.replay(session_id)
    assert chapters == [Chapter(early, 0, 10_000), Chapter(a, 10_000, 30_000), Chapter(b, 30_000, 60_000)]
    assert session.replay_url is None
    url = services.live.on_recording_end(session_id, "bucket", "ivs/v1/rec")
    assert services.live.replay(session_id)[0].replay_url == url == "https://bucket.s3.amazonaws.com/ivs/v1/rec/media/hls/master.m3u8"


def test_replay_chapters_cover_every_pin_of_a_long_show(world, clock):
    """A two-hour show pinning every minute has 120 chapters."""
    services, _ = world
    brand_id, session_id, products = show_with(services, 2)
    for minute in range(120):
        clock.advance(60)
        services.live.feature(brand_id, session_id, products[minute % 2])
    clock.advance(60)
    services.sessions.move(brand_id, session_id, SessionStatus.ENDED)
    chapters = services.live.replay(session_id)[1]
    assert len(chapters) == 120
    assert chapters[-1] == Chapter(products[1], 120 * 60_000, 121 * 60_000)


def test_a_timed_drop_is_announced_once_on_a_long_timeline(world, clock):
    """The scheduled announcer remembers what it announced by the timeline's drop_open entries."""
    services, ports = world
    brand_id, session_id, products = show_with(services, 2)
    for n in range(110):  # pins, every second for two minutes
        clock.advance(1)
        services.live.feature(brand_id, session_id, products[n % 2])
    timed = add_drop(services, brand_id, session_id, quantity=3, title="Timed",
                     opens_at=to_iso(clock.now() + timedelta(seconds=30)))
    clock.advance(31)
    assert services.live.announce_timed_openings() == 1
    assert services.live.announce_timed_openings() == 0  # announced already
    opened = [e for e in ports.live.timeline(session_id) if e.type == "drop_open"]
    assert [e.product_id for e in opened] == [timed.product_id]


# --- likes ---------------------------------------------------------------------------------------


def test_five_likes_a_clock_second_per_shopper_in_a_session(clock):
    clock.advance(0.5)  # 20:00:00.500
    services, ports = fake_services(clock, rate_limits="")  # the default rules: 5 likes a second
    _, session_id, _ = show_with(services, 1)
    _, other_session, _ = show_with(services, 1)
    fan, other = services.shoppers.register()[0], services.shoppers.register()[0]
    for _ in range(5):
        services.live.like(session_id, fan)
    with pytest.raises(RateLimited) as limited:
        services.live.like(session_id, fan)
    assert limited.value.retry_after == 1
    assert limited.value.detail == "at most 5 likes a second per shopper in a session"
    assert services.live.like(session_id, other) == 6  # per shopper
    assert services.live.like(other_session, fan) == 1  # per session
    clock.advance(0.499)  # 00.999: the same window
    with pytest.raises(RateLimited):
        services.live.like(session_id, fan)
    clock.advance(0.001)  # 01.000: the next one
    assert services.live.like(session_id, fan) == 7
    assert services.live.likes(session_id) == 7  # refused likes were not counted


def test_a_fixed_window_lets_twice_the_limit_through_across_its_edge(clock):
    """The README's caveat: five likes at the end of one clock second and five at the start of
    the next all count, ten within 200 ms."""
    clock.advance(0.9)  # 20:00:00.900
    services, _ = fake_services(clock, rate_limits="")
    _, session_id, _ = show_with(services, 1)
    fan = services.shoppers.register()[0]
    for _ in range(5):
        services.live.like(session_id, fan)
    clock.advance(0.2)  # 01.100
    for _ in range(5):
        services.live.like(session_id, fan)
    assert services.live.likes(session_id) == 10
    with pytest.raises(RateLimited):
        services.live.like(session_id, fan)


def test_likes_are_counted_only_during_the_show(world):
    services, ports = world
    _, session_id, _ = show_with(services, 1, start=False)
    with pytest.raises(SessionNotLive):
        services.live.like(session_id, services.shoppers.register()[0])
    assert ports.live.calls["like"] == 0
