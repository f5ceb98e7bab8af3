"""The distribution functions of the model-fitting path, from :mod:`scipy.special` (the same functions
:mod:`scipy.stats` evaluates: chi2.sf is chdtrc, ncx2.cdf is chndtr, norm.sf is ndtr(-z)), so that fitting a model
does not import scipy.stats and scipy.optimize (about 1 s of a command's start-up)."""
from __future__ import annotations

import math

from scipy import special

__all__ = ["chi2_sf", "chi2_cdf", "chi2_isf", "ncx2_cdf", "norm_sf", "norm_ppf", "root_bisect"]


def chi2_sf(x, df):
    """Upper tail of the central chi-square (``scipy.stats.chi2.sf``, R's ``pchisq(x, df, lower = FALSE)``)."""
    return special.chdtrc(df, x)


def chi2_cdf(x, df):
    return special.chdtr(df, x)


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
