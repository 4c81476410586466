"""Lighthouse (npm, pinned in tests/browser/package.json) on the same Chromium: accessibility and
best practices at 90 or more on the viewer (a live show) and on the host console. Scores, not
timings: the same page gets the same score on a busy machine. The figures are printed and kept
in .local/reports/lighthouse.json for the README."""
from __future__ import annotations

import json
import subprocess

import pytest

from devstack.stack import ROOT
from tests.browser.conftest import chromium_path, unique

LIGHTHOUSE = ROOT / "tests" / "browser" / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("accessibility", "best-practices")
REPORTS = ROOT / ".local" / "reports"


def lighthouse(url: str, out) -> dict[str, float]:
    if not LIGHTHOUSE.exists():
        pytest.fail("Lighthouse is not installed: `make test` installs it (npm ci --prefix tests/browser)")
    finished = subprocess.run(
        [str(LIGHTHOUSE), url, "--only-categories=" + ",".join(CATEGORIES), "--output=json",
         f"--output-path={out}", "--quiet", "--blocked-url-patterns=*.live-video.net*",
         "--chrome-flags=--headless=new --no-sandbox --autoplay-policy=no-user-gesture-required"],
        env={"CHROME_PATH": chromium_path(), "PATH": "/usr/bin:/bin", "HOME": str(out.parent)},
        capture_output=True, text=True, timeout=180)
    report = json.loads(out.read_text()) if out.exists() else {}
    assert finished.returncode == 0 and not report.get("runtimeError"), finished.stderr[-2000:]
    scores = {name: report["categories"][name]["score"] for name in CATEGORIES}
    failing = {audit["id"]: audit["title"] for audit in report["audits"].values()
               if audit.get("score") is not None and audit["score"] < 1 and audit.get("scoreDisplayMode") == "binary"}
    console_errors = [item.get("description") for item in report["audits"]["errors-in-console"]["details"]["items"]]
    print(url, scores, "failing audits:", failing, "console errors:", console_errors)
    return scores


def test_viewer_and_console_score_90_or_more(stack, tmp_path):
    # No image: Lighthouse's Chromium has no test route to answer images.livedrop.test.
    show = stack.show({"title": unique("Lighthouse hoodie"), "quantity": 20, "images": []})
    stack.ok("POST", f"/v1/sessions/{show['session']}/feature", {"productId": show["products"][0]})
    scores = {page: lighthouse(f"{stack.web}/{page}/{show['session']}", tmp_path / f"{page}.json")
              for page in ("watch", "host")}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "lighthouse.json").write_text(json.dumps(scores, indent=2))
    assert {page: {name: score >= 0.9 for name, score in figures.items()} for page, figures in scores.items()} == {
        page: {name: True for name in CATEGORIES} for page in scores}, scores
