"""Multilevel aggregation statistics and mixed models (vccscale.models.multilevel) against multilevel 2.7,
psych and lme4 1.1-31 (tests/reference/multilevel/multilevel_reference.R)."""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import DataError
from vccscale.models.multilevel import (
    NULL_VARIANCES,
    MixedModelWarning,
    ad_index,
    aggregation_table,
    icc,
    mixed_model,
    multilevel_summary,
    null_variance,
    rwg,
    rwg_j,
)
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "multilevel"
ITEMS = [f"a{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "multilevel_reference.json")


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(reference_path(REF / "multilevel_data.csv"))
    d["mean"] = d[ITEMS].mean(axis=1)
    return d


def _arr(v):
    return np.array([np.nan if x is None else x for x in v], dtype=float)


# ------------------------------------------------------------------------------------------------ ICC
def test_icc_matches_multilevel(data, ref):
    r, e = icc(data, "g", "mean"), ref["icc"]
    assert r.icc1 == pytest.approx(e["icc1"], abs=1e-6)
    assert r.icc2 == pytest.approx(e["icc2"], abs=1e-6)
    assert r.msb == pytest.approx(e["msb"], rel=1e-9) and r.msw == pytest.approx(e["msw"], rel=1e-9)
    assert (r.df_between, r.df_within) == (e["df_between"], e["df_within"])
    assert r.f == pytest.approx(e["F"], rel=1e-9)
    assert r.p == pytest.approx(e["p"], rel=1e-6)
    # multilevel::ICC1 uses the mean group size N / G, not the ANOVA-adjusted k0
    assert r.mean_group_size == pytest.approx(e["mean_group_size"])
    assert r.k_adjusted == pytest.approx(e["k_adjusted"], rel=1e-12)
    assert r.icc1 == pytest.approx(e["icc1_mean_k"], abs=1e-12)
    assert r.icc1_adjusted_k == pytest.approx(e["icc1_adjusted_k"], abs=1e-9)
    assert abs(e["icc1"] - e["icc1_adjusted_k"]) > 1e-4            # the two k really differ here
    one = icc(data, "g", "a1")
    assert one.icc1 == pytest.approx(ref["icc_a1"]["icc1"], abs=1e-6)
    assert one.icc2 == pytest.approx(ref["icc_a1"]["icc2"], abs=1e-6)


def test_icc_equals_psych_icc_on_balanced_subset(data, ref):
    bal = data.groupby("g", sort=True).head(3)
    r, e = icc(bal, "g", "mean"), ref["psych_icc"]
    assert r.icc1 == pytest.approx(e["ICC1"], abs=1e-6)          # Shrout-Fleiss ICC1
    assert r.icc2 == pytest.approx(e["ICC1k"], abs=1e-6)         # ICC1k
    assert r.icc1 == pytest.approx(r.icc1_adjusted_k, abs=1e-12)  # balanced: k = k0


def test_icc_errors(data):
    with pytest.raises(DataError):
        icc(data, "g", "nope")
    with pytest.raises(DataError):
        icc(pd.DataFrame({"g": [1, 1, 1], "v": [1.0, 2.0, 3.0]}), "g", "v")


# ------------------------------------------------------------------------------------------------ rwg
def test_rwg_matches_multilevel(data, ref):
    a = ref["agreement"]
    r = rwg(data["a1"], data["g"], scale_points=7)
    assert list(r.table.index) == a["group"]
    assert list(r.table["gsize"]) == a["gsize"]
    np.testing.assert_allclose(r.values.to_numpy(), _arr(a["rwg_a1"]), atol=1e-6)
    np.testing.assert_allclose(r.table["raw"].to_numpy(), _arr(a["rwg_a1_hand"]), atol=1e-6)
    s = rwg(data["a1"].to_numpy(), data["g"].to_numpy(), scale_points=7, null="slight_skew")
    assert s.sigma2_e == 2.90
    np.testing.assert_allclose(s.values.to_numpy(), _arr(a["rwg_a1_slight"]), atol=1e-6)
    assert r.n_truncated == int((r.table["raw"] < 0).sum()) > 0


def test_rwg_j_matches_multilevel(data, ref):
    a = ref["agreement"]
    r = rwg_j(data[ITEMS], data["g"], scale_points=7)
    np.testing.assert_allclose(r.values.to_numpy(), _arr(a["rwg_j"]), atol=1e-6)
    np.testing.assert_allclose(r.table["raw"].to_numpy(), _arr(a["rwg_j_hand"]), atol=1e-6)   # JDW by hand
    np.testing.assert_allclose(r.table["variance"].to_numpy(), _arr(a["mean_item_var"]), atol=1e-9)
    hand = _arr(a["rwg_j_hand"])
    assert r.n_truncated == int(np.sum((hand < 0) | (hand > 1))) == 1
    assert r.mean == pytest.approx(np.mean(_arr(a["rwg_j"])), abs=1e-9)
    s = rwg_j(data[ITEMS], data["g"], scale_points=7, null="slight_skew")
    np.testing.assert_allclose(s.values.to_numpy(), _arr(a["rwg_j_slight"]), atol=1e-6)


def test_ad_matches_multilevel(data, ref):
    a = ref["agreement"]
    np.testing.assert_allclose(ad_index(data[ITEMS], data["g"], "mean")["ad"], _arr(a["ad_mean"]), atol=1e-9)
    np.testing.assert_allclose(ad_index(data[ITEMS], data["g"], "median")["ad"], _arr(a["ad_median"]), atol=1e-9)
    np.testing.assert_allclose(ad_index(data["a1"], data["g"])["ad"], _arr(a["ad_a1"]), atol=1e-9)


def test_rwg_closed_forms():
    # within-group variance equal to sigma2_EU = (7^2 - 1) / 12 = 4: values 1 and 5 give var 8 with n = 2 ... use
    # {1, 1, 5, 5}: var = 16/3; {2, 6}: var = 8; {1, 3, 5}: var = 4 exactly
    g = [1, 1, 1, 2, 2, 2, 3]
    x = [1, 3, 5, 4, 4, 4, 6]
    r = rwg(x, g, scale_points=7)
    assert r.values.loc[1] == pytest.approx(0.0, abs=1e-15)           # s^2 = sigma2_EU -> 0
    assert r.values.loc[2] == 1.0                                      # no variance -> 1
    assert math.isnan(r.values.loc[3])                                 # one member
    assert (r.n_truncated, r.n_undefined) == (0, 1)
    items = pd.DataFrame({"i1": x, "i2": x, "i3": x})
    rj = rwg_j(items, g, scale_points=7)
    assert rj.values.loc[1] == pytest.approx(0.0, abs=1e-15) and rj.values.loc[2] == 1.0
    # above sigma2_E -> truncated to 0 and counted
    t = rwg([1, 7, 1, 7], [1, 1, 1, 1], scale_points=7)
    assert t.table["raw"].iloc[0] < 0 and t.values.iloc[0] == 0.0 and t.n_truncated == 1
    tj = rwg_j(pd.DataFrame({"i1": [1, 7, 1, 7], "i2": [7, 1, 7, 1]}), [1] * 4, scale_points=7)
    assert tj.values.iloc[0] == 0.0 and tj.n_truncated == 1
    # AD: 1 and 7 around mean 4 -> 3; cut-off c / 6
    assert ad_index(pd.DataFrame({"i": [1, 7]}), [1, 1])["ad"].iloc[0] == 3.0


def test_null_variances():
    assert null_variance(7) == 4.0 and null_variance(5) == 2.0 and null_variance(4) == pytest.approx(15 / 12)
    assert null_variance(5, "slight_skew") == 1.34 and null_variance(7, "slight_skew") == 2.90
    assert null_variance(5, "moderate_skew") == 0.90
    # the 5-point slightly / moderately skewed nulls of James et al. (1984)
    for p, v in (((.05, .15, .20, .35, .25), 1.34), ((0, .10, .15, .40, .35), 0.90)):
        k = np.arange(1, 6)
        assert np.dot(p, k ** 2) - np.dot(p, k) ** 2 == pytest.approx(v, abs=1e-12)
    for a, row in NULL_VARIANCES.items():                            # tabled uniform = (A^2 - 1) / 12 rounded
        assert row["uniform"] == pytest.approx((a * a - 1) / 12, abs=0.005)
    with pytest.raises(ValueError):
        null_variance(4, "slight_skew")
    with pytest.raises(ValueError):
        null_variance(7, "lopsided")


def test_aggregation_table(data):
    t = aggregation_table(data, "g", {"A": ITEMS, "noise": ["a1"]}, scale_points=7)
    assert t.loc["A", "verdict"] == "justified"
    assert t.loc["A", "icc2"] == pytest.approx(icc(data, "g", "mean").icc2)
    assert t.loc["noise", "verdict"] == "partial"            # ICC2 .72 but mean rwg .60
    assert t.loc["A", "ad_cutoff"] == pytest.approx(7 / 6)
    rng = np.random.default_rng(1)
    rnd = pd.DataFrame({"g": np.repeat(np.arange(30), 5), **{f"r{i}": rng.integers(1, 8, 150) for i in range(3)}})
    t2 = aggregation_table(rnd, "g", {"R": ["r0", "r1", "r2"]}, scale_points=7)
    assert t2.loc["R", "verdict"] == "not_justified"


# ------------------------------------------------------------------------------------------------ mixed models
@pytest.mark.parametrize("key,formula,re_formula,reml", [
    ("ri_reml", "mean ~ 1", None, True), ("ri_ml", "mean ~ 1", None, False),
    ("rs_reml", "y ~ x", "~x", True), ("rs_ml", "y ~ x", "~x", False)])
def test_mixed_model_matches_lme4(data, ref, key, formula, re_formula, reml):
    e = ref["lmer"][key]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixedModelWarning)
        r = mixed_model(data, formula, "g", re_formula=re_formula, reml=reml)
    assert r.converged and not r.singular and r.warnings == []
    v = e["var"]
    assert r.variance["between"] == pytest.approx(v["g|(Intercept)|"], rel=1e-3)
    assert r.variance["within"] == pytest.approx(v["Residual|NA|"], rel=1e-3)
    if re_formula:
        assert r.variance["slope"] == pytest.approx(v["g|x|"], rel=1e-3)
        assert r.variance["covariance"] == pytest.approx(v["g|(Intercept)|x"], rel=1e-3)
    fe = e["fixef"] if isinstance(e["fixef"], dict) else {"(Intercept)": e["fixef"][0]}
    se = e["se"] if isinstance(e["se"], dict) else {"(Intercept)": e["se"][0]}
    for ours, theirs in zip(r.fixed.index, fe):
        assert r.fixed.loc[ours, "est"] == pytest.approx(fe[theirs], rel=1e-4)
        # statsmodels' REML fixed-effect SEs differ from lme4's by up to ~0.2 % here
        assert r.fixed.loc[ours, "se"] == pytest.approx(se[theirs], rel=5e-3)
    assert r.llf == pytest.approx(e["logLik"], abs=1e-4)         # REML llf is on lme4's scale
    assert r.npar == e["df"] and r.n == e["nobs"] and r.n_groups == 60
    assert r.aic == pytest.approx(e["AIC"], abs=2e-4) and r.bic == pytest.approx(e["BIC"], abs=2e-4)
    assert r.icc == pytest.approx(v["g|(Intercept)|"] / (v["g|(Intercept)|"] + v["Residual|NA|"]), rel=1e-3)
    assert set(r.fixed.columns) == {"est", "se", "z", "p"}


def test_mixed_model_singular_fit_warns():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"g": np.repeat(np.arange(20), 5), "y": rng.normal(size=100)})
    d["y"] -= d.groupby("g")["y"].transform("mean")               # group means all 0: tau00 = 0
    with pytest.warns(MixedModelWarning):
        r = mixed_model(d, "y ~ 1", "g")
    assert r.singular and r.warnings


# ------------------------------------------------------------------------------------------------ CLI contract
def test_multilevel_summary_contract(data, ref):
    s = multilevel_summary(data, "g", ITEMS, 1, 7)
    assert {"icc1", "icc2", "rwg_j", "variance"} <= set(s)
    assert set(s["rwg_j"]) == {"mean", "median", "per_group"}
    assert set(s["variance"]) == {"between", "within"}
    assert s["icc1"] == pytest.approx(ref["icc"]["icc1"], abs=1e-6)
    assert s["icc2"] == pytest.approx(ref["icc"]["icc2"], abs=1e-6)
    rj = _arr(ref["agreement"]["rwg_j"])
    assert s["rwg_j"]["mean"] == pytest.approx(rj.mean(), abs=1e-6)
    assert s["rwg_j"]["median"] == pytest.approx(np.median(rj), abs=1e-6)
    assert s["rwg_j"]["per_group"]["1"] == pytest.approx(rj[0], abs=1e-6)
    assert len(s["rwg_j"]["per_group"]) == 60
    v = ref["lmer"]["ri_reml"]["var"]
    assert s["variance"]["between"] == pytest.approx(v["g|(Intercept)|"], rel=1e-3)
    assert s["variance"]["within"] == pytest.approx(v["Residual|NA|"], rel=1e-3)
    assert s["rwg_j_info"]["n_truncated"] == 1
    json.dumps(s)                                                    # JSON-serialisable
