"""Real concurrent requests over HTTP against `chalice local` on DynamoDB Local.

Every test checks conservation: the drop's quantity = units left in its shards + units held
by live (reserved, paying, paid) orders.
"""
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import requests

from devstack.load import buyers, shopper_token, spike
from tests.conftest import conservation


def brand_key(base_url, operator_key):
    response = requests.post(f"{base_url}/v1/brands", json={"name": "Spike"},
                             headers={"Authorization": f"Bearer {operator_key}"})
    return {"Authorization": f"Bearer {response.json()['apiKey']}"}


def live_drop(base_url, auth, quantity, shards=1, limit=None, hold_seconds=600):
    product = requests.post(f"{base_url}/v1/products", headers=auth, json={
        "title": "Drop", "price": {"amount": 2500, "currency": "EUR"}, "stock": quantity}).json()
    session = requests.post(f"{base_url}/v1/sessions", headers=auth,
                            json={"title": "Spike", "holdSeconds": hold_seconds}).json()
    lineup = {"productId": product["id"], "quantity": quantity, "shards": shards}
    if limit:
        lineup["perCustomerLimit"] = limit
    assert requests.post(f"{base_url}/v1/sessions/{session['id']}/lineup", headers=auth, json=lineup).status_code == 201
    assert requests.post(f"{base_url}/v1/sessions/{session['id']}/start", headers=auth).status_code == 200
    return session["id"], product["id"]


def test_a_thousand_buyers_on_a_hundred_units(base_url, operator_key, aws_stack):
    session_id, product_id = live_drop(base_url, brand_key(base_url, operator_key), 100)
    result = spike(base_url, buyers(aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"], session_id, product_id, 1000))
    assert result.count(201) == 100
    assert result.count(409, "sold_out") == 900, {a.status for a in result.attempts}
    assert conservation(session_id, product_id, 100) == (0, 100)


def test_one_shopper_twenty_orders_against_a_limit_of_two(base_url, operator_key, aws_stack):
    session_id, product_id = live_drop(base_url, brand_key(base_url, operator_key), 50, limit=2)
    token = shopper_token(aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"])
    body = {"sessionId": session_id, "items": [{"productId": product_id, "quantity": 1}]}
    result = spike(base_url, [(token, body, secrets.token_hex(8)) for _ in range(20)], concurrency=20)
    assert result.count(201) == 2
    assert result.count(409, "limit_exceeded") == 18
    assert conservation(session_id, product_id, 50) == (48, 2)


def test_one_idempotency_key_twenty_times_at_once(base_url, operator_key, aws_stack):
    session_id, product_id = live_drop(base_url, brand_key(base_url, operator_key), 10)
    token = shopper_token(aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"])
    body = {"sessionId": session_id, "items": [{"productId": product_id, "quantity": 1}]}
    result = spike(base_url, [(token, body, "the-same-key")] * 20, concurrency=20)
    assert result.count(201) == 20
    assert len({a.body["id"] for a in result.attempts}) == 1
    assert conservation(session_id, product_id, 10) == (9, 1)


def test_a_sharded_drop_sells_every_unit(base_url, operator_key, aws_stack):
    session_id, product_id = live_drop(base_url, brand_key(base_url, operator_key), 60, shards=6)
    result = spike(base_url, buyers(aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"], session_id, product_id, 200))
    assert result.count(201) == 60 and result.count(409, "sold_out") == 140
    assert conservation(session_id, product_id, 60) == (0, 60)


def test_sold_out_is_never_said_while_another_shard_has_units(base_url, operator_key, aws_stack):
    # One buyer at a time, so each answer can be checked against what is left.
    session_id, product_id = live_drop(base_url, brand_key(base_url, operator_key), 12, shards=12)
    secret = aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"]
    for sold in range(12):
        answer = spike(base_url, buyers(secret, session_id, product_id, 1), concurrency=1).attempts[0]
        assert answer.status == 201, (sold, answer.body)
    last = spike(base_url, buyers(secret, session_id, product_id, 1), concurrency=1).attempts[0]
    assert last.status == 409 and last.body["left"] == 0


def test_pay_races_expiry_and_cancel(base_url, operator_key, aws_stack):
    from datetime import datetime, timedelta, timezone

    from chalicelib.bootstrap import build
    from chalicelib.settings import get_settings
    from tests.fakes import FakeClock

    session_id, product_id = live_drop(base_url, brand_key(base_url, operator_key), 40, hold_seconds=600)
    placed = spike(base_url, buyers(aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"], session_id, product_id, 30))
    assert placed.count(201) == 30
    orders = [(attempt.body["id"], attempt.token) for attempt in placed.attempts]
    # The edge of expiry without waiting for it: the sweeper runs on a clock past every hold while
    # the server (pay, cancel) still sees each hold open, so all three race on every order now.
    sweeper_clock = FakeClock(datetime.now(timezone.utc) + timedelta(seconds=601))
    swept = build(get_settings(), clock=sweeper_clock).checkout

    def pay(order_id, token):
        return requests.post(f"{base_url}/v1/orders/{order_id}/pay", json={"paymentToken": "ok"},
                             headers={"Authorization": f"Bearer {token}"}).status_code

    def cancel(order_id, token):
        return requests.post(f"{base_url}/v1/orders/{order_id}/cancel",
                             headers={"Authorization": f"Bearer {token}"}).status_code

    stop = threading.Event()

    def sweep():
        while not stop.is_set():
            swept.release_expired()

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            futures = [pool.submit(action, order_id, token) for order_id, token in orders
                       for action in (pay, cancel, pay, cancel)]
            statuses = [future.result() for future in futures]
    finally:
        stop.set()
        sweeper.join()
    swept.release_expired()  # whatever is still reserved is past its time on the sweeper's clock
    assert 500 not in statuses
    final = {order_id: requests.get(f"{base_url}/v1/orders/{order_id}",
                                    headers={"Authorization": f"Bearer {token}"}).json()["status"]
             for order_id, token in orders}
    assert set(final.values()) <= {"paid", "cancelled", "expired"}, final
    paid = sum(1 for status in final.values() if status == "paid")
    assert conservation(session_id, product_id, 40) == (40 - paid, paid)


def _race(first, second):
    """Run two requests at the same instant; their responses."""
    barrier = threading.Barrier(2)

    def at_once(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(at_once, first), pool.submit(at_once, second)
        return a.result(), b.result()


def test_deleting_a_session_never_races_a_lineup_add_or_a_start(base_url, operator_key):
    import boto3

    from chalicelib.settings import get_settings

    auth = brand_key(base_url, operator_key)
    product = requests.post(f"{base_url}/v1/products", headers=auth, json={
        "title": "Raced", "price": {"amount": 100, "currency": "EUR"}, "stock": 100}).json()
    outcomes = set()
    for _ in range(12):
        session = requests.post(f"{base_url}/v1/sessions", headers=auth, json={"title": "Raced"}).json()
        url = f"{base_url}/v1/sessions/{session['id']}"
        deleted, added = _race(partial(requests.delete, url, headers=auth),
                               partial(requests.post, url + "/lineup", headers=auth,
                                       json={"productId": product["id"], "quantity": 1}))
        assert deleted.status_code in (200, 409) and added.status_code in (201, 404, 409), (deleted.text, added.text)
        assert not (deleted.status_code == 200 and added.status_code == 201), "both won"
        outcomes.add((deleted.status_code, added.status_code))
    for _ in range(12):
        session = requests.post(f"{base_url}/v1/sessions", headers=auth, json={"title": "Raced"}).json()
        url = f"{base_url}/v1/sessions/{session['id']}"
        deleted, started = _race(partial(requests.delete, url, headers=auth),
                                 partial(requests.post, url + "/start", headers=auth))
        assert deleted.status_code in (200, 409) and started.status_code in (200, 404, 409)
        assert not (deleted.status_code == 200 and started.status_code == 200), "both won"
        if started.status_code == 200:
            assert requests.get(url).json()["status"] == "live"
        outcomes.add((deleted.status_code, started.status_code))
    # No unit lost: the product's stock plus what its drops hold is what it had, and every drop
    # belongs to a session that still exists.
    ddb = boto3.client("dynamodb")
    tables = get_settings().tables
    drops = [item for page in ddb.get_paginator("scan").paginate(TableName=tables["lineup"], ConsistentRead=True)
             for item in page["Items"] if item["productId"]["S"] == product["id"]]
    stock = requests.get(f"{base_url}/v1/products/{product['id']}", headers=auth).json()["stock"]
    assert stock + sum(int(d["quantity"]["N"]) for d in drops) == 100
    for drop in drops:
        assert requests.get(f"{base_url}/v1/sessions/{drop['sessionId']['S']}").status_code == 200
    assert len(outcomes) >= 2, outcomes  # both orders of arrival were exercised
