"""Lazy package attributes (PEP 562): a public name imported from its submodule on first use."""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["lazy_attribute"]


def lazy_attribute(package: str, where: dict[str, str], namespace: dict[str, Any], name: str) -> Any:
    """``name`` of ``package``, taken from its submodule ``where[name]`` and kept in the package's ``namespace``
    (its ``globals()``) so that the next access does not come here; AttributeError for any other name."""
    sub = where.get(name)
    if sub is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{package}.{sub}"), name)
    namespace[name] = value
    return value
