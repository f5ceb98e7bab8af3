"""Data simulation from population SEMs and Monte Carlo power analysis.

``simulate_data(model, n, seed, ordinal=..., missing=..., careless=...)`` draws data with lavaan's
``simulateData`` conventions (``simulate_matrix``: the same draw as a numpy matrix, names and attrs);
``population_moments(model)`` gives the model-implied moments;
``power(model, targets, n, reps, seed, ...)`` -> :class:`PowerResult`; ``power_curve_plot(result, path)``;
``simulate_study(study, n, seed, out, ...)`` -> :class:`StudySimulation`: a pilot Qualtrics export of a study's
instrument drawn from the population model its chosen hypotheses imply (module ``vccscale.simulate.study``,
imported on first use); ``simulate_nested(model, n_clusters, cluster_size, seed, icc=...)``: respondents in
clusters from a two-level (``level:``) or ICC-split population model (:mod:`vccscale.simulate.nested`).
(The function ``power`` is bound after its submodule is imported, so ``vccscale.simulate.power`` is the
function; the module is ``sys.modules["vccscale.simulate.power"]``.)
"""
from __future__ import annotations

from .population import (
           PopulationModel,
           population_model,
           population_moments,
           simulate_data,
           simulate_matrix,
)
from .nested import nested_moments, simulate_nested
from .power import PowerResult, analysis_model, parse_target, power, power_curve_plot

_STUDY_NAMES = ("PlantedEffect", "StudySimulation", "simulate_study", "study_population")


def __getattr__(name: str):
    """The pilot-study names load ``vccscale.simulate.study`` (and the registry and instrument builder it uses)
    only when first used."""
    if name in _STUDY_NAMES:
        from . import study

        return getattr(study, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
           "PlantedEffect",
           "PopulationModel",
           "PowerResult",
           "StudySimulation",
           "analysis_model",
           "parse_target",
           "population_model",
           "population_moments",
           "power",
           "power_curve_plot",
           "simulate_data",
           "simulate_matrix",
           "nested_moments",
           "simulate_nested",
           "simulate_study",
           "study_population",
]
