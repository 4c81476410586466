"""Show analytics over real HTTP, against `make run` as a user starts it: a scripted show (a pin,
two paid orders, a cancelled one) whose every figure is worked out by hand below, read back as
JSON and as CSV, in the brand's list of shows, and refused to anyone but its brand.

One `make run` for this module (the tests/makerun.py harness, as test_make_run.py uses it), with
no latency allowance (LIVEDROP_FEATURE_LATENCY_LOW_MS=0), so that an order right after its pin
counts as featured without waiting; its `aggregate` thread prints a line per batch it applies,
and the report is read again at each."""
from __future__ import annotations

import csv
import io
import secrets
from datetime import datetime, timedelta, timezone

import pytest
import requests

from devstack.stack import LOOPBACK, free_port
from tests.makerun import MakeRun

REPORT_BOUND = 15  # s: the feed applies each stream every second; a bound against hanging, not a speed claim
NO_ALLOWANCE = {"LIVEDROP_FEATURE_LATENCY_LOW_MS": "0"}
A_PRICE, B_PRICE = 2500, 4000


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    run = MakeRun(free_port(), tmp_path_factory.mktemp("make-run"), settings=NO_ALLOWANCE)
    try:
        run.wait_for_line("OpenAPI document:")  # the welcome text's last line
        yield run
    finally:
        run.kill_what_is_left()


class Api:
    def __init__(self, run: MakeRun) -> None:
        self.base = f"http://{LOOPBACK}:{run.port}"
        self.brand_key = run.wait_for_line("demo brand key:").split()[-1]
        self.operator_key = run.wait_for_line("operator key:").split()[-1]
        self.http = requests.Session()

    def call(self, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return self.http.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def ok(self, method: str, path: str, key: str | None = None, **kwargs):
        answer = self.call(method, path, key if key is not None else self.brand_key, **kwargs)
        assert answer.ok, f"{method} {path} answered {answer.status_code}: {answer.text}"
        return answer.json()

    def order(self, shopper: str, session_id: str, product_id: str, quantity: int) -> str:
        return self.ok("POST", "/v1/orders", key=shopper, headers={"Idempotency-Key": secrets.token_hex(16)},
                       json={"sessionId": session_id, "items": [{"productId": product_id, "quantity": quantity}]})["id"]


@pytest.fixture(scope="module")
def api(make_run):
    return Api(make_run)


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def show(api, make_run):
    """The script: 2 products, pin A, then A×2 paid and B×1 paid (one buyer), A×1 cancelled (another)."""
    session = api.ok("POST", "/v1/sessions", json={"title": "Analytics over HTTP"})["id"]
    products = []
    for title, price in (("Product A", A_PRICE), ("Product B", B_PRICE)):
        product = api.ok("POST", "/v1/products", json={"title": title, "description": "Scripted.", "stock": 10,
                                                       "price": {"amount": price, "currency": "EUR"}})["id"]
        api.ok("POST", f"/v1/sessions/{session}/lineup", json={"productId": product, "quantity": 10})
        products.append(product)
    a, b = products
    api.ok("POST", f"/v1/sessions/{session}/start")
    try:
        api.ok("POST", f"/v1/sessions/{session}/feature", json={"productId": a})
        buyer, quitter = (api.ok("POST", "/v1/shoppers", key="")["token"] for _ in range(2))
        paid = [api.order(buyer, session, a, 2), api.order(buyer, session, b, 1)]
        for order in paid:
            api.ok("POST", f"/v1/orders/{order}/pay", key=buyer, json={"paymentToken": "ok"},
                   headers={"Idempotency-Key": secrets.token_hex(16)})
        cancelled = api.order(quitter, session, a, 1)
        api.ok("POST", f"/v1/orders/{cancelled}/cancel", key=quitter)

        def settled_figures():
            # Each order's reservation and its outcome are separate stream records: wait for all of them.
            report = api.ok("GET", f"/v1/sessions/{session}/analytics")
            totals = report["totals"]
            return report if totals and totals[0]["reservations"] == 3 and totals[0]["orders"]["reserved"] == 0 \
                else None

        report = make_run.wait_until(settled_figures, "every order in the report", REPORT_BOUND)
        yield {"session": session, "a": a, "b": b, "report": report,
               "reserved_at": [api.ok("GET", f"/v1/orders/{order}")["createdAt"] for order in (*paid, cancelled)]}
    finally:
        api.call("POST", f"/v1/sessions/{session}/end", api.brand_key)


VIEWER_SAMPLED = ("peakViewers", "averageViewers", "conversion")  # sampled every 5 s: may move between two reads


def test_every_figure_of_the_scripted_show(show):
    report, a, b = show["report"], show["a"], show["b"]
    assert report["totals"], f"no figures within {REPORT_BOUND} s: {report}"
    assert (report["sessionId"], report["sessionStatus"], report["status"], report["currency"]) == (
        show["session"], "live", "live", "EUR")
    assert report["attribution"] == {"latencyAllowanceMs": 0, "graceMs": 30000}  # as this make run is set

    [totals] = report["totals"]
    gmv = 2 * A_PRICE + B_PRICE  # 9000: the two paid orders; the cancelled A×1 is not in it
    assert {name: value for name, value in totals.items() if name not in VIEWER_SAMPLED} == {
        "currency": "EUR", "gmv": gmv, "reservedValue": 0,
        "reservations": 3, "orders": {"reserved": 0, "paid": 2, "cancelled": 1, "expired": 0},
        "unitsSold": 3, "buyers": 1,  # one shopper paid both orders
        "averageOrderValue": gmv // 2, "checkoutCompletion": pytest.approx(2 / 3), "likes": 0}
    # Nobody watched: a sample (if one was taken yet) counts 0 viewers, and there is no conversion.
    assert totals["peakViewers"] in (None, 0) and totals["averageViewers"] in (None, 0) and totals["conversion"] is None

    [pin] = report["pins"]
    # Sent if the channel was on air already, else counted from its pin time.
    assert pin["productId"] == a and pin["windowEnd"] is None
    assert pin["windowStart"] == (pin["sentAt"] or pin["pinnedAt"])
    assert pin["sentAt"] is None or at(pin["pinnedAt"]) <= at(pin["sentAt"])
    # Why A's units count while featured: every order was reserved inside A's (open) window.
    assert all(at(moment) >= at(pin["windowStart"]) for moment in show["reserved_at"]), show["reserved_at"]

    products = {product["productId"]: product for product in report["products"]}
    assert set(products) == {a, b}
    figures = ("allocated", "unitsSold", "gmv", "sellThrough", "soldOutAt", "unitsWhileFeatured", "unitsNotFeatured")
    assert {pid: {name: products[pid][name] for name in figures} for pid in (a, b)} == {
        a: {"allocated": 10, "unitsSold": 2, "gmv": 2 * A_PRICE, "sellThrough": 0.2, "soldOutAt": None,
            "unitsWhileFeatured": 2, "unitsNotFeatured": 0},
        b: {"allocated": 10, "unitsSold": 1, "gmv": B_PRICE, "sellThrough": 0.1, "soldOutAt": None,
            "unitsWhileFeatured": 0, "unitsNotFeatured": 1}}
    assert products[b]["featuredSeconds"] == 0 and products[b]["salesPerMinuteWhileFeatured"] is None
    assert products[a]["featuredSeconds"] > 0 and products[a]["featureLift"] is None  # never sold unpinned: no lift

    timeline = report["timeline"]
    assert timeline and all(row["minute"].endswith(":00.000Z") for row in timeline)
    sums = {name: sum(row[name] for row in timeline) for name in ("reservations", "paidOrders", "unitsSold", "gmv", "likes")}
    assert sums == {"reservations": 3, "paidOrders": 2, "unitsSold": 3, "gmv": gmv, "likes": 0}
    assert {row["featuredProductId"] for row in timeline if row["reservations"]} == {a}


def test_the_csv_is_the_json_timeline(api, show):
    for how in ({"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
        # The show is live: a new minute (a row) or a viewer sample can come between two reads, so
        # the CSV is compared with a JSON report read both before and after it, unchanged.
        for _ in range(5):
            before = api.ok("GET", f"/v1/sessions/{show['session']}/analytics")
            answer = api.call("GET", f"/v1/sessions/{show['session']}/analytics", api.brand_key, **how)
            report = api.ok("GET", f"/v1/sessions/{show['session']}/analytics")
            if before["timeline"] == report["timeline"]:
                break
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv"), how
        rows = list(csv.reader(io.StringIO(answer.text)))
        names = ["minute", "reservations", "paidOrders", "unitsSold", "gmv", "likes", "viewers", "featuredProductId"]
        assert rows[0] == names
        assert rows[1:] == [["" if row[name] is None else str(row[name]) for name in names]
                            for row in report["timeline"]], how


def test_the_csv_is_named_as_an_attachment(api, show):
    answer = api.call("GET", f"/v1/sessions/{show['session']}/analytics", api.brand_key, params={"format": "csv"})
    assert answer.headers.get("Content-Disposition") == f'attachment; filename="{show["session"]}-analytics.csv"'


def test_the_brands_shows_in_a_period_carry_the_same_totals(api, show):
    now = datetime.now(timezone.utc)
    listed = api.ok("GET", "/v1/analytics/sessions",
                    params={"from": iso(now - timedelta(minutes=10)), "to": iso(now + timedelta(minutes=10))})
    [item] = [item for item in listed["items"] if item["sessionId"] == show["session"]]
    report = api.ok("GET", f"/v1/sessions/{show['session']}/analytics")
    assert (item["title"], item["sessionStatus"], item["status"], item["startedAt"]) == (
        report["title"], report["sessionStatus"], report["status"], report["startedAt"])

    def steady(totals):
        return [{name: value for name, value in entry.items() if name not in VIEWER_SAMPLED} for entry in totals]
    assert steady(item["totals"]) == steady(report["totals"]) == steady(show["report"]["totals"])

    later = api.ok("GET", "/v1/analytics/sessions", params={"from": iso(now + timedelta(minutes=5))})
    assert show["session"] not in [item["sessionId"] for item in later["items"]]


def test_a_bad_from_is_a_problem_naming_it(api):
    answer = api.call("GET", "/v1/analytics/sessions", api.brand_key, params={"from": "yesterday"})
    assert answer.status_code == 400 and answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["field"] == "from" and [e["field"] for e in answer.json()["errors"]] == ["from"]


def test_another_brand_sees_no_report(api, show):
    other = api.ok("POST", "/v1/brands", key=api.operator_key, json={"name": "Another brand"})["apiKey"]
    for params in ({}, {"format": "csv"}):
        answer = api.call("GET", f"/v1/sessions/{show['session']}/analytics", other, params=params)
        assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/problem+json", params
    listed = api.ok("GET", "/v1/analytics/sessions", key=other)
    assert show["session"] not in [item["sessionId"] for item in listed["items"]]
