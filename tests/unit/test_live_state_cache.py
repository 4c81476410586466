"""/live's state per container: computed at most once a second, one computation at a time per
session, and this container's own changes shown at once. Counts, not times: the clock is moved,
and concurrent callers are parked on the computation before it is let go."""
from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from chalicelib.domain.sessions import SessionStatus
from chalicelib.services.live import LiveState, LiveStates
from chalicelib.settings import Settings
from tests.fakes import FakeClock, add_drop, buy, fake_services, new_show


class Counting:
    """A computation that counts its calls and returns a new state each time."""

    def __init__(self, likes: int = 0) -> None:
        self.calls = 0
        self.likes = likes

    def __call__(self) -> LiveState:
        self.calls += 1
        return LiveState(session=None, drops=[], timeline=[], viewers=None, likes=self.likes)  # type: ignore[arg-type]


def test_a_state_is_computed_at_most_once_a_second():
    clock, compute = FakeClock(), Counting()
    states = LiveStates(1.0, clock)
    first = states.get("ses_1", compute)
    assert all(states.get("ses_1", compute) is first for _ in range(100)) and compute.calls == 1
    clock.advance(0.999)
    assert states.get("ses_1", compute) is first and compute.calls == 1  # 999 ms old: still served
    clock.advance(0.001)
    assert states.get("ses_1", compute) is not first and compute.calls == 2  # 1 s old: computed again
    assert states.get("ses_2", compute) and compute.calls == 3  # per session


def test_zero_seconds_computes_on_every_call():
    compute = Counting()
    states = LiveStates(0, FakeClock())
    for _ in range(5):
        states.get("ses_1", compute)
    assert compute.calls == 5


def test_forgetting_a_state_computes_it_on_the_next_call():
    compute = Counting()
    states = LiveStates(1.0, FakeClock())
    first = states.get("ses_1", compute)
    states.forget("ses_1")
    assert states.get("ses_1", compute) is not first and compute.calls == 2


def test_the_least_recently_read_session_is_evicted_beyond_capacity():
    compute = Counting()
    states = LiveStates(1.0, FakeClock(), capacity=2)
    states.get("ses_a", compute), states.get("ses_b", compute)
    states.get("ses_a", compute)  # read again: b is now the oldest
    states.get("ses_c", compute)  # a third: b goes
    assert compute.calls == 3
    states.get("ses_a", compute), states.get("ses_c", compute)
    assert compute.calls == 3
    states.get("ses_b", compute)
    assert compute.calls == 4


def test_a_failed_computation_is_not_kept_and_holds_no_memory():
    states = LiveStates(1.0, FakeClock(), capacity=1)
    kept = states.get("ses_kept", Counting())

    def missing() -> LiveState:
        raise LookupError("no such session")

    for _ in range(3):
        with pytest.raises(LookupError):
            states.get("ses_missing", missing)
    compute = Counting()
    assert states.get("ses_kept", compute) is kept and compute.calls == 0  # not evicted by the misses


def test_a_seen_like_count_shows_without_computing_and_never_goes_down():
    clock, compute = FakeClock(), Counting(likes=3)
    states = LiveStates(1.0, clock)
    states.saw_likes("ses_1", 9)  # nothing kept for it yet: nothing to do
    assert states.get("ses_1", compute).likes == 3
    states.saw_likes("ses_1", 7)
    states.saw_likes("ses_1", 5)  # an older answer read later: the count does not go back
    assert states.get("ses_1", compute).likes == 7 and compute.calls == 1
    clock.advance(1.0)
    assert states.get("ses_1", compute).likes == 7 and compute.calls == 2  # a lagging read keeps it too


def test_rendering_is_done_once_per_state():
    clock, compute = FakeClock(), Counting()
    states = LiveStates(1.0, clock)
    renders = []

    def render(state: LiveState) -> str:
        renders.append(state)
        return f"likes={state.likes}"

    assert [states.rendered("ses_1", compute, render) for _ in range(10)] == ["likes=0"] * 10
    assert len(renders) == 1
    states.saw_likes("ses_1", 4)  # a new state: rendered again, not computed
    assert states.rendered("ses_1", compute, render) == "likes=4" and len(renders) == 2 and compute.calls == 1
    clock.advance(1.0)
    states.rendered("ses_1", compute, render)
    assert len(renders) == 3 and compute.calls == 2
    other = LiveStates(0, clock)
    assert [other.rendered("ses_1", compute, render) for _ in range(2)] and len(renders) == 5  # no memory: each call


# --- concurrent callers ---------------------------------------------------------------------------


class Watched(Future):
    """A computation under way, which counts the callers that came to wait on it."""
    arrived: threading.Semaphore

    def result(self, timeout=None):
        self.arrived.release()
        return super().result(timeout)


def watched(states: LiveStates) -> threading.Semaphore:
    """Watch the callers that wait on `states`' computations: one release per caller."""
    arrived = threading.Semaphore(0)
    states.Flight = type("Flight", (Watched,), {"arrived": arrived})
    return arrived


def crowd(states: LiveStates, compute, callers: int = 64) -> tuple[list, list[threading.Thread]]:
    """`callers` threads asking at once; (their answers or errors, the threads), started."""
    answers: list = []

    def ask() -> None:
        try:
            answers.append(states.get("ses_1", compute))
        except Exception as error:
            answers.append(error)

    threads = [threading.Thread(target=ask) for _ in range(callers)]
    for thread in threads:
        thread.start()
    return answers, threads


def gated(compute):
    """(a computation that waits for `release` before answering, its count of calls, an event set
    when it starts, release)."""
    release, begun, started = threading.Event(), threading.Event(), []

    def slow() -> LiveState:
        started.append(1)
        begun.set()
        assert release.wait(30), "never released"
        return compute()

    return slow, started, begun, release


def let_go_when_all_wait(arrived, threads, release, started) -> None:
    """Release the computation once every other caller has come to wait on it (no timing)."""
    for _ in range(len(threads) - 1):
        assert arrived.acquire(timeout=30), "a caller neither computed nor waited"
    assert len(started) == 1, "a second computation started while the first was under way"
    release.set()
    for thread in threads:
        thread.join(30)


def test_64_callers_at_once_make_one_computation_and_share_its_state():
    compute = Counting()
    slow, started, _, release = gated(compute)
    states = LiveStates(1.0, FakeClock())
    arrived = watched(states)
    answers, threads = crowd(states, slow)
    let_go_when_all_wait(arrived, threads, release, started)
    assert compute.calls == 1 and len(answers) == 64
    assert all(answer is answers[0] for answer in answers)


def test_callers_waiting_on_a_failed_computation_get_its_error_and_the_next_call_tries_again():
    def failing() -> LiveState:
        raise TimeoutError("DynamoDB did not answer")

    slow, started, _, release = gated(failing)
    states = LiveStates(1.0, FakeClock())
    arrived = watched(states)
    answers, threads = crowd(states, slow, callers=16)
    let_go_when_all_wait(arrived, threads, release, started)
    assert len(answers) == 16 and all(isinstance(answer, TimeoutError) for answer in answers)
    compute = Counting()
    states.get("ses_1", compute)
    assert compute.calls == 1


def test_a_computation_under_way_when_its_session_is_forgotten_is_not_kept():
    compute = Counting()
    slow, started, begun, release = gated(compute)
    states = LiveStates(1.0, FakeClock())
    answers, threads = crowd(states, slow, callers=1)
    assert begun.wait(30)
    states.forget("ses_1")  # a write of this container lands while the old state is computed
    release.set()
    threads[0].join(30)
    assert len(answers) == 1 and compute.calls == 1
    assert states.get("ses_1", compute) is not answers[0] and compute.calls == 2


# --- the service on fakes: this container's own changes at once, others' within a second ----------


def counted(services):
    """The live service's computations, counted."""
    calls = []
    compute = services.live._compute_state

    def counting(session_id: str) -> LiveState:
        calls.append(session_id)
        return compute(session_id)

    services.live._compute_state = counting
    return calls


def test_the_brands_own_changes_in_this_container_show_in_its_next_state(world):
    services, _ = world
    brand_id, session_id = new_show(services)
    first = add_drop(services, brand_id, session_id, quantity=3, title="First")
    assert services.live.state(session_id).session.status is SessionStatus.SCHEDULED
    second = add_drop(services, brand_id, session_id, quantity=2, title="Second")
    assert {item.product_id for item, _, _ in services.live.state(session_id).drops} == {
        first.product_id, second.product_id}
    services.sessions.remove_drop(brand_id, session_id, second.product_id)
    assert len(services.live.state(session_id).drops) == 1
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    assert services.live.state(session_id).session.status is SessionStatus.LIVE
    services.live.feature(brand_id, session_id, first.product_id)
    pinned = services.live.state(session_id)
    assert pinned.session.featured_product_id == first.product_id and pinned.timeline[-1].delivery == "delivered"
    services.sessions.move(brand_id, session_id, SessionStatus.ENDED)
    assert services.live.state(session_id).session.status is SessionStatus.ENDED


def test_another_brands_refused_writes_do_not_make_the_state_computed_again(world):
    from chalicelib.domain.errors import NotFound

    services, _ = world
    brand_id, session_id = new_show(services)
    drop = add_drop(services, brand_id, session_id)
    outsider, _ = services.brands.create("Outsider")
    calls = counted(services)
    services.live.state(session_id)
    for attempt in (lambda: services.sessions.move(outsider.id, session_id, SessionStatus.LIVE),
                    lambda: services.sessions.remove_drop(outsider.id, session_id, drop.product_id),
                    lambda: services.live.feature(outsider.id, session_id, drop.product_id)):
        with pytest.raises(NotFound):
            attempt()
        services.live.state(session_id)
    assert calls == [session_id]


def test_another_containers_pin_shows_within_a_second_and_a_crowd_recomputes_nothing(world, clock):
    services, ports = world
    brand_id, session_id = new_show(services)
    drop = add_drop(services, brand_id, session_id, quantity=5)
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    calls = counted(services)
    assert services.live.state(session_id).session.featured_product_id is None
    other, _ = fake_services(**ports)  # another container on the same store
    other.live.feature(brand_id, session_id, drop.product_id)
    buy(services, "shp_1", session_id, {drop.product_id: 2})  # a buyer here: stock is the crowd's, no recompute
    clock.advance(0.999)
    stale = services.live.state(session_id)
    assert stale.session.featured_product_id is None and sum(stale.drops[0][2].left.values()) == 5
    clock.advance(0.001)
    fresh = services.live.state(session_id)
    assert fresh.session.featured_product_id == drop.product_id and sum(fresh.drops[0][2].left.values()) == 3
    assert calls == [session_id, session_id]


def test_a_like_shows_at_once_without_a_computation(world):
    services, _ = world
    brand_id, session_id = new_show(services)
    add_drop(services, brand_id, session_id)
    services.sessions.move(brand_id, session_id, SessionStatus.LIVE)
    calls = counted(services)
    assert services.live.state(session_id).likes == 0
    for shopper in ("shp_1", "shp_2", "shp_3"):
        services.live.like(session_id, shopper)
    assert services.live.state(session_id).likes == 3 and calls == [session_id]


# --- the setting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value, seconds", [(None, 1.0), ("0", 0.0), ("0.5", 0.5), ("2", 2.0)])
def test_the_live_state_seconds_setting(value, seconds):
    env = {} if value is None else {"LIVEDROP_LIVE_STATE_SECONDS": value}
    assert Settings.from_env(env).live_state_seconds == seconds


@pytest.mark.parametrize("value", ["fast", "-1", "61", "nan", ""])
def test_a_wrong_live_state_seconds_fails_at_start_naming_it(value):
    with pytest.raises(ValueError, match="LIVEDROP_LIVE_STATE_SECONDS"):
        Settings.from_env({"LIVEDROP_LIVE_STATE_SECONDS": value})
