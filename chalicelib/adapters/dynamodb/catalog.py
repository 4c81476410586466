"""Repositories of brands, products, sessions and lineups, speaking in domain records.

Every write that has a rule states it as one condition, so that concurrent requests can never
break it: stock never goes below zero, a lineup item is added once, a status moves only from the
statuses its action allows, and each write also checks the brand that owns the item.
"""
from __future__ import annotations

from typing import Any, Iterable

from chalicelib.adapters.dynamodb.models import (
    DRAW_DUE, BrandModel, Db, LineupModel, ProductModel, SessionModel, SessionsByBrand, StockShardModel, TimelineModel,
)
from chalicelib.adapters.dynamodb.support import (
    Cancelled, ConditionFailed, Transaction, at_revision, page, transact, update_or_old,
)
from chalicelib.domain.drops import DropMode, shard_key, split
from chalicelib.domain.errors import (
    AlreadyInLineup, Busy, DropOpened, InsufficientStock, InvalidTransition, NotFound, SessionChanged, SessionEnded,
    SessionHasDrops, SessionLive,
)
from chalicelib.domain.money import Money
from chalicelib.domain.ports import OwnedSession
from chalicelib.domain.records import Brand, Channel, LineupItem, Product, Session, TimelineEntry
from chalicelib.domain.sessions import SessionStatus, list_key

LISTING_PAGE = 100  # items a filtered listing reads per request
FEATURE_ATTEMPTS = 60  # pins racing for the next seq: each refusal tells the seq to go above


def _brand(row: BrandModel) -> Brand:
    return Brand(id=row.id, name=row.name, api_key_hash=row.api_key_hash, created_at=row.created_at)


def _product(row: ProductModel) -> Product:
    return Product(
        id=row.id, brand_id=row.brand_id, title=row.title, description=row.description,
        price=Money(int(row.price_amount), row.currency), stock=int(row.stock),
        images=tuple(row.images or ()), created_at=row.created_at, updated_at=row.updated_at,
    )


def _session(row: SessionModel) -> Session:
    return Session(
        id=row.id, brand_id=row.brand_id, title=row.title, status=SessionStatus(row.status),
        scheduled_at=row.scheduled_at, created_at=row.created_at, started_at=row.started_at,
        ended_at=row.ended_at,
        channel=Channel(arn=row.channel_arn, playback_url=row.playback_url,
                        ingest_endpoint=row.ingest_endpoint),
        hold_seconds=int(row.hold_seconds), channel_type=row.channel_type, latency_mode=row.latency_mode,
        featured_product_id=row.featured_product_id, replay_url=row.replay_url, chat_room_arn=row.chat_room_arn,
        deleted_at=row.deleted_at,
    )


def _owned_session(row: SessionModel) -> OwnedSession:
    return OwnedSession(_session(row), int(row.lineup_count or 0))


def _lineup_item(row: LineupModel) -> LineupItem:
    return LineupItem(
        session_id=row.session_id, product_id=row.product_id, brand_id=row.brand_id,
        price=Money(int(row.price_amount), row.currency), quantity=int(row.quantity),
        per_customer_limit=None if row.per_customer_limit is None else int(row.per_customer_limit),
        added_at=row.added_at, opens_at=row.opens_at, closes_at=row.closes_at, shards=int(row.shards),
        hold_seconds=int(row.hold_seconds), revision=int(row.revision or 0),
        mode=DropMode(row.mode or DropMode.OPEN.value), verified_only=bool(row.verified_only),
        entry_shards=int(row.entry_shards or 1), draw_seed=row.draw_seed,
    )


class BrandRepository:
    def add(self, brand: Brand) -> None:
        BrandModel(id=brand.id, name=brand.name, api_key_hash=brand.api_key_hash,
                   created_at=brand.created_at).save(condition=BrandModel.id.does_not_exist())

    def get(self, brand_id: str) -> Brand | None:
        try:
            return _brand(BrandModel.get(brand_id))
        except BrandModel.DoesNotExist:
            return None


class ProductRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, product: Product) -> None:
        ProductModel(
            id=product.id, brand_id=product.brand_id, title=product.title,
            description=product.description, price_amount=product.price.amount,
            currency=product.price.currency, stock=product.stock, images=list(product.images) or None,
            created_at=product.created_at, updated_at=product.updated_at,
        ).save(condition=ProductModel.id.does_not_exist())

    def get(self, product_id: str) -> Product | None:
        try:
            return _product(ProductModel.get(product_id))
        except ProductModel.DoesNotExist:
            return None

    def get_many(self, product_ids: Iterable[str]) -> dict[str, Product]:
        keys = list(dict.fromkeys(product_ids))
        return {row.id: _product(row) for row in ProductModel.batch_get(keys)} if keys else {}

    def list_for_brand(self, brand_id: str, limit: int, cursor: str | None) -> tuple[list[Product], str | None]:
        partition = ("brandId", brand_id)
        start = self.db.cursors.decode(cursor, partition)
        results = ProductModel.by_brand.query(brand_id, limit=limit, last_evaluated_key=start)
        return page(results, _product, self.db.cursors, partition)

    def update(self, brand_id: str, product_id: str, changes: dict[str, Any], updated_at: str) -> Product:
        """Apply `changes` (field name -> new value, None to remove) to the brand's own product."""
        attributes = {
            "title": ProductModel.title, "description": ProductModel.description,
            "images": ProductModel.images,
        }
        actions = [ProductModel.updated_at.set(updated_at)]
        for name, value in changes.items():
            if name == "price":
                actions += [ProductModel.price_amount.set(value.amount), ProductModel.currency.set(value.currency)]
            elif value is None:
                actions.append(attributes[name].remove())
            else:
                actions.append(attributes[name].set(list(value) if name == "images" else value))
        try:
            row = update_or_old(ProductModel, product_id, actions=actions, condition=ProductModel.brand_id == brand_id)
        except ConditionFailed:
            raise NotFound("product", product_id) from None
        return _product(row)

    def adjust_stock(self, brand_id: str, product_id: str, delta: int, updated_at: str) -> Product:
        """Add `delta` (negative to take) in one conditional write: stock never goes below zero."""
        try:
            row = update_or_old(
                ProductModel, product_id,
                actions=[ProductModel.stock.add(delta), ProductModel.updated_at.set(updated_at)],
                condition=(ProductModel.brand_id == brand_id) & (ProductModel.stock >= -delta),
            )
        except ConditionFailed as failure:
            old = failure.old
            if old is None or old.brand_id != brand_id:
                raise NotFound("product", product_id) from None
            raise InsufficientStock(int(old.stock)) from None
        return _product(row)


class SessionRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, session: Session) -> None:
        SessionModel(
            id=session.id, brand_id=session.brand_id, title=session.title, status=session.status.value,
            list_key=list_key(session.scheduled_at, session.id), scheduled_at=session.scheduled_at,
            created_at=session.created_at, channel_arn=session.channel.arn,
            playback_url=session.channel.playback_url, ingest_endpoint=session.channel.ingest_endpoint,
            hold_seconds=session.hold_seconds, channel_type=session.channel_type,
            latency_mode=session.latency_mode, chat_room_arn=session.chat_room_arn,
        ).save(condition=SessionModel.id.does_not_exist())

    def get(self, session_id: str) -> Session | None:
        try:
            return _session(SessionModel.get(session_id))
        except SessionModel.DoesNotExist:
            return None

    def close_for_deletion(self, brand_id: str, session_id: str, at: str) -> Session:
        """One conditional write decides a delete racing a lineup add or a start: the session
        must be the brand's, not live, and hold no drops unless it has ended. It ends (so nothing
        can start it or add to it any more) and is marked for deletion."""
        no_drops = SessionModel.lineup_count.does_not_exist() | (SessionModel.lineup_count == 0)
        try:
            row = update_or_old(
                SessionModel, session_id,
                actions=[SessionModel.status.set(SessionStatus.ENDED.value),
                         SessionModel.ended_at.set(SessionModel.ended_at | at),
                         SessionModel.deleted_at.set(SessionModel.deleted_at | at)],
                condition=(SessionModel.brand_id == brand_id)
                & ((SessionModel.status == SessionStatus.ENDED.value)
                   | ((SessionModel.status == SessionStatus.SCHEDULED.value) & no_drops)),
            )
        except ConditionFailed as failure:
            old = failure.old
            if old is None or old.brand_id != brand_id:
                raise NotFound("session", session_id) from None
            if old.status == SessionStatus.LIVE.value:
                raise SessionLive() from None
            raise SessionHasDrops() from None
        return _session(row)

    def delete_closed(self, brand_id: str, session_id: str) -> bool:
        try:
            SessionModel(id=session_id).delete(
                condition=(SessionModel.brand_id == brand_id) & SessionModel.deleted_at.exists()
                & (SessionModel.lineup_count.does_not_exist() | (SessionModel.lineup_count == 0)))
        except Exception as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def list_by_status(self, status: SessionStatus, limit: int, cursor: str | None,
                       newest_first: bool) -> tuple[list[Session], str | None]:
        partition = ("status", status.value)
        start = self.db.cursors.decode(cursor, partition)
        results = SessionModel.by_status.query(
            status.value, limit=limit, last_evaluated_key=start, scan_index_forward=not newest_first,
        )
        return page(results, _session, self.db.cursors, partition)

    def list_for_brand(self, brand_id: str, status: SessionStatus | None, limit: int,
                       cursor: str | None, scheduled_from: str | None = None,
                       scheduled_to: str | None = None) -> tuple[list[OwnedSession], str | None]:
        """One query of the byBrand index, latest scheduled time first, within [from, to) by the
        key (listKey starts with the scheduled time, and `to` sorts before `to#id`). Deleted
        sessions and other statuses are filtered out on the server; PynamoDB reads on until the
        page is full and then resumes from the last item returned, so a filtered page is still
        `limit` long (unless the listing ends)."""
        partition = ("brandSessions", f"{brand_id}#{status.value if status else '*'}#{scheduled_from}#{scheduled_to}")
        start = self.db.cursors.decode(cursor, partition)
        condition = SessionModel.deleted_at.does_not_exist()
        if status is not None:
            condition &= SessionModel.status == status.value
        key = SessionsByBrand.list_key
        period = (key.between(scheduled_from, scheduled_to) if scheduled_from and scheduled_to else
                  key >= scheduled_from if scheduled_from else key < scheduled_to if scheduled_to else None)
        results = SessionModel.by_brand.query(
            brand_id, range_key_condition=period, filter_condition=condition, limit=limit,
            page_size=max(limit, LISTING_PAGE), last_evaluated_key=start, scan_index_forward=False)
        return page(results, _owned_session, self.db.cursors, partition)

    def move_status(self, brand_id: str, session_id: str, target: SessionStatus,
                    allowed_from: Iterable[SessionStatus], at: str) -> Session:
        """Move to `target` only from an allowed status, in one conditional write."""
        stamp = SessionModel.started_at if target is SessionStatus.LIVE else SessionModel.ended_at
        try:
            row = update_or_old(
                SessionModel, session_id,
                # `stamp | at` is if_not_exists: a repeated start keeps the first start time.
                actions=[SessionModel.status.set(target.value), stamp.set(stamp | at)],
                condition=(SessionModel.brand_id == brand_id)
                & SessionModel.status.is_in(*[status.value for status in allowed_from]),
            )
        except ConditionFailed as failure:
            old = failure.old
            if old is None or old.brand_id != brand_id:
                raise NotFound("session", session_id) from None
            raise InvalidTransition(old.status, target.value) from None
        return _session(row)

    def set_featured(self, brand_id: str, entry: TimelineEntry) -> TimelineEntry:
        """Make `entry` the session's featured product and append it to the timeline, together.
        Its seq must be above the featured one: when another pin got there first, the next seq
        above it is taken (the pin that commits last is the one on screen)."""
        seq = entry.seq
        for _ in range(FEATURE_ATTEMPTS):
            tx = Transaction()
            tx.update("session", SessionModel(id=entry.session_id),
                      actions=[SessionModel.featured_product_id.set(entry.product_id), SessionModel.feature_seq.set(seq)],
                      condition=(SessionModel.brand_id == brand_id)
                      & (SessionModel.status != SessionStatus.ENDED.value)
                      & (SessionModel.feature_seq.does_not_exist() | (SessionModel.feature_seq < seq)))
            tx.put("timeline", TimelineModel(session_id=entry.session_id, seq=seq, type=entry.type,
                                             product_id=entry.product_id, at=entry.at,
                                             price_amount=entry.price.amount, currency=entry.price.currency),
                   condition=TimelineModel.seq.does_not_exist())
            try:
                transact(self.db.client, tx)
                return TimelineEntry(**{**entry.__dict__, "seq": seq})
            except Cancelled as cancelled:
                old = cancelled.old("session")
                if "session" in cancelled and (old is None or old.brand_id != brand_id):
                    raise NotFound("session", entry.session_id) from None
                if old is not None and old.status == SessionStatus.ENDED.value:
                    raise SessionEnded("the show has ended: nothing can be featured") from None
                featured = int(old.feature_seq) if old is not None and old.feature_seq is not None else seq
                seq = max(seq, featured) + 1
        raise Busy("too many pins at once; try again")

    def featured_seq(self, session_id: str) -> int | None:
        row = SessionModel.get(session_id, consistent_read=True, attributes_to_get=["id", "featureSeq"])
        return None if row.feature_seq is None else int(row.feature_seq)

    def set_replay(self, session_id: str, replay_url: str) -> None:
        update_or_old(SessionModel, session_id, actions=[SessionModel.replay_url.set(replay_url)],
                      condition=SessionModel.id.exists())


class LineupRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    def list_for_session(self, session_id: str) -> list[LineupItem]:
        # Consistent: a start or end must see a drop added just before it (or it never opens or closes).
        return [_lineup_item(row) for row in LineupModel.query(session_id, consistent_read=True)]

    def add_taking_stock(self, item: LineupItem, session_status: SessionStatus) -> None:
        """Allocate the item's quantity from the product's stock into its drop shards, all or nothing.

        One transaction: the session must be the brand's and still in the status it was read in
        (a drop added to a live session opens at once, one added before the show opens with it)
        and counts the drop (a delete is conditioned on that count), the product the brand's with
        enough stock, and the product not yet in the lineup.
        """
        tx = Transaction()
        tx.update("session", SessionModel(id=item.session_id), actions=[SessionModel.lineup_count.add(1)],
                  condition=(SessionModel.brand_id == item.brand_id) & (SessionModel.status == session_status.value))
        tx.put("lineup", LineupModel(
            session_id=item.session_id, product_id=item.product_id, brand_id=item.brand_id,
            price_amount=item.price.amount, currency=item.price.currency, quantity=item.quantity,
            per_customer_limit=item.per_customer_limit, added_at=item.added_at, opens_at=item.opens_at,
            closes_at=item.closes_at, shards=item.shards, hold_seconds=item.hold_seconds, revision=item.revision,
            mode=item.mode.value, verified_only=item.verified_only, entry_shards=item.entry_shards,
            draw_seed=item.draw_seed,
            # On the draws-due index until its draw is made and allocated (adapters/dynamodb/draws.py).
            draw_due=DRAW_DUE if item.mode is DropMode.DRAW else None,
        ), condition=LineupModel.product_id.does_not_exist())
        for shard, units in enumerate(split(item.quantity, item.shards)):
            tx.put(("shard", shard), StockShardModel(
                shard_key=shard_key(item.session_id, item.product_id, shard), session_id=item.session_id,
                product_id=item.product_id, left=units, opens_at=item.opens_at, closes_at=item.closes_at,
                revision=item.revision))
        tx.update("product", ProductModel(id=item.product_id),
                  actions=[ProductModel.stock.add(-item.quantity), ProductModel.updated_at.set(item.added_at)],
                  condition=(ProductModel.brand_id == item.brand_id) & (ProductModel.stock >= item.quantity))
        try:
            transact(self.db.client, tx)
        except Cancelled as cancelled:
            if "session" in cancelled:
                raise SessionChanged("the session changed status meanwhile (or was deleted); read it again") from None
            if "lineup" in cancelled:
                raise AlreadyInLineup(item.product_id) from None
            old = cancelled.old("product")
            if old is None or old.brand_id != item.brand_id:
                raise NotFound("product", item.product_id, field="productId") from None
            raise InsufficientStock(int(old.stock), wanted=item.quantity) from None

    def _editable(self, tx: Transaction, item: LineupItem, session_status: SessionStatus) -> None:
        """The session must be the brand's and in the status the service read (a start in between
        opens drops without a time of their own)."""
        tx.check("session", SessionModel(id=item.session_id),
                 condition=(SessionModel.brand_id == item.brand_id) & (SessionModel.status == session_status.value))

    @staticmethod
    def _refused(cancelled: Cancelled, item: LineupItem) -> Exception:
        if "session" in cancelled:
            old = cancelled.old("session")
            if old is None or old.brand_id != item.brand_id:
                return NotFound("session", item.session_id)
            return SessionChanged("the session changed status meanwhile; read it again")
        if "lineup" in cancelled:
            old = cancelled.old("lineup")
            if old is not None and old.brand_id == item.brand_id:
                return SessionChanged("the drop changed meanwhile; read it again")  # another change's revision
            return NotFound("product", item.product_id, field="productId",
                            detail=f"product {item.product_id} is not in this session's lineup")
        shards = [label for label in cancelled.refusals if isinstance(label, tuple) and label[0] == "shard"]
        if shards:
            old = cancelled.old(shards[0])
            return DropOpened(item.product_id, old.opens_at if old is not None else None)
        return NotFound("product", item.product_id, field="productId")

    def update_before_opening(self, item: LineupItem, session_status: SessionStatus, now: str) -> None:
        """One transaction: the session checked, the item written at the revision it was read
        at, and every shard checked not open at `now` and still holding its full share. `now` was
        read before the transaction, so the drop may have opened since; a shard with a unit gone
        refuses then, and a new price or limit never commits after a sale at the old one.

        The item and every shard go to the next revision together: a checkout priced from the
        item as it was is refused by the shard it takes from, and reads the lineup again."""
        tx = Transaction()
        self._editable(tx, item, session_status)
        limit = (LineupModel.per_customer_limit.remove() if item.per_customer_limit is None
                 else LineupModel.per_customer_limit.set(item.per_customer_limit))
        revision = item.revision + 1
        tx.update("lineup", LineupModel(session_id=item.session_id, product_id=item.product_id),
                  actions=[LineupModel.price_amount.set(item.price.amount), LineupModel.currency.set(item.price.currency),
                           limit, LineupModel.verified_only.set(item.verified_only),
                           LineupModel.hold_seconds.set(item.hold_seconds), LineupModel.revision.set(revision)],
                  condition=(LineupModel.brand_id == item.brand_id) & at_revision(LineupModel.revision, item.revision))
        for shard, units in enumerate(split(item.quantity, item.shards)):
            tx.update(("shard", shard), StockShardModel(shard_key=shard_key(item.session_id, item.product_id, shard)),
                      actions=[StockShardModel.revision.set(revision)], condition=_changeable(units, now))
        try:
            transact(self.db.client, tx)
        except Cancelled as cancelled:
            raise self._refused(cancelled, item) from None

    def remove_returning_stock(self, item: LineupItem, session_status: SessionStatus, now: str,
                               lineup_size: int) -> None:
        """One transaction: the session's drop count down, the item and each untouched shard
        deleted, the units back on the product. A shard that sold or holds a unit (or opened)
        refuses, and then nothing moves: a sale can never be lost or counted twice."""
        tx = Transaction()
        tx.update("session", SessionModel(id=item.session_id),
                  actions=[SessionModel.lineup_count.set((SessionModel.lineup_count | lineup_size) - 1)],
                  condition=(SessionModel.brand_id == item.brand_id) & (SessionModel.status == session_status.value))
        tx.delete("lineup", LineupModel(session_id=item.session_id, product_id=item.product_id),
                  condition=LineupModel.brand_id == item.brand_id)
        for shard, units in enumerate(split(item.quantity, item.shards)):
            tx.delete(("shard", shard), StockShardModel(shard_key=shard_key(item.session_id, item.product_id, shard)),
                      condition=_changeable(units, now))
        tx.update("product", ProductModel(id=item.product_id),
                  actions=[ProductModel.stock.add(item.quantity), ProductModel.updated_at.set(now)],
                  condition=ProductModel.brand_id == item.brand_id)
        try:
            transact(self.db.client, tx)
        except Cancelled as cancelled:
            raise self._refused(cancelled, item) from None


def _changeable(units: int, now: str) -> Any:
    """A shard of a drop that may still change (domain.drops.changeable): no opening time yet or
    one still ahead of `now`, and all its `units` still there (nothing ever sold or held)."""
    return (StockShardModel.left == units) & (
        StockShardModel.opens_at.does_not_exist() | (StockShardModel.opens_at > now))
