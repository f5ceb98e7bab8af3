"""FIML with random covariates (lavaan missing = "ml", fixed.x = FALSE; used by hypothesis models with formative
items or observed controls) and complete-case fixed.x = FALSE, against lavaan 0.6-14
(tests/reference/sem/fiml_fixedx_reference.R)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vccscale.errors import ModelError
from vccscale.sem import fit_sem
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference" / "sem"
MODEL = "f =~ x7 + x8 + x9\n f ~ x1 + x4"


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "fiml_fixedx_reference.json")


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(reference_path(REF / "hs_na.csv"))


def _check(fit, r):
    for k in ("chisq", "df", "npar", "logl", "cfi", "tli", "rmsea", "srmr", "baseline.chisq", "aic", "bic"):
        assert fit.fit[k] == pytest.approx(r["fit"][k][0], rel=1e-4, abs=1e-6), k
    est = fit.estimates.set_index(["lhs", "op", "rhs"])
    for row in r["estimates"]:
        key = (row["lhs"], row["op"], row["rhs"])
        if key not in est.index:  # lavaan lists x1 ~~ x4 as one row; the order may differ
            key = (row["rhs"], row["op"], row["lhs"])
        assert float(est.loc[key, "est"]) == pytest.approx(row["est"], rel=1e-3, abs=1e-4), key
        assert float(est.loc[key, "se"]) == pytest.approx(row["se"], rel=2e-3, abs=1e-4), key


def test_fiml_with_random_covariates_matches_lavaan(data, ref):
    _check(fit_sem(data, MODEL, missing="fiml", fixed_x=False), ref["fiml"])


def test_complete_cases_fixed_x_false_matches_lavaan(data, ref):
    _check(fit_sem(data.dropna(), MODEL, fixed_x=False), ref["complete"])


def test_fiml_with_fixed_covariates_deletes_their_missing_cases_as_lavaan(ref):
    d = pd.read_csv(reference_path(REF / "hs_na2.csv"))
    fit = fit_sem(d, MODEL, missing="fiml")
    assert fit.nobs == [ref["fiml_fixed"]["nobs"][0]] and any("deleted" in w for w in fit.warnings)
    assert fit.problems == ()  # a note, not an improper solution
    _check(fit, ref["fiml_fixed"])


def test_covariate_covariance_fixed_by_the_model_stays_fixed_in_the_baseline(data, ref):
    """x1 ~~ 0*x4 with random covariates (how vccscale fixes covariates no respondent answered together): the
    baseline (independence) model keeps it fixed, as lavaan (baseline df 1 higher), so CFI/TLI match; with it free
    the baseline of a never-jointly-observed pair is not identified and did not converge."""
    fit = fit_sem(data, MODEL + "\n x1 ~~ 0*x4", missing="fiml", fixed_x=False)
    _check(fit, ref["fixed_cov"])
    assert fit.fit["baseline.df"] == ref["fixed_cov"]["baseline_df"][0]
