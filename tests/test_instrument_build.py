"""Instrument generation: study schema, QSF structure, codebook, lavaan syntax, determinism (issue 4)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vccscale.errors import StudyError
from vccscale.instrument import build_instrument, codebook_from_instrument
from vccscale.instrument.lavaan import measurement_model
from vccscale.instrument.qsf import export_columns, qsf_dict
from vccscale.study import load_study

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "analysis" / "example_study.yaml"
ENTRY_KEYS = ["SurveyID", "SurveyName", "SurveyDescription", "SurveyOwnerID", "SurveyBrandID", "DivisionID",
              "SurveyLanguage", "SurveyActiveResponseSet", "SurveyStatus", "SurveyStartDate", "SurveyExpirationDate",
              "SurveyCreationDate", "CreatorID", "LastModified", "LastAccessed", "LastActivated", "Deleted"]


@pytest.fixture(scope="module")
def example(registry):
    study = load_study(EXAMPLE)
    inst = build_instrument(registry, study)
    return study, inst, codebook_from_instrument(inst, registry), qsf_dict(inst)


# The whole of family A with provider and customer versions (the shipped example before issue 10 narrowed it to a
# few constructs): exercises provider-only wording (a_fle_involvement) and the second-order a_align_ri.
FAMILY_A = """study: {id: family_a, title: Working together on joint solutions, seed: 20261124}
instrument:
  families: [A]
  versions: [provider, customer]
  blocks: [consent, respondent, attention, marker, firmographics]
  randomize_items: true
  attention_checks: 2
  dont_know: true
"""


@pytest.fixture(scope="module")
def family_a(registry, tmp_path_factory):
    p = tmp_path_factory.mktemp("family_a") / "study.yaml"
    p.write_text(FAMILY_A, encoding="utf-8")
    study = load_study(p)
    inst = build_instrument(registry, study)
    return study, inst, codebook_from_instrument(inst, registry), qsf_dict(inst)


def _study(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(text, encoding="utf-8")
    return p


# ---------------------------------------------------------------------------------------------- study schema
def test_study_unknown_key_names_line(tmp_path):
    p = _study(tmp_path, "study:\n  id: s1\n  title: T\ninstrument:\n  families: [A]\n  versions: [provider]\n"
                         "  randomise_items: true\n")
    with pytest.raises(StudyError) as e:
        load_study(p)
    assert e.value.line == 7 and e.value.field == "instrument.randomise_items" and "unknown key" in str(e.value)
    assert str(p) in str(e.value)


def test_study_bad_values_and_missing_sections(tmp_path):
    with pytest.raises(StudyError) as e:
        load_study(_study(tmp_path, "study:\n  id: s1\n  title: T\ninstrument:\n  families: [E]\n"
                                    "  versions: [provider]\n"))
    assert e.value.line == 5 and e.value.field.startswith("instrument.families")
    with pytest.raises(StudyError) as e:
        load_study(_study(tmp_path, "study:\n  id: s1\n  title: T\ninstrument:\n  versions: [provider]\n"))
    assert "name the families and/or constructs" in str(e.value)
    with pytest.raises(StudyError) as e:
        load_study(_study(tmp_path, "instrument:\n  families: [A]\n"))
    assert e.value.field == "study"
    with pytest.raises(StudyError, match="file not found"):
        load_study(tmp_path / "missing.yaml")


def test_unknown_construct_pattern(registry, tmp_path):
    study = load_study(_study(tmp_path, "study:\n  id: s1\n  title: T\ninstrument:\n  constructs: [a_drv_nope*]\n"
                                        "  versions: [provider]\n"))
    with pytest.raises(StudyError) as e:
        build_instrument(registry, study)
    assert "no construct matches 'a_drv_nope*'" in str(e.value) and e.value.field == "instrument.constructs.0"


# ---------------------------------------------------------------------------------------------- QSF structure
def test_qsf_required_structure(example):
    _, inst, cb, qsf = example
    assert list(qsf) == ["SurveyEntry", "SurveyElements"]
    assert list(qsf["SurveyEntry"]) == ENTRY_KEYS
    assert re.fullmatch(r"SV_[A-Za-z0-9]{15}", qsf["SurveyEntry"]["SurveyID"])
    elements = qsf["SurveyElements"]
    for el in elements:
        assert list(el) == ["SurveyID", "Element", "PrimaryAttribute", "SecondaryAttribute", "TertiaryAttribute",
                            "Payload"]
    kinds = [el["Element"] for el in elements]
    for k in ("BL", "FL", "SO", "SCO", "STAT", "QC", "RS", "PROJ"):
        assert kinds.count(k) == 1, k
    sq = [el for el in elements if el["Element"] == "SQ"]
    rs = next(el for el in elements if el["Element"] == "RS")
    assert qsf["SurveyEntry"]["SurveyActiveResponseSet"] == rs["PrimaryAttribute"]
    qc = next(el for el in elements if el["Element"] == "QC")
    assert qc["SecondaryAttribute"] == str(len(sq))
    qids = [el["PrimaryAttribute"] for el in sq]
    assert len(set(qids)) == len(qids) and all(el["Payload"]["QuestionID"] == el["PrimaryAttribute"] for el in sq)
    tags = [el["Payload"]["DataExportTag"] for el in sq]
    assert len(set(tags)) == len(tags)
    for el in sq:
        p = el["Payload"]
        for key in ("QuestionText", "DataExportTag", "QuestionType", "Selector", "Configuration",
                    "QuestionDescription", "Language", "QuestionID", "Validation"):
            assert key in p, (el["PrimaryAttribute"], key)
        if p["QuestionType"] == "Matrix":
            assert p["SubSelector"] == "SingleAnswer" and p["Answers"] and p["AnswerOrder"]
            assert set(p["RecodeValues"]) == set(p["Answers"])


def test_qsf_structure_with_display_logic_and_randomizer(registry, tmp_path):
    """A QSF with question and statement display logic, page breaks and a form randomizer keeps the structure every
    real QSF has, and each DisplayLogic has Qualtrics' shape (qualtrics-formats.md 11.7)."""
    study = load_study(_study(tmp_path, "study: {id: s_dl, title: T}\ninstrument:\n  constructs: "
                                        "[b_p2_vc_delivery_process, d_compelling_events, x_trust]\n"
                                        "  versions: [provider, customer]\n"
                                        "  planned_missing: three_form\n"))
    qsf = qsf_dict(build_instrument(registry, study))
    kinds = [el["Element"] for el in qsf["SurveyElements"]]
    for k in ("BL", "FL", "SO", "SCO", "STAT", "QC", "RS", "PROJ"):
        assert kinds.count(k) == 1, k
    logics = []
    for el in qsf["SurveyElements"]:
        if el["Element"] != "SQ":
            continue
        p = el["Payload"]
        if "DisplayLogic" in p:
            logics.append(p["DisplayLogic"])
        logics += [c["DisplayLogic"] for c in (p.get("Choices") or {}).values() if "DisplayLogic" in c]
    assert logics
    for lg in logics:
        assert lg["Type"] == "BooleanExpression" and lg["inPage"] is False and lg["0"]["Type"] == "If"
        conds = [v for k, v in lg["0"].items() if k.isdigit()]
        assert conds and all(c["Type"] == "Expression" and c["Description"] for c in conds)
        assert all("Conjuction" in c for c in conds[1:]) and "Conjuction" not in conds[0]
        for c in conds:
            if c["LogicType"] == "Question":
                assert c["ChoiceLocator"] == c["LeftOperand"]
                assert c["ChoiceLocator"].startswith(f"q://{c['QuestionID']}/")
            else:
                assert c["LogicType"] == "EmbeddedField" and c["LeftOperand"] == "form"
    bl = next(el for el in qsf["SurveyElements"] if el["Element"] == "BL")["Payload"]
    assert {e["Type"] for b in bl for e in b.get("BlockElements", [])} == {"Question", "Page Break"}
    fl = next(el for el in qsf["SurveyElements"] if el["Element"] == "FL")["Payload"]
    ids = []

    def walk(nodes):
        for n in nodes:
            ids.append(n["FlowID"])
            walk(n.get("Flow", []))
    walk(fl["Flow"])
    assert len(set(ids)) == len(ids) and fl["Properties"]["Count"] >= max(int(i.split("_")[1]) for i in ids)


def test_blocks_and_flow(example):
    _, inst, _, qsf = example
    bl = next(el for el in qsf["SurveyElements"] if el["Element"] == "BL")["Payload"]
    assert bl[0]["Type"] == "Default" and bl[-1]["Type"] == "Trash"
    listed = [e["QuestionID"] for b in bl for e in b.get("BlockElements", [])]
    sq = [el["PrimaryAttribute"] for el in qsf["SurveyElements"] if el["Element"] == "SQ"]
    assert sorted(listed) == sorted(sq)  # every question in exactly one block
    fl = next(el for el in qsf["SurveyElements"] if el["Element"] == "FL")["Payload"]
    ids, shown = [], []

    def walk(nodes):
        for n in nodes:
            ids.append(n["FlowID"])
            if n["Type"] in ("Block", "Standard"):
                shown.append(n["ID"])
            walk(n.get("Flow", []))
    walk(fl["Flow"])
    assert len(set(ids)) == len(ids)
    assert fl["Properties"]["Count"] >= max(int(i.split("_")[1]) for i in ids + ["FL_1"])
    standard = [b["ID"] for b in bl if b["Type"] == "Standard"]
    assert sorted(shown) == sorted(standard)  # every block is shown somewhere in the flow
    branches = [n for n in fl["Flow"] if n["Type"] == "Branch"]
    assert any(n["Flow"][0]["Type"] == "EndSurvey" for n in branches)  # no consent -> end of survey
    side = {n["Description"]: n for n in branches if n["Description"].startswith("side")}
    assert set(side) == {"side = provider", "side = customer"}
    by_id = {b.id: b for b in inst.blocks}
    for label, node in side.items():
        versions = {by_id[c["ID"]].version for c in node["Flow"]}
        assert versions == {label.split(" = ")[1]}
    emb = next(n for n in fl["Flow"] if n["Type"] == "EmbeddedData")
    fields = {e["Field"] for e in emb["EmbeddedData"]}
    assert {"invite_side", "invite_organisation_id", "invite_dyad_id", "provider_name", "customer_name"} <= fields


def test_every_codebook_variable_is_an_export_column_of_the_qsf(example):
    _, _, cb, qsf = example
    assert len(set(cb.variables)) == len(cb.variables)  # no duplicate column names in the export
    cols = export_columns(qsf)
    question_vars = [r.variable for r in cb.rows if r.role not in ("metadata", "embedded_data")]
    assert question_vars == cols  # same columns, same order
    emb = [r.variable for r in cb.rows if r.role == "embedded_data"]
    fl = next(el for el in qsf["SurveyElements"] if el["Element"] == "FL")["Payload"]
    assert emb == [e["Field"] for e in fl["Flow"][0]["EmbeddedData"]]


def test_recode_values_match_codebook(example):
    _, _, cb, qsf = example
    rows = cb.by_variable()
    for el in qsf["SurveyElements"]:
        if el["Element"] != "SQ" or el["Payload"]["QuestionType"] != "Matrix":
            continue
        p = el["Payload"]
        codes = {int(v) for v in p["RecodeValues"].values()}
        labels = {int(p["RecodeValues"][a]): p["Answers"][a]["Display"] for a in p["Answers"]}
        for cid in p["ChoiceOrder"]:
            r = rows[f"{p['DataExportTag']}_{cid}"]
            assert set(r.value_labels) == codes and r.value_labels == labels
            assert (r.scale_min, r.scale_max) == (1, 7)
            assert set(r.missing_codes) <= codes and all(c > r.scale_max for c in r.missing_codes)


def test_codebook_items_pair_provider_and_customer(family_a, registry):
    _, _, cb, _ = family_a
    items = cb.items()
    assert {r.perspective for r in items} == {"provider", "customer"}
    pairs: dict[str, set] = {}
    for r in items:
        assert r.item_id in registry.items and r.construct == registry.items[r.item_id].construct
        assert r.reverse == registry.items[r.item_id].reverse
        pairs.setdefault(r.item_id, set()).add(r.perspective)
    both = [i for i, p in pairs.items() if p == {"provider", "customer"}]
    assert len(both) > 100
    only_p = {i for i, p in pairs.items() if p == {"provider"}}
    assert {registry.items[i].construct for i in only_p} == {"a_fle_involvement"}  # wording P only
    # distinct variables for the two sides of one item
    r_p = next(r for r in items if r.item_id == "a_drv_documentation_01" and r.perspective == "provider")
    r_c = next(r for r in items if r.item_id == "a_drv_documentation_01" and r.perspective == "customer")
    assert (r_p.variable, r_c.variable) == ("a_drv_documentation_p_1", "a_drv_documentation_c_1")
    assert "[Customer]" in r_p.question_text and "[Provider]" in r_c.question_text


def test_attention_checks_on_every_path(example, registry):
    study, inst, cb, _ = example
    checks = cb.filter(role="attention_check")
    by_block = {b.name: b for b in inst.blocks}
    for version in ("provider", "customer"):
        seen = [r for r in checks if by_block[r.block].version in (None, version)]
        assert len(seen) == study.instrument.attention_checks
        assert len({r.item_id for r in seen}) == study.instrument.attention_checks
    for r in checks:
        assert r.scale_min <= r.correct_answer <= r.scale_max
        assert f'"{r.value_labels[r.correct_answer]}"' in r.question_text


def test_piped_placeholders(example):
    _, _, _, qsf = example
    shown = [el["Payload"]["QuestionText"] for el in qsf["SurveyElements"] if el["Element"] == "SQ"]
    shown += [c["Display"] for el in qsf["SurveyElements"] if el["Element"] == "SQ"
              for c in (el["Payload"].get("Choices") or {}).values()]
    text = json.dumps(shown)
    assert "${e://Field/customer_name}" in text and "${e://Field/provider_name}" in text
    assert "[Customer]" not in text and "[Provider]" not in text  # what respondents see is piped


def test_randomisation_and_dont_know(example, registry, tmp_path):
    _, _, cb, qsf = example
    mats = [el["Payload"] for el in qsf["SurveyElements"]
            if el["Element"] == "SQ" and el["Payload"]["QuestionType"] == "Matrix"]
    assert all(p.get("Randomization", {}).get("Type") == "All" for p in mats)
    # "don't know" is offered only where the bank allows it in that version (dont_know: true, or a list of wording
    # keys such as [C]), as code 99 listed as missing
    from vccscale.instrument.model import VERSIONS

    def allowed(o):
        return registry.items[o.item_id].dont_know_for(VERSIONS[o.perspective][0])
    for r in cb.items():
        assert bool(r.missing_codes) == any(allowed(o) for o in cb.items() if o.question_id == r.question_id)
    study = load_study(_study(tmp_path, "study:\n  id: s3\n  title: T\ninstrument:\n  constructs: "
                                        "[x_prior_relationship]\n  versions: [provider, customer]\n"))
    cb2 = codebook_from_instrument(build_instrument(registry, study), registry)
    dk = [r for r in cb2.items() if r.missing_codes]
    pc = [i for i in registry.items_of("x_prior_relationship") if "P" in i.wording]  # the S items are not asked
    assert len(dk) == 2 * len(pc)
    assert all(r.missing_codes == (99,) and r.value_labels[99].startswith("Don't know") for r in dk)
    assert all(r.scale_max == 7 for r in dk)


def test_lavaan_model(family_a, registry):
    _, _, cb, _ = family_a
    text = measurement_model(cb, registry)
    lines = {ln.split(" =~ ")[0]: ln.split(" =~ ")[1].split("  #")[0].split(" + ")
             for ln in text.splitlines() if " =~ " in ln}
    item_ids = {r.item_id for r in cb.rows if r.item_id}
    for lhs, rhs in lines.items():
        if lhs in ("a_align_ri",):
            continue
        assert len(rhs) >= 4 and set(rhs) <= item_ids, lhs
        c = registry.constructs.get(lhs)
        if c is not None:
            assert set(rhs) == {i.id for i in registry.items_of(lhs) if i.kind == "reflective"}
    assert lines["a_align_ri"][:4] == ["a_align_diag_design", "a_align_prod_impl", "a_align_promo_share",
                                       "a_align_support_assist"]
    assert "a_fle_involvement" in text and "provider only" in text


def test_mimic_and_composites_in_lavaan(registry, tmp_path):
    study = load_study(_study(tmp_path, "study:\n  id: s2\n  title: T\ninstrument:\n  constructs: [c_mot_income, "
                                        "c_vcap_meso, b_p1_vc_identify_opps, b_p1_vk_agree_distribution, "
                                        "d_compelling_events, b_bmi_stage]\n"
                                        "  versions: [partner_manager, joint, provider]\n"))
    inst = build_instrument(registry, study)
    text = measurement_model(codebook_from_instrument(inst, registry), registry)
    assert re.search(r"^c_mot_income =~ c_mot_income_\d\d \+ c_mot_income_\d\d(  #.*)?$", text, flags=re.M)
    assert re.search(r"^c_mot_income ~ c_mot_income_01 \+", text, flags=re.M)
    assert "# b_p1_vc_identify_opps: formative composite" in text
    assert "# d_compelling_events: event index" in text and "# b_bmi_stage: observed" in text
    # VC and VK items of phase 1 share one block, one stem and one scale (commensurate for RSA)
    phase = [b for b in inst.blocks if b.name.startswith("b_phase1")]
    assert len(phase) == 1
    texts = {q.text for q in phase[0].questions}
    assert len(texts) == 1 and {q.scale.id for q in phase[0].questions} == {"extent7"}


def test_build_is_deterministic(registry, tmp_path):
    from vccscale.instrument import write_instrument

    study = load_study(EXAMPLE)
    a = write_instrument(build_instrument(registry, study), tmp_path / "a", registry)
    b = write_instrument(build_instrument(registry, study), tmp_path / "b", registry)
    for k in a:
        assert a[k].read_bytes() == b[k].read_bytes(), k


def test_shipped_example_build_is_current(registry, tmp_path):
    """instruments/build/example_study is what the current code and registry produce (not stale)."""
    from vccscale.instrument import write_instrument

    shipped = REPO / "instruments" / "build" / "example_study"
    fresh = write_instrument(build_instrument(registry, load_study(EXAMPLE)), tmp_path, registry)
    for k, p in fresh.items():
        assert (shipped / p.name).read_bytes() == p.read_bytes(), f"{p.name} is stale: rebuild the example"


# ---------------------------------------------------------------------------------------------- hypothesis needs
def _needs_study(tmp_path, families, versions, hypotheses, extra=""):
    return load_study(_study(tmp_path, f"""study: {{id: needs, title: Needs, seed: 1}}
instrument:
  families: {families}
  versions: {versions}
{extra}models:
  hypotheses: {hypotheses}
"""))


def test_hypothesis_needs_adds_constructs_and_grouping_questions(registry, tmp_path):
    """A family D study with D's hypotheses: H66 names b_align_p3 (family B) and H65 compares groups of
    offering_complexity; both are added (and said), industry is always asked; nothing is added when switched off."""
    inst = build_instrument(registry, _needs_study(tmp_path, "[D]", "[provider, customer]", "[D]"))
    cb = codebook_from_instrument(inst, registry)
    constructs = {r.construct for r in cb.items()}
    assert "b_align_p3" in constructs
    assert sum(r.construct == "b_align_p3" for r in cb.items()) == len(registry.items_of("b_align_p3"))
    firmo = {r.variable for r in cb.rows if r.role == "firmographic"}
    assert {"offering_complexity", "industry"} <= firmo
    assert not {"network_configuration", "culture", "relationship_type"} & firmo  # no chosen hypothesis needs them
    assert any("b_align_p3" in n for n in inst.notes) and any("offering_complexity" in n for n in inst.notes)

    off = build_instrument(registry, _needs_study(tmp_path, "[D]", "[provider, customer]", "[D]",
                                                  "  hypothesis_needs: false\n"))
    cb_off = codebook_from_instrument(off, registry)
    assert "b_align_p3" not in {r.construct for r in cb_off.items()}
    assert "offering_complexity" not in {r.variable for r in cb_off.rows} and not off.notes


def test_hypothesis_needs_family_c_network(registry, tmp_path):
    """Family C with staff and partner-manager versions: x_prior_relationship (H31, H51) has network (S) items
    and H51 compares network configurations."""
    inst = build_instrument(registry, _needs_study(tmp_path, "[C]", "[staff, partner_manager]", "[C]"))
    cb = codebook_from_instrument(inst, registry)
    prior = [r for r in cb.items() if r.construct == "x_prior_relationship"]
    assert {r.item_id for r in prior} == {f"x_prior_relationship_0{k}" for k in (6, 7, 8, 9)}
    assert {r.perspective for r in prior} >= {"staff", "partner_manager"}
    assert "network_configuration" in {r.variable for r in cb.rows if r.role == "firmographic"}


def test_hypothesis_needs_leave_a_construct_list_alone(registry, example):
    """A study that lists its constructs (the shipped example) gets no constructs added: the list is the
    researcher's choice."""
    _, inst, cb, _ = example
    assert not any("added constructs" in n for n in inst.notes)
    assert "a_drv_communication" not in {r.construct for r in cb.items()}
