"""vccscale.validate.validity: HTMT against semTools 0.5-6 (hs_cfa_ml.json, validate_extra_reference.json),
Fornell-Larcker, cross-loadings, Harman's test (psych::principal) and the CLF hook."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import DataError, ModelError
from vccscale.validate import (
    common_latent_factor,
    cross_loadings,
    fornell_larcker,
    harman_single_factor,
    htmt,
)
from vccscale.validate.validity import clf_syntax
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "validate"
ITEMS = [f"{t}{i}" for t in "ACENO" for i in range(1, 6)]
HS_BLOCKS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}


def close(actual, desired, rtol=1e-3, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(desired, dtype=float), rtol=rtol, atol=atol)


def load(name: str) -> dict:
    return load_reference(REF / name)


def matrix(m: dict) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(m["values"], dtype=float), index=m["rownames"], columns=m["colnames"])


@pytest.fixture(scope="module")
def hs_ref() -> dict:
    return load("hs_cfa_ml.json")


@pytest.fixture(scope="module")
def extra() -> dict:
    return load("validate_extra_reference.json")


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(reference_path(REF / "HolzingerSwineford1939.csv"))


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return pd.read_csv(reference_path(REF / "bfi.csv"))


# ------------------------------------------------------------------------------------------------ HTMT
def test_htmt_matches_semtools_hs(hs_ref, hs):
    assert hs_ref["htmt"]["default_htmt2"] is True
    h2 = htmt(hs, HS_BLOCKS)  # default = htmt2, as semTools 0.5-6
    assert h2.variant == "htmt2"
    close(h2.matrix, matrix(hs_ref["htmt"]["htmt2_true"]))
    close(htmt(hs, HS_BLOCKS, variant="htmt").matrix, matrix(hs_ref["htmt"]["htmt2_false"]))


@pytest.mark.parametrize("fixture, blocks", [
    ("htmt_bfi", {"A": ["A2", "A3", "A4", "A5"], "C": ["C1", "C2", "C3"], "E": ["E3", "E4", "E5"],
                  "N": ["N1", "N2", "N3", "N4", "N5"]}),
    ("htmt_signs", {"A": ["A1", "A2", "A3"], "C": ["C1", "C4", "C5"]})])
def test_htmt_matches_semtools_bfi_listwise(extra, bfi, fixture, blocks):
    r = extra[fixture]
    close(htmt(bfi, blocks).matrix, matrix(r["htmt2"]))
    close(htmt(bfi, blocks, "htmt").matrix, matrix(r["htmt"]))
    close(htmt(bfi, blocks, "htmt", absolute=False).matrix, matrix(r["htmt_signed"]))


def test_htmt_closed_form_two_blocks():
    rng = np.random.default_rng(5)
    f = rng.multivariate_normal([0, 0], [[1, .5], [.5, 1]], 400)
    x = pd.DataFrame(np.column_stack([f[:, [0]] + rng.normal(size=(400, 2)), f[:, [1]] + rng.normal(size=(400, 2))]),
                     columns=["a1", "a2", "b1", "b2"])
    r = x.corr().to_numpy()
    expect = np.mean(np.abs(r[:2, 2:])) / np.sqrt(abs(r[0, 1]) * abs(r[2, 3]))
    h = htmt(x, {"a": ["a1", "a2"], "b": ["b1", "b2"]}, "htmt")
    assert h.matrix.loc["a", "b"] == pytest.approx(expect, rel=1e-12)
    geo = np.exp(np.mean(np.log(np.abs(r[:2, 2:])))) / np.sqrt(abs(r[0, 1]) * abs(r[2, 3]))
    assert htmt(x, {"a": ["a1", "a2"], "b": ["b1", "b2"]}).matrix.loc["a", "b"] == pytest.approx(geo, rel=1e-12)


def test_htmt_bootstrap_reproducible(hs):
    a = htmt(hs, HS_BLOCKS, n_boot=200, seed=11)
    b = htmt(hs, HS_BLOCKS, n_boot=200, seed=11)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    t = a.to_frame()
    assert list(t.columns) == ["factor_a", "factor_b", "htmt", "ci_lower", "ci_upper"] and len(t) == 3
    assert ((t.ci_lower < t.htmt) & (t.htmt < t.ci_upper)).all()
    assert a.n_boot == 200 and a.n_boot_failed == 0 and a.to_dict()["seed"] == 11
    c = htmt(hs, HS_BLOCKS, n_boot=200, seed=12)
    assert not np.allclose(c.ci_lower.to_numpy(), a.ci_lower.to_numpy())
    assert "ci_lower" not in htmt(hs, HS_BLOCKS).to_frame()


def test_htmt_errors(hs):
    with pytest.raises(DataError, match="variant"):
        htmt(hs, HS_BLOCKS, variant="htmt3")
    with pytest.raises(DataError, match="two factors"):
        htmt(hs, {"visual": ["x1", "x2", "x3"]})
    with pytest.raises(DataError, match="two factors") as e:  # item listed twice
        htmt(hs, {"a": ["x1", "x2"], "b": ["x2", "x3"]})
    assert e.value.column == "x2"
    one = htmt(hs, {"a": ["x1"], "b": ["x2", "x3"]})  # single-item block: undefined, as semTools
    assert np.isnan(one.matrix.loc["a", "b"])


# ------------------------------------------------------------------------------------------ HTMT with missing data
BFI4 = {"A": ["A2", "A3", "A4", "A5"], "C": ["C1", "C2", "C3"], "E": ["E3", "E4", "E5"], "N": ["N1", "N2", "N3"]}


@pytest.fixture(scope="module")
def fiml_ref() -> dict:
    return load("htmt_fiml_reference.json")


def _sparse_bfi(bfi: pd.DataFrame) -> pd.DataFrame:
    """htmt_fiml_reference.R's bfi_sparse: rows 1-150 of the 13 items, answers deleted where
    (37 row + 11 column) mod 23 < 5 (1-based): 22% missing, 11 complete rows."""
    items = [i for its in BFI4.values() for i in its]
    x = bfi.loc[:149, items].copy()
    r = np.arange(1, 151)
    for j, c in enumerate(items, 1):
        x.loc[(37 * r + 11 * j) % 23 < 5, c] = np.nan
    return x


@pytest.fixture(scope="module")
def fiml_data(hs, bfi) -> dict:
    hs_missing = pd.read_csv(reference_path(REF / "hs_missing.csv"))
    return {"hs_missing": (hs_missing, HS_BLOCKS), "bfi": (bfi, BFI4), "bfi_sparse": (_sparse_bfi(bfi), BFI4)}


@pytest.mark.parametrize("case", ["hs_missing", "bfi", "bfi_sparse"])
def test_htmt_fiml_matches_semtools_missing_ml(fiml_ref, fiml_data, case):
    """semTools::htmt(model, data, missing = "ml") = HTMT of lavCor's saturated ML correlations. Against lavCor
    with its EM run to em.h1.tol = 1e-12: 1e-8 (both estimates converged); against semTools' own call (lavaan's
    default em.h1.tol = 1e-5, so its values sit up to ~1e-4 from the ML estimates): 2e-4."""
    ref = fiml_ref[case]
    data, blocks = fiml_data[case]
    assert ref["n_complete"] == len(data[[i for b in blocks.values() for i in b]].dropna())
    for variant, key in (("htmt2", "htmt2_ml"), ("htmt", "htmt_ml")):
        h = htmt(data, blocks, variant, missing="fiml")
        assert h.missing == "fiml" and h.n_obs == ref["n_used_ml"]
        close(h.matrix, matrix(ref[key + "_tight"]), rtol=0, atol=1e-8)
        close(h.matrix, matrix(ref[key]), rtol=0, atol=2e-4)
    pd.testing.assert_frame_equal(htmt(data, blocks, missing="ml").matrix, htmt(data, blocks, missing="fiml").matrix)


def test_htmt_listwise_with_missing_data_matches_semtools(fiml_ref, fiml_data):
    data, blocks = fiml_data["hs_missing"]
    h = htmt(data, blocks)
    assert h.missing == "listwise" and h.n_obs == fiml_ref["hs_missing"]["n_complete"] == 91
    close(h.matrix, matrix(fiml_ref["hs_missing"]["htmt2_listwise"]), rtol=0, atol=1e-12)
    # listwise rests on 91 of 301 rows here and is far from the FIML value (semTools gives the same pair)
    fiml = htmt(data, blocks, missing="fiml").matrix
    assert abs(h.matrix.loc["visual", "textual"] - fiml.loc["visual", "textual"]) > .2


def test_htmt_listwise_refuses_fewer_complete_rows_than_items(fiml_ref, fiml_data):
    """11 complete rows for 13 items: lavCor (so semTools' htmt) stops ("not positive-definite"); so does htmt,
    with the counts and the way out, and without a numpy warning."""
    import warnings

    assert "not positive-definite" in fiml_ref["bfi_sparse"]["htmt2_listwise"]
    data, blocks = fiml_data["bfi_sparse"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"11 of 150 rows answered all 13 items.*missing = 'fiml'"):
            htmt(data, blocks)
        assert np.isfinite(htmt(data, blocks, missing="fiml").matrix.to_numpy()).all()


def test_htmt_undefined_correlations_are_named():
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(60, 4)), columns=["a1", "a2", "b1", "b2"])
    blocks = {"a": ["a1", "a2"], "b": ["b1", "b2"]}
    apart = x.copy()  # a1 asked of rows 0-29 only, b2 of rows 30-59 only
    apart.loc[30:, "a1"] = np.nan
    apart.loc[:29, "b2"] = np.nan
    with pytest.raises(DataError, match="no respondent answered both 'a1' and 'b2'") as e:
        htmt(apart, blocks, missing="fiml")
    assert e.value.column == "a1"
    flat = x.copy()  # b2 varies only on the rows that skipped a2
    flat["b2"] = 1.0
    flat.loc[:9, "b2"] = 2.0
    flat.loc[:9, "a2"] = np.nan
    with pytest.raises(DataError, match="'b2' has the same answer in all 50 complete rows") as e:
        htmt(flat, blocks)
    assert e.value.column == "b2"
    assert np.isfinite(htmt(flat, blocks, missing="fiml").matrix.loc["a", "b"])
    with pytest.raises(DataError, match="unknown missing-data treatment"):
        htmt(x, blocks, missing="pairwise")


def test_htmt_fiml_bootstrap_reproducible(fiml_data):
    data, blocks = fiml_data["hs_missing"]
    a = htmt(data, blocks, missing="fiml", n_boot=40, seed=5)
    b = htmt(data, blocks, missing="fiml", n_boot=40, seed=5)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    t = a.to_frame()
    assert ((t.ci_lower < t.htmt) & (t.htmt < t.ci_upper)).all() and a.n_boot_failed == 0
    assert a.to_dict()["missing"] == "fiml"


@pytest.mark.slow  # 2 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_htmt_pairs_on_workers_equal_serial():
    """From PARALLEL_MIN_PAIRS pairs on, htmt_pairs computes the pairs on n_jobs workers: the same table to the
    last bit as in this process, with FIML and listwise, notes, and the bootstrap CIs (drawn in this process, one
    generator, pairs in order)."""
    from vccscale.validate.validity import PARALLEL_MIN_PAIRS, htmt_pairs

    rng = np.random.default_rng(8)
    k, n = 15, 120
    eta = rng.multivariate_normal(np.zeros(k), np.full((k, k), 0.3) + 0.7 * np.eye(k), size=n)
    cols = {f"c{j}_{i}": 0.7 * eta[:, j] + rng.normal(0, 0.7, n) for j in range(k) for i in range(3)}
    data = pd.DataFrame(cols).mask(rng.random((n, 3 * k)) < 0.08)
    data.loc[:59, ["c0_0", "c0_1", "c0_2"]] = np.nan  # c0 and c1 asked of different respondents
    data.loc[60:, ["c1_0", "c1_1", "c1_2"]] = np.nan
    blocks = {f"c{j}": [f"c{j}_{i}" for i in range(3)] for j in range(k)}
    for missing, n_boot in (("fiml", 0), ("listwise", 3)):
        serial = htmt_pairs(data, blocks, missing=missing, n_boot=n_boot, seed=3)
        assert len(serial) == 105 >= PARALLEL_MIN_PAIRS and (serial["note"] != "").any()
        par = htmt_pairs(data, blocks, missing=missing, n_boot=n_boot, seed=3, n_jobs=2)
        pd.testing.assert_frame_equal(par, serial, check_exact=True)


def test_htmt_pairs_missing_treatments(fiml_data):
    """Each pair on its own rows: listwise the rows that answered every item of both, FIML the rows that answered
    one; each equals htmt() on that pair's items. Undefined pairs get NaN and the reason in ``note``."""
    from vccscale.validate.validity import htmt_pairs

    data, blocks = fiml_data["bfi_sparse"]
    for missing in ("listwise", "fiml"):
        t = htmt_pairs(data, blocks, missing=missing)
        assert list(t.columns) == ["a", "b", "htmt", "n", "note"] and (t["note"] == "").all()
        for row in t.itertuples():
            h = htmt(data, {row.a: blocks[row.a], row.b: blocks[row.b]}, missing=missing)
            assert row.htmt == pytest.approx(h.matrix.loc[row.a, row.b], abs=1e-12) and row.n == h.n_obs
    # respondent versions: A and C asked of different respondents; N's N3 constant among the complete rows
    v = data.copy()
    v.loc[:74, blocks["C"]] = np.nan
    v.loc[75:, blocks["A"]] = np.nan
    t = htmt_pairs(v, blocks, missing="fiml").set_index(["a", "b"])
    assert np.isnan(t.loc[("A", "C"), "htmt"]) and t.loc[("A", "C"), "n"] == 0
    assert t.loc[("A", "C"), "note"] == "no respondent answered both constructs"
    assert np.isfinite(t.drop(("A", "C"))["htmt"]).all()
    v.loc[0, "C1"] = 3.0  # one respondent answered items of both constructs: the item pairs are named
    t = htmt_pairs(v, blocks, missing="fiml").set_index(["a", "b"])
    assert t.loc[("A", "C"), "note"].startswith("no respondent answered both 'A")
    assert t.loc[("A", "C"), "note"].endswith("so their covariance is not estimable under FIML")
    lw = htmt_pairs(v, blocks).set_index(["a", "b"])
    assert lw.loc[("A", "C"), "n"] == 0
    assert lw.loc[("A", "C"), "note"].startswith("no respondent answered every item of both constructs (1 answered")
    v.loc[0, "C1"] = np.nan   # nobody answered both again: the same words under listwise as under FIML
    lw = htmt_pairs(v, blocks).set_index(["a", "b"])
    assert lw.loc[("A", "C"), "note"] == "no respondent answered both constructs"


# ------------------------------------------------------------------------------------------------ Fornell-Larcker
def test_fornell_larcker_with_semtools_ave(hs_ref):
    cor = matrix(hs_ref["cor_lv"])
    fl = fornell_larcker(hs_ref["ave"], cor)
    close(np.diag(fl.table), np.sqrt([hs_ref["ave"][f] for f in cor.index]))
    off = ~np.eye(3, dtype=bool)
    close(fl.table.to_numpy()[off], cor.to_numpy()[off])
    assert fl.passed.all()
    bad = fornell_larcker({"visual": 0.2, "textual": 0.72, "speed": 0.42}, cor)
    assert not bad.passed["visual"] and bad.passed["textual"]
    assert bad.max_correlation["visual"] == pytest.approx(cor.loc["visual", "speed"])
    assert set(fl.to_dict()) == {"table", "passed", "max_correlation"} and fl.to_frame() is fl.table
    with pytest.raises(DataError, match="no AVE"):
        fornell_larcker({"visual": .4}, cor)


# ------------------------------------------------------------------------------------------------ cross-loadings
def test_cross_loadings(hs):
    cl = cross_loadings(hs, HS_BLOCKS)
    assert list(cl.columns) == ["visual", "textual", "speed", "factor", "own_highest"]
    score = hs[["x4", "x5", "x6"]].mean(axis=1)
    assert cl.loc["x1", "textual"] == pytest.approx(np.corrcoef(hs["x1"], score)[0, 1], rel=1e-12)
    assert cl["own_highest"].all()
    cc = cross_loadings(hs, HS_BLOCKS, corrected=True)
    assert cc.loc["x1", "visual"] == pytest.approx(np.corrcoef(hs["x1"], hs[["x2", "x3"]].mean(axis=1))[0, 1])
    assert (cc.loc["x1", "visual"] < cl.loc["x1", "visual"]) and cc.loc["x1", "speed"] == cl.loc["x1", "speed"]


# ------------------------------------------------------------------------------------------------ Harman
def test_harman_matches_psych(extra, bfi):
    h = harman_single_factor(bfi, ITEMS)
    close(h.share, extra["harman"]["pca"])
    assert h.method == "pca" and not h.flagged and h.n_items == 25
    close(harman_single_factor(bfi, ITEMS, method="minres").share, extra["harman"]["minres"])
    rng = np.random.default_rng(0)
    common = rng.normal(size=(300, 1))
    x = pd.DataFrame(common + 0.5 * rng.normal(size=(300, 6)), columns=list("abcdef"))
    assert harman_single_factor(x, list(x.columns)).flagged
    assert harman_single_factor(x, list(x.columns)).to_frame().loc["harman", "flagged"]


# ------------------------------------------------------------------------------------------------ CLF hook
def test_clf_with_fake_engine(hs):
    base, clf = clf_syntax(HS_BLOCKS)
    assert base.splitlines()[0] == "visual =~ x1 + x2 + x3"
    assert "CMV =~ 1*x1 + 1*x2 + 1*x3 + 1*x4 + 1*x5 + 1*x6 + 1*x7 + 1*x8 + 1*x9" in clf and "CMV ~~ 0*speed" in clf
    assert "CMV =~ x1 + x2 + x3 + x4" in clf_syntax(HS_BLOCKS, equal_loadings=False)[1]
    assert clf_syntax(HS_BLOCKS, marker=["m1"])[1].count("1*m1") == 1
    seen = []

    def fake(syntax: str, data: pd.DataFrame) -> pd.DataFrame:
        seen.append(syntax)
        with_cmv = "CMV" in syntax
        rows = [{"lhs": f, "op": "=~", "rhs": i, "std_all": 0.7 - (0.3 if with_cmv and i == "x1" else 0.05 * with_cmv)}
                for f, its in HS_BLOCKS.items() for i in its]
        if with_cmv:
            rows += [{"lhs": "CMV", "op": "=~", "rhs": i, "std_all": 0.2} for its in HS_BLOCKS.values() for i in its]
        return pd.DataFrame(rows)

    out = common_latent_factor(hs, HS_BLOCKS, fit_cfa=fake)
    assert seen == [base, clf]
    assert out.loc["x1", "flagged"] and not out.loc["x2", "flagged"]
    assert out.loc["x2", "delta"] == pytest.approx(0.05)
    assert out.attrs["method_variance"] == pytest.approx(0.04)
    with pytest.raises(ModelError, match="columns"):
        common_latent_factor(hs, HS_BLOCKS, fit_cfa=lambda s, d: pd.DataFrame({"lhs": []}))


def test_clf_with_vccscale_sem_matches_lavaan(extra, bfi):
    pytest.importorskip("vccscale.sem")
    r = extra["clf_bfi"]
    blocks = {"A": ["A2", "A3", "A4", "A5"], "C": ["C1", "C2", "C3"], "E": ["E3", "E4", "E5"],
              "N": ["N1", "N2", "N3", "N4", "N5"]}
    out = common_latent_factor(bfi, blocks)  # default engine: vccscale.sem.fit_cfa
    assert list(out.index) == r["item"]
    close(out["std_loading"], r["std_base"])
    close(out["std_loading_clf"], r["std_clf"])
    close(out["method_loading"], r["std_cmv"])
    assert not out["flagged"].any()
