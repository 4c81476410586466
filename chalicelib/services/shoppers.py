"""Shopper identity: anonymous shoppers with signed, expiring tokens (no read to check one)."""
from __future__ import annotations

import time
from typing import Callable

from chalicelib.domain import shopper_tokens
from chalicelib.domain.errors import Unauthorized


class Shoppers:
    def __init__(self, secret: Callable[[], str]) -> None:
        self._secret = secret

    def register(self) -> tuple[str, str, int]:
        shopper_id = shopper_tokens.new_shopper_id()
        token, expires = shopper_tokens.issue(self._secret(), shopper_id, int(time.time()))
        return shopper_id, token, expires

    def authenticate(self, token: str | None) -> str:
        shopper_id = shopper_tokens.verify(self._secret(), token or "", int(time.time()))
        if shopper_id is None:
            raise Unauthorized("a valid shopper token is required")
        return shopper_id
