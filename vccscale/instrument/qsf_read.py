"""Read any Qualtrics survey definition (.qsf) into a :class:`~vccscale.instrument.codebook.Codebook`.

The codebook has one row per column that a numeric, three-header-row response export of the survey would have,
in export order (design reference qualtrics-formats.md, sections 2, 3, 10 and 11):

1. the 17 standard metadata columns (``model.METADATA_COLUMNS``);
2. question columns, block by block in the order the survey flow shows the blocks (``Block``/``Standard`` nodes,
   nested ``Branch``/``Group``/``BlockRandomizer``/... flows flattened in document order), then blocks the flow
   never references, in ``BL`` order; the Trash block is skipped. Columns are named per question type as a real
   export names them (``tag``, ``tag_<choice>``, ``tag_<statement>``, ``tag_<s>_TEXT``, ``tag_First Click``, ...);
   Loop & Merge blocks repeat their columns once per loop with the prefix ``<k>_``;
3. one column per embedded-data field declared anywhere in the flow (first declaration wins).

Both the web export (one JSON object ``{SurveyEntry, SurveyElements}``, ASCII with ``\\uXXXX`` escapes) and the
API reply (``{"meta": ..., "result": {...}}``) are accepted, as a path or as an already parsed dict. Anything
that is not a readable QSF raises :class:`~vccscale.errors.DataError` naming the file and the problem.

``annotate_codebook(codebook, registry)`` decodes vccscale's own variable naming (see ``model``) into item ids,
constructs, perspectives and roles; ``read_qsf(..., registry=reg)`` applies it to what it reads.
"""
from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..errors import DataError
from .codebook import Codebook, CodebookRow, embedded_row, looks_dont_know
from .logic import combine_text, parse_display_logic, variables_of
from .model import ATTENTION_CHOICE_BASE, FORM_FIELD, METADATA_COLUMNS, PLACEHOLDERS, THREE_FORMS, VERSION_BY_CODE

if TYPE_CHECKING:  # pragma: no cover
    from ..registry import Registry

__all__ = ["read_qsf", "load_qsf", "annotate_codebook"]

OBJECT_NAME = "<QSF object>"  # the "file" named in errors when a parsed dict is given

# ---------------------------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------------------------
_FIELD_TO_PLACEHOLDER = {fld: ph for ph, fld in PLACEHOLDERS.items()}
_BLOCK_TAGS = re.compile(r"(?i)<\s*(br|/p|/div|/li|/h\d|/tr|/td|/th)\b[^>]*>")
_SCRIPT = re.compile(r"(?is)<\s*(script|style)\b.*?<\s*/\s*\1\s*>")
_TAGS = re.compile(r"<[^>]*>")
_E_PIPE = re.compile(r"\$\{e://Field/([^}]*)\}")
_LM_PIPE = re.compile(r"\$\{lm://Field/(\d+)\}")
_QUOTED = re.compile(r"[\"“”„]([^\"“”„]+)[\"“”„]")


def _pipe_back(text: str) -> str:
    def field(m: re.Match) -> str:
        name = unquote(m.group(1))
        return f"[{_FIELD_TO_PLACEHOLDER.get(name, name)}]"

    text = _E_PIPE.sub(field, text)
    return _LM_PIPE.sub(lambda m: f"[Field-{m.group(1)}]", text)


def _clean(value: Any) -> str:
    """HTML -> plain text: tags removed, entities decoded, piped fields back to [Placeholders], spaces collapsed."""
    if not isinstance(value, str):
        return ""
    s = _SCRIPT.sub(" ", value)
    s = _BLOCK_TAGS.sub(" ", s)
    s = _TAGS.sub("", s)
    s = html.unescape(s)
    s = _pipe_back(s)
    return " ".join(s.split())


def _looks_dont_know(label: str) -> bool:
    return looks_dont_know(label)


def _join(*parts: str) -> str:
    return " - ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def _json_kind(v: Any) -> str:
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, bool):
        return "a boolean"
    if v is None:
        return "null"
    return "a number"


def _parse_text(raw: bytes, where: str) -> Any:
    if not raw.strip():
        raise DataError("empty file, not a QSF", file=where)
    if raw.startswith(b"PK\x03\x04"):
        raise DataError("a zip archive, not a QSF (unzip it first)", file=where)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text, so not a QSF (bad byte at offset {exc.start})", file=where) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        lead = text.lstrip()[:300].lower()
        if lead.startswith("<"):
            what = "an HTML page" if ("<html" in lead or "<!doctype html" in lead or "<head" in lead
                                      or "<body" in lead) else "XML/HTML markup"
            raise DataError(f"{what}, not a QSF (a login or error page saved instead of the survey file?)",
                            file=where) from None
        # cut short: the parser ran out of text (inside a string, or within the last token)
        ran_out = exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip()) - 12
        if ran_out and lead.startswith(("{", "[")):
            raise DataError(f"the JSON ends early (truncated file?): {exc.msg} at line {exc.lineno} column "
                            f"{exc.colno}", file=where) from None
        raise DataError(f"not JSON, so not a QSF: {exc.msg} at line {exc.lineno} column {exc.colno}",
                        file=where) from None
    except RecursionError:
        raise DataError("JSON nested too deeply to be a QSF", file=where) from None


def _unwrap(data: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise DataError(f"JSON but not a QSF: the top level is {_json_kind(data)}, expected an object with "
                        "SurveyEntry and SurveyElements", file=where)
    if "SurveyElements" not in data and "result" in data:  # API reply {"meta": ..., "result": {...}}
        res = data["result"]
        if not isinstance(res, dict):
            raise DataError(f"API reply whose 'result' is {_json_kind(res)}, not a survey definition",
                            file=where, field="result")
        data = res
    if "SurveyElements" not in data:
        if "SurveyEntry" in data:
            raise DataError("not a complete QSF: missing SurveyElements", file=where, field="SurveyElements")
        meta = data.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("error"), dict):
            msg = meta["error"].get("errorMessage") or meta["error"]
            raise DataError(f"a Qualtrics API error reply, not a QSF: {msg}", file=where)
        keys = ", ".join(sorted(str(k) for k in data)[:8]) or "none"
        raise DataError(f"JSON but not a QSF: no SurveyEntry/SurveyElements (top-level keys: {keys})", file=where)
    return data


def load_qsf(path_or_obj: str | os.PathLike | dict) -> tuple[dict, str]:
    """The survey definition ``{SurveyEntry, SurveyElements}`` (API wrapper removed) and the name used in errors."""
    if isinstance(path_or_obj, dict):
        return _unwrap(path_or_obj, OBJECT_NAME), OBJECT_NAME
    if isinstance(path_or_obj, str) and path_or_obj.lstrip().startswith(("{", "[")):
        raise DataError("read_qsf takes a path or a parsed dict, not JSON text (use json.loads first)",
                        file=OBJECT_NAME)
    if not isinstance(path_or_obj, (str, os.PathLike)):
        raise DataError(f"read_qsf takes a path or a parsed dict, not {type(path_or_obj).__name__}",
                        file=OBJECT_NAME)
    p = Path(path_or_obj)
    where = str(p)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError("QSF file not found", file=where) from None
    except IsADirectoryError:
        raise DataError("a directory, not a QSF file", file=where) from None
    except OSError as exc:
        raise DataError(f"cannot read the QSF file: {exc.strerror or exc}", file=where) from None
    return _unwrap(_parse_text(raw, where), where), where


# ---------------------------------------------------------------------------------------------------------------
# Reading the survey
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class _Block:
    id: str | None
    type: str
    name: str
    qids: list[str]
    loops: list[str]


_MC_MULTI = {"MAVR", "MAHR", "MACOL", "MSB"}
_TIMING = (("First Click", "FIRST_CLICK", "numeric"), ("Last Click", "LAST_CLICK", "numeric"),
           ("Page Submit", "PAGE_SUBMIT", "numeric"), ("Click Count", "CLICK_COUNT", "integer"))
_META = (("Browser", "BROWSER"), ("Version", "VERSION"), ("Operating System", "OS"), ("Resolution", "RESOLUTION"))
_FILE = (("Id", "FILE_ID"), ("Name", "FILE_NAME"), ("Size", "FILE_SIZE"), ("Type", "FILE_TYPE"))
_NO_DATA = {"DB", "Captcha"}
_MAX_FLOW_DEPTH = 200


def _int_or_none(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"\s*-?\d+\s*", v):
        return int(v)
    return None


def _as_mapping(v: Any) -> dict | None:
    """PHP-encoded maps: an object, or an array when the keys were 0..n-1 (``[]`` when empty)."""
    if isinstance(v, dict):
        return v
    if isinstance(v, list):
        return {str(i): x for i, x in enumerate(v)}
    return None


class _Reader:
    def __init__(self, qsf: dict, where: str, block_order: str = "survey") -> None:
        self.where = where
        self.block_order = block_order
        self.sq: dict[str, dict] = {}
        self.bl_payload: Any = None
        self.has_bl = False
        self.fl_payload: Any = None
        els = qsf["SurveyElements"]
        if not isinstance(els, list):
            self.fail(f"SurveyElements is {_json_kind(els)}, expected a list of elements", field="SurveyElements")
        for i, el in enumerate(els):
            if not isinstance(el, dict):
                self.fail(f"SurveyElements[{i}] is {_json_kind(el)}, expected an element object",
                          field="SurveyElements")
            kind = el.get("Element")
            if not isinstance(kind, str):
                self.fail(f"SurveyElements[{i}] has no Element type", field="Element")
            if kind == "SQ":
                self._add_question(i, el)
            elif kind == "BL":
                if self.has_bl:
                    self.fail("two BL (survey blocks) elements", field="BL")
                self.has_bl = True
                self.bl_payload = el.get("Payload")
            elif kind == "FL":
                if self.fl_payload is not None:
                    self.fail("two FL (survey flow) elements", field="FL")
                self.fl_payload = el.get("Payload")

    def fail(self, message: str, *, field: str | None = None) -> None:
        raise DataError(message, file=self.where, field=field)

    def _add_question(self, i: int, el: dict) -> None:
        payload = el.get("Payload")
        qid = el.get("PrimaryAttribute")
        if not isinstance(qid, str) or not qid:
            qid = payload.get("QuestionID") if isinstance(payload, dict) else None
        name = qid if isinstance(qid, str) and qid else f"SurveyElements[{i}]"
        if not isinstance(payload, dict):
            what = "has no Payload" if payload is None else f"has a Payload that is {_json_kind(payload)}"
            self.fail(f"question {name} (SQ element) {what}", field="Payload")
        if not isinstance(qid, str) or not qid:
            self.fail(f"question {name} (SQ element) has no QuestionID", field="QuestionID")
        if qid in self.sq:
            self.fail(f"two SQ elements for question {qid}", field="PrimaryAttribute")
        self.sq[qid] = payload

    # -- blocks and flow ------------------------------------------------------------------------------------------
    def blocks(self) -> list[_Block]:
        if not self.has_bl:
            self.fail("no BL (survey blocks) element", field="BL")
        pl = self.bl_payload
        if isinstance(pl, dict):
            entries = list(pl.values())
            if all(_int_or_none(k) is not None for k in pl):
                entries = [pl[k] for k in sorted(pl, key=lambda k: _int_or_none(k))]
        elif isinstance(pl, list):
            entries = pl
        else:
            self.fail(f"the BL payload is {_json_kind(pl)}, expected a list or object of blocks", field="BL")
        out = []
        for i, b in enumerate(entries):
            if not isinstance(b, dict):
                self.fail(f"block #{i} in BL is {_json_kind(b)}, expected an object", field="BL")
            bid = b.get("ID") if isinstance(b.get("ID"), str) else None
            label = bid or f"#{i}"
            raw_elements = b.get("BlockElements")  # an empty Trash block may omit it
            elements = _as_mapping([] if raw_elements is None else raw_elements)
            if elements is None:
                self.fail(f"block {label}: BlockElements is not a list", field="BlockElements")
            qids = []
            for e in elements.values():
                if not isinstance(e, dict):
                    self.fail(f"block {label}: a BlockElements entry is {_json_kind(e)}, expected an object",
                              field="BlockElements")
                if e.get("Type") == "Question":
                    q = e.get("QuestionID")
                    if not isinstance(q, str) or not q:
                        self.fail(f"block {label}: a question entry has no QuestionID", field="QuestionID")
                    qids.append(q)
            options = b.get("Options")
            options = options if isinstance(options, dict) else {}
            btype = b.get("Type") if isinstance(b.get("Type"), str) else "Standard"
            name = b.get("Description") if isinstance(b.get("Description"), str) else (bid or "")
            out.append(_Block(bid, btype, name, qids, self._loops(options)))
        return out

    def _loops(self, options: dict) -> list[str]:
        """Loop prefixes of a Loop & Merge block (static loops: the keys of LoopingOptions.Static)."""
        if options.get("Looping") != "Static":
            return []
        lo = options.get("LoopingOptions")
        st = lo.get("Static") if isinstance(lo, dict) else None
        if isinstance(st, dict):
            keys = [str(k) for k in st]
            if all(_int_or_none(k) is not None for k in keys):
                keys.sort(key=lambda k: int(k))
            return keys
        if isinstance(st, list):  # 0-based PHP array; Qualtrics numbers loops from 1
            return [str(i + 1) for i in range(len(st))]
        return []

    def flow(self) -> tuple[list[str], list[str]]:
        """(block ids in flow order, embedded-data fields in flow order), both de-duplicated."""
        block_ids: list[str] = []
        fields: list[str] = []
        root = self.fl_payload
        if root is None:
            return block_ids, fields
        if not isinstance(root, dict):
            self.fail(f"the FL payload is {_json_kind(root)}, expected the root flow object", field="FL")
        self._walk(root, 0, block_ids, fields)
        return list(dict.fromkeys(block_ids)), list(dict.fromkeys(fields))

    def _walk(self, node: Any, depth: int, block_ids: list[str], fields: list[str]) -> None:
        if depth > _MAX_FLOW_DEPTH:
            self.fail("survey flow nested too deeply", field="Flow")
        if not isinstance(node, dict):
            self.fail(f"a survey flow node is {_json_kind(node)}, expected an object", field="Flow")
        t = node.get("Type")
        if t in ("Block", "Standard"):
            if isinstance(node.get("ID"), str):
                block_ids.append(node["ID"])
        elif t == "EmbeddedData":
            entries = _as_mapping(node.get("EmbeddedData")) or {}
            for e in entries.values():
                f = e.get("Field") if isinstance(e, dict) else None
                if isinstance(f, str) and f.strip():
                    fields.append(f)
        children = node.get("Flow")
        if children is None:
            return
        children = _as_mapping(children)
        if children is None:
            self.fail(f"flow node {node.get('FlowID') or t}: Flow is not a list", field="Flow")
        for child in children.values():
            self._walk(child, depth + 1, block_ids, fields)

    # -- the codebook ---------------------------------------------------------------------------------------------
    def rows(self) -> list[CodebookRow]:
        rows = [CodebookRow(variable=v, import_id=i, label=lab, role="metadata", type=t)
                for v, i, lab, t in METADATA_COLUMNS]
        blocks = self.blocks()
        flow_ids, fields = self.flow()
        by_id = {b.id: b for b in blocks if b.id is not None}
        ordered = [by_id[i] for i in flow_ids if i in by_id] if self.block_order == "flow" else []
        ordered += [b for b in blocks if b not in ordered]
        done: set[str] = set()
        for b in ordered:
            if b.type == "Trash":
                continue
            cols: list[CodebookRow] = []
            for qid in b.qids:
                if qid in done or qid not in self.sq:  # listed twice, or no SQ element: no (further) columns
                    continue
                done.add(qid)
                cols += self.question(qid, self.sq[qid], b.name)
            if not b.loops:
                rows += cols
            else:  # Loop & Merge: the block's columns once per loop, prefixed "<k>_"
                for k in b.loops:
                    rows += [replace(r, variable=f"{k}_{r.variable}", import_id=f"{k}_{r.import_id}") for r in cols]
        for f in fields:
            rows.append(CodebookRow(variable=f, import_id=f, label=f, role="embedded_data", type="text"))
        return rows

    # -- questions ------------------------------------------------------------------------------------------------
    def _choices(self, qid: str, p: dict, key: str, order_key: str, *, required: bool = False
                 ) -> list[tuple[str, dict]]:
        """[(id as string, choice object)] in display order (the order key, then any ids it does not list)."""
        raw = p.get(key)
        if raw is None or raw is False:
            if required:
                self.fail(f"question {qid} ({p.get('QuestionType')}) has no {key}", field=key)
            return []
        ch = _as_mapping(raw)
        if ch is None:
            self.fail(f"question {qid}: {key} is {_json_kind(raw)}, expected an object", field=key)
        choices: dict[str, dict] = {}
        for cid, c in ch.items():
            if isinstance(c, str):
                c = {"Display": c}
            if not isinstance(c, dict):
                self.fail(f"question {qid}: {key} entry {cid!r} is {_json_kind(c)}, expected an object",
                          field=key)
            choices[str(cid)] = c
        order_raw = p.get(order_key)
        order: list[str] = []
        if order_raw is not None:
            om = _as_mapping(order_raw)
            if om is None:
                self.fail(f"question {qid}: {order_key} is {_json_kind(order_raw)}, expected a list",
                          field=order_key)
            for x in om.values():
                if isinstance(x, bool) or not isinstance(x, (str, int)):
                    self.fail(f"question {qid}: {order_key} holds {_json_kind(x)}, expected choice ids",
                              field=order_key)
                order.append(str(x))
        ids = [c for c in dict.fromkeys(order) if c in choices] + [c for c in choices if c not in order]
        return [(c, choices[c]) for c in ids]

    def _codes(self, p: dict, key: str = "RecodeValues") -> dict[str, int]:
        rec = _as_mapping(p.get(key)) or {}
        out = {}
        for k, v in rec.items():
            code = _int_or_none(v)
            if code is not None:
                out[str(k)] = code
        return out

    @staticmethod
    def _code(cid: str, recodes: dict[str, int]) -> int | None:
        return recodes[cid] if cid in recodes else _int_or_none(cid)

    @staticmethod
    def _text_entry(c: dict) -> bool:
        v = c.get("TextEntry")
        return v is True or v == 1 or (isinstance(v, str) and v.strip().lower() in ("true", "1", "on", "yes"))

    def _scale(self, options: list[tuple[str, dict]], recodes: dict[str, int],
               naming: dict | None = None) -> dict[str, Any]:
        """value_labels / scale_min / scale_max / missing_codes of single-answer choices or scale points (value
        labels from ``VariableNaming``, the SPSS value labels, where it names a choice; else the display text)."""
        labels: dict[int, str] = {}
        missing: list[int] = []
        for cid, c in options:
            code = self._code(cid, recodes)
            if code is None:
                continue
            named = (naming or {}).get(cid)
            lab = _clean(named) if isinstance(named, str) and named.strip() else _clean(c.get("Display"))
            labels.setdefault(code, lab)
            if _looks_dont_know(lab) and code not in missing:
                missing.append(code)
        valid = [c for c in labels if c not in missing]
        return {"value_labels": labels, "missing_codes": tuple(missing),
                "scale_min": min(valid) if valid else None, "scale_max": max(valid) if valid else None}

    def _locate(self, qid: str, aid: str, statement: str | None) -> tuple[str, int] | None:
        """(export variable, code) of a display-logic locator: choice ``aid`` of single-choice question ``qid``, or
        answer ``aid`` of statement ``statement`` of matrix ``qid``."""
        p = self.sq.get(qid)
        if not isinstance(p, dict):
            return None
        tag = p.get("DataExportTag") if isinstance(p.get("DataExportTag"), str) and p.get("DataExportTag") else qid
        code = self._code(str(aid), self._codes(p))
        if code is None:
            return None
        if statement is None:
            return tag, code
        custom = p.get("ChoiceDataExportTags")
        sfx = custom.get(str(statement)) if isinstance(custom, dict) else None
        sfx = str(sfx) if isinstance(sfx, (str, int)) and not isinstance(sfx, bool) and str(sfx) else str(statement)
        return f"{tag}_{sfx}", code

    @staticmethod
    def _numeric(p: dict) -> bool:
        v = p.get("Validation")
        s = v.get("Settings") if isinstance(v, dict) else None
        if not isinstance(s, dict):
            return False
        return s.get("ContentType") == "ValidNumber" and s.get("Type") != "None"

    def question(self, qid: str, p: dict, block: str) -> list[CodebookRow]:
        qtype = p.get("QuestionType")
        if not isinstance(qtype, str) or not qtype:
            self.fail(f"question {qid} has no QuestionType", field="QuestionType")
        sel = p.get("Selector") if isinstance(p.get("Selector"), str) else ""
        sub = p.get("SubSelector") if isinstance(p.get("SubSelector"), str) else ""
        tag = p.get("DataExportTag")
        if not isinstance(tag, str):
            tag = qid
        qtext = _clean(p.get("QuestionText")) or _clean(p.get("QuestionDescription"))

        def name(*suffixes: Any) -> str:
            # an empty export tag leaves just the suffixes (qualtrics-formats 3.2)
            return "_".join(str(x) for x in (tag, *suffixes) if str(x) != "") or qid

        q_if = parse_display_logic(p.get("DisplayLogic"), self._locate)

        def row(variable: str, import_id: str, label: str, rtype: str, qt: str = qtext, **kw: Any) -> CodebookRow:
            kw["shown_if"] = combine_text(q_if, kw.get("shown_if"))
            return CodebookRow(variable=variable, import_id=import_id, label=label, type=rtype, block=block,
                               question_id=qid, question_text=qt, **kw)

        if qtype in _NO_DATA:
            return []
        if qtype == "Timing":
            return [row(name(lab), f"{qid}_{iid}", _join(qtext, lab), t) for lab, iid, t in _TIMING]
        if qtype == "Meta":
            return [row(name(lab), f"{qid}_{iid}", _join(qtext, lab), "text") for lab, iid in _META]
        if qtype in ("FileUpload", "Draw"):
            return [row(name(lab), f"{qid}_{iid}", _join(qtext, lab), "text") for lab, iid in _FILE]
        if qtype == "MC":
            return self._mc(qid, p, sel, qtext, name, row)
        if qtype == "Matrix":
            return self._matrix(qid, p, p, tag, qid, sel, sub, qtext, "", row)
        if qtype == "SBS":
            return self._sbs(qid, p, tag, qtext, row)
        if qtype == "TE":
            if sel == "FORM":
                return [row(name(cid), f"{qid}_{cid}", _join(qtext, _clean(c.get("Display"))), "text")
                        for cid, c in self._choices(qid, p, "Choices", "ChoiceOrder")]
            return [row(name(), f"{qid}_TEXT", qtext, "numeric" if self._numeric(p) else "text")]
        if qtype in ("Slider", "RO", "CS", "DD"):
            rtype = {"Slider": "slider", "RO": "rank", "CS": "numeric", "DD": "text"}[qtype]
            out = []
            choices = self._choices(qid, p, "Choices", "ChoiceOrder")
            for cid, c in choices:
                out.append(row(name(cid), f"{qid}_{cid}", _join(qtext, _clean(c.get("Display"))), rtype))
            for cid, c in choices:
                if qtype == "RO" and self._text_entry(c):
                    out.append(row(name(cid, "TEXT"), f"{qid}_{cid}_TEXT",
                                   _join(qtext, _clean(c.get("Display")), "Text"), "text"))
            return out
        # a type not described in the design reference: one column under the tag
        return [row(name(), qid, qtext, "text")]

    def _mc(self, qid: str, p: dict, sel: str, qtext: str, name: Any, row: Any) -> list[CodebookRow]:
        choices = self._choices(qid, p, "Choices", "ChoiceOrder")
        texts = [(cid, c) for cid, c in choices if self._text_entry(c)]
        selected = "Selected Choice" if texts else ""
        text_cols = [row(name(cid, "TEXT"), f"{qid}_{cid}_TEXT", _join(qtext, _clean(c.get("Display")), "Text"),
                         "text") for cid, c in texts]
        if sel in _MC_MULTI or sel.startswith("MA"):
            out = [row(name(cid), qid, _join(qtext, selected, _clean(c.get("Display"))), "binary",
                       value_labels={1: _clean(c.get("Display"))}) for cid, c in choices]
            return out + text_cols
        scale = self._scale(choices, self._codes(p), _as_mapping(p.get("VariableNaming")))
        if sel == "NPS":
            return [row(name("NPS_GROUP"), f"{qid}_NPS_GROUP", _join(qtext, "Group"), "code"),
                    row(name(), qid, qtext, "single_choice", **scale)]
        return [row(name(), qid, _join(qtext, selected), "single_choice", **scale)] + text_cols

    def _matrix(self, qid: str, p: dict, statements_from: dict, tag: str, iid: str, sel: str, sub: str,
                qtext: str, subtext: str, row: Any) -> list[CodebookRow]:
        """Columns of a matrix (or of one side-by-side sub-question: ``p`` = the sub-question, statements from
        the parent, ``tag``/``iid`` = ``tag#k``/``QIDn#k``)."""
        answers = self._choices(qid, p, "Answers", "AnswerOrder", required=True)
        statements = self._choices(qid, statements_from, "Choices", "ChoiceOrder")
        custom = p.get("ChoiceDataExportTags")
        custom = custom if isinstance(custom, dict) else {}

        def name(*suffixes: Any) -> str:
            return "_".join(str(x) for x in (tag, *suffixes) if str(x) != "") or iid

        per_answer = sub == "MultipleAnswer" or sel in ("TE", "CS")
        if per_answer:
            rtype = "binary" if sub == "MultipleAnswer" else ("numeric" if sel == "CS" or self._numeric(p)
                                                              else "text")
            scale = {}
        else:
            rtype = "likert" if sel == "Likert" else "single_choice"
            scale = self._scale(answers, self._codes(p))
        out = []
        for sid, s in statements:
            slab = _clean(s.get("Display"))
            sfx = custom.get(sid)
            sfx = str(sfx) if isinstance(sfx, (str, int)) and not isinstance(sfx, bool) and str(sfx) else sid
            if per_answer:
                for aid, a in answers:
                    alab = _clean(a.get("Display"))
                    kw = {"value_labels": {1: alab}} if rtype == "binary" else {}
                    out.append(row(name(sfx, aid), f"{iid}_{sid}_{aid}", _join(qtext, subtext, slab, alab), rtype,
                                   qt=slab, **kw))
            else:
                s_if = parse_display_logic(s.get("DisplayLogic"), self._locate)
                out.append(row(name(sfx), f"{iid}_{sid}", _join(qtext, subtext, slab), rtype, qt=slab,
                               shown_if=s_if, **scale))
            if self._text_entry(s):
                out.append(row(name(sfx, "TEXT"), f"{iid}_{sid}_TEXT", _join(qtext, subtext, slab, "Text"), "text",
                               qt=slab))
        if not per_answer:
            out = [_mark_attention(r, require_match=True) for r in out]
        return out

    def _sbs(self, qid: str, p: dict, tag: str, qtext: str, row: Any) -> list[CodebookRow]:
        subs = _as_mapping(p.get("AdditionalQuestions"))
        if subs is None:
            self.fail(f"side-by-side question {qid} has no AdditionalQuestions", field="AdditionalQuestions")
        keys = list(subs)
        if all(_int_or_none(k) is not None for k in keys):
            keys.sort(key=lambda k: int(k))
        out = []
        for k in keys:
            sq = subs[k]
            if not isinstance(sq, dict):
                self.fail(f"side-by-side question {qid}: sub-question {k} is {_json_kind(sq)}",
                          field="AdditionalQuestions")
            stag = sq.get("DataExportTag") if isinstance(sq.get("DataExportTag"), str) else f"{tag}#{k}"
            siid = sq.get("QuestionID") if isinstance(sq.get("QuestionID"), str) else f"{qid}#{k}"
            sel = sq.get("Selector") if isinstance(sq.get("Selector"), str) else ""
            sub = sq.get("SubSelector") if isinstance(sq.get("SubSelector"), str) else ""
            out += self._matrix(f"{qid} (sub-question {k})", sq, p, stag, siid, sel, sub, qtext,
                                _clean(sq.get("QuestionText")), row)
        return out


# ---------------------------------------------------------------------------------------------------------------
# Attention checks and vccscale naming
# ---------------------------------------------------------------------------------------------------------------
_STATEMENT_IID = re.compile(r"^(?:\d+_)?QID\d+_(\d+)$")
_SINGLE_IID = re.compile(r"^QID\d+(?:_TEXT)?$")


def _statement_id(import_id: str) -> int | None:
    m = _STATEMENT_IID.match(import_id)
    return int(m.group(1)) if m else None


def _quoted_code(text: str, labels: dict[int, str]) -> int | None:
    """The code whose label is quoted in the text (``please select "Agree" here``)."""
    norm = {" ".join(lab.split()).casefold(): code for code, lab in labels.items()}
    for m in _QUOTED.finditer(text):
        code = norm.get(" ".join(m.group(1).split()).casefold())
        if code is not None:
            return code
    return None


def _mark_attention(r: CodebookRow, *, require_match: bool) -> CodebookRow:
    """A matrix statement with choice id > ATTENTION_CHOICE_BASE is an attention check; its correct answer is
    the scale point quoted in the statement. Without a registry (``require_match``) only when one is quoted."""
    sid = _statement_id(r.import_id)
    if sid is None or sid <= ATTENTION_CHOICE_BASE or r.type not in ("likert", "single_choice"):
        return r
    code = _quoted_code(r.question_text, r.value_labels)
    if code is None and require_match:
        return r
    return replace(r, role="attention_check", correct_answer=code)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _parse_tag(tag: str, constructs: list[str], scales: set[str]) -> tuple[str, str] | None:
    """``<construct>_<version code>[_<scale id>]`` -> (construct, version name)."""
    for c in constructs:
        if not tag.startswith(c + "_"):
            continue
        code, _, scale = tag[len(c) + 1:].partition("_")
        if code in VERSION_BY_CODE and (not scale or scale in scales):
            return c, VERSION_BY_CODE[code]
    return None


def annotate_codebook(codebook: Codebook, registry: "Registry") -> Codebook:
    """Decode vccscale's variable naming against the registry (item ids, constructs, perspectives, roles).

    - ``<construct>_<version code>[_<scale id>]_<n>`` -> item ``<construct>_<nn>`` (role ``item``, perspective,
      indicator = the item's kind, reverse, type from the item's scale);
    - matrix statements with choice id > 900 -> ``attention_check`` with the quoted scale point as correct answer
      (item_id = the standard attention question with the same text, if any);
    - columns of the matrix tagged ``marker`` -> ``marker``;
    - single questions whose tag is a standard block question id -> that question's role.

    Metadata and embedded-data rows, and rows that match none of these, are returned unchanged.
    """
    constructs = sorted(registry.constructs, key=len, reverse=True)
    scales = set(registry.scales)
    # three-form design: some statement is shown only in some forms (shown_if "form != k")
    three_form = any(FORM_FIELD in variables_of(r.shown_if) for r in codebook.rows)
    block_qs = {q.id: q for b in registry.blocks.values() for q in b.questions}
    checks = {_norm(q.text): q for q in block_qs.values() if q.role == "attention_check"}
    marker_block = registry.blocks.get("marker")
    markers = list(marker_block.questions) if marker_block is not None else []
    marker_by_text = {_norm(q.text): q for q in markers}
    rows = []
    for r in codebook.rows:
        if three_form and r.role == "embedded_data" and r.variable == FORM_FIELD:
            rows.append(embedded_row(FORM_FIELD, THREE_FORMS))
            continue
        if r.role in ("metadata", "embedded_data"):
            rows.append(r)
            continue
        sid = _statement_id(r.import_id)
        m = re.fullmatch(r"(.+)_(\d+)", r.variable)
        if sid is not None and sid > ATTENTION_CHOICE_BASE:
            r = _mark_attention(r, require_match=False)
            if r.role == "attention_check":
                bq = checks.get(_norm(r.question_text))
                if bq is not None:
                    r = replace(r, item_id=bq.id, correct_answer=r.correct_answer if r.correct_answer is not None
                                else bq.correct)
            rows.append(r)
            continue
        if m and m.group(1) == "marker" and sid is not None:
            n = int(m.group(2))
            bq = marker_by_text.get(_norm(r.question_text))
            if bq is None and 1 <= n <= len(markers):
                bq = markers[n - 1]
            rows.append(replace(r, role="marker", item_id=bq.id if bq is not None else r.item_id))
            continue
        parsed = _parse_tag(m.group(1), constructs, scales) if m else None
        if parsed is not None:
            c, version = parsed
            item = registry.items.get(f"{c}_{int(m.group(2)):02d}")
            if item is not None and item.construct == c:
                rtype = r.type
                try:
                    stype = registry.item_scale(item).type
                except (KeyError, AttributeError):
                    stype = None
                if r.type == "likert" and stype in ("binary", "ordinal"):
                    rtype = stype
                elif r.type == "single_choice" and stype == "ordinal":
                    rtype = "ordinal"
                rows.append(replace(r, item_id=item.id, construct=c, perspective=version, role="item",
                                    indicator=item.kind, reverse=item.reverse, type=rtype,
                                    form_block=_form_block(r.shown_if) if three_form else r.form_block))
                continue
        bq = block_qs.get(r.variable)
        if bq is not None and _SINGLE_IID.match(r.import_id):
            correct = bq.correct if bq.role == "attention_check" else r.correct_answer
            rows.append(replace(r, role=bq.role, correct_answer=correct))
            continue
        rows.append(r)
    return Codebook(tuple(rows), source=codebook.source)


def _form_block(shown_if: str | None) -> str:
    """The three-form block of an item: the block of the form its condition excludes (``form != k``), else X."""
    m = re.search(rf"(?:^|\s|\(){re.escape(FORM_FIELD)} != (\d+)\b", shown_if or "")
    return THREE_FORMS.get(int(m.group(1)), "X") if m else "X"


# ---------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------
def read_qsf(path_or_obj: str | os.PathLike | dict, registry: "Registry | None" = None, *,
             block_order: str = "survey") -> Codebook:
    """The codebook of a Qualtrics survey definition: one row per column of a numeric export, in export order.

    ``path_or_obj`` is the path of a ``.qsf`` (web export or API reply) or the already parsed JSON. With a
    ``registry``, vccscale's naming is decoded (:func:`annotate_codebook`). ``block_order``: ``"survey"``
    (default: the order of the ``BL`` list, i.e. the survey editor, which is the order exports are believed to
    follow; not verified against a live export) or ``"flow"`` (blocks in the order the survey flow shows them,
    then the others). vccscale's importer matches columns by name and ImportId, never by position. Raises :class:`DataError` (with the file name) for anything that is not a readable
    survey definition.
    """
    if block_order not in ("flow", "survey"):
        raise ValueError(f"block_order must be 'flow' or 'survey', not {block_order!r}")
    qsf, where = load_qsf(path_or_obj)
    try:
        rows = _Reader(qsf, where, block_order).rows()
    except DataError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        # structure the checks above did not anticipate: still the user's file, still a DataError
        raise DataError(f"malformed QSF ({type(exc).__name__}: {exc})", file=where) from exc
    try:
        codebook = Codebook(tuple(rows), source=where if where != OBJECT_NAME else None)
    except DataError as exc:  # two columns with the same name and ImportId
        raise DataError(exc.message, file=where, column=exc.column) from None
    return annotate_codebook(codebook, registry) if registry is not None else codebook
