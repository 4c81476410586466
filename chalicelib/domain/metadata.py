"""Timed metadata that reaches every viewer's player through IVS: a compact, versioned JSON.

Schema v1 (documented in the README):
    {"v": 1, "type": "feature", "seq": <int>, "at": "<ISO-8601>",
     "product": {"id": "prd_...", "title": "...", "image": "https://..." | null},
     "price": {"amount": <minor units>, "currency": "EUR"}, "left": <units left> | null}
    {"v": 1, "type": "drop_open" | "sold_out" | "stock", "seq": <int>, "at": "<ISO-8601>",
     "product": {"id": "prd_..."}, "left": <units left>}

IVS takes at most 1 KB per PutMetadata and 5 requests per second per channel.
"""
from __future__ import annotations

import json
from typing import Any

MAX_BYTES = 1024
MIN_INTERVAL_MS = 200  # 5 PutMetadata per second per channel
VERSION = 1


def drop_event_payload(kind: str, seq: int, at: str, product_id: str, left: int) -> str:
    """"drop_open", "sold_out" or "stock" (the units-left ticker): small by construction."""
    return _encode({"v": VERSION, "type": kind, "seq": seq, "at": at, "product": {"id": product_id}, "left": left})


def _encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def feature_payload(seq: int, at: str, product_id: str, title: str, image: str | None, amount: int,
                    currency: str, left: int | None) -> str:
    """The feature event, cut to fit 1 KB: the image goes first, then the title is shortened."""
    product: dict[str, Any] = {"id": product_id, "title": title, "image": image}
    payload = {"v": VERSION, "type": "feature", "seq": seq, "at": at, "product": product,
               "price": {"amount": amount, "currency": currency}, "left": left}
    encoded = _encode(payload)
    if len(encoded.encode()) > MAX_BYTES:
        product["image"] = None
        encoded = _encode(payload)
    while len(encoded.encode()) > MAX_BYTES and product["title"]:
        over = len(encoded.encode()) - MAX_BYTES
        product["title"] = product["title"][: max(0, len(product["title"]) - over - 1)] + "…"
        if product["title"] == "…":
            product["title"] = ""
        encoded = _encode(payload)
    if len(encoded.encode()) > MAX_BYTES:
        raise ValueError("metadata does not fit in 1 KB")
    return encoded
