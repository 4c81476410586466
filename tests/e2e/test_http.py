"""A front-end team's journey over real HTTP."""
import requests



def test_brand_product_session_journey_over_http(base_url, operator_key):
    http = requests.Session()
    brand = http.post(f"{base_url}/v1/brands", json={"name": "Http Brand"},
                      headers={"Authorization": f"Bearer {operator_key}"})
    assert brand.status_code == 201
    auth = {"Authorization": f"Bearer {brand.json()['apiKey']}"}

    product = http.post(f"{base_url}/v1/products", headers=auth,
                        json={"title": "Jacket", "price": {"amount": 12900, "currency": "GBP"}, "stock": 40})
    assert product.status_code == 201 and product.headers["Content-Type"] == "application/json"
    session = http.post(f"{base_url}/v1/sessions", headers=auth, json={"title": "Launch"}).json()
    lineup = http.post(f"{base_url}/v1/sessions/{session['id']}/lineup", headers=auth,
                       json={"productId": product.json()["id"], "quantity": 25, "perCustomerLimit": 1})
    assert lineup.status_code == 201

    # As browsers' fetch sends an action with no body: no Content-Type, empty body.
    started = http.post(f"{base_url}/v1/sessions/{session['id']}/start", headers=auth, data=b"")
    assert started.status_code == 200 and started.json()["status"] == "live"
    public = http.get(f"{base_url}/v1/sessions/{session['id']}").json()
    assert public["status"] == "live" and public["lineup"][0]["title"] == "Jacket"
    assert "streamKey" not in str(public)
    live = http.get(f"{base_url}/v1/sessions", params={"status": "live", "limit": 100}).json()
    assert session["id"] in [s["id"] for s in live["items"]]


def test_errors_over_http_are_problem_json(base_url):
    unknown = requests.get(f"{base_url}/v1/sessions/ses_00000000000000000000ff")
    assert unknown.status_code == 404 and unknown.headers["Content-Type"] == "application/problem+json"
    malformed = requests.post(f"{base_url}/v1/products", data="{", headers={"Content-Type": "application/json",
                                                                         "Authorization": "Bearer nope"})
    assert malformed.status_code == 401
    assert requests.get(f"{base_url}/v1/openapi.json").json()["openapi"] == "3.1.0"
