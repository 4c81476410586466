"""The viewer and the host console in Chromium, on `make run`'s embedded stack: the stream plays,
a pin reaches the card through the player's timed metadata, a buyer reserves and pays, a sold-out
drop says so, a like counts, a replay chapter seeks; and the console runs a show."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from tests.browser.conftest import open_as_brand, unique

PLAYING = 60_000  # ms: a bound against hanging (encoder start + three segments), not a speed claim
CUE = 30_000  # ms: a pin waits for the next segment, then the player's buffer


def watch(stack, new_page, session_id: str, **size):
    page = new_page(**size)
    page.goto(f"{stack.web}/watch/{session_id}")
    expect(page.get_by_test_id("player-state")).to_have_text("Playing", timeout=PLAYING)
    return page


def cue_arrives(page, kind: str, product_id: str) -> None:
    page.wait_for_function(
        "([kind, id]) => (window.livedropCues || []).some(c => c.type === kind && c.product.id === id)",
        arg=[kind, product_id], timeout=CUE)


def pin(stack, viewer, session_id: str, product_id: str) -> None:
    """Pin through the API and wait for the pin to reach this viewer's player as a cue."""
    stack.ok("POST", f"/v1/sessions/{session_id}/feature", {"productId": product_id})
    cue_arrives(viewer, "feature", product_id)


def console(stack, new_page, session_id: str):
    return open_as_brand(stack, new_page, f"/host/{session_id}")


def test_the_viewer_plays_the_embedded_stream(stack, new_page):
    show = stack.show({"title": unique("Stream hoodie")})
    page = watch(stack, new_page, show["session"])
    first = page.evaluate("document.querySelector('video').currentTime")
    page.wait_for_function("t => document.querySelector('video').currentTime > t + 1", arg=first, timeout=10_000)


def test_a_pin_from_the_console_reaches_the_viewer_card_through_timed_metadata(stack, new_page):
    first, second = unique("Aurora hoodie"), unique("Comet sneakers")
    show = stack.show({"title": first}, {"title": second, "price": 14900})
    viewer = watch(stack, new_page, show["session"])
    # From here the card can change only through the player: the slow /live poll is cut off.
    viewer.route("**/v1/sessions/*/live", lambda route: route.abort())

    host = console(stack, new_page, show["session"])
    host.locator(f'[data-testid="feature-button"][data-product-id="{show["products"][1]}"]').click()

    cue_arrives(viewer, "feature", show["products"][1])
    card = viewer.get_by_test_id("product-card")
    expect(card).to_have_attribute("data-source", "cue")
    expect(viewer.get_by_test_id("product-title")).to_have_text(second)
    expect(viewer.get_by_test_id("product-price")).to_contain_text("149")


def test_a_buyer_reserves_and_pays(stack, new_page):
    show = stack.show({"title": unique("Nebula cap"), "quantity": 5})
    viewer = watch(stack, new_page, show["session"])
    pin(stack, viewer, show["session"], show["products"][0])

    viewer.get_by_test_id("buy-button").click()
    expect(viewer.get_by_test_id("order-status")).to_contain_text("Paid", timeout=20_000)
    orders = stack.ok("GET", f"/v1/orders?sessionId={show['session']}")["items"]
    assert [order["status"] for order in orders] == ["paid"]


def test_a_drop_that_sells_out_says_so(stack, new_page):
    show = stack.show({"title": unique("Numbered pair"), "quantity": 2})
    product = show["products"][0]
    viewer = watch(stack, new_page, show["session"])
    pin(stack, viewer, show["session"], product)

    stack.ok("POST", "/v1/orders", {"sessionId": show["session"], "items": [{"productId": product, "quantity": 2}]},
             key=stack.shopper(), headers={"Idempotency-Key": secrets.token_hex(16)})
    cue_arrives(viewer, "sold_out", product)
    expect(viewer.get_by_test_id("sold-out")).to_be_visible()
    expect(viewer.get_by_test_id("buy-button")).to_be_disabled()


def test_a_like_counts(stack, new_page):
    show = stack.show({"title": unique("Liked tee")})
    viewer = watch(stack, new_page, show["session"])
    viewer.get_by_test_id("like-button").click()
    expect(viewer.get_by_test_id("like-count")).to_have_text("1")
    assert stack.ok("GET", f"/v1/sessions/{show['session']}/live")["likes"] == 1


def test_a_replay_chapter_seeks_the_player_and_offers_its_product(stack, new_page):
    show = stack.show({"title": unique("First on screen")}, {"title": unique("Second on screen")})
    session_id, (first, second) = show["session"], show["products"]
    viewer = watch(stack, new_page, session_id)
    pin(stack, viewer, session_id, first)
    pin(stack, viewer, session_id, second)
    viewer.wait_for_timeout(2_000)  # some stream after the second pin, so its chapter has length
    stack.ok("POST", f"/v1/sessions/{session_id}/end")

    replay = new_page()
    replay.goto(f"{stack.web}/watch/{session_id}")
    chapter = replay.locator(f'[data-testid="chapter"][data-product-id="{second}"]')
    expect(chapter).to_be_visible(timeout=PLAYING)
    offset = stack.ok("GET", f"/v1/sessions/{session_id}/replay")["chapters"][-1]["startOffsetMs"] / 1000
    chapter.click()
    replay.wait_for_function(
        "at => Math.abs(document.querySelector('video').currentTime - at) < 1.5", arg=offset, timeout=CUE)
    expect(replay.get_by_test_id("product-title")).to_have_text(
        stack.ok("GET", f"/v1/products/{second}")["title"])


def test_the_viewer_counts_as_a_viewer_and_hides_chat_without_a_room(stack, new_page):
    show = stack.show({"title": unique("Counted tee")})
    viewer = watch(stack, new_page, show["session"])
    expect(viewer.get_by_test_id("chat-note")).to_contain_text("not available on the embedded stack")
    # /live asks the channel at most every 10 s per server: wait out one cached answer.
    viewer.wait_for_function(
        """async url => (await (await fetch(url)).json()).viewerCount >= 1""",
        arg=f"{stack.api}/v1/sessions/{show['session']}/live", polling=1_000, timeout=CUE)
    assert viewer.evaluate("document.documentElement.scrollWidth") <= 375  # usable at 375 px: no sideways scroll


def test_the_console_edits_the_lineup_runs_the_show_and_reports_each_pin(stack, new_page):
    kept, dropped = unique("Kept hoodie"), unique("Dropped cap")
    show = stack.show({"title": kept, "price": 6900}, {"title": dropped, "quantity": 4, "stock": 10}, start=False)
    session_id, (kept_id, dropped_id) = show["session"], show["products"]

    host = console(stack, new_page, session_id)
    host.get_by_label(f"Price of {kept}").fill("59.00")
    host.get_by_label(f"Price of {kept}").press("Enter")
    host.get_by_role("button", name=f"Remove {dropped} from the lineup").click()
    expect(host.locator(f'tr[data-product-id="{dropped_id}"]')).to_have_count(0)
    lineup = stack.ok("GET", f"/v1/sessions/{session_id}")["lineup"]
    assert [(item["productId"], item["price"]["amount"]) for item in lineup] == [(kept_id, 5900)]
    assert stack.ok("GET", f"/v1/products/{dropped_id}")["stock"] == 10  # its 4 units are back

    host.get_by_test_id("start-button").click()
    stack.started.append(session_id)
    expect(host.locator("#status")).to_have_text("live")
    watch(stack, new_page, session_id)  # the channel is on air once a player plays it
    host.locator(f'[data-testid="feature-button"][data-product-id="{kept_id}"]').click()
    expect(host.get_by_test_id("pin-log").locator("li").first).to_have_attribute(
        "data-delivery", "delivered", timeout=10_000)
    expect(host.get_by_test_id("pin-log").locator("li").first).to_contain_text(kept)

    host.get_by_test_id("end-button").click()
    host.get_by_test_id("end-button").click()  # a second tap confirms
    expect(host.locator("#status")).to_have_text("ended")
    assert stack.ok("GET", f"/v1/sessions/{session_id}")["status"] == "ended"


def test_the_console_lists_the_brands_own_sessions(stack, new_page):
    show = stack.show({"title": unique("Listed")}, title=unique("Listed show"), start=False)
    page = new_page(width=375)
    page.goto(f"{stack.web}/host")
    page.get_by_test_id("api-key-input").fill(stack.brand_key)
    page.get_by_test_id("api-key-input").press("Enter")
    expect(page.locator(f'[data-testid="session-list"] [data-session-id="{show["session"]}"]')).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_the_api_reference_renders_offline(stack, new_page):
    page = new_page(width=1280)
    page.goto(f"{stack.web}/docs")
    expect(page.get_by_test_id("api-reference")).to_contain_text("Pin a lineup product", timeout=20_000)


def test_a_drop_that_opens_later_counts_down_and_refusals_are_in_words(stack, new_page):
    opens = (datetime.now(timezone.utc) + timedelta(minutes=10)).isoformat(timespec="seconds")
    show = stack.show({"title": unique("Later drop"), "opensAt": opens},
                      {"title": unique("One each"), "perCustomerLimit": 1})
    later, one_each = show["products"]
    viewer = watch(stack, new_page, show["session"])
    pin(stack, viewer, show["session"], later)
    expect(viewer.get_by_test_id("countdown")).to_contain_text("Opens in")
    viewer.get_by_test_id("buy-button").click()
    expect(viewer.locator("#buy-message")).to_contain_text("not open yet")

    pin(stack, viewer, show["session"], one_each)
    viewer.get_by_test_id("buy-button").click()
    expect(viewer.get_by_test_id("order-status")).to_contain_text("Paid", timeout=20_000)
    viewer.get_by_test_id("buy-button").click()
    expect(viewer.locator("#buy-message")).to_contain_text("as many of this product as one customer may buy")


def test_a_tap_whose_answer_was_lost_is_retried_with_the_same_idempotency_key(stack, new_page):
    show = stack.show({"title": unique("Retried tee"), "quantity": 5})
    product = show["products"][0]
    viewer = watch(stack, new_page, show["session"])
    pin(stack, viewer, show["session"], product)

    keys = []

    def lose_the_first_answer(route):
        if route.request.method != "POST":
            return route.continue_()
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the order is made...
            return route.abort()  # ...and its answer never reaches the page
        return route.continue_()

    viewer.route("**/v1/orders", lose_the_first_answer)
    viewer.get_by_test_id("buy-button").click()
    expect(viewer.locator("#buy-message")).not_to_be_empty()
    viewer.get_by_test_id("buy-button").click()  # the shopper taps again
    expect(viewer.get_by_test_id("order-status")).to_contain_text("Paid", timeout=20_000)
    assert keys[0] == keys[1]
    orders = stack.ok("GET", f"/v1/orders?sessionId={show['session']}")["items"]
    assert [order["status"] for order in orders] == ["paid"]  # one order for two tries of one tap

    viewer.get_by_test_id("buy-button").click()  # a new tap after an answer: a new order
    second = None
    for _ in range(40):
        second = next((o for o in stack.ok("GET", f"/v1/orders?sessionId={show['session']}")["items"]
                       if o["id"] != orders[0]["id"]), None)
        if second:
            break
        viewer.wait_for_timeout(250)
    assert second is not None and len(keys) == 3 and keys[2] != keys[0]
    expect(viewer.get_by_test_id("order-status")).to_contain_text("Paid", timeout=20_000)
    expect(viewer.get_by_test_id("order-status")).to_contain_text(second["id"], timeout=20_000)


def test_a_browser_that_refuses_storage_still_buys_and_pays_as_one_shopper(stack, new_page):
    show = stack.show({"title": unique("Private mode cap"), "quantity": 5})
    product = show["products"][0]
    page = new_page()
    page.add_init_script("""Object.defineProperty(window, 'localStorage', {
        get() { throw new DOMException('The operation is insecure.', 'SecurityError'); } });""")
    page.goto(f"{stack.web}/watch/{show['session']}")
    expect(page.get_by_test_id("player-state")).to_have_text("Playing", timeout=PLAYING)
    pin(stack, page, show["session"], product)
    page.get_by_test_id("buy-button").click()
    expect(page.get_by_test_id("order-status")).to_contain_text("Paid", timeout=20_000)
