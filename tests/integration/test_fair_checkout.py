"""Fair drops at checkout on DynamoDB Local (in process): the `order` rate window and the hold
cap are items of the reservation's own transaction, still one request per checkout."""
import secrets

from tests.conftest import conservation, make_product, make_session, make_shopper


def test_a_shoppers_third_order_in_a_second_is_429_and_takes_nothing(api, brand, default_rate_limits, aws_calls):
    session = make_session(api, brand["apiKey"])
    products = [make_product(api, brand["apiKey"], stock=5) for _ in range(3)]
    for product in products:
        assert api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"]},
                        key=brand["apiKey"]).status_code == 201
    assert api.post(f"/v1/sessions/{session['id']}/start", key=brand["apiKey"]).status_code == 200
    warm = make_shopper(api)
    assert api.post("/v1/orders", {"sessionId": session["id"], "items": [{"productId": products[0]["id"], "quantity": 1}]},
                    key=warm["token"], headers={"Idempotency-Key": "warm"}).status_code == 201  # the lineup read
    shopper = make_shopper(api)

    def order(product, key=None):
        return api.post("/v1/orders", {"sessionId": session["id"], "items": [{"productId": product["id"], "quantity": 1}]},
                        key=shopper["token"], headers={"Idempotency-Key": key or secrets.token_hex(8)})

    # The window is a wall-clock second: retry the burst if it straddled a second's edge.
    for _ in range(5):
        keys = [secrets.token_hex(8) for _ in products]
        aws_calls.log.clear()
        answers = [order(product, key) for product, key in zip(products, keys, strict=True)]
        calls = list(aws_calls.log)
        if [a.status_code for a in answers] == [201, 201, 429]:
            break
        for answer in answers:
            if answer.status_code == 201:
                api.post(f"/v1/orders/{answer.json['id']}/cancel", key=shopper["token"])
    assert [a.status_code for a in answers] == [201, 201, 429], [a.body for a in answers]
    refused = answers[2]
    assert refused.json["type"].endswith("/too_many_requests") and int(refused.headers["Retry-After"]) == 1
    assert calls == ["dynamodb:TransactWriteItems"] * 3  # one request per order, the refused one too
    assert conservation(session["id"], products[2]["id"], 5) == (5, 0)
    assert order(products[0], keys[0]).status_code == 201  # a retry of a made order replays, whatever the rate
