"""The live layer: featuring products on the stream (timed metadata), what late joiners see,
IVS's stream and recording events, and the shoppable replay."""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Callable, TypeVar, cast

from chalicelib.domain.clock import epoch_ms, iso_ms, to_iso
from chalicelib.domain.ids import is_id
from chalicelib.domain.metadata import MIN_INTERVAL_MS, drop_event_payload, feature_payload
from chalicelib.domain.ownership import found
from chalicelib.domain.ports import (
    Channels, Chat, ChatToken, Clock, Delivery, DropStock, LiveRepository, StockChange, StockRepository,
)
from chalicelib.domain.records import LineupItem, Product, Session, TimelineEntry
from chalicelib.domain.sessions import SessionStatus
from chalicelib.domain.errors import ChatClosed, SessionNotLive
from chalicelib.observability import logger
from chalicelib.services.rate_limits import RateLimiter
from chalicelib.services.sessions import Sessions

SLOT_TRIES = 25  # a burst waits its turn for at most ~5 s before reporting the state as queued
LIKE_SHARDS = 10  # a like is one write on one of these: a popular show is not one hot item
VIEWER_COUNT_SECONDS = 10  # GetStream is asked at most this often per channel and container
TIMELINE_IN_LIVE = 100  # /live carries the newest entries of the timeline, for late joiners
STATES_KEPT = 256  # live states held per container; the least recently read goes first
T = TypeVar("T")


@dataclass(frozen=True)
class LiveState:
    """What a player shows now, for a viewer who joins at any moment."""
    session: Session
    drops: list[tuple[LineupItem, Product | None, DropStock | None]]
    timeline: list[TimelineEntry]
    viewers: int | None
    likes: int


@dataclass(frozen=True)
class Chapter:
    product_id: str
    start_offset_ms: int
    end_offset_ms: int | None


@dataclass
class _Slot:
    state: LiveState | None = None
    started: float = 0.0  # when the state's computation began (monotonic): its reads are no older
    flight: "Future[LiveState] | None" = None  # the computation under way, which later callers wait for
    likes: int = 0  # the highest like count this container has read since
    rendered: tuple[LiveState, Callable[[LiveState], Any], Any] | None = None  # (state, render, render(state))


class LiveStates:
    """Each session's live state, computed at most once per `seconds` per container and served
    from memory in between: a crowd polling /live costs one computation a second, not one a call.

    Single flight: a call that finds the state out of date while another call is computing it
    waits for that computation (and gets its result, or its error) rather than starting its own,
    so 64 threads arriving at once make one computation. `forget` (a write of this container to
    what players are shown) drops the state, and a computation that began before it is not kept.
    `seconds` 0 computes on every call."""

    Flight = Future  # what waiting callers wait on (tests watch them arrive)

    def __init__(self, seconds: float, clock: Clock, capacity: int = STATES_KEPT) -> None:
        self.seconds = seconds
        self.clock = clock
        self.capacity = capacity
        self._lock = threading.Lock()
        self._slots: OrderedDict[str, _Slot] = OrderedDict()

    def get(self, session_id: str, compute: Callable[[], LiveState]) -> LiveState:
        if self.seconds <= 0:
            return compute()
        with self._lock:
            now = self.clock.monotonic()
            slot = self._slots.get(session_id)
            if slot is None:
                slot = self._slots[session_id] = _Slot()
            self._slots.move_to_end(session_id)
            if slot.state is not None and now - slot.started < self.seconds:
                return slot.state
            flight, computing = slot.flight, slot.flight is None
            if computing:
                flight = slot.flight = self.Flight()
        assert flight is not None
        if not computing:
            return flight.result()
        try:
            state = compute()
        except BaseException as error:
            with self._lock:
                if slot.flight is flight:
                    slot.flight = None
                    if slot.state is None and self._slots.get(session_id) is slot:
                        del self._slots[session_id]  # no memory for ids that do not answer
            flight.set_exception(error)
            raise
        with self._lock:
            if slot.flight is flight:  # not forgotten while it was computed
                if state.likes < slot.likes:
                    state = replace(state, likes=slot.likes)
                slot.state, slot.started, slot.flight = state, now, None
                while len(self._slots) > self.capacity:  # on success: an id that fails evicts nothing
                    self._slots.popitem(last=False)
        flight.set_result(state)
        return state

    def rendered(self, session_id: str, compute: Callable[[], LiveState], render: Callable[[LiveState], T]) -> T:
        """`render(state)`, made once per state: the callers of the same second share its bytes."""
        state = self.get(session_id, compute)
        with self._lock:
            slot = self._slots.get(session_id)
            if slot is not None and slot.rendered is not None and slot.rendered[0] is state \
                    and slot.rendered[1] is render:
                return cast(T, slot.rendered[2])
        output = render(state)  # outside the lock: two callers may both render a new state, once
        with self._lock:
            if slot is not None and slot.state is state:
                slot.rendered = (state, render, output)
        return output

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._slots.pop(session_id, None)

    def saw_likes(self, session_id: str, likes: int) -> None:
        """A like count read here (a like's answer): the kept state shows at least that many. A
        like is not a change that makes the state be computed again: a liking crowd would."""
        with self._lock:
            slot = self._slots.get(session_id)
            if slot is None or likes <= slot.likes:
                return
            slot.likes = likes
            if slot.state is not None and slot.state.likes < likes:
                slot.state = replace(slot.state, likes=likes)


class Live:
    def __init__(self, sessions: Sessions, repo: LiveRepository, stock: StockRepository, channels: Channels,
                 chat: Chat, replay_base_url: str | None, clock: Clock, limiter: RateLimiter,
                 stock_changes: Callable[[list[Any]], list[StockChange]] = lambda records: [],
                 state_seconds: float = 1.0) -> None:
        self.states = LiveStates(state_seconds, clock)
        self.limiter = limiter
        self.stock_changes = stock_changes
        self.chat = chat
        self._viewers: dict[str, tuple[int | None, float]] = {}
        self.sessions = sessions
        self.repo = repo
        self.stock = stock
        self.channels = channels
        self.replay_base_url = replay_base_url
        self.clock = clock

    def _now_ms(self) -> int:
        return epoch_ms(self.clock.now())

    def feature(self, brand_id: str, session_id: str, product_id: str) -> tuple[TimelineEntry, Delivery, int]:
        """Pin a lineup product: stored first (so /live shows it at once), then sent to the stream."""
        session = self.sessions.get_owned(brand_id, session_id)
        lineup = {item.product_id: (item, product) for item, product in self.sessions.lineup_of(session_id)}
        item, product = found(lineup.get(product_id), "product in this lineup", product_id, field="productId")
        now = self.clock.now()
        try:
            entry = self.sessions.repo.set_featured(brand_id, TimelineEntry(
                session_id=session_id, seq=epoch_ms(now), type="feature", product_id=product_id,
                at=to_iso(now), price=item.price))
            stock = self.stock.levels([item]).get(product_id)
            payload = feature_payload(entry.seq, entry.at, product_id, product.title if product else "",
                                      product.images[0] if product and product.images else None, item.price.amount,
                                      item.price.currency, sum(stock.left.values()) if stock else None)
            delivery, sent_at = self._send(session, payload, wait=True, newest_only=entry.seq)
            outcome = "delivered" if delivery.delivered else delivery.reason or "not_delivered"
            self.repo.mark_delivery(session_id, entry.seq, outcome, sent_at)
        finally:
            self.states.forget(session_id)  # the brand's next /live here shows its pin and its delivery
        return replace(entry, delivery=outcome, sent_at=sent_at), delivery, len(payload.encode())

    def state(self, session_id: str) -> LiveState:
        """At most `state_seconds` old (LiveStates): the same for every viewer of this container."""
        return self.states.get(session_id, lambda: self._compute_state(session_id))

    def state_as(self, session_id: str, render: Callable[[LiveState], T]) -> T:
        """The state as `render` makes it (the API's JSON), rendered once per state, not per call."""
        return self.states.rendered(session_id, lambda: self._compute_state(session_id), render)

    def _compute_state(self, session_id: str) -> LiveState:
        session = self.sessions.get_public(session_id)
        lineup = self.sessions.lineup_of(session_id)
        stock = self.stock.levels(item for item, _ in lineup)
        return LiveState(session=session,
                         drops=[(item, product, stock.get(item.product_id)) for item, product in lineup],
                         timeline=self.repo.recent(session_id, TIMELINE_IN_LIVE), viewers=self.viewers(session),
                         likes=self.likes(session_id))

    def replay(self, session_id: str) -> tuple[Session, list[Chapter]]:
        session = self.sessions.get_public(session_id)
        return session, self.chapters(session)

    def timeline(self, session_id: str) -> list[TimelineEntry]:
        return self.repo.timeline(session_id)

    def viewers(self, session: Session) -> int | None:
        if session.status is not SessionStatus.LIVE:
            return None
        cached = self._viewers.get(session.channel.arn)
        if cached is None or self.clock.monotonic() - cached[1] > VIEWER_COUNT_SECONDS:
            cached = (self.channels.viewer_count(session.channel.arn), self.clock.monotonic())
            self._viewers[session.channel.arn] = cached
        return cached[0]

    # --- engagement and chat ---------------------------------------------------------------------

    def like(self, session_id: str, shopper_id: str) -> int:
        session = self.sessions.get_public(session_id)
        if session.status is not SessionStatus.LIVE:
            raise SessionNotLive("likes are counted during the show")
        self.limiter.check("like", f"{session.id}#{shopper_id}")
        self.repo.like(session.id, self._now_ms(), LIKE_SHARDS)
        likes = self.likes(session.id)
        self.states.saw_likes(session.id, likes)
        return likes

    def likes(self, session_id: str) -> int:
        return self.repo.likes(session_id, LIKE_SHARDS)

    def chat_token(self, session_id: str, shopper_id: str) -> ChatToken:
        session = self.sessions.get_public(session_id)
        if session.status is SessionStatus.ENDED or not session.chat_room_arn:
            raise ChatClosed()
        self.limiter.check("chat_token", f"{session.id}#{shopper_id}")
        return self.chat.token(session.chat_room_arn, shopper_id)

    def moderate(self, brand_id: str, session_id: str, message_id: str | None = None,
                 user_id: str | None = None, reason: str | None = None) -> None:
        session = self.sessions.get_owned(brand_id, session_id)
        if not session.chat_room_arn or session.deleted_at:
            raise ChatClosed()
        if message_id is not None:
            self.chat.delete_message(session.chat_room_arn, message_id, reason)
        if user_id is not None:
            self.chat.disconnect_user(session.chat_room_arn, user_id, reason)

    # --- drop events from the stock table's stream ------------------------------------------

    def on_stock_records(self, records: list[Any]) -> list[str]:
        """The stock table's stream records (decoded by the `stock_changes` port): a drop that
        opened or sold out goes to the stream (and the timeline) for sure; otherwise a units-left
        tick, at most one a second per item, when the channel has a free slot. Returns what was sent."""
        changed: dict[tuple[str, str], StockChange] = {}
        for change in self.stock_changes(records):
            key = (change.session_id, change.product_id)
            seen = changed.get(key)
            changed[key] = change if seen is None else StockChange(
                change.session_id, change.product_id, seen.opened or change.opened, seen.emptied or change.emptied)
        sent = []
        for (session_id, product_id), seen in changed.items():
            sent += self._drop_events(session_id, product_id, seen.opened, seen.emptied)
        return sent

    def announce_timed_openings(self) -> int:
        """Drops with an opening time of their own open by the clock, with no write for the stream
        to see: the scheduled function announces each once its time has come (the timeline
        remembers which were announced). Players have `opensAt` in /live for the exact moment."""
        now = to_iso(self.clock.now())
        announced = 0
        cursor = None
        while True:
            sessions, cursor = self.sessions.repo.list_by_status(SessionStatus.LIVE, 100, cursor, newest_first=False)
            for session in sessions:
                due = [d for d in self.sessions.lineup.list_for_session(session.id)
                       if d.opens_at and d.opens_at <= now and (d.closes_at is None or now < d.closes_at)]
                if not due:
                    continue
                done = {e.product_id for e in self.repo.timeline(session.id) if e.type == "drop_open"}
                for drop in due:
                    if drop.product_id not in done:
                        self._drop_events(session.id, drop.product_id, opened=True, emptied=False)
                        announced += 1
            if not cursor:
                return announced

    def _drop_events(self, session_id: str, product_id: str, opened: bool, emptied: bool) -> list[str]:
        session = self.sessions.repo.get(session_id)
        drop = next((item for item in self.sessions.lineup.list_for_session(session_id)
                     if item.product_id == product_id), None)
        if session is None or drop is None:
            return []
        stock = self.stock.levels([drop]).get(product_id)
        left = sum(stock.left.values()) if stock else 0
        kinds = (["drop_open"] if opened else []) + (["sold_out"] if emptied and left == 0 else [])
        now_ms = self._now_ms()
        if not kinds and self.repo.claim_ticker(session_id, product_id, now_ms, 1000):
            kinds = ["stock"]
        sent = []
        for kind in kinds:
            must_arrive = kind != "stock"  # a tick can be skipped: the next one carries newer units
            entry = TimelineEntry(session_id=session_id, seq=now_ms, type=kind, product_id=product_id,
                                  at=to_iso(self.clock.now()), price=drop.price)
            if must_arrive:
                entry = self.repo.append(entry)
            payload = drop_event_payload(kind, entry.seq, entry.at, product_id, left)
            delivery, sent_at = self._send(session, payload, wait=must_arrive)
            if must_arrive:
                self.repo.mark_delivery(session_id, entry.seq,
                                        "delivered" if delivery.delivered else delivery.reason or "", sent_at)
                self.states.forget(session_id)  # rare (twice a drop at most): no crowd behind it
            if delivery.delivered:
                sent.append(kind)
        return sent

    def _send(self, session: Session, payload: str, wait: bool,
              newest_only: int | None = None) -> tuple[Delivery, int | None]:
        """Within 5 PutMetadata/s per channel: take the channel's send slot (waiting for it, or
        giving up at once for what can be skipped). With `newest_only`, a pin is sent only if it
        is still the newest: a newer pin's own request sends that one, so in a burst the older
        states are coalesced away and the newest is never dropped."""
        for _ in range(SLOT_TRIES if wait else 1):
            now_ms = self._now_ms()
            claimed, wait_ms = self.repo.claim_send_slot(session.id, now_ms, MIN_INTERVAL_MS)
            if claimed:
                if newest_only is not None and self.sessions.repo.featured_seq(session.id) not in (None, newest_only):
                    return Delivery(False, "superseded"), None
                return self.channels.put_metadata(session.channel.arn, payload), now_ms
            if wait:
                self.clock.sleep(wait_ms / 1000)
        return Delivery(False, "queued" if wait else "skipped"), None

    # --- IVS events (EventBridge) --------------------------------------------------------------

    def on_stream_state(self, channel_name: str, event_name: str) -> str | None:
        """IVS names the channel after the session: Stream Start -> live, Stream End -> ended."""
        target = {"Stream Start": SessionStatus.LIVE, "Stream End": SessionStatus.ENDED}.get(event_name)
        session = self.sessions.repo.get(channel_name) if is_id(channel_name, "ses") else None
        if target is None or session is None:
            logger.info("IVS stream event ignored", extra={"channel": channel_name, "event": event_name})
            return None
        if session.status is SessionStatus.ENDED or (target is SessionStatus.LIVE and session.status is SessionStatus.LIVE):
            return str(session.status.value)  # late or repeated events change nothing
        return str(self.sessions.move(session.brand_id, session.id, target).status.value)

    def on_recording_end(self, channel_name: str, bucket: str, key_prefix: str) -> str | None:
        session = self.sessions.repo.get(channel_name) if is_id(channel_name, "ses") else None
        if session is None:
            return None
        base = self.replay_base_url or f"https://{bucket}.s3.amazonaws.com"
        url = f"{base.rstrip('/')}/{key_prefix}/media/hls/master.m3u8"
        self.sessions.repo.set_replay(session.id, url)
        return url

    def chapters(self, session: Session) -> list[Chapter]:
        """One chapter per feature window: from a pin to the next pin (or the end of the show),
        as offsets from the start of the show, so a replay viewer can buy what was on screen."""
        if not session.started_at:
            return []
        start = iso_ms(session.started_at)
        features = [e for e in self.repo.timeline(session.id) if e.type == "feature"]
        before = [e for e in features if iso_ms(e.at) < start][-1:]  # pinned before the show: on screen at 0
        windows = [(e.product_id, start if e in before else iso_ms(e.at)) for e in before + [
            e for e in features if iso_ms(e.at) >= start]]
        end = None if session.ended_at is None else iso_ms(session.ended_at)
        chapters = []
        for index, (product_id, begins) in enumerate(windows):
            ends = windows[index + 1][1] if index + 1 < len(windows) else end
            chapters.append(Chapter(product_id, begins - start, None if ends is None else ends - start))
        return chapters

