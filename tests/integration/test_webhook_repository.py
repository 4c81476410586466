"""The webhook repository on DynamoDB Local, and the secret box on the embedded stack's KMS (moto).

The tables are shared by the whole test session (and a sweeper in another test may read the due
index), so every case makes its own endpoint, places its due times where no real clock reaches
(the 1970s), and deletes its deliveries afterwards.
"""
from __future__ import annotations

import random
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from chalicelib.domain.clock import iso_ms, iso_of_ms
from chalicelib.domain.errors import InvalidInput, NotFound
from chalicelib.domain.ids import new_id
from chalicelib.domain.ports import WebhookDelivery, Endpoint, StoredSecret

T0 = "2026-11-22T20:00:00.000Z"


@pytest.fixture(scope="module")
def repo(aws_stack):
    from chalicelib.adapters import dynamodb
    from chalicelib.adapters.dynamodb.models import Db
    from chalicelib.adapters.dynamodb.support import Cursors
    from chalicelib.settings import get_settings

    settings = get_settings()
    dynamodb.bind(settings)
    return dynamodb.WebhookRepository(Db(settings.region, settings.dynamodb_endpoint,
                                         Cursors(lambda: "cursor-secret-for-tests")))


@pytest.fixture
def endpoint_id(repo):
    """An endpoint id of the test's own; its deliveries are deleted after it."""
    from chalicelib.adapters.dynamodb.models import WebhookDeliveryModel

    endpoint = new_id("whk")
    yield endpoint
    with WebhookDeliveryModel.batch_write() as batch:
        for row in WebhookDeliveryModel.query(endpoint, consistent_read=True):
            batch.delete(row)


@pytest.fixture
def window():
    """Due times (epoch ms) of the test's own, far before any real clock, one hour wide."""
    return random.randrange(1, 100_000) * 3_600_000


def a_delivery(endpoint_id: str, due_ms: int | None, created_at: str = T0, **fields) -> WebhookDelivery:
    delivery = WebhookDelivery(
        id="dlv_" + secrets.token_hex(12), endpoint_id=endpoint_id, brand_id="brd_test",
        event_id="evt_" + secrets.token_hex(12), event_type="order.paid", subject="ord_" + secrets.token_hex(4),
        sequence=3, body='{"type":"order.paid"}', created_at=created_at, next_attempt_ms=due_ms,
    )
    return replace(delivery, **fields)


def mine(deliveries: list[WebhookDelivery], endpoint_id: str) -> list[WebhookDelivery]:
    return [delivery for delivery in deliveries if delivery.endpoint_id == endpoint_id]


def raw_item(endpoint_id: str, delivery_id: str) -> dict:
    from chalicelib.adapters.dynamodb.models import WebhookDeliveryModel

    return WebhookDeliveryModel.get(endpoint_id, delivery_id, consistent_read=True).serialize()


# --- deliveries: the outbox --------------------------------------------------------------------------


def test_a_delivery_put_again_is_not_added_again(repo, endpoint_id, window):
    first = a_delivery(endpoint_id, window)
    assert repo.add_deliveries([first]) == 1
    again = replace(first, body='{"changed":true}', created_at="2027-01-01T00:00:00.000Z")
    other = a_delivery(endpoint_id, window)
    assert repo.add_deliveries([again, other]) == 1  # a stream record seen again: only `other` is new
    assert repo.get_delivery(endpoint_id, first.id) == first
    assert repo.get_delivery(endpoint_id, other.id) == other
    assert repo.get_delivery(endpoint_id, "dlv_missing") is None


def test_a_fan_out_of_many_deliveries_counts_each_new_one(repo, endpoint_id, window):
    deliveries = [a_delivery(endpoint_id, window + n) for n in range(120)]
    assert repo.add_deliveries(deliveries[:40]) == 40
    assert repo.add_deliveries(deliveries) == 80
    assert repo.add_deliveries([]) == 0


def test_a_delivery_expires_thirty_days_after_it_was_made(repo, endpoint_id, window):
    delivery = a_delivery(endpoint_id, window)
    repo.add_deliveries([delivery])
    item = raw_item(endpoint_id, delivery.id)
    assert int(item["expiresAt"]["N"]) == iso_ms(T0) // 1000 + 30 * 86400
    assert item["listKey"]["S"] == f"{T0}#{delivery.id}"


def test_due_is_earliest_first_across_shards_and_only_what_is_due(repo, endpoint_id, window):
    times = [window + 10 * n for n in range(40)]
    random.shuffle(times)
    repo.add_deliveries([a_delivery(endpoint_id, t) for t in times])
    repo.add_deliveries([a_delivery(endpoint_id, None)])  # pending, not due: never listed
    shards = {int(raw_item(endpoint_id, d.id)["dueShard"]["N"]) for d in repo.list_deliveries(endpoint_id, 100, None)[0]
              if d.next_attempt_ms is not None}
    assert len(shards) > 1  # 40 random shards of 8 are not all one

    now = window + 10 * 29
    due = repo.due(now, limit=1000)
    assert [d.next_attempt_ms for d in due] == sorted(d.next_attempt_ms for d in due)
    assert [d.next_attempt_ms for d in mine(due, endpoint_id)] == [window + 10 * n for n in range(30)]
    assert repo.due(now, limit=0) == []


def test_due_takes_the_earliest_when_limited(repo, endpoint_id):
    # Due times no other test uses (below any window): the earliest of all are these.
    times = list(range(1, 25))
    random.shuffle(times)
    repo.add_deliveries([a_delivery(endpoint_id, t) for t in times])
    assert [d.next_attempt_ms for d in repo.due(24, limit=5)] == [1, 2, 3, 4, 5]
    assert [d.next_attempt_ms for d in repo.due(3, limit=10)] == [1, 2, 3]


def test_twenty_workers_claiming_one_delivery_one_wins(repo, endpoint_id, window):
    delivery = a_delivery(endpoint_id, window)
    repo.add_deliveries([delivery])
    start = threading.Barrier(20)

    def claim(worker: int) -> WebhookDelivery | None:
        start.wait()
        return repo.claim(delivery, now_ms=window, lease_until_ms=window + 30_000, lease=f"worker-{worker}")

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(claim, range(20)))
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    stored = repo.get_delivery(endpoint_id, delivery.id)
    assert stored == winners[0]
    assert (stored.attempts, stored.status, stored.next_attempt_ms) == (1, "pending", window + 30_000)
    assert stored.lease.startswith("worker-") and stored.last_attempt_at == iso_of_ms(window)


def test_a_claim_needs_the_delivery_due_pending_and_at_the_attempts_read(repo, endpoint_id, window):
    delivery = a_delivery(endpoint_id, window + 1000)
    repo.add_deliveries([delivery])
    assert repo.claim(delivery, now_ms=window + 999, lease_until_ms=window + 9_000, lease="early") is None
    assert repo.claim(replace(delivery, attempts=1), now_ms=window + 1000, lease_until_ms=window + 9_000,
                      lease="stale read") is None
    assert repo.claim(a_delivery(endpoint_id, window), now_ms=window, lease_until_ms=window + 1, lease="none") is None
    assert repo.get_delivery(endpoint_id, delivery.id) == delivery  # nothing changed by the refusals


def test_a_dead_workers_delivery_is_due_again_when_its_lease_ends(repo, endpoint_id, window):
    delivery = a_delivery(endpoint_id, window)
    repo.add_deliveries([delivery])
    lease_ends = window + 30_000
    taken = repo.claim(delivery, now_ms=window, lease_until_ms=lease_ends, lease="dead")
    assert taken is not None and taken.attempts == 1
    # The worker dies: no finish. Until its lease ends the delivery is not due...
    assert delivery.id not in {d.id for d in repo.due(lease_ends - 1, limit=1000)}
    assert repo.claim(taken, now_ms=lease_ends - 1, lease_until_ms=lease_ends + 30_000, lease="too soon") is None
    # ...then it is, and the next worker takes it at its attempts so far.
    again = next(d for d in repo.due(lease_ends, limit=1000) if d.id == delivery.id)
    assert again.attempts == 1 and again.lease == "dead"
    retaken = repo.claim(again, now_ms=lease_ends, lease_until_ms=lease_ends + 30_000, lease="alive")
    assert retaken is not None and (retaken.attempts, retaken.lease) == (2, "alive")
    # The dead worker's late answer is not recorded; the live one's is.
    assert repo.finish(taken, "dead", "succeeded", None, 200, None) is False
    assert repo.finish(retaken, "alive", "succeeded", None, 204, None) is True
    done = repo.get_delivery(endpoint_id, delivery.id)
    assert (done.status, done.lease, done.next_attempt_ms, done.last_response_code) == ("succeeded", None, None, 204)
    assert "dueShard" not in raw_item(endpoint_id, delivery.id)
    assert delivery.id not in {d.id for d in repo.due(lease_ends + 10**9, limit=1000)}
    assert repo.finish(retaken, "alive", "failed", None, 500, None) is False  # the lease is gone with the finish


def test_a_failed_attempt_is_due_again_at_its_next_attempt(repo, endpoint_id, window):
    delivery = a_delivery(endpoint_id, window)
    repo.add_deliveries([delivery])
    taken = repo.claim(delivery, now_ms=window, lease_until_ms=window + 30_000, lease="w")
    assert repo.finish(taken, "w", "pending", window + 5_000, None, "timeout after 15 s") is True
    retry = repo.get_delivery(endpoint_id, delivery.id)
    assert (retry.status, retry.next_attempt_ms, retry.lease, retry.last_error, retry.last_response_code) == \
        ("pending", window + 5_000, None, "timeout after 15 s", None)
    assert [d.id for d in mine(repo.due(window + 5_000, limit=1000), endpoint_id)] == [delivery.id]
    taken = repo.claim(retry, now_ms=window + 5_000, lease_until_ms=window + 35_000, lease="w2")
    assert repo.finish(taken, "w2", "failed", None, 500, None) is True
    failed = repo.get_delivery(endpoint_id, delivery.id)
    assert (failed.status, failed.attempts, failed.last_response_code, failed.last_error) == ("failed", 2, 500, None)
    assert not mine(repo.due(window + 10**9, limit=1000), endpoint_id)


def test_a_brands_retry_requeues_a_delivery_not_in_flight(repo, endpoint_id, window):
    delivery = a_delivery(endpoint_id, window)
    repo.add_deliveries([delivery])
    taken = repo.claim(delivery, now_ms=window, lease_until_ms=window + 30_000, lease="w")
    assert repo.requeue(endpoint_id, delivery.id, window + 100, manual=True) is None  # in flight
    repo.finish(taken, "w", "failed", None, 410, None)
    requeued = repo.requeue(endpoint_id, delivery.id, window + 100, manual=True)
    assert requeued is not None
    assert (requeued.status, requeued.manual, requeued.next_attempt_ms, requeued.attempts) == \
        ("pending", True, window + 100, 1)
    assert requeued == repo.get_delivery(endpoint_id, delivery.id)
    assert [d.id for d in mine(repo.due(window + 100, limit=1000), endpoint_id)] == [delivery.id]
    assert repo.claim(requeued, now_ms=window + 100, lease_until_ms=window + 30_000, lease="manual") is not None
    assert repo.requeue(endpoint_id, "dlv_missing", window, manual=True) is None
    assert repo.get_delivery(endpoint_id, "dlv_missing") is None  # the refused requeue made nothing


# --- deliveries: the log ----------------------------------------------------------------------------


def made_at(n: int) -> str:
    return f"2026-11-22T20:00:{n:02d}.000Z"


def test_the_log_is_newest_first_page_by_page(repo, endpoint_id, window):
    deliveries = [a_delivery(endpoint_id, window, created_at=made_at(n)) for n in range(7)]
    repo.add_deliveries(deliveries)
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = repo.list_deliveries(endpoint_id, 3, cursor)
        seen += items
        pages += 1
        if cursor is None:
            break
    assert [d.created_at for d in seen] == [made_at(n) for n in reversed(range(7))]
    assert seen == list(reversed(deliveries)) and pages == 3


def test_the_log_filters_by_status(repo, endpoint_id, window):
    deliveries = [a_delivery(endpoint_id, window, created_at=made_at(n)) for n in range(8)]
    repo.add_deliveries(deliveries)
    for n in (1, 4, 6):
        taken = repo.claim(deliveries[n], now_ms=window, lease_until_ms=window + 1, lease="w")
        repo.finish(taken, "w", "failed", None, 500, None)
    first, cursor = repo.list_deliveries(endpoint_id, 2, None, status="failed")
    rest, last = repo.list_deliveries(endpoint_id, 2, cursor, status="failed")
    assert [d.created_at for d in first + rest] == [made_at(6), made_at(4), made_at(1)]
    assert {d.status for d in first + rest} == {"failed"}
    pending, _ = repo.list_deliveries(endpoint_id, 10, None, status="pending")
    assert len(pending) == 5
    assert repo.list_deliveries(endpoint_id, 10, None, status="succeeded") == ([], None)


def test_a_filtered_listing_reads_a_bounded_amount_and_says_where_to_go_on(repo, endpoint_id, window, monkeypatch):
    from chalicelib.adapters.dynamodb import webhooks

    monkeypatch.setattr(webhooks, "LISTING_PAGE", 2)
    monkeypatch.setattr(webhooks, "LISTING_READ", 4)
    deliveries = [a_delivery(endpoint_id, window, created_at=made_at(n)) for n in range(12)]
    repo.add_deliveries(deliveries)
    taken = repo.claim(deliveries[0], now_ms=window, lease_until_ms=window + 1, lease="w")
    repo.finish(taken, "w", "succeeded", None, 200, None)  # the oldest: the last one the listing reaches
    found, cursor, pages = [], None, 0
    while True:
        items, cursor = repo.list_deliveries(endpoint_id, 5, cursor, status="succeeded")
        found += items
        pages += 1
        if cursor is None:
            break
    assert [d.id for d in found] == [deliveries[0].id]
    assert pages == 3  # 12 items read 4 at most per listing: two empty pages, each with a cursor


def test_a_log_cursor_opens_only_its_endpoints_log(repo, endpoint_id, window):
    repo.add_deliveries([a_delivery(endpoint_id, window, created_at=made_at(n)) for n in range(3)])
    _, cursor = repo.list_deliveries(endpoint_id, 1, None)
    assert cursor is not None
    with pytest.raises(InvalidInput):
        repo.list_deliveries(new_id("whk"), 1, cursor)
    with pytest.raises(InvalidInput):
        repo.list_deliveries(endpoint_id, 1, cursor[:-2] + "xx")
    assert len(repo.list_deliveries(endpoint_id, 5, cursor)[0]) == 2


# --- endpoints --------------------------------------------------------------------------------------


def an_endpoint(brand_id: str, **fields) -> Endpoint:
    endpoint = Endpoint(
        id=new_id("whk"), brand_id=brand_id, url="https://receiver.example.com/hooks", events=("order.paid",),
        description="orders", status="enabled", disabled_reason=None,
        secrets=(StoredSecret("Y2lwaGVy", T0),), created_at=T0, updated_at=T0,
    )
    return replace(endpoint, **fields)


def test_endpoints_are_added_read_and_listed_oldest_first_per_brand(repo):
    brand, other = new_id("brd"), new_id("brd")
    endpoints = [an_endpoint(brand) for _ in range(5)]
    for endpoint in endpoints:
        repo.add_endpoint(endpoint)
    repo.add_endpoint(an_endpoint(other))
    with pytest.raises(Exception) as duplicate:
        repo.add_endpoint(replace(endpoints[0], url="https://elsewhere.example.com"))
    assert getattr(duplicate.value, "cause_response_code", None) == "ConditionalCheckFailedException"

    assert repo.get_endpoint(brand, endpoints[0].id) == endpoints[0]
    assert repo.get_endpoint(other, endpoints[0].id) is None
    oldest_first = sorted(endpoints, key=lambda endpoint: endpoint.id)  # ids are time-ordered (to the ms)
    first, cursor = repo.list_endpoints(brand, 3, None)
    rest, last = repo.list_endpoints(brand, 3, cursor)
    assert first + rest == oldest_first and last is None
    with pytest.raises(InvalidInput):
        repo.list_endpoints(other, 3, cursor)
    products_cursor = repo.db.cursors.encode({"brandId": {"S": brand}, "id": {"S": "prd_x"}}, ("brandId", brand))
    with pytest.raises(InvalidInput):  # the brand's product listing's cursor is not this listing's
        repo.list_endpoints(brand, 3, products_cursor)
    assert repo.endpoints_of(brand) == oldest_first
    assert repo.endpoints_of(new_id("brd")) == []


def test_an_endpoint_with_no_events_and_every_secret_field(repo):
    brand = new_id("brd")
    endpoint = an_endpoint(brand, events=(), description=None, secrets=(
        StoredSecret("bmV3", T0), StoredSecret("b2xk", "2026-11-01T00:00:00.000Z", "2026-11-23T20:00:00.000Z")))
    repo.add_endpoint(endpoint)
    assert repo.get_endpoint(brand, endpoint.id) == endpoint


def test_an_endpoint_changes_field_by_field(repo):
    brand = new_id("brd")
    endpoint = an_endpoint(brand)
    repo.add_endpoint(endpoint)
    rotated = (StoredSecret("bmV3", made_at(1)), StoredSecret("Y2lwaGVy", T0, made_at(2)))
    changed = repo.update_endpoint(brand, endpoint.id, {
        "url": "https://new.example.com/h", "events": ["order.paid", "session.live"], "description": None,
        "secrets": rotated, "failing_since": made_at(3)}, at=made_at(4))
    assert changed == replace(endpoint, url="https://new.example.com/h", events=("order.paid", "session.live"),
                              description=None, secrets=rotated, failing_since=made_at(3), updated_at=made_at(4))
    assert repo.get_endpoint(brand, endpoint.id) == changed
    disabled = repo.update_endpoint(brand, endpoint.id, {"status": "disabled", "disabled_reason": "gone",
                                                         "failing_since": None}, at=made_at(5))
    assert (disabled.status, disabled.disabled_reason, disabled.failing_since) == ("disabled", "gone", None)
    with pytest.raises(ValueError):
        repo.update_endpoint(brand, endpoint.id, {"url": None}, at=made_at(6))


def test_another_brands_or_a_missing_endpoint_is_not_found_and_not_made(repo):
    brand, other = new_id("brd"), new_id("brd")
    endpoint = an_endpoint(brand)
    repo.add_endpoint(endpoint)
    with pytest.raises(NotFound):
        repo.update_endpoint(other, endpoint.id, {"description": "mine now"}, at=made_at(1))
    with pytest.raises(NotFound):
        repo.update_endpoint(brand, new_id("whk"), {"description": "x"}, at=made_at(1))
    assert repo.endpoints_of(other) == []
    assert repo.delete_endpoint(other, endpoint.id) is False
    assert repo.get_endpoint(brand, endpoint.id) == endpoint


def test_an_endpoint_is_deleted_once(repo):
    brand = new_id("brd")
    endpoint = an_endpoint(brand)
    repo.add_endpoint(endpoint)
    assert repo.delete_endpoint(brand, endpoint.id) is True
    assert repo.get_endpoint(brand, endpoint.id) is None
    assert repo.delete_endpoint(brand, endpoint.id) is False


# --- the secret box (KMS on moto) -------------------------------------------------------------------


class CountingKms:
    """The embedded stack's KMS, counting the decrypts that reach it."""

    def __init__(self) -> None:
        import boto3

        self.client = boto3.client("kms")
        self.exceptions = self.client.exceptions
        self.decrypts = 0

    def encrypt(self, **request):
        return self.client.encrypt(**request)

    def decrypt(self, **request):
        self.decrypts += 1
        return self.client.decrypt(**request)


@pytest.fixture(scope="module")
def alias(aws_stack):
    from infra.keys import webhook_key_alias

    return webhook_key_alias(aws_stack["LIVEDROP_STAGE"])


def test_the_key_is_made_once(aws_stack, alias):
    import boto3

    from infra.keys import ensure_webhook_key

    kms = boto3.client("kms")
    key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]  # the fixture made it
    assert ensure_webhook_key(kms, alias) == key_id
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]


def test_a_secret_opens_only_with_its_context_and_key(alias):
    import boto3
    from botocore.exceptions import ClientError

    from chalicelib.adapters.webhook_secrets import KmsSecretBox, SecretRefused
    from infra.keys import ensure_webhook_key

    kms = CountingKms()
    box = KmsSecretBox(alias, client=kms)
    secret = "whsec_" + secrets.token_urlsafe(32)
    context = {"brandId": "brd_a", "endpointId": "whk_a"}
    ciphertext = box.encrypt(secret, context)
    assert secret not in ciphertext
    assert box.decrypt(ciphertext, dict(reversed(list(context.items())))) == secret
    assert box.decrypt(ciphertext, context) == secret
    assert kms.decrypts == 1  # the second read came from memory

    fresh = KmsSecretBox(alias, client=kms)
    with pytest.raises(SecretRefused):
        fresh.decrypt(ciphertext, {"brandId": "brd_a", "endpointId": "whk_b"})
    with pytest.raises(SecretRefused):
        fresh.decrypt(ciphertext, {})
    with pytest.raises(SecretRefused):
        fresh.decrypt("not base64!", context)
    other_alias = f"{alias}-other-{secrets.token_hex(3)}"
    ensure_webhook_key(boto3.client("kms"), other_alias)
    # Another key never opens it: AWS answers IncorrectKeyException (SecretRefused), moto AccessDenied.
    with pytest.raises((SecretRefused, ClientError)) as refused:
        KmsSecretBox(other_alias, client=kms).decrypt(ciphertext, context)
    assert isinstance(refused.value, SecretRefused) or \
        refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_defer_pushes_back_only_a_pending_delivery_nobody_holds(repo, endpoint_id, window):
    waiting, held = a_delivery(endpoint_id, window), a_delivery(endpoint_id, window)
    repo.add_deliveries([waiting, held])
    taken = repo.claim(held, now_ms=window, lease_until_ms=window + 30_000, lease="w")
    assert repo.defer(waiting, window + 5_000) is True
    assert repo.defer(held, window + 5_000) is False  # in flight: its lease decides
    assert repo.defer(replace(waiting, attempts=3), window + 9_000) is False  # read at another attempt
    assert [d.id for d in mine(repo.due(window + 4_999, limit=1000), endpoint_id)] == []
    assert [d.id for d in mine(repo.due(window + 5_000, limit=1000), endpoint_id)] == [waiting.id]
    assert repo.get_delivery(endpoint_id, held.id).next_attempt_ms == taken.next_attempt_ms
