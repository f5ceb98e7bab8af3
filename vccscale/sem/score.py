"""Score tests for equality constraints, a partial-invariance search, and latent mean differences.

``score_tests(fit)``
    ``lavaan::lavTestScore(fit)`` (release mode, lavaan 0.6-14 defaults): the score (Lagrange multiplier) tests of
    the equality constraints of a model, e.g. the loadings / intercepts made equal by ``group_equal``. As lavaan
    (``R/lav_test_score.R``): every equality constraint is written as a linear constraint ``R theta = 0`` on the
    *unconstrained* parameter vector (one parameter per free row of the parameter table); the score ``s`` (the
    gradient of the per-case log-likelihood) and the expected information ``I`` of that vector are evaluated at the
    constrained estimates, and

    * total test: ``X2 = N s' I^+ s`` with ``df`` = number of constraints;
    * univariate test of constraint r: ``X2 = N s' [Z_r^+]_11 s``, ``Z_r = [[I, R_-r'], [R_-r, 0]]`` (all other
      constraints kept), ``df = 1``,

    with ``^+`` the Moore-Penrose inverse at MASS::ginv's tolerance (``sqrt(eps)`` times the largest singular
    value). Each constraint is ``first row == later row`` (lavaan's ``.pA. == .pB.``, B the later row); the table
    names the later (freed) row: lhs, op, rhs, group. The expected information is used for ML and MLR alike
    (lavTestScore's default; for MLR lavaan also falls back to the ordinary score test).

``partial_invariance(data, model, group, level)``
    Forward search for a partially invariant model (see the function).

``latent_means(fit)``
    Latent mean differences of groups 2.. against group 1 (fixed at 0 as lavaan).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from ._dist import chi2_sf

from .._args import data_first
from ..errors import ModelError
from .compare import chisq_difference
from .model import ParTable, equality_type

__all__ = [
    "LEVELS",
    "LEVEL_TYPES",
    "PartialInvarianceResult",
    "latent_means",
    "partial_invariance",
    "score_tests",
    "total_score_test",
]

LEVELS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}
#: the equality type that a level adds to the previous one (the candidates the search may free)
LEVEL_TYPES = {"metric": "loadings", "scalar": "intercepts", "strict": "residuals"}
_PREVIOUS = {"metric": "configural", "scalar": "metric", "strict": "scalar"}
_GINV_TOL = float(np.sqrt(np.finfo(float).eps))


# ---------------------------------------------------------------------- score tests
def _state(fit):
    st = getattr(fit, "_state", None)
    if st is None:
        raise ModelError("score_tests needs a FitResult returned by fit_cfa / fit_sem")
    return st


def _unconstrained(pt: ParTable) -> tuple[ParTable, list[tuple[int, int]]]:
    """A copy of ``pt`` with one parameter per free row, and the equality constraints (row index of the first row,
    row index of the later row) that the shared parameters stood for, in lavaan's order (by the later row)."""
    rows = [dict(r) for r in pt.rows]
    first: dict[int, int] = {}
    cons: list[tuple[int, int]] = []
    k = 0
    for i, r in enumerate(rows):
        if r["par"] < 0:
            continue
        if r["par"] in first:
            cons.append((first[r["par"]], i))
        else:
            first[r["par"]] = i
        r["par"] = k
        k += 1
    upt = ParTable(rows=rows, ov_names=list(pt.ov_names), lv_names=list(pt.lv_names), ov_x=list(pt.ov_x),
                   ov_nox=list(pt.ov_nox), lv_x=list(pt.lv_x), lv_endo=list(pt.lv_endo), ngroups=pt.ngroups,
                   group_labels=list(pt.group_labels), meanstructure=pt.meanstructure, std_lv=pt.std_lv, npar=k,
                   defined=[], group_equal=pt.group_equal, syntax=pt.syntax)
    return upt, cons


def _ginv(a: np.ndarray) -> np.ndarray:
    return np.linalg.pinv(a, rcond=_GINV_TOL)


def _score_parts(fit):
    """Unconstrained table, constraints, constraint Jacobian R, score s, expected information I, N."""
    st = _state(fit)
    pt, eng = st.pt, st.engine
    upt, cons = _unconstrained(pt)
    if not cons:
        raise ModelError("the model has no equality constraints to test (fit it with group_equal=... or labels)")
    ueng = type(eng)(upt, eng.groups)
    vals = eng.row_values(st.theta)
    theta_u = np.zeros(upt.npar)
    for i, r in enumerate(upt.rows):
        if r["par"] >= 0:
            theta_u[r["par"]] = vals[i]
    score = -ueng.gradient(theta_u) / 2  # gradient of the per-case log-likelihood (lavaan: gradient.logl)
    info = ueng.information_expected(theta_u)
    R = np.zeros((len(cons), upt.npar))
    for j, (a, b) in enumerate(cons):
        R[j, upt.rows[a]["par"]] = 1.0
        R[j, upt.rows[b]["par"]] = -1.0
    return upt, cons, R, score, info, eng.N


def _bordered_inverse(info: np.ndarray, R1: np.ndarray) -> np.ndarray:
    q, m = info.shape[0], R1.shape[0]
    Z = np.block([[info, R1.T], [R1, np.zeros((m, m))]])
    return _ginv(Z)[:q, :q]


def total_score_test(fit) -> dict:
    """The total (multivariate) score test of releasing all equality constraints: X2, df, pvalue."""
    _, cons, _R, s, info, N = _score_parts(fit)
    X2 = float(N * s @ _ginv(info) @ s)
    df = len(cons)
    return {"test": "score", "X2": X2, "df": df, "pvalue": float(chi2_sf(X2, df))}


def score_tests(fit) -> pd.DataFrame:
    """Univariate score tests of the equality constraints of ``fit`` (``lavaan::lavTestScore(fit)$uni``).

    One row per constraint ``.pA. == .pB.``: ``lhs, op, rhs, group`` name the parameter that releasing the
    constraint frees (row B, the later group; ``group`` is the group number, ``group_label`` its label),
    ``plabel_lhs`` / ``plabel_rhs`` are lavaan's plabels, ``type`` the ``group_equal`` kind, then ``X2``, ``df``
    (= 1) and ``pvalue``. The total test (as :func:`total_score_test`) is in ``.attrs["total"]``.
    """
    upt, cons, R, s, info, N = _score_parts(fit)
    lv_set, ov_set = set(upt.lv_names), set(upt.ov_names)
    labels = list(fit.group_labels) if fit.group_labels else [None]
    recs = []
    for j, (a, b) in enumerate(cons):
        keep = np.ones(len(cons), dtype=bool)
        keep[j] = False
        J = _bordered_inverse(info, R[keep])
        X2 = float(N * s @ J @ s)
        rb = upt.rows[b]
        recs.append({"lhs": rb["lhs"], "op": rb["op"], "rhs": rb["rhs"], "group": rb["group"],
                     "group_label": labels[rb["group"] - 1] if rb["group"] - 1 < len(labels) else None,
                     "type": equality_type(rb, lv_set, ov_set) or "other",
                     "plabel_lhs": f".p{upt.rows[a]['id']}.", "plabel_rhs": f".p{rb['id']}.",
                     "X2": X2, "df": 1, "pvalue": float(chi2_sf(X2, 1))})
    out = pd.DataFrame.from_records(recs, columns=["lhs", "op", "rhs", "group", "group_label", "type", "plabel_lhs",
                                                   "plabel_rhs", "X2", "df", "pvalue"])
    X2 = float(N * s @ _ginv(info) @ s)
    out.attrs["total"] = {"test": "score", "X2": X2, "df": len(cons),
                          "pvalue": float(chi2_sf(X2, len(cons)))}
    return out


def _syntax(lhs: str, op: str, rhs: str) -> str:
    return f"{lhs} ~ 1" if op == "~1" else f"{lhs} {op} {rhs}"


@dataclass(frozen=True)
class PartialInvarianceResult:
    """Outcome of :func:`partial_invariance`.

    ``freed``: one row per freed parameter, in order (step, lhs, op, rhs, syntax, X2, pvalue, threshold,
    n_tests); ``steps``: one row per visited model (freed so far, chi-square difference to the previous level,
    largest candidate score test, decision); ``fit``: the final FitResult; ``group_partial``: the syntax strings to
    pass to ``fit_cfa(group_partial=...)`` for the final model; ``stop_reason``: why the search stopped.
    """

    level: str
    previous_level: str
    alpha: float
    adjust: str
    freed: pd.DataFrame
    steps: pd.DataFrame
    fit: Any
    previous_fit: Any
    group_partial: tuple[str, ...]
    stop_reason: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        lines = [f"Partial {self.level} invariance (vs {self.previous_level}); alpha {self.alpha} with {self.adjust}",
                 f"freed: {', '.join(self.group_partial) if self.group_partial else 'none'}",
                 f"stopped: {self.stop_reason}", "", self.steps.round(4).to_string(index=False)]
        return "\n".join(lines)


@data_first("model")
def partial_invariance(data: pd.DataFrame, model: str, group: str, level: str = "scalar", alpha: float = 0.05,
                       max_free: int | None = None, estimator: str = "ML", candidates: str = "level",
                       group_partial=(), missing: str = "listwise", cluster: str | None = None
                       ) -> PartialInvarianceResult:
    """Forward search for partial invariance with score tests.

    Start from the model at ``level`` ("metric": equal loadings; "scalar": + intercepts; "strict": + residual
    variances). At each step:

    1. compare the current model with the model at the previous level (configural / metric / scalar, with the
       ``group_partial`` passed in) by the chi-square difference test (ML: plain; MLR: Satorra-Bentler 2001). If
       it is not significant at ``alpha``, stop: the current (partially) invariant model holds;
    2. otherwise compute the univariate score tests (:func:`score_tests`) of the candidate constraints: those of
       the type the level adds (loadings / intercepts / residuals) with ``candidates="level"`` (the default), or
       every equality constraint with ``candidates="all"``. Bonferroni: the largest X2 is significant when its
       p-value is below ``alpha / m``, with m the number of candidate constraints still in the model. If it is not,
       stop;
    3. free that parameter in all groups (``group_partial``, as lavaan's ``group.partial``), refit, go to 1.

    ``max_free`` caps the number of freed parameters (default: no cap; the search also ends when the candidates
    run out). Freeing a parameter that makes the model unfittable ends the search (stated in ``stop_reason``).
    ``missing``: "listwise" or "fiml" (lavaan missing = "ml"), for every model of the search. ``cluster``: a
    cluster column for cluster-robust fits (``fit_cfa(cluster=...)``; the difference tests then use the
    cluster-robust scaling factors; the score tests are unchanged, see the MLR note).
    """
    from .api import fit_cfa

    if level not in LEVEL_TYPES:
        raise ModelError(f"level must be one of {', '.join(LEVEL_TYPES)}, not {level!r}")
    if candidates not in ("level", "all"):
        raise ModelError(f"candidates must be 'level' or 'all', not {candidates!r}")
    if not 0 < alpha < 1:
        raise ModelError(f"alpha must be between 0 and 1, not {alpha!r}")
    if isinstance(group_partial, str):
        group_partial = [group_partial]
    base_partial = list(group_partial)
    prev_level = _PREVIOUS[level]
    prev_fit = fit_cfa(data, model, estimator=estimator, group=group, missing=missing, cluster=cluster,
                       group_equal=list(LEVELS[prev_level]), group_partial=base_partial)
    partial = list(base_partial)
    current = fit_cfa(data, model, estimator=estimator, group=group, missing=missing, cluster=cluster,
                      group_equal=list(LEVELS[level]), group_partial=partial)
    cap = max_free if max_free is not None else 10 ** 6
    freed, steps, notes = [], [], []
    stop = ""
    while True:
        diff = chisq_difference(current, prev_fit, estimator=estimator)
        step = {"step": len(freed), "freed": "; ".join(partial[len(base_partial):]), "chisq": current.fit["chisq"],
                "df": current.fit["df"], "chisq_diff": diff["chisq_diff"], "df_diff": diff["df_diff"],
                "pvalue_diff": diff["pvalue"], "max_X2": np.nan, "max_param": "", "pvalue_max": np.nan,
                "threshold": np.nan, "n_tests": 0, "decision": ""}
        steps.append(step)
        if diff["df_diff"] <= 0:
            stop = f"no {LEVEL_TYPES[level]} constraints left"
            step["decision"] = "stop"
            break
        if not diff["pvalue"] < alpha:
            stop = (f"the chi-square difference to the {prev_level} model is not significant "
                    f"(p = {diff['pvalue']:.4g} >= {alpha})")
            step["decision"] = "stop"
            break
        st = score_tests(current)
        if candidates == "level":
            st = st[st["type"] == LEVEL_TYPES[level]]
        if st.empty:
            stop = "no candidate constraints left"
            step["decision"] = "stop"
            break
        m = len(st)
        threshold = alpha / m
        best = st.loc[st["X2"].idxmax()]
        name = _syntax(best["lhs"], best["op"], best["rhs"])
        step.update(max_X2=float(best["X2"]), max_param=name, pvalue_max=float(best["pvalue"]), threshold=threshold,
                    n_tests=m)
        if not best["pvalue"] < threshold:
            stop = (f"no score test is significant at alpha / m = {alpha} / {m} = {threshold:.4g} (largest: {name}, "
                    f"X2 = {best['X2']:.3f}, p = {best['pvalue']:.4g})")
            step["decision"] = "stop"
            break
        if len(freed) >= cap:
            stop = f"max_free = {cap} parameters freed; {name} would be next (p = {best['pvalue']:.4g})"
            step["decision"] = "stop"
            break
        try:
            nxt = fit_cfa(data, model, estimator=estimator, group=group, missing=missing, cluster=cluster,
                          group_equal=list(LEVELS[level]), group_partial=partial + [name])
        except ModelError as e:
            stop = f"freeing {name} gives a model that cannot be fitted: {e}"
            step["decision"] = "stop"
            break
        step["decision"] = f"free {name}"
        partial.append(name)
        freed.append({"step": len(freed) + 1, "lhs": best["lhs"], "op": best["op"], "rhs": best["rhs"],
                      "syntax": name, "X2": float(best["X2"]), "pvalue": float(best["pvalue"]),
                      "threshold": threshold, "n_tests": m})
        current = nxt
    notes.append(f"Bonferroni: each step compares the largest score test with alpha / m, m = number of candidate "
                 f"constraints still in the model ({'type ' + LEVEL_TYPES[level] if candidates == 'level' else 'all'})")
    if estimator == "MLR":
        notes.append("score tests use the expected information and the unscaled score (lavTestScore's fallback for "
                     "MLR); the difference test is Satorra-Bentler (2001)")
    return PartialInvarianceResult(
        level=level, previous_level=prev_level, alpha=alpha, adjust="Bonferroni (alpha / remaining constraints)",
        freed=pd.DataFrame(freed, columns=["step", "lhs", "op", "rhs", "syntax", "X2", "pvalue", "threshold",
                                           "n_tests"]),
        steps=pd.DataFrame(steps), fit=current, previous_fit=prev_fit,
        group_partial=tuple(partial[len(base_partial):]), stop_reason=stop, notes=tuple(notes))


# ---------------------------------------------------------------------- latent means
def latent_means(fit) -> pd.DataFrame:
    """Latent mean differences of groups 2.. against group 1 (whose means are fixed at 0, as lavaan).

    Columns: lhs (factor), group, group_label, est, se, z, pvalue (the free ``factor ~ 1`` rows of group g, i.e. the
    difference to group 1), std_lv (lavaan's std.lv: est / latent SD in group g) and d = est / sqrt(pooled latent
    variance), pooled = ((n_1 - 1) psi_1 + (n_g - 1) psi_g) / (n_1 + n_g - 2).
    """
    if fit.ngroups < 2:
        raise ModelError("latent_means needs a multigroup fit (fit_cfa(..., group=...))")
    st = _state(fit)
    est = fit.estimates
    lvs = list(st.pt.lv_names)
    if not lvs:
        raise ModelError("the model has no latent variables")
    g1 = est[(est.op == "~1") & est.lhs.isin(lvs) & (est.group == 1)]
    if (g1["se"] > 0).any() or (g1["est"].abs() > 0).any():
        raise ModelError("latent_means expects the group-1 latent means fixed at 0 (lavaan's identification)")
    rows = est[(est.op == "~1") & est.lhs.isin(lvs) & (est.group >= 2)]
    if not (rows["se"] > 0).any():
        raise ModelError("the latent means are fixed at 0 in every group; they are only estimated when the "
                         "intercepts are equal across groups (group_equal including 'intercepts', e.g. the scalar "
                         "model)")
    var = est[(est.op == "~~") & est.lhs.isin(lvs) & (est.lhs == est.rhs)]
    psi = {(r.lhs, int(r.group)): float(r.est) for r in var.itertuples()}
    n = list(fit.nobs)
    recs = []
    for r in rows.itertuples():
        g = int(r.group)
        n1, ng = n[0], n[g - 1]
        pooled = ((n1 - 1) * psi[(r.lhs, 1)] + (ng - 1) * psi[(r.lhs, g)]) / (n1 + ng - 2)
        d = float(r.est) / np.sqrt(pooled) if pooled > 0 else float("nan")
        recs.append({"lhs": r.lhs, "group": g, "group_label": fit.group_labels[g - 1], "est": float(r.est),
                     "se": float(r.se), "z": float(r.z), "pvalue": float(r.pvalue), "std_lv": float(r.std_lv),
                     "d": d})
    return pd.DataFrame.from_records(recs, columns=["lhs", "group", "group_label", "est", "se", "z", "pvalue",
                                                    "std_lv", "d"])
