"""Measurement models sized to the data (vccscale.validate.measurement): the free-parameter count, the choice of
scope and its reason, estimates against population values, pairwise latent correlations, and improper solutions
that travel into reliability and hypothesis decisions."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from vccscale.models.hypotheses import hypothesis_tables, test_hypotheses
from vccscale.registry import Hypothesis
from vccscale.sem.model import build_partable
from vccscale.study import ModelsSection
from vccscale.validate.measurement import cfa_npar, fit_measurement, plan_measurement


def _blocks(k: int, p: int) -> dict[str, list[str]]:
    return {f"f{j}": [f"f{j}_{i}" for i in range(1, p + 1)] for j in range(1, k + 1)}


def simulate(n: int, k: int = 4, p: int = 4, r: float = 0.4, lam: float = 0.7, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    phi = np.full((k, k), r) + (1 - r) * np.eye(k)
    eta = rng.multivariate_normal(np.zeros(k), phi, size=n)
    cols = {}
    for j in range(k):
        for i in range(p):
            cols[f"f{j + 1}_{i + 1}"] = lam * eta[:, j] + rng.normal(0, np.sqrt(1 - lam ** 2), n)
    return pd.DataFrame(cols)


@pytest.mark.parametrize("k,p,ms", [(1, 4, False), (3, 4, False), (5, 6, True), (2, 3, True)])
def test_free_parameter_count_equals_the_partable(k, p, ms):
    b = _blocks(k, p)
    syntax = "\n".join(f"{c} =~ {' + '.join(v)}" for c, v in b.items())
    # closed form: k(p - 1) loadings + kp residuals + k variances + k(k-1)/2 covariances (+ kp intercepts)
    want = k * (p - 1) + k * p + k + k * (k - 1) // 2 + (k * p if ms else 0)
    assert cfa_npar([p] * k, ms) == want == build_partable(syntax, model_type="cfa", meanstructure=ms or None).npar


def test_scope_follows_the_cases_per_parameter_rule():
    b = _blocks(4, 4)
    q_full = cfa_npar([4] * 4, True)                        # 4 x 4 items with FIML intercepts: 70
    big, small = simulate(5 * q_full + 10), simulate(5 * q_full - 10)
    scope, why, parts = plan_measurement(big, b, missing="fiml")
    assert scope == "full" and len(parts) == 1 and f"{q_full} free parameters" in why
    scope, why, parts = plan_measurement(small, b, missing="fiml")
    assert scope == "groups" and len(parts) > 1 and "5 cases per free parameter" in why
    tiny = simulate(60)
    scope, why, parts = plan_measurement(tiny, b, missing="fiml")
    assert scope == "construct" and [c for _, c in parts] == [[c] for c in b]
    # constructs no respondent answered together (different questionnaire versions) are never one model
    split = simulate(2000)
    split.loc[:999, b["f1"]] = np.nan
    split.loc[1000:, b["f2"]] = np.nan
    scope, why, parts = plan_measurement(split, b, missing="fiml")
    assert scope != "full" and "f1 and f2 have no respondent in common" in why
    assert not any({"f1", "f2"} <= set(cs) for _, cs in parts)


def test_estimates_against_the_population():
    b = _blocks(4, 4)
    data = simulate(3000, r=0.4, lam=0.7, seed=2)
    res = fit_measurement(data, b, missing="listwise")
    assert res.scope == "full" and (res.constructs["status"] == "ok").all()
    # population: AVE = .49, CR = (4 x .7)^2 / ((4 x .7)^2 + 4 x .51) = .7935, latent correlations .4
    assert res.constructs["ave"].to_numpy() == pytest.approx(0.49, abs=0.03)
    assert res.constructs["cr"].to_numpy() == pytest.approx(7.84 / (7.84 + 2.04), abs=0.02)
    assert res.correlations["r"].to_numpy() == pytest.approx(0.4, abs=0.05)
    fl = res.fornell_larcker()
    assert fl["passed"].all() and fl["proper"].all()


def test_pairwise_correlations_equal_two_construct_models():
    from vccscale.sem import fit_cfa

    b = _blocks(4, 4)
    data = simulate(400, seed=3)
    res = fit_measurement(data, b, missing="listwise", scope="construct")
    assert res.scope == "construct" and len(res.models) == 4 and len(res.correlations) == 6
    assert set(res.correlations["source"]) == {"pairwise"}
    row = res.correlations[(res.correlations["a"] == "f1") & (res.correlations["b"] == "f3")].iloc[0]
    fit = fit_cfa(data, "f1 =~ " + " + ".join(b["f1"]) + "\nf3 =~ " + " + ".join(b["f3"]))
    e = fit.estimates
    direct = float(e[(e["op"] == "~~") & (e["lhs"] == "f1") & (e["rhs"] == "f3")]["std_all"].iloc[0])
    assert row["r"] == pytest.approx(direct, abs=1e-10)
    assert row["r"] == pytest.approx(0.4, abs=0.12)


@pytest.mark.slow
def test_pairwise_models_on_workers_equal_serial():
    """From PARALLEL_MIN_PAIRS pairs on, the two-construct models run on n_jobs workers: the same table, to the
    last bit, as in this process (with missing answers: FIML, and one BLAS thread in both)."""
    from vccscale.validate.measurement import PARALLEL_MIN_PAIRS

    b = _blocks(15, 3)
    data = simulate(150, k=15, p=3, seed=4)
    data = data.mask(np.random.default_rng(4).random(data.shape) < 0.05)
    serial = fit_measurement(data, b, missing="fiml", scope="construct", n_jobs=1)
    assert len(serial.correlations) == 105 >= PARALLEL_MIN_PAIRS
    done = []
    par = fit_measurement(data, b, missing="fiml", scope="construct", n_jobs=2,
                          progress=lambda d, t, what: done.append(d))
    pd.testing.assert_frame_equal(par.correlations, serial.correlations, check_exact=True)
    assert done[-1] == len(serial.models) + 105


def heywood_items(n: int, seed: int, names: list[str]) -> pd.DataFrame:
    """Three items with r12 = r13 = .8 and r23 = .3: the one-factor solution needs lambda1^2 = .8 x .8 / .3 > 1,
    a negative residual variance of the first item (a Heywood case)."""
    rng = np.random.default_rng(seed)
    R = np.array([[1, .8, .8], [.8, 1, .3], [.8, .3, 1]])
    return pd.DataFrame(rng.multivariate_normal(np.zeros(3), R, size=n, method="eigh"), columns=names)


def test_improper_solution_is_flagged_in_measurement_and_reliability():
    b = {"hey": ["h1", "h2", "h3"], **_blocks(1, 4)}
    data = pd.concat([heywood_items(500, 4, b["hey"]), simulate(500, k=1, seed=4)], axis=1)
    res = fit_measurement(data, b, missing="listwise")
    st = res.constructs.set_index("construct")
    assert st.loc["hey", "status"] == "improper" and "negative variance" in st.loc["hey", "problems"]
    assert st.loc["f1", "status"] == "ok"
    fl = res.fornell_larcker().set_index("construct")
    assert not fl.loc["hey", "proper"]


def test_planted_heywood_case_reaches_the_decision_table_as_not_tested(registry):
    x, y = "a_drv_cust_involvement", "a_align_diag_design"
    xi = [i.id for i in registry.items_of(x)][:3]
    yi = [i.id for i in registry.items_of(y)]
    data = heywood_items(500, 5, xi)
    rng = np.random.default_rng(6)
    f = 0.3 * data[xi[1]].to_numpy() + rng.normal(0, 0.95, len(data))
    for it in yi:
        data[it] = 0.7 * f + rng.normal(0, 0.7, len(data))
    data["perspective"] = "provider"
    h = Hypothesis.model_validate({
        "id": "H150", "family": "A", "statement": "simulated", "test": {"methods": ["sem_path"], "description": "s"},
        "relations": [{"type": "path", "from": x, "to": y, "sign": "+"}], "basis": ["F"], "exploratory": False,
        "provenance": [{"seed": "S002", "where": "§5.1"}]})
    reg = dataclasses.replace(registry, hypotheses={**registry.hypotheses, "H150": h})
    (res,) = test_hypotheses(ModelsSection(hypotheses=["H150"], bootstrap=0), data, reg)
    assert res.decision == "not_tested" and "improper" in res.reason and "negative variance" in res.reason
    tab = hypothesis_tables([res], reg)["hypotheses"]
    assert tab.loc[0, "decision"] == "not_tested" and "improper" in tab.loc[0, "short_reason"]


def test_problems_name_loadings_and_latent_correlations_beyond_one():
    """FitResult.problems lists, after the engine's warnings, every standardized loading and latent correlation
    beyond +-1 with its value (a fixed latent covariance of 1.3 between unit-variance factors: r = 1.3)."""
    from vccscale.sem import fit_cfa

    d = pd.concat([heywood_items(500, 4, ["h1", "h2", "h3"]), heywood_items(500, 5, ["g1", "g2", "g3"])], axis=1)
    fit = fit_cfa(d, "a =~ NA*h1 + h2 + h3\n b =~ NA*g1 + g2 + g3\n a ~~ 1*a\n b ~~ 1*b\n a ~~ 1.3*b")
    probs = fit.problems
    assert probs[0].startswith("negative variance estimate for h1")
    assert "the covariance matrix of the latent variables is not positive definite" in probs
    assert any(p.startswith("standardized loading of h1 on a is -1.5") and p.endswith("a Heywood case") for p in probs)
    assert probs[-1] == "latent correlation of a and b is 1.300 (beyond +-1)"
