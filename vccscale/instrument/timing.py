"""How long each respondent version takes: the counts and the estimate written to ``summary.json`` and printed in
the questionnaire.

The rule (``TIMING_RULE``, stated in the file): about 5 seconds per answer item (each matrix row, Likert items,
attention checks and marker items alike, and each single-choice question), 20 seconds per short text or numeric
entry, 30 seconds per open (multi-line) text, plus 1 minute for the consent page and introduction (the consent
block's questions are not counted otherwise). A version's path is the blocks everyone sees plus that version's
blocks. Display logic is not applied: every conditionally shown question and statement is counted, so the estimate
is for the longest route through the version. With the three-form design each form is estimated without the
items of the block it omits, and a version's ``estimated_minutes`` is its longest form.
"""
from __future__ import annotations

from typing import Any

from .model import Block, Instrument

SECONDS_PER_ITEM = 5
SECONDS_PER_TEXT = 20
SECONDS_PER_OPEN_TEXT = 30
INTRO_MINUTES = 1
TIMING_RULE = (f"{SECONDS_PER_ITEM} s per answer item (matrix row or single-choice question), {SECONDS_PER_TEXT} s "
               f"per short text or numeric entry, {SECONDS_PER_OPEN_TEXT} s per open text, plus {INTRO_MINUTES} min "
               "for consent and introduction (consent questions not counted otherwise); every conditionally shown "
               "question counted (longest route); three-form design: per form, without the omitted block's items, "
               "the version's estimate being its longest form; minutes rounded to 0.1")

__all__ = ["TIMING_RULE", "version_blocks", "counts", "minutes", "estimate"]


def version_blocks(inst: Instrument, version: str | None) -> list[Block]:
    """The blocks a respondent of ``version`` can see (None: every block), without the consent block."""
    return [b for b in inst.blocks if b.name != "consent" and (version is None or b.version in (None, version))]


def counts(blocks: list[Block], omit: str | None = None) -> dict[str, int]:
    """n_items (answer items), n_text (short text / numeric entries), n_open_text and n_questions of blocks;
    ``omit``: a three-form block letter whose items are left out."""
    n_items = n_text = n_open = n_q = 0
    for b in blocks:
        for q in b.questions:
            if q.kind == "descriptive":
                continue
            if q.kind == "matrix":
                rows = [s for s in q.statements if omit is None or s.form_block != omit]
                if not rows:
                    continue
                n_items += len(rows)
            elif q.kind in ("text_entry", "numeric_entry"):
                n_text += 1
            elif q.kind == "open_text":
                n_open += 1
            else:
                n_items += 1
            n_q += 1
    return {"n_items": n_items, "n_text": n_text, "n_open_text": n_open, "n_questions": n_q}


def minutes(c: dict[str, int]) -> float:
    secs = SECONDS_PER_ITEM * c["n_items"] + SECONDS_PER_TEXT * c["n_text"] + SECONDS_PER_OPEN_TEXT * c["n_open_text"]
    return round(secs / 60 + INTRO_MINUTES, 1)


def estimate(inst: Instrument) -> dict[str, Any]:
    """The content of summary.json (deterministic; sort the keys when writing)."""
    versions = list(inst.versions) or [None]
    out_versions: dict[str, Any] = {}
    for v in versions:
        blocks = version_blocks(inst, v)
        c = counts(blocks)
        rec: dict[str, Any] = dict(c, estimated_minutes=minutes(c))
        if inst.forms:
            forms = {}
            for k, omit in sorted(inst.forms.items()):
                fc = counts(blocks, omit)
                forms[str(k)] = dict(fc, omits=omit, estimated_minutes=minutes(fc))
            rec["forms"] = forms
            rec["estimated_minutes_all_items"] = rec["estimated_minutes"]
            rec["estimated_minutes"] = max(f["estimated_minutes"] for f in forms.values())
        out_versions[v or "all"] = rec
    total = counts(version_blocks(inst, None))
    est = max(r["estimated_minutes"] for r in out_versions.values())
    over = sorted(k for k, r in out_versions.items() if inst.max_minutes is not None
                  and r["estimated_minutes"] > inst.max_minutes)
    planned: dict[str, Any] | None = None
    if inst.forms:
        per_block: dict[str, int] = {}
        for q in inst.questions:
            for s in q.statements:
                if s.form_block:
                    per_block[s.form_block] = per_block.get(s.form_block, 0) + 1
        planned = {"design": "three_form", "form_field": "form",
                   "forms": {str(k): {"omits": v} for k, v in sorted(inst.forms.items())},
                   "statements_per_block": dict(sorted(per_block.items()))}
    return {"study": inst.study, "survey_name": inst.name, "timing_rule": TIMING_RULE,
            "versions": out_versions,
            "totals": dict(total, max_estimated_minutes=est, n_versions=len(out_versions)),
            "max_minutes": inst.max_minutes, "over_max_minutes": over, "planned_missing": planned}
