"""The registry is found when vccscale is installed from a wheel, not only from a checkout (issue 3)."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{res.stdout}\n{res.stderr}")
    return next(out.glob("vccscale-*.whl"))


@pytest.mark.slow  # 2 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_wheel_ships_the_registry(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for part in ("vccscale/_instruments/seeds.yaml", "vccscale/_instruments/hypotheses.yaml",
                 "vccscale/_instruments/constructs/family_a.yaml", "vccscale/_instruments/items/scales.yaml",
                 "vccscale/_instruments/items/family_c_mechanisms.yaml", "vccscale/cli.py"):
        assert part in names, part
    assert not any(n.startswith("vccscale/_instruments/scripts") for n in names)


@pytest.mark.slow  # 2 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_installed_wheel_finds_its_registry(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import vccscale.registry as r; d = r.default_registry_dir(); reg = r.load_registry(); "
            "print(d); print(len(reg.constructs), len(reg.items), len(reg.hypotheses))")
    env = {k: v for k, v in os.environ.items() if k != "VCCSCALE_REGISTRY"}
    env["PYTHONPATH"] = str(site)
    res = subprocess.run([sys.executable, "-I", "-c", code.replace("import vccscale", "import sys; sys.path.insert(0, "
                          f"{str(site)!r}); import vccscale")], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    where, counts = res.stdout.strip().splitlines()
    assert Path(where) == site / "vccscale" / "_instruments"
    n_constructs, n_items, n_hyp = map(int, counts.split())
    assert (n_constructs, n_hyp) == (143, 71) and n_items > 600
