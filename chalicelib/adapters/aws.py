"""AWS plumbing shared by the adapters: clients made once, and which failures are passing.

Passing failures (throttling, a 5xx, a dropped connection): a client retrying later will succeed,
so they answer 503 with Retry-After instead of 500."""
from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError as BotoConnectionError, HTTPClientError

TRANSIENT_CODES = frozenset({
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "ProvisionedThroughputExceededException",
    "ThrottlingException", "RequestLimitExceeded", "TransactionInProgressException", "LimitExceededException",
})


def is_transient(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 6:
        if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in TRANSIENT_CODES:
            return True
        if isinstance(error, (BotoConnectionError, HTTPClientError)):
            return True
        error = getattr(error, "cause", None) or error.__cause__ or error.__context__
        seen += 1
    return False


_lock = threading.Lock()  # botocore builds clients from a session one thread at a time


@lru_cache(maxsize=1)
def session():
    """The container's one botocore session: loading the service models and the credential chain
    is paid once, not by every client (PynamoDB made one per model class)."""
    import botocore.session

    return botocore.session.get_session()


# PynamoDB's own client settings (pynamodb.settings), kept where DynamoDB is reached directly:
# no parameter validation (its request dicts are built by code), bounded retries and timeouts, and
# a pool sized for `chalice local` serving a spike on many threads.
DYNAMODB_CONFIG = {"parameter_validation": False, "connect_timeout": 15, "read_timeout": 30,
                   "max_pool_connections": 64, "retries": {"total_max_attempts": 4, "mode": "standard"}}


@lru_cache(maxsize=None)
def client(service: str, region: str | None = None, endpoint_url: str | None = None):
    """One client per service (and endpoint) and container, from the one session, made on first
    use; without `endpoint_url`, AWS_ENDPOINT_URL[_<SERVICE>] decides, as boto3 reads it."""
    from botocore.config import Config

    config = Config(**DYNAMODB_CONFIG) if service == "dynamodb" else None
    with _lock:
        return session().create_client(service, region_name=region, endpoint_url=endpoint_url, config=config)


class _EmptyBody:
    """The raw body of a primed call's answer: an empty JSON object."""

    @staticmethod
    def stream(**_: Any):
        yield b"{}"


def prime(client: Any, calls: Iterable[tuple[str, dict]]) -> None:
    """Make each call once through the client's whole pipeline (serialise, resolve the endpoint,
    sign, parse) with an empty 200 in place of the network: botocore builds an operation's
    machinery on its first call, and priming moves that out of the first buyer's request into
    Lambda's init phase (paid before the show under provisioned concurrency or SnapStart).

    Nothing is sent. Only this thread's calls are answered, so another thread's real request is
    never given the empty answer. Best effort: if priming fails (no credentials yet), the first
    request pays what it always paid."""
    from botocore.awsrequest import AWSResponse

    primer = threading.get_ident()
    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}"
    unique_id = f"livedrop-prime-{primer}"  # two threads priming at once each keep their own answer

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        if threading.get_ident() != primer:
            return None
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _EmptyBody())

    # The first connection encodes its host with the idna codec, whose import is the rest of the
    # first request's surplus; nothing to connect to here, so the codec is loaded directly.
    "localhost".encode("idna")
    client.meta.events.register_first(event, answer, unique_id=unique_id)
    try:
        for operation, params in calls:
            getattr(client, operation)(**params)
    except (BotoCoreError, ClientError):
        pass
    finally:
        client.meta.events.unregister(event, unique_id=unique_id)
