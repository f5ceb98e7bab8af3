"""MLR: Huber-White standard errors and the Yuan-Bentler (Mplus variant) scaled test, as lavaan 0.6-14.

lavaan's ``estimator = "MLR"`` sets ``se = "robust.huber.white"``, ``test = "yuan.bentler.mplus"``,
``information = "observed"`` (``observed.information = "hessian"``), ``h1.information = "structured"`` and
``information.meat = "first.order"``.  Hence, per case:

* ``A`` = observed information (Hessian of ``F/2`` at the estimates), ``B0`` = mean outer product of the casewise
  scores at the structured (model-implied) moments; ``vcov = A^-1 B0 A^-1 / N``;
* ``trace(U Gamma) = sum_g tr(B1_g A1_g^-1) - sum_g (N_g/N) tr(B0_g A^-1)`` where ``A1_g`` / ``B1_g`` are the
  expected information and the first-order information of the saturated model at the sample moments
  (``h1.information = "unstructured"`` for the Mplus variant);
* scaling factor ``c = trace(U Gamma) / df``; ``chisq.scaled = chisq / c``;
  ``scaling.factor.h1 = sum tr(B1 A1^-1) / ndat``, ``scaling.factor.h0 = sum (N_g/N) tr(B0 A^-1) / npar``.
"""
from __future__ import annotations

import numpy as np

from .fit import Engine

__all__ = ["sandwich", "yuan_bentler_mplus", "h1_traces", "h1_traces_fiml"]


def _first_order(engine: Engine, theta: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    scores = engine.casewise_scores(theta)
    per_group = [s.T @ s / s.shape[0] for s in scores]
    total = sum(g.n / engine.N * b for g, b in zip(engine.groups, per_group))
    return total, per_group


def sandwich(engine: Engine, theta: np.ndarray) -> dict:
    """Observed information A, first-order B0 (per case) and the robust covariance A^-1 B0 A^-1 / N."""
    A = engine.hessian(theta)
    B, B_groups = _first_order(engine, theta)
    A_inv = np.linalg.inv(A)
    vcov = A_inv @ B @ A_inv / engine.N
    return {"A": A, "A_inv": A_inv, "B": B, "B_groups": B_groups, "vcov": (vcov + vcov.T) / 2}


def h1_traces(engine: Engine) -> tuple[list[float], list[int]]:
    """Per group tr(B1 A1^-1) of the saturated model at the sample moments, and its number of moments."""
    traces, ndats = [], []
    for gd in engine.groups:
        p = gd.cov.shape[0]
        W = np.linalg.inv(gd.cov)
        rows, cols = np.tril_indices(p)
        # saturated scores for vech(Sigma): d logL_i / d sigma_ab
        Z = (gd.X - gd.mean) @ W
        M = 0.5 * (np.einsum("ia,ib->iab", Z, Z) - W[None])
        factor = np.where(rows == cols, 1.0, 2.0)
        sc_cov = M[:, rows, cols] * factor
        # expected information of vech(Sigma): 0.5 * D'(W x W)D, element (ab),(cd)
        Wa_c = W[rows][:, rows]  # W[a, c]
        Wb_d = W[cols][:, cols]
        Wa_d = W[rows][:, cols]
        Wb_c = W[cols][:, rows]
        A1 = 0.5 * (Wa_c * Wb_d + Wa_d * Wb_c) * np.outer(factor, factor) / 2
        sc = sc_cov
        if engine.meanstructure:
            sc = np.hstack([Z, sc_cov])
            A1 = np.block([[W, np.zeros((p, len(rows)))], [np.zeros((len(rows), p)), A1]])
        keep = _not_x(engine, rows, cols)
        A1, sc = A1[np.ix_(keep, keep)], sc[:, keep]
        B1 = sc.T @ sc / gd.n
        traces.append(float(np.sum(B1 * np.linalg.inv(A1).T)))
        ndats.append(A1.shape[0])
    return traces, ndats


def _not_x(engine: Engine, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Moments kept by lavaan's h1 information under fixed.x: all but the x-x (co)variances and the x means."""
    xi = np.array([engine.pos[v] for v in engine.pt.ov_x], dtype=int)
    cov_keep = ~(np.isin(rows, xi) & np.isin(cols, xi))
    if engine.meanstructure:
        p = engine.p
        mean_keep = ~np.isin(np.arange(p), xi)
        return np.concatenate([mean_keep, cov_keep])
    return cov_keep


def yuan_bentler_mplus(engine: Engine, theta: np.ndarray, df: int, sw: dict | None = None,
                       h1: tuple[list[float], list[int]] | None = None) -> dict:
    """lavaan's ``yuan.bentler.mplus`` scaling factor and its parts for one fitted model."""
    if sw is None:
        sw = sandwich(engine, theta)
    tr_h1, ndat = h1 if h1 is not None else h1_traces(engine)
    tr_h0 = [gd.n / engine.N * float(np.sum(Bg * sw["A_inv"].T)) for gd, Bg in zip(engine.groups, sw["B_groups"])]
    trace_ug = sum(tr_h1) - sum(tr_h0)
    c = trace_ug / df if df > 0 else float("nan")
    if c < 0:
        c = float("nan")
    return {"c": c, "trace_ugamma": trace_ug, "scaling_factor_h1": sum(tr_h1) / sum(ndat),
            "scaling_factor_h0": sum(tr_h0) / engine.q if engine.q else float("nan")}


def h1_traces_fiml(engine: Engine) -> tuple[list[float], list[int]]:
    """FIML version of :func:`h1_traces`: per group tr(B1 A1^-1) of the saturated model at the EM moments, with
    A1 the observed information (Hessian of the pattern-wise log-likelihood) and B1 the first-order information
    (casewise scores with the missing entries left out), lavaan's ``missing = "ml"`` with MLR."""
    from .fit import FIMLEngine
    from .model import ParTable

    traces, ndats = [], []
    names = list(engine.pt.ov_names)
    p = len(names)
    for gd in engine.groups:
        rows, theta = [], []
        for j in range(p):
            for i in range(j, p):
                rows.append({"lhs": names[j], "op": "~~", "rhs": names[i], "group": 1, "user": 0, "free": True,
                             "ustart": None, "start": None, "label": "", "exo": False, "line": None})
                theta.append(gd.cov[i, j])
        for j in range(p):
            rows.append({"lhs": names[j], "op": "~1", "rhs": "", "group": 1, "user": 0, "free": True,
                         "ustart": None, "start": None, "label": "", "exo": False, "line": None})
            theta.append(gd.mean[j])
        for k, r in enumerate(rows):
            r["id"], r["par"] = k + 1, k
        spt = ParTable(rows=rows, ov_names=names, lv_names=[], ov_x=[], ov_nox=names, lv_x=[], lv_endo=[],
                       ngroups=1, group_labels=[None], meanstructure=True, std_lv=False, npar=len(rows))
        seng = FIMLEngine(spt, [gd])
        theta = np.asarray(theta)
        A1 = seng.hessian(theta)
        sc = seng.casewise_scores(theta)[0]
        B1 = sc.T @ sc / gd.n
        traces.append(float(np.sum(B1 * np.linalg.inv(A1).T)))
        ndats.append(len(rows))
    return traces, ndats
