"""Careless-responding indices (vccscale.clean.indices) against a base-R transcription of careless/psych.

tests/reference/careless_reference.R generated screen_data.csv (60 x 12, 3 factors of 4, missing values, two
straight-liners, five random responders, one empty row) and careless_reference.csv; R is not run here.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.clean import indices as ix
from vccscale.errors import DataError

REF = Path(__file__).resolve().parent / "reference"
NAN = np.nan


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "screen_data.csv")


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return pd.read_csv(REF / "careless_reference.csv")


@pytest.fixture(scope="module")
def py(data) -> dict[str, object]:
    return _python_values(data)


def _python_values(x: pd.DataFrame) -> dict[str, object]:
    blocks = [list(x.columns[i:i + 4]) for i in (0, 4, 8)]
    split = ix.irv(x, split=True, num_split=5)
    out = {
        "longstring": ix.longstring(x),
        "longstring_avg": ix.longstring(x, avg=True),
        "longstring_block": ix.longstring_by_block(x, blocks),
        "irv": ix.irv(x),
        "mahalanobis": ix.mahalanobis_d2(x),
        "mahalanobis_complete": ix.mahalanobis_d2(x, method="complete"),
        "even_odd": ix.even_odd(x, [4, 4, 4]),
        "even_odd_n_pairs": ix.even_odd(x, [4, 4, 4], diag=True)["n_pairs"],
        "person_total": ix.person_total(x),
        "psychsyn": ix.psychsyn(x, 0.60),
        "psychsyn_n_pairs": ix.psychsyn(x, 0.60, diag=True)["n_pairs"],
        "psychant": ix.psychsyn(x, 0.50, anto=True),
        "missing_share": ix.missing_share(x),
    }
    for k in range(1, 6):
        out[f"irv_split5_{k}"] = split[f"irv{k}"]
    return out


COLUMNS = ["longstring", "longstring_avg", "longstring_block", "irv", "irv_split5_1", "irv_split5_2", "irv_split5_3",
           "irv_split5_4", "irv_split5_5", "mahalanobis", "mahalanobis_complete", "even_odd", "even_odd_n_pairs",
           "person_total", "psychsyn", "psychsyn_n_pairs", "psychant", "missing_share"]


def test_reference_files_cover_all_columns(data, ref):
    assert data.shape == (60, 12)
    assert list(ref["row"]) == list(range(1, 61))
    assert set(COLUMNS) <= set(ref.columns)
    assert data.isna().any(axis=None) and data.iloc[59].isna().all()


@pytest.mark.parametrize("column", COLUMNS)
def test_matches_r_reference(py, ref, column):
    got = np.asarray(py[column], dtype=float)
    want = ref[column].to_numpy(dtype=float)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{column}: NA pattern differs from R")
    ok = ~np.isnan(want)
    assert ok.sum() >= 40, column  # the comparison is not vacuous
    np.testing.assert_allclose(got[ok], want[ok], rtol=0, atol=1e-6, err_msg=column)


def test_dataframe_input_keeps_index(data):
    x = data.set_axis([f"r{i}" for i in range(len(data))])
    for result in (ix.longstring(x), ix.irv(x), ix.mahalanobis_d2(x), ix.even_odd(x, [4, 4, 4]), ix.person_total(x),
                   ix.missing_share(x), ix.psychsyn(x)):
        assert isinstance(result, pd.Series) and list(result.index) == list(x.index)
    arr = ix.longstring(data.to_numpy())
    assert isinstance(arr, np.ndarray) and arr.shape == (60,)


# ----------------------------------------------------------------------------------------------------------
# closed forms on tiny hand-made arrays

def test_longstring_na_breaks_runs_like_rle():
    x = np.array([[1, 1, 1, 2, NAN, 2]])
    assert ix.longstring(x)[0] == 3
    assert ix.longstring(x, avg=True)[0] == pytest.approx(6 / 4)          # runs 3, 1, 1, 1
    y = np.array([[2, NAN, NAN, 2, 2, 5], [NAN] * 6, [4] * 6, [1, 2, 3, 4, 5, 6]])
    assert list(ix.longstring(y)) == [2, 1, 6, 1]                           # NA, NA are two runs
    assert list(ix.longstring(y, avg=True)) == pytest.approx([6 / 5, 1, 6, 1])


def test_longstring_by_block_does_not_run_across_blocks():
    x = pd.DataFrame([[1, 1, 1, 1, 1, 1], [1, 2, 3, 3, 3, 1]], columns=list("abcdef"))
    assert list(ix.longstring(x)) == [6, 3]
    assert list(ix.longstring_by_block(x, [["a", "b", "c"], ["d", "e", "f"]])) == [3, 2]
    assert list(ix.longstring_by_block(x.to_numpy(), [[0, 1, 2], [3, 4, 5]])) == [3, 2]
    with pytest.raises(DataError):
        ix.longstring_by_block(x, [["a", "zz"]])


def test_irv_definition_and_na_rules():
    x = np.array([[3, 3, 3, 3], [1, 2, 3, 4], [1, NAN, 3, NAN], [5, NAN, NAN, NAN]])
    got = ix.irv(x)
    assert got[0] == 0
    assert got[1] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert got[2] == pytest.approx(math.sqrt(2))
    assert math.isnan(got[3])                                               # fewer than 2 answers
    strict = ix.irv(x, na_rm=False)
    assert strict[1] == pytest.approx(got[1]) and np.isnan(strict[2:]).all()


def test_irv_split_uses_cut_chunks():
    # cut(1:11, 6, labels = FALSE) in R: 1 1 2 2 3 3 4 5 5 6 6
    assert list(ix._cut_groups(11, 6)) == [1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6]
    assert list(ix._cut_groups(10, 3)) == [1, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    x = np.array([[1, 1, 1, 1, 2, 4, 6, 7, 7, 1.0]])
    s = ix.irv(x, split=True, num_split=3)
    assert list(s.columns) == ["irvTotal", "irv1", "irv2", "irv3"]
    assert s.loc[0, "irv1"] == 0 and s.loc[0, "irv2"] == pytest.approx(2.0)
    assert s.loc[0, "irv3"] == pytest.approx(np.std([7, 7, 1], ddof=1))


def test_d2_of_a_point_at_the_mean_is_zero():
    x = np.array([[0, 0, 0], [1, 2, 0], [-1, -2, 0], [2, 0, 1], [-2, 0, -1], [0, 1, 3], [0, -1, -3.0]])
    d2 = ix.mahalanobis_d2(x)
    assert d2[0] == pytest.approx(0, abs=1e-12)
    assert (d2[1:] > 0).all()
    # over all rows D² sums to (n-1) * p for the sample covariance
    assert d2.sum() == pytest.approx((len(x) - 1) * 3)


def test_d2_two_item_closed_form():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(25, 2)) @ np.array([[1.0, 0.6], [0.0, 0.8]])
    m, s = x.mean(axis=0), x.std(axis=0, ddof=1)
    r = np.corrcoef(x, rowvar=False)[0, 1]
    z = (x - m) / s
    closed = (z[:, 0] ** 2 + z[:, 1] ** 2 - 2 * r * z[:, 0] * z[:, 1]) / (1 - r ** 2)
    np.testing.assert_allclose(ix.mahalanobis_d2(x), closed, rtol=1e-10)
    np.testing.assert_allclose(ix.mahalanobis_d2(x, method="complete"), closed, rtol=1e-10)


def test_d2_incomplete_rows_psych_rule_and_complete_rule():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 3))
    x[0, 2] = NAN
    x[1, :] = NAN
    d2 = ix.mahalanobis_d2(x)
    assert math.isnan(d2[1])                                                 # all-NA row: NA (careless)
    # psych::outlier: pairwise covariance, available-case means, sub-block of the full inverse
    keep = ~np.isnan(x).all(axis=1)
    cov = pd.DataFrame(x[keep]).cov().to_numpy()                           # pandas cov is pairwise-complete too
    inv = np.linalg.inv(cov)
    c = x[0, :2] - np.nanmean(x[keep], axis=0)[:2]
    assert d2[0] == pytest.approx(c @ inv[:2, :2] @ c)
    dc = ix.mahalanobis_d2(x, method="complete")
    assert np.isnan(dc[:2]).all() and not np.isnan(dc[2:]).any()
    with pytest.raises(DataError):
        ix.mahalanobis_d2(x, na_rm=False)


def test_d2_singular_covariance_raises():
    x = np.array([[1, 2, 3.0], [2, 4, 3], [3, 6, 3], [4, 8, 3]])
    with pytest.raises(DataError):
        ix.mahalanobis_d2(x)


def test_mahalanobis_flag_uses_chi2_quantile():
    from scipy.stats import chi2

    cut = chi2.ppf(0.99, 12)
    flags = ix.mahalanobis_flag(np.array([cut - 1e-9, cut + 1e-9, NAN]), df=12)
    assert list(flags) == [False, True, False]
    s = ix.mahalanobis_flag(pd.Series([1.0, 100.0], index=["a", "b"]), df=4, confidence=0.999)
    assert list(s) == [False, True] and list(s.index) == ["a", "b"]


def test_even_odd_sign_spearman_brown_and_na_rules():
    # three factors of 2 items: even half = 2nd item, odd half = 1st item
    consistent = [1, 1, 4, 4, 7, 7]                  # r = 1 -> SB 1 -> -1
    inverse = [1, 7, 4, 4, 7, 1]                     # r = -1 -> SB -inf -> clamped -1 -> +1
    mild = [2, 1, 4, 5, 6, 5]                         # odd (2, 4, 6), even (1, 5, 5)
    x = np.array([consistent, inverse, mild, [4, 4, 4, 4, 4, 4], [1, NAN, 4, 4, 7, 7], [1, NAN, NAN, 4, 7, 6.0]])
    eo = ix.even_odd(x, [2, 2, 2])
    r = np.corrcoef([1, 5, 5], [2, 4, 6])[0, 1]
    assert eo[0] == pytest.approx(-1) and eo[1] == pytest.approx(1)
    assert eo[2] == pytest.approx(-(2 * r / (1 + r)))
    assert math.isnan(eo[3])                                                 # constant half means
    assert eo[4] == pytest.approx(-1)                                        # 2 usable factors: r = +1
    assert math.isnan(eo[5])                                                 # 1 usable factor: NA
    d = ix.even_odd(x, [2, 2, 2], diag=True)
    assert list(d["n_pairs"]) == [3, 3, 3, 3, 2, 1]
    # consistency r_sb in (-1/3, 1): SB value is 2r/(1+r); r <= -1/3 is clamped to -1
    y = np.array([[1, 2, 2, 1, 3, 3, 5, 4]])                                 # 4 factors of 2
    r2 = np.corrcoef([2, 1, 3, 4], [1, 2, 3, 5])[0, 1]
    assert ix.even_odd(y, [2, 2, 2, 2])[0] == pytest.approx(-(2 * r2 / (1 + r2)))
    with pytest.raises(DataError):
        ix.even_odd(x, [6])
    with pytest.raises(DataError):
        ix.even_odd(x, [4, 4])
    with pytest.warns(UserWarning):
        ix.even_odd(x, [2, 2])


def test_person_total_leave_one_out():
    x = np.array([[1, 2, 3, 4], [2, 3, 4, 6], [4, 3, 2, 1], [5, 5, 5, 5], [1, NAN, 3, 5.0]])
    pt = ix.person_total(x)
    for i in range(len(x)):
        loo = np.nanmean(np.delete(x, i, axis=0), axis=0)
        ok = ~np.isnan(x[i])
        if np.ptp(x[i, ok]) == 0:
            assert math.isnan(pt[i])                                         # constant responses
        else:
            assert pt[i] == pytest.approx(np.corrcoef(x[i, ok], loo[ok])[0, 1])
    assert pt[2] < 0 < pt[0]


def test_psychsyn_pairs_and_minimum():
    rng = np.random.default_rng(11)
    f = rng.normal(size=(200, 4))                     # 4 independent factors of 2 items: 4 synonym pairs
    x = np.round(4 + 1.5 * (np.repeat(f, 2, axis=1) + 0.3 * rng.normal(size=(200, 8))))
    syn = ix.psychsyn(x, 0.6, diag=True)
    assert (syn["n_pairs"] == 4).all() and syn["psychsyn"].median() > 0.8
    i = 5                                                                    # the definition, by hand
    assert syn["psychsyn"][i] == pytest.approx(np.corrcoef(x[i, 0::2], x[i, 1::2])[0, 1])
    y = x.copy()
    y[0, 1] = NAN                                                            # 3 complete pairs: computed
    y[1, [1, 3]] = NAN                                                       # 2 complete pairs: NA
    got = ix.psychsyn(y, 0.6, diag=True)
    assert list(got["n_pairs"][:2]) == [3, 2]
    assert got["psychsyn"][0] == pytest.approx(np.corrcoef(y[0, 2::2], y[0, 3::2])[0, 1])
    assert math.isnan(got["psychsyn"][1])
    with pytest.raises(DataError):
        ix.psychsyn(x, 0.6, anto=True)                                       # no antonyms in this data


def test_missing_share():
    x = pd.DataFrame({"a": [1, None, None], "b": [2, 3, None], "c": [pd.NA, 1, None]}, dtype="Float64")
    assert list(ix.missing_share(x)) == pytest.approx([1 / 3, 1 / 3, 1])


def test_non_numeric_input_is_a_data_error():
    with pytest.raises(DataError):
        ix.longstring(pd.DataFrame({"a": ["x", "y"], "b": ["z", "w"]}))
    with pytest.raises(DataError):
        ix.irv(np.array([1.0, 2.0]))
