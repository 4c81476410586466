"""The Stripe gateway (chalicelib/adapters/stripe_payments.py) through Stripe's own SDK against the
local fake of Stripe's API (tests/stripe_fake.py) on 127.0.0.1. No DynamoDB, no network beyond
loopback, no sleeping: the SDK's retry backoff is set to zero seconds here (its retries still run).
"""
from __future__ import annotations

import hashlib
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chalicelib.adapters.stripe_payments import StripeGateway
from chalicelib.domain.drops import OrderStatus
from chalicelib.domain.money import Money
from chalicelib.domain.payments import (
    EventRejected, IntentStateConflict, IntentStatus, PaymentRefused, PaymentUnavailable, ProviderEvent,
)
from chalicelib.domain.records import Order, OrderLine
from tests.stripe_fake import sign, start_fake_stripe

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "sk_test_" + secrets.token_hex(16)
WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """The SDK sleeps 0.5 s or more before each retry; here it retries at once."""
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, num_retries: 0.0)


@pytest.fixture
def fake():
    server = start_fake_stripe()
    yield server
    server.stop()


class Secret:
    """A secret as the gateway reads it (a callable), counting reads."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.reads = 0

    def __call__(self) -> str:
        self.reads += 1
        return self.value


def gateway_for(fake, retries: int = 2, secret_key: str = SECRET_KEY, api_base: str | None = None) -> StripeGateway:
    return StripeGateway(Secret(secret_key), Secret(WEBHOOK_SECRET), "pk_test_livedrop",
                         api_base or fake.url, timeout=5.0, retries=retries)


@pytest.fixture
def gateway(fake):
    return gateway_for(fake)


def make_order(amount: int = 4900, currency: str = "EUR") -> Order:
    unit = Money(amount // 2, currency)
    return Order(
        id="ord_" + secrets.token_hex(12), shopper_id="shp_" + secrets.token_hex(8),
        session_id="ses_" + secrets.token_hex(8), brand_id="brd_" + secrets.token_hex(8),
        status=OrderStatus.PAYING, lines=(OrderLine("prd_" + secrets.token_hex(8), 2, unit, {0: 2}, True),),
        total=unit.times(2), request_hash="h", created_at="2026-11-22T20:00:00.000Z",
        expires_at=int(time.time()) + 600, payment_attempt="1", version=2,
    )


def authorized(gateway, fake):
    order = make_order()
    intent = gateway.create_intent(order, 1)
    fake.authorize(intent.id)
    return order, intent


def captured(gateway, fake):
    order, intent = authorized(gateway, fake)
    assert gateway.capture(intent.id, order.id, 1).status is IntentStatus.CAPTURED
    return order, intent


def posts(fake, path):
    return [call for call in fake.calls if call[0] == "POST" and call[1] == path]


def assert_no_secret(error: BaseException | None, *more: str) -> None:
    """Neither the message, nor the args, nor anything chained onto the error names a secret."""
    while error is not None:
        text = " ".join([str(error), repr(error), *map(str, error.args)])
        for secret in (SECRET_KEY, WEBHOOK_SECRET, *more):
            assert secret not in text
        assert "sk_test_" not in text and "whsec_" not in text and "_secret_" not in text
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)


# --- create ------------------------------------------------------------------------------------------


def test_create_is_idempotent_on_order_and_attempt(gateway, fake):
    order = make_order()
    first = gateway.create_intent(order, 1)
    again = gateway.create_intent(order, 1)

    assert again.id == first.id and fake.intent_ids() == [first.id]
    creates = posts(fake, "/v1/payment_intents")
    assert [key for *_, key in creates] == [f"livedrop:{order.id}:1:create"] * 2
    params = creates[0][2]
    assert params == creates[1][2] == {
        "amount": "4900", "currency": "eur", "capture_method": "manual",
        "automatic_payment_methods": {"enabled": "true", "allow_redirects": "never"},
        "metadata": {"order_id": order.id, "attempt": "1", "brand_id": order.brand_id,
                     "session_id": order.session_id},
    }
    assert first.status is IntentStatus.PENDING and first.failure is None
    assert (first.order_id, first.attempt, first.amount, first.currency) == (order.id, 1, 4900, "EUR")
    assert first.client_secret == fake.intent(first.id)["client_secret"]
    assert first.client_secret.startswith(first.id + "_secret_")
    assert "_secret_" not in repr(first)
    assert fake.intent(first.id)["capture_method"] == "manual"


def test_another_attempt_is_another_intent(gateway, fake):
    order = make_order()
    assert gateway.create_intent(order, 1).id != gateway.create_intent(order, 2).id
    assert len(fake.intent_ids()) == 2


def test_an_answer_lost_on_the_way_back_is_replayed_by_the_sdks_retry(gateway, fake):
    """Stripe made the intent but the answer never came: the retry, with the same key, gets it."""
    order = make_order()
    fake.drop_next_response()
    intent = gateway.create_intent(order, 1)

    assert fake.intent_ids() == [intent.id]
    assert [key for *_, key in posts(fake, "/v1/payment_intents")] == [f"livedrop:{order.id}:1:create"] * 2


def test_an_answer_lost_without_retries_is_unavailable_and_a_later_create_finds_the_same_intent(fake):
    """The crash case: the outcome was unknown, and reconciliation's create gets the intent back."""
    gateway = gateway_for(fake, retries=0)
    order = make_order()
    fake.drop_next_response()
    with pytest.raises(PaymentUnavailable):
        gateway.create_intent(order, 1)
    (made,) = fake.intent_ids()

    assert gateway.create_intent(order, 1).id == made
    assert fake.intent_ids() == [made]


# --- confirm -----------------------------------------------------------------------------------------


def test_confirm_with_a_good_card_authorizes(gateway, fake):
    order = make_order()
    intent = gateway.create_intent(order, 1)
    confirmed = gateway.confirm(intent.id, "pm_card_visa", order.id, 1)

    assert confirmed.id == intent.id and confirmed.status is IntentStatus.AUTHORIZED and confirmed.failure is None
    assert fake.intent(intent.id)["amount_capturable"] == 4900
    (call,) = posts(fake, f"/v1/payment_intents/{intent.id}/confirm")
    digest = hashlib.sha256(b"pm_card_visa").hexdigest()[:16]
    assert call[2] == {"payment_method": "pm_card_visa"}
    assert call[3] == f"livedrop:{order.id}:1:confirm:{digest}"


@pytest.mark.parametrize("payment_method, failure", [
    ("pm_card_chargeDeclined", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
])
def test_a_decline_is_an_answer_not_an_exception(gateway, fake, payment_method, failure):
    order = make_order()
    intent = gateway.create_intent(order, 1)
    declined = gateway.confirm(intent.id, payment_method, order.id, 1)

    assert declined.status is IntentStatus.FAILED and declined.failure == failure
    assert fake.intent(intent.id)["status"] == "requires_payment_method"
    assert gateway.retrieve(intent.id).status is IntentStatus.FAILED
    # the same confirmation again is Stripe's first answer replayed: still a decline, still no exception
    assert gateway.confirm(intent.id, payment_method, order.id, 1).failure == failure


def test_after_a_decline_another_card_can_authorize(gateway, fake):
    order = make_order()
    intent = gateway.create_intent(order, 1)
    gateway.confirm(intent.id, "pm_card_chargeDeclined", order.id, 1)

    assert gateway.confirm(intent.id, "pm_card_visa", order.id, 1).status is IntentStatus.AUTHORIZED


def test_a_card_that_needs_authentication_leaves_the_intent_pending(gateway, fake):
    order = make_order()
    intent = gateway.create_intent(order, 1)
    pending = gateway.confirm(intent.id, "pm_card_threeDSecure2Required", order.id, 1)

    assert pending.status is IntentStatus.PENDING and pending.client_secret == intent.client_secret
    assert fake.intent(intent.id)["status"] == "requires_action"


def test_confirming_an_intent_no_longer_confirmable_is_a_conflict_with_its_state(gateway, fake):
    order, intent = authorized(gateway, fake)
    with pytest.raises(IntentStateConflict) as caught:
        gateway.confirm(intent.id, "pm_card_mastercard", order.id, 1)
    assert caught.value.intent.id == intent.id and caught.value.intent.status is IntentStatus.AUTHORIZED
    assert_no_secret(caught.value, intent.client_secret)


def test_a_decline_through_stripe_js_reads_as_failed(gateway, fake):
    intent = gateway.create_intent(make_order(), 1)
    fake.decline(intent.id)
    assert gateway.retrieve(intent.id).failure == "generic_decline"


# --- capture and cancel ------------------------------------------------------------------------------


def test_capture_takes_the_money_and_a_second_capture_returns_it_captured(gateway, fake):
    order, intent = authorized(gateway, fake)
    first = gateway.capture(intent.id, order.id, 1)
    again = gateway.capture(intent.id, order.id, 1)

    assert first.status is again.status is IntentStatus.CAPTURED
    assert fake.intent(intent.id)["amount_received"] == 4900
    # No key of ours (Stripe would replay a 500 for 24 h): the state machine makes it idempotent.
    assert not any((key or "").startswith("livedrop:") for *_, key in posts(fake, f"/v1/payment_intents/{intent.id}/capture"))


def test_capturing_an_intent_already_captured_under_another_key_returns_it(gateway, fake):
    order, intent = authorized(gateway, fake)
    fake.set_status(intent.id, "succeeded")  # captured elsewhere (the dashboard, an earlier attempt)
    assert gateway.capture(intent.id, order.id, 1).status is IntentStatus.CAPTURED


@pytest.mark.parametrize("status, seen", [("canceled", IntentStatus.CANCELLED),
                                          ("requires_payment_method", IntentStatus.PENDING)])
def test_capturing_an_intent_not_capturable_is_a_conflict_with_its_state(gateway, fake, status, seen):
    order = make_order()
    intent = gateway.create_intent(order, 1)
    fake.set_status(intent.id, status)
    with pytest.raises(IntentStateConflict) as caught:
        gateway.capture(intent.id, order.id, 1)
    assert caught.value.intent.status is seen and caught.value.intent.id == intent.id


def test_cancel_abandons_the_intent_and_a_cancelled_one_is_returned(gateway, fake):
    order, intent = authorized(gateway, fake)
    cancelled = gateway.cancel(intent.id, order.id, 1)

    assert cancelled.status is IntentStatus.CANCELLED
    assert fake.intent(intent.id)["cancellation_reason"] == "abandoned"
    (call,) = posts(fake, f"/v1/payment_intents/{intent.id}/cancel")
    assert call[2] == {"cancellation_reason": "abandoned"} and not (call[3] or "").startswith("livedrop:")
    assert gateway.cancel(intent.id, order.id, 1).status is IntentStatus.CANCELLED  # replayed
    assert gateway.cancel(intent.id, order.id, 2).status is IntentStatus.CANCELLED  # already canceled


@pytest.mark.parametrize("status, seen", [("succeeded", IntentStatus.CAPTURED),
                                          ("processing", IntentStatus.PROCESSING)])
def test_cancelling_a_paid_intent_is_a_conflict_with_its_state(gateway, fake, status, seen):
    order = make_order()
    intent = gateway.create_intent(order, 1)
    fake.set_status(intent.id, status)
    with pytest.raises(IntentStateConflict) as caught:
        gateway.cancel(intent.id, order.id, 1)
    assert caught.value.intent.status is seen


# --- refund ------------------------------------------------------------------------------------------


def test_refund_is_idempotent_per_intent(gateway, fake):
    order, intent = captured(gateway, fake)
    refund_id = gateway.refund(intent.id, order.id, 4900)

    assert refund_id.startswith("re_")
    assert gateway.refund(intent.id, order.id, 4900) == refund_id
    calls = posts(fake, "/v1/refunds")
    assert [call[2] for call in calls] == [{"payment_intent": intent.id, "amount": "4900"}] * 2
    assert [call[3] for call in calls] == [f"livedrop:{order.id}:{intent.id}:refund"] * 2


def test_a_refund_already_made_is_found_and_returned(gateway, fake):
    """Stripe says charge_already_refunded (the refund was made under another key): its id."""
    order, intent = captured(gateway, fake)
    earlier = gateway_for(fake).refund(intent.id, "ord_someone_else", 4900)

    assert gateway.refund(intent.id, order.id, 4900) == earlier
    assert ("GET", "/v1/refunds", {"payment_intent": intent.id, "limit": "1"}, None) in fake.calls


def test_refunding_an_uncaptured_intent_is_a_conflict(gateway, fake):
    order, intent = authorized(gateway, fake)
    with pytest.raises(IntentStateConflict) as caught:
        gateway.refund(intent.id, order.id, 4900)
    assert caught.value.intent.status is IntentStatus.AUTHORIZED


# --- the provider unavailable, or refusing -----------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429])
def test_failures_beyond_the_sdks_retries_are_unavailable(fake, status):
    gateway = gateway_for(fake, retries=2)
    order = make_order()
    fake.fail_next(3, status=status)
    with pytest.raises(PaymentUnavailable) as caught:
        gateway.create_intent(order, 1)

    assert fake.intent_ids() == []
    assert_no_secret(caught.value)
    # the SDK retried 5xx (with the same key), not 429
    expected = 3 if status >= 500 else 1
    assert [key for *_, key in fake.calls] == [f"livedrop:{order.id}:1:create"] * expected


def test_failures_within_the_sdks_retries_are_retried_with_the_same_key(fake):
    gateway = gateway_for(fake, retries=2)
    order = make_order()
    fake.fail_next(2)
    intent = gateway.create_intent(order, 1)

    assert fake.intent_ids() == [intent.id]
    assert [key for *_, key in fake.calls] == [f"livedrop:{order.id}:1:create"] * 3


def test_a_provider_that_cannot_be_reached_is_unavailable(fake):
    fake.stop()  # nothing listens on its port any more
    gateway = gateway_for(fake, retries=1)
    with pytest.raises(PaymentUnavailable) as caught:
        gateway.retrieve("pi_anything")
    assert_no_secret(caught.value)


def test_each_call_maps_5xx_to_unavailable(gateway, fake):
    order, intent = authorized(gateway, fake)
    calls = [
        lambda: gateway.retrieve(intent.id),
        lambda: gateway.confirm(intent.id, "pm_card_visa", order.id, 1),
        lambda: gateway.capture(intent.id, order.id, 1),
        lambda: gateway.cancel(intent.id, order.id, 1),
        lambda: gateway.refund(intent.id, order.id, 4900),
    ]
    for call in calls:
        fake.fail_next(3)
        with pytest.raises(PaymentUnavailable):
            call()
    assert fake.intent(intent.id)["status"] == "requires_capture"


@pytest.mark.parametrize("wrong", ["sk_live_" + secrets.token_hex(16), "not-a-stripe-key-" + secrets.token_hex(8)])
def test_a_wrong_api_key_is_refused_without_naming_the_key(fake, wrong):
    """Stripe (and the fake) answer 401 "Invalid API Key provided: <key masked but for its ends>"."""
    gateway = gateway_for(fake, secret_key=wrong)
    with pytest.raises(PaymentRefused) as caught:
        gateway.create_intent(make_order(), 1)
    message = str(caught.value)
    assert "401" in message and "Invalid API Key provided: [redacted]" in message
    assert_no_secret(caught.value, wrong, wrong[:8], "sk_live_")


def test_other_refusals_carry_stripes_code(gateway, fake):
    with pytest.raises(PaymentRefused) as caught:
        gateway.retrieve("pi_missing")
    assert caught.value.code == "resource_missing"


def test_the_same_key_with_other_parameters_is_refused(gateway, fake):
    order = make_order()
    gateway.create_intent(order, 1)
    changed = Order(**{**order.__dict__, "total": Money(5000, "EUR")})
    with pytest.raises(PaymentRefused) as caught:
        gateway.create_intent(changed, 1)
    assert caught.value.code == "idempotency_error"


# --- webhook events ----------------------------------------------------------------------------------


def test_a_correctly_signed_event_is_accepted(gateway, fake):
    _, intent = authorized(gateway, fake)
    body = fake.event("payment_intent.amount_capturable_updated", intent.id)
    event = gateway.verify_event(body, sign(body, WEBHOOK_SECRET))

    assert isinstance(event, ProviderEvent)
    assert event.type == "payment_intent.amount_capturable_updated" and event.intent_id == intent.id
    assert event.id.startswith("evt_")


def test_an_event_about_something_else_names_no_intent(gateway, fake):
    body = fake.event("charge.refunded", None)
    assert gateway.verify_event(body, fake.sign(body, WEBHOOK_SECRET)).intent_id is None


def test_events_are_verified_without_the_api_key_or_any_request(fake):
    gateway = gateway_for(fake)
    body = fake.event("payment_intent.canceled", None)
    gateway.verify_event(body, sign(body, WEBHOOK_SECRET))
    assert gateway._secret_key.reads == 0 and fake.calls == []


def rejected(gateway, body: bytes, signature: str | None) -> EventRejected:
    with pytest.raises(EventRejected) as caught:
        gateway.verify_event(body, signature)
    assert_no_secret(caught.value)
    assert str(caught.value)
    return caught.value


def test_events_that_are_refused(gateway, fake):
    body = fake.event("payment_intent.succeeded", gateway.create_intent(make_order(), 1).id)
    now = int(time.time())

    assert "signature" in str(rejected(gateway, body, sign(body, "whsec_" + secrets.token_hex(16))))
    assert "tolerance" in str(rejected(gateway, body, sign(body, WEBHOOK_SECRET, t=now - 301)))
    assert "Stripe-Signature" in str(rejected(gateway, body, None))
    rejected(gateway, body, "")
    rejected(gateway, body, "garbage")
    rejected(gateway, body + b" ", sign(body, WEBHOOK_SECRET))  # the body changed after signing
    not_json = b"<html>not json</html>"
    assert "JSON" in str(rejected(gateway, not_json, sign(not_json, WEBHOOK_SECRET)))
    not_utf8 = b"\xff\xfe{}"
    rejected(gateway, not_utf8, "t=1,v1=00")
    not_an_event = b'{"id": "x"}'
    rejected(gateway, not_an_event, sign(not_an_event, WEBHOOK_SECRET))
    # within the tolerance, an older signature is still good
    assert gateway.verify_event(body, sign(body, WEBHOOK_SECRET, t=now - 200)).type == "payment_intent.succeeded"


# --- cold start and secrets --------------------------------------------------------------------------


def test_the_sdk_and_the_secrets_wait_for_the_first_payment(fake):
    result = subprocess.run(
        [sys.executable, "-c", "import sys, chalicelib.adapters.stripe_payments; print('stripe' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

    gateway = gateway_for(fake)
    assert gateway._secret_key.reads == 0 and gateway.name == "stripe" and gateway.confirms_in_browser is True
    assert gateway.publishable_key == "pk_test_livedrop"
    order = make_order()
    intent = gateway.create_intent(order, 1)
    gateway.retrieve(intent.id)
    gateway.confirm(intent.id, "pm_card_visa", order.id, 1)
    assert gateway._secret_key.reads == 1


def test_no_exception_names_a_secret(gateway, fake):
    """Every exception the gateway raises, at once: none carries the keys or a client secret."""
    order = make_order()
    intent = gateway.create_intent(order, 1)
    errors: list[BaseException] = []
    fake.set_status(intent.id, "canceled")
    for call in (lambda: gateway.capture(intent.id, order.id, 1),
                 lambda: gateway.retrieve("pi_missing"),
                 lambda: gateway.verify_event(b"{}", sign(b"{}", "whsec_other"))):
        with pytest.raises(Exception) as caught:
            call()
        errors.append(caught.value)
    fake.fail_next(3)
    with pytest.raises(PaymentUnavailable) as caught:
        gateway.retrieve(intent.id)
    errors.append(caught.value)
    assert {type(e) for e in errors} == {IntentStateConflict, PaymentRefused, EventRejected, PaymentUnavailable}
    for error in errors:
        assert_no_secret(error, intent.client_secret)
