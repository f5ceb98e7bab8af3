"""vccscale.sem against lavaan 0.6-14 (fixtures in tests/reference/validate/, written by make_reference.R).

Tolerance: relative 1e-3 with an absolute floor of 1e-6; p-values below 1e-4 are compared on the absolute scale
(|diff| <= 1e-6).  In practice the estimates agree to about 1e-6 relative (lavaan's own convergence tolerance).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.sem import fit_cfa, fit_sem
from reference_data import load_reference, reference_path

REF = Path(__file__).resolve().parent / "reference" / "validate"
RTOL, ATOL = 1e-3, 1e-6
PE_COLS = ("est", "se", "z", "pvalue", "ci.lower", "ci.upper", "std.lv", "std.all")


def _load(name):
    return load_reference(REF / name)


def _close(mine, ref, name="", pvalue=False) -> bool:
    if ref is None:
        return mine is None or (isinstance(mine, float) and math.isnan(mine))
    if mine is None or (isinstance(mine, float) and math.isnan(mine)):
        return False
    if pvalue and abs(ref) < 1e-4:
        return abs(mine - ref) <= 1e-6
    return abs(mine - ref) <= max(RTOL * abs(ref), ATOL)


def assert_fit_measures(res, ref: dict, skip=()):
    bad = []
    for k, v in ref.items():
        if k in skip:
            continue
        assert k in res.fit, f"fit measure {k!r} missing"
        if not _close(res.fit[k], v, k, pvalue="pvalue" in k):
            bad.append((k, res.fit[k], v))
    assert not bad, f"fit measures differ from lavaan: {bad}"


def _match(est: pd.DataFrame, r: dict) -> pd.Series:
    m = est[(est.lhs == r["lhs"]) & (est.op == r["op"]) & (est.rhs == r["rhs"].replace(" ", ""))]
    if "group" in r and r["op"] != ":=":
        m = m[m.group == r["group"]]
    assert len(m) == 1, f"row {r['lhs']} {r['op']} {r['rhs']} found {len(m)} times"
    return m.iloc[0]


def assert_estimates(res, ref_rows: list[dict], cols=PE_COLS):
    est = res.estimates
    bad = []
    for r in ref_rows:
        row = _match(est, r)
        for c in cols:
            if c not in r:
                continue
            mine, theirs = row[c.replace(".", "_")], r[c]
            if c == "se" and theirs == 0:
                ok = mine == 0
            else:
                ok = _close(float(mine), theirs, pvalue=(c == "pvalue"))
            if not ok:
                bad.append((r["lhs"], r["op"], r["rhs"], r.get("group"), c, mine, theirs))
    assert not bad, f"estimates differ from lavaan: {bad[:10]}"
    n_ref = len(ref_rows)
    assert len(est) == n_ref, f"{len(est)} parameter rows, lavaan has {n_ref}"


def assert_matrix(df: pd.DataFrame, ref: dict):
    names = ref["rownames"]
    vals = np.array(ref["values"], dtype=float)
    mine = df.loc[names, ref["colnames"]].to_numpy()
    np.testing.assert_allclose(mine, vals, rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(reference_path(REF / "HolzingerSwineford1939.csv"))


@pytest.fixture(scope="module")
def poldem():
    return pd.read_csv(reference_path(REF / "PoliticalDemocracy.csv"))


# ------------------------------------------------------------------------------------------ HS CFA, ML
@pytest.fixture(scope="module")
def hs_ml(hs):
    ref = _load("hs_cfa_ml.json")
    return fit_cfa(hs, ref["model"], estimator="ML"), ref


def test_hs_cfa_ml_fit_measures(hs_ml):
    res, ref = hs_ml
    assert_fit_measures(res, ref["fit_measures"])
    for k in ("chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli", "rmsea", "rmsea.ci.lower",
              "rmsea.ci.upper", "rmsea.pvalue", "srmr", "logl", "unrestricted.logl", "aic", "bic", "bic2", "npar",
              "ntotal", "gfi", "agfi"):
        assert k in ref["fit_measures"]  # the brief's list is really covered by the fixture


def test_hs_cfa_ml_chisq_is_n_times_fml(hs_ml):
    res, _ = hs_ml
    assert res.fit["chisq"] == pytest.approx(2 * 301 * res.fit["fmin"], rel=1e-12)


def test_hs_cfa_ml_estimates(hs_ml):
    res, ref = hs_ml
    assert_estimates(res, ref["parameter_estimates"])
    assert list(res.estimates.columns) == ["lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue",
                                           "ci_lower", "ci_upper", "std_lv", "std_all"]


def test_hs_cfa_ml_parameter_order_as_lavaan(hs_ml):
    res, ref = hs_ml
    mine = list(zip(res.estimates.lhs, res.estimates.op, res.estimates.rhs))
    theirs = [(r["lhs"], r["op"], r["rhs"]) for r in ref["parameter_estimates"]]
    assert mine == theirs


def test_hs_cfa_ml_modindices(hs_ml):
    res, ref = hs_ml
    mi = res.modindices()
    assert len(mi) == len(ref["modindices"])
    bad = []
    for r in ref["modindices"]:
        row = _match(mi.assign(group=1), r)
        for c in ("mi", "epc", "sepc.lv", "sepc.all"):
            if not _close(float(row[c.replace(".", "_")]), r[c]):
                bad.append((r["lhs"], r["op"], r["rhs"], c, row[c.replace(".", "_")], r[c]))
    assert not bad, bad
    top = res.modindices(sort=True).head(5)
    ref_top = sorted(ref["modindices"], key=lambda r: -r["mi"])[:5]
    assert list(zip(top.lhs, top.op, top.rhs)) == [(r["lhs"], r["op"], r["rhs"]) for r in ref_top]


def test_hs_cfa_ml_fitted_sample_cov_and_r2(hs_ml):
    res, ref = hs_ml
    assert_matrix(res.fitted_cov["all"], ref["fitted_cov"])
    assert_matrix(res.sample_cov["all"], ref["sample_cov"])
    for k, v in ref["r2"].items():
        assert _close(res.r2[k], v), k
    resid = res.residual_cov["all"]
    np.testing.assert_allclose(resid.to_numpy(), (res.sample_cov["all"] - res.fitted_cov["all"]).to_numpy())


def test_hs_cfa_std_lv(hs):
    ref = _load("hs_cfa_ml.json")
    res = fit_cfa(hs, ref["model"], std_lv=True)
    assert_fit_measures(res, ref["std_lv"]["fit_measures"])
    assert_estimates(res, ref["std_lv"]["parameter_estimates"])


# ------------------------------------------------------------------------------------------ PoliticalDemocracy SEM
@pytest.fixture(scope="module")
def pd_ml(poldem):
    ref = _load("poldem_sem.json")
    return fit_sem(poldem, ref["model"]), ref


def test_poldem_fit_measures(pd_ml):
    res, ref = pd_ml
    assert_fit_measures(res, ref["fit_measures"])


def test_poldem_estimates_r2_fitted(pd_ml):
    res, ref = pd_ml
    assert_estimates(res, ref["parameter_estimates"])
    for k, v in ref["r2"].items():
        assert _close(res.r2[k], v), k
    assert set(res.r2.index) == set(ref["r2"])
    assert_matrix(res.fitted_cov["all"], ref["fitted_cov"])


def test_poldem_defined_parameters(poldem):
    ref = _load("poldem_sem.json")["labelled"]
    res = fit_sem(poldem, ref["model"])
    assert_estimates(res, ref["parameter_estimates"])
    defined = res.estimates[res.estimates.op == ":="]
    assert list(defined.lhs) == ["ind", "total"]
    assert (defined.group == 0).all()


# ------------------------------------------------------------------------------------------ MLR
def test_hs_cfa_mlr(hs):
    ref = _load("hs_cfa_mlr.json")
    res = fit_cfa(hs, ref["model"], estimator="MLR")
    assert res.estimator == "MLR"
    assert_fit_measures(res, ref["fit_measures"])
    assert_estimates(res, ref["parameter_estimates"])
    for k in ("chisq.scaled", "chisq.scaling.factor", "pvalue.scaled", "cfi.scaled", "cfi.robust", "tli.robust",
              "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "scaling.factor.h1"):
        assert k in ref["fit_measures"]


# ------------------------------------------------------------------------------------------ multigroup / invariance
INVARIANCE = {"configural": [], "metric": ["loadings"], "scalar": ["loadings", "intercepts"],
              "strict": ["loadings", "intercepts", "residuals"]}


@pytest.mark.parametrize("estimator", ["ML", "MLR"])
@pytest.mark.parametrize("step", list(INVARIANCE))
def test_hs_invariance_fit_measures(hs, estimator, step):
    ref = _load("hs_invariance.json")
    res = fit_cfa(hs, ref["model"], estimator=estimator, group=ref["group"], group_equal=INVARIANCE[step])
    assert res.group_labels == ref["group_labels"]
    assert res.nobs == ref["group_nobs"]
    assert_fit_measures(res, ref[estimator]["fit_measures"][step])


def test_hs_scalar_estimates(hs):
    ref = _load("hs_invariance.json")
    res = fit_cfa(hs, ref["model"], group=ref["group"], group_equal=INVARIANCE["scalar"])
    assert_estimates(res, ref["scalar_parameter_estimates"])
    means = res.estimates[(res.estimates.op == "~1") & res.estimates.lhs.isin(["visual", "textual", "speed"])]
    for r in ref["scalar_latent_means"]:
        row = _match(means, r)
        assert _close(row["est"], r["est"])


# ------------------------------------------------------------------------------------------ larger model
def test_cfa30(hs):
    path = reference_path(REF / "cfa30_n1000.csv")
    ref = _load("cfa30_n1000.json")
    res = fit_cfa(pd.read_csv(path), ref["model"])
    assert_fit_measures(res, ref["fit_measures"])
    assert_estimates(res, ref["parameter_estimates"])


# ------------------------------------------------------------------------------------------ result object
def test_result_api(hs_ml):
    res, _ = hs_ml
    d = res.to_dict()
    json.dumps(d)  # JSON-ready
    assert d["fit"]["chisq"] == pytest.approx(res.fit["chisq"])
    frame = res.to_frame()
    frame.loc[0, "est"] = 99.0
    assert res.estimates.loc[0, "est"] != 99.0  # to_frame() is a copy
    text = res.summary()
    assert "CFI" in text and "visual" in text
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        res.fit = {}  # type: ignore[misc]
