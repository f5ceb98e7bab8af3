"""MLR: Huber-White standard errors and the Yuan-Bentler (Mplus variant) scaled test, as lavaan 0.6-14.

lavaan's ``estimator = "MLR"`` sets ``se = "robust.huber.white"``, ``test = "yuan.bentler.mplus"``,
``information = "observed"`` (``observed.information = "hessian"``), ``h1.information = "structured"`` and
``information.meat = "first.order"``.  Hence, per case:

* ``A`` = observed information (Hessian of ``F/2`` at the estimates), ``B0`` = mean outer product of the casewise
  scores at the structured (model-implied) moments; ``vcov = A^-1 B0 A^-1 / N``;
* ``trace(U Gamma) = sum_g tr(B1_g A1_g^-1) - sum_g (N_g/N) tr(B0_g A^-1)`` where ``A1_g`` / ``B1_g`` are the
  expected information and the first-order information of the saturated model at the sample moments
  (``h1.information = "unstructured"`` for the Mplus variant);
* scaling factor ``c = trace(U Gamma) / df``; ``chisq.scaled = chisq / c``;
  ``scaling.factor.h1 = sum tr(B1 A1^-1) / ndat``, ``scaling.factor.h0 = sum (N_g/N) tr(B0 A^-1) / nx.free``
  (nx.free: free parameters counted before equality constraints, as lavaan).

Cluster-robust (lavaan 0.6-14 ``cluster = "id"`` with a single-level model, ``lav_options_set``): the mean
structure is switched on; ``estimator = "MLR"`` becomes estimator ML with ``se = "robust.cluster"`` and
``test = "yuan.bentler.mplus"`` (information "observed", observed.information "hessian" for both); with
``estimator = "ML"`` lavaan also sets ``se = "robust.cluster"`` but ``test = c("standard", "yuan.bentler.mplus")``
and ``observed.information = c("hessian", "h1")``. Per group g with C_g clusters (clusters are counted within
groups; ``lav_mvnorm_information_firstorder`` / ``lav_mvnorm_missing_information_firstorder`` /
``lav_samplestats_Gamma``):

* the scores are summed within each cluster (``rowsum``) and the cross product is multiplied by
  ``C_g / (C_g - 1)``: ``B0_g = C_g/(C_g-1) sum_c s_c s_c' / N_g`` with ``s_c = sum_{i in c} s_i`` (casewise scores
  at the structured moments; with missing = "ml" the casewise FIML scores); vcov = ``A^-1 B0 A^-1 / N`` with
  ``B0 = sum_g N_g/N B0_g`` and A the observed information (Hessian), N the number of cases (not of clusters);
* ``B1_g`` of the saturated model the same way with the saturated scores at the sample (or EM) moments
  (lavaan: ``A1 Gamma A1`` with the clustered Gamma, the same matrix); ``A1_g`` unchanged; the traces, scaling
  factor and ``scaling.factor.h1`` / ``.h0`` as above, also for the baseline model. With missing = "ml", the
  FIML-corrected robust measures use the clustered ``B1_g`` as ``Jm`` (:func:`fiml_corrected`);
* ML with clusters: the standard errors are the same as MLR's; the scaled test inverts
  ``sum_g N_g/N Delta_g' A1obs_g Delta_g`` instead of the Hessian, A1obs_g the observed information of the
  saturated model at the implied moments (:func:`h1_structured_information`); for the baseline model (implied
  moments linear in its parameters) that is its Hessian.

lavaan keeps rows with a missing cluster id (with a warning); vccscale refuses them (DataError).
"""
from __future__ import annotations

import math

import numpy as np

from ._linalg import inverse
from .fit import Engine, lru_keep

__all__ = ["sandwich", "yuan_bentler_mplus", "h1_traces", "h1_traces_fiml", "h1_information_fiml", "fiml_corrected",
           "cluster_crossprod", "h1_structured_information"]


def cluster_root(scores: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """R with ``R'R`` = :func:`cluster_crossprod` (the scores, or their cluster sums times sqrt(C/(C-1)))."""
    if cluster is None:
        return scores
    cluster = np.asarray(cluster, dtype=int)
    nc = int(cluster.max()) + 1
    S = np.zeros((nc, scores.shape[1]))
    np.add.at(S, cluster, scores)
    return S * np.sqrt(nc / (nc - 1))


def cluster_crossprod(scores: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """``sum_i s_i s_i'`` of the rows of ``scores``, or with ``cluster`` (an integer code 0..C-1 per row) lavaan's
    clustered version ``C/(C-1) sum_c (sum_{i in c} s_i)(sum_{i in c} s_i)'`` (``rowsum`` within clusters,
    ``correction.factor = nC / (nC - 1)``, lavaan 0.6-14 ``lav_mvnorm_information_firstorder``)."""
    if cluster is None:
        return scores.T @ scores
    cluster = np.asarray(cluster, dtype=int)
    nc = int(cluster.max()) + 1
    S = np.zeros((nc, scores.shape[1]))
    np.add.at(S, cluster, scores)
    return S.T @ S * (nc / (nc - 1))


def _first_order(engine: Engine, theta: np.ndarray, clusters: list | None = None
                 ) -> tuple[np.ndarray, list[np.ndarray]]:
    scores = engine.casewise_scores(theta)
    cl = clusters if clusters is not None else [None] * len(scores)
    per_group = [cluster_crossprod(s, c) / s.shape[0] for s, c in zip(scores, cl)]
    total = sum(g.n / engine.N * b for g, b in zip(engine.groups, per_group))
    return total, per_group


def sandwich(engine: Engine, theta: np.ndarray, clusters: list | None = None) -> dict:
    """Observed information A, first-order B0 (per case; per cluster with ``clusters``, one integer code array
    per group) and the robust covariance A^-1 B0 A^-1 / N."""
    A = engine.hessian(theta)
    B, B_groups = _first_order(engine, theta, clusters)
    A_inv = inverse(A)
    vcov = A_inv @ B @ A_inv / engine.N
    return {"A": A, "A_inv": A_inv, "B": B, "B_groups": B_groups, "vcov": (vcov + vcov.T) / 2}


def h1_traces(engine: Engine, clusters: list | None = None) -> tuple[list[float], list[int]]:
    """Per group tr(B1 A1^-1) of the saturated model at the sample moments, and its number of moments
    (``clusters``: B1 from the scores summed within clusters, see :func:`cluster_crossprod`). In closed form
    (:func:`_h1_trace_closed`) when every moment is kept, i.e. without fixed covariates (fixed.x); else from the
    moments x moments matrices (:func:`_h1_trace_matrix`)."""
    traces, ndats = [], []
    cl = clusters if clusters is not None else [None] * len(engine.groups)
    for gd, cg in zip(engine.groups, cl):
        if not engine.pt.ov_x:
            p = gd.cov.shape[0]
            traces.append(_h1_trace_closed(gd, inverse(gd.cov), cg, engine.meanstructure))
            ndats.append(p * (p + 1) // 2 + (p if engine.meanstructure else 0))
        else:
            tr, nd = _h1_trace_matrix(engine, gd, cg)
            traces.append(tr)
            ndats.append(nd)
    return traces, ndats


def _h1_trace_matrix(engine: Engine, gd, cg) -> tuple[float, int]:
    """tr(B1 A1^-1) and the number of moments of one group from the saturated scores and the expected information
    A1 = 1/2 D'(W x W)D (with W for the means), on the moments lavaan keeps under fixed.x (:func:`_not_x`)."""
    p = gd.cov.shape[0]
    W = inverse(gd.cov)
    rows, cols = np.tril_indices(p)
    # saturated scores for vech(Sigma): d logL_i / d sigma_ab
    Z = (gd.X - gd.mean) @ W
    M = 0.5 * (np.einsum("ia,ib->iab", Z, Z) - W[None])
    factor = np.where(rows == cols, 1.0, 2.0)
    sc_cov = M[:, rows, cols] * factor
    # expected information of vech(Sigma): 0.5 * D'(W x W)D, element (ab),(cd)
    Wa_c = W[rows][:, rows]  # W[a, c]
    Wb_d = W[cols][:, cols]
    Wa_d = W[rows][:, cols]
    Wb_c = W[cols][:, rows]
    A1 = 0.5 * (Wa_c * Wb_d + Wa_d * Wb_c) * np.outer(factor, factor) / 2
    sc = sc_cov
    if engine.meanstructure:
        sc = np.hstack([Z, sc_cov])
        A1 = np.block([[W, np.zeros((p, len(rows)))], [np.zeros((len(rows), p)), A1]])
    keep = _not_x(engine, rows, cols)
    A1, sc = A1[np.ix_(keep, keep)], sc[:, keep]
    B1 = cluster_crossprod(sc, cg) / gd.n
    return float(np.sum(B1 * inverse(A1).T)), A1.shape[0]


def _h1_trace_closed(gd, W: np.ndarray, cluster: np.ndarray | None, meanstructure: bool) -> float:
    """tr(B1 A1^-1) of :func:`h1_traces` when every moment is kept, without the moments x moments matrices: A1 is
    then block diagonal, with inverse Sigma for the means and Sigma_ac Sigma_bd + Sigma_ad Sigma_bc for the
    covariances (the normal-theory covariance of sample covariances; the inverse of 1/2 D'(W x W)D), so that for a
    row of scores (a case, or a cluster's sum) with covariance part X (symmetric, its vech scores f_ab X_ab) and
    mean part z, r'A1^-1 r = 2 tr(X Sigma X Sigma) + z' Sigma z. For a case X Sigma = (z e' - I) / 2 with
    e = x - ybar, z = W e, so that r'A1^-1 r = (d^4 - 2 d^2 + p) / 2 (+ d^2) with d^2 = e'We: without clusters
    the trace is half of Mardia's multivariate kurtosis plus p / 2 (with the means). A cluster's X Sigma is
    (K - n_c I) / 2 with K = sum_i z_i e_i'. The same number as the matrix route (tested), in O(n p^2) instead
    of an inverse of (p(p+3)/2)^2."""
    p = W.shape[0]
    E = gd.X - gd.mean
    Z = E @ W
    if cluster is None:
        d2 = np.einsum("ij,ij->i", Z, E)
        total = float(np.sum(0.5 * (d2 * d2 - 2 * d2 + p)) + (np.sum(d2) if meanstructure else 0.0))
        return total / gd.n
    cluster = np.asarray(cluster, dtype=int)
    nc = int(cluster.max()) + 1
    total = 0.0
    order = np.argsort(cluster, kind="stable")
    bounds = np.searchsorted(cluster[order], np.arange(nc + 1))
    for c in range(nc):
        idx = order[bounds[c]:bounds[c + 1]]
        if not len(idx):
            continue
        K = Z[idx].T @ E[idx]
        n_c = len(idx)
        total += 0.5 * (float(np.sum(K * K.T)) - 2 * n_c * float(np.trace(K)) + n_c * n_c * p)
        if meanstructure:
            zs = Z[idx].sum(axis=0)
            total += float(zs @ gd.cov @ zs)
    return total * (nc / (nc - 1)) / gd.n


def _not_x(engine: Engine, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Moments kept by lavaan's h1 information under fixed.x: all but the x-x (co)variances and the x means."""
    xi = np.array([engine.pos[v] for v in engine.pt.ov_x], dtype=int)
    cov_keep = ~(np.isin(rows, xi) & np.isin(cols, xi))
    if engine.meanstructure:
        p = engine.p
        mean_keep = ~np.isin(np.arange(p), xi)
        return np.concatenate([mean_keep, cov_keep])
    return cov_keep


def yuan_bentler_mplus(engine: Engine, theta: np.ndarray, df: int, sw: dict | None = None,
                       h1: tuple[list[float], list[int]] | None = None, clusters: list | None = None,
                       A_inv: np.ndarray | None = None) -> dict:
    """lavaan's ``yuan.bentler.mplus`` scaling factor and its parts for one fitted model (``clusters``: the
    first-order parts per cluster; ``A_inv``: the inverted information of the test when it is not the one of
    ``sw``, as for ML with clusters, see :func:`h1_structured_information`)."""
    if sw is None:
        sw = sandwich(engine, theta, clusters)
    tr_h1, ndat = h1 if h1 is not None else h1_traces(engine, clusters)
    Ai = sw["A_inv"] if A_inv is None else A_inv
    tr_h0 = [gd.n / engine.N * float(np.sum(Bg * Ai.T)) for gd, Bg in zip(engine.groups, sw["B_groups"])]
    trace_ug = sum(tr_h1) - sum(tr_h0)
    c = trace_ug / df if df > 0 else float("nan")
    if c < 0:
        c = float("nan")
    # lavaan divides by nx.free, the free parameters before equality constraints (a parameter shared by k rows of
    # the table, e.g. by group.equal, counts k times); the trace itself does not depend on the parametrisation
    nx_free = int((engine.par >= 0).sum())
    return {"c": c, "trace_ugamma": trace_ug, "scaling_factor_h1": sum(tr_h1) / sum(ndat),
            "scaling_factor_h0": sum(tr_h0) / nx_free if nx_free else float("nan")}


def h1_structured_information(engine: Engine, theta: np.ndarray) -> np.ndarray:
    """lavaan's observed information with ``observed.information = "h1"`` (complete data):
    ``sum_g N_g/N Delta_g' A1_g Delta_g`` with A1_g the observed information per case of the saturated model
    evaluated at the implied moments (``lav_mvnorm_information_observed_samplestats``). For parameters k, l, with
    ``W = Sigma^-1``, ``d = ybar - mu``, ``S~ = S + d d'`` and ``AAA = W (2 S~ - Sigma) W``:
    ``dmu_k' W dmu_l + d' W dSigma_k W dmu_l + d' W dSigma_l W dmu_k + 1/2 tr(dSigma_k AAA dSigma_l W)``.
    The Hessian of the model drops the second derivatives of the implied moments; lavaan uses this for the
    scaled test of ``estimator = "ML"`` with ``cluster =``."""
    total = 0.0
    for g, ((Sig, mu), gd) in enumerate(zip(engine.implied(theta), engine.groups)):
        W = inverse(Sig)
        dS, dm = engine.derivatives(theta, g)
        d = gd.mean - mu
        St = gd.cov + np.outer(d, d)
        AAA = W @ (2 * St - Sig) @ W
        WdS = np.matmul(W[None], dS)  # W dSigma_k
        AdS = np.matmul(AAA[None], dS)  # AAA dSigma_k
        info = 0.5 * np.einsum("kab,lba->kl", AdS, WdS)
        if engine.meanstructure:
            Wd = W @ d
            info = info + dm @ W @ dm.T
            cross = np.einsum("a,kab,lb->kl", Wd, dS, dm @ W)  # d' W dSigma_k W dmu_l
            info = info + cross + cross.T
        total = total + gd.n / engine.N * info
    return (total + total.T) / 2


def _vech_lavaan(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of lavaan's ``vech`` order (lower triangle, column by column): the order of the
    saturated model's covariance parameters in :func:`h1_information_fiml`."""
    rows = [i for j in range(p) for i in range(j, p)]
    cols = [j for j in range(p) for _ in range(j, p)]
    return np.asarray(rows, dtype=int), np.asarray(cols, dtype=int)


def saturated_fiml_information(patterns: list[dict], cov: np.ndarray, mean: np.ndarray, n: int) -> np.ndarray:
    """Observed information per case of the saturated model under FIML at the moments (``cov``, ``mean``), in the
    order vech(Sigma) (lavaan's, :func:`_vech_lavaan`) then mu: lavaan's
    ``lav_mvnorm_missing_information_observed_samplestats``, analytically. Per missing-data pattern o (n_o cases,
    observed set o, pattern mean ybar_o and covariance S_o, divisor n_o), with ``W = Sigma_oo^-1``,
    ``d = ybar_o - mu_o``, ``S~ = S_o + d d'`` and ``AAA = W (2 S~ - Sigma_oo) W``: the blocks
    ``mu mu: W``, ``sigma_k mu_l: d' W dSigma_k W e_l`` and ``sigma_k sigma_l: 1/2 tr(dSigma_k AAA dSigma_l W)``,
    weighted by n_o / n (the saturated moments are linear in the parameters, so this is the exact Hessian of the
    pattern-wise log-likelihood; it replaces central differences of the gradient, which cost 2 x p(p+3)/2
    gradient evaluations per model)."""
    p = cov.shape[0]
    r, c = _vech_lavaan(p)
    m = len(r)
    out = np.zeros((m + p, m + p))
    summed = []  # patterns whose blocks are cheaper as sums of Kronecker products (:func:`_kron_blocks`)
    for pt in patterns:
        o = np.asarray(pt["o"], dtype=int)
        if not len(o):
            continue
        if len(o) * (len(o) + 1) // 2 > p * p / KRON_RATIO:
            summed.append(pt)
            continue
        pos = np.full(p, -1)
        pos[o] = np.arange(len(o))
        keep = np.flatnonzero((pos[r] >= 0) & (pos[c] >= 0))  # vech elements of this pattern
        ro, co = pos[r[keep]], pos[c[keep]]
        W, A, Wd = _pattern_parts(pt, o, cov, mean)
        f = np.where(ro == co, 2.0, 1.0)  # a diagonal element's dSigma is one unit matrix, not two
        ss = (A[np.ix_(co, ro)] * W[np.ix_(ro, co)] + A[np.ix_(co, co)] * W[np.ix_(ro, ro)]
              + A[np.ix_(ro, ro)] * W[np.ix_(co, co)] + A[np.ix_(ro, co)] * W[np.ix_(co, ro)]) / np.outer(f, f)
        sm = (Wd[ro][:, None] * W[co, :] + Wd[co][:, None] * W[ro, :]) / f[:, None]  # sigma_k x mu_l (observed l)
        w = pt["n"] / n
        mi = m + o
        out[np.ix_(keep, keep)] += w * 0.5 * ss
        out[np.ix_(keep, mi)] += w * sm
        out[np.ix_(mi, keep)] += w * sm.T
        out[np.ix_(mi, mi)] += w * W
    if summed:
        out += _kron_blocks(summed, cov, mean, n, r, c)
    return (out + out.T) / 2


def _pattern_parts(pt: dict, o: np.ndarray, cov: np.ndarray, mean: np.ndarray) -> tuple:
    """(W, AAA, W d) of one missing-data pattern observing ``o`` in :func:`saturated_fiml_information`: W =
    Sigma_oo^-1, AAA = W (2 S~ - Sigma_oo) W with S~ = S_o + d d', d = ybar_o - mu_o."""
    Sig = cov[np.ix_(o, o)]
    W = inverse(Sig)
    d = pt["mean"] - mean[o]
    St = pt["cov"] + np.outer(d, d)
    return W, W @ (2 * St - Sig) @ W, W @ d


#: a pattern observing k variables enters saturated_fiml_information through the Kronecker sums when its
#: k(k+1)/2 vech elements exceed p^2 / KRON_RATIO: its own gathers cost ~8 (k(k+1)/2)^2 slow element operations, its
#: share of the sums p^4 multiply-adds in a matrix product (measured on 2 cores: 31 variables and 60 patterns
#: missing 1-4 of them, 431 -> 22 ms)
KRON_RATIO = 12


def _kron_blocks(patterns: list[dict], cov: np.ndarray, mean: np.ndarray, n: int, r: np.ndarray,
                 c: np.ndarray, batch: int = 256) -> np.ndarray:
    """The terms of :func:`saturated_fiml_information` from ``patterns``, summed over the patterns before they are
    gathered: with W_o = Sigma_oo^-1 and A_o embedded in p x p (zero at a pattern's missing variables, which makes
    the terms of the vech elements it does not observe vanish), sum_o w_o A_o[i, j] W_o[k, l] is one matrix product
    (patterns x p^2) per i, from which the four terms of each sigma_k sigma_l entry are gathered once; the sigma x
    mu terms likewise from sum_o w_o (W_o d_o)[a] W_o[b, l], and mu x mu is sum_o w_o W_o. ``batch`` patterns at a
    time (memory: 2 x batch x p^2 numbers)."""
    p, m = cov.shape[0], len(r)
    f = np.where(r == c, 2.0, 1.0)
    k1s = [np.flatnonzero(c == i) for i in range(p)]  # A[c_k, r_l] W[r_k, c_l] + A[c_k, c_l] W[r_k, r_l]
    k3s = [np.flatnonzero(r == i) for i in range(p)]  # A[r_k, r_l] W[c_k, c_l] + A[r_k, c_l] W[c_k, r_l]
    ss = np.zeros((m, m))
    sm = np.zeros((m, p))
    mm = np.zeros((p, p))
    for start in range(0, len(patterns), batch):
        part = patterns[start:start + batch]
        J = len(part)
        As, Ws, Wds = np.zeros((J, p, p)), np.zeros((J, p, p)), np.zeros((J, p))
        w = np.empty(J)
        for j, pt in enumerate(part):
            o = np.asarray(pt["o"], dtype=int)
            ix = np.ix_(o, o)
            Ws[j][ix], As[j][ix], Wds[j, o] = _pattern_parts(pt, o, cov, mean)
            w[j] = pt["n"] / n
        Wf = Ws.reshape(J, p * p)
        for i in range(p):
            T = ((As[:, i, :] * w[:, None]).T @ Wf).reshape(p, p, p)  # T[j, k, l] = sum_o w_o A_o[i, j] W_o[k, l]
            # both terms of a row at once: V[l, k] = T[r_l, k, c_l] + T[c_l, k, r_l] (one p^3 sum, one gather of
            # m x p, then column selections instead of two m x m gathers of T per row set)
            V = (T + T.transpose(2, 1, 0))[r, :, c]
            k1, k3 = k1s[i], k3s[i]
            if len(k1):
                ss[k1] += V[:, r[k1]].T
            if len(k3):
                ss[k3] += V[:, c[k3]].T
        U = ((Wds * w[:, None]).T @ Wf).reshape(p, p, p)  # U[a, b, l] = sum_o w_o (W_o d_o)[a] W_o[b, l]
        sm += U[r, c, :] + U[c, r, :]
        mm += np.tensordot(w, Ws, axes=1)
    out = np.zeros((m + p, m + p))
    # (f is 1 or 2: scaling by it is exact in any order, so rows then columns, without an m x m outer product)
    blk = out[:m, :m]
    np.multiply(ss, 0.5, out=blk)
    blk /= f[:, None]
    blk /= f[None, :]
    out[:m, m:] = sm / f[:, None]
    out[m:, :m] = out[:m, m:].T
    out[m:, m:] = mm
    return out


class H1Info(tuple):
    """``(A1, B1)`` of one group (a tuple) with ``root`` (R, B1 = R'R: cases or clusters x moments, or None), and
    the inverse of A1 on the moments kept under fixed.x computed once (:meth:`kept_inverse`) for both the scaled
    test and the FIML-corrected robust measures; ``singular``: a Moore-Penrose inverse was needed for the inverse
    last asked for (one H1Info serves every model fitted to its data, see :func:`h1_information_fiml`)."""

    def __new__(cls, A1: np.ndarray, B1: np.ndarray, root: np.ndarray | None = None):
        obj = super().__new__(cls, (A1, B1))
        obj.root, obj.singular, obj._inv, obj._fac, obj._rs = root, False, {}, {}, {}
        return obj

    def __getnewargs__(self):
        return (self[0], self[1], self.root)

    def _factor(self, keep: np.ndarray) -> tuple:
        """("chol", cho_factor) of A1 on ``keep`` (positive definite: the saturated model's information at its
        maximum), else ("inv", inverse) as :func:`_h1_inverse` (a generalized inverse when singular)."""
        key = keep.tobytes()
        if key not in self._fac:
            from scipy.linalg import cho_factor

            A = self[0][np.ix_(keep, keep)]
            try:
                self._fac[key] = ("chol", cho_factor(A, lower=True, check_finite=False), False)
            except np.linalg.LinAlgError:
                inv, singular = _h1_inverse(A)
                self._fac[key] = ("inv", inv, singular)
        fac = self._fac[key]
        self.singular = fac[2]  # of the matrix last asked for (one H1Info serves every fit to its data)
        return fac

    def kept_solve(self, keep: np.ndarray, B: np.ndarray) -> np.ndarray:
        """A1^-1 B on the moments ``keep`` (B: kept moments x columns), without forming the inverse."""
        kind, f, _ = self._factor(keep)
        if kind == "inv":
            return f @ B
        from scipy.linalg import cho_solve

        return cho_solve(f, B, check_finite=False)

    def root_solve(self, keep: np.ndarray) -> np.ndarray:
        """A1^-1 R' on the moments ``keep`` (kept moments x cases or clusters), computed once: the scaled test's
        trace (:func:`h1_traces_fiml`) and the FIML-corrected measures' Gamma (:func:`fiml_corrected`) both use it."""
        key = keep.tobytes()
        if key not in self._rs:
            self._rs[key] = self.kept_solve(keep, self.root[:, keep].T)
        else:
            self._factor(keep)  # (``singular`` of this selection, as a fresh solve would set it)
        return self._rs[key]

    def kept_inverse(self, keep: np.ndarray) -> np.ndarray:
        kind, f, _ = self._factor(keep)
        if kind == "inv":
            return f
        key = keep.tobytes()
        if key not in self._inv:
            self._inv[key] = self.kept_solve(keep, np.eye(int(keep.sum())))
        return self._inv[key]


def _h1_inverse(A1: np.ndarray) -> tuple[np.ndarray, bool]:
    """(inverse, singular) of a saturated model's information: a Moore-Penrose inverse when it is singular (FIML
    with variables no respondent answered together: their covariance carries no information), as lavaan's
    ``MASS::ginv`` fallback."""
    try:
        return inverse(A1), False
    except np.linalg.LinAlgError:
        return np.linalg.pinv(A1, hermitian=True), True


def _kept_inverse(item, keep: np.ndarray) -> np.ndarray:
    return item.kept_inverse(keep) if isinstance(item, H1Info) else _h1_inverse(item[0][np.ix_(keep, keep)])[0]


class H1List(list):
    """The per-group :class:`H1Info` of one data set, with ``memo``: what :func:`fiml_corrected` derives from them
    that does not depend on the model (kept per moment selection), so that the models fitted to one data set (a
    hypothesis model and its nested comparisons) share it."""

    def __init__(self, items=()):
        super().__init__(items)
        self.memo: dict = {}


_H1_CACHE: dict = {}
#: data sets whose saturated information is kept, least recently used dropped first: a study's stages fit several
#: models to each of several data sets (a hypothesis model, its nested comparisons, its invariance steps), in turns;
#: entries are counted at about 3 times their A1 + B1 (with what is derived from them) and twice their root (with
#: its solve, H1Info.root_solve) and kept while their total
#: stays within _H1_CACHE_BYTES (an entry larger than that, from about 80 observed variables on, is not kept)
_H1_CACHE_SIZE = 16
_H1_CACHE_BYTES = 512 * 2**20


def _h1_bytes(item) -> int:
    """About what an entry holds: A1, B1 and what is derived from them (3 x), and the root with its solve (2 x)."""
    return sum(3 * (g[0].nbytes + g[1].nbytes) + 2 * getattr(getattr(g, "root", None), "nbytes", 0) for g in item)


def _data_key(engine: Engine, clusters: list | None) -> bytes:
    """A digest of what the saturated model's information depends on: the variables, and per group the data
    (missing cells included), its EM moments and the cluster of every case."""
    import hashlib

    h = hashlib.blake2b(digest_size=20)
    h.update(repr(list(engine.pt.ov_names)).encode())
    cl = clusters if clusters is not None else [None] * len(engine.groups)
    for gd, cg in zip(engine.groups, cl):
        for a in (gd.X, gd.cov, gd.mean):
            a = np.ascontiguousarray(a, dtype=float)
            h.update(repr(a.shape).encode())
            h.update(a.tobytes())
        h.update(b"-" if cg is None else np.ascontiguousarray(np.asarray(cg)).tobytes())
    return h.digest()


def h1_information_fiml(engine: Engine, clusters: list | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per group ``(A1, B1)`` of the saturated model at the EM moments (lavaan's h1 information with
    ``h1.information = "unstructured"``, ``missing = "ml"``): A1 the observed information per case (Hessian of the
    pattern-wise log-likelihood) and B1 the first-order information per case (casewise scores with the missing
    entries left out). Moments in the order vech(Sigma) (as :func:`_vech_lavaan`), then mu.

    It depends on the data only, not on the model: the last few results are kept (by a digest of the variables,
    data, EM moments and clusters), so models fitted to the same data share one computation."""
    key = _data_key(engine, clusters)
    hit = _H1_CACHE.get(key)
    if hit is None:
        hit = _h1_information_fiml(engine, clusters)
    lru_keep(_H1_CACHE, key, hit, _H1_CACHE_SIZE, _H1_CACHE_BYTES, _h1_bytes)
    return hit


def _h1_information_fiml(engine: Engine, clusters: list | None) -> "H1List":
    out = H1List()
    cl = clusters if clusters is not None else [None] * len(engine.groups)
    for gd, cg in zip(engine.groups, cl):
        A1 = saturated_fiml_information(gd.patterns, gd.cov, gd.mean, gd.n)
        sc = saturated_casewise_scores(gd, gd.cov, gd.mean)
        R = cluster_root(sc, cg) / np.sqrt(gd.n)
        out.append(H1Info(A1, R.T @ R, R))
    return out


def saturated_casewise_scores(gd, cov: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Casewise scores of the saturated FIML model at ``cov``, ``mean`` (n x moments: vech(Sigma) with the columns
    of a variable j and the later ones i >= j, then mu; the order of :func:`h1_information_fiml`'s parameters),
    in closed form: for sigma_ab, (2 - delta_ab)/2 (z_a z_b - P_ab), for mu_a, z_a, with z = P (x - mu) and P =
    Sigma_oo^-1 embedded at the row's observed variables (W - W_.m W_mm^-1 W_m. with W = Sigma^-1; both 0 at the
    missing ones). The same numbers as the FIML engine's general casewise scores of that model
    (:meth:`vccscale.sem.fit.FIMLEngine.casewise_scores`) without its derivative arrays (moments x p x p) and the
    (p^2 x moments) contraction per case."""
    from .fit import FIMLEngine

    p = cov.shape[0]
    jj, ii = np.triu_indices(p)  # (j, i >= j): variable j's column first, as the saturated parameter table
    W = inverse(cov)
    W = (W + W.T) / 2
    blk = FIMLEngine._blocks(gd)
    Z = FIMLEngine.case_residuals(gd, W, mean)
    Pv = np.tile(W[ii, jj], (gd.n, 1))  # P_ab of every case at the vech positions (complete rows: W)
    if blk.buckets:
        Wp = blk.padded(W)
        for kb, M, cnt, r, pid, cols, qidx in blk.buckets:
            Minv = np.linalg.inv(Wp[M[:, :, None], M[:, None, :]])
            Wm = Wp[:p][:, M].transpose(1, 0, 2)  # (J, p, kb): W_.m of each pattern (pads: 0)
            G = Wm @ Minv @ Wm.transpose(0, 2, 1)  # W_.m W_mm^-1 W_m.
            Pv[blk.rows[r]] -= G[:, ii, jj][pid]
    factor = np.where(ii == jj, 0.5, 1.0)
    return np.hstack([factor * (Z[:, ii] * Z[:, jj] - Pv), Z])


def h1_traces_fiml(engine: Engine, info: list[tuple[np.ndarray, np.ndarray]] | None = None
                   ) -> tuple[list[float], list[int]]:
    """FIML version of :func:`h1_traces`: per group tr(B1 A1^-1) of the saturated model at the EM moments, with
    A1 / B1 from :func:`h1_information_fiml` (or ``info``, its result), lavaan's ``missing = "ml"`` with MLR.
    Under fixed.x the x-x (co)variances and x means are left out (lavaan zeroes their rows and columns and does
    not count them in ndat)."""
    if info is None:
        info = h1_information_fiml(engine)
    keep = _fiml_moment_keep(engine)

    def trace(item) -> float:
        R = getattr(item, "root", None)
        if R is not None and isinstance(item, H1Info):  # tr(B1 A1^-1) = tr(R A1^-1 R') with B1 = R'R
            Rk = R[:, keep].T
            return float(np.sum(Rk * item.root_solve(keep)))
        return float(np.sum(item[1][np.ix_(keep, keep)] * _kept_inverse(item, keep).T))

    traces = [trace(item) for item in info]
    return traces, [int(keep.sum()) for _ in info]


def _fiml_moment_keep(engine: Engine) -> np.ndarray:
    """Moments (vech(Sigma) in lavaan's order, then mu) that lavaan's h1 information keeps under fixed.x: all but
    the x-x (co)variances and the x means (their rows and columns are zero there)."""
    r, c = _vech_lavaan(engine.p)
    xi = np.array([engine.pos[v] for v in engine.pt.ov_x], dtype=int)
    return np.concatenate([~(np.isin(r, xi) & np.isin(c, xi)), ~np.isin(np.arange(engine.p), xi)])


def _delta_fiml(engine: Engine, theta: np.ndarray, g: int) -> np.ndarray:
    """lavaan's Delta of group g: d (vech(Sigma), mu) / d theta' (moments x free parameters)."""
    r, c = _vech_lavaan(engine.p)
    dS, dm = engine.derivatives(theta, g)
    return np.vstack([dS[:, r, c].T, dm.T])


def _complete_h1_information(cov: np.ndarray) -> np.ndarray:
    """Observed (= expected) information per case of the saturated model for complete data at the moments
    ``cov`` (lavaan's ``lav_mvnorm_h1_information_observed_samplestats``): 1/2 D'(W x W)D for vech(Sigma), W for
    mu (W = cov^-1), in the order of :func:`h1_information_fiml`."""
    p = cov.shape[0]
    W = inverse(cov)
    r, c = _vech_lavaan(p)
    factor = np.where(r == c, 1.0, 2.0)
    A = 0.5 * (W[np.ix_(r, r)] * W[np.ix_(c, c)] + W[np.ix_(r, c)] * W[np.ix_(c, r)]) * np.outer(factor, factor) / 2
    m = len(r)
    return np.block([[A, np.zeros((m, p))], [np.zeros((p, m)), W]])


class _CompleteH1:
    """``Wc = bdiag(f_g Wc_g)`` of :func:`fiml_corrected` as an operator: Wc_g is :func:`_complete_h1_information`
    at group g's EM covariance, kept rows and columns only, those of ``zero`` set to 0. Its vech block is
    1/2 D'(W x W)D, so Wc_g x for a vech vector x = vech(X) is, with Y = W X W, Y's vech entries (the diagonal
    halved), and mu's block is W: 2 p^3 multiply-adds per column instead of a (p(p+3)/2)^2 matrix (p = 72: 2,700 x
    2,700 values, 58 MB, and a third of a second to gather)."""

    def __init__(self, covs: list[np.ndarray], fg: list[float], keep: np.ndarray, zero: np.ndarray):
        p = covs[0].shape[0]
        self.p = p
        self.r, self.c = _vech_lavaan(p)
        self.mv = len(self.r)
        self.kidx = np.flatnonzero(keep)
        self.zero = zero                       # kept moments whose rows and columns are 0
        self.half = np.where(self.r == self.c, 0.5, 1.0)
        self.covs = covs
        self.W = [inverse(cv) for cv in covs]
        self.fg = fg
        self.size = len(self.kidx)

    def group_times(self, g: int, X: np.ndarray) -> np.ndarray:
        """Wc_g X (without the weight f_g) for group g, in pieces of columns that keep the p x p arrays small."""
        step = max(1, (1 << 21) // (self.p * self.p))
        if X.shape[1] <= step:
            return self._one(self.W[g], X)
        return np.hstack([self._one(self.W[g], X[:, a:a + step]) for a in range(0, X.shape[1], step)])

    def _one(self, W: np.ndarray, X: np.ndarray) -> np.ndarray:
        k = X.shape[1]
        full = np.zeros((self.mv + self.p, k))
        full[self.kidx] = X
        full[self.kidx[self.zero]] = 0.0
        V = full[:self.mv].T                       # (k, vech)
        M = np.zeros((k, self.p, self.p))
        M[:, self.r, self.c] = V
        M[:, self.c, self.r] = V
        Y = W @ M @ W
        out = np.empty_like(full)
        out[:self.mv] = (Y[:, self.r, self.c] * self.half).T
        out[self.mv:] = W @ full[self.mv:]
        res = out[self.kidx]
        res[self.zero] = 0.0
        return res

    def times(self, X: np.ndarray) -> np.ndarray:
        """Wc X (X: the groups' kept moments stacked x k)."""
        n1 = self.size
        return np.vstack([f * self.group_times(g, X[g * n1:(g + 1) * n1]) for g, f in enumerate(self.fg)])

    def dense(self) -> np.ndarray:
        """Wc as a matrix (for the explicit Gamma and version "V6")."""
        blocks = []
        for f, cov in zip(self.fg, self.covs):
            Wc1 = _complete_h1_information(cov)[np.ix_(self.kidx, self.kidx)]
            Wc1[self.zero, :] = 0.0
            Wc1[:, self.zero] = 0.0
            blocks.append(f * Wc1)
        return _bdiag(blocks)


def _bdiag(blocks: list[np.ndarray]) -> np.ndarray:
    if len(blocks) == 1:
        return blocks[0]
    n = sum(b.shape[0] for b in blocks)
    out = np.zeros((n, n))
    k = 0
    for b in blocks:
        out[k:k + b.shape[0], k:k + b.shape[0]] = b
        k += b.shape[0]
    return out


def _fiml_corrected_parts(engine: Engine, info, keep: np.ndarray, fg: list[float], version: str) -> tuple:
    """What :func:`fiml_corrected` needs of the saturated model (it does not depend on the fitted model):
    ``(Wm, Wmi, Wc, tr_base, gamma_times)``, Wc as a :class:`_CompleteH1` operator."""
    Wm_g = [A1 if keep.all() else A1[np.ix_(keep, keep)] for A1, _ in info]  # (all kept: no copy; Wm is new)
    roots = [getattr(item, "root", None) if isinstance(item, H1Info) else None for item in info]
    # the inverses are needed for V6 and for an explicit Gamma (no root); V3 with roots needs only solves
    solves_only = version == "V3" and all(R is not None for R in roots)
    Wmi_g = None if solves_only else [_kept_inverse(item, keep) for item in info]
    # lavaan builds Wc from a complete-data fit of the model to the EM moments made by lavaan() with its default
    # fixed.x = TRUE, so Wc has zero rows and columns for the moments of the model's exogenous covariates even when
    # they are random (fixed.x = FALSE; with fixed.x = TRUE they are left out everywhere anyway)
    xr = np.array([engine.pos[v] for v in getattr(engine.pt, "ov_x_random", [])], dtype=int)
    r, c = _vech_lavaan(engine.p)
    zero_c = np.concatenate([np.isin(r, xr) & np.isin(c, xr), np.isin(np.arange(engine.p), xr)])[keep]
    Wc = _CompleteH1([gd.cov for gd in engine.groups], fg, keep, zero_c)
    Wm = _bdiag([f * W for f, W in zip(fg, Wm_g)])
    Wmi = None if Wmi_g is None else _bdiag([W / f for f, W in zip(fg, Wmi_g)])
    # the traces below are those of lavaan's U-matrix formulas expanded with U = Wm - L, L = WD K WD' (K =
    # (D' Wm D)^-1, WD = Wm D) and Wmi Wm = I (so Wmi WD = D): only (moments x parameters) products are needed
    #   V3: tr(U Wmi Wc Wmi U Gamma) = tr(Wc Gamma) - 2 tr(K D' Wc Gamma WD) + tr(K D' Wc D K WD' Gamma WD)
    #   V6: tr(Wc Wmi U Wmi)         = tr(Wc Wmi) - tr(K D' Wc D)
    # Gamma = bdiag(Wm_g^-1 Jm_g Wm_g^-1 / f_g) with Jm_g = R_g'R_g (cases or clusters x moments): with T_g = R_g
    # Wm_g^-1, Gamma_g = T_g'T_g / f_g, tr(Wc Gamma) = sum_g tr(T_g Wc_g T_g') and Gamma X = bdiag(T_g'(T_g X_g) /
    # f_g): no moments x moments x moments product (the explicit Gamma when no root is at hand)
    if version == "V3":
        if not solves_only:  # no root: the explicit Gamma
            Jm_g = [B1[np.ix_(keep, keep)] for _, B1 in info]
            Gamma = _bdiag([Wi @ J @ Wi / f for f, Wi, J in zip(fg, Wmi_g, Jm_g)])
            tr_base = float(np.sum(Wc.dense() * Gamma))

            def gamma_times(X: np.ndarray) -> np.ndarray:
                return Gamma @ X
        else:
            T_g = [item.root_solve(keep).T for item in info]  # R Wm_g^-1
            tr_base = float(sum(np.sum(Wc.group_times(g, T.T) * T.T) for g, T in enumerate(T_g)))
            sizes = [len(W) for W in Wm_g]
            starts = np.cumsum([0] + sizes)

            def gamma_times(X: np.ndarray) -> np.ndarray:
                return np.vstack([T.T @ (T @ X[a:b]) / f for T, f, a, b in zip(T_g, fg, starts[:-1], starts[1:])])
    else:
        tr_base = float(np.sum(Wc.dense() * Wmi))
        gamma_times = None

    return Wm, Wmi, Wc, tr_base, gamma_times


def fiml_corrected(engine: Engine, theta: np.ndarray, df: int, base_engine: Engine, base_theta: np.ndarray,
                   df_null: int, info: list[tuple[np.ndarray, np.ndarray]] | None = None,
                   version: str = "V3") -> dict:
    """lavaan 0.6-14's ``lav_fit_fiml_corrected``: the parts of the robust CFI / TLI / RMSEA for missing data
    (``missing = "ml"``; Savalei 2018, Zhang & Savalei 2023, "FIML-corrected" statistics).

    * ``XX3`` = the ML chi-square of the FIML estimates against the EM (h1) moments as if they were complete-data
      sample moments (lavaan refits the model to ``sample.cov`` / ``sample.mean`` = the EM moments without
      optimising), ``df3`` = ``df``, the model df;
    * with, per group g (weight f_g = N_g / N), Wm_g the observed and Jm_g the first-order information of the
      saturated FIML model at the EM moments, Wc_g the complete-data information at the EM moments, Delta the
      derivatives of the implied moments, all stacked block-diagonally as ``Wm = bdiag(f_g Wm_g)``,
      ``Wmi = bdiag(Wm_g^-1 / f_g)``, ``Wc = bdiag(f_g Wc_g)``, ``Gamma = bdiag(Wm_g^-1 Jm_g Wm_g^-1 / f_g)``:
      ``U = Wm - Wm Delta (Delta' Wm Delta)^-1 Delta' Wm`` and
      ``k = tr(U Wmi Wc Wmi U Gamma)`` (version "V3", MLR) or ``k = tr(Wc Wmi U Wmi)`` ("V6", ML);
      ``c.hat3 = k / df3`` (infinite for a model without df, as in lavaan: its robust measures are then those of a
      perfect fit), ``XX3.scaled = XX3 / c.hat3``;
    * the same for the baseline (independence) model at its FIML estimates ``base_theta``: ``XX3.null``,
      ``df3.null`` = ``df_null``, ``c.hat3.null``.

    Under fixed.x the x-x (co)variances and x means are left out of every matrix (lavaan zeroes them). ``info`` is
    :func:`h1_information_fiml`'s result if already computed. Returns the seven numbers with lavaan's names.
    """
    if info is None:
        info = h1_information_fiml(engine)
    keep = _fiml_moment_keep(engine)
    N = engine.N
    fg = [gd.n / N for gd in engine.groups]
    memo = getattr(info, "memo", None)
    mkey = (keep.tobytes(), tuple(getattr(engine.pt, "ov_x_random", [])), version)
    if memo is not None and mkey in memo:
        Wm, Wmi, Wc, tr_base, gamma_times = memo[mkey]
    else:
        Wm, Wmi, Wc, tr_base, gamma_times = _fiml_corrected_parts(engine, info, keep, fg, version)
        if memo is not None:
            memo[mkey] = (Wm, Wmi, Wc, tr_base, gamma_times)

    def k_fimlc(eng: Engine, th: np.ndarray) -> float:
        D = np.vstack([_delta_fiml(eng, th, g)[keep] for g in range(len(eng.groups))])
        WD = Wm @ D
        K = inverse(D.T @ WD)
        DWc = Wc.times(D).T     # D' Wc (Wc is symmetric)
        if version == "V3":
            GWD = gamma_times(WD)
            return float(tr_base - 2 * np.sum(K * (DWc @ GWD).T) + np.trace(K @ (DWc @ D) @ K @ (WD.T @ GWD)))
        return float(tr_base - np.sum(K * (DWc @ D).T))

    def chisq_h1(eng: Engine, th: np.ndarray) -> float:
        # the estimates against the EM moments as complete-data sample moments (GroupData.mean / .cov of a FIML
        # group hold the EM moments): N F_ML
        return float(N * Engine(eng.pt, eng.groups).objective(th))

    def ratio(k: float, d: int) -> float:
        # R's k / d, except for d = 0 (a model without df fits perfectly): there k is 0 up to rounding, so R gives
        # +Inf, -Inf or NaN by the sign of the rounding error; +Inf gives lavaan's perfect-fit robust measures
        return k / d if d > 0 else math.inf

    df3, df3_null = df, df_null
    XX3 = chisq_h1(engine, theta)
    c3 = ratio(k_fimlc(engine, theta), df3)
    XX3_null = chisq_h1(base_engine, base_theta)
    c3_null = ratio(k_fimlc(base_engine, base_theta), df3_null)
    return {"XX3": XX3, "df3": df3, "c.hat3": c3, "XX3.scaled": XX3 / c3 if c3 else math.nan,
            "XX3.null": XX3_null, "df3.null": df3_null, "c.hat3.null": c3_null}
