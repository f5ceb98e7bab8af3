"""vccscale.validate.efa: more psych::fa variants (tests/reference/validate/validate_extra_reference.json, written by
validate_extra_reference.R), rotation properties, parallel analysis and input errors."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from vccscale.errors import DataError
from vccscale.validate import efa, kmo, loading_table, parallel_analysis
from vccscale.validate.efa import rotate
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "validate"


def _names(v) -> list:
    return v if isinstance(v, list) else [v]  # jsonlite unboxes length-1 vectors


def matrix(m: dict) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(m["values"], dtype=float), index=_names(m["rownames"]),
                        columns=_names(m["colnames"]))


def aligned(mine: pd.DataFrame, ref: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``mine`` with columns permuted and signed to best match ``ref`` (Tucker congruence)."""
    a, b = mine.to_numpy(), ref.loc[mine.index].to_numpy()
    cong = (a.T @ b) / np.sqrt(np.outer((a ** 2).sum(0), (b ** 2).sum(0)))
    rows, cols = linear_sum_assignment(-np.abs(cong))
    perm = rows[np.argsort(cols)]
    signs = np.sign(cong[perm, np.arange(len(cols))])
    return mine.iloc[:, perm] * signs, perm, signs


@pytest.fixture(scope="module")
def ref() -> dict:
    return load_reference(REF / "validate_extra_reference.json")


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return pd.read_csv(reference_path(REF / "bfi.csv"))


ITEMS = [f"{t}{i}" for t in "ACENO" for i in range(1, 6)]
CASES = {"minres_varimax": ("minres", "varimax", ITEMS, 5), "minres_geominQ": ("minres", "geomin", ITEMS, 5),
         "minres_geominT": ("minres", "geominT", ITEMS, 5), "minres_quartimin": ("minres", "quartimin", ITEMS, 5),
         "minres_none": ("minres", None, ITEMS, 5), "ml_oblimin": ("ml", "oblimin", ITEMS, 5),
         "ml_promax": ("ml", "promax", ITEMS, 5), "pa_oblimin": ("pa", "oblimin", ITEMS, 5),
         "ml3_NO": ("ml", "oblimin", ITEMS[15:], 3), "minres1_A": ("minres", "oblimin", ITEMS[:5], 1)}


@pytest.mark.parametrize("key", list(CASES))
def test_fa_variants_match_psych(ref, bfi, key):
    method, rotation, items, nf = CASES[key]
    r = ref["fa"][key]
    res = efa(bfi, items, nf, method=method, rotation=rotation)
    lam_ref = matrix(r["loadings"])
    mine, perm, signs = aligned(res.loadings, lam_ref)
    np.testing.assert_array_equal(perm, np.arange(nf))
    np.testing.assert_allclose(mine.to_numpy(), lam_ref.loc[mine.index].to_numpy(), atol=1e-2)
    assert np.abs(mine.to_numpy() - lam_ref.loc[mine.index].to_numpy()).max() < 1e-4  # achieved: <= 1e-5
    np.testing.assert_allclose(res.communalities[items], [r["h2"][c] for c in items], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(res.eigenvalues["reduced"], r["values"], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(res.eigenvalues["observed"], r["e_values"], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(res.complexity[items], [r["complexity"][c] for c in items], rtol=1e-3, atol=1e-6)
    vacc = matrix(r["Vaccounted"])
    np.testing.assert_allclose(res.variance["ss_loadings"].to_numpy(), vacc.loc["SS loadings"].to_numpy(),
                               rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(res.variance["proportion_var"].to_numpy(), vacc.loc["Proportion Var"].to_numpy(),
                               rtol=1e-3, atol=1e-6)
    if r["Phi"] is not None:
        phi = res.phi.to_numpy()[np.ix_(perm, perm)] * np.outer(signs, signs)
        np.testing.assert_allclose(phi, matrix(r["Phi"]).to_numpy(), atol=1e-4)
    np.testing.assert_allclose([res.fit["chisq"], res.fit["tli"], res.fit["rms"]], [r["STATISTIC"], r["TLI"], r["rms"]],
                               rtol=1e-3, atol=1e-6)


def test_fa_sort_order_matches_psych(ref, bfi):
    assert list(efa(bfi, ITEMS, 5).loadings.index) == ref["fa_sort_minres_oblimin"]
    assert list(efa(bfi, ITEMS, 5, sort=False).loadings.index) == ITEMS


def test_parallel_both_observed_and_suggestion(ref, bfi):
    r = ref["fa_parallel_both"]
    pa = parallel_analysis(bfi, ITEMS, n_iter=20, seed=7)
    np.testing.assert_allclose(pa.scree["pc_observed"], r["pc_values"], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(pa.scree["fa_observed"], r["fa_values"], rtol=1e-3, atol=1e-6)
    assert (pa.n_factors, pa.n_components) == (r["nfact"], r["ncomp"])
    np.testing.assert_allclose(pa.scree["pc_simulated"], r["pc_sim"], atol=0.02)
    assert pa.to_dict()["seed"] == 7 and len(pa.to_frame()) == 25


def test_parallel_on_pure_noise_suggests_nothing():
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.standard_normal((400, 8)), columns=[f"v{i}" for i in range(8)])
    pa = parallel_analysis(x, list(x.columns), n_iter=30, seed=1)
    assert pa.n_factors <= 1 and pa.n_components <= 1


# ------------------------------------------------------------------------------------------------ properties
def _two_factor_data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.multivariate_normal([0, 0], [[1, .4], [.4, 1]], n)
    lam = np.array([[.8, 0], [.7, 0], [.6, .1], [.75, 0], [0, .7], [0, .8], [.1, .6], [0, .65]])
    x = f @ lam.T + rng.standard_normal((n, 8)) * np.sqrt(1 - (lam ** 2).sum(1))
    return pd.DataFrame(x, columns=[f"i{k}" for k in range(8)]), lam


@pytest.mark.parametrize("rotation", ["varimax", "promax", "oblimin", "geomin", "geominT", None])
def test_rotation_preserves_communalities_and_model(rotation):
    x, lam_true = _two_factor_data()
    res = efa(x, list(x.columns), 2, rotation=rotation, sort=False)
    lam, phi = res.loadings.to_numpy(), res.phi.to_numpy()
    np.testing.assert_allclose(np.diag(lam @ phi @ lam.T), res.communalities.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(np.diag(phi), 1, atol=1e-10)
    if rotation in ("oblimin", "promax", "geomin"):
        assert 0.25 < phi[0, 1] < 0.55  # true factor correlation .4
        _, perm, _ = aligned(res.loadings, pd.DataFrame(lam_true, index=x.columns))
        assert np.abs(np.abs(lam[:, perm]) - lam_true).max() < 0.12
    else:
        assert phi[0, 1] == 0


def test_rotate_single_factor_is_identity():
    lam = np.array([[.5], [.6], [.7]])
    out, phi, ok = rotate(lam, "oblimin")
    assert np.array_equal(out, lam) and phi is None and ok


def test_loading_table_blanks_small_loadings(bfi):
    res = efa(bfi, ITEMS, 5)
    tab = loading_table(res, cut=0.3)
    lam = res.loadings
    assert ((tab[lam.columns] == "") == (lam.abs() < 0.3)).all().all()
    assert list(tab.columns[-3:]) == ["h2", "u2", "com"]
    assert "EFA: minres" in res.summary()
    assert set(res.to_dict()) >= {"loadings", "phi", "communalities", "variance", "fit"}
    assert list(res.to_frame().columns[-3:]) == ["h2", "u2", "com"]


# ------------------------------------------------------------------------------------------------ errors
def test_errors(bfi):
    with pytest.raises(DataError, match="not in the data"):
        efa(bfi, ["A1", "nope"], 1)
    with pytest.raises(DataError, match="n_factors"):
        efa(bfi, ITEMS[:5], 5)
    with pytest.raises(DataError, match="rotation"):
        efa(bfi, ITEMS, 2, rotation="quartimax-ish")
    with pytest.raises(DataError, match="method"):
        efa(bfi, ITEMS, 2, method="alpha")
    flat = bfi[ITEMS[:4]].copy()
    flat["A1"] = 3
    with pytest.raises(DataError, match="no variance") as e:
        kmo(flat)
    assert e.value.column == "A1"
    text = bfi[ITEMS[:3]].astype("string")
    with pytest.raises(DataError, match="not numeric"):
        kmo(text)
    with pytest.raises(DataError, match="singular"):
        dup = bfi[ITEMS[:3]].dropna().copy()
        dup["copy"] = dup["A1"] + dup["A2"]
        kmo(dup)


def test_underidentified_warns(bfi):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        efa(bfi, ITEMS[:5], 3)
    assert any("not identified" in str(m.message) for m in w)


# ------------------------------------------------------------------------------------------------ fit statistics
# psych::fa on 9 items with ~9% MCAR values (tests/reference/validate/efa_pairwise_reference.R writes the data,
# efa_pairwise.csv, and efa_pairwise_reference.json). psych weights the squared residuals by the pairwise n
# (chi, rms, crms, fit.off, EBIC use the harmonic mean nh of pairwiseCount, here 333.4 against n = 400); an
# unweighted rms was off by up to 7.6e-4. Tolerances: rms and crms 1e-6 absolute (achieved 4e-9), everything else
# 1e-4 relative (achieved: 3e-7 for the ml chi, whose loadings agree with psych's to ~1e-5; 1e-9 for minres).
# psych's RMSEA bounds come from uniroot (tolerance 1.2e-4 in the noncentrality); ours are solved exactly and
# agree to 2e-8 here.
PAIRWISE_CASES = ["minres_1_oblimin", "minres_2_oblimin", "minres_3_oblimin", "minres_3_varimax", "minres_3_promax",
                  "ml_3_oblimin"]
FIT_KEYS = {"chi": "chi", "e_pvalue": "EPVAL", "chisq": "STATISTIC", "pvalue": "PVAL", "tli": "TLI", "bic": "BIC",
            "sabic": "SABIC", "e_bic": "EBIC", "e_sabic": "ESABIC", "fit": "fit", "fit_off": "fit_off",
            "objective": "objective", "null_model": "null_model", "null_dof": "null_dof", "null_chisq": "null_chisq",
            "nh": "nh", "dof": "dof", "n_obs": "n_obs"}


@pytest.fixture(scope="module")
def pairwise_ref() -> dict:
    return json.loads((REF / "efa_pairwise_reference.json").read_text())


@pytest.fixture(scope="module")
def pairwise_data() -> pd.DataFrame:
    return pd.read_csv(REF / "efa_pairwise.csv")


@pytest.mark.parametrize("key", PAIRWISE_CASES)
def test_fit_statistics_with_pairwise_missing_match_psych(pairwise_ref, pairwise_data, key):
    r = pairwise_ref["fa"][key]
    method, nf, rotation = key.split("_")
    res = efa(pairwise_data, list(pairwise_data.columns), int(nf), method=method, rotation=rotation)
    assert res.n_obs == r["n_obs"] == 400 and res.n_rows_without_answers == 0
    assert res.fit["rms"] == pytest.approx(r["rms"], abs=1e-6)
    assert res.fit["crms"] == pytest.approx(r["crms"], abs=1e-6)
    for mine, theirs in FIT_KEYS.items():
        assert res.fit[mine] == pytest.approx(r[theirs], rel=1e-4, abs=1e-12), mine
    rm = r["RMSEA"]
    assert res.fit["rmsea"] == pytest.approx(rm["RMSEA"], rel=1e-4)
    assert res.fit["rmsea_lower"] == pytest.approx(rm["lower"], rel=1e-4, abs=1e-8)
    assert res.fit["rmsea_upper"] == pytest.approx(rm["upper"], rel=1e-4)
    assert res.fit["rmsea_confidence"] == pytest.approx(rm["confidence"])
    assert res.fit["rmsea_lower"] <= res.fit["rmsea"] <= res.fit["rmsea_upper"]


def test_pairwise_counts_and_weighting(pairwise_ref, pairwise_data):
    """nh is the harmonic mean of psych's pairwiseCount; with complete data the weighting changes nothing."""
    np_obs = matrix(pairwise_ref["fa"]["minres_1_oblimin"]["np_obs"]).to_numpy()
    a = pairwise_data.notna().to_numpy(dtype=float)
    np.testing.assert_array_equal(a.T @ a, np_obs)
    assert pairwise_ref["fa"]["minres_1_oblimin"]["nh"] == pytest.approx(1 / np.mean(1 / np_obs), rel=1e-12)
    full = pairwise_data.dropna()
    res = efa(full, list(full.columns), 2)
    resid = res.loadings @ res.phi @ res.loadings.T
    off = (full.corr() - resid.loc[full.columns, full.columns]).to_numpy().copy()
    np.fill_diagonal(off, 0)
    assert res.fit["nh"] == pytest.approx(len(full), rel=1e-14)
    assert res.fit["rms"] == pytest.approx(np.sqrt((off ** 2).sum() / (9 * 8)), abs=1e-12)
    assert res.fit["chi"] == pytest.approx((off ** 2).sum() * len(full), rel=1e-12)
