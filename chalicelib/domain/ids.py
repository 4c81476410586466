"""Identifiers: a type prefix, then a time-ordered part, so that a listing by id is by creation."""
from __future__ import annotations

import re
import secrets
import time

_ID = re.compile(r"^(brd|prd|ses|whk)_[0-9a-f]{12}[0-9a-f]{10}$")


def new_id(prefix: str) -> str:
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{millis:012x}{secrets.token_hex(5)}"


def is_id(value: str, prefix: str) -> bool:
    return bool(_ID.match(value)) and value.startswith(prefix + "_")
