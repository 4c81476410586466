"""Shopper identity: anonymous shoppers with signed, expiring tokens (no read to check one)."""
from __future__ import annotations

from typing import Callable

from chalicelib.domain import shopper_tokens
from chalicelib.domain.clock import epoch_ms
from chalicelib.domain.ports import Clock
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.shopper_tokens import Shopper


class Shoppers:
    def __init__(self, secret: Callable[[], str], clock: Clock) -> None:
        self._secret = secret
        self.clock = clock

    def register(self) -> tuple[str, str, int]:
        shopper_id = shopper_tokens.new_shopper_id()
        token, expires = shopper_tokens.issue(self._secret(), shopper_id, epoch_ms(self.clock.now()) // 1000)
        return shopper_id, token, expires

    def authenticate(self, token: str | None) -> Shopper:
        shopper = shopper_tokens.verify(self._secret(), token or "", epoch_ms(self.clock.now()) // 1000)
        if shopper is None:
            raise Unauthorized("a valid shopper token is required")
        return shopper
