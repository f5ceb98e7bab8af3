"""Measurement models sized to the data: :func:`fit_measurement` -> :class:`MeasurementResult`.

A study instrument often measures more constructs than its sample can carry in one CFA: family A's 20 constructs
have about 120 items and, with FIML's mean structure, some 560 free parameters, for 300-600 respondents. Applied
researchers then fit the measurement model in parts. This module chooses the parts by a stated rule and keeps
everything a later stage needs in one results object:

* **scopes**. ``full``: one CFA of every construct. ``groups``: one CFA per construct group (e.g. the drivers of a
  family, its mediators, its outcomes; :func:`construct_groups`). ``construct``: one one-factor CFA per construct,
  with the latent correlation of every pair of constructs from a two-construct CFA (the pairwise approach of
  Anderson & Gerbing 1988). Latent correlations of constructs in different models of the ``groups`` scope also
  come from two-construct CFAs; the table says which model each correlation comes from.
* **the rule** (``scope="auto"``): the largest scope whose models all have at least ``min_ratio`` cases per free
  parameter (N/q >= 5, Bentler & Chou 1987), where N is the number of respondent rows with at least one answered
  item of the model (FIML) or with all of them answered (listwise). A full model also needs every pair of
  constructs to share respondents (otherwise their covariance is not identified, e.g. constructs answered by
  different stakeholder versions). ``construct`` is used when nothing larger qualifies; a one-factor model below
  the ratio is still fitted and flagged.
* **improper solutions travel**: every model's status is ``ok``, ``improper`` (Heywood case, a latent covariance
  matrix that is not positive definite, standardized loadings or correlations beyond +-1:
  :attr:`vccscale.sem.FitResult.problems`) or ``failed`` (not estimable: the reason). Constructs inherit the status
  of their model (problems naming one of their items, or the latent covariance matrix); their CR and AVE are
  reported with that status and never as a proper result.

CR and AVE of every model come from :func:`vccscale.validate.measurement_quality` (the function ``vccscale cfa``
uses), with its default convention: semTools' ``compRelSEM(fit, obs.var = FALSE)`` / ``AVE(fit, obs.var = FALSE)``,
model-implied variances with the estimated (unstandardized) loadings (Fornell & Larcker 1981). The
Fornell-Larcker table (:meth:`MeasurementResult.fornell_larcker`) applies the same rule as measurement_quality
(sqrt(AVE) above every absolute latent correlation; not judged where the AVE is not defined) to correlations
that may come from other models (two-construct CFAs).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._args import data_first
from ..errors import DataError, VccscaleError
from ._common import PAIR_BATCH, PARALLEL_MIN_PAIRS, run_pair_batches  # noqa: F401 (the docstring names it)

__all__ = [
    "SCOPES",
    "MeasurementModel",
    "MeasurementResult",
    "answered",
    "cfa_npar",
    "construct_groups",
    "fit_measurement",
    "plan_measurement",
]

SCOPES = ("full", "groups", "construct")
FIT_KEYS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "aic", "bic",
            "chisq.scaled", "df.scaled", "pvalue.scaled", "cfi.robust", "tli.robust", "rmsea.robust", "npar")
MIN_PAIR_OVERLAP = 10  # respondents answering both constructs before a pairwise correlation is estimated


# ---------------------------------------------------------------------------------------------------- sizing
def answered(data: pd.DataFrame, items: Sequence[str], missing: str = "fiml") -> pd.Series:
    """Rows that count as cases of a model over ``items``: at least one answered item (FIML) or all of them
    (listwise)."""
    x = data[list(items)].notna()
    return x.any(axis=1) if missing == "fiml" else x.all(axis=1)


def cfa_npar(n_items: Sequence[int], meanstructure: bool) -> int:
    """Free parameters of a simple-structure CFA with marker identification (lavaan::cfa defaults): per factor
    k - 1 loadings, k residual variances and 1 factor variance; every factor covariance; item intercepts with a
    mean structure (FIML)."""
    k = len(n_items)
    p = int(sum(n_items))
    return (p - k) + p + k + k * (k - 1) // 2 + (p if meanstructure else 0)


def _syntax(blocks: Mapping[str, Sequence[str]], constructs: Iterable[str]) -> str:
    return "\n".join(f"{c} =~ {' + '.join(blocks[c])}" for c in constructs) + "\n"


def construct_groups(blocks: Mapping[str, Sequence[str]], data: pd.DataFrame | None = None, registry: Any = None, *,
                     perspective: str = "perspective") -> list[tuple[str, list[str]]]:
    """Construct groups for EFA and CFA by parts: the constructs of one family and role (registry ``family`` and
    first ``role``: drivers, mediators, outcomes, ...) answered by the same respondent versions (the set of
    ``perspective`` values with answers). Constructs the registry does not know form a group of their own.
    Returns ``[(name, constructs)]`` in registry order (families A, B, C, D, X; roles as listed there)."""
    def versions(c: str) -> tuple[str, ...]:
        if data is None or perspective not in data.columns:
            return ()
        rows = answered(data, blocks[c])
        return tuple(sorted(map(str, data.loc[rows, perspective].dropna().unique())))

    keyed: dict[tuple, list[str]] = {}
    order: dict[tuple, int] = {}
    for i, c in enumerate(blocks):
        con = registry.constructs.get(c) if registry is not None else None
        if con is not None:
            fam = str(con.family)
            role = str(con.role[0]) if con.role else "construct"
            rank = ("ABCDX".index(fam) if fam in "ABCDX" else 9, i)
        else:
            fam, role, rank = "", "construct", (10, i)
        key = (fam, role, versions(c))
        keyed.setdefault(key, []).append(c)
        order.setdefault(key, rank)
    out = []
    for key in sorted(keyed, key=lambda k: order[k]):
        fam, role, vers = key
        name = " ".join(x for x in (f"family {fam}" if fam else "", role + "s" if not role.endswith("s") else role,
                                    f"({', '.join(vers)})" if vers else "") if x)
        out.append((name, keyed[key]))
    return out


def _chunks(constructs: list[str], blocks: Mapping[str, Sequence[str]], data: pd.DataFrame, missing: str,
            min_ratio: float) -> list[list[str]]:
    """Split ``constructs`` (in order) into consecutive chunks whose CFA keeps N/q >= min_ratio and whose
    constructs all share respondents."""
    ms = missing == "fiml"
    rows = {c: answered(data, blocks[c]).to_numpy() for c in constructs}
    out: list[list[str]] = []
    cur: list[str] = []
    for c in constructs:
        trial = cur + [c]
        items = [i for x in trial for i in blocks[x]]
        n = int(answered(data, items, missing).sum())
        q = cfa_npar([len(blocks[x]) for x in trial], ms)
        disjoint = any(not (rows[c] & rows[x]).any() for x in cur)
        if cur and (n < min_ratio * q or disjoint):
            out.append(cur)
            cur = [c]
        else:
            cur = trial
    if cur:
        out.append(cur)
    return out


def _overlap(data: pd.DataFrame, blocks: Mapping[str, Sequence[str]], constructs: Sequence[str]) -> dict:
    rows = {c: answered(data, blocks[c]).to_numpy() for c in constructs}
    return {(a, b): int((rows[a] & rows[b]).sum()) for i, a in enumerate(constructs) for b in constructs[i + 1:]}


@data_first("blocks", blocks=True)
def plan_measurement(data: pd.DataFrame, blocks: Mapping[str, Sequence[str]], *, scope: str = "auto",
                     min_ratio: float = 5.0, missing: str = "fiml", groups: Sequence[tuple[str, Sequence[str]]] | None
                     = None) -> tuple[str, str, list[tuple[str, list[str]]]]:
    """Choose the models: ``(scope, reason, [(model name, constructs)])``; see the module docstring for the rule.
    ``groups`` are the construct groups of the ``groups`` scope (default: one group of everything, then split by
    the ratio)."""
    if scope not in ("auto",) + SCOPES:
        raise DataError(f"scope must be auto, full, groups or construct, not {scope!r}", field="scope")
    names = list(blocks)
    if not names:
        raise DataError("no construct with at least two items to validate")
    ms = missing == "fiml"
    all_items = [i for c in names for i in blocks[c]]
    n_full = int(answered(data, all_items, missing).sum())
    q_full = cfa_npar([len(blocks[c]) for c in names], ms)
    ov = _overlap(data, blocks, names)
    disjoint = [(a, b) for (a, b), k in ov.items() if k == 0]
    rule = f"at least {min_ratio:g} cases per free parameter (Bentler & Chou 1987)"
    short = f"{min_ratio:g} cases per parameter"
    full_ok = not disjoint and n_full >= min_ratio * q_full
    why_not_full = (f"constructs {disjoint[0][0]} and {disjoint[0][1]} have no respondent in common (answered by "
                    "different versions), so one model cannot estimate their covariance" if disjoint else
                    f"one model of all {len(names)} constructs ({len(all_items)} items) has {q_full} free parameters "
                    f"for {n_full} cases ({n_full / q_full:.1f} per parameter; the rule asks for {rule})")
    if scope == "full" or (scope == "auto" and full_ok):
        why = (f"one model of all {len(names)} constructs: {n_full} cases for {q_full} free parameters "
               f"({n_full / q_full:.1f} per parameter; rule: {rule})" if full_ok else
               f"one model of all constructs, as the study file asks (cfa.scope: full), although {why_not_full}")
        return "full", why, [("all constructs", names)]
    grouped = [(n, [c for c in cs if c in blocks]) for n, cs in (groups or [("all constructs", names)])]
    grouped = [(n, cs) for n, cs in grouped if cs]
    missing_from_groups = [c for c in names if not any(c in cs for _, cs in grouped)]
    if missing_from_groups:
        grouped.append(("other constructs", missing_from_groups))
    parts: list[tuple[str, list[str]]] = []
    for gname, cs in grouped:
        # constructs of a group must share respondents: split by version pattern first
        ch = _chunks(cs, blocks, data, missing, min_ratio)
        for k, chunk in enumerate(ch):
            parts.append((gname if len(ch) == 1 else f"{gname} {k + 1}", chunk))
    multi = [p for p in parts if len(p[1]) > 1]
    if scope == "groups" or (scope == "auto" and multi):
        why = (f"{why_not_full}; so {len(parts)} models of construct groups (each with {short} where possible), "
               "and latent correlations across groups from two-construct models")
        if scope == "groups":
            why = f"construct groups, as the study file asks (cfa.scope: groups): {len(parts)} models"
        return "groups", why, parts
    why = (f"{why_not_full}, and no group of two or more constructs meets the rule either; so one one-factor model "
           "per construct, with latent correlations from two-construct models (Anderson & Gerbing 1988)")
    if scope == "construct":
        why = "one one-factor model per construct, as the study file asks (cfa.scope: construct)"
    return "construct", why, [(c, [c]) for c in names]


# ---------------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class MeasurementModel:
    """One fitted measurement model: its constructs, syntax, cases, free parameters, status (ok | improper |
    failed), problems and fit measures (lavaan names)."""

    name: str
    constructs: tuple[str, ...]
    syntax: str
    n: int
    npar: int
    status: str
    problems: tuple[str, ...] = ()
    fit: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.n / self.npar if self.npar else float("nan")

    def to_dict(self) -> dict:
        return {"name": self.name, "constructs": list(self.constructs), "syntax": self.syntax, "n": self.n,
                "npar": self.npar, "ratio": self.ratio, "status": self.status, "problems": list(self.problems),
                "fit": dict(self.fit)}

    @classmethod
    def from_dict(cls, d: dict) -> MeasurementModel:
        return cls(d["name"], tuple(d["constructs"]), d["syntax"], int(d["n"]), int(d["npar"]), d["status"],
                   tuple(d.get("problems", ())), {k: (np.nan if v is None else v) for k, v in d.get("fit", {}).items()})


@dataclass(frozen=True)
class MeasurementResult:
    """The measurement model(s) of a study: scope and the reason for it, every model, the parameter table (with a
    ``model`` column), one row per construct (``constructs``: model, n, n_items, cr, ave, loading_min,
    loading_max, status, problems; with WLSMV also ordinal_alpha and ordinal_omega, the ordinal alpha and Green &
    Yang's categorical omega of :func:`vccscale.sem.wlsmv.ordinal_reliability`) and the latent correlations
    (``correlations``: pairs a, b, r, se, pvalue, n, source model, status)."""

    scope: str
    reason: str
    min_ratio: float
    estimator: str
    missing: str
    models: tuple[MeasurementModel, ...]
    estimates: pd.DataFrame
    constructs: pd.DataFrame
    correlations: pd.DataFrame

    # -- views --------------------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per construct (a copy of :attr:`constructs`)."""
        return self.constructs.copy()

    def fit_table(self) -> pd.DataFrame:
        """One row per model: model, constructs, n, npar, cases per parameter, status, then the fit measures."""
        rows = []
        for m in self.models:
            row = {"model": m.name, "constructs": len(m.constructs), "n": m.n, "npar": m.npar,
                   "ratio": m.ratio, "estimator": self.estimator, "missing": self.missing, "status": m.status,
                   "problems": "; ".join(m.problems)}
            row.update({k: m.fit.get(k, np.nan) for k in FIT_KEYS if k != "npar" and k in m.fit})
            rows.append(row)
        return pd.DataFrame(rows)

    def correlation_matrix(self, value: str = "r") -> pd.DataFrame:
        """Constructs x constructs matrix of ``value`` (r, se, pvalue, n) from :attr:`correlations`; 1 (r) on the
        diagonal, NaN where not estimated."""
        names = list(self.constructs["construct"])
        m = pd.DataFrame(np.nan, index=names, columns=names, dtype=float)
        for r in self.correlations.itertuples():
            v = getattr(r, value)
            m.loc[r.a, r.b] = m.loc[r.b, r.a] = v
        if value == "r":
            for c in names:
                m.loc[c, c] = 1.0
        return m

    def ave(self) -> pd.Series:
        return self.constructs.set_index("construct")["ave"]

    def status_of(self, construct: str) -> tuple[str, str]:
        """(status, problems) of a construct's measurement."""
        t = self.constructs.set_index("construct")
        if construct not in t.index:
            return "not_validated", "not in the validated measurement model"
        r = t.loc[construct]
        return str(r["status"]), str(r["problems"])

    def fornell_larcker(self) -> pd.DataFrame:
        """Fornell-Larcker (1981) table: latent correlations with sqrt(AVE) on the diagonal, and per construct
        ``passed`` (sqrt(AVE) above every absolute latent correlation estimated for it; NaN when the AVE or every
        correlation is missing) and ``proper`` (its measurement and every correlation used came from proper
        solutions)."""
        names = list(self.constructs["construct"])
        r = self.correlation_matrix("r")
        ave = self.ave().reindex(names).astype(float)
        tab = r.copy()
        for c in names:
            tab.loc[c, c] = math.sqrt(ave[c]) if np.isfinite(ave[c]) and ave[c] >= 0 else np.nan
        status = self.constructs.set_index("construct")["status"]
        passed, proper, maxr = [], [], []
        for c in names:
            others = r.loc[c].drop(c).abs()
            mx = float(others.max()) if others.notna().any() else np.nan
            maxr.append(mx)
            sa = tab.loc[c, c]
            passed.append(bool(sa > mx) if np.isfinite(sa) and np.isfinite(mx) else None)
            used = self.correlations[(self.correlations["a"] == c) | (self.correlations["b"] == c)]
            proper.append(bool(status[c] == "ok" and (used["status"] == "ok").all()))
        tab.insert(0, "construct", names)
        tab["max_abs_r"] = maxr
        tab["passed"] = passed
        tab["proper"] = proper
        return tab.reset_index(drop=True)

    def to_dict(self) -> dict:
        return {"scope": self.scope, "reason": self.reason, "min_ratio": self.min_ratio, "estimator": self.estimator,
                "missing": self.missing, "models": [m.to_dict() for m in self.models],
                "estimates": self.estimates.to_dict(orient="records"),
                "constructs": self.constructs.to_dict(orient="records"),
                "correlations": self.correlations.to_dict(orient="records")}

    @classmethod
    def from_dict(cls, d: dict) -> MeasurementResult:
        def frame(recs, cols):
            df = pd.DataFrame.from_records(recs) if recs else pd.DataFrame(columns=cols)
            return df.fillna(value=np.nan) if len(df) else df
        return cls(d["scope"], d["reason"], float(d["min_ratio"]), d["estimator"], d["missing"],
                   tuple(MeasurementModel.from_dict(m) for m in d["models"]),
                   frame(d["estimates"], ["model", "lhs", "op", "rhs", "est"]),
                   frame(d["constructs"], _CONSTRUCT_COLUMNS), frame(d["correlations"], _CORRELATION_COLUMNS))

    def summary(self) -> str:
        lines = [f"Measurement model ({self.estimator}, missing data: {self.missing}): scope {self.scope}",
                 f"  {self.reason}", ""]
        lines.append(self.fit_table()[["model", "constructs", "n", "npar", "status"]].to_string(index=False))
        return "\n".join(lines)


_CONSTRUCT_COLUMNS = ["construct", "model", "n", "n_items", "cr", "ave", "loading_min", "loading_max", "status",
                      "problems"]
_ORDINAL_COLUMNS = ["ordinal_alpha", "ordinal_omega"]   # WLSMV: vccscale.sem.wlsmv.ordinal_reliability
_CORRELATION_COLUMNS = ["a", "b", "r", "se", "pvalue", "n", "source", "status", "problems"]


# ---------------------------------------------------------------------------------------------------- fitting
def _fit_one(data: pd.DataFrame, syntax: str, items: list[str], estimator: str, missing: str,
             cluster: str | None = None, estimates_only: bool = False):
    """(fit or None, n, npar, status, problems). ``estimates_only`` (a two-construct model, read for one latent
    correlation): ``fit`` is a :class:`vccscale.sem.api.EstimatesOnly` (standardized estimates, warnings, problems;
    no baseline model, test statistics or fit measures) unless the indicators are ordered."""
    from ..sem import fit_cfa
    from ..sem.api import fit_estimates
    from ..sem.model import build_partable

    rows = answered(data, items, missing)
    sub = data.loc[rows, items + ([cluster] if cluster else [])]
    n = int(len(sub))
    try:
        npar = build_partable(syntax, model_type="cfa", meanstructure=missing == "fiml" or None).npar
    except VccscaleError as exc:
        return None, n, 0, "failed", (exc.message,)
    try:
        if estimator == "WLSMV":   # ordered indicators: polychorics with pairwise missing answers
            fit = fit_cfa(sub, syntax, ordered=True, missing="pairwise", cluster=cluster)
        elif estimates_only:
            fit = fit_estimates(sub, syntax, estimator=estimator, missing=missing, model_type="cfa", cluster=cluster,
                                standardized=True)
            probs = fit.problems
            return fit, int(sum(fit.nobs)), fit.npar, ("improper" if probs else "ok"), probs
        else:
            fit = fit_cfa(sub, syntax, estimator=estimator, missing=missing, cluster=cluster)
    except (VccscaleError, np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
        msg = exc.message if isinstance(exc, VccscaleError) else f"{type(exc).__name__}: {exc}"
        return None, n, npar, "failed", (msg,)
    probs = fit.problems
    return fit, int(sum(fit.nobs)), int(fit.fit.get("npar", npar)), ("improper" if probs else "ok"), probs


def _construct_problems(problems: Sequence[str], construct: str, items: Sequence[str]) -> list[str]:
    out = []
    for p in problems:
        if "latent variables is not positive definite" in p or construct in p or any(
                f" {i} " in f" {p} " or f"{i} " in p or f" {i}" in p for i in items):
            out.append(p)
    return out


def _pair_batch(pairs, data, blocks, estimator, missing, cluster=None) -> list[dict]:
    """Latent correlations of ``pairs`` from two-construct CFAs (one joblib task; one BLAS thread, as
    :func:`vccscale.sem.bootstrap`'s workers: small matrices)."""
    from threadpoolctl import threadpool_limits

    from ..sem._linalg import preload

    preload(max(len(blocks[a]) + len(blocks[b]) for a, b in pairs))
    with threadpool_limits(1):
        return [_pair_row(a, b, data, blocks, estimator, missing, cluster) for a, b in pairs]


def _pair_row(a, b, data, blocks, estimator, missing, cluster) -> dict:
    """The latent correlation of constructs ``a`` and ``b`` from their two-construct CFA (a row of the table)."""
    from ..sem.api import EstimatesOnly

    fit, n, npar, status, probs = _fit_one(data, _syntax(blocks, (a, b)), blocks[a] + blocks[b], estimator,
                                           missing, cluster, estimates_only=True)
    r = se = p = np.nan
    if fit is not None:
        e = fit.rows if isinstance(fit, EstimatesOnly) else fit.estimates.to_dict("records")
        row = [x for x in e if x["op"] == "~~" and {x["lhs"], x["rhs"]} == {a, b} and a != b]
        if row:
            r, se, p = (float(row[0][k]) for k in ("std_all", "se", "pvalue"))
    return {"a": a, "b": b, "r": r, "se": se, "pvalue": p, "n": n, "source": "pairwise", "status": status,
            "problems": "; ".join(probs)}


@data_first("blocks", blocks=True)
def fit_measurement(data: pd.DataFrame, blocks: Mapping[str, Sequence[str]], *, estimator: str = "ML",
                    missing: str = "fiml", scope: str = "auto", min_ratio: float = 5.0,
                    groups: Sequence[tuple[str, Sequence[str]]] | None = None, pairwise: bool = True,
                    n_jobs: int = 1, progress: Callable[[int, int, str], None] | None = None,
                    variances: str = "implied", cluster: str | None = None) -> MeasurementResult:
    """Fit the measurement model(s) of ``blocks`` (construct -> item columns of ``data``) at a size the data carry.

    ``data``: one row per respondent (version), item columns already reverse-keyed (e.g.
    :func:`vccscale.clean.scoring.rescored_long`). ``estimator``: ML, MLR or WLSMV (items as ordered indicators,
    pairwise polychorics; ``missing`` then only selects the rows); ``missing``: fiml (lavaan
    missing = "ml") or listwise. ``scope``, ``min_ratio`` and ``groups``: see :func:`plan_measurement`.
    ``pairwise``: estimate the latent correlation of every pair of constructs not in the same model by a
    two-construct CFA (when at least 10 respondents answered both), on ``n_jobs`` processes (joblib, -1: all
    cores) when there are at least :data:`PARALLEL_MIN_PAIRS` pairs (fewer run in this process: starting workers
    would cost more than it saves); results do not depend on it. ``progress(done, total, what)`` is called
    after every model. ``variances``: the CR/AVE convention of :func:`vccscale.validate.measurement_quality`
    (model-implied by default). ``cluster``: a
    column of cluster ids: every model gets cluster-robust standard errors and test (lavaan ``cluster =``; see
    :func:`vccscale.sem.fit_cfa`). See the module docstring for statuses and conventions.
    """
    from .quality import measurement_quality

    blocks = {c: list(v) for c, v in blocks.items()}
    chosen, reason, parts = plan_measurement(data, blocks, scope=scope, min_ratio=min_ratio, missing=missing,
                                             groups=groups)
    home = {c: name for name, cs in parts for c in cs}
    pairs: list[tuple[str, str]] = []
    if pairwise and chosen != "full":
        names = list(blocks)
        ov = _overlap(data, blocks, names)
        pairs = [(a, b) for (a, b), k in ov.items() if home[a] != home[b] and k >= MIN_PAIR_OVERLAP]
    total = len(parts) + len(pairs)
    done = 0
    models: list[MeasurementModel] = []
    est_frames: list[pd.DataFrame] = []
    con_rows: list[dict] = []
    cor_rows: list[dict] = []
    for name, cs in parts:
        syn = _syntax(blocks, cs)
        items = [i for c in cs for i in blocks[c]]
        fit, n, npar, status, probs = _fit_one(data, syn, items, estimator, missing, cluster)
        ratio_note = ()
        if npar and n < min_ratio * npar:
            ratio_note = (f"{n} cases for {npar} free parameters ({n / npar:.1f} per parameter, below the rule of "
                          f"{min_ratio:g})",)
        fm = {k: float(fit.fit[k]) for k in FIT_KEYS if fit is not None and k in fit.fit}
        models.append(MeasurementModel(name, tuple(cs), syn, n, npar, status, tuple(probs) + ratio_note, fm))
        rel = ordrel = None
        if fit is not None:
            est = fit.estimates.copy()
            est.insert(0, "model", name)
            est_frames.append(est)
            try:
                rel = measurement_quality(fit, data.loc[answered(data, items, missing), items],
                                          variances=variances).factors
            except VccscaleError:
                rel = None
            if estimator == "WLSMV":
                from ..sem.wlsmv import ordinal_reliability

                try:
                    ordrel = ordinal_reliability(fit).set_index("factor")
                except (VccscaleError, ValueError, ArithmeticError, np.linalg.LinAlgError):
                    ordrel = None
        for c in cs:
            cp = _construct_problems(probs, c, blocks[c]) if status == "improper" else list(probs)
            cstatus = status if status != "improper" else ("improper" if cp else "ok")
            row = {"construct": c, "model": name, "n": int(answered(data, blocks[c], missing).sum()),
                   "n_items": len(blocks[c]), "cr": np.nan, "ave": np.nan, "loading_min": np.nan,
                   "loading_max": np.nan, "status": cstatus, "problems": "; ".join(cp + list(ratio_note))}
            if fit is not None:
                lo = fit.estimates[(fit.estimates["op"] == "=~") & (fit.estimates["lhs"] == c)]["std_all"]
                row.update(loading_min=float(lo.min()), loading_max=float(lo.max()))
                if rel is not None and c in rel.index:
                    row.update(cr=float(rel.loc[c, "cr"]), ave=float(rel.loc[c, "ave"]))
                if ordrel is not None and c in ordrel.index:
                    row.update(ordinal_alpha=float(ordrel.loc[c, "alpha_ordinal"]),
                               ordinal_omega=float(ordrel.loc[c, "omega_categorical"]))
            con_rows.append(row)
        if fit is not None and len(cs) > 1:
            e = fit.estimates
            cov = e[(e["op"] == "~~") & (e["lhs"] != e["rhs"]) & e["lhs"].isin(cs) & e["rhs"].isin(cs)]
            for r in cov.itertuples():
                cor_rows.append({"a": r.lhs, "b": r.rhs, "r": float(r.std_all), "se": float(r.se),
                                 "pvalue": float(r.pvalue), "n": n, "source": name,
                                 "status": "ok" if status == "ok" else status,
                                 "problems": "; ".join(probs)})
        elif fit is None and len(cs) > 1:
            for i, a in enumerate(cs):
                for b in cs[i + 1:]:
                    cor_rows.append({"a": a, "b": b, "r": np.nan, "se": np.nan, "pvalue": np.nan, "n": n,
                                     "source": name, "status": "failed", "problems": "; ".join(probs)})
        done += 1
        if progress:
            progress(done, total, name)
    def batches():
        for k in range(0, len(pairs), PAIR_BATCH):
            chunk = pairs[k:k + PAIR_BATCH]
            cols = list(dict.fromkeys([i for a, b in chunk for i in blocks[a] + blocks[b]]
                                      + ([cluster] if cluster else [])))
            yield chunk, data[cols], {c: blocks[c] for ab in chunk for c in ab}, estimator, missing, cluster

    if pairs:
        for rows in run_pair_batches(_pair_batch, batches(), len(pairs), n_jobs):
            cor_rows += rows
            done += len(rows)
            if progress:
                progress(done, total, "two-construct models")
    estimates = pd.concat(est_frames, ignore_index=True) if est_frames else pd.DataFrame(
        columns=["model", "lhs", "op", "rhs", "est"])
    constructs = pd.DataFrame(con_rows,
                              columns=_CONSTRUCT_COLUMNS + (_ORDINAL_COLUMNS if estimator == "WLSMV" else []))
    order = {c: i for i, c in enumerate(blocks)}
    cors = pd.DataFrame(cor_rows, columns=_CORRELATION_COLUMNS)
    if len(cors):
        swap = cors["a"].map(order) > cors["b"].map(order)
        cors.loc[swap, ["a", "b"]] = cors.loc[swap, ["b", "a"]].to_numpy()
        cors = cors.sort_values(["a", "b"], key=lambda s: s.map(order), kind="mergesort").reset_index(drop=True)
    return MeasurementResult(chosen, reason, float(min_ratio), estimator,
                             "pairwise" if estimator == "WLSMV" else missing, tuple(models), estimates,
                             constructs, cors)
