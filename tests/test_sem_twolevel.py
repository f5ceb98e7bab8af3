"""Two-level SEM / CFA with ML (``level: 1`` / ``level: 2`` blocks, ``cluster=``) against lavaan 0.6-14.

Fixtures (tests/reference/sem/, written by twolevel_reference.R): demo_twolevel.csv (lavaan's Demo.twolevel),
demo_twolevel_unbalanced.csv (cluster sizes 1..20, 24 singletons) and twolevel_reference.json (cases sem, cfa,
unbalanced, equal_loadings (labels shared across levels), missing_y, defined (``:=`` rows across levels:
lavaan's level-0 rows, delta-method SEs), and sem_tight: the sem case fitted by lavaan to
the maximum with BFGS, reltol 1e-14).

Tolerances (see vccscale.sem.twolevel):
* at lavaan's estimates: logl, fmin, chisq, SRMR 1e-9 relative; SE and z 1e-6 relative;
* at our optimum: logl >= lavaan's (lavaan's nlminb stops 3e-7 .. 2e-6 short of the maximum) and within 1e-5;
  |est - lavaan| <= 1.05 sqrt(2 dlogl) SE + 1e-9 (the largest difference that log-likelihood gap allows);
  SE 1e-3 relative; fit measures 1e-5 relative (absolute 1e-8 near 0); SRMR 1e-5 absolute; std.all 1e-3 absolute.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from vccscale.errors import DataError, ModelError
from vccscale.sem import fit_cfa, fit_sem
from reference_data import load_reference, reference_path

REF = Path(__file__).resolve().parent / "reference" / "sem"
CASES = ("sem", "cfa", "unbalanced", "equal_loadings", "missing_y", "defined")
SRMR = ("srmr", "srmr_within", "srmr_between")


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "twolevel_reference.json")


def _data(case):
    if case == "unbalanced":
        return pd.read_csv(reference_path(REF / "demo_twolevel_unbalanced.csv"))
    d = pd.read_csv(reference_path(REF / "demo_twolevel.csv"))
    if case == "missing_y":
        d.loc[[2, 49, 50], "y1"] = np.nan  # R rows 3, 50, 51
    return d


@pytest.fixture(scope="module")
def fits(ref):
    out = {}
    for case in CASES:
        r = ref[case]
        fn = fit_cfa if r["call"] == "cfa" else fit_sem
        out[case] = fn(_data(case), r["model"], cluster="cluster")
    return out


def _merged(ref_case, table):
    pe = pd.DataFrame(ref_case["estimates"])
    m = pe.merge(table, on=["lhs", "op", "rhs", "level"], suffixes=("_ref", ""), how="left", validate="1:1")
    assert len(m) == len(table), "row sets differ"
    assert not m["est"].isna().any()
    return m


@pytest.mark.parametrize("case", CASES)
def test_lavaan_options_are_those_reproduced(ref, case):
    o = ref[case]["options"]
    assert o["estimator"] == "ML" and o["se"] == "standard" and o["test"] == "standard"
    assert o["information"] == ["observed", "observed"] and o["observed.information"] == ["hessian", "hessian"]


@pytest.mark.parametrize("case", CASES)
def test_statistics_at_lavaans_estimates(ref, fits, case):
    """The likelihood, h1 EM, Hessian and SRMR are lavaan's: evaluated at lavaan's estimates they agree to
    rounding."""
    r = ref[case]
    fit, table = fits[case].evaluate(pd.DataFrame(r["estimates"]))
    for k in ("logl", "fmin", "chisq", *SRMR):
        assert fit[k] == pytest.approx(r["fit"][k], rel=1e-9, abs=1e-12), k
    m = _merged(r, table)
    free = m["se_ref"] > 0
    assert np.allclose(m.loc[free, "se"], m.loc[free, "se_ref"], rtol=1e-6, atol=0)
    assert np.allclose(m.loc[free, "z"], m.loc[free, "z_ref"], rtol=1e-6, atol=0)
    ss = pd.DataFrame(r["standardized"]).merge(table, on=["lhs", "op", "rhs", "level"])
    assert len(ss) == len(table)
    assert np.allclose(ss["std_all"], ss["est_std"], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_unrestricted_logl_is_lavaans_em(ref, fits, case):
    assert fits[case].fit["unrestricted.logl"] == pytest.approx(ref[case]["fit"]["unrestricted.logl"], rel=1e-12)
    h1 = ref[case]["h1"]
    for level in ("within", "between"):
        mine = fits[case].sample_cov[level].to_numpy()
        assert np.allclose(mine, np.array(h1[level]["cov"]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_estimates_and_standard_errors(ref, fits, case):
    r, res = ref[case], fits[case]
    dlogl = res.fit["logl"] - r["fit"]["logl"]
    assert -1e-9 <= dlogl < 1e-5  # our optimum is at least as good as lavaan's
    m = _merged(r, res.estimates)
    free = m["se_ref"] > 0
    bound = 1.05 * math.sqrt(2 * max(dlogl, 0)) * m.loc[free, "se_ref"] + 1e-9
    assert ((m.loc[free, "est"] - m.loc[free, "est_ref"]).abs() <= bound).all()
    assert np.allclose(m.loc[~free, "est"], m.loc[~free, "est_ref"], rtol=1e-10, atol=1e-12)  # fixed / fixed.x
    assert np.allclose(m.loc[free, "se"], m.loc[free, "se_ref"], rtol=1e-3, atol=0)
    ss = pd.DataFrame(r["standardized"]).merge(res.estimates, on=["lhs", "op", "rhs", "level"])
    assert np.allclose(ss["std_all"], ss["est_std"], rtol=0, atol=1e-3)


@pytest.mark.parametrize("case", CASES)
def test_fit_measures(ref, fits, case):
    r, res = ref[case], fits[case]
    assert set(res.fit) == set(r["fit"])  # lavaan's multilevel fitMeasures, names included
    for k, v in r["fit"].items():
        mine = res.fit[k]
        if v is None:
            assert math.isnan(mine), k
        elif k in SRMR:
            assert abs(mine - v) <= 1e-5, k
        else:
            assert mine == pytest.approx(v, rel=1e-5, abs=1e-8), k
    assert res.fit["df"] == r["fit"]["df"] and res.fit["npar"] == r["fit"]["npar"]


def test_unbalanced_and_listwise_counts(ref, fits):
    assert fits["unbalanced"].nobs == [ref["unbalanced"]["nobs"]]
    assert fits["unbalanced"].nclusters == ref["unbalanced"]["nclusters"] == 200
    assert min(fits["unbalanced"].cluster_sizes) == 1
    res = fits["missing_y"]
    assert res.nobs == [2497] and res.n_dropped == 3
    assert any("3 of 2500 rows dropped" in w for w in res.warnings)


def test_level_spellings_and_result_layout(ref, fits):
    model = ref["sem"]["model"].replace("level: 1", "level: within").replace("level: 2", "level: between")
    res = fit_sem(_data("sem"), model, cluster="cluster")
    assert res.fit["logl"] == pytest.approx(fits["sem"].fit["logl"], rel=1e-12)
    est = res.estimates
    assert set(est["level"]) == {1, 2}
    for col in ("lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue", "std_lv", "std_all", "level"):
        assert col in est.columns
    d = res.to_dict()
    assert d["nclusters"] == 200 and "srmr_within" in d["fit"] and d["estimates"][0]["level"] == 1
    assert "Level 2 (between)" in res.summary()
    assert res.vcov().shape == (20, 20)


def test_errors():
    d = _data("sem")
    model = "level: 1\n f =~ y1 + y2 + y3\nlevel: 2\n g =~ y1 + y2 + y3\n"
    with pytest.raises(ModelError, match="cluster="):
        fit_sem(d, model)
    bad = d.copy()
    bad["cluster"] = bad["cluster"].astype(float)
    bad.loc[[0, 7], "cluster"] = np.nan
    with pytest.raises(DataError, match="missing in 2 of 2500 rows"):
        fit_cfa(bad, model, cluster="cluster")
    with pytest.raises(DataError, match="not in the data"):
        fit_cfa(d, model, cluster="school")
    with pytest.raises(ModelError, match="before the first 'level:'"):
        fit_cfa(d, "f =~ y1 + y2\n" + model, cluster="cluster")
    with pytest.raises(ModelError, match="both blocks"):
        fit_cfa(d, "level: 1\n f =~ y1 + y2 + y3\n", cluster="cluster")
    with pytest.raises(ModelError, match="unknown level"):
        fit_cfa(d, model.replace("level: 2", "level: 3"), cluster="cluster")
    with pytest.raises(ModelError, match="unknown label"):
        fit_sem(d, model.replace("g =~ y1", "ab := a*zz\n g =~ y1"), cluster="cluster")
    with pytest.raises(ModelError, match="not supported in two-level"):
        fit_sem(d, "level: 1\n f =~ y1 + a*y2 + y3\nlevel: 2\n g =~ y1 + b*y2 + y3\n a == b\n", cluster="cluster")
    with pytest.raises(ModelError, match="FIML"):
        fit_cfa(d, model, cluster="cluster", missing="fiml")
    with pytest.raises(ModelError, match="ML"):
        fit_cfa(d, model, cluster="cluster", estimator="MLR")


def test_cli_json(ref, tmp_path):
    from vccscale.cli import main

    mfile = tmp_path / "m.lav"
    mfile.write_text(ref["sem"]["model"])
    out = CliRunner().invoke(main, ["sem", str(REF / "demo_twolevel.csv"), "--model", str(mfile), "--cluster",
                                    "cluster", "--format", "json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout if hasattr(out, "stdout") else out.output)
    assert d["fit"]["srmr_within"] == pytest.approx(ref["sem"]["fit"]["srmr_within"], abs=1e-5)
    assert d["fit"]["chisq"] == pytest.approx(ref["sem"]["fit"]["chisq"], rel=1e-5)
    assert {e["level"] for e in d["estimates"]} == {1, 2} and d["nclusters"] == 200
    out = CliRunner().invoke(main, ["sem", str(REF / "demo_twolevel.csv"), "--model", str(mfile)])
    assert out.exit_code != 0 and "--cluster" in out.output


def test_estimates_match_lavaan_fitted_to_the_maximum(ref, fits):
    """lavaan's documented example fitted to the maximum (BFGS, reltol 1e-14; lavaan's default nlminb stops short,
    see the R script): estimates to 1e-5 of max(|est|, SE) (measured 7e-7 relative for every estimate not near 0;
    the between intercepts near 0 differ by < 4e-7 absolute), SEs, std.all and fit measures to 1e-5 relative
    (measured: SE 6e-7)."""
    r, res = ref["sem_tight"], fits["sem"]
    assert res.fit["logl"] == pytest.approx(r["fit"]["logl"], rel=1e-11)
    m = _merged(r, res.estimates)
    free = m["se_ref"] > 0
    scale = np.maximum(m["est_ref"].abs(), m["se_ref"].fillna(0))
    assert ((m["est"] - m["est_ref"]).abs() <= 1e-5 * scale + 1e-12).all()
    assert np.allclose(m.loc[free, "se"], m.loc[free, "se_ref"], rtol=1e-5, atol=0)
    ss = pd.DataFrame(r["standardized"]).merge(res.estimates, on=["lhs", "op", "rhs", "level"])
    assert np.allclose(ss["std_all"], ss["est_std"], rtol=1e-5, atol=1e-6)  # intercepts near 0: absolute
    for k in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "aic", "bic", "srmr_within", "srmr_between"):
        assert res.fit[k] == pytest.approx(r["fit"][k], rel=1e-5, abs=1e-8), k


def test_monte_carlo_ci_of_defined_parameters(ref, fits):
    """semTools::monteCarloCI (1e6 draws) on the same two-level fit: percentile limits within 2e-3 (Monte Carlo
    error of 200,000 draws ~3e-4); the draws' SD of a*b is the closed-form SD of a product of bivariate normals
    (a^2 var_b + b^2 var_a + 2ab cov + var_a var_b + cov^2) within 1%; a seed gives identical draws."""
    from vccscale.sem import monte_carlo_ci

    fit = fits["defined"]
    mc = monte_carlo_ci(fit, 200_000, seed=7)
    r = ref["defined_monte_carlo"]
    ci = mc.ci().set_index("name")
    for i, name in enumerate(r["name"]):
        assert ci.loc[name, "est"] == pytest.approx(fit.estimates.set_index("lhs").loc[name, "est"], rel=1e-12)
        assert abs(ci.loc[name, "ci_lower"] - r["ci_lower"][i]) < 2e-3
        assert abs(ci.loc[name, "ci_upper"] - r["ci_upper"][i]) < 2e-3
    V = fit.vcov(["a", "b"]).to_numpy()
    e = fit.estimates.set_index("label")
    a, b = e.loc["a", "est"], e.loc["b", "est"]
    sd = math.sqrt(a * a * V[1, 1] + b * b * V[0, 0] + 2 * a * b * V[0, 1] + V[0, 0] * V[1, 1] + V[0, 1] ** 2)
    assert ci.loc["ab", "mc_se"] == pytest.approx(sd, rel=0.01)
    again = monte_carlo_ci(fit, 200_000, seed=7)
    assert again.draws.equals(mc.draws)
    with pytest.raises(ModelError, match="no defined"):
        monte_carlo_ci(fits["sem"])


def test_failed_baseline_leaves_its_measures_nan(ref, monkeypatch):
    """lavaan (lav_lavaan_step15_baseline): when the baseline (independence) model does not converge, the measures
    that compare with it are NA, with the warning "estimation of the baseline model failed". Here the baseline's
    scoring is made to fail (every call after the model's own): the model's chi-square, RMSEA and SRMR stand,
    baseline.chisq, CFI, TLI, NNFI, RFI, NFI, PNFI, IFI and RNI are NaN, and the warning does not make the
    solution improper."""
    import vccscale.sem.twolevel as T

    r = ref["sem"]
    good = fit_sem(_data("sem"), r["model"], cluster="cluster")
    orig, calls = T._fisher, []

    def failing(model, theta, max_iter=200):
        calls.append(1)
        th, it, ok = orig(model, theta, max_iter)
        return th, it, ok if len(calls) == 1 else False

    monkeypatch.setattr(T, "_fisher", failing)
    bad = fit_sem(_data("sem"), r["model"], cluster="cluster")
    assert len(calls) >= 3  # the model, the baseline, the baseline again after BFGS
    for k in ("chisq", "df", "rmsea", "srmr", "aic", "bic"):
        assert bad.fit[k] == good.fit[k]
    for k in ("baseline.chisq", "baseline.df", "baseline.pvalue", "cfi", "tli", "nnfi", "rfi", "nfi", "pnfi", "ifi",
              "rni"):
        assert math.isnan(bad.fit[k]), k
    assert any(w.startswith("estimation of the baseline model failed") for w in bad.warnings)
    assert not bad.problems


def test_failed_baseline_single_level(monkeypatch):
    """The same rule for single-level models: a baseline estimate that did not converge leaves the baseline
    measures (with their .scaled and .robust forms) NaN and says so."""
    import dataclasses

    import vccscale.sem.api as A

    d = pd.read_csv(Path(__file__).resolve().parent / "reference" / "validate" / "HolzingerSwineford1939.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    good = fit_cfa(d, model, estimator="MLR")
    orig, calls = A.estimate, []

    def est(*a, **k):
        calls.append(1)
        res = orig(*a, **k)
        return res if len(calls) == 1 else dataclasses.replace(res, converged=False)

    monkeypatch.setattr(A, "estimate", est)
    bad = fit_cfa(d, model, estimator="MLR")
    for k in ("chisq", "chisq.scaled", "rmsea", "rmsea.robust", "srmr"):
        assert bad.fit[k] == good.fit[k]
    for k in ("baseline.chisq", "baseline.chisq.scaled", "cfi", "cfi.scaled", "cfi.robust", "tli.robust", "nnfi",
              "ifi.scaled", "rni.robust", "pnfi"):
        assert math.isnan(bad.fit[k]), k
    assert any(w.startswith("estimation of the baseline model failed") for w in bad.warnings)
    assert not bad.problems
