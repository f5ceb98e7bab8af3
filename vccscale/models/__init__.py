"""Structural models and hypothesis tests (issue 7).

- :mod:`vccscale.models.library`: lavaan syntax generated from the registry for the chosen hypotheses
  (measurement part from the items, labelled structural paths, ``:=`` indirect/total effects) and the plan that
  maps each hypothesis to the parameters or model comparisons that test it;
- :mod:`vccscale.models.hypotheses`: ``test_hypotheses(study, data, registry)`` with Holm / Benjamini-Hochberg
  adjustment and supported / partial / not_supported / not_tested decisions.
"""
from __future__ import annotations

from .hypotheses import (
                      DECISIONS,
                      HypothesisResult,
                      p_adjust,
                      results_frame,
                      test_hypotheses,
)
from .library import (
                      Component,
                      HypothesisPlan,
                      ModelSpec,
                      build_model,
                      family_models,
                      plan_hypothesis,
                      select_hypotheses,
)

__all__ = [
                      "DECISIONS",
                      "Component",
                      "HypothesisPlan",
                      "HypothesisResult",
                      "ModelSpec",
                      "build_model",
                      "family_models",
                      "p_adjust",
                      "plan_hypothesis",
                      "results_frame",
                      "select_hypotheses",
                      "test_hypotheses",
]

# mediation / moderation (composite OLS and latent SEM)
from .mediation import (
                      MediationResult,
                      boot_ci,
                      latent_syntax,
                      mediate,
                      mediate_latent,
                      norm_inter,
)
from .moderation import (
                      JohnsonNeymanResult,
                      ModeratedMediationResult,
                      johnson_neyman,
                      moderated_mediation,
                      simple_slopes,
)

__all__ += [
                      "JohnsonNeymanResult",
                      "MediationResult",
                      "ModeratedMediationResult",
                      "boot_ci",
                      "johnson_neyman",
                      "latent_syntax",
                      "mediate",
                      "mediate_latent",
                      "moderated_mediation",
                      "norm_inter",
                      "simple_slopes",
]
