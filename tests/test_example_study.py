"""The shipped example study runs end to end and its report lists every hypothesis with test and decision
(issue 10: what the README's first command does)."""
from __future__ import annotations

import csv
import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vccscale.pipeline import run_study
from vccscale.study import load_study

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "analysis" / "example_study.yaml"

pytestmark = pytest.mark.slow  # every test uses the whole example run (~30-60 s)

#: bootstrap draws of the example run in the tests (the shipped study uses 1000; 300 exercise the same code paths
#: and keep the suite within its time budget on 2 cores)
TEST_DRAWS = 300


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("example")
    text = STUDY.read_text(encoding="utf-8")
    assert "bootstrap: 1000" in text
    text = text.replace("bootstrap: 1000", f"bootstrap: {TEST_DRAWS}")
    for rel in ("../datasets/", "../instruments/"):
        text = text.replace(rel, (REPO / rel[3:]).as_posix() + "/")
    shutil.copy(STUDY.parent / "example_power.lavaan", base / "example_power.lavaan")
    study = base / "example_study.yaml"
    study.write_text(text, encoding="utf-8")
    out = base / "out"
    return run_study(study, out=out, progress=False), out


def test_every_stage_runs(run):
    res, out = run
    assert not res.failed, {k: v.notes for k, v in res.stages.items() if v.status == "failed"}
    assert all(rec.status == "ok" for rec in res.stages.values()), {k: v.status for k, v in res.stages.items()}
    assert res.report_written and (out / "report.html").exists() and (out / "manifest.json").exists()


def test_report_lists_every_hypothesis_with_test_and_decision(run):
    _, out = run
    chosen = load_study(STUDY).models.hypotheses
    rows = list(csv.DictReader(open(out / "tables" / "hypotheses.csv", encoding="utf-8")))
    assert [r["id"] for r in rows] == chosen
    page = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    for r in rows:
        assert r["test"] and r["decision"] in {"supported", "not_supported", "partial", "inconclusive", "not_tested"}
        assert re.search(rf"\b{r['id']}\b", page), r["id"]
    # the simulated example supports its core claims: drivers -> alignment, full mediation; its VC-VK surface
    # rises along X = Y and falls away from it, but is asymmetric (a3 = .28, SE .11), so the strict congruence
    # conditions (Humberg et al. 2019) are not all met and H17 is at most partial, with the condition named
    decisions = {r["id"]: r["decision"] for r in rows}
    assert decisions["H1"] == "supported"
    h17 = next(r for r in rows if r["id"] == "H17")
    assert h17["decision"] == "partial" and "a3 = 0 (congruence condition" in h17["reason"]


def test_example_report_in_headless_chromium(run, tmp_path):
    _, out = run
    exe = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium not found (CI installs it)")
        pytest.skip("chromium not installed")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--dump-dom",
           (out / "report.html").as_uri()]
    res = subprocess.run(cmd, capture_output=True, timeout=90)
    assert res.returncode == 0
    dom = html.unescape(res.stdout.decode("utf-8"))
    for heading in ("Run Overview", "Sample", "Reliability", "Measurement Model", "Structural Model", "Hypotheses",
                    "Response Surface Analysis", "Power"):
        assert heading in dom, heading
    assert dom.count("data:image/png;base64") >= 5  # scree, structural model, two RSA plots, power curve
    err = res.stderr.decode("utf-8", "replace")
    assert "Uncaught" not in err and "ERROR:CONSOLE" not in err
