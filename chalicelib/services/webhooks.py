"""Webhooks: a brand's endpoints, the events fanned out to them from the tables' streams, and the
sweeper that delivers them signed (Standard Webhooks), retried on a schedule, and logged.

The outbox is the deliveries table: a stream handler stores one delivery per (endpoint, event),
idempotently, and the sweeper claims each due delivery with a lease before it sends. A worker that
dies mid-delivery leaves the delivery to come due again when its lease ends: at least once, never
lost. The checkout never waits for any of it.
"""
from __future__ import annotations

import json
import random
import secrets
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Iterable, Mapping

from chalicelib.domain import webhooks as rules
from chalicelib.domain.clock import epoch_ms, to_iso
from chalicelib.domain.errors import DeliveryInFlight, EndpointDisabled, InvalidInput, NotFound, TooManyEndpoints
from chalicelib.domain.ids import is_id
from chalicelib.domain.ports import (
    Clock, WebhookDelivery, Endpoint, EventViews, SecretBox, StockRepository, StoredSecret, WebhookRecords,
    WebhookRepository, WebhookSender,
)
from chalicelib.domain.records import Session, TimelineEntry
from chalicelib.observability import logger
from chalicelib.services.sessions import Sessions

MAX_ENDPOINTS = 20          # per brand
ROTATION_OVERLAP = timedelta(hours=24)  # a rotated-out secret keeps signing beside the new one
MAX_SECRETS = 3             # the current one and at most two still overlapping
LEASE_MS = (rules.TIMEOUT_SECONDS + 15) * 1000  # longer than any attempt can last
SWEEP_BATCH = 100
WORKERS = 8                 # endpoints served at once by one sweep


@dataclass(frozen=True)
class Event:
    """Something that happened, as every subscribed endpoint is told it."""
    id: str
    type: str
    brand_id: str
    subject: str
    sequence: int
    timestamp: str
    data: Mapping[str, Any]

    def body(self) -> str:
        """The payload, fixed once: every attempt sends (and signs) these very bytes."""
        data = {**self.data, "sequence": self.sequence}
        return json.dumps({"type": self.type, "timestamp": self.timestamp, "data": data},
                          separators=(",", ":"), ensure_ascii=False)


def _context(endpoint_id: str, brand_id: str) -> dict[str, str]:
    """KMS encryption context: a secret decrypts only for the endpoint it was made for."""
    return {"brandId": brand_id, "endpointId": endpoint_id}


class Webhooks:
    def __init__(self, repo: WebhookRepository, box: SecretBox, sender: WebhookSender, records: WebhookRecords,
                 sessions: Sessions, stock: StockRepository, clock: Clock,
                 schedule: tuple[float, ...], local_mode: bool, rng: random.Random | None = None) -> None:
        self.repo = repo
        self.box = box
        self.sender = sender
        self.records = records
        self.sessions = sessions
        self.stock = stock
        self.clock = clock
        self.schedule = schedule
        self.local_mode = local_mode
        self.rng = rng or random.Random()
        # Endpoints that failed, and until when (epoch ms) their due deliveries wait without an
        # attempt: kept by this container (a sweeper runs long), so another one may try once more.
        self.paused: dict[str, int] = {}
        self.workers = WORKERS

    # --- endpoints ---------------------------------------------------------------------------------

    def _check_url(self, url: str) -> None:
        problem = rules.url_problem(url, self.local_mode) or self.sender.refusal(url)
        if problem:
            raise InvalidInput.of("url", problem)

    def _new_secret(self, endpoint_id: str, brand_id: str, at: str) -> tuple[str, StoredSecret]:
        secret = rules.new_secret()
        return secret, StoredSecret(self.box.encrypt(secret, _context(endpoint_id, brand_id)), at)

    def create(self, brand_id: str, url: str, events: Iterable[str], description: str | None) -> tuple[Endpoint, str]:
        """A new endpoint, enabled, and its signing secret (shown this once; kept encrypted)."""
        self._check_url(url)
        if len(self.repo.endpoints_of(brand_id)) >= MAX_ENDPOINTS:
            raise TooManyEndpoints(MAX_ENDPOINTS)
        at = to_iso(self.clock.now())
        endpoint_id = rules.new_endpoint_id()
        secret, stored = self._new_secret(endpoint_id, brand_id, at)
        endpoint = Endpoint(id=endpoint_id, brand_id=brand_id, url=url, events=tuple(events),
                            description=description, status="enabled", disabled_reason=None,
                            secrets=(stored,), created_at=at, updated_at=at)
        self.repo.add_endpoint(endpoint)
        return endpoint, secret

    def get(self, brand_id: str, endpoint_id: str) -> Endpoint:
        endpoint = self.repo.get_endpoint(brand_id, endpoint_id) if is_id(endpoint_id, "whk") else None
        if endpoint is None:
            raise NotFound("webhook", endpoint_id)
        return endpoint

    def endpoints(self, brand_id: str, limit: int, cursor: str | None) -> tuple[list[Endpoint], str | None]:
        return self.repo.list_endpoints(brand_id, limit, cursor)

    def update(self, brand_id: str, endpoint_id: str, changes: Mapping[str, Any]) -> Endpoint:
        """url, events, description and status ("enabled" or "disabled"); enabling forgets why it was
        disabled and how long it had been failing."""
        self.get(brand_id, endpoint_id)
        changes = dict(changes)
        if "url" in changes:
            self._check_url(changes["url"])
        if "events" in changes:
            changes["events"] = tuple(changes["events"])
        if changes.get("status") == "enabled":
            changes.update(disabled_reason=None, failing_since=None)
        elif changes.get("status") == "disabled":
            changes["disabled_reason"] = "brand"
        return self.repo.update_endpoint(brand_id, endpoint_id, changes, to_iso(self.clock.now()))

    def delete(self, brand_id: str, endpoint_id: str) -> None:
        self.get(brand_id, endpoint_id)
        self.repo.delete_endpoint(brand_id, endpoint_id)

    def rotate(self, brand_id: str, endpoint_id: str) -> tuple[Endpoint, str]:
        """A new current secret; the one it replaces keeps signing beside it for ROTATION_OVERLAP,
        so receivers can move to the new one without losing a message."""
        endpoint = self.get(brand_id, endpoint_id)
        now = self.clock.now()
        at, until = to_iso(now), to_iso(now + ROTATION_OVERLAP)
        secret, stored = self._new_secret(endpoint_id, brand_id, at)
        kept = [s if s.expires_at else replace(s, expires_at=until)
                for s in endpoint.secrets if s.expires_at is None or s.expires_at > at]
        updated = self.repo.update_endpoint(brand_id, endpoint_id, {"secrets": (stored, *kept[:MAX_SECRETS - 1])}, at)
        return updated, secret

    def ping(self, brand_id: str, endpoint_id: str) -> WebhookDelivery:
        """A `ping` event to this endpoint alone, delivered by the sweeper like any other (also to a
        disabled endpoint: what a brand checks before enabling it again)."""
        endpoint = self.get(brand_id, endpoint_id)
        now = self.clock.now()
        event = Event(rules.new_ping_event_id(), rules.PING, brand_id, endpoint_id, 1, to_iso(now),
                      {"endpointId": endpoint_id, "message": "Livedrop webhook test"})
        delivery = self._delivery(endpoint, event, now)
        self.repo.add_deliveries([delivery])
        return delivery

    def deliveries(self, brand_id: str, endpoint_id: str, limit: int, cursor: str | None,
                   status: str | None) -> tuple[list[WebhookDelivery], str | None]:
        self.get(brand_id, endpoint_id)
        return self.repo.list_deliveries(endpoint_id, limit, cursor, status)

    def retry(self, brand_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """An attempt now, with the same webhook-id. A delivery still pending keeps its schedule (its
        next attempt only comes forward); a finished one gets one attempt more, and no schedule after it."""
        endpoint = self.get(brand_id, endpoint_id)
        if endpoint.status != "enabled":
            raise EndpointDisabled(endpoint.disabled_reason)
        current = self.repo.get_delivery(endpoint_id, delivery_id) if rules.is_delivery_id(delivery_id) else None
        if current is None:
            raise NotFound("delivery", delivery_id)
        requeued = self.repo.requeue(endpoint_id, delivery_id, epoch_ms(self.clock.now()),
                                     manual=current.status != "pending")
        if requeued is None:
            raise DeliveryInFlight()
        return requeued

    # --- events, from the streams ------------------------------------------------------------------

    # Each takes the views that render an event's data: the API's own (chalicelib/api), handed in
    # by the handler, since the API sits above the services.

    def on_order_records(self, records: list[Any], views: EventViews) -> int:
        events = []
        for old, new in self.records.orders(records):
            kind = rules.order_event(old.status.value if old else None, new.status.value)
            if kind:
                # Each of these happens once in an order's life, so (type, order) names the event.
                events.append(Event(rules.event_id(kind, new.id), kind, new.brand_id, new.id, new.version,
                                    new.closed_at or new.created_at, views.order(new)))
            if rules.is_refund(old.refunded_at if old else None, new.refunded_at):
                events.append(Event(rules.event_id("order.refunded", new.id), "order.refunded", new.brand_id,
                                    new.id, new.version, new.refunded_at or "", views.order(new)))
        return self.publish(events)

    def on_session_records(self, records: list[Any], views: EventViews) -> int:
        events = []
        for old, new in self.records.sessions(records):
            kind = rules.session_event(old.status.value if old else None, new.status.value)
            if kind:
                lineup = self.sessions.lineup_of(new.id)
                events.append(Event(rules.event_id(kind, new.id), kind, new.brand_id, new.id,
                                    rules.SESSION_SEQUENCE[new.status.value],
                                    new.ended_at if kind == "session.ended" and new.ended_at else new.started_at or new.created_at,
                                    views.session(new, lineup)))
        return self.publish(events)

    def on_timeline_records(self, records: list[Any], views: EventViews) -> int:
        events = []
        for entry in self.records.timeline(records):
            kind = rules.timeline_event(entry.type)
            session = self.sessions.repo.get(entry.session_id) if kind else None
            if kind and session is not None:
                event = self._timeline_event(kind, session, entry, views)
                if event is not None:
                    events.append(event)
        return self.publish(events)

    def _timeline_event(self, kind: str, session: Session, entry: TimelineEntry, views: EventViews) -> Event | None:
        lineup = dict((item.product_id, (item, product)) for item, product in self.sessions.lineup_of(session.id))
        item, product = lineup.get(entry.product_id, (None, None))
        if kind == "product.featured":
            # Pins follow one another: the pin's own sequence orders them.
            return Event(rules.event_id(kind, session.id, str(entry.seq)), kind, session.brand_id, session.id,
                         entry.seq, entry.at, views.pin(entry, product))
        if item is None:
            return None  # taken out of the lineup meanwhile
        stock = self.stock.levels([item]).get(item.product_id)
        left = sum(stock.left.values()) if stock else 0
        subject = f"{session.id}/{item.product_id}"
        # A drop opens once and is told sold out once (units given back later go on sale quietly).
        return Event(rules.event_id(kind, subject), kind, session.brand_id, subject, rules.DROP_SEQUENCE[kind],
                     entry.at, views.drop(session.id, item, product, left))

    def publish(self, events: Iterable[Event]) -> int:
        """One delivery per event and enabled endpoint that subscribes to its type; an event seen
        again (a stream record delivered twice) adds nothing. Returns the deliveries added."""
        now = self.clock.now()
        endpoints: dict[str, list[Endpoint]] = {}
        deliveries = []
        for event in events:
            if event.brand_id not in endpoints:
                endpoints[event.brand_id] = self.repo.endpoints_of(event.brand_id)
            deliveries += [self._delivery(endpoint, event, now) for endpoint in endpoints[event.brand_id]
                           if endpoint.status == "enabled" and event.type in endpoint.events]
        return self.repo.add_deliveries(deliveries) if deliveries else 0

    @staticmethod
    def _delivery(endpoint: Endpoint, event: Event, now: Any) -> WebhookDelivery:
        return WebhookDelivery(id=rules.delivery_id(endpoint.id, event.id), endpoint_id=endpoint.id,
                        brand_id=endpoint.brand_id, event_id=event.id, event_type=event.type,
                        subject=event.subject, sequence=event.sequence, body=event.body(),
                        created_at=to_iso(now), next_attempt_ms=epoch_ms(now))

    # --- delivery ----------------------------------------------------------------------------------

    def sweep(self, budget_seconds: float = 0.0, poll_seconds: float = 1.0) -> int:
        """Deliver what is due; with a budget, keep at it (polling when nothing is due) until the
        budget is spent. No attempt starts after it, so one in flight ends within TIMEOUT_SECONDS
        of it (the scheduled function's Lambda timeout leaves room for that). Returns the attempts."""
        deadline = self.clock.monotonic() + budget_seconds
        attempts = 0
        while True:
            made = self.deliver_due(deadline)
            attempts += made
            if self.clock.monotonic() >= deadline:
                return attempts
            if made == 0:
                self.clock.sleep(min(poll_seconds, max(0.0, deadline - self.clock.monotonic())))

    def deliver_due(self, deadline: float | None = None) -> int:
        """One pass: each endpoint's due deliveries in the order they happened, endpoints in
        parallel; none started after `deadline` (monotonic). Returns the attempts made."""
        due = self.repo.due(epoch_ms(self.clock.now()), SWEEP_BATCH)
        by_endpoint: dict[tuple[str, str], list[WebhookDelivery]] = defaultdict(list)
        for delivery in due:
            by_endpoint[(delivery.brand_id, delivery.endpoint_id)].append(delivery)
        if not by_endpoint:
            return 0
        groups = [sorted(group, key=lambda d: (d.created_at, d.sequence)) for group in by_endpoint.values()]
        if len(groups) == 1 or self.workers == 1:
            return sum(self._deliver_to_endpoint(group, deadline) for group in groups)
        with ThreadPoolExecutor(max_workers=min(self.workers, len(groups))) as pool:
            return sum(pool.map(lambda group: self._deliver_to_endpoint(group, deadline), groups))

    def _deliver_to_endpoint(self, deliveries: list[WebhookDelivery], deadline: float | None) -> int:
        """When the endpoint fails (or asks to wait), it is paused until its next attempt, and its
        due deliveries are pushed back to then without an attempt: they leave the due window, so a
        dead endpoint's backlog holds up no other endpoint, and a throttling one is left alone."""
        endpoint_id = deliveries[0].endpoint_id
        paused_until = self.paused.get(endpoint_id, 0)
        if paused_until > epoch_ms(self.clock.now()):
            for delivery in deliveries:
                self.repo.defer(delivery, paused_until)
            return 0
        made = 0
        for index, delivery in enumerate(deliveries):
            if deadline is not None and self.clock.monotonic() >= deadline:
                break
            # Read afresh for each attempt: the brand may have changed, disabled or deleted it.
            endpoint = self.repo.get_endpoint(delivery.brand_id, delivery.endpoint_id)
            try:
                outcome, pause_until_ms = self._attempt(delivery, endpoint)
            except Exception:  # this endpoint's turn ends; a claimed delivery comes back when its lease ends
                logger.exception("webhook attempt failed", extra={"delivery": delivery.id})
                break
            made += outcome is not None
            if pause_until_ms is not None:
                self.paused[endpoint_id] = pause_until_ms
                for later in deliveries[index + 1:]:
                    self.repo.defer(later, pause_until_ms)
                break
        return made

    def _signing_secrets(self, endpoint: Endpoint, at: str) -> list[str]:
        context = _context(endpoint.id, endpoint.brand_id)
        return [self.box.decrypt(s.ciphertext, context) for s in endpoint.secrets
                if s.expires_at is None or s.expires_at > at]

    def _attempt(self, delivery: WebhookDelivery, endpoint: Endpoint | None) -> tuple[str | None, int | None]:
        """Claim, send, record. Returns the outcome (None: another worker had it) and, when the
        endpoint failed, until when its other deliveries wait (epoch ms)."""
        now = self.clock.now()
        now_ms, at, lease = epoch_ms(now), to_iso(now), secrets.token_hex(8)
        sendable = endpoint is not None and (endpoint.status == "enabled" or delivery.event_type == rules.PING)
        # Decrypted before the claim: a key that can not be used leaves the delivery untouched.
        signing = self._signing_secrets(endpoint, at) if sendable and endpoint is not None else []
        claimed = self.repo.claim(delivery, now_ms, now_ms + LEASE_MS, lease)
        if claimed is None:
            return None, None
        if not sendable or endpoint is None:
            error = "endpoint deleted" if endpoint is None else "endpoint disabled"
            self.repo.finish(claimed, lease, "failed", None, None, error)
            return "failed", None
        headers = rules.headers(claimed.event_id, int(now.timestamp()), claimed.body, signing)
        result = self.sender.send(endpoint.url, headers, claimed.body.encode())
        outcome = rules.outcome(result.status)
        if outcome == "succeeded":
            self.repo.finish(claimed, lease, "succeeded", None, result.status, None)
            if endpoint.failing_since:
                self.repo.update_endpoint(endpoint.brand_id, endpoint.id, {"failing_since": None}, at)
            return outcome, None
        error = result.error or f"answered {result.status}"
        delay = None if claimed.manual or outcome == "gone" else rules.retry_delay(claimed.attempts, self.schedule, self.rng)
        asked = rules.retry_after_seconds(result.retry_after, now) if outcome == "throttled" else None
        if delay is not None and asked is not None:
            delay = max(delay, asked)
        next_ms = None if delay is None else now_ms + int(delay * 1000)
        self.repo.finish(claimed, lease, "failed" if next_ms is None else "pending", next_ms, result.status, error)
        self._after_failure(endpoint, outcome, now)
        logger.info("webhook attempt failed", extra={"delivery": claimed.id, "endpoint": endpoint.id,
                                                     "status": result.status, "error": error,
                                                     "attempt": claimed.attempts,
                                                     "retry_in_ms": None if next_ms is None else next_ms - now_ms})
        if outcome == "gone":
            return outcome, None  # disabled now: its other deliveries are marked failed in turn
        # Its other deliveries wait as long as this one: its next attempt, or (none) what it asked.
        if next_ms is not None:
            return outcome, next_ms
        return outcome, now_ms + int(1000 * (asked if asked is not None else self.schedule[0] if self.schedule else 0))

    def _after_failure(self, endpoint: Endpoint, outcome: str, now: Any) -> None:
        """410 disables the endpoint at once; failing without a success for DISABLE_AFTER does too."""
        at = to_iso(now)
        if outcome == "gone":
            self.repo.update_endpoint(endpoint.brand_id, endpoint.id, {"status": "disabled", "disabled_reason": "gone"}, at)
            return
        since = endpoint.failing_since or at
        if rules.should_disable(since, now):
            self.repo.update_endpoint(endpoint.brand_id, endpoint.id,
                                      {"status": "disabled", "disabled_reason": "failing"}, at)
        elif endpoint.failing_since is None:
            self.repo.update_endpoint(endpoint.brand_id, endpoint.id, {"failing_since": at}, at)
