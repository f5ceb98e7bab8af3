"""CSV files that are safe to open in a spreadsheet (CSV / formula injection, OWASP).

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken as a formula by
Excel, LibreOffice and Google Sheets; survey answers (open text, a ResponseId, an uploaded file name) can start
that way. Every CSV vccscale writes goes through :func:`write_csv` / :func:`escape_row`, which put a single quote
``'`` before such *text* cells (spreadsheets show the cell as the text, without the quote). Numbers are never
touched, and neither is text that is a plain number (``-1.5``, ``+3``): a spreadsheet reads it as that number,
not as a formula. Parquet data files stay exact.

The escape is reversible: text that already starts with quotes followed by a trigger character gets one more
quote, so :func:`unescape_cell` (used when vccscale reads its own CSVs back) returns the original text exactly.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

__all__ = ["TRIGGERS", "escape_cell", "escape_frame", "escape_row", "needs_escape", "unescape_cell",
           "unescape_frame", "write_csv"]

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(s: str) -> bool:
    if s != s.strip():
        return False
    try:
        float(s)
    except ValueError:
        return False
    return True


def needs_escape(s: str) -> bool:
    """Whether the text ``s`` would be escaped: it starts (after any leading quotes) with a trigger character and
    is not a plain number."""
    rest = s.lstrip("'")
    if not rest or rest[0] not in TRIGGERS:
        return False
    return not (rest[0] in "+-" and _is_number(rest))


def escape_cell(v: Any) -> Any:
    """``v`` with a leading ``'`` if it is text that a spreadsheet would take as a formula; anything else as is."""
    if isinstance(v, str) and v and needs_escape(v):
        return "'" + v
    return v


def unescape_cell(v: Any) -> Any:
    """The inverse of :func:`escape_cell`."""
    if isinstance(v, str) and v.startswith("'") and needs_escape(v[1:]):
        return v[1:]
    return v


def escape_row(values: Iterable[Any]) -> list[Any]:
    """A row for :mod:`csv` writers, text cells escaped."""
    return [escape_cell(v) for v in values]


def _map_text(df: Any, fn: Any) -> Any:
    import pandas as pd

    out = df.copy()
    for k, c in enumerate(out.columns):
        col = out.iloc[:, k]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col):
            if not col.map(lambda v: isinstance(v, str)).any():
                continue
            out.isetitem(k, col.astype(object).map(fn))
    out.columns = [fn(c) for c in out.columns]
    return out


def escape_frame(df: Any) -> Any:
    """A copy of the DataFrame ``df`` with its text cells and column names escaped (numeric columns unchanged)."""
    return _map_text(df, escape_cell)


def unescape_frame(df: Any) -> Any:
    """The inverse of :func:`escape_frame` (for CSVs vccscale wrote and reads back)."""
    return _map_text(df, unescape_cell)


def write_csv(df: Any, path: str | Path, **kwargs: Any) -> None:
    """``df.to_csv(path, index=False, **kwargs)`` with text cells escaped against formula injection."""
    kwargs.setdefault("index", False)
    escape_frame(df).to_csv(path, **kwargs)
