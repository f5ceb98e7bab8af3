"""Discriminant validity and common-method checks: HTMT (semTools 0.5-6), Fornell-Larcker, cross-loadings,
Harman's single-factor test, and the hook for common-latent-factor / marker-variable CFA comparisons.

Computed with numpy/pandas only (see :mod:`vccscale.validate.efa` for why neither factor_analyzer nor pingouin
is used). ``blocks`` is always a mapping factor name -> list of item columns (items already reverse-keyed).

- ``htmt(data, blocks, variant="htmt2")`` -> :class:`HTMTResult`, optional percentile bootstrap CI.
- ``fornell_larcker(ave_by_factor, factor_correlations)`` -> :class:`FornellLarckerResult`.
- ``cross_loadings(data, blocks)`` -> DataFrame of item x scale-score correlations.
- ``harman_single_factor(data, items)`` -> :class:`HarmanResult`.
- ``common_latent_factor(data, blocks)``: trait CFA with and without a common method factor (CLF / CFA
  marker technique), fitted by the ``vccscale.sem`` engine or any ``fit_cfa(syntax, data) -> parameter table``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._args import data_first
from ..clean.scoring import block_score
from ..errors import DataError, ModelError
from ._common import (
    PAIR_BATCH,
    PARALLEL_MIN_PAIRS,
    blocks_frame,
    eigh_desc,
    item_frame,
    listwise,
    pairwise_cor,
    rng_from,
    run_pair_batches,
)
from ._cor import HTMT_MISSING, htmt_matrix, item_cor, missing_rule, pairs


# ----------------------------------------------------------------------------------------------------------
# HTMT
# ----------------------------------------------------------------------------------------------------------
def _boot_rows(arr: np.ndarray, missing: str) -> np.ndarray:
    """The rows a bootstrap of HTMT resamples from the respondents ``arr``: the complete ones (listwise) or all."""
    return arr[~np.isnan(arr).any(axis=1)] if missing == "listwise" else arr


def _htmt_draw(sample: np.ndarray, cols: list[str], missing: str, idx: list[np.ndarray], variant: str,
               absolute: bool) -> np.ndarray:
    """The HTMT matrix of one bootstrap resample; NaN where undefined (e.g. a draw in which an item does not vary)."""
    try:
        return htmt_matrix(item_cor(sample, cols, missing)[0], idx, variant, absolute)
    except DataError:
        return np.full((len(idx), len(idx)), np.nan)


def pair_dict(matrix: pd.DataFrame) -> dict[str, float]:
    """Upper triangle of a symmetric factors x factors matrix as ``{"a~~b": value}`` (factor order)."""
    return pairs(list(matrix.columns), matrix.to_numpy(dtype=float))


@dataclass(frozen=True)
class HTMTResult:
    """``matrix``: factors x factors HTMT (1 on the diagonal); ``ci_lower``/``ci_upper``: percentile bootstrap
    limits (None without bootstrap); ``n_boot_failed``: draws with an undefined HTMT."""

    matrix: pd.DataFrame
    variant: str
    n_obs: int
    ci_lower: pd.DataFrame | None = None
    ci_upper: pd.DataFrame | None = None
    ci_level: float | None = None
    n_boot: int = 0
    n_boot_failed: int = 0
    seed: int | None = None
    missing: str = "listwise"

    def to_frame(self) -> pd.DataFrame:
        """One row per pair of factors: factor_a, factor_b, htmt (and ci_lower, ci_upper)."""
        names = list(self.matrix.index)
        rows = []
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                row = {"factor_a": a, "factor_b": b, "htmt": float(self.matrix.loc[a, b])}
                if self.ci_lower is not None:
                    row["ci_lower"] = float(self.ci_lower.loc[a, b])
                    row["ci_upper"] = float(self.ci_upper.loc[a, b])
                rows.append(row)
        return pd.DataFrame(rows)

    def pairs(self) -> dict[str, float]:
        """HTMT of every pair of factors as ``{"a~~b": value}`` (upper triangle, factor order; the JSON of
        ``vccscale cfa`` and ``vccscale validity``)."""
        return pair_dict(self.matrix)

    def ci_pairs(self) -> dict[str, list[float]] | None:
        """Bootstrap limits of every pair as ``{"a~~b": [lower, upper]}`` (None without bootstrap)."""
        if self.ci_lower is None:
            return None
        names = list(self.matrix.columns)
        return {f"{a}~~{b}": [float(self.ci_lower.loc[a, b]), float(self.ci_upper.loc[a, b])]
                for i, a in enumerate(names) for b in names[i + 1:]}

    def to_dict(self) -> dict:
        return {"variant": self.variant, "missing": self.missing, "n_obs": self.n_obs, "n_boot": self.n_boot,
                "n_boot_failed": self.n_boot_failed, "ci_level": self.ci_level, "seed": self.seed,
                "pairs": self.to_frame().to_dict(orient="records")}

    def summary(self) -> str:
        return (f"HTMT ({self.variant}, missing data: {self.missing}, n = {self.n_obs})\n"
                + self.to_frame().round(3).to_string(index=False))


@data_first("blocks", blocks=True)
def htmt(data: pd.DataFrame, blocks: Mapping[str, Iterable[str]], variant: str = "htmt2", *, absolute: bool = True,
         missing: str = "listwise", n_boot: int = 0, ci: float = 0.95,
         seed: int | np.random.Generator | None = None) -> HTMTResult:
    """Heterotrait-monotrait ratio of correlations, as ``semTools::htmt(model, data)``.

    HTMT(i, j) = mean of the correlations between the items of i and j, divided by the geometric mean of the
    average within-block correlations of i and of j (off-diagonal, both triangles).

    ``missing`` (as semTools' ``missing =``, passed to ``lavaan::lavCor``): ``"listwise"`` (default, semTools'
    default) Pearson correlations on the complete rows, which must outnumber the items (lavCor stops otherwise);
    ``"fiml"`` (or ``"ml"``) the correlations of the saturated model's ML covariance matrix under MAR (EM) on the
    rows that answered at least one item, semTools' ``missing = "ml"``. With missing answers, listwise rests on
    the complete rows only, which can be few and unrepresentative; FIML keeps every answer. ``n_obs``: the rows
    used. A DataError names an item whose correlations are undefined (no variance) or, under FIML, two items no
    row answered together.

    ``variant="htmt2"`` (default, as semTools 0.5-6's ``htmt2 = TRUE``): every "mean" is a geometric mean of
    absolute correlations (Roemer, Schuberth & Henseler 2021); it is the default because it stays consistent
    for congeneric (unequal-loading) items, where the classic ratio is biased, and semTools made it so.
    ``variant="htmt"``: the classic Henseler, Ringle & Sarstedt (2015) arithmetic means, of absolute
    correlations when ``absolute=True`` (semTools' default) else of the signed ones.
    Blocks with one item give NaN (no within-block correlation).

    ``n_boot > 0`` adds a percentile bootstrap CI (rows resampled with replacement, ``seed`` for a
    ``numpy.random.Generator``; under FIML EM runs in every draw); compare the upper limit with 0.85 / 0.90.
    Draws whose HTMT is undefined are left out and counted in ``n_boot_failed``.
    """
    if variant not in ("htmt2", "htmt"):
        raise DataError(f"unknown HTMT variant {variant!r}: use 'htmt2' or 'htmt'", field="variant")
    x, bl = blocks_frame(data, blocks, what="HTMT")
    if len(bl) < 2:
        raise DataError("HTMT needs at least two factors")
    rule = missing_rule(missing)
    cols = list(x.columns)
    idx = [np.array([cols.index(c) for c in its]) for its in bl.values()]
    names = list(bl)
    arr = x.to_numpy(dtype=float)
    arr = arr[~np.isnan(arr).all(axis=1)]  # the respondents: rows that answered an item
    r, n_obs = item_cor(arr, cols, rule)
    arr = _boot_rows(arr, rule)
    mat = htmt_matrix(r, idx, variant, absolute)
    res = {"matrix": pd.DataFrame(mat, index=names, columns=names), "variant": variant, "n_obs": n_obs,
           "missing": rule}
    if n_boot and n_boot > 0:
        if not 0 < ci < 1:
            raise DataError("ci must be between 0 and 1", field="ci")
        rng = rng_from(seed)
        n = len(arr)
        draws = np.empty((int(n_boot), len(names), len(names)))
        failed = 0
        for b in range(int(n_boot)):
            m = _htmt_draw(arr[rng.integers(0, n, n)], cols, rule, idx, variant, absolute)
            off = ~np.eye(len(names), dtype=bool)
            if np.isnan(m[off]).any() and not np.isnan(mat[off]).any():
                failed += 1
            draws[b] = m
        a = (1 - ci) / 2
        lo = np.nanquantile(draws, a, axis=0)
        hi = np.nanquantile(draws, 1 - a, axis=0)
        res.update(ci_lower=pd.DataFrame(lo, index=names, columns=names),
                   ci_upper=pd.DataFrame(hi, index=names, columns=names), ci_level=float(ci), n_boot=int(n_boot),
                   n_boot_failed=failed, seed=seed if isinstance(seed, int) else None)
    return HTMTResult(**res)


# ----------------------------------------------------------------------------------------------------------
# Fornell-Larcker
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FornellLarckerResult:
    """``table``: factor correlations with sqrt(AVE) on the diagonal; ``passed``: per factor, sqrt(AVE) exceeds
    its largest absolute correlation with another factor (equivalently AVE > every squared correlation)."""

    table: pd.DataFrame
    passed: pd.Series
    max_correlation: pd.Series

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def to_dict(self) -> dict:
        return {"table": self.table.to_dict(orient="index"), "passed": self.passed.to_dict(),
                "max_correlation": self.max_correlation.to_dict()}


def factor_blocks(model: str, data: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """Factor -> indicators from the ``=~`` lines of lavaan syntax (in order); with ``data``, only factors whose
    indicators are all columns of it (the factors item-level statistics such as HTMT apply to)."""
    from ..sem import parse_model

    blocks: dict[str, list[str]] = {}
    for r in parse_model(model):
        if r.op == "=~":
            blocks.setdefault(r.lhs, []).append(r.rhs)
    if data is not None:
        blocks = {f: items for f, items in blocks.items() if all(i in data.columns for i in items)}
    return blocks


def fornell_larcker(ave_by_factor: Mapping[str, float] | pd.Series,
                    factor_correlations: pd.DataFrame) -> FornellLarckerResult:
    """Fornell-Larcker (1981) table: factor correlations (e.g. the standardised latent correlations of a CFA,
    lavInspect(fit, "cor.lv")) off the diagonal and sqrt(AVE) on it (AVE e.g. from :func:`ave` or
    ``semTools::AVE``). Factors are matched by name."""
    ave_s = pd.Series(ave_by_factor, dtype=float) if not isinstance(ave_by_factor, pd.Series) else ave_by_factor
    if not isinstance(factor_correlations, pd.DataFrame):
        raise DataError("factor_correlations must be a DataFrame with factor names as index and columns")
    names = [str(c) for c in factor_correlations.columns]
    if [str(i) for i in factor_correlations.index] != names:
        raise DataError("factor_correlations must have the same factor names, in the same order, as rows and columns")
    missing = [f for f in names if f not in ave_s.index]
    if missing:
        raise DataError(f"no AVE given for factor(s) {missing}", field=missing[0])
    a = ave_s.reindex(names).to_numpy(dtype=float)
    if ((a < 0) | (a > 1)).any():
        raise DataError("AVE values must lie between 0 and 1")
    r = factor_correlations.to_numpy(dtype=float).copy()
    off = r.copy()
    np.fill_diagonal(off, np.nan)
    maxr = np.nanmax(np.abs(off), axis=1) if len(names) > 1 else np.array([np.nan])
    np.fill_diagonal(r, np.sqrt(a))
    table = pd.DataFrame(r, index=names, columns=names)
    passed = pd.Series(np.sqrt(a) > maxr, index=names, name="passed")
    return FornellLarckerResult(table, passed, pd.Series(maxr, index=names, name="max_correlation"))


# ----------------------------------------------------------------------------------------------------------
# cross-loadings
# ----------------------------------------------------------------------------------------------------------
@data_first("blocks", blocks=True)
def cross_loadings(data: pd.DataFrame, blocks: Mapping[str, Iterable[str]], *, corrected: bool = False) -> pd.DataFrame:
    """Correlation of every item with the unit-weighted scale score (item mean) of every factor, on complete
    cases. Columns: one per factor, then ``factor`` (the item's own) and ``own_highest`` (its correlation with
    its own scale exceeds those with all other scales). ``corrected=True`` leaves the item out of its own
    scale score (the corrected item-total correlation), which removes the part-whole inflation."""
    x, bl = blocks_frame(data, blocks, what="cross-loadings")
    x = listwise(x, what="cross-loadings")
    scores = pd.DataFrame({f: block_score(x[its]) for f, its in bl.items()})
    rows = {}
    for f, its in bl.items():
        for c in its:
            row = {g: float(np.corrcoef(x[c], scores[g])[0, 1]) for g in bl}
            if corrected:
                rest = [i for i in its if i != c]
                row[f] = float(np.corrcoef(x[c], block_score(x[rest]))[0, 1]) if rest else float("nan")
            rows[c] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    own = {c: f for f, its in bl.items() for c in its}
    out["factor"] = [own[c] for c in out.index]
    out["own_highest"] = [bool(out.loc[c, own[c]] > max([out.loc[c, g] for g in bl if g != own[c]], default=-np.inf))
                          for c in out.index]
    out.index.name = "item"
    return out


# ----------------------------------------------------------------------------------------------------------
# Harman
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HarmanResult:
    """Share of the total variance (p standardised items) taken by the first unrotated component/factor;
    ``flagged`` when above ``threshold`` (0.50)."""

    share: float
    first_eigenvalue: float
    n_items: int
    method: str
    threshold: float
    flagged: bool
    n_obs: int

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("share", "first_eigenvalue", "n_items", "method", "threshold",
                                              "flagged", "n_obs")}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()], index=["harman"])


def harman_single_factor(data: pd.DataFrame, items: list[str] | None = None, method: str = "pca",
                         threshold: float = 0.50) -> HarmanResult:
    """Harman's single-factor test for common-method variance (Podsakoff et al. 2003).

    ``method="pca"`` (default, as usually reported: SPSS "principal components, unrotated, one factor"):
    share = largest eigenvalue of the pairwise correlation matrix of *all* substantive items / p, which is
    ``psych::principal(data[items], 1)$Vaccounted["Proportion Var", 1]``. ``method="minres"``,
    ``"ml"`` or ``"principal"`` (principal axis) use the sum of squared loadings of an unrotated one-factor
    ``psych::fa`` instead (smaller, as unique variance is excluded). A share above ``threshold`` (0.50) flags
    a likely common-method problem; a share below it does not rule one out.
    """
    x = item_frame(data, items, min_items=3, what="Harman's test")
    r = pairwise_cor(x)
    p = r.shape[0]
    if method == "pca":
        ev = float(eigh_desc(r)[0][0])
    else:
        from .efa import METHOD_ALIASES, factor_solution

        meth = METHOD_ALIASES.get(method)
        if meth is None:
            raise DataError(f"unknown method {method!r}: use 'pca', 'minres', 'ml' or 'principal'", field="method")
        ev = float((factor_solution(r, 1, meth, "none").loadings ** 2).sum())
    share = ev / p
    return HarmanResult(share, ev, p, method, float(threshold), bool(share > threshold), len(x))


# ----------------------------------------------------------------------------------------------------------
# CLF / marker hook
# ----------------------------------------------------------------------------------------------------------
def clf_syntax(blocks: Mapping[str, Iterable[str]], marker: Iterable[str] | None = None,
               method_factor: str = "CMV", equal_loadings: bool = True) -> tuple[str, str]:
    """lavaan syntax of the trait-only CFA and of the same CFA plus a method factor, uncorrelated with the
    traits, loading on every item (and on the ``marker`` items, which load on nothing else: the CFA marker
    technique of Williams, Hartman & Cavazotte 2010). ``equal_loadings`` (default) makes the method loadings
    equal, the usual way to identify a common latent factor (without it such models are often empirically
    under-identified); it is written as loadings fixed at 1 with a free method-factor variance, which is the
    same model as equal free loadings with unit variance. Returns (baseline, with_method_factor)."""
    bl = {f: list(its) for f, its in blocks.items()}
    base = "\n".join(f"{f} =~ " + " + ".join(its) for f, its in bl.items())
    allitems = [c for its in bl.values() for c in its] + list(marker or [])
    terms = [f"1*{c}" if equal_loadings else c for c in allitems]
    lines = [base, f"{method_factor} =~ " + " + ".join(terms)]
    lines += [f"{method_factor} ~~ 0*{f}" for f in bl]
    return base, "\n".join(lines)


def _default_engine() -> Callable[[str, pd.DataFrame], pd.DataFrame]:
    try:
        from ..sem import fit_cfa as sem_fit_cfa
    except ImportError as e:  # pragma: no cover - vccscale.sem ships with the package
        raise ModelError("the common-latent-factor comparison needs a CFA engine: pass fit_cfa(syntax, data) -> "
                         "parameter table (lhs, op, rhs, std_all)") from e
    return lambda syntax, data: sem_fit_cfa(data, syntax).estimates


@data_first("blocks", blocks=True)
def common_latent_factor(data: pd.DataFrame, blocks: Mapping[str, Iterable[str]],
                         fit_cfa: Callable[[str, pd.DataFrame], pd.DataFrame] | None = None, *,
                         marker: Iterable[str] | None = None, threshold: float = 0.20,
                         equal_loadings: bool = True) -> pd.DataFrame:
    """Common-latent-factor (or CFA marker) comparison: standardised loadings without and with a method factor.

    Hook for the CFA engine: ``fit_cfa(syntax, data)`` must fit lavaan-syntax ``syntax`` to ``data`` and
    return its parameter table with columns ``lhs, op, rhs, std_all`` (lavaan::parameterEstimates(fit,
    standardized = TRUE) layout). By default ``vccscale.sem.fit_cfa(data, syntax).estimates`` is used (ML,
    listwise). The models are :func:`clf_syntax`'s. Returns one row per item: ``factor``, ``std_loading``, ``std_loading_clf``,
    ``delta`` (difference) and ``method_loading`` (std. loading on the method factor), ``flagged`` when
    |delta| > ``threshold`` (0.20, a common rule of thumb); ``df.attrs["method_variance"]`` is the mean squared
    method loading (the share of item variance due to the method factor).
    """
    if fit_cfa is None:
        fit_cfa = _default_engine()
    x, bl = blocks_frame(data, blocks, min_per_block=2, what="the CLF comparison")
    extra = [c for c in (marker or []) if c not in x.columns]
    if extra:
        x = pd.concat([x, item_frame(data, extra, min_items=1, what="marker")], axis=1)
    base, clf = clf_syntax(bl, marker, equal_loadings=equal_loadings)
    need = {"lhs", "op", "rhs", "std_all"}
    tabs = []
    for syn in (base, clf):
        t = fit_cfa(syn, x)
        if not isinstance(t, pd.DataFrame) or not need <= set(t.columns):
            raise ModelError(f"fit_cfa must return a DataFrame with columns {sorted(need)}")
        tabs.append(t[t["op"] == "=~"].set_index(["lhs", "rhs"])["std_all"])
    rows = []
    for f, its in bl.items():
        for c in its:
            b0, b1 = float(tabs[0].get((f, c), np.nan)), float(tabs[1].get((f, c), np.nan))
            mload = float(tabs[1].get(("CMV", c), np.nan))
            rows.append({"item": c, "factor": f, "std_loading": b0, "std_loading_clf": b1, "delta": b0 - b1,
                         "method_loading": mload, "flagged": bool(abs(b0 - b1) > threshold)})
    out = pd.DataFrame(rows).set_index("item")
    ml = out["method_loading"].to_numpy()
    out.attrs["method_variance"] = float(np.nanmean(ml ** 2)) if np.isfinite(ml).any() else math.nan
    return out


# ----------------------------------------------------------------------------------------------------------
# HTMT for instruments with versions: each pair on the respondents who answered both
# ----------------------------------------------------------------------------------------------------------
def _htmt_pair_rows(tasks, rule: str, variant: str, absolute: bool) -> list[dict]:
    """The HTMT rows (a, b, htmt, n, note) of pairs ``(a, b, cols, n_items_a, n_items_b, arr)`` (one joblib task;
    one BLAS thread: small matrices)."""
    from threadpoolctl import threadpool_limits

    out = []
    with threadpool_limits(1):
        for a, b, cols, na, nb, arr in tasks:
            arr = arr[~np.isnan(arr).all(axis=1)]  # the respondents: rows that answered an item of the pair
            boot = _boot_rows(arr, rule)
            row = {"a": a, "b": b, "htmt": np.nan, "n": len(boot), "note": ""}
            idx = [np.arange(na), np.arange(na, len(cols))]
            if na < 2 or nb < 2:
                row["note"] = "a construct with one item has no within-construct correlation"
            elif not (np.isfinite(boot[:, idx[0]]).any(axis=1) & np.isfinite(boot[:, idx[1]]).any(axis=1)).any():
                both = int((np.isfinite(arr[:, idx[0]]).any(axis=1) & np.isfinite(arr[:, idx[1]]).any(axis=1)).sum())
                row["n"], row["note"] = 0, "no respondent answered both constructs" if not both else (
                    f"no respondent answered every item of both constructs ({both} answered items of both; "
                    "listwise HTMT uses complete rows only: missing='fiml' uses them all)")
            else:
                try:
                    r, row["n"] = item_cor(arr, cols, rule)
                except DataError as exc:
                    row["note"] = exc.message.removeprefix("HTMT: ")
                else:
                    v = float(htmt_matrix(r, idx, variant, absolute)[0, 1])
                    if np.isfinite(v):
                        row["htmt"] = v
                    else:
                        row["note"] = ("an average within-construct correlation is 0 (two items of one construct "
                                       "correlate exactly 0), and HTMT divides by it")
            out.append(row)
    return out


@data_first("blocks", blocks=True)
def htmt_pairs(data: pd.DataFrame, blocks: Mapping[str, Iterable[str]], variant: str = "htmt2", *,
               absolute: bool = True, missing: str = "listwise", n_boot: int = 0, ci: float = 0.95,
               seed: int | np.random.Generator | None = None, n_jobs: int = 1) -> pd.DataFrame:
    """HTMT of every pair of constructs, each pair on its own rows: ``semTools::htmt`` applied to that pair's data
    (``missing`` as :func:`htmt`). Listwise, a pair uses the rows that answered every item of both; FIML, the rows
    that answered at least one. With respondent versions (provider / customer, stakeholder roles) one matrix over
    all constructs would keep nobody (listwise) or need covariances of items no respondent answered together
    (FIML). A pair whose HTMT is undefined gets NaN and the reason in ``note`` (e.g. no respondent answered both
    constructs, an item without variance, too few complete rows). Columns: a, b, htmt, n (the rows used), and
    ci_lower / ci_upper with ``n_boot`` percentile bootstrap draws (one seeded generator, pairs in order), then
    note. ``n_jobs``: processes for the pairs' correlations (joblib, -1: all cores) from
    :data:`PARALLEL_MIN_PAIRS` pairs on; the results do not depend on it."""
    if variant not in ("htmt2", "htmt"):
        raise DataError(f"unknown HTMT variant {variant!r}: use 'htmt2' or 'htmt'", field="variant")
    rule = missing_rule(missing)
    bl = {str(k): list(v) for k, v in blocks.items()}
    names = list(bl)
    items = list(dict.fromkeys(c for its in bl.values() for c in its))
    num = data[items].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)  # once for all pairs
    pos = {c: k for k, c in enumerate(items)}
    tasks = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            cols = bl[a] + [c for c in bl[b] if c not in bl[a]]
            # column-major, as a frame's numbers (the correlations are then the same to the last bit)
            tasks.append((a, b, cols, len(bl[a]), len(bl[b]), np.asfortranarray(num[:, [pos[c] for c in cols]])))
    batches = ((tasks[k:k + PAIR_BATCH], rule, variant, absolute) for k in range(0, len(tasks), PAIR_BATCH))
    rows = [r for part in run_pair_batches(_htmt_pair_rows, batches, len(tasks), n_jobs) for r in part]
    if n_boot:  # one seeded generator, pairs in order
        rng = rng_from(seed)
        for (a, b, cols, na, nb, arr), row in zip(tasks, rows):
            row.update(ci_lower=np.nan, ci_upper=np.nan)
            if not np.isfinite(row["htmt"]):
                continue
            boot = _boot_rows(arr[~np.isnan(arr).all(axis=1)], rule)
            idx = [np.arange(na), np.arange(na, len(cols))]
            draws = np.array([_htmt_draw(boot[rng.integers(0, len(boot), len(boot))], cols, rule, idx, variant,
                                         absolute)[0, 1] for _ in range(int(n_boot))])
            al = (1 - ci) / 2
            if np.isfinite(draws).any():
                row.update(ci_lower=float(np.nanquantile(draws, al)), ci_upper=float(np.nanquantile(draws, 1 - al)))
    return pd.DataFrame(rows, columns=["a", "b", "htmt", "n"] + (["ci_lower", "ci_upper"] if n_boot else [])
                        + ["note"])


# ----------------------------------------------------------------------------------------------------------
# Common-method checks of an instrument
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommonMethodResult:
    """Harman's single-factor test per construct group and the marker-variable technique (Lindell & Whitney
    2001). ``harman``: one row per group (group, n_items, n, share, flagged). ``marker``: one row per construct (r
    with the marker score, p, n). ``adjusted``: one row per pair of constructs (r, p, r_adjusted, p_adjusted, n);
    ``r_m``: the smallest positive construct-marker correlation, the CMV estimate."""

    harman: pd.DataFrame
    marker: pd.DataFrame | None
    adjusted: pd.DataFrame | None
    r_m: float | None
    marker_items: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One long table: check (harman | marker | adjusted), what, n, value, pvalue, value_adjusted,
        pvalue_adjusted, flagged."""
        rows = [{"check": "harman", "what": r.group, "n": r.n, "value": r.share, "flagged": bool(r.flagged)}
                for r in self.harman.itertuples()]
        if self.marker is not None:
            rows += [{"check": "marker", "what": r.construct, "n": r.n, "value": r.r, "pvalue": r.pvalue}
                     for r in self.marker.itertuples()]
        if self.adjusted is not None:
            rows += [{"check": "adjusted", "what": f"{r.a} ~~ {r.b}", "n": r.n, "value": r.r, "pvalue": r.pvalue,
                      "value_adjusted": r.r_adjusted, "pvalue_adjusted": r.p_adjusted,
                      "flagged": bool(r.pvalue < 0.05 and not r.p_adjusted < 0.05)}
                     for r in self.adjusted.itertuples()]
        return pd.DataFrame(rows, columns=["check", "what", "n", "value", "pvalue", "value_adjusted",
                                           "pvalue_adjusted", "flagged"])

    def headline(self) -> dict:
        out = {"harman_max_share": float(self.harman["share"].max()) if len(self.harman) else None,
               "harman_flagged": list(self.harman.loc[self.harman["flagged"], "group"]) if len(self.harman) else [],
               "marker": bool(self.marker is not None), "r_m": self.r_m}
        if self.adjusted is not None and len(self.adjusted):
            sig = self.adjusted["pvalue"] < 0.05
            out.update(correlations_significant=int(sig.sum()),
                       significant_after_adjustment=int((sig & (self.adjusted["p_adjusted"] < 0.05)).sum()))
        return out

    def to_dict(self) -> dict:
        return {"harman": self.harman.to_dict(orient="records"),
                "marker": None if self.marker is None else self.marker.to_dict(orient="records"),
                "adjusted": None if self.adjusted is None else self.adjusted.to_dict(orient="records"),
                "r_m": self.r_m, "marker_items": list(self.marker_items), "notes": list(self.notes)}


def _r_p(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    from ..sem._dist import t_sf

    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 4 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return np.nan, np.nan, n
    r = float(np.corrcoef(x[ok], y[ok])[0, 1])
    t = r * math.sqrt((n - 2) / max(1 - r * r, 1e-300))
    return r, float(2 * t_sf(abs(t), n - 2)), n


@data_first("blocks", blocks=True)
def common_method(data: pd.DataFrame, blocks: Mapping[str, Iterable[str]], by: str | None = None, *,
                  marker: Iterable[str] | None = None, min_answered: float = 0.5,
                  threshold: float = 0.50) -> CommonMethodResult:
    """Common-method checks for an instrument (Podsakoff et al. 2003):

    * Harman's single-factor test (:func:`harman_single_factor`, principal components) on all substantive items,
      within each value of ``by`` (e.g. the questionnaire version: the items its respondents answered), or on all
      rows when ``by`` is None; a first component above ``threshold`` of the variance is flagged (a share below it
      does not rule CMV out).
    * With ``marker`` items (a theoretically unrelated marker variable the instrument collects): the
      correlation-based marker technique of Lindell & Whitney (2001). Scale scores are item means when at least
      ``min_answered`` of the items are answered. r_M = the smallest positive correlation of the marker score with
      a construct score (their conservative estimate of common-method variance); every construct correlation
      r_U is adjusted to r_A = (r_U - r_M) / (1 - r_M) and tested by t = r_A sqrt((n - 3) / (1 - r_A^2)) on
      n - 3 df. Correlations that are significant before but not after the adjustment are flagged."""
    from ..sem._dist import t_sf

    bl = {str(k): list(v) for k, v in blocks.items()}
    notes: list[str] = []
    hrows = []
    all_items = [i for its in bl.values() for i in its]
    parts = ([(f"{by} = {v}", data[data[by].astype(str) == v]) for v in sorted(data[by].dropna().astype(str).unique())]
             if by is not None and by in data.columns else [("all respondents", data)])
    for gname, part in parts:
        its = [i for i in all_items if part[i].notna().any()]
        if len(its) < 3:
            continue
        sub = part.loc[part[its].notna().any(axis=1), its]
        its = [i for i in its if sub[i].notna().sum() > 2 and sub[i].std() > 0]
        try:
            h = harman_single_factor(sub, its, threshold=threshold)
        except (DataError, np.linalg.LinAlgError, ValueError) as exc:
            notes.append(f"Harman's test of {gname}: {exc}")
            continue
        hrows.append({"group": gname, "n_items": len(its), "n": h.n_obs, "share": h.share, "flagged": h.flagged})
    harman = pd.DataFrame(hrows, columns=["group", "n_items", "n", "share", "flagged"])
    if len(harman) and harman["flagged"].any():
        notes.append("Harman's single factor takes more than half of the item variance in: "
                     + ", ".join(harman.loc[harman["flagged"], "group"]))
    mk = [m for m in (marker or []) if m in data.columns]
    if not mk:
        notes.append("no marker variable in the data: the marker-variable technique was not applied (add the "
                     "'marker' block to instrument.blocks to collect one)")
        return CommonMethodResult(harman, None, None, None, (), tuple(notes))

    def score(items: list[str]) -> np.ndarray:
        return block_score(data[items], min_answered).to_numpy(dtype=float)

    ms = score(mk)
    scores = {c: score(its) for c, its in bl.items()}
    mrows = []
    for c, sc in scores.items():
        r, p, n = _r_p(sc, ms)
        mrows.append({"construct": c, "r": r, "pvalue": p, "n": n})
    mtab = pd.DataFrame(mrows, columns=["construct", "r", "pvalue", "n"])
    pos = mtab["r"][mtab["r"] > 0]
    r_m = float(pos.min()) if len(pos) else 0.0
    arows = []
    names = list(scores)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            r, p, n = _r_p(scores[a], scores[b])
            ra = pa = np.nan
            if np.isfinite(r) and n > 3:
                ra = (r - r_m) / (1 - r_m)
                t = ra * math.sqrt((n - 3) / max(1 - ra * ra, 1e-300))
                pa = float(2 * t_sf(abs(t), n - 3))
            arows.append({"a": a, "b": b, "r": r, "pvalue": p, "r_adjusted": ra, "p_adjusted": pa, "n": n})
    adj = pd.DataFrame(arows, columns=["a", "b", "r", "pvalue", "r_adjusted", "p_adjusted", "n"])
    lost = adj[(adj["pvalue"] < 0.05) & ~(adj["p_adjusted"] < 0.05)]
    notes.append(f"marker variable ({len(mk)} items): r_M = {r_m:.3f}; {len(lost)} of "
                 f"{int((adj['pvalue'] < 0.05).sum())} significant construct correlations lose significance after "
                 "the Lindell-Whitney adjustment")
    return CommonMethodResult(harman, mtab, adj, r_m, tuple(mk), tuple(notes))


__all__ = [
    "CommonMethodResult",
    "FornellLarckerResult",
    "HTMTResult",
    "HarmanResult",
    "clf_syntax",
    "common_latent_factor",
    "cross_loadings",
    "factor_blocks",
    "fornell_larcker",
    "common_method",
    "harman_single_factor",
    "htmt",
    "htmt_pairs",
    "pair_dict",
]
