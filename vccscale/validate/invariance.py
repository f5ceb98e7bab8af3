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

from .._args import data_first

LEVELS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}
FIT_KEYS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic")
ROBUST_KEYS = ("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor", "cfi.robust", "tli.robust",
               "rmsea.robust")


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
        """One row per level, the fit measures under lavaan's names (``chisq.scaled``, ``cfi.robust``, ...)."""
        keys = FIT_KEYS + (ROBUST_KEYS if self.estimator == "MLR" else ())
        return pd.DataFrame({lvl: {k: f.fit.get(k) for k in keys} for lvl, f in self.fits.items()}).T

    def to_frame(self) -> pd.DataFrame:
        return self.tests

    def to_dict(self) -> dict:
        """JSON form (``vccscale invariance --format json``): per level the fit measures with snake_case keys
        (``chisq_scaled``; :func:`vccscale.jsonsafe.snake_keys`), ``tests``, the groups and notes."""
        from ..jsonsafe import snake_keys

        out: dict[str, Any] = {lvl: snake_keys(row)
                               for lvl, row in self.fit_table().to_dict(orient="index").items()}
        out["tests"] = self.tests.to_dict(orient="records")
        out.update(group=self.group, groups=[str(g) for g in self.groups], estimator=self.estimator, n=self.n,
                   notes=list(self.notes))
        first = next(iter(self.fits.values()), None)
        if first is not None and getattr(first, "cluster", None) is not None:  # cluster-robust fits
            out.update(cluster=first.cluster, n_clusters=int(sum(first.n_clusters)),
                       n_clusters_by_group=[int(c) for c in first.n_clusters])
        return out

    def summary(self) -> str:
        first = next(iter(self.fits.values()), None)
        cl = (f", {sum(first.n_clusters)} clusters [{first.cluster}] (cluster-robust)"
              if first is not None and getattr(first, "cluster", None) is not None else "")
        return (f"Measurement invariance across {self.group} ({', '.join(map(str, self.groups))}), "
                f"{self.estimator}, n = {self.n}{cl}\n" + self.fit_table().round(3).to_string() + "\n\n"
                + self.tests.round(4).to_string(index=False))


def _finite(*vals) -> bool:
    try:
        return all(v is not None and np.isfinite(float(v)) for v in vals)
    except (TypeError, ValueError):
        return False


def difference_test(constrained: Any, free: Any, estimator: str = "ML", n_groups: int = 1) -> dict[str, Any]:
    """The chi-square difference between two nested fits (``constrained`` has more df):
    :func:`vccscale.sem.compare.chisq_difference` (standard for ML, Satorra-Bentler 2001 for MLR, as
    lavaan::lavTestLRT; for MLR the strictly positive Satorra-Bentler 2010 test when the 2001 correction is not
    positive, with a note) plus lavaan's RMSEA of the difference (ML) and the changes in CFI and RMSEA.

    ``delta_cfi`` / ``delta_rmsea`` use the robust indices for MLR (``cfi.robust``, ``rmsea.robust``; with
    missing="fiml" lavaan's FIML-corrected ones). Where a robust index is NaN in either fit (it could not be
    computed; the fit's warnings say why) the scaled one (``cfi.scaled`` / ``rmsea.scaled``) is used instead and
    ``note`` says so; ``delta_cfi_index`` names the CFI used. A delta CFI that is still NaN means the delta-CFI
    rule cannot be applied: callers report the step as not tested (``note`` gives the reason), never as failed.
    """
    from ..sem.compare import chisq_difference

    f0, f1 = constrained.fit, free.fit
    dd = f0["df"] - f1["df"]
    if dd <= 0:
        raise ValueError("the constrained model must have more degrees of freedom")
    notes = []
    d = chisq_difference(constrained, free, estimator=estimator)
    if estimator == "MLR" and not np.isfinite(d["chisq_diff"]):
        # the 2001 correction is not positive: Satorra & Bentler's (2010) strictly positive test (lavaan's
        # lavTestLRT(method = "satorra.bentler.2010"), as lavaan's warning advises)
        d2 = chisq_difference(constrained, free, "satorra.bentler.2010")
        if np.isfinite(d2["chisq_diff"]):
            d = d2
            notes.append("the Satorra-Bentler (2001) scaling correction of the difference is not positive: the "
                         "difference test is Satorra & Bentler's (2010) strictly positive version")
    if estimator == "MLR":
        rmsea_d = float("nan")
        cfi_key, rmsea_key = "cfi.robust", "rmsea.robust"
        if not _finite(f0.get(cfi_key), f1.get(cfi_key)) and _finite(f0.get("cfi.scaled"), f1.get("cfi.scaled")):
            cfi_key = "cfi.scaled"
            notes.append("the robust CFI is not available (see the fits' warnings): delta CFI uses the scaled CFI "
                         "(cfi.scaled)")
        if not _finite(f0.get(rmsea_key), f1.get(rmsea_key)) and _finite(f0.get("rmsea.scaled"),
                                                                          f1.get("rmsea.scaled")):
            rmsea_key = "rmsea.scaled"
            notes.append("the robust RMSEA is not available: delta RMSEA uses the scaled RMSEA (rmsea.scaled)")
    else:
        n = constrained.nobs if np.isscalar(constrained.nobs) else sum(constrained.nobs)
        rmsea_d = float(np.sqrt(n_groups) * np.sqrt(max(0.0, (d["chisq_diff"] - dd) / (dd * n))))
        cfi_key, rmsea_key = "cfi", "rmsea"
    f0c, f1c = f0.get(cfi_key, float("nan")), f1.get(cfi_key, float("nan"))
    dcfi = float(f0c - f1c) if _finite(f0c, f1c) else float("nan")
    if not np.isfinite(dcfi):
        notes.append(f"delta CFI not available ({cfi_key} is NaN in "
                     f"{'both models' if not _finite(f0c) and not _finite(f1c) else 'one model'}): the delta-CFI "
                     "rule cannot be applied")
    f0r, f1r = f0.get(rmsea_key, float("nan")), f1.get(rmsea_key, float("nan"))
    drmsea = float(f0r - f1r) if _finite(f0r, f1r) else float("nan")
    return {**d, "rmsea_d": rmsea_d, "delta_cfi": dcfi, "delta_rmsea": drmsea, "delta_cfi_index": cfi_key,
            "note": "; ".join(notes)}


@data_first("model")
def invariance(data: pd.DataFrame, model: str, group: str, estimator: str = "ML",
               levels: tuple[str, ...] = ("configural", "metric", "scalar", "strict"),
               missing: str = "listwise", cluster: str | None = None) -> InvarianceResult:
    """Fit the invariance sequence and test each step against the previous one (see the module docstring).
    ``missing="fiml"`` fits every model by full-information ML (lavaan missing = "ml"). ``cluster``: a cluster
    column (lavaan ``cluster =``, clusters nested in the groups): cluster-robust fits (needs ``estimator="MLR"``;
    the difference tests are Satorra-Bentler 2001 with the cluster-robust scaling factors)."""
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
    if cluster is not None and str(estimator).upper() != "MLR":
        raise ModelError("invariance with a cluster column needs estimator='MLR' (the difference tests are then "
                         "Satorra-Bentler 2001 with the cluster-robust scaling factors)")
    fits = {lv: fit_cfa(data, model, estimator=estimator, group=group, group_equal=list(LEVELS[lv]), missing=missing,
                        cluster=cluster)
            for lv in levels}
    rows = []
    for prev, cur in zip(levels, levels[1:]):
        rows.append({"compare": f"{cur} vs {prev}", **difference_test(fits[cur], fits[prev], estimator,
                                                                      len(groups))})
    first = fits[levels[0]]
    n = int(np.sum(first.nobs))
    notes = tuple(dict.fromkeys(f"{r['compare']}: {r['note']}" for r in rows if r["note"]))
    return InvarianceResult(group=group, groups=groups, estimator=estimator, fits=fits,
                            tests=pd.DataFrame(rows, columns=["compare", "chisq_diff", "df_diff", "pvalue",
                                                              "rmsea_d", "delta_cfi", "delta_rmsea"]), n=n,
                            notes=notes)


@dataclass(frozen=True)
class InvarianceByConstruct:
    """:func:`invariance_by_construct`: the invariance sequence of one joint model (``scope`` full) or of each
    construct (``scope`` construct), and the reason. ``table``: one row per model and level with the fit, the
    comparison with the previous level and whether the step holds by the delta-CFI rule."""

    group: str
    groups: tuple[str, ...]
    scope: str
    reason: str
    estimator: str
    missing: str
    delta_cfi_rule: float
    table: pd.DataFrame
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def reached(self) -> pd.DataFrame:
        """Per model: the highest level whose every step so far holds by the delta-CFI rule (a step that could not
        be tested, status "not tested", ends the sequence without counting as held)."""
        rows = []
        for m, t in self.table.groupby("model", sort=False):
            level = None
            for r in t.itertuples():
                if r.status == "failed":
                    break
                if r.level == "configural":
                    level = "configural" if r.status == "ok" else None
                elif level is not None and bool(r.holds):
                    level = r.level
                else:
                    break
            rows.append({"model": m, "reached": level or "none"})
        return pd.DataFrame(rows)

    def headline(self) -> dict:
        reached = self.reached()["reached"].value_counts().to_dict()
        return {"group": self.group, "groups": list(self.groups), "scope": self.scope, "models":
                int(self.table["model"].nunique()), "reached": {str(k): int(v) for k, v in reached.items()},
                "estimator": self.estimator, "missing": self.missing}

    def to_dict(self) -> dict:
        return {"group": self.group, "groups": list(self.groups), "scope": self.scope, "reason": self.reason,
                "estimator": self.estimator, "missing": self.missing, "delta_cfi_rule": self.delta_cfi_rule,
                "table": self.table.to_dict(orient="records"), "reached": self.reached().to_dict(orient="records"),
                "notes": list(self.notes)}


@data_first("blocks", blocks=True)
def invariance_by_construct(data: pd.DataFrame, blocks: dict[str, list[str]], group: str, *, estimator: str = "ML",
                            missing: str = "listwise", levels: list[str] | tuple[str, ...] = ("configural", "metric",
                                                                                               "scalar"),
                            scope: str = "auto", min_ratio: float = 5.0, delta_cfi: float = 0.01,
                            progress: Any = None, cluster: str | None = None) -> InvarianceByConstruct:
    """Measurement invariance of an instrument's constructs across ``group`` at a size the data carry.

    Constructs answered in every group are tested (others are listed in the notes). ``scope="full"``: one
    multi-group model of all of them (:func:`invariance`); ``"construct"``: one sequence per construct;
    ``"auto"``: full when its configural model has at least ``min_ratio`` cases per free parameter and every pair
    of constructs shares respondents, else construct. A step holds when CFI drops by no more than ``delta_cfi``
    (Cheung & Rensvold 2002); the chi-square difference (Satorra-Bentler for MLR) is reported beside it, and a
    model with an improper solution (:attr:`vccscale.sem.FitResult.problems`) is flagged, never counted as
    holding.

    Why this is not :func:`invariance_workflow` (the ``vccscale invariance`` command): the pipeline decides each
    step by the delta-CFI rule, not by the chi-square difference test the workflow uses to start its partial
    search (with the hundreds of respondents of a study the chi-square test rejects trivial differences); it fits
    one sequence per construct when a joint model is too large for the data; it records failed and improper
    models as statuses instead of stopping; and it reports the levels reached, without a partial-invariance search
    or latent means (latent mean hypotheses are tested by :mod:`vccscale.models.hypotheses`, which searches partial
    metric and then partial scalar invariance). Routing it through the workflow would change its decisions. The
    fits and the difference tests are the same functions (:func:`vccscale.sem.fit_cfa`, :func:`difference_test`).

    ``cluster``: a column of cluster ids: every model gets cluster-robust standard errors and the scaled test
    (lavaan ``cluster =``; needs ``estimator="MLR"`` with FIML), so the difference tests are Satorra-Bentler's.

    ``estimator="WLSMV"``: items as ordered indicators (:func:`vccscale.sem.wlsmv.fit_ordinal`, pairwise
    polychorics, respondents with at least one answer); the levels are those of :func:`ordinal_invariance`
    (configural, thresholds, thresholds_loadings; ``levels`` is not used), the fit columns hold the scaled test,
    CFI and RMSEA, the difference test is the scaled-shifted one, and ``cluster`` is not used (noted)."""
    from ..errors import VccscaleError
    from ..sem import fit_cfa
    from ..sem.wlsmv import fit_ordinal
    from .measurement import answered, cfa_npar

    if group not in data.columns:
        from ..errors import DataError

        raise DataError(f"group column {group!r} is not in the data", column=group)
    groups = tuple(str(g) for g in pd.unique(data[group].dropna()))
    gcol = data[group].astype(str)
    notes: list[str] = []
    measured = {}
    for c, its in blocks.items():
        per = {g: int(answered(data[gcol == g], its).sum()) for g in groups}
        short = [g for g, n in per.items() if n < 10]
        if short:
            notes.append(f"{c}: not measured in every {group} (fewer than 10 respondents in {', '.join(short)})")
        else:
            measured[c] = its
    G = len(groups)
    ms = missing == "fiml"
    cols = [i for its in measured.values() for i in its]
    n_all = int(answered(data, cols, missing).sum()) if cols else 0
    q_all = G * cfa_npar([len(v) for v in measured.values()], True) if measured else 0
    names = list(measured)
    disjoint = any(not (answered(data, measured[a]) & answered(data, measured[b])).any()
                   for i, a in enumerate(names) for b in names[i + 1:])
    full_ok = bool(measured) and not disjoint and n_all >= min_ratio * q_all
    if scope == "full" or (scope == "auto" and full_ok and len(names) > 1):
        chosen = "full"
        parts = [("all constructs", names)]
        reason = (f"one multi-group model of all {len(names)} constructs: {n_all} cases for {q_all} free parameters "
                  "of the configural model" if full_ok else
                  "one multi-group model of all constructs, as the study file asks (invariance.scope: full)")
    else:
        chosen = "construct"
        parts = [(c, [c]) for c in names]
        reason = ("one invariance sequence per construct, as the study file asks (invariance.scope: construct)"
                  if scope == "construct" else
                  (f"a multi-group model of all {len(names)} constructs would have {q_all} free parameters for "
                   f"{n_all} cases (the rule asks for {min_ratio:g} per parameter)" if not disjoint else
                   "some constructs have no respondent in common") + "; so one invariance sequence per construct")
    del ms
    ordinal = str(estimator).upper() == "WLSMV"
    seq = [name for name, _ in ORDINAL_LEVELS] if ordinal else list(levels)
    if ordinal:
        notes.append("WLSMV: items as ordered indicators (pairwise polychorics); the levels are Wu & Estabrook's "
                     "(2016) as lavaan fits them: configural, equal thresholds, equal thresholds and loadings "
                     "(invariance.levels applies to ML/MLR); each step holds when the scaled CFI drops by at most "
                     f"{delta_cfi:g}, with the scaled-shifted difference test (Satorra 2000) beside it; not "
                     "cluster-adjusted")
    rows = []
    for k, (mname, cs) in enumerate(parts, 1):
        syntax = "\n".join(f"{c} =~ {' + '.join(measured[c])}" for c in cs) + "\n"
        its = [i for c in cs for i in measured[c]]
        sub = data.loc[answered(data, its, "fiml" if ordinal else missing) & data[group].notna(),
                       its + [group] + ([cluster] if cluster and not ordinal else [])]
        if ordinal:
            sub, recoded = collapse_empty_categories(sub, its, group)
            if recoded:
                notes.append(f"{mname}: categories empty in a {group} collapsed into their neighbour (in every "
                             f"group) so that the thresholds can be compared: " + "; ".join(recoded))
        prev = None
        for lv in seq:
            row: dict[str, Any] = {"model": mname, "constructs": ", ".join(cs), "level": lv, "n": len(sub)}
            try:
                if ordinal:
                    fit = fit_ordinal(sub, syntax, its, estimator="WLSMV", group=group,
                                      group_equal=dict(ORDINAL_LEVELS)[lv], missing="pairwise")
                else:
                    fit = fit_cfa(sub, syntax, estimator=estimator, group=group, group_equal=list(LEVELS[lv]),
                                  missing=missing, cluster=cluster)
            except (VccscaleError, np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
                msg = exc.message if isinstance(exc, VccscaleError) else str(exc)
                row.update(status="failed", problems=msg, holds=False)
                rows.append(row)
                break
            rob = estimator == "MLR"
            f = fit.fit
            if ordinal:   # the scaled-shifted test and the scaled CFI/RMSEA (lavaan's WLSMV columns)
                row.update(chisq=f.get("chisq.scaled"), df=f.get("df.scaled", f.get("df")),
                           pvalue=f.get("pvalue.scaled"), cfi=f.get("cfi.scaled"), rmsea=f.get("rmsea.scaled"))
            else:
                row.update(chisq=f.get("chisq.scaled" if rob else "chisq"), df=f.get("df"),
                           pvalue=f.get("pvalue.scaled" if rob else "pvalue"),
                           cfi=f.get("cfi.robust" if rob else "cfi"), rmsea=f.get("rmsea.robust" if rob else "rmsea"))
            row.update(srmr=f.get("srmr"), status="improper" if fit.problems else "ok",
                       problems="; ".join(fit.problems))
            if prev is not None:
                d = (_ordinal_difference(fit, prev, strict=False) if ordinal
                     else difference_test(fit, prev, estimator, G))
                cfi_ok = bool(np.isfinite(d["delta_cfi"]) and d["delta_cfi"] >= -delta_cfi)
                row.update(compare=f"{lv} vs {seq[seq.index(lv) - 1]}", chisq_diff=d["chisq_diff"],
                           df_diff=d["df_diff"], pvalue_diff=d["pvalue"], delta_cfi=d["delta_cfi"],
                           delta_rmsea=d["delta_rmsea"], holds=bool(cfi_ok and row["status"] == "ok"))
                if d["note"]:
                    row["problems"] = "; ".join(x for x in (row["problems"], d["note"]) if x)
                if not np.isfinite(d["delta_cfi"]) and row["status"] == "ok":
                    # the rule cannot be applied: the step is not tested (not "does not hold"); the sequence stops
                    row.update(status="not tested", holds=None)
            else:
                row["holds"] = row["status"] == "ok"
            rows.append(row)
            prev = fit
        if progress:
            progress(k, len(parts), mname)
    cols_out = ["model", "constructs", "level", "n", "chisq", "df", "pvalue", "cfi", "rmsea", "srmr", "compare",
                "chisq_diff", "df_diff", "pvalue_diff", "delta_cfi", "delta_rmsea", "holds", "status", "problems"]
    table = pd.DataFrame(rows).reindex(columns=cols_out)
    return InvarianceByConstruct(group, groups, chosen, reason, estimator, "pairwise" if ordinal else missing,
                                 float(delta_cfi), table,
                                 tuple(notes))


def collapse_empty_categories(data: pd.DataFrame, items: list[str], group: str) -> tuple[pd.DataFrame, list[str]]:
    """Recode ordered ``items`` so that every category is chosen in every ``group``: a multi-group model with
    ordered indicators needs the same thresholds in every group (lavaan stops with "some categories of variable
    ... are empty in group"; the usual fix is to collapse categories). A category empty in some group is merged
    into its neighbour towards the middle of the scale (the lowest into the next higher, the highest into the next
    lower), in every group, until none is empty. Returns the recoded copy and one note per recoded item
    (``item: 1 -> 2, 7 -> 6``)."""
    out = data.copy()
    notes = []
    g = out[group].astype(str)
    for it in items:
        recode: dict[float, float] = {}
        while True:
            x = out[it]
            cats = sorted(x.dropna().unique())
            if len(cats) <= 2:
                break
            counts = pd.crosstab(x, g).reindex(index=cats, fill_value=0)
            empty = [c for c in cats if (counts.loc[c] == 0).any()]
            if not empty:
                break
            mid = (cats[0] + cats[-1]) / 2
            c = max(empty, key=lambda v: abs(v - mid))   # outermost first
            k = cats.index(c)
            to = cats[k + 1] if (c < mid or k == 0) and k + 1 < len(cats) else cats[k - 1]
            out.loc[x == c, it] = to
            recode = {a: (to if b == c else b) for a, b in recode.items()}
            recode[c] = to
        if recode:
            notes.append(f"{it}: " + ", ".join(f"{a:g} -> {b:g}" for a, b in sorted(recode.items())))
    return out, notes


def _ordinal_difference(constrained: Any, free: Any, *, strict: bool = True) -> dict[str, Any]:
    """The columns of :func:`difference_test` for two nested WLSMV fits: the scaled-shifted difference test
    (:func:`vccscale.sem.wlsmv.ordinal_difference_test`) and the changes of the scaled CFI and RMSEA (the one
    comparison of :func:`ordinal_invariance` and of :func:`invariance_by_construct` with WLSMV). ``strict=False``:
    a test that cannot be computed gives NaN and a note instead of the error."""
    from ..sem.wlsmv import ordinal_difference_test

    fc, ff = constrained.fit, free.fit
    out = {"note": "", "delta_cfi": fc["cfi.scaled"] - ff["cfi.scaled"],
           "delta_rmsea": fc["rmsea.scaled"] - ff["rmsea.scaled"]}
    try:
        dt = ordinal_difference_test(constrained, free)
    except (np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
        if strict:
            raise
        out.update(chisq_diff=np.nan, df_diff=np.nan, pvalue=np.nan,
                   note=f"scaled-shifted difference test not computed ({exc})")
        return out
    out.update(chisq_diff=dt["chisq_diff"], df_diff=dt["df_diff"], pvalue=dt["pvalue"])
    return out


# ---------------------------------------------------------------------------------------------------- workflow
@dataclass(frozen=True)
class InvarianceWorkflow:
    """:func:`invariance_workflow`: ``invariance`` (the configural -> metric -> scalar -> strict sequence,
    :class:`InvarianceResult`), ``partial_alpha``, ``scalar_rejected`` (the scalar step's chi-square difference
    p-value below ``partial_alpha``), ``partial`` (the partial scalar search,
    :class:`vccscale.sem.score.PartialInvarianceResult`, None when scalar invariance was not rejected),
    ``final_fit`` (the (partially) scalar-invariant model) and ``latent_means``
    (:func:`vccscale.sem.score.latent_means` of it: group 2.. against group 1)."""

    invariance: InvarianceResult
    partial_alpha: float
    scalar_rejected: bool
    partial: Any
    final_fit: Any
    latent_means: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The tests of the sequence (one row per step), as :meth:`InvarianceResult.to_frame`."""
        return self.invariance.to_frame()

    def to_dict(self) -> dict:
        """JSON form (``vccscale invariance --format json``): :meth:`InvarianceResult.to_dict`, plus
        ``partial_scalar`` ({freed, stop_reason, group_partial}) when scalar invariance was rejected, and
        ``latent_means`` (records)."""
        out = self.invariance.to_dict()
        if self.partial is not None:
            out["partial_scalar"] = {"freed": self.partial.freed.to_dict(orient="records"),
                                     "stop_reason": self.partial.stop_reason,
                                     "group_partial": list(self.partial.group_partial)}
        out["latent_means"] = self.latent_means.to_dict(orient="records")
        return out

    def summary(self) -> str:
        lines = [self.invariance.summary()]
        if self.partial is not None:
            lines.append("\npartial scalar invariance: freed " + (", ".join(self.partial.group_partial) or "nothing")
                         + f" ({self.partial.stop_reason})")
        lines.append("\nlatent means (first group = 0):\n" + self.latent_means.round(3).to_string(index=False))
        return "\n".join(lines)


@data_first("model")
def invariance_workflow(data: pd.DataFrame, model: str, group: str, *, estimator: str = "ML",
                        missing: str = "listwise", partial_alpha: float = 0.05,
                        levels: tuple[str, ...] = ("configural", "metric", "scalar", "strict"),
                        cluster: str | None = None) -> InvarianceWorkflow:
    """The invariance workflow of ``vccscale invariance``, one function: the sequence :func:`invariance` over
    ``levels`` (must include "scalar"); if the scalar step's chi-square difference test (Satorra-Bentler 2001 for
    MLR) rejects at ``partial_alpha``, the forward partial scalar invariance search
    (:func:`vccscale.sem.score.partial_invariance`: score tests of the intercept constraints, Bonferroni, at
    ``partial_alpha``); then the latent means (:func:`vccscale.sem.score.latent_means`) in the (partially)
    scalar-invariant model. ``cluster``: cluster-robust fits throughout (see :func:`invariance`).

    Other workflows deliberately differ: the pipeline's invariance stage (:func:`invariance_by_construct`) decides
    each step by the delta-CFI rule (Cheung & Rensvold 2002) on models sized to the data and does not search for
    partial invariance; the hypotheses about latent means (:mod:`vccscale.models.hypotheses`) search partial
    metric, then partial scalar invariance before comparing means.
    """
    from ..errors import ModelError
    from ..sem.score import latent_means, partial_invariance

    if "scalar" not in levels:
        raise ModelError("invariance_workflow needs the scalar level (latent means are compared in the scalar "
                         "model)")
    res = invariance(data, model, group, estimator=estimator, levels=levels, missing=missing, cluster=cluster)
    scalar = next(t for t in res.tests.to_dict(orient="records") if t["compare"].startswith("scalar"))
    final = res.fits["scalar"]
    rejected = bool(scalar["pvalue"] < partial_alpha)
    part = None
    if rejected:
        part = partial_invariance(data, model, group, level="scalar", alpha=partial_alpha, estimator=estimator,
                                  missing=missing, cluster=cluster)
        final = part.fit
    return InvarianceWorkflow(res, float(partial_alpha), rejected, part, final, latent_means(final))


#: Chen (2007): a drop of CFI of more than .01 (and a rise of RMSEA of more than .015) flags non-invariance
ORDINAL_DELTA_CFI = -0.01

ORDINAL_LEVELS = (("configural", ()), ("thresholds", ("thresholds",)),
                  ("thresholds_loadings", ("thresholds", "loadings")))


def ordinal_invariance(data: pd.DataFrame, model: str, group: str, *, ordered=True,
                       estimator: str = "WLSMV", alpha: float = 0.05) -> dict[str, Any]:
    """Measurement invariance of ordered indicators across ``group``: configural, equal thresholds, equal
    thresholds and loadings (Wu & Estabrook's 2016 sequence as lavaan fits it: equal thresholds free the scale
    factors and latent means of groups 2..), each by WLSMV (:func:`vccscale.sem.wlsmv.fit_ordinal`, lavaan parity
    per model). Each level is compared with the previous one by the scaled-shifted chi-square difference test
    (:func:`vccscale.sem.wlsmv.ordinal_difference_test`, lavaan's lavTestLRT for WLSMV) and by the change of the
    scaled CFI and RMSEA; a level is held when the scaled CFI drops by at most .01 (Chen 2007: the rule the
    pipeline uses for invariance), and ``rejected_by_test`` says whether the difference test rejects it at
    ``alpha``.

    R: ``lavaan::cfa(model, ordered = TRUE, estimator = "WLSMV", group = , group.equal = )`` per level
    (tests/reference/ordinal_sem/wlsmv_reference.R).
    """
    from ..sem.wlsmv import fit_ordinal

    fits, rows = {}, []
    prev = None
    for name, equal in ORDINAL_LEVELS:
        f = fit_ordinal(data, model, ordered, estimator=estimator, group=group, group_equal=equal)
        fits[name] = f
        fm = f.fit
        row = {"level": name, "npar": int(fm["npar"]), "df": fm["df"], "chisq": fm["chisq"],
               "chisq_scaled": fm["chisq.scaled"], "cfi_scaled": fm["cfi.scaled"], "tli_scaled": fm["tli.scaled"],
               "rmsea_scaled": fm["rmsea.scaled"], "srmr": fm["srmr"], "improper": list(f.warnings)}
        if prev is not None:
            dt = _ordinal_difference(f, fits[prev])
            dcfi = dt["delta_cfi"]
            row.update(compare=f"{name} vs {prev}", delta_cfi_scaled=dcfi, delta_rmsea_scaled=dt["delta_rmsea"],
                       chisq_diff_scaled=dt["chisq_diff"], df_diff=dt["df_diff"], pvalue=dt["pvalue"],
                       rejected_by_test=bool(dt["pvalue"] < alpha), holds=bool(dcfi >= ORDINAL_DELTA_CFI))
        rows.append(row)
        prev = name
    held = "configural"
    for r in rows[1:]:
        if not r["holds"]:
            break
        held = r["level"]
    return {"estimator": estimator, "group": group, "groups": [str(g) for g in fits["configural"].group_labels],
            "nobs": list(fits["configural"].nobs), "levels": rows, "highest_level_held": held,
            "rule": f"scaled CFI drop of at most {abs(ORDINAL_DELTA_CFI):g} per step (Chen 2007); the scaled-shifted "
                    f"difference test (Satorra 2000, lavTestLRT) is reported with rejected_by_test at {alpha:g}",
            "fits": fits}
