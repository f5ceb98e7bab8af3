"""test_hypotheses for congruence (response surface analysis on scale scores) and nesting (ICC(1) with its F test)
relations, on simulated data with known truth and simulated registry hypotheses."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from vccscale.models import plan_hypothesis, test_hypotheses
from vccscale.models.hypotheses import scale_score
from vccscale.registry import Hypothesis
from vccscale.study import ModelsSection

X, Y, OUT = "a_drv_cust_involvement", "a_drv_collaboration", "x_vcc_customer"
VC, VK, P1OUT = "b_p1_vc_identify_opps", "b_p1_vk_agree_distribution", "b_p1_outcome"
SEED = 20260801


def _hyp(hid: str, relations: list[dict], methods: list[str]) -> Hypothesis:
    return Hypothesis.model_validate({
        "id": hid, "family": "A", "statement": f"simulated {hid}", "relations": relations,
        "test": {"methods": methods, "description": "simulation"}, "basis": ["F"], "exploratory": False,
        "provenance": [{"seed": "S002", "where": "§5.1"}]})


def cong(x, y, to, expect):
    return {"type": "congruence", "x": x, "y": y, "to": to, "expect": expect}


HYPS = {
    "H301": _hyp("H301", [cong(X, Y, OUT, {"a1": "> 0", "a4": "< 0"})], ["rsa"]),
    "H302": _hyp("H302", [cong(X, X, OUT, {"a1": "> 0", "a4": "< 0"})], ["rsa"]),           # dyadic
    "H303": _hyp("H303", [cong(VC, VK, P1OUT, {"a1": "> 0", "a4": "< 0"})], ["rsa"]),       # composites
    "H304": _hyp("H304", [cong(X, Y, "b_bmi_stage", {"a1": "> 0"})], ["logistic_rsa"]),      # 0/1 outcome
    "H305": _hyp("H305", [{"type": "nesting", "constructs": ["x_trust"], "levels": ["organisation"]}],
                 ["icc_rwg"]),
    "H306": _hyp("H306", [{"type": "nesting", "constructs": ["x_trust", X], "levels": ["organisation", "dyad"]}],
                 ["icc_rwg"]),
}


@pytest.fixture(scope="module")
def reg(registry):
    return dataclasses.replace(registry, hypotheses={**registry.hypotheses, **HYPS})


def _items(registry, cid, score, rng, sd=0.5):
    return {it.id: score + rng.normal(0, sd, len(score)) for it in registry.items_of(cid) if it.kind == "reflective"}


def _surface(xc, yc, rng, related=True):
    """Z rises along X = Y (a1 = 0.8) and falls with the squared difference (a4 = -4 * 0.15 = -0.6)."""
    if not related:
        return 4 + rng.normal(0, 1, len(xc))
    return 4 + 0.4 * (xc + yc) - 0.15 * (xc - yc) ** 2 + rng.normal(0, 0.6, len(xc))


def simulate(registry, n=500, related=True, seed=SEED, surface=None) -> pd.DataFrame:
    """Respondent rows: X, Y on 1..7 (centred at 4), outcome by the surface; composites' sub-activities share
    their parent's score; a 0/1 outcome; organisations with (x_trust) or without (a_drv_cust_involvement) true
    between-organisation variance."""
    rng = np.random.default_rng(seed)
    xc, yc = rng.normal(0, 1.1, n), rng.normal(0, 1.1, n)
    z = _surface(xc, yc, rng, related) if surface is None else surface(xc, yc) + rng.normal(0, 0.6, n)
    cols = {"perspective": np.where(rng.random(n) < 0.5, "provider", "customer"),
            "organisation_id": np.repeat(np.arange(n // 10), 10)}
    cols |= _items(registry, X, 4 + xc, rng) | _items(registry, Y, 4 + yc, rng) | _items(registry, OUT, z, rng)
    for parent, score in ((VC, 4 + xc), (VK, 4 + yc)):
        for lo in registry.constructs[parent].lower_order:
            cols |= _items(registry, lo, score, rng)
    cols |= _items(registry, P1OUT, z, rng)
    eta = 0.5 + 1.0 * (xc + yc) - 0.8 * (xc - yc) ** 2
    cols["b_bmi_stage_01"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    org = rng.normal(0, 0.8, n // 10)[cols["organisation_id"]]
    cols |= _items(registry, "x_trust", 4 + org + rng.normal(0, 1, n), rng)
    return pd.DataFrame(cols)


def simulate_dyads(registry, n=1000, related=True, seed=SEED + 1) -> pd.DataFrame:
    """Stacked long frame: a provider and a customer row per relationship; the provider's rating of X (the same
    construct), the customer's rating, the customer's outcome depends on both by the surface."""
    rng = np.random.default_rng(seed)
    xp, xcu = rng.normal(0, 1.1, n), rng.normal(0, 1.1, n)
    z = _surface(xp, xcu, rng, related)
    rows = []
    for side, score, outcome in (("provider", 4 + xp, 4 + rng.normal(0, 1, n)), ("customer", 4 + xcu, z)):
        d = {"relationship_id": [f"r{i:04d}" for i in range(n)], "perspective": side}
        d |= _items(registry, X, score, rng) | _items(registry, OUT, outcome, rng)
        rows.append(pd.DataFrame(d))
    return pd.concat(rows, ignore_index=True).sample(frac=1, random_state=3).reset_index(drop=True)


def run(reg, data, ids):
    return {r.id: r for r in test_hypotheses(ModelsSection(hypotheses=ids), data, reg)}


@pytest.fixture(scope="module")
def related(reg):
    return run(reg, simulate(reg), ["H301", "H303", "H304", "H305", "H306"])


@pytest.fixture(scope="module")
def unrelated(reg):
    data = simulate(reg, related=False)
    return run(reg, data.drop(columns=["organisation_id"]).assign(
        organisation_id=np.random.default_rng(5).permutation(data["organisation_id"].to_numpy())),
        ["H301", "H305"])


# ----------------------------------------------------------------------------------------------------- congruence
def test_congruence_supported(related):
    r = related["H301"]
    assert r.decision == "supported", r.reason
    ps = {p["name"]: p for p in r.parameters}
    conds = {k: p for k, p in ps.items() if p["kind"] == "surface_condition"}
    assert set(ps) - set(conds) == {"a1", "a4"}
    # the conditions of a congruence effect the relation does not state (Humberg et al. 2019), each shown by TOST
    assert sorted(k.split(": ")[1].split(" (")[0] for k in conds) == ["a3 = 0", "p10 = 0", "p11 = 1"]
    assert all(p["p_equivalence"] < 0.05 for p in conds.values())
    assert "shown to hold" in r.reason
    assert ps["a1"]["est"] > 0 and ps["a1"]["ci_lower"] > 0 and ps["a1"]["pvalue"] < .05
    assert ps["a4"]["est"] < 0 and ps["a4"]["ci_upper"] < 0
    assert ps["a1"]["est"] == pytest.approx(0.8, abs=0.15) and ps["a4"]["est"] == pytest.approx(-0.6, abs=0.15)
    se = ps["a1"]["se"]
    assert ps["a1"]["ci_upper"] - ps["a1"]["ci_lower"] == pytest.approx(2 * 1.959964 * se, rel=1e-5)
    (comp,) = r.comparisons
    assert comp["kind"] == "rsa" and comp["center"] == 4.0 and comp["family"] == "gaussian"
    assert comp["rsa"]["surface"]["a1"]["est"] == pytest.approx(ps["a1"]["est"])
    assert "response surface" in r.test and r.pvalue == max(ps["a1"]["pvalue"], ps["a4"]["pvalue"])


def test_congruence_unrelated_not_supported(unrelated):
    r = unrelated["H301"]
    assert r.decision == "not_supported", r.reason
    assert len(r.parameters) == 5  # a1, a4 and the three congruence conditions


def test_shifted_ridge_is_not_called_congruence(reg):
    """A surface with a1 > 0 and a4 < 0 (both stated parts hold) whose ridge is shifted off the line of congruence
    (Z falls with (X - Y - 1.5)^2: the best outcome where X exceeds Y by 1.5 points, p10 = -1.5) is not a
    congruence effect: the condition p10 = 0 is rejected and the hypothesis is not supported."""
    data = simulate(reg, n=800, surface=lambda x, y: 4 + 0.4 * (x + y) - 0.15 * (x - y - 1.5) ** 2)
    r = run(reg, data, ["H301"])["H301"]
    assert r.decision != "supported", r.reason
    ps = {p["name"].split(": ")[-1].split(" (")[0]: p for p in r.parameters}
    assert ps["a1"]["est"] > 0 and ps["a4"]["est"] < 0 and ps["a4"]["pvalue"] < 0.05
    assert ps["p10 = 0"]["pvalue"] < 0.05 and ps["p10 = 0"]["est"] == pytest.approx(-1.5, abs=0.3)
    assert "rejected:" in r.reason and "p10 = 0" in r.reason


def test_congruence_of_composites(related, reg):
    """Formative composites: unit-weighted mean of the sub-activity scale scores."""
    r = related["H303"]
    assert r.decision == "supported", r.reason
    data = simulate(reg, n=20)
    score, why = scale_score(reg, VC, data)
    assert why == ""
    subs = [data[[i.id for i in reg.items_of(lo)]].mean(axis=1) for lo in reg.constructs[VC].lower_order]
    np.testing.assert_allclose(score, sum(subs) / len(subs))


def test_binary_outcome_is_logistic(related):
    r = related["H304"]
    (comp,) = r.comparisons
    assert comp["family"] == "binomial" and comp["center"] == 4.0
    assert r.decision == "supported", r.reason


def test_dyadic_congruence_pairs_provider_and_customer(reg):
    res = run(reg, simulate_dyads(reg), ["H302"])["H302"]
    assert res.decision == "supported", res.reason
    assert "provider" in res.reason and "customer" in res.reason and "relationship_id" in res.reason
    (comp,) = res.comparisons
    assert comp["dyad_id"] == "relationship_id" and comp["rsa"]["n"] == 1000
    res0 = run(reg, simulate_dyads(reg, related=False), ["H302"])["H302"]
    assert res0.decision == "not_supported", res0.reason


def test_dyadic_congruence_without_dyad_id_not_tested(reg):
    data = simulate_dyads(reg).drop(columns=["relationship_id"])
    r = run(reg, data, ["H302"])["H302"]
    assert r.decision == "not_tested"
    assert "dyad id column" in r.reason and "relationship_id" in r.reason
    # the pairing also works with the invitation's dyad id
    r2 = run(reg, simulate_dyads(reg).rename(columns={"relationship_id": "invite_dyad_id"}), ["H302"])["H302"]
    assert r2.decision == "supported" and r2.comparisons[0]["dyad_id"] == "invite_dyad_id"


def test_scale_score_needs_half_of_the_items(reg):
    its = [i.id for i in reg.items_of(X)]
    assert len(its) == 5
    d = pd.DataFrame([[1, 2, 3, np.nan, np.nan], [1, 2, np.nan, np.nan, np.nan]], columns=its)
    score, _ = scale_score(reg, X, d)
    assert score.iloc[0] == pytest.approx(2.0) and np.isnan(score.iloc[1])


# ----------------------------------------------------------------------------------------------------- nesting
def test_nesting_supported_with_group_variance(related):
    r = related["H305"]
    assert r.decision == "supported", r.reason
    (p,) = r.parameters
    assert p["kind"] == "icc1" and p["group"] == "organisation_id" and p["est"] > 0.1 and p["pvalue"] < .05
    assert p["df1"] == 49 and p["df2"] == 450 and p["f"] > 1
    assert "ICC(1)" in r.test


def test_nesting_without_group_variance_not_supported(unrelated):
    r = unrelated["H305"]
    assert r.decision == "not_supported", r.reason
    assert r.parameters[0]["pvalue"] > .05


def test_nesting_level_without_id_column(related, reg):
    # H306: the organisation level is tested (x_trust varies, cust_involvement does not), the dyad level has no
    # id column in the data
    r = related["H306"]
    assert r.decision == "partial", r.reason
    assert any("dyad" in d and "relationship_id" in why for d, why in r.untested)
    data = simulate(reg).drop(columns=["organisation_id"])
    r0 = run(reg, data, ["H305"])["H305"]
    assert r0.decision == "not_tested"
    assert "organisation_id" in r0.reason and "organisation" in r0.reason


def test_nesting_tested_in_otherwise_blocked_hypothesis(registry):
    """Registry hypotheses whose other relations need a two-level comparison keep their nesting part: H28's
    within- vs between-dyad paths are two-level comparisons (level_contrast); H47's random-intercept model is not
    built, so its plan is partial and names that method."""
    plan = plan_hypothesis(registry, registry.hypotheses["H28"], None)
    assert {c.kind for c in plan.components} == {"nesting", "level_contrast"} and not plan.untested
    plan = plan_hypothesis(registry, registry.hypotheses["H47"], None)
    assert any(c.kind == "nesting" for c in plan.components)
    assert [d for d, _ in plan.untested] == ["random intercept model test"]
    assert "random-intercept" in plan.untested[0][1]
