"""Event handlers log like HTTP does: the event's id as correlation id, one structured line per
invocation saying what the handler did."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_session

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "eventbridge"


def scheduled(event_id):
    return {"version": "0", "id": event_id, "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-22T00:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/livedrop"], "detail": {}}


@pytest.fixture
def log_lines(log_buffer):
    return lambda: [json.loads(line) for line in log_buffer.getvalue().splitlines() if line.startswith("{")]


def the_line(lines, handler):
    found = [line for line in lines if line.get("handler") == handler and line["message"] in ("event", "event failed")]
    assert len(found) == 1, lines
    return found[0]


def test_ivs_events_log_the_event_id_and_what_changed(api, brand, log_lines):
    from app import ivs_events

    session = make_session(api, brand["apiKey"])
    event = json.loads((FIXTURES / "stream-start.json").read_text())
    event["detail"]["channel_name"] = session["id"]
    assert ivs_events(event, None) == {"status": "live"}
    line = the_line(log_lines(), "ivs_events")
    assert line["correlation_id"] == event["id"] and line["level"] == "INFO"
    assert line["result"] == {"status": "live"} and line["ms"] >= 0


def test_scheduled_functions_log_their_schedule_event_and_their_count(api, log_lines):
    from app import announce_timed_drops, release_expired_reservations

    announced = announce_timed_drops(scheduled("5e1f0c1a-announce"), None)
    released = release_expired_reservations(scheduled("5e1f0c1a-release"), None)
    lines = log_lines()
    announce, release = the_line(lines, "announce_timed_drops"), the_line(lines, "release_expired_reservations")
    assert announce["correlation_id"] == "5e1f0c1a-announce" and announce["result"] == announced
    assert release["correlation_id"] == "5e1f0c1a-release" and release["result"] == released
    assert set(released) == {"released"} and set(announced) == {"announced"}


def test_a_failing_handler_logs_the_failure_with_its_correlation_id(api, log_lines, monkeypatch):
    from app import announce_timed_drops
    from chalicelib.bootstrap import services

    def broken():
        raise RuntimeError("injected failure")

    monkeypatch.setattr(services().live, "announce_timed_openings", broken)
    with pytest.raises(RuntimeError):
        announce_timed_drops(scheduled("5e1f0c1a-broken"), None)
    line = the_line(log_lines(), "announce_timed_drops")
    assert line["message"] == "event failed" and line["level"] == "ERROR"
    assert line["correlation_id"] == "5e1f0c1a-broken" and "injected failure" in line["exception"]


def stock_record(event_id, left_before, left_after):
    image = {"sessionId": {"S": "ses_0000000000000000000000"}, "productId": {"S": "prd_0000000000000000000000"},
             "shard": {"N": "0"}}
    return {"eventID": event_id, "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "eventSourceARN": STREAM,
            "dynamodb": {"ApproximateCreationDateTime": 1795390000, "Keys": {"sessionId": image["sessionId"]},
                         "OldImage": {**image, "left": {"N": str(left_before)}},
                         "NewImage": {**image, "left": {"N": str(left_after)}},
                         "SequenceNumber": "111", "SizeBytes": 64, "StreamViewType": "NEW_AND_OLD_IMAGES"}}


STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/livedrop-t-stock/stream/2026-11-22T00:00:00.000"


def test_the_stock_ticker_logs_its_batch_under_the_first_record_id(api):
    # The handler exists only where the stream's ARN is set at import: a process of its own.
    script = ("import json, sys\nfrom app import stock_ticker\n"
              "print('RESULT ' + json.dumps(stock_ticker(json.loads(sys.stdin.read()), None)))\n")
    event = {"Records": [stock_record("c4ca4238a0b923820dcc509a6f75849b", 3, 2),
                         stock_record("c81e728d9d4c2f636f067f89cc14862c", 2, 1)]}
    env = {**os.environ, "LIVEDROP_STOCK_STREAM_ARN": STREAM, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(event), env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    line = the_line(lines, "stock_ticker")
    assert line["correlation_id"] == "c4ca4238a0b923820dcc509a6f75849b"
    assert line["result"] == {"records": 2, "sent": []}  # no such drop: nothing to send
    assert [out for out in done.stdout.splitlines() if out.startswith("RESULT ")] == ['RESULT {"records": 2, "sent": []}']
