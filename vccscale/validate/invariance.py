"""Measurement invariance across a group column: configural, metric, scalar, strict.

``invariance(data, model, group)`` fits the CFA in every group (groups in order of first appearance, as
lavaan) with increasing equality constraints (``group.equal``: metric = loadings; scalar = + intercepts;
strict = + residual variances) and compares each model with the previous one:

- ML: the chi-square difference test, as ``lavaan::lavTestLRT`` (method "standard"), with lavaan's RMSEA of the
  difference, RMSEA_D = sqrt(G) * sqrt(max(0, (delta chi2 - delta df) / (delta df * N))) (G groups, N total).
- MLR: the Satorra-Bentler (2001) scaled difference of the standard statistics, as ``lavTestLRT`` with
  ``method = "satorra.bentler.2001"`` (lavaan's default for MLR): cd = (d0 c0 - d1 c1) / (d0 - d1),
  T = (T0 - T1) / cd, with c the scaling factors ``chisq.scaling.factor`` and d the degrees of freedom (0 the more
  constrained model).
- delta CFI and delta RMSEA (constrained minus less constrained; the robust versions for MLR), with the usual
  reading that a CFI drop of more than .01 speaks against the added constraints (Cheung & Rensvold 2002;
  Chen 2007).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

LEVELS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}
FIT_KEYS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic")
ROBUST_KEYS = ("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor", "cfi.robust", "tli.robust",
               "rmsea.robust")


def _snake(k: str) -> str:
    return k.replace(".", "_")


@dataclass(frozen=True)
class InvarianceResult:
    group: str
    groups: tuple
    estimator: str
    fits: dict[str, Any]                     # level -> FitResult
    tests: pd.DataFrame
    n: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    def fit_table(self) -> pd.DataFrame:
        keys = FIT_KEYS + (ROBUST_KEYS if self.estimator == "MLR" else ())
        return pd.DataFrame({lvl: {_snake(k): f.fit.get(k) for k in keys} for lvl, f in self.fits.items()}).T

    def to_frame(self) -> pd.DataFrame:
        return self.tests

    def to_dict(self) -> dict:
        out: dict[str, Any] = {lvl: {_snake(k): v for k, v in row.items()}
                               for lvl, row in self.fit_table().to_dict(orient="index").items()}
        out["tests"] = self.tests.to_dict(orient="records")
        out.update(group=self.group, groups=[str(g) for g in self.groups], estimator=self.estimator, n=self.n,
                   notes=list(self.notes))
        return out

    def summary(self) -> str:
        return (f"Measurement invariance across {self.group} ({', '.join(map(str, self.groups))}), "
                f"{self.estimator}, n = {self.n}\n" + self.fit_table().round(3).to_string() + "\n\n"
                + self.tests.round(4).to_string(index=False))


def difference_test(constrained: Any, free: Any, estimator: str = "ML", n_groups: int = 1) -> dict[str, float]:
    """The chi-square difference between two nested fits (``constrained`` has more df)."""
    from scipy import stats

    f0, f1 = constrained.fit, free.fit
    t0, t1, d0, d1 = f0["chisq"], f1["chisq"], f0["df"], f1["df"]
    dd = d0 - d1
    if dd <= 0:
        raise ValueError("the constrained model must have more degrees of freedom")
    if estimator == "MLR":
        c0, c1 = f0["chisq.scaling.factor"], f1["chisq.scaling.factor"]
        cd = (d0 * c0 - d1 * c1) / dd
        diff = (t0 - t1) / cd if cd > 0 else float("nan")
        rmsea_d = float("nan")
        cfi_key, rmsea_key = "cfi.robust", "rmsea.robust"
    else:
        diff = t0 - t1
        n = constrained.nobs if np.isscalar(constrained.nobs) else sum(constrained.nobs)
        rmsea_d = float(np.sqrt(n_groups) * np.sqrt(max(0.0, (diff - dd) / (dd * n))))
        cfi_key, rmsea_key = "cfi", "rmsea"
    p = float(stats.chi2.sf(diff, dd)) if np.isfinite(diff) else float("nan")
    return {"chisq_diff": float(diff), "df_diff": int(dd), "pvalue": p, "rmsea_d": rmsea_d,
            "delta_cfi": float(f0[cfi_key] - f1[cfi_key]), "delta_rmsea": float(f0[rmsea_key] - f1[rmsea_key])}


def invariance(data: pd.DataFrame, model: str, group: str, estimator: str = "ML",
               levels: tuple[str, ...] = ("configural", "metric", "scalar", "strict"),
               missing: str = "listwise") -> InvarianceResult:
    """Fit the invariance sequence and test each step against the previous one (see the module docstring).
    ``missing="fiml"`` fits every model by full-information ML (lavaan missing = "ml")."""
    from ..errors import ModelError
    from ..sem import fit_cfa

    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise ModelError(f"unknown invariance level(s) {unknown}; use {list(LEVELS)}")
    if group not in data.columns:
        raise ModelError(f"group column {group!r} is not in the data", column=group)
    groups = tuple(pd.unique(data[group].dropna()))
    if len(groups) < 2:
        raise ModelError(f"invariance needs at least two groups in {group!r}, found {len(groups)}", column=group)
    fits = {lv: fit_cfa(data, model, estimator=estimator, group=group, group_equal=list(LEVELS[lv]), missing=missing)
            for lv in levels}
    rows = []
    for prev, cur in zip(levels, levels[1:]):
        rows.append({"compare": f"{cur} vs {prev}", **difference_test(fits[cur], fits[prev], estimator,
                                                                      len(groups))})
    first = fits[levels[0]]
    n = int(np.sum(first.nobs))
    return InvarianceResult(group=group, groups=groups, estimator=estimator, fits=fits,
                            tests=pd.DataFrame(rows, columns=["compare", "chisq_diff", "df_diff", "pvalue",
                                                              "rmsea_d", "delta_cfi", "delta_rmsea"]), n=n)
