"""Polynomial regression with response surface analysis (Edwards & Parry 1993; Edwards 2002; Shanock et al. 2010).

``rsa(data, x, y, z)`` fits ``Z = b0 + b1 X + b2 Y + b3 X^2 + b4 XY + b5 Y^2 (+ covariates)`` with X and Y centred
(construct map 5.5: at the scale midpoint), by OLS (as statsmodels' OLS, residual variance with divisor n - p, t(n - p)
tests) or, with ``family="binomial"``, by logistic regression (statsmodels Logit, z tests; every surface quantity is
then on the logit scale).

Conventions (stated here once, used throughout):

* centring: ``"midpoint"`` = (scale_min + scale_max) / 2 (both required); ``"mean"`` = the grand mean of X and Y
  pooled (mean of the 2n values X_1..X_n, Y_1..Y_n after listwise deletion, = (mean X + mean Y) / 2); a number =
  that value; ``None`` = no centring. The same constant is subtracted from X and Y, so the lines X = Y stay lines of
  congruence; the line of incongruence is X_c = -Y_c (through the centre).
* surface parameters (linear combinations c'b, SE sqrt(c'Vc), V the coefficient covariance): a1 = b1 + b2,
  a2 = b3 + b4 + b5 (along X = Y), a3 = b1 - b2, a4 = b3 - b4 + b5 (along X = -Y), a5 = b3 - b5; tests t(n - p)
  (gaussian) or z (binomial).
* stationary point X0, Y0, principal axes Y = p10 + p11 X (first) and Y = p20 + p21 X (second), in centred units,
  with delta-method SEs: gradient of each function of (b1..b5) (complex-step derivative, exact to rounding, the
  method lavaan uses for ``:=``) times V; z tests as lavaan. With the OLS V (divisor n - p) these SEs equal
  lavaan's ``:=`` SEs times sqrt(n / (n - p)) (lavaan's ML vcov has divisor n).
* congruence of the first principal axis: tests p10 = 0 and p11 = 1 (z), and the lateral shift
  ``-2 p10 / (1 + p11)`` = the value of X - Y where the first principal axis crosses the line of incongruence
  (equals -p10 when p11 = 1; positive = ridge shifted toward X > Y).
* shares of cases: Shanock et al. (2010) -- X and Y each z-scored on their own (SD with ddof = 1), agreement when
  |zX - zY| < 0.5, X > Y when zX - zY >= 0.5, X < Y when <= -0.5; raw -- agreement when |X - Y| <= half a scale
  point (0.5, raw units), X > Y / X < Y beyond it.
* constrained models (Edwards 2002; names as in Schoenbrodt's RSA package), linear constraints on b1..b5, fitted by
  OLS / Logit on the reduced design and compared with the full model by F test (gaussian: F, df1, df2, p) or
  likelihood-ratio chi-square (binomial: chi2, df1, p), with AIC and BIC (R's logLik convention: for the gaussian
  model the residual variance is counted as a parameter, so values equal R's AIC()/BIC() of lm):

  - ``linear``: b3 = b4 = b5 = 0;
  - ``difference``: b1 = -b2, b3 = b4 = b5 = 0 (Z = b0 + c (X - Y));
  - ``squared_difference``: b1 = b2 = 0, b3 = b5, b4 = -2 b3 (Z = b0 + c (X - Y)^2; full congruence, ridge on X = Y);
  - ``shifted_squared_difference``: b1 = -b2, b3 = b5, b4 = -2 b3 (Z = b0 + c1 (X - Y) + c2 (X - Y)^2, ridge
    parallel to X = Y shifted by C = -c1 / (2 c2));
  - ``rising_ridge``: b1 = b2, b3 = b5, b4 = -2 b3 (Z = b0 + c1 (X + Y) + c2 (X - Y)^2).
* R^2: OLS R^2 (gaussian); McFadden's pseudo R^2 (binomial).
* plots: ``surface_plot`` / ``contour_plot`` draw the fitted surface (covariates held at their means) over the pooled
  data range of X and Y on both axes, in raw units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, ModelError
from ..jsonsafe import jsonable
from ..sem._dist import chi2_upper, f_sf, norm_sf, t_sf

__all__ = ["CONSTRAINED_MODELS", "RSAResult", "contour_plot", "rsa", "surface_plot"]

_B = ("b1", "b2", "b3", "b4", "b5")
_LIN = {"a1": (1, 1, 0, 0, 0), "a2": (0, 0, 1, 1, 1), "a3": (1, -1, 0, 0, 0), "a4": (0, 0, 1, -1, 1),
        "a5": (0, 0, 1, 0, -1)}

# constraint rows on (b1..b5): R b = 0
CONSTRAINED_MODELS: dict[str, list[tuple[int, ...]]] = {
    "linear": [(0, 0, 1, 0, 0), (0, 0, 0, 1, 0), (0, 0, 0, 0, 1)],
    "difference": [(1, 1, 0, 0, 0), (0, 0, 1, 0, 0), (0, 0, 0, 1, 0), (0, 0, 0, 0, 1)],
    "squared_difference": [(1, 0, 0, 0, 0), (0, 1, 0, 0, 0), (0, 0, 1, 0, -1), (0, 0, 2, 1, 0)],
    "shifted_squared_difference": [(1, 1, 0, 0, 0), (0, 0, 1, 0, -1), (0, 0, 2, 1, 0)],
    "rising_ridge": [(1, -1, 0, 0, 0), (0, 0, 1, 0, -1), (0, 0, 2, 1, 0)],
}


# ----------------------------------------------------------------------------- functions of b = (b1..b5)
def _x0(b):
    b1, b2, b3, b4, b5 = b
    return (b2 * b4 - 2 * b1 * b5) / (4 * b3 * b5 - b4 ** 2)


def _y0(b):
    b1, b2, b3, b4, b5 = b
    return (b1 * b4 - 2 * b2 * b3) / (4 * b3 * b5 - b4 ** 2)


def _p11(b):
    b3, b4, b5 = b[2], b[3], b[4]
    return (b5 - b3 + np.sqrt((b3 - b5) ** 2 + b4 ** 2)) / b4


def _p21(b):
    b3, b4, b5 = b[2], b[3], b[4]
    return (b5 - b3 - np.sqrt((b3 - b5) ** 2 + b4 ** 2)) / b4


def _p10(b):
    return _y0(b) - _p11(b) * _x0(b)


def _p20(b):
    return _y0(b) - _p21(b) * _x0(b)


def _shift(b):
    return -2 * _p10(b) / (1 + _p11(b))


_NONLIN = {"X0": _x0, "Y0": _y0, "p10": _p10, "p11": _p11, "p20": _p20, "p21": _p21, "lateral_shift": _shift}


def _gradient(f, b: np.ndarray, h: float = 1e-20) -> np.ndarray:
    """Complex-step derivative (exact to rounding for these analytic functions)."""
    g = np.empty(5)
    for i in range(5):
        bc = b.astype(complex)
        bc[i] += 1j * h
        g[i] = float(np.imag(f(bc)) / h)
    return g


def _est_row(est: float, se: float, stat_df: float | None) -> dict:
    """est, se, statistic, pvalue (t with df, or z when stat_df is None)."""
    if not (np.isfinite(est) and np.isfinite(se)) or se <= 0:
        return {"est": float(est), "se": float(se), "stat": float("nan"), "pvalue": float("nan")}
    t = est / se
    p = 2 * (t_sf(abs(t), stat_df) if stat_df is not None else norm_sf(abs(t)))
    return {"est": float(est), "se": float(se), "stat": float(t), "pvalue": float(p)}


# ----------------------------------------------------------------------------- result
@dataclass
class RSAResult:
    """Result of :func:`rsa`. Tables are DataFrames indexed by parameter name with columns est, se, stat, pvalue
    (stat is t for gaussian coefficients / a1..a5, z otherwise).

    R: ``RSA::RSA`` (a1..a5, stationary point, principal axes, constrained models); the test fixture uses
    ``stats::lm``, ``stats::glm`` and ``lavaan::sem`` (tests/reference/rsa/rsa_reference.R).
    """

    x: str
    y: str
    z: str
    family: str
    n: int
    center: float
    center_method: str
    r2: float
    coefficients: pd.DataFrame          # b0, b1..b5 and covariates
    surface: pd.DataFrame               # a1..a5
    stationary: pd.DataFrame            # X0, Y0, p10, p11, p20, p21, lateral_shift (delta SEs, z tests)
    congruence_tests: dict              # p10 = 0, p11 = 1
    shares: dict
    constrained: pd.DataFrame
    vcov: pd.DataFrame
    covariates: list[str] = field(default_factory=list)
    covariate_means: dict = field(default_factory=dict)
    x_range: tuple[float, float] = (float("nan"), float("nan"))
    y_range: tuple[float, float] = (float("nan"), float("nan"))
    df_resid: float = float("nan")
    aic: float = float("nan")
    bic: float = float("nan")
    loglik: float = float("nan")
    data: pd.DataFrame | None = field(default=None, repr=False)   # X, Y (raw, used rows) for the plots

    @property
    def b(self) -> np.ndarray:
        return self.coefficients.loc[list(_B), "est"].to_numpy(float)

    def predict(self, X, Y) -> np.ndarray:
        """Fitted surface (link scale for binomial) at raw X, Y, covariates at their means."""
        X = np.asarray(X, float) - self.center
        Y = np.asarray(Y, float) - self.center
        c = self.coefficients["est"]
        out = c["b0"] + c["b1"] * X + c["b2"] * Y + c["b3"] * X ** 2 + c["b4"] * X * Y + c["b5"] * Y ** 2
        for cv in self.covariates:
            out = out + c[cv] * self.covariate_means[cv]
        return out

    def to_dict(self) -> dict:
        """The CLI contract (n, r2, coefficients b1..b5, surface a1..a4, stationary_point) plus extras."""
        def triple(df, k):
            r = df.loc[k]
            return {"est": r["est"], "se": r["se"], "pvalue": r["pvalue"]}

        def full(df, k):
            r = df.loc[k]
            return {"est": r["est"], "se": r["se"], "stat": r["stat"], "pvalue": r["pvalue"]}

        cons = {}
        for name, r in self.constrained.iterrows():
            cons[name] = {k: (int(v) if k in ("df1", "df2") and np.isfinite(v) else v)
                          for k, v in r.items() if not (k == "df2" and self.family == "binomial")}
        out = {
            "n": int(self.n),
            "r2": self.r2,
            "coefficients": {k: triple(self.coefficients, k) for k in _B},
            "surface": {k: triple(self.surface, k) for k in ("a1", "a2", "a3", "a4")},
            "stationary_point": {k: self.stationary.loc[k, "est"] for k in ("X0", "Y0", "p10", "p11", "p20", "p21")},
            # extras
            "a5": triple(self.surface, "a5"),
            "stationary_point_se": {k: full(self.stationary, k) for k in self.stationary.index},
            "congruence_tests": self.congruence_tests,
            "shares": self.shares,
            "constrained_models": cons,
            "center": {"value": self.center, "method": self.center_method},
            "family": self.family,
            "r2_type": "ols" if self.family == "gaussian" else "mcfadden",
            "variables": {"x": self.x, "y": self.y, "z": self.z, "covariates": list(self.covariates)},
            "intercept": full(self.coefficients, "b0"),
            "covariate_effects": {c: full(self.coefficients, c) for c in self.covariates},
            "df_resid": self.df_resid,
            "aic": self.aic,
            "bic": self.bic,
            "surface_stats": {k: full(self.surface, k) for k in self.surface.index},
        }
        return jsonable(out)

    def summary(self) -> str:
        def ff(v):
            return f"{v:.4f}"

        head = (f"Response surface analysis ({self.family}; {self.z} ~ {self.x}, {self.y}), n = {self.n}, "
                f"centre = {self.center:g} ({self.center_method}), R2 = {self.r2:.4f}")
        lines = [head,
                 self.coefficients.to_string(float_format=ff), "", self.surface.to_string(float_format=ff), "",
                 self.stationary.to_string(float_format=ff), "",
                 "shares: " + ", ".join(f"{k}: {v}" for k, v in self.shares.items()), "",
                 self.constrained.to_string(float_format=ff)]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- fitting helpers
class _OLS:
    """Least squares as ``statsmodels OLS(z, X).fit()`` (its default method, "pinv") computes it, with the parts
    read here: params, resid, df_resid, rsquared (centred: the design has an intercept), cov_params() = s^2
    pinv(X) pinv(X)' with s^2 = RSS / df_resid. Written out (a few lines of numpy) because importing statsmodels'
    regression module imports scipy.stats, about 0.8 CPU-s of a study run; checked against R's lm through the
    RSA reference values (tests/reference/rsa)."""

    def __init__(self, z: np.ndarray, X: np.ndarray):
        pinv = np.linalg.pinv(X, rcond=1e-15)
        self.params = pinv @ z
        self.resid = z - X @ self.params
        self.df_resid = float(X.shape[0] - np.linalg.matrix_rank(X))
        ssr = float(self.resid @ self.resid)
        zc = z - z.mean()
        self.rsquared = 1.0 - ssr / float(zc @ zc)
        self._cov = ssr / self.df_resid * (pinv @ pinv.T)

    def cov_params(self) -> np.ndarray:
        return self._cov


def _fit(design: np.ndarray, zv: np.ndarray, family: str):
    if family == "gaussian":
        res = _OLS(zv, design)
        n, k = design.shape
        rss = float(np.sum(res.resid ** 2))
        llf = -n / 2 * (math.log(2 * math.pi * rss / n) + 1)
        npar = k + 1                                  # sigma counted (R's logLik.lm)
        return res, llf, npar, rss
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from statsmodels.discrete.discrete_model import Logit

            res = Logit(zv, design).fit(method="newton", maxiter=200, tol=1e-12, disp=False)
    except Exception as e:  # perfect separation, singular Hessian
        raise ModelError(f"logistic polynomial regression failed: {e}") from e
    return res, float(res.llf), design.shape[1], float("nan")


def _null_space(R: np.ndarray) -> np.ndarray:
    _u, s, vt = np.linalg.svd(R)
    rank = int(np.sum(s > 1e-12))
    return vt[rank:].T


def _center_value(center, scale_min, scale_max, xv, yv) -> tuple[float, str]:
    if center is None:
        return 0.0, "none"
    if isinstance(center, str):
        if center == "midpoint":
            if scale_min is None or scale_max is None:
                raise ModelError("center='midpoint' needs scale_min and scale_max", field="center")
            if not scale_max > scale_min:
                raise ModelError(f"scale_max ({scale_max}) must exceed scale_min ({scale_min})", field="scale_max")
            return (float(scale_min) + float(scale_max)) / 2, "midpoint"
        if center == "mean":
            return float(np.mean(np.concatenate([xv, yv]))), "grand mean of X and Y pooled"
        raise ModelError(f"center must be 'midpoint', 'mean', a number or None, not {center!r}", field="center")
    if isinstance(center, bool) or not isinstance(center, (int, float, np.integer, np.floating)):
        raise ModelError(f"center must be 'midpoint', 'mean', a number or None, not {center!r}", field="center")
    return float(center), "value"


def _shares(xv: np.ndarray, yv: np.ndarray, half: float = 0.5) -> dict:
    sx, sy = np.std(xv, ddof=1), np.std(yv, ddof=1)
    out = {}
    if sx > 0 and sy > 0:
        dz = (xv - xv.mean()) / sx - (yv - yv.mean()) / sy
        out["standardized"] = {"x_greater": float(np.mean(dz >= 0.5)), "agree": float(np.mean(np.abs(dz) < 0.5)),
                               "y_greater": float(np.mean(dz <= -0.5)),
                               "rule": "Shanock et al. (2010): |zX - zY| < 0.5, each z-scored on its own (ddof=1)"}
    else:
        out["standardized"] = {"x_greater": None, "agree": None, "y_greater": None,
                               "rule": "not defined: X or Y has no variance"}
    d = xv - yv
    eps = 1e-9
    out["raw"] = {"x_greater": float(np.mean(d > half + eps)), "agree": float(np.mean(np.abs(d) <= half + eps)),
                  "y_greater": float(np.mean(d < -half - eps)),
                  "rule": f"|X - Y| <= {half:g} scale points (raw units)"}
    return out


# ----------------------------------------------------------------------------- main entry
def rsa(data: pd.DataFrame, x: str, y: str, z: str, center="midpoint", scale_min: float | None = None,
        scale_max: float | None = None, covariates=(), family: str = "gaussian") -> RSAResult:
    """Polynomial regression and response surface analysis of ``z`` on ``x`` and ``y`` (see the module docs).

    Rows with a missing value in x, y, z or a covariate are dropped (listwise). Raises :class:`ModelError` for a bad
    specification and :class:`DataError` for unusable data (missing/non-numeric columns, too few rows, non-binary
    outcome with ``family="binomial"``).

    R: ``RSA::RSA(z ~ x * y)``; checked against ``stats::lm``, ``stats::glm`` and ``lavaan::sem``
    (tests/reference/rsa/rsa_reference.R).
    """
    if family not in ("gaussian", "binomial"):
        raise ModelError(f"family must be 'gaussian' or 'binomial', not {family!r}", field="family")
    if isinstance(covariates, str):
        covariates = [covariates]
    covs = list(covariates)
    cols = [x, y, z] + covs
    if len(set(cols)) != len(cols):
        raise ModelError("x, y, z and the covariates must be distinct columns", field="covariates")
    for c in cols:
        if c not in data.columns:
            raise DataError(f"column {c!r} not in the data", column=c)
        if not pd.api.types.is_numeric_dtype(data[c]):
            raise DataError(f"column {c!r} is not numeric", column=c)
    d = data[cols].astype(float).dropna()
    n = len(d)
    p = 6 + len(covs)
    if n <= p:
        raise DataError(f"{n} complete rows for {p} coefficients: too few to fit the polynomial model")
    xv, yv, zv = d[x].to_numpy(), d[y].to_numpy(), d[z].to_numpy()
    if family == "binomial" and not np.all(np.isin(zv, (0.0, 1.0))):
        raise DataError(f"family='binomial' needs a 0/1 outcome; {z!r} has other values", column=z)
    c0, cmethod = _center_value(center, scale_min, scale_max, xv, yv)
    xc, yc = xv - c0, yv - c0
    names = ["b0", *_B, *covs]
    design = np.column_stack([np.ones(n), xc, yc, xc ** 2, xc * yc, yc ** 2] + [d[c].to_numpy() for c in covs])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise ModelError("the polynomial design matrix is rank deficient (X and Y collinear or constant?)")

    res, llf, npar, rss = _fit(design, zv, family)
    params = np.asarray(res.params, float)
    V = np.asarray(res.cov_params(), float)
    df_t = float(res.df_resid) if family == "gaussian" else None
    coef = pd.DataFrame([_est_row(params[i], math.sqrt(V[i, i]), df_t) for i in range(len(names))], index=names)
    if family == "gaussian":
        r2 = float(res.rsquared)
    else:
        p0 = zv.mean()
        ll0 = n * (p0 * math.log(p0) + (1 - p0) * math.log(1 - p0)) if 0 < p0 < 1 else float("nan")
        r2 = 1 - llf / ll0

    b = params[1:6]
    Vb = V[1:6, 1:6]
    surf = {}
    for k, cvec in _LIN.items():
        cv = np.asarray(cvec, float)
        surf[k] = _est_row(float(cv @ b), math.sqrt(float(cv @ Vb @ cv)), df_t)
    surface = pd.DataFrame.from_dict(surf, orient="index")

    stat_rows = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for k, f in _NONLIN.items():
            est = float(np.real(f(b.astype(complex))))
            if np.isfinite(est):
                g = _gradient(f, b)
                se = math.sqrt(max(float(g @ Vb @ g), 0.0)) if np.all(np.isfinite(g)) else float("nan")
            else:
                est, se = float("nan"), float("nan")
            stat_rows[k] = _est_row(est, se, None)
    stationary = pd.DataFrame.from_dict(stat_rows, orient="index")
    p10, p11 = stationary.loc["p10"], stationary.loc["p11"]
    cong = {"p10_eq_0": {"est": p10["est"], "se": p10["se"], "z": p10["stat"], "pvalue": p10["pvalue"]}}
    if np.isfinite(p11["se"]) and p11["se"] > 0:
        zz = (p11["est"] - 1) / p11["se"]
        cong["p11_eq_1"] = {"est": p11["est"], "se": p11["se"], "z": float(zz),
                            "pvalue": float(2 * norm_sf(abs(zz)))}
    else:
        cong["p11_eq_1"] = {"est": p11["est"], "se": p11["se"], "z": float("nan"), "pvalue": float("nan")}
    cong["lateral_shift"] = {"est": stationary.loc["lateral_shift", "est"],
                             "se": stationary.loc["lateral_shift", "se"],
                             "pvalue": stationary.loc["lateral_shift", "pvalue"],
                             "definition": "X - Y where the first principal axis crosses X = -Y: -2 p10 / (1 + p11)"}

    # constrained models
    rows = {}
    k_full = design.shape[1]
    aic_full = -2 * llf + 2 * npar
    bic_full = -2 * llf + math.log(n) * npar
    for name, R5 in CONSTRAINED_MODELS.items():
        R = np.zeros((len(R5), k_full))
        R[:, 1:6] = np.asarray(R5, float)
        N = _null_space(R)
        q = k_full - N.shape[1]
        _cres, cllf, cnpar, crss = _fit(design @ N, zv, family)
        row = {}
        if family == "gaussian":
            df2 = n - k_full
            F = ((crss - rss) / q) / (rss / df2)
            row.update(F=float(F), df1=q, df2=df2, pvalue=float(f_sf(F, q, df2)))
            row["r2"] = 1 - crss / float(np.sum((zv - zv.mean()) ** 2))
        else:
            chi2 = max(2 * (llf - cllf), 0.0)
            row.update(chi2=float(chi2), df1=q, pvalue=float(chi2_upper(chi2, q)))
        row["aic"] = -2 * cllf + 2 * cnpar
        row["bic"] = -2 * cllf + math.log(n) * cnpar
        row["delta_aic"] = row["aic"] - aic_full
        row["delta_bic"] = row["bic"] - bic_full
        rows[name] = row
    full_row = {"df1": 0, "pvalue": float("nan"), "aic": aic_full, "bic": bic_full, "delta_aic": 0.0, "delta_bic": 0.0}
    if family == "gaussian":
        full_row.update(F=float("nan"), df2=n - k_full, r2=r2)
    else:
        full_row.update(chi2=float("nan"))
    constrained = pd.DataFrame.from_dict({"full": full_row, **rows}, orient="index")
    first = ["F", "df1", "df2", "pvalue"] if family == "gaussian" else ["chi2", "df1", "pvalue"]
    constrained = constrained[first + [c for c in constrained.columns if c not in first]]

    pooled = np.concatenate([xv, yv])
    return RSAResult(
        x=x, y=y, z=z, family=family, n=n, center=c0, center_method=cmethod, r2=r2, coefficients=coef,
        surface=surface, stationary=stationary, congruence_tests=cong, shares=_shares(xv, yv), constrained=constrained,
        vcov=pd.DataFrame(V, index=names, columns=names), covariates=covs,
        covariate_means={c: float(d[c].mean()) for c in covs},
        x_range=(float(pooled.min()), float(pooled.max())), y_range=(float(pooled.min()), float(pooled.max())),
        df_resid=float(res.df_resid), aic=aic_full, bic=bic_full, loglik=llf,
        data=pd.DataFrame({"X": xv, "Y": yv}))


# ----------------------------------------------------------------------------- plots
def _targets(path) -> list[Path]:
    path = Path(path)
    if path.suffix.lower() in (".png", ".svg"):
        return [path]
    if path.suffix:
        raise ValueError(f"plot files must end in .png or .svg (or have no suffix for both), not {path.name!r}")
    return [path.with_suffix(".png"), path.with_suffix(".svg")]


def _save(fig, targets: list[Path]) -> list[Path]:
    from ..report.figures import save_figure

    return [save_figure(fig, t, dpi=120) for t in targets]


def _grid(result: RSAResult, m: int = 41):
    lo, hi = result.x_range
    if not hi > lo:
        lo, hi = lo - 1, hi + 1
    g = np.linspace(lo, hi, m)
    GX, GY = np.meshgrid(g, g)
    return g, GX, GY, result.predict(GX, GY), lo, hi


def _zlabel(result, labels=None):
    z = (labels or {}).get("z", result.z)
    return f"{z} (logit)" if result.family == "binomial" else z


def _wrap_label(text: str, width: int = 34) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def surface_plot(result: RSAResult, path, labels: dict | None = None) -> list[Path]:
    """3-D response surface over the pooled data range of X and Y, with the line of congruence (X = Y, solid) and
    incongruence (X_c = -Y_c through the centre, dashed) drawn on the surface. ``path`` ending in .png or .svg
    writes that file; without a suffix both are written. ``labels`` (keys x, y, z) replace the variable names on
    the axes. Returns the written paths.

    R: ``RSA::plotRSA(type = "3d")``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    g, GX, GY, ZZ, lo, hi = _grid(result)
    fig = Figure(figsize=(7, 6))
    FigureCanvasAgg(fig)                              # Agg canvas, no pyplot / global backend state
    ax = fig.add_subplot(111, projection="3d")
    ax.plot_surface(GX, GY, ZZ, cmap="viridis", alpha=0.75, linewidth=0.2, edgecolor="grey", rstride=2, cstride=2)
    c = result.center
    ax.plot(g, g, result.predict(g, g), color="black", lw=2.2, label="congruence X = Y", zorder=10)
    yi = 2 * c - g
    keep = (yi >= lo - 1e-12) & (yi <= hi + 1e-12)
    ax.plot(g[keep], yi[keep], result.predict(g[keep], yi[keep]), color="crimson", lw=2.2, ls="--",
            label="incongruence X = -Y (centred)", zorder=10)
    lab = labels or {}
    ax.set_xlabel(_wrap_label(lab.get("x", result.x), 26), fontsize=8)
    ax.set_ylabel(_wrap_label(lab.get("y", result.y), 26), fontsize=8)
    ax.set_zlabel(_wrap_label(_zlabel(result, lab), 26), fontsize=8)
    ax.view_init(elev=25, azim=-60)
    ax.set_title("Response surface")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, _targets(path))


def contour_plot(result: RSAResult, path, labels: dict | None = None) -> list[Path]:
    """Filled contours of the fitted surface with the lines of congruence / incongruence, the first principal axis
    (dotted) and the stationary point (if inside the plotted range); data points in light grey. ``labels`` as for
    :func:`surface_plot`.

    R: ``RSA::plotRSA(type = "contour")``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    g, GX, GY, ZZ, lo, hi = _grid(result, 101)
    fig = Figure(figsize=(6.5, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    cf = ax.contourf(GX, GY, ZZ, levels=15, cmap="viridis")
    ax.contour(GX, GY, ZZ, levels=15, colors="white", linewidths=0.4)
    lab = labels or {}
    fig.colorbar(cf, ax=ax, label=_wrap_label(_zlabel(result, lab), 30))
    if result.data is not None:
        ax.scatter(result.data["X"], result.data["Y"], s=6, color="lightgrey", alpha=0.6, linewidths=0)
    c = result.center
    ax.plot(g, g, color="black", lw=2, label="congruence X = Y")
    ax.plot(g, 2 * c - g, color="crimson", lw=2, ls="--", label="incongruence X = -Y (centred)")
    p10, p11 = result.stationary.loc["p10", "est"], result.stationary.loc["p11", "est"]
    if np.isfinite(p10) and np.isfinite(p11):
        ax.plot(g, c + p10 + p11 * (g - c), color="orange", lw=2, ls=":", label="first principal axis")
    x0, y0 = result.stationary.loc["X0", "est"] + c, result.stationary.loc["Y0", "est"] + c
    if np.isfinite(x0) and np.isfinite(y0) and lo <= x0 <= hi and lo <= y0 <= hi:
        ax.plot([x0], [y0], marker="o", color="orange", mec="black", ms=7, ls="none", label="stationary point")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(_wrap_label(lab.get("x", result.x)), fontsize=9)
    ax.set_ylabel(_wrap_label(lab.get("y", result.y)), fontsize=9)
    ax.set_title("Response surface (contours)")
    ax.legend(loc="lower right", fontsize=7)
    return _save(fig, _targets(path))
