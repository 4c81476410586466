"""A real webhook receiver on 127.0.0.1 for the tests: it keeps every request it gets (headers and
body as sent), answers each from a script (a status, optionally with Retry-After, or holding the
connection until released), and lets a test wait until requests have arrived, without sleeping."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devstack.stack import LOOPBACK


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return self.event["type"]


@dataclass
class Answer:
    status: int = 204
    retry_after: str | None = None
    hold: threading.Event | None = None  # keep the request waiting until this is set


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)  # answers for the next requests, in order
    arrived: threading.Condition = field(default_factory=threading.Condition)
    holds: list[threading.Event] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server.server_address[1]}/hooks"

    def answer(self, *answers: Answer) -> None:
        with self.arrived:
            self.script += answers

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Until at least `count` requests have arrived (a bound against hanging, not a speed claim)."""
        return self.wait_until(lambda received: len(received) >= count, timeout, f"{count} requests")

    def wait_until(self, check, timeout: float = 30.0, what: str = "the awaited request") -> list[Received]:
        """Until `check(requests so far)` holds, looked at each time a request arrives."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: check(self.received), timeout):
                raise AssertionError(f"not {what} within {timeout} s: {[r.type for r in self.received]}")
            return list(self.received)

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.type == event_type]

    def close(self) -> None:
        for hold in self.holds:
            hold.set()
        self.server.shutdown()
        self.server.server_close()


def start_receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            with receiver.arrived:
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                answer = receiver.script.pop(0) if receiver.script else Answer()
                receiver.arrived.notify_all()
            if answer.hold is not None:
                receiver.holds.append(answer.hold)
                answer.hold.wait(120)
                return  # no answer at all: the sender's worker was killed meanwhile, or timed out
            self.send_response(answer.status)
            if answer.retry_after:
                self.send_header("Retry-After", answer.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    return receiver
