"""Payments: an order's money, in the shape of an authorisation captured once the sale is ours.

    reserved --pay--> paying (attempt n: an intent at the provider, manual capture)
                        |-- authorised --> paid (written first) --> captured at the provider
                        |-- declined, abandoned past its window --> intent cancelled, reserved again
    paid --refund--> refunded (a captured intent refunded, an uncaptured one voided)

Three paths drive it, in any order and any number of times: the pay request (the test provider,
or a payment method confirmed server-side, answers at once), the provider's webhooks, and
reconciliation of orders whose time has come. Each reads the intent as the provider has it now
and takes the step `domain.settlement.next_step` names, so they agree whoever runs first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from chalicelib.domain.clock import epoch_ms, to_iso
from chalicelib.domain.drops import OrderStatus, is_order_id
from chalicelib.domain.errors import (
    Busy, InvalidInput, NotFound, OrderNotCancellable, PaymentDeclined, PaymentInProgress, PaymentOutcomeUnknown, ProviderRefused, SignatureRefused,
)
from chalicelib.domain.payments import (
    EventRejected, Intent, IntentStateConflict, IntentStatus, PaymentRefused, PaymentUnavailable,
)
from chalicelib.domain.ports import AlreadyPaid, Clock, OrderRepository, PaymentGateway
from chalicelib.domain.records import Order
from chalicelib.domain.settlement import Step, next_step, payment_window_over
from chalicelib.observability import logger
from chalicelib.services.rate_limits import RateLimiter

RECHECK_SECONDS = 60  # an unfinished capture, refund or processing payment is looked at again after this
LAPSED_RECHECK_SECONDS = 24 * 3600  # a paid order whose authorisation lapsed: logged again daily
MAX_STEPS = 4               # steps one settlement may take as the intent moves under it


def log_unavailable(unavailable: PaymentUnavailable, **subject: str) -> None:
    """The provider gave no answer: the caller gets a 503, and the log says why (the answer can
    not). The adapter's message names the error's kind and HTTP status, never a key."""
    logger.warning("payment provider unavailable", extra={**subject, "error": str(unavailable)})


@dataclass(frozen=True)
class Payment:
    """What the pay request answers: the order, and what the browser needs to confirm it."""
    order: Order
    client_secret: str | None = None
    publishable_key: str | None = None


class Payments:
    def __init__(self, orders: OrderRepository, gateway: PaymentGateway, clock: Clock,
                 paying_window_seconds: int, cancel_reserved: Callable[[str, str], Order],
                 limiter: RateLimiter) -> None:
        self.limiter = limiter  # the `payment` rule: card testing, many cards tried on one order
        self.cancel_reserved = cancel_reserved  # Checkout.cancel: releases a reserved order
        self.orders = orders
        self.gateway = gateway
        self.clock = clock
        self.window = paying_window_seconds

    def _now(self) -> int:
        return epoch_ms(self.clock.now()) // 1000

    # --- the pay request -----------------------------------------------------------------------

    def pay(self, order_id: str, shopper_id: str, payment_method: str | None) -> Payment:
        """Start (or go on with) the order's payment. With a payment method it is confirmed here
        and the answer is final (paid, or 402 and reserved again); without one, the answer carries
        the client secret for Stripe.js to confirm in the browser, and the order stays `paying`
        until the provider says. Asked again, the same attempt goes on: one intent, one charge."""
        if not is_order_id(order_id):
            raise NotFound("order", order_id)
        if payment_method is None and not self.gateway.confirms_in_browser:
            raise InvalidInput(f"the {self.gateway.name} payment provider confirms here: send paymentToken",
                               [{"field": "paymentToken", "message": "required with this provider"}])
        # Per order and caller: a stranger's calls (404 anyway) spend their own budget, never the buyer's.
        self.limiter.check("payment", f"{order_id}#{shopper_id}")
        now = self._now()
        try:
            order, _ = self.orders.begin_payment(order_id, shopper_id, now, self.gateway.name, now + self.window)
        except AlreadyPaid as paid:
            return Payment(paid.order)
        try:
            order, intent = self._intent_of(order)
            if payment_method is not None and intent.status in (IntentStatus.PENDING, IntentStatus.FAILED):
                intent = self._confirm(intent, payment_method, order)
            order = self.settle(order, intent)
        except PaymentUnavailable as unavailable:
            log_unavailable(unavailable, order_id=order_id)
            raise PaymentOutcomeUnknown() from None
        except PaymentRefused as refused:
            raise ProviderRefused(refused.code) from None
        if order.status is OrderStatus.PAID:
            return Payment(order)
        if order.status is OrderStatus.PAYING:
            if payment_method is not None and intent.status is not IntentStatus.PENDING:
                raise PaymentInProgress()  # processing at the provider: its webhook or a retry finishes it
            return Payment(order, intent.client_secret, self.gateway.publishable_key)
        raise PaymentDeclined(intent.failure or "declined")

    def _intent_of(self, order: Order) -> tuple[Order, Intent]:
        """The attempt's intent, and the order recording it: the one recorded already, or one
        made (again: creating is idempotent per attempt, so after a crash before it was recorded
        the same one comes back)."""
        attempt = order.payment_attempt or 0
        if order.payment_reference:
            return order, self.gateway.retrieve(order.payment_reference)
        intent = self.gateway.create_intent(order, attempt)
        attached = self.orders.attach_intent(order.id, attempt, intent.id)
        if attached is None:
            current = self._reread(order)
            if current.payment_attempt != attempt or current.payment_reference != intent.id:
                raise PaymentInProgress()  # the attempt was settled under us; the next request sees how
            attached = current
        return attached, intent

    def _confirm(self, intent: Intent, payment_method: str, order: Order) -> Intent:
        try:
            return self.gateway.confirm(intent.id, payment_method, order.id, order.payment_attempt or 0)
        except IntentStateConflict as conflict:
            return conflict.intent  # confirmed already (a concurrent retry, or Stripe.js): settle what it is
        except PaymentRefused as refused:
            # The provider refused this payment method itself (no such method, not usable): the
            # buyer's input. The attempt stays open: pay again with another, or cancel.
            raise InvalidInput(f"the payment provider refused this payment method ({refused.code})",
                               [{"field": "paymentToken", "message": "not a payment method the provider accepts"}]) from None

    def cancel(self, order_id: str, shopper_id: str) -> Order:
        """The shopper's cancel. A reserved order is released at once (one read, as before); one
        being paid is first taken out of its attempt (`abandon`), then released."""
        try:
            return self.cancel_reserved(order_id, shopper_id)
        except OrderNotCancellable as refused:
            if refused.status != OrderStatus.PAYING.value:
                raise
        self.abandon(order_id, shopper_id)
        return self.cancel_reserved(order_id, shopper_id)

    def abandon(self, order_id: str, shopper_id: str) -> None:
        """The shopper cancels while paying: the attempt's intent is cancelled, unless something
        was authorised already (then it settles: paid), and the order is back to `reserved`, for
        the cancel to release. Any other order is left as it is."""
        order = self.orders.get(order_id) if is_order_id(order_id) else None
        if order is None or order.shopper_id != shopper_id or order.status is not OrderStatus.PAYING:
            return
        try:
            order, intent = self._intent_of(order)
            if intent.status in (IntentStatus.PENDING, IntentStatus.FAILED):
                self._void_and_return(order, intent)
            else:
                self.settle(order, intent)  # authorised already: it pays
        except PaymentUnavailable as unavailable:
            log_unavailable(unavailable, order_id=order_id)
            raise PaymentOutcomeUnknown() from None
        except PaymentRefused as refused:
            raise ProviderRefused(refused.code) from None

    # --- settling ------------------------------------------------------------------------------

    def settle(self, order: Order, intent: Intent) -> Order:
        """Take the steps the intent's state asks for; the order as it ends up."""
        for _ in range(MAX_STEPS):
            step = next_step(order, intent, self._now())
            attempt = intent.attempt or 0
            try:
                if step is Step.MARK_PAID:
                    paid = self.orders.finish_payment(order.id, attempt, intent.id, self._at(),
                                                      self._now() + RECHECK_SECONDS)
                    if paid is None:
                        order = self._reread(order)  # settled by another path meanwhile: look again
                        continue
                    order = paid
                    step = Step.CAPTURE
                if step in (Step.CAPTURE, Step.RECORD_CAPTURE):
                    try:
                        if step is Step.CAPTURE:
                            intent = self.gateway.capture(intent.id, order.id, attempt)
                            continue
                        return self.orders.record_capture(order.id, self._at()) or self._reread(order)
                    except IntentStateConflict:
                        raise
                    except Exception:  # noqa: BLE001 - whatever failed, the sale stands
                        # The order is paid: that is the answer. Its capture stays due, and
                        # reconciliation takes it up again within a minute.
                        logger.warning("capture not finished; reconciliation tries again",
                                       extra={"order_id": order.id}, exc_info=True)
                        return order
                if step is Step.VOID:
                    self.gateway.cancel(intent.id, order.id, attempt)
                    return order
                if step is Step.VOID_AND_RETURN:
                    return self._void_and_return(order, intent)
                if step is Step.RETURN:
                    return self.orders.abort_payment(order, attempt) or self._reread(order)
                if step is Step.REFUND:
                    reference = self.gateway.refund(intent.id, order.id, intent.amount)
                    logger.error("refunded a captured intent its order is not paid with",
                                 extra={"order_id": order.id, "intent": intent.id, "refund": reference})
                    return order
                return order  # WAIT, NOTHING
            except IntentStateConflict as conflict:
                intent = conflict.intent  # it moved (the shopper confirmed as we cancelled): decide again
        return order

    def _void_and_return(self, order: Order, intent: Intent) -> Order:
        """End the order's attempt, then cancel its intent. In this order: the write that takes the
        order out of the attempt is what stops a concurrent settlement from writing it `paid`; a
        cancel first could void an authorisation that a webhook, seeing it a moment later, had
        already turned into a paid order. Once the order has left the attempt, anything the intent
        becomes is voided (by this cancel, or by its webhook)."""
        returned = self.orders.abort_payment(order, intent.attempt or 0)
        if returned is None:
            current = self._reread(order)
            return current if current.status is not OrderStatus.PAYING else self.settle(current, intent)
        try:
            self.gateway.cancel(intent.id, order.id, intent.attempt or 0)
        except IntentStateConflict:
            pass  # processing: it ends authorised or failed, and its webhook voids it then
        return returned

    def _reread(self, order: Order) -> Order:
        return self.orders.get(order.id) or order

    def _at(self) -> str:
        return to_iso(self.clock.now())

    # --- the provider's webhooks ------------------------------------------------------------------

    def on_provider_event(self, body: bytes, signature: str | None) -> str:
        """A signed event from the provider: the intent it names is read afresh and its order
        settled. What the event says of the intent is not trusted (it may be stale or reordered).
        Returns what was done, for the log."""
        try:
            event = self.gateway.verify_event(body, signature)
        except EventRejected as rejected:
            raise SignatureRefused(str(rejected)) from None
        if event.intent_id is None:
            return "ignored"
        try:
            return self._settle_event(event.intent_id)
        except PaymentUnavailable as unavailable:
            log_unavailable(unavailable, intent_id=event.intent_id)
            raise Busy("the payment provider could not be reached; deliver the event again") from None
        except PaymentRefused as refused:
            logger.error("the payment provider refused a call settling its event",
                         extra={"intent": event.intent_id, "code": refused.code})
            raise ProviderRefused(refused.code) from None

    def _settle_event(self, intent_id: str) -> str:
        try:
            intent = self.gateway.retrieve(intent_id)
        except PaymentRefused:
            return "unknown intent"
        order = self.orders.get(intent.order_id) if intent.order_id and is_order_id(intent.order_id) else None
        if order is None:
            return "not ours"
        return self.settle(order, intent).status.value

    # --- reconciliation ---------------------------------------------------------------------------

    def reconcile(self, limit: int = 100, budget_seconds: float | None = None) -> int:
        """Orders whose payment window passed, and paid orders whose capture or refund did not go
        through: ask the provider how each intent stands and settle it. Called every minute; what
        the budget leaves undone stays due for the next run."""
        settled = 0
        stop_at = None if budget_seconds is None else self.clock.monotonic() + budget_seconds
        for order in self.orders.due(self._now(), limit):
            if stop_at is not None and self.clock.monotonic() >= stop_at:
                break
            if order.status not in (OrderStatus.PAYING, OrderStatus.PAID):
                continue  # a reservation past its time: the release sweep's
            try:
                self._reconcile(order)
                settled += 1
            except Exception as failure:  # noqa: BLE001 - one order's trouble must not stop the others
                logger.warning("reconciliation could not settle an order; it is looked at again",
                               extra={"order_id": order.id, "error": type(failure).__name__}, exc_info=True)
                try:
                    self.orders.postpone(order.id, self._now() + RECHECK_SECONDS)
                except Exception:  # noqa: BLE001 - left due: the next run tries it
                    pass
        return settled

    def _reconcile(self, order: Order) -> None:
        if order.status is OrderStatus.PAID and order.refund_requested_at and not order.refunded_at:
            self._finish_refund(order)
            return
        if order.payment_attempt is None:
            return
        if order.status is OrderStatus.PAYING and (
                order.payment_reference is None or order.payment_provider != self.gateway.name):
            # No intent recorded, or one at a provider this deployment no longer uses: no client
            # secret and no confirmation ever left for this attempt (both come after the intent is
            # recorded), so nothing can be authorised on it. Its window is over: it ends here,
            # without asking the provider (whose replay of a failed create would last 24 h).
            if payment_window_over(order, self._now()):
                self.orders.abort_payment(order, order.payment_attempt)
            return
        if order.payment_provider != self.gateway.name:
            # Paid through a provider this deployment no longer uses: nothing here can capture it.
            logger.error("a paid order's provider is not this deployment's; its capture waits",
                         extra={"order_id": order.id, "provider": order.payment_provider})
            self.orders.postpone(order.id, self._now() + LAPSED_RECHECK_SECONDS)
            return
        try:
            intent = self.gateway.retrieve(order.payment_reference or "")
        except PaymentRefused as refused:
            if refused.code == "resource_missing" and order.status is OrderStatus.PAYING:
                self.orders.abort_payment(order, order.payment_attempt)  # the provider has no such intent
                return
            raise
        settled = self.settle(order, intent)
        unfinished = settled.status is OrderStatus.PAID and not (settled.captured_at or settled.refunded_at)
        if unfinished and intent.status is IntentStatus.CANCELLED:
            # Paid, but the authorisation is gone before any capture went through (Stripe voids
            # it after 7 days): nothing here can take the money now. Someone must look.
            logger.error("a paid order's authorisation lapsed before its capture",
                         extra={"order_id": order.id, "intent": intent.id})
            self.orders.postpone(order.id, self._now() + LAPSED_RECHECK_SECONDS)
        elif settled.status is OrderStatus.PAYING or unfinished:
            # Not finished (processing, a capture that failed again): look again in a minute.
            self.orders.postpone(order.id, self._now() + RECHECK_SECONDS)

    # --- refunds ----------------------------------------------------------------------------------

    def refund(self, order_id: str, brand_id: str, reason: str | None = None) -> Order:
        """Give a paid order's money back, in full: once, however often asked. A captured payment
        is refunded; one not captured yet is voided (the buyer is never charged). The brand's
        reason goes to the log, not to the provider."""
        if not is_order_id(order_id):
            raise NotFound("order", order_id)
        order = self.orders.request_refund(order_id, brand_id, self._at(), self._now() + RECHECK_SECONDS)
        if reason:
            logger.info("refund asked", extra={"order_id": order_id, "reason": reason})
        if order.refunded_at:
            return order
        try:
            return self._finish_refund(order)
        except (PaymentUnavailable, IntentStateConflict):
            raise PaymentOutcomeUnknown() from None  # asked, and due: reconciliation finishes it
        except PaymentRefused as refused:
            raise ProviderRefused(refused.code) from None

    def _finish_refund(self, order: Order) -> Order:
        intent = self.gateway.retrieve(order.payment_reference or "")
        attempt = intent.attempt or 0
        if intent.status is IntentStatus.AUTHORIZED:
            try:
                intent = self.gateway.cancel(intent.id, order.id, attempt)
                return self.orders.record_refund(order.id, intent.id, self._at())
            except IntentStateConflict as conflict:
                intent = conflict.intent  # captured meanwhile: refund it
        if intent.status is IntentStatus.CANCELLED:
            return self.orders.record_refund(order.id, intent.id, self._at())
        if intent.status is not IntentStatus.CAPTURED:
            raise PaymentUnavailable(f"the intent is {intent.status.value}: the refund waits")  # reconciled later
        reference = self.gateway.refund(intent.id, order.id, order.total.amount)
        return self.orders.record_refund(order.id, reference, self._at())
