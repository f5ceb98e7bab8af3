"""vccscale: measurement and hypothesis tests for value co-creation (VCC) research.

Public API (flat): ``load_registry`` / ``Registry`` (constructs, items, hypotheses) and ``lint_registry``.
Later stages (instrument, io, clean, validate, models, simulate, report) are added as modules of their own.
Heavy dependencies are imported lazily inside the functions that need them.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_registry", "Registry", "lint_registry", "VccscaleError"]


def __getattr__(name: str):  # lazy: `import vccscale` stays cheap
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
