"""Structured logs and metrics (Powertools), wired as Chalice middleware in app.py.

Log lines carry the API Gateway request id as correlation id. They never carry headers or bodies:
those hold API keys and stream keys.
"""
from __future__ import annotations

import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service="livedrop")
NAMESPACE = "Livedrop"


def observe_http(event, get_response):
    """Chalice http middleware: one structured line and one latency metric per request."""
    context = getattr(event, "context", None) or {}
    logger.set_correlation_id(context.get("requestId"))
    started = time.perf_counter()
    response = get_response(event)
    elapsed_ms = (time.perf_counter() - started) * 1000
    route = f"{event.method} {context.get('resourcePath', event.path)}"
    logger.info("request", extra={"route": route, "status": response.status_code, "ms": round(elapsed_ms, 1)})
    # One self-contained metric per request (request counts are its SampleCount): no state is
    # shared between requests, which matters where `chalice local` serves them on threads.
    with single_metric(name="Latency", unit=MetricUnit.Milliseconds, value=elapsed_ms, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="route", value=route)
        metric.add_dimension(name="statusClass", value=f"{response.status_code // 100}xx")
    return response
