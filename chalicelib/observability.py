"""Structured logs and metrics (Powertools), wired as Chalice middleware and decorators in app.py.

Log lines carry a correlation id: the API Gateway request id for HTTP, the event's own id for the
event handlers. They never carry headers or bodies: those hold API keys and stream keys.
"""
from __future__ import annotations

import functools
import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

logger = Logger(service="livedrop")
NAMESPACE = "Livedrop"


def observe_http(event, get_response):
    """Chalice http middleware: one structured line and one latency metric per request."""
    context = getattr(event, "context", None) or {}
    # API Gateway's request id; where there is none (chalice local), the invocation's own id.
    logger.set_correlation_id(context.get("requestId")
                              or getattr(getattr(event, "lambda_context", None), "aws_request_id", None))
    started = time.perf_counter()
    response = get_response(event)
    elapsed_ms = (time.perf_counter() - started) * 1000
    route = f"{event.method} {context.get('resourcePath', event.path)}"
    logger.info("request", extra={"route": route, "status": response.status_code, "ms": round(elapsed_ms, 1)})
    # A metric set of its own per request (request counts are the SampleCount): no state is shared
    # between requests, which matters where `chalice local` serves them on threads.
    request_metrics = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service="livedrop")
    request_metrics.add_dimension(name="route", value=route)
    request_metrics.add_dimension(name="statusClass", value=f"{response.status_code // 100}xx")
    request_metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    request_metrics.flush_metrics()
    return response


REFUSAL_STATUSES = frozenset({403, 409, 429})  # a rule said no, as opposed to bad input or a failure


def count_refusal(status: int, reason: str) -> None:
    """One `Refused` metric per domain refusal answered 403, 409 or 429, by its problem code
    (`reason`): sold out, over a limit, rate limited... what a show's buyers ran into, and bots."""
    if status not in REFUSAL_STATUSES:
        return
    refusals = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service="livedrop")
    refusals.add_dimension(name="reason", value=reason)
    refusals.add_metric(name="Refused", unit=MetricUnit.Count, value=1)
    refusals.flush_metrics()


def event_id(event) -> str | None:
    """The id AWS gives what triggered an event handler: an EventBridge event or schedule's id,
    or the first record's eventID for a stream batch."""
    if getattr(event, "event_id", None):
        return event.event_id
    first = next(iter(event), None) if hasattr(event, "__iter__") else None
    return getattr(first, "event_id", None)


def observe_event(handler):
    """Event handlers get what HTTP gets: the correlation id, and one structured line per
    invocation saying what the handler did (its result) and how long it took."""
    @functools.wraps(handler)
    def observed(event):
        logger.set_correlation_id(event_id(event))
        started = time.perf_counter()
        try:
            result = handler(event)
        except Exception:
            logger.exception("event failed", extra={"handler": handler.__name__,
                                                    "ms": round((time.perf_counter() - started) * 1000, 1)})
            raise
        logger.info("event", extra={"handler": handler.__name__, "result": result,
                                    "ms": round((time.perf_counter() - started) * 1000, 1)})
        return result

    return observed
