"""Products through the API on the embedded stack."""
import pytest

from tests.conftest import make_product


def test_create_get_and_list_own_products(api, brand):
    created = make_product(api, brand["apiKey"], title="Tee", stock=7, images=["https://img.example/t.jpg"])
    assert created["stock"] == 7 and created["price"] == {"amount": 4900, "currency": "EUR"}

    own = api.get(f"/v1/products/{created['id']}", key=brand["apiKey"])
    assert own.status_code == 200 and own.json == created

    public = api.get(f"/v1/products/{created['id']}")
    assert public.status_code == 200
    assert public.json["inStock"] is True and "stock" not in public.json

    listing = api.get("/v1/products", key=brand["apiKey"])
    assert [p["id"] for p in listing.json["items"]] == [created["id"]]


def test_cursor_pagination_walks_every_product_once(api, brand):
    ids = [make_product(api, brand["apiKey"], title=f"P{i}")["id"] for i in range(5)]
    seen, cursor = [], None
    for _ in range(10):
        path = "/v1/products?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(path, key=brand["apiKey"]).json
        seen += [p["id"] for p in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == ids  # ids are time-ordered: creation order


def test_a_cursor_from_another_brand_is_rejected(api, brand, other_brand):
    make_product(api, brand["apiKey"])
    make_product(api, brand["apiKey"])
    cursor = api.get("/v1/products?limit=1", key=brand["apiKey"]).json["nextCursor"]
    response = api.get(f"/v1/products?cursor={cursor}", key=other_brand["apiKey"])
    assert response.status_code == 400 and response.json["field"] == "cursor"


def test_patch_changes_only_named_fields(api, brand):
    product = make_product(api, brand["apiKey"], description="old")
    response = api.patch(f"/v1/products/{product['id']}", {"title": "New", "description": None},
                         key=brand["apiKey"])
    assert response.status_code == 200
    assert response.json["title"] == "New" and response.json["description"] is None
    assert response.json["stock"] == product["stock"] and response.json["price"] == product["price"]


def test_patch_can_not_touch_stock(api, brand):
    product = make_product(api, brand["apiKey"])
    response = api.patch(f"/v1/products/{product['id']}", {"stock": 5}, key=brand["apiKey"])
    assert response.status_code == 400 and response.json["field"] == "stock"


def test_stock_adjustment_is_atomic_and_never_negative(api, brand):
    product = make_product(api, brand["apiKey"], stock=10)
    path = f"/v1/products/{product['id']}/stock"
    assert api.post(path, {"delta": -4}, key=brand["apiKey"]).json["stock"] == 6
    assert api.post(path, {"delta": 5}, key=brand["apiKey"]).json["stock"] == 11
    refused = api.post(path, {"delta": -12}, key=brand["apiKey"])
    assert refused.status_code == 409
    assert refused.json["type"].endswith("/insufficient_stock") and refused.json["stock"] == 11
    assert api.get(f"/v1/products/{product['id']}", key=brand["apiKey"]).json["stock"] == 11


BAD_PRODUCTS = [
    ({"price": {"amount": -1, "currency": "EUR"}}, "price.amount"),
    ({"price": {"amount": 100, "currency": "XXY"}}, "price.currency"),
    ({"price": {"amount": 100, "currency": "eur"}}, "price.currency"),
    ({"price": {"amount": 1.5, "currency": "EUR"}}, "price.amount"),
    ({"price": {"amount": "100", "currency": "EUR"}}, "price.amount"),
    ({"stock": -1}, "stock"),
    ({"stock": True}, "stock"),
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": 5}, "title"),
    ({"description": "d" * 5001}, "description"),
    ({"images": ["http://insecure.example/a.jpg"]}, "images.0"),
    ({"images": ["https://a.example/x.jpg"] * 11}, "images"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize("change, field", BAD_PRODUCTS)
def test_invalid_products_get_400_naming_the_field(api, brand, change, field):
    body = {"title": "Hoodie", "price": {"amount": 4900, "currency": "EUR"}, "stock": 1, **change}
    response = api.post("/v1/products", body, key=brand["apiKey"])
    assert response.status_code == 400, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["field"] == field
    assert set(response.json) >= {"type", "title", "status", "detail"}


@pytest.mark.parametrize("missing", ["title", "price", "stock"])
def test_missing_fields_are_named(api, brand, missing):
    body = {"title": "Hoodie", "price": {"amount": 4900, "currency": "EUR"}, "stock": 1}
    del body[missing]
    response = api.post("/v1/products", body, key=brand["apiKey"])
    assert response.status_code == 400 and response.json["field"] == missing


def test_malformed_json_and_wrong_media_type(api, brand):
    malformed = api.post("/v1/products", raw="{not json", key=brand["apiKey"],
                         headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json["field"] == "body"
    wrong_type = api.post("/v1/products", raw="title=x", key=brand["apiKey"],
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong_type.status_code == 415 and wrong_type.headers["Content-Type"] == "application/problem+json"
    huge = api.post("/v1/products", raw='{"title":"' + "x" * 70_000 + '"}', key=brand["apiKey"],
                    headers={"Content-Type": "application/json"})
    assert huge.status_code == 413


@pytest.mark.parametrize("product_id", ["prd_00000000000000000000ff", "nope", "ses_01a2054b2d85722a407587"])
def test_unknown_ids_are_404(api, brand, product_id):
    assert api.get(f"/v1/products/{product_id}").status_code == 404
    assert api.get(f"/v1/products/{product_id}", key=brand["apiKey"]).status_code == 404
    response = api.post(f"/v1/products/{product_id}/stock", {"delta": 1}, key=brand["apiKey"])
    assert response.status_code == 404 and response.json["status"] == 404


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                                          ("cursor=%%%", "cursor"), ("cursor=e30", "cursor"), ("sort=asc", "sort")])
def test_bad_listing_queries(api, brand, query, field):
    response = api.get(f"/v1/products?{query}", key=brand["apiKey"])
    assert response.status_code == 400 and response.json["field"] == field
