"""CFA / SEM with ordered indicators: DWLS / WLSMV and ULS / ULSMV with lavaan 0.6 parity.

``fit_ordinal(data, model, ordered=...)`` follows ``lavaan::cfa/sem(model, data, ordered = ..., estimator =
"WLSMV")`` (single group, every observed variable ordered, complete cases, delta parameterisation):

* sample statistics: thresholds, polychoric correlations and their NACOV (:mod:`vccscale.sem.polychoric`, Muthen
  1984); the observed vector s = (thresholds, correlations below the diagonal, column by column);
* model: the latent part as for continuous indicators; for each ordered indicator the latent response y* has unit
  variance, so its residual variance is 1 - (its common variance) and is not a free parameter (lavaan's delta
  parameterisation: scale factors 1, rows ``y ~*~ y``); the model thresholds are free (``y | t1``, ...);
* estimation: F = (s - sigma(theta))' W (s - sigma(theta)) with W = diag(1 / diag(NACOV)) (DWLS; WLSMV) or W = I
  (ULS; ULSMV), minimised by Gauss-Newton with step halving to a relative change of 1e-12;
* standard errors ("robust.sem"): A^-1 B A^-1 / (N - G) with A = sum_g f_g Delta_g' W_g Delta_g,
  B = sum_g f_g Delta_g' W_g Gamma_g W_g Delta_g, f_g = n_g / N (one group: / (N - 1));
* test: T = (N - 1) F ("chisq"; lavaan weights the categorical fit function by (N - 1) / N); the mean- and
  variance-adjusted ("scaled.shifted", Asparouhov & Muthen 2010) test
  a T + b with a = sqrt(df / tr(U Gamma U Gamma)), b = df - a tr(U Gamma), U = W - W Delta (Delta' W Delta)^-1
  Delta' W ("chisq.scaled"; "chisq.scaling.factor" = 1 / a; df.scaled = df);
* baseline: the independence model (correlations 0, thresholds free) with its own scaled-shifted test; CFI, TLI,
  RMSEA (divisor N - 1, as lavaan for categorical data) and their ``.scaled`` versions from the scaled statistics;
  RMSEA confidence interval as lavaan's (noncentral chi-square on T); SRMR as lavaan's for correlations (the
  squared residual correlations below the diagonal summed over p (p + 1) / 2 elements).

Multiple groups (``group=``, ``group_equal``): per-group sample statistics, F = sum_g (n_g - 1) F_g, the
scaled-shifted test over the stacked groups; with equal thresholds the scale factors (``~*~``) and latent means of
groups 2.. are free (lavaan's rule). ``parameterization="theta"``: the residual variances of the latent responses
are parameters (1 in group 1, free in groups 2.. with equal thresholds) and the scale factors follow from them;
same fit as delta. Not covered (refused with the reason): mixed ordered and continuous indicators, observed
covariates. Missing answers: listwise or pairwise (as lavaan).
:func:`ordinal_difference_test` is lavTestLRT's scaled-shifted difference test of nested WLSMV fits (Satorra 2000).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ._dist import chi2_sf

from ..errors import DataError, ModelError
from .model import ORDINAL_ESTIMATORS
from .results import FitResult, estimate_row, labelled_vcov

__all__ = ["fit_ordinal", "OrdinalFitResult", "ORDINAL_ESTIMATORS", "ordinal_reliability", "ordinal_difference_test"]


@dataclass
class _OrdState:
    model: object              # _OrdModel (its engine, the groups' sample statistics)
    pt: object
    theta: np.ndarray          # every free parameter: the engine's, then thresholds, then scale factors
    vcov: np.ndarray           # of theta
    names: list                # free-parameter names of theta


@dataclass(frozen=True)
class OrdinalFitResult(FitResult):
    """A fitted model with ordered indicators (see :mod:`vccscale.sem.wlsmv`): :class:`FitResult` whose estimates
    hold the thresholds (``op`` "|", ``rhs`` "t1", ...), the (not free) residual variances 1 - common variance and
    the scale factors (``~*~``), with lavaan's categorical fit measures."""

    ordered: tuple = ()
    parameterization: str = "delta"

    @property
    def partable(self):
        return self._state.pt

    @property
    def theta(self) -> np.ndarray:
        return np.array(self._state.theta, dtype=float)

    def row_values(self, theta=None):
        st = self._state
        full = st.theta if theta is None else np.asarray(theta, float)
        return st.model.eng.row_values(full[:st.model.q])

    def vcov(self, labels=None) -> pd.DataFrame:
        st = self._state
        names = dict(enumerate(st.names))
        by_label = {}
        for r in st.pt.rows:
            if r["par"] >= 0 and r["label"]:
                by_label.setdefault(r["label"], int(r["par"]))
        return labelled_vcov(st.vcov, names, by_label, labels)

    def modindices(self, sort: bool = False, minimum_value: float = 0.0) -> pd.DataFrame:
        raise ModelError("modification indices are not available for models with ordered indicators")

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["ordered"] = list(self.ordered)
        out["parameterization"] = self.parameterization
        return out

    def summary(self) -> str:
        f = self.fit
        lines = [f"vccscale SEM ({self.estimator}, ordered indicators, {self.parameterization} parameterisation), "
                 f"{sum(self.nobs)} "
                 f"cases" + (f", {self.n_dropped} dropped (listwise)" if self.n_dropped else ""),
                 f"  parameters {int(f['npar'])}, iterations {self.iterations}", "",
                 f"  chi-square {f['chisq']:.3f}, df {int(f['df'])}, p {f['pvalue']:.3f}",
                 f"  scaled-shifted chi-square {f['chisq.scaled']:.3f} (scaling factor {f['chisq.scaling.factor']:.3f},"
                 f" shift {f['chisq.shift.parameters']:.3f}), p {f['pvalue.scaled']:.3f}",
                 f"  CFI {f['cfi']:.3f} (scaled {f['cfi.scaled']:.3f})  TLI {f['tli']:.3f} (scaled "
                 f"{f['tli.scaled']:.3f})  RMSEA {f['rmsea']:.3f} (scaled {f['rmsea.scaled']:.3f})  SRMR "
                 f"{f['srmr']:.3f}", ""]
        cols = ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]
        with pd.option_context("display.width", 140, "display.max_rows", 1000):
            lines.append(self.estimates[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def _scaled_shifted(T: float, df: float, Delta: np.ndarray, w: np.ndarray, Gamma: np.ndarray) -> dict:
    """lavaan's scaled.shifted test: U = W - W D (D' W D)^-1 D' W; a = sqrt(df / tr(UG UG)), b = df - a tr(UG)."""
    WD = Delta * w[:, None]
    A = Delta.T @ WD
    U = np.diag(w) - WD @ np.linalg.solve(A, WD.T)
    UG = U @ Gamma
    tr1 = float(np.trace(UG))
    tr2 = float(np.sum(UG * UG.T))
    if df <= 0 or tr2 <= 0:
        return {"stat": float("nan"), "a": float("nan"), "b": float("nan"), "tr1": tr1, "tr2": tr2}
    a = math.sqrt(df / tr2)
    b = df - a * tr1
    return {"stat": a * T + b, "a": a, "b": b, "tr1": tr1, "tr2": tr2}


GROUP_EQUAL_ORDINAL = ("thresholds", "loadings", "regressions", "lv.variances", "lv.covariances", "means")


class _OrdModel:
    """Implied thresholds and polychoric correlations of every group (delta parameterisation) and their Jacobian.
    Parameters: the engine's (loadings, latent (co)variances, regressions, latent means, residual covariances),
    then the thresholds (one set when equal across groups), then the scale factors of groups 2.. (free when the
    thresholds are equal, lavaan's rule)."""

    def __init__(self, eng, stats, ov, equal_th: bool, theta_par: bool = False):
        self.eng, self.stats, self.ov = eng, stats, ov
        self.theta_par = theta_par
        self.G = len(stats)
        self.p = len(ov)
        st0 = stats[0]
        self.nth_g = st0.nth
        self.th_var = np.concatenate([[j] * len(t) for j, t in enumerate(st0.thresholds)]).astype(int)
        self.equal_th = equal_th
        self.q = eng.q
        self.nth_par = self.nth_g if equal_th else self.nth_g * self.G
        self.nsc = self.p * (self.G - 1) if equal_th and not theta_par else 0
        pos = {v: k for k, v in enumerate(ov)}
        self.rv_rows = [[k for k, r in enumerate(eng.pt.rows) if r["op"] == "~~" and r["lhs"] == r["rhs"]
                         and r["lhs"] in pos and r["group"] == g + 1] for g in range(self.G)]
        self.rv_pos = [[pos[eng.pt.rows[k]["lhs"]] for k in rows] for rows in self.rv_rows]
        self.npar = self.q + self.nth_par + self.nsc
        pairs = st0.pairs()
        self.ii = np.array([i for i, _ in pairs], dtype=int)
        self.jj = np.array([j for _, j in pairs], dtype=int)

    def split(self, theta):
        te = theta[:self.q]
        th = theta[self.q:self.q + self.nth_par]
        sc = theta[self.q + self.nth_par:]
        return te, th, sc

    def th_index(self, g):
        off = self.q + (0 if self.equal_th else g * self.nth_g)
        return np.arange(off, off + self.nth_g)

    def scales(self, sc, g):
        if g == 0 or not self.nsc:
            return np.ones(self.p)
        return sc[(g - 1) * self.p:g * self.p]

    def resid(self, theta, g):
        """Theta parameterisation: the residual variances of the latent responses in group ``g``."""
        vals = self.eng.row_values(theta[:self.q])
        out = np.zeros(self.p)
        out[self.rv_pos[g]] = vals[self.rv_rows[g]]
        return out

    def sigma(self, theta, g):
        te, th, sc = self.split(theta)
        (S, mu) = self.eng.implied(te)[g]
        # delta: scale factors are parameters (1 in group 1); theta: 1 / sd of the latent responses
        d = 1 / np.sqrt(np.diag(S)) if self.theta_par else self.scales(sc, g)
        tau = theta[self.th_index(g)]
        v = self.th_var
        tstar = d[v] * (tau - mu[v])
        rho = d[self.ii] * d[self.jj] * S[self.ii, self.jj]
        return np.concatenate([tstar, rho]), S, mu, d

    def jac(self, theta, g):
        te, th, sc = self.split(theta)
        vec, S, mu, d = self.sigma(theta, g)
        dS, dm = self.eng.derivatives(te, g)
        v, ii, jj = self.th_var, self.ii, self.jj
        J = np.zeros((len(vec), self.npar))
        nt = self.nth_g
        J[:nt, :self.q] = (-d[v][:, None] * dm[:, v].T)
        J[nt:, :self.q] = (d[ii] * d[jj])[:, None] * dS[:, ii, jj].T
        if self.theta_par:   # d = diag(S)^-1/2 depends on the parameters: dd = -d^3 / 2 dS_kk
            kk = np.arange(self.p)
            dd = -0.5 * (d ** 3)[None, :] * dS[:, kk, kk]          # (q, p)
            tau = theta[self.th_index(g)]
            J[:nt, :self.q] += ((tau - mu[v])[:, None] * dd[:, v].T)
            J[nt:, :self.q] += (S[ii, jj] * d[jj])[:, None] * dd[:, ii].T + (S[ii, jj] * d[ii])[:, None] * dd[:, jj].T
        J[np.arange(nt), self.th_index(g)] = d[v]
        if g > 0 and self.nsc:
            base = self.q + self.nth_par + (g - 1) * self.p
            tau = theta[self.th_index(g)]
            J[np.arange(nt), base + v] = tau - mu[v]
            rows = nt + np.arange(len(ii))
            J[rows, base + ii] += d[jj] * S[ii, jj]
            J[rows, base + jj] += d[ii] * S[ii, jj]
        return J


def fit_ordinal(data: pd.DataFrame, model: str, ordered=True, *, model_type: str = "cfa", estimator: str = "WLSMV",
                std_lv: bool = False, group: str | None = None, group_equal=(), missing: str = "listwise",
                parameterization: str = "delta", max_iter: int = 500) -> OrdinalFitResult:
    """Fit ``model`` with ordered indicators (``ordered``: True for every observed variable, or their names) by
    DWLS (``WLSMV``) or ULS (``ULSMV``); see the module docstring. ``group``: a multi-group model (groups in order
    of first appearance, as lavaan); ``group_equal``: lavaan's ``group.equal`` among "thresholds", "loadings",
    "regressions", "lv.variances", "lv.covariances", "means". With equal thresholds the scale factors (``~*~``)
    and latent means of groups 2.. are free (lavaan's rule); otherwise they are fixed at 1 and 0. ``missing``:
    "listwise" (complete cases) or "pairwise" (lavaan's ``missing = "pairwise"``: thresholds from each item's
    answers, correlations from the pairs answering both, rows with every item missing dropped).
    ``parameterization``: "delta" (lavaan's default: the latent responses have unit variance, scale factors
    ``~*~``) or "theta" (their residual variances ``y ~~ y`` are 1 in the first group and, with equal thresholds,
    free in groups 2..; the scale factors are derived, 1 / sqrt(var(y*))): the same fit, other units.

    R: ``lavaan::cfa/sem(model, data, ordered = TRUE, estimator = "WLSMV", group = , group.equal = )``
    (tests/reference/ordinal_sem/wlsmv_reference.R).
    """
    from .fit import Engine, GroupData, start_values
    from .model import build_partable, renumber_free
    from .polychoric import ordinal_stats
    from .syntax import parse_model

    if parameterization not in ("delta", "theta"):
        raise ModelError(f"parameterization must be 'delta' or 'theta', not {parameterization!r}")
    theta_par = parameterization == "theta"
    est_key = str(estimator).upper()
    if est_key not in ORDINAL_ESTIMATORS:
        raise ModelError(f"estimator {estimator!r} is not available for ordered indicators: use WLSMV, DWLS, ULSMV "
                         "or ULS")
    weight = ORDINAL_ESTIMATORS[est_key]
    group_equal = tuple([group_equal] if isinstance(group_equal, str) else group_equal or ())
    bad = [x for x in group_equal if x not in GROUP_EQUAL_ORDINAL]
    if bad:
        raise ModelError(f"group_equal {bad} is not available with ordered indicators (use "
                         f"{', '.join(GROUP_EQUAL_ORDINAL)})")
    if group_equal and group is None:
        raise ModelError("group_equal needs a multigroup model (group=...)")
    rows = parse_model(model)
    if any(r.op in (":=", "==", "<", ">") for r in rows):
        raise ModelError("':=' and constraint rows are not supported with ordered indicators yet")
    labels = [None]
    if group is not None:
        if group not in data.columns:
            raise DataError(f"group column {group!r} is not in the data", column=group)
        labels = list(pd.unique(data[group].dropna()))
        if len(labels) < 2:
            raise DataError(f"group column {group!r} has fewer than two groups", column=group)
    equal_th = "thresholds" in group_equal
    pt = build_partable(rows, model_type=model_type, std_lv=std_lv, ngroups=len(labels), group_labels=labels,
                        group_equal=[x for x in group_equal if x != "thresholds"], meanstructure=True,
                        fixed_x=True)
    ov = list(pt.ov_names)
    if pt.ov_x:
        raise ModelError(f"observed covariates ({', '.join(pt.ov_x)}) are not supported with ordered indicators "
                         "yet (lavaan's conditional.x)")
    if ordered is not True:
        ord_names = list(dict.fromkeys(ordered))
        unknown = [v for v in ord_names if v not in ov]
        if unknown:
            raise ModelError(f"ordered variable(s) {', '.join(unknown)} are not observed variables of the model")
        cont = [v for v in ov if v not in ord_names]
        if cont:
            raise ModelError(f"{', '.join(cont)} would be continuous: a mix of ordered and continuous indicators is "
                             "not supported yet; declare every indicator ordered (--ordered all)")
    missing_cols = [v for v in ov if v not in data.columns]
    if missing_cols:
        raise DataError(f"model variable(s) {', '.join(missing_cols)} not in the data", column=missing_cols[0])
    if missing not in ("listwise", "pairwise"):
        raise ModelError(f"missing must be 'listwise' or 'pairwise' for ordered indicators, not {missing!r}")
    d = data[ov].apply(pd.to_numeric, errors="coerce")
    keep = d.notna().all(axis=1) if missing == "listwise" else d.notna().any(axis=1)
    if group is not None:
        keep &= data[group].notna()
    n_dropped = int((~keep).sum())
    stats_g = []
    for lab in labels:
        dg = d[keep & (data[group] == lab)] if group is not None else d[keep]
        if len(dg) < 2 * len(ov):
            raise DataError(f"{len(dg)} complete cases{'' if group is None else f' in group {lab!r}'} for {len(ov)} "
                            "ordered variables: too few for polychoric correlations")
        stats_g.append(ordinal_stats(dg, ov, missing=missing))
    if group is not None:
        ref_levels = stats_g[0].levels
        for lab, st in zip(labels[1:], stats_g[1:]):
            diff = [v for v, a, b in zip(ov, ref_levels, st.levels) if a != b]
            if diff:
                raise DataError(f"{diff[0]} has categories {st.levels[ov.index(diff[0])]} in group {lab!r} but "
                                f"{ref_levels[ov.index(diff[0])]} in group {labels[0]!r}: a category no one chose in "
                                "a group has no threshold there (collapse categories first)", column=diff[0])
    # delta parameterisation: residual variances of the ordered indicators are 1 - common variance (not free),
    # their intercepts are 0, latent means are free in groups 2.. only with equal thresholds
    fresh = max([r["par"] for r in pt.rows] + [0]) + 1000
    for r in pt.rows:
        if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in ov and theta_par:
            # theta: residual variances 1 in group 1; free in groups 2.. once the thresholds are equal (lavaan)
            if r["user"] and r["free"] and r["group"] == 1:
                raise ModelError(f"model syntax line {r['line']}: the residual variance of the ordered variable "
                                 f"{r['lhs']} is fixed at 1 in the first group in the theta parameterisation")
            free = equal_th and r["group"] > 1
            if free and not r["free"]:
                fresh += 1
                r["par"] = fresh
            r.update(free=free, ustart=None if free else 1.0)
        elif r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in ov:
            if r["user"] and r["free"]:
                raise ModelError(f"model syntax line {r['line']}: the residual variance of the ordered variable "
                                 f"{r['lhs']} is not a free parameter in the delta parameterisation")
            r.update(free=False, ustart=0.0)
        elif r["op"] == "~1" and r["lhs"] in ov:
            r.update(free=False, ustart=0.0)
        elif r["op"] == "~1" and r["lhs"] in pt.lv_names and not r["user"]:
            free = equal_th and r["group"] > 1
            if free and not r["free"]:
                fresh += 1
                r["par"] = fresh          # a parameter of its own (renumbered below)
            r.update(free=free, ustart=None if free else 0.0)
    renumber_free(pt)
    p = len(ov)
    groups = [GroupData(lab, np.zeros((0, p)), st.n, np.zeros(p), st.cor.copy()) for lab, st in zip(labels, stats_g)]
    eng = Engine(pt, groups)
    om = _OrdModel(eng, stats_g, ov, equal_th, theta_par)
    G = len(labels)
    N = sum(st.n for st in stats_g)
    w = [st.wls_vd if weight == "DWLS" else np.ones(len(st.wls_obs)) for st in stats_g]
    cw = [(st.n - 1) * wg for st, wg in zip(stats_g, w)]      # lavaan: sum_g (n_g - 1) F_g

    def F(theta):
        return float(sum(np.sum(c * (st.wls_obs - om.sigma(theta, g)[0]) ** 2)
                         for g, (st, c) in enumerate(zip(stats_g, cw))))

    theta = np.concatenate([start_values(eng),
                            np.mean([np.concatenate(st.thresholds) for st in stats_g], axis=0) if equal_th
                            else np.concatenate([np.concatenate(st.thresholds) for st in stats_g]),
                            np.ones(om.nsc)])
    f_old = F(theta)
    converged = False
    iters = 0
    for iters in range(1, max_iter + 1):
        H = np.zeros((om.npar, om.npar))
        gvec = np.zeros(om.npar)
        for g, (st, c) in enumerate(zip(stats_g, cw)):
            J = om.jac(theta, g)
            e = st.wls_obs - om.sigma(theta, g)[0]
            H += J.T @ (J * c[:, None])
            gvec += J.T @ (c * e)
        try:
            step = np.linalg.solve(H, gvec)
        except np.linalg.LinAlgError:
            raise ModelError("the model is not identified (the weighted information matrix is singular)") from None
        t = 1.0
        while True:
            cand = theta + t * step
            f_new = F(cand)
            if f_new <= f_old or t < 1e-8:
                break
            t /= 2
        theta = cand
        done = abs(f_old - f_new) <= 1e-12 * max(1.0, f_old) and np.max(np.abs(t * step)) < 1e-8
        f_old = f_new
        if done:
            converged = True
            break
    if not converged:
        raise ModelError(f"the {est_key} estimation did not converge in {max_iter} iterations")
    Js = [om.jac(theta, g) for g in range(G)]
    # robust.sem (lavaan): A = sum_g f_g J'WJ, B = sum_g f_g J'W Gamma W J (f_g = n_g / N), V = A^-1 B A^-1 / (N - G)
    A = sum(st.n / N * J.T @ (J * wg[:, None]) for st, J, wg in zip(stats_g, Js, w))
    B = sum(st.n / N * (J * wg[:, None]).T @ st.gamma @ (J * wg[:, None]) for st, J, wg in zip(stats_g, Js, w))
    try:
        A_inv = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        raise ModelError("the model is not identified (Delta' W Delta is singular)") from None
    vcov = A_inv @ B @ A_inv / (N - G)
    vcov = (vcov + vcov.T) / 2
    # tests: T = sum_g (n_g - 1) F_g (lavaan weights the categorical fit function by (n_g - 1) / n_g)
    Fg = [float(np.sum(wg * (st.wls_obs - om.sigma(theta, g)[0]) ** 2)) for g, (st, wg) in enumerate(zip(stats_g, w))]
    T = sum((st.n - 1) * f for st, f in zip(stats_g, Fg))
    ndat = sum(len(st.wls_obs) for st in stats_g)
    npar = om.npar
    df = float(ndat - npar)
    fg = np.array([st.n / N for st in stats_g])
    ss = _scaled_shifted_groups(T, df, Js, w, [st.gamma for st in stats_g], fg)
    # baseline: independence (correlations 0, thresholds free in every group)
    Jb = []   # the baseline's Jacobian: each group's thresholds are free parameters of their own
    for g, st in enumerate(stats_g):
        Jb.append(np.zeros((len(st.wls_obs), st.nth * G)))
        Jb[g][np.arange(st.nth), g * st.nth + np.arange(st.nth)] = 1.0
    Tb = sum((st.n - 1) * float(np.sum(wg[st.nth:] * st.wls_obs[st.nth:] ** 2)) for st, wg in zip(stats_g, w))
    dfb = float(sum(len(st.wls_obs) - st.nth for st in stats_g))
    ssb = _scaled_shifted_groups(Tb, dfb, Jb, w, [st.gamma for st in stats_g], fg)
    fm = _fit_measures(T, df, Tb, dfb, ss, ssb, N, npar, T / N,
                       n_groups=G)
    srmr = []
    fitted, sample, r2 = {}, {}, {}
    warnings_: list[str] = []
    for g, (lab, st) in enumerate(zip(labels, stats_g)):
        vec, S, mu, dsc = om.sigma(theta, g)
        R_imp = (dsc[:, None] * S) * dsc[None, :]
        np.fill_diagonal(R_imp, 1.0)
        res = st.cor - R_imp
        srmr.append(math.sqrt(np.sum(res[om.ii, om.jj] ** 2) / (p * (p + 1) / 2)))
        fitted[lab] = pd.DataFrame(R_imp, index=ov, columns=ov)
        sample[lab] = pd.DataFrame(st.cor, index=ov, columns=ov)
        resvar = om.resid(theta, g) if theta_par else 1 / dsc ** 2 - np.diag(S)
        common = np.diag(S) - (resvar if theta_par else 0.0)
        bad = [f"{v} ({resvar[k]:.4g})" for k, v in enumerate(ov) if resvar[k] < 0]
        if bad:
            warnings_.append("negative residual variance of the latent response for " + ", ".join(bad)
                             + (f" in group {lab!r}" if group is not None else "")
                             + ": a Heywood case; the solution is improper")
        r2[lab] = pd.Series({v: float(common[k] * dsc[k] ** 2) for k, v in enumerate(ov)})
        if st.empty_cells:
            warnings_.append(f"{len(st.empty_cells)} bivariate table(s)"
                             + (f" of group {lab!r}" if group is not None else "")
                             + f" have empty cells (e.g. {st.empty_cells[0][0]} x {st.empty_cells[0][1]}); as "
                             "lavaan, nothing is added to tables larger than 2 x 2")
    fm["srmr"] = float(np.sum(fg * np.array(srmr)))
    if n_dropped:
        warnings_.insert(0, f"{n_dropped} of {len(data)} rows dropped ("
                         + ("listwise: missing values on model variables or the group" if missing == "listwise"
                            else "every model variable or the group missing") + ")")
    names, estimates = _parameter_table(pt, om, theta, vcov, labels)
    state = _OrdState(om, pt, theta, vcov, names)
    r2_out = r2[labels[0]] if group is None else pd.DataFrame({lab: r2[lab] for lab in labels})
    residual = {lab: sample[lab] - fitted[lab] for lab in labels}
    return OrdinalFitResult(fit=fm, estimates=estimates, r2=r2_out, fitted_cov=fitted, residual_cov=residual,
                            sample_cov=sample, estimator=est_key, model=model, ngroups=G,
                            group_labels=labels if group is not None else [], nobs=[st.n for st in stats_g],
                            n_dropped=n_dropped, iterations=int(iters), warnings=tuple(warnings_),
                            missing=missing, se="robust.sem", test=("scaled.shifted",), _state=state,
                            ordered=tuple(ov), parameterization=parameterization)


def _scaled_shifted_groups(T, df, Js, w, gammas, fg) -> dict:
    """lavaan's scaled.shifted test over groups: W* = blockdiag(f_g W_g), Gamma* = blockdiag(Gamma_g / f_g),
    E = sum_g f_g J_g' W_g J_g, U = W* - W* J E^-1 J' W* (f_g = n_g / N)."""
    J = np.vstack(Js)
    wstar = np.concatenate([f * wg for f, wg in zip(fg, w)])
    sizes = [len(wg) for wg in w]
    Gam = np.zeros((sum(sizes), sum(sizes)))
    o = 0
    for gm, f, m in zip(gammas, fg, sizes):
        Gam[o:o + m, o:o + m] = gm / f
        o += m
    return _scaled_shifted(T, df, J, wstar, Gam)


def _fit_measures(T, df, Tb, dfb, ss, ssb, N, npar, Fmin, n_groups: int = 1) -> dict:
    """lavaan's categorical fit measures (:mod:`vccscale.sem.measures`) from the standard and scaled-shifted
    statistics of the model and the baseline; the RMSEA family divides by N - G (lavaan for categorical data)."""
    from . import measures as M

    n1, G = N - n_groups, n_groups
    Ts, Tbs = ss["stat"], ssb["stat"]
    lo, hi = M.rmsea_ci(T, df, n1, G)
    lo_s, hi_s = M.rmsea_ci(Ts, df, n1, G)
    fm = {"npar": float(npar), "fmin": Fmin / 2, "chisq": T, "df": df, "pvalue": M.chisq_pvalue(T, df),
          "chisq.scaled": Ts, "df.scaled": df, "pvalue.scaled": M.chisq_pvalue(Ts, df),
          "chisq.scaling.factor": 1 / ss["a"] if ss["a"] else float("nan"), "chisq.shift.parameters": ss["b"],
          "baseline.chisq": Tb, "baseline.df": dfb, "baseline.pvalue": M.chisq_pvalue(Tb, dfb),
          "baseline.chisq.scaled": Tbs, "baseline.df.scaled": dfb, "baseline.pvalue.scaled": M.chisq_pvalue(Tbs, dfb),
          "baseline.chisq.scaling.factor": 1 / ssb["a"] if ssb["a"] else float("nan"),
          "rmsea": M.rmsea(T, df, n1, G), "rmsea.ci.lower": lo, "rmsea.ci.upper": hi, "rmsea.ci.level": 0.90,
          "rmsea.scaled": M.rmsea(Ts, df, n1, G), "rmsea.ci.lower.scaled": lo_s, "rmsea.ci.upper.scaled": hi_s,
          "rmsea.pvalue": M.rmsea_pvalue(T, df, n1, G), "rmsea.pvalue.scaled": M.rmsea_pvalue(Ts, df, n1, G)}
    for suf, t, tb in (("", T, Tb), (".scaled", Ts, Tbs)):
        fm["cfi" + suf] = M.cfi(t, df, tb, dfb)
        fm["tli" + suf] = fm["nnfi" + suf] = M.tli(t, df, tb, dfb)
        fm["nfi" + suf] = M.nfi(t, df, tb, dfb)
        fm["rfi" + suf] = M.rfi(t, df, tb, dfb)
        fm["ifi" + suf] = M.ifi(t, df, tb, dfb)
        fm["rni" + suf] = M.rni(t, df, tb, dfb)
    return fm


def _parameter_table(pt, om: _OrdModel, theta, vcov, labels) -> tuple[list[str], pd.DataFrame]:
    from .results import standardize

    eng = om.eng
    te, th, sc = om.split(theta)
    se_all = np.sqrt(np.clip(np.diag(vcov), 0, None))
    vals = eng.row_values(te)
    ov = list(pt.ov_names)
    lv_set, ov_set = set(pt.lv_names), set(ov)
    names: list = [None] * om.npar
    st0 = om.stats[0]
    recs_by_group = []
    for g in range(om.G):
        vec, S, mu, dsc = om.sigma(theta, g)
        cov_full, *_ = eng.implied_all(te, g)
        dfull = np.diag(cov_full)
        rv = om.resid(theta, g) if om.theta_par else 1 / dsc ** 2 - np.diag(S)
        resvar = {v: float(rv[k]) for k, v in enumerate(ov)}
        ctx = {"eta2": {v: dfull[eng.pos[v]] for v in pt.lv_names},
               "ov2": {v: 1 / dsc[k] ** 2 for k, v in enumerate(ov)},
               "rv": {**{r["lhs"]: vals[k] for k, r in enumerate(pt.rows)
                         if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["group"] == g + 1}, **resvar}}
        recs = []
        for k, r in enumerate(pt.rows):
            if r["group"] != g + 1:
                continue
            est = float(vals[k])
            if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in ov_set:
                est = resvar[r["lhs"]]
            free = r["par"] >= 0
            se = float(se_all[r["par"]]) if free else 0.0
            if free and names[r["par"]] is None:
                names[r["par"]] = r["label"] or f"{r['lhs']}{r['op']}{r['rhs']}.g{g + 1}"
            slv = standardize(r["lhs"], r["op"], r["rhs"], est, ctx, lv_set, ov_set, "lv")
            sall = standardize(r["lhs"], r["op"], r["rhs"], est, ctx, lv_set, ov_set, "all")
            recs.append(estimate_row(r["lhs"], r["op"], r["rhs"], g + 1, r["label"], est, se, free, slv, sall))
        tix = om.th_index(g)
        th_recs = []
        for m, name in enumerate(st0.threshold_names):
            v, t = name.split("|")
            k = int(tix[m])
            if names[k] is None:
                names[k] = f"{name}.g{g + 1}"
            est = float(theta[k])
            th_recs.append(estimate_row(v, "|", t, g + 1, "", est, float(se_all[k]), True,
                                        est * dsc[ov.index(v)], est * dsc[ov.index(v)]))
        scale = []
        for j, v in enumerate(ov):
            free = g > 0 and om.nsc > 0
            k = om.q + om.nth_par + (g - 1) * om.p + j if free else -1
            if free and names[k] is None:
                names[k] = f"{v}~*~{v}.g{g + 1}"
            scale.append(estimate_row(v, "~*~", v, g + 1, "", float(dsc[j]), float(se_all[k]) if free else 0.0,
                                      free, float(dsc[j]), 1.0))
        first = [r for r in recs if r["op"] == "=~"]
        rest = [r for r in recs if r["op"] not in ("=~", "~1")]
        means = [r for r in recs if r["op"] == "~1"]
        recs_by_group += first + th_recs + rest + scale + means
    table = pd.DataFrame.from_records(recs_by_group)
    return names, table


def ordinal_reliability(fit: OrdinalFitResult) -> pd.DataFrame:
    """Reliability of each factor of a model with ordered indicators (items loading on one factor only), on the
    polychoric scale as semTools 0.5-6 computes it:

    * ``alpha_ordinal``: Cronbach's alpha of the polychoric correlations (Zumbo, Gadermann & Zeisser 2007;
      ``psych::alpha(polychoric)``, = ``semTools::compRelSEM(fit, tau.eq = TRUE, ord.scale = FALSE)``);
    * ``omega_latent``: omega of the latent responses, (sum lambda)^2 psi / (sum of the polychoric correlations)
      (``compRelSEM(fit, ord.scale = FALSE)``, observed variance);
    * ``omega_categorical``: Green & Yang's (2009) omega of the sum of the ordinal item scores,
      sum_jj' sum_cc' [Phi2(t_jc, t_j'c'; common_jj') - Phi(t_jc) Phi(t_j'c')] over the same sums with the
      polychoric correlations (``compRelSEM(fit)``, ``ord.scale = TRUE``).

    R: ``semTools::compRelSEM`` and ``psych::alpha`` (tests/reference/ordinal_sem/wlsmv_reference.R).
    """
    from scipy import special

    from .polychoric import bivariate_normal_cdf

    st = fit._state.model.stats[0]
    est = fit.estimates
    names = list(st.names)
    R = st.cor
    loads = est[est["op"] == "=~"]
    by_item = loads.groupby("rhs")["lhs"].nunique()
    S_common = fit.fitted_cov[None].to_numpy().copy()   # implied correlations; the diagonal becomes the common part
    # standardized (latent-response scale), so that both parameterisations give the same values
    resvar = est[(est["op"] == "~~") & (est["lhs"] == est["rhs"]) & est["lhs"].isin(names)].set_index("lhs")["std_all"]
    for k, v in enumerate(names):
        S_common[k, k] = 1.0 - float(resvar[v])
    rows = []
    for f, grp in loads.groupby("lhs", sort=False):
        items = [i for i in grp["rhs"] if i in names]
        if len(items) < 2 or any(by_item[i] > 1 for i in items):
            continue
        ix = [names.index(i) for i in items]
        Rs = R[np.ix_(ix, ix)]
        k = len(ix)
        rbar = (Rs.sum() - k) / (k * (k - 1))
        alpha = k * rbar / (1 + (k - 1) * rbar)
        lam = grp.set_index("rhs")["std_all"].reindex(items).to_numpy(float)
        omega_lat = float(lam.sum() ** 2 / Rs.sum())
        th = [st.thresholds[i] for i in ix]
        num = den = 0.0
        for a in range(k):
            for b in range(k):
                ta, tb = th[a], th[b]
                marg = float(special.ndtr(ta).sum() * special.ndtr(tb).sum())
                H, K = np.meshgrid(ta, tb, indexing="ij")
                c_ab = S_common[ix[a], ix[b]]
                r_ab = Rs[a, b]
                num += float(bivariate_normal_cdf(H.ravel(), K.ravel(), c_ab).sum()) - marg
                den += float(bivariate_normal_cdf(H.ravel(), K.ravel(), r_ab).sum()) - marg  # exact at r = 1
        rows.append({"factor": f, "n_items": k, "alpha_ordinal": float(alpha), "omega_latent": omega_lat,
                     "omega_categorical": num / den})
    return pd.DataFrame(rows)


def ordinal_difference_test(constrained: OrdinalFitResult, free: OrdinalFitResult) -> dict:
    """The scaled-shifted chi-square difference test of two nested WLSMV fits (Satorra 2000; Asparouhov & Muthen
    2010; lavaan's ``lavTestLRT`` default for WLSMV, ``method = "satorra.2000"``, A matrix by the "delta" method):
    with Delta the stacked model Jacobians of each fit, H = Delta_1^+ Delta_0 and A a basis of the orthogonal
    complement of H's columns, P the information of the free model (sum_g f_g Delta_g' W_g Delta_g), M = P^-1 A'
    (A P^-1 A')^+ A P^-1 and K_g = Delta_g' W_g Gamma_g W_g Delta_g: tr1 = sum_g f_g tr(M K_g), tr2 = tr((M K)^2)
    with K = sum_g f_g K_g, a = sqrt(m / tr2), b = m - a tr1, T = a (T0 - T1) + b on m = df0 - df1 degrees of
    freedom. Returns chisq_diff, df_diff, pvalue, a, b.

    R: ``lavaan::lavTestLRT(fit1, fit0)`` (tests/reference/ordinal_sem/wlsmv_reference.R).
    """
    s0, s1 = constrained._state, free._state
    groups1 = s1.model.stats
    if len(s0.model.stats) != len(groups1):
        raise ModelError("the two fits have different numbers of groups")
    m = int(round(constrained.fit["df"] - free.fit["df"]))
    if m <= 0:
        raise ModelError("the constrained model must have more degrees of freedom than the free one")
    G = len(groups1)
    J1 = [s1.model.jac(s1.theta, g) for g in range(G)]
    J0 = [s0.model.jac(s0.theta, g) for g in range(G)]
    D1, D0 = np.vstack(J1), np.vstack(J0)
    H = np.linalg.pinv(D1) @ D0
    U, sv, _ = np.linalg.svd(H, full_matrices=True)
    rank = int(np.sum(sv > sv.max() * 1e-10)) if len(sv) else 0
    A = U[:, rank:].T
    weight = ORDINAL_ESTIMATORS[free.estimator]
    N = sum(st.n for st in groups1)
    fg = [st.n / N for st in groups1]
    w = [st.wls_vd if weight == "DWLS" else np.ones(len(st.wls_obs)) for st in groups1]
    P = sum(f * J.T @ (J * wg[:, None]) for f, J, wg in zip(fg, J1, w))
    P_inv = np.linalg.inv(P)
    APA = A @ P_inv @ A.T
    keep = ~((np.abs(APA).sum(axis=0) < np.sqrt(np.finfo(float).eps)) &
             (np.abs(APA).sum(axis=1) < np.sqrt(np.finfo(float).eps)))
    A = A[keep]
    M = P_inv @ A.T @ np.linalg.pinv(A @ P_inv @ A.T) @ A @ P_inv
    K = [(J * wg[:, None]).T @ st.gamma @ (J * wg[:, None]) for J, wg, st in zip(J1, w, groups1)]
    tr1 = float(sum(f * np.sum(M * Kg) for f, Kg in zip(fg, K)))
    MK = M @ sum(f * Kg for f, Kg in zip(fg, K))
    tr2 = float(np.sum(MK * MK.T))
    a = math.sqrt(m / tr2)
    b = m - a * tr1
    T = (constrained.fit["chisq"] - free.fit["chisq"]) * a + b
    return {"chisq_diff": float(T), "df_diff": m, "pvalue": float(chi2_sf(T, m)), "a": a, "b": b,
            "method": "satorra.2000 (scaled-shifted, delta A matrix)"}
