"""Necessary condition analysis (Dul 2016): :func:`nca` -> :class:`NCAResult`.

A condition X is necessary for an outcome Y when high Y needs high X: the upper-left corner of the scatter plot is
empty. NCA draws a ceiling line on top of the data and measures the empty zone above it, as the R package ``NCA``
(``nca_analysis``) does:

* **CE-FDH** (ceiling envelopment, free disposal hull): the step function c(x) = max{y_i : x_i <= x}; its corner
  points are the peers. Ceiling zone = sum over the sorted distinct x values u_j of (u_{j+1} - u_j) (y_max - c(u_j)).
* **CR-FDH** (ceiling regression): the OLS line through the CE-FDH peers (upper-left corners of the steps);
  ceiling zone = area of the scope above the line (the line clipped to [y_min, y_max]); ceiling accuracy = share of
  observations on or below it.
* **scope** = (x_max - x_min)(y_max - y_min) (empirical scope); **effect size** d = ceiling zone / scope, read as
  0-.1 small, .1-.3 medium, .3-.5 large, above .5 very large (Dul 2016).
* **p-value**: the approximate permutation test of Dul, van der Laan & Kuik (2020): Y is permuted against X
  ``n_perm`` times (seeded), d recomputed, and p = share of permutations with d at least the observed one.
* **bottleneck table**: for Y levels of 0, 10, ..., 100% of its range, the X level (percent of its range) the
  ceiling requires; "NN" (not necessary) where the ceiling at x_min already reaches that Y level.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["NCAResult", "nca", "nca_plot"]

CEILINGS = ("ce_fdh", "cr_fdh")


@dataclass(frozen=True)
class NCAResult:
    """``ceilings``: per ceiling technique d, ceiling zone, scope, accuracy, p and the line (CR-FDH intercept and
    slope); ``bottleneck``: Y level (% of range) -> required X level (% of range) per technique; ``n``; the data.

    R: the ``NCA::nca_analysis`` output (ceiling techniques ce_fdh and cr_fdh, bottleneck table).
    """

    x: str
    y: str
    n: int
    scope: float
    ceilings: pd.DataFrame
    bottleneck: pd.DataFrame
    peers: pd.DataFrame
    n_perm: int
    seed: int | None
    data: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.ceilings.copy()

    def to_dict(self) -> dict:
        out = {"x": self.x, "y": self.y, "n": self.n, "scope": self.scope, "n_perm": self.n_perm, "seed": self.seed,
               "peers": self.peers.to_dict(orient="records"),
               "bottleneck": self.bottleneck.to_dict(orient="records")}
        for r in self.ceilings.itertuples():
            out[r.ceiling] = {"d": r.d, "ceiling_zone": r.ceiling_zone, "scope": self.scope, "accuracy": r.accuracy,
                              "p": r.p, "intercept": r.intercept, "slope": r.slope}
        return out

    def summary(self) -> str:
        return (f"NCA of {self.y} on {self.x} (n = {self.n}, scope {self.scope:.4g}, {self.n_perm} permutations)\n"
                + self.ceilings.round(4).to_string(index=False))


def _ce_area(u: np.ndarray, c: np.ndarray, ymax: float) -> np.ndarray:
    """Ceiling zone of the CE-FDH step(s): ``c`` (..., m) running maxima at the distinct x values ``u`` (m)."""
    return ((ymax - c[..., :-1]) * np.diff(u)).sum(axis=-1)


def _cr_area(a: float, b: float, xmin: float, xmax: float, ymin: float, ymax: float) -> float:
    """Area of the scope rectangle above the line y = a + b x (clipped to [ymin, ymax])."""
    if not np.isfinite(a) or not np.isfinite(b):
        return float("nan")
    xs = np.linspace(xmin, xmax, 20001)
    line = np.clip(a + b * xs, ymin, ymax)
    h = ymax - line
    return float(np.sum((h[1:] + h[:-1]) / 2 * np.diff(xs)))


def _group_max(x: np.ndarray, y: np.ndarray):
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    u, start = np.unique(xs, return_index=True)
    gmax = np.maximum.reduceat(ys, start)
    return u, gmax, order, start


def nca(data: pd.DataFrame, x: str, y: str, ceiling: str | tuple[str, ...] = CEILINGS, *, n_perm: int = 1000,
        seed: int | None = 0, keep_data: bool = True) -> NCAResult:
    """Necessary condition analysis of ``y`` on ``x`` (columns of ``data``; rows with a missing value are
    dropped); see the module docstring for the definitions. ``ceiling``: "ce_fdh", "cr_fdh" or both;
    ``n_perm``: permutations for the p-value (0 = none), drawn from ``numpy.random.default_rng(seed)``.

    R: ``NCA::nca_analysis(data, x, y, ceilings = c("ce_fdh", "cr_fdh"))``; checked against hand-computed ceilings
    in tests/test_interaction_nca.py (no R fixture).
    """
    for c in (x, y):
        if c not in data.columns:
            raise DataError(f"column {c!r} is not in the data", column=c)
    ceil = (ceiling,) if isinstance(ceiling, str) else tuple(ceiling)
    bad = [c for c in ceil if c not in CEILINGS]
    if bad:
        raise DataError(f"unknown ceiling technique(s) {bad}: use ce_fdh or cr_fdh", field="ceiling")
    d = data[[x, y]].apply(pd.to_numeric, errors="coerce").dropna()
    if len(d) < 3:
        raise DataError(f"NCA needs at least 3 complete observations of {x} and {y}, got {len(d)}")
    X, Y = d[x].to_numpy(float), d[y].to_numpy(float)
    xmin, xmax, ymin, ymax = X.min(), X.max(), Y.min(), Y.max()
    scope = (xmax - xmin) * (ymax - ymin)
    if scope <= 0:
        raise DataError(f"{x} or {y} does not vary: the scope of the NCA is empty")
    u, gmax, order, start = _group_max(X, Y)
    cmax = np.maximum.accumulate(gmax)
    ce_zone = float(_ce_area(u, cmax, ymax))
    # peers: the upper-left corners of the CE-FDH steps (where the running maximum rises)
    rise = np.r_[True, cmax[1:] > cmax[:-1]]
    peers = pd.DataFrame({"x": u[rise], "y": cmax[rise]})
    # CR-FDH: OLS through the peers
    if len(peers) >= 2 and peers["x"].nunique() >= 2:
        b, a = np.polyfit(peers["x"], peers["y"], 1)
    else:
        a, b = float("nan"), float("nan")
    cr_zone = _cr_area(a, b, xmin, xmax, ymin, ymax)
    rows = []
    p_ce = p_cr = float("nan")
    if n_perm and n_perm > 0:
        rng = np.random.default_rng(seed)
        perms = np.argsort(rng.random((int(n_perm), len(Y))), axis=1)
        Yp = Y[perms]  # (R, n): permuted outcome against the fixed X
        ys = Yp[:, order]
        gm = np.maximum.reduceat(ys, start, axis=1)
        cm = np.maximum.accumulate(gm, axis=1)
        ce_p = _ce_area(u, cm, ymax)
        p_ce = float(np.mean(ce_p >= ce_zone - 1e-12 * scope))
        if "cr_fdh" in ceil:
            zones = []
            for r in range(cm.shape[0]):
                rr = np.r_[True, cm[r, 1:] > cm[r, :-1]]
                px, py = u[rr], cm[r, rr]
                if len(px) >= 2:
                    bb, aa = np.polyfit(px, py, 1)
                    zones.append(_cr_area(aa, bb, xmin, xmax, ymin, ymax))
                else:
                    zones.append(0.0)
            p_cr = float(np.mean(np.asarray(zones) >= cr_zone - 1e-12 * scope))
    if "ce_fdh" in ceil:
        rows.append({"ceiling": "ce_fdh", "d": ce_zone / scope, "ceiling_zone": ce_zone, "accuracy": 1.0,
                     "p": p_ce, "intercept": float("nan"), "slope": float("nan")})
    if "cr_fdh" in ceil:
        acc = float(np.mean(Y <= a + b * X + 1e-12)) if np.isfinite(a) else float("nan")
        rows.append({"ceiling": "cr_fdh", "d": cr_zone / scope, "ceiling_zone": cr_zone, "accuracy": acc, "p": p_cr,
                     "intercept": float(a), "slope": float(b)})
    # bottleneck table (percent of range)
    levels = np.linspace(0, 100, 11)
    bt = {"y_level": levels}
    for r in rows:
        need = []
        for lv in levels:
            yl = ymin + lv / 100 * (ymax - ymin)
            if r["ceiling"] == "ce_fdh":
                ok = np.flatnonzero(cmax >= yl - 1e-12)
                xr = u[ok[0]] if len(ok) else np.nan
                need.append("NN" if len(ok) and ok[0] == 0 else (f"{100 * (xr - xmin) / (xmax - xmin):.1f}"
                                                                 if np.isfinite(xr) else "NA"))
            else:
                if not np.isfinite(a) or b <= 0:
                    need.append("NA")
                    continue
                xr = (yl - a) / b
                need.append("NN" if xr <= xmin else (f"{100 * (xr - xmin) / (xmax - xmin):.1f}" if xr <= xmax
                                                     else "NA"))
        bt[r["ceiling"]] = need
    return NCAResult(x, y, len(d), float(scope), pd.DataFrame(rows), pd.DataFrame(bt), peers, int(n_perm or 0),
                     seed if isinstance(seed, int) else None, d if keep_data else None)


def nca_plot(result: NCAResult, path) -> list:
    """Scatter plot of the data with the CE-FDH step ceiling and the CR-FDH line (PNG and/or SVG by suffix;
    without a suffix both).

    R: ``NCA::nca_output(plots = TRUE)``.
    """
    from pathlib import Path

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..report.figures import save_figure

    fig = Figure(figsize=(6, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    if result.data is not None:
        ax.scatter(result.data[result.x], result.data[result.y], s=8, color="#777777", alpha=0.6, linewidths=0)
    pk = result.peers
    xmax = result.data[result.x].max() if result.data is not None else pk["x"].max()
    xs = list(pk["x"]) + [xmax]
    ys = list(pk["y"]) + [pk["y"].iloc[-1]]
    ax.step(xs, ys, where="post", color="#1f3b63", lw=2, label="CE-FDH ceiling")
    cr = result.ceilings.set_index("ceiling")
    if "cr_fdh" in cr.index and np.isfinite(cr.loc["cr_fdh", "slope"]):
        gx = np.linspace(min(xs), xmax, 50)
        ax.plot(gx, cr.loc["cr_fdh", "intercept"] + cr.loc["cr_fdh", "slope"] * gx, color="#b42318", lw=1.5,
                ls="--", label="CR-FDH ceiling")
    ax.set_xlabel(result.x)
    ax.set_ylabel(result.y)
    ax.set_title("Necessary condition analysis")
    ax.legend(loc="lower right", fontsize=8)
    p = Path(path)
    targets = [p] if p.suffix in (".png", ".svg") else [p.with_suffix(".png"), p.with_suffix(".svg")]
    return [save_figure(fig, t) for t in targets]
