"""Schema errors name the file, the line and the field (issue 3)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from vccscale.errors import RegistryError, RegistryErrors
from vccscale.registry import load_registry


def _errors(root: Path) -> list[RegistryError]:
    with pytest.raises(RegistryErrors) as exc_info:
        load_registry(root)
    return exc_info.value.errors


def _line_of(path: Path, needle: str, after: str | None = None) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 0
    if after is not None:
        start = next(i for i, ln in enumerate(lines) if after in ln)
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


def _replace(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_shipped_registry_is_valid(registry):
    assert len(registry.constructs) == 143
    assert registry.hypotheses and registry.items and registry.blocks


def test_unknown_key_names_file_line_and_field(reg_copy):
    f = reg_copy / "constructs" / "family_a.yaml"
    _replace(f, "  name: Proactive attitude (Diagnosing & Designing)\n",
             "  name: Proactive attitude (Diagnosing & Designing)\n  colour: blue\n")
    errs = _errors(reg_copy)
    assert len(errs) == 1
    e = errs[0]
    assert e.file.endswith("family_a.yaml")
    assert e.line == _line_of(f, "colour: blue")
    assert e.field == "colour"
    assert "unknown key" in str(e) and "a_drv_proactive_attitude" in str(e)


def test_missing_provenance_is_an_error(reg_copy):
    f = reg_copy / "constructs" / "shared_x.yaml"
    text = f.read_text(encoding="utf-8")
    # drop the provenance block of x_env_dynamism (the last construct in the file)
    head, tail = text.rsplit("  provenance:\n", 1)
    f.write_text(head, encoding="utf-8")
    errs = _errors(reg_copy)
    assert any(e.field == "provenance" and "x_env_dynamism" in str(e) and "missing" in str(e) for e in errs)
    e = next(e for e in errs if e.field == "provenance")
    assert e.line == _line_of(f, "- id: x_env_dynamism")


def test_empty_provenance_list_is_an_error(reg_copy):
    f = reg_copy / "constructs" / "family_d.yaml"
    text = f.read_text(encoding="utf-8")
    start = text.index("- id: d_cap_relational")
    block = text[start:text.index("- id:", start + 5)]
    prov = block[block.index("  provenance:"):]
    f.write_text(text.replace(block, block.replace(prov, "  provenance: []\n")), encoding="utf-8")
    errs = _errors(reg_copy)
    assert any(e.field == "provenance" and "d_cap_relational" in str(e) for e in errs)


def test_duplicate_construct_id(reg_copy):
    f = reg_copy / "constructs" / "family_a.yaml"
    _replace(f, "- id: a_drv_collaboration\n", "- id: a_drv_proactive_attitude\n")
    errs = _errors(reg_copy)
    dup = [e for e in errs if "duplicate construct id 'a_drv_proactive_attitude'" in str(e)]
    assert len(dup) == 1
    # the error points at the second definition and names the first
    assert dup[0].line == _line_of(f, "name: Early-phase collaboration") - 1
    assert "first defined at" in dup[0].message and "family_a.yaml" in dup[0].message


def test_duplicate_yaml_key_is_an_error(reg_copy):
    f = reg_copy / "constructs" / "family_b.yaml"
    _replace(f, "  name: Exploring value-enhancement opportunities\n",
             "  name: Exploring value-enhancement opportunities\n  name: Again\n")
    errs = _errors(reg_copy)
    assert any("duplicate key 'name'" in str(e) and e.line == _line_of(f, "name: Again") for e in errs)


def test_reference_to_unknown_construct_in_item(reg_copy):
    f = reg_copy / "items" / "family_a.yaml"
    text = f.read_text(encoding="utf-8")
    f.write_text(text.replace("a_drv_informing", "a_drv_inform"), encoding="utf-8")
    errs = _errors(reg_copy)
    assert len(errs) == 5  # the five items of the construct, each at its own line
    assert all("unknown construct 'a_drv_inform'" in str(e) and e.field == "construct" for e in errs)
    assert all(e.file.endswith("family_a.yaml") for e in errs)
    assert errs[0].line == _line_of(f, "- id: a_drv_inform_01")


def test_reference_to_unknown_parent_and_hypothesis_construct(reg_copy):
    _replace(reg_copy / "constructs" / "family_d.yaml", "parent: d_spe\n", "parent: d_spe_total\n")
    _replace(reg_copy / "hypotheses.yaml", "a_drv_cust_involvement", "a_drv_customer_involvement")
    errs = _errors(reg_copy)
    msgs = [str(e) for e in errs]
    assert any("parent 'd_spe_total' is not a construct" in m for m in msgs)
    assert any("hypothesis H1: unknown construct 'a_drv_customer_involvement'" in m for m in msgs)
    assert any(e.file.endswith("hypotheses.yaml") and e.line for e in errs)


def test_unknown_seed_and_bad_table_cell(reg_copy):
    f = reg_copy / "constructs" / "family_c.yaml"
    _replace(f, "where: 'T3[VProp/micro/ISN]'", "where: 'T3[VProp/mikro/ISN]'")
    _replace(reg_copy / "constructs" / "family_a.yaml", "seed: S002", "seed: S009")
    errs = _errors(reg_copy)
    msgs = [str(e) for e in errs]
    assert any("bad Table 3 cell 'T3[VProp/mikro/ISN]'" in m for m in msgs)
    assert any("unknown seed 'S009'" in m for m in msgs)
    cell = next(e for e in errs if "mikro" in str(e))
    assert cell.line == _line_of(f, "T3[VProp/mikro/ISN]")


def test_wording_must_match_construct(reg_copy):
    f = reg_copy / "items" / "family_a.yaml"
    text = f.read_text(encoding="utf-8")
    # remove the C wording of the first item: a P+C construct needs both
    m = re.search(r'\n(\s+)C: "[^"\n]*"', text)
    f.write_text(text[:m.start()] + text[m.end():], encoding="utf-8")
    errs = _errors(reg_copy)
    assert any("needs both P and C wordings" in str(e) for e in errs)


def test_yaml_syntax_error_names_line(reg_copy):
    f = reg_copy / "items" / "family_d.yaml"
    lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
    idx = next(i for i, ln in enumerate(lines) if ln.strip().startswith("- id:"))
    lines.insert(idx + 1, "    construct: [unclosed\n")
    f.write_text("".join(lines), encoding="utf-8")
    errs = _errors(reg_copy)
    assert len(errs) == 1 and "YAML syntax error" in str(errs[0])
    assert errs[0].file.endswith("family_d.yaml") and abs(errs[0].line - (idx + 2)) <= 1


def test_all_problems_are_reported_together(reg_copy):
    _replace(reg_copy / "constructs" / "family_a.yaml", "  level_text: dyad\n", "  level_text: dyad\n  foo: 1\n", 3)
    errs = _errors(reg_copy)
    assert len(errs) == 3


def test_missing_registry_dir(tmp_path):
    with pytest.raises(RegistryError, match="registry directory not found"):
        load_registry(tmp_path / "nope")
