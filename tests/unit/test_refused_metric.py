"""The `Refused` metric: every domain refusal answered 403, 409 or 429 is counted by its problem
code, where problem+json answers are made (chalicelib/api/problems.py), as Powertools' EMF lines."""
from __future__ import annotations

import json

from chalicelib.api.problems import problem_response
from chalicelib.domain.errors import Busy, InvalidInput, NotFound, RateLimited, SoldOut


def emitted(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_a_refusal_emits_one_refused_metric_with_its_reason(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)  # the suite's AWS stack turns them off
    capsys.readouterr()
    assert problem_response(RateLimited("at most 5 likes a second per shopper in a session", 1)).status_code == 429
    assert problem_response(SoldOut("prd_1", 0)).status_code == 409
    lines = emitted(capsys.readouterr().out)
    assert [(line["reason"], line["Refused"]) for line in lines] == [("too_many_requests", [1.0]), ("sold_out", [1.0])]
    definition = lines[0]["_aws"]["CloudWatchMetrics"][0]
    assert definition["Namespace"] == "Livedrop"
    assert definition["Metrics"] == [{"Name": "Refused", "Unit": "Count"}]
    assert ["reason"] in [[d for d in dims if d != "service"] for dims in definition["Dimensions"]]


def test_bad_input_missing_things_and_failures_are_not_refusals(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    capsys.readouterr()
    problem_response(InvalidInput("no", [{"field": "x", "message": "no"}]))
    problem_response(NotFound("order", "ord_1"))
    problem_response(Busy())
    assert emitted(capsys.readouterr().out) == []
