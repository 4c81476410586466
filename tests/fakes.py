"""In-memory implementations of ports, for tests that run services without I/O."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


class FakeClock:
    """Time that moves only when a test moves it; `sleep` moves it too, so waiting costs nothing."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(timezone.utc)
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds
