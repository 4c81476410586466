"""Use cases of live sessions: scheduling, the lineup, going live and ending."""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, Callable, TypeVar

from chalicelib.domain.clock import epoch_ms, to_iso
from chalicelib.domain import draws
from chalicelib.domain.drops import DropMode, changeable, entry_shards_for, shards_for
from chalicelib.domain.ids import new_id
from chalicelib.domain.ownership import found, owned, require_well_formed, well_formed
from chalicelib.domain.money import Money
from chalicelib.domain.ports import (
    Channels, Chat, Clock, LineupRepository, OwnedSession, ProductRepository, SessionRepository, StockRepository,
)
from chalicelib.domain.records import LineupItem, Product, Session
from chalicelib.domain.sessions import LINEUP_EDITABLE, TRANSITIONS, SessionStatus
from chalicelib.domain.errors import DropOpened, InvalidInput, NotFound, SessionEnded, SessionNotEditable


@dataclass(frozen=True)
class ChannelDefaults:
    """The deployment's IVS channel settings, for sessions that name none."""
    channel_type: str
    latency_mode: str
    recording_configuration_arn: str | None = None


Change = TypeVar("Change", bound=Callable[..., Any])


def changes_players_view(method: Change) -> Change:
    """A use case that changes what a session's players are shown (lineup, status): once it has
    succeeded, the listeners hear the session's id (the live state cache forgets it). Not on a
    refusal: another brand's refused write must not make a show's state be computed again."""
    @functools.wraps(method)
    def changing(self: "Sessions", brand_id: str, session_id: str, *args: Any, **kwargs: Any) -> Any:
        result = method(self, brand_id, session_id, *args, **kwargs)
        for listener in self.listeners:
            listener(session_id)
        return result

    return changing  # type: ignore[return-value]


class Sessions:
    def __init__(self, repo: SessionRepository, lineup: LineupRepository, products: ProductRepository,
                 stock: StockRepository, channels: Channels, chat: Chat, defaults: ChannelDefaults,
                 clock: Clock) -> None:
        self.listeners: list[Callable[[str], None]] = []  # see changes_players_view
        self.chat = chat
        self.repo = repo
        self.stock = stock
        self.lineup = lineup
        self.products = products
        self.channels = channels
        self.defaults = defaults
        self.clock = clock

    def schedule(self, brand_id: str, title: str, scheduled_at: str | None, hold_seconds: int = 600,
                 channel_type: str | None = None, latency_mode: str | None = None) -> Session:
        session_id = new_id("ses")
        channel_type = channel_type or self.defaults.channel_type
        latency_mode = latency_mode or self.defaults.latency_mode
        channel = self.channels.create(session_id, brand_id, channel_type, latency_mode,
                                       self.defaults.recording_configuration_arn)
        try:
            room_arn = self.chat.create_room(session_id, brand_id)
        except Exception:
            self.channels.delete(channel.arn)
            raise
        at = to_iso(self.clock.now())
        session = Session(
            id=session_id, brand_id=brand_id, title=title, status=SessionStatus.SCHEDULED,
            scheduled_at=scheduled_at or at, created_at=at, started_at=None, ended_at=None, channel=channel,
            hold_seconds=hold_seconds, channel_type=channel_type, latency_mode=latency_mode, chat_room_arn=room_arn,
        )
        try:
            self.repo.add(session)
        except Exception:
            # Leave no channel or room behind a session that was not stored.
            self.channels.delete(channel.arn)
            self.chat.delete_room(room_arn)
            raise
        return session

    def _load(self, session_id: str) -> Session | None:
        return self.repo.get(session_id) if well_formed(session_id, "ses") else None

    def get_public(self, session_id: str) -> Session:
        return found(self._load(session_id), "session", session_id)

    def get_owned(self, brand_id: str, session_id: str) -> Session:
        return owned(self._load(session_id), brand_id, "session", session_id)

    def lineup_of(self, session_id: str) -> list[tuple[LineupItem, Product | None]]:
        items = self.lineup.list_for_session(session_id)
        products = self.products.get_many(item.product_id for item in items)
        return [(item, products.get(item.product_id)) for item in items]

    def list_public(self, status: SessionStatus, limit: int, cursor: str | None) -> tuple[list[Session], str | None]:
        # Upcoming and live shows soonest first; past shows most recent first.
        return self.repo.list_by_status(status, limit, cursor, newest_first=status is SessionStatus.ENDED)

    def list_owned(self, brand_id: str, status: SessionStatus | None, limit: int,
                   cursor: str | None) -> tuple[list[OwnedSession], str | None]:
        """The brand's own sessions, every status unless one is named, latest scheduled first."""
        return self.repo.list_for_brand(brand_id, status, limit, cursor)

    @changes_players_view
    def add_to_lineup(self, brand_id: str, session_id: str, product_id: str, price: Money | None,
                      quantity: int | None, per_customer_limit: int | None, opens_at: str | None = None,
                      closes_at: str | None = None, shards: int | None = None,
                      expected_orders_per_second: int | None = None, mode: DropMode = DropMode.OPEN,
                      verified_only: bool = False, hold_seconds: int | None = None,
                      expected_entries_per_second: int | None = None) -> tuple[LineupItem, Product]:
        session = self.get_owned(brand_id, session_id)
        if session.status not in LINEUP_EDITABLE:
            raise SessionNotEditable(session.status.value)
        hold_seconds = self._drop_hold(session, hold_seconds)
        if mode is DropMode.DRAW and opens_at is None:
            raise InvalidInput.of("opensAt", "a draw drop needs opensAt: entries are taken until then, then it is drawn")
        if mode is DropMode.QUEUE and per_customer_limit is None:
            per_customer_limit = 1  # the queue admits one shopper per unit left: one admission, one unit
        product = owned(self.products.get(product_id) if well_formed(product_id, "prd") else None,
                        brand_id, "product", product_id, field="productId")
        # Without a quantity the drop takes the whole stock as it is now; the transaction checks it is still there.
        allocated = product.stock if quantity is None else quantity
        if mode is DropMode.DRAW and allocated > draws.MAX_DRAW_UNITS:
            # The draw's record lists its winners in one item (domain/draws.py).
            raise InvalidInput.of("quantity", f"a draw drop has at most {draws.MAX_DRAW_UNITS} units")
        now = self.clock.now()
        at = to_iso(now)
        if opens_at is None and session.status is SessionStatus.LIVE:
            opens_at = at  # added during the show: on sale at once
        item = LineupItem(
            session_id=session_id, product_id=product_id, brand_id=brand_id, price=price or product.price,
            quantity=allocated, per_customer_limit=per_customer_limit, added_at=at, opens_at=opens_at,
            closes_at=closes_at,
            shards=max(1, min(shards or shards_for(expected_orders_per_second, allocated), max(allocated, 1))),
            hold_seconds=hold_seconds, mode=mode, verified_only=verified_only,
            entry_shards=entry_shards_for(expected_entries_per_second),
            draw_seed=draws.new_seed() if mode is DropMode.DRAW else None,
            # Not 0: a product removed and added again must not match a container's cached old item.
            revision=epoch_ms(now),
        )
        self.lineup.add_taking_stock(item, session.status)
        return item, product

    def _drop_before_opening(self, brand_id: str, session_id: str,
                             product_id: str) -> tuple[Session, LineupItem, int, str]:
        """(session, lineup item, lineup size, now) of a drop that may still change: the session
        editable and the drop `changeable` by its opening time (its shards', else its own), in
        whatever status the session is. The repository's transaction checks the same again as it
        writes, and that no unit has left any shard."""
        session = self.get_owned(brand_id, session_id)
        drops = self.lineup.list_for_session(session.id)
        item = next((drop for drop in drops if drop.product_id == product_id), None)
        if item is None:
            raise NotFound("product", product_id, field="productId",
                           detail=f"product {product_id} is not in this session's lineup")
        if session.status not in LINEUP_EDITABLE:
            raise SessionNotEditable(session.status.value)
        now = to_iso(self.clock.now())
        window = self.stock.levels([item]).get(product_id)
        opens_at = window.opens_at if window else item.opens_at
        if not changeable(now, opens_at):
            raise DropOpened(product_id, opens_at)
        return session, item, len(drops), now

    @changes_players_view
    def change_drop(self, brand_id: str, session_id: str, product_id: str,
                    changes: dict[str, Any]) -> tuple[LineupItem, Product | None]:
        """Change a drop's session price (`price`), per-customer limit (`per_customer_limit`,
        None removes it), `verified_only` or `hold_seconds` before it opens."""
        session, item, _, now = self._drop_before_opening(brand_id, session_id, product_id)
        if item.mode is not DropMode.OPEN and changes.get("verified_only", item.verified_only) != item.verified_only:
            # Its entrants joined under the rule it had: the queue or draw would admit or pick them anyway.
            raise InvalidInput.of("verifiedOnly", f"a {item.mode.value} drop's verifiedOnly is set when it is added")
        changed = replace(item, price=changes.get("price", item.price),
                          per_customer_limit=changes.get("per_customer_limit", item.per_customer_limit),
                          verified_only=changes.get("verified_only", item.verified_only),
                          hold_seconds=(self._drop_hold(session, changes["hold_seconds"]) if "hold_seconds" in changes
                                        else item.hold_seconds))
        self.lineup.update_before_opening(changed, session.status, now)  # at item.revision, to the next
        return replace(changed, revision=item.revision + 1), self.products.get(product_id)

    @staticmethod
    def _drop_hold(session: Session, hold_seconds: int | None) -> int:
        """A drop may hold its reservations for less than its session does, never longer."""
        if hold_seconds is None:
            return session.hold_seconds
        if hold_seconds > session.hold_seconds:
            raise InvalidInput.of("holdSeconds", f"at most the session's holdSeconds ({session.hold_seconds})")
        return hold_seconds

    @changes_players_view
    def remove_drop(self, brand_id: str, session_id: str, product_id: str) -> int:
        """Take a drop out of the lineup before it opens; its units go back to the product's
        stock in the same transaction. The units returned."""
        session, item, lineup_size, now = self._drop_before_opening(brand_id, session_id, product_id)
        self.lineup.remove_returning_stock(item, session.status, now, lineup_size)
        return item.quantity

    @changes_players_view
    def move(self, brand_id: str, session_id: str, target: SessionStatus) -> Session:
        require_well_formed(session_id, "ses", "session")
        at = to_iso(self.clock.now())
        session = self.repo.move_status(brand_id, session_id, target, TRANSITIONS[target], at)
        # Drops without their own times open when the show goes live and close when it ends.
        # After the status write, so a retried start or end finishes what a failed one began.
        drops = self.lineup.list_for_session(session_id)
        if target is SessionStatus.LIVE:
            self.stock.set_window_edge(drops, opens_at=session.started_at)
        else:
            self.stock.set_window_edge(drops, closes_at=session.ended_at)
            if not session.deleted_at:
                self.channels.stop_stream(session.channel.arn)  # the show is over: cut the broadcast too
        return session

    @changes_players_view
    def delete(self, brand_id: str, session_id: str) -> bool:
        """Delete the session's IVS channel and chat room; and the session itself when it holds no
        drops (with drops, its record stays for its orders and replay). True if removed.

        A delete racing a lineup add or a start is decided by one conditional write on the
        session (its status and its drop count): one of the two loses, and no unit moves. The
        channel goes only after that, so a failed request is finished by its retry."""
        require_well_formed(session_id, "ses", "session")
        session = self.repo.close_for_deletion(brand_id, session_id, to_iso(self.clock.now()))
        self.channels.delete(session.channel.arn)
        if session.chat_room_arn:
            self.chat.delete_room(session.chat_room_arn)
        if self.lineup.list_for_session(session_id):
            return False  # sessions stored before drops were counted
        return self.repo.delete_closed(brand_id, session_id)

    def ingest(self, brand_id: str, session_id: str) -> tuple[str, str]:
        """The broadcaster's endpoint and stream key, fetched from IVS for the owner only."""
        session = self.get_owned(brand_id, session_id)
        if session.deleted_at:
            raise SessionEnded("the session was deleted: its channel is gone")
        return session.channel.ingest_endpoint, self.channels.stream_key(session.channel.arn)
