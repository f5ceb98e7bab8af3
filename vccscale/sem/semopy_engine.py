"""``engine="semopy"``: fit a CFA/SEM with semopy 2.3.11 and return vccscale's :class:`~vccscale.sem.FitResult`.

semopy (``pip install 'vccscale[semopy]'``) is optional and imported only here, on the first semopy fit (it takes
about 1.5 s to import). What each part of the result comes from:

* **the model**: vccscale builds lavaan's full parameter table (``cfa()`` / ``sem()`` defaults: marker or
  ``std.lv`` identification, latent covariances, residual variances, fixed covariates) and hands semopy *every*
  row in semopy syntax -- free parameters labelled ``vccpar<k>`` (equality-constrained rows share a label), fixed
  ones as numbers -- so both programs estimate the same model and semopy adds no defaults of its own;
* **estimates**: semopy's optimiser (objective ``MLW``, its default SLSQP) stops about 1e-3 from lavaan's solution,
  so its solution is refined by Fisher scoring on vccscale's ML objective (the same steps vccscale's own engine
  takes) until the scoring decrement is below 1e-13: the estimates then agree with lavaan's to about 1e-6. How far
  semopy's own solution was from the optimum is kept in ``FitResult.engine_info["semopy_max_change"]``;
* **standard errors**: semopy's expected Fisher information (``semopy.stats.calc_se``) evaluated *at the refined
  estimates* (lavaan's ``information = "expected"``); ``:=`` parameters by the delta method, standardized
  solution and R-squared by vccscale from these estimates;
* **fit measures**: ``semopy.calc_stats`` at the refined estimates, under lavaan's names where semopy computes the
  same quantity: ``chisq``, ``df``, ``pvalue``, ``baseline.chisq``, ``baseline.df``, ``cfi``, ``tli``/``nnfi``,
  ``nfi``, ``rmsea`` (semopy divides by N - 1, lavaan by N: rescaled by sqrt((N - 1) / N)), plus ``npar``,
  ``ntotal`` and ``fmin`` (semopy's objective / 2); ``df`` and ``baseline.df`` are the model's (lavaan's) counts.
  With fixed observed covariates semopy counts their moments as degrees of freedom and its baseline model treats
  them as independent variables: its df, p-value, baseline chi-square and the incremental indices and RMSEA built
  on them are then not lavaan's, and are NaN (semopy's counts are in ``engine_info``); the chi-square itself agrees. Every other lavaan measure is NaN and a
  :class:`SemopyEngineWarning` (also in ``FitResult.warnings``) lists them: those semopy 2.3.11 lacks (SRMR and
  its family, the RMSEA confidence interval and close-fit tests, RFI, IFI, RNI, PNFI, MFI, ECVI, Hoelter's CN)
  and those it computes on another scale (its "LogLik" is the ML discrepancy, so its AIC/BIC are not lavaan's;
  its GFI is 1 - chisq / baseline.chisq, i.e. the NFI, not lavaan's GFI). When semopy's CFI would exceed 1
  (chisq < df) it is NaN too, since lavaan truncates at 1 and semopy does not.

Refused (``ModelError``): multigroup models (semopy's ``Multigroup`` fits each group on its own and shares no
parameters, so no invariance constraint can be expressed), mean structures, ``missing="fiml"``, ``estimator="MLR"``
(semopy 2.3.11 has no Yuan-Bentler scaled test) and random covariates (``fixed_x=False``).
"""
from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

__all__ = ["SemopyEngineWarning", "SEMOPY_MEASURES", "SEMOPY_LACKS", "SEMOPY_DIFFERENT", "semopy_syntax",
           "fit_with_semopy"]

LABEL = "vccpar"

#: lavaan fitMeasures name -> semopy.calc_stats column (same definition, or rescaled as noted in the module doc)
SEMOPY_MEASURES = {"chisq": "chi2", "df": "DoF", "pvalue": "chi2 p-value", "baseline.chisq": "chi2 Baseline",
                   "baseline.df": "DoF Baseline", "cfi": "CFI", "tli": "TLI", "nnfi": "TLI", "nfi": "NFI",
                   "rmsea": "RMSEA"}
#: measures semopy 2.3.11 computes on another scale than lavaan (NaN in the result), with the reason
SEMOPY_DIFFERENT = {
    "gfi": "semopy's GFI is 1 - chisq/baseline.chisq (the NFI), not lavaan's GFI",
    "agfi": "semopy's AGFI is built on its GFI (the NFI), not lavaan's",
    "pgfi": "built on the GFI, which semopy computes differently",
    "logl": "semopy's LogLik is the ML discrepancy F_ML, not a log-likelihood",
    "unrestricted.logl": "semopy reports no saturated-model log-likelihood",
    "aic": "semopy's AIC = 2 npar - 2 F_ML, not on lavaan's scale (-2 logl + 2 npar)",
    "bic": "semopy's BIC = npar log(N) - 2 F_ML, not on lavaan's scale",
    "bic2": "sample-size adjusted BIC needs lavaan's log-likelihood",
}
#: lavaan measures semopy 2.3.11 does not compute at all
SEMOPY_LACKS = ("baseline.pvalue", "rfi", "pnfi", "ifi", "rni", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.ci.level",
                "rmsea.pvalue", "rmsea.close.h0", "rmsea.notclose.pvalue", "rmsea.notclose.h0", "rmr", "rmr_nomean",
                "srmr_bentler", "srmr_bentler_nomean", "crmr", "crmr_nomean", "srmr_mplus", "srmr_mplus_nomean",
                "srmr", "cn_05", "cn_01", "mfi", "ecvi")


class SemopyEngineWarning(UserWarning):
    """A fit by ``engine="semopy"`` leaves lavaan measures semopy lacks or computes differently as NaN."""


@dataclass
class SemopySolution:
    theta: np.ndarray           # semopy's own solution, in vccscale's parameter order
    model: object               # the fitted semopy.Model
    names: list[str]            # semopy's active parameters, in its order
    index: np.ndarray           # vccscale parameter index of each semopy parameter
    result: object              # semopy's SolverResult
    info: dict = field(default_factory=dict)


def _import_semopy():
    try:
        with _quiet():
            import semopy
    except ImportError as e:  # pragma: no cover - exercised only without semopy
        raise ImportError("engine='semopy' needs the optional semopy package: pip install 'vccscale[semopy]' "
                          "(semopy 2.3.11)") from e
    return semopy


@contextlib.contextmanager
def _quiet():
    """semopy logs through the root logger ("No fixed loadings ...") and triggers numpy/pandas deprecation
    warnings; neither concerns the user of the vccscale result."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def check_supported(pt, *, estimator: str, missing: str, group) -> None:
    """Raise ModelError for what engine="semopy" cannot fit as lavaan does."""
    if group is not None or pt.ngroups > 1:
        raise ModelError("engine='semopy' cannot fit multigroup models: semopy 2.3.11's Multigroup fits every group "
                         "on its own and shares no parameters, so group_equal (invariance) constraints cannot be "
                         "expressed. Use the default engine (engine='vccscale') for multigroup models")
    if estimator != "ML":
        raise ModelError("engine='semopy' supports estimator='ML' only (semopy 2.3.11 has no Yuan-Bentler scaled "
                         "test for MLR); use engine='vccscale' for MLR")
    if missing != "listwise":
        raise ModelError("engine='semopy' supports missing='listwise' only; use engine='vccscale' for FIML")
    if pt.meanstructure:
        raise ModelError("engine='semopy' fits covariance structures only (semopy's Model has no mean structure): "
                         "drop the intercepts (~1) and meanstructure, or use engine='vccscale'")
    if getattr(pt, "ov_x_random", None):
        raise ModelError("engine='semopy' treats observed covariates as fixed (fixed_x=True); use engine='vccscale' "
                         "for fixed_x=False")


def _num(v: float) -> str:
    return repr(float(v))


def semopy_syntax(pt, fixed_values: np.ndarray) -> str:
    """semopy syntax for every row of lavaan's parameter table ``pt`` (one group, no means): free rows labelled
    ``vccpar<par>``, fixed rows as numbers (``fixed_values`` = the row values), the fixed covariates' (co)variances
    left to semopy, which fixes them at their sample values as lavaan's fixed.x does."""
    names = set(pt.ov_names) | set(pt.lv_names)
    clash = sorted(v for v in names if v.startswith(LABEL))
    if clash:
        raise ModelError(f"engine='semopy': variable name(s) {', '.join(clash)} clash with the parameter labels "
                         f"vccscale gives semopy ({LABEL}<k>); rename them or use engine='vccscale'")
    lines = []
    for k, r in enumerate(pt.rows):
        if r["op"] not in ("=~", "~", "~~"):
            raise ModelError(f"engine='semopy' cannot fit the row {r['lhs']} {r['op']} {r['rhs']}")
        if r.get("exo"):
            continue  # fixed covariate moments: semopy fixes them at the sample values itself
        mult = f"{LABEL}{r['par']}" if r["par"] >= 0 else _num(fixed_values[k])
        lines.append(f"{r['lhs']} {r['op']} {mult}*{r['rhs']}")
    return "\n".join(lines)


def fit_with_semopy(pt, engine, group_data) -> SemopySolution:
    """Fit ``pt`` (lavaan's parameter table) with semopy on the complete-case data of ``group_data`` and return
    semopy's solution mapped to vccscale's parameter vector (not yet refined)."""
    import pandas as pd

    semopy = _import_semopy()
    from .fit import start_values

    theta0 = start_values(engine)
    fixed = engine.row_values(theta0)  # values of the fixed rows (free ones are labelled)
    desc = semopy_syntax(pt, fixed)
    df = pd.DataFrame(group_data.X, columns=list(pt.ov_names))
    # semopy 2.3.11 loops forever computing start values (startingvalues.start_lambda follows first_manifs to None)
    # when a factor has no fixed loading (std_lv = TRUE): give the loadings lavaan's start values then
    marked = {r["lhs"] for r in pt.rows if r["op"] == "=~" and r["par"] < 0}
    preset = {f"{LABEL}{r['par']}": float(theta0[r["par"]]) for r in pt.rows
              if r["op"] == "=~" and r["par"] >= 0} if any(lv not in marked for lv in pt.lv_names) else {}
    with _quiet():
        try:
            model = semopy.Model(desc)
            for name, value in preset.items():
                model.parameters[name].start = value
            res = model.fit(df, obj="MLW")
        except Exception as e:  # semopy raises bare Exceptions / SyntaxErrors / KeyErrors
            raise ModelError(f"semopy could not fit the model: {type(e).__name__}: {e}") from e
    names = [n for n, p in model.parameters.items() if p.active]
    unknown = [n for n in names if not n.startswith(LABEL)]
    if unknown:
        raise ModelError(f"semopy added parameters that lavaan's model does not have ({', '.join(unknown)}); "
                         "use engine='vccscale'")
    index = np.array([int(n[len(LABEL):]) for n in names], dtype=int)
    if sorted(index.tolist()) != list(range(pt.npar)):
        missing = sorted(set(range(pt.npar)) - set(index.tolist()))
        pn = pt.par_names()
        raise ModelError("semopy did not estimate every parameter of lavaan's model (missing: "
                         f"{', '.join(pn[i] for i in missing)}); use engine='vccscale'")
    theta = np.empty(pt.npar)
    theta[index] = np.asarray(model.param_vals, dtype=float)
    info = {"semopy_version": getattr(semopy, "__version__", "?"), "semopy_start_values": "lavaan's for the loadings"
            if preset else "semopy's", "semopy_success": bool(getattr(res, "success", True)),
            "semopy_iterations": int(getattr(res, "n_it", -1) or -1), "semopy_objective": float(res.fun)}
    return SemopySolution(theta=theta, model=model, names=names, index=index, result=res, info=info)


def refined_statistics(sol: SemopySolution, theta: np.ndarray, n: int) -> tuple[np.ndarray, dict]:
    """semopy's expected-information covariance matrix of the estimates and its ``calc_stats`` at ``theta``
    (vccscale's refined estimates): ``(vcov in vccscale's parameter order, {semopy column: value})``."""
    semopy = _import_semopy()
    from semopy import stats as sstats

    model = sol.model
    x = np.asarray(theta, dtype=float)[sol.index]
    with _quiet():
        model.param_vals = x.copy()
        model.update_matrices(x)
        model.last_result.fun = float(model.obj_mlw(x))  # calc_stats reads chi2 = N * fun from here
        model.last_result.x = x.copy()
        _, fim_inv = model.calc_fim(inverse=True)
        table = semopy.calc_stats(model)
    V = np.empty((len(x), len(x)))
    V[np.ix_(sol.index, sol.index)] = fim_inv
    stats = {c: float(table[c].iloc[0]) for c in table.columns}
    stats["fun"], stats["n"] = float(model.last_result.fun), float(model.n_samples)
    return (V + V.T) / 2, stats


def fit_measures_from_semopy(stats: dict, ours: dict, npar: int, n: int, fmin: float) -> tuple[dict, str]:
    """lavaan's fit-measure dict (same keys as vccscale's ``ours``) with semopy's values where it has an equivalent
    and NaN elsewhere; returns ``(measures, warning message)``."""
    nan = float("nan")
    out = {k: nan for k in ours}
    for lav, col in SEMOPY_MEASURES.items():
        if lav in out:
            out[lav] = stats.get(col, nan)
    if "rmsea" in out and math.isfinite(out["rmsea"]):
        out["rmsea"] = out["rmsea"] * math.sqrt((n - 1) / n)  # semopy: sqrt((X2/df - 1) / (N - 1)); lavaan: N
    out["npar"], out["ntotal"], out["fmin"] = float(npar), float(n), float(fmin)
    notes = []
    # counts of the model, not measures: always lavaan's (semopy's own are in FitResult.engine_info)
    for k in ("df", "baseline.df"):
        if k in ours:
            out[k] = float(ours[k])
    if stats.get("DoF") != ours.get("df"):
        # fixed covariates: semopy counts their k(k+1)/2 moments as degrees of freedom
        dep = [k for k in ("pvalue", "tli", "nnfi", "cfi", "rmsea") if k in out]
        notes.append(f"{', '.join(dep)} (semopy counts the fixed covariates' moments as degrees of freedom: df "
                     f"{stats.get('DoF'):g}, lavaan {ours.get('df'):g})")
        for k in dep:
            out[k] = nan
    if stats.get("DoF Baseline") != ours.get("baseline.df"):
        dep = [k for k in ("baseline.chisq", "cfi", "tli", "nnfi", "nfi") if k in out]
        notes.append(f"{', '.join(dep)} (semopy's baseline model frees the fixed covariates' variances and drops "
                     f"their covariances: baseline df {stats.get('DoF Baseline'):g}, lavaan "
                     f"{ours.get('baseline.df'):g})")
        for k in dep:
            out[k] = nan
    if math.isfinite(out.get("cfi", nan)) and out["chisq"] < out["df"]:
        out["cfi"] = nan
        notes.append("cfi (chisq < df: semopy's CFI exceeds 1, lavaan truncates at 1)")
    lacks = [k for k in SEMOPY_LACKS if k in out]
    different = [k for k in SEMOPY_DIFFERENT if k in out]
    msg = ("engine='semopy': NaN where semopy 2.3.11 has no lavaan equivalent. It lacks " + ", ".join(lacks)
           + ". It computes on another scale: " + "; ".join(f"{k} ({SEMOPY_DIFFERENT[k]})" for k in different)
           + "." + (" In this model also: " + "; ".join(notes) + "." if notes else "")
           + " rmsea is semopy's, rescaled from its N - 1 divisor to lavaan's N. engine='vccscale' gives lavaan's "
           "full set")
    return out, msg
