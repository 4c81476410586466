"""The payment-provider port, its built-in test provider, and exactly-once charging.

A charge leaves DynamoDB: if a pay request is retried after the provider approved but before
the order was marked paid, charging again would take the money twice. Powertools idempotency
records each charge (keyed by order and payment token) in the idempotency table, so a retry
replays the first result instead of calling the provider again.
"""
from __future__ import annotations

import secrets
import threading
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Protocol

from chalicelib.domain.money import Money


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    reference: str | None = None
    reason: str | None = None


class ChargeOutcomeUnknown(Exception):
    """The provider was called but its answer could not be recorded: the order must stay locked
    (`paying`) until a retry learns the outcome; releasing it could sell units already paid for."""


class PaymentProvider(Protocol):
    def charge(self, idempotency_key: str, amount: Money, payment_token: str) -> ChargeResult:
        """Charge once per idempotency_key: a repeated key returns the first result, as card
        processors' idempotency keys do."""
        ...


class TestPaymentProvider:
    """Approves the token "ok"; declines "decline" and any other token. Dedupes by key."""

    def __init__(self) -> None:
        self._results: dict[str, ChargeResult] = {}

    def charge(self, idempotency_key: str, amount: Money, payment_token: str) -> ChargeResult:
        if idempotency_key not in self._results:
            if payment_token == "ok":
                result = ChargeResult(approved=True, reference="test_ch_" + secrets.token_hex(8))
            else:
                result = ChargeResult(approved=False,
                                      reason="card_declined" if payment_token == "decline" else "invalid_token")
            self._results.setdefault(idempotency_key, result)
        return self._results[idempotency_key]


class ExactlyOnceCharges:
    """Wraps a provider so that one (order, token) is charged once, whatever the retries.
    Powertools idempotency is loaded on the first payment, not at cold start: only /pay needs it."""

    def __init__(self, provider: PaymentProvider, idempotency_table: str) -> None:
        self.provider = provider
        self.idempotency_table = idempotency_table
        self._called = threading.local()

    @cached_property
    def _idempotency(self):
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function,
        )

        persistence = DynamoDBPersistenceLayer(table_name=self.idempotency_table)
        config = IdempotencyConfig(event_key_jmespath="[orderId, token]", expires_after_seconds=24 * 3600,
                                   raise_on_no_idempotency_key=True)

        @idempotent_function(data_keyword_argument="charge", persistence_store=persistence, config=config)
        def charge_once(charge: dict) -> dict:
            self._called.value = True
            result = self.provider.charge(charge["idempotencyKey"], Money(charge["amount"], charge["currency"]),
                                          charge["token"])
            return asdict(result)

        return charge_once, config

    def register_lambda_context(self, context) -> None:
        """Lets Powertools expire an in-progress record when the invocation would time out."""
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self._idempotency[1].register_lambda_context(context)

    def charge(self, order_id: str, attempt: str, amount: Money, payment_token: str) -> ChargeResult:
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        self._called.value = False
        try:
            charge_once, _ = self._idempotency
            result = charge_once(charge={
                "orderId": order_id, "token": payment_token, "idempotencyKey": f"{order_id}:{attempt}",
                "amount": amount.amount, "currency": amount.currency})
        except IdempotencyAlreadyInProgressError:
            from chalicelib.domain.errors import PaymentInProgress

            raise PaymentInProgress() from None
        except Exception as error:
            if getattr(self._called, "value", False):
                raise ChargeOutcomeUnknown("the charge may have gone through") from error
            raise
        return ChargeResult(**result)
