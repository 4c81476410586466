"""Shopper identity: anonymous shoppers with signed, expiring tokens (no read to check one)."""
from __future__ import annotations

from typing import Callable

from chalicelib.domain import shopper_tokens
from chalicelib.domain.clock import epoch_ms
from chalicelib.domain.ports import Clock
from chalicelib.domain.errors import Unauthorized
from chalicelib.services.rate_limits import RateLimiter

UNKNOWN_ADDRESS = "unknown"  # requests without a client address share one budget


class Shoppers:
    def __init__(self, secret: Callable[[], str], clock: Clock, limiter: RateLimiter) -> None:
        self._secret = secret
        self.clock = clock
        self.limiter = limiter

    def register(self, address: str | None = None) -> tuple[str, str, int]:
        """A new anonymous shopper, within the `shopper_mint` rule of the client's address (None:
        not known). New identities are free, so without it any per-shopper limit is one request
        from a reset."""
        self.limiter.check("shopper_mint", address or UNKNOWN_ADDRESS)
        shopper_id = shopper_tokens.new_shopper_id()
        token, expires = shopper_tokens.issue(self._secret(), shopper_id, epoch_ms(self.clock.now()) // 1000)
        return shopper_id, token, expires

    def authenticate(self, token: str | None) -> str:
        shopper_id = shopper_tokens.verify(self._secret(), token or "", epoch_ms(self.clock.now()) // 1000)
        if shopper_id is None:
            raise Unauthorized("a valid shopper token is required")
        return shopper_id
