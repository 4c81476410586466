"""/live on DynamoDB Local, counted in DynamoDB requests: a show's state is computed (six reads)
at most once a second per container, once for any number of concurrent callers, and this
container's own changes show in its next answer. The clock is moved, never waited for."""
import os
import threading

import pytest

from tests.conftest import live_drop, make_shopper, order
from tests.unit.test_live_state_cache import gated, let_go_when_all_wait, watched

ONE_COMPUTATION = sorted(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchGetItem",
                          "dynamodb:Query", "dynamodb:BatchGetItem"])


def dynamodb_requests(aws_calls) -> list[str]:
    made = sorted(call for call in aws_calls.log if call.startswith("dynamodb:"))
    aws_calls.log.clear()
    return made


def test_calls_within_a_second_make_one_computations_requests(api, brand, clock, aws_calls):
    session, _ = live_drop(api, brand["apiKey"], quantity=3)
    path = f"/v1/sessions/{session['id']}/live"
    aws_calls.log.clear()
    answers = [api.get(path) for _ in range(20)]
    assert {a.status_code for a in answers} == {200} and len({a.body for a in answers}) == 1
    assert dynamodb_requests(aws_calls) == ONE_COMPUTATION
    clock.advance(0.999)
    assert api.get(path).status_code == 200
    assert dynamodb_requests(aws_calls) == []
    clock.advance(0.001)  # the state is a second old: computed once more
    for _ in range(5):
        api.get(path)
    assert dynamodb_requests(aws_calls) == ONE_COMPUTATION


def test_64_concurrent_callers_make_one_computations_requests(api, brand, clock, aws_calls, monkeypatch):
    from chalicelib.api.sessions import live_json
    from chalicelib.bootstrap import services

    session, _ = live_drop(api, brand["apiKey"], quantity=3)
    live = services().live
    slow, started, _, release = gated(lambda: None)
    monkeypatch.setattr(live.states, "Flight", live.states.Flight)  # put back after the test
    arrived = watched(live.states)
    get_public = live.sessions.get_public

    def held_get_public(session_id):
        slow()  # the first read of the computation waits until every other caller waits for it
        return get_public(session_id)

    monkeypatch.setattr(live.sessions, "get_public", held_get_public)
    aws_calls.log.clear()
    bodies = []

    def poll():
        aws_calls.on.value = True  # the recorder counts per thread
        bodies.append(live.state_as(session["id"], live_json))

    threads = [threading.Thread(target=poll) for _ in range(64)]
    for thread in threads:
        thread.start()
    let_go_when_all_wait(arrived, threads, release, started)
    assert len(bodies) == 64 and all(body is bodies[0] for body in bodies)  # one rendering too
    assert dynamodb_requests(aws_calls) == ONE_COMPUTATION


def test_a_buying_crowd_recomputes_nothing_and_shows_within_a_second(api, brand, clock, aws_calls):
    session, product = live_drop(api, brand["apiKey"], quantity=5)
    path = f"/v1/sessions/{session['id']}/live"
    assert api.get(path).json["lineup"][0]["stockLeft"] == 5
    for _ in range(2):
        assert order(api, make_shopper(api), session["id"], product["id"]).status_code == 201
    aws_calls.log.clear()
    assert api.get(path).json["lineup"][0]["stockLeft"] == 5  # at most a second old
    assert dynamodb_requests(aws_calls) == []
    clock.advance(1.0)
    assert api.get(path).json["lineup"][0]["stockLeft"] == 3


def test_the_brands_own_start_pin_and_end_show_in_its_next_call(api, brand, clock, aws_calls):
    key = brand["apiKey"]
    session, product = live_drop(api, key, quantity=2, start=False)
    path = f"/v1/sessions/{session['id']}/live"
    assert api.get(path).json["status"] == "scheduled"
    api.post(f"/v1/sessions/{session['id']}/start", key=key)
    assert api.get(path).json["status"] == "live"
    pinned = api.post(f"/v1/sessions/{session['id']}/feature", {"productId": product["id"]}, key=key).json
    aws_calls.log.clear()
    live = api.get(path).json
    assert live["featuredProductId"] == product["id"] and live["timeline"][-1]["seq"] == pinned["featured"]["seq"]
    assert dynamodb_requests(aws_calls) == ONE_COMPUTATION  # computed again: the pin was written here
    api.post(f"/v1/sessions/{session['id']}/end", key=key)
    assert api.get(path).json["status"] == "ended"


def test_a_like_shows_at_once_and_makes_no_computation(api, brand, clock, aws_calls):
    session, _ = live_drop(api, brand["apiKey"], quantity=1)
    path = f"/v1/sessions/{session['id']}/live"
    assert api.get(path).json["likes"] == 0
    assert api.post(f"/v1/sessions/{session['id']}/likes", key=make_shopper(api)["token"]).json["likes"] == 1
    aws_calls.log.clear()
    assert api.get(path).json["likes"] == 1
    assert dynamodb_requests(aws_calls) == []


@pytest.fixture
def no_state_memory(aws_stack):
    """The in-process app with LIVEDROP_LIVE_STATE_SECONDS=0 (a `clock` override stays)."""
    from chalicelib import bootstrap
    from chalicelib.settings import get_settings

    def use(value):
        if value is None:
            os.environ.pop("LIVEDROP_LIVE_STATE_SECONDS", None)
        else:
            os.environ["LIVEDROP_LIVE_STATE_SECONDS"] = value
        get_settings.cache_clear()
        bootstrap.services.cache_clear()

    saved = os.environ.get("LIVEDROP_LIVE_STATE_SECONDS")
    use("0")
    yield
    use(saved)


def test_zero_seconds_computes_every_call(api, brand, clock, aws_calls, no_state_memory):
    session, _ = live_drop(api, brand["apiKey"], quantity=1)
    aws_calls.log.clear()
    for _ in range(3):
        api.get(f"/v1/sessions/{session['id']}/live")
    assert dynamodb_requests(aws_calls) == sorted(ONE_COMPUTATION * 3)
