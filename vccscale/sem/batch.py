"""Many bootstrap refits at once: the ML / FIML objective and gradient of K resamples at K parameter vectors in
stacked array operations, and BFGS run on all of them in lockstep (:func:`refit_batch`).

A replicate of a small model costs a few tenths of a millisecond per evaluation, most of it the fixed cost of the
few dozen numpy calls one evaluation makes; stacking the replicates of a chunk (25 at a time in
:func:`vccscale.sem.bootstrap`) pays that cost once per chunk. The arithmetic is that of
:meth:`vccscale.sem.fit.FIMLEngine.value_and_gradient` (and of :class:`~vccscale.sem.fit.Engine` for complete
data) with the resample as frequency weights on the full sample's rows (a weight of 0 for a row not drawn):

- the rows of every group enter through :class:`vccscale.sem.em.RowBlocks` of the full sample (the complete rows
  and the large incomplete patterns through their weighted count, mean and covariance, the other incomplete rows
  one by one, with the patterns' inverses batched by their number of missing variables);
- the objective is F = -2 logL / N up to a constant of the resample (the saturated and the fixed covariates'
  log-likelihoods, which do not depend on the parameters and are not computed); the gradient is exact;
- the steps are those of :func:`vccscale.sem.fit.quasi_newton` (BFGS on F/2 from the full sample's estimates with
  its inverse information as the starting metric, Armijo backtracking, restart on a non-descent direction, the
  same decrement criterion), taken for all replicates at once until each has converged or failed.

The results equal those of refitting each resample alone up to rounding (tests/test_sem_batch.py: to 1e-6 of the
draws' bootstrap SD; measured 1e-14 on ten kinds of model: FIML, a large incomplete pattern, listwise, two groups,
clusters, fixed covariates, equality constraints); a replicate that does not converge here is refitted alone by
scoring (:func:`vccscale.sem.resample.bootstrap`). Each replicate's rows are compacted (those it did not draw cost
nothing), and their BFGS inverse Hessians are kept in compact form (:class:`_Metric`). Measured on one core (1,000
FIML draws of the example study's hypothesis models, 303 cases, 2% missing): 61 parameters 2.8 -> 0.9 CPU-s, 112
parameters 3.8 -> 1.9 CPU-s; family A's 303-parameter cluster bootstraps (n = 577) 8.6-9.7 -> 5.2 CPU-s; on larger
data, where the arithmetic rather than the number of numpy calls is the cost, about the same as one at a time (30
items, n = 2,000, 5% missing: 2.9 CPU-s either way for 200 draws, in batches small enough to stay in the processor's
cache: resample.BATCH_ROW_ELEMENTS).
"""
from __future__ import annotations

import numpy as np

__all__ = ["BatchObjective", "refit_batch"]

_LOG2PI = float(np.log(2 * np.pi))


def _wmoments(X: np.ndarray, C: np.ndarray):
    """:func:`vccscale.sem.em.weighted_moments` of the rows of ``X`` for each row of weights ``C`` (K x n): counts
    (K), means (K x p), covariances (K x p x p); a replicate that drew none of the rows gets a count of 0, the plain
    mean and a zero covariance."""
    from .em import weighted_moments

    K, p = C.shape[0], X.shape[1]
    tot = np.zeros(K)
    mean = np.tile(X.mean(axis=0) if len(X) else np.zeros(p), (K, 1))
    m2 = np.zeros((K, p, p))
    for k in range(K):
        if C[k].sum() > 0:
            tot[k], mean[k], m2[k] = weighted_moments(X, C[k])
    return tot, mean, m2


class _Group:
    """One group's data for K resamples: constant across the iterations."""

    def __init__(self, X: np.ndarray, C: np.ndarray, blk, fiml: bool):
        K, _ = C.shape
        self.p = p = X.shape[1]
        self.N = C.sum(axis=1)
        has_nan = bool(np.isnan(X).any())
        self.blk = blk if (fiml and has_nan) else None
        self._buf: list = [None]  # shared with the subsets (copy.copy)
        # the draw's own sample moments, as the single refit's GroupData has them (they fix exogenous covariates'
        # rows and, without a mean structure, the means): FIML draws with missing cells take the available-case
        # means and variances (zero covariances), the others the complete-data mean and covariance
        obs = np.isfinite(X)
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = np.nan_to_num(np.nanmean(X, axis=0)) if X.size else np.zeros(p)  # (no cancellation below)
            Xz = np.where(obs, X - shift, 0.0)
            cnt = C @ obs
            ms = (C @ Xz) / cnt
            var = (C @ (Xz ** 2)) / cnt - ms ** 2
        self.sample_mean = ms + shift
        drawn_nan = (C @ (~obs).astype(float)).sum(axis=1) > 0
        if has_nan and fiml:
            cov = np.zeros((K, p, p))
            cov[:, np.arange(p), np.arange(p)] = np.maximum(var, 0.0)
            if (~drawn_nan).any():  # a resample without missing cells: complete-data moments
                _, m_c, c_c = _wmoments(Xz, C[~drawn_nan])
                cov[~drawn_nan] = c_c
                self.sample_mean[~drawn_nan] = m_c + shift
            self.sample_cov = cov
        else:
            n_all, self.sample_mean, self.sample_cov = _wmoments(X, C)
        if self.blk is None:  # complete data: every row through the moments
            if has_nan:  # (the caller then refits each replicate alone)
                raise ValueError("internal: a group with missing cells needs its FIML row blocks")
            self.n_rows = np.zeros(K)
            self.n0, self.mean0, self.m20 = n_all, self.sample_mean, self.sample_cov
            self.big = []
            self.nobs = self.n0 * p
            return
        blk = self.blk
        w_all = C[:, blk.rows]                        # K x rows: the draw counts of the rows taken one by one
        self.n_rows = w_all.sum(axis=1)
        self.nobs_rows = w_all @ blk.obs[:, :p].sum(axis=1)
        # each replicate's rows compacted (a row not drawn costs nothing): the rows of each batch of patterns
        # (and those of no batch: complete rows taken one by one) in a segment as long as the most any replicate
        # drew, the shorter ones padded with rows of weight 0
        kidx = np.arange(K)[:, None]
        segs = []
        covered = np.zeros(len(blk.rows), dtype=bool)
        for kb, M, _cnt, r, pidb, cols, qidx in blk.buckets:
            covered[r] = True
            J = len(M)
            onehot = np.zeros((len(r), J))
            onehot[np.arange(len(r)), pidb] = 1.0
            segs.append((r, pidb, (kb, M, w_all[:, r] @ onehot, qidx)))
        rest = np.flatnonzero(~covered)
        if len(rest):
            segs.append((rest, np.zeros(len(rest), dtype=int), None))
        rowsK, wK, self.segments = [], [], []
        off = 0
        for r, pidb, bucket in segs:
            Ws = w_all[:, r]
            drawn = Ws > 0
            L = max(1, int(drawn.sum(axis=1).max()))
            # per replicate the drawn rows first (stable), then the others (weight 0) as padding
            order = np.argsort(~drawn, axis=1, kind="stable")[:, :L]
            rowsK.append(r[order])
            wK.append(np.take_along_axis(Ws, order, axis=1))
            if bucket is not None:
                kb, M, cnt, qidx = bucket
                pid = pidb[order]                                       # K x L: each row's pattern
                self.segments.append((off, L, kb, M, cnt, pid, M[pid], qidx))
            off += L
        rowsK = np.concatenate(rowsK, axis=1)
        self.w = np.concatenate(wK, axis=1)                             # K x L
        self.E0 = blk.E0[rowsK]                                         # K x L x P
        self.obs = blk.obs[rowsK]
        self.kidx = kidx
        if blk.complete_n:
            self.n0, self.mean0, self.m20 = _wmoments(blk.complete_X, C[:, blk.complete_rows])
        else:
            self.n0, self.mean0, self.m20 = np.zeros(K), np.zeros((K, p)), np.zeros((K, p, p))
        self.big = []
        for bp in blk.big_patterns:
            nb, mb, m2b = _wmoments(bp["X"], C[:, bp["rows"]])
            self.big.append((bp["o"], nb, mb, m2b))
        self.nobs = self.nobs_rows + self.n0 * p

    def buffers(self, K: int) -> tuple:
        """Four arrays of K x rows x P (views of buffers allocated once, for the largest K asked for)."""
        buf = self._buf[0]
        if buf is None or buf[0].shape[0] < K:
            shape = (K, self.w.shape[1], self.blk.P)
            buf = self._buf[0] = tuple(np.empty(shape) for _ in range(4))
        return tuple(b[:K] for b in buf)

    def subset(self, idx: np.ndarray) -> "_Group":
        """The same group for the replicates ``idx`` only."""
        import copy

        new = copy.copy(self)
        for name in ("N", "n_rows", "n0", "mean0", "m20", "nobs", "nobs_rows", "sample_mean", "sample_cov", "w", "E0",
                     "obs"):
            if hasattr(self, name):
                setattr(new, name, getattr(self, name)[idx])
        if self.blk is not None:
            new.kidx = np.arange(len(idx))[:, None]
            new.segments = [(off, L, kb, M, cnt[idx], pid[idx], cols[idx], qidx)
                            for off, L, kb, M, cnt, pid, cols, qidx in self.segments]
        new.big = [(o, nb[idx], mb[idx], m2b[idx]) for o, nb, mb, m2b in self.big]
        return new


def _spd_batch(S: np.ndarray):
    """(S^-1, log|S|, ok) for a stack of symmetric matrices; ok is False where one is not positive definite (its
    inverse is then the identity and its log-determinant 0). Below SMALL rows numpy's stacked Cholesky factor and
    inverse; from SMALL rows on :func:`vccscale.sem._linalg.spd_inverse` (LAPACK's potrf / potri) one matrix at a
    time (measured on one core, 25 matrices of 31 x 31: potrf / potri 0.35 ms, numpy's stacked inverse 0.65 ms)."""
    from ._linalg import SMALL, spd_inverse

    K, p, _ = S.shape
    ok = np.ones(K, dtype=bool)
    if p < SMALL:
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            L = np.empty_like(S)
            for k in range(K):
                try:
                    L[k] = np.linalg.cholesky(S[k])
                except np.linalg.LinAlgError:
                    L[k] = np.eye(p)
                    ok[k] = False
        logdet = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        W = np.linalg.inv(np.where(ok[:, None, None], S, np.eye(p)))
    else:
        W = np.empty_like(S)
        logdet = np.zeros(K)
        for k in range(K):
            try:
                W[k], logdet[k] = spd_inverse(S[k])
            except np.linalg.LinAlgError:
                ok[k] = False
                W[k] = np.eye(p)
    logdet[~ok] = 0.0
    return W, logdet, ok


class BatchObjective:
    """F (up to a constant per replicate) and dF/dtheta of K resamples of the data of ``engine`` (a fitted
    :class:`~vccscale.sem.fit.Engine` / ``FIMLEngine``, its structure only: model matrices' positions, fixed
    values, parameter indices), given as draw counts ``counts`` (per group, K x n_g; a case drawn twice counts 2).
    ``blocks``: per group the full sample's :class:`~vccscale.sem.em.RowBlocks` (FIML with missing cells) or None.
    """

    def __init__(self, engine, Xs: list[np.ndarray], counts: list[np.ndarray], blocks: list | None, fiml: bool):
        self.eng = engine
        self.q = engine.q
        self.K = counts[0].shape[0]
        self.groups = [_Group(X, C, None if blocks is None else blocks[g], fiml)
                       for g, (X, C) in enumerate(zip(Xs, counts))]
        self.N = sum(gr.N for gr in self.groups)
        # fixed values per replicate: the exogenous covariates' rows take the resample's moments
        pt = engine.pt
        fixed = np.tile(engine.fixed, (self.K, 1))
        for k, r in enumerate(pt.rows):
            if r["par"] >= 0 or not r["exo"]:
                continue
            gr = self.groups[r["group"] - 1]
            i = engine.pos[r["lhs"]]
            if r["op"] == "~~":
                fixed[:, k] = gr.sample_cov[:, i, engine.pos[r["rhs"]]]
            else:
                fixed[:, k] = gr.sample_mean[:, i]
        self.fixed = fixed
        self.free = engine.par >= 0
        self._pred = [np.unique(b["A"][:, 2]) for b in engine.block]  # the columns of A that can be non-zero

    def subset(self, idx: np.ndarray) -> "BatchObjective":
        import copy

        new = copy.copy(self)
        new.groups = [gr.subset(idx) for gr in self.groups]
        new.N = self.N[idx]
        new.fixed = self.fixed[idx]
        new.K = len(idx)
        return new

    def row_values(self, theta: np.ndarray) -> np.ndarray:
        vals = self.fixed.copy()
        vals[:, self.free] = theta[:, self.eng.par[self.free]]
        return vals

    def _solve_B(self, A: np.ndarray, g: int, eye: np.ndarray) -> np.ndarray | None:
        """(I - A)^-1 for every replicate, from the columns c of A that can be non-zero (the predictors: factors,
        and regressors): with A = A_c E_c' (Woodbury), (I - A)^-1 = I + A_c (I - A_cc)^-1 E_c', one small inverse
        (|c| x |c|) instead of one of all variables. Rows of a replicate whose I - A_cc is singular are NaN."""
        c = self._pred[g]
        K = A.shape[0]
        B = np.tile(eye, (K, 1, 1))
        if not len(c):
            return B
        Ac = A[:, :, c]
        Icc = np.eye(len(c)) - Ac[:, c, :]
        try:
            M = np.linalg.inv(Icc)
        except np.linalg.LinAlgError:
            M = np.full_like(Icc, np.nan)
            for k in range(K):
                try:
                    M[k] = np.linalg.inv(Icc[k])
                except np.linalg.LinAlgError:
                    pass
        B[:, :, c] += Ac @ M
        return B

    def value_and_gradient(self, theta: np.ndarray):
        """(F, dF/dtheta) for the K rows of ``theta``; F is inf (and the gradient row NaN) where a replicate's
        implied covariance matrix is not positive definite or its model cannot be solved."""
        eng = self.eng
        K, q = theta.shape
        vals = self.row_values(theta)
        ll = np.zeros(K)
        grad = np.zeros(K * q)
        bad = np.zeros(K, dtype=bool)
        nv, p = eng.nv, eng.p
        eye = np.eye(nv)
        for g, gr in enumerate(self.groups):
            b = eng.block[g]
            A = np.zeros((K, nv, nv))
            P = np.zeros((K, nv, nv))
            m = np.zeros((K, nv))
            a, pe, me = b["A"], b["P"], b["m"]
            A[:, a[:, 1], a[:, 2]] = vals[:, a[:, 0]]
            P[:, pe[:, 1], pe[:, 2]] = vals[:, pe[:, 0]]
            P[:, pe[:, 2], pe[:, 1]] = vals[:, pe[:, 0]]
            m[:, me[:, 1]] = vals[:, me[:, 0]]
            B = self._solve_B(A, g, eye)
            singular = ~np.isfinite(B).all(axis=(1, 2))
            if singular.any():  # these replicates' F is inf; the identity keeps the arithmetic finite
                bad |= singular
                B[singular] = eye
            Fc = B[:, :p, :]
            FP = Fc @ P
            Sig = FP @ np.swapaxes(Fc, 1, 2)
            Bm = np.einsum("kij,kj->ki", B, m)
            mu = Bm[:, :p] if eng.meanstructure else gr.sample_mean
            W, logdet, ok = _spd_batch(Sig)
            bad |= ~ok
            llg, G, gm = self._terms(gr, W, logdet, mu, Sig)
            ll += llg
            G = G / self.N[:, None, None]
            gm = gm / self.N[:, None]
            # moment_gradient for all replicates (the same sums, in the same order, as Engine.moment_gradient)
            ap, pp, mp, pf, par_all = eng._grad_plans[g]
            M1 = np.swapaxes(Fc, 1, 2) @ G
            use_mean = eng.meanstructure
            wv = np.einsum("kji,kj->ki", Fc, gm) if use_mean else None
            parts = []
            if len(ap):
                H = FP @ np.swapaxes(B, 1, 2)
                val = 2 * (M1 @ H)[:, ap[:, 1], ap[:, 2]]
                if use_mean:
                    val = val + wv[:, ap[:, 1]] * Bm[:, ap[:, 2]]
                parts.append(val)
            if len(pp):
                parts.append((M1 @ Fc)[:, pp[:, 1], pp[:, 2]] * pf)
            if len(mp):
                parts.append(wv[:, mp[:, 1]] if use_mean else np.zeros((K, len(mp))))
            if parts:
                v = np.concatenate(parts, axis=1)
                idx = (np.arange(K)[:, None] * q + par_all[None, :]).ravel()
                grad += np.bincount(idx, weights=v.ravel(), minlength=K * q)
        grad = grad.reshape(K, q)
        F = -2.0 * ll / self.N
        bad |= ~np.isfinite(F)
        F[bad] = np.inf
        grad[bad] = np.nan
        return F, grad

    @staticmethod
    def _terms(gr: _Group, W, logdet, mu, Sig):
        """Log-likelihood (up to the constant), N dF/dSigma and N dF/dmu of one group for every replicate (the
        algebra of :meth:`vccscale.sem.fit.FIMLEngine._terms`)."""
        K, p, _ = W.shape
        n0 = gr.n0
        d0 = gr.mean0 - mu
        S0 = gr.m20 + d0[:, :, None] * d0[:, None, :]
        Wd0 = np.einsum("kij,kj->ki", W, d0)
        quad = n0 * np.einsum("kij,kij->k", W, S0)
        Qs = n0[:, None, None] * S0
        G_extra = 0.0
        ldmm = 0.0
        if gr.blk is not None:
            blk = gr.blk
            P = blk.P
            mup = np.zeros((K, P))
            mup[:, :p] = mu
            # the rows' arrays (K x rows x P) go to buffers kept by the group: fresh arrays of a megabyte or more
            # are mapped memory, and their page faults cost as much as the arithmetic (measured: 0.6 -> 0.15 ms)
            E, Y, D, Z = gr.buffers(K)
            np.multiply(gr.obs, mup[:, None, :], out=E)
            np.subtract(gr.E0, E, out=E)
            Wp = np.zeros((K, P, P))
            Wp[:, :p, :p] = W
            if P > p:
                Wp[:, np.arange(p, P), np.arange(p, P)] = 1.0
            np.matmul(E, Wp, out=Y)
            # D: the deviations completed by the conditional means (E at the observed cells, where E is 0 at the
            # missing ones, minus U = W_mm^-1 W_m. e at the missing cells)
            np.copyto(D, E)
            Qf = np.zeros(K * P * P)
            ld = np.zeros(K)
            offs = (np.arange(K) * P * P)[:, None]
            kk = gr.kidx
            for off, L, kb, M, cnt, pid, cols, qidx in gr.segments:
                ii = np.arange(off, off + L)[None, :]
                if kb == 1:
                    mm, c = M[:, 0], cols[:, :, 0]                     # c: K x L
                    Minv = 1.0 / Wp[:, mm, mm]                       # K x J
                    ld -= np.einsum("kj,kj->k", cnt, np.log(Minv))
                    D[kk, ii, c] = -(Y[kk, ii, c] * Minv[kk, pid])
                    wq = cnt * Minv
                else:
                    Wmm = Wp[:, M[:, :, None], M[:, None, :]]       # K x J x kb x kb
                    Minv = np.linalg.inv(Wmm)
                    ld += np.einsum("kj,kj->k", cnt, np.linalg.slogdet(Wmm)[1])
                    k3, i3 = kk[:, :, None], ii[:, :, None]
                    D[k3, i3, cols] = -np.einsum("zikl,zil->zik", Minv[kk, pid], Y[k3, i3, cols])
                    wq = (cnt[:, :, None, None] * Minv).reshape(K, -1)
                Qf += np.bincount((offs + qidx[None, :]).ravel(), weights=wq.ravel(), minlength=K * P * P)
            Q = Qf.reshape(K, P, P)[:, :p, :p]
            # Z = D W, with the pad variables (0 in D, identity in Wp): 0 there
            np.matmul(D, Wp, out=Z)
            w = gr.w
            quad = quad + np.einsum("kij,kij,ki->k", E, Z, w)
            ldmm = ld
            Qs = Qs + Q
            Zw = np.multiply(Z, w[:, :, None], out=D)  # (D is not needed any more)
            G_extra = -(np.swapaxes(Z, 1, 2) @ Zw)[:, :p, :p]
            gm = -2.0 * Zw.sum(axis=1)[:, :p]
        else:
            gm = np.zeros((K, p))
        ll = -0.5 * (gr.nobs * _LOG2PI + (gr.n_rows + n0) * logdet + ldmm + quad)
        G = (gr.n_rows + n0)[:, None, None] * W - W @ Qs @ W + G_extra
        gm = gm - 2.0 * n0[:, None] * Wd0
        for o, nb, mb, m2b in gr.big:
            Soo = Sig[:, o[:, None], o[None, :]]
            Poo, ldo, okb = _spd_batch(Soo)
            Poo = np.where(okb[:, None, None], Poo, 0.0)
            ldo = np.where(okb, ldo, np.inf)
            d = mb - mu[:, o]
            St = m2b + d[:, :, None] * d[:, None, :]
            PS = Poo @ St
            ll -= 0.5 * nb * (len(o) * _LOG2PI + ldo + np.einsum("kii->k", PS))
            G[:, o[:, None], o[None, :]] += nb[:, None, None] * (Poo - PS @ Poo)
            gm[:, o] -= 2.0 * nb[:, None] * np.einsum("kij,kj->ki", Poo, d)
        return ll, G, gm


class _Metric:
    """The BFGS inverse Hessians of K replicates: H0 (shared, q x q) plus each replicate's rank-2 updates kept as
    factors U (K x q x 2m) and 2 x 2 blocks M (K x m x 2 x 2), H_k = H0 + sum_j U_kj M_kj U_kj' (the compact form:
    applying it costs K q (q + 4m) instead of reading K dense q x q matrices, and an update appends two columns
    instead of rewriting K q^2 numbers: 25 replicates of a 303-parameter model hold 18 MB of dense matrices). Once
    2m reaches q / 2 the matrices are formed and updated densely from then on. The same H as updating dense
    matrices, up to rounding."""

    def __init__(self, H0: np.ndarray, K: int):
        q = H0.shape[0]
        self.H0, self.q = H0, q
        self.H: np.ndarray | None = None
        self.U = np.zeros((K, q, 0))
        self.M = np.zeros((K, 0, 2, 2))

    def apply(self, v: np.ndarray) -> np.ndarray:
        """H_k v_k for every row of ``v`` (K x q)."""
        if self.H is not None:
            return (self.H @ v[:, :, None])[:, :, 0]
        out = v @ self.H0.T  # (row k: H0 v_k)
        m = self.M.shape[1]
        if m:
            t = (np.swapaxes(self.U, 1, 2) @ v[:, :, None])[:, :, 0].reshape(len(v), m, 2)
            t = (self.M @ t[:, :, :, None])[:, :, :, 0].reshape(len(v), 2 * m)
            out += (self.U @ t[:, :, None])[:, :, 0]
        return out

    def update(self, s_: np.ndarray, y_: np.ndarray, sy: np.ndarray, upd: np.ndarray) -> None:
        """quasi_newton's BFGS update H += [s, Hy] [[(sy + y'Hy) rho^2, -rho], [-rho, 0]] [s, Hy]', rho = 1 / sy,
        for the replicates ``upd``; the others get a zero update (their s, y and sy, which may not be finite, are
        set to 0, so that no NaN enters the factors)."""
        s_, y_ = np.where(upd[:, None], s_, 0.0), np.where(upd[:, None], y_, 0.0)
        sy = np.where(upd, sy, 0.0)
        Hy = self.apply(y_)
        rho = np.where(upd, 1.0 / np.where(upd, sy, 1.0), 0.0)
        Mc = np.zeros((len(sy), 2, 2))
        Mc[:, 0, 0] = (sy + np.einsum("ki,ki->k", y_, Hy)) * rho * rho
        Mc[:, 0, 1] = Mc[:, 1, 0] = -rho
        Uc = np.stack([s_, Hy], axis=2)                                     # K x q x 2
        if self.H is not None:
            self.H += (Uc @ Mc) @ np.swapaxes(Uc, 1, 2)
            return
        self.U = np.concatenate([self.U, Uc], axis=2)
        self.M = np.concatenate([self.M, Mc[:, None]], axis=1)
        if 4 * self.M.shape[1] >= self.q:  # the factors outgrow the matrices: dense from here on
            K, m = len(self.U), self.M.shape[1]
            UM = (self.U.reshape(K, self.q, m, 2).transpose(0, 2, 1, 3) @ self.M).transpose(0, 2, 1, 3)
            self.H = self.H0[None] + UM.reshape(K, self.q, 2 * m) @ np.swapaxes(self.U, 1, 2)
            self.U, self.M = self.U[:, :, :0], self.M[:, :0]

    def reset(self, mask: np.ndarray) -> None:
        """Back to H0 for the replicates ``mask``."""
        if self.H is not None:
            self.H[mask] = self.H0
        else:
            self.M[mask] = 0.0

    def keep(self, rows: np.ndarray) -> None:
        if self.H is not None:
            self.H = self.H[rows]
        self.U, self.M = self.U[rows], self.M[rows]


def refit_batch(obj: BatchObjective, theta0: np.ndarray, Hinv: np.ndarray, tol: float, max_iter: int = 200):
    """BFGS on F/2 for every replicate of ``obj`` from ``theta0`` with ``Hinv`` as the starting inverse Hessian,
    in lockstep (:func:`vccscale.sem.fit.quasi_newton`'s steps, one replicate per row; the inverse Hessians in
    compact form, :class:`_Metric`). Returns a list of K estimates, None where a replicate did not converge (its
    line search failed or ``max_iter`` was reached)."""
    K = obj.K
    theta = np.tile(theta0, (K, 1))
    F, g = obj.value_and_gradient(theta)
    g = g / 2
    out: list = [None] * K
    active = np.flatnonzero(np.isfinite(F))
    cur = obj.subset(active) if len(active) < K else obj
    theta, F, g = theta[active], F[active], g[active]
    H = _Metric(Hinv, len(active))
    for _ in range(max_iter):
        if not len(active):
            break
        step = -H.apply(g)
        dec = -np.einsum("ki,ki->k", g, step)
        done = (dec >= 0) & (dec < tol)
        for j in np.flatnonzero(done):
            out[active[j]] = theta[j].copy()
        keep = ~done
        if not keep.all():
            active, theta, F, g, step, dec = (x[keep] for x in (active, theta, F, g, step, dec))
            H.keep(keep)
            if not len(active):
                break
            cur = cur.subset(np.flatnonzero(keep))
        neg = dec <= 0
        if neg.any():  # not a descent direction: restart from the scoring metric
            H.reset(neg)
            step[neg] = -(g[neg] @ Hinv.T)
            dec[neg] = -np.einsum("ki,ki->k", g[neg], step[neg])
        # line search: the full step for all, halving for those whose step does not lower F enough
        t = np.ones(len(active))
        cand = theta + step
        Fc, gc = cur.value_and_gradient(cand)
        ok = np.isfinite(Fc) & (Fc / 2 <= F / 2 - 1e-4 * t * dec)
        failed = np.zeros(len(active), dtype=bool)
        for _ls in range(29):
            todo = np.flatnonzero(~ok)
            if not len(todo):
                break
            t[todo] /= 2
            cand[todo] = theta[todo] + t[todo, None] * step[todo]
            Ft, gt = cur.subset(todo).value_and_gradient(cand[todo])
            Fc[todo], gc[todo] = Ft, gt
            ok[todo] = np.isfinite(Ft) & (Ft / 2 <= F[todo] / 2 - 1e-4 * t[todo] * dec[todo])
        else:
            failed = ~ok
        g_new = gc / 2
        s_, y_ = cand - theta, g_new - g
        sy = np.einsum("ki,ki->k", s_, y_)
        upd = (sy > 1e-14) & ~failed
        if upd.any():  # the BFGS update (quasi_newton's rank-2 correction)
            H.update(s_, y_, sy, upd)
        theta, F, g = cand, Fc, g_new
        if failed.any():  # these replicates are refitted alone
            keep = ~failed
            active, theta, F, g = (x[keep] for x in (active, theta, F, g))
            H.keep(keep)
            cur = cur.subset(np.flatnonzero(keep))
    return out
