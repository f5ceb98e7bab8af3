"""Content validity with a researcher's own judges (MacKenzie, Podsakoff & Podsakoff 2011, step 3).

Public API::

    task = sort_task(registry, family="A", per_construct=4, seed=1)   # an item-sort task (Anderson & Gerbing 1991)
    write_sort_task(task, "sort")          # judge_form.html, judge_survey.qsf, key.json
    score = score_sort("sort/key.json", ["judge1.json", "judges_export.csv"])   # psa, csv, agreement
    score.to_dict()                        # items, constructs, families, agreement, missing answers
    score_ratings("sort/key.json", ratings)   # Hinkin & Tracey (1999) style definition ratings
    fleiss_kappa(table)                    # Fleiss (1971) kappa of an items x categories count table
    overlap(registry, threshold=...)       # near wordings of items in constructs a hypothesis links

**Sort task.** Judges see only the construct *names and definitions* under neutral codes (``C01``, ``C02``, ...,
assigned in a seeded random order, so a code says nothing about a family or an id), one option ``NA`` ("none
of these / unclear"), and the items' full wordings under neutral numbers (``I001``, ...) in a seeded random
order. Registry ids, seed codes, facets and item ids never reach the judges: definitions lose their cross-references
(``(d_prac_co_evaluation)``, ``S003's``), and placeholders such as ``[Customer]`` are written ``[the customer]``
(not piped by Qualtrics). The key (``key.json``) maps numbers and codes back. Outputs are byte-identical for
identical inputs.

**Item text.** The wording of the chosen version (``wording="P"`` or ``"C"``; items without it, and every item
when ``wording`` is None, use the first of P, C, J, S roles (in the registry's order: staff, service user,
partner manager, funder, employer) that they have). An item that completes a shared stem
(family B phase items) is shown as the completed sentence: the stem without its closing ``...`` followed by the
item, which is what the respondent reads as one matrix question and statement.

**Scoring** (Anderson & Gerbing 1991): for each item, N judges answered it, n_c assigned it to its intended
construct and n_o is the largest number assigned to any *other single* construct (``NA`` answers count in N but
are no construct). psa = n_c / N (proportion of substantive agreement, 0..1) and csv = (n_c - n_o) / N
(substantive validity coefficient, -1..1). Judges who left an item unanswered are not in its N; every missing
answer is listed. An item "meets" the criteria when psa >= ``psa_min`` and csv > ``csv_min`` (defaults .75 and
0: vccscale's conventions, set them to your own). Agreement between judges: the share of items on which every
judge who answered chose the same code, and Fleiss' (1971) kappa over the codes (``NA`` included).

**Overlap** flags pairs of items in *different* constructs that a hypothesis links (so that shared wording would
inflate the very relation the hypothesis tests) whose wordings are near, by the cosine similarity of TF-IDF
vectors: word unigrams and bigrams (lower case, stop words removed, simple plural stemming) and character 3-5
grams; the combined score is their mean. Items may waive a pair (``waivers: [{lint: overlap, other: ITEM,
reason: ...}]``), and constructs a pair of repeated facet texts (``waivers: [{lint: overlap, facet: N, other:
CONSTRUCT, other_facet: M, reason: ...}]``).
"""
from __future__ import annotations

import csv
import hashlib
import html
import json
import math
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from .instrument.model import Instrument
    from .registry import Item, Registry

__all__ = ["NA_CODE", "NA_LABEL", "DEFAULT_KINDS", "OVERLAP_THRESHOLD", "FACET_THRESHOLD", "JudgeAnswerError",
           "SortItem", "SortConstruct", "SortTask", "SortScore", "RatingScore", "OverlapPair", "FacetOverlap",
           "OverlapResult", "item_text", "judge_text", "judge_definition", "sort_task", "sort_instrument",
           "write_sort_task", "read_key", "read_answers", "score_sort", "score_ratings", "read_ratings",
           "fleiss_kappa", "linked_constructs", "overlap", "text_similarity"]

NA_CODE = "NA"
NA_LABEL = "None of these / unclear"
#: item kinds a sort task uses by default (checklist and observed indicators are events and counts, not statements
#: about a construct; second-order constructs' own global items are left out as well, see sort_task)
DEFAULT_KINDS = ("reflective", "formative", "global")
#: default combined-score threshold of overlap(): see docs/content-validity.md for how it was chosen
OVERLAP_THRESHOLD = 0.30
#: default threshold for repeated facet texts across linked constructs
FACET_THRESHOLD = 0.50

INSTRUCTIONS = ("Below are the definitions of several concepts, each with a code. For each statement, choose the "
                "ONE definition the statement fits best, and mark its code. If the statement fits none of the "
                f"definitions, or you cannot tell, mark {NA_CODE} ({NA_LABEL.lower()}). There are no right or "
                "wrong answers about the statements themselves; we want to know which concept each one expresses.")
# how placeholders read to judges: bracketed, with a space, so Qualtrics does not pipe them
JUDGE_PLACEHOLDERS = {"Provider": "the provider", "Customer": "the customer", "Partner": "the partner",
                      "Network": "the network", "Organisation": "the organisation"}


class JudgeAnswerError(DataError, ValueError):
    """A judge's answer file names an item or code the key does not know, or cannot be read (a DataError and a
    ValueError; the CLI exits with code 1)."""


# ============================================================================================== item text
def item_text(registry: "Registry", item: "Item", key: str) -> str:
    """The full text of ``item`` in wording ``key`` (``P``, ``C``, ``J``, ``S:staff``, ...) as the respondent reads
    it: an item that completes a shared stem (``stems.yaml``) is the stem without its closing ``...`` plus the
    item; other items are their wording. Placeholders (``[Customer]``) are kept."""
    text = item.texts()[key]
    if item.stem and item.stem in registry.stems:
        stem = registry.stems[item.stem].text.strip()
        stem = re.sub(r"\s*(\.\.\.|\u2026)\s*$", "", stem)
        return f"{stem} {text.strip()}"
    return text.strip()


def judge_text(text: str) -> str:
    """``text`` with placeholders written for judges: ``[Customer]`` -> ``[the customer]`` (``[The customer]`` at
    the start of a sentence); a bracket with a space is not piped by Qualtrics."""
    def sub(m: re.Match) -> str:
        word = JUDGE_PLACEHOLDERS.get(m.group(1))
        if word is None:
            return m.group(0)
        start = m.start() == 0 or re.search(r"[.!?]\s*$", text[:m.start()]) is not None
        return "[" + (word[0].upper() + word[1:] if start else word) + "]"

    return re.sub(r"\[(\w+)\]", sub, text)


def judge_definition(definition: str, registry: "Registry") -> str:
    """A construct definition as judges see it: parenthetical construct ids (``(d_prac_co_evaluation)``) and seed
    codes (``S003's``) removed, any other construct id replaced by that construct's name."""
    ids = sorted(registry.constructs, key=len, reverse=True)
    idre = "|".join(re.escape(i) for i in ids)
    text = definition
    if idre:
        text = re.sub(r"\s*\((?:\s*(?:" + idre + r")\s*[,;/]?\s*)+\)", "", text)
        text = re.sub(r"\b(" + idre + r")\b", lambda m: registry.constructs[m.group(1)].name.lower(), text)
    text = re.sub(r"\bS\d{3}(?:['\u2019]s)?\s+", "", text)  # "S003's co-evaluation" -> "co-evaluation"
    text = re.sub(r"\bS\d{3}\b", "the source study", text)
    text = re.sub(r"\s{2,}", " ", text).replace(" .", ".").replace(" ,", ",")
    return text.strip()


def _pick_wording(item: "Item", wording: str | None) -> str:
    keys = list(item.texts())
    if wording is not None and wording in keys:
        return wording
    from .registry import STAKEHOLDER_ROLES

    order = {"P": 0, "C": 1, "J": 2} | {f"S:{r}": 3 + k for k, r in enumerate(STAKEHOLDER_ROLES)}
    return sorted(keys, key=lambda k: (order.get(k, 99), k))[0]


# ============================================================================================== the sort task
@dataclass(frozen=True)
class SortItem:
    number: str        # I001: what judges see
    item_id: str       # bank id (key only)
    construct: str     # intended construct id (key only)
    code: str          # the intended construct's code (key only)
    wording: str       # wording key used (P, C, J, S:role)
    text: str          # full text as judges read it


@dataclass(frozen=True)
class SortConstruct:
    code: str          # C01: what judges see, with name and definition
    construct: str     # construct id (key only)
    name: str
    definition: str    # as judges see it (judge_definition)
    family: str
    choice: int        # the Qualtrics choice id (and numeric export value) of the code


@dataclass(frozen=True)
class SortTask:
    items: tuple[SortItem, ...]
    constructs: tuple[SortConstruct, ...]     # in code order
    seed: int
    family: str | None
    per_construct: int | None
    wording: str | None
    na_choice: int
    title: str = "Which concept does each statement express?"

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.constructs] + [NA_CODE]

    def key(self) -> dict[str, Any]:
        """The key (what ``key.json`` holds): items with bank id, intended construct and code; constructs with
        code, id, name and definition (as shown); the settings."""
        from . import __version__

        return {
            "items": [{"item": i.number, "item_id": i.item_id, "construct": i.construct, "code": i.code,
                       "wording": i.wording} for i in self.items],
            "constructs": [{"code": c.code, "construct": c.construct, "name": c.name, "definition": c.definition,
                            "family": c.family, "choice": c.choice} for c in self.constructs],
            "na": {"code": NA_CODE, "label": NA_LABEL, "choice": self.na_choice},
            "seed": self.seed, "family": self.family, "per_construct": self.per_construct,
            "wording": self.wording, "vccscale_version": __version__,
        }


def _code_width(n: int) -> int:
    return max(2, len(str(n)))


def sort_task(registry: "Registry", family: str | None = None, per_construct: int | None = None, seed: int = 1,
              wording: str | None = None, *, constructs: Iterable[str] | None = None,
              kinds: Iterable[str] = DEFAULT_KINDS) -> SortTask:
    """An item-sort task for judges (Anderson & Gerbing 1991).

    ``family``: A-D (with the shared constructs the family uses) or X (shared constructs); None = every
    construct. ``constructs``: ids or patterns (``a_drv_*``) to restrict to. ``per_construct``: at most this many
    items per construct, drawn at random (None = all). ``seed``: the draw, the order of the items and the
    assignment of codes to constructs. ``wording``: P or C (or J, S:role); items without it use their first
    wording. ``kinds``: item kinds used (default reflective, formative, global; checklist and observed
    indicators are left out, and so are the global items of second-order constructs, whose definitions
    contain their first-order facets).
    """
    if per_construct is not None and (isinstance(per_construct, bool) or int(per_construct) < 1):
        raise DataError(f"per_construct must be a positive whole number or None, not {per_construct!r}",
                        field="per_construct")
    if family is not None:
        family = family.upper()
        if family not in ("A", "B", "C", "D", "X"):
            raise DataError(f"family must be one of A, B, C, D, X, not {family!r}", field="family")
    if wording is not None and not re.fullmatch(r"P|C|J|S:[a-z_]+", wording):
        raise DataError(f"wording must be P, C, J or S:<role>, not {wording!r}", field="wording")
    chosen = registry.constructs_in(family)
    if constructs is not None:
        wanted: set[str] = set()
        for pat in constructs:
            ids = registry.expand(pat)
            if not ids:
                raise DataError(f"no construct matches {pat!r}", field="constructs")
            wanted.update(ids)
            for cid in ids:  # a second-order construct brings its first-order constructs
                wanted.update(registry.constructs[cid].lower_order)
        chosen = [c for c in chosen if c.id in wanted]
    kinds = tuple(kinds)
    rng = random.Random(seed)
    pool: dict[str, list[Item]] = {}
    for c in chosen:
        if c.order == "second":
            continue
        its = sorted((i for i in registry.items_of(c.id) if i.kind in kinds), key=lambda i: i.id)
        if its:
            pool[c.id] = its
    if not pool:
        raise DataError("no items to sort: the chosen family/constructs have no items of the kinds "
                        f"{', '.join(kinds)}", field="family")
    cids = sorted(pool)
    # codes in a seeded order, so that C01 is not the first construct of the registry
    order = list(cids)
    rng.shuffle(order)
    width = _code_width(len(order))
    code_of = {cid: f"C{k:0{width}d}" for k, cid in enumerate(order, 1)}
    scs = tuple(SortConstruct(code=code_of[cid], construct=cid, name=registry.constructs[cid].name,
                              definition=judge_definition(registry.constructs[cid].definition, registry),
                              family=registry.constructs[cid].family, choice=k)
                for k, cid in enumerate(order, 1))
    drawn: list[Item] = []
    for cid in cids:
        its = pool[cid]
        if per_construct is not None and len(its) > per_construct:
            its = sorted(rng.sample(its, int(per_construct)), key=lambda i: i.id)
        drawn.extend(its)
    rng.shuffle(drawn)
    iw = max(3, len(str(len(drawn))))
    items = []
    for k, it in enumerate(drawn, 1):
        key = _pick_wording(it, wording)
        items.append(SortItem(number=f"I{k:0{iw}d}", item_id=it.id, construct=it.construct,
                              code=code_of[it.construct], wording=key,
                              text=judge_text(item_text(registry, it, key))))
    return SortTask(items=tuple(items), constructs=scs, seed=int(seed), family=family,
                    per_construct=None if per_construct is None else int(per_construct), wording=wording,
                    na_choice=len(order) + 1)


# ---------------------------------------------------------------------------------------------- writers
_FORM_CSS = """
@page { size: A4; margin: 16mm 15mm; }
* { box-sizing: border-box; }
body { margin: 0; color: #1a1a1a; background: #fff; font: 10.5pt/1.45 Georgia, Cambria, "Times New Roman", serif; }
main { max-width: 180mm; margin: 0 auto; padding: 10mm 0; }
h1, h2, th, .codes, .meta, .no { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
h1 { font-size: 17pt; margin: 0 0 3mm; }
h2 { font-size: 12.5pt; margin: 8mm 0 2mm; border-bottom: 1px solid #bbb; padding-bottom: 1mm; }
p.instructions { margin: 0 0 4mm; }
.meta { font-size: 8.5pt; color: #555; }
table.defs { width: 100%; border-collapse: collapse; font-size: 9.5pt; }
table.defs th, table.defs td { border-bottom: 1px solid #d4d4d4; padding: 1.4mm 1.5mm; vertical-align: top;
                               text-align: left; }
table.defs thead th { border-bottom: 1.5px solid #666; font-size: 8.5pt; }
table.defs td.code { font-family: system-ui, Arial, sans-serif; font-weight: 700; white-space: nowrap; }
table.defs td.name { font-weight: 600; width: 32%; }
table.defs tr { break-inside: avoid; page-break-inside: avoid; }
ol.items { list-style: none; padding: 0; margin: 0; }
ol.items li { border-bottom: 1px solid #e0e0e0; padding: 2mm 0 2.5mm; break-inside: avoid; page-break-inside: avoid; }
.no { font-weight: 700; font-size: 9pt; margin-right: 2mm; }
.stmt { display: inline; }
.codes { margin: 1.5mm 0 0 0; font-size: 8.5pt; color: #333; line-height: 1.9; }
.codes span { display: inline-block; min-width: 13mm; white-space: nowrap; }
.codes span::before { content: "\\25cb\\00a0"; font-size: 10pt; }
@media print { main { padding: 0; } h2 { break-after: avoid; page-break-after: avoid; } }
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def render_judge_form(task: SortTask) -> str:
    """The printable judge form: instructions, the definitions table, then the items, each with the codes."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_esc(task.title)}</title>", f"<style>{_FORM_CSS}</style>", "</head>", "<body>", "<main>",
           f"<h1>{_esc(task.title)}</h1>",
           '<p class="meta">Judge: ______________________ &nbsp; Date: ______________</p>',
           f'<p class="instructions">{_esc(INSTRUCTIONS)}</p>', "<h2>Definitions</h2>",
           '<table class="defs"><thead><tr><th>Code</th><th>Concept</th><th>Definition</th></tr></thead><tbody>']
    for c in task.constructs:
        out.append(f'<tr><td class="code">{_esc(c.code)}</td><td class="name">{_esc(c.name)}</td>'
                   f"<td>{_esc(c.definition)}</td></tr>")
    out.append(f'<tr><td class="code">{NA_CODE}</td><td class="name">{_esc(NA_LABEL)}</td>'
               "<td>The statement fits none of the definitions, or it is unclear which one it fits.</td></tr>")
    out += ["</tbody></table>", f"<h2>Statements ({len(task.items)})</h2>", '<ol class="items">']
    codes = "".join(f"<span>{_esc(code)}</span>" for code in task.codes)
    for it in task.items:
        out.append(f'<li><span class="no">{_esc(it.number)}</span><p class="stmt">{_esc(it.text)}</p>'
                   f'<div class="codes">{codes}</div></li>')
    out += ["</ol>", "</main>", "</body>", "</html>", ""]
    return "\n".join(out)


def _hash_id(prefix: str, *parts: str, n: int = 15) -> str:
    digest = int(hashlib.sha256("|".join(parts).encode()).hexdigest(), 16)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for _ in range(n):
        digest, r = divmod(digest, len(alphabet))
        out.append(alphabet[r])
    return prefix + "".join(out)


def sort_instrument(task: SortTask) -> "Instrument":
    """The judge survey as an :class:`~vccscale.instrument.model.Instrument` (written by the project's QSF
    writer): an instructions block with a text question ``judge`` (the judge's code), a definitions block (one
    text element per code) and the items block, one single-choice question per item (export tag ``I001``...)
    whose choices are the codes with the construct names and ``NA``. Choice ids (= numeric export values) are
    the codes' numbers (C07 -> 7) and ``na_choice`` for NA."""
    from .instrument.model import Block, Instrument, Question

    ident = "|".join(["vccscale-sort", str(task.seed), str(task.family), str(task.per_construct),
                      str(task.wording), *(i.item_id for i in task.items)])
    choices = {c.choice: f"{c.code} {c.name}" for c in task.constructs}
    choices[task.na_choice] = f"{NA_CODE} {NA_LABEL}"
    n = 0

    def qid() -> str:
        nonlocal n
        n += 1
        return f"QID{n}"

    intro = (Question(qid=qid(), tag="instructions", kind="descriptive", text=INSTRUCTIONS, role="question"),
             Question(qid=qid(), tag="judge", kind="text_entry", role="question",
                      text="Your judge code (as given to you by the researcher):"))
    defs = tuple(Question(qid=qid(), tag=f"def_{c.code}", kind="descriptive", role="question",
                          text=f"{c.code} {c.name}: {c.definition}") for c in task.constructs) + (
        Question(qid=qid(), tag=f"def_{NA_CODE}", kind="descriptive", role="question",
                 text=f"{NA_CODE} {NA_LABEL}: the statement fits none of the definitions, or it is unclear "
                      "which one it fits."),)
    items = tuple(Question(qid=qid(), tag=it.number, kind="single_choice", role="question", text=it.text,
                           choices=dict(choices)) for it in task.items)
    blocks = (Block(id=_hash_id("BL_", ident, "intro"), name="Instructions", title="Instructions", version=None,
                    questions=intro),
              Block(id=_hash_id("BL_", ident, "definitions"), name="Definitions", title="Definitions",
                    version=None, questions=defs),
              Block(id=_hash_id("BL_", ident, "items"), name="Statements", title="Statements", version=None,
                    questions=items))
    flow = tuple(("block", b.id) for b in blocks)
    return Instrument(name=task.title, survey_id=_hash_id("SV_", ident), blocks=blocks, flow=flow,
                      embedded_fields=(), versions=(), seed=task.seed, study=None)


def write_sort_task(task: SortTask, out_dir: str | Path) -> dict[str, Path]:
    """Write ``judge_form.html``, ``judge_survey.qsf`` and ``key.json`` into ``out_dir`` (created if missing);
    returns {kind: path}. Identical tasks give byte-identical files (no timestamps, sorted keys)."""
    from .instrument.qsf import write_qsf

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"judge_form": d / "judge_form.html", "judge_survey": d / "judge_survey.qsf", "key": d / "key.json"}
    paths["judge_form"].write_text(render_judge_form(task), encoding="utf-8", newline="\n")
    write_qsf(sort_instrument(task), paths["judge_survey"])
    paths["key"].write_text(json.dumps(task.key(), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                            encoding="utf-8", newline="\n")
    return paths


# ============================================================================================== the key
@dataclass(frozen=True)
class _Key:
    items: list[dict[str, Any]]
    constructs: list[dict[str, Any]]
    na_choice: int | None
    source: str
    raw: dict[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_number", {i["item"]: i for i in self.items})
        object.__setattr__(self, "by_id", {i["item_id"]: i for i in self.items})
        object.__setattr__(self, "by_code", {c["code"]: c for c in self.constructs})
        choice = {int(c["choice"]): c["code"] for c in self.constructs if c.get("choice") is not None}
        if self.na_choice is not None:
            choice[int(self.na_choice)] = NA_CODE
        object.__setattr__(self, "by_choice", choice)
        object.__setattr__(self, "by_name", {" ".join(c["name"].split()).casefold(): c["code"]
                                             for c in self.constructs})

    def item(self, ref: Any) -> dict[str, Any] | None:
        ref = str(ref).strip()
        return self.by_number.get(ref) or self.by_id.get(ref)  # type: ignore[attr-defined]

    @property
    def codes(self) -> list[str]:
        return [c["code"] for c in self.constructs] + [NA_CODE]


def read_key(key: "str | Path | Mapping[str, Any] | SortTask") -> _Key:
    """The key of a sort task: a ``key.json`` path, its parsed dict, or the :class:`SortTask`. Checks its shape
    (DataError naming the file and field)."""
    if isinstance(key, SortTask):
        raw, source = key.key(), "<sort task>"
    elif isinstance(key, Mapping):
        raw, source = dict(key), "<key>"
    else:
        p = Path(key)
        source = str(p)
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError("key file not found", file=p) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"not a sort-task key (key.json): {exc}", file=p) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list) or \
            not isinstance(raw.get("constructs"), list):
        raise DataError("not a sort-task key: expected an object with 'items' and 'constructs' lists", file=source)
    for k, it in enumerate(raw["items"]):
        if not isinstance(it, dict) or not all(isinstance(it.get(f), str) for f in ("item", "item_id", "construct",
                                                                                      "code")):
            raise DataError(f"key item #{k + 1} needs item, item_id, construct and code", file=source,
                            field="items")
    for k, c in enumerate(raw["constructs"]):
        if not isinstance(c, dict) or not all(isinstance(c.get(f), str) for f in ("code", "construct", "name")):
            raise DataError(f"key construct #{k + 1} needs code, construct and name", file=source,
                            field="constructs")
    codes = {c["code"] for c in raw["constructs"]}
    bad = [it["item"] for it in raw["items"] if it["code"] not in codes]
    if bad:
        raise DataError(f"key items with a code that is no construct code: {', '.join(bad[:5])}", file=source,
                        field="items")
    na = raw.get("na") if isinstance(raw.get("na"), dict) else {}
    return _Key(items=raw["items"], constructs=raw["constructs"], na_choice=na.get("choice"), source=source,
                raw=raw)


# ============================================================================================== judges' answers
def _code_of(value: Any, key: _Key) -> str | None:
    """A judge's answer as a code: ``C07``, ``NA``, ``"C07 Customer involvement"`` (choice-text export), the
    construct name, or the numeric choice (7). None = missing; unknown -> KeyError."""
    import numbers

    if value is None:
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise KeyError(value)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        f = float(value)
        if math.isnan(f):
            return None
        if not f.is_integer():
            raise KeyError(value)
        value = int(f)
    if isinstance(value, numbers.Integral):
        value = int(value)
        if value in key.by_choice:  # type: ignore[attr-defined]
            return key.by_choice[value]  # type: ignore[attr-defined]
        raise KeyError(value)
    s = " ".join(str(value).split())
    if not s:
        return None
    if s in key.codes:
        return s
    if s.upper() in key.codes:
        return s.upper()
    head = s.split(" ", 1)[0]
    if head in key.codes:
        return head
    if re.fullmatch(r"-?\d+", s):
        return _code_of(int(s), key)
    if s.casefold() in key.by_name:  # type: ignore[attr-defined]
        return key.by_name[s.casefold()]  # type: ignore[attr-defined]
    if s.casefold() == NA_LABEL.casefold() or s.casefold().startswith("none of these"):
        return NA_CODE
    raise KeyError(value)


def _judge_answers(judge: str, answers: Mapping[str, Any], key: _Key, source: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for ref, value in answers.items():
        it = key.item(ref)
        if it is None:
            raise JudgeAnswerError(f"judge {judge!r}: item {ref!r} is not in the key (known: "
                                   f"{key.items[0]['item']}..{key.items[-1]['item']} or their bank ids)",
                                   file=source, field=str(ref))
        try:
            code = _code_of(value, key)
        except KeyError:
            raise JudgeAnswerError(f"judge {judge!r}, item {ref!r}: unknown code {value!r} (codes: "
                                   f"{', '.join(key.codes)})", file=source, field=str(ref)) from None
        if it["item"] in out and out[it["item"]] is not None and code is not None and out[it["item"]] != code:
            raise JudgeAnswerError(f"judge {judge!r}: item {it['item']} answered twice ({out[it['item']]} and "
                                   f"{code})", file=source, field=str(ref))
        if out.get(it["item"]) is None:
            out[it["item"]] = code
    return out


def _judge_file(p: Path, what: str) -> Path:
    """``p`` if it exists, else the error naming it (judges' answers or ratings)."""
    if not p.exists():
        raise JudgeAnswerError(f"{what} file not found", file=p)
    return p


def _judge_json(p: Path, what: str):
    """The JSON content of a judges' answers or ratings file, or the error naming it."""
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JudgeAnswerError(f"not a JSON {what} file: {exc}", file=p) from None


def _answers_from_json(obj: Any, key: _Key, source: str) -> dict[str, dict[str, str | None]]:
    """{item: code} (one judge, named by the file's stem), {judge: {item: code}}, {"judge": J, "answers": {...}}
    or a list of the last two."""
    out: dict[str, dict[str, str | None]] = {}
    if isinstance(obj, Mapping) and obj and all(v is None or isinstance(v, (str, int)) for v in obj.values()) \
            and not ("judge" in obj and "answers" in obj):
        judge = Path(source).stem
        out[judge] = _judge_answers(judge, obj, key, source)
        return out

    def add(judge: Any, answers: Any) -> None:
        judge = str(judge)
        if not isinstance(answers, Mapping):
            raise JudgeAnswerError(f"judge {judge!r}: answers must be an object item -> code", file=source)
        if judge in out:
            raise JudgeAnswerError(f"judge {judge!r} appears twice", file=source)
        out[judge] = _judge_answers(judge, answers, key, source)

    items = obj if isinstance(obj, list) else [obj]
    for entry in items:
        if not isinstance(entry, Mapping):
            raise JudgeAnswerError("expected an object {judge: {item: code}} or {judge, answers}", file=source)
        if "answers" in entry and "judge" in entry:
            add(entry["judge"], entry["answers"])
        else:
            for judge, answers in entry.items():
                add(judge, answers)
    return out


def _answers_from_export(path: Path, key: _Key, notes: list[str]) -> dict[str, dict[str, str | None]]:
    """One judge per row of a Qualtrics export of the judge survey (three header rows, numeric or choice text).
    The judge is the ``judge`` answer, else the ResponseId, else the row. Survey previews and tests (Status 1,
    2) are left out (said in ``notes``)."""
    from .io import read_export

    ds = read_export(path, identifiers="drop")
    df = ds.data
    where = str(path)
    item_cols = [c for c in df.columns if key.item(c) is not None]
    if not item_cols:
        raise JudgeAnswerError(f"none of the key's items ({key.items[0]['item']}...) is a column of this export: "
                               "is it the export of the judge survey?", file=where)
    header_rows = {"qualtrics_csv": 3, "qualtrics_tsv": 3, "qualtrics_2016": 3, "legacy_csv": 2}.get(
        ds.source.format, 1)  # file row of data row k: k + header_rows + 1
    out: dict[str, dict[str, str | None]] = {}
    skipped = 0
    for k in range(len(df)):
        row = df.iloc[k]
        if "Status" in df.columns:
            st = row["Status"]
            try:
                if st is not None and not (isinstance(st, float) and math.isnan(st)) and int(st) in (1, 2):
                    skipped += 1
                    continue
            except (TypeError, ValueError):
                pass
        judge = None
        for col in ("judge", "ResponseId"):
            if col in df.columns:
                v = row[col]
                if isinstance(v, str) and v.strip():
                    judge = v.strip()
                    break
        judge = judge or f"row {k + header_rows + 1}"
        if judge in out:
            raise JudgeAnswerError(f"judge {judge!r} appears twice (rows of the export)", file=where,
                                   row=k + header_rows + 1)
        answers = {c: (None if _is_missing(row[c]) else row[c]) for c in item_cols}
        try:
            out[judge] = _judge_answers(judge, answers, key, where)
        except JudgeAnswerError as exc:
            raise JudgeAnswerError(exc.message, file=where, row=k + header_rows + 1, field=exc.field) from None
    if skipped:
        notes.append(f"{path}: {skipped} survey preview/test row(s) (Status 1 or 2) left out")
    return out


def _long_csv(path: Path) -> bool:
    """A plain CSV in long form: a header with the columns judge, item and code."""
    if path.suffix.lower() != ".csv":
        return False
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            head = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return False
    return {"judge", "item", "code"} <= {h.strip() for h in head}


def _answers_from_long_csv(path: Path, key: _Key) -> dict[str, dict[str, str | None]]:
    """One answer per row: columns judge, item, code (e.g. paper forms typed into a spreadsheet)."""
    from .csvsafe import unescape_cell

    per: dict[str, dict[str, Any]] = {}
    rows: dict[tuple[str, str], int] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for rown, rec in enumerate(csv.DictReader(fh), start=2):
            judge = unescape_cell(rec["judge"] or "").strip()
            item = unescape_cell(rec["item"] or "").strip()
            if not judge and not item:
                continue
            if not judge:
                raise JudgeAnswerError("a row without a judge", file=path, row=rown)
            if (judge, item) in rows:
                raise JudgeAnswerError(f"judge {judge!r}: item {item!r} on two rows ({rows[(judge, item)]} and "
                                       f"{rown})", file=path, row=rown)
            rows[(judge, item)] = rown
            per.setdefault(judge, {})[item] = unescape_cell(rec["code"] or "")
    out = {}
    for judge, answers in per.items():
        try:
            out[judge] = _judge_answers(judge, answers, key, str(path))
        except JudgeAnswerError as exc:
            row = rows.get((judge, exc.field or ""))
            raise JudgeAnswerError(exc.message, file=path, row=row, field=exc.field) from None
    return out


def _is_missing(v: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def read_answers(key: Any, answers: Any, notes: list[str] | None = None) -> dict[str, dict[str, str | None]]:
    """Judges' answers as {judge: {item number: code or None}}: ``answers`` is a mapping {judge: {item: code}}
    (items as ``I001`` or bank ids; codes as ``C07``, ``NA``, the construct name or the choice number), a path
    of a JSON file with such a mapping (or ``{"judge": J, "answers": {...}}``, or a list of those), a path of a
    Qualtrics export of the judge survey (.csv/.tsv/.zip, three header rows, one row per judge), a CSV in long
    form (columns ``judge, item, code``: paper forms typed into a spreadsheet), or a list of any of these.
    Unknown items or codes raise :class:`JudgeAnswerError` naming the file, judge and item."""
    k = key if isinstance(key, _Key) else read_key(key)
    notes = notes if notes is not None else []
    sources = answers if isinstance(answers, (list, tuple)) else [answers]
    out: dict[str, dict[str, str | None]] = {}
    origin: dict[str, str] = {}
    for src in sources:
        if isinstance(src, Mapping):
            got, where = _answers_from_json(src, k, "<answers>"), "<answers>"
        else:
            p = _judge_file(Path(src), "answers")
            where = str(p)
            if p.suffix.lower() == ".json":
                got = _answers_from_json(_judge_json(p, "answers"), k, where)
            elif _long_csv(p):
                got = _answers_from_long_csv(p, k)
            else:
                got = _answers_from_export(p, k, notes)
        for judge, ans in got.items():
            if judge in out:
                raise JudgeAnswerError(f"judge {judge!r} appears in two answer files ({origin[judge]} and {where})",
                                       file=where)
            out[judge] = ans
            origin[judge] = where
    if not out:
        raise JudgeAnswerError("no judges' answers given", file=None)
    return out


# ============================================================================================== scoring
def fleiss_kappa(table: Any) -> dict[str, Any]:
    """Fleiss' (1971) kappa of an items x categories table of counts (how many raters put item i in category j).

    Items may have different numbers of raters (missing answers): P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1)) per
    item with n_i >= 2 raters, P_bar their mean, p_j = sum_i n_ij / sum_i n_i, P_e = sum_j p_j^2 and
    kappa = (P_bar - P_e) / (1 - P_e); with equal n_i this is Fleiss' formula. Returns kappa, p_bar, p_e, the
    category proportions p_j and the number of items used. kappa is NaN when P_e = 1 (one category only)."""
    import numpy as np

    t = np.asarray(table, dtype=float)
    if t.ndim != 2:
        raise ValueError("fleiss_kappa needs a 2-d table items x categories")
    n_i = t.sum(axis=1)
    use = n_i >= 2
    t, n_i = t[use], n_i[use]
    if len(t) == 0:
        return {"kappa": float("nan"), "p_bar": float("nan"), "p_e": float("nan"), "p_j": [], "n_items": 0}
    p_i = ((t ** 2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_bar = float(p_i.mean())
    p_j = t.sum(axis=0) / n_i.sum()
    p_e = float((p_j ** 2).sum())
    kappa = (p_bar - p_e) / (1 - p_e) if p_e < 1 else float("nan")
    return {"kappa": float(kappa), "p_bar": p_bar, "p_e": p_e, "p_j": [float(x) for x in p_j],
            "n_items": int(len(t))}


@dataclass
class SortScore:
    """Result of :func:`score_sort`. ``items``: one record per key item; ``constructs`` and ``families``: the
    criteria per construct and family; ``agreement``: unanimity and Fleiss' kappa; ``missing``: every
    (judge, item) without an answer; ``notes``: what was left out and why."""

    items: list[dict[str, Any]]
    constructs: list[dict[str, Any]]
    families: list[dict[str, Any]]
    agreement: dict[str, Any]
    judges: list[str]
    missing: list[dict[str, str]]
    psa_min: float
    csv_min: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"n_judges": len(self.judges), "judges": self.judges, "n_items": len(self.items),
                "criteria": {"psa_min": self.psa_min, "csv_min": self.csv_min,
                             "meets": "psa >= psa_min and csv > csv_min"},
                "n_missing": len(self.missing), "missing": self.missing, "agreement": self.agreement,
                "items": self.items, "constructs": self.constructs, "families": self.families,
                "notes": self.notes}

    ITEM_COLUMNS = ("item", "item_id", "construct", "family", "code", "n_judges", "n_missing", "n_correct",
                    "n_na", "other_construct", "other_code", "n_other", "psa", "csv", "meets")

    def write_csv(self, path: str | Path) -> Path:
        """The per-item table as CSV (spreadsheet-safe cells)."""
        return _write_items_csv(path, self.ITEM_COLUMNS, self.items)


def _write_items_csv(path: str | Path, columns: tuple[str, ...], items: list[dict[str, Any]]) -> Path:
    """One row per item record in ``columns`` (None empty, booleans lower case; spreadsheet-safe cells)."""
    from .csvsafe import escape_row

    p = Path(path)
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in items:
            w.writerow(escape_row(["" if r.get(c) is None else (str(r[c]).lower() if isinstance(r[c], bool)
                                                                  else r[c]) for c in columns]))
    return p


def _family_of(key: _Key, construct: str) -> str:
    c = next((c for c in key.constructs if c["construct"] == construct), None)
    if c is not None and c.get("family"):
        return str(c["family"])
    prefix = construct.split("_", 1)[0]
    return prefix.upper() if prefix in ("a", "b", "c", "d", "x") else "?"


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def score_sort(key: Any, answers: Any, *, psa_min: float = 0.75, csv_min: float = 0.0) -> SortScore:
    """Score an item-sort task: psa and csv per item (Anderson & Gerbing 1991), the criteria per construct and
    family, agreement between judges (unanimity, Fleiss' kappa) and every missing answer.

    ``key``: ``key.json`` (path, dict or the SortTask); ``answers``: see :func:`read_answers`. Per item,
    N = judges who answered it, n_c = those who chose its intended construct, n_o = the most frequent other
    single construct (``NA`` is no construct: it counts in N only); psa = n_c / N, csv = (n_c - n_o) / N. An item
    nobody answered has psa and csv NaN and does not meet the criteria. An item meets them when
    psa >= ``psa_min`` and csv > ``csv_min``.
    """
    k = key if isinstance(key, _Key) else read_key(key)
    notes: list[str] = []
    judged = read_answers(k, answers, notes)
    judges = sorted(judged)
    codes = k.codes
    code_construct = {c["code"]: c["construct"] for c in k.constructs}
    items: list[dict[str, Any]] = []
    missing: list[dict[str, str]] = []
    table: list[list[int]] = []
    unanimous = 0
    rated = 0
    for it in k.items:
        num = it["item"]
        given = []
        for j in judges:
            code = judged[j].get(num)
            if code is None:
                missing.append({"judge": j, "item": num, "item_id": it["item_id"]})
            else:
                given.append(code)
        counts = {c: given.count(c) for c in codes}
        n = len(given)
        n_c = counts[it["code"]]
        others = sorted(((cnt, c) for c, cnt in counts.items() if c not in (it["code"], NA_CODE) and cnt > 0),
                        key=lambda x: (-x[0], x[1]))
        n_o = others[0][0] if others else 0
        psa = n_c / n if n else float("nan")
        csv_ = (n_c - n_o) / n if n else float("nan")
        items.append({
            "item": num, "item_id": it["item_id"], "construct": it["construct"],
            "family": _family_of(k, it["construct"]), "code": it["code"], "n_judges": n,
            "n_missing": len(judges) - n, "n_correct": n_c, "n_na": counts[NA_CODE],
            "other_construct": code_construct[others[0][1]] if others else None,
            "other_code": others[0][1] if others else None, "n_other": n_o,
            "other_tied": [code_construct[c] for cnt, c in others[1:] if cnt == n_o] if others else [],
            "psa": psa, "csv": csv_, "meets": bool(n and psa >= psa_min and csv_ > csv_min),
            "assignments": [{"code": c, "construct": code_construct.get(c), "n": cnt}
                            for c, cnt in counts.items() if cnt],
        })
        table.append([counts[c] for c in codes])
        if n >= 2:
            rated += 1
            unanimous += max(counts.values()) == n
    fk = fleiss_kappa(table)
    n_per_item = sorted({r["n_judges"] for r in items})
    agreement = {"n_items_rated": rated, "share_unanimous": unanimous / rated if rated else float("nan"),
                 "n_unanimous": unanimous, "fleiss_kappa": fk["kappa"], "fleiss_p_bar": fk["p_bar"],
                 "fleiss_p_e": fk["p_e"], "categories": codes,
                 "equal_judges_per_item": len(n_per_item) <= 1,
                 "note": "items with at least 2 answers; Fleiss' kappa over the codes including NA"
                         + ("" if len(n_per_item) <= 1 else "; judges per item differ (missing answers): "
                            "P_i per item over its own judges")}
    constructs = []
    for c in k.constructs:
        rows = [r for r in items if r["construct"] == c["construct"]]
        if not rows:
            continue
        n_meet = sum(r["meets"] for r in rows)
        constructs.append({"construct": c["construct"], "code": c["code"], "name": c["name"],
                           "family": _family_of(k, c["construct"]), "n_items": len(rows),
                           "mean_psa": _mean([r["psa"] for r in rows]), "mean_csv": _mean([r["csv"] for r in rows]),
                           "n_meeting": n_meet, "share_meeting": n_meet / len(rows),
                           "items_not_meeting": [r["item_id"] for r in rows if not r["meets"]]})
    constructs.sort(key=lambda r: r["construct"])
    families = []
    for fam in sorted({r["family"] for r in items}):
        rows = [r for r in items if r["family"] == fam]
        n_meet = sum(r["meets"] for r in rows)
        families.append({"family": fam, "n_items": len(rows), "n_meeting": n_meet, "share_meeting": n_meet / len(rows),
                         "mean_psa": _mean([r["psa"] for r in rows]), "mean_csv": _mean([r["csv"] for r in rows])})
    if missing:
        notes.append(f"{len(missing)} missing answer(s) (judge, item): not counted in those items' N")
    never = [r["item"] for r in items if r["n_judges"] == 0]
    if never:
        notes.append(f"{len(never)} item(s) nobody answered: {', '.join(never[:10])}")
    return SortScore(items=items, constructs=constructs, families=families, agreement=agreement, judges=judges,
                     missing=missing, psa_min=float(psa_min), csv_min=float(csv_min), notes=notes)


# ---------------------------------------------------------------------------------------------- ratings (H&T)
@dataclass
class RatingScore:
    """Result of :func:`score_ratings`: one record per rated item, a summary per construct, the judges."""

    items: list[dict[str, Any]]
    constructs: list[dict[str, Any]]
    judges: list[str]
    alpha: float
    missing: list[dict[str, str]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"n_judges": len(self.judges), "judges": self.judges, "n_items": len(self.items),
                "alpha": self.alpha, "n_missing": len(self.missing), "missing": self.missing,
                "items": self.items, "constructs": self.constructs, "notes": self.notes}

    ITEM_COLUMNS = ("item", "item_id", "construct", "code", "n_judges", "mean_intended", "best_other_code",
                    "best_other_construct", "mean_best_other", "difference", "f", "p_anova", "t", "p_t",
                    "intended_highest", "supported")

    def write_csv(self, path: str | Path) -> Path:
        return _write_items_csv(path, self.ITEM_COLUMNS, self.items)


def read_ratings(key: Any, ratings: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Definition ratings as {judge: {item number: {code: rating}}}. ``ratings``: that mapping (items as
    ``I001`` or bank ids), a JSON file holding it, a CSV file with columns ``judge, item, code, rating`` (one
    rating per row), or a list of these. Unknown items or codes raise :class:`JudgeAnswerError`."""
    k = key if isinstance(key, _Key) else read_key(key)
    sources = ratings if isinstance(ratings, (list, tuple)) else [ratings]
    out: dict[str, dict[str, dict[str, float]]] = {}
    construct_codes = [c["code"] for c in k.constructs]

    def add(judge: str, item_ref: Any, code_ref: Any, value: Any, where: str, row: int | None = None) -> None:
        it = k.item(item_ref)
        if it is None:
            raise JudgeAnswerError(f"judge {judge!r}: item {item_ref!r} is not in the key", file=where, row=row,
                                   field=str(item_ref))
        code = str(code_ref).strip()
        if code not in construct_codes:
            raise JudgeAnswerError(f"judge {judge!r}, item {item_ref!r}: unknown definition code {code_ref!r} "
                                   f"(codes: {', '.join(construct_codes)})", file=where, row=row,
                                   field=str(item_ref))
        if value is None or (isinstance(value, str) and not value.strip()):
            return
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise JudgeAnswerError(f"judge {judge!r}, item {item_ref!r}, definition {code}: rating {value!r} is "
                                   "not a number", file=where, row=row, field=str(item_ref)) from None
        if math.isnan(x):
            return
        out.setdefault(judge, {}).setdefault(it["item"], {})[code] = x

    for src in sources:
        if isinstance(src, Mapping):
            obj, where = src, "<ratings>"
        else:
            p = _judge_file(Path(src), "ratings")
            where = str(p)
            if p.suffix.lower() == ".json":
                obj = _judge_json(p, "ratings")
            else:
                with open(p, newline="", encoding="utf-8-sig") as fh:
                    reader = csv.DictReader(fh)
                    need = {"judge", "item", "code", "rating"}
                    if not need <= set(reader.fieldnames or []):
                        raise JudgeAnswerError(f"a ratings CSV needs the columns {', '.join(sorted(need))}",
                                               file=p)
                    for rown, rec in enumerate(reader, start=2):
                        add(rec["judge"].strip(), rec["item"], rec["code"], rec["rating"], where, rown)
                continue
        if not isinstance(obj, Mapping):
            raise JudgeAnswerError("expected an object {judge: {item: {code: rating}}}", file=where)
        for judge, per_item in obj.items():
            if not isinstance(per_item, Mapping):
                raise JudgeAnswerError(f"judge {judge!r}: expected {{item: {{code: rating}}}}", file=where)
            for item_ref, per_code in per_item.items():
                if not isinstance(per_code, Mapping):
                    raise JudgeAnswerError(f"judge {judge!r}, item {item_ref!r}: expected {{code: rating}}",
                                           file=where, field=str(item_ref))
                for code, value in per_code.items():
                    add(str(judge), item_ref, code, value, where)
    if not out:
        raise JudgeAnswerError("no ratings given", file=None)
    return out


def score_ratings(key: Any, ratings: Any, *, alpha: float = 0.05) -> RatingScore:
    """Content adequacy from definition ratings, after Hinkin & Tracey (1999).

    Judges rate how well each item matches each definition (e.g. 1 = not at all ... 5 = completely). Per item:
    the mean rating on its intended definition and on every other rated definition, the best other definition
    and the difference; a one-way ANOVA across the definitions' ratings of the item (``scipy.stats.f_oneway``; it
    treats the definitions' ratings as independent groups although the same judges give them, the simple form
    used here); and a one-sided paired t-test of the intended definition against the best other one over the
    judges who rated both (``scipy.stats.ttest_rel``, alternative "greater"). ``supported``: the intended mean
    is the highest and that t-test has p < ``alpha``. Ratings that are not given are missing (listed per judge
    and item when a judge rated some but not all definitions of an item, or not the intended one).
    """
    import warnings

    import numpy as np
    from scipy import stats

    k = key if isinstance(key, _Key) else read_key(key)
    data = read_ratings(k, ratings)
    judges = sorted(data)
    code_construct = {c["code"]: c["construct"] for c in k.constructs}
    items: list[dict[str, Any]] = []
    missing: list[dict[str, str]] = []
    notes: list[str] = []
    for it in k.items:
        num = it["item"]
        per_code: dict[str, dict[str, float]] = {}
        for j in judges:
            for code, x in data[j].get(num, {}).items():
                per_code.setdefault(code, {})[j] = x
        if not per_code:
            continue  # an item nobody rated: not part of this rating study
        raters = sorted({j for v in per_code.values() for j in v})
        for j in raters:
            if j not in per_code.get(it["code"], {}):
                missing.append({"judge": j, "item": num, "item_id": it["item_id"], "code": it["code"]})
        means = {c: float(np.mean(list(v.values()))) for c, v in sorted(per_code.items())}
        intended = means.get(it["code"], float("nan"))
        others = sorted(((m, c) for c, m in means.items() if c != it["code"]), key=lambda x: (-x[0], x[1]))
        best_m, best_c = others[0] if others else (float("nan"), None)
        rec: dict[str, Any] = {"item": num, "item_id": it["item_id"], "construct": it["construct"],
                               "code": it["code"], "n_judges": len(raters), "mean_intended": intended,
                               "best_other_code": best_c,
                               "best_other_construct": code_construct.get(best_c) if best_c else None,
                               "mean_best_other": best_m, "difference": intended - best_m,
                               "means": [{"code": c, "construct": code_construct.get(c), "mean": means[c],
                                          "n": len(per_code[c])} for c in sorted(means)],
                               "f": float("nan"), "p_anova": float("nan"), "t": float("nan"), "p_t": float("nan"),
                               "n_pairs": 0}
        groups = [np.array(list(v.values()), dtype=float) for _, v in sorted(per_code.items())]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if len(groups) >= 2 and all(len(g) >= 1 for g in groups) and sum(len(g) for g in groups) > len(groups):
                res = stats.f_oneway(*groups)
                rec["f"], rec["p_anova"] = float(res.statistic), float(res.pvalue)
            if best_c is not None and it["code"] in per_code:
                both = sorted(set(per_code[it["code"]]) & set(per_code[best_c]))
                rec["n_pairs"] = len(both)
                if len(both) >= 2:
                    a = np.array([per_code[it["code"]][j] for j in both])
                    b = np.array([per_code[best_c][j] for j in both])
                    res = stats.ttest_rel(a, b, alternative="greater")
                    rec["t"], rec["p_t"] = float(res.statistic), float(res.pvalue)
        highest = bool(others and not math.isnan(intended) and intended > best_m)
        rec["intended_highest"] = highest
        rec["supported"] = bool(highest and not math.isnan(rec["p_t"]) and rec["p_t"] < alpha)
        items.append(rec)
    constructs = []
    for c in k.constructs:
        rows = [r for r in items if r["construct"] == c["construct"]]
        if rows:
            n_sup = sum(r["supported"] for r in rows)
            constructs.append({"construct": c["construct"], "code": c["code"], "name": c["name"],
                               "n_items": len(rows), "n_supported": n_sup, "share_supported": n_sup / len(rows),
                               "mean_difference": _mean([r["difference"] for r in rows]),
                               "items_not_supported": [r["item_id"] for r in rows if not r["supported"]]})
    constructs.sort(key=lambda r: r["construct"])
    if missing:
        notes.append(f"{len(missing)} judge-item pair(s) without a rating on the intended definition")
    return RatingScore(items=items, constructs=constructs, judges=judges, alpha=float(alpha), missing=missing,
                       notes=notes)


# ============================================================================================== overlap
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but
by can could did do does doing down during each few for from further had has have having he her here hers herself
him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where which while who whom why
will with would you your yours yourself yourselves us may might must shall also each every one ones whether
""".split())
_TOKEN = re.compile(r"[a-z0-9]+")
_PLACEHOLDER = re.compile(r"\[[^\]]+\]")


def _stem(w: str) -> str:
    """Simple plural stemming: ``policies`` -> ``policy``, ``partners`` -> ``partner``; ``process``, ``analysis``,
    ``status`` stay."""
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith("sses"):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def _clean_text(text: str) -> str:
    t = _PLACEHOLDER.sub(" ", text.lower().replace("\u2019", "'"))
    t = re.sub(r"'s\b", "", t)
    return " ".join(_TOKEN.findall(t))


def _word_features(text: str) -> list[str]:
    words = [_stem(w) for w in _clean_text(text).split() if w not in STOPWORDS and len(w) > 1]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def _char_features(text: str) -> list[str]:
    words = [w for w in _clean_text(text).split() if w not in STOPWORDS]
    s = " " + " ".join(words) + " "
    return [s[i:i + n] for n in (3, 4, 5) for i in range(len(s) - n + 1)]


def _tfidf(docs: list[list[str]]):
    """L2-normalised TF-IDF rows (scipy CSR): raw term counts times smoothed idf = ln((1 + n) / (1 + df)) + 1."""
    import numpy as np
    from scipy import sparse

    vocab: dict[str, int] = {}
    for d in docs:
        for f in d:
            if f not in vocab:
                vocab[f] = len(vocab)
    rows, cols, vals = [], [], []
    for r, d in enumerate(docs):
        counts: dict[int, int] = {}
        for f in d:
            counts[vocab[f]] = counts.get(vocab[f], 0) + 1
        for c, v in sorted(counts.items()):
            rows.append(r)
            cols.append(c)
            vals.append(float(v))
    m = sparse.csr_matrix((np.array(vals), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
                          shape=(len(docs), max(1, len(vocab))))
    df = np.bincount(m.indices, minlength=m.shape[1])
    idf = np.log((1 + len(docs)) / (1 + df)) + 1.0
    m = m @ sparse.diags(idf)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ m


def text_similarity(texts: list[str], corpus: list[str] | None = None) -> tuple[Any, Any]:
    """(word_sim, char_sim): cosine similarity matrices of ``texts`` by TF-IDF of word unigrams + bigrams and of
    character 3-5 grams; idf from ``corpus`` + ``texts`` (default: ``texts``). The combined score of overlap()
    is their mean."""
    corpus = list(texts) + list(corpus or [])
    n = len(texts)
    w = _tfidf([_word_features(t) for t in corpus])[:n]
    c = _tfidf([_char_features(t) for t in corpus])[:n]
    return (w @ w.T).toarray(), (c @ c.T).toarray()


def _descendants(registry: "Registry", cid: str) -> list[str]:
    out = [cid]
    for lo in registry.constructs[cid].lower_order:
        out += [x for x in _descendants(registry, lo) if x not in out]
    return out


#: relation type -> the pairs of its construct roles that it links
_LINKS = {
    "path": lambda r: [(r.from_, r.to)],
    "indirect": lambda r: [(a, b) for k, a in enumerate([r.from_, *r.via, r.to])
                           for b in [r.from_, *r.via, r.to][k + 1:]],
    "interaction": lambda r: [(r.from_, r.to), (r.moderator, r.to), (r.from_, r.moderator)],
    "congruence": lambda r: [(r.x, r.to), (r.y, r.to), (r.x, r.y)],
    "covariance": lambda r: [tuple(r.between)],
    "group_moderation": lambda r: [(r.from_, r.to)],
    "necessity": lambda r: [(r.condition, r.outcome)],
    "distinct": lambda r: [(a, b) for k, a in enumerate(r.constructs) for b in r.constructs[k + 1:]],
}


def linked_constructs(registry: "Registry") -> dict[tuple[str, str], list[str]]:
    """Pairs of constructs (sorted ids) that a hypothesis links, with the hypotheses (``H5:path``). Relations:
    path (from-to), indirect (every pair of the chain), interaction (predictor, moderator and outcome pairwise),
    congruence (x, y and outcome pairwise), covariance, group moderation (from-to), necessity (condition-outcome)
    and distinct (every pair). Patterns (``d_cap_*``) are expanded and a second-order construct stands for itself
    and its first-order constructs (whose items measure it). Structure, nesting, invariance and group-difference
    relations link no pair of distinct constructs in this sense and are not used."""
    out: dict[tuple[str, str], list[str]] = {}
    for h in registry.hypotheses.values():
        for rel in h.relations:
            fn = _LINKS.get(rel.type)
            if fn is None:
                continue
            for a, b in fn(rel):
                xs = [d for c in registry.expand(a) for d in _descendants(registry, c)]
                ys = [d for c in registry.expand(b) for d in _descendants(registry, c)]
                for x in xs:
                    for y in ys:
                        if x == y:
                            continue
                        pair = (x, y) if x < y else (y, x)
                        tag = f"{h.id}:{rel.type}"
                        lst = out.setdefault(pair, [])
                        if tag not in lst:
                            lst.append(tag)
    return out


@dataclass(frozen=True)
class OverlapPair:
    item_a: str
    item_b: str
    construct_a: str
    construct_b: str
    wording_a: str
    wording_b: str
    text_a: str
    text_b: str
    word_sim: float
    char_sim: float
    score: float
    hypotheses: tuple[str, ...]
    waived: bool
    waiver_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hypotheses"] = list(self.hypotheses)
        return d


@dataclass(frozen=True)
class FacetOverlap:
    construct_a: str
    facet_a: int
    facet_text_a: str
    construct_b: str
    facet_b: int
    facet_text_b: str
    word_sim: float
    char_sim: float
    score: float
    hypotheses: tuple[str, ...]
    items_a: tuple[str, ...]
    items_b: tuple[str, ...]
    waived: bool = False
    waiver_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("hypotheses", "items_a", "items_b"):
            d[k] = list(d[k])
        return d


@dataclass
class OverlapResult:
    pairs: list[OverlapPair]         # at or above the threshold (waived ones only with include_waived)
    facets: list[FacetOverlap]       # at or above the facet threshold (waived ones only with include_waived)
    threshold: float
    facet_threshold: float
    n_compared: int                  # item pairs compared
    n_waived: int                    # pairs at or above the threshold that a waiver covers
    distribution: dict[str, Any]     # quantiles of the combined score over the compared pairs
    n_facets_waived: int = 0         # facet pairs at or above the facet threshold that a construct waives

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "facet_threshold": self.facet_threshold,
                "n_compared": self.n_compared, "n_pairs": sum(not p.waived for p in self.pairs),
                "n_waived": self.n_waived, "n_facet_pairs": sum(not f.waived for f in self.facets),
                "n_facets_waived": self.n_facets_waived, "distribution": self.distribution,
                "pairs": [p.to_dict() for p in self.pairs], "facets": [f.to_dict() for f in self.facets]}


def _overlap_waiver(a: "Item", b: "Item") -> str | None:
    for x, y in ((a, b), (b, a)):
        for w in x.waivers:
            if w.lint == "overlap" and getattr(w, "other", None) == y.id:
                return w.reason
    return None


def _facet_waiver(registry: "Registry", ca: str, ka: int, cb: str, kb: int) -> str | None:
    for x, fx, y, fy in ((ca, ka, cb, kb), (cb, kb, ca, ka)):
        for w in registry.constructs[x].waivers:
            if w.lint == "overlap" and w.facet == fx and w.other == y and w.other_facet == fy:
                return w.reason
    return None


def overlap(registry: "Registry", threshold: float = OVERLAP_THRESHOLD, *, family: str | None = None,
            hypotheses: bool = True, include_waived: bool = False,
            facet_threshold: float = FACET_THRESHOLD) -> OverlapResult:
    """Near wordings of items in different constructs that a hypothesis links (:func:`linked_constructs`), and
    repeated facet texts across linked constructs.

    Every wording of an item (P, C, J, S roles; stems left out, placeholders removed) is compared with every
    wording of the other; a pair's word_sim, char_sim and score (their mean) are those of its most similar
    wordings, with idf over every wording of the bank. Pairs with score >= ``threshold`` are reported, those an
    item waives (``{lint: overlap, other: <item>, reason: ...}``) only with ``include_waived`` (marked waived).
    ``family``: only pairs with at least one construct of that family (shared constructs it uses included).
    ``hypotheses=False`` compares every pair of items in different constructs (no hypothesis needed).
    Facets: pairs of facet texts of linked constructs with score >= ``facet_threshold``, with the items written
    for each facet; those a construct waives (``{lint: overlap, facet: N, other: <construct>, other_facet: M,
    reason: ...}``) only with ``include_waived`` (marked waived). ``distribution``: quantiles of the score over
    all compared item pairs."""
    import numpy as np

    links = linked_constructs(registry)
    fam_ids = {c.id for c in registry.constructs_in(family)} if family else None
    by_construct: dict[str, list[Item]] = {}
    for it in registry.items.values():
        by_construct.setdefault(it.construct, []).append(it)
    if hypotheses:
        cpairs = sorted(links)
    else:
        cs = sorted(by_construct)
        cpairs = [(a, b) for k, a in enumerate(cs) for b in cs[k + 1:]]
    if fam_ids is not None:
        cpairs = [p for p in cpairs if p[0] in fam_ids or p[1] in fam_ids]
    cpairs = [p for p in cpairs if p[0] in by_construct and p[1] in by_construct]

    # every wording of the bank, once
    texts: list[str] = []
    index: dict[str, list[tuple[str, int]]] = {}
    for iid in sorted(registry.items):
        for key, t in registry.items[iid].texts().items():
            index.setdefault(iid, []).append((key, len(texts)))
            texts.append(t)
    wsim, csim = text_similarity(texts)
    score = (wsim + csim) / 2.0

    pairs: list[OverlapPair] = []
    all_scores: list[float] = []
    n_waived = 0
    for ca, cb in cpairs:
        hyps = tuple(links.get((ca, cb), ()))
        for a in sorted(by_construct[ca], key=lambda i: i.id):
            ia = index[a.id]
            for b in sorted(by_construct[cb], key=lambda i: i.id):
                ib = index[b.id]
                best = max(((score[x, y], ka, kb, x, y) for ka, x in ia for kb, y in ib),
                           key=lambda t: (t[0], -t[3], -t[4]))
                s = float(best[0])
                all_scores.append(s)
                if s < threshold:
                    continue
                reason = _overlap_waiver(a, b)
                if reason is not None:
                    n_waived += 1
                    if not include_waived:
                        continue
                _, ka, kb, x, y = best
                pairs.append(OverlapPair(item_a=a.id, item_b=b.id, construct_a=ca, construct_b=cb, wording_a=ka,
                                         wording_b=kb, text_a=texts[x], text_b=texts[y],
                                         word_sim=round(float(wsim[x, y]), 4), char_sim=round(float(csim[x, y]), 4),
                                         score=round(s, 4), hypotheses=hyps, waived=reason is not None,
                                         waiver_reason=reason))
    pairs.sort(key=lambda p: (-p.score, p.item_a, p.item_b))

    # facets
    facet_texts: list[str] = []
    fidx: dict[tuple[str, int], int] = {}
    for cid in sorted(registry.constructs):
        for k, f in enumerate(registry.constructs[cid].facets, 1):
            fidx[(cid, k)] = len(facet_texts)
            facet_texts.append(f)
    facets: list[FacetOverlap] = []
    n_facets_waived = 0
    if facet_texts:
        fw, fc = text_similarity(facet_texts)
        fs = (fw + fc) / 2.0
        for ca, cb in cpairs:
            for ka, fa in enumerate(registry.constructs[ca].facets, 1):
                for kb, fb in enumerate(registry.constructs[cb].facets, 1):
                    x, y = fidx[(ca, ka)], fidx[(cb, kb)]
                    if fs[x, y] < facet_threshold:
                        continue
                    freason = _facet_waiver(registry, ca, ka, cb, kb)
                    if freason is not None:
                        n_facets_waived += 1
                        if not include_waived:
                            continue
                    facets.append(FacetOverlap(
                        construct_a=ca, facet_a=ka, facet_text_a=fa, construct_b=cb, facet_b=kb,
                        facet_text_b=fb, word_sim=round(float(fw[x, y]), 4), char_sim=round(float(fc[x, y]), 4),
                        score=round(float(fs[x, y]), 4), hypotheses=tuple(links.get((ca, cb), ())),
                        items_a=tuple(i.id for i in sorted(by_construct[ca], key=lambda i: i.id)
                                      if i.facet == ka and i.kind != "global"),
                        items_b=tuple(i.id for i in sorted(by_construct[cb], key=lambda i: i.id)
                                      if i.facet == kb and i.kind != "global"),
                        waived=freason is not None, waiver_reason=freason))
        facets.sort(key=lambda f: (-f.score, f.construct_a, f.facet_a, f.construct_b, f.facet_b))

    arr = np.array(all_scores) if all_scores else np.array([np.nan])
    qs = (0.5, 0.9, 0.95, 0.99, 0.999)
    distribution = {"n": len(all_scores), "mean": float(np.nanmean(arr)) if all_scores else None,
                    "quantiles": {f"q{int(q * 1000) / 10:g}".replace(".", "_"): (float(np.quantile(arr, q))
                                                                               if all_scores else None) for q in qs},
                    "max": float(np.max(arr)) if all_scores else None,
                    "at_or_above": [{"threshold": t, "n_pairs": int(np.sum(arr >= t))}
                                    for t in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)] if all_scores else []}
    return OverlapResult(pairs=pairs, facets=facets, threshold=float(threshold),
                         facet_threshold=float(facet_threshold), n_compared=len(all_scores), n_waived=n_waived,
                         distribution=distribution, n_facets_waived=n_facets_waived)
