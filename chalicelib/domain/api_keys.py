"""Brand API keys: `ldk.<brandId>.<secret>`. Only a hash of the secret is stored.

The secret has 256 bits of entropy, so one round of SHA-256 is enough: no slow hash is needed to
resist guessing, and the brand id in the key finds the brand with one read, no index.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "ldk"


@dataclass(frozen=True)
class IssuedKey:
    plaintext: str  # shown to the brand once, never stored
    hash: str


def issue_key(brand_id: str) -> IssuedKey:
    secret = secrets.token_urlsafe(32)
    return IssuedKey(plaintext=f"{PREFIX}.{brand_id}.{secret}", hash=hash_secret(secret))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(presented: str) -> tuple[str, str] | None:
    """(brand id, secret) of a well-formed key, else None."""
    parts = presented.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def same_secret(presented: str, expected: str) -> bool:
    """Constant-time comparison for shared secrets such as the operator key."""
    return hmac.compare_digest(presented.encode(), expected.encode())
