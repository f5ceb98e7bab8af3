"""The issue-17 commands as a user runs them: `vccscale interaction`, `ordinal` and `nca` (JSON contract, exit
codes), against the same references as the library: semTools::indProd + lavaan + probe2WayMC
(tests/reference/models/interaction_reference.R), MASS::polr (tests/reference/ordinal/polr_reference.R) and the
CE-FDH definition (hand computation).

Tolerances: interaction paths and simple slopes 1e-3 relative (lavaan's optimiser stops ~1e-6 short); polr 1e-5
relative; NCA ceiling quantities 1e-9 (closed form)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from vccscale.cli import main
from reference_data import load_reference, reference_path

REF = Path(__file__).parent / "reference"


def _json(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_interaction_matches_semtools_and_lavaan():
    data = reference_path(REF / "models" / "interaction_data.csv")
    ref = load_reference(REF / "models" / "interaction_reference.json")
    out = _json(["interaction", str(data), "--x", "x1", "x2", "x3", "x4", "--z", "z1", "z2", "z3", "z4",
                 "--y", "y1", "y2", "y3", "y4", "--method", "dmc", "--format", "json"])
    regs = {r["rhs"]: r for r in ref["regressions"]}
    for key, name in (("x", "X"), ("z", "Z"), ("xz", "XZ")):
        assert out["paths"][key]["est"] == pytest.approx(regs[name]["est"], rel=1e-3)
        assert out["paths"][key]["se"] == pytest.approx(regs[name]["se"], rel=1e-3)
        assert out["paths"][key]["pvalue"] == pytest.approx(regs[name]["pvalue"], rel=1e-2, abs=1e-12)
    ss = ref["simple_slopes"]
    for k, row in enumerate(out["simple_slopes"]):
        assert row["z_value"] == pytest.approx(ss["z"][k], rel=1e-3, abs=1e-12)
        assert row["est"] == pytest.approx(ss["est"][k], rel=1e-3, abs=1e-5)
        assert row["se"] == pytest.approx(ss["se"][k], rel=1e-3)
    assert out["pairing"] == "matched-pair" and len(out["products"]) == 4


def test_interaction_errors_are_usage_or_data_errors(tmp_path):
    data = reference_path(REF / "models" / "interaction_data.csv")
    r = CliRunner().invoke(main, ["interaction", str(data), "--x", "x1", "nope", "--z", "z1", "--y", "y1", "y2",
                                  "y3"])
    assert r.exit_code == 1 and "nope" in r.output
    r = CliRunner().invoke(main, ["interaction", str(data), "--x", "x1", "--z", "z1", "--y", "y1", "--method", "lms"])
    assert r.exit_code == 2


def test_ordinal_matches_polr():
    data = reference_path(REF / "ordinal" / "ordinal_data.csv")
    ref = load_reference(REF / "ordinal" / "polr_reference.json")
    for link, key in (("logit", "logit"), ("probit", "probit")):
        out = _json(["ordinal", str(data), "--y", "stage", "--x", "x1", "x2", "--link", link, "--format", "json"])
        coef = {c["name"]: c for c in out["coefficients"]}
        for name in ("x1", "x2"):
            assert coef[name]["est"] == pytest.approx(ref[key]["coefficients"][name], rel=1e-5)
            assert coef[name]["se"] == pytest.approx(ref[key]["se"][name], rel=1e-4)
        th = {t["name"]: t["est"] for t in out["thresholds"]}
        assert set(th) == set(ref[key]["zeta"])  # named as polr: "0|1", "1|2", ...
        for name, v in ref[key]["zeta"].items():
            assert th[name] == pytest.approx(v, rel=1e-5)
        assert out["loglik"] == pytest.approx(ref[key]["loglik"], rel=1e-7)
        assert out["aic"] == pytest.approx(ref[key]["aic"], rel=1e-7)
    omni = next(b for b in out["brant"] if b["term"] == "omnibus") if "brant" in out else None
    assert omni is None  # probit: no Brant test
    out = _json(["ordinal", str(data), "--y", "stage", "--x", "x1", "x2", "--format", "json"])
    omni = next(b for b in out["brant"] if b["term"] == "omnibus")
    assert omni["chisq"] == pytest.approx(ref["brant"]["omnibus"]["chisq"], rel=1e-5)


def test_nca_json_follows_the_ce_fdh_definition_and_the_seed(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 10, 300)
    y = rng.uniform(0, 1, 300) * x   # a planted ceiling y <= x
    p = tmp_path / "d.csv"
    pd.DataFrame({"x": x, "y": y}).to_csv(p, index=False)
    out = _json(["nca", str(p), "--x", "x", "--y", "y", "--ceiling", "ce_fdh", "--seed", "3", "--permutations",
                 "200", "--format", "json"])
    # CE-FDH by hand: the step function of running maxima of y over sorted x; ceiling zone above it
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    runmax = np.maximum.accumulate(ys)
    zone = float(np.sum(np.diff(xs) * (ys.max() - runmax[:-1])))
    scope = float((x.max() - x.min()) * (y.max() - y.min()))
    assert out["ce_fdh"]["scope"] == pytest.approx(scope, rel=1e-9)
    assert out["ce_fdh"]["ceiling_zone"] == pytest.approx(zone, rel=1e-9)
    assert out["ce_fdh"]["d"] == pytest.approx(zone / scope, rel=1e-9)
    assert out["ce_fdh"]["p"] < 0.05 and "cr_fdh" not in out
    again = _json(["nca", str(p), "--x", "x", "--y", "y", "--ceiling", "ce_fdh", "--seed", "3", "--permutations",
                   "200", "--format", "json"])
    assert again == out
    r = CliRunner().invoke(main, ["nca", str(p), "--x", "x", "--y", "y", "--seed", "3", "--ceiling", "lp"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["nca", str(p), "--x", "x", "--y", "nope", "--seed", "3"])
    assert r.exit_code == 1
