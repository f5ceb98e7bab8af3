"""group_difference relations (latent mean comparison after (partial) scalar invariance) in test_hypotheses, on
simulated provider / customer data with known truth."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from vccscale.models import plan_hypothesis, test_hypotheses
from vccscale.models.library import RELATION_REASONS
from vccscale.registry import Hypothesis
from vccscale.study import ModelsSection

CONSTRUCT = "x_vcc_customer"
N, LOADING, NU = 400, 0.7, 3.0


def _hyp(hid: str, expect: str) -> Hypothesis:
    return Hypothesis.model_validate({
        "id": hid, "family": "A", "statement": f"simulated {hid}",
        "relations": [{"type": "group_difference", "construct": CONSTRUCT, "group": "side", "expect": expect}],
        "test": {"methods": ["latent_mean_difference"], "description": "simulation"}, "basis": ["F"],
        "exploratory": False, "provenance": [{"seed": "S002", "where": "§5.1"}]})


def simulate(items: list[str], diff: float, seed: int, shift: dict[int, float] | None = None,
             first: str = "provider", n: int = N) -> pd.DataFrame:
    """Two perspectives of n each (stacked, ``first`` first); one factor, items load .7 (residual variance .51),
    intercepts 3; the provider latent mean is higher by ``diff`` (latent SD 1); ``shift`` adds to the provider
    intercepts of the items at those positions."""
    rng = np.random.default_rng(seed)
    parts = []
    for side in (first, "customer" if first == "provider" else "provider"):
        f = rng.normal(diff if side == "provider" else 0.0, 1.0, n)
        nu = np.full(len(items), NU)
        if side == "provider":
            for k, v in (shift or {}).items():
                nu[k] += v
        X = nu + LOADING * f[:, None] + rng.normal(0, np.sqrt(1 - LOADING ** 2), (n, len(items)))
        d = pd.DataFrame(X, columns=items)
        d.insert(0, "perspective", side)
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def items(registry):
    its = [i.id for i in registry.items_of(CONSTRUCT) if i.kind == "reflective"]
    assert len(its) == 5
    return its


@pytest.fixture(scope="module")
def gd_registry(registry):
    extra = {"H195": _hyp("H195", "provider > customer"), "H196": _hyp("H196", "customer < provider"),
             "H197": _hyp("H197", "provider > partner")}
    return dataclasses.replace(registry, hypotheses={**registry.hypotheses, **extra})


def _run(reg, data, hid="H195"):
    (res,) = test_hypotheses(ModelsSection(hypotheses=[hid]), data, reg)
    return res


def _prereq(res) -> dict:
    (c,) = [c for c in res.comparisons if c["kind"] == "scalar_prerequisite"]
    return c


def test_plan_group_difference(registry, gd_registry, items):
    assert "group_difference" not in RELATION_REASONS
    cols = {"perspective", *items}
    (c,) = plan_hypothesis(gd_registry, gd_registry.hypotheses["H195"], cols).components
    assert (c.kind, c.sign, c.constructs, c.group, c.expect) == (
        "group_difference", "+", (CONSTRUCT,), "perspective", "provider > customer")
    plan = plan_hypothesis(gd_registry, gd_registry.hypotheses["H195"], cols, group_by_perspective=False)
    assert not plan.components and "group_by_perspective" in plan.untested[0][1]
    # the registry's H12: invariance prerequisite plus the latent mean difference, both planned
    kinds = [c.kind for c in plan_hypothesis(registry, registry.hypotheses["H12"], cols).components]
    assert kinds == ["invariance", "group_difference"]


def test_true_difference_supported(gd_registry, items):
    res = _run(gd_registry, simulate(items, 0.5, seed=20260711))
    assert res.decision == "supported", res.reason
    (p,) = res.parameters
    assert p["kind"] == "latent_mean_difference" and p["groups"] == ["provider", "customer"]
    # the latent mean is in the marker item's metric: truth = loading x 0.5; d is on the latent SD scale
    assert abs(p["est"] - LOADING * 0.5) < 3 * p["se"]
    assert p["d"] == pytest.approx(0.5, abs=0.15)
    assert p["ci_lower"] > 0 and p["ci_lower"] < p["est"] < p["ci_upper"]
    assert p["pvalue"] < .05 and p["p_directional"] == p["pvalue"] == res.pvalue
    pre = _prereq(res)
    assert pre["holds"] and pre["level_reached"] == "scalar" and pre["freed_intercepts"] == []
    assert "full scalar invariance" in res.reason and "latent mean difference" in res.test
    assert res.pvalue_holm is not None  # a directional part: in the adjustment family


def test_orientation_follows_expectation(gd_registry, items):
    """Customers first in the data (latent_means gives provider - customer directly) and 'customer < provider':
    the reported difference is still provider - customer."""
    data = simulate(items, 0.5, seed=20260711, first="customer")
    for hid in ("H195", "H196"):
        res = _run(gd_registry, data, hid)
        (p,) = res.parameters
        assert res.decision == "supported" and p["groups"] == ["provider", "customer"] and p["est"] > 0
    flipped = _run(gd_registry, simulate(items, 0.5, seed=20260711, first="provider"))
    assert flipped.parameters[0]["est"] > 0


def test_zero_difference_not_supported(gd_registry, items):
    res = _run(gd_registry, simulate(items, 0.0, seed=20260712))
    assert res.decision == "not_supported", res.reason
    (p,) = res.parameters
    assert abs(p["est"]) < 3 * p["se"]
    assert not (p["p_directional"] < .05)
    assert _prereq(res)["holds"]


def test_one_shifted_intercept_freed_and_compared(gd_registry, items):
    res = _run(gd_registry, simulate(items, 0.5, seed=20260713, shift={2: 0.5}, first="customer"))
    pre = _prereq(res)
    assert pre["freed_intercepts"] == [f"{items[2]} ~ 1"] and pre["freed_loadings"] == []
    assert pre["holds"] and pre["level_reached"] == "partial scalar"
    assert pre["invariant_items"] == {CONSTRUCT: [i for i in items if i != items[2]]}
    assert f"freed: {items[2]} ~ 1" in res.reason
    assert res.decision == "supported", res.reason
    (p,) = res.parameters
    assert abs(p["est"] - LOADING * 0.5) < 3 * p["se"]


def test_group_difference_under_fiml_keeps_incomplete_respondents(gd_registry, items):
    """Under FIML the score-test search and the latent mean model use every respondent (FIML score tests: lavaan
    parity in test_sem_score); the estimate equals a direct FIML partial-invariance fit of the same data (1e-10)
    and rests on all 800 respondents, where listwise keeps only the complete rows."""
    from vccscale.sem.score import latent_means, partial_invariance

    data = simulate(items, 0.5, seed=20260713, shift={2: 0.5}, first="customer")
    rng = np.random.default_rng(5)
    data[items] = data[items].mask(rng.random((len(data), len(items))) < 0.2)
    (res,) = test_hypotheses(ModelsSection(hypotheses=["H195"]), data, gd_registry, missing="fiml")
    assert res.decision == "supported", res.reason
    pre = _prereq(res)
    assert pre["freed_intercepts"] == [f"{items[2]} ~ 1"]
    model = f"{CONSTRUCT} =~ " + " + ".join(items)
    met = partial_invariance(data, model, "perspective", level="metric", missing="fiml")
    sca = partial_invariance(data, model, "perspective", level="scalar", group_partial=met.group_partial,
                             missing="fiml")
    assert sum(sca.fit.nobs) == 2 * N
    lm = latent_means(sca.fit)
    (p,) = res.parameters
    assert abs(p["est"]) == pytest.approx(abs(float(lm["est"].iloc[-1])), rel=1e-10)
    assert abs(p["est"] - LOADING * 0.5) < 3 * p["se"]


def test_no_partial_scalar_invariance_not_tested(gd_registry, items):
    """Three items in the data, two intercepts shifted: at most one invariant intercept is left."""
    data = simulate(items[:3], 0.5, seed=20260714, shift={1: 1.0, 2: -1.0})
    res = _run(gd_registry, data)
    assert res.decision == "not_tested"
    assert "not even partial scalar invariance" in res.reason and "fewer than two invariant intercepts" in res.reason
    assert res.parameters == () and res.pvalue is None
    assert not _prereq(res)["holds"]
    assert res.untested[0][0] == f"group_difference {CONSTRUCT} by side"


def test_expectation_naming_unknown_group_not_tested(gd_registry, items):
    res = _run(gd_registry, simulate(items, 0.5, seed=20260711), "H197")
    assert res.decision == "not_tested" and "partner" in res.reason
