"""Command-line contract of `vccscale reliability` and `vccscale efa`, checked against psych (R fixtures in
tests/reference/validate/, made by make_reference.R) (issue 6)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vccscale.cli import main

REF = Path(__file__).resolve().parent / "reference" / "validate"
BFI = REF / "bfi.csv"
PSYCH = json.loads((REF / "bfi_psych.json").read_text())
A = ["A1", "A2", "A3", "A4", "A5"]


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-6)


def test_reliability_json_matches_psych_alpha():
    res = CliRunner().invoke(main, ["reliability", str(BFI), "--items", *A, "--check-keys", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ref = PSYCH["alpha_A"]
    assert rel(out["alpha"], ref["total"]["raw_alpha"]) < 1e-3
    assert rel(out["alpha_std"], ref["total"]["std.alpha"]) < 1e-3
    assert out["reversed_items"] == ["A1"] and ref["reversed"] == "A1"
    drops = {r["item"].rstrip("-"): r["raw_alpha"] for r in ref["alpha_drop"]}
    rdrop = {r["item"].rstrip("-"): r["r.drop"] for r in ref["item_stats"]}
    assert [i["item"] for i in out["items"]] == A
    for i in out["items"]:
        assert rel(i["alpha_if_deleted"], drops[i["item"]]) < 1e-3
        assert rel(i["r_drop"], rdrop[i["item"]]) < 1e-3
    assert 0 < out["omega_total"] < 1


def test_reliability_warns_about_reverse_keyed_items_without_check_keys():
    res = CliRunner().invoke(main, ["reliability", str(BFI), "--items", *A, "--format", "json"])
    assert res.exit_code == 0
    assert "A1" in res.stderr and json.loads(res.stdout)["negative_items"] == ["A1"]


def test_efa_json_matches_psych():
    items = PSYCH["items"]
    res = CliRunner().invoke(main, ["efa", str(BFI), "--items", *items, "--factors", "5", "--method", "minres",
                                    "--rotation", "oblimin", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert rel(out["kmo"]["overall"], PSYCH["kmo"]["MSA"]) < 1e-3
    msai = PSYCH["kmo"]["MSAi"]
    for item, v in out["kmo"]["items"].items():
        assert rel(v, msai[item]) < 1e-3
    b = PSYCH["bartlett"]["n_nrow"]
    assert rel(out["bartlett"]["chisq"], b["chisq"]) < 1e-3 and out["bartlett"]["df"] == b["df"]
    assert out["parallel_n_factors"] == PSYCH["fa_parallel"]["nfact"]
    ref = PSYCH["fa_minres_oblimin"]
    h2 = ref["h2"]
    for item, v in out["communalities"].items():
        assert abs(v - h2[item]) < 1e-2
    # loadings to 1e-2 after matching factor order and sign
    got = np.array([out["loadings"][i] for i in items])
    lo = ref["loadings"]  # {"rownames", "colnames", "values"}: psych's column order and signs
    rows = {name: vals for name, vals in zip(lo["rownames"], lo["values"])}
    want = np.array([rows[i] for i in items], dtype=float)
    for j in range(want.shape[1]):
        col = want[:, j]
        best = min(range(got.shape[1]), key=lambda k: min(np.abs(got[:, k] - col).max(),
                                                           np.abs(-got[:, k] - col).max()))
        diff = min(np.abs(got[:, best] - col).max(), np.abs(-got[:, best] - col).max())
        assert diff < 1e-2


@pytest.mark.parametrize("nf", [1, 2, 3])
def test_efa_json_reports_psych_fit_statistics_with_pairwise_missing(nf):
    """`efa --format json` has psych::fa's fit statistics (tests/reference/validate/efa_pairwise_reference.R: 9
    items, ~9% MCAR, default minres + oblimin). rms/crms to 1e-6 absolute, the rest 1e-4 relative."""
    ref = json.loads((REF / "efa_pairwise_reference.json").read_text())["fa"][f"minres_{nf}_oblimin"]
    res = CliRunner().invoke(main, ["efa", str(REF / "efa_pairwise.csv"), "--items", *[f"v{i}" for i in range(1, 10)],
                                    "--factors", str(nf), "--format", "json"])
    assert res.exit_code == 0, res.output
    fit = json.loads(res.stdout)["fit"]
    assert abs(fit["rms"] - ref["rms"]) < 1e-6 and abs(fit["crms"] - ref["crms"]) < 1e-6
    assert fit["dof"] == ref["dof"] and isinstance(fit["dof"], int) and fit["n_obs"] == 400
    for mine, theirs in (("chisq", "STATISTIC"), ("pvalue", "PVAL"), ("chi", "chi"), ("e_pvalue", "EPVAL"),
                         ("tli", "TLI"), ("bic", "BIC"), ("sabic", "SABIC"), ("e_bic", "EBIC"), ("fit", "fit"),
                         ("fit_off", "fit_off"), ("nh", "nh")):
        assert rel(fit[mine], ref[theirs]) < 1e-4, mine
    for mine, theirs in (("rmsea", "RMSEA"), ("rmsea_lower", "lower"), ("rmsea_upper", "upper"),
                         ("rmsea_confidence", "confidence")):
        assert abs(fit[mine] - ref["RMSEA"][theirs]) < 1e-4 * max(abs(ref["RMSEA"][theirs]), 1e-4), mine


def test_efa_needs_items_and_names_missing_columns():
    res = CliRunner().invoke(main, ["efa", str(BFI), "--factors", "2"])
    assert res.exit_code == 2
    res = CliRunner().invoke(main, ["efa", str(BFI), "--items", "A1", "Z9", "--factors", "1"])
    assert res.exit_code == 1 and "Z9" in res.stderr


def test_item_analysis_json_matches_psych_describe():
    res = CliRunner().invoke(main, ["item-analysis", str(BFI), "--items", "A2", "A3", "A4", "--scale-min", "1",
                                    "--scale-max", "6", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    rows = {r["item"]: r for r in PSYCH["describe"]}  # psych::describe rows
    assert [it["item"] for it in out["items"]] == ["A2", "A3", "A4"]
    for it in out["items"]:
        ref = rows[it["item"]]
        assert it["n"] == ref["n"]
        for k in ("mean", "sd", "skew", "kurtosis", "se"):
            assert rel(it[k], ref[k]) < 1e-3, (it["item"], k)
        assert 0 <= it["floor_pct"] <= 100 and 0 <= it["ceiling_pct"] <= 100
