"""Queue drops: shoppers join before (or while) a drop is open and buy when admitted, in order.

Positions come from the drop's position counters: counter k of S hands out 1, 2, 3... and its
n-th number is position (n - 1) * S + k + 1, so the counters never give the same position and
with one counter positions are 1, 2, 3... in join order. With several, positions are in join
order per counter only, and a counter that ran ahead leaves gaps in the others' numbers.

Admission is a series of steps, kept on the drop's `#queue` item. A step is taken at most once a
second per drop, once it is open, by whoever reads the queue first (a shopper's poll). A step
admits every position up to its `up_to`; a position is admitted by the first step whose `up_to`
reaches it, for ADMISSION_SECONDS from that step. How many a step admits follows the units left:

    pending = positions admitted by the steps of the last ADMISSION_SECONDS
              - units taken since the oldest of those steps (its units left - units left now, >= 0)
    new     = max(0, units left now - pending)

so when every admitted shopper buys at once exactly `quantity` positions are admitted, when
nobody buys the next batch comes when the first one's admission is over, and units given back
(a hold released) admit more at once. Pure: the caller reads the units left and the clock.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

ADMISSION_SECONDS = 60
ADMISSION_MS = ADMISSION_SECONDS * 1000
STEP_MS = 1000  # at most one step a second per drop: one conditional write on `#queue`


def position_of(count: int, counter: int, counters: int) -> int:
    """The position counter `counter` (of `counters`) gives as its `count`-th number (from 1)."""
    return (count - 1) * counters + counter + 1


def highest_position(counts: dict[int, int], counters: int) -> int:
    """The highest position the counters handed out so far (counter -> numbers given); 0 if none."""
    return max((position_of(n, k, counters) for k, n in counts.items() if n > 0), default=0)


@dataclass(frozen=True)
class Step:
    at_ms: int  # when it was taken: its admissions last until at_ms + ADMISSION_MS
    up_to: int  # positions up to this one are admitted by now (by this step or an earlier one)
    left: int   # units left when it was taken


@dataclass(frozen=True)
class QueueState:
    """The `#queue` item. Only steps that may still matter are kept (at most one a second over
    ADMISSION_SECONDS); those forgotten leave their running maximum in `lapsed_through`."""
    steps: tuple[Step, ...] = ()
    lapsed_through: int = 0          # positions up to this one had their admission, and it is over
    last_step_ms: int | None = None  # the last step taken, whether it admitted anyone or not
    left: int | None = None          # units left then
    last_admission_ms: int | None = None  # the last step that admitted someone (forgotten or not)
    closed: bool = False             # the drop had closed at the last step
    issued: int = 0                  # the highest position handed out: read from the counters, not stored

    @property
    def admitted_through(self) -> int:
        return self.steps[-1].up_to if self.steps else self.lapsed_through


def due(state: QueueState, now_ms: int) -> bool:
    """Whether a step may be taken now."""
    return state.last_step_ms is None or state.last_step_ms <= now_ms - STEP_MS


def pending(steps: tuple[Step, ...], before: int, left: int) -> int:
    """Admitted positions that may still buy: those of `steps` (the steps whose admissions are
    still open; `before`: the positions admitted before them) less the units taken since the oldest."""
    if not steps:
        return 0
    admitted = steps[-1].up_to - before
    taken = max(0, steps[0].left - left)  # units given back since count as not taken
    return max(0, admitted - taken)


def step(state: QueueState, now_ms: int, left: int, opened: bool, closed: bool) -> QueueState:
    """The queue after a step at `now_ms`, with `left` units left over all the drop's shards.
    Nothing is admitted before the drop opens or after it closes, nor beyond the highest position
    handed out (a position admitted before its shopper joined would count as pending for nobody)."""
    open_steps = tuple(s for s in state.steps if s.at_ms + ADMISSION_MS > now_ms)
    forgotten = state.steps[:len(state.steps) - len(open_steps)]
    lapsed_through = forgotten[-1].up_to if forgotten else state.lapsed_through
    through = open_steps[-1].up_to if open_steps else lapsed_through
    new = 0
    if opened and not closed:
        new = min(max(0, left - pending(open_steps, lapsed_through, left)), max(0, state.issued - through))
    if new:
        open_steps += (Step(now_ms, through + new, left),)
    return replace(state, steps=open_steps, lapsed_through=lapsed_through, last_step_ms=now_ms, left=left,
                   last_admission_ms=now_ms if new else state.last_admission_ms, closed=closed)


@dataclass(frozen=True)
class Standing:
    """Where one position stands. States: `waiting` (with `ahead`: positions before it not yet
    admitted, an estimate when positions have gaps), `admitted` (until `expires_ms`), `lapsed`
    (its admission is over), `sold_out` (no unit left and every hold an admission could have made
    has ended), `closed` (the drop closed before its turn)."""
    state: str
    ahead: int | None = None
    expires_ms: int | None = None


def standing(state: QueueState, position: int, now_ms: int, hold_ms: int) -> Standing:
    if state.closed:
        return Standing("closed")
    if position <= state.lapsed_through:
        return Standing("lapsed")
    for admitted in state.steps:
        if admitted.up_to >= position:
            expires = admitted.at_ms + ADMISSION_MS
            return Standing("admitted", expires_ms=expires) if now_ms < expires else Standing("lapsed")
    if sold_out(state, now_ms, hold_ms):
        return Standing("sold_out")
    return Standing("waiting", ahead=max(0, position - 1 - state.admitted_through))


def sold_out(state: QueueState, now_ms: int, hold_ms: int) -> bool:
    """No unit left, and none can come back from a hold: an admitted shopper buys within
    ADMISSION_MS of the step, and a hold lasts `hold_ms`. (A payment still settling past its hold
    may yet give a unit back: the queue then admits again.)"""
    if state.left != 0:
        return False
    return state.last_admission_ms is None or now_ms >= state.last_admission_ms + ADMISSION_MS + hold_ms
