"""The imported data set: a pandas DataFrame plus what vccscale knows about every column.

``Dataset`` is what the importer returns and every later stage consumes. ``data`` is wide, one row per
response, columns as exported (duplicated names made unique with a ``__2`` suffix; the original name is kept
in ``columns``). Nothing here is global state: metadata travels with the object, and ``write()`` stores it in a
``.meta.json`` sidecar next to the data.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..instrument.codebook import Codebook


@dataclass(frozen=True)
class ColumnInfo:
    name: str                       # unique column name in Dataset.data
    original: str                   # row-1 name as exported (may repeat across columns)
    label: str = ""                 # row-2 text, or the SPSS variable label
    import_id: str | None = None    # row-3 ImportId (None for legacy / plain / sav files)
    dtype: str = "object"
    codebook_variable: str | None = None   # the codebook row this column maps to
    value_labels: dict[int, str] = field(default_factory=dict)  # e.g. from .sav files


@dataclass(frozen=True)
class SourceInfo:
    path: str
    format: str                     # qualtrics_csv, qualtrics_tsv, qualtrics_2016, legacy_csv, spss_sav, plain_csv
    encoding: str | None
    sha256: str                     # of the file as given (the zip, for zip archives)
    delimiter: str | None = None
    archive_member: str | None = None   # the export inside a .zip
    values: str = "numeric"         # numeric | choice_text (how answers were exported)


@dataclass
class Dataset:
    data: "pd.DataFrame"
    columns: dict[str, ColumnInfo]
    source: SourceInfo
    codebook: "Codebook | None" = None
    dropped_identifiers: list[str] = field(default_factory=list)
    hashed_identifiers: list[str] = field(default_factory=list)
    missing_from_export: list[str] = field(default_factory=list)   # codebook variables absent from the export
    not_in_codebook: list[str] = field(default_factory=list)       # export columns the codebook does not know
    log: list[str] = field(default_factory=list)
    # cells read as missing at import, per token ("" = empty cell) and column (plain CSV files, or na=)
    missing_tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    email_cells: dict[str, int] = field(default_factory=dict)      # text columns with e-mail addresses: cells
    emails_redacted: bool = False                                  # those addresses were replaced at import

    # -- views --------------------------------------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return len(self.data)

    def codebook_row(self, column: str):
        """The codebook row of a data column (None when unmapped or without codebook). When the codebook has
        several rows of that variable name (duplicate export tags), the one with the column's ImportId."""
        if self.codebook is None:
            return None
        info = self.columns[column]
        var = info.codebook_variable
        if not var:
            return None
        row = self.codebook.by_variable().get(var)
        if row is not None and info.import_id and row.import_id != info.import_id:
            for r in self.codebook.rows:
                if r.variable == var and r.import_id == info.import_id:
                    return r
        return row

    def columns_with_role(self, role: str) -> list[str]:
        return [c for c in self.columns if (r := self.codebook_row(c)) is not None and r.role == role]

    def item_columns(self, perspective: str | None = None) -> list[str]:
        out = []
        for c in self.columns:
            r = self.codebook_row(c)
            if r is not None and r.role == "item" and (perspective is None or r.perspective == perspective):
                out.append(c)
        return out

    def response_id(self) -> "pd.Series":
        """The respondent key: ResponseId when present, else the 0-based row number."""
        import pandas as pd

        for name in ("ResponseId", "ResponseID", "V1"):
            if name in self.data.columns:
                return self.data[name]
        return pd.Series(range(len(self.data)), index=self.data.index, name="row")

    def with_data(self, data: "pd.DataFrame", **changes: Any) -> "Dataset":
        """A new Dataset with other data (and column infos trimmed to its columns): never modifies this one."""
        cols = {k: v for k, v in self.columns.items() if k in data.columns}
        for k in data.columns:
            if k not in cols:
                cols[k] = ColumnInfo(name=k, original=k, dtype=str(data[k].dtype))
        new = Dataset(data=data, columns=cols, source=self.source, codebook=self.codebook,
                      dropped_identifiers=list(self.dropped_identifiers),
                      hashed_identifiers=list(self.hashed_identifiers),
                      missing_from_export=list(self.missing_from_export),
                      not_in_codebook=list(self.not_in_codebook), log=list(self.log),
                      missing_tokens={k: dict(v) for k, v in self.missing_tokens.items()},
                      email_cells=dict(self.email_cells), emails_redacted=self.emails_redacted)
        for k, v in changes.items():
            setattr(new, k, v)
        return new

    # -- long format ---------------------------------------------------------------------------------------------
    def to_long(self, keys: tuple[str, ...] = ("organisation_id", "relationship_id", "side", "stakeholder_role",
                                              "invite_organisation_id", "invite_dyad_id", "invite_network_id",
                                              "invite_side", "invite_stakeholder_role"),
                describe: bool = True) -> "pd.DataFrame":
        """Stack the respondent versions: one row per respondent and version answered, one column per item id.

        Provider and customer (and stakeholder-role) versions of the same item share one column named by the
        item id; ``perspective`` says which version the row holds. Joint (J) items and the marker variable's
        items (role ``marker``, asked once of every respondent) are copied to every row of their respondent, under
        their item ids (``marker_01``), the names the instrument's measurement.lavaan gives them. Respondents
        who answered no versioned item get one row with perspective 'joint'.
        Columns: ``response_id``, ``perspective``, the id columns in ``keys`` that exist, with ``describe`` the
        respondent's firmographic and role questions (codebook roles ``firmographic`` / ``respondent_role``; choice
        questions as their answer labels, e.g. ``industry`` = "Manufacturing", so that they can group analyses),
        then item ids.
        """
        import pandas as pd

        if self.codebook is None:
            raise DataError("to_long() needs a codebook (import with --codebook)", file=self.source.path)
        by_persp: dict[str, dict[str, str]] = {}   # perspective -> {item_id: column}
        for c in self.columns:
            r = self.codebook_row(c)
            if r is None or r.role not in ("item", "marker") or not r.item_id:
                continue
            by_persp.setdefault((r.perspective if r.role == "item" else None) or "joint", {})[r.item_id] = c
        joint = by_persp.pop("joint", {})
        rid = self.response_id()
        key_cols = [k for k in keys if k in self.data.columns]
        extra: dict[str, "pd.Series"] = {}
        if describe:
            for c in self.columns:
                r = self.codebook_row(c)
                if r is None or r.role not in ("firmographic", "respondent_role") or c in key_cols or r.item_id:
                    continue
                v = self.data[c]
                if r.value_labels:
                    num = pd.to_numeric(v, errors="coerce")
                    lab = {k: t for k, t in r.value_labels.items() if k not in (r.missing_codes or ())}
                    v = num.map(lab).astype("object").where(num.isin(list(lab)), None)
                extra[c] = v
        frames = []
        for persp, mapping in by_persp.items():
            block = self.data[list(mapping.values())]
            answered = block.notna().any(axis=1)
            sub = self.data.loc[answered]
            cols = {"response_id": rid.loc[answered].values, "perspective": persp}
            cols.update({k: sub[k].values for k in key_cols})
            cols.update({k: v.loc[answered].values for k, v in extra.items()})
            cols.update({item: sub[col].values for item, col in {**mapping, **joint}.items()})
            frames.append(pd.DataFrame(cols))
        if joint:
            versioned = pd.Series(False, index=self.data.index)
            for mapping in by_persp.values():
                versioned |= self.data[list(mapping.values())].notna().any(axis=1)
            rest = self.data.loc[~versioned]
            if len(rest):
                cols = {"response_id": rid.loc[~versioned].values, "perspective": "joint"}
                cols.update({k: rest[k].values for k in key_cols})
                cols.update({k: v.loc[~versioned].values for k, v in extra.items()})
                cols.update({item: rest[col].values for item, col in joint.items()})
                frames.append(pd.DataFrame(cols))
        key_cols = key_cols + list(extra)
        if not frames:
            return pd.DataFrame(columns=["response_id", "perspective", *key_cols])
        out = pd.concat(frames, ignore_index=True)
        items = sorted(c for c in out.columns if c not in ("response_id", "perspective", *key_cols))
        return out[["response_id", "perspective", *key_cols, *items]]

    # -- output --------------------------------------------------------------------------------------------------
    def meta_dict(self) -> dict[str, Any]:
        return {"source": asdict(self.source), "n_rows": self.n_rows, "n_columns": len(self.columns),
                "columns": [asdict(c) for c in self.columns.values()],
                "dropped_identifiers": self.dropped_identifiers, "hashed_identifiers": self.hashed_identifiers,
                "missing_from_export": self.missing_from_export, "not_in_codebook": self.not_in_codebook,
                "codebook": str(Path(self.codebook.source).resolve()) if self.codebook is not None
                and self.codebook.source else None, "log": self.log, "missing_tokens": self.missing_tokens,
                "email_cells": self.email_cells, "emails_redacted": self.emails_redacted}

    def write(self, out: str | Path) -> tuple[Path, Path]:
        """Write the data (.parquet or .csv) and a ``<out>.meta.json`` sidecar; returns both paths."""
        p = Path(out)
        suffix = p.suffix.lower()
        if suffix == ".parquet":
            self.data.to_parquet(p, index=False)
        elif suffix == ".csv":  # text cells escaped against spreadsheet formula injection (load_dataset undoes it)
            from ..csvsafe import write_csv

            write_csv(self.data, p)
        else:
            raise DataError("output must end in .parquet or .csv", file=p)
        meta = p.with_name(p.name + ".meta.json")
        meta.write_text(json.dumps(self.meta_dict(), indent=1, ensure_ascii=False, default=str) + "\n",
                        encoding="utf-8")
        return p, meta


def load_dataset(path: str | Path) -> Dataset:
    """Read data written by :meth:`Dataset.write` (``.parquet`` or ``.csv`` plus its ``.meta.json`` sidecar)."""
    import pandas as pd

    from ..instrument.codebook import Codebook

    p = Path(path)
    meta_path = p.with_name(p.name + ".meta.json")
    if not p.exists():
        raise DataError("data file not found", file=p)
    if not meta_path.exists():
        raise DataError("no .meta.json sidecar next to the data (write it with `vccscale import --out`)", file=p)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if p.suffix.lower() == ".parquet":
        data = pd.read_parquet(p)
    else:
        from ..csvsafe import unescape_frame

        data = unescape_frame(pd.read_csv(p))
    cols = {c["name"]: ColumnInfo(**{**c, "value_labels": {int(k): v for k, v in c["value_labels"].items()}})
            for c in meta["columns"] if c["name"] in data.columns}
    cb = Codebook.read(meta["codebook"]) if meta.get("codebook") else None
    return Dataset(data=data, columns=cols, source=SourceInfo(**meta["source"]), codebook=cb,
                   dropped_identifiers=meta["dropped_identifiers"], hashed_identifiers=meta["hashed_identifiers"],
                   missing_from_export=meta["missing_from_export"], not_in_codebook=meta["not_in_codebook"],
                   log=meta["log"], missing_tokens=meta.get("missing_tokens") or {},
                   email_cells=meta.get("email_cells") or {}, emails_redacted=bool(meta.get("emails_redacted")))
