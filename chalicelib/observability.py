"""Structured logs and metrics (Powertools), wired as Chalice middleware in app.py.

Log lines carry the API Gateway request id as correlation id. They never carry headers or bodies:
those hold API keys and stream keys.
"""
from __future__ import annotations

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
