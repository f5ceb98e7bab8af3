"""``vccscale run``: every stage of a study, from the export to the report, into one output folder.

``run_study(study_path, only=None, from_stage=None, out=None, registry=None, progress=True) -> RunResult`` runs
the stages of :data:`STAGES` and writes the files of the output-folder contract (stages/<stage>.json with status,
summary and notes; tables/*.csv; figures/*.png|svg; data/*.json results; manifest.json; report.html).

Every stage ends ``ok``, ``skipped`` (with the reason: switched off in the study file, nothing to do for this
design) or ``failed`` (with the cause and what to change); the report shows all three. Each stage can be switched
off or configured in its study-file section (``items``, ``efa``, ``cfa``, ``reliability``, ``validity``,
``invariance``, ``models``, ``rsa``, ``multilevel``, ``power``; see docs/study-file.md).

Caching: a stage's inputs hash covers its study sections, the hashes of the stages it depends on, the vccscale
version and the registry's content, and (import) the sha256 of the input files; it is stored with the list of the
stage's outputs in OUT/.cache/<stage>.json. A stage whose hash is unchanged and whose outputs exist is not run
again. ``only`` runs one stage (upstream results are read from their files), ``from_stage`` reruns that stage and
every later one.

Determinism: every random step is seeded from ``study.seed``; floats are written with a fixed number of
significant digits, rows sorted, SVGs written with a fixed hash salt and no date. Only the manifest's
``started``/``finished``/``run_seconds`` and the stage files' ``seconds`` change between identical runs.

``init_study(name, parent_dir)`` scaffolds a new study folder.

Modules: :mod:`.runner` (the loop, caching, manifest), :mod:`.context` (what a stage reads: study, registry, the
cleaned data in analysis form, construct blocks and groups), :mod:`.stages` (one function per stage: it calls the
library and writes tables), :mod:`.templates` (``init``).
"""
from __future__ import annotations

STAGES = ("import", "clean", "items", "efa", "cfa", "reliability", "validity", "invariance", "hypotheses", "rsa",
          "multilevel", "power")

__all__ = ["STAGES", "RunResult", "StageRecord", "init_study", "run_study"]


def __getattr__(name: str):
    if name in ("RunResult", "StageRecord", "run_study"):
        from . import runner

        return getattr(runner, name)
    if name == "init_study":
        from .templates import init_study

        return init_study
    raise AttributeError(f"module 'vccscale.pipeline' has no attribute {name!r}")
