"""Satorra & Bentler's (2010) strictly positive scaled difference test against lavaan 0.6-14
(tests/reference/sem/sb2010_reference.R: lavTestLRT(free, constrained, method = "satorra.bentler.2010"), HS1939 by
school, MLR, configural vs equal loadings; complete data and FIML with 8% missing). Tolerance: 1e-4 relative on the
difference statistic and its p-value (the fits agree with lavaan to ~1e-6; the 2001 version is checked beside it)."""
import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from vccscale.sem import fit_cfa
from vccscale.sem.compare import chisq_difference, scaling_at
from vccscale.validate.invariance import difference_test

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "sem" / "sb2010_reference.json").read_text())


@pytest.fixture(scope="module")
def fits(ref):
    hs = pd.read_csv(REF / "validate" / "HolzingerSwineford1939.csv")
    hna = pd.read_csv(REF / "sem" / "hs_na_school.csv")
    m = ref["model"]
    out = {}
    for case, d, miss in (("metric", hs, "listwise"), ("fiml", hna, "fiml")):
        out[case] = (fit_cfa(d, m, group="school", estimator="MLR", missing=miss, group_equal=["loadings"]),
                     fit_cfa(d, m, group="school", estimator="MLR", missing=miss))
    return out


@pytest.mark.parametrize("case", ["metric", "fiml"])
def test_sb2010_matches_lavaan(ref, fits, case):
    f0, f1 = fits[case]
    for method, key in (("satorra.bentler.2001", "sb2001"), ("satorra.bentler.2010", "sb2010")):
        d = chisq_difference(f0, f1, method)
        r = ref[case][key]
        assert d["df_diff"] == r["df_diff"]
        assert d["chisq_diff"] == pytest.approx(r["chisq_diff"], rel=1e-4), method
        assert d["pvalue"] == pytest.approx(r["pvalue"], rel=1e-4), method
    # c10 is the free model's scaling factor at the constrained solution: not the free model's own
    assert scaling_at(f1, f0) != pytest.approx(f1.fit["chisq.scaling.factor"], rel=1e-3)


def test_difference_test_falls_back_to_sb2010_when_the_2001_correction_is_not_positive(fits):
    f0, f1 = fits["metric"]
    big = dataclasses.replace(f1, fit={**f1.fit, "chisq.scaling.factor": 100.0})   # makes the 2001 cd negative
    p2001 = chisq_difference(f0, big, "satorra.bentler.2001")["pvalue"]
    assert p2001 != p2001   # NaN: the 2001 test does not exist here
    d = difference_test(f0, big, "MLR")
    assert d["chisq_diff"] == pytest.approx(chisq_difference(f0, f1, "satorra.bentler.2010")["chisq_diff"], rel=1e-12)
    assert "2010" in d["note"]


def test_not_nested_gives_nan(fits):
    """Models over different variables cannot be nested: c10 is NaN (and so is the 2010 difference)."""
    f0, _ = fits["metric"]
    hs = pd.read_csv(REF / "validate" / "HolzingerSwineford1939.csv")
    two = fit_cfa(hs, "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6", group="school", estimator="MLR")
    assert scaling_at(two, f0) != scaling_at(two, f0)
