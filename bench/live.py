"""/live under a crowd of pollers: calls/s per server and DynamoDB requests per call.

A live show with a realistic lineup (10 drops, a timeline of pins, some likes) on the embedded
stack (DynamoDB Local + moto), polled by N concurrent viewers (kept-alive connections, each warmed
by two calls first) for a fixed time, each way first with LIVEDROP_LIVE_STATE_SECONDS=0 (the state
computed on every call, as before: the baseline) and then with the default (1 s), with the ratio:
- over HTTP to `chalice local` as `make run` serves it (Nagle off on its sockets:
  devstack/chalice_local.py);
- in-process: the Lambda entry point `app(event, context)` called on N threads, no HTTP.
Then where a cached call's time goes, part by part, single-threaded. DynamoDB requests per call
come from devstack/chalice_local.py's LIVEDROP_AWS_CALL_LOG over HTTP and from botocore
in-process (with the read units DynamoDB reports). Everything runs on 127.0.0.1.

    PYTHONPATH=. .venv/bin/python bench/live.py [--drops 10] [--pins 20] [--pollers 32] [--seconds 8]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.run import start_api, stop_api, wait_for_api  # noqa: E402
from devstack.stack import LOOPBACK, EmbeddedStack, free_port  # noqa: E402

KNOB = "LIVEDROP_LIVE_STATE_SECONDS"
LIVE_ROUTE = "/v1/sessions/{session_id}/live"  # as the AWS call log names it


def set_up_show(base: str, operator: str, drops: int, pins: int) -> str:
    """A live session with `drops` drops, `pins` pins in its timeline and a few likes; its id."""
    brand = requests.post(f"{base}/v1/brands", json={"name": "Bench"}, headers={"Authorization": f"Bearer {operator}"})
    auth = {"Authorization": f"Bearer {brand.json()['apiKey']}"}
    session = requests.post(f"{base}/v1/sessions", headers=auth, json={"title": "Bench show"}).json()
    products = []
    for n in range(drops):
        product = requests.post(f"{base}/v1/products", headers=auth, json={
            "title": f"Aurora hoodie, colourway {n}", "description": "Heavyweight organic cotton, brushed inside. " * 4,
            "price": {"amount": 5900 + 100 * n, "currency": "EUR"}, "stock": 500,
            "images": [f"https://cdn.example.com/products/{n}/front.jpg", f"https://cdn.example.com/products/{n}/back.jpg"],
        })
        product.raise_for_status()
        products.append(product.json()["id"])
        requests.post(f"{base}/v1/sessions/{session['id']}/lineup", headers=auth,
                      json={"productId": products[-1], "quantity": 100 + n, "shards": 1 + n % 3}).raise_for_status()
    requests.post(f"{base}/v1/sessions/{session['id']}/start", headers=auth).raise_for_status()
    for n in range(pins):  # each waits for the channel's send slot (5 a second)
        requests.post(f"{base}/v1/sessions/{session['id']}/feature", headers=auth,
                      json={"productId": products[n % drops]}).raise_for_status()
    for _ in range(5):
        shopper = requests.post(f"{base}/v1/shoppers").json()
        requests.post(f"{base}/v1/sessions/{session['id']}/likes",
                      headers={"Authorization": f"Bearer {shopper['token']}"}).raise_for_status()
    return session["id"]


def crowd(make_caller: Callable[[], Callable[[], object]], pollers: int, seconds: float,
          on_start: Callable[[], None]) -> tuple[Counter, float]:
    """(answers by status, wall seconds) of `pollers` threads calling in a loop for `seconds`.

    Each poller first makes two calls of its own, unmeasured: under `chalice local` every
    connection is served by a thread of its own, and PynamoDB keeps AWS clients per thread, so a
    connection's first call builds botocore clients (Lambda builds them once per container).
    `on_start` runs when every poller is warm, just before the measured calls."""
    answers: Counter = Counter()
    lock = threading.Lock()
    window: dict[str, float] = {}

    def begin() -> None:
        on_start()
        window["began"] = time.perf_counter()
        window["deadline"] = window["began"] + seconds

    ready = threading.Barrier(pollers, action=begin)

    def poller() -> None:
        call = make_caller()
        for _ in range(2):
            call()
        ready.wait()
        mine: Counter = Counter()
        while time.perf_counter() < window["deadline"]:
            try:
                mine[call()] += 1
            except Exception as error:  # counted, and a new connection: the measure goes on
                mine[type(error).__name__] += 1
                call = make_caller()
        with lock:
            answers.update(mine)

    threads = [threading.Thread(target=poller) for _ in range(pollers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, time.perf_counter() - window["began"]


def http_caller(port: int, path: str) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=120)  # kept alive

        def call() -> object:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status

        return call

    return make


def dynamodb_per_call(calls_log: Path, path: str) -> float:
    lines = [json.loads(line) for line in calls_log.read_text().splitlines() if line.strip()]
    counted = [sum(c.startswith("dynamodb:") for c in line["calls"]) for line in lines if line["route"] == path]
    return sum(counted) / len(counted) if counted else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def over_http(env: dict[str, str], workdir: Path, path: str, knob: str, pollers: int, seconds: float) -> dict:
    name = f"knob-{knob}"
    calls_log = workdir / f"aws-calls-{name}.jsonl"
    port = free_port()
    server = start_api({**env, KNOB: knob, "LIVEDROP_AWS_CALL_LOG": str(calls_log)}, port,
                       log_path=workdir / f"chalice-local-{name}.log")
    cpu: dict[str, float] = {}

    def measure_from_here() -> None:
        calls_log.write_text("")  # count only the measured calls (the server appends)
        cpu["before"] = cpu_seconds(server.pid)

    try:
        wait_for_api(f"http://{LOOPBACK}:{port}/v1/openapi.json", server)
        answers, wall = crowd(http_caller(port, path), pollers, seconds, measure_from_here)
        cpu["used"] = cpu_seconds(server.pid) - cpu["before"]
        dynamodb = dynamodb_per_call(calls_log, LIVE_ROUTE)
        sequential = sequential_ms(port, path, 50)
    finally:
        stop_api(server)
    calls = sum(answers.values())
    return {"rate": calls / wall, "calls": calls, "statuses": dict(answers), "dynamodb": dynamodb,
            "sequential_ms": sequential, "cpu_ms": cpu["used"] * 1000 / calls}


def sequential_ms(port: int, path: str, calls: int) -> float:
    """Median ms of one call at a time on one keep-alive connection: the HTTP layer's own cost."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        connection.request("GET", path)
        connection.getresponse().read()
        times.append((time.perf_counter() - began) * 1000)
    connection.close()
    return statistics.median(times)


# --- in-process: the Lambda handler called directly -----------------------------------------------


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """The app's log lines and metrics (stdout) to a file while it runs in this process."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(log, "ab") as target:
        os.dup2(target.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


class DynamoDbCounter:
    """DynamoDB requests made in this process (botocore), all threads, and the capacity units they
    consumed as DynamoDB reports them (PynamoDB asks for ReturnConsumedCapacity=TOTAL)."""

    def __init__(self) -> None:
        import botocore.client

        self.count = 0
        self.units = 0.0
        self.lock = threading.Lock()
        original = botocore.client.BaseClient._make_api_call

        def counting(client, operation, params):
            answer = original(client, operation, params)
            if client.meta.service_model.signing_name == "dynamodb":
                consumed = answer.get("ConsumedCapacity") or []
                units = sum(c.get("CapacityUnits", 0) for c in ([consumed] if isinstance(consumed, dict) else consumed))
                with self.lock:
                    self.count += 1
                    self.units += units
            return answer

        botocore.client.BaseClient._make_api_call = counting


def lambda_call(path: str) -> Callable[[], dict]:
    """One call of the deployed entry point, `app(event, context)`, with API Gateway's event."""
    from chalice.config import Config
    from chalice.local import LambdaContext, LocalGateway

    from app import app

    event = LocalGateway(app, Config.create(app_name="livedrop"))._generate_lambda_event("GET", path, {}, b"")
    return lambda: app(event, LambdaContext("api_handler", 1024))


def in_process(path: str, knob: str, pollers: int, seconds: float, counter: DynamoDbCounter) -> dict:
    from chalicelib import bootstrap

    os.environ[KNOB] = knob
    bootstrap.reset()  # the services again, with this setting
    call = lambda_call(path)
    before: dict[str, float] = {}

    def measure_from_here() -> None:
        before.update(count=counter.count, units=counter.units)

    answers, wall = crowd(lambda: lambda: call()["statusCode"], pollers, seconds, measure_from_here)
    calls = sum(answers.values())
    return {"rate": calls / wall, "calls": calls, "statuses": dict(answers),
            "dynamodb": (counter.count - before["count"]) / calls, "units": (counter.units - before["units"]) / calls}


def per_call_us(action: Callable[[], object], seconds: float = 1.0) -> float:
    """µs of `action`, single-threaded: the best batch (the machine is shared; noise only adds)."""
    batches = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        for _ in range(50):
            action()
        batches.append((time.perf_counter() - began) / 50 * 1e6)
    return min(batches)


def layers(session_id: str, path: str) -> tuple[list[tuple[str, float]], list[tuple[str, float]], int]:
    """(µs of each part of a cached call, µs of what is done once per state, the body's bytes)."""
    from chalice.app import Request, Response
    from chalice.config import Config
    from chalice.local import LambdaContext, LocalGateway

    from app import app
    from chalicelib import bootstrap
    from chalicelib.api.routing import edge_headers
    from chalicelib.api.schemas import LiveView
    from chalicelib.api.sessions import live_json
    from chalicelib.observability import observe_http

    os.environ[KNOB] = "1"
    bootstrap.reset()
    live = bootstrap.services().live
    state = live.state(session_id)
    view = LiveView.of(state)
    dumped = view.model_dump(mode="json", by_alias=True)
    body = live_json(state)
    gateway = LocalGateway(app, Config.create(app_name="livedrop"))
    request = Request(gateway._generate_lambda_event("GET", path, {}, b""), LambdaContext("api_handler", 1024))
    answer = Response(body=body, headers={"Content-Type": "application/json"})
    call = lambda_call(path)
    per_call = [
        ("Live.state_as: the state's JSON from memory", per_call_us(lambda: live.state_as(session_id, live_json))),
        ("Response.to_dict (the body is JSON already)", per_call_us(answer.to_dict)),
        ("observe_http (one log line, which is the EMF metric)",
         per_call_us(lambda: observe_http(request, lambda e: answer))),
        ("edge_headers (CORS, Cache-Control)", per_call_us(lambda: edge_headers(request, lambda e: answer))),
        ("app(event, context): the whole Lambda call", per_call_us(call)),
        ("LocalGateway.handle_request (chalice local)", per_call_us(
            lambda: gateway.handle_request("GET", path, {"host": LOOPBACK}, b""))),
    ]
    once = [
        ("computing the state (6 DynamoDB requests)", per_call_us(lambda: live._compute_state(session_id), 2.0)),
        ("LiveView.of (the pydantic view)", per_call_us(lambda: LiveView.of(state))),
        ("model_dump(mode=json)", per_call_us(lambda: view.model_dump(mode="json", by_alias=True))),
        ("json.dumps", per_call_us(lambda: json.dumps(dumped, separators=(",", ":")))),
    ]
    return per_call, once, len(body.encode())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drops", type=int, default=10)
    parser.add_argument("--pins", type=int, default=20)
    parser.add_argument("--pollers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    operator = "bench-" + secrets.token_hex(8)
    workdir = Path(tempfile.mkdtemp(prefix="livedrop-bench-live-"))
    with EmbeddedStack(log_dir=workdir) as stack:
        env = {**os.environ, **stack.env(), "LIVEDROP_STAGE": "bench", "LIVEDROP_OPERATOR_KEY": operator,
               "LIVEDROP_SHOPPER_TOKEN_SECRET": secrets.token_urlsafe(32), "LIVEDROP_IVS_MODE": "embedded",
               KNOB: "0"}
        os.environ.update(env)
        from chalicelib.settings import get_settings
        from infra.tables import create_tables

        create_tables(boto3.client("dynamodb"), dict(get_settings().tables))
        port = free_port()
        setup = start_api(env, port, log_path=workdir / "chalice-local-setup.log")
        try:
            wait_for_api(f"http://{LOOPBACK}:{port}/v1/openapi.json", setup)
            session_id = set_up_show(f"http://{LOOPBACK}:{port}", operator, args.drops, args.pins)
        finally:
            stop_api(setup)
        path = f"/v1/sessions/{session_id}/live"
        runs = {}
        for knob in ("0", "1"):
            sys.stderr.write(f"HTTP, {KNOB}={knob}...\n")
            runs[("http", knob)] = over_http(env, workdir, path, knob, args.pollers, args.seconds)
        sys.stderr.write("in-process runs...\n")
        counter = DynamoDbCounter()
        with output_to(workdir / "in-process.log"):
            for knob in ("0", "1"):
                runs[("in-process", knob)] = in_process(path, knob, args.pollers, args.seconds, counter)
            per_call, once, body_bytes = layers(session_id, path)
    report(args, runs, per_call, once, body_bytes, workdir)
    return 0


def report(args, runs: dict, per_call: list[tuple[str, float]], once: list[tuple[str, float]], body_bytes: int,
           workdir: Path) -> None:
    print(f"\n/live: {args.drops} drops, {args.pins} pins ({body_bytes:,} bytes of JSON), {args.pollers} concurrent "
          f"pollers, {args.seconds:.0f} s a run, on DynamoDB Local; {os.cpu_count()} cores shared by the server, "
          "the pollers and DynamoDB Local")
    print(f"  {'':46s}{'baseline (' + KNOB + '=0)':>36s}{'cached (1 s)':>14s}{'ratio':>8s}")

    def row(label: str, before: float, cached: float, digits: int, ratio: bool = False) -> None:
        print(f"    {label:44s}{before:36.{digits}f}{cached:14.{digits}f}"
              + (f"{cached / before:8.1f}" if ratio else ""))

    before, cached = runs[("http", "0")], runs[("http", "1")]
    print("  HTTP to chalice local, as make run serves it")
    row("calls/s", before["rate"], cached["rate"], 0, ratio=True)
    row("DynamoDB requests per call", before["dynamodb"], cached["dynamodb"], 4)
    row("server CPU ms per call", before["cpu_ms"], cached["cpu_ms"], 2)
    row("one call at a time: median ms", before["sequential_ms"], cached["sequential_ms"], 2)
    if set(before["statuses"]) | set(cached["statuses"]) != {200}:
        print(f"    statuses: {before['statuses']} / {cached['statuses']}")
    before, cached = runs[("in-process", "0")], runs[("in-process", "1")]
    print(f"  in-process: app(event, context) on {args.pollers} threads, no HTTP")
    row("calls/s", before["rate"], cached["rate"], 0, ratio=True)
    row("DynamoDB requests per call", before["dynamodb"], cached["dynamodb"], 4)
    row("DynamoDB read units per call", before["units"], cached["units"], 4)
    if set(before["statuses"]) | set(cached["statuses"]) != {200}:
        print(f"    statuses: {before['statuses']} / {cached['statuses']}")
    print("\n  a cached call, one thread, µs per part (each measured on its own, best of its batches):")
    for label, micros in per_call:
        print(f"    {label:50s}{micros:9.0f}")
    print("  once per state and second (not per call any more):")
    for label, micros in once:
        print(f"    {label:50s}{micros:9.0f}")
    print(f"\n  logs: {workdir}")


if __name__ == "__main__":
    sys.exit(main())
