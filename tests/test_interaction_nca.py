"""Latent interactions (double-mean-centred matched-pair product indicators) against semTools::indProd + lavaan
(tests/reference/models/interaction_reference.R), and necessary condition analysis against its definitions (hand
computations and simulated ceilings)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.models.library import product_indicators
from vccscale.models.nca import nca
from vccscale.sem import fit_sem
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "models"


def test_product_indicators_and_interaction_match_semtools_lavaan():
    d = pd.read_csv(reference_path(REF / "interaction_data.csv"))
    ref = load_reference(REF / "interaction_reference.json")
    prods = {f"p{k}": (f"x{k}", f"z{k}") for k in range(1, 5)}
    dp = product_indicators(d, prods)
    got = dp[list(prods)].head(5).to_numpy()
    want = np.array([ref["products"][f"p{k}"] for k in range(1, 5)]).T
    assert np.abs(got - want).max() < 1e-12
    assert np.abs(dp[list(prods)].mean().to_numpy()).max() < 1e-12
    m = ("X =~ x1 + x2 + x3 + x4\nZ =~ z1 + z2 + z3 + z4\nY =~ y1 + y2 + y3 + y4\nXZ =~ p1 + p2 + p3 + p4\n"
         "Y ~ b1*X + b2*Z + b3*XZ")
    fit = fit_sem(dp, m)
    e = fit.estimates[fit.estimates["op"] == "~"].set_index("rhs")
    for r in ref["regressions"]:
        for k, col in (("est", "est"), ("se", "se"), ("std.all", "std_all")):
            assert float(e.loc[r["rhs"], col]) == pytest.approx(r[k], rel=1e-3), (r["rhs"], k)
    for k in ("chisq", "srmr"):
        assert fit.fit[k] == pytest.approx(ref["fit"][k][0], rel=1e-4)


def test_nca_ce_fdh_and_cr_fdh_by_hand():
    d = pd.DataFrame({"x": [1, 2, 3, 4], "y": [1, 3, 2, 5]})
    r = nca(d, "x", "y", n_perm=0)
    ce = r.ceilings.set_index("ceiling")
    # CE-FDH: running maxima 1, 3, 3, 5 at x = 1..4; zone = 4 + 2 + 2 = 8 of the scope 3 x 4 = 12
    assert r.scope == 12 and ce.loc["ce_fdh", "ceiling_zone"] == pytest.approx(8)
    assert ce.loc["ce_fdh", "d"] == pytest.approx(8 / 12)
    assert list(zip(r.peers["x"], r.peers["y"])) == [(1, 1), (2, 3), (4, 5)]
    # CR-FDH: OLS through the peers: slope 9/7, intercept 0; the zone above the line, clipped at y = 5
    b, a = 9 / 7, 0.0
    x_top = (5 - a) / b
    zone = 5 * (x_top - 1) - b / 2 * (x_top ** 2 - 1)
    assert ce.loc["cr_fdh", "slope"] == pytest.approx(b) and ce.loc["cr_fdh", "intercept"] == pytest.approx(a, abs=1e-12)
    assert ce.loc["cr_fdh", "ceiling_zone"] == pytest.approx(zone, rel=1e-6)
    assert ce.loc["cr_fdh", "accuracy"] == pytest.approx(0.75)   # (2, 3) lies above the line: 3 of 4 on or below
    # bottleneck: y at 50% of its range (3) needs x = 2 (33.3% of the x range); y at 0% is not necessary
    bt = r.bottleneck.set_index("y_level")
    assert bt.loc[50.0, "ce_fdh"] == "33.3" and bt.loc[0.0, "ce_fdh"] == "NN"


def test_nca_permutation_test_finds_a_planted_ceiling_and_not_a_missing_one():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, 300)
    y_ceiling = rng.uniform(0, 1, 300) * x          # y can be high only where x is high
    y_free = rng.uniform(0, 1, 300)                  # no ceiling
    d = pd.DataFrame({"x": x, "yc": y_ceiling, "yf": y_free})
    a = nca(d, "x", "yc", n_perm=300, seed=1).ceilings.set_index("ceiling")
    b = nca(d, "x", "yf", n_perm=300, seed=1).ceilings.set_index("ceiling")
    assert a.loc["ce_fdh", "d"] > 0.3 and a.loc["ce_fdh", "p"] < 0.01
    assert b.loc["ce_fdh", "d"] < 0.05 and b.loc["ce_fdh", "p"] > 0.05
    # seeded: identical again
    assert nca(d, "x", "yc", n_perm=50, seed=3).ceilings.equals(nca(d, "x", "yc", n_perm=50, seed=3).ceilings)


def test_interaction_with_a_second_order_x_uses_its_scale_score(registry):
    """H11's X (a_align_ri) is second-order: the product indicators pair its scale score (mean of its facets'
    means) with every moderator item (all products: one X indicator, as semTools::indProd(match = FALSE)); on
    data with a planted latent interaction (.3) the interaction path is positive and significant, and the
    product columns are the double-mean-centred products of that score and the items (closed form, 1e-12)."""
    from vccscale.clean.scoring import scale_score
    from vccscale.models.hypotheses import test_hypotheses as run_hypotheses
    from vccscale.models.library import build_model, plan_hypothesis

    rng = np.random.default_rng(11)
    n = 900
    x = rng.standard_normal(n)
    z = 0.3 * x + np.sqrt(0.91) * rng.standard_normal(n)
    w = rng.standard_normal(n)
    y = 0.3 * x + 0.3 * z + 0.3 * x * z + 0.2 * w + 0.7 * rng.standard_normal(n)
    cols = {}
    for facet in registry.constructs["a_align_ri"].lower_order:
        f = 0.8 * x + 0.6 * rng.standard_normal(n)
        for it in (i.id for i in registry.items_of(facet) if i.kind == "reflective"):
            cols[it] = 0.8 * f + 0.6 * rng.standard_normal(n)
    for cid, lat in (("a_joint_interaction", z), ("a_cust_willingness", w), ("x_vcc_customer", y)):
        for it in (i.id for i in registry.items_of(cid) if i.kind == "reflective"):
            cols[it] = 0.8 * lat + 0.6 * rng.standard_normal(n)
    d = pd.DataFrame(cols)
    d["response_id"] = [f"R{i:04d}" for i in range(n)]
    d["perspective"] = "customer"
    plan = plan_hypothesis(registry, registry.hypotheses["H11"], set(d.columns))
    inter = [c for c in plan.components if c.kind == "interaction"]
    assert [(c.frm, c.moderator) for c in inter] == [("a_align_ri", "a_joint_interaction"),
                                                     ("a_align_ri", "a_cust_willingness")]
    spec = build_model(registry, [dataclasses.replace(plan, components=(inter[0],), untested=())],
                       columns=set(d.columns))
    assert all(a == "a_align_ri_score" for a, _ in spec.products.values())
    assert len(spec.products) == 5  # one product per moderator item
    score, _ = scale_score(registry, "a_align_ri", d, 0.5)
    dp = product_indicators(d.assign(a_align_ri_score=score.to_numpy()), spec.products)
    pc, (_, zi) = next(iter(spec.products.items()))
    sx, zz = score.to_numpy(), d[zi].to_numpy()
    want = (sx - sx.mean()) * (zz - zz.mean())
    assert np.abs(dp[pc].to_numpy() - (want - want.mean())).max() < 1e-12
    res = run_hypotheses({"hypotheses": ["H11"], "bootstrap": 0}, d, registry, missing="listwise")[0]
    p = next(q for q in res.parameters if q["kind"] == "interaction" and "a_joint_interaction" in q["name"])
    assert p["est"] > 0 and p["pvalue"] < 1e-3
