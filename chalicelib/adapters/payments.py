"""The payment-provider port, its built-in test provider, and exactly-once charging.

A charge leaves DynamoDB: if a pay request is retried after the provider approved but before
the order was marked paid, charging again would take the money twice. Powertools idempotency
records each charge (keyed by order and payment token) in the idempotency table, so a retry
replays the first result instead of calling the provider again.
"""
from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Protocol

from chalicelib.domain.money import Money


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    reference: str | None = None
    reason: str | None = None


class PaymentProvider(Protocol):
    def charge(self, order_id: str, amount: Money, payment_token: str) -> ChargeResult: ...


class TestPaymentProvider:
    """Approves the token "ok"; declines "decline" and any other token."""

    def charge(self, order_id: str, amount: Money, payment_token: str) -> ChargeResult:
        if payment_token == "ok":
            return ChargeResult(approved=True, reference="test_ch_" + secrets.token_hex(8))
        return ChargeResult(approved=False, reason="card_declined" if payment_token == "decline" else "invalid_token")


class ExactlyOnceCharges:
    """Wraps a provider so that one (order, token) is charged once, whatever the retries."""

    def __init__(self, provider: PaymentProvider, idempotency_table: str) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function,
        )

        self.provider = provider
        persistence = DynamoDBPersistenceLayer(table_name=idempotency_table)
        config = IdempotencyConfig(event_key_jmespath="[orderId, token]", expires_after_seconds=24 * 3600,
                                   raise_on_no_idempotency_key=True)

        @idempotent_function(data_keyword_argument="charge", persistence_store=persistence, config=config)
        def charge_once(charge: dict) -> dict:
            result = self.provider.charge(charge["orderId"], Money(charge["amount"], charge["currency"]),
                                          charge["token"])
            return asdict(result)

        self._charge_once = charge_once
        self._config = config

    def register_lambda_context(self, context) -> None:
        """Lets Powertools expire an in-progress record when the invocation would time out."""
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self._config.register_lambda_context(context)

    def charge(self, order_id: str, amount: Money, payment_token: str) -> ChargeResult:
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        from chalicelib.errors import Conflict

        try:
            result = self._charge_once(charge={"orderId": order_id, "amount": amount.amount,
                                               "currency": amount.currency, "token": payment_token})
        except IdempotencyAlreadyInProgressError:
            raise Conflict("payment_in_progress", "a payment for this order is under way") from None
        return ChargeResult(**result)
