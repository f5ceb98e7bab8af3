"""vccscale.validate.invariance_workflow: the invariance sequence -> partial scalar search (when scalar invariance
is rejected at partial_alpha) -> latent means, one function behind `vccscale invariance` (issue 15). The CLI's
JSON equals the API's result exactly; the numbers against lavaan/semTools (tests/reference/validate/
hs_invariance.json, tests/reference/cli/cli_gaps_reference.json)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from reference_data import load_reference
from vccscale.cli import main
from vccscale.validate import invariance_workflow

REF = Path(__file__).resolve().parent / "reference"
HS = REF / "validate" / "HolzingerSwineford1939.csv"
HS_NA = REF / "validate" / "hs_missing.csv"
INV = load_reference("validate/hs_invariance.json")
GAPS = load_reference("cli/cli_gaps_reference.json")


def close(a, b, tol=1e-3):
    return abs(a - b) <= max(tol * abs(b), 1e-6)


def _cli(tmp_path, data, *args):
    m = tmp_path / "m.lavaan"
    m.write_text(INV["model"], encoding="utf-8")
    res = CliRunner().invoke(main, ["invariance", str(data), "--model", str(m), "--group", "school",
                                    "--format", "json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _api_json(res) -> dict:
    """The API result through the CLI's JSON conversion (jsonable: NaN -> null, numpy -> Python)."""
    from vccscale.jsonsafe import jsonable

    return json.loads(json.dumps(jsonable(res.to_dict()), allow_nan=False))


@pytest.mark.slow
def test_cli_equals_api_with_partial_search(tmp_path):
    hs = pd.read_csv(HS)
    res = invariance_workflow(hs, INV["model"], "school", estimator="ML")
    out = _cli(tmp_path, HS)
    assert out == _api_json(res)
    # scalar invariance is rejected for HS by school; the search frees x3's intercept first (lavTestScore's
    # largest univariate test on the scalar model)
    assert res.scalar_rejected and res.partial is not None
    assert out["partial_scalar"]["freed"][0]["lhs"] == "x3" and out["partial_scalar"]["freed"][0]["op"] == "~1"
    for lvl in ("configural", "metric", "scalar", "strict"):
        for k in ("chisq", "df", "cfi", "rmsea"):
            assert close(out[lvl][k], INV["ML"]["fit_measures"][lvl][k]), (lvl, k)
    for mine, lrt in zip(out["tests"], INV["ML"]["lrt"][1:]):
        assert close(mine["chisq_diff"], lrt["Chisq diff"]) and mine["df_diff"] == lrt["Df diff"]
    assert "latent means" in res.summary() and "partial scalar invariance" in res.summary()
    assert res.to_frame().equals(res.invariance.tests)


def test_latent_means_in_the_scalar_model_match_lavaan(tmp_path):
    """partial_alpha 0: no search, latent means of the full scalar model (lavaan group.equal loadings +
    intercepts), CLI == API."""
    hs = pd.read_csv(HS)
    res = invariance_workflow(hs, INV["model"], "school", partial_alpha=0.0)
    assert res.partial is None and not res.scalar_rejected
    ref = {r["lhs"]: r for r in INV["scalar_latent_means"] if r["group"] == 2}
    lm = res.latent_means.set_index("lhs")
    for f, r in ref.items():
        assert close(lm.loc[f, "est"], r["est"]) and close(lm.loc[f, "se"], r["se"]), f
    assert _cli(tmp_path, HS, "--partial-alpha", "0") == _api_json(res)


@pytest.mark.slow
def test_fiml_cli_equals_api_and_lavaan(tmp_path):
    data = pd.read_csv(HS_NA)
    res = invariance_workflow(data, INV["model"], "school", missing="fiml", partial_alpha=0.0)
    out = _cli(tmp_path, HS_NA, "--missing", "fiml", "--partial-alpha", "0")
    assert out == _api_json(res)
    ref = GAPS["fiml_invariance"]
    assert out["n"] == sum(ref["nobs"])
    for level in ("configural", "metric", "scalar"):
        for k in ("chisq", "df", "cfi", "rmsea"):
            assert close(out[level][k], ref[level][k]), (level, k)


def test_collapse_empty_categories_by_hand():
    """Categories no one chose in a group are merged into their neighbour towards the middle, in every group, until
    every category is chosen in every group (worked out by hand)."""
    import pandas as pd

    from vccscale.validate.invariance import collapse_empty_categories

    df = pd.DataFrame({"g": ["a"] * 6 + ["b"] * 6,
                       "x": [3, 4, 5, 6, 7, 7, 1, 2, 3, 4, 5, 6],     # a lacks 1 and 2, b lacks 7
                       "y": [1, 2, 3, 1, 2, 3, 1, 2, 3, 3, 2, 1]})    # nothing to do
    out, notes = collapse_empty_categories(df, ["x", "y"], "g")
    assert list(out["x"]) == [3, 4, 5, 6, 6, 6, 3, 3, 3, 4, 5, 6]
    assert list(out["y"]) == list(df["y"]) and list(df["x"])[:2] == [3, 4]   # input not modified
    assert notes == ["x: 1 -> 3, 2 -> 3, 7 -> 6"]
