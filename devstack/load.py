"""Concurrent buyers over HTTP, for the spike tests and bench/spike.py. Loopback only.

The load generator shares the machine with the server and DynamoDB Local, so it is kept cheap:
one keep-alive `http.client` connection per thread, opened before the first request, and every
request encoded before the clock starts. `requests` cost about 0.8 ms of CPU per request here,
`http.client` about 0.12 ms (bench/spike.py measures it against a trivial route in each run).
"""
from __future__ import annotations

import http.client
import json
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from chalicelib.domain import shopper_tokens


@dataclass
class Attempt:
    status: int
    body: dict
    seconds: float
    finished_at: float
    token: str
    sent_at: float = 0.0


@dataclass
class SpikeResult:
    attempts: list[Attempt] = field(default_factory=list)
    wall_seconds: float = 0.0
    started_at: float = 0.0  # perf_counter when the first request could be sent
    reconnects: int = 0      # connections the server closed under a request (it was sent again, same key)

    def count(self, status: int, problem: str | None = None) -> int:
        return sum(1 for a in self.attempts if a.status == status
                   and (problem is None or a.body.get("type", "").endswith("/" + problem)))


def shopper_token(secret: str) -> str:
    """Mint a shopper token as POST /v1/shoppers would, without a request per buyer."""
    return shopper_tokens.issue(secret, shopper_tokens.new_shopper_id(), int(time.time()))[0]


class Client:
    """One keep-alive connection; a request the server closed the connection under is sent again
    once on a new one (safe: every order request carries its Idempotency-Key)."""

    def __init__(self, base_url: str, timeout: float = 120) -> None:
        url = urlsplit(base_url)
        self.host, self.port, self.timeout = url.hostname or "127.0.0.1", url.port or 80, timeout
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.reconnects = 0

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                if attempt == 2:
                    raise
                self.reconnects += 1
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


def spike(base_url: str, requests_to_send: list[tuple[str, dict, str]], concurrency: int = 64,
          progress=None, path: str = "/v1/orders") -> SpikeResult:
    """POST each (token, order body, idempotency key) to `path` from `concurrency` threads."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for token, body, key in requests_to_send:
        work.put((token, json.dumps(body).encode(), {
            "Authorization": f"Bearer {token}", "Idempotency-Key": key, "Content-Type": "application/json"}))
    result = SpikeResult()
    lock = threading.Lock()
    failures: list[BaseException] = []
    count = min(concurrency, len(requests_to_send))
    # Every connection is open (and its server thread started) before the first request is sent:
    # the figures start with the first order, not with the load generator's start-up.
    ready = threading.Barrier(count + 1)

    def worker() -> None:
        client = Client(base_url)
        mine: list[Attempt] = []
        try:
            try:
                client.connection.connect()
            finally:
                ready.wait()
            while True:
                try:
                    token, body, headers = work.get_nowait()
                except queue.Empty:
                    return
                sent = time.perf_counter()
                status, content = client.send("POST", path, body, headers)
                finished = time.perf_counter()
                mine.append(Attempt(status, json.loads(content) if content else {}, finished - sent, finished,
                                    token, sent))
                if progress is not None:
                    progress()
        except BaseException as failure:  # raised again below, not lost in a thread
            failures.append(failure)
        finally:
            client.close()
            with lock:
                result.attempts.extend(mine)
                result.reconnects += client.reconnects

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    ready.wait()
    result.started_at = time.perf_counter()
    for thread in threads:
        thread.join()
    result.wall_seconds = time.perf_counter() - result.started_at
    if failures:
        raise failures[0]
    result.attempts.sort(key=lambda a: a.finished_at)
    return result


def buyers(secret: str, session_id: str, product_id: str, count: int, quantity: int = 1):
    body = {"sessionId": session_id, "items": [{"productId": product_id, "quantity": quantity}]}
    return [(shopper_token(secret), body, secrets.token_hex(8)) for _ in range(count)]
