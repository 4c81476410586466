"""The built-in test payment provider, and charges recorded so that a retry never charges twice.

A charge leaves DynamoDB: if a pay request is retried after the provider approved but before
the order was marked paid, charging again would take the money twice. Powertools idempotency
records each charge (keyed by order and payment token) in the idempotency table, so a retry
replays the first result instead of calling the provider again.
"""
from __future__ import annotations

import secrets
import threading
from dataclasses import asdict
from functools import cached_property
from typing import Any

from chalicelib.domain.money import Money
from chalicelib.domain.ports import ChargeOutcomeUnknown, ChargeResult, PaymentProvider


class TestPaymentProvider:
    """Approves the token "ok"; declines "decline" and any other token. Every call is a new
    charge (it keeps a list of them), so a test can see a second charge if one is ever made."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Money, str]] = []
        self._lock = threading.Lock()

    def charge(self, idempotency_key: str, amount: Money, payment_token: str) -> ChargeResult:
        with self._lock:
            self.calls.append((idempotency_key, amount, payment_token))
        if payment_token == "ok":
            return ChargeResult(approved=True, reference="test_ch_" + secrets.token_hex(8))
        return ChargeResult(approved=False, reason="card_declined" if payment_token == "decline" else "invalid_token")


class IdempotentCharges:
    """Wraps a provider so that a retried (order, token) replays the recorded charge instead of
    charging again: at most one charge per key once recorded, and a concurrent retry while the
    first is in flight is refused (PaymentInProgress) rather than charged. Powertools idempotency
    is loaded on the first payment, not at cold start: only /pay needs it."""

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

    def register_lambda_context(self, context: Any) -> None:
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
