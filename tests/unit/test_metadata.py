"""Timed metadata payloads stay within IVS's 1 KB, whatever the product."""
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.metadata import MAX_BYTES, feature_payload


def test_payload_schema():
    payload = json.loads(feature_payload(7, "2026-11-22T20:00:00.000Z", "prd_1", "Hoodie", "https://i/x.jpg", 4900,
                                         "EUR", 12))
    assert payload == {"v": 1, "type": "feature", "seq": 7, "at": "2026-11-22T20:00:00.000Z",
                       "product": {"id": "prd_1", "title": "Hoodie", "image": "https://i/x.jpg"},
                       "price": {"amount": 4900, "currency": "EUR"}, "left": 12}


@settings(max_examples=200, deadline=None)
@given(title=st.text(min_size=1, max_size=200), image=st.none() | st.text(max_size=2048).map(lambda s: "https://" + s),
       amount=st.integers(0, 10**12), left=st.none() | st.integers(0, 10**9))
def test_any_product_fits_in_one_kilobyte(title, image, amount, left):
    encoded = feature_payload(2**40, "2026-11-22T20:00:00.000Z", "prd_01a2054b2adfd9bc4a3604", title, image, amount,
                              "EUR", left)
    assert len(encoded.encode()) <= MAX_BYTES
    decoded = json.loads(encoded)
    assert decoded["product"]["id"] == "prd_01a2054b2adfd9bc4a3604" and decoded["price"]["amount"] == amount
