"""Hypothesis tests: ``test_hypotheses(study, data, registry) -> list[HypothesisResult]``.

Each chosen hypothesis is planned by :func:`vccscale.models.library.plan_hypothesis` and tested on the stacked
(long) data: one row per respondent version, item-id columns, a ``perspective`` column (``Dataset.to_long()``
after reverse-keying). Components and their evidence:

- ``path`` / ``covariance``: the labelled coefficient of the generated model (ML or MLR standard errors);
- ``indirect``: the ``:=`` product of the labelled paths with the engine's delta-method CI (bootstrap CIs come
  from :mod:`vccscale.models.mediation`);
- ``nested`` (relations of sign "0", e.g. direct effects under full mediation, cross-practice paths): the model
  with those paths fixed to 0 against the model with them free, chi-square difference
  (:func:`vccscale.validate.invariance.difference_test`; Satorra-Bentler scaled for MLR), plus AIC and BIC of
  both on lavaan's scale;
- ``multigroup`` (group_moderation): multi-group model (loadings equal: metric invariance) with the path equal
  across groups vs free, chi-square difference; the direction stated (``customer > provider``) is checked on
  the free estimates;
- ``invariance``: configural -> metric -> scalar (up to the level asked) by the group column; holds when no step
  lowers CFI by more than .01 (chi-square differences reported);
- ``distinct``: one-factor vs k-factor CFA (chi-square difference) and HTMT (< .85 for every pair);
- ``group_difference``: the construct's measurement model fitted in every group of the group column (``side`` is
  the ``perspective`` column; groups in order of first appearance; an expectation "A > B" restricts the data to
  groups A and B). Scalar invariance is established first with
  :func:`vccscale.sem.score.partial_invariance` at alpha: a partial *metric* search (loadings) and then a partial
  *scalar* search (intercepts, with the loadings freed before); each level holds when the final model's
  chi-square difference to the previous level is not significant, or when no single constraint's score test is
  significant at the Bonferroni level and CFI drops by at most .01. Freed loadings / intercepts are listed in the
  comparison and the reason. Every factor needs at least two items whose loading and intercept are both still
  equal (the marker's fixed loading counts as equal); otherwise, or when a level cannot be reached, the relation
  is reported not tested with that reason and no latent means are compared. Then
  :func:`vccscale.sem.score.latent_means` on the (partial) scalar model: the parameter is the latent mean
  difference in the marker's metric (second group minus first, or oriented as the expectation: est = mean(A) -
  mean(B) for "A > B"), its ML/MLR standard error, Wald CI and p (plus Cohen's d on the pooled latent SD). "A > B"
  is a directional part of sign "+"; "equal ..." a null part; no stated direction a two-sided part (with more than
  two groups: means equal vs free, chi-square difference).
- ``congruence``: polynomial regression with response surface analysis (:func:`vccscale.models.rsa.rsa`) of the
  scale score of ``to`` on the scale scores of X and Y. Scale scores (:func:`vccscale.models.library.score_blocks`):
  the mean of a construct's reflective items in the data when at least half of them are answered (as
  :func:`vccscale.clean.scoring.score_scales`); formative composites (construct-map 5.1) the unit-weighted mean of
  their sub-activity scores (missing when one is missing). X and Y are centred at the midpoint of the scale of
  their items (the registry scale's label codes, min + max over 2; 1..7 when the registry has no scale for an
  item). A 0/1 outcome is fitted by logistic regression (``family="binomial"``). When X and Y are the same
  construct (provider vs customer ratings), the rows are paired by dyad
  (:func:`vccscale.models.dyadic.pair_dyads` on ``relationship_id`` or ``invite_dyad_id``; several respondents of
  one side averaged): X = the provider's score, Y = the customer's score, Z = the outcome score of the customer's
  row. Every expectation on a surface parameter (``a1: "> 0"``) is one part: "> 0" / "< 0" directional (two-sided
  p of the t (gaussian) or z (binomial) test if the estimate has the stated sign, else 1), "= 0" a null part;
  parameters carry est, se, the Wald CI est +- z(.975) se and p.
- ``nesting``: ICC(1) of every construct's scale score in every level's id column (organisation:
  ``organisation_id`` / ``invite_organisation_id``; network: ``invite_network_id``; dyad: ``relationship_id`` /
  ``invite_dyad_id``) from the one-way ANOVA (:func:`vccscale.models.multilevel.icc`); each is a directional part
  (p of the F test if ICC(1) > 0, else 1). ICC(2) and the F test are reported with it.

Decision rule (alpha two-sided, default .05, plus the hypothesised sign). A component whose support needs a
rejection (sign "+", "-", "?"; a stated group difference; distinctness) gets p = its two-sided p if the estimate
has the hypothesised sign (any sign for "?"), else p = 1. The hypothesis-level p is the largest of these
(intersection-union: every part must be significant), and it is the p adjusted across the hypotheses of the
study (Holm and Benjamini-Hochberg are both reported; ``models.adjust`` picks the one that decides).
Components whose null is the hypothesis (sign "0" nested comparisons, equal paths, invariance) hold when not
rejected at alpha (unadjusted: adjusting would make them easier to "support"); a hypothesis made of such parts
only has p = the smallest of their p-values and no adjusted p.

- supported: adjusted hypothesis-level p < alpha (every directional part significant in its direction), every
  null part holds, and every relation was tested;
- partial: some but not all directional parts significant; or all significant but a null part is rejected or
  some relations are not tested (the reason lists them);
- not_supported: no directional part significant in its direction (or, without directional parts, a null part
  rejected);
- not_tested: nothing of the hypothesis could be tested (the reason says what it needs).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import VccscaleError
from ..registry import Registry
from .library import (
    DYAD_REASON,
    LEVEL_COLUMNS,
    Component,
    HypothesisPlan,
    ModelSpec,
    build_model,
    dyad_column,
    level_column,
    measurement_lines,
    plan_hypothesis,
    score_blocks,
    select_hypotheses,
)

__all__ = ["DECISIONS", "HypothesisResult", "p_adjust", "results_frame", "test_hypotheses"]

DECISIONS = ("supported", "not_supported", "partial", "not_tested")
HTMT_CUTOFF = 0.85
DELTA_CFI = -0.01
MIN_ANSWERED = 0.5   # share of a scale's items a respondent must answer for a scale score (as clean.scoring)
DEFAULT_SCALE = (1.0, 7.0)


@dataclass(frozen=True)
class HypothesisResult:
    id: str
    test: str
    parameters: tuple[dict, ...]
    pvalue: float | None
    pvalue_adjusted: float | None
    decision: str
    reason: str
    exploratory: bool
    family: str = ""
    pvalue_holm: float | None = None
    pvalue_bh: float | None = None
    comparisons: tuple[dict, ...] = ()
    model: str = ""
    untested: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


# ----------------------------------------------------------------------------------------------------------
# Multiple testing
# ----------------------------------------------------------------------------------------------------------
def p_adjust(p, method: str = "holm") -> np.ndarray:
    """Adjusted p-values as R's ``p.adjust`` ("holm", "bh" = "BH", "none"); NaN stays NaN and is not counted."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    n = len(q)
    if n == 0 or method == "none":
        out[ok] = q
        return out
    order = np.argsort(q, kind="stable")
    if method == "holm":
        adj = np.maximum.accumulate((n - np.arange(n)) * q[order])
    elif method in ("bh", "BH", "fdr"):
        adj = np.minimum.accumulate((n / np.arange(n, 0, -1)) * q[order][::-1])[::-1]
    else:
        raise ValueError(f"unknown adjustment {method!r}: use holm, bh or none")
    res = np.empty(n)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


# ----------------------------------------------------------------------------------------------------------
# Settings and data
# ----------------------------------------------------------------------------------------------------------
def _settings(study: Any):
    from ..study import ModelsSection, Study

    if study is None:
        return ModelsSection()
    if isinstance(study, ModelsSection):
        return study
    if isinstance(study, Study):
        return study.models or ModelsSection()
    if isinstance(study, dict):
        return ModelsSection.model_validate(study)
    raise TypeError("study must be a Study, a ModelsSection, a dict for one, or None")


def _frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_long"):
        return data.to_long()
    raise TypeError("data must be a DataFrame (stacked, item-id columns) or a vccscale Dataset")


# ----------------------------------------------------------------------------------------------------------
# Evidence for components
# ----------------------------------------------------------------------------------------------------------
def _row(fit, label: str) -> pd.Series:
    est = fit.estimates
    r = est[(est["label"] == label)]
    if r.empty:
        raise KeyError(label)
    return r.iloc[0]


def _directional_p(est: float, p: float, sign: str) -> float:
    if not np.isfinite(p):
        return float("nan")
    if sign == "?":
        return float(p)
    ok = (est > 0) if sign == "+" else (est < 0)
    return float(p) if ok else 1.0


def _param(name: str, r: pd.Series, sign: str, kind: str) -> dict:
    return {"name": name, "kind": kind, "label": r["label"], "sign": sign, "est": float(r["est"]),
            "se": float(r["se"]), "ci_lower": float(r["ci_lower"]), "ci_upper": float(r["ci_upper"]),
            "pvalue": float(r["pvalue"]), "std_all": float(r["std_all"]),
            "p_directional": _directional_p(float(r["est"]), float(r["pvalue"]), sign)}


class _Fitter:
    """Fits and caches generated models."""

    def __init__(self, registry: Registry, data: pd.DataFrame, settings) -> None:
        self.registry, self.data, self.s = registry, data, settings
        self.columns = set(data.columns)
        self.cache: dict[str, Any] = {}

    def sem(self, syntax: str, group: str | None = None, group_equal=()):
        from ..sem import fit_sem

        key = f"{group}|{','.join(group_equal)}|{syntax}"
        if key not in self.cache:
            self.cache[key] = fit_sem(self.data, syntax, estimator=self.s.estimator, group=group,
                                      group_equal=list(group_equal))
        return self.cache[key]

    def cfa(self, syntax: str):
        from ..sem import fit_cfa

        key = f"cfa|{syntax}"
        if key not in self.cache:
            self.cache[key] = fit_cfa(self.data, syntax, estimator=self.s.estimator)
        return self.cache[key]

    def scalar(self, construct: str, group: str, groups: tuple) -> dict:
        """(Partial) scalar invariance of ``construct`` by ``group`` restricted to ``groups``; see
        :func:`_establish_scalar`."""
        key = ("scalar", construct, group, tuple(map(str, groups)))
        if key not in self.cache:
            self.cache[key] = _establish_scalar(self, construct, group, groups)
        return self.cache[key]

    def score(self, cid: str) -> tuple[pd.Series | None, str]:
        """The scale score of ``cid`` per row (see :func:`scale_score`), cached: (score, "") or (None, reason)."""
        key = ("score", cid)
        if key not in self.cache:
            self.cache[key] = scale_score(self.registry, cid, self.data)
        return self.cache[key]

    def spec(self, plans, **kw) -> ModelSpec:
        return build_model(self.registry, plans, self.s.controls, self.columns,
                           group_by_perspective=self.s.group_by_perspective, **kw)


def scale_score(registry: Registry, cid: str, data: pd.DataFrame) -> tuple[pd.Series | None, str]:
    """Scale score of ``cid`` per row: the unit-weighted mean of its block scores (one block for a reflective
    construct, one per sub-activity for a composite), a block's score being the mean of its answered items when
    at least half of them are answered (else missing); a composite is missing when a sub-activity score is."""
    blocks, why = score_blocks(registry, cid, set(data.columns))
    if blocks is None:
        return None, why
    parts = []
    for its in blocks.values():
        x = data[its].apply(pd.to_numeric, errors="coerce").astype(float)
        need = np.ceil(MIN_ANSWERED * len(its) - 1e-9)
        parts.append(x.mean(axis=1).where(x.notna().sum(axis=1) >= need))
    score = pd.concat(parts, axis=1).mean(axis=1, skipna=False) if len(parts) > 1 else parts[0]
    return score.rename(cid), ""


def scale_bounds(registry: Registry, cid: str, columns) -> tuple[float, float]:
    """(min, max) of the registry scales of the items behind ``cid``'s score (1..7 where the registry has no
    scale for an item); the widest range when they differ."""
    blocks, _ = score_blocks(registry, cid, set(columns))
    lo, hi = [], []
    for its in (blocks or {}).values():
        for i in its:
            try:
                sc = registry.item_scale(registry.items[i])
                lo.append(float(sc.min))
                hi.append(float(sc.max))
            except (KeyError, AttributeError):
                lo.append(DEFAULT_SCALE[0])
                hi.append(DEFAULT_SCALE[1])
    return (min(lo), max(hi)) if lo else DEFAULT_SCALE


def _compare(constrained, free, estimator: str, n_groups: int = 1) -> dict:
    from ..validate.invariance import difference_test

    d = difference_test(constrained, free, estimator, n_groups)
    d.update(aic_constrained=float(constrained.fit["aic"]), aic_free=float(free.fit["aic"]),
             bic_constrained=float(constrained.fit["bic"]), bic_free=float(free.fit["bic"]))
    return d


# ----------------------------------------------------------------------------------------------------------
# Group differences: latent means after (partial) scalar invariance
# ----------------------------------------------------------------------------------------------------------
def _level_holds(res, alpha: float, estimator: str) -> tuple[bool, float, float]:
    """Whether the final model of a partial-invariance search holds: (holds, p of its chi-square difference to the
    previous level, delta CFI). It holds when that difference is not significant, or when the search stopped
    because no single constraint's score test was significant at the Bonferroni level and the CFI dropped by at
    most .01 (no identifiable non-invariant parameter, negligible misfit). A search that ran out of constraints
    or could not free a parameter does not hold."""
    from ..validate.invariance import difference_test

    last = res.steps.iloc[-1]
    p = float(last["pvalue_diff"])
    if not last["df_diff"] > 0:
        return False, p, float("nan")
    G = res.fit.ngroups
    dcfi = float(difference_test(res.fit, res.previous_fit, estimator, G)["delta_cfi"])
    if np.isfinite(p) and not p < alpha:
        return True, p, dcfi
    no_culprit = bool(np.isfinite(last["pvalue_max"]) and not last["pvalue_max"] < last["threshold"])
    return bool(no_culprit and np.isfinite(dcfi) and dcfi >= DELTA_CFI), p, dcfi


def _establish_scalar(fx: _Fitter, construct: str, group: str, groups: tuple) -> dict:
    """Partial metric, then partial scalar search (:func:`vccscale.sem.score.partial_invariance`) for the
    measurement model of ``construct`` on the rows of ``groups``. Returns ``ok``, ``reason`` (why not, if not),
    ``fit`` (the (partial) scalar model), ``model`` (syntax), ``data`` and ``comparison`` (a dict for the
    result's comparisons)."""
    from ..sem.score import partial_invariance

    s = fx.s
    lines, modelled, notes = measurement_lines(fx.registry, [construct], fx.columns)
    if construct not in modelled:
        return {"ok": False, "reason": "; ".join(n.lstrip("# ") for n in notes) or f"{construct} is not modelled"}
    model = "\n".join(lines)
    wanted = {str(g) for g in groups}
    data = fx.data[fx.data[group].notna() & fx.data[group].astype(str).isin(wanted)]
    # factors measured directly by items (second-order factors' indicators are factors: no item intercepts)
    factors: dict[str, list[str]] = {}
    for ln in lines:
        if "=~" in ln and not ln.lstrip().startswith("#"):
            lhs, rhs = (x.strip() for x in ln.split("=~", 1))
            its = [x.strip() for x in rhs.split("+")]
            if all(i in fx.columns and i not in modelled for i in its):
                factors[lhs] = its
    comp: dict[str, Any] = {"name": f"scalar invariance of {construct} by {group} (prerequisite of the latent "
                                    f"mean comparison)", "kind": "scalar_prerequisite", "construct": construct,
                            "group": group, "groups": [str(g) for g in groups], "alpha": s.alpha,
                            "freed_loadings": [], "freed_intercepts": []}
    met = partial_invariance(data, model, group, level="metric", alpha=s.alpha, estimator=s.estimator)
    ok_m, p_m, dcfi_m = _level_holds(met, s.alpha, s.estimator)
    comp.update(freed_loadings=list(met.group_partial), metric_pvalue=p_m, metric_delta_cfi=dcfi_m,
                metric_stop=met.stop_reason)
    if not ok_m:
        comp.update(holds=False, level_reached="configural")
        return {"ok": False, "comparison": comp, "model": model, "data": data,
                "reason": f"not even partial metric invariance of {construct} by {group} could be established "
                          f"({met.stop_reason}); the latent means are not compared"}
    sca = partial_invariance(data, model, group, level="scalar", alpha=s.alpha, estimator=s.estimator,
                             group_partial=met.group_partial)
    ok_s, p_s, dcfi_s = _level_holds(sca, s.alpha, s.estimator)
    freed_int = [x for x in sca.group_partial if x.endswith("~ 1")]
    last = sca.steps.iloc[-1]
    comp.update(freed_intercepts=freed_int, scalar_pvalue=p_s, chisq_diff=float(last["chisq_diff"]),
                df_diff=int(last["df_diff"]), pvalue=p_s, delta_cfi=dcfi_s, scalar_stop=sca.stop_reason,
                steps=sca.steps.to_dict(orient="records"))
    loads = {(x.split("=~")[0].strip(), x.split("=~")[1].strip()) for x in met.group_partial if "=~" in x}
    ints = {x.split("~")[0].strip() for x in freed_int}
    invariant = {f: [i for i in its if i not in ints and (f, i) not in loads] for f, its in factors.items()}
    comp["invariant_items"] = invariant
    short = {f: v for f, v in invariant.items() if len(v) < 2}
    if not ok_s or short:
        comp.update(holds=False, level_reached="metric")
        why = ("fewer than two invariant intercepts (items with equal loading and intercept) for "
               + ", ".join(f"{f} ({len(v)})" for f, v in short.items()) if short else
               f"the search ended without a model that holds against the metric model ({sca.stop_reason})")
        freed = "; ".join(met.group_partial + sca.group_partial) or "none"
        return {"ok": False, "comparison": comp, "model": model, "data": data,
                "reason": f"not even partial scalar invariance of {construct} by {group} could be established: "
                          f"{why} (freed: {freed}); the latent means are not compared"}
    full = not met.group_partial and not sca.group_partial
    comp.update(holds=True, level_reached="scalar" if full else "partial scalar")
    return {"ok": True, "comparison": comp, "model": model, "data": data, "fit": sca.fit, "full": full,
            "freed": tuple(met.group_partial) + tuple(sca.group_partial), "reason": ""}


def _expected_order(expect: str, groups: list) -> tuple[Any, Any] | None:
    """'A > B' (or 'B < A') -> the groups (A, B) as they appear in the data; None if the text names no order."""
    m = re.match(r"^\s*(\w+)\s*([<>])\s*(\w+)\s*$", (expect or "").lower())
    if not m:
        return None
    a, op, b = m.groups()
    if op == "<":
        a, b = b, a
    by = {str(g).lower(): g for g in groups}
    missing = [x for x in (a, b) if x not in by]
    if missing:
        raise LookupError(", ".join(missing))
    return by[a], by[b]


def _group_difference(c: Component, fx: _Fitter) -> dict:
    """Evidence of a group_difference component: ``untested`` (reason) or parameters, comparisons, part."""
    from scipy import stats

    from ..sem import fit_cfa
    from ..sem.score import latent_means

    s = fx.s
    construct, col = c.constructs[0], c.group
    if col not in fx.data.columns:
        return {"untested": f"grouping column {col!r} is not in the data"}
    all_groups = list(pd.unique(fx.data[col].dropna()))
    if len(all_groups) < 2:
        return {"untested": f"group column {col!r} has fewer than two groups"}
    order = None
    if c.sign == "+":
        try:
            order = _expected_order(c.expect or "", all_groups)
        except LookupError as exc:
            return {"untested": f"the expectation {c.expect!r} names group(s) not found in {col!r}: {exc}"}
    groups = tuple(g for g in all_groups if order is None or g in order)  # order of first appearance
    try:
        est = fx.scalar(construct, col, groups)
    except VccscaleError as exc:
        return {"untested": f"the measurement model of {construct} could not be fitted by {col}: {exc}"}
    if not est["ok"]:
        return {"untested": est["reason"], "comparisons": [est["comparison"]] if "comparison" in est else []}
    fit = est["fit"]
    lm = latent_means(fit)
    lm = lm[lm["lhs"] == construct]
    if lm.empty or not (lm["se"] > 0).all():
        return {"untested": f"the latent mean of {construct} is not estimated in the (partial) scalar model",
                "comparisons": [est["comparison"]]}
    labels = [str(g) for g in fit.group_labels]
    e = fit.estimates
    zc = float(stats.norm.ppf(0.975))
    params: list[dict] = []
    for r in lm.itertuples():
        first, other = labels[0], str(r.group_label)
        flip = order is not None and str(order[0]) == first  # latent_means gives other - first
        a, b = (first, other) if flip else (other, first)
        k = -1.0 if flip else 1.0
        row = e[(e["lhs"] == construct) & (e["op"] == "~1") & (e["group"] == r.group)].iloc[0]
        lo, hi = float(row["ci_lower"]), float(row["ci_upper"])
        if not (np.isfinite(lo) and np.isfinite(hi)):
            lo, hi = r.est - zc * r.se, r.est + zc * r.se
        lo, hi = (-hi, -lo) if flip else (lo, hi)
        params.append({"name": f"{construct}: latent mean {a} - {b}", "kind": "latent_mean_difference",
                       "label": f"{construct} ~ 1 [{col} = {other}]", "sign": c.sign, "est": k * float(r.est),
                       "se": float(r.se), "ci_lower": lo, "ci_upper": hi, "pvalue": float(r.pvalue),
                       "z": k * float(r.z), "std_lv": k * float(r.std_lv), "d": k * float(r.d),
                       "std_all": k * float(r.std_lv), "group": col, "groups": [a, b], "ci_method": "Wald",
                       "p_directional": _directional_p(k * float(r.est), float(r.pvalue),
                                                       c.sign if c.sign in ("+", "?") else "?")})
    comps = [est["comparison"]]
    scal = est["comparison"]
    freed = est["freed"]
    level = ("full scalar invariance" if est["full"] else
             "partial scalar invariance (freed: " + "; ".join(freed) + ")")
    note = (f"{construct} by {col}: {level} (chi-square difference metric vs configural p = "
            f"{scal['metric_pvalue']:.3g}, delta CFI = {scal['metric_delta_cfi']:.3f}; scalar vs metric p = "
            f"{scal['scalar_pvalue']:.3g}, delta CFI = {scal['delta_cfi']:.3f})")
    name = f"latent mean difference of {construct} by {col}"
    if len(params) == 1:
        p = params[0]
        part = (name, p["pvalue"] if c.sign in ("=", "?") else p["p_directional"])
    else:  # more than two groups: all means equal vs free
        G = len(groups)
        cons = fit_cfa(est["data"], est["model"], estimator=s.estimator, group=col,
                       group_equal=["loadings", "intercepts", "means"], group_partial=list(freed))
        d = _compare(cons, fit, s.estimator, G)
        comps.append({"name": f"latent means of {construct} equal across {col} vs free", "kind": "latent_means",
                      **d})
        part = (name, d["pvalue"])
    comps.append({"name": name, "kind": "group_difference", "construct": construct, "group": col,
                  "expect": c.expect, "groups": [str(g) for g in groups], "pvalue": part[1]})
    if c.sign == "=":
        holds = not part[1] < s.alpha
        comps[-1]["holds"] = holds
        return {"params": params, "comparisons": comps, "null": (name, part[1], holds), "note": note}
    return {"params": params, "comparisons": comps, "directional": (name, part[1], part[1] < s.alpha), "note": note}


def _surface_part(k: str, expect: str, row: pd.Series, alpha: float, relation: str) -> tuple[dict, str, tuple]:
    """A surface parameter's dict, the part kind ("directional" | "null") and the part tuple."""
    from scipy import stats

    est, se, p = float(row["est"]), float(row["se"]), float(row["pvalue"])
    zc = float(stats.norm.ppf(0.975))
    e = expect.replace(" ", "")
    sign = "+" if e == ">0" else "-" if e == "<0" else "0"
    pdir = _directional_p(est, p, sign) if sign != "0" else p
    param = {"name": k, "kind": "surface", "relation": relation, "expect": expect, "sign": sign, "est": est,
             "se": se, "ci_lower": est - zc * se, "ci_upper": est + zc * se, "ci_method": "Wald", "pvalue": p,
             "stat": float(row["stat"]), "p_directional": pdir}
    name = f"{relation}: {k} {expect}"
    if sign == "0":
        holds = not (np.isfinite(p) and p < alpha)
        return param, "null", (name, p, holds)
    return param, "directional", (name, pdir, bool(np.isfinite(pdir) and pdir < alpha))


def _congruence(c: Component, fx: _Fitter) -> dict:
    """Evidence of a congruence component: ``untested`` (reason) or params, comparison, parts, note."""
    from ..errors import DataError, ModelError
    from .dyadic import pair_dyads
    from .rsa import rsa

    s = fx.s
    relation = c.relation or f"congruence ({c.frm}, {c.y}) -> {c.to}"
    scores = {}
    for cid in dict.fromkeys((c.frm, c.y, c.to)):
        sc, why = fx.score(cid)
        if sc is None:
            return {"untested": f"{why} (response surface analysis needs its scale score)"}
        scores[cid] = sc
    bx = scale_bounds(fx.registry, c.frm, fx.columns)
    by = scale_bounds(fx.registry, c.y, fx.columns)
    if bx != by:
        return {"untested": f"X ({c.frm}, scale {bx[0]:g}..{bx[1]:g}) and Y ({c.y}, scale {by[0]:g}..{by[1]:g}) are "
                            "not on the same scale: no common midpoint to centre the response surface at"}
    dyad = None
    if c.frm == c.y:
        dyad = c.group or dyad_column(fx.columns)
        if dyad is None:
            return {"untested": DYAD_REASON}
        if "perspective" not in fx.columns:
            return {"untested": "the dyadic pairing of provider and customer scores needs the perspective column"}
        long = pd.DataFrame({dyad: fx.data[dyad], "perspective": fx.data["perspective"],
                             "sx": scores[c.frm], "sz": scores[c.to]})
        try:
            paired = pair_dyads(long, dyad, side_column="perspective", columns=["sx", "sz"])
        except (DataError, ValueError) as exc:
            return {"untested": f"the dyadic pairing by {dyad} failed: {exc}"}
        frame = pd.DataFrame({"X": paired.data["sx_provider"], "Y": paired.data["sx_customer"],
                              "Z": paired.data["sz_customer"]})
        how = (f"X = the provider's {c.frm} score, Y = the customer's score of the same construct, Z = {c.to} from "
               f"the customer's row; {paired.report.n_paired} dyad(s) paired by {dyad}")
    else:
        frame = pd.DataFrame({"X": scores[c.frm], "Y": scores[c.y], "Z": scores[c.to]})
        how = f"X = {c.frm}, Y = {c.y}, Z = {c.to} (scale scores of the same respondent row)"
    z = frame["Z"].dropna()
    family = "binomial" if len(z) and z.isin([0.0, 1.0]).all() and z.nunique() == 2 else "gaussian"
    try:
        res = rsa(frame, "X", "Y", "Z", center="midpoint", scale_min=bx[0], scale_max=bx[1], family=family)
    except (DataError, ModelError, ValueError, np.linalg.LinAlgError) as exc:
        return {"untested": f"the response surface could not be fitted ({how}): {exc}"}
    params, directional, nulls = [], [], []
    for k, expect in c.surface:
        param, kind, part = _surface_part(k, expect, res.surface.loc[k], s.alpha, relation)
        param.update(x=c.frm, y=c.y, to=c.to, family=family, n=res.n)
        params.append(param)
        (directional if kind == "directional" else nulls).append(part)
    comp = {"name": f"response surface of {relation}", "kind": "rsa", "relation": relation, "x": c.frm, "y": c.y,
            "to": c.to, "family": family, "center": res.center, "scale_min": bx[0], "scale_max": bx[1],
            "dyad_id": dyad, "pairing": how, "rsa": res.to_dict()}
    note = (f"{relation}: {'logistic ' if family == 'binomial' else ''}response surface, {how}, centred at the "
            f"scale midpoint {res.center:g}, n = {res.n}")
    return {"params": params, "comparison": comp, "directional": directional, "nulls": nulls, "note": note}


def _nesting(c: Component, fx: _Fitter) -> dict:
    """Evidence of a nesting component: params, comparisons, directional parts and untested (description,
    reason) pairs."""
    from ..errors import DataError
    from .multilevel import icc

    s = fx.s
    out: dict[str, list] = {"params": [], "comparisons": [], "directional": [], "untested": []}
    levels = []
    for lv, col in c.levels:
        col = col if col is not None and col in fx.columns else level_column(lv, fx.columns)
        if col is None:
            known = LEVEL_COLUMNS.get(lv.lower())
            out["untested"].append((f"nesting {', '.join(c.constructs)} in {lv}",
                                    f"no id column for the level {lv!r} in the data ({' or '.join(known)})" if known
                                    else f"no id column is known for the level {lv!r}"))
            continue
        levels.append((lv, col))
    for cid in c.constructs:
        sc, why = fx.score(cid)
        if sc is None:
            out["untested"].append((f"nesting {cid}", f"{why} (ICC(1) needs its scale score)"))
            continue
        for lv, col in levels:
            d = pd.DataFrame({"g": fx.data[col], "v": sc})
            try:
                r = icc(d, "g", "v")
            except (DataError, ValueError) as exc:
                out["untested"].append((f"nesting {cid} in {lv}", f"ICC(1) by {col} could not be computed: {exc}"))
                continue
            name = f"ICC(1) of {cid} in {lv} ({col})"
            p = float(r.p)
            pdir = p if r.icc1 > 0 else 1.0
            out["params"].append({"name": name, "kind": "icc1", "construct": cid, "level": lv, "group": col,
                                  "sign": "+", "est": float(r.icc1), "se": None, "ci_lower": None, "ci_upper": None,
                                  "pvalue": p, "icc2": float(r.icc2), "f": float(r.f), "df1": int(r.df_between),
                                  "df2": int(r.df_within), "n": int(r.n), "n_groups": int(r.n_groups),
                                  "mean_group_size": float(r.mean_group_size), "p_directional": pdir})
            out["comparisons"].append({"name": f"one-way ANOVA of {cid} by {col}", "kind": "icc", **r.to_dict(),
                                       "construct": cid, "level": lv, "group": col})
            out["directional"].append((name, pdir, pdir < s.alpha))
    return out


def _evaluate(plan: HypothesisPlan, plans_for_model: list[HypothesisPlan], fx: _Fitter
              ) -> tuple[list[dict], list[dict], list[tuple[str, float, bool]], list[tuple[str, float, bool]],
                         list[str], list[tuple[str, str]], list[str]]:
    """Returns parameters, comparisons, directional parts (name, p, in-direction significant), null parts
    (name, p, holds), method notes, relations found untestable while testing (description, reason) and notes
    for the reason."""
    s = fx.s
    params: list[dict] = []
    comps: list[dict] = []
    directional: list[tuple[str, float, bool]] = []
    nulls: list[tuple[str, float, bool]] = []
    methods: list[str] = []
    untested: list[tuple[str, str]] = []
    notes: list[str] = []
    single = [c for c in plan.components if c.kind in ("path", "indirect", "covariance", "nested")]
    spec = fit = None
    if single:
        spec = fx.spec(plans_for_model)
        fit = fx.sem(spec.syntax)
    for c in plan.components:
        if c.kind == "path":
            lab = spec.label(c.frm, c.to)
            p = _param(f"{c.frm} -> {c.to}", _row(fit, lab), c.sign, "path")
            params.append(p)
            directional.append((p["name"], p["p_directional"], p["p_directional"] < s.alpha))
            if "sem_path" not in methods:
                methods.append("sem_path")
        elif c.kind == "covariance":
            lab = spec.covariances[(c.frm, c.to)]
            p = _param(f"{c.frm} ~~ {c.to}", _row(fit, lab), c.sign, "covariance")
            params.append(p)
            directional.append((p["name"], p["p_directional"], p["p_directional"] < s.alpha))
        elif c.kind == "indirect":
            name = spec.indirect[(c.frm, c.via, c.to)]
            p = _param(f"{' -> '.join((c.frm, *c.via, c.to))} (indirect)", _row(fit, name), c.sign, "indirect")
            p["ci_method"] = "delta"
            params.append(p)
            directional.append((p["name"], p["p_directional"], p["p_directional"] < s.alpha))
            if "indirect (delta-method CI; bootstrap in vccscale.models.mediation)" not in methods:
                methods.append("indirect (delta-method CI; bootstrap in vccscale.models.mediation)")
        elif c.kind == "nested":
            cons = fx.sem(fx.spec(plans_for_model, zero=c.paths).syntax)
            d = _compare(cons, fit, s.estimator)
            for f, t in c.paths:
                if (f, t) in spec.paths:
                    params.append(_param(f"{f} -> {t}", _row(fit, spec.paths[(f, t)]), "0", "path"))
            holds = not d["pvalue"] < s.alpha
            comps.append({"name": f"{len(c.paths)} path(s) of sign 0 fixed to 0 vs free", "kind": "nested",
                          "paths": [f"{f} -> {t}" for f, t in c.paths], **d, "holds": holds})
            nulls.append(("paths = 0", d["pvalue"], holds))
            methods.append("nested comparison (paths = 0 vs free: chi-square difference, AIC, BIC)")
        elif c.kind == "multigroup":
            groups = list(pd.unique(fx.data[c.group].dropna()))
            if len(groups) < 2:
                raise VccscaleError(f"group column {c.group!r} has fewer than two groups")
            G = len(groups)
            sub = [p for p in plans_for_model if p.id == plan.id]
            mg_plan = HypothesisPlan(plan.hypothesis, (Component("path", "?", frm=c.frm, to=c.to),), ())
            free_spec = fx.spec([mg_plan], groups=G)
            eq_spec = fx.spec([mg_plan], groups=G, equal=[(c.frm, c.to)])
            free = fx.sem(free_spec.syntax, group=c.group, group_equal=("loadings",))
            cons = fx.sem(eq_spec.syntax, group=c.group, group_equal=("loadings",))
            d = _compare(cons, free, s.estimator, G)
            lab = free_spec.paths[(c.frm, c.to)]
            ests = {}
            for g, gl in enumerate(groups):
                r = _row(free, f"{lab}.g{g + 1}")
                ests[str(gl)] = float(r["est"])
                params.append({**_param(f"{c.frm} -> {c.to} [{c.group} = {gl}]", r, "?", "path"),
                               "group": str(gl)})
            expect = (c.expect or "").strip().lower()
            comps.append({"name": f"{c.frm} -> {c.to} equal across {c.group}", "kind": "multigroup",
                          "expect": c.expect, "estimates": ests, **d})
            if c.sign == "=":
                holds = not d["pvalue"] < s.alpha
                comps[-1]["holds"] = holds
                nulls.append((comps[-1]["name"], d["pvalue"], holds))
            else:
                ok_dir = True
                parts = [x.strip() for x in expect.split(">")] if ">" in expect else []
                if len(parts) == 2 and parts[0] in ests and parts[1] in ests:
                    ok_dir = ests[parts[0]] > ests[parts[1]]
                pdir = d["pvalue"] if ok_dir else 1.0
                directional.append((comps[-1]["name"], pdir, pdir < s.alpha))
            methods.append("multi-group path equality (chi-square difference, loadings equal)")
            del sub
        elif c.kind == "invariance":
            from ..validate.invariance import invariance

            lines, _, _ = measurement_lines(fx.registry, c.constructs, fx.columns)
            order = ("configural", "metric", "scalar", "strict")
            levels = order[: order.index(c.level or "scalar") + 1]
            res = invariance(fx.data, "\n".join(lines), c.group, estimator=s.estimator, levels=levels)
            rows = res.tests.to_dict(orient="records")
            holds = all(r["delta_cfi"] >= DELTA_CFI for r in rows)
            pmin = min((r["pvalue"] for r in rows), default=float("nan"))
            comps.append({"name": f"{c.level} invariance of {', '.join(c.constructs)} by {c.group}",
                          "kind": "invariance", "steps": rows, "holds": holds})
            nulls.append((comps[-1]["name"], pmin, holds))
            methods.append(f"measurement invariance up to {c.level} (delta CFI >= -.01)")
        elif c.kind == "distinct":
            from ..validate.validity import htmt

            lines, _, _ = measurement_lines(fx.registry, c.constructs, fx.columns)
            k_fit = fx.cfa("\n".join(lines))
            blocks = {}
            for cid in c.constructs:
                con = fx.registry.constructs[cid]
                its = [i.id for i in fx.registry.items_of(cid) if i.id in fx.columns and i.kind != "formative"]
                for lo in con.lower_order:
                    its += [i.id for i in fx.registry.items_of(lo) if i.id in fx.columns]
                blocks[cid] = its
            one = "one =~ " + " + ".join(dict.fromkeys(i for its in blocks.values() for i in its))
            one_fit = fx.cfa(one)
            d = _compare(one_fit, k_fit, s.estimator)
            h = htmt(fx.data, blocks)
            m = h.matrix
            pairs = [(a, b, float(m.loc[a, b])) for i, a in enumerate(m.index) for b in m.index[i + 1:]]
            ok_htmt = all(v < HTMT_CUTOFF for _, _, v in pairs)
            for a, b, v in pairs:
                params.append({"name": f"HTMT {a}, {b}", "kind": "htmt", "est": v, "ci_lower": None,
                               "ci_upper": None, "pvalue": None})
            comps.append({"name": f"one-factor vs {len(c.constructs)}-factor CFA", "kind": "distinct", **d,
                          "htmt_below_cutoff": ok_htmt})
            pdir = d["pvalue"] if ok_htmt else 1.0
            directional.append((comps[-1]["name"], pdir, pdir < s.alpha))
            methods.append(f"one- vs k-factor CFA (chi-square difference) and HTMT < {HTMT_CUTOFF}")
        elif c.kind == "group_difference":
            g = _group_difference(c, fx)
            comps += g.get("comparisons", [])
            if "untested" in g:
                untested.append((c.relation or f"group_difference {c.constructs[0]} by {c.group}", g["untested"]))
                continue
            params += g["params"]
            if "directional" in g:
                directional.append(g["directional"])
            else:
                nulls.append(g["null"])
            notes.append(g["note"])
            m = ("latent mean difference after (partial) scalar invariance (score-test search, Bonferroni; Wald "
                 "test of the latent mean)")
            if m not in methods:
                methods.append(m)
        elif c.kind == "congruence":
            g = _congruence(c, fx)
            if "untested" in g:
                untested.append((c.relation or f"congruence ({c.frm}, {c.y}) -> {c.to}", g["untested"]))
                continue
            params += g["params"]
            comps.append(g["comparison"])
            directional += g["directional"]
            nulls += g["nulls"]
            notes.append(g["note"])
            m = "polynomial regression with response surface analysis (scale scores centred at the scale midpoint)"
            if m not in methods:
                methods.append(m)
        elif c.kind == "nesting":
            g = _nesting(c, fx)
            params += g["params"]
            comps += g["comparisons"]
            directional += g["directional"]
            untested += g["untested"]
            if g["directional"]:
                m = "ICC(1) of scale scores with the one-way ANOVA F test"
                if m not in methods:
                    methods.append(m)
    return params, comps, directional, nulls, methods, untested, notes


# ----------------------------------------------------------------------------------------------------------
# Main entry
# ----------------------------------------------------------------------------------------------------------
def test_hypotheses(study: Any, data: Any, registry: Registry | None = None, *,
                    hypotheses: Any = None) -> list[HypothesisResult]:
    """Test the study's chosen hypotheses (``study.models``) on stacked data; see the module docstring.

    ``study``: a Study, its ModelsSection, a dict for one, or None (defaults: all hypotheses, ML, Holm, .05).
    ``hypotheses`` overrides ``models.hypotheses`` (ids, family letters or "all").
    """
    if registry is None:
        from ..registry import load_registry

        registry = load_registry()
    s = _settings(study)
    df = _frame(data)
    chosen = select_hypotheses(registry, hypotheses if hypotheses is not None else s.hypotheses, s.families)
    fx = _Fitter(registry, df, s)
    columns = set(df.columns)
    plans = [plan_hypothesis(registry, h, columns, group_by_perspective=s.group_by_perspective) for h in chosen]
    by_family: dict[str, list[HypothesisPlan]] = {}
    for p in plans:
        if p.structural_hypothesis:
            by_family.setdefault(p.hypothesis.family, []).append(p)

    raw: list[dict] = []
    for plan in plans:
        h = plan.hypothesis
        rec: dict = {"id": h.id, "family": h.family, "exploratory": h.exploratory, "untested": plan.untested,
                     "parameters": [], "comparisons": [], "directional": [], "nulls": [], "test": "", "model": "",
                     "error": None, "notes": []}
        if plan.components:
            model_plans = by_family.get(h.family, [plan]) if s.scope == "family" else [plan]
            try:
                params, comps, directional, nulls, methods, untested, notes = _evaluate(plan, model_plans, fx)
                sem_kinds = any(c.kind not in ("congruence", "nesting") for c in plan.components)
                rec.update(parameters=params, comparisons=comps, directional=directional, nulls=nulls,
                           untested=tuple(plan.untested) + tuple(untested), notes=notes,
                           test=("; ".join(methods) + (f" ({s.estimator})" if sem_kinds else "")
                                 if methods or directional or nulls else ""))
                if any(c.kind in ("path", "indirect", "covariance", "nested") for c in plan.components):
                    rec["model"] = fx.spec(model_plans).syntax
            except (VccscaleError, KeyError, ValueError, np.linalg.LinAlgError) as exc:
                rec["error"] = f"the model could not be fitted: {exc}"
        raw.append(rec)

    # hypothesis-level p-values and the adjustment family
    ps = []
    for rec in raw:
        if rec["error"] or not (rec["directional"] or rec["nulls"]):
            rec["p"] = None
            ps.append(np.nan)
        elif rec["directional"]:
            vals = [p for _, p, _ in rec["directional"]]
            rec["p"] = float(np.nan if any(np.isnan(vals)) else max(vals))
            ps.append(rec["p"])
        else:
            rec["p"] = float(min(p for _, p, _ in rec["nulls"]))
            ps.append(np.nan)
    holm, bh = p_adjust(ps, "holm"), p_adjust(ps, "bh")

    out: list[HypothesisResult] = []
    for rec, ph, pb in zip(raw, holm, bh):
        ph = None if np.isnan(ph) else float(ph)
        pb = None if np.isnan(pb) else float(pb)
        padj = {"holm": ph, "bh": pb, "none": rec["p"] if rec["directional"] else None}[s.adjust]
        decision, reason = _decide(rec, padj, s)
        out.append(HypothesisResult(
            id=rec["id"], test=rec["test"] or "not tested", parameters=tuple(rec["parameters"]), pvalue=rec["p"],
            pvalue_adjusted=padj, decision=decision, reason=reason, exploratory=rec["exploratory"],
            family=rec["family"], pvalue_holm=ph, pvalue_bh=pb, comparisons=tuple(rec["comparisons"]),
            model=rec["model"], untested=tuple(rec["untested"])))
    return out


def _decide(rec: dict, padj: float | None, s) -> tuple[str, str]:
    untested = rec["untested"]
    utxt = "; ".join(f"{d}: {r}" for d, r in dict.fromkeys(untested))
    flag = " (exploratory: derived hypothesis)" if rec["exploratory"] else ""
    if rec["error"]:
        return "not_tested", rec["error"] + flag
    if not (rec["directional"] or rec["nulls"]):
        reasons = "; ".join(dict.fromkeys(r for _, r in untested)) or "no testable relation"
        return "not_tested", reasons + flag
    directional, nulls = rec["directional"], rec["nulls"]
    n_ok = sum(ok for _, _, ok in directional)
    failed_nulls = [n for n, _, holds in nulls if not holds]
    adj = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}[s.adjust]
    notes = []
    if directional:
        all_ok = padj is not None and padj < s.alpha
        notes.append(f"{n_ok} of {len(directional)} directional part(s) significant in the hypothesised direction "
                     f"(p < {s.alpha}); hypothesis-level p = largest part p, {adj} adjustment")
        if failed_nulls:
            notes.append("rejected null part(s): " + ", ".join(failed_nulls))
        if untested:
            notes.append("not tested: " + utxt)
        if all_ok and not failed_nulls and not untested:
            decision = "supported"
        elif all_ok or n_ok > 0:
            decision = "partial"
        else:
            decision = "not_supported"
        notes += rec.get("notes", [])
    else:
        notes.append(f"null part(s) held: {len(nulls) - len(failed_nulls)} of {len(nulls)} (not rejected at "
                     f"{s.alpha}; not adjusted)")
        if untested:
            notes.append("not tested: " + utxt)
        if failed_nulls:
            decision = "not_supported"
        else:
            decision = "partial" if untested else "supported"
        notes += rec.get("notes", [])
    return decision, "; ".join(notes) + flag


def results_frame(results: list[HypothesisResult]) -> pd.DataFrame:
    """One row per hypothesis: id, family, decision, pvalue, pvalue_holm, pvalue_bh, pvalue_adjusted, reason."""
    return pd.DataFrame([{"id": r.id, "family": r.family, "decision": r.decision, "pvalue": r.pvalue,
                          "pvalue_holm": r.pvalue_holm, "pvalue_bh": r.pvalue_bh,
                          "pvalue_adjusted": r.pvalue_adjusted, "exploratory": r.exploratory, "test": r.test,
                          "reason": r.reason} for r in results])


test_hypotheses.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported into one
