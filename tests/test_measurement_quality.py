"""vccscale.validate.measurement_quality: one function for alpha, CR (omega), AVE, HTMT and Fornell-Larcker of a
fitted CFA (issue 15). Against semTools compRelSEM/AVE (obs.var FALSE and TRUE), psych alpha and semTools htmt
(tests/reference/validate/measurement_quality_reference.R, tolerance 1e-6), and the same numbers, exactly, from
the API, `vccscale cfa --format json` and the pipeline's measurement stage (fit_measurement) on the same fit."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from reference_data import load_reference
from vccscale.cli import main
from vccscale.errors import DataError, ModelError
from vccscale.sem import fit_cfa
from vccscale.validate import measurement_quality
from vccscale.validate.measurement import fit_measurement

REF = Path(__file__).resolve().parent / "reference" / "validate"
HS = REF / "HolzingerSwineford1939.csv"
R = load_reference("validate/measurement_quality_reference.json")
TOL = 1e-6


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(HS)


@pytest.fixture(scope="module")
def fits(hs):
    return {k: fit_cfa(hs, R[k]["model"]) for k in ("three", "cross")}


def _same(a, b) -> bool:
    """Equal, NaN/None equal to each other (JSON writes NaN as null)."""
    na = a is None or (isinstance(a, float) and math.isnan(a))
    nb = b is None or (isinstance(b, float) and math.isnan(b))
    return na == nb and (na or a == b)


@pytest.mark.parametrize("model", ["three", "cross"])
@pytest.mark.parametrize("variances,key", [("implied", "implied"), ("observed", "observed")])
def test_cr_ave_alpha_match_semtools(hs, fits, model, variances, key):
    q = measurement_quality(fits[model], hs, variances=variances)
    ref = R[model]
    for f in ref["cr_" + key]:
        assert abs(q.factors.loc[f, "cr"] - ref["cr_" + key][f]) < TOL, (f, "cr")
        want = ref["ave_" + key][f]
        if want is None:  # semTools: AVE not defined for a factor with a cross-loading item
            assert math.isnan(q.factors.loc[f, "ave"]) and q.fl_passed[f] is None, f
        else:
            assert abs(q.factors.loc[f, "ave"] - want) < TOL, (f, "ave")
        assert abs(q.factors.loc[f, "alpha"] - ref["alpha"][f]) < TOL, (f, "alpha")
    cl = ref["cor_lv"]
    for i, a in enumerate(cl["rownames"]):
        for j, b in enumerate(cl["rownames"]):
            assert abs(q.latent_correlations.loc[a, b] - cl["values"][i][j]) < TOL
    if ref["htmt"] is None:
        assert q.htmt is None and "more than one factor" in q.htmt_note
    else:
        h = ref["htmt"]
        for i, a in enumerate(h["rownames"]):
            for j, b in enumerate(h["rownames"]):
                if i != j:
                    assert abs(q.htmt.loc[a, b] - h["values"][i][j]) < TOL
    assert q.to_dict()["reliability_convention"] == variances


def test_three_factor_implied_equals_fornell_larcker_formula(hs, fits):
    """For congeneric factors with uncorrelated residuals the implied convention is Fornell & Larcker's closed
    form (and reliability_from_params' fitted columns)."""
    from vccscale.validate import reliability_from_params

    q = measurement_quality(fits["three"], hs)
    rel = reliability_from_params(fits["three"].estimates)
    for f in rel.index:
        assert abs(q.factors.loc[f, "cr"] - rel.loc[f, "omega_fitted"]) < 1e-12
        assert abs(q.factors.loc[f, "ave"] - rel.loc[f, "ave_fitted"]) < 1e-12


@pytest.mark.parametrize("model", ["three", "cross"])
@pytest.mark.parametrize("variances", ["implied", "observed"])
def test_cli_json_equals_api(tmp_path, hs, fits, model, variances):
    path = tmp_path / "m.lavaan"
    path.write_text(R[model]["model"], encoding="utf-8")
    res = CliRunner().invoke(main, ["cfa", str(HS), "--model", str(path), "--format", "json",
                                    "--ave-variances", variances])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    api = json.loads(json.dumps(measurement_quality(fits[model], hs, variances=variances).to_dict(),
                                allow_nan=True).replace("NaN", "null"))
    for k in ("reliability", "reliability_convention", "htmt", "fornell_larcker"):
        assert k in out
        assert json.dumps(out[k], sort_keys=True) == json.dumps(api[k], sort_keys=True), k
    assert out.get("htmt_note") == api.get("htmt_note")


def test_pipeline_equals_api(hs, fits):
    """The pipeline's measurement stage (one model of all constructs) takes CR, AVE and the Fornell-Larcker
    verdict from measurement_quality: identical numbers."""
    blocks = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
    res = fit_measurement(hs, blocks, estimator="ML", missing="listwise", scope="full")
    q = measurement_quality(fits["three"], hs)
    t = res.constructs.set_index("construct")
    fl = res.fornell_larcker().set_index("construct")
    for f in blocks:
        assert t.loc[f, "cr"] == q.factors.loc[f, "cr"]
        assert t.loc[f, "ave"] == q.factors.loc[f, "ave"]
        assert fl.loc[f, f] == q.fornell_larcker.loc[f, f]
        assert fl.loc[f, "passed"] == q.fl_passed[f]


def test_views_and_errors(hs, fits):
    q = measurement_quality(fits["cross"], hs)
    t = q.to_frame()
    assert list(t["factor"]) == ["visual", "textual", "speed"]
    assert {"n_items", "alpha", "cr", "ave", "sqrt_ave", "max_abs_r", "fl_passed"} <= set(t.columns)
    assert "model-implied" in q.summary()
    with pytest.raises(DataError):
        measurement_quality(fits["three"], hs, variances="sample")
    mg = fit_cfa(hs, R["three"]["model"], group="school")
    with pytest.raises(ModelError, match="per group"):
        measurement_quality(mg, hs)
    per = measurement_quality(mg, hs, group="Pasteur", group_column="school")
    sub = hs[hs["school"] == "Pasteur"]
    one = measurement_quality(fit_cfa(sub, R["three"]["model"]), sub)
    # the configural multi-group model is the single-group model per group
    assert np.allclose(per.factors[["alpha", "cr", "ave"]], one.factors[["alpha", "cr", "ave"]], atol=1e-5)


def test_validity_cli_htmt_equals_api_and_cfa(tmp_path, hs, fits):
    """`vccscale validity` and `vccscale cfa` print the HTMT of the library's htmt() (same pairs, exactly)."""
    from vccscale.validate import htmt
    from vccscale.validate.validity import factor_blocks

    path = tmp_path / "m.lavaan"
    path.write_text(R["three"]["model"], encoding="utf-8")
    res = CliRunner().invoke(main, ["validity", str(HS), "--model", str(path), "--format", "json",
                                    "--bootstrap", "20", "--seed", "3"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    blocks = factor_blocks(R["three"]["model"], hs)
    h = htmt(hs, blocks, n_boot=20, seed=3)
    assert out["htmt"] == h.pairs() == measurement_quality(fits["three"], hs).to_dict()["htmt"]
    assert out["htmt_ci"] == h.ci_pairs()


def test_htmt_under_fiml_in_validity_and_cfa_commands(tmp_path):
    """`vccscale validity --missing fiml` and `vccscale cfa --missing fiml` (HTMT follows the fit's treatment) give
    semTools' htmt(missing = "ml") on hs_missing.csv (lavCor's EM run to 1e-12: 1e-8); listwise by default."""
    from reference_data import reference_path

    ref = load_reference("validate/htmt_fiml_reference.json")["hs_missing"]
    data = reference_path(REF / "hs_missing.csv")
    path = tmp_path / "m.lavaan"
    path.write_text(ref["model"], encoding="utf-8")
    m = ref["htmt2_ml_tight"]
    want = {f"{a}~~{b}": m["values"][i][j] for i, a in enumerate(m["rownames"])
            for j, b in enumerate(m["colnames"]) if j > i}
    res = CliRunner().invoke(main, ["validity", str(data), "--model", str(path), "--missing", "fiml",
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["htmt_missing"] == "fiml" and out["htmt_n"] == ref["n_used_ml"]
    for k, v in want.items():
        assert abs(out["htmt"][k] - v) < 1e-8
    res = CliRunner().invoke(main, ["cfa", str(data), "--model", str(path), "--missing", "fiml", "--format", "json"])
    assert res.exit_code == 0, res.output
    for k, v in want.items():
        assert abs(json.loads(res.stdout)["htmt"][k] - v) < 1e-8
    res = CliRunner().invoke(main, ["validity", str(data), "--model", str(path), "--format", "json"])
    lw = ref["htmt2_listwise"]
    assert json.loads(res.stdout)["htmt_n"] == ref["n_complete"]
    assert abs(json.loads(res.stdout)["htmt"]["visual~~textual"] - lw["values"][0][1]) < 1e-10
