"""Thresholds, polychoric correlations and their asymptotic covariance matrix (ordered indicators).

As lavaan 0.6 (``lavCor(..., ordered = TRUE)``, the first stage of ``estimator = "WLSMV"``), the three-stage
estimator of Muthen (1984):

1. thresholds of each variable from its marginal proportions: tau_k = qnorm(P(Y <= k)) (the univariate probit
   without covariates, whose ML estimate this is);
2. the polychoric correlation of each pair by maximum likelihood of its contingency table given the thresholds
   (two-step; empty cells contribute nothing; no cell is added to tables larger than 2 x 2, lavaan's
   ``zero.add = c(0.5, 0)``: half a case is added to the empty cells of 2 x 2 tables);
3. the asymptotic covariance of (thresholds, correlations) by the sandwich of the stacked estimating equations
   (Muthen & Satorra 1995; lavaan's ``muthen1984``): W = B^-1 (sum_i s_i s_i') B^-T with s_i the casewise scores
   (threshold scores of the univariate likelihoods, correlation scores of the bivariate ones) and B the
   block-triangular matrix [A11 0; A21 A22]: A11 the within-variable blocks of the threshold scores' cross
   products, A22 the diagonal of the correlation scores' cross products, A21 the cross products of the correlation
   scores with the bivariate likelihood's threshold derivatives. ``gamma`` = N W (lavaan's NACOV, ``lavInspect(fit,
   "gamma")``); the DWLS weights are 1 / diag(gamma).

The bivariate normal distribution function is Genz's (2004) BVNU algorithm (Gauss-Legendre quadrature of
Drezner & Wesolowsky's formula, double precision), as the pbivnorm package lavaan uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from ..errors import DataError

__all__ = ["OrdinalStats", "bivariate_normal_cdf", "ordinal_stats"]

_BIG = 37.0  # |z| beyond which Phi is 0 or 1 in double precision: infinite thresholds are replaced by +-_BIG

_GL = {
    6: ([0.1713244923791705, 0.3607615730481384, 0.4679139345726904],
        [0.9324695142031522, 0.6612093864662647, 0.2386191860831970]),
    12: ([0.04717533638651177, 0.1069393259953183, 0.1600783285433464, 0.2031674267230659, 0.2334925365383547,
          0.2491470458134029],
         [0.9815606342467191, 0.9041172563704750, 0.7699026741943050, 0.5873179542866171, 0.3678314989981802,
          0.1252334085114692]),
    20: ([0.01761400713915212, 0.04060142980038694, 0.06267204833410906, 0.08327674157670475, 0.1019301198172404,
          0.1181945319615184, 0.1316886384491766, 0.1420961093183821, 0.1491729864726037, 0.1527533871307259],
         [0.9931285991850949, 0.9639719272779138, 0.9122344282513259, 0.8391169718222188, 0.7463319064601508,
          0.6360536807265150, 0.5108670019508271, 0.3737060887154196, 0.2277858511416451,
          0.07652652113349733]),
}


def _phi(x):
    return special.ndtr(x)


def _bvnu(dh: np.ndarray, dk: np.ndarray, r: float) -> np.ndarray:
    """P(X > dh, Y > dk) for a standard bivariate normal with correlation r (Genz's BVNU), vectorised over dh, dk
    (finite values)."""
    h = np.asarray(dh, float)
    k = np.asarray(dk, float)
    if r == 0.0:
        return _phi(-h) * _phi(-k)
    ar = abs(r)
    n = 6 if ar < 0.3 else 12 if ar < 0.75 else 20
    w, x = (np.array(v) for v in _GL[n])
    w = np.concatenate([w, w])
    x = np.concatenate([1 - x, 1 + x])
    tp = 2 * math.pi
    hk = h * k
    if ar < 0.925:
        hs = (h * h + k * k) / 2
        asr = math.asin(r) / 2
        sn = np.sin(asr * x)                                  # (m,)
        bvn = np.exp((np.multiply.outer(hk, sn) - hs[..., None]) / (1 - sn ** 2)) @ w
        bvn = bvn * asr / tp + _phi(-h) * _phi(-k)
        return np.clip(bvn, 0.0, 1.0)
    if r < 0:
        k = -k
        hk = -hk
    bvn = np.zeros_like(h)
    if ar < 1:
        as_ = 1 - r * r
        a = math.sqrt(as_)
        bs = (h - k) ** 2
        c = (4 - hk) / 8
        d = (12 - hk) / 80
        asr = -(bs / as_ + hk) / 2
        bvn = np.where(asr > -100, a * np.exp(asr) * (1 - c * (bs - as_) * (1 - d * bs) / 3 + c * d * as_ ** 2), 0.0)
        b = np.sqrt(bs)
        sp = math.sqrt(tp) * _phi(-b / a)
        bvn = bvn - np.where(hk > -100, np.exp(-hk / 2) * sp * b * (1 - c * bs * (1 - d * bs) / 3), 0.0)
        a = a / 2
        xs = (a * x) ** 2                                     # (m,)
        asr2 = -(np.divide.outer(bs, xs) + hk[..., None]) / 2
        sp2 = 1 + np.multiply.outer(c, xs) * (1 + 5 * np.multiply.outer(d, xs))
        rs = np.sqrt(1 - xs)
        ep = np.exp(-np.multiply.outer(hk / 2, xs / (1 + rs) ** 2)) / rs
        terms = np.where(asr2 > -100, np.exp(np.maximum(asr2, -700)) * (sp2 - ep), 0.0)
        bvn = (a * (terms @ w) - bvn) / tp
    if r > 0:
        bvn = bvn + _phi(-np.maximum(h, k))
    else:
        L = np.where(h < 0, _phi(k) - _phi(h), _phi(-h) - _phi(-k))
        bvn = np.where(h >= k, -bvn, L - bvn)
    return np.clip(bvn, 0.0, 1.0)


def bivariate_normal_cdf(h, k, r: float) -> np.ndarray:
    """P(X <= h, Y <= k) of a standard bivariate normal with correlation ``r`` (Genz's BVNU on (-h, -k));
    infinite limits allowed.

    R: ``pbivnorm::pbivnorm`` (the function lavaan uses); checked against ``mvtnorm::pmvnorm`` in
    tests/test_wlsmv.py.
    """
    h = np.clip(np.asarray(h, float), -_BIG, _BIG)
    k = np.clip(np.asarray(k, float), -_BIG, _BIG)
    return _bvnu(-h, -k, float(r))


def _bvn_density(h, k, r: float) -> np.ndarray:
    s = 1 - r * r
    return np.exp(-(h * h - 2 * r * h * k + k * k) / (2 * s)) / (2 * math.pi * math.sqrt(s))


@dataclass(frozen=True)
class OrdinalStats:
    """The first stage of WLSMV for ordered variables ``names``: ``thresholds`` (per variable, ascending),
    ``threshold_names`` (``"y|t1"``, ...), ``cor`` (polychoric correlations, unit diagonal), ``wls_obs`` (thresholds,
    then the correlations below the diagonal column by column, as lavaan's WLS.obs), ``gamma`` (N times their
    asymptotic covariance: lavaan's NACOV), ``n``, ``levels`` (the observed categories of each variable) and
    ``empty_cells`` (pairs with empty cells)."""

    names: list
    levels: list
    thresholds: list
    threshold_names: list
    cor: np.ndarray
    wls_obs: np.ndarray
    gamma: np.ndarray
    n: int
    empty_cells: list

    @property
    def nth(self) -> int:
        return len(self.threshold_names)

    @property
    def wls_vd(self) -> np.ndarray:
        """The DWLS weights: 1 / diag(gamma) (lavaan's WLS.VD)."""
        return 1.0 / np.diag(self.gamma)

    def pairs(self) -> list[tuple[int, int]]:
        """(i, j), i > j, in the order of the correlations in ``wls_obs`` (lavaan's vech without the diagonal)."""
        p = len(self.names)
        return [(i, j) for j in range(p) for i in range(j + 1, p)]


def _codes(data: pd.DataFrame, names, pairwise: bool = False) -> tuple[np.ndarray, list]:
    """Integer category codes 0..K-1 per column (sorted observed values; -1 = missing with ``pairwise``) and the
    levels."""
    Y = np.full((len(data), len(names)), -1, dtype=int)
    levels = []
    for j, v in enumerate(names):
        col = pd.to_numeric(data[v], errors="coerce")
        if col.isna().any() and not pairwise:
            raise DataError(f"ordered variable {v!r} has missing values (use missing='pairwise', or complete cases)",
                            column=v)
        obs = col.notna().to_numpy()
        col = col[obs]
        vals = np.sort(col.unique())
        if len(vals) < 2:
            raise DataError(f"ordered variable {v!r} has a single observed category ({vals[0]:g}): no threshold can "
                            "be estimated", column=v)
        levels.append([float(x) for x in vals])
        Y[obs, j] = np.searchsorted(vals, col.to_numpy())
    return Y, levels


def _pair_table(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> np.ndarray:
    return np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(float)


def _cell_probs(ta: np.ndarray, tb: np.ndarray, r: float) -> np.ndarray:
    """P(cell) of a (Ka, Kb) table from the extended thresholds ta (Ka + 1), tb (Kb + 1) (with +-inf)."""
    F = bivariate_normal_cdf(ta[:, None], tb[None, :], r)
    return F[1:, 1:] - F[:-1, 1:] - F[1:, :-1] + F[:-1, :-1]


def _cell_drho(ta: np.ndarray, tb: np.ndarray, r: float) -> np.ndarray:
    ha = np.clip(ta, -_BIG, _BIG)
    hb = np.clip(tb, -_BIG, _BIG)
    f = _bvn_density(ha[:, None], hb[None, :], r)
    return f[1:, 1:] - f[:-1, 1:] - f[1:, :-1] + f[:-1, :-1]


def _polychoric(table: np.ndarray, ta: np.ndarray, tb: np.ndarray) -> float:
    """ML correlation of a contingency table given the thresholds (Newton-Raphson on rho with the observed-cell
    gradient and the expected information, safeguarded by bisection)."""
    n = table.sum()

    def grad_info(r):
        P = np.maximum(_cell_probs(ta, tb, r), 1e-300)
        dP = _cell_drho(ta, tb, r)
        return float((table * dP / P).sum()), float(n * (dP * dP / P).sum()), P

    # start: the correlation of the category codes (a reasonable, bounded guess)
    lo, hi = -0.9999, 0.9999
    r = 0.0
    for _ in range(100):
        g, info, _ = grad_info(r)
        if g > 0:
            lo = r
        else:
            hi = r
        step = g / info if info > 0 else 0.0
        new = r + step
        if not (lo < new < hi):
            new = (lo + hi) / 2
        if abs(new - r) < 1e-12:
            r = new
            break
        r = new
    return float(r)


def ordinal_stats(data: pd.DataFrame, names, missing: str = "listwise") -> OrdinalStats:
    """Thresholds, polychoric correlations and their NACOV for the ordered columns ``names`` of ``data``; see the
    module docstring. ``missing="pairwise"`` (lavaan's ``missing = "pairwise"``): thresholds from each variable's
    answers, each correlation from the rows answering both, and the casewise scores of a missing answer 0 (so the
    NACOV keeps N = all rows), as lavaan; otherwise complete cases are required.

    R: ``lavaan::lavCor(data, ordered = names, output = "fit")`` / ``lavInspect(fit, "sampstat")`` and
    ``lavInspect(fit, "gamma")`` of a WLSMV fit (tests/reference/ordinal_sem/wlsmv_reference.R).
    """
    names = list(names)
    pw = missing == "pairwise"
    Y, levels = _codes(data, names, pairwise=pw)
    n, p = Y.shape
    K = [len(lv) for lv in levels]
    # 1. thresholds and their casewise scores
    th, th_names, ext, th_idx = [], [], [], []
    sc_th = []
    start = 0
    for j in range(p):
        counts = np.bincount(Y[Y[:, j] >= 0, j], minlength=K[j]).astype(float)
        cum = np.cumsum(counts)[:-1] / counts.sum()
        t = special.ndtri(cum)
        th.append(t)
        th_names += [f"{names[j]}|t{k + 1}" for k in range(K[j] - 1)]
        e = np.concatenate([[-np.inf], t, [np.inf]])
        ext.append(e)
        th_idx.append(list(range(start, start + K[j] - 1)))
        start += K[j] - 1
        # d log P(Y = c) / d tau_k: phi(tau_c) / p_c for k = c (upper limit), -phi(tau_{c-1}) / p_c for k = c - 1
        pc = np.diff(_phi(np.clip(e, -_BIG, _BIG)))
        dens = np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
        s = np.zeros((n, K[j] - 1))
        y = Y[:, j]
        rows = np.arange(n)
        up = (y >= 0) & (y < K[j] - 1)            # a missing answer (-1) scores 0
        s[rows[up], y[up]] += dens[y[up]] / pc[y[up]]
        dn = y > 0
        s[rows[dn], y[dn] - 1] -= dens[y[dn] - 1] / pc[y[dn]]
        sc_th.append(s)
    SC_TH = np.hstack(sc_th)
    nth = SC_TH.shape[1]
    # 2. polychoric correlations, their scores and the cross derivatives
    pairs = [(i, j) for j in range(p) for i in range(j + 1, p)]
    npair = len(pairs)
    R = np.eye(p)
    SC_COR = np.zeros((n, npair))
    A21 = np.zeros((npair, nth))
    empty = []
    for m, (i, j) in enumerate(pairs):
        both = (Y[:, i] >= 0) & (Y[:, j] >= 0)
        if both.sum() < 2:
            raise DataError(f"{names[i]} and {names[j]} are answered together by {int(both.sum())} respondent(s): "
                            "their polychoric correlation cannot be estimated")
        tab = _pair_table(Y[both, i], Y[both, j], K[i], K[j])
        if (tab == 0).any():
            empty.append((names[i], names[j]))
            if tab.shape == (2, 2):
                tab = tab + np.where(tab == 0, 0.5, 0.0)
        r = _polychoric(tab, ext[i], ext[j])
        R[i, j] = R[j, i] = r
        P = np.maximum(_cell_probs(ext[i], ext[j], r), 1e-300)
        dP = _cell_drho(ext[i], ext[j], r)
        yi, yj = np.where(both, Y[:, i], 0), np.where(both, Y[:, j], 0)
        SC_COR[:, m] = np.where(both, (dP / P)[yi, yj], 0.0)
        # d P(cell a, b) / d tau_i,k: phi(tau_k) [Phi((tb_b - r tau_k)/s) - Phi((tb_{b-1} - r tau_k)/s)] with sign
        # + for k = a (upper limit of the cell) and - for k = a - 1
        sr = math.sqrt(1 - r * r)
        for (u, v, Ku, Kv, eu, ev, yu, yv) in ((i, j, K[i], K[j], ext[i], ext[j], yi, yj),
                                               (j, i, K[j], K[i], ext[j], ext[i], yj, yi)):
            tu = th[u]
            dens = np.exp(-0.5 * tu * tu) / math.sqrt(2 * math.pi)
            cond = _phi((np.clip(ev, -_BIG, _BIG)[None, :] - r * tu[:, None]) / sr)   # (Ku-1, Kv+1)
            g = dens[:, None] * (cond[:, 1:] - cond[:, :-1])                         # (Ku-1, Kv): d/d tau_k
            Pu = P if u == i else P.T                                                # (Ku, Kv)
            dx = np.zeros((n, Ku - 1))
            rows = np.arange(n)
            up = both & (yu < Ku - 1)
            dx[rows[up], yu[up]] += g[yu[up], yv[up]] / Pu[yu[up], yv[up]]
            dn = both & (yu > 0)
            dx[rows[dn], yu[dn] - 1] -= g[yu[dn] - 1, yv[dn]] / Pu[yu[dn], yv[dn]]
            A21[m, th_idx[u]] = SC_COR[:, m] @ dx
    # 3. the sandwich
    SC = np.hstack([SC_TH, SC_COR])
    inner = SC.T @ SC
    A11 = np.zeros((nth, nth))
    for idx in th_idx:
        A11[np.ix_(idx, idx)] = inner[np.ix_(idx, idx)]
    A22d = np.einsum("ij,ij->j", SC_COR, SC_COR)
    A11_inv = np.linalg.inv(A11)
    A22_inv = np.diag(1.0 / A22d)
    B_inv = np.zeros((nth + npair, nth + npair))
    B_inv[:nth, :nth] = A11_inv
    B_inv[nth:, nth:] = A22_inv
    B_inv[nth:, :nth] = -A22_inv @ A21 @ A11_inv
    W = B_inv @ inner @ B_inv.T
    gamma = W * n
    wls_obs = np.concatenate([np.concatenate(th), np.array([R[i, j] for i, j in pairs])])
    return OrdinalStats(names=names, levels=levels, thresholds=th, threshold_names=th_names, cor=R,
                        wls_obs=wls_obs, gamma=(gamma + gamma.T) / 2, n=int(n), empty_cells=empty)
