"""The live layer: pinning products (timed metadata), late joiners, IVS events, replays."""
import json
from pathlib import Path

from tests.conftest import ivs_channels, live_drop, make_product, make_session

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eventbridge"


def event(name: str, channel_name: str) -> dict:
    """A sample event from AWS's IVS EventBridge documentation, for this session's channel."""
    sample = json.loads((FIXTURES / name).read_text())
    sample["detail"]["channel_name"] = channel_name
    return sample


def feature(api, key, session_id, product_id):
    return api.post(f"/v1/sessions/{session_id}/feature", {"productId": product_id}, key=key)


def test_pinning_shows_in_live_and_the_timeline_in_the_same_request(api, brand):
    session, product = live_drop(api, brand["apiKey"], quantity=7)
    pinned = feature(api, brand["apiKey"], session["id"], product["id"])
    assert pinned.status_code == 200, pinned.body
    assert pinned.json["metadata"]["delivered"] is True and pinned.json["metadata"]["bytes"] <= 1024
    assert pinned.json["featured"]["delivery"] == "delivered"
    live = api.get(f"/v1/sessions/{session['id']}/live").json
    assert live["featuredProductId"] == product["id"]
    assert [(t["productId"], t["seq"]) for t in live["timeline"]] == [(product["id"], pinned.json["featured"]["seq"])]


def test_feature_refusals(api, brand, other_brand):
    session, product = live_drop(api, brand["apiKey"], quantity=3)
    outsider = make_product(api, brand["apiKey"])
    missing = feature(api, brand["apiKey"], session["id"], outsider["id"])
    assert missing.status_code == 404 and missing.json["field"] == "productId"
    assert feature(api, other_brand["apiKey"], session["id"], product["id"]).status_code == 404
    api.post(f"/v1/sessions/{session['id']}/end", key=brand["apiKey"])
    ended = feature(api, brand["apiKey"], session["id"], product["id"])
    assert ended.status_code == 409


def test_a_burst_of_features_stays_within_five_per_second_and_ends_on_the_newest(api, brand):
    key = brand["apiKey"]
    session = make_session(api, key)
    products = [make_product(api, key, title=f"P{i}", stock=1) for i in range(3)]
    for product in products:
        api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": 1}, key=key)
    api.post(f"/v1/sessions/{session['id']}/start", key=key)
    for _ in range(4):
        for product in products:
            assert feature(api, key, session["id"], product["id"]).status_code == 200
    live = api.get(f"/v1/sessions/{session['id']}/live").json
    assert live["featuredProductId"] == products[-1]["id"]
    assert live["timeline"][-1]["delivery"] == "delivered"  # the newest state always goes out
    from chalicelib.bootstrap import services

    sent = sorted(e.sent_at for e in services().live.timeline(session["id"]) if e.sent_at)
    assert len(sent) == 12
    for index in range(len(sent) - 5):
        assert sent[index + 5] - sent[index] >= 1000, "more than 5 PutMetadata within a second"


def test_stream_state_events_move_the_session(api, brand):
    from app import ivs_events

    session, _ = live_drop(api, brand["apiKey"], quantity=1, start=False)
    assert ivs_events(event("stream-start.json", session["id"]), None) == {"status": "live"}
    assert api.get(f"/v1/sessions/{session['id']}").json["status"] == "live"
    assert ivs_events(event("stream-start.json", session["id"]), None) == {"status": "live"}  # repeated: harmless
    assert ivs_events(event("stream-end.json", session["id"]), None) == {"status": "ended"}
    assert api.get(f"/v1/sessions/{session['id']}").json["status"] == "ended"
    assert ivs_events(event("stream-start.json", session["id"]), None) == {"status": "ended"}  # late: ignored
    assert ivs_events(event("stream-start.json", "Your Channel"), None) == {"status": None}


def test_recording_end_gives_a_replay_whose_chapters_are_the_feature_windows(api, brand):
    from app import ivs_events

    key = brand["apiKey"]
    session = make_session(api, key)
    first, second = make_product(api, key, stock=1), make_product(api, key, stock=1)
    for product in (first, second):
        api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": 1}, key=key)
    feature(api, key, session["id"], first["id"])  # pinned before the show: on screen from its start
    started = api.post(f"/v1/sessions/{session['id']}/start", key=key).json
    second_pin = feature(api, key, session["id"], second["id"]).json
    ended = api.post(f"/v1/sessions/{session['id']}/end", key=key).json
    replay = api.get(f"/v1/sessions/{session['id']}/replay").json
    assert replay["replayUrl"] is None
    result = ivs_events(event("recording-end.json", session["id"]), None)
    assert result["replayUrl"].endswith("/ivs/v1/123456789012/AsXego4U6tnj/2020/6/23/20/12/j8Z9O91ndcVs/media/hls/master.m3u8")
    replay = api.get(f"/v1/sessions/{session['id']}/replay").json
    assert replay["replayUrl"] == result["replayUrl"]

    def ms(iso):
        from datetime import datetime

        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)

    start = ms(started["startedAt"])
    assert replay["chapters"] == [
        {"productId": first["id"], "startOffsetMs": 0, "endOffsetMs": ms(second_pin["featured"]["at"]) - start},
        {"productId": second["id"], "startOffsetMs": ms(second_pin["featured"]["at"]) - start,
         "endOffsetMs": ms(ended["endedAt"]) - start},
    ]


def test_chat_tokens_and_moderation(api, brand, other_brand):
    from tests.conftest import make_shopper

    session, _ = live_drop(api, brand["apiKey"], quantity=1)
    shopper = make_shopper(api)
    token = api.post(f"/v1/sessions/{session['id']}/chat-token", key=shopper["token"])
    assert token.status_code == 200 and token.json["token"]
    assert api.post(f"/v1/sessions/{session['id']}/chat-token", key=brand["apiKey"]).status_code == 401
    deleted = api.post(f"/v1/sessions/{session['id']}/chat/delete-message", {"messageId": "ABCDEFabcdef", "reason": "spam"},
                       key=brand["apiKey"])
    assert deleted.status_code == 200 and deleted.json == {"action": "message_deleted", "target": "ABCDEFabcdef"}
    kicked = api.post(f"/v1/sessions/{session['id']}/chat/disconnect", {"userId": shopper["shopperId"]},
                      key=brand["apiKey"])
    assert kicked.status_code == 200
    assert api.post(f"/v1/sessions/{session['id']}/chat/disconnect", {"userId": "x"},
                    key=other_brand["apiKey"]).status_code == 404
    api.post(f"/v1/sessions/{session['id']}/end", key=brand["apiKey"])
    assert api.post(f"/v1/sessions/{session['id']}/chat-token", key=shopper["token"]).status_code == 409


def test_likes_are_five_a_clock_second_per_shopper_in_a_session(api, brand, clock, default_rate_limits):
    from tests.conftest import make_shopper

    session, _ = live_drop(api, brand["apiKey"], quantity=1)
    shopper, other = make_shopper(api), make_shopper(api)

    def like(who):
        return api.post(f"/v1/sessions/{session['id']}/likes", key=who["token"])

    clock.advance(1.7 - clock.now().microsecond / 1e6)  # .700 of a clock second
    answers = []
    for _ in range(5):  # at .70, .75, .80, .85, .90
        answers.append(like(shopper).status_code)
        clock.advance(0.05)
    assert answers == [200] * 5
    refused = like(shopper)  # .95
    assert refused.status_code == 429 and refused.json["type"].endswith("/too_many_requests")
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == "1" and refused.json["retryAfter"] == 1
    assert refused.json["detail"] == "at most 5 likes a second per shopper in a session"
    assert like(other).status_code == 200  # per shopper
    clock.advance(0.05)  # a new clock second: a new window
    assert [like(shopper).status_code for _ in range(6)] == [200] * 5 + [429]
    assert api.get(f"/v1/sessions/{session['id']}/live").json["likes"] == 11


def test_chat_tokens_are_five_a_minute_per_shopper_in_a_session(api, brand, clock, default_rate_limits):
    from tests.conftest import make_shopper

    session, _ = live_drop(api, brand["apiKey"], quantity=1)
    shopper = make_shopper(api)
    clock.advance(60 - clock.now().second - clock.now().microsecond / 1e6 + 20)  # 20 s into a minute
    path = f"/v1/sessions/{session['id']}/chat-token"
    assert [api.post(path, key=shopper["token"]).status_code for _ in range(5)] == [200] * 5
    refused = api.post(path, key=shopper["token"])
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "40"
    assert refused.json["detail"] == "at most 5 chat tokens every 60 seconds per shopper in a session"
    assert api.post(path, key=make_shopper(api)["token"]).status_code == 200  # per shopper
    clock.advance(40)
    assert api.post(path, key=shopper["token"]).status_code == 200


def test_deleting_a_session_removes_its_channel(api, brand):

    from tests.conftest import make_session

    empty = make_session(api, brand["apiKey"])
    arns = {c["name"]: c["arn"] for c in ivs_channels()}
    assert empty["id"] in arns
    response = api.call("DELETE", f"/v1/sessions/{empty['id']}", key=brand["apiKey"])
    assert response.status_code == 200 and response.json["recordDeleted"] is True
    assert empty["id"] not in {c["name"] for c in ivs_channels()}
    assert api.get(f"/v1/sessions/{empty['id']}").status_code == 404

    live, _ = live_drop(api, brand["apiKey"], quantity=1)
    assert api.call("DELETE", f"/v1/sessions/{live['id']}", key=brand["apiKey"]).status_code == 409
    api.post(f"/v1/sessions/{live['id']}/end", key=brand["apiKey"])
    kept = api.call("DELETE", f"/v1/sessions/{live['id']}", key=brand["apiKey"])
    assert kept.status_code == 200 and kept.json["recordDeleted"] is False
    assert api.get(f"/v1/sessions/{live['id']}/replay").status_code == 200


def test_stock_stream_sends_drop_open_ticks_and_sold_out(api, brand, clock):
    from chalicelib.bootstrap import services
    from chalicelib.settings import get_settings
    from devstack.streams import StreamReader
    from tests.conftest import make_shopper, order

    reader = StreamReader(get_settings().tables["stock"])
    session, product = live_drop(api, brand["apiKey"], quantity=3, shards=3)  # started: the drop opens
    live = services().live
    assert live.on_stock_records(reader.read()) == ["drop_open"]
    assert order(api, make_shopper(api), session["id"], product["id"]).status_code == 201
    # The same instant: the channel's send slot is still the drop_open's, and a tick is skippable.
    assert live.on_stock_records(reader.read()) == []
    clock.advance(1.1)
    assert order(api, make_shopper(api), session["id"], product["id"]).status_code == 201
    assert live.on_stock_records(reader.read()) == ["stock"]  # a second later: a units-left tick
    assert order(api, make_shopper(api), session["id"], product["id"]).status_code == 201
    assert live.on_stock_records(reader.read()) == ["sold_out"]  # must arrive: waits for the slot
    kinds = [t["type"] for t in api.get(f"/v1/sessions/{session['id']}/live").json["timeline"]]
    assert kinds == ["drop_open", "sold_out"]
    sent = [json.loads(payload) for _, payload in live.channels.recorded]
    assert {"drop_open", "sold_out"} <= {p["type"] for p in sent if p["product"]["id"] == product["id"]}
    assert all(len(payload.encode()) <= 1024 for _, payload in live.channels.recorded)


def test_an_offline_channel_keeps_the_state_and_says_so(api, brand, monkeypatch):
    from chalicelib.adapters.ivs import Delivery
    from chalicelib.bootstrap import services

    session, product = live_drop(api, brand["apiKey"], quantity=1)
    monkeypatch.setattr(services().live.channels, "put_metadata",
                        lambda arn, payload: Delivery(False, "channel_not_broadcasting"))
    pinned = feature(api, brand["apiKey"], session["id"], product["id"])
    assert pinned.status_code == 200
    assert pinned.json["metadata"] == {"delivered": False, "reason": "channel_not_broadcasting",
                                       "bytes": pinned.json["metadata"]["bytes"]}
    live = api.get(f"/v1/sessions/{session['id']}/live").json
    assert live["featuredProductId"] == product["id"]
    assert live["timeline"][-1]["delivery"] == "channel_not_broadcasting"


def test_a_timed_drop_is_announced_once_its_time_comes(api, brand, clock):
    from datetime import timedelta

    from app import announce_timed_drops
    from chalicelib.domain.clock import to_iso

    scheduled = {"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": "123456789012", "time": "2026-11-22T00:00:00Z", "region": "us-east-1",
                 "resources": [], "detail": {}}
    soon = to_iso(clock.now() + timedelta(seconds=2))
    session, product = live_drop(api, brand["apiKey"], quantity=1, opensAt=soon)
    announce_timed_drops(scheduled, None)
    assert "drop_open" not in [t["type"] for t in api.get(f"/v1/sessions/{session['id']}/live").json["timeline"]]
    clock.advance(2.2)
    announce_timed_drops(scheduled, None)
    announce_timed_drops(scheduled, None)  # twice: announced once
    timeline = api.get(f"/v1/sessions/{session['id']}/live").json["timeline"]
    assert [t["type"] for t in timeline] == ["drop_open"] and timeline[0]["productId"] == product["id"]
