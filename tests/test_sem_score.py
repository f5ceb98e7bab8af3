"""vccscale.sem.score: lavTestScore parity (lavaan 0.6-14 fixture hs_invariance.json), the partial-invariance
search and latent mean differences.

Tolerance as test_sem_parity: relative 1e-3 (absolute floor 1e-6); p-values below 1e-4 compared absolutely (1e-6).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import ModelError
from vccscale.sem import fit_cfa
from vccscale.sem.score import (
    latent_means,
    partial_invariance,
    score_tests,
    total_score_test,
)
from reference_data import load_reference, reference_path

REF = Path(__file__).resolve().parent / "reference" / "validate"
RTOL, ATOL = 1e-3, 1e-6


def _close(mine, ref, pvalue=False) -> bool:
    if pvalue and abs(ref) < 1e-4:
        return abs(mine - ref) <= 1e-6
    return abs(mine - ref) <= max(RTOL * abs(ref), ATOL)


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "hs_invariance.json")


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(reference_path(REF / "HolzingerSwineford1939.csv"))


@pytest.fixture(scope="module")
def scalar(hs, ref):
    return fit_cfa(hs, ref["model"], group="school", group_equal=["loadings", "intercepts"])


def _parse_param(s: str):
    """'visual=~x2@g2' -> ('visual', '=~', 'x2', 2); 'x1~1@g2' -> ('x1', '~1', '', 2)."""
    body, g = s.split("@g")
    for op in ("=~", "~~", "~1"):
        if op in body:
            lhs, rhs = body.split(op)
            return lhs, op, rhs, int(g)
    raise AssertionError(s)


# ---------------------------------------------------------------------- score tests
def test_score_tests_univariate_match_lavaan(scalar, ref):
    st = score_tests(scalar)
    uni = ref["score_test"]["uni"]
    assert len(st) == len(uni) == 15
    bad = []
    for (_, row), u in zip(st.iterrows(), uni):
        assert (row.plabel_lhs, row.plabel_rhs) == (u["lhs"], u["rhs"])
        assert (row.lhs, row.op, row.rhs, row.group) == _parse_param(u["rhs_param"])
        assert row.group_label == ref["group_labels"][row.group - 1]
        assert row.df == 1
        if not (_close(row.X2, u["X2"]) and _close(row.pvalue, u["p.value"], pvalue=True)):
            bad.append((u["rhs_param"], row.X2, u["X2"], row.pvalue, u["p.value"]))
    assert not bad, bad
    assert list(st["type"]) == ["loadings"] * 6 + ["intercepts"] * 9


def test_score_tests_total_match_lavaan(scalar, ref):
    tot = ref["score_test"]["total"][0]
    for t in (score_tests(scalar).attrs["total"], total_score_test(scalar)):
        assert t["df"] == tot["df"] == 15
        assert _close(t["X2"], tot["X2"])
        assert _close(t["pvalue"], tot["p.value"], pvalue=True)


def test_single_constraint_univariate_equals_total(hs, ref):
    # one remaining constraint: releasing it alone is the total test
    fit = fit_cfa(hs, ref["model"], group="school", group_equal=["loadings"],
                  group_partial=["visual =~ x2", "visual =~ x3", "textual =~ x5", "textual =~ x6", "speed =~ x8"])
    st = score_tests(fit)
    assert len(st) == 1 and (st.lhs[0], st.rhs[0]) == ("speed", "x9")
    assert st.X2[0] == pytest.approx(st.attrs["total"]["X2"], rel=1e-8)


def test_score_tests_need_constraints(hs, ref):
    fit = fit_cfa(hs, ref["model"], group="school")
    with pytest.raises(ModelError, match="no equality constraints"):
        score_tests(fit)


# ---------------------------------------------------------------------- latent means
def test_latent_means_match_lavaan(scalar, ref):
    lm = latent_means(scalar)
    exp = [r for r in ref["scalar_latent_means"] if r["group"] == 2]
    assert list(lm.lhs) == [r["lhs"] for r in exp]
    assert (lm.group == 2).all() and (lm.group_label == "Grant-White").all()
    for (_, row), r in zip(lm.iterrows(), exp):
        for mine, key in (("est", "est"), ("se", "se"), ("z", "z"), ("std_lv", "std.lv")):
            assert _close(row[mine], r[key]), (row.lhs, mine, row[mine], r[key])
        assert _close(row.pvalue, r["pvalue"], pvalue=True), (row.lhs, row.pvalue, r["pvalue"])
    # d = mean / sqrt(pooled latent variance), pooled with n_g - 1 weights
    est = scalar.estimates
    n1, n2 = scalar.nobs
    for _, row in lm.iterrows():
        v = est[(est.op == "~~") & (est.lhs == row.lhs) & (est.rhs == row.lhs)].set_index("group")["est"]
        pooled = ((n1 - 1) * v[1] + (n2 - 1) * v[2]) / (n1 + n2 - 2)
        assert row.d == pytest.approx(row.est / math.sqrt(pooled), rel=1e-12)


def test_latent_means_need_free_means(hs, ref):
    with pytest.raises(ModelError, match="fixed at 0 in every group"):
        latent_means(fit_cfa(hs, ref["model"], group="school", group_equal=["loadings"]))


# ---------------------------------------------------------------------- partial invariance: HS by school
def test_partial_scalar_hs_first_freed_is_largest_fixture_test(hs, ref):
    res = partial_invariance(hs, ref["model"], "school", level="scalar")
    uni = ref["score_test"]["uni"]
    top = max(uni, key=lambda u: u["X2"])  # x3~1@g2, X2 = 19.19
    first = res.freed.iloc[0]
    assert (first.lhs, first.op, first.rhs) == _parse_param(top["rhs_param"])[:3]
    assert _close(first.X2, top["X2"])
    assert first.n_tests == 9 and first.threshold == pytest.approx(0.05 / 9)  # Bonferroni over 9 intercepts
    # step 0 is lavTestLRT(metric, scalar)
    lrt = {r["model"]: r for r in ref["ML"]["lrt"]}
    assert _close(res.steps.chisq_diff[0], lrt["scalar"]["Chisq diff"])
    assert res.group_partial == ("x3 ~ 1", "x7 ~ 1")
    assert "not significant" in res.stop_reason and res.steps.pvalue_diff.iloc[-1] >= 0.05
    assert res.fit.fit["df"] == 58
    # the final fit is the same as fitting the reported group_partial directly
    direct = fit_cfa(hs, ref["model"], group="school", group_equal=["loadings", "intercepts"],
                     group_partial=list(res.group_partial))
    assert direct.fit["chisq"] == pytest.approx(res.fit.fit["chisq"], rel=1e-8)


def test_partial_metric_hs(hs, ref):
    lrt = {r["model"]: r for r in ref["ML"]["lrt"]}
    res = partial_invariance(hs, ref["model"], "school", level="metric")
    assert res.freed.empty and res.group_partial == ()
    assert _close(res.steps.chisq_diff[0], lrt["metric"]["Chisq diff"])
    assert _close(res.steps.pvalue_diff[0], lrt["metric"]["Pr(>Chisq)"], pvalue=True)
    assert "configural model is not significant" in res.stop_reason
    # with a lax alpha the search goes on: the first freed loading is the largest loading score test
    lax = partial_invariance(hs, ref["model"], "school", level="metric", alpha=0.9, max_free=1)
    st = score_tests(fit_cfa(hs, ref["model"], group="school", group_equal=["loadings"]))
    top = st.loc[st.X2.idxmax()]
    assert len(lax.freed) == 1
    assert (lax.freed.lhs[0], lax.freed.rhs[0]) == (top.lhs, top.rhs)
    assert lax.freed.X2[0] == pytest.approx(top.X2, rel=1e-10)
    assert lax.freed.threshold[0] == pytest.approx(0.9 / 6)


def test_partial_scalar_hs_mlr(hs, ref):
    res = partial_invariance(hs, ref["model"], "school", level="scalar", estimator="MLR")
    lrt = {r["model"]: r for r in ref["MLR"]["lrt"]}
    assert _close(res.steps.chisq_diff[0], lrt["scalar"]["Chisq diff"])  # Satorra-Bentler 2001
    assert res.freed.syntax.iloc[0] == "x3 ~ 1"


def test_partial_invariance_bad_arguments(hs, ref):
    with pytest.raises(ModelError, match="level"):
        partial_invariance(hs, ref["model"], "school", level="configural")
    with pytest.raises(ModelError, match="alpha"):
        partial_invariance(hs, ref["model"], "school", alpha=1.5)


# ---------------------------------------------------------------------- partial invariance: synthetic
SYN_MODEL = "f1 =~ y1 + y2 + y3 + y4\nf2 =~ y5 + y6 + y7 + y8"


def _synthetic(seed: int = 20240611, n: int = 400, shift: float = 0.6) -> pd.DataFrame:
    """Two groups, two correlated factors with 4 items each, equal loadings; group B has latent means (.3, -.2)
    and the intercept of y3 is higher by ``shift``."""
    rng = np.random.default_rng(seed)
    lam = np.array([1.0, 0.8, 0.9, 0.7])
    chol = np.linalg.cholesky(np.array([[1.0, 0.4], [0.4, 1.0]]))
    parts = []
    for label, mean in (("A", (0.0, 0.0)), ("B", (0.3, -0.2))):
        f = rng.normal(size=(n, 2)) @ chol.T + np.array(mean)
        nu = np.full(8, 3.0)
        if label == "B":
            nu[2] += shift
        X = np.column_stack([np.outer(f[:, 0], lam), np.outer(f[:, 1], lam)]) + nu \
            + rng.normal(scale=0.6, size=(n, 8))
        d = pd.DataFrame(X, columns=[f"y{i}" for i in range(1, 9)])
        d["grp"] = label
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


def test_partial_scalar_synthetic_frees_exactly_the_shifted_intercept():
    data = _synthetic()
    res = partial_invariance(data, SYN_MODEL, "grp", level="scalar")
    assert res.group_partial == ("y3 ~ 1",)
    assert list(res.freed.syntax) == ["y3 ~ 1"]
    assert res.freed.pvalue[0] < 0.05 / 8
    assert res.stop_reason  # ended by the difference test or by no Bonferroni-significant score test
    assert res.steps.decision.iloc[-1] == "stop"
    # the latent means of the partial scalar model recover the generating differences
    lm = latent_means(res.fit).set_index("lhs")
    assert lm.loc["f1", "est"] == pytest.approx(0.3, abs=0.15)
    assert lm.loc["f2", "est"] == pytest.approx(-0.2, abs=0.15)


def test_partial_metric_synthetic_frees_nothing():
    res = partial_invariance(_synthetic(), SYN_MODEL, "grp", level="metric")
    assert res.group_partial == ()


def test_partial_max_free_zero():
    res = partial_invariance(_synthetic(), SYN_MODEL, "grp", level="scalar", max_free=0)
    assert res.freed.empty and "max_free" in res.stop_reason
    assert res.steps.max_param[0] == "y3 ~ 1"


def test_score_tests_three_groups():
    data = _synthetic()
    data.loc[data.index % 3 == 0, "grp"] = "C"
    fit = fit_cfa(data, SYN_MODEL, group="grp", group_equal=["loadings", "intercepts"])
    st = score_tests(fit)
    # 6 loadings + 8 intercepts, each for groups 2 and 3; lavaan's order (by the later row): group 2 then group 3
    assert len(st) == 28 and st.attrs["total"]["df"] == 28
    assert list(st.group) == [2] * 14 + [3] * 14
    assert (st.X2 >= -1e-10).all()
    lm = latent_means(fit)
    assert list(lm.group) == [2, 2, 3, 3]


def test_score_tests_under_fiml_match_lavaan():
    """lavTestScore of a FIML fit (missing = "ml", hs_missing.csv; score_fiml_reference.R): expected information of
    the pattern-wise likelihood, as lavaan's default. Univariate and total X2 to 1e-3 relative; the partial
    invariance search (which the hypothesis tests run under a study's missing_data: fiml) frees the intercept
    with the largest of them first."""
    ref = load_reference(REF / "score_fiml_reference.json")
    hs = pd.read_csv(reference_path(REF / "hs_missing.csv"))
    fit = fit_cfa(hs, ref["model"], group="school", group_equal=["loadings", "intercepts"], missing="fiml")
    assert fit.fit["chisq"] == pytest.approx(ref["chisq"], rel=1e-6) and sum(fit.nobs) == ref["ntotal"]
    st = score_tests(fit)
    mine = {(r.plabel_lhs, r.plabel_rhs): r for r in st.itertuples()}
    assert len(mine) == len(ref["uni"]) == 15
    for u in ref["uni"]:
        r = mine[(u["lhs"], u["rhs"])]
        assert _close(r.X2, u["X2"]) and _close(r.pvalue, u["pvalue"], pvalue=True), u
    tot = st.attrs["total"]
    assert _close(tot["X2"], ref["total"]["X2"]) and tot["df"] == ref["total"]["df"]
    search = partial_invariance(hs, ref["model"], "school", level="scalar", missing="fiml")
    top = max(ref["uni"], key=lambda u: u["X2"])
    first = mine[(top["lhs"], top["rhs"])]
    assert search.freed.iloc[0]["syntax"] == f"{first.lhs} ~ 1"
