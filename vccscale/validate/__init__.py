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

from ._common import answered_rows
from .efa import (
                  BartlettResult,
                  EFAResult,
                  KMOResult,
                  ParallelResult,
                  bartlett,
                  efa,
                  kmo,
                  loading_table,
                  parallel_analysis,
)
from .invariance import InvarianceWorkflow, invariance_workflow
from .items import ItemAnalysis, item_analysis
from .quality import MeasurementQuality, htmt_blocks, measurement_quality
from .reliability import (
                  AlphaResult,
                  OmegaResult,
                  ReverseKeyWarning,
                  ave,
                  composite_reliability,
                  cronbach_alpha,
                  omega,
                  reliability_from_params,
                  reverse_items,
)
from .validity import (
                  FornellLarckerResult,
                  HarmanResult,
                  HTMTResult,
                  common_latent_factor,
                  cross_loadings,
                  fornell_larcker,
                  harman_single_factor,
                  htmt,
)

__all__ = [
                  "AlphaResult",
                  "BartlettResult",
                  "EFAResult",
                  "FornellLarckerResult",
                  "HTMTResult",
                  "HarmanResult",
                  "InvarianceWorkflow",
                  "ItemAnalysis",
                  "KMOResult",
                  "MeasurementQuality",
                  "OmegaResult",
                  "ParallelResult",
                  "ReverseKeyWarning",
                  "answered_rows",
                  "ave",
                  "bartlett",
                  "common_latent_factor",
                  "composite_reliability",
                  "cronbach_alpha",
                  "cross_loadings",
                  "efa",
                  "fornell_larcker",
                  "harman_single_factor",
                  "htmt",
                  "htmt_blocks",
                  "invariance_workflow",
                  "item_analysis",
                  "kmo",
                  "loading_table",
                  "measurement_quality",
                  "omega",
                  "parallel_analysis",
                  "reliability_from_params",
                  "reverse_items",
]
