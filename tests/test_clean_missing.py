"""Missing-data tools against independent values: an R reference (base-R EM + Little's d², script committed),
the closed-form ML estimates of monotone bivariate normal data, and known population values (issue 5)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import DataError
from vccscale.clean.missing import em_mvn, impute_mice, little_mcar, missing_report

REF = Path(__file__).resolve().parent / "reference"


def test_em_and_little_match_r_reference():
    x = pd.read_csv(REF / "mcar_data.csv")
    ref = pd.read_csv(REF / "little_mcar_reference.csv").set_index("quantity")["value"]
    mu, sigma, _ = em_mvn(x, tol=1e-12)
    assert np.allclose(mu, ref[[f"mu{i}" for i in range(1, 5)]].to_numpy(), atol=1e-6)
    assert np.allclose(sigma.ravel(), ref[[f"sigma{i}{j}" for i in range(1, 5) for j in range(1, 5)]].to_numpy(),
                       atol=1e-6)
    t = little_mcar(x)
    assert t.statistic == pytest.approx(ref["d2"], abs=1e-6)
    assert t.df == int(ref["df"]) and t.n_patterns == int(ref["n_patterns"])
    assert t.pvalue == pytest.approx(ref["pvalue"], abs=1e-6)
    assert t.n == 149  # the fully missing row is left out


def test_em_equals_closed_form_for_monotone_bivariate_data():
    """y1 complete, y2 partly missing: the ML estimates have a closed form (Anderson 1957)."""
    rng = np.random.default_rng(3)
    n = 300
    y = rng.multivariate_normal([0, 1], [[1, 0.6], [0.6, 2]], size=n)
    miss = rng.random(n) < 0.3
    y[miss, 1] = np.nan
    c = ~miss
    m1 = y[:, 0].mean()
    s11 = y[:, 0].var()                           # ML (divisor n), all cases
    m1c, m2c = y[c, 0].mean(), y[c, 1].mean()
    s11c = y[c, 0].var()
    s12c = ((y[c, 0] - m1c) * (y[c, 1] - m2c)).mean()
    s22c = y[c, 1].var()
    beta = s12c / s11c
    mu2 = m2c + beta * (m1 - m1c)
    s22 = s22c + beta ** 2 * (s11 - s11c)
    s12 = beta * s11
    mu, sigma, _ = em_mvn(y, tol=1e-13)
    assert np.allclose(mu, [m1, mu2], atol=1e-8)
    assert np.allclose(sigma, [[s11, s12], [s12, s22]], atol=1e-8)
    # Little's d² for two patterns, by hand
    s = np.array([[s11, s12], [s12, s22]])
    d_full = y[c].mean(axis=0) - mu
    d_part = y[miss, 0].mean() - mu[0]
    d2 = c.sum() * d_full @ np.linalg.solve(s, d_full) + miss.sum() * d_part ** 2 / s11
    t = little_mcar(y)
    assert t.statistic == pytest.approx(d2, abs=1e-8) and t.df == 1


def test_complete_data_has_zero_statistic():
    x = np.random.default_rng(1).normal(size=(50, 3))
    t = little_mcar(x)
    assert t.statistic == pytest.approx(0, abs=1e-10) and t.df == 0 and np.isnan(t.pvalue)


def test_missing_report_patterns():
    x = pd.DataFrame({"a": [1, np.nan, 3, 4, np.nan], "b": [1, 2, np.nan, 4, np.nan], "c": [1, 2, 3, 4, 5]})
    rep = missing_report(x)
    assert rep["n_complete"] == 2
    assert rep["item_missing_share"].to_dict() == {"a": 0.4, "b": 0.4, "c": 0.0}
    assert np.allclose(rep["respondent_missing_share"].to_numpy(), [0, 1 / 3, 1 / 3, 0, 2 / 3])
    pats = rep["patterns"]
    assert pats["n"].sum() == 5 and pats.iloc[0]["n"] == 2 and pats.iloc[0]["n_missing"] == 0


@pytest.mark.slow  # 2.5 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_mice_is_reproducible_and_recovers_population_means():
    rng = np.random.default_rng(11)
    n = 600
    full = pd.DataFrame(rng.multivariate_normal([4, 5, 3], [[1, .5, .4], [.5, 1, .3], [.4, .3, 1]], size=n),
                        columns=["x y", "b", "c"])
    x = full.mask(rng.random(full.shape) < 0.2)
    with pytest.raises(DataError, match="every variable missing"):
        impute_mice(x, m=1, seed=5)
    x = x[x.notna().any(axis=1)]
    a = impute_mice(x, m=3, seed=5)
    b = impute_mice(x, m=3, seed=5)
    state = np.random.get_state()[1][:5].copy()
    assert all(ai.equals(bi) for ai, bi in zip(a, b))
    assert np.array_equal(np.random.get_state()[1][:5], state)  # global numpy state untouched
    assert all(list(ai.columns) == ["x y", "b", "c"] and not ai.isna().any().any() for ai in a)
    # observed values are kept; pooled means are within 4 standard errors of the population means
    assert all((ai[x.notna()] == x[x.notna()]).sum().sum() == x.notna().sum().sum() for ai in a)
    pooled = np.mean([ai.mean().to_numpy() for ai in a], axis=0)
    assert np.all(np.abs(pooled - np.array([4, 5, 3])) < 4 / np.sqrt(len(x) * 0.8))
