"""FIML (``missing="fiml"``, lavaan's ``missing = "ml"``) against lavaan 0.6-14.

Fixtures: tests/reference/validate/hs_missing.csv and hs_fiml.json, written by fiml_reference.R.
Tolerance: relative 1e-3 with an absolute floor of 1e-6 (as test_sem_parity.py).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import ModelError
from vccscale.sem import fit_cfa
from reference_data import load_reference, reference_path

REF = Path(__file__).resolve().parent / "reference" / "validate"
RTOL, ATOL = 1e-3, 1e-6
HS_MODEL = " visual =~ x1 + x2 + x3 \n textual =~ x4 + x5 + x6 \n speed =~ x7 + x8 + x9 "
ROBUST = ("cfi.robust", "tli.robust", "rmsea.robust")  # lavaan's FIML-corrected robust measures (issue 14)


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "hs_fiml.json")


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(reference_path(REF / "hs_missing.csv"))


def _close(mine, ref) -> bool:
    if ref is None:
        return mine is None or math.isnan(mine)
    return abs(mine - ref) <= max(RTOL * abs(ref), ATOL)


def _check(res, block, skip=()):
    bad = [(k, res.fit[k], v) for k, v in block["fit_measures"].items()
           if k not in skip and not _close(res.fit[k], v)]
    est = res.estimates
    for r in block["parameter_estimates"]:
        m = est[(est.lhs == r["lhs"]) & (est.op == r["op"]) & (est.rhs == r["rhs"])]
        assert len(m) == 1, (r["lhs"], r["op"], r["rhs"])
        m = m.iloc[0]
        for col, mine in (("est", "est"), ("se", "se"), ("std.all", "std_all")):
            if not _close(float(m[mine]), r[col]):
                bad.append((f"{r['lhs']} {r['op']} {r['rhs']} {col}", float(m[mine]), r[col]))
    assert not bad, f"differs from lavaan: {bad}"


@pytest.mark.parametrize("estimator", ["ML", "MLR"])
def test_fiml_matches_lavaan(ref, data, estimator):
    res = fit_cfa(data, HS_MODEL, estimator=estimator, missing="fiml")
    assert res.nobs == [ref[estimator]["nobs"]] and res.n_dropped == 0
    assert res.missing == "fiml"
    _check(res, ref[estimator])
    if estimator == "MLR":
        assert all(k in ref[estimator]["fit_measures"] and math.isfinite(res.fit[k]) for k in ROBUST)


def test_fiml_alias_ml(data):
    a = fit_cfa(data, HS_MODEL, missing="ml")
    b = fit_cfa(data, HS_MODEL, missing="fiml")
    assert a.fit["chisq"] == b.fit["chisq"]


def test_fiml_complete_data_equals_ml_with_meanstructure():
    hs = pd.read_csv(reference_path(REF / "HolzingerSwineford1939.csv"))
    ml = fit_cfa(hs, HS_MODEL, meanstructure=True)
    fi = fit_cfa(hs, HS_MODEL, missing="fiml")
    assert fi.n_dropped == 0 and fi.nobs == ml.nobs
    np.testing.assert_allclose(fi.estimates["est"], ml.estimates["est"], rtol=1e-6, atol=1e-8)
    # standard errors differ by design: observed information (FIML) vs expected information (listwise ML)
    for k in ("chisq", "df", "logl", "unrestricted.logl", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        assert fi.fit[k] == pytest.approx(ml.fit[k], rel=1e-6, abs=1e-8), k


def test_fiml_drops_rows_with_all_model_variables_missing(ref, data):
    blank = data.iloc[[0, 1]].copy()
    blank[[f"x{i}" for i in range(1, 10)]] = np.nan
    more = pd.concat([data, blank], ignore_index=True)
    res = fit_cfa(more, HS_MODEL, missing="fiml")
    assert res.n_dropped == 2
    assert res.nobs == [ref["ML"]["nobs"]]
    assert res.fit["chisq"] == pytest.approx(ref["ML"]["fit_measures"]["chisq"], rel=1e-3)
    assert "2 dropped" in res.summary()


def test_listwise_default_drops_incomplete_rows(data):
    res = fit_cfa(data, HS_MODEL)
    complete = int(data[[f"x{i}" for i in range(1, 10)]].notna().all(axis=1).sum())
    assert res.missing == "listwise"
    assert res.nobs == [complete] and res.n_dropped == len(data) - complete


def test_fiml_bad_option(data):
    with pytest.raises(ModelError, match="missing must be one of"):
        fit_cfa(data, HS_MODEL, missing="pairwise")
