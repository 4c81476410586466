"""Errors a client can cause, each with its HTTP status and problem type.

Raised anywhere below the web layer; chalicelib/api/problems.py turns them into RFC 9457
problem+json responses. Anything else that escapes a handler is a bug and answers 500.
"""
from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://livedrop.dev/problems/"


class LivedropError(Exception):
    status = 500
    code = "internal_error"
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.code


class InvalidInput(LivedropError):
    status, code, title = 400, "invalid_input", "Invalid input"

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        # `field` names the first offending field; `errors` lists every one.
        super().__init__(detail, field=errors[0]["field"] if errors else None, errors=errors)


class Unauthorized(LivedropError):
    status, code, title = 401, "unauthorized", "Missing or invalid credentials"


class NotFound(LivedropError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(LivedropError):
    status, title = 409, "Conflict"

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.code = code


class PayloadTooLarge(LivedropError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(LivedropError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class TooManyRequests(LivedropError):
    status, code, title = 429, "too_many_requests", "Too many requests"


class PaymentRequired(LivedropError):
    status, code, title = 402, "payment_declined", "Payment declined"


class IdempotencyKeyReused(LivedropError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency-Key reused with another request"


class ServiceBusy(LivedropError):
    status, code, title = 503, "busy", "Too much contention; try again"
