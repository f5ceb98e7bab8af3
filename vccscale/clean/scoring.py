"""Reverse-keying and scale scores from the codebook: the one implementation of vccscale's scale score.

Conventions: a reverse-keyed item is rescored as ``min + max - x`` with the scale bounds of its codebook row
(psych::reverse.code with ``mini``/``maxi``); codes listed under ``missing_codes`` (e.g. 99 = don't know) become
missing before anything else. Scores are computed per respondent and version (the stacked frame of
:func:`rescored_long`: one row per respondent version, item-id columns).

The scale score (:func:`scale_score`): a block's score is the mean of its answered items when at least
``min_answered`` (share, default 0.5, rounded up to whole items) of them are answered, else missing
(``psych::scoreItems(keys, x, impute = "none", min = ...)``-like: psych's ``scoreItems`` averages whatever is
answered, the minimum-answered rule is vccscale's); a construct's score is the unit-weighted mean of its block
scores, missing when one block score is missing. The blocks are those of
:func:`vccscale.models.library.score_blocks` for registry constructs: one block of the reflective items of a
reflective construct; one block per first-order sub-activity for formative composites (construct-map 5.1) and
second-order constructs without reflective items of their own; the global items of MIMIC constructs; the item of
an observed variable. A codebook construct that the registry does not know is one block of its reflective items.

:func:`construct_scores` scores a Dataset (``vccscale score``); :func:`scale_score` scores one construct on a
stacked frame (the hypothesis tests, the pipeline); both give the same numbers on the same data.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..instrument.codebook import Codebook
    from ..io.dataset import Dataset
    from ..registry import Registry

MIN_ANSWERED = 0.5
# id columns of Dataset.to_long() kept in a scores frame (the ones present)
ID_COLUMNS = ("organisation_id", "relationship_id", "side", "stakeholder_role", "invite_organisation_id",
              "invite_dyad_id", "invite_side")

__all__ = ["ID_COLUMNS", "MIN_ANSWERED", "ScaleScores", "block_score", "codebook_constructs", "construct_blocks",
           "construct_scores", "numeric_items", "rescored_long", "reverse_key", "scale_items", "scale_score",
           "score_scales", "variables_frame", "incomplete_rows"]


def numeric_items(ds: "Dataset", columns: list[str] | None = None) -> "pd.DataFrame":
    """Item columns as floats with missing codes set to NaN (a copy; the Dataset is not modified)."""
    import numpy as np
    import pandas as pd

    cols = ds.item_columns() if columns is None else columns
    out = {}
    for c in cols:
        r = ds.codebook_row(c)
        v = pd.to_numeric(ds.data[c], errors="coerce").astype("float64")
        if r is not None and r.missing_codes:
            v = v.where(~v.isin(list(r.missing_codes)), np.nan)
        out[c] = v
    return pd.DataFrame(out, index=ds.data.index)


def reverse_key(ds: "Dataset", columns: list[str] | None = None) -> "pd.DataFrame":
    """Item columns (missing codes -> NaN) with reverse-keyed items rescored as min + max - x."""
    x = numeric_items(ds, columns)
    for c in x.columns:
        r = ds.codebook_row(c)
        if r is not None and r.reverse:
            if r.scale_min is None or r.scale_max is None:
                raise DataError("reverse-keyed item without scale bounds in the codebook", column=c,
                                file=ds.codebook.source if ds.codebook else None)
            x[c] = r.scale_min + r.scale_max - x[c]
    return x


def rescored_long(ds: "Dataset", columns: Iterable[str] = ()) -> "pd.DataFrame":
    """The stacked analysis frame (``Dataset.to_long()``: one row per respondent version, one column per item id,
    the marker variable's items under their item ids) after :func:`reverse_key`: missing codes set to missing,
    reverse-keyed items reversed, so that loadings and reliabilities have the construct's direction. It is what an
    instrument's measurement.lavaan refers to. ``columns``: further columns of the wide data (covariates,
    firmographics) copied onto every row of their respondent, after the id columns."""
    cols = ds.item_columns() + ds.columns_with_role("marker")
    keys = tuple(dict.fromkeys((*ID_COLUMNS, *columns)))
    return ds.with_data(ds.data.assign(**reverse_key(ds, cols))).to_long(keys=keys)


# ----------------------------------------------------------------------------------------------------------
# the scale score
# ----------------------------------------------------------------------------------------------------------
def block_score(items: "pd.DataFrame", min_answered: float = MIN_ANSWERED) -> "pd.Series":
    """The score of one block of items per row of ``items`` (one column per item, already rescored): the mean of
    the answered items when at least ``min_answered`` of them (share, rounded up to whole items) are answered, else
    missing. Values are coerced to numbers (anything else is missing). The building block of :func:`scale_score`,
    and the one unit-weighted item mean of the library (on complete cases it is the plain item mean)."""
    import numpy as np
    import pandas as pd

    x = items.apply(pd.to_numeric, errors="coerce").astype(float)
    need = np.ceil(min_answered * x.shape[1] - 1e-9)
    return x.mean(axis=1).where(x.notna().sum(axis=1) >= need)


def scale_score(registry: "Registry | None", cid: str, data: "pd.DataFrame", min_answered: float = MIN_ANSWERED,
                *, blocks: dict[str, list[str]] | None = None) -> "tuple[pd.Series | None, str]":
    """Scale score of construct ``cid`` per row of ``data`` (item-id columns, already rescored, e.g.
    :func:`rescored_long`): ``(score, "")``, or ``(None, reason)`` when it cannot be scored.

    The unit-weighted mean of the block scores (one block for a reflective construct, one per sub-activity for a
    composite), a block's score being the mean of its answered items when at least ``min_answered`` of them
    (share, rounded up to whole items) are answered, else missing; the score is missing when a block score is.
    Blocks: ``blocks`` ({block: item ids}) when given, else
    :func:`vccscale.models.library.score_blocks` of the registry on the columns of ``data``.
    """
    import pandas as pd

    if not 0 < min_answered <= 1:
        raise DataError(f"min_answered must be in (0, 1], got {min_answered}", field="min_answered")
    if blocks is None and registry is not None and cid in registry.constructs \
            and registry.constructs[cid].identification == "index":
        return index_score(registry, cid, data)
    if blocks is None:
        from ..models.library import score_blocks

        if registry is None:
            raise DataError(f"{cid}: scoring needs the registry or the blocks of items")
        blocks, why = score_blocks(registry, cid, set(data.columns))
        if blocks is None:
            return None, why
    parts = [block_score(data[its], min_answered) for its in blocks.values()]
    score = pd.concat(parts, axis=1).mean(axis=1, skipna=False) if len(parts) > 1 else parts[0]
    return score.rename(cid), ""


def index_score(registry: "Registry", cid: str, data: "pd.DataFrame") -> "tuple[pd.Series | None, str]":
    """Score of an event index (construct-map identification ``index``, e.g. d_compelling_events): the sum over
    its events of occurred (checklist item, 0/1) x perceived significance (its paired formative item; asked only
    when the event occurred, so an event that did not occur adds 0 whatever the significance column holds).
    Missing when an event's checklist answer is missing, or when it occurred and its significance is missing.
    ``(None, reason)`` when no event pair is in the data."""
    import numpy as np
    import pandas as pd

    pairs = []
    for it in registry.items_of(cid):
        if it.kind == "checklist" and it.pair and it.id in data.columns and it.pair in data.columns:
            pairs.append((it.id, it.pair))
    if not pairs:
        return None, f"{cid}: none of its events (checklist item with its significance item) is in the data"
    total = pd.Series(0.0, index=data.index)
    for chk, sig in pairs:
        occ = pd.to_numeric(data[chk], errors="coerce")
        val = pd.to_numeric(data[sig], errors="coerce")
        bad = occ.notna() & ~occ.isin([0, 1])
        if bad.any():
            r = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{chk} must be 0 (no) or 1 (yes), found {occ[bad].iloc[0]!r}", row=r, column=chk)
        term = pd.Series(np.where(occ == 1, val, 0.0), index=data.index).where(occ.notna())
        term = term.where(~((occ == 1) & val.isna()))
        total = total + term
    return total.rename(cid), ""


def codebook_constructs(codebook: "Codebook", registry: "Registry | None" = None) -> list[str]:
    """The constructs a codebook's items measure (codebook order), then the registry's composites and
    second-order constructs whose sub-activities are all among them (scored as unit-weighted means)."""
    out = list(dict.fromkeys(r.construct for r in codebook.rows if r.role == "item" and r.construct))
    if registry is not None:
        have = set(out)
        out += [c.id for c in registry.constructs.values()
                if c.id not in have and c.lower_order and all(lo in have for lo in c.lower_order)]
    return out


def construct_blocks(cid: str, columns: Iterable[str], *, registry: "Registry | None" = None,
                     codebook: "Codebook | None" = None) -> tuple[dict[str, list[str]] | None, str]:
    """The item blocks of ``cid``'s score among ``columns``: the registry's
    (:func:`vccscale.models.library.score_blocks`) when it knows ``cid``, else one block of the construct's
    reflective items in the codebook. ``({block: item ids}, "")`` or ``(None, reason)``."""
    cols = set(columns)
    if registry is not None and cid in registry.constructs:
        from ..models.library import score_blocks

        return score_blocks(registry, cid, cols)
    if codebook is not None:
        its = list(dict.fromkeys(r.item_id for r in codebook.rows if r.role == "item" and r.construct == cid
                                 and (r.indicator or "reflective") == "reflective" and r.item_id in cols))
        if its:
            return {cid: its}, ""
        if any(r.construct == cid for r in codebook.rows):
            return None, f"{cid}: none of its reflective items is in the data"
    return None, f"{cid} is not a construct of the codebook" + (" or the registry" if registry is not None else "")


@dataclass(frozen=True)
class ScaleScores:
    """Construct scores of a Dataset: ``scores`` has one row per respondent version (``response_id``,
    ``perspective``, the id columns present, carried columns, then one column per construct); ``blocks`` the
    item ids behind each score; ``reversed_items`` the item ids reversed by the codebook (min + max - x);
    ``bounds`` the (min, max) of the scale of each construct's items (the widest range when they differ)."""

    scores: "pd.DataFrame"
    constructs: tuple[str, ...]
    blocks: dict[str, dict[str, list[str]]]
    reversed_items: tuple[str, ...]
    bounds: dict[str, tuple[float | None, float | None]]
    min_answered: float
    perspective: str | None = None
    columns: tuple[str, ...] = field(default=())
    not_scored: dict[str, str] = field(default_factory=dict)

    def n_scored(self, cid: str) -> int:
        return int(self.scores[cid].notna().sum())

    def to_dict(self) -> dict[str, Any]:
        s = self.scores
        out: dict[str, Any] = {"n_rows": len(s), "min_answered": self.min_answered, "perspective": self.perspective,
                               "rows_by_perspective": {str(k): int(v) for k, v in
                                                       s["perspective"].value_counts(sort=False).items()},
                               "reversed_items": list(self.reversed_items), "constructs": [],
                               "not_scored": dict(self.not_scored)}
        for cid in self.constructs:
            by = s.groupby("perspective", sort=False)[cid].count()
            items = [i for b in self.blocks[cid].values() for i in b]
            out["constructs"].append({
                "id": cid, "n_items": len(items), "items": items,
                "blocks": self.blocks[cid] if len(self.blocks[cid]) > 1 else None,
                "reversed_items": [i for i in items if i in self.reversed_items],
                "scale_min": self.bounds[cid][0], "scale_max": self.bounds[cid][1],
                "n_scored": self.n_scored(cid), "n_missing": int(s[cid].isna().sum()),
                "n_scored_by_perspective": {str(k): int(v) for k, v in by.items()}})
        return out

    def summary(self) -> str:
        d = self.to_dict()
        rows = ", ".join(f"{k} {v}" for k, v in d["rows_by_perspective"].items())
        lines = [f"{len(self.constructs)} construct score(s) on {d['n_rows']} respondent version(s) ({rows}); a "
                 f"score needs at least {self.min_answered:g} of its items answered"]
        for c in d["constructs"]:
            how = (f"mean of {len(c['blocks'])} sub-activity scores" if c["blocks"] else
                   f"{c['n_items']} item{'s' if c['n_items'] != 1 else ''}")
            rev = f"; reversed {', '.join(c['reversed_items'])}" if c["reversed_items"] else ""
            by = c["n_scored_by_perspective"]
            per = f" ({', '.join(f'{k} {v}' for k, v in by.items())})" if len(by) > 1 else ""
            lines.append(f"  {c['id']}: {how}, n scored {c['n_scored']}{per}, missing {c['n_missing']}{rev}")
        lines += [f"  not scored: {why}" for why in self.not_scored.values()]
        return "\n".join(lines)


def construct_scores(ds: "Dataset", constructs: Iterable[str] | None = None, *, registry: "Registry | None" = None,
                     min_answered: float = MIN_ANSWERED, perspective: str | None = None,
                     columns: Iterable[str] = ()) -> ScaleScores:
    """Score constructs of a Dataset (with codebook) per respondent version: :class:`ScaleScores`.

    Items are rescored first (:func:`rescored_long`: missing codes -> missing, reverse-keyed items min + max - x),
    then every construct is scored by :func:`scale_score`. ``constructs``: construct ids (default
    :func:`codebook_constructs`, leaving out, with the reason in ``not_scored``, those without a scale score: event
    indices, structural entries); an id asked for that is not a construct of the codebook or the registry, or
    cannot be scored, is a :class:`DataError` naming it and the codebook. ``registry``: the registry whose
    :func:`~vccscale.models.library.score_blocks` define the blocks (default: the shipped one).
    ``perspective``: only the rows of that version. ``columns``: wide columns (covariates) carried onto every row
    of their respondent.
    """
    import pandas as pd

    if ds.codebook is None:
        raise DataError("scale scores need a codebook", file=ds.source.path)
    if not 0 < min_answered <= 1:
        raise DataError(f"min_answered must be in (0, 1], got {min_answered}", field="min_answered")
    if registry is None:
        from ..registry import load_registry

        registry = load_registry()
    cb = ds.codebook
    extra = list(dict.fromkeys(columns))
    bad = [c for c in extra if c not in ds.data.columns]
    if bad:
        raise DataError(f"{bad[0]!r} is not a column of the data", file=ds.source.path, column=bad[0])
    lf = rescored_long(ds, extra)
    if perspective is not None:
        have = [str(p) for p in dict.fromkeys(lf["perspective"])]
        if perspective not in have:
            raise DataError(f"no rows of perspective {perspective!r} (the data hold: {', '.join(have) or 'none'})",
                            file=ds.source.path, column="perspective")
        lf = lf[lf["perspective"] == perspective].reset_index(drop=True)
    chosen = codebook_constructs(cb, registry) if constructs is None else list(dict.fromkeys(constructs))
    blocks: dict[str, dict[str, list[str]]] = {}
    not_scored: dict[str, str] = {}
    for cid in chosen:
        b, why = construct_blocks(cid, lf.columns, registry=registry, codebook=cb)
        if b is None and constructs is None:
            not_scored[cid] = why
        elif b is None:
            raise DataError(f"cannot score {cid!r}: {why}", file=cb.source)
        else:
            blocks[cid] = b
    chosen = list(blocks)
    keys = ["response_id", "perspective", *[c for c in ID_COLUMNS if c in lf.columns],
            *[c for c in extra if c not in ID_COLUMNS]]
    out = lf[keys].copy()
    for cid in chosen:
        out[cid] = scale_score(registry, cid, lf, min_answered, blocks=blocks[cid])[0]
    used = {i for b in blocks.values() for its in b.values() for i in its}
    rows = [r for r in cb.rows if r.role == "item" and r.item_id in used]
    rev = tuple(dict.fromkeys(r.item_id for r in rows if r.reverse))
    bounds = {}
    for cid, b in blocks.items():
        its = {i for v in b.values() for i in v}
        lo = [r.scale_min for r in rows if r.item_id in its and r.scale_min is not None]
        hi = [r.scale_max for r in rows if r.item_id in its and r.scale_max is not None]
        bounds[cid] = (float(min(lo)) if lo else None, float(max(hi)) if hi else None)
    return ScaleScores(pd.DataFrame(out).reset_index(drop=True), tuple(chosen), blocks, rev, bounds,
                       float(min_answered), perspective, tuple(extra), not_scored)


def score_scales(ds: "Dataset", min_answered: float = MIN_ANSWERED, constructs: list[str] | None = None, *,
                 registry: "Registry | None" = None) -> "pd.DataFrame":
    """The scores frame of :func:`construct_scores`: response_id, perspective, id columns, one column per
    construct."""
    return construct_scores(ds, constructs, registry=registry, min_answered=min_answered).scores


# ----------------------------------------------------------------------------------------------------------
# the items of one scale, for item analysis, reliability and EFA
# ----------------------------------------------------------------------------------------------------------
def scale_items(ds: "Dataset", items: Iterable[str], *, perspective: str | None = None
                ) -> "tuple[pd.DataFrame, dict[str, Any]]":
    """The columns ``items`` of a Dataset as floats, for one scale's statistics: ``(frame, info)``.

    Without a codebook: the data's columns as they are. With one, items are rescored (missing codes -> missing,
    reverse-keyed items min + max - x; ``info["codebook_reversed"]`` lists them) and may be named either by export
    column (wide: ``a_drv_cust_involvement_p_1``) or by item id (``a_drv_cust_involvement_01``; then the frame is
    stacked, one row per respondent version, and ``perspective`` restricts it to one version's rows). Rows are
    not dropped here: the statistics leave out the rows without any answer and count them
    (:func:`vccscale.validate.answered_rows`). A name that is neither is a :class:`DataError` naming it and the
    file.
    """
    import pandas as pd

    items = list(items)
    src = ds.source.path
    info: dict[str, Any] = {"layout": "wide", "codebook_reversed": [], "perspective": None}
    if ds.codebook is None:
        bad = [c for c in items if c not in ds.data.columns]
        if bad:
            raise DataError(f"item column(s) not in the data: {', '.join(bad)}", file=src, column=bad[0])
        if perspective is not None:
            if "perspective" not in ds.data.columns:
                raise DataError("restricting to a perspective needs a codebook or a 'perspective' column",
                                file=src, field="perspective")
            return ds.data.loc[ds.data["perspective"] == perspective, items], {**info, "perspective": perspective}
        return ds.data[items], info
    if all(c in ds.data.columns for c in items):
        if perspective is not None:
            raise DataError("--perspective selects rows of stacked item ids; export columns already belong to one "
                            "version (name the items by item id to stack the versions)", field="perspective")
        x = reverse_key(ds, items)
        info["codebook_reversed"] = [c for c in items if (r := ds.codebook_row(c)) is not None and r.reverse]
        return x, info
    lf = rescored_long(ds)
    bad = [c for c in items if c not in lf.columns or c in ("response_id", "perspective", *ID_COLUMNS)]
    if bad:
        raise DataError(f"{', '.join(bad)}: neither a column of the data nor an item id of the codebook "
                        f"{ds.codebook.source}", file=src, column=bad[0])
    if perspective is not None:
        have = [str(p) for p in dict.fromkeys(lf["perspective"])]
        if perspective not in have:
            raise DataError(f"no rows of perspective {perspective!r} (the data hold: {', '.join(have)})", file=src,
                            field="perspective")
        lf = lf[lf["perspective"] == perspective]
    rev = {r.item_id for r in ds.codebook.rows if r.role == "item" and r.reverse}
    info.update(layout="stacked", perspective=perspective, codebook_reversed=[c for c in items if c in rev],
                rows_by_perspective={str(k): int(v) for k, v in lf["perspective"].value_counts(sort=False).items()})
    return pd.DataFrame(lf[items]).reset_index(drop=True), info


# ----------------------------------------------------------------------------------------------------------
# variables of a model: construct scores and data columns
# ----------------------------------------------------------------------------------------------------------
def variables_frame(ds: "Dataset", names: Iterable[str], *, registry: "Registry | None" = None,
                    perspective: str | None = None, min_answered: float = MIN_ANSWERED
                    ) -> "tuple[pd.DataFrame, dict[str, Any]]":
    """The variables ``names`` of a model (mediation, response surface) as columns of one frame: ``(frame, info)``.

    With a codebook, a name that is a construct of the codebook (:func:`codebook_constructs`) is its scale score
    (:func:`construct_scores`; one row per respondent version, ``response_id`` and ``perspective`` columns), and
    any other name must be a column of the data, carried onto every row of its respondent. Without a codebook
    every name must be a column. ``perspective`` keeps only the rows of that version (without a codebook: the
    rows whose ``perspective`` column has that value). A name that is neither is a :class:`DataError` naming it,
    the data file and the codebook. ``info``: ``constructs`` and ``columns`` used, ``perspective``,
    ``rows_by_perspective`` and, when constructs were scored, ``scores`` (:meth:`ScaleScores.to_dict`).
    """
    names = list(dict.fromkeys(names))
    src = ds.source.path
    info: dict[str, Any] = {"constructs": [], "columns": [], "perspective": perspective}
    if ds.codebook is None:
        bad = [n for n in names if n not in ds.data.columns]
        if bad:
            raise DataError(f"{bad[0]!r} is not a column of the data (construct ids need a codebook)", file=src,
                            column=bad[0])
        frame = ds.data
        if perspective is not None:
            if "perspective" not in frame.columns:
                raise DataError("restricting to a perspective needs a codebook or a 'perspective' column", file=src,
                                field="perspective")
            have = [str(p) for p in dict.fromkeys(frame["perspective"].dropna())]
            if perspective not in have:
                raise DataError(f"no rows of perspective {perspective!r} (the data hold: {', '.join(have)})",
                                file=src, column="perspective")
            frame = frame[frame["perspective"] == perspective]
        info["columns"] = names
        if "perspective" in frame.columns:
            info["rows_by_perspective"] = {str(k): int(v) for k, v in
                                           frame["perspective"].value_counts(sort=False).items()}
        return frame.reset_index(drop=True), info
    if registry is None:
        from ..registry import load_registry

        registry = load_registry()
    known = set(codebook_constructs(ds.codebook, registry))
    constructs = [n for n in names if n in known]
    columns = [n for n in names if n not in known]
    bad = [n for n in columns if n not in ds.data.columns]
    if bad:
        raise DataError(f"{bad[0]!r} is neither a column of the data nor a construct of the codebook "
                        f"{ds.codebook.source}", file=src, column=bad[0])
    sc = construct_scores(ds, constructs, registry=registry, min_answered=min_answered, perspective=perspective,
                          columns=columns)
    d = sc.to_dict()
    info.update(constructs=constructs, columns=columns, rows_by_perspective=d["rows_by_perspective"],
                scores={k: v for k, v in d.items() if k != "rows_by_perspective"})
    return sc.scores, info


def incomplete_rows(frame: "pd.DataFrame", columns: Iterable[str], by: str = "perspective") -> dict[str, Any]:
    """Why listwise deletion on ``columns`` drops rows of a stacked frame: ``n`` rows with a missing value, their
    count per version (``by`` column), and per version the columns no row of it answered (items not asked of
    that version, e.g. a construct asked of providers only, which drops every customer row)."""
    cols = [c for c in columns if c in frame.columns]
    bad = frame[cols].isna().any(axis=1)
    out: dict[str, Any] = {"n": int(bad.sum()), "by": {}, "never_answered": {}}
    if by in frame.columns:
        out["by"] = {str(k): int(v) for k, v in frame.loc[bad, by].value_counts(sort=False).items()}
        counts = frame.groupby(by, sort=False)[cols].count()
        out["never_answered"] = {str(g): [c for c in cols if row[c] == 0] for g, row in counts.iterrows()
                                 if (row == 0).any()}
    return out
