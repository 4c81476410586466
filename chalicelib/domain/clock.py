"""Timestamps: ISO 8601 UTC with milliseconds and a Z, so that string order is time order.

The time itself comes from a `Clock` (domain/ports.py): these helpers only convert.
"""
from __future__ import annotations

from datetime import datetime, timezone


def to_iso(moment: datetime) -> str:
    """Always a four-digit year: string order is time order only at a fixed width."""
    utc = moment.astimezone(timezone.utc)
    return (f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}."
            f"{utc.microsecond // 1000:03d}Z")


def parse_iso(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso_ms(iso: str) -> int:
    return epoch_ms(parse_iso(iso))



def iso_of_ms(ms: int) -> str:
    return to_iso(datetime.fromtimestamp(ms / 1000, tz=timezone.utc))
