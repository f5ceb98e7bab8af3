"""Dyadic data: provider-customer pairs as distinguishable dyads (Kenny, Kashy & Cook 2006).

Issue 8, item 3. Four steps, each usable on its own:

* :func:`pair_dyads` -- long frame (``Dataset.to_long()``: one row per respondent version, a ``perspective``
  column) -> one row per dyad with side-suffixed columns (``scale_provider``, ``scale_customer``). Nothing is
  dropped silently: respondents without a partner, dyads with several respondents on one side, rows without a
  dyad id and rows of other perspectives are returned in :attr:`PairedDyads.report`.
* :func:`agreement` -- within-dyad agreement of the two sides on the same item or scale: Pearson r across dyads,
  the paired mean difference (paired t test, Cohen's d_z) and the distribution of the absolute difference.
  Provider and customer are *distinguishable* members, so the exchangeable-dyad ICC is not reported: it would
  pool two different means and variances.
* :func:`congruence_rsa` -- whether (dis)agreement matters for an outcome, via polynomial regression and
  response surface analysis (:func:`vccscale.models.rsa.rsa`) instead of a regression on ``P - C``
  (Edwards 1994; construct map H14, H27).
* :func:`apim` -- the actor-partner interdependence model for distinguishable dyads as an SEM on the pair data,
  fitted with :func:`vccscale.sem.fit_sem` (lavaan parity), observed or latent (items per side).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, ModelError
from ..sem._dist import norm_ppf, t_ppf, t_sf

__all__ = [
    "DUPLICATE_RULES",
    "ApimResult",
    "PairedDyads",
    "PairingReport",
    "agreement",
    "apim",
    "apim_syntax",
    "congruence_rsa",
    "pair_dyads",
]

DEFAULT_SIDES = ("provider", "customer")
DUPLICATE_RULES = ("average", "first")
# id / bookkeeping columns of Dataset.to_long() that are never paired as variables
_ID_COLUMNS = ("response_id", "organisation_id", "relationship_id", "side", "stakeholder_role",
               "invite_organisation_id", "invite_dyad_id", "invite_side")
_IDENT = re.compile(r"^[A-Za-z.][A-Za-z0-9._]*$")


# ====================================================================== pairing
@dataclass
class PairingReport:
    """What :func:`pair_dyads` did with every respondent row that did not pair one-to-one.

    Attributes
    ----------
    rule : str
        ``"average"`` or ``"first"``: how several respondents on one side of a dyad were combined.
    n_rows : int
        Rows in the long frame.
    n_dyads : int
        Distinct dyad ids among rows of the two sides.
    n_paired : int
        Dyads with both sides (rows of :attr:`PairedDyads.data` unless ``keep_unmatched``).
    unmatched : DataFrame
        Respondent rows whose dyad has no respondent on the other side: dyad id, side, ``response_id`` (when the
        frame has one), ``missing_side``.
    duplicated : DataFrame
        One row per (dyad, side) with more than one respondent: dyad id, side, ``n`` and ``response_ids``.
    missing_dyad_id : DataFrame
        Rows of the two sides without a dyad id (not pairable).
    other_sides : dict
        Count of rows per perspective that is not one of the two sides (e.g. ``joint``); not paired.
    messages : list of str
        The above in words, for logs and reports.

    No R equivalent (bookkeeping of :func:`pair_dyads`); checked against hand-built pairs in tests/test_dyadic.py.
    """

    rule: str
    n_rows: int
    n_dyads: int
    n_paired: int
    unmatched: pd.DataFrame
    duplicated: pd.DataFrame
    missing_dyad_id: pd.DataFrame
    other_sides: dict
    messages: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.messages)


@dataclass
class PairedDyads:
    """One row per dyad: ``data`` has the dyad id column, then ``<column>_<side>`` for every paired column.

    ``columns`` are the paired (base) column names, ``sides`` the two sides in order (X side first), ``report``
    the :class:`PairingReport`.

    No R equivalent (data reshaping, one row per dyad); checked against hand-built pairs in tests/test_dyadic.py.
    """

    data: pd.DataFrame
    dyad_id: str
    sides: tuple[str, str]
    columns: list[str]
    report: PairingReport

    def column(self, base: str, side: str) -> str:
        """Name of the paired column of ``base`` for ``side`` (``f"{base}_{side}"``)."""
        return f"{base}_{side}"

    def __len__(self) -> int:
        return len(self.data)


def pair_dyads(long_frame, dyad_id: str, side_column: str = "perspective",
               sides: tuple[str, str] = DEFAULT_SIDES, columns=None, duplicates: str = "average",
               keep_unmatched: bool = False) -> PairedDyads:
    """Pair the two sides of every dyad: one row per dyad with side-suffixed columns.

    Parameters
    ----------
    long_frame : DataFrame or Dataset
        One row per respondent version, e.g. ``Dataset.to_long()`` (a Dataset is converted with ``to_long()``).
    dyad_id : str
        Column identifying the dyad, e.g. ``"relationship_id"`` or ``"invite_dyad_id"``.
    side_column : str
        Column saying which side a row holds (``"perspective"`` in ``to_long()``).
    sides : (str, str)
        The two sides, X side first; the suffixes of the paired columns.
    columns : sequence of str, optional
        Columns to pair (item ids, scale scores). Default: every numeric column except the side column, the dyad
        id and the id columns of ``to_long()`` (``response_id``, ``organisation_id``, ...). They must be numeric.
    duplicates : {"average", "first"}
        Rule for a dyad with more than one respondent on one side. ``"average"`` (default): the column-wise mean
        of those respondents (missing values skipped; all missing -> missing). ``"first"``: the first such row in
        frame order. Either way the dyad is listed in ``report.duplicated``.
    keep_unmatched : bool
        ``False`` (default): dyads with only one side are left out of ``data`` (and listed in
        ``report.unmatched``). ``True``: they are kept with the other side missing (for ``missing="fiml"``).

    Returns
    -------
    PairedDyads
        ``data`` sorted by dyad id; ``report`` lists unmatched respondents, duplicated sides, rows without dyad id
        and rows of other perspectives.

    No R equivalent (data reshaping, one row per dyad); checked against hand-built pairs in tests/test_dyadic.py.
    """
    if hasattr(long_frame, "to_long") and not isinstance(long_frame, pd.DataFrame):
        long_frame = long_frame.to_long()
    if not isinstance(long_frame, pd.DataFrame):
        raise DataError(f"pair_dyads() needs a pandas DataFrame, got {type(long_frame).__name__}")
    if duplicates not in DUPLICATE_RULES:
        raise DataError(f"duplicates must be one of {', '.join(DUPLICATE_RULES)}, not {duplicates!r}")
    sides = _check_sides(sides)
    for c in (dyad_id, side_column):
        if c not in long_frame.columns:
            raise DataError(f"column {c!r} is not in the data (columns: {', '.join(map(str, long_frame.columns))})",
                            column=c)
    df = long_frame.reset_index(drop=True)
    if columns is None:
        skip = {dyad_id, side_column, *_ID_COLUMNS}
        columns = [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])]
    else:
        columns = [columns] if isinstance(columns, str) else list(columns)
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataError(f"column(s) not in the data: {', '.join(map(str, missing))}", column=str(missing[0]))
        bad = [c for c in columns if c in (dyad_id, side_column)]
        if bad:
            raise DataError(f"column {bad[0]!r} is the dyad id or side column and cannot be paired", column=bad[0])
    if not columns:
        raise DataError("no numeric columns to pair; pass columns=[...]")
    values = pd.DataFrame(index=df.index)
    for c in columns:
        try:
            values[c] = pd.to_numeric(df[c], errors="raise").astype(float)
        except (ValueError, TypeError):
            bad_rows = df.index[pd.to_numeric(df[c], errors="coerce").isna() & df[c].notna()]
            raise DataError(f"column {c!r} is not numeric (e.g. {df[c].iloc[bad_rows[0]]!r}); pairing needs "
                            "numeric ratings or scores", column=str(c), row=int(bad_rows[0]) + 1) from None

    side = df[side_column]
    in_sides = side.isin(sides)
    has_id = df[dyad_id].notna()
    other = side[~in_sides]
    other_sides = {str(k): int(v) for k, v in other.fillna("<missing>").value_counts(sort=False).items()}
    rid = "response_id" if "response_id" in df.columns else None
    info_cols = [dyad_id, side_column] + ([rid] if rid else [])
    missing_id = df.loc[in_sides & ~has_id, info_cols].reset_index(names="row")

    use = df.loc[in_sides & has_id, [dyad_id, side_column] + ([rid] if rid else [])].copy()
    use_vals = values.loc[use.index]
    counts = use.groupby([dyad_id, side_column], sort=False).size()
    # duplicates
    dup_keys = counts[counts > 1]
    dup_rows = []
    for (d, s), n in dup_keys.items():
        sel = use[(use[dyad_id] == d) & (use[side_column] == s)]
        dup_rows.append({dyad_id: d, "side": s, "n": int(n),
                         "response_ids": list(sel[rid]) if rid else list(sel.index)})
    duplicated = pd.DataFrame(dup_rows, columns=[dyad_id, "side", "n", "response_ids"])
    # combine rows per (dyad, side)
    keyed = pd.concat([use[[dyad_id, side_column]], use_vals], axis=1)
    if duplicates == "average":
        combined = keyed.groupby([dyad_id, side_column], sort=False).mean()
    else:
        # the first respondent's row as it is (groupby.first() would take the first non-missing value per column)
        first = ~use.duplicated([dyad_id, side_column], keep="first")
        combined = keyed.loc[first[first].index].set_index([dyad_id, side_column])
    per_side = {s: combined.xs(s, level=side_column) for s in sides}
    ids_by_side = {s: set(per_side[s].index) for s in sides}
    all_ids = ids_by_side[sides[0]] | ids_by_side[sides[1]]
    both = ids_by_side[sides[0]] & ids_by_side[sides[1]]
    # unmatched respondents
    lonely = use[~use[dyad_id].isin(both)]
    unmatched = lonely[info_cols].copy()
    unmatched["missing_side"] = [sides[1] if s == sides[0] else sides[0] for s in lonely[side_column]]
    unmatched = unmatched.reset_index(names="row")
    # wide frame
    keep_ids = all_ids if keep_unmatched else both
    try:
        order = sorted(keep_ids)
    except TypeError:
        order = sorted(keep_ids, key=str)
    wide = pd.DataFrame({dyad_id: order})
    for s in sides:
        part = per_side[s].reindex(order)
        for c in columns:
            wide[f"{c}_{s}"] = part[c].to_numpy()
    msgs = [(f"{len(df)} row(s); {len(all_ids)} dyad(s) with a {sides[0]} or {sides[1]} respondent; "
             f"{len(both)} paired (both sides).")]
    if other_sides:
        msgs.append("not paired (other perspectives): " + ", ".join(f"{k}: {v}" for k, v in other_sides.items()))
    if len(missing_id):
        msgs.append(f"{len(missing_id)} {sides[0]}/{sides[1]} row(s) without {dyad_id!r}: not paired.")
    if len(unmatched):
        n_d = unmatched[dyad_id].nunique()
        msgs.append(f"{len(unmatched)} respondent row(s) in {n_d} dyad(s) without a respondent on the other side: "
                    + ("kept with the other side missing." if keep_unmatched else "left out of the paired data."))
    if len(duplicated):
        how = ("averaged column-wise (missing values skipped)" if duplicates == "average"
               else "the first row (frame order) kept")
        msgs.append(f"{len(duplicated)} dyad side(s) with more than one respondent: {how}.")
    if rid:  # the same respondent on both sides of a dyad
        both_sides = use.groupby([dyad_id, rid])[side_column].nunique()
        same = both_sides[both_sides > 1]
        if len(same):
            msgs.append(f"{len(same)} respondent(s) answered both sides of their own dyad "
                        f"(e.g. {same.index[0][1]!r} in dyad {same.index[0][0]!r}); check the dyad assignment.")
    report = PairingReport(rule=duplicates, n_rows=len(df), n_dyads=len(all_ids), n_paired=len(both),
                           unmatched=unmatched, duplicated=duplicated, missing_dyad_id=missing_id,
                           other_sides=other_sides, messages=msgs)
    return PairedDyads(data=wide, dyad_id=dyad_id, sides=sides, columns=list(columns), report=report)


# ====================================================================== helpers
def _check_sides(sides) -> tuple[str, str]:
    if isinstance(sides, str) or len(tuple(sides)) != 2:
        raise DataError(f"sides must be two side names, got {sides!r}")
    sides = tuple(str(s) for s in sides)
    if sides[0] == sides[1]:
        raise DataError(f"the two sides must differ, got {sides!r}")
    return sides


def _frame_and_sides(paired, sides) -> tuple[pd.DataFrame, tuple[str, str]]:
    if isinstance(paired, PairedDyads):
        return paired.data, _check_sides(sides if sides is not None else paired.sides)
    if isinstance(paired, pd.DataFrame):
        return paired, _check_sides(sides if sides is not None else DEFAULT_SIDES)
    raise DataError(f"expected PairedDyads or a pandas DataFrame, got {type(paired).__name__}")


def _resolve(frame: pd.DataFrame, name: str, side: str | None, what: str) -> str:
    """``name`` if it is a column, else ``f"{name}_{side}"``."""
    if name in frame.columns:
        return name
    if side is not None and f"{name}_{side}" in frame.columns:
        return f"{name}_{side}"
    cand = [c for c in frame.columns if str(c).startswith(f"{name}_")]
    hint = f" (paired columns: {', '.join(cand)})" if cand else ""
    raise DataError(f"{what}: neither {name!r} nor {name}_{side} is a column of the paired data{hint}",
                    column=name)


def _numeric(frame: pd.DataFrame, col: str) -> pd.Series:
    try:
        return pd.to_numeric(frame[col], errors="raise").astype(float)
    except (ValueError, TypeError):
        raise DataError(f"column {col!r} is not numeric", column=col) from None


# ====================================================================== agreement
def agreement(paired, pairs=None, sides=None, within: float = 1.0, level: float = 0.95) -> pd.DataFrame:
    """Within-dyad agreement of the two sides on the same items or scales (distinguishable dyads).

    For every pair (X = first side, Y = second side), on the dyads with both values (pairwise deletion):

    * ``r``, ``r_pvalue``, ``r_ci_lower``/``r_ci_upper`` -- Pearson correlation across dyads (t test with n - 2 df;
      Fisher-z interval): do dyads whose provider rates high also have a customer who rates high?
    * ``mean_x``, ``mean_y``, ``sd_x``, ``sd_y`` (ddof 1); ``mean_diff`` = mean(X - Y), ``sd_diff`` (ddof 1),
      ``t``, ``df`` = n - 1, ``pvalue`` -- paired t test of mean(X - Y) = 0; ``diff_ci_lower``/``diff_ci_upper``;
      ``d_z`` = mean_diff / sd_diff (Cohen's d for paired data) -- does one side rate systematically higher?
    * ``abs_mean``, ``abs_sd``, ``abs_median``, ``abs_q25``, ``abs_q75``, ``abs_max`` -- distribution of |X - Y|;
      ``share_exact`` (|X - Y| = 0) and ``share_within`` (|X - Y| <= ``within``, in rating points).

    The exchangeable-dyad ICC is deliberately not reported: provider and customer are distinguishable, have their
    own means and variances, and r plus the mean difference describe their agreement without pooling them.

    Parameters
    ----------
    paired : PairedDyads or DataFrame
    pairs : sequence, optional
        Base names (``"scale"`` -> ``scale_<side1>`` vs ``scale_<side2>``) and/or ``(x_column, y_column)``
        tuples. Default: every base name with both side columns.
    sides : (str, str), optional
        Default: the sides of ``paired`` (or provider, customer).

    R: ``stats::cor.test`` (r, its t test and Fisher-z interval) and ``stats::t.test(x, y, paired = TRUE)`` per
    pair; checked against these closed forms in tests/test_dyadic.py.
    """
    frame, sides = _frame_and_sides(paired, sides)
    if pairs is None:
        s0, s1 = (f"_{s}" for s in sides)
        bases = [c[: -len(s0)] for c in frame.columns if str(c).endswith(s0)]
        pairs = [b for b in bases if f"{b}{s1}" in frame.columns]
        if not pairs:
            raise DataError(f"no column pairs *_{sides[0]} / *_{sides[1]} in the paired data")
    elif isinstance(pairs, (str, tuple)):
        pairs = [pairs]
    rows = []
    q = norm_ppf(0.5 + level / 2)
    for p in pairs:
        if isinstance(p, str):
            name, xc, yc = p, f"{p}_{sides[0]}", f"{p}_{sides[1]}"
        else:
            xc, yc = p
            name = f"{xc} vs {yc}"
        for c in (xc, yc):
            if c not in frame.columns:
                raise DataError(f"agreement: column {c!r} is not in the paired data", column=c)
        x, y = _numeric(frame, xc), _numeric(frame, yc)
        ok = x.notna() & y.notna()
        xv, yv = x[ok].to_numpy(), y[ok].to_numpy()
        n = len(xv)
        row = {"variable": name, "x": xc, "y": yc, "n": n}
        if n < 3:
            raise DataError(f"agreement {name!r}: {n} dyad(s) with both values; at least 3 are needed")
        d = xv - yv
        a = np.abs(d)
        row.update(mean_x=xv.mean(), mean_y=yv.mean(), sd_x=xv.std(ddof=1), sd_y=yv.std(ddof=1))
        if xv.std() == 0 or yv.std() == 0:
            r = rp = lo = hi = float("nan")
        else:
            r = float(np.corrcoef(xv, yv)[0, 1])
            r = max(-1.0, min(1.0, r))
            if abs(r) < 1:
                tr = r * math.sqrt((n - 2) / (1 - r * r))
                rp = float(2 * t_sf(abs(tr), n - 2))
            else:
                rp = 0.0
            if n > 3 and abs(r) < 1:
                zr, sz = math.atanh(r), 1 / math.sqrt(n - 3)
                lo, hi = math.tanh(zr - q * sz), math.tanh(zr + q * sz)
            else:
                lo = hi = float("nan")
        row.update(r=r, r_pvalue=rp, r_ci_lower=lo, r_ci_upper=hi)
        md, sd = float(d.mean()), float(d.std(ddof=1))
        se = sd / math.sqrt(n)
        if sd > 0:
            t = md / se
            pv = float(2 * t_sf(abs(t), n - 1))
            dz = md / sd
        else:
            t = pv = dz = float("nan")
        tq = t_ppf(0.5 + level / 2, n - 1)
        row.update(mean_diff=md, sd_diff=sd, se_diff=se, t=t, df=n - 1, pvalue=pv, d_z=dz,
                   diff_ci_lower=md - tq * se, diff_ci_upper=md + tq * se)
        row.update(abs_mean=a.mean(), abs_sd=a.std(ddof=1), abs_median=float(np.median(a)),
                   abs_q25=float(np.quantile(a, 0.25)), abs_q75=float(np.quantile(a, 0.75)), abs_max=a.max(),
                   share_exact=float(np.mean(a < 1e-12)), share_within=float(np.mean(a <= within + 1e-12)))
        rows.append(row)
    return pd.DataFrame(rows)


# ====================================================================== congruence (RSA)
def congruence_rsa(paired, x: str, z: str, y: str | None = None, sides=None, z_side: str | None = None,
                   **rsa_kwargs):
    """Does provider-customer (dis)agreement on ``x`` predict outcome ``z``? Polynomial regression + response
    surface analysis on the two ratings, via :func:`vccscale.models.rsa.rsa` (construct map H14, H27).

    Difference scores done right (Edwards 1994; Edwards & Parry 1993): regressing ``z`` on ``X - Y`` or ``|X - Y|``
    (or ``(X - Y)^2``) is *not* done here. A difference score confounds the effects of its components (the
    coefficient on ``X - Y`` mixes the separate effects of X and of Y, and its reliability falls as X and Y
    correlate) and imposes constraints that are never tested: ``b (X - Y)`` assumes equal and opposite effects of
    X and Y, ``|X - Y|`` and ``(X - Y)^2`` assume a symmetric ridge along X = Y with no level effect and no
    curvature along it. The polynomial ``z = b0 + b1 X + b2 Y + b3 X^2 + b4 XY + b5 Y^2`` estimates all of these
    freely; the response surface parameters along the line of congruence (a1, a2) and incongruence (a3, a4) then
    *test* what the difference score would have assumed (e.g. H14: a1 > 0, a3 < 0, a4 < 0).

    Parameters
    ----------
    paired : PairedDyads or DataFrame
    x : str
        Rating of the first side (X; provider self-rating): a column, or a base name -> ``f"{x}_{sides[0]}"``.
    z : str
        Outcome: a column, or a base name -> ``f"{z}_{z_side}"`` (``z_side`` must then be given).
    y : str, optional
        Rating of the second side (Y; customer rating): a column, or a base name -> ``f"{y}_{sides[1]}"``.
        Default: the same base name as ``x`` (the two sides' ratings of the same item or scale).
    **rsa_kwargs
        Passed on to :func:`vccscale.models.rsa.rsa` unchanged (e.g. ``center=...``).

    Returns
    -------
    Whatever :func:`vccscale.models.rsa.rsa` returns, for columns X = ``x_<side1>``, Y = ``y_<side2>``, Z = ``z``.

    R: ``RSA::RSA(z ~ x * y)`` on the paired scores (through :func:`vccscale.models.rsa.rsa`).
    """
    frame, sides = _frame_and_sides(paired, sides)
    xc = _resolve(frame, x, sides[0], "x")
    yc = _resolve(frame, y if y is not None else x, sides[1], "y")
    zc = _resolve(frame, z, z_side, "z")
    if xc == yc:
        raise DataError(f"x and y resolve to the same column {xc!r}; pass the two sides' ratings", column=xc)
    from .rsa import rsa  # lazy: rsa is an optional part of the models package

    return rsa(frame, x=xc, y=yc, z=zc, **rsa_kwargs)


# ====================================================================== APIM
@dataclass
class ApimResult:
    """A fitted actor-partner interdependence model.

    Attributes
    ----------
    fit : FitResult
        The lavaan-parity SEM fit (:func:`vccscale.sem.fit_sem`): ``fit.estimates``, ``fit.fit``, ...
    model : str
        The lavaan syntax that was fitted.
    effects : DataFrame
        One row per labelled effect: ``effect`` (actor / partner / actor_diff / partner_diff / k), ``label``,
        ``outcome_side`` (whose outcome; empty for differences), ``lhs``, ``rhs``, ``est``, ``se``, ``z``,
        ``pvalue``, ``ci_lower``, ``ci_upper``, ``std_all``.
    variables : dict
        ``{"x": {side: name}, "y": {side: name}}``: the observed columns or latent factor names used.
    n : int
        Dyads used in the fit.

    R: the fit of ``lavaan::sem`` on the pair data; ``effects`` are its ``lavaan::parameterEstimates`` rows of the
    labelled effects.
    """

    fit: object
    model: str
    effects: pd.DataFrame
    variables: dict
    n: int
    sides: tuple[str, str]

    def effect(self, label: str) -> pd.Series:
        """The row of :attr:`effects` with this label (e.g. ``"aP"``, ``"pCP"``, ``"k_P"``)."""
        sel = self.effects[self.effects["label"] == label]
        if sel.empty:
            raise KeyError(label)
        return sel.iloc[0]


def _abbrev(sides: tuple[str, str]) -> tuple[str, str]:
    a = tuple(re.sub(r"[^A-Za-z]", "", s)[:1].upper() for s in sides)
    if not a[0] or not a[1] or a[0] == a[1]:
        return ("1", "2")
    return a


def apim_syntax(x: str, y: str, sides: tuple[str, str] = DEFAULT_SIDES, covariates=(), x_items=None, y_items=None,
                equal_loadings: bool = False, correlate_item_residuals: bool = True, equal_actor: bool = False,
                equal_partner: bool = False, columns=None) -> tuple[str, dict, list[dict]]:
    """lavaan syntax of the distinguishable-dyad APIM (see :func:`apim`); returns ``(syntax, variables, effects)``.

    ``columns`` (the paired frame's column names) is used to tell dyad-level from side-level covariates; without
    it every covariate is taken as a base name with one column per side.

    R: the model syntax that ``lavaan::sem`` fits in tests/reference/dyadic/apim_reference.R.
    """
    sides = _check_sides(sides)
    s1, s2 = sides
    A, B = _abbrev(sides)
    cols = set(columns) if columns is not None else None
    lines: list[str] = []
    var = {"x": {}, "y": {}}
    for role, base, items in (("x", x, x_items), ("y", y, y_items)):
        if items is None:
            var[role] = {s: f"{base}_{s}" for s in sides}
            continue
        items = [items] if isinstance(items, str) else list(items)
        if not items:
            raise ModelError(f"{role}_items is empty")
        var[role] = {s: f"{base}_{s}_lv" for s in sides}
        for s in sides:
            terms = []
            for j, it in enumerate(items, 1):
                lab = f"l{role}{j}*" if equal_loadings else ""
                terms.append(f"{lab}{it}_{s}")
            lines.append(f"{var[role][s]} =~ " + " + ".join(terms))
        if correlate_item_residuals:
            lines += [f"{it}_{s1} ~~ {it}_{s2}" for it in items]
    xs, ys = var["x"], var["y"]
    aA, aB = ("a", "a") if equal_actor else (f"a{A}", f"a{B}")
    pBA, pAB = ("p", "p") if equal_partner else (f"p{B}{A}", f"p{A}{B}")
    cov_terms = {s1: [], s2: []}
    for c in [covariates] if isinstance(covariates, str) else covariates:
        if cols is not None and c in cols:
            cov_terms[s1].append(c)
            cov_terms[s2].append(c)
        else:
            cov_terms[s1].append(f"{c}_{s1}")
            cov_terms[s2].append(f"{c}_{s2}")
    lines.append(f"{ys[s1]} ~ {aA}*{xs[s1]} + {pBA}*{xs[s2]}" + "".join(f" + {t}" for t in cov_terms[s1]))
    lines.append(f"{ys[s2]} ~ {aB}*{xs[s2]} + {pAB}*{xs[s1]}" + "".join(f" + {t}" for t in cov_terms[s2]))
    lines.append(f"{xs[s1]} ~~ {xs[s2]}")
    lines.append(f"{ys[s1]} ~~ {ys[s2]}")
    eff = [{"effect": "actor", "label": aA, "outcome_side": s1, "lhs": ys[s1], "rhs": xs[s1]},
           {"effect": "actor", "label": aB, "outcome_side": s2, "lhs": ys[s2], "rhs": xs[s2]},
           {"effect": "partner", "label": pBA, "outcome_side": s1, "lhs": ys[s1], "rhs": xs[s2]},
           {"effect": "partner", "label": pAB, "outcome_side": s2, "lhs": ys[s2], "rhs": xs[s1]}]
    defs = []
    if not equal_actor:
        defs.append(("actor_diff", "actor_diff", "", f"{aA} - {aB}"))
    if not equal_partner:
        defs.append(("partner_diff", "partner_diff", "", f"{pBA} - {pAB}"))
    if equal_actor and equal_partner:
        defs.append(("k", "k", "", "p / a"))
    else:
        defs.append(("k", f"k_{A}", s1, f"{pBA} / {aA}"))
        defs.append(("k", f"k_{B}", s2, f"{pAB} / {aB}"))
    for kind, lab, side, expr in defs:
        lines.append(f"{lab} := {expr}")
        eff.append({"effect": kind, "label": lab, "outcome_side": side, "lhs": lab, "rhs": expr.replace(" ", "")})
    return "\n".join(lines) + "\n", var, eff


def apim(paired, x: str, y: str, sides=None, covariates=(), x_items=None, y_items=None,
         equal_loadings: bool = False, correlate_item_residuals: bool = True, equal_actor: bool = False,
         equal_partner: bool = False, estimator: str = "ML", missing: str = "listwise") -> ApimResult:
    """Actor-partner interdependence model for distinguishable dyads (Kenny, Kashy & Cook 2006, ch. 7), fitted as
    an SEM on the pair data with :func:`vccscale.sem.fit_sem` (lavaan ``sem()`` defaults). With P, C the initials of
    the two sides::

        y_P ~ aP*x_P + pCP*x_C          # aP: actor effect of P; pCP: partner effect of C's x on P's y
        y_C ~ aC*x_C + pPC*x_P
        x_P ~~ x_C                      # the two sides' predictors correlate
        y_P ~~ y_C                      # residual non-independence of the outcomes
        actor_diff := aP - aC           # distinguishability tests of the effects
        partner_diff := pCP - pPC
        k_P := pCP / aP                 # Kenny & Ledermann (2010): k = partner / actor effect per outcome;
        k_C := pPC / aC                 # k ~ 1 couple pattern, k ~ 0 actor-only, k ~ -1 contrast pattern

    The delta-method SE of ``k`` is what lavaan reports; Kenny & Ledermann (2010) recommend a bootstrap interval
    for ``k`` (not done here). The model is saturated (df = 0) unless constraints or a latent part are added.

    Parameters
    ----------
    paired : PairedDyads or DataFrame
        Pair data with columns ``f"{x}_{side}"`` and ``f"{y}_{side}"`` (or the item columns, see below).
    x, y : str
        Base names of the predictor and the outcome (scale scores, or construct names when items are given).
    sides : (str, str), optional
        Default: the sides of ``paired`` (or provider, customer).
    covariates : sequence of str
        A name that is a column of ``paired`` is a dyad-level covariate and enters both outcome equations; any
        other name is a base name of side-level columns ``f"{c}_{side}"``, each entering its own side's equation.
    x_items, y_items : sequence of str, optional
        Item base names: the construct of each side is then latent, measured by ``f"{item}_{side}"`` (factor
        ``f"{x}_{side}_lv"``, marker = first item), and the structural part is the same APIM among the factors.
    equal_loadings : bool
        Latent version: constrain each item's loading to be equal across the two sides (metric invariance).
    correlate_item_residuals : bool
        Latent version (default True): the same item's residuals correlate across the two sides (same wording,
        same relationship), as is standard in dyadic CFA.
    equal_actor, equal_partner : bool
        Constrain the two actor (partner) effects to be equal (labels ``a`` / ``p``); compare the fit with the
        unconstrained model for a chi-square difference test of distinguishability.
    estimator : {"ML", "MLR"}
    missing : {"listwise", "fiml"}
        Passed to :func:`vccscale.sem.fit_sem`.

    R: ``lavaan::sem`` of the same syntax (tests/reference/dyadic/apim_reference.R).
    """
    from ..sem import fit_sem

    frame, sides = _frame_and_sides(paired, sides)
    model, var, eff = apim_syntax(x, y, sides, covariates, x_items, y_items, equal_loadings,
                                  correlate_item_residuals, equal_actor, equal_partner, columns=list(frame.columns))
    # the observed columns the model needs
    needed = []
    for role, items in (("x", x_items), ("y", y_items)):
        base = x if role == "x" else y
        if items is None:
            needed += [f"{base}_{s}" for s in sides]
        else:
            items = [items] if isinstance(items, str) else list(items)
            needed += [f"{it}_{s}" for it in items for s in sides]
    for c in [covariates] if isinstance(covariates, str) else covariates:
        needed += [c] if c in frame.columns else [f"{c}_{s}" for s in sides]
    missing_cols = [c for c in needed if c not in frame.columns]
    if missing_cols:
        raise DataError(f"apim: column(s) not in the paired data: {', '.join(missing_cols)}",
                        column=missing_cols[0])
    bad = [c for c in needed if not _IDENT.match(str(c))]
    if bad:
        raise ModelError(f"apim: column name {bad[0]!r} cannot be used in model syntax (letters, digits, '_' and "
                         "'.' only); rename it")
    data = pd.DataFrame({c: _numeric(frame, c) for c in dict.fromkeys(needed)})
    fit = fit_sem(data, model, estimator=estimator, missing=missing)
    pe = fit.estimates
    out = []
    for e in eff:
        if e["effect"] in ("actor", "partner"):
            sel = pe[(pe["op"] == "~") & (pe["lhs"] == e["lhs"]) & (pe["rhs"] == e["rhs"])]
        else:
            sel = pe[(pe["op"] == ":=") & (pe["lhs"] == e["lhs"])]
        r = sel.iloc[0]
        out.append({**e, **{k: r.get(k, float("nan")) for k in
                            ("est", "se", "z", "pvalue", "ci_lower", "ci_upper", "std_all")}})
    effects = pd.DataFrame(out)
    return ApimResult(fit=fit, model=model, effects=effects, variables=var, n=int(sum(fit.nobs)), sides=sides)


# ====================================================================== dyadic measurement invariance
DYADIC_LEVELS = ("configural", "metric", "scalar", "strict")


def dyadic_invariance_syntax(items, sides: tuple[str, str] = DEFAULT_SIDES, factor: str = "f",
                             level: str = "configural") -> str:
    """lavaan syntax of the dyadic CFA at one invariance ``level`` (Kenny, Kashy & Cook 2006, ch. 6; one row per
    dyad, columns ``f"{item}_{side}"``).

    Configural: one factor per side (``f"{factor}_{side}"``, marker = first item), the two factors correlated, the
    same item's residuals correlated across the sides, intercepts free, latent means 0. Metric: every item's
    loading equal across the sides (labels ``l1, l2, ...``). Scalar: + every item's intercept equal (``t1, ...``),
    the second side's latent mean free (the first side's is 0: the mean difference is in the marker's metric).
    Strict: + every item's residual variance equal (``e1, ...``).

    R: the model text ``lavaan::cfa`` fits in tests/reference/dyadic/dyadic_invariance_reference.R (same lines).
    """
    items = [items] if isinstance(items, str) else list(items)
    if len(items) < 2:
        raise ModelError("dyadic invariance needs at least two items per side")
    if level not in DYADIC_LEVELS:
        raise ModelError(f"level must be one of {', '.join(DYADIC_LEVELS)}, not {level!r}")
    k = DYADIC_LEVELS.index(level)
    s1, s2 = _check_sides(sides)
    f1, f2 = f"{factor}_{s1}", f"{factor}_{s2}"
    lines = []
    for f, s in ((f1, s1), (f2, s2)):
        terms = [(f"l{j + 1}*" if k >= 1 else ("1*" if j == 0 else "")) + f"{it}_{s}" for j, it in enumerate(items)]
        if k >= 1:
            terms[0] = f"1*{items[0]}_{s}"  # the marker: its loading is 1 on both sides (equal by construction)
        lines.append(f"{f} =~ " + " + ".join(terms))
    lines.append(f"{f1} ~~ {f2}")
    for it in items:
        lines.append(f"{it}_{s1} ~~ {it}_{s2}")
    for j, it in enumerate(items):
        for s in (s1, s2):
            lines.append(f"{it}_{s} ~ " + (f"t{j + 1}*" if k >= 2 else "") + "1")
            if k >= 3:
                lines.append(f"{it}_{s} ~~ e{j + 1}*{it}_{s}")
    lines.append(f"{f1} ~ 0*1")
    lines.append(f"{f2} ~ " + ("NA*" if k >= 2 else "0*") + "1")
    return "\n".join(lines)


@dataclass
class DyadicInvarianceResult:
    """Measurement equivalence of one construct between the two members of distinguishable dyads.

    ``tests``: one row per level with the fit measures (lavaan's names), the chi-square difference against the
    previous level (lavTestLRT: standard for ML, Satorra-Bentler 2001 for MLR), delta CFI / RMSEA and
    ``decision``: ``rejected`` (the difference test rejects the added constraints at ``alpha``), ``not rejected``
    (and delta CFI >= -.01), ``not rejected, but delta CFI < -.01``, or ``not tested`` (with the reason).
    Non-rejection is reported as such, never as "invariance shown". ``latent_mean_difference``: at the scalar
    level (when it was not rejected), the second side's latent mean minus the first's (marker metric; est, se, z,
    pvalue, ci) and Cohen's d on the pooled latent SD. ``fits``: level -> FitResult; ``syntax``: level -> model.

    R: ``lavaan::cfa`` of the same syntax at each level and ``lavaan::lavTestLRT`` between neighbours
    (tests/reference/dyadic/dyadic_invariance_reference.R).
    """

    items: list
    sides: tuple[str, str]
    estimator: str
    n: int
    fits: dict
    syntax: dict
    tests: pd.DataFrame
    latent_mean_difference: dict | None
    alpha: float = 0.05
    notes: list = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return self.tests

    def to_dict(self) -> dict:
        from ..jsonsafe import jsonable, snake_keys

        return jsonable({"items": list(self.items), "sides": list(self.sides), "estimator": self.estimator,
                         "n": self.n, "alpha": self.alpha,
                         "tests": [snake_keys(r) for r in self.tests.to_dict(orient="records")],
                         "latent_mean_difference": self.latent_mean_difference, "notes": list(self.notes)})

    def summary(self) -> str:
        cols = [c for c in ("level", "chisq", "df", "cfi", "rmsea", "chisq_diff", "df_diff", "pvalue_diff",
                            "delta_cfi", "decision") if c in self.tests.columns]
        out = [f"Dyadic measurement invariance ({self.sides[0]} vs {self.sides[1]}), {self.estimator}, "
               f"{self.n} dyads", self.tests[cols].round(4).to_string(index=False)]
        m = self.latent_mean_difference
        if m:
            out.append(f"Latent mean {self.sides[1]} - {self.sides[0]}: {m['est']:.3f} (SE {m['se']:.3f}, "
                       f"p = {m['pvalue']:.4f}), d = {m['d']:.3f}")
        return "\n".join(out + [f"note: {n}" for n in self.notes])


def dyadic_invariance(paired, items, sides=None, factor: str = "f", estimator: str = "ML",
                      missing: str = "listwise", alpha: float = 0.05,
                      levels: tuple[str, ...] = DYADIC_LEVELS) -> DyadicInvarianceResult:
    """Provider and customer measurement equivalence within dyads (Kenny, Kashy & Cook 2006, ch. 6): the dyadic
    CFA of :func:`dyadic_invariance_syntax` at each level, on one row per dyad, fitted with
    :func:`vccscale.sem.fit_cfa`; each level compared with the previous by
    :func:`vccscale.validate.invariance.difference_test`. See :class:`DyadicInvarianceResult`.

    R: ``lavaan::cfa`` of the same syntax per level and ``lavaan::lavTestLRT`` between neighbouring levels."""
    from ..sem import fit_cfa
    from ..validate.invariance import difference_test

    frame, sides = _frame_and_sides(paired, sides)
    items = [items] if isinstance(items, str) else list(items)
    levels = tuple(lv for lv in DYADIC_LEVELS if lv in levels)
    if not levels or levels[0] != "configural":
        raise ModelError("dyadic invariance starts at the configural level")
    needed = [f"{it}_{s}" for it in items for s in sides]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise DataError(f"dyadic invariance: column(s) not in the paired data: {', '.join(absent)}",
                        column=absent[0])
    data = pd.DataFrame({c: _numeric(frame, c) for c in needed})
    fits, syntax, rows, notes = {}, {}, [], []
    prev = None
    for lv in levels:
        syntax[lv] = dyadic_invariance_syntax(items, sides, factor, lv)
        fit = fit_cfa(data, syntax[lv], estimator=estimator, missing=missing, meanstructure=True)
        fits[lv] = fit
        row = {"level": lv, **{k: fit.fit.get(k, float("nan")) for k in
                               ("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr")}}
        if estimator == "MLR":
            row.update({k: fit.fit.get(k, float("nan")) for k in ("chisq.scaled", "chisq.scaling.factor",
                                                                   "cfi.robust", "rmsea.robust")})
        if fit.problems:
            notes.append(f"{lv}: improper solution ({'; '.join(fit.problems)}); its tests are not interpreted")
        if prev is None:
            row["decision"] = "baseline"
        else:
            d = difference_test(fit, fits[prev], estimator=estimator)
            row.update(chisq_diff=d["chisq_diff"], df_diff=d["df_diff"], pvalue_diff=d["pvalue"],
                       delta_cfi=d["delta_cfi"], delta_rmsea=d["delta_rmsea"])
            if fit.problems or fits[prev].problems or not np.isfinite(d["pvalue"]):
                row["decision"] = "not tested"
            elif d["pvalue"] < alpha:
                row["decision"] = "rejected"
            elif np.isfinite(d["delta_cfi"]) and d["delta_cfi"] < -0.01:
                row["decision"] = "not rejected, but delta CFI < -.01"
            else:
                row["decision"] = "not rejected"
        rows.append(row)
        prev = lv
    tests = pd.DataFrame(rows)
    for c in ("npar", "df", "df_diff"):
        if c in tests:
            tests[c] = tests[c].astype("Int64")
    lmd = None
    if "scalar" in fits:
        ok = tests.set_index("level")["decision"]
        if all(ok.get(lv) in ("baseline", "not rejected") for lv in ("configural", "metric", "scalar")):
            pe = fits["scalar"].estimates
            f1, f2 = f"{factor}_{sides[0]}", f"{factor}_{sides[1]}"
            r = pe[(pe["op"] == "~1") & (pe["lhs"] == f2)].iloc[0]
            v = pe[(pe["op"] == "~~") & (pe["lhs"] == pe["rhs"]) & pe["lhs"].isin([f1, f2])]["est"]
            sd = float(np.sqrt(v.mean()))
            lmd = {"est": float(r["est"]), "se": float(r["se"]), "z": float(r["z"]), "pvalue": float(r["pvalue"]),
                   "ci_lower": float(r["ci_lower"]), "ci_upper": float(r["ci_upper"]),
                   "d": float(r["est"]) / sd if sd > 0 else float("nan")}
        else:
            notes.append("latent means are not compared: a level up to scalar was rejected or not tested "
                         "(partial invariance is not searched for dyads)")
    return DyadicInvarianceResult(items=items, sides=sides, estimator=estimator, n=int(sum(fits["configural"].nobs)),
                                  fits=fits, syntax=syntax, tests=tests, latent_mean_difference=lmd, alpha=alpha,
                                  notes=notes)
