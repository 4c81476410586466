"""The viewer on fair drops, in Chromium on `make run`'s embedded stack: a queue drop is joined and
bought in position order (the next in line sees it sold), a draw drop is entered, drawn, won and
paid (or not drawn), and a verified-only drop offers no button that could only be refused. The API
sets each show up; the pages do what a shopper's taps do; the API checks what was sold."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from tests.browser.conftest import IMAGE_HOST, unique
from tests.browser.test_pages import CUE, cue_arrives, pin, watch

PAID = 20_000  # ms: reserve + pay with the test provider; a bound, not a speed claim


def shopper_id(page) -> str:
    return page.evaluate("JSON.parse(localStorage.getItem('livedrop.shopper')).shopperId")


def orders_of(stack, session_id: str, product_id: str) -> list[str]:
    items = stack.ok("GET", f"/v1/orders?sessionId={session_id}&limit=100")["items"]
    return [order["status"] for order in items if any(line["productId"] == product_id for line in order["items"])]


def stock_left(stack, session_id: str, product_id: str) -> int:
    lineup = stack.ok("GET", f"/v1/sessions/{session_id}/live")["lineup"]
    return next(item["stockLeft"] for item in lineup if item["productId"] == product_id)


def test_a_queue_drop_sells_its_unit_to_the_first_in_line_and_the_next_sees_it_sold(stack, new_page):
    title = unique("Queued sneaker")
    show = stack.show({"title": title, "quantity": 1, "mode": "queue"})
    session_id, product = show["session"], show["products"][0]
    first = watch(stack, new_page, session_id)
    pin(stack, first, session_id, product)
    second = watch(stack, new_page, session_id)  # loads after the pin: the card comes from /live
    for page in (first, second):
        expect(page.get_by_test_id("product-title")).to_have_text(title)
        expect(page.get_by_test_id("buy-button")).to_have_text("Join the queue")

    first.get_by_test_id("buy-button").click()  # joins, is admitted, buys with the admission, pays
    expect(first.get_by_test_id("order-status")).to_contain_text("Paid", timeout=PAID)
    expect(first.get_by_test_id("entry-status")).to_contain_text("Your turn came")

    second.get_by_test_id("buy-button").click()
    status = second.get_by_test_id("entry-status")
    expect(status).to_contain_text("position 2")
    # The queue's own `sold_out` comes 60 s + the hold after the last admission (README "Queue
    # drops"); until then the entry waits with nobody ahead, and the card knows no unit is left.
    expect(status).to_contain_text("Sold out for now", timeout=CUE)
    expect(status).to_contain_text("0 ahead")
    expect(second.get_by_test_id("sold-out")).to_be_visible()
    expect(second.get_by_test_id("buy-button")).to_be_disabled()
    expect(second.get_by_test_id("order")).to_be_hidden()

    # A reload finds each entry again: the second still in line, the first's order replayed (the
    # admission is not part of its fingerprint), not a second one.
    second.reload()
    expect(second.get_by_test_id("entry-status")).to_contain_text("position 2")
    first.reload()
    expect(first.get_by_test_id("order-status")).to_contain_text("Paid", timeout=PAID)
    expect(first.get_by_test_id("entry-status")).to_contain_text("Your turn came")

    assert orders_of(stack, session_id, product) == ["paid"]  # conservation: 1 unit = 1 paid + 0 left
    assert stock_left(stack, session_id, product) == 0


def test_a_draw_drop_is_entered_before_opens_at_then_won_and_paid_or_not_drawn(stack, new_page):
    show = stack.show({"title": unique("Warm-up tee")})
    session_id = show["session"]
    pages = [watch(stack, new_page, session_id) for _ in range(2)]

    # The draw drop is added to the live show, with opensAt a few seconds ahead, and pinned.
    product = stack.ok("POST", "/v1/products", {
        "title": unique("Raffle sneaker"), "description": "Drawn in a browser test.",
        "price": {"amount": 19900, "currency": "EUR"}, "stock": 1, "images": [f"https://{IMAGE_HOST}/d.svg"]})["id"]
    opens_at = (datetime.now(timezone.utc) + timedelta(seconds=15)).isoformat(timespec="seconds")
    stack.ok("POST", f"/v1/sessions/{session_id}/lineup",
             {"productId": product, "quantity": 1, "mode": "draw", "opensAt": opens_at})
    seed_hash = stack.ok("GET", f"/v1/sessions/{session_id}/drops/{product}/draw", key="")["seedHash"]
    stack.ok("POST", f"/v1/sessions/{session_id}/feature", {"productId": product})

    for page in pages:
        cue_arrives(page, "feature", product)
        expect(page.get_by_test_id("buy-button")).to_have_text("Enter the draw")
        page.get_by_test_id("buy-button").click()
    for page in pages:
        expect(page.get_by_test_id("entry-status")).to_contain_text("Entered: the draw is at")
        expect(page.get_by_test_id("seed-hash")).to_have_text(seed_hash)
        expect(page.get_by_test_id("buy-button")).to_be_disabled()

    # opensAt passes (the pages say so: the draw "is being made", or already the outcome when make
    # run's sweeper drew first); the owner draws at once rather than wait for the sweeper.
    for page in pages:
        expect(page.get_by_test_id("entry-status")).not_to_contain_text("the draw is at", timeout=30_000)
    drawn = stack.ok("POST", f"/v1/sessions/{session_id}/drops/{product}/draw")
    assert drawn["state"] == "drawn" and drawn["entrantCount"] == 2 and len(drawn["winners"]) == 1
    winner, = (page for page in pages if shopper_id(page) == drawn["winners"][0])
    other, = (page for page in pages if page is not winner)

    expect(winner.get_by_test_id("entry-status")).to_contain_text("You won", timeout=CUE)
    expect(winner.get_by_test_id("order-status")).to_contain_text("Paid", timeout=PAID)
    expect(other.get_by_test_id("entry-status")).to_contain_text("Not drawn this time", timeout=CUE)
    expect(other.get_by_test_id("entry-detail")).to_contain_text(f"verify_draw.py {stack.api} {session_id} {product}")
    expect(other.get_by_test_id("entry-detail")).to_contain_text(f"--seed-hash {seed_hash}")
    expect(other.get_by_test_id("order")).to_be_hidden()
    assert other.evaluate("document.documentElement.scrollWidth") <= 375  # the hash and command wrap at 375 px

    assert orders_of(stack, session_id, product) == ["paid"]  # one unit, one winner, paid
    assert stock_left(stack, session_id, product) == 0


def test_a_verified_only_drop_says_so_and_offers_no_button(stack, new_page):
    show = stack.show({"title": unique("Members' jacket"), "verifiedOnly": True})
    viewer = watch(stack, new_page, show["session"])
    pin(stack, viewer, show["session"], show["products"][0])
    expect(viewer.get_by_test_id("verified-only")).to_have_text("Verified shoppers only")
    expect(viewer.get_by_test_id("verified-note")).to_contain_text("signing in is not available")
    expect(viewer.get_by_test_id("buy-button")).to_be_hidden()
    assert viewer.evaluate("document.documentElement.scrollWidth") <= 375
