"""Shared numerics of vccscale.validate: input checks, pairwise correlations, psych's smc/Pinv, eigen helpers.

Missing data follow the R function each statistic reproduces: psych uses pairwise-complete correlations
(``cor(x, use = "pairwise")``, which is what ``pandas.DataFrame.corr()`` computes), semTools' htmt uses
listwise deletion (lavaan's ``missing = "listwise"``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import DataError
from ._cor import cov2cor, eigh_desc  # noqa: F401 (eigh_desc: efa and validity import it from here)


def item_frame(data: pd.DataFrame, items: Iterable[str] | None, *, min_items: int = 2,
               what: str = "this statistic") -> pd.DataFrame:
    """The item columns as a float DataFrame (a copy), after checking they exist, are numeric and vary."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    cols = list(data.columns) if items is None else list(items)
    if isinstance(items, str):
        raise DataError("items must be a list of column names, not a single string", column=items)
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise DataError(f"items listed more than once: {dup}", column=dup[0])
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(f"item column(s) not in the data: {missing}", column=missing[0])
    if len(cols) < min_items:
        raise DataError(f"{what} needs at least {min_items} items, got {len(cols)}")
    out = {}
    for c in cols:
        s = data[c]
        if s.dtype == bool or not (pd.api.types.is_numeric_dtype(s) or s.isna().all()):
            raise DataError("item column is not numeric (recode response labels to numbers first)", column=c)
        out[c] = pd.to_numeric(s, errors="raise").astype("float64")
    x = pd.DataFrame(out, index=data.index)
    n_obs = x.notna().sum()
    few = n_obs[n_obs < 2]
    if len(few):
        raise DataError(f"item has fewer than two answered values ({int(few.iloc[0])})", column=few.index[0])
    sd = x.std()
    flat = sd[~(sd > 0)]
    if len(flat):
        raise DataError("item has no variance (every answer is the same)", column=flat.index[0])
    return x


def answered_rows(x: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows of ``x`` on which at least one item is answered, and the number of rows on which none is.

    vccscale's n of a scale is the number of its respondents: a row on which every selected item is missing is
    not one (on a wide export with provider and customer versions it is a respondent of the other version; in
    stacked data a version that was not asked the scale). psych counts ``nrow(x)`` instead, so its Feldt CI and
    ase of alpha (``psych::alpha``), Bartlett's chi-square (``psych::cortest.bartlett`` on raw data) and the
    n.obs-based fit statistics of ``psych::fa`` treat such rows as respondents; on the rows that answered, the
    two agree exactly. Rows with some items answered stay (correlations are pairwise-complete, as psych's).
    """
    empty = x.isna().all(axis=1)
    n_empty = int(empty.sum())
    return (x.loc[~empty] if n_empty else x), n_empty


def blocks_frame(data: pd.DataFrame, blocks: Mapping[str, Iterable[str]], *, min_per_block: int = 1,
                 what: str = "this statistic") -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """All items of all blocks (factor -> items) as one float frame, and the blocks as lists."""
    if not isinstance(blocks, Mapping) or not blocks:
        raise DataError("blocks must be a non-empty mapping of factor name -> list of item columns")
    bl: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for f, its in blocks.items():
        if isinstance(its, str):
            raise DataError(f"items of factor {f!r} must be a list of column names, not a string", field=str(f))
        its = list(its)
        if len(its) < min_per_block:
            raise DataError(f"{what} needs at least {min_per_block} item(s) per factor; {f!r} has {len(its)}",
                            field=str(f))
        for c in its:
            if c in seen:
                raise DataError(f"item belongs to two factors ({seen[c]!r} and {f!r})", column=c)
            seen[c] = str(f)
        bl[str(f)] = its
    allitems = [c for its in bl.values() for c in its]
    return item_frame(data, allitems, min_items=1, what=what), bl


def pairwise_cor(x: pd.DataFrame) -> np.ndarray:
    """Pearson correlations from pairwise-complete observations (R ``cor(x, use = "pairwise")``)."""
    r = x.corr().to_numpy(dtype=float)
    if np.isnan(r).any():
        i, j = np.argwhere(np.isnan(r))[0]
        raise DataError(f"items {x.columns[i]!r} and {x.columns[j]!r} have no pair of answers in common: "
                        "their correlation is undefined", column=str(x.columns[i]))
    return r


def pairwise_cov(x: pd.DataFrame) -> np.ndarray:
    """Covariances (divisor n - 1) from pairwise-complete observations (R ``cov(x, use = "pairwise")``)."""
    c = x.cov().to_numpy(dtype=float)
    if np.isnan(c).any():
        i, j = np.argwhere(np.isnan(c))[0]
        raise DataError(f"items {x.columns[i]!r} and {x.columns[j]!r} have no pair of answers in common",
                        column=str(x.columns[i]))
    return c


def listwise(x: pd.DataFrame, *, what: str = "this statistic", min_rows: int = 3) -> pd.DataFrame:
    """Complete cases only (lavaan ``missing = "listwise"``)."""
    out = x.dropna()
    if len(out) < min_rows:
        raise DataError(f"{what} uses complete cases only and just {len(out)} row(s) are complete")
    return out


def pinv(a: np.ndarray) -> np.ndarray:
    """Moore-Penrose inverse with psych::Pinv's tolerance (singular values <= sqrt(eps) * d[1] dropped)."""
    u, d, vt = np.linalg.svd(a)
    keep = d > max(np.sqrt(np.finfo(float).eps) * d[0], 0)
    return (vt[keep].T / d[keep]) @ u[:, keep].T


def smc(r: np.ndarray) -> np.ndarray:
    """Squared multiple correlations 1 - 1/diag(R^-1), clipped to [0, 1] (psych::smc on a correlation matrix)."""
    r = cov2cor(np.asarray(r, dtype=float))
    s = 1 - 1 / np.diag(pinv(r))
    return np.clip(s, 0.0, 1.0)


def as_series(values: Mapping[str, float] | pd.Series | Iterable[float], name: str) -> pd.Series:
    if isinstance(values, pd.Series):
        s = values.astype(float)
    elif isinstance(values, Mapping):
        s = pd.Series({str(k): float(v) for k, v in values.items()}, dtype=float)
    else:
        arr = np.asarray(list(values), dtype=float)
        s = pd.Series(arr, index=[f"{name}{i + 1}" for i in range(len(arr))])
    return s.rename(name)


def rng_from(seed: int | np.random.Generator | None) -> np.random.Generator:
    """One numpy Generator per call; the global random state is never touched."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


#: pair tasks (two-construct models, HTMT pairs) run on n_jobs processes only from this many pairs on, in batches
#: of PAIR_BATCH: starting a worker costs 0.5-1 CPU-s, a pair 5-100 ms
PARALLEL_MIN_PAIRS = 100
PAIR_BATCH = 25


def run_pair_batches(fn, batches: Iterable[tuple], n_pairs: int, n_jobs: int):
    """``fn(*batch)`` for every batch of pair tasks, in order (a generator of its results): on ``n_jobs`` joblib
    processes (-1: all cores) when there are at least :data:`PARALLEL_MIN_PAIRS` pairs, else in this process."""
    if n_jobs == 1 or n_pairs < PARALLEL_MIN_PAIRS:
        return (fn(*b) for b in batches)
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, return_as="generator")(delayed(fn)(*b) for b in batches)
