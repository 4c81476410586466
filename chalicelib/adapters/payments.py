"""The built-in test payment provider: PaymentIntents as Stripe shapes them, kept in DynamoDB.

It stands for a provider outside Livedrop, so its intents live in their own items (in the
payments table), not on the order: a crash of the API between the
provider's answer and the order's write leaves the intent where reconciliation finds it, as
Stripe would. Every call is idempotent the way Stripe's idempotency keys make it: an intent per
(order, attempt), and each transition a conditional write. Confirmation takes a payment method
at once: "ok" authorises, "decline" (or anything else) declines.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

from chalicelib.adapters.dynamodb.models import TestIntentModel
from chalicelib.adapters.dynamodb.support import ConditionFailed, update_or_old
from chalicelib.domain.payments import (
    EventRejected, Intent, IntentStateConflict, IntentStatus, PaymentRefused, ProviderEvent,
)
from chalicelib.domain.records import Order

KEEP_SECONDS = 30 * 24 * 3600  # a test intent is forgotten after 30 days (the table's time to live)
PREFIX = "test-intent#"  # room for other kinds of item beside them


def _intent(row: TestIntentModel) -> Intent:
    return Intent(id=row.id.removeprefix(PREFIX), order_id=row.order_id, attempt=int(row.attempt),
                  status=IntentStatus(row.status), amount=int(row.amount), currency=row.currency,
                  failure=row.failure)


class TestPaymentGateway:
    """Confirmed server-side only (no client secret, no webhooks): `POST /pay` with a paymentToken."""
    name = "test"
    publishable_key = None
    confirms_in_browser = False

    def create_intent(self, order: Order, attempt: int) -> Intent:
        intent_id = "tpi_" + hashlib.sha256(f"{order.id}:{attempt}".encode()).hexdigest()[:24]
        row = TestIntentModel(id=PREFIX + intent_id, order_id=order.id, attempt=attempt,
                              status=IntentStatus.PENDING.value, amount=order.total.amount,
                              currency=order.total.currency, expiration=timedelta(seconds=KEEP_SECONDS))
        try:
            row.save(condition=TestIntentModel.id.does_not_exist())
        except Exception as error:  # noqa: BLE001 - PynamoDB wraps the failed condition
            if not _condition_failed(error):
                raise
            return self.retrieve(intent_id)  # made before: the same intent, as an idempotency key gives it
        return _intent(row)

    def confirm(self, intent_id: str, payment_method: str, order_id: str, attempt: int) -> Intent:
        approved = payment_method == "ok"
        actions = [TestIntentModel.status.set(IntentStatus.AUTHORIZED.value if approved else IntentStatus.FAILED.value)]
        actions.append(TestIntentModel.failure.remove() if approved else TestIntentModel.failure.set(
            "card_declined" if payment_method == "decline" else "invalid_payment_method"))
        return self._move(intent_id, actions, (IntentStatus.PENDING, IntentStatus.FAILED))

    def retrieve(self, intent_id: str) -> Intent:
        try:
            return _intent(TestIntentModel.get(PREFIX + intent_id, consistent_read=True))
        except TestIntentModel.DoesNotExist:
            raise PaymentRefused("resource_missing", f"no test intent {intent_id}") from None

    def capture(self, intent_id: str, order_id: str, attempt: int) -> Intent:
        return self._move(intent_id, [TestIntentModel.status.set(IntentStatus.CAPTURED.value)],
                          (IntentStatus.AUTHORIZED,), done=IntentStatus.CAPTURED)

    def cancel(self, intent_id: str, order_id: str, attempt: int) -> Intent:
        return self._move(intent_id, [TestIntentModel.status.set(IntentStatus.CANCELLED.value)],
                          (IntentStatus.PENDING, IntentStatus.FAILED, IntentStatus.AUTHORIZED),
                          done=IntentStatus.CANCELLED)

    def refund(self, intent_id: str, order_id: str, amount: int) -> str:
        reference = "tre_" + intent_id.removeprefix("tpi_")
        try:
            update_or_old(TestIntentModel, PREFIX + intent_id, actions=[TestIntentModel.refund.set(reference)],
                          condition=(TestIntentModel.status == IntentStatus.CAPTURED.value)
                          & (TestIntentModel.refund.does_not_exist() | (TestIntentModel.refund == reference)))
        except ConditionFailed as failure:
            raise IntentStateConflict(_intent(failure.old)) if failure.old else PaymentRefused(
                "resource_missing", f"no test intent {intent_id}") from None
        return reference

    def verify_event(self, body: bytes, signature: str | None) -> ProviderEvent:
        raise EventRejected("the test provider sends no webhooks")

    @staticmethod
    def _move(intent_id: str, actions: list, allowed: tuple[IntentStatus, ...],
              done: IntentStatus | None = None) -> Intent:
        """One conditional transition; already at `done`: the intent as it is (a retried call)."""
        states = [state.value for state in allowed] + ([done.value] if done else [])
        try:
            return _intent(update_or_old(TestIntentModel, PREFIX + intent_id, actions=actions,
                                         condition=TestIntentModel.status.is_in(*states)))
        except ConditionFailed as failure:
            if failure.old is None:
                raise PaymentRefused("resource_missing", f"no test intent {intent_id}") from None
            raise IntentStateConflict(_intent(failure.old)) from None


def _condition_failed(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"
