"""The show's analytics page in Chromium, on `make run`: it shows the API's figures (read back and
compared cell by cell), one marker per pin, a chart, a CSV equal to the API's, and the report
going final once the show ended with every order paid; the console links to it."""
from __future__ import annotations

import csv
import io
import secrets
import urllib.request
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import open_as_brand, unique
from tests.browser.test_pages import console

FIGURES = 15  # s: the analytics feed reads the streams every second
REFRESH = 15_000  # ms: the page refreshes every 5 s
FINAL = 20_000  # ms: settling runs every 5 s, then the page's next refresh
PRODUCT_CELLS = ("allocated", "unitsSold", "gmv", "sellThrough", "soldOutAt", "featuredSeconds",
                 "unitsWhileFeatured", "unitsNotFeatured")  # the products table's first columns, in order


def buy_and_pay(stack, session_id: str, product_id: str, quantity: int = 1) -> None:
    shopper = stack.shopper()
    order = stack.ok("POST", "/v1/orders", {"sessionId": session_id, "items": [{"productId": product_id,
                                                                                "quantity": quantity}]},
                     key=shopper, headers={"Idempotency-Key": secrets.token_hex(16)})
    stack.ok("POST", f"/v1/orders/{order['id']}/pay", {"paymentToken": "ok"}, key=shopper,
             headers={"Idempotency-Key": secrets.token_hex(16)})


def report_once(stack, session_id: str, done) -> dict:
    """The report once `done` holds, read again each time `make run` prints a line (its analytics
    feed prints one per batch applied)."""
    def ready():
        report = stack.ok("GET", f"/v1/sessions/{session_id}/analytics")
        return report if done(report) else None

    return stack.run.wait_until(ready, "the report there", FIGURES)


def csv_of(stack, session_id: str) -> str:
    request = urllib.request.Request(f"{stack.api}/v1/sessions/{session_id}/analytics?format=csv",
                                     headers={"Authorization": f"Bearer {stack.brand_key}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read().decode()


def analytics(stack, new_page, session_id: str):
    return open_as_brand(stack, new_page, f"/host/{session_id}/analytics")


def test_the_analytics_page_shows_the_apis_figures_and_goes_final(stack, new_page, tmp_path):
    show = stack.show({"title": unique("Pinned jacket"), "price": 5900}, {"title": unique("Unpinned scarf"), "price": 1900})
    session_id, (a, b) = show["session"], show["products"]
    stack.ok("POST", f"/v1/sessions/{session_id}/feature", {"productId": a})  # the tier's make run: no allowance
    buy_and_pay(stack, session_id, a, quantity=2)
    buy_and_pay(stack, session_id, b)

    page = analytics(stack, new_page, session_id)
    expect(page.get_by_test_id("analytics-status")).to_have_text("live")
    report = report_once(stack, session_id, lambda r: r["totals"] and r["totals"][0]["orders"]["paid"] == 2)
    products = {p["productId"]: p for p in report["products"]}
    assert (products[a]["unitsSold"], products[a]["unitsWhileFeatured"], products[b]["unitsNotFeatured"]) == (2, 2, 1)
    for product_id in (a, b):  # the page's cells are the API's numbers (counts: as integers in en-US)
        cells = page.locator(f'[data-testid="product-row"][data-product-id="{product_id}"] td')
        expect(cells.nth(PRODUCT_CELLS.index("unitsSold"))).to_have_text(str(products[product_id]["unitsSold"]),
                                                                         timeout=REFRESH)
        for name in ("allocated", "unitsWhileFeatured", "unitsNotFeatured"):
            expect(cells.nth(PRODUCT_CELLS.index(name))).to_have_text(str(products[product_id][name]))
    expect(page.locator(f'[data-testid="product-row"][data-product-id="{a}"] th')).to_have_text(products[a]["title"])
    expect(page.locator(f'[data-testid="product-row"][data-product-id="{a}"] td').nth(
        PRODUCT_CELLS.index("gmv"))).to_have_text("€118.00")  # 2 × 59.00
    [totals] = report["totals"]
    card = page.locator('[data-testid="totals-currency"][data-currency="EUR"]')
    expect(card.locator('dt:text-is("Units sold") + dd')).to_have_text(str(totals["unitsSold"]))
    expect(card.locator('dt:text-is("Buyers") + dd')).to_have_text(str(totals["buyers"]))

    markers = page.get_by_test_id("pin-marker")
    expect(markers).to_have_count(1)
    expect(markers).to_have_attribute("data-product-id", a)
    expect(page.get_by_test_id("sales-chart").locator("canvas")).to_have_count(1)
    expect(page.locator("#chart-caption")).to_contain_text("Dashed line: the pin, numbered as in the list")

    # The download and the API's CSV must be read between the same two changes of the timeline
    # (a viewer sample fills a minute's cell every 5 s): read the API before and after.
    # The report's timeline is read in the same window: a new minute may have begun since `report`.
    for _ in range(3):
        before = csv_of(stack, session_id)
        timeline = stack.ok("GET", f"/v1/sessions/{session_id}/analytics")["timeline"]
        with page.expect_download() as download:
            page.get_by_test_id("csv-download").click()
        saved = Path(download.value.path()).read_text()
        if before == csv_of(stack, session_id):
            break
    assert download.value.suggested_filename == f"{session_id}-analytics.csv"
    rows = list(csv.reader(io.StringIO(saved)))
    assert rows == list(csv.reader(io.StringIO(before))) and len(rows) == 1 + len(timeline)

    stack.ok("POST", f"/v1/sessions/{session_id}/end")
    stack.started.remove(session_id)
    expect(page.get_by_test_id("analytics-status")).to_have_text("final", timeout=FINAL)
    final = stack.ok("GET", f"/v1/sessions/{session_id}/analytics")
    assert (final["status"], final["sessionStatus"]) == ("final", "ended")
    expect(page.get_by_test_id("analytics-status")).to_have_text("final")


def test_the_console_links_to_the_shows_analytics(stack, new_page):
    show = stack.show({"title": unique("Linked hoodie")}, start=False)
    host = console(stack, new_page, show["session"])
    host.get_by_test_id("analytics-link").click()
    host.wait_for_url(f"{stack.web}/host/{show['session']}/analytics")
    # The key came along in the tab's session storage: no key form, the show's report.
    expect(host.get_by_test_id("analytics-status")).to_have_text("live")
    expect(host.get_by_test_id("api-key-input")).to_be_hidden()
    expect(host.get_by_test_id("product-row")).to_have_count(1)
