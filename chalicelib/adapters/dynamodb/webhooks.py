"""Webhook endpoints and the deliveries outbox in DynamoDB.

    webhooks    pk brandId,    sk id (whk_..., time-ordered)   one item per endpoint
    deliveries  pk endpointId, sk id (dlv_..., from the event) one item per event and endpoint: the
                                                               outbox and the delivery log at once
        byCreated (LSI)  endpointId, listKey = createdAt#id    the log, newest first
        due (GSI)        dueShard, nextAttemptMs               sparse: pending deliveries only

A delivery's life, each step one conditional write on its item:

    add      put if absent (a stream record seen again adds nothing)    pending, due at nextAttemptMs
    claim    pending, due and at the attempts read -> attempts + 1,     still pending, and due again when
             a lease, nextAttemptMs = when the lease ends               the lease ends (a worker died)
    finish   the lease is still ours -> the outcome, lease dropped      due at the next attempt, or out
                                                                        of `due` (succeeded, failed)
    requeue  not in flight -> pending, due, manual
"""
from __future__ import annotations

import heapq
import itertools
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Iterable, Mapping

from chalicelib.adapters.dynamodb.models import (
    DUE_SHARDS, Db, SecretMap, WebhookDeliveryModel, WebhookEndpointModel,
)
from chalicelib.adapters.dynamodb.support import ConditionFailed, page, update_or_old
from chalicelib.domain.clock import iso_of_ms, parse_iso
from chalicelib.domain.errors import NotFound
from chalicelib.domain.ports import WebhookDelivery, Endpoint, StoredSecret

LOG_LIFETIME = timedelta(days=30)  # a delivery expires (TTL) this long after it was created
PUT_THREADS = 16  # a stream batch fans out to hundreds of deliveries: put them side by side
LISTING_PAGE = 100  # items a filtered log listing reads per request to DynamoDB...
LISTING_READ = 1000  # ...and at most this many in all: a rare status gives a short page, not a long scan
PENDING = "pending"
LOG_KEY = ("endpointId", "id", "listKey")  # what a place in the byCreated index is

_endpoint_fields = {
    "url": WebhookEndpointModel.url, "events": WebhookEndpointModel.events,
    "description": WebhookEndpointModel.description, "status": WebhookEndpointModel.status,
    "disabled_reason": WebhookEndpointModel.disabled_reason, "secrets": WebhookEndpointModel.secrets,
    "failing_since": WebhookEndpointModel.failing_since,
}
_required = {"url", "events", "status", "secrets"}


def _conditional_check_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def _secret_map(secret: StoredSecret) -> SecretMap:
    return SecretMap(ciphertext=secret.ciphertext, created_at=secret.created_at, expires_at=secret.expires_at)


def _endpoint(row: WebhookEndpointModel) -> Endpoint:
    return Endpoint(
        id=row.id, brand_id=row.brand_id, url=row.url, events=tuple(row.events or ()),
        description=row.description, status=row.status, disabled_reason=row.disabled_reason,
        secrets=tuple(StoredSecret(s.ciphertext, s.created_at, s.expires_at) for s in row.secrets or ()),
        created_at=row.created_at, updated_at=row.updated_at, failing_since=row.failing_since,
    )


def _delivery(row: WebhookDeliveryModel) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id, endpoint_id=row.endpoint_id, brand_id=row.brand_id, event_id=row.event_id,
        event_type=row.event_type, subject=row.subject, sequence=int(row.sequence), body=row.body,
        created_at=row.created_at, status=row.status, attempts=int(row.attempts or 0),
        next_attempt_ms=None if row.next_attempt_ms is None else int(row.next_attempt_ms),
        last_attempt_at=row.last_attempt_at,
        last_response_code=None if row.last_response_code is None else int(row.last_response_code),
        last_error=row.last_error, manual=bool(row.manual), lease=row.lease,
    )


def _delivery_row(delivery: WebhookDelivery) -> WebhookDeliveryModel:
    due = delivery.status == PENDING and delivery.next_attempt_ms is not None
    return WebhookDeliveryModel(
        endpoint_id=delivery.endpoint_id, id=delivery.id, brand_id=delivery.brand_id, event_id=delivery.event_id,
        event_type=delivery.event_type, subject=delivery.subject, sequence=delivery.sequence, body=delivery.body,
        created_at=delivery.created_at, list_key=f"{delivery.created_at}#{delivery.id}", status=delivery.status,
        attempts=delivery.attempts, next_attempt_ms=delivery.next_attempt_ms,
        due_shard=random.randrange(DUE_SHARDS) if due else None, last_attempt_at=delivery.last_attempt_at,
        last_response_code=delivery.last_response_code, last_error=delivery.last_error, manual=delivery.manual,
        lease=delivery.lease, expires_at=parse_iso(delivery.created_at) + LOG_LIFETIME,
    )


def _put_new(row: WebhookDeliveryModel) -> bool:
    try:
        row.save(condition=WebhookDeliveryModel.id.does_not_exist())
    except Exception as error:
        if _conditional_check_failed(error):
            return False
        raise
    return True


def _set_or_remove(attribute: Any, value: Any) -> Any:
    return attribute.remove() if value is None else attribute.set(value)


class WebhookRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    # --- endpoints ---------------------------------------------------------------------------------

    def add_endpoint(self, endpoint: Endpoint) -> None:
        WebhookEndpointModel(
            brand_id=endpoint.brand_id, id=endpoint.id, url=endpoint.url, events=list(endpoint.events),
            description=endpoint.description, status=endpoint.status, disabled_reason=endpoint.disabled_reason,
            secrets=[_secret_map(secret) for secret in endpoint.secrets], created_at=endpoint.created_at,
            updated_at=endpoint.updated_at, failing_since=endpoint.failing_since,
        ).save(condition=WebhookEndpointModel.id.does_not_exist())

    def get_endpoint(self, brand_id: str, endpoint_id: str) -> Endpoint | None:
        try:
            return _endpoint(WebhookEndpointModel.get(brand_id, endpoint_id, consistent_read=True))
        except WebhookEndpointModel.DoesNotExist:
            return None

    def list_endpoints(self, brand_id: str, limit: int, cursor: str | None) -> tuple[list[Endpoint], str | None]:
        # Not ("brandId", ...): that partition signs the brand's product cursors, which must not open this.
        partition = ("webhooks", brand_id)
        start = self.db.cursors.decode(cursor, partition)
        results = WebhookEndpointModel.query(brand_id, limit=limit, last_evaluated_key=start, consistent_read=True)
        return page(results, _endpoint, self.db.cursors, partition)

    def endpoints_of(self, brand_id: str) -> list[Endpoint]:
        # Consistent: an endpoint made just before an event gets it.
        return [_endpoint(row) for row in WebhookEndpointModel.query(brand_id, consistent_read=True)]

    def update_endpoint(self, brand_id: str, endpoint_id: str, changes: Mapping[str, Any], at: str) -> Endpoint:
        actions = [WebhookEndpointModel.updated_at.set(at)]
        for name, value in changes.items():
            attribute = _endpoint_fields[name]  # a KeyError is a bug: the service names Endpoint's fields
            if value is None and name in _required:
                raise ValueError(f"an endpoint's {name} can not be removed")
            if name == "events" and value is not None:
                value = list(value)
            elif name == "secrets" and value is not None:
                value = [_secret_map(secret) for secret in value]
            actions.append(_set_or_remove(attribute, value))
        try:
            row = update_or_old(WebhookEndpointModel, brand_id, range_key=endpoint_id, actions=actions,
                                condition=WebhookEndpointModel.id.exists())
        except ConditionFailed:
            raise NotFound("webhook", endpoint_id) from None
        return _endpoint(row)

    def delete_endpoint(self, brand_id: str, endpoint_id: str) -> bool:
        try:
            WebhookEndpointModel(brand_id=brand_id, id=endpoint_id).delete(condition=WebhookEndpointModel.id.exists())
        except Exception as error:
            if _conditional_check_failed(error):
                return False
            raise
        return True

    # --- deliveries --------------------------------------------------------------------------------

    def add_deliveries(self, deliveries: Iterable[WebhookDelivery]) -> int:
        rows = [_delivery_row(delivery) for delivery in deliveries]
        if len(rows) <= 1:
            return sum(map(_put_new, rows))
        # Conditional puts can not be batched (BatchWriteItem takes no condition), so in parallel.
        with ThreadPoolExecutor(max_workers=min(PUT_THREADS, len(rows))) as pool:
            return sum(pool.map(_put_new, rows))

    def due(self, now_ms: int, limit: int) -> list[WebhookDelivery]:
        if limit <= 0:
            return []
        # Each shard's earliest `limit` hold the earliest `limit` overall.
        shards = [list(WebhookDeliveryModel.due.query(shard, WebhookDeliveryModel.next_attempt_ms <= now_ms,
                                                      limit=limit, page_size=limit))
                  for shard in range(DUE_SHARDS)]
        earliest = heapq.merge(*shards, key=lambda row: (int(row.next_attempt_ms), row.id))
        return [_delivery(row) for row in itertools.islice(earliest, limit)]

    def claim(self, delivery: WebhookDelivery, now_ms: int, lease_until_ms: int, lease: str) -> WebhookDelivery | None:
        model = WebhookDeliveryModel
        try:
            row = update_or_old(
                model, delivery.endpoint_id, range_key=delivery.id,
                # dueShard stays: the index finds the delivery again when the lease ends.
                actions=[model.attempts.add(1), model.lease.set(lease), model.last_attempt_at.set(iso_of_ms(now_ms)),
                         model.next_attempt_ms.set(lease_until_ms)],
                condition=(model.status == PENDING) & (model.next_attempt_ms <= now_ms)
                & (model.attempts == delivery.attempts),
            )
        except ConditionFailed:
            return None
        return _delivery(row)

    def defer(self, delivery: WebhookDelivery, until_ms: int) -> bool:
        model = WebhookDeliveryModel
        try:
            update_or_old(model, delivery.endpoint_id, range_key=delivery.id,
                          actions=[model.next_attempt_ms.set(until_ms)],
                          condition=(model.status == PENDING) & model.lease.does_not_exist()
                          & (model.attempts == delivery.attempts))
        except ConditionFailed:
            return False
        return True

    def finish(self, delivery: WebhookDelivery, lease: str, status: str, next_attempt_ms: int | None,
               response_code: int | None, error: str | None) -> bool:
        model = WebhookDeliveryModel
        actions = [model.status.set(status), model.lease.remove(),
                   _set_or_remove(model.last_response_code, response_code), _set_or_remove(model.last_error, error)]
        if status == PENDING and next_attempt_ms is not None:
            actions += [model.next_attempt_ms.set(next_attempt_ms),
                        model.due_shard.set(model.due_shard | random.randrange(DUE_SHARDS))]
        else:  # out of the due index: only pending deliveries may be found there
            actions += [model.next_attempt_ms.remove(), model.due_shard.remove()]
        try:
            update_or_old(model, delivery.endpoint_id, range_key=delivery.id, actions=actions,
                          condition=model.lease == lease)
        except ConditionFailed:
            return False
        return True

    def get_delivery(self, endpoint_id: str, delivery_id: str) -> WebhookDelivery | None:
        try:
            return _delivery(WebhookDeliveryModel.get(endpoint_id, delivery_id, consistent_read=True))
        except WebhookDeliveryModel.DoesNotExist:
            return None

    def list_deliveries(self, endpoint_id: str, limit: int, cursor: str | None,
                        status: str | None = None) -> tuple[list[WebhookDelivery], str | None]:
        partition = ("endpointId", endpoint_id)
        start = self.db.cursors.decode(cursor, partition)
        if status is None:
            results = WebhookDeliveryModel.by_created.query(
                endpoint_id, limit=limit, last_evaluated_key=start, scan_index_forward=False)
            return page(results, _delivery, self.db.cursors, partition)
        # The filter applies after the read: a rare status could mean reading the whole log, so the
        # reads are driven here and stop after LISTING_READ items (a short page, with a cursor).
        reads = WebhookDeliveryModel.by_created.query(
            endpoint_id, filter_condition=WebhookDeliveryModel.status == status, page_size=max(limit, LISTING_PAGE),
            last_evaluated_key=start, scan_index_forward=False).page_iter
        items: list[WebhookDelivery] = []
        for read in reads:
            for item in read.get("Items", []):
                items.append(_delivery(WebhookDeliveryModel.from_raw_data(item)))
                if len(items) == limit:  # go on after the last item returned, not the last one read
                    return items, self.db.cursors.encode({name: item[name] for name in LOG_KEY}, partition)
            if reads.total_scanned_count >= LISTING_READ:
                break
        return items, self.db.cursors.encode(reads.last_evaluated_key, partition)

    def requeue(self, endpoint_id: str, delivery_id: str, due_ms: int, manual: bool) -> WebhookDelivery | None:
        model = WebhookDeliveryModel
        try:
            row = update_or_old(
                model, endpoint_id, range_key=delivery_id,
                actions=[model.status.set(PENDING), model.next_attempt_ms.set(due_ms),
                         model.due_shard.set(random.randrange(DUE_SHARDS)), model.manual.set(manual)],
                condition=model.id.exists() & model.lease.does_not_exist(),
            )
        except ConditionFailed:
            return None
        return _delivery(row)
