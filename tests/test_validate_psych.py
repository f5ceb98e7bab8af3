"""vccscale.validate against R psych 2.2.9 on the 25 bfi items (tests/reference/validate/bfi_psych.json, written by
make_reference.R). Tolerances: 1e-3 relative with an absolute floor of 1e-6 for alpha, omega, KMO, Bartlett and
item statistics; 1e-2 for EFA loadings after matching factor order and sign (achieved: about 1e-12)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from vccscale.validate import (
    ReverseKeyWarning,
    bartlett,
    cronbach_alpha,
    efa,
    item_analysis,
    kmo,
    omega,
    parallel_analysis,
)
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "validate"
RTOL, ATOL = 1e-3, 1e-6


def close(actual, desired, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(desired, dtype=float), rtol=rtol, atol=atol)


def matrix(m: dict) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(m["values"], dtype=float), index=m["rownames"], columns=m["colnames"])


def match_factors(mine: pd.DataFrame, ref: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Column permutation and signs that align ``mine`` to ``ref`` (Tucker congruence, Hungarian assignment)."""
    a, b = mine.to_numpy(), ref.loc[mine.index].to_numpy()
    cong = (a.T @ b) / np.sqrt(np.outer((a ** 2).sum(0), (b ** 2).sum(0)))
    rows, cols = linear_sum_assignment(-np.abs(cong))
    perm = rows[np.argsort(cols)]
    signs = np.sign(cong[perm, np.arange(len(cols))])
    return perm, signs


@pytest.fixture(scope="module")
def ref() -> dict:
    return load_reference(REF / "bfi_psych.json")


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return pd.read_csv(reference_path(REF / "bfi.csv"))


@pytest.fixture(scope="module")
def items(ref) -> list[str]:
    return ref["items"]


# ------------------------------------------------------------------------------------------------ alpha
@pytest.mark.parametrize("scale, cols", [("alpha_A", slice(0, 5)), ("alpha_C", slice(5, 10))])
def test_alpha_check_keys_matches_psych(ref, bfi, items, scale, cols):
    r = ref[scale]
    with pytest.warns(ReverseKeyWarning):
        a = cronbach_alpha(bfi, items[cols], check_keys=True)
    t = r["total"]
    close([a.alpha, a.std_alpha, a.g6, a.average_r, a.s_n, a.ase, a.mean, a.sd, a.median_r],
          [t["raw_alpha"], t["std.alpha"], t["G6(smc)"], t["average_r"], t["S/N"], t["ase"], t["mean"], t["sd"],
           t["median_r"]])
    close([a.ci_lower, a.ci_upper], [r["feldt"]["lower"], r["feldt"]["upper"]])
    close([a.ci_lower, a.ci_upper], [r["alpha_ci"]["lower"], r["alpha_ci"]["upper"]])
    rev = r["reversed"] if isinstance(r["reversed"], list) else [r["reversed"]]
    assert list(a.reversed_items) == rev
    drop = pd.DataFrame(r["alpha_drop"]).set_index("item")
    st = pd.DataFrame(r["item_stats"]).set_index("item")
    tab = a.items
    for mine, theirs in [("alpha_if_deleted", "raw_alpha"), ("std_alpha_if_deleted", "std.alpha"),
                         ("g6_if_deleted", "G6(smc)"), ("average_r_if_deleted", "average_r"),
                         ("s_n_if_deleted", "S/N"), ("alpha_se_if_deleted", "alpha se"),
                         ("var_r_if_deleted", "var.r"), ("median_r_if_deleted", "med.r")]:
        close(tab[mine], drop[theirs])
    for mine, theirs in [("raw_r", "raw.r"), ("std_r", "std.r"), ("r_cor", "r.cor"), ("r_drop", "r.drop"),
                         ("mean", "mean"), ("sd", "sd"), ("n", "n")]:
        close(tab[mine], st[theirs])
    assert a.n_obs == r["n_obs"]


def test_alpha_without_check_keys_warns_and_keeps_items(bfi, items):
    with pytest.warns(ReverseKeyWarning, match="A1"):
        a = cronbach_alpha(bfi, items[:5])
    assert a.negative_items == ("A1",) and a.reversed_items == ()
    assert not a.items["reversed"].any()


# ------------------------------------------------------------------------------------------------ omega
@pytest.mark.parametrize("nf", [1, 3])
def test_omega_matches_psych(ref, bfi, items, nf):
    r = ref["omega_C"][f"nfactors_{nf}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        o = omega(bfi, items[5:10], n_factors=nf)
    close([o.omega_total, o.omega_hierarchical, o.details["omega_limit"], o.details["alpha"], o.details["g6"]],
          [r["omega_tot"], r["omega_h"], r["omega_lim"], r["alpha"], r["G6"]])
    close(o.loadings["g"], r["g_loadings"])
    flipped = [c for c, k in zip(items[5:10], r["key"]) if k < 0]
    assert o.details["flipped_items"] == flipped


# ------------------------------------------------------------------------------------------------ KMO, Bartlett
def test_kmo_matches_psych(ref, bfi, items):
    k = kmo(bfi, items)
    close(k.msa, ref["kmo"]["MSA"])
    close(k.msa_items, [ref["kmo"]["MSAi"][c] for c in items])
    assert k.to_frame().loc["overall", "msa"] == pytest.approx(k.msa)


def test_bartlett_matches_psych(ref, bfi, items):
    b = bartlett(bfi, items)
    r = ref["bartlett"]["n_nrow"]
    assert (b.n, b.df) == (r["n"], r["df"])
    close(b.chisq, r["chisq"])
    close(b.pvalue, r["p.value"])
    b2 = bartlett(bfi, items, n=ref["bartlett"]["n_complete"]["n"])
    close(b2.chisq, ref["bartlett"]["n_complete"]["chisq"])


# ------------------------------------------------------------------------------------------------ EFA
@pytest.mark.parametrize("key, method, rotation", [("fa_minres_oblimin", "minres", "oblimin"),
                                                   ("fa_ml_varimax", "ml", "varimax"),
                                                   ("fa_pa_promax", "principal", "promax")])
def test_efa_matches_psych_fa(ref, bfi, items, key, method, rotation):
    r = ref[key]
    res = efa(bfi, items, 5, method=method, rotation=rotation)
    lam_ref = matrix(r["loadings"])
    perm, signs = match_factors(res.loadings, lam_ref)
    np.testing.assert_array_equal(perm, np.arange(5))  # same order as psych (by variance accounted for)
    mine = res.loadings.iloc[:, perm] * signs
    np.testing.assert_allclose(mine.to_numpy(), lam_ref.loc[mine.index].to_numpy(), atol=1e-2)
    assert np.abs(mine.to_numpy() - lam_ref.loc[mine.index].to_numpy()).max() < 1e-6  # what is achieved
    close(res.communalities[items], [r["h2"][c] for c in items])
    close(res.uniquenesses[items], [r["u2"][c] for c in items])
    # the fixture's ss_loadings are colSums(L^2) of the pattern (psych's Vaccounted uses diag(Phi L'L) when
    # oblique; that table is checked in test_validate_efa.py)
    close((mine ** 2).sum().to_numpy(), list(r["ss_loadings"].values()))
    if "Phi" in r and r["Phi"] is not None and rotation != "varimax":
        phi = res.phi.to_numpy()[np.ix_(perm, perm)] * np.outer(signs, signs)
        np.testing.assert_allclose(phi, matrix(r["Phi"]).to_numpy(), atol=1e-6)
    else:
        np.testing.assert_allclose(res.phi.to_numpy(), np.eye(5))
    close([res.fit["objective"], res.fit["chisq"], res.fit["dof"], res.fit["tli"], res.fit["rmsea"], res.fit["bic"]],
          [r["objective"], r["STATISTIC"], r["dof"], r["TLI"], r["RMSEA"]["RMSEA"], r["BIC"]])


def test_parallel_analysis_matches_psych(ref, bfi, items):
    r = ref["fa_parallel"]
    pa = parallel_analysis(bfi, items, n_iter=20, seed=1)
    close(pa.scree["fa_observed"], r["fa_values"])
    assert pa.n_factors == r["nfact"] == 6
    # simulated eigenvalues differ from R's only by simulation error (R's resampled means include two
    # degenerate minres fits near 1.0 in 20 draws, so they are not compared)
    np.testing.assert_allclose(pa.scree["fa_simulated"], r["fa_sim"], atol=0.02)
    again = parallel_analysis(bfi, items, n_iter=20, seed=1)
    pd.testing.assert_frame_equal(pa.scree, again.scree)


# ------------------------------------------------------------------------------------------------ describe
def test_item_analysis_matches_describe_and_alpha(ref, bfi, items):
    d = pd.DataFrame(ref["describe"]).set_index("item")
    ia = item_analysis(bfi, items[15:20])  # the N scale needs no reversing
    tab = ia.items
    for col in ["n", "mean", "sd", "median", "min", "max", "skew", "kurtosis", "se"]:
        close(tab[col], d.loc[tab.index, col])
    a = cronbach_alpha(bfi, items[15:20])
    close(tab["r_drop"], a.items["r_drop"])
    close(tab["alpha_if_deleted"], a.items["alpha_if_deleted"])
    close(ia.alpha, a.alpha)
