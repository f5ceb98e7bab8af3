"""Measurement quality of a fitted CFA, one function: :func:`measurement_quality` -> :class:`MeasurementQuality`.

Per factor: the number of items, Cronbach's alpha of its items in the data, composite reliability (CR, omega) and
average variance extracted (AVE); between factors: HTMT (where defined, :func:`htmt_blocks`) and the
Fornell-Larcker table. The CLI (``vccscale cfa``/``sem``), the pipeline's measurement stage
(:func:`vccscale.validate.measurement.fit_measurement`) and the API all take these numbers from here.

The convention (``variances``):

* ``"implied"`` (default): model-implied variances, Fornell & Larcker (1981),
  ``semTools::compRelSEM(fit, obs.var = FALSE)`` and ``semTools::AVE(fit, obs.var = FALSE)``. For a factor with
  loadings lambda (estimated, unstandardised), factor variance phi and uncorrelated residual variances theta:
  CR = phi (sum lambda)^2 / (phi (sum lambda)^2 + sum theta) and AVE = phi sum lambda^2 / (phi sum lambda^2 +
  sum theta). In general (semTools) the denominators are the model-implied variance of the item sum
  (1' Sigma_hat 1) and the sum of the items' model-implied variances, which also counts residual covariances and
  the other factors of cross-loading items.
* ``"observed"`` (semTools' default ``obs.var = TRUE``): the same numerators over the observed (sample)
  covariance matrix of the items, 1' S 1 and trace(S) (``lavInspect(fit, "sampstat")$cov``; with FIML its EM
  estimate).

CR of a factor with a cross-loading item is reported as semTools reports it (its own loadings in the numerator);
AVE of such a factor is not defined (NaN, as semTools' NA) and the Fornell-Larcker criterion is not judged for it
(``passed`` None). Factors with one indicator get NaN for alpha, CR and AVE. Factors whose indicators are not all
observed variables of the fit (second-order factors) are left out.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, ModelError

__all__ = ["CONVENTIONS", "MeasurementQuality", "htmt_blocks", "measurement_quality"]

CONVENTIONS = {
    "implied": "model-implied variances (Fornell & Larcker 1981; semTools compRelSEM/AVE obs.var = FALSE)",
    "observed": "observed variances (semTools compRelSEM/AVE defaults, obs.var = TRUE)",
}


def htmt_blocks(blocks: Mapping[str, Sequence[str]]) -> tuple[dict[str, list[str]] | None, str | None]:
    """The factors HTMT is defined for, and why others are left out: HTMT compares the correlations between the
    items of two factors with those among each factor's own items, so every factor needs at least 2 items and no
    item may belong to two factors. Returns (blocks, note): blocks None when HTMT is not defined for the model."""
    owners: dict[str, list[str]] = {}
    for f, items in blocks.items():
        for i in items:
            owners.setdefault(i, []).append(f)
    shared = {i: fs for i, fs in owners.items() if len(fs) > 1}
    if shared:
        which = "; ".join(f"{i} on {', '.join(fs)}" for i, fs in list(shared.items())[:5])
        return None, (f"HTMT is not reported: {len(shared)} item(s) load on more than one factor ({which}); HTMT "
                      "needs disjoint item sets (compare the latent correlations instead)")
    few = [f for f, items in blocks.items() if len(items) < 2]
    keep = {f: list(items) for f, items in blocks.items() if len(items) >= 2}
    if not few:
        return keep, None
    why = f"factor(s) {', '.join(few)} have fewer than 2 indicators (HTMT needs the correlations among a factor's " \
          "own items)"
    if len(keep) < 2:
        return None, f"HTMT is not reported: {why}"
    return keep, f"HTMT leaves out {why}"


@dataclass(frozen=True)
class MeasurementQuality:
    """:func:`measurement_quality`: ``variances`` (the convention, a key of :data:`CONVENTIONS`), ``group`` (the
    group label of a multi-group fit, else None), ``factors`` (one row per factor, index ``factor``: n_items,
    alpha, cr, ave), ``blocks`` (factor -> items), ``latent_correlations`` (standardised, std.all), ``htmt``
    (factors x factors matrix, None where not defined), ``htmt_variant``, ``htmt_note``, ``fornell_larcker``
    (latent correlations with sqrt(AVE) on the diagonal; None with fewer than 2 factors) and ``fl_passed``
    (factor -> True/False, None where the AVE is not defined)."""

    variances: str
    group: Any
    factors: pd.DataFrame
    blocks: dict
    latent_correlations: pd.DataFrame
    htmt: pd.DataFrame | None
    htmt_variant: str | None
    htmt_note: str | None
    fornell_larcker: pd.DataFrame | None
    fl_passed: dict

    @property
    def convention(self) -> str:
        return CONVENTIONS[self.variances]

    def to_frame(self) -> pd.DataFrame:
        """One row per factor: factor, n_items, alpha, cr, ave, sqrt_ave, max_abs_r (largest absolute latent
        correlation with another factor), fl_passed."""
        t = self.factors.reset_index()
        r = self.latent_correlations.copy()
        for f in r.index:
            r.loc[f, f] = np.nan
        t["sqrt_ave"] = [float(np.sqrt(a)) if np.isfinite(a) and a >= 0 else np.nan for a in t["ave"]]
        t["max_abs_r"] = [float(r.loc[f].abs().max()) if len(r) > 1 else np.nan for f in t["factor"]]
        t["fl_passed"] = [self.fl_passed.get(f) for f in t["factor"]]
        return t

    def to_dict(self) -> dict:
        """JSON form, the keys of ``vccscale cfa --format json``: ``reliability`` ({factor: {alpha, omega, ave}}),
        ``reliability_convention``; with two or more factors ``htmt`` ({"a~~b": value} or None), ``htmt_note``
        (only when there is one) and ``fornell_larcker`` ({table, passed}). NaN stays NaN (the JSON writer
        turns it into null)."""
        out: dict[str, Any] = {
            "reliability": {f: {"alpha": float(r.alpha), "omega": float(r.cr), "ave": float(r.ave)}
                            for f, r in self.factors.iterrows()},
            "reliability_convention": self.variances}
        if len(self.factors) > 1:
            if self.htmt is None:
                out["htmt"] = None
            else:
                from .validity import pair_dict

                out["htmt"] = pair_dict(self.htmt)
            if self.htmt_note:
                out["htmt_note"] = self.htmt_note
            out["fornell_larcker"] = {"table": self.fornell_larcker.to_dict(orient="index"),
                                      "passed": dict(self.fl_passed)}
        return out

    def summary(self) -> str:
        head = "Measurement quality" + (f" (group {self.group})" if self.group is not None else "")
        lines = [f"{head}: CR and AVE from {self.convention}", self.to_frame().round(3).to_string(index=False)]
        if self.htmt is not None:
            lines += ["", f"HTMT ({self.htmt_variant}):", self.htmt.round(3).to_string()]
        if self.htmt_note:
            lines += ["", self.htmt_note]
        return "\n".join(lines)


def _group_index(fit: Any, group: Any) -> tuple[int, Any]:
    """(1-based group number of the parameter table, key of the fit's covariance dicts)."""
    labels = list(getattr(fit, "group_labels", None) or [])
    if getattr(fit, "ngroups", 1) > 1 or len(labels) > 1:
        if group is None:
            raise ModelError(f"a multi-group fit ({', '.join(map(str, labels))}): measurement quality is per group, "
                             "pass group=<label> (and that group's rows, or group_column=)")
        match = [k for k, lab in enumerate(labels) if lab == group or str(lab) == str(group)]
        if not match:
            raise ModelError(f"group {group!r} is not one of the fit's groups ({', '.join(map(str, labels))})")
        return match[0] + 1, labels[match[0]]
    key = next(iter(fit.fitted_cov))
    return 1, key


def measurement_quality(fit: Any, data: pd.DataFrame, *, variances: str = "implied", group: Any = None,
                        group_column: str | None = None, htmt_variant: str = "htmt2") -> MeasurementQuality:
    """Alpha, CR (omega), AVE, HTMT and Fornell-Larcker of a fitted CFA/SEM (:class:`vccscale.sem.FitResult`).

    ``data``: the frame the model was fitted to (alpha and HTMT are computed from its item columns: alpha on the
    rows that answered at least one item, as :func:`cronbach_alpha`; HTMT as :func:`htmt` with the fit's missing-data
    treatment: listwise, or FIML correlations when the model was fitted by FIML).
    ``variances``: ``"implied"`` (default) or ``"observed"``; see the module docstring for the formulas and the R
    calls they reproduce. Factors: those whose indicators are all columns of ``data`` and observed variables of
    the fit. Multi-group fits: one group at a time, ``group=<label>``; ``group_column`` selects that group's rows
    of ``data`` (else ``data`` is taken to be that group's rows already).
    """
    from .reliability import cronbach_alpha
    from .validity import htmt as _htmt

    if variances not in CONVENTIONS:
        raise DataError(f"variances must be 'implied' or 'observed', not {variances!r}", field="variances")
    g, key = _group_index(fit, group)
    if group is not None and group_column is not None:
        if group_column not in data.columns:
            raise DataError(f"group column {group_column!r} is not in the data", column=group_column)
        data = data[data[group_column].astype(str) == str(key)]
    est = fit.estimates
    if "group" in est.columns:
        est = est[est["group"] == g]
    sigma = (fit.fitted_cov if variances == "implied" else fit.sample_cov)[key]
    loads = est[est["op"] == "=~"]
    blocks = {str(f): list(rows["rhs"]) for f, rows in loads.groupby("lhs", sort=False)}
    blocks = {f: items for f, items in blocks.items()
              if all(i in data.columns and i in sigma.columns for i in items)}
    owners = loads.groupby("rhs")["lhs"].nunique()
    var = est[(est["op"] == "~~") & (est["lhs"] == est["rhs"])].set_index("lhs")["est"]
    rows = {}
    for f, items in blocks.items():
        lam = loads[loads["lhs"] == f]["est"].to_numpy(dtype=float)
        phi = float(var.get(f, 1.0))
        row = {"n_items": len(items), "alpha": np.nan, "cr": np.nan, "ave": np.nan}
        if len(items) > 1:
            try:
                row["alpha"] = float(cronbach_alpha(data, items).alpha)
            except DataError:  # e.g. no row answers the items: alpha NaN, CR and AVE still reported
                pass
            s = sigma.loc[items, items].to_numpy(dtype=float)
            row["cr"] = float(phi * lam.sum() ** 2 / s.sum())
            if not bool((owners.reindex(items) > 1).any()):
                row["ave"] = float(phi * (lam ** 2).sum() / np.trace(s))
        rows[f] = row
    factors = pd.DataFrame.from_dict(rows, orient="index", columns=["n_items", "alpha", "cr", "ave"]) \
        .rename_axis("factor")
    factors["n_items"] = factors["n_items"].astype(int)
    names = list(blocks)
    cor = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    lv = est[(est["op"] == "~~") & est["lhs"].isin(names) & est["rhs"].isin(names) & (est["lhs"] != est["rhs"])]
    for r in lv.itertuples():
        cor.loc[r.lhs, r.rhs] = cor.loc[r.rhs, r.lhs] = r.std_all
    h = note = fl = None
    passed: dict = {}
    variant = None
    if len(names) > 1:
        hb, note = htmt_blocks(blocks)
        if hb is not None:
            try:
                res = _htmt(data, hb, variant=htmt_variant,
                            missing="fiml" if getattr(fit, "missing", "listwise") == "fiml" else "listwise")
                h, variant = res.matrix, res.variant
            except DataError as exc:  # e.g. too few complete rows (listwise, as semTools), an item without variance
                note = f"HTMT is not reported: {exc.message}"
        ave = factors["ave"].astype(float)
        fl = cor.copy()
        for f in names:
            fl.loc[f, f] = float(np.sqrt(ave[f])) if np.isfinite(ave[f]) and ave[f] >= 0 else np.nan
        off = cor.to_numpy(dtype=float).copy()
        np.fill_diagonal(off, np.nan)
        maxr = np.nanmax(np.abs(off), axis=1)
        # a construct whose AVE is not defined (cross-loading item, one indicator) is not judged: None
        passed = {f: (bool(np.sqrt(ave[f]) > maxr[k]) if np.isfinite(ave[f]) and ave[f] >= 0 else None)
                  for k, f in enumerate(names)}
    return MeasurementQuality(variances, None if g == 1 and group is None else key, factors, blocks, cor, h,
                              variant, note, fl, passed)
