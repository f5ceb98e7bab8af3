"""Import a Qualtrics response export into a :class:`~vccscale.io.dataset.Dataset`.

:func:`read_export` reads every export variant Qualtrics produces (qualtrics-formats.md sections 1-9, 13),
detected from the content, never from the file name: the current 3-header-row CSV and TSV (UTF-8, or UTF-16
with BOM), the 2016 variant with Python-style dicts in row 3, the legacy 2-header-row CSV (BOM, ``V1`` ...
names, trailing empty column), SPSS ``.sav`` files, numeric and choice-text exports, plain CSV files with one
header row, and the ``.zip`` archive Qualtrics downloads (one export inside).

The data are *parsed*, never cleaned: values stay as exported, only typed.

* ``StartDate``/``EndDate``/``RecordedDate``: ``datetime64[us]`` in the clock time written in the file (the
  row-3 ``timeZone`` is reported in the log; nothing is shifted). ``YYYY-MM-DD HH:MM:SS`` and the spreadsheet
  shapes ``YYYY-MM-DD H:MM:SS`` and ``DD/MM/YYYY HH:MM`` are understood.
* ``Duration (in seconds)``, ``Progress``: ``Int64``. ``Status``: ``Int64`` code (choice-text labels are mapped
  to the codes of section 2.1). ``Finished``: ``boolean`` (1/0, True/False, TRUE/FALSE).
* Answer columns: ``Int64`` when every value is a whole number, else ``Float64``; text stays ``string``; empty
  cells are ``<NA>``. ``-99`` and other codes are kept (missing codes are the cleaning stage's business).
* With a codebook, each column is mapped to its codebook row (by name, then ImportId, then QID prefix); the row's
  type decides the dtype, and in choice-text exports answer labels are recoded to the codebook's codes (exact
  label match after whitespace normalisation; an unknown label is a :class:`DataError` naming file, row and
  column).
* Identifier columns (IP address, location, recipient name/e-mail, external reference, legacy Name/EmailAddress)
  are dropped by default, replaced by a salted hash (``identifiers="hash"``) or kept (``"keep"``). They are
  recognised by Qualtrics' names and ImportIds, and also when row 1 holds Qualtrics' labels (``IP Address``,
  ``Recipient Email``) or generic names (``email``, ``ip_address``, ``phone``, ``name``, ``latitude`` ...; see
  :data:`~vccscale.io.formats.IDENTIFIER_KEYS`), by the row-2 label (or SPSS variable label) and by an ImportId
  of such a name; the log says which columns were dropped and how those were recognised.
* E-mail addresses typed into text answers are counted per column (the log names the column and the number of
  cells, never an address); ``redact_emails=True`` replaces each address with ``[email removed]``.
* Missing-value tokens: in a plain CSV file (one header row, e.g. written by R's ``write.csv``) a cell holding
  ``NA`` (surrounding blanks ignored) is missing, as is an empty cell; ``na=[...]`` replaces that list and
  applies to every format (Qualtrics exports get no token by default: they write missing answers as empty
  cells, and ``-99`` is left to the codebook's missing codes). The cells treated as missing are counted per
  token and column (``Dataset.missing_tokens``, the log and :func:`describe`). Note that a text answer that is
  exactly a token (a respondent typing ``NA``) is missing too.
* Size limits: an archive member may decompress to at most ``max_unzipped_bytes`` (500 MB), a text line may
  be at most ``max_line_chars`` (10 million) characters; a zip archive must hold a CSV, TSV or .sav export.

Any problem with the input raises one :class:`~vccscale.errors.DataError` naming the file and, where it applies,
the row (as counted in the file, header rows included) and the column.
"""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import DataError
from .dataset import ColumnInfo, Dataset, SourceInfo
from .formats import DATE_KEYS, IDENTIFIER_KEYS, META_KIND, RawColumn, RawExport, identifier_key, load, meta_key

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from ..instrument.codebook import Codebook, CodebookRow

__all__ = ["read_export", "describe", "STATUS_CODES", "hash_identifier"]
# The helpers below without a leading underscore (HeaderPlan, target_kind, map_codebook, whole_number, DATE_FORMATS,
# ...) are shared with vccscale.io.stream, the streaming import, so that both read a column by the same rules.

IDENTIFIER_MODES = ("drop", "hash", "keep")
# missing-value tokens of plain CSV files (one header row) unless na= says otherwise
PLAIN_NA = ("NA",)
EMAIL_REDACTED = "[email removed]"
# an e-mail address inside a text (RE2 syntax, for pyarrow)
_LABEL_RE = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"          # one part of a domain name
EMAIL_RE = rf"[A-Za-z0-9._%+\-]+@{_LABEL_RE}(?:\.{_LABEL_RE})*\.[A-Za-z]{{2,}}"

# Status codes (qualtrics-formats 2.1: value labels of Qualtrics-written .sav files) and the shorter labels
# choice-text exports show.
STATUS_CODES: dict[int, str] = {0: "IP Address (normal response)", 1: "Survey Preview", 2: "Survey Test",
                                4: "Imported", 8: "Spam", 9: "Survey Preview Spam", 12: "Imported Spam",
                                16: "Offline", 17: "Offline Survey Preview", 32: "EX", 40: "EX Spam",
                                48: "EX Offline"}
STATUS_LABELS: dict[str, int] = {" ".join(v.split()).casefold(): k for k, v in STATUS_CODES.items()} | {
    "ip address": 0, "normal response": 0, "response": 0, "preview": 1, "test": 2}
FINISHED_VALUES = {"1": True, "0": False, "true": True, "false": False, "1.0": True, "0.0": False}

# codebook types whose values are numbers
_NUMERIC_TYPES = {"likert", "single_choice", "ordinal", "binary", "code", "numeric", "integer", "number", "count",
                  "slider", "rank", "timing", "float", "checklist", "nps", "numeric_entry", "scale"}
_TEXT_TYPES = {"text", "identifier", "string", "open", "text_entry"}
_TEXT_ROLES = {"embedded_data", "organisation_id", "relationship_id"}

# date shapes: Qualtrics, then spreadsheet re-saves (qualtrics-formats 2.1); %H also takes a one-digit hour
DATE_FORMATS: tuple[tuple[str, str], ...] = (
    ("%Y-%m-%d %H:%M:%S", "YYYY-MM-DD HH:MM:SS"),
    ("%Y-%m-%d %H:%M", "YYYY-MM-DD HH:MM"),
    ("%Y-%m-%dT%H:%M:%S", "YYYY-MM-DDTHH:MM:SS"),
    ("%Y/%m/%d %H:%M:%S", "YYYY/MM/DD HH:MM:SS"),
    ("%Y/%m/%d %H:%M", "YYYY/MM/DD HH:MM"),
    ("%d/%m/%Y %H:%M", "DD/MM/YYYY HH:MM"),
    ("%d/%m/%Y %H:%M:%S", "DD/MM/YYYY HH:MM:SS"),
    ("%m/%d/%Y %H:%M", "MM/DD/YYYY HH:MM"),
    ("%m/%d/%Y %H:%M:%S", "MM/DD/YYYY HH:MM:SS"),
    ("%m/%d/%Y %I:%M:%S %p", "MM/DD/YYYY HH:MM:SS AM/PM"),
    ("%m/%d/%Y %I:%M %p", "MM/DD/YYYY HH:MM AM/PM"),
    ("%d.%m.%Y %H:%M", "DD.MM.YYYY HH:MM"),
    ("%d.%m.%Y %H:%M:%S", "DD.MM.YYYY HH:MM:SS"),
    ("%d/%m/%y %H:%M", "DD/MM/YY HH:MM"),
    ("%Y-%m-%d", "YYYY-MM-DD"),
    ("%d/%m/%Y", "DD/MM/YYYY"),
)
FLOAT_RE = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$"
LIKERT_WORDS = re.compile(r"(?i)\b(agree|disagree|satisfied|dissatisfied|likely|unlikely|neither|extremely|"
                           r"somewhat|strongly|not at all|never|always|often|rarely|sometimes|very)\b")
MAX_EXACT = 2 ** 53


def hash_identifier(value: str, salt: str) -> str:
    """The pseudonym ``identifiers="hash"`` writes: the first 16 hex digits of SHA-256 over the UTF-8 bytes of
    ``salt``, a NUL byte and ``value``."""
    return hashlib.sha256(salt.encode("utf-8") + b"\x00" + value.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------------
def read_export(path: str | Path, codebook: "Codebook | str | Path | None" = None, *, identifiers: str = "drop",
                salt: str | None = None, encoding: str | None = None, na: "list[str] | tuple[str, ...] | None" = None,
                redact_emails: bool = False, max_unzipped_bytes: int | None = None,
                max_line_chars: int | None = None) -> Dataset:
    """Read a Qualtrics response export (any variant; see the module docstring) into a :class:`Dataset`.

    ``codebook``: a :class:`~vccscale.instrument.codebook.Codebook` (or the path of one written by vccscale) to
    map columns to; ``identifiers``: ``"drop"`` (default), ``"hash"`` (needs ``salt``) or ``"keep"``;
    ``encoding``: override the detected text encoding (e.g. ``"cp1252"`` for a file re-saved by Excel);
    ``na``: the cell values read as missing (default: ``NA`` in plain CSV files, none in Qualtrics exports; empty
    cells are always missing); ``redact_emails``: replace e-mail addresses in text answers with
    ``[email removed]``; ``max_unzipped_bytes`` / ``max_line_chars``: size limits (defaults
    :data:`~vccscale.io.formats.MAX_UNZIPPED_BYTES`, :data:`~vccscale.io.formats.MAX_LINE_CHARS`).
    """
    p, tokens, cb = checked_args(path, codebook, identifiers, salt, na, max_unzipped_bytes, max_line_chars)
    return read_checked(p, tokens, cb, identifiers, salt, encoding, redact_emails, max_unzipped_bytes,
                        max_line_chars)


def read_checked(p: Path, tokens: tuple[str, ...] | None, cb: "Codebook | None", identifiers: str,
                 salt: str | None, encoding: str | None, redact_emails: bool, max_unzipped_bytes: int | None,
                 max_line_chars: int | None) -> Dataset:
    """read_export after :func:`checked_args`: the whole file read, parsed and typed in memory."""
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", file=p) from None
    sha = hashlib.sha256(raw).hexdigest()
    rx = load(p, raw, encoding, max_unzipped_bytes=max_unzipped_bytes, max_line_chars=max_line_chars)
    del raw
    return build_dataset(p, rx, sha, cb, identifiers, salt, tokens, bool(redact_emails))


def checked_args(path: Any, codebook: Any, identifiers: str, salt: str | None, na: Any, max_unzipped_bytes: Any,
             max_line_chars: Any) -> "tuple[Path, tuple[str, ...] | None, Codebook | None]":
    """read_export's arguments checked: (path, missing-value tokens, codebook)."""
    if identifiers not in IDENTIFIER_MODES:
        raise DataError(f"identifiers must be one of {', '.join(IDENTIFIER_MODES)}, not {identifiers!r}",
                        field="identifiers")
    if identifiers == "hash" and (not isinstance(salt, str) or not salt):
        raise DataError("identifiers='hash' needs a salt (a secret string kept apart from the data, so the hashes "
                        "cannot be reversed by guessing)", field="salt")
    tokens = _na_tokens(na)
    for name, v in (("max_unzipped_bytes", max_unzipped_bytes), ("max_line_chars", max_line_chars)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise DataError(f"{name} must be a positive whole number, not {v!r}", field=name)
    p = Path(path)
    cb = _load_codebook(codebook)
    if not p.exists():
        raise DataError("file not found", file=p)
    if p.is_dir():
        raise DataError("this is a directory, not an export file", file=p)
    return p, tokens, cb


def _na_tokens(na: Any) -> tuple[str, ...] | None:
    """The ``na=`` list as stripped strings (whole numbers allowed: ``-99``); None = the format's default."""
    if na is None:
        return None
    if isinstance(na, str):
        na = [na]
    try:
        items = list(na)
    except TypeError:
        raise DataError(f"na must be a list of strings, not {type(na).__name__}", field="na") from None
    out: list[str] = []
    for t in items:
        if isinstance(t, bool) or not isinstance(t, (str, int)):
            raise DataError(f"na must be a list of strings, found {t!r}", field="na")
        t = str(t).strip()
        if t and t not in out:
            out.append(t)
    return tuple(out)


def describe(dataset: "Dataset | dict[str, Any]") -> dict[str, Any]:
    """A JSON-ready summary: format, encoding, size, every column's name, label, ImportId and dtype, the
    identifier columns that were dropped, the cells read as missing per token (``""`` = empty cells; only where
    missing-value tokens applied) and column, and the text columns with e-mail addresses (cells per column).
    ``dataset``: a Dataset, or the content of its ``.meta.json`` sidecar (as ``import_export`` returns it)."""
    m = dataset if isinstance(dataset, dict) else dataset.meta_dict()
    return {"format": m["source"]["format"], "encoding": m["source"]["encoding"], "n_rows": m["n_rows"],
            "n_columns": m["n_columns"],
            "columns": [{"name": c["name"], "label": c["label"], "import_id": c["import_id"], "dtype": c["dtype"]}
                        for c in m["columns"]],
            "dropped_identifiers": list(m["dropped_identifiers"]),
            "missing_tokens": {t: {"cells": sum(cols.values()), "columns": dict(cols)}
                               for t, cols in m["missing_tokens"].items()},
            "email_cells": dict(m["email_cells"]), "emails_redacted": m["emails_redacted"]}


def _load_codebook(codebook: Any) -> "Codebook | None":
    if codebook is None:
        return None
    from ..instrument.codebook import Codebook

    if isinstance(codebook, Codebook):
        return codebook
    if isinstance(codebook, (str, Path)):
        return Codebook.read(codebook)
    raise DataError(f"codebook must be a Codebook or the path of a codebook file, not {type(codebook).__name__}",
                    field="codebook")


# ---------------------------------------------------------------------------------------------------------------
# assembling the Dataset
# ---------------------------------------------------------------------------------------------------------------
class ColumnContext:
    """What the column converters need to name a problem."""

    def __init__(self, where: str, header_rows: int, log: list[str]) -> None:
        self.where = where
        self.header_rows = header_rows
        self.log = log
        self.choice_text: list[str] = []      # why the export looks like a choice-text export

    def row(self, index: int) -> int:
        """1-based row in the file of the 0-based data row ``index`` (header rows counted)."""
        return self.header_rows + index + 1

    def error(self, message: str, index: int | None, column: str) -> DataError:
        return DataError(message, file=self.where, row=self.row(index) if index is not None else None,
                         column=column)


class HeaderPlan:
    """What the header rows decide before a value is converted (shared by read_export and the streaming import):
    the columns kept, their unique names, codebook rows, identifier handling and missing-value tokens."""

    def __init__(self, p: Path, rx: RawExport, cb: "Codebook | None", identifiers: str,
                 na: tuple[str, ...] | None) -> None:
        self.where = f"{p}/{rx.archive_member}" if rx.archive_member else str(p)
        self.log = log = list(rx.log)
        self.ctx = ColumnContext(self.where, rx.header_rows, log)
        self.cols = cols = _drop_empty_unnamed(rx.columns, log)
        self.names = names = _unique_names(cols, log)
        self.mapping = map_codebook(cols, cb, log) if cb is not None else {}
        # identifiers: Qualtrics' names/ImportIds and the codebook (reason ""), or other names, labels, ImportIds
        labelled = rx.header_rows >= 2 or rx.format == "spss_sav"
        ident = [(i, r) for i, c in enumerate(cols)
                 if (r := identifier_reason(c, self.mapping.get(i), labelled)) is not None]
        self.dropped, self.hashed, kept_ids = [], [], []
        shown: dict[str, list[str]] = {"drop": [], "hash": [], "keep": []}
        for i, reason in ident:
            (self.dropped if identifiers == "drop" else self.hashed if identifiers == "hash" else kept_ids).append(
                names[i])
            shown[identifiers].append(f"{names[i]} (by {reason})" if reason else names[i])
        if self.dropped:
            log.append(f"dropped identifier columns: {', '.join(shown['drop'])}")
        if self.hashed:
            log.append(f"hashed identifier columns (salted SHA-256, first 16 hex digits): {', '.join(shown['hash'])}")
        if kept_ids:
            log.append(f"identifier columns kept unchanged (identifiers='keep'): {', '.join(shown['keep'])}")
        self.drop = set(self.dropped)
        self.not_text = set(self.hashed) | set(kept_ids)    # identifier columns: no e-mail scan
        # missing-value tokens: plain CSV "NA" by default, na= everywhere (qualtrics exports: none by default)
        self.na = na
        self.tokens = na if na is not None else (PLAIN_NA if rx.format == "plain_csv" else ())
        self.count_tokens = na is not None or rx.format == "plain_csv"
        self.zones = {names[i]: str(c.extra["timeZone"]) for i, c in enumerate(cols)
                      if names[i] not in self.drop and c.meta_key in DATE_KEYS and c.extra.get("timeZone")}

    def finish(self, rx: RawExport, cb: "Codebook | None", n_rows: int, n_columns: int,
               missing_tokens: dict[str, dict[str, int]], emails: dict[str, int],
               redact_emails: bool) -> tuple[str, list[str], list[str]]:
        """The log's closing lines; returns (values kind, columns not in the codebook, codebook rows missing)."""
        log, na = self.log, self.na
        if self.zones:
            by_zone: dict[str, list[str]] = {}
            for k, z in self.zones.items():
                by_zone.setdefault(z, []).append(k)
            log.append("dates are the clock times written in the file, not shifted; time zone from row 3: "
                       + "; ".join(f"{', '.join(v)}: {z}" for z, v in by_zone.items()))
        values = "numeric"
        if rx.format != "spss_sav" and self.ctx.choice_text:
            values = "choice_text"
            log.append(f"choice-text export ({'; '.join(dict.fromkeys(self.ctx.choice_text))})")
        not_in_cb: list[str] = []
        missing: list[str] = []
        if cb is not None:
            not_in_cb = [n for i, n in enumerate(self.names) if n not in self.drop and i not in self.mapping]
            used = {id(r) for r in self.mapping.values()}
            missing = [r.variable for r in cb.rows if id(r) not in used and r.role != "metadata"]
            if not_in_cb:
                log.append(f"{len(not_in_cb)} column(s) not in the codebook: {_short(not_in_cb)}")
            if missing:
                log.append(f"{len(missing)} codebook variable(s) missing from the export: {_short(missing)}")
        if self.count_tokens:
            log.append(_missing_tokens_line(self.tokens, missing_tokens, na is None, rx.format != "spss_sav"))
        if emails:
            cells = ", ".join(f"{k} ({n} cell{'s' if n != 1 else ''})" for k, n in emails.items())
            log.append(f"e-mail addresses in text answers: {cells}; "
                       + (f"replaced with {EMAIL_REDACTED!r}" if redact_emails else
                          "NOT removed: redact them with redact_emails=True (vccscale import --redact-emails)"))
        log.append(f"{n_rows} responses, {n_columns} columns")
        return values, not_in_cb, missing


def build_dataset(p: Path, rx: RawExport, sha: str, cb: "Codebook | None", identifiers: str,
           salt: str | None, na: tuple[str, ...] | None = None, redact_emails: bool = False) -> Dataset:
    import pandas as pd

    plan = HeaderPlan(p, rx, cb, identifiers, na)
    cols, names, ctx = plan.cols, plan.names, plan.ctx
    missing_tokens: dict[str, dict[str, int]] = {}
    emails: dict[str, int] = {}
    data: dict[str, Any] = {}
    infos: dict[str, ColumnInfo] = {}
    for i, c in enumerate(cols):
        name = names[i]
        if name in plan.drop:
            c.values = None
            continue
        row = plan.mapping.get(i)
        if plan.count_tokens:
            c.values = _apply_na(c.values, plan.tokens, name, missing_tokens)
        if name in plan.hashed:
            arr = _hash_column(_as_text(c.values), salt or "")
        else:
            arr = _convert(c, name, row, ctx)
        c.values = None   # free the parsed strings of this column as soon as it is converted
        if name not in plan.not_text and str(arr.dtype) == "string":
            arr = _scan_emails(arr, name, emails, redact_emails)
        data[name] = arr
        infos[name] = ColumnInfo(name=name, original=c.original, label=c.label, import_id=c.import_id,
                                 dtype=str(arr.dtype), codebook_variable=row.variable if row is not None else None,
                                 value_labels=dict(c.value_labels))
    df = pd.DataFrame(data, index=pd.RangeIndex(rx.n_rows), copy=False) if data else \
        pd.DataFrame(index=pd.RangeIndex(rx.n_rows))
    values, not_in_cb, missing = plan.finish(rx, cb, len(df), len(df.columns), missing_tokens, emails,
                                             redact_emails)
    source = SourceInfo(path=str(p), format=rx.format, encoding=rx.encoding, sha256=sha, delimiter=rx.delimiter,
                        archive_member=rx.archive_member, values=values)
    return Dataset(data=df, columns=infos, source=source, codebook=cb, dropped_identifiers=plan.dropped,
                   hashed_identifiers=plan.hashed, missing_from_export=missing, not_in_codebook=not_in_cb,
                   log=plan.log, missing_tokens=missing_tokens, email_cells=emails,
                   emails_redacted=bool(redact_emails and emails))


def _missing_tokens_line(tokens: tuple[str, ...], found: dict[str, dict[str, int]], default: bool,
                         text: bool = True) -> str:
    """The log line saying which cells were read as missing, per token (empty cells of text files as ``empty``)."""
    which = ", ".join(repr(t) for t in tokens) or "none"
    head = (f"missing-value tokens {which}{' and empty cells' if text else ''} "
            + ("(plain CSV default; set others with na=, vccscale --na)" if default else "(na=)"))
    parts = []
    for t, per in found.items():
        total = sum(per.values())
        detail = _short([f"{k} {n}" for k, n in per.items()], 10)
        parts.append(f"{'empty' if t == '' else repr(t)} {total} cell(s) in {len(per)} column(s) ({detail})")
    return head + ": " + ("; ".join(parts) if parts else "no cell read as missing")


def _apply_na(values: Any, tokens: tuple[str, ...], name: str, found: dict[str, dict[str, int]]) -> Any:
    """``values`` with the cells equal to a token (blanks around ignored) set missing; counts per token (and, for
    text files, of the empty cells: token ``""``) are added to ``found[token][name]``."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    def add(token: str, n: int) -> None:
        if n:
            found.setdefault(token, {})[name] = found.get(token, {}).get(name, 0) + int(n)

    if isinstance(values, pd.Series):   # .sav: numeric tokens on numeric variables, text tokens on strings
        if not tokens:
            return values
        if values.dtype.kind in "fiu":
            out = values
            for t in tokens:
                try:
                    f = float(t)
                except ValueError:
                    continue
                hit = out == f
                add(t, hit.sum())
                out = out.mask(hit)
            return out
        if values.dtype.kind == "O":
            text = values.map(lambda x: x.strip() if isinstance(x, str) else None)
            hit = text.isin(list(tokens))
            for t, n in text[hit].value_counts().items():
                add(str(t), n)
            return values.mask(hit, None) if hit.any() else values
        return values
    a = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    add("", a.null_count)
    if not tokens or a.null_count == len(a):
        return a
    trimmed = pc.utf8_trim_whitespace(a)
    hit = pc.is_in(trimmed, value_set=pa.array(list(tokens), pa.string()))
    if not pc.any(hit).as_py():
        return a
    vc = pc.value_counts(pc.filter(trimmed, hit))
    for item in vc.to_pylist():
        add(item["values"], item["counts"])
    return pc.if_else(hit, pa.scalar(None, pa.string()), a)


def _scan_emails(arr: Any, name: str, found: dict[str, int], redact: bool) -> Any:
    """Count the cells of a text column holding an e-mail address (never logging one); redact them on request."""
    import pyarrow as pa
    import pyarrow.compute as pc

    a = arr.__arrow_array__()
    if isinstance(a, pa.Array):
        a = pa.chunked_array([a])
    if a.null_count == len(a) or not pc.any(pc.match_substring(a, "@")).as_py():
        return arr
    n = pc.sum(pc.match_substring_regex(a, EMAIL_RE)).as_py() or 0
    if not n:
        return arr
    found[name] = int(n)
    if not redact:
        return arr
    return _pd_string(pc.replace_substring_regex(a, EMAIL_RE, EMAIL_REDACTED))


def _short(names: list[str], n: int = 20) -> str:
    return ", ".join(names[:n]) + (f" ... (+{len(names) - n})" if len(names) > n else "")


def _drop_empty_unnamed(cols: list[RawColumn], log: list[str]) -> list[RawColumn]:
    """Drop columns without a name, label or ImportId and without any value (the legacy trailing column)."""
    out = []
    for c in cols:
        if not c.original.strip() and not c.label.strip() and not c.import_id and _all_missing(c.values):
            log.append(f"dropped the empty unnamed column at position {c.position + 1} (trailing delimiter)")
            continue
        out.append(c)
    return out


def _all_missing(values: Any) -> bool:
    if hasattr(values, "null_count"):
        return values.null_count == len(values)
    s = values
    return bool((s.isna() | (s.astype(str) == "")).all()) if len(s) else True


def _unique_names(cols: list[RawColumn], log: list[str]) -> list[str]:
    """Unique column names: duplicates get ``__2``, ``__3`` ... (never colliding with a name in the file)."""
    originals = {c.original for c in cols}
    seen: set[str] = set()
    last: dict[str, int] = {}
    out: list[str] = []
    renamed: list[str] = []
    for c in cols:
        base = c.original if c.original.strip() else f"column_{c.position + 1}"
        if base != c.original:
            log.append(f"column {c.position + 1} has no name in row 1: called {base!r}")
        name = base
        if name in seen:
            k = last.get(base, 1)
            while True:
                k += 1
                name = f"{base}__{k}"
                if name not in seen and name not in originals:
                    break
            last[base] = k
            renamed.append(f"{name} ({c.import_id})" if c.import_id else name)
        seen.add(name)
        out.append(name)
    if renamed:
        log.append(f"duplicate column names made unique: {_short(renamed)}")
    return out


def identifier_reason(c: RawColumn, row: "CodebookRow | None", labelled: bool) -> str | None:
    """None: not an identifier; "": a Qualtrics identifier column (by its name or ImportId) or the codebook's;
    else how it was recognised: ``name 'email'``, ``label 'IP Address'`` or ``ImportId 'ipAddress'``."""
    if c.meta_key is not None and META_KIND.get(c.meta_key) == "identifier":
        return ""
    if row is not None and (row.type or "").lower() == "identifier":
        return ""
    if identifier_key(c.original) in IDENTIFIER_KEYS:
        return f"name {c.original.strip()!r}"
    if labelled and c.label.strip() and identifier_key(c.label) in IDENTIFIER_KEYS:
        return f"label {' '.join(c.label.split())!r}"
    if c.import_id and identifier_key(c.import_id) in IDENTIFIER_KEYS:
        return f"ImportId {c.import_id!r}"
    return None


# ---------------------------------------------------------------------------------------------------------------
# codebook mapping
# ---------------------------------------------------------------------------------------------------------------
def _norm_iid(iid: str | None) -> str | None:
    return iid.replace("-", "_") if iid else None


def _spss_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


_QID_PREFIX = re.compile(r"^(QID\d+)(?!\d)")


def _qid(iid: str | None) -> str | None:
    m = _QID_PREFIX.match(_norm_iid(iid) or "")
    return m.group(1) if m else None


def map_codebook(cols: list[RawColumn], cb: "Codebook", log: list[str]) -> dict[int, "CodebookRow"]:
    """Column index -> codebook row: (name, ImportId) pairs, then name (k-th duplicate to the k-th row of that
    name), ImportId (``-`` read as ``_``), SPSS-sanitised name, metadata role, finally a question's QID when it
    is the only column and the only codebook row of that question."""
    rows = list(cb.rows)
    used = [False] * len(rows)
    result: dict[int, CodebookRow] = {}
    how: dict[str, int] = {}

    def index(key: Callable[[Any], Any]) -> dict[Any, list[int]]:
        d: dict[Any, list[int]] = {}
        for j, r in enumerate(rows):
            k = key(r)
            if k:
                d.setdefault(k, []).append(j)
        return d

    def take(cands: list[int] | None, ci: int, method: str) -> None:
        for j in cands or ():
            if not used[j]:
                used[j] = True
                result[ci] = rows[j]
                how[method] = how.get(method, 0) + 1
                return

    def each(fn: Callable[[int, RawColumn], None]) -> None:
        for ci, c in enumerate(cols):
            if ci not in result:
                fn(ci, c)

    pair = index(lambda r: (r.variable, r.import_id))
    each(lambda ci, c: take(pair.get((c.original, c.import_id)), ci, "name") if c.import_id else None)
    by_name = index(lambda r: r.variable)
    each(lambda ci, c: take(by_name.get(c.original), ci, "name"))
    by_iid = index(lambda r: _norm_iid(r.import_id))
    each(lambda ci, c: take(by_iid.get(_norm_iid(c.import_id)), ci, "ImportId") if c.import_id else None)
    by_spss = index(lambda r: _spss_name(r.variable))
    each(lambda ci, c: take(by_spss.get(_spss_name(c.original)), ci, "SPSS name"))
    by_meta = index(lambda r: meta_key(r.variable, r.import_id) if r.role == "metadata" else None)
    each(lambda ci, c: take(by_meta.get(c.meta_key), ci, "metadata role") if c.meta_key else None)
    # QID prefix: one column and one codebook row left for a question
    open_cols: dict[str, list[int]] = {}
    for ci, c in enumerate(cols):
        if ci not in result and (q := _qid(c.import_id)):
            open_cols.setdefault(q, []).append(ci)
    by_qid = index(lambda r: _qid(r.import_id))
    for q, cis in open_cols.items():
        cands = [j for j in by_qid.get(q, []) if not used[j]]
        if len(cis) == 1 and len(cands) == 1:
            take(cands, cis[0], "QID")
    detail = ", ".join(f"{n} by {m}" for m, n in how.items())
    log.append(f"codebook{' ' + cb.source if cb.source else ''}: {len(result)} of {len(cols)} columns mapped"
               + (f" ({detail})" if detail else ""))
    return result


# ---------------------------------------------------------------------------------------------------------------
# column conversion
# ---------------------------------------------------------------------------------------------------------------
def target_kind(c: RawColumn, row: "CodebookRow | None") -> str:
    """datetime | status | int | bool | string | coded | numeric | auto."""
    if c.meta_key is not None:
        return {"datetime": "datetime", "status": "status", "int": "int", "bool": "bool"}.get(
            META_KIND[c.meta_key], "string")
    if row is not None:
        t = (row.type or "").lower()
        if t in ("datetime", "date"):
            return "datetime"
        if t == "boolean":
            return "bool"
        if t in _TEXT_TYPES or row.role in _TEXT_ROLES:
            return "string"
        if row.value_labels:
            return "coded"
        if t in _NUMERIC_TYPES:
            return "numeric"
        return "auto"
    name = c.original
    iid = _norm_iid(c.import_id) or ""
    if name.endswith(("_TEXT", " - Topics")) or iid.endswith("_TEXT") or "_TEXT_" in iid:
        return "string"
    if name.endswith("_DO") and not c.extra.get("choiceId"):
        return "string"  # display order joined with "|"
    return "auto"


def _convert(c: RawColumn, name: str, row: "CodebookRow | None", ctx: ColumnContext) -> Any:
    """The pandas array of one column."""
    import pandas as pd

    target = target_kind(c, row)
    v = c.values
    if isinstance(v, pd.Series) and v.dtype.kind in "fiub":   # numeric .sav variable
        return _sav_numeric(v, target, name, ctx)
    if isinstance(v, pd.Series) and v.dtype.kind == "M":
        return v.astype("datetime64[us]").array
    a = _as_text(v)
    if target == "string":
        return _pd_string(a)
    if target == "datetime":
        return _dates(a, name, ctx)
    if target == "status":
        return _status(a, name, ctx)
    if target == "bool":
        return _finished(a, name, ctx)
    if target == "int":
        num = _number(a, strict=False)
        if num is None or not _is_int(num):
            idx = _first_bad(a, lambda s: whole_number(s) is not None)
            bad = a[idx].as_py() if idx is not None else None
            raise ctx.error(f"expected a whole number, found {bad!r}", idx, name)
        return _pd_array(num)
    if target in ("coded", "numeric", "auto"):
        num = _number(a, strict=target == "auto")
        if num is not None:
            return _pd_array(num)
        if target == "coded" and row is not None:
            return _pd_array(_recode(a, row, name, ctx))
        if target == "numeric":
            ctx.log.append(f"column {name}: the codebook says {row.type if row else 'numeric'} but some values "
                           "are not numbers; kept as text")
        elif row is None and c.meta_key is None and _looks_like_scale_labels(a):
            ctx.choice_text.append(f"answer labels in {name}")
        return _pd_string(a)
    raise AssertionError(target)  # pragma: no cover


# -- arrow helpers -------------------------------------------------------------------------------------------------
def _as_text(v: Any) -> "pa.ChunkedArray":
    """Arrow strings with nulls for empty cells (text columns pass through; .sav strings are converted)."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(v, pd.Series):   # .sav strings (or other objects of a damaged file): text, "" = missing
        vals = [None if x is None or x is pd.NaT or x is pd.NA or (isinstance(x, float) and math.isnan(x)) or x == ""
                else str(x) for x in v.astype(object).tolist()]
        return pa.chunked_array([pa.array(vals, type=pa.string())])
    if isinstance(v, pa.Array):
        return pa.chunked_array([v])
    return v


def _pd_array(a: Any) -> Any:
    import pandas as pd
    import pyarrow as pa

    if isinstance(a, pa.Array):
        a = pa.chunked_array([a])
    t = a.type
    if pa.types.is_integer(t):
        if t != pa.int64():
            a = a.cast(pa.int64())
        return pd.Int64Dtype().__from_arrow__(a)
    if pa.types.is_floating(t):
        return pd.Float64Dtype().__from_arrow__(a.cast(pa.float64()))
    if pa.types.is_boolean(t):
        return pd.BooleanDtype().__from_arrow__(a)
    return _pd_string(a)


def _pd_string(a: Any) -> Any:
    import pandas as pd
    import pyarrow as pa

    if isinstance(a, pa.Array):
        a = pa.chunked_array([a])
    if len(a) == 0:
        return pd.array([], dtype=pd.StringDtype("pyarrow"))
    return pd.StringDtype("pyarrow").__from_arrow__(a)


def _is_int(a: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(a.type)


def whole_number(s: str) -> int | None:
    try:
        f = float(s.strip())
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(f) or f != int(f) or abs(f) >= MAX_EXACT:
        return None
    return int(f)


def _number(a: "pa.ChunkedArray", strict: bool) -> Any:
    """Numbers (int64 when all are whole, else float64), or None when some value is not a number (or, strictly,
    when a value looks like a code rather than a number: leading zeros, 16+ digit integers). Empty columns give
    None in strict mode and an all-null int64 array otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if a.null_count == len(a):
        return None if strict else pa.chunked_array([pa.nulls(len(a), pa.int64())])
    if not strict:
        a = pc.utf8_trim_whitespace(a)
    try:
        ints = pc.cast(a, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ints = None
    if ints is not None:
        if strict and leading_zeros(a):
            return None
        return ints
    if strict:
        if not pc.all(pc.match_substring_regex(a, FLOAT_RE)).as_py():
            return None
        if pc.any(pc.match_substring_regex(a, r"^-?[0-9]{16,}$")).as_py():
            return None
    try:
        f = pc.cast(a, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not pc.all(pc.is_finite(f)).as_py():
        return None
    return _integral(f)


def leading_zeros(a: Any) -> bool:
    """Does some value look like a code with leading zeros ("007") or a hexadecimal code ("0x1F", which arrow
    would read as the number 31)? (cheap prefix test first, regex only then)"""
    import pyarrow.compute as pc

    if not (pc.any(pc.starts_with(a, "0")).as_py() or pc.any(pc.starts_with(a, "-0")).as_py()):
        return False
    return bool(pc.any(pc.match_substring_regex(a, r"^-?0[0-9xX]")).as_py())


def _integral(f: Any) -> Any:
    """float64 -> int64 when every value is a whole number of exactly representable size."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if f.null_count == len(f):
        return f.cast(pa.int64())
    whole = pc.all(pc.equal(f, pc.floor(f))).as_py()
    mx = pc.max(pc.abs(f)).as_py()
    if whole and mx is not None and mx < MAX_EXACT:
        return f.cast(pa.int64())
    return f


def _first_bad(a: "pa.ChunkedArray", ok: Callable[[str], bool]) -> int | None:
    """0-based index of the first non-null value for which ``ok`` is false."""
    import pyarrow as pa
    import pyarrow.compute as pc

    bad = [u for u in pc.unique(a).to_pylist() if u is not None and not ok(u)]
    if not bad:
        return None
    idx = [pc.index(a, pa.scalar(u, pa.string())).as_py() for u in bad]
    return min(i for i in idx if i is not None and i >= 0)


def _map_uniques(a: "pa.ChunkedArray", fn: Callable[[str], Any], out_type: Any,
                 on_bad: Callable[[str, int], Exception]) -> Any:
    """Map each distinct value through ``fn`` (None from fn = not mappable -> ``on_bad``), vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = [u for u in pc.unique(a).to_pylist() if u is not None]
    vals = []
    bad = []
    for u in keys:
        v = fn(u)
        if v is None:
            bad.append(u)
        vals.append(v)
    if bad:
        first = min((pc.index(a, pa.scalar(u, pa.string())).as_py(), u) for u in bad)
        raise on_bad(first[1], first[0])
    if not keys:
        return pa.chunked_array([pa.nulls(len(a), out_type)])
    idx = pc.index_in(a, value_set=pa.array(keys, pa.string()))
    return pc.take(pa.array(vals, out_type), idx)


# -- typed columns ---------------------------------------------------------------------------------------------
def norm_label(s: str) -> str:
    return " ".join(unicodedata.normalize("NFC", s).split())


def _status(a: "pa.ChunkedArray", name: str, ctx: ColumnContext) -> Any:
    import pyarrow as pa

    labels_seen = []

    def code(u: str) -> int | None:
        n = whole_number(u)
        if n is not None:
            return n
        k = STATUS_LABELS.get(norm_label(u).casefold())
        if k is not None:
            labels_seen.append(u)
        return k

    out = _map_uniques(a, code, pa.int64(), lambda u, i: ctx.error(
        f"unknown response type {u!r}: not a Status code or one of the labels "
        f"{', '.join(repr(v) for v in STATUS_CODES.values())}", i, name))
    if labels_seen:
        ctx.choice_text.append(f"Status labels ({', '.join(sorted(set(labels_seen))[:3])})")
        ctx.log.append(f"column {name}: response-type labels mapped to Status codes")
    return _pd_array(out)


def _finished(a: "pa.ChunkedArray", name: str, ctx: ColumnContext) -> Any:
    import pyarrow as pa

    seen: set[str] = set()

    def val(u: str) -> bool | None:
        s = u.strip()
        seen.add(s)
        return FINISHED_VALUES.get(s.lower())

    out = _map_uniques(a, val, pa.bool_(), lambda u, i: ctx.error(
        f"expected 1/0 or True/False, found {u!r}", i, name))
    if seen & {"True", "False"}:
        ctx.choice_text.append(f"{name} is True/False")
    return _pd_array(out)


def _recode(a: "pa.ChunkedArray", row: "CodebookRow", name: str, ctx: ColumnContext) -> Any:
    """Choice text -> codes through the codebook row's value labels (numbers pass through)."""
    import pyarrow as pa

    lookup: dict[str, int | None] = {}
    for code, label in row.value_labels.items():
        key = norm_label(str(label))
        lookup[key] = None if key in lookup and lookup[key] != code else code
    floats = False
    recoded = []

    def code_of(u: str) -> float | None:
        nonlocal floats
        key = norm_label(u)
        if key in lookup:
            c = lookup[key]
            if c is None:
                return None
            recoded.append(u)
            return float(c)
        try:
            f = float(u.strip())
        except ValueError:
            return None
        if not math.isfinite(f):
            return None
        floats = floats or f != int(f)
        return f

    def bad(u: str, i: int) -> DataError:
        shown = "; ".join(f"{k} = {v!r}" for k, v in list(row.value_labels.items())[:12])
        amb = " (the label belongs to several codes)" if lookup.get(norm_label(u), 0) is None else ""
        return ctx.error(f"answer {u!r} is not a label of codebook variable {row.variable!r}{amb}; its labels are "
                         f"{shown}", i, name)

    out = _map_uniques(a, code_of, pa.float64(), bad)
    if recoded:
        ctx.choice_text.append(f"answer labels in {name}")
    return _integral(out)


def _looks_like_scale_labels(a: "pa.ChunkedArray") -> bool:
    import pyarrow.compute as pc

    u = pc.unique(a)
    if len(u) > 15:
        return False
    return any(isinstance(x, str) and len(x) < 60 and LIKERT_WORDS.search(x) for x in u.to_pylist())


def _dates(a: "pa.ChunkedArray", name: str, ctx: ColumnContext) -> Any:
    import pandas as pd

    s = pd.Series(_pd_string(a)).str.strip()
    present = s.notna()
    if not present.any():
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]").array
    first = s[present].iloc[0]
    best: tuple[int, int, str] | None = None   # (unparsed count, index of the first, shape)
    for fmt, shape in DATE_FORMATS:
        try:
            pd.to_datetime(pd.Series([first]), format=fmt)
        except (ValueError, TypeError, OverflowError):
            continue
        out = pd.to_datetime(s, format=fmt, errors="coerce")
        out = out.mask(out.dt.year < 1)   # year 0, which pandas reads in ISO-shaped strings only, is no date
        miss = present & out.isna()
        n = int(miss.sum())
        if n:
            if best is None or n < best[0]:
                best = (n, int(miss.to_numpy().argmax()), shape)
            continue
        if shape != "YYYY-MM-DD HH:MM:SS":
            ctx.log.append(f"column {name}: dates in the shape {shape} (the file was probably re-saved by a "
                           "spreadsheet)")
        if fmt.startswith("%d/%m/"):
            alt = pd.to_datetime(s, format=fmt.replace("%d/%m/", "%m/%d/"), errors="coerce")
            if not (present & alt.isna()).any():
                ctx.log.append(f"column {name}: {first!r} etc. read as day/month/year; month/day/year would fit "
                               "every value too")
        return out.astype("datetime64[us]").array
    if best is None:
        idx = int(present.to_numpy().argmax())
        raise ctx.error(f"not a date and time: {first!r} (expected YYYY-MM-DD HH:MM:SS)", idx, name)
    n, idx, shape = best
    raise ctx.error(f"not a date and time: {s.iloc[idx]!r} (the other values look like {shape})", idx, name)


def _sav_numeric(s: "pd.Series", target: str, name: str, ctx: ColumnContext) -> Any:
    import numpy as np
    import pandas as pd

    vals = s.to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(vals)
    if target == "bool":
        ok = missing | (vals == 0) | (vals == 1)
        if not ok.all():
            i = int((~ok).argmax())
            raise ctx.error(f"expected 1/0, found {vals[i]!r}", i, name)
        return pd.arrays.BooleanArray(np.where(missing, False, vals == 1), missing)
    finite = vals[~missing]
    if np.isinf(finite).any():
        i = int(np.isinf(vals).argmax())
        raise ctx.error("infinite value", i, name)
    if finite.size == 0 or (np.all(finite == np.floor(finite)) and np.abs(finite).max() < MAX_EXACT):
        ints = np.where(missing, 0, vals).astype("int64")
        return pd.arrays.IntegerArray(ints, missing)
    if target in ("int", "status"):
        i = int((~missing & (vals != np.floor(vals))).argmax())
        raise ctx.error(f"expected a whole number, found {vals[i]!r}", i, name)
    return pd.arrays.FloatingArray(vals, missing)


def _hash_column(a: "pa.ChunkedArray", salt: str) -> Any:
    import pyarrow as pa

    out = _map_uniques(a, lambda u: hash_identifier(u, salt), pa.string(), lambda u, i: DataError("unreachable"))
    return _pd_string(out)

