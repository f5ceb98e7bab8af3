"""Reverse-keying and scale scores from the codebook.

Conventions: a reverse-keyed item is rescored as ``min + max - x`` with the scale bounds of its codebook row
(psych::reverse.code with ``mini``/``maxi``); codes listed under ``missing_codes`` (e.g. 99 = don't know) become
missing before anything else. A scale score is the mean of the construct's answered reflective items when at
least ``min_answered`` of them (share, default 0.5) are answered, else missing (psych::scoreItems with
``impute="none"`` and a minimum-answered rule). Scores are computed per respondent and version (long format).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..io.dataset import Dataset


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


def rescored_long(ds: "Dataset") -> "pd.DataFrame":
    """The stacked analysis frame (``Dataset.to_long()``: one row per respondent version, one column per item id)
    after :func:`reverse_key`: missing codes set to missing, reverse-keyed items reversed, so that loadings and
    reliabilities have the construct's direction. It is what an instrument's measurement.lavaan refers to."""
    return ds.with_data(ds.data.assign(**reverse_key(ds))).to_long()


def score_scales(ds: "Dataset", min_answered: float = 0.5, constructs: list[str] | None = None,
                 indicators: tuple[str, ...] = ("reflective",)) -> "pd.DataFrame":
    """Scale means per respondent and version: columns response_id, perspective, then one per construct.

    Items of the respondent's version and joint items both count towards a construct's score.
    """
    import numpy as np
    import pandas as pd

    if ds.codebook is None:
        raise DataError("scale scores need a codebook", file=ds.source.path)
    if not 0 < min_answered <= 1:
        raise DataError(f"min_answered must be in (0, 1], got {min_answered}")
    x = reverse_key(ds)
    groups: dict[tuple[str, str], list[str]] = {}
    for c in x.columns:
        r = ds.codebook_row(c)
        if r is None or not r.construct or (r.indicator or "reflective") not in indicators:
            continue
        if constructs is not None and r.construct not in constructs:
            continue
        groups.setdefault((r.perspective or "joint", r.construct), []).append(c)
    rid = ds.response_id()
    perspectives = sorted({p for p, _ in groups if p != "joint"}) or ["joint"]
    frames = []
    for persp in perspectives:
        own = {cons: cols for (p, cons), cols in groups.items() if p == persp}
        joint = {cons: cols for (p, cons), cols in groups.items() if p == "joint"}
        answered = x[[c for cols in own.values() for c in cols]].notna().any(axis=1) if persp != "joint" else \
            pd.Series(True, index=x.index)
        if persp != "joint" and not answered.any():
            continue
        part = pd.DataFrame({"response_id": rid[answered].values, "perspective": persp})
        for cons in sorted(set(own) | set(joint)):
            cols = own.get(cons, []) + joint.get(cons, [])
            block = x.loc[answered, cols]
            n_ok = block.notna().sum(axis=1)
            need = np.ceil(min_answered * len(cols) - 1e-9)
            part[cons] = block.mean(axis=1).where(n_ok >= need).values
        frames.append(part)
    if not frames:
        return pd.DataFrame(columns=["response_id", "perspective"])
    return pd.concat(frames, ignore_index=True)
