"""Two-level SEM / CFA with ML, to the numbers of lavaan 0.6-14 (``sem(model, data, cluster = "cluster")`` with
``level: 1`` / ``level: 2`` blocks).

What is reproduced, and how lavaan computes it (``lav_mvnorm_cluster``, ``lav_samplestats_cluster_patterns``,
``lav_mvnorm_cluster_em_sat``, ``lav_fit_srmr_twolevel``):

* **Variables.** Level 1 (within) has the variables named in the ``level: 1`` block, level 2 (between) those of
  ``level: 2``. A variable in both blocks is split into a within part and a between part ("both"); a variable only
  at level 1 has no between part (its between covariance is zero, its between mean absent); a variable only at
  level 2 is a cluster-level variable (its value is the cluster mean of the column).
* **Model per level.** Each block is an ordinary lavaan model with a mean structure (``lavaan::sem`` defaults):
  within intercepts of the "both" variables are fixed at 0 (their mean is the between intercept), the latent means
  at 0. With ``fixed.x`` (the default) an exogenous covariate of one level is fixed at its sample moments: a
  within-only covariate at the total sample covariance (divisor N) and mean, a between-only covariate at the
  covariance of the cluster values (divisor J, the number of clusters) and their mean. A fixed covariate that
  appears at both levels is not supported (ModelError).
* **Log-likelihood.** For cluster j with n_j members, the within deviations are independent N(0, Sigma_W) and
  the cluster vector b_j = (z_j, ybar_j) (between-only variables z, cluster means ybar of the others) is
  N(mu, Omega_j) with Omega_j = [[S_zz, S_zy], [S_yz, Sigma_B,yy + Sigma_W / n_j]] and mu = (mu_z, mu_W + mu_B).
  Grouping clusters by size s (n_s clusters of size n):
  ``-2 logL = sum_s n_s [log|Omega_s| + p_y log n + tr(Omega_s^-1 (C_s + d_s d_s'))] + (N - J) [log|Sigma_W| +
  tr(Sigma_W^-1 S_PW)] + (N p_y + J p_z) log(2 pi)``, C_s and the mean of b_j over the clusters of that size
  (d_s = mean - mu), S_PW the pooled within covariance (divisor N - J). This equals lavaan's
  ``lav_mvnorm_cluster_loglik_samplestats_2l`` (its partitioned form with Sigma_j = n Sigma_B.z + Sigma_W).
  With fixed covariates lavaan's ``logl`` subtracts their saturated log-likelihood (``loglik.x``: within-only
  covariates with N cases and the total covariance, between-only ones with J clusters and the covariance of the
  cluster values).
* **Estimation.** Fisher scoring with the exact expected information of this likelihood (the cluster vectors and
  the within scatter are independent sufficient statistics), to a scoring decrement below 1e-20 (lavaan: nlminb).
* **Standard errors.** lavaan's default for multilevel ML is ``information = "observed"`` with
  ``observed.information = "hessian"``: the Hessian of -logL by the same 5-point central differences of the
  analytic gradient (step 1e-6), symmetrised; vcov = its inverse.
* **Saturated model (h1).** lavaan's EM algorithm (``lav_mvnorm_cluster_em_sat``: start Sigma_W = Sigma_B = I,
  mu = 0, the between-only block at its sample moments; stop when the log-likelihood rises by less than 1e-4, at
  most 5000 iterations), ported step by step so that ``unrestricted.logl`` is lavaan's to rounding, not a better
  optimum. chisq = max(0, 2 (logl_h1 - logl)); df = number of sample moments (lavaan's ``lav_partable_ndat``: per
  level p(p+1)/2 plus the means of level 2 and of the within-only variables, less the moments of fixed
  covariates) minus npar.
* **Baseline.** lavaan's independence model per level: free variances of the non-covariates, free between means,
  within means of the "both" variables and all covariate moments fixed at the h1 (EM) values; fitted by the same
  likelihood. cfi / tli / nnfi / rfi / nfi / pnfi / ifi / rni, rmsea (+ 90% interval and p-values, N = number of
  cases), aic / bic / bic2 (N = number of cases) use lavaan's formulas (:mod:`vccscale.sem.measures`).
* **SRMR.** ``srmr_within`` / ``srmr_between``: root mean square of the lower-triangle correlation residuals
  (h1 EM moments against the implied ones, means not used, the implied between covariance forced positive
  definite); ``srmr`` is their sum.
* **Standardized solution.** per level from that level's implied covariance (``standardizedSolution``).

Agreement with lavaan 0.6-14 (tests/test_sem_twolevel.py; the issue asks for 1e-3 relative):

* at lavaan's own estimates (:meth:`TwoLevelFitResult.evaluate`) the log-likelihood, fmin, chisq and SRMR agree
  to 1e-9 relative (measured 1e-14) and the SEs / z values to 1e-6 relative (measured < 1e-9): the likelihood,
  the h1 EM and the Hessian are lavaan's;
* at our own optimum: lavaan's nlminb stops when F changes by less than 1e-10 relative, 3e-7 to 2e-6 below the
  maximum of logL in the reference cases; our logL is higher by that much. For a quadratic log-likelihood an
  estimate can then differ by at most sqrt(2 dlogL) SE (Cauchy-Schwarz), here <= 2e-3 SE (measured <= 1.9e-3
  of max(|est|, SE)); the tests assert this bound, SEs to 1e-3 relative (measured <= 7e-5), fit measures to
  1e-5 relative (measured <= 4e-6) and SRMR to 1e-5 absolute (it moves with the estimates; measured <= 5e-6),
  std.all to 1e-3 absolute (measured <= 1.5e-4).

Listwise deletion: rows with a missing value on a model variable are dropped (lavaan's ``missing = "listwise"``;
``FitResult.n_dropped`` and a warning give the count); a missing cluster id is a :class:`DataError`. Unbalanced
clusters and singleton clusters are fine (a singleton adds to the between part only).

Out of scope: FIML (missing data) in two-level models, MLR, more than two levels, multiple groups, a fixed
covariate at both levels, ``==`` / ``<`` / ``>`` rows, modification indices. A label shared by both levels makes one
parameter (equal loadings across levels). ``:=`` rows may use the labels of both levels (lavaan's level 0 rows;
delta-method SEs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, ModelError
from .results import FitResult, estimate_row, evaluate_defined, labelled_vcov
from .syntax import is_twolevel

__all__ = ["fit_twolevel", "TwoLevelFitResult", "is_twolevel"]

LOG2PI = math.log(2 * math.pi)
#: lavaan's h1 EM: tolerance on the log-likelihood change, iteration cap, smallest within variance
EM_TOL, EM_MAX_ITER, EM_MIN_VARIANCE = 1e-4, 5000, 1e-5
#: 5-point central differences of the gradient for the observed information (lavaan's lav_model_hessian)
HESSIAN_STEP = 1e-6


# ---------------------------------------------------------------------------------------------- data
@dataclass
class ClusterData:
    """Sufficient statistics of the clustered data (lavaan's ``Lp`` / ``YLp``). The cluster vector is ordered
    (between-only variables z, then the level-1 variables y in level-1 order): ``omega_names``."""

    names_w: list[str]  # level-1 variables (y part)
    names_b: list[str]  # level-2 variables
    z_names: list[str]  # between-only variables
    N: int
    J: int
    cluster_size: np.ndarray  # (J,)
    Y1: np.ndarray  # (N, ny) raw level-1 data
    Y2: np.ndarray  # (J, nz + ny) cluster means in omega order
    S_PW: np.ndarray  # pooled within covariance of the y part, divisor N - J
    sizes: np.ndarray  # distinct cluster sizes, ascending
    ns: np.ndarray  # number of clusters of each size
    mean_d: list  # per size: mean of the cluster vectors
    cov_d: list  # per size: their covariance (divisor n_s; 0 for one cluster)
    S_total: np.ndarray  # total covariance of the y part (divisor N)
    mean_total: np.ndarray
    Z_cov: np.ndarray  # covariance of the cluster values of all level-2 variables (divisor J), level-2 order
    Z_mean: np.ndarray
    P2: np.ndarray  # (nomega, p2) embedding of the level-2 variables in the cluster vector
    Q1: np.ndarray  # (nomega, p1) embedding of the level-1 variables
    loglik_x: float = 0.0
    cluster_ids: list = field(default_factory=list)

    @property
    def ny(self) -> int:
        return len(self.names_w)

    @property
    def nz(self) -> int:
        return len(self.z_names)


def _h1_loglik_samplestats(n: int, S: np.ndarray) -> float:
    """lavaan's lav_mvnorm_h1_loglik_samplestats: -n/2 (p log 2pi + log|S| + p)."""
    p = S.shape[0]
    return -n / 2 * (p * LOG2PI + np.linalg.slogdet(S)[1] + p)


def prepare_cluster_data(data, names_w, names_b, cluster, x_w=(), x_b=()) -> tuple[ClusterData, int, list[str]]:
    """Listwise deletion on the model variables (lavaan's missing = "listwise"), then lavaan's cluster statistics.
    Returns the statistics, the number of rows dropped and notes."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if cluster not in data.columns:
        raise DataError(f"cluster column {cluster!r} is not in the data", column=cluster)
    allv = list(names_w) + [v for v in names_b if v not in names_w]
    if cluster in allv:
        raise ModelError(f"the cluster column {cluster!r} is also a variable of the model")
    missing = [v for v in allv if v not in data.columns]
    if missing:
        raise ModelError(f"the model names {len(missing)} variable(s) that are not columns of the data: "
                         f"{', '.join(missing)}")
    bad = [c for c in allv if pd.api.types.is_bool_dtype(data[c]) or not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise DataError(f"model variable(s) {', '.join(bad)} are not numeric; recode them to numbers first",
                        column=bad[0])
    cl = data[cluster]
    n_na_cl = int(cl.isna().sum())
    if n_na_cl:
        raise DataError(f"the cluster column {cluster!r} is missing in {n_na_cl} of {len(data)} rows; every row "
                        "needs a cluster id (drop those rows, or give each its own id for a singleton cluster)",
                        column=cluster)
    X = data[allv].to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(X).all(axis=1)
    dropped = int((~ok).sum())
    notes = []
    if dropped:
        notes.append(f"{dropped} of {len(data)} rows dropped for missing values on the model variables (listwise, "
                     "lavaan's missing = \"listwise\"; FIML is not available for two-level models)")
    X = X[ok]
    ids = cl.to_numpy()[ok]
    N = X.shape[0]
    if N == 0:
        raise DataError("no complete rows on the model variables")
    # clusters in order of first appearance (lavaan: cluster.idx via match(cluster, unique(cluster)))
    uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    cidx = rank[inv.ravel()]
    J = len(uniq)
    if J < 2:
        raise DataError(f"only {J} cluster(s) with complete data; a two-level model needs many clusters")
    size = np.bincount(cidx, minlength=J).astype(float)
    # between-only variables: their cluster values (lavaan uses the cluster means of the column)
    pw, nz_names = len(names_w), [v for v in names_b if v not in names_w]
    col = {v: i for i, v in enumerate(allv)}
    sums = np.zeros((J, X.shape[1]))
    np.add.at(sums, cidx, X)
    Y2all = sums / size[:, None]
    zi = [col[v] for v in nz_names]
    yi = list(range(pw))
    Y2 = Y2all[:, zi + yi]
    Y1 = X[:, yi]
    dev = Y1 - Y2all[cidx][:, yi]
    if N - J <= 0:
        raise DataError(f"{N} rows in {J} clusters: every cluster has one member, so there is no within-cluster "
                        "variation; a two-level model needs clusters with more than one member")
    S_PW = dev.T @ dev / (N - J)
    mean_total = Y1.mean(axis=0)
    Yc = Y1 - mean_total
    S_total = Yc.T @ Yc / N
    bi = [col[v] for v in names_b]
    Zb = Y2all[:, bi]
    Z_mean = Zb.mean(axis=0)
    Zc = Zb - Z_mean
    Z_cov = Zc.T @ Zc / J
    sizes, ns = np.unique(size.astype(int), return_counts=True)
    mean_d, cov_d = [], []
    for s in sizes:
        B = Y2[size == s]
        m = B.mean(axis=0)
        mean_d.append(m)
        cov_d.append((B - m).T @ (B - m) / len(B) if len(B) > 1 else np.zeros((B.shape[1], B.shape[1])))
    nom = len(nz_names) + pw
    P2 = np.zeros((nom, len(names_b)))
    for j, v in enumerate(names_b):
        P2[nz_names.index(v) if v in nz_names else len(nz_names) + names_w.index(v), j] = 1.0
    Q1 = np.zeros((nom, pw))
    Q1[len(nz_names) + np.arange(pw), np.arange(pw)] = 1.0
    lx = 0.0
    if x_w:
        ix = [names_w.index(v) for v in x_w]
        lx += _h1_loglik_samplestats(N, S_total[np.ix_(ix, ix)])
    if x_b:
        ix = [names_b.index(v) for v in x_b]
        lx += _h1_loglik_samplestats(J, Z_cov[np.ix_(ix, ix)])
    const = [v for j, v in enumerate(names_w) if S_total[j, j] <= 1e-12 * max(1.0, float(np.max(np.diag(S_total))))]
    if const:
        raise DataError(f"variable(s) {', '.join(const)} are constant; drop them from the model")
    cd = ClusterData(list(names_w), list(names_b), nz_names, N, J, size, Y1, Y2, S_PW, sizes, ns, mean_d, cov_d,
                     S_total, mean_total, Z_cov, Z_mean, P2, Q1, lx, list(uniq[order]))
    return cd, dropped, notes


# ---------------------------------------------------------------------------------------------- likelihood
def minus2_loglik(cd: ClusterData, SW, muW, SB, muB, grad: bool = False):
    """-2 logL without the 2 pi constant and without the covariates' part (lavaan's
    lav_mvnorm_cluster_loglik_samplestats_2l with log2pi = FALSE, minus.two = TRUE), and optionally its
    gradient in (Sigma_W, mu_W, Sigma_B, mu_B) (dF = tr(G dSigma) + g . dmu). Returns inf when a covariance is
    not positive definite."""
    P2, Q1 = cd.P2, cd.Q1
    OB = P2 @ SB @ P2.T
    OW = Q1 @ SW @ Q1.T
    mu = P2 @ muB + Q1 @ muW
    f = 0.0
    nom = OB.shape[0]
    GO_B = np.zeros((nom, nom))
    GO_W = np.zeros((nom, nom))
    gmu = np.zeros(nom)
    for s, n_s, m, C in zip(cd.sizes, cd.ns, cd.mean_d, cd.cov_d):
        Om = OB + OW / s
        try:
            L = np.linalg.cholesky(Om)
        except np.linalg.LinAlgError:
            return (np.inf, None) if grad else np.inf
        logdet = 2 * np.sum(np.log(np.diag(L)))
        Oi = np.linalg.inv(Om)
        d = m - mu
        M = C + np.outer(d, d)
        f += n_s * (logdet + cd.ny * math.log(s) + np.sum(Oi * M))
        if grad:
            G = n_s * (Oi - Oi @ M @ Oi)
            GO_B += G
            GO_W += G / s
            gmu += -2 * n_s * (Oi @ d)
    try:
        Lw = np.linalg.cholesky(SW)
    except np.linalg.LinAlgError:
        return (np.inf, None) if grad else np.inf
    Wi = np.linalg.inv(SW)
    f += (cd.N - cd.J) * (2 * np.sum(np.log(np.diag(Lw))) + np.sum(Wi * cd.S_PW))
    if not grad:
        return f
    GW = Q1.T @ GO_W @ Q1 + (cd.N - cd.J) * (Wi - Wi @ cd.S_PW @ Wi)
    GB = P2.T @ GO_B @ P2
    return f, (GW, Q1.T @ gmu, GB, P2.T @ gmu)


def loglik_from_minus2(cd: ClusterData, f2: float) -> float:
    """lavaan's logl: -f2/2 minus the normal constant and the covariates' saturated log-likelihood."""
    P = cd.N * cd.ny + cd.J * cd.nz
    return -f2 / 2 - P * LOG2PI / 2 - cd.loglik_x


# ---------------------------------------------------------------------------------------------- h1 (EM)
@dataclass
class H1:
    SW: np.ndarray
    muW: np.ndarray
    SB: np.ndarray
    muB: np.ndarray
    logl: float
    iterations: int
    converged: bool


def em_saturated(cd: ClusterData, tol: float = EM_TOL, max_iter: int = EM_MAX_ITER,
                 min_variance: float = EM_MIN_VARIANCE) -> H1:
    """lavaan's ``lav_mvnorm_cluster_em_sat`` / ``lav_mvnorm_cluster_em_estepb``, step by step (the same start,
    updates and stopping rule, so that the saturated log-likelihood is lavaan's, not a more precise optimum)."""
    ny, nz = cd.ny, cd.nz
    p2 = len(cd.names_b)
    both = [cd.names_w.index(v) for v in cd.names_b if v in cd.names_w]  # y-part index of the "both" variables
    bpos = [j for j, v in enumerate(cd.names_b) if v in cd.names_w]  # their level-2 index
    zpos = [j for j, v in enumerate(cd.names_b) if v not in cd.names_w]

    def to_implied(sw, sb, syz, szz, mw, mb, mz):
        SB = np.zeros((p2, p2))
        SB[np.ix_(bpos, bpos)] = sb[np.ix_(both, both)]
        SB[np.ix_(zpos, zpos)] = szz
        SB[np.ix_(bpos, zpos)] = syz[both]
        SB[np.ix_(zpos, bpos)] = syz[both].T
        muB = np.zeros(p2)
        muB[bpos] = mb[both]
        muB[zpos] = mz
        return sw.copy(), mw.copy(), SB, muB

    def fx(SW, muW, SB, muB):
        f2 = minus2_loglik(cd, SW, muW, SB, muB)
        return loglik_from_minus2(cd, f2)

    # start: Sigma.W = I, Sigma.B = I, means 0 (lav_mvnorm_cluster_implied22l of these)
    sw = np.eye(ny)
    sb = np.zeros((ny, ny))
    sb[both, both] = 1.0
    syz = np.zeros((ny, nz))
    mw = np.zeros(ny)
    mb = np.zeros(ny)
    f_old = fx(np.eye(ny), np.zeros(ny), np.eye(p2), np.zeros(p2))
    Z = cd.Y2[:, :nz]
    mz = Z.mean(axis=0) if nz else np.zeros(0)
    szz = ((Z - mz).T @ (Z - mz) / cd.J) if nz else np.zeros((0, 0))
    Y1Y1 = cd.Y1.T @ cd.Y1
    size = cd.cluster_size
    SW = muW = SB = muB = None
    f = f_old
    it, converged = 0, False
    for it in range(1, max_iter + 1):
        my = mw + mb
        sigma1 = np.hstack([syz, sb]) if nz else sb
        mu = np.concatenate([mz, my])
        CW2 = np.zeros((ny, ny))
        CB = np.zeros((ny, ny))
        MW = np.zeros(ny)
        MB = np.zeros(ny)
        ZY = np.zeros((nz, ny))
        for s, n_s in zip(cd.sizes, cd.ns):
            rows = size == s
            bj = cd.Y2[rows]
            ybar = bj[:, nz:]
            sj = sw + s * sb
            if nz:
                omega = np.block([[szz, syz.T], [syz, sj / s]])
            else:
                omega = sj / s
            s1i = sigma1 @ np.linalg.inv(omega)
            Ev = (bj - mu) @ s1i.T + mb
            Covv = n_s * (sb - s1i @ sigma1.T)
            Covv = (Covv + Covv.T) / 2
            Evv = Covv + Ev.T @ Ev
            MW += s * (ybar - Ev).sum(axis=0)
            MB += Ev.sum(axis=0)
            CW2 += s * (Evv - ybar.T @ Ev - Ev.T @ ybar)
            CB += Evv
            if nz:
                ZY += bj[:, :nz].T @ Ev
        Mws = MW / cd.N
        Mbs = MB / cd.J
        Cbs = CB / cd.J
        Cws = (Y1Y1 + CW2) / cd.N
        sw = Cws - np.outer(Mws, Mws)
        sb = Cbs - np.outer(Mbs, Mbs)
        mw, mb = Mws, Mbs
        if nz:
            syz = (ZY / cd.J - np.outer(mz, Mbs)).T
        SW, muW, SB, muB = to_implied(sw, sb, syz, szz, mw, mb, mz)
        zero = np.flatnonzero(np.diag(SW) < min_variance)
        if len(zero):
            SW[:, zero] = sw[:, zero] = 0
            SW[zero, :] = sw[zero, :] = 0
            SW[zero, zero] = sw[zero, zero] = min_variance
        f = fx(SW, muW, SB, muB)
        if f - f_old < tol:
            converged = True
            break
        f_old = f
    return H1(SW, muW, SB, muB, float(f), it, converged)


# ---------------------------------------------------------------------------------------------- model
class TwoLevelModel:
    """Two per-level :class:`~vccscale.sem.fit.Engine` objects sharing one parameter vector, and the two-level
    likelihood of :func:`minus2_loglik`."""

    def __init__(self, pts, cd: ClusterData, stats):
        from .fit import Engine, GroupData

        self.pts = pts
        self.cd = cd
        self.defined = []           # := parameters (model.DefinedParameter), set by fit_twolevel
        self.engines = []
        for pt, (cov, mean, n) in zip(pts, stats):
            self.engines.append(Engine(pt, [GroupData(None, np.zeros((0, cov.shape[0])), n, mean, cov)]))
        # global parameter index of each level's parameters: a label shared by both levels is one parameter
        label_par: dict[str, int] = {}
        self.maps = []
        q = 0
        for pt in pts:
            m = np.full(pt.npar, -1, dtype=int)
            for r in pt.rows:
                k = r["par"]
                if k < 0 or m[k] >= 0:
                    continue
                if r["label"] and r["label"] in label_par:
                    m[k] = label_par[r["label"]]
                else:
                    m[k] = q
                    q += 1
            for r in pt.rows:
                if r["par"] >= 0 and r["label"]:
                    label_par.setdefault(r["label"], int(m[r["par"]]))
            self.maps.append(m)
        self.q = q

    def local(self, theta, lv):
        return theta[self.maps[lv]]

    def moments(self, theta):
        (SW, muW), = self.engines[0].implied(self.local(theta, 0))
        (SB, muB), = self.engines[1].implied(self.local(theta, 1))
        return SW, muW, SB, muB

    def f2(self, theta) -> float:
        try:
            return float(minus2_loglik(self.cd, *self.moments(theta)))
        except Exception:  # noqa: BLE001 - a singular (I - B) etc.: not admissible
            return np.inf

    def derivatives(self, theta):
        """Global d Sigma / d theta and d mu / d theta per level: [(dS (q, p, p), dm (q, p)), ...]."""
        out = []
        for lv, eng in enumerate(self.engines):
            dS, dm = eng.derivatives(self.local(theta, lv), 0)
            gS = np.zeros((self.q,) + dS.shape[1:])
            gm = np.zeros((self.q, dm.shape[1]))
            np.add.at(gS, self.maps[lv], dS)
            np.add.at(gm, self.maps[lv], dm)
            out.append((gS, gm))
        return out

    def gradient(self, theta) -> np.ndarray:
        f, G = minus2_loglik(self.cd, *self.moments(theta), grad=True)
        if G is None:
            return np.full(self.q, np.nan)
        GW, gmW, GB, gmB = G
        (dW, dmW), (dB, dmB) = self.derivatives(theta)
        return (np.einsum("kab,ab->k", dW, GW) + dmW @ gmW + np.einsum("kab,ab->k", dB, GB) + dmB @ gmB)

    def information(self, theta) -> np.ndarray:
        """Expected information of f2 (= E of its Hessian): per size sum n_s [tr(Oi dO_k Oi dO_l) +
        2 dmu_k' Oi dmu_l] + (N - J) tr(Wi dW_k Wi dW_l)."""
        cd = self.cd
        SW, muW, SB, muB = self.moments(theta)
        (dW, dmW), (dB, dmB) = self.derivatives(theta)
        P2, Q1 = cd.P2, cd.Q1
        dOB = np.einsum("ia,kab,jb->kij", P2, dB, P2)
        dOW = np.einsum("ia,kab,jb->kij", Q1, dW, Q1)
        dmu = dmB @ P2.T + dmW @ Q1.T
        OB, OW = P2 @ SB @ P2.T, Q1 @ SW @ Q1.T
        info = np.zeros((self.q, self.q))
        for s, n_s in zip(cd.sizes, cd.ns):
            Oi = np.linalg.inv(OB + OW / s)
            L = np.linalg.cholesky(Oi)
            dO = dOB + dOW / s
            X = np.einsum("ai,kab,bj->kij", L, dO, L).reshape(self.q, -1)
            info += n_s * (X @ X.T + 2 * dmu @ Oi @ dmu.T)
        Wi = np.linalg.inv(SW)
        L = np.linalg.cholesky(Wi)
        X = np.einsum("ai,kab,bj->kij", L, dW, L).reshape(self.q, -1)
        info += (cd.N - cd.J) * (X @ X.T)
        return info

    def row_values(self, theta):
        return [eng.row_values(self.local(theta, lv)) for lv, eng in enumerate(self.engines)]


def _fisher(model: TwoLevelModel, theta, max_iter: int = 200):
    """Damped Fisher scoring on f2 = -2 logL; converged when the scoring decrement g' I^-1 g / 4 is below 1e-20
    relative or no step lowers f2 and the decrement is below 1e-12 (f2 itself is known to ~1e-16 relative)."""
    F = model.f2(theta)
    if not np.isfinite(F):
        raise ModelError("the start values of the two-level model are not admissible (an implied covariance "
                         "matrix is not positive definite)")
    lam = 0.0
    for it in range(1, max_iter + 1):
        g = model.gradient(theta)
        info = model.information(theta)
        d = np.sqrt(np.clip(np.diag(info), 1e-300, None))
        R = info / np.outer(d, d)
        b = g / d
        try:
            dec = float(b @ np.linalg.solve(R, b)) / 4
        except np.linalg.LinAlgError:
            dec = np.inf
        if dec < 1e-20 * max(1.0, abs(F)):
            return theta, it, True
        accepted = False
        for _ in range(30):
            try:
                step = -np.linalg.solve(R + lam * np.eye(model.q), b) / d
            except np.linalg.LinAlgError:
                lam = max(lam * 10, 1e-6)
                continue
            t = 1.0
            for _ in range(20):
                cand = theta + t * step
                Fc = model.f2(cand)
                if np.isfinite(Fc) and Fc <= F:
                    accepted = True
                    break
                t /= 2
            if accepted:
                break
            lam = max(lam * 10, 1e-6)
        if not accepted or Fc == F:
            return theta, it, bool(dec < 1e-12 * max(1.0, abs(F)))
        theta, F = cand, Fc
        lam = lam / 10 if lam > 1e-8 else 0.0
    return theta, max_iter, False


def _scoring_then_bfgs(model: TwoLevelModel, start):
    """:func:`_fisher` from ``start``; when it does not converge, BFGS from ``start`` (2000 steps) and scoring again
    from there. A model scoring cannot finish in 200 steps is usually at a boundary, e.g. a between-level variance
    near zero: BFGS gets the chance to find another way. Returns (theta, iterations, converged)."""
    theta, iters, ok = _fisher(model, start)
    if not ok:
        from scipy.optimize import minimize

        res = minimize(model.f2, start, jac=model.gradient, method="BFGS", options={"maxiter": 2000, "gtol": 1e-9})
        theta, it2, ok = _fisher(model, res.x)
        iters += it2 + int(res.nit)
    return theta, iters, ok


def _hessian(model: TwoLevelModel, theta) -> np.ndarray:
    """lavaan's lav_model_hessian: 5-point central differences of the analytic gradient (of -logL), step 1e-6,
    symmetrised."""
    q = model.q
    H = np.zeros((q, q))
    h = HESSIAN_STEP
    for j in range(q):
        def g(t):
            x = theta.copy()
            x[j] += t
            return model.gradient(x) / 2
        H[:, j] = (g(-2 * h) - 8 * g(-h) + 8 * g(h) - g(2 * h)) / (12 * h)
    return (H + H.T) / 2


# ---------------------------------------------------------------------------------------------- partables
def _level_partables(blocks, model_type, std_lv, fixed_x):
    from .model import build_partable, compile_defined, renumber_free
    from .syntax import parse_model

    rows = {lv: parse_model(text) for lv, text in blocks}
    defs = []
    for lv, rr in rows.items():
        bad = [r for r in rr if r.op in ("==", "<", ">")]
        if bad:
            raise ModelError(f"model syntax line {bad[0].line}: {bad[0].op} rows are not supported in two-level "
                             "models yet", line=bad[0].line)
        defs += [r for r in rr if r.op == ":="]     # across levels (lavaan: block 0, level 0)
        rows[lv] = [r for r in rr if r.op != ":="]
    pts = [build_partable(rows[lv], model_type=model_type, std_lv=std_lv, meanstructure=True,
                          fixed_x=True if fixed_x is None else bool(fixed_x)) for lv in (1, 2)]
    w, b = pts
    lvw, lvb = set(w.lv_names), set(b.lv_names)
    shared_lv = lvw & lvb
    if shared_lv:
        raise ModelError(f"latent variable(s) {', '.join(sorted(shared_lv))} appear at both levels; give the "
                         "within and between factors different names (e.g. fw and fb)")
    clash = (lvw & set(b.ov_names)) | (lvb & set(w.ov_names))
    if clash:
        raise ModelError(f"{', '.join(sorted(clash))} is a latent variable at one level and observed at the other")
    for pt, other in ((w, b), (b, w)):
        both_x = [v for v in pt.ov_x if v in other.ov_names]
        if both_x:
            raise ModelError(f"the covariate(s) {', '.join(both_x)} appear at both levels; a fixed covariate "
                             "split into a within and a between part is not supported yet (lavaan fixes its "
                             "between variance at the sample value). Use it at one level only")
    both = set(w.ov_names) & set(b.ov_names)
    # within intercepts of the variables that also have a between part: fixed at 0 (lavaan)
    for r in w.rows:
        if r["op"] == "~1" and r["lhs"] in both and not r["exo"]:
            if r["user"] and (r["free"] or (r["ustart"] or 0) != 0):
                raise ModelError(f"model syntax line {r['line']}: {r['lhs']} has a between part; its mean is the "
                                 "between-level intercept (level: 2), not a within-level one", line=r["line"])
            r.update(free=False, ustart=0.0)
    for pt in pts:
        renumber_free(pt)
    labels = {r["label"] for pt in pts for r in pt.rows if r["label"]}
    clash = sorted(labels & {d.lhs for d in defs})
    if clash:
        raise ModelError(f"label {clash[0]!r} is also the name of a defined (:=) parameter")
    return pts, compile_defined(defs, labels)


def _ndat(pts) -> int:
    """lavaan's lav_partable_ndat for two levels with a mean structure."""
    w, b = pts
    fixed_x = bool(w.ov_x or b.ov_x)
    n = 0
    for lv, pt in enumerate(pts, start=1):
        p = len(pt.ov_names)
        pstar = p * (p + 1) // 2
        other = set(pts[2 - lv].ov_names)
        if lv == 1:
            pstar += sum(1 for v in pt.ov_nox if v not in other)
        else:
            pstar += p
        if fixed_x:
            nx = len(pt.ov_x)
            pstar -= nx * (nx + 1) // 2 + (0 if lv == 1 else nx)
        n += pstar
    return n


def _baseline_partables(pts, h1: H1):
    """lavaan's independence model of a two-level fit (lav_partable_indep_or_unrestricted, independent = TRUE)."""
    from .model import ParTable

    out = []
    names_other = [set(pts[1].ov_names)]  # level 2 variables (a level-1 variable among them has a between part)
    for lv, pt in enumerate(pts):
        rows = []
        for v in pt.ov_nox:
            rows.append(dict(lhs=v, op="~~", rhs=v, group=1, user=0, free=True, ustart=None, start=None, label="",
                             exo=False, line=None))
        nx = len(pt.ov_x)
        for j in range(nx):
            for i in range(j, nx):
                rows.append(dict(lhs=pt.ov_x[j], op="~~", rhs=pt.ov_x[i], group=1, user=0, free=False, ustart=None,
                                 start=None, label="", exo=True, line=None))
        for v in pt.ov_names:
            exo = v in pt.ov_x
            # within means are free only for within-only variables; between means are free
            free = not exo and (lv == 1 or v not in names_other[0])
            rows.append(dict(lhs=v, op="~1", rhs="", group=1, user=0, free=free, ustart=None, start=None, label="",
                             exo=exo, line=None))
        if lv == 0:  # within means of the "both" variables: fixed at the h1 value
            for r in rows:
                if r["op"] == "~1" and not r["free"] and not r["exo"]:
                    r["ustart"] = float(h1.muW[pt.ov_names.index(r["lhs"])])
        npar = 0
        for i, r in enumerate(rows):
            r["id"] = i + 1
            r["par"] = npar if r["free"] else -1
            npar += 1 if r["free"] else 0
        out.append(ParTable(rows=rows, ov_names=list(pt.ov_names), lv_names=[], ov_x=list(pt.ov_x),
                            ov_nox=list(pt.ov_nox), lv_x=[], lv_endo=[], ngroups=1, group_labels=[1],
                            meanstructure=True, std_lv=False, npar=npar))
    return out


def _start(model: TwoLevelModel) -> np.ndarray:
    from .fit import start_values

    theta = np.zeros(model.q)
    for lv, eng in enumerate(model.engines):
        try:
            t = start_values(eng)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            t = np.zeros(eng.q)
        for k in range(eng.q):
            theta[model.maps[lv][k]] = t[k]
    return theta


def _admissible(model: TwoLevelModel, theta) -> np.ndarray:
    theta = theta.copy()
    var = sorted({int(model.maps[lv][r["par"]]) for lv, pt in enumerate(model.pts) for r in pt.rows
                  if r["par"] >= 0 and r["op"] == "~~" and r["lhs"] == r["rhs"]})
    for _ in range(30):
        if np.isfinite(model.f2(theta)):
            return theta
        theta[var] = np.abs(theta[var]) * 2 + 0.05
    return theta


def _level_stats(cd: ClusterData, pts, h1: H1 | None = None):
    """(cov, mean, n) per level for the engines: the values fixed covariates take (and start values).
    Level 1: the pooled within covariance, with the within-only block at the total covariance (lavaan's
    S.PW.start) and the total means; level 2: the between covariance estimate (S.b - S.w) / s with the
    between-only block at the covariance of the cluster values, and the means. ``h1``: the EM moments instead
    (baseline model)."""
    w, b = pts
    if h1 is not None:
        return [(h1.SW, h1.muW, cd.N), (h1.SB, h1.muB, cd.J)]
    ny = cd.ny
    both = [v for v in w.ov_names if v in b.ov_names]
    within_only = [i for i, v in enumerate(w.ov_names) if v not in both]
    cov1 = cd.S_PW.copy()
    cov1[np.ix_(within_only, within_only)] = cd.S_total[np.ix_(within_only, within_only)]
    mean1 = cd.mean_total.copy()
    # level 2: (S.b - S.w) / s for the both variables, the cluster-value moments for the between-only ones
    s = (cd.N - np.sum(cd.cluster_size ** 2) / cd.N) / (cd.J - 1)
    Y2y = cd.Y2[:, cd.nz:]
    Y2c = Y2y - cd.mean_total
    Sb = (Y2c * cd.cluster_size[:, None]).T @ Y2c / (cd.J - 1)
    SigB_y = (Sb - cd.S_PW) / s
    cov2 = cd.Z_cov.copy()
    bi = [j for j, v in enumerate(b.ov_names) if v in both]
    yi = [w.ov_names.index(v) for v in b.ov_names if v in both]
    cov2[np.ix_(bi, bi)] = SigB_y[np.ix_(yi, yi)]
    mean2 = cd.Z_mean.copy()
    return [(cov1, mean1, cd.N), (cov2, mean2, cd.J)]


# ---------------------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class TwoLevelFitResult(FitResult):
    """A fitted two-level model: :class:`~vccscale.sem.results.FitResult` with a ``level`` column in
    :attr:`estimates` (1 = within, 2 = between), fit measures as lavaan's multilevel ``fitMeasures`` (with
    ``srmr_within`` / ``srmr_between``), per-level ``fitted_cov`` / ``sample_cov`` (keys "within", "between"; the
    sample moments are lavaan's h1 EM estimates) and the cluster counts."""

    cluster: str = ""
    nclusters: int = 0
    cluster_sizes: tuple = ()

    @property
    def partable(self):
        """The parameter tables of the two levels (``{1: ParTable, 2: ParTable}``)."""
        st = self._state
        return {1: st.model.pts[0], 2: st.model.pts[1]}

    @property
    def theta(self) -> np.ndarray:
        return np.array(self._state.theta, dtype=float)

    def row_values(self, theta=None):
        """Values of every row of the two level tables, concatenated (level 1 rows first)."""
        st = self._state
        t = st.theta if theta is None else np.asarray(theta, float)
        return np.concatenate(st.model.row_values(t))

    def vcov(self, labels=None) -> pd.DataFrame:
        st = self._state
        names: dict[int, str] = {}
        by_label: dict[str, int] = {}
        for lv, pt in enumerate(st.model.pts):
            for r in pt.rows:
                if r["par"] < 0:
                    continue
                k = int(st.model.maps[lv][r["par"]])
                if k in names:
                    continue
                names[k] = r["label"] or f"{r['lhs']}{r['op']}{r['rhs']}.l{lv + 1}"
                if r["label"]:
                    by_label[r["label"]] = k
        return labelled_vcov(st.vcov, names, by_label, labels)

    def evaluate(self, estimates: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
        """The log-likelihood, chi-square, SRMR and parameter table (SEs from the observed information) at other
        values of the free parameters, e.g. lavaan's estimates: ``estimates`` has columns lhs, op, rhs, level
        (1 / 2), est and a row for every free parameter (extra rows are ignored)."""
        st = self._state
        key = {(str(r.lhs), str(r.op), "" if pd.isna(r.rhs) else str(r.rhs), int(r.level)): float(r.est)
               for r in estimates.itertuples()}
        theta = np.full(st.model.q, np.nan)
        for lv, pt in enumerate(st.model.pts):
            for r in pt.rows:
                if r["par"] >= 0:
                    k = (r["lhs"], r["op"], r["rhs"], lv + 1)
                    if k not in key:
                        raise KeyError(f"no value for {r['lhs']} {r['op']} {r['rhs']} at level {lv + 1}")
                    theta[st.model.maps[lv][r["par"]]] = key[k]
        f2 = st.model.f2(theta)
        logl = loglik_from_minus2(st.cd, f2)
        vcov = np.linalg.inv(_hessian(st.model, theta))
        SW, _, SB, _ = st.model.moments(theta)
        fit = {"logl": logl, "fmin": f2 / (2 * st.cd.N), "chisq": max(0.0, 2 * (st.h1.logl - logl)),
               "srmr_within": _srmr(st.h1.SW, SW), "srmr_between": _srmr(st.h1.SB, _force_pd(SB))}
        fit["srmr"] = fit["srmr_within"] + fit["srmr_between"]
        return fit, _parameter_table(st.model, theta, (vcov + vcov.T) / 2)

    def modindices(self, sort: bool = False, minimum_value: float = 0.0) -> pd.DataFrame:
        raise ModelError("modification indices are not available for two-level models")

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update({"cluster": self.cluster, "nclusters": self.nclusters, "levels": 2,
                    "cluster_sizes": {"min": int(min(self.cluster_sizes)), "max": int(max(self.cluster_sizes)),
                                      "mean": float(np.mean(self.cluster_sizes))}})
        return out

    def summary(self) -> str:
        f = self.fit
        lines = [f"vccscale two-level SEM ({self.estimator}), {sum(self.nobs)} cases in {self.nclusters} clusters "
                 f"(cluster = {self.cluster!r}, sizes {min(self.cluster_sizes)}-{max(self.cluster_sizes)})"
                 + (f", {self.n_dropped} dropped (listwise)" if self.n_dropped else ""),
                 f"  parameters {int(f['npar'])}, iterations {self.iterations}", "",
                 f"  chi-square {f['chisq']:.3f}, df {int(f['df'])}, p {f['pvalue']:.3f}",
                 f"  CFI {f['cfi']:.3f}  TLI {f['tli']:.3f}  RMSEA {f['rmsea']:.3f} "
                 f"[{f['rmsea.ci.lower']:.3f}, {f['rmsea.ci.upper']:.3f}]  SRMR within {f['srmr_within']:.3f}  "
                 f"between {f['srmr_between']:.3f}",
                 f"  logl {f['logl']:.3f}  AIC {f['aic']:.3f}  BIC {f['bic']:.3f}", ""]
        est = self.estimates
        with pd.option_context("display.width", 140, "display.max_rows", 1000):
            for lv, name in ((1, "Level 1 (within)"), (2, "Level 2 (between)")):
                lines.append(name)
                cols = ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]
                lines.append(est.loc[est["level"] == lv, cols].to_string(index=False,
                                                                          float_format=lambda v: f"{v:.3f}"))
                lines.append("")
        if self.warnings:
            lines += ["Warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines).rstrip()


@dataclass
class _TwoLevelState:
    model: TwoLevelModel
    theta: np.ndarray
    vcov: np.ndarray
    h1: H1
    cd: ClusterData


# ---------------------------------------------------------------------------------------------- fitting
def fit_twolevel(data, model: str, *, cluster: str | None, model_type: str = "sem", estimator: str = "ML",
                 std_lv: bool = False, fixed_x: bool | None = None, missing: str = "listwise",
                 group: str | None = None) -> TwoLevelFitResult:
    """Fit a two-level model (``level: 1`` / ``level: 2`` blocks) with ML as ``lavaan::sem(model, data,
    cluster = cluster)``; see the module docstring for what is computed and how."""
    from .syntax import split_levels

    blocks = split_levels(model)
    if blocks is None:
        raise ModelError("the model has no 'level:' blocks")
    if cluster is None:
        raise ModelError("a two-level model (level: 1 / level: 2 blocks) needs the cluster variable: pass "
                         "cluster=\"<column>\", e.g. fit_sem(data, model, cluster=\"cluster\") (CLI: --cluster "
                         "<column>; lavaan: cluster = \"...\")")
    if not isinstance(estimator, str) or estimator.upper() != "ML":
        raise ModelError(f"two-level models are fitted with estimator=\"ML\" only (not {estimator!r})")
    if isinstance(missing, str) and missing.lower() not in ("listwise",):
        raise ModelError("two-level models support missing=\"listwise\" only (FIML for two-level models is not "
                         "available)")
    if group is not None:
        raise ModelError("multigroup two-level models are not supported (drop group=)")
    pts, defined = _level_partables(blocks, model_type, std_lv, fixed_x)
    cd, dropped, notes = prepare_cluster_data(data, pts[0].ov_names, pts[1].ov_names, cluster,
                                              x_w=pts[0].ov_x, x_b=pts[1].ov_x)
    tl = TwoLevelModel(pts, cd, _level_stats(cd, pts))
    tl.defined = defined
    ndat = _ndat(pts)
    df = ndat - tl.q
    if df < 0:
        raise ModelError(f"the model is not identified: it has {tl.q} free parameters but the data give only "
                         f"{ndat} sample moments (df = {df})")
    theta, iters, ok = _scoring_then_bfgs(tl, _admissible(tl, _start(tl)))
    if not ok:
        raise ModelError("the estimation of the two-level model did not converge; check the model (e.g. a "
                         "between-level variance near zero) or supply start values (start(0.5)*x)")
    f2 = tl.f2(theta)
    logl = loglik_from_minus2(cd, f2)
    H = _hessian(tl, theta)
    warnings_: list[str] = list(notes)
    try:
        vcov = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        vcov = np.full((tl.q, tl.q), np.nan)
        warnings_.append("could not compute standard errors: the information matrix could not be inverted. This "
                         "may be a symptom that the model is not identified (lavaan's warning)")
    vcov = (vcov + vcov.T) / 2

    h1 = em_saturated(cd)
    if not h1.converged:
        warnings_.append(f"the EM algorithm for the saturated (h1) model stopped at {h1.iterations} iterations "
                         "without converging")
    # baseline
    bpts = _baseline_partables(pts, h1)
    btl = TwoLevelModel(bpts, cd, _level_stats(cd, pts, h1))
    bstart = np.zeros(btl.q)
    for lv, pt in enumerate(bpts):
        S, m = (h1.SW, h1.muW) if lv == 0 else (h1.SB, h1.muB)
        for r in pt.rows:
            if r["par"] >= 0:
                i = pt.ov_names.index(r["lhs"])
                bstart[btl.maps[lv][r["par"]]] = S[i, i] if r["op"] == "~~" else m[i]
    btheta, _, bok = _scoring_then_bfgs(btl, _admissible(btl, bstart))
    logl_b = loglik_from_minus2(cd, btl.f2(btheta))
    df_b = ndat - btl.q
    fm = _fit_measures(cd, tl, theta, logl, h1, logl_b, df, df_b, f2)
    if not bok or not np.isfinite(logl_b):
        from .measures import BASELINE_FAILED, without_baseline

        fm = without_baseline(fm)
        warnings_.append(BASELINE_FAILED)
    estimates = _parameter_table(tl, theta, vcov)
    SW, muW, SB, muB = tl.moments(theta)
    names_w, names_b = pts[0].ov_names, pts[1].ov_names
    fitted = {"within": pd.DataFrame(SW, index=names_w, columns=names_w),
              "between": pd.DataFrame(SB, index=names_b, columns=names_b)}
    sample = {"within": pd.DataFrame(h1.SW, index=names_w, columns=names_w),
              "between": pd.DataFrame(h1.SB, index=names_b, columns=names_b)}
    resid = {k: sample[k] - fitted[k] for k in fitted}
    r2 = pd.DataFrame({"within": pd.Series(_r2(tl, theta, 0)), "between": pd.Series(_r2(tl, theta, 1))})
    warnings_ += _variance_warnings(tl, theta)
    state = _TwoLevelState(tl, theta, vcov, h1, cd)
    return TwoLevelFitResult(fit=fm, estimates=estimates, r2=r2, fitted_cov=fitted, residual_cov=resid,
                             sample_cov=sample, estimator="ML", model=model, ngroups=1, group_labels=[],
                             nobs=[cd.N], n_dropped=dropped, iterations=int(iters), warnings=tuple(warnings_),
                             missing="listwise", _state=state, cluster=cluster, nclusters=cd.J, n_clusters=[cd.J],
                             cluster_sizes=tuple(int(s) for s in cd.cluster_size))


def _force_pd(S: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """lavaan's lav_matrix_symmetric_force_pd: eigenvalues below tol set to tol."""
    w, v = np.linalg.eigh(S)
    if w.min() >= tol:
        return S
    w = np.where(w < tol, tol, w)
    return (v * w) @ v.T


def _cov2cor(S):
    d = np.sqrt(np.diag(S))
    return S / np.outer(d, d)


def _srmr(S, Sig) -> float:
    p = S.shape[0]
    R = _cov2cor(S) - _cov2cor(Sig)
    tri = np.tril_indices(p)
    return math.sqrt(np.sum(R[tri] ** 2) / (p * (p + 1) / 2))


def _fit_measures(cd, tl, theta, logl, h1, logl_b, df, df_b, f2) -> dict:
    from . import measures as M

    N, npar = cd.N, tl.q
    X2 = max(0.0, 2 * (h1.logl - logl))
    X2b = max(0.0, 2 * (h1.logl - logl_b))
    # lavaan's fmin: the objective, -2 logL of all variables without the 2 pi constant, divided by 2N
    fmin = f2 / (2 * N)
    fm = {"npar": npar, "fmin": fmin, "chisq": X2, "df": df, "pvalue": M.chisq_pvalue(X2, df),
          "baseline.chisq": X2b, "baseline.df": df_b, "baseline.pvalue": M.chisq_pvalue(X2b, df_b),
          "cfi": M.cfi(X2, df, X2b, df_b), "tli": M.tli(X2, df, X2b, df_b), "nnfi": M.tli(X2, df, X2b, df_b),
          "rfi": M.rfi(X2, df, X2b, df_b), "nfi": M.nfi(X2, df, X2b, df_b), "pnfi": M.pnfi(X2, df, X2b, df_b),
          "ifi": M.ifi(X2, df, X2b, df_b), "rni": M.rni(X2, df, X2b, df_b),
          "logl": logl, "unrestricted.logl": h1.logl, "aic": M.aic(logl, npar), "bic": M.bic(logl, npar, N),
          "ntotal": N, "bic2": M.bic2(logl, npar, N), "rmsea": M.rmsea(X2, df, N)}
    lo, hi = M.rmsea_ci(X2, df, N)
    fm.update({"rmsea.ci.lower": lo, "rmsea.ci.upper": hi, "rmsea.ci.level": 0.90,
               "rmsea.pvalue": M.rmsea_pvalue(X2, df, N), "rmsea.close.h0": 0.05,
               "rmsea.notclose.pvalue": M.rmsea_notclose_pvalue(X2, df, N), "rmsea.notclose.h0": 0.08})
    SW, _, SB, _ = tl.moments(theta)
    SB = _force_pd(SB)
    sw = _srmr(h1.SW, SW)
    sb = _srmr(h1.SB, SB) if np.all(np.diag(SB) > 0) else float("nan")
    fm.update({"srmr": sw + sb, "srmr_within": sw, "srmr_between": sb})
    return {k: float(v) for k, v in fm.items()}


def _parameter_table(tl: TwoLevelModel, theta, vcov) -> pd.DataFrame:
    from .results import standardize

    se_all = np.sqrt(np.clip(np.diag(vcov), 0, None))
    recs = []
    for lv, (pt, eng) in enumerate(zip(tl.pts, tl.engines)):
        local = tl.local(theta, lv)
        vals = eng.row_values(local)
        cov, *_ = eng.implied_all(local, 0)
        d = np.diag(cov)
        ctx = {"eta2": {v: d[eng.pos[v]] for v in pt.lv_names}, "ov2": {v: d[eng.pos[v]] for v in pt.ov_names},
               "rv": {r["lhs"]: vals[k] for k, r in enumerate(pt.rows) if r["op"] == "~~" and r["lhs"] == r["rhs"]}}
        lv_set, ov_set = set(pt.lv_names), set(pt.ov_names)
        for k, r in enumerate(pt.rows):
            est = float(vals[k])
            free = r["par"] >= 0
            se = float(se_all[tl.maps[lv][r["par"]]]) if free else 0.0
            rec = estimate_row(r["lhs"], r["op"], r["rhs"], 1, r["label"], est, se, free,
                               standardize(r["lhs"], r["op"], r["rhs"], est, ctx, lv_set, ov_set, "lv"),
                               standardize(r["lhs"], r["op"], r["rhs"], est, ctx, lv_set, ov_set, "all"))
            rec = {**{k_: rec[k_] for k_ in ("lhs", "op", "rhs", "group")}, "level": lv + 1,
                   **{k_: rec[k_] for k_ in rec if k_ not in ("lhs", "op", "rhs", "group")}}
            recs.append(rec)
    if tl.defined:
        recs += _defined_rows(tl, theta, vcov, recs)
    return pd.DataFrame.from_records(recs)


def _defined_rows(tl: TwoLevelModel, theta, vcov, recs: list[dict]) -> list[dict]:
    """The ``:=`` rows (level 0, as lavaan): values from the labelled rows of both levels, delta-method SEs with a
    central-difference Jacobian in theta, standardized values from the standardized labelled rows."""
    def by_label(key: str, rows) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in rows:
            if r["label"] and r["label"] not in out:
                out[r["label"]] = float(r[key])
        return out

    def values(t) -> np.ndarray:
        labelled = []
        for lv, (pt, eng) in enumerate(zip(tl.pts, tl.engines)):
            vals = eng.row_values(tl.local(t, lv))
            labelled += [{"label": r["label"], "est": vals[k]} for k, r in enumerate(pt.rows)]
        dv = evaluate_defined(tl.defined, by_label("est", labelled))
        return np.array([dv[d.name] for d in tl.defined])

    est = values(theta)
    J = np.zeros((len(tl.defined), tl.q))
    for k in range(tl.q):
        h = 1e-6 * max(1.0, abs(theta[k]))
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        J[:, k] = (values(tp) - values(tm)) / (2 * h)
    cov = J @ vcov @ J.T
    slv = evaluate_defined(tl.defined, by_label("std_lv", recs))
    sall = evaluate_defined(tl.defined, by_label("std_all", recs))
    out = []
    for i, d in enumerate(tl.defined):
        se = math.sqrt(cov[i, i]) if np.isfinite(cov[i, i]) and cov[i, i] > 0 else float("nan")
        rec = estimate_row(d.name, ":=", d.expr.replace(" ", ""), 0, d.name, float(est[i]), se, True,
                           slv[d.name], sall[d.name])
        out.append({**{k_: rec[k_] for k_ in ("lhs", "op", "rhs", "group")}, "level": 0,
                    **{k_: rec[k_] for k_ in rec if k_ not in ("lhs", "op", "rhs", "group")}})
    return out


def _r2(tl: TwoLevelModel, theta, lv: int) -> dict:
    pt, eng = tl.pts[lv], tl.engines[lv]
    local = tl.local(theta, lv)
    vals = eng.row_values(local)
    cov, *_ = eng.implied_all(local, 0)
    res = {r["lhs"]: vals[k] for k, r in enumerate(pt.rows) if r["op"] == "~~" and r["lhs"] == r["rhs"]}
    out = {}
    for v in pt.ov_nox + pt.lv_endo:
        tot = cov[eng.pos[v], eng.pos[v]]
        out[v] = float(1 - res.get(v, 0.0) / tot) if tot > 0 else float("nan")
    return out


def _variance_warnings(tl: TwoLevelModel, theta) -> list[str]:
    out = []
    for lv, vals in enumerate(tl.row_values(theta)):
        name = "within" if lv == 0 else "between"
        for k, r in enumerate(tl.pts[lv].rows):
            if r["op"] == "~~" and r["lhs"] == r["rhs"] and vals[k] < 0:
                out.append(f"negative variance estimate for {r['lhs']} at the {name} level ({vals[k]:.4g}): a "
                           "Heywood case; the solution is improper")
    return out
