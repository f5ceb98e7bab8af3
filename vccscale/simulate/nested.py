"""Nested data: respondents in clusters (organisations, relationships, networks) for planning and recovery checks.

``simulate_nested(model, n_clusters, cluster_size, seed, icc=..., cluster="cluster")`` draws ``n_clusters``
clusters of respondents from a population model, in one of two ways:

* **a two-level population model** (lavaan syntax with ``level: 1`` / ``level: 2`` blocks, also ``level: within``
  / ``level: between``): each block is a population model with ``simulateData`` conventions
  (:mod:`vccscale.simulate.population`). Every respondent draws the within model (means 0) and every cluster the
  between model (its intercepts are the grand means); a variable named at both levels is the sum of its within and
  between parts, a variable named only within has no between part (cluster-mean centred in the population), a
  variable named only between is constant within a cluster. This is how lavaan's two-level model decomposes
  ``y_ij = mu + y_B,j + y_W,ij`` (Muthen 1994).
* **a single-level population model with ICCs** (``icc`` a share, or ``{variable: share}``): the model holds at
  both levels with the same loadings and paths; the disturbance (variance of an exogenous latent variable, residual
  variance of an endogenous one; of observed variables when the model has no latent variables) of each variable
  named in ``icc`` is split into a between-cluster share ``icc`` and a within share ``1 - icc``; indicator
  residuals stay within (measurement error is individual). The total covariance matrix is the single-level
  model's; covariances between disturbances are split by ``sqrt(icc_a * icc_b)`` (exact when the ICCs are equal).
  The ICC of a latent variable is then its ``icc`` when it is exogenous, and a mix of its own and its
  predictors' ICCs when it is endogenous.

``cluster_size``: an int (balanced), or ``(min, max)`` for sizes drawn uniformly in that range (unbalanced), or a
list of sizes (one per cluster). The result has the column ``cluster`` (ids 1..n_clusters) first; its ``attrs``
record the design (``nested``: n_clusters, sizes, icc or levels). The same seed gives the same data.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, ModelError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["cluster_sizes", "level_blocks", "nested_moments", "simulate_nested"]


def level_blocks(model: str) -> dict[int, str] | None:
    """The ``level:`` blocks of lavaan syntax as ``{1: within text, 2: between text}``; None without blocks
    (:func:`vccscale.sem.syntax.split_levels`, whose errors name the line)."""
    from ..sem.syntax import split_levels

    blocks = split_levels(model)
    return None if blocks is None else dict(blocks)


def cluster_sizes(n_clusters: int, cluster_size: Any, rng: np.random.Generator) -> np.ndarray:
    """Sizes of ``n_clusters`` clusters: an int (balanced), ``(min, max)`` (uniform integers), or a list."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 2:
        raise DataError(f"n_clusters must be an integer >= 2, got {n_clusters!r}", field="n_clusters")
    if isinstance(cluster_size, (int, np.integer)) and not isinstance(cluster_size, bool):
        if cluster_size < 1:
            raise DataError(f"cluster_size must be >= 1, got {cluster_size}", field="cluster_size")
        return np.full(int(n_clusters), int(cluster_size))
    sizes = list(cluster_size) if isinstance(cluster_size, (list, tuple, np.ndarray)) else None
    if sizes is not None and len(sizes) == 2 and isinstance(cluster_size, tuple):
        lo, hi = int(sizes[0]), int(sizes[1])
        if not 1 <= lo <= hi:
            raise DataError(f"cluster_size (min, max) must have 1 <= min <= max, got {cluster_size!r}",
                            field="cluster_size")
        return rng.integers(lo, hi + 1, size=int(n_clusters))
    if sizes is not None and len(sizes) == n_clusters and all(int(s) >= 1 for s in sizes):
        return np.asarray(sizes, dtype=int)
    raise DataError("cluster_size must be an int, a (min, max) tuple or one size per cluster, got "
                    f"{cluster_size!r}", field="cluster_size")


def _disturbance_rows(pop) -> dict[str, int]:
    """variable -> index of its disturbance variance row: latent variables, or observed ones without latents."""
    targets = set(pop.lv_names) if pop.lv_names else set(pop.ov_names)
    return {r["lhs"]: i for i, r in enumerate(pop.rows)
            if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in targets}


def _split(pop, icc: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Within and between covariance (and the mean) of the observed variables for ICC-split disturbances."""
    from .population import implied_moments

    dist = _disturbance_rows(pop)
    names = list(pop.ov_names) + list(pop.lv_names)
    within, between = [dict(r) for r in pop.rows], [dict(r) for r in pop.rows]
    for i, r in enumerate(pop.rows):
        if r["op"] != "~~":
            continue
        a, b = r["lhs"], r["rhs"]
        if a in dist and b in dist:
            sa, sb = icc.get(a, 0.0), icc.get(b, 0.0)
            between[i]["value"] = r["value"] * np.sqrt(sa * sb)
            within[i]["value"] = r["value"] * np.sqrt((1 - sa) * (1 - sb))
        else:  # indicator residuals, covariates: within only
            between[i]["value"] = 0.0
    for rows in (within, between):
        for r in rows:
            if r["op"] == "~1":
                r["value"] = 0.0
    cw, _ = implied_moments(within, names)
    cb, _ = implied_moments(between, names)
    p = len(pop.ov_names)
    return cw[:p, :p], cb[:p, :p], pop.mean[:p], list(pop.ov_names)


def nested_moments(model: str, icc: float | dict[str, float] | None = None) -> dict[str, Any]:
    """Population moments of the nested design: ``names``, ``mean`` (grand means), ``within`` and ``between``
    covariance matrices (observed variables; a two-level model's variables named at one level only have zero rows
    at the other). ``within + between`` is the total covariance."""
    from .population import population_model

    blocks = level_blocks(model)
    if blocks is not None:
        if icc is not None:
            raise ModelError("icc applies to single-level population models; a two-level model gives the between "
                             "variances itself")
        pw, pb = population_model(blocks[1]), population_model(blocks[2])
        names = list(pw.ov_names) + [v for v in pb.ov_names if v not in pw.ov_names]
        k = len(names)
        W, B, mu = np.zeros((k, k)), np.zeros((k, k)), np.zeros(k)
        iw = [names.index(v) for v in pw.ov_names]
        ib = [names.index(v) for v in pb.ov_names]
        kw, kb = len(iw), len(ib)
        W[np.ix_(iw, iw)] = pw.cov[:kw, :kw]
        B[np.ix_(ib, ib)] = pb.cov[:kb, :kb]
        mu[ib] = pb.mean[:kb]
        return {"names": names, "mean": mu, "within": W, "between": B}
    pop = population_model(model)
    shares = _shares(pop, icc)
    cw, cb, mean, names = _split(pop, shares)
    return {"names": names, "mean": mean, "within": cw, "between": cb, "icc": shares}


def _shares(pop, icc) -> dict[str, float]:
    dist = _disturbance_rows(pop)
    if icc is None:
        raise ModelError("give icc (a share, or {variable: share}) for a single-level population model, or write "
                         "a two-level model with level: 1 and level: 2 blocks")
    shares = {v: float(icc) for v in dist} if isinstance(icc, (int, float)) else dict(icc)
    bad = [v for v in shares if v not in dist]
    if bad:
        raise ModelError(f"icc names {bad}, which are not latent variables of the model (or observed variables "
                         f"of a model without latent variables): {sorted(dist)}")
    for v, s in shares.items():
        if not 0 <= s < 1:
            raise DataError(f"icc of {v} must be in [0, 1), got {s!r}", field="icc")
    return shares


def simulate_nested(model: str, n_clusters: int, cluster_size: Any = 10, seed=None, *,
                    icc: float | dict[str, float] | None = None, cluster: str = "cluster") -> pd.DataFrame:
    """Draw nested data (see the module docstring): ``n_clusters`` clusters of ``cluster_size`` respondents."""
    from .population import draw_mvnorm

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    sizes = cluster_sizes(n_clusters, cluster_size, rng)
    ids = np.repeat(np.arange(1, len(sizes) + 1), sizes)
    n = int(sizes.sum())
    design: dict[str, Any] = {"n_clusters": int(len(sizes)), "n": n, "sizes": sizes.tolist()}
    mom = nested_moments(model, icc)
    names = mom["names"]
    k = len(names)
    X = (draw_mvnorm(rng, n, np.zeros(k), mom["within"])
         + draw_mvnorm(rng, len(sizes), mom["mean"], mom["between"])[ids - 1])
    if "icc" in mom:
        design["icc"] = mom["icc"]
    else:
        design["levels"] = {lv: [v for j, v in enumerate(names) if mom[lv][j, j] > 0] for lv in ("within", "between")}
    if cluster in names:
        raise ModelError(f"the cluster column name {cluster!r} is a model variable: choose another (cluster=...)")
    import pandas as pd

    df = pd.DataFrame(X, columns=names)
    df.insert(0, cluster, ids)
    df.attrs["nested"] = design
    return df
