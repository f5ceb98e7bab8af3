"""The README's two set-up commands stay what CI runs (DEVELOPERS.md)."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    return [ln.strip() for ln in block.strip().splitlines()]


def test_readme_has_exactly_two_setup_commands_at_the_top():
    cmds = setup_commands()
    assert len(cmds) == 2
    assert cmds[0].startswith("pip install") and "vccscale" in cmds[0]
    assert cmds[1].startswith("pip install") and "[test]" in cmds[1] and "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert setup_commands()[1] in ci.splitlines()
