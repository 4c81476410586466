"""Timestamps: ISO 8601 UTC with milliseconds and a Z, so that string order is time order."""
from __future__ import annotations

from datetime import datetime, timezone


def to_iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return to_iso(datetime.now(timezone.utc))
