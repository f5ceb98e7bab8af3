"""Ordinal regression: proportional odds (cumulative logit) and cumulative probit models, as ``MASS::polr``.

``ordinal_regression(data, y, x, link="logit")`` fits

    P(Y <= k | x) = F(zeta_k - x'beta),  k = 1 .. K-1,

by maximum likelihood (statsmodels' ``OrderedModel``, BFGS then Newton steps to a gradient below 1e-8), with the
sign convention, threshold names (``"0|1"``, ``"1|2"``, ... from the ordered levels of ``y``) and standard errors
of ``MASS::polr(..., Hess = TRUE)``: the inverse observed information, for the thresholds in the zeta
parameterization (delta method from statsmodels' first-cut-plus-log-increments parameters, exact at the MLE).
Rows with a missing value in ``y`` or any ``x`` are deleted (listwise; their number is reported).

``brant_test`` checks the proportional-odds assumption as Brant (1990): the K-1 binary logits of ``Y > k``,
and a Wald test that their slopes are equal (omnibus and per predictor), using the covariance of the stacked
binary estimates. A significant test says the slopes differ across thresholds (the proportional-odds model is
then a summary, and the report says so).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, ModelError

__all__ = ["BrantResult", "OrdinalResult", "brant_test", "ordinal_regression"]


@dataclass(frozen=True)
class OrdinalResult:
    """A fitted proportional-odds model: ``coefficients`` (name, est, se, z, pvalue, odds_ratio for logit),
    ``thresholds`` (name ``"a|b"``, est, se), loglik, aic (-2 loglik + 2 npar, as polr), n, n_dropped, levels,
    link.

    R: ``MASS::polr(..., Hess = TRUE)`` (tests/reference/ordinal/polr_reference.R).
    """

    coefficients: pd.DataFrame
    thresholds: pd.DataFrame
    loglik: float
    aic: float
    n: int
    n_dropped: int
    levels: tuple
    link: str
    y: str
    x: tuple[str, ...]
    vcov: pd.DataFrame = field(repr=False, default=None)

    def to_dict(self) -> dict:
        from ..jsonsafe import jsonable

        def recs(df):
            return [{k: jsonable(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
        return {"y": self.y, "x": list(self.x), "link": self.link, "n": self.n, "n_dropped": self.n_dropped,
                "levels": [str(v) for v in self.levels], "coefficients": recs(self.coefficients),
                "thresholds": recs(self.thresholds), "loglik": self.loglik, "aic": self.aic}


def _frame(data: pd.DataFrame, y: str, x: Sequence[str]) -> tuple[pd.DataFrame, int]:
    missing = [c for c in [y, *x] if c not in data.columns]
    if missing:
        raise DataError(f"column(s) {', '.join(missing)} not in the data", field="x" if y not in missing else "y")
    if y in x:
        raise DataError(f"{y!r} is both the outcome and a predictor", field="x")
    d = data[[y, *x]].copy()
    for c in x:
        d[c] = pd.to_numeric(d[c], errors="coerce")
    keep = d.notna().all(axis=1)
    return d[keep], int((~keep).sum())


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype) and s.cat.ordered:
        return [v for v in s.cat.categories if (s == v).any()]
    vals = pd.unique(s.dropna())
    try:
        return sorted(vals, key=float)
    except (TypeError, ValueError):
        return sorted(vals, key=str)


def _fit(yc: np.ndarray, X: np.ndarray, K: int, link: str):
    """ML fit of the cumulative model; returns (beta, zeta, vcov over (beta, zeta), loglik)."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    import warnings

    mod = OrderedModel(yc, X, distr=link)
    with warnings.catch_warnings():
        # BFGS stops short of gtol 1e-10 and warns; the Newton steps below finish the job
        warnings.simplefilter("ignore")
        res = mod.fit(method="bfgs", disp=False, maxiter=2000, gtol=1e-10)
    params = np.asarray(res.params, dtype=float)
    # Newton refinement with the analytic-numeric Hessian of statsmodels (as polr's final optimHess)
    for _ in range(20):
        g = mod.score(params)
        if not np.all(np.isfinite(g)) or np.max(np.abs(g)) < 1e-8:
            break
        H = mod.hessian(params)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        new = params - step
        if not np.isfinite(mod.loglike(new)) or mod.loglike(new) < mod.loglike(params) - 1e-12:
            break
        params = new
    p = X.shape[1]
    H = mod.hessian(params)
    try:
        V = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        raise ModelError("the information matrix of the ordinal model is singular (a predictor is constant or "
                         "predicts the outcome perfectly)") from None
    raw = params[p:]
    zeta = np.cumsum(np.r_[raw[0], np.exp(raw[1:])])
    J = np.zeros((p + K - 1, p + K - 1))
    J[:p, :p] = np.eye(p)
    for k in range(K - 1):
        J[p + k, p] = 1.0
        for j in range(1, k + 1):
            J[p + k, p + j] = math.exp(raw[j])
    Vz = J @ V @ J.T
    return params[:p], zeta, Vz, float(mod.loglike(params))


def ordinal_regression(data: pd.DataFrame, y: str, x: Sequence[str], *, link: str = "logit") -> OrdinalResult:
    """Proportional-odds (``link="logit"``) or cumulative probit (``"probit"``) regression of the ordered
    outcome ``y`` on the predictors ``x`` (see the module docstring).

    R: ``MASS::polr(..., Hess = TRUE)`` (tests/reference/ordinal/polr_reference.R).
    """
    from ..sem._dist import norm_sf

    if link not in ("logit", "probit"):
        raise DataError(f"link must be 'logit' or 'probit', got {link!r}", field="link")
    x = list(x)
    if not x:
        raise DataError("name at least one predictor", field="x")
    d, dropped = _frame(data, y, x)
    levels = _levels(d[y])
    K = len(levels)
    if K < 3:
        raise ModelError(f"{y} has {K} observed categor{'y' if K == 1 else 'ies'}: ordinal regression needs at "
                         "least 3 (use logistic regression for 2)")
    n = len(d)
    if n < len(x) + K + 10:
        raise ModelError(f"{n} complete cases for {len(x) + K - 1} parameters: too few for an ordinal regression")
    code = {v: i for i, v in enumerate(levels)}
    yc = pd.Categorical(d[y].map(code), categories=list(range(K)), ordered=True)
    X = d[x].to_numpy(dtype=float)
    sd = X.std(axis=0)
    if np.any(sd == 0):
        raise DataError(f"predictor(s) {', '.join(c for c, s in zip(x, sd) if s == 0)} are constant", field="x")
    beta, zeta, V, ll = _fit(yc, X, K, link)
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    z = beta / se[: len(x)]
    p = 2 * norm_sf(np.abs(z))
    coef = pd.DataFrame({"name": x, "est": beta, "se": se[: len(x)], "z": z, "pvalue": p})
    if link == "logit":
        coef["odds_ratio"] = np.exp(beta)
    names = [f"{levels[k]}|{levels[k + 1]}" for k in range(K - 1)]
    thr = pd.DataFrame({"name": names, "est": zeta, "se": se[len(x):]})
    npar = len(x) + K - 1
    allnames = x + names
    return OrdinalResult(coefficients=coef, thresholds=thr, loglik=ll, aic=-2 * ll + 2 * npar, n=n,
                         n_dropped=dropped, levels=tuple(levels), link=link, y=y, x=tuple(x),
                         vcov=pd.DataFrame(V, index=allnames, columns=allnames))


@dataclass(frozen=True)
class BrantResult:
    """Brant's (1990) test of proportional odds: ``tests`` with one row per predictor and an ``omnibus`` row
    (chi-square, df, p).

    R: ``brant::brant`` on a ``MASS::polr`` fit (the fixture transcribes its algorithm in base R with
    ``stats::glm``: tests/reference/ordinal/polr_reference.R).
    """

    tests: pd.DataFrame

    @property
    def omnibus(self) -> dict:
        return self.tests[self.tests["term"] == "omnibus"].iloc[0].to_dict()


def brant_test(data: pd.DataFrame, y: str, x: Sequence[str]) -> BrantResult:
    """Brant (1990): fit the K-1 binary logits of ``Y > k`` (k the first K-1 ordered levels) and test that the
    slopes are equal across them with the Wald statistic (D beta*)' (D V* D')^-1 (D beta*), V* the covariance of
    the stacked binary estimates: Var(b_k) = (X'W_kk X)^-1, Cov(b_k, b_l) = (X'W_kk X)^-1 X'W_kl X (X'W_ll X)^-1,
    W_kl = diag(pi_l - pi_k pi_l) for l >= k (pi_k = P(Y > k) fitted by the k-th logit). Omnibus df =
    p (K - 2); per predictor df = K - 2.

    R: ``brant::brant`` on a ``MASS::polr`` fit (the fixture transcribes its algorithm in base R with
    ``stats::glm``: tests/reference/ordinal/polr_reference.R).
    """
    from ..sem._dist import chi2_upper

    x = list(x)
    d, _ = _frame(data, y, x)
    levels = _levels(d[y])
    K = len(levels)
    if K < 3:
        raise ModelError("the Brant test needs at least 3 categories")
    code = {v: i for i, v in enumerate(levels)}
    yy = d[y].map(code).to_numpy()
    X = np.column_stack([np.ones(len(d)), d[x].to_numpy(dtype=float)])
    p = len(x)
    betas, pis, infos = [], [], []
    for k in range(K - 1):
        t = (yy > k).astype(float)
        b = np.zeros(p + 1)
        for _ in range(100):
            eta = X @ b
            pi = 1 / (1 + np.exp(-eta))
            g = X.T @ (t - pi)
            H = (X * (pi * (1 - pi))[:, None]).T @ X
            step = np.linalg.solve(H, g)
            b += step
            if np.max(np.abs(step)) < 1e-12:
                break
        pi = 1 / (1 + np.exp(-(X @ b)))
        betas.append(b)
        pis.append(pi)
        infos.append(np.linalg.inv((X * (pi * (1 - pi))[:, None]).T @ X))
    m = K - 1
    Vs = np.zeros((m * p, m * p))
    for k in range(m):
        for ll in range(k, m):
            w = pis[ll] - pis[k] * pis[ll]
            C = infos[k] @ ((X * w[:, None]).T @ X) @ infos[ll]
            C = C[1:, 1:]
            Vs[k * p:(k + 1) * p, ll * p:(ll + 1) * p] = C
            Vs[ll * p:(ll + 1) * p, k * p:(k + 1) * p] = C.T
    bstar = np.concatenate([b[1:] for b in betas])
    # D: differences of every later logit's slopes from the first's
    D = np.zeros(((m - 1) * p, m * p))
    for r in range(m - 1):
        D[r * p:(r + 1) * p, :p] = np.eye(p)
        D[r * p:(r + 1) * p, (r + 1) * p:(r + 2) * p] = -np.eye(p)
    rows = []
    Db = D @ bstar
    DVD = D @ Vs @ D.T
    X2 = float(Db @ np.linalg.solve(DVD, Db))
    df = (m - 1) * p
    rows.append({"term": "omnibus", "chisq": X2, "df": df, "pvalue": float(chi2_upper(X2, df))})
    for j, name in enumerate(x):
        idx = [r * p + j for r in range(m - 1)]
        sub = Db[idx]
        Vj = DVD[np.ix_(idx, idx)]
        xj = float(sub @ np.linalg.solve(Vj, sub))
        rows.append({"term": name, "chisq": xj, "df": m - 1, "pvalue": float(chi2_upper(xj, m - 1))})
    return BrantResult(pd.DataFrame(rows))
