"""Plain numeric CSV files read without pandas, for ``vccscale cfa`` / ``sem --format json``: :func:`read_plain`.

A researcher's own data saved by R's ``write.csv`` or a spreadsheet (one header row, comma-separated, numbers) is
read here in milliseconds, where :func:`vccscale.io.read_export` first imports pandas (0.3-0.4 s, about as long
as ``Rscript`` with lavaan takes for the whole job). The data are the same: :func:`read_plain` accepts only
files that ``read_export`` reads plainly, and gives up on anything else (None, or :class:`NotPlain` when a column
is used), which the caller then reads with ``read_export``:

* one header row of unique names (a letter, then letters, digits, ``_`` and ``.``), none of them a Qualtrics
  metadata column, an identifier (``read_export`` drops those), an answer-text (``_TEXT``) or display-order
  (``_DO``) column, and not a Qualtrics header (two metadata names, or ``V1`` first);
* comma-delimited UTF-8 (a byte-order mark is allowed), LF or CRLF line ends, every row as long as the header,
  quotes only around a whole value without commas or quotes in it (as R's ``write.csv`` quotes names and text), no
  braces, ``@`` (e-mail addresses), semicolons, tabs, NUL bytes or empty lines, at most :data:`MAX_BYTES`;
* the columns the model uses (:meth:`Columns.matrix`) hold a number in every row, as read_export's ``FLOAT_RE``
  (``-?digits[.digits][e[+-]digits]`` without leading zeros) but whole numbers of at most 15 digits, finite,
  unquoted (a negative zero stays one only in a column that is not all whole numbers, as there). Empty cells,
  ``NA`` and other missing-value tokens, text, codes with leading zeros or hex are left to ``read_export``.

On such files ``read_export`` keeps a model column's numbers as written (Int64 for whole numbers, float64
otherwise: the same floats as Python's ``float()``); tests/test_cli_plain.py compares the two readers' data and
the command's whole JSON output byte for byte.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .formats import IDENTIFIER_KEYS, identifier_key, meta_key, qualtrics_like

__all__ = ["ArrayColumns", "Columns", "MAX_BYTES", "NotPlain", "read_plain"]

#: larger files are left to read_export: a 13 MB file took 0.6 s to split here before a missing value in a model
#: column sent it to read_export anyway, and pyarrow parses large files faster than Python (surveys are far
#: smaller: 1,000 respondents x 100 answers is about 0.3 MB)
MAX_BYTES = 2 * 2**20

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]*\Z")
# read_export's FLOAT_RE, less whole numbers of 16+ digits (codes there)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]{0,14})\Z"
                     r"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)\Z")
_FORBIDDEN = re.compile(r"[{}@;\t\x00]")
_QUOTED = re.compile(r'"[^"]*"\Z')


class NotPlain(Exception):
    """The file (or a column the model uses) is not plain: read it with read_export."""


class Columns:
    """The columns of a plain CSV file as text; :meth:`matrix` gives the numbers of some of them. Duck-types the
    part of a DataFrame :func:`vccscale.sem.fit_cfa` / ``fit_sem`` use for a single-group model (``columns``,
    ``matrix``)."""

    def __init__(self, path: Path, names: list[str], rows: list[list[str]]):
        self.path = path
        self.columns = names
        self._rows = rows
        self._pos = {n: k for k, n in enumerate(names)}
        self._numbers: dict[str, list[float]] = {}  # each column parsed once (the fit, then alpha and HTMT)

    def __len__(self) -> int:
        return len(self._rows)

    def matrix(self, cols: list[str]) -> np.ndarray:
        """The columns ``cols`` as an (n, k) float matrix in column-major order (as pandas holds a frame's numbers).
        NotPlain when a cell is not a plain number (read_export decides what it is)."""
        out = np.empty((len(self._rows), len(cols)), order="F")
        for j, c in enumerate(cols):
            if c not in self._numbers:
                self._numbers[c] = self._parse(c)
            out[:, j] = self._numbers[c]
        return out

    def _parse(self, c: str) -> list[float]:
        k = self._pos[c]
        vals = [r[k] for r in self._rows]
        for v in vals:
            if not _NUMBER.match(v):
                raise NotPlain(f"column {c!r}: {v!r} is not a plain number")
        x = [float(v) for v in vals]
        if not all(math.isfinite(f) for f in x):
            raise NotPlain(f"column {c!r}: a number out of range")
        if any(f == 0.0 and math.copysign(1.0, f) < 0 for f in x) and \
                all(f == math.floor(f) for f in x) and max(abs(f) for f in x) < 2**53:
            x = [f + 0.0 for f in x]  # whole numbers: read_export's int64 column has no negative zero
        return x


class ArrayColumns:
    """Named numeric columns held as one float matrix (NaN for missing): the part of a DataFrame a single-group,
    single-level fit reads (``columns``, ``matrix``), for data made in memory without pandas (Monte Carlo
    replicates)."""

    def __init__(self, X: np.ndarray, names: list[str]):
        self._X = X
        self.columns = list(names)
        self._pos = {n: k for k, n in enumerate(self.columns)}

    def __len__(self) -> int:
        return self._X.shape[0]

    def matrix(self, cols: list[str]) -> np.ndarray:
        """The columns ``cols`` as a new (n, k) float matrix (row-major, as the DataFrame path builds it)."""
        return np.ascontiguousarray(self._X[:, [self._pos[c] for c in cols]], dtype=float)


def read_plain(path: Path) -> Columns | None:
    """The file as :class:`Columns` when it is a plain CSV file (see the module docstring), else None."""
    p = Path(path)
    if p.suffix.lower() != ".csv" or p.with_name(p.name + ".meta.json").exists():
        return None
    try:
        if p.stat().st_size > MAX_BYTES:
            return None
        raw = p.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    if not text or _FORBIDDEN.search(text):
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if "\r" in text:
        if not all(line.endswith("\r") for line in lines):
            return None
        lines = [line[:-1] for line in lines]
        if any("\r" in line for line in lines):
            return None
    if len(lines) < 2:
        return None
    for line in lines:
        if '"' in line and not all(_QUOTED.match(f) for f in line.split(",") if '"' in f):
            return None  # a quote inside a value, or a quoted value with a comma: read_export parses it
    names = [n[1:-1] if n.startswith('"') else n for n in lines[0].split(",")]
    if (len(set(names)) != len(names) or not all(_NAME.match(n) for n in names) or names[0] == "V1"
            or qualtrics_like(names)):
        return None
    for n in names:
        if (meta_key(n, None) is not None or identifier_key(n) in IDENTIFIER_KEYS
                or n.endswith(("_TEXT", "_DO"))):
            return None
    width = len(names)
    rows = [line.split(",") for line in lines[1:]]
    if any(len(r) != width for r in rows) or any(not line for line in lines):
        return None
    return Columns(p, names, rows)
