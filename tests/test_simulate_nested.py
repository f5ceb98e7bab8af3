"""Nested data for planning (issue 16): vccscale.simulate.nested.

Independent expectations: the population moments are closed forms of the level models (the within and between
model-implied covariances of lavaan simulateData conventions; ICC-split: within + between = the single-level
model's covariance, exactly, 1e-12); the drawn data reproduce them by the ANOVA decomposition of a balanced design
(pooled within-cluster covariance -> Sigma_W; covariance of cluster means - Sigma_W / k -> Sigma_B) within four
normal-theory standard errors of each moment (SE of a covariance s_ij from m units: sqrt((s_ii s_jj + s_ij^2) / m))
at 3,000 clusters of 10.
"""
from __future__ import annotations

import numpy as np
import pytest

from vccscale.errors import DataError, ModelError
from vccscale.simulate import population_moments
from vccscale.simulate.nested import level_blocks, nested_moments, simulate_nested

TWO = """
level: 1
    fw =~ 0.8*y1 + 0.7*y2 + 0.6*y3
    fw ~ 0.3*x1
level: 2
    fb =~ 0.8*y1 + 0.7*y2 + 0.6*y3
    fb ~ 0.4*w1
    y1 ~ 2*1
"""
ONE = "f =~ 0.7*a + 0.7*b + 0.7*c\ng =~ 0.7*d + 0.7*e + 0.7*h\ng ~ 0.4*f"


def _se(S, m):
    d = np.diag(S)
    return np.sqrt((np.outer(d, d) + S ** 2) / m)


def _check(sw, sb, m, J, k):
    n = J * k
    assert np.all(np.abs(sw - m["within"]) <= 4 * _se(m["within"], n - J) + 1e-12)
    means_cov = m["between"] + m["within"] / k
    assert np.all(np.abs(sb - m["between"]) <= 4 * _se(means_cov, J - 1) + 1e-12)


def _anova(df, names, k):
    X = df[names].to_numpy()
    g = df["cluster"].to_numpy()
    means = np.vstack([X[g == c].mean(axis=0) for c in np.unique(g)])
    dev = X - means[g - 1]
    sw = dev.T @ dev / (len(X) - len(means))
    sb = np.cov(means.T) - sw / k
    return sw, sb, X.mean(axis=0)


def test_level_blocks_spellings_and_errors():
    b = level_blocks("level: within\n f =~ a + b\nlevel: between\n g =~ a + b\n")
    assert set(b) == {1, 2} and "f =~" in b[1] and "g =~" in b[2]
    assert level_blocks("f =~ a + b") is None
    with pytest.raises(ModelError, match="both blocks"):
        level_blocks("level: 1\n f =~ a + b + c")
    with pytest.raises(ModelError, match="before the first"):
        level_blocks("x ~ y\nlevel: 1\n f =~ a\nlevel: 2\n g =~ a")
    with pytest.raises(ModelError, match="unknown level"):
        level_blocks("level: 3\n f =~ a")


def test_two_level_moments_are_the_level_models():
    m = nested_moments(TWO)
    names = m["names"]
    assert names == ["y1", "y2", "y3", "x1", "w1"]
    wn, _, wc = population_moments(level_blocks(TWO)[1])
    bn, bm, bc = population_moments(level_blocks(TWO)[2])
    iw, ib = [names.index(v) for v in wn], [names.index(v) for v in bn]
    np.testing.assert_allclose(m["within"][np.ix_(iw, iw)], wc, atol=1e-12)
    np.testing.assert_allclose(m["between"][np.ix_(ib, ib)], bc, atol=1e-12)
    assert m["between"][names.index("x1"), names.index("x1")] == 0  # within-only covariate
    assert m["within"][names.index("w1"), names.index("w1")] == 0  # between-only covariate
    assert m["mean"][0] == 2.0


def test_two_level_data_reproduce_the_moments():
    df = simulate_nested(TWO, 3000, 10, seed=11)
    assert len(df) == 30000 and df["cluster"].nunique() == 3000
    assert df.groupby("cluster")["w1"].nunique().max() == 1  # a between variable is constant in a cluster
    m = nested_moments(TWO)
    sw, sb, mu = _anova(df, m["names"], 10)
    _check(sw, sb, m, 3000, 10)
    assert np.all(np.abs(mu - m["mean"]) <= 4 * np.sqrt(np.diag(m["between"] + m["within"] / 10) / 3000))


def test_icc_split_keeps_the_total_covariance():
    m = nested_moments(ONE, icc=0.25)
    _, _, total = population_moments(ONE)
    np.testing.assert_allclose(m["within"] + m["between"], total, atol=1e-12)
    # the exogenous factor's between share is its icc: loading^2 * icc * var(f) on the indicator
    assert m["between"][0, 0] == pytest.approx(0.49 * 0.25, abs=1e-12)
    df = simulate_nested(ONE, 3000, 10, seed=5, icc=0.25)
    sw, sb, _ = _anova(df, m["names"], 10)
    _check(sw, sb, m, 3000, 10)


def test_unbalanced_sizes_seed_and_errors():
    a = simulate_nested(ONE, 40, (2, 9), seed=3, icc={"f": 0.2})
    b = simulate_nested(ONE, 40, (2, 9), seed=3, icc={"f": 0.2})
    assert a.equals(b)
    sizes = a.groupby("cluster").size()
    assert sizes.min() >= 2 and sizes.max() <= 9 and sizes.nunique() > 1
    assert a.attrs["nested"]["icc"] == {"f": 0.2}
    with pytest.raises(ModelError, match="give icc"):
        simulate_nested(ONE, 10, 5, seed=1)
    with pytest.raises(ModelError, match="not latent variables"):
        simulate_nested(ONE, 10, 5, seed=1, icc={"a": 0.2})
    with pytest.raises(DataError, match="icc of f"):
        simulate_nested(ONE, 10, 5, seed=1, icc={"f": 1.2})
    with pytest.raises(ModelError, match="icc applies"):
        simulate_nested(TWO, 10, 5, seed=1, icc=0.2)
    with pytest.raises(DataError, match="n_clusters"):
        simulate_nested(ONE, 1, 5, seed=1, icc=0.2)
    with pytest.raises(DataError, match="cluster_size"):
        simulate_nested(ONE, 10, (5, 2), seed=1, icc=0.2)


def test_cli_simulate_nested(tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from vccscale.cli import main

    mf = tmp_path / "m.lav"
    mf.write_text(TWO)
    out = tmp_path / "d.csv"
    r = CliRunner().invoke(main, ["simulate", "--model", str(mf), "--n", "12", "--seed", "4", "--cluster-size", "3",
                                  "7", "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = pd.read_csv(out)
    assert list(d.columns) == ["cluster", "y1", "y2", "y3", "x1", "w1"] and d["cluster"].nunique() == 12
    r = CliRunner().invoke(main, ["simulate", "--model", str(mf), "--n", "12", "--seed", "4", "--cluster-size", "3",
                                  "--points", "5", "--out", str(out)])
    assert r.exit_code == 2 and "--points" in r.output


POP2 = """
level: 1
fw =~ 1*y1 + 0.8*y2 + 0.7*y3
fw ~ 0.3*x1
y1 ~~ 0.5*y1
y2 ~~ 0.5*y2
y3 ~~ 0.5*y3
level: 2
fb =~ 1*y1 + 0.8*y2 + 0.7*y3
fb ~ 0.5*w1
fb ~~ 0.3*fb
y1 ~~ 0.05*y1
y2 ~~ 0.05*y2
y3 ~~ 0.05*y3
"""


@pytest.mark.slow
def test_two_level_model_recovers_known_within_and_between_effects():
    """Issue 16's criterion: at 100 clusters of 10 the two-level ML fit recovers the planted within and between
    effects, |bias| < .02 (150 replicates: Monte Carlo SE of the bias <= .006), and the 95% Wald CIs cover
    the true values in .90-.99 of the replicates (binomial 99% range for .95 at 150)."""
    from vccscale.simulate import power

    r = power(POP2, targets=["fw~x1", "fb~w1", "within:fw=~y2", "between:fb=~y2"], n=[100], reps=150, seed=16,
              cluster_size=10, n_jobs=1, progress=False)
    t = r.table.set_index("target")
    assert (t["converged"] == 1).all()
    assert (t["bias"].abs() < 0.02).all(), t["bias"]
    assert t["coverage"].between(0.90, 0.99).all(), t["coverage"]
    assert (t["n_respondents"] == 1000).all()


def test_power_nested_errors():
    from vccscale.simulate import power

    with pytest.raises(ModelError, match="cluster_size"):
        power(POP2, targets=["fw~x1"], n=[10], reps=2, seed=1, progress=False)
    with pytest.raises(ModelError, match="both levels"):
        power(POP2, targets=["y1~~y1"], n=[10], reps=2, seed=1, cluster_size=5, progress=False)
    with pytest.raises(ModelError, match="needs icc"):
        power(ONE, targets=["g~f"], n=[10], reps=2, seed=1, cluster_size=5, progress=False)
    with pytest.raises(ModelError, match="icc needs cluster_size"):
        power(ONE, targets=["g~f"], n=[10], reps=2, seed=1, icc=0.2, progress=False)
