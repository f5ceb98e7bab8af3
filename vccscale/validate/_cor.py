"""Item correlations and HTMT on numpy arrays, without pandas (``vccscale cfa``'s JSON is computed without
importing pandas): :func:`item_cor` (lavaan ``lavCor`` with listwise or FIML treatment), :func:`htmt_matrix`,
:func:`cov2cor` and Cronbach's alpha of complete item columns (:func:`alpha_complete`). :mod:`vccscale.validate.
validity` and :mod:`vccscale.validate.quality` build on them."""
from __future__ import annotations

import math

import numpy as np

from ..errors import DataError

__all__ = ["HTMT_MISSING", "alpha_complete", "alpha_from_cov", "cov2cor", "eigh_desc", "first_pc", "htmt_matrix",
           "item_cor", "missing_rule", "pairs"]


def cov2cor(c: np.ndarray) -> np.ndarray:
    s = 1 / np.sqrt(np.diag(c))
    return c * np.outer(s, s)


def htmt_matrix(r: np.ndarray, idx: list[np.ndarray], variant: str, absolute: bool) -> np.ndarray:
    r = np.abs(r) if (absolute or variant == "htmt2") else r.copy()
    np.fill_diagonal(r, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf, a geometric mean of 0 (as R)
        if variant == "htmt2":
            r = np.log(r)
        nf = len(idx)
        avg = np.full((nf, nf), np.nan)
        for a in range(nf):
            for b in range(a, nf):
                block = r[np.ix_(idx[a], idx[b])]
                vals = block[~np.isnan(block)]
                if len(vals):
                    avg[a, b] = avg[b, a] = vals.mean()
        if variant == "htmt2":
            avg = np.exp(avg)
        w = np.diag(avg)
        return avg / np.sqrt(np.outer(w, w))


#: the missing-data treatments of the item correlations HTMT rests on (semTools' ``missing =``)
HTMT_MISSING = {"listwise": "listwise", "fiml": "fiml", "ml": "fiml"}


def missing_rule(missing: str) -> str:
    rule = HTMT_MISSING.get(str(missing).lower())
    if rule is None:
        raise DataError(f"unknown missing-data treatment {missing!r}: use 'listwise' or 'fiml' (semTools' missing "
                        "= \"ml\")", field="missing")
    return rule


def item_cor(arr: np.ndarray, cols: list[str], missing: str, what: str = "HTMT") -> tuple[np.ndarray, int]:
    """Correlations of the columns of ``arr`` (NaN = missing) and the number of rows they rest on, as
    ``lavaan::lavCor(data, missing = ...)``: ``listwise`` Pearson on the complete rows (lavCor refuses fewer
    complete rows than items: the covariance matrix is then not positive-definite, and so does this);
    ``fiml`` the saturated model's ML covariance matrix under MAR (EM, :func:`vccscale.sem.em.em_moments`) on the
    rows that answered at least one item, as correlations. A DataError names what makes them undefined."""
    from ..sem.em import em_moments, missing_patterns

    p = arr.shape[1]
    obs = ~np.isnan(arr)
    if missing == "listwise":
        x = arr[obs.all(axis=1)]
        n = len(x)
        if n <= p:
            raise DataError(f"{what} on complete cases: {n} of {len(arr)} rows answered all {p} items, and the "
                            "correlations need more complete rows than items (lavaan's lavCor stops there: the "
                            "covariance matrix is not positive-definite); use missing = 'fiml' (semTools' "
                            "missing = \"ml\"), which keeps every answered item")
        flat = np.flatnonzero(~(x.std(axis=0) > 0))
        if len(flat):
            raise DataError(f"{what} on complete cases: item {cols[flat[0]]!r} has the same answer in all {n} complete "
                            "rows, so its correlations are undefined; use missing = 'fiml'", column=cols[flat[0]])
        return np.corrcoef(x, rowvar=False), n
    keep = obs.any(axis=1)
    x, o = arr[keep], obs[keep]
    n = len(x)
    together = o.T.astype(float) @ o.astype(float)
    for j in range(p):
        v = x[o[:, j], j]
        if len(v) < 2 or not (v.std() > 0):
            raise DataError(f"{what}: item {cols[j]!r} has {'fewer than two answers' if len(v) < 2 else 'no variance'} "
                            f"among the {n} rows that answered the items", column=cols[j])
    if (together == 0).any():
        i, j = np.argwhere(together == 0)[0]
        raise DataError(f"{what}: no respondent answered both {cols[i]!r} and {cols[j]!r}, so their covariance is "
                        "not estimable under FIML", column=cols[i])
    if o.all():  # complete rows: the ML correlations are Pearson's
        return np.corrcoef(x, rowvar=False), n
    res = em_moments(missing_patterns(x), p)
    if not res.converged:
        raise DataError(f"{what}: the EM estimates of the items' saturated covariance matrix "
                        + ("ran into a singular matrix" if not np.isfinite(res.delta) else
                           f"did not converge in {res.iterations} iterations")
                        + f" on {n} rows (often items rarely answered together); no correlations to report")
    return cov2cor(res.cov), n


def pairs(names: list[str], matrix: np.ndarray) -> dict[str, float]:
    """Upper triangle of a symmetric factors x factors matrix as ``{"a~~b": value}`` (factor order)."""
    return {f"{a}~~{b}": float(matrix[i, j]) for i, a in enumerate(names) for j, b in enumerate(names) if j > i}


def eigh_desc(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors of a symmetric matrix (R ``eigen(a, symmetric = TRUE)``)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return w[::-1].copy(), v[:, ::-1].copy()


def first_pc(r: np.ndarray) -> np.ndarray:
    """Loadings on the first principal component of a correlation matrix, signed so they sum to >= 0
    (psych::principal); a negative one marks a reverse-keyed item (psych::alpha's check.keys rule)."""
    w, v = eigh_desc(r)
    pc = v[:, 0] * math.sqrt(max(w[0], np.finfo(float).eps))
    return -pc if pc.sum() < 0 else pc


def alpha_from_cov(c: np.ndarray) -> float:
    """Cronbach's alpha k/(k - 1) (1 - tr C / sum C) of a k x k covariance matrix C (psych::alpha)."""
    k = c.shape[0]
    return (1 - np.trace(c) / c.sum()) * (k / (k - 1))


def alpha_complete(x: np.ndarray) -> tuple[float, float]:
    """Cronbach's alpha of complete item columns ``x`` (n x k, no missing value, k >= 2, every item varying), as
    :func:`vccscale.validate.cronbach_alpha` computes it from the covariance matrix (divisor n - 1), and the
    smallest loading on the first principal component of the items' correlations (:func:`first_pc`; a negative
    one: a reverse-keyed item, which cronbach_alpha warns of). The covariances are numpy's ``cov`` of the columns
    in column-major order, as pandas computes them for complete data."""
    c = np.cov(np.asfortranarray(x, dtype=float).T, ddof=1)
    return float(alpha_from_cov(c)), float(first_pc(cov2cor(c)).min())
