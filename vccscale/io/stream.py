"""Import an export straight to a file, streaming large UTF-8 text exports (issue 20).

:func:`import_export` does what ``read_export(path, ...).write(out)`` does (same columns, types, values, log and
``.meta.json`` sidecar) without holding the data when it can: a UTF-8 CSV or TSV export written to Parquet (also
the one export inside a zip archive, decompressed as it is read) is read twice, in pieces of about
:data:`STREAM_BLOCK` bytes cut at record boundaries (a line end after an even number of quotes), each parsed by
pyarrow on its own.

* The first pass decides every column's type by read_export's rules over all its values (a column is Int64 only
  if *every* piece's values are whole numbers; a code with leading zeros anywhere keeps it text; a bad date, an
  unknown Status or answer label is reported with its row as read_export reports it), hashes the file and checks
  what read_export checks on the whole buffer (UTF-8, NUL bytes, the number of quotes, line lengths).
* The second pass converts each piece, counts missing-value tokens and e-mail addresses, and writes the piece as
  one Parquet row group (to a temporary file, renamed at the end).

The calls every column of a piece needs (the cast to whole numbers, the token search, the e-mail search) are made
once over all its columns; the next piece is parsed in a second thread. Memory stays near the interpreter's and
pyarrow's plus a few pieces, whatever the size of the file (``without_pandas`` also keeps pandas out).

Everything else is read in memory by ``read_export``: SPSS files, UTF-16 or re-encoded text, CSV output, archives
that do not hold exactly one export (or are damaged), and the text files the pieces cannot be checked on alone (a
row with the wrong number of fields, an odd number of quotes, a quote inside an unquoted value, invalid UTF-8, a
NUL byte, a line longer than half a parser block). Their errors and results are therefore exactly
``read_export``'s; the returned ``how`` says which way.
"""
from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from .dataset import ColumnInfo, SourceInfo
from .formats import (
    BLOCK_SIZE,
    BOM_UTF8,
    MAX_LINE_CHARS,
    RawExport,
    first_record,
    parse_layout,
    parse_table,
    sniff,
    sniff_delimiter,
)
from .read import (
    DATE_FORMATS,
    EMAIL_RE,
    FLOAT_RE,
    LIKERT_WORDS,
    MAX_EXACT,
    STATUS_LABELS,
    FINISHED_VALUES,
    EMAIL_REDACTED,
    STATUS_CODES,
    checked_args,
    ColumnContext,
    identifier_reason,
    leading_zeros,
    map_codebook,
    norm_label,
    HeaderPlan,
    target_kind,
    whole_number,
    hash_identifier,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from ..instrument.codebook import Codebook, CodebookRow

__all__ = ["import_export", "STREAM_MIN_BYTES", "STREAM_BLOCK"]

# files from this size on are streamed when written to Parquet (stream=None)
STREAM_MIN_BYTES = 32 << 20
# bytes per block (one Parquet row group each): larger blocks mean fewer calls per column, smaller less memory
STREAM_BLOCK = 2 << 20
# columns per grouped call (fewer calls; smaller temporary arrays)
GROUP = 64


class _Fallback(Exception):
    """The streaming reader cannot check this file block by block: read it in memory."""


# ---------------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------------
def import_export(path: str | Path, out: str | Path, codebook: "Codebook | str | Path | None" = None, *,
                  identifiers: str = "drop", salt: str | None = None, encoding: str | None = None,
                  na: "list[str] | tuple[str, ...] | None" = None, redact_emails: bool = False,
                  max_unzipped_bytes: int | None = None, max_line_chars: int | None = None,
                  stream: bool | None = None, block_size: int | None = None,
                  without_pandas: bool = False, progress: Any = None) -> dict[str, Any]:
    """Read an export (arguments as :func:`~vccscale.io.read.read_export`) and write it to ``out`` (``.parquet``
    or ``.csv``) with its ``.meta.json`` sidecar. Returns the sidecar's content plus ``"streamed"`` (bool),
    ``"how"`` (a sentence saying how the file was read) and ``"files"``.

    ``stream``: None (default) streams UTF-8 text exports of at least :data:`STREAM_MIN_BYTES` bytes written to
    Parquet; True streams whenever the file allows it (any size); False always reads in memory. ``block_size``:
    bytes per streamed block (default :data:`STREAM_BLOCK`). ``without_pandas``: while streaming, keep pyarrow
    from importing pandas (about 40 MB it would load on its first conversion of a Python list; the command line
    does this, as nothing else runs in its process). ``progress``: called as ``progress(pass_number, bytes_read,
    file_size)`` after each streamed block (pass 1 checks and decides, pass 2 converts and writes)."""
    from .read import read_checked

    o = Path(out)
    if o.suffix.lower() not in (".parquet", ".csv"):
        raise DataError("output must end in .parquet or .csv", file=o)
    p, tokens, cb = checked_args(path, codebook, identifiers, salt, na, max_unzipped_bytes, max_line_chars)
    try:            # the bytes to stream (a zip archive's export counts by its own size)
        src: _Source | None = _Source(p, max_unzipped_bytes)
        size, why = src.size, None
    except _Fallback as exc:
        src, size, why = None, p.stat().st_size, str(exc)
    if stream is False:
        why = "stream=False"
    elif o.suffix.lower() != ".parquet":
        why = "CSV output"
    elif stream is None and size < STREAM_MIN_BYTES:
        why = f"smaller than {STREAM_MIN_BYTES >> 20} MB"
    if why is None and src is not None:
        try:
            with _no_pandas(without_pandas):
                meta = _stream(src, o, cb, identifiers, salt, tokens, bool(redact_emails), encoding,
                               MAX_LINE_CHARS if max_line_chars is None else max_line_chars,
                               block_size or STREAM_BLOCK, progress)
            return {**meta, "streamed": True, "how": f"streamed in blocks of {(block_size or STREAM_BLOCK):,} bytes",
                    "files": [str(o), str(_meta_path(o))]}
        except _Fallback as exc:
            why = str(exc)
    ds = read_checked(p, tokens, cb, identifiers, salt, encoding, redact_emails, max_unzipped_bytes, max_line_chars)
    data_path, meta_path = ds.write(o)
    return {**ds.meta_dict(), "streamed": False, "how": f"read in memory ({why})",
            "files": [str(data_path), str(meta_path)]}


class _NoPandasFinder:
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not imported while an export is streamed")


@contextlib.contextmanager
def _no_pandas(enabled: bool):
    """pyarrow imports pandas the first time it converts Python objects, if it can; here it cannot (pyarrow then
    works without it, and tries again on its next use after the block). No effect once pandas is imported."""
    if not enabled or "pandas" in sys.modules:
        yield
        return
    finder = _NoPandasFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


_TRIM: list[Any] = []


def _release() -> None:
    """Hand the memory freed by the last block back to the system: arrow's allocator and the C library's (glibc
    keeps freed memory of Python's byte strings and of the Parquet writer's metadata otherwise)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    if not _TRIM:
        try:
            import ctypes

            _TRIM.append(ctypes.CDLL("libc.so.6").malloc_trim)
        except (OSError, AttributeError):
            _TRIM.append(None)
    if _TRIM[0] is not None:
        _TRIM[0](0)


def _meta_path(o: Path) -> Path:
    return o.with_name(o.name + ".meta.json")


# ---------------------------------------------------------------------------------------------------------------
# reading the file: a tap that hashes and checks the bytes pyarrow reads
# ---------------------------------------------------------------------------------------------------------------
class _Reader:
    """The file from ``skip`` on, in pieces that end at a record boundary (a line end after an even number of
    quotes), each parsed by pyarrow as one block (so a CRLF inside a quoted answer is never split, apache/arrow#51368,
    and nothing is read ahead). With ``check`` it hashes every byte (the skipped BOM too) and collects what
    read_export checks on the whole buffer: UTF-8, NUL bytes, the number of quotes, the longest line, and quotes
    inside unquoted values (which would make the quote count a wrong guide to record boundaries)."""

    def __init__(self, src: "_Source", skip: int, delim: str, ncols: int, block: int, check: bool,
                 max_line: int = MAX_LINE_CHARS) -> None:
        self.src, self.skip, self.delim, self.ncols, self.check = src, skip, delim, ncols, check
        # a line longer than half a parser block (or than max_line) is read in memory: lines inside a chunk of at
        # most that size cannot be longer, so only lines across chunks are measured
        self.line_limit = min(max_line, BLOCK_SIZE // 2)
        self.block = min(block, self.line_limit)
        self.sha = hashlib.sha256()
        self.nul = False
        self.quotes = self.longest = self.line = 0
        self.done = 0                        # bytes read

    def __iter__(self):
        """Parsed pieces; the next one is read and parsed in a second thread while this one is worked on."""
        from concurrent.futures import ThreadPoolExecutor

        pieces = self._pieces()

        def parsed() -> Any:
            piece = next(pieces, None)
            return None if piece is None else self._parse(piece)

        with ThreadPoolExecutor(1) as ex:
            fut = ex.submit(parsed)
            while True:
                table = fut.result()
                if table is None:
                    return
                fut = ex.submit(parsed)
                yield table

    def _pieces(self):
        """The file's bytes in pieces that end at a record boundary."""
        rest = b""
        with self.src.open() as f:
            head = f.read(self.skip)
            self.done = len(head)
            if self.check:
                self.sha.update(head)
            while True:
                try:
                    chunk = f.read(self.block)
                except Exception as exc:  # noqa: BLE001 - a damaged archive (zlib, CRC): read_export says which
                    raise _Fallback(f"cannot read on: {exc}") from None
                self.done += len(chunk)
                if self.done > self.src.limit:
                    raise _Fallback("the archive member decompresses to more than its limit")
                if self.check:
                    self._scan(chunk)
                if not chunk:
                    if rest.strip():
                        yield rest
                    return
                buf = rest + chunk if rest else chunk
                del chunk
                cut = _boundary(buf)
                if cut:
                    rest = buf[cut:]
                    yield buf[:cut]
                else:
                    rest = buf
                    if len(rest) > 16 * self.block:
                        raise _Fallback("no record boundary within 16 blocks")
                del buf

    def _parse(self, piece: bytes) -> Any:
        import pyarrow as pa

        try:   # with check, pyarrow validates the UTF-8 (a piece never ends inside a character)
            table, bad = parse_table(piece, self.delim, self.ncols, threads=False, block_size=len(piece) + 1,
                                      check_utf8=self.check)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _Fallback(f"a block cannot be parsed alone (or invalid UTF-8): {exc}") from None
        if bad:
            raise _Fallback("a row has the wrong number of fields")
        if self.check and b'"' in piece and _literal_quote(table, piece, self.delim):
            raise _Fallback("a quote inside an unquoted value")
        return table

    def _scan(self, chunk: bytes) -> None:
        self.sha.update(chunk)
        if not chunk:
            return
        self.nul = self.nul or b"\x00" in chunk
        self.quotes += chunk.count(b'"')
        first = chunk.find(b"\n")
        if first < 0:
            self.line += len(chunk)
        else:
            self.longest = max(self.longest, self.line + first)
            self.line = len(chunk) - chunk.rfind(b"\n") - 1
        self.longest = max(self.longest, self.line)


def _literal_quote(table: Any, piece: bytes, delim: str) -> bool:
    """Does a value of ``piece`` hold a quote that is no quoting (``12"`` in an unquoted value)? Such quotes make
    the quote count a wrong guide to record boundaries. Only pieces with a quote in some parsed value are searched
    (a doubled quote in a quoted value is the other way to get one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.chunked_array([ch for col in table.columns for ch in col.chunks], pa.string())
    if not pc.any(pc.match_substring(values, '"')).as_py():
        return False
    d = re.escape(delim.encode())
    pat = re.compile(rb'"(?:[^"]|"")*+"|(?<![^' + d + rb'\r\n])[^"' + d + rb'\r\n]++"')
    return any(not m.group().startswith(b'"') for m in pat.finditer(piece))


class _Source:
    """The bytes to stream: the file itself, or the one export inside a zip archive (read_export's rules choose
    it; ``limit``: the most bytes a member may decompress to)."""

    def __init__(self, path: Path, max_unzipped: int | None = None) -> None:
        import zipfile

        from .formats import MAX_UNZIPPED_BYTES, ZIP_MAGIC, check_member, zip_members

        self.path, self.member, self.where = path, None, str(path)
        self.size = path.stat().st_size
        self.limit = float("inf")
        with open(path, "rb") as f:
            if not f.read(4).startswith(ZIP_MAGIC):
                return
        limit = MAX_UNZIPPED_BYTES if max_unzipped is None else max_unzipped
        try:
            zf = zipfile.ZipFile(path)
            members = zip_members(zf, self.where)
            if len(members) != 1:
                raise _Fallback("not one export in the archive")
            check_member(zf, members[0], self.where, limit)
        except (DataError, zipfile.BadZipFile, OSError) as exc:
            raise _Fallback(str(exc)) from None
        self.zf, self.info = zf, members[0]
        self.member = members[0].filename
        self.where = f"{path}/{self.member}"
        self.size, self.limit = members[0].file_size, limit

    def open(self):
        if self.member is None:
            return open(self.path, "rb")
        try:
            return self.zf.open(self.info)
        except Exception as exc:  # noqa: BLE001 - encrypted or damaged archives: read_export says which
            raise _Fallback(str(exc)) from None

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes."""
        try:
            with self.open() as f:
                return f.read(n)
        except _Fallback:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged archive: read_export says which
            raise _Fallback(f"cannot read: {exc}") from None

    def sha256(self) -> str:
        """SHA-256 of the file (of the archive itself, as read_export records it)."""
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()


def _boundary(buf: bytes) -> int:
    """The end of the last complete record in ``buf`` (after its line end), 0 when there is none: a LF with an
    even number of quotes before it (``buf`` starts at a record boundary; a doubled quote counts twice)."""
    total = buf.count(b'"')
    after, end = 0, len(buf)          # quotes after the line end looked at (counted once, walking back)
    pos = buf.rfind(b"\n")
    while pos >= 0:
        after += buf.count(b'"', pos + 1, end)
        if (total - after) % 2 == 0:
            return pos + 1
        end = pos + 1
        pos = buf.rfind(b"\n", 0, pos)
    return 0


def _header(src: "_Source", encoding: str | None) -> tuple[RawExport, int, str]:
    """The layout from the file's first lines: (RawExport without values, bytes to skip (BOM), delimiter)."""
    where = src.where
    size = src.size
    head = src.head(1 << 16)
    if not head.strip():
        raise _Fallback("empty start")
    try:
        if sniff(head, where) != "text":
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
    # the header rows and a few responses: the first 64 kB, more if they hold fewer than 4 records
    sizes = (1 << 16, 1 << 18, 1 << 20, BLOCK_SIZE)
    for n in sizes:
        text = src.head(n)[skip:]
        whole = n >= size
        if not whole:
            cut = _boundary(text)
            if not cut:
                continue
            text = text[:cut]
        try:
            rx = _layout_of(text, where, enc)
        except _Fallback:
            if whole or n == sizes[-1]:
                raise
            continue            # header rows longer than this: read more
        if rx.n_rows >= 2 or whole:
            break
    else:
        raise _Fallback("fewer than 4 records in the first block")
    if rx.n_rows == 0:
        raise _Fallback("no response")
    for c in rx.columns:
        c.values = None
    return rx, skip, rx.delimiter


def _layout_of(text: bytes, where: str, enc: str) -> RawExport:
    """read_export's layout (format, header rows, names, labels, ImportIds) of the first records."""
    if b"\x00" in text:
        raise _Fallback("NUL byte")
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        raise _Fallback("invalid UTF-8") from None
    first_line = text[:1 << 16].split(b"\n", 1)[0].decode("utf-8", errors="replace")
    delim = sniff_delimiter(first_line)
    try:
        row1 = first_record(text, delim, where)
        if not row1 or all(not c.strip() for c in row1):
            raise _Fallback("no column names")
        table, bad = parse_table(text, delim, len(row1), threads=False, block_size=len(text) + 1)
        if bad:
            raise _Fallback("a row of the first block has the wrong number of fields")
        return parse_layout(table, row1, delim, enc, where)
    except (DataError, UnicodeDecodeError) as exc:
        raise _Fallback(str(exc)) from None
    except Exception as exc:  # an arrow parse error of the first records
        if type(exc).__module__.startswith("pyarrow"):
            raise _Fallback(str(exc)) from None
        raise


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
        self.dead = False         # (strict) a value that is no number in FLOAT_RE's sense
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
                if leading_zeros(b):
                    self.lead0 = True
                if pc.max(pc.utf8_length(b)).as_py() >= 16 and \
                        pc.any(pc.match_substring_regex(b, r"^-?[0-9]{16,}$")).as_py():
                    self.big16 = True
            mm = pc.min_max(ints).as_py()
            self.mx = max(self.mx, abs(mm["min"]), abs(mm["max"]))
            return True
        self.all_int = False
        if need_bad and self.first_bad is None:
            vals = [u for u in pc.unique(a).to_pylist() if u is not None and whole_number(u) is None]
            if vals:
                i = min(pc.index(a, pa.scalar(u, pa.string())).as_py() for u in vals)
                self.first_bad = (offset + i, a[i].as_py())
        if self.strict:
            if not pc.all(pc.match_substring_regex(b, FLOAT_RE)).as_py() or \
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
        return "int" if self.whole and self.mx < MAX_EXACT else "float"


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
    does not match or is no valid date), as ``pandas.to_datetime(s, format=fmt, errors="coerce")`` reads them
    (year 0 excepted: no date, as read._dates has it)."""
    if fmt == "%Y-%m-%d %H:%M:%S":
        fast = _canonical_dates(s)
        if fast is not None:
            return fast
    return _parse_dates(s, fmt)


def _canonical_dates(s: "pa.Array") -> "pa.Array | None":
    """Qualtrics' own shape, zero-padded ``YYYY-MM-DD HH:MM:SS`` in every value, read by arrow's strptime; None when
    some value has another shape or is not read as pandas reads it. On this shape arrow refuses what pandas
    refuses (month 13, hour 24, minute 60) and carries seconds 60 and 61 into the minute as pandas does, but it
    rolls 30 February into March and reads year 0000: the day read back must equal the day written, the year be
    at least 1."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if s.null_count == len(s):
        return None
    ts = pc.strptime(s, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    if ts.null_count != s.null_count:
        return None
    if not pc.all(pc.match_substring_regex(s, r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")).as_py():
        return None
    day = pc.cast(pc.utf8_slice_codeunits(s, 8, 10), pa.int64())
    if not pc.all(pc.equal(pc.day(ts), day)).as_py() or pc.min(pc.year(ts)).as_py() < 1:
        return None
    return ts


def _parse_dates(s: "pa.Array", fmt: str) -> "pa.Array":
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
            self.cands = [[fmt, shape, 0, None, 0] for fmt, shape in DATE_FORMATS
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

    def decide(self, name: str, ctx: ColumnContext) -> str | None:
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
        self.target = target_kind(c, row)
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
        self.scan = not ident and self.target in ("string", "auto", "numeric")
        self.kind: str | None = None
        self.deferred: set[int] = set()      # coded: blocks of whole numbers, not mapped value by value
        self.labels: _Uniq | None = None     # auto columns read as text: the scale-label check of pass 2
        self.pending: Any = None
        self.odd = True                      # this block may hold leading zeros or hexadecimal codes
        # a coded column may leave blocks of whole numbers to the second pass unless a label reads as a number
        self.can_defer = self.target == "coded" and row is not None and not any(
            _is_number(str(v)) for v in row.value_labels.values())

    # mapping functions (as read._status, _finished, _recode)
    def _status_code(self, u: str) -> int | None:
        n = whole_number(u)
        if n is not None:
            return n
        k = STATUS_LABELS.get(norm_label(u).casefold())
        if k is not None:
            self.status_labels.append(u)
        return k

    def _bool(self, u: str) -> bool | None:
        s = u.strip()
        self.tf.add(s)
        return FINISHED_VALUES.get(s.lower())

    def _recode_fn(self, row: "CodebookRow") -> Any:
        import math

        lookup: dict[str, int | None] = {}
        for code, label in row.value_labels.items():
            key = norm_label(str(label))
            lookup[key] = None if key in lookup and lookup[key] != code else code
        self.lookup = lookup
        self.recoded = False

        def code_of(u: str) -> float | None:
            key = norm_label(u)
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

    def na_count(self, a: "pa.Array", hit: "pa.Array", offset: int) -> None:
        """Count the cells read as missing per token (``hit``: the cells equal to a token), with their first row."""
        import pyarrow as pa
        import pyarrow.compute as pc

        trimmed = pc.utf8_trim_whitespace(a)
        for item in pc.value_counts(pc.filter(trimmed, hit)).to_pylist():
            t, k = item["values"], item["counts"]
            if t not in self.na:
                self.na[t] = [0, offset + pc.index(trimmed, pa.scalar(t, pa.string())).as_py()]
            self.na[t][0] += k

    def observe(self, a: "pa.Array", offset: int, block: int, int_ok: bool) -> None:
        """The first pass over one block of the column (missing-value tokens already set missing); ``int_ok``:
        the block was read as whole numbers with the other columns of its group."""
        if self.num is not None and not int_ok and not (self.num.dead and self.uniq is None):
            int_ok = self.num.observe(a, offset, need_bad=self.target == "int")
        if self.uniq is not None:
            if int_ok and self.can_defer and a.null_count < len(a) and not (self.odd and self._hex(a)):
                self.deferred.add(block)
            else:
                self.uniq.observe(a, offset)
        if self.dates is not None:
            self.dates.observe(a, offset)

    @staticmethod
    def _hex(a: "pa.Array") -> bool:
        import pyarrow.compute as pc

        return bool(pc.any(pc.match_substring_regex(a, r"^\s*-?0[xX]")).as_py())

    def decide(self, name: str, ctx: ColumnContext) -> None:
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
                whole = all(v == int(v) for v in vals) and max((abs(v) for v in vals), default=0) < MAX_EXACT
                if self.deferred:       # blocks of whole numbers: their largest value
                    whole = whole and self.num.mx < MAX_EXACT
                if self.recoded:
                    ctx.choice_text.append(f"answer labels in {name}")
                self.kind = "coded_int" if whole else "coded_float"
            else:
                if t == "numeric":
                    ctx.log.append(f"column {name}: the codebook says {self.row.type if self.row else 'numeric'} "
                                   "but some values are not numbers; kept as text")
                elif t == "auto" and self.row is None and self.c.meta_key is None:
                    # read._looks_like_scale_labels, on the values the second pass reads
                    self.labels = _Uniq(None, limit=15)
                    self.pending = _Pending(f"answer labels in {name}")
                    ctx.choice_text.append(self.pending)
                self.kind = "string"

    def _recode_message(self, u: str) -> str:
        row = self.row
        shown = "; ".join(f"{k} = {v!r}" for k, v in list(row.value_labels.items())[:12])
        amb = " (the label belongs to several codes)" if self.lookup.get(norm_label(u), 0) is None else ""
        return (f"answer {u!r} is not a label of codebook variable {row.variable!r}{amb}; its labels are "
                f"{shown}")

    def _mapped_error(self, ctx: ColumnContext, name: str, message: Any) -> None:
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

    def convert(self, a: "pa.Array", block: int, salt: str) -> "pa.Array":
        """One block of the column in its type (missing-value tokens already set missing); the columns converted
        in groups (numbers, text) do not come here."""
        import pyarrow as pa
        import pyarrow.compute as pc

        k = self.kind
        if self.hashed:
            keys = [u for u in pc.unique(a).to_pylist() if u is not None]
            if not keys:
                return pa.nulls(len(a), pa.large_string())
            hashes = pa.array([hash_identifier(u, salt) for u in keys], pa.large_string())
            return pc.take(hashes, pc.index_in(a, value_set=pa.array(keys, pa.string())))
        if k == "datetime":
            if self.fmt is None:
                return pa.nulls(len(a), pa.timestamp("us"))
            return parse_dates(pc.utf8_trim_whitespace(a), self.fmt)
        if k in ("status", "bool"):
            return self.uniq.apply(a, pa.int64() if k == "status" else pa.bool_())
        if k in ("coded_int", "coded_float"):
            if block in self.deferred:
                f = pc.cast(pc.utf8_trim_whitespace(a), pa.float64())
            else:
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


class _Pending(str):
    """A choice-text reason the second pass confirms (or drops)."""

    confirmed = False


def _is_number(label: str) -> bool:
    try:
        float(norm_label(label))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------------------
# one block, all columns: the calls grouped over the columns that share them (one cast for all whole-number
# columns of the block, one search for e-mail addresses in all text columns ...)
# ---------------------------------------------------------------------------------------------------------------
def _group(arrays: list[Any]) -> Any:
    import pyarrow as pa

    return pa.chunked_array(arrays, pa.string())


def _parts(res: Any, arrays: list[Any]) -> list[Any]:
    """``res`` (computed on ``_group(arrays)``; arrow may lay its chunks out anew) cut back into one array per
    input array."""
    out, start = [], 0
    for a in arrays:
        piece = res.slice(start, len(a))
        out.append(piece.chunk(0) if piece.num_chunks == 1 else piece.combine_chunks())
        start += len(a)
    return out


def _true_count(a: Any) -> int:
    return a.true_count if hasattr(a, "true_count") else sum(c.true_count for c in a.chunks)


def _na_block(cols: list["_Col"], arrays: list[Any], idx: list[int], tokens: tuple[str, ...],
              count: bool, offset: int) -> None:
    """Set the cells equal to a missing-value token missing (in place in ``arrays``), counting them if asked."""
    import pyarrow as pa
    import pyarrow.compute as pc

    idx = [i for i in idx if arrays[i].null_count < len(arrays[i])]
    if not tokens or not idx:
        return
    group = [arrays[i] for i in idx]
    hit = pc.is_in(pc.utf8_trim_whitespace(_group(group)), value_set=pa.array(list(tokens), pa.string()))
    if not pc.any(hit).as_py():
        return
    for i, h in zip(idx, _parts(hit, group)):
        if h.true_count:
            if count:
                cols[i].na_count(arrays[i], h, offset)
            arrays[i] = pc.if_else(h, pa.scalar(None, pa.string()), arrays[i])


def _observe_block(cols: list["_Col"], arrays: list[Any], offset: int, block: int) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    for col, a in zip(cols, arrays):
        col.nulls += a.null_count
    live = [i for i, c in enumerate(cols) if not c.skip]
    _na_block(cols, arrays, live, cols[0].tokens if cols else (), False, offset)
    int_ok: set[int] = set()
    groups = []
    for strict in (True, False):
        idx = [i for i in live if not cols[i].hashed and cols[i].num is not None and cols[i].num.strict is strict
               and cols[i].num.all_int and not cols[i].num.dead and arrays[i].null_count < len(arrays[i])]
        groups += [(strict, idx[j:j + GROUP]) for j in range(0, len(idx), GROUP)]
    for strict, idx in groups:
        group = [arrays[i] for i in idx]
        g = _group(group)
        b = g if strict else pc.utf8_trim_whitespace(g)
        try:
            ints = pc.cast(b, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        mm = pc.min_max(ints).as_py()
        mx = max(abs(mm["min"]), abs(mm["max"]))
        # a value that may have leading zeros or be hexadecimal ("07", "0x1F", "-0..."): checked column by column
        zero = pc.starts_with(b, "0")
        odd = bool(pc.any(pc.starts_with(b, "-0")).as_py()) or (
            bool(pc.any(zero).as_py()) and bool(pc.any(pc.and_(zero, pc.greater(pc.utf8_length(b), 1))).as_py()))
        long = strict and (mx >= 10 ** 15 or odd)      # 16 digits or more are possible
        parts = _parts(b, group) if odd or long else None
        exact = _parts(ints, group) if mx >= MAX_EXACT else None
        for k, i in enumerate(idx):
            num = cols[i].num
            cols[i].odd = odd
            num.seen = True
            num.mx = max(num.mx, mx if exact is None else max(abs(v) for v in pc.min_max(exact[k]).as_py().values()))
            if odd and strict and leading_zeros(parts[k]):
                num.lead0 = True
            if long and pc.any(pc.match_substring_regex(parts[k], r"^-?[0-9]{16,}$")).as_py():
                num.big16 = True
            int_ok.add(i)
    _release()     # the block's temporary arrays, before the columns' own work
    for i in live:
        if not cols[i].hashed:
            cols[i].observe(arrays[i], offset, block, i in int_ok or (
                cols[i].num is not None and arrays[i].null_count == len(arrays[i])))


def _convert_block(cols: list["_Col"], use: list[int], arrays: list[Any], offset: int, block: int, salt: str,
                   redact: bool, count_tokens: bool) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    _na_block(cols, arrays, use, cols[use[0]].tokens if use else (), count_tokens, offset)
    out: dict[int, Any] = {}
    # numbers: one cast per group (strict columns as written, the others trimmed)
    for kind, typ in (("int", pa.int64()), ("float", pa.float64())):
        for strict in (True, False):
            idx = [i for i in use if cols[i].kind == kind and cols[i].num.strict is strict
                   and arrays[i].null_count < len(arrays[i])]
            if not idx:
                continue
            group = [arrays[i] for i in idx]
            g = _group(group)
            try:
                res = pc.cast(g if strict else pc.utf8_trim_whitespace(g), typ)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue       # a whole number written as 3.0 in this block: column by column below
            for i, r in zip(idx, _parts(res, group)):
                out[i] = r
                arrays[i] = None
            del group, g, res
    # text: e-mail addresses counted (and redacted) over all text columns at once
    idx = [i for i in use if cols[i].kind == "string" and not cols[i].hashed]
    if idx:
        group = [arrays[i] for i in idx]
        g = _group(group)
        scan = [k for k, i in enumerate(idx) if cols[i].scan]
        if scan and pc.any(pc.match_substring(g, "@")).as_py():
            found = _parts(pc.match_substring_regex(g, EMAIL_RE), group)
            hits = [_true_count(f) for f in found]
            for k in scan:
                cols[idx[k]].emails += hits[k]
            if redact and any(hits[k] for k in scan):
                red = _parts(pc.replace_substring_regex(g, EMAIL_RE, EMAIL_REDACTED), group)
                for k in scan:
                    if hits[k]:
                        arrays[idx[k]] = red[k]
        for i in idx:
            if cols[i].labels is not None:
                cols[i].labels.observe(arrays[i], offset)
        group = [arrays[i] for i in idx]
        for i, r in zip(idx, _parts(pc.cast(_group(group), pa.large_string()), group)):
            out[i] = r
    for i in use:
        if i not in out:
            out[i] = cols[i].convert(arrays[i], block, salt)
            arrays[i] = None
    _release()     # the block's text, before the converted block is written
    return [out[i] for i in use]


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
def _stream(src: "_Source", out: Path, cb: "Codebook | None", identifiers: str, salt: str | None,
            na: tuple[str, ...] | None, redact: bool, encoding: str | None, max_line: int, block: int,
            progress: Any = None) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .read import PLAIN_NA

    p = src.path
    rx, skip, delim = _header(src, encoding)
    if src.member is not None:      # as read_export's load()
        rx.archive_member = src.member
        rx.log.insert(0, f"read archive member {src.member!r} of the zip archive")
    size = src.size
    ncols = len(rx.columns)
    header = rx.header_rows
    # targets before the first pass: the codebook mapping and identifiers of all columns (an empty unnamed column,
    # dropped afterwards, maps to nothing, so the others' rows are the same)
    mapping_all = map_codebook(rx.columns, cb, []) if cb is not None else {}
    labelled = rx.header_rows >= 2
    tokens = na if na is not None else (PLAIN_NA if rx.format == "plain_csv" else ())
    count_tokens = na is not None or rx.format == "plain_csv"
    cols = [_Col(c, mapping_all.get(i), identifier_reason(c, mapping_all.get(i), labelled) is not None, tokens,
                 count_tokens, identifiers) for i, c in enumerate(rx.columns)]

    def blocks(reader: _Reader):
        """(block number, first data row, the block's columns) without the header rows."""
        seen = rows = 0
        for k, table in enumerate(reader):
            lo = max(0, header - seen)
            seen += table.num_rows
            if lo >= table.num_rows:
                continue
            n = table.num_rows - lo
            arrays = [col.chunk(0).slice(lo) if col.num_chunks == 1 else col.combine_chunks().slice(lo)
                      for col in table.columns]
            del table          # the arrays alone hold the block: the second pass frees each once converted
            yield k, rows, arrays
            rows += n

    reader = _Reader(src, skip, delim, ncols, block, check=True, max_line=max_line)
    n_rows = 0
    for k, offset, arrays in blocks(reader):
        _observe_block(cols, arrays, offset, k)
        n_rows = offset + len(arrays[0])
        del arrays
        _release()
        if progress is not None:
            progress(1, reader.done, size)
    if reader.nul:
        raise _Fallback("NUL byte")
    if reader.quotes % 2:
        raise _Fallback("an odd number of quotes")
    if reader.longest > reader.line_limit:
        raise _Fallback("a line longer than half a parser block")
    for c, col in zip(rx.columns, cols):
        c.values = _Stub(n_rows, col.nulls)
    plan = HeaderPlan(p, rx, cb, identifiers, na)
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
    if not names:
        raise _Fallback("no column to write")
    # the second pass: convert and write, counting missing-value tokens and e-mail addresses
    schema = pa.schema([pa.field(n, cols[i].arrow_type()) for n, i in zip(names, use)],
                       metadata={b"pandas": _pandas_meta(names, [cols[i].dtype() for i in use])})
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with pq.ParquetWriter(tmp, schema) as w:
            wrote = 0
            second = _Reader(src, skip, delim, ncols, block, check=False, max_line=max_line)
            for k, offset, arrays in blocks(second):
                converted = _convert_block(cols, use, arrays, offset, k, salt or "", redact, count_tokens)
                w.write_batch(pa.RecordBatch.from_arrays(converted, schema=schema))
                wrote += len(converted[0])
                del arrays, converted
                _release()
                if progress is not None:
                    progress(2, second.done, size)
            if wrote == 0:
                w.write_table(schema.empty_table())
        if wrote != n_rows:
            raise _Fallback("the second pass read a different number of rows")
        # missing-value tokens and e-mail counts in the in-memory reader's order
        missing_tokens: dict[str, dict[str, int]] = {}
        emails: dict[str, int] = {}
        for name, i in zip(names, use):
            col = cols[i]
            if count_tokens:
                if col.nulls:
                    missing_tokens.setdefault("", {})[name] = col.nulls
                for t, (n, _) in sorted(col.na.items(), key=lambda kv: kv[1][1]):
                    missing_tokens.setdefault(t, {})[name] = n
            if col.emails and col.scan:
                emails[name] = int(col.emails)
            if col.pending is not None:
                m = col.labels.map
                col.pending.confirmed = len(m) + col.labels.null <= 15 and any(
                    len(x) < 60 and LIKERT_WORDS.search(x) for x in m)
        plan.ctx.choice_text[:] = [x for x in plan.ctx.choice_text if not isinstance(x, _Pending) or x.confirmed]
        values, not_in_cb, missing = plan.finish(rx, cb, n_rows, len(names), missing_tokens, emails, redact)
        source = SourceInfo(path=str(p), format=rx.format, encoding=rx.encoding,
                            sha256=src.sha256() if src.member is not None else reader.sha.hexdigest(),
                            delimiter=rx.delimiter, archive_member=src.member, values=values)
        meta = {"source": _asdict(source), "n_rows": n_rows, "n_columns": len(names),
                "columns": [_asdict(c) for c in infos], "dropped_identifiers": plan.dropped,
                "hashed_identifiers": plan.hashed, "missing_from_export": missing, "not_in_codebook": not_in_cb,
                "codebook": str(Path(cb.source).resolve()) if cb is not None and cb.source else None,
                "log": plan.log, "missing_tokens": missing_tokens, "email_cells": emails,
                "emails_redacted": bool(redact and emails)}
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    _meta_path(out).write_text(json.dumps(meta, indent=1, ensure_ascii=False, default=str) + "\n",
                               encoding="utf-8")
    return meta


def _asdict(x: Any) -> dict:
    from dataclasses import asdict

    return asdict(x)
