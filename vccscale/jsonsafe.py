"""The one JSON cleaner of vccscale: :func:`jsonable` turns results into values ``json.dumps(..., allow_nan=False)``
accepts, and :func:`snake_keys` is the one place where lavaan's dotted fit-measure names (``rmsea.ci.lower``)
become the snake_case keys (``rmsea_ci_lower``) of the JSON outputs that promise them.

Inside the library fit measures keep lavaan's names (``FitResult.fit``, measurement and invariance tables); the
conversion happens only when a JSON form is written.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["jsonable", "snake_key", "snake_keys"]


def jsonable(v: Any, digits: int | None = None) -> Any:
    """A JSON-ready copy of ``v``.

    * dicts -> dicts with ``str`` keys, lists and tuples -> lists (recursively);
    * ``bool`` / ``numpy.bool_`` -> ``bool``; integers (also numpy) -> ``int``;
    * floats (also numpy) -> ``float``, NaN and +-inf -> ``None``; with ``digits``, rounded to that many
      significant digits (``float(f"{x:.{digits}g}")``);
    * ``Path`` -> its POSIX string; ``None`` and strings unchanged; pandas' missing values (``NA``, ``NaT``)
      -> ``None``; anything else -> ``str(v)``.
    """
    if isinstance(v, dict):
        return {str(k): jsonable(x, digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x, digits) for x in v]
    if v is None or isinstance(v, str):
        return v
    import numpy as np

    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return None
        return float(f"{f:.{digits}g}") if digits is not None else f
    if isinstance(v, Path):
        return v.as_posix()
    try:  # pandas NA / NaT
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def snake_key(name: str) -> str:
    """lavaan's dotted measure name as a snake_case key: ``rmsea.ci.lower`` -> ``rmsea_ci_lower``."""
    return str(name).replace(".", "_")


def snake_keys(d: dict) -> dict:
    """``d`` with every key through :func:`snake_key` (one level; values unchanged)."""
    return {snake_key(k): v for k, v in d.items()}
