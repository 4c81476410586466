"""Configuration, read once from the environment.

Every AWS endpoint comes from the environment as boto3 reads it (`AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_<SERVICE>`), so the same code runs on AWS, on the embedded stack and on LocalStack.
PynamoDB does not read those variables itself: `dynamodb_endpoint` hands it the same value.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping
from urllib.parse import urlsplit

from chalicelib.domain.rate_limits import DEFAULT_RULES, Rule, parse as parse_rate_limits
from chalicelib.domain.webhooks import DEFAULT_RETRY_SCHEDULE, parse_schedule


# The logical tables; infra/tables.py defines each one, and a test holds the two lists equal.
TABLE_KEYS = ("brands", "products", "sessions", "lineup", "stock", "purchases", "orders", "payments", "timeline", "counters",
              "analytics", "webhooks", "deliveries", "limits", "entries")


IVS_MODES = frozenset({"aws", "embedded"})
PAYMENT_PROVIDERS = frozenset({"test", "stripe"})
CHANNEL_TYPES = frozenset({"BASIC", "STANDARD", "ADVANCED_SD", "ADVANCED_HD"})
LATENCY_MODES = frozenset({"LOW", "NORMAL"})
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def table_env_name(table: str) -> str:
    return f"LIVEDROP_{table.upper()}_TABLE"


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    dynamodb_endpoint: str | None
    tables: Mapping[str, str]
    operator_key: str | None
    operator_key_parameter: str | None
    shopper_token_secret: str | None
    shopper_token_secret_parameter: str | None
    ivs_channel_type: str
    ivs_latency_mode: str
    ivs_mode: str  # "aws", or "embedded": moto channels, the rest recorded (local runs)
    ivs_recording_configuration_arn: str | None
    embedded_secret: str
    replay_base_url: str | None
    # `make run`'s broadcaster (devstack/hls.py): embedded channels play from it and PutMetadata goes to it.
    embedded_hls_url: str | None
    # Browser origins allowed by CORS, per audience: "shop" (public and shopper routes) and
    # "console" (brand and operator routes); comma-separated in the environment, `*` for any.
    cors_origins: Mapping[str, tuple[str, ...]]
    # Analytics attribution (domain/analytics.py): how long after a pin is sent viewers see it, by
    # the channel's latency mode, and how long after the next pin a sale still counts for it.
    feature_latency_ms: Mapping[str, int]
    feature_grace_ms: int
    # Webhooks: seconds from each failed attempt to the next (LIVEDROP_WEBHOOK_RETRY_SCHEDULE, comma
    # separated; shorten it to see retries in seconds), and the KMS key that encrypts signing secrets.
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    webhook_secrets_key: str = "alias/livedrop-local-webhooks"
    webhook_schedule_problem: str | None = None  # why the configured schedule was refused
    # Payments: "test" (the built-in provider) or "stripe". Stripe's secret key and webhook signing
    # secret come from the environment (local runs) or, in a deployment, from an SSM SecureString
    # parameter or a Secrets Manager secret named by the *_PARAMETER variable.
    payments: str = "test"
    stripe_api_base: str | None = None  # STRIPE_API_BASE: a fake of Stripe's API, for tests and checks
    stripe_secret_key: str | None = None
    stripe_secret_key_parameter: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_webhook_secret_parameter: str | None = None
    stripe_publishable_key: str | None = None
    paying_window_seconds: int | None = 900  # how long a payment may wait on the shopper before reconciliation
    # The hold cap: unpaid (reserved or paying) orders one shopper may hold in a session at once.
    max_open_orders: int | None = 3
    # Rate limits by rule name (chalicelib/domain/rate_limits.py); LIVEDROP_RATE_LIMITS overrides
    # some, as `name=count/seconds,...`.
    rate_limits: Mapping[str, Rule] = field(default_factory=lambda: dict(DEFAULT_RULES))
    rate_limits_problem: str | None = None  # why the configured rate limits were refused
    # Verified shoppers (POST /v1/shoppers/verified): the Cognito user pool's issuer URL, the app
    # clients whose ID tokens are taken (comma separated), and where its keys are published
    # (default `<issuer>/.well-known/jwks.json`). No issuer: the route answers 404.
    cognito_issuer: str | None = None
    cognito_client_ids: tuple[str, ...] = ()
    cognito_jwks_url: str | None = None
    # /live: each session's state is computed at most once per this many seconds per container and
    # served from memory in between (LIVEDROP_LIVE_STATE_SECONDS; 0 computes it on every call).
    live_state_seconds: float | None = 1.0

    @property
    def local_mode(self) -> bool:
        """Running on this machine (`make run`, the tests, LocalStack): DynamoDB is on loopback.
        Only then may webhooks go to plain-http loopback receivers; a deployment, whatever its
        stage or variables, has no loopback DynamoDB."""
        host = urlsplit(self.dynamodb_endpoint or "").hostname
        return host in LOOPBACK_HOSTS

    def __post_init__(self) -> None:
        """A typo in configuration fails at start, loudly, naming the variable: not a silent
        fallback to real IVS, or a table that does not exist."""
        problems = []
        for variable, value, allowed in (
            ("LIVEDROP_IVS_MODE", self.ivs_mode, IVS_MODES),
            ("LIVEDROP_IVS_CHANNEL_TYPE", self.ivs_channel_type, CHANNEL_TYPES),
            ("LIVEDROP_IVS_LATENCY_MODE", self.ivs_latency_mode, LATENCY_MODES),
        ):
            if value not in allowed:
                problems.append(f"{variable}={value!r} is not one of {sorted(allowed)}")
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", self.stage):
            problems.append(f"LIVEDROP_STAGE={self.stage!r} must be lower-case letters, digits and dashes")
        for key, name in self.tables.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", name):
                problems.append(f"{table_env_name(key)}={name!r} is not a valid DynamoDB table name")
        for variable, url in (("AWS_ENDPOINT_URL[_DYNAMODB]", self.dynamodb_endpoint),
                              ("LIVEDROP_REPLAY_BASE_URL", self.replay_base_url),
                              ("LIVEDROP_EMBEDDED_HLS_URL", self.embedded_hls_url)):
            if url is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
                problems.append(f"{variable}={url!r} is not an http(s) URL")
        for variable, value in (("LIVEDROP_FEATURE_LATENCY_LOW_MS", self.feature_latency_ms.get("LOW")),
                                ("LIVEDROP_FEATURE_LATENCY_NORMAL_MS", self.feature_latency_ms.get("NORMAL")),
                                ("LIVEDROP_FEATURE_GRACE_MS", self.feature_grace_ms)):
            if value is None or not 0 <= value <= 600_000:
                problems.append(f"{variable}={value!r} must be a whole number of ms from 0 to 600000")
        if self.payments not in PAYMENT_PROVIDERS:
            problems.append(f"LIVEDROP_PAYMENTS={self.payments!r} is not one of {sorted(PAYMENT_PROVIDERS)}")
        if self.payments == "stripe":
            for variable, value, parameter in (
                    ("LIVEDROP_STRIPE_SECRET_KEY", self.stripe_secret_key, self.stripe_secret_key_parameter),
                    ("LIVEDROP_STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret, self.stripe_webhook_secret_parameter)):
                if not (value or parameter):
                    problems.append(f"LIVEDROP_PAYMENTS=stripe needs {variable} or {variable}_PARAMETER")
        if self.stripe_api_base is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", self.stripe_api_base):
            problems.append(f"STRIPE_API_BASE={self.stripe_api_base!r} is not an http(s) URL")
        if self.paying_window_seconds is None or not 60 <= self.paying_window_seconds <= 86400:
            problems.append("LIVEDROP_PAYING_WINDOW_SECONDS must be a whole number of seconds from 60 to 86400")
        if self.max_open_orders is None or not 1 <= self.max_open_orders <= 50:
            problems.append("LIVEDROP_MAX_OPEN_ORDERS must be a whole number from 1 to 50")
        if self.live_state_seconds is None or not 0 <= self.live_state_seconds <= 60:
            problems.append("LIVEDROP_LIVE_STATE_SECONDS must be a number of seconds from 0 to 60")
        problems += self._cognito_problems()
        if self.webhook_schedule_problem:
            problems.append(f"LIVEDROP_WEBHOOK_RETRY_SCHEDULE: {self.webhook_schedule_problem}")
        if self.rate_limits_problem:
            problems.append(f"LIVEDROP_RATE_LIMITS: {self.rate_limits_problem}")
        if problems:
            raise ValueError("invalid configuration: " + "; ".join(problems))

    def _cognito_problems(self) -> list[str]:
        problems = []
        for variable, url in (("LIVEDROP_COGNITO_ISSUER", self.cognito_issuer),
                              ("LIVEDROP_COGNITO_JWKS_URL", self.cognito_jwks_url)):
            if url is None:
                continue
            # Plain http only on this machine (the tests' key server, `make run`): keys fetched over
            # http from elsewhere could be anyone's.
            if not (re.fullmatch(r"https://[^\s/]+(/\S*)?", url)
                    or (re.fullmatch(r"http://[^\s/]+(/\S*)?", url) and urlsplit(url).hostname in LOOPBACK_HOSTS)):
                problems.append(f"{variable}={url!r} is not an https URL (http only on 127.0.0.1 or localhost)")
        if self.cognito_issuer is not None and self.cognito_issuer.endswith("/"):
            problems.append("LIVEDROP_COGNITO_ISSUER must not end with a slash (it is compared with `iss` as written)")
        if self.cognito_issuer is None and (self.cognito_client_ids or self.cognito_jwks_url):
            problems.append("LIVEDROP_COGNITO_CLIENT_IDS and LIVEDROP_COGNITO_JWKS_URL need LIVEDROP_COGNITO_ISSUER")
        if self.cognito_issuer is not None and not self.cognito_client_ids:
            problems.append("LIVEDROP_COGNITO_ISSUER needs LIVEDROP_COGNITO_CLIENT_IDS (the app clients, comma separated)")
        for client_id in self.cognito_client_ids:
            if not re.fullmatch(r"[\w+]{1,128}", client_id):
                problems.append(f"LIVEDROP_COGNITO_CLIENT_IDS: {client_id!r} is not an app client id")
        return problems

    @property
    def cognito_keys_url(self) -> str | None:
        """Where the user pool's keys are (Cognito publishes them under the issuer)."""
        if self.cognito_issuer is None:
            return None
        return self.cognito_jwks_url or self.cognito_issuer + "/.well-known/jwks.json"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        stage = env.get("LIVEDROP_STAGE", "local")

        def ms(name: str, default: int) -> int | None:
            value = env.get(name, str(default)).strip()
            return int(value) if value.isdigit() else None

        def seconds(name: str, default: float) -> float | None:
            try:
                return float(env.get(name, default))
            except ValueError:
                return None

        try:
            schedule, schedule_problem = parse_schedule(env["LIVEDROP_WEBHOOK_RETRY_SCHEDULE"]), None
        except KeyError:
            schedule, schedule_problem = DEFAULT_RETRY_SCHEDULE, None
        except ValueError as error:
            schedule, schedule_problem = DEFAULT_RETRY_SCHEDULE, str(error)
        try:
            rate_limits, rate_limits_problem = parse_rate_limits(env.get("LIVEDROP_RATE_LIMITS", "")), None
        except ValueError as error:
            rate_limits, rate_limits_problem = dict(DEFAULT_RULES), str(error)
        return cls(
            stage=stage,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            dynamodb_endpoint=env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL"),
            tables={key: env.get(table_env_name(key), f"livedrop-{stage}-{key}") for key in TABLE_KEYS},
            operator_key=env.get("LIVEDROP_OPERATOR_KEY") or None,
            operator_key_parameter=env.get("LIVEDROP_OPERATOR_KEY_PARAMETER") or None,
            shopper_token_secret=env.get("LIVEDROP_SHOPPER_TOKEN_SECRET") or None,
            shopper_token_secret_parameter=env.get("LIVEDROP_SHOPPER_TOKEN_SECRET_PARAMETER") or None,
            ivs_channel_type=env.get("LIVEDROP_IVS_CHANNEL_TYPE", "STANDARD"),
            ivs_latency_mode=env.get("LIVEDROP_IVS_LATENCY_MODE", "LOW"),
            ivs_mode=env.get("LIVEDROP_IVS_MODE", "aws"),
            ivs_recording_configuration_arn=env.get("LIVEDROP_IVS_RECORDING_CONFIGURATION_ARN") or None,
            embedded_secret=env.get("LIVEDROP_EMBEDDED_SECRET", "livedrop-embedded"),
            replay_base_url=env.get("LIVEDROP_REPLAY_BASE_URL") or None,
            embedded_hls_url=env.get("LIVEDROP_EMBEDDED_HLS_URL") or None,
            cors_origins={
                audience: tuple(o.strip() for o in env.get(name, default).split(",") if o.strip())
                for audience, name, default in (
                    ("shop", "LIVEDROP_CORS_ORIGINS", "*"),
                    ("console", "LIVEDROP_CONSOLE_CORS_ORIGINS", "http://127.0.0.1:8001,http://localhost:8001"))
            },
            feature_latency_ms={"LOW": ms("LIVEDROP_FEATURE_LATENCY_LOW_MS", 3000),  # type: ignore[dict-item]
                                "NORMAL": ms("LIVEDROP_FEATURE_LATENCY_NORMAL_MS", 10000)},
            feature_grace_ms=ms("LIVEDROP_FEATURE_GRACE_MS", 30000),  # type: ignore[arg-type]
            webhook_retry_schedule=schedule,
            webhook_schedule_problem=schedule_problem,
            webhook_secrets_key=env.get("LIVEDROP_WEBHOOK_SECRETS_KEY") or f"alias/livedrop-{stage}-webhooks",
            payments=env.get("LIVEDROP_PAYMENTS", "test"),
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_secret_key=env.get("LIVEDROP_STRIPE_SECRET_KEY") or None,
            stripe_secret_key_parameter=env.get("LIVEDROP_STRIPE_SECRET_KEY_PARAMETER") or None,
            stripe_webhook_secret=env.get("LIVEDROP_STRIPE_WEBHOOK_SECRET") or None,
            stripe_webhook_secret_parameter=env.get("LIVEDROP_STRIPE_WEBHOOK_SECRET_PARAMETER") or None,
            stripe_publishable_key=env.get("LIVEDROP_STRIPE_PUBLISHABLE_KEY") or None,
            paying_window_seconds=ms("LIVEDROP_PAYING_WINDOW_SECONDS", 900),
            max_open_orders=ms("LIVEDROP_MAX_OPEN_ORDERS", 3),
            rate_limits=rate_limits,
            rate_limits_problem=rate_limits_problem,
            cognito_issuer=env.get("LIVEDROP_COGNITO_ISSUER") or None,
            cognito_client_ids=tuple(c.strip() for c in env.get("LIVEDROP_COGNITO_CLIENT_IDS", "").split(",")
                                     if c.strip()),
            cognito_jwks_url=env.get("LIVEDROP_COGNITO_JWKS_URL") or None,
            live_state_seconds=seconds("LIVEDROP_LIVE_STATE_SECONDS", 1.0),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
