"""A host hammering the pin button: concurrent feature calls over HTTP stay within IVS's
5 PutMetadata per second per channel, and the newest pin is the one that reaches the stream."""
from concurrent.futures import ThreadPoolExecutor

import requests

from chalicelib.bootstrap import services


def test_concurrent_feature_burst(base_url, operator_key):
    brand = requests.post(f"{base_url}/v1/brands", json={"name": "Burst"},
                          headers={"Authorization": f"Bearer {operator_key}"}).json()
    auth = {"Authorization": f"Bearer {brand['apiKey']}"}
    session = requests.post(f"{base_url}/v1/sessions", headers=auth, json={"title": "Burst"}).json()
    products = []
    for index in range(4):
        product = requests.post(f"{base_url}/v1/products", headers=auth, json={
            "title": f"Item {index}", "price": {"amount": 100, "currency": "EUR"}, "stock": 1}).json()
        requests.post(f"{base_url}/v1/sessions/{session['id']}/lineup", headers=auth,
                      json={"productId": product["id"], "quantity": 1})
        products.append(product["id"])
    requests.post(f"{base_url}/v1/sessions/{session['id']}/start", headers=auth)

    def pin(product_id):
        return requests.post(f"{base_url}/v1/sessions/{session['id']}/feature", headers=auth,
                             json={"productId": product_id}).json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(pin, products * 6))  # 24 pins, 16 at a time
    assert all("metadata" in a for a in answers), [a for a in answers if "metadata" not in a][:2]
    assert all(a["metadata"]["bytes"] <= 1024 for a in answers)
    reasons = {a["metadata"]["reason"] for a in answers if not a["metadata"]["delivered"]}
    assert reasons <= {"superseded"}

    timeline = services().live.timeline(session["id"])
    sent = sorted(entry.sent_at for entry in timeline if entry.sent_at)
    for index in range(len(sent) - 5):
        assert sent[index + 5] - sent[index] >= 1000, "more than 5 PutMetadata within a second"
    newest = max(timeline, key=lambda entry: entry.seq)
    assert newest.delivery == "delivered"  # the newest state is never dropped
    live = requests.get(f"{base_url}/v1/sessions/{session['id']}/live").json()
    assert live["featuredProductId"] == newest.product_id
