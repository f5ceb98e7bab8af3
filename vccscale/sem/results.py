"""Fitted-model results: the parameter table (as ``lavaan::parameterEstimates(fit, standardized = TRUE)``),
R², fitted and residual covariances, modification indices (``lavaan::modindices``) and :class:`FitResult`."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ._dist import norm_ppf, norm_sf

from .model import unique_in_order

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FitResult", "estimate_row", "labelled_vcov", "standardize", "modification_indices"]

#: the pandas tables of a FitResult (built on first use for a deferred result, :meth:`FitResult.deferred`)
TABLES = ("estimates", "r2", "fitted_cov", "residual_cov", "sample_cov")

_Z975 = norm_ppf(0.975)


# ---------------------------------------------------------------------- standardization
def _std_context(state) -> list[dict]:
    """Per group: implied sd of latent (ETA) and observed (OV) variables, and the variance-row estimates."""
    out = []
    eng, theta = state.engine, state.theta
    vals = eng.row_values(theta)
    for g in range(len(eng.groups)):
        cov, *_ = eng.implied_all(theta, g)
        d = np.diag(cov)
        eta2 = {v: d[eng.pos[v]] for v in eng.pt.lv_names}
        ov2 = {v: d[eng.pos[v]] for v in eng.pt.ov_names}
        rv = {}
        for k, r in enumerate(eng.pt.rows):
            if r["group"] == g + 1 and r["op"] == "~~" and r["lhs"] == r["rhs"]:
                rv[r["lhs"]] = vals[k]
        out.append({"eta2": eta2, "ov2": ov2, "rv": rv})
    return out


def _sqrt(x):
    return math.sqrt(x) if x is not None and x >= 0 and np.isfinite(x) else float("nan")


def standardize(lhs: str, op: str, rhs: str, value: float, ctx: dict, lv_names: set, ov_names: set,
                kind: str) -> float:
    """One row's value standardized as lavaan's ``lav_standardize_lv`` (kind "lv") or ``lav_standardize_all``
    (kind "all"), both with ``cov.std = TRUE``."""
    eta2, ov2, rv = ctx["eta2"], ctx["ov2"], ctx["rv"]
    eta = ctx.get("_eta")
    if eta is None:  # the square roots once per context, not per row (a 300-row table of 100 variables: 0.1 s)
        eta = ctx["_eta"] = {k: _sqrt(v) for k, v in eta2.items()}
    x = value
    # --- lav_standardize_lv
    if op == "=~":
        x = x * eta.get(lhs, 1.0)
        if rhs in lv_names:
            x = x / eta[rhs]
    elif op == "~":
        if lhs in lv_names:
            x = x / eta[lhs]
        if rhs in lv_names:
            x = x * eta[rhs]
    elif op == "~~" and rhs in lv_names and lhs == rhs:
        x = x / eta2[lhs] if eta2[lhs] > 0 else float("nan")
    elif op == "~~" and lhs != rhs and (lhs in lv_names or rhs in lv_names):
        if lhs in lv_names:
            x = x / _sqrt(abs(rv.get(lhs, float("nan"))))
        if rhs in lv_names:
            x = x / _sqrt(abs(rv.get(rhs, float("nan"))))
    elif op == "~1" and lhs in lv_names:
        x = x / eta[lhs]
    if kind == "lv":
        return x
    # --- lav_standardize_all (observed variables)
    ov = ctx.get("_ov")
    if ov is None:
        ov = ctx["_ov"] = {k: _sqrt(v) for k, v in ov2.items()}
    if op == "=~" and rhs not in lv_names:
        x = x / ov[rhs]
    elif op == "~":
        if lhs in ov_names:
            x = x / ov[lhs]
        if rhs in ov_names:
            x = x * ov[rhs]
    elif op == "~~" and lhs not in lv_names and lhs == rhs:
        x = x / ov2[lhs]
    elif op == "~~" and lhs != rhs:
        if lhs not in lv_names:
            x = x / _sqrt(abs(rv.get(lhs, float("nan"))))
        if rhs not in lv_names:
            x = x / _sqrt(abs(rv.get(rhs, float("nan"))))
    elif op == "~1" and lhs not in lv_names:
        x = x / ov[lhs]
    return x


def _label_values(pt, row_values: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, r in enumerate(pt.rows):
        if r["label"] and r["label"] not in out:
            out[r["label"]] = float(row_values[k])
    return out


def evaluate_defined(defined, values_by_label: dict[str, float]) -> dict[str, float]:
    """The ``:=`` parameters ``defined`` (in order; each may use the labels and the names defined before it) at
    the label values ``values_by_label``; NaN where an expression cannot be evaluated (e.g. log of a negative)."""
    vals = dict(values_by_label)
    out = {}
    for d in defined:
        try:
            v = d.evaluate(vals)
        except (ValueError, ZeroDivisionError, OverflowError):
            v = float("nan")
        vals[d.name] = out[d.name] = v
    return out


def defined_values(pt, row_values: np.ndarray) -> dict[str, float]:
    return evaluate_defined(pt.defined, _label_values(pt, row_values))


def parameter_table(state) -> pd.DataFrame:
    """``parameterEstimates(fit, standardized = TRUE)``: lhs, op, rhs, group, label, est, se, z, pvalue, ci_lower,
    ci_upper, std_lv, std_all."""
    import pandas as pd

    return pd.DataFrame.from_records(parameter_rows(state))


def parameter_rows(state, standardized: bool = True) -> list[dict]:
    """The rows of :func:`parameter_table` as dicts; without ``standardized`` std_lv and std_all are NaN (and not
    computed: a Monte Carlo replicate needs only est, se, p and the CI)."""
    eng, pt, theta = state.engine, state.pt, state.theta
    vals = eng.row_values(theta)
    se_par = np.sqrt(np.clip(np.diag(state.vcov), 0, None))
    ctxs = _std_context(state) if standardized else None
    lv_set, ov_set = set(pt.lv_names), set(pt.ov_names)
    recs = []
    nan = float("nan")
    std_lv_vals = np.full(len(pt.rows), nan)
    std_all_vals = np.full(len(pt.rows), nan)
    for k, r in enumerate(pt.rows):
        est = float(vals[k])
        se = float(se_par[r["par"]]) if r["par"] >= 0 else 0.0
        slv = sall = nan
        if standardized:
            ctx = ctxs[r["group"] - 1]
            slv = standardize(r["lhs"], r["op"], r["rhs"], est, ctx, lv_set, ov_set, "lv")
            sall = standardize(r["lhs"], r["op"], r["rhs"], est, ctx, lv_set, ov_set, "all")
            std_lv_vals[k], std_all_vals[k] = slv, sall
        recs.append(estimate_row(r["lhs"], r["op"], r["rhs"], r["group"], r["label"], est, se, r["par"] >= 0, slv,
                                 sall))
    if pt.defined:
        dv = defined_values(pt, vals)
        dlv = defined_values(pt, std_lv_vals) if standardized else {}
        dall = defined_values(pt, std_all_vals) if standardized else {}
        J = _defined_jacobian(state)
        cov_def = J @ state.vcov @ J.T
        for i, d in enumerate(pt.defined):
            se = math.sqrt(max(cov_def[i, i], 0.0))
            recs.append(estimate_row(d.name, ":=", d.expr.replace(" ", ""), 0, d.name, dv[d.name], se, True,
                                     dlv.get(d.name, nan), dall.get(d.name, nan)))
    return recs


def table_records(rows: list[dict]) -> list[dict]:
    """``pandas.DataFrame.from_records(rows).to_dict("records")`` without pandas, for the values parameter rows
    hold: a column of numbers becomes Python floats when any of them is a float (numpy's too), else Python ints;
    other columns (text, mixed) pass unchanged."""
    if not rows:
        return []
    out = [dict(r) for r in rows]
    for key in rows[0]:
        vals = [r[key] for r in rows]
        if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                   for v in vals):
            continue
        cast = float if any(isinstance(v, (float, np.floating)) for v in vals) else int
        for r in out:
            r[key] = cast(r[key])
    return out


def text_table(rows: list[dict], cols: list[str]) -> str:
    """``pandas.DataFrame(rows)[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}")`` for columns of
    text and of floats (not ints), without pandas: floats with 3 decimals and NaN as "NaN"; a float column's
    header gets a leading space (pandas' place for a sign); every cell right-justified to its column's width (no
    cut: to_string sets no maximum width); one space between columns (tests/test_cli_plain.py compares it with
    pandas)."""
    columns = []
    for c in cols:
        vals, numeric = [], True
        for r in rows:
            v = r[c]
            if isinstance(v, str):
                vals.append(v)
                numeric = False
            elif isinstance(v, (float, np.floating)):
                vals.append("NaN" if v != v else f"{v:.3f}")
            else:
                raise TypeError(f"text_table: column {c!r} holds {type(v).__name__}, not text or float")
        if numeric and not rows:
            numeric = False
        head = " " + c if numeric else c
        width = max([len(head)] + [len(x) for x in vals])
        columns.append([head.rjust(width)] + [x.rjust(width) for x in vals])
    return "\n".join(" ".join(line) for line in zip(*columns))


def solution_problems(warnings, rows) -> tuple[str, ...]:
    """The rule of :attr:`FitResult.problems`: the fit's ``warnings`` that make a solution improper, plus
    standardized loadings and latent correlations beyond +-1 among ``rows`` ((lhs, op, rhs, std_all) tuples)."""
    out = [w for w in warnings if w.startswith("negative variance") or "not positive definite" in w
           or "(vcov)" in w or w.startswith("could not compute standard errors")]
    lv = {lhs for lhs, op, _, _ in rows if op == "=~"}
    for lhs, op, rhs, v in rows:
        if op == "=~" and abs(v) > 1.0 + 1e-8:
            out.append(f"standardized loading of {rhs} on {lhs} is {v:.3f} (beyond +-1): a Heywood case")
    for lhs, op, rhs, v in rows:
        if op == "~~" and lhs != rhs and lhs in lv and rhs in lv and abs(v) > 1.0 + 1e-8:
            out.append(f"latent correlation of {lhs} and {rhs} is {v:.3f} (beyond +-1)")
    return tuple(dict.fromkeys(out))


def estimate_row(lhs, op, rhs, group, label, est, se, free, slv, sall) -> dict:
    """One row of a parameter-estimate table (lavaan's parameterEstimates columns): Wald z, p and 95% CI from
    ``se`` for a free parameter; a fixed one has its value as both CI limits."""
    if free and se > 0 and np.isfinite(se):
        z = est / se
        p = 2 * norm_sf(abs(z))
        lo, hi = est - _Z975 * se, est + _Z975 * se
    else:
        z = p = float("nan")
        lo = hi = est if not free else float("nan")
    return {"lhs": lhs, "op": op, "rhs": rhs, "group": group, "label": label, "est": est, "se": se, "z": z,
            "pvalue": p, "ci_lower": lo, "ci_upper": hi, "std_lv": slv, "std_all": sall}


def _defined_jacobian(state) -> np.ndarray:
    eng, pt, theta = state.engine, state.pt, state.theta

    def f(t):
        dv = defined_values(pt, eng.row_values(t))
        return np.array([dv[d.name] for d in pt.defined])

    from .fit import param_units

    unit = param_units(eng, theta)  # steps relative to each parameter's units: unit-free
    J = np.zeros((len(pt.defined), eng.q))
    for k in range(eng.q):
        h = 1e-6 * max(unit[k], abs(theta[k]))
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        J[:, k] = (f(tp) - f(tm)) / (2 * h)
    return J


def r_squared(state) -> dict:
    """as ``lavInspect(fit, "r2")``: 1 - residual variance / implied variance for every observed variable that is not
    a fixed covariate and every endogenous latent variable; one dict per group."""
    eng, pt, theta = state.engine, state.pt, state.theta
    vals = eng.row_values(theta)
    out = []
    for g in range(len(eng.groups)):
        cov, *_ = eng.implied_all(theta, g)
        res = {}
        for k, r in enumerate(pt.rows):
            if r["group"] == g + 1 and r["op"] == "~~" and r["lhs"] == r["rhs"]:
                res[r["lhs"]] = vals[k]
        r2 = {}
        for v in pt.ov_nox + pt.lv_endo:
            tot = cov[eng.pos[v], eng.pos[v]]
            r2[v] = float(1 - res.get(v, 0.0) / tot) if tot > 0 else float("nan")
        out.append(r2)
    return out


# ---------------------------------------------------------------------- modification indices
def _candidates(pt, g: int) -> list[tuple[str, str, str]]:
    """lavaan's ``lav_partable_full`` list of all possible parameters of one group."""
    lv = pt.lv_names
    ov, ov_nox, ov_x = pt.ov_names, pt.ov_nox, pt.ov_x
    model_rows = [r for r in pt.rows if r["group"] == g]
    ov_ind = unique_in_order(r["rhs"] for r in model_rows if r["op"] == "=~" and r["rhs"] not in set(lv))
    eqs = unique_in_order([r["lhs"] for r in model_rows if r["op"] == "~"] + [r["rhs"] for r in model_rows if r["op"] == "~"])
    out = [(f, "=~", x) for f in lv for x in ov_nox if x not in eqs]
    other = set(ov) - set(ov_ind)
    for j, a in enumerate(ov_nox):
        for b in ov_nox[j:]:
            if a in other or b in other:
                continue
            out.append((a, "~~", b))
    for j, a in enumerate(lv):
        for b in lv[j:]:
            out.append((a, "~~", b))
    lvs = set(lv)
    for y in eqs:
        for x in eqs:
            if y == x or (y in ov_ind and x in lvs) or y in ov_x:
                continue  # lavaan also lists 'x ~ ...' for fixed covariates x; not reproduced (see modindices)
            out.append((y, "~", x))
    if pt.meanstructure:
        out += [(v, "~1", "") for v in ov + lv]
    return out


def modification_indices(state) -> pd.DataFrame:
    """Score tests for every fixed or absent parameter, as ``lavaan::modindices(fit)`` (expected information):
    ``mi = N s^2 / V``, ``epc = s / V`` with ``s`` the per-case score and
    ``V = I_11 - I_12 I_22^-1 I_21`` the efficient information of the added parameter.

    Candidates are lavaan's: every fixed parameter of the model (marker loadings, fixed covariances, ...) and
    every absent loading, residual covariance among indicators, latent covariance and regression among the
    variables of the structural part.  Unlike lavaan, no rows are given for the variances/covariances of fixed
    exogenous covariates (always 0) or for regressing a fixed covariate on something (lavaan lists these, but they
    contradict ``fixed.x``)."""
    import pandas as pd

    eng, pt, theta = state.engine, state.pt, state.theta
    ctxs = _std_context(state)
    lv_set, ov_set = set(pt.lv_names), set(pt.ov_names)
    # extra parameters: fixed (non-exogenous) rows of the model, then parameters absent from it
    extras: list[tuple[int, str, str, str, int | None]] = []  # group, lhs, op, rhs, row index
    present = set()
    for k, r in enumerate(pt.rows):
        key = (r["group"], r["lhs"], r["op"], r["rhs"])
        present.add(key)
        if r["op"] == "~~":
            present.add((r["group"], r["rhs"], r["op"], r["lhs"]))
        if r["par"] < 0 and not r["exo"]:
            extras.append((r["group"], r["lhs"], r["op"], r["rhs"], k))
    for g in range(1, len(eng.groups) + 1):
        for lhs, op, rhs in _candidates(pt, g):
            if (g, lhs, op, rhs) in present:
                continue
            present.add((g, lhs, op, rhs))
            if op == "~~":
                present.add((g, rhs, op, lhs))
            extras.append((g, lhs, op, rhs, None))
    if not extras:
        return pd.DataFrame(columns=["lhs", "op", "rhs", "group", "mi", "epc", "sepc_lv", "sepc_all"])
    n_extra = len(extras)
    q = eng.q
    info_model = eng.information_expected(theta)
    I22_inv = np.linalg.inv(info_model)
    I11 = np.zeros((n_extra, n_extra))
    I12 = np.zeros((n_extra, q))
    score = np.zeros(n_extra)
    for gi, gd in enumerate(eng.groups):
        idx = [i for i, e in enumerate(extras) if e[0] == gi + 1]
        if not idx:
            continue
        Sig, mu = eng.implied(theta)[gi]
        W = np.linalg.inv(Sig)
        L = np.linalg.cholesky(W)
        dS, dm = eng.derivatives(theta, gi)
        eS, em = _extra_derivatives(eng, theta, gi, [extras[i] for i in idx])
        Xm = np.matmul(np.matmul(L.T, dS), L).reshape(q, -1)
        Xe = np.matmul(np.matmul(L.T, eS), L).reshape(len(idx), -1)
        w = gd.n / eng.N
        i11 = 0.5 * Xe @ Xe.T
        i12 = 0.5 * Xe @ Xm.T
        if eng.meanstructure:
            i11 = i11 + em @ W @ em.T
            i12 = i12 + em @ W @ dm.T
        I11[np.ix_(idx, idx)] += w * i11
        I12[idx] += w * i12
        d = gd.mean - mu
        Gm = W - W @ (gd.cov + np.outer(d, d)) @ W
        gF = np.einsum("kab,ab->k", eS, Gm) - 2 * em @ (W @ d)
        score[idx] += w * (-0.5 * gF)  # per-case score of the log-likelihood
    V = np.diag(I11) - np.einsum("ij,jk,ik->i", I12, I22_inv, I12)
    V[V < np.finfo(float).eps ** (1 / 3)] = np.nan
    N = eng.N
    mi = N * score ** 2 / V
    epc = score / V
    vals = eng.row_values(theta)
    recs = []
    for i, (g, lhs, op, rhs, k) in enumerate(extras):
        ctx = ctxs[g - 1]
        e = epc[i]
        if op == "~~" and lhs == rhs:
            est_abs = abs(vals[k]) if k is not None else abs(e)
        else:
            est_abs = abs(e)
        sign = np.sign(e)
        small = op == "~~" and lhs == rhs and est_abs < np.sqrt(np.finfo(float).eps)
        slv = 0.0 if small else sign * standardize(lhs, op, rhs, est_abs, ctx, lv_set, ov_set, "lv")
        sall = 0.0 if small else sign * standardize(lhs, op, rhs, est_abs, ctx, lv_set, ov_set, "all")
        recs.append({"lhs": lhs, "op": op, "rhs": rhs, "group": g, "mi": mi[i], "epc": e, "sepc_lv": slv,
                     "sepc_all": sall})
    df = pd.DataFrame.from_records(recs)
    df = df[np.isfinite(df["mi"].to_numpy(float))].reset_index(drop=True)
    return df


def _extra_derivatives(eng, theta, g, extras):
    """d Sigma and d mu for added parameters (at value 0 or their fixed value; the derivative does not depend on
    the parameter's own value for these linear-in-parameter positions)."""
    A, P, m = eng.matrices(theta, g)
    B = np.linalg.inv(np.eye(eng.nv) - A)
    p = eng.p
    Fc = B[:p, :]
    H = Fc @ P @ B.T
    Bm = B @ m
    n = len(extras)
    dS = np.zeros((n, p, p))
    dm = np.zeros((n, p))
    pos = eng.pos
    for i, (_, lhs, op, rhs, _) in enumerate(extras):
        if op in ("=~", "~"):
            a, b = (pos[rhs], pos[lhs]) if op == "=~" else (pos[lhs], pos[rhs])
            d = np.outer(Fc[:, a], H[:, b])
            dS[i] = d + d.T
            dm[i] = Fc[:, a] * Bm[b]
        elif op == "~~":
            a, b = pos[lhs], pos[rhs]
            d = np.outer(Fc[:, a], Fc[:, b])
            dS[i] = d if a == b else d + d.T
        elif op == "~1":
            dm[i] = Fc[:, pos[lhs]]
    if not eng.meanstructure:
        dm[:] = 0
    return dS, dm


# ---------------------------------------------------------------------- the result object
def labelled_vcov(vcov, names: dict, by_label: dict, labels=None) -> pd.DataFrame:
    """The covariance matrix of the free parameters as a frame: every free parameter (``names``: index -> name,
    in index order) or those with the given ``labels`` (``by_label``: label -> index); KeyError names the labels
    no free parameter has."""
    import pandas as pd

    V = np.asarray(vcov, dtype=float)
    if labels is None:
        idx = sorted(names)
        keys = [names[i] for i in idx]
    else:
        keys = list(labels)
        missing = [k for k in keys if k not in by_label]
        if missing:
            raise KeyError(f"no free parameter labelled {', '.join(missing)}")
        idx = [by_label[k] for k in keys]
    return pd.DataFrame(V[np.ix_(idx, idx)], index=keys, columns=keys)


@dataclass(frozen=True)
class FitResult:
    """A fitted CFA/SEM.

    Attributes
    ----------
    fit : dict
        Fit measures under lavaan's names (``lavaan::fitMeasures``): chisq, df, pvalue, cfi, tli, rmsea (+ CI and
        p-close), srmr, logl, aic, bic, ... and, for MLR, the ``.scaled`` / ``.robust`` variants.
    estimates : pandas.DataFrame
        One row per parameter as ``lavaan::parameterEstimates(fit, standardized = TRUE)``: lhs, op, rhs, group,
        label, est, se, z, pvalue, ci_lower, ci_upper, std_lv, std_all (``:=`` rows last, group 0).
    r2 : pandas.Series
        R² of the endogenous variables (one group), or a DataFrame with one column per group.
    fitted_cov, residual_cov, sample_cov : dict
        Per group label: model-implied, residual (sample - implied) and sample (divisor N) covariance matrices.
    engine : str
        ``"vccscale"`` (the default engine) or ``"semopy"`` (see :mod:`vccscale.sem.semopy_engine`: then fit
        measures semopy lacks or computes differently are NaN); ``engine_info`` says how the fit went (for semopy:
        its version, iterations and how far its own solution was from the refined one).
    cluster, n_clusters : str or None, list of int
        The cluster column of a cluster-robust fit (``cluster=...``) and the number of clusters per group (empty
        without clusters).
    se, test : str, tuple of str
        lavaan's names of the standard errors and test statistics (``lavInspect(fit, "options")$se`` / ``$test``):
        ``"standard"``, ``"robust.huber.white"`` (MLR) or ``"robust.cluster"``; ``("standard",)``,
        ``("yuan.bentler.mplus",)`` (MLR) or ``("standard", "yuan.bentler.mplus")`` (ML with clusters).
    """

    fit: dict
    estimates: pd.DataFrame
    r2: pd.Series | pd.DataFrame
    fitted_cov: dict
    residual_cov: dict
    sample_cov: dict
    estimator: str
    model: str
    ngroups: int
    group_labels: list
    nobs: list[int]
    n_dropped: int
    iterations: int
    warnings: tuple[str, ...] = ()
    missing: str = "listwise"
    engine: str = "vccscale"
    engine_info: dict = field(default_factory=dict)
    cluster: str | None = None
    n_clusters: list[int] = field(default_factory=list)
    se: str = "standard"
    test: tuple[str, ...] = ("standard",)
    _state: object = field(default=None, repr=False, compare=False)

    @classmethod
    def deferred(cls, tables, **fields) -> "FitResult":
        """A result whose pandas tables (``estimates``, ``r2``, ``fitted_cov``, ``residual_cov``, ``sample_cov``)
        are built by ``tables()`` (-> a dict of the five) when first used: a command that reports the fit as JSON
        (:meth:`parameter_records`, :meth:`r2_records`) never imports pandas. Equal to a result built with the
        tables."""
        obj = cls(**fields, **dict.fromkeys(TABLES))
        for name in TABLES:
            del obj.__dict__[name]
        obj.__dict__["_tables"] = tables
        return obj

    def __getattr__(self, name: str):
        # only called for attributes not set: the tables of a deferred result, built on first use
        build = self.__dict__.get("_tables") if name in TABLES else None
        if build is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.__dict__.update(build())
        del self.__dict__["_tables"]
        return self.__dict__[name]

    def __getstate__(self) -> dict:
        for name in TABLES:  # (pickled with its tables: the builder is a closure)
            getattr(self, name)
        return dict(self.__dict__)

    @property
    def tables_deferred(self) -> bool:
        """True while the pandas tables of a deferred result (:meth:`deferred`) are not built."""
        return self.__dict__.get("_tables") is not None

    def moments(self, which: str = "implied", group: int = 0) -> tuple[list[str], np.ndarray]:
        """(observed variable names, covariance matrix) of group ``group`` (0-based): model-implied
        (``which="implied"``, as :attr:`fitted_cov`) or sample (``"sample"``, as :attr:`sample_cov`), without
        building the tables of a deferred result."""
        if self.tables_deferred:
            st = self._state
            m = st.engine.implied(st.theta)[group][0] if which == "implied" else st.engine.groups[group].cov
            return list(st.pt.ov_names), np.asarray(m, dtype=float)
        frame = list((self.fitted_cov if which == "implied" else self.sample_cov).values())[group]
        return [str(c) for c in frame.columns], frame.to_numpy(dtype=float)

    def parameter_records(self) -> list[dict]:
        """The rows of :attr:`estimates` as dicts with Python values (as ``estimates.to_dict("records")``), from
        the estimation state when the table is not built."""
        if not self.tables_deferred:
            return self.estimates.to_dict(orient="records")
        return table_records(parameter_rows(self._state))

    def r2_records(self) -> dict:
        """R² as {variable: value} (one group) or {group label: {variable: value}} (floats, NaN kept), as the
        JSON of ``vccscale cfa``/``sem``; from the estimation state when the table is not built (one group)."""
        if self.ngroups == 1 and self.tables_deferred:
            return {str(k): float(v) for k, v in r_squared(self._state)[0].items()}
        r2 = self.r2
        if r2 is None or not len(r2):
            return {}
        if r2.ndim == 1:
            return {str(k): float(v) for k, v in r2.items()}
        return {str(g): {str(k): float(v) for k, v in r2[g].items()} for g in r2.columns}

    @property
    def converged(self) -> bool:
        return True  # a result only exists for a converged fit

    @property
    def problems(self) -> tuple[str, ...]:
        """Why the solution is improper, empty when it is proper: the engine's warnings (negative variances =
        Heywood cases, a latent covariance matrix that is not positive definite, lavaan's warnings that the
        standard errors could not be computed or their covariance matrix is not positive definite) plus
        standardized loadings or latent correlations beyond +-1. A fit with problems is not reported as a result
        by the pipeline (its decisions become ``not_tested`` with these reasons)."""
        est = self.estimates
        rows = []
        if len(est):  # plain lists: this runs for every fit, and pandas row access costs more than the fit
            rows = list(zip(est["lhs"].tolist(), est["op"].tolist(), est["rhs"].tolist(),
                            est["std_all"].to_numpy(dtype=float, na_value=np.nan).tolist()))
        return solution_problems(self.warnings, rows)

    @property
    def partable(self):
        """The compiled parameter table (:class:`vccscale.sem.model.ParTable`): one row per parameter with its
        label, group and free-parameter index ``par``, and the ``:=`` definitions (``defined``)."""
        if self._state is None:
            raise ValueError("this result carries no estimation state")
        return self._state.pt

    @property
    def theta(self) -> np.ndarray:
        """The free-parameter estimates, in the order of ``partable`` ``par`` indices (a copy)."""
        if self._state is None:
            raise ValueError("this result carries no estimation state")
        return np.array(self._state.theta, dtype=float)

    def row_values(self, theta: np.ndarray | None = None) -> np.ndarray:
        """The value of every parameter-table row (fixed values, and ``theta`` for the free ones; default the
        estimates). ``theta`` may be one vector (-> ``(nrows,)``) or a batch ``(B, npar)`` (-> ``(B, nrows)``)."""
        if self._state is None:
            raise ValueError("this result carries no estimation state")
        eng = self._state.engine
        if theta is None:
            return eng.row_values(self._state.theta)
        theta = np.asarray(theta, dtype=float)
        if theta.ndim == 1:
            return eng.row_values(theta)
        vals = np.tile(eng.fixed, (theta.shape[0], 1))
        free = eng.par >= 0
        vals[:, free] = theta[:, eng.par[free]]
        return vals

    def vcov(self, labels=None) -> pd.DataFrame:
        """Sampling covariance matrix of the free parameters, as ``lavaan::vcov(fit)``; ``labels``: restrict to
        these labelled parameters (in this order). Rows and columns are named by label (``lhs op rhs`` for
        unlabelled parameters)."""
        state = self._state
        if state is None:
            raise ValueError("this result carries no estimation state")
        names: dict[int, str] = {}
        by_label: dict[str, int] = {}
        for r in state.pt.rows:
            if r["par"] < 0 or r["par"] in names:
                continue
            name = r["label"] or f"{r['lhs']}{r['op']}{r['rhs']}" + (f".g{r['group']}" if self.ngroups > 1 else "")
            names[r["par"]] = name
            if r["label"]:
                by_label[r["label"]] = r["par"]
        return labelled_vcov(state.vcov, names, by_label, labels)

    def modindices(self, sort: bool = False, minimum_value: float = 0.0) -> pd.DataFrame:
        """Modification indices as ``lavaan::modindices(fit)``: lhs, op, rhs, group, mi, epc, sepc_lv, sepc_all."""
        df = modification_indices(self._state)
        if self.ngroups == 1:
            df = df.drop(columns="group")
        if minimum_value > 0:
            df = df[df["mi"] > minimum_value]
        if sort:
            df = df.sort_values("mi", ascending=False, kind="stable")
        return df.reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """The parameter table (a copy of :attr:`estimates`)."""
        return self.estimates.copy()

    def to_dict(self) -> dict:
        """JSON-ready summary: fit measures, estimates (records), R², counts."""
        import pandas as pd

        from ..jsonsafe import jsonable as clean

        est = [{k: clean(v) for k, v in rec.items()} for rec in self.estimates.to_dict(orient="records")]
        if isinstance(self.r2, pd.Series):
            r2 = {k: clean(v) for k, v in self.r2.items()}
        else:
            r2 = {str(c): {k: clean(v) for k, v in self.r2[c].items()} for c in self.r2.columns}
        return {"estimator": self.estimator, "model": self.model, "ngroups": self.ngroups,
                "group_labels": [clean(g) for g in self.group_labels], "nobs": list(self.nobs),
                "n_dropped": self.n_dropped, "missing": self.missing, "engine": self.engine,
                "engine_info": {k: clean(v) for k, v in self.engine_info.items()}, "se": self.se,
                "test": list(self.test), "cluster": self.cluster, "n_clusters": list(self.n_clusters),
                "fit": {k: clean(v) for k, v in self.fit.items()}, "estimates": est,
                "r2": r2, "warnings": list(self.warnings)}

    def summary(self) -> str:
        """A lavaan-like text summary."""
        f = self.fit
        lines = [f"vccscale SEM ({self.estimator}), {sum(self.nobs)} cases"
                 + (f" in {self.ngroups} groups" if self.ngroups > 1 else "")
                 + (f", {self.n_dropped} dropped ({'all model variables missing' if self.missing == 'fiml' else 'listwise'})"
                    if self.n_dropped else "")
                 + (", missing data by FIML" if self.missing == "fiml" else "")
                 + (f", engine {self.engine}" if self.engine != "vccscale" else ""),
                 f"  parameters {int(f['npar'])}, iterations {self.iterations}"]
        if self.cluster is not None:
            lines.append(f"  clusters [{self.cluster}] {', '.join(map(str, self.n_clusters))}; standard errors "
                         f"{self.se}, test {' + '.join(self.test)}")
        lines.append("")
        lines.append(f"  chi-square {f['chisq']:.3f}, df {int(f['df'])}, p {f['pvalue']:.3f}")
        if "chisq.scaled" in f:
            lines.append(f"  scaled chi-square {f['chisq.scaled']:.3f} (scaling factor "
                         f"{f['chisq.scaling.factor']:.3f}), p {f['pvalue.scaled']:.3f}")
        lines.append(f"  CFI {f['cfi']:.3f}  TLI {f['tli']:.3f}  RMSEA {f['rmsea']:.3f} "
                     f"[{f['rmsea.ci.lower']:.3f}, {f['rmsea.ci.upper']:.3f}]  SRMR {f['srmr']:.3f}")
        if "cfi.robust" in f:
            lines.append(f"  robust CFI {f['cfi.robust']:.3f}  TLI {f['tli.robust']:.3f}  RMSEA "
                         f"{f['rmsea.robust']:.3f}")
        lines.append(f"  logl {f['logl']:.3f}  AIC {f['aic']:.3f}  BIC {f['bic']:.3f}")
        lines.append("")
        if self.ngroups == 1:  # text and float columns: written as pandas' to_string writes them, without pandas
            lines.append(text_table(self.parameter_records(), ["lhs", "op", "rhs", "est", "se", "z", "pvalue",
                                                               "std_all"]))
        else:
            import pandas as pd

            est = self.estimates
            with pd.option_context("display.width", 140, "display.max_rows", 1000):
                cols = ["lhs", "op", "rhs", "group", "est", "se", "z", "pvalue", "std_all"]
                lines.append(est[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
