"""``fit_cfa`` / ``fit_sem``: lavaan's ``cfa()`` / ``sem()`` with ML or MLR, returning a :class:`FitResult`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._args import data_first, is_plain
from ..errors import DataError, ModelError
from ._linalg import inverse
from .fit import Engine, Estimate, FIMLEngine, estimate, param_units, prepare_groups
from .measures import BASELINE_FAILED, fit_measures, gfi_moments, srmr_family, without_baseline
from .model import ORDINAL_ESTIMATORS, ParTable, build_partable
from .results import FitResult, parameter_rows, parameter_table, r_squared
from .syntax import is_twolevel

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["fit_cfa", "fit_sem", "ESTIMATORS"]

ESTIMATORS = ("ML", "MLR")
MISSING = ("listwise", "fiml")
ENGINES = ("vccscale", "semopy")


@dataclass
class _State:
    """Everything computed for one fit (internal; FitResult keeps it for modindices())."""

    pt: ParTable
    engine: Engine
    theta: np.ndarray
    est: Estimate
    vcov: np.ndarray
    estimator: str
    extra: dict = field(default_factory=dict)


@data_first("model")
def fit_cfa(data: pd.DataFrame, model: str, estimator: str = "ML", std_lv: bool = False, group: str | None = None,
            group_equal=(), group_partial=(), meanstructure: bool | None = None,
            missing: str = "listwise", fixed_x: bool | None = None, engine: str = "vccscale",
            cluster: str | None = None, ordered=None, parameterization: str = "delta") -> FitResult:
    """Confirmatory factor analysis with the defaults of ``lavaan::cfa()``.

    Parameters
    ----------
    data : DataFrame
        One row per respondent; the columns named in ``model`` must be numeric. Rows with a missing value on a
        model variable are dropped (lavaan's listwise default); the count is ``FitResult.n_dropped``.
    model : str
        lavaan model syntax (``=~ ~ ~~ ~1 :=``, modifiers ``1*x NA*x a*x start(.5)*x c(a,b)*x``).
    estimator : {"ML", "MLR"}
        ``"ML"``: standard errors from the expected information, the ML chi-square ``N F_ML``.
        ``"MLR"``: Huber-White standard errors (observed information) and the Yuan-Bentler (Mplus) scaled test,
        with lavaan's ``.scaled`` and ``.robust`` fit measures.
    std_lv : bool
        Identify factors by unit variance instead of a marker loading fixed at 1. As in lavaan, the sign of each
        factor follows its first indicator (its loading comes out positive, also for a reverse-keyed item).
    group : str, optional
        Column holding the group; groups are ordered by first appearance (as lavaan) and get a mean structure.
    group_equal : sequence of str
        lavaan's ``group.equal``: "loadings", "intercepts", "means", "residuals", "residual.covariances",
        "lv.variances", "lv.covariances", "regressions".
    group_partial : sequence of str
        Parameters exempt from ``group_equal``, in syntax form (``"x3 ~ 1"``, ``"visual =~ x2"``).
    missing : {"listwise", "fiml"}
        ``"listwise"`` (lavaan's default) drops every row with a missing model variable. ``"fiml"`` (alias ``"ml"``,
        lavaan's ``missing = "ml"``) uses every row with at least one observed model variable (rows with all of
        them missing are dropped and counted in ``n_dropped``), switches the mean structure on and maximises the
        casewise normal log-likelihood; standard errors come from the observed information, the chi-square is
        ``-2 (logl - unrestricted.logl)`` with the saturated model estimated by EM, and the SRMR compares with
        the EM moments. With ``estimator="MLR"`` the scaled test is lavaan's Yuan-Bentler (Mplus) test on the
        observed FIML information, and the ``.robust`` CFI / TLI / RMSEA (with its interval and p-values) are
        lavaan's corrected ones for missing data (``lav_fit_fiml_corrected``, Savalei 2018; Zhang & Savalei
        2023): computed from the ML chi-square of the estimates against the EM moments and its scaling factor
        (see :func:`vccscale.sem.robust.fiml_corrected`). Should that computation fail, they are NaN and
        ``FitResult.warnings`` says so (use the ``.scaled`` measures then). With ``estimator="ML"`` lavaan also
        prints these FIML-corrected robust measures; they are not computed here (use MLR).
    fixed_x : bool, optional
        lavaan's ``fixed.x``: exogenous observed covariates fixed at their sample moments (True, lavaan's default)
        or random variables whose means, variances and covariances are estimated (False). With ``missing="fiml"``
        (lavaan's ``missing = "ml.x"``) covariates must be random (``fixed_x=False``): then cases with missing
        covariates keep their other answers.
    engine : {"vccscale", "semopy"}
        ``"vccscale"`` (default): this package's Fisher-scoring engine. ``"semopy"``: the optional semopy 2.3.11
        (``pip install 'vccscale[semopy]'``) estimates the same lavaan parameter table, its solution is refined to
        lavaan's optimum by Fisher scoring, its expected information gives the standard errors and its
        ``calc_stats`` the fit measures it shares with lavaan; the others are NaN with a
        :class:`~vccscale.sem.semopy_engine.SemopyEngineWarning` (SRMR, RMSEA CI, AIC/BIC, GFI, ...). ML,
        single-group, listwise, covariance-structure models only (semopy shares no parameters across groups).
        Details: :mod:`vccscale.sem.semopy_engine`.
    cluster : str, optional
        Column holding the cluster id (lavaan's ``cluster =``). A single-level model gets cluster-robust
        standard errors (lavaan's ``se = "robust.cluster"``: the sandwich with the casewise scores summed within
        clusters, times C/(C-1)) and the Yuan-Bentler (Mplus) scaled test with the cluster-summed scores, with its
        ``.scaled`` / ``.robust`` fit measures, for ``estimator="MLR"`` and (as lavaan) for ``"ML"``; the mean
        structure is switched on. Clusters are counted within groups (``FitResult.n_clusters``). Rows with a
        missing cluster id are refused (DataError). Formulas: :mod:`vccscale.sem.robust`. A two-level model
        (lavaan's ``level: 1`` / ``level: 2`` blocks, also ``level: within`` / ``level: between``) needs it: it is
        then fitted by ML as ``lavaan::sem(model, data, cluster = cluster)`` and the result is a
        :class:`~vccscale.sem.twolevel.TwoLevelFitResult` (estimates with a ``level`` column, ``srmr_within`` /
        ``srmr_between``); see :mod:`vccscale.sem.twolevel`.
    ordered : True or sequence of str, optional
        Ordered (ordinal) indicators, as lavaan's ``ordered =``: True for every observed variable, or their names
        (every observed variable must be ordered). The model is then fitted by ``estimator`` "WLSMV" (DWLS with
        robust SEs and the scaled-shifted test; the default when ``estimator`` is left at "ML", as lavaan) or
        "ULSMV" on thresholds and polychoric correlations, complete cases (or ``missing="pairwise"``); ``group`` and
        ``group_equal`` ("thresholds", "loadings", ...) as lavaan (equal thresholds free the scale factors and
        latent means of groups 2..).
        The result is an :class:`~vccscale.sem.wlsmv.OrdinalFitResult`; see :mod:`vccscale.sem.wlsmv`.
    parameterization : {"delta", "theta"}
        With ordered indicators, as lavaan's ``parameterization =``: "delta" (default; unit-variance latent
        responses, scale factors ``~*~``) or "theta" (residual variances of the latent responses fixed at 1 in the
        first group; free in groups 2.. with equal thresholds). Same fit, other units.
    """
    return _fit(data, model, "cfa", estimator, std_lv, group, group_equal, group_partial, meanstructure, missing,
                fixed_x, engine, cluster, ordered, parameterization)


@data_first("model")
def fit_sem(data: pd.DataFrame, model: str, estimator: str = "ML", std_lv: bool = False, group: str | None = None,
            group_equal=(), group_partial=(), meanstructure: bool | None = None,
            missing: str = "listwise", fixed_x: bool | None = None, engine: str = "vccscale",
            cluster: str | None = None, ordered=None, parameterization: str = "delta") -> FitResult:
    """Structural equation model with the defaults of ``lavaan::sem()`` (see :func:`fit_cfa` for the arguments).

    Exogenous observed covariates are treated as fixed (``fixed.x = TRUE``): their variances and covariances are
    the sample values and are not parameters.
    """
    return _fit(data, model, "sem", estimator, std_lv, group, group_equal, group_partial, meanstructure, missing,
                fixed_x, engine, cluster, ordered, parameterization)


def _group_labels(data: pd.DataFrame, group: str | None) -> list:
    if group is None:
        return [None]
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if group not in data.columns:
        raise DataError(f"group column {group!r} is not in the data", column=group)
    labels = list(pd.unique(data[group].dropna()))
    if len(labels) < 2:
        raise DataError(f"group column {group!r} has {len(labels)} distinct value(s); a multigroup model needs at "
                        "least 2", column=group)
    return labels


def _check_cluster(data, cluster, group, estimator, miss, engine_name) -> None:
    """Refuse what lavaan's single-level ``cluster =`` cannot do here (or at all)."""
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not isinstance(cluster, str) or cluster not in data.columns:
        raise DataError(f"cluster column {cluster!r} is not in the data", column=cluster if isinstance(cluster, str)
                        else None)
    if cluster == group:
        raise ModelError(f"the cluster column {cluster!r} is also the group column")
    n_na = int(data[cluster].isna().sum())
    if n_na:
        raise DataError(f"cluster column {cluster!r} has {n_na} missing value(s); give every row a cluster id or "
                        "drop those rows (lavaan only warns and keeps them)", column=cluster)
    if engine_name != "vccscale":
        raise ModelError("cluster-robust standard errors (cluster=...) need engine='vccscale'")
    if estimator == "ML" and miss == "fiml":
        raise ModelError("cluster=... with estimator='ML' and missing='fiml' is not supported (lavaan's scaled "
                         "test then uses the h1 observed information for missing data); use estimator='MLR'")


def _cluster_codes(data, cluster, groups, pt) -> list[np.ndarray]:
    """Per group an integer code 0..C_g-1 per row of the group's data (clusters counted within groups)."""
    if cluster in pt.ov_names:
        raise ModelError(f"the cluster column {cluster!r} is also a variable of the model")
    import pandas as pd

    ids = data[cluster].to_numpy()
    out = []
    for gd in groups:
        codes, uniq = pd.factorize(ids[gd.rows])
        if len(uniq) < 2:
            where = f" in group {gd.label!r}" if pt.ngroups > 1 else ""
            raise DataError(f"cluster column {cluster!r} has {len(uniq)} cluster(s){where}; cluster-robust "
                            "standard errors need at least 2", column=cluster)
        out.append(np.asarray(codes, dtype=int))
    return out


@dataclass(frozen=True)
class EstimatesOnly:
    """What :func:`fit_estimates` returns: the parameter-table ``rows`` (dicts with lhs, op, rhs, group, label, est,
    se, z, pvalue, ci_lower, ci_upper, std_lv, std_all), the fit's ``warnings`` (as :attr:`FitResult.warnings`, less
    those of the test statistics, which are not computed), ``nobs`` and ``npar``."""

    rows: list
    warnings: tuple
    nobs: list
    npar: int

    @property
    def problems(self) -> tuple[str, ...]:
        """As :attr:`FitResult.problems` (needs ``standardized=True`` for the +-1 checks)."""
        from .results import solution_problems

        return solution_problems(self.warnings, [(r["lhs"], r["op"], r["rhs"], r["std_all"]) for r in self.rows])


def fit_estimates(data: pd.DataFrame, model: str, estimator: str = "ML", missing: str = "listwise",
                  model_type: str = "sem", cluster: str | None = None, standardized: bool = False) -> EstimatesOnly:
    """The parameter estimates of :func:`fit_sem` (``model_type="cfa"``: :func:`fit_cfa`), for work that fits a
    model many times and reads only its estimates (Monte Carlo power replicates, two-construct CFAs for latent
    correlations): the same estimation, identification check, standard errors (cluster-robust with ``cluster``)
    and solution warnings, raising the same errors, without the baseline model, test statistics, fit measures and
    result tables; standardized values (std_lv, std_all) only with ``standardized`` (else NaN). Single-level,
    single-group, continuous indicators, ML or MLR."""
    st = _fit(data, model, model_type, estimator, False, None, (), (), None, missing, cluster=cluster, lean=True)
    return EstimatesOnly(parameter_rows(st, standardized=standardized), tuple(_warnings(st)),
                         [int(g.n) for g in st.engine.groups], int(st.pt.npar))


def _fit(data, model, model_type, estimator, std_lv, group, group_equal, group_partial, meanstructure,
         missing="listwise", fixed_x=None, engine_name="vccscale", cluster=None, ordered=None,
         parameterization="delta", lean: bool = False):
    """The fit behind fit_cfa / fit_sem; ``lean`` (:func:`fit_estimates`): return the _State once the estimates and
    their covariance matrix are known (only the plain single-level, continuous-indicator path)."""
    est_u = estimator.upper() if isinstance(estimator, str) else estimator
    if lean and (ordered is not None or est_u in ORDINAL_ESTIMATORS or is_twolevel(model) or group is not None):
        raise ModelError("fit_estimates fits single-level, single-group models of continuous indicators (ML or "
                         "MLR); use fit_sem / fit_cfa")  # (is_twolevel: a model with level: blocks)
    if ordered is not None and ordered is not False or est_u in ORDINAL_ESTIMATORS:
        from .wlsmv import fit_ordinal

        if ordered is None or ordered is False or (not isinstance(ordered, bool) and not len(ordered)):
            raise ModelError(f"estimator {estimator!r} is for ordered indicators: pass ordered=True or their names "
                             "(CLI: --ordered)")
        bad = [k for k, v in (("cluster", cluster), ("group_partial", group_partial or None)) if v is not None]
        miss_o = missing.lower() if isinstance(missing, str) else missing
        if bad or miss_o not in ("listwise", "pairwise") or engine_name != "vccscale" or is_twolevel(model):
            raise ModelError("ordered indicators (WLSMV / ULSMV) are supported for single-level models with "
                             "missing='listwise' or 'pairwise' by the vccscale engine"
                             + (f" (not with {', '.join(bad)})" if bad else "")
                             + (f" (not missing={missing!r}: FIML is for continuous indicators)"
                                if miss_o not in ("listwise", "pairwise") else ""))
        return fit_ordinal(data, model, ordered, model_type=model_type,
                           estimator="WLSMV" if est_u == "ML" else estimator, std_lv=std_lv, group=group,
                           group_equal=group_equal, missing=miss_o, parameterization=parameterization)

    if parameterization != "delta":
        raise ModelError(f"parameterization={parameterization!r} is for ordered indicators (ordered=...)")
    if is_twolevel(model):  # level: blocks -> two-level ML (vccscale.sem.twolevel)
        if engine_name != "vccscale" or group_equal or group_partial:
            raise ModelError("two-level models are fitted by the vccscale engine only, without group_equal / "
                             "group_partial")
        from .twolevel import fit_twolevel

        return fit_twolevel(data, model, cluster=cluster, model_type=model_type, estimator=estimator,
                            std_lv=std_lv, fixed_x=fixed_x, missing=missing, group=group)
    if not isinstance(engine_name, str) or engine_name.lower() not in ENGINES:
        raise ModelError(f"engine must be one of {', '.join(ENGINES)}, not {engine_name!r}")
    engine_name = engine_name.lower()
    if not isinstance(estimator, str) or estimator.upper() not in ESTIMATORS:
        raise ModelError(f"estimator must be one of {', '.join(ESTIMATORS)} (WLSMV, ULSMV with ordered=), not "
                         f"{estimator!r}")
    estimator = estimator.upper()
    miss = missing.lower() if isinstance(missing, str) else missing
    miss = {"ml": "fiml", "direct": "fiml", "listwise": "listwise", "fiml": "fiml"}.get(miss)
    if miss is None:
        raise ModelError(f"missing must be one of {', '.join(MISSING)}, not {missing!r}")
    fiml = miss == "fiml"
    if fiml:
        meanstructure = True  # as lavaan with missing = "ml"
    if cluster is not None:
        _check_cluster(data, cluster, group, estimator, miss, engine_name)
        meanstructure = True  # as lavaan with cluster = (single level)
    if isinstance(group_equal, str):
        group_equal = [group_equal]
    if isinstance(group_partial, str):
        group_partial = [group_partial]
    if group_equal and group is None:
        raise ModelError("group_equal needs a multigroup model (pass group=...)")
    labels = _group_labels(data, group)
    pt = build_partable(model, model_type=model_type, std_lv=std_lv, ngroups=len(labels),
                        group_labels=labels, group_equal=group_equal, group_partial=group_partial,
                        meanstructure=meanstructure, fixed_x=True if fixed_x is None else bool(fixed_x))
    if engine_name == "semopy":
        from .semopy_engine import check_supported

        check_supported(pt, estimator=estimator, missing=miss, group=group)
    groups, dropped = prepare_groups(data, pt.ov_names, group, labels=labels if group is not None else None,
                                     missing=miss, ov_x=list(pt.ov_x))
    x_note = None
    if fiml and pt.ov_x:
        n_x = _missing_covariate_rows(data, list(pt.ov_x), list(pt.ov_names))
        if n_x:
            x_note = (f"{n_x} case(s) deleted for missing values in the fixed covariate(s) "
                      f"{', '.join(pt.ov_x)} (fixed.x = TRUE, as lavaan); fixed_x=False keeps them (missing = "
                      '"ml.x")')
    clusters = _cluster_codes(data, cluster, groups, pt) if cluster is not None else None
    robust_se = estimator == "MLR" or clusters is not None  # lavaan: ML with cluster = is cluster-robust too
    Eng = FIMLEngine if fiml else Engine
    engine = Eng(pt, groups)
    N = engine.N
    ndat = _ndat(pt)
    df = ndat - pt.npar
    if df < 0:
        raise ModelError(f"the model is not identified: it has {pt.npar} free parameters but the data give only "
                         f"{ndat} sample moments (df = {df}). Fix parameters, add indicators, or drop paths")
    if N <= pt.npar:
        what = "cases" if fiml else "complete cases"
        raise DataError(f"{N} {what} for {pt.npar} free parameters. Rule: the number of {what} "
                        "must exceed the number of free parameters (N > npar); collect more data or simplify the "
                        "model")
    sem_sol = None
    if engine_name == "semopy":
        from .semopy_engine import fit_with_semopy

        sem_sol = fit_with_semopy(pt, engine, groups[0])
        est = estimate(engine, start=sem_sol.theta)  # Fisher scoring from semopy's solution to lavaan's optimum
    else:
        try:
            est = estimate(engine)
        except ModelError:
            # a model that cannot converge is often not identified: say which parameters, when that is the cause
            from .fit import start_values

            theta0 = start_values(engine)
            _check_identified(pt, engine.information_expected(theta0), param_units(engine, theta0))
            raise
    theta = est.theta
    info = engine.information_expected(theta)
    _check_identified(pt, info, param_units(engine, theta))
    extra: dict = {"info_expected": info}  # (for _vcov_warnings)
    sem_stats: dict = {}
    if sem_sol is not None:
        from .semopy_engine import refined_statistics

        vcov, sem_stats = refined_statistics(sem_sol, theta, N)  # semopy's expected information at the optimum
    elif not robust_se:
        try:  # FIML: lavaan missing = "ml" uses information = "observed"
            vcov = inverse(engine.hessian(theta) if fiml else info) / N
        except np.linalg.LinAlgError:  # lavaan: "Could not compute standard errors!" (see _vcov_warnings)
            vcov = np.full((pt.npar, pt.npar), np.nan)
    else:
        from .robust import h1_information_fiml, h1_traces, h1_traces_fiml, sandwich, yuan_bentler_mplus

        sw = sandwich(engine, theta, clusters)
        vcov = sw["vcov"]
        if lean:  # the standard errors only (the scaled test is not wanted)
            if clusters is not None:
                extra["clusters"] = clusters
            return _State(pt, engine, theta, est, (vcov + vcov.T) / 2, estimator, extra)
        if fiml:  # the saturated model's information, also for the robust (FIML-corrected) measures below
            extra["h1_info"] = h1_information_fiml(engine, clusters)
        try:
            h1 = h1_traces_fiml(engine, extra["h1_info"]) if fiml else h1_traces(engine, clusters)
            A_inv = None
            if estimator == "ML":  # with clusters: lavaan's test uses observed.information = "h1"
                from .robust import h1_structured_information

                A_inv = inverse(h1_structured_information(engine, theta))
            extra["yb"] = yuan_bentler_mplus(engine, theta, df, sw=sw, h1=h1, clusters=clusters, A_inv=A_inv)
        except np.linalg.LinAlgError:
            # complete data: an information matrix of the test that cannot be inverted (FIML's saturated
            # information falls back to a generalized inverse, as lavaan). The robust SEs stand; the scaled test
            # does not exist (NaN, said in the warnings)
            h1 = None
            nan = float("nan")
            extra["yb"] = {"c": nan, "trace_ugamma": nan, "scaling_factor_h1": nan, "scaling_factor_h0": nan}
            extra["scaled_failed"] = True
        extra["h1"] = h1
    if clusters is not None:
        extra["clusters"] = clusters  # per group the cluster code of each case (the cluster bootstrap resamples them)
    state = _State(pt, engine, theta, est, (vcov + vcov.T) / 2, estimator, extra)
    if lean:
        return state

    # baseline (independence) model
    bpt = _baseline_partable(pt)
    beng = Eng(bpt, groups)
    bstart = _baseline_start(bpt, groups)
    best = estimate(beng, bstart)
    X2_null = 2 * N * best.fmin
    df_null = ndat - bpt.npar
    scaled = None
    if robust_se:
        from .robust import yuan_bentler_mplus

        # (the baseline model's implied moments are linear in its parameters: its h1 observed information is its
        # Hessian, so ML with clusters needs no A_inv here)
        yb_null = (yuan_bentler_mplus(beng, best.theta, df_null, h1=extra["h1"], clusters=clusters)
                   if extra["h1"] is not None else {"c": float("nan")})
        yb = extra["yb"]
        scaled = {"c": yb["c"], "c_null": yb_null["c"], "trace_ugamma": yb["trace_ugamma"],
                  "scaling_factor_h1": yb["scaling_factor_h1"], "scaling_factor_h0": yb["scaling_factor_h0"]}
    robust, robust_note = None, None
    if robust_se and fiml and any(getattr(i, "singular", False) for i in extra.get("h1_info") or ()):
        # the saturated model has covariances no respondent informs (variables never answered together): lavaan
        # still reports the scaled test (with a generalized inverse, as here) but its FIML-corrected robust CFI /
        # TLI / RMSEA then rest on the EM's arbitrary values for those covariances: not reported
        extra["robust_singular"] = True
        nan = float("nan")
        robust = {"X2": nan, "df": df, "c": nan, "X2_null": nan, "df_null": df_null, "c_null": nan}
    elif robust_se and fiml:
        robust, robust_note = _fiml_robust(engine, theta, df, beng, best.theta, df_null, extra.get("h1_info"))

    implied = engine.implied(theta)
    srmr_groups = [srmr_family(gd.cov, gd.mean, Sig, mu, pt.meanstructure) for (Sig, mu), gd in zip(implied, groups)]
    gfi_value = gfi_moments([gd.cov for gd in groups], [gd.mean for gd in groups], [Sig for Sig, _ in implied],
                            [mu for _, mu in implied], pt.meanstructure, [g.n for g in groups],
                            [engine.pos[v] for v in pt.ov_x])
    p_ = len(pt.ov_names)
    nel = len(groups) * (p_ * (p_ + 1) // 2 + (p_ if pt.meanstructure else 0))  # lavaan: all sample moments
    X2 = max(2 * N * est.fmin, 0.0)  # lavaan (lav_test.R): a negative chi-square (rounding at F = 0) is 0
    fm = fit_measures(X2=X2, df=df, npar=pt.npar, N=N, G=len(groups), fmin=est.fmin, X2_null=X2_null,
                      df_null=df_null, logl=engine.loglik(theta), logl_h1=engine.loglik_h1(),
                      srmr_groups=srmr_groups, nobs=[g.n for g in groups], gfi_value=gfi_value, nel=nel,
                      scaled=scaled, robust=robust)
    baseline_note = None
    if not best.converged or not np.isfinite(X2_null):  # lavaan: a failed baseline model leaves its measures NA
        fm, baseline_note = without_baseline(fm), BASELINE_FAILED
    engine_notes: tuple[str, ...] = ()
    engine_info: dict = {}
    if sem_sol is not None:
        import warnings

        from .semopy_engine import SemopyEngineWarning, fit_measures_from_semopy

        fm, note = fit_measures_from_semopy(sem_stats, fm, pt.npar, int(sem_stats["n"]), sem_stats["fun"] / 2)
        if baseline_note:
            fm = without_baseline(fm)
        engine_notes = (note,)
        engine_info = {**sem_sol.info, "refine_iterations": int(est.iterations), "semopy_df": sem_stats.get("DoF"),
                       "semopy_baseline_df": sem_stats.get("DoF Baseline"),
                       "semopy_max_change": float(np.max(np.abs(sem_sol.theta - theta))) if theta.size else 0.0}
        warnings.warn(note, SemopyEngineWarning, stacklevel=4)

    keys = [g.label for g in groups] if group is not None else [None]

    def tables() -> dict:  # the pandas tables, built on first use (FitResult.deferred)
        import pandas as pd

        r2s = r_squared(state)
        if len(groups) == 1:
            r2 = pd.Series(r2s[0], name="r2")
        else:
            r2 = pd.DataFrame({g.label: pd.Series(r) for g, r in zip(groups, r2s)})
        fitted = {k: pd.DataFrame(Sig, index=pt.ov_names, columns=pt.ov_names) for k, (Sig, _) in zip(keys, implied)}
        sample = {k: pd.DataFrame(g.cov, index=pt.ov_names, columns=pt.ov_names) for k, g in zip(keys, groups)}
        resid = {k: sample[k] - fitted[k] for k in keys}
        if group is None:
            fitted, sample, resid = ({"all": d[None]} for d in (fitted, sample, resid))
        return {"estimates": parameter_table(state), "r2": r2, "fitted_cov": fitted, "residual_cov": resid,
                "sample_cov": sample}

    return FitResult.deferred(
        tables, fit=fm, estimator=estimator, model=model if isinstance(model, str) else "", ngroups=len(groups),
        group_labels=[g.label for g in groups] if group is not None else [], nobs=[g.n for g in groups],
        n_dropped=dropped, iterations=est.iterations, missing=miss,
        warnings=tuple(_warnings(state)) + tuple(x for x in (x_note, robust_note, baseline_note) if x) + engine_notes,
        engine=engine_name, engine_info=engine_info, cluster=cluster,
        n_clusters=[int(c.max()) + 1 for c in clusters] if clusters is not None else [],
        se=_se_name(estimator, clusters is not None), test=_test_names(estimator, clusters is not None),
        _state=state)


def _se_name(estimator: str, clustered: bool) -> str:
    """lavaan's ``lavInspect(fit, "options")$se``."""
    if clustered:
        return "robust.cluster"
    return "robust.huber.white" if estimator == "MLR" else "standard"


def _test_names(estimator: str, clustered: bool) -> tuple[str, ...]:
    """lavaan's ``lavInspect(fit, "options")$test``."""
    if estimator == "MLR":
        return ("yuan.bentler.mplus",)
    return ("standard", "yuan.bentler.mplus") if clustered else ("standard",)


def _fiml_robust(engine, theta, df, beng, btheta, df_null, info) -> tuple[dict, str | None]:
    """lavaan's robust CFI / TLI / RMSEA for MLR with missing = "ml" (``lav_fit_fiml_corrected``, version "V3"):
    the parts for :func:`~vccscale.sem.measures.fit_measures`, and a warning when they cannot be computed (then
    the ``.robust`` measures are NaN and the warning says so, as lavaan's "computation of robust CFI failed")."""
    from .robust import fiml_corrected

    nan = float("nan")
    try:
        fc = fiml_corrected(engine, theta, df, beng, btheta, df_null, info=info, version="V3")
    except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        # not the exception's text: "... not positive definite" would flag the solution as improper (problems)
        fc = {"XX3": nan, "df3": df, "c.hat3": nan, "XX3.null": nan, "df3.null": df_null, "c.hat3.null": nan}
        why = ("a matrix it inverts is singular" if isinstance(exc, np.linalg.LinAlgError) else
               f"it failed ({type(exc).__name__})")
    else:
        bad = [k for k, v in fc.items() if np.isnan(v)]  # (c.hat3 is infinite without df, as in lavaan)
        why = f"{', '.join(bad)} not available" if bad else None
    robust = {"X2": fc["XX3"], "df": fc["df3"], "c": fc["c.hat3"], "X2_null": fc["XX3.null"],
              "df_null": fc["df3.null"], "c_null": fc["c.hat3.null"]}
    if why is None:
        return robust, None
    return robust, ("the robust CFI / TLI / RMSEA for missing data (lavaan's FIML-corrected measures) could not be "
                    f"computed: {why}; the affected .robust measures are NaN, use the scaled ones (cfi.scaled, "
                    "tli.scaled, rmsea.scaled)")


def _missing_covariate_rows(data, ov_x: list[str], ov_names: list[str]) -> int:
    """Rows with a model variable observed but a fixed covariate missing (or not a number): FIML deletes them."""
    if is_plain(data):  # plain numeric columns (vccscale.io.plain.Columns)
        X = data.matrix(ov_names)
        xi = [ov_names.index(v) for v in ov_x]
        return int((~np.isfinite(X[:, xi]).all(axis=1) & np.isfinite(X).any(axis=1)).sum())
    import pandas as pd

    Xc = data[ov_x].apply(pd.to_numeric, errors="coerce")
    return int((Xc.isna().any(axis=1) & data[ov_names].notna().any(axis=1)).sum())


def _ndat(pt: ParTable) -> int:
    p, nx = len(pt.ov_names), len(pt.ov_x)
    per = p * (p + 1) // 2 - nx * (nx + 1) // 2
    if pt.meanstructure:
        per += p - nx
    return per * pt.ngroups


def _check_identified(pt: ParTable, info: np.ndarray, units: np.ndarray | None = None) -> None:
    """Raise ModelError when the (expected) information is singular. ``units``: the parameters' natural units
    (:func:`~vccscale.sem.fit.param_units`), so that the test for parameters without information is unit-free."""
    d = np.sqrt(np.clip(np.diag(info), 0, None))
    names = pt.par_names()
    du = d * (np.ones_like(d) if units is None else units)
    zero = [names[i] for i in range(len(d)) if du[i] < 1e-12]
    if zero:
        raise ModelError(f"the model is not identified: parameter(s) {', '.join(zero)} do not affect the implied "
                         "moments; fix or remove them")
    R = info / np.outer(d, d)
    w, v = np.linalg.eigh(R)
    if w[0] < 1e-10:
        vec = v[:, 0]
        culprits = [names[i] for i in np.argsort(-np.abs(vec)) if abs(vec[i]) > 0.15][:6]
        raise ModelError("the model is not identified (the information matrix is singular, smallest scaled "
                         f"eigenvalue {w[0]:.2g}); the parameters involved are: {', '.join(culprits)}. Fix one of "
                         "them (e.g. a marker loading 1*x or a variance), or add constraints")


def _baseline_partable(pt: ParTable) -> ParTable:
    rows = []
    rx = list(getattr(pt, "ov_x_random", []))
    for g in range(1, pt.ngroups + 1):
        for v in pt.ov_nox:
            rows.append(dict(lhs=v, op="~~", rhs=v, group=g, user=0, free=True, ustart=None, start=None, label="",
                             exo=False, line=None))
        # random covariates (fixed.x = FALSE): their covariances stay free in the baseline model, as lavaan;
        # those the model fixes (e.g. at 0: covariates no respondent answered together, whose covariance is not
        # estimable) stay fixed at the same value, else the baseline model would not be identified
        fixed = {frozenset((r["lhs"], r["rhs"])): r for r in pt.rows
                 if r["op"] == "~~" and r["lhs"] != r["rhs"] and r["group"] == g and r["par"] < 0
                 and r["lhs"] in rx and r["rhs"] in rx}
        for j in range(len(rx)):
            for i in range(j + 1, len(rx)):
                fr = fixed.get(frozenset((rx[j], rx[i])))
                rows.append(dict(lhs=rx[j], op="~~", rhs=rx[i], group=g, user=0, free=fr is None,
                                 ustart=None if fr is None else fr.get("ustart"),
                                 start=None if fr is None else fr.get("start"), label="", exo=False, line=None))
        nx = len(pt.ov_x)
        for j in range(nx):
            for i in range(j, nx):
                rows.append(dict(lhs=pt.ov_x[j], op="~~", rhs=pt.ov_x[i], group=g, user=0, free=False, ustart=None,
                                 start=None, label="", exo=True, line=None))
        if pt.meanstructure:
            for v in pt.ov_names:
                exo = v in pt.ov_x
                rows.append(dict(lhs=v, op="~1", rhs="", group=g, user=0, free=not exo, ustart=None, start=None,
                                 label="", exo=exo, line=None))
    npar = 0
    for i, r in enumerate(rows):
        r["id"] = i + 1
        if r["free"]:
            r["par"] = npar
            npar += 1
        else:
            r["par"] = -1
    return ParTable(rows=rows, ov_names=list(pt.ov_names), lv_names=[], ov_x=list(pt.ov_x), ov_nox=list(pt.ov_nox),
                    lv_x=[], lv_endo=[], ngroups=pt.ngroups, group_labels=pt.group_labels,
                    meanstructure=pt.meanstructure, std_lv=False, npar=npar)


def _baseline_start(bpt: ParTable, groups) -> np.ndarray:
    theta = np.zeros(bpt.npar)
    pos = {v: i for i, v in enumerate(bpt.ov_names)}
    for r in bpt.rows:
        if r["par"] < 0:
            continue
        gd = groups[r["group"] - 1]
        i, j = pos[r["lhs"]], pos.get(r["rhs"], pos[r["lhs"]])
        theta[r["par"]] = gd.cov[i, j] if r["op"] == "~~" else gd.mean[i]
    return theta


def _warnings(state: _State) -> list[str]:
    out = []
    vals = state.engine.row_values(state.theta)
    for k, r in enumerate(state.pt.rows):
        if r["op"] == "~~" and r["lhs"] == r["rhs"] and vals[k] < 0:
            g = f" in group {r['group']}" if state.pt.ngroups > 1 else ""
            out.append(f"negative variance estimate for {r['lhs']}{g} ({vals[k]:.4g}): a Heywood case; the solution "
                       "is improper")
    for g in range(len(state.engine.groups)):
        cov, *_ = state.engine.implied_all(state.theta, g)
        lv = [state.engine.pos[v] for v in state.pt.lv_names]
        if lv:
            w = np.linalg.eigvalsh(cov[np.ix_(lv, lv)])
            if w[0] < 0:
                out.append("the covariance matrix of the latent variables is not positive definite"
                           + (f" in group {g + 1}" if state.pt.ngroups > 1 else ""))
    for gd in state.engine.groups:  # FIML: EM moments that stopped at the iteration cap
        em = getattr(gd, "em", None)
        msg = em.warning(f" of group {gd.label!r}" if state.pt.ngroups > 1 else "") if em is not None else None
        if msg:
            out.append(msg)
    if state.extra.get("robust_singular"):
        out.append("some variables of the model were never answered together: the saturated model's information "
                   "is singular, so the scaled test uses a generalized inverse (as lavaan) and the FIML-corrected "
                   ".robust CFI / TLI / RMSEA are NaN (lavaan reports them from the EM's arbitrary values for those "
                   "covariances); use the .scaled measures")
    if state.extra.get("scaled_failed"):
        out.append("the scaled test statistic could not be computed: the information matrix of the saturated model "
                   "cannot be inverted (e.g. variables that no respondent answered together); the robust standard "
                   "errors stand, the .scaled and .robust fit measures are NaN")
    return out + _vcov_warnings(state)


#: lavaan's threshold for the smallest eigenvalue of vcov (lav_model_vcov: .Machine$double.eps^(3/4))
VCOV_EIGEN_TOL = float(np.finfo(float).eps) ** 0.75
#: empirical under-identification: smallest eigenvalue of the expected information scaled to unit diagonal below
#: which a warning names the parameters involved. Well-identified models stay far above it (HolzingerSwineford1939
#: 3-factor CFA 0.09, PoliticalDemocracy SEM 0.14, a 6 x 5 CFA 0.08, two-indicator factors correlating .3: 3e-3);
#: a two-factor model with two indicators each and factors correlating .025 (loading SEs about 2.5) has 4e-4.
UNDERID_TOL = 1e-3


def _vcov_warnings(state: _State) -> list[str]:
    """lavaan's check of the parameter covariance matrix (``lav_model_vcov``), unit-free, and a warning for
    empirical under-identification, which lavaan does not give.

    * vcov could not be computed (the information could not be inverted): lavaan's "Could not compute standard
      errors!".
    * lavaan warns when the smallest eigenvalue of vcov is below eps^(3/4) (1.8e-12). That test depends on the
      units of the data (it fires for any model on data multiplied by 1e-4); here it is applied to vcov in the
      parameters' natural units (:func:`~vccscale.sem.fit.param_units`), i.e. as lavaan would run it on the data
      with every variable divided by its standard deviation.
    * Empirical under-identification (e.g. two-indicator factors that hardly correlate with the others): the
      information is not singular, so the fit passes the identification check, but the smallest eigenvalue of
      the information scaled to unit diagonal is below ``UNDERID_TOL``: some combination of parameters is nearly
      undetermined and their standard errors are inflated. lavaan returns such fits silently.
    """
    out: list[str] = []
    V, theta, engine, pt = state.vcov, state.theta, state.engine, state.pt
    if V.size == 0:
        return out
    if not np.all(np.isfinite(V)):
        out.append("could not compute standard errors: the information matrix could not be inverted. This may be "
                   "a symptom that the model is not identified (lavaan's warning)")
        return out
    u = param_units(engine, theta)
    clusters = state.extra.get("clusters")
    if clusters is not None:
        # the cluster-robust vcov has rank <= (clusters - 1) per group: with more free parameters than that it is
        # singular whatever the model (lavaan warns then too). Identification is judged on the model-based vcov;
        # the rank limit is said as a note, not as an improper solution.
        n_cl = sum(int(c.max()) + 1 for c in clusters)
        ev_rob = np.linalg.eigvalsh(V / np.outer(u, u))
        if ev_rob[0] < VCOV_EIGEN_TOL and pt.npar > n_cl - len(clusters):
            out.append(f"cluster-robust standard errors rest on {n_cl} clusters for {pt.npar} free parameters: their "
                       f"covariance matrix has rank at most {n_cl - len(clusters)} (lavaan warns that it is not "
                       "positive-definite); single standard errors remain usable, joint Wald tests and the scaled "
                       "test are less reliable with few clusters")
            try:
                info = state.extra.get("info_expected")
                V = inverse(info if info is not None else engine.information_expected(theta)) / engine.N
            except np.linalg.LinAlgError:
                V = np.full_like(V, np.nan)
            if not np.all(np.isfinite(V)):
                out.append("could not compute standard errors: the information matrix could not be inverted. This "
                           "may be a symptom that the model is not identified (lavaan's warning)")
                return out
    ev = np.linalg.eigvalsh(V / np.outer(u, u))
    if ev[0] < VCOV_EIGEN_TOL:
        what = "is close to zero" if ev[0] > 0 else "is smaller than zero"
        out.append("the variance-covariance matrix of the estimated parameters (vcov) does not appear to be "
                   f"positive definite: the smallest eigenvalue (= {ev[0]:.6e}, in standardized units) {what}. This "
                   "may be a symptom that the model is not identified (lavaan's warning)")
    info = state.extra.get("info_expected")
    if info is None:
        info = engine.information_expected(theta)
    d = np.sqrt(np.diag(info))
    if not np.all(d > 0):
        return out
    R = info / np.outer(d, d)
    w, v = np.linalg.eigh(R)
    if w[0] < UNDERID_TOL:
        names = pt.par_names()
        culprits = []
        for j in np.flatnonzero(w < UNDERID_TOL):  # every nearly undetermined direction (e.g. one per factor)
            vec = v[:, j]
            culprits += [names[i] for i in np.argsort(-np.abs(vec)) if abs(vec[i]) > 0.15][:6]
        culprits = list(dict.fromkeys(culprits))[:12]
        try:
            inflation = float(np.sqrt(np.max(np.diag(inverse(R)))))
        except np.linalg.LinAlgError:
            inflation = float("inf")
        out.append("the model is close to not identified (empirical under-identification): the information "
                   f"matrix scaled to unit diagonal has smallest eigenvalue {w[0]:.2g} (below {UNDERID_TOL:g}), so "
                   f"the estimates of {', '.join(culprits)} are nearly undetermined and their standard errors "
                   f"inflated (up to {inflation:.3g}-fold against fixing the other parameters). Typical causes: "
                   "factors with two indicators whose correlations with the other factors are near zero, or "
                   "near-zero paths that identify other parameters. lavaan gives no warning here")
    return out
