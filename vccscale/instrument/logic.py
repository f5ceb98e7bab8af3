"""Display conditions: when a question or a matrix statement is shown, in one form for every output.

A :class:`Condition` is a list of :class:`Term` s joined by ``and`` (or ``or``); a term compares one export column
(a question's variable or an embedded-data field) with one code: ``variable = code`` or ``variable != code``. The
same condition is

- written into the QSF as Qualtrics ``DisplayLogic`` (:func:`display_logic`; qualtrics-formats.md 11.7): a term on
  a single-choice question is ``q://QIDn/SelectableChoice/<choice>`` with ``Selected`` / ``NotSelected``, a term on
  a matrix statement is ``q://QIDn/SelectableAnswer/<statement>/<answer>``, a term on an embedded-data field is an
  ``EmbeddedField`` expression with ``EqualTo`` / ``NotEqualTo``;
- read back from any QSF by :func:`parse_display_logic` (qsf_read);
- recorded in the codebook's ``shown_if`` column as text (:meth:`Condition.text`, e.g.
  ``outcome_contract = 1 and b_bmi_stage_j_1 != 0``) and parsed back by :func:`parse`;
- evaluated on response data by :func:`shown` (cleaning: an item whose condition is false for a respondent was
  not shown to that respondent, so its missing value is structural (not applicable), not nonresponse).

Semantics, as in Qualtrics: ``x = c`` is false when x is missing (nothing selected); ``x != c`` is true when x is
missing. A condition on a column the data do not have cannot be judged: :func:`shown` counts it as met (the item
is treated as applicable), so data exported before a routing question was added are screened as before.
Text that is not in this grammar (a QSF condition vccscale cannot express) is kept in ``shown_if`` prefixed with
``qualtrics:``; :func:`shown` treats it as met.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Term", "Condition", "all_of", "parse", "shown", "display_logic", "parse_display_logic",
           "RAW_PREFIX"]

RAW_PREFIX = "qualtrics: "


@dataclass(frozen=True)
class Term:
    variable: str          # export column: a question variable (tag, tag_<statement>) or an embedded-data field
    op: str                # "=" or "!="
    value: int
    embedded: bool = False  # an embedded-data field (EmbeddedField logic) rather than a question answer

    def text(self) -> str:
        return f"{self.variable} {self.op} {self.value}"


@dataclass(frozen=True)
class Condition:
    terms: tuple[Term, ...]
    conj: str = "and"      # "and" | "or"

    def text(self) -> str:
        return f" {self.conj} ".join(t.text() for t in self.terms)

    @property
    def variables(self) -> list[str]:
        return list(dict.fromkeys(t.variable for t in self.terms))


def all_of(*conds: "Condition | None") -> "Condition | None":
    """The conjunction of conditions (None = always shown); "or" conditions cannot be merged and raise."""
    terms: list[Term] = []
    for c in conds:
        if c is None:
            continue
        if c.conj != "and" and len(c.terms) > 1:
            raise ValueError("an 'or' condition cannot be combined with others")
        terms += [t for t in c.terms if t not in terms]
    return Condition(tuple(terms)) if terms else None


def combine_text(*texts: "str | None") -> str | None:
    """``shown_if`` texts joined by ``and`` (parenthesised where a part is an ``or`` list)."""
    parts = [t for t in texts if t]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    if any(p.startswith(RAW_PREFIX) for p in parts):
        return RAW_PREFIX + " and ".join(p[len(RAW_PREFIX):] if p.startswith(RAW_PREFIX) else p for p in parts)
    return " and ".join(f"({p})" if " or " in p else p for p in parts)


# ------------------------------------------------------------------------------------------------ text grammar
_TOKEN = re.compile(r"\s*(\(|\)|!=|=|\band\b|\bor\b|-?\d+|[^\s()=!]+)")


def parse(text: str | None) -> Any:
    """Parse a ``shown_if`` text into a nested tuple: ``("term", variable, op, value)``, ``("and", [...])`` or
    ``("or", [...])`` (``and`` binds tighter than ``or``; parentheses group). None for empty text or text that is
    not in the grammar (``qualtrics:`` conditions)."""
    if not text or text.startswith(RAW_PREFIX.strip()):
        return None
    tokens = _TOKEN.findall(text)
    if "".join(tokens).replace(" ", "") != text.replace(" ", ""):
        return None
    pos = [0]

    def peek() -> str | None:
        return tokens[pos[0]] if pos[0] < len(tokens) else None

    def take() -> str:
        pos[0] += 1
        return tokens[pos[0] - 1]

    def atom() -> Any:
        if peek() == "(":
            take()
            e = expr()
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return e
        var = take()
        op = take()
        if op not in ("=", "!="):
            raise ValueError(f"expected = or != after {var!r}")
        return ("term", var, op, int(take()))

    def conj(kind: str, sub: Callable[[], Any]) -> Any:
        parts = [sub()]
        while peek() == kind:
            take()
            parts.append(sub())
        return parts[0] if len(parts) == 1 else (kind, parts)

    def expr() -> Any:
        return conj("or", lambda: conj("and", atom))

    try:
        tree = expr()
    except (IndexError, ValueError):
        return None
    return tree if pos[0] == len(tokens) else None


def variables_of(text: str | None) -> list[str]:
    """The columns a ``shown_if`` text refers to."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if node is None:
            return
        if node[0] == "term":
            out.append(node[1])
        else:
            for n in node[1]:
                walk(n)
    walk(parse(text))
    return list(dict.fromkeys(out))


def shown(text: str | None, data: "pd.DataFrame", column_of: "Callable[[str], str | None] | None" = None
          ) -> "pd.Series":
    """Whether each row of ``data`` met the condition ``text`` (True where there is no condition, where it cannot
    be parsed, or for terms on columns the data lack). ``column_of`` maps a codebook variable to the data column
    (default: the same name)."""
    import numpy as np
    import pandas as pd

    idx = data.index
    tree = parse(text)
    if tree is None:
        return pd.Series(True, index=idx)

    def ev(node: Any) -> "np.ndarray":
        if node[0] == "term":
            _, var, op, value = node
            col = column_of(var) if column_of is not None else (var if var in data.columns else None)
            if col is None or col not in data.columns:
                return np.ones(len(idx), dtype=bool)
            x = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            eq = x == value
            return eq if op == "=" else ~eq
        parts = [ev(n) for n in node[1]]
        out = parts[0].copy()
        for p in parts[1:]:
            out = (out & p) if node[0] == "and" else (out | p)
        return out

    return pd.Series(ev(tree), index=idx)


# ------------------------------------------------------------------------------------------------ Qualtrics JSON
@dataclass(frozen=True)
class Target:
    """Where a question variable lives in the QSF: its QID, the statement id (matrix rows) and the choice or answer
    id of each code."""

    qid: str
    statement: int | None
    ids: dict[int, str]
    labels: dict[int, str] | None = None  # answer labels by code (for the description Qualtrics shows)


def _description(conj: str | None, left: str, op: str, right: str = "", question: str = "") -> str:
    lead = f'<span class="ConjDesc">{conj}</span> ' if conj else ""
    qdesc = f'<span class="QuestionDesc">{html.escape(question)}</span> ' if question else ""
    right_html = f' <span class="RightOpDesc"> {html.escape(right)} </span>' if right else ""
    return (f'{lead}{qdesc}<span class="LeftOpDesc">{html.escape(left)}</span> <span class="OpDesc">{op}</span>'
            f"{right_html}")


def display_logic(cond: Condition, target: Callable[[str], Target | None], *, in_page: bool = False) -> dict:
    """Qualtrics DisplayLogic of a condition; ``target(variable)`` locates a question variable (None for an
    embedded-data field)."""
    body: dict[str, Any] = {}
    for k, t in enumerate(cond.terms):
        conj = "If" if k == 0 else cond.conj.capitalize()
        tg = None if t.embedded else target(t.variable)
        if tg is None:
            op = "EqualTo" if t.op == "=" else "NotEqualTo"
            entry: dict[str, Any] = {
                "LogicType": "EmbeddedField", "LeftOperand": t.variable, "Operator": op,
                "RightOperand": str(t.value), "Type": "Expression",
                "Description": _description(conj, t.variable, "Is Equal to" if t.op == "=" else "Is Not Equal to",
                                            str(t.value))}
        else:
            aid = tg.ids.get(t.value, str(t.value))
            loc = (f"q://{tg.qid}/SelectableChoice/{aid}" if tg.statement is None
                   else f"q://{tg.qid}/SelectableAnswer/{tg.statement}/{aid}")
            op = "Selected" if t.op == "=" else "NotSelected"
            entry = {"LogicType": "Question", "QuestionID": tg.qid, "QuestionIsInLoop": "no",
                     "ChoiceLocator": loc, "Operator": op, "QuestionIDFromLocator": tg.qid, "LeftOperand": loc,
                     "Type": "Expression",
                     "Description": _description(conj, (tg.labels or {}).get(t.value, str(t.value)),
                                                 "Is Selected" if t.op == "=" else "Is Not Selected",
                                                 question=t.variable)}
        if k > 0:
            entry["Conjuction"] = cond.conj.capitalize()  # sic: Qualtrics' spelling
        body[str(k)] = entry
    body["Type"] = "If"
    return {"0": body, "Type": "BooleanExpression", "inPage": in_page}


_LOC = re.compile(r"^q://(QID\d+)/(SelectableChoice|SelectableAnswer)/(\d+)(?:/(\d+))?$")
_Q_OPS = {"Selected": "=", "NotSelected": "!="}
_E_OPS = {"EqualTo": "=", "NotEqualTo": "!="}


def parse_display_logic(logic: Any, locate: Callable[[str, str, str | None], tuple[str, int] | None]) -> str | None:
    """The ``shown_if`` text of a Qualtrics DisplayLogic object (None when there is none). ``locate(qid, id,
    statement)`` turns a choice (MC) or statement + answer (matrix) into (variable, code); conditions vccscale
    cannot express are returned as ``qualtrics: <their descriptions>``."""
    if not isinstance(logic, dict):
        return None
    sets = [logic[k] for k in sorted((k for k in logic if str(k).isdigit()), key=int) if isinstance(logic[k], dict)]
    texts: list[str] = []
    raw: list[str] = []
    ok = True
    for s in sets:
        conds = [s[k] for k in sorted((k for k in s if str(k).isdigit()), key=int) if isinstance(s[k], dict)]
        terms: list[str] = []
        conj = None
        for k, c in enumerate(conds):
            desc = re.sub(r"<[^>]*>", "", str(c.get("Description") or "")).strip()
            raw.append(" ".join(html.unescape(desc).split()))
            this_conj = str(c.get("Conjuction") or c.get("Conjunction") or "And").lower() if k else None
            if this_conj is not None:
                if conj is None:
                    conj = this_conj
                elif conj != this_conj:
                    ok = False
            term = None
            if c.get("LogicType") == "Question" and c.get("Operator") in _Q_OPS:
                m = _LOC.match(str(c.get("ChoiceLocator") or c.get("LeftOperand") or ""))
                if m:
                    stmt = m.group(3) if m.group(2) == "SelectableAnswer" else None
                    aid = m.group(4) if stmt is not None else m.group(3)
                    hit = locate(m.group(1), aid, stmt) if aid is not None else None
                    if hit is not None:
                        term = f"{hit[0]} {_Q_OPS[c['Operator']]} {hit[1]}"
            elif c.get("LogicType") == "EmbeddedField" and c.get("Operator") in _E_OPS:
                left, right = c.get("LeftOperand"), str(c.get("RightOperand", "")).strip()
                if isinstance(left, str) and left and re.fullmatch(r"-?\d+", right):
                    term = f"{left} {_E_OPS[c['Operator']]} {int(right)}"
            if term is None:
                ok = False
            else:
                terms.append(term)
        if terms:
            texts.append(f" {conj or 'and'} ".join(terms))
    if not raw:
        return None
    if not ok or len(texts) != 1:
        return RAW_PREFIX + "; ".join(r for r in raw if r)
    return texts[0]
