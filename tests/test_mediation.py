"""Mediation (vccscale.models.mediation) against lavaan 0.6-14 (tests/reference/models/mediation_reference.R)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vccscale.models import boot_ci, mediate, mediate_latent, norm_inter
from vccscale.models.pathmodel import jackknife_acceleration as _accel
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "models"
MEAS = {"X": ["x1", "x2", "x3"], "M": ["m1", "m2", "m3"], "Y": ["y1", "y2", "y3"]}
# our effect name -> lavaan label in the reference models
SIMPLE = {"a": "a", "b": "b", "direct": "c", "indirect": "ind", "total": "total"}


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "mediation_reference.json")


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(reference_path(REF / "mediation_data.csv"))


@pytest.fixture(scope="module")
def latent_data():
    return pd.read_csv(reference_path(REF / "latent_data.csv"))


def _by_label(block):
    return {lab: (e, s) for lab, e, s in zip(block["label"], block["est"], block["se"]) if lab}


def _ci_by_label(block):
    return {lab: (lo, hi) for lab, lo, hi in zip(block["label"], block["ci_lower"], block["ci_upper"]) if lab}


def test_simple_estimates_and_delta_se_match_lavaan(ref, data):
    r = mediate(data, "x", "m1", "y", n_boot=0, n_mc=0)
    eff = r.effects.set_index("name")
    for block in (ref["simple"]["standard"], ref["simple"]["boot"]["perc"]):
        lav = _by_label(block)
        for ours, lab in SIMPLE.items():
            assert eff.loc[ours, "est"] == pytest.approx(lav[lab][0], abs=1e-6)
    lav = _by_label(ref["simple"]["standard"])
    for ours, lab in SIMPLE.items():
        assert eff.loc[ours, "delta_se"] == pytest.approx(lav[lab][1], abs=1e-6)
        z = eff.loc[ours, "est"] / eff.loc[ours, "delta_se"]
        assert eff.loc[ours, "pvalue"] == pytest.approx(2 * stats.norm.sf(abs(z)))


@pytest.mark.parametrize("which,kw,names", [
    ("parallel", dict(m=["m1", "m2"], covariates=["cv"]),
     {"a_1": "a1", "a_2": "a2", "b_1": "b1", "b_2": "b2", "direct": "c", "indirect_1": "ind1",
      "indirect_2": "ind2", "total": "total"}),
    ("serial", dict(m=["m1", "m2"], serial=True),
     {"a_1": "a1", "a_2": "a2", "d_21": "d21", "b_1": "b1", "b_2": "b2", "direct": "c", "indirect_1": "ind1",
      "indirect_2": "ind2", "indirect_3": "ind3", "total": "total"}),
])
def test_several_mediators_match_lavaan(ref, data, which, kw, names):
    r = mediate(data, "x", y="y", n_boot=0, n_mc=0, **kw)
    eff = r.effects.set_index("name")
    lav = _by_label(ref[which])
    for ours, lab in names.items():
        assert eff.loc[ours, "est"] == pytest.approx(lav[lab][0], abs=1e-6), ours
        assert eff.loc[ours, "delta_se"] == pytest.approx(lav[lab][1], abs=1e-6), ours
    ind = [k for k in names if k.startswith("indirect_")]
    assert eff.loc["indirect", "est"] == pytest.approx(sum(eff.loc[k, "est"] for k in ind))
    if which == "serial":
        assert eff.loc["indirect_3", "path"] == "x -> m1 -> m2 -> y"


def test_quantile_rule_reproduces_lavaan_on_lavaan_draws(ref):
    """lavaan's percentile / bca.simple CIs use boot::norm.inter (normal-scale interpolation between order
    statistics at (R+1)*alpha); applied to lavaan's own draws we must reproduce them exactly."""
    boot = ref["simple"]["boot"]
    draws = boot["draws"]
    perc, bc = _ci_by_label(boot["perc"]), _ci_by_label(boot["bc"])
    est = _by_label(boot["perc"])
    for lab, key in [("a", "a"), ("b", "b"), ("c", "c"), ("ind", "ind"), ("total", "total")]:
        t = np.asarray(draws[key])
        assert norm_inter(t, [0.025, 0.975]) == pytest.approx(perc[lab], abs=1e-12)
        assert boot_ci(t, [est[lab][0]], "bc", 0.95)[0] == pytest.approx(bc[lab], abs=1e-12)
    # not type 7: the rule differs from numpy's default linear quantile
    t = np.asarray(draws["ind"])
    assert abs(norm_inter(t, [0.025])[0] - np.quantile(t, 0.025)) > 1e-8


def _mc_tolerance(sd, R1, R2, p):
    """3 x the Monte Carlo SE of the difference of two independent bootstrap quantiles: a quantile of R draws
    has SE sqrt(p(1-p)/R) / f(q_p); f from a normal approximation with the bootstrap SD."""
    f = stats.norm.pdf(stats.norm.ppf(p)) / sd
    return 3 * np.sqrt(p * (1 - p) * (1 / R1 + 1 / R2)) / f


def test_percentile_ci_within_monte_carlo_error_of_lavaan(ref, data):
    boot = ref["simple"]["boot"]
    r = mediate(data, "x", "m1", "y", n_boot=5000, seed=11, n_mc=0)
    eff = r.effects.set_index("name")
    lav = _ci_by_label(boot["perc"])
    for ours, lab in SIMPLE.items():
        sd = eff.loc[ours, "se"]
        tol = _mc_tolerance(sd, boot["R"], r.bootstrap["ok"], 0.025)
        assert abs(eff.loc[ours, "ci_lower"] - lav[lab][0]) < tol, ours
        assert abs(eff.loc[ours, "ci_upper"] - lav[lab][1]) < tol, ours
        # the bootstrap SD agrees with lavaan's bootstrap SE (relative MC SE of an SD ~ 1/sqrt(2R))
        assert eff.loc[ours, "se"] == pytest.approx(_by_label(boot["perc"])[lab][1], rel=3 * np.sqrt(1 / 2000))


def test_bootstrap_reproducible_and_one_index_set(data):
    r1 = mediate(data, "x", ["m1", "m2"], "y", serial=True, n_boot=300, seed=5, n_mc=200)
    r2 = mediate(data, "x", ["m1", "m2"], "y", serial=True, n_boot=300, seed=5, n_mc=200)
    pd.testing.assert_frame_equal(r1.effects, r2.effects)
    assert r1.bootstrap == {**r2.bootstrap, "seconds": r1.bootstrap["seconds"]}
    assert r1.bootstrap["seed"] == 5 and r1.bootstrap["draws"] == 300 and r1.bootstrap["failed"] == 0
    # every statistic of draw k comes from the same resample: refit draw k by plain least squares
    idx = r1.boot_indices
    assert idx.shape == (300, len(data))
    for k in (0, 17, 299):
        d = data.iloc[idx[k]]
        ones = np.ones(len(d))
        a1 = np.linalg.lstsq(np.column_stack([ones, d.x]), d.m1, rcond=None)[0][1]
        a2, d21 = np.linalg.lstsq(np.column_stack([ones, d.x, d.m1]), d.m2, rcond=None)[0][1:]
        c, b1, b2 = np.linalg.lstsq(np.column_stack([ones, d.x, d.m1, d.m2]), d.y, rcond=None)[0][1:]
        row = r1.boot_draws.iloc[k]
        assert row["a_1"] == pytest.approx(a1) and row["d_21"] == pytest.approx(d21)
        assert row["indirect_3"] == pytest.approx(a1 * d21 * b2)
        assert row["total"] == pytest.approx(c + a1 * b1 + a2 * b2 + a1 * d21 * b2)
    # a different seed gives different draws; seed=None draws one and reports it
    r3 = mediate(data, "x", "m1", "y", n_boot=50, n_mc=0)
    r4 = mediate(data, "x", "m1", "y", n_boot=50, n_mc=0, seed=r3.bootstrap["seed"])
    pd.testing.assert_frame_equal(r3.effects, r4.effects)


def test_failed_draws_are_counted(data):
    d = data.copy()
    d["rare"] = 0.0
    d.loc[0, "rare"] = 1.0  # a resample without case 0 makes this covariate constant: singular
    r = mediate(d, "x", "m1", "y", covariates=["rare"], n_boot=400, seed=2, n_mc=0)
    b = r.bootstrap
    p_missing = (1 - 1 / len(d)) ** len(d)
    assert b["failed"] > 0.5 * p_missing * 400
    assert b["ok"] + b["failed"] == 400 and len(r.boot_draws) == b["ok"]
    assert np.isfinite(r.boot_draws.to_numpy()).all()


def test_bca_acceleration_is_the_jackknife(data):
    r = mediate(data.iloc[:60], "x", "m1", "y", n_boot=800, ci="bca", seed=3, n_mc=0)
    d = data.iloc[:60].reset_index(drop=True)
    jack = []
    for i in range(len(d)):
        e = d.drop(index=i)
        ones = np.ones(len(e))
        a = np.linalg.lstsq(np.column_stack([ones, e.x]), e.m1, rcond=None)[0][1]
        b = np.linalg.lstsq(np.column_stack([ones, e.x, e.m1]), e.y, rcond=None)[0][2]
        jack.append(a * b)
    acc = _accel(np.array(jack)[:, None])[0]
    eff = r.effects.set_index("name")
    t = r.boot_draws["indirect"].to_numpy()
    expect = boot_ci(t, [eff.loc["indirect", "est"]], "bca", 0.95, np.array([acc]))[0]
    assert (eff.loc["indirect", "ci_lower"], eff.loc["indirect", "ci_upper"]) == pytest.approx(tuple(expect))
    assert acc != 0
    bc = boot_ci(t, [eff.loc["indirect", "est"]], "bc", 0.95)[0]
    assert not np.allclose(bc, expect)


def test_monte_carlo_ci_and_reading(data):
    r = mediate(data, "x", "m1", "y", n_boot=1000, seed=1, n_mc=20000)
    eff = r.effects.set_index("name")
    # a linear parameter: the MC interval is the normal (delta) interval up to MC error
    for k in ("a", "direct"):
        lo = eff.loc[k, "est"] - 1.959964 * eff.loc[k, "delta_se"]
        assert eff.loc[k, "mc_lower"] == pytest.approx(lo, abs=0.01 * eff.loc[k, "delta_se"] * 3)
    assert r.mediation["type"] == "partial" and r.mediation["direct_ci_includes_zero"] is False
    r2 = mediate(data, "x", ["m1", "m2"], "y", covariates=["cv"], n_boot=1000, seed=1, n_mc=0)
    assert r2.mediation["direct_ci_includes_zero"] is True and r2.mediation["type"] == "full"


def test_vectorised_bootstrap_is_fast(data):
    mediate(data, "x", "m1", "y", n_boot=50, seed=1, n_mc=0)
    t0 = time.perf_counter()
    r = mediate(data, "x", "m1", "y", n_boot=5000, seed=1, n_mc=5000)
    assert time.perf_counter() - t0 < 2.0
    assert r.bootstrap["ok"] == 5000


def test_input_errors(data):
    from vccscale.errors import DataError
    with pytest.raises(DataError):
        mediate(data, "x", "nope", "y", n_boot=0)
    with pytest.raises(ValueError):
        mediate(data, "x", "m1", "y", n_boot=0, ci="norm")


# ---------------------------------------------------------------------- latent
LAT = {"a": "a", "b": "b", "direct": "c", "indirect": "ind", "total": "total"}


def test_latent_estimates_and_full_vs_partial_match_lavaan(ref, latent_data):
    r = mediate_latent(latent_data, MEAS, "X", "M", "Y", n_boot=0, n_mc=2000, seed=1)
    eff = r.effects.set_index("name")
    lat = ref["latent"]
    lav = _by_label(lat["partial"])
    for ours, lab in LAT.items():
        assert eff.loc[ours, "est"] == pytest.approx(lav[lab][0], abs=1e-3)
        assert eff.loc[ours, "delta_se"] == pytest.approx(lav[lab][1], abs=1e-3)
    med = r.mediation
    assert med["chisq_partial"] == pytest.approx(lat["chisq_partial"], abs=1e-3)
    assert med["chisq_full"] == pytest.approx(lat["chisq_full"], abs=1e-3)
    assert med["chisq_diff"] == pytest.approx(lat["chisq_diff"], abs=1e-3)
    assert med["df_diff"] == lat["df_diff"] and med["p_diff"] == pytest.approx(lat["p_diff"], rel=1e-3)
    full = _by_label(lat["full"])
    est_full = r.fit_full.estimates.set_index("label")
    assert est_full.loc["a", "est"] == pytest.approx(full["a"][0], abs=1e-3)
    assert est_full.loc["indirect", "est"] == pytest.approx(full["ind"][0], abs=1e-3)


def test_latent_user_syntax(ref, latent_data):
    syntax = """
      X =~ x1 + x2 + x3
      M =~ m1 + m2 + m3
      Y =~ y1 + y2 + y3
      M ~ a*X
      Y ~ b*M + c*X
      ind := a*b
      total := c + a*b
    """
    r = mediate_latent(latent_data, syntax, direct="c", n_boot=0, n_mc=0)
    eff = r.effects.set_index("name")
    lav = _by_label(ref["latent"]["partial"])
    for lab in ("a", "b", "c", "ind", "total"):
        assert eff.loc[lab, "est"] == pytest.approx(lav[lab][0], abs=1e-3)
    assert r.mediation["chisq_diff"] == pytest.approx(ref["latent"]["chisq_diff"], abs=1e-3)


@pytest.mark.slow
def test_latent_bootstrap_parallel_reproducible_within_mc_error(ref, latent_data):
    kw = dict(n_boot=400, seed=9, n_mc=0, progress=False)
    r1 = mediate_latent(latent_data, MEAS, "X", "M", "Y", n_jobs=2, **kw)
    r2 = mediate_latent(latent_data, MEAS, "X", "M", "Y", n_jobs=1, **kw)
    pd.testing.assert_frame_equal(r1.effects, r2.effects)  # parallel == serial, same seed
    assert r1.bootstrap["failed"] == 0 and r1.bootstrap["ok"] == 400 and r1.bootstrap["warm_start"]
    boot = ref["latent"]["boot"]
    lav = _ci_by_label(boot["perc"])
    eff = r1.effects.set_index("name")
    for ours, lab in LAT.items():
        tol = _mc_tolerance(eff.loc[ours, "se"], boot["R"], 400, 0.025)
        assert abs(eff.loc[ours, "ci_lower"] - lav[lab][0]) < tol, ours
        assert abs(eff.loc[ours, "ci_upper"] - lav[lab][1]) < tol, ours
