"""Saturated normal mean and covariance of incomplete data by EM -- the one implementation in the package.

Used for FIML's saturated model (:func:`vccscale.sem.fit.prepare_groups`, lavaan's ``missing.h1``) and by
:func:`vccscale.clean.missing.em_mvn` (Little's MCAR test). The EM algorithm (Dempster, Laird & Rubin 1977) for
the multivariate normal under MAR, started as lavaan's ``lav_mvnorm_missing_h1_estimate_moments`` (available-case
means and variances, zero covariances).

Convergence is unit-free: the largest change of a mean relative to its standard deviation, or of a covariance
relative to the product of the two standard deviations, between two iterations, below ``tol``. (lavaan stops at
an absolute change of 1e-5, which is loose for data in small units and never reached for data in large ones.) The
data are centred at the available-case means first, so large means do not cost precision. Each missing-data
pattern enters through its count, mean and covariance only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EMResult", "em_moments", "missing_patterns", "pattern_codes", "EM_TOL", "EM_MAX_ITER"]

#: largest relative change of the moments at which EM has converged
EM_TOL = 1e-10
#: iteration cap; a run that reaches it is returned with ``converged = False``
EM_MAX_ITER = 5000


@dataclass
class EMResult:
    mean: np.ndarray
    cov: np.ndarray
    iterations: int
    converged: bool
    delta: float  # the last relative change
    tol: float = EM_TOL

    def __iter__(self):  # mean, cov = em_moments(...)
        return iter((self.mean, self.cov))

    def warning(self, where: str = "") -> str | None:
        """The message callers surface when EM stopped at the iteration cap (None when it converged)."""
        if self.converged:
            return None
        return (f"the EM estimates of the saturated means and covariances{where} did not converge in "
                f"{self.iterations} iterations (last relative change {self.delta:.2g}, tolerance {self.tol:g}); "
                "what is built on them (the FIML chi-square and fit indices, Little's MCAR test) is approximate. "
                "Often variables that are rarely observed together")


def pattern_codes(X: np.ndarray) -> np.ndarray:
    """The missing-data pattern of every row of ``X`` as an integer code (0, 1, ... in the order of the patterns'
    sorted bit keys, as :func:`missing_patterns` lists them)."""
    obs = np.isfinite(X)
    packed = np.ascontiguousarray(np.packbits(obs, axis=1))
    view = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    return np.asarray(np.unique(view, return_inverse=True)[1]).ravel()


def missing_patterns(X: np.ndarray, moments: bool = True, codes: np.ndarray | None = None) -> list[dict]:
    """Missing-data patterns of ``X`` (NaN = missing): observed column indices ``o``, the row indices, the rows'
    observed values ``X``, their count ``n`` and (``moments``) their mean / covariance (divisor n). ``codes``: the
    rows' pattern codes when known (e.g. a resample's rows, from the full sample's :func:`pattern_codes`; any
    integers that are equal exactly for rows of one pattern): the patterns are then taken from them, in the order
    of the codes, instead of from the bit keys of ``X``."""
    if codes is None:
        codes = pattern_codes(X)
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    keys = np.isfinite(X[first])
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(keys.shape[0] + 1))
    out = []
    for k in range(keys.shape[0]):
        rows = order[bounds[k]:bounds[k + 1]]
        o = np.flatnonzero(keys[k])
        Xo = X[np.ix_(rows, o)]
        pt = {"o": o, "rows": rows, "X": Xo, "n": len(rows)}
        if moments:
            m = Xo.mean(axis=0)
            pt["mean"], pt["cov"] = m, (Xo - m).T @ (Xo - m) / len(rows)
        out.append(pt)
    return out


def em_moments(patterns: list[dict], p: int, tol: float = EM_TOL, max_iter: int = EM_MAX_ITER) -> EMResult:
    """Saturated ML mean and covariance (divisor n) under MAR from the missing-data ``patterns`` of
    :func:`missing_patterns` (patterns without any observed variable must be left out). Returns an
    :class:`EMResult`; ``converged`` is False when ``max_iter`` was reached (callers warn)."""
    pats = [pt for pt in patterns if len(pt["o"])]
    n = sum(pt["n"] for pt in pats)
    # start (lavaan): available-case means and variances, zero covariances
    s1, cnt = np.zeros(p), np.zeros(p)
    for pt in pats:
        s1[pt["o"]] += pt["n"] * pt["mean"]
        cnt[pt["o"]] += pt["n"]
    with np.errstate(invalid="ignore", divide="ignore"):
        center = s1 / cnt
    s2 = np.zeros(p)
    for pt in pats:
        o = pt["o"]
        s2[o] += pt["n"] * (np.diag(pt["cov"]) + (pt["mean"] - center[o]) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        var0 = s2 / cnt
    var0 = np.where(np.isfinite(var0) & (var0 > 0), var0, 1.0)
    # per pattern: observed indices, missing indices, count, centred mean and raw second moment
    stats = []
    for pt in pats:
        o = pt["o"]
        m_o = pt["mean"] - center[o]
        stats.append((o, np.setdiff1d(np.arange(p), o), pt["n"], m_o, pt["cov"] + np.outer(m_o, m_o)))
    mu, Sig = np.zeros(p), np.diag(var0)
    delta, it, converged = np.inf, 0, False
    for it in range(1, max_iter + 1):
        T1, T2 = np.zeros(p), np.zeros((p, p))
        for o, m_, k, m_o, M2 in stats:
            if len(m_) == 0:
                T1 += k * m_o
                T2 += k * M2
                continue
            B = np.linalg.solve(Sig[np.ix_(o, o)], Sig[np.ix_(o, m_)]).T  # Sig_mo Sig_oo^-1
            c = mu[m_] - B @ mu[o]  # E[y_m | y_o] = c + B y_o
            ym = c + B @ m_o
            BM = B @ M2
            T1[o] += k * m_o
            T1[m_] += k * ym
            T2[np.ix_(o, o)] += k * M2
            cross = k * (np.outer(c, m_o) + BM)  # sum of E[y_m] y_o'
            T2[np.ix_(m_, o)] += cross
            T2[np.ix_(o, m_)] += cross.T
            Bm = B @ m_o
            T2[np.ix_(m_, m_)] += k * (np.outer(c, c) + np.outer(c, Bm) + np.outer(Bm, c) + BM @ B.T
                                       + Sig[np.ix_(m_, m_)] - B @ Sig[np.ix_(o, m_)])
        mu_new = T1 / n
        Sig_new = T2 / n - np.outer(mu_new, mu_new)
        Sig_new = (Sig_new + Sig_new.T) / 2
        sd = np.sqrt(np.clip(np.diag(Sig_new), np.finfo(float).tiny, None))
        delta = float(max(np.max(np.abs(mu_new - mu) / sd), np.max(np.abs(Sig_new - Sig) / np.outer(sd, sd))))
        mu, Sig = mu_new, Sig_new
        if delta < tol:
            converged = True
            break
    return EMResult(mu + center, Sig, it, converged, delta, tol)
