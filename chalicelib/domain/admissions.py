"""Admission tokens: `adm.<sessionId>.<productId>.<position>.<expires epoch ms>.<signature>`.

What a queue drop's admitted shopper shows at checkout (the order's `admission`): HMAC-SHA256
over the fields and the shopper's id, so checking one costs no read, and a token is good only
for the shopper it was issued to, for that drop, until it expires. The key is derived from the
shopper token secret under a label of its own: a shopper token's signature is never a valid
admission, nor the other way round.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "adm"
KEY_LABEL = b"livedrop-admission-v1"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest()


def _signature(secret: str, payload: str, shopper_id: str) -> str:
    digest = hmac.new(_key(secret), f"{payload}\n{shopper_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(secret: str, shopper_id: str, session_id: str, product_id: str, position: int, expires: int) -> str:
    """A token admitting the shopper to the drop until `expires` (epoch ms)."""
    payload = f"{PREFIX}.{session_id}.{product_id}.{position}.{expires}"
    return f"{payload}.{_signature(secret, payload, shopper_id)}"


def verify(secret: str, token: str, shopper_id: str, session_id: str, product_id: str, now: int) -> bool:
    """Whether the token admits this shopper to this drop at `now` (epoch ms)."""
    parts = token.split(".")
    if len(parts) != 6 or parts[0] != PREFIX or not parts[3].isdigit() or not parts[4].isdigit():
        return False
    payload = ".".join(parts[:5])
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a token is the client's input.
    if not hmac.compare_digest(_signature(secret, payload, shopper_id).encode(), parts[5].encode()):
        return False
    return parts[1] == session_id and parts[2] == product_id and int(parts[4]) > now

