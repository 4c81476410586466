"""One repository test suite, two backends: every case runs on the in-memory fakes (tests/fakes.py)
and on the DynamoDB repositories against DynamoDB Local, so the fakes the service tests stand on
can not drift from what DynamoDB does.

Both backends are reached by the port names of bootstrap.PORTS. The DynamoDB tables are shared by
the whole test session, so every case makes its own ids and looks only at what it made.
"""
from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from pynamodb.exceptions import PutError

from chalicelib.domain.drops import OrderStatus
from chalicelib.domain.errors import (
    AlreadyInLineup, DropOpened, InsufficientStock, InvalidInput, InvalidTransition, NotFound, OrderExpired, OrderNotPayable,
    OrderNotRefundable, SessionChanged, SessionEnded, SessionHasDrops, SessionLive,
)
from chalicelib.domain.ids import new_id
from chalicelib.domain.money import Money
from chalicelib.domain.ports import AlreadyPaid, DropStock, OrderNotReleasable, ReservationRefused, ShardRefusal
from chalicelib.domain.rate_limits import Rule, Window, window
from chalicelib.domain.queues import QueueState, Step
from chalicelib.domain.records import Brand, Channel, LineupItem, Order, OrderLine, Product, Session, TimelineEntry
from chalicelib.domain.sessions import TRANSITIONS, SessionStatus
from tests.fakes import DuplicateItem, fake_ports

EUR = Money(4900, "EUR")
# ISO-8601 UTC at a fixed width: string order is time order, as the repositories compare them.
T0, T1, T2, T3, T4 = (f"2026-11-22T2{n}:00:00.000Z" for n in range(5))
OPEN, NOW, LATER = T0, T2, T4
EXPIRES = 2_000_000_000  # an order's expiresAt, epoch seconds
DUPLICATE = (DuplicateItem, PutError)  # an add of an existing id, refused by its conditional put


@pytest.fixture(scope="module", params=["fake", "dynamodb"])
def repos(request):
    if request.param == "fake":
        return fake_ports()
    request.getfixturevalue("aws_stack")
    from chalicelib import bootstrap
    from chalicelib.settings import get_settings

    return bootstrap.adapters(get_settings())


# --- records -------------------------------------------------------------------------------------


def a_brand(repos) -> Brand:
    brand = Brand(id=new_id("brd"), name="Acme", api_key_hash="0" * 64, created_at=T0)
    repos["brands"].add(brand)
    return brand


def a_product(repos, brand_id: str, stock: int = 10, **fields) -> Product:
    product = Product(id=new_id("prd"), brand_id=brand_id, title="Hoodie", description=None, price=EUR,
                      stock=stock, images=(), created_at=T0, updated_at=T0)
    product = replace(product, **fields)
    repos["products"].add(product)
    return product


def a_session(repos, brand_id: str, status: SessionStatus = SessionStatus.SCHEDULED,
              scheduled_at: str = T1) -> Session:
    session_id = new_id("ses")
    session = Session(
        id=session_id, brand_id=brand_id, title="Friday drop", status=SessionStatus.SCHEDULED,
        scheduled_at=scheduled_at, created_at=T0, started_at=None, ended_at=None,
        channel=Channel(arn=f"arn:aws:ivs:us-east-1:000000000000:channel/{session_id}",
                        playback_url="https://x.live-video.net/p.m3u8", ingest_endpoint="x.live-video.net"),
        hold_seconds=300, chat_room_arn=f"arn:aws:ivschat:us-east-1:000000000000:room/{session_id}")
    repos["sessions"].add(session)
    if status is not SessionStatus.SCHEDULED:
        session = repos["sessions"].move_status(brand_id, session_id, status, TRANSITIONS[status], T1)
    return session


def a_drop(repos, quantity: int = 10, shards: int = 1, limit: int | None = None, opens_at: str | None = OPEN,
           closes_at: str | None = None, session: Session | None = None) -> LineupItem:
    """A drop (lineup item with its stock shards), on a new scheduled session unless one is given."""
    if session is None:
        session = a_session(repos, a_brand(repos).id)
    product = a_product(repos, session.brand_id, stock=quantity)
    item = LineupItem(session_id=session.id, product_id=product.id, brand_id=session.brand_id, price=EUR,
                      quantity=quantity, per_customer_limit=limit, added_at=T1, opens_at=opens_at,
                      closes_at=closes_at, shards=shards, hold_seconds=300)
    repos["lineup"].add_taking_stock(item, session.status)
    return item


def an_order(drops: list[tuple[LineupItem, dict[int, int]]], shopper_id: str | None = None,
             expires_at: int = EXPIRES, created_at: str = NOW, order_id: str | None = None) -> Order:
    lines = tuple(OrderLine(product_id=d.product_id, quantity=sum(plan.values()), unit_price=d.price, shards=plan,
                            counted=d.per_customer_limit is not None) for d, plan in drops)
    first = drops[0][0]
    return Order(id=order_id or "ord_" + secrets.token_hex(12), shopper_id=shopper_id or "shp_" + secrets.token_hex(11),
                 session_id=first.session_id, brand_id=first.brand_id, status=OrderStatus.RESERVED, lines=lines,
                 total=Money(sum(line.unit_price.amount * line.quantity for line in lines), "EUR"),
                 request_hash="h" * 64, created_at=created_at, expires_at=expires_at, version=1)


def limits(*drops: LineupItem) -> dict[str, int | None]:
    return {d.product_id: d.per_customer_limit for d in drops}


def left(repos, drop: LineupItem) -> dict[int, int]:
    return repos["stock"].levels([drop])[drop.product_id].left


def refusal_of(call) -> ReservationRefused:
    with pytest.raises(ReservationRefused) as refused:
        call()
    return refused.value


def entry(session_id: str, seq: int, product_id: str = "prd_x", kind: str = "feature") -> TimelineEntry:
    return TimelineEntry(session_id=session_id, seq=seq, type=kind, product_id=product_id, at=NOW, price=EUR)


def assert_cursor_refused(call) -> None:
    with pytest.raises(InvalidInput) as refused:
        call()
    assert refused.value.facts()["field"] == "cursor"


# --- brands and products -------------------------------------------------------------------------


def test_brands_round_trip_and_an_id_is_added_once(repos):
    brand = a_brand(repos)
    assert repos["brands"].get(brand.id) == brand
    assert repos["brands"].get(new_id("brd")) is None
    with pytest.raises(DUPLICATE):
        repos["brands"].add(replace(brand, name="Impostor"))
    assert repos["brands"].get(brand.id) == brand


def test_products_round_trip_get_many_and_an_id_is_added_once(repos):
    brand = a_brand(repos)
    first = a_product(repos, brand.id, description="Warm", images=("https://img.example/1.jpg",))
    second = a_product(repos, brand.id)
    assert repos["products"].get(first.id) == first
    assert repos["products"].get(new_id("prd")) is None
    assert repos["products"].get_many([first.id, second.id, first.id, new_id("prd")]) == {first.id: first, second.id: second}
    assert repos["products"].get_many([]) == {}
    with pytest.raises(DUPLICATE):
        repos["products"].add(replace(first, title="Impostor"))
    assert repos["products"].get(first.id) == first


def test_product_update_is_the_owners_and_none_removes(repos):
    brand, other = a_brand(repos), a_brand(repos)
    product = a_product(repos, brand.id, description="Warm", images=("https://img.example/1.jpg",))
    for brand_id, product_id in ((other.id, product.id), (brand.id, new_id("prd"))):
        with pytest.raises(NotFound):
            repos["products"].update(brand_id, product_id, {"title": "Stolen"}, T2)
    assert repos["products"].get(product.id) == product
    changed = repos["products"].update(brand.id, product.id, {"title": "Aurora", "description": None, "images": None,
                                                              "price": Money(5900, "USD")}, T2)
    assert changed == replace(product, title="Aurora", description=None, images=(), price=Money(5900, "USD"),
                              updated_at=T2)
    assert repos["products"].get(product.id) == changed


def test_adjust_stock_never_goes_below_zero(repos):
    brand, other = a_brand(repos), a_brand(repos)
    product = a_product(repos, brand.id, stock=5)
    assert repos["products"].adjust_stock(brand.id, product.id, -5, T2).stock == 0
    with pytest.raises(InsufficientStock) as refused:
        repos["products"].adjust_stock(brand.id, product.id, -1, T3)
    assert refused.value.stock == 0
    for brand_id, product_id in ((other.id, product.id), (brand.id, new_id("prd"))):
        with pytest.raises(NotFound):
            repos["products"].adjust_stock(brand_id, product_id, 1, T3)
    raised = repos["products"].adjust_stock(brand.id, product.id, 3, T3)
    assert (raised.stock, raised.updated_at) == (3, T3) and repos["products"].get(product.id) == raised


def test_a_brands_products_page_by_id_and_a_cursor_opens_only_its_own_listing(repos):
    brand, other = a_brand(repos), a_brand(repos)
    ids = sorted(a_product(repos, brand.id).id for _ in range(5))
    a_product(repos, other.id)
    first, cursor = repos["products"].list_for_brand(brand.id, 2, None)
    second, cursor2 = repos["products"].list_for_brand(brand.id, 2, cursor)
    third, end = repos["products"].list_for_brand(brand.id, 2, cursor2)
    assert [[p.id for p in page] for page in (first, second, third)] == [ids[:2], ids[2:4], ids[4:]]
    assert cursor and cursor2 and end is None
    # A full page carries a cursor even when nothing follows it (a DynamoDB Query with Limit).
    everything, after = repos["products"].list_for_brand(brand.id, 5, None)
    assert [p.id for p in everything] == ids and after is not None
    assert repos["products"].list_for_brand(brand.id, 5, after) == ([], None)
    assert_cursor_refused(lambda: repos["products"].list_for_brand(other.id, 2, cursor))
    assert_cursor_refused(lambda: repos["products"].list_for_brand(brand.id, 2, "not-a-cursor"))


# --- sessions ------------------------------------------------------------------------------------


def test_sessions_round_trip_and_an_id_is_added_once(repos):
    session = a_session(repos, a_brand(repos).id)
    assert repos["sessions"].get(session.id) == session
    assert repos["sessions"].get(new_id("ses")) is None
    with pytest.raises(DUPLICATE):
        repos["sessions"].add(replace(session, title="Impostor"))
    assert repos["sessions"].get(session.id) == session


def test_a_status_moves_only_from_the_statuses_its_action_allows(repos):
    brand, other = a_brand(repos), a_brand(repos)
    session = a_session(repos, brand.id)
    move = repos["sessions"].move_status
    live = move(brand.id, session.id, SessionStatus.LIVE, TRANSITIONS[SessionStatus.LIVE], T1)
    assert (live.status, live.started_at, live.ended_at) == (SessionStatus.LIVE, T1, None)
    again = move(brand.id, session.id, SessionStatus.LIVE, TRANSITIONS[SessionStatus.LIVE], T2)
    assert again.started_at == T1  # a repeated start keeps the first start time
    ended = move(brand.id, session.id, SessionStatus.ENDED, TRANSITIONS[SessionStatus.ENDED], T3)
    assert (ended.status, ended.started_at, ended.ended_at) == (SessionStatus.ENDED, T1, T3)
    assert repos["sessions"].get(session.id) == ended
    with pytest.raises(InvalidTransition) as refused:
        move(brand.id, session.id, SessionStatus.LIVE, TRANSITIONS[SessionStatus.LIVE], T4)
    assert refused.value.current == "ended"
    for brand_id, session_id in ((other.id, session.id), (brand.id, new_id("ses"))):
        with pytest.raises(NotFound):
            move(brand_id, session_id, SessionStatus.ENDED, TRANSITIONS[SessionStatus.ENDED], T4)
    assert repos["sessions"].get(session.id) == ended


def test_sessions_list_by_status_in_time_order_with_cursors_of_their_own_status(repos):
    brand = a_brand(repos)
    # Times no other test uses, so these come first in the shared tables' listings.
    soon = [a_session(repos, brand.id, scheduled_at=f"0001-01-01T00:00:0{n}.000Z").id for n in range(3)]
    past = [a_session(repos, brand.id, status=SessionStatus.ENDED, scheduled_at=f"9999-01-01T00:00:0{n}.000Z").id
            for n in range(3)]
    listing = repos["sessions"].list_by_status
    page, cursor = listing(SessionStatus.SCHEDULED, 2, None, newest_first=False)
    assert [s.id for s in page] == soon[:2] and cursor
    assert listing(SessionStatus.SCHEDULED, 2, cursor, newest_first=False)[0][0].id == soon[2]
    page, newest_cursor = listing(SessionStatus.ENDED, 2, None, newest_first=True)
    assert [s.id for s in page] == [past[2], past[1]]
    assert listing(SessionStatus.ENDED, 2, newest_cursor, newest_first=True)[0][0].id == past[0]
    assert_cursor_refused(lambda: listing(SessionStatus.ENDED, 2, cursor, newest_first=True))
    assert_cursor_refused(lambda: listing(SessionStatus.LIVE, 2, "not-a-cursor", newest_first=False))
    repos["sessions"].move_status(brand.id, soon[0], SessionStatus.LIVE, TRANSITIONS[SessionStatus.LIVE], T1)
    assert listing(SessionStatus.SCHEDULED, 1, None, newest_first=False)[0][0].id == soon[1]


def test_a_brands_sessions_list_latest_first_by_status_without_deleted_ones(repos):
    brand, other = a_brand(repos), a_brand(repos)
    mine = [a_session(repos, brand.id, scheduled_at=f"2026-11-2{n}T10:00:00.000Z") for n in range(4)]
    repos["sessions"].move_status(brand.id, mine[1].id, SessionStatus.LIVE, TRANSITIONS[SessionStatus.LIVE], T1)
    a_drop(repos, session=mine[2])
    gone = a_session(repos, brand.id, scheduled_at="2026-11-29T10:00:00.000Z")
    repos["sessions"].close_for_deletion(brand.id, gone.id, T2)
    theirs = a_session(repos, other.id)
    listing = repos["sessions"].list_for_brand
    page, cursor = listing(brand.id, None, 2, None)
    assert [(o.session.id, o.lineup_count) for o in page] == [(mine[3].id, 0), (mine[2].id, 1)] and cursor
    rest, _ = listing(brand.id, None, 2, cursor)
    assert [(o.session.id, o.session.status) for o in rest] == [(mine[1].id, SessionStatus.LIVE),
                                                               (mine[0].id, SessionStatus.SCHEDULED)]
    # A filtered page is full even when the items it skips lie between its own.
    scheduled, scheduled_cursor = listing(brand.id, SessionStatus.SCHEDULED, 2, None)
    assert [o.session.id for o in scheduled] == [mine[3].id, mine[2].id] and scheduled_cursor
    assert [o.session.id for o in listing(brand.id, SessionStatus.SCHEDULED, 2, scheduled_cursor)[0]] == [mine[0].id]
    assert [o.session.id for o in listing(brand.id, SessionStatus.LIVE, 10, None)[0]] == [mine[1].id]
    assert listing(brand.id, SessionStatus.ENDED, 10, None)[0] == []  # the deleted one is not listed
    assert [o.session for o in listing(other.id, None, 10, None)[0]] == [theirs]
    assert_cursor_refused(lambda: listing(other.id, None, 2, cursor))  # another brand's listing
    assert_cursor_refused(lambda: listing(brand.id, SessionStatus.SCHEDULED, 2, cursor))  # another filter


def test_close_for_deletion_ends_a_session_without_drops_and_delete_closed_removes_it(repos):
    brand, other = a_brand(repos), a_brand(repos)
    session = a_session(repos, brand.id)
    assert repos["sessions"].delete_closed(brand.id, session.id) is False  # not closed yet
    for brand_id, session_id in ((other.id, session.id), (brand.id, new_id("ses"))):
        with pytest.raises(NotFound):
            repos["sessions"].close_for_deletion(brand_id, session_id, T2)
    closed = repos["sessions"].close_for_deletion(brand.id, session.id, T2)
    assert (closed.status, closed.ended_at) == (SessionStatus.ENDED, T2)
    assert repos["sessions"].close_for_deletion(brand.id, session.id, T3).ended_at == T2  # a retry changes nothing
    with pytest.raises(SessionChanged):  # closed: nothing can be added to it any more
        a_drop(repos, session=replace(session, status=SessionStatus.SCHEDULED))
    assert repos["sessions"].delete_closed(other.id, session.id) is False
    assert repos["sessions"].delete_closed(brand.id, session.id) is True
    assert repos["sessions"].get(session.id) is None
    assert repos["sessions"].delete_closed(brand.id, session.id) is False


def test_a_live_session_or_one_with_drops_before_its_end_is_not_closed(repos):
    brand = a_brand(repos)
    live = a_session(repos, brand.id, status=SessionStatus.LIVE)
    with pytest.raises(SessionLive):
        repos["sessions"].close_for_deletion(brand.id, live.id, T2)
    assert repos["sessions"].get(live.id).status is SessionStatus.LIVE
    session = a_session(repos, brand.id)
    drop = a_drop(repos, session=session)
    with pytest.raises(SessionHasDrops):
        repos["sessions"].close_for_deletion(brand.id, session.id, T2)
    assert repos["sessions"].get(session.id) == session
    repos["sessions"].move_status(brand.id, session.id, SessionStatus.ENDED, TRANSITIONS[SessionStatus.ENDED], T3)
    closed = repos["sessions"].close_for_deletion(brand.id, session.id, T4)  # ended: its channel may go
    assert closed.ended_at == T3
    assert repos["sessions"].delete_closed(brand.id, session.id) is False  # the record stays for its drops
    assert repos["lineup"].list_for_session(session.id) == [drop]


def test_set_featured_raises_the_seq_above_the_featured_one_and_past_the_timeline(repos):
    brand, other = a_brand(repos), a_brand(repos)
    session = a_session(repos, brand.id, status=SessionStatus.LIVE)
    sessions = repos["sessions"]
    assert sessions.featured_seq(session.id) is None
    first = sessions.set_featured(brand.id, entry(session.id, 1000, "prd_a"))
    assert first == entry(session.id, 1000, "prd_a")
    assert sessions.featured_seq(session.id) == 1000 and sessions.get(session.id).featured_product_id == "prd_a"
    late = sessions.set_featured(brand.id, entry(session.id, 500, "prd_b"))  # stamped earlier, committed later
    assert late.seq == 1001 and sessions.featured_seq(session.id) == 1001
    assert sessions.get(session.id).featured_product_id == "prd_b"
    repos["live"].append(entry(session.id, 2000, "prd_a", kind="drop_open"))
    assert sessions.set_featured(brand.id, entry(session.id, 2000, "prd_c")).seq == 2001
    timeline = repos["live"].timeline(session.id)
    assert [(e.seq, e.type, e.product_id, e.delivery) for e in timeline] == [
        (1000, "feature", "prd_a", "pending"), (1001, "feature", "prd_b", "pending"),
        (2000, "drop_open", "prd_a", "pending"), (2001, "feature", "prd_c", "pending")]
    for brand_id, session_id in ((other.id, session.id), (brand.id, new_id("ses"))):
        with pytest.raises(NotFound):
            sessions.set_featured(brand_id, entry(session_id, 3000))
    sessions.move_status(brand.id, session.id, SessionStatus.ENDED, TRANSITIONS[SessionStatus.ENDED], T3)
    with pytest.raises(SessionEnded):
        sessions.set_featured(brand.id, entry(session.id, 3000))
    assert sessions.featured_seq(session.id) == 2001 and len(repos["live"].timeline(session.id)) == 4


def test_set_replay(repos):
    session = a_session(repos, a_brand(repos).id)
    repos["sessions"].set_replay(session.id, "https://cdn.example/rec/media/hls/master.m3u8")
    assert repos["sessions"].get(session.id).replay_url == "https://cdn.example/rec/media/hls/master.m3u8"


# --- lineup and stock ----------------------------------------------------------------------------


def test_a_lineup_item_takes_its_quantity_from_the_product_into_its_shards(repos):
    brand = a_brand(repos)
    session = a_session(repos, brand.id)
    product = a_product(repos, brand.id, stock=10)
    item = LineupItem(session_id=session.id, product_id=product.id, brand_id=brand.id, price=Money(3900, "EUR"),
                      quantity=7, per_customer_limit=2, added_at=T2, opens_at=None, closes_at=T4, shards=3,
                      hold_seconds=120)
    repos["lineup"].add_taking_stock(item, SessionStatus.SCHEDULED)
    assert repos["lineup"].list_for_session(session.id) == [item]
    assert repos["products"].get(product.id) == replace(product, stock=3, updated_at=T2)
    assert repos["stock"].levels([item]) == {product.id: DropStock({0: 3, 1: 2, 2: 2}, None, T4)}
    assert repos["lineup"].list_for_session(new_id("ses")) == []


def test_a_lineup_add_is_refused_whole_and_says_why(repos):
    brand, other = a_brand(repos), a_brand(repos)
    session = a_session(repos, brand.id)
    drop = a_drop(repos, quantity=4, session=session)
    product = a_product(repos, brand.id, stock=3)
    item = LineupItem(session_id=session.id, product_id=product.id, brand_id=brand.id, price=EUR, quantity=3,
                      per_customer_limit=None, added_at=T2, shards=2)
    add = repos["lineup"].add_taking_stock
    with pytest.raises(AlreadyInLineup):
        add(replace(item, product_id=drop.product_id), SessionStatus.SCHEDULED)
    with pytest.raises(InsufficientStock) as short:
        add(replace(item, quantity=5), SessionStatus.SCHEDULED)
    assert short.value.stock == 3
    with pytest.raises(NotFound) as missing:  # missing, or another brand's: the same answer, no stock level
        add(replace(item, product_id=new_id("prd")), SessionStatus.SCHEDULED)
    assert missing.value.facts() == {"field": "productId"}
    foreign = a_product(repos, other.id, stock=50)
    with pytest.raises(NotFound):
        add(replace(item, product_id=foreign.id), SessionStatus.SCHEDULED)
    with pytest.raises(SessionChanged):  # read as live, but it is scheduled
        add(item, SessionStatus.LIVE)
    with pytest.raises(SessionChanged):  # and that first, whatever else fails too
        add(replace(item, product_id=drop.product_id, quantity=50), SessionStatus.LIVE)
    for changed in (replace(item, brand_id=other.id), replace(item, session_id=new_id("ses"))):
        with pytest.raises(SessionChanged):
            add(changed, SessionStatus.SCHEDULED)
    # Nothing moved: not the product's stock, not the drop, and no drop was counted on the session.
    assert repos["products"].get(product.id) == product
    assert repos["lineup"].list_for_session(session.id) == [drop] and left(repos, drop) == {0: 4}
    assert repos["stock"].levels([item]) == {}
    repos["sessions"].move_status(brand.id, session.id, SessionStatus.ENDED, TRANSITIONS[SessionStatus.ENDED], T3)
    bare = a_session(repos, brand.id)
    with pytest.raises(InsufficientStock):
        add(replace(item, session_id=bare.id, quantity=99), SessionStatus.SCHEDULED)
    repos["sessions"].close_for_deletion(brand.id, bare.id, T3)
    assert repos["sessions"].delete_closed(brand.id, bare.id) is True


def test_a_drop_changes_before_it_opens_and_the_refusals_say_why(repos):
    brand, other = a_brand(repos), a_brand(repos)
    session = a_session(repos, brand.id)
    drop = a_drop(repos, quantity=4, shards=2, limit=2, opens_at=None, session=session)
    changed = replace(drop, price=Money(2900, "USD"), per_customer_limit=None)
    repos["lineup"].update_before_opening(changed, SessionStatus.SCHEDULED, NOW)
    assert repos["lineup"].list_for_session(session.id) == [replace(changed, revision=1)]
    drop = replace(drop, revision=1)  # as read now
    with pytest.raises(SessionChanged):  # read as live, but it is scheduled
        repos["lineup"].update_before_opening(drop, SessionStatus.LIVE, NOW)
    with pytest.raises(NotFound) as foreign:
        repos["lineup"].update_before_opening(replace(drop, brand_id=other.id), SessionStatus.SCHEDULED, NOW)
    assert foreign.value.facts() == {}  # the session: not the brand's
    with pytest.raises(NotFound) as missing:
        repos["lineup"].update_before_opening(replace(drop, product_id=new_id("prd")), SessionStatus.SCHEDULED, NOW)
    assert missing.value.facts() == {"field": "productId"}
    repos["stock"].set_window_edge([drop], opens_at=T1)
    with pytest.raises(DropOpened) as opened:  # its shards opened before `now`
        repos["lineup"].update_before_opening(drop, SessionStatus.SCHEDULED, NOW)
    assert opened.value.facts() == {"productId": drop.product_id, "opensAt": T1}
    repos["lineup"].update_before_opening(drop, SessionStatus.SCHEDULED, T0)  # ...but not yet at T0
    assert repos["lineup"].list_for_session(session.id) == [replace(drop, revision=2)]


def test_a_drop_changes_only_while_every_shard_is_untouched(repos):
    brand = a_brand(repos)
    session = a_session(repos, brand.id)
    drop = a_drop(repos, quantity=5, shards=2, opens_at=T1, session=session)
    repos["orders"].reserve(an_order([(drop, {1: 1})]), limits(drop), NOW)  # one unit sold from shard 1
    # Asked as of T0 (read before the opening, written after the sale): only the untouched rule refuses it.
    with pytest.raises(DropOpened) as opened:
        repos["lineup"].update_before_opening(replace(drop, price=Money(100, "EUR"), per_customer_limit=1),
                                              SessionStatus.SCHEDULED, T0)
    assert opened.value.facts() == {"productId": drop.product_id, "opensAt": T1}
    assert repos["lineup"].list_for_session(session.id) == [drop]  # the price it sold at stands
    assert left(repos, drop) == {0: 3, 1: 1}


def test_a_change_raises_the_revision_of_the_item_and_every_shard_and_a_take_needs_the_current_one(repos):
    session = a_session(repos, a_brand(repos).id)
    drop = a_drop(repos, quantity=4, shards=2, limit=3, opens_at=LATER, session=session)
    assert drop.revision == 0 and repos["lineup"].list_for_session(session.id) == [drop]
    repriced = replace(drop, price=Money(100, "EUR"), per_customer_limit=1)
    repos["lineup"].update_before_opening(repriced, SessionStatus.SCHEDULED, NOW)
    current = repos["lineup"].list_for_session(session.id)[0]
    assert current == replace(repriced, revision=1)
    with pytest.raises(SessionChanged):  # a change read at the old revision: another came first
        repos["lineup"].update_before_opening(replace(drop, price=Money(200, "EUR")), SessionStatus.SCHEDULED, NOW)
    assert repos["lineup"].list_for_session(session.id) == [current]
    # Once open, a take priced from the item as it was (revision 0, the default) is refused by every
    # shard it asks, which says its revision; nothing is taken.
    stale = refusal_of(lambda: repos["orders"].reserve(an_order([(drop, {0: 1, 1: 1})]), limits(drop), LATER))
    assert sorted(stale.short_shards, key=lambda s: s.shard) == [
        ShardRefusal(drop.product_id, 0, 2, LATER, None, 1), ShardRefusal(drop.product_id, 1, 2, LATER, None, 1)]
    assert not stale.limit_reached and left(repos, drop) == {0: 2, 1: 2}
    assert refusal_of(lambda: repos["orders"].reserve(an_order([(drop, {0: 1})]), limits(drop), LATER,
                                                      {drop.product_id: 0})).short_shards[0].revision == 1
    repos["orders"].reserve(an_order([(current, {0: 1})]), limits(current), LATER, {drop.product_id: 1})
    assert left(repos, drop) == {0: 1, 1: 2}


def test_items_and_shards_stored_without_a_revision_are_at_revision_0(repos):
    if "store" in repos:
        pytest.skip("DynamoDB only: a fake row always has its revision")
    from chalicelib.adapters.dynamodb.models import LineupModel, StockShardModel
    from chalicelib.domain.drops import shard_key

    session = a_session(repos, a_brand(repos).id)
    taken, changed = (a_drop(repos, quantity=4, opens_at=LATER, session=session) for _ in range(2))
    for drop in (taken, changed):
        LineupModel(session_id=drop.session_id, product_id=drop.product_id).update(
            actions=[LineupModel.revision.remove()])
        StockShardModel(shard_key=shard_key(drop.session_id, drop.product_id, 0)).update(
            actions=[StockShardModel.revision.remove()])
    assert repos["lineup"].list_for_session(session.id) == sorted([taken, changed], key=lambda i: i.product_id)
    repos["orders"].reserve(an_order([(taken, {0: 1})]), limits(taken), LATER, {taken.product_id: 0})
    refused = refusal_of(lambda: repos["orders"].reserve(an_order([(taken, {0: 1})]), limits(taken), LATER,
                                                         {taken.product_id: 1}))
    assert refused.short_shards == [ShardRefusal(taken.product_id, 0, 3, LATER, None, 0)]
    repos["lineup"].update_before_opening(replace(changed, per_customer_limit=2), SessionStatus.SCHEDULED, NOW)
    assert replace(changed, per_customer_limit=2, revision=1) in repos["lineup"].list_for_session(session.id)
    assert refusal_of(lambda: repos["orders"].reserve(an_order([(changed, {0: 1})]), limits(changed), LATER,
                                                      {changed.product_id: 0})).short_shards[0].revision == 1
    repos["orders"].reserve(an_order([(changed, {0: 1})]), limits(changed), LATER, {changed.product_id: 1})
    assert left(repos, changed) == {0: 3}


def test_a_drop_that_opened_by_its_own_time_stays_whatever_the_sessions_status(repos):
    brand = a_brand(repos)
    for status in (SessionStatus.SCHEDULED, SessionStatus.LIVE):
        session = a_session(repos, brand.id, status)
        opened, ahead = (a_drop(repos, quantity=2, opens_at=at, session=session) for at in (T1, LATER))
        with pytest.raises(DropOpened):
            repos["lineup"].update_before_opening(replace(opened, per_customer_limit=1), status, NOW)
        with pytest.raises(DropOpened):
            repos["lineup"].remove_returning_stock(opened, status, NOW, 2)
        assert repos["lineup"].list_for_session(session.id) == sorted([opened, ahead], key=lambda i: i.product_id)
        assert left(repos, opened) == {0: 2}
        changed = replace(ahead, per_customer_limit=1)
        repos["lineup"].update_before_opening(changed, status, NOW)
        assert replace(changed, revision=1) in repos["lineup"].list_for_session(session.id)
        repos["lineup"].remove_returning_stock(ahead, status, NOW, 2)
        assert repos["lineup"].list_for_session(session.id) == [opened]


def test_a_drop_leaves_the_lineup_only_while_every_shard_is_untouched(repos):
    brand = a_brand(repos)
    session = a_session(repos, brand.id)
    drop = a_drop(repos, quantity=5, shards=2, opens_at=T1, session=session)
    product = repos["products"].get(drop.product_id)
    repos["orders"].reserve(an_order([(drop, {1: 1})]), limits(drop), NOW)  # one unit held from shard 1
    # Asked as of T0 (before the opening), so that only the untouched rule can refuse it.
    with pytest.raises(DropOpened):
        repos["lineup"].remove_returning_stock(drop, SessionStatus.SCHEDULED, T0, 1)
    assert repos["products"].get(drop.product_id) == product  # nothing moved
    assert repos["lineup"].list_for_session(session.id) == [drop]
    assert left(repos, drop) == {0: 3, 1: 1}


def test_an_untouched_drop_leaves_the_lineup_and_its_units_go_back_to_the_product(repos):
    brand, other = a_brand(repos), a_brand(repos)
    session = a_session(repos, brand.id)
    drop = a_drop(repos, quantity=5, shards=2, opens_at=LATER, session=session)
    before = repos["products"].get(drop.product_id)
    with pytest.raises(SessionChanged):
        repos["lineup"].remove_returning_stock(drop, SessionStatus.LIVE, NOW, 1)
    with pytest.raises(NotFound):
        repos["lineup"].remove_returning_stock(replace(drop, brand_id=other.id), SessionStatus.SCHEDULED, NOW, 1)
    with pytest.raises(DropOpened):  # opened by LATER
        repos["lineup"].remove_returning_stock(drop, SessionStatus.SCHEDULED, LATER, 1)
    repos["lineup"].remove_returning_stock(drop, SessionStatus.SCHEDULED, NOW, 1)
    assert repos["products"].get(drop.product_id) == replace(before, stock=5, updated_at=NOW)
    assert repos["lineup"].list_for_session(session.id) == [] and repos["stock"].levels([drop]) == {}
    with pytest.raises(NotFound) as again:
        repos["lineup"].remove_returning_stock(drop, SessionStatus.SCHEDULED, NOW, 0)
    assert again.value.facts() == {"field": "productId"}
    # The drop count went down with it: the session can be closed and deleted as one without drops.
    repos["sessions"].close_for_deletion(brand.id, session.id, T3)
    assert repos["sessions"].delete_closed(brand.id, session.id) is True


def test_window_edges_open_once_and_close_only_earlier(repos):
    drop = a_drop(repos, quantity=4, shards=2, opens_at=None)
    stock = repos["stock"]
    stock.set_window_edge([drop], opens_at=T1)
    stock.set_window_edge([drop], opens_at=T2)  # a retried start keeps the first opening
    assert stock.levels([drop])[drop.product_id] == DropStock({0: 2, 1: 2}, T1, None)
    stock.set_window_edge([drop], closes_at=T3)
    stock.set_window_edge([drop], closes_at=T4)
    assert stock.levels([drop])[drop.product_id].closes_at == T3
    stock.set_window_edge([drop], closes_at=T2)
    assert stock.levels([drop])[drop.product_id] == DropStock({0: 2, 1: 2}, T1, T2)
    ghost = replace(drop, product_id=new_id("prd"))  # a drop with no shards: nothing to change, no error
    stock.set_window_edge([ghost], opens_at=T1, closes_at=T2)
    assert stock.levels([ghost, drop]) == {drop.product_id: DropStock({0: 2, 1: 2}, T1, T2)}


# --- orders --------------------------------------------------------------------------------------


def test_a_reservation_takes_units_from_its_shards_and_a_release_gives_them_back(repos):
    hoodie = a_drop(repos, quantity=10, shards=2, limit=5)
    session = repos["sessions"].get(hoodie.session_id)
    cap = a_drop(repos, quantity=3, session=session)
    order = an_order([(hoodie, {0: 3, 1: 2}), (cap, {0: 1})])
    repos["orders"].reserve(order, limits(hoodie, cap), NOW)
    assert repos["orders"].get(order.id) == order
    assert left(repos, hoodie) == {0: 2, 1: 3} and left(repos, cap) == {0: 2}
    repos["orders"].release(order, OrderStatus.CANCELLED, T3, EXPIRES - 1, shopper_id=order.shopper_id)
    # Every write of an order raises its version (webhooks' sequence): 1 when reserved, 2 now.
    assert repos["orders"].get(order.id) == replace(order, status=OrderStatus.CANCELLED, closed_at=T3, version=2)
    assert left(repos, hoodie) == {0: 5, 1: 5} and left(repos, cap) == {0: 3}
    # The shopper's count went back too: the whole limit can be held again.
    again = an_order([(hoodie, {0: 5})], shopper_id=order.shopper_id)
    repos["orders"].reserve(again, limits(hoodie), NOW)
    assert left(repos, hoodie) == {0: 0, 1: 5}


def test_a_reservation_is_refused_whole_and_the_refusal_explains_itself(repos):
    drop = a_drop(repos, quantity=4, shards=2)  # 2 + 2
    first = an_order([(drop, {0: 2})])
    repos["orders"].reserve(first, limits(drop), NOW)
    replay = refusal_of(lambda: repos["orders"].reserve(replace(first, request_hash="x" * 64), limits(drop), NOW))
    assert replay.existing_order == first and not replay.limit_reached
    short = refusal_of(lambda: repos["orders"].reserve(an_order([(drop, {0: 1, 1: 1, 5: 1})]), limits(drop), NOW))
    assert short.existing_order is None
    assert sorted(short.short_shards, key=lambda s: s.shard) == [
        ShardRefusal(drop.product_id, 0, 0, OPEN, None, 0), ShardRefusal(drop.product_id, 5, None, None, None, None)]
    assert left(repos, drop) == {0: 0, 1: 2}  # shard 1 could give, but nothing was taken
    assert repos["orders"].list_for_session(drop.session_id, 10, None)[0] == [first]


def test_a_reservation_is_refused_outside_the_drops_window(repos):
    session = a_session(repos, a_brand(repos).id)
    unopened = a_drop(repos, quantity=2, opens_at=None, session=session)
    later = a_drop(repos, quantity=2, opens_at=LATER, session=session)
    closed = a_drop(repos, quantity=2, opens_at=OPEN, closes_at=NOW, session=session)
    for drop in (unopened, later, closed):
        refused = refusal_of(lambda drop=drop: repos["orders"].reserve(an_order([(drop, {0: 1})]), limits(drop), NOW))
        assert refused.short_shards == [ShardRefusal(drop.product_id, 0, 2, drop.opens_at, drop.closes_at)]
        assert left(repos, drop) == {0: 2}
    open_until_later = a_drop(repos, quantity=2, closes_at=LATER, session=session)
    repos["orders"].reserve(an_order([(open_until_later, {0: 2})]), limits(open_until_later), NOW)
    assert left(repos, open_until_later) == {0: 0}


def test_a_reservation_counts_against_the_shoppers_limit(repos):
    drop = a_drop(repos, quantity=10, limit=2)
    shopper = "shp_" + secrets.token_hex(11)
    repos["orders"].reserve(an_order([(drop, {0: 2})], shopper_id=shopper), limits(drop), NOW)
    refused = refusal_of(lambda: repos["orders"].reserve(an_order([(drop, {0: 1})], shopper_id=shopper), limits(drop), NOW))
    assert refused.limit_reached == [(drop.product_id, 2)] and not refused.short_shards
    assert left(repos, drop) == {0: 8}
    repos["orders"].reserve(an_order([(drop, {0: 2})]), limits(drop), NOW)  # another shopper
    # The condition is on what a shopper already holds: an order above the limit on its own is
    # refused by the service before any write (Checkout._refuse_without_writing), not here.
    repos["orders"].reserve(an_order([(drop, {0: 3})]), limits(drop), NOW)
    assert left(repos, drop) == {0: 3}


def test_a_reservation_of_more_than_100_transaction_items_is_not_sent(repos):
    session = a_session(repos, a_brand(repos).id)
    a = a_drop(repos, quantity=50, shards=50, session=session)
    b = a_drop(repos, quantity=50, shards=50, session=session)
    every_shard = {shard: 1 for shard in range(50)}
    with pytest.raises(ValueError):
        repos["orders"].reserve(an_order([(a, every_shard), (b, every_shard)]), limits(a, b), NOW)
    assert sum(left(repos, a).values()) == sum(left(repos, b).values()) == 50
    repos["orders"].reserve(an_order([(a, every_shard), (b, dict(list(every_shard.items())[:48]))]), limits(a, b), NOW)
    assert sum(left(repos, b).values()) == 2  # the order and its open orders + 98 shards: 100 items


def test_a_sessions_orders_page_by_creation_with_cursors_of_their_own_session(repos):
    drop = a_drop(repos, quantity=5)
    orders = [an_order([(drop, {0: 1})], created_at=at) for at in (T3, T1, T2)]
    for order in orders:
        repos["orders"].reserve(order, limits(drop), NOW)
    first, cursor = repos["orders"].list_for_session(drop.session_id, 2, None)
    rest, end = repos["orders"].list_for_session(drop.session_id, 2, cursor)
    assert [o.id for o in first + rest] == [orders[1].id, orders[2].id, orders[0].id] and end is None
    assert repos["orders"].list_for_session(new_id("ses"), 2, None) == ([], None)
    assert_cursor_refused(lambda: repos["orders"].list_for_session(new_id("ses"), 2, cursor))


def test_a_release_needs_a_reserved_order_its_shopper_and_for_expiry_its_time(repos):
    drop = a_drop(repos, quantity=5, shards=2)
    order = an_order([(drop, {0: 2, 1: 1})])
    repos["orders"].reserve(order, limits(drop), NOW)
    release = repos["orders"].release
    with pytest.raises(OrderNotReleasable) as refused:
        release(order, OrderStatus.CANCELLED, T3, EXPIRES - 1, shopper_id="shp_someone_else")
    assert refused.value == OrderNotReleasable("reserved")
    with pytest.raises(OrderNotReleasable):
        release(order, OrderStatus.EXPIRED, T3, EXPIRES - 1)  # not yet past its time
    assert left(repos, drop) == {0: 1, 1: 1}
    release(order, OrderStatus.EXPIRED, T3, EXPIRES)
    assert repos["orders"].get(order.id).status is OrderStatus.EXPIRED and left(repos, drop) == {0: 3, 1: 2}
    with pytest.raises(OrderNotReleasable) as twice:
        release(order, OrderStatus.CANCELLED, T4, EXPIRES, shopper_id=order.shopper_id)
    assert twice.value == OrderNotReleasable("expired", T3)
    assert left(repos, drop) == {0: 3, 1: 2}  # released once
    with pytest.raises(OrderNotReleasable) as missing:
        release(replace(order, id="ord_" + secrets.token_hex(12)), OrderStatus.CANCELLED, T4, EXPIRES)
    assert missing.value == OrderNotReleasable("missing")
    paying = an_order([(drop, {0: 1})])
    repos["orders"].reserve(paying, limits(drop), NOW)
    repos["orders"].begin_payment(paying.id, paying.shopper_id, EXPIRES - 1, "stripe", EXPIRES + 900)
    with pytest.raises(OrderNotReleasable) as held:
        release(paying, OrderStatus.EXPIRED, T4, EXPIRES + 60)
    assert held.value.status == "paying" and left(repos, drop) == {0: 2, 1: 2}


def test_payment_moves_reserved_to_paying_to_paid_one_numbered_attempt_at_a_time(repos):
    drop = a_drop(repos, quantity=5)
    order = an_order([(drop, {0: 1})])
    repos["orders"].reserve(order, limits(drop), NOW)
    orders = repos["orders"]
    paying, started = orders.begin_payment(order.id, order.shopper_id, EXPIRES - 1, "stripe", EXPIRES + 900)
    assert started and paying == replace(order, status=OrderStatus.PAYING, payment_provider="stripe", payment_attempt=1,
                                         payment_due=EXPIRES + 900, version=2)
    # An order already paying is answered as it is (no write): the request goes on with its attempt.
    assert orders.begin_payment(order.id, order.shopper_id, EXPIRES + 60, "stripe", EXPIRES + 2000) == (paying, False)
    for order_id, shopper_id in ((order.id, "shp_someone_else"), ("ord_" + secrets.token_hex(12), order.shopper_id)):
        with pytest.raises(NotFound):
            orders.begin_payment(order_id, shopper_id, EXPIRES - 1, "stripe", EXPIRES + 900)
    assert orders.attach_intent(order.id, 2, "pi_1") is None  # not the attempt under way
    attached = orders.attach_intent(order.id, 1, "pi_1")
    assert attached == replace(paying, payment_reference="pi_1", version=3)
    assert orders.attach_intent(order.id, 1, "pi_1") is not None  # the same intent again: harmless
    assert orders.attach_intent(order.id, 1, "pi_other") is None  # never another one
    back = orders.abort_payment(attached, 1)
    assert back.status is OrderStatus.RESERVED and back.payment_due is None and back.payment_reference == "pi_1"
    assert orders.abort_payment(attached, 1) is None  # no longer under way
    with pytest.raises(OrderExpired):
        orders.begin_payment(order.id, order.shopper_id, EXPIRES, "stripe", EXPIRES + 900)
    second, _ = orders.begin_payment(order.id, order.shopper_id, EXPIRES - 1, "stripe", EXPIRES + 900)
    assert second.payment_attempt == 2 and second.payment_reference is None  # a new attempt, its own intent
    assert orders.finish_payment(order.id, 1, "pi_1", T3, EXPIRES) is None  # the first attempt is over
    paid = orders.finish_payment(order.id, 2, "pi_2", T3, EXPIRES + 60)
    assert paid == replace(second, status=OrderStatus.PAID, payment_reference="pi_2", closed_at=T3,
                           version=second.version + 1)
    assert orders.finish_payment(order.id, 2, "pi_2", T4, EXPIRES) is None and orders.get(order.id) == paid
    with pytest.raises(AlreadyPaid) as retried:
        orders.begin_payment(order.id, order.shopper_id, EXPIRES - 1, "stripe", EXPIRES + 900)
    assert retried.value.order == paid
    captured = orders.record_capture(order.id, T4)
    assert captured == replace(paid, captured_at=T4, version=paid.version + 1)
    assert orders.record_capture(order.id, T4) is None  # once


def test_a_paying_or_paid_order_is_due_at_its_window_then_at_its_capture_and_postponed_not_resurrected(repos):
    drop = a_drop(repos, quantity=5)
    order = an_order([(drop, {0: 1})], expires_at=1_000)
    orders = repos["orders"]
    orders.reserve(order, limits(drop), NOW)

    def due(at: int) -> bool:
        return order.id in {o.id for o in orders.due(at, 1000)}

    assert due(1_000) and not due(999)
    orders.begin_payment(order.id, order.shopper_id, 999, "test", 1_900)
    assert not due(1_899) and due(1_900)  # its expiry no longer counts: its paying window does
    orders.postpone(order.id, 2_500)
    assert not due(2_499) and due(2_500)
    orders.attach_intent(order.id, 1, "pi_1")
    orders.finish_payment(order.id, 1, "pi_1", T3, 2_600)
    assert not due(2_599) and due(2_600)  # paid: due again for its capture
    orders.record_capture(order.id, T4)
    assert not due(10**9)
    orders.postpone(order.id, 3_000)  # settled meanwhile: nothing comes back
    assert not due(10**9)


def test_a_refund_is_asked_once_by_the_selling_brand_of_a_paid_order_and_recorded_once(repos):
    drop = a_drop(repos, quantity=5)
    order = an_order([(drop, {0: 1})])
    orders = repos["orders"]
    orders.reserve(order, limits(drop), NOW)
    with pytest.raises(OrderNotRefundable):
        orders.request_refund(order.id, order.brand_id, T3, 5_000)
    orders.begin_payment(order.id, order.shopper_id, EXPIRES - 1, "test", EXPIRES + 900)
    orders.finish_payment(order.id, 1, "pi_1", T3, 2_600)
    with pytest.raises(NotFound):
        orders.request_refund(order.id, "brd_someone_else", T3, 5_000)
    asked = orders.request_refund(order.id, order.brand_id, T3, 5_000)
    assert asked.refund_requested_at == T3 and order.id in {o.id for o in orders.due(5_000, 1000)}
    assert orders.request_refund(order.id, order.brand_id, T4, 6_000) == asked  # asked again: as it is
    refunded = orders.record_refund(order.id, "re_1", T4)
    assert refunded == replace(asked, refunded_at=T4, refund_reference="re_1", version=asked.version + 1)
    assert orders.record_refund(order.id, "re_2", T4) == refunded  # recorded once
    assert order.id not in {o.id for o in orders.due(10**9, 1000)}


def test_only_a_paying_order_can_be_finished_and_a_cancelled_one_is_not_payable(repos):
    drop = a_drop(repos, quantity=5)
    order = an_order([(drop, {0: 1})])
    repos["orders"].reserve(order, limits(drop), NOW)
    assert repos["orders"].finish_payment(order.id, 1, "pi_1", T3, EXPIRES) is None
    assert repos["orders"].finish_payment("ord_" + secrets.token_hex(12), 1, "pi_1", T3, EXPIRES) is None
    repos["orders"].release(order, OrderStatus.CANCELLED, T3, EXPIRES - 1)
    with pytest.raises(OrderNotPayable) as refused:
        repos["orders"].begin_payment(order.id, order.shopper_id, EXPIRES - 1, "test", EXPIRES + 900)
    assert refused.value.status == "cancelled"


def test_due_lists_reserved_orders_past_their_time(repos):
    drop = a_drop(repos, quantity=5)
    past = [an_order([(drop, {0: 1})], expires_at=1_000) for _ in range(2)]
    future = an_order([(drop, {0: 1})], expires_at=EXPIRES)
    for order in past + [future]:
        repos["orders"].reserve(order, limits(drop), NOW)
    mine = {o.id for o in past + [future]}

    def due() -> set[str]:
        return {o.id for o in repos["orders"].due(1_500, 1000)} & mine

    assert due() == {past[0].id, past[1].id}
    paying, _ = repos["orders"].begin_payment(past[1].id, past[1].shopper_id, 999, "test", 10**6)
    assert due() == {past[0].id}  # a paying order is due only at its window's end
    repos["orders"].abort_payment(paying, 1)
    assert due() == {past[0].id, past[1].id}  # back on hold until its own time
    repos["orders"].release(past[0], OrderStatus.EXPIRED, T3, 1_500)
    assert due() == {past[1].id}


# --- the live layer ------------------------------------------------------------------------------


def test_the_send_slot_is_claimed_at_most_once_per_interval_per_channel(repos):
    live, session_id, other = repos["live"], new_id("ses"), new_id("ses")
    assert live.claim_send_slot(session_id, 10_000, 200) == (True, 0)
    assert live.claim_send_slot(session_id, 10_100, 200) == (False, 100)
    assert live.claim_send_slot(session_id, 10_199, 200) == (False, 1)
    assert live.claim_send_slot(other, 10_199, 200) == (True, 0)  # another channel
    assert live.claim_send_slot(session_id, 10_200, 200) == (True, 0)
    assert live.claim_send_slot(session_id, 10_250, 200) == (False, 150)


def test_the_ticker_is_claimed_at_most_once_per_period_per_drop(repos):
    live, session_id = repos["live"], new_id("ses")
    assert live.claim_ticker(session_id, "prd_a", 10_000, 1000) is True
    assert live.claim_ticker(session_id, "prd_a", 10_999, 1000) is False
    assert live.claim_ticker(session_id, "prd_b", 10_999, 1000) is True
    assert live.claim_ticker(session_id, "prd_a", 11_000, 1000) is True


def test_append_takes_the_next_free_seq_and_the_timeline_reads_the_first_in_seq_order(repos):
    live, session_id = repos["live"], new_id("ses")
    assert live.append(entry(session_id, 500, kind="drop_open")).seq == 500
    assert live.append(entry(session_id, 500, kind="sold_out")).seq == 501
    assert live.append(entry(session_id, 100, kind="drop_open")).seq == 100
    live.mark_delivery(session_id, 501, "delivered", 123_456)
    live.mark_delivery(session_id, 501, "throttled", None)  # a later mark without a send time keeps it
    assert [(e.seq, e.type, e.delivery, e.sent_at) for e in live.timeline(session_id)] == [
        (100, "drop_open", "pending", None), (500, "drop_open", "pending", None),
        (501, "sold_out", "throttled", 123_456)]
    assert [e.seq for e in live.recent(session_id, 2)] == [500, 501]  # the newest two, oldest first
    assert [e.seq for e in live.recent(session_id, 10)] == [100, 500, 501]
    assert live.timeline(new_id("ses")) == []


def test_likes_are_counted_over_the_sessions_shards(repos):
    live, session_id = repos["live"], new_id("ses")
    t = 1_800_000_000_900
    for n in range(8):
        live.like(session_id, t + n, 10)
    assert live.likes(session_id, 10) == 8
    assert live.likes(new_id("ses"), 10) == 0


# --- rate windows --------------------------------------------------------------------------------


def a_window(limit: int, at_ms: int = 1_800_000_000_000) -> Window:
    rule = Rule("like", limit, 1, "likes", "per shopper in a session")
    return window(rule, f"{new_id('ses')}#{new_id('shp')}", at_ms)


def test_a_rate_window_counts_up_to_its_limit_then_refuses_and_each_window_counts_apart(repos):
    counters = repos["rate_counters"]
    full = a_window(limit=3)
    assert [counters.hit(full) for _ in range(5)] == [True, True, True, False, False]
    assert counters.hit(a_window(limit=3))  # another subject
    subject = full.key.split("#", 2)[2].rsplit("#", 1)[0]
    following = window(Rule("like", 3, 1, "likes", "per shopper in a session"), subject, 1_800_000_001_000)
    assert following.key != full.key and counters.hit(following)  # the next second: a new window


def test_twenty_at_once_against_a_limit_of_five_count_exactly_five(repos):
    """One conditional write per check, atomic under concurrency: on DynamoDB Local as in the fake."""
    counters, busy = repos["rate_counters"], a_window(limit=5)
    start = threading.Barrier(20)

    def hit(_):
        start.wait()
        return counters.hit(busy)

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(hit, range(20)))
    assert outcomes.count(True) == 5 and outcomes.count(False) == 15
    assert not counters.hit(busy)


# --- queue and draw entries ----------------------------------------------------------------------


def a_shopper() -> str:
    return "shp_" + secrets.token_hex(11)


def test_joins_are_numbered_1_2_3_in_order_and_a_second_join_answers_the_first_entry(repos):
    entries, session_id, product_id = repos["entries"], new_id("ses"), new_id("prd")
    shoppers = [a_shopper() for _ in range(4)]
    joined = [entries.join(session_id, product_id, shopper, 1, NOW) for shopper in shoppers]
    assert [(entry.position, created) for entry, created in joined] == [(1, True), (2, True), (3, True), (4, True)]
    first = joined[0][0]
    assert first.session_id == session_id and first.product_id == product_id and first.shopper_id == shoppers[0]
    assert first.joined_at == NOW
    assert entries.join(session_id, product_id, shoppers[0], 1, LATER) == (first, False)
    assert entries.get(session_id, product_id, shoppers[0]) == first
    assert entries.get(session_id, product_id, a_shopper()) is None
    assert entries.get(session_id, new_id("prd"), shoppers[0]) is None  # another drop
    assert entries.join(session_id, product_id, a_shopper(), 1, NOW)[0].position == 5  # no number was used twice


def test_positions_over_several_counters_are_unique_and_each_counter_keeps_its_own_residue(repos):
    entries, session_id, product_id = repos["entries"], new_id("ses"), new_id("prd")
    positions = [entries.join(session_id, product_id, a_shopper(), 3, NOW)[0].position for _ in range(30)]
    assert len(set(positions)) == 30 and min(positions) >= 1
    by_counter: dict[int, list[int]] = {}
    for position in positions:
        by_counter.setdefault((position - 1) % 3, []).append(position)
    for counter, numbers in by_counter.items():  # in join order per counter, none skipped
        assert numbers == [counter + 1 + 3 * n for n in range(len(numbers))]


def test_entrants_are_every_shopper_and_none_of_the_drops_own_items(repos):
    entries, session_id, product_id = repos["entries"], new_id("ses"), new_id("prd")
    shoppers = {a_shopper() for _ in range(25)}
    for shopper in shoppers:
        entries.join(session_id, product_id, shopper, 4, NOW)  # counters #pos#0..3 live in the same partition
    entries.join(session_id, new_id("prd"), a_shopper(), 1, NOW)
    assert sorted(entries.entrants(session_id, product_id)) == sorted(shoppers)
    assert entries.entrants(session_id, new_id("prd")) == []
    assert entries.get(session_id, product_id, "#pos#0") is None  # a state item is no entry


def test_a_join_that_loses_the_race_to_the_same_shoppers_other_join_answers_the_winners_entry(repos):
    entries, session_id, product_id, shopper = repos["entries"], new_id("ses"), new_id("prd"), a_shopper()
    if not hasattr(entries, "db"):
        pytest.skip("the fake joins atomically: there is no race to lose")
    won, _ = entries.join(session_id, product_id, shopper, 1, NOW)
    original_get = entries.get
    entries.get = lambda *args: None  # this join read before the other one wrote
    try:
        assert entries.join(session_id, product_id, shopper, 1, LATER) == (won, False)
    finally:
        entries.get = original_get
    assert entries.entrants(session_id, product_id) == [shopper]
    assert entries.join(session_id, product_id, a_shopper(), 1, NOW)[0].position == 3  # the lost number stays used


def test_read_gives_the_entry_and_the_queue_with_the_highest_position_handed_out(repos):
    entries, session_id, product_id, shopper = repos["entries"], new_id("ses"), new_id("prd"), a_shopper()
    assert entries.read(session_id, product_id, shopper, 2) == (None, QueueState())
    positions = [entries.join(session_id, product_id, a_shopper(), 2, NOW)[0].position for _ in range(5)]
    mine, _ = entries.join(session_id, product_id, shopper, 2, NOW)
    entry, queue = entries.read(session_id, product_id, shopper, 2)
    assert entry == mine and queue == QueueState(issued=max(positions + [mine.position]))
    assert entries.read(session_id, product_id, "#queue", 2)[0] is None


def test_a_step_is_recorded_once_a_second_by_whoever_comes_first(repos):
    entries, session_id, product_id = repos["entries"], new_id("ses"), new_id("prd")
    t = 1_800_000_000_000
    first = QueueState(steps=(Step(t, 10, 10),), last_step_ms=t, left=10, last_admission_ms=t, issued=12)
    assert entries.record_step(session_id, product_id, QueueState(issued=12), first) == first
    rival = replace(first, steps=(Step(t, 3, 10),), issued=12)
    assert entries.record_step(session_id, product_id, QueueState(issued=12), rival) == first  # lost: the winner's
    too_soon = replace(first, last_step_ms=t + 999, left=4)
    assert entries.record_step(session_id, product_id, first, too_soon) == first
    later = QueueState(steps=(Step(t, 10, 10), Step(t + 1000, 14, 4)), lapsed_through=0, last_step_ms=t + 1000,
                       left=4, last_admission_ms=t + 1000, issued=20)
    assert entries.record_step(session_id, product_id, first, later) == later
    stale = replace(first, last_step_ms=t + 5000)
    assert entries.record_step(session_id, product_id, first, stale) == replace(later, issued=stale.issued)
    closed = QueueState(lapsed_through=14, last_step_ms=t + 90_000, left=None, last_admission_ms=None, closed=True,
                        issued=20)
    assert entries.record_step(session_id, product_id, later, closed) == closed
    assert entries.read(session_id, product_id, a_shopper(), 1) == (None, replace(closed, issued=0))
