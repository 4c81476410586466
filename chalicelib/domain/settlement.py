"""What to do with an order, given the state of one of its payment intents: the one rule every
path follows (the pay request, the provider's webhooks, reconciliation), pure.

It acts on the intent as the provider has it now, never on what an event claims, so events that
come twice or out of order change nothing: the same state asks for the same step. The rule that
keeps stock and money straight: an intent is captured only once its order was written `paid` with
it, and an order written `paid` is never released; anything else authorized is voided.
"""
from __future__ import annotations

from enum import Enum

from chalicelib.domain.drops import OrderStatus
from chalicelib.domain.payments import Intent, IntentStatus
from chalicelib.domain.records import Order


class Step(str, Enum):
    MARK_PAID = "mark_paid"              # the order's own attempt is authorized: paying -> paid, then capture
    CAPTURE = "capture"                  # paid with this intent and not captured yet
    RECORD_CAPTURE = "record_capture"    # the provider has it captured (a capture we never heard back from)
    VOID = "void"                        # cancel the intent: the order is not this attempt's to sell
    VOID_AND_RETURN = "void_and_return"  # the order's attempt failed or was abandoned: cancel it, order back to reserved
    RETURN = "return"                    # the order's attempt is cancelled already: back to reserved
    REFUND = "refund"                    # money taken through an intent the order is not paid with: give it back
    WAIT = "wait"                        # the shopper or the provider is not done: look again later
    NOTHING = "nothing"


def is_current(order: Order, intent: Intent) -> bool:
    """The intent is the attempt the order is paying with now."""
    return order.status is OrderStatus.PAYING and intent.attempt == order.payment_attempt


def next_step(order: Order, intent: Intent, now_epoch: int) -> Step:
    if intent.order_id != order.id:
        return Step.NOTHING
    current = is_current(order, intent)
    paid_by_it = order.status is OrderStatus.PAID and order.payment_reference == intent.id
    status = intent.status
    if status is IntentStatus.AUTHORIZED:
        if current:
            return Step.MARK_PAID
        if paid_by_it:
            # A refund asked before the capture voids the authorisation instead (see Payments.refund).
            return Step.CAPTURE if order.captured_at is None and order.refund_requested_at is None else Step.NOTHING
        return Step.VOID
    if status is IntentStatus.CAPTURED:
        if current:
            return Step.MARK_PAID  # captured behind our back; paid first, then the capture is recorded
        if paid_by_it:
            return Step.RECORD_CAPTURE if order.captured_at is None else Step.NOTHING
        return Step.REFUND
    if status is IntentStatus.PENDING:
        if current:
            return Step.VOID_AND_RETURN if payment_window_over(order, now_epoch) else Step.WAIT
        return Step.VOID
    if status is IntentStatus.FAILED:
        return Step.VOID_AND_RETURN if current else Step.VOID
    if status is IntentStatus.PROCESSING:
        return Step.WAIT  # it can not be cancelled now; it ends authorized or failed
    if status is IntentStatus.CANCELLED:
        return Step.RETURN if current else Step.NOTHING
    return Step.NOTHING


def payment_window_over(order: Order, now_epoch: int) -> bool:
    return order.payment_due is not None and order.payment_due <= now_epoch
