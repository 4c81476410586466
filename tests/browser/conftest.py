"""The browser tier: `make run` as a user starts it, and its pages in Debian's Chromium.

One `make run` for the whole tier (its embedded stack, API, broadcaster and web server); each test
makes its own show through the API with the demo brand's key, so that tests do not see each
other's pins, orders or likes. Playwright drives Chromium through `executable_path` (never
`playwright install`); the IVS player's calls to live-video.net are answered locally with an
abort, and every other request must stay on 127.0.0.1.
"""
from __future__ import annotations

import json
import secrets
import shutil
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest

from devstack.stack import LOOPBACK, free_port
from tests.makerun import MakeRun

IVS_PLAYER_HOSTS = ".live-video.net"  # the IVS player's telemetry and probes: blocked, as in ENVIRONMENT.md
IMAGE_HOST = "images.livedrop.test"  # product images (the API takes https only), answered by the test
IMAGE = ('<svg xmlns="http://www.w3.org/2000/svg" width="320" height="320"><rect width="320" height="320" '
         'fill="#3b5bdb"/><circle cx="160" cy="160" r="90" fill="#fab005"/></svg>')


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed: `make test` installs it (apt-get install chromium)")
    return path


@dataclass
class Stack:
    """What `make run` printed: where the API and the pages are, and the demo brand's key."""
    run: MakeRun
    api: str
    web: str
    brand_key: str
    demo_session: str
    started: list[str] = field(default_factory=list)  # shows to end after the test (4 encoders at most)

    def call(self, method: str, path: str, body=None, key: str | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.api + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def ok(self, method: str, path: str, body=None, key: str | None = None, headers: dict | None = None):
        status, answer = self.call(method, path, body, key if key is not None else self.brand_key, headers)
        assert 200 <= status < 300, f"{method} {path} answered {status}: {answer}"
        return answer

    def show(self, *lineup: dict, title: str = "Browser test show", start: bool = True) -> dict:
        """A session of its own with products (each dict: title, price, quantity, and lineup
        options), started unless told not to. Returns {"session": id, "products": [ids]}."""
        session = self.ok("POST", "/v1/sessions", {"title": title})
        products = []
        for index, spec in enumerate(lineup):
            product = self.ok("POST", "/v1/products", {
                "title": spec.get("title", f"Product {index}"), "description": "Made for a browser test.",
                "price": {"amount": spec.get("price", 2500), "currency": "EUR"},
                "stock": spec.get("stock", spec.get("quantity", 10)),
                "images": spec.get("images", [f"https://{IMAGE_HOST}/{index}.svg"])})
            options = {key: value for key, value in spec.items() if key not in ("title", "price", "stock", "images")}
            self.ok("POST", f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], **options})
            products.append(product["id"])
        if start:
            self.ok("POST", f"/v1/sessions/{session['id']}/start")
            self.started.append(session["id"])
        return {"session": session["id"], "products": products}

    def shopper(self) -> str:
        return self.ok("POST", "/v1/shoppers", key="")["token"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # No latency allowance for analytics: an order right after a pin counts as featured, no waiting.
    run = MakeRun(free_port(), tmp_path_factory.mktemp("make-run"), web_port=free_port(),
                  settings={"LIVEDROP_FEATURE_LATENCY_LOW_MS": "0"})
    try:
        run.wait_for_line("OpenAPI document:")  # the welcome text's last line
        yield Stack(run=run, api=f"http://{LOOPBACK}:{run.port}", web=f"http://{LOOPBACK}:{run.web_port}",
                    brand_key=run.wait_for_line("demo brand key:").split()[-1],
                    demo_session=run.wait_for_line("demo session:").split()[-1])
    finally:
        run.kill_what_is_left()


@pytest.fixture(autouse=True)
def shows_end(request):
    """Every show a test started ends with it: the embedded broadcaster encodes at most 4 at once."""
    yield
    if "stack" in request.fixturenames:
        stack = request.getfixturevalue("stack")
        while stack.started:
            stack.call("POST", f"/v1/sessions/{stack.started.pop()}/end", key=stack.brand_key)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(),
            args=["--autoplay-policy=no-user-gesture-required", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


class Offsite(AssertionError):
    pass


@pytest.fixture
def new_page(browser, stack):
    """Pages in a fresh context (their own localStorage: their own shopper), 375 px wide by
    default; every request is checked to stay on 127.0.0.1, and page errors fail the test."""
    contexts, errors, offsite = [], [], []

    def make(width: int = 375, height: int = 740):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)

        def guard(route):
            host = urlparse(route.request.url).hostname or ""
            if host.endswith(IVS_PLAYER_HOSTS):
                return route.abort()
            if host == IMAGE_HOST:
                return route.fulfill(status=200, content_type="image/svg+xml", body=IMAGE)
            if host != LOOPBACK and urlparse(route.request.url).scheme in ("http", "https", "ws", "wss"):
                offsite.append(route.request.url)
                return route.abort()
            return route.continue_()

        context.route("**/*", guard)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert offsite == [], f"pages asked for something beyond 127.0.0.1: {offsite}"
    assert errors == [], f"uncaught errors in the page: {errors}"


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def open_as_brand(stack, new_page, path: str):
    """A console page (path under the web server) with the demo brand's key typed in, as a host does."""
    page = new_page(width=1280, height=900)
    page.goto(f"{stack.web}{path}")
    page.get_by_test_id("api-key-input").fill(stack.brand_key)
    page.get_by_test_id("api-key-input").press("Enter")
    return page
