"""Data simulation from population SEMs and Monte Carlo power analysis.

``simulate_data(model, n, seed, ordinal=..., missing=..., careless=...)`` draws data with lavaan's
``simulateData`` conventions; ``population_moments(model)`` gives the model-implied moments;
``power(model, targets, n, reps, seed, ...)`` -> :class:`PowerResult`; ``power_curve_plot(result, path)``.
(The function ``power`` is bound after its submodule is imported, so ``vccscale.simulate.power`` is the
function; the module is ``sys.modules["vccscale.simulate.power"]``.)
"""
from __future__ import annotations

from .population import (
           PopulationModel,
           population_model,
           population_moments,
           simulate_data,
)
from .power import PowerResult, analysis_model, parse_target, power, power_curve_plot

__all__ = [
           "PopulationModel",
           "PowerResult",
           "analysis_model",
           "parse_target",
           "population_model",
           "population_moments",
           "power",
           "power_curve_plot",
           "simulate_data",
]
