"""Draws: a drop's units allocated at random among its entrants, auditably.

The seed is drawn when the drop is added and only its SHA-256 is published then; after the draw
the seed itself is published, and anyone can recompute the winners from the entrants and the seed.
"""
from __future__ import annotations

import hashlib
import secrets


def new_seed() -> str:
    return secrets.token_hex(32)


def commitment(seed: str) -> str:
    """What is published before the draw: the SHA-256 of the seed's text, in hex."""
    return hashlib.sha256(seed.encode()).hexdigest()
