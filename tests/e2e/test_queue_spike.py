"""A queue drop over real HTTP against `chalice local` on DynamoDB Local: 1,000 shoppers join a
100-unit drop at once before it opens, then everyone polls their entry and buys when admitted.

Checkout takes a queue drop's order only with the admission the queue gave that shopper: the
buyers are exactly the first positions, the last in line can not jump the queue, and every unit
is accounted for (conservation).
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import requests

from chalicelib.settings import get_settings
from devstack.load import shopper_token
from tests.conftest import conservation
from tests.e2e.test_spike import brand_key

ENTRANTS, QUANTITY, THREADS = 1000, 100, 48
DEADLINE_SECONDS = 45  # the whole polling phase; it takes a few seconds


def queue_drop(base_url, auth):
    product = requests.post(f"{base_url}/v1/products", headers=auth, json={
        "title": "Queued", "price": {"amount": 2500, "currency": "EUR"}, "stock": QUANTITY}).json()
    session = requests.post(f"{base_url}/v1/sessions", headers=auth, json={"title": "Queue spike"}).json()
    added = requests.post(f"{base_url}/v1/sessions/{session['id']}/lineup", headers=auth,
                          json={"productId": product["id"], "quantity": QUANTITY, "mode": "queue"})
    assert added.status_code == 201, added.text
    return session["id"], product["id"]


def last_step_ms(session_id: str, product_id: str) -> int:
    item = boto3.client("dynamodb").get_item(
        TableName=get_settings().tables["entries"], ConsistentRead=True,
        Key={"dropKey": {"S": f"{session_id}#{product_id}"}, "entryKey": {"S": "#queue"}}).get("Item")
    return int(item["lastStepMs"]["N"]) if item else 0


def test_a_thousand_join_a_hundred_unit_queue_and_exactly_the_first_hundred_are_admitted_and_buy(
        base_url, operator_key, aws_stack):
    auth = brand_key(base_url, operator_key)
    session_id, product_id = queue_drop(base_url, auth)
    entries = f"{base_url}/v1/sessions/{session_id}/drops/{product_id}/entries"
    secret = aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"]
    tokens = [shopper_token(secret) for _ in range(ENTRANTS)]
    local = threading.local()

    def http() -> requests.Session:  # one keep-alive connection per thread
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session

    def join(token: str) -> tuple[str, int, int]:
        response = http().post(entries, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        return token, response.status_code, response.json().get("position")

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        joined = list(pool.map(join, tokens))
    assert {status for _, status, _ in joined} == {201}
    position = {token: pos for token, _, pos in joined}
    assert sorted(position.values()) == list(range(1, ENTRANTS + 1))  # one counter: 1..1000, each once

    assert requests.post(f"{base_url}/v1/sessions/{session_id}/start", headers=auth).status_code == 200
    # Open now, but only to the admitted: the last in line can not jump the queue.
    jumper = requests.post(f"{base_url}/v1/orders", headers={"Authorization": f"Bearer {tokens[-1]}",
                                                             "Idempotency-Key": "jump"},
                           json={"sessionId": session_id, "items": [{"productId": product_id, "quantity": 1}]})
    assert jumper.status_code == 403 and jumper.json()["type"].endswith("/admission_required")

    # Every shopper polls; an admitted one buys at once. Until every unit is sold, a waiting
    # shopper goes to the back of the line and polls again.
    line: queue.Queue[str] = queue.Queue()
    for token in tokens:
        line.put(token)
    lock = threading.Lock()
    admitted_order: list[int] = []  # positions, in the order shoppers saw themselves admitted
    bought: dict[int, int] = {}      # position -> the order's status
    sold_out = threading.Event()
    deadline = time.monotonic() + DEADLINE_SECONDS
    last_purchase_ms = [0]

    def poll_and_buy() -> None:
        while not sold_out.is_set() and time.monotonic() < deadline:
            try:
                token = line.get(timeout=0.5)
            except queue.Empty:
                continue
            me = http().get(entries + "/me", headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
            assert me["position"] == position[token]
            if me["state"] != "admitted":
                assert me["state"] == "waiting", me
                line.put(token)
                continue
            assert me["admission"] and me["admissionExpiresAt"]
            with lock:
                admitted_order.append(me["position"])
            placed = http().post(f"{base_url}/v1/orders", timeout=60, headers={
                "Authorization": f"Bearer {token}", "Idempotency-Key": f"queue-{me['position']}"},
                json={"sessionId": session_id, "items": [{"productId": product_id, "quantity": 1}],
                      "admission": me["admission"]})
            with lock:
                bought[me["position"]] = placed.status_code
                last_purchase_ms[0] = max(last_purchase_ms[0], int(time.time() * 1000))
                if sum(1 for status in bought.values() if status == 201) == QUANTITY:
                    sold_out.set()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for future in [pool.submit(poll_and_buy) for _ in range(THREADS)]:
            future.result()
    assert sold_out.is_set(), f"{len(bought)} bought before the deadline"
    assert sorted(admitted_order) == list(range(1, QUANTITY + 1))  # exactly the first hundred, each once
    assert set(bought.values()) == {201} and sorted(bought) == list(range(1, QUANTITY + 1))  # sold in order
    assert conservation(session_id, product_id, QUANTITY) == (0, QUANTITY)

    # Every unit is held now: a step taken after the last purchase must admit nobody more.
    waiting = [token for token in tokens if position[token] > QUANTITY]
    probe = {"Authorization": f"Bearer {waiting[0]}"}
    while last_step_ms(session_id, product_id) <= last_purchase_ms[0]:  # bounded: a step comes each second
        assert time.monotonic() < deadline + 10, "no step was taken after the last purchase"
        requests.get(entries + "/me", headers=probe, timeout=60)

    def look(token: str) -> dict:
        return http().get(entries + "/me", headers={"Authorization": f"Bearer {token}"}, timeout=60).json()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        after = list(pool.map(look, waiting))
    assert {me["state"] for me in after} == {"waiting"}
    assert all(me["ahead"] == me["position"] - QUANTITY - 1 for me in after)
