"""Argument-order checks shared by the public functions (internal).

vccscale's functions take the data first (pingouin / statsmodels style: ``fit_cfa(data, model)``), lavaan takes
the model first (``cfa(model, data)``). Users coming from R type lavaan's order, so a public function taking
``(data, model)`` accepts both orders when they cannot be confused -- one argument a pandas DataFrame, the other
the lavaan syntax (a str) or a measurement dict -- and otherwise raises :class:`ArgumentOrderError` naming the
order it expects, instead of failing deep inside with ``'str' object has no attribute ...``.
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping

from .errors import DataError

__all__ = ["ArgumentOrderError", "data_and_model", "data_and_blocks", "items_and_n_factors", "data_first",
           "is_plain"]


class ArgumentOrderError(DataError, TypeError):
    """The arguments are of the wrong types for their positions (a DataError and a TypeError)."""


def _is_frame(x) -> bool:
    pd = sys.modules.get("pandas")  # not imported yet: nothing is a DataFrame (and pandas stays unimported)
    return pd is not None and isinstance(x, pd.DataFrame)


def is_plain(data) -> bool:
    """True for numeric columns held without pandas (:class:`vccscale.io.plain.Columns` and ``ArrayColumns``, the
    data types with a ``matrix`` method). Asked of the class: a DataFrame's own attribute lookup searches its
    columns first (0.3 ms a call, once per fit)."""
    return hasattr(type(data), "matrix")


def _describe(x) -> str:
    if isinstance(x, str):
        s = x.strip().splitlines()[0] if x.strip() else ""
        return f"a str ({s[:40]!r}{'...' if len(s) > 40 else ''})"
    return f"a {type(x).__name__}"


def data_and_model(data, model, call: str, *, model_types: tuple = (str,), what: str = "lavaan model syntax (a str)"):
    """``(data, model)`` in vccscale's order.

    lavaan's order ``call(model, data)`` -- a str (or another of ``model_types``) first and a DataFrame second --
    is swapped silently: the two cannot be confused. A path or file name given as data, or a DataFrame given as the
    model together with something that is not a model, raises :class:`ArgumentOrderError` naming
    ``call(data, model)``.
    """
    if _is_frame(data):
        return data, model
    if _is_frame(model):
        if isinstance(data, model_types):
            return model, data  # lavaan's order: cfa(model, data)
        raise ArgumentOrderError(f"{call}(data, model): the model argument is a DataFrame but data is "
                                 f"{_describe(data)}; pass the DataFrame first and the {what} second")
    if isinstance(data, (str, os.PathLike)):
        hint = ("it looks like model syntax: the data (a DataFrame) is missing"
                if isinstance(data, str) and any(op in data for op in ("=~", "~")) else
                "read the file first, e.g. vccscale.io.read(path) or pandas.read_csv(path)")
        raise ArgumentOrderError(f"{call}(data, model): data must be a pandas DataFrame, got {_describe(data)}; "
                                 f"{hint}")
    return data, model  # anything else: the function's own checks name the problem


def data_and_blocks(data, blocks, call: str, name: str = "blocks"):
    """``(data, blocks)`` with ``blocks`` a mapping construct -> item columns; ``call(blocks, data)`` is swapped."""
    if not _is_frame(data) and _is_frame(blocks) and isinstance(data, Mapping):
        return blocks, data
    if _is_frame(blocks):
        raise ArgumentOrderError(f"{call}(data, {name}): {name} is a DataFrame but data is {_describe(data)}; pass "
                                 f"the DataFrame first and the {name} (a dict construct -> item columns) second")
    return data, blocks


def items_and_n_factors(items, n_factors, call: str, default: int = 1):
    """``call(data, 2)`` means ``n_factors=2`` (psych's ``fa(r, 2)``); ``call(data, ["a", "b"], 2)`` and
    ``call(data, items=[...], n_factors=2)`` keep their meaning. Returns ``(items, n_factors)``."""
    import numbers

    if isinstance(items, numbers.Integral) and not isinstance(items, bool):
        if n_factors is not None:
            raise ArgumentOrderError(f"{call}(data, items=None, n_factors=...): got two numbers ({items} and "
                                     f"{n_factors}); items is a list of column names")
        return None, int(items)
    return items, default if n_factors is None else n_factors


def data_first(second: str = "model", *, blocks: bool = False, model_types: tuple = (str,),
               what: str = "lavaan model syntax (a str)"):
    """Decorator for a public ``func(data, <second>, ...)``: accepts lavaan's order ``func(model, data)`` and
    ``func(model, data=df)`` (the usual R call ``cfa(model, data = df)``), checks the two arguments with
    :func:`data_and_model` (or :func:`data_and_blocks` when ``blocks``) and calls ``func(data, second, ...)``."""

    def deco(func):
        name = func.__name__

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            args = list(args)
            if args and "data" in kwargs and second not in kwargs:
                args.insert(0, kwargs.pop("data"))  # func(model, data=df)
            if len(args) >= 2:
                a, b = args[0], args[1]
            elif len(args) == 1 and second in kwargs:
                a, b = args[0], kwargs[second]
            else:
                return func(*args, **kwargs)
            if blocks:
                a, b = data_and_blocks(a, b, name, second)
            else:
                a, b = data_and_model(a, b, name, model_types=model_types, what=what)
            if len(args) >= 2:
                args[0], args[1] = a, b
            else:
                args[0], kwargs[second] = a, b
            return func(*args, **kwargs)

        kind = "dict" if blocks else what.split(" (")[-1].rstrip(")")
        wrapper.__doc__ = (func.__doc__ or "").rstrip() + (
            f"\n\n    Argument order: ``{name}(data, {second}, ...)``; lavaan's order ``{name}({second}, data, ...)`` "
            f"(or ``{name}({second}, data=df)``) is accepted too, since a DataFrame and {kind} cannot be confused.\n")
        return wrapper

    return deco
