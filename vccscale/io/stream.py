"""Import an export straight to a file, streaming large UTF-8 text exports (issue 20).

:func:`import_export` does what ``read_export(path, ...).write(out)`` does (same columns, types, values, log and
``.meta.json`` sidecar) without holding the data when it can: a UTF-8 CSV or TSV export written to Parquet is
read twice in blocks of :data:`STREAM_BLOCK` bytes. The first pass decides every column's type with the rules of
:func:`~vccscale.io.read.read_export` (a column is Int64 only if *every* block's values are whole numbers, a
code with leading zeros anywhere keeps it text, and so on), counts missing-value tokens and e-mail addresses,
hashes the file and checks what the in-memory reader checks (UTF-8, NUL bytes, quotes, line lengths, field
counts); the second pass converts each block and writes it as a Parquet row group. Neither pass imports pandas,
so the process's memory stays near the interpreter's plus a few blocks, whatever the size of the file.

Everything else is read in memory by ``read_export``: zip archives, SPSS files, UTF-16 or re-encoded text, CSV
output, and the rare text files whose problems only the whole file shows (a row with the wrong number of fields,
an unterminated quote, invalid UTF-8, a NUL byte, CRLF line breaks inside answers, a line longer than half a parser
block). Their errors and results are therefore exactly ``read_export``'s.
"""
from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from .dataset import ColumnInfo, SourceInfo
from .formats import (
    BLOCK_SIZE,
    BOM_UTF8,
    MAX_LINE_CHARS,
    RawExport,
    _first_record,
    _layout,
    _parse_table,
    _sniff,
    _sniff_delimiter,
)
from .read import (
    _DATE_FORMATS,
    _EMAIL_RE,
    _FLOAT_RE,
    _LIKERT_WORDS,
    _MAX_EXACT,
    _STATUS_LABELS,
    _FINISHED,
    EMAIL_REDACTED,
    STATUS_CODES,
    _checked,
    _Ctx,
    _identifier_reason,
    _leading_zeros,
    _map_codebook,
    _norm_label,
    _Plan,
    _target,
    _whole_number,
    hash_identifier,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from ..instrument.codebook import Codebook, CodebookRow

__all__ = ["import_export", "STREAM_MIN_BYTES", "STREAM_BLOCK"]

# files from this size on are streamed when written to Parquet (stream=None)
STREAM_MIN_BYTES = 32 << 20
# bytes per block (one Parquet row group each): larger blocks mean fewer calls per column, smaller less memory
STREAM_BLOCK = 4 << 20


class _Fallback(Exception):
    """The streaming reader cannot check this file block by block: read it in memory."""


# ---------------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------------
def import_export(path: str | Path, out: str | Path, codebook: "Codebook | str | Path | None" = None, *,
                  identifiers: str = "drop", salt: str | None = None, encoding: str | None = None,
                  na: "list[str] | tuple[str, ...] | None" = None, redact_emails: bool = False,
                  max_unzipped_bytes: int | None = None, max_line_chars: int | None = None,
                  stream: bool | None = None, block_size: int | None = None) -> dict[str, Any]:
    """Read an export (arguments as :func:`~vccscale.io.read.read_export`) and write it to ``out`` (``.parquet``
    or ``.csv``) with its ``.meta.json`` sidecar. Returns the sidecar's content plus ``"streamed"`` (bool),
    ``"how"`` (a sentence saying how the file was read) and ``"files"``.

    ``stream``: None (default) streams UTF-8 text exports of at least :data:`STREAM_MIN_BYTES` bytes written to
    Parquet; True streams whenever the file allows it (any size); False always reads in memory. ``block_size``:
    bytes per streamed block (default :data:`STREAM_BLOCK`)."""
    from .read import _build, load

    o = Path(out)
    if o.suffix.lower() not in (".parquet", ".csv"):
        raise DataError("output must end in .parquet or .csv", file=o)
    p, tokens, cb = _checked(path, codebook, identifiers, salt, na, max_unzipped_bytes, max_line_chars)
    size = p.stat().st_size
    why = None
    if stream is False:
        why = "stream=False"
    elif o.suffix.lower() != ".parquet":
        why = "CSV output"
    elif stream is None and size < STREAM_MIN_BYTES:
        why = f"smaller than {STREAM_MIN_BYTES >> 20} MB"
    if why is None:
        try:
            meta = _stream(p, o, cb, identifiers, salt, tokens, bool(redact_emails), encoding,
                           MAX_LINE_CHARS if max_line_chars is None else max_line_chars, block_size or STREAM_BLOCK)
            return {**meta, "streamed": True, "how": f"streamed in blocks of {(block_size or STREAM_BLOCK):,} bytes",
                    "files": [str(o), str(_meta_path(o))]}
        except _Fallback as exc:
            why = str(exc)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", file=p) from None
    sha = hashlib.sha256(raw).hexdigest()
    rx = load(p, raw, encoding, max_unzipped_bytes=max_unzipped_bytes, max_line_chars=max_line_chars)
    del raw
    ds = _build(p, rx, sha, cb, identifiers, salt, tokens, bool(redact_emails))
    data_path, meta_path = ds.write(o)
    return {**ds.meta_dict(), "streamed": False, "how": f"read in memory ({why})",
            "files": [str(data_path), str(meta_path)]}


def _meta_path(o: Path) -> Path:
    return o.with_name(o.name + ".meta.json")


# ---------------------------------------------------------------------------------------------------------------
# reading the file: a tap that hashes and checks the bytes pyarrow reads
# ---------------------------------------------------------------------------------------------------------------
class _Tap(io.RawIOBase):
    """The file from ``skip`` on, as pyarrow reads it; with ``check`` it hashes every byte (the skipped BOM too)
    and collects what read_export checks on the whole buffer."""

    def __init__(self, path: Path, skip: int, check: bool) -> None:
        super().__init__()
        self.f = open(path, "rb")
        head = self.f.read(skip)
        self.check = check
        self.sha = hashlib.sha256(head)
        self.dec = codecs.getincrementaldecoder("utf-8")()
        self.bad_utf8 = self.nul = False
        self.quotes = self.longest = self.line = 0
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        # A read never ends between the CR and LF of a CRLF: arrow drops the LF of a CRLF inside a quoted value
        # when a block boundary falls there (apache/arrow#51368), and arrow's blocks are these reads.
        mv = memoryview(b)
        k = len(self.pending)
        mv[:k] = self.pending
        n = k + (self.f.readinto(mv[k:]) or 0)
        self.pending = b""
        if n > 1 and mv[n - 1] == 13:
            self.pending = b"\r"
            n -= 1
        if n and self.check:
            self._scan(bytes(mv[:n]))
        return n

    def close(self) -> None:
        self.f.close()
        super().close()

    def _scan(self, chunk: bytes) -> None:
        self.sha.update(chunk)
        if not self.bad_utf8:
            try:
                self.dec.decode(chunk)
            except UnicodeDecodeError:
                self.bad_utf8 = True
        self.nul = self.nul or b"\x00" in chunk
        self.quotes += chunk.count(b'"')
        parts = re.split(rb"[\r\n]", chunk)
        if len(parts) == 1:
            self.line += len(chunk)
        else:
            self.longest = max(self.longest, self.line + len(parts[0]), max(map(len, parts[1:-1]), default=0))
            self.line = len(parts[-1])
        self.longest = max(self.longest, self.line)

    def finish(self) -> None:
        if self.check and not self.bad_utf8:
            try:
                self.dec.decode(b"", final=True)
            except UnicodeDecodeError:
                self.bad_utf8 = True


def _batches(path: Path, skip: int, delim: str, ncols: int, block: int, check: bool):
    """(tap, generator of record batches of strings); invalid rows are collected in ``tap.invalid``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    tap = _Tap(path, skip, check)
    tap.invalid = 0

    def handler(row: Any) -> str:
        tap.invalid += 1
        return "skip"

    names = [f"c{i}" for i in range(ncols)]
    try:
        reader = pcsv.open_csv(
            tap, read_options=pcsv.ReadOptions(column_names=names, block_size=block, use_threads=True),
            parse_options=pcsv.ParseOptions(delimiter=delim, quote_char='"', double_quote=True, escape_char=False,
                                            newlines_in_values=True, ignore_empty_lines=True,
                                            invalid_row_handler=handler),
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[""],
                                                strings_can_be_null=True, quoted_strings_can_be_null=True,
                                                check_utf8=False))
    except (pa.ArrowException, OSError, ValueError) as exc:
        tap.close()
        raise _Fallback(f"the stream reader stopped: {exc}") from None

    def gen():
        try:
            while True:
                try:
                    b = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowException, OSError, ValueError) as exc:
                    raise _Fallback(f"the stream reader stopped: {exc}") from None
                if tap.invalid:
                    raise _Fallback("a row has the wrong number of fields")
                yield b
        finally:
            tap.close()
    return tap, gen()


def _header(p: Path, encoding: str | None) -> tuple[RawExport, int, str]:
    """The layout from the file's first block: (RawExport without values, bytes to skip (BOM), delimiter)."""
    where = str(p)
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(BLOCK_SIZE)
    if not head.strip():
        raise _Fallback("empty start")
    try:
        if _sniff(head, where) != "text":
            raise _Fallback("not a text export")
    except DataError as exc:
        raise _Fallback(str(exc)) from None
    bom = head.startswith(BOM_UTF8)
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except (LookupError, TypeError):
            raise _Fallback("unknown encoding") from None
        if codec not in ("utf-8", "utf-8-sig"):
            raise _Fallback(f"encoding {encoding}")
        enc = encoding
    else:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (
                len(head) >= 4 and (head[1] == 0 and head[3] == 0 or head[0] == 0 and head[2] == 0)):
            raise _Fallback("UTF-16")
        enc = "utf-8-sig" if bom else "utf-8"
    skip = 3 if bom else 0
    text = head[skip:]
    if b"\x00" in text:
        raise _Fallback("NUL byte")
    if len(head) < size:
        cut = text.rfind(b"\n")
        if cut < 0:
            raise _Fallback("no line end in the first block")
        text = text[:cut + 1]
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        raise _Fallback("invalid UTF-8") from None
    first_line = text[:1 << 16].split(b"\n", 1)[0].decode("utf-8", errors="replace")
    delim = _sniff_delimiter(first_line)
    try:
        row1 = _first_record(text, delim, where)
        if not row1 or all(not c.strip() for c in row1):
            raise _Fallback("no column names")
        table, bad = _parse_table(text, delim, len(row1), block_size=len(text) + 1)
        if bad:
            raise _Fallback("a row of the first block has the wrong number of fields")
        rx = _layout(table, row1, delim, enc, where)
    except (DataError, UnicodeDecodeError) as exc:
        raise _Fallback(str(exc)) from None
    except Exception as exc:  # an arrow parse error of the (cut) first block
        if type(exc).__module__.startswith("pyarrow"):
            raise _Fallback(str(exc)) from None
        raise
    if rx.n_rows == 0:
        raise _Fallback("no response in the first block")
    for c in rx.columns:
        c.values = None
    return rx, skip, delim


# ---------------------------------------------------------------------------------------------------------------
# the first pass: what read_export decides from a whole column, gathered block by block
# ---------------------------------------------------------------------------------------------------------------
class _Num:
    """read._number's decision over blocks: None (not numbers), "int" or "float"."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.seen = False         # a non-missing value
        self.all_int = True       # every block with values casts to int64
        self.lead0 = False        # (strict) a code with leading zeros / hexadecimal
        self.big16 = False        # (strict) an integer of 16+ digits
        self.dead = False         # (strict) a value that is no number in _FLOAT_RE's sense
        self.float_ok = True      # every value casts to a finite float
        self.whole = True
        self.mx = 0
        self.first_bad: tuple[int, str] | None = None    # int target: first value that is no whole number

    def observe(self, a: "pa.Array", offset: int, need_bad: bool) -> bool:
        """Returns whether the block holds whole numbers only (int64 cast)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if a.null_count == len(a):
            return True
        self.seen = True
        if self.dead:
            return False
        b = a if self.strict else pc.utf8_trim_whitespace(a)
        try:
            ints = pc.cast(b, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            ints = None
        if ints is not None:
            if self.strict:
                if _leading_zeros(b):
                    self.lead0 = True
                if pc.max(pc.utf8_length(b)).as_py() >= 16 and \
                        pc.any(pc.match_substring_regex(b, r"^-?[0-9]{16,}$")).as_py():
                    self.big16 = True
            mm = pc.min_max(ints).as_py()
            self.mx = max(self.mx, abs(mm["min"]), abs(mm["max"]))
            return True
        self.all_int = False
        if need_bad and self.first_bad is None:
            vals = [u for u in pc.unique(a).to_pylist() if u is not None and _whole_number(u) is None]
            if vals:
                i = min(pc.index(a, pa.scalar(u, pa.string())).as_py() for u in vals)
                self.first_bad = (offset + i, a[i].as_py())
        if self.strict:
            if not pc.all(pc.match_substring_regex(b, _FLOAT_RE)).as_py() or \
                    pc.any(pc.match_substring_regex(b, r"^-?[0-9]{16,}$")).as_py():
                self.dead = True
                return False
        try:
            f = pc.cast(b, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            self.float_ok, self.dead = False, True
            return False
        if not pc.all(pc.is_finite(f)).as_py():
            self.float_ok, self.dead = False, True
            return False
        self.whole = self.whole and bool(pc.all(pc.equal(f, pc.floor(f))).as_py())
        self.mx = max(self.mx, pc.max(pc.abs(f)).as_py())
        return False

    def kind(self) -> str | None:
        if not self.seen:
            return None if self.strict else "int"
        if self.dead or not self.float_ok:
            return None
        if self.all_int:
            return None if (self.strict and self.lead0) else "int"
        if self.strict and (self.lead0 or self.big16):
            return None
        return "int" if self.whole and self.mx < _MAX_EXACT else "float"


class _Uniq:
    """read._map_uniques over blocks: each distinct value mapped once; the first unmappable value's row."""

    def __init__(self, fn: Any, limit: int | None = None) -> None:
        self.fn = fn
        self.map: dict[str, Any] = {}
        self.first_bad: tuple[int, str] | None = None
        self.limit = limit       # only count (scale-label check): stop after limit + 1 values
        self.null = False

    def observe(self, a: "pa.Array", offset: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.limit is not None and len(self.map) > self.limit:
            return
        self.null = self.null or a.null_count > 0
        bad = []
        for u in pc.unique(a).to_pylist():
            if u is None or u in self.map:
                continue
            v = self.fn(u) if self.fn is not None else u
            self.map[u] = v
            if v is None:
                bad.append(u)
        if bad and self.first_bad is None:
            self.first_bad = min((offset + pc.index(a, pa.scalar(u, pa.string())).as_py(), u) for u in bad)

    def apply(self, a: "pa.Array", out_type: Any) -> "pa.Array":
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self.map:
            return pa.nulls(len(a), out_type)
        if getattr(self, "_n", None) != len(self.map):
            self._n = len(self.map)
            self._keys = pa.array(list(self.map), pa.string())
            self._vals = pa.array(list(self.map.values()), out_type)
        return pc.take(self._vals, pc.index_in(a, value_set=self._keys))


# dates: the regular expressions of Python's (and pandas') strptime, evaluated by arrow
_DATE_RE: dict[str, str] = {}


def _date_regex(fmt: str) -> str:
    if fmt not in _DATE_RE:
        import _strptime

        _DATE_RE[fmt] = "(?i)^" + _strptime._TimeRE_cache.pattern(fmt) + "$"
    return _DATE_RE[fmt]


def parse_dates(s: "pa.Array", fmt: str) -> "pa.Array":
    """Timestamps (microseconds) of the strings ``s`` read with the strptime format ``fmt`` (null where a value
    does not match or is no valid date), as ``pandas.to_datetime(s, format=fmt, errors="coerce")`` reads them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(s)
    st = pc.extract_regex(s, _date_regex(fmt))
    ok = np.asarray(pc.is_valid(st).to_numpy(zero_copy_only=False), dtype=bool)
    names = [st.type.field(i).name for i in range(st.type.num_fields)]

    def field(name: str, default: int = 0) -> Any:
        if name not in names:
            return np.full(n, default, dtype=np.int64)
        v = pc.cast(pc.utf8_trim_whitespace(pc.struct_field(st, name)), pa.int64())
        return np.asarray(pc.fill_null(v, default).to_numpy(zero_copy_only=False), dtype=np.int64)

    if "Y" in names:
        year = field("Y", 1970)
    else:
        yy = field("y", 70)
        year = np.where(yy <= 68, yy + 2000, yy + 1900)
    month, day = field("m", 1), field("d", 1)
    if "I" in names:
        hour = field("I", 12)
        pm = np.asarray(pc.fill_null(pc.equal(pc.utf8_lower(pc.struct_field(st, "p")), "pm"), False)
                        .to_numpy(zero_copy_only=False), dtype=bool)
        hour = np.where(pm, np.where(hour == 12, 12, hour + 12), np.where(hour == 12, 0, hour))
    else:
        hour = field("H")
    minute, second = field("M"), field("S")
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    dim = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)] + (leap & (month == 2))
    # as read._dates: seconds 60 and 61 carry into the minute (pandas), year 0 is no date
    ok &= (day >= 1) & (day <= dim) & (year >= 1)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    us = ((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000)
    return pa.array(us, pa.int64(), mask=~ok).cast(pa.timestamp("us"))


class _Dates:
    """read._dates over blocks: the formats that read the first value, with the values each fails on."""

    def __init__(self) -> None:
        self.first: tuple[int, str] | None = None
        self.cands: list[list[Any]] = []     # [fmt, shape, misses, first miss (row, value), alt misses]

    def observe(self, a: "pa.Array", offset: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        s = pc.utf8_trim_whitespace(a)
        if s.null_count == len(s):
            return
        valid = pc.is_valid(s)
        if self.first is None:
            i = pc.indices_nonzero(valid)[0].as_py()
            first = s[i].as_py()
            self.first = (offset + i, first)
            one = pa.array([first], pa.string())
            self.cands = [[fmt, shape, 0, None, 0] for fmt, shape in _DATE_FORMATS
                          if parse_dates(one, fmt).null_count == 0]
        for c in self.cands:
            miss = pc.and_(valid, pc.is_null(parse_dates(s, c[0])))
            k = pc.sum(miss).as_py() or 0
            if k:
                c[2] += k
                if c[3] is None:
                    j = pc.indices_nonzero(miss)[0].as_py()
                    c[3] = (offset + j, s[j].as_py())
            if c[0].startswith("%d/%m/"):
                alt = parse_dates(s, c[0].replace("%d/%m/", "%m/%d/"))
                c[4] += pc.sum(pc.and_(valid, pc.is_null(alt))).as_py() or 0

    def decide(self, name: str, ctx: _Ctx) -> str | None:
        """The format (None: no value), logging as read._dates does; a DataError as it raises."""
        if self.first is None:
            return None
        best = None
        for fmt, shape, misses, first_miss, alt in self.cands:
            if misses:
                if best is None or misses < best[0]:
                    best = (misses, first_miss, shape)
                continue
            if shape != "YYYY-MM-DD HH:MM:SS":
                ctx.log.append(f"column {name}: dates in the shape {shape} (the file was probably re-saved by a "
                               "spreadsheet)")
            if fmt.startswith("%d/%m/") and not alt:
                ctx.log.append(f"column {name}: {self.first[1]!r} etc. read as day/month/year; month/day/year "
                               "would fit every value too")
            return fmt
        if best is None:
            raise ctx.error(f"not a date and time: {self.first[1]!r} (expected YYYY-MM-DD HH:MM:SS)",
                            self.first[0], name)
        _, (idx, val), shape = best
        raise ctx.error(f"not a date and time: {val!r} (the other values look like {shape})", idx, name)


class _Col:
    """One column of the file: what the first pass gathers and the conversion the second pass applies."""

    def __init__(self, c: Any, row: "CodebookRow | None", ident: bool, tokens: tuple[str, ...],
                 count_tokens: bool, identifiers: str) -> None:
        self.c, self.row = c, row
        self.ident = ident
        self.skip = ident and identifiers == "drop"
        self.hashed = ident and identifiers == "hash"
        self.tokens, self.count_tokens = tokens, count_tokens
        self.target = _target(c, row)
        self.nulls = 0                               # empty cells (before tokens)
        self.na: dict[str, list[int]] = {}           # token -> [cells, first row]
        self.emails = 0
        self.num = _Num(self.target == "auto") if self.target in ("int", "coded", "numeric", "auto") else None
        self.uniq: _Uniq | None = None
        self.dates = _Dates() if self.target == "datetime" else None
        self.status_labels: list[str] = []
        self.tf: set[str] = set()
        if self.target == "status":
            self.uniq = _Uniq(self._status_code)
        elif self.target == "bool":
            self.uniq = _Uniq(self._bool)
        elif self.target == "coded" and row is not None:
            self.uniq = _Uniq(self._recode_fn(row))
        elif self.target == "auto" and row is None and c.meta_key is None:
            self.uniq = _Uniq(None, limit=15)
        self.scan = not ident and self.target in ("string", "auto", "numeric")
        self.kind: str | None = None

    # mapping functions (as read._status, _finished, _recode)
    def _status_code(self, u: str) -> int | None:
        n = _whole_number(u)
        if n is not None:
            return n
        k = _STATUS_LABELS.get(_norm_label(u).casefold())
        if k is not None:
            self.status_labels.append(u)
        return k

    def _bool(self, u: str) -> bool | None:
        s = u.strip()
        self.tf.add(s)
        return _FINISHED.get(s.lower())

    def _recode_fn(self, row: "CodebookRow") -> Any:
        import math

        lookup: dict[str, int | None] = {}
        for code, label in row.value_labels.items():
            key = _norm_label(str(label))
            lookup[key] = None if key in lookup and lookup[key] != code else code
        self.lookup = lookup
        self.recoded = False

        def code_of(u: str) -> float | None:
            key = _norm_label(u)
            if key in lookup:
                c = lookup[key]
                if c is None:
                    return None
                self.recoded = True
                return float(c)
            try:
                f = float(u.strip())
            except ValueError:
                return None
            return f if math.isfinite(f) else None
        return code_of

    def na_apply(self, a: "pa.Array", offset: int, count: bool) -> "pa.Array":
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self.tokens or a.null_count == len(a):
            return a
        trimmed = pc.utf8_trim_whitespace(a)
        hit = pc.is_in(trimmed, value_set=pa.array(list(self.tokens), pa.string()))
        if not pc.any(hit).as_py():
            return a
        if count:
            for item in pc.value_counts(pc.filter(trimmed, hit)).to_pylist():
                t, k = item["values"], item["counts"]
                if t not in self.na:
                    self.na[t] = [0, offset + pc.index(trimmed, pa.scalar(t, pa.string())).as_py()]
                self.na[t][0] += k
        return pc.if_else(hit, pa.scalar(None, pa.string()), a)

    def observe(self, a: "pa.Array", offset: int) -> None:
        import pyarrow.compute as pc

        self.nulls += a.null_count
        if self.skip:
            return
        a = self.na_apply(a, offset, self.count_tokens)
        if self.hashed:
            return
        ints = True
        if self.num is not None and not (self.num.dead and self.uniq is None and not self.scan):
            ints = self.num.observe(a, offset, need_bad=self.target == "int")
        if self.uniq is not None:
            self.uniq.observe(a, offset)
        if self.dates is not None:
            self.dates.observe(a, offset)
        if self.scan and not (self.num is not None and ints) and a.null_count < len(a) and \
                pc.any(pc.match_substring(a, "@")).as_py():
            self.emails += pc.sum(pc.match_substring_regex(a, _EMAIL_RE)).as_py() or 0

    def decide(self, name: str, ctx: _Ctx) -> None:
        """The column's type (``self.kind``), logging and raising as read._convert does."""
        t = self.target
        if self.hashed or t == "string":
            self.kind = "string"
        elif t == "datetime":
            self.fmt = self.dates.decide(name, ctx)
            self.kind = "datetime"
        elif t == "status":
            self._mapped_error(ctx, name, lambda u: (
                f"unknown response type {u!r}: not a Status code or one of the labels "
                f"{', '.join(repr(v) for v in STATUS_CODES.values())}"))
            if self.status_labels:
                ctx.choice_text.append(f"Status labels ({', '.join(sorted(set(self.status_labels))[:3])})")
                ctx.log.append(f"column {name}: response-type labels mapped to Status codes")
            self.kind = "status"
        elif t == "bool":
            self._mapped_error(ctx, name, lambda u: f"expected 1/0 or True/False, found {u!r}")
            if self.tf & {"True", "False"}:
                ctx.choice_text.append(f"{name} is True/False")
            self.kind = "bool"
        elif t == "int":
            k = self.num.kind()
            if k != "int":
                if self.num.first_bad is None:
                    raise _Fallback("a whole-number column's first bad value lies in a block read as integers")
                idx, bad = self.num.first_bad
                raise ctx.error(f"expected a whole number, found {bad!r}", idx, name)
            self.kind = "int"
        else:
            k = self.num.kind()
            if k is not None:
                self.kind = k
            elif t == "coded" and self.row is not None:
                self._mapped_error(ctx, name, self._recode_message)
                vals = [v for v in self.uniq.map.values()]
                whole = all(v == int(v) for v in vals) and max((abs(v) for v in vals), default=0) < _MAX_EXACT
                if self.recoded:
                    ctx.choice_text.append(f"answer labels in {name}")
                self.kind = "coded_int" if whole else "coded_float"
            else:
                if t == "numeric":
                    ctx.log.append(f"column {name}: the codebook says {self.row.type if self.row else 'numeric'} "
                                   "but some values are not numbers; kept as text")
                elif self.uniq is not None and self.uniq.limit is not None:
                    m = self.uniq.map
                    if len(m) + self.uniq.null <= 15 and any(
                            len(x) < 60 and _LIKERT_WORDS.search(x) for x in m):
                        ctx.choice_text.append(f"answer labels in {name}")
                self.kind = "string"
        if self.kind != "string" or self.ident:
            self.emails = 0

    def _recode_message(self, u: str) -> str:
        row = self.row
        shown = "; ".join(f"{k} = {v!r}" for k, v in list(row.value_labels.items())[:12])
        amb = " (the label belongs to several codes)" if self.lookup.get(_norm_label(u), 0) is None else ""
        return (f"answer {u!r} is not a label of codebook variable {row.variable!r}{amb}; its labels are "
                f"{shown}")

    def _mapped_error(self, ctx: _Ctx, name: str, message: Any) -> None:
        if self.uniq.first_bad is not None:
            idx, u = self.uniq.first_bad
            raise ctx.error(message(u), idx, name)

    # -- the second pass ---------------------------------------------------------------------------------------
    def arrow_type(self) -> "pa.DataType":
        import pyarrow as pa

        return {"string": pa.large_string(), "int": pa.int64(), "status": pa.int64(), "coded_int": pa.int64(),
                "float": pa.float64(), "coded_float": pa.float64(), "bool": pa.bool_(),
                "datetime": pa.timestamp("us")}[self.kind]

    def dtype(self) -> str:
        return {"string": "string", "int": "Int64", "status": "Int64", "coded_int": "Int64", "float": "Float64",
                "coded_float": "Float64", "bool": "boolean", "datetime": "datetime64[us]"}[self.kind]

    def convert(self, a: "pa.Array", salt: str, redact: bool) -> "pa.Array":
        import pyarrow as pa
        import pyarrow.compute as pc

        a = self.na_apply(a, 0, False)
        k = self.kind
        if self.hashed:
            keys = [u for u in pc.unique(a).to_pylist() if u is not None]
            if not keys:
                return pa.nulls(len(a), pa.large_string())
            hashes = pa.array([hash_identifier(u, salt) for u in keys], pa.large_string())
            return pc.take(hashes, pc.index_in(a, value_set=pa.array(keys, pa.string())))
        if k == "string":
            if redact and self.emails:
                a = pc.replace_substring_regex(a, _EMAIL_RE, EMAIL_REDACTED)
            return a.cast(pa.large_string())
        if k == "datetime":
            if self.fmt is None:
                return pa.nulls(len(a), pa.timestamp("us"))
            return parse_dates(pc.utf8_trim_whitespace(a), self.fmt)
        if k in ("status", "bool"):
            return self.uniq.apply(a, pa.int64() if k == "status" else pa.bool_())
        if k in ("coded_int", "coded_float"):
            f = self.uniq.apply(a, pa.float64())
            return f.cast(pa.int64()) if k == "coded_int" else f
        if a.null_count == len(a):
            return pa.nulls(len(a), pa.int64() if k == "int" else pa.float64())
        b = a if self.num.strict else pc.utf8_trim_whitespace(a)
        if k == "float":
            return pc.cast(b, pa.float64())
        try:
            return pc.cast(b, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pc.cast(b, pa.float64()).cast(pa.int64())


class _Stub:
    """Stands in for a column's values where only their number and emptiness matter (read._drop_empty_unnamed)."""

    def __init__(self, n: int, nulls: int) -> None:
        self.n, self.null_count = n, nulls

    def __len__(self) -> int:
        return self.n


def _pandas_meta(names: list[str], dtypes: list[str]) -> bytes:
    """The ``pandas`` schema metadata DataFrame.to_parquet writes, so pandas reads the nullable types back."""
    from importlib.metadata import version

    import pyarrow as pa

    ptype = {"Int64": "int64", "Float64": "float64", "boolean": "bool", "string": "object",
             "datetime64[us]": "datetime"}
    cols = [{"name": n, "field_name": n, "pandas_type": ptype[d], "numpy_type": d, "metadata": None}
            for n, d in zip(names, dtypes)]
    return json.dumps({"index_columns": [], "column_indexes": [], "columns": cols, "attributes": {},
                       "creator": {"library": "pyarrow", "version": pa.__version__},
                       "pandas_version": version("pandas")}).encode("utf-8")


# ---------------------------------------------------------------------------------------------------------------
# the two passes
# ---------------------------------------------------------------------------------------------------------------
def _stream(p: Path, out: Path, cb: "Codebook | None", identifiers: str, salt: str | None,
            na: tuple[str, ...] | None, redact: bool, encoding: str | None, max_line: int, block: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .read import PLAIN_NA

    rx, skip, delim = _header(p, encoding)
    ncols = len(rx.columns)
    header = rx.header_rows
    # targets before the first pass: the codebook mapping and identifiers of all columns (an empty unnamed column,
    # dropped afterwards, maps to nothing, so the others' rows are the same)
    mapping_all = _map_codebook(rx.columns, cb, []) if cb is not None else {}
    labelled = rx.header_rows >= 2
    tokens = na if na is not None else (PLAIN_NA if rx.format == "plain_csv" else ())
    count_tokens = na is not None or rx.format == "plain_csv"
    cols = [_Col(c, mapping_all.get(i), _identifier_reason(c, mapping_all.get(i), labelled) is not None, tokens,
                 count_tokens, identifiers) for i, c in enumerate(rx.columns)]
    ctx_rows = 0
    tap, batches = _batches(p, skip, delim, ncols, block, check=True)
    seen = 0          # records read (header rows included)
    for b in batches:
        lo = max(0, header - seen)
        seen += b.num_rows
        if lo >= b.num_rows:
            continue
        for i, col in enumerate(cols):
            col.observe(b.column(i).slice(lo), ctx_rows)
        ctx_rows += b.num_rows - lo
    tap.finish()
    n_rows = ctx_rows
    if tap.bad_utf8:
        raise _Fallback("invalid UTF-8")
    if tap.nul:
        raise _Fallback("NUL byte")
    if tap.quotes % 2:
        raise _Fallback("an odd number of quotes")
    if tap.longest > min(max_line, BLOCK_SIZE // 2):
        raise _Fallback("a line longer than half a parser block")
    for c, col in zip(rx.columns, cols):
        c.values = _Stub(n_rows, col.nulls)
    plan = _Plan(p, rx, cb, identifiers, na)
    kept = {id(c): i for i, c in enumerate(rx.columns)}
    order = [kept[id(c)] for c in plan.cols]
    for j, i in enumerate(order):
        if plan.mapping.get(j) is not mapping_all.get(i):
            raise _Fallback("the codebook maps the columns differently once empty columns are dropped")
    # decisions, in column order (the in-memory reader's order of errors and log lines)
    names: list[str] = []
    use: list[int] = []
    infos: list[ColumnInfo] = []
    for j, i in enumerate(order):
        name = plan.names[j]
        if name in plan.drop:
            continue
        col = cols[i]
        col.decide(name, plan.ctx)
        c = rx.columns[i]
        row = plan.mapping.get(j)
        names.append(name)
        use.append(i)
        infos.append(ColumnInfo(name=name, original=c.original, label=c.label, import_id=c.import_id,
                                dtype=col.dtype(), codebook_variable=row.variable if row is not None else None,
                                value_labels=dict(c.value_labels)))
    # missing-value tokens and e-mail counts in the in-memory reader's order
    missing_tokens: dict[str, dict[str, int]] = {}
    emails: dict[str, int] = {}
    for name, i in zip(names, use):
        col = cols[i]
        if count_tokens:
            if col.nulls:
                missing_tokens.setdefault("", {})[name] = col.nulls
            for t, (k, _) in sorted(col.na.items(), key=lambda kv: kv[1][1]):
                missing_tokens.setdefault(t, {})[name] = k
        if col.emails:
            emails[name] = int(col.emails)
    if not names:
        raise _Fallback("no column to write")
    values, not_in_cb, missing = plan.finish(rx, cb, n_rows, len(names), missing_tokens, emails, redact)
    source = SourceInfo(path=str(p), format=rx.format, encoding=rx.encoding, sha256=tap.sha.hexdigest(),
                        delimiter=rx.delimiter, archive_member=None, values=values)
    meta = {"source": _asdict(source), "n_rows": n_rows, "n_columns": len(names),
            "columns": [_asdict(c) for c in infos], "dropped_identifiers": plan.dropped,
            "hashed_identifiers": plan.hashed, "missing_from_export": missing, "not_in_codebook": not_in_cb,
            "codebook": str(Path(cb.source).resolve()) if cb is not None and cb.source else None, "log": plan.log,
            "missing_tokens": missing_tokens, "email_cells": emails, "emails_redacted": bool(redact and emails)}
    # the second pass: convert and write
    schema = pa.schema([pa.field(n, cols[i].arrow_type()) for n, i in zip(names, use)],
                       metadata={b"pandas": _pandas_meta(names, [cols[i].dtype() for i in use])})
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with pq.ParquetWriter(tmp, schema) as w:
            seen = 0
            wrote = 0
            _, batches = _batches(p, skip, delim, ncols, block, check=False)
            for b in batches:
                lo = max(0, header - seen)
                seen += b.num_rows
                if lo >= b.num_rows:
                    continue
                arrays = [cols[i].convert(b.column(i).slice(lo), salt or "", redact) for i in use]
                w.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                wrote += b.num_rows - lo
            if wrote == 0:
                w.write_table(schema.empty_table())
        if wrote != n_rows:
            raise _Fallback("the second pass read a different number of rows")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    _meta_path(out).write_text(json.dumps(meta, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return meta


def _asdict(x: Any) -> dict:
    from dataclasses import asdict

    return asdict(x)
