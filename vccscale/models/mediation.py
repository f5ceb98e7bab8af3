"""Mediation analysis: indirect, direct and total effects with bootstrap, Monte Carlo and delta-method inference.

Two engines share one result type (:class:`MediationResult`):

* :func:`mediate` -- composite (observed) scores. Every equation is an OLS regression, which is also the ML
  (lavaan ``sem()``, ``fixed.x = TRUE``) solution of the saturated path model, so point estimates and
  delta-method standard errors equal lavaan's. The bootstrap is fully vectorised: one ``(B, n)`` matrix of
  resample counts times the ``n x K^2`` case-wise cross-products gives every draw's ``Z'Z`` in one matrix
  product, and every equation is then a batched solve -- there is no refit loop.
* :func:`mediate_latent` -- latent (or any lavaan-syntax) models through :mod:`vccscale.sem`, effects as ``:=``
  defined parameters. Bootstrap refits (:class:`vccscale.sem.Refitter`) run in parallel with joblib and are
  warm-started from the full-sample estimates.

Inference (columns of :attr:`MediationResult.effects`):

* ``est`` -- point estimate; ``delta_se`` -- delta-method SE (lavaan's standard SE of a ``:=`` parameter, ML
  information, divisor N); ``z`` and ``pvalue`` -- two-sided normal test **from the delta SE**.
* ``se`` -- bootstrap standard deviation (ddof = 1) of the successful draws.
* ``ci_lower`` / ``ci_upper`` -- bootstrap CI of type ``ci``: ``"percentile"`` (lavaan ``boot.ci.type =
  "perc"``), ``"bc"`` (bias-corrected, lavaan ``"bca.simple"``) or ``"bca"`` (bias-corrected and accelerated,
  acceleration from the jackknife). Quantiles are taken as lavaan (and ``boot::norm.inter``) takes them: the
  ``(R + 1) * alpha``-th order statistic, interpolated on the normal-quantile scale between neighbouring order
  statistics (not ``stats::quantile`` type 7).
* ``mc_lower`` / ``mc_upper`` -- Monte Carlo CI: ``n_mc`` parameter vectors drawn from N(theta_hat, V_delta),
  effects computed from each draw, plain empirical quantiles.

All bootstrap statistics come from ONE set of resample indices (``MediationResult.boot_indices``); draws that
fail (singular resample, non-convergence) are dropped and counted in ``bootstrap["failed"]``.
"""
from __future__ import annotations

import re
import time
from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd

from .._args import data_first
from ..errors import ModelError
from .pathmodel import (
    CI_TYPES,
    FAILED_SHARE,
    MIN_RESIDUAL_DF,
    SMALL_N,
    Effect,
    Equation,
    MediationResult,
    PathModel,
    as_list,
    boot_ci,
    boot_indices,
    check_ci,
    design_matrix,
    effects_frame,
    jackknife_acceleration,
    mc_quantiles,
    mediation_reading,
    norm_inter,
    random_streams,
    resolve_seed,
    run_composite,
)

# the names of vccscale.models.pathmodel this module has always offered stay importable from here
__all__ = ["MediationResult", "mediate", "mediate_latent", "latent_syntax", "boot_ci", "norm_inter", "boot_indices",
           "CI_TYPES", "MIN_RESIDUAL_DF", "SMALL_N", "FAILED_SHARE"]


# ====================================================================== composite mediation
def _path_model(Z, names, x, ms, y, covs, serial) -> tuple[PathModel, list[str], str]:
    col = {nm: i for i, nm in enumerate(names)}
    k = len(ms)
    eqs: list[Equation] = []
    params: list[tuple[str, int, int, str]] = []
    suffix = (lambda j: "") if k == 1 else (lambda j: f"_{j + 1}")
    lines = []
    for j, m in enumerate(ms):
        preds = [0, col[x]] + ([col[ms[i]] for i in range(j)] if serial else []) + [col[c] for c in covs]
        eqs.append(Equation(col[m], preds))
        params.append((f"a{suffix(j)}", j, 1, f"{m} ~ {x}"))
        terms = [f"a{suffix(j)}*{x}"]
        if serial:
            for i in range(j):
                params.append((f"d_{j + 1}{i + 1}", j, 2 + i, f"{m} ~ {ms[i]}"))
                terms.append(f"d_{j + 1}{i + 1}*{ms[i]}")
        lines.append(f"{m} ~ " + " + ".join(terms + covs))
    ypreds = [0, col[x]] + [col[m] for m in ms] + [col[c] for c in covs]
    eqs.append(Equation(col[y], ypreds))
    ye = len(eqs) - 1
    for j, m in enumerate(ms):
        params.append((f"b{suffix(j)}", ye, 2 + j, f"{y} ~ {m}"))
    params.append(("direct", ye, 1, f"{y} ~ {x}"))
    lines.append(f"{y} ~ direct*{x} + " + " + ".join(f"b{suffix(j)}*{m}" for j, m in enumerate(ms))
                 + "".join(f" + {c}" for c in covs))
    # reorder: a's, d's, b's, direct
    order = sorted(range(len(params)), key=lambda i: ("a_d_b_direct".index(params[i][0][0])
                                                      if params[i][0] != "direct" else 99, i))
    params = [params[i] for i in order]
    pidx = {p[0]: i for i, p in enumerate(params)}
    effects = [Effect(nm, desc, [(1.0, (i,))]) for i, (nm, _, _, desc) in enumerate(params)]
    # indirect chains: singles first (indirect_j through m_j), then longer serial chains
    chains: list[tuple[int, ...]] = [(j,) for j in range(k)]
    if serial:
        for r in range(2, k + 1):
            chains += list(combinations(range(k), r))
    ind_effects = []
    for c_i, ch in enumerate(chains):
        idx = [pidx[f"a{suffix(ch[0])}"]]
        for u, v in zip(ch[:-1], ch[1:]):
            idx.append(pidx[f"d_{v + 1}{u + 1}"])
        idx.append(pidx[f"b{suffix(ch[-1])}"])
        nm = "indirect" if len(chains) == 1 else f"indirect_{c_i + 1}"
        path = " -> ".join([x] + [ms[j] for j in ch] + [y])
        ind_effects.append(Effect(nm, path, [(1.0, tuple(idx))]))
    effects += ind_effects
    ind_names = [e.name for e in ind_effects]
    all_terms = [t for e in ind_effects for t in e.terms]
    if len(ind_effects) > 1:
        effects.append(Effect("indirect", "total indirect", list(all_terms)))
    effects.append(Effect("total", f"{x} -> {y} (direct + indirect)", [(1.0, (pidx["direct"],))] + all_terms))
    # lavaan syntax of the same model (for reference / mediate_latent on observed variables)
    for e in ind_effects:
        lines.append(f"{e.name} := " + "*".join(params[i][0] for i in e.terms[0][1]))
    lines.append("total := direct + " + " + ".join("*".join(params[i][0] for i in t[1]) for t in all_terms))
    return PathModel(Z, names, eqs, params, effects), ind_names, "\n".join(lines)


def mediate(data: pd.DataFrame, x: str, m, y: str, covariates=(), serial: bool = False, n_boot: int = 5000,
            ci: str = "percentile", level: float = 0.95, seed: int | None = None, n_mc: int = 5000
            ) -> MediationResult:
    """Mediation of ``x -> m -> y`` on composite (observed) scores by OLS, with bootstrap, Monte Carlo and
    delta-method inference.

    Parameters
    ----------
    data : DataFrame
        Rows with a missing value on any variable used are dropped (``MediationResult.n_dropped``).
    x, y : str
        Predictor and outcome columns.
    m : str or list of str
        Mediator(s). Several mediators are parallel (each ``m_j ~ x``) unless ``serial=True``, in which case
        ``m_j`` is also regressed on ``m_1 .. m_{j-1}`` (Hayes' model 6) and every chain is an indirect effect.
    covariates : sequence of str
        Entered in every equation.
    n_boot : int
        Bootstrap draws (0: none). All statistics use the same resample indices (``result.boot_indices``).
    ci : {"percentile", "bc", "bca"}
        Bootstrap CI type (see the module docstring); BCa uses a closed-form jackknife for the acceleration.
    level : float
        Confidence level of all intervals.
    seed : int, optional
        Seed of the bootstrap indices and the Monte Carlo draws; ``None`` draws one and reports it in
        ``result.bootstrap["seed"]`` so that any run can be repeated.
    n_mc : int
        Monte Carlo draws for ``mc_lower`` / ``mc_upper`` (0: none).

    Effects: ``a``, ``b``, ``direct``, ``indirect``, ``total`` for one mediator; with several ``a_1, a_2, ...``,
    ``b_1, ...``, (serial: ``d_21`` = path m1 -> m2, ...), ``direct``, ``indirect_1, ...`` (one per chain, the
    ``path`` column spells it out), ``indirect`` (sum of the chains) and ``total``.

    R: ``lavaan::sem`` of the saturated path model with ``:=`` indirect effects and ``se = "bootstrap"``
    (tests/reference/models/mediation_reference.R); the point estimates are the OLS ones of ``psych::mediate`` and
    PROCESS model 4 (6 for serial mediators).
    """
    ms = as_list(m, "m")
    covs = as_list(covariates, "covariates")
    if not ms:
        raise ValueError("give at least one mediator")
    Z, dropped, names = design_matrix(data, [x] + ms + [y] + covs)
    pm, ind_names, text = _path_model(Z, names, x, ms, y, covs, serial)
    return run_composite(pm, n_boot, ci, level, seed, n_mc, direct="direct", indirect=ind_names,
                          model_text=text, n_dropped=dropped)


# ====================================================================== latent mediation
def latent_syntax(measurement: dict, x: str, m, y: str, covariates=(), serial: bool = False,
                  direct: bool = True) -> str:
    """lavaan syntax of a latent mediation model with the labels of :func:`mediate` (``a``, ``b``, ``direct``,
    ``indirect``, ``total`` / ``a_1`` ...). ``measurement`` maps each factor to its indicators; ``direct=False``
    fixes the direct path at 0 (full mediation).

    R: the syntax that ``lavaan::sem`` fits for a latent mediation model.
    """
    ms = as_list(m, "m")
    k = len(ms)
    suf = (lambda j: "") if k == 1 else (lambda j: f"_{j + 1}")
    lines = [f"{f} =~ " + " + ".join(as_list(ind, "indicators")) for f, ind in measurement.items()]
    for j, mm in enumerate(ms):
        terms = [f"a{suf(j)}*{x}"] + ([f"d_{j + 1}{i + 1}*{ms[i]}" for i in range(j)] if serial else [])
        lines.append(f"{mm} ~ " + " + ".join(terms + list(covariates)))
    lines.append(f"{y} ~ " + ("direct" if direct else "0") + f"*{x} + "
                 + " + ".join(f"b{suf(j)}*{mm}" for j, mm in enumerate(ms)) + "".join(f" + {c}" for c in covariates))
    chains = [(j,) for j in range(k)]
    if serial:
        for r in range(2, k + 1):
            chains += list(combinations(range(k), r))
    prods = []
    for c_i, ch in enumerate(chains):
        fac = [f"a{suf(ch[0])}"] + [f"d_{v + 1}{u + 1}" for u, v in zip(ch[:-1], ch[1:])] + [f"b{suf(ch[-1])}"]
        nm = "indirect" if len(chains) == 1 else f"indirect_{c_i + 1}"
        lines.append(f"{nm} := " + "*".join(fac))
        prods.append("*".join(fac))
    if len(chains) > 1:
        lines.append("indirect := " + " + ".join(prods))
    lines.append("total := " + ("direct + " if direct else "") + " + ".join(prods))
    return "\n".join(lines)


def _full_model(model: str, direct: str) -> str:
    """Fix the path labelled ``direct`` at 0 and put 0 for it in the := expressions."""
    pat = re.compile(rf"(?<![A-Za-z0-9_.]){re.escape(direct)}\s*\*")
    out = []
    found = False
    for line in model.splitlines():
        code, _, comment = line.partition("#")
        if ":=" in code:
            lhs, rhs = code.split(":=", 1)
            rhs = re.sub(rf"(?<![A-Za-z0-9_.]){re.escape(direct)}(?![A-Za-z0-9_.])", "0", rhs)
            code = f"{lhs}:={rhs}"
        else:
            code, nsub = pat.subn("0*", code)
            found |= nsub > 0
        out.append(code)
    if not found:
        raise ModelError(f"no path carries the label {direct!r} (write e.g. 'Y ~ {direct}*X + b*M')")
    return "\n".join(out)


def _refit_chunk(setup, chunk: np.ndarray) -> np.ndarray:
    """Row values of the refits of ``setup`` (a :class:`vccscale.sem.Refitter`) on each index set of ``chunk``."""
    out = np.full((len(chunk), len(setup.pt.rows)), np.nan)
    for i, rows in enumerate(chunk):
        v = setup(rows)
        if v is not None:
            out[i] = v
    return out


def _refit_many(setup, index_sets: np.ndarray, n_jobs: int, progress: bool | None,
                what: str) -> np.ndarray:
    """Row values (len(index_sets), nrows) of the refits, NaN rows for failures; parallel with joblib."""
    R = len(index_sets)
    t0 = time.perf_counter()
    first = _refit_chunk(setup, index_sets[:1])
    per = max(time.perf_counter() - t0, 1e-4)
    if R == 1:
        return first
    rest = index_sets[1:]
    try:
        from joblib import Parallel, delayed, effective_n_jobs
        jobs = effective_n_jobs(n_jobs)
    except ImportError:  # pragma: no cover - joblib is optional
        Parallel = None
        jobs = 1
    expected = per * len(rest) / max(jobs, 1)
    show = progress if progress is not None else expected > 3.0
    nchunks = max(1, min(len(rest), jobs * 8 if jobs > 1 else 20))
    chunks = np.array_split(rest, nchunks)
    results: list[np.ndarray] = []
    bar = None
    if show:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        bar = Progress(TextColumn(f"{what}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                       TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        bar.start()
        task = bar.add_task(what, total=R)
        bar.update(task, advance=1)
    try:
        if jobs > 1 and Parallel is not None:
            gen = Parallel(n_jobs=jobs, return_as="generator")(delayed(_refit_chunk)(setup, c) for c in chunks)
        else:
            gen = (_refit_chunk(setup, c) for c in chunks)
        for c, res in zip(chunks, gen):
            results.append(res)
            if bar is not None:
                bar.update(task, advance=len(c))
    finally:
        if bar is not None:
            bar.stop()
    return np.vstack([first] + results)


def _label_rows(pt) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, r in enumerate(pt.rows):
        if r["label"] and r["label"] not in out:
            out[r["label"]] = k
    return out


def _defined_matrix(pt, vals: np.ndarray) -> dict[str, np.ndarray]:
    """Labels and := parameters for a batch of row-value vectors (B, nrows), vectorised."""
    env = {lab: vals[:, k] for lab, k in _label_rows(pt).items()}
    funcs = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs}
    with np.errstate(all="ignore"):
        for d in pt.defined:
            v = eval(d.code, {"__builtins__": {}}, {**funcs, **env})  # noqa: S307 - compiled by vccscale.sem
            env[d.name] = np.broadcast_to(np.asarray(v, float), (vals.shape[0],)).copy()
    return env


@data_first("model", model_types=(str, Mapping), what="lavaan model syntax (a str) or a measurement dict")
def mediate_latent(data: pd.DataFrame, model, x: str | None = None, m=None, y: str | None = None,
                   covariates=(), serial: bool = False, direct: str | None = "direct", n_boot: int = 5000,
                   ci: str = "percentile", level: float = 0.95, seed: int | None = None, n_mc: int = 5000,
                   n_jobs: int = -1, progress: bool | None = None, compare_full: bool = True,
                   effects=None) -> MediationResult:
    """Mediation in a latent-variable (or any lavaan-syntax) model via :func:`vccscale.sem.fit_sem`.

    ``model`` is either lavaan syntax with labelled paths and ``:=`` defined effects (``direct`` names the label
    of the direct path, used for the full-mediation comparison; ``None`` skips it), or a dict mapping each factor
    to its indicators, in which case ``x``, ``m``, ``y`` name factors (or observed variables) and the syntax is
    generated with the labels of :func:`mediate` (see :func:`latent_syntax`).

    Effects reported: every labelled parameter and every ``:=`` parameter (``effects`` restricts them).
    Bootstrap refits are warm-started from the full-sample estimates and run in parallel (``n_jobs`` as joblib;
    a progress bar on stderr when expected to take more than ~3 s, or as ``progress``); failures (non-convergence)
    are dropped and counted. ``ci="bca"`` costs ``n`` extra jackknife refits. The full-mediation model (direct
    path fixed at 0) is fitted too and compared by a chi-square difference test (``result.mediation``).

    R: ``lavaan::sem(model, se = "bootstrap")`` with ``lavaan::parameterEstimates(boot.ci.type = ...)``.
    """
    from ..sem import Refitter, fit_sem
    from ..sem.compare import chisq_difference

    ci = check_ci(ci, level)
    seed = resolve_seed(seed)
    if isinstance(model, dict):
        if x is None or m is None or y is None:
            raise ValueError("with a measurement dict, give x, m and y")
        syntax = latent_syntax(model, x, m, y, covariates, serial)
        direct = "direct"
    elif isinstance(model, str):
        syntax = model
    else:
        raise TypeError("model must be lavaan syntax (str) or a dict factor -> indicators")
    fit = fit_sem(data, syntax)
    setup = Refitter(fit)
    pt, theta_hat, V = fit.partable, fit.theta, fit.vcov().to_numpy(dtype=float)
    vals_hat = fit.row_values(theta_hat)
    n = setup.n
    est_tab = fit.estimates
    labels = list(_label_rows(pt))
    names = [lab for lab in labels] + [d.name for d in pt.defined]
    if effects is not None:
        names = [nm for nm in names if nm in set(effects)]
    if not names:
        raise ModelError("the model has no labelled or := parameters to report; label the paths (a*X) and define "
                         "the indirect effect (ind := a*b)")
    paths = {}
    for r in est_tab.itertuples():
        if r.label and r.label not in paths:
            paths[r.label] = f"{r.lhs} {r.op} {r.rhs}" if r.op != ":=" else r.rhs
    est0 = _defined_matrix(pt, vals_hat[None])
    est = np.array([est0[nm][0] for nm in names])
    delta = {}
    for r in est_tab.itertuples():
        key = r.label if r.label else None
        if key and key not in delta:
            delta[key] = r.se
    delta_se = np.array([delta.get(nm, np.nan) for nm in names])
    rng_b, rng_m = random_streams(seed)
    t0 = time.perf_counter()
    idx = None
    draws = np.empty((0, len(names)))
    n_failed = 0
    if n_boot > 0:
        idx = rng_b.integers(0, n, size=(n_boot, n), dtype=np.int64)
        vb = _refit_many(setup, idx, n_jobs, progress, "bootstrap")
        ok = np.isfinite(vb).all(axis=1)
        env = _defined_matrix(pt, vb[ok])
        draws = np.column_stack([env[nm] for nm in names]) if ok.any() else np.empty((0, len(names)))
        n_failed = int((~ok).sum())
    accel = None
    if ci == "bca" and n_boot > 0:
        jk = np.array([np.delete(np.arange(n), i) for i in range(n)])
        vj = _refit_many(setup, jk, n_jobs, progress, "jackknife")
        okj = np.isfinite(vj).all(axis=1)
        envj = _defined_matrix(pt, vj[okj])
        accel = jackknife_acceleration(np.column_stack([envj[nm] for nm in names]))
    seconds = time.perf_counter() - t0
    mc = np.full((len(names), 2), np.nan)
    if n_mc:
        w, U = np.linalg.eigh((V + V.T) / 2)
        Lm = U * np.sqrt(np.clip(w, 0, None))
        th = theta_hat + rng_m.standard_normal((n_mc, len(theta_hat))) @ Lm.T
        env = _defined_matrix(pt, fit.row_values(th))
        mc = mc_quantiles(np.column_stack([env[nm] for nm in names]), level)
    effs = [Effect(nm, paths.get(nm, ""), []) for nm in names]
    frame = effects_frame(effs, est, draws, delta_se, ci, level, accel, mc)
    boot = {"draws": int(n_boot), "ok": int(n_boot - n_failed), "failed": n_failed, "seed": seed, "ci": ci,
            "level": level, "n_mc": int(n_mc), "seconds": seconds, "warm_start": True}
    lnotes = list(fit.problems)
    if n_boot and n_failed / n_boot > FAILED_SHARE:
        lnotes.append(f"{n_failed} of {n_boot} bootstrap refits failed ({n_failed / n_boot:.0%}; more than "
                      f"{FAILED_SHARE:.0%}): the CIs rest on the remaining draws and may be biased")
    if n <= fit.fit["npar"]:
        lnotes.append(f"{n} cases for {int(fit.fit['npar'])} free parameters")
    res = MediationResult(effects=frame, bootstrap=boot, model=syntax, n=n, n_dropped=fit.n_dropped,
                          warnings=tuple(lnotes),
                          boot_draws=pd.DataFrame(draws, columns=names) if n_boot else None, boot_indices=idx,
                          fit=fit)
    if direct is not None and direct in labels:
        ind = [nm for nm in names if nm.startswith("ind") and nm in est0]
        reading = mediation_reading(frame, direct, [i for i in ind if i in set(frame["name"])], level) if ind else {}
        if compare_full:
            full = fit_sem(data, _full_model(syntax, direct))
            d = chisq_difference(full, fit, "standard")
            reading.update({"chisq_partial": fit.fit["chisq"], "df_partial": int(fit.fit["df"]),
                            "chisq_full": full.fit["chisq"], "df_full": int(full.fit["df"]),
                            "chisq_diff": d["chisq_diff"], "df_diff": d["df_diff"], "p_diff": d["pvalue"],
                            "prefer": "partial" if d["pvalue"] < 1 - level else "full"})
            res.fit_full = full
        res.mediation = reading
    return res
