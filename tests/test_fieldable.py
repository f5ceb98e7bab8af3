"""A fieldable questionnaire (issue 19): consent, key informants, family B screening and stage routing, event
display logic, version-specific "don't know", attention checks on every path, time estimates, the length cap and
the three-form planned-missingness design, and cleaning that does not count routed or planned-missing items as
nonresponse."""
from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest
from click.testing import CliRunner

from vccscale.errors import StudyError
from vccscale.instrument import build_instrument, codebook_from_instrument, read_qsf, write_instrument
from vccscale.instrument.codebook import Codebook, codebook_equal
from vccscale.instrument.logic import Condition, Term, display_logic, parse, parse_display_logic, shown
from vccscale.instrument.model import VERSIONS
from vccscale.instrument.qsf import qsf_dict
from vccscale.study import ConsentSection, load_study

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "analysis" / "example_study.yaml"


def _study(tmp_path: Path, body: str, sid: str = "fs") -> object:
    p = tmp_path / f"{sid}.yaml"
    p.write_text(f"study: {{id: {sid}, title: Fieldable, seed: 7}}\ninstrument:\n{body}", encoding="utf-8")
    return load_study(p)


def _build(registry, tmp_path, body, sid="fs"):
    inst = build_instrument(registry, _study(tmp_path, body, sid))
    return inst, codebook_from_instrument(inst, registry)


def _sq(qsf: dict) -> dict[str, dict]:
    return {el["Payload"]["DataExportTag"]: el["Payload"] for el in qsf["SurveyElements"] if el["Element"] == "SQ"}


B_STUDY = "  families: [B]\n  versions: [provider, customer]\n"


@pytest.fixture(scope="module")
def fam_b(registry, tmp_path_factory):
    return _build(registry, tmp_path_factory.mktemp("b"), B_STUDY, "fam_b")


# ---------------------------------------------------------------------------------------------- consent
def test_consent_placeholders_visible_and_warned(registry, tmp_path):
    inst, cb = _build(registry, tmp_path, "  families: [A]\n  versions: [provider, customer]\n")
    consent = next(b for b in inst.blocks if b.name == "consent")
    text = " ".join(q.text for q in consent.questions)
    for key in ConsentSection.model_fields:
        assert f"[{key.upper()}]" in text, key
    warning = next(w for w in inst.warnings if w.startswith("consent page"))
    assert all(f"[{k.upper()}]" in warning for k in ConsentSection.model_fields)
    # what the page says: purpose, sponsor, ethics approval, voluntary, withdrawal, GDPR, storage, retention, the
    # relationship code linking both sides' answers and that neither side sees the other's, contact
    for phrase in ("About this study", "ethics committee", "voluntary", "withdrawn", "GDPR", "stored", "kept for",
                   "relationship code", "Neither side sees the other side's answers", "contact"):
        assert phrase.lower() in text.lower(), phrase
    assert re.search(r"takes about \d+ minutes", text)  # [MINUTES] filled from the estimate
    # the end of the survey for those who do not agree is kept
    qid = next(q.qid for q in consent.questions if q.tag == "consent")
    assert ("end_if", qid, 2, "End survey without consent") in inst.flow
    assert any(r.role == "consent" and r.variable == "consent" for r in cb.rows)


def test_every_consent_key_is_used_and_unknown_keys_are_refused(registry, tmp_path):
    values = {k: f"VALUE-{k}" for k in ConsentSection.model_fields}
    body = "  families: [A]\n  versions: [provider, customer]\n  consent:\n" + "".join(
        f"    {k}: {v}\n" for k, v in values.items())
    inst, _ = _build(registry, tmp_path, body)
    text = " ".join(q.text for b in inst.blocks if b.name == "consent" for q in b.questions)
    for k, v in values.items():
        assert v in text, k
    assert not re.search(r"\[[A-Z_]{3,}\]", text)
    assert not any(w.startswith("consent page") for w in inst.warnings)
    with pytest.raises(StudyError) as e:
        _study(tmp_path, "  families: [A]\n  versions: [provider]\n  consent:\n    sponsr: X\n")
    assert e.value.field == "instrument.consent.sponsr" and "unknown key" in str(e.value)
    with pytest.raises(StudyError, match="nothing would use"):
        _study(tmp_path, "  families: [A]\n  versions: [provider]\n  blocks: [respondent]\n  attention_checks: 0\n"
                         "  consent:\n    sponsor: X\n")


def test_network_consent_names_organisation_code(registry, tmp_path):
    inst, _ = _build(registry, tmp_path, "  constructs: [c_shared_values]\n  versions: [staff, partner_manager]\n")
    text = " ".join(q.text for b in inst.blocks if b.name == "consent" for q in b.questions)
    assert "organisation code" in text and "relationship code" not in text and "[Network]" in text


def test_cli_build_warns_on_stderr_and_writes_summary(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text("study: {id: cli, title: T}\ninstrument:\n  constructs: [x_vcc_provider]\n"
                     "  versions: [provider, customer]\n  max_minutes: 1\n", encoding="utf-8")
    res = CliRunner().invoke(main_cli(), ["instrument", "build", str(study), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "[SPONSOR]" in res.stderr and "warning: consent page" in res.stderr
    assert re.search(r"version provider: estimated [\d.]+ minutes, over instrument.max_minutes = 1 without planned "
                     r"missingness", res.stderr)
    assert (tmp_path / "o" / "summary.json").exists()


def main_cli():
    from vccscale.cli import main

    return main


# ---------------------------------------------------------------------------------------------- key informants
def test_key_informant_items_in_codebook(registry, tmp_path):
    _, cb = _build(registry, tmp_path, "  families: [A]\n  versions: [provider, customer]\n")
    ki = [r for r in cb.rows if r.role == "key_informant"]
    assert [r.variable for r in ki] == ["ki_knowledge", "ki_involvement", "ki_years"]
    assert ki[0].value_labels[5] == "Extremely knowledgeable" and ki[2].type == "numeric"
    shipped = Codebook.read(REPO / "instruments" / "build" / "example_study" / "codebook.json")
    assert {r.variable for r in shipped.rows if r.role == "key_informant"} == {"ki_knowledge", "ki_involvement",
                                                                                "ki_years"}


# ---------------------------------------------------------------------------------------------- family B routing
def test_b_screener_and_stage_come_first(fam_b, registry):
    inst, cb = fam_b
    names = [b.name for b in inst.blocks]
    screen = names.index("outcome_screen")
    b_blocks = [k for k, b in enumerate(inst.blocks) if any(q.role == "item" and q.statements
                                                           and q.statements[0].construct.startswith("b_")
                                                           for q in b.questions) and b.name != "outcome_screen"]
    assert b_blocks and screen < min(b_blocks)
    sq = [q for q in inst.blocks[screen].questions]
    assert [q.tag for q in sq] == ["outcome_contract", "b_bmi_stage_j_1"]
    assert sq[0].role == "screener" and sq[1].shown_if.text() == "outcome_contract = 1"
    # in the flow the screening block comes before every block of family B (shared or in a version branch)
    order = []
    for node in inst.flow:
        if node[0] == "block":
            order.append(node[1])
        elif node[0] == "branches":
            order += [bid for br in node[1] for bid in br.blocks]
    assert order.index(inst.blocks[screen].id) < min(order.index(inst.blocks[k].id) for k in b_blocks)
    # plain words for respondents; F1..S3 only in the codebook's value labels
    stage = _sq(qsf_dict(inst))["b_bmi_stage_j_1"]
    shown_text = json.dumps(stage["Choices"])
    assert not re.search(r"\b[FS]\d:", shown_text) and "contract" in shown_text
    row = cb.by_variable()["b_bmi_stage_j_1"]
    assert row.value_labels[0].startswith("F1:") and row.value_labels[3].startswith("S3:")
    assert stage["VariableNaming"]["0"].startswith("F1:")


def test_b_phase_display_logic(fam_b, registry):
    inst, cb = fam_b
    for r in cb.items():
        c = registry.constructs[r.construct]
        if c.family != "B":  # the shared x_ constructs are about the relationship, asked of everyone
            assert r.shown_if is None
            continue
        if r.construct == "b_bmi_stage":
            continue
        assert r.shown_if.startswith("outcome_contract = 1"), r.variable
        phase = re.match(r"^b_(?:align_)?p(\d)", r.construct) or (
            re.match(r"^b_p(\d)", c.parent) if c.parent else None)
        k = int(phase.group(1)) if phase else 1
        stage_terms = re.findall(r"b_bmi_stage_j_1 != (\d)", r.shown_if)
        assert stage_terms == [str(x) for x in range(k - 1)], (r.variable, r.shown_if)
    # the QSF carries it as Qualtrics display logic, and it reads back into the same codebook
    sq = _sq(qsf_dict(inst))
    p3 = next(p for t, p in sq.items() if t.startswith("b_p3_vc_operational_caps"))
    conds = [v for k, v in p3["DisplayLogic"]["0"].items() if k.isdigit()]
    assert [c["Operator"] for c in conds] == ["Selected", "NotSelected", "NotSelected"]
    assert all(c.get("Conjuction") == "And" for c in conds[1:])
    assert conds[1]["ChoiceLocator"].endswith("/SelectableChoice/0")


def test_display_logic_round_trips_through_qsf_read(fam_b, registry, tmp_path):
    inst, cb = fam_b
    paths = write_instrument(inst, tmp_path / "out", registry)
    back = read_qsf(paths["qsf"], registry=registry)
    assert codebook_equal(cb, back) == []
    assert sum(1 for r in back.rows if r.shown_if) == sum(1 for r in cb.rows if r.shown_if) > 100


def test_display_logic_parser_on_qualtrics_json():
    cond = Condition((Term("q1", "=", 1), Term("grid_2", "!=", 3), Term("form", "!=", 2, embedded=True)))

    def target(var):
        from vccscale.instrument.logic import Target

        return {"q1": Target("QID1", None, {1: "1"}), "grid_2": Target("QID2", 2, {3: "3"})}.get(var)

    logic = display_logic(cond, target)
    assert logic["Type"] == "BooleanExpression" and logic["0"]["Type"] == "If"
    assert logic["0"]["1"]["ChoiceLocator"] == "q://QID2/SelectableAnswer/2/3"
    assert logic["0"]["2"]["LogicType"] == "EmbeddedField" and logic["0"]["2"]["Operator"] == "NotEqualTo"
    where = {("QID1", "1", None): ("q1", 1), ("QID2", "3", "2"): ("grid_2", 3)}
    assert parse_display_logic(logic, lambda q, a, s: where.get((q, a, s))) == cond.text()
    # a condition vccscale cannot express is kept as text, and counts as met when screening
    odd = {"0": {"0": {"LogicType": "Question", "Operator": "Displayed", "ChoiceLocator": "q://QID3/ChoiceDisplayed/1",
                       "Description": "If <b>Speed</b> Is Displayed"}, "Type": "If"}, "Type": "BooleanExpression"}
    text = parse_display_logic(odd, lambda *a: None)
    assert text == "qualtrics: If Speed Is Displayed" and parse(text) is None
    assert parse("(a = 1 or b = 2) and c != 0") == ("and", [("or", [("term", "a", "=", 1), ("term", "b", "=", 2)]),
                                                            ("term", "c", "!=", 0)])


def test_shown_semantics():
    import pandas as pd

    d = pd.DataFrame({"s": [1, 2, None], "t": [0, 1, None]})
    assert shown("s = 1", d).tolist() == [True, False, False]          # nothing selected: "=" is false
    assert shown("t != 0", d).tolist() == [False, True, True]          # nothing selected: "!=" is true
    assert shown("s = 1 and t != 0", d).tolist() == [False, False, False]
    assert shown("absent = 1", d).tolist() == [True, True, True]       # a column the data lack: counts as met
    assert shown(None, d).all() and shown("qualtrics: whatever", d).all()


# ---------------------------------------------------------------------------------------------- events
def test_event_significance_only_if_the_event_happened(registry, tmp_path):
    inst, cb = _build(registry, tmp_path, "  constructs: [d_compelling_events]\n  versions: [provider]\n")
    rows = {r.item_id: r for r in cb.items()}
    for it in registry.items_of("d_compelling_events"):
        if it.kind == "checklist":
            assert rows[it.id].shown_if is None
            sig = rows[it.pair]
            assert sig.shown_if == f"{rows[it.id].variable} = 1", sig.variable
    qsf = qsf_dict(inst)
    sig_q = next(p for t, p in _sq(qsf).items() if t.endswith("significance7"))
    logic = sig_q["Choices"]["2"]["DisplayLogic"]["0"]["0"]
    assert logic["Operator"] == "Selected" and re.fullmatch(r"q://QID\d+/SelectableAnswer/1/1", logic["ChoiceLocator"])
    # the rating needs the event question's answer, so it starts a new page
    bl = next(el["Payload"] for el in qsf["SurveyElements"] if el["Element"] == "BL")
    block = next(b for b in bl if any(e.get("QuestionID") == sig_q["QuestionID"] for e in b["BlockElements"]))
    types = [e["Type"] for e in block["BlockElements"]]
    k = [e.get("QuestionID") for e in block["BlockElements"]].index(sig_q["QuestionID"])
    assert types[k - 1] == "Page Break"


# ---------------------------------------------------------------------------------------------- don't know
def test_dont_know_only_in_the_cross_party_version(registry, tmp_path):
    _, cb = _build(registry, tmp_path, "  constructs: [x_vcc_provider, x_vcc_customer]\n"
                                       "  versions: [provider, customer]\n")
    by = {(r.item_id, r.perspective): r for r in cb.items()}
    assert by[("x_vcc_provider_01", "customer")].missing_codes == (99,)      # "profitable for [Provider]"
    assert by[("x_vcc_provider_01", "provider")].missing_codes == ()
    assert by[("x_vcc_customer_01", "provider")].missing_codes == (99,)
    assert by[("x_vcc_customer_01", "customer")].missing_codes == ()
    for (iid, persp), r in by.items():
        item = registry.items[iid]
        if item.dont_know_for(VERSIONS[persp][0]):
            assert r.missing_codes == (99,) and r.value_labels[99].startswith("Don't know")
    # the cleaning reads the code as missing
    import pandas as pd

    from vccscale.clean.scoring import numeric_items

    r = by[("x_vcc_provider_01", "customer")]
    ds = _dataset(pd.DataFrame({r.variable: [3, 99, 7]}), Codebook((r,)))
    assert numeric_items(ds, [r.variable])[r.variable].isna().tolist() == [False, True, False]


def _dataset(df, cb):
    from vccscale.io.dataset import ColumnInfo, Dataset, SourceInfo

    cols = {c: ColumnInfo(name=c, original=c, codebook_variable=c) for c in df.columns}
    return Dataset(data=df, columns=cols, codebook=cb,
                   source=SourceInfo(path="mem", format="plain_csv", encoding=None, sha256=""))


# ---------------------------------------------------------------------------------------------- attention checks
@pytest.mark.parametrize("body", [
    "  families: [A]\n  versions: [provider, customer]\n",
    B_STUDY,
    "  families: [B]\n  versions: [provider]\n",
    "  families: [D]\n  versions: [provider, customer]\n",
    "  families: [C]\n  versions: [staff, partner_manager, funder, service_user, employer]\n",
    "  constructs: [b_p1_vc_explore_enhance, x_trust]\n  versions: [provider, customer, partner_manager]\n",
])
def test_attention_checks_on_every_path(registry, tmp_path, body):
    inst, cb = _build(registry, tmp_path, body + "  attention_checks: 2\n")
    by_block = {b.name: b for b in inst.blocks}
    q_of = {q.qid: q for q in inst.questions}
    role_versions = {v for v in inst.versions if v not in ("provider", "customer", "joint")}
    for v in inst.versions:
        seen = [r for r in cb.filter(role="attention_check") if by_block[r.block].version in (None, v)
                and not (v in role_versions and q_of[r.question_id].shown_if is not None
                         and "side" in q_of[r.question_id].shown_if.variables)]
        assert len(seen) == 2 and len({r.item_id for r in seen}) == 2, (v, [r.variable for r in seen])
    assert not [w for w in inst.warnings if "attention" in w]


def test_side_three_is_screened_out_or_routed(registry, tmp_path):
    inst, _ = _build(registry, tmp_path, "  families: [A]\n  versions: [provider, customer]\n")
    side = next(q for q in inst.questions if q.tag == "side")
    ends = [n for n in inst.flow if n[0] == "end_if" and n[1] == side.qid]
    assert [n[2] for n in ends] == [3] and "Another partner organisation" in ends[0][3]
    # with stakeholder roles, side 3 goes on (routed by stakeholder role) and does not see the joint items
    inst2, cb2 = _build(registry, tmp_path, "  constructs: [b_p1_vc_explore_enhance, x_trust]\n"
                                             "  versions: [provider, customer, partner_manager]\n")
    assert not [n for n in inst2.flow if n[0] == "end_if" and n[1] != next(
        q.qid for q in inst2.questions if q.tag == "consent")]
    joint = [r for r in cb2.items() if r.perspective == "joint"]
    assert joint and all("side != 3" in r.shown_if for r in joint)
    assert cb2.items("partner_manager")


# ---------------------------------------------------------------------------------------------- time estimate
def _independent_estimate(inst, cb, version):
    """5 s per answer item, 20 s per text/numeric entry, + 1 minute; consent block not counted."""
    vblock = {b.name: b.version for b in inst.blocks}
    items = texts = 0
    for r in cb.rows:
        if r.role in ("metadata", "embedded_data", "form") or r.block == "consent":
            continue
        if vblock[r.block] not in (None, version):
            continue
        if r.type in ("text", "numeric"):
            texts += 1
        else:
            items += 1
    return items, texts, round((5 * items + 20 * texts) / 60 + 1, 1)


def test_summary_json_and_printed_estimates(registry, tmp_path):
    study = load_study(EXAMPLE)
    inst = build_instrument(registry, study)
    cb = codebook_from_instrument(inst, registry)
    paths = write_instrument(inst, tmp_path / "out", registry)
    raw = paths["summary"].read_text(encoding="utf-8")
    summary = json.loads(raw)
    assert raw == json.dumps(summary, indent=1, sort_keys=True, ensure_ascii=False) + "\n"  # sorted, stable
    assert not re.search(r"\d{4}-\d\d-\d\dT|\d\d:\d\d:\d\d", raw)                          # no timestamps
    assert "5 s per answer item" in summary["timing_rule"] and "20 s" in summary["timing_rule"]
    assert set(summary["versions"]) == {"provider", "customer"}
    html_page = paths["questionnaire_html"].read_text(encoding="utf-8")
    for v, rec in summary["versions"].items():
        n_items, n_text, mins = _independent_estimate(inst, cb, v)
        assert (rec["n_items"], rec["n_text"], rec["estimated_minutes"]) == (n_items, n_text, mins), v
        assert f"about {mins:g}" in html_page
    assert summary["totals"]["max_estimated_minutes"] == max(r["estimated_minutes"]
                                                             for r in summary["versions"].values())
    # the consent page states the longest version, rounded up
    consent_text = " ".join(q.text for b in inst.blocks if b.name == "consent" for q in b.questions)
    longest = math.ceil(summary["totals"]["max_estimated_minutes"])
    assert f"takes about {longest} minutes" in consent_text
    assert (REPO / "instruments" / "build" / "example_study" / "summary.json").read_text(encoding="utf-8") == raw


def test_length_cap_warns_naming_version_estimate_and_cap(registry, tmp_path):
    inst, _ = _build(registry, tmp_path, "  families: [A]\n  versions: [provider, customer]\n  max_minutes: 5\n")
    over = [w for w in inst.warnings if "max_minutes" in w]
    assert len(over) == 2 and all(re.search(r"version (provider|customer): estimated [\d.]+ minutes, over "
                                            r"instrument.max_minutes = 5", w) for w in over)
    inst2, _ = _build(registry, tmp_path, "  families: [A]\n  versions: [provider, customer]\n  max_minutes: 90\n")
    assert not [w for w in inst2.warnings if "max_minutes" in w]


# ---------------------------------------------------------------------------------------------- three-form design
@pytest.fixture(scope="module")
def three_form(registry, tmp_path_factory):
    d = tmp_path_factory.mktemp("tf")
    body = "  families: [A]\n  versions: [provider, customer]\n  planned_missing: three_form\n  max_minutes: 60\n"
    inst, cb = _build(registry, d, body, "tf")
    return inst, cb, d


def test_three_form_blocks(three_form, registry):
    inst, cb, _ = three_form
    assert inst.forms == {1: "A", 2: "B", 3: "C"}
    per_construct: dict[str, dict[str, str]] = {}
    for r in cb.items():
        assert r.form_block in ("X", "A", "B", "C"), r.variable
        per_construct.setdefault(r.construct, {}).setdefault(r.item_id, r.form_block)
        assert per_construct[r.construct][r.item_id] == r.form_block  # one block per item, in every version
        # each item is either in X (every form) or omitted by exactly one form
        omitted_by = [k for k, b in inst.forms.items() if b == r.form_block]
        assert len(omitted_by) == (0 if r.form_block == "X" else 1)
        assert (f"form != {omitted_by[0]}" in (r.shown_if or "")) if omitted_by else "form" not in (r.shown_if or "")
    for cid, blocks in per_construct.items():
        letters = list(blocks.values())
        refl = [i for i in registry.items_of(cid) if i.kind == "reflective"]
        if len(refl) >= 4:
            assert letters.count("X") == len(refl) // 4, cid
            for k, omit in inst.forms.items():
                assert (len(letters) - letters.count(omit)) / len(letters) >= 0.6 - 1e-9
            # every pair of items is answered together in some form
            for a, b in combinations(blocks, 2):
                assert any(blocks[a] != omit and blocks[b] != omit for omit in inst.forms.values()), (a, b)
        else:
            assert set(letters) == {"X"}
    # each form omits exactly one block
    for k, omit in inst.forms.items():
        hidden = {r.form_block for r in cb.items() if f"form != {k}" in (r.shown_if or "")}
        assert hidden == {omit}
    form_row = cb.by_variable()["form"]
    assert form_row.role == "form" and set(form_row.value_labels) == {1, 2, 3}
    assert "A omitted" in form_row.value_labels[1]


def test_three_form_qsf_randomizer_and_round_trip(three_form, registry):
    inst, cb, d = three_form
    paths = write_instrument(inst, d / "out", registry)
    qsf = json.loads(paths["qsf"].read_text(encoding="utf-8"))
    fl = next(el["Payload"] for el in qsf["SurveyElements"] if el["Element"] == "FL")
    rnd = [n for n in fl["Flow"] if n["Type"] == "BlockRandomizer"]
    assert len(rnd) == 1 and rnd[0]["SubSet"] == "1" and rnd[0]["EvenPresentation"] is True
    assert [n["EmbeddedData"][0]["Value"] for n in rnd[0]["Flow"]] == ["1", "2", "3"]
    assert all(n["EmbeddedData"][0]["Field"] == "form" for n in rnd[0]["Flow"])
    assert codebook_equal(cb, read_qsf(paths["qsf"], registry=registry)) == []
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    for v, rec in summary["versions"].items():
        assert set(rec["forms"]) == {"1", "2", "3"}
        assert rec["estimated_minutes"] == max(f["estimated_minutes"] for f in rec["forms"].values())
        assert rec["estimated_minutes"] < rec["estimated_minutes_all_items"]
    assert summary["planned_missing"]["design"] == "three_form"


# ---------------------------------------------------------------------------------------------- cleaning
def test_cleaning_does_not_count_routed_or_planned_missing_items(registry, tmp_path):
    import numpy as np

    from vccscale.clean import clean
    from vccscale.clean.pipeline import applicable
    from vccscale.instrument import fake_export
    from vccscale.io import read_export
    from vccscale.study import CleaningSection

    body = ("  constructs: [b_p1_vc_explore_enhance, b_p2_vc_value_architecture, b_p3_vc_operational_caps, "
            "a_drv_cust_involvement]\n  versions: [provider, customer]\n  planned_missing: three_form\n")
    inst, cb = _build(registry, tmp_path, body, "cl")
    fake_export(cb, n=40, seed=3, out=tmp_path / "e.csv", partials=0.0)
    ds = read_export(tmp_path / "e.csv", cb)
    data = ds.data.copy()
    rng = np.random.default_rng(1)
    items = ds.item_columns()
    # half the respondents have no outcome-based arrangement; the others ended in phase 1; forms at random
    no_b = data.index[::2]
    data.loc[no_b, "outcome_contract"] = 2
    data.loc[data.index[1::2], "b_bmi_stage_j_1"] = 0
    data["form"] = rng.integers(1, 4, len(data))
    routed = ds.with_data(data)
    shown_mask = applicable(routed, items)
    assert not shown_mask.loc[no_b, [c for c in items if c.startswith("b_")]].to_numpy().any()
    data = data.mask(~shown_mask.reindex(columns=data.columns, fill_value=True))
    routed = ds.with_data(data)
    res = clean(routed, CleaningSection(missing={"max_share": 0.1}))
    missing_excluded = res.audit[(res.audit["rule"] == "missing") & res.audit["excluded"]]
    assert len(missing_excluded) == 0
    # without the codebook's conditions the same respondents would be screened out as incomplete
    bare = Codebook(tuple(replace(r, shown_if=None) for r in cb.rows))
    res2 = clean(read_export(tmp_path / "e.csv", bare).with_data(data), CleaningSection(missing={"max_share": 0.1}))
    assert res2.audit[(res2.audit["rule"] == "missing") & res2.audit["excluded"]].shape[0] > 0
