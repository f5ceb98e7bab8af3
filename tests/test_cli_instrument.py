"""Command-line contract of `vccscale instrument build|read|fake-export` (issue 4)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vccscale.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "analysis" / "example_study.yaml"


def test_build_read_round_trip_via_cli(tmp_path):
    out = tmp_path / "build"
    res = CliRunner().invoke(main, ["instrument", "build", str(EXAMPLE), "--out", str(out), "--format", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["versions"] == ["provider", "customer"] and summary["n_attention_checks"] == 4
    for name in ("survey.qsf", "codebook.csv", "codebook.json", "questionnaire.html", "questionnaire.md",
                 "measurement.lavaan"):
        assert (out / name).exists(), name
    res = CliRunner().invoke(main, ["instrument", "read", str(out / "survey.qsf"), "--out",
                                    str(tmp_path / "read.csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "read.csv").read_bytes() == (out / "codebook.csv").read_bytes()


def test_fake_export_via_cli(tmp_path):
    out = tmp_path / "build"
    assert CliRunner().invoke(main, ["instrument", "build", str(EXAMPLE), "--out", str(out)]).exit_code == 0
    res = CliRunner().invoke(main, ["instrument", "fake-export", str(out), "--n", "40", "--seed", "7", "--out",
                                    str(tmp_path / "export.csv"), "--straightliners", "0.1", "--format", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n"] == 40 and summary["seed"] == 7
    header = (tmp_path / "export.csv").read_text(encoding="utf-8").split("\r\n", 1)[0].split(",")
    assert header[0] == "StartDate" and "a_drv_cust_involvement_p_1" in header


def test_errors_are_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "bad.qsf"
    bad.write_text("<html><body>Error</body></html>")
    res = CliRunner().invoke(main, ["instrument", "read", str(bad)])
    assert res.exit_code == 1 and "bad.qsf" in res.stderr and "Traceback" not in res.output
    study = tmp_path / "s.yaml"
    study.write_text("study:\n  id: x\n  title: T\ninstrument:\n  families: [A]\n  versions: [vendor]\n")
    res = CliRunner().invoke(main, ["instrument", "build", str(study), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "s.yaml:6" in res.stderr
    res = CliRunner().invoke(main, ["instrument", "fake-export", str(tmp_path), "--n", "5", "--seed", "1",
                                    "--out", str(tmp_path / "e.csv")])
    assert res.exit_code == 1 and "codebook.json" in res.stderr
    assert CliRunner().invoke(main, ["instrument", "fake-export", str(tmp_path), "--n", "0", "--seed", "1",
                                     "--out", "e.csv"]).exit_code == 2
