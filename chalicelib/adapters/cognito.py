"""Cognito ID tokens, verified with PyJWT against the user pool's published keys (its JWKS).

The keys are fetched on the first token and kept an hour (PyJWKClient's cache); a token signed
with a key not in the set fetches it again at most once per 30 s (PyJWKClient's cooldown), so a
stream of tokens with made-up key ids can not make each request fetch. PyJWT itself is imported
on the first token, not at cold start. Times are checked against the caller's clock (`now`), not
PyJWT's, so that tests move time as everywhere else.
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import Busy, Unauthorized
from chalicelib.domain.ports import VerifiedIdentity
from chalicelib.observability import logger

# Cognito signs with RS256. Fixed here, never read from the token: `none`, or HS256 keyed with the
# public key, are refused by PyJWT before any claim is looked at.
ALGORITHMS = ["RS256"]
JWKS_LIFESPAN_SECONDS = 3600
JWKS_TIMEOUT_SECONDS = 5  # well inside the Lambda's 15 s
REFUSED = "not a valid ID token of this deployment's identity provider"


class CognitoIdTokens:
    def __init__(self, issuer: str, client_ids: tuple[str, ...], jwks_url: str) -> None:
        self.issuer = issuer
        self.client_ids = client_ids
        self.jwks_url = jwks_url
        self._jwks: Any = None

    def _keys(self) -> Any:
        if self._jwks is None:
            import jwt

            self._jwks = jwt.PyJWKClient(self.jwks_url, cache_jwk_set=True, lifespan=JWKS_LIFESPAN_SECONDS,
                                         timeout=JWKS_TIMEOUT_SECONDS)
        return self._jwks

    def verify(self, id_token: str, now: int) -> VerifiedIdentity:
        import jwt

        try:
            key = self._keys().get_signing_key_from_jwt(id_token)
        except jwt.PyJWKClientConnectionError as error:
            logger.warning("identity provider keys unavailable", extra={"error": str(error)})
            raise Busy("the identity provider's keys can not be fetched; retry") from None
        except ValueError as error:  # the keys' URL answered something that is not JSON
            logger.warning("identity provider keys unreadable", extra={"error": str(error)})
            raise Busy("the identity provider's keys can not be read; retry") from None
        except jwt.PyJWTError:  # not a JWT, or no key of the set has its kid
            raise Unauthorized(REFUSED) from None
        try:
            # A key of the set is bound to its own algorithm: PyJWT refuses a token whose `alg` differs.
            claims = jwt.decode(
                id_token, key, algorithms=ALGORITHMS, audience=list(self.client_ids), issuer=self.issuer,
                # Times are checked below against `now`; PyJWT would read the system clock.
                options={"require": ["iss", "aud", "sub", "exp", "token_use"],
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False})
        except jwt.PyJWTError:
            raise Unauthorized(REFUSED) from None
        return identity_of(claims, now)


def identity_of(claims: dict[str, Any], now: int) -> VerifiedIdentity:
    """What a signature-checked token of the right issuer and audience says, if it is an ID
    token (not an access token, which Cognito signs with the same keys) and unexpired at `now`."""
    exp, nbf, subject = claims.get("exp"), claims.get("nbf"), claims.get("sub")
    if claims.get("token_use") != "id":
        raise Unauthorized("an ID token is required, not an access token")
    if not isinstance(exp, int) or isinstance(exp, bool) or exp <= now:
        raise Unauthorized("the ID token has expired")
    if nbf is not None and (not isinstance(nbf, int) or nbf > now):
        raise Unauthorized(REFUSED)
    if not isinstance(subject, str) or not subject:
        raise Unauthorized(REFUSED)
    return VerifiedIdentity(issuer=str(claims["iss"]), subject=subject)
