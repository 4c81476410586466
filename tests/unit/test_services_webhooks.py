"""The webhooks service on fakes and a clock the test moves: fan-out once per event and endpoint,
the retry schedule, Retry-After, 410, five days of failures, manual retries, rotation, and a
worker that dies holding a delivery."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook

from chalicelib.api.webhook_schemas import EventViews
from chalicelib.domain.drops import OrderStatus
from chalicelib.domain.errors import DeliveryInFlight, EndpointDisabled, InvalidInput, NotFound, TooManyEndpoints
from chalicelib.domain.ports import SendResult
from chalicelib.domain.webhooks import DEFAULT_RETRY_SCHEDULE, JITTER
from chalicelib.services.webhooks import LEASE_MS, MAX_ENDPOINTS
from tests.fakes import FakeClock, buy, fake_services, open_drop

URL = "https://hooks.example.com/livedrop"


@pytest.fixture
def world():
    clock = FakeClock()
    services, ports = fake_services(clock)
    drop = open_drop(services)
    return services, ports, clock, drop


def reserved_order(services, drop):
    order, _ = buy(services, "shp_a", drop.session_id, {drop.product_id: 1})
    return order


def publish_life(services, order, *statuses):
    """The order's stream records: inserted reserved, then each status in turn."""
    records, old = [(None, order)], order
    for version, status in enumerate(statuses, start=2):
        new = replace(old, status=status, version=version, closed_at="2026-11-23T10:00:00.000Z")
        records.append((old, new))
        old = new
    return services.webhooks.on_order_records(records, EventViews())


def test_each_event_goes_once_to_each_subscribed_endpoint(world):
    services, ports, clock, drop = world
    hooks = services.webhooks
    paid_only, _ = hooks.create(drop.brand_id, URL, ["order.paid"], None)
    everything, _ = hooks.create(drop.brand_id, URL + "/all", ["order.reserved", "order.paid"], None)
    order = replace(reserved_order(services, drop), version=1)

    assert publish_life(services, order, OrderStatus.PAYING, OrderStatus.PAID) == 3
    assert publish_life(services, order, OrderStatus.PAYING, OrderStatus.PAID) == 0  # the records again
    assert hooks.deliver_due() == 3
    sent = [(url, json.loads(body)["type"]) for url, _, body in ports.webhook_sender.calls]
    assert sorted(sent) == sorted([(URL, "order.paid"), (URL + "/all", "order.reserved"),
                                   (URL + "/all", "order.paid")])
    to_all = [json.loads(body) for url, _, body in ports.webhook_sender.calls if url == URL + "/all"]
    assert [e["type"] for e in to_all] == ["order.reserved", "order.paid"]  # in the order they happened
    assert [e["data"]["sequence"] for e in to_all] == [1, 3]
    assert to_all[1]["data"]["status"] == "paid" and to_all[1]["data"]["id"] == order.id
    assert hooks.deliver_due() == 0  # nothing twice
    assert {e.id for e in (paid_only, everything)} == {d.endpoint_id for d in ports.webhooks.deliveries.values()}


def test_signed_per_standard_webhooks(world):
    services, ports, _, drop = world
    endpoint, secret = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    publish_life(services, reserved_order(services, drop))
    services.webhooks.deliver_due()
    (_, headers, body), = ports.webhook_sender.calls
    assert Webhook(secret).verify(body.decode(), headers)["type"] == "order.reserved"
    assert secret not in json.dumps(headers) and secret not in body.decode()
    stored = ports.webhooks.get_endpoint(drop.brand_id, endpoint.id).secrets[0].ciphertext
    assert stored != secret


def failing(ports, status=500, times=1, retry_after=None):
    ports.webhook_sender.answer(URL, *[SendResult(status, retry_after=retry_after)] * times)


def test_retried_on_the_schedule_with_one_webhook_id(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    publish_life(services, reserved_order(services, drop))
    failing(ports, 500, times=2)
    assert services.webhooks.deliver_due() == 1
    (delivery,), _ = ports.webhooks.list_deliveries(endpoint.id, 10, None)
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_response_code == 500
    clock.advance(DEFAULT_RETRY_SCHEDULE[0] * (1 - JITTER) - 0.1)
    assert services.webhooks.deliver_due() == 0  # not before its time
    clock.advance(DEFAULT_RETRY_SCHEDULE[0] * 2 * JITTER + 0.2)
    assert services.webhooks.deliver_due() == 1
    clock.advance(DEFAULT_RETRY_SCHEDULE[1] * (1 + JITTER) + 1)
    assert services.webhooks.deliver_due() == 1
    ids = {headers["webhook-id"] for _, headers, _ in ports.webhook_sender.calls}
    assert len(ports.webhook_sender.calls) == 3 and len(ids) == 1
    (delivery,), _ = ports.webhooks.list_deliveries(endpoint.id, 10, None)
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("succeeded", 3, 204)
    assert ports.webhooks.get_endpoint(drop.brand_id, endpoint.id).failing_since is None  # a success clears it


def test_retries_end_when_the_schedule_does(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    publish_life(services, reserved_order(services, drop))
    failing(ports, 302, times=len(DEFAULT_RETRY_SCHEDULE) + 1)  # a redirect is a failure
    for _ in range(len(DEFAULT_RETRY_SCHEDULE) + 1):
        assert services.webhooks.deliver_due() == 1
        clock.advance(max(DEFAULT_RETRY_SCHEDULE) * 1.2)
    assert services.webhooks.deliver_due() == 0
    (delivery,), _ = ports.webhooks.list_deliveries(endpoint.id, 10, None)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_ms) == ("failed", 8, None)


def test_retry_after_is_honoured_on_429_and_503(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    publish_life(services, reserved_order(services, drop))
    failing(ports, 429, retry_after="120")
    services.webhooks.deliver_due()
    clock.advance(DEFAULT_RETRY_SCHEDULE[0] * 2)
    assert services.webhooks.deliver_due() == 0  # the receiver asked for two minutes
    clock.advance(120)
    assert services.webhooks.deliver_due() == 1


def test_410_disables_the_endpoint_at_once(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    publish_life(services, reserved_order(services, drop))
    failing(ports, 410)
    services.webhooks.deliver_due()
    gone = services.webhooks.get(drop.brand_id, endpoint.id)
    assert (gone.status, gone.disabled_reason) == ("disabled", "gone")
    (delivery,), _ = ports.webhooks.list_deliveries(endpoint.id, 10, None)
    assert delivery.status == "failed"
    publish_life(services, reserved_order(services, drop))
    assert len(ports.webhooks.deliveries) == 1  # nothing more is queued for it
    with pytest.raises(EndpointDisabled):
        services.webhooks.retry(drop.brand_id, endpoint.id, delivery.id)


def test_five_days_of_failures_disable_the_endpoint(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    failing(ports, 503, times=100)
    for day in range(6):
        publish_life(services, reserved_order(services, drop))
        services.webhooks.deliver_due()
        state = services.webhooks.get(drop.brand_id, endpoint.id)
        assert state.status == ("enabled" if day < 5 else "disabled"), day
        clock.advance(timedelta(days=1).total_seconds())
    assert state.disabled_reason == "failing"
    enabled = services.webhooks.update(drop.brand_id, endpoint.id, {"status": "enabled"})
    assert (enabled.status, enabled.disabled_reason, enabled.failing_since) == ("enabled", None, None)


def test_a_dead_worker_loses_nothing(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    publish_life(services, reserved_order(services, drop))
    (due,) = ports.webhooks.due(10**15, 10)
    now_ms = int(clock.now().timestamp() * 1000)
    assert ports.webhooks.claim(due, now_ms, now_ms + LEASE_MS, "dead-worker") is not None  # then it dies
    assert services.webhooks.deliver_due() == 0  # held by its lease
    clock.advance(LEASE_MS / 1000 + 1)
    assert services.webhooks.deliver_due() == 1
    (delivery,), _ = ports.webhooks.list_deliveries(endpoint.id, 10, None)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


def test_a_manual_retry_is_one_attempt_with_the_same_id(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    publish_life(services, reserved_order(services, drop))
    services.webhooks.deliver_due()
    (delivery,), _ = ports.webhooks.list_deliveries(endpoint.id, 10, None)
    assert delivery.status == "succeeded"
    failing(ports, 500)
    assert services.webhooks.retry(drop.brand_id, endpoint.id, delivery.id).status == "pending"
    assert services.webhooks.deliver_due() == 1
    clock.advance(10**6)
    assert services.webhooks.deliver_due() == 0  # no schedule after a manual attempt
    (delivery,), _ = ports.webhooks.list_deliveries(endpoint.id, 10, None)
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert len({h["webhook-id"] for _, h, _ in ports.webhook_sender.calls}) == 1
    with pytest.raises(NotFound):
        services.webhooks.retry(drop.brand_id, endpoint.id, "dlv_" + "0" * 24)
    now_ms = int(clock.now().timestamp() * 1000)
    services.webhooks.retry(drop.brand_id, endpoint.id, delivery.id)
    (held,) = ports.webhooks.due(now_ms, 10)
    ports.webhooks.claim(held, now_ms, now_ms + LEASE_MS, "busy")
    with pytest.raises(DeliveryInFlight):
        services.webhooks.retry(drop.brand_id, endpoint.id, delivery.id)


def test_rotation_signs_with_both_secrets_for_a_day(world):
    services, ports, clock, drop = world
    endpoint, old = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    rotated, new = services.webhooks.rotate(drop.brand_id, endpoint.id)
    assert new != old and len(rotated.secrets) == 2
    services.webhooks.ping(drop.brand_id, endpoint.id)
    services.webhooks.deliver_due()
    (_, headers, body), = ports.webhook_sender.calls
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body.decode(), headers)["type"] == "ping"
    clock.advance(timedelta(hours=24, seconds=1).total_seconds())
    services.webhooks.ping(drop.brand_id, endpoint.id)
    services.webhooks.deliver_due()
    _, headers, body = ports.webhook_sender.calls[-1]
    # A day on (beyond the library's 5-minute tolerance of its own clock): its signer says what is due.
    stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=timezone.utc)
    assert headers["webhook-signature"] == Webhook(new).sign(headers["webhook-id"], stamp, body.decode())
    assert Webhook(old).sign(headers["webhook-id"], stamp, body.decode()) not in headers["webhook-signature"]


def test_a_ping_reaches_a_disabled_endpoint_but_events_do_not(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    services.webhooks.update(drop.brand_id, endpoint.id, {"status": "disabled"})
    publish_life(services, reserved_order(services, drop))
    services.webhooks.ping(drop.brand_id, endpoint.id)
    assert services.webhooks.deliver_due() == 1
    assert [json.loads(b)["type"] for _, _, b in ports.webhook_sender.calls] == ["ping"]


def test_refused_urls_and_limits(world):
    services, ports, clock, drop = world
    ports.webhook_sender.refused[URL] = "resolves to 10.0.0.7, a private address"
    with pytest.raises(InvalidInput) as refused:
        services.webhooks.create(drop.brand_id, URL, ["order.paid"], None)
    assert refused.value.errors[0]["field"] == "url" and "10.0.0.7" in refused.value.detail
    with pytest.raises(InvalidInput):
        services.webhooks.create(drop.brand_id, "http://hooks.example.com/x", ["order.paid"], None)  # not https
    for n in range(MAX_ENDPOINTS):
        services.webhooks.create(drop.brand_id, f"https://hooks.example.com/{n}", ["order.paid"], None)
    with pytest.raises(TooManyEndpoints):
        services.webhooks.create(drop.brand_id, "https://hooks.example.com/one-more", ["order.paid"], None)


def test_another_brands_endpoint_is_not_found(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.paid"], None)
    other, _ = services.brands.create("Rival")
    for call in (lambda: services.webhooks.get(other.id, endpoint.id),
                 lambda: services.webhooks.update(other.id, endpoint.id, {"description": "mine"}),
                 lambda: services.webhooks.rotate(other.id, endpoint.id),
                 lambda: services.webhooks.ping(other.id, endpoint.id),
                 lambda: services.webhooks.deliveries(other.id, endpoint.id, 10, None, None),
                 lambda: services.webhooks.delete(other.id, endpoint.id)):
        with pytest.raises(NotFound):
            call()
    assert services.webhooks.get(drop.brand_id, endpoint.id).description is None


def test_a_failing_endpoint_holds_up_only_itself(world):
    """A dead endpoint with a backlog larger than a pass: one attempt to it, its backlog pushed back
    to its next attempt, and another brand's event goes within a few passes (no HTTP in them)."""
    services, ports, clock, drop = world
    down, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    order = reserved_order(services, drop)
    records = [(None, replace(order, id=f"ord_{n:024x}")) for n in range(300)]
    assert services.webhooks.on_order_records(records, EventViews()) == 300
    clock.advance(0.001)
    other = open_drop(services)
    up, _ = services.webhooks.create(other.brand_id, URL + "/up", ["order.reserved"], None)
    publish_life(services, reserved_order(services, other))
    failing(ports, 500, times=1000)
    passes = 0
    while not any(url == URL + "/up" for url, _, _ in ports.webhook_sender.calls):
        services.webhooks.deliver_due()
        passes += 1
        assert passes <= 4
    assert [url for url, _, _ in ports.webhook_sender.calls].count(URL) == 1
    (delivered,), _ = ports.webhooks.list_deliveries(up.id, 10, None)
    assert delivered.status == "succeeded"
    backlog, _ = ports.webhooks.list_deliveries(down.id, 1000, None)
    assert {d.next_attempt_ms for d in backlog if d.attempts == 0} == {
        next(d.next_attempt_ms for d in backlog if d.attempts == 1)}  # all wait for the failed one's retry
    clock.advance(DEFAULT_RETRY_SCHEDULE[0] * (1 + JITTER) + 0.1)
    services.webhooks.deliver_due()
    assert [url for url, _, _ in ports.webhook_sender.calls].count(URL) == 2  # one more try, not 300


def test_a_retry_pressed_on_a_pending_delivery_keeps_its_schedule(world):
    services, ports, clock, drop = world
    endpoint, _ = services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    publish_life(services, reserved_order(services, drop))
    failing(ports, 500, times=2)
    services.webhooks.deliver_due()
    (delivery,), _ = ports.webhooks.list_deliveries(endpoint.id, 10, None)
    services.webhooks.paused.clear()  # the brand's retry is an attempt now, pause or not
    assert services.webhooks.retry(drop.brand_id, endpoint.id, delivery.id).manual is False
    assert services.webhooks.deliver_due() == 1
    (delivery,), _ = ports.webhooks.list_deliveries(endpoint.id, 10, None)
    assert (delivery.status, delivery.attempts) == ("pending", 2)  # still on the schedule


def test_a_sweep_starts_no_attempt_after_its_budget(world):
    services, ports, clock, drop = world
    services.webhooks.create(drop.brand_id, URL, ["order.reserved"], None)
    for _ in range(3):
        publish_life(services, reserved_order(services, drop))
    started = clock.monotonic()
    original = ports.webhook_sender.send

    def slow(url, headers, body):
        clock.advance(10)  # each attempt takes 10 s of the budget
        return original(url, headers, body)

    ports.webhook_sender.send = slow
    assert services.webhooks.sweep(budget_seconds=15, poll_seconds=1) == 2
    assert clock.monotonic() - started <= 15 + 10  # the last attempt began inside the budget
