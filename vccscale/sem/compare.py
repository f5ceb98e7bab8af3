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

__all__ = ["LRT_METHODS", "RMSEA_CLOSE", "chisq_difference", "rmsea_equivalence", "scaling_at"]

#: lavTestLRT's ``method`` names: the plain difference (ML), the Satorra-Bentler (2001) scaled difference
#: (lavaan's default for MLR) and Satorra & Bentler's (2010) strictly positive version
LRT_METHODS = ("standard", "satorra.bentler.2001", "satorra.bentler.2010")


def chisq_difference(constrained: Any, free: Any, method: str | None = None, *,
                     estimator: str = "ML") -> dict[str, float]:
    """Chi-square difference of two nested fits (``constrained`` has more degrees of freedom) as
    ``lavaan::lavTestLRT(free, constrained, method = method)``.

    ``method="standard"``: T = T0 - T1 with the standard statistics (``chisq``). ``"satorra.bentler.2001"``:
    cd = (d0 c0 - d1 c1) / (d0 - d1), T = (T0 - T1) / cd, with c the scaling factors (``chisq.scaling.factor``)
    and d the degrees of freedom (0 the constrained model); NaN when cd is not positive (which happens: the 2001
    correction can be negative). ``"satorra.bentler.2010"``: c1 replaced by c10, the scaling factor of the free
    model evaluated at the constrained model's solution (:func:`scaling_at`), which makes cd positive (Satorra &
    Bentler 2010, Psychometrika 75, 243-248). Without ``method``: the
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
    if method in ("satorra.bentler.2001", "satorra.bentler.2010"):
        c0 = f0["chisq.scaling.factor"]
        c1 = f1["chisq.scaling.factor"] if method == "satorra.bentler.2001" else scaling_at(free, constrained)
        cd = (d0 * c0 - d1 * c1) / dd
        diff = (f0["chisq"] - f1["chisq"]) / cd if cd > 0 else float("nan")
    else:
        diff = f0["chisq"] - f1["chisq"]
    p = float(chi2_sf(diff, dd)) if np.isfinite(diff) else float("nan")
    return {"chisq_diff": float(diff), "df_diff": int(dd), "pvalue": p}


def scaling_at(free: Any, constrained: Any) -> float:
    """The scaling factor c10 of Satorra & Bentler's (2010) difference test: the Yuan-Bentler (Mplus) scaling
    factor of the ``free`` model (its data, clusters, estimator and missing-data treatment) at the parameters theta10
    at which the free model reproduces the ``constrained`` model's implied means and covariances. lavaan
    (``lav_test_diff_m10``) injects the constrained estimates into the free model's parameter table, which needs
    the two tables to share their parameters; theta10 here is found by fitting the free model to the constrained
    model's implied moments (an exact fit when the models are nested), which gives the same theta10 where lavaan's
    injection applies and also covers models nested in their implied moments only (e.g. one factor vs several).
    NaN when the free model cannot reproduce those moments (not nested) or the scaling factor cannot be computed.
    R: ``lavTestLRT(free, constrained, method = "satorra.bentler.2010")`` (tests/reference/sem/sb2010_reference.R).
    """
    import numpy as np

    from .fit import Engine, GroupData, estimate
    from .robust import sandwich, yuan_bentler_mplus

    s1, s0 = getattr(free, "_state", None), getattr(constrained, "_state", None)
    if s1 is None or s0 is None or getattr(s1, "engine", None) is None or getattr(s0, "engine", None) is None:
        return float("nan")
    e1, e0 = s1.engine, s0.engine
    names1, names0 = list(e1.pt.ov_names), list(e0.pt.ov_names)
    if sorted(names1) != sorted(names0) or len(e1.groups) != len(e0.groups):
        return float("nan")
    idx = [names0.index(v) for v in names1]
    groups = []
    for (Sig0, mu0), gd in zip(e0.implied(s0.theta), e1.groups):
        groups.append(GroupData(gd.label, np.zeros((0, len(names1))), gd.n, np.asarray(mu0)[idx],
                                np.asarray(Sig0)[np.ix_(idx, idx)]))
    try:
        eng = Engine(e1.pt, groups)
        est = estimate(eng, start=s1.theta)
        if not est.converged or eng.objective(est.theta) > 1e-8:
            return float("nan")   # the free model does not reproduce the constrained moments: not nested
        theta10 = est.theta
        clusters = s1.extra.get("clusters")
        h1 = s1.extra.get("h1")   # the saturated model's traces: the free fit's, they do not depend on theta
        if h1 is None:
            return float("nan")   # the free fit has no scaled test
        sw = sandwich(e1, theta10, clusters)
        A_inv = None
        if str(getattr(free, "estimator", "")).upper() == "ML" and clusters is not None:
            from .robust import h1_structured_information

            A_inv = np.linalg.inv(h1_structured_information(e1, theta10))
        return float(yuan_bentler_mplus(e1, theta10, free.fit["df"], sw=sw, h1=h1, clusters=clusters,
                                        A_inv=A_inv)["c"])
    except (np.linalg.LinAlgError, ValueError, ArithmeticError):
        return float("nan")
    except Exception as exc:  # a ModelError from the engine: not computable
        from ..errors import VccscaleError

        if isinstance(exc, VccscaleError):
            return float("nan")
        raise


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
