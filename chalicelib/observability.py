"""Structured logs and metrics (Powertools), wired as Chalice middleware in app.py.

Log lines carry the API Gateway request id as correlation id. They never carry headers or bodies:
those hold API keys and stream keys.
"""
from __future__ import annotations

import threading
import time

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="livedrop")
metrics = Metrics(namespace="Livedrop", service="livedrop")
# A Lambda container serves one request at a time; `chalice local` serves many on threads.
_metrics_lock = threading.Lock()


def observe_http(event, get_response):
    """Chalice http middleware: one structured line and one latency metric per request."""
    context = getattr(event, "context", None) or {}
    logger.set_correlation_id(context.get("requestId"))
    started = time.perf_counter()
    response = get_response(event)
    elapsed_ms = (time.perf_counter() - started) * 1000
    route = f"{event.method} {context.get('resourcePath', event.path)}"
    logger.info("request", extra={"route": route, "status": response.status_code, "ms": round(elapsed_ms, 1)})
    with _metrics_lock:
        metrics.add_dimension(name="route", value=route)
        metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        metrics.add_metric(name=f"Http{response.status_code // 100}xx", unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
    return response
