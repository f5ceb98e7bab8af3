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
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, ModelError
from ._cor import pairs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CONVENTIONS", "MeasurementQuality", "group_rows", "htmt_blocks", "measurement_quality", "quality_dict",
           "quality_numbers"]

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
        names = [str(f) for f in self.factors.index]
        h = self.htmt
        q = {"factors": {f: {"alpha": r.alpha, "cr": r.cr, "ave": r.ave} for f, r in self.factors.iterrows()},
             "names": names, "htmt": None if h is None else h.to_numpy(dtype=float),
             "htmt_names": [] if h is None else [str(c) for c in h.columns], "note": self.htmt_note,
             "fl": None if self.fornell_larcker is None else self.fornell_larcker.loc[names, names].to_numpy(float),
             "passed": self.fl_passed}
        return quality_dict(q, self.variances)

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
    import pandas as pd

    from .reliability import cronbach_alpha
    from .validity import htmt as _htmt

    if variances not in CONVENTIONS:
        raise DataError(f"variances must be 'implied' or 'observed', not {variances!r}", field="variances")
    g, key = _group_index(fit, group)
    if group is not None and group_column is not None:
        if group_column not in data.columns:
            raise DataError(f"group column {group_column!r} is not in the data", column=group_column)
        data = data[data[group_column].astype(str) == str(key)]
    sigma_names, sigma = fit.moments("implied" if variances == "implied" else "sample", g - 1)

    def alpha_of(items: list[str]) -> float:
        return float(cronbach_alpha(data, items).alpha)

    def htmt_of(blocks: dict[str, list[str]]) -> tuple[np.ndarray, str]:
        res = _htmt(data, blocks, variant=htmt_variant,
                    missing="fiml" if getattr(fit, "missing", "listwise") == "fiml" else "listwise")
        return res.matrix.to_numpy(dtype=float), res.variant

    q = quality_numbers(group_rows(fit.parameter_records(), g), sigma_names, sigma, set(map(str, data.columns)),
                        alpha_of, htmt_of)
    names = q["names"]
    factors = pd.DataFrame.from_dict(q["factors"], orient="index", columns=["n_items", "alpha", "cr", "ave"]) \
        .rename_axis("factor")
    factors["n_items"] = factors["n_items"].astype(int)
    cor = pd.DataFrame(q["cor"], index=names, columns=names)
    hn = q["htmt_names"]
    h = None if q["htmt"] is None else pd.DataFrame(q["htmt"], index=hn, columns=hn)
    fl = None if q["fl"] is None else pd.DataFrame(q["fl"], index=names, columns=names)
    return MeasurementQuality(variances, None if g == 1 and group is None else key, factors, q["blocks"], cor, h,
                              q["variant"], q["note"], fl, q["passed"])


def group_rows(records: list[dict], g: int) -> list[dict]:
    """The parameter rows (:meth:`vccscale.sem.FitResult.parameter_records`) of group ``g`` (1-based; all rows of
    a table without a group column)."""
    return [r for r in records if r.get("group", g) == g]


def quality_numbers(rows: list[dict], sigma_names: list[str], sigma: np.ndarray, columns: set[str],
                    alpha_of: Any, htmt_of: Any) -> dict[str, Any]:
    """The numbers of :func:`measurement_quality` without pandas: ``rows`` the parameter rows of the group (lhs,
    op, rhs, est, std_all), ``sigma`` the covariance matrix (implied or observed) of the variables
    ``sigma_names``, ``columns`` the data's columns, ``alpha_of(items)`` alpha of an item list and
    ``htmt_of(blocks)`` -> (matrix, variant), each raising DataError where it is not defined. Returns blocks,
    names, factors ({factor: {n_items, alpha, cr, ave}}), cor (latent correlations, std.all), htmt, variant,
    note, fl (the Fornell-Larcker table) and passed."""
    pos = {v: k for k, v in enumerate(sigma_names)}
    loads = [r for r in rows if r["op"] == "=~"]
    blocks: dict[str, list[str]] = {}
    for r in loads:
        blocks.setdefault(str(r["lhs"]), []).append(r["rhs"])
    blocks = {f: items for f, items in blocks.items() if all(i in columns and i in pos for i in items)}
    owners: dict[str, set] = {}
    for r in loads:
        owners.setdefault(r["rhs"], set()).add(r["lhs"])
    var: dict[str, float] = {}
    for r in rows:
        if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] not in var:
            var[r["lhs"]] = r["est"]
    nan = float("nan")
    factors: dict[str, dict[str, Any]] = {}
    for f, items in blocks.items():
        lam = np.array([r["est"] for r in loads if r["lhs"] == f], dtype=float)
        phi = float(var.get(f, 1.0))
        row = {"n_items": len(items), "alpha": nan, "cr": nan, "ave": nan}
        if len(items) > 1:
            try:
                row["alpha"] = alpha_of(items)
            except DataError:  # e.g. no row answers the items: alpha NaN, CR and AVE still reported
                pass
            idx = [pos[i] for i in items]
            s = sigma[np.ix_(idx, idx)]
            row["cr"] = float(phi * lam.sum() ** 2 / s.sum())
            if not any(len(owners.get(i, ())) > 1 for i in items):
                row["ave"] = float(phi * (lam ** 2).sum() / np.trace(s))
        factors[f] = row
    names = list(blocks)
    cor = np.eye(len(names))
    at = {f: k for k, f in enumerate(names)}
    for r in rows:
        if r["op"] == "~~" and r["lhs"] in at and r["rhs"] in at and r["lhs"] != r["rhs"]:
            cor[at[r["lhs"]], at[r["rhs"]]] = cor[at[r["rhs"]], at[r["lhs"]]] = r["std_all"]
    h = note = fl = variant = None
    h_names: list[str] = []
    passed: dict = {}
    if len(names) > 1:
        hb, note = htmt_blocks(blocks)
        if hb is not None:
            try:
                h, variant = htmt_of(hb)
                h_names = list(hb)
            except DataError as exc:  # e.g. too few complete rows (listwise, as semTools), an item without variance
                note = f"HTMT is not reported: {exc.message}"
        ave = np.array([factors[f]["ave"] for f in names], dtype=float)
        fl = cor.copy()
        ok = np.isfinite(ave) & (ave >= 0)
        root = np.sqrt(np.where(ok, ave, 0.0))
        for k in range(len(names)):
            fl[k, k] = float(root[k]) if ok[k] else nan
        off = cor.copy()
        np.fill_diagonal(off, nan)
        maxr = np.nanmax(np.abs(off), axis=1)
        # a construct whose AVE is not defined (cross-loading item, one indicator) is not judged: None
        passed = {f: (bool(root[k] > maxr[k]) if ok[k] else None) for k, f in enumerate(names)}
    return {"blocks": blocks, "names": names, "factors": factors, "cor": cor, "htmt": h, "htmt_names": h_names,
            "variant": variant, "note": note, "fl": fl, "passed": passed}


def quality_dict(q: dict[str, Any], variances: str) -> dict[str, Any]:
    """:meth:`MeasurementQuality.to_dict` of :func:`quality_numbers`' result (without pandas)."""
    out: dict[str, Any] = {
        "reliability": {f: {"alpha": float(r["alpha"]), "omega": float(r["cr"]), "ave": float(r["ave"])}
                        for f, r in q["factors"].items()},
        "reliability_convention": variances}
    names = q["names"]
    if len(names) > 1:
        out["htmt"] = None if q["htmt"] is None else pairs(q["htmt_names"], q["htmt"])
        if q["note"]:
            out["htmt_note"] = q["note"]
        out["fornell_larcker"] = {"table": {a: {b: float(q["fl"][i, j]) for j, b in enumerate(names)}
                                            for i, a in enumerate(names)},
                                  "passed": dict(q["passed"])}
    return out
