"""vccscale: measurement and hypothesis tests for value co-creation (VCC) research.

Public API (flat): ``load_registry`` / ``Registry`` (constructs, items, hypotheses) and ``lint_registry``.
The stages are subpackages, imported on first access so that ``import vccscale`` (and ``vccscale --help``) stays
cheap -- no pandas, scipy, semopy or pingouin until a stage is used::

    import vccscale
    res = vccscale.sem.fit_cfa(df, "f =~ x1 + x2 + x3")   # imports vccscale.sem here

``instrument`` (registry -> Qualtrics QSF, codebook, questionnaire), ``io`` (read exports), ``clean`` (cleaning and
careless-responding screens, scoring), ``validate`` (item analysis, reliability, EFA, validity, CMB), ``sem`` (the
lavaan-parity CFA/SEM engine), ``models`` (hypothesis models, mediation, moderation, RSA, multilevel, dyadic,
NCA, ordinal), ``simulate`` (planted-effect data, power), ``report`` (tables, figures, the HTML report) and ``pipeline``
(the study-file runner). The module map is in the README.
"""
from __future__ import annotations

__version__ = "0.1.0"

#: subpackages exposed lazily as attributes of ``vccscale``
SUBPACKAGES = ("sem", "validate", "models", "clean", "io", "instrument", "simulate", "report", "pipeline")

__all__ = ["__version__", "load_registry", "Registry", "lint_registry", "VccscaleError", *SUBPACKAGES]


def __getattr__(name: str):  # lazy: `import vccscale` stays cheap
    if name in SUBPACKAGES:
        import importlib

        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    if name in ("load_registry", "Registry", "default_registry_dir"):
        from . import registry
        return getattr(registry, name)
    if name == "lint_registry":
        from .lint import lint_registry
        return lint_registry
    if name == "VccscaleError":
        from .errors import VccscaleError
        return VccscaleError
    raise AttributeError(f"module 'vccscale' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
