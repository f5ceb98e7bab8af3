"""Command-line contract of `vccscale rsa` and `vccscale multilevel` (issue 8) against the R references
(tests/reference/rsa/rsa_reference.R: lm() and lavaan := ; tests/reference/multilevel/multilevel_reference.R:
multilevel::ICC1/ICC2/rwg.j and lme4) to 1e-6 (variance components 1e-3)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from vccscale.cli import main

REF = Path(__file__).resolve().parent / "reference"


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-6)


def test_rsa_json_contract_and_lm_parity(tmp_path):
    ref = json.loads((REF / "rsa" / "rsa_reference.json").read_text())
    g = ref["gaussian"]
    res = CliRunner().invoke(main, ["rsa", str(REF / "rsa" / "rsa_data.csv"), "--x", "X", "--y", "Y", "--z", "Z",
                                    "--center", str(ref["center"]), "--plot", str(tmp_path / "plots"),
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) >= {"n", "r2", "coefficients", "surface", "stationary_point"}
    assert out["n"] == g["n"] and rel(out["r2"], g["r2"]) < 1e-6
    for b in ("b1", "b2", "b3", "b4", "b5"):
        for k in ("est", "se", "pvalue"):
            assert rel(out["coefficients"][b][k], g["coefficients"][b][k]) < 1e-6, (b, k)
    for a in ("a1", "a2", "a3", "a4"):
        for k in ("est", "se"):
            assert rel(out["surface"][a][k], g["surface"][a][k]) < 1e-6, (a, k)
    for k in ("X0", "Y0", "p10", "p11", "p20", "p21"):
        assert rel(out["stationary_point"][k], g["nonlinear"][k]["est"]) < 1e-6, k
    files = [Path(p) for p in out["plots"]]
    assert {f.suffix for f in files} == {".png", ".svg"} and all(f.stat().st_size > 1000 for f in files)


def test_multilevel_json_contract_and_r_parity():
    ref = json.loads((REF / "multilevel" / "multilevel_reference.json").read_text())
    res = CliRunner().invoke(main, ["multilevel", str(REF / "multilevel" / "multilevel_data.csv"), "--group", "g",
                                    "--items", "a1", "a2", "a3", "a4", "a5", "--scale-min", "1", "--scale-max", "7",
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) >= {"icc1", "icc2", "rwg_j", "variance"}
    assert abs(out["icc1"] - ref["icc"]["icc1"]) < 1e-6 and abs(out["icc2"] - ref["icc"]["icc2"]) < 1e-6
    assert set(out["rwg_j"]) >= {"mean", "median", "per_group"}
    lme = ref["lmer"]["ri_reml"]["var"]
    assert rel(out["variance"]["between"], lme["g|(Intercept)|"]) < 1e-3
    assert rel(out["variance"]["within"], lme["Residual|NA|"]) < 1e-3
    per_group = np.array([v for v in out["rwg_j"]["per_group"].values() if v is not None], dtype=float)
    assert np.all((per_group >= 0) & (per_group <= 1))  # truncation rule: outside [0, 1] set to 0


def test_multilevel_rwg_j_per_group_matches_multilevel_package():
    ref = json.loads((REF / "multilevel" / "multilevel_reference.json").read_text())["agreement"]
    res = CliRunner().invoke(main, ["multilevel", str(REF / "multilevel" / "multilevel_data.csv"), "--group", "g",
                                    "--items", "a1", "a2", "a3", "a4", "a5", "--scale-min", "1", "--scale-max", "7",
                                    "--format", "json"])
    per = json.loads(res.stdout)["rwg_j"]["per_group"]
    for grp, want in zip(ref["group"], ref["rwg_j"]):
        got = per[str(grp)]
        assert (got is None and want is None) or abs(got - want) < 1e-6, grp


def test_multilevel_random_slope_json_matches_lme4():
    """`--random-slope x`: lmer(m ~ x + (x | g)) on tests/reference/multilevel/random_slope_data.csv (m = mean of
    i1..i4; random_slope_reference.R). Fixed effects, SEs and variance components 1e-4 relative, the
    intercept-slope correlation 1e-5, logLik 1e-6; the LRT is anova(rs, ri) (ML refits): chisq and p 1e-4."""
    ref = json.loads((REF / "multilevel" / "random_slope_reference.json").read_text())
    res = CliRunner().invoke(main, ["multilevel", str(REF / "multilevel" / "random_slope_data.csv"), "--group", "g",
                                    "--items", "i1", "i2", "i3", "i4", "--scale-min", "1", "--scale-max", "7",
                                    "--random-slope", "x", "--format", "json"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["random_slope_model"]
    e = ref["rs_reml"]
    assert m["reml"] and m["random_slopes"] == ["x"] and m["n"] == 400 and m["n_groups"] == 50
    for ours, theirs in (("Intercept", "(Intercept)"), ("x", "x")):
        assert rel(m["fixed"][ours]["est"], e["fixef"][theirs]) < 1e-4
        assert rel(m["fixed"][ours]["se"], e["se"][theirs]) < 1e-4
    v = m["variance"]
    for ours, theirs in (("between", "g|(Intercept)|"), ("slope", "g|x|"), ("covariance", "g|(Intercept)|x"),
                         ("within", "Residual|NA|")):
        assert rel(v[ours], e["var"][theirs]) < 1e-4, ours
    assert abs(v["correlation"] - e["sdcor"]["g|(Intercept)|x"]) < 1e-5
    assert abs(m["llf"] - e["logLik"]) < 1e-6
    lrt = m["lrt"]
    assert lrt["df"] == ref["lrt"]["Df"] and rel(lrt["chisq"], ref["lrt"]["Chisq"]) < 1e-4
    assert rel(lrt["p"], ref["lrt"]["p"]) < 1e-4


def test_multilevel_constant_answers_exit_1_naming_file_and_items(tmp_path):
    """Was a ZeroDivisionError traceback; now exit 1 with the file and the items named, nothing on stdout."""
    d = np.column_stack([np.repeat(np.arange(10), 4), np.full((40, 2), 3)])
    f = tmp_path / "flat.csv"
    np.savetxt(f, d, delimiter=",", fmt="%d", header="team,q1,q2", comments="")
    res = CliRunner().invoke(main, ["multilevel", str(f), "--group", "team", "--items", "q1", "q2", "--scale-min", "1",
                                    "--scale-max", "5", "--format", "json"])
    assert res.exit_code == 1 and res.stdout == ""
    assert "q1, q2 has no variance" in res.stderr and "flat.csv" in res.stderr and "Traceback" not in res.output
    d[:20, 2] = 4                                         # q2 varies, q1 does not: a defined result and a warning
    np.savetxt(f, d, delimiter=",", fmt="%d", header="team,q1,q2", comments="")
    res = CliRunner().invoke(main, ["multilevel", str(f), "--group", "team", "--items", "q1", "q2", "--scale-min", "1",
                                    "--scale-max", "5", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert "warning: item q1 has no variance" in res.stderr
    assert out["icc1"] == 1.0 and out["variance"]["between"] is None and out["variance"]["within"] == 0.0
    res = CliRunner().invoke(main, ["multilevel", str(f), "--group", "team", "--items", "q1", "q2", "--scale-min", "5",
                                    "--scale-max", "5"])
    assert res.exit_code == 2
