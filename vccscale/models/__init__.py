"""Structural models and hypothesis tests (issues 7 and 8).

- :mod:`vccscale.models.library`: lavaan syntax generated from the registry for the chosen hypotheses
  (measurement part from the items, labelled structural paths, ``:=`` indirect/total effects) and the plan that
  maps each hypothesis to the parameters or model comparisons that test it;
- :mod:`vccscale.models.hypotheses`: ``test_hypotheses(study, data, registry)`` with Holm / Benjamini-Hochberg
  adjustment and supported / partial / not_supported / not_tested decisions;
- :mod:`vccscale.models.mediation` / :mod:`vccscale.models.moderation`: mediation (composite OLS and latent SEM),
  moderated mediation, simple slopes, Johnson-Neyman; both on the composite path-model machinery of
  :mod:`vccscale.models.pathmodel` (OLS equations, bootstrap / jackknife / Monte Carlo inference, the result type);
- :mod:`vccscale.models.rsa`: polynomial regression with response surface analysis and its plots;
- :mod:`vccscale.models.multilevel`: ICC(1)/ICC(2), rwg/rwg(j), AD indices, aggregation table, mixed models;
- :mod:`vccscale.models.dyadic`: pairing provider and customer responses, agreement, congruence RSA, APIM.
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
                      LatentInteractionResult,
                      ModeratedMediationResult,
                      johnson_neyman,
                      latent_interaction,
                      moderated_mediation,
                      simple_slopes,
)

__all__ += [
                      "JohnsonNeymanResult",
                      "LatentInteractionResult",
                      "MediationResult",
                      "ModeratedMediationResult",
                      "boot_ci",
                      "johnson_neyman",
                      "latent_interaction",
                      "latent_syntax",
                      "mediate",
                      "mediate_latent",
                      "moderated_mediation",
                      "norm_inter",
                      "simple_slopes",
]

# response surfaces, multilevel agreement and mixed models, dyadic data (issue 8)
from .dyadic import (
                      DUPLICATE_RULES,
                      ApimResult,
                      PairedDyads,
                      PairingReport,
                      agreement,
                      apim,
                      apim_syntax,
                      dyadic_invariance,
                      dyadic_invariance_syntax,
                      congruence_rsa,
                      pair_dyads,
)
from .multilevel import (
                      NULL_VARIANCES,
                      AgreementResult,
                      ICCResult,
                      MixedModelResult,
                      MixedModelWarning,
                      ad_index,
                      aggregation_table,
                      icc,
                      mixed_model,
                      multilevel_summary,
                      null_variance,
                      rwg,
                      rwg_j,
)
from .rsa import CONSTRAINED_MODELS, RSAResult, contour_plot, rsa, surface_plot

__all__ += ["DUPLICATE_RULES", "ApimResult", "PairedDyads", "PairingReport", "agreement", "apim", "apim_syntax",
            "dyadic_invariance", "dyadic_invariance_syntax",
            "congruence_rsa", "pair_dyads", "NULL_VARIANCES", "AgreementResult", "ICCResult", "MixedModelResult",
            "MixedModelWarning", "ad_index", "aggregation_table", "icc", "mixed_model", "multilevel_summary",
            "null_variance", "rwg", "rwg_j", "CONSTRAINED_MODELS", "RSAResult", "contour_plot", "rsa", "surface_plot"]

# latent interactions, ordinal regression, necessary condition analysis (issue 17)
from .nca import NCAResult, nca, nca_plot
from .ordinal import BrantResult, OrdinalResult, brant_test, ordinal_regression

__all__ += ["NCAResult", "nca", "nca_plot", "BrantResult", "OrdinalResult", "brant_test", "ordinal_regression"]
