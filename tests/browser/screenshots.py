"""`make screenshots`: the README's pictures, made again from a fresh `make run`: the viewer
mid-drop (375 px wide, a product pinned through the stream, units selling), the host console, and
the show's analytics (its orders, the pin on the chart; a couple of minutes at most, in real time).

Run: PYTHONPATH=. .venv/bin/python -m tests.browser.screenshots  (writes docs/screenshots/*.png)
"""
from __future__ import annotations

import secrets
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from devstack.stack import LOOPBACK, ROOT, free_port
from tests.browser.conftest import IMAGE, IMAGE_HOST, IVS_PLAYER_HOSTS, Stack, chromium_path
from tests.makerun import MakeRun

OUT = ROOT / "docs" / "screenshots"


def stage(stack: Stack) -> dict:
    show = stack.show({"title": "Aurora hoodie", "price": 6900, "quantity": 100, "perCustomerLimit": 2},
                      {"title": "Comet sneakers", "price": 14900, "quantity": 50},
                      title="Friday night drop")
    for buyer in range(7):  # a few buyers before the picture, so the console has orders; most pay
        buy(stack, show, show["products"][buyer % 2], pay=bool(buyer % 3))
    return show


def buy(stack: Stack, show: dict, product_id: str, pay: bool) -> None:
    shopper = stack.shopper()
    order = stack.ok("POST", "/v1/orders", {"sessionId": show["session"],
                                            "items": [{"productId": product_id, "quantity": 1}]},
                     key=shopper, headers={"Idempotency-Key": secrets.token_hex(16)})
    if pay:
        stack.ok("POST", f"/v1/orders/{order['id']}/pay", {"paymentToken": "ok"}, key=shopper,
                 headers={"Idempotency-Key": secrets.token_hex(16)})


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as logs:
        run = MakeRun(free_port(), Path(logs), web_port=free_port())
        try:
            run.wait_for_line("OpenAPI document:")
            stack = Stack(run=run, api=f"http://{LOOPBACK}:{run.port}", web=f"http://{LOOPBACK}:{run.web_port}",
                          brand_key=run.wait_for_line("demo brand key:").split()[-1],
                          demo_session=run.wait_for_line("demo session:").split()[-1])
            show = stage(stack)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium_path(),
                                                     args=["--autoplay-policy=no-user-gesture-required"])
                context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2)
                context.route("**/*", lambda route: (
                    route.abort() if (route.request.url.split("/")[2].endswith(IVS_PLAYER_HOSTS)) else
                    route.fulfill(status=200, content_type="image/svg+xml", body=IMAGE)
                    if route.request.url.split("/")[2] == IMAGE_HOST else route.continue_()))
                viewer = context.new_page()
                viewer.goto(f"{stack.web}/watch/{show['session']}")
                expect(viewer.get_by_test_id("player-state")).to_have_text("Playing", timeout=60_000)
                stack.ok("POST", f"/v1/sessions/{show['session']}/feature", {"productId": show["products"][0]})
                viewer.wait_for_function("() => (window.livedropCues || []).some(c => c.type === 'feature')",
                                         timeout=30_000)
                viewer.wait_for_timeout(1_000)
                viewer.screenshot(path=str(OUT / "viewer.png"))

                host = browser.new_page(viewport={"width": 1280, "height": 860})
                host.goto(f"{stack.web}/host/{show['session']}")
                host.get_by_test_id("api-key-input").fill(stack.brand_key)
                host.get_by_test_id("api-key-input").press("Enter")
                expect(host.get_by_test_id("feature-button").first).to_be_visible(timeout=20_000)
                host.wait_for_timeout(4_000)  # one refresh of units left and orders
                host.screenshot(path=str(OUT / "host.png"), full_page=True)

                # Orders after the pin's attribution window opened (its send time + 3 s), so that the
                # products table has units sold while pinned as well as before.
                for buyer in range(3):
                    buy(stack, show, show["products"][buyer % 2], pay=True)
                host.get_by_test_id("analytics-link").click()
                expect(host.get_by_test_id("analytics-status")).to_have_text("live", timeout=20_000)
                expect(host.locator('[data-testid="sales-chart"] canvas')).to_have_count(1)
                figures = f"{stack.api}/v1/sessions/{show['session']}/analytics"
                host.wait_for_function(  # the feed has applied every order (it reads the streams every second)
                    """async ([url, key]) => { const r = await (await fetch(url, {headers: {Authorization: `Bearer ${key}`}})).json();
                       return r.totals.length && r.totals[0].reservations === 10 && r.totals[0].orders.paid === 7; }""",
                    arg=[figures, stack.brand_key], polling=1_000, timeout=20_000)
                host.wait_for_timeout(5_500)  # the page's next refresh
                host.screenshot(path=str(OUT / "analytics.png"), full_page=True)
                browser.close()
        finally:
            run.kill_what_is_left()
    print(f"wrote {OUT / 'viewer.png'}, {OUT / 'host.png'} and {OUT / 'analytics.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
