"""Shopper and order routes: identity, checkout, payment, cancellation, and the brand's view."""
from chalice import Blueprint, Response

from chalicelib.api.routing import ApiRequest, HeaderSpec, api_route
from chalicelib.api.schemas import (
    OrderCreate, OrderListQuery, OrderPage, OrderView, PaymentIn, ShopperCreated,
)
from chalicelib.bootstrap import services
from chalicelib.domain.clock import to_iso
from chalicelib.services.checkout import CheckoutLine

bp = Blueprint(__name__)
IDEMPOTENCY_KEY = HeaderSpec("Idempotency-Key", "Unique per intended order (a UUID, say): a retry with the "
                                                 "same key and body replays the first answer; with another body "
                                                 "it is refused (422)")
REPLAYED = ("Idempotent-Replayed", "true when this answer replays the order first made with this Idempotency-Key",
            {"type": "string", "enum": ["true", "false"]})


@api_route(bp, "/v1/shoppers", "POST", summary="Start an anonymous shopper identity", auth="public",
           status=201, response=ShopperCreated, tag="orders", secret=True)
def create_shopper(req: ApiRequest) -> ShopperCreated:
    """A new anonymous shopper and its signed token (valid 24 hours), to send as a bearer token on
    shopper routes. The token is a credential: never cached."""
    from datetime import datetime, timezone

    shopper_id, token, expires = services().shoppers.register()
    return ShopperCreated(shopper_id=shopper_id, token=token,
                          expires_at=to_iso(datetime.fromtimestamp(expires, tz=timezone.utc)))


@api_route(bp, "/v1/orders", "POST", summary="Reserve a drop's units: an order held until expiresAt",
           auth="shopper", status=201, request=OrderCreate, response=OrderView, errors=(404, 409, 422, 503),
           headers=(IDEMPOTENCY_KEY,), response_headers=(REPLAYED,), tag="orders")
def create_order(req: ApiRequest) -> Response:
    """Reserve units of a live session's drops in one transaction, all or nothing: the order is
    `reserved` until `expiresAt`, then released unless paid. Sold out, over the per-customer limit
    or outside the drop's window answer 409 saying which product and why."""
    key = req.headers[IDEMPOTENCY_KEY.name]
    body: OrderCreate = req.body
    order, replayed = services().checkout.reserve(
        req.shopper_id, key, body.session_id,
        [CheckoutLine(item.product_id, item.quantity) for item in body.items],
        body.model_dump(mode="json", by_alias=True),
    )
    return Response(body=OrderView.of(order).model_dump(mode="json", by_alias=True), status_code=201,
                    headers={"Content-Type": "application/json", "Idempotent-Replayed": str(replayed).lower()})


@api_route(bp, "/v1/orders/{order_id}", "GET", summary="An order (its shopper, or the selling brand)",
           auth="shopper-or-brand", response=OrderView, tag="orders")
def get_order(req: ApiRequest) -> OrderView:
    """An order as it is now, for its shopper or for the brand that sells it (anyone else: 404)."""
    return OrderView.of(services().checkout.order_for(req.path["order_id"], shopper_id=req.shopper_id,
                                                      brand_id=req.brand.id if req.brand else None))


@api_route(bp, "/v1/orders", "GET", summary="A session's orders (the brand that owns the session)",
           auth="brand", query=OrderListQuery, response=OrderPage, errors=(404,), tag="orders")
def list_orders(req: ApiRequest) -> OrderPage:
    """The orders of one of the brand's sessions, a page at a time."""
    query: OrderListQuery = req.query
    orders, cursor = services().checkout.orders_of_session(req.brand.id, query.session_id, query.limit,
                                                           query.cursor)
    return OrderPage(items=[OrderView.of(o) for o in orders], next_cursor=cursor)


@api_route(bp, "/v1/orders/{order_id}/pay", "POST", summary="Pay a reserved order", auth="shopper",
           request=PaymentIn, response=OrderView, errors=(402, 409), tag="orders")
def pay_order(req: ApiRequest) -> OrderView:
    """Pay a reserved, unexpired order. A retry with the same paymentToken never charges twice;
    a decline (402) leaves the order reserved; while another payment runs, 409 with Retry-After."""
    services().checkout.charges.register_lambda_context(bp.lambda_context)
    return OrderView.of(services().checkout.pay(req.path["order_id"], req.shopper_id, req.body.payment_token))


@api_route(bp, "/v1/orders/{order_id}/cancel", "POST", summary="Cancel a reserved order; its units go back",
           auth="shopper", response=OrderView, errors=(409,), tag="orders")
def cancel_order(req: ApiRequest) -> OrderView:
    """Cancel a reserved order: its units go back to the drop at once."""
    return OrderView.of(services().checkout.cancel(req.path["order_id"], req.shopper_id))
