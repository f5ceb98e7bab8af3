"""CFA / SEM with lavaan parity (lavaan 0.6-14 defaults): ``fit_cfa``, ``fit_sem`` -> :class:`FitResult`.

Submodules: ``syntax`` (lavaan model-syntax parser), ``model`` (parameter table with lavaan's defaults), ``fit``
(ML estimation: Fisher scoring), ``measures`` (``fitMeasures``), ``results`` (parameter table, standardized
solution, R², modification indices), ``robust`` (MLR: Huber-White SEs, Yuan-Bentler scaled test),
``semopy_engine`` (``fit_cfa(..., engine="semopy")``: the optional semopy 2.3.11 estimates the same model, refined
to lavaan's optimum; imported only on such a fit).
Imports are lazy so that ``import vccscale.sem`` stays cheap.
"""
from __future__ import annotations

__all__ = ["fit_cfa", "fit_sem", "FitResult", "BootstrapResult", "bootstrap", "Refitter", "parse_model",
           "build_partable", "chisq_difference", "SemopyEngineWarning", "monte_carlo_ci", "MonteCarloResult"]


def __getattr__(name: str):
    if name in ("fit_cfa", "fit_sem"):
        from . import api
        return getattr(api, name)
    if name == "FitResult":
        from .results import FitResult
        return FitResult
    if name in ("bootstrap", "BootstrapResult", "Refitter", "monte_carlo_ci", "MonteCarloResult"):
        from . import resample
        return getattr(resample, name)
    if name == "chisq_difference":
        from .compare import chisq_difference
        return chisq_difference
    if name == "SemopyEngineWarning":  # importing semopy_engine does not import semopy
        from .semopy_engine import SemopyEngineWarning
        return SemopyEngineWarning
    if name == "parse_model":
        from .syntax import parse_model
        return parse_model
    if name == "build_partable":
        from .model import build_partable
        return build_partable
    raise AttributeError(f"module 'vccscale.sem' has no attribute {name!r}")
