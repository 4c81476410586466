"""Spike benchmark: a drop of U units and more shoppers than units, over HTTP to `chalice local`
on DynamoDB Local, against the engine's own rates measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/spike.py [--units 1000] [--shoppers 3000] [--concurrency 64]
                                                 [--shards 1] [--limit 1] [--engine-warmup 10000]

What it does, in order (under 2 minutes on a 2-core machine):
1. Warms DynamoDB Local with checkout-shaped transactions (its JIT needs thousands: the rate per
   batch is printed) and the server with a smaller spike on another drop.
2. Measures the load generator against a trivial route (GET /v1/payments/config): its ceiling.
3. The drop: the selling phase (units sold / time from the first request sent to the last 201
   answer), buyers' latency; the sold-out phase apart (refusals, their rate and latency, the
   DynamoDB requests each costs); conservation (sold, left, held, lost, oversold); every
   cancelled transaction by reason, from the server's own log of its AWS calls.
4. The engine alone, at the same concurrency, from this process's botocore clients: bare
   conditional UpdateItem (`left = left - 1 IF left >= 1`), and TransactWriteItems of exactly the
   checkout's items (built by the app's own OrderRepository.reserve), each with a new shopper.
   The ratios selling rate / each; the target is selling >= 0.8 x the transaction rate.
5. CPU per sold unit of the load generator, the server and DynamoDB Local (from /proc), so the
   gap says where it is spent.

Loopback only; figures are of this machine, this load and DynamoDB Local, not of DynamoDB.
"""
from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import queue
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.load import Client, SpikeResult, buyers, spike  # noqa: E402
from devstack.run import start_api, stop_api, wait_for_api  # noqa: E402
from devstack.stack import LOOPBACK, EmbeddedStack, free_port  # noqa: E402

TARGET = 0.8  # selling phase / the engine's checkout-transaction rate
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- measuring -------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc; pid 0: the whole machine."""
    if pid == 0:  # user nice system idle iowait irq softirq steal (guest time is inside user)
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        return sum(int(value) for index, value in enumerate(fields) if index not in (3, 4)) / CLOCK_TICKS
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuSampler:
    """CPU seconds of each process every 20 ms, so any span of a run can be charged afterwards."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.samples = pids, []  # (perf_counter, {name: cpu seconds})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), {name: cpu_seconds(pid) for name, pid in self.pids.items()}))
            self._stop.wait(0.02)

    def __enter__(self) -> "CpuSampler":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds each process used in [start, end], from the nearest samples."""
        times = [t for t, _ in self.samples]
        first = self.samples[max(0, bisect.bisect_right(times, start) - 1)][1]
        last = self.samples[min(len(times) - 1, bisect.bisect_left(times, end))][1]
        return {name: last[name] - first[name] for name in self.pids}


def run_concurrently(items: list, call: Callable[[object, object], None], make_client: Callable[[], object],
                     concurrency: int) -> float:
    """Seconds to apply `call(client, item)` to every item from `concurrency` threads, each with
    its own client made before the clock starts."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for item in items:
        work.put(item)
    clients = [make_client() for _ in range(concurrency)]
    failures: list[BaseException] = []

    def worker(client) -> None:
        try:
            while True:
                try:
                    item = work.get_nowait()
                except queue.Empty:
                    return
                call(client, item)
        except BaseException as failure:
            failures.append(failure)

    threads = [threading.Thread(target=worker, args=(client,), daemon=True) for client in clients]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - started


# --- the engine on its own -------------------------------------------------------------------------


def dynamodb_client():
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(max_pool_connections=4, retries={"max_attempts": 1}))


def stock_shard(session_id: str, product_id: str, units: int) -> str:
    """A stock shard of a drop nobody shops, opened an hour ago: its key."""
    from chalicelib.adapters.dynamodb.models import StockShardModel
    from chalicelib.domain.drops import shard_key

    key = shard_key(session_id, product_id, 0)
    opened = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    StockShardModel(shard_key=key, session_id=session_id, product_id=product_id, left=units, opens_at=opened,
                    revision=0).save()
    return key


def checkout_transactions(count: int, limit: int | None) -> list[dict]:
    """`count` TransactWriteItems requests, each exactly a checkout's for one unit of a drop, a new
    shopper each: built by the app's own OrderRepository.reserve, whose client records instead of
    sending. Their shard (one per call) is a drop of its own with enough units for all."""
    from chalicelib.adapters.dynamodb.orders import OrderRepository
    from chalicelib.domain import shopper_tokens
    from chalicelib.domain.clock import epoch_ms, to_iso
    from chalicelib.domain.drops import OrderStatus, order_id_for, request_hash
    from chalicelib.domain.money import Money
    from chalicelib.domain.rate_limits import window
    from chalicelib.domain.records import Order, OrderLine
    from chalicelib.settings import get_settings

    settings = get_settings()
    session_id, product_id = "ses_engine" + secrets.token_hex(6), "prd_engine" + secrets.token_hex(6)
    stock_shard(session_id, product_id, count)
    recorded: list[dict] = []
    recorder = SimpleNamespace(transact_write_items=lambda **request: recorded.append(request))
    repository = OrderRepository(SimpleNamespace(client=recorder))  # type: ignore[arg-type]
    price = Money(1000, "EUR")
    body = {"sessionId": session_id, "items": [{"productId": product_id, "quantity": 1}]}
    now = datetime.now(timezone.utc)
    for _ in range(count):
        shopper = shopper_tokens.new_shopper_id()
        order = Order(id=order_id_for(shopper, secrets.token_hex(8)), shopper_id=shopper, session_id=session_id,
                      brand_id="brn_engine", status=OrderStatus.RESERVED,
                      lines=(OrderLine(product_id, 1, price, {0: 1}, counted=limit is not None),),
                      total=price, request_hash=request_hash(body), created_at=to_iso(now),
                      expires_at=epoch_ms(now) // 1000 + 600, version=1)
        repository.reserve(order, {product_id: limit}, to_iso(now), {product_id: 0}, hold_cap=settings.max_open_orders,
                           rate=window(settings.rate_limits["order"], shopper, epoch_ms(now)))
    return recorded


def transactions_per_second(requests_: list[dict], concurrency: int) -> float:
    def send(client, request) -> None:
        client.transact_write_items(**request)  # every one succeeds: its own shopper, stock for all

    return len(requests_) / run_concurrently(requests_, send, dynamodb_client, concurrency)


def bare_updates_per_second(attempts: int, concurrency: int) -> float:
    """`left = left - 1 IF left >= 1` on one stock item with a unit for every attempt."""
    from chalicelib.settings import get_settings

    table = get_settings().tables["stock"]
    key = {"shardKey": {"S": stock_shard("ses_bare" + secrets.token_hex(6), "prd_bare", attempts)}}

    def take(client, _) -> None:
        client.update_item(TableName=table, Key=key, UpdateExpression="SET #l = #l - :one",
                           ConditionExpression="#l >= :one", ExpressionAttributeNames={"#l": "left"},
                           ExpressionAttributeValues={":one": {"N": "1"}})

    return attempts / run_concurrently(list(range(attempts)), take, dynamodb_client, concurrency)


def warm_engine(transactions: int, limit: int | None, concurrency: int, engine_pid: int,
                batch: int = 1000) -> list[tuple[float, float]]:
    """Checkout-shaped transactions until DynamoDB Local's JIT has compiled its paths: each batch's
    rate and the engine's CPU ms per transaction (the steadier sign of warmth on a shared machine)."""
    curve = []
    for done in range(0, transactions, batch):
        requests_ = checkout_transactions(min(batch, transactions - done), limit)
        engine_cpu = cpu_seconds(engine_pid)
        rate = transactions_per_second(requests_, concurrency)
        curve.append((rate, (cpu_seconds(engine_pid) - engine_cpu) * 1000 / len(requests_)))
    return curve


# --- the load generator on its own -----------------------------------------------------------------


def trivial_route_rate(base: str, requests_: int, concurrency: int, pid: int) -> tuple[float, float, float]:
    """(requests/s, load generator CPU ms per request, server CPU ms per request) of keep-alive
    GETs of a route that reads nothing: the ceiling the harness puts on any figure."""
    def get(client, _) -> None:
        status, _body = client.send("GET", "/v1/payments/config", None, {})
        assert status == 200, status

    clients = [Client(base) for _ in range(concurrency)]  # the same connections (and server threads) for both passes
    run_concurrently(list(range(concurrency * 4)), get, iter(clients).__next__, concurrency)
    client_cpu, server_cpu = time.process_time(), cpu_seconds(pid)
    seconds = run_concurrently(list(range(requests_)), get, iter(clients).__next__, concurrency)
    return (requests_ / seconds, (time.process_time() - client_cpu) * 1000 / requests_,
            (cpu_seconds(pid) - server_cpu) * 1000 / requests_)


# --- the drop over HTTP ----------------------------------------------------------------------------


def set_up_drop(base: str, operator: str, units: int, shards: int, limit: int | None) -> tuple[str, str]:
    brand = requests.post(f"{base}/v1/brands", json={"name": "Bench"}, headers={"Authorization": f"Bearer {operator}"})
    auth = {"Authorization": f"Bearer {brand.json()['apiKey']}"}
    product = requests.post(f"{base}/v1/products", headers=auth, json={
        "title": "Bench drop", "price": {"amount": 1000, "currency": "EUR"}, "stock": units}).json()
    session = requests.post(f"{base}/v1/sessions", headers=auth, json={"title": "Bench"}).json()
    drop = {"productId": product["id"], "quantity": units, "shards": shards}
    if limit is not None:
        drop["perCustomerLimit"] = limit
    requests.post(f"{base}/v1/sessions/{session['id']}/lineup", headers=auth, json=drop).raise_for_status()
    requests.post(f"{base}/v1/sessions/{session['id']}/start", headers=auth).raise_for_status()
    return session["id"], product["id"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--shoppers", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--limit", type=int, default=1, help="per-customer limit (0: none)")
    parser.add_argument("--engine-warmup", type=int, default=12000,
                        help="checkout transactions before measuring (its CPU per transaction levels off by ~12,000)")
    parser.add_argument("--server-warmup", type=int, default=1000, help="shoppers of the server's warm-up drop")
    parser.add_argument("--baseline", type=int, default=3000, help="engine calls per baseline")
    args = parser.parse_args()
    limit = args.limit or None
    secret, operator = secrets.token_urlsafe(32), "bench-" + secrets.token_hex(8)
    workdir = Path(tempfile.mkdtemp(prefix="livedrop-bench-"))
    calls_log = workdir / "aws-calls.jsonl"
    figures: dict[str, object] = {}
    with EmbeddedStack(log_dir=workdir) as stack:
        env = {**os.environ, **stack.env(), "LIVEDROP_STAGE": "bench", "LIVEDROP_OPERATOR_KEY": operator,
               "LIVEDROP_SHOPPER_TOKEN_SECRET": secret, "POWERTOOLS_METRICS_DISABLED": "true",
               "LIVEDROP_IVS_MODE": "embedded", "POWERTOOLS_LOG_LEVEL": "WARNING",
               "LIVEDROP_AWS_CALL_LOG": str(calls_log)}
        os.environ.update(env)
        from chalicelib.adapters.dynamodb.models import bind
        from chalicelib.settings import get_settings
        from infra.tables import create_tables

        create_tables(boto3.client("dynamodb"), dict(get_settings().tables))
        bind(get_settings())
        engine_pid = stack.processes[0].pid  # DynamoDB Local's JVM (spawned directly, not through a shell)
        port = free_port()
        api = start_api(env, port, log_path=workdir / "chalice-local.log")
        base = f"http://{LOOPBACK}:{port}"
        try:
            wait_for_api(base + "/v1/openapi.json", api)
            step(f"warming DynamoDB Local: {args.engine_warmup:,} checkout transactions")
            figures["warmup"] = warm_engine(args.engine_warmup, limit, args.concurrency, engine_pid)
            step(f"warming the server: {args.server_warmup:,} shoppers on another drop")
            warm_session, warm_product = set_up_drop(base, operator, args.server_warmup // 3, args.shards, limit)
            spike(base, buyers(secret, warm_session, warm_product, args.server_warmup), concurrency=args.concurrency)
            step("the load generator against a trivial route")
            figures["trivial"] = trivial_route_rate(base, 3000, args.concurrency, api.pid)
            session_id, product_id = set_up_drop(base, operator, args.units, args.shards, limit)
            shoppers = buyers(secret, session_id, product_id, args.shoppers)
            calls_log.write_text("")  # count only the drop
            step(f"the drop: {args.shoppers:,} shoppers, {args.units:,} units")
            with CpuSampler({"load generator": os.getpid(), "server": api.pid, "DynamoDB Local": engine_pid,
                             "machine": 0}) as cpu:
                result = spike(base, shoppers, concurrency=args.concurrency)
            figures["cpu"] = cpu
        finally:
            stop_api(api)
        step("the engine alone: bare UpdateItem, then the checkout's transaction")
        figures["bare"] = bare_updates_per_second(args.baseline, args.concurrency)
        transactions = checkout_transactions(args.baseline, limit)
        figures["tx_items"] = len(transactions[0]["TransactItems"])
        client_cpu, engine_cpu = time.process_time(), cpu_seconds(engine_pid)
        figures["transaction"] = transactions_per_second(transactions, args.concurrency)
        figures["tx_cpu"] = ((time.process_time() - client_cpu) * 1000 / args.baseline,
                             (cpu_seconds(engine_pid) - engine_cpu) * 1000 / args.baseline)
        from tests.conftest import conservation

        left, held = conservation(session_id, product_id, args.units)
        report(args, result, figures, left, held, calls_log)
    print(f"  logs (the server's, its AWS calls, DynamoDB Local's): {workdir}")
    return 0


def step(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


# --- the report ------------------------------------------------------------------------------------


def report(args, result: SpikeResult, figures: dict, left: int, held: int, calls_log: Path) -> None:
    attempts = result.attempts
    sales = [a for a in attempts if a.status == 201]
    refusals = [a for a in attempts if a.status == 409 and a.body.get("type", "").endswith("/sold_out")]
    other = Counter((a.status, a.body.get("type", "").rsplit("/", 1)[-1]) for a in attempts
                    if a.status != 201 and not (a.status == 409 and a.body.get("type", "").endswith("/sold_out")))
    lines = [json.loads(line) for line in calls_log.read_text().splitlines() if line.strip()]
    orders = [line for line in lines if line["route"] == "/v1/orders"]
    sold_lines = [o for o in orders if o["status"] == 201]
    refused_lines = [o for o in orders if o["status"] == 409 and o["problem"] == "sold_out"]

    def per(chosen: list[dict], writes_only: bool = False) -> float:
        writes = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
        counted = [sum(1 for c in o["calls"] if c.startswith("dynamodb:") and (
            not writes_only or c.split(":")[1] in writes)) for o in chosen]
        return sum(counted) / len(counted) if counted else 0.0

    def ms(values) -> str:
        values = list(values)
        return f"p50 {statistics.median(values):.0f} ms   p99 {percentile(values, 0.99):.0f} ms" if values else "-"

    first_sent = min(a.sent_at for a in attempts)
    selling_end = max(a.finished_at for a in sales) if sales else first_sent
    selling_seconds = selling_end - first_sent
    selling_rate = len(sales) / selling_seconds if selling_seconds else 0.0
    refusal_start = min((a.sent_at for a in refusals), default=selling_end)
    refusal_seconds = max((a.finished_at for a in refusals), default=refusal_start) - refusal_start
    failed = Counter(f for o in orders for f in o["failed"])
    transacts = sum(c == "dynamodb:TransactWriteItems" for o in orders for c in o["calls"])
    conflicts = sum(n for f, n in failed.items() if f.startswith("TransactWriteItems:") and "TransactionConflict" in f)
    condition_failed = sum(n for f, n in failed.items() if f.startswith("TransactWriteItems:")
                           and "ConditionalCheckFailed" in f and "TransactionConflict" not in f)
    busy = sum(1 for a in attempts if a.status == 503)
    warmup, trivial, cpu = figures["warmup"], figures["trivial"], figures["cpu"]
    selling_cpu = cpu.between(first_sent, selling_end)
    bare, transaction = figures["bare"], figures["transaction"]

    print(f"\nspike: {args.units:,} units over {args.shards} shard(s), {args.shoppers:,} shoppers "
          f"({args.concurrency} at a time), per-customer limit {args.limit or 'none'}; HTTP to chalice local "
          f"on DynamoDB Local; {os.cpu_count()} cores, {platform.system()}, Python {platform.python_version()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d}")
    print(f"  warm-up     DynamoDB Local: {args.engine_warmup:,} checkout transactions; per 1,000: tx/s "
          + " ".join(f"{rate:.0f}" for rate, _ in warmup))
    print("              and its CPU ms per transaction " + " ".join(f"{ms:.1f}" for _, ms in warmup))
    print(f"              server: {args.server_warmup:,} shoppers on another drop")
    print("conservation")
    print(f"  sold {len(sales):,}   refused sold_out {len(refusals):,}   other {dict(other) or 'none'}")
    print(f"  oversold {max(0, len(sales) - args.units)}   lost {args.units - left - held}   "
          f"({args.units:,} = {left:,} left + {held:,} held)")
    print("selling phase (first request sent -> last 201 answered)")
    print(f"  units/s                  {selling_rate:.0f}   ({len(sales):,} in {selling_seconds:.2f} s)")
    print(f"  buyers' latency (201)    {ms(a.seconds * 1000 for a in sales)}")
    print(f"    of which in the app    {ms(o['ms'] for o in sold_lines)}   "
          f"(DynamoDB calls {ms(o['aws_ms'] for o in sold_lines)})")
    # The first wave (one request per connection, sent together) meets a drop this server has not
    # priced yet: each reads the lineup first. After it, the drop sells at its steady rate.
    first_wave = sorted(attempts, key=lambda a: a.sent_at)[:args.concurrency]
    wave_end = max(a.finished_at for a in first_wave)
    after = [a for a in sales if a.sent_at > max(b.sent_at for b in first_wave)]
    steady = sum(1 for a in sales if a.finished_at > wave_end) / (selling_end - wave_end) if selling_end > wave_end else 0.0
    print(f"    first wave ({len(first_wave)} sent together)  p50 {statistics.median(a.seconds for a in first_wave) * 1000:.0f} ms"
          f"   max {max(a.seconds for a in first_wave) * 1000:.0f} ms; after it: {ms(a.seconds * 1000 for a in after)}, "
          f"{steady:.0f} units/s")
    print(f"  DynamoDB requests/sale   {per(sold_lines):.2f}")
    print("sold-out phase (first refused request sent -> last refusal answered)")
    print(f"  refusals/s               {len(refusals) / refusal_seconds if refusal_seconds else 0:.0f}   "
          f"({len(refusals):,} in {refusal_seconds:.2f} s)")
    print(f"  latency (409 sold_out)   {ms(a.seconds * 1000 for a in refusals)}")
    print(f"    of which in the app    {ms(o['ms'] for o in refused_lines)}")
    print(f"  DynamoDB requests/refusal {per(refused_lines):.2f}   (writes {per(refused_lines, writes_only=True):.3f})")
    print("transactions (the server's log of its AWS calls)")
    print(f"  TransactWriteItems sent {transacts:,}; cancelled: TransactionConflict {conflicts}, "
          f"ConditionalCheckFailed {condition_failed}; 503 busy answers {busy}; reconnects {result.reconnects}")
    print(f"the engine alone (same run, warmed, {args.concurrency} at a time, {args.baseline:,} calls each)")
    print(f"  bare conditional UpdateItem        {bare:.0f}/s")
    print(f"  checkout's TransactWriteItems      {transaction:.0f}/s   ({figures['tx_items']} items; per call: "
          f"client CPU {figures['tx_cpu'][0]:.2f} ms, DynamoDB Local CPU {figures['tx_cpu'][1]:.2f} ms)")
    ratio = selling_rate / transaction
    print(f"  ratio selling / transaction        {ratio:.2f}   (target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})")
    print(f"  ratio selling / bare UpdateItem    {selling_rate / bare:.2f}")
    print("harness")
    print(f"  trivial route (GET /v1/payments/config)  {trivial[0]:.0f} req/s; CPU per request: "
          f"load generator {trivial[1]:.2f} ms, server {trivial[2]:.2f} ms")
    ours = sum(seconds for name, seconds in selling_cpu.items() if name != "machine")
    per_unit = {**{name: seconds for name, seconds in selling_cpu.items() if name != "machine"},
                "other processes": max(0.0, selling_cpu["machine"] - ours)}
    print("  CPU per sold unit, selling phase   " + ", ".join(
        f"{name} {seconds * 1000 / max(1, len(sales)):.2f} ms" for name, seconds in per_unit.items()))
    print(f"    the machine was {100 * selling_cpu['machine'] / selling_seconds / (os.cpu_count() or 1):.0f} % busy "
          f"({os.cpu_count()} cores: {(os.cpu_count() or 1) * 1000 / max(selling_rate, 1):.2f} ms of CPU per unit at "
          f"this rate); answered meanwhile: {len(sales):,} sales, "
          f"{sum(1 for a in refusals if a.finished_at <= selling_end):,} refusals")


if __name__ == "__main__":
    sys.exit(main())
