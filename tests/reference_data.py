"""Loading the reference fixtures under tests/reference/ (R output as JSON, and the data sets R wrote).

R never runs in the tests: the fixtures are committed. A missing fixture is a broken checkout or a forgotten
regeneration, so the test FAILS (never skips), naming the R script that writes the file.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REF_ROOT = Path(__file__).resolve().parent / "reference"

#: files written outside tests/reference/ (script relative to the repository)
_WRITERS = {"cfa30_n1000.csv": "benchmarks/lavaan_timings.R"}


def writer_of(path: Path) -> str:
    """The R script that writes ``path``: among the scripts under tests/reference/ and benchmarks/ naming the file,
    the one that writes it (a ``write...`` call, else a header comment saying it writes it)."""
    name = path.name
    if name in _WRITERS:
        return _WRITERS[name]

    def rank(line: str) -> int:
        low = line.lower()
        if "read" in low:
            return 3
        if not low.lstrip().startswith("#") and "write" in low:
            return 0
        if low.lstrip().startswith("#") and ("write" in low or "wrote" in low or ">" in low):
            return 1
        return 2

    found = []
    for script in sorted(list(REF_ROOT.rglob("*.R")) + list((REPO / "benchmarks").glob("*.R"))):
        lines = [ln for ln in script.read_text(encoding="utf-8", errors="replace").splitlines() if name in ln]
        if lines:
            found.append((min(rank(ln) for ln in lines), str(script.relative_to(REPO))))
    if not found:
        return "the R script that writes it (no script under tests/reference/ names it)"
    return sorted(found)[0][1]


def reference_path(rel: str | Path) -> Path:
    """``tests/reference/<rel>`` (or ``rel`` itself when absolute); fails the test when the file is missing, naming
    the R script that writes it."""
    path = Path(rel) if Path(rel).is_absolute() else REF_ROOT / rel
    if not path.exists():
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        pytest.fail(f"reference fixture {shown} is missing. Regenerate it with "
                    f"`Rscript {writer_of(path)}` (R with lavaan, psych, ...; see the script's header) and commit "
                    "it: the tests compare against R's values but never run R", pytrace=False)
    return path


def load_reference(rel: str | Path):
    """The JSON fixture ``tests/reference/<rel>`` or the absolute path ``rel`` (fails with the regenerating R script
    when it is missing)."""
    return json.loads(reference_path(rel).read_text(encoding="utf-8"))
