"""vccscale.simulate: population moments (lavaan simulateData parity), data simulation options, reproducibility."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from vccscale.errors import DataError
from vccscale.simulate import population_moments, simulate_data

REF = Path(__file__).parent / "reference" / "power" / "simulatedata_moments.json"
SEM3 = """f1 =~ 0.7*x1 + 0.7*x2 + 0.7*x3
f2 =~ 0.7*x4 + 0.6*x5 + 0.5*x6
f2 ~ 0.4*f1
y ~ 0.3*f2 + 0.2*z"""


@pytest.mark.parametrize("key", [k for k in json.loads(REF.read_text()) if k != "lavaan"])
def test_moments_match_lavaan_simulatedata(key):
    ref = json.loads(REF.read_text())[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names, mu, cov = population_moments(ref["model"], standardized=ref["standardized"])
    assert names == ref["names"]
    np.testing.assert_allclose(cov, np.array(ref["cov"]), atol=1e-12)
    np.testing.assert_allclose(mu, np.array(ref["mean"]), atol=1e-12)


def test_unspecified_regression_warns_and_is_zero():
    with pytest.warns(UserWarning, match="unspecified"):
        names, _, cov = population_moments("y ~ x")
    assert cov[names.index("y"), names.index("x")] == 0.0


def test_sample_moments_converge_and_seed_reproduces():
    d1 = simulate_data(SEM3, 20000, seed=5)
    d2 = simulate_data(SEM3, 20000, seed=5)
    assert d1.equals(d2)
    assert not d1.equals(simulate_data(SEM3, 20000, seed=6))
    names, _, cov = population_moments(SEM3)
    assert list(d1.columns) == names
    np.testing.assert_allclose(np.cov(d1.to_numpy(), rowvar=False), cov, atol=0.05)


def test_ordinal_points_equal_probability():
    d = simulate_data(SEM3, 14000, seed=1, ordinal={"points": 7})
    assert set(np.unique(d.to_numpy())) == set(range(1, 8))
    share = (d["x1"].value_counts(normalize=True).sort_index()).to_numpy()
    np.testing.assert_allclose(share, 1 / 7, atol=0.015)
    # ordinal items stay correlated as the population says
    assert 0.25 < d["x1"].corr(d["x2"]) < 0.4


def test_ordinal_thresholds():
    d = simulate_data(SEM3, 20000, seed=2, ordinal={"thresholds": [0.0], "columns": ["x1"]})
    assert set(d["x1"].unique()) == {1.0, 2.0}
    assert abs((d["x1"] == 1).mean() - 0.5) < 0.02
    assert d["x2"].nunique() > 100  # untouched


def test_mcar_share_exact():
    d = simulate_data(SEM3, 500, seed=3, missing={"mcar": 0.1})
    assert d.isna().to_numpy().mean() == pytest.approx(0.1, abs=1e-3)


def test_mar_share_and_mechanism():
    d = simulate_data(SEM3, 4000, seed=4, missing={"mar": 0.2, "on": "x1"})
    assert d["x1"].isna().sum() == 0
    assert d["x2"].isna().mean() == pytest.approx(0.2, abs=1e-3)
    # missingness depends on the observed x1 (MAR): missing rows have larger x1
    assert d.loc[d["x2"].isna(), "x1"].mean() > d.loc[d["x2"].notna(), "x1"].mean() + 0.3


def test_careless_shares_and_patterns():
    d = simulate_data(SEM3, 1000, seed=7, ordinal={"points": 7}, careless={"straightliners": 0.05, "random": 0.1})
    c = d.attrs["careless"]
    assert len(c["straightliners"]) == 50 and len(c["random"]) == 100
    assert not set(c["straightliners"]) & set(c["random"])
    assert (d.iloc[c["straightliners"]].nunique(axis=1) == 1).all()
    # random responders: items uncorrelated
    r = d.iloc[c["random"]]
    assert abs(np.corrcoef(r["x1"], r["x2"])[0, 1]) < 0.25
    att = d.drop(index=c["straightliners"] + c["random"])
    assert att["x1"].corr(att["x2"]) > 0.25


def test_bad_arguments():
    with pytest.raises(DataError):
        simulate_data(SEM3, 0)
    with pytest.raises(DataError):
        simulate_data(SEM3, 10, missing={"mar": 0.1, "on": "nope"})
    with pytest.raises(DataError):
        simulate_data(SEM3, 10, careless={"speeders": 0.1})
