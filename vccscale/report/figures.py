"""Figures of the report: the structural path diagram, and a deterministic save helper.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas (pyplot and the global backend
are never touched), with ``svg.hashsalt`` fixed and no creation date in the metadata, so that the same input gives
the same bytes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from .tables import fmt_num

RC = {"svg.hashsalt": "vccscale", "svg.fonttype": "path", "font.family": "DejaVu Sans", "font.size": 10,
      "path.simplify": True}


def save_figure(fig: Any, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` (a matplotlib Figure) to ``path`` (``.png`` or ``.svg``) deterministically."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    ext = path.suffix.lower()
    with matplotlib.rc_context(RC):
        if ext == ".svg":
            fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
        elif ext == ".png":
            fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None})
        elif ext == ".pdf":
            fig.savefig(path, format="pdf", metadata={"CreationDate": None, "ModDate": None, "Creator": None,
                                                      "Producer": None})
        else:
            raise ValueError(f"unsupported figure format {ext!r} (use .png or .svg)")
    return path


def _layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering of the regression graph (predictor -> outcome); nodes in cycles go last."""
    preds: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        if a != b:
            preds[b].add(a)
    layer: dict[str, int] = {}
    remaining = list(nodes)
    while remaining:
        ready = [n for n in remaining if preds[n] <= layer.keys()]
        if not ready:  # a cycle (non-recursive model): place the rest after everything else
            top = max(layer.values(), default=-1) + 1
            for n in remaining:
                layer[n] = top
            break
        for n in ready:
            layer[n] = max((layer[p] + 1 for p in preds[n]), default=0)
        remaining = [n for n in remaining if n not in ready]
    return layer


def _wrap(name: str, width: int = 14) -> str:
    """Break a long construct name at spaces or underscores (then hard) into lines of about ``width``."""
    s = str(name)
    if len(s) <= width:
        return s
    sep = " " if " " in s else "_"
    words = [w + sep for w in s.split(sep)]
    words[-1] = words[-1][:-1]
    lines, cur = [], ""
    for w in words:
        while len(w) > width:
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(w[:width])
            w = w[width:]
        if len(cur) + len(w) > width and cur:
            lines.append(cur)
            cur = w
        else:
            cur += w
    if cur:
        lines.append(cur)
    return "\n".join(x.strip() for x in lines)


def _est_label(std: Any, p: Any) -> str:
    lab = fmt_num(std, 2, bounded=True) if not pd.isna(std) else "?"
    if p is not None and not pd.isna(p) and float(p) < 0.05:
        lab += "*"
    return lab


def path_diagram(estimates: pd.DataFrame, path: str | Path, *, title: str | None = None,
                 max_covariances: int = 12, labels: dict[str, str] | None = None, note: str | None = None) -> Path:
    """Draw :func:`path_figure` to ``path`` (.png or .svg) deterministically; returns ``path``."""
    return save_figure(path_figure(estimates, title=title, max_covariances=max_covariances, labels=labels,
                                   note=note), path)


def path_figure(estimates: pd.DataFrame, *, title: str | None = None, max_covariances: int = 12,
                labels: dict[str, str] | None = None, note: str | None = None) -> Any:
    """Draw the structural model of ``estimates`` (lavaan-style rows: lhs, op, rhs, std_all[, pvalue]) to ``path``.

    Latent constructs (lhs of ``=~``) are ellipses, observed variables in the structural part rectangles, laid out
    left to right by structural order (longest path from the exogenous variables); regressions (``~``) are arrows
    labelled with the standardized estimate (``*`` for *p* < .05 when a ``pvalue`` column is present); covariances
    between distinct constructs (``~~``) are dashed two-headed arcs when there are at most ``max_covariances``;
    ``r2`` rows are printed under their construct. Measurement indicators are omitted. ``labels`` maps node ids to
    the names printed (wrapped); ``note`` replaces the default note under the drawing. Returns the Figure.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch
    import matplotlib

    df = estimates.copy()
    for col in ("lhs", "op", "rhs"):
        if col not in df.columns:
            raise ValueError(f"estimates need a {col!r} column")
        df[col] = df[col].astype(str).str.strip()
    if "std_all" not in df.columns:
        df["std_all"] = df["est"] if "est" in df.columns else float("nan")
    has_p = "pvalue" in df.columns
    latents = list(dict.fromkeys(df.loc[df["op"] == "=~", "lhs"]))
    reg = df[(df["op"] == "~") & (df["lhs"] != df["rhs"])]
    nodes = list(dict.fromkeys(latents + [v for pair in zip(reg["rhs"], reg["lhs"]) for v in pair]))
    nodeset = set(nodes)
    cov = df[(df["op"] == "~~") & (df["lhs"] != df["rhs"]) & df["lhs"].isin(nodeset) & df["rhs"].isin(nodeset)]
    cov = cov.drop_duplicates(subset=["lhs", "rhs"])
    draw_cov = 0 < len(cov) <= max_covariances
    r2 = {}
    if "r2" in set(df["op"]):
        for lhs, v in zip(df.loc[df["op"] == "r2", "lhs"], df.loc[df["op"] == "r2", "std_all" if
                                                             df.loc[df["op"] == "r2", "std_all"].notna().any()
                                                             else ("est" if "est" in df.columns else "std_all")]):
            r2[lhs] = v

    edges = list(zip(reg["rhs"], reg["lhs"]))
    layer = _layers(nodes, edges) if nodes else {}
    n_layers = max(layer.values(), default=0) + 1
    by_layer: dict[int, list[str]] = {}
    for n in nodes:
        by_layer.setdefault(layer[n], []).append(n)
    # order within a layer: barycentre of the predecessors' positions (stable, ties by first appearance)
    ypos: dict[str, float] = {}
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        preds[b].append(a)
    for li in range(n_layers):
        members = by_layer.get(li, [])
        if li > 0:
            def bary(n: str, _m=members) -> float:
                ps = [ypos[p] for p in preds[n] if p in ypos]
                return sum(ps) / len(ps) if ps else 0.0
            members = sorted(members, key=lambda n: (-bary(n), nodes.index(n)))
        k = len(members)
        for i, n in enumerate(members):
            ypos[n] = (k - 1) / 2 - i
        by_layer[li] = members
    wrapped = {n: _wrap((labels or {}).get(n, n), 20 if labels else 14) for n in nodes}
    max_lines = max((w.count("\n") + 1 for w in wrapped.values()), default=1)
    dx = 3.0 if not labels else 3.9
    ew = 2.0 if not labels else 2.9
    eh = 0.8 if max_lines <= 2 else 0.45 + 0.24 * max_lines
    dy = max(1.35, eh + 0.45)
    pos = {n: (layer[n] * dx, ypos[n] * dy) for n in nodes}
    # arcs for regressions that skip a layer: alternate above / below, bulge grows with the span
    bends: dict[int, float] = {}
    side = 1
    for i, rec in enumerate(reg.itertuples(index=False)):
        a, b = rec.rhs, rec.lhs
        span = layer[b] - layer[a]
        if span != 1:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            dist = math.hypot(x2 - x1, y2 - y1) or 1.0
            dev = 0.55 + 0.25 * max(abs(span) - 2, 0)
            bends[i] = side * 2 * dev / dist
            side = -side
    # bend edges that would cross another construct's ellipse (smallest bend that clears every other node)
    def _bez(x1, y1, x2, y2, rad, t):
        cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
        return ((1 - t) ** 2 * x1 + 2 * (1 - t) * t * cx + t * t * x2,
                (1 - t) ** 2 * y1 + 2 * (1 - t) * t * cy + t * t * y2)

    def _inside(px, py, skip, pad=0.12):
        return sum(1 for nn, (xn, yn) in pos.items() if nn not in skip and
                   ((px - xn) / (ew / 2 + pad)) ** 2 + ((py - yn) / (eh / 2 + pad)) ** 2 < 1)

    ts = [k / 24 for k in range(2, 23)]
    for i, rec in enumerate(reg.itertuples(index=False)):
        a, b = rec.rhs, rec.lhs
        (x1, y1), (x2, y2) = pos[a], pos[b]
        start = bends.get(i, 0.0)
        best = None
        for d in (0.0, 0.12, -0.12, 0.25, -0.25, 0.4, -0.4, 0.55, -0.55, 0.7, -0.7):
            hits = sum(_inside(*_bez(x1, y1, x2, y2, start + d, t), (a, b)) for t in ts)
            if best is None or hits < best[0]:
                best = (hits, start + d)
            if hits == 0:
                break
        if best[1] != 0.0:
            bends[i] = best[1]
    # extent of the drawing in data units (nodes, arc labels), for an equal-aspect canvas
    pts = [(x, y) for x, y in pos.values()] or [(0.0, 0.0)]
    ext_x = [p[0] for p in pts]
    ext_y = [p[1] for p in pts]
    for i, rec in enumerate(reg.itertuples(index=False)):
        if i in bends:
            (x1, y1), (x2, y2) = pos[rec.rhs], pos[rec.lhs]
            rad = bends[i]
            ext_y.append((y1 + y2) / 2 - 0.5 * rad * (x2 - x1))
    pad_x = ew / 2 + (0.9 if draw_cov else 0.3)
    xlim = (min(ext_x) - pad_x, max(ext_x) + pad_x)
    ylim = (min(ext_y) - eh / 2 - 0.55, max(ext_y) + eh / 2 + 0.35)
    scale = min(0.75, 15.0 / (xlim[1] - xlim[0]), (12.0 if not labels else 22.0) / (ylim[1] - ylim[0]))
    top = 0.45 if title else 0.1
    bottom = 0.35
    fig_w = (xlim[1] - xlim[0]) * scale
    fig_h = (ylim[1] - ylim[0]) * scale + top + bottom
    fig = Figure(figsize=(max(fig_w, 4.5), fig_h))
    ax = fig.add_axes((0.0, bottom / fig_h, 1.0, 1 - (top + bottom) / fig_h))
    ax.set_axis_off()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal", adjustable="datalim")
    fs = 9 if scale >= 0.6 else 8
    patches = {}
    with matplotlib.rc_context(RC):
        for n in nodes:
            x, y = pos[n]
            if n in latents:
                p = Ellipse((x, y), ew, eh, facecolor="#eef3fb", edgecolor="#1f3b63", linewidth=1.2, zorder=3)
            else:
                p = FancyBboxPatch((x - ew / 2 * 0.85, y - eh / 2 * 0.8), ew * 0.85, eh * 0.8,
                                   boxstyle="square,pad=0", facecolor="#f7f7f7", edgecolor="#333333",
                                   linewidth=1.0, zorder=3)
            ax.add_patch(p)
            patches[n] = p
            label = wrapped[n]
            ax.text(x, y, label, ha="center", va="center", fontsize=fs if "\n" not in label else fs - 0.5,
                    zorder=4, color="#111111", linespacing=1.1)
            if n in r2 and not pd.isna(r2[n]):
                ax.text(x, y - eh / 2 - 0.08, f"R\u00b2 = {fmt_num(r2[n], 2, True)}", ha="center", va="top",
                        fontsize=fs - 1.5, color="#444444", zorder=4)
        placed: list[tuple[float, float]] = []
        for i, rec in enumerate(reg.itertuples(index=False)):
            a, b = rec.rhs, rec.lhs
            (x1, y1), (x2, y2) = pos[a], pos[b]
            rad = bends.get(i, 0.0)
            arrow = FancyArrowPatch((x1, y1), (x2, y2), patchA=patches[a], patchB=patches[b],
                                    arrowstyle="-|>,head_length=6,head_width=3.5", mutation_scale=1.4,
                                    connectionstyle=f"arc3,rad={rad:.6f}", color="#1f3b63", linewidth=1.1,
                                    shrinkA=1, shrinkB=1, zorder=2)
            ax.add_patch(arrow)
            # label on the curve, away from other constructs and earlier labels
            for t in ((0.5, 0.4, 0.6, 0.3, 0.7) if rad != 0.0 else (0.55, 0.45, 0.65, 0.35, 0.72)):
                mx, my = _bez(x1, y1, x2, y2, rad, t)
                if not _inside(mx, my, (), 0.05) and all(math.hypot(mx - u, my - v) > 0.32 for u, v in placed):
                    break
            placed.append((mx, my))
            lab = _est_label(getattr(rec, "std_all"), getattr(rec, "pvalue") if has_p else None)
            ax.text(mx, my, lab, ha="center", va="center", fontsize=fs - 0.5, zorder=5, color="#111111",
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"})
        if draw_cov:
            for rec in cov.itertuples(index=False):
                a, b = rec.lhs, rec.rhs
                (x1, y1), (x2, y2) = pos[a], pos[b]
                if y1 < y2:
                    (a, x1, y1), (b, x2, y2) = (b, x2, y2), (a, x1, y1)
                # same column: bulge to the left in the first layer, else to the right
                rad = 0.35 if layer[a] == 0 else -0.35
                if abs(x1 - x2) > 1e-9:
                    rad = 0.25
                arc = FancyArrowPatch((x1, y1), (x2, y2), patchA=patches[a], patchB=patches[b],
                                      arrowstyle="<|-|>,head_length=4,head_width=2.5", mutation_scale=1.3,
                                      connectionstyle=f"arc3,rad={rad}", color="#777777", linewidth=0.9,
                                      linestyle=(0, (4, 2)), zorder=1)
                ax.add_patch(arc)
                mx, my = (x1 + x2) / 2 + 0.5 * rad * (y2 - y1), (y1 + y2) / 2 - 0.5 * rad * (x2 - x1)
                lab = _est_label(getattr(rec, "std_all"), getattr(rec, "pvalue") if has_p else None)
                ax.text(mx, my, lab, ha="center", va="center", fontsize=fs - 1.5, color="#555555", zorder=5,
                        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none"})
        if not nodes:
            ax.text(0.5, 0.5, "no structural model", ha="center", va="center", transform=ax.transAxes)
        if title:
            fig.text(0.5, 0.97, title, ha="center", va="top", fontsize=11)
        if note is None:
            note = "Standardized estimates"
            if has_p:
                note += "; * p < .05"
            note += ". Measurement indicators omitted"
            if len(cov) and not draw_cov:
                note += f"; {len(cov)} construct covariances omitted"
            note += "."
        if note:
            fig.text(0.02, 0.08 / fig_h, note, ha="left", va="bottom", fontsize=8, color="#444444", style="italic")
        return fig


def structural_diagram(paths: pd.DataFrame, names: Any = None, *, title: str | None = None) -> Any:
    """The structural model of a study's hypotheses as a path diagram (a Figure): ``paths`` has one row per
    hypothesised path (columns ``from``, ``to``, ``std_all``, ``pvalue``, ``hypothesis``); constructs are ellipses
    labelled with their readable names (``names``: a callable or mapping id -> name), arrows carry the
    standardized estimate with * for p < .05. A path tested in several hypothesis models is drawn once, with the
    estimate of the first hypothesis that tests it."""
    df = paths.drop_duplicates(subset=["from", "to"], keep="first")
    nodes = list(dict.fromkeys(list(df["from"]) + list(df["to"])))
    rows = [{"lhs": n, "op": "=~", "rhs": f"{n}__item", "std_all": float("nan")} for n in nodes]
    rows += [{"lhs": r["to"], "op": "~", "rhs": r["from"], "std_all": r["std_all"], "pvalue": r["pvalue"]}
             for _, r in df.iterrows()]
    lab = {n: (names(n) if callable(names) else (names or {}).get(n, n)) for n in nodes}
    return path_figure(pd.DataFrame(rows), title=title, labels=lab, note="")


def scree_grid(panels: list[tuple[str, pd.DataFrame, int]]) -> Any:
    """Scree plots with parallel analysis, one panel per EFA: ``panels`` = [(title, scree, n)] with the columns of
    :class:`vccscale.validate.ParallelResult` ``scree`` (fa_observed, fa_simulated). Returns a Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    import matplotlib

    k = len(panels)
    cols = 1 if k == 1 else (2 if k <= 4 else 3)
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(6.5 if cols == 1 else 3.4 * cols, 3.6 if cols == 1 else 2.7 * rows))
    FigureCanvasAgg(fig)
    with matplotlib.rc_context(RC):
        for i, (name, scree, n) in enumerate(panels):
            ax = fig.add_subplot(rows, cols, i + 1)
            x = list(range(1, len(scree) + 1))
            ax.plot(x, scree["fa_observed"].to_numpy(), marker="o", ms=3, lw=1.2, label="observed")
            ax.plot(x, scree["fa_simulated"].to_numpy(), ls="--", lw=1.0, label="parallel analysis")
            ax.axhline(0, color="#999999", lw=0.5)
            ax.set_title(_wrap(f"{name} (n = {n})", 38), fontsize=8 if cols > 1 else 10)
            ax.tick_params(labelsize=7)
            if i % cols == 0:
                ax.set_ylabel("eigenvalue", fontsize=8)
            if i == 0:
                ax.legend(fontsize=7)
        fig.tight_layout()
    return fig


__all__ = ["path_diagram", "path_figure", "save_figure", "scree_grid", "structural_diagram"]
