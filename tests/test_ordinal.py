"""Ordinal regression (proportional odds) against MASS::polr and Brant's test against a base-R transcription
(tests/reference/ordinal/polr_reference.R); H22 (phase alignment -> BMI stage reached) as a hypothesis test."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import DataError, ModelError
from vccscale.models.ordinal import brant_test, ordinal_regression
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "ordinal"


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(reference_path(REF / "ordinal_data.csv"))


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "polr_reference.json")


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_matches_polr(data, ref, link):
    """Coefficients, thresholds ("0|1", ...), SEs (Hess = TRUE), log-likelihood and AIC as MASS::polr; polr's
    optimiser stops ~1e-6 from the optimum (BFGS, reltol 1e-8), ours is refined by Newton steps: tolerance 1e-4
    on estimates and SEs, 1e-6 on the log-likelihood. Three rows with a missing predictor are left out, as
    polr's na.omit."""
    r = ordinal_regression(data, "stage", ["x1", "x2"], link=link)
    R = ref[link]
    assert r.n == R["n"] == 297 and r.n_dropped == 3
    coef = r.coefficients.set_index("name")
    for k in ("x1", "x2"):
        assert coef.loc[k, "est"] == pytest.approx(R["coefficients"][k], abs=1e-4)
        assert coef.loc[k, "se"] == pytest.approx(R["se"][k], abs=1e-4)
    thr = r.thresholds.set_index("name")
    assert list(thr.index) == list(R["zeta"])
    for k, v in R["zeta"].items():
        assert thr.loc[k, "est"] == pytest.approx(v, abs=1e-4)
        assert thr.loc[k, "se"] == pytest.approx(R["se"][k], abs=1e-4)
    assert r.loglik == pytest.approx(R["loglik"], abs=1e-6)
    assert r.aic == pytest.approx(R["aic"], abs=1e-5)
    if link == "logit":
        assert coef.loc["x1", "odds_ratio"] == pytest.approx(np.exp(coef.loc["x1", "est"]))


@pytest.mark.parametrize("outcome", ["stage", "stage_np"])
def test_brant_matches_reference(data, ref, outcome):
    """Omnibus and per-predictor Wald tests of equal slopes across the binary logits (base-R transcription of
    Brant 1990), to 1e-6: stage follows proportional odds (not rejected), stage_np was made to break it for x1
    (rejected)."""
    b = brant_test(data, outcome, ["x1", "x2"])
    R = ref["brant" if outcome == "stage" else "brant_np"]
    t = b.tests.set_index("term")
    assert t.loc["omnibus", "chisq"] == pytest.approx(R["omnibus"]["chisq"], rel=1e-6)
    assert t.loc["omnibus", "df"] == R["omnibus"]["df"] == 4
    assert t.loc["omnibus", "pvalue"] == pytest.approx(R["omnibus"]["p"], rel=1e-5)
    if outcome == "stage":
        for k in ("x1", "x2"):
            assert t.loc[k, "chisq"] == pytest.approx(R[k]["chisq"], rel=1e-6)
        assert b.omnibus["pvalue"] > .05
    else:
        assert b.omnibus["pvalue"] < .01


def test_bad_input(data):
    with pytest.raises(DataError, match="not in the data"):
        ordinal_regression(data, "stage", ["nope"])
    with pytest.raises(ModelError, match="at least 3"):
        ordinal_regression(data.assign(b=(data["stage"] > 1).astype(int)), "b", ["x1"])
    with pytest.raises(DataError, match="constant"):
        ordinal_regression(data.assign(c=1.0), "stage", ["x1", "c"])
    with pytest.raises(DataError, match="link"):
        ordinal_regression(data, "stage", ["x1"], link="cloglog2")


def test_h22_ordinal_hypothesis(registry):
    """H22: phase alignment raises the stage reached. Simulated: scale scores of b_align_p1..p3 (4-5 items,
    loading .7) and a stage drawn from a proportional-odds model with slopes .6, .5, .4 on the latent
    alignments: every slope is found positive, the decision is supported and the Brant test is reported."""
    from vccscale.models import test_hypotheses
    from vccscale.study import ModelsSection

    rng = np.random.default_rng(7)
    n = 500
    cols = {}
    eta = np.zeros(n)
    for cid, b in (("b_align_p1", .6), ("b_align_p2", .5), ("b_align_p3", .4)):
        f = rng.normal(size=n)
        eta += b * f
        for it in registry.items_of(cid):
            cols[it.id] = np.clip(np.round(4 + 1.3 * (0.7 * f + rng.normal(scale=0.71, size=n))), 1, 7)
    lat = eta + rng.logistic(size=n)
    cols["b_bmi_stage_01"] = np.digitize(lat, [-1.2, 0.0, 1.2]).astype(float)
    d = pd.DataFrame(cols)
    (r,) = test_hypotheses(ModelsSection(hypotheses=["H22"], bootstrap=0), d, registry)
    assert r.decision == "supported", r.reason
    ps = [p for p in r.parameters if p["kind"] == "ordinal"]
    assert len(ps) == 3 and all(p["est"] > 0 and p["pvalue"] < .05 for p in ps)
    (comp,) = [c for c in r.comparisons if c["kind"] == "ordinal"]
    assert comp["n"] == n and 0 <= comp["brant_pvalue"] <= 1
    assert "ordinal regression" in r.test and "Brant" in r.reason


def test_event_index_score_by_hand(registry):
    """d_compelling_events: sum over events of occurred (0/1) x significance (1-7); an event that did not occur
    adds 0 (its significance is not asked); a missing checklist answer, or an occurred event without its
    significance, makes the index missing; a checklist code other than 0/1 is an error naming row and column."""
    from vccscale.clean.scoring import scale_score

    pairs = [(i.id, i.pair) for i in registry.items_of("d_compelling_events") if i.kind == "checklist"]
    assert len(pairs) == 4
    (c1, s1), (c2, s2), (c3, s3), (c4, s4) = pairs
    d = pd.DataFrame({c1: [1, 0, 1, np.nan, 1], s1: [5, np.nan, 7, np.nan, np.nan],
                      c2: [0, 0, 1, 0, 0], s2: [np.nan, 3, 2, np.nan, np.nan],
                      c3: [1, 0, 0, 0, 0], s3: [2, np.nan, np.nan, np.nan, np.nan],
                      c4: [0, 0, 0, 0, 0], s4: [np.nan] * 5})
    sc, why = scale_score(registry, "d_compelling_events", d)
    assert why == ""
    np.testing.assert_array_equal(sc.to_numpy(), [7.0, 0.0, 9.0, np.nan, np.nan])
    with pytest.raises(DataError, match="must be 0") as exc:
        scale_score(registry, "d_compelling_events", d.assign(**{c2: [0, 2, 0, 0, 0]}))
    assert exc.value.row == 1 and exc.value.column == c2
