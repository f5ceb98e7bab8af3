"""A researcher's own study, end to end (issue 13): vccscale init -> edit -> instrument build -> simulate --study ->
vccscale run, for studies of each family (C with stakeholder versions), with every stage ok or skipped with a
reason, the settings of the study file honoured or refused, and the documentation the template points to."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from vccscale.errors import StudyError
from vccscale.pipeline import STAGES, init_study, run_study
from vccscale.study import Study, load_study

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "study-file.md"


def test_init_template_is_valid_and_its_documentation_exists(tmp_path):
    d = init_study("my_study", tmp_path)
    s = load_study(d / "study.yaml")
    assert s.efa.half and s.cfa.scope == "auto" and s.cleaning.missing_data == "fiml"
    text = (d / "study.yaml").read_text()
    assert "the manual" not in text and "docs/study-file.md" in text
    assert "vccscale simulate --study" in (d / "README.md").read_text()
    assert DOCS.is_file()
    doc = DOCS.read_text()
    # every key of every section is documented
    from pydantic import BaseModel

    def fields(model, prefix=""):
        for name, f in model.model_fields.items():
            if name == "path":
                continue
            yield name
            ann = f.annotation
            for a in (ann, *getattr(ann, "__args__", ())):
                if isinstance(a, type) and issubclass(a, BaseModel):
                    yield from fields(a)

    missing = sorted({k for k in fields(Study) if f"`{k}`" not in doc})
    assert missing == [], f"keys not documented in docs/study-file.md: {missing}"


@pytest.mark.parametrize("old,new,says", [
    ("  estimator: ML                 # ML | MLR (robust to non-normal answers)",
     "  efa_half: false", "efa.half"),
    ("  missing_data: fiml", "  missing_data: mice", "fiml"),
    ("  missing_data: fiml", "  missing_data: fiml\n  mice_imputations: 5", "mice_imputations"),
])
def test_moved_and_refused_settings_say_why(tmp_path, old, new, says):
    d = init_study("s", tmp_path)
    y = (d / "study.yaml").read_text()
    assert old in y
    (d / "study.yaml").write_text(y.replace(old, new, 1))
    with pytest.raises(StudyError, match=re.escape(says)):
        load_study(d / "study.yaml")


# --------------------------------------------------------------------------- studies of every family
FAMILIES = {
    # family: (versions, hypotheses, constructs of the instrument)
    "A": (["provider", "customer"], ["H1", "H15"],
          ["a_drv_cust_involvement", "a_drv_proactive_attitude", "a_drv_collaboration", "a_align_diag_design",
           "x_vcc_customer", "x_rel_satisfaction", "x_rel_continuation", "x_value_codestruction"]),
    # B: a formative composite (H17 surface), an ordered outcome (H22: ordinal regression); D: an event index as
    # a path end (H59)
    "B": (["provider", "customer"], ["H17", "H22", "H24"],
          ["b_p1_vc_identify_opps", "b_p1_vk_agree_distribution", "b_p1_outcome", "b_p3_vk_realign_incentives",
           "x_rel_continuation", "x_trust", "b_align_p1", "b_align_p2", "b_align_p3", "b_bmi_stage"]),
    "C": (["staff", "partner_manager"], ["H30", "H43"],
          ["c_customer_centricity", "c_mech_co_engagement", "c_vprop_micro", "c_mech_co_maintenance",
           "c_stakeholder_alignment"]),
    "D": (["provider", "customer"], ["H54", "H59", "H61"],
          ["d_cap_concerted", "d_prac_co_diagnosis", "d_prac_co_evaluation", "d_prac_co_ideation",
           "d_social_capital", "d_spe", "x_trust", "x_vcc_customer", "x_vcc_provider", "d_compelling_events"]),
}


def _study(tmp_path: Path, family: str) -> Path:
    versions, hyps, constructs = FAMILIES[family]
    d = init_study(f"study_{family.lower()}", tmp_path)
    cfg = yaml.safe_load((d / "study.yaml").read_text())
    cfg["instrument"] = {"constructs": constructs, "versions": versions,
                         "blocks": ["consent", "respondent", "attention", "marker", "firmographics"]}
    cfg["models"].update(hypotheses=hyps, bootstrap=200, permutations=200)
    cfg["efa"]["half"] = False
    (d / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return d


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_run(request, tmp_path_factory):
    from vccscale.instrument import build_instrument, write_instrument
    from vccscale.registry import load_registry
    from vccscale.simulate import simulate_study

    fam = request.param
    d = _study(tmp_path_factory.mktemp(f"fam{fam}"), fam)
    study = load_study(d / "study.yaml")
    reg = load_registry()
    write_instrument(build_instrument(reg, study), d / "build", reg)
    sim = simulate_study(study, n=400, seed=7, out=d / "data" / "export.csv")
    res = run_study(d / "study.yaml", progress=False)
    return fam, d, sim, res


@pytest.mark.slow  # a whole own-study run per family: 5-9 s
def test_every_stage_ends_ok_or_skipped_with_a_reason(family_run):
    fam, d, _, res = family_run
    assert res.failed == [], {s: r.notes for s, r in res.stages.items() if r.status == "failed"}
    for s in STAGES:
        rec = json.loads((res.out / "stages" / f"{s}.json").read_text())
        assert rec["status"] in ("ok", "skipped"), (fam, s, rec["status"])
        if rec["status"] == "skipped":
            assert rec["notes"] and len(rec["notes"][0]) > 20, (fam, s)
    assert res.report_written
    man = json.loads((res.out / "manifest.json").read_text())
    assert {m["stage"]: m["status"] for m in man["stages"]} == {s: res.stages[s].status for s in STAGES}


@pytest.mark.slow  # a whole own-study run per family: 5-9 s
def test_measurement_design_is_stated_and_sized(family_run):
    fam, d, _, res = family_run
    meas = json.loads((res.out / "data" / "measurement.json").read_text())
    assert meas["scope"] in ("full", "groups", "construct") and meas["reason"]
    for m in meas["models"]:
        ratio = m["n"] / m["npar"]
        if meas["scope"] == "full" and m["status"] == "ok":
            assert ratio >= meas["min_ratio"]
    page = (res.out / "report.html").read_text()
    assert "Measurement model:" in page and "Why:" in page


@pytest.mark.slow  # a whole own-study run per family: 5-9 s
def test_planted_hypotheses_are_supported(family_run):
    fam, d, sim, res = family_run
    rows = {r["id"]: r for r in json.loads((res.out / "data" / "hypotheses.json").read_text())}
    decisions = {h: r["decision"] for h, r in rows.items()}
    assert set(decisions) == set(FAMILIES[fam][1])
    assert all(v != "not_tested" for v in decisions.values()), {h: rows[h]["reason"] for h in rows}
    supported = [h for h, v in decisions.items() if v == "supported"]
    assert supported, {h: rows[h]["reason"] for h in rows}
