"""Careless-responding (insufficient effort) indices, as pure functions of an item-response matrix.

Every function takes a numeric 2-D array or a pandas DataFrame of item responses: rows are respondents,
columns are items *in the order given* (order matters for longstring, IRV splits and even-odd), NaN (or
pandas NA) is a missing response. Each returns one value per respondent: a numpy array for array input, a
pandas Series (or DataFrame) on the input's index for DataFrame input. Nothing is reverse-keyed here: the
indices are computed on the responses as given, as the R package ``careless`` does.

The definitions follow the R package careless (Yentes & Wilhelm, version >= 1.2.0, the current CRAN release)
and ``psych::outlier`` line by line, including their missing-data rules; each docstring names the call it
matches. They are checked against a base-R transcription of that logic (tests/reference/careless_reference.R)
to 1e-6. Person-total correlation (Curran, 2016) has no careless function; ``default_flags`` is this
package's a-priori screening rule (see its docstring).

References: Curran (2016) J. Exp. Soc. Psychol. 66, 4-19; Johnson (2005) J. Res. Pers. 39, 103-129;
Meade & Craig (2012) Psychol. Methods 17, 437-455; Dunn et al. (2018) J. Bus. Psychol. 33, 105-121;
Marjanovic et al. (2015) Pers. Individ. Differ. 84, 79-83.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = ["longstring", "longstring_by_block", "irv", "mahalanobis_d2", "mahalanobis_flag", "even_odd",
           "person_total", "psychsyn", "missing_share", "default_flags", "DEFAULT_THRESHOLDS",
           "DEFAULT_ANY"]


# ----------------------------------------------------------------------------------------------------------
# input / output helpers

def _matrix(x: Any) -> tuple[np.ndarray, Any]:
    """(float matrix with NaN for missing, index or None). A DataFrame keeps its index for the result."""
    index = None
    if hasattr(x, "to_numpy") and hasattr(x, "columns"):  # pandas DataFrame
        index = x.index
        try:
            m = x.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise DataError(f"item responses must be numeric: {exc}") from None
    else:
        try:
            m = np.array(x, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(f"item responses must be numeric: {exc}") from None
    if m.ndim != 2:
        raise DataError(f"item responses must be a 2-D matrix (rows = respondents), got {m.ndim} dimension(s)")
    if m.shape[1] == 0:
        raise DataError("item responses have no columns")
    return m, index


def _out(values: np.ndarray, index: Any, name: str):
    if index is None:
        return values
    import pandas as pd

    return pd.Series(values, index=index, name=name)


def _frame(columns: dict[str, np.ndarray], index: Any):
    import pandas as pd

    return pd.DataFrame(columns, index=index)


def _row_pearson(a: np.ndarray, b: np.ndarray, min_n: int = 2) -> np.ndarray:
    """Row-wise Pearson correlation of a and b over the columns where both are observed (R's
    ``cor(a, b, use = "pairwise.complete.obs")``): NaN when fewer than ``min_n`` such columns or when
    either side is constant on them (R returns NA with a 'standard deviation is zero' warning)."""
    ok = ~(np.isnan(a) | np.isnan(b))
    n = ok.sum(axis=1)
    a0 = np.where(ok, a, 0.0)
    b0 = np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = a0.sum(axis=1) / n
        mb = b0.sum(axis=1) / n
        da = np.where(ok, a - ma[:, None], 0.0)
        db = np.where(ok, b - mb[:, None], 0.0)
        sab = (da * db).sum(axis=1)
        saa = (da * da).sum(axis=1)
        sbb = (db * db).sum(axis=1)
        r = sab / np.sqrt(saa * sbb)
    # exact constancy (all observed values equal), not a floating-point near-zero variance
    amax = np.where(ok, a, -np.inf).max(axis=1, initial=-np.inf)
    amin = np.where(ok, a, np.inf).min(axis=1, initial=np.inf)
    bmax = np.where(ok, b, -np.inf).max(axis=1, initial=-np.inf)
    bmin = np.where(ok, b, np.inf).min(axis=1, initial=np.inf)
    bad = (n < min_n) | (amax == amin) | (bmax == bmin)
    r = np.clip(r, -1.0, 1.0)
    r[bad] = np.nan
    return r


def _pairwise_cov(m: np.ndarray, corr: bool = False) -> np.ndarray:
    """R's ``cov(x, use = "pairwise")`` / ``cor(x, use = "pairwise.complete.obs")``: each entry from the rows
    where both columns are observed, with means (and, for cor, SDs) taken over those same rows; divisor n-1.
    NaN where fewer than 2 such rows (or, for cor, a zero SD)."""
    p = m.shape[1]
    obs = ~np.isnan(m)
    out = np.full((p, p), np.nan)
    for j in range(p):
        for k in range(j, p):
            both = obs[:, j] & obs[:, k]
            n = int(both.sum())
            if n < 2:
                continue
            a = m[both, j] - m[both, j].mean()
            b = m[both, k] - m[both, k].mean()
            v = float(a @ b) / (n - 1)
            if corr:
                den = np.sqrt(float(a @ a) * float(b @ b)) / (n - 1)
                v = v / den if den > 0 else np.nan
            out[j, k] = out[k, j] = v
    return out


# ----------------------------------------------------------------------------------------------------------
# longstring

def _runs(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(longest run, number of runs) per row; a run is a maximal stretch of equal consecutive values, and every
    NaN is a run of length 1 of its own (R's ``rle``: NA != anything is NA, which ends a run)."""
    n, p = m.shape
    same = m[:, 1:] == m[:, :-1]          # NaN compares False: NA breaks runs, NA,NA are two runs
    longest = np.ones(n, dtype=int)
    current = np.ones(n, dtype=int)
    for j in range(p - 1):
        current = np.where(same[:, j], current + 1, 1)
        np.maximum(longest, current, out=longest)
    n_runs = 1 + (~same).sum(axis=1)
    return longest, n_runs


def longstring(x: Any, avg: bool = False):
    """Longstring: length of the longest run of identical consecutive responses in each row.

    Matches ``careless::longstring(x, avg)``, which applies ``rle()`` to each row and returns
    ``max(lengths)`` (and, with ``avg = TRUE``, ``mean(lengths)``). NA rule exactly as ``rle``: a missing
    response never equals its neighbours, so NA breaks a run and each NA counts as a run of length 1 (also in
    the average), e.g. ``[1, 1, 1, 2, NA, 2]`` has runs 3, 1, 1, 1: longstring 3, average 1.5. A row that is
    all NA has longstring 1.

    ``avg=False``: integer longest run per row. ``avg=True``: the *mean* run length per row
    (= number of items / number of runs), as float. (careless returns both columns for ``avg = TRUE``; call
    twice for both.)
    """
    m, index = _matrix(x)
    longest, n_runs = _runs(m)
    if avg:
        return _out(m.shape[1] / n_runs, index, "longstring_avg")
    return _out(longest, index, "longstring")


def _block_columns(x: Any, block: Sequence, n_cols: int) -> list[int]:
    cols = list(block)
    if not cols:
        raise DataError("a block of items is empty")
    if hasattr(x, "columns"):
        labels = list(x.columns)
        if all(c in labels for c in cols):
            return [labels.index(c) for c in cols]
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in cols):
        if min(cols) < 0 or max(cols) >= n_cols:
            raise DataError(f"block column position out of range 0..{n_cols - 1}: {cols}")
        return [int(c) for c in cols]
    raise DataError(f"block columns not found among the item columns: {cols}")


def longstring_by_block(x: Any, blocks: Sequence[Sequence]):
    """Block-wise longstring: the maximum over blocks of ``longstring`` computed within each block.

    ``blocks`` is a list of column lists (column labels of a DataFrame, or 0-based positions), each in
    presentation order, typically one per page or scale. Equivalent to
    ``do.call(pmax, lapply(blocks, function(b) careless::longstring(x[, b])))``. Runs do not continue across
    block boundaries; NA breaks runs as in ``longstring``.
    """
    m, index = _matrix(x)
    if not blocks:
        raise DataError("no blocks given")
    best = np.zeros(m.shape[0], dtype=int)
    for block in blocks:
        cols = _block_columns(x, block, m.shape[1])
        best = np.maximum(best, _runs(m[:, cols])[0])
    return _out(best, index, "longstring_block")


# ----------------------------------------------------------------------------------------------------------
# IRV

def _row_sd(m: np.ndarray, na_rm: bool) -> np.ndarray:
    """R's ``sd(row, na.rm)``: divisor n-1 over the observed values, NA when fewer than 2 (or, without na.rm,
    when any value is missing)."""
    obs = ~np.isnan(m)
    n = obs.sum(axis=1)
    m0 = np.where(obs, m, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = m0.sum(axis=1) / n
        ss = (np.where(obs, m - mean[:, None], 0.0) ** 2).sum(axis=1)
        sd = np.sqrt(ss / (n - 1))
    sd[n < 2] = np.nan
    if not na_rm:
        sd[n < m.shape[1]] = np.nan
    return sd


def _cut_groups(p: int, k: int) -> np.ndarray:
    """Group (1..k) of items 1..p as R's ``cut(seq_len(p), k, labels = FALSE)``: k equal-width right-closed
    intervals over [1, p], the outer breaks widened by (p-1)/1000."""
    pos = np.arange(1, p + 1, dtype=float)
    if p == 1:
        return np.ones(1, dtype=int)
    by = (p - 1) / k
    breaks = 1.0 + np.arange(k + 1) * by
    breaks[0], breaks[-1] = 1.0 - (p - 1) / 1000, p + (p - 1) / 1000
    return np.searchsorted(breaks, pos, side="left")  # right-closed: b[g-1] < pos <= b[g]


def irv(x: Any, na_rm: bool = True, split: bool = False, num_split: int = 3):
    """Intra-individual response variability (IRV; Dunn et al., 2018; also inter-item SD, Marjanovic et al.,
    2015): the standard deviation (divisor n-1) of each respondent's responses across the items.

    Matches ``careless::irv(x, na.rm = TRUE, split = FALSE, num.split = 3)`` (careless >= 1.2), i.e.
    ``apply(x, 1, sd, na.rm = na.rm)``: with ``na_rm=True`` over the answered items (NA when fewer than 2
    answered), with ``na_rm=False`` NA for any row with a missing response. Low values suggest
    straight-lining, high values random responding.

    ``split=True`` returns a DataFrame with ``irvTotal`` and ``irv1`` .. ``irv<num_split>``, the IRV within
    consecutive chunks of items formed as careless does, ``cut(seq_along(items), num_split, labels = FALSE)``
    (equal-width intervals of item positions, right-closed), e.g. 10 items in 3 chunks: 1-4, 5-7, 8-10.
    """
    m, index = _matrix(x)
    total = _row_sd(m, na_rm)
    if not split:
        return _out(total, index, "irv")
    p = m.shape[1]
    if not 1 <= num_split <= p:
        raise DataError(f"num_split must be between 1 and the number of items ({p}), got {num_split}")
    groups = _cut_groups(p, num_split)
    cols = {"irvTotal": total}
    for g in range(1, num_split + 1):
        cols[f"irv{g}"] = _row_sd(m[:, groups == g], na_rm)
    return _frame(cols, index if index is not None else np.arange(m.shape[0]))


# ----------------------------------------------------------------------------------------------------------
# Mahalanobis D²

def mahalanobis_d2(x: Any, na_rm: bool = True, method: Literal["psych", "complete"] = "psych"):
    """Squared Mahalanobis distance D² of each respondent from the sample centroid.

    ``method="psych"`` (default) matches ``careless::mahad(x, plot = FALSE)``, which calls
    ``psych::outlier(x, na.rm = TRUE)``; that function does *not* drop incomplete rows:

    - covariance S = ``cov(x, use = "pairwise")`` (each entry over the rows where both items are observed,
      divisor n-1), inverted whole (``solve(S)``);
    - centre = column means over the available responses (``scale(x, scale = FALSE)``);
    - D²_i = sum over the *observed* items j, k of c_ij (S⁻¹)_jk c_ik, with c the centred responses (psych's
      ``colSums(..., na.rm = TRUE)`` / ``rowSums(..., na.rm = TRUE)``). For a complete row this is the usual
      (x_i - m)' S⁻¹ (x_i - m); for an incomplete row it is the quadratic form in the observed part with the
      sub-block of the *full* inverse (not the inverse of the observed sub-block), so it is not chi-square
      with the number of observed items as df and tends to be smaller.
    - rows with every item missing are dropped before the computation and get NA (careless::mahad).

    ``na_rm=False`` raises if any response is missing (careless: "Some values are NA").

    ``method="complete"``: complete cases only, NA for every incomplete row; centre = column means and S =
    sample covariance (n-1) of the complete rows (= ``stats::mahalanobis(x[cc, ], colMeans(x[cc, ]),
    cov(x[cc, ]))``). Without missing data both methods agree.

    A singular covariance matrix (e.g. an item without variance) raises DataError, as ``solve`` errors in R.
    """
    m, index = _matrix(x)
    n, p = m.shape
    miss = np.isnan(m)
    if not na_rm and miss.any():
        raise DataError("some responses are missing; Mahalanobis D² not computed (use na_rm=True)")
    d2 = np.full(n, np.nan)
    if method == "psych":
        keep = ~miss.all(axis=1)
        sub = m[keep]
        cov = _pairwise_cov(sub)
        centre = np.nanmean(sub, axis=0) if len(sub) else np.full(p, np.nan)
    elif method == "complete":
        keep = ~miss.any(axis=1)
        sub = m[keep]
        if len(sub) < 2:
            raise DataError("fewer than 2 complete rows: covariance matrix not computable")
        cov = np.cov(sub, rowvar=False, ddof=1).reshape(p, p)
        centre = sub.mean(axis=0)
    else:
        raise ValueError(f"method must be 'psych' or 'complete', got {method!r}")
    if np.isnan(cov).any():
        raise DataError("covariance matrix has undefined entries (item pairs answered together by fewer than 2 "
                        "respondents)")
    # R's solve() refuses when the reciprocal condition number (1-norm) is below machine epsilon
    with np.errstate(all="ignore"):
        singular = not np.isfinite(cond := np.linalg.cond(cov, 1)) or cond * np.finfo(float).eps > 1
    if singular:
        raise DataError("covariance matrix of the items is singular (an item without variance, or linearly "
                        "dependent items); Mahalanobis D² not computable")
    inv = np.linalg.inv(cov)
    c = np.nan_to_num(sub - centre, nan=0.0)    # missing deviations contribute nothing (psych's na.rm sums)
    d2[keep] = np.einsum("ij,jk,ik->i", c, inv, c)
    return _out(d2, index, "mahalanobis")


def mahalanobis_flag(d2: Any, df: int, confidence: float = 0.99):
    """Flag D² above the chi-square quantile: ``d2 > qchisq(confidence, df)``, with df = the number of items.

    As ``careless::mahad(flag = TRUE, confidence)`` in careless >= 1.2 (which uses ``ncol(x)`` as df; older
    releases wrongly used the number of respondents). NaN D² gives False here (careless gives NA).
    Returns a boolean array, or a Series for Series input.
    """
    from ..sem._dist import chi2_ppf

    if df < 1:
        raise ValueError("df must be >= 1")
    cut = float(chi2_ppf(confidence, df))
    if hasattr(d2, "to_numpy") and hasattr(d2, "index"):
        import pandas as pd

        vals = d2.to_numpy(dtype=float, na_value=np.nan)
        return pd.Series(np.nan_to_num(vals, nan=-np.inf) > cut, index=d2.index, name="mahalanobis_flag")
    vals = np.asarray(d2, dtype=float)
    return np.nan_to_num(vals, nan=-np.inf) > cut


# ----------------------------------------------------------------------------------------------------------
# even-odd consistency

def even_odd(x: Any, factors: Sequence[int], diag: bool = False):
    """Even-odd consistency (Johnson, 2005) in the orientation of careless >= 1.2.0: higher = more careless.

    Matches ``careless::evenodd(x, factors, diag)`` for a data.frame ``x``:

    1. ``factors`` gives the number of items of each scale, in column order (the first ``sum(factors)``
       columns are used; a warning if that is fewer than all columns; an error for a single factor or if the
       lengths exceed the columns).
    2. Within each scale, the mean of the even-numbered items (2nd, 4th, ... within the scale) and the mean of
       the odd-numbered ones (1st, 3rd, ...), each ``mean(..., na.rm = TRUE)`` over the answered items (NaN
       when none answered, e.g. the even half of a one-item scale).
    3. r = Pearson correlation, across scales, of the even and odd half-means, ``cor(use =
       "pairwise.complete.obs")``: scales with a NaN half are dropped. careless sets no minimum: 2 usable
       scales give r = +-1, fewer than 2 give NA; NA also when the even or odd means do not vary.
    4. Spearman-Brown step, applied by careless: r_sb = 2r / (1 + r), set to -1 when below -1
       (every r <= -1/3 becomes -1).
    5. Returned value = -r_sb, so it runs from -1 (perfectly consistent) to +1.

    Johnson's (2005) "consistency below .30" is therefore ``even_odd > -0.30``.
    ``diag=True`` returns a DataFrame with ``even_odd`` and ``n_pairs``, the number of scales with both halves
    available (careless's ``eo_missing`` column, which counts available, not missing, pairs).

    Note: careless::evenodd needs a data.frame; given a plain matrix its ``colnames(s)`` is NULL and it
    silently uses only the first two items of each scale. This function implements the intended (data.frame)
    behaviour for any input.
    """
    m, index = _matrix(x)
    factors = [int(f) for f in factors]
    if len(factors) == 1:
        raise DataError("even-odd needs at least two factors (scales)")
    if any(f < 1 for f in factors):
        raise DataError(f"factor lengths must be positive, got {factors}")
    if sum(factors) > m.shape[1]:
        raise DataError(f"the factor lengths ({sum(factors)} items) exceed the number of columns ({m.shape[1]})")
    if sum(factors) != m.shape[1]:
        warnings.warn(f"the factor lengths cover {sum(factors)} of {m.shape[1]} columns; the rest are ignored",
                      stacklevel=2)
    n = m.shape[0]
    even = np.full((n, len(factors)), np.nan)
    odd = np.full((n, len(factors)), np.nan)
    start = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of empty slice -> NaN, as R's NaN
        for j, length in enumerate(factors):
            block = m[:, start:start + length]
            start += length
            if block[:, 1::2].shape[1]:
                even[:, j] = np.nanmean(block[:, 1::2], axis=1)
            odd[:, j] = np.nanmean(block[:, 0::2], axis=1)
    r = _row_pearson(even, odd, min_n=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        sb = 2 * r / (1 + r)
    sb = np.where(sb < -1, -1.0, sb)         # NaN stays NaN; r = -1 gives -inf -> -1
    eo = -sb
    if diag:
        n_pairs = (~(np.isnan(even) | np.isnan(odd))).sum(axis=1)
        return _frame({"even_odd": eo, "n_pairs": n_pairs}, index if index is not None else np.arange(n))
    return _out(eo, index, "even_odd")


# ----------------------------------------------------------------------------------------------------------
# person-total correlation

def person_total(x: Any):
    """Person-total correlation (Curran, 2016): for each respondent, the Pearson correlation, across items, of
    the respondent's responses with the item means of all *other* respondents (leave-one-out means).

    Only the items the respondent answered enter, and of those only items that at least one other respondent
    answered. NaN when fewer than 2 such items or when the respondent's responses (or the leave-one-out
    means) are constant on them, e.g. a straight-liner. careless has no function for this index; the R
    reference computes ``cor(x[i, ], colMeans(x[-i, ], na.rm = TRUE), use = "pairwise.complete.obs")``.
    Low or negative values indicate responses unlike the sample's item profile (e.g. random responding);
    items are not reverse-keyed, so reverse-keyed items help separate attentive from careless respondents.
    """
    m, index = _matrix(x)
    obs = ~np.isnan(m)
    total = np.where(obs, m, 0.0).sum(axis=0)
    count = obs.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = (total[None, :] - np.where(obs, m, 0.0)) / (count[None, :] - 1)
    loo[~obs] = np.nan
    loo[:, count < 2] = np.nan  # nobody else answered the item
    return _out(_row_pearson(np.where(np.isnan(loo), np.nan, m), loo), index, "person_total")


# ----------------------------------------------------------------------------------------------------------
# psychometric synonyms / antonyms

def psychsyn(x: Any, critval: float = 0.60, anto: bool = False, diag: bool = False):
    """Psychometric synonyms (or antonyms) score (Meade & Craig, 2012).

    Matches ``careless::psychsyn(x, critval, anto, resample_na = FALSE)``:

    1. item pairs = pairs of distinct items whose sample correlation ``cor(x, use = "pairwise.complete.obs")``
       exceeds ``critval`` (``anto=True``: is below ``-critval``; ``critval`` is taken as ``abs``). None found
       raises DataError (careless stops with "No Psychometric Synonyms found.").
    2. per respondent: the Pearson correlation, across those pairs, of the response to the one item with the
       response to the other, over the pairs with both responses present; NA unless more than 2 such pairs,
       and NA when either side is constant (e.g. a straight-liner).

    Attentive respondents score high (synonyms) or strongly negative (antonyms). careless's default
    ``resample_na = TRUE`` retries an NA result up to 10 times after randomly swapping the items within pairs;
    that randomised step is not reproduced (the result stays NaN). ``diag=True`` returns a DataFrame with
    ``n_pairs`` (careless's ``numPairs``) and ``psychsyn``.
    """
    m, index = _matrix(x)
    crit = abs(float(critval))
    corr = _pairwise_cov(m, corr=True)
    lower = np.tril(np.ones_like(corr, dtype=bool), k=-1)
    with np.errstate(invalid="ignore"):
        hit = lower & ((corr < -crit) if anto else (corr > crit))
    # careless orders pairs column-major (as.table of the lower triangle); the order does not change r
    rows, cols = np.nonzero(hit.T)
    first, second = cols, rows                 # (Var1 = row item, Var2 = column item) of the lower triangle
    if len(first) == 0:
        raise DataError(f"no psychometric {'antonyms' if anto else 'synonyms'} found at critval {crit}")
    a, b = m[:, first], m[:, second]
    n_pairs = (~(np.isnan(a) | np.isnan(b))).sum(axis=1)
    r = _row_pearson(a, b, min_n=3)
    if diag:
        return _frame({"n_pairs": n_pairs, "psychsyn": r}, index if index is not None else np.arange(m.shape[0]))
    return _out(r, index, "psychsyn")


# ----------------------------------------------------------------------------------------------------------
# missing share

def missing_share(x: Any):
    """Share of items missing per respondent (0 = complete, 1 = nothing answered); ``rowMeans(is.na(x))``."""
    m, index = _matrix(x)
    return _out(np.isnan(m).mean(axis=1), index, "missing_share")


# ----------------------------------------------------------------------------------------------------------
# default screening rule

DEFAULT_THRESHOLDS: dict[str, float] = {
    "longstring_block_share": 0.5,   # longest run within a block > half the block's items ...
    "longstring_min_run": 10,        # ... and at least 10 answers long (short blocks cannot flag on their own)
    "mahalanobis_confidence": 0.999,  # D² > chi-square(.999, df = number of items)
    "irv_low": 0.0,                  # IRV == 0: no variation at all across the answered items
    "even_odd_max": -0.30,           # even-odd > -.30, i.e. consistency below .30 (Johnson, 2005)
    "even_odd_min_factors": 6,       # ... only computed with at least 6 scales
    "person_total_max": 0.0,         # person-total correlation < 0 (Curran, 2016)
    "missing_share_max": 0.5,        # more than half of the items missing
}


DEFAULT_ANY: tuple[str, ...] = ("longstring", "mahalanobis", "irv_low", "even_odd", "missing")


def default_flags(x: Any, blocks: Sequence[Sequence] | None, factors: Sequence[int] | None,
                  thresholds: dict[str, float] | None = None, any_of: Sequence[str] | None = None):
    """Default careless-responding flags: a DataFrame of booleans, one column per rule plus ``any``.

    Rules (thresholds fixed from the literature before any simulation; override via ``thresholds`` with the
    keys of ``DEFAULT_THRESHOLDS``):

    - ``longstring``: within some block, a run of identical consecutive responses longer than half the
      block's items and at least ``longstring_min_run`` (10) answers long (in short blocks of 4-6 items an
      attentive respondent with a clear opinion often repeats an answer 3 times; a run of 10 identical answers
      is the lower end of Johnson's (2005) cut-offs) (``longstring_by_block`` logic, each block judged against
      its own length: run > 0.5 *
      block length; Johnson, 2005, and Curran, 2016, use cut-offs of about half a scale/page).
      ``blocks=None`` treats all items as one block.
    - ``mahalanobis``: D² (``mahalanobis_d2``, psych/careless method) > chi-square quantile .999 with df =
      number of items (``mahalanobis_flag``; a conservative p < .001 cut-off as in Meade & Craig, 2012).
    - ``irv_low``: IRV = 0 over the answered items (at least 2), the exact form of Dunn et al.'s (2018) "low
      IRV" that needs no sample-dependent cut-off. High IRV (Marjanovic et al., 2015) has no a-priori cut-off
      and is left to Mahalanobis D².
    - ``even_odd``: even-odd > -0.30, i.e. Spearman-Brown corrected even-odd consistency below .30 (Johnson,
      2005). Only with at least 6 scales (``even_odd_min_factors``): with fewer, the within-person correlation
      rests on too few half-scale pairs (with 3 it is nearly always +-1 after Spearman-Brown; careless warns
      likewise), and the column is all False. NaN (e.g. constant half means) is not flagged.
    - ``person_total``: person-total correlation < 0 (Curran, 2016). Reported, but *not* part of ``any`` by
      default: on raw data with un-reversed reverse-keyed items the sample's item-mean profile is largely the
      keying pattern, so attentive respondents with low trait levels correlate negatively with it (12-17 % of
      attentive respondents below 0 in the exploration runs). Pass ``any_of`` to include it.
    - ``missing``: more than half of the items missing (``missing_share``).
    - ``any``: at least one of the rules in ``any_of`` (default ``DEFAULT_ANY``: longstring, mahalanobis,
      irv_low, even_odd, missing).

    Validation (tests/test_screen_detection.py): 400 attentive respondents from a 3-factor model (factor
    correlations .3, loadings .7, item intercepts so that item means differ), 30 seven-point items in 3 scales
    of 10 with 2 reverse-keyed items per scale left un-reversed, plus 20 straight-liners (one random value for
    all items) and 20 uniform random responders. The thresholds were not tuned; the only decision informed by
    simulation, leaving person-total out of ``any``, was made on exploration seeds 1-40 (injected cases
    flagged: 92.5-100 %, mean 98.9 %; attentive flagged: at most 3.5 %, mean 2.0 %), never on the test seed
    20240611.
    """
    import pandas as pd

    t = dict(DEFAULT_THRESHOLDS)
    if thresholds:
        unknown = set(thresholds) - set(t)
        if unknown:
            raise ValueError(f"unknown threshold(s): {sorted(unknown)}")
        t.update(thresholds)
    m, index = _matrix(x)
    if index is None:
        index = pd.RangeIndex(m.shape[0])
    n, p = m.shape
    col_blocks: list[list[int]] = ([list(range(p))] if not blocks
                                   else [_block_columns(x, b, p) for b in blocks])

    ls_flag = np.zeros(n, dtype=bool)
    for cols in col_blocks:
        run = _runs(m[:, cols])[0]
        ls_flag |= (run > t["longstring_block_share"] * len(cols)) & (run >= t["longstring_min_run"])

    d2 = mahalanobis_d2(m)
    md_flag = mahalanobis_flag(d2, df=p, confidence=t["mahalanobis_confidence"])

    sd = _row_sd(m, na_rm=True)
    irv_flag = np.nan_to_num(sd, nan=np.inf) <= t["irv_low"]

    eo_flag = np.zeros(n, dtype=bool)
    if factors is not None and len(factors) >= t["even_odd_min_factors"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eo = even_odd(m, factors)
        eo_flag = np.nan_to_num(eo, nan=-np.inf) > t["even_odd_max"]

    pt = person_total(m)
    pt_flag = np.nan_to_num(pt, nan=np.inf) < t["person_total_max"]

    ms_flag = missing_share(m) > t["missing_share_max"]

    out = pd.DataFrame({"longstring": ls_flag, "mahalanobis": md_flag, "irv_low": irv_flag, "even_odd": eo_flag,
                        "person_total": pt_flag, "missing": ms_flag}, index=index)
    rules = list(DEFAULT_ANY if any_of is None else any_of)
    unknown = set(rules) - set(out.columns)
    if unknown:
        raise ValueError(f"unknown rule(s) in any_of: {sorted(unknown)}")
    out["any"] = out[rules].any(axis=1) if rules else False
    return out
