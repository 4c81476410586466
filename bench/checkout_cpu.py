"""CPU per warm checkout, in process: the app's handler serving POST /v1/orders (an API Gateway
event, as Lambda hands it) against a bare boto3 `transact_write_items` of the same shape (the
very items a checkout sends, with fresh keys), in the same run on the same DynamoDB Local.

    PYTHONPATH=. .venv/bin/python bench/checkout_cpu.py [--orders 1000] [--profile]

Both sides are measured with `time.process_time` (this process's CPU: DynamoDB Local is another
process), after a warm-up; stdout (the log line and metric of each request) goes to /dev/null.
Target: a checkout at most 1.2 x the bare call.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.first_requests import Context, api_event  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1000, help="measured checkouts (and bare calls)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each, medians printed")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the checkouts")
    args = parser.parse_args()

    import boto3
    from chalice.test import Client

    from devstack.load import shopper_token
    from devstack.stack import EmbeddedStack

    secret = secrets.token_urlsafe(32)
    operator = "bench-" + secrets.token_hex(8)
    workdir = Path(tempfile.mkdtemp(prefix="livedrop-cpu-"))
    units = (args.rounds + 1) * args.orders * 2 + 1000
    with EmbeddedStack(log_dir=workdir) as stack:
        os.environ.update({**stack.env(), "LIVEDROP_STAGE": "bench", "LIVEDROP_OPERATOR_KEY": operator,
                           "LIVEDROP_SHOPPER_TOKEN_SECRET": secret, "LIVEDROP_IVS_MODE": "embedded",
                           "AWS_DEFAULT_REGION": "us-east-1"})
        from chalicelib.settings import get_settings
        from infra.tables import create_tables

        create_tables(boto3.client("dynamodb"), dict(get_settings().tables))
        from app import app
        from chalicelib.adapters import aws

        with Client(app) as client:
            def call(method, path, body=None, key=None):
                response = getattr(client.http, method)(path, body=json.dumps(body) if body else None, headers={
                    "Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
                assert response.status_code < 300, (path, response.status_code, response.body)
                return json.loads(response.body)

            brand = call("post", "/v1/brands", {"name": "Bench"}, operator)
            product = call("post", "/v1/products", {"title": "Drop", "stock": units,
                                                    "price": {"amount": 1000, "currency": "EUR"}}, brand["apiKey"])
            session = call("post", "/v1/sessions", {"title": "CPU"}, brand["apiKey"])
            call("post", f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": units},
                 brand["apiKey"])
            call("post", f"/v1/sessions/{session['id']}/start", None, brand["apiKey"])

        body = {"sessionId": session["id"], "items": [{"productId": product["id"], "quantity": 1}]}

        def checkouts(n):
            return [api_event("POST", "/v1/orders", {}, body, {
                "Authorization": f"Bearer {shopper_token(secret)}", "Idempotency-Key": secrets.token_hex(8)})
                for _ in range(n)]

        # The shape of a checkout's transaction, caught from a real one.
        sent = []
        dynamodb = aws.client("dynamodb", get_settings().region, get_settings().dynamodb_endpoint)
        catch = lambda params, **_: sent.append(copy.deepcopy(params))  # noqa: E731
        dynamodb.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", catch)
        serve(app, checkouts(1))
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", catch)
        shape = json.dumps(sent[-1])
        order_id = sent[-1]["TransactItems"][0]["Put"]["Item"]["id"]["S"]
        shopper_id = sent[-1]["TransactItems"][0]["Put"]["Item"]["shopperId"]["S"]

        def bare_requests(n):
            """The same items with a fresh order and shopper each (no condition can fail)."""
            return [json.loads(shape.replace(order_id, "o_" + secrets.token_hex(10))
                               .replace(shopper_id, "s_" + secrets.token_hex(10))) for _ in range(n)]

        bare = boto3.client("dynamodb")
        serve(app, checkouts(args.orders // 2))  # warm-up: DynamoDB Local, pools, caches
        for params in bare_requests(args.orders // 2):
            bare.transact_write_items(**params)

        figures = {"checkout": [], "bare": []}
        for _ in range(args.rounds):
            figures["checkout"].append(measure(serve, app, checkouts(args.orders)))
            figures["bare"].append(measure(send, bare, bare_requests(args.orders)))
        if args.profile:
            import cProfile
            import pstats

            events = checkouts(args.orders)
            profile = cProfile.Profile(time.process_time)  # CPU, not the wait for DynamoDB Local
            profile.enable()
            serve(app, events)
            profile.disable()
            pstats.Stats(profile).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(int(os.environ.get("BENCH_LINES", "40")))
    report(figures, args.orders, len(sent[-1]["TransactItems"]))
    return 0


def serve(app, events) -> None:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        for event in events:
            response = app(event, Context())
            if response["statusCode"] != 201:
                raise SystemExit(f"checkout answered {response['statusCode']}: {response['body']}")


def send(client, requests) -> None:
    for params in requests:
        client.transact_write_items(**params)


def measure(work, *args) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work(*args)
    return time.process_time() - cpu, time.perf_counter() - wall


def report(figures, orders: int, items: int) -> None:
    def per(kind, which):
        return statistics.median(round_[which] for round_ in figures[kind]) / orders * 1000

    print(f"\ncheckout CPU, in process, warm: {orders} orders per round, medians of {len(figures['bare'])} rounds "
          f"(a {items}-item TransactWriteItems each)")
    print(f"  checkout (app handler)        CPU {per('checkout', 0):.3f} ms   wall {per('checkout', 1):.3f} ms")
    print(f"  bare boto3 transact_write_items CPU {per('bare', 0):.3f} ms   wall {per('bare', 1):.3f} ms")
    print(f"  ratio checkout / bare: CPU {per('checkout', 0) / per('bare', 0):.2f}   (target <= 1.2)")


if __name__ == "__main__":
    sys.exit(main())
