"""Fit measures with lavaan's names and definitions (``lavaan::fitMeasures``, lavaan 0.6-14).

Every function states which lavaan measure it reproduces.  ``N`` is the total number of complete cases (lavaan's
``ntotal``), ``G`` the number of groups, ``X2`` the ML test statistic ``N * F_ML`` (lavaan's ``chisq``; not
``(N - 1) F``), and ``df`` the model degrees of freedom.
"""
from __future__ import annotations

import math

import numpy as np
from ._dist import chi2_cdf, chi2_isf, chi2_sf, ncx2_cdf, root_bisect

__all__ = ["fit_measures", "cfi", "tli", "rmsea", "rmsea_ci", "rmsea_pvalue", "rmsea_notclose_pvalue", "nfi",
           "rfi", "ifi", "rni", "pnfi", "gfi", "agfi", "pgfi", "srmr_family", "aic", "bic", "bic2", "cn", "mfi",
           "ecvi", "chisq_pvalue"]


def chisq_pvalue(X2: float, df: float) -> float:
    """as lavaan::fitMeasures "pvalue": upper tail of the central chi-square (NaN when df = 0)."""
    if df <= 0:
        return float("nan")
    return float(chi2_sf(X2, df))


def cfi(X2, df, X2_null, df_null, c_hat=1.0, c_hat_null=1.0) -> float:
    """as lavaan::fitMeasures "cfi" (and "cfi.robust" with the scaling factors c_hat, c_hat_null):
    1 - max(X2 - c df, 0) / max(X2 - c df, X2_null - c0 df_null, 0)."""
    if any(_nan(v) for v in (X2, df, X2_null, df_null, c_hat, c_hat_null)):
        return float("nan")
    if not (df > 0 and c_hat != 1 and c_hat_null != 1):
        c_hat = c_hat_null = 1.0
    t1 = max(X2 - c_hat * df, 0.0)
    t2 = max(X2 - c_hat * df, X2_null - c_hat_null * df_null, 0.0)
    if math.isclose(t1, 0, abs_tol=1.5e-8) and math.isclose(t2, 0, abs_tol=1.5e-8):
        return 1.0
    return 1 - t1 / t2


def tli(X2, df, X2_null, df_null, c_hat=1.0, c_hat_null=1.0) -> float:
    """as lavaan::fitMeasures "tli" (= "nnfi"; "tli.robust" with scaling factors):
    1 - ((X2 - c df) df_null) / ((X2_null - c0 df_null) df)."""
    if any(_nan(v) for v in (X2, df, X2_null, df_null, c_hat, c_hat_null)):
        return float("nan")
    if not (df > 0 and c_hat != 1 and c_hat_null != 1):
        c_hat = c_hat_null = 1.0
    t1 = (X2 - c_hat * df) * df_null
    t2 = (X2_null - c_hat_null * df_null) * df
    if df > 0 and abs(t2) > 0:
        return 1 - t1 / t2
    return 1.0


def rni(X2, df, X2_null, df_null, c_hat=1.0, c_hat_null=1.0) -> float:
    """as lavaan::fitMeasures "rni": 1 - (X2 - df) / (X2_null - df_null)."""
    if any(_nan(v) for v in (X2, df, X2_null, df_null)):
        return float("nan")
    if not (df > 0 and c_hat != 1 and c_hat_null != 1):
        c_hat = c_hat_null = 1.0
    t1, t2 = X2 - c_hat * df, X2_null - c_hat_null * df_null
    if math.isclose(t2, 0, abs_tol=1.5e-8):
        return float("nan")
    return 1 - t1 / t2


def nfi(X2, df, X2_null, df_null) -> float:
    """as lavaan::fitMeasures "nfi": (X2_null - X2) / X2_null."""
    if df > df_null or math.isclose(X2_null, 0, abs_tol=1.5e-8):
        return float("nan")
    return (X2_null - X2) / X2_null if df > 0 else 1.0


def rfi(X2, df, X2_null, df_null) -> float:
    """as lavaan::fitMeasures "rfi": (X2_null/df_null - X2/df) / (X2_null/df_null)."""
    if df > df_null:
        return float("nan")
    if df > 0 and df_null > 0:
        t1, t2 = X2_null / df_null - X2 / df, X2_null / df_null
        return 1.0 if (t1 < 0 or t2 < 0) else t1 / t2
    return 1.0


def pnfi(X2, df, X2_null, df_null) -> float:
    """as lavaan::fitMeasures "pnfi": (df/df_null) * NFI."""
    if df_null > 0 and X2_null > 0:
        return (df / df_null) * (X2_null - X2) / X2_null
    return float("nan")


def ifi(X2, df, X2_null, df_null) -> float:
    """as lavaan::fitMeasures "ifi": (X2_null - X2) / (X2_null - df)."""
    t1, t2 = X2_null - X2, X2_null - df
    if t2 < 0:
        return 1.0
    if math.isclose(t2, 0, abs_tol=1.5e-8):
        return float("nan")
    return t1 / t2


def rmsea(X2, df, N, G=1, c_hat=1.0) -> float:
    """as lavaan::fitMeasures "rmsea": sqrt(max(X2/(N df) - c/N, 0)) * sqrt(G)  (N, not N - 1)."""
    if _nan(X2) or _nan(df):
        return float("nan")
    if df > 0:
        return math.sqrt(max(X2 / N / df - c_hat / N, 0.0)) * math.sqrt(G)
    return 0.0


def _pchisq(x, df, ncp):
    return chi2_cdf(x, df) if ncp <= 0 else ncx2_cdf(x, df, ncp)


def rmsea_ci(X2, df, N, G=1, c_hat=1.0, level=0.90) -> tuple[float, float]:
    """as lavaan::fitMeasures "rmsea.ci.lower" / "rmsea.ci.upper": invert the noncentral chi-square in its
    noncentrality lambda (``pchisq(X2, df, lambda) = 0.95 / 0.05``), rmsea = sqrt(c lambda / (N df)) sqrt(G)."""
    if any(_nan(v) for v in (X2, df, N)):
        return float("nan"), float("nan")
    upper_p, lower_p = 1 - (1 - level) / 2, (1 - level) / 2

    def f_low(lam):
        return _pchisq(X2, df, lam) - upper_p

    def f_up(lam):
        return _pchisq(X2, df, lam) - lower_p

    if df < 1 or f_low(0) < 0:
        lo = 0.0
    else:
        try:
            lam = root_bisect(f_low, 0, X2, xtol=1e-12, rtol=1e-12, maxiter=500)
            lo = math.sqrt(c_hat * lam / (N * df)) * (math.sqrt(G) if G > 1 else 1)
        except ValueError:
            lo = float("nan")
    n_rmsea = max(N, X2 * 4)
    if df < 1 or f_up(n_rmsea) > 0 or f_up(0) < 0:
        hi = 0.0
    else:
        try:
            lam = root_bisect(f_up, 0, n_rmsea, xtol=1e-12, rtol=1e-12, maxiter=500)
            hi = math.sqrt(c_hat * lam / (N * df)) * (math.sqrt(G) if G > 1 else 1)
        except ValueError:
            hi = float("nan")
    return lo, hi


def rmsea_pvalue(X2, df, N, G=1, c_hat=1.0, h0=0.05) -> float:
    """as lavaan::fitMeasures "rmsea.pvalue" (test of close fit, H0: rmsea <= .05):
    1 - pchisq(X2, df, ncp = N df h0^2 / (c G))."""
    if df <= 0 or _nan(X2):
        return float("nan")
    ncp = (N * df * (1 / c_hat) * h0 ** 2) / G
    return float(1 - _pchisq(X2, df, ncp))


def rmsea_notclose_pvalue(X2, df, N, G=1, c_hat=1.0, h0=0.08) -> float:
    """as lavaan::fitMeasures "rmsea.notclose.pvalue" (H0: rmsea >= .08): pchisq(X2, df, ncp)."""
    if df <= 0 or _nan(X2):
        return float("nan")
    ncp = (N * df * (1 / c_hat) * h0 ** 2) / G
    return float(_pchisq(X2, df, ncp))


def aic(logl, npar) -> float:
    """as lavaan::fitMeasures "aic": -2 logl + 2 npar (lavaan's log-likelihood scale, not semopy's)."""
    return -2 * logl + 2 * npar


def bic(logl, npar, N) -> float:
    """as lavaan::fitMeasures "bic": -2 logl + npar log(N)."""
    return -2 * logl + npar * math.log(N)


def bic2(logl, npar, N) -> float:
    """as lavaan::fitMeasures "bic2" (sample-size adjusted BIC): -2 logl + npar log((N + 2) / 24)."""
    return -2 * logl + npar * math.log((N + 2) / 24)


def cn(X2, df, N, alpha) -> float:
    """as lavaan::fitMeasures "cn_05" / "cn_01" (Hoelter's critical N)."""
    if df == 0 and X2 < np.finfo(float).eps:
        return float("nan")
    return float(chi2_isf(alpha, df) / (X2 / N) + 1)


def mfi(X2, df, N) -> float:
    """as lavaan::fitMeasures "mfi" (McDonald's fit index): exp(-(X2 - df) / (2N))."""
    return math.exp(-0.5 * (X2 - df) / N)


def ecvi(X2, npar, N) -> float:
    """as lavaan::fitMeasures "ecvi": X2/N + 2 npar / N."""
    return X2 / N + 2 * npar / N


def gfi(obs: list[np.ndarray], est: list[np.ndarray], V: list[np.ndarray], nobs: list[int]) -> float:
    """as lavaan::fitMeasures "gfi": 1 - e'Ve / s'Vs with s the sample moments (means, vech S), e the residuals and
    V the expected h1 information at the fitted moments; groups weighted by N_g / N."""
    vals = []
    for s, e, w in zip(obs, est, V):
        d = s - e
        vals.append(1 - (d @ w @ d) / (s @ w @ s))
    return _by_group_size(vals, nobs)


def _by_group_size(vals: list[float], nobs: list[int]) -> float:
    """One group's value, or the groups' values weighted by N_g / N (lavaan's multi-group GFI)."""
    n = np.asarray(nobs, float)
    return float(vals[0]) if len(vals) == 1 else float(n @ np.asarray(vals) / n.sum())


def gfi_moments(covs: list[np.ndarray], means: list[np.ndarray], Sigs: list[np.ndarray], mus: list[np.ndarray],
                meanstructure: bool, nobs: list[int], xi=()) -> float:
    """:func:`gfi` from the sample and implied moments directly: with W = Sigma^-1, lavaan's V is the expected
    information 1/2 D'(W x W)D on vech(S) (and W on the means), so for a symmetric M with vech m,
    m'Vm = 1/2 tr(M W M W) and the mean part is d'Wd: no p(p+1)/2-square matrix is built. Under fixed.x the
    x-x (co)variances and the x means ``xi`` (positions) are left out, as lavaan's zeroed rows and columns."""
    xi = np.asarray(list(xi), dtype=int)
    vals = []
    for S, m, Sig, mu in zip(covs, means, Sigs, mus):
        W = np.linalg.inv(Sig)

        def quad(M: np.ndarray, v: np.ndarray | None) -> float:
            M = M.copy()
            if len(xi):
                M[np.ix_(xi, xi)] = 0.0
            WM = W @ M
            q = 0.5 * float(np.sum(WM * WM.T))
            if v is not None:
                v = v.copy()
                v[xi] = 0.0
                q += float(v @ W @ v)
            return q

        qd = quad(S - Sig, (m - mu) if meanstructure else None)
        qs = quad(S, m if meanstructure else None)
        vals.append(1 - qd / qs)
    return _by_group_size(vals, nobs)


def agfi(gfi_value, nel, df) -> float:
    """as lavaan::fitMeasures "agfi": 1 - (nel/df)(1 - GFI)."""
    return 1 - (nel / df) * (1 - gfi_value) if df > 0 else 1.0


def pgfi(gfi_value, nel, df) -> float:
    """as lavaan::fitMeasures "pgfi": (df/nel) GFI."""
    return (df / nel) * gfi_value if nel else float("nan")


def _rescale(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    s = scale.copy()
    s[np.abs(x) < 1e-5] = 1.0  # lavaan: near-zero entries are not rescaled
    return x * s


def srmr_family(S: np.ndarray, ybar: np.ndarray, Sig: np.ndarray, mu: np.ndarray, meanstructure: bool) -> dict:
    """One group's rmr / srmr (Bentler) / crmr (Bollen) / srmr_mplus, with and without means, as lavaan's
    ``lav_residuals_summary`` and ``lav_fit_srmr_mplus``: root mean square of the vech residuals (crmr: off-diagonal
    count; Mplus: correlation residuals plus relative variance residuals)."""
    p = S.shape[0]
    tri = np.tril_indices(p)
    out = {}
    var_obs, var_est = np.diag(S), np.diag(Sig)
    for kind in ("rmr", "srmr", "crmr"):
        if kind == "rmr":
            ro, re = S, Sig
            mo, me = ybar, mu
        elif kind == "srmr":
            sc = 1 / np.sqrt(np.outer(var_obs, var_obs))
            ro, re = _rescale(S, sc), _rescale(Sig, sc)
            mo, me = _rescale(ybar, 1 / np.sqrt(var_obs)), _rescale(mu, 1 / np.sqrt(var_obs))
        else:
            ro = _rescale(S, 1 / np.sqrt(np.outer(var_obs, var_obs)))
            re = _rescale(Sig, 1 / np.sqrt(np.outer(var_est, var_est)))
            mo, me = _rescale(ybar, 1 / np.sqrt(var_obs)), _rescale(mu, 1 / np.sqrt(var_obs))
        rc = (ro - re)[tri]
        pstar = len(rc) - (p if kind == "crmr" else 0)
        nomean = math.sqrt(np.sum(rc ** 2) / pstar)
        if meanstructure:
            rm = mo - me
            total = math.sqrt((np.sum(rc ** 2) + np.sum(rm ** 2)) / (pstar + p))
        else:
            total = nomean
        out[kind] = total
        out[kind + "_nomean"] = nomean
    # Mplus' SRMR (lav_fit_srmr_mplus): correlation residuals off the diagonal, relative variance residuals
    sd_o, sd_e = np.sqrt(var_obs), np.sqrt(var_est)
    rcor = S / np.outer(sd_o, sd_o) - Sig / np.outer(sd_e, sd_e)
    low = np.tril_indices(p, -1)
    core = np.sum(rcor[low] ** 2) + np.sum(((var_obs - var_est) / var_obs) ** 2)
    e = p * (p + 1) / 2
    out["srmr_mplus_nomean"] = math.sqrt(core / e)
    if meanstructure:
        rmean = ybar / sd_o - mu / sd_e
        out["srmr_mplus"] = math.sqrt((core + np.sum(rmean ** 2)) / (e + p))
    else:
        out["srmr_mplus"] = out["srmr_mplus_nomean"]
    return out


#: the measures that compare the model with the baseline (independence) model, with their .scaled / .robust forms
BASELINE_MEASURES = ("cfi", "tli", "nnfi", "rfi", "nfi", "pnfi", "ifi", "rni")

#: lavaan's warning when the baseline model cannot be estimated (lav_lavaan_step15_baseline)
BASELINE_FAILED = ("estimation of the baseline model failed (lavaan's warning): the independence model did not "
                   "converge, so baseline.chisq and the measures that compare with it (CFI, TLI, NNFI, RFI, NFI, "
                   "PNFI, IFI, RNI) are NaN, as lavaan reports them NA")


def without_baseline(fm: dict) -> dict:
    """``fm`` with every measure that depends on the baseline model NaN (lavaan: a failed or non-converged
    baseline model leaves them NA)."""
    nan = float("nan")
    return {k: (nan if k.startswith("baseline.") or k.split(".")[0] in BASELINE_MEASURES else v)
            for k, v in fm.items()}


def _nan(v) -> bool:
    try:
        return v is None or math.isnan(v)
    except TypeError:
        return True


def fit_measures(*, X2: float, df: int, npar: int, N: int, G: int, fmin: float, X2_null: float, df_null: int,
                 logl: float, logl_h1: float, srmr_groups: list[dict], nobs: list[int], gfi_value: float,
                 nel: int, scaled: dict | None = None, robust: dict | None = None,
                 level: float = 0.90) -> dict[str, float]:
    """All measures of ``lavaan::fitMeasures(fit)`` (ML; MLR adds the ``.scaled`` / ``.robust`` ones).

    ``scaled`` (MLR only) holds ``c`` (model scaling factor), ``c_null`` (baseline scaling factor),
    ``trace_ugamma``, ``scaling_factor_h1`` and ``scaling_factor_h0``.

    ``robust`` (missing data, lavaan's ``lav_fit_fiml_corrected``): the statistics the ``.robust`` measures use
    instead of the standard ones, ``X2`` (XX3), ``df`` (df3), ``c`` (c.hat3), ``X2_null`` (XX3.null),
    ``df_null`` and ``c_null`` (c.hat3.null). Without it (complete data) they are ``X2``, ``df``, ``X2_null``,
    ``df_null`` and the scaling factors of ``scaled``, as lavaan's ``lav_fit_cfi_lavobject`` /
    ``lav_fit_rmsea_lavobject``: cfi.robust = cfi(X2, df, X2_null, df_null, c, c0), rmsea.robust =
    rmsea(X2, df, N, c), its interval and p-values from X2 / c.
    """
    fm: dict[str, float] = {"npar": npar, "fmin": fmin, "chisq": X2, "df": df, "pvalue": chisq_pvalue(X2, df)}
    if scaled:
        c, c0 = scaled["c"], scaled["c_null"]
        X2s, X2s0 = X2 / c, X2_null / c0
        fm.update({"chisq.scaled": X2s, "df.scaled": df, "pvalue.scaled": chisq_pvalue(X2s, df),
                   "chisq.scaling.factor": c})
    rb = robust
    if scaled and rb is None:
        rb = {"X2": X2, "df": df, "c": c, "X2_null": X2_null, "df_null": df_null, "c_null": c0}
    if rb is not None:
        R2, Rdf, Rc, R2n, Rdfn, Rcn = (rb[k] for k in ("X2", "df", "c", "X2_null", "df_null", "c_null"))
        R2s = R2 / Rc if not (_nan(R2) or _nan(Rc) or Rc == 0) else float("nan")
    fm.update({"baseline.chisq": X2_null, "baseline.df": df_null,
               "baseline.pvalue": chisq_pvalue(X2_null, df_null)})
    if scaled:
        fm.update({"baseline.chisq.scaled": X2s0, "baseline.df.scaled": df_null,
                   "baseline.pvalue.scaled": chisq_pvalue(X2s0, df_null), "baseline.chisq.scaling.factor": c0})
    fm["cfi"] = cfi(X2, df, X2_null, df_null)
    fm["tli"] = tli(X2, df, X2_null, df_null)
    if scaled:
        fm["cfi.scaled"] = cfi(X2s, df, X2s0, df_null)
        fm["tli.scaled"] = tli(X2s, df, X2s0, df_null)
    if rb is not None:
        fm["cfi.robust"] = cfi(R2, Rdf, R2n, Rdfn, Rc, Rcn)
        fm["tli.robust"] = tli(R2, Rdf, R2n, Rdfn, Rc, Rcn)
    fm.update({"nnfi": tli(X2, df, X2_null, df_null), "rfi": rfi(X2, df, X2_null, df_null),
               "nfi": nfi(X2, df, X2_null, df_null), "pnfi": pnfi(X2, df, X2_null, df_null),
               "ifi": ifi(X2, df, X2_null, df_null), "rni": rni(X2, df, X2_null, df_null)})
    if scaled:
        fm.update({"nnfi.scaled": tli(X2s, df, X2s0, df_null), "rfi.scaled": rfi(X2s, df, X2s0, df_null),
                   "nfi.scaled": nfi(X2s, df, X2s0, df_null), "pnfi.scaled": pnfi(X2s, df, X2s0, df_null),
                   "ifi.scaled": ifi(X2s, df, X2s0, df_null), "rni.scaled": rni(X2s, df, X2s0, df_null)})
    if rb is not None:
        fm.update({"nnfi.robust": tli(R2, Rdf, R2n, Rdfn, Rc, Rcn), "rni.robust": rni(R2, Rdf, R2n, Rdfn, Rc, Rcn)})
    fm.update({"logl": logl, "unrestricted.logl": logl_h1, "aic": aic(logl, npar), "bic": bic(logl, npar, N),
               "ntotal": N, "bic2": bic2(logl, npar, N)})
    if scaled:
        fm["scaling.factor.h1"] = scaled["scaling_factor_h1"]
        fm["scaling.factor.h0"] = scaled["scaling_factor_h0"]
    fm["rmsea"] = rmsea(X2, df, N, G)
    lo, hi = rmsea_ci(X2, df, N, G, level=level)
    fm.update({"rmsea.ci.lower": lo, "rmsea.ci.upper": hi, "rmsea.ci.level": level,
               "rmsea.pvalue": rmsea_pvalue(X2, df, N, G), "rmsea.close.h0": 0.05,
               "rmsea.notclose.pvalue": rmsea_notclose_pvalue(X2, df, N, G), "rmsea.notclose.h0": 0.08})
    if scaled:
        df2 = scaled["trace_ugamma"]
        fm["rmsea.scaled"] = rmsea(X2, df2, N, G)
        lo, hi = rmsea_ci(X2, df2, N, G, level=level)
        fm["rmsea.ci.lower.scaled"], fm["rmsea.ci.upper.scaled"] = lo, hi
        fm["rmsea.pvalue.scaled"] = rmsea_pvalue(X2, df2, N, G)
        fm["rmsea.notclose.pvalue.scaled"] = rmsea_notclose_pvalue(X2, df2, N, G)
    if rb is not None:
        fm["rmsea.robust"] = rmsea(R2, Rdf, N, G, c_hat=Rc)
        lo, hi = rmsea_ci(R2s, Rdf, N, G, c_hat=Rc, level=level)
        fm["rmsea.ci.lower.robust"], fm["rmsea.ci.upper.robust"] = lo, hi
        fm["rmsea.pvalue.robust"] = rmsea_pvalue(R2s, Rdf, N, G, c_hat=Rc)
        fm["rmsea.notclose.pvalue.robust"] = rmsea_notclose_pvalue(R2s, Rdf, N, G, c_hat=Rc)
    w = np.asarray(nobs, float) / N
    for key in ("rmr", "rmr_nomean", "srmr", "srmr_nomean", "crmr", "crmr_nomean", "srmr_mplus",
                "srmr_mplus_nomean"):
        val = float(sum(wi * grp[key] for wi, grp in zip(w, srmr_groups)))
        name = {"srmr": "srmr_bentler", "srmr_nomean": "srmr_bentler_nomean"}.get(key, key)
        fm[name] = val
    fm["srmr"] = fm["srmr_bentler"]  # lavaan's default "srmr" for continuous data
    fm["cn_05"] = cn(X2, df, N, 0.05)
    fm["cn_01"] = cn(X2, df, N, 0.01)
    fm["gfi"] = gfi_value
    fm["agfi"] = agfi(gfi_value, nel, df)
    fm["pgfi"] = pgfi(gfi_value, nel, df)
    fm["mfi"] = mfi(X2, df, N)
    fm["ecvi"] = ecvi(X2, npar, N)
    return {k: (float(v) if v is not None else float("nan")) for k, v in fm.items()}
