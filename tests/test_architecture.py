"""Architecture rules of the library (issue 15), checked on the source with ``ast``:

* no vccscale module imports another module's ``_private`` names (``from .x import _name``, also inside functions
  and in multi-line imports), nor reaches them through an imported module (``from . import x; x._name``);
  dunders such as ``__version__`` are public;
* nothing outside ``vccscale/sem/`` reads a fit's internal state (``._state``, ``getattr(fit, "_state")``): the
  SEM engine offers FitResult.partable / .theta / .row_values / .vcov and vccscale.sem.Refitter instead.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "vccscale"
MODULES = sorted(PKG.rglob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom reads from."""
    if node.level == 0:
        return node.module or ""
    pkg = _module_name(path).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]
    base = pkg[: len(pkg) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(PKG.parent).as_posix()
    in_sem = path.relative_to(PKG).parts[0] == "sem"
    out: list[str] = []
    modules_bound: set[str] = set()  # local names bound to vccscale modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            src = _resolve(path, node)
            if not src.startswith("vccscale"):
                continue
            for a in node.names:
                if _private(a.name):
                    out.append(f"{rel}:{node.lineno} imports {a.name} from {src}")
                target = f"{src}.{a.name}"
                if (PKG.parent / Path(*target.split("."))).with_suffix(".py").exists() or \
                        (PKG.parent / Path(*target.split(".")) / "__init__.py").exists():
                    modules_bound.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("vccscale"):
                    modules_bound.add(a.asname or a.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr == "_state" and not in_sem:
                out.append(f"{rel}:{node.lineno} reads ._state outside vccscale/sem")
            base = node.value
            while isinstance(base, ast.Attribute) and not _private(base.attr):
                base = base.value
            if _private(node.attr) and isinstance(base, ast.Name) and base.id in modules_bound:
                out.append(f"{rel}:{node.lineno} uses {ast.unparse(node)} of an imported vccscale module")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                "getattr", "hasattr", "setattr") and not in_sem and len(node.args) >= 2:
            arg = node.args[1]
            if isinstance(arg, ast.Constant) and arg.value == "_state":
                out.append(f"{rel}:{node.lineno} reads _state through {node.func.id} outside vccscale/sem")
    return out


def test_the_checker_finds_what_it_should(tmp_path, monkeypatch):
    """The rules themselves: each forbidden form is caught, the allowed ones are not."""
    fake = PKG / "models" / "_architecture_probe.py"
    src = ("from .mediation import (\n    mediate,\n    _helper,\n)\n"
           "from .. import __version__\n"
           "def f(fit):\n    from ..validate.efa import _fa_core\n    return fit._state, getattr(fit, '_state')\n"
           "from . import pathmodel\nx = pathmodel._secret\n")
    try:
        fake.write_text(src, encoding="utf-8")
        found = violations(fake)
    finally:
        fake.unlink()
    assert any("_helper" in v for v in found) and any("_fa_core" in v for v in found)
    assert sum("_state" in v for v in found) == 2 and any("pathmodel._secret" in v for v in found)
    assert not any("__version__" in v for v in found)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PKG).as_posix())
def test_no_private_imports_across_modules_and_no_fit_state_outside_sem(path):
    found = violations(path)
    assert not found, "\n".join(found)


def test_one_stage_list():
    """vccscale.pipeline.STAGES is the one list of the pipeline's stages: the runner's functions, its dependency
    table and the report's order all follow it (report.render imports it)."""
    from vccscale.pipeline import STAGES
    from vccscale.pipeline import runner, stages
    from vccscale.report import render

    assert isinstance(STAGES, tuple)
    assert tuple(stages.RUNNERS) == STAGES
    assert tuple(runner._DEPENDS) == STAGES
    assert render.STAGES is STAGES
    for path in MODULES:  # no second literal list of the stage names anywhere in the package
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.List, ast.Tuple)) and len(node.elts) >= 6 and all(
                    isinstance(e, ast.Constant) and e.value in STAGES for e in node.elts):
                assert path.relative_to(PKG).as_posix() == "pipeline/__init__.py", (path, node.lineno)
