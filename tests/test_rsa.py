"""Polynomial regression / response surface analysis (vccscale.models.rsa) against base R lm()/glm() and lavaan :=.

Reference: tests/reference/rsa/rsa_reference.R (R 4.2, lavaan 0.6-14) -> rsa_data.csv, rsa_reference.json.
Delta-method SEs of the stationary point / principal axes: vccscale uses the OLS vcov (divisor n - p) and matches
R's deriv() gradient times vcov(lm) to 1e-6 (relative); lavaan's := SEs come from the ML vcov (divisor n) and are
matched after rescaling ours by sqrt((n - p) / n), p = 6.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import DataError, ModelError
from vccscale.models.rsa import RSAResult, contour_plot, rsa, surface_plot
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "rsa"
NONLIN = ["X0", "Y0", "p10", "p11", "p20", "p21", "lateral_shift"]
REL = 1e-6


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(reference_path(REF / "rsa_data.csv"))


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "rsa_reference.json")


@pytest.fixture(scope="module")
def fit(data):
    return rsa(data, "X", "Y", "Z", center="midpoint", scale_min=1, scale_max=7)


def _close(a, b, rel=REL, abs_=1e-10):
    assert a == pytest.approx(b, rel=rel, abs=abs_)


def test_coefficients_and_surface_match_lm(fit, ref):
    g = ref["gaussian"]
    assert fit.center == ref["center"] == 4 and fit.n == g["n"] == 300
    _close(fit.r2, g["r2"])
    _close(fit.coefficients.loc["b0", "est"], g["intercept"])
    for k, v in g["coefficients"].items():
        for col in ("est", "se", "pvalue"):
            _close(fit.coefficients.loc[k, col], v[col])
    for k, v in g["surface"].items():           # a1..a5, SE sqrt(c' V c), t(n - p)
        for col in ("est", "se", "pvalue"):
            _close(fit.surface.loc[k, col], v[col])
    _close(fit.aic, g["aic"])
    _close(fit.bic, g["bic"])


def test_stationary_point_and_axes_match_formulas(fit, ref):
    g = ref["gaussian"]["nonlinear"]
    for k in NONLIN:
        for col in ("est", "se", "pvalue"):
            _close(fit.stationary.loc[k, col], g[k][col])
    ct = ref["gaussian"]["congruence_tests"]
    _close(fit.congruence_tests["p10_eq_0"]["pvalue"], ct["p10_eq_0"])
    _close(fit.congruence_tests["p11_eq_1"]["pvalue"], ct["p11_eq_1"])
    # principal axes pass through the stationary point and are orthogonal
    s = fit.stationary["est"]
    assert s["p11"] * s["p21"] == pytest.approx(-1, abs=1e-12)
    assert s["p10"] + s["p11"] * s["X0"] == pytest.approx(s["Y0"], abs=1e-12)


def test_delta_ses_match_lavaan_defined_parameters(fit, ref):
    lav = ref["gaussian"]["lavaan"]
    n, p = fit.n, 6
    scale = math.sqrt((n - p) / n)            # OLS vcov (n - p) -> lavaan's ML vcov (n)
    for k in NONLIN:
        _close(fit.stationary.loc[k, "est"], lav[k]["est"])
        _close(fit.stationary.loc[k, "se"] * scale, lav[k]["se"])
    for k in ("a1", "a2", "a3", "a4", "a5"):
        _close(fit.surface.loc[k, "est"], lav[k]["est"])
        _close(fit.surface.loc[k, "se"] * scale, lav[k]["se"])


def test_constrained_models_match_anova(fit, ref):
    for name, v in ref["gaussian"]["constrained"].items():
        row = fit.constrained.loc[name]
        for col in ("F", "pvalue", "aic", "bic", "r2"):
            _close(row[col], v[col])
        assert (row["df1"], row["df2"]) == (v["df1"], v["df2"])


def test_shares_match_r(fit, ref):
    for kind in ("standardized", "raw"):
        for k in ("x_greater", "agree", "y_greater"):
            assert fit.shares[kind][k] == pytest.approx(ref["shares"][kind][k], abs=1e-12)
        assert sum(fit.shares[kind][k] for k in ("x_greater", "agree", "y_greater")) == pytest.approx(1)


def test_covariate_model_matches_lm(data, ref):
    r = rsa(data, "X", "Y", "Z", scale_min=1, scale_max=7, covariates=["cv"])
    g = ref["gaussian_cov"]
    _close(r.r2, g["r2"])
    _close(r.coefficients.loc["cv", "est"], g["cv"]["est"])
    _close(r.coefficients.loc["cv", "se"], g["cv"]["se"])
    for k, v in g["coefficients"].items():
        _close(r.coefficients.loc[k, "se"], v["se"])
    for k, v in g["surface"].items():
        _close(r.surface.loc[k, "se"], v["se"])
    for k in NONLIN:
        _close(r.stationary.loc[k, "est"], g["nonlinear"][k]["est"])
        _close(r.stationary.loc[k, "se"], g["nonlinear"][k]["se"])
    assert r.to_dict()["covariate_effects"]["cv"]["est"] == pytest.approx(g["cv"]["est"], rel=REL)


def test_binomial_matches_glm(data, ref):
    r = rsa(data, "X", "Y", "zbin", scale_min=1, scale_max=7, family="binomial")
    b = ref["binomial"]
    assert r.n == b["n"]
    _close(r.r2, b["mcfadden_r2"])
    _close(r.aic, b["aic"])
    _close(r.bic, b["bic"])
    for k, v in b["coefficients"].items():
        for col in ("est", "se", "pvalue"):
            _close(r.coefficients.loc[k, col], v[col])
    for k, v in b["surface"].items():        # z tests on the logit scale
        for col in ("est", "se", "pvalue"):
            _close(r.surface.loc[k, col], v[col])
    for k in NONLIN:
        for col in ("est", "se", "pvalue"):
            _close(r.stationary.loc[k, col], b["nonlinear"][k][col])
    for name, v in b["constrained"].items():
        row = r.constrained.loc[name]
        for col in ("chi2", "pvalue", "aic", "bic"):
            _close(row[col], v[col])
        assert row["df1"] == v["df1"]
    assert "df2" not in r.to_dict()["constrained_models"]["linear"]


def test_known_surface_recovered_without_noise():
    rng = np.random.default_rng(1)
    X = rng.integers(1, 8, 200).astype(float)
    Y = rng.integers(1, 8, 200).astype(float)
    xc, yc = X - 4, Y - 4
    b = [0.3, 0.2, -0.25, 0.2, -0.2]
    Z = 1 + b[0] * xc + b[1] * yc + b[2] * xc ** 2 + b[3] * xc * yc + b[4] * yc ** 2 + 1e-9 * rng.normal(size=200)
    r = rsa(pd.DataFrame({"X": X, "Y": Y, "Z": Z}), "X", "Y", "Z", scale_min=1, scale_max=7)
    assert r.b == pytest.approx(b, abs=1e-8)
    assert r.stationary.loc["X0", "est"] == pytest.approx(1, abs=1e-7)
    assert r.stationary.loc["Y0", "est"] == pytest.approx(1, abs=1e-7)


def test_centring_options(data, fit):
    pooled = np.concatenate([data.X, data.Y]).mean()
    rm = rsa(data, "X", "Y", "Z", center="mean")
    assert rm.center == pytest.approx(pooled) and rm.center_method.startswith("grand mean")
    r0 = rsa(data, "X", "Y", "Z", center=None)
    r3 = rsa(data, "X", "Y", "Z", center=3.0)
    assert r0.center == 0 and r3.center == 3
    for r in (rm, r0, r3):
        # same fit; quadratic terms and the stationary point in raw units do not depend on centring
        _close(r.r2, fit.r2)
        for k in ("b3", "b4", "b5"):
            _close(r.coefficients.loc[k, "est"], fit.coefficients.loc[k, "est"])
        for k in ("X0", "Y0"):
            _close(r.stationary.loc[k, "est"] + r.center, fit.stationary.loc[k, "est"] + fit.center)
        _close(r.stationary.loc["p11", "est"], fit.stationary.loc["p11", "est"])
        assert r.predict([4.5], [3.0])[0] == pytest.approx(fit.predict([4.5], [3.0])[0], abs=1e-9)


def test_to_dict_contract(fit):
    d = fit.to_dict()
    json.dumps(d, allow_nan=False)
    assert {"n", "r2", "coefficients", "surface", "stationary_point"} <= set(d)
    assert list(d["coefficients"]) == ["b1", "b2", "b3", "b4", "b5"]
    assert all(set(v) == {"est", "se", "pvalue"} for v in d["coefficients"].values())
    assert list(d["surface"]) == ["a1", "a2", "a3", "a4"]
    assert all(set(v) == {"est", "se", "pvalue"} for v in d["surface"].values())
    assert set(d["stationary_point"]) == {"X0", "Y0", "p10", "p11", "p20", "p21"}
    assert all(isinstance(v, float) for v in d["stationary_point"].values())
    assert d["n"] == 300 and d["center"] == {"value": 4.0, "method": "midpoint"}
    for extra in ("a5", "stationary_point_se", "congruence_tests", "shares", "constrained_models"):
        assert extra in d
    assert set(d["constrained_models"]) == {"full", "linear", "difference", "squared_difference",
                                            "shifted_squared_difference", "rising_ridge"}


def test_errors(data):
    with pytest.raises(ModelError):
        rsa(data, "X", "Y", "Z")                      # midpoint without scale bounds
    with pytest.raises(ModelError):
        rsa(data, "X", "Y", "Z", center="median")
    with pytest.raises(ModelError):
        rsa(data, "X", "Y", "Z", center=None, family="poisson")
    with pytest.raises(DataError) as e:
        rsa(data, "X", "nope", "Z", center=None)
    assert e.value.column == "nope"
    with pytest.raises(DataError):
        rsa(data, "X", "Y", "Z", center=None, family="binomial")
    with pytest.raises(DataError):
        rsa(data.head(5), "X", "Y", "Z", center=None)


def test_missing_rows_dropped(data, fit):
    d = data.copy()
    d.loc[[0, 5], "Z"] = np.nan
    r = rsa(d, "X", "Y", "Z", scale_min=1, scale_max=7)
    assert r.n == 298 and isinstance(r, RSAResult)


def test_plots_written_and_deterministic(fit, tmp_path):
    out = surface_plot(fit, tmp_path / "surface")
    out += contour_plot(fit, tmp_path / "contour")
    assert sorted(p.suffix for p in out) == [".png", ".png", ".svg", ".svg"]
    for p in out:
        assert p.exists() and p.stat().st_size > 1000
    assert out[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in out[1].read_bytes()[:2000]
    again = surface_plot(fit, tmp_path / "again" / "surface") + contour_plot(fit, tmp_path / "again" / "contour")
    for a, b in zip(out, again):
        assert a.read_bytes() == b.read_bytes(), a.name
    one = contour_plot(fit, tmp_path / "single.svg")
    assert [p.name for p in one] == ["single.svg"]
    with pytest.raises(ValueError):
        surface_plot(fit, tmp_path / "x.pdf")


def test_least_squares_equal_statsmodels_ols():
    """rsa's own least squares (written out so that a study run does not import statsmodels' regression module and
    scipy.stats) gives statsmodels OLS(...).fit()'s params, covariance, residuals, df and R^2."""
    sm = pytest.importorskip("statsmodels.regression.linear_model")
    from vccscale.models.rsa import _OLS

    rng = np.random.default_rng(11)
    for n, k in ((40, 6), (300, 8), (12, 6)):
        X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
        z = X @ rng.normal(size=k) + rng.normal(size=n)
        ours, ref = _OLS(z, X), sm.OLS(z, X).fit()
        np.testing.assert_allclose(ours.params, ref.params, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.cov_params(), ref.cov_params(), rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(ours.resid, ref.resid, rtol=1e-9, atol=1e-12)
        assert ours.df_resid == ref.df_resid and ours.rsquared == pytest.approx(ref.rsquared, rel=1e-12)
