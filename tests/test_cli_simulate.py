"""Command-line contract of `vccscale simulate` and `vccscale power` (issue 9)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from vccscale.cli import main

BUILD = Path(__file__).resolve().parents[1] / "instruments" / "build" / "example_study"


@pytest.mark.slow  # ~8 s
def test_power_json_contract_and_closed_form(tmp_path):
    model = tmp_path / "pop.lavaan"
    model.write_text("y ~ 0.3*x\n")
    res = CliRunner().invoke(main, ["power", "--model", str(model), "--n", "60", "120", "--reps", "400", "--target",
                                    "y~x", "--seed", "5", "--plot", str(tmp_path / "curve.png"), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["seed"] == 5 and "n_for_80" in out
    assert [r["n"] for r in out["results"]] == [60, 120]
    for r in out["results"]:
        assert {"n", "power", "converged", "bias", "coverage"} <= set(r)
        # simulateData convention: var(x) = 1, residual var(y) = 1, so beta_std = .3 / sqrt(1.09);
        # closed form of the z test on the ML estimate: P(|T| > 1.96 sqrt((n-2)/n)), T ~ noncentral t(n-2)
        n = r["n"]
        b = 0.3 / np.sqrt(1.09)
        ncp = b * np.sqrt(n) / np.sqrt(1 - b ** 2)
        crit = 1.959964 * np.sqrt((n - 2) / n)
        closed = stats.nct.sf(crit, n - 2, ncp) + stats.nct.cdf(-crit, n - 2, ncp)
        assert abs(r["power"] - closed) < 3 * np.sqrt(closed * (1 - closed) / 400)
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_simulate_csv_and_qualtrics_export(tmp_path):
    model = tmp_path / "pop.lavaan"
    model.write_text("f =~ 0.8*a_drv_collaboration_01 + 0.8*a_drv_collaboration_02 + 0.8*a_drv_collaboration_03\n")
    res = CliRunner().invoke(main, ["simulate", "--model", str(model), "--n", "200", "--seed", "3", "--out",
                                    str(tmp_path / "sim.csv"), "--points", "7"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "sim.csv")
    assert df.shape == (200, 3) and set(np.unique(df.to_numpy())) <= set(range(1, 8))
    res = CliRunner().invoke(main, ["simulate", "--model", str(model), "--n", "200", "--seed", "3", "--out",
                                    str(tmp_path / "export.csv"), "--codebook", str(BUILD / "codebook.json")])
    assert res.exit_code == 0, res.output
    from vccscale.instrument import Codebook
    from vccscale.io import read_export

    ds = read_export(tmp_path / "export.csv", Codebook.read(BUILD / "codebook.json"))
    long = ds.to_long()
    # the modelled items correlate as the population model says (loadings .8, unit residual variances:
    # r = .64 / 1.64 = .39 before categorisation); an unmodelled item does not
    r = long[["a_drv_collaboration_01", "a_drv_collaboration_02", "x_vcc_customer_01"]].astype(float).corr()
    assert r.iloc[0, 1] > 0.25 and abs(r.iloc[0, 2]) < 0.2


def test_simulate_mar_missingness(tmp_path):
    model = tmp_path / "pop.lavaan"
    model.write_text("y ~ 0.3*x\n")
    res = CliRunner().invoke(main, ["simulate", "--model", str(model), "--n", "500", "--seed", "1", "--out",
                                    str(tmp_path / "mar.csv"), "--mar", "0.3", "--mar-on", "x"])
    assert res.exit_code == 0, res.output
    d = pd.read_csv(tmp_path / "mar.csv")
    assert d["x"].notna().all() and d["y"].isna().mean() == 0.3
    assert d.loc[d["y"].isna(), "x"].mean() > d.loc[d["y"].notna(), "x"].mean()  # missing more where x is high
    assert CliRunner().invoke(main, ["simulate", "--model", str(model), "--n", "5", "--seed", "1", "--out",
                                     str(tmp_path / "x.csv"), "--mar", "0.3"]).exit_code == 2
