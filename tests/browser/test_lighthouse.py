"""Lighthouse (npm, pinned in tests/browser/package.json) on the same Chromium: accessibility and
best practices at 90 or more on the viewer (a live show), on the host console and on the show's
analytics (with the brand key in the tab's session storage, so the console and the report are
audited, not their key forms; see lighthouse.mjs). Scores, not timings: the same page gets the same score on a busy machine. The
figures are printed and kept in .local/reports/lighthouse.json for the README."""
from __future__ import annotations

import json
import secrets
import subprocess

import pytest

from devstack.stack import ROOT
from tests.browser.conftest import chromium_path, unique

HERE = ROOT / "tests" / "browser"
LIGHTHOUSE = HERE / "node_modules" / "lighthouse"
CATEGORIES = ("accessibility", "best-practices")
REPORTS = ROOT / ".local" / "reports"


def lighthouse(url: str, out, brand_key: str | None = None) -> tuple[dict[str, float], dict]:
    if not LIGHTHOUSE.exists():
        pytest.fail("Lighthouse is not installed: `make test` installs it (npm ci --prefix tests/browser)")
    finished = subprocess.run(
        ["node", str(HERE / "lighthouse.mjs"), url, str(out), *([brand_key] if brand_key else [])],
        env={"CHROME_PATH": chromium_path(), "PATH": "/usr/bin:/bin", "HOME": str(out.parent)},
        capture_output=True, text=True, timeout=180)
    report = json.loads(out.read_text()) if out.exists() else {}
    assert finished.returncode == 0 and not report.get("runtimeError"), finished.stderr[-2000:]
    scores = {name: report["categories"][name]["score"] for name in CATEGORIES}
    failing = {audit["id"]: audit["title"] for audit in report["audits"].values()
               if audit.get("score") is not None and audit["score"] < 1 and audit.get("scoreDisplayMode") == "binary"}
    console_errors = [item.get("description") for item in report["audits"]["errors-in-console"]["details"]["items"]]
    print(url, scores, "failing audits:", failing, "console errors:", console_errors)
    return scores, report


def test_viewer_console_and_analytics_score_90_or_more(stack, tmp_path):
    # No image: Lighthouse's Chromium has no test route to answer images.livedrop.test.
    show = stack.show({"title": unique("Lighthouse hoodie"), "quantity": 20, "images": []})
    stack.ok("POST", f"/v1/sessions/{show['session']}/feature", {"productId": show["products"][0]})
    shopper = stack.shopper()  # an order, so that the analytics have figures, a minute and a chart
    stack.ok("POST", "/v1/orders", {"sessionId": show["session"], "items": [{"productId": show["products"][0],
                                                                             "quantity": 1}]},
             key=shopper, headers={"Idempotency-Key": secrets.token_hex(16)})
    scores, reports = {}, {}
    for page, path, key in (("watch", "watch/{}", None), ("host", "host/{}", stack.brand_key),
                            ("analytics", "host/{}/analytics", stack.brand_key)):
        scores[page], reports[page] = lighthouse(f"{stack.web}/{path.format(show['session'])}",
                                                 tmp_path / f"{page}.json", key)
    # The audits saw the console (its lineup's add form, hidden until the key is known) and the
    # report (its tables' header cells: only the report has tables), not the key forms.
    nodes = {page: reports[page]["fullPageScreenshot"]["nodes"] for page in ("host", "analytics")}
    shown = {page: {node["id"]: node["width"] > 0 for node in nodes[page].values()} for page in nodes}
    assert (shown["host"].get("add-form"), shown["host"].get("key-form")) == (True, False), shown["host"]
    report_cells = [node for lh_id, node in nodes["analytics"].items() if lh_id.endswith("-TH") and node["width"] > 0]
    assert (bool(report_cells), shown["analytics"].get("key-form")) == (True, False), nodes["analytics"]
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "lighthouse.json").write_text(json.dumps(scores, indent=2))
    assert {page: {name: score >= 0.9 for name, score in figures.items()} for page, figures in scores.items()} == {
        page: {name: True for name in CATEGORIES} for page in scores}, scores
