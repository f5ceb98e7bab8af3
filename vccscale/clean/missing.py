"""Missing data: report, Little's MCAR test, multiple imputation.

- ``missing_report(x)``: share missing per item and per respondent, and the table of missingness patterns
  (1 = observed, 0 = missing; as mice::md.pattern, most frequent first).
- ``em_mvn(x)``: maximum-likelihood mean vector and covariance matrix of a multivariate normal with missing
  values (EM algorithm, Dempster, Laird & Rubin 1977; as norm::em.norm), covariance with divisor n.
- ``little_mcar(x)``: Little's (1988) chi-square test of missing completely at random,
  d² = sum_j n_j (ybar_j - mu_j)' Sigma_j^{-1} (ybar_j - mu_j) over missingness patterns j with the EM estimates,
  df = sum_j p_j - p (as naniar::mcar_test). Rows with every variable missing are left out.
- ``impute_mice(x, m, seed)``: m multiply imputed data sets by chained equations (statsmodels MICEData,
  predictive mean matching), reproducible from the seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd


def missing_report(x: "pd.DataFrame") -> dict:
    import pandas as pd

    obs = x.notna()
    patterns = obs.astype(int).value_counts().reset_index(name="n")
    patterns["n_missing"] = len(x.columns) - patterns[list(x.columns)].sum(axis=1)
    patterns = patterns.sort_values(["n", "n_missing"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return {"item_missing_share": (1 - obs.mean()).rename("missing_share"),
            "respondent_missing_share": pd.Series(1 - obs.mean(axis=1), name="missing_share"),
            "patterns": patterns, "n_complete": int(obs.all(axis=1).sum()), "n": len(x)}


def em_mvn(x: "np.ndarray | pd.DataFrame", tol: float | None = None, max_iter: int | None = None
           ) -> tuple["np.ndarray", "np.ndarray", int]:
    """ML mean and covariance (divisor n) of incomplete multivariate normal data; returns (mu, sigma, iterations).

    The EM algorithm of :func:`vccscale.sem.em.em_moments` (the package's one implementation, also behind FIML):
    ``tol`` is the largest change of a mean relative to its SD, or of a covariance relative to the product of the
    SDs (default 1e-10), ``max_iter`` the iteration cap (default 5000); reaching the cap gives a RuntimeWarning.
    """
    import warnings

    import numpy as np

    from ..sem.em import EM_MAX_ITER, EM_TOL, em_moments, missing_patterns

    a = np.asarray(x, dtype=float)
    a = a[~np.isnan(a).all(axis=1)]
    n, p = a.shape
    if n < 2:
        raise DataError("EM needs at least two rows with an observed value")
    if np.isnan(a).all(axis=0).any():
        raise DataError("a variable has no observed value")
    res = em_moments(missing_patterns(a), p, tol=EM_TOL if tol is None else tol,
                     max_iter=EM_MAX_ITER if max_iter is None else max_iter)
    if not res.converged:
        warnings.warn(res.warning(), RuntimeWarning, stacklevel=2)
    return res.mean, res.cov, res.iterations


@dataclass(frozen=True)
class MCARTest:
    statistic: float
    df: int
    pvalue: float
    n_patterns: int
    n: int

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "df": self.df, "pvalue": self.pvalue, "n_patterns": self.n_patterns,
                "n": self.n, "test": "Little (1988) MCAR chi-square"}


def little_mcar(x: "np.ndarray | pd.DataFrame") -> MCARTest:
    import numpy as np
    from ..sem._dist import chi2_upper

    a = np.asarray(x, dtype=float)
    a = a[~np.isnan(a).all(axis=1)]
    n, p = a.shape
    mu, sigma, _ = em_mvn(a)
    miss = np.isnan(a)
    pats: dict[bytes, list[int]] = {}
    for i in range(n):
        pats.setdefault(miss[i].tobytes(), []).append(i)
    d2 = 0.0
    df = 0
    for key, rows in pats.items():
        o = ~np.frombuffer(key, dtype=bool)
        diff = a[np.ix_(rows, o)].mean(axis=0) - mu[o]
        d2 += len(rows) * float(diff @ np.linalg.solve(sigma[np.ix_(o, o)], diff))
        df += int(o.sum())
    df -= p
    pval = float(chi2_upper(d2, df)) if df > 0 else float("nan")
    return MCARTest(float(d2), int(df), pval, len(pats), n)


def impute_mice(x: "pd.DataFrame", m: int = 20, seed: int = 0, n_burnin: int = 10) -> list["pd.DataFrame"]:
    """m completed copies of x by chained equations (statsmodels MICEData, predictive mean matching).

    Imputation k uses its own ``numpy.random.Generator`` seeded with ``(seed, k)``, so results are reproducible
    and numpy's global state is never touched. Rows with every variable missing are refused (DataError).
    """
    import numpy as np
    from statsmodels.imputation.mice import MICEData

    if m < 1:
        raise DataError("m (number of imputations) must be at least 1")
    empty = x.index[x.isna().all(axis=1)]
    if len(empty):
        raise DataError(f"{len(empty)} row(s) have every variable missing (first: {list(empty[:5])}); they carry "
                        "no information to impute from: remove them first", row=int(x.index.get_loc(empty[0])))
    cols = list(x.columns)
    safe = {c: f"v{k}" for k, c in enumerate(cols)}  # MICEData builds formulas: column names must be identifiers
    data = x.rename(columns=safe).astype(float).reset_index(drop=True)
    out = []
    for k in range(m):
        md = MICEData(data.copy(), rng=np.random.default_rng([seed, k]))
        for _ in range(n_burnin):
            md.update_all()
        out.append(md.data.rename(columns={v: c for c, v in safe.items()}).set_axis(x.index))
    return out
