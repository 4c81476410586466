"""The admission rule (chalicelib/domain/queues.py) and the admission tokens (domain/admissions.py)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.domain import admissions
from chalicelib.domain.queues import (
    ADMISSION_MS, QueueState, Step, due, highest_position, pending, position_of, standing, step,
)

T0 = 1_800_000_000_000  # the drop opens (epoch ms)
HOLD_MS = 120_000


class Drop:
    """A queue drop in time: `tick(ms)` takes a step as the first poll of that second would."""

    def __init__(self, quantity: int, entrants: int) -> None:
        self.left = quantity
        self.queue = QueueState(issued=entrants)
        self.now = T0

    def tick(self, at: int, opened: bool = True, closed: bool = False) -> QueueState:
        self.now = at
        if due(self.queue, at):
            self.queue = step(self.queue, at, self.left, opened, closed)
        return self.queue

    def run(self, until: int, every: int = 1000) -> None:
        for at in range(self.now + every, until + 1, every):
            self.tick(at)

    def state_of(self, position: int) -> str:
        return standing(self.queue, position, self.now, HOLD_MS).state

    def admitted(self) -> list[int]:
        return [p for p in range(1, self.queue.issued + 1) if self.state_of(p) == "admitted"]


def test_positions_from_one_counter_are_1_2_3_and_several_counters_never_share_one():
    assert [position_of(n, 0, 1) for n in (1, 2, 3)] == [1, 2, 3]
    given = {position_of(n, k, 4) for k in range(4) for n in range(1, 26)}
    assert given == set(range(1, 101))
    assert highest_position({0: 3, 1: 0, 2: 5}, 3) == position_of(5, 2, 3) == 15
    assert highest_position({}, 2) == 0


def test_when_everyone_buys_at_once_exactly_the_first_quantity_positions_are_admitted():
    drop = Drop(quantity=100, entrants=1000)
    drop.tick(T0)
    assert drop.admitted() == list(range(1, 101))
    drop.left = 0  # all 100 bought at once
    drop.run(T0 + 10 * 60_000)
    assert drop.queue.admitted_through == 100
    assert drop.state_of(101) == "sold_out"  # every hold an admission could make is over


def test_nobody_buys_the_next_batch_comes_when_the_first_admission_is_over():
    drop = Drop(quantity=100, entrants=1000)
    drop.tick(T0)
    drop.run(T0 + ADMISSION_MS - 1000)
    assert drop.queue.admitted_through == 100
    assert drop.state_of(100) == "admitted" and drop.state_of(101) == "waiting"
    assert standing(drop.queue, 101, drop.now, HOLD_MS).ahead == 0
    assert standing(drop.queue, 150, drop.now, HOLD_MS).ahead == 49
    drop.tick(T0 + ADMISSION_MS)
    assert drop.admitted() == list(range(101, 201))
    assert drop.state_of(1) == drop.state_of(100) == "lapsed"


def test_units_bought_count_against_the_admitted_so_the_rest_wait_for_their_admission_to_end():
    drop = Drop(quantity=100, entrants=1000)
    drop.tick(T0)
    drop.left = 60  # 40 of the admitted bought
    drop.run(T0 + ADMISSION_MS - 1000)
    assert drop.queue.admitted_through == 100  # the other 60 may still buy: no one more
    drop.tick(T0 + ADMISSION_MS)
    assert drop.admitted() == list(range(101, 161))


def test_units_given_back_after_the_admissions_ended_admit_more_at_once():
    drop = Drop(quantity=10, entrants=50)
    drop.tick(T0)
    drop.left = 0
    drop.run(T0 + ADMISSION_MS + 5000)
    assert drop.queue.admitted_through == 10 and drop.state_of(11) == "waiting"  # holds may still come back
    drop.left = 3  # three holds lapsed unpaid
    drop.tick(drop.now + 1000)
    assert drop.admitted() == [11, 12, 13]


def test_a_unit_given_back_by_a_shopper_still_admitted_stays_theirs_until_their_admission_ends():
    drop = Drop(quantity=10, entrants=50)
    drop.tick(T0)
    drop.left = 0
    drop.tick(T0 + 1000)
    drop.left = 1  # one of them cancelled: they may buy again
    drop.run(T0 + ADMISSION_MS - 1000)
    assert drop.queue.admitted_through == 10
    drop.tick(T0 + ADMISSION_MS)
    assert drop.admitted() == [11]


def test_pending_is_the_admitted_positions_less_the_units_taken_since_the_oldest_open_step():
    steps = (Step(T0, 30, 20), Step(T0 + 5000, 40, 10))
    assert pending(steps, before=10, left=4) == 30 - (20 - 4)
    assert pending(steps, before=10, left=25) == 30  # more left than then: nothing counts as taken
    assert pending(steps, before=10, left=0) == 10
    assert pending((), before=10, left=0) == 0
    assert pending((Step(T0, 5, 100),), before=0, left=0) == 0  # never below zero


def test_no_position_is_admitted_before_its_shopper_joined_and_late_joiners_are_admitted_as_they_come():
    drop = Drop(quantity=100, entrants=30)
    drop.tick(T0)
    assert drop.queue.admitted_through == 30
    drop.left = 80  # 20 bought
    drop.queue = replace(drop.queue, issued=35)  # five more joined
    drop.tick(T0 + 1000)
    assert drop.queue.admitted_through == 35  # 80 left, 10 of the first 30 may still buy: room for all five
    assert drop.state_of(31) == "admitted"


def test_nothing_is_admitted_before_the_drop_opens_or_after_it_closes():
    drop = Drop(quantity=10, entrants=50)
    drop.tick(T0 - 5000, opened=False)
    assert drop.queue.admitted_through == 0 and drop.queue.last_step_ms == T0 - 5000
    assert drop.state_of(1) == "waiting"
    drop.tick(T0)
    assert drop.queue.admitted_through == 10
    drop.tick(T0 + ADMISSION_MS, closed=True)
    assert drop.queue.admitted_through == 10
    assert drop.state_of(1) == drop.state_of(11) == "closed"


def test_a_step_is_taken_at_most_once_a_second():
    queue = step(QueueState(issued=10), T0, 5, True, False)
    assert not due(queue, T0 + 999)
    assert due(queue, T0 + 1000)
    assert due(QueueState(), T0)


def test_an_admission_lasts_its_window_from_its_own_step_then_lapses():
    drop = Drop(quantity=5, entrants=20)
    drop.tick(T0)
    drop.left = 2
    drop.run(T0 + ADMISSION_MS)  # the first batch's window ends and 2 more come in
    assert drop.queue.admitted_through == 7
    at = standing(drop.queue, 6, drop.now, HOLD_MS)
    assert at.state == "admitted" and at.expires_ms == T0 + 2 * ADMISSION_MS
    assert standing(drop.queue, 6, T0 + 2 * ADMISSION_MS, HOLD_MS).state == "lapsed"  # nobody polled since


def test_the_queue_item_keeps_only_the_steps_that_can_still_matter():
    drop = Drop(quantity=100, entrants=1_000_000)
    drop.tick(T0)
    drop.left, sizes = 0, []
    for second in range(1, 3600):  # an hour in which a lapsed hold gives a unit back every second, unsold
        drop.left += 1
        drop.tick(T0 + second * 1000)
        sizes.append(len(drop.queue.steps))
    assert max(sizes) == ADMISSION_MS // 1000  # a step a second, each admitting someone: one window's worth
    queue = drop.queue
    assert queue.steps[0].at_ms > drop.now - ADMISSION_MS
    assert drop.state_of(queue.lapsed_through) == "lapsed" and drop.state_of(queue.lapsed_through + 1) == "admitted"
    assert queue.admitted_through == queue.steps[-1].up_to and drop.state_of(queue.admitted_through + 1) == "waiting"


def test_sold_out_waits_for_every_hold_an_admission_could_have_made():
    drop = Drop(quantity=3, entrants=10)
    drop.tick(T0)
    drop.left = 0
    drop.tick(T0 + 1000)
    assert standing(drop.queue, 4, T0 + ADMISSION_MS + HOLD_MS - 1, HOLD_MS).state == "waiting"
    assert standing(drop.queue, 4, T0 + ADMISSION_MS + HOLD_MS, HOLD_MS).state == "sold_out"
    assert standing(QueueState(left=0, last_step_ms=T0), 1, T0, HOLD_MS).state == "sold_out"  # never had a unit


# --- admission tokens ------------------------------------------------------------------------------


SECRET = "shopper-token-secret"


def test_an_admission_token_admits_its_shopper_to_its_drop_until_it_expires():
    token = admissions.issue(SECRET, "shp_a", "ses_1", "prd_1", 7, T0 + ADMISSION_MS)
    assert admissions.verify(SECRET, token, "shp_a", "ses_1", "prd_1", T0)
    assert admissions.verify(SECRET, token, "shp_a", "ses_1", "prd_1", T0 + ADMISSION_MS - 1)
    assert not admissions.verify(SECRET, token, "shp_a", "ses_1", "prd_1", T0 + ADMISSION_MS)
    assert not admissions.verify(SECRET, token, "shp_b", "ses_1", "prd_1", T0)  # another shopper
    assert not admissions.verify(SECRET, token, "shp_a", "ses_2", "prd_1", T0)  # another session
    assert not admissions.verify(SECRET, token, "shp_a", "ses_1", "prd_2", T0)  # another drop
    assert not admissions.verify("another secret", token, "shp_a", "ses_1", "prd_1", T0)


@pytest.mark.parametrize("change", [
    lambda t: t.replace(".7.", ".1."),                                           # an earlier position
    lambda t: t.replace(f".{T0 + ADMISSION_MS}.", f".{T0 + 10 * ADMISSION_MS}."),  # a later expiry
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),                  # another signature
    lambda t: t.rsplit(".", 1)[0],                                               # no signature
    lambda t: "shp" + t[3:],                                                      # another prefix
    lambda t: t + ".x",
    lambda t: t.replace(".7.", ".é."),
    lambda t: "",
])
def test_a_changed_admission_token_admits_nobody(change):
    token = admissions.issue(SECRET, "shp_a", "ses_1", "prd_1", 7, T0 + ADMISSION_MS)
    assert not admissions.verify(SECRET, change(token), "shp_a", "ses_1", "prd_1", T0)


def test_an_admission_is_not_signed_with_the_shopper_token_key():
    """The same secret signs shopper tokens: an admission's signature must not be what a shopper
    token's HMAC over the same text would be."""
    import base64
    import hashlib
    import hmac

    token = admissions.issue(SECRET, "shp_a", "ses_1", "prd_1", 7, T0 + ADMISSION_MS)
    payload, signature = token.rsplit(".", 1)
    for message in (payload, f"{payload}\nshp_a"):
        plain = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).digest())
        assert signature != plain.decode().rstrip("=")
