"""Live session rules: the status machine and what may change in each status."""
from __future__ import annotations

from enum import Enum


class SessionStatus(str, Enum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


# For each action, the statuses it may start from. Repeating an action is allowed (a retried
# `start` on a live session answers 200), so a target status is also a valid source.
TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.LIVE: frozenset({SessionStatus.SCHEDULED, SessionStatus.LIVE}),
    SessionStatus.ENDED: frozenset({SessionStatus.SCHEDULED, SessionStatus.LIVE, SessionStatus.ENDED}),
}

# A lineup can be built before the show and changed during it, never after.
LINEUP_EDITABLE = frozenset({SessionStatus.SCHEDULED, SessionStatus.LIVE})


def can_move(current: SessionStatus, target: SessionStatus) -> bool:
    return current in TRANSITIONS[target]


def list_key(scheduled_at: str, session_id: str) -> str:
    """Sort key of the public listing: by scheduled time, ties broken by id."""
    return f"{scheduled_at}#{session_id}"
