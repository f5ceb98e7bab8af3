"""Monte Carlo power analysis for SEM: simulate from a population model, fit the analysis model with
:mod:`vccscale.sem`, and summarise power, convergence, bias and CI coverage per sample size and target.

* **Analysis model** (unless given): the population syntax with its fixed values freed (each freed value becomes
  the start value). Kept fixed: loadings fixed at exactly 1 (markers: the factor's variance is then free),
  zero covariances (``a ~~ 0*b``) and latent means. A factor without a marker keeps its variance fixed at the
  population value (1 by the simulateData convention) and gets all loadings free, so estimates are on the
  population's scale and the true values are the population values.
* **Targets**: a path ``"y~x"``, a loading ``"f=~x2"``, a (co)variance ``"a~~b"``, a label (``"a"``), a defined
  parameter (``"ind"`` for ``ind := a*b``), or ``"joint(a, b)"`` (joint significance test: significant when every
  listed parameter is; its estimate is the product, it has no CI).
* **Significance**: the Wald z-test of vccscale.sem (lavaan's ``pvalue``; delta-method SE for ``:=``) at
  ``alpha``; power is the share significant among converged replicates. Coverage uses the 95% Wald CIs.
* **Seeds**: ``SeedSequence(seed).spawn(len(n))`` gives one sequence per sample size, each ``.spawn(reps)`` one
  per replicate; a replicate's data depend only on its own sequence, so results do not depend on the backend,
  ``n_jobs`` or the batching.
* **n_for_80**: per target, ``grid`` = the smallest n of the grid with power >= .80; ``interpolated`` = the n at
  which probit(power) reaches probit(.80) by linear interpolation in sqrt(n) between the two bracketing grid
  points (for a z-test probit(power) ~ delta*sqrt(n) - z_crit is linear in sqrt(n)); None when the grid does
  not bracket .80.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError, VccscaleError
from ..sem.syntax import parse_model
from .backends import run_tasks
from .population import PopulationModel, population_model, simulate_data, simulate_matrix

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PowerResult", "analysis_model", "parse_target", "power", "power_curve_plot"]

_JOINT = re.compile(r"^\s*joint\s*\((.*)\)\s*$", re.DOTALL)
_PATH = re.compile(r"^\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*(=~|~~|~)\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*$")


# ------------------------------------------------------------------------------------------- analysis model
def _fmt(x: float) -> str:
    return repr(float(x))


def analysis_model(model: str, pop: PopulationModel | None = None) -> str:
    """The analysis syntax for a population model (rules in the module docstring)."""
    pop = pop or population_model(model)
    rows = parse_model(model)
    lv = set(pop.lv_names)
    marker: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r.op == "=~" and r.modifier.fixed and len(r.modifier.fixed) == 1 and r.modifier.fixed[0] == 1.0 \
                and r.lhs not in marker:
            marker[r.lhs] = i
    out: list[str] = []
    user_var = {r.lhs for r in rows if r.op == "~~" and r.lhs == r.rhs}
    for i, r in enumerate(rows):
        m = r.modifier
        if r.op == ":=":
            out.append(f"{r.lhs} := {r.rhs}")
            continue
        if r.op in ("==", "<", ">"):
            out.append(f"{r.lhs} {r.op} {r.rhs}")
            continue
        if m.fixed is not None and len(m.fixed) > 1 or m.label is not None and len(m.label) > 1:
            raise ModelError("power analysis supports single-group population models only (no c(...) modifiers)")
        fixed = m.fixed[0] if m.fixed else None
        label = m.label[0] if m.label else ""
        keep = False
        if r.op == "=~" and marker.get(r.lhs) == i or r.op == "~~" and r.lhs != r.rhs and fixed == 0.0 or r.op == "~1" and r.lhs in lv:
            keep = True
        elif r.op == "~~" and r.lhs == r.rhs and r.lhs in lv and r.lhs not in marker:
            keep = True  # variance-identified factor: its variance stays at the population value
        mods = []
        if label:
            mods.append(f"{label}*")
        if keep:
            val = _row_value(pop, r.lhs, r.op, r.rhs)
            mods.append(f"{_fmt(val if val is not None else (fixed or 0.0))}*")
        else:
            mods.append("NA*")
            val = _row_value(pop, r.lhs, r.op, r.rhs)
            if val is not None:
                mods.append(f"start({_fmt(val)})*")
        rhs = "1" if r.op == "~1" else r.rhs
        op = "~" if r.op == "~1" else r.op
        out.append(f"{r.lhs} {op} {''.join(mods)}{rhs}")
    # factors identified by their variance that the syntax does not mention: fix the variance explicitly
    for f in pop.lv_names:
        if f not in marker and f not in user_var:
            out.append(f"{f} ~~ {_fmt(pop.value(f, '~~', f))}*{f}")
    return "\n".join(out)


def _row_value(pop: PopulationModel, lhs: str, op: str, rhs: str) -> float | None:
    try:
        return pop.value(lhs, op, rhs)
    except KeyError:
        return None


# ------------------------------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # "path", "label", "defined", "joint"
    key: tuple = ()
    parts: tuple = ()
    level: int | None = None  # two-level models: 1 (within) or 2 (between)


_LEVEL_PREFIX = re.compile(r"^\s*(within|between|1|2)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)


def parse_target(spec: str, model: str) -> Target:
    """Interpret a target string against the population model syntax. In a two-level model (``level:`` blocks) a
    target is looked up in the level that has it; ``within:fw~x1`` / ``between:fb~w1`` say which level when both
    do."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModelError(f"a target must be a non-empty string, got {spec!r}")
    m = _JOINT.match(spec)
    if m:
        parts = tuple(parse_target(p.strip(), model) for p in _split_commas(m.group(1)))
        if len(parts) < 2 or any(p.kind in ("joint",) for p in parts):
            raise ModelError(f"joint(...) needs at least two parameters, got {spec!r}")
        return Target(spec.strip(), "joint", parts=parts)
    from .nested import level_blocks

    blocks = level_blocks(model)
    if blocks is not None:
        m = _LEVEL_PREFIX.match(spec)
        if m:
            lv = 1 if m.group(1).lower() in ("within", "1") else 2
            t = parse_target(m.group(2), blocks[lv])
            return Target(spec.strip(), t.kind, t.key, t.parts, lv)
        found = []
        for lv, text in blocks.items():
            try:
                t = parse_target(spec, text)
                _true_value(t, population_model(text), text)
            except ModelError:
                continue
            found.append(Target(t.name, t.kind, t.key, t.parts, lv))
        if len(found) == 1:
            return found[0]
        if not found:
            raise ModelError(f"target {spec!r} is not a parameter of either level of the model")
        raise ModelError(f"target {spec!r} is a parameter of both levels: write within:{spec.strip()} or "
                         f"between:{spec.strip()}")
    m = _PATH.match(spec)
    if m:
        return Target(f"{m.group(1)}{m.group(2)}{m.group(3)}", "path", key=(m.group(1), m.group(2), m.group(3)))
    name = spec.strip()
    rows = parse_model(model)
    if any(r.op == ":=" and r.lhs == name for r in rows):
        return Target(name, "defined", key=(name,))
    if any(r.modifier.label and name in r.modifier.label for r in rows):
        return Target(name, "label", key=(name,))
    raise ModelError(f"target {spec!r} is neither a path (y~x, f=~x2, a~~b), a label, a defined (:=) parameter "
                     "of the model, nor joint(...)")


def _split_commas(s: str) -> list[str]:
    return [p for p in (x.strip() for x in s.split(",")) if p]


def _true_value(t: Target, pop: PopulationModel, model: str) -> float:
    if t.kind == "path":
        try:
            return pop.value(*t.key)
        except KeyError:
            raise ModelError(f"target {t.name!r} is not a parameter of the model") from None
    if t.kind == "label":
        return pop.label_values()[t.key[0]]
    if t.kind == "defined":
        from ..sem.model import build_partable

        pt = build_partable(model)
        vals = dict(pop.label_values())
        for d in pt.defined:
            vals[d.name] = d.evaluate(vals)
        return vals[t.key[0]]
    return float(np.prod([_true_value(p, pop, model) for p in t.parts]))


_FIND_COLUMNS = ("lhs", "op", "rhs", "label", "level", "est", "se", "pvalue", "ci_lower", "ci_upper")


def _records(est: pd.DataFrame) -> list[dict]:
    """The columns :func:`_find` and the replicate read, as a list of dicts (column by column: 3x faster than
    ``DataFrame.to_dict("records")`` on the string-typed table)."""
    cols = {c: est[c].tolist() for c in _FIND_COLUMNS if c in est.columns}
    return [dict(zip(cols, vals)) for vals in zip(*cols.values())]


def _find(recs: list[dict], t: Target) -> dict | None:
    """The estimates row of target ``t`` (a path's (co)variance in either order; a ``:=`` parameter; a label's first
    row) among the parameter table's records (:func:`_records`: a loop over a few dozen dicts is faster than boolean
    indexing of the string-typed table)."""
    for r in recs:
        if t.level is not None and "level" in r and r["level"] != t.level:
            continue
        if t.kind == "path":
            lhs, op, rhs = t.key
            if r["op"] == op and ((r["lhs"] == lhs and r["rhs"] == rhs) or
                                  (op == "~~" and r["lhs"] == rhs and r["rhs"] == lhs)):
                return r
        elif t.kind == "defined":
            if r["op"] == ":=" and r["lhs"] == t.key[0]:
                return r
        elif r["label"] == t.key[0] and r["op"] != ":=":
            return r
    return None


# ------------------------------------------------------------------------------------------ one replicate
def _one(pop_model: str, ana_model: str, targets: tuple, n: int, seed_seq, estimator: str, alpha: float,
         sim: dict, truths: tuple) -> dict:
    from ..io.plain import ArrayColumns
    from ..sem import fit_sem
    from ..sem.api import fit_estimates

    rec = {"n": n, "converged": False, "est": [math.nan] * len(targets), "se": [math.nan] * len(targets),
           "sig": [False] * len(targets), "cover": [math.nan] * len(targets)}
    nest = sim.get("nested")
    try:
        if nest:
            from .nested import simulate_nested

            data = simulate_nested(pop_model, n, nest["cluster_size"], seed=np.random.default_rng(seed_seq),
                                   icc=nest.get("icc"))
            est = _records(fit_sem(data, ana_model, estimator=estimator, cluster="cluster").estimates)
        else:
            rng = np.random.default_rng(seed_seq)
            miss = "fiml" if sim.get("missing") else "listwise"
            if estimator.upper() in ("ML", "MLR"):  # estimates only: no baseline model, fit measures, tables
                # plain columns: the worker process does not import pandas (0.3 CPU-s each)
                X, names, _ = simulate_matrix(pop_model, n, seed=rng, **sim)
                est = fit_estimates(ArrayColumns(X, names), ana_model, estimator=estimator, missing=miss).rows
            else:
                data = simulate_data(pop_model, n, seed=rng, **sim)
                est = _records(fit_sem(data, ana_model, estimator=estimator, missing=miss).estimates)
    except (VccscaleError, np.linalg.LinAlgError, FloatingPointError, ValueError):
        return rec
    rec["converged"] = True
    for k, (t, true) in enumerate(zip(targets, truths)):
        if t.kind == "joint":
            rows = [_find(est, p) for p in t.parts]
            if any(r is None for r in rows):
                continue
            rec["est"][k] = float(np.prod([r["est"] for r in rows]))
            rec["sig"][k] = bool(all(r["pvalue"] < alpha for r in rows))
            continue
        r = _find(est, t)
        if r is None or not np.isfinite(r["se"]):
            continue
        rec["est"][k] = float(r["est"])
        rec["se"][k] = float(r["se"])
        rec["sig"][k] = bool(r["pvalue"] < alpha)
        rec["cover"][k] = float(r["ci_lower"] <= true <= r["ci_upper"])
    return rec


def _batch(pop_model, ana_model, targets, n, seeds, estimator, alpha, sim, truths) -> list[dict]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [_one(pop_model, ana_model, targets, n, s, estimator, alpha, sim, truths) for s in seeds]


# ------------------------------------------------------------------------------------------------- result
@dataclass
class PowerResult:
    """Result of :func:`power`. ``table``: one row per (n, target) with n, target, true, power, converged, bias,
    coverage, mean_est, sd_est, mean_se, reps, n_converged, mcse (Monte Carlo SE of power)."""

    table: pd.DataFrame
    n_for_80: dict
    seed: int
    reps: int
    alpha: float
    estimator: str
    model: str
    analysis_model: str
    targets: list
    backend: str
    seconds: float = math.nan
    replicates: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        from ..jsonsafe import jsonable as clean

        res = [{k: clean(v) for k, v in row.items()} for row in self.table.to_dict("records")]
        return {"results": res, "n_for_80": self.n_for_80, "seed": self.seed, "reps": self.reps,
                "alpha": self.alpha, "estimator": self.estimator, "targets": list(self.targets),
                "model": self.model, "analysis_model": self.analysis_model, "backend": self.backend,
                "seconds": clean(self.seconds)}

    def summary(self) -> str:
        cols = ["target", "n"] + (["n_respondents"] if "n_respondents" in self.table else []) + [
            "true", "power", "converged", "bias", "coverage"]
        t = self.table[cols]
        what = " (n = clusters)" if "n_respondents" in self.table else ""
        lines = [f"Monte Carlo power{what}: {self.reps} replications per n, alpha = {self.alpha}, seed = {self.seed}",
                 t.to_string(index=False, float_format=lambda x: f"{x:.3f}"), "n for .80 power:"]
        for k, v in self.n_for_80.items():
            lines.append(f"  {k}: grid {v['grid']}, interpolated {v['interpolated']}")
        return "\n".join(lines)

    __str__ = summary


def _n_for(ns: list[int], pw: list[float], goal: float = 0.80) -> dict:
    from scipy.special import ndtri   # the normal quantile (scipy.stats.norm.ppf) without importing scipy.stats

    grid = next((n for n, p in zip(ns, pw) if p >= goal), None)
    interp = None
    for (n0, p0), (n1, p1) in zip(zip(ns, pw), zip(ns[1:], pw[1:])):
        if p0 < goal <= p1:
            lo, hi = (min(max(x, 1e-4), 1 - 1e-4) for x in (p0, p1))
            z0, z1, zg = ndtri(lo), ndtri(hi), ndtri(goal)
            s0, s1 = math.sqrt(n0), math.sqrt(n1)
            s = s0 + (zg - z0) * (s1 - s0) / (z1 - z0) if z1 != z0 else s1
            interp = float(round(s * s, 1))
            break
    return {"grid": grid, "interpolated": interp}


# -------------------------------------------------------------------------------------------------- power
def power(model: str, targets=("y~x",), n=(100, 200, 400), reps: int = 500, seed: int | None = None,
          alpha: float = 0.05, estimator: str = "ML", backend: str = "joblib", scheduler=None, n_jobs: int = -1,
          progress: bool = True, analysis: str | None = None, ordinal: dict | None = None,
          missing: dict | None = None, careless: dict | None = None, batch_size: int | None = None,
          keep_replicates: bool = False, cluster_size=None, icc: float | dict | None = None) -> PowerResult:
    """Monte Carlo power of ``targets`` for every sample size in ``n`` (see the module docstring).

    ``model`` is the population model (lavaan syntax, fixed values = population values, simulateData
    conventions); ``analysis`` overrides the derived analysis model. ``ordinal``/``missing``/``careless`` are
    passed to :func:`simulate_data` (with ``missing`` the analysis uses FIML). ``backend`` "joblib" (``n_jobs``
    processes) or "dask" (``scheduler``: a Client, an address, or None/"local" for a LocalCluster).

    Nested designs (:mod:`vccscale.simulate.nested`): with ``cluster_size`` (an int, ``(min, max)``), every ``n``
    is a number of **clusters** of that size. A two-level population model (``level: 1`` / ``level: 2`` blocks) is
    analysed by the two-level model (ML, lavaan ``cluster =``; targets may say ``within:`` / ``between:``); a
    single-level model with ``icc`` (a share, or ``{latent variable: share}``) by the single-level model with
    cluster-robust standard errors (``estimator`` MLR is then the default; lavaan ``cluster =``). The ``n``
    column of the table is then the number of clusters, ``n_respondents`` its expected number of respondents.
    """
    import time

    t0 = time.perf_counter()
    if isinstance(targets, str):
        targets = [targets]
    ns = [int(x) for x in ([n] if isinstance(n, (int, np.integer)) else n)]
    if not ns or any(x < 2 for x in ns):
        raise ModelError(f"n must be sample sizes >= 2, got {n!r}")
    if int(reps) < 1:
        raise ModelError(f"reps must be positive, got {reps!r}")
    if not 0 < alpha < 1:
        raise ModelError(f"alpha must be in (0, 1), got {alpha!r}")
    reps = int(reps)
    from .nested import level_blocks

    blocks = level_blocks(model)
    if blocks is not None and cluster_size is None:
        raise ModelError("a two-level population model needs cluster_size (respondents per cluster; n is then the "
                         "number of clusters)")
    if icc is not None and cluster_size is None:
        raise ModelError("icc needs cluster_size (respondents per cluster; n is then the number of clusters)")
    if cluster_size is not None and (ordinal or missing or careless):
        raise ModelError("nested power (cluster_size) does not combine with ordinal, missing or careless")
    if cluster_size is not None and blocks is None and icc is None:
        raise ModelError("a single-level population model with cluster_size needs icc (the between-cluster share "
                         "of the latent variables' variance), or write a two-level model")
    if blocks is not None:
        pops = {lv: population_model(text) for lv, text in blocks.items()}
        ana = analysis if analysis is not None else "\n".join(
            f"level: {lv}\n" + analysis_model(text, pops[lv]) for lv, text in sorted(blocks.items()))
        tg = tuple(parse_target(t, model) for t in targets)
        truths = tuple(_true_value(t, pops[t.level], blocks[t.level]) if t.kind != "joint" else
                       float(np.prod([_true_value(q, pops[q.level], blocks[q.level]) for q in t.parts]))
                       for t in tg)
    else:
        pop = population_model(model)
        ana = analysis if analysis is not None else analysis_model(model, pop)
        tg = tuple(parse_target(t, model) for t in targets)
        truths = tuple(_true_value(t, pop, model) for t in tg)
    if cluster_size is not None and blocks is None and estimator == "ML":
        estimator = "MLR"  # cluster-robust SEs and test (lavaan cluster = with a single-level model)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    seed = int(seed)
    cells = np.random.SeedSequence(seed).spawn(len(ns))
    rep_seeds = [c.spawn(reps) for c in cells]
    sim = {k: v for k, v in (("ordinal", ordinal), ("missing", missing), ("careless", careless)) if v}
    if cluster_size is not None:
        sim = {"nested": {"cluster_size": cluster_size, "icc": icc}}
    bs = batch_size or max(1, min(50, math.ceil(reps / 8)))
    tasks = []
    for ni, nn in enumerate(ns):
        for start in range(0, reps, bs):
            # a single-level population goes to the replicates parsed (PopulationModel): not once per replicate
            tasks.append((pop if blocks is None and cluster_size is None else model, ana, tg, nn,
                          rep_seeds[ni][start:start + bs], estimator, alpha, sim, truths))
    batches = run_tasks(_batch, tasks, backend=backend, n_jobs=n_jobs, scheduler=scheduler, progress=progress)
    recs = [r for b in batches for r in b]
    import pandas as pd

    rows, per_rep = [], []
    for nn in ns:
        rs = [r for r in recs if r["n"] == nn]
        conv = [r for r in rs if r["converged"]]
        for k, (t, true) in enumerate(zip(tg, truths)):
            est = np.array([r["est"][k] for r in conv], float)
            se = np.array([r["se"][k] for r in conv], float)
            sig = np.array([r["sig"][k] for r in conv], float)
            cov = np.array([r["cover"][k] for r in conv], float)
            nc = len(conv)
            pw = float(sig.mean()) if nc else math.nan
            ok = np.isfinite(est)
            rows.append({"n": nn, "target": t.name, "true": true, "power": pw, "converged": nc / len(rs),
                         "bias": float(est[ok].mean() - true) if ok.any() else math.nan,
                         "coverage": float(np.nanmean(cov)) if np.isfinite(cov).any() else math.nan,
                         "mean_est": float(est[ok].mean()) if ok.any() else math.nan,
                         "sd_est": float(est[ok].std(ddof=1)) if ok.sum() > 1 else math.nan,
                         "mean_se": float(np.nanmean(se)) if np.isfinite(se).any() else math.nan,
                         "reps": len(rs), "n_converged": nc,
                         "mcse": math.sqrt(pw * (1 - pw) / nc) if nc else math.nan})
        if keep_replicates:
            for i, r in enumerate(rs):
                for k, t in enumerate(tg):
                    per_rep.append({"n": nn, "rep": i, "target": t.name, "converged": r["converged"],
                                    "est": r["est"][k], "se": r["se"][k], "sig": r["sig"][k]})
    table = pd.DataFrame(rows)
    if cluster_size is not None:
        mean_size = (float(cluster_size) if isinstance(cluster_size, (int, np.integer))
                     else (cluster_size[0] + cluster_size[1]) / 2)
        n_resp = table["n"] * mean_size
        table.insert(1, "n_respondents", n_resp.round().astype(int) if (n_resp % 1 == 0).all() else n_resp)
    n80 = {t.name: _n_for(ns, list(table.loc[table["target"] == t.name, "power"])) for t in tg}
    return PowerResult(table=table, n_for_80=n80, seed=seed, reps=reps, alpha=alpha, estimator=estimator,
                       model=model, analysis_model=ana, targets=[t.name for t in tg], backend=backend,
                       seconds=time.perf_counter() - t0,
                       replicates=pd.DataFrame(per_rep) if keep_replicates else None)


def power_curve_plot(result: PowerResult, path, goal: float = 0.80) -> str:
    """Power against n per target (error bars: ±2 Monte Carlo SE), with a line at ``goal``; PNG or SVG by the
    file suffix. Returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ..report.figures import save_figure

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise VccscaleError(f"power_curve_plot writes .png or .svg, not {path.suffix!r}", file=path)
    fig, ax = plt.subplots(figsize=(6, 4))
    for t in result.targets:
        d = result.table[result.table["target"] == t]
        ax.errorbar(d["n"], d["power"], yerr=2 * d["mcse"], marker="o", capsize=3, label=t)
    ax.axhline(goal, color="grey", ls="--", lw=1)
    ax.set_xlabel("sample size n")
    ax.set_ylabel(f"power (alpha = {result.alpha})")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Monte Carlo power ({result.reps} replications per n)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=fig.dpi)
    plt.close(fig)
    return str(path)
