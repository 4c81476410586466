"""Live session routes: scheduling, lineup, status; public listing and detail."""
import json

from chalice import Blueprint, Response

from chalicelib.api.routing import ApiRequest, api_route
from chalicelib.api.schemas import (
    BrandSessionListQuery, LineupPatch, LineupRemoved, OwnedSessionPage, OwnedSessionSummary,
    ChapterView, ChatTokenView, FeatureIn, LikesView, ModerateMessage, ModerateUser, ModerationDone,
    SessionDeleted, FeatureView, IngestView, LineupAdd, LineupItemView, LiveView, MetadataDelivery,
    PublicSessionSummary, ReplayView, TimelineItem, PublicSessionView, SessionCreate,
    SessionListQuery, SessionPage, SessionView,
)
from chalicelib.bootstrap import services
from chalicelib.domain.clock import to_iso
from chalicelib.domain.drops import DropMode
from chalicelib.domain.sessions import SessionStatus
from chalicelib.services.live import LiveState

bp = Blueprint(__name__)


@api_route(bp, "/v1/sessions", "POST", summary="Schedule a live session and create its IVS channel",
           auth="brand", status=201, request=SessionCreate, response=SessionView, tag="sessions")
def create_session(req: ApiRequest) -> SessionView:
    """Schedule a show: the session (status `scheduled`), its IVS channel (type and latency from the
    request or the deployment's defaults), its chat room and `playbackUrl`."""
    body: SessionCreate = req.body
    session = services().sessions.schedule(req.brand.id, body.title, body.scheduled_iso(), body.hold_seconds,
                                        body.channel_type, body.latency_mode)
    return SessionView.with_lineup(session, [])


@api_route(bp, "/v1/sessions", "GET", summary="List sessions by status (public)", auth="public",
           query=SessionListQuery, response=SessionPage, tag="sessions")
def list_sessions(req: ApiRequest) -> SessionPage:
    """Sessions of every brand by status (default `live`): scheduled and live ones soonest first,
    ended ones newest first, a page at a time."""
    query: SessionListQuery = req.query
    items, cursor = services().sessions.list_public(SessionStatus(query.status), query.limit, query.cursor)
    return SessionPage(items=[PublicSessionSummary.of(s) for s in items], next_cursor=cursor)


@api_route(bp, "/v1/brand/sessions", "GET", summary="The calling brand's own sessions, in every status",
           auth="brand", query=BrandSessionListQuery, response=OwnedSessionPage, tag="sessions")
def list_own_sessions(req: ApiRequest) -> OwnedSessionPage:
    """The brand's own sessions (every status, or only `status`), latest scheduled time first
    (ties by id, descending): one query of the sessions table's `byBrand` index. Deleted sessions
    are left out. Each item is the summary with the lineup's size (`lineupCount`)."""
    query: BrandSessionListQuery = req.query
    items, cursor = services().sessions.list_owned(
        req.brand.id, SessionStatus(query.status) if query.status else None, query.limit, query.cursor)
    return OwnedSessionPage(items=[OwnedSessionSummary.of_owned(s) for s in items], next_cursor=cursor)


@api_route(bp, "/v1/sessions/{session_id}", "GET",
           summary="A session with its lineup: the owner's view with the brand's key, else the public view",
           auth="optional-brand", response=SessionView | PublicSessionView, tag="sessions")
def get_session(req: ApiRequest):
    """A session and its lineup (title, image, session price of each product). The owner brand's
    key adds quantities, drop windows and channel settings; another brand's key answers 404."""
    sessions = services().sessions
    session_id = req.path["session_id"]
    if req.brand is None:
        session = sessions.get_public(session_id)
        return PublicSessionView.with_lineup(session, sessions.lineup_of(session.id))
    session = sessions.get_owned(req.brand.id, session_id)
    return SessionView.with_lineup(session, sessions.lineup_of(session.id))


@api_route(bp, "/v1/sessions/{session_id}/live", "GET",
           summary="What a player shows now: status and each drop's price, units left and window (public)",
           auth="public", response=LiveView, tag="sessions", max_age=2)
def get_live(req: ApiRequest) -> Response:
    """What a player shows now, for every viewer alike (a CDN may serve it for 2 s): status, the
    featured product, the timeline of pins and drop events, viewers, likes, and per drop its
    session price, units left over all shards, whether it sold out, and its window. At most a
    second old: each server computes a show's state at most once a second."""
    return Response(body=services().live.state_as(req.path["session_id"], live_json),
                    headers={"Content-Type": "application/json"})


def live_json(state: LiveState) -> str:
    """A state's LiveView as JSON, as the routes write it; made once per state (services/live.py)."""
    return json.dumps(LiveView.of(state).model_dump(mode="json", by_alias=True), separators=(",", ":"))


@api_route(bp, "/v1/sessions/{session_id}/feature", "POST",
           summary="Pin a lineup product on the stream: stored, then sent to every player as IVS timed metadata",
           auth="brand", request=FeatureIn, response=FeatureView, errors=(409,), tag="live")
def feature_product(req: ApiRequest) -> FeatureView:
    """Pin a lineup product: stored with a timeline entry first (so /live shows it at once), then
    sent as IVS timed metadata; `metadata` says whether it reached the stream, and why not."""
    entry, delivery, size = services().live.feature(req.brand.id, req.path["session_id"], req.body.product_id)
    return FeatureView(featured=TimelineItem.of(entry),
                       metadata=MetadataDelivery(delivered=delivery.delivered, reason=delivery.reason, bytes=size))


@api_route(bp, "/v1/sessions/{session_id}/replay", "GET",
           summary="The replay and its chapters (the feature windows), to buy what was shown when",
           auth="public", response=ReplayView, tag="live")
def get_replay(req: ApiRequest) -> ReplayView:
    """The recording's URL once IVS reports it ended (null until then), and the chapters: which
    product was featured from when to when, as offsets from the show's start."""
    session, chapters = services().live.replay(req.path["session_id"])
    return ReplayView(session_id=session.id, replay_url=session.replay_url,
                      chapters=[ChapterView(product_id=c.product_id, start_offset_ms=c.start_offset_ms,
                                            end_offset_ms=c.end_offset_ms) for c in chapters])


@api_route(bp, "/v1/sessions/{session_id}/ingest", "GET",
           summary="The ingest endpoint and stream key for the broadcaster (owner only)", auth="brand",
           response=IngestView, errors=(409,), tag="sessions", secret=True)
def get_ingest(req: ApiRequest) -> IngestView:
    """Where and with what key the broadcaster streams. The stream key is fetched from IVS on each
    call, stored nowhere, shown nowhere else, and never cached."""
    endpoint, stream_key = services().sessions.ingest(req.brand.id, req.path["session_id"])
    return IngestView(ingest_endpoint=endpoint, stream_key=stream_key)


@api_route(bp, "/v1/sessions/{session_id}/lineup", "POST",
           summary="Add one of the brand's products to the show, allocating its drop quantity from stock",
           auth="brand", status=201, request=LineupAdd, response=LineupItemView, errors=(409,), tag="sessions")
def add_to_lineup(req: ApiRequest) -> LineupItemView:
    """Put one of the brand's products in the show as a drop: its quantity is taken from the
    product's stock in one transaction (all of it if absent), with an optional session price,
    per-customer limit, opening window, shard count, mode (open, queue or draw), verified-only
    flag and hold time."""
    body: LineupAdd = req.body
    sessions = services().sessions
    item, product = sessions.add_to_lineup(
        req.brand.id, req.path["session_id"], body.product_id, body.price.to_domain() if body.price else None,
        body.quantity, body.per_customer_limit, opens_at=to_iso(body.opens_at) if body.opens_at else None,
        closes_at=to_iso(body.closes_at) if body.closes_at else None, shards=body.shards,
        expected_orders_per_second=body.expected_orders_per_second, mode=DropMode(body.mode),
        verified_only=body.verified_only, hold_seconds=body.hold_seconds,
        expected_entries_per_second=body.expected_entries_per_second)
    return LineupItemView.of(item, product)


@api_route(bp, "/v1/sessions/{session_id}/lineup/{product_id}", "PATCH",
           summary="Change a drop's price, per-customer limit, verified-only flag or hold, before it opens",
           auth="brand", request=LineupPatch, response=LineupItemView, errors=(409,), tag="sessions")
def change_lineup_item(req: ApiRequest) -> LineupItemView:
    """Change the session price, the per-customer limit (`null` removes it), `verifiedOnly` and/or
    `holdSeconds` of a product in the lineup. Only before its drop opens: its `opensAt` still ahead, or none yet (it opens when
    the session goes live), whatever the session's status (a drop with an `opensAt` of its own
    opens by the clock, before the show too), and no unit taken from it; else 409 `drop_opened`
    (`session_not_editable` once the show ended). A product not in the lineup is 404 naming
    `productId`."""
    body: LineupPatch = req.body
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if "price" in changes:
        changes["price"] = body.price.to_domain()
    item, product = services().sessions.change_drop(req.brand.id, req.path["session_id"], req.path["product_id"],
                                                   changes)
    return LineupItemView.of(item, product)


@api_route(bp, "/v1/sessions/{session_id}/lineup/{product_id}", "DELETE",
           summary="Take a product out of the lineup before its drop opens; its units go back to stock",
           auth="brand", response=LineupRemoved, errors=(409,), tag="sessions")
def remove_lineup_item(req: ApiRequest) -> LineupRemoved:
    """Remove a product from the lineup: the lineup item and its stock shards are deleted and the
    drop's units go back to the product's stock, in one DynamoDB transaction that holds only if
    every shard still has all its units (nothing sold or held). Only before the drop opens (as
    for PATCH), else 409 `drop_opened`; a product not in the lineup is 404 naming `productId`."""
    session_id, product_id = req.path["session_id"], req.path["product_id"]
    returned = services().sessions.remove_drop(req.brand.id, session_id, product_id)
    return LineupRemoved(session_id=session_id, product_id=product_id, returned_units=returned)


@api_route(bp, "/v1/sessions/{session_id}/start", "POST", summary="Go live (repeating it is harmless)",
           auth="brand", response=SessionView, errors=(409,), tag="sessions")
def start_session(req: ApiRequest) -> SessionView:
    """Move the session to `live`; drops without an opening time of their own open now. Starting a
    live session again changes nothing."""
    return _moved(req, SessionStatus.LIVE)


@api_route(bp, "/v1/sessions/{session_id}/end", "POST", summary="End the show (repeating it is harmless)",
           auth="brand", response=SessionView, errors=(409,), tag="sessions")
def end_session(req: ApiRequest) -> SessionView:
    """Move the session to `ended` (a scheduled one too: a cancelled show); drops without a closing
    time of their own close now. Ending it again changes nothing."""
    return _moved(req, SessionStatus.ENDED)


def _moved(req: ApiRequest, target: SessionStatus) -> SessionView:
    sessions = services().sessions
    session = sessions.move(req.brand.id, req.path["session_id"], target)
    return SessionView.with_lineup(session, sessions.lineup_of(session.id))


@api_route(bp, "/v1/sessions/{session_id}", "DELETE",
           summary="Delete the session's IVS channel and chat room (and the session, if it sold nothing)",
           auth="brand", response=SessionDeleted, errors=(409,), tag="sessions")
def delete_session(req: ApiRequest) -> SessionDeleted:
    """Delete the session's IVS channel and chat room, and the session itself if it never held a
    drop (otherwise its record stays for orders and the replay). Not while it is live."""
    removed = services().sessions.delete(req.brand.id, req.path["session_id"])
    return SessionDeleted(id=req.path["session_id"], record_deleted=removed, channel_deleted=True,
                          chat_room_deleted=True)


@api_route(bp, "/v1/sessions/{session_id}/chat-token", "POST",
           summary="A token for the session's IVS Chat room, allowed to send messages", auth="shopper",
           response=ChatTokenView, errors=(409, 429), tag="live", secret=True)
def chat_token(req: ApiRequest) -> ChatTokenView:
    """A token for the IVS Chat client SDK that lets this shopper send messages in the session's
    room (409 once the chat is closed), and `messagingEndpoint`, the websocket to connect to with
    it (null where no real room exists: a page hides its chat). The token is a credential: never cached.
    A shopper gets at most 5 tokens per session every 60 seconds by default (the `chat_token` rate
    rule), else 429 with Retry-After."""
    token = services().live.chat_token(req.path["session_id"], req.shopper_id)
    return ChatTokenView(token=token.token, token_expires_at=to_iso(token.token_expires_at),
                         session_expires_at=to_iso(token.session_expires_at),
                         messaging_endpoint=token.messaging_endpoint)


@api_route(bp, "/v1/sessions/{session_id}/chat/delete-message", "POST",
           summary="Moderation: delete a chat message for everyone", auth="brand", request=ModerateMessage,
           response=ModerationDone, errors=(409,), tag="live")
def delete_chat_message(req: ApiRequest) -> ModerationDone:
    """Delete a message from the session's chat for everyone, with an optional reason."""
    services().live.moderate(req.brand.id, req.path["session_id"], message_id=req.body.message_id,
                             reason=req.body.reason)
    return ModerationDone(action="message_deleted", target=req.body.message_id)


@api_route(bp, "/v1/sessions/{session_id}/chat/disconnect", "POST",
           summary="Moderation: disconnect a user from the chat", auth="brand", request=ModerateUser,
           response=ModerationDone, errors=(409,), tag="live")
def disconnect_chat_user(req: ApiRequest) -> ModerationDone:
    """Disconnect a user from the session's chat, with an optional reason."""
    services().live.moderate(req.brand.id, req.path["session_id"], user_id=req.body.user_id, reason=req.body.reason)
    return ModerationDone(action="user_disconnected", target=req.body.user_id)


@api_route(bp, "/v1/sessions/{session_id}/likes", "POST",
           summary="Like the show (by default at most 5 a second per shopper)", auth="shopper", response=LikesView,
           errors=(409, 429), tag="live")
def like_session(req: ApiRequest) -> LikesView:
    """One like from this shopper during the show (409 otherwise); the answer is the session's like
    count. At most 5 likes per shopper and session in each clock second by default (the `like`
    rate rule: a fixed window), else 429 with Retry-After."""
    return LikesView(likes=services().live.like(req.path["session_id"], req.shopper_id))
