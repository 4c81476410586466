"""Payments on fakes: authorise, write paid, then capture; decline, abandon, expiry, webhooks in any
order, reconciliation of every state a payment can be left in, refunds, and crashes between the
provider's answer and our write. The gateway fake moves intents as Stripe's move (manual capture).
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.domain.drops import OrderStatus
from chalicelib.domain.errors import (
    Busy, InvalidInput, NotFound, OrderNotCancellable, OrderNotRefundable, PaymentDeclined, PaymentOutcomeUnknown,
    SignatureRefused,
)
from chalicelib.domain.payments import IntentStatus, PaymentUnavailable
from chalicelib.domain.settlement import Step, next_step
from tests.fakes import FakePaymentGateway, buy, conservation, fake_services, open_drop

WINDOW = 900  # the paying window fake_services' settings give (LIVEDROP_PAYING_WINDOW_SECONDS' default)


@pytest.fixture
def shop(world):
    """(services, ports, drop, buyer, order): a reserved order of 2 units of a 5-unit drop held 60 s."""
    services, ports = world
    drop = open_drop(services, quantity=5, hold_seconds=60)
    buyer = services.shoppers.register()[0]
    order, _ = buy(services, buyer, drop.session_id, {drop.product_id: 2})
    return services, ports, drop, buyer, order


def event(intent_id: str, kind: str = "payment_intent.amount_capturable_updated") -> bytes:
    return json.dumps({"id": "evt_1", "type": kind, "data": {"object": {"id": intent_id}}}).encode()


def captured_while_paid(ports) -> list[str]:
    """Checks, at each capture, that the order was written paid with that intent first."""
    seen: list[str] = []
    gateway = ports.payment_gateway
    real = gateway.capture

    def capture(intent_id, order_id, attempt):
        order = ports.orders.get(order_id)
        assert order.status is OrderStatus.PAID and order.payment_reference == intent_id, "captured before paid"
        seen.append(intent_id)
        return real(intent_id, order_id, attempt)

    gateway.capture = capture
    return seen


# --- paying at once (a payment method with the request) -------------------------------------------


def test_an_authorised_payment_is_written_paid_then_captured_once_however_often_asked(shop):
    services, ports, drop, buyer, order = shop
    captures = captured_while_paid(ports)
    paid = services.payments.pay(order.id, buyer, "pm_card_visa").order
    assert paid.status is OrderStatus.PAID and paid.captured_at and paid.payment_attempt == 1
    assert services.payments.pay(order.id, buyer, "pm_card_visa").order == paid
    gateway = ports.payment_gateway
    assert len(gateway.intents) == 1 and captures == [paid.payment_reference]
    assert [m for m, _ in gateway.requests] == ["create_intent", "confirm", "capture"]
    assert gateway.requests[0][1] == f"livedrop:{order.id}:1:create"  # idempotency key: order and attempt
    assert conservation(ports, drop) == (3, 2)


def test_a_decline_puts_the_order_back_and_voids_its_intent_and_the_next_attempt_pays(shop):
    services, ports, drop, buyer, order = shop
    with pytest.raises(PaymentDeclined):
        services.payments.pay(order.id, buyer, "pm_card_chargeDeclined")
    back = ports.orders.get(order.id)
    assert back.status is OrderStatus.RESERVED and back.payment_attempt == 1
    first = ports.payment_gateway.intents[back.payment_reference]
    assert first.status is IntentStatus.CANCELLED
    paid = services.payments.pay(order.id, buyer, "pm_card_visa").order
    assert paid.status is OrderStatus.PAID and paid.payment_attempt == 2 and paid.payment_reference != first.id
    assert ports.payment_gateway.captured() == [paid.payment_reference]


def test_the_test_provider_needs_a_payment_token():
    services, ports = fake_services(payment_gateway=FakePaymentGateway(confirms_in_browser=False))
    drop = open_drop(services, quantity=1)
    buyer = services.shoppers.register()[0]
    order, _ = buy(services, buyer, drop.session_id, {drop.product_id: 1})
    with pytest.raises(InvalidInput) as refused:
        services.payments.pay(order.id, buyer, None)
    assert refused.value.facts()["errors"][0]["field"] == "paymentToken"
    assert ports.orders.get(order.id).status is OrderStatus.RESERVED


def test_two_pay_requests_racing_make_one_intent_and_one_capture(shop):
    services, ports, drop, buyer, order = shop
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: services.payments.pay(order.id, buyer, "pm_card_visa").order.status,
                                range(8)))
    assert set(results) == {OrderStatus.PAID}
    assert len(ports.payment_gateway.intents) == 1 and len(ports.payment_gateway.captured()) == 1
    assert conservation(ports, drop) == (3, 2)


# --- paying in the browser, and the provider's webhooks -------------------------------------------


def test_without_a_payment_method_the_shopper_gets_the_client_secret_and_the_webhook_pays(shop):
    services, ports, drop, buyer, order = shop
    captures = captured_while_paid(ports)
    payment = services.payments.pay(order.id, buyer, None)
    assert payment.order.status is OrderStatus.PAYING
    assert payment.client_secret and payment.publishable_key == "pk_test_fake"
    intent_id = payment.order.payment_reference
    ports.payment_gateway.authorize(intent_id)  # Stripe.js confirmed in the browser
    for kind in ("payment_intent.amount_capturable_updated", "payment_intent.amount_capturable_updated",
                 "payment_intent.succeeded"):  # duplicated, and the capture's own event after it
        assert services.payments.on_provider_event(event(intent_id, kind), "good") == "paid"
    assert captures == [intent_id]
    assert ports.orders.get(order.id).captured_at


def test_a_stale_failure_event_after_the_authorisation_changes_nothing(shop):
    """Reordered events: the failure of a first try arrives after the retry's authorisation. The
    intent is read afresh, so the order is paid, not put back."""
    services, ports, drop, buyer, order = shop
    intent_id = services.payments.pay(order.id, buyer, None).order.payment_reference
    ports.payment_gateway.authorize(intent_id)
    assert services.payments.on_provider_event(event(intent_id, "payment_intent.payment_failed"), "good") == "paid"
    assert ports.payment_gateway.captured() == [intent_id]


def test_a_failure_in_the_browser_puts_the_order_back_when_its_webhook_comes(shop):
    services, ports, drop, buyer, order = shop
    intent_id = services.payments.pay(order.id, buyer, None).order.payment_reference
    ports.payment_gateway.decline(intent_id)
    assert services.payments.on_provider_event(event(intent_id, "payment_intent.payment_failed"), "good") == "reserved"
    assert ports.payment_gateway.intents[intent_id].status is IntentStatus.CANCELLED
    assert conservation(ports, drop) == (3, 2)  # still held, until its own expiry


def test_an_authorisation_after_the_reservation_was_released_is_voided_never_captured(shop, clock):
    services, ports, drop, buyer, order = shop
    intent_id = services.payments.pay(order.id, buyer, None).order.payment_reference
    ports.orders.abort_payment(ports.orders.get(order.id), 1)  # as a failure would, its intent left as it was
    clock.advance(61)
    assert services.checkout.release_expired() == 1
    ports.payment_gateway.authorize(intent_id)  # the shopper's browser confirms late
    assert services.payments.on_provider_event(event(intent_id), "good") == "expired"
    assert ports.payment_gateway.intents[intent_id].status is IntentStatus.CANCELLED
    assert ports.payment_gateway.captured() == [] and conservation(ports, drop) == (5, 0)


def test_a_webhook_with_a_bad_signature_changes_nothing(shop):
    services, ports, drop, buyer, order = shop
    intent_id = services.payments.pay(order.id, buyer, None).order.payment_reference
    ports.payment_gateway.authorize(intent_id)
    with pytest.raises(SignatureRefused):
        services.payments.on_provider_event(event(intent_id), "forged")
    assert ports.orders.get(order.id).status is OrderStatus.PAYING and ports.payment_gateway.captured() == []


def test_an_unreachable_provider_makes_the_webhook_503_so_it_comes_again(shop):
    services, ports, drop, buyer, order = shop
    intent_id = services.payments.pay(order.id, buyer, None).order.payment_reference
    ports.payment_gateway.authorize(intent_id)
    ports.payment_gateway.fail_next("retrieve", PaymentUnavailable("down"))
    with pytest.raises(Busy):
        services.payments.on_provider_event(event(intent_id), "good")
    assert services.payments.on_provider_event(event(intent_id), "good") == "paid"


# --- the paying window and reconciliation -----------------------------------------------------------


def test_a_paying_order_is_never_released_and_is_reconciled_after_its_window(shop, clock):
    services, ports, drop, buyer, order = shop
    services.payments.pay(order.id, buyer, None)
    clock.advance(WINDOW - 1)  # long past the 60 s hold
    assert services.checkout.release_expired() == 0 and services.payments.reconcile() == 0
    assert ports.orders.get(order.id).status is OrderStatus.PAYING and conservation(ports, drop) == (3, 2)
    clock.advance(1)
    assert services.payments.reconcile() == 1  # abandoned: its intent cancelled, the order back ...
    back = ports.orders.get(order.id)
    assert back.status is OrderStatus.RESERVED
    assert ports.payment_gateway.intents[back.payment_reference].status is IntentStatus.CANCELLED
    assert services.checkout.release_expired() == 1  # ... and, its hold long over, released
    assert conservation(ports, drop) == (5, 0)


@pytest.mark.parametrize("state, status, captured", [
    (IntentStatus.PENDING, OrderStatus.RESERVED, False),
    (IntentStatus.FAILED, OrderStatus.RESERVED, False),
    (IntentStatus.PROCESSING, OrderStatus.PAYING, False),
    (IntentStatus.AUTHORIZED, OrderStatus.PAID, True),
    (IntentStatus.CAPTURED, OrderStatus.PAID, True),
    (IntentStatus.CANCELLED, OrderStatus.RESERVED, False),
])
def test_reconciliation_settles_every_state_a_payment_can_be_left_in(shop, clock, state, status, captured):
    services, ports, drop, buyer, order = shop
    intent_id = services.payments.pay(order.id, buyer, None).order.payment_reference
    ports.payment_gateway.set_status(intent_id, state)
    clock.advance(WINDOW)
    services.payments.reconcile()
    after = ports.orders.get(order.id)
    assert after.status is status
    assert (ports.payment_gateway.captured() == [intent_id]) is captured and bool(after.captured_at) is captured
    if status is OrderStatus.RESERVED:
        assert ports.payment_gateway.intents[intent_id].status is IntentStatus.CANCELLED
    if status is OrderStatus.PAYING:  # processing: not cancellable; looked at again in a minute
        assert ports.store.orders[order.id].hold_until == int(clock.now().timestamp()) + 60
    released = services.checkout.release_expired()  # its hold long over: only a reservation goes
    assert released == (status is OrderStatus.RESERVED)
    assert conservation(ports, drop) == ((5, 0) if released else (3, 2))


def test_a_crash_between_creating_the_intent_and_recording_it_is_recovered(shop, clock):
    """The provider made the intent; the write that records it on the order failed. A retry finds
    the same intent by its idempotency key (same order, same attempt), not a second one; left
    alone, the attempt ends at its window without asking the provider: no client secret and no
    confirmation ever left for an intent not recorded, so nothing can be authorised on it."""
    services, ports, drop, buyer, order = shop
    ports.orders.fail_next("attach_intent", Busy())
    with pytest.raises(Busy):
        services.payments.pay(order.id, buyer, None)
    assert ports.orders.get(order.id).payment_reference is None
    (intent_id,) = ports.payment_gateway.intents
    assert services.payments.pay(order.id, buyer, None).order.payment_reference == intent_id  # the same one
    ports.orders.abort_payment(ports.orders.get(order.id), 1)  # (start over: the same crash, no retry)
    again, _ = ports.orders.begin_payment(order.id, buyer, 0, "stripe", int(clock.now().timestamp()) + WINDOW)
    ports.orders.fail_next("attach_intent", Busy())
    with pytest.raises(Busy):
        services.payments.pay(order.id, buyer, None)
    calls = len(ports.payment_gateway.requests)
    clock.advance(WINDOW)
    assert services.payments.reconcile() == 1
    assert ports.orders.get(order.id).status is OrderStatus.RESERVED
    assert len(ports.payment_gateway.requests) == calls  # the provider was not asked


def test_a_cancel_never_voids_an_authorisation_another_path_has_written_paid(shop, clock):
    """Reconciliation sees the intent unconfirmed past its window; before its cancel lands, the
    browser confirms and the webhook writes the order paid. The order is claimed first (back to
    reserved, conditionally), so either the webhook's paid write or reconciliation's claim wins,
    never both: no paid order with a voided authorisation."""
    services, ports, drop, buyer, order = shop
    intent_id = services.payments.pay(order.id, buyer, None).order.payment_reference
    clock.advance(WINDOW)

    def the_browser_and_the_webhook_first():
        ports.payment_gateway.authorize(intent_id)
        assert services.payments.on_provider_event(event(intent_id), "good") == "paid"

    ports.orders.before_next("abort_payment", the_browser_and_the_webhook_first)
    services.payments.reconcile()
    after = ports.orders.get(order.id)
    assert after.status is OrderStatus.PAID and after.captured_at
    assert ports.payment_gateway.intents[intent_id].status is IntentStatus.CAPTURED  # charged, not voided


def test_a_refund_asked_while_the_capture_lands_stays_due_until_it_is_done(shop, clock):
    services, ports, drop, buyer, order = shop
    ports.payment_gateway.fail_next("capture", PaymentUnavailable("timeout"))
    paid = services.payments.pay(order.id, buyer, "pm_card_visa").order
    ports.payment_gateway.fail_next("cancel", PaymentUnavailable("down"))  # the void of the refund fails
    with pytest.raises(PaymentOutcomeUnknown):
        services.payments.refund(order.id, paid.brand_id)
    ports.orders.record_capture(order.id, "2026-11-23T10:00:00.000Z")  # a capture that was in flight lands
    clock.advance(60)
    ports.payment_gateway.set_status(paid.payment_reference, IntentStatus.CAPTURED)
    assert services.payments.reconcile() == 1  # still due: the refund is finished
    assert ports.orders.get(order.id).refunded_at


def test_one_order_failing_does_not_stop_reconciliation_of_the_others(world, clock):
    services, ports = world
    drop = open_drop(services, quantity=5)
    first_buyer, second_buyer = services.shoppers.register()[0], services.shoppers.register()[0]
    first, _ = buy(services, first_buyer, drop.session_id, {drop.product_id: 1})
    second, _ = buy(services, second_buyer, drop.session_id, {drop.product_id: 1})
    broken = services.payments.pay(first.id, first_buyer, None).order.payment_reference
    services.payments.pay(second.id, second_buyer, None)
    clock.advance(WINDOW)
    ports.payment_gateway.fail_next("retrieve", RuntimeError("a bug, say"))
    assert services.payments.reconcile() == 1
    statuses = {ports.orders.get(o.id).payment_reference: ports.orders.get(o.id).status for o in (first, second)}
    assert statuses[broken] is OrderStatus.PAYING and OrderStatus.RESERVED in statuses.values()
    clock.advance(60)
    assert services.payments.reconcile() == 1  # looked at again a minute later


def test_a_lost_answer_from_the_provider_then_a_retry_charges_once(shop):
    services, ports, drop, buyer, order = shop
    ports.payment_gateway.lose_next("confirm")  # authorised at the provider; we never heard
    with pytest.raises(PaymentOutcomeUnknown):
        services.payments.pay(order.id, buyer, "pm_card_visa")
    assert ports.orders.get(order.id).status is OrderStatus.PAYING
    paid = services.payments.pay(order.id, buyer, "pm_card_visa").order
    assert paid.status is OrderStatus.PAID
    assert [m for m, _ in ports.payment_gateway.requests].count("confirm") == 1
    assert len(ports.payment_gateway.captured()) == 1


def test_a_crash_between_the_authorisation_and_the_paid_write_is_recovered_by_reconciliation(shop, clock):
    services, ports, drop, buyer, order = shop
    ports.orders.fail_next("finish_payment", Busy())
    with pytest.raises(Busy):
        services.payments.pay(order.id, buyer, "pm_card_visa")
    assert ports.orders.get(order.id).status is OrderStatus.PAYING and ports.payment_gateway.captured() == []
    clock.advance(WINDOW)
    assert services.payments.reconcile() == 1
    paid = ports.orders.get(order.id)
    assert paid.status is OrderStatus.PAID and ports.payment_gateway.captured() == [paid.payment_reference]


def test_a_capture_that_did_not_go_through_is_done_by_reconciliation(shop, clock):
    services, ports, drop, buyer, order = shop
    ports.payment_gateway.fail_next("capture", PaymentUnavailable("timeout"))
    paid = services.payments.pay(order.id, buyer, "pm_card_visa").order
    assert paid.status is OrderStatus.PAID and paid.captured_at is None  # paid: the sale is ours
    assert services.payments.reconcile() == 0  # not due yet
    clock.advance(60)
    assert services.payments.reconcile() == 1
    assert ports.orders.get(order.id).captured_at and ports.payment_gateway.captured() == [paid.payment_reference]


# --- refunds -----------------------------------------------------------------------------------------


def test_a_refund_is_made_once_and_recorded_on_the_order(shop):
    services, ports, drop, buyer, order = shop
    paid = services.payments.pay(order.id, buyer, "pm_card_visa").order
    brand = paid.brand_id
    refunded = services.payments.refund(order.id, brand)
    assert refunded.status is OrderStatus.PAID and refunded.refunded_at and refunded.refund_reference.startswith("re_")
    assert services.payments.refund(order.id, brand) == refunded
    assert [m for m, _ in ports.payment_gateway.requests].count("refund") == 1
    assert conservation(ports, drop) == (3, 2)  # the units stay sold


def test_a_refund_before_the_capture_voids_the_authorisation(shop, clock):
    services, ports, drop, buyer, order = shop
    ports.payment_gateway.fail_next("capture", PaymentUnavailable("timeout"))
    paid = services.payments.pay(order.id, buyer, "pm_card_visa").order
    refunded = services.payments.refund(order.id, paid.brand_id)
    assert refunded.refund_reference == paid.payment_reference
    assert ports.payment_gateway.intents[paid.payment_reference].status is IntentStatus.CANCELLED
    clock.advance(120)
    services.payments.reconcile()
    assert ports.payment_gateway.captured() == []  # never captured after the refund


def test_a_refund_interrupted_is_finished_by_reconciliation(shop, clock):
    services, ports, drop, buyer, order = shop
    paid = services.payments.pay(order.id, buyer, "pm_card_visa").order
    ports.payment_gateway.lose_next("refund")
    with pytest.raises(PaymentOutcomeUnknown):
        services.payments.refund(order.id, paid.brand_id)
    clock.advance(60)
    assert services.payments.reconcile() == 1
    assert ports.orders.get(order.id).refunded_at
    assert [m for m, _ in ports.payment_gateway.requests].count("refund") == 2  # the same key, once made


def test_only_the_selling_brand_refunds_and_only_a_paid_order(shop):
    services, ports, drop, buyer, order = shop
    with pytest.raises(OrderNotRefundable):
        services.payments.refund(order.id, order.brand_id)
    services.payments.pay(order.id, buyer, "pm_card_visa")
    with pytest.raises(NotFound):
        services.payments.refund(order.id, "brd_someoneelse0000000000000")


# --- the rule ---------------------------------------------------------------------------------------


def test_nothing_is_captured_unless_the_order_is_paid_with_that_intent(shop):
    """Over every order state and intent state, the rule asks for a capture only of an intent the
    order is paid with (or about to be written paid with, its own attempt under way)."""
    from dataclasses import replace

    services, ports, drop, buyer, order = shop
    intent = ports.payment_gateway.create_intent(order, 1)
    for status in OrderStatus:
        for attempt, reference in ((1, intent.id), (2, "pi_other")):
            shaped = replace(order, status=status, payment_attempt=attempt, payment_reference=reference)
            for state in IntentStatus:
                step = next_step(shaped, replace(intent, status=state), now_epoch=0)
                if step in (Step.CAPTURE, Step.RECORD_CAPTURE):
                    assert status is OrderStatus.PAID and reference == intent.id
                if step is Step.MARK_PAID:
                    assert status is OrderStatus.PAYING and attempt == 1
                if status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.RESERVED):
                    assert step in (Step.VOID, Step.NOTHING, Step.REFUND, Step.WAIT)


def test_reconciliation_stops_at_its_budget_and_leaves_the_rest_due(shop, clock):
    services, ports, drop, buyer, order = shop
    services.payments.pay(order.id, buyer, None)
    clock.advance(WINDOW)
    assert services.payments.reconcile(budget_seconds=0) == 0  # its time was up before the first order
    assert ports.orders.get(order.id).status is OrderStatus.PAYING
    assert services.payments.reconcile(budget_seconds=45) == 1


def test_a_paid_order_whose_authorisation_lapsed_is_logged_daily_not_every_minute(shop, clock, caplog):
    services, ports, drop, buyer, order = shop
    ports.payment_gateway.fail_next("capture", PaymentUnavailable("timeout"))
    paid = services.payments.pay(order.id, buyer, "pm_card_visa").order
    ports.payment_gateway.set_status(paid.payment_reference, IntentStatus.CANCELLED)  # voided by the provider
    clock.advance(60)
    services.payments.reconcile()
    assert "authorisation lapsed" in caplog.text
    assert ports.store.orders[order.id].hold_until == int(clock.now().timestamp()) + 24 * 3600
    assert ports.orders.get(order.id).status is OrderStatus.PAID and ports.payment_gateway.captured() == []


def test_cancelling_while_paying_cancels_the_intent_first_unless_it_was_authorised(shop):
    services, ports, drop, buyer, order = shop
    reads = ports.orders.calls["get"]
    plain, _ = buy(services, buyer, drop.session_id, {drop.product_id: 1}, key="plain")
    assert services.payments.cancel(plain.id, buyer).status is OrderStatus.CANCELLED
    assert ports.orders.calls["get"] - reads == 1  # a reserved order: one read, as before payments
    intent_id = services.payments.pay(order.id, buyer, None).order.payment_reference
    assert services.payments.cancel(order.id, buyer).status is OrderStatus.CANCELLED
    assert ports.payment_gateway.intents[intent_id].status is IntentStatus.CANCELLED
    assert conservation(ports, drop) == (5, 0)

    again, _ = buy(services, buyer, drop.session_id, {drop.product_id: 1}, key="second")
    intent_id = services.payments.pay(again.id, buyer, None).order.payment_reference
    ports.payment_gateway.authorize(intent_id)  # the browser confirmed just before the tap on Cancel
    with pytest.raises(OrderNotCancellable):
        services.payments.cancel(again.id, buyer)
    assert ports.orders.get(again.id).status is OrderStatus.PAID and ports.payment_gateway.captured() == [intent_id]
    with pytest.raises(NotFound):
        services.payments.cancel("ord_" + "0" * 24, buyer)  # nothing to cancel
