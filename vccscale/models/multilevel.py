"""Multilevel analysis: aggregation statistics (ICC, rwg, AD) and linear mixed models (issue 8, item 2).

* :func:`icc` -- ICC(1) and ICC(2) from the one-way ANOVA of ``value`` on ``group`` (Bliese 2000), exactly as
  ``multilevel::ICC1`` / ``ICC2`` applied to ``aov(value ~ as.factor(group))``::

      ICC(1) = (MSB - MSW) / (MSB + (k - 1) MSW),    ICC(2) = (MSB - MSW) / MSB

  with ``k = N / G``, the *mean* group size (multilevel 2.7 computes ``GSIZE = (df_within + G) / G``). The
  ANOVA-adjusted size ``k0 = (N - sum n_g^2 / N) / (G - 1)`` is reported too (``icc1_adjusted_k``); the two are
  equal for balanced groups. The F test of group differences is ``F = MSB / MSW`` on ``(G - 1, N - G)`` df.
* :func:`rwg` / :func:`rwg_j` -- James, Demaree & Wolf (1984) within-group agreement against a null
  ("no agreement") response distribution with variance ``sigma2_E``: ``rwg = 1 - s_x^2 / sigma2_E`` and
  ``rwg(J) = J (1 - s^2 / sigma2_E) / (J (1 - s^2 / sigma2_E) + s^2 / sigma2_E)``, ``s^2`` the mean of the J item
  variances (n - 1 divisor) within the group. Truncation as ``multilevel::rwg`` / ``rwg.j``: when the observed
  variance exceeds ``sigma2_E`` it is set to ``sigma2_E``, i.e. the index is set to 0 (for rwg(J) the raw
  formula then lies below 0 or above 1); the number of truncated groups is reported, and the untruncated value
  is kept in ``raw``. Groups with one member give NaN. Rows with a missing value are dropped listwise.
* Null variances (:data:`NULL_VARIANCES`): uniform ``(A^2 - 1) / 12`` for any A; the skewed, triangular and
  normal nulls are the values of LeBreton & Senter (2008, Table 2; after James et al. 1984) for 5 to 11 scale
  points, e.g. slightly skewed 1.34 (5 points) and 2.90 (7 points); moderately skewed 0.90 (5) and 2.14 (7).
* :func:`ad_index` -- average deviation AD_M(J) (Burke, Finkelstein & Dusig 1999): per item the mean absolute
  deviation (divisor n) from the item mean (or median), averaged over the items, as ``multilevel::ad.m``; the
  practical cut-off ``c / 6`` for ``c`` response options (Burke & Dunlap 2002) -- AD <= c/6 signals agreement.
* :func:`aggregation_table` -- the justification-for-aggregation table, one row per construct.
* :func:`mixed_model` -- random-intercept / random-slope models by statsmodels ``MixedLM`` (REML or ML), with
  log-likelihood, AIC and BIC on lme4's definitions (see :class:`MixedModelResult`); convergence problems and
  singular (boundary) fits are raised as :class:`MixedModelWarning` and listed in ``result.warnings``.
* :func:`multilevel_summary` -- the CLI contract (ICC, rwg(j), REML variance components of the scale mean).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError, ModelError

__all__ = [
    "NULL_VARIANCES",
    "AgreementResult",
    "ICCResult",
    "MixedModelResult",
    "MixedModelWarning",
    "ad_index",
    "aggregation_table",
    "icc",
    "mixed_model",
    "multilevel_summary",
    "null_variance",
    "rwg",
    "rwg_j",
]

# LeBreton & Senter (2008), Table 2: variances of null response distributions by number of scale points.
_NULL_TABLE_COLS = ("uniform", "slight_skew", "moderate_skew", "heavy_skew", "triangular", "normal")
_NULL_TABLE = {
    5: (2.00, 1.34, 0.90, 0.44, 1.32, 1.04),
    6: (2.92, 1.85, 1.26, 0.69, 1.45, 1.25),
    7: (4.00, 2.90, 2.14, 1.39, 2.10, 1.40),
    8: (5.25, 3.47, 2.79, 2.35, 2.81, 1.73),
    9: (6.67, 5.66, 4.73, 3.16, 3.00, 1.58),
    10: (8.25, 6.30, 5.09, 3.46, 2.89, 1.45),
    11: (10.00, 7.31, 6.32, 4.02, 3.32, 1.40),
}
NULL_VARIANCES: dict[int, dict[str, float]] = {a: dict(zip(_NULL_TABLE_COLS, v)) for a, v in _NULL_TABLE.items()}
NULLS = _NULL_TABLE_COLS


def null_variance(scale_points: int, null: str = "uniform") -> float:
    """Variance of the null distribution: uniform exactly ``(A^2 - 1) / 12``; others from LeBreton & Senter
    (2008, Table 2), available for 5 to 11 scale points.

    No R equivalent; checked against the closed form (A^2 - 1) / 12 and LeBreton & Senter's (2008) table.
    """
    if null not in NULLS:
        raise ValueError(f"null must be one of {', '.join(NULLS)}, not {null!r}")
    a = int(scale_points)
    if a != scale_points or a < 2:
        raise ValueError(f"scale_points must be an integer >= 2, not {scale_points!r}")
    if null == "uniform":
        return (a * a - 1) / 12.0
    if a not in NULL_VARIANCES:
        raise ValueError(f"the {null} null variance is tabled for 5 to 11 scale points only, not {a}")
    return NULL_VARIANCES[a][null]


# ------------------------------------------------------------------------------------------------ helpers
def _column(data: pd.DataFrame, name: str) -> pd.Series:
    if name not in data.columns:
        raise DataError("column not found in the data", column=name)
    return data[name]


def _numeric(s: pd.Series, name: str) -> pd.Series:
    v = pd.to_numeric(s, errors="coerce")
    bad = v.isna() & s.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"non-numeric value {s.iloc[row]!r}", row=row, column=name)
    return v.astype(float)


def _frame(x, group, names: list[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Items (one column or several) and the group id as one frame, complete cases only."""
    if isinstance(x, pd.DataFrame):
        items = x.reset_index(drop=True).copy()
    elif isinstance(x, pd.Series):
        items = x.reset_index(drop=True).to_frame(name=x.name if x.name is not None else "x")
    else:
        arr = np.asarray(x, dtype=float)
        items = pd.DataFrame(arr.reshape(len(arr), -1))
    items.columns = [str(c) for c in items.columns] if names is None else names
    g = pd.Series(np.asarray(group), name="__group__")
    if len(g) != len(items):
        raise DataError(f"group has {len(g)} values but the items have {len(items)} rows")
    for c in items.columns:
        items[c] = _numeric(items[c], c)
    df = pd.concat([items, g], axis=1).dropna()
    return df, list(items.columns)


def _py(v) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


# ------------------------------------------------------------------------------------------------ ICC
@dataclass
class ICCResult:
    """ICC(1), ICC(2) and the one-way ANOVA behind them. ``icc1`` uses the mean group size ``N / G`` (as
    ``multilevel::ICC1``); ``icc1_adjusted_k`` uses ``k0 = (N - sum n_g^2 / N) / (G - 1)``."""

    icc1: float
    icc2: float
    msb: float
    msw: float
    df_between: int
    df_within: int
    f: float
    p: float
    n: int
    n_groups: int
    mean_group_size: float
    k_adjusted: float
    icc1_adjusted_k: float

    def to_dict(self) -> dict:
        return {k: (int(v) if isinstance(v, (int, np.integer)) else float(v)) for k, v in self.__dict__.items()}


def icc(data: pd.DataFrame, group: str, value: str) -> ICCResult:
    """ICC(1) and ICC(2) of ``value`` nested in ``group`` from a one-way ANOVA (Bliese 2000).

    R: ``multilevel::ICC1`` / ``multilevel::ICC2`` of ``aov(value ~ as.factor(group))``
    (tests/reference/multilevel/multilevel_reference.R).
    """
    y = _numeric(_column(data, value), value)
    g = _column(data, group)
    keep = y.notna() & g.notna()
    y, g = y[keep].to_numpy(), g[keep].to_numpy()
    codes, _ = pd.factorize(g, sort=True)
    n, n_groups = len(y), int(codes.max()) + 1 if len(codes) else 0
    if n_groups < 2:
        raise DataError(f"ICC needs at least 2 groups, found {n_groups}", column=group)
    if n - n_groups < 1:
        raise DataError("ICC needs at least one group with more than one member", column=group)
    sizes = np.bincount(codes).astype(float)
    means = np.bincount(codes, weights=y) / sizes
    grand = y.mean()
    ssb = float(np.sum(sizes * (means - grand) ** 2))
    ssw = float(np.sum((y - means[codes]) ** 2))
    dfb, dfw = n_groups - 1, n - n_groups
    msb, msw = ssb / dfb, ssw / dfw
    k = n / n_groups
    k0 = (n - np.sum(sizes ** 2) / n) / (n_groups - 1)
    f = msb / msw if msw > 0 else math.inf
    p = float(stats.f.sf(f, dfb, dfw)) if math.isfinite(f) else 0.0
    return ICCResult(icc1=(msb - msw) / (msb + (k - 1) * msw), icc2=(msb - msw) / msb if msb > 0 else math.nan,
                     msb=msb, msw=msw, df_between=dfb, df_within=dfw, f=f, p=p, n=n, n_groups=n_groups,
                     mean_group_size=k, k_adjusted=float(k0),
                     icc1_adjusted_k=float((msb - msw) / (msb + (k0 - 1) * msw)))


# ------------------------------------------------------------------------------------------------ agreement
@dataclass
class AgreementResult:
    """Per-group agreement (``table``: index = group; columns ``value`` (truncated as multilevel), ``raw``
    (untruncated), ``variance`` (item variance or mean item variance), ``gsize``, ``truncated``).

    R: ``multilevel::rwg`` / ``multilevel::rwg.j`` output (tests/reference/multilevel/multilevel_reference.R).
    """

    index: str
    table: pd.DataFrame
    null: str
    scale_points: int
    sigma2_e: float
    n_items: int
    n_truncated: int
    n_undefined: int

    @property
    def values(self) -> pd.Series:
        return self.table["value"]

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def median(self) -> float:
        return float(self.values.median())

    def share_at_least(self, cut: float = 0.70) -> float:
        v = self.values.dropna()
        return float((v >= cut).mean()) if len(v) else math.nan

    @property
    def per_group(self) -> dict:
        return {str(k): _py(v) for k, v in self.values.items()}

    def to_dict(self) -> dict:
        return {"mean": _py(self.mean), "median": _py(self.median), "per_group": self.per_group}


def _agreement(x, group, scale_points: int, null: str, index: str) -> AgreementResult:
    s2e = null_variance(scale_points, null)
    df, cols = _frame(x, group)
    grp = df.groupby("__group__", sort=True)
    gsize = grp.size()
    var = grp[cols].var(ddof=1).mean(axis=1)          # NaN for one-member groups
    j = len(cols)
    r = var / s2e
    raw = (j * (1 - r)) / (j * (1 - r) + r) if index == "rwg_j" else 1 - r
    truncated = var > s2e
    value = raw.where(~truncated, 0.0)
    table = pd.DataFrame({"value": value, "raw": raw, "variance": var, "gsize": gsize, "truncated": truncated})
    table.index.name = "group"
    return AgreementResult(index=index, table=table, null=null, scale_points=int(scale_points), sigma2_e=s2e,
                           n_items=j, n_truncated=int(truncated.sum()), n_undefined=int(var.isna().sum()))


def rwg(x, group, scale_points: int, null: str = "uniform") -> AgreementResult:
    """Single-item rwg per group (James, Demaree & Wolf 1984); ``x`` and ``group`` are array-likes.

    R: ``multilevel::rwg`` (tests/reference/multilevel/multilevel_reference.R).
    """
    _, cols = _frame(x, group)
    if len(cols) != 1:
        raise DataError(f"rwg takes one item, got {len(cols)}; use rwg_j for a multi-item scale")
    return _agreement(x, group, scale_points, null, "rwg")


def rwg_j(items, group, scale_points: int, null: str = "uniform") -> AgreementResult:
    """Multi-item rwg(J) per group; ``items`` is a frame (or 2-D array) of the J items.

    R: ``multilevel::rwg.j`` (tests/reference/multilevel/multilevel_reference.R).
    """
    return _agreement(items, group, scale_points, null, "rwg_j")


def ad_index(items, group, center: str = "mean") -> pd.DataFrame:
    """AD_M(J) per group (``ad``; mean absolute deviation from the item mean or median, averaged over items, as
    ``multilevel::ad.m``) and ``gsize``; NaN for one-member groups."""
    if center not in ("mean", "median"):
        raise ValueError(f"center must be 'mean' or 'median', not {center!r}")
    df, cols = _frame(items, group)
    grp = df.groupby("__group__", sort=True)
    ctr = grp[cols].transform(center)
    dev = (df[cols] - ctr).abs()
    dev["__group__"] = df["__group__"]
    ad = dev.groupby("__group__", sort=True)[cols].mean().mean(axis=1)
    gsize = grp.size()
    ad[gsize < 2] = np.nan
    out = pd.DataFrame({"ad": ad, "gsize": gsize})
    out.index.name = "group"
    return out


def aggregation_table(data: pd.DataFrame, group: str, constructs: dict[str, list[str]], scale_points: int,
                      null: str = "uniform", cut: float = 0.70) -> pd.DataFrame:
    """Justification for aggregation, one row per construct (scale mean of its items): ICC(1), ICC(2), F test,
    mean / median rwg(J), share of groups with rwg(J) >= ``cut``, number truncated, mean AD_M(J) from the mean
    and from the median, the c/6 cut-off and the share of groups within it, and ``verdict``: "justified" when
    ICC(2) >= ``cut`` and mean rwg(J) >= ``cut``, "partial" when one of them holds, else "not_justified".

    R: ``multilevel::ICC1``, ``multilevel::ICC2``, ``multilevel::rwg.j`` and ``multilevel::ad.m`` per construct.
    """
    rows = []
    for name, items in constructs.items():
        items = list(items)
        for c in items + [group]:
            _column(data, c)
        sub = data[[group] + items]
        sub = sub[sub.notna().all(axis=1)]
        mean = sub[items].apply(lambda s: _numeric(s, s.name)).mean(axis=1)
        ic = icc(pd.DataFrame({"g": sub[group].to_numpy(), "m": mean.to_numpy()}), "g", "m")
        ag = rwg_j(sub[items], sub[group].to_numpy(), scale_points, null)
        adm = ad_index(sub[items], sub[group].to_numpy(), "mean")["ad"]
        admed = ad_index(sub[items], sub[group].to_numpy(), "median")["ad"]
        c6 = scale_points / 6.0
        ok_icc, ok_rwg = ic.icc2 >= cut, ag.mean >= cut
        rows.append({"construct": name, "n_items": len(items), "n": ic.n, "n_groups": ic.n_groups,
                     "icc1": ic.icc1, "icc2": ic.icc2, "F": ic.f, "p": ic.p, "rwg_j_mean": ag.mean,
                     "rwg_j_median": ag.median, "share_rwg_j_ge_cut": ag.share_at_least(cut),
                     "n_truncated": ag.n_truncated, "ad_mean": float(adm.mean()), "ad_median": float(admed.mean()),
                     "ad_cutoff": c6, "share_ad_le_cutoff": float((adm.dropna() <= c6).mean()),
                     "verdict": "justified" if ok_icc and ok_rwg else ("partial" if ok_icc or ok_rwg
                                                                        else "not_justified")})
    return pd.DataFrame(rows).set_index("construct")


# ------------------------------------------------------------------------------------------------ mixed models
class MixedModelWarning(UserWarning):
    """A mixed model did not converge cleanly or sits on the boundary (singular fit).

    R: lme4's convergence and ``lme4::isSingular`` warnings.
    """


@dataclass
class MixedModelResult:
    """Linear mixed model.

    ``fixed``: est, se, z, p (normal) per term. ``variance``: ``between`` (intercept variance tau00),
    ``slope`` / ``covariance`` (one random slope; more slopes under their names), ``within`` (residual
    sigma^2); ``cov_re`` the full random-effects covariance. ``icc = tau00 / (tau00 + sigma^2)`` (for a random-slope
    model the ICC at the predictors' zero point). ``llf``: the (restricted, for REML) log-likelihood on lme4's
    scale -- statsmodels' REML llf includes the same constants and equals ``logLik(lmer(..., REML = TRUE))``.
    ``npar = p_fixed + q (q + 1) / 2 + 1`` (lme4's ``df``), ``aic = -2 llf + 2 npar`` and
    ``bic = -2 llf + npar log(N)`` with N the number of observations (lme4 uses N also for REML fits; REML
    criteria compare models with the same fixed effects only).

    R: ``lme4::lmer`` (``logLik``, ``AIC``, ``BIC``, ``VarCorr``;
    tests/reference/multilevel/multilevel_reference.R).
    """

    formula: str
    re_formula: str | None
    reml: bool
    fixed: pd.DataFrame
    variance: dict
    cov_re: pd.DataFrame
    icc: float
    llf: float
    npar: int
    aic: float
    bic: float
    n: int
    n_groups: int
    converged: bool
    singular: bool
    warnings: list[str] = field(default_factory=list)
    result: object = None

    def to_dict(self) -> dict:
        return {"formula": self.formula, "re_formula": self.re_formula, "reml": self.reml,
                "fixed": {t: {k: float(v) for k, v in r.items()} for t, r in self.fixed.iterrows()},
                "variance": {k: float(v) for k, v in self.variance.items()}, "icc": float(self.icc),
                "llf": float(self.llf), "npar": self.npar, "aic": float(self.aic), "bic": float(self.bic),
                "n": self.n, "n_groups": self.n_groups, "converged": self.converged, "singular": self.singular,
                "warnings": list(self.warnings)}


def mixed_model(data: pd.DataFrame, formula: str, group: str, re_formula: str | None = None,
                reml: bool = True) -> MixedModelResult:
    """Random-intercept (``re_formula=None``) or random-slope (e.g. ``re_formula="~x"``) model by MixedLM.

    R: ``lme4::lmer`` (tests/reference/multilevel/multilevel_reference.R).
    """
    import statsmodels.formula.api as smf

    _column(data, group)
    d = data.dropna(subset=[group])
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            model = smf.mixedlm(formula, d, groups=d[group], re_formula=re_formula, missing="drop")
            res = model.fit(reml=reml)
        except Exception as exc:  # patsy / linear algebra problems are user-level model problems here
            raise ModelError(f"mixed model {formula!r} could not be estimated: {exc}") from exc
    for w in rec:
        msg = f"{w.category.__name__}: {w.message}"
        if msg not in caught:
            caught.append(msg)
    converged = bool(getattr(res, "converged", True))
    if not converged and not any("converge" in m.lower() for m in caught):
        caught.append("ConvergenceWarning: the MixedLM optimizer did not converge")
    cov_re = pd.DataFrame(np.asarray(res.cov_re, dtype=float), index=res.cov_re.index, columns=res.cov_re.columns)
    sigma2 = float(res.scale)
    names = list(cov_re.index)
    ev = np.linalg.eigvalsh(cov_re.to_numpy()) if len(names) else np.array([1.0])
    # lme4's isSingular: relative SD (theta) < 1e-4, i.e. variance ratio < 1e-8; statsmodels stops short of 0 on
    # the boundary, so its own "on the boundary" warning counts too
    on_boundary = any("boundary" in m.lower() for m in caught)
    singular = bool(ev.min() <= 1e-8 * max(sigma2, 1e-300)) or on_boundary
    if singular and not on_boundary:
        caught.append("boundary (singular) fit: a random-effect variance is ~0 or the random-effects covariance"
                      " is not positive definite")
    for m in caught:
        warnings.warn(f"{formula}: {m}", MixedModelWarning, stacklevel=2)

    fe = res.fe_params
    se = res.bse_fe
    z = fe / se
    fixed = pd.DataFrame({"est": fe, "se": se, "z": z, "p": 2 * stats.norm.sf(np.abs(z))})
    variance: dict[str, float] = {}
    inter = "Group" if "Group" in names else ("Intercept" if "Intercept" in names else None)
    tau00 = float(cov_re.loc[inter, inter]) if inter is not None else math.nan
    variance["between"] = tau00
    slopes = [n for n in names if n != inter]
    if len(slopes) == 1:
        s = slopes[0]
        variance["slope"] = float(cov_re.loc[s, s])
        if inter is not None:
            variance["covariance"] = float(cov_re.loc[inter, s])
    else:
        for s in slopes:
            variance[f"slope:{s}"] = float(cov_re.loc[s, s])
            if inter is not None:
                variance[f"covariance:{s}"] = float(cov_re.loc[inter, s])
    variance["within"] = sigma2
    q = len(names)
    npar = len(fe) + q * (q + 1) // 2 + 1
    llf = float(res.llf)
    n = int(res.nobs)
    return MixedModelResult(formula=formula, re_formula=re_formula, reml=reml, fixed=fixed, variance=variance,
                            cov_re=cov_re, icc=tau00 / (tau00 + sigma2), llf=llf, npar=npar,
                            aic=-2 * llf + 2 * npar, bic=-2 * llf + npar * math.log(n), n=n,
                            n_groups=len(res.model.group_labels), converged=converged, singular=singular,
                            warnings=caught, result=res)


# ------------------------------------------------------------------------------------------------ summary
def multilevel_summary(data: pd.DataFrame, group: str, items: list[str], scale_min: int, scale_max: int,
                       null: str = "uniform") -> dict:
    """The CLI contract: ``{"icc1", "icc2", "rwg_j": {"mean", "median", "per_group"}, "variance": {"between",
    "within"}}`` for the scale mean of ``items`` (complete cases), the variance components from the REML
    random-intercept model ``mean ~ 1 + (1 | group)``; extras under ``icc``, ``rwg_j_info``, ``ad`` and ``model``.

    R: ``multilevel::ICC1``, ``multilevel::ICC2``, ``multilevel::rwg.j`` and ``lme4::lmer(mean ~ 1 + (1 | group))``.
    """
    items = list(items)
    if not items:
        raise DataError("no items given for the multilevel summary")
    for c in items + [group]:
        _column(data, c)
    if int(scale_max) <= int(scale_min):
        raise ValueError(f"scale_max ({scale_max}) must exceed scale_min ({scale_min})")
    a = int(scale_max) - int(scale_min) + 1
    sub = data[[group] + items].copy()
    for c in items:
        sub[c] = _numeric(sub[c], c)
    sub = sub[sub.notna().all(axis=1)].reset_index(drop=True)
    frame = pd.DataFrame({"g": sub[group].to_numpy(), "scale_mean": sub[items].mean(axis=1).to_numpy()})
    ic = icc(frame, "g", "scale_mean")
    ag = rwg_j(sub[items], sub[group].to_numpy(), a, null)
    adm = ad_index(sub[items], sub[group].to_numpy(), "mean")["ad"]
    mm = mixed_model(frame, "scale_mean ~ 1", "g", reml=True)
    return {
        "icc1": float(ic.icc1),
        "icc2": float(ic.icc2),
        "rwg_j": ag.to_dict(),
        "variance": {"between": mm.variance["between"], "within": mm.variance["within"]},
        "icc": ic.to_dict(),
        "rwg_j_info": {"null": null, "scale_points": a, "sigma2_e": ag.sigma2_e, "n_items": ag.n_items,
                       "n_truncated": ag.n_truncated, "n_undefined": ag.n_undefined,
                       "share_ge_0.70": _py(ag.share_at_least(0.70))},
        "ad": {"mean": _py(adm.mean()), "median": _py(adm.median()), "cutoff": a / 6.0,
               "per_group": {str(k): _py(v) for k, v in adm.items()}},
        "model": mm.to_dict(),
    }
