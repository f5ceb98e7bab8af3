"""The printable questionnaire: what a reviewer or ethics board reads and what a researcher prints to check a survey.

:func:`render_html` writes one self-contained HTML5 page (inline CSS, no scripts, no external resources): a title
page (survey name, study and survey id, the respondent versions and how respondents are routed to them) and then
one printed page per block, with the block title, who sees it and every question: matrices as tables with one
column per scale point (``○`` in the cells; item id, variable name, ``(R)`` for reverse-keyed items and
``[attention check]`` in small muted text), single-choice questions as lists of ``○`` choices and text or numeric
entry as ruled lines. :func:`render_markdown` writes the same content as Markdown (blocks as ``## `` headings,
matrices as pipe tables, ``---`` between blocks). Both take the routing text from :func:`flow_description`.

Placeholders piped in from the invitation link (``[Provider]``, ``[Customer]``, ...; see ``model.PLACEHOLDERS``)
are highlighted: ``<mark class="ph">`` in HTML, bold in Markdown. Consent placeholders the study file has not
filled (``[SPONSOR]``, ...) are marked as still to be written (``<mark class="todo">``, bold in Markdown).

Display logic is printed where it applies: a question shown only under a condition gets a routing note ("Shown
only if ..."), a matrix row its condition in the row's small text, and a three-form design's rows their block
("block A: not in form 1"). The title page gives each version's estimated completion time (``timing``), the
length cap when the study sets one, and the three-form design's forms.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from .logic import Condition
from .model import FORM_FIELD, PLACEHOLDERS, VERSIONS, Block, Branch, Instrument, Question, Statement
from .timing import TIMING_RULE, estimate

__all__ = ["render_html", "render_markdown", "flow_description"]

_PH_RE = re.compile(r"\[(" + "|".join(re.escape(k) for k in PLACEHOLDERS) + r")\]")
_TODO_RE = re.compile(r"\[([A-Z][A-Z_]{2,})\]")  # consent placeholders the study file has not filled
_CIRCLE = "\u25cb"  # ○
_DONT_KNOW = "Don't know"


# --------------------------------------------------------------------------------------------- routing / flow


def _version_name(version: str) -> str:
    return version.replace("_", " ")


def _version_code(version: str) -> str:
    return VERSIONS.get(version, ("", ""))[1]


def _question(instrument: Instrument, qid: str) -> Question | None:
    return next((q for q in instrument.questions if q.qid == qid), None)


def _question_ref(instrument: Instrument, qid: str) -> str:
    q = _question(instrument, qid)
    return q.tag if q is not None else qid


def _answer_label(instrument: Instrument, qid: str, choice: int, fallback: str | None = None) -> str:
    q = _question(instrument, qid)
    if q is not None and choice in q.choices:
        return q.choices[choice]
    return fallback if fallback else str(choice)


def _titles(instrument: Instrument, block_ids) -> str:
    titles = []
    for bid in block_ids:
        try:
            titles.append(f"'{instrument.block(bid).title}'")
        except StopIteration:
            titles.append(f"'{bid}'")
    if not titles:
        return "no blocks"
    if len(titles) == 1:
        return titles[0]
    return ", ".join(titles[:-1]) + " and " + titles[-1]


def _plural_blocks(n: int) -> str:
    return "block" if n == 1 else "blocks"


@dataclass
class _Routing:
    lines: list[str]
    audience: dict[str, str]   # block id -> who sees it
    order: list[str]           # block ids in flow order, then blocks not in the flow


def _routing(instrument: Instrument) -> _Routing:
    lines: list[str] = []
    audience: dict[str, str] = {}
    order: list[str] = []
    conds: list[str] = []       # conditions everyone still in the survey has met (consent, screening)
    ended: dict[str, set[int]] = {}   # question -> answers that end the survey
    cond_of: dict[str, int] = {}      # question -> its entry in conds
    pending: list[str] = []     # consecutive shared blocks not yet described

    def who() -> str:
        return "Everyone" if not conds else "Everyone who " + " and ".join(conds)

    def flush() -> None:
        if pending:
            lines.append(f"{who()} sees {_plural_blocks(len(pending))} {_titles(instrument, pending)}.")
            pending.clear()

    def place(bid: str, text: str) -> None:
        if bid not in audience:
            audience[bid] = text
            order.append(bid)

    for node in instrument.flow:
        kind = node[0] if node else None
        if kind == "block":
            pending.append(node[1])
            place(node[1], who())
        elif kind in ("end_unless", "end_if"):
            flush()
            qid, choice = node[1], node[2]
            ref = _question_ref(instrument, qid)
            label = _answer_label(instrument, qid, choice)
            if kind == "end_unless":
                lines.append(f"The survey ends for respondents who do not answer '{label}' at question {ref}.")
                conds.append(f"answers '{label}' at question {ref}")
            else:
                lines.append(f"The survey ends for respondents who answer '{label}' at question {ref}.")
                q = _question(instrument, qid)
                ended.setdefault(qid, set()).add(choice)
                others = [lab for c, lab in sorted(q.choices.items()) if c not in ended[qid]] if q is not None else []
                cond_of.setdefault(qid, len(conds))
                if len(conds) == cond_of[qid]:
                    conds.append("")
                if len(others) == 1:   # yes/no consent, or one side left: say who goes on, not who stops
                    conds[cond_of[qid]] = f"answers '{others[0]}' at question {ref}"
                else:
                    stopped = " or ".join(f"'{_answer_label(instrument, qid, c)}'" for c in sorted(ended[qid]))
                    conds[cond_of[qid]] = f"does not answer {stopped} at question {ref}"
        elif kind == "branches":
            flush()
            branches: tuple[Branch, ...] = tuple(node[1])
            for br in branches:
                vname = _version_name(br.version)
                blocks = f"{_plural_blocks(len(br.blocks))} {_titles(instrument, br.blocks)}"
                if br.qid:
                    ref = _question_ref(instrument, br.qid)
                    label = _answer_label(instrument, br.qid, br.choice, br.label)
                    lines.append(f"Respondents who answer '{label}' at question {ref} see the {vname} version "
                                 f"{blocks}.")
                    text = f"{vname.capitalize()} version only: respondents who answer '{label}' at question {ref}"
                else:
                    lines.append(f"{who()} sees the {vname} version {blocks}.")
                    text = f"{vname.capitalize()} version: {who().lower()}"
                for bid in br.blocks:
                    place(bid, text)
        elif kind == "randomize":
            flush()
            values = ", ".join(str(v) for v in node[2])
            omits = "; ".join(f"form {k} omits block {b}" for k, b in sorted(instrument.forms.items()))
            lines.append(f"{who()} is assigned at random, evenly, to one of forms {values} (embedded field "
                         f"{node[1]}; three-form planned missingness" + (f": {omits}" if omits else "") + ").")
        elif kind is not None:
            flush()
            lines.append(f"Survey flow element '{kind}'.")
    flush()

    if not instrument.flow:
        lines.append("Everyone sees every block in the order printed.")
    missing = [b for b in instrument.blocks if b.id not in audience]
    for b in missing:
        order.append(b.id)
        if instrument.flow:
            audience[b.id] = "Not in the survey flow (never shown)"
        elif b.version is not None:
            audience[b.id] = f"{_version_name(b.version).capitalize()} version"
        else:
            audience[b.id] = "Everyone"
    if instrument.flow and missing:
        lines.append(f"Not in the survey flow (never shown): {_titles(instrument, [b.id for b in missing])}.")
    return _Routing(lines, audience, order)


def flow_description(instrument: Instrument) -> list[str]:
    """The survey flow as plain sentences, in order: which blocks everyone sees, where the survey ends
    (consent), and which answer routes respondents to which version's blocks, e.g. "Respondents who answer
    'The provider' at question side see the provider version blocks 'Provider: ...' and '...'."."""
    return _routing(instrument).lines


def _ordered_blocks(instrument: Instrument, routing: _Routing) -> list[Block]:
    by_id = {b.id: b for b in instrument.blocks}
    return [by_id[bid] for bid in routing.order if bid in by_id]


def _version_blocks(instrument: Instrument, version: str) -> list[Block]:
    return [b for b in instrument.blocks if b.version == version]


def _scale_points(q: Question) -> list[tuple[int, str]]:
    if q.scale is not None:
        return sorted(q.scale.labels.items())
    return sorted(q.choices.items())


def _dont_know(q: Question) -> tuple[int | None, str] | None:
    if not q.dont_know:
        return None
    if q.scale is not None:
        return q.scale.dont_know_code, q.scale.dont_know_label or _DONT_KNOW
    return None, _DONT_KNOW


def _stmt_meta(q: Question, s: Statement, instrument: Instrument | None = None) -> str:
    parts = []
    if s.item_id:
        parts.append(s.item_id)
    parts.append(f"{q.tag}_{s.choice_id}")
    text = " \u00b7 ".join(parts)
    if s.reverse:
        text += " (R)"
    if s.role == "attention_check":
        text += " [attention check]"
    elif s.role not in ("item", "attention_check"):
        text += f" [{s.role}]"
    if s.form_block and s.form_block != "X":
        forms = instrument.forms if instrument is not None else {}
        omit = next((k for k, b in forms.items() if b == s.form_block), None)
        text += f" [block {s.form_block}" + (f": not in form {omit}]" if omit else "]")
    cond = _without_form(s.shown_if)
    if cond is not None:
        text += f" [shown only if {_condition_text(instrument, cond)}]"
    return text


def _without_form(cond: Condition | None) -> Condition | None:
    """A condition without its three-form terms (they are printed as the row's block)."""
    if cond is None:
        return None
    terms = tuple(t for t in cond.terms if not (t.embedded and t.variable == FORM_FIELD))
    return Condition(terms, cond.conj) if terms else None


def _answer_of(instrument: Instrument | None, variable: str, code: int) -> tuple[str, str] | None:
    """(question reference, answer label as respondents see it) of an export variable's code."""
    if instrument is None:
        return None
    for q in instrument.questions:
        if q.kind == "single_choice" and q.tag == variable:
            if q.scale is not None and code in q.scale.labels:
                return q.tag, q.scale.shown_label(code)
            if code in q.choices:
                return q.tag, q.choices[code]
        if q.kind == "matrix" and q.scale is not None and variable.startswith(q.tag + "_"):
            st = next((x for x in q.statements if f"{q.tag}_{x.choice_id}" == variable), None)
            if st is not None:
                lab = q.scale.labels.get(code) or (q.scale.dont_know_label if code == q.scale.dont_know_code
                                                   else None)
                return f"{variable} (\u201c{st.text}\u201d)", lab or str(code)
    return None


def _condition_text(instrument: Instrument | None, cond: Condition) -> str:
    """A display condition in words: "the answer to outcome_contract is 'Yes' and ..."."""
    parts = []
    negated: dict[str, list[str]] = {}  # "x != a and x != b" -> "x is neither 'a' nor 'b'"
    for t in cond.terms:
        if t.embedded:
            if t.variable == FORM_FIELD:
                parts.append(f"the respondent's form is {'not ' if t.op == '!=' else ''}{t.value}")
            else:
                parts.append(f"{t.variable} is {'not ' if t.op == '!=' else ''}{t.value}")
            continue
        hit = _answer_of(instrument, t.variable, t.value)
        ref, lab = hit if hit is not None else (t.variable, str(t.value))
        if t.op == "!=" and cond.conj == "and":
            if ref not in negated:
                negated[ref] = []
                parts.append(ref)  # placeholder, filled below
            negated[ref].append(f"\u2018{lab}\u2019 ({t.value})")
            continue
        parts.append(f"the answer to {ref} is \u2018{lab}\u2019")
    out = []
    for p in parts:
        if p in negated:
            labs = negated[p]
            what = f"not {labs[0]}" if len(labs) == 1 else "neither " + " nor ".join(labs)
            out.append(f"the answer to {p} is {what}")
        else:
            out.append(p)
    return f" {cond.conj} ".join(out)


# --------------------------------------------------------------------------------------------- HTML


_CSS = """
@page { size: A4; margin: 18mm; }
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body {
  margin: 0; color: #1a1a1a; background: #e9e9e6;
  font-family: Georgia, Cambria, "Times New Roman", Times, serif; font-size: 11pt; line-height: 1.45;
}
h1, h2, h3, th, .meta, .who, .note, .running, .qno, .legend, .choices .code, .scale-code {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", sans-serif;
}
.page {
  background: #fff; max-width: 210mm; margin: 12mm auto; padding: 16mm 18mm;
  box-shadow: 0 1px 4px rgba(0,0,0,.25); border-top: 4px solid #3b5b7a;
}
.title-page h1 { font-size: 22pt; margin: 0 0 4mm; line-height: 1.2; }
.title-page dl { display: grid; grid-template-columns: max-content 1fr; gap: 1mm 6mm; margin: 0 0 6mm; }
.title-page dt { font-weight: 600; color: #444; }
.title-page dd { margin: 0; }
.title-page h2 { font-size: 13pt; margin: 7mm 0 2mm; border-bottom: 1px solid #ccc; padding-bottom: 1mm; }
.title-page ol.toc li { margin: 0.5mm 0; }
.running { font-size: 8.5pt; color: #666; margin: 0 0 3mm; text-transform: uppercase; letter-spacing: .04em; }
.block-page h2 { font-size: 16pt; margin: 0 0 1mm; line-height: 1.25; }
.who { font-size: 9.5pt; color: #3b5b7a; margin: 0 0 5mm; padding: 1.5mm 3mm; background: #eef3f8;
       border-left: 3px solid #3b5b7a; }
.question { margin: 0 0 7mm; }
.qtext { margin: 0 0 2mm; }
.qno { font-weight: 700; margin-right: 1.5mm; }
.meta { font-size: 8pt; color: #5f5f5f; font-weight: 400; }
.note { font-size: 8.5pt; color: #5f5f5f; font-style: italic; margin: 0 0 2mm; }
.descriptive .qtext { font-style: italic; }
.descriptive.info .qtext { font-style: normal; }
mark.ph { background: #fff0a8; color: inherit; padding: 0 .15em; border-radius: 2px; font-weight: 600; }
mark.todo { background: #ffd6d6; color: #8a0000; padding: 0 .15em; border-radius: 2px; font-weight: 700; }
.info .qtext { font-style: normal; margin: 0 0 3mm; }
.routing { font-size: 9pt; color: #7a4a00; background: #fff6e5; border-left: 3px solid #d08a1a;
           padding: 1mm 2.5mm; margin: 0 0 2mm; }
table.timing { border-collapse: collapse; font-size: 10pt; margin: 0 0 2mm; }
table.timing th, table.timing td { padding: .8mm 4mm .8mm 0; text-align: left; border-bottom: 1px solid #ddd; }
table.timing td.n { text-align: right; }
.over { color: #8a0000; font-weight: 700; }
table.matrix { width: 100%; border-collapse: collapse; table-layout: fixed; font-size: 10pt; }
table.matrix thead { display: table-header-group; }
table.matrix th, table.matrix td { border-bottom: 1px solid #d6d6d6; padding: 1.6mm 1.2mm; vertical-align: middle; }
table.matrix thead th { font-size: 8pt; font-weight: 600; text-align: center; vertical-align: bottom;
                        color: #333; border-bottom: 1.5px solid #777; line-height: 1.2; }
table.matrix thead th.stmt-col { text-align: left; }
table.matrix col.stmt-col { width: 44%; }
table.matrix tbody th { text-align: left; font-weight: 400; font-family: Georgia, Cambria, "Times New Roman", serif; }
table.matrix tbody tr:nth-child(even) { background: #f7f7f5; }
table.matrix td { text-align: center; font-size: 16pt; line-height: 1; color: #333; }
table.matrix .dk { border-left: 1.5px solid #999; }
table.matrix tr { break-inside: avoid; page-break-inside: avoid; }
table.matrix tr.attention th .meta { color: #8a4b00; }
.num { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; font-size: 8pt;
       color: #5f5f5f; display: inline-block; min-width: 5mm; }
.scale-code { display: block; font-weight: 400; color: #777; font-size: 7.5pt; margin-top: .5mm; }
ul.choices { list-style: none; padding: 0; margin: 0 0 0 2mm; }
ul.choices li { margin: 1mm 0; break-inside: avoid; page-break-inside: avoid; }
.circle { font-size: 15pt; margin-right: 2mm; color: #444; }
.choices .code { font-size: 8pt; color: #5f5f5f; margin-left: 1.5mm; }
.ruled { border-bottom: 1px solid #555; height: 8mm; margin: 2mm 0 1mm; }
.ruled.long + .ruled.long { margin-top: 0; }
.ruled.short { width: 45mm; display: inline-block; }
.legend { font-size: 9pt; color: #333; }
.legend td { padding: .6mm 3mm .6mm 0; vertical-align: top; }
.legend td:first-child { white-space: nowrap; }
@media screen {
  .page + .page { margin-top: 0; }
  .page::after { content: ""; display: block; }
  .page { position: relative; }
  .page + .page::before {
    content: ""; position: absolute; left: 0; right: 0; top: -6mm; border-top: 2px dashed #9a9a9a;
  }
}
@media print {
  body { background: #fff; font-size: 10.5pt; }
  .page { box-shadow: none; max-width: none; margin: 0; padding: 0; border-top: none;
          break-after: page; page-break-after: always; }
  .page:last-child { break-after: auto; page-break-after: auto; }
  h2, .qtext, .note { break-after: avoid; page-break-after: avoid; }
  .question.compact { break-inside: avoid; page-break-inside: avoid; }
}
"""


def _h(text: str) -> str:
    """Escape ``text`` for HTML and mark the placeholders that will be piped in (and unfilled consent ones)."""
    out = _PH_RE.sub(lambda m: f'<mark class="ph">[{m.group(1)}]</mark>', html.escape(text, quote=True))
    return _TODO_RE.sub(lambda m: f'<mark class="todo" title="to be filled in the study file">[{m.group(1)}]</mark>',
                        out)


def _html_matrix(q: Question, instrument: Instrument | None = None) -> list[str]:
    points = _scale_points(q)
    dk = _dont_know(q)
    out = ['<table class="matrix">', '<colgroup><col class="stmt-col">']
    out += ["<col>"] * (len(points) + (1 if dk else 0))
    out.append("</colgroup>")
    out.append('<thead><tr><th class="stmt-col" scope="col"><span class="meta">Statement</span></th>')
    for code, label in points:
        out.append(f'<th scope="col">{_h(label)}<span class="scale-code">{code}</span></th>')
    if dk:
        code = "" if dk[0] is None else str(dk[0])
        out.append(f'<th class="dk" scope="col">{_h(dk[1])}<span class="scale-code">{code}</span></th>')
    out.append("</tr></thead>")
    out.append("<tbody>")
    cells = "".join(f'<td aria-label="{html.escape(label)}">{_CIRCLE}</td>' for _, label in points)
    if dk:
        cells += f'<td class="dk" aria-label="{html.escape(dk[1])}">{_CIRCLE}</td>'
    for n, s in enumerate(q.statements, 1):
        cls = ' class="attention"' if s.role == "attention_check" else ""
        out.append(f'<tr{cls}><th scope="row"><span class="num">{n}.</span> {_h(s.text)}<br>'
                   f'<span class="meta">{html.escape(_stmt_meta(q, s, instrument))}</span></th>{cells}</tr>')
    out.append("</tbody></table>")
    return out


def _html_question(q: Question, number: int | None, instrument: Instrument | None = None) -> list[str]:
    compact = q.kind != "matrix"
    info = " info" if q.role == "info" else ""
    out = [f'<div class="question {q.kind.replace("_", "-")}{info}{" compact" if compact else ""}">']
    if q.kind == "descriptive":
        lead, sep, rest = q.text.partition(". ")
        if q.role == "info" and sep and len(lead) < 60:  # "About this study. ..." -> bold lead-in
            out.append(f'<p class="qtext"><strong>{_h(lead)}.</strong> {_h(rest)}</p></div>')
        else:
            out.append(f'<p class="qtext">{_h(q.text)}</p></div>')
        return out
    required = " \u00b7 required" if q.required else ""
    tag = f' <span class="meta">{html.escape(q.tag)}{required}</span>'
    out.append(f'<p class="qtext"><span class="qno">Q{number}.</span> {_h(q.text)}{tag}</p>')
    if q.shown_if is not None:
        out.append(f'<p class="routing">Shown only if {_h(_condition_text(instrument, q.shown_if))}; otherwise '
                   'skipped (answers structurally missing).</p>')
    notes = _question_notes(q)
    if notes:
        out.append(f'<p class="note">{html.escape(". ".join(notes))}.</p>')
    if q.kind == "matrix":
        out += _html_matrix(q, instrument)
    elif q.kind in ("text_entry", "numeric_entry"):
        if q.kind == "numeric_entry":
            out.append('<p><span class="ruled short"></span> <span class="meta">(number)</span></p>')
        else:
            out.append('<div class="ruled long"></div><div class="ruled long"></div>')
    elif q.choices:
        out.append('<ul class="choices">')
        for code, label in sorted(q.choices.items()):
            shown = q.scale.shown_label(code) if q.scale is not None and code in q.scale.labels else label
            coded = f" \u00b7 {label}" if shown != label else ""
            out.append(f'<li><span class="circle">{_CIRCLE}</span>{_h(shown)}<span class="code">({code}'
                       f'{html.escape(coded)})</span></li>')
        out.append("</ul>")
    else:
        out.append('<div class="ruled long"></div>')
    out.append("</div>")
    return out


def _number_questions(blocks: list[Block]) -> dict[int, int]:
    numbers: dict[int, int] = {}
    n = 0
    for b in blocks:
        for q in b.questions:
            if q.kind != "descriptive":
                n += 1
                numbers[id(q)] = n
    return numbers


def render_html(instrument: Instrument) -> str:
    """The printable questionnaire as one self-contained HTML5 document (A4, one printed page per block)."""
    routing = _routing(instrument)
    blocks = _ordered_blocks(instrument, routing)
    numbers = _number_questions(blocks)
    name = instrument.name
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(name)} \u2014 questionnaire</title>", f"<style>{_CSS}</style>", "</head>", "<body>"]

    # title page
    out.append('<section class="page title-page">')
    out.append('<p class="running">Printable questionnaire</p>')
    out.append(f"<h1>{_h(name)}</h1>")
    out.append("<dl>")
    if instrument.study:
        out.append(f"<dt>Study</dt><dd>{html.escape(instrument.study)}</dd>")
    out.append(f"<dt>Survey id</dt><dd>{html.escape(instrument.survey_id)}</dd>")
    out.append(f"<dt>Blocks</dt><dd>{len(blocks)}</dd>")
    out.append(f"<dt>Questions</dt><dd>{len(numbers)}</dd>")
    out.append("</dl>")
    out.append("<h2>Respondent versions</h2>")
    if instrument.versions:
        out.append("<ul>")
        for v in instrument.versions:
            code = _version_code(v)
            vb = _version_blocks(instrument, v)
            detail = f"{len(vb)} {_plural_blocks(len(vb))}" if vb else "no version-specific blocks"
            out.append(f"<li><strong>{html.escape(_version_name(v))}</strong>"
                       + (f' <span class="meta">(code {html.escape(code)})</span>' if code else "")
                       + f" \u2014 {detail}</li>")
        out.append("</ul>")
    else:
        out.append("<p>One version for all respondents.</p>")
    out.append("<h2>Estimated time</h2>")
    out += _html_timing(instrument)
    out.append("<h2>Routing</h2><ol>")
    out += [f"<li>{_h(line)}</li>" for line in routing.lines]
    out.append("</ol>")
    out.append("<h2>Contents</h2>")
    out.append('<ol class="toc">')
    for b in blocks:
        out.append(f'<li>{_h(b.title)} <span class="meta">\u2014 {html.escape(routing.audience[b.id])}</span></li>')
    out.append("</ol>")
    out.append("<h2>How to read this questionnaire</h2>")
    out.append('<table class="legend"><tbody>')
    legend = [
        ('<mark class="ph">[Provider]</mark>', "Text piped in for each respondent from the invitation link"
         + (" (" + ", ".join(f"[{k}] \u2192 {v}" for k, v in PLACEHOLDERS.items()) + ")")),
        (_CIRCLE, "One answer; matrix rows take one answer each"),
        ('<span class="meta">(R)</span>', "Reverse-keyed item (scored in reverse)"),
        ('<span class="meta">[attention check]</span>', "Attention-check statement"),
        ('<span class="meta">item_id \u00b7 variable</span>', "Item id in the item bank and export column name"),
        ('<span class="routing">Shown only if</span>', "Display logic: the question is skipped otherwise, and its "
         "missing answers are structural (not applicable)"),
        ('<mark class="todo">[SPONSOR]</mark>', "Consent text still to be filled in the study file "
         "(instrument.consent)"),
    ]
    for sym, text in legend:
        out.append(f"<tr><td>{sym}</td><td>{_h(text)}</td></tr>")
    out.append("</tbody></table>")
    out.append("</section>")

    # one page per block
    for k, b in enumerate(blocks, 1):
        out.append(f'<section class="page block-page" id="{html.escape(b.id)}">')
        out.append(f'<p class="running">{html.escape(name)} \u00b7 block {k} of {len(blocks)}</p>')
        out.append(f'<h2>{_h(b.title)} <span class="meta">{html.escape(b.name)}</span></h2>')
        out.append(f'<p class="who">Shown to: {_h(routing.audience[b.id])}</p>')
        if b.randomize_questions:
            out.append('<p class="note">Randomised order of questions in this block.</p>')
        if not b.questions:
            out.append('<p class="note">(No questions.)</p>')
        for q in b.questions:
            out += _html_question(q, numbers.get(id(q)), instrument)
        out.append("</section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _timing_rows(instrument: Instrument) -> list[tuple[str, dict]]:
    est = estimate(instrument)
    return list(est["versions"].items())


def _html_timing(instrument: Instrument) -> list[str]:
    cap = instrument.max_minutes
    out = ['<table class="timing"><thead><tr><th>Version</th><th>Answer items</th><th>Text entries</th>'
           "<th>Estimated minutes</th></tr></thead><tbody>"]
    for v, r in _timing_rows(instrument):
        over = cap is not None and r["estimated_minutes"] > cap
        mins = f'{r["estimated_minutes"]:g}'
        if "forms" in r:
            mins += (f' <span class="meta">(longest form; all items {r["estimated_minutes_all_items"]:g}: '
                     + ", ".join(f'form {k} {f["estimated_minutes"]:g}' for k, f in r["forms"].items()) + ")</span>")
        cls = ' class="over"' if over else ""
        out.append(f"<tr><td>{html.escape(_version_name(v))}</td><td class=\"n\">{r['n_items']}</td>"
                   f"<td class=\"n\">{r['n_text'] + r['n_open_text']}</td><td{cls}>about {mins}</td></tr>")
    out.append("</tbody></table>")
    note = f"Rule: {TIMING_RULE}."
    if cap is not None:
        note += f" Length cap (instrument.max_minutes): {cap:g} minutes."
    out.append(f'<p class="note">{html.escape(note)}</p>')
    return out


# --------------------------------------------------------------------------------------------- Markdown


_MD_SPECIAL = re.compile(r"([\\`*_|<>])")


def _m(text: str) -> str:
    """Escape Markdown syntax in ``text`` and make placeholders bold."""
    esc = _MD_SPECIAL.sub(r"\\\1", text.replace("\n", " "))
    esc = _PH_RE.sub(lambda m: f"**[{m.group(1)}]**", esc)
    return re.sub(r"\[([A-Z][A-Z\\_]{2,})\]", lambda m: f"**[{m.group(1)}]**", esc)


def _code(text: str) -> str:
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _question_notes(q: Question) -> list[str]:
    """Reader notes shown under a question (both renderers)."""
    notes = []
    if q.randomize:
        notes.append("Randomised order" + (" of statements" if q.kind == "matrix" else " of choices"))
    if q.kind == "single_choice":
        notes.append("Choose one answer")
    elif q.kind == "matrix":
        notes.append("One answer per row")
    if q.embedded_data:
        notes.append(f"The invitation link may carry the same key as embedded data field {q.embedded_data}")
    return notes


def _md_question(q: Question, number: int | None, instrument: Instrument | None = None) -> list[str]:
    if q.kind == "descriptive":
        return [_m(q.text) if q.role == "info" else f"_{_m(q.text)}_", ""]
    head = f"**Q{number}.** {_m(q.text)} {_code(q.tag)}" + (" (required)" if q.required else "")
    out = [head, ""]
    if q.shown_if is not None:
        out += [f"> Shown only if {_m(_condition_text(instrument, q.shown_if))}; otherwise skipped (answers "
                "structurally missing).", ""]
    notes = _question_notes(q)
    if notes:
        out += [f"_{_m('. '.join(notes))}._", ""]
    if q.kind == "matrix":
        points = _scale_points(q)
        dk = _dont_know(q)
        header = ["#", "Statement"] + [f"{_m(label)} ({code})" for code, label in points]
        if dk:
            header.append(_m(dk[1]) + ("" if dk[0] is None else f" ({dk[0]})"))
        out.append("| " + " | ".join(header) + " |")
        out.append("|---|---|" + ":-:|" * (len(header) - 2))
        for n, s in enumerate(q.statements, 1):
            row = [f"{n}.", f"{_m(s.text)} {_code(_stmt_meta(q, s, instrument))}"] + [_CIRCLE] * (len(header) - 2)
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    elif q.kind == "text_entry":
        out += ["Answer: " + "\\_" * 30, ""]
    elif q.kind == "numeric_entry":
        out += ["Number: " + "\\_" * 10, ""]
    elif q.choices:
        for code, label in sorted(q.choices.items()):
            shown = q.scale.shown_label(code) if q.scale is not None and code in q.scale.labels else label
            out.append(f"- {_CIRCLE} {_m(shown)} ({code}" + (f" \u00b7 {_m(label)}" if shown != label else "") + ")")
        out.append("")
    else:
        out += ["Answer: " + "\\_" * 20, ""]
    return out


def render_markdown(instrument: Instrument) -> str:
    """The printable questionnaire as Markdown: title section, then each block as a ``## `` heading (separated
    by ``---``), matrices as pipe tables with the scale labels as header."""
    routing = _routing(instrument)
    blocks = _ordered_blocks(instrument, routing)
    numbers = _number_questions(blocks)
    out = [f"# {_m(instrument.name)}", ""]
    if instrument.study:
        out.append(f"- **Study:** {_code(instrument.study)}")
    out += [f"- **Survey id:** {_code(instrument.survey_id)}", f"- **Blocks:** {len(blocks)}",
            f"- **Questions:** {len(numbers)}", ""]
    out += ["**Respondent versions**", ""]
    if instrument.versions:
        for v in instrument.versions:
            code = _version_code(v)
            vb = _version_blocks(instrument, v)
            detail = f"{len(vb)} {_plural_blocks(len(vb))}" if vb else "no version-specific blocks"
            out.append(f"- {_m(_version_name(v))}" + (f" (code {_code(code)})" if code else "") + f" \u2014 {detail}")
    else:
        out.append("- One version for all respondents.")
    out += ["", "**Estimated time**", ""]
    for v, r in _timing_rows(instrument):
        extra = ""
        if "forms" in r:
            extra = (f" (longest form; all items {r['estimated_minutes_all_items']:g}: "
                     + ", ".join(f"form {k} {f['estimated_minutes']:g}" for k, f in r["forms"].items()) + ")")
        over = " **over the cap**" if instrument.max_minutes is not None and \
            r["estimated_minutes"] > instrument.max_minutes else ""
        out.append(f"- {_m(_version_name(v))}: about {r['estimated_minutes']:g} minutes{extra}{over} "
                   f"({r['n_items']} answer items, {r['n_text'] + r['n_open_text']} text entries)")
    out += ["", f"_Rule: {_m(TIMING_RULE)}."
            + (f" Length cap (instrument.max_minutes): {instrument.max_minutes:g} minutes." if
               instrument.max_minutes is not None else "") + "_"]
    out += ["", "**Routing**", ""]
    out += [f"{k}. {_m(line)}" for k, line in enumerate(routing.lines, 1)]
    out += ["", "**Contents**", ""]
    out += [f"{k}. {_m(b.title)} \u2014 _{_m(routing.audience[b.id])}_" for k, b in enumerate(blocks, 1)]
    out += ["", "_Legend: **[Provider]** etc. = text piped in from the invitation link; "
            + _CIRCLE + " = one answer (one per matrix row); (R) = reverse-keyed item; "
            "[attention check] = attention-check statement; `item_id · variable` = item-bank id and export column._",
            ""]
    for b in blocks:
        out += ["---", "", f"## {_m(b.title)}", "", f"_Shown to: {_m(routing.audience[b.id])}_ \u00b7 {_code(b.name)}",
                ""]
        if b.randomize_questions:
            out += ["_Randomised order of questions in this block._", ""]
        for q in b.questions:
            out += _md_question(q, numbers.get(id(q)), instrument)
    return "\n".join(out).rstrip("\n") + "\n"
