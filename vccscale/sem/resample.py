"""Nonparametric bootstrap of a fitted model: :func:`bootstrap` -> :class:`BootstrapResult`.

As ``lavaan::bootstrapLavaan(fit, R, type = "ordinary")`` / ``se = "bootstrap"``: cases are resampled with
replacement (within groups), the model is refitted on each resample, and the labelled and ``:=`` parameters are
collected; percentile confidence intervals are lavaan's (``parameterEstimates(boot.ci.type = "perc")``, quantiles of
the draws, type 7). Refits start from the full-sample estimates (warm start) and use the same estimator and
missing-data treatment as the fit (FIML resamples keep their missing cells), by BFGS with the full sample's inverse
information as the starting metric (damped Fisher scoring from there, at most BOOT_MAX_ITER iterations, if that
fails), to a scoring decrement of 1e-8. The BFGS refits of a chunk's replicates run together
(:mod:`vccscale.sem.batch`: each step one set of array operations for all of them, the resample's draw counts as
weights on the full sample's rows; the same draws as refitting each alone, to 1e-14 of their bootstrap SD as
measured on ten kinds of model, and 2-3x less CPU for the example study's models of 61 and 112 parameters); a
replicate the batch does not bring to convergence is refitted alone by scoring. Replicates whose estimation fails or
does not converge are dropped and counted (``n_failed``), as lavaan does. Unlike a fit, a replicate gets no second
attempt (BFGS from the start values, then scoring again) and at most 60 scoring iterations: measured on a 23-cluster
study of 77 respondents, 49 of 400 replicates failed so, one of which a fit's 500 iterations and second attempt
would have converged (0.25% of the draws), while each failing replicate cost 2-8 s that way, 300 times a converging
one (the scoring fallbacks that converged took 15-29 iterations; the hypothesis tests flag a failure share over 5%);
on a family C study of 150 respondents with 10% missing answers, 27 of 300 replicates fell back to scoring and none
converged within 200 iterations, each costing 2.5 CPU-s: with 60 the same draws in 42% of the time; over its two
1,000-draw bootstraps 4 replicates that converged after 60-200 iterations are dropped (82 -> 83 and 134 -> 137
failed; the CIs' ends moved by up to 1.2%, the decisions not). Replicate ``b`` draws its cases from
``numpy.random.default_rng([seed, b])``, so the draws do not depend on ``n_jobs``.

A fit with ``cluster=`` is bootstrapped by clusters (the cluster bootstrap; Field & Welsh 2007): each replicate
draws as many clusters as the group has, with replacement, and takes all their cases, so the dependence within
clusters is kept (lavaan's bootstrap resamples cases only; this is what ``se = "robust.cluster"`` calls for).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError, ModelError
from ._linalg import inverse, preload

if TYPE_CHECKING:  # pandas is imported where results are built, so that a worker's replicates do not import it
    import pandas as pd

__all__ = ["BootstrapResult", "bootstrap", "Refitter", "MonteCarloResult", "monte_carlo_ci"]

#: scoring decrement at which a bootstrap refit stops (F within ~1e-8 of its minimum: estimates to about 1e-4 of
#: their SE, far below the Monte Carlo error of a percentile)
BOOT_TOL = 1e-8
#: Fisher-scoring iterations of a replicate whose quasi-Newton refit failed (a fit gets 500 and a second attempt;
#: converging fallbacks were measured at 15-29 iterations, twice that is allowed)
BOOT_MAX_ITER = 60


def _percentile_rows(draws: pd.DataFrame, estimates: pd.Series, level: float, se_name: str) -> list[dict]:
    """Per column of ``draws``: name, est, the draws' SD (``se_name``), and the percentile interval (type 7
    quantiles of the finite draws)."""
    a = (1 - level) / 2
    rows = []
    for name in draws.columns:
        d = draws[name].to_numpy(dtype=float)
        d = d[np.isfinite(d)]
        lo, hi = (np.quantile(d, [a, 1 - a]) if len(d) else (np.nan, np.nan))
        rows.append({"name": name, "est": float(estimates[name]),
                     se_name: float(np.std(d, ddof=1)) if len(d) > 1 else np.nan,
                     "ci_lower": float(lo), "ci_upper": float(hi)})
    return rows


@dataclass(frozen=True)
class BootstrapResult:
    """``draws``: one row per successful replicate, one column per labelled / ``:=`` parameter; ``estimates``: the
    full-sample values; ``n_boot``, ``n_failed``, ``seed``."""

    draws: pd.DataFrame
    estimates: pd.Series
    n_boot: int
    n_failed: int
    seed: int

    @property
    def failed_share(self) -> float:
        return self.n_failed / self.n_boot if self.n_boot else float("nan")

    def ci(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile intervals (lavaan boot.ci.type = "perc"): name, est, boot_se, ci_lower, ci_upper."""
        import pandas as pd

        return pd.DataFrame(_percentile_rows(self.draws, self.estimates, level, "boot_se"))

    def to_dict(self) -> dict:
        return {"n_boot": self.n_boot, "n_failed": self.n_failed, "seed": self.seed,
                "intervals": self.ci().to_dict(orient="records")}


def _values(pt, vals: np.ndarray) -> dict[str, float]:
    env: dict[str, float] = {}
    for k, r in enumerate(pt.rows):
        if r["label"] and r["label"] not in env:
            env[r["label"]] = float(vals[k])
    funcs = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs}
    with np.errstate(all="ignore"):
        for d in pt.defined:
            env[d.name] = float(eval(d.code, {"__builtins__": {}}, {**funcs, **env}))  # noqa: S307 - own compiled code
    return env


def _draw_rows(rng: np.random.Generator, n: int, codes: np.ndarray | None) -> np.ndarray:
    """Row indices of one resample: n cases with replacement, or (``codes``: the cluster of each case) as many
    clusters as there are, with replacement, each with all its cases."""
    if codes is None:
        return rng.integers(0, n, n)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(int(codes.max()) + 1))
    ends = np.append(starts[1:], len(codes))
    pick = rng.integers(0, len(starts), len(starts))
    return np.concatenate([order[starts[c]:ends[c]] for c in pick])


def _draws(Xs: list[np.ndarray], seed: int, b: int, clusters: list | None) -> list[np.ndarray]:
    """Replicate ``b``'s row indices per group (from ``numpy.random.default_rng([seed, b])``)."""
    rng = np.random.default_rng([seed, b])
    return [_draw_rows(rng, len(X), clusters[k] if clusters is not None else None) for k, X in enumerate(Xs)]


def _replicate(pt, Xs: list[np.ndarray], labels: list, fiml: bool, theta_hat: np.ndarray, draws: list[np.ndarray],
               Hinv: np.ndarray | None = None, codes: list | None = None, blocks: list | None = None,
               quasi: bool = True) -> np.ndarray | None:
    """One bootstrap refit on its own: the values of every parameter-table row, or None (failed). ``draws``: the
    replicate's rows per group (:func:`_draws`). ``blocks``: per group the full sample's FIML row blocks
    (:class:`vccscale.sem.em.RowBlocks`, None for a group without missing cells): the resample's likelihood then
    reuses them with the rows' draw counts as frequency weights (:meth:`~vccscale.sem.em.RowBlocks.reweighted`)
    instead of finding its missing-data patterns again; the fallback (damped Fisher scoring, when quasi-Newton
    does not converge, or directly with ``quasi=False``: the batched quasi-Newton failed) builds the resample's
    own."""
    from .fit import Engine, FIMLEngine, GroupData, estimate, missing_patterns, quasi_newton

    def groups_for(weighted: bool) -> list:
        groups = []
        for k, (lab, X, rows) in enumerate(zip(labels, Xs, draws)):
            Xb = X[rows]
            n = len(Xb)
            if fiml and np.isnan(Xb).any():
                with np.errstate(all="ignore"):
                    mean = np.nanmean(Xb, axis=0)
                    cov = np.diag(np.nanvar(Xb, axis=0))
                if weighted and blocks is not None and blocks[k] is not None:
                    gd = GroupData(lab, Xb, n, mean, cov, [], 0.0)
                    gd._fiml_terms_blocks = blocks[k].reweighted(np.bincount(rows, minlength=len(X)))
                else:  # the optimisation needs no per-pattern moments (they serve the saturated model)
                    pats = missing_patterns(Xb, moments=False, codes=codes[k][rows] if codes is not None else None,
                                            values=False)
                    gd = GroupData(lab, Xb, n, mean, cov, pats, 0.0)
                groups.append(gd)
            else:
                mean = Xb.mean(axis=0)
                Xc = Xb - mean
                groups.append(GroupData(lab, Xb, n, mean, Xc.T @ Xc / n))
        return groups

    try:
        theta = None
        if quasi and Hinv is not None:
            # FIML on a resample without missing cells is complete-data ML (same estimates): the faster engine
            groups = groups_for(True)
            eng = (FIMLEngine if any(g.patterns is not None for g in groups) else Engine)(pt, groups)
            qn = quasi_newton(eng, theta_hat, Hinv, BOOT_TOL)
            theta = qn[0] if qn is not None else None
        if theta is None:  # fall back to damped Fisher scoring
            groups = groups_for(False)
            eng = (FIMLEngine if any(g.patterns is not None for g in groups) else Engine)(pt, groups)
            est = estimate(eng, start=theta_hat, tol=BOOT_TOL, max_iter=BOOT_MAX_ITER, second_attempt=False)
            if not est.converged:
                return None
            theta = est.theta
    except (ModelError, DataError, np.linalg.LinAlgError, ValueError, FloatingPointError, ArithmeticError):
        return None
    if not np.all(np.isfinite(theta)):
        return None
    return eng.row_values(theta)


#: a chunk's replicates are refitted together in batches whose arrays of incomplete rows (replicates x rows x
#: variables) hold at most BATCH_ROW_ELEMENTS numbers (2.4 MB: arrays that stay in the processor's cache; measured
#: with 30 items, n = 2,000, 5% missing: 25 replicates at once, 6.4 MB arrays, took 19% longer than one at a time),
#: and at most BATCH_ELEMENTS // max(parameters^2, 4 variables^2) replicates: the model's arrays too stay in the
#: cache (measured on family A's 303-parameter, 72-variable model, 500 draws: 1, 2, 3, 5, 10, 21 replicates at a
#: time 3.6, 2.7-3.0, 2.5-2.6, 2.9-3.1, 3.2-3.8, 4.0-4.1 CPU-s; the example's models of 61 and 112 parameters keep
#: all 25 of a chunk together)
BATCH_ROW_ELEMENTS = 300_000
BATCH_ELEMENTS = 400_000


def _batch_size(Xs: list[np.ndarray], blocks: list | None, q: int) -> int:
    rows, other = 1, q * q
    for X, blk in zip(Xs, blocks or [None] * len(Xs)):
        p = X.shape[1]
        other = max(other, p * p * 4)
        if blk is not None:  # (the rows a replicate draws: about 63% of them)
            rows = max(rows, int(0.65 * blk.n) * blk.P)
    return max(1, min(BATCH_ROW_ELEMENTS // rows, BATCH_ELEMENTS // other))


def _refit_batched(pt, Xs, labels, fiml, theta_hat, all_draws, Hinv, blocks) -> list:
    """The quasi-Newton refits of several replicates at once (:mod:`vccscale.sem.batch`): per replicate the
    values of every parameter-table row, or None where the batch did not converge (refitted alone then)."""
    from .batch import BatchObjective, refit_batch

    eng = _structure(pt, Xs, labels)
    out: list = []
    size = _batch_size(Xs, blocks, pt.npar)
    for a in range(0, len(all_draws), size):
        part = all_draws[a:a + size]
        obj = BatchObjective(eng, Xs, _draw_counts(Xs, part), blocks, fiml)
        with np.errstate(all="ignore"):
            thetas = refit_batch(obj, theta_hat, Hinv, BOOT_TOL)
        vals = obj.row_values(np.array([t if t is not None else theta_hat for t in thetas]))
        out += [v if t is not None and np.all(np.isfinite(t)) else None for t, v in zip(thetas, vals)]
    return out


def _draw_counts(Xs: list[np.ndarray], draws: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Per group the draw counts of its rows (replicates x rows) of the replicates ``draws`` (:func:`_draws`)."""
    return [np.stack([np.bincount(d[k], minlength=len(X)) for d in draws]).astype(float) for k, X in enumerate(Xs)]


def _row_blocks(Xs: list[np.ndarray], fiml: bool) -> tuple[list | None, list | None]:
    """Per group the rows' missing-data pattern codes (a resample's patterns are its rows' patterns) and the full
    sample's FIML row blocks (:class:`vccscale.sem.em.RowBlocks`, None for a group without missing cells), which
    every resample reweights by its draw counts; (None, None) without FIML."""
    from .em import RowBlocks, pattern_codes
    from .fit import BIG_PATTERN, missing_patterns

    if not fiml:
        return None, None
    codes = [pattern_codes(X) for X in Xs]
    blocks = [RowBlocks(X, missing_patterns(X, moments=False, codes=c, values=False),
                        big=max(X.shape[1], BIG_PATTERN)) if np.isnan(X).any() else None
              for X, c in zip(Xs, codes)]
    return codes, blocks


def _structure(pt, Xs: list[np.ndarray], labels: list):
    """An :class:`~vccscale.sem.fit.Engine` of ``pt`` on the full sample, for the model's structure only
    (positions, parameter indices, fixed values: a batch replaces the exogenous rows' values by its resamples')."""
    from .fit import Engine, GroupData

    groups = []
    for lab, X in zip(labels, Xs):
        with np.errstate(all="ignore"):
            groups.append(GroupData(lab, X, len(X), np.nanmean(X, axis=0), np.diag(np.nanvar(X, axis=0))))
    return Engine(pt, groups)


def _chunk(pt, Xs, labels, fiml, theta_hat, seed, bs, Hinv, clusters=None) -> list:
    from threadpoolctl import threadpool_limits

    codes, blocks = _row_blocks(Xs, fiml)
    # scipy's LAPACK loaded before the limit, which applies only to libraries already loaded: otherwise a fresh
    # worker (dask) loads scipy's OpenBLAS inside it, unlimited, and its idle threads spin (measured: 3.8 -> 8.9 ms
    # of CPU per draw of a 112-parameter FIML model)
    preload(max(pt.npar, *(X.shape[1] for X in Xs)))
    all_draws = [_draws(Xs, seed, b, clusters) for b in bs]
    with threadpool_limits(1):  # small matrices: one BLAS thread per worker
        batched = None
        if Hinv is not None:
            try:
                batched = _refit_batched(pt, Xs, labels, fiml, theta_hat, all_draws, Hinv, blocks)
            except (ModelError, DataError, np.linalg.LinAlgError, ValueError, FloatingPointError, ArithmeticError):
                batched = None  # each replicate on its own, as before
        if batched is None:
            return [_replicate(pt, Xs, labels, fiml, theta_hat, d, Hinv, codes, blocks) for d in all_draws]
        return [v if v is not None else _replicate(pt, Xs, labels, fiml, theta_hat, d, Hinv, codes, blocks,
                                                   quasi=False)
                for v, d in zip(batched, all_draws)]


class Refitter:
    """Refits of a fitted single-group, complete-data model on subsets of its cases: the public way to resample a
    :class:`vccscale.sem.FitResult` outside :func:`bootstrap` (e.g. the bootstrap and jackknife of
    :func:`vccscale.models.mediate_latent`).

    ``Refitter(fit)(rows)`` refits the model on the cases ``rows`` (indices into the fit's ``n`` complete cases,
    repeats allowed) by damped Fisher scoring warm-started from the full-sample estimates
    (``vccscale.sem.fit.estimate(engine, start=theta_hat)``) and returns the values of every parameter-table row
    (as :meth:`FitResult.row_values`), or None when estimation fails or does not converge. A Refitter holds the
    case data and the parameter table without its ``:=`` code, so it pickles (joblib workers); evaluate labels and
    ``:=`` parameters of the returned rows with the fit's :attr:`FitResult.partable`.
    """

    def __init__(self, fit):
        import dataclasses

        st = getattr(fit, "_state", None)
        if st is None:
            raise ModelError("a Refitter needs a FitResult from vccscale.sem.fit_cfa / fit_sem")
        if len(st.engine.groups) != 1 or fit.missing == "fiml":
            raise ModelError("a Refitter refits single-group models fitted to complete cases (missing='listwise')")
        if getattr(fit, "cluster", None) is not None:
            raise ModelError("a Refitter resamples cases, not clusters: it does not refit a cluster-robust fit "
                             "(cluster=...)")
        self.pt = dataclasses.replace(st.pt, defined=[])  # compiled := code is not needed (nor picklable)
        self.X = st.engine.groups[0].X
        self.theta_hat = np.array(st.theta, dtype=float)

    @property
    def n(self) -> int:
        """The number of cases of the fit (row indices run from 0 to n - 1)."""
        return int(self.X.shape[0])

    def __call__(self, rows: np.ndarray) -> np.ndarray | None:
        from .fit import Engine, GroupData, estimate

        Xb = self.X[rows]
        n = Xb.shape[0]
        mean = Xb.mean(axis=0)
        Xc = Xb - mean
        cov = Xc.T @ Xc / n
        try:
            eng = Engine(self.pt, [GroupData(None, Xb, n, mean, cov)])
            est = estimate(eng, start=self.theta_hat)  # warm start from the full-sample estimates
        except (ModelError, DataError, np.linalg.LinAlgError, ValueError, FloatingPointError):
            return None
        if not est.converged or not np.all(np.isfinite(est.theta)):
            return None
        return eng.row_values(est.theta)


def bootstrap(fit, n_boot: int = 1000, seed: int = 0, *, n_jobs: int = 1, progress=None, backend: str = "joblib",
              scheduler=None) -> BootstrapResult:
    """Bootstrap ``fit`` (a :class:`vccscale.sem.FitResult`) ``n_boot`` times; see the module docstring.
    ``progress(done, total, label)`` is called as replicates finish. ``backend``: "joblib" (``n_jobs`` local
    processes; 1 = this process) or "dask" (a dask.distributed ``scheduler``: a Client, an address, or None for a
    local cluster of ``n_jobs`` workers; :func:`vccscale.simulate.backends.run_tasks`). Every replicate draws from
    its own seed (seed, b), so the draws do not depend on the backend or the number of workers."""
    import dataclasses

    st = getattr(fit, "_state", None)
    if st is None:
        raise ModelError("bootstrap needs a FitResult from vccscale.sem.fit_cfa / fit_sem")
    if getattr(st, "engine", None) is None:
        raise ModelError("bootstrap of two-level models is not available; their standard errors are lavaan's "
                         "(observed information)")
    if n_boot < 1:
        raise DataError("n_boot must be at least 1", field="n_boot")
    pt = st.pt
    pt_work = dataclasses.replace(pt, defined=[])  # the workers need no := code (nor can they pickle it)
    fiml = fit.missing == "fiml"
    Xs = [g.X for g in st.engine.groups]
    labels = [g.label for g in st.engine.groups]
    names = list(_values(pt, st.engine.row_values(st.theta)))
    import pandas as pd

    est = pd.Series(_values(pt, st.engine.row_values(st.theta)))
    try:
        Hinv = inverse(st.engine.information_expected(st.theta))
    except np.linalg.LinAlgError:
        Hinv = None
    bs = np.arange(int(n_boot))
    chunks = np.array_split(bs, max(1, min(len(bs), 40)))
    results: list = []
    clusters = st.extra.get("clusters")
    args = [(pt_work, Xs, labels, fiml, st.theta, int(seed), c, Hinv, clusters) for c in chunks]
    if backend == "dask":
        from ..simulate.backends import run_tasks

        gen = iter(run_tasks(_chunk, args, backend="dask", n_jobs=n_jobs, scheduler=scheduler))
    elif backend not in ("joblib", "serial"):
        raise ModelError(f"backend must be 'joblib', 'serial' or 'dask', not {backend!r}")
    elif n_jobs == 1 or backend == "serial":
        gen = (_chunk(*a) for a in args)
    else:
        from joblib import Parallel, delayed

        gen = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_chunk)(*a) for a in args)
    done = 0
    for c, res in zip(chunks, gen):
        results += res
        done += len(c)
        if progress:
            progress(done, int(n_boot), "bootstrap")
    rows = [_values(pt, v) for v in results if v is not None]
    draws = pd.DataFrame(rows, columns=names) if rows else pd.DataFrame(columns=names)
    return BootstrapResult(draws, est, int(n_boot), int(sum(v is None for v in results)), int(seed))


@dataclass(frozen=True)
class MonteCarloResult:
    """``draws``: one row per draw, one column per ``:=`` parameter; ``estimates``: their values at the estimates;
    ``n_draws``, ``seed``."""

    draws: pd.DataFrame
    estimates: pd.Series
    n_draws: int
    seed: int

    def ci(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile intervals of the draws (type 7 quantiles): name, est, mc_se, ci_lower, ci_upper, pvalue
        (two-sided: twice the smaller share of draws on one side of 0)."""
        rows = _percentile_rows(self.draws, self.estimates, level, "mc_se")
        for r in rows:
            d = self.draws[r["name"]].to_numpy(dtype=float)
            d = d[np.isfinite(d)]
            r["pvalue"] = float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean()))) if len(d) else float("nan")
        import pandas as pd

        return pd.DataFrame(rows)


_MC_FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs}


def monte_carlo_ci(fit, n_draws: int = 20000, seed: int = 0, names=None) -> MonteCarloResult:
    """Monte Carlo confidence intervals of the ``:=`` parameters of ``fit`` (Preacher & Selig 2012; as
    ``semTools::monteCarloCI(fit)``): the labelled parameters the definitions use are drawn ``n_draws`` times from
    the normal distribution with the estimates as mean and their covariance ``fit.vcov(labels)`` (the model's
    standard errors: cluster-robust or two-level when the fit is), and each definition is evaluated on every draw.
    Draws come from ``numpy.random.default_rng(seed)``: identical for identical inputs. Works for single-level and
    two-level fits (the cross-level indirect effect of a 1-2-2 design, whose bootstrap would need cluster
    resampling of a two-level model per draw)."""
    from types import SimpleNamespace

    import pandas as pd

    from .model import compile_defined

    e = fit.estimates
    drows = e[e["op"] == ":="]
    if names is not None:
        unknown = [n for n in names if n not in set(drows["lhs"])]
        if unknown:
            raise ModelError(f"no defined (:=) parameter named {', '.join(unknown)}")
    if not len(drows):
        raise ModelError("the model has no defined (:=) parameters to draw")
    if n_draws < 100:
        raise ValueError("n_draws must be at least 100")
    labels = [x for x in dict.fromkeys(e.loc[(e["op"] != ":=") & (e["label"].fillna("") != ""), "label"])]
    rows = [SimpleNamespace(lhs=r.lhs, rhs=r.rhs, line=i + 1) for i, r in enumerate(drows.itertuples())]
    defs = compile_defined(rows, labels)
    used = [x for x in dict.fromkeys(n for d in defs for n in d.names) if x in set(labels)]
    V = fit.vcov(used).to_numpy(dtype=float)
    est_l = e[e["op"] != ":="].drop_duplicates("label").set_index("label")["est"]
    mean = np.array([float(est_l[x]) for x in used])
    rng = np.random.default_rng(seed)
    # eigen-decomposition (not Cholesky) so that a singular covariance (e.g. an equality-constrained pair) works
    w, Q = np.linalg.eigh((V + V.T) / 2)
    Z = rng.standard_normal((n_draws, len(used)))
    X = mean + (Z * np.sqrt(np.clip(w, 0, None))) @ Q.T
    values = {x: X[:, j] for j, x in enumerate(used)}
    point = {x: float(mean[j]) for j, x in enumerate(used)}
    out, est = {}, {}
    with np.errstate(all="ignore"):
        for d in defs:
            v = np.asarray(eval(d.code, {"__builtins__": {}}, {**_MC_FUNCS, **values}), dtype=float)
            values[d.name] = np.broadcast_to(v, (n_draws,)).copy()
            point[d.name] = float(eval(d.code, {"__builtins__": {}}, {**_MC_FUNCS, **point}))
            if names is None or d.name in names:
                out[d.name], est[d.name] = values[d.name], point[d.name]
    return MonteCarloResult(pd.DataFrame(out), pd.Series(est), int(n_draws), int(seed))
