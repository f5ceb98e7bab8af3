"""A parser for lavaan model syntax.

The parser turns a lavaan model string into a flat list of :class:`SyntaxRow` (one per ``lhs op rhs`` triple),
keeping the modifiers (fixed values, free ``NA``, labels, starting values) and the line each row came from.
It knows the operators ``=~`` (measured by), ``~`` (regressed on), ``~~`` (covaries with), ``~ 1``
(intercept), ``:=`` (defined parameter) and ``==`` / ``<`` / ``>`` (constraints); the modifiers
``1*x``, ``NA*x``, ``a*x``, ``"a"*x``, ``label("a")*x``, ``start(0.5)*x``, ``0.5?x``, ``equal("a")*x`` and the
multigroup vector forms ``c(1, NA)*x`` / ``c(a, b)*x``; comments (``#`` and ``!``), several statements per line
(``;``), statements spread over several lines (a line ending in ``+`` or an operator continues), and ``a + b`` on
either side (``y1 + y2 ~ x`` gives two regressions). Two-level models (lavaan's ``level: 1`` / ``level: 2``, also
``level: within`` / ``level: between``) are split into their blocks by :func:`split_levels`; each block is then
ordinary syntax for :func:`parse_model`.

Every error is a :class:`~vccscale.errors.ModelError` that names the line and shows the offending text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ModelError

__all__ = ["SyntaxRow", "Modifier", "parse_model", "OPERATORS", "split_levels", "LEVEL_LABELS"]

# longest first where one operator is a prefix of another
OPERATORS = ("=~", "<~", "~*~", "~~", ":=", "==", "<", ">", "|", "~")
_MODEL_OPS = {"=~", "~", "~~", "~1"}
_OP_FIRST = frozenset(op[0] for op in OPERATORS)  # the characters an operator can start with
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass
class Modifier:
    """Modifiers of one model term.  Each is a list with one entry (all groups) or one entry per group.

    ``fixed`` entries are a float (fixed value) or ``None`` (free: ``NA``); ``label`` entries are a string or
    ``""``; ``start`` entries a float or ``None``.
    """

    fixed: list | None = None
    label: list | None = None
    start: list | None = None

    def merge(self, other: Modifier, where: str) -> None:
        for name in ("fixed", "label", "start"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is None:
                continue
            if mine is not None and mine != theirs:
                raise ModelError(f"{where}: conflicting {name} modifiers ({mine} and {theirs}) for the same term")
            setattr(self, name, theirs)


@dataclass
class SyntaxRow:
    """One ``lhs op rhs`` statement of the model syntax (before lavaan's defaults are added)."""

    lhs: str
    op: str
    rhs: str
    line: int
    modifier: Modifier = field(default_factory=Modifier)
    text: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.lhs, self.op, self.rhs)


def _strip_comment(line: str) -> str:
    out, quote = [], None
    for ch in line:
        if quote:
            out.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "#!":
            break
        out.append(ch)
    return "".join(out)


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _find_operator(stmt: str) -> tuple[int, str] | None:
    """Leftmost operator outside parentheses/quotes (longest match at that position)."""
    depth, quote, i = 0, None, 0
    while i < len(stmt):
        ch = stmt[i]
        if quote:
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch in _OP_FIRST:
            for op in OPERATORS:
                if stmt.startswith(op, i):
                    return i, op
        i += 1
    return None


def _statements(model: str) -> list[tuple[int, str]]:
    """(first line number, statement text) pairs: comments removed, ``;`` split, continuation lines joined."""
    pieces: list[tuple[int, str]] = []
    for lineno, raw in enumerate(model.splitlines(), start=1):
        line = _strip_comment(raw)
        for part in _split_top(line, ";"):
            part = part.strip()
            if part:
                pieces.append((lineno, part))
    stmts: list[tuple[int, str]] = []
    continuing = ("+", "*", ",", "(", "=~", "~", "~~", ":=", "==", "<", ">", "<~")
    for lineno, part in pieces:
        if stmts:
            prev_line, prev = stmts[-1]
            open_parens = prev.count("(") > prev.count(")")
            if prev.endswith(continuing) or part.startswith(("+", "*")) or open_parens \
                    or _find_operator(prev) is None:
                stmts[-1] = (prev_line, prev + " " + part)
                continue
        stmts.append((lineno, part))
    return stmts


def _err(lineno: int, stmt: str, msg: str) -> ModelError:
    return ModelError(f"model syntax line {lineno}: {msg} in {stmt!r}", line=lineno)


def _parse_value_list(inner: str, lineno: int, stmt: str, kind: str) -> list:
    return [_parse_scalar(v.strip(), lineno, stmt, kind) for v in _split_top(inner, ",")]


def _parse_scalar(tok: str, lineno: int, stmt: str, kind: str):
    """kind 'auto': number -> fixed, NA -> free, name/quoted -> label."""
    if tok == "":
        raise _err(lineno, stmt, "empty modifier")
    if _NUMBER.match(tok):
        return ("fixed", float(tok))
    if tok in ("NA", "na"):
        return ("fixed", None)
    if len(tok) >= 2 and tok[0] == tok[-1] and tok[0] in "\"'":
        return ("label", tok[1:-1])
    if _NAME.match(tok):
        return ("label", tok)
    raise _err(lineno, stmt, f"cannot read modifier {tok!r} (expected a number, NA, a label or start(...))")


def _apply(mod: Modifier, kind: str, values: list, lineno: int, stmt: str) -> None:
    cur = getattr(mod, kind)
    if cur is not None and cur != values:
        raise _err(lineno, stmt, f"two different {kind} modifiers for one term")
    setattr(mod, kind, values)


def _parse_modifier(tok: str, mod: Modifier, lineno: int, stmt: str) -> None:
    tok = tok.strip()
    m = re.fullmatch(r"(start|label|equal|c)\s*\((.*)\)", tok, flags=re.DOTALL)
    if m:
        fn, inner = m.group(1), m.group(2)
        vals = _parse_value_list(inner, lineno, stmt, fn)
        if fn == "start":
            if any(k != "fixed" for k, _ in vals):
                raise _err(lineno, stmt, "start() needs numbers")
            _apply(mod, "start", [v for _, v in vals], lineno, stmt)
        elif fn in ("label", "equal"):
            if any(k != "label" for k, _ in vals):
                raise _err(lineno, stmt, f"{fn}() needs quoted labels")
            _apply(mod, "label", [v for _, v in vals], lineno, stmt)
        else:  # c(...): all numbers/NA -> fixed; all labels -> labels
            kinds = {k for k, _ in vals}
            if kinds == {"label"}:
                _apply(mod, "label", [v for _, v in vals], lineno, stmt)
            elif kinds == {"fixed"}:
                _apply(mod, "fixed", [v for _, v in vals], lineno, stmt)
            else:
                raise _err(lineno, stmt, "c(...) mixes numbers and labels; use two modifiers")
        return
    if re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*\s*\(.*\)", tok, flags=re.DOTALL):
        raise _err(lineno, stmt, f"unknown modifier function {tok.split('(')[0]!r} (known: start, label, equal, c)")
    kind, value = _parse_scalar(tok, lineno, stmt, "auto")
    _apply(mod, kind, [value], lineno, stmt)


def _parse_term(term: str, lineno: int, stmt: str) -> tuple[str, Modifier]:
    term = term.strip()
    if not term:
        raise _err(lineno, stmt, "empty term (a '+' with nothing on one side)")
    mod = Modifier()
    parts = _split_top(term, "*")
    name = parts[-1].strip()
    mods = parts[:-1]
    if "?" in name and not name.startswith("("):  # 0.5?x  == start(0.5)*x
        sv, _, name = name.partition("?")
        vals = _parse_scalar(sv.strip(), lineno, stmt, "auto")
        if vals[0] != "fixed" or vals[1] is None:
            raise _err(lineno, stmt, "a number must precede '?'")
        _apply(mod, "start", [vals[1]], lineno, stmt)
        name = name.strip()
    for tok in mods:
        _parse_modifier(tok, mod, lineno, stmt)
    if not (_NAME.match(name) or name == "1"):
        raise _err(lineno, stmt, f"{name!r} is not a valid variable name")
    return name, mod


def _lhs_names(lhs: str, lineno: int, stmt: str) -> list[str]:
    names = []
    for part in _split_top(lhs, "+"):
        part = part.strip()
        if "*" in part:
            raise _err(lineno, stmt, "modifiers (x*) are only allowed on the right-hand side")
        if not _NAME.match(part):
            raise _err(lineno, stmt, f"{part!r} is not a valid variable name on the left-hand side"
                       if part else "nothing on the left-hand side of the operator")
        names.append(part)
    return names


def parse_model(model: str) -> list[SyntaxRow]:
    """Parse lavaan model syntax into :class:`SyntaxRow` objects (one per lhs/op/rhs, duplicates merged).

    Constraint and definition rows (``:=``, ``==``, ``<``, ``>``) keep their right-hand side as an expression
    string in ``rhs``.  Raises :class:`ModelError` naming the line for anything it cannot read.
    """
    if not isinstance(model, str):
        raise ModelError(f"model syntax must be a string, got {type(model).__name__}")
    rows: list[SyntaxRow] = []
    index: dict[tuple[str, str, str], SyntaxRow] = {}
    for lineno, stmt in _statements(model):
        found = _find_operator(stmt)
        if found is None:
            raise _err(lineno, stmt, "no operator found (expected one of =~, ~, ~~, :=, ==, <, >)")
        pos, op = found
        lhs, rhs = stmt[:pos].strip(), stmt[pos + len(op):].strip()
        if op in ("<~", "~*~", "|"):
            raise _err(lineno, stmt, f"operator {op!r} (formative / scaling / threshold) is not supported")
        if not rhs:
            raise _err(lineno, stmt, f"nothing on the right-hand side of {op!r}")
        if not lhs:
            raise _err(lineno, stmt, f"nothing on the left-hand side of {op!r}")
        if _find_operator(rhs) is not None and op not in (":=", "==", "<", ">"):
            raise _err(lineno, stmt, "two operators in one statement (put each on its own line or use ';')")
        if op in (":=", "==", "<", ">"):
            if op == ":=" and not _NAME.match(lhs):
                raise _err(lineno, stmt, f"a defined parameter needs a plain name on the left, not {lhs!r}")
            row = SyntaxRow(lhs, op, rhs, lineno, text=stmt)
            if op == ":=" and any(r.op == ":=" and r.lhs == lhs for r in rows):
                raise _err(lineno, stmt, f"defined parameter {lhs!r} is defined twice")
            rows.append(row)
            continue
        lhs_names = _lhs_names(lhs, lineno, stmt)
        for term in _split_top(rhs, "+"):
            name, mod = _parse_term(term, lineno, stmt)
            this_op = op
            if name == "1":
                if op != "~":
                    raise _err(lineno, stmt, f"'1' (an intercept) can only follow '~', not {op!r}")
                this_op, name = "~1", ""
            for lname in lhs_names:
                if this_op == "~" and lname == name:
                    raise _err(lineno, stmt, f"{lname!r} is regressed on itself")
                if this_op == "=~" and lname == name:
                    raise _err(lineno, stmt, f"latent variable {lname!r} cannot be its own indicator")
                key = (lname, this_op, name)
                alt = (name, this_op, lname) if this_op == "~~" else None
                hit = index.get(key) or (index.get(alt) if alt else None)
                if hit is not None:
                    hit.modifier.merge(mod, f"model syntax line {lineno}")
                    continue
                r = SyntaxRow(lname, this_op, name, lineno,
                              Modifier(fixed=mod.fixed, label=mod.label, start=mod.start), text=stmt)
                rows.append(r)
                index[key] = r
    if not any(r.op in _MODEL_OPS for r in rows):
        raise ModelError("model syntax contains no model statements (=~, ~, ~~ or ~ 1)")
    return rows


#: lavaan's level labels: level 1 (within clusters) and level 2 (between clusters)
LEVEL_LABELS = {"1": 1, "within": 1, "2": 2, "between": 2}
_LEVEL = re.compile(r"^level\s*:(?!=)\s*(\S*)\s*$", flags=re.IGNORECASE)
_LEVEL_ANYWHERE = re.compile(r"level\s*:", flags=re.IGNORECASE)  # a model without it has no level: line


def is_twolevel(model) -> bool:
    """True when ``model`` is lavaan syntax with ``level:`` blocks."""
    return isinstance(model, str) and split_levels(model) is not None


def split_levels(model: str) -> list[tuple[int, str]] | None:
    """The blocks of a two-level model (lavaan's ``level: 1`` ... ``level: 2`` ..., or ``level: within`` /
    ``level: between``) as ``[(1, text), (2, text)]``, or None when the model has no ``level:`` line.

    Each block's text keeps the statements on their original line numbers (the other lines are blank), so that
    :func:`parse_model` names the line of the whole model in its errors. Raises :class:`ModelError` for statements
    before the first ``level:`` line, unknown labels, a level given twice or out of order, an empty block, or more
    than two levels.
    """
    if not isinstance(model, str) or not _LEVEL_ANYWHERE.search(model):
        return None
    pieces: list[tuple[int, str]] = []
    for lineno, raw in enumerate(model.splitlines(), start=1):
        for part in _split_top(_strip_comment(raw), ";"):
            part = part.strip()
            if part:
                pieces.append((lineno, part))
    if not any(_LEVEL.match(p) for _, p in pieces):
        return None
    blocks: list[tuple[int, list[tuple[int, str]]]] = []
    for lineno, part in pieces:
        m = _LEVEL.match(part)
        if m:
            label = m.group(1).lower()
            if label not in LEVEL_LABELS:
                raise ModelError(f"model syntax line {lineno}: unknown level {m.group(1)!r} in {part!r} (use "
                                 "level: 1 / level: 2, or level: within / level: between)", line=lineno)
            level = LEVEL_LABELS[label]
            if any(b[0] == level for b in blocks):
                raise ModelError(f"model syntax line {lineno}: level {level} is given twice", line=lineno)
            if level != len(blocks) + 1:
                raise ModelError(f"model syntax line {lineno}: the within level (level: 1) must come before the "
                                 "between level (level: 2)", line=lineno)
            blocks.append((level, []))
            continue
        if not blocks:
            raise ModelError(f"model syntax line {lineno}: {part!r} comes before the first 'level:' line; in a "
                             "two-level model every statement belongs to a level (level: 1 or level: 2)",
                             line=lineno)
        blocks[-1][1].append((lineno, part))
    if len(blocks) != 2:
        raise ModelError("a two-level model needs both blocks, level: 1 (within) and level: 2 (between); found only "
                         f"level {blocks[0][0]}")
    out = []
    nlines = len(model.splitlines())
    for level, items in blocks:
        if not items:
            raise ModelError(f"level {level} of the model has no statements")
        lines = [""] * nlines
        for lineno, part in items:
            lines[lineno - 1] = (lines[lineno - 1] + "; " + part) if lines[lineno - 1] else part
        out.append((level, "\n".join(lines)))
    return out
