"""Dyadic data (vccscale.models.dyadic): pairing, agreement, congruence RSA wrapper, APIM against lavaan 0.6-14
(tests/reference/dyadic/apim_reference.R)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vccscale.errors import DataError
from vccscale.models.dyadic import (
    PairedDyads,
    agreement,
    apim,
    apim_syntax,
    congruence_rsa,
    pair_dyads,
)
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "dyadic"
ITEMS = {"x_items": ["x1", "x2", "x3"], "y_items": ["y1", "y2", "y3"]}


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "apim_reference.json")


@pytest.fixture(scope="module")
def long():
    return pd.read_csv(reference_path(REF / "dyads_long.csv"))


@pytest.fixture(scope="module")
def paired(long):
    return pair_dyads(long, "dyad_id")


# ---------------------------------------------------------------------------------------------------- pairing
def test_pair_clean_reference_data(long, paired):
    assert isinstance(paired, PairedDyads)
    rep = paired.report
    assert (rep.n_rows, rep.n_dyads, rep.n_paired) == (500, 250, 250)
    assert rep.unmatched.empty and rep.duplicated.empty and rep.missing_dyad_id.empty and rep.other_sides == {}
    d = paired.data
    assert list(d.columns[:1]) == ["dyad_id"] and len(d) == 250
    assert {"x_provider", "x_customer", "y1_provider", "y1_customer"} <= set(d.columns)
    assert "response_id_provider" not in d.columns           # id columns are not paired
    row = long[(long.dyad_id == "D007") & (long.perspective == "customer")].iloc[0]
    assert d.set_index("dyad_id").loc["D007", "y2_customer"] == row["y2"]


def _messy():
    return pd.DataFrame({
        "response_id": ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"],
        "relationship_id": ["A", "A", "B", "B", "B", "C", None, "D", "E"],
        "perspective": ["provider", "customer", "provider", "customer", "customer", "provider", "customer",
                        "joint", "customer"],
        "q1": [1.0, 2.0, 3.0, 4.0, 6.0, 5.0, 1.0, 2.0, np.nan],
        "q2": [2.0, 2.0, 1.0, np.nan, 3.0, 4.0, 2.0, 2.0, 5.0],
    })


def test_pair_reports_unmatched_duplicated_missing_and_other():
    res = pair_dyads(_messy(), "relationship_id")
    rep = res.report
    assert rep.rule == "average"
    # C (provider only) and E (customer only) are unmatched; D has only a joint row
    um = rep.unmatched.set_index("response_id")
    assert set(um.index) == {"r6", "r9"}
    assert um.loc["r6", "missing_side"] == "customer" and um.loc["r9", "missing_side"] == "provider"
    assert list(rep.duplicated["relationship_id"]) == ["B"] and rep.duplicated["n"].iloc[0] == 2
    assert rep.duplicated["response_ids"].iloc[0] == ["r4", "r5"]
    assert list(rep.missing_dyad_id["response_id"]) == ["r7"]
    assert rep.other_sides == {"joint": 1}
    assert rep.n_paired == 2 and rep.n_dyads == 4
    d = res.data.set_index("relationship_id")
    assert list(d.index) == ["A", "B"]
    # average rule: mean of the two customers, missing skipped
    assert d.loc["B", "q1_customer"] == 5.0 and d.loc["B", "q2_customer"] == 3.0
    text = str(rep)
    assert "more than one respondent" in text and "averaged" in text and "other side" in text


def test_pair_first_rule_and_keep_unmatched():
    res = pair_dyads(_messy(), "relationship_id", duplicates="first", keep_unmatched=True)
    d = res.data.set_index("relationship_id")
    assert list(d.index) == ["A", "B", "C", "E"]
    # first rule keeps r4 as it is (q2 missing; not filled from r5)
    assert d.loc["B", "q1_customer"] == 4.0 and np.isnan(d.loc["B", "q2_customer"])
    assert np.isnan(d.loc["C", "q1_customer"]) and d.loc["E", "q2_customer"] == 5.0
    assert "first row" in str(res.report) and "kept with the other side missing" in str(res.report)


def test_pair_errors():
    with pytest.raises(DataError):
        pair_dyads(_messy(), "dyad")
    with pytest.raises(DataError):
        pair_dyads(_messy(), "relationship_id", duplicates="mean")
    bad = _messy().assign(q1=["x"] * 9)
    with pytest.raises(DataError):
        pair_dyads(bad, "relationship_id", columns=["q1"])


def test_pair_same_respondent_both_sides_is_flagged():
    df = pd.DataFrame({"response_id": ["r1", "r1"], "dyad": [1, 1], "perspective": ["provider", "customer"],
                       "q": [1.0, 2.0]})
    assert "both sides of their own dyad" in str(pair_dyads(df, "dyad").report)


# ---------------------------------------------------------------------------------------------------- agreement
def test_agreement_against_closed_forms(paired):
    res = agreement(paired, ["x", ("y_provider", "y_customer")]).set_index("variable")
    d = paired.data
    for name, xc, yc in (("x", "x_provider", "x_customer"), ("y_provider vs y_customer", "y_provider", "y_customer")):
        x, y = d[xc].to_numpy(), d[yc].to_numpy()
        row = res.loc[name]
        r, rp = stats.pearsonr(x, y)
        t = stats.ttest_rel(x, y)
        diff = x - y
        assert row["n"] == len(x)
        assert row["r"] == pytest.approx(r, abs=1e-12) and row["r_pvalue"] == pytest.approx(rp, rel=1e-9)
        z, se = np.arctanh(r), 1 / np.sqrt(len(x) - 3)
        assert row["r_ci_lower"] == pytest.approx(np.tanh(z - 1.959963984540054 * se), abs=1e-12)
        assert row["t"] == pytest.approx(t.statistic, rel=1e-10) and row["pvalue"] == pytest.approx(t.pvalue, rel=1e-9)
        assert row["df"] == len(x) - 1
        assert row["mean_diff"] == pytest.approx(diff.mean(), abs=1e-12)
        assert row["d_z"] == pytest.approx(diff.mean() / diff.std(ddof=1), rel=1e-12)
        assert row["abs_mean"] == pytest.approx(np.abs(diff).mean(), abs=1e-12)
        assert row["abs_median"] == pytest.approx(np.median(np.abs(diff)), abs=1e-12)
        assert row["share_within"] == pytest.approx(np.mean(np.abs(diff) <= 1.0))


def test_agreement_default_pairs_and_pairwise_deletion(paired):
    res = agreement(paired)
    assert set(res["variable"]) == {"x1", "x2", "x3", "y1", "y2", "y3", "x", "y"}
    d = paired.data.copy()
    d.loc[:9, "x_provider"] = np.nan
    d.loc[5:14, "x_customer"] = np.nan
    row = agreement(d, "x").iloc[0]
    ok = d["x_provider"].notna() & d["x_customer"].notna()
    assert row["n"] == ok.sum() == 235
    assert row["r"] == pytest.approx(stats.pearsonr(d.loc[ok, "x_provider"], d.loc[ok, "x_customer"])[0])
    with pytest.raises(DataError):   # fewer than 3 dyads
        agreement(pd.DataFrame({"a_provider": [1.0, 2.0], "a_customer": [2.0, 3.0]}), ["a"])


# ---------------------------------------------------------------------------------------------------- congruence RSA
def test_congruence_rsa_is_rsa_on_paired_columns(paired):
    rsa_mod = pytest.importorskip("vccscale.models.rsa")
    d = paired.data.copy()
    rng = np.random.default_rng(1)
    xp, xc = d["x_provider"], d["x_customer"]
    d["outcome"] = 0.5 * xp + 0.3 * xc - 0.4 * (xp - xc) ** 2 + rng.normal(0, 0.5, len(d))
    got = congruence_rsa(d, x="x", z="outcome", center="mean")
    want = rsa_mod.rsa(d, x="x_provider", y="x_customer", z="outcome", center="mean")
    assert (got.x, got.y, got.z) == ("x_provider", "x_customer", "outcome")
    pd.testing.assert_frame_equal(got.coefficients, want.coefficients)
    pd.testing.assert_frame_equal(got.surface, want.surface)
    # kwargs pass through; z by base name with its side
    got2 = congruence_rsa(paired, x="x", z="y", z_side="customer", center=0.0)
    want2 = rsa_mod.rsa(paired.data, x="x_provider", y="x_customer", z="y_customer", center=0.0)
    pd.testing.assert_frame_equal(got2.surface, want2.surface)
    with pytest.raises(DataError):
        congruence_rsa(paired, x="nope", z="outcome", center="mean")


# ---------------------------------------------------------------------------------------------------- APIM vs lavaan
CASES = {"obs_ml": {}, "obs_mlr": {"estimator": "MLR"}, "eq_ml": {"equal_actor": True, "equal_partner": True},
         "lat_ml": {**ITEMS, "equal_loadings": True}}


@pytest.mark.parametrize("case", list(CASES))
def test_apim_matches_lavaan(ref, paired, case):
    block = ref[case]
    res = apim(paired, "x", "y", **CASES[case])
    assert res.n == ref["n"] == 250
    pe = res.fit.estimates
    R = pd.DataFrame(block["estimates"])
    assert len(pe) == len(R)
    m = R.merge(pe, on=["lhs", "op", "rhs"], suffixes=("_r", ""), how="left", validate="one_to_one")
    assert m["est"].notna().all()
    np.testing.assert_allclose(m["est"], m["est_r"], atol=1e-3)
    np.testing.assert_allclose(m["se"], m["se_r"], atol=1e-3)
    np.testing.assert_allclose(m["std_all"], m["std_all_r"], atol=1e-3)
    for k in ("chisq", "df", "npar", "logl", "cfi", "srmr"):
        assert res.fit.fit[k] == pytest.approx(block["fit"][k], abs=1e-3), k
    # the effects table carries the labelled rows, with lavaan's values
    lab = {l: (e, s) for l, e, s in zip(R["label"], R["est"], R["se"]) if l}
    for _, row in res.effects.iterrows():
        e, s = lab[row["label"]]
        assert row["est"] == pytest.approx(e, abs=1e-3) and row["se"] == pytest.approx(s, abs=1e-3)


def test_apim_effects_and_syntax(paired):
    res = apim(paired, "x", "y")
    assert list(res.effects["label"]) == ["aP", "aC", "pCP", "pPC", "actor_diff", "partner_diff", "k_P", "k_C"]
    e = res.effects.set_index("label")["est"]
    assert e["actor_diff"] == pytest.approx(e["aP"] - e["aC"]) and e["k_P"] == pytest.approx(e["pCP"] / e["aP"])
    assert res.effect("pPC")["rhs"] == "x_provider" and res.effect("pPC")["lhs"] == "y_customer"
    syn, var, _ = apim_syntax("x", "y", covariates=["age", "size"], columns=["age_provider", "age_customer", "size"])
    assert "y_provider ~ aP*x_provider + pCP*x_customer + age_provider + size" in syn
    assert "y_customer ~ aC*x_customer + pPC*x_provider + age_customer + size" in syn
    syn, var, _ = apim_syntax("x", "y", x_items=["i1", "i2"], correlate_item_residuals=False)
    assert "x_provider_lv =~ i1_provider + i2_provider" in syn and "i1_provider ~~ i1_customer" not in syn
    assert var["x"]["customer"] == "x_customer_lv" and var["y"]["provider"] == "y_provider"


def test_apim_covariates_and_errors(paired):
    d = paired.data.copy()
    d["size"] = np.linspace(0, 1, len(d))
    res = apim(d, "x", "y", covariates=["size"])
    pe = res.fit.estimates
    assert ((pe["op"] == "~") & (pe["rhs"] == "size")).sum() == 2
    with pytest.raises(DataError):
        apim(paired, "x", "nope")


# ------------------------------------------------------------------ dyadic measurement invariance (issue 16)
@pytest.mark.parametrize("estimator", ["ML", "MLR"])
def test_dyadic_invariance_matches_lavaan(estimator):
    """Provider-customer measurement equivalence within dyads vs lavaan 0.6-14 (cfa of the same syntax per level,
    lavTestLRT between neighbours): fit measures and difference tests to 1e-6 relative, the latent mean
    difference (estimate, SE) to 1e-5 relative."""
    from vccscale.models.dyadic import dyadic_invariance, dyadic_invariance_syntax, pair_dyads

    ref = load_reference("dyadic/dyadic_invariance_reference.json")[estimator]
    long = pd.read_csv(Path(__file__).parent / "reference" / "dyadic" / "dyads_long.csv")
    paired = pair_dyads(long, "dyad_id", columns=["x1", "x2", "x3"])
    res = dyadic_invariance(paired, ["x1", "x2", "x3"], estimator=estimator)
    t = res.tests.set_index("level")
    for lv, r in ref.items():
        assert dyadic_invariance_syntax(["x1", "x2", "x3"], level=lv) == r["syntax"]  # the model R fitted
        for k, v in r["fit"].items():
            assert t.loc[lv, k] == pytest.approx(v, rel=1e-6, abs=1e-8), (lv, k)
        if "lrt" in r:
            assert t.loc[lv, "chisq_diff"] == pytest.approx(r["lrt"]["chisq_diff"], rel=1e-6, abs=1e-8)
            assert t.loc[lv, "df_diff"] == r["lrt"]["df_diff"]
            assert t.loc[lv, "pvalue_diff"] == pytest.approx(r["lrt"]["pvalue"], rel=1e-6, abs=1e-8)
    m = res.latent_mean_difference
    assert m["est"] == pytest.approx(ref["scalar"]["latent_mean"]["est"], rel=1e-5)
    assert m["se"] == pytest.approx(ref["scalar"]["latent_mean"]["se"], rel=1e-5)
    assert list(t["decision"]) == ["baseline", "not rejected", "not rejected", "not rejected"]
    js = res.to_dict()["tests"]
    assert js[0]["chisq_diff"] is None and js[1]["pvalue_diff"] is not None
    assert ("chisq_scaled" in js[0]) == (estimator == "MLR")


def _dyads_with_missing() -> pd.DataFrame:
    """dyadic_fiml_reference.R's data: dyads_long.csv with answers deleted where (37 row + 11 item) mod 23 < 4
    (1-based) and one side removed from dyads D001-D030."""
    long = pd.read_csv(Path(__file__).parent / "reference" / "dyadic" / "dyads_long.csv")
    r = np.arange(1, len(long) + 1)
    for j, c in enumerate(["x1", "x2", "x3"], 1):
        long.loc[(37 * r + 11 * j) % 23 < 4, c] = np.nan
    gone = ((long["perspective"] == "customer") & long["dyad_id"].isin([f"D{i:03d}" for i in range(1, 21)])) | \
        ((long["perspective"] == "provider") & long["dyad_id"].isin([f"D{i:03d}" for i in range(21, 31)]))
    return long[~gone]


@pytest.mark.parametrize("estimator", ["ML", "MLR"])
def test_dyadic_invariance_fiml_matches_lavaan(estimator):
    """FIML on the pair data, dyads with one side only kept (lavaan missing = "ml", dyadic_fiml_reference.R): the
    chi-squares, difference tests and latent mean difference to 1e-6 relative; SRMR and the MLR scaling factor to
    2e-4, because lavaan's EM for the saturated moments stops at em.h1.tol = 1e-5 and ours runs to 1e-11."""
    from vccscale.models.dyadic import dyadic_invariance, pair_dyads

    ref = load_reference("dyadic/dyadic_fiml_reference.json")
    long = _dyads_with_missing()
    assert int(long[["x1", "x2", "x3"]].isna().sum().sum()) == ref["n_missing_answers"]
    paired = pair_dyads(long, "dyad_id", columns=["x1", "x2", "x3"], keep_unmatched=True)
    assert (paired.report.n_paired, len(paired.data)) == (ref["n_both"], ref["n_dyads"])
    res = dyadic_invariance(paired, ["x1", "x2", "x3"], estimator=estimator, missing="fiml",
                            levels=("configural", "metric", "scalar"))
    assert res.n == ref["n_dyads"]
    t = res.tests.set_index("level")
    for lv, r in ref[estimator].items():
        assert r["n"] == ref["n_dyads"]
        for k, v in r["fit"].items():
            if k not in t.columns:  # lavaan's robust CFI/RMSEA of an ML fit with missing data: not reported
                assert estimator == "ML" and k.endswith(".robust")
                continue
            rel = 2e-4 if k in ("srmr", "chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust") \
                else 1e-6
            assert t.loc[lv, k] == pytest.approx(v, rel=rel, abs=1e-8), (lv, k)
        if "lrt" in r:
            assert t.loc[lv, "chisq_diff"] == pytest.approx(r["lrt"]["chisq_diff"], rel=1e-6, abs=1e-8)
            assert t.loc[lv, "pvalue_diff"] == pytest.approx(r["lrt"]["pvalue"], rel=1e-6, abs=1e-8)
    m, rm = res.latent_mean_difference, ref[estimator]["scalar"]["latent_mean"]
    assert m["est"] == pytest.approx(rm["est"], rel=1e-6) and m["se"] == pytest.approx(rm["se"], rel=1e-6)


def test_dyadic_invariance_rejects_unequal_loadings():
    """Metric invariance is rejected when the customer's loadings differ (simulated: .8/.7/.6 vs .8/.3/.9), and
    the latent means are then not compared."""
    from vccscale.models.dyadic import dyadic_invariance

    rng = np.random.default_rng(4)
    n = 600
    fp = rng.standard_normal(n)
    fc = 0.4 * fp + np.sqrt(1 - 0.16) * rng.standard_normal(n)
    data = {}
    for s, f, lam in (("provider", fp, (0.8, 0.7, 0.6)), ("customer", fc, (0.8, 0.3, 0.9))):
        for j, l in enumerate(lam, 1):
            data[f"x{j}_{s}"] = l * f + 0.5 * rng.standard_normal(n)
    res = dyadic_invariance(pd.DataFrame(data), ["x1", "x2", "x3"], levels=("configural", "metric", "scalar"))
    assert res.tests.set_index("level").loc["metric", "decision"] == "rejected"
    assert res.latent_mean_difference is None and any("not compared" in n for n in res.notes)
    with pytest.raises(DataError, match="x4_provider"):
        dyadic_invariance(pd.DataFrame(data), ["x1", "x4"])
