"""Work shared or skipped for speed (issue 20) gives the same numbers as the direct computation.

* GFI from the moments (``measures.gfi_moments``: m'Vm = 1/2 tr(M W M W)) against the explicit quadratic form with
  lavaan's p(p+1)/2-square WLS.V built element by element (closed form; tolerance 1e-12 relative);
* the FIML likelihood with one missing variable per row (the scalar path of ``FIMLEngine._terms``) against the
  sum of the rows' normal log-densities of their observed variables (each Sigma_oo inverted directly), and its
  gradient against central differences (1e-6 relative);
* a resample's missing-data patterns taken from the full sample's pattern codes equal those found from its bits;
* the saturated model's information (``h1_information_fiml``) computed once per data set: a second model on the
  same data gets the same object, and refitting gives identical fit measures; the "singular" flag belongs to the
  moments the last model asked for.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.sem import fit_cfa
from vccscale.sem.em import missing_patterns, pattern_codes
from vccscale.sem.measures import gfi, gfi_moments

REF = Path(__file__).resolve().parent / "reference" / "sem"
HS = " visual =~ x1 + x2 + x3 \n textual =~ x4 + x5 + x6 \n speed =~ x7 + x8 + x9 "


def _wls_v(W: np.ndarray, meanstructure: bool, xi=()) -> np.ndarray:
    """lavaan's expected h1 information of a normal model, element by element (vech in row-major lower order)."""
    p = len(W)
    idx = [(i, j) for i in range(p) for j in range(i + 1)]
    m = len(idx)
    A = np.zeros((m, m))
    for k, (a, b) in enumerate(idx):
        for l_, (c, d) in enumerate(idx):
            fk, fl = (1.0 if a == b else 2.0), (1.0 if c == d else 2.0)
            A[k, l_] = 0.25 * (W[a, c] * W[b, d] + W[a, d] * W[b, c]) * fk * fl
    keep = np.array([not (a in xi and b in xi) for a, b in idx])
    if meanstructure:
        A = np.block([[W, np.zeros((p, m))], [np.zeros((m, p)), A]])
        keep = np.concatenate([[i not in xi for i in range(p)], keep])
    return A[np.ix_(keep, keep)], idx, keep


@pytest.mark.parametrize("meanstructure, xi", [(True, ()), (False, ()), (True, (0, 3)), (False, (1, 2))])
def test_gfi_from_moments_equals_explicit_quadratic_form(meanstructure, xi):
    rng = np.random.default_rng(7)
    p = 6
    A = rng.normal(size=(p, p))
    Sig = A @ A.T + p * np.eye(p)
    B = rng.normal(size=(p, p))
    S = B @ B.T + p * np.eye(p)
    m, mu = rng.normal(size=p), rng.normal(size=p)
    V, idx, keep = _wls_v(np.linalg.inv(Sig), meanstructure, xi)
    s = np.array([S[a, b] for a, b in idx])
    e = np.array([Sig[a, b] for a, b in idx])
    if meanstructure:
        s, e = np.concatenate([m, s]), np.concatenate([mu, e])
    expected = gfi([s[keep]], [e[keep]], [V], [100])
    got = gfi_moments([S], [m], [Sig], [mu], meanstructure, [100], xi)
    assert got == pytest.approx(expected, rel=1e-12)


def _rowwise_loglik(X: np.ndarray, Sig: np.ndarray, mu: np.ndarray) -> float:
    total = 0.0
    for x in X:
        o = np.flatnonzero(np.isfinite(x))
        S = Sig[np.ix_(o, o)]
        d = x[o] - mu[o]
        total += -0.5 * (len(o) * np.log(2 * np.pi) + np.linalg.slogdet(S)[1] + d @ np.linalg.solve(S, d))
    return float(total)


def test_fiml_single_missing_rows_equal_rowwise_density():
    from vccscale.sem.fit import FIMLEngine, GroupData

    rng = np.random.default_rng(3)
    n, p = 120, 5
    L = rng.normal(size=(p, p)) * 0.4 + np.eye(p)
    X = rng.normal(size=(n, p)) @ L.T
    for i in range(0, n, 2):  # every other row misses exactly one variable (rare patterns: the batched k = 1 path)
        X[i, rng.integers(p)] = np.nan
    X[1, [0, 2]] = np.nan  # and one row with two
    gd = GroupData("g", X, n, np.nanmean(X, axis=0), np.diag(np.nanvar(X, axis=0)), missing_patterns(X), 0.0)
    eng = FIMLEngine.__new__(FIMLEngine)
    eng.p, eng.N = p, n
    Sig = L @ L.T + 0.3 * np.eye(p)
    mu = rng.normal(size=p) * 0.1
    ll, G, gm = eng._terms(Sig, mu, gd, True)
    assert ll == pytest.approx(_rowwise_loglik(X, Sig, mu), rel=1e-12)
    # dF/dSigma (F = -2 ll / N) by central differences of the row-wise density, symmetric perturbations
    h = 1e-6
    for (i, j) in [(0, 0), (1, 3), (4, 2)]:
        E = np.zeros((p, p))
        E[i, j] = E[j, i] = h
        num = -2 * (_rowwise_loglik(X, Sig + E, mu) - _rowwise_loglik(X, Sig - E, mu)) / (2 * h) / n
        ana = G[i, j] * (1 if i == j else 2)
        assert ana == pytest.approx(num, rel=1e-6, abs=1e-9)
    k = 2
    e = np.zeros(p)
    e[k] = h
    num = -2 * (_rowwise_loglik(X, Sig, mu + e) - _rowwise_loglik(X, Sig, mu - e)) / (2 * h) / n
    assert gm[k] == pytest.approx(num, rel=1e-6, abs=1e-9)


def _mixed_missing(n: int, p: int, seed: int, complete_rows: int) -> np.ndarray:
    """Data with rows missing 1, 2, 3, 5 and p - 1 variables (every padded batch size of RowBlocks, and a pattern
    missing more than half), in units from 0.01 to 1000, with ``complete_rows`` complete rows."""
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(p, p)) * 0.4 + np.eye(p)
    X = (rng.normal(size=(n, p)) @ L.T) * np.geomspace(0.01, 1000, p) + np.linspace(-50, 400, p)
    for i in range(complete_rows, n):
        k = [1, 2, 3, 5, p - 1][i % 5]
        X[i, rng.choice(p, k, replace=False)] = np.nan
    return X


def _textbook_em(X: np.ndarray, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """EM for the multivariate normal, row by row (Little & Rubin 2002, 11.2), from lavaan's start; on the data
    centred at the available-case means (for precision), returned in the data's units."""
    center = np.nanmean(X, axis=0)
    X = X - center
    n, p = X.shape
    mu = np.nanmean(X, axis=0)
    Sig = np.diag(np.nanvar(X, axis=0))
    for _ in range(iters):
        T1, T2 = np.zeros(p), np.zeros((p, p))
        for x in X:
            o = np.flatnonzero(np.isfinite(x))
            m = np.flatnonzero(~np.isfinite(x))
            y = x.copy()
            C = np.zeros((p, p))
            if len(m):
                B = Sig[np.ix_(m, o)] @ np.linalg.inv(Sig[np.ix_(o, o)])
                y[m] = mu[m] + B @ (x[o] - mu[o])
                C[np.ix_(m, m)] = Sig[np.ix_(m, m)] - B @ Sig[np.ix_(o, m)]
            T1 += y
            T2 += np.outer(y, y) + C
        mu = T1 / n
        Sig = T2 / n - np.outer(mu, mu)
    return mu + center, Sig


@pytest.mark.parametrize("complete_rows", [3, 40])  # complete rows row by row (fewer than p) or as moments
def test_em_moments_equal_textbook_rowwise_em(complete_rows):
    """em_moments (RowBlocks: every pattern's conditional means and covariances from W = Sigma^-1 in a few batched
    products) against the row-by-row textbook EM after the same number of iterations: equal to 1e-10 in units of
    the variables' standard deviations, for patterns of every padded size and data in units 0.01 to 1000."""
    from vccscale.sem.em import em_moments

    X = _mixed_missing(150, 7, 11, complete_rows)
    res = em_moments(missing_patterns(X), 7, max_iter=25, accelerate=False)
    mu, Sig = _textbook_em(X, 25)
    sd = np.sqrt(np.diag(Sig))
    assert np.max(np.abs(res.mean - mu) / sd) < 1e-10
    assert np.max(np.abs(res.cov - Sig) / np.outer(sd, sd)) < 1e-10


@pytest.mark.parametrize("complete_rows", [3, 40, 0])  # 0: two large incomplete patterns (through their moments)
def test_fiml_terms_equal_rowwise_density_for_every_pattern_size(complete_rows):
    """FIMLEngine._terms on rows missing 1, 2, 3, 5 and p - 1 variables, with the complete rows row by row or as
    moments: the log-likelihood equals the sum of the rows' densities (1e-12 relative) and dF/dSigma, dF/dmu
    equal their central differences (1e-6 relative, steps 1e-5)."""
    from vccscale.sem.fit import FIMLEngine, GroupData

    p = 7
    X = _mixed_missing(150, p, 12, complete_rows) / np.geomspace(0.01, 1000, p)  # unit scale for the differences
    if complete_rows == 0:  # two versions of a questionnaire: 30 rows miss variables 0-2, 25 rows miss 4-5
        X[:55] = np.where(np.isnan(X[:55]), np.nanmean(X, axis=0) + 0.3, X[:55])
        X[:30, :3] = np.nan
        X[30:55, 4:6] = np.nan
    n = len(X)
    gd = GroupData("g", X, n, np.nanmean(X, axis=0), np.diag(np.nanvar(X, axis=0)), missing_patterns(X), 0.0)
    eng = FIMLEngine.__new__(FIMLEngine)
    eng.p, eng.N = p, n
    if complete_rows == 0:
        from vccscale.sem.fit import BIG_PATTERN
        from vccscale.sem.em import RowBlocks

        assert len(RowBlocks(X, gd.patterns, big=max(p, BIG_PATTERN)).big_patterns) == 2
    rng = np.random.default_rng(4)
    A = rng.normal(size=(p, p)) * 0.4 + np.eye(p)
    Sig, mu = A @ A.T + 0.3 * np.eye(p), np.nanmean(X, axis=0) + rng.normal(size=p) * 0.1
    ll, G, gm = eng._terms(Sig, mu, gd, True)
    assert ll == pytest.approx(_rowwise_loglik(X, Sig, mu), rel=1e-12)
    h = 1e-5
    for (i, j) in [(0, 0), (1, 3), (6, 2), (5, 5)]:
        E = np.zeros((p, p))
        E[i, j] = E[j, i] = h
        num = -2 * (_rowwise_loglik(X, Sig + E, mu) - _rowwise_loglik(X, Sig - E, mu)) / (2 * h) / n
        assert G[i, j] * (1 if i == j else 2) == pytest.approx(num, rel=1e-6, abs=1e-9)
    for k in (0, 4):
        e = np.zeros(p)
        e[k] = h
        num = -2 * (_rowwise_loglik(X, Sig, mu + e) - _rowwise_loglik(X, Sig, mu - e)) / (2 * h) / n
        assert gm[k] == pytest.approx(num, rel=1e-6, abs=1e-9)


def test_resample_patterns_from_codes_equal_patterns_from_bits():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 6))
    X[rng.random(X.shape) < 0.15] = np.nan
    codes = pattern_codes(X)
    rows = rng.integers(0, len(X), len(X))
    Xb = X[rows]
    a = missing_patterns(Xb)
    b = missing_patterns(Xb, moments=False, codes=codes[rows])
    assert len(a) == len(b)
    for pa, pb in zip(a, b):
        assert np.array_equal(pa["o"], pb["o"]) and np.array_equal(pa["rows"], pb["rows"])
        assert np.array_equal(pa["X"], pb["X"], equal_nan=True) and pa["n"] == pb["n"]
        assert "cov" not in pb and "mean" in pa


def test_saturated_information_is_shared_by_models_on_one_data_set():
    data = pd.read_csv(REF / "hs_mar.csv")
    a = fit_cfa(data, HS, estimator="MLR", missing="fiml")
    one = " g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 "
    b = fit_cfa(data, one, estimator="MLR", missing="fiml")
    assert b._state.extra["h1_info"] is a._state.extra["h1_info"]
    again = fit_cfa(data, HS, estimator="MLR", missing="fiml")
    for k in ("chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust", "srmr", "gfi"):
        assert again.fit[k] == a.fit[k], k
    # other data (fewer rows): not shared
    c = fit_cfa(data.iloc[:250], HS, estimator="MLR", missing="fiml")
    assert c._state.extra["h1_info"] is not a._state.extra["h1_info"]


def test_bfgs_last_phase_reaches_the_scoring_optimum(monkeypatch):
    """The estimation's last phase (BFGS from the scoring metric) ends where pure Fisher scoring ends, in fewer
    iterations, on HolzingerSwineford1939: F no higher (1e-13 relative), estimates within 1e-5 of each other and at
    least as close to lavaan 0.6-14's (tests/reference/validate/hs_cfa_ml.json), within 2e-6 of them."""
    import json
    import vccscale.sem.fit as F

    hs = pd.read_csv(Path(__file__).resolve().parent / "reference" / "validate" / "HolzingerSwineford1939.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    its = []
    orig = F._fisher

    def spy(*a, **k):
        r = orig(*a, **k)
        its.append(r[1])
        return r

    monkeypatch.setattr(F, "_fisher", spy)
    new = fit_cfa(hs, model)
    n_new = its[0]
    monkeypatch.setattr(F, "QN_TRIES", 0)
    its.clear()
    old = fit_cfa(hs, model)
    n_old = its[0]
    assert new.fit["fmin"] <= old.fit["fmin"] * (1 + 1e-13)
    np.testing.assert_allclose(new.estimates["est"], old.estimates["est"], rtol=1e-5, atol=1e-9)
    lav = json.loads((Path(__file__).resolve().parent / "reference" / "validate" / "hs_cfa_ml.json").read_text())
    want = {(r["lhs"], r["op"], r["rhs"]): r["est"] for r in lav["parameter_estimates"]}
    key = list(zip(new.estimates["lhs"], new.estimates["op"], new.estimates["rhs"]))
    ref = np.array([want[k] for k in key])
    d_new = np.abs(new.estimates["est"].to_numpy() - ref).max()
    d_old = np.abs(old.estimates["est"].to_numpy() - ref).max()
    assert d_new <= d_old and d_new < 2e-6  # (lavaan's nlminb itself stops about 1e-6 from the optimum)
    assert n_new < n_old


def test_negative_chisq_from_rounding_is_zero():
    """A saturated model's F is 0 up to rounding: its chi-square is 0 to rounding and never negative (lavaan's
    lav_test.R sets a negative group chi-square to 0)."""
    data = pd.read_csv(REF / "hs_mar.csv")
    for est in ("ML", "MLR"):
        res = fit_cfa(data, " f =~ x1 + x2 + x3 ", estimator=est, missing="fiml")
        assert res.fit["df"] == 0 and 0.0 <= res.fit["chisq"] < 1e-9


@pytest.mark.parametrize("group, equal", [(None, ()), ("school", ()), ("school", ("loadings", "intercepts"))])
def test_fiml_hessian_in_two_parts_equals_central_differences(group, equal):
    """FIMLEngine.hessian (J'AJ with A the analytic Hessian in the moments, plus the moments' analytic curvature)
    against central differences of the whole FIML gradient (Engine.hessian), one group, two groups, two groups
    with equal loadings and intercepts: equal to 1e-8 absolute (the differences' own error is about 1e-9 here)."""
    from vccscale.sem import fit_sem
    from vccscale.sem.fit import Engine

    data = pd.read_csv(REF / "hs_mar.csv")
    model = HS + "\n speed ~ visual + textual"
    res = fit_sem(data, model, missing="fiml", group=group, group_equal=list(equal))
    st = res._state
    np.testing.assert_allclose(st.engine.hessian(st.theta), Engine.hessian(st.engine, st.theta), rtol=0, atol=1e-8)


@pytest.mark.parametrize("model, group, equal", [
    (HS + "\n speed ~ visual + textual", None, ()),
    (HS + "\n speed ~ visual + textual", "school", ("loadings", "intercepts")),
    ("visual =~ x1 + x2 + x3 + x9\n textual =~ x4 + x5 + x6 \n textual ~ visual\n x7 ~ textual + visual\n x8 ~ x7",
     "school", ()),
    ("visual =~ x1 + a*x2 + a*x3\n textual =~ x4 + x5 + x6\n visual ~~ textual\n x1 ~~ x4", None, ()),
])
def test_analytic_curvature_equals_differences(model, group, equal):
    """The implied moments' curvature weighted by the likelihood's moment gradient, analytic in the RAM form
    (FIMLEngine._curvature: loadings, latent and observed regressions, (co)variances, means, equality labels,
    groups) against central differences of the moment gradient (_curvature_by_differences): 1e-8 absolute (the
    differences' own error is about 1e-10)."""
    from vccscale.sem import fit_sem

    data = pd.read_csv(REF / "hs_mar.csv")
    res = fit_sem(data, model, missing="fiml", group=group, group_equal=list(equal))
    eng, th = res._state.engine, res._state.theta
    mg = [eng._terms(Sig, mu, gd, True)[1:] for _, Sig, mu, gd in eng._pattern_terms(th)]
    np.testing.assert_allclose(eng._curvature(th, mg), _curvature_by_differences(eng, th, mg), rtol=0, atol=1e-8)


def _curvature_by_differences(eng, theta, mgrads):
    """The reference: central differences of the moment gradient with the moment gradients held fixed (steps as
    Engine.hessian's)."""
    from vccscale.sem.fit import param_units

    q = eng.q
    C = np.zeros((q, q))
    unit = param_units(eng, theta)
    for k in range(q):
        h = 1e-6 * max(unit[k], abs(theta[k]))
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        for g, (G, gm) in enumerate(mgrads):
            C[:, k] += (eng.moment_gradient(tp, g, G, gm) - eng.moment_gradient(tm, g, G, gm)) / (2 * h)
    return C


def test_em_moments_are_shared_by_fits_to_the_same_data_only():
    """prepare_groups keeps the patterns and EM moments of recent data matrices (by a digest of the cells): a second
    model on the same variables reuses them; a changed cell gives a new EM run (and different moments)."""
    data = pd.read_csv(REF / "hs_mar.csv")
    a = fit_cfa(data, HS, missing="fiml")
    b = fit_cfa(data, " g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 ", missing="fiml")
    ga, gb = a._state.engine.groups[0], b._state.engine.groups[0]
    assert ga.em is gb.em and ga.patterns is gb.patterns
    changed = data.copy()
    changed.loc[changed["x1"].first_valid_index(), "x1"] += 0.5
    c = fit_cfa(changed, HS, missing="fiml")
    gc = c._state.engine.groups[0]
    assert gc.em is not ga.em and not np.allclose(gc.mean, ga.mean)


def test_squarem_reaches_the_plain_em_fixed_point_in_fewer_steps():
    """With half the cells missing, plain EM needs 181 steps; the SQUAREM-accelerated run (the default) stops by
    the same rule (an EM step changing nothing by more than 1e-10 unit-free) at the same point: within 1e-8 of the
    plain run in standard-deviation units (the plain run's own distance from the fixed point is up to
    tol / (1 - rate), a few 1e-9 here; measured 8e-10), in under a third of the steps (43)."""
    from vccscale.sem.em import em_moments

    rng = np.random.default_rng(6)
    F = rng.normal(size=(150, 1))
    X = F @ np.full((1, 6), 0.7) + rng.normal(size=(150, 6)) * np.sqrt(0.51)
    X[rng.random(X.shape) < 0.5] = np.nan
    X = X[np.isfinite(X).any(axis=1)]
    pats = missing_patterns(X)
    plain = em_moments(pats, 6, accelerate=False)
    fast = em_moments(pats, 6)
    assert plain.converged and fast.converged and fast.delta < 1e-10
    assert plain.iterations > 150 and fast.iterations < plain.iterations / 3
    sd = np.sqrt(np.diag(plain.cov))
    assert np.max(np.abs(fast.mean - plain.mean) / sd) < 1e-8
    assert np.max(np.abs(fast.cov - plain.cov) / np.outer(sd, sd)) < 1e-8


@pytest.mark.parametrize("few", [True, False])  # few patterns (per-pattern route) or many (W dSigma W route)
def test_fiml_casewise_scores_equal_differences_of_each_rows_density(few):
    """FIMLEngine.casewise_scores: every case's score equals the central difference (step 1e-6) of that case's
    own normal log-density on its observed variables at the implied moments (1e-6 relative), for rows of every
    pattern; with few patterns (fewer than variables) and with many."""
    from vccscale.sem.fit import FIMLEngine

    rng = np.random.default_rng(8)
    L = np.kron(np.eye(3), np.full((3, 1), 0.7))
    d = pd.DataFrame(rng.normal(size=(120, 3)) @ L.T + rng.normal(size=(120, 9)) * 0.7,
                     columns=[f"x{i}" for i in range(1, 10)])
    if few:
        d.loc[:15, "x1"] = np.nan
        d.loc[10:30, ["x4", "x7"]] = np.nan
    else:
        d = d.mask(rng.random(d.shape) < 0.25)
        d = d[d.notna().any(axis=1)].reset_index(drop=True)
    fit = fit_cfa(d, HS, missing="fiml")
    eng, th = fit._state.engine, fit._state.theta
    assert isinstance(eng, FIMLEngine)
    sc = eng.casewise_scores(th)[0]
    X = eng.groups[0].X
    h = 1e-6
    for i in [0, 12, 20, 40, 77, 119 if len(X) > 119 else len(X) - 1]:
        for k in range(0, eng.q, 5):
            e = np.zeros(eng.q)
            e[k] = h
            (Sp, mp), = eng.implied(th + e)
            (Sm, mm), = eng.implied(th - e)
            num = (_rowwise_loglik(X[i:i + 1], Sp, mp) - _rowwise_loglik(X[i:i + 1], Sm, mm)) / (2 * h)
            assert sc[i, k] == pytest.approx(num, rel=1e-6, abs=1e-8)


def test_em_stops_at_a_singular_iterate_and_says_so(monkeypatch):
    """An EM iterate that is not positive definite ends the run (not converged, delta NaN) instead of raising
    numpy's LinAlgError, and the warning names the singular matrix."""
    from vccscale.sem import em as em_mod

    X = _mixed_missing(60, 5, 2, 20)
    calls = {"n": 0}
    real = np.linalg.cholesky

    def flaky(a):  # the third EM step meets a singular matrix
        calls["n"] += 1
        if calls["n"] == 3:
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        return real(a)

    monkeypatch.setattr(em_mod.np.linalg, "cholesky", flaky)
    res = em_mod.em_moments(missing_patterns(X), 5, accelerate=False)
    assert not res.converged and res.iterations == 3 and np.isnan(res.delta)
    assert "stopped after 3 iterations at a singular covariance matrix" in res.warning()


@pytest.mark.parametrize("seed", [pytest.param(0, marks=pytest.mark.slow), pytest.param(4, marks=pytest.mark.slow), 5])
def test_em_heading_for_a_boundary_stops_early_with_the_same_refusal(monkeypatch, seed):
    """30 rows, 8 items, 40% of the answers missing: the likelihood's maximum is on the boundary and EM creeps
    along it at a change of ~1e-5 per step. Without the eigenvalue check it ran to the 5,000-step cap (about 1 s
    at 12 items: 313 of family C's 777 two-construct CFAs at n = 120; the cfa stage 352 -> 62 CPU-s) and ended at
    a correlation matrix whose smallest eigenvalue is below EM_SINGULAR_EIG, which prepare_groups refuses; now it
    stops within a few hundred steps, and fit_cfa refuses the data with the message of a singular EM run."""
    from vccscale.errors import DataError
    from vccscale.sem import em as em_mod
    from vccscale.sem import fit_cfa

    rng = np.random.default_rng(seed)
    X = np.round(3 + 0.7 * rng.normal(size=(30, 1)) + 0.7 * rng.normal(size=(30, 8)))
    X[rng.random((30, 8)) < 0.4] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    pats = missing_patterns(X)
    res = em_mod.em_moments(pats, 8)
    assert not res.converged and np.isnan(res.delta) and res.iterations < 1000
    monkeypatch.setattr(em_mod, "EM_SINGULAR_EVERY", 10 ** 9)
    old = em_mod.em_moments(pats, 8)
    sd = np.sqrt(np.diag(old.cov))
    assert old.iterations == 5000 and not old.converged
    assert np.linalg.eigvalsh(old.cov / np.outer(sd, sd))[0] < em_mod.EM_SINGULAR_EIG
    monkeypatch.undo()
    data = pd.DataFrame(X, columns=[f"y{i}" for i in range(8)])
    with pytest.raises(DataError, match="EM ran into a singular covariance matrix"):
        fit_cfa(data, "f =~ " + " + ".join(data.columns), missing="fiml")


def test_lru_keep_drops_least_recent_and_never_keeps_an_oversized_value():
    """The one cache rule behind the EM and saturated-information caches: most recent last, the least recently
    used dropped first by count and by bytes, and a value larger than the byte limit not kept (nor evicting)."""
    from vccscale.sem.fit import lru_keep

    cache: dict = {}
    for k in "abc":
        lru_keep(cache, k, 10, max_items=3, max_bytes=30, nbytes=lambda v: v)
    lru_keep(cache, "a", 10, 3, 30, lambda v: v)      # a used again: now the most recent
    lru_keep(cache, "d", 10, 3, 30, lambda v: v)      # b is the least recent
    assert list(cache) == ["c", "a", "d"]
    lru_keep(cache, "e", 25, 3, 30, lambda v: v)      # bytes: only e fits beside nothing else
    assert list(cache) == ["e"]
    lru_keep(cache, "f", 31, 3, 30, lambda v: v)      # too large alone
    assert list(cache) == ["e"]


@pytest.mark.parametrize("complete_rows", [3, 40, 0])
@pytest.mark.parametrize("draw", ["cases", "no_complete_rows", "clusters"])
def test_reweighted_blocks_equal_the_resamples_own(complete_rows, draw):
    """The bootstrap's FIML likelihood reuses the full sample's RowBlocks with the draw counts as frequency weights
    (RowBlocks.reweighted): log-likelihood and dF/dSigma, dF/dmu equal those of the resample's own rows (1e-12
    relative; the moment gradients 1e-10 of their largest element) and the row-wise densities of the resample --
    with the complete rows row by row or as moments, two large incomplete patterns as moments (complete_rows = 0),
    a draw without any complete row, and a cluster draw (whole clusters repeated)."""
    from vccscale.sem.em import RowBlocks
    from vccscale.sem.fit import BIG_PATTERN, FIMLEngine, GroupData
    from vccscale.sem.resample import _draw_rows

    p = 7
    X = _mixed_missing(150, p, 12, complete_rows) / np.geomspace(0.01, 1000, p)
    if complete_rows == 0:
        X[:55] = np.where(np.isnan(X[:55]), np.nanmean(X, axis=0) + 0.3, X[:55])
        X[:30, :3] = np.nan
        X[30:55, 4:6] = np.nan
    rng = np.random.default_rng(8)
    incomplete = np.flatnonzero(np.isnan(X).any(axis=1))
    if draw == "cases":
        rows = rng.integers(0, len(X), len(X))
    elif draw == "no_complete_rows":
        rows = rng.choice(incomplete, len(X))
    else:
        rows = _draw_rows(rng, len(X), np.arange(len(X)) // 6)
    base = RowBlocks(X, missing_patterns(X, moments=False, values=False), big=max(p, BIG_PATTERN))
    if complete_rows == 0:
        assert len(base.big_patterns) == 2
    Xb = X[rows]
    n = len(Xb)
    own = GroupData("g", Xb, n, np.nanmean(Xb, axis=0), np.diag(np.nanvar(Xb, axis=0)), missing_patterns(Xb), 0.0)
    wtd = GroupData("g", Xb, n, own.mean, own.cov, [], 0.0)
    wtd._fiml_terms_blocks = base.reweighted(np.bincount(rows, minlength=len(X)))
    assert wtd._fiml_terms_blocks.n + wtd._fiml_terms_blocks.complete_n + sum(
        b["n"] for b in wtd._fiml_terms_blocks.big_patterns) == n
    eng = FIMLEngine.__new__(FIMLEngine)
    eng.p, eng.N = p, n
    A = rng.normal(size=(p, p)) * 0.4 + np.eye(p)
    Sig, mu = A @ A.T + 0.3 * np.eye(p), np.nanmean(X, axis=0) + rng.normal(size=p) * 0.1
    ll0, G0, gm0 = eng._terms(Sig, mu, own, True)
    ll1, G1, gm1 = eng._terms(Sig, mu, wtd, True)
    assert ll1 == pytest.approx(ll0, rel=1e-12) and ll1 == pytest.approx(_rowwise_loglik(Xb, Sig, mu), rel=1e-12)
    # (the complete rows' moments are summed in another order: rounding of 1e-12 of the largest element)
    np.testing.assert_allclose(G1, G0, rtol=1e-10, atol=1e-10 * np.abs(G0).max())
    np.testing.assert_allclose(gm1, gm0, rtol=1e-10, atol=1e-10 * np.abs(gm0).max())
    with pytest.raises(Exception, match="likelihood only"):  # weighted rows never reach the information
        FIMLEngine._blocks(wtd)


@pytest.mark.parametrize("k", [5, 15, 16, 40, 90])
def test_lapack_inverses_equal_numpy_and_fail_as_numpy(k):
    """vccscale.sem._linalg: getri / potri from SMALL rows on, numpy below. Each inverse times its matrix is the
    identity (1e-12), equals numpy.linalg.inv (1e-12 of its largest element), the SPD inverse is exactly symmetric
    and its log-determinant equals slogdet (1e-12); a singular matrix and an indefinite one raise LinAlgError."""
    from vccscale.sem._linalg import SMALL, inverse, spd_inverse

    rng = np.random.default_rng(k)
    A = rng.normal(size=(k, k))
    S = A @ A.T + k * np.eye(k)
    G = np.eye(k) - 0.3 * np.tril(A, -1) / np.sqrt(k)  # a regression part (I - B)
    for M, inv in ((G, inverse(G)), (S, spd_inverse(S)[0]), (S, inverse(S))):
        np.testing.assert_allclose(M @ inv, np.eye(k), atol=1e-12)
        ref = np.linalg.inv(M)
        np.testing.assert_allclose(inv, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    W, ld = spd_inverse(S)
    assert np.array_equal(W, W.T) and ld == pytest.approx(np.linalg.slogdet(S)[1], rel=1e-12)
    if k < SMALL:  # below SMALL numpy's own routines: the same bits
        assert np.array_equal(inverse(G), np.linalg.inv(G))
    singular = S.copy()
    singular[:, -1] = 0.0
    singular[-1, :] = 0.0
    with pytest.raises(np.linalg.LinAlgError):
        inverse(singular)
    indefinite = S - (np.linalg.eigvalsh(S)[0] + 1.0) * np.eye(k)
    with pytest.raises(np.linalg.LinAlgError):
        spd_inverse(indefinite)


@pytest.mark.parametrize("estimator,missing,cluster", [("ML", "listwise", False), ("MLR", "fiml", True),
                                                       ("ML", "fiml", False), ("MLR", "listwise", True)])
def test_estimates_only_equal_the_full_fit_with_standardized_values_and_problems(estimator, missing, cluster):
    """vccscale.sem.api.fit_estimates (two-construct CFAs of the measurement stage, power replicates): every column
    of the parameter table, including std_lv / std_all, equals fit_cfa's exactly, and so do the solution warnings,
    problems, nobs and npar -- complete data and FIML, ML and MLR, with and without cluster-robust SEs; on a
    Heywood case (a negative residual variance) the problems are the same too."""
    from vccscale.sem.api import fit_estimates

    d = pd.read_csv(REF.parent / "validate" / "HolzingerSwineford1939.csv")[[f"x{i}" for i in range(1, 10)]]
    d = d.mask(np.random.default_rng(3).random(d.shape) < 0.08)
    if missing == "listwise":
        d = d.dropna()
    d["org"] = np.arange(len(d)) // 7
    kw = {"estimator": estimator, "missing": missing, "cluster": "org" if cluster else None}
    heywood = HS + "\n x1 ~~ -0.05*x1"  # fixed negative variance: an improper solution by construction
    for model in (HS, heywood):
        lean = fit_estimates(d, model, model_type="cfa", standardized=True, **kw)
        full = fit_cfa(d, model, **kw)
        cols = ["est", "se", "z", "pvalue", "ci_lower", "ci_upper", "std_lv", "std_all"]
        got = pd.DataFrame(lean.rows)
        assert list(got[["lhs", "op", "rhs"]].itertuples(index=False)) == list(
            full.estimates[["lhs", "op", "rhs"]].itertuples(index=False))
        np.testing.assert_array_equal(got[cols].to_numpy(float), full.estimates[cols].to_numpy(float))
        assert lean.problems == full.problems and set(lean.warnings) <= set(full.warnings)
        assert lean.nobs == full.nobs and lean.npar == full.fit["npar"]
    assert lean.problems and "negative variance" in lean.problems[0]


def test_em_that_runs_off_to_a_singular_matrix_stops_early_and_the_fit_says_why():
    """Two versions of a questionnaire: 2 rows answer items 1-3, 40 rows answer items 3-6, so items 1-2 and 4-6 are
    never answered together and the likelihood of the saturated model grows towards a singular matrix. EM stops at
    the first iterate with some 1 - R^2 below EM_SINGULAR (long before the iteration cap, without numpy overflow
    warnings), as not converged; a FIML fit then fails with a DataError that names this cause (not "constant"
    variables or linearly dependent items, which the EM's last iterate would suggest)."""
    import warnings

    from vccscale.errors import DataError
    from vccscale.sem.em import EM_MAX_ITER, em_moments

    rng = np.random.default_rng(0)
    X = rng.normal(size=(42, 6)) + rng.normal(size=(42, 1))
    X[:2, 3:] = np.nan
    X[2:, :2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = em_moments(missing_patterns(X), 6)
        assert not res.converged and np.isnan(res.delta) and res.iterations < EM_MAX_ITER // 10
        assert np.isfinite(res.cov).all() and "singular" in res.warning()
        d = pd.DataFrame(X, columns=[f"y{i}" for i in range(1, 7)])
        with pytest.raises(DataError, match="cannot be estimated from these rows: EM ran into a singular.*too few"):
            fit_cfa(d, "f =~ y1 + y2 + y3 + y4 + y5 + y6", missing="fiml")


def test_singular_em_covariance_is_named_as_such_with_missing_answers():
    """A duplicated item: complete data get the 'sample covariance matrix ... linearly dependent' message; with
    missing answers (FIML) EM runs into the singular matrix, and the message says so, names the two items and gives
    the rows, the patterns and both usual causes."""
    from vccscale.errors import DataError

    rng = np.random.default_rng(5)
    f = rng.normal(size=(200, 1))
    X = f + rng.normal(size=(200, 5))
    X = np.column_stack([X, X[:, 0]])
    d = pd.DataFrame(X, columns=[f"y{i}" for i in range(1, 7)])
    model = "f =~ y1 + y2 + y3 + y4 + y5 + y6"
    with pytest.raises(DataError, match=r"the sample covariance matrix is not positive definite.*y6, y1|y1, y6"):
        fit_cfa(d, model)
    d = d.mask(rng.random(d.shape) < 0.1)
    with pytest.raises(DataError, match=r"EM ran into a singular covariance matrix|the EM estimate of the cov") as exc:
        fit_cfa(d, model, missing="fiml")
    msg = str(exc.value)
    assert "linearly dependent in it: y" in msg and "y1" in msg and "y6" in msg and "duplicated items" in msg
    assert "200 rows in" in msg and "patterns of answered variables" in msg
