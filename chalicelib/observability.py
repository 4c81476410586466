"""Structured logs and metrics (Powertools), wired as Chalice middleware and decorators in app.py.

Log lines carry a correlation id: the API Gateway request id for HTTP, the event's own id for the
event handlers. They never carry headers or bodies: those hold API keys and stream keys.
"""
from __future__ import annotations

import functools
import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

logger = Logger(service="livedrop")
NAMESPACE = "Livedrop"


def observe_http(event, get_response):
    """Chalice http middleware: one structured line per request, which is also its latency metric
    (CloudWatch's embedded metric format: a log line with an `_aws` key). One line instead of a log
    line and a metric set of its own: a tenth of a checkout's CPU, bench/checkout_cpu.py."""
    context = getattr(event, "context", None) or {}
    # API Gateway's request id; where there is none (chalice local), the invocation's own id.
    logger.set_correlation_id(context.get("requestId")
                              or getattr(getattr(event, "lambda_context", None), "aws_request_id", None))
    started = time.perf_counter()
    response = get_response(event)
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    route = f"{event.method} {context.get('resourcePath', event.path)}"
    line = {"route": route, "status": response.status_code, "ms": elapsed_ms}
    if not is_metrics_disabled():  # Powertools' own rule (POWERTOOLS_METRICS_DISABLED, _DEV)
        line.update({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [LATENCY]},
                     "statusClass": f"{response.status_code // 100}xx", "Latency": elapsed_ms})
    logger.info("request", extra=line)
    return response


# The request line's metric: its latency by route and status class (the line's `service` too).
LATENCY = {"Namespace": NAMESPACE, "Dimensions": [["route", "statusClass", "service"]],
           "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}


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
