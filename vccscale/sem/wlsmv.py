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
* standard errors ("robust.sem"): (Delta' W Delta)^-1 Delta' W Gamma W Delta (Delta' W Delta)^-1 / (N - 1);
* test: T = (N - 1) F ("chisq"; lavaan weights the categorical fit function by (N - 1) / N); the mean- and
  variance-adjusted ("scaled.shifted", Asparouhov & Muthen 2010) test
  a T + b with a = sqrt(df / tr(U Gamma U Gamma)), b = df - a tr(U Gamma), U = W - W Delta (Delta' W Delta)^-1
  Delta' W ("chisq.scaled"; "chisq.scaling.factor" = 1 / a; df.scaled = df);
* baseline: the independence model (correlations 0, thresholds free) with its own scaled-shifted test; CFI, TLI,
  RMSEA (divisor N - 1, as lavaan for categorical data) and their ``.scaled`` versions from the scaled statistics;
  RMSEA confidence interval as lavaan's (noncentral chi-square on T); SRMR as lavaan's for correlations (the
  squared residual correlations below the diagonal summed over p (p + 1) / 2 elements).

Not covered (refused with the reason): mixed ordered and continuous indicators, observed covariates, multiple
groups, missing data, the theta parameterisation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError, ModelError
from .results import FitResult, estimate_row, labelled_vcov

__all__ = ["fit_ordinal", "OrdinalFitResult", "ORDINAL_ESTIMATORS", "ordinal_reliability"]

#: estimator -> (weight, robust SEs and scaled-shifted test)
ORDINAL_ESTIMATORS = {"WLSMV": "DWLS", "DWLS": "DWLS", "ULSMV": "ULS", "ULS": "ULS"}


@dataclass
class _OrdState:
    engine: object
    pt: object
    theta: np.ndarray          # structural parameters
    vcov: np.ndarray           # full (thresholds first, then structural)
    stats: object
    names: list                # free-parameter names of the full vector


@dataclass(frozen=True)
class OrdinalFitResult(FitResult):
    """A fitted model with ordered indicators (see :mod:`vccscale.sem.wlsmv`): :class:`FitResult` whose estimates
    hold the thresholds (``op`` "|", ``rhs`` "t1", ...), the (not free) residual variances 1 - common variance and
    the scale factors (``~*~``), with lavaan's categorical fit measures."""

    ordered: tuple = ()

    @property
    def partable(self):
        return self._state.pt

    @property
    def theta(self) -> np.ndarray:
        return np.array(self._state.theta, dtype=float)

    def row_values(self, theta=None):
        st = self._state
        return st.engine.row_values(st.theta if theta is None else np.asarray(theta, float))

    def vcov(self, labels=None) -> pd.DataFrame:
        st = self._state
        names = dict(enumerate(st.names))
        by_label = {}
        nth = st.stats.nth
        for r in st.pt.rows:
            if r["par"] >= 0 and r["label"]:
                by_label.setdefault(r["label"], nth + int(r["par"]))
        return labelled_vcov(st.vcov, names, by_label, labels)

    def modindices(self, sort: bool = False, minimum_value: float = 0.0) -> pd.DataFrame:
        raise ModelError("modification indices are not available for models with ordered indicators")

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["ordered"] = list(self.ordered)
        out["parameterization"] = "delta"
        return out

    def summary(self) -> str:
        f = self.fit
        lines = [f"vccscale SEM ({self.estimator}, ordered indicators, delta parameterisation), {sum(self.nobs)} "
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


def _rmsea_ci(T: float, df: float, N: int, level: float = 0.90) -> tuple[float, float]:
    """lavaan's RMSEA interval: the noncentrality lambda with P(chi2(df, lambda) <= T) = 0.95 / 0.05,
    RMSEA = sqrt(lambda / (df N))."""
    from scipy import optimize

    if not (np.isfinite(T) and df > 0):
        return float("nan"), float("nan")

    def root(p):
        f = lambda lam: stats.ncx2.cdf(T, df, lam) - p if lam > 0 else stats.chi2.cdf(T, df) - p  # noqa: E731
        if f(0.0) < 0:
            return 0.0
        hi = max(T, 1.0)
        while f(hi) > 0:
            hi *= 2
        return optimize.brentq(f, 0.0, hi, xtol=1e-12)

    a = (1 - level) / 2
    lo, hi = root(1 - a), root(a)
    return math.sqrt(lo / (df * N)), math.sqrt(hi / (df * N))


def fit_ordinal(data: pd.DataFrame, model: str, ordered=True, *, model_type: str = "cfa", estimator: str = "WLSMV",
                std_lv: bool = False, max_iter: int = 500) -> OrdinalFitResult:
    """Fit ``model`` with ordered indicators (``ordered``: True for every observed variable, or their names) by
    DWLS (``WLSMV``) or ULS (``ULSMV``); see the module docstring.

    R: ``lavaan::cfa/sem(model, data, ordered = TRUE, estimator = "WLSMV")`` (tests/reference/ordinal_sem/
    wlsmv_reference.R).
    """
    from .fit import Engine, GroupData, start_values
    from .model import build_partable, renumber_free
    from .polychoric import ordinal_stats
    from .syntax import parse_model

    est_key = str(estimator).upper()
    if est_key not in ORDINAL_ESTIMATORS:
        raise ModelError(f"estimator {estimator!r} is not available for ordered indicators: use WLSMV, DWLS, ULSMV "
                         "or ULS")
    weight = ORDINAL_ESTIMATORS[est_key]
    rows = parse_model(model)
    pt = build_partable(rows, model_type=model_type, std_lv=std_lv, meanstructure=False, fixed_x=True)
    ov = list(pt.ov_names)
    if pt.ov_x:
        raise ModelError(f"observed covariates ({', '.join(pt.ov_x)}) are not supported with ordered indicators "
                         "yet (lavaan's conditional.x)")
    if any(r.op in (":=", "==", "<", ">") for r in rows):
        raise ModelError("':=' and constraint rows are not supported with ordered indicators yet")
    if ordered is True:
        ord_names = ov
    else:
        ord_names = list(dict.fromkeys(ordered))
        unknown = [v for v in ord_names if v not in ov]
        if unknown:
            raise ModelError(f"ordered variable(s) {', '.join(unknown)} are not observed variables of the model")
        cont = [v for v in ov if v not in ord_names]
        if cont:
            raise ModelError(f"{', '.join(cont)} would be continuous: a mix of ordered and continuous indicators is "
                             "not supported yet; declare every indicator ordered (--ordered without names)")
    missing_cols = [v for v in ov if v not in data.columns]
    if missing_cols:
        raise DataError(f"model variable(s) {', '.join(missing_cols)} not in the data", column=missing_cols[0])
    d = data[ov].apply(pd.to_numeric, errors="coerce")
    keep = d.notna().all(axis=1)
    n_dropped = int((~keep).sum())
    d = d[keep]
    if len(d) < 2 * len(ov):
        raise DataError(f"{len(d)} complete cases for {len(ov)} ordered variables: too few for polychoric "
                        "correlations")
    st = ordinal_stats(d, ov)
    N = st.n
    p = len(ov)
    # delta parameterisation: residual variances of the ordered indicators are 1 - common variance (not free)
    for r in pt.rows:
        if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in ov:
            if r["user"] and r["free"]:
                raise ModelError(f"model syntax line {r['line']}: the residual variance of the ordered variable "
                                 f"{r['lhs']} is not a free parameter in the delta parameterisation")
            r.update(free=False, ustart=0.0)
    renumber_free(pt)
    gd = GroupData(None, np.zeros((0, p)), N, np.zeros(p), st.cor.copy())
    eng = Engine(pt, [gd])
    pairs = st.pairs()
    ii = np.array([i for i, _ in pairs], dtype=int)
    jj = np.array([j for _, j in pairs], dtype=int)
    nth = st.nth
    s_cor = st.wls_obs[nth:]
    w_all = st.wls_vd if weight == "DWLS" else np.ones(len(st.wls_obs))
    w_cor = w_all[nth:]

    def sigma(theta):
        (S, _), = eng.implied(theta)
        return S[ii, jj], S

    def jac(theta):
        dS, _ = eng.derivatives(theta, 0)
        return dS[:, ii, jj].T                     # (npair, q)

    def F(theta):
        e = s_cor - sigma(theta)[0]
        return float(np.sum(w_cor * e * e))

    theta = start_values(eng)
    f_old = F(theta)
    iters = 0
    converged = False
    for iters in range(1, max_iter + 1):
        e = s_cor - sigma(theta)[0]
        J = jac(theta)
        WJ = J * w_cor[:, None]
        try:
            step = np.linalg.solve(J.T @ WJ, WJ.T @ e)
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
    # full parameter vector: thresholds (= the sample thresholds in a single group) and the structural ones
    q = eng.q
    J = jac(theta)
    Delta = np.zeros((len(st.wls_obs), nth + q))
    Delta[:nth, :nth] = np.eye(nth)
    Delta[nth:, nth:] = J
    WD = Delta * w_all[:, None]
    A = Delta.T @ WD
    warnings_: list[str] = []
    if n_dropped:
        warnings_.append(f"{n_dropped} of {len(data)} rows dropped (listwise: missing values on model variables)")
    if st.empty_cells:
        warnings_.append(f"{len(st.empty_cells)} bivariate table(s) have empty cells (e.g. "
                         f"{st.empty_cells[0][0]} x {st.empty_cells[0][1]}); as lavaan, nothing is added to tables "
                         "larger than 2 x 2")
    try:
        A_inv = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        raise ModelError("the model is not identified (Delta' W Delta is singular)") from None
    vcov = A_inv @ (WD.T @ st.gamma @ WD) @ A_inv / (N - 1)    # lavaan: the (N - 1) / N weighted fit function
    vcov = (vcov + vcov.T) / 2
    # tests: lavaan weights the categorical fit function by (N - 1) / N, so T = (N - 1) F
    e = s_cor - sigma(theta)[0]
    Fmin = float(np.sum(w_cor * e * e))
    T = (N - 1) * Fmin
    npar = nth + q
    df = float(len(st.wls_obs) - npar)
    ss = _scaled_shifted(T, df, Delta, w_all, st.gamma)
    # baseline: independence (correlations 0, thresholds free)
    Db = np.zeros((len(st.wls_obs), nth))
    Db[:nth, :nth] = np.eye(nth)
    Tb = (N - 1) * float(np.sum(w_cor * s_cor * s_cor))
    dfb = float(len(s_cor))
    ssb = _scaled_shifted(Tb, dfb, Db, w_all, st.gamma)
    fm = _fit_measures(T, df, Tb, dfb, ss, ssb, N, npar, Fmin * (N - 1) / N)
    S_imp = sigma(theta)[1]
    R_imp = S_imp.copy()
    np.fill_diagonal(R_imp, 1.0)
    res = st.cor - R_imp
    # lavaan's SRMR for correlations: the residual correlations below the diagonal over p (p + 1) / 2 elements
    fm["srmr"] = float(np.sqrt(np.sum(res[ii, jj] ** 2) / (p * (p + 1) / 2)))
    # parameter table
    names, estimates = _parameter_table(pt, eng, theta, vcov, st, S_imp)
    resvar = 1 - np.diag(S_imp)
    bad = [f"{v} ({resvar[k]:.4g})" for k, v in enumerate(ov) if resvar[k] < 0]
    if bad:
        warnings_.append("negative residual variance of the latent response (1 - common variance) for "
                         + ", ".join(bad) + ": a Heywood case; the solution is improper")
    r2 = pd.Series({v: float(np.diag(S_imp)[k]) for k, v in enumerate(ov)})
    fitted = {None: pd.DataFrame(R_imp, index=ov, columns=ov)}
    sample = {None: pd.DataFrame(st.cor, index=ov, columns=ov)}
    state = _OrdState(eng, pt, theta, vcov, st, names)
    return OrdinalFitResult(fit=fm, estimates=estimates, r2=r2, fitted_cov=fitted,
                            residual_cov={None: sample[None] - fitted[None]}, sample_cov=sample, estimator=est_key,
                            model=model, ngroups=1, group_labels=[], nobs=[N], n_dropped=n_dropped,
                            iterations=int(iters), warnings=tuple(warnings_), missing="listwise", se="robust.sem",
                            test=("scaled.shifted",), _state=state, ordered=tuple(ov))


def _fit_measures(T, df, Tb, dfb, ss, ssb, N, npar, Fmin) -> dict:
    def cfi(t, d, tb, db):
        t1 = max(t - d, 0.0)
        t2 = max(t - d, tb - db, 0.0)
        return 1.0 if t2 == 0 else 1 - t1 / t2

    def tli(t, d, tb, db):
        if d <= 0:
            return float("nan")
        return (tb / db - t / d) / (tb / db - 1)

    n1 = N - 1   # lavaan's categorical RMSEA divides by N - 1

    def rmsea(t, d):
        return math.sqrt(max(0.0, (t - d) / (d * n1))) if d > 0 else float("nan")

    def close(t, d):
        return float(stats.ncx2.sf(t, d, 0.05 ** 2 * d * n1)) if d > 0 else float("nan")

    Ts, Tbs = ss["stat"], ssb["stat"]
    lo, hi = _rmsea_ci(T, df, n1)
    lo_s, hi_s = _rmsea_ci(Ts, df, n1)
    fm = {"npar": float(npar), "fmin": Fmin / 2, "chisq": T, "df": df,
          "pvalue": float(stats.chi2.sf(T, df)) if df > 0 else float("nan"),
          "chisq.scaled": Ts, "df.scaled": df,
          "pvalue.scaled": float(stats.chi2.sf(Ts, df)) if df > 0 else float("nan"),
          "chisq.scaling.factor": 1 / ss["a"] if ss["a"] else float("nan"), "chisq.shift.parameters": ss["b"],
          "baseline.chisq": Tb, "baseline.df": dfb, "baseline.pvalue": float(stats.chi2.sf(Tb, dfb)),
          "baseline.chisq.scaled": Tbs, "baseline.df.scaled": dfb,
          "baseline.pvalue.scaled": float(stats.chi2.sf(Tbs, dfb)),
          "baseline.chisq.scaling.factor": 1 / ssb["a"] if ssb["a"] else float("nan"),
          "cfi": cfi(T, df, Tb, dfb), "tli": tli(T, df, Tb, dfb),
          "cfi.scaled": cfi(Ts, df, Tbs, dfb), "tli.scaled": tli(Ts, df, Tbs, dfb),
          "rmsea": rmsea(T, df), "rmsea.ci.lower": lo, "rmsea.ci.upper": hi, "rmsea.ci.level": 0.90,
          "rmsea.scaled": rmsea(Ts, df), "rmsea.ci.lower.scaled": lo_s, "rmsea.ci.upper.scaled": hi_s}
    fm["nnfi"], fm["nnfi.scaled"] = fm["tli"], fm["tli.scaled"]
    for suf, t, tb in (("", T, Tb), (".scaled", Ts, Tbs)):
        fm["nfi" + suf] = (tb - t) / tb
        fm["rfi" + suf] = (tb / dfb - t / df) / (tb / dfb) if df > 0 else float("nan")
        fm["ifi" + suf] = (tb - t) / (tb - df)
        fm["rni" + suf] = 1 - max(t - df, 0.0) / max(tb - dfb, 0.0) if tb > dfb else float("nan")
    fm["rmsea.pvalue"] = close(T, df)
    fm["rmsea.pvalue.scaled"] = close(Ts, df)
    return fm


def _parameter_table(pt, eng, theta, vcov, st, S_imp) -> tuple[list[str], pd.DataFrame]:
    from .results import standardize

    nth = st.nth
    se_all = np.sqrt(np.clip(np.diag(vcov), 0, None))
    vals = eng.row_values(theta)
    cov_full, *_ = eng.implied_all(theta, 0)
    d = np.diag(cov_full).copy()
    ov = list(pt.ov_names)
    for k, v in enumerate(ov):
        d[eng.pos[v]] = 1.0                       # latent responses have unit variance
    resvar = {v: 1 - S_imp[k, k] for k, v in enumerate(ov)}
    ctx = {"eta2": {v: d[eng.pos[v]] for v in pt.lv_names}, "ov2": {v: 1.0 for v in ov},
           "rv": {**{r["lhs"]: vals[k] for k, r in enumerate(pt.rows) if r["op"] == "~~" and r["lhs"] == r["rhs"]},
                  **resvar}}
    lv_set, ov_set = set(pt.lv_names), set(ov)
    names = list(st.threshold_names)
    names += [None] * eng.q
    recs = []
    for k, r in enumerate(pt.rows):
        est = float(vals[k])
        if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in ov_set:
            est = resvar[r["lhs"]]
        free = r["par"] >= 0
        se = float(se_all[nth + r["par"]]) if free else 0.0
        if free and names[nth + r["par"]] is None:
            names[nth + r["par"]] = r["label"] or f"{r['lhs']}{r['op']}{r['rhs']}"
        slv = standardize(r["lhs"], r["op"], r["rhs"], est, ctx, lv_set, ov_set, "lv")
        sall = standardize(r["lhs"], r["op"], r["rhs"], est, ctx, lv_set, ov_set, "all")
        recs.append(estimate_row(r["lhs"], r["op"], r["rhs"], 1, r["label"], est, se, free, slv, sall))
    # thresholds after the loadings (lavaan's order: =~ rows, then |, then ~~)
    th_recs = []
    for m, name in enumerate(st.threshold_names):
        v, t = name.split("|")
        est = float(st.wls_obs[m])
        th_recs.append(estimate_row(v, "|", t, 1, "", est, float(se_all[m]), True, est, est))
    first = [r for r in recs if r["op"] == "=~"]
    rest = [r for r in recs if r["op"] != "=~"]
    scale = [estimate_row(v, "~*~", v, 1, "", 1.0, 0.0, False, 1.0, 1.0) for v in ov]
    means = [estimate_row(v, "~1", "", 1, "", 0.0, 0.0, False, 0.0, 0.0) for v in [*ov, *pt.lv_names]]
    table = pd.DataFrame.from_records(first + th_recs + rest + scale + means)
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
    from .polychoric import bivariate_normal_cdf

    st = fit._state.stats
    est = fit.estimates
    names = list(st.names)
    R = st.cor
    loads = est[est["op"] == "=~"]
    by_item = loads.groupby("rhs")["lhs"].nunique()
    S_common = fit.fitted_cov[None].to_numpy().copy()   # implied correlations; the diagonal becomes the common part
    resvar = est[(est["op"] == "~~") & (est["lhs"] == est["rhs"]) & est["lhs"].isin(names)].set_index("lhs")["est"]
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
        lam = grp.set_index("rhs")["est"].reindex(items).to_numpy(float)
        psi = float(est[(est["op"] == "~~") & (est["lhs"] == f) & (est["rhs"] == f)]["est"].iloc[0])
        omega_lat = float(lam.sum() ** 2 * psi / Rs.sum())
        th = [st.thresholds[i] for i in ix]
        num = den = 0.0
        for a in range(k):
            for b in range(k):
                ta, tb = th[a], th[b]
                marg = float(_ndtr(ta).sum() * _ndtr(tb).sum())
                H, K = np.meshgrid(ta, tb, indexing="ij")
                c_ab = S_common[ix[a], ix[b]]
                r_ab = Rs[a, b]
                num += float(bivariate_normal_cdf(H.ravel(), K.ravel(), c_ab).sum()) - marg
                den += float(_bvn_cdf_r(H.ravel(), K.ravel(), r_ab).sum()) - marg
        rows.append({"factor": f, "n_items": k, "alpha_ordinal": float(alpha), "omega_latent": omega_lat,
                     "omega_categorical": num / den})
    return pd.DataFrame(rows)


def _ndtr(x):
    from scipy import special

    return special.ndtr(np.asarray(x, float))


def _bvn_cdf_r(h, k, r: float):
    """Phi2 with correlation r, also r = 1 (then Phi(min(h, k)))."""
    from .polychoric import bivariate_normal_cdf

    if r >= 1 - 1e-12:
        return _ndtr(np.minimum(h, k))
    return bivariate_normal_cdf(h, k, r)
