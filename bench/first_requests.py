"""Cold containers: a fresh process's first checkout and first `/live` against its second, as a
Lambda container would serve them (the app's handler called with API Gateway events, no HTTP
server), on the embedded stack. Prints medians over fresh containers and the ratios.

    PYTHONPATH=. .venv/bin/python bench/first_requests.py [--containers 5]

Each container is a new Python process that imports `app`, then serves two checkouts or two
`/live` reads, each of the two on a different live session: the second does the same work as the
first (it reads that session's lineup, it is not served from the first's memory), so the ratio is
what a cold container costs, not what a warm cache saves. Wall time includes DynamoDB Local's answer; CPU time
is the container's own (`time.process_time`). Target: first <= 2 x second.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def api_event(method: str, resource: str, path_parameters: dict[str, str], body: dict | None = None,
              headers: dict[str, str] | None = None) -> dict:
    """An API Gateway (REST, proxy) event as Lambda hands it to Chalice."""
    path = resource
    for name, value in path_parameters.items():
        path = path.replace("{" + name + "}", value)
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters or None, "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": "/api" + path,
                           "requestId": secrets.token_hex(8), "stage": "api",
                           "identity": {"sourceIp": "127.0.0.1"}},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


class Context:
    """The parts of a Lambda context the app reads."""
    function_name = "livedrop-bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:livedrop-bench"

    def __init__(self) -> None:
        self.aws_request_id = secrets.token_hex(8)

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 15000


def container(plan_path: str) -> None:
    """The fresh process: import the app, serve the plan's two requests, print what each took."""
    plan = json.loads(Path(plan_path).read_text())
    wall, cpu = time.perf_counter(), time.process_time()
    import app

    figures = {"import": (time.perf_counter() - wall, time.process_time() - cpu)}
    for name, event in plan["requests"]:
        wall, cpu = time.perf_counter(), time.process_time()
        response = app.app(event, Context())
        figures[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        if response["statusCode"] >= 300:
            raise SystemExit(f"{name}: {response['statusCode']} {response['body']}")
    sys.stderr.write("FIGURES " + json.dumps(figures) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=5, help="fresh containers per kind")
    parser.add_argument("--warm", type=int, default=1000, help="checkouts and /live reads that warm DynamoDB Local")
    args = parser.parse_args()

    import boto3
    from chalice.test import Client

    from devstack.load import shopper_token
    from devstack.stack import EmbeddedStack

    secret = secrets.token_urlsafe(32)
    operator = "bench-" + secrets.token_hex(8)
    workdir = Path(tempfile.mkdtemp(prefix="livedrop-first-"))
    with EmbeddedStack(log_dir=workdir) as stack:
        env = {**stack.env(), "LIVEDROP_STAGE": "bench", "LIVEDROP_OPERATOR_KEY": operator,
               "LIVEDROP_SHOPPER_TOKEN_SECRET": secret, "LIVEDROP_IVS_MODE": "embedded",
               "AWS_DEFAULT_REGION": "us-east-1"}
        os.environ.update(env)
        from chalicelib.settings import get_settings
        from infra.tables import create_tables

        create_tables(boto3.client("dynamodb"), dict(get_settings().tables))
        from app import app

        with Client(app) as client:
            def call(method, path, body=None, key=None):
                headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
                response = getattr(client.http, method)(path, body=json.dumps(body) if body else None, headers=headers)
                assert response.status_code < 300, (path, response.status_code, response.body)
                return json.loads(response.body)

            brand = call("post", "/v1/brands", {"name": "Bench"}, operator)
            product = call("post", "/v1/products", {"title": "Drop", "stock": 1000000,
                                                    "price": {"amount": 1000, "currency": "EUR"}}, brand["apiKey"])
            sessions = []
            for title in ("A", "B"):
                session = call("post", "/v1/sessions", {"title": title}, brand["apiKey"])
                call("post", f"/v1/sessions/{session['id']}/lineup",
                     {"productId": product["id"], "quantity": 100000}, brand["apiKey"])
                call("post", f"/v1/sessions/{session['id']}/start", None, brand["apiKey"])
                sessions.append(session["id"])

            # DynamoDB Local answers its first thousands of requests slowly (ENVIRONMENT.md): warmed
            # here on the same tables, so the containers' figures are the app's, not the engine's.
            for _ in range(args.warm):
                call("get", f"/v1/sessions/{sessions[1]}/live")
                response = client.http.post("/v1/orders", body=json.dumps(
                    {"sessionId": sessions[0], "items": [{"productId": product["id"], "quantity": 1}]}), headers={
                    "Content-Type": "application/json", "Authorization": f"Bearer {shopper_token(secret)}",
                    "Idempotency-Key": secrets.token_hex(8)})
                assert response.status_code == 201, response.body

        def checkout(session_id):
            body = {"sessionId": session_id, "items": [{"productId": product["id"], "quantity": 1}]}
            return api_event("POST", "/v1/orders", {}, body, {
                "Authorization": f"Bearer {shopper_token(secret)}", "Idempotency-Key": secrets.token_hex(8)})

        def live(session_id):
            return api_event("GET", "/v1/sessions/{session_id}/live", {"session_id": session_id})

        kinds = {"checkout": lambda: [("first", checkout(sessions[0])), ("second", checkout(sessions[1]))],
                 "/live": lambda: [("first", live(sessions[0])), ("second", live(sessions[1]))]}
        child_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        results: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for round_ in range(args.containers + 1):  # the first round warms the file cache: not counted
            for kind, requests in kinds.items():
                plan = workdir / "plan.json"
                plan.write_text(json.dumps({"requests": requests()}))
                run = subprocess.run([sys.executable, __file__, "--container", str(plan)], env=child_env,
                                     capture_output=True, text=True)
                lines = [line for line in run.stderr.splitlines() if line.startswith("FIGURES ")]
                if run.returncode or not lines:
                    sys.stderr.write(run.stderr)
                    raise SystemExit(f"a {kind} container failed")
                if round_:
                    results[kind].append(json.loads(lines[-1][len("FIGURES "):]))
    report(results, args.containers)
    return 0


def report(results: dict[str, list[dict]], containers: int) -> None:
    def median(kind, name, which):
        return statistics.median(run[name][which] for run in results[kind]) * 1000

    print(f"\nfirst requests: {containers} fresh containers per kind, the app's handler called with "
          f"API Gateway events, on DynamoDB Local (medians, ms)")
    print(f"  {'':10s} {'import app':>16s} {'first':>16s} {'second':>16s} {'first/second':>14s}")
    for kind in results:
        cells = [f"{median(kind, name, 0):6.1f} ({median(kind, name, 1):5.1f})" for name in ("import", "first", "second")]
        wall_ratio = median(kind, "first", 0) / median(kind, "second", 0)
        cpu_ratio = median(kind, "first", 1) / median(kind, "second", 1)
        print(f"  {kind:10s} {cells[0]:>16s} {cells[1]:>16s} {cells[2]:>16s} {wall_ratio:6.2f} ({cpu_ratio:5.2f})")
    print("  wall ms (CPU ms in brackets); target: first/second <= 2")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--container":
        container(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
