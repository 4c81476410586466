"""Verified shoppers over real HTTP: `chalice local` configured with the user pool stand-in
(tests/identity_provider.py, as `base_url` starts it) fetches its keys over HTTP, as a deployed
function fetches Cognito's. `chalice local` runs no Cognito authorizer: the app's own check is
all there is here, and all that is tested."""
import secrets

import requests


def test_a_person_signs_in_and_buys_as_one_verified_shopper(base_url, operator_key, user_pool):
    brand = requests.post(f"{base_url}/v1/brands", json={"name": "Verified"},
                          headers={"Authorization": f"Bearer {operator_key}"}).json()
    auth = {"Authorization": f"Bearer {brand['apiKey']}"}
    product = requests.post(f"{base_url}/v1/products", headers=auth,
                            json={"title": "Jacket", "price": {"amount": 100, "currency": "EUR"}, "stock": 5}).json()
    session = requests.post(f"{base_url}/v1/sessions", headers=auth, json={"title": "Launch"}).json()
    requests.post(f"{base_url}/v1/sessions/{session['id']}/lineup", headers=auth,
                  json={"productId": product["id"], "quantity": 5, "perCustomerLimit": 1}).raise_for_status()
    requests.post(f"{base_url}/v1/sessions/{session['id']}/start", headers=auth).raise_for_status()

    def sign_in(**claims):
        return requests.post(f"{base_url}/v1/shoppers/verified",
                             headers={"Authorization": f"Bearer {user_pool.id_token('grace', **claims)}"})

    def buy(token):
        return requests.post(f"{base_url}/v1/orders", headers={"Authorization": f"Bearer {token}",
                                                                "Idempotency-Key": secrets.token_hex(8)},
                             json={"sessionId": session["id"], "items": [{"productId": product["id"], "quantity": 1}]})

    first = sign_in()
    assert first.status_code == 201 and first.json()["verified"] is True
    assert first.headers["Cache-Control"] == "no-store"
    assert buy(first.json()["token"]).status_code == 201
    later = sign_in(auth_time=1)  # another sign-in of the same person
    assert later.json()["shopperId"] == first.json()["shopperId"]
    assert buy(first.json()["token"] + "x").status_code == 401
    refused = sign_in(aud="another-app")
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/problem+json"
    # Over the limit of 1 as the same person, whichever sign-in's token they buy with.
    assert buy(later.json()["token"]).json()["type"].endswith("/limit_exceeded")
