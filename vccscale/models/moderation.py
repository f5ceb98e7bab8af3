"""Moderation on composite scores: moderated mediation (Hayes 2015 index), simple slopes, Johnson-Neyman.

* :func:`moderated_mediation` -- one mediator, moderator ``w`` on the first stage (``x -> m``, Hayes' model 7:
  ``m ~ a1 x + a2 w + a3 x:w``, ``y ~ c x + b m``; index = ``a3 * b``) or the second stage (``m -> y``, model 14:
  ``m ~ a x``, ``y ~ c x + b1 m + b2 w + b3 m:w``; index = ``a * b3``). Conditional indirect effects at given
  values of ``w`` (default mean - 1 SD, mean, mean + 1 SD, SD with ddof = 1). Inference as
  :func:`~vccscale.models.mediate`: the same vectorised bootstrap (one set of indices), delta-method SEs (ML,
  lavaan) and Monte Carlo CIs. Variables are not centred (the index does not depend on centring).
* :func:`latent_interaction` -- the interaction of two latent variables measured by items (double-mean-centred
  product indicators, Lin et al. 2010) with simple slopes of the latent interaction.
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

from ..sem._dist import norm_sf, t_ppf, t_sf
from .pathmodel import Effect, Equation, MediationResult, PathModel, as_list, design_matrix, run_composite

__all__ = ["ModeratedMediationResult", "moderated_mediation", "simple_slopes", "JohnsonNeymanResult",
           "johnson_neyman", "LatentInteractionResult", "latent_interaction"]


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
    tc = t_ppf((1 + level) / 2, dfr)
    return pd.DataFrame({"w": vals, "slope": slope, "se": se, "t": t, "df": dfr,
                         "pvalue": 2 * t_sf(np.abs(t), dfr), "ci_lower": slope - tc * se,
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
    tc = float(t_ppf((1 + level) / 2, dfr))
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


# ---------------------------------------------------------------------------------------------- latent interaction
@dataclass(frozen=True)
class LatentInteractionResult:
    """A latent interaction (``method="dmc"``): ``paths`` (x, z, xz: est, se, z, pvalue, std_all), simple slopes of
    X at the latent moderator's -1 SD, mean and +1 SD (``simple_slopes``: z_value, est, se, z, pvalue), the product
    indicators (column -> (x item, z item)), the syntax and the fit (:class:`vccscale.sem.FitResult`).

    R: ``semTools::indProd(match = TRUE, meanC = TRUE, doubleMC = TRUE)`` + ``lavaan::sem`` and
    ``semTools::probe2WayMC`` (tests/reference/models/interaction_reference.R).
    """

    paths: dict
    simple_slopes: pd.DataFrame
    products: dict
    syntax: str
    fit: object
    method: str
    n: int
    pairing: str

    def to_dict(self) -> dict:
        from ..jsonsafe import jsonable

        f = self.fit.fit
        return jsonable({"method": self.method, "n": self.n, "pairing": self.pairing, "paths": self.paths,
                         "simple_slopes": self.simple_slopes.to_dict(orient="records"),
                         "products": {k: list(v) for k, v in self.products.items()}, "syntax": self.syntax,
                         "fit": {k: f.get(k) for k in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr")},
                         "estimator": self.fit.estimator, "warnings": list(self.fit.warnings)})

    def summary(self) -> str:
        lines = [f"Latent interaction ({self.method}: double-mean-centred {self.pairing} product indicators), "
                 f"n = {self.n}, {self.fit.estimator}"]
        for k in ("x", "z", "xz"):
            p = self.paths[k]
            lines.append(f"  {k:>3}: est {p['est']:.4f}  se {p['se']:.4f}  z {p['z']:.3f}  p {p['pvalue']:.4g}  "
                         f"std {p['std_all']:.4f}")
        lines += ["", "Simple slopes of X (moderator at -1 SD, mean, +1 SD of its latent variable)",
                  self.simple_slopes.to_string(index=False, float_format=lambda v: f"{v:.4f}")]
        return "\n".join(lines)


def latent_interaction(data: pd.DataFrame, x_items, z_items, y_items, *, method: str = "dmc",
                       estimator: str = "ML", missing: str = "listwise") -> LatentInteractionResult:
    """Latent interaction of X and Z on Y from their items (columns of ``data``) by double-mean-centred product
    indicators (Lin et al. 2010; Marsh, Wen & Hau 2004 for the matched pairs): with several items on both sides
    the items are paired in the order given (matched pairs: as many products as the shorter list), with one item
    on either side every product is formed; each item mean-centred, multiplied, the product mean-centred again.
    Model: ``X =~ x``, ``Z =~ z``, ``Y =~ y``, ``XZ =~ products``, ``Y ~ X + Z + XZ`` with lavaan's defaults (marker
    loadings; X, Z and XZ correlated). Simple slopes: ``b_x + b_xz z`` at z = -1 SD, 0, +1 SD of the latent
    moderator (its model-implied variance), SE from the coefficients' covariance (as semTools::probe2WayMC).
    ``method``: "dmc" only (latent moderated structural equations, LMS, are not built).

    R: ``semTools::indProd`` + ``lavaan::sem`` + ``semTools::probe2WayMC`` (tests/reference/models/
    interaction_reference.R).
    """
    from ..errors import DataError, ModelError
    from ..sem import fit_sem
    from .library import product_indicators

    if method != "dmc":
        raise ModelError(f"method {method!r} is not available: use 'dmc' (double-mean-centred product indicators); "
                         "latent moderated structural equations (LMS) are not built")
    xs, zs, ys = (list(dict.fromkeys(v)) for v in (x_items, z_items, y_items))
    for name, its in (("--x", xs), ("--z", zs), ("--y", ys)):
        if not its:
            raise DataError(f"{name}: no items given")
        missing_cols = [c for c in its if c not in data.columns]
        if missing_cols:
            raise DataError(f"{name}: column(s) {', '.join(missing_cols)} not in the data", column=missing_cols[0])
    overlap = (set(xs) & set(zs)) | (set(xs) & set(ys)) | (set(zs) & set(ys))
    if overlap:
        raise DataError(f"item(s) {', '.join(sorted(overlap))} given for two of X, Z and Y")
    if min(len(xs), len(zs)) == 1:
        pairs = [(a, b) for a in xs for b in zs]
        pairing = "all-pairs"
    else:
        pairs = list(zip(xs, zs))
        pairing = "matched-pair"
    products = {f"xz{k}": p for k, p in enumerate(pairs, 1)}
    cols = xs + zs + ys
    d = data[cols].apply(pd.to_numeric, errors="coerce")
    if missing == "listwise":
        d = d.dropna()
    dp = product_indicators(d, products)
    syntax = (f"X =~ {' + '.join(xs)}\nZ =~ {' + '.join(zs)}\nY =~ {' + '.join(ys)}\n"
              f"XZ =~ {' + '.join(products)}\nY ~ bx*X + bz*Z + bxz*XZ\n")
    fit = fit_sem(dp, syntax, estimator=estimator, missing=missing)
    e = fit.estimates
    paths = {}
    for key, lab in (("x", "bx"), ("z", "bz"), ("xz", "bxz")):
        r = e[e["label"] == lab].iloc[0]
        paths[key] = {k: float(r[c]) for k, c in (("est", "est"), ("se", "se"), ("z", "z"), ("pvalue", "pvalue"),
                                                     ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper"),
                                                     ("std_all", "std_all"))}
    V = fit.vcov(["bx", "bxz"]).to_numpy(float)
    var_z = float(e[(e["op"] == "~~") & (e["lhs"] == "Z") & (e["rhs"] == "Z")]["est"].iloc[0])
    sd = math.sqrt(var_z) if var_z > 0 else float("nan")
    rows = []
    for label, zv in (("-1 SD", -sd), ("mean", 0.0), ("+1 SD", sd)):
        est = paths["x"]["est"] + paths["xz"]["est"] * zv
        se = math.sqrt(max(V[0, 0] + 2 * zv * V[0, 1] + zv * zv * V[1, 1], 0.0))
        zs_ = est / se if se > 0 else float("nan")
        rows.append({"at": label, "z_value": zv, "est": est, "se": se, "z": zs_,
                     "pvalue": float(2 * norm_sf(abs(zs_))) if se > 0 else float("nan")})
    return LatentInteractionResult(paths, pd.DataFrame(rows), products, syntax, fit, method, int(sum(fit.nobs)),
                                   pairing)
