"""AWS plumbing shared by the adapters: clients made once, and which failures are passing.

Passing failures (throttling, a 5xx, a dropped connection): a client retrying later will succeed,
so they answer 503 with Retry-After instead of 500."""
from __future__ import annotations

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


@lru_cache(maxsize=None)
def client(service: str):
    """One boto3 client per service and container, made on first use; its endpoint comes from
    AWS_ENDPOINT_URL[_<SERVICE>] as boto3 reads it."""
    import boto3

    return boto3.client(service)
