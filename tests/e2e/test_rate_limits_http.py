"""Rate limits over real HTTP: `chalice local` (as `make run` serves it) with the default rules,
and clients told apart by the address their socket is bound to (all of 127/8 is loopback here).

Windows are fixed: a burst that happens to straddle a window's edge may pass twice the limit, so
each count is checked against the windows the burst spanned, measured around it.
"""
from __future__ import annotations

import http.client
import json
import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from devstack.stack import LOOPBACK


@pytest.fixture(scope="module")
def server(aws_stack, tmp_path_factory):
    """`chalice local` with the default rate limits (the suite's own are generous)."""
    import os

    from devstack.run import start_api, stop_api, wait_for_api
    from devstack.stack import free_port

    port = free_port()
    env = {**os.environ, **aws_stack}
    env.pop("LIVEDROP_RATE_LIMITS")
    process = start_api(env, port, log_path=tmp_path_factory.mktemp("chalice-local-limits") / "chalice-local.log")
    try:
        wait_for_api(f"http://{LOOPBACK}:{port}/v1/openapi.json", process)
        yield port
    finally:
        stop_api(process)


def some_client() -> str:
    """A loopback address no other test uses: its own rate budget."""
    return f"127.{random.randrange(10, 250)}.{random.randrange(1, 250)}.{random.randrange(1, 250)}"


def call(port: int, method: str, path: str, body=None, token: str | None = None, source: str = LOOPBACK,
         headers: dict | None = None):
    """(status, headers, JSON body) of one request from `source`."""
    connection = http.client.HTTPConnection(LOOPBACK, port, source_address=(source, 0), timeout=60)
    try:
        sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=sent)
        answer = connection.getresponse()
        raw = answer.read()
        return answer.status, dict(answer.getheaders()), json.loads(raw) if raw else None
    finally:
        connection.close()


def windows_spanned(seconds: int, started: float, ended: float) -> int:
    """How many of a rule's fixed windows a burst between these times touched (the server reads
    the same clock as this test)."""
    return int(ended // seconds) - int(started // seconds) + 1


def assert_rate_limited(status, headers, body, longest: int) -> None:
    assert status == 429, body
    assert headers["Content-Type"] == "application/problem+json"
    assert body["type"] == "https://livedrop.dev/problems/too_many_requests"
    assert 1 <= int(headers["Retry-After"]) <= longest and body["retryAfter"] == int(headers["Retry-After"])


def test_one_address_mints_at_most_ten_shoppers_whatever_it_says_it_forwards(server):
    flooder = some_client()

    def mint(n):
        # A client writes X-Forwarded-For as it likes: the limit must not read it.
        return call(server, "POST", "/v1/shoppers", source=flooder, headers={"X-Forwarded-For": f"198.51.100.{n % 250}"})

    started = time.time()
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(mint, range(300)))
    ended = time.time()
    minted = [body for status, _, body in answers if status == 201]
    refused = [answer for answer in answers if answer[0] != 201]
    assert 10 <= len(minted) <= 10 * windows_spanned(600, started, ended), len(minted)  # 10 but at a window's edge
    assert len({shopper["shopperId"] for shopper in minted}) == len(minted)
    for status, headers, body in refused:
        assert_rate_limited(status, headers, body, 600)
        assert body["detail"] == "at most 10 new shoppers every 600 seconds per client address"


def test_another_address_still_mints_while_one_is_refused(server):
    flooder = some_client()
    for _ in range(10):
        call(server, "POST", "/v1/shoppers", source=flooder)
    status, _, _ = call(server, "POST", "/v1/shoppers", source=flooder)
    if status == 201:  # the ten straddled a window's edge: this was the new window's first
        for _ in range(9):
            call(server, "POST", "/v1/shoppers", source=flooder)
        status, _, _ = call(server, "POST", "/v1/shoppers", source=flooder)
    assert status == 429
    status, _, shopper = call(server, "POST", "/v1/shoppers", source="127.0.0.2")
    assert status == 201 and shopper["token"].startswith("shp.")


@pytest.fixture(scope="module")
def live_show(server, operator_key):
    """(session id, product id) of a live show with a drop of 20 units."""
    brand = call(server, "POST", "/v1/brands", {"name": "Limits"}, token=operator_key)[2]
    key = brand["apiKey"]
    product = call(server, "POST", "/v1/products", {"title": "Cap", "price": {"amount": 1500, "currency": "EUR"},
                                                     "stock": 20}, token=key)[2]
    session = call(server, "POST", "/v1/sessions", {"title": "Limits live"}, token=key)[2]
    assert call(server, "POST", f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": 20},
                token=key)[0] == 201
    assert call(server, "POST", f"/v1/sessions/{session['id']}/start", token=key)[0] == 200
    return session["id"], product["id"]


def new_shopper(server) -> str:
    status, _, shopper = call(server, "POST", "/v1/shoppers", source=some_client())
    assert status == 201
    return shopper["token"]


def burst(server, count: int, *request) -> tuple[list, int, float, float]:
    started = time.time()
    with ThreadPoolExecutor(count) as pool:
        answers = list(pool.map(lambda _: call(server, *request), range(count)))
    return answers, sum(status == 200 for status, _, _ in answers), started, time.time()


def test_likes_over_http_are_five_a_second_per_shopper(server, live_show):
    session_id, _ = live_show
    token = new_shopper(server)
    answers, counted, started, ended = burst(server, 20, "POST", f"/v1/sessions/{session_id}/likes", None, token)
    assert 5 <= counted <= 5 * windows_spanned(1, started, ended)
    for status, headers, body in (answer for answer in answers if answer[0] != 200):
        assert_rate_limited(status, headers, body, 1)
        assert body["detail"] == "at most 5 likes a second per shopper in a session"


def test_chat_tokens_over_http_are_five_a_minute_per_shopper(server, live_show):
    session_id, _ = live_show
    token = new_shopper(server)
    answers, issued, started, ended = burst(server, 12, "POST", f"/v1/sessions/{session_id}/chat-token", None, token)
    assert 5 <= issued <= 5 * windows_spanned(60, started, ended)
    for status, headers, body in (answer for answer in answers if answer[0] != 200):
        assert_rate_limited(status, headers, body, 60)


def test_pay_over_http_is_ten_attempts_a_minute_per_order(server, live_show):
    session_id, product_id = live_show
    token = new_shopper(server)
    status, _, order = call(server, "POST", "/v1/orders", {"sessionId": session_id, "items": [
        {"productId": product_id, "quantity": 1}]}, token=token, headers={"Idempotency-Key": secrets.token_hex(8)})
    assert status == 201, order
    started = time.time()
    answers = [call(server, "POST", f"/v1/orders/{order['id']}/pay", {"paymentToken": "decline"}, token=token)
               for _ in range(25)]
    ended = time.time()
    declined = sum(status == 402 for status, _, _ in answers)
    assert 10 <= declined <= 10 * windows_spanned(60, started, ended)
    assert [status for status, _, _ in answers[:10]] == [402] * 10
    for status, headers, body in (answer for answer in answers if answer[0] != 402):
        assert_rate_limited(status, headers, body, 60)
        assert body["detail"] == "at most 10 payment attempts every 60 seconds per order"
