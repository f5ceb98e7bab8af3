"""Composite path models: the machinery shared by :mod:`vccscale.models.mediation` and
:mod:`vccscale.models.moderation`.

A composite path model is a set of OLS equations on observed (composite) scores -- the ML solution of the
saturated path model with ``fixed.x = TRUE`` in lavaan -- whose parameters are named coefficients and whose effects
are polynomials in them (:class:`Effect`: ``a*b``, ``a + a_xw*w``). :func:`design_matrix` builds the complete-case
design ``Z = [1, columns..., products...]``; :class:`Equation` names an outcome column and its predictor columns;
:class:`PathModel` holds equations, parameters and effects and gives estimates and the ML (lavaan) covariance of
the parameters; :func:`run_composite` fits it and adds the vectorised bootstrap (one ``(B, n)`` matrix of resample
counts, batched solves), the jackknife acceleration for BCa, delta-method SEs and Monte Carlo CIs, returning a
:class:`MediationResult`.

The bootstrap CI helpers (:func:`norm_inter`, :func:`boot_ci`, :func:`jackknife_acceleration`,
:func:`mc_quantiles`) and the seed handling (:func:`resolve_seed`, :func:`random_streams`, :func:`boot_indices`)
are shared with the latent mediation of :func:`vccscale.models.mediate_latent`. See
:mod:`vccscale.models.mediation` for the definitions of the reported columns.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from ..sem._dist import norm_cdf, norm_ppf, norm_sf

__all__ = ["CI_TYPES", "MIN_RESIDUAL_DF", "SMALL_N", "FAILED_SHARE", "norm_inter", "jackknife_acceleration",
           "boot_ci", "mc_quantiles", "resolve_seed", "random_streams", "boot_indices", "check_ci",
           "MediationResult", "Effect", "eval_effects", "Equation", "design_matrix", "cross_products",
           "resample_counts", "solve_equations", "PathModel", "coefficient_table", "run_composite",
           "effects_frame", "ci_includes_zero", "mediation_reading", "as_list"]

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
            q1, q2, q3 = norm_ppf(al), norm_ppf(k / (R + 1)), norm_ppf((k + 1) / (R + 1))
            out[i] = t[k - 1] + (q1 - q2) / (q3 - q2) * (t[k] - t[k - 1])
    return out


def jackknife_acceleration(jack: np.ndarray) -> np.ndarray:
    """Jackknife acceleration per column: sum(L^3) / (6 sum(L^2)^1.5), L = mean - leave-one-out estimate.

    No R equivalent as a function; the BCa acceleration of ``boot::boot.ci(type = "bca")``
    (checked in tests/test_mediation.py against the closed form).
    """
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
    z = norm_ppf(alpha)
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
            w = norm_ppf(np.sum(t < est[j]) / len(t))
        a = 0.0 if method == "bc" else float(accel[j])
        adj = norm_cdf(w + (w + z) / (1 - a * (w + z)))
        out[j] = norm_inter(t, adj)
    return out


def mc_quantiles(draws: np.ndarray, level: float) -> np.ndarray:
    """No R equivalent (Monte Carlo CI quantiles, ``stats::quantile`` type 7)."""
    alpha = [(1 - level) / 2, (1 + level) / 2]
    return np.nanquantile(draws, alpha, axis=0).T


def resolve_seed(seed) -> int:
    """No R equivalent (argument helper)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2 ** 63))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    raise TypeError(f"seed must be an int or None, not {type(seed).__name__}")


def random_streams(seed: int):
    """Independent generators for the bootstrap indices and the Monte Carlo draws (so n_mc never changes the
    resamples).

    No R equivalent (seeded numpy streams).
    """
    ss = np.random.SeedSequence(seed)
    b, m = ss.spawn(2)
    return np.random.default_rng(b), np.random.default_rng(m)


def boot_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The ``(n_boot, n)`` resample indices used by :func:`mediate` / :func:`mediate_latent` for ``seed``.

    No R equivalent (the shared resample indices; lavaan's ``lavaan::bootstrapLavaan`` draws its own).
    """
    rng, _ = random_streams(seed)
    return rng.integers(0, n, size=(n_boot, n), dtype=np.int64)


def check_ci(ci: str, level: float) -> str:
    """No R equivalent (argument helper)."""
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
class Effect:
    """An effect as a polynomial in the parameter vector: sum of coef * prod(theta[idx]).

    No R equivalent (internal: an effect as a function of the path coefficients; the effects it builds are checked
    against lavaan's ``:=`` parameters in tests/reference/models/mediation_reference.R).
    """

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


def eval_effects(effects: list[Effect], theta: np.ndarray) -> np.ndarray:
    """No R equivalent (internal: evaluates effects at coefficient draws)."""
    return np.stack([e.value(theta) for e in effects], axis=-1)


# ====================================================================== batched OLS
@dataclass
class Equation:
    """No R equivalent (internal: one regression equation of the path model; its OLS coefficients are checked
    against ``stats::lm``)."""
    outcome: int  # column of Z
    predictors: list[int]  # columns of Z (0 = intercept)
    outcome_name: str = ""
    predictor_names: list[str] = field(default_factory=list)


def design_matrix(data: pd.DataFrame, columns: list[str], products: dict | None = None) -> tuple[np.ndarray, int, list[str]]:
    """Z = [1, columns..., products...] on complete cases; returns Z, n_dropped, names.

    No R equivalent (internal: the design matrix with product terms, as ``stats::model.matrix``).
    """
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


def cross_products(Z: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Z'Z (K x K) or, for weights (B, n), the batch of weighted cross-products (B, K, K) via one GEMM.

    No R equivalent (internal: weighted cross-products Z'WZ; checked through ``mediate`` against ``stats::lm``).
    """
    n, K = Z.shape
    if weights is None:
        return Z.T @ Z
    ZZ = (Z[:, :, None] * Z[:, None, :]).reshape(n, K * K)
    return (weights @ ZZ).reshape(-1, K, K)


def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """No R equivalent (bootstrap case counts)."""
    B = idx.shape[0]
    flat = (idx + (np.arange(B) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=B * n).reshape(B, n).astype(float)


def solve_equations(C: np.ndarray, n_cases, eqs: list[Equation]):
    """Batched OLS from cross-products. C: (B, K, K). Returns coefs list per equation (B, p_e), residual
    variances (B,) per equation (divisor n, ML) and a failed mask (B,).

    No R equivalent (internal: OLS of every equation from the cross-products, as ``stats::lm``).
    """
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
class PathModel:
    """Equations, the parameter vector (named coefficients) and the effects of a composite path model.

    No R equivalent (internal: the composite path model that ``mediate`` and ``moderated_mediation`` fit; checked
    through them against ``lavaan::sem``).
    """

    Z: np.ndarray
    names: list[str]
    eqs: list[Equation]
    params: list[tuple[str, int, int, str]]  # (name, eq index, position in predictors, "lhs ~ rhs")
    effects: list[Effect]

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
        coefs, sig2, invs, failed = solve_equations(C, n_cases, self.eqs)
        return self.theta(coefs), coefs, sig2, invs, failed


def coefficient_table(pm: PathModel, coefs, sig2, invs) -> pd.DataFrame:
    """No R equivalent (internal: the OLS coefficient table, as ``summary(lm(...))$coefficients``)."""
    recs = []
    for k, e in enumerate(pm.eqs):
        se = np.sqrt(np.clip(sig2[k][0] * np.diag(invs[k][0]), 0, None))
        for j, p in enumerate(e.predictors):
            lab = next((nm for nm, ei, pi, _ in pm.params if ei == k and pi == j), "")
            recs.append({"lhs": pm.names[e.outcome], "op": "~", "rhs": pm.names[p], "label": lab,
                         "est": float(coefs[k][0, j]), "se": float(se[j])})
    return pd.DataFrame.from_records(recs)


def run_composite(pm: PathModel, n_boot: int, ci: str, level: float, seed, n_mc: int, *, direct: str | None,
                   indirect: list[str], model_text: str, n_dropped: int) -> MediationResult:
    """No R equivalent (internal: fits the composite path model with bootstrap and Monte Carlo CIs; checked
    through ``mediate`` against ``lavaan::sem(se = "bootstrap")``)."""
    ci = check_ci(ci, level)
    seed = resolve_seed(seed)
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
    C0 = cross_products(Z)[None]
    theta_hat, coefs, sig2, invs, failed0 = pm.estimates(C0, n)
    if failed0[0]:
        raise DataError("the predictors are (nearly) linearly dependent in the full sample; the regressions are "
                        "not estimable")
    theta_hat = theta_hat[0]
    V = pm.vcov(sig2, invs, C0[0], coefs)
    est = eval_effects(pm.effects, theta_hat)
    J = np.stack([e.grad(theta_hat) for e in pm.effects])
    delta_se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, V, J), 0, None))
    t0 = time.perf_counter()
    rng_b, rng_m = random_streams(seed)
    idx = None
    draws = np.empty((0, len(pm.effects)))
    n_failed = 0
    if n_boot > 0:
        idx = rng_b.integers(0, n, size=(n_boot, n), dtype=np.int64)
        Cb = cross_products(Z, resample_counts(idx, n))
        th_b, _, _, _, fb = pm.estimates(Cb, n)
        draws = eval_effects(pm.effects, th_b)
        fb |= ~np.isfinite(draws).all(axis=1)
        n_failed = int(fb.sum())
        draws = draws[~fb]
    accel = None
    if ci == "bca" and n_boot > 0:
        # closed-form jackknife: leave-one-out cross-products C - z_i z_i'
        Cj = C0 - Z[:, :, None] * Z[:, None, :]
        th_j, _, _, _, _ = pm.estimates(Cj, n - 1)
        accel = jackknife_acceleration(eval_effects(pm.effects, th_j))
    seconds = time.perf_counter() - t0
    mc = np.full((len(pm.effects), 2), np.nan)
    if n_mc:
        L = np.linalg.cholesky(V + 1e-300 * np.eye(len(V))) if np.all(np.linalg.eigvalsh(V) > 0) else None
        zs = rng_m.standard_normal((n_mc, len(theta_hat)))
        th_mc = theta_hat + (zs @ L.T if L is not None else zs * np.sqrt(np.clip(np.diag(V), 0, None)))
        mc = mc_quantiles(eval_effects(pm.effects, th_mc), level)
    effects = effects_frame(pm.effects, est, draws, delta_se, ci, level, accel, mc)
    boot = {"draws": int(n_boot), "ok": int(n_boot - n_failed), "failed": n_failed, "seed": seed, "ci": ci,
            "level": level, "n_mc": int(n_mc), "seconds": seconds}
    if n_boot and n_failed / n_boot > FAILED_SHARE:
        notes.append(f"{n_failed} of {n_boot} bootstrap draws failed ({n_failed / n_boot:.0%}; more than "
                     f"{FAILED_SHARE:.0%}): the CIs rest on the remaining draws and may be biased")
    res = MediationResult(effects=effects, bootstrap=boot, model=model_text, n=n, n_dropped=n_dropped,
                          warnings=tuple(notes),
                          coefficients=coefficient_table(pm, coefs, sig2, invs),
                          boot_draws=pd.DataFrame(draws, columns=[e.name for e in pm.effects]) if n_boot else None,
                          boot_indices=idx)
    if direct is not None:
        res.mediation = mediation_reading(effects, direct, indirect, level)
    return res


def effects_frame(effs: list[Effect], est, draws, delta_se, ci, level, accel, mc) -> pd.DataFrame:
    """No R equivalent (internal: assembles the effects table of ``MediationResult``)."""
    if len(draws) >= 2:
        se = np.std(draws, axis=0, ddof=1)
        cis = boot_ci(draws, est, ci, level, accel)
    else:
        se = np.full(len(effs), np.nan)
        cis = np.full((len(effs), 2), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(delta_se > 0, est / delta_se, np.nan)
    p = 2 * norm_sf(np.abs(z))
    return pd.DataFrame({"name": [e.name for e in effs], "path": [e.path for e in effs], "est": est, "se": se,
                         "ci_lower": cis[:, 0], "ci_upper": cis[:, 1], "pvalue": p, "delta_se": delta_se, "z": z,
                         "mc_lower": mc[:, 0], "mc_upper": mc[:, 1]})


def ci_includes_zero(row) -> bool | None:
    """No R equivalent (reads a CI row)."""
    lo, hi = row["ci_lower"], row["ci_upper"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return bool(lo <= 0 <= hi)


def mediation_reading(effects: pd.DataFrame, direct: str, indirect: list[str], level: float) -> dict:
    """No R equivalent (the full / partial mediation reading from the CIs, Zhao, Lynch & Chen 2010)."""
    d = effects.set_index("name")
    direct_zero = ci_includes_zero(d.loc[direct])
    ind_zero = {k: ci_includes_zero(d.loc[k]) for k in indirect}
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


def as_list(v, what) -> list[str]:
    """No R equivalent (argument helper)."""
    if isinstance(v, str):
        return [v]
    v = list(v)
    if not all(isinstance(s, str) for s in v):
        raise TypeError(f"{what} must be column names")
    return v
