"""Item-bank lints: the shipped bank is clean, and each lint catches what it is for (issue 3)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from vccscale.lint import (DEFAULT_ALLOWED_PAIRS, LINTS, double_barrel_joins, lint_registry, negations,
                           word_count)
from vccscale.registry import load_registry


def test_shipped_item_bank_has_no_unwaived_findings(registry):
    findings = lint_registry(registry)
    assert findings == [], "\n".join(map(str, findings))


def test_waivers_in_the_shipped_bank_state_reasons(registry):
    for item in registry.items.values():
        for w in item.waivers:
            assert w.lint in LINTS and len(w.reason) >= 10


@pytest.mark.parametrize("text,expected", [
    ("[Provider] consults us before key design decisions are fixed.", 9),
    ("We and [Partner] didn't meet.", 5),
    ("Our documentation's level of detail suits [Customer].", 7),
])
def test_word_count_counts_placeholders_as_one_word(text, expected):
    assert word_count(text) == expected


@pytest.mark.parametrize("text,joined", [
    ("[Provider] answers quickly and keeps us informed.", True),
    ("We share information or resources with partners.", True),
    ("Support staff know the solution and/or its history.", True),
    ("We and [Partner] agreed on the indicators.", False),          # J subject, allowed
    ("The contract shares risks and rewards fairly.", False),       # fixed pair, allowed
    ("Joint work between provider and customer started early.", False),
    ("[Provider] answers our questions within a reasonable time.", False),
    ("Landmark bands of brand-new pandas.", False),                 # 'and' inside words is no join
])
def test_double_barrelled(text, joined):
    assert bool(double_barrel_joins(text, DEFAULT_ALLOWED_PAIRS)) is joined


@pytest.mark.parametrize("text,negated", [
    ("[Provider] does not answer on time.", True),
    ("[Provider] doesn't answer on time.", True),
    ("We never get updates.", True),
    ("We get updates without delay.", True),
    ("Working with [Provider] drains our staff time.", False),
    ("Notifications arrive late.", False),  # 'not' inside a word
])
def test_negation_detection(text, negated):
    assert bool(negations(text)) is negated


def _edit_items(root: Path, fn) -> None:
    f = root / "items" / "family_a.yaml"
    f.write_text(fn(f.read_text(encoding="utf-8")), encoding="utf-8")


def _first_item_block(text: str, item_id: str) -> tuple[int, int]:
    start = text.index(f"- id: {item_id}")
    nxt = text.find("- id:", start + 5)
    return start, (nxt if nxt != -1 else len(text))


def _set_wording(text: str, item_id: str, key: str, new: str) -> str:
    s, e = _first_item_block(text, item_id)
    block = re.sub(rf'(\n\s+{key}: )"[^"\n]*"', lambda m: m.group(1) + '"' + new + '"', text[s:e], count=1)
    return text[:s] + block + text[e:]


def _lints(root: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in lint_registry(load_registry(root), include_waived=True):
        out.setdefault(f.lint, []).append(f)
    return out


def test_each_lint_fires_on_a_bad_item(reg_copy):
    def edit(text: str) -> str:
        text = _set_wording(text, "a_drv_informing_01", "P", "We inform [Customer] about releases and about plans.")
        text = _set_wording(text, "a_drv_informing_02", "C",
                            "[Provider] tells us early about each new release, and about the projects it plans, and "
                            "about every internal change that may one day matter to our offers.")
        text = _set_wording(text, "a_drv_informing_03", "C", "[Provider] tells us about releases on time.")
        text = _set_wording(text, "a_drv_informing_04", "C", "[Provider] tells us about releases on time!")
        return text
    _edit_items(reg_copy, edit)
    found = _lints(reg_copy)
    assert [f.target for f in found["double_barrelled"]][:1] == ["a_drv_informing_01"]
    long_ = found["long_item"]
    assert [(f.target, f.wording) for f in long_] == [("a_drv_informing_02", "C")]
    assert "words (at most 25)" in long_[0].message and long_[0].file.endswith("family_a.yaml") and long_[0].line
    dup = found["near_duplicate"]
    assert {(f.target, f.wording) for f in dup} == {("a_drv_informing_04", "C")}


def test_double_negative_in_reverse_item(reg_copy, registry):
    rev = next(i for i in registry.items.values() if i.reverse and i.construct.startswith("a_drv"))
    _edit_items(reg_copy, lambda t: _set_wording(t, rev.id, "P", "We do not keep [Customer] waiting."))
    found = _lints(reg_copy)
    assert [(f.target, f.wording) for f in found["double_negative"]] == [(rev.id, "P")]


def test_waiver_suppresses_a_finding_and_unknown_waiver_is_flagged(reg_copy):
    def edit(text: str) -> str:
        text = _set_wording(text, "a_drv_informing_01", "P", "We inform [Customer] about releases and plans.")
        s, e = _first_item_block(text, "a_drv_informing_01")
        block = text[s:e].replace("    status: draft\n",
                                  "    status: draft\n    waivers:\n      - {lint: double_barrelled, reason: "
                                  "\"releases and plans are one notice in the seed\"}\n"
                                  "      - {lint: too_wordy, reason: \"no such lint exists here\"}\n", 1)
        return text[:s] + block + text[e:]
    _edit_items(reg_copy, edit)
    reg = load_registry(reg_copy)
    unwaived = lint_registry(reg)
    assert [f.lint for f in unwaived] == ["unknown_waiver"]
    waived = [f for f in lint_registry(reg, include_waived=True) if f.waived]
    assert [(f.lint, f.target) for f in waived] == [("double_barrelled", "a_drv_informing_01")]


def test_too_few_items_and_uncovered_facet(reg_copy):
    def edit(text: str) -> str:
        for k in (2, 3, 4):
            s, e = _first_item_block(text, f"a_drv_joint_marketing_0{k}")
            text = text[:s] + text[e:]
        return text
    _edit_items(reg_copy, edit)
    found = _lints(reg_copy)
    few = {(f.target, f.wording) for f in found["too_few_items"]}
    assert few == {("a_drv_joint_marketing", "P"), ("a_drv_joint_marketing", "C")}
    assert {f.target for f in found["facet_uncovered"]} == {"a_drv_joint_marketing"}


def test_parallel_wordings_are_not_near_duplicates(registry):
    # P and C versions of one item are alike by design and never compared with each other
    assert all(f.lint != "near_duplicate" for f in lint_registry(registry, include_waived=True))
    item = next(i for i in registry.items.values() if {"P", "C"} <= set(i.wording))
    assert item.wording["P"] != item.wording["C"]


def test_vc_vk_commensurate_lint(reg_copy):
    f = reg_copy / "items" / "family_b.yaml"
    text = f.read_text(encoding="utf-8")
    s = text.index("- id: b_p1_vk_win_win_01")
    e = text.index("- id:", s + 5)
    f.write_text(text[:s] + text[s:e].replace("stem: b_phase1", "stem: b_phase2") + text[e:], encoding="utf-8")
    found = _lints(reg_copy)
    assert [x.target for x in found["vc_vk_commensurate"]] == ["b_p1_vc_identify_opps"]
