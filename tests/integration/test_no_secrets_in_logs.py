"""Secrets (API keys, the operator key, stream keys) never reach a log line."""
import io
import logging

from chalicelib.observability import logger
from chalicelib.adapters.dynamodb import ProductRepository
from tests.conftest import make_brand, make_product, make_session


def test_logs_hold_no_secrets(api, operator_key, monkeypatch):
    # The same JSON formatter as the real handler, into a buffer: what Lambda would ship to CloudWatch.
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    brand = make_brand(api, operator_key)
    key = brand["apiKey"]
    session = make_session(api, key)
    stream_key = api.get(f"/v1/sessions/{session['id']}/ingest", key=key).json["streamKey"]
    api.get("/v1/products", key=key + "tampered")
    api.post("/v1/brands", {"name": "x"}, key=operator_key + "wrong")

    def failing_add(self, product):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(ProductRepository, "add", failing_add)
    assert api.post("/v1/products", {"title": "t", "price": {"amount": 1, "currency": "EUR"}, "stock": 1},
                    key=key).status_code == 500
    monkeypatch.undo()
    make_product(api, key)

    logger.removeHandler(capture)
    logged = buffer.getvalue()
    assert '"status":500' in logged and "injected failure" in logged  # the logs were captured
    for secret in (key, key.split(".")[2], operator_key, stream_key):
        assert secret not in logged


def test_each_request_logs_its_correlation_id_and_emits_a_latency_metric(api, monkeypatch, capsys):
    import json

    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    try:
        capsys.readouterr()
        assert api.get("/v1/sessions?status=live").status_code == 200
    finally:
        logger.removeHandler(capture)
    line = json.loads([entry for entry in buffer.getvalue().splitlines() if '"request"' in entry][-1])
    assert line["route"] == "GET /v1/sessions" and line["status"] == 200 and line["correlation_id"]
    # The same line is the latency metric, in CloudWatch's embedded metric format.
    definition = line["_aws"]["CloudWatchMetrics"][0]
    assert definition["Metrics"] == [{"Name": "Latency", "Unit": "Milliseconds"}]
    assert definition["Namespace"] == "Livedrop" and line["_aws"]["Timestamp"] > 0
    assert all(name in line for name in definition["Dimensions"][0]) and line["statusClass"] == "2xx"
    assert line["Latency"] == line["ms"]


def test_a_request_line_carries_no_metric_where_metrics_are_off(api, log_buffer):
    import json

    assert api.get("/v1/sessions?status=live").status_code == 200  # the suite runs with metrics off
    line = json.loads([entry for entry in log_buffer.getvalue().splitlines() if '"request"' in entry][-1])
    assert line["route"] == "GET /v1/sessions" and "_aws" not in line and "Latency" not in line


def test_webhook_secrets_reach_no_log_line(api, operator_key):
    """Registering, rotating, and a delivery that fails and one that succeeds, logged as Lambda would."""
    from devstack.run import WebhookFeed
    from tests.conftest import live_drop, make_shopper, order
    from tests.webhook_receiver import Answer, start_receiver

    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    receiver = start_receiver()
    try:
        key = make_brand(api, operator_key)["apiKey"]
        hook = api.post("/v1/webhooks", {"url": receiver.url, "events": ["order.reserved"]}, key=key).json
        rotated = api.post(f"/v1/webhooks/{hook['id']}/rotate-secret", key=key).json
        from chalicelib.bootstrap import services

        api.post(f"/v1/webhooks/{hook['id']}/test", key=key)
        services().webhooks.deliver_due()  # a ping, answered 204
        feed = WebhookFeed()
        session, product = live_drop(api, key)
        receiver.answer(Answer(500))
        order(api, make_shopper(api), session["id"], product["id"])
        feed.drain()
        services().webhooks.deliver_due()  # an order.reserved, answered 500
        receiver.wait_for(2)
    finally:
        receiver.close()
        logger.removeHandler(capture)
    logged = buffer.getvalue()
    assert "webhook attempt failed" in logged and "POST /v1/webhooks" in logged  # the logs were captured
    for secret in (hook["secret"], rotated["secret"]):
        assert secret not in logged and secret.removeprefix("whsec_") not in logged
