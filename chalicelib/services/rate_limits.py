"""Rate limits, applied: one conditional write per check, on the window the clock is in."""
from __future__ import annotations

from typing import Mapping

from chalicelib.domain.clock import epoch_ms
from chalicelib.domain.errors import RateLimited
from chalicelib.domain.ports import Clock, RateCounters
from chalicelib.domain.rate_limits import Rule, Window, refusal, window


class RateLimiter:
    def __init__(self, counters: RateCounters, rules: Mapping[str, Rule], clock: Clock) -> None:
        self.counters = counters
        self.rules = rules
        self.clock = clock

    def window(self, rule_name: str, subject: str) -> Window:
        """The subject's window of the rule now: for a caller that counts it in a transaction of
        its own (the checkout's `order` rule) instead of calling `check`."""
        return window(self.rules[rule_name], subject, epoch_ms(self.clock.now()))

    def refused(self, rule_name: str, full: Window) -> RateLimited:
        """The 429 for a window found full (by `check`, or by a caller's own transaction)."""
        return refusal(self.rules[rule_name], full)

    def check(self, rule_name: str, subject: str) -> None:
        """Count one request of `subject` under the rule, or raise RateLimited (429 with
        Retry-After: the whole seconds to the window's end)."""
        current = self.window(rule_name, subject)
        if not self.counters.hit(current):
            raise self.refused(rule_name, current)
