"""The viewer and the host console in Chromium, on `make run`'s embedded stack: the stream plays,
a pin reaches the card through the player's timed metadata, a buyer reserves and pays, a sold-out
drop says so, a like counts, a replay chapter seeks; and the console runs a show."""
from __future__ import annotations

import secrets

from playwright.sync_api import expect

from tests.browser.conftest import unique

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


def console(stack, new_page, session_id: str):
    page = new_page(width=1280, height=900)
    page.goto(f"{stack.web}/host/{session_id}")
    page.get_by_test_id("api-key-input").fill(stack.brand_key)
    page.get_by_test_id("api-key-input").press("Enter")
    return page


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
    stack.ok("POST", f"/v1/sessions/{show['session']}/feature", {"productId": show["products"][0]})
    cue_arrives(viewer, "feature", show["products"][0])

    viewer.get_by_test_id("buy-button").click()
    expect(viewer.get_by_test_id("order-status")).to_contain_text("Paid", timeout=20_000)
    orders = stack.ok("GET", f"/v1/orders?sessionId={show['session']}")["items"]
    assert [order["status"] for order in orders] == ["paid"]


def test_a_drop_that_sells_out_says_so(stack, new_page):
    show = stack.show({"title": unique("Numbered pair"), "quantity": 2})
    product = show["products"][0]
    viewer = watch(stack, new_page, show["session"])
    stack.ok("POST", f"/v1/sessions/{show['session']}/feature", {"productId": product})
    cue_arrives(viewer, "feature", product)

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
    stack.ok("POST", f"/v1/sessions/{session_id}/feature", {"productId": first})
    cue_arrives(viewer, "feature", first)
    stack.ok("POST", f"/v1/sessions/{session_id}/feature", {"productId": second})
    cue_arrives(viewer, "feature", second)
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
