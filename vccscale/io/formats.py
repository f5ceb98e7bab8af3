"""The bytes of a response export: container, format and encoding detection, and the raw parse.

Everything here follows the design reference ``qualtrics-formats.md`` (sections 1-9 and 13). Nothing is decided
from the file extension: the first bytes say whether the file is a zip (API download, or an Excel workbook), an old
Excel file, an SPSS system file, an HTML/XML/JSON page saved by mistake, or text; for text, the byte-order mark
(or ``encoding=``) gives the encoding, row 1 the delimiter (tab first, then comma, then semicolon), and the first
three rows the layout:

===================  ===========  ===========================================================================
format               header rows  recognised by
===================  ===========  ===========================================================================
``qualtrics_csv``    3            row 3 cells are JSON objects ``{"ImportId": ...}`` (``qualtrics_tsv``: tabs)
``qualtrics_2016``   3            row 3 cells are Python-style dicts ``{'ImportId': ...}``
``legacy_csv``       2            first cell ``V1`` (or Qualtrics names in row 1, labels in row 2, no row 3 ids)
``plain_csv``        1            anything else (e.g. a current export whose rows 2-3 were deleted)
``spss_sav``         \u2013       ``$FL2`` / ``$FL3``
===================  ===========  ===========================================================================

The text body is parsed once, by the pyarrow CSV reader (multi-threaded C++, quoted newlines allowed, every
column read as strings, empty cells as nulls); the header rows are the first rows of that same parse, so the
header and the body can never be split differently. Ragged rows, unterminated quotes, bad UTF-8 and the like
become one :class:`~vccscale.errors.DataError` naming the file, row and, where known, column.

The result is a :class:`RawExport`: per column the row-1 name, row-2 label, row-3 object and the values (an
arrow string array for text files, a pandas Series for ``.sav`` files). Type conversion, codebook mapping and
identifier handling happen in :mod:`vccscale.io.read`.
"""
from __future__ import annotations

import ast
import codecs
import contextlib
import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
OLE_MAGIC = b"\xd0\xcf\x11\xe0"          # old Excel .xls (and other MS Office compound files)
SAV_MAGIC = (b"$FL2", b"$FL3")
GZIP_MAGIC = b"\x1f\x8b"
BOM_UTF8 = b"\xef\xbb\xbf"

# Qualtrics metadata columns (qualtrics-formats 2.1, 6, 7): key -> (row-1 names, ImportIds, kind).
# kind: datetime | status | int | bool | string | identifier
META: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "start_date": (("StartDate",), ("startDate",), "datetime"),
    "end_date": (("EndDate",), ("endDate",), "datetime"),
    "recorded_date": (("RecordedDate",), ("recordedDate",), "datetime"),
    "status": (("Status",), ("status",), "status"),
    "progress": (("Progress",), ("progress",), "int"),
    "duration": (("Duration (in seconds)", "Duration__in_seconds_"), ("duration",), "int"),
    "finished": (("Finished",), ("finished",), "bool"),
    "response_id": (("ResponseId", "ResponseID"), ("_recordId", "responseId"), "string"),
    "response_set": (("ResponseSet",), ("responseSetId",), "string"),
    "distribution_channel": (("DistributionChannel",), ("distributionChannel",), "string"),
    "user_language": (("UserLanguage",), ("userLanguage",), "string"),
    "ip_address": (("IPAddress",), ("ipAddress",), "identifier"),
    "location_latitude": (("LocationLatitude",), ("locationLatitude",), "identifier"),
    "location_longitude": (("LocationLongitude",), ("locationLongitude",), "identifier"),
    "location_accuracy": (("LocationAccuracy",), ("locationAccuracy",), "identifier"),
    "recipient_last_name": (("RecipientLastName",), ("recipientLastName", "panel-RecipientLastName"),
                            "identifier"),
    "recipient_first_name": (("RecipientFirstName",), ("recipientFirstName", "panel-RecipientFirstName"),
                             "identifier"),
    "recipient_email": (("RecipientEmail",), ("recipientEmail", "panel-RecipientEmail"), "identifier"),
    "external_reference": (("ExternalReference", "ExternalDataReference"),
                           ("externalDataReference", "panel-ExternalDataReference"), "identifier"),
}
# legacy exports only (qualtrics-formats 6): row-2 labels of the V columns that name a person
LEGACY_IDENTIFIERS = {"Name": "legacy_name", "EmailAddress": "legacy_email"}
META_BY_NAME = {n: k for k, (names, _, _) in META.items() for n in names}
META_BY_ID = {i: k for k, (_, ids, _) in META.items() for i in ids}
META_KIND = {k: kind for k, (_, _, kind) in META.items()} | {v: "identifier" for v in LEGACY_IDENTIFIERS.values()}
DATE_KEYS = ("start_date", "end_date", "recorded_date")
# identifier columns under other names than Qualtrics' internal ones (issue 14): Qualtrics' row-2 labels used as
# column names (or seen in row 2 / as an SPSS variable label), the labels of legacy exports, and generic names.
# Compared after identifier_key(): "IP Address", "IPAddress", "ip.address" and "ip_address" are all "ip_address".
IDENTIFIER_KEYS = frozenset({
    "ip_address", "recipient_email", "recipient_first_name", "recipient_last_name", "location_latitude",
    "location_longitude", "location_accuracy", "external_data_reference", "external_reference", "email_address",
    "email", "e_mail", "e_mail_address", "ip", "phone", "phone_number", "telephone", "mobile_phone", "name",
    "first_name", "last_name", "full_name", "surname", "latitude", "longitude", "emailaddress", "ipaddress",
    "firstname", "lastname", "fullname"})


def identifier_key(text: str) -> str:
    """``text`` as a key of :data:`IDENTIFIER_KEYS`: camelCase split, case folded, other characters -> ``_``."""
    t = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", text.strip())
    return re.sub(r"[^0-9a-z]+", "_", t.casefold()).strip("_")
# row-1 names that mark a Qualtrics export (two of them are enough)
_QUALTRICS_NAMES = {"StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)", "Finished",
                    "RecordedDate", "ResponseId", "ResponseID", "DistributionChannel", "UserLanguage",
                    "ResponseSet", "ExternalDataReference"}
# pyarrow CSV block size. Blocks let pyarrow parse in parallel, but arrow drops the "\n" of a CRLF inside a
# quoted value when the block boundary falls between "\r" and "\n" (apache/arrow#51368, open in pyarrow 26):
# files with CRLF inside values are therefore re-read as one block (see _read_text).
BLOCK_SIZE = 1 << 22
# size limits (issue 14): an archive member may decompress to at most MAX_UNZIPPED_BYTES bytes (its declared size is
# checked first, then the bytes actually decompressed, so a zip bomb is stopped either way); a text line may be at
# most MAX_LINE_CHARS characters (a row of a real export is far shorter). Both can be set per call of read_export.
MAX_UNZIPPED_BYTES = 500_000_000
MAX_LINE_CHARS = 10_000_000
# what a zip archive must hold: a CSV, TSV or SPSS export (by name; a .sav is also recognised by its first bytes)
EXPORT_SUFFIXES = (".csv", ".tsv", ".sav")
_IMPORT_JSON = re.compile(r'^\s*\{\s*"ImportId"\s*:')
_IMPORT_2016 = re.compile(r"^\s*\{\s*'ImportId'\s*:")
_DATE_LIKE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_QID = re.compile(r"^(\d+_)?QID\d")
_RESPONSE_ID = re.compile(r"^(R|FS)_[A-Za-z0-9]+$")


@dataclass
class RawColumn:
    original: str                        # row-1 name as exported
    label: str                           # row 2 / SPSS variable label
    import_id: str | None                # row-3 ImportId
    extra: dict[str, Any]                # the whole row-3 object (timeZone, choiceId)
    values: Any                          # pyarrow ChunkedArray of strings, or a pandas Series (.sav)
    value_labels: dict[int, str] = field(default_factory=dict)
    position: int = 0                    # 0-based position in the file
    meta_key: str | None = None          # key of META when this is a Qualtrics metadata column


@dataclass
class RawExport:
    columns: list[RawColumn]
    n_rows: int
    format: str
    encoding: str | None
    delimiter: str | None
    header_rows: int                     # rows before the first response (0 for .sav)
    archive_member: str | None = None
    log: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------------------
def load(path: Path, raw: bytes, encoding: str | None, *, max_unzipped_bytes: int | None = None,
         max_line_chars: int | None = None) -> RawExport:
    """Detect the container and format of ``raw`` (the bytes of ``path``) and parse it.

    ``max_unzipped_bytes`` (default :data:`MAX_UNZIPPED_BYTES`): the largest archive member read from a zip;
    ``max_line_chars`` (default :data:`MAX_LINE_CHARS`): the longest line of a text export."""
    where = str(path)
    max_unzipped = MAX_UNZIPPED_BYTES if max_unzipped_bytes is None else max_unzipped_bytes
    max_line = MAX_LINE_CHARS if max_line_chars is None else max_line_chars
    kind = sniff(raw, where)
    if kind == "zip":
        member, data = _unzip(raw, where, max_unzipped)
        inner = f"{where}/{member}"
        kind = sniff(data, inner)
        if kind == "zip":
            raise DataError(f"archive member {member!r} is itself a zip archive; unpack it first", file=where)
        out = _read_sav(data, inner) if kind == "sav" else _read_text(data, inner, encoding, max_line)
        out.archive_member = member
        out.log.insert(0, f"read archive member {member!r} of the zip archive")
        return out
    if kind == "sav":
        return _read_sav(path, where)
    return _read_text(raw, where, encoding, max_line)


def sniff(raw: bytes, where: str) -> str:
    """'zip', 'sav' or 'text'; every other kind of file is rejected here with a message saying what it is."""
    if not raw[:1 << 16].strip() and not raw.strip():
        raise DataError("the file is empty" if not raw else "the file holds only whitespace", file=where)
    if raw.startswith(ZIP_MAGIC):
        return "zip"
    if raw.startswith(OLE_MAGIC):
        raise DataError("this is an old Excel (.xls) or other Microsoft Office file, not a Qualtrics export: "
                        "download the responses as CSV, TSV or SPSS, or save the sheet as 'CSV UTF-8'", file=where)
    if raw.startswith(SAV_MAGIC):
        return "sav"
    if raw.startswith(GZIP_MAGIC):
        raise DataError("this is a gzip-compressed file: decompress it first", file=where)
    if raw.startswith(b"%PDF"):
        raise DataError("this is a PDF document, not a Qualtrics export", file=where)
    head = raw[:2048]
    for bom in (BOM_UTF8, b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            head = head[len(bom):]
            break
    head = head.replace(b"\x00", b"").lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")) or (
            head.startswith(b"<") and b"<html" in head):
        raise DataError("this is an HTML page, not a Qualtrics export: the download probably failed or needed a "
                        "login (open the file in a text editor to see the message)", file=where)
    if head.startswith((b"<?xml", b"<")):
        raise DataError("this is an XML file, not a CSV/TSV/SPSS export: download the responses as CSV",
                        file=where)
    if head.startswith((b"{", b"[")) and not _IMPORT_JSON.match(head[:40].decode("latin-1")):
        raise DataError("this is a JSON file, not a CSV/TSV/SPSS export: download the responses as CSV",
                        file=where)
    return "text"


def _unzip(raw: bytes, where: str, max_bytes: int = MAX_UNZIPPED_BYTES) -> tuple[str, bytes]:
    """The single export inside a zip archive (an Excel workbook is a zip too: rejected).

    The member must be a CSV, TSV or SPSS export (:data:`EXPORT_SUFFIXES`, or a .sav by its first bytes); any other
    archive is rejected with a list of what it holds. A member whose declared size exceeds ``max_bytes`` is
    refused before it is decompressed, and decompression stops as soon as more than ``max_bytes`` bytes came out
    (a declared size can lie)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 - zipfile raises many kinds of errors on damaged archives
        raise DataError(f"damaged zip archive ({exc or type(exc).__name__})", file=where) from None
    members = zip_members(zf, where)
    if not members:
        raise DataError("the zip archive holds no file (no export inside)", file=where)
    if len(members) > 1:
        shown = ", ".join(repr(m.filename) for m in members[:5]) + (" ..." if len(members) > 5 else "")
        raise DataError(f"the zip archive holds {len(members)} files ({shown}); expected exactly one export: "
                        "unpack it and read the file you mean", file=where)
    m = members[0]
    check_member(zf, m, where, max_bytes)
    chunks: list[bytes] = []
    total = 0
    with _member_errors(m, where), zf.open(m) as fh:
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            total += len(block)
            if total > max_bytes:
                raise DataError(f"archive member {m.filename!r} decompresses to more than {max_bytes:,} bytes "
                                f"(max_unzipped_bytes), though it declares {m.file_size:,}: a damaged or "
                                "malicious archive", file=where)
            chunks.append(block)
    return m.filename, b"".join(chunks)


@contextlib.contextmanager
def _member_errors(m: zipfile.ZipInfo, where: str):
    """Reading an archive member: an encrypted or damaged one is a DataError naming the member."""
    try:
        yield
    except DataError:
        raise
    except RuntimeError as exc:  # encrypted
        raise DataError(f"cannot read archive member {m.filename!r}: {exc}", file=where) from None
    except Exception as exc:  # noqa: BLE001 - BadZipFile, zlib.error, EOFError, struct.error, ...
        raise DataError(f"cannot read archive member {m.filename!r}: damaged zip archive "
                        f"({exc or type(exc).__name__})", file=where) from None


def zip_members(zf: zipfile.ZipFile, where: str) -> list[zipfile.ZipInfo]:
    """The files of an archive that could be the export (Office documents rejected; folders, macOS and Windows
    extras left out)."""
    try:
        infos = zf.infolist()
    except Exception as exc:  # noqa: BLE001 - zipfile raises many kinds of errors on damaged archives
        raise DataError(f"damaged zip archive ({exc or type(exc).__name__})", file=where) from None
    names = [i.filename for i in infos]
    if "[Content_Types].xml" in names:
        what = "an Excel workbook (.xlsx)" if any(n.startswith("xl/") for n in names) else \
            "a Microsoft Office document"
        raise DataError(f"this is {what}, not a Qualtrics export: download the responses as CSV, TSV or SPSS, or "
                        "save the sheet as 'CSV UTF-8'", file=where)
    if "mimetype" in names and any(n == "content.xml" for n in names):
        raise DataError("this is an OpenDocument file (.ods), not a Qualtrics export: save the sheet as CSV",
                        file=where)
    return [i for i in infos if not i.is_dir() and not i.filename.startswith("__MACOSX/")
            and Path(i.filename).name not in (".DS_Store", "Thumbs.db") and not Path(i.filename).name.startswith("._")]


def check_member(zf: zipfile.ZipFile, m: zipfile.ZipInfo, where: str, max_bytes: int) -> None:
    """The member's declared size within ``max_bytes``, and the member an export (by name, or a .sav's bytes)."""
    if m.file_size > max_bytes:
        raise DataError(f"archive member {m.filename!r} decompresses to {m.file_size:,} bytes, more than the limit "
                        f"of {max_bytes:,} bytes (max_unzipped_bytes): unpack the archive and read the file itself "
                        "if it is right", file=where)
    with _member_errors(m, where), zf.open(m) as fh:
        if not m.filename.lower().endswith(EXPORT_SUFFIXES) and not fh.read(4).startswith(SAV_MAGIC):
            # what is inside, never read as a (1-column) export
            raise DataError(f"the zip archive holds no CSV, TSV or SPSS (.sav) export, only "
                            f"{m.filename!r} ({m.file_size:,} bytes): unpack it and check what it is",
                            file=where)


# ---------------------------------------------------------------------------------------------------------------
# text exports
# ---------------------------------------------------------------------------------------------------------------
def _decode_error(data: bytes, exc: UnicodeDecodeError, codec: str, where: str,
                  names: list[str] | None = None) -> DataError:
    """A DataError naming the byte offset, line, row and (where known) column of undecodable bytes."""
    start = exc.start
    bad = data[start:start + 4].hex(" ")
    line = data.count(b"\n", 0, start) + 1
    row: int | None = None
    column: str | None = None
    try:
        prefix = data[:start].decode(codec, errors="replace")
        delim = sniff_delimiter(prefix.split("\n", 1)[0]) if prefix else ","
        limit = csv.field_size_limit()
        csv.field_size_limit(max(limit, len(prefix) + 1))
        try:
            recs = list(csv.reader(io.StringIO(prefix, newline=""), delimiter=delim))
        finally:
            csv.field_size_limit(limit)
        boundary = not prefix or prefix.endswith(("\n", "\r"))
        row = len(recs) + 1 if boundary else max(len(recs), 1)
        if names is None and recs:
            names = recs[0]
        idx = 0 if boundary else (len(recs[-1]) - 1 if recs else 0)
        if row > 1 and names and 0 <= idx < len(names):
            column = names[idx]
    except (csv.Error, ValueError):  # pragma: no cover - best effort only
        row = line
    hint = ""
    if codec.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig"):
        hint = (" (the file was probably re-saved in a Windows/Excel encoding: read it with encoding='cp1252' "
                "if that is right)")
    return DataError(f"not valid {codec}: bytes {bad} at byte offset {start} (line {line}){hint}", file=where,
                     row=row, column=column)


def _to_utf8(raw: bytes, where: str, encoding: str | None) -> tuple[bytes | memoryview, str, bool]:
    """(UTF-8 bytes without BOM, encoding to report, whether the bytes were already validated)."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except (LookupError, TypeError):
            raise DataError(f"unknown encoding {encoding!r}", file=where, field="encoding") from None
        if codec in ("utf-8", "utf-8-sig"):
            return (memoryview(raw)[3:] if raw.startswith(BOM_UTF8) else raw), encoding, False
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            raise _decode_error(raw, exc, encoding, where) from None
        return text.removeprefix("\ufeff").encode("utf-8"), encoding, True
    if raw.startswith(BOM_UTF8):
        return memoryview(raw)[3:], "utf-8-sig", False
    codec = None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec = "utf-16"
    elif len(raw) >= 4 and raw[1] == 0 and raw[3] == 0 and raw[0] != 0 and raw[2] != 0:
        codec = "utf-16-le"   # no BOM, but every other byte is NUL: UTF-16 little-endian
    elif len(raw) >= 4 and raw[0] == 0 and raw[2] == 0 and raw[1] != 0 and raw[3] != 0:
        codec = "utf-16-be"
    if codec is not None:
        if len(raw) % 2:
            raise DataError(f"{codec} file with an odd number of bytes ({len(raw)}): truncated?", file=where)
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            raise _decode_error(raw, exc, codec, where) from None
        return text.removeprefix("\ufeff").encode("utf-8"), codec, True
    return raw, "utf-8", False


def _whole(data: bytes | memoryview) -> bytes:
    """The bytes object behind ``data`` (a memoryview only ever skips a 3-byte BOM)."""
    return data.obj if isinstance(data, memoryview) else data


def _check_utf8(data: bytes | memoryview, where: str, names: list[str]) -> None:
    """Validate UTF-8 in 4 MB steps (no copy of the whole file); name the first bad byte."""
    dec = codecs.getincrementaldecoder("utf-8")()
    mv = memoryview(data)
    step = 1 << 22
    try:
        for i in range(0, len(mv), step):
            dec.decode(mv[i:i + step], final=i + step >= len(mv))
    except UnicodeDecodeError:
        try:
            _whole(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _decode_error(_whole(data), exc, "utf-8", where, names) from None


def sniff_delimiter(line: str) -> str:
    if "\t" in line:
        return "\t"
    if "," in line:
        return ","
    if ";" in line:
        return ";"
    return ","


def first_record(data: bytes | memoryview, delim: str, where: str) -> list[str]:
    """Row 1, parsed with the csv module (to know the number of columns before the body is read)."""
    size = 1 << 16
    limit = csv.field_size_limit()
    while True:
        whole = size >= len(data)
        chunk = bytes(data[:size]).decode("utf-8", errors="replace")
        reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=delim)
        try:
            csv.field_size_limit(max(limit, len(chunk) + 1))
            rec = next(reader, [])
            if whole or next(reader, None) is not None:
                return rec
        except csv.Error as exc:
            if whole:
                raise DataError(f"cannot parse row 1 (the column names): {exc}", file=where, row=1) from None
        finally:
            csv.field_size_limit(limit)
        size *= 4


def parse_table(data: bytes | memoryview, delim: str, ncols: int, threads: bool = True,
                 block_size: int | None = None, check_utf8: bool = False):
    """Parse the whole text with pyarrow; returns (table, [(row number, expected, actual, text)]).
    ``check_utf8``: let pyarrow validate the values' UTF-8 (read_export validates the whole buffer before)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    bad: list[tuple[int | None, int, int, str]] = []

    def handler(row: Any) -> str:
        if len(bad) < 20:
            bad.append((row.number, row.expected_columns, row.actual_columns, row.text))
        return "skip"

    names = [f"c{i}" for i in range(ncols)]
    table = pcsv.read_csv(
        pa.BufferReader(pa.py_buffer(data)),
        read_options=pcsv.ReadOptions(column_names=names, use_threads=threads,
                                      block_size=block_size or BLOCK_SIZE),
        parse_options=pcsv.ParseOptions(delimiter=delim, quote_char='"', double_quote=True, escape_char=False,
                                        newlines_in_values=True, ignore_empty_lines=True,
                                        invalid_row_handler=handler),
        convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[""],
                                            strings_can_be_null=True, quoted_strings_can_be_null=True,
                                            check_utf8=check_utf8))
    return table, bad


def _unterminated_quote(data: bytes | memoryview, delim: str, where: str) -> DataError | None:
    """Find an unterminated quoted field (slow path: only run when the file holds an odd number of quotes)."""
    text = bytes(data).decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    n = 0
    start_line = 1
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        for _ in reader:
            n += 1
            start_line = reader.line_num + 1
    except csv.Error as exc:
        if "end of data" in str(exc) or "EOF" in str(exc):
            return DataError(f"a quoted field that starts in this row (line {start_line}) is never closed: the file "
                             "is truncated or a quote character is missing", file=where, row=n + 1)
        return DataError(f"malformed quoting (line {reader.line_num}): {exc}", file=where, row=n + 1)
    finally:
        csv.field_size_limit(limit)
    return None


def _longest_line(data: bytes | memoryview, where: str, limit: int) -> int:
    """The length in bytes of the longest line (CR, LF and CRLF end lines) when it is longer than half a parser
    block, else at most that; a line of more than ``limit`` characters is a :class:`DataError` naming its row.
    Windows of that size are searched backwards for a line end (C speed, about one pass over the file)."""
    buf = _whole(data)
    base = len(buf) - len(data)        # a memoryview only skips a BOM at the start
    n = len(buf)
    t = max(1, min(limit, BLOCK_SIZE // 2))
    start = base                       # start of the current line
    longest = 0
    while n - start > t:
        end = start + t + 1            # a line end among the next t + 1 bytes: this line is short enough
        k = max(buf.rfind(b"\n", start, end), buf.rfind(b"\r", start, end))
        if k >= 0:
            start = k + 1
            continue
        lf = buf.find(b"\n", end)
        stop = lf if lf >= 0 else n
        cr = buf.find(b"\r", end, stop)
        stop = cr if cr >= 0 else stop
        if stop - start > limit:
            _check_line(data, start - base, stop - base, where, limit)
        longest = max(longest, stop - start)
        start = stop + 1
    return longest


def _check_line(data: bytes | memoryview, start: int, end: int, where: str, limit: int) -> None:
    """Raise when the line at bytes ``start:end`` holds more than ``limit`` characters, naming its row."""
    cap = 4 * limit + 4            # bytes enough for more than ``limit`` characters in any UTF-8 text
    chars = len(bytes(data[start:min(end, start + cap)]).decode("utf-8", errors="replace"))
    if chars <= limit:
        return
    line = bytes(data[:start]).count(b"\n") + 1
    row: int | None = line
    try:
        prefix = bytes(data[:start]).decode("utf-8", errors="replace")
        delim = sniff_delimiter(prefix.split("\n", 1)[0]) if prefix else ","
        old = csv.field_size_limit()
        csv.field_size_limit(max(old, len(prefix) + 1))
        try:
            recs = [r for r in csv.reader(io.StringIO(prefix, newline=""), delimiter=delim) if r]
        finally:
            csv.field_size_limit(old)
        inside = prefix.count('"') % 2 == 1     # the line continues a quoted value of the last record
        row = (len(recs) if inside else len(recs) + 1) or 1
    except (csv.Error, ValueError):  # pragma: no cover - best effort: the line number then
        pass
    more = "at least " if end - start > cap else ""
    raise DataError(f"line longer than {limit:,} characters ({more}{chars:,} characters on line {line}): not a row of "
                    "a survey export (a damaged file, or data without line breaks?); if the file is right, raise "
                    "the limit (max_line_chars)", file=where, row=row)


def _read_text(raw: bytes, where: str, encoding: str | None, max_line_chars: int = MAX_LINE_CHARS) -> RawExport:
    import pyarrow as pa

    data, enc, validated = _to_utf8(raw, where, encoding)
    nul = _whole(data).find(b"\x00")
    if nul >= 0:
        raise DataError(f"binary data (NUL byte at offset {nul}): not a text export (for a UTF-16 file without "
                        "byte-order mark give encoding='utf-16')", file=where)
    if not bytes(data[:1 << 16]).strip():
        raise DataError("the file holds no column names (only a byte-order mark or blank lines)", file=where)
    longest = _longest_line(data, where, max_line_chars)
    first_line = bytes(data[:1 << 16]).split(b"\n", 1)[0].decode("utf-8", errors="replace")
    delim = sniff_delimiter(first_line)
    row1 = first_record(data, delim, where)
    if not row1 or all(not c.strip() for c in row1):
        raise DataError("row 1 is empty: no column names", file=where, row=1)
    ncols = len(row1)
    if not validated:
        _check_utf8(data, where, row1)
    quotes_odd = _whole(data).count(b'"') % 2 == 1   # a BOM holds no quote, so the whole buffer will do
    # a line longer than half a parser block (or a record of many lines longer than a block) cannot be split
    # into blocks: such files are parsed as one block
    one_block = longest > BLOCK_SIZE // 2
    try:
        try:
            table, bad = parse_table(data, delim, ncols, block_size=len(data) + 1 if one_block else None)
        except pa.ArrowInvalid as exc:
            if one_block or "straddl" not in str(exc):
                raise
            one_block = True
            table, bad = parse_table(data, delim, ncols, block_size=len(data) + 1)
        crlf_records = first_line.endswith("\r")
        if not one_block and len(data) > BLOCK_SIZE and \
                _whole(data).count(b"\r\n") > (table.num_rows + len(bad) if crlf_records else 0):
            # CRLF inside quoted values: one block, so no CRLF can straddle a boundary (apache/arrow#51368)
            table, bad = parse_table(data, delim, ncols, block_size=len(data) + 1)
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if quotes_odd and (err := _unterminated_quote(data, delim, where)) is not None:
            raise err from None
        raise DataError(f"cannot parse the file as {'TSV' if delim == chr(9) else 'CSV'}: {msg}",
                        file=where) from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"cannot parse the file: {exc}", file=where) from None
    if quotes_odd and (err := _unterminated_quote(data, delim, where)) is not None:
        raise err
    if bad:
        if any(b[0] is None for b in bad):
            _, bad = parse_table(data, delim, ncols, threads=False, block_size=len(data) + 1)
        number, expected, actual, _text = bad[0]
        total = table.num_rows + len(bad)
        last = number is not None and number >= total
        tail = bytes(data[-2:])
        hint = ""
        if last and actual < expected and not tail.endswith((b"\n", b"\r")):
            hint = ": the file seems truncated (it ends inside this row)"
        elif actual < expected:
            hint = ": a row was cut short or a line break is missing its quotes"
        else:
            hint = ": an unquoted delimiter in a value, or rows of two files pasted together?"
        raise DataError(f"row has {actual} fields, row 1 has {expected}{hint}", file=where, row=number)
    return parse_layout(table, row1, delim, enc, where)


def _cells(table: Any, r: int) -> list[str]:
    return [("" if v is None else v) for v in (table.column(i)[r].as_py() for i in range(table.num_columns))]


def qualtrics_like(row1: list[str]) -> bool:
    return len(_QUALTRICS_NAMES.intersection(row1)) >= 2


def _row2_is_data(row1: list[str], row2: list[str]) -> bool:
    """Does row 2 hold a response (True) or labels (False)? Votes of the recognisable metadata columns."""
    data = labels = 0
    for name, v in zip(row1, row2):
        v = v.strip()
        if not v:
            continue
        key = META_BY_NAME.get(name)
        if key in DATE_KEYS:
            ok = bool(_DATE_LIKE.match(v))
        elif key == "response_id":
            ok = bool(_RESPONSE_ID.match(v))
        elif key in ("progress", "duration"):
            ok = v.replace(".", "", 1).isdigit()
        elif key == "finished":
            ok = v.lower() in ("0", "1", "true", "false")
        else:
            continue
        data += ok
        labels += not ok
    return data > labels


def _import_row(row3: list[str], row1: list[str], style: str, where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, cell in enumerate(row3):
        if not cell.strip():
            out.append({})
            continue
        try:
            obj = json.loads(cell) if style == "json" else ast.literal_eval(cell.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            obj = None
        if not isinstance(obj, dict) or not isinstance(obj.get("ImportId"), (str, int)):
            raise DataError(f"row 3 should hold an ImportId object in every column, found {cell[:60]!r} (is the "
                            "file truncated or edited?)", file=where, row=3,
                            column=row1[i] if i < len(row1) else None)
        obj = {str(k): v for k, v in obj.items()}
        obj["ImportId"] = str(obj["ImportId"])
        out.append(obj)
    return out


def parse_layout(table: Any, row1: list[str], delim: str, enc: str, where: str) -> RawExport:
    nrows = table.num_rows
    row2 = _cells(table, 1) if nrows > 1 else None
    row3 = _cells(table, 2) if nrows > 2 else None
    log: list[str] = []
    labels: list[str] = [""] * len(row1)
    extras: list[dict[str, Any]] = [{} for _ in row1]

    def non_empty(row: list[str] | None) -> list[str]:
        return [c for c in (row or []) if c.strip()]

    r3 = non_empty(row3)
    if r3 and _IMPORT_JSON.match(r3[0]):
        fmt, header = ("qualtrics_tsv" if delim == "\t" else "qualtrics_csv"), 3
        extras = _import_row(row3 or [], row1, "json", where)
    elif r3 and _IMPORT_2016.match(r3[0]):
        fmt, header = "qualtrics_2016", 3
        extras = _import_row(row3 or [], row1, "2016", where)
    elif row1[0].strip() == "V1":
        if row2 is None:
            raise DataError("the file ends after row 1: a legacy Qualtrics export has 2 header rows (truncated?)",
                            file=where)
        fmt, header = "legacy_csv", 2
    elif qualtrics_like(row1):
        if row2 is None:
            raise DataError("the file ends after row 1: a Qualtrics export has 3 header rows (truncated?)",
                            file=where)
        if _row2_is_data(row1, row2):
            fmt, header = "plain_csv", 1
        elif row3 is None:
            raise DataError("the file ends after 2 header rows: a Qualtrics export has 3 (row 3 with the "
                            "ImportIds is missing; truncated?)", file=where)
        else:
            fmt, header = "legacy_csv", 2
            log.append("row 2 holds labels but row 3 holds no ImportIds: read as an export with 2 header rows")
    else:
        fmt, header = "plain_csv", 1
    if header >= 2:
        labels = row2 or labels
    header = min(header, nrows)
    body = table.slice(header)
    cols: list[RawColumn] = []
    legacy = fmt == "legacy_csv"
    for i, name in enumerate(row1):
        x = extras[i] if i < len(extras) else {}
        iid = x.get("ImportId") if x else None
        col = RawColumn(original=name, label=labels[i], import_id=iid, extra=x, values=body.column(i), position=i)
        col.meta_key = meta_key(name, iid, labels[i] if legacy else None)
        cols.append(col)
    names = {"\t": "tab", ",": "comma", ";": "semicolon"}
    log.insert(0, f"format {fmt}: {header} header row(s), {names.get(delim, repr(delim))}-delimited, {enc}")
    if delim == ";":
        log.append("semicolon-delimited: the file was probably re-saved by a spreadsheet")
    return RawExport(columns=cols, n_rows=body.num_rows, format=fmt, encoding=enc, delimiter=delim,
                     header_rows=header, log=log)


def meta_key(name: str, import_id: str | None, legacy_label: str | None = None) -> str | None:
    """The META key of a column: by ImportId when there is one, else by name (legacy V columns: by row 2)."""
    if import_id:
        key = META_BY_ID.get(import_id)
        if key is not None or _QID.match(import_id):
            return key
        # an ImportId that is neither a known metadata id nor a question id (2016 metadata, system and
        # embedded-data columns whose ImportId is their name): fall back to the name
    if legacy_label is not None and re.fullmatch(r"V\d+", name.strip()):
        lab = legacy_label.strip()
        return META_BY_NAME.get(lab) or LEGACY_IDENTIFIERS.get(lab)
    return META_BY_NAME.get(name)


# ---------------------------------------------------------------------------------------------------------------
# SPSS
# ---------------------------------------------------------------------------------------------------------------
# The C reader behind pyreadstat can crash the interpreter (segmentation fault) on a damaged .sav file (found by
# tests/test_io_read.py's fuzzing). So .sav files are read in a child process by default; a crash there becomes a
# DataError. Set SAV_IN_SUBPROCESS = False to read in-process (faster by the child's start-up, ~0.5 s).
SAV_IN_SUBPROCESS = True
SAV_TIMEOUT = 600  # seconds
_SAV_CHILD = r"""
import pickle, sys
try:
    import pyreadstat
except ImportError:
    sys.stderr.write("reading SPSS .sav files needs the pyreadstat package"); sys.exit(4)
try:
    df, meta = pyreadstat.read_sav(sys.argv[1], apply_value_formats=False, user_missing=False,
                                   dates_as_pandas_datetime=True)
except Exception as exc:
    sys.stderr.write(str(exc) or type(exc).__name__); sys.exit(3)
info = {"column_labels": list(meta.column_labels or []),
        "variable_value_labels": dict(meta.variable_value_labels or {}),
        "file_encoding": meta.file_encoding}
with open(sys.argv[2], "wb") as fh:
    pickle.dump((df, info), fh, protocol=pickle.HIGHEST_PROTOCOL)
"""


def _sav_in_process(path: str, where: str) -> tuple[Any, dict[str, Any]]:
    try:
        import pyreadstat
    except ImportError:  # pragma: no cover - pyreadstat is needed for .sav files only
        raise DataError("reading SPSS .sav files needs the pyreadstat package", file=where) from None
    try:
        df, meta = pyreadstat.read_sav(path, apply_value_formats=False, user_missing=False,
                                       dates_as_pandas_datetime=True)
    except Exception as exc:  # noqa: BLE001 - any failure of the C reader is a problem of the file
        raise DataError(f"cannot read the SPSS file: {str(exc) or type(exc).__name__}", file=where) from None
    return df, {"column_labels": list(meta.column_labels or []),
                "variable_value_labels": dict(meta.variable_value_labels or {}),
                "file_encoding": meta.file_encoding}


def _sav_in_child(path: str, where: str) -> tuple[Any, dict[str, Any]]:
    import pickle
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vccscale-sav-") as d:
        out = Path(d) / "sav.pickle"
        try:
            r = subprocess.run([sys.executable, "-c", _SAV_CHILD, path, str(out)], capture_output=True, text=True,
                               timeout=SAV_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise DataError(f"the SPSS reader did not finish within {SAV_TIMEOUT} s: damaged .sav file?",
                            file=where) from None
        msg = (r.stderr or "").strip().splitlines()[-1:] or [""]
        if r.returncode == 3:
            raise DataError(f"cannot read the SPSS file: {msg[0]}", file=where)
        if r.returncode == 4:
            raise DataError(msg[0], file=where)
        if r.returncode < 0:
            raise DataError(f"the SPSS reader crashed on this file (signal {-r.returncode}): the .sav file is "
                            "damaged", file=where)
        if r.returncode != 0 or not out.exists():
            raise DataError(f"cannot read the SPSS file (reader exit code {r.returncode}): {msg[0]}", file=where)
        with open(out, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - written just now by our own child process


def _read_sav(source: Any, where: str) -> RawExport:
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vccscale-sav-") as d:
        if isinstance(source, (bytes, bytearray)):     # an archive member: the readers want a file
            path = Path(d) / "member.sav"
            path.write_bytes(source)
        else:
            path = Path(source)
        if SAV_IN_SUBPROCESS and sys.executable:
            df, meta = _sav_in_child(str(path), where)
        else:
            df, meta = _sav_in_process(str(path), where)
    labels = meta["column_labels"]
    vlabels = meta["variable_value_labels"]
    cols: list[RawColumn] = []
    for i, name in enumerate(df.columns):
        name = str(name)
        vl = {}
        for k, v in (vlabels.get(name) or {}).items():
            try:
                if float(k) == int(float(k)):
                    vl[int(float(k))] = str(v)
            except (TypeError, ValueError, OverflowError):
                continue
        label = labels[i] if i < len(labels) and labels[i] is not None else ""
        cols.append(RawColumn(original=name, label=str(label), import_id=None, extra={}, values=df.iloc[:, i],
                              value_labels=vl, position=i, meta_key=meta_key(name, None)))
    enc = meta.get("file_encoding") or None
    log = [f"format spss_sav: {len(df.columns)} variables, {len(df)} cases, encoding {enc or 'unknown'}"]
    return RawExport(columns=cols, n_rows=len(df), format="spss_sav", encoding=enc, delimiter=None, header_rows=0,
                     log=log)
