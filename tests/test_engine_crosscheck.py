"""Cross-checks against the optional Python engines (issue 15): semopy 2.3.11 (``vccscale[semopy]``) and pingouin
(``vccscale[pingouin]``), both in the ``test`` extra.

Locally a missing engine skips these tests with the pip command that installs it; in CI (``CI`` set), where the
``test`` extra installs both, a missing engine fails the test.

Tolerances (stated once):

* semopy engine vs vccscale engine and vs lavaan 0.6-14 (tests/reference/validate/*.json): estimates, standard
  errors and the standardized solution within 1e-5 relative (absolute floor 1e-6) -- semopy's solution is refined
  to the ML optimum by Fisher scoring, so only the optimisers' stopping rules (lavaan's ~1e-6) separate them; the
  fit measures semopy shares with lavaan (chisq, pvalue, cfi, tli, nfi, rmsea) within 1e-6 relative, and the
  baseline chi-square within 1e-5 relative (semopy fits its baseline model with SLSQP, not refined).
* pingouin: closed forms, agreement to 1e-10 (pingouin rounds its alpha CI to 3 decimals: 5e-4 there).
"""
from __future__ import annotations

import importlib
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REF = Path(__file__).resolve().parent / "reference" / "validate"
EST_RTOL, EST_ATOL = 1e-5, 1e-6
SHARED = ("chisq", "pvalue", "cfi", "tli", "nnfi", "nfi", "rmsea")


def optional(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        msg = f"{module} is not installed: pip install 'vccscale[{extra}]' (or the 'test' extra) to run this cross-check"
        if os.environ.get("CI"):
            pytest.fail(msg + " -- the CI installs the 'test' extra, which includes it")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def semopy():
    return optional("semopy", "semopy")


@pytest.fixture(scope="module")
def pg():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its import-time deprecation warnings are not ours
        return optional("pingouin", "pingouin")


def _ref(name: str) -> dict:
    from reference_data import load_reference

    return load_reference(f"validate/{name}")


def _close(a, b, rtol=EST_RTOL, atol=EST_ATOL):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=atol)


def _fit_both(fit, data, model, **kw):
    from vccscale.sem.semopy_engine import SemopyEngineWarning

    ours = fit(data, model, **kw)
    with pytest.warns(SemopyEngineWarning) as rec:
        theirs = fit(data, model, engine="semopy", **kw)
    return ours, theirs, str(rec[0].message)


def _merge(res, ref_pe: list[dict]) -> pd.DataFrame:
    ref = pd.DataFrame(ref_pe)
    ref = ref[ref["op"] != ":="] if "op" in ref else ref
    return res.estimates.merge(ref, on=["lhs", "op", "rhs"], suffixes=("", "_lavaan"))


def _check_pair(ours, theirs, ref):
    """semopy-engine result vs vccscale's and vs lavaan's reference values."""
    assert theirs.engine == "semopy" and ours.engine == "vccscale"
    assert list(theirs.estimates.columns) == list(ours.estimates.columns)
    assert set(theirs.fit) == set(ours.fit)
    for col in ("est", "se", "std_lv", "std_all"):
        _close(theirs.estimates[col], ours.estimates[col])
    m = _merge(theirs, ref["parameter_estimates"])
    assert len(m) == len(pd.DataFrame(ref["parameter_estimates"]).query("op != ':='"))
    _close(m["est"], m["est_lavaan"])
    _close(m["se"], m["se_lavaan"])
    _close(m["std_all"], m["std.all"])
    fm = ref["fit_measures"]
    for k in SHARED:
        _close(theirs.fit[k], fm[k], rtol=1e-6, atol=1e-9)
        _close(theirs.fit[k], ours.fit[k], rtol=1e-6, atol=1e-9)
    _close(theirs.fit["baseline.chisq"], fm["baseline.chisq"], rtol=1e-5, atol=0)
    for k in ("npar", "df", "baseline.df", "ntotal", "fmin"):
        _close(theirs.fit[k], ours.fit[k], rtol=1e-9, atol=1e-12)


def _check_flagged(theirs, message: str):
    """The documented differences are NaN and named in the warning (and in FitResult.warnings)."""
    for k in ("srmr", "rmsea.ci.lower", "rmsea.ci.upper", "aic", "bic", "gfi", "agfi", "logl"):
        assert math.isnan(theirs.fit[k]), k
        assert k in message, k
    assert "semopy's GFI" in message and "not on lavaan's scale" in message
    assert message in theirs.warnings
    assert not theirs.problems  # the engine note is not an improper solution


# ------------------------------------------------------------------------------------------------------- semopy
def test_semopy_hs_cfa_agrees_with_lavaan(semopy):
    from vccscale.sem import fit_cfa

    ref = _ref("hs_cfa_ml.json")
    hs = pd.read_csv(REF / "HolzingerSwineford1939.csv")
    ours, theirs, msg = _fit_both(fit_cfa, hs, ref["model"])
    _check_pair(ours, theirs, ref)
    _check_flagged(theirs, msg)
    info = theirs.engine_info
    assert info["semopy_version"] == "2.3.11" and info["semopy_success"]
    # semopy's own optimiser stops short of the optimum (documented in the design notes): the refinement is needed
    assert info["semopy_max_change"] > 1e-5 and info["refine_iterations"] >= 1


def test_semopy_political_democracy_sem_agrees_with_lavaan(semopy):
    from vccscale.sem import fit_sem

    ref = _ref("poldem_sem.json")
    data = pd.read_csv(REF / "PoliticalDemocracy.csv")
    ours, theirs, msg = _fit_both(fit_sem, data, ref["model"])
    _check_pair(ours, theirs, ref)
    _check_flagged(theirs, msg)
    pd.testing.assert_series_equal(theirs.r2, ours.r2, rtol=1e-5)


def test_semopy_labels_equalities_defined_and_std_lv(semopy):
    from vccscale.sem import fit_cfa

    hs = pd.read_csv(REF / "HolzingerSwineford1939.csv")
    model = ("visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + b*x5 + c*x6\nspeed =~ x7 + x8 + x9\n"
             "visual ~~ 0*speed\nd := b - c")
    ours, theirs, _ = _fit_both(fit_cfa, hs, model)
    for col in ("est", "se", "std_all"):
        _close(theirs.estimates[col], ours.estimates[col])
    assert theirs.estimates.iloc[-1]["op"] == ":="
    # std.lv: semopy 2.3.11 loops forever on a factor without a fixed loading unless given start values
    ours, theirs, _ = _fit_both(fit_cfa, hs, "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6", std_lv=True)
    _close(theirs.estimates["est"], ours.estimates["est"])
    assert theirs.engine_info["semopy_start_values"] == "lavaan's for the loadings"


def test_semopy_fixed_covariates_flag_its_degrees_of_freedom(semopy):
    from vccscale.sem import fit_sem

    data = pd.read_csv(REF / "PoliticalDemocracy.csv")
    ours, theirs, msg = _fit_both(fit_sem, data, "dem60 =~ y1 + y2 + y3 + y4\ndem60 ~ x1 + x2")
    _close(theirs.estimates["est"], ours.estimates["est"])
    _close(theirs.fit["chisq"], ours.fit["chisq"], rtol=1e-6)
    assert theirs.fit["df"] == ours.fit["df"] == 8 and theirs.engine_info["semopy_df"] == 11
    for k in ("pvalue", "cfi", "tli", "rmsea", "baseline.chisq", "nfi"):
        assert math.isnan(theirs.fit[k]), k
    assert "fixed covariates' moments as degrees of freedom" in msg


def test_semopy_refuses_what_it_cannot_fit(semopy):
    from vccscale.errors import ModelError
    from vccscale.sem import fit_cfa

    hs = pd.read_csv(REF / "HolzingerSwineford1939.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6"
    with pytest.raises(ModelError, match="multigroup.*shares no parameters"):
        fit_cfa(hs, model, group="school", engine="semopy")
    with pytest.raises(ModelError, match="estimator='ML' only"):
        fit_cfa(hs, model, estimator="MLR", engine="semopy")
    with pytest.raises(ModelError, match="listwise"):
        fit_cfa(hs, model, missing="fiml", engine="semopy")
    with pytest.raises(ModelError, match="engine must be one of"):
        fit_cfa(hs, model, engine="lisrel")


def test_semopy_documented_differences_still_hold(semopy):
    """The reasons the semopy engine gives for its NaNs are true of the installed semopy: its GFI is the NFI, its
    AIC is 2 npar - 2 F_ML (far from lavaan's), its RMSEA divides by N - 1 and it reports no SRMR."""
    from vccscale.sem import fit_cfa

    ref = _ref("hs_cfa_ml.json")
    hs = pd.read_csv(REF / "HolzingerSwineford1939.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = semopy.Model(ref["model"])
        m.fit(hs)
        st = semopy.calc_stats(m).iloc[0]
    fm = ref["fit_measures"]
    assert st["GFI"] == pytest.approx(st["NFI"], rel=1e-12) and abs(st["GFI"] - fm["gfi"]) > 0.01
    assert st["AIC"] == pytest.approx(2 * fm["npar"] - 2 * st["LogLik"], rel=1e-12)
    assert abs(st["AIC"] - fm["aic"]) > 1000
    n = fm["ntotal"]
    assert st["RMSEA"] * math.sqrt((n - 1) / n) == pytest.approx(fm["rmsea"], rel=1e-5)
    assert not any("SRMR" in c.upper() for c in st.index)
    assert fit_cfa(hs, ref["model"]).fit["srmr"] == pytest.approx(fm["srmr"], rel=1e-5)


# ------------------------------------------------------------------------------------------------------ pingouin
def test_pingouin_cronbach_alpha(pg):
    from vccscale.validate import cronbach_alpha

    bfi = pd.read_csv(REF / "bfi.csv")
    for items in (["A2", "A3", "A4", "A5"], ["C1", "C2", "C3"], [f"N{i}" for i in range(1, 6)]):
        x = bfi[items].dropna()
        ours = cronbach_alpha(x, items)
        alpha, ci = pg.cronbach_alpha(data=x[items], ci=0.95)
        assert ours.alpha == pytest.approx(alpha, rel=1e-10)
        np.testing.assert_allclose([ours.ci_lower, ours.ci_upper], ci, atol=5e-4)  # both Feldt; pingouin rounds


@pytest.mark.filterwarnings("ignore::Warning:pingouin")  # pingouin's own pandas deprecation warnings
def test_pingouin_icc_equals_icc1_and_icc2_for_balanced_groups(pg):
    """Shrout-Fleiss ICC1 / ICC1k (one-way random) are Bliese's ICC(1) / ICC(2) when every group has k members."""
    from vccscale.models.multilevel import icc

    rng = np.random.default_rng(15)
    g, k = 40, 5
    u = np.repeat(rng.normal(0, 0.6, g), k)
    d = pd.DataFrame({"team": np.repeat(np.arange(g), k), "member": np.tile(np.arange(k), g),
                      "score": 4 + u + rng.normal(0, 1, g * k)})
    ours = icc(d, "team", "score")
    t = pg.intraclass_corr(data=d, targets="team", raters="member", ratings="score").set_index("Type")
    one, avg = ("ICC(1,1)", "ICC(1,k)") if "ICC(1,1)" in t.index else ("ICC1", "ICC1k")  # pingouin >= 0.7 / older
    assert ours.icc1 == pytest.approx(t.loc[one, "ICC"], rel=1e-10)
    assert ours.icc2 == pytest.approx(t.loc[avg, "ICC"], rel=1e-10)
    assert ours.f == pytest.approx(t.loc[one, "F"], rel=1e-10)
    assert (ours.df_between, ours.df_within) == (t.loc[one, "df1"], t.loc[one, "df2"])
    assert ours.p == pytest.approx(t.loc[one, "pval"], rel=1e-8, abs=1e-300)


def _exact_correlations(R: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n rows whose sample correlation matrix is exactly R."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, R.shape[0]))
    z -= z.mean(axis=0)
    q, _ = np.linalg.qr(z)
    return q * math.sqrt(n - 1) @ np.linalg.cholesky(R).T


def test_pingouin_partial_correlation_equals_marker_adjustment(pg):
    """Lindell & Whitney's marker adjustment r_A = (r - r_M) / (1 - r_M), tested on n - 3 df, is the partial
    correlation of the two scores controlling for a method factor that correlates sqrt(r_M) with each score (and
    the marker only through it): pingouin.partial_corr on that factor gives the same r and p."""
    from vccscale.validate.validity import common_method

    s, r_ab, n = 0.5, 0.45, 150
    #                a     b     Z    M        (Z: the method factor; M: the marker, related to a, b only via Z)
    R = np.array([[1, r_ab, s, s * s], [r_ab, 1, s, s * s], [s, s, 1, s], [s * s, s * s, s, 1]])
    d = pd.DataFrame(_exact_correlations(R, n, seed=3) + 4, columns=["a", "b", "Z", "M"])
    res = common_method(d, {"A": ["a"], "B": ["b"]}, marker=["M"])
    assert res.r_m == pytest.approx(s * s, rel=1e-10)
    row = res.adjusted.iloc[0]
    pc = pg.partial_corr(data=d, x="a", y="b", covar="Z").iloc[0]
    assert row["r_adjusted"] == pytest.approx(pc["r"], rel=1e-10)
    assert row["p_adjusted"] == pytest.approx(pc["p_val"] if "p_val" in pc else pc["p-val"], rel=1e-8)


def test_pingouin_simple_mediation_point_estimates(pg):
    """a, direct, total and indirect effects equal pingouin's; its standard errors are OLS ones (divisor n - p),
    ours lavaan's ML ones (divisor n); pingouin's 'Y ~ M' row is the simple regression of y on m, not the b path."""
    from vccscale.models import mediate

    rng = np.random.default_rng(7)
    n = 250
    x = rng.normal(size=n)
    m = 0.5 * x + rng.normal(size=n)
    y = 0.35 * m + 0.2 * x + rng.normal(size=n)
    d = pd.DataFrame({"x": x, "m": m, "y": y})
    ours = mediate(d, "x", "m", "y", n_boot=0).effects.set_index("name")
    theirs = pg.mediation_analysis(data=d, x="x", m="m", y="y", n_boot=200, seed=1).set_index("path")
    for mine, their in (("a", "m ~ X"), ("direct", "Direct"), ("total", "Total"), ("indirect", "Indirect")):
        assert ours.loc[mine, "est"] == pytest.approx(theirs.loc[their, "coef"], rel=1e-10), mine
    for mine, their, p in (("a", "m ~ X", 2), ("direct", "Direct", 3), ("total", "Total", 2)):
        assert ours.loc[mine, "delta_se"] * math.sqrt(n / (n - p)) == pytest.approx(theirs.loc[their, "se"], rel=1e-8)
    simple = np.polyfit(m, y, 1)[0]
    assert theirs.loc["Y ~ m", "coef"] == pytest.approx(simple, rel=1e-10)
    assert abs(theirs.loc["Y ~ m", "coef"] - ours.loc["b", "est"]) > 0.05


def test_semopy_engine_from_the_cli(semopy, tmp_path):
    """``vccscale cfa --engine semopy``: the same JSON layout as the default engine, estimates within the stated
    tolerance of lavaan's, the measures semopy lacks null and named on stderr; what semopy cannot fit exits 1."""
    import json

    from click.testing import CliRunner

    from vccscale.cli import main

    ref = _ref("hs_cfa_ml.json")
    model = tmp_path / "hs.lavaan"
    model.write_text(ref["model"])
    data = str(REF / "HolzingerSwineford1939.csv")
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    outs = {}
    for engine in ("vccscale", "semopy"):
        r = runner.invoke(main, ["cfa", data, "--model", str(model), "--engine", engine, "--format", "json"])
        assert r.exit_code == 0, r.output
        outs[engine] = (json.loads(r.stdout), r.stderr)
    ours, theirs = outs["vccscale"][0], outs["semopy"][0]
    assert set(theirs) >= {"fit", "estimates"} and set(theirs["fit"]) == set(ours["fit"])
    est = pd.DataFrame(theirs["estimates"]).merge(pd.DataFrame(ref["parameter_estimates"]), on=["lhs", "op", "rhs"],
                                                  suffixes=("", "_lavaan"))
    _close(est["est"], est["est_lavaan"])
    _close(est["se"], est["se_lavaan"])
    assert theirs["fit"]["srmr"] is None and theirs["fit"]["aic"] is None
    _close(theirs["fit"]["cfi"], ref["fit_measures"]["cfi"], rtol=1e-6, atol=1e-9)
    assert "srmr" in outs["semopy"][1]  # the warning names what is missing
    r = runner.invoke(main, ["cfa", data, "--model", str(model), "--engine", "semopy", "--estimator", "MLR"])
    assert r.exit_code == 1 and "MLR" in (r.stderr or r.output)
