"""The codebook: one row per export column of an instrument, written as CSV and JSON and read back.

Columns (in this order): ``variable`` (exactly the export's row-1 name), ``import_id`` (row 3), ``label``
(row 2: question text, `` - `` statement), ``item_id``, ``construct``, ``perspective`` (provider, customer,
joint, or a stakeholder role; empty for non-items), ``role`` (item, attention_check, marker, embedded_data,
metadata, consent, respondent_role, organisation_id, relationship_id, firmographic, or question for columns
of a hand-made survey), ``indicator`` (reflective, global, formative, checklist, observed), ``type``,
``block``, ``reverse``, ``scale_min``, ``scale_max``, ``value_labels`` (code -> label), ``missing_codes``
(codes to treat as missing, e.g. 99 = don't know), ``correct_answer`` (attention checks), ``question_id``,
``question_text``, ``shown_if`` (the display condition of the column's question or statement, e.g.
``outcome_contract = 1 and b_bmi_stage_j_1 != 0``: see ``logic``; empty = shown to everyone on its version's path.
A respondent for whom the condition is false was never shown the question: the missing answer is structural, not
applicable, and cleaning does not count it as nonresponse), ``form_block`` (three-form planned missingness: ``X``
for items in every form, ``A``/``B``/``C`` for items the form that omits that block never shows; the form is the
embedded-data column ``form``, role ``form``, whose value labels say which block each form omits).
Roles also include ``key_informant`` (informant competence), ``screener`` (a routing question) and ``form``.
Items answered by both sides are distinct variables; ``item_id`` + ``perspective`` pair them.
In CSV, ``value_labels`` and ``missing_codes`` are JSON, booleans are ``true``/``false`` and empty cells are None.
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..csvsafe import escape_row, unescape_cell
from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from ..registry import Registry
    from .model import Instrument, Question, Statement

COLUMNS = ("variable", "import_id", "label", "item_id", "construct", "perspective", "role", "indicator", "type",
           "block", "reverse", "scale_min", "scale_max", "value_labels", "missing_codes", "correct_answer",
           "question_id", "question_text", "shown_if", "form_block")

_DONT_KNOW = re.compile(r"(?i)\b(don[’'`]?t know|do not know|not applicable|n/a|prefer not|rather not|"
                        r"not sure|can[’'`]?t say|cannot say|no opinion)\b")


def looks_dont_know(label: str) -> bool:
    """Whether an answer label is a "don't know" / "not applicable" kind of answer (coded missing)."""
    return bool(_DONT_KNOW.search(label))


@dataclass(frozen=True)
class CodebookRow:
    variable: str
    import_id: str
    label: str = ""
    item_id: str | None = None
    construct: str | None = None
    perspective: str | None = None
    role: str = "question"
    indicator: str | None = None
    type: str = "text"
    block: str | None = None
    reverse: bool = False
    scale_min: int | None = None
    scale_max: int | None = None
    value_labels: dict[int, str] = field(default_factory=dict)
    missing_codes: tuple[int, ...] = ()
    correct_answer: int | None = None
    question_id: str | None = None
    question_text: str = ""
    shown_if: str | None = None
    form_block: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value_labels"] = {str(k): v for k, v in self.value_labels.items()}
        d["missing_codes"] = list(self.missing_codes)
        return d


_INT_FIELDS = ("scale_min", "scale_max", "correct_answer")


def _row_from_mapping(m: dict[str, Any], where: str) -> CodebookRow:
    unknown = set(m) - set(COLUMNS)
    if unknown:
        raise DataError(f"unknown codebook column(s) {sorted(unknown)}", file=where)
    missing = {"variable", "import_id"} - set(m)
    if missing:
        raise DataError(f"codebook lacks column(s) {sorted(missing)}", file=where)
    kw: dict[str, Any] = {}
    for f in fields(CodebookRow):
        if f.name not in m:
            continue
        v = m[f.name]
        if v == "" and f.name not in ("label", "question_text", "variable", "import_id"):
            v = None
        if v is None:
            continue
        if f.name in _INT_FIELDS:
            v = int(v)
        elif f.name == "reverse":
            v = v if isinstance(v, bool) else str(v).lower() in ("true", "1", "yes")
        elif f.name == "value_labels":
            v = json.loads(v) if isinstance(v, str) else v
            v = {int(k): str(lab) for k, lab in v.items()}
        elif f.name == "missing_codes":
            v = json.loads(v) if isinstance(v, str) else v
            v = tuple(int(x) for x in v)
        kw[f.name] = v
    return CodebookRow(**kw)


@dataclass(frozen=True)
class Codebook:
    rows: tuple[CodebookRow, ...]
    source: str | None = None

    def __post_init__(self) -> None:
        seen: dict[str, int] = {}
        for i, r in enumerate(self.rows):
            if r.variable in seen and r.import_id == self.rows[seen[r.variable]].import_id:
                raise DataError(f"duplicate codebook variable {r.variable!r} (rows {seen[r.variable] + 1} and "
                                f"{i + 1})", file=self.source, column="variable")
            seen.setdefault(r.variable, i)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    @property
    def variables(self) -> list[str]:
        return [r.variable for r in self.rows]

    def by_variable(self) -> dict[str, CodebookRow]:
        return {r.variable: r for r in self.rows}

    def by_import_id(self) -> dict[str, CodebookRow]:
        return {r.import_id: r for r in self.rows}

    def items(self, perspective: str | None = None) -> list[CodebookRow]:
        return [r for r in self.rows if r.role == "item" and (perspective is None or r.perspective == perspective)]

    def filter(self, **kw: Any) -> list[CodebookRow]:
        return [r for r in self.rows if all(getattr(r, k) == v for k, v in kw.items())]

    # -- I/O -------------------------------------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"codebook": self.to_records()}, indent=1, ensure_ascii=False) + "\n",
                              encoding="utf-8")

    def write_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for rec in self.to_records():
                out = []
                for col in COLUMNS:
                    v = rec[col]
                    if col in ("value_labels", "missing_codes"):
                        v = json.dumps(v, ensure_ascii=False) if v else ""
                    elif isinstance(v, bool):
                        v = "true" if v else "false"
                    elif v is None:
                        v = ""
                    out.append(v)
                w.writerow(escape_row(out))

    @classmethod
    def read(cls, path: str | Path) -> "Codebook":
        """Read a codebook written by vccscale (.csv or .json)."""
        p = Path(path)
        if not p.exists():
            raise DataError("codebook file not found", file=p)
        try:
            if p.suffix.lower() == ".json":
                data = json.loads(p.read_text(encoding="utf-8"))
                recs = data["codebook"] if isinstance(data, dict) else data
                return cls(tuple(_row_from_mapping(r, str(p)) for r in recs), source=str(p))
            with open(p, newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                rows = []
                for k, rec in enumerate(reader, start=2):
                    rec = {key: unescape_cell(v) for key, v in rec.items()}
                    try:
                        rows.append(_row_from_mapping(rec, str(p)))
                    except (ValueError, json.JSONDecodeError) as exc:
                        raise DataError(f"bad value in codebook row: {exc}", file=p, row=k) from None
                return cls(tuple(rows), source=str(p))
        except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as exc:
            raise DataError(f"not a vccscale codebook: {exc}", file=p) from None


def codebook_equal(a: Codebook, b: Codebook, *, ignore: Iterable[str] = ()) -> list[str]:
    """Differences between two codebooks, one line each (empty list = equal)."""
    ign = set(ignore)
    diffs = []
    av, bv = a.variables, b.variables
    if av != bv:
        diffs.append(f"variables differ: only in first {sorted(set(av) - set(bv))[:10]}, only in second "
                     f"{sorted(set(bv) - set(av))[:10]}" if set(av) != set(bv) else "variable order differs")
    bmap = b.by_variable()
    for r in a.rows:
        o = bmap.get(r.variable)
        if o is None:
            continue
        for f in fields(CodebookRow):
            if f.name in ign:
                continue
            if getattr(r, f.name) != getattr(o, f.name):
                diffs.append(f"{r.variable}.{f.name}: {getattr(r, f.name)!r} != {getattr(o, f.name)!r}")
    return diffs


def codebook_from_instrument(inst: "Instrument", registry: "Registry | None" = None) -> Codebook:
    """The codebook of an instrument: metadata columns, question columns in survey order, embedded data."""
    from .model import DATE_COLUMNS, METADATA_COLUMNS  # noqa: F401  (DATE_COLUMNS documents the date fields)

    rows: list[CodebookRow] = [CodebookRow(variable=v, import_id=i, label=lab, role="metadata", type=t)
                               for v, i, lab, t in METADATA_COLUMNS]
    for block in inst.blocks:
        for q in block.questions:
            for variable, import_id, s in q.columns():
                rows.append(_row_for(q, block.name, variable, import_id, s, registry))
    for f in inst.embedded_fields:
        rows.append(embedded_row(f, inst.forms))
    return Codebook(tuple(rows))


def embedded_row(name: str, forms: dict[int, str] | None = None) -> CodebookRow:
    """The codebook row of an embedded-data field; the three-form design's form field gets role ``form`` and value
    labels naming the block each form omits."""
    from .model import FORM_FIELD, FORM_LABEL, form_value_labels

    if forms and name == FORM_FIELD:
        return CodebookRow(variable=name, import_id=name, label=FORM_LABEL, role="form", type="single_choice",
                           scale_min=min(forms), scale_max=max(forms), value_labels=form_value_labels(forms))
    return CodebookRow(variable=name, import_id=name, label=name, role="embedded_data", type="text")


def _scale_fields(q: "Question") -> dict[str, Any]:
    sc = q.scale
    if sc is None:
        if q.choices:
            missing = tuple(k for k, lab in q.choices.items() if looks_dont_know(lab))
            valid = [k for k in q.choices if k not in missing] or list(q.choices)
            out_c: dict[str, Any] = {"scale_min": min(valid), "scale_max": max(valid), "value_labels": dict(q.choices)}
            if missing:
                out_c["missing_codes"] = missing
            return out_c
        return {}
    labels = dict(sc.labels)
    out: dict[str, Any] = {"scale_min": sc.min, "scale_max": sc.max}
    if sc.dont_know_code is not None and q.dont_know:
        labels[sc.dont_know_code] = sc.dont_know_label or "Don't know"
        out["missing_codes"] = (sc.dont_know_code,)
    out["value_labels"] = labels
    return out


_SCALE_TYPES = {"likert": "likert", "binary": "binary", "ordinal": "ordinal"}


def _row_for(q: "Question", block: str, variable: str, import_id: str, s: "Statement | None",
             registry: "Registry | None") -> CodebookRow:
    from .logic import combine_text

    q_if = q.shown_if.text() if q.shown_if is not None else None
    if q.kind in ("text_entry", "numeric_entry"):
        return CodebookRow(variable=variable, import_id=import_id, label=q.text, role=q.role,
                           type="numeric" if q.kind == "numeric_entry" else "text", block=block, question_id=q.qid,
                           question_text=q.text, shown_if=q_if)
    s_if = s.shown_if.text() if s is not None and s.shown_if is not None else None
    common: dict[str, Any] = dict(variable=variable, import_id=import_id, block=block, question_id=q.qid,
                                  shown_if=combine_text(q_if, s_if), **_scale_fields(q))
    if s is None:  # single choice question of a standard block
        return CodebookRow(label=q.text, role=q.role, type="single_choice", question_text=q.text, **common)
    kind = None
    if registry is not None and s.item_id in registry.items:
        kind = registry.items[s.item_id].kind
    role = {"item": "item", "attention_check": "attention_check", "marker": "marker"}[s.role]
    rtype = _SCALE_TYPES.get(_scale_type(q, registry), "likert")
    if q.kind == "single_choice":
        rtype = "ordinal" if rtype == "ordinal" else "single_choice"
    label = s.text if q.kind == "single_choice" else f"{q.text} - {s.text}"
    return CodebookRow(label=label, item_id=s.item_id, construct=s.construct,
                       perspective=q.version if role == "item" else None, role=role,
                       indicator=kind if role == "item" else None, type=rtype, reverse=s.reverse,
                       correct_answer=s.correct, question_text=s.text, form_block=s.form_block, **common)


def _scale_type(q: "Question", registry: "Registry | None") -> str:
    if q.scale is None:
        return "likert"
    if registry is not None and q.scale.id in registry.scales:
        return registry.scales[q.scale.id].type
    return "binary" if len(q.scale.labels) == 2 else "likert"
