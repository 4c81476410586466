"""Shopper tokens, HMAC-SHA256 signed: `shp.<shopperId>.<expires epoch>.<signature>` for an
anonymous shopper, `shv.<shopperId>.<expires epoch>.<signature>` for a verified one (a person
signed in with the identity provider: POST /v1/shoppers/verified).

Self-contained, so that checking one costs no read. The secret comes from configuration. The
prefix is part of what is signed, so an anonymous token can not be passed off as a verified one.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

PREFIX = "shp"  # anonymous
VERIFIED_PREFIX = "shv"
LIFETIME_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Shopper:
    """Who a shopper token speaks for. `verified`: the id stands for one person of the identity
    provider, the same at every sign-in; an anonymous id is new with every POST /v1/shoppers."""
    id: str
    verified: bool


def new_shopper_id() -> str:
    return "shp_" + secrets.token_hex(11)


def verified_shopper_id(issuer: str, subject: str) -> str:
    """The one shopper id of a person: the same (issuer, sub) always gives the same id, so that
    per-customer limits count people, not sign-ins. JSON keeps the two apart unambiguously."""
    digest = hashlib.sha256(json.dumps([issuer, subject]).encode()).hexdigest()
    return "shp_" + digest[:22]


def is_shopper_token(token: str | None) -> bool:
    """Whether a bearer credential is a shopper token (of either kind), not a brand key: by its
    prefix alone, without checking it."""
    return (token or "").startswith((PREFIX + ".", VERIFIED_PREFIX + "."))


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(secret: str, shopper_id: str, now: int, lifetime: int = LIFETIME_SECONDS,
          verified: bool = False) -> tuple[str, int]:
    expires = now + lifetime
    payload = f"{VERIFIED_PREFIX if verified else PREFIX}.{shopper_id}.{expires}"
    return f"{payload}.{_signature(secret, payload)}", expires


def verify(secret: str, token: str, now: int) -> Shopper | None:
    """The shopper of a genuine, unexpired token of either kind, else None."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] not in (PREFIX, VERIFIED_PREFIX) or not parts[2].isdigit():
        return None
    payload = ".".join(parts[:3])
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a token is the client's input.
    if not hmac.compare_digest(_signature(secret, payload).encode(), parts[3].encode()):
        return None
    if int(parts[2]) <= now:
        return None
    return Shopper(parts[1], verified=parts[0] == VERIFIED_PREFIX)
