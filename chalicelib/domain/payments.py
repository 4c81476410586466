"""Payments through a provider (Stripe PaymentIntents): the intent as the services see it, the
provider's webhook events, and the ways a provider call can fail. The PaymentGateway port is in
chalicelib/domain/ports.py; the Stripe adapter is chalicelib/adapters/stripe_payments.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class IntentStatus(str, Enum):
    """A PaymentIntent's status, in Livedrop's words (manual capture)."""
    PENDING = "pending"        # requires_payment_method (no last_payment_error), requires_confirmation, requires_action
    FAILED = "failed"          # requires_payment_method after a declined confirmation (last_payment_error set)
    PROCESSING = "processing"  # processing
    AUTHORIZED = "authorized"  # requires_capture: the money is held, not taken
    CAPTURED = "captured"      # succeeded
    CANCELLED = "cancelled"    # canceled


@dataclass(frozen=True)
class Intent:
    """One PaymentIntent: an order's attempt to pay, with what the provider says of it now."""
    id: str                     # pi_...
    order_id: str | None        # metadata["order_id"]
    attempt: int | None         # int(metadata["attempt"])
    status: IntentStatus
    amount: int                 # minor units
    currency: str               # upper case, as Money keeps it ("EUR")
    client_secret: str | None = field(default=None, repr=False)  # for Stripe.js; kept out of repr (logs)
    failure: str | None = None  # the last decline's decline_code, else its code, else None


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook event from the provider."""
    id: str                # evt_...
    type: str              # "payment_intent.amount_capturable_updated", ...
    intent_id: str | None  # the PaymentIntent the event is about, if it is about one


class PaymentUnavailable(Exception):
    """The provider could not be reached, or answered 5xx / 429, or timed out: the outcome is
    unknown, try again later (with the same idempotency key)."""


class IntentStateConflict(Exception):
    """The intent is not in a state that allows the call; `intent` is its current state."""

    def __init__(self, intent: Intent) -> None:
        super().__init__(f"payment intent {intent.id} is {intent.status.value}")
        self.intent = intent


class EventRejected(Exception):
    """A webhook body or signature refused; str(e) says why (never the secret)."""


class PaymentRefused(Exception):
    """Any other refusal by the provider (bad request, authentication): `code` is the provider's
    error code, if any; the message carries no secret."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
