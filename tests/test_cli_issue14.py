"""CLI options of issue 14 against lavaan 0.6-14 (tests/reference/cli/cli_gaps_reference.R and the APIM reference
tests/reference/dyadic/apim_reference.R): `sem|cfa --group-equal/--group-partial`, `--modindices`, `--score-tests`,
`invariance --missing fiml` and the `apim` command.

Tolerance: 1e-3 relative with an absolute floor of 1e-6 (p-values below 1e-4 absolutely), as test_cli_cfa.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from test_cli_cfa import close  # the tolerance of the cfa/sem CLI contract
from vccscale.cli import main

ROOT = Path(__file__).resolve().parent / "reference"
REF = json.loads((ROOT / "cli" / "cli_gaps_reference.json").read_text())
HS = ROOT / "validate" / "HolzingerSwineford1939.csv"
HS_NA = ROOT / "validate" / "hs_missing.csv"
DYADS = ROOT / "dyadic" / "dyads_long.csv"


@pytest.fixture()
def model(tmp_path) -> Path:
    m = tmp_path / "hs.lavaan"
    m.write_text(REF["model"], encoding="utf-8")
    return m


def run(args, code=0):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res


def test_sem_group_equal_and_partial_match_lavaan(model):
    out = json.loads(run(["sem", HS, "--model", model, "--group", "school", "--group-equal", "loadings",
                          "intercepts", "--group-partial", "visual=~x2", "x3~1", "--format", "json"]).stdout)
    ref = REF["partial"]
    for k, v in ref["fit"].items():
        assert close(out["fit"][k], v, p=k == "pvalue"), k
    mine = {(r["lhs"], r["op"], r["rhs"], r["group"]): r for r in out["estimates"]}
    for r in ref["estimates"]:
        m = mine[(r["lhs"], r["op"], r["rhs"], r["group"])]
        assert close(m["est"], r["est"]) and close(m["se"], r["se"]), r
    # the released loading differs between the groups, the constrained ones do not
    assert mine[("visual", "=~", "x2", 1)]["est"] != pytest.approx(mine[("visual", "=~", "x2", 2)]["est"])
    assert mine[("visual", "=~", "x3", 1)]["est"] == pytest.approx(mine[("visual", "=~", "x3", 2)]["est"])


def test_group_equal_needs_group(model):
    res = run(["cfa", HS, "--model", model, "--group-equal", "loadings"], code=2)
    assert "--group" in res.output


def test_modindices_match_lavaan(model):
    out = json.loads(run(["cfa", HS, "--model", model, "--modindices", "--format", "json"]).stdout)
    mi = out["modindices"]
    for r, m in zip(REF["modindices"], mi):          # lavaan's 15 largest, in lavaan's order
        assert (m["lhs"], m["op"], m["rhs"]) == (r["lhs"], r["op"], r["rhs"])
        assert close(m["mi"], r["mi"]) and close(m["epc"], r["epc"]) and close(m["sepc_all"], r["sepc.all"])
    out = json.loads(run(["cfa", HS, "--model", model, "--modindices", "--mi-minimum", "10", "--format",
                          "json"]).stdout)
    assert len(out["modindices"]) == REF["modindices_n_above_10"]
    text = run(["cfa", HS, "--model", model, "--modindices", "--mi-minimum", "30"]).stdout
    assert "Modification indices" in text and "visual" in text.split("Modification indices")[1]


def test_score_tests_match_lavtestscore(model):
    out = json.loads(run(["cfa", HS, "--model", model, "--group", "school", "--group-equal", "loadings",
                          "--score-tests", "--format", "json"]).stdout)
    tot, ref = out["score_tests"]["total"], REF["score"]["total"][0]
    assert close(tot["X2"], ref["X2"]) and tot["df"] == ref["df"] and close(tot["pvalue"], ref["p.value"])
    assert sorted(round(r["X2"], 3) for r in out["score_tests"]["univariate"]) == pytest.approx(
        sorted(round(r["X2"], 3) for r in REF["score"]["uni"]), abs=2e-3)
    # no equality constraint: a usage error, not an empty table
    run(["cfa", HS, "--model", model, "--score-tests"], code=2)


@pytest.mark.slow
def test_invariance_fiml_matches_lavaan(model):
    # --partial-alpha 0 skips the partial-invariance search (nothing is significant at 0)
    out = json.loads(run(["invariance", HS_NA, "--model", model, "--group", "school", "--missing", "fiml",
                          "--partial-alpha", "0", "--format", "json"]).stdout)
    ref = REF["fiml_invariance"]
    assert out["n"] == sum(ref["nobs"])
    for level in ("configural", "metric", "scalar"):
        for k in ("chisq", "df", "cfi", "rmsea"):
            assert close(out[level][k], ref[level][k]), (level, k)


def test_apim_command_matches_lavaan():
    ref = json.loads((ROOT / "dyadic" / "apim_reference.json").read_text())["obs_ml"]["estimates"]
    out = json.loads(run(["apim", DYADS, "--x", "x", "--y", "y", "--dyad", "dyad_id", "--role", "perspective",
                          "--format", "json"]).stdout)
    assert out["n_dyads"] == 250 and out["pairing"]["n_paired"] == 250
    est = {e["label"]: e for e in out["effects"]}
    for lab, e, s in zip(ref["label"], ref["est"], ref["se"]):
        if lab in est:
            assert close(est[lab]["est"], e) and close(est[lab]["se"], s), lab
    assert {"aP", "aC", "pCP", "pPC", "actor_diff", "partner_diff", "k_P", "k_C"} <= set(est)


def test_apim_bad_input():
    res = run(["apim", DYADS, "--x", "nope", "--y", "y", "--dyad-id", "dyad_id"], code=1)
    assert "nope" in res.output and "dyads_long.csv" in res.output
    run(["apim", DYADS, "--x", "x", "--y", "y", "--dyad-id", "dyad_id", "--sides", "a", "b", "c"], code=2)
    run(["apim", DYADS, "--x", "x", "--y", "y", "--dyad-id", "dyad_id", "--equal-loadings"], code=2)
