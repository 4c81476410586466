"""Shopper tokens: `shp.<shopperId>.<expires epoch>.<signature>`, HMAC-SHA256 signed.

Self-contained, so that checking one costs no read. The secret comes from configuration.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "shp"
LIFETIME_SECONDS = 24 * 3600


def new_shopper_id() -> str:
    return "shp_" + secrets.token_hex(11)


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(secret: str, shopper_id: str, now: int, lifetime: int = LIFETIME_SECONDS) -> tuple[str, int]:
    expires = now + lifetime
    payload = f"{PREFIX}.{shopper_id}.{expires}"
    return f"{payload}.{_signature(secret, payload)}", expires


def verify(secret: str, token: str, now: int) -> str | None:
    """The shopper id of a genuine, unexpired token, else None."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not parts[2].isdigit():
        return None
    payload = ".".join(parts[:3])
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a token is the client's input.
    if not hmac.compare_digest(_signature(secret, payload).encode(), parts[3].encode()):
        return None
    if int(parts[2]) <= now:
        return None
    return parts[1]
