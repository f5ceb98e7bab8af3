"""The distribution functions of vccscale, from :mod:`scipy.special`: the same functions :mod:`scipy.stats`
evaluates (chi2.sf is chdtrc, chi2.ppf is 2 gammaincinv(df/2, q), ncx2.cdf is chndtr, norm.sf is ndtr(-z), t.sf is
stdtr(df, -x), t.ppf is stdtrit, f.sf is fdtrc), so that fitting a model or testing a hypothesis does not import
scipy.stats (with scipy.spatial, which it imports, about 0.6 CPU-s of a study run or a command's start-up).
Checked equal to scipy.stats to the last bit on grids (tests/test_dist.py); NaN where scipy.stats gives NaN
(invalid degrees of freedom, NaN input)."""
from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["chi2_sf", "chi2_upper", "chi2_cdf", "chi2_isf", "chi2_ppf", "ncx2_cdf", "norm_sf", "norm_cdf",
           "norm_ppf", "t_sf", "t_ppf", "f_sf", "root_bisect"]


def chi2_sf(x, df):
    """Upper tail of the central chi-square (``scipy.stats.chi2.sf``, R's ``pchisq(x, df, lower = FALSE)``)."""
    return special.chdtrc(df, x)


def chi2_upper(x, df):
    """``scipy.stats.chi2.sf(x, df)``: 1 for x <= 0 (``chi2_sf`` gives NaN for x < 0), NaN for df <= 0."""
    return np.where(np.asarray(df) > 0, special.chdtrc(df, np.maximum(x, 0.0)), np.nan)[()]


def chi2_ppf(q, df):
    """The chi-square quantile (``scipy.stats.chi2.ppf``; R's ``qchisq(q, df)``; NaN for df <= 0)."""
    df = np.asarray(df, dtype=float)
    return np.where(df > 0, 2.0 * special.gammaincinv(df / 2.0, q), np.nan)[()]


def chi2_cdf(x, df):
    """``scipy.stats.chi2.cdf(x, df)`` for df > 0 (0 for x <= 0)."""
    return special.chdtr(df, np.maximum(x, 0.0))


def chi2_isf(p, df):
    """x with upper tail p (``scipy.stats.chi2.isf``; ``chi2.ppf(1 - p)``)."""
    return special.chdtri(df, p)


def ncx2_cdf(x, df, ncp):
    """Noncentral chi-square CDF (``scipy.stats.ncx2.cdf``; R's ``pchisq(x, df, ncp)``)."""
    return special.chndtr(x, df, ncp)


def norm_sf(z):
    return special.ndtr(-z)


def norm_ppf(p):
    return special.ndtri(p)


def norm_cdf(z):
    return special.ndtr(z)


def t_sf(x, df):
    """Upper tail of Student's t (``scipy.stats.t.sf``; R's ``pt(x, df, lower = FALSE)``)."""
    return special.stdtr(df, -np.asarray(x, dtype=float))


def t_ppf(q, df):
    """Student's t quantile (``scipy.stats.t.ppf``; R's ``qt(q, df)``; -inf at q = 0, where stdtrit gives +inf)."""
    return np.where(np.asarray(q) == 0, -special.stdtrit(df, 1.0), special.stdtrit(df, q))[()]


def f_sf(x, dfn, dfd):
    """Upper tail of the F distribution (``scipy.stats.f.sf``, 1 for x <= 0; R's ``pf(x, df1, df2, lower =
    FALSE)``)."""
    return special.fdtrc(dfn, dfd, np.maximum(x, 0.0))


def root_bisect(f, a: float, b: float, xtol: float = 1e-12, rtol: float = 1e-12, maxiter: int = 500) -> float:
    """A root of the continuous ``f`` in [a, b] by bisection to |interval| <= xtol + rtol |x| (the tolerance of
    ``scipy.optimize.brentq``); ValueError when f(a) and f(b) have the same sign (as brentq)."""
    fa, fb = f(a), f(b)
    if fa == 0:
        return float(a)
    if fb == 0:
        return float(b)
    if (fa > 0) == (fb > 0):
        raise ValueError("f(a) and f(b) must have different signs")
    for _ in range(maxiter):
        m = 0.5 * (a + b)
        fm = f(m)
        if fm == 0 or abs(b - a) <= xtol + rtol * abs(m):
            return float(m)
        if (fm > 0) == (fa > 0):
            a, fa = m, fm
        else:
            b = m
    return float(0.5 * (a + b)) if math.isfinite(a + b) else float("nan")
