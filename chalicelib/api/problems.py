"""Errors as RFC 9457 problem+json: the one table from a domain error to its problem type and
status. Nothing below the API decides a status; every problem type has exactly one status.
"""
from __future__ import annotations

from typing import Any, Callable

from chalice import Response
from pydantic import ValidationError

from chalicelib.domain import errors as e
from chalicelib.observability import count_refusal

PROBLEM_BASE = "https://livedrop.dev/problems/"


class PayloadTooLarge(e.DomainError):
    """The HTTP edge's own refusals (they have no meaning below it)."""


class UnsupportedMediaType(e.DomainError):
    pass


# error class -> (status, problem code, title). Looked up along the class's MRO.
PROBLEMS: dict[type[e.DomainError], tuple[int, str, str]] = {
    e.InvalidInput: (400, "invalid_input", "Invalid input"),
    e.SignatureRefused: (400, "signature_refused", "Webhook signature refused"),
    e.OrderTooLarge: (400, "order_too_large", "Order too large"),
    e.Unauthorized: (401, "unauthorized", "Missing or invalid credentials"),
    e.PaymentDeclined: (402, "payment_declined", "Payment declined"),
    e.AdmissionRequired: (403, "admission_required", "Queue admission required"),
    e.VerificationRequired: (403, "verification_required", "Verified identity required"),
    e.NotFound: (404, "not_found", "Not found"),
    e.InsufficientStock: (409, "insufficient_stock", "Insufficient stock"),
    e.InvalidTransition: (409, "invalid_transition", "Invalid status transition"),
    e.SessionNotEditable: (409, "session_not_editable", "Session not editable"),
    e.SessionChanged: (409, "session_changed", "Session changed"),
    e.AlreadyInLineup: (409, "already_in_lineup", "Already in the lineup"),
    e.SessionLive: (409, "session_live", "Session is live"),
    e.SessionHasDrops: (409, "session_has_drops", "Session has drops"),
    e.SessionEnded: (409, "session_ended", "Session has ended"),
    e.SessionNotLive: (409, "session_not_live", "Session is not live"),
    e.ChatClosed: (409, "chat_closed", "Chat closed"),
    e.SoldOut: (409, "sold_out", "Sold out"),
    e.LimitExceeded: (409, "limit_exceeded", "Per-customer limit exceeded"),
    e.HoldLimitReached: (409, "hold_limit_reached", "Too many unpaid orders"),
    e.DropByDraw: (409, "drop_by_draw", "Drop sold by draw"),
    e.DropNotOpen: (409, "drop_not_open", "Drop not open"),
    e.DropClosed: (409, "drop_closed", "Drop closed"),
    e.DropOpened: (409, "drop_opened", "Drop already opened"),
    e.DrawNotDue: (409, "draw_not_due", "Draw not due yet"),
    e.NotAQueue: (409, "not_a_queue", "Not a queue or draw drop"),
    e.EntriesClosed: (409, "entries_closed", "Entries closed"),
    e.OrderNotPayable: (409, "order_not_payable", "Order not payable"),
    e.OrderExpired: (409, "order_expired", "Order expired"),
    e.PaymentInProgress: (409, "payment_in_progress", "Payment in progress"),
    e.OrderNotRefundable: (409, "order_not_refundable", "Order not refundable"),
    e.OrderNotCancellable: (409, "order_not_cancellable", "Order not cancellable"),
    e.TooManyEndpoints: (409, "too_many_endpoints", "Too many webhook endpoints"),
    e.EndpointDisabled: (409, "endpoint_disabled", "Webhook endpoint disabled"),
    e.DeliveryInFlight: (409, "delivery_in_flight", "Delivery in flight"),
    PayloadTooLarge: (413, "payload_too_large", "Payload too large"),
    UnsupportedMediaType: (415, "unsupported_media_type", "Unsupported media type"),
    e.IdempotencyKeyReused: (422, "idempotency_key_reused", "Idempotency-Key reused with another request"),
    e.RateLimited: (429, "too_many_requests", "Too many requests"),
    e.ProviderRefused: (502, "payment_provider_refused", "Payment provider refused the request"),
    e.Busy: (503, "busy", "Busy or unavailable; retry"),
    e.PaymentOutcomeUnknown: (503, "payment_outcome_unknown", "Payment outcome not known yet"),
}
INTERNAL = (500, "internal_error", "Internal error")


def problem_of(error: e.DomainError) -> tuple[int, str, str]:
    for cls in type(error).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]  # type: ignore[index]
    return INTERNAL


def problem(status: int, code: str, title: str, detail: str, facts: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail}
    body.update(facts or {})
    headers = {"Content-Type": "application/problem+json"}
    if "retryAfter" in body:
        headers["Retry-After"] = str(body["retryAfter"])
    return Response(body=body, status_code=status, headers=headers)


def problem_response(error: e.DomainError) -> Response:
    """Every domain error's answer is made here, so refusals are counted here (observability)."""
    status, code, title = problem_of(error)
    count_refusal(status, code)
    return problem(status, code, title, error.detail, error.facts())


def error_response(error: Exception, is_transient: Callable[[BaseException], bool], log) -> Response:
    """Any exception out of a handler: a domain error is its problem; a passing AWS failure is
    503 `busy`; anything else is a bug, logged, and 500."""
    if isinstance(error, e.DomainError):
        return problem_response(error)
    if is_transient(error):
        log.warning("AWS unavailable", extra={"error": repr(error)})
        return problem_response(e.Busy())
    log.exception("unhandled error")
    return problem(*INTERNAL, "an internal error occurred; it has been logged")


def invalid_input(error: ValidationError, where: str) -> e.InvalidInput:
    errors = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        if item["type"] == "json_invalid":
            errors.append({"field": "body", "message": "malformed JSON: " + item["msg"]})
        else:
            errors.append({"field": location or where, "message": item["msg"]})
    detail = "; ".join(f"{err['field']}: {err['message']}" for err in errors)
    return e.InvalidInput(detail, errors)


CHALICE_ERRORS = {405: ("method_not_allowed", "Method not allowed"),
                  415: ("unsupported_media_type", "Unsupported media type")}


def chalice_errors_as_problems(event, get_response):
    """Chalice middleware: the errors Chalice answers itself (a 405, say) in problem+json too."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code, title = CHALICE_ERRORS.get(response.status_code, ("error", body["Code"]))
        converted = problem(response.status_code, code, title, body["Message"])
        converted.headers = {**response.headers, **converted.headers}
        return converted
    return response
