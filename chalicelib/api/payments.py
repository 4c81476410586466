"""The payment provider's webhooks: Stripe tells how a PaymentIntent stands, and the order follows."""
from chalice import Blueprint

from chalicelib.api.problems import PayloadTooLarge
from chalicelib.api.routing import ApiRequest, HeaderSpec, api_route
from chalicelib.api.schemas import EventReceived, PaymentConfig
from chalicelib.bootstrap import services
from chalicelib.domain.errors import NotFound

bp = Blueprint(__name__)
STRIPE_SIGNATURE = HeaderSpec("Stripe-Signature", "t=<unix time>,v1=<HMAC-SHA256 of \"<t>.<body>\" with the "
                                                   "endpoint's signing secret>; older than 5 minutes is refused",
                              max_length=1024)
MAX_EVENT_BYTES = 512 * 1024


@api_route(bp, "/v1/payments/config", "GET", summary="How shoppers pay here (the provider, Stripe's publishable key)",
           auth="public", response=PaymentConfig, tag="payments", max_age=300)
def payment_config(req: ApiRequest) -> PaymentConfig:
    """What a shop front-end needs before its first payment: with `confirmsInBrowser`, pay without a
    `paymentToken` and confirm the answer's `clientSecret` with Stripe.js (loaded with
    `publishableKey`); otherwise send the payment method as `paymentToken` (the test provider: "ok")."""
    gateway = services().payments.gateway
    return PaymentConfig(provider=gateway.name, publishable_key=gateway.publishable_key,
                         confirms_in_browser=gateway.confirms_in_browser)


@api_route(bp, "/v1/payments/stripe/webhook", "POST", summary="Stripe's webhook (PaymentIntent events)",
           auth="public", response=EventReceived, errors=(404, 413, 502), headers=(STRIPE_SIGNATURE,), tag="payments")
def stripe_webhook(req: ApiRequest) -> EventReceived:
    """For Stripe to call: point a Stripe webhook endpoint here with the `payment_intent.*` events
    (`amount_capturable_updated`, `payment_failed`, `canceled`, `succeeded`, `processing`). The
    signature is checked (5 minutes' tolerance; 400 otherwise), then the PaymentIntent is read
    afresh from Stripe and its order settled: an event that comes twice, late or out of order
    changes nothing more. Other events are acknowledged and ignored. 503 when Stripe can not be
    reached: Stripe delivers the event again. 404 unless Livedrop runs with LIVEDROP_PAYMENTS=stripe."""
    payments = services().payments
    if payments.gateway.name != "stripe":
        raise NotFound("route", "", detail="Stripe payments are not configured (LIVEDROP_PAYMENTS=stripe)")
    body = req.raw.raw_body or b""
    if len(body) > MAX_EVENT_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_EVENT_BYTES} bytes")
    return EventReceived(received=True, outcome=payments.on_provider_event(body, req.headers[STRIPE_SIGNATURE.name]))
