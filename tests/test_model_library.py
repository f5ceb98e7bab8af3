"""Model library: generated lavaan syntax for families A-D (and X), hypothesis plans, the models: section."""
from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import StudyError
from vccscale.models import (
    build_model,
    family_models,
    plan_hypothesis,
    select_hypotheses,
)
from vccscale.models.library import composite_column
from vccscale.sem import parse_model
from vccscale.study import ModelsSection, load_study
from reference_data import load_reference


@pytest.fixture(scope="module")
def models(registry):
    return family_models(registry)


@pytest.mark.parametrize("family", ["A", "B", "C", "D", "X"])
def test_family_model_parses_and_is_complete(registry, models, family):
    spec = models[family]
    rows = parse_model(spec.syntax)
    # labels unique: one label per structural path, and := names unique
    labels = [r.modifier.label[0] for r in rows if r.op in ("~", "~~") and r.modifier.label]
    assert len(labels) == len(set(labels)) == len(spec.paths) + len(spec.covariances) + len(spec.interactions)
    defined = [r.lhs for r in rows if r.op == ":="]
    assert len(defined) == len(set(defined)) == len(spec.defined)
    lhs_latent = {r.lhs for r in rows if r.op == "=~"}
    # every construct of every testable relation of the family's hypotheses appears, measured by its items
    for h in registry.hypotheses_in(family):
        plan = plan_hypothesis(registry, h)
        for c in plan.components:
            if c.kind in ("path", "indirect", "nested", "covariance"):
                for cid in (c.frm, c.to, *c.via, *(x for p in c.paths for x in p)):
                    if cid:
                        assert cid in lhs_latent, (h.id, cid)
                if c.kind == "path":
                    assert (c.frm, c.to) in spec.paths
                if c.kind == "indirect":
                    name = spec.indirect[(c.frm, c.via, c.to)]
                    chain = (c.frm, *c.via, c.to)
                    assert spec.defined[name] == "*".join(spec.paths[(a, b)] for a, b in pairwise(chain))
    # indicators are item ids of the registry (or first-order factors, product indicators of an interaction, or
    # the score of a formative composite or event index: loading 1, error variance 0)
    composites = {composite_column(c.id): c.id for c in registry.constructs.values()
                  if c.identification in ("composite", "index")}
    for r in rows:
        if r.op == "=~":
            assert (r.rhs in registry.items or r.rhs in registry.constructs or r.rhs in spec.products
                    or composites.get(r.rhs) == r.lhs), r.rhs
            if r.rhs in composites:
                assert r.modifier.fixed == [1.0] and f"{r.rhs} ~~ 0*{r.rhs}" in spec.syntax


def test_indirect_total_and_total_effects(registry, models):
    spec = models["A"]
    # H8: cust_involvement -> diag_design -> vcc_customer is a specific indirect effect; total indirect sums all
    # chains (cross-practice paths of H5 add more); the total adds the direct path
    key = ("a_drv_cust_involvement", ("a_align_diag_design",), "x_vcc_customer")
    ind = spec.indirect[key]
    t = spec.total_indirect[("a_drv_cust_involvement", "x_vcc_customer")]
    assert ind in spec.defined[t].split(" + ")
    tot = spec.total[("a_drv_cust_involvement", "x_vcc_customer")]
    assert spec.defined[tot] == f"{spec.paths[('a_drv_cust_involvement', 'x_vcc_customer')]} + {t}"
    assert re.search(rf"^{ind} := p\d+\*p\d+$", spec.syntax, re.MULTILINE)


def test_second_order_mimic_and_skipped_constructs(registry):
    spec = build_model(registry, [registry.hypotheses["H6"]])
    assert "a_align_ri =~ a_align_diag_design + a_align_prod_impl + a_align_promo_share + a_align_support_assist" \
        in spec.syntax
    assert "a_align_diag_design =~ a_align_diag_design_01" in spec.syntax
    mimic = build_model(registry, [registry.hypotheses["H44"]])
    assert re.search(r"^c_mot_income =~ c_mot_income_\d\d \+ c_mot_income_\d\d$", mimic.syntax, re.MULTILINE)
    assert re.search(r"^c_mot_income ~ c_mot_income_\d\d", mimic.syntax, re.MULTILINE)
    # H26 names a formative composite: modelled as a single-indicator latent variable of its composite score
    plan = plan_hypothesis(registry, registry.hypotheses["H26"])
    assert not plan.untested
    syn = build_model(registry, [plan]).syntax
    assert "b_p2_vk_profit_formula =~ 1*b_p2_vk_profit_formula_score" in syn
    assert "b_p2_vk_profit_formula_score ~~ 0*b_p2_vk_profit_formula_score" in syn
    assert "b_p2_vk_delivery_risk =~" not in syn  # its sub-activities enter through the score only


def test_composite_path_matches_lavaan(registry):
    """A path to a formative composite (H26: revenue-model inertia -> agreeing the profit formula) on data with
    6% missing answers, FIML: the composite score (unit-weighted mean of the sub-activity means, computed in R
    independently) as a single-indicator latent variable; estimate, SE, std.all and chi-square as lavaan 0.6-14
    (tests/reference/models/composite_reference.R)."""
    import dataclasses
    import json

    from vccscale.models import test_hypotheses
    from vccscale.registry import Hypothesis

    ref = load_reference(Path(__file__).parent / "reference" / "models" / "composite_reference.json")
    data = pd.read_csv(Path(__file__).parent / "reference" / "models" / "composite_data.csv")
    h = Hypothesis.model_validate({
        "id": "H126", "family": "B", "statement": "composite path",
        "relations": [{"type": "path", "from": "b_revenue_model_inertia", "to": "b_p2_vk_profit_formula",
                       "sign": "-"}],
        "test": {"methods": ["sem_path"], "description": "x"}, "basis": ["F"], "exploratory": False,
        "provenance": [{"seed": "S001", "where": "§F2"}]})
    reg = dataclasses.replace(registry, hypotheses={**registry.hypotheses, "H126": h})
    (r,) = test_hypotheses(ModelsSection(hypotheses=["H126"], bootstrap=0), data, reg, missing="fiml")
    (p,) = r.parameters
    assert p["est"] == pytest.approx(ref["path"]["est"], abs=1e-4)
    assert p["se"] == pytest.approx(ref["path"]["se"], abs=1e-4)
    assert p["std_all"] == pytest.approx(ref["path"]["std_all"], abs=1e-4)
    assert r.fit["chisq"] == pytest.approx(ref["fit"]["chisq"], abs=1e-3) and r.fit["df"] == ref["fit"]["df"]
    assert r.fit["n"] == ref["nobs"] and r.decision == "supported"
    from vccscale.models.library import composite_scores

    scored = composite_scores(reg, data, r.model)["b_p2_vk_profit_formula_score"]
    want = np.array([np.nan if v == "NA" else v for v in ref["score_head"]], dtype=float)
    np.testing.assert_allclose(scored.to_numpy()[:10], want, rtol=1e-12)
    assert scored.notna().sum() == ref["n_score"]


def test_zero_paths_and_multigroup_labels(registry):
    h8 = registry.hypotheses["H8"]
    plan = plan_hypothesis(registry, h8)
    (nested,) = [c for c in plan.components if c.kind == "nested"]
    assert len(nested.paths) == 11
    free = build_model(registry, [plan])
    cons = build_model(registry, [plan], zero=nested.paths)
    parse_model(cons.syntax)
    assert all(p not in cons.paths for p in nested.paths) and all(p in free.paths for p in nested.paths)
    assert "0*a_drv_informing" in cons.syntax
    h13 = plan_hypothesis(registry, registry.hypotheses["H13"])
    mg = next(c for c in h13.components if c.kind == "multigroup")
    assert mg.group == "perspective"
    eq = build_model(registry, [h13], groups=2, equal=[(mg.frm, mg.to)])
    lab = eq.paths[(mg.frm, mg.to)]
    assert f"c({lab}, {lab})*{mg.frm}" in eq.syntax
    parse_model(eq.syntax)


def test_controls(registry):
    spec = build_model(registry, [registry.hypotheses["H7"]], controls=["x_trust", "firm_size"])
    assert "x_trust =~ x_trust_01" in spec.syntax
    assert re.search(r"^x_value_codestruction ~ p1\*a_align_ri \+ k1\*x_trust \+ k2\*firm_size$", spec.syntax, re.MULTILINE)


def test_untestable_reasons(registry):
    reasons = {h: plan_hypothesis(registry, registry.hypotheses[h])
               for h in ("H14", "H28", "H46", "H61", "H11", "H10")}
    assert {c.kind for c in reasons["H14"].components} == {"congruence"} and not reasons["H14"].untested
    assert all("two-level" in why for _, why in reasons["H28"].untested)  # within vs between: not built
    assert "cross-lagged" in reasons["H46"].blocked
    kinds = [c.kind for c in reasons["H61"].components]
    assert kinds.count("necessity") == 4 and "path" in kinds  # NCA for the necessity claims, SEM for the paths
    # the moderator of H11 is a second-order construct: no items of its own for product indicators
    assert all("reflective items" in r for _, r in reasons["H11"].untested)
    assert sum(c.kind == "interaction" for c in reasons["H10"].components) == 11


def test_select_hypotheses(registry):
    assert [h.id for h in select_hypotheses(registry, ["H2", "H1"])] == ["H1", "H2"]
    assert {h.family for h in select_hypotheses(registry, ["B"])} == {"B"}
    assert len(select_hypotheses(registry, "all")) == len(registry.hypotheses)
    assert {h.family for h in select_hypotheses(registry, "all", ["C", "D"])} == {"C", "D"}


def test_models_section_schema(tmp_path):
    s = ModelsSection()
    assert (s.hypotheses, s.adjust, s.alpha, s.estimator, s.bootstrap, s.equivalence_bound) == ("all", "holm", 0.05, "ML", 1000, 0.10)
    m = ModelsSection(hypotheses=["H1", "A"], controls=["x_trust"], estimator="MLR", adjust="bh", alpha=0.01,
                      bootstrap=1000, bootstrap_seed=7, group_by_perspective=False)
    assert m.hypotheses == ["H1", "A"]
    p = tmp_path / "study.yaml"
    p.write_text("study: {id: s1, title: T}\nmodels:\n  hypotheses: [H1, H8]\n  adjust: bh\n  bootstrap_seed: 3\n")
    st = load_study(p)
    assert st.models.hypotheses == ["H1", "H8"] and st.models.adjust == "bh"
    for bad in ("  adjustment: holm\n", "  adjust: bonferroni\n", "  hypotheses: [Q1]\n", "  alpha: 2\n"):
        p.write_text("study: {id: s1, title: T}\nmodels:\n" + bad)
        with pytest.raises(StudyError):
            load_study(p)
