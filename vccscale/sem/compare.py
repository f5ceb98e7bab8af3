"""Comparing nested fits: the chi-square difference test of ``lavaan::lavTestLRT``.

:func:`chisq_difference` is the one implementation used by invariance testing
(:func:`vccscale.validate.invariance.difference_test`), the partial-invariance search
(:func:`vccscale.sem.score.partial_invariance`), the hypothesis tests (through ``difference_test``) and latent
mediation's full-versus-partial comparison.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from ._dist import chi2_sf

__all__ = ["LRT_METHODS", "RMSEA_CLOSE", "chisq_difference", "rmsea_equivalence"]

#: lavTestLRT's ``method`` names: the plain difference (ML) and the Satorra-Bentler (2001) scaled difference
#: (lavaan's default for MLR)
LRT_METHODS = ("standard", "satorra.bentler.2001")


def chisq_difference(constrained: Any, free: Any, method: str | None = None, *,
                     estimator: str = "ML") -> dict[str, float]:
    """Chi-square difference of two nested fits (``constrained`` has more degrees of freedom) as
    ``lavaan::lavTestLRT(free, constrained, method = method)``.

    ``method="standard"``: T = T0 - T1 with the standard statistics (``chisq``). ``"satorra.bentler.2001"``:
    cd = (d0 c0 - d1 c1) / (d0 - d1), T = (T0 - T1) / cd, with c the scaling factors (``chisq.scaling.factor``)
    and d the degrees of freedom (0 the constrained model); NaN when cd is not positive. Without ``method``: the
    scaled test for ``estimator="MLR"``, else the standard one (lavaan's defaults).

    Returns ``{"chisq_diff", "df_diff", "pvalue"}`` (lavaan's ``Chisq diff``, ``Df diff``, ``Pr(>Chisq)``); when
    the constrained model does not have more degrees of freedom, the difference and p-value are NaN.
    """
    if method is None:
        method = "satorra.bentler.2001" if estimator == "MLR" else "standard"
    if method not in LRT_METHODS:
        raise ValueError(f"method must be one of {', '.join(LRT_METHODS)}, not {method!r}")
    f0, f1 = constrained.fit, free.fit
    d0, d1 = f0["df"], f1["df"]
    dd = d0 - d1
    if dd <= 0:
        return {"chisq_diff": float("nan"), "df_diff": int(dd), "pvalue": float("nan")}
    if method == "satorra.bentler.2001":
        c0, c1 = f0["chisq.scaling.factor"], f1["chisq.scaling.factor"]
        cd = (d0 * c0 - d1 * c1) / dd
        diff = (f0["chisq"] - f1["chisq"]) / cd if cd > 0 else float("nan")
    else:
        diff = f0["chisq"] - f1["chisq"]
    p = float(chi2_sf(diff, dd)) if np.isfinite(diff) else float("nan")
    return {"chisq_diff": float(diff), "df_diff": int(dd), "pvalue": p}


#: RMSEA of close fit (MacCallum, Browne & Sugawara 1996): the default equivalence margin of a difference test
RMSEA_CLOSE = 0.05


def rmsea_equivalence(chisq_diff: float, df_diff: int, n: int, epsilon0: float = RMSEA_CLOSE,
                      n_groups: int = 1) -> dict[str, float]:
    """Equivalence test of two nested models' fit (Yuan & Chan 2016; Yuan, Chan, Marcoulides & Bentler 2016): the
    null hypothesis is that the RMSEA of the difference, on lavaan's scale sqrt(G) sqrt((T - df) / (df N)), is at
    least ``epsilon0``; it is rejected (the constrained model fits as well, within ``epsilon0``) when the difference
    statistic T is small: p = P(chi2(df, lambda0) <= T), lambda0 = N df epsilon0^2 / G (noncentral chi-square).

    No R equivalent as a function; the p-value is ``stats::pchisq(T, df, ncp = lambda0)``, lavaan's
    ``rmsea.notclose.pvalue`` formula (:func:`vccscale.sem.measures.rmsea_notclose_pvalue`) applied to the
    difference (checked in tests/test_bifactor.py against R values).
    """
    from .measures import rmsea, rmsea_notclose_pvalue

    if not (np.isfinite(chisq_diff) and df_diff > 0 and n > 0):
        return {"epsilon0": epsilon0, "ncp0": float("nan"), "p_equivalence": float("nan"),
                "rmsea_diff": float("nan")}
    # the p-value is that of lavaan's "not close" RMSEA test, with epsilon0 as its h0, applied to the difference
    return {"epsilon0": epsilon0, "ncp0": float(n * df_diff * epsilon0 ** 2 / n_groups),
            "p_equivalence": rmsea_notclose_pvalue(chisq_diff, df_diff, n, n_groups, h0=epsilon0),
            "rmsea_diff": float(rmsea(chisq_diff, df_diff, n, n_groups))}
