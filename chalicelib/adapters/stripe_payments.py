"""Stripe PaymentIntents (manual capture) behind the PaymentGateway port, through Stripe's SDK.

Every call that changes something carries an Idempotency-Key built from the order and the attempt
only, so a retry (the SDK's own, or a reconciliation after a crash) gets Stripe's first answer back
instead of a second PaymentIntent, capture or refund. The SDK is imported on the first payment
call, not at cold start, and the secrets (callables, from SSM in deployment) are read then too.

Errors: unreachable / 5xx / 429 / timeout -> PaymentUnavailable (outcome unknown: retry later);
an intent in the wrong state -> IntentStateConflict with the intent as it now is; a card decline is
not an error (the intent comes back FAILED); anything else Stripe refuses -> PaymentRefused. No
message built here carries the secret key, the webhook secret or a client secret.
"""
from __future__ import annotations

import hashlib
import re
import threading
from typing import Any, Callable, Mapping, NoReturn, TypeVar

from chalicelib.domain.payments import (
    EventRejected, Intent, IntentStateConflict, IntentStatus, PaymentRefused, PaymentUnavailable, ProviderEvent,
)
from chalicelib.domain.records import Order

WEBHOOK_TOLERANCE_SECONDS = 300
T = TypeVar("T")

_STATUSES = {
    "requires_confirmation": IntentStatus.PENDING,
    "requires_action": IntentStatus.PENDING,
    "processing": IntentStatus.PROCESSING,
    "requires_capture": IntentStatus.AUTHORIZED,
    "succeeded": IntentStatus.CAPTURED,
    "canceled": IntentStatus.CANCELLED,
}

# Anything that looks like a Stripe secret: API keys, webhook secrets, client secrets, and a key as
# Stripe masks it in "Invalid API Key provided: sk_live_****abcd" (its ends are still the key's).
_SECRET_LIKE = re.compile(r"\b(?:sk|rk)_(?:test|live)_[\w*]+|\bwhsec_[\w+/=]+|\b\w+_secret_\w+|\S*\*{3,}\S*")


def to_intent(data: Mapping[str, Any]) -> Intent:
    """A Stripe PaymentIntent (as a plain dict) in the port's words."""
    error = data.get("last_payment_error") or None
    status = data.get("status")
    if status == "requires_payment_method":
        kind = IntentStatus.FAILED if error else IntentStatus.PENDING
    else:
        # A status Stripe adds later is treated as unsettled: neither confirmable nor final.
        kind = _STATUSES.get(str(status), IntentStatus.PROCESSING)
    metadata = data.get("metadata") or {}
    attempt = metadata.get("attempt")
    return Intent(
        id=str(data["id"]),
        order_id=metadata.get("order_id"),
        attempt=int(attempt) if isinstance(attempt, str) and attempt.isdigit() else None,
        status=kind,
        amount=int(data.get("amount") or 0),
        currency=str(data.get("currency") or "").upper(),
        client_secret=data.get("client_secret"),
        failure=(error.get("decline_code") or error.get("code")) if error else None,
    )


class StripeGateway:
    """The PaymentGateway port on Stripe. `api_base` points the SDK elsewhere (the local fake);
    `retries` is the SDK's max_network_retries (each retry sleeps 0.5 s or more). The defaults keep
    one call (8 s, one retry) well inside API Gateway's 29 s."""

    name = "stripe"
    confirms_in_browser = True  # Stripe.js may confirm with the client secret; the pay request may too

    def __init__(self, secret_key: Callable[[], str], webhook_secret: Callable[[], str],
                 publishable_key: str | None, api_base: str | None, timeout: float = 8.0,
                 retries: int = 1) -> None:
        self.publishable_key = publishable_key
        self._secret_key = secret_key
        self._webhook_secret = webhook_secret
        self._api_base = api_base
        self._timeout = timeout
        self._retries = retries
        self._client: Any = None
        self._lock = threading.Lock()
        self._secrets: list[str] = []  # the resolved secrets, to scrub from any message

    # --- the port ---------------------------------------------------------------------------------

    def create_intent(self, order: Order, attempt: int) -> Intent:
        params = {
            "amount": order.total.amount,
            "currency": order.total.currency.lower(),
            "capture_method": "manual",
            # No redirecting methods: a live show's checkout confirms in place, and a payment
            # method confirmed by the pay request needs no return_url.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": {"order_id": order.id, "attempt": str(attempt), "brand_id": order.brand_id,
                         "session_id": order.session_id},
        }
        key = f"livedrop:{order.id}:{attempt}:create"
        client = self._stripe_client()
        return self._call(lambda: to_intent(client.v1.payment_intents.create(
            params, options={"idempotency_key": key}).to_dict()))

    def confirm(self, intent_id: str, payment_method: str, order_id: str, attempt: int) -> Intent:
        import stripe

        digest = hashlib.sha256(payment_method.encode()).hexdigest()[:16]
        key = f"livedrop:{order_id}:{attempt}:confirm:{digest}"
        client = self._stripe_client()
        try:
            return to_intent(client.v1.payment_intents.confirm(
                intent_id, {"payment_method": payment_method}, options={"idempotency_key": key}).to_dict())
        except stripe.CardError as error:
            # A decline is an answer, not a failure: the intent as it now is (FAILED, with why).
            body = error.json_body if isinstance(error.json_body, dict) else {}
            declined = (body.get("error") or {}).get("payment_intent")
            if isinstance(declined, dict) and declined.get("id") == intent_id and declined.get("status"):
                return to_intent(declined)
            return self.retrieve(intent_id)
        except stripe.StripeError as error:
            self._raise(error, intent_id)

    def retrieve(self, intent_id: str) -> Intent:
        client = self._stripe_client()
        return self._call(lambda: to_intent(client.v1.payment_intents.retrieve(intent_id).to_dict()))

    # Capture and cancel carry no key of ours: Stripe keeps the first answer to a key for 24 h, a
    # 500 included, which would block the capture or the cancel that long. Their state machine
    # makes them idempotent instead (a second capture or cancel is refused as "unexpected state",
    # read as done below), and the SDK keys its own network retries.
    def capture(self, intent_id: str, order_id: str, attempt: int) -> Intent:
        client = self._stripe_client()
        try:
            return self._call(lambda: to_intent(client.v1.payment_intents.capture(intent_id).to_dict()), intent_id)
        except IntentStateConflict as conflict:
            if conflict.intent.status is IntentStatus.CAPTURED:
                return conflict.intent
            raise

    def cancel(self, intent_id: str, order_id: str, attempt: int) -> Intent:
        client = self._stripe_client()
        try:
            return self._call(lambda: to_intent(client.v1.payment_intents.cancel(
                intent_id, {"cancellation_reason": "abandoned"}).to_dict()), intent_id)
        except IntentStateConflict as conflict:
            if conflict.intent.status is IntentStatus.CANCELLED:
                return conflict.intent
            raise

    def refund(self, intent_id: str, order_id: str, amount: int) -> str:
        import stripe

        key = f"livedrop:{order_id}:{intent_id}:refund"  # one refund per intent, in full
        client = self._stripe_client()
        try:
            return str(client.v1.refunds.create(
                {"payment_intent": intent_id, "amount": amount}, options={"idempotency_key": key}).id)
        except stripe.InvalidRequestError as error:
            if error.code != "charge_already_refunded":
                self._raise(error, intent_id)
        except stripe.StripeError as error:
            self._raise(error, intent_id)
        refunds = self._call(lambda: client.v1.refunds.list({"payment_intent": intent_id, "limit": 1}).to_dict())
        found = refunds.get("data") or []
        if not found:
            raise PaymentRefused("charge_already_refunded",
                                 f"Stripe says {intent_id} is already refunded but lists no refund of it")
        return str(found[0]["id"])

    def verify_event(self, body: bytes, signature: str | None) -> ProviderEvent:
        import stripe

        if not signature:
            raise EventRejected("no Stripe-Signature header")
        try:
            secret = self._webhook_secret()
        except Exception:
            raise EventRejected("the webhook secret could not be read") from None
        self._remember(secret)
        try:
            event = stripe.Webhook.construct_event(body, signature, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
            data = event.to_dict()
        except stripe.SignatureVerificationError as error:
            raise EventRejected(self._scrub(f"signature refused: {error.user_message}")) from None
        except (ValueError, TypeError, AttributeError):  # not UTF-8, not JSON, not a JSON object
            raise EventRejected("the body is not a Stripe event (JSON)") from None
        if not isinstance(data, dict):
            raise EventRejected("the body is not a Stripe event (JSON object)")
        if data.get("object") != "event" or not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
            raise EventRejected("the body is not a Stripe event (no id or type)")
        subject = (data.get("data") or {}).get("object")
        intent_id = None
        if isinstance(subject, dict) and subject.get("object") == "payment_intent":
            intent_id = subject.get("id")
        return ProviderEvent(id=data["id"], type=data["type"], intent_id=intent_id)

    # --- the SDK --------------------------------------------------------------------------------

    def _stripe_client(self) -> Any:
        """The StripeClient, built on first use (the SDK imported and the key read then)."""
        with self._lock:
            if self._client is None:
                import logging

                import stripe

                # The SDK logs request and response bodies at DEBUG, client secrets among them.
                logging.getLogger("stripe").setLevel(logging.WARNING)
                try:
                    api_key = self._secret_key()
                except Exception:
                    raise PaymentUnavailable("the Stripe secret key could not be read") from None
                self._remember(api_key)
                self._client = stripe.StripeClient(
                    api_key,
                    base_addresses={"api": self._api_base} if self._api_base else None,
                    max_network_retries=self._retries,
                    http_client=stripe.RequestsClient(timeout=self._timeout),
                )
            return self._client

    def _call(self, call: Callable[[], T], intent_id: str | None = None) -> T:
        import stripe

        try:
            return call()
        except stripe.StripeError as error:
            self._raise(error, intent_id)

    def _raise(self, error: Any, intent_id: str | None) -> NoReturn:
        """The port's exception for an SDK error. Raised `from None`: the SDK's error (its body,
        its message) is not chained onto ours, so a logged traceback shows ours only."""
        import stripe

        name = type(error).__name__
        status = error.http_status
        if isinstance(error, (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)):
            where = f"HTTP {status}" if status else "no answer"
            raise PaymentUnavailable(f"Stripe unavailable ({name}, {where}); the outcome is unknown") from None
        code = error.code or (error.error.type if error.error is not None else None)
        if (isinstance(error, stripe.InvalidRequestError) and code == "payment_intent_unexpected_state"
                and intent_id is not None):
            raise IntentStateConflict(self.retrieve(intent_id)) from None
        message = self._scrub(f"Stripe refused the request ({name}, HTTP {status}, {code}): {error.user_message}")
        raise PaymentRefused(code, message) from None

    def _remember(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets.append(secret)

    def _scrub(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "[redacted]")
        return _SECRET_LIKE.sub("[redacted]", message)
