"""Shopper identity: anonymous shoppers with signed, expiring tokens (no read to check one), and
verified shoppers, whose token is exchanged for the identity provider's ID token."""
from __future__ import annotations

from typing import Callable

from chalicelib.domain import shopper_tokens
from chalicelib.domain.clock import epoch_ms
from chalicelib.domain.ports import Clock, IdentityTokens
from chalicelib.domain.errors import NotFound, Unauthorized
from chalicelib.domain.shopper_tokens import Shopper
from chalicelib.domain.rate_limits import client_subject
from chalicelib.services.rate_limits import RateLimiter

UNKNOWN_ADDRESS = "unknown"  # requests without a client address share one budget


class Shoppers:
    def __init__(self, secret: Callable[[], str], clock: Clock, limiter: RateLimiter,
                 identity_tokens: IdentityTokens | None = None) -> None:
        self._secret = secret
        self.clock = clock
        self.limiter = limiter
        self._identity_tokens = identity_tokens  # None: no identity provider is configured

    def register(self, address: str | None = None) -> tuple[str, str, int]:
        """A new anonymous shopper, within the `shopper_mint` rule of the client's address (None:
        not known). New identities are free, so without it any per-shopper limit is one request
        from a reset."""
        self.limiter.check("shopper_mint", client_subject(address) if address else UNKNOWN_ADDRESS)
        shopper_id = shopper_tokens.new_shopper_id()
        token, expires = shopper_tokens.issue(self._secret(), shopper_id, epoch_ms(self.clock.now()) // 1000)
        return shopper_id, token, expires

    def register_verified(self, id_token: str | None) -> tuple[Shopper, str, int]:
        """(the shopper, its `shv.` token, the token's expiry) for a genuine ID token of the
        identity provider. The shopper id is the person's own, the same at every exchange."""
        if self._identity_tokens is None:
            raise NotFound("identity provider", "", detail="verified shoppers are not configured on this deployment")
        if not id_token:
            raise Unauthorized("an ID token of the identity provider is required (Authorization: Bearer <JWT>)")
        now = epoch_ms(self.clock.now()) // 1000
        identity = self._identity_tokens.verify(id_token, now)
        shopper = Shopper(shopper_tokens.verified_shopper_id(identity.issuer, identity.subject), verified=True)
        token, expires = shopper_tokens.issue(self._secret(), shopper.id, now, verified=True)
        return shopper, token, expires

    def authenticate(self, token: str | None) -> Shopper:
        shopper = shopper_tokens.verify(self._secret(), token or "", epoch_ms(self.clock.now()) // 1000)
        if shopper is None:
            raise Unauthorized("a valid shopper token is required")
        return shopper
