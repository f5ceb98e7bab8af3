"""Command-line contract of `vccscale cfa`, `sem` and `invariance`, against lavaan/semTools (R fixtures in
tests/reference/validate/) (issue 6). Tolerance: 1e-3 relative with an absolute floor of 1e-6; p-values below
1e-4 on the absolute scale."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vccscale.cli import main

REF = Path(__file__).resolve().parent / "reference" / "validate"
HS = REF / "HolzingerSwineford1939.csv"


def close(a: float, b: float, p: bool = False) -> bool:
    if p and abs(b) < 1e-4:
        return abs(a - b) < 1e-4
    return abs(a - b) <= max(1e-3 * abs(b), 1e-6)


@pytest.fixture()
def hs_model(tmp_path) -> Path:
    m = tmp_path / "hs.lavaan"
    m.write_text(json.loads((REF / "hs_cfa_ml.json").read_text())["model"], encoding="utf-8")
    return m


@pytest.mark.parametrize("estimator,fixture", [("ML", "hs_cfa_ml.json"), ("MLR", "hs_cfa_mlr.json")])
def test_cfa_json_matches_lavaan_and_semtools(hs_model, estimator, fixture):
    res = CliRunner().invoke(main, ["cfa", str(HS), "--model", str(hs_model), "--estimator", estimator,
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ref = json.loads((REF / fixture).read_text())
    assert out["n"] == 301 and out["estimator"] == estimator
    keys = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "aic", "bic"]
    if estimator == "MLR":
        keys += ["chisq.scaled", "cfi.robust", "tli.robust", "rmsea.robust"]
    for k in keys:
        assert close(out["fit"][k.replace(".", "_")], ref["fit_measures"][k], p="pvalue" in k), k
    est = {(r["lhs"], r["op"], r["rhs"]): r for r in out["estimates"]}
    for r in ref["parameter_estimates"]:
        mine = est[(r["lhs"], r["op"], r["rhs"])]
        for k, mk in (("est", "est"), ("se", "se"), ("std.all", "std_all")):
            assert close(mine[mk], r[k]), (r["lhs"], r["op"], r["rhs"], k)
    if estimator == "ML":
        # default convention: model-implied variances (semTools compRelSEM(fit, obs.var = FALSE))
        assert out["reliability_convention"] == "implied"
        for f, v in ref["comp_rel"]["obs_var_false"].items():
            assert close(out["reliability"][f]["omega"], v), f
        # --ave-variances observed: semTools' defaults (compRelSEM(fit), AVE(fit))
        obs = json.loads(CliRunner().invoke(main, ["cfa", str(HS), "--model", str(hs_model), "--format", "json",
                                                   "--ave-variances", "observed"]).stdout)
        assert obs["reliability_convention"] == "observed"
        for f, v in ref["comp_rel"]["default"].items():
            assert close(obs["reliability"][f]["omega"], v), f
        for f, v in ref["ave"].items():
            assert close(obs["reliability"][f]["ave"], v), f
        h = ref["htmt"]["htmt2_true"]
        names = h["rownames"]
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if i < j:
                    assert close(out["htmt"][f"{a}~~{b}"], h["values"][i][j])
        assert set(out["fornell_larcker"]["passed"]) == set(names)


def test_sem_json_has_r2_and_defined_parameters(tmp_path):
    ref = json.loads((REF / "poldem_sem.json").read_text())
    model = tmp_path / "pd.lavaan"
    model.write_text(ref["model"], encoding="utf-8")
    res = CliRunner().invoke(main, ["sem", str(REF / "PoliticalDemocracy.csv"), "--model", str(model),
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for k in ("chisq", "df", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        assert close(out["fit"][k], ref["fit_measures"][k]), k
    r2 = ref["r2"]
    for k, v in r2.items():
        assert close(out["r2"][k], v), k


@pytest.mark.slow  # 5-5.5 s (four multigroup fits in a subprocess)
def test_invariance_json_matches_lavtestlrt(hs_model):
    ref = json.loads((REF / "hs_invariance.json").read_text())
    for est in ("ML", "MLR"):
        res = CliRunner().invoke(main, ["invariance", str(HS), "--model", str(hs_model), "--group", "school",
                                        "--estimator", est, "--format", "json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert out["groups"] == ref["group_labels"]
        for lvl in ("configural", "metric", "scalar", "strict"):
            for k in ("chisq", "df", "cfi", "rmsea"):
                assert close(out[lvl][k], ref[est]["fit_measures"][lvl][k]), (est, lvl, k)
        for mine, lrt in zip(out["tests"], ref[est]["lrt"][1:]):
            assert close(mine["chisq_diff"], lrt["Chisq diff"]) and mine["df_diff"] == lrt["Df diff"]
            assert close(mine["pvalue"], lrt["Pr(>Chisq)"], p=True)
            if est == "ML":
                assert close(mine["rmsea_d"], lrt["RMSEA"])
        assert {"compare", "chisq_diff", "df_diff", "pvalue", "delta_cfi", "delta_rmsea"} <= set(out["tests"][0])
        # scalar invariance is rejected for HS by school: the search frees x3's intercept first (the largest
        # univariate score test of lavTestScore on the scalar model)
        assert out["partial_scalar"]["freed"][0]["lhs"] == "x3"
        assert out["partial_scalar"]["freed"][0]["op"] == "~1"
        assert {m["lhs"] for m in out["latent_means"]} == {"visual", "textual", "speed"}


def test_model_errors_are_clear(tmp_path, hs_model):
    bad = tmp_path / "bad.lavaan"
    bad.write_text("visual =~ x1 + x2 + nosuchcolumn\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["cfa", str(HS), "--model", str(bad)])
    assert res.exit_code == 1 and "nosuchcolumn" in res.stderr and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["cfa", str(HS), "--model", str(tmp_path / "none.lavaan")])
    assert res.exit_code == 1 and "none.lavaan" in res.stderr
    res = CliRunner().invoke(main, ["invariance", str(HS), "--model", str(hs_model), "--group", "nogroup"])
    assert res.exit_code == 1 and "nogroup" in res.stderr


def test_instrument_to_cfa_end_to_end(tmp_path):
    """build -> fake export -> cfa/invariance on the stacked item-id layout of measurement.lavaan."""
    build = Path(__file__).resolve().parents[1] / "instruments" / "build" / "example_study"
    export = tmp_path / "export.csv"
    r = CliRunner().invoke(main, ["instrument", "fake-export", str(build), "--n", "400", "--seed", "3",
                                  "--out", str(export)])
    assert r.exit_code == 0, r.output
    model = tmp_path / "m.lavaan"
    # a_drv_cust_involvement_04 is reverse-keyed
    model.write_text("a_drv_cust_involvement =~ " + " + ".join(f"a_drv_cust_involvement_0{k}" for k in range(1, 6))
                     + "\na_drv_collaboration =~ " + " + ".join(f"a_drv_collaboration_0{k}" for k in range(1, 6))
                     + "\n")
    args = [str(export), "--codebook", str(build / "codebook.json"), "--long", "--model", str(model)]
    r = CliRunner().invoke(main, ["cfa", *args, "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    # reverse-keyed items were rescored: every standardised loading is positive
    assert all(e["std_all"] > 0 for e in out["estimates"] if e["op"] == "=~")
    r = CliRunner().invoke(main, ["invariance", *args, "--group", "perspective", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert set(json.loads(r.stdout)["groups"]) == {"provider", "customer"}


def test_validity_command(hs_model):
    args = ["validity", str(HS), "--model", str(hs_model), "--bootstrap", "100", "--seed", "7", "--format", "json"]
    a = CliRunner().invoke(main, args)
    b = CliRunner().invoke(main, args)
    assert a.exit_code == 0, a.output
    out = json.loads(a.stdout)
    assert out == json.loads(b.stdout)  # the bootstrap is reproducible from its seed
    h = json.loads((REF / "hs_cfa_ml.json").read_text())["htmt"]["htmt2_true"]
    assert close(out["htmt"]["visual~~textual"], h["values"][0][1])
    lo, hi = out["htmt_ci"]["visual~~textual"]
    assert lo < out["htmt"]["visual~~textual"] < hi
    assert 0 < out["harman"]["share"] < 0.5 and not out["harman"]["flagged"]
    assert len(out["common_latent_factor"]) == 9


def test_cfa_fiml_option_matches_lavaan_missing_ml(hs_model):
    ref = json.loads((REF / "hs_fiml.json").read_text())["ML"]["fit_measures"]
    res = CliRunner().invoke(main, ["cfa", str(REF / "hs_missing.csv"), "--model", str(hs_model), "--missing", "fiml",
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for k in ("chisq", "df", "cfi", "tli", "rmsea", "aic", "bic"):
        assert close(out["fit"][k], ref[k]), k
