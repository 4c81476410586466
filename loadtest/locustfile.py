"""One drop under load, against a deployed stage (loadtest/README.md says how to run it):

    locust -f loadtest/locustfile.py --headless -u 7550 -r 750 --host https://<api-id>.execute-api.<region>.amazonaws.com/api \
        --livedrop-units 5000 --livedrop-shards 1 --livedrop-viewers 50   # keys from LIVEDROP_LOAD_* variables

On test start the master (or the only process) sets up one drop: a product, a session, the
product in its lineup over the given shards, the session started. Viewers (a fixed number)
poll /live every 5 s; every other user is a buyer: a new shopper who places one order of one
unit with its own Idempotency-Key, then waits out the run. Headless, the run stops itself once
every buyer has had an answer. When locust exits it prints the units sold, the selling phase's rate,
the refusals, the shard formula's ceiling next to the measured rate with a verdict, and
conservation read back through the API; then it ends and deletes the session (its IVS channel).

Every option is also an environment variable (LIVEDROP_LOAD_*), listed in loadtest/README.md.
Never import this module from the test suite: importing locust monkey-patches the process (gevent).
"""
from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import gevent
import requests
from locust import FastHttpUser, between, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's root, for chalicelib

from chalicelib.domain import shopper_tokens  # noqa: E402  (pure: the token format, no I/O)
from loadtest.formula import (  # noqa: E402
    CHECKOUTS_PER_SHARD_PER_SECOND, INDEX_CEILING_PER_SECOND, formula_text, shard_ceiling, verdict,
)

log = logging.getLogger("livedrop.loadtest")

VIEWER_POLL_SECONDS = 5
TIMEOUT_SECONDS = 30


# --- options ----------------------------------------------------------------------------------

@events.init_command_line_parser.add_listener
def _options(parser):
    # On the parser itself, not an argument group: only the parser takes is_secret (masked in the web UI).
    parser.add_argument("--livedrop-brand-key", env_var="LIVEDROP_LOAD_BRAND_KEY", default="", is_secret=True,
                        help="A brand's API key; without it, --livedrop-operator-key makes a brand")
    parser.add_argument("--livedrop-operator-key", env_var="LIVEDROP_LOAD_OPERATOR_KEY", default="", is_secret=True,
                        help="The stage's operator key (SSM /livedrop/<stage>/operator-key)")
    parser.add_argument("--livedrop-shopper-secret", env_var="LIVEDROP_LOAD_SHOPPER_SECRET", default="",
                        is_secret=True, help="The stage's shopper-token secret (SSM /livedrop/<stage>/shopper-token-"
                        "secret): buyers' tokens are minted here; without it each buyer calls POST /v1/shoppers")
    parser.add_argument("--livedrop-units", env_var="LIVEDROP_LOAD_UNITS", type=int, default=100,
                        help="Units in the drop")
    parser.add_argument("--livedrop-shards", env_var="LIVEDROP_LOAD_SHARDS", type=int, default=0,
                        help="Stock shards (1-50); 0: from --livedrop-expected-orders-per-second, else 1")
    parser.add_argument("--livedrop-expected-orders-per-second", env_var="LIVEDROP_LOAD_EXPECTED_ORDERS_PER_SECOND",
                        type=int, default=0, help="The lineup's expectedOrdersPerSecond (one shard per "
                        f"{CHECKOUTS_PER_SHARD_PER_SECOND}/s) when no shard count is given")
    parser.add_argument("--livedrop-viewers", env_var="LIVEDROP_LOAD_VIEWERS", type=int, default=0,
                        help="Users that poll /live every 5 s; every other user is a buyer")
    parser.add_argument("--livedrop-summary-json", env_var="LIVEDROP_LOAD_SUMMARY_JSON", default="",
                        help="Also write the summary to this file, as JSON")


@events.init.add_listener
def _fixed_viewers(environment, runner=None, **_):
    if isinstance(runner, WorkerRunner):
        return  # a worker runs what its master dispatches, viewers included
    viewers = environment.parsed_options.livedrop_viewers if environment.parsed_options else 0
    if viewers > 0:
        ViewerUser.fixed_count = viewers
    else:  # fixed_count 0 would mean "by weight": take viewers out instead, as locust does for weight 0
        environment.user_classes[:] = [user for user in environment.user_classes if user is not ViewerUser]


# --- what buyers saw, merged over workers ------------------------------------------------------

@dataclass
class Phase:
    """Times are epoch seconds (workers on other machines: clocks must agree to a few ms)."""
    first_order_at: float = 0.0  # the first order request sent
    last_order_at: float = 0.0   # the last order request sent
    last_sale_at: float = 0.0    # the last 201 received
    orders_sent: int = 0
    answered: int = 0            # buyers done: an answer to their order, or no shopper to order with

    def order_sent(self, at: float) -> None:
        self.first_order_at = min(self.first_order_at or at, at)
        self.last_order_at = max(self.last_order_at, at)
        self.orders_sent += 1

    @classmethod
    def merged(cls, phases) -> "Phase":
        phases = list(phases)
        firsts = [p.first_order_at for p in phases if p.first_order_at]
        return cls(first_order_at=min(firsts, default=0.0),
                   last_order_at=max((p.last_order_at for p in phases), default=0.0),
                   last_sale_at=max((p.last_sale_at for p in phases), default=0.0),
                   orders_sent=sum(p.orders_sent for p in phases), answered=sum(p.answered for p in phases))


PHASE = Phase()  # this process's buyers
WORKER_PHASES: dict[str, Phase] = {}  # on a master: each worker's latest report (cumulative)


@events.report_to_master.add_listener
def _report(client_id, data, **_):
    data["livedrop_phase"] = asdict(PHASE)


@events.worker_report.add_listener
def _collect(client_id, data, **_):
    if "livedrop_phase" in data:
        WORKER_PHASES[client_id] = Phase(**{f.name: data["livedrop_phase"][f.name] for f in fields(Phase)})


def phase(environment) -> Phase:
    return Phase.merged(WORKER_PHASES.values()) if isinstance(environment.runner, MasterRunner) else PHASE


# --- setup and teardown through the API (plain requests: not in the stats) --------------------

class SetupFailed(Exception):
    pass


def call(method: str, url: str, key: str = "", body=None, expect=(200, 201)) -> dict:
    response = requests.request(method, url, json=body, timeout=TIMEOUT_SECONDS,
                                headers={"Authorization": f"Bearer {key}"} if key else {})
    if response.status_code not in expect:
        raise SetupFailed(f"{method} {urlsplit(url).path}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else {}


def set_up_drop(host: str, options) -> dict:
    brand_key = options.livedrop_brand_key
    if not brand_key:
        if not options.livedrop_operator_key:
            raise SetupFailed("give --livedrop-brand-key, or --livedrop-operator-key to make a brand")
        brand_key = call("POST", f"{host}/v1/brands", options.livedrop_operator_key,
                         {"name": f"Load test {time.strftime('%Y-%m-%d %H:%M:%S')}"})["apiKey"]
    units = options.livedrop_units
    product = call("POST", f"{host}/v1/products", brand_key,
                   {"title": "Load test drop", "price": {"amount": 100, "currency": "EUR"}, "stock": units})
    session = call("POST", f"{host}/v1/sessions", brand_key, {"title": "Load test"})
    lineup = {"productId": product["id"], "quantity": units}
    if options.livedrop_shards:
        lineup["shards"] = options.livedrop_shards
    elif options.livedrop_expected_orders_per_second:
        lineup["expectedOrdersPerSecond"] = options.livedrop_expected_orders_per_second
    item = call("POST", f"{host}/v1/sessions/{session['id']}/lineup", brand_key, lineup)
    call("POST", f"{host}/v1/sessions/{session['id']}/start", brand_key)
    return {"sessionId": session["id"], "productId": product["id"], "units": units, "shards": item["shards"],
            "brandKey": brand_key}


def conservation(host: str, drop: dict) -> dict:
    """Units left (all shards, /live) and units held by live orders (the brand's order listing):
    their sum must be the drop's units. Both reads are eventually consistent (a batch read, an
    index), so a mismatch is read again, a few times, before it is reported."""
    reads = 0
    while True:
        reads += 1
        left, held = units_left(host, drop), units_held(host, drop)
        if left + held == drop["units"] or reads == 5:
            break
        gevent.sleep(1)
    return {"left": left, "held": held, "holds": left + held == drop["units"], "reads": reads}


def units_left(host: str, drop: dict) -> int:
    live = call("GET", f"{host}/v1/sessions/{drop['sessionId']}/live")
    return next(item["stockLeft"] for item in live["lineup"] if item["productId"] == drop["productId"])


def units_held(host: str, drop: dict) -> int:
    held, cursor = 0, None
    while True:
        query = {"sessionId": drop["sessionId"], "limit": 100, **({"cursor": cursor} if cursor else {})}
        page = call("GET", f"{host}/v1/orders?{urlencode(query)}", drop["brandKey"])
        held += sum(line["quantity"] for order in page["items"] if order["status"] in ("reserved", "paying", "paid")
                    for line in order["items"] if line["productId"] == drop["productId"])
        cursor = page.get("nextCursor")
        if not cursor:
            return held


@events.test_start.add_listener
def _start(environment, **_):
    if isinstance(environment.runner, WorkerRunner):
        return  # the master set the drop up; it reaches workers in parsed_options
    options = environment.parsed_options
    try:
        drop = set_up_drop(environment.host.rstrip("/"), options)
    except (SetupFailed, requests.RequestException) as error:
        log.error("livedrop: the drop could not be set up: %s", error)
        options.livedrop_drop = None
        environment.process_exit_code = 2
        gevent.spawn(environment.runner.quit)
        return
    options.livedrop_drop = drop  # sent to workers with every spawn message
    log.info("livedrop: session %s, product %s: %d units over %d shard(s), live", drop["sessionId"],
             drop["productId"], drop["units"], drop["shards"])
    if options.headless:
        gevent.spawn(_stop_when_every_buyer_answered, environment)


def _stop_when_every_buyer_answered(environment) -> None:
    runner = environment.runner
    while True:
        gevent.sleep(0.5)
        buyers = (runner.target_user_count or 0) - ViewerUser.fixed_count
        if runner.state in ("stopping", "stopped"):
            return
        if buyers > 0 and phase(environment).answered >= buyers:
            log.info("livedrop: every buyer had an answer; stopping")
            runner.quit()
            return


@events.quitting.add_listener
def _summary(environment, **_):
    """At exit, not at test stop: a master's test_stop comes before its workers' last reports."""
    if isinstance(environment.runner, WorkerRunner):
        return
    drop = getattr(environment.parsed_options, "livedrop_drop", None)
    if not drop:
        return
    host = environment.host.rstrip("/")
    summary = summarise(environment, drop)
    try:
        summary["conservation"] = conservation(host, drop)
    except (SetupFailed, requests.RequestException) as error:
        summary["conservation"] = {"error": str(error)}
    print(render(summary), flush=True)
    if environment.parsed_options.livedrop_summary_json:
        Path(environment.parsed_options.livedrop_summary_json).write_text(json.dumps(summary, indent=2))
    if not summary["conservation"].get("holds"):
        environment.process_exit_code = 3  # units unaccounted for: never a pass, whatever the stats say
    for method, path in (("POST", "/end"), ("DELETE", "")):  # the show ends; its IVS channel goes
        try:
            call(method, f"{host}/v1/sessions/{drop['sessionId']}{path}", drop["brandKey"], expect=(200, 204))
        except (SetupFailed, requests.RequestException) as error:
            log.warning("livedrop: cleaning up: %s", error)


# --- the summary -------------------------------------------------------------------------------

ORDER = "POST /v1/orders"


def summarise(environment, drop: dict) -> dict:
    counts: dict[str, int] = {}
    for (name, _method), entry in environment.stats.entries.items():
        counts[name] = counts.get(name, 0) + entry.num_requests
    orders = {name[len(ORDER) + 1:]: n for name, n in counts.items() if name.startswith(ORDER + " ")}
    sold = orders.get("201 sold", 0)
    seen = phase(environment)
    selling = seen.last_sale_at - seen.first_order_at if sold and seen.last_sale_at > seen.first_order_at else 0.0
    sending = seen.last_order_at - seen.first_order_at
    sold_per_second = sold / selling if selling else None
    offered = seen.orders_sent / sending if sending > 0 else None
    shards = drop["shards"]
    return {
        "sessionId": drop["sessionId"], "productId": drop["productId"], "units": drop["units"], "shards": shards,
        "ordersSent": seen.orders_sent, "answers": orders, "requests": counts, "sold": sold,
        "busy503": orders.get("503 busy", 0),
        "throttled429": sum(n for name, n in counts.items() if " 429 " in f"{name} "),
        "serverErrors": sum(n for answer, n in orders.items() if answer[:1] == "5")
        + sum(n for name, n in counts.items() if name.startswith("POST /v1/shoppers 5")),
        "sellingSeconds": round(selling, 3), "soldPerSecond": sold_per_second and round(sold_per_second, 1),
        "offeredPerSecond": offered and round(offered, 1),
        "formula": formula_text(shards), "ceilingPerSecond": shard_ceiling(shards),
        "plannedPerSecond": shards * CHECKOUTS_PER_SHARD_PER_SECOND,
        "indexCeilingPerSecond": INDEX_CEILING_PER_SECOND,
        "verdict": verdict(shards, sold_per_second, offered),
    }


def render(s: dict) -> str:
    answers = ", ".join(f"{answer}: {n}" for answer, n in sorted(s["answers"].items())) or "none"
    c = s["conservation"]
    if "error" in c:
        kept = f"could not be read ({c['error']})"
    else:
        kept = (f"{c['left']} left + {c['held']} held by live orders = {c['left'] + c['held']} of {s['units']} units: "
                f"{'holds' if c['holds'] else 'DOES NOT HOLD'} (read through the API, {c['reads']} read(s))")
    rate = (f"{s['soldPerSecond']:,.1f} sales/s over {s['sellingSeconds']:.3f} s (first order request to last sale)"
            if s["soldPerSecond"] else "none (nothing sold)")
    lines = [
        "=== livedrop load scenario: summary ===",
        f"drop:           session {s['sessionId']}, product {s['productId']}, {s['units']} units over {s['shards']} shard(s)",
        f"orders:         {s['ordersSent']} sent; {answers}",
        f"units sold:     {s['sold']}",
        f"selling phase:  {rate}; offered {s['offeredPerSecond'] or 0:,.1f} orders/s",
        f"refusals:       503 busy: {s['busy503']}; 429 throttled: {s['throttled429']}; other 5xx: {s['serverErrors'] - s['busy503']}",
        f"shard formula:  ceiling = {s['formula']}; planned {s['plannedPerSecond']:,}/s "
        f"({CHECKOUTS_PER_SHARD_PER_SECOND}/s per shard)",
        f"measured:       {s['soldPerSecond'] or 0:,.1f} sales/s -> {s['verdict']}",
    ]
    if s["ceilingPerSecond"] > s["indexCeilingPerSecond"]:
        lines.append(f"note:           past {s['indexCeilingPerSecond']:,.0f} orders/s the orders' by-session index "
                     "(one partition per session) may throttle before the shards do")
    lines.append(f"conservation:   {kept}")
    return "\n".join(lines)


# --- the users ---------------------------------------------------------------------------------

class LivedropUser(FastHttpUser):
    abstract = True
    network_timeout = connection_timeout = TIMEOUT_SECONDS

    def on_start(self) -> None:
        # Empty when the drop could not be set up: the run is quitting, and the tasks do nothing.
        self.drop: dict = getattr(self.environment.parsed_options, "livedrop_drop", None) or {}


class BuyerUser(LivedropUser):
    """A new shopper who places one order of one unit, then waits out the run (a user that
    stopped would be spawned again while locust ramps up to its user count)."""
    wait_time = constant(86_400)

    @task
    def buy_once(self) -> None:
        if not self.drop:
            return
        try:
            token = self.shopper_token()
            if token:
                self.order(token)
        finally:  # counted whatever happened, or a headless run would wait for -t to stop
            PHASE.answered += 1

    def shopper_token(self) -> str | None:
        secret = self.environment.parsed_options.livedrop_shopper_secret
        if secret:  # as POST /v1/shoppers would, without spending the address's minting budget
            return shopper_tokens.issue(secret, shopper_tokens.new_shopper_id(), int(time.time()))[0]
        with self.client.post("/v1/shoppers", catch_response=True) as response:
            response.request_meta["name"] = f"POST /v1/shoppers {answer(response, '201')}"
            if response.status_code != 201:
                response.failure(f"{response.status_code}: no shopper (see the minting rate limit)")
                return None
            return response.json()["token"]

    def order(self, token: str) -> None:
        body = {"sessionId": self.drop["sessionId"], "items": [{"productId": self.drop["productId"], "quantity": 1}]}
        PHASE.order_sent(time.time())
        with self.client.post("/v1/orders", json=body, catch_response=True,
                              headers={"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)}
                              ) as response:
            said = answer(response, "201 sold")
            response.request_meta["name"] = f"{ORDER} {said}"
            if said == "201 sold":
                PHASE.last_sale_at = max(PHASE.last_sale_at, time.time())
                response.success()
            elif said == "409 sold_out":
                response.success()  # the expected answer once the units are gone
            else:  # 429, 503 busy and anything else: what this scenario is here to count
                response.failure(said)


class ViewerUser(LivedropUser):
    """Polls the session's live state, as the viewer page does (without a CDN in front)."""
    wait_time = between(VIEWER_POLL_SECONDS * 0.9, VIEWER_POLL_SECONDS * 1.1)  # not all in step

    @task
    def poll(self) -> None:
        if self.drop:
            self.client.get(f"/v1/sessions/{self.drop['sessionId']}/live", name="GET /v1/sessions/{id}/live")


def answer(response, created: str) -> str:
    """A request's stats name: its status and problem code (`201 sold`, `409 sold_out`, `503 busy`)."""
    status = response.status_code or 0
    if status == 201:
        return created
    if status == 0:
        return "no answer"
    try:
        problem = (response.json() or {}).get("type", "").rsplit("/", 1)[-1]
    except (ValueError, AttributeError):
        problem = ""
    return f"{status} {problem}".strip()
