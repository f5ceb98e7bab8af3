"""Command-line contract for the registry commands (issue 3)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from vccscale.cli import main

REQUIRED = {"id", "name", "family", "role", "measurement", "provenance", "n_items"}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_constructs_list_json(registry):
    res = run("constructs", "list", "--format", "json")
    assert res.exit_code == 0
    rows = json.loads(res.stdout)  # JSON only on stdout
    assert len(rows) == 143
    by_id = {r["id"]: r for r in rows}
    for r in rows:
        assert REQUIRED <= set(r)
        assert r["family"] in {"A", "B", "C", "D", "X"}
        assert r["measurement"] in {"reflective", "formative", "observed", "structural"}
        assert r["provenance"] and all(p["file"] == registry.seeds[p["seed"]].file for p in r["provenance"])
        assert r["n_items"] == len(registry.items_of(r["id"]))
    # every reflective first-order construct has at least 4 items
    for r in rows:
        c = registry.constructs[r["id"]]
        if c.latent and c.measurement == "reflective" and c.order != "second":
            assert r["n_items"] >= 4, r["id"]
    t3 = by_id["c_customer_centricity"]["provenance"][0]
    assert (t3["table"], t3["cell"], t3["file"]) == ("T3", "VProp/micro/ISN", "000_178b185ba24961ff.txt")


def test_constructs_list_family_filter_includes_shared(registry):
    rows = json.loads(run("constructs", "list", "--family", "a", "--format", "json").stdout)
    fams = {r["family"] for r in rows}
    assert fams == {"A", "X"}
    assert {r["id"] for r in rows if r["family"] == "A"} == {c.id for c in registry.constructs.values()
                                                             if c.family == "A"}
    assert "x_vcc_customer" in {r["id"] for r in rows}
    assert "x_prior_relationship" not in {r["id"] for r in rows}  # used by B and C only


def test_constructs_list_table():
    res = run("constructs", "list", "--family", "B")
    assert res.exit_code == 0 and "b_p1_vc_explore_enhance" in res.stdout


def test_constructs_show_text_and_json(registry):
    res = run("constructs", "show", "a_drv_documentation")
    assert res.exit_code == 0
    for part in ("Definition", "Provenance", "002_5ba936e887aa9d32.txt", "§4.1.2", "Facets", "Items (",
                 "a_drv_documentation_01"):
        assert part in res.stdout
    rec = json.loads(run("constructs", "show", "b_p1_vc_identify_opps", "--format", "json").stdout)
    assert rec["lower_order"] == ["b_p1_vc_explore_enhance", "b_p1_vc_vp_concept"]
    assert rec["rsa"]["partner"] == "b_p1_vk_agree_distribution"


def test_unknown_construct_is_exit_1_without_traceback():
    res = CliRunner().invoke(main, ["constructs", "show", "a_drv_nope"])
    assert res.exit_code == 1
    assert "unknown construct 'a_drv_nope'" in res.stderr and "Traceback" not in res.output


def test_hypotheses_list_json():
    rows = json.loads(run("hypotheses", "list", "--format", "json").stdout)
    assert [r["id"] for r in rows] == [f"H{k}" for k in range(1, 72)]
    h8 = rows[7]
    assert h8["family"] == "A" and "full_vs_partial_mediation" in h8["test"]["methods"]
    assert any(r["exploratory"] for r in rows) and any(not r["exploratory"] for r in rows)
    fam_b = json.loads(run("hypotheses", "list", "--family", "B", "--format", "json").stdout)
    assert [r["id"] for r in fam_b] == [f"H{k}" for k in range(17, 30)]


def test_hypotheses_show():
    res = run("hypotheses", "show", "h17")
    assert res.exit_code == 0 and "congruence" in res.stdout and "001_9b7f8b9cbf05c3fc.txt" in res.stdout


def test_usage_errors_exit_2():
    assert CliRunner().invoke(main, ["constructs", "list", "--family", "Q"]).exit_code == 2
    assert CliRunner().invoke(main, ["constructs", "list", "--format", "xml"]).exit_code == 2
    assert CliRunner().invoke(main, ["nosuchcommand"]).exit_code == 2
    assert CliRunner().invoke(main, ["hypotheses", "show", "H99"]).exit_code == 2


def test_registry_override_and_invalid_registry(reg_copy, tmp_path):
    ok = CliRunner().invoke(main, ["--registry", str(reg_copy), "registry", "--format", "json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["root"] == str(reg_copy)
    (reg_copy / "constructs" / "family_a.yaml").write_text("constructs:\n  - id: a_x\n    nme: typo\n")
    bad = CliRunner().invoke(main, ["constructs", "list", "--registry", str(reg_copy)])
    assert bad.exit_code == 1
    assert "family_a.yaml:3" in bad.stderr and "'nme'" in bad.stderr and "Traceback" not in bad.output
    missing = CliRunner().invoke(main, ["--registry", str(tmp_path / "none"), "registry"])
    assert missing.exit_code == 2


def test_items_lint_clean_and_json():
    res = run("items", "lint", "--format", "json")
    assert res.exit_code == 0 and json.loads(res.stdout)["n_findings"] == 0


@pytest.mark.parametrize("args", [[], ["constructs"], ["constructs", "list"], ["constructs", "show"],
                                  ["hypotheses"], ["hypotheses", "list"], ["hypotheses", "show"], ["items"],
                                  ["items", "list"], ["items", "lint"], ["registry"], ["instrument"],
                                  ["instrument", "build"], ["instrument", "read"], ["instrument", "fake-export"],
                                  ["import"], ["clean"], ["screen"], ["item-analysis"], ["reliability"], ["efa"],
                                  ["cfa"], ["sem"], ["validity"], ["invariance"], ["mediate"],
                                  ["hypotheses", "test"]])
def test_every_command_has_help(args):
    res = CliRunner().invoke(main, [*args, "--help"])
    assert res.exit_code == 0 and "Usage:" in res.stdout


def test_python_dash_m_and_console_script_agree():
    out = subprocess.run([sys.executable, "-m", "vccscale", "--help"], capture_output=True, text=True, check=True)
    assert "constructs" in out.stdout and "Usage: vccscale" in out.stdout
