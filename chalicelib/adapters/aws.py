"""AWS plumbing shared by the adapters: clients made once, and which failures are passing.

Passing failures (throttling, a 5xx, a dropped connection): a client retrying later will succeed,
so they answer 503 with Retry-After instead of 500."""
from __future__ import annotations

import threading
from functools import lru_cache

from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

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
