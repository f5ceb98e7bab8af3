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
* :func:`mixed_model` -- random-intercept / random-slope (``random_slopes=["x"]``) models as ``lme4::lmer``
  (REML or ML): statsmodels ``MixedLM`` fits, and lme4's profiled deviance is then minimised from its estimate,
  so estimates, SEs, log-likelihood, AIC and BIC are lme4's (see :class:`MixedModelResult`); random-slope models
  carry the likelihood-ratio test against the random-intercept model (ML refits, as lme4's ``anova``).
  Convergence problems and singular (boundary) fits are raised as :class:`MixedModelWarning` and listed in
  ``result.warnings``.
* :func:`multilevel_summary` -- the CLI contract (ICC, rwg(j), REML variance components of the scale mean, and
  optionally a random-slope model of the scale mean).

Data without variance: a value (scale mean, outcome, predictor) that never varies raises :class:`DataError` naming
the column (every statistic is 0/0); boundary cases where the statistics are defined (no variance within groups:
ICC = 1; an item without variance) are returned with a warning; a group whose members all answer alike is
perfect agreement (rwg = 1, AD = 0), counted by the summary.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..clean.scoring import block_score
from ..errors import DataError, ModelError
from ..jsonsafe import jsonable
from ..sem._dist import chi2_upper, f_sf, norm_sf

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
    """A float for JSON (:func:`vccscale.jsonsafe.jsonable`: NaN / inf -> None)."""
    return jsonable(float(v))


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

    A ``value`` without any variance raises :class:`DataError` (both ICCs are 0/0). Where they are defined on
    the boundary the result is returned with a warning: no variance within groups (MSW = 0) gives ICC(1) = ICC(2)
    = 1 and F = inf; identical group means (MSB = 0) give ICC(1) = -1 / (k - 1) as the formula says, and ICC(2),
    (MSB - MSW) / MSB, is NaN (multilevel::ICC2 returns -Inf).

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
    if np.ptp(y) == 0:
        raise DataError(f"no variance: every value is {y[0]:g}, so ICC(1) and ICC(2) (and the variance components) "
                        "are undefined", column=value)
    sizes = np.bincount(codes).astype(float)
    means = np.bincount(codes, weights=y) / sizes
    grand = y.mean()
    ssb = float(np.sum(sizes * (means - grand) ** 2))
    ssw = float(np.sum((y - means[codes]) ** 2))
    # sums of squares that are 0 up to rounding (identical values, identical group means) are 0
    scale = float(np.sum((y - grand) ** 2))
    ssb = 0.0 if ssb <= 1e-13 * scale else ssb
    ssw = 0.0 if ssw <= 1e-13 * scale else ssw
    dfb, dfw = n_groups - 1, n - n_groups
    msb, msw = ssb / dfb, ssw / dfw
    k = n / n_groups
    k0 = (n - np.sum(sizes ** 2) / n) / (n_groups - 1)
    f = msb / msw if msw > 0 else math.inf
    p = float(f_sf(f, dfb, dfw)) if math.isfinite(f) else 0.0
    if msw == 0:
        warnings.warn(f"{value} does not vary within any {group} group (every member of a group gives the same "
                      "value): ICC(1) = ICC(2) = 1 and F is infinite", stacklevel=2)
    if msb == 0:
        warnings.warn(f"the {group} groups have identical means of {value} (MSB = 0): ICC(2) is undefined",
                      stacklevel=2)

    def ratio(a: float, b: float) -> float:
        return a / b if b != 0 else math.nan

    return ICCResult(icc1=ratio(msb - msw, msb + (k - 1) * msw), icc2=ratio(msb - msw, msb),
                     msb=msb, msw=msw, df_between=dfb, df_within=dfw, f=f, p=p, n=n, n_groups=n_groups,
                     mean_group_size=k, k_adjusted=float(k0),
                     icc1_adjusted_k=ratio(msb - msw, msb + (k0 - 1) * msw))


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
    ICC(2) >= ``cut`` and mean rwg(J) >= ``cut``, "partial" when one of them holds, else "not_justified";
    "undefined" (with a warning, ICCs NaN) when the construct's mean has no variance at all.

    R: ``multilevel::ICC1``, ``multilevel::ICC2``, ``multilevel::rwg.j`` and ``multilevel::ad.m`` per construct.
    """
    rows = []
    for name, items in constructs.items():
        items = list(items)
        for c in items + [group]:
            _column(data, c)
        sub = data[[group] + items]
        sub = sub[sub.notna().all(axis=1)]
        mean = block_score(sub[items].apply(lambda s: _numeric(s, s.name)))
        try:
            ic = icc(pd.DataFrame({"g": sub[group].to_numpy(), name: mean.to_numpy()}), "g", name)
        except DataError as exc:
            if "no variance" not in exc.message:
                raise
            warnings.warn(f"construct {name}: the mean of {', '.join(items)} has no variance (every respondent's "
                          f"mean is {mean.iloc[0]:g}): ICC(1), ICC(2) and F are undefined, verdict 'undefined'",
                          stacklevel=2)
            nan = math.nan
            ic = ICCResult(nan, nan, 0.0, 0.0, 0, 0, nan, nan, len(sub), int(sub[group].nunique()), nan, nan, nan)
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
                     "verdict": "undefined" if math.isnan(ic.icc1) and ic.msb == 0 == ic.msw else
                     "justified" if ok_icc and ok_rwg else ("partial" if ok_icc or ok_rwg else "not_justified")})
    return pd.DataFrame(rows).set_index("construct")


# ------------------------------------------------------------------------------------------------ mixed models
class MixedModelWarning(UserWarning):
    """A mixed model did not converge cleanly or sits on the boundary (singular fit).

    R: lme4's convergence and ``lme4::isSingular`` warnings.
    """


@dataclass
class MixedModelResult:
    """Linear mixed model with one grouping factor, on lme4's definitions.

    ``fixed``: est, se, z, p (normal) per term; the SEs are lme4's ``vcov``, ``sigma^2 (X' V^-1 X)^-1`` at the
    estimates. ``variance``: ``between`` (intercept variance tau00), ``within`` (residual sigma^2) and, with one
    random slope, ``slope`` (its variance), ``covariance`` and ``correlation`` (intercept-slope); with several slopes
    ``slope:x``, ``covariance:x``, ``correlation:x`` per slope and ``covariance:x:w``, ``correlation:x:w`` per pair.
    ``cov_re``: the random-effects covariance matrix. ``icc = tau00 / (tau00 + sigma^2)`` (for a random-slope model
    the ICC at the predictors' zero point; 0 when tau00 is 0). ``llf``: the (restricted, for REML) log-likelihood,
    ``logLik(lmer(...))``. ``npar = p_fixed + q (q + 1) / 2 + 1`` (lme4's ``df``), ``aic = -2 llf + 2 npar`` and
    ``bic = -2 llf + npar log(N)`` with N the number of observations (lme4 uses N also for REML fits; REML
    criteria compare models with the same fixed effects only). ``theta``: lme4's relative Cholesky factor (lower
    triangle by column); ``singular`` as lme4's isSingular (a diagonal theta below 1e-4).

    ``lrt`` (random-slope models): the likelihood-ratio test of the random slopes against the random-intercept model
    with the same fixed effects, both refitted by ML as ``anova(lmer_slopes, lmer_intercept)`` does: ``chisq =
    2 (llf_ml - llf_ml_reduced)`` on ``df = npar - npar_reduced``, ``p`` from the chi-square distribution (anova's
    naive p; the variances sit on the boundary under H0, so it is conservative), and both models' ML llf, npar,
    AIC and BIC.

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
    random_slopes: list[str] = field(default_factory=list)
    theta: list[float] = field(default_factory=list)
    lrt: dict | None = None

    def to_dict(self) -> dict:
        return {"formula": self.formula, "re_formula": self.re_formula, "reml": self.reml,
                "random_slopes": list(self.random_slopes),
                "fixed": {t: {k: float(v) for k, v in r.items()} for t, r in self.fixed.iterrows()},
                "variance": {k: float(v) for k, v in self.variance.items()},
                "cov_re": {str(i): {str(j): float(v) for j, v in r.items()} for i, r in self.cov_re.iterrows()},
                "icc": float(self.icc), "llf": float(self.llf), "npar": self.npar, "aic": float(self.aic),
                "bic": float(self.bic), "n": self.n, "n_groups": self.n_groups, "converged": self.converged,
                "singular": self.singular, "warnings": list(self.warnings),
                "lrt": None if self.lrt is None else {k: (v if isinstance(v, (str, int)) else float(v))
                                                       for k, v in self.lrt.items()}}


# lme4's profiled deviance of a linear mixed model with one grouping factor (Bates et al. 2015, JSS 67(1), sec. 3):
# random effects b_j = sigma Lambda u_j, u_j ~ N(0, I_q), Lambda lower triangular with the free elements theta
# (by column). Everything is computed from per-group cross-products, so a fit of a few thousand rows costs little.
class _Profiled:
    def __init__(self, model) -> None:
        x, z, y = (np.asarray(a, dtype=float) for a in (model.exog, model.exog_re, model.endog))
        self.n, self.p = x.shape
        self.q = z.shape[1]
        g = len(model.group_labels)
        self.ztz = np.zeros((g, self.q, self.q))
        self.ztx = np.zeros((g, self.q, self.p))
        self.zty = np.zeros((g, self.q))
        for j, lab in enumerate(model.group_labels):
            idx = model.row_indices[lab]
            zj = z[idx]
            self.ztz[j], self.ztx[j], self.zty[j] = zj.T @ zj, zj.T @ x[idx], zj.T @ y[idx]
        self.xtx, self.xty, self.yty = x.T @ x, x.T @ y, float(y @ y)
        self.rows, self.cols = np.array([(r, c) for c in range(self.q) for r in range(c, self.q)]).T
        self.lower = [0.0 if r == c else -np.inf for r, c in zip(self.rows, self.cols)]

    def lam(self, theta: np.ndarray) -> np.ndarray:
        out = np.zeros((self.q, self.q))
        out[self.rows, self.cols] = theta
        return out

    def theta_from(self, cov_re: np.ndarray, sigma2: float) -> np.ndarray:
        rel = np.asarray(cov_re, dtype=float) / sigma2
        try:
            chol = np.linalg.cholesky(rel)
        except np.linalg.LinAlgError:
            w, v = np.linalg.eigh(rel)
            chol = np.linalg.cholesky((v * np.maximum(w, 1e-6)) @ v.T + 1e-8 * np.eye(self.q))
        return chol[self.rows, self.cols]

    def solve(self, theta: np.ndarray, reml: bool) -> dict:
        lam = self.lam(theta)
        a = np.eye(self.q) + lam.T @ self.ztz @ lam                       # I + Lambda' Z_j' Z_j Lambda
        chol = np.linalg.cholesky(a)
        logdet = 2 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
        lzx = lam.T @ self.ztx
        lzy = (lam.T @ self.zty[..., None])[..., 0]
        aix = np.linalg.solve(a, lzx)
        aiy = np.linalg.solve(a, lzy[..., None])[..., 0]
        xwx = self.xtx - np.einsum("gqp,gqr->pr", lzx, aix)                # X' (V / sigma^2)^-1 X
        xwy = self.xty - np.einsum("gqp,gq->p", lzx, aiy)
        ywy = self.yty - float(np.einsum("gq,gq->", lzy, aiy))
        beta = np.linalg.solve(xwx, xwy)
        r2 = max(ywy - float(beta @ xwy), 1e-300)                          # penalised residual sum of squares
        dfr = self.n - self.p if reml else self.n
        dev = logdet + dfr * (1 + math.log(2 * math.pi * r2 / dfr))
        if reml:
            dev += float(np.linalg.slogdet(xwx)[1])
        sigma2 = r2 / dfr
        return {"deviance": dev, "beta": beta, "sigma2": sigma2, "vcov": sigma2 * np.linalg.inv(xwx),
                "cov_re": sigma2 * lam @ lam.T}

    def deviance(self, theta: np.ndarray, reml: bool) -> float:
        try:
            return self.solve(theta, reml)["deviance"]
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return math.inf

    def optimise(self, start: np.ndarray, reml: bool) -> tuple[np.ndarray, bool]:
        """Minimise the profiled deviance from ``start`` (L-BFGS-B, central-difference gradient, diagonal of
        Lambda >= 0 as lme4); converged when the projected gradient is below 1e-3 (deviance units)."""
        from scipy import optimize

        bounds = [(lo, None) if np.isfinite(lo) else (None, None) for lo in self.lower]
        res = optimize.minimize(self.deviance, start, args=(reml,), method="L-BFGS-B", jac="3-point",
                                bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000})
        theta = res.x if res.fun <= self.deviance(start, reml) else start
        lo = np.asarray(self.lower)
        theta = np.maximum(theta, lo)
        grad = np.zeros_like(theta)
        for i in range(len(theta)):
            h = 1e-6 * max(abs(theta[i]), 1e-2)
            up, dn = theta.copy(), theta.copy()
            up[i] += h
            dn[i] = max(dn[i] - h, lo[i])
            grad[i] = (self.deviance(up, reml) - self.deviance(dn, reml)) / (up[i] - dn[i])
        at_bound = (theta <= lo + 1e-10) & (grad > 0)
        ok = bool(np.all(np.isfinite(grad)) and np.max(np.abs(np.where(at_bound, 0.0, grad)), initial=0) < 1e-3)
        return theta, ok


def _terms(formula: str) -> tuple[str, set[str]]:
    from patsy import ModelDesc

    desc = ModelDesc.from_formula(formula)
    lhs = " + ".join(t.name() for t in desc.lhs_termlist)
    return lhs, {t.name() for t in desc.rhs_termlist}


def _fit_mixed(d: pd.DataFrame, formula: str, group: str, re_formula: str | None, reml: bool):
    """statsmodels MixedLM (start values, formula handling), then lme4's profiled deviance minimised from there."""
    import statsmodels.formula.api as smf

    caught: list[str] = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            model = smf.mixedlm(formula, d, groups=d[group], re_formula=re_formula, missing="drop")
        except Exception as exc:  # patsy problems are user-level model problems here
            raise ModelError(f"mixed model {formula!r} could not be specified: {exc}") from exc
        y = np.asarray(model.endog, dtype=float)
        if len(y) and np.ptp(y) == 0:
            raise DataError(f"the outcome has no variance (every value is {y[0]:g}): a mixed model is undefined",
                            column=model.endog_names)
        x = np.asarray(model.exog, dtype=float)
        for k, name in enumerate(model.exog_names):
            if name != "Intercept" and len(x) and np.ptp(x[:, k]) == 0:
                raise DataError(f"predictor {name} has no variance (every value is {x[0, k]:g}): its effect and "
                                "random slope are undefined", column=name)
        codes = pd.factorize(pd.Series(model.groups))[0]
        means = np.bincount(codes, weights=y) / np.bincount(codes)
        if np.allclose(y, means[codes], rtol=0, atol=1e-12 * np.abs(y).max()):
            raise DataError(f"{model.endog_names} does not vary within any {group} group: the residual variance is "
                            "0 and the mixed model is not estimable (ICC(1) = 1)", column=model.endog_names)
        try:
            res = model.fit(reml=reml)
        except Exception as exc:  # linear algebra problems are user-level model problems here
            raise ModelError(f"mixed model {formula!r} could not be estimated: {exc}") from exc
    for w in rec:
        msg = f"{w.category.__name__}: {w.message}"
        if msg not in caught:
            caught.append(msg)
    prof = _Profiled(model)
    start = prof.theta_from(np.asarray(res.cov_re, dtype=float), float(res.scale))
    theta, ok = prof.optimise(start, reml)
    if ok:  # the statsmodels optimiser's complaints are moot once lme4's criterion is at its minimum
        caught = [m for m in caught if "ConvergenceWarning" not in m]
    else:
        caught.append("ConvergenceWarning: the (RE)ML criterion did not converge (gradient above 1e-3)")
    return model, res, prof, theta, ok, caught


def mixed_model(data: pd.DataFrame, formula: str, group: str, re_formula: str | None = None,
                reml: bool = True, random_slopes: list[str] | None = None) -> MixedModelResult:
    """Linear mixed model ``formula`` with random effects by ``group``, as ``lme4::lmer`` (REML by default).

    Random intercept only (``re_formula=None``, no ``random_slopes``), or random slopes of the level-1 predictors
    ``random_slopes=["x", ...]`` (= ``lmer(y ~ ... + x + (1 + x | group))``; a slope variable missing from the
    fixed part is added to it) or, equivalently, ``re_formula="~x"``. Rows with a missing value are dropped.

    Estimation: statsmodels ``MixedLM`` fits the model; its estimate is then refined by minimising lme4's profiled
    (RE)ML deviance (relative Cholesky factor theta, L-BFGS-B), which puts the variance components and fixed
    effects on lme4's optimum to ~1e-6 (relative) and makes boundary fits exact. The fixed-effect SEs are lme4's.
    Random-slope models carry ``lrt``, the likelihood-ratio test against the random-intercept model (both refitted
    by ML). Raises :class:`DataError` when the outcome or a predictor has no variance, or the outcome does not vary
    within any group (residual variance 0); convergence problems and singular fits are
    :class:`MixedModelWarning`.

    R: ``lme4::lmer`` (tests/reference/multilevel/multilevel_reference.R,
    tests/reference/multilevel/random_slope_reference.R).
    """
    _column(data, group)
    slopes = [str(s) for s in (random_slopes or [])]
    if isinstance(random_slopes, str):
        slopes = [random_slopes]
    if slopes:
        if re_formula is not None:
            raise DataError("give random_slopes or re_formula, not both", field="random_slopes")
        for s in slopes:
            _column(data, s)
        _lhs, rhs = _terms(formula)
        missing = [s for s in slopes if s not in rhs]
        if missing:
            formula = f"{formula} + {' + '.join(missing)}"
        re_formula = "~" + " + ".join(slopes)
    d = data.dropna(subset=[group])
    model, res, prof, theta, ok, caught = _fit_mixed(d, formula, group, re_formula, reml)
    est = prof.solve(theta, reml)
    names_re = list(res.cov_re.index)
    cov_re = pd.DataFrame(est["cov_re"], index=names_re, columns=names_re)
    sigma2 = float(est["sigma2"])
    singular = bool(np.any(theta[prof.rows == prof.cols] < 1e-4))           # lme4::isSingular(tol = 1e-4)
    if singular:
        caught = [m for m in caught if "boundary" not in m.lower()]
        caught.append("boundary (singular) fit: a random-effect variance is ~0 or the random-effects covariance"
                      " is not positive definite")
    for m in caught:
        warnings.warn(f"{formula}: {m}", MixedModelWarning, stacklevel=2)

    fe = pd.Series(est["beta"], index=model.exog_names)
    se = pd.Series(np.sqrt(np.diag(est["vcov"])), index=model.exog_names)
    z = fe / se
    fixed = pd.DataFrame({"est": fe, "se": se, "z": z, "p": 2 * norm_sf(np.abs(z))})
    variance: dict[str, float] = {}
    inter = "Group" if "Group" in names_re else ("Intercept" if "Intercept" in names_re else None)
    tau00 = float(cov_re.loc[inter, inter]) if inter is not None else math.nan
    variance["between"] = tau00
    sl = [n for n in names_re if n != inter]

    def cor(a: str, b: str) -> float:
        den = math.sqrt(float(cov_re.loc[a, a]) * float(cov_re.loc[b, b]))
        return float(cov_re.loc[a, b]) / den if den > 0 else math.nan

    one = len(sl) == 1
    for s in sl:
        variance["slope" if one else f"slope:{s}"] = float(cov_re.loc[s, s])
        if inter is not None:
            variance["covariance" if one else f"covariance:{s}"] = float(cov_re.loc[inter, s])
            variance["correlation" if one else f"correlation:{s}"] = cor(inter, s)
    for i, a in enumerate(sl):
        for b in sl[i + 1:]:
            variance[f"covariance:{a}:{b}"] = float(cov_re.loc[a, b])
            variance[f"correlation:{a}:{b}"] = cor(a, b)
    variance["within"] = sigma2
    q = len(names_re)
    npar = len(fe) + q * (q + 1) // 2 + 1
    llf = -0.5 * float(est["deviance"])
    n = int(prof.n)
    lrt = None
    if sl:
        # the same rows for both models (a slope variable may have missing values the intercept model ignores)
        lrt = _slope_lrt(d.loc[model.data.row_labels], formula, group, re_formula, reml, llf, npar, n,
                         model.exog_names)
    return MixedModelResult(formula=formula, re_formula=re_formula, reml=reml, fixed=fixed, variance=variance,
                            cov_re=cov_re, icc=tau00 / (tau00 + sigma2) if tau00 + sigma2 > 0 else math.nan,
                            llf=llf, npar=npar, aic=-2 * llf + 2 * npar, bic=-2 * llf + npar * math.log(n), n=n,
                            n_groups=len(model.group_labels), converged=ok, singular=singular,
                            warnings=caught, result=res, random_slopes=[s for s in sl], theta=[float(t) for t in theta],
                            lrt=lrt)


def _slope_lrt(d: pd.DataFrame, formula: str, group: str, re_formula: str, reml: bool, llf: float, npar: int,
               n: int, exog_names: list[str]) -> dict:
    """anova(random slopes, random intercept): both by ML on the rows of the random-slope model (``d``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MixedModelWarning)
        full = llf if not reml else None
        if full is None:
            _m, _r, prof, th, _ok, _c = _fit_mixed(d, formula, group, re_formula, False)
            full = -0.5 * prof.solve(th, False)["deviance"]
        _m0, _r0, prof0, th0, _ok0, _c0 = _fit_mixed(d, formula, group, None, False)
    red = -0.5 * prof0.solve(th0, False)["deviance"]
    npar0 = len(exog_names) + 2
    chisq = max(2 * (full - red), 0.0)
    df = npar - npar0
    return {"test": "random slopes vs random intercept (ML refits, as lme4 anova)", "chisq": chisq, "df": int(df),
            "p": float(chi2_upper(chisq, df)), "llf_ml": full, "llf_ml_reduced": red, "npar": int(npar),
            "npar_reduced": int(npar0), "aic": -2 * full + 2 * npar, "aic_reduced": -2 * red + 2 * npar0,
            "bic": -2 * full + npar * math.log(n), "bic_reduced": -2 * red + npar0 * math.log(n)}


# ------------------------------------------------------------------------------------------------ summary
def multilevel_summary(data: pd.DataFrame, group: str, items: list[str], scale_min: int, scale_max: int,
                       null: str = "uniform", random_slopes: list[str] | None = None) -> dict:
    """The CLI contract: ``{"icc1", "icc2", "rwg_j": {"mean", "median", "per_group"}, "variance": {"between",
    "within"}}`` for the scale mean of ``items`` (complete cases), the variance components from the REML
    random-intercept model ``mean ~ 1 + (1 | group)``; extras under ``icc``, ``rwg_j_info``, ``ad`` and ``model``.

    ``random_slopes=["x", ...]`` (level-1 predictor columns) adds ``random_slope_model``: the REML model
    ``mean ~ 1 + x + (1 + x | group)`` on the rows complete on the items and the predictors (fixed effects with
    SEs, slope variances, intercept-slope covariances and correlations, ``lrt`` against the random-intercept model
    by ML refits; see :func:`mixed_model`).

    A scale mean without any variance raises :class:`DataError` naming the items. Defined boundary cases are
    returned with a warning: an item without variance (it only shifts the mean), a scale mean that does not vary
    within any group (ICC(1) = ICC(2) = 1; the mixed model is not estimable, so ``variance.between`` is NaN,
    ``variance.within`` 0 and ``model`` None). ``rwg_j_info.n_groups_without_variance`` counts the groups whose
    members all gave the same answers (rwg(j) = 1 there).

    R: ``multilevel::ICC1``, ``multilevel::ICC2``, ``multilevel::rwg.j`` and ``lme4::lmer(mean ~ 1 + (1 | group))``.
    """
    items = list(items)
    slopes = [str(x) for x in (random_slopes or [])]
    if not items:
        raise DataError("no items given for the multilevel summary")
    for c in items + [group] + slopes:
        _column(data, c)
    for x in slopes:
        if not x.isidentifier() or x in ("scale_mean", "__group__", group) or x in items:
            raise DataError("a random-slope predictor must be a column other than the group and the items, whose "
                            "name is a Python identifier (letters, digits, _)", column=x)
    if int(scale_max) <= int(scale_min):
        raise ValueError(f"scale_max ({scale_max}) must exceed scale_min ({scale_min})")
    a = int(scale_max) - int(scale_min) + 1
    sub = data[[group] + items].copy()
    for c in items:
        sub[c] = _numeric(sub[c], c)
    keep = sub.notna().all(axis=1).to_numpy()
    sub = sub[keep].reset_index(drop=True)
    mean = block_score(sub[items])
    listed = ", ".join(items)
    if len(mean) and np.ptp(mean.to_numpy()) == 0:
        raise DataError(f"the scale mean of {listed} has no variance (every respondent's mean is {mean.iloc[0]:g}): "
                        "ICC(1), ICC(2), rwg(j) and the variance components are undefined",
                        column=items[0] if len(items) == 1 else None)
    for c in items:
        if len(sub) and np.ptp(sub[c].to_numpy()) == 0:
            warnings.warn(f"item {c} has no variance (every answer is {sub[c].iloc[0]:g}): it only shifts the scale "
                          "mean, and rwg(j) counts its zero variance as agreement", stacklevel=2)
    gcol = group if group != "scale_mean" else "__group__"
    frame = pd.DataFrame({gcol: sub[group].to_numpy(), "scale_mean": mean.to_numpy()})
    ic = icc(frame, gcol, "scale_mean")
    ag = rwg_j(sub[items], sub[group].to_numpy(), a, null)
    adm = ad_index(sub[items], sub[group].to_numpy(), "mean")["ad"]
    flat_groups = int((ag.table["variance"] == 0).sum())
    if ic.msw == 0:
        mm = None
        variance = {"between": math.nan, "within": 0.0}
        warnings.warn(f"the scale mean does not vary within any {group} group: the random-intercept model is not "
                      "estimable (residual variance 0); variance.between is left empty", stacklevel=2)
    else:
        mm = mixed_model(frame, "scale_mean ~ 1", gcol, reml=True)
        variance = {"between": mm.variance["between"], "within": mm.variance["within"]}
    out = {
        "icc1": float(ic.icc1),
        "icc2": float(ic.icc2),
        "rwg_j": ag.to_dict(),
        "variance": variance,
        "icc": ic.to_dict(),
        "rwg_j_info": {"null": null, "scale_points": a, "sigma2_e": ag.sigma2_e, "n_items": ag.n_items,
                       "n_truncated": ag.n_truncated, "n_undefined": ag.n_undefined,
                       "n_groups_without_variance": flat_groups,
                       "share_ge_0.70": _py(ag.share_at_least(0.70))},
        "ad": {"mean": _py(adm.mean()), "median": _py(adm.median()), "cutoff": a / 6.0,
               "per_group": {str(k): _py(v) for k, v in adm.items()}},
        "model": None if mm is None else mm.to_dict(),
    }
    if slopes and ic.msw == 0:
        out["random_slope_model"] = None
        warnings.warn("the random-slope model is not estimable either (residual variance 0)", stacklevel=2)
    elif slopes:
        rs = frame.copy()
        for x in slopes:
            rs[x] = _numeric(data[x], x).to_numpy()[keep]
        rs = rs.dropna().reset_index(drop=True)
        res = mixed_model(rs, "scale_mean ~ 1", gcol, reml=True, random_slopes=slopes)
        out["random_slope_model"] = res.to_dict()
    return out
