"""build -> QSF -> read back gives the same codebook (issue 4)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from vccscale.instrument import build_instrument, codebook_from_instrument, read_qsf, write_instrument
from vccscale.instrument.codebook import Codebook, codebook_equal
from vccscale.study import load_study

REPO = Path(__file__).resolve().parents[1]

STUDIES = {
    "example": (REPO / "analysis" / "example_study.yaml").read_text(encoding="utf-8"),
    "family_b_joint": "study:\n  id: rt_b\n  title: Outcome-based services\ninstrument:\n  families: [B]\n"
                      "  versions: [provider, customer]\n  attention_checks: 2\n",
    "family_c_roles": "study:\n  id: rt_c\n  title: Value networks\ninstrument:\n  families: [C]\n"
                      "  versions: [staff, partner_manager, funder, service_user]\n  randomize_items: true\n",
    "family_d_single": "study:\n  id: rt_d\n  title: Co-creation practices\ninstrument:\n  families: [D]\n"
                       "  versions: [provider]\n  blocks: [consent, respondent, attention]\n",
    # issue 19: B screener and stage routing, event display logic, three-form design, side 3 routed by role
    "fieldable_three_form": "study:\n  id: rt_f\n  title: Fieldable\ninstrument:\n  constructs: "
                            "[b_p1_vc_explore_enhance, b_p2_vc_delivery_process, b_p3_vk_fair_distribution, "
                            "d_compelling_events, x_trust]\n"
                            "  versions: [provider, customer, partner_manager]\n  planned_missing: three_form\n",
}


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_build_then_read_returns_the_same_codebook(name, registry, tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text(STUDIES[name], encoding="utf-8")
    inst = build_instrument(registry, load_study(p))
    paths = write_instrument(inst, tmp_path / "out", registry)
    built = codebook_from_instrument(inst, registry)
    read = read_qsf(paths["qsf"], registry=registry)
    assert codebook_equal(built, read) == []
    # and the written codebook files read back identically
    assert codebook_equal(built, Codebook.read(paths["codebook_csv"])) == []
    assert codebook_equal(built, Codebook.read(paths["codebook_json"])) == []


def test_family_c_versions_are_routed_by_stakeholder_role(registry, tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text(STUDIES["family_c_roles"], encoding="utf-8")
    inst = build_instrument(registry, load_study(p))
    cb = codebook_from_instrument(inst, registry)
    persp = {r.perspective for r in cb.items()}
    assert persp == {"staff", "partner_manager", "funder", "service_user"}
    # service users only see constructs written for them, in plain language
    su = {r.construct for r in cb.items("service_user")}
    assert su and all("service_user" in registry.items[r.item_id].wording["S"] for r in cb.items("service_user"))
    assert "c_governance" not in su
    assert any(r.role == "respondent_role" and r.variable == "stakeholder_role" for r in cb.rows)


def test_display_logic_survives_the_round_trip(registry, tmp_path):
    """shown_if (B screener and stage, event significance, three-form forms, side 3) and form_block read back from
    the QSF exactly as built."""
    p = tmp_path / "study.yaml"
    p.write_text(STUDIES["fieldable_three_form"], encoding="utf-8")
    inst = build_instrument(registry, load_study(p))
    paths = write_instrument(inst, tmp_path / "out", registry)
    read = read_qsf(paths["qsf"], registry=registry)
    conds = {r.variable: r.shown_if for r in read.rows if r.shown_if}
    assert any("b_bmi_stage_j_1 != 0" in c for c in conds.values())
    assert any(re.fullmatch(r"d_compelling_events_p_\d = 1", c) for c in conds.values())
    assert any("form != " in c for c in conds.values()) and any("side != 3" in c for c in conds.values())
    assert {r.form_block for r in read.items()} == {"X", "A", "B", "C"}
    assert read.by_variable()["form"].role == "form"
