"""`make run`: the embedded stack, the tables, demo data, the API on `chalice local`, the embedded
broadcaster (a live HLS stream per live session, carrying the pins as timed metadata) and the web
pages on their own origin.

Prints the operator key, the demo brand's key, the pages' URLs and curl commands that work as
printed. Ctrl-C (or any failure) stops everything this started.
"""
from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from devstack.stack import LOOPBACK, ROOT, EmbeddedStack, free_port


def wait_for_api(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("chalice local exited before it answered")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def start_api(env: dict[str, str], port: int, log_path=None) -> subprocess.Popen:
    """`chalice local`, refusing in problem+json and with a spike-sized backlog (devstack/chalice_local.py)."""
    output = open(log_path, "ab") if log_path else None
    return subprocess.Popen(
        [sys.executable, "-m", "devstack.chalice_local", "local", "--host", LOOPBACK, "--port", str(port),
         "--stage", "local", "--no-autoreload"],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, start_new_session=True, stdout=output, stderr=output,
    )


def stop_api(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def prepare_environment(stack: EmbeddedStack, operator_key: str, broadcaster_url: str,
                        web_origin: str, embedded_secret: str) -> dict[str, str]:
    env = {**os.environ, **stack.env(), "LIVEDROP_OPERATOR_KEY": operator_key, "LIVEDROP_STAGE": "local",
           "LIVEDROP_SHOPPER_TOKEN_SECRET": os.environ.get("LIVEDROP_SHOPPER_TOKEN_SECRET") or secrets.token_urlsafe(32),
           "LIVEDROP_IVS_MODE": "embedded",
           # Stream keys derive from it, and the broadcaster takes pins only with it (no other page can).
           "LIVEDROP_EMBEDDED_SECRET": embedded_secret,
           # Playback URLs and pins go to the embedded broadcaster; its recordings are the replays.
           "LIVEDROP_EMBEDDED_HLS_URL": broadcaster_url, "LIVEDROP_REPLAY_BASE_URL": broadcaster_url + "/recordings",
           # The console's origin may call brand routes (public and shopper routes allow any origin).
           "LIVEDROP_CONSOLE_CORS_ORIGINS": web_origin}
    os.environ.update(env)  # this process seeds through the same settings the API reads
    import boto3

    from chalicelib.settings import get_settings
    from infra.tables import create_tables

    from infra.keys import ensure_webhook_key

    create_tables(boto3.client("dynamodb"), dict(get_settings().tables))
    ensure_webhook_key(boto3.client("kms"), get_settings().webhook_secrets_key)
    return env


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    web_port = int(os.environ.get("WEB_PORT", "8001"))
    operator_key = os.environ.get("LIVEDROP_OPERATOR_KEY") or "op_" + secrets.token_urlsafe(24)
    # Ctrl-C or a kill, also while starting: the `finally`s below (and the stack's atexit hook, if
    # it was still starting) stop everything; an interrupted start is no error to report.
    try:
        return serve(port, web_port, operator_key)
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 0


def serve(port: int, web_port: int, operator_key: str) -> int:
    """Runs until interrupted; returns (1) only if `chalice local` stops on its own."""
    from devstack.hls import follow_sessions, start_broadcaster
    from devstack.web import build_web, serve_web

    base, web = f"http://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{web_port}"
    dist = build_web()  # before anything starts: a broken build is reported at once
    with EmbeddedStack(log_dir=ROOT / ".local" / "logs") as stack:
        embedded_secret = secrets.token_urlsafe(16)
        broadcaster = start_broadcaster(free_port(), ROOT / ".local" / "hls", embedded_secret)
        pages = follower = api = None
        stop = threading.Event()
        try:
            env = prepare_environment(stack, operator_key, broadcaster.url, web, embedded_secret)
            from chalicelib.bootstrap import services
            from devstack.seed import seed_demo

            demo = seed_demo()
            start_sweeper(stop)
            follower = follow_sessions(broadcaster, services, stop)
            pages = serve_web(web_port, base, dist)
            api = start_api(env, port)
            wait_for_api(base + "/v1/openapi.json", api)
            print_welcome(base, web, operator_key, demo)
            code = api.wait()
        finally:
            stop.set()
            if api is not None:
                stop_api(api)
            if pages is not None:
                pages.shutdown()
            if follower is not None:
                follower.join(5)  # so it can not start an encoder after the broadcaster stopped
            broadcaster.stop()
    print(f"chalice local stopped by itself (exit code {code}); the embedded stack is stopped too",
          file=sys.stderr)
    return 1


SWEEP_EVERY_SECONDS = 5


def start_sweeper(stop: threading.Event) -> None:
    """`chalice local` runs no scheduled functions: release expired reservations, reconcile
    payments, announce timed drops and run due draws from here, as the deployed functions do
    every minute (more often, for short holds)."""
    from chalicelib.bootstrap import services
    from chalicelib.observability import logger

    def sweep() -> None:
        while not stop.wait(SWEEP_EVERY_SECONDS):
            try:
                released = services().checkout.release_expired(limit=500)
                if released:
                    logger.info("released expired reservations", extra={"released": released})
                services().payments.reconcile(limit=200)
                services().live.announce_timed_openings()
                if drawn := services().draws.run_due(limit=50):
                    logger.info("draws made and allocated", extra={"draws": drawn})
            except Exception:
                logger.exception("sweeper failed; trying again")

    threading.Thread(target=sweep, name="reservation-sweeper", daemon=True).start()
    threading.Thread(target=tick, args=(stop,), name="stock-ticker", daemon=True).start()
    threading.Thread(target=aggregate, args=(stop,), name="analytics", daemon=True).start()
    threading.Thread(target=deliver_webhooks, args=(stop,), name="webhooks", daemon=True).start()


def tick(stop: threading.Event) -> None:
    """What the deployed `stock_ticker` stream handler does, fed by polling DynamoDB Local's stream."""
    from chalicelib.bootstrap import services
    from chalicelib.observability import logger
    from chalicelib.settings import get_settings
    from devstack.streams import StreamReader

    reader = StreamReader(get_settings().tables["stock"])
    while not stop.wait(1.0):
        try:
            records = reader.read()
            if records:
                services().live.on_stock_records(records)
        except Exception:
            logger.exception("stock ticker failed; trying again")


class StreamFeed:
    """What deployed stream handlers do, fed by polling DynamoDB Local's streams: each stream's new
    records to its handler, a failed batch kept and handed over again with the next records (as
    Lambda retries a failed batch)."""

    KINDS: tuple[str, ...] = ()

    def __init__(self, keep: bool = False) -> None:
        from chalicelib.settings import get_settings
        from devstack.streams import StreamReader

        tables = get_settings().tables
        self.readers = {kind: StreamReader(tables[kind]) for kind in self.KINDS}
        self.waiting: dict[str, list] = {kind: [] for kind in self.KINDS}
        self.keep = keep  # every record read, in `seen`: tests replay them
        self.seen: dict[str, list] = {kind: [] for kind in self.KINDS}

    def handlers(self) -> dict:
        """Stream kind -> the handler its records go to (the same code the deployed handler calls)."""
        raise NotImplementedError

    def drain(self) -> int:
        """Read and hand over each stream once; the first failure is raised once every stream had
        its turn. Returns what the handlers counted."""
        handlers = self.handlers()
        done, failure = 0, None
        for kind, reader in self.readers.items():
            fresh = reader.read_records()
            if self.keep:
                self.seen[kind] += fresh
            self.waiting[kind] += fresh
            if not self.waiting[kind]:
                continue
            try:
                done += handlers[kind](self.waiting[kind]) or 0
                self.waiting[kind] = []
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure
        return done


class AnalyticsFeed(StreamFeed):
    """The analytics handlers: the orders, counters and sessions streams into the show's figures."""

    KINDS = ("orders", "counters", "sessions")

    def handlers(self) -> dict:
        from chalicelib.bootstrap import services

        analytics = services().analytics
        return {"orders": analytics.on_order_records, "counters": analytics.on_like_records,
                "sessions": analytics.on_session_records}


def aggregate(stop: threading.Event) -> None:
    """Analytics under `make run`: the streams every second, viewers and settling every sweep."""
    from chalicelib.bootstrap import services
    from chalicelib.domain.errors import Busy
    from chalicelib.observability import logger

    feed = AnalyticsFeed()
    last_sweep = 0.0
    while not stop.wait(1.0):
        try:
            applied = feed.drain()
            if applied:
                logger.info("analytics: stream records applied", extra={"records": applied})
            if time.monotonic() - last_sweep >= SWEEP_EVERY_SECONDS:
                last_sweep = time.monotonic()
                services().analytics.sample_viewers()
                if finalized := services().analytics.settle():
                    logger.info("analytics: shows final", extra={"shows": finalized})
        except Busy as error:  # a pin still being sent, contention: as Lambda would, try again
            logger.info("analytics batch comes again", extra={"error": type(error).__name__, "detail": str(error)})
        except Exception:
            logger.exception("analytics failed; the batch comes again")


class WebhookFeed(StreamFeed):
    """The webhook handlers: the orders, sessions and timeline streams fanned out into the
    deliveries outbox."""

    KINDS = ("orders", "sessions", "timeline")

    def handlers(self) -> dict:
        from functools import partial

        from chalicelib.api.webhook_schemas import EventViews
        from chalicelib.bootstrap import services

        webhooks, views = services().webhooks, EventViews()
        return {"orders": partial(webhooks.on_order_records, views=views),
                "sessions": partial(webhooks.on_session_records, views=views),
                "timeline": partial(webhooks.on_timeline_records, views=views)}


WEBHOOK_POLL_SECONDS = 0.5


def deliver_webhooks(stop: threading.Event) -> None:
    """Webhooks under `make run`: the streams into the outbox, and due deliveries sent, twice a second."""
    from chalicelib.bootstrap import services
    from chalicelib.observability import logger

    feed = WebhookFeed()
    while not stop.wait(WEBHOOK_POLL_SECONDS):
        try:
            if added := feed.drain():
                logger.info("webhooks: deliveries queued", extra={"deliveries": added})
            while services().webhooks.deliver_due():
                pass
        except Exception:
            logger.exception("webhooks failed; trying again")


def print_welcome(base: str, web: str, operator_key: str, demo: dict[str, str]) -> None:
    from chalicelib.settings import get_settings

    brand_auth = shlex.quote(f"Authorization: Bearer {demo['api_key']}")
    operator_auth = shlex.quote(f"Authorization: Bearer {operator_key}")
    minting = get_settings().rate_limits["shopper_mint"].detail
    print(f"""
Livedrop is serving on {base}  (embedded AWS stack; Ctrl-C stops everything)

  operator key:    {operator_key}
  demo brand:      {demo['brand_id']}
  demo brand key:  {demo['api_key']}
  demo session:    {demo['session_id']}

  viewer:          {web}/watch/{demo['session_id']}
  host console:    {web}/host/{demo['session_id']}   (paste the demo brand key)
  analytics:       {web}/host/{demo['session_id']}/analytics
  API reference:   {web}/docs

Try:
  curl -s '{base}/v1/sessions?status=scheduled'
  curl -s -H {brand_auth} '{base}/v1/products'
  curl -s -X POST -H {operator_auth} -H 'Content-Type: application/json' -d '{{"name":"My Brand"}}' '{base}/v1/brands'

The demo session is scheduled: start it from the host console (or POST /v1/sessions/{demo['session_id']}/start
with the brand key) and its channel goes on air: the viewer plays a local live stream that carries
every pin as IVS timed metadata. Shoppers get tokens from POST /v1/shoppers ({minting};
LIVEDROP_RATE_LIMITS changes the rate limits, see README "Rate limits"). Expired reservations
are released every {SWEEP_EVERY_SECONDS} s; the show's analytics follow its orders within a few seconds.
Webhooks (POST /v1/webhooks) may point at a plain-http receiver on 127.0.0.1 here; set
LIVEDROP_WEBHOOK_RETRY_SCHEDULE=1,2,3 (seconds) before `make run` to watch retries come quickly.

OpenAPI document: {base}/v1/openapi.json
""", flush=True)


def interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    # Ctrl-C, a closed terminal or a kill all end in the same clean stop (also where a parent
    # shell started us with SIGINT ignored).
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, interrupt)
    sys.exit(main())
