"""Item-bank lints (the rules of ``instruments/ITEM_WRITING.md``).

``lint_registry(registry)`` returns a list of :class:`Finding`; a finding that an item waives (``waivers:`` with
a reason) is dropped unless ``include_waived=True``. The test suite requires no unwaived findings in the
shipped bank; ``vccscale items lint`` runs the same checks on a researcher's own registry.

Lints: ``too_few_items`` (a reflective construct with fewer than 3 items for a wording), ``too_few_global_items``,
``facet_uncovered``, ``long_item`` (over 25 words), ``double_barrelled``, ``double_negative`` (negation in a
reverse-keyed item), ``reverse_balance`` (scales of 6+ items need 1-2 reverse-keyed items, none more than 2),
``near_duplicate``, ``vc_vk_commensurate`` (paired VC/VK items share stem and scale), ``unknown_waiver`` (also an
``overlap`` waiver that names no other item, or an item that does not exist, and a construct's facet-pair waiver
whose other construct or facet does not exist).

``overlap`` is not checked here: ``vccscale items overlap`` (:func:`vccscale.content.overlap`) lists near wordings
of items in constructs a hypothesis links. An item waives one such pair with ``{lint: overlap, other: <item id>,
reason: ...}``; the name is in :data:`LINTS` so that the waiver is known. A construct waives a pair of repeated
facet texts with ``{lint: overlap, facet: N, other: <construct id>, other_facet: M, reason: ...}``.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass
from itertools import combinations

from .registry import Item, Registry

LINTS = ("too_few_items", "too_few_global_items", "facet_uncovered", "long_item", "double_barrelled",
         "double_negative", "reverse_balance", "near_duplicate", "vc_vk_commensurate", "unknown_waiver", "overlap")
MAX_WORDS = 25
MIN_ITEMS = 3
NEGATIONS = ("not", "no", "never", "nor", "neither", "without", "hardly", "rarely", "seldom", "none", "nothing",
             "nobody", "cannot")
_WORD = re.compile(r"\[[^\]]+\]|[A-Za-z0-9\u00C0-\u024F]+(?:['\u2019][A-Za-z]+)*")
_PLACEHOLDER = re.compile(r"\[[^\]]+\]")
# Pairs joined by "and"/"or" that name one thing are allowed by default; lint.yaml can add more.
DEFAULT_ALLOWED_PAIRS = (
    "we and [partner]", "[partner] and we", "[partner] and us", "us and [partner]", "you and [partner]",
    "[provider] and [customer]", "[customer] and [provider]", "provider and customer", "customer and provider",
    "risks and rewards", "risks and benefits", "gains and pains", "gain and pain", "pros and cons",
    "give and take", "back and forth", "research and development", "terms and conditions",
)


@dataclass(frozen=True)
class Finding:
    lint: str
    target: str          # item id, construct id or block question id
    message: str
    file: str | None = None
    line: int | None = None
    wording: str | None = None  # which wording (P, C, J, S:role) when it applies
    waived: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        key = f" [{self.wording}]" if self.wording else ""
        return f"{where}{self.lint}: {self.target}{key}: {self.message}"


def word_count(text: str) -> int:
    """Words in an item; a placeholder such as ``[Provider]`` counts as one word."""
    return len(_WORD.findall(text))


def _norm(text: str) -> str:
    text = _PLACEHOLDER.sub(lambda m: m.group(0).lower(), text)
    return " ".join(re.findall(r"\[[^\]]+\]|[a-z0-9']+", text.lower()))


def double_barrel_joins(text: str, allowed: tuple[str, ...]) -> list[str]:
    """The 'and'/'or' joins left once allowed pairs are removed (empty list = not double-barrelled)."""
    t = " " + _norm(text) + " "
    for phrase in sorted(allowed, key=len, reverse=True):
        t = t.replace(" " + _norm(phrase) + " ", " _ ")
    return re.findall(r"\b(and/or|and|or)\b", t) + (["/"] if "/" in text else [])


def negations(text: str) -> list[str]:
    words = re.findall(r"[a-z']+", text.lower().replace("\u2019", "'"))
    found = [w for w in words if w in NEGATIONS]
    found += [w for w in words if w.endswith("n't")]
    return found


def lint_registry(reg: Registry, *, include_waived: bool = False,
                  lints: tuple[str, ...] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    allowed = DEFAULT_ALLOWED_PAIRS + tuple(reg.lint_config.get("allowed_pairs", []) or [])

    def place(kind: str, oid: str) -> dict:
        loc = reg.located(kind, oid)
        return {"file": loc.file if loc else None, "line": loc.line if loc else None}

    def add_item(item: Item, lint: str, message: str, wording: str | None = None) -> None:
        findings.append(Finding(lint, item.id, message, wording=wording, waived=item.waived(lint),
                                **place("item", item.id)))

    def add_construct(cid: str, lint: str, message: str, wording: str | None = None) -> None:
        findings.append(Finding(lint, cid, message, wording=wording, **place("construct", cid)))

    # -- per item ------------------------------------------------------------------------------------------------
    for item in reg.items.values():
        for w in item.waivers:
            if w.lint not in LINTS:
                add_item(item, "unknown_waiver", f"waiver names unknown lint {w.lint!r} (known: {', '.join(LINTS)})")
            elif w.lint == "overlap" and (w.other is None or w.other not in reg.items or w.other == item.id):
                add_item(item, "unknown_waiver", "an overlap waiver names the other item of the pair (other: <item "
                         f"id>); {'none given' if w.other is None else repr(w.other) + ' is not another item'}")
        for key, text in item.texts().items():
            n = word_count(text)
            if n > MAX_WORDS:
                add_item(item, "long_item", f"{n} words (at most {MAX_WORDS})", key)
            joins = double_barrel_joins(text, allowed)
            if joins:
                add_item(item, "double_barrelled", f"joins two objects with {', '.join(repr(j) for j in joins)}: "
                         f"{text!r}", key)
            if item.reverse:
                neg = negations(text)
                if neg:
                    add_item(item, "double_negative", f"reverse-keyed item contains negation {neg}: disagreeing "
                             f"makes a double negative: {text!r}", key)

    # -- per construct -------------------------------------------------------------------------------------------
    for c in reg.constructs.values():
        for w in c.waivers:  # the schema has checked the shape (lint: overlap, facet, other, other_facet)
            other = reg.constructs.get(w.other or "")
            if other is None or other.id == c.id:
                add_construct(c.id, "unknown_waiver", f"a facet-pair waiver names {w.other!r}, which is not another "
                              "construct")
            elif w.other_facet > len(other.facets):  # type: ignore[operator]
                add_construct(c.id, "unknown_waiver", f"a facet-pair waiver names facet {w.other_facet} of "
                              f"{other.id!r}, which has {len(other.facets)} facets")
        if not c.needs_items:
            continue
        items = reg.items_of(c.id)
        if c.measurement == "reflective":
            main = [i for i in items if i.kind == "reflective"]
            for key in sorted(c.item_keys - set(c.wording_optional)):
                n = sum(1 for i in main if key in i.wording)
                if n < MIN_ITEMS:
                    add_construct(c.id, "too_few_items", f"{n} item(s) with {key} wording (at least {MIN_ITEMS}; "
                                  "4 or more where invariance is tested)", key)
            n_rev = sum(i.reverse for i in main)
            if n_rev > 2 or (len(main) >= 6 and n_rev == 0):
                add_construct(c.id, "reverse_balance", f"{len(main)} items, {n_rev} reverse-keyed (scales of 6 or "
                              "more items need 1-2 reverse-keyed items; none more than 2)")
        if c.global_items:
            n = sum(1 for i in items if i.kind == "global")
            if n < c.global_items:
                add_construct(c.id, "too_few_global_items", f"{n} global item(s), {c.global_items} required "
                              f"({c.identification} identification)")
        covered = {i.facet for i in items if i.kind != "global"}
        for k, facet in enumerate(c.facets, start=1):
            if k not in covered:
                add_construct(c.id, "facet_uncovered", f"facet {k} ({facet!r}) has no item")

    # -- VC/VK commensurability (family B) ------------------------------------------------------------------------
    for c in reg.constructs.values():
        if c.rsa and c.rsa.axis == "X":
            partner = reg.constructs.get(c.rsa.partner)
            if partner is None:
                continue
            forms = set()
            for parent in (c, partner):
                for child in parent.lower_order:
                    for i in reg.items_of(child):
                        forms.add((i.stem, reg.item_scale(i).id))
            if len(forms) > 1:
                add_construct(c.id, "vc_vk_commensurate", f"VC and VK items of {c.id} / {partner.id} use different "
                              f"stems or scales {sorted(map(str, forms))}: RSA needs commensurate measures")

    # -- near duplicates ------------------------------------------------------------------------------------------
    findings.extend(_near_duplicates(reg))

    if lints is not None:
        findings = [f for f in findings if f.lint in lints]
    return findings if include_waived else [f for f in findings if not f.waived]


def _rsa_group(reg: Registry, cid: str) -> str | None:
    """Id of the VC/VK pair a first-order construct belongs to (both sides share one group)."""
    c = reg.constructs[cid]
    parent = reg.constructs.get(c.parent) if c.parent else None
    if parent is None or parent.rsa is None:
        return None
    return "|".join(sorted((parent.id, parent.rsa.partner)))


def _near_duplicates(reg: Registry, threshold: float = 0.9) -> list[Finding]:
    out: list[Finding] = []
    by_key: dict[str, list[tuple[Item, str, set[str]]]] = {}
    for item in reg.items.values():
        for key, text in item.texts().items():
            norm = _norm(text)
            by_key.setdefault(key, []).append((item, norm, set(norm.split())))
    for key, entries in by_key.items():
        for (a, na, ta), (b, nb, tb) in combinations(entries, 2):
            if a.id == b.id:
                continue
            if len(ta & tb) / max(1, len(ta | tb)) < 0.6 and na != nb:
                continue
            ratio = difflib.SequenceMatcher(None, na, nb).ratio()
            if na == nb or ratio >= threshold:
                paired = _rsa_group(reg, a.construct) is not None and \
                    _rsa_group(reg, a.construct) == _rsa_group(reg, b.construct) and a.construct != b.construct
                if paired and na != nb:
                    continue  # parallel VC/VK items share their frame by design; only exact copies are flagged
                loc = reg.located("item", b.id)
                out.append(Finding("near_duplicate", b.id, f"{'same' if na == nb else f'{ratio:.0%} similar'} "
                                   f"wording as {a.id}: {nb!r}", file=loc.file if loc else None,
                                   line=loc.line if loc else None, wording=key,
                                   waived=b.waived("near_duplicate") or a.waived("near_duplicate")))
    return out
