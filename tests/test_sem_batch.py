"""vccscale.sem.batch: bootstrap replicates refitted together give the draws of refitting each alone.

The reference is the replicate-by-replicate path (:func:`vccscale.sem.resample._replicate`, BFGS per replicate,
itself checked against lavaan through the fits it shares its engine with): the same draws to 1e-6 of their
bootstrap standard deviation (measured: 1e-13 to 1e-12; both stop at the same decrement, so only rounding differs).
The batched objective's gradient is also checked against central differences of its own objective (closed form
vs numeric, 1e-6 relative), and its objective's differences against the single-replicate engine's (1e-10)."""
import numpy as np
import pandas as pd
import pytest

import vccscale.sem.resample as R
from vccscale.sem import bootstrap, fit_cfa, fit_sem

CFA = "f1 =~ y1 + y2 + y3 + y4\nf2 =~ y5 + y6 + y7 + y8\nf2 ~ b*f1\nfx := b*2"
PATH = "m ~ a*x + w\ny ~ c*m + x + w\nind := a*c"


def _cfa_data(n, seed, miss=0.0, big=False, groups=False, clusters=False):
    rng = np.random.default_rng(seed)
    f1 = rng.standard_normal(n)
    f2 = 0.5 * f1 + rng.standard_normal(n) * 0.8
    cols = {}
    for j in range(4):
        cols[f"y{j + 1}"] = 0.7 * f1 + rng.standard_normal(n) * 0.6 + 3
        cols[f"y{j + 5}"] = 0.7 * f2 + rng.standard_normal(n) * 0.6 + 3
    d = pd.DataFrame(cols)
    if miss:
        mask = rng.random(d.shape) < miss
        mask[np.arange(n) % 7 == 0] = False  # enough complete rows
        d = d.mask(mask)
    if big:  # one incomplete pattern with many rows (entering through its moments)
        d.loc[d.index[: n // 3], "y8"] = np.nan
    if groups:
        d["g"] = np.where(np.arange(n) % 2 == 0, "provider", "customer")
    if clusters:
        d["org"] = np.arange(n) // 5
    return d


def _path_data(n, seed, miss=0.1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    w = 0.3 * x + rng.standard_normal(n)
    m = 0.4 * x + 0.2 * w + rng.standard_normal(n)
    y = 0.3 * m + 0.1 * x + rng.standard_normal(n)
    d = pd.DataFrame({"x": x, "w": w, "m": m, "y": y})
    d.loc[rng.random(n) < miss, "m"] = np.nan
    d.loc[rng.random(n) < miss, "y"] = np.nan
    return d


def _alone(monkeypatch):
    """Force the replicate-by-replicate path."""
    def fail(*a, **k):
        raise ValueError("batched refits switched off")

    monkeypatch.setattr(R, "_refit_batched", fail)


CASES = {
    "fiml": lambda: fit_sem(_cfa_data(250, 1, miss=0.08), CFA, missing="fiml"),
    "fiml_big_pattern": lambda: fit_sem(_cfa_data(240, 2, miss=0.03, big=True), CFA, missing="fiml"),
    "listwise": lambda: fit_sem(_cfa_data(200, 3), CFA),
    "two_groups_fiml": lambda: fit_sem(_cfa_data(300, 4, miss=0.06, groups=True), CFA, missing="fiml", group="g",
                                       group_equal=["loadings"]),
    "two_groups_listwise": lambda: fit_cfa(_cfa_data(300, 5, groups=True), CFA, group="g"),
    "clusters_fiml": lambda: fit_sem(_cfa_data(250, 6, miss=0.05, clusters=True), CFA, missing="fiml",
                                     cluster="org", estimator="MLR"),
    "clusters_listwise": lambda: fit_sem(_cfa_data(250, 10, clusters=True), CFA, cluster="org"),
    "fixed_x_fiml": lambda: fit_sem(_path_data(220, 7), PATH, missing="fiml"),
    "fixed_x_listwise": lambda: fit_sem(_path_data(220, 8), PATH),
    "equal_loadings": lambda: fit_sem(_cfa_data(200, 9, miss=0.05),
                                      "f1 =~ y1 + l*y2 + l*y3 + y4\nf2 =~ y5 + y6 + y7 + y8\nf2 ~ f1",
                                      missing="fiml"),
}


#: the cases of the quick suite (-m "not slow"); the others are marked slow (CI runs them all)
QUICK = {"fiml", "two_groups_fiml", "clusters_listwise"}


@pytest.mark.parametrize("case", [c if c in QUICK else pytest.param(c, marks=pytest.mark.slow) for c in sorted(CASES)])
def test_batched_draws_equal_refitting_each_replicate_alone(case, monkeypatch):
    fit = CASES[case]()
    calls = []
    real = R._replicate

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(R, "_replicate", counting)
    got = bootstrap(fit, 60, seed=11)
    assert not calls, "replicates were refitted alone: the batch did not converge or failed"
    _alone(monkeypatch)
    ref = bootstrap(fit, 60, seed=11)
    assert len(calls) == 60
    assert got.n_failed == ref.n_failed == 0
    assert list(got.draws.columns) == list(ref.draws.columns)
    sd = ref.draws.std().to_numpy()
    sd = np.where(sd > 0, sd, 1.0)
    gap = np.abs(got.draws.to_numpy() - ref.draws.to_numpy()) / sd
    assert gap.max() < 1e-6
    pd.testing.assert_frame_equal(got.ci(), ref.ci(), rtol=1e-6, atol=1e-9)


def _objective(fit, K=6, seed=0):
    """A BatchObjective of K resamples of ``fit`` (set up as the bootstrap sets it up) and, per resample, its
    single-replicate engine."""
    from vccscale.sem.batch import BatchObjective
    from vccscale.sem.fit import FIMLEngine, GroupData

    st = fit._state
    Xs = [g.X for g in st.engine.groups]
    labels = [g.label for g in st.engine.groups]
    pt = st.pt
    _, blocks = R._row_blocks(Xs, True)
    draws = [R._draws(Xs, seed, b, None) for b in range(K)]
    obj = BatchObjective(R._structure(pt, Xs, labels), Xs, R._draw_counts(Xs, draws), blocks, True)
    singles = []
    for d in draws:
        gs = []
        for k, (lab, X) in enumerate(zip(labels, Xs)):
            Xb = X[d[k]]
            with np.errstate(all="ignore"):
                gd = GroupData(lab, Xb, len(Xb), np.nanmean(Xb, 0), np.diag(np.nanvar(Xb, 0)), [], 0.0)
            gd._fiml_terms_blocks = blocks[k].reweighted(np.bincount(d[k], minlength=len(X)))
            gs.append(gd)
        singles.append(FIMLEngine(pt, gs))
    return obj, singles, np.asarray(st.theta)


@pytest.mark.parametrize("case", ["fiml", "fiml_big_pattern", "two_groups_fiml"])
def test_batched_gradient_matches_central_differences_and_the_single_engine(case):
    fit = CASES[case]()
    obj, singles, theta = _objective(fit)
    rng = np.random.default_rng(5)
    th = theta + 0.02 * rng.standard_normal((obj.K, len(theta)))
    F, G = obj.value_and_gradient(th)
    assert np.all(np.isfinite(F))
    h = 1e-6
    for i in range(len(theta)):
        e = np.zeros(len(theta))
        e[i] = h
        Fp, _ = obj.value_and_gradient(th + e)
        Fm, _ = obj.value_and_gradient(th - e)
        num = (Fp - Fm) / (2 * h)
        np.testing.assert_allclose(G[:, i], num, rtol=1e-5, atol=1e-7)
    step = 0.01 * rng.standard_normal((obj.K, len(theta)))
    F2, _ = obj.value_and_gradient(th + step)
    for k, eng in enumerate(singles):
        f1, g1 = eng.value_and_gradient(th[k])
        f2, _ = eng.value_and_gradient(th[k] + step[k])
        np.testing.assert_allclose(G[k], g1, rtol=1e-9, atol=1e-12)
        assert abs((F2[k] - F[k]) - (f2 - f1)) < 1e-10  # F up to a constant per resample


def test_a_replicate_without_a_positive_definite_sigma_is_inf_alone():
    fit = CASES["fiml"]()
    obj, _, theta = _objective(fit, K=4)
    th = np.tile(theta, (4, 1))
    names = [(r["lhs"], r["op"], r["rhs"]) for r in fit._state.pt.rows if r["par"] >= 0]
    pars = [r["par"] for r in fit._state.pt.rows if r["par"] >= 0]
    th[2, pars[names.index(("y1", "~~", "y1"))]] = -5.0  # a residual variance far below zero
    F, G = obj.value_and_gradient(th)
    assert np.isinf(F[2]) and np.isnan(G[2]).all()
    assert np.all(np.isfinite(F[[0, 1, 3]])) and np.all(np.isfinite(G[[0, 1, 3]]))
