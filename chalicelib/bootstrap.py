"""Wiring: the services with their adapters, built once per container on first use.

`build(settings, **overrides)` is the one place that picks an implementation for each port;
tests pass fakes (tests/fakes.py) as overrides to run the services in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from chalicelib.services.analytics import Analytics
from chalicelib.services.brands import Brands
from chalicelib.services.catalog import Catalog
from chalicelib.services.checkout import Checkout
from chalicelib.services.draws import Draws
from chalicelib.services.live import Live
from chalicelib.services.payments import Payments
from chalicelib.services.rate_limits import RateLimiter
from chalicelib.services.queues import EntryStatus, Queues
from chalicelib.domain.records import Entry, LineupItem
from chalicelib.services.shoppers import Shoppers
from chalicelib.services.sessions import ChannelDefaults, Sessions
from chalicelib.services.webhooks import Webhooks
from chalicelib.settings import Settings, get_settings


@dataclass(frozen=True)
class Services:
    brands: Brands
    catalog: Catalog
    sessions: Sessions
    shoppers: Shoppers
    checkout: Checkout
    payments: Payments
    live: Live
    analytics: Analytics
    webhooks: Webhooks
    draws: Draws
    queues: Queues


def adapters(settings: Settings) -> dict[str, Any]:
    """The real implementation of every port, for this deployment's settings."""
    from chalicelib.adapters import dynamodb
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.analytics import AnalyticsRecords, AnalyticsRepository
    from chalicelib.adapters.dynamodb.draws import DrawRepository
    from chalicelib.adapters.dynamodb.entries import EntryRepository
    from chalicelib.adapters.dynamodb.live import LiveRepository
    from chalicelib.adapters.dynamodb.models import Db
    from chalicelib.adapters.dynamodb.orders import OrderRepository, StockRepository, stock_changes
    from chalicelib.adapters.dynamodb.rate_limits import RateCounters
    from chalicelib.adapters.dynamodb.support import Cursors
    from chalicelib.adapters.ivs import AwsIvs, EmbeddedIvs
    from chalicelib.adapters.ivs_chat import AwsChat, EmbeddedChat
    from chalicelib.adapters.dynamodb.webhook_records import WebhookRecords
    from chalicelib.adapters.dynamodb.webhooks import WebhookRepository
    from chalicelib.adapters.secrets import operator_key, shopper_token_secret
    from chalicelib.adapters.webhook_http import HttpWebhookSender
    from chalicelib.adapters.webhook_secrets import KmsSecretBox

    dynamodb.bind(settings)
    secret = partial(shopper_token_secret, settings)
    db = Db(settings.region, settings.dynamodb_endpoint, Cursors(secret))
    embedded = settings.ivs_mode == "embedded"
    return {
        "clock": SystemClock(),
        "brands": dynamodb.BrandRepository(),
        "products": dynamodb.ProductRepository(db),
        "sessions": dynamodb.SessionRepository(db),
        "lineup": dynamodb.LineupRepository(db),
        "stock": StockRepository(),
        "orders": OrderRepository(db),
        "live": LiveRepository(db),
        "channels": EmbeddedIvs(settings.embedded_secret, hls_url=settings.embedded_hls_url) if embedded else AwsIvs(),
        "chat": EmbeddedChat() if embedded else AwsChat(),
        "payment_gateway": payment_gateway(settings),
        "operator_key": partial(operator_key, settings),
        "shopper_token_secret": secret,
        "stock_changes": stock_changes,
        "analytics": AnalyticsRepository(db),
        "analytics_records": AnalyticsRecords(),
        "webhooks": WebhookRepository(db),
        "secret_box": KmsSecretBox(settings.webhook_secrets_key),
        "webhook_sender": HttpWebhookSender(local_mode=settings.local_mode),
        "webhook_records": WebhookRecords(),
        "rate_counters": RateCounters(db),
        "identity_tokens": identity_tokens(settings),
        "entries": EntryRepository(db),
        "draws": DrawRepository(),
    }


def identity_tokens(settings: Settings) -> Any:
    """The user pool's ID tokens, or None where no identity provider is configured (verified
    shoppers answer 404 there)."""
    if settings.cognito_issuer is None:
        return None
    from chalicelib.adapters.cognito import CognitoIdTokens

    return CognitoIdTokens(settings.cognito_issuer, settings.cognito_client_ids, settings.cognito_keys_url)


def payment_gateway(settings: Settings) -> Any:
    """The provider LIVEDROP_PAYMENTS names; Stripe's SDK is imported on its first call, not here."""
    if settings.payments == "stripe":
        from chalicelib.adapters.secrets import stored_secret
        from chalicelib.adapters.stripe_payments import StripeGateway

        return StripeGateway(
            secret_key=partial(stored_secret, settings.stripe_secret_key, settings.stripe_secret_key_parameter,
                               "LIVEDROP_STRIPE_SECRET_KEY"),
            webhook_secret=partial(stored_secret, settings.stripe_webhook_secret,
                                   settings.stripe_webhook_secret_parameter, "LIVEDROP_STRIPE_WEBHOOK_SECRET"),
            publishable_key=settings.stripe_publishable_key, api_base=settings.stripe_api_base)
    from chalicelib.adapters.payments import TestPaymentGateway

    return TestPaymentGateway()


def build(settings: Settings, **overrides: Any) -> Services:
    ports = {**adapters(settings), **overrides} if set(overrides) != PORTS else dict(overrides)
    clock = ports["clock"]
    limiter = RateLimiter(ports["rate_counters"], settings.rate_limits, clock)
    defaults = ChannelDefaults(settings.ivs_channel_type, settings.ivs_latency_mode,
                               settings.ivs_recording_configuration_arn)
    sessions = Sessions(ports["sessions"], ports["lineup"], ports["products"], ports["stock"],
                        ports["channels"], ports["chat"], defaults, clock)
    def draw_status(entry: Entry, drop: LineupItem) -> EntryStatus:
        outcome = draws.outcome(drop, entry.shopper_id)  # `draws` is built below, before any call
        return EntryStatus(entry, drop, outcome.state, order_id=outcome.order_id)

    queues = Queues(ports["entries"], ports["lineup"], ports["stock"], ports["shopper_token_secret"], clock,
                    draw_status=draw_status)
    checkout = Checkout(ports["orders"], ports["stock"], ports["lineup"], session_owner=sessions.get_owned, clock=clock,
                        hold_cap=settings.max_open_orders, limiter=limiter, admits=queues.admits)
    draws = Draws(ports["draws"], ports["entries"], ports["lineup"], checkout.reserve_for_winner,
                  session_owner=sessions.get_owned, clock=clock)
    live = Live(sessions, ports["live"], ports["stock"], ports["channels"], ports["chat"], settings.replay_base_url,
                clock, limiter, ports["stock_changes"], settings.live_state_seconds or 0.0)
    sessions.listeners.append(live.states.forget)  # the brand's lineup changes, start and end: seen here at once
    return Services(
        brands=Brands(ports["brands"], ports["operator_key"], clock),
        catalog=Catalog(ports["products"], clock),
        sessions=sessions,
        live=live,
        shoppers=Shoppers(ports["shopper_token_secret"], clock, limiter, ports["identity_tokens"]),
        checkout=checkout,
        payments=Payments(ports["orders"], ports["payment_gateway"], clock, settings.paying_window_seconds or 900,
                          cancel_reserved=checkout.cancel, limiter=limiter),
        analytics=Analytics(sessions, ports["analytics"], ports["analytics_records"], ports["orders"], ports["live"],
                            ports["stock"], ports["channels"], clock, settings.feature_latency_ms,
                            settings.feature_grace_ms, entries=ports["entries"], draws=ports["draws"]),
        webhooks=Webhooks(ports["webhooks"], ports["secret_box"], ports["webhook_sender"], ports["webhook_records"],
                          sessions, ports["stock"], clock, settings.webhook_retry_schedule, settings.local_mode),
        draws=draws,
        queues=queues,
    )


PORTS = frozenset({"clock", "brands", "products", "sessions", "lineup", "stock", "orders", "live", "channels",
                   "chat", "payment_gateway", "operator_key", "shopper_token_secret", "stock_changes",
                   "analytics", "analytics_records", "webhooks", "secret_box", "webhook_sender",
                   "webhook_records", "rate_counters", "identity_tokens", "entries", "draws"})


_overrides: dict[str, Any] = {}


@lru_cache(maxsize=1)
def services() -> Services:
    return build(get_settings(), **_overrides)


def prepare() -> None:
    """What every container does once, done in Lambda's init phase (app.py) rather than in its
    first request: the services and their adapters, and the one DynamoDB client, primed for the
    calls of a checkout and of `/live`. With provisioned concurrency or SnapStart it is paid before
    the show; without, a cold start costs about the same and the first buyer waits no longer than
    the next."""
    from chalicelib.adapters import dynamodb

    services()
    dynamodb.prime(get_settings())


def override(**ports: Any) -> None:
    """Rebuild the services with these ports replaced (tests: a clock they move, a payment gateway
    that fails on cue); `override()` with nothing goes back to the real ones."""
    _overrides.clear()
    _overrides.update(ports)
    services.cache_clear()


def reset() -> None:
    """Forget settings and services, so the next request reads the environment again (tests)."""
    get_settings.cache_clear()
    override()


def is_transient(error: BaseException) -> bool:
    """Whether a failure is passing (throttling, a 5xx, a dropped connection): the API answers
    503 `busy` with Retry-After. The edge asks the wiring, so it needs no adapter of its own."""
    from chalicelib.adapters.aws import is_transient as aws_transient

    return aws_transient(error)


Settings.from_env()  # at import, so a Lambda with a typo in its configuration fails at cold start
