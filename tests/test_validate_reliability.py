"""vccscale.validate.reliability: alpha, omega, CR, AVE against psych/semTools (validate_extra_reference.json,
hs_cfa_ml.json) and closed forms. Tolerance 1e-3 relative, absolute floor 1e-6."""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import DataError, ModelError
from vccscale.validate import (
    ReverseKeyWarning,
    ave,
    composite_reliability,
    cronbach_alpha,
    item_analysis,
    omega,
    reliability_from_params,
)
from vccscale.validate.reliability import feldt_ci
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "validate"
ITEMS = [f"{t}{i}" for t in "ACENO" for i in range(1, 6)]


def close(actual, desired, rtol=1e-3, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(desired, dtype=float), rtol=rtol, atol=atol)


def load(name: str) -> dict:
    return load_reference(REF / name)


@pytest.fixture(scope="module")
def extra() -> dict:
    return load("validate_extra_reference.json")


@pytest.fixture(scope="module")
def hs_ref() -> dict:
    return load("hs_cfa_ml.json")


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return pd.read_csv(reference_path(REF / "bfi.csv"))


# ------------------------------------------------------------------------------------------------ alpha
@pytest.mark.parametrize("key, items, check", [("N", ITEMS[15:20], False), ("C_nokeys", ITEMS[5:10], False),
                                               ("O_keys", ITEMS[20:], True)])
def test_alpha_matches_psych(extra, bfi, key, items, check):
    r = extra["alpha"][key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReverseKeyWarning)
        a = cronbach_alpha(bfi, items, check_keys=check)
    t = r["total"]
    close([a.alpha, a.std_alpha, a.g6, a.average_r, a.s_n, a.ase, a.mean, a.sd, a.median_r],
          [t["raw_alpha"], t["std.alpha"], t["G6(smc)"], t["average_r"], t["S/N"], t["ase"], t["mean"], t["sd"],
           t["median_r"]])
    close([a.ci_lower, a.ci_upper], [r["feldt"]["lower"], r["feldt"]["upper"]])
    drop = pd.DataFrame(r["alpha_drop"])
    close(a.items["alpha_if_deleted"], drop["raw_alpha"])
    close(a.items["r_drop"], pd.DataFrame(r["item_stats"])["r.drop"])
    assert [k.startswith("-") for k in r["keys"]] == list(a.items["reversed"])


def test_alpha_ci_level(extra, bfi):
    r = extra["alpha"]["E_ci90"]
    with pytest.warns(ReverseKeyWarning):
        a = cronbach_alpha(bfi, ITEMS[10:15], check_keys=True, ci=0.90)
    close(a.alpha, r["raw_alpha"])
    close([a.ci_lower, a.ci_upper], [r["lower"], r["upper"]])
    close(feldt_ci(r["raw_alpha"], 2800, 5, 0.90), [r["lower"], r["upper"]])


def test_alpha_closed_forms():
    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.normal(size=(300, 2)) @ np.array([[1, .6], [0, .8]]), columns=["a", "b"])
    c = x.cov().to_numpy()
    a = cronbach_alpha(x, ["a", "b"])
    assert a.alpha == pytest.approx(4 * c[0, 1] / (c[0, 0] + c[1, 1] + 2 * c[0, 1]), rel=1e-12)
    r = x.corr().iloc[0, 1]
    assert a.std_alpha == pytest.approx(2 * r / (1 + r), rel=1e-12)  # Spearman-Brown
    assert a.items["alpha_if_deleted"].isna().all()
    # k parallel items: alpha = k rbar / (1 + (k - 1) rbar) for standardised alpha
    x3 = pd.DataFrame(rng.normal(size=(500, 1)) + rng.normal(size=(500, 4)), columns=list("pqrs"))
    a3 = cronbach_alpha(x3, list("pqrs"))
    k, rb = 4, a3.average_r
    assert a3.std_alpha == pytest.approx(k * rb / (1 + (k - 1) * rb), rel=1e-12)
    assert a3.to_frame() is a3.items and a3.to_dict()["n_items"] == 4 and "alpha" in a3.summary()


def test_reverse_keys_explicit_and_scale_range(bfi):
    a = cronbach_alpha(bfi, ITEMS[:5], reverse=["A1"])
    x = bfi[ITEMS[:5]].copy()
    x["A1"] = 7 - x["A1"]
    ref = cronbach_alpha(x, ITEMS[:5])
    assert a.alpha == pytest.approx(ref.alpha, rel=1e-12) and a.reversed_items == ("A1",)
    # reversal does not change alpha whatever constant is used (covariances only change sign)
    with pytest.warns(ReverseKeyWarning):
        c = cronbach_alpha(bfi, ITEMS[:5], check_keys=True, scale_range=(0, 10))
    assert c.alpha == pytest.approx(a.alpha, rel=1e-12)
    assert c.mean != pytest.approx(a.mean)  # ... but the mean score does
    with pytest.raises(DataError, match="not among"):
        cronbach_alpha(bfi, ITEMS[:5], reverse=["Z9"])


# ------------------------------------------------------------------------------------------------ omega
@pytest.mark.parametrize("key, items, nf", [("bfi25_3", ITEMS, 3), ("bfi25_5", ITEMS, 5), ("NO_2", ITEMS[15:], 2),
                                            ("N_1", ITEMS[15:20], 1)])
def test_omega_matches_psych(extra, bfi, key, items, nf):
    r = extra["omega"][key]
    o = omega(bfi, items, n_factors=nf)
    close([o.omega_total, o.omega_hierarchical, o.details["omega_limit"], o.details["alpha"], o.details["g6"]],
          [r["omega_tot"], r["omega_h"], r["omega_lim"], r["alpha"], r["G6"]])
    sl = r["sl"]
    g_ref = pd.Series([row[0] for row in sl["values"]], index=[n.rstrip("-") for n in sl["rownames"]])
    close(o.loadings["g"], g_ref[items])
    close(o.loadings["h2"], pd.Series([row[-3] for row in sl["values"]], index=g_ref.index)[items])
    if nf > 1:
        close(o.details["ecv"], r["ECV"])
        grp = r["omega_group"]
        mine = pd.DataFrame(o.details["omega_group"]).T
        close(mine.loc[["g"] + [f"F{j + 1}*" for j in range(nf)], ["total", "general", "group"]].to_numpy(),
              np.column_stack([grp["total"], grp["general"], grp["group"]]))


def test_omega_cfa_matches_semtools(extra, bfi):
    r = extra["cfa_N"]
    o = omega(bfi, ITEMS[15:20], method="cfa")
    assert o.n_obs == r["nobs"]
    close(o.omega_total, r["compRelSEM"])
    close(o.details["omega_fitted"], r["compRelSEM_obs_var_false"])
    close(o.details["ave"], r["AVE"])
    close(o.details["ave_fitted"], r["AVE_obs_var_false"])
    close(o.loadings["loading"], r["lambda"], rtol=1e-4)
    close(o.loadings["residual_variance"], r["theta"], rtol=1e-4)
    with pytest.raises(ModelError, match="one-factor"):
        omega(bfi, ITEMS, n_factors=3, method="cfa")


def test_omega_one_factor_closed_form(bfi):
    o = omega(bfi, ITEMS[15:20])
    lam = o.loadings["g"].to_numpy()
    vt = bfi[ITEMS[15:20]].corr().to_numpy().sum()
    assert o.omega_hierarchical == pytest.approx(lam.sum() ** 2 / vt, rel=1e-12)
    assert o.omega_total == pytest.approx((vt - (1 - lam ** 2).sum()) / vt, rel=1e-12)
    assert set(o.to_dict()) >= {"omega_total", "omega_hierarchical", "alpha"} and "omega total" in o.summary()


# ------------------------------------------------------------------------------------------------ CR, AVE
def test_cr_ave_closed_forms():
    lam, th = [0.7, 0.8, 0.6], [0.51, 0.36, 0.64]
    s = sum(lam)
    assert composite_reliability(lam, th) == pytest.approx(s ** 2 / (s ** 2 + sum(th)))
    assert ave(lam, th) == pytest.approx(sum(v * v for v in lam) / 3)  # standardised: mean squared loading
    # unstandardised, factor variance 2: CR = phi (sum l)^2 / (phi (sum l)^2 + sum theta)
    assert composite_reliability([1, 2], [1, 1], factor_variance=2) == pytest.approx(18 / 20)
    assert ave([1, 2], [1, 1], factor_variance=2) == pytest.approx(10 / 12)
    # obs.var = TRUE variants
    cov = np.array([[2.0, 1.0], [1.0, 3.0]])
    assert composite_reliability([1, 1], [1, 2], observed_cov=cov) == pytest.approx(4 / 7)
    assert ave([1, 1], [1, 2], observed_variances=[2, 3]) == pytest.approx(2 / 5)
    with pytest.raises(DataError):
        ave([0.5, 0.6], [0.2])


def test_reliability_from_params_matches_semtools(hs_ref, extra):
    pe = pd.DataFrame(hs_ref["parameter_estimates"])
    s = hs_ref["sample_cov"]
    cov = pd.DataFrame(s["values"], index=s["rownames"], columns=s["colnames"])
    t = reliability_from_params(pe, cov)
    facs = ["visual", "textual", "speed"]
    close(t.loc[facs, "omega"], [hs_ref["comp_rel"]["default"][f] for f in facs])
    close(t.loc[facs, "omega_fitted"], [hs_ref["comp_rel"]["obs_var_false"][f] for f in facs])
    close(t.loc[facs, "ave"], [hs_ref["ave"][f] for f in facs])
    close(t.loc[facs, "ave_fitted"], [extra["hs"]["AVE_obs_var_false"][f] for f in facs])
    # standardised loadings (std.all): CR of the sum of standardised items, AVE = mean squared std. loading
    ts = reliability_from_params(pe.assign(est=pe["std.all"]))
    lam = pe[pe.op == "=~"].groupby("lhs")["std.all"]
    close(ts.loc[facs, "ave_fitted"], lam.apply(lambda v: (v ** 2).mean())[facs])
    close(ts.loc[facs, "omega_fitted"], lam.apply(lambda v: v.sum() ** 2 / (v.sum() ** 2 + (1 - v ** 2).sum()))[facs])
    with pytest.raises(DataError):
        reliability_from_params(pd.DataFrame({"lhs": ["f"]}))


def test_reliability_from_params_cross_loading_is_nan():
    pt = pd.DataFrame({"lhs": ["f", "f", "f", "g", "g", "g", "a", "b", "c", "d", "e"],
                       "op": ["=~"] * 6 + ["~~"] * 5,
                       "rhs": ["a", "b", "c", "c", "d", "e", "a", "b", "c", "d", "e"],
                       "est": [.7, .7, .5, .3, .6, .6, .51, .51, .5, .64, .64]})
    t = reliability_from_params(pt)
    assert t["omega_fitted"].isna().all()


# ------------------------------------------------------------------------------------------------ item analysis
def test_item_analysis_floor_ceiling_and_inter_item():
    x = pd.DataFrame({"a": [1, 1, 2, 3, 5, 5, 5, 4], "b": [1, 2, 2, 3, 4, 5, 5, 5], "c": [2, 1, 3, 3, 4, 4, 5, 5]})
    ia = item_analysis(x, ["a", "b", "c"])
    assert (ia.scale_min, ia.scale_max) == (1, 5)
    assert ia.items.loc["a", "floor_pct"] == pytest.approx(25.0) and ia.items.loc["a", "ceiling_pct"] == 37.5
    ia7 = item_analysis(x, ["a", "b", "c"], scale_min=1, scale_max=7)
    assert (ia7.items["ceiling_pct"] == 0).all()
    r = x.corr().to_numpy()[np.triu_indices(3, 1)]
    assert ia.inter_item["mean"] == pytest.approx(r.mean()) and ia.inter_item["min"] == pytest.approx(r.min())
    assert ia.inter_item["max"] == pytest.approx(r.max()) and ia.inter_item["median"] == pytest.approx(np.median(r))
    v = x["a"].to_numpy(float)
    m, s = v.mean(), v.std(ddof=1)
    assert ia.items.loc["a", "skew"] == pytest.approx(((v - m) ** 3).sum() / (len(v) * s ** 3))
    assert ia.items.loc["a", "kurtosis"] == pytest.approx(((v - m) ** 4).sum() / (len(v) * s ** 4) - 3)
    assert not math.isnan(ia.alpha) and "inter-item" in ia.summary() and ia.to_frame() is ia.items
    with pytest.raises(DataError, match="scale_min"):
        item_analysis(x, ["a", "b"], scale_min=5, scale_max=1)


def test_item_analysis_flags_negative_items(bfi):
    ia = item_analysis(bfi, ITEMS[5:10])
    assert list(ia.items.index[ia.items["pc1_negative"]]) == ["C4", "C5"]


def test_reliability_from_vccscale_sem_fit(hs_ref):
    sem = pytest.importorskip("vccscale.sem")
    hs = pd.read_csv(reference_path(REF / "HolzingerSwineford1939.csv"))
    fit = sem.fit_cfa(hs, "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9")
    t = reliability_from_params(fit.estimates, next(iter(fit.sample_cov.values())))
    facs = ["visual", "textual", "speed"]
    close(t.loc[facs, "omega"], [hs_ref["comp_rel"]["default"][f] for f in facs])
    close(t.loc[facs, "ave"], [hs_ref["ave"][f] for f in facs])
