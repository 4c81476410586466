"""Shopper and order routes: identity, checkout, payment, cancellation, and the brand's view and refunds."""
from chalice import Blueprint, Response

from chalicelib.api.routing import ApiRequest, HeaderSpec, api_route, bearer_token, user_pool_authorizer
from chalicelib.api.schemas import (
    OrderCreate, OrderListQuery, OrderPage, OrderPayment, OrderView, PaymentIn, RefundIn, ShopperCreated,
)
from chalicelib.bootstrap import services
from chalicelib.domain.clock import to_iso
from chalicelib.services.checkout import Buyer, CheckoutLine

bp = Blueprint(__name__)
IDEMPOTENCY_KEY = HeaderSpec("Idempotency-Key", "Unique per intended order (a UUID, say): a retry with the "
                                                 "same key and body replays the first answer; with another body "
                                                 "it is refused (422)")
REPLAYED = ("Idempotent-Replayed", "true when this answer replays the order first made with this Idempotency-Key",
            {"type": "string", "enum": ["true", "false"]})


@api_route(bp, "/v1/shoppers", "POST", summary="Start an anonymous shopper identity", auth="public",
           status=201, response=ShopperCreated, errors=(429,), tag="orders", secret=True)
def create_shopper(req: ApiRequest) -> ShopperCreated:
    """A new anonymous shopper and its signed token (valid 24 hours), to send as a bearer token on
    shopper routes. The token is a credential: never cached. One client address (as API Gateway
    sees it; X-Forwarded-For is not read) gets at most 10 new shoppers every 600 seconds by default
    (the `shopper_mint` rate rule), else 429 with Retry-After."""
    from datetime import datetime, timezone

    shopper_id, token, expires = services().shoppers.register(req.client_address)
    return ShopperCreated(shopper_id=shopper_id, token=token,
                          expires_at=to_iso(datetime.fromtimestamp(expires, tz=timezone.utc)))


@api_route(bp, "/v1/shoppers/verified", "POST", summary="Exchange a Cognito ID token for a verified shopper token",
           auth="id-token", status=201, response=ShopperCreated, errors=(404,), tag="orders", secret=True,
           authorizer=user_pool_authorizer())
def create_verified_shopper(req: ApiRequest) -> ShopperCreated:
    """A verified shopper's token (`verified: true`, valid 24 hours) for a Cognito ID token of the
    deployment's user pool, sent as `Authorization: Bearer <JWT>`: its signature (RS256, a key of
    the pool's JWKS), issuer, audience (one of the deployment's app clients), `token_use: id` and
    expiry are checked. The shopper id is derived from the pool and the person's `sub`, so the
    same person gets the same shopper id at every exchange, and per-customer limits count people.
    Any other token (an access token, an expired one, another pool's or app's): 401. A deployment
    without a user pool configured answers 404. The token is a credential: never cached."""
    from datetime import datetime, timezone

    shopper, token, expires = services().shoppers.register_verified(bearer_token(req.raw))
    return ShopperCreated(shopper_id=shopper.id, token=token, verified=shopper.verified,
                          expires_at=to_iso(datetime.fromtimestamp(expires, tz=timezone.utc)))


@api_route(bp, "/v1/orders", "POST", summary="Reserve a drop's units: an order held until expiresAt",
           auth="shopper", status=201, request=OrderCreate, response=OrderView, errors=(403, 404, 409, 422, 429, 503),
           headers=(IDEMPOTENCY_KEY,), response_headers=(REPLAYED,), tag="orders")
def create_order(req: ApiRequest) -> Response:
    """Reserve units of a live session's drops in one transaction, all or nothing: the order is
    `reserved` until `expiresAt` (the shortest hold of its drops), then released unless paid. Sold
    out, over the per-customer limit, outside the drop's window, a draw drop (`drop_by_draw`) or
    a shopper already holding the most unpaid orders a session allows (`hold_limit_reached`,
    LIVEDROP_MAX_OPEN_ORDERS, 3 by default) answer 409 saying which product and why. A queue drop
    is ordered alone, with the `admission` its queue gave the shopper, else 403
    `admission_required`; a verified-only drop answers 403 `verification_required` to an
    anonymous shopper. More than 2 orders a second from one shopper (the `order` rate, counted by
    the reservation's own transaction) answer 429 with Retry-After; a retry of an order made
    replays it whatever the rate."""
    key = req.headers[IDEMPOTENCY_KEY.name]
    body: OrderCreate = req.body
    order, replayed = services().checkout.reserve(
        Buyer(req.shopper_id, verified=req.shopper_verified, admission=body.admission), key, body.session_id,
        [CheckoutLine(item.product_id, item.quantity) for item in body.items],
        body.model_dump(mode="json", by_alias=True, exclude={"admission"}),  # a renewed admission is the same order
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
           request=PaymentIn, response=OrderPayment, errors=(402, 409, 429, 502), tag="orders", secret=True)
def pay_order(req: ApiRequest) -> OrderPayment:
    """Authorise the order's total with the payment provider; the money is captured only once the
    order is written `paid`, so a reservation that is lost is never charged. With a `paymentToken`
    the payment is confirmed at once: 200 `paid`, or 402 and the order `reserved` again. With
    Stripe and no `paymentToken`, 200 `paying` with the `clientSecret` for Stripe.js; the order
    becomes `paid` when Stripe reports the authorisation (webhook), when this request is made
    again, or by reconciliation. Asked again, it goes on with the same attempt: one intent, one
    charge. A `paying` order is never released by the expiry sweep: if it is not settled within
    the paying window, reconciliation asks the provider and settles it. Against card testing, an
    order takes at most 10 pay requests every 60 seconds by default (the `payment` rate rule),
    else 429 with Retry-After."""
    payment = services().payments.pay(req.path["order_id"], req.shopper_id, req.body.payment_token)
    return OrderPayment.of_payment(payment)


@api_route(bp, "/v1/orders/{order_id}/refund", "POST", summary="Refund a paid order in full (the selling brand)",
           auth="brand", request=RefundIn, response=OrderView, errors=(409, 502), tag="orders")
def refund_order(req: ApiRequest) -> OrderView:
    """Give a paid order's money back, in full, once: asked again, the same refund. A captured
    payment is refunded at the provider; one not captured yet is voided instead (the buyer is
    never charged). The refund is recorded on the order (`payment.refundedAt`); its units stay
    sold (returning goods is the brand's business). While the provider can not be reached, 503:
    retry, or leave it to reconciliation, which finishes a refund that was asked."""
    return OrderView.of(services().payments.refund(req.path["order_id"], req.brand.id, req.body.reason))


@api_route(bp, "/v1/orders/{order_id}/cancel", "POST", summary="Cancel a reserved order; its units go back",
           auth="shopper", response=OrderView, errors=(409, 502), tag="orders")
def cancel_order(req: ApiRequest) -> OrderView:
    """Cancel a reserved order: its units go back to the drop at once. An order being paid is
    cancelled too while nothing was authorised (its payment intent is cancelled first); once the
    payment went through, 409 with the order's status."""
    return OrderView.of(services().payments.cancel(req.path["order_id"], req.shopper_id))
