"""Ordered indicators: thresholds, polychoric correlations, their NACOV and the WLSMV / ULSMV fit against lavaan
0.6-14 (tests/reference/ordinal_sem/wlsmv_reference.R: psych::bfi A1-A5 and C1-C5, complete cases, n = 2632).

Tolerances: thresholds 1e-10; polychoric correlations 1e-6 (lavaan's optimiser stops ~3e-8 away); NACOV 1e-4
relative; estimates 1e-5; SEs 1e-4 relative; every fit measure lavaan and vccscale both report 1e-5 relative; the
bivariate normal CDF against mvtnorm::pmvnorm (Miwa) 1e-12."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from vccscale.errors import DataError, ModelError
from vccscale.sem import fit_cfa
from vccscale.sem.polychoric import bivariate_normal_cdf, ordinal_stats
from vccscale.sem.wlsmv import fit_ordinal
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "ordinal_sem"


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "wlsmv_reference.json")


@pytest.fixture(scope="module")
def bfi():
    return pd.read_csv(reference_path(REF / "bfi_ac.csv"))


def test_bivariate_normal_cdf_matches_mvtnorm():
    # R: mvtnorm::pmvnorm(upper = c(h, k), corr = matrix(c(1, r, r, 1), 2), algorithm = Miwa(steps = 4096))
    got = bivariate_normal_cdf(np.array([0.5, -1, 2]), np.array([0.3, 1, -0.5]), 0.6)
    assert np.allclose(got, [0.516319322441472, 0.156936373986169, 0.308321577433576], rtol=0, atol=1e-12)
    assert bivariate_normal_cdf(np.array([0.5]), np.array([0.3]), -0.95)[0] == pytest.approx(0.309605571765904,
                                                                                            abs=1e-12)
    assert bivariate_normal_cdf(np.array([np.inf]), np.array([0.3]), 0.4)[0] == pytest.approx(0.617911422188953)


def test_thresholds_polychorics_and_nacov(ref, bfi):
    st = ordinal_stats(bfi, ref["items"])
    c = ref["cfa"]
    th = np.array(list(c["thresholds"].values()) if isinstance(c["thresholds"], dict) else c["thresholds"])
    assert np.abs(np.concatenate(st.thresholds) - th).max() < 1e-10
    assert st.threshold_names == c["threshold_names"]
    assert np.abs(st.cor - np.array(c["polychoric"])).max() < 1e-6
    G = np.array(c["gamma"])
    big = np.abs(G) > 1e-3
    assert np.abs(st.gamma[big] / G[big] - 1).max() < 1e-4
    assert np.abs(st.gamma - G).max() < 1e-5 * np.abs(G).max()
    assert np.allclose(st.wls_vd, c["wls_v_diag"], rtol=1e-4)


@pytest.mark.parametrize("case,estimator", [("cfa", "WLSMV"), ("uls", "ULSMV")])
def test_fit_matches_lavaan(ref, bfi, case, estimator):
    c = ref[case]
    fit = fit_ordinal(bfi, c["model"], estimator=estimator)
    shared = [k for k in c["fit"] if k in fit.fit and c["fit"][k] is not None]
    assert len(shared) >= 35
    for k in shared:
        assert fit.fit[k] == pytest.approx(c["fit"][k], rel=1e-5, abs=1e-9), k
    pe = pd.DataFrame(c["estimates"])
    pe["std_all"] = c["std_all"]
    m = pe.merge(fit.estimates, on=["lhs", "op", "rhs"], suffixes=("_ref", ""), validate="1:1")
    assert len(m) == len(pe) == len(fit.estimates)   # thresholds, scale factors and fixed means included
    assert np.abs(m["est"] - m["est_ref"]).max() < 1e-5
    free = m["se_ref"] > 0
    assert np.abs(m.loc[free, "se"] / m.loc[free, "se_ref"] - 1).max() < 1e-4
    assert (m.loc[~free, "se"] == 0).all()
    assert np.abs(m["std_all"] - m["std_all_ref"]).max() < 1e-5
    assert fit.fit["df"] == c["fit"]["df"] and fit.fit["npar"] == c["fit"]["npar"]


def test_cli_wlsmv_json_and_api_route(ref, bfi, tmp_path):
    from vccscale.cli import main

    mfile = tmp_path / "m.lav"
    mfile.write_text(ref["cfa"]["model"])
    data = reference_path(REF / "bfi_ac.csv")
    r = CliRunner().invoke(main, ["cfa", str(data), "--model", str(mfile), "--estimator", "WLSMV", "--ordered",
                                  *ref["items"], "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    f = ref["cfa"]["fit"]
    for k in ("chisq", "chisq_scaled", "df_scaled", "chisq_scaling_factor", "cfi_scaled", "tli_scaled",
              "rmsea_scaled", "srmr"):
        assert out["fit"][k] == pytest.approx(f[k.replace("_", ".").replace("srmr", "srmr")], rel=1e-3), k
    assert any(e["op"] == "|" for e in out["estimates"])
    r = CliRunner().invoke(main, ["cfa", str(data), "--model", str(mfile), "--estimator", "WLSMV"])
    assert r.exit_code == 2 and "--ordered" in r.output
    # the API: ordered= routes to WLSMV (lavaan's default estimator for ordered indicators)
    fit = fit_cfa(bfi, ref["cfa"]["model"], ordered=True)
    assert fit.estimator == "WLSMV" and fit.fit["chisq"] == pytest.approx(f["chisq"], rel=1e-5)


@pytest.mark.parametrize("case,equal", [("none", ()), ("thresholds", ("thresholds",)),
                                        ("thresholds+loadings", ("thresholds", "loadings"))])
def test_multigroup_invariance_models_match_lavaan(ref, bfi, case, equal):
    """Configural, equal thresholds, equal thresholds and loadings by gender (lavaan frees the scale factors and
    latent means of group 2 once thresholds are equal): every shared fit measure 1e-5, estimates 1e-5, SEs 1e-5
    relative."""
    c = ref["groups"][case]
    fit = fit_cfa(bfi, ref["cfa"]["model"], ordered=True, group="gender", group_equal=list(equal))
    shared = [k for k in c["fit"] if k in fit.fit and c["fit"][k] is not None]
    assert len(shared) >= 35
    for k in shared:
        assert fit.fit[k] == pytest.approx(c["fit"][k], rel=1e-5, abs=1e-9), k
    pe = pd.DataFrame(c["estimates"])
    m = pe.merge(fit.estimates, on=["lhs", "op", "rhs", "group"], suffixes=("_ref", ""), validate="1:1")
    assert len(m) == len(pe) == len(fit.estimates)
    assert np.abs(m["est"] - m["est_ref"]).max() < 1e-5
    free = m["se_ref"] > 0
    assert np.abs(m.loc[free, "se"] / m.loc[free, "se_ref"] - 1).max() < 1e-5
    assert fit.nobs == list(c["nobs"])


def test_refusals(ref, bfi):
    model = ref["cfa"]["model"]
    with pytest.raises(ModelError, match="not with cluster"):
        fit_cfa(bfi, model, ordered=True, cluster="gender")
    with pytest.raises(ModelError, match="mix of ordered and continuous"):
        fit_ordinal(bfi, model, ordered=["A1", "A2"])
    with pytest.raises(ModelError, match="ordered=True"):
        fit_cfa(bfi, model, estimator="WLSMV")
    d = bfi.copy()
    d.loc[3, "A1"] = np.nan
    fit = fit_ordinal(d, model)
    assert fit.n_dropped == 1 and any("1 of" in w for w in fit.warnings)
    const = bfi.assign(A1=3)
    with pytest.raises(DataError, match="single observed category"):
        fit_ordinal(const, model)


def test_ordinal_reliability_matches_semtools_and_psych(ref, bfi, tmp_path):
    """semTools::compRelSEM (categorical omega, Green & Yang 2009; latent-response omega) and psych::alpha of the
    polychoric correlations on the WLSMV fit with A1, C4, C5 reversed: 1e-6; `vccscale cfa --estimator WLSMV`
    reports them."""
    from vccscale.cli import main
    from vccscale.sem.wlsmv import ordinal_reliability

    rel = ref["reliability"]
    d = bfi.copy()
    for v in rel["reversed"]:
        d[v] = 7 - d[v]
    got = ordinal_reliability(fit_ordinal(d, ref["cfa"]["model"])).set_index("factor")
    for k, f in enumerate(rel["factor"]):
        for col in ("alpha_ordinal", "omega_latent", "omega_categorical"):
            assert got.loc[f, col] == pytest.approx(rel[col][k], abs=1e-6), (f, col)
    p = tmp_path / "d.csv"
    d.to_csv(p, index=False)
    mfile = tmp_path / "m.lav"
    mfile.write_text(ref["cfa"]["model"])
    r = CliRunner().invoke(main, ["cfa", str(p), "--model", str(mfile), "--estimator", "WLSMV", "--ordered", "all",
                                  "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["reliability"][0]["omega_categorical"] == pytest.approx(rel["omega_categorical"][0], abs=1e-6)
    assert "Green & Yang" in out["reliability_convention"]


def test_cli_ordinal_invariance(ref, tmp_path):
    """`vccscale invariance --ordered all`: the three levels' scaled fit equals lavaan's (1e-5) and the rule is
    the scaled-CFI change, said in the output."""
    from vccscale.cli import main

    mfile = tmp_path / "m.lav"
    mfile.write_text(ref["cfa"]["model"])
    r = CliRunner().invoke(main, ["invariance", str(reference_path(REF / "bfi_ac.csv")), "--model", str(mfile),
                                  "--group", "gender", "--ordered", "all", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    keys = {"configural": "none", "thresholds": "thresholds", "thresholds_loadings": "thresholds+loadings"}
    for row in out["levels"]:
        f = ref["groups"][keys[row["level"]]]["fit"]
        assert row["cfi_scaled"] == pytest.approx(f["cfi.scaled"], rel=1e-5)
        assert row["chisq_scaled"] == pytest.approx(f["chisq.scaled"], rel=1e-5)
    assert out["levels"][1]["delta_cfi_scaled"] == pytest.approx(
        ref["groups"]["thresholds"]["fit"]["cfi.scaled"] - ref["groups"]["none"]["fit"]["cfi.scaled"], abs=1e-8)
    assert "Chen 2007" in out["rule"] and "Satorra 2000" in out["rule"]
    lrt = ref["groups"]["lrt"]
    for k in (1, 2):   # lavTestLRT's scaled-shifted differences (Satorra 2000): 1e-6 relative
        assert out["levels"][k]["chisq_diff_scaled"] == pytest.approx(lrt["chisq_diff"][k], rel=1e-6)
        assert out["levels"][k]["df_diff"] == lrt["df_diff"][k]
        assert out["levels"][k]["pvalue"] == pytest.approx(lrt["pvalue"][k], rel=1e-5)
    assert out["highest_level_held"] in ("configural", "thresholds", "thresholds_loadings")


def test_pairwise_missing_matches_lavaan(ref):
    """4% of the answers missing (MCAR): lavaan's missing = "pairwise" (thresholds from each item's answers,
    correlations from the pairs answering both, zero scores for missing answers in the NACOV): sample statistics
    1e-6, every shared fit measure 1e-5, estimates 1e-5, SEs 1e-5 relative; listwise is refused by name."""
    c = ref["pairwise"]
    d = pd.read_csv(reference_path(REF / "bfi_ac_na.csv"))
    st = ordinal_stats(d, ref["items"], missing="pairwise")
    assert np.abs(st.cor - np.array(c["polychoric"])).max() < 1e-6
    G = np.array(c["gamma"])
    assert np.abs(st.gamma - G).max() < 1e-6 * np.abs(G).max()
    fit = fit_cfa(d, c["model"], ordered=True, missing="pairwise")
    assert fit.nobs == [c["nobs"]] and fit.missing == "pairwise"
    for k in (k for k in c["fit"] if k in fit.fit and c["fit"][k] is not None):
        assert fit.fit[k] == pytest.approx(c["fit"][k], rel=1e-5, abs=1e-9), k
    pe = pd.DataFrame(c["estimates"])
    m = pe.merge(fit.estimates, on=["lhs", "op", "rhs"], suffixes=("_ref", ""), validate="1:1")
    assert np.abs(m["est"] - m["est_ref"]).max() < 1e-5
    free = m["se_ref"] > 0
    assert np.abs(m.loc[free, "se"] / m.loc[free, "se_ref"] - 1).max() < 1e-5
    with pytest.raises(DataError, match="missing='pairwise'"):
        ordinal_stats(d, ref["items"])


def test_theta_parameterization_matches_lavaan(ref, bfi, tmp_path):
    """parameterization = "theta" (lavaan 0.6-14): residual variances of the latent responses fixed at 1, the scale
    factors derived (~*~, not free, std.all 1); with equal thresholds by gender the residual variances of group 2
    are free. The fit equals the delta fit (same model, other units). Fit measures 1e-5 relative, estimates 5e-5
    relative (the loadings are on the latent-response scale, up to 3.3; lavaan's optimiser stops ~2e-5 relative
    away there; the Jacobian is checked against central differences to 1e-9 below), SEs 1e-4 relative."""
    from vccscale.cli import main
    from vccscale.sem.wlsmv import ordinal_reliability

    th = ref["theta"]
    for case, kw in (("cfa", {}), ("groups", {"group": "gender", "group_equal": ["thresholds"]})):
        c = th[case]
        fit = fit_cfa(bfi, ref["cfa"]["model"], ordered=True, parameterization="theta", **kw)
        assert fit.parameterization == "theta"
        shared = [k for k in c["fit"] if k in fit.fit and c["fit"][k] is not None]
        assert len(shared) >= 35
        for k in shared:
            assert fit.fit[k] == pytest.approx(c["fit"][k], rel=1e-5, abs=1e-9), k
        pe = pd.DataFrame(c["estimates"])
        keys = ["lhs", "op", "rhs"] + (["group"] if case == "groups" else [])
        if case == "cfa":
            pe["std_all"] = c["std_all"]
        m = pe.merge(fit.estimates, on=keys, suffixes=("_ref", ""), validate="1:1")
        assert len(m) == len(pe) == len(fit.estimates)
        assert (np.abs(m["est"] - m["est_ref"]) / np.maximum(1, np.abs(m["est_ref"]))).max() < 5e-5
        om, th_hat = fit._state.model, fit._state.theta
        for g in range(om.G):   # the analytic Jacobian of the theta parameterisation vs central differences
            num = np.column_stack([(om.sigma(th_hat + e, g)[0] - om.sigma(th_hat - e, g)[0]) / 2e-6
                                   for e in np.eye(len(th_hat)) * 1e-6])
            assert np.abs(om.jac(th_hat, g) - num).max() < 1e-8
        free = m["se_ref"] > 0
        assert np.abs(m.loc[free, "se"] / m.loc[free, "se_ref"] - 1).max() < 1e-4
        assert (m.loc[~free, "se"] == 0).all()
        if case == "cfa":
            assert np.abs(m["std_all"] - m["std_all_ref"]).max() < 1e-5
            # same model as delta: chi-square and standardized loadings equal the delta fit's
            delta = fit_cfa(bfi, ref["cfa"]["model"], ordered=True)
            assert fit.fit["chisq"] == pytest.approx(delta.fit["chisq"], rel=1e-7)
            rel_t, rel_d = ordinal_reliability(fit), ordinal_reliability(delta)
            assert np.allclose(rel_t.drop(columns="factor"), rel_d.drop(columns="factor"), atol=1e-6)
    mfile = tmp_path / "m.lav"
    mfile.write_text(ref["cfa"]["model"])
    data = reference_path(REF / "bfi_ac.csv")
    r = CliRunner().invoke(main, ["cfa", str(data), "--model", str(mfile), "--ordered", "all", "--parameterization",
                                  "theta", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["parameterization"] == "theta"
    assert out["fit"]["chisq_scaled"] == pytest.approx(th["cfa"]["fit"]["chisq.scaled"], rel=1e-5)
    r = CliRunner().invoke(main, ["cfa", str(data), "--model", str(mfile), "--parameterization", "theta"])
    assert r.exit_code == 2 and "--ordered" in r.output
    with pytest.raises(ModelError, match="ordered indicators"):
        fit_cfa(bfi, ref["cfa"]["model"], parameterization="theta")
