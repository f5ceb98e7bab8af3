"""Population models and data simulation with lavaan's ``simulateData`` conventions (lavaan 0.6-14).

The population model is lavaan syntax whose **fixed** coefficients are the population values. Values that the
syntax does not give are filled in exactly as ``lavaan::simulateData(model, standardized = FALSE)`` does
(``R/lav_simulate_old.R``, checked against lavaan 0.6-14's source):

* the table is built with ``std.lv = TRUE``, ``auto.fix.first = FALSE``, ``auto.fix.single = FALSE``,
  ``fixed.x = FALSE``, ``meanstructure = FALSE``: latent variances (residual variances of endogenous latent
  variables) are 1, no marker loading is fixed;
* an unspecified loading is 1 (0.7 with ``standardized=True``);
* an unspecified variance (observed residual variance, latent variance, variance of an exogenous observed
  variable) is 1;
* an unspecified regression coefficient is 0 (with a warning, as lavaan);
* everything else (covariances, intercepts, means) is 0.

So with the default ``standardized=False`` observed variables do **not** have unit variance: ``y ~ 0.3*x`` gives
var(y) = 0.3² + 1. With ``standardized=True`` lavaan's two-stage rescaling is reproduced: the residual variances
of endogenous latent variables are set to 1 - (their variance with zero residual), then the residual variances
of the observed variables (not exogenous covariates) to 1 - (their implied variance); for a single layer of
latent regressions every variable then has variance 1 (lavaan's recipe is not exact for chains of latent
regressions, and neither is this one).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError, ModelError
from ..sem.model import ParTable, build_partable

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PopulationModel", "draw_mvnorm", "implied_moments", "population_model", "population_moments",
           "simulate_data", "simulate_matrix"]


@dataclass(frozen=True)
class PopulationModel:
    """The population parameter table: ``rows`` (dicts with lhs, op, rhs, label, user, value), variable names,
    model-implied moments of the observed variables (``names``, ``mean``, ``cov``) and of all variables."""

    model: str
    rows: tuple
    ov_names: tuple
    lv_names: tuple
    ov_x: tuple
    mean: np.ndarray
    cov: np.ndarray
    standardized: bool

    def value(self, lhs: str, op: str, rhs: str) -> float:
        for r in self.rows:
            if r["op"] == op and ((r["lhs"], r["rhs"]) == (lhs, rhs) or
                                  (op == "~~" and (r["rhs"], r["lhs"]) == (lhs, rhs))):
                return r["value"]
        raise KeyError(f"{lhs} {op} {rhs}")

    def label_values(self) -> dict[str, float]:
        return {r["label"]: r["value"] for r in self.rows if r["label"]}


def _pure_ov_x(pt: ParTable) -> list[str]:
    lv = set(pt.lv_names)
    ind = {r["rhs"] for r in pt.rows if r["op"] == "=~"}
    ys = {r["lhs"] for r in pt.rows if r["op"] == "~"}
    xs = [r["rhs"] for r in pt.rows if r["op"] == "~"]
    out = []
    for v in xs:
        if v not in lv and v not in ind and v not in ys and v not in out:
            out.append(v)
    return out


def implied_moments(rows: list[dict], names: list[str]):
    """Covariance and mean of all variables (``names`` = observed + latent) from RAM matrices."""
    pos = {v: i for i, v in enumerate(names)}
    k = len(names)
    A, P, m = np.zeros((k, k)), np.zeros((k, k)), np.zeros(k)
    for r in rows:
        op, v = r["op"], r["value"]
        if op == "=~":
            A[pos[r["rhs"]], pos[r["lhs"]]] = v
        elif op == "~":
            A[pos[r["lhs"]], pos[r["rhs"]]] = v
        elif op == "~~":
            P[pos[r["lhs"]], pos[r["rhs"]]] = v
            P[pos[r["rhs"]], pos[r["lhs"]]] = v
        elif op == "~1":
            m[pos[r["lhs"]]] = v
    try:
        B = np.linalg.inv(np.eye(k) - A)
    except np.linalg.LinAlgError:
        raise ModelError("the regressions of the population model have no solution (I - B is singular): check "
                         "for feedback loops") from None
    return B @ P @ B.T, B @ m


def population_model(model: str, standardized: bool = False) -> PopulationModel:
    """Parse ``model`` and fill in the population values (lavaan ``simulateData`` conventions, see module doc)."""
    if isinstance(model, PopulationModel):
        return model
    if not isinstance(model, str):
        raise ModelError(f"model must be lavaan syntax (str), got {type(model).__name__}")
    pt = build_partable(model, model_type="sem", std_lv=True, fixed_x=False)
    if pt.ngroups != 1:
        raise ModelError("simulate_data supports single-group population models only")
    rows, unspecified_reg = [], []
    for r in pt.rows:
        user_fixed = r["user"] == 1 and not r["free"] and r["ustart"] is not None
        if user_fixed:
            v = float(r["ustart"])
        elif r["op"] == "=~":
            v = 0.7 if standardized else 1.0
        elif r["op"] == "~~" and r["lhs"] == r["rhs"]:
            v = 1.0
        else:
            v = 0.0
            if r["op"] == "~":
                unspecified_reg.append(f"{r['lhs']} ~ {r['rhs']}")
        rows.append({"lhs": r["lhs"], "op": r["op"], "rhs": r["rhs"], "label": r["label"], "user": r["user"],
                     "user_fixed": user_fixed, "value": v})
    if unspecified_reg:
        warnings.warn("some regression coefficients are unspecified and are set to zero: "
                      + ", ".join(unspecified_reg), stacklevel=2)
    ov, lv = list(pt.ov_names), list(pt.lv_names)
    names = ov + lv
    ov_x = _pure_ov_x(pt)
    if standardized:
        lv_nox = set(pt.lv_endo)
        ov_nox = set(ov) - set(ov_x)
        lv_var = [i for i, r in enumerate(rows) if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in lv_nox]
        ov_var = [i for i, r in enumerate(rows) if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in ov_nox]
        if any(rows[i]["user"] for i in lv_var + ov_var):
            warnings.warn("if residual variances are specified, please use standardized=False (as lavaan)",
                          stacklevel=2)
        for i in lv_var + ov_var:
            rows[i]["value"] = 0.0
        if lv_var:
            cov, _ = implied_moments(rows, names)
            for i in lv_var:
                j = names.index(rows[i]["lhs"])
                rows[i]["value"] = 1.0 - cov[j, j]
        cov, _ = implied_moments(rows, names)
        for i in ov_var:
            j = names.index(rows[i]["lhs"])
            rows[i]["value"] = 1.0 - cov[j, j]
    cov, mean = implied_moments(rows, names)
    return PopulationModel(model=model, rows=tuple(rows), ov_names=tuple(ov), lv_names=tuple(lv), ov_x=tuple(ov_x),
                           mean=mean, cov=cov, standardized=standardized)


def population_moments(model: str | PopulationModel, standardized: bool = False, latent: bool = False):
    """Model-implied moments of the population model: ``(names, mean, cov)`` of the observed variables (in
    lavaan's variable order), or of observed + latent variables when ``latent=True``."""
    pop = population_model(model, standardized)
    k = len(pop.ov_names) if not latent else len(pop.ov_names) + len(pop.lv_names)
    names = list(pop.ov_names) + (list(pop.lv_names) if latent else [])
    return names, pop.mean[:k].copy(), pop.cov[:k, :k].copy()


# ---------------------------------------------------------------------------------------------------- data
def draw_mvnorm(rng: np.random.Generator, n: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh((cov + cov.T) / 2)
    if np.min(w) < -1e-8 * max(1.0, float(np.max(np.abs(w)))):
        raise ModelError("the population covariance matrix is not positive semi-definite: check the population "
                         "values (e.g. a standardized loading or path above 1)")
    L = V * np.sqrt(np.clip(w, 0, None))
    return mean + rng.standard_normal((n, len(mean))) @ L.T


def _share(spec: dict, key: str) -> float:
    s = spec.get(key, 0.0) or 0.0
    if not isinstance(s, (int, float)) or not 0 <= s < 1:
        raise DataError(f"{key} must be a share in [0, 1), got {s!r}", field=key)
    return float(s)


def _ordinal(X: np.ndarray, mean: np.ndarray, sd: np.ndarray, ordinal: dict) -> np.ndarray:
    from ..sem._dist import norm_ppf

    if "thresholds" in ordinal:
        th = np.sort(np.asarray(ordinal["thresholds"], float))
        if th.ndim != 1 or th.size == 0:
            raise DataError("ordinal thresholds must be a non-empty list of numbers", field="ordinal")
    elif "points" in ordinal:
        k = int(ordinal["points"])
        if k < 2:
            raise DataError("ordinal points must be at least 2", field="ordinal")
        th = norm_ppf(np.arange(1, k) / k)
    else:
        raise DataError('ordinal must be {"thresholds": [...]} or {"points": k}', field="ordinal")
    Z = (X - mean) / np.where(sd > 0, sd, 1.0)
    return (np.searchsorted(th, Z, side="right") + 1).astype(float)


def simulate_data(model: str | PopulationModel, n: int, seed=None, *, ordinal: dict | None = None,
                  missing: dict | None = None, careless: dict | None = None, standardized: bool = False,
                  columns: list[str] | None = None) -> pd.DataFrame:
    """Draw ``n`` respondents from the population model (multivariate normal, as ``simulateData``).

    Parameters
    ----------
    model : str
        lavaan syntax; fixed coefficients are the population values (conventions: module docstring).
    n : int
        Number of rows.
    seed : int, numpy SeedSequence or Generator, optional
        One ``numpy.random.Generator`` is made from it per call; the same seed gives the same data.
    ordinal : dict, optional
        ``{"points": k}`` cuts every observed variable into ``k`` categories 1..k with equal marginal
        probabilities; ``{"thresholds": [t1, ...]}`` cuts at the given thresholds on the standardized (z) scale
        of each variable (categories 1..len+1). ``"columns"`` restricts either to some variables.
    missing : dict, optional
        ``{"mcar": share}``: exactly round(share * n * p) cells of the observed variables, chosen at random, are
        set to NaN. ``{"mar": share, "on": column}``: in every other variable exactly round(share * n) cells are
        set to NaN, rows drawn without replacement with probability proportional to logistic(z of ``on``), so
        missingness rises with ``on`` (which stays complete).
    careless : dict, optional
        ``{"straightliners": share, "random": share}``: disjoint sets of round(share * n) respondents. A
        straightliner gives one value to every variable (a random category when ordinal, else one value drawn
        from the first variable's marginal distribution, in z units applied to each variable); a random
        responder answers every variable independently (uniform over the categories when ordinal, else from
        each variable's marginal normal). The row indices are in ``df.attrs["careless"]``.
    standardized : bool
        lavaan's ``standardized=TRUE`` (unit variances; see module docstring).
    columns : list of str, optional
        Return only these variables (default: all observed variables, lavaan's order).
    """
    import pandas as pd

    X, names, attrs = simulate_matrix(model, n, seed, ordinal=ordinal, missing=missing, careless=careless,
                                      standardized=standardized)
    df = pd.DataFrame(X, columns=names)
    if columns is not None:
        df = df[list(columns)]
    df.attrs.update(attrs)
    return df


def simulate_matrix(model: str | PopulationModel, n: int, seed=None, *, ordinal: dict | None = None,
                    missing: dict | None = None, careless: dict | None = None,
                    standardized: bool = False) -> tuple[np.ndarray, list[str], dict]:
    """:func:`simulate_data`'s draw as ``(X, names, attrs)``: the (n, p) float matrix of every observed variable
    (lavaan's order), their names and what the DataFrame would carry in ``attrs``. The same numbers as
    ``simulate_data`` for the same arguments, without pandas (Monte Carlo replicates fit it as plain columns)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"n must be a positive integer, got {n!r}", field="n")
    n = int(n)
    pop = population_model(model, standardized)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    p = len(pop.ov_names)
    mean, cov = pop.mean[:p], pop.cov[:p, :p]
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    names = list(pop.ov_names)
    X = draw_mvnorm(rng, n, mean, cov)
    attrs: dict = {}

    ord_cols: list[int] = []
    k_points = None
    if ordinal:
        sel = ordinal.get("columns", names)
        bad = [c for c in sel if c not in names]
        if bad:
            raise DataError(f"ordinal columns not in the model: {bad}", field="ordinal")
        ord_cols = [names.index(c) for c in sel]
        X[:, ord_cols] = _ordinal(X[:, ord_cols], mean[ord_cols], sd[ord_cols], ordinal)
        k_points = int(ordinal["points"]) if "points" in ordinal else len(ordinal["thresholds"]) + 1
        attrs["ordinal"] = {"columns": [names[j] for j in ord_cols], "points": k_points}

    if careless:
        unknown = set(careless) - {"straightliners", "random"}
        if unknown:
            raise DataError(f"unknown careless type(s) {sorted(unknown)}; use straightliners, random",
                            field="careless")
        s_share, r_share = _share(careless, "straightliners"), _share(careless, "random")
        ks, kr = round(s_share * n), round(r_share * n)
        if ks + kr > n:
            raise DataError("careless shares add up to more than 1", field="careless")
        order = rng.permutation(n)
        straight, rand = np.sort(order[:ks]), np.sort(order[ks:ks + kr])
        cont = [j for j in range(p) if j not in ord_cols]
        for i in straight:
            if ord_cols:
                X[i, ord_cols] = rng.integers(1, k_points + 1)
            if cont:
                z = rng.standard_normal()
                X[i, cont] = mean[cont] + z * sd[cont]
        if len(rand):
            if ord_cols:
                X[np.ix_(rand, ord_cols)] = rng.integers(1, k_points + 1, size=(len(rand), len(ord_cols)))
            if cont:
                X[np.ix_(rand, cont)] = mean[cont] + rng.standard_normal((len(rand), len(cont))) * sd[cont]
        attrs["careless"] = {"straightliners": straight.tolist(), "random": rand.tolist()}

    if missing:
        if "mcar" in missing:
            share = _share(missing, "mcar")
            k = round(share * n * p)
            cells = rng.choice(n * p, size=k, replace=False)
            X.flat[cells] = np.nan
            attrs["missing"] = {"mechanism": "MCAR", "share": share, "cells": k}
        elif "mar" in missing:
            share = _share(missing, "mar")
            on = missing.get("on")
            if on not in names:
                raise DataError(f"missing['on'] must be a model variable, got {on!r}", field="missing")
            j_on = names.index(on)
            z = X[:, j_on]
            z = (z - np.nanmean(z)) / (np.nanstd(z) or 1.0)
            w = 1 / (1 + np.exp(-2 * z))
            w = w / w.sum()
            k = round(share * n)
            for j in range(p):
                if j == j_on:
                    continue
                rows = rng.choice(n, size=k, replace=False, p=w)
                X[rows, j] = np.nan
            attrs["missing"] = {"mechanism": "MAR", "share": share, "on": on}
        else:
            raise DataError('missing must be {"mcar": share} or {"mar": share, "on": column}', field="missing")
    return X, names, attrs
