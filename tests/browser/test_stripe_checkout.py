"""The viewer's checkout with Stripe's Payment Element, in Chromium, on a `make run` of its own whose
API takes payments with Stripe, pointed at the local fake of Stripe's API (tests/stripe_fake.py).

Stripe.js is what the page loads from https://js.stripe.com through Stripe's loader; here that
address is answered with tests/browser/fake_stripe_js.js, which confirms PaymentIntents at the fake
API as Stripe.js does (the publishable key and the client secret, from the browser). Every other
request must stay on 127.0.0.1, as in the rest of the tier (the IVS player's probes are blocked and
product images answered locally, as conftest.py does).
"""
from __future__ import annotations

import json
import re
import secrets
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from devstack.stack import LOOPBACK, free_port
from tests.browser.conftest import IMAGE, IMAGE_HOST, IVS_PLAYER_HOSTS, Stack, unique
from tests.makerun import MakeRun
from tests.stripe_fake import start_fake_stripe

PUBLISHABLE_KEY = "pk_test_" + secrets.token_hex(12)
SECRET_KEY = "sk_test_" + secrets.token_hex(12)
WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)
STRIPE_JS_HOST = "js.stripe.com"
FAKE_STRIPE_JS = Path(__file__).with_name("fake_stripe_js.js")
GOOD_CARD, DECLINED_CARD = "4242 4242 4242 4242", "4000 0000 0000 0002"
PRICE = 4900  # EUR minor units: "Pay €49.00"
ANSWER = 20_000  # ms: a bound against hanging, not a speed claim


@pytest.fixture(scope="module")
def fake_stripe():
    fake = start_fake_stripe()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(fake_stripe, tmp_path_factory):
    """This module's own `make run`, with Stripe as its payment provider and the fake behind
    STRIPE_API_BASE. Named as the tier's, so that conftest's `shows_end` ends each test's shows."""
    run = MakeRun(free_port(), tmp_path_factory.mktemp("make-run-stripe"), web_port=free_port(), settings={
        "LIVEDROP_PAYMENTS": "stripe", "STRIPE_API_BASE": fake_stripe.url,
        "LIVEDROP_STRIPE_SECRET_KEY": SECRET_KEY, "LIVEDROP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LIVEDROP_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY})
    try:
        run.wait_for_line("OpenAPI document:")  # the welcome text's last line
        stack = Stack(run=run, api=f"http://{LOOPBACK}:{run.port}", web=f"http://{LOOPBACK}:{run.web_port}",
                      brand_key=run.wait_for_line("demo brand key:").split()[-1],
                      demo_session=run.wait_for_line("demo session:").split()[-1])
        yield stack
    finally:
        run.kill_what_is_left()


@pytest.fixture(scope="module")
def at_capture(fake_stripe, stack):
    """The order as the API has it at the moment each capture reaches Stripe: intent id -> order."""
    seen: dict[str, dict] = {}

    def look(method: str, path: str, params: dict) -> None:
        parts = path.strip("/").split("/")
        if method == "POST" and parts[:2] == ["v1", "payment_intents"] and parts[3:] == ["capture"]:
            order_id = fake_stripe.intent(parts[2])["metadata"]["order_id"]
            seen[parts[2]] = stack.ok("GET", f"/v1/orders/{order_id}")

    fake_stripe.on_request(look)
    return seen


@pytest.fixture
def shopper_page(browser, stack, fake_stripe):
    """A viewer page in a fresh context; js.stripe.com answered with the stand-in for Stripe.js,
    every other request kept on 127.0.0.1. Returns (page, the js.stripe.com URLs it asked for)."""
    script = FAKE_STRIPE_JS.read_text().replace("__FAKE_STRIPE_API__", fake_stripe.url)
    context = browser.new_context(viewport={"width": 375, "height": 740})
    stripe_js, offsite, errors = [], [], []

    def guard(route):
        url = urlparse(route.request.url)
        host = url.hostname or ""
        if host == STRIPE_JS_HOST and url.scheme == "https":
            stripe_js.append(route.request.url)
            return route.fulfill(status=200, content_type="application/javascript", body=script)
        if host.endswith(IVS_PLAYER_HOSTS):
            return route.abort()
        if host == IMAGE_HOST:
            return route.fulfill(status=200, content_type="image/svg+xml", body=IMAGE)
        if host != LOOPBACK and url.scheme in ("http", "https", "ws", "wss"):
            offsite.append(route.request.url)
            return route.abort()
        return route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, stripe_js
    context.close()
    assert offsite == [], f"the page asked for something beyond 127.0.0.1 and js.stripe.com: {offsite}"
    assert errors == [], f"uncaught errors in the page: {errors}"


def open_viewer(stack, page, title: str) -> dict:
    """A live show of one product, pinned, open in the viewer with its Buy button ready."""
    show = stack.show({"title": title, "price": PRICE, "quantity": 5})
    stack.ok("POST", f"/v1/sessions/{show['session']}/feature", {"productId": show["products"][0]})
    page.goto(f"{stack.web}/watch/{show['session']}")
    expect(page.get_by_test_id("product-title")).to_have_text(title, timeout=ANSWER)
    expect(page.get_by_test_id("buy-button")).to_be_enabled(timeout=ANSWER)
    return show


def payment_element(page):
    """The Payment Element's card field, once it is mounted and the form's Pay is ready."""
    card = page.get_by_label("Card number")
    expect(card).to_be_visible(timeout=ANSWER)
    expect(page.get_by_test_id("checkout-submit")).to_have_text(re.compile(r"^Pay \D*49\.00\D*$"))
    expect(page.get_by_test_id("checkout-submit")).to_be_enabled()
    return card


def calls_for(fake, order_id: str, intent_ids: list[str]):
    """The fake's calls about this order: its intents' creation, and anything on those intents."""
    return [call for call in fake.calls
            if (call[1] == "/v1/payment_intents" and call[2].get("metadata", {}).get("order_id") == order_id)
            or any(call[1].startswith(f"/v1/payment_intents/{intent}") for intent in intent_ids)]


def only_order(stack, session_id: str) -> dict:
    orders = stack.ok("GET", f"/v1/orders?sessionId={session_id}")["items"]
    assert len(orders) == 1, orders
    return orders[0]


def test_the_api_names_stripe_and_its_publishable_key(stack):
    assert stack.ok("GET", "/v1/payments/config", key="") == {
        "provider": "stripe", "publishableKey": PUBLISHABLE_KEY, "confirmsInBrowser": True}


def test_a_shopper_pays_in_the_payment_element_and_the_money_is_captured_once_the_order_is_paid(
        stack, shopper_page, fake_stripe, at_capture):
    page, stripe_js = shopper_page
    title = unique("Stripe hoodie")
    show = open_viewer(stack, page, title)
    assert stripe_js == []  # Stripe.js is loaded only once a shopper means to pay

    page.get_by_test_id("buy-button").click()
    card = payment_element(page)
    expect(card).to_be_focused()
    expect(page.get_by_test_id("order-status")).to_contain_text(f"Checkout: {title}")
    expect(page.get_by_role("form", name="Pay by card")).to_be_visible()
    card.fill(GOOD_CARD)
    page.get_by_test_id("checkout-submit").click()

    expect(page.get_by_test_id("order-status")).to_contain_text(f"Paid: {title}", timeout=ANSWER)
    expect(page.get_by_test_id("checkout")).to_be_hidden()
    expect(page.locator("#pay-button")).to_be_hidden()
    expect(page.locator("#cancel-button")).to_be_hidden()

    order = only_order(stack, show["session"])
    assert order["status"] == "paid"
    assert order["payment"]["provider"] == "stripe" and order["payment"]["attempt"] == 1
    assert order["payment"]["capturedAt"]
    intent_id = order["payment"]["reference"]
    expect(page.get_by_test_id("order-status")).to_contain_text(order["id"])

    calls = calls_for(fake_stripe, order["id"], [intent_id])
    creates = [call for call in calls if call[1] == "/v1/payment_intents"]
    confirms = [call for call in calls if call[1].endswith("/confirm")]
    captures = [call for call in calls if call[1].endswith("/capture")]
    assert len(creates) == 1 and len(confirms) == 1 and len(captures) == 1, calls
    created = creates[0][2]
    assert created["capture_method"] == "manual"
    assert (created["amount"], created["currency"]) == (str(PRICE), "eur")
    assert creates[0][3] == f"livedrop:{order['id']}:1:create"
    # Confirmed by the browser, as Stripe.js does it: the publishable key and the client secret.
    confirmed = confirms[0][2]
    assert confirmed["key"] == PUBLISHABLE_KEY and confirmed["payment_method"] == "pm_card_visa"
    assert confirmed["client_secret"] == fake_stripe.intent(intent_id)["client_secret"]
    assert len(captures) == 1
    assert calls.index(captures[0]) > calls.index(confirms[0])
    # The capture reached Stripe only after the order was written paid (and before it was recorded).
    assert at_capture[intent_id]["status"] == "paid" and at_capture[intent_id]["payment"]["capturedAt"] is None
    assert fake_stripe.intent(intent_id)["status"] == "succeeded"
    assert fake_stripe.intent(intent_id)["amount_received"] == PRICE

    assert stripe_js and all(re.fullmatch(r"https://js\.stripe\.com/[a-z0-9]+/stripe\.js", url) for url in stripe_js)

    # Back from a bank's page (a redirect-based method): the address is cleaned, the order shown.
    page.goto(f"{stack.web}/watch/{show['session']}?order={order['id']}&payment_intent={intent_id}"
              f"&payment_intent_client_secret={fake_stripe.intent(intent_id)['client_secret']}&redirect_status=succeeded")
    expect(page.get_by_test_id("order-status")).to_contain_text(f"Paid: {title}", timeout=ANSWER)
    expect(page).to_have_url(f"{stack.web}/watch/{show['session']}")


def test_a_declined_card_says_so_and_the_shopper_pays_again_with_another(stack, shopper_page, fake_stripe, at_capture):
    page, _ = shopper_page
    title = unique("Declined cap")
    show = open_viewer(stack, page, title)

    page.get_by_test_id("buy-button").click()
    card = payment_element(page)
    first_intent = page.get_by_test_id("fake-payment-element").get_attribute("data-intent")
    confirms_before = len([c for c in fake_stripe.calls if c[1].endswith("/confirm")])
    page.get_by_test_id("checkout-submit").click()  # nothing typed: Stripe.js says so, nothing is sent
    expect(page.get_by_test_id("checkout-note")).to_have_text("Your card number is incomplete.")
    assert len([c for c in fake_stripe.calls if c[1].endswith("/confirm")]) == confirms_before

    card.fill(DECLINED_CARD)
    page.get_by_test_id("checkout-submit").click()
    expect(page.locator("#buy-message")).to_contain_text("Your card was declined.", timeout=ANSWER)
    expect(page.get_by_test_id("checkout")).to_be_hidden()
    expect(page.get_by_test_id("order-status")).to_contain_text(f"Reserved: {title}")
    pay_again = page.locator("#pay-button")
    expect(pay_again).to_be_visible()
    expect(pay_again).to_be_focused()
    expect(page.locator("#cancel-button")).to_be_visible()

    order = only_order(stack, show["session"])
    assert order["status"] == "reserved" and order["payment"]["attempt"] == 1
    assert order["payment"]["reference"] == first_intent
    assert fake_stripe.intent(first_intent)["status"] == "canceled"  # the failed attempt is voided

    pay_again.click()  # a new attempt: a new PaymentIntent, the element mounted with its client secret
    card = payment_element(page)
    second_intent = page.get_by_test_id("fake-payment-element").get_attribute("data-intent")
    assert second_intent != first_intent
    expect(page.locator("#buy-message")).to_be_empty()
    card.fill(GOOD_CARD)
    page.get_by_test_id("checkout-submit").click()
    expect(page.get_by_test_id("order-status")).to_contain_text(f"Paid: {title}", timeout=ANSWER)

    order = only_order(stack, show["session"])
    assert order["status"] == "paid" and order["payment"]["attempt"] == 2
    assert order["payment"]["reference"] == second_intent and order["payment"]["capturedAt"]
    calls = calls_for(fake_stripe, order["id"], [first_intent, second_intent])
    assert [call[3] for call in calls if call[1] == "/v1/payment_intents"] == [
        f"livedrop:{order['id']}:1:create", f"livedrop:{order['id']}:2:create"]
    assert [(call[1], call[2]["payment_method"]) for call in calls if call[1].endswith("/confirm")] == [
        (f"/v1/payment_intents/{first_intent}/confirm", "pm_card_chargeDeclined"),
        (f"/v1/payment_intents/{second_intent}/confirm", "pm_card_visa")]
    assert [call[1] for call in calls if call[1].endswith(("/capture", "/cancel"))] == [
        f"/v1/payment_intents/{first_intent}/cancel", f"/v1/payment_intents/{second_intent}/capture"]
    assert at_capture[second_intent]["status"] == "paid" and at_capture[second_intent]["payment"]["attempt"] == 2
    assert first_intent not in at_capture


def test_a_payment_stripe_is_still_processing_is_followed_until_its_webhook_settles_it(stack, shopper_page, fake_stripe):
    page, _ = shopper_page
    title = unique("Processing scarf")
    show = open_viewer(stack, page, title)
    page.get_by_test_id("buy-button").click()
    card = payment_element(page)
    intent_id = page.get_by_test_id("fake-payment-element").get_attribute("data-intent")

    # Stripe takes the confirmation but has no outcome yet (a slow bank): the intent is processing.
    def processing(route):
        fake_stripe.set_status(intent_id, "processing")
        route.fulfill(status=200, content_type="application/json", headers={"Access-Control-Allow-Origin": "*"},
                      body=json.dumps({"id": intent_id, "object": "payment_intent", "status": "processing"}))

    page.route(f"{fake_stripe.url}/v1/payment_intents/{intent_id}/confirm", processing)
    order_id = only_order(stack, show["session"])["id"]
    looks: list[str] = []  # the page's requests about the order from here on
    page.on("request", lambda request: looks.append(f"{request.method} {urlparse(request.url).path}")
            if order_id in request.url else None)
    card.fill(GOOD_CARD)
    page.get_by_test_id("checkout-submit").click()

    expect(page.get_by_test_id("checkout-note")).to_have_text("Your bank is still confirming the payment…",
                                                              timeout=ANSWER)
    # /pay asked again with a growing pause, then the order followed: no Pay, no form meanwhile.
    expect(page.get_by_test_id("checkout")).to_be_hidden(timeout=ANSWER)
    expect(page.get_by_test_id("order-status")).to_contain_text(f"Paying: {title}")
    expect(page.locator("#pay-button")).to_be_hidden()
    if f"GET /v1/orders/{order_id}" not in looks:
        page.wait_for_event("request", lambda request: request.method == "GET" and request.url.endswith(
            f"/v1/orders/{order_id}"), timeout=ANSWER)
    assert looks.count(f"POST /v1/orders/{order_id}/pay") == 4  # after the confirmation: 4 tries to settle

    # Stripe authorises it and says so by webhook: the API settles the order, the page sees it.
    fake_stripe.authorize(intent_id)
    body = fake_stripe.event("payment_intent.amount_capturable_updated", intent_id)
    request = urllib.request.Request(f"{stack.api}/v1/payments/stripe/webhook", data=body, method="POST", headers={
        "Content-Type": "application/json", "Stripe-Signature": fake_stripe.sign(body, WEBHOOK_SECRET)})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read()) == {"received": True, "outcome": "paid"}
    expect(page.get_by_test_id("order-status")).to_contain_text(f"Paid: {title}", timeout=30_000)
    order = only_order(stack, show["session"])
    assert order["status"] == "paid" and order["payment"]["capturedAt"] and order["payment"]["attempt"] == 1
