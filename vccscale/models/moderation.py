"""Moderation on composite scores: moderated mediation (Hayes 2015 index), simple slopes, Johnson-Neyman.

* :func:`moderated_mediation` -- one mediator, moderator ``w`` on the first stage (``x -> m``, Hayes' model 7:
  ``m ~ a1 x + a2 w + a3 x:w``, ``y ~ c x + b m``; index = ``a3 * b``) or the second stage (``m -> y``, model 14:
  ``m ~ a x``, ``y ~ c x + b1 m + b2 w + b3 m:w``; index = ``a * b3``). Conditional indirect effects at given
  values of ``w`` (default mean - 1 SD, mean, mean + 1 SD, SD with ddof = 1). Inference as
  :func:`~vccscale.models.mediate`: the same vectorised bootstrap (one set of indices), delta-method SEs (ML,
  lavaan) and Monte Carlo CIs. Variables are not centred (the index does not depend on centring).
* :func:`simple_slopes` and :func:`johnson_neyman` -- ``y ~ b1 x + b2 w + b3 x:w (+ covariates)`` by OLS with the
  usual unbiased residual variance (divisor n - p) and t(n - p) inference, as PROCESS and ``interactions``.
  The slope of ``x`` at ``w`` is ``b1 + b3 w`` with variance ``V11 + 2 w V13 + w^2 V33``; the Johnson-Neyman
  bounds are the closed-form roots of ``(b1 + b3 w)^2 = t_crit^2 (V11 + 2 w V13 + w^2 V33)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .pathmodel import Effect, Equation, MediationResult, PathModel, as_list, design_matrix, run_composite

__all__ = ["ModeratedMediationResult", "moderated_mediation", "simple_slopes", "JohnsonNeymanResult",
           "johnson_neyman"]


def _default_w(wv: np.ndarray, w_values) -> list[float]:
    if w_values is not None:
        return [float(v) for v in np.atleast_1d(w_values)]
    mu, sd = float(np.mean(wv)), float(np.std(wv, ddof=1))
    return [mu - sd, mu, mu + sd]


@dataclass
class ModeratedMediationResult:
    """``index`` (one row), ``conditional`` (conditional indirect effects, one row per value of w) and the
    underlying :class:`MediationResult` (``mediation``: all effects incl. paths, bootstrap info).

    R: as the ``lavaan::sem`` fit of the same model with ``:=`` index and conditional effects (PROCESS models 7 and
    14).
    """

    index: pd.Series
    conditional: pd.DataFrame
    mediation: MediationResult
    stage: str
    w_values: list[float] = field(default_factory=list)

    @property
    def effects(self) -> pd.DataFrame:
        return self.mediation.effects

    @property
    def bootstrap(self) -> dict:
        return self.mediation.bootstrap

    def summary(self) -> str:
        cols = ["name", "est", "se", "ci_lower", "ci_upper", "delta_se", "pvalue", "mc_lower", "mc_upper"]
        return "\n".join([f"Moderated mediation ({self.stage} stage)", self.mediation.summary(), "",
                          self.conditional[["w"] + cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")])


def moderated_mediation(data: pd.DataFrame, x: str, m: str, y: str, w: str, stage: str = "first",
                        covariates=(), w_values=None, n_boot: int = 5000, ci: str = "percentile",
                        level: float = 0.95, seed: int | None = None, n_mc: int = 5000) -> ModeratedMediationResult:
    """First- or second-stage moderated mediation with the index of moderated mediation (Hayes 2015).

    Effects (``result.effects``): first stage -- ``a`` (x), ``a_w`` (w), ``a_xw`` (x:w), ``b``, ``direct``,
    ``index`` (= a_xw * b), ``indirect_at_1 ...`` (= (a + a_xw w_k) b); second stage -- ``a``, ``b`` (m),
    ``b_w`` (w), ``b_mw`` (m:w), ``direct``, ``index`` (= a * b_mw), ``indirect_at_k`` (= a (b + b_mw w_k)).

    R: ``lavaan::sem`` with the product term and ``:=`` index of moderated mediation (PROCESS models 7 / 14); point
    estimates are OLS.
    """
    if stage not in ("first", "second"):
        raise ValueError(f"stage must be 'first' or 'second', not {stage!r}")
    if not isinstance(m, str):
        ms = as_list(m, "m")
        if len(ms) != 1:
            raise ValueError("moderated_mediation supports one mediator")
        m = ms[0]
    covs = as_list(covariates, "covariates")
    prod_name = f"{x}:{w}" if stage == "first" else f"{m}:{w}"
    pair = (x, w) if stage == "first" else (m, w)
    Z, dropped, names = design_matrix(data, [x, m, y, w] + covs, {prod_name: pair})
    col = {nm: i for i, nm in enumerate(names)}
    cv = [col[c] for c in covs]
    wv = _default_w(Z[:, col[w]], w_values)
    if stage == "first":
        eqs = [Equation(col[m], [0, col[x], col[w], col[prod_name]] + cv),
               Equation(col[y], [0, col[x], col[m]] + cv)]
        params = [("a", 0, 1, f"{m} ~ {x}"), ("a_w", 0, 2, f"{m} ~ {w}"), ("a_xw", 0, 3, f"{m} ~ {prod_name}"),
                  ("b", 1, 2, f"{y} ~ {m}"), ("direct", 1, 1, f"{y} ~ {x}")]
        a, a3, b = 0, 2, 3
        index = Effect("index", "a_xw * b", [(1.0, (a3, b))])
        cond = [Effect(f"indirect_at_{k + 1}", f"(a + a_xw*{v:.6g}) * b", [(1.0, (a, b)), (v, (a3, b))])
                for k, v in enumerate(wv)]
        text = (f"{m} ~ a*{x} + a_w*{w} + a_xw*{prod_name}" + "".join(f" + {c}" for c in covs)
                + f"\n{y} ~ direct*{x} + b*{m}" + "".join(f" + {c}" for c in covs) + "\nindex := a_xw*b")
    else:
        eqs = [Equation(col[m], [0, col[x]] + cv),
               Equation(col[y], [0, col[x], col[m], col[w], col[prod_name]] + cv)]
        params = [("a", 0, 1, f"{m} ~ {x}"), ("b", 1, 2, f"{y} ~ {m}"), ("b_w", 1, 3, f"{y} ~ {w}"),
                  ("b_mw", 1, 4, f"{y} ~ {prod_name}"), ("direct", 1, 1, f"{y} ~ {x}")]
        a, b, b3 = 0, 1, 3
        index = Effect("index", "a * b_mw", [(1.0, (a, b3))])
        cond = [Effect(f"indirect_at_{k + 1}", f"a * (b + b_mw*{v:.6g})", [(1.0, (a, b)), (v, (a, b3))])
                for k, v in enumerate(wv)]
        text = (f"{m} ~ a*{x}" + "".join(f" + {c}" for c in covs)
                + f"\n{y} ~ direct*{x} + b*{m} + b_w*{w} + b_mw*{prod_name}" + "".join(f" + {c}" for c in covs)
                + "\nindex := a*b_mw")
    effects = [Effect(nm, desc, [(1.0, (i,))]) for i, (nm, _, _, desc) in enumerate(params)] + [index] + cond
    pm = PathModel(Z, names, eqs, params, effects)
    res = run_composite(pm, n_boot, ci, level, seed, n_mc, direct=None, indirect=[], model_text=text,
                         n_dropped=dropped)
    eff = res.effects.set_index("name")
    conditional = eff.loc[[e.name for e in cond]].reset_index()
    conditional.insert(1, "w", wv)
    return ModeratedMediationResult(index=eff.loc["index"], conditional=conditional, mediation=res, stage=stage,
                                    w_values=wv)


# ====================================================================== simple slopes / Johnson-Neyman
def _interaction_ols(data, x, w, y, covariates):
    covs = as_list(covariates, "covariates")
    Z, dropped, names = design_matrix(data, [x, w, y] + covs, {f"{x}:{w}": (x, w)})
    col = {nm: i for i, nm in enumerate(names)}
    P = [0, col[x], col[w], col[f"{x}:{w}"]] + [col[c] for c in covs]
    A = Z[:, P]
    yv = Z[:, col[y]]
    beta, *_ = np.linalg.lstsq(A, yv, rcond=None)
    resid = yv - A @ beta
    n, p = A.shape
    dfr = n - p
    s2 = resid @ resid / dfr
    V = s2 * np.linalg.inv(A.T @ A)
    return beta, V, dfr, Z[:, col[w]], dropped


def simple_slopes(data: pd.DataFrame, x: str, w: str, y: str, covariates=(), w_values=None,
                  level: float = 0.95) -> pd.DataFrame:
    """Slope of ``x`` on ``y`` at values of the moderator ``w`` (default mean -/+ 1 SD and the mean):
    columns w, slope, se, t, df, pvalue, ci_lower, ci_upper (OLS, t(n - p)).

    R: ``interactions::sim_slopes`` (OLS ``stats::lm``, t(n - p)); checked against the closed form in
    tests/test_moderation.py.
    """
    beta, V, dfr, wv, _ = _interaction_ols(data, x, w, y, covariates)
    vals = np.array(_default_w(wv, w_values))
    slope = beta[1] + beta[3] * vals
    se = np.sqrt(V[1, 1] + 2 * vals * V[1, 3] + vals ** 2 * V[3, 3])
    t = slope / se
    tc = stats.t.ppf((1 + level) / 2, dfr)
    return pd.DataFrame({"w": vals, "slope": slope, "se": se, "t": t, "df": dfr,
                         "pvalue": 2 * stats.t.sf(np.abs(t), dfr), "ci_lower": slope - tc * se,
                         "ci_upper": slope + tc * se})


@dataclass
class JohnsonNeymanResult:
    """Johnson-Neyman region of significance of the slope of x at level ``level``.

    ``bounds``: the real roots (sorted, 0-2 values, may lie outside the observed range of w);
    ``significant_between``: True if the slope is significant between the two roots, False if outside them
    (None without two roots); ``w_range``: observed min / max of w; ``regions``: list of (lo, hi) intervals of w
    (within the observed range) where the slope is significant; ``coef``: b1 (x), b3 (x:w); ``t_crit``.

    R: ``interactions::johnson_neyman``'s bounds; checked against the closed-form roots in tests/test_moderation.py.
    """

    bounds: list[float]
    significant_between: bool | None
    regions: list[tuple[float, float]]
    w_range: tuple[float, float]
    t_crit: float
    df: int
    coef: dict
    level: float

    def summary(self) -> str:
        reg = ", ".join(f"[{lo:.4g}, {hi:.4g}]" for lo, hi in self.regions) or "none"
        return (f"Johnson-Neyman ({100 * self.level:g}%): bounds {', '.join(f'{b:.4g}' for b in self.bounds) or 'none'}; "
                f"slope significant for w in {reg} (observed w {self.w_range[0]:.4g} .. {self.w_range[1]:.4g})")


def johnson_neyman(data: pd.DataFrame, x: str, w: str, y: str, covariates=(), level: float = 0.95
                   ) -> JohnsonNeymanResult:
    """Johnson-Neyman bounds of ``y ~ x + w + x:w``: the closed-form roots of
    ``(b3^2 - t^2 V33) w^2 + 2 (b1 b3 - t^2 V13) w + (b1^2 - t^2 V11) = 0``.

    R: ``interactions::johnson_neyman``; checked against the closed-form roots in tests/test_moderation.py.
    """
    beta, V, dfr, wv, _ = _interaction_ols(data, x, w, y, covariates)
    b1, b3 = beta[1], beta[3]
    tc = float(stats.t.ppf((1 + level) / 2, dfr))
    A = b3 ** 2 - tc ** 2 * V[3, 3]
    B = 2 * (b1 * b3 - tc ** 2 * V[1, 3])
    C = b1 ** 2 - tc ** 2 * V[1, 1]
    roots: list[float] = []
    if abs(A) > 1e-300:
        disc = B * B - 4 * A * C
        if disc >= 0:
            sq = math.sqrt(disc)
            roots = sorted([(-B - sq) / (2 * A), (-B + sq) / (2 * A)])
    elif abs(B) > 0:
        roots = [-C / B]
    # significant where f(w) = A w^2 + B w + C > 0
    lo, hi = float(np.min(wv)), float(np.max(wv))
    between = None
    if len(roots) == 2:
        between = A < 0
    cuts = [lo] + [r for r in roots if lo < r < hi] + [hi]
    regions = []
    for u, v in zip(cuts[:-1], cuts[1:]):
        mid = (u + v) / 2
        if A * mid * mid + B * mid + C > 0:
            if regions and abs(regions[-1][1] - u) < 1e-15:
                regions[-1] = (regions[-1][0], v)
            else:
                regions.append((u, v))
    return JohnsonNeymanResult(bounds=roots, significant_between=between, regions=regions, w_range=(lo, hi),
                               t_crit=tc, df=int(dfr), coef={"b1": float(b1), "b3": float(b3)}, level=level)
