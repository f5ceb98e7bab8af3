"""Mediation analysis: indirect, direct and total effects with bootstrap, Monte Carlo and delta-method inference.

Two engines share one result type (:class:`MediationResult`):

* :func:`mediate` -- composite (observed) scores. Every equation is an OLS regression, which is also the ML
  (lavaan ``sem()``, ``fixed.x = TRUE``) solution of the saturated path model, so point estimates and
  delta-method standard errors equal lavaan's. The bootstrap is fully vectorised: one ``(B, n)`` matrix of
  resample counts times the ``n x K^2`` case-wise cross-products gives every draw's ``Z'Z`` in one matrix
  product, and every equation is then a batched solve -- there is no refit loop.
* :func:`mediate_latent` -- latent (or any lavaan-syntax) models through :mod:`vccscale.sem`, effects as ``:=``
  defined parameters. Bootstrap refits run in parallel with joblib and are warm-started from the full-sample
  estimates (``vccscale.sem.fit.estimate(engine, start=...)``).

Inference (columns of :attr:`MediationResult.effects`):

* ``est`` -- point estimate; ``delta_se`` -- delta-method SE (lavaan's standard SE of a ``:=`` parameter, ML
  information, divisor N); ``z`` and ``pvalue`` -- two-sided normal test **from the delta SE**.
* ``se`` -- bootstrap standard deviation (ddof = 1) of the successful draws.
* ``ci_lower`` / ``ci_upper`` -- bootstrap CI of type ``ci``: ``"percentile"`` (lavaan ``boot.ci.type =
  "perc"``), ``"bc"`` (bias-corrected, lavaan ``"bca.simple"``) or ``"bca"`` (bias-corrected and accelerated,
  acceleration from the jackknife). Quantiles are taken as lavaan (and ``boot::norm.inter``) takes them: the
  ``(R + 1) * alpha``-th order statistic, interpolated on the normal-quantile scale between neighbouring order
  statistics (not ``stats::quantile`` type 7).
* ``mc_lower`` / ``mc_upper`` -- Monte Carlo CI: ``n_mc`` parameter vectors drawn from N(theta_hat, V_delta),
  effects computed from each draw, plain empirical quantiles.

All bootstrap statistics come from ONE set of resample indices (``MediationResult.boot_indices``); draws that
fail (singular resample, non-convergence) are dropped and counted in ``bootstrap["failed"]``.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from .._args import data_first
from ..errors import DataError, ModelError

__all__ = ["MediationResult", "mediate", "mediate_latent", "boot_ci", "norm_inter"]

CI_TYPES = ("percentile", "bc", "bca")


# ====================================================================== bootstrap CI helpers
#: mediation is refused below this many residual degrees of freedom, flagged below SMALL_N complete cases, and the
#: bootstrap is flagged when more than FAILED_SHARE of its draws fail
MIN_RESIDUAL_DF = 10
SMALL_N = 50
FAILED_SHARE = 0.05


def norm_inter(t: np.ndarray, alpha) -> np.ndarray:
    """Quantiles of the bootstrap draws ``t`` at probabilities ``alpha`` as ``boot::norm.inter`` (used by lavaan's
    ``parameterEstimates(boot.ci.type = "perc" / "bca.simple" / "bca")``).

    With R finite draws sorted, ``rk = (R + 1) * alpha`` and ``k = floor(rk)``: an integer ``rk`` gives the
    ``k``-th order statistic; ``k = 0`` / ``k = R`` give the extreme ones; otherwise the value is interpolated
    between the ``k``-th and ``(k+1)``-th order statistics linearly in the normal-quantile scale:
    ``t_k + (qnorm(alpha) - qnorm(k/(R+1))) / (qnorm((k+1)/(R+1)) - qnorm(k/(R+1))) * (t_{k+1} - t_k)``.
    """
    t = np.sort(np.asarray(t, float)[np.isfinite(t)])
    alpha = np.atleast_1d(np.asarray(alpha, float))
    R = len(t)
    out = np.full(alpha.shape, np.nan)
    if R == 0:
        return out
    for i, al in enumerate(alpha):
        if not np.isfinite(al):
            continue
        rk = (R + 1) * al
        k = int(math.trunc(rk))
        if k <= 0:
            out[i] = t[0]
        elif k >= R:
            out[i] = t[R - 1]
        elif k == rk:
            out[i] = t[k - 1]
        else:
            q1, q2, q3 = stats.norm.ppf(al), stats.norm.ppf(k / (R + 1)), stats.norm.ppf((k + 1) / (R + 1))
            out[i] = t[k - 1] + (q1 - q2) / (q3 - q2) * (t[k] - t[k - 1])
    return out


def _accel(jack: np.ndarray) -> np.ndarray:
    """Jackknife acceleration per column: sum(L^3) / (6 sum(L^2)^1.5), L = mean - leave-one-out estimate."""
    L = np.nanmean(jack, axis=0) - jack
    num = np.nansum(L ** 3, axis=0)
    den = 6 * np.nansum(L ** 2, axis=0) ** 1.5
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, 0.0)


def boot_ci(draws: np.ndarray, est: np.ndarray, method: str = "percentile", level: float = 0.95,
            accel: np.ndarray | None = None) -> np.ndarray:
    """Bootstrap CIs, one row ``(lower, upper)`` per column of ``draws`` (rows with a NaN are ignored per column).

    ``percentile``: ``norm_inter(t, (1 -+ level) / 2)``. ``bc``: lavaan's ``bca.simple`` -- ``w = qnorm(#(t <
    est) / R)``, probabilities ``pnorm(2w + z_alpha)``. ``bca``: ``pnorm(w + (w + z) / (1 - a (w + z)))`` with the
    acceleration ``a`` (``accel``).

    R: ``lavaan::parameterEstimates(boot.ci.type = "perc" / "bca.simple")``; BCa as ``boot::boot.ci(type = "bca")``.
    """
    draws = np.asarray(draws, float)
    if draws.ndim == 1:
        draws = draws[:, None]
    est = np.atleast_1d(np.asarray(est, float))
    alpha = np.array([(1 - level) / 2, (1 + level) / 2])
    z = stats.norm.ppf(alpha)
    out = np.full((draws.shape[1], 2), np.nan)
    for j in range(draws.shape[1]):
        t = draws[:, j]
        t = t[np.isfinite(t)]
        if len(t) < 2:
            continue
        if method == "percentile":
            out[j] = norm_inter(t, alpha)
            continue
        if np.var(t) == 0:
            out[j] = est[j]
            continue
        with np.errstate(divide="ignore"):
            w = stats.norm.ppf(np.sum(t < est[j]) / len(t))
        a = 0.0 if method == "bc" else float(accel[j])
        adj = stats.norm.cdf(w + (w + z) / (1 - a * (w + z)))
        out[j] = norm_inter(t, adj)
    return out


def _mc_quantiles(draws: np.ndarray, level: float) -> np.ndarray:
    alpha = [(1 - level) / 2, (1 + level) / 2]
    return np.nanquantile(draws, alpha, axis=0).T


def _resolve_seed(seed) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2 ** 63))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    raise TypeError(f"seed must be an int or None, not {type(seed).__name__}")


def _streams(seed: int):
    """Independent generators for the bootstrap indices and the Monte Carlo draws (so n_mc never changes the
    resamples)."""
    ss = np.random.SeedSequence(seed)
    b, m = ss.spawn(2)
    return np.random.default_rng(b), np.random.default_rng(m)


def boot_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The ``(n_boot, n)`` resample indices used by :func:`mediate` / :func:`mediate_latent` for ``seed``.

    No R equivalent (the shared resample indices; lavaan's ``lavaan::bootstrapLavaan`` draws its own).
    """
    rng, _ = _streams(seed)
    return rng.integers(0, n, size=(n_boot, n), dtype=np.int64)


def _check_ci(ci: str, level: float) -> str:
    if ci not in CI_TYPES:
        raise ValueError(f"ci must be one of {', '.join(CI_TYPES)}, not {ci!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), not {level!r}")
    return ci


# ====================================================================== the result
@dataclass
class MediationResult:
    """Result of :func:`mediate` / :func:`mediate_latent` / :func:`~vccscale.models.moderated_mediation`.

    Attributes
    ----------
    effects : DataFrame
        name, path, est, se (bootstrap SD), ci_lower, ci_upper (bootstrap CI of type ``ci``), pvalue (two-sided
        normal test from the delta-method SE), delta_se, z, mc_lower, mc_upper (Monte Carlo CI).
    bootstrap : dict
        ``draws`` (requested), ``ok`` (successful), ``failed`` (count), ``seed``, ``ci``, ``level``, ``n_mc``,
        ``seconds``.
    mediation : dict
        The full-versus-partial reading: for composites whether the CIs of the indirect and direct effects
        include 0; for latent models also both models' chi-squares and their difference test.
    boot_draws : DataFrame or None
        One row per successful bootstrap draw, one column per effect.
    boot_indices : ndarray
        The ``(draws, n)`` resample indices (rows of the complete-case data) shared by all statistics.

    R: the rows of ``lavaan::parameterEstimates`` for the labelled and ``:=`` parameters of a fit with ``se =
    "bootstrap"``.
    """

    effects: pd.DataFrame
    bootstrap: dict
    mediation: dict = field(default_factory=dict)
    model: str = ""
    n: int = 0
    n_dropped: int = 0
    coefficients: pd.DataFrame | None = None
    boot_draws: pd.DataFrame | None = field(default=None, repr=False)
    boot_indices: np.ndarray | None = field(default=None, repr=False)
    fit: object = field(default=None, repr=False)
    fit_full: object = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()

    def effect(self, name: str) -> pd.Series:
        row = self.effects[self.effects["name"] == name]
        if row.empty:
            raise KeyError(f"no effect {name!r}; effects are {', '.join(self.effects['name'])}")
        return row.iloc[0]

    def summary(self) -> str:
        b = self.bootstrap
        lines = [f"Mediation ({self.n} cases" + (f", {self.n_dropped} dropped" if self.n_dropped else "") + ")",
                 f"  bootstrap: {b.get('ok', 0)} of {b.get('draws', 0)} draws ok, {b.get('failed', 0)} failed, "
                 f"seed {b.get('seed')}, {b.get('ci')} CI, level {b.get('level')}", ""]
        cols = ["name", "path", "est", "se", "ci_lower", "ci_upper", "delta_se", "pvalue", "mc_lower", "mc_upper"]
        with pd.option_context("display.width", 160):
            lines.append(self.effects[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if self.mediation.get("reading"):
            lines += ["", f"  {self.mediation['reading']}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ====================================================================== polynomial effects
@dataclass
class _Effect:
    """An effect as a polynomial in the parameter vector: sum of coef * prod(theta[idx])."""

    name: str
    path: str
    terms: list[tuple[float, tuple[int, ...]]]

    def value(self, theta: np.ndarray) -> np.ndarray:
        """theta: (..., q) -> (...)"""
        out = np.zeros(theta.shape[:-1])
        for coef, idx in self.terms:
            v = np.full(theta.shape[:-1], float(coef))
            for i in idx:
                v = v * theta[..., i]
            out = out + v
        return out

    def grad(self, theta: np.ndarray) -> np.ndarray:
        g = np.zeros(theta.shape[-1])
        for coef, idx in self.terms:
            for pos, i in enumerate(idx):
                rest = [j for p_, j in enumerate(idx) if p_ != pos]
                g[i] += coef * float(np.prod(theta[rest])) if rest else coef
        return g


def _eval_effects(effects: list[_Effect], theta: np.ndarray) -> np.ndarray:
    return np.stack([e.value(theta) for e in effects], axis=-1)


# ====================================================================== batched OLS
@dataclass
class _Equation:
    outcome: int  # column of Z
    predictors: list[int]  # columns of Z (0 = intercept)
    outcome_name: str = ""
    predictor_names: list[str] = field(default_factory=list)


def _design(data: pd.DataFrame, columns: list[str], products: dict | None = None) -> tuple[np.ndarray, int, list[str]]:
    """Z = [1, columns..., products...] on complete cases; returns Z, n_dropped, names."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"column(s) {', '.join(map(repr, missing))} are not in the data", column=missing[0])
    dup = [c for c in columns if columns.count(c) > 1]
    if dup:
        raise DataError(f"variable {dup[0]!r} is given in more than one role")
    bad = [c for c in columns if pd.api.types.is_bool_dtype(data[c]) or not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise DataError(f"variable(s) {', '.join(bad)} are not numeric; recode them first", column=bad[0])
    X = data[columns].to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(X).all(axis=1)
    X = X[ok]
    names = ["(Intercept)"] + list(columns)
    cols = [np.ones(len(X)), *X.T]
    for name, (i, j) in (products or {}).items():
        cols.append(X[:, columns.index(i)] * X[:, columns.index(j)])
        names.append(name)
    Z = np.column_stack(cols)
    n = len(Z)
    if n < 3:
        raise DataError(f"only {n} complete cases on {', '.join(columns)}")
    sd = Z[:, 1:].std(axis=0)
    const = [names[k + 1] for k in np.flatnonzero(sd <= 1e-12 * max(1.0, float(sd.max())))]
    if const:
        raise DataError(f"variable(s) {', '.join(const)} are constant in the complete cases")
    return Z, int((~ok).sum()), names


def _cross(Z: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Z'Z (K x K) or, for weights (B, n), the batch of weighted cross-products (B, K, K) via one GEMM."""
    n, K = Z.shape
    if weights is None:
        return Z.T @ Z
    ZZ = (Z[:, :, None] * Z[:, None, :]).reshape(n, K * K)
    return (weights @ ZZ).reshape(-1, K, K)


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    B = idx.shape[0]
    flat = (idx + (np.arange(B) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=B * n).reshape(B, n).astype(float)


def _solve_eqs(C: np.ndarray, n_cases, eqs: list[_Equation]):
    """Batched OLS from cross-products. C: (B, K, K). Returns coefs list per equation (B, p_e), residual
    variances (B,) per equation (divisor n, ML) and a failed mask (B,)."""
    B = C.shape[0]
    failed = np.zeros(B, bool)
    coefs, sig2, invs = [], [], []
    for e in eqs:
        P = np.asarray(e.predictors)
        A = C[:, P[:, None], P[None, :]]
        r = C[:, P, e.outcome]
        # scale to a unit diagonal to judge singularity
        d = np.sqrt(np.clip(np.einsum("bii->bi", A), 1e-300, None))
        As = A / (d[:, :, None] * d[:, None, :])
        sign, logdet = np.linalg.slogdet(As)
        bad = ~(np.isfinite(logdet) & (sign > 0) & (logdet > math.log(1e-12)))
        failed |= bad
        A_safe = np.where(bad[:, None, None], np.eye(len(P))[None], A)
        Ainv = np.linalg.inv(A_safe)
        beta = np.einsum("bij,bj->bi", Ainv, r)
        rss = C[:, e.outcome, e.outcome] - np.einsum("bi,bi->b", beta, r)
        coefs.append(beta)
        sig2.append(rss / n_cases)
        invs.append(Ainv)
    return coefs, sig2, invs, failed


@dataclass
class _PathModel:
    """Equations, the parameter vector (named coefficients) and the effects of a composite path model."""

    Z: np.ndarray
    names: list[str]
    eqs: list[_Equation]
    params: list[tuple[str, int, int, str]]  # (name, eq index, position in predictors, "lhs ~ rhs")
    effects: list[_Effect]

    def theta(self, coefs) -> np.ndarray:
        return np.stack([coefs[e][:, p] for _, e, p, _ in self.params], axis=-1)

    def vcov(self, sig2, invs, C: np.ndarray | None = None, coefs=None) -> np.ndarray:
        """ML (lavaan) covariance of the parameter vector: blocks sigma2_ML (Z'Z)^-1 per equation. Equations with
        the same predictors (parallel mediators, whose residuals covary freely in the saturated model) are a SUR
        system with identical regressors: cov(beta_i, beta_j) = s_ij (Z'Z)^-1 with s_ij the ML residual
        covariance. Other pairs are independent (the likelihood of a recursive model factorises by block)."""
        q = len(self.params)
        V = np.zeros((q, q))
        n = self.Z.shape[0]
        for i, (_, ei, pi, _) in enumerate(self.params):
            for j, (_, ej, pj, _) in enumerate(self.params):
                if ei == ej:
                    V[i, j] = sig2[ei][0] * invs[ei][0, pi, pj]
                elif C is not None and self.eqs[ei].predictors == self.eqs[ej].predictors:
                    P = np.asarray(self.eqs[ei].predictors)
                    oi, oj = self.eqs[ei].outcome, self.eqs[ej].outcome
                    s_ij = (C[oi, oj] - coefs[ei][0] @ C[P, oj]) / n
                    V[i, j] = s_ij * invs[ei][0, pi, pj]
        return V

    def estimates(self, C: np.ndarray, n_cases):
        coefs, sig2, invs, failed = _solve_eqs(C, n_cases, self.eqs)
        return self.theta(coefs), coefs, sig2, invs, failed


def _coef_table(pm: _PathModel, coefs, sig2, invs) -> pd.DataFrame:
    recs = []
    for k, e in enumerate(pm.eqs):
        se = np.sqrt(np.clip(sig2[k][0] * np.diag(invs[k][0]), 0, None))
        for j, p in enumerate(e.predictors):
            lab = next((nm for nm, ei, pi, _ in pm.params if ei == k and pi == j), "")
            recs.append({"lhs": pm.names[e.outcome], "op": "~", "rhs": pm.names[p], "label": lab,
                         "est": float(coefs[k][0, j]), "se": float(se[j])})
    return pd.DataFrame.from_records(recs)


def _run_composite(pm: _PathModel, n_boot: int, ci: str, level: float, seed, n_mc: int, *, direct: str | None,
                   indirect: list[str], model_text: str, n_dropped: int) -> MediationResult:
    ci = _check_ci(ci, level)
    seed = _resolve_seed(seed)
    Z = pm.Z
    n = Z.shape[0]
    k_max = max(len(e.predictors) for e in pm.eqs)
    if n - k_max < MIN_RESIDUAL_DF:
        raise DataError(f"{n} complete cases for regressions with up to {k_max} coefficients: fewer than "
                        f"{MIN_RESIDUAL_DF} residual degrees of freedom. Collect more data or drop covariates")
    notes = []
    if n < SMALL_N:
        notes.append(f"only {n} complete cases: bootstrap CIs of indirect effects are unreliable in samples this "
                     f"small (below about {SMALL_N}; Fritz & MacKinnon 2007 for the power of such tests)")
    C0 = _cross(Z)[None]
    theta_hat, coefs, sig2, invs, failed0 = pm.estimates(C0, n)
    if failed0[0]:
        raise DataError("the predictors are (nearly) linearly dependent in the full sample; the regressions are "
                        "not estimable")
    theta_hat = theta_hat[0]
    V = pm.vcov(sig2, invs, C0[0], coefs)
    est = _eval_effects(pm.effects, theta_hat)
    J = np.stack([e.grad(theta_hat) for e in pm.effects])
    delta_se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, V, J), 0, None))
    t0 = time.perf_counter()
    rng_b, rng_m = _streams(seed)
    idx = None
    draws = np.empty((0, len(pm.effects)))
    n_failed = 0
    if n_boot > 0:
        idx = rng_b.integers(0, n, size=(n_boot, n), dtype=np.int64)
        Cb = _cross(Z, _counts(idx, n))
        th_b, _, _, _, fb = pm.estimates(Cb, n)
        draws = _eval_effects(pm.effects, th_b)
        fb |= ~np.isfinite(draws).all(axis=1)
        n_failed = int(fb.sum())
        draws = draws[~fb]
    accel = None
    if ci == "bca" and n_boot > 0:
        # closed-form jackknife: leave-one-out cross-products C - z_i z_i'
        Cj = C0 - Z[:, :, None] * Z[:, None, :]
        th_j, _, _, _, _ = pm.estimates(Cj, n - 1)
        accel = _accel(_eval_effects(pm.effects, th_j))
    seconds = time.perf_counter() - t0
    mc = np.full((len(pm.effects), 2), np.nan)
    if n_mc:
        L = np.linalg.cholesky(V + 1e-300 * np.eye(len(V))) if np.all(np.linalg.eigvalsh(V) > 0) else None
        zs = rng_m.standard_normal((n_mc, len(theta_hat)))
        th_mc = theta_hat + (zs @ L.T if L is not None else zs * np.sqrt(np.clip(np.diag(V), 0, None)))
        mc = _mc_quantiles(_eval_effects(pm.effects, th_mc), level)
    effects = _effects_frame(pm.effects, est, draws, delta_se, ci, level, accel, mc)
    boot = {"draws": int(n_boot), "ok": int(n_boot - n_failed), "failed": n_failed, "seed": seed, "ci": ci,
            "level": level, "n_mc": int(n_mc), "seconds": seconds}
    if n_boot and n_failed / n_boot > FAILED_SHARE:
        notes.append(f"{n_failed} of {n_boot} bootstrap draws failed ({n_failed / n_boot:.0%}; more than "
                     f"{FAILED_SHARE:.0%}): the CIs rest on the remaining draws and may be biased")
    res = MediationResult(effects=effects, bootstrap=boot, model=model_text, n=n, n_dropped=n_dropped,
                          warnings=tuple(notes),
                          coefficients=_coef_table(pm, coefs, sig2, invs),
                          boot_draws=pd.DataFrame(draws, columns=[e.name for e in pm.effects]) if n_boot else None,
                          boot_indices=idx)
    if direct is not None:
        res.mediation = _reading(effects, direct, indirect, level)
    return res


def _effects_frame(effs: list[_Effect], est, draws, delta_se, ci, level, accel, mc) -> pd.DataFrame:
    if len(draws) >= 2:
        se = np.std(draws, axis=0, ddof=1)
        cis = boot_ci(draws, est, ci, level, accel)
    else:
        se = np.full(len(effs), np.nan)
        cis = np.full((len(effs), 2), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(delta_se > 0, est / delta_se, np.nan)
    p = 2 * stats.norm.sf(np.abs(z))
    return pd.DataFrame({"name": [e.name for e in effs], "path": [e.path for e in effs], "est": est, "se": se,
                         "ci_lower": cis[:, 0], "ci_upper": cis[:, 1], "pvalue": p, "delta_se": delta_se, "z": z,
                         "mc_lower": mc[:, 0], "mc_upper": mc[:, 1]})


def _includes_zero(row) -> bool | None:
    lo, hi = row["ci_lower"], row["ci_upper"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return bool(lo <= 0 <= hi)


def _reading(effects: pd.DataFrame, direct: str, indirect: list[str], level: float) -> dict:
    d = effects.set_index("name")
    direct_zero = _includes_zero(d.loc[direct])
    ind_zero = {k: _includes_zero(d.loc[k]) for k in indirect}
    any_ind = any(v is False for v in ind_zero.values())
    pct = f"{100 * level:g}%"
    if direct_zero is None or any(v is None for v in ind_zero.values()):
        reading = "no bootstrap CI: full/partial reading not available"
        kind = None
    elif not any_ind:
        kind = "none"
        reading = f"no indirect effect: every indirect {pct} CI includes 0"
    elif direct_zero:
        kind = "full"
        reading = (f"full (indirect-only) mediation: an indirect {pct} CI excludes 0 and the direct-effect CI "
                   "includes 0")
    else:
        kind = "partial"
        reading = (f"partial (complementary/competitive) mediation: indirect and direct {pct} CIs both "
                   "exclude 0")
    return {"direct_ci_includes_zero": direct_zero, "indirect_ci_includes_zero": ind_zero, "type": kind,
            "reading": reading}


# ====================================================================== composite mediation
def _as_list(v, what) -> list[str]:
    if isinstance(v, str):
        return [v]
    v = list(v)
    if not all(isinstance(s, str) for s in v):
        raise TypeError(f"{what} must be column names")
    return v


def _path_model(Z, names, x, ms, y, covs, serial) -> tuple[_PathModel, list[str], str]:
    col = {nm: i for i, nm in enumerate(names)}
    k = len(ms)
    eqs: list[_Equation] = []
    params: list[tuple[str, int, int, str]] = []
    suffix = (lambda j: "") if k == 1 else (lambda j: f"_{j + 1}")
    lines = []
    for j, m in enumerate(ms):
        preds = [0, col[x]] + ([col[ms[i]] for i in range(j)] if serial else []) + [col[c] for c in covs]
        eqs.append(_Equation(col[m], preds))
        params.append((f"a{suffix(j)}", j, 1, f"{m} ~ {x}"))
        terms = [f"a{suffix(j)}*{x}"]
        if serial:
            for i in range(j):
                params.append((f"d_{j + 1}{i + 1}", j, 2 + i, f"{m} ~ {ms[i]}"))
                terms.append(f"d_{j + 1}{i + 1}*{ms[i]}")
        lines.append(f"{m} ~ " + " + ".join(terms + covs))
    ypreds = [0, col[x]] + [col[m] for m in ms] + [col[c] for c in covs]
    eqs.append(_Equation(col[y], ypreds))
    ye = len(eqs) - 1
    for j, m in enumerate(ms):
        params.append((f"b{suffix(j)}", ye, 2 + j, f"{y} ~ {m}"))
    params.append(("direct", ye, 1, f"{y} ~ {x}"))
    lines.append(f"{y} ~ direct*{x} + " + " + ".join(f"b{suffix(j)}*{m}" for j, m in enumerate(ms))
                 + "".join(f" + {c}" for c in covs))
    # reorder: a's, d's, b's, direct
    order = sorted(range(len(params)), key=lambda i: ("a_d_b_direct".index(params[i][0][0])
                                                      if params[i][0] != "direct" else 99, i))
    params = [params[i] for i in order]
    pidx = {p[0]: i for i, p in enumerate(params)}
    effects = [_Effect(nm, desc, [(1.0, (i,))]) for i, (nm, _, _, desc) in enumerate(params)]
    # indirect chains: singles first (indirect_j through m_j), then longer serial chains
    chains: list[tuple[int, ...]] = [(j,) for j in range(k)]
    if serial:
        for r in range(2, k + 1):
            chains += list(combinations(range(k), r))
    ind_effects = []
    for c_i, ch in enumerate(chains):
        idx = [pidx[f"a{suffix(ch[0])}"]]
        for u, v in zip(ch[:-1], ch[1:]):
            idx.append(pidx[f"d_{v + 1}{u + 1}"])
        idx.append(pidx[f"b{suffix(ch[-1])}"])
        nm = "indirect" if len(chains) == 1 else f"indirect_{c_i + 1}"
        path = " -> ".join([x] + [ms[j] for j in ch] + [y])
        ind_effects.append(_Effect(nm, path, [(1.0, tuple(idx))]))
    effects += ind_effects
    ind_names = [e.name for e in ind_effects]
    all_terms = [t for e in ind_effects for t in e.terms]
    if len(ind_effects) > 1:
        effects.append(_Effect("indirect", "total indirect", list(all_terms)))
    effects.append(_Effect("total", f"{x} -> {y} (direct + indirect)", [(1.0, (pidx["direct"],))] + all_terms))
    # lavaan syntax of the same model (for reference / mediate_latent on observed variables)
    for e in ind_effects:
        lines.append(f"{e.name} := " + "*".join(params[i][0] for i in e.terms[0][1]))
    lines.append("total := direct + " + " + ".join("*".join(params[i][0] for i in t[1]) for t in all_terms))
    return _PathModel(Z, names, eqs, params, effects), ind_names, "\n".join(lines)


def mediate(data: pd.DataFrame, x: str, m, y: str, covariates=(), serial: bool = False, n_boot: int = 5000,
            ci: str = "percentile", level: float = 0.95, seed: int | None = None, n_mc: int = 5000
            ) -> MediationResult:
    """Mediation of ``x -> m -> y`` on composite (observed) scores by OLS, with bootstrap, Monte Carlo and
    delta-method inference.

    Parameters
    ----------
    data : DataFrame
        Rows with a missing value on any variable used are dropped (``MediationResult.n_dropped``).
    x, y : str
        Predictor and outcome columns.
    m : str or list of str
        Mediator(s). Several mediators are parallel (each ``m_j ~ x``) unless ``serial=True``, in which case
        ``m_j`` is also regressed on ``m_1 .. m_{j-1}`` (Hayes' model 6) and every chain is an indirect effect.
    covariates : sequence of str
        Entered in every equation.
    n_boot : int
        Bootstrap draws (0: none). All statistics use the same resample indices (``result.boot_indices``).
    ci : {"percentile", "bc", "bca"}
        Bootstrap CI type (see the module docstring); BCa uses a closed-form jackknife for the acceleration.
    level : float
        Confidence level of all intervals.
    seed : int, optional
        Seed of the bootstrap indices and the Monte Carlo draws; ``None`` draws one and reports it in
        ``result.bootstrap["seed"]`` so that any run can be repeated.
    n_mc : int
        Monte Carlo draws for ``mc_lower`` / ``mc_upper`` (0: none).

    Effects: ``a``, ``b``, ``direct``, ``indirect``, ``total`` for one mediator; with several ``a_1, a_2, ...``,
    ``b_1, ...``, (serial: ``d_21`` = path m1 -> m2, ...), ``direct``, ``indirect_1, ...`` (one per chain, the
    ``path`` column spells it out), ``indirect`` (sum of the chains) and ``total``.

    R: ``lavaan::sem`` of the saturated path model with ``:=`` indirect effects and ``se = "bootstrap"``
    (tests/reference/models/mediation_reference.R); the point estimates are the OLS ones of ``psych::mediate`` and
    PROCESS model 4 (6 for serial mediators).
    """
    ms = _as_list(m, "m")
    covs = _as_list(covariates, "covariates")
    if not ms:
        raise ValueError("give at least one mediator")
    Z, dropped, names = _design(data, [x] + ms + [y] + covs)
    pm, ind_names, text = _path_model(Z, names, x, ms, y, covs, serial)
    return _run_composite(pm, n_boot, ci, level, seed, n_mc, direct="direct", indirect=ind_names,
                          model_text=text, n_dropped=dropped)


# ====================================================================== latent mediation
def latent_syntax(measurement: dict, x: str, m, y: str, covariates=(), serial: bool = False,
                  direct: bool = True) -> str:
    """lavaan syntax of a latent mediation model with the labels of :func:`mediate` (``a``, ``b``, ``direct``,
    ``indirect``, ``total`` / ``a_1`` ...). ``measurement`` maps each factor to its indicators; ``direct=False``
    fixes the direct path at 0 (full mediation).

    R: the syntax that ``lavaan::sem`` fits for a latent mediation model.
    """
    ms = _as_list(m, "m")
    k = len(ms)
    suf = (lambda j: "") if k == 1 else (lambda j: f"_{j + 1}")
    lines = [f"{f} =~ " + " + ".join(_as_list(ind, "indicators")) for f, ind in measurement.items()]
    for j, mm in enumerate(ms):
        terms = [f"a{suf(j)}*{x}"] + ([f"d_{j + 1}{i + 1}*{ms[i]}" for i in range(j)] if serial else [])
        lines.append(f"{mm} ~ " + " + ".join(terms + list(covariates)))
    lines.append(f"{y} ~ " + ("direct" if direct else "0") + f"*{x} + "
                 + " + ".join(f"b{suf(j)}*{mm}" for j, mm in enumerate(ms)) + "".join(f" + {c}" for c in covariates))
    chains = [(j,) for j in range(k)]
    if serial:
        for r in range(2, k + 1):
            chains += list(combinations(range(k), r))
    prods = []
    for c_i, ch in enumerate(chains):
        fac = [f"a{suf(ch[0])}"] + [f"d_{v + 1}{u + 1}" for u, v in zip(ch[:-1], ch[1:])] + [f"b{suf(ch[-1])}"]
        nm = "indirect" if len(chains) == 1 else f"indirect_{c_i + 1}"
        lines.append(f"{nm} := " + "*".join(fac))
        prods.append("*".join(fac))
    if len(chains) > 1:
        lines.append("indirect := " + " + ".join(prods))
    lines.append("total := " + ("direct + " if direct else "") + " + ".join(prods))
    return "\n".join(lines)


def _full_model(model: str, direct: str) -> str:
    """Fix the path labelled ``direct`` at 0 and put 0 for it in the := expressions."""
    pat = re.compile(rf"(?<![A-Za-z0-9_.]){re.escape(direct)}\s*\*")
    out = []
    found = False
    for line in model.splitlines():
        code, _, comment = line.partition("#")
        if ":=" in code:
            lhs, rhs = code.split(":=", 1)
            rhs = re.sub(rf"(?<![A-Za-z0-9_.]){re.escape(direct)}(?![A-Za-z0-9_.])", "0", rhs)
            code = f"{lhs}:={rhs}"
        else:
            code, nsub = pat.subn("0*", code)
            found |= nsub > 0
        out.append(code)
    if not found:
        raise ModelError(f"no path carries the label {direct!r} (write e.g. 'Y ~ {direct}*X + b*M')")
    return "\n".join(out)


class _LatentSetup:
    """Everything a worker needs to refit the model on a resample (picklable)."""

    def __init__(self, pt, X: np.ndarray, theta_hat: np.ndarray):
        import dataclasses
        self.pt = dataclasses.replace(pt, defined=[])  # compiled := code is not needed (nor picklable)
        self.X = X
        self.theta_hat = theta_hat


def _refit(setup: _LatentSetup, rows: np.ndarray) -> np.ndarray | None:
    from ..sem.fit import Engine, GroupData, estimate

    Xb = setup.X[rows]
    n = Xb.shape[0]
    mean = Xb.mean(axis=0)
    Xc = Xb - mean
    cov = Xc.T @ Xc / n
    try:
        eng = Engine(setup.pt, [GroupData(None, Xb, n, mean, cov)])
        est = estimate(eng, start=setup.theta_hat)  # warm start from the full-sample estimates
    except (ModelError, DataError, np.linalg.LinAlgError, ValueError, FloatingPointError):
        return None
    if not est.converged or not np.all(np.isfinite(est.theta)):
        return None
    return eng.row_values(est.theta)


def _refit_chunk(setup: _LatentSetup, chunk: np.ndarray) -> np.ndarray:
    out = np.full((len(chunk), len(setup.pt.rows)), np.nan)
    for i, rows in enumerate(chunk):
        v = _refit(setup, rows)
        if v is not None:
            out[i] = v
    return out


def _refit_many(setup: _LatentSetup, index_sets: np.ndarray, n_jobs: int, progress: bool | None,
                what: str) -> np.ndarray:
    """Row values (len(index_sets), nrows) of the refits, NaN rows for failures; parallel with joblib."""
    R = len(index_sets)
    t0 = time.perf_counter()
    first = _refit_chunk(setup, index_sets[:1])
    per = max(time.perf_counter() - t0, 1e-4)
    if R == 1:
        return first
    rest = index_sets[1:]
    try:
        from joblib import Parallel, delayed, effective_n_jobs
        jobs = effective_n_jobs(n_jobs)
    except ImportError:  # pragma: no cover - joblib is optional
        Parallel = None
        jobs = 1
    expected = per * len(rest) / max(jobs, 1)
    show = progress if progress is not None else expected > 3.0
    nchunks = max(1, min(len(rest), jobs * 8 if jobs > 1 else 20))
    chunks = np.array_split(rest, nchunks)
    results: list[np.ndarray] = []
    bar = None
    if show:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        bar = Progress(TextColumn(f"{what}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                       TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        bar.start()
        task = bar.add_task(what, total=R)
        bar.update(task, advance=1)
    try:
        if jobs > 1 and Parallel is not None:
            gen = Parallel(n_jobs=jobs, return_as="generator")(delayed(_refit_chunk)(setup, c) for c in chunks)
        else:
            gen = (_refit_chunk(setup, c) for c in chunks)
        for c, res in zip(chunks, gen):
            results.append(res)
            if bar is not None:
                bar.update(task, advance=len(c))
    finally:
        if bar is not None:
            bar.stop()
    return np.vstack([first] + results)


def _label_rows(pt) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, r in enumerate(pt.rows):
        if r["label"] and r["label"] not in out:
            out[r["label"]] = k
    return out


def _defined_matrix(pt, vals: np.ndarray) -> dict[str, np.ndarray]:
    """Labels and := parameters for a batch of row-value vectors (B, nrows), vectorised."""
    env = {lab: vals[:, k] for lab, k in _label_rows(pt).items()}
    funcs = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs}
    with np.errstate(all="ignore"):
        for d in pt.defined:
            v = eval(d.code, {"__builtins__": {}}, {**funcs, **env})  # noqa: S307 - compiled by vccscale.sem
            env[d.name] = np.broadcast_to(np.asarray(v, float), (vals.shape[0],)).copy()
    return env


@data_first("model", model_types=(str, Mapping), what="lavaan model syntax (a str) or a measurement dict")
def mediate_latent(data: pd.DataFrame, model, x: str | None = None, m=None, y: str | None = None,
                   covariates=(), serial: bool = False, direct: str | None = "direct", n_boot: int = 5000,
                   ci: str = "percentile", level: float = 0.95, seed: int | None = None, n_mc: int = 5000,
                   n_jobs: int = -1, progress: bool | None = None, compare_full: bool = True,
                   effects=None) -> MediationResult:
    """Mediation in a latent-variable (or any lavaan-syntax) model via :func:`vccscale.sem.fit_sem`.

    ``model`` is either lavaan syntax with labelled paths and ``:=`` defined effects (``direct`` names the label
    of the direct path, used for the full-mediation comparison; ``None`` skips it), or a dict mapping each factor
    to its indicators, in which case ``x``, ``m``, ``y`` name factors (or observed variables) and the syntax is
    generated with the labels of :func:`mediate` (see :func:`latent_syntax`).

    Effects reported: every labelled parameter and every ``:=`` parameter (``effects`` restricts them).
    Bootstrap refits are warm-started from the full-sample estimates and run in parallel (``n_jobs`` as joblib;
    a progress bar on stderr when expected to take more than ~3 s, or as ``progress``); failures (non-convergence)
    are dropped and counted. ``ci="bca"`` costs ``n`` extra jackknife refits. The full-mediation model (direct
    path fixed at 0) is fitted too and compared by a chi-square difference test (``result.mediation``).

    R: ``lavaan::sem(model, se = "bootstrap")`` with ``lavaan::parameterEstimates(boot.ci.type = ...)``.
    """
    from ..sem import fit_sem

    ci = _check_ci(ci, level)
    seed = _resolve_seed(seed)
    if isinstance(model, dict):
        if x is None or m is None or y is None:
            raise ValueError("with a measurement dict, give x, m and y")
        syntax = latent_syntax(model, x, m, y, covariates, serial)
        direct = "direct"
    elif isinstance(model, str):
        syntax = model
    else:
        raise TypeError("model must be lavaan syntax (str) or a dict factor -> indicators")
    fit = fit_sem(data, syntax)
    st = fit._state
    pt, theta_hat, V = st.pt, st.theta, st.vcov
    vals_hat = st.engine.row_values(theta_hat)
    X = st.engine.groups[0].X
    n = X.shape[0]
    est_tab = fit.estimates
    labels = list(_label_rows(pt))
    names = [lab for lab in labels] + [d.name for d in pt.defined]
    if effects is not None:
        names = [nm for nm in names if nm in set(effects)]
    if not names:
        raise ModelError("the model has no labelled or := parameters to report; label the paths (a*X) and define "
                         "the indirect effect (ind := a*b)")
    paths = {}
    for r in est_tab.itertuples():
        if r.label and r.label not in paths:
            paths[r.label] = f"{r.lhs} {r.op} {r.rhs}" if r.op != ":=" else r.rhs
    est0 = _defined_matrix(pt, vals_hat[None])
    est = np.array([est0[nm][0] for nm in names])
    delta = {}
    for r in est_tab.itertuples():
        key = r.label if r.label else None
        if key and key not in delta:
            delta[key] = r.se
    delta_se = np.array([delta.get(nm, np.nan) for nm in names])
    rng_b, rng_m = _streams(seed)
    t0 = time.perf_counter()
    setup = _LatentSetup(pt, X, theta_hat)
    idx = None
    draws = np.empty((0, len(names)))
    n_failed = 0
    if n_boot > 0:
        idx = rng_b.integers(0, n, size=(n_boot, n), dtype=np.int64)
        vb = _refit_many(setup, idx, n_jobs, progress, "bootstrap")
        ok = np.isfinite(vb).all(axis=1)
        env = _defined_matrix(pt, vb[ok])
        draws = np.column_stack([env[nm] for nm in names]) if ok.any() else np.empty((0, len(names)))
        n_failed = int((~ok).sum())
    accel = None
    if ci == "bca" and n_boot > 0:
        jk = np.array([np.delete(np.arange(n), i) for i in range(n)])
        vj = _refit_many(setup, jk, n_jobs, progress, "jackknife")
        okj = np.isfinite(vj).all(axis=1)
        envj = _defined_matrix(pt, vj[okj])
        accel = _accel(np.column_stack([envj[nm] for nm in names]))
    seconds = time.perf_counter() - t0
    mc = np.full((len(names), 2), np.nan)
    if n_mc:
        w, U = np.linalg.eigh((V + V.T) / 2)
        Lm = U * np.sqrt(np.clip(w, 0, None))
        th = theta_hat + rng_m.standard_normal((n_mc, len(theta_hat))) @ Lm.T
        vals = np.tile(st.engine.fixed, (n_mc, 1))
        free = st.engine.par >= 0
        vals[:, free] = th[:, st.engine.par[free]]
        env = _defined_matrix(pt, vals)
        mc = _mc_quantiles(np.column_stack([env[nm] for nm in names]), level)
    effs = [_Effect(nm, paths.get(nm, ""), []) for nm in names]
    frame = _effects_frame(effs, est, draws, delta_se, ci, level, accel, mc)
    boot = {"draws": int(n_boot), "ok": int(n_boot - n_failed), "failed": n_failed, "seed": seed, "ci": ci,
            "level": level, "n_mc": int(n_mc), "seconds": seconds, "warm_start": True}
    lnotes = list(fit.problems)
    if n_boot and n_failed / n_boot > FAILED_SHARE:
        lnotes.append(f"{n_failed} of {n_boot} bootstrap refits failed ({n_failed / n_boot:.0%}; more than "
                      f"{FAILED_SHARE:.0%}): the CIs rest on the remaining draws and may be biased")
    if n <= fit.fit["npar"]:
        lnotes.append(f"{n} cases for {int(fit.fit['npar'])} free parameters")
    res = MediationResult(effects=frame, bootstrap=boot, model=syntax, n=n, n_dropped=fit.n_dropped,
                          warnings=tuple(lnotes),
                          boot_draws=pd.DataFrame(draws, columns=names) if n_boot else None, boot_indices=idx,
                          fit=fit)
    if direct is not None and direct in labels:
        ind = [nm for nm in names if nm.startswith("ind") and nm in est0]
        reading = _reading(frame, direct, [i for i in ind if i in set(frame["name"])], level) if ind else {}
        if compare_full:
            full = fit_sem(data, _full_model(syntax, direct))
            d_chi = full.fit["chisq"] - fit.fit["chisq"]
            d_df = int(full.fit["df"] - fit.fit["df"])
            reading.update({"chisq_partial": fit.fit["chisq"], "df_partial": int(fit.fit["df"]),
                            "chisq_full": full.fit["chisq"], "df_full": int(full.fit["df"]), "chisq_diff": d_chi,
                            "df_diff": d_df, "p_diff": float(stats.chi2.sf(d_chi, d_df)),
                            "prefer": "partial" if stats.chi2.sf(d_chi, d_df) < 1 - level else "full"})
            res.fit_full = full
        res.mediation = reading
    return res
