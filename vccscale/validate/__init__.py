"""Scale validation: item analysis, reliability, exploratory factor analysis, discriminant validity, CMB checks.

Every function takes a DataFrame plus column names (pingouin style) and returns a DataFrame or a small frozen
results object with ``.to_frame()`` and ``.to_dict()``; each docstring states the definition and the R call it
reproduces (psych 2.2.9, GPArotation 2022.10, semTools 0.5-6, lavaan 0.6-14). Numerics are numpy/scipy only:
factor_analyzer 0.5.1 breaks with scikit-learn >= 1.6 while pingouin 0.7 needs scikit-learn >= 1.6.1, and
neither adds anything needed here, so neither is a dependency (details in :mod:`vccscale.validate.efa`). pingouin
is an optional extra (``vccscale[pingouin]``, in the ``test`` extra) used only to cross-check alpha, the ICCs, the
marker adjustment and simple mediation (tests/test_engine_crosscheck.py).

CFA-based quantities (CR/AVE of a multi-factor CFA, the common-latent-factor comparison) take the fitted
model's parameter table from the ``vccscale.sem`` engine: :func:`reliability_from_params`,
:func:`common_latent_factor`. :func:`measurement_quality` is the one function for alpha, CR, AVE, HTMT and
Fornell-Larcker of a fitted CFA (model-implied variances by default; the CLI and the pipeline call it).

n: a row on which every selected item is missing is not a respondent of the scale (on a wide export with
provider and customer versions, it is the other version's respondent). Item analysis, alpha, omega, KMO,
Bartlett, parallel analysis and EFA leave such rows out and report how many (``n_rows_without_answers``), where
psych counts ``nrow(x)``; see :func:`answered_rows`.
"""
from __future__ import annotations

import sys
import types

from .._lazy import lazy_attribute

#: public name -> submodule (imported on first use, so that `import vccscale.validate` stays cheap: the EFA
#: module alone imports scipy.optimize)
_WHERE = {
    "AlphaResult": "reliability",
    "BartlettResult": "efa",
    "EFAResult": "efa",
    "FornellLarckerResult": "validity",
    "HTMTResult": "validity",
    "HarmanResult": "validity",
    "InvarianceWorkflow": "invariance",
    "ItemAnalysis": "items",
    "KMOResult": "efa",
    "MeasurementQuality": "quality",
    "OmegaResult": "reliability",
    "ParallelResult": "efa",
    "ReverseKeyWarning": "reliability",
    "answered_rows": "_common",
    "ave": "reliability",
    "bartlett": "efa",
    "common_latent_factor": "validity",
    "composite_reliability": "reliability",
    "cronbach_alpha": "reliability",
    "cross_loadings": "validity",
    "efa": "efa",
    "fornell_larcker": "validity",
    "harman_single_factor": "validity",
    "htmt": "validity",
    "htmt_blocks": "quality",
    "invariance_workflow": "invariance",
    "item_analysis": "items",
    "kmo": "efa",
    "loading_table": "efa",
    "measurement_quality": "quality",
    "omega": "reliability",
    "parallel_analysis": "efa",
    "reliability_from_params": "reliability",
    "reverse_items": "reliability",
}

__all__ = sorted(_WHERE)


class _Package(types.ModuleType):
    """The package's module type: importing the submodule ``efa`` binds the package attribute ``efa`` to the
    module (the import system does that after loading it); the public ``vccscale.validate.efa`` is the function, as
    it was when this package imported everything up front, so the function is kept."""

    def __setattr__(self, name: str, value) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    return lazy_attribute(__name__, _WHERE, globals(), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
