"""Command-line contract of `vccscale mediate` (issue 7): point estimates and delta-method SEs equal lavaan's
(tests/reference/models/mediation_reference.R) to 1e-6; the bootstrap is reproducible from its seed."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vccscale.cli import main

REF = Path(__file__).resolve().parent / "reference" / "models"


def test_mediate_json_contract_and_lavaan_parity():
    args = ["mediate", str(REF / "mediation_data.csv"), "--x", "x", "--m", "m1", "--y", "y", "--bootstrap", "1000",
            "--seed", "11", "--format", "json"]
    a = CliRunner().invoke(main, args)
    assert a.exit_code == 0, a.output
    out = json.loads(a.stdout)
    assert out == json.loads(CliRunner().invoke(main, args).stdout)  # same seed, same output
    assert out["n"] == 300 and out["bootstrap"]["draws"] == 1000 and out["bootstrap"]["seed"] == 11
    assert out["bootstrap"]["failed"] == 0
    eff = {e["name"]: e for e in out["effects"]}
    assert set(eff) == {"a", "b", "direct", "indirect", "total"}
    std = json.loads((REF / "mediation_reference.json").read_text())["simple"]["standard"]
    lav = {lab: (est, se) for lab, est, se in zip(std["label"], std["est"], std["se"]) if lab}
    for mine, theirs in (("a", "a"), ("b", "b"), ("direct", "c"), ("indirect", "ind"), ("total", "total")):
        assert abs(eff[mine]["est"] - lav[theirs][0]) < 1e-6
    for e in eff.values():
        assert e["ci_lower"] < e["est"] < e["ci_upper"]
