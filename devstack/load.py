"""Concurrent buyers over HTTP, for the spike tests and bench/spike.py. Loopback only."""
from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from chalicelib.domain import shopper_tokens


@dataclass
class Attempt:
    status: int
    body: dict
    seconds: float
    finished_at: float
    token: str


@dataclass
class SpikeResult:
    attempts: list[Attempt] = field(default_factory=list)
    wall_seconds: float = 0.0

    def count(self, status: int, problem: str | None = None) -> int:
        return sum(1 for a in self.attempts if a.status == status
                   and (problem is None or a.body.get("type", "").endswith("/" + problem)))


def shopper_token(secret: str) -> str:
    """Mint a shopper token as POST /v1/shoppers would, without a request per buyer."""
    return shopper_tokens.issue(secret, shopper_tokens.new_shopper_id(), int(time.time()))[0]


def spike(base_url: str, requests_to_send: list[tuple[str, dict, str]], concurrency: int = 64,
          progress=None) -> SpikeResult:
    """POST each (token, order body, idempotency key) to /v1/orders from `concurrency` threads."""
    local = threading.local()
    result = SpikeResult()
    lock = threading.Lock()

    def send(item: tuple[str, dict, str]) -> None:
        token, body, key = item
        if not hasattr(local, "http"):
            local.http = requests.Session()
        started = time.perf_counter()
        response = local.http.post(f"{base_url}/v1/orders", json=body, timeout=120,
                                   headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
        finished = time.perf_counter()
        attempt = Attempt(response.status_code, response.json() if response.content else {},
                          finished - started, finished, token)
        with lock:
            result.attempts.append(attempt)
        if progress is not None:
            progress()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(send, requests_to_send))
    result.wall_seconds = time.perf_counter() - started
    return result


def buyers(secret: str, session_id: str, product_id: str, count: int, quantity: int = 1):
    body = {"sessionId": session_id, "items": [{"productId": product_id, "quantity": quantity}]}
    return [(shopper_token(secret), body, secrets.token_hex(8)) for _ in range(count)]
