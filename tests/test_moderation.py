"""Moderated mediation, simple slopes and Johnson-Neyman (vccscale.models.moderation) against closed forms."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from vccscale.models import johnson_neyman, moderated_mediation, simple_slopes

REF = Path(__file__).parent / "reference" / "models"


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "mediation_data.csv")


def _ols(y, *cols):
    A = np.column_stack([np.ones(len(y))] + list(cols))
    return np.linalg.lstsq(A, y, rcond=None)[0]


def test_first_stage_index_is_a3_times_b(data):
    d = data
    a = _ols(d.m1, d.x, d.w, d.x * d.w)
    b = _ols(d.y, d.x, d.m1)[2]
    r = moderated_mediation(d, "x", "m1", "y", "w", stage="first", n_boot=500, seed=4, n_mc=1000)
    assert r.index["est"] == pytest.approx(a[3] * b, abs=1e-10)
    sd = d.w.std(ddof=1)
    for w0, row in zip([d.w.mean() - sd, d.w.mean(), d.w.mean() + sd], r.conditional.itertuples()):
        assert row.w == pytest.approx(w0)
        assert row.est == pytest.approx((a[1] + a[3] * w0) * b, abs=1e-10)
    assert r.index["ci_lower"] < r.index["est"] < r.index["ci_upper"]
    assert r.bootstrap["ok"] == 500 and r.bootstrap["failed"] == 0
    # the index equals the difference of conditional indirect effects per unit of w (same draws)
    dr = r.mediation.boot_draws
    assert np.allclose((dr["indirect_at_3"] - dr["indirect_at_1"]) / (2 * sd), dr["index"])
    r2 = moderated_mediation(d, "x", "m1", "y", "w", stage="first", n_boot=500, seed=4, n_mc=1000)
    pd.testing.assert_frame_equal(r.effects, r2.effects)


def test_second_stage_index_is_a_times_b3(data):
    d = data
    a = _ols(d.m1, d.x)[1]
    yb = _ols(d.y, d.x, d.m1, d.w, d.m1 * d.w)
    r = moderated_mediation(d, "x", "m1", "y", "w", stage="second", covariates=(), w_values=[-1, 0, 2],
                            n_boot=200, seed=1, n_mc=0)
    assert r.index["est"] == pytest.approx(a * yb[4], abs=1e-10)
    assert list(r.conditional["est"]) == pytest.approx([a * (yb[2] + yb[4] * w) for w in (-1, 0, 2)], abs=1e-10)


def test_simple_slopes_match_recentred_ols(data):
    d = data
    tab = simple_slopes(d, "m1", "w", "y", w_values=[-1.0, 0.3, 1.5])
    for row in tab.itertuples():
        wc = d.w - row.w
        X = sm.add_constant(np.column_stack([d.m1, wc, d.m1 * wc]))
        f = sm.OLS(d.y.to_numpy(), X).fit()
        assert row.slope == pytest.approx(f.params[1], abs=1e-10)
        assert row.se == pytest.approx(f.bse[1], abs=1e-10)
        assert row.pvalue == pytest.approx(f.pvalues[1], rel=1e-8)
        lo, hi = f.conf_int()[1]
        assert (row.ci_lower, row.ci_upper) == pytest.approx((lo, hi), abs=1e-10)


@pytest.mark.parametrize("x,w,y", [("m1", "w", "y"), ("x", "w", "m1")])
def test_johnson_neyman_roots(data, x, w, y):
    d = data
    A = np.column_stack([np.ones(len(d)), d[x], d[w], d[x] * d[w]])
    beta = np.linalg.lstsq(A, d[y], rcond=None)[0]
    res = d[y] - A @ beta
    dfr = len(d) - 4
    V = res @ res / dfr * np.linalg.inv(A.T @ A)
    t = stats.t.ppf(0.975, dfr)
    b1, b3 = beta[1], beta[3]
    roots = np.sort(np.roots([b3 ** 2 - t ** 2 * V[3, 3], 2 * (b1 * b3 - t ** 2 * V[1, 3]),
                              b1 ** 2 - t ** 2 * V[1, 1]]).real)
    jn = johnson_neyman(d, x, w, y)
    assert jn.bounds == pytest.approx(list(roots), abs=1e-9)
    # at each bound the slope is exactly at the critical t
    tab = simple_slopes(d, x, w, y, w_values=jn.bounds)
    assert np.abs(tab["t"]).to_numpy() == pytest.approx([t, t], rel=1e-8)
    # the regions are where |t| > t_crit, within the observed range
    grid = np.linspace(*jn.w_range, 401)
    sig = np.abs(simple_slopes(d, x, w, y, w_values=grid)["t"].to_numpy()) > t
    inside = np.zeros_like(sig)
    for lo, hi in jn.regions:
        inside |= (grid >= lo) & (grid <= hi)
    assert (sig == inside).mean() > 0.99
