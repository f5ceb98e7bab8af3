"""User errors of vccscale.sem: each is a ModelError / DataError that says what is wrong and what to change."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vccscale.errors import DataError, ModelError, VccscaleError
from vccscale.sem import fit_cfa, fit_sem

REF = Path(__file__).resolve().parent / "reference" / "validate"
HS_MODEL = "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"


@pytest.fixture(scope="module")
def hs():
    path = REF / "HolzingerSwineford1939.csv"
    if path.exists():
        return pd.read_csv(path)
    rng = np.random.default_rng(1)  # a stand-in with the same layout
    f = rng.normal(size=(301, 3))
    x = np.repeat(f, 3, axis=1) + rng.normal(size=(301, 9))
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(1, 10)])
    df["school"] = np.where(rng.random(301) < .5, "Pasteur", "Grant-White")
    return df


def test_missing_columns_are_listed(hs):
    with pytest.raises(ModelError) as exc:
        fit_cfa(hs, "f =~ x1 + x2 + foo + bar")
    assert "foo, bar" in str(exc.value) and "not columns of the data" in str(exc.value)


def test_non_numeric_item(hs):
    with pytest.raises(DataError, match="school are not numeric"):
        fit_cfa(hs, "f =~ x1 + x2 + school")


def test_constant_item(hs):
    with pytest.raises(DataError, match="x1 are constant"):
        fit_cfa(hs.assign(x1=1.0), "f =~ x1 + x2 + x3")


def test_non_positive_definite_covariance(hs):
    data = hs.assign(total=hs.x1 + hs.x2)
    with pytest.raises(DataError) as exc:
        fit_cfa(data, "f =~ x1 + x2 + total + x3")
    msg = str(exc.value)
    assert "not positive definite" in msg and "total" in msg


def test_too_few_cases_states_the_rule(hs):
    with pytest.raises(DataError, match=r"N > npar"):
        fit_cfa(hs.head(12), HS_MODEL)
    with pytest.raises(DataError, match=r"N > p"):
        fit_cfa(hs.head(8), HS_MODEL)


def test_negative_df(hs):
    with pytest.raises(ModelError, match=r"4 free parameters but the data give only 3 sample moments"):
        fit_cfa(hs, "f =~ x1 + x2")


def test_unidentified_model_names_parameters(hs):
    with pytest.raises(ModelError) as exc:
        fit_cfa(hs, "f1 =~ x1 + x2 + x3\n f2 =~ x4 + x5\n f1 ~~ 0*f2")
    msg = str(exc.value)
    assert "not identified" in msg and "f2 =~ x5" in msg


def test_non_convergence_is_an_error_not_a_result(hs, monkeypatch):
    import vccscale.sem.fit as fit_module

    monkeypatch.setattr(fit_module, "GRAD_TOL", 0.0)
    monkeypatch.setattr(fit_module, "DECREMENT_TOL", 0.0)
    monkeypatch.setattr(fit_module, "STALL_TOL", 0.0)
    with pytest.raises(ModelError, match="did not converge"):
        fit_cfa(hs, "f =~ x1 + x2 + x3")


def test_syntax_error_names_line(hs):
    with pytest.raises(ModelError, match="line 2"):
        fit_cfa(hs, "f =~ x1 + x2 + x3\n f = x4")


def test_bad_arguments(hs):
    with pytest.raises(ModelError, match="estimator must be one of ML, MLR"):
        fit_cfa(hs, "f =~ x1 + x2 + x3", estimator="GLS")
    with pytest.raises(ModelError, match="is for ordered indicators"):
        fit_cfa(hs, "f =~ x1 + x2 + x3", estimator="WLSMV")
    with pytest.raises(ModelError, match="needs a multigroup model"):
        fit_cfa(hs, "f =~ x1 + x2 + x3", group_equal=["loadings"])
    with pytest.raises(DataError, match="not in the data"):
        fit_cfa(hs, "f =~ x1 + x2 + x3", group="nogroup")
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        fit_cfa(hs.to_numpy(), "f =~ x1 + x2 + x3")


def test_errors_share_the_base_class(hs):
    with pytest.raises(VccscaleError):
        fit_sem(hs, "y ~ a*x1\n d := a*q")


def test_listwise_deletion_is_reported(hs):
    data = hs.copy()
    data.loc[:4, "x1"] = np.nan
    res = fit_cfa(data, HS_MODEL)
    assert res.n_dropped == 5
    assert res.nobs == [len(hs) - 5]
    assert res.fit["ntotal"] == len(hs) - 5


@pytest.mark.parametrize("missing", ["listwise", "fiml"])
@pytest.mark.parametrize("scale", [1e200, pytest.param(-1e3, marks=pytest.mark.slow), 1e-200])
def test_hopeless_start_is_a_model_error_without_numpy_noise(hs, missing, scale):
    """Start values that imply an overflowing, indefinite or singular Sigma: the search rejects such points, so the
    outcome is the ModelError that says the estimation did not converge -- not numpy's "Matrix is not positive
    definite" from a gradient at an unchecked trial point, and no RuntimeWarning (overflow in matmul, invalid value
    in slogdet) on stderr."""
    import warnings

    from vccscale.sem.fit import Engine, FIMLEngine, estimate, prepare_groups, start_values
    from vccscale.sem.model import build_partable

    d = hs[[f"x{i}" for i in range(1, 10)]]
    d = d.mask(np.random.default_rng(1).random(d.shape) < 0.1)
    pt = build_partable(HS_MODEL, meanstructure=True)
    if missing == "fiml":
        eng = FIMLEngine(pt, prepare_groups(d, pt.ov_names, None, missing="fiml")[0])
    else:
        eng = Engine(pt, prepare_groups(d.dropna(), pt.ov_names, None)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModelError, match="did not converge"):
            estimate(eng, start=start_values(eng) * scale)
        assert np.isfinite(estimate(eng).theta).all()  # and the usual start still converges
