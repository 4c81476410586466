"""Spike benchmark: N concurrent shoppers against a drop of S units, over HTTP, on the embedded
stack (DynamoDB Local + `chalice local`), and in the same run the throughput of bare conditional
UpdateItem calls on the same DynamoDB Local at the same concurrency, with the ratio.

    PYTHONPATH=. .venv/bin/python bench/spike.py [--shoppers 2000] [--units 200] [--shards 1]
                                                 [--concurrency 64]
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.load import buyers, spike  # noqa: E402
from devstack.run import start_api, stop_api, wait_for_api  # noqa: E402
from devstack.stack import LOOPBACK, EmbeddedStack, free_port  # noqa: E402


class ProgressBar:
    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done = total, label, 0
        self.lock = threading.Lock()

    def step(self) -> None:
        with self.lock:
            self.done += 1
            if self.done % max(1, self.total // 50) == 0 or self.done == self.total:
                filled = int(40 * self.done / self.total)
                sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (40 - filled)}] {self.done}/{self.total}")
                sys.stderr.flush()
                if self.done == self.total:
                    sys.stderr.write("\n")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bare_conditional_updates(attempts: int, units: int, concurrency: int) -> float:
    """Attempts/s of `left = left - 1 IF left >= 1` on one item, like a checkout's stock write."""
    client = boto3.client("dynamodb")
    table = "bench-bare-" + secrets.token_hex(3)
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    client.put_item(TableName=table, Item={"id": {"S": "drop"}, "left": {"N": str(units)}})
    # Clients made before the clock starts, one per worker, so the baseline measures only the writes.
    clients: queue.Queue = queue.Queue()
    for _ in range(concurrency):
        clients.put(boto3.client("dynamodb"))

    def take(_):
        worker_client = clients.get()
        try:
            worker_client.update_item(TableName=table, Key={"id": {"S": "drop"}}, UpdateExpression="SET #l = #l - :one",
                                      ConditionExpression="#l >= :one", ExpressionAttributeNames={"#l": "left"},
                                      ExpressionAttributeValues={":one": {"N": "1"}})
        except worker_client.exceptions.ConditionalCheckFailedException:
            pass
        finally:
            clients.put(worker_client)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(take, range(attempts)))
    return attempts / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shoppers", type=int, default=2000)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warm", action="store_true", help="warm the server with a smaller spike first")
    args = parser.parse_args()
    secret = secrets.token_urlsafe(32)
    operator = "bench-" + secrets.token_hex(8)
    workdir = Path(tempfile.mkdtemp(prefix="livedrop-bench-"))
    with EmbeddedStack(log_dir=workdir) as stack:
        env = {**os.environ, **stack.env(), "LIVEDROP_STAGE": "bench", "LIVEDROP_OPERATOR_KEY": operator,
               "LIVEDROP_SHOPPER_TOKEN_SECRET": secret, "POWERTOOLS_METRICS_DISABLED": "true",
               "LIVEDROP_IVS_MODE": "embedded",
               "POWERTOOLS_LOG_LEVEL": "WARNING", "LIVEDROP_AWS_CALL_LOG": str(workdir / "aws-calls.jsonl")}
        os.environ.update(env)
        from chalicelib.settings import get_settings
        from infra.tables import create_tables

        create_tables(boto3.client("dynamodb"), dict(get_settings().tables))
        port = free_port()
        api = start_api(env, port, log_path=workdir / "chalice-local.log")
        base = f"http://{LOOPBACK}:{port}"
        try:
            wait_for_api(base + "/v1/openapi.json", api)
            if args.warm:
                # A first, smaller spike on another drop: server threads, clients and caches warm up.
                warm_session, warm_product = set_up_drop(base, operator, args)
                spike(base, buyers(secret, warm_session, warm_product, 4 * args.concurrency),
                      concurrency=args.concurrency)
            session_id, product_id = set_up_drop(base, operator, args)
            (workdir / "aws-calls.jsonl").write_text("")  # count only the spike
            bar = ProgressBar(args.shoppers, "spike")
            result = spike(base, buyers(secret, session_id, product_id, args.shoppers),
                           concurrency=args.concurrency, progress=bar.step)
        finally:
            stop_api(api)
        baseline = bare_conditional_updates(args.shoppers, args.units, args.concurrency)
        from tests.conftest import conservation

        left, held = conservation(session_id, product_id, args.units)
        report(args, result, baseline, left, held, workdir / "aws-calls.jsonl")
    return 0


def set_up_drop(base: str, operator: str, args) -> tuple[str, str]:
    brand = requests.post(f"{base}/v1/brands", json={"name": "Bench"}, headers={"Authorization": f"Bearer {operator}"})
    auth = {"Authorization": f"Bearer {brand.json()['apiKey']}"}
    product = requests.post(f"{base}/v1/products", headers=auth, json={
        "title": "Bench drop", "price": {"amount": 1000, "currency": "EUR"}, "stock": args.units}).json()
    session = requests.post(f"{base}/v1/sessions", headers=auth, json={"title": "Bench"}).json()
    requests.post(f"{base}/v1/sessions/{session['id']}/lineup", headers=auth,
                  json={"productId": product["id"], "quantity": args.units, "shards": args.shards}).raise_for_status()
    requests.post(f"{base}/v1/sessions/{session['id']}/start", headers=auth).raise_for_status()
    return session["id"], product["id"]


def report(args, result, baseline: float, left: int, held: int, calls_log: Path) -> None:
    sold = result.count(201)
    rejected = result.count(409, "sold_out")
    other = Counter(a.status for a in result.attempts if a.status not in (201, 409))
    latencies = [a.seconds * 1000 for a in result.attempts]
    throughput = len(result.attempts) / result.wall_seconds
    lines = [json.loads(line) for line in calls_log.read_text().splitlines() if line.strip()]
    orders = [line for line in lines if line["route"] == "/v1/orders"]

    def per(kind_status, problem=None, writes_only=False):
        chosen = [o for o in orders if o["status"] == kind_status and (problem is None or o["problem"] == problem)]
        counted = [sum(1 for c in o["calls"] if c.startswith("dynamodb:") and (
            not writes_only or c.split(":")[1] in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems",
                                                  "BatchWriteItem"))) for o in chosen]
        return (sum(counted) / len(counted)) if counted else 0.0

    print(f"\nspike: {args.shoppers} shoppers, {args.units} units over {args.shards} shard(s), "
          f"{args.concurrency} concurrent, HTTP to chalice local on DynamoDB Local, "
          f"{'warm' if args.warm else 'cold'} server")
    print(f"  sold            {sold}")
    print(f"  rejected        {rejected} (409 sold_out)   other: {dict(other) or 'none'}")
    print(f"  oversold        {max(0, sold - args.units)}")
    print(f"  lost            {args.units - left - held}   (conservation: {args.units} = {left} left + {held} held)")
    print(f"  checkouts/s     {throughput:.0f}   (all attempts / wall time {result.wall_seconds:.2f} s)")
    print(f"  latency         p50 {statistics.median(latencies):.0f} ms   p99 {percentile(latencies, 0.99):.0f} ms")
    for label, status in (("sold", 201), ("rejected", 409)):
        subset = [a.seconds * 1000 for a in result.attempts if a.status == status]
        if subset:
            print(f"    {label:13s} p50 {statistics.median(subset):.0f} ms   p99 {percentile(subset, 0.99):.0f} ms")
    first = sorted(result.attempts, key=lambda a: a.finished_at)[: args.concurrency]
    print(f"    first {len(first)} answers p50 "
          f"{statistics.median(a.seconds * 1000 for a in first):.0f} ms")
    print(f"  DynamoDB requests per successful checkout   {per(201):.2f}")
    print(f"  DynamoDB requests per sold-out rejection    {per(409, 'sold_out'):.2f}"
          f"   (writes: {per(409, 'sold_out', writes_only=True):.3f})")
    print(f"  baseline: bare conditional UpdateItem       {baseline:.0f} attempts/s at {args.concurrency} concurrent")
    print(f"  ratio checkout / bare UpdateItem            {throughput / baseline:.2f}")


if __name__ == "__main__":
    sys.exit(main())
