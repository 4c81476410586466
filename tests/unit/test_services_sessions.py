"""Sessions on fakes: a delete racing a lineup add, decided by whichever writes first; no unit lost.

The race is an interleaving: `before_next` runs the other request just before a repository call,
after the first request has read what it needed.
"""
from __future__ import annotations

import pytest

from chalicelib.domain.errors import SessionChanged, SessionHasDrops, SessionLive, SessionNotEditable
from chalicelib.domain.money import Money
from chalicelib.domain.sessions import SessionStatus
from tests.fakes import FakeClock, fake_services, new_show


@pytest.fixture
def world():
    return fake_services(FakeClock())


def product(services, brand_id, stock=10):
    return services.catalog.create(brand_id, "Hoodie", None, Money(4900, "EUR"), stock, ()).id


def units(services, ports, session_id, product_id) -> tuple[int, int]:
    """(units in the product's stock, units in the session's drop shards)."""
    drops = ports.lineup.list_for_session(session_id)
    shards = ports.stock.levels(drops).get(product_id)
    return services.catalog.get_public(product_id).stock, sum(shards.left.values()) if shards else 0


def test_a_delete_that_writes_first_wins_over_a_lineup_add(world):
    services, ports = world
    brand_id, session_id = new_show(services)
    product_id = product(services, brand_id)
    session = services.sessions.get_public(session_id)
    deleted = []
    # The add has read the session (scheduled) and the product; the delete writes before the add does.
    ports.lineup.before_next("add_taking_stock", lambda: deleted.append(services.sessions.delete(brand_id, session_id)))
    with pytest.raises(SessionChanged):
        services.sessions.add_to_lineup(brand_id, session_id, product_id, None, 4, None)
    assert deleted == [True] and ports.sessions.get(session_id) is None
    assert units(services, ports, session_id, product_id) == (10, 0)
    assert ports.channels.deleted == [session.channel.arn] and ports.chat.deleted == [session.chat_room_arn]


def test_a_lineup_add_that_writes_first_wins_over_a_delete(world):
    services, ports = world
    brand_id, session_id = new_show(services)
    product_id = product(services, brand_id)
    ports.sessions.before_next("close_for_deletion", lambda: services.sessions.add_to_lineup(
        brand_id, session_id, product_id, None, 4, None))
    with pytest.raises(SessionHasDrops):
        services.sessions.delete(brand_id, session_id)
    assert services.sessions.get_public(session_id).status is SessionStatus.SCHEDULED
    assert units(services, ports, session_id, product_id) == (6, 4)
    assert ports.channels.deleted == [] and ports.chat.deleted == []  # the show keeps its channel


def test_a_deleted_session_takes_no_drop_and_a_live_one_is_not_deleted(world):
    services, ports = world
    brand_id, session_id = new_show(services)
    product_id = product(services, brand_id)
    services.sessions.add_to_lineup(brand_id, session_id, product_id, None, 4, None)
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    with pytest.raises(SessionLive):
        services.sessions.delete(brand_id, session_id)
    services.sessions.move(brand_id, session_id, SessionStatus.ENDED)
    assert services.sessions.delete(brand_id, session_id) is False  # its drops keep the record, for its orders
    assert services.sessions.get_public(session_id).status is SessionStatus.ENDED
    assert len(ports.channels.deleted) == 1
    with pytest.raises(SessionNotEditable):
        services.sessions.add_to_lineup(brand_id, session_id, product(services, brand_id), None, 1, None)
    assert units(services, ports, session_id, product_id) == (6, 4)


def test_going_live_opens_the_drops_and_ending_closes_them_and_cuts_the_stream(world):
    services, ports = world
    brand_id, session_id = new_show(services)
    product_id = product(services, brand_id)
    services.sessions.add_to_lineup(brand_id, session_id, product_id, None, 4, None, shards=2)
    drops = ports.lineup.list_for_session(session_id)
    assert ports.stock.levels(drops)[product_id].opens_at is None  # not on sale before the show
    live = services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    assert ports.stock.levels(drops)[product_id].opens_at == live.started_at
    ended = services.sessions.move(brand_id, session_id, SessionStatus.ENDED)
    assert ports.stock.levels(drops)[product_id].closes_at == ended.ended_at
    assert ports.channels.stopped == [live.channel.arn]
