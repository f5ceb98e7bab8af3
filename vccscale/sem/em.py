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

__all__ = ["EMResult", "RowBlocks", "em_moments", "missing_patterns", "pattern_codes", "weighted_moments", "EM_TOL",
           "EM_MAX_ITER"]

#: largest relative change of the moments at which EM has converged
EM_TOL = 1e-10
#: iteration cap; a run that reaches it is returned with ``converged = False``
EM_MAX_ITER = 5000
#: an iterate in which some variable's variance unexplained by the variables before it (1 - R^2, from the Cholesky
#: factor the step computes anyway; unit-free) is below this is singular: EM stops there, not converged. Where the
#: observed-data likelihood is unbounded (e.g. variables observed together by fewer rows than there are of them)
#: EM runs off towards a singular matrix and would otherwise overflow thousands of steps later
EM_SINGULAR = 1e-12
#: every this many steps the iterate's correlation matrix is checked: a smallest eigenvalue below
#: :data:`EM_SINGULAR_EIG` (the bound below which :func:`vccscale.sem.fit.prepare_groups` refuses the EM estimate as
#: not positive definite) stops EM as singular. Where the likelihood's maximum is on the boundary (rows answering
#: variables together too few for their number) EM creeps along it at a change of ~1e-6 per step and would run to
#: the iteration cap (5000 steps, about 1 s at 12 variables) for an estimate that is refused anyway
EM_SINGULAR_EVERY = 25
EM_SINGULAR_EIG = 1e-10


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
        if not np.isfinite(self.delta):
            return (f"the EM estimates of the saturated means and covariances{where} stopped after {self.iterations} "
                    "iterations at a singular covariance matrix (not converged); what is built on them (the FIML "
                    "chi-square and fit indices, Little's MCAR test) is not available. Often fewer cases than "
                    "variables, or variables that are rarely observed together")
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


def missing_patterns(X: np.ndarray, moments: bool = True, codes: np.ndarray | None = None,
                     values: bool = True) -> list[dict]:
    """Missing-data patterns of ``X`` (NaN = missing): observed column indices ``o``, the row indices, the rows'
    observed values ``X`` (not with ``values=False``: a resample's likelihood needs only the rows), their count
    ``n`` and (``moments``) their mean / covariance (divisor n). ``codes``: the
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
        pt = {"o": o, "rows": rows, "n": len(rows)}
        if not (values or moments):
            out.append(pt)
            continue
        Xo = pt["X"] = X[np.ix_(rows, o)]
        if moments:
            m = Xo.mean(axis=0)
            pt["mean"], pt["cov"] = m, (Xo - m).T @ (Xo - m) / len(rows)
        out.append(pt)
    return out


def weighted_moments(X: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(total weight, weighted mean, weighted covariance with divisor the total) of the rows of ``X`` with the
    frequency weights ``w`` (a resample's draw counts; the total must be positive)."""
    tot = float(w.sum())
    mean = w @ X / tot
    d = X - mean
    return tot, mean, (d * w[:, None]).T @ d / tot


class RowBlocks:
    """Incomplete rows arranged for the Schur-complement algebra that EM and FIML share.

    With W = Sigma^-1 and a row missing the variables m, the regression of the missing on the observed values is
    E[y_m - mu_m | y_o] = -W_mm^-1 W_m. e (e: the row's deviations from mu, 0 at m) and Cov(y_m | y_o) = W_mm^-1;
    Sigma_oo^-1 embedded in p x p is W - W S W (S: W_mm^-1 at (m, m), 0 elsewhere) and log|Sigma_oo| = log|Sigma|
    + log|W_mm|. :meth:`complete` returns, for all rows at once, the completed deviations D = E - U (U: the
    conditional means' negatives at the missing cells, from one small inverse per pattern), Q = sum over rows of S
    (the conditional covariances) and sum log|W_mm|: EM's expected sums are D'D + Q and D, FIML's residuals
    z = P e are D W. Patterns are batched by their number of missing variables rounded up to a power of two
    (padding the inverses with identity blocks: pad variables p, p + 1, ... of unit variance), so the work is a few
    array operations whatever the number of patterns. The rows of the complete pattern enter through their count,
    mean and covariance when there are at least p of them (``complete_X``: those rows, centred; ``complete_n``,
    ``complete_mean``, ``complete_m2``); with ``big``, so do the rows of every incomplete pattern of at least ``big``
    rows (listed in ``big_patterns`` with ``o``, ``n``, ``mean`` and ``m2``, their covariance with divisor n, and
    left out of the rows and batches: only a consumer that handles them, the FIML likelihood, asks for them).

    ``patterns``: dicts with ``o`` (observed columns), ``rows`` (indices into ``X``) and ``n``, as
    :func:`missing_patterns` lists them (patterns without an observed variable must be left out).

    ``w``: None, or (a copy from :meth:`reweighted`) the frequency weights of ``rows``: counts, the big patterns'
    and complete rows' moments and ``nobs`` are then weighted, and a consumer weights its row sums by ``w`` (the
    FIML likelihood does; nothing else takes weighted blocks)."""

    w: np.ndarray | None = None

    def __init__(self, X: np.ndarray, patterns: list[dict], center: np.ndarray | None = None,
                 big: int | None = None):
        N, p = X.shape
        self.p = p
        J = len(patterns)
        pid = np.full(N, -1)
        nj, kj, first = np.zeros(J, dtype=int), np.zeros(J, dtype=int), np.zeros(J, dtype=int)
        for j, pt in enumerate(patterns):
            pid[pt["rows"]] = j
            nj[j], kj[j], first[j] = pt["n"], p - len(pt["o"]), pt["rows"][0]
        shift = 0.0 if center is None else center
        self.complete_n = 0
        self.complete_mean = self.complete_m2 = None
        moments = np.flatnonzero((kj == 0) & (nj >= p))[:1]
        if len(moments):  # the complete rows, through their count, mean and covariance
            Xc = self.complete_X = X[patterns[moments[0]]["rows"]] - shift
            self.complete_n = len(Xc)
            self.complete_mean = Xc.mean(axis=0)
            d = Xc - self.complete_mean
            self.complete_m2 = d.T @ d / len(Xc)
            pid[pid == moments[0]] = -1
        self.big_patterns = []
        kj_rows = kj.copy()  # the rows' patterns (big ones leave the batches)
        for j in (np.flatnonzero((kj > 0) & (nj >= big)) if big is not None else ()):
            kj_rows[j] = 0
            pt = patterns[j]
            Xo = (X[pt["rows"]] - shift)[:, pt["o"]]
            mean = Xo.mean(axis=0)
            dev = Xo - mean
            self.big_patterns.append({"o": pt["o"], "n": int(pt["n"]), "mean": mean, "m2": dev.T @ dev / pt["n"],
                                      "rows": pt["rows"], "X": Xo})
            pid[pid == j] = -1
        rows = np.flatnonzero(pid >= 0)
        self.rows = rows  # the rows of X taken row by row (those of E and D), in this order
        self.complete_rows = patterns[moments[0]]["rows"] if len(moments) else np.zeros(0, dtype=int)
        prow = pid[rows]
        Xr = X[rows] - shift
        obs = np.isfinite(Xr)
        self.n = len(rows)
        kb_j = np.array([0 if k == 0 else 1 << int(k - 1).bit_length() for k in kj_rows], dtype=int)  # power of 2
        sizes = sorted(set(kb_j[np.unique(prow)].tolist()) - {0}) if len(prow) else []
        self.P = P = p + (max(sizes) if sizes else 0)  # the variables and the pad variables
        self.E0 = np.zeros((self.n, P))
        self.E0[:, :p] = np.where(obs, Xr, 0.0)
        self.obs = np.zeros((self.n, P))
        self.obs[:, :p] = obs
        self.nobs = int(obs.sum()) + self.complete_n * p
        # each pattern's missing variables (first in a stable sort of its observed flags), then the pads
        order = np.argsort(np.isfinite(X[first]), axis=1, kind="stable") if J else np.zeros((0, p), dtype=int)
        self.buckets = []
        for kb in sizes:
            sel = np.flatnonzero(kb_j == kb)
            loc = np.full(J, -1)
            loc[sel] = np.arange(len(sel))
            r = np.flatnonzero(loc[prow] >= 0)
            if not len(r):
                continue
            col = np.arange(kb)
            M = np.full((len(sel), kb), 0)
            w = min(kb, p)
            M[:, :w] = order[sel, :w]
            M = np.where(col[None, :] < kj[sel, None], M, p + col[None, :])
            pidb = loc[prow[r]]
            qidx = (M[:, :, None] * P + M[:, None, :]).ravel()
            self.buckets.append((kb, M, nj[sel].astype(float), r, pidb, M[pidb], qidx))

    def reweighted(self, counts: np.ndarray) -> RowBlocks:
        """A copy for the data in which row i of the ``X`` these blocks were built from appears ``counts[i]`` times
        (a bootstrap resample's draw counts): the rows of weight 0 left out, the others weighted (``w``), the
        patterns' counts, the complete rows' and big patterns' moments and ``nobs`` recomputed. The likelihood and
        its gradient from it equal those of the resample's own blocks (the structure is built once per data set
        instead of once per resample)."""
        import copy

        new = copy.copy(self)
        counts = np.asarray(counts, dtype=float)
        w_all = counts[self.rows]
        keep = np.flatnonzero(w_all > 0)
        newpos = np.full(len(self.rows), -1)
        newpos[keep] = np.arange(len(keep))
        new.rows, new.w, new.E0, new.obs = self.rows[keep], w_all[keep], self.E0[keep], self.obs[keep]
        new.n = float(new.w.sum())
        new.buckets = []
        for kb, M, _cnt, r, pidb, _Mr, qidx in self.buckets:
            sel = w_all[r] > 0
            if sel.any():
                pn = pidb[sel]
                cn = np.bincount(pn, weights=w_all[r[sel]], minlength=len(M))
                new.buckets.append((kb, M, cn, newpos[r[sel]], pn, M[pn], qidx))

        new.complete_n, new.complete_mean, new.complete_m2 = 0, None, None
        if self.complete_n:
            wc = counts[self.complete_rows]
            if wc.sum() > 0:
                new.complete_n, new.complete_mean, new.complete_m2 = weighted_moments(self.complete_X, wc)
        new.big_patterns = []
        for bp in self.big_patterns:
            wb = counts[bp["rows"]]
            if wb.sum() > 0:
                nb, mean, m2 = weighted_moments(bp["X"], wb)
                new.big_patterns.append({**bp, "n": nb, "mean": mean, "m2": m2})
        new.nobs = float(new.w @ new.obs[:, :self.p].sum(axis=1)) + new.complete_n * self.p
        return new

    def padded(self, W: np.ndarray) -> np.ndarray:
        """``W`` (p x p) extended by the pad variables (P x P, identity there)."""
        Wp = np.eye(self.P)
        Wp[:self.p, :self.p] = W
        return Wp

    def complete(self, W: np.ndarray, mu: np.ndarray):
        """At Sigma^-1 = ``W`` and mean ``mu`` (in the centred units of the constructor): (E, D, Q, ld) with E the
        rows' deviations (0 at missing cells), D the completed deviations, Q the summed conditional covariances
        (p x p) and ld = sum over rows of log|W_mm| (rows of the complete pattern and the ``moments`` excluded:
        they contribute neither to D nor to Q nor to ld)."""
        p, P = self.p, self.P
        mup = np.zeros(P)
        mup[:p] = mu
        E = self.E0 - self.obs * mup
        Wp = self.padded(W)
        Y = E @ Wp
        U = np.zeros_like(E)
        Qf = np.zeros(P * P)
        ld = 0.0
        for kb, M, cnt, r, pid, cols, qidx in self.buckets:
            if kb == 1:
                m, c = M[:, 0], cols[:, 0]
                Minv = 1.0 / Wp[m, m]
                ld -= float(cnt @ np.log(Minv))
                U[r, c] = Y[r, c] * Minv[pid]
                w = cnt * Minv
            else:
                Wmm = Wp[M[:, :, None], M[:, None, :]]
                Minv = np.linalg.inv(Wmm)
                ld += float(cnt @ np.linalg.slogdet(Wmm)[1])
                r2 = r[:, None]
                U[r2, cols] = np.einsum("ikl,il->ik", Minv[pid], Y[r2, cols])
                w = (cnt[:, None, None] * Minv).ravel()
            Qf += np.bincount(qidx, weights=w, minlength=Qf.size)
        return E[:, :p], (E - U)[:, :p], Qf.reshape(P, P)[:p, :p], ld

    def factors(self, W: np.ndarray, chunk: int | None = 2_000_000):
        """Per batch of patterns: (M, cnt, R, bucket) with M the patterns' missing variables (padded), cnt their
        row counts, R (J, kb, kb) the inverse Cholesky factors of W_mm, so that W_mm^-1 = R'R (pads: identity),
        and ``bucket`` the batch's entry of ``buckets`` (its rows). ``chunk``: at most about chunk / (kb^2 p)
        patterns at a time (None: each batch whole)."""
        p, Wp = self.p, self.padded(W)
        for bucket in self.buckets:
            kb, M, cnt = bucket[:3]
            step = len(M) if chunk is None else max(1, chunk // (kb * kb * max(p, 1)))
            for a in range(0, len(M), step):
                Mc = M[a:a + step]
                if kb == 1:
                    R = (1.0 / np.sqrt(Wp[Mc[:, 0], Mc[:, 0]]))[:, None, None]
                else:
                    R = np.linalg.inv(np.linalg.cholesky(Wp[Mc[:, :, None], Mc[:, None, :]]))
                yield Mc, cnt[a:a + step], R, bucket


def em_moments(patterns: list[dict], p: int, tol: float = EM_TOL, max_iter: int = EM_MAX_ITER,
               accelerate: bool = True) -> EMResult:
    """Saturated ML mean and covariance (divisor n) under MAR from the missing-data ``patterns`` of
    :func:`missing_patterns` (patterns without any observed variable must be left out). Returns an
    :class:`EMResult`; ``converged`` is False when ``max_iter`` EM steps were reached (callers warn).

    Each EM step is one :meth:`RowBlocks.complete`: the expected sums of the completed data are D'D + Q and D
    (plus the count, mean and covariance of the complete rows). With ``accelerate`` (default) the steps are
    extrapolated by SQUAREM (Varadhan & Roland 2008, scheme S3: two EM steps, a step of length |alpha| >= 1 along
    them, one EM step from there), kept only when the observed-data log-likelihood does not fall below that of
    the cycle's start (else the two plain steps are kept): EM converges slowly when much information is missing
    (hundreds of steps), SQUAREM in a fraction of them. Either way the run stops at the first plain EM step that
    changes no mean by more than ``tol`` standard deviations and no covariance by more than ``tol`` times the
    product of the two (unit-free), and returns that step's result; ``iterations`` counts EM steps. A run whose
    iterate becomes singular (:data:`EM_SINGULAR`, checked every step, and :data:`EM_SINGULAR_EIG`, every
    :data:`EM_SINGULAR_EVERY` steps) stops there with ``converged`` False and ``delta`` NaN."""
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
    X = np.full((n, p), np.nan)
    local, start = [], 0
    for pt in pats:  # the patterns' rows, stacked (the patterns carry their observed values)
        X[start:start + pt["n"], pt["o"]] = pt["X"]
        local.append({"o": pt["o"], "n": pt["n"], "rows": np.arange(start, start + pt["n"])})
        start += pt["n"]
    blocks = RowBlocks(X, local, center=np.where(np.isfinite(center), center, 0.0))
    n0, m0, S0 = blocks.complete_n, blocks.complete_mean, blocks.complete_m2
    steps = 0

    def em_step(mu, Sig, loglik: bool = False):
        """One EM step from (mu, Sig): (mu', Sig', observed-data log-likelihood at (mu, Sig) up to a constant, or
        None). Raises LinAlgError when Sig is not positive definite or the step is not finite (the iterates run
        off to a singular matrix: an unbounded likelihood, e.g. a pattern with fewer rows than variables)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = _em_step(mu, Sig, loglik)
        if not (np.isfinite(out[0]).all() and np.isfinite(out[1]).all()):
            raise np.linalg.LinAlgError("the EM step is not finite")
        return out

    def _em_step(mu, Sig, loglik):
        nonlocal steps
        steps += 1
        L = np.linalg.cholesky(Sig)
        if np.min(np.diag(L) ** 2 / np.diag(Sig)) < EM_SINGULAR:  # some 1 - R^2 ~ 0: a singular iterate
            raise np.linalg.LinAlgError("singular iterate")
        Li = np.linalg.inv(L)
        W = Li.T @ Li
        E, D, Q, ldmm = blocks.complete(W, mu)
        T1 = D.sum(axis=0)
        T2 = D.T @ D + Q
        ll = None
        if n0:
            d0 = m0 - mu
            T1 = T1 + n0 * d0
            T2 = T2 + n0 * (S0 + np.outer(d0, d0))
        if loglik:  # -1/2 (n log|Sigma| + sum log|W_mm| + sum e'z), without the constant
            quad = float(np.einsum("ij,ij->", E, D @ W))
            if n0:
                quad += n0 * (float(np.sum(W * S0)) + float(d0 @ W @ d0))
            ll = -0.5 * (n * 2.0 * float(np.log(np.diag(L)).sum()) + ldmm + quad)
        step = T1 / n
        Sig_new = T2 / n - np.outer(step, step)
        return mu + step, (Sig_new + Sig_new.T) / 2, ll

    def change(mu0, S0_, mu1, S1_) -> float:
        sd = np.sqrt(np.clip(np.diag(S1_), np.finfo(float).tiny, None))
        return float(max(np.max(np.abs(mu1 - mu0) / sd), np.max(np.abs(S1_ - S0_) / np.outer(sd, sd))))

    mu, Sig = np.zeros(p), np.diag(var0)
    delta, converged = np.inf, False
    check = EM_SINGULAR_EVERY
    while steps < max_iter:
        if steps >= check:
            check = steps + EM_SINGULAR_EVERY
            sd = np.sqrt(np.diag(Sig))
            if np.linalg.eigvalsh(Sig / np.outer(sd, sd))[0] < EM_SINGULAR_EIG:  # heading for a singular matrix
                delta = float("nan")
                break
        try:
            mu1, Sig1, ll0 = em_step(mu, Sig, loglik=accelerate)
        except np.linalg.LinAlgError:  # a singular iterate (e.g. fewer cases than variables): stop, not converged
            delta = float("nan")
            break
        delta = change(mu, Sig, mu1, Sig1)
        if delta < tol or not accelerate or steps >= max_iter:
            mu, Sig = mu1, Sig1
            converged = delta < tol
            if converged:
                break
            continue
        try:
            mu2, Sig2, _ = em_step(mu1, Sig1)
        except np.linalg.LinAlgError:
            mu, Sig, delta = mu1, Sig1, float("nan")
            break
        delta = change(mu1, Sig1, mu2, Sig2)
        if delta < tol:
            mu, Sig, converged = mu2, Sig2, True
            break
        # SQUAREM: r = one step, v = the change of the step; alpha from their unit-free sizes
        sd = np.sqrt(np.clip(np.diag(Sig2), np.finfo(float).tiny, None))
        ss = np.outer(sd, sd)
        rm, rS = mu1 - mu, Sig1 - Sig
        vm, vS = mu2 - 2 * mu1 + mu, Sig2 - 2 * Sig1 + Sig
        vv = float(np.sum((vm / sd) ** 2) + np.sum((vS / ss) ** 2))
        if not vv > 0 or steps >= max_iter:
            mu, Sig = mu2, Sig2
            continue
        alpha = min(-np.sqrt(float(np.sum((rm / sd) ** 2) + np.sum((rS / ss) ** 2)) / vv), -1.0)
        mup = mu - 2 * alpha * rm + alpha * alpha * vm
        Sigp = Sig - 2 * alpha * rS + alpha * alpha * vS
        try:
            mu3, Sig3, llp = em_step(mup, (Sigp + Sigp.T) / 2, loglik=True)
        except np.linalg.LinAlgError:  # the extrapolation left the positive definite (or finite) matrices
            mu, Sig = mu2, Sig2
            continue
        if np.isfinite(llp) and llp >= ll0:
            mu, Sig = mu3, Sig3
        else:  # the likelihood fell: keep the plain steps
            mu, Sig = mu2, Sig2
    return EMResult(mu + center, Sig, steps, converged, delta, tol)
