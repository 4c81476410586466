"""The load scenario for a deployed stage (loadtest/locustfile.py), run headless by the real
`locust` command against the suite's `chalice local` on DynamoDB Local: it sets its drop up, sells
exactly what it has with no 5xx, conservation holds, and its summary states the shard formula.

locust runs in a subprocess: importing it here would monkey-patch this process (gevent).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from loadtest.formula import formula_text, shard_ceiling, verdict
from tests.conftest import ROOT, conservation

LOCUST = Path(sys.executable).parent / "locust"


def run_scenario(base_url, tmp_path, users, rate, *options):
    """The scenario as a user runs it; -t only bounds a run that would hang (it stops itself)."""
    summary = tmp_path / "summary.json"
    process = subprocess.run(
        [str(LOCUST), "-f", "loadtest/locustfile.py", "--headless", "-u", str(users), "-r", str(rate), "-t", "90s",
         "--host", base_url, "--only-summary", "--livedrop-summary-json", str(summary), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    return process, json.loads(summary.read_text()) if summary.exists() else None


def test_buyers_and_viewers_on_a_sharded_drop(base_url, operator_key, aws_stack, tmp_path):
    # 40 buyers (minting their tokens with the stage's secret) for 20 units over 2 shards; 2 viewers.
    process, summary = run_scenario(base_url, tmp_path, 42, 42, "--livedrop-operator-key", operator_key,
                                    "--livedrop-shopper-secret", aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"],
                                    "--livedrop-units", "20", "--livedrop-shards", "2", "--livedrop-viewers", "2")
    assert process.returncode == 0, process.stderr[-3000:]
    assert summary["shards"] == 2 and summary["ordersSent"] == 40
    assert summary["answers"] == {"201 sold": 20, "409 sold_out": 20}
    assert summary["sold"] == 20 and summary["serverErrors"] == 0 and summary["throttled429"] == 0
    assert summary["requests"]["GET /v1/sessions/{id}/live"] >= 2  # each viewer polled at least once
    assert {k: summary["conservation"][k] for k in ("left", "held", "holds")} == {"left": 0, "held": 20, "holds": True}
    assert conservation(summary["sessionId"], summary["productId"], 20) == (0, 20)
    assert "ceiling = 2 shard(s) x 1,000 WCU/s / (2 WCU x 1 hot item per checkout) = 1,000 checkouts/s" in process.stdout
    assert f"-> {summary['verdict']}" in process.stdout
    assert "0 left + 20 held by live orders = 20 of 20 units: holds" in process.stdout
    # It cleans up: the show is ended (its channel deleted).
    assert requests.get(f"{base_url}/v1/sessions/{summary['sessionId']}").json()["status"] == "ended"


def test_buyers_mint_shoppers_through_the_api_without_the_secret(base_url, operator_key, tmp_path):
    brand = requests.post(f"{base_url}/v1/brands", json={"name": "Load"},
                          headers={"Authorization": f"Bearer {operator_key}"}).json()
    process, summary = run_scenario(base_url, tmp_path, 8, 8, "--livedrop-brand-key", brand["apiKey"],
                                    "--livedrop-units", "5")
    assert process.returncode == 0, process.stderr[-3000:]
    assert summary["shards"] == 1
    assert summary["requests"]["POST /v1/shoppers 201"] == 8
    assert summary["answers"] == {"201 sold": 5, "409 sold_out": 3}
    assert summary["conservation"]["holds"] and conservation(summary["sessionId"], summary["productId"], 5) == (0, 5)
    assert "= 500 checkouts/s" in process.stdout


def test_a_drop_that_can_not_be_set_up_fails_the_run(base_url, tmp_path):
    process, summary = run_scenario(base_url, tmp_path, 1, 1, "--livedrop-brand-key", "not-a-key")
    assert process.returncode == 2 and summary is None
    assert "the drop could not be set up: POST /v1/products: 401" in process.stderr
    assert "Traceback" not in process.stderr


@pytest.mark.parametrize("shards, sold, offered, said", [
    (1, None, 100.0, "no selling phase"),
    (1, 600.0, 700.0, "ABOVE the ceiling"),
    (1, 500.0, 900.0, "WITHIN"),           # at the ceiling is within it
    (2, 300.0, 320.0, "BELOW the planning figure (300.0 < 500/s), but the run offered only 320.0"),
    (1, 100.0, 900.0, "BELOW the planning figure (100.0 < 250/s) although 900.0"),
])
def test_the_verdict_places_a_measured_rate_against_the_formula(shards, sold, offered, said):
    assert said in verdict(shards, sold, offered)


def test_the_formula_takes_one_shard_item_per_checkout():
    assert shard_ceiling(1) == 500 and shard_ceiling(3) == 1500
    assert formula_text(4).endswith("= 2,000 checkouts/s")
