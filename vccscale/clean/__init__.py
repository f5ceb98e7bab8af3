"""Audited screening and cleaning of imported survey data.

``clean(dataset, config)`` applies the screening rules of the study file's ``cleaning:`` section in order and
returns a :class:`CleanResult`: the kept responses as a new Dataset (raw data is never modified), an audit log
with one row per respondent and rule, a CONSORT-style count table and the careless-responding indices.
``construct_scores`` (and its frame, ``score_scales``) reverse-keys items from the codebook and computes scale
scores with the one scale-score rule, ``scale_score`` (:mod:`vccscale.clean.scoring`); ``missing_report``,
``little_mcar`` and ``impute_mice`` handle missing data. Index definitions (longstring, IRV, Mahalanobis D²,
even-odd, person-total) are in :mod:`vccscale.clean.indices`.
"""
from __future__ import annotations

__all__ = ["clean", "CleanResult", "screen_indices", "score_scales", "construct_scores", "scale_score",
           "block_score", "ScaleScores", "reverse_key", "missing_report", "little_mcar", "impute_mice"]


def __getattr__(name: str):  # lazy: pandas is imported only when cleaning is used
    if name in ("clean", "CleanResult", "screen_indices"):
        from . import pipeline
        return getattr(pipeline, name)
    if name in ("score_scales", "construct_scores", "scale_score", "block_score", "ScaleScores", "reverse_key"):
        from . import scoring
        return getattr(scoring, name)
    if name in ("missing_report", "little_mcar", "impute_mice"):
        from . import missing
        return getattr(missing, name)
    raise AttributeError(f"module 'vccscale.clean' has no attribute {name!r}")
