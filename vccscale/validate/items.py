"""Item analysis: distribution, floor/ceiling, corrected item-total correlation, alpha if deleted, inter-item r.

``item_analysis(data, items, scale_min=None, scale_max=None)`` -> :class:`ItemAnalysis`. Computed with
numpy/pandas (no pingouin or factor_analyzer: see :mod:`vccscale.validate.efa` for that decision).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from ._common import answered_rows, item_frame, pairwise_cor


def skew_kurtosis(x: pd.Series) -> tuple[float, float]:
    """psych::skew / psych::kurtosi with type = 3 (psych::describe's default):
    skew = sum((x - m)^3) / (n s^3), kurtosis = sum((x - m)^4) / (n s^4) - 3, s the sd with divisor n - 1."""
    v = x.dropna().to_numpy(dtype=float)
    n = len(v)
    m, s = v.mean(), v.std(ddof=1)
    return float(((v - m) ** 3).sum() / (n * s ** 3)), float(((v - m) ** 4).sum() / (n * s ** 4) - 3)


@dataclass(frozen=True)
class ItemAnalysis:
    """Per-item table ``items`` and the summary of the off-diagonal inter-item correlations ``inter_item``
    (mean, median, min, max, sd); ``alpha`` is the raw alpha of all items, ``scale_min``/``scale_max`` the
    bounds used for floor and ceiling."""

    items: pd.DataFrame
    inter_item: dict
    alpha: float
    scale_min: float
    scale_max: float
    n_obs: int
    n_rows_without_answers: int = 0

    def to_frame(self) -> pd.DataFrame:
        return self.items

    def to_dict(self) -> dict:
        return {"items": self.items.to_dict(orient="index"), "inter_item": dict(self.inter_item), "alpha": self.alpha,
                "scale_min": self.scale_min, "scale_max": self.scale_max, "n_obs": self.n_obs,
                "n_rows_without_answers": self.n_rows_without_answers}

    def summary(self) -> str:
        ii = self.inter_item
        left = f" ({self.n_rows_without_answers} rows without answers left out)" if self.n_rows_without_answers else ""
        return (f"{len(self.items)} items, n = {self.n_obs}{left}, alpha = {self.alpha:.3f}; inter-item r mean "
                f"{ii['mean']:.3f} (median {ii['median']:.3f}, {ii['min']:.3f} to {ii['max']:.3f})\n"
                + self.items.round(3).to_string())


def item_analysis(data: pd.DataFrame, items: list[str] | None = None, scale_min: float | None = None,
                  scale_max: float | None = None) -> ItemAnalysis:
    """Item statistics for one scale (items already reverse-keyed where needed).

    Columns: ``n``, ``mean``, ``sd``, ``median``, ``min``, ``max``, ``skew``, ``kurtosis`` (psych::describe,
    type 3: see :func:`skew_kurtosis`), ``se`` (sd / sqrt(n)); ``floor_pct`` / ``ceiling_pct``: percent of the
    item's answers equal to ``scale_min`` / ``scale_max`` (default: the smallest / largest answer observed on
    any of the items); ``r_drop`` (corrected item-total correlation: the item with the sum of the other items,
    psych::alpha ``r.drop``), ``alpha_if_deleted`` (psych::alpha ``alpha.drop$raw_alpha``) and
    ``pc1_negative`` (loads negatively on the first principal component: probably needs reversing).
    ``inter_item``: mean, median, min, max and sd of the pairwise-complete inter-item correlations (i < j).
    ``n_obs``: the rows that answered at least one item; rows without any answer (the other version's rows of a
    wide export) are left out and counted in ``n_rows_without_answers`` (psych::alpha would count them).
    """
    from .reliability import ReverseKeyWarning, cronbach_alpha

    x, n_empty = answered_rows(item_frame(data, items, what="item analysis"))
    arr = x.to_numpy()
    lo = float(np.nanmin(arr)) if scale_min is None else float(scale_min)
    hi = float(np.nanmax(arr)) if scale_max is None else float(scale_max)
    if lo >= hi:
        raise DataError(f"scale_min ({lo}) must be below scale_max ({hi})", field="scale_min")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReverseKeyWarning)
        a = cronbach_alpha(x, list(x.columns))
    rows = {}
    for c in x.columns:
        s = x[c].dropna()
        sk, ku = skew_kurtosis(s)
        rows[c] = {"n": len(s), "mean": s.mean(), "sd": s.std(), "median": s.median(), "min": s.min(),
                   "max": s.max(), "skew": sk, "kurtosis": ku, "se": s.std() / np.sqrt(len(s)),
                   "floor_pct": 100 * float((s == lo).mean()), "ceiling_pct": 100 * float((s == hi).mean())}
    tab = pd.DataFrame.from_dict(rows, orient="index")
    tab["r_drop"] = a.items["r_drop"]
    tab["alpha_if_deleted"] = a.items["alpha_if_deleted"]
    tab["pc1_negative"] = [c in a.negative_items for c in x.columns]
    tab.index.name = "item"
    r = pairwise_cor(x)
    off = r[np.triu_indices(r.shape[0], 1)]
    inter = {"mean": float(off.mean()), "median": float(np.median(off)), "min": float(off.min()),
             "max": float(off.max()), "sd": float(off.std(ddof=1)) if len(off) > 1 else float("nan"),
             "n_pairs": len(off)}
    return ItemAnalysis(tab, inter, a.alpha, lo, hi, len(x), n_empty)


__all__ = ["ItemAnalysis", "item_analysis", "skew_kurtosis"]
