"""Fair drops over real HTTP (`chalice local` on DynamoDB Local), with conservation checked.

Ten scripted shoppers firing orders at once at a show's drops: none holds more unpaid orders
than the hold cap (3 by default), whatever the concurrency.
"""
import secrets
from collections import Counter

import requests

from devstack.load import shopper_token, spike
from tests.conftest import conservation
from tests.e2e.test_spike import brand_key

HOLD_CAP = 3  # LIVEDROP_MAX_OPEN_ORDERS's default


def show_with_drops(base_url, auth, drops, quantity, **drop):
    session = requests.post(f"{base_url}/v1/sessions", headers=auth, json={"title": "Fair"}).json()
    products = []
    for n in range(drops):
        product = requests.post(f"{base_url}/v1/products", headers=auth, json={
            "title": f"Drop {n}", "price": {"amount": 2500, "currency": "EUR"}, "stock": quantity}).json()
        added = requests.post(f"{base_url}/v1/sessions/{session['id']}/lineup", headers=auth,
                              json={"productId": product["id"], "quantity": quantity, **drop})
        assert added.status_code == 201, added.text
        products.append(product["id"])
    assert requests.post(f"{base_url}/v1/sessions/{session['id']}/start", headers=auth).status_code == 200
    return session["id"], products


def test_ten_scripted_shoppers_cannot_hold_beyond_the_cap(base_url, operator_key, aws_stack):
    session_id, products = show_with_drops(base_url, brand_key(base_url, operator_key), drops=4, quantity=100)
    secret = aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"]
    tokens = [shopper_token(secret) for _ in range(10)]
    orders = [(token, {"sessionId": session_id, "items": [{"productId": product, "quantity": 2}]},
               secrets.token_hex(8))
              for token in tokens for product in products for _ in range(3)]  # 12 orders per shopper
    result = spike(base_url, orders, concurrency=60)

    held = Counter(attempt.token for attempt in result.attempts if attempt.status == 201)
    assert held == {token: HOLD_CAP for token in tokens}, held
    assert result.count(409, "hold_limit_reached") == len(orders) - 10 * HOLD_CAP, \
        Counter((a.status, a.body.get("type")) for a in result.attempts)
    refusal = next(a.body for a in result.attempts if a.status == 409)
    assert (refusal["openOrders"], refusal["limit"]) == (HOLD_CAP, HOLD_CAP)
    sold = 0
    for product in products:
        left, held_units = conservation(session_id, product, 100)
        assert left + held_units == 100
        sold += held_units
    assert sold == 10 * HOLD_CAP * 2


def test_a_cancelled_order_frees_its_place_under_the_cap(base_url, operator_key, aws_stack):
    session_id, products = show_with_drops(base_url, brand_key(base_url, operator_key), drops=4, quantity=10)
    token = shopper_token(aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"])
    auth = {"Authorization": f"Bearer {token}"}

    def order(product):
        return requests.post(f"{base_url}/v1/orders", headers={**auth, "Idempotency-Key": secrets.token_hex(8)},
                             json={"sessionId": session_id, "items": [{"productId": product, "quantity": 1}]})

    made = [order(product) for product in products[:3]]
    assert [m.status_code for m in made] == [201, 201, 201]
    capped = order(products[3])
    assert capped.status_code == 409 and capped.json()["type"].endswith("/hold_limit_reached")
    assert capped.headers["Content-Type"].startswith("application/problem+json")
    assert requests.post(f"{base_url}/v1/orders/{made[0].json()['id']}/cancel", headers=auth).status_code == 200
    assert order(products[3]).status_code == 201
    paid = requests.post(f"{base_url}/v1/orders/{made[1].json()['id']}/pay", headers=auth,
                         json={"paymentToken": "ok"})
    assert paid.status_code == 200 and paid.json()["status"] == "paid", paid.text
    assert order(products[0]).status_code == 201  # the paid one no longer counts
    for product in products:
        assert sum(conservation(session_id, product, 10)) == 10


def test_a_verified_only_drop_refuses_anonymous_shoppers_and_sells_to_a_signed_in_person(
        base_url, operator_key, user_pool):
    session_id, (product,) = show_with_drops(base_url, brand_key(base_url, operator_key), drops=1, quantity=5,
                                             verifiedOnly=True, perCustomerLimit=1)
    anonymous = requests.post(f"{base_url}/v1/shoppers").json()
    assert anonymous["verified"] is False
    signed_in = requests.post(f"{base_url}/v1/shoppers/verified",
                              headers={"Authorization": f"Bearer {user_pool.id_token('ada')}"}).json()
    assert signed_in["verified"] is True

    def buy(token):
        return requests.post(f"{base_url}/v1/orders", headers={"Authorization": f"Bearer {token}",
                                                                "Idempotency-Key": secrets.token_hex(8)},
                             json={"sessionId": session_id, "items": [{"productId": product, "quantity": 1}]})

    refused = buy(anonymous["token"])
    assert refused.status_code == 403 and refused.json()["type"].endswith("/verification_required")
    assert refused.json()["productId"] == product
    assert buy(signed_in["token"]).status_code == 201
    assert conservation(session_id, product, 5) == (4, 1)
    listed = requests.get(f"{base_url}/v1/sessions/{session_id}").json()["lineup"][0]
    assert listed["verifiedOnly"] is True  # the viewer can say so before the shopper tries
