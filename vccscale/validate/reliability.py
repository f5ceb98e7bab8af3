"""Reliability: Cronbach's alpha (with Feldt CI and reverse-key check), McDonald's omega, composite reliability,
average variance extracted. Reproduces R psych 2.2.9 and semTools 0.5-6.

Dependency decision: computed with numpy/scipy only. pingouin's ``cronbach_alpha`` would add nothing (alpha
is a few lines, and pingouin has no omega, no item statistics and no reverse-key check) and pingouin 0.7
needs scikit-learn >= 1.6.1, which breaks factor_analyzer 0.5.1 (``force_all_finite``); neither is a dependency.

- ``cronbach_alpha(data, items, check_keys=False, ci=0.95)`` -> :class:`AlphaResult` (psych::alpha).
- ``omega(data, items, n_factors=1, method="psych")`` -> :class:`OmegaResult` (psych::omega; or
  ``method="cfa"``: a one-factor ML CFA as lavaan + semTools::compRelSEM).
- ``composite_reliability(loadings, residual_variances)`` and ``ave(loadings, residual_variances)``: closed
  forms for one congeneric factor with uncorrelated residuals (semTools::compRelSEM / AVE).
- ``reliability_from_params(params)``: CR and AVE for every factor of a fitted CFA given as a lavaan-style
  parameter table (``lhs, op, rhs, est``), e.g. ``lavaan::parameterEstimates`` or the table of the
  ``vccscale.sem`` engine: this is the hook through which multi-factor CFA reliabilities are computed.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import special

from .._args import items_and_n_factors
from ..clean.scoring import block_score
from ..errors import DataError, ModelError
from ._common import (
    answered_rows,
    cov2cor,
    item_frame,
    listwise,
    pairwise_cor,
    pairwise_cov,
    smc,
)
from ._cor import alpha_from_cov, first_pc


class ReverseKeyWarning(UserWarning):
    """Some items correlate negatively with the total scale (negative loading on the first principal component,
    psych::alpha's check.keys rule): they are probably reverse-worded. ``items`` names them; ``reversed`` says
    whether they were reversed (``check_keys=True``) or only reported, so that a caller (the CLI) can word its
    own advice."""

    def __init__(self, message: str, items: Iterable[str] = (), reversed: bool = False) -> None:
        super().__init__(message)
        self.items = tuple(items)
        self.reversed = bool(reversed)


# ----------------------------------------------------------------------------------------------------------
# alpha
# ----------------------------------------------------------------------------------------------------------
def _alpha1(c: np.ndarray, r: np.ndarray) -> dict:
    """psych::alpha's inner alpha.1 on a covariance matrix C and its correlation matrix R."""
    n = c.shape[0]
    sum_c, sum_r, tr_c = c.sum(), r.sum(), np.trace(c)
    out = {"alpha": alpha_from_cov(c),
           "std_alpha": (1 - n / sum_r) * (n / (n - 1)),
           "g6": 1 - (n - smc(r).sum()) / sum_r,
           "average_r": (sum_r - n) / (n * (n - 1))}
    low = r[np.tril_indices(n, -1)]
    out["s_n"] = n * out["average_r"] / (1 - out["average_r"])
    cc = c @ c
    out["q"] = (2 * n ** 2 / ((n - 1) ** 2 * sum_c ** 3)) * (sum_c * (np.trace(cc) + tr_c ** 2) - 2 * tr_c * cc.sum())
    out["var_r"] = float(np.var(low, ddof=1)) if len(low) > 1 else float("nan")
    out["median_r"] = float(np.median(low))
    return out


def feldt_ci(alpha: float, n_obs: int, n_items: int, ci: float = 0.95) -> tuple[float, float]:
    """Feldt (1965) interval: 1 - (1 - alpha) F, F quantiles with (n - 1, (n - 1)(k - 1)) df (psych::alpha.ci)."""
    p = 1 - ci
    df1, df2 = n_obs - 1, (n_obs - 1) * (n_items - 1)
    return (1 - (1 - alpha) * special.fdtri(df1, df2, 1 - p / 2), 1 - (1 - alpha) * special.fdtri(df1, df2, p / 2))


@dataclass(frozen=True)
class AlphaResult:
    """psych::alpha: ``alpha`` (raw, from covariances), ``std_alpha`` (from correlations), ``g6`` (Guttman's
    lambda 6 from SMCs), ``average_r``/``median_r``/``var_r`` of the inter-item correlations, ``s_n``
    (signal/noise), ``ase`` (asymptotic SE), ``mean``/``sd`` of the mean score, Feldt ``ci_lower``/``ci_upper``,
    and the per-item table ``items`` (r_drop, alpha_if_deleted, ...). ``negative_items`` are those with a
    negative loading on the first principal component; ``reversed_items`` those actually reversed."""

    alpha: float
    std_alpha: float
    g6: float
    average_r: float
    median_r: float
    var_r: float
    s_n: float
    ase: float
    mean: float
    sd: float
    ci_lower: float
    ci_upper: float
    ci_level: float
    n_obs: int
    n_items: int
    items: pd.DataFrame
    negative_items: tuple[str, ...] = ()
    reversed_items: tuple[str, ...] = ()
    n_rows_without_answers: int = 0

    def to_frame(self) -> pd.DataFrame:
        """The per-item table (one row per item)."""
        return self.items

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("alpha", "std_alpha", "g6", "average_r", "median_r", "var_r", "s_n", "ase",
                                            "mean", "sd", "ci_lower", "ci_upper", "ci_level", "n_obs", "n_items",
                                            "n_rows_without_answers")}
        d["negative_items"] = list(self.negative_items)
        d["reversed_items"] = list(self.reversed_items)
        d["items"] = self.items.to_dict(orient="index")
        return d

    def summary(self) -> str:
        left = f" ({self.n_rows_without_answers} rows without answers left out)" if self.n_rows_without_answers else ""
        return (f"Cronbach's alpha = {self.alpha:.3f} (std {self.std_alpha:.3f}), {self.ci_level:.0%} Feldt CI "
                f"[{self.ci_lower:.3f}, {self.ci_upper:.3f}], {self.n_items} items, n = {self.n_obs}{left}\n"
                + self.items[["r_drop", "alpha_if_deleted", "mean", "sd"]].round(3).to_string())


def reverse_items(data: pd.DataFrame, items: Iterable[str],
                  scale_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """``data`` (a copy) with ``items`` reversed as min + max - x, as ``psych::alpha(x, keys = items)`` does:
    min and max observed over all columns of ``data`` unless ``scale_range=(min, max)`` is given."""
    items = list(items)
    bad = [c for c in items if c not in data.columns]
    if bad:
        raise DataError(f"items to reverse are not among the items: {bad}", column=bad[0])
    if not items:
        return data
    arr = data.to_numpy(dtype=float)
    lo, hi = (np.nanmin(arr), np.nanmax(arr)) if scale_range is None else scale_range
    x = data.copy()
    for c in items:
        x[c] = lo + hi - x[c]
    return x


def cronbach_alpha(data: pd.DataFrame, items: list[str] | None = None, check_keys: bool = False, ci: float = 0.95,
                   *, reverse: Iterable[str] | None = None,
                   scale_range: tuple[float, float] | None = None) -> AlphaResult:
    """Cronbach's alpha and item statistics as ``psych::alpha(data[items], check.keys = check_keys)``.

    Definitions (k items, C the pairwise covariance matrix, R = cov2cor(C)):
    alpha = k/(k - 1) (1 - tr C / sum C); std_alpha = k/(k - 1) (1 - k / sum R);
    G6 = 1 - (k - sum smc) / sum R; r_drop = correlation of an item with the sum of the other items (from C);
    alpha_if_deleted = alpha of the other k - 1 items; Feldt CI as ``psych::alpha.ci``.

    n (``n_obs``) is the number of rows that answered at least one of the items; rows on which every item is
    missing (on a wide export: the other version's respondents) are left out and counted in
    ``n_rows_without_answers`` (see :func:`vccscale.validate.answered_rows`). psych counts ``nrow(x)``:
    alpha itself is the same, but psych's Feldt CI and ase are too narrow when such rows are present; on the
    answered rows the results equal ``psych::alpha``'s.

    Reverse keys: items whose loading on the first principal component of the correlation matrix is negative
    are listed in ``negative_items`` and a :class:`ReverseKeyWarning` names them (psych's check.keys rule; psych
    words it "negatively correlated with the total scale").
    With ``check_keys=True`` they are reversed as x -> max + min - x, with min and max observed over all items
    (psych) unless ``scale_range=(min, max)`` is given. ``reverse`` names items to reverse regardless
    (psych's ``keys``); then no automatic check is made. psych drops items without variance; here that is an
    error. With two items, psych's "alpha if deleted" is not an alpha; it is NaN here.
    """
    x, n_empty = answered_rows(item_frame(data, items, what="Cronbach's alpha"))
    cols = list(x.columns)
    k = len(cols)
    if not 0 < ci < 1:
        raise DataError("ci must be between 0 and 1", field="ci")
    r_pair = pairwise_cor(x)
    pc = first_pc(r_pair)
    negative = tuple(c for c, v in zip(cols, pc) if v < 0)
    if reverse is not None:
        rev = list(reverse)
        bad = [c for c in rev if c not in cols]
        if bad:
            raise DataError(f"items to reverse are not among the items: {bad}", column=bad[0])
        flip = tuple(c for c in cols if c in rev)
    elif negative and check_keys:
        warnings.warn(ReverseKeyWarning(
            f"item(s) {', '.join(negative)} correlate negatively with the total scale (negative loading on the first "
            "principal component) and were reversed (check_keys=True)", negative, reversed=True), stacklevel=2)
        flip = negative
    else:
        if negative:
            warnings.warn(ReverseKeyWarning(
                f"item(s) {', '.join(negative)} correlate negatively with the total scale (negative loading on the "
                "first principal component): reverse-worded? Reverse them with reverse=[...] or check_keys=True",
                negative), stacklevel=2)
        flip = ()
    x = reverse_items(x, flip, scale_range)
    c_mat = pairwise_cov(x)
    r_mat = cov2cor(c_mat)
    tot = _alpha1(c_mat, r_mat)
    n_obs = len(x)
    drops = []
    for i in range(k):
        keep = [j for j in range(k) if j != i]
        if k > 2:
            drops.append(_alpha1(c_mat[np.ix_(keep, keep)], r_mat[np.ix_(keep, keep)]))
        else:
            drops.append(dict.fromkeys(("alpha", "std_alpha", "g6", "average_r", "s_n", "q", "var_r", "median_r"),
                                       float("nan")))
    total = block_score(x, 1 / k)  # psych: rowMeans(na.rm = TRUE), the mean of whatever is answered
    rc = r_mat.copy()
    np.fill_diagonal(rc, smc(r_mat))
    r_drop = []
    for i in range(k):
        keep = [j for j in range(k) if j != i]
        v_drop = c_mat[np.ix_(keep, keep)].sum()
        c_drop = c_mat[:, i].sum() - c_mat[i, i]
        r_drop.append(c_drop / math.sqrt(c_mat[i, i] * v_drop))
    tab = pd.DataFrame({
        "n": x.notna().sum().astype(int).to_numpy(),
        "raw_r": [total.corr(x[c]) for c in cols],
        "std_r": r_mat.sum(axis=0) / math.sqrt(r_mat.sum()),
        "r_cor": rc.sum(axis=0) / math.sqrt(rc.sum()),
        "r_drop": r_drop,
        "mean": x.mean().to_numpy(),
        "sd": x.std().to_numpy(),
        "alpha_if_deleted": [d["alpha"] for d in drops],
        "std_alpha_if_deleted": [d["std_alpha"] for d in drops],
        "g6_if_deleted": [d["g6"] for d in drops],
        "average_r_if_deleted": [d["average_r"] for d in drops],
        "s_n_if_deleted": [d["s_n"] for d in drops],
        "alpha_se_if_deleted": [math.sqrt(d["q"] / n_obs) if n_obs > k and not math.isnan(d["q"]) else float("nan")
                                for d in drops],
        "var_r_if_deleted": [d["var_r"] for d in drops],
        "median_r_if_deleted": [d["median_r"] for d in drops],
        "reversed": [c in flip for c in cols],
    }, index=pd.Index(cols, name="item"))
    lo_ci, hi_ci = feldt_ci(tot["alpha"], n_obs, k, ci)
    return AlphaResult(float(tot["alpha"]), float(tot["std_alpha"]), float(tot["g6"]), float(tot["average_r"]),
                       float(tot["median_r"]), float(tot["var_r"]), float(tot["s_n"]), math.sqrt(tot["q"] / n_obs),
                       float(total.mean()), float(total.std()), float(lo_ci), float(hi_ci), float(ci), n_obs, k, tab,
                       negative, flip, n_empty)


# ----------------------------------------------------------------------------------------------------------
# omega
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OmegaResult:
    """McDonald's omega. ``omega_total`` and ``omega_hierarchical`` (general factor); ``loadings`` is the
    Schmid-Leiman table (g, group factors F1*.., h2, u2, p2) for ``method="psych"`` or the CFA estimates
    (loading, residual variance, standardised loading) for ``method="cfa"``; ``details`` holds the rest."""

    omega_total: float
    omega_hierarchical: float
    n_factors: int
    method: str
    n_obs: int
    loadings: pd.DataFrame
    details: dict = field(default_factory=dict)
    n_rows_without_answers: int = 0

    def to_frame(self) -> pd.DataFrame:
        return self.loadings

    def to_dict(self) -> dict:
        return {"omega_total": self.omega_total, "omega_hierarchical": self.omega_hierarchical,
                "n_factors": self.n_factors, "method": self.method, "n_obs": self.n_obs,
                "n_rows_without_answers": self.n_rows_without_answers, "loadings": self.loadings.to_dict(orient="index"), **self.details}

    def summary(self) -> str:
        return (f"omega total = {self.omega_total:.3f}, omega hierarchical = {self.omega_hierarchical:.3f} "
                f"({self.method}, {self.n_factors} factor(s), n = {self.n_obs})")


def _schmid(r: np.ndarray, nf: int, fm: str, rotation: str, option: str = "equal") -> dict:
    """psych::schmid on a correlation matrix: fa(varimax), oblique rotation, higher-order g, SL loadings."""
    from .efa import factor_solution, rotate

    fact = factor_solution(r, nf, fm, "varimax")
    orth = fact.loadings
    if nf == 1:
        fload, phi, gload = orth, None, np.array([1.0])
    else:
        fload, phi, _ok = rotate(orth, rotation)
        if phi is None:
            raise DataError("omega needs an oblique rotation (oblimin, promax, geomin)", field="rotation")
        if nf > 2:
            gload = factor_solution(phi, 1, fm, "none").loadings[:, 0]
        else:
            g = math.sqrt(abs(phi[0, 1]))
            if option == "equal":
                gload = np.array([g, math.copysign(g, phi[0, 1])])
            elif option == "first":
                gload = np.array([1.0, phi[0, 1]])
            else:
                gload = np.array([phi[0, 1], 1.0])
    g = fload @ gload
    h2 = (orth ** 2).sum(axis=1)
    u2 = 1 - h2
    uniq2 = np.clip(fload ** 2 - (fload * gload) ** 2, 0, None)
    sm = np.sign(fload) * np.sqrt(uniq2)
    return {"g": g, "group": sm if nf > 1 else np.zeros((len(g), 1)), "h2": h2, "u2": u2, "gload": gload, "phi": phi,
            "oblique": fload}


def _omega_cfa(x: pd.DataFrame) -> OmegaResult:
    from .efa import extract_factors

    xc = listwise(x, what="omega (CFA)")
    n = len(xc)
    cov = np.cov(xc.to_numpy(), rowvar=False, ddof=0)  # lavaan: ML covariance (divisor N)
    r = cov2cor(cov)
    ext = extract_factors(r, 1, "ml", precise=True)
    lam_std = ext.loadings[:, 0]
    lam_std = -lam_std if lam_std.sum() < 0 else lam_std
    psi_std = 1 - lam_std ** 2
    sd = np.sqrt(np.diag(cov))
    lam, theta = lam_std * sd, psi_std * sd ** 2
    om_obs = float(lam.sum() ** 2 / cov.sum())
    om_fit = composite_reliability(lam, theta)
    tab = pd.DataFrame({"loading": lam, "residual_variance": theta, "std_loading": lam_std}, index=x.columns)
    return OmegaResult(om_obs, om_obs, 1, "cfa", n, tab,
                       {"omega_fitted": om_fit, "ave": ave(lam, theta, observed_variances=np.diag(cov)),
                        "ave_fitted": ave(lam, theta)})


def omega(data: pd.DataFrame, items: list[str] | None = None, n_factors: int | None = None, method: str = "psych", *,
          fm: str = "minres", rotation: str = "oblimin", option: str = "equal") -> OmegaResult:
    """McDonald's omega.

    ``method="psych"`` (default) reproduces ``psych::omega(data[items], nfactors = n_factors, fm = "minres")``
    on the pairwise correlation matrix R: a minres factor analysis (varimax, then ``rotation`` = oblimin), a
    Schmid-Leiman transformation with the general factor from a one-factor minres fit of the factor
    correlations (with two factors psych's ``option = "equal"`` rule), items flipped to positive general
    loadings, then, with Vt = sum(R): omega_total = (Vt - sum u2) / Vt, omega_hierarchical = (sum g)^2 / Vt.
    For ``n_factors=1`` this is the usual one-factor (congeneric) omega with the *observed* total variance:
    omega_total = (Vt - sum(1 - h2)) / Vt and omega_h = (sum lambda)^2 / Vt, lambda from fa minres. psych's
    default is ``nfactors = 3`` (omega_h of a bifactor/Schmid-Leiman structure); here it is 1 because the
    reliability of one scale is asked for; pass ``n_factors=3`` for psych's default.

    ``method="cfa"``: omega of a one-factor ML CFA on complete cases (lavaan ``cfa('f =~ ...', std.lv=TRUE)``;
    the one-factor CFA is the ML one-factor model, fitted here directly), reported as
    ``semTools::compRelSEM`` does by default (``obs.var = TRUE``): (sum lambda)^2 / sum(S), S the ML sample
    covariance matrix; ``details["omega_fitted"]`` is the model-implied version (sum lambda)^2 /
    ((sum lambda)^2 + sum theta). Residual variances are bounded below at 0.005 x the item variance (psych's
    bound), so in a Heywood case, where lavaan reports a negative variance, the two differ. Multi-factor CFAs
    come from the ``vccscale.sem`` engine: pass its parameter table to :func:`reliability_from_params`.

    ``n_obs`` counts the rows that answered at least one item (rows without answers are left out and counted in
    ``n_rows_without_answers``; omega itself does not depend on them, as R is pairwise-complete).

    ``details``: alpha (standardised, psych's), G6, omega_limit, ECV, the general-factor loadings on the
    factors (``gloading``) and the factor correlations of the oblique solution.

    ``omega(df, 3)`` means ``n_factors=3`` on every column of ``df`` (psych's ``omega(m, 3)``).
    """
    items, n_factors = items_and_n_factors(items, n_factors, "omega")
    x, n_empty = answered_rows(item_frame(data, items, what="omega"))
    if method == "cfa":
        if n_factors != 1:
            raise ModelError("method='cfa' is the one-factor CFA; fit multi-factor CFAs with vccscale.sem and "
                             "pass the parameter table to reliability_from_params", field="n_factors")
        return replace(_omega_cfa(x), n_rows_without_answers=n_empty)
    if method != "psych":
        raise DataError(f"unknown omega method {method!r}: use 'psych' or 'cfa'", field="method")
    from .efa import METHOD_ALIASES

    fm_ = METHOD_ALIASES.get(fm)
    if fm_ is None:
        raise DataError(f"unknown extraction method {fm!r}", field="fm")
    nf = int(n_factors)
    r = pairwise_cor(x)
    p = r.shape[0]
    if nf < 1 or nf >= p:
        raise DataError(f"n_factors must be between 1 and {p - 1}", field="n_factors")
    sl = _schmid(r, nf, fm_, rotation, option)
    g, grp = sl["g"].copy(), sl["group"].copy()
    key = np.where(g < 0, -1.0, 1.0)
    m = r * np.outer(key, key)
    g, grp = g * key, grp * key[:, None]
    vt, u2sum = m.sum(), sl["u2"].sum()
    gsq = g.sum() ** 2
    om_tot = (vt - u2sum) / vt
    om_h = gsq / vt
    ev = np.concatenate([[np.sum(g ** 2)], (grp ** 2).sum(axis=0)])
    names = [f"F{j + 1}*" for j in range(grp.shape[1])] if nf > 1 else []
    tab = pd.DataFrame({"g": g}, index=x.columns)
    for j, nm in enumerate(names):
        tab[nm] = grp[:, j]
    tab["h2"], tab["u2"], tab["p2"] = sl["h2"], sl["u2"], g ** 2 / sl["h2"]
    details = {"alpha": ((vt - np.trace(m)) / vt) * (p / (p - 1)),
               "g6": (vt + smc(m).sum() - np.trace(m)) / vt,
               "omega_limit": gsq / (vt - u2sum), "ecv": float(ev[0] / ev.sum()),
               "gloading": [float(v) for v in np.atleast_1d(sl["gload"])],
               "phi": None if sl["phi"] is None else sl["phi"].tolist(),
               "flipped_items": [c for c, kk in zip(x.columns, key) if kk < 0]}
    if nf > 1:  # psych omega.group: omega of each group factor's items
        sub = np.argmax(np.abs(grp), axis=1)
        rows = {"g": {"total": om_tot, "general": gsq / vt, "group": 0.0}}
        for j in range(nf):
            idx = np.flatnonzero(sub == j)
            if len(idx):
                vgr = m[np.ix_(idx, idx)].sum()
                gr, gg = grp[idx, j].sum(), g[idx].sum()
                rows[names[j]] = {"total": (gr ** 2 + gg ** 2) / vgr, "general": gg ** 2 / vgr, "group": gr ** 2 / vgr}
                rows["g"]["group"] += gr ** 2 / vt
        details["omega_group"] = {k: {kk: float(vv) for kk, vv in v.items()} for k, v in rows.items()}
    return OmegaResult(float(om_tot), float(om_h), nf, "psych", len(x), tab, details, n_empty)


# ----------------------------------------------------------------------------------------------------------
# closed forms: CR and AVE
# ----------------------------------------------------------------------------------------------------------
def _vec(v, name: str) -> np.ndarray:
    a = np.asarray(list(v.values()) if isinstance(v, Mapping) else v, dtype=float).ravel()
    if a.size == 0 or not np.isfinite(a).all():
        raise DataError(f"{name} must be a non-empty list of finite numbers")
    return a


def composite_reliability(loadings, residual_variances, factor_variance: float = 1.0,
                          observed_cov=None) -> float:
    """Composite (construct) reliability of one congeneric factor with uncorrelated residuals:
    CR = phi (sum lambda)^2 / (phi (sum lambda)^2 + sum theta).

    This equals ``semTools::compRelSEM(fit, obs.var = FALSE)`` (model-implied total variance). semTools'
    default ``obs.var = TRUE`` divides by the sum of the *observed* covariance matrix of the items instead:
    pass it as ``observed_cov`` (k x k) to get that. semTools uses the estimated (unstandardised) loadings:
    the reliability of the unweighted sum of the raw items. Standardised loadings (with residual variances
    1 - lambda^2) give the reliability of the sum of standardised items instead, which differs when item
    variances differ.
    """
    lam = _vec(loadings, "loadings")
    th = _vec(residual_variances, "residual_variances")
    if lam.size != th.size:
        raise DataError("loadings and residual_variances differ in length")
    common = factor_variance * lam.sum() ** 2
    if observed_cov is not None:
        s = np.asarray(observed_cov, dtype=float)
        if s.shape != (lam.size, lam.size):
            raise DataError("observed_cov must be a k x k matrix for the k loadings")
        return float(common / s.sum())
    return float(common / (common + th.sum()))


def ave(loadings, residual_variances, factor_variance: float = 1.0, observed_variances=None) -> float:
    """Average variance extracted: AVE = phi sum lambda^2 / (phi sum lambda^2 + sum theta).

    semTools::AVE works on the estimated (unstandardised) scale: phi sum lambda^2 / sum diag(S) with S the
    *observed* covariance matrix by default (``obs.var = TRUE``; pass the item variances as
    ``observed_variances``) or the model-implied one (``obs.var = FALSE``: the formula above). With
    standardised loadings (std.all) the formula is the mean squared loading sum lambda^2 / k, Fornell and
    Larcker's (1981) definition; unstandardised AVE weights items by their variance and differs from it when
    item variances differ.
    """
    lam = _vec(loadings, "loadings")
    th = _vec(residual_variances, "residual_variances")
    if lam.size != th.size:
        raise DataError("loadings and residual_variances differ in length")
    common = factor_variance * (lam ** 2).sum()
    if observed_variances is not None:
        ov = _vec(observed_variances, "observed_variances")
        return float(common / ov.sum())
    return float(common / (common + th.sum()))


def reliability_from_params(params: pd.DataFrame, observed_cov: pd.DataFrame | None = None,
                            group: object | None = None) -> pd.DataFrame:
    """CR (omega) and AVE per factor from a fitted CFA's lavaan-style parameter table.

    ``params`` needs columns ``lhs, op, rhs, est`` (``lavaan::parameterEstimates(fit)`` or the vccscale.sem
    parameter table); rows ``f =~ x`` are loadings, ``x ~~ x`` residual variances, ``f ~~ f`` factor
    variances (1 when absent, as with std.lv). Factors with cross-loading items get NaN (as semTools).
    Residual covariances are ignored by the fitted-variance versions. Returns one row per factor:
    ``omega_fitted`` / ``ave_fitted`` (semTools ``obs.var = FALSE``) and, when ``observed_cov`` (a DataFrame
    of the observed covariance matrix, e.g. lavInspect(fit, "sampstat")$cov) is given, ``omega`` and ``ave``
    with observed variances (semTools' defaults, ``compRelSEM(fit)`` and ``AVE(fit)``). With the vccscale.sem
    engine: ``reliability_from_params(fit.estimates, fit.sample_cov[label])``.
    """
    need = {"lhs", "op", "rhs", "est"}
    if not isinstance(params, pd.DataFrame) or not need <= set(params.columns):
        raise DataError(f"params must be a DataFrame with columns {sorted(need)}")
    p = params
    if group is not None and "group" in p.columns:
        p = p[p["group"] == group]
    load = p[p["op"] == "=~"]
    if load.empty:
        raise ModelError("the parameter table has no loadings (op '=~')")
    var = p[(p["op"] == "~~") & (p["lhs"] == p["rhs"])].set_index("lhs")["est"]
    n_fac = load.groupby("rhs")["lhs"].nunique()
    out = {}
    for f, rows in load.groupby("lhs", sort=False):
        inds = list(rows["rhs"])
        lam = rows["est"].to_numpy(dtype=float)
        phi = float(var.get(f, 1.0))
        th = np.array([float(var.get(i, np.nan)) for i in inds])
        row: dict[str, float] = {"n_items": len(inds)}
        cross = bool((n_fac.reindex(inds) > 1).any())
        if cross or len(inds) < 2:
            row.update(omega_fitted=np.nan, ave_fitted=np.nan)
            if observed_cov is not None:
                row.update(omega=np.nan, ave=np.nan)
        else:
            row["omega_fitted"] = composite_reliability(lam, th, phi)
            row["ave_fitted"] = ave(lam, th, phi)
            if observed_cov is not None:
                s = observed_cov.loc[inds, inds].to_numpy(dtype=float)
                row["omega"] = composite_reliability(lam, th, phi, observed_cov=s)
                row["ave"] = ave(lam, th, phi, observed_variances=np.diag(s))
        out[f] = row
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("factor")


__all__ = [
    "AlphaResult",
    "OmegaResult",
    "ReverseKeyWarning",
    "ave",
    "composite_reliability",
    "cronbach_alpha",
    "feldt_ci",
    "omega",
    "reliability_from_params",
    "reverse_items",
]
