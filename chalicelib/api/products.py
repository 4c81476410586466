"""Product routes: a brand's catalogue, and the public view of a product."""
from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, api_route
from chalicelib.api.schemas import (
    PageQuery, ProductCreate, ProductPage, ProductPatch, ProductView, PublicProductView, StockAdjust,
)
from chalicelib.bootstrap import services

bp = Blueprint(__name__)


@api_route(bp, "/v1/products", "POST", summary="Create a product", auth="brand", status=201,
           request=ProductCreate, response=ProductView, tag="products")
def create_product(req: ApiRequest) -> ProductView:
    """Add a product to the brand's catalogue, with its stock. Its id is the path id of the product's
    other operations (see the links)."""
    body: ProductCreate = req.body
    product = services().catalog.create(req.brand.id, body.title, body.description, body.price.to_domain(),
                                        body.stock, tuple(body.images))
    return ProductView.of(product)


@api_route(bp, "/v1/products", "GET", summary="List the brand's products", auth="brand",
           query=PageQuery, response=ProductPage, tag="products")
def list_products(req: ApiRequest) -> ProductPage:
    """The brand's own products, newest last, a page at a time: pass `nextCursor` back as `cursor`
    until it is null."""
    items, cursor = services().catalog.list(req.brand.id, req.query.limit, req.query.cursor)
    return ProductPage(items=[ProductView.of(p) for p in items], next_cursor=cursor)


@api_route(bp, "/v1/products/{product_id}", "GET",
           summary="A product: the owner's view with the brand's key, the public view without one",
           auth="optional-brand", response=ProductView | PublicProductView, tag="products")
def get_product(req: ApiRequest):
    """One product. Without a key (or with a shopper token), the public view: no stock count, only
    whether it is in stock. With the owner brand's key, the owner's view; another brand's key
    answers 404."""
    catalog = services().catalog
    if req.brand is None:
        return PublicProductView.of(catalog.get_public(req.path["product_id"]))
    return ProductView.of(catalog.get_owned(req.brand.id, req.path["product_id"]))


@api_route(bp, "/v1/products/{product_id}", "PATCH", summary="Change a product's details", auth="brand",
           request=ProductPatch, response=ProductView, tag="products")
def patch_product(req: ApiRequest) -> ProductView:
    """Change the title, description, price or images (at least one). `description: null` removes
    the description; the other fields can not be null. Stock changes go through /stock."""
    body: ProductPatch = req.body
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if "price" in changes:
        changes["price"] = body.price.to_domain()
    return ProductView.of(services().catalog.update(req.brand.id, req.path["product_id"], changes))


@api_route(bp, "/v1/products/{product_id}/stock", "POST",
           summary="Adjust stock atomically; it never goes below zero", auth="brand",
           request=StockAdjust, response=ProductView, errors=(409,), tag="products")
def adjust_stock(req: ApiRequest) -> ProductView:
    """Add (or, with a negative delta, remove) units in one conditional write: stock never goes below
    zero (409 `insufficient_stock`, with the current stock)."""
    return ProductView.of(services().catalog.adjust_stock(req.brand.id, req.path["product_id"], req.body.delta))
