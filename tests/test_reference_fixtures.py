"""R reference fixtures: every one has the R script that writes it, and a missing one fails the tests (issue 15)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from reference_data import REF_ROOT, REPO, load_reference, reference_path, writer_of

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("path", sorted(REF_ROOT.rglob("*.json")), ids=lambda p: str(p.relative_to(REF_ROOT)))
def test_every_json_fixture_names_its_r_script(path):
    script = writer_of(path)
    assert script.endswith(".R") and (REPO / script).exists(), script


def test_missing_fixture_fails_naming_the_r_script(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=r"hs_cfa_ml\.json is missing.*Rscript "
                                                      r"tests/reference/validate/make_reference\.R"):
        load_reference(tmp_path / "hs_cfa_ml.json")
    with pytest.raises(pytest.fail.Exception, match=r"Rscript tests/reference/models/mediation_reference\.R"):
        reference_path(tmp_path / "mediation_data.csv")


def test_present_fixture_loads():
    assert load_reference("validate/hs_cfa_ml.json")["model"]


def test_no_test_skips_on_a_missing_fixture():
    pattern = re.compile(r"skip(if)?\(.*(\.exists\(\)|not generated|fixtures? missing)")
    offenders = [f"{p.name}:{i}" for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not offenders, f"tests that skip when a fixture is missing (use reference_data.load_reference): {offenders}"
