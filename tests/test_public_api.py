"""The public API (issue 15): lazy subpackages, import weight, lavaan's argument order, efa's call forms."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
REF = REPO / "tests" / "reference" / "validate"
HEAVY = ("pandas", "scipy", "numpy", "semopy", "pingouin", "statsmodels", "matplotlib")
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


def _loaded_after(code: str) -> list[str]:
    """Heavy top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + f"\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


# ----------------------------------------------------------------------------------------------- import weight
def test_import_vccscale_is_light():
    assert _loaded_after("import vccscale") == []


def test_import_cli_is_light():
    """``vccscale --help`` imports vccscale.cli: no pandas, scipy, numpy, semopy or pingouin."""
    assert _loaded_after("import vccscale.cli") == []


def test_help_does_not_import_optional_engines():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom vccscale.cli import main\n"
            "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0, r.output")
    assert _loaded_after(code) == []


def test_subpackages_do_not_import_semopy_or_pingouin():
    code = "import vccscale\nfor n in vccscale.SUBPACKAGES: getattr(vccscale, n)"
    loaded = _loaded_after(code)
    assert "semopy" not in loaded and "pingouin" not in loaded


# ----------------------------------------------------------------------------------------------- lazy subpackages
def test_subpackages_are_attributes():
    import vccscale

    for name in ("sem", "validate", "models", "clean", "io", "instrument", "simulate", "report", "pipeline"):
        assert name in dir(vccscale)
        mod = getattr(vccscale, name)
        assert mod.__name__ == f"vccscale.{name}"
    assert callable(vccscale.sem.fit_cfa) and callable(vccscale.models.mediate) and callable(vccscale.validate.efa)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vccscale.nope  # noqa: B018


# ----------------------------------------------------------------------------------------------- argument order
@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(REF / "HolzingerSwineford1939.csv")


def test_fit_cfa_accepts_lavaans_order(hs):
    from vccscale.sem import fit_cfa, fit_sem

    ref = fit_cfa(hs, HS_MODEL).fit["chisq"]
    assert fit_cfa(HS_MODEL, hs).fit["chisq"] == ref            # cfa(model, data)
    assert fit_cfa(HS_MODEL, data=hs).fit["chisq"] == ref       # cfa(model, data = df)
    assert fit_cfa(model=HS_MODEL, data=hs).fit["chisq"] == ref
    assert fit_sem(HS_MODEL, hs).fit["chisq"] == ref


@pytest.mark.parametrize("args, match", [
    (("hs.csv", HS_MODEL), r"fit_cfa\(data, model\): data must be a pandas DataFrame, got a str \('hs.csv'\); read"),
    ((HS_MODEL, "visual =~ x1"), r"fit_cfa\(data, model\): .*looks like model syntax"),
    ((Path("hs.csv"), HS_MODEL), r"fit_cfa\(data, model\): data must be a pandas DataFrame, got a PosixPath"),
])
def test_fit_cfa_names_the_order(args, match):
    from vccscale.errors import DataError
    from vccscale.sem import fit_cfa

    with pytest.raises(TypeError, match=match):
        fit_cfa(*args)
    with pytest.raises(DataError):  # also a DataError, as before
        fit_cfa(*args)


def test_model_dataframe_with_non_model_data(hs):
    from vccscale.sem import fit_cfa

    with pytest.raises(TypeError, match=r"fit_cfa\(data, model\): the model argument is a DataFrame"):
        fit_cfa(3, hs)


def test_other_data_model_functions_accept_lavaans_order(hs):
    from vccscale.validate import htmt
    from vccscale.validate.invariance import invariance

    a = invariance(hs, HS_MODEL, "school", levels=("configural", "metric"))
    b = invariance(HS_MODEL, hs, "school", levels=("configural", "metric"))
    assert a.tests["chisq_diff"].iloc[0] == pytest.approx(b.tests["chisq_diff"].iloc[0], abs=0)
    blocks = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"]}
    assert htmt(blocks, hs).to_frame().equals(htmt(hs, blocks).to_frame())


def test_docstring_states_the_order():
    from vccscale.sem import fit_cfa

    assert "lavaan's order ``fit_cfa(model, data, ...)``" in fit_cfa.__doc__


# ----------------------------------------------------------------------------------------------- efa call forms
def test_efa_call_forms(hs):
    from vccscale.validate import efa

    items = [f"x{i}" for i in range(1, 10)]
    x = hs[items]
    ref = efa(x, items, 2).loadings
    for res in (efa(x, 2), efa(x, n_factors=2), efa(hs, items=items, n_factors=2), efa(x, items, n_factors=2)):
        pd.testing.assert_frame_equal(res.loadings, ref)
    assert efa(x).loadings.shape == (9, 1)
    with pytest.raises(TypeError, match="two numbers"):
        efa(x, 2, 3)


def test_omega_number_is_n_factors(hs):
    from vccscale.validate import omega

    x = hs[[f"x{i}" for i in range(1, 10)]]
    assert omega(x, 3).n_factors == 3 and omega(x, 3).omega_total == omega(x, n_factors=3).omega_total


# ----------------------------------------------------------------------------------------------- R equivalents
R_FUNCTION = r"\b[A-Za-z][A-Za-z0-9.]*::[A-Za-z_.][A-Za-z0-9_.]*"


def _models_public():
    import importlib
    import inspect
    import pkgutil

    import vccscale.models as models

    out = []
    for info in pkgutil.iter_modules(models.__path__):
        mod = importlib.import_module(f"vccscale.models.{info.name}")
        names = set(getattr(mod, "__all__", ())) | {n for n in vars(mod) if not n.startswith("_")}
        for name in sorted(names):
            obj = getattr(mod, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == mod.__name__:
                out.append((f"{info.name}.{name}", obj))
    return out


def test_models_docstrings_name_their_r_function():
    """Every public function and class of vccscale/models/ names the R function it matches (``pkg::fun``) or says
    "no R equivalent" (and what it is checked against)."""
    import inspect
    import re

    public = _models_public()
    assert len(public) > 60
    missing = [name for name, obj in public
               if not re.search(R_FUNCTION, inspect.getdoc(obj) or "")
               and "no r equivalent" not in (inspect.getdoc(obj) or "").lower()]
    assert not missing, f"docstrings naming no R function (write 'pkg::fun' or 'no R equivalent'): {missing}"
