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
  both on lavaan's scale; and the equivalence test that decides: the k zero paths are jointly negligible, root
  mean square of their standardized values below ``models.equivalence_bound`` (:func:`joint_equivalence`; for one
  path the exact form of TOST). Each path's own TOST p is in the parameter table;
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
Components whose null is the hypothesis (sign "0" nested comparisons, equal paths, invariance) count as shown
only when the data are not against them (not rejected at alpha, unadjusted: adjusting would make them easier to
"support") and an equivalence test shows them (zero paths and equal paths: :func:`joint_equivalence` at
``models.equivalence_bound``; invariance: delta CFI >= -.01 at every step); not rejected but not shown makes the
decision "inconclusive" (or "partial" beside significant directional parts), never "supported". A hypothesis made
of such parts only has p = the smallest of their p-values and no adjusted p.

- supported: adjusted hypothesis-level p < alpha (every directional part significant in its direction), every
  null part shown (not rejected and equivalence shown), and every relation was tested;
- partial: some but not all directional parts significant; or all significant but a null part is rejected or
  some relations are not tested or a null part is not shown (the reason lists them);
- inconclusive: only null parts, none rejected, at least one not shown;
- not_supported: no directional part significant in its direction (or, without directional parts, a null part
  rejected);
- not_tested: nothing of the hypothesis could be tested (the reason says what it needs).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, VccscaleError
from ..registry import Registry
from .library import (
    DYAD_REASON,
    KIND_METHODS,
    LEVEL_COLUMNS,
    Component,
    HypothesisPlan,
    ModelSpec,
    build_model,
    dyad_column,
    find_cycles,
    level_column,
    measurement_lines,
    plan_edges,
    plan_hypothesis,
    score_blocks,
    select_hypotheses,
)

__all__ = ["DECISIONS", "CongruenceData", "HypothesisResult", "ImproperSolution", "congruence_relations",
           "hypothesis_tables", "joint_equivalence", "p_adjust", "results_frame", "scale_bounds", "scale_score", "test_hypotheses"]

DECISIONS = ("supported", "partial", "inconclusive", "not_supported", "not_tested")
HTMT_CUTOFF = 0.85
DELTA_CFI = -0.01
from ..clean.scoring import MIN_ANSWERED, scale_score  # noqa: E402 - the one scale-score function
DEFAULT_SCALE = (1.0, 7.0)


@dataclass(frozen=True)
class HypothesisResult:
    """The test of one hypothesis: decision (supported / partial / not_supported / not_tested), p-values, tested
    parameters, nested comparisons, the model and its fit.

    No R equivalent; its parameters are ``lavaan::parameterEstimates`` rows, its adjusted p-values
    ``stats::p.adjust``.
    """

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
    fit: dict = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    short_reason: str = ""

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


# ----------------------------------------------------------------------------------------------------------
# Multiple testing
# ----------------------------------------------------------------------------------------------------------
def p_adjust(p, method: str = "holm") -> np.ndarray:
    """Adjusted p-values as R's ``p.adjust`` ("holm", "bh" = "BH", "none"); NaN stays NaN and is not counted.

    R: ``stats::p.adjust`` (tests/reference/models/p_adjust_reference.R).
    """
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


class ImproperSolution(VccscaleError):
    """A model the decision rests on has an improper solution (Heywood case, non-positive-definite latent
    covariance matrix, standardized values beyond +-1): its estimates are not reported as a result.

    No R equivalent; the conditions are those of lavaan's ``lavaan::lavInspect(fit, "post.check")`` warnings.
    """


def _proper(fit, what: str):
    if fit.problems:
        raise ImproperSolution(f"the {what} has an improper solution: " + "; ".join(fit.problems[:3])
                               + ("; ..." if len(fit.problems) > 3 else ""))
    return fit


class _Fitter:
    """Fits and caches generated models (``missing``: fiml or listwise, as the study's other latent models)."""

    def __init__(self, registry: Registry, data: pd.DataFrame, settings, missing: str = "listwise",
                 min_answered: float = MIN_ANSWERED, cluster: str | None = None) -> None:
        self.registry, self.data, self.s = registry, data, settings
        self.missing, self.min_answered = missing, min_answered
        self.cluster = cluster  # cluster-robust fits (lavaan cluster =) when the study records nesting
        self.columns = set(data.columns)
        self.cache: dict[str, Any] = {}
        self.products: dict[str, dict] = {}   # syntax -> product indicators of its latent interactions
        self._shared = None

    def _fiml_ok(self, syntax: str) -> str:
        """The missing-data treatment of a model: the study's (fiml | listwise)."""
        return "fiml" if self.missing == "fiml" else "listwise"

    def _fixed_x(self, syntax: str) -> bool | None:
        """Under FIML, observed covariates (formative items, observed controls) are fixed at their sample moments
        (lavaan's default) unless some respondents lack them: then they become random variables (lavaan's
        missing = "ml.x", fixed.x = FALSE), so that those respondents keep their other answers."""
        if self.missing != "fiml":
            return None
        from ..sem.model import build_partable

        try:
            pt = build_partable(syntax)
        except VccscaleError:
            return None
        if not pt.ov_x:
            return None
        cols = [c for c in pt.ov_names if c in self.columns]
        rows = self.data[cols].notna().any(axis=1)
        return False if self.data.loc[rows, [c for c in pt.ov_x if c in self.columns]].isna().any().any() else None

    def sem(self, syntax: str, group: str | None = None, group_equal=()):
        from ..sem import fit_sem
        from .library import product_indicators

        key = f"{group}|{','.join(group_equal)}|{syntax}"
        if key not in self.cache:
            products = self.products.get(syntax, {})
            # score columns the product indicators use (constructs without reflective items of their own)
            used = " ".join(x for pair in products.values() for x in pair)
            data = product_indicators(self.with_composites(syntax + "\n# " + used), products)
            fixed_x = self._fixed_x(syntax)
            model = syntax + (self._apart_covariates(syntax) if fixed_x is False else "")
            self.cache[key] = fit_sem(data, model, estimator=self.s.estimator, group=group,
                                      group_equal=list(group_equal), missing=self._fiml_ok(syntax), fixed_x=fixed_x,
                                      cluster=self.cluster)
        return self.cache[key]

    def _apart_covariates(self, syntax: str) -> str:
        """Random covariates (fixed.x = FALSE) that no respondent answered together have no estimable covariance:
        fixed at 0 (lines appended to the model)."""
        from ..sem.model import build_partable

        xs = [c for c in build_partable(syntax).ov_x if c in self.columns]
        obs = self.data[xs].notna().to_numpy()
        lines = [f"{a} ~~ 0*{b}" for i, a in enumerate(xs) for j, b in enumerate(xs) if j > i
                 and not (obs[:, i] & obs[:, j]).any()]
        return ("\n# Covariates no respondent answered together: covariance not estimable, fixed at 0\n"
                + "\n".join(lines) + "\n") if lines else ""

    def with_composites(self, syntax: str) -> pd.DataFrame:
        """The data with the composite-score columns ``syntax`` uses (formative composites as single-indicator
        latent variables: :func:`vccscale.models.library.composite_scores`)."""
        from .library import composite_scores

        return composite_scores(self.registry, self.data, syntax, self.min_answered)

    def cfa(self, syntax: str):
        from ..sem import fit_cfa

        key = f"cfa|{syntax}"
        if key not in self.cache:
            self.cache[key] = fit_cfa(self.with_composites(syntax), syntax, estimator=self.s.estimator,
                                      missing=self._fiml_ok(syntax), fixed_x=self._fixed_x(syntax),
                                      cluster=self.cluster)
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
            self.cache[key] = scale_score(self.registry, cid, self.data, self.min_answered)
        return self.cache[key]

    def spec(self, plans, **kw) -> ModelSpec:
        if self._shared is None:
            from .library import shared_respondents

            self._shared = shared_respondents(self.registry, self.data)
        spec = build_model(self.registry, plans, self.s.controls, self.columns,
                           group_by_perspective=self.s.group_by_perspective, shared=self._shared, **kw)
        if spec.products:
            self.products[spec.syntax] = spec.products
        return spec


def scale_bounds(registry: Registry, cid: str, columns) -> tuple[float, float]:
    """(min, max) of the registry scales of the items behind ``cid``'s score (1..7 where the registry has no
    scale for an item); the widest range when they differ.

    No R equivalent (a registry lookup).
    """
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
def _level_holds(res, alpha: float, estimator: str) -> tuple[bool | None, float, float]:
    """Whether the final model of a partial-invariance search holds: (holds, p of its chi-square difference to the
    previous level, delta CFI). It holds when that difference is not significant, or when the search stopped
    because no single constraint's score test was significant at the Bonferroni level and the CFI dropped by at
    most .01 (no identifiable non-invariant parameter, negligible misfit). A search that ran out of constraints
    or could not free a parameter does not hold. ``None`` (not tested) when the decision rests on a delta CFI
    that is not available (NaN)."""
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
    if no_culprit and not np.isfinite(dcfi):
        return None, p, dcfi
    return bool(no_culprit and dcfi >= DELTA_CFI), p, dcfi


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
    met = partial_invariance(data, model, group, level="metric", alpha=s.alpha, estimator=s.estimator,
                             missing=fx._fiml_ok(model), cluster=fx.cluster)
    ok_m, p_m, dcfi_m = _level_holds(met, s.alpha, s.estimator)
    comp.update(freed_loadings=list(met.group_partial), metric_pvalue=p_m, metric_delta_cfi=dcfi_m,
                metric_stop=met.stop_reason)
    if ok_m is None:
        comp.update(holds=None, level_reached="metric not tested")
        return {"ok": False, "comparison": comp, "model": model, "data": data,
                "reason": f"metric invariance of {construct} by {group} could not be judged: the delta CFI is not "
                          "available (the CFI could not be computed); the latent means are not compared"}
    if not ok_m:
        comp.update(holds=False, level_reached="configural")
        return {"ok": False, "comparison": comp, "model": model, "data": data,
                "reason": f"not even partial metric invariance of {construct} by {group} could be established "
                          f"({met.stop_reason}); the latent means are not compared"}
    sca = partial_invariance(data, model, group, level="scalar", alpha=s.alpha, estimator=s.estimator,
                             group_partial=met.group_partial, missing=fx._fiml_ok(model), cluster=fx.cluster)
    ok_s, p_s, dcfi_s = _level_holds(sca, s.alpha, s.estimator)
    freed_int = [x for x in sca.group_partial if x.endswith("~ 1")]
    last = sca.steps.iloc[-1]
    comp.update(freed_intercepts=freed_int, scalar_pvalue=p_s, chisq_diff=float(last["chisq_diff"]),
                df_diff=int(last["df_diff"]), pvalue=p_s, delta_cfi=dcfi_s, scalar_stop=sca.stop_reason,
                steps=sca.steps.to_dict(orient="records"))
    if ok_s is None:
        comp.update(holds=None, level_reached="scalar not tested")
        return {"ok": False, "comparison": comp, "model": model, "data": data,
                "reason": f"scalar invariance of {construct} by {group} could not be judged: the delta CFI is not "
                          "available (the CFI could not be computed); the latent means are not compared"}
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


#: fewest provider-customer pairs for the within-dyad test of a side difference
MIN_DYADS = 30


def _first_order_items(fx: _Fitter, construct: str) -> list[str] | None:
    """The items of ``construct`` when the data measure it as a first-order factor of items (one ``=~`` line),
    else None (a second-order factor, a composite, or not measured)."""
    lines, modelled, _ = measurement_lines(fx.registry, [construct], fx.columns)
    first = [ln for ln in lines if "=~" in ln and not ln.lstrip().startswith("#")]
    if construct not in modelled or len(first) != 1:
        return None
    return [x.strip().split("*")[-1] for x in first[0].split("=~", 1)[1].split("+")]


def _dyad_pairs(fx: _Fitter, dyad: str, col: str, sides: tuple, columns: list[str], data=None):
    """``columns`` of the two ``sides`` (of ``col``) paired by ``dyad`` (:func:`vccscale.models.dyadic.pair_dyads`),
    or None when they cannot be paired or fewer than :data:`MIN_DYADS` dyads have both sides. Under FIML the
    dyads with one side only are kept (the other side missing), as every other latent model keeps respondents
    with missing answers; listwise, they are left out."""
    from ..errors import DataError
    from .dyadic import pair_dyads

    try:
        paired = pair_dyads(fx.data if data is None else data, dyad, side_column=col, sides=tuple(sides),
                            columns=columns, keep_unmatched=fx.missing == "fiml")
    except DataError:
        return None
    return paired if paired.report.n_paired >= MIN_DYADS else None


def _dyadic_group_difference(c: Component, fx: _Fitter, dyad: str, order: tuple) -> dict | None:
    """A provider-vs-customer latent mean difference on dyad-level data (issue 16): the two sides' answers paired
    by ``dyad`` (:func:`vccscale.models.dyadic.pair_dyads`), the dyadic CFA at configural, metric and scalar
    levels (:func:`vccscale.models.dyadic.dyadic_invariance`, Kenny, Kashy & Cook 2006), and the latent mean
    difference of the two members within dyads (first named group minus second). None when the data hold fewer
    than :data:`MIN_DYADS` complete pairs (the multi-group comparison is used then) or the construct is not a
    first-order factor of items."""
    from .dyadic import dyadic_invariance

    s = fx.s
    construct, col = c.constructs[0], c.group
    items = _first_order_items(fx, construct)
    if items is None:
        return None
    a, b = (str(g) for g in order)
    paired = _dyad_pairs(fx, dyad, col, (b, a), items)
    if paired is None:
        return None
    try:
        res = dyadic_invariance(paired, items, sides=(b, a), factor=construct, estimator=s.estimator,
                                missing=fx._fiml_ok(""), alpha=s.alpha, levels=("configural", "metric", "scalar"))
    except (VccscaleError, np.linalg.LinAlgError, ValueError) as exc:
        msg = exc.message if isinstance(exc, VccscaleError) else str(exc)
        return {"untested": f"the dyadic CFA of {construct} ({b} and {a} paired by {dyad}) could not be fitted: "
                            f"{msg}"}
    t = res.tests.set_index("level")
    comp = {"name": f"dyadic measurement invariance of {construct} ({b} vs {a}, paired by {dyad})",
            "kind": "dyadic_invariance", "construct": construct, "dyad": dyad, "n_dyads": res.n,
            "levels": [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                       for r in res.tests.to_dict(orient="records")]}
    lmd = res.latent_mean_difference
    if lmd is None:
        why = "; ".join(f"{lv}: {t.loc[lv, 'decision']}" for lv in ("metric", "scalar") if lv in t.index)
        return {"untested": f"the latent means of {construct} are not compared within dyads: scalar equivalence of "
                            f"the two sides was not reached ({why})" + (f"; {'; '.join(res.notes)}" if res.notes
                                                                         else ""),
                "comparisons": [comp]}
    name = f"{construct}: latent mean {a} - {b} (within dyads)"
    sign = c.sign if c.sign in ("+", "?") else "?"
    pdir = _directional_p(lmd["est"], lmd["pvalue"], sign)
    param = {"name": name, "kind": "latent_mean_difference", "label": f"{construct}_{a} ~ 1", "sign": c.sign,
             "est": lmd["est"], "se": lmd["se"], "ci_lower": lmd["ci_lower"], "ci_upper": lmd["ci_upper"],
             "pvalue": lmd["pvalue"], "z": lmd["z"], "d": lmd["d"], "std_all": lmd["d"], "group": col,
             "groups": [a, b], "dyad": dyad, "n_dyads": res.n, "ci_method": "Wald", "p_directional": pdir}
    levels = ", ".join(f"{lv} {t.loc[lv, 'decision']}" for lv in ("metric", "scalar"))
    both = paired.report.n_paired
    dyads = (f"{res.n} {dyad} dyads ({both} with both sides; FIML)" if res.n != both else f"{res.n} {dyad} pairs")
    note = f"{construct} by {col}: tested within {dyads} (dyadic CFA: {levels} against the previous level)"
    comps = [comp, {"name": name, "kind": "group_difference", "construct": construct, "group": col,
                    "expect": c.expect, "groups": [a, b], "pvalue": lmd["pvalue"], "dyad": dyad}]
    if c.sign == "=":
        holds = not lmd["pvalue"] < s.alpha
        comps[-1]["holds"] = holds
        return {"params": [param], "comparisons": comps, "null": (name, lmd["pvalue"], holds, False), "note": note,
                "dyadic": True}
    return {"params": [param], "comparisons": comps, "directional": (name, pdir, pdir < s.alpha), "note": note,
            "dyadic": True}


def _dyadic_invariance_rows(fx: _Fitter, construct: str, col: str, levels: tuple) -> list[dict] | str | None:
    """Invariance of ``construct`` between the two sides (``col`` = perspective) on dyad-level data when the data
    hold a relationship id and at least :data:`MIN_DYADS` pairs (:func:`vccscale.models.dyadic.dyadic_invariance`):
    the steps as rows (compare, chisq_diff, df_diff, pvalue, delta_cfi, ...), a reason (str) when the dyadic
    models cannot be used as results, or None (not applicable: the multi-group sequence is used)."""
    from .dyadic import dyadic_invariance

    dyad = dyad_column(fx.columns) if col == "perspective" else None
    if dyad is None:
        return None
    sides = [str(g) for g in pd.unique(fx.data[col].dropna())]
    items = _first_order_items(fx, construct)
    if len(sides) != 2 or items is None:
        return None
    paired = _dyad_pairs(fx, dyad, col, tuple(sides), items)
    if paired is None:
        return None
    try:
        res = dyadic_invariance(paired, items, sides=tuple(sides), factor=construct, estimator=fx.s.estimator,
                                missing=fx._fiml_ok(""), alpha=fx.s.alpha, levels=tuple(levels))
    except (VccscaleError, np.linalg.LinAlgError, ValueError) as exc:
        return f"the dyadic CFA could not be fitted: {exc.message if isinstance(exc, VccscaleError) else exc}"
    probs = [f"{lv}: {'; '.join(f.problems)}" for lv, f in res.fits.items() if f.problems]
    if probs:
        return "improper solution (dyadic CFA): " + "; ".join(probs)
    rows = []
    prev = None
    for r in res.tests.to_dict(orient="records"):
        if prev is not None:
            if not np.isfinite(r.get("delta_cfi", np.nan)):
                return f"delta CFI not available for {r['level']} vs {prev} (dyadic CFA)"
            rows.append({"construct": construct, "compare": f"{r['level']} vs {prev}", "chisq_diff": r["chisq_diff"],
                         "df_diff": r["df_diff"], "pvalue": r["pvalue_diff"], "delta_cfi": r["delta_cfi"],
                         "delta_rmsea": r.get("delta_rmsea"), "dyad": dyad, "n_dyads": res.n})
        prev = r["level"]
    return rows


def _dyadic_moderation(c: Component, fx: _Fitter) -> dict | None:
    """A path hypothesised to differ between provider and customer (group moderation by perspective) on
    dyad-level data when the data hold a relationship id and at least :data:`MIN_DYADS` pairs: the latent APIM
    (:func:`vccscale.models.dyadic.apim`, equal loadings across the sides) and the Wald test of the difference of
    the two actor effects (the path within each member, the partner's X held constant). None when not
    applicable (the multi-group comparison is used)."""
    from .dyadic import apim

    dyad = dyad_column(fx.columns) if c.group == "perspective" else None
    if dyad is None:
        return None
    sides = [str(g) for g in pd.unique(fx.data[c.group].dropna())]
    if len(sides) != 2:
        return None
    xi, yi = _first_order_items(fx, c.frm), _first_order_items(fx, c.to)
    data, how = fx.data, "latent"
    if xi is None or yi is None:  # a second-order factor or composite: the APIM of the two scale scores
        sx, _ = fx.score(c.frm)
        sy, _ = fx.score(c.to)
        if sx is None or sy is None:
            return None
        data = fx.data[[dyad, c.group]].assign(**{c.frm: sx, c.to: sy})
        how = "scale scores"
    cols = list(dict.fromkeys(xi + yi)) if how == "latent" else [c.frm, c.to]
    paired = _dyad_pairs(fx, dyad, c.group, tuple(sides), cols, data=data)
    if paired is None:
        return None
    try:
        if how == "latent":
            res = apim(paired, c.frm, c.to, sides=tuple(sides), x_items=xi, y_items=yi, equal_loadings=True,
                       estimator=fx.s.estimator, missing=fx._fiml_ok(""))
        else:
            res = apim(paired, c.frm, c.to, sides=tuple(sides), estimator=fx.s.estimator, missing=fx._fiml_ok(""))
        _proper(res.fit, "dyadic (APIM) model")
    except (VccscaleError, np.linalg.LinAlgError, ValueError) as exc:
        why = exc.message if isinstance(exc, VccscaleError) else str(exc)
        return {"untested": f"the dyadic model could not be used: {why}"}
    eff = res.effects
    actors = eff[eff["effect"] == "actor"].set_index("outcome_side")
    diff = eff[eff["effect"] == "actor_diff"].iloc[0]  # actor(side 1) - actor(side 2)
    ests = {sd: float(actors.loc[sd, "est"]) for sd in sides}
    expect = (c.expect or "").strip().lower()
    parts = [x.strip() for x in expect.split(">")] if ">" in expect else []
    ok_dir = ests[parts[0]] > ests[parts[1]] if len(parts) == 2 and all(x in ests for x in parts) else True
    p = float(diff["pvalue"])
    pdir = p if ok_dir else 1.0
    name = f"{c.frm} -> {c.to}: actor effects of {sides[0]} and {sides[1]} equal within dyads"
    params = [{"name": f"{c.frm} -> {c.to} [actor, {sd}]", "kind": "path", "label": str(actors.loc[sd, "label"]),
               "sign": "?", "est": ests[sd], "se": float(actors.loc[sd, "se"]),
               "ci_lower": float(actors.loc[sd, "ci_lower"]), "ci_upper": float(actors.loc[sd, "ci_upper"]),
               "pvalue": float(actors.loc[sd, "pvalue"]), "std_all": float(actors.loc[sd, "std_all"]), "group": sd,
               "p_directional": float(actors.loc[sd, "pvalue"])} for sd in sides]
    params.append({"name": f"{c.frm} -> {c.to}: actor effect {sides[0]} - {sides[1]}", "kind": "actor_difference",
                   "label": "actor_diff", "sign": "?", "est": float(diff["est"]), "se": float(diff["se"]),
                   "ci_lower": float(diff["ci_lower"]), "ci_upper": float(diff["ci_upper"]), "pvalue": p,
                   "std_all": float("nan"), "p_directional": pdir})
    comp = {"name": name, "kind": "dyadic_moderation", "expect": c.expect, "estimates": ests, "dyad": dyad,
            "n_dyads": res.n, "pvalue": p, "model": res.model, "variables": how}
    return {"params": params, "comparison": comp, "directional": (name, pdir, pdir < fx.s.alpha)}


def _group_difference(c: Component, fx: _Fitter) -> dict:
    """Evidence of a group_difference component: ``untested`` (reason) or parameters, comparisons, part."""
    from ..sem._dist import norm_ppf

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
    dyad = dyad_column(fx.columns) if col == "perspective" and len(groups) == 2 else None
    if dyad is not None:
        g = _dyadic_group_difference(c, fx, dyad, order or groups)
        if g is not None:
            return g
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
    zc = float(norm_ppf(0.975))
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
                       group_equal=["loadings", "intercepts", "means"], group_partial=list(freed),
                       missing=fx._fiml_ok(est["model"]), cluster=fx.cluster)
        d = _compare(cons, fit, s.estimator, G)
        comps.append({"name": f"latent means of {construct} equal across {col} vs free", "kind": "latent_means",
                      **d})
        part = (name, d["pvalue"])
    comps.append({"name": name, "kind": "group_difference", "construct": construct, "group": col,
                  "expect": c.expect, "groups": [str(g) for g in groups], "pvalue": part[1]})
    if c.sign == "=":
        holds = not part[1] < s.alpha
        comps[-1]["holds"] = holds
        return {"params": params, "comparisons": comps, "null": (name, part[1], holds, False), "note": note}
    return {"params": params, "comparisons": comps, "directional": (name, part[1], part[1] < s.alpha), "note": note}


def _surface_part(k: str, expect: str, row: pd.Series, alpha: float, relation: str) -> tuple[dict, str, tuple]:
    """A surface parameter's dict, the part kind ("directional" | "null") and the part tuple."""
    from ..sem._dist import norm_ppf

    est, se, p = float(row["est"]), float(row["se"]), float(row["pvalue"])
    zc = float(norm_ppf(0.975))
    e = expect.replace(" ", "")
    sign = "+" if e == ">0" else "-" if e == "<0" else "0"
    pdir = _directional_p(est, p, sign) if sign != "0" else p
    param = {"name": k, "kind": "surface", "relation": relation, "expect": expect, "sign": sign, "est": est,
             "se": se, "ci_lower": est - zc * se, "ci_upper": est + zc * se, "ci_method": "Wald", "pvalue": p,
             "stat": float(row["stat"]), "p_directional": pdir}
    name = f"{relation}: {k} {expect}"
    if sign == "0":
        holds = not (np.isfinite(p) and p < alpha)
        return param, "null", (name, p, holds, False)
    return param, "directional", (name, pdir, bool(np.isfinite(pdir) and pdir < alpha))


def _congruence_frame(c: Component, fx: _Fitter) -> dict:
    """The X, Y, Z frame of a congruence component (scale scores; provider vs customer ratings of the same
    construct paired by dyad), its bounds and how it was built: ``{"frame", "how", "dyad", "bounds", "family"}`` or
    ``{"untested": reason}``."""
    from ..errors import DataError
    from .dyadic import pair_dyads

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
    return {"frame": frame, "how": how, "dyad": dyad, "bounds": bx, "family": family}


@dataclass(frozen=True)
class CongruenceData:
    """The data of one congruence relation of a chosen hypothesis: ``frame`` (columns X, Y, Z; None when it cannot
    be built, with ``reason``), the scale (min, max) of X and Y, the model family, how X, Y and Z were formed, and
    readable labels.

    No R equivalent (the X, Y, Z frame handed to :func:`vccscale.models.rsa.rsa`).
    """

    hypothesis: str
    label: str
    x: str
    y: str
    z: str
    frame: pd.DataFrame | None
    scale: tuple[float, float]
    family: str
    how: str
    reason: str
    x_label: str
    y_label: str
    z_label: str


def congruence_relations(registry: Registry, models: Any, data: pd.DataFrame, *, hypotheses: Any = "all",
                         min_answered: float = MIN_ANSWERED) -> list[CongruenceData]:
    """Every congruence relation of the hypotheses chosen by ``models`` (a ModelsSection; ``hypotheses`` = "all" or
    ids narrows them) with its X, Y, Z data, built exactly as :func:`test_hypotheses` builds them.

    No R equivalent (builds the data of the congruence tests from the registry and the data).
    """
    s = _settings(models)
    chosen = select_hypotheses(registry, s.hypotheses, s.families)
    if hypotheses != "all":
        keep = set(hypotheses)
        chosen = [h for h in chosen if h.id in keep]
    fx = _Fitter(registry, data, s, min_answered=min_answered)
    cols = set(data.columns)
    out = []
    for h in chosen:
        plan = plan_hypothesis(registry, h, cols, group_by_perspective=s.group_by_perspective)
        for c in plan.components:
            if c.kind != "congruence":
                continue
            label = c.relation or f"congruence ({c.frm}, {c.y}) -> {c.to}"
            names = {k: (registry.constructs[k].name if k in registry.constructs else k) for k in (c.frm, c.y, c.to)}
            g = _congruence_frame(c, fx)
            same = c.frm == c.y
            xl = f"{names[c.frm]} (provider)" if same else names[c.frm]
            yl = f"{names[c.y]} (customer)" if same else names[c.y]
            out.append(CongruenceData(h.id, label, c.frm, c.y, c.to, g.get("frame"), tuple(g.get("bounds", (1, 7))),
                                      g.get("family", "gaussian"), g.get("how", ""), g.get("untested", ""), xl, yl,
                                      names[c.to]))
    return out


def _congruence(c: Component, fx: _Fitter) -> dict:
    """Evidence of a congruence component: ``untested`` (reason) or params, comparison, parts, note."""
    from ..errors import DataError, ModelError
    from .rsa import rsa

    s = fx.s
    relation = c.relation or f"congruence ({c.frm}, {c.y}) -> {c.to}"
    g = _congruence_frame(c, fx)
    if "untested" in g:
        return g
    frame, how, dyad, bx, family = g["frame"], g["how"], g["dyad"], g["bounds"], g["family"]
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
    if any(k == "a4" and e.replace(" ", "") == "<0" for k, e in c.surface):
        for param, part in _congruence_conditions(res, frame, family, c, relation, s):
            param.update(x=c.frm, y=c.y, to=c.to, family=family, n=res.n)
            params.append(param)
            nulls.append(part)
    comp = {"name": f"response surface of {relation}", "kind": "rsa", "relation": relation, "x": c.frm, "y": c.y,
            "to": c.to, "family": family, "center": res.center, "scale_min": bx[0], "scale_max": bx[1],
            "dyad_id": dyad, "pairing": how, "rsa": res.to_dict()}
    note = (f"{relation}: {'logistic ' if family == 'binomial' else ''}response surface, {how}, centred at the "
            f"scale midpoint {res.center:g}, n = {res.n}")
    return {"params": params, "comparison": comp, "directional": directional, "nulls": nulls, "note": note}


def _tost_z(est: float, se: float, target: float, bound: float) -> float:
    """Two one-sided z tests that ``est`` lies within ``target`` +- ``bound``: the larger one-sided p."""
    from ..sem._dist import norm_sf

    if not (np.isfinite(est) and np.isfinite(se)) or se <= 0:
        return float("nan")
    return float(max(norm_sf((est - (target - bound)) / se), norm_sf(((target + bound) - est) / se)))


def _congruence_conditions(res, frame: pd.DataFrame, family: str, c: Component, relation: str, s
                           ) -> list[tuple[dict, tuple]]:
    """The conditions of a congruence effect (Humberg, Nestler & Back 2019) a relation claiming one (a4 < 0) does
    not state itself: the first principal axis on the line of congruence (p10 = 0, p11 = 1) and no asymmetry
    (a3 = 0), each a null part decided by equivalence (TOST): a3 within +-models.equivalence_bound standardized
    (a3 x pooled SD of X and Y / SD of Z; logit scale: / (pi / sqrt 3)), |p10| within
    congruence_axis_bounds[0] pooled SDs, |p11 - 1| within congruence_axis_bounds[1]. a1 and a2 stay as the
    hypothesis states them (a pure congruence effect, a1 = a2 = 0, is claimed by no registry hypothesis: H17-H19
    state a1 > 0, H27 notes a1 > 0 from H22). Returns (parameter dict, null part) pairs."""
    from ..sem._dist import norm_ppf, norm_sf

    stated = {k for k, _ in c.surface}
    xy = np.concatenate([res.data["X"].to_numpy(float), res.data["Y"].to_numpy(float)])
    sd_xy = float(np.std(xy, ddof=1))
    sd_z = float(np.pi / np.sqrt(3)) if family == "binomial" else float(frame["Z"].dropna().std(ddof=1))
    b_p10, b_p11 = s.congruence_axis_bounds
    conds = []
    if "a3" not in stated:
        r = res.surface.loc["a3"]
        conds.append(("a3", "= 0", float(r["est"]), float(r["se"]), 0.0, s.equivalence_bound * sd_z / sd_xy,
                      f"{s.equivalence_bound:g} standardized"))
    for k, target, bound, txt in (("p10", 0.0, b_p10 * sd_xy, f"{b_p10:g} pooled SD of X and Y"),
                                  ("p11", 1.0, b_p11, f"{b_p11:g}")):
        r = res.stationary.loc[k]
        conds.append((k, f"= {target:g}", float(r["est"]), float(r["se"]), target, bound, txt))
    out = []
    zc = float(norm_ppf(0.975))
    for k, expect, est, se, target, bound, txt in conds:
        p = float(2 * norm_sf(abs(est - target) / se)) if np.isfinite(se) and se > 0 else float("nan")
        p_eq = _tost_z(est, se, target, bound)
        holds = not (np.isfinite(p) and p < s.alpha)
        shown = bool(np.isfinite(p_eq) and p_eq < s.alpha)
        name = f"{relation}: {k} {expect} (congruence condition, Humberg et al. 2019)"
        param = {"name": name, "kind": "surface_condition", "relation": relation, "expect": expect,
                 "sign": "0" if target == 0 else f"= {target:g}",
                 "est": est, "se": se, "ci_lower": est - zc * se, "ci_upper": est + zc * se, "ci_method": "Wald",
                 "pvalue": p, "p_equivalence": p_eq, "equivalence_bound": bound, "equivalence_bound_text": txt,
                 "target": target}
        out.append((param, (name, p, holds, shown)))
    return out


def _ordinal(plan: HypothesisPlan, c: Component, fx: _Fitter) -> dict:
    """The proportional-odds model of ``c.to`` on the scale scores of every predictor the hypothesis names for it
    (fitted once per hypothesis and outcome): result, Brant test comparison, note; or ``untested``."""
    from ..errors import DataError, ModelError
    from .ordinal import brant_test, ordinal_regression

    preds = tuple(dict.fromkeys(x.frm for x in plan.components if x.kind == "ordinal" and x.to == c.to))
    key = ("ordinal", plan.id, c.to, preds)
    first = key not in fx.cache
    if first:
        frame = {}
        for cid in (*preds, c.to):
            sc, why = fx.score(cid)
            if sc is None:
                fx.cache[key] = {"untested": why}
                break
            frame[cid] = sc
        else:
            d = pd.DataFrame(frame)
            try:
                res = ordinal_regression(d, c.to, list(preds))
                brant = brant_test(d, c.to, list(preds))
            except (DataError, ModelError, np.linalg.LinAlgError) as exc:
                fx.cache[key] = {"untested": f"the ordinal regression could not be fitted: "
                                             f"{getattr(exc, 'message', exc)}"}
            else:
                om = brant.omnibus
                comp = {"name": f"ordinal regression of {c.to} on {', '.join(preds)}", "kind": "ordinal",
                        "n": res.n, "n_dropped": res.n_dropped, "loglik": res.loglik, "aic": res.aic,
                        "thresholds": res.thresholds.to_dict(orient="records"),
                        "coefficients": res.coefficients.to_dict(orient="records"),
                        "brant_chisq": om["chisq"], "brant_df": om["df"], "brant_pvalue": om["pvalue"]}
                note = (f"ordinal regression of {c.to} ({len(res.levels)} ordered categories) on the scale scores of "
                        f"{', '.join(preds)}: n = {res.n} rows ({res.n_dropped} with a missing score left out; "
                        "every respondent row counts, rows of one relationship are not independent); Brant test "
                        f"of proportional odds chi-square({int(om['df'])}) = {om['chisq']:.2f}, p = {om['pvalue']:.3g}")
                flag = (f"the proportional-odds assumption is rejected for {c.to} (Brant p = {om['pvalue']:.3g}): the "
                        "slopes differ across thresholds, the coefficients are averages" if om["pvalue"] < fx.s.alpha
                        else "")
                fx.cache[key] = {"result": res, "comparison": comp, "note": note, "flag": flag}
    out = dict(fx.cache[key])
    out["first"] = first
    return out


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


#: fewest clusters with complete answers for a two-level model of a cross-level path
MIN_LEVEL_CLUSTERS = 20


def _two_level_frame(c: Component, fx: _Fitter, cids: tuple[str, ...], desc: str, out: dict):
    """(items per construct, rows, cluster count, id column) of a two-level model of ``cids`` clustered by
    ``c.group``, or None with the reason appended to ``out["untested"]``. Rows: every item of the constructs
    answered (two-level ML is listwise, as lavaan's default) and a cluster id."""
    blocks = {}
    for cid in cids:
        blocks[cid] = _first_order_items(fx, cid)
        if blocks[cid] is None:
            out["untested"].append((desc, f"{cid} is not a first-order factor of items (a two-level model of a "
                                          "second-order factor or composite is not built)"))
            return None
    col = c.group if c.group in fx.columns else None
    if col is None:
        out["untested"].append((desc, f"no {c.level} id column in the data"))
        return None
    items = list(dict.fromkeys(i for cid in cids for i in blocks[cid]))
    d = fx.data.loc[fx.data[items].notna().all(axis=1) & fx.data[col].notna(), items + [col]]
    k = int(d[col].nunique())
    answered = {cid: fx.data[blocks[cid]].notna().any(axis=1) for cid in cids}
    apart = [(a, b) for j, a in enumerate(cids) for b in cids[j + 1:] if not (answered[a] & answered[b]).any()]
    if apart:
        a, b = apart[0]
        out["untested"].append((desc, f"no respondent answered both {a} and {b} (asked of different respondents, "
                                      "e.g. roles): a two-level model of constructs rated by different informants "
                                      "needs two-level FIML (not built); two-level ML here is listwise"))
        return None
    if k < MIN_LEVEL_CLUSTERS:
        out["untested"].append((desc, f"{k} {c.level}s ({col}) with respondents who answered every item of "
                                      f"{', '.join(cids)}; a two-level model needs at least {MIN_LEVEL_CLUSTERS}"))
        return None
    return blocks, d, k, col


def _two_level_fit(fx: _Fitter, d: pd.DataFrame, model: str, items: list[str], col: str, what: str):
    """A proper two-level fit of ``model`` (cached) and the items whose between-level residual variance was fixed
    at 0; raises VccscaleError (incl. ImproperSolution) when there is none."""
    from ..sem import fit_sem

    key = f"twolevel|{col}|{model}"
    if key not in fx.cache:
        try:
            fx.cache[key] = (fit_sem(d, model, cluster=col), [])
        except VccscaleError as exc:
            if "did not converge" not in exc.message:
                raise
            # no maximum inside the admissible region (typically between-level item variances running to 0): the
            # between-level item residual variances are fixed at 0 (the between-cluster part of the items is then
            # all common variance) and the model refitted, as the parameter says
            fx.cache[key] = (fit_sem(d, model + "".join(f"{i} ~~ 0*{i}\n" for i in items), cluster=col),
                             list(items))
    fit, fixed = fx.cache[key]
    fixed = list(fixed)
    base = model
    for _ in range(3):
        zero = [i for i in _between_zero_variances(fit, items) if i not in fixed]
        if not zero:
            break
        # between-level item residual variances estimated below 0 but within 1.96 SE of it: fixed at 0 (the usual
        # remedy in multilevel CFA, e.g. Muthen 1994; the items' between-cluster variance is then all common
        # variance), and the model refitted (up to three rounds, as fixing one can push another below 0); anything
        # else improper stays not tested
        fixed = fixed + zero
        model = base + "".join(f"{i} ~~ 0*{i}\n" for i in fixed)
        key = f"twolevel|{col}|{model}"
        if key not in fx.cache:
            fx.cache[key] = (fit_sem(d, model, cluster=col), list(fixed))
        fit = fx.cache[key][0]
    return _proper(fit, what), fixed


def _two_level_comparison(name: str, fit, k: int, fixed: list[str]) -> dict:
    from ..sem.measures import BASELINE_FAILED

    return {"name": name, "kind": "two_level", "n": int(sum(fit.nobs)), "n_clusters": k,
            "between_variances_fixed_at_0": fixed,
            **{key_: fit.fit.get(key_) for key_ in ("chisq", "df", "pvalue", "cfi", "rmsea", "srmr_within",
                                                     "srmr_between")},
            **({"notes": [BASELINE_FAILED]} if BASELINE_FAILED in fit.warnings else {})}


def _factors(blocks: dict, suffix: str) -> str:
    return "".join(f"{cid}{suffix} =~ {' + '.join(items)}\n" for cid, items in blocks.items())


def _two_level_model(c: Component, fx: _Fitter, cids: tuple[str, ...], desc: str, make_model, what: str):
    """The shared steps of the two-level tests: rows and clusters (:func:`_two_level_frame`), the model
    ``make_model(blocks)``, a proper fit (:func:`_two_level_fit`) and its comparison record. Returns (out, fit info)
    with fit info (fit, fixed, n clusters, id column), or None when the model could not be used (the reason is in
    ``out["untested"]``)."""
    out: dict[str, list] = {"params": [], "comparisons": [], "directional": [], "untested": []}
    g = _two_level_frame(c, fx, cids, desc, out)
    if g is None:
        return out, None
    blocks, d, k, col = g
    items = list(dict.fromkeys(i for b in blocks.values() for i in b))
    what = what.format(col=col)
    try:
        fit, fixed = _two_level_fit(fx, d, make_model(blocks), items, col, what)
    except (VccscaleError, np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
        msg = exc.message if isinstance(exc, VccscaleError) else str(exc)
        out["untested"].append((desc, f"the two-level model could not be used: {msg}"))
        return out, None
    out["comparisons"].append(_two_level_comparison(what, fit, k, fixed))
    return out, (fit, fixed, k, col)


def _level_extra(c: Component, fit, fixed: list[str], k: int, col: str) -> dict:
    return dict(level=c.level, group=col, n=int(sum(fit.nobs)), n_clusters=k, between_variances_fixed_at_0=fixed)


def _level_path(c: Component, fx: _Fitter) -> dict:
    """A cross-level path (registry relation with meso/macro levels): the between-cluster regression
    ``to_b ~ frm_b`` in a two-level ML model (lavaan ``sem(..., cluster = )`` with ``level: 1`` / ``level: 2``
    blocks; :mod:`vccscale.sem.twolevel`) of the two constructs' items, respondents nested in ``c.group``. Within:
    both factors, correlated; between: both factors, the hypothesised regression."""
    fb, tb = f"{c.frm}_b", f"{c.to}_b"
    out, info = _two_level_model(
        c, fx, (c.frm, c.to), c.relation or f"{c.frm} -> {c.to}",
        lambda blocks: f"level: 1\n{_factors(blocks, '_w')}level: 2\n{_factors(blocks, '_b')}{tb} ~ {fb}\n",
        f"two-level model of {c.frm} -> {c.to} by {{col}}")
    if info is None:
        return out
    fit, fixed, k, col = info
    e = fit.estimates
    r = e[(e["op"] == "~") & (e["lhs"] == tb) & (e["rhs"] == fb)].iloc[0]
    p = _param(f"{c.frm} -> {c.to} (between {c.level}s, two-level)", r, c.sign, "level_path")
    p.update(_level_extra(c, fit, fixed, k, col))
    out["params"].append(p)
    out["directional"].append((p["name"], p["p_directional"], p["p_directional"] < fx.s.alpha))
    return out


#: Monte Carlo draws for the CI of a cross-level indirect effect
LEVEL_MC_DRAWS = 20000


def _level_indirect(c: Component, fx: _Fitter) -> dict:
    """A cross-level indirect effect (1-2-2 or 2-2-1 mediation; Preacher, Zyphur & Zhang 2010): in a two-level
    model of the three constructs (within: the three factors, correlated; between: ``m_b ~ a*x_b``,
    ``y_b ~ b*m_b + x_b``, ``ab := a*b``), the between-cluster product a*b with a Monte Carlo CI (Preacher & Selig
    2012; :func:`vccscale.sem.monte_carlo_ci`, seed = models.bootstrap_seed, 20,000 draws) deciding the part."""
    from ..sem import monte_carlo_ci

    s = fx.s
    m = c.via[0]
    xb, mb, yb = f"{c.frm}_b", f"{m}_b", f"{c.to}_b"
    desc = c.relation or f"{c.frm} -> {m} -> {c.to}"
    out, info = _two_level_model(
        c, fx, (c.frm, m, c.to), desc,
        lambda blocks: (f"level: 1\n{_factors(blocks, '_w')}level: 2\n{_factors(blocks, '_b')}{mb} ~ lvl_a*{xb}\n"
                        f"{yb} ~ lvl_b*{mb} + lvl_c*{xb}\nlvl_ab := lvl_a*lvl_b\n"),
        f"two-level model of {c.frm} -> {m} -> {c.to} by {{col}}")
    if info is None:
        return out
    fit, fixed, k, col = info
    seed = s.bootstrap_seed if s.bootstrap_seed is not None else 0
    try:
        mc = monte_carlo_ci(fit, LEVEL_MC_DRAWS, seed=seed).ci(1 - s.alpha).set_index("name").loc["lvl_ab"]
    except (VccscaleError, np.linalg.LinAlgError, ValueError) as exc:
        out["comparisons"].clear()
        out["untested"].append((desc, f"the Monte Carlo CI could not be computed: "
                                      f"{exc.message if isinstance(exc, VccscaleError) else exc}"))
        return out
    p = _param(f"{c.frm} -> {m} -> {c.to} (indirect between {c.level}s, two-level)", _row(fit, "lvl_ab"), c.sign,
               "level_indirect")
    p_mc = float(mc["pvalue"])
    p.update(_level_extra(c, fit, fixed, k, col), ci_lower=float(mc["ci_lower"]), ci_upper=float(mc["ci_upper"]),
             ci_method="Monte Carlo", mc_se=float(mc["mc_se"]), n_draws=LEVEL_MC_DRAWS, mc_seed=seed,
             pvalue_delta=p["pvalue"], pvalue=p_mc, p_directional=_directional_p(p["est"], p_mc, c.sign),
             a=float(_row(fit, "lvl_a")["est"]), b=float(_row(fit, "lvl_b")["est"]),
             direct=float(_row(fit, "lvl_c")["est"]))
    out["params"].append(p)
    out["directional"].append((p["name"], p["p_directional"], p["p_directional"] < s.alpha))
    return out


def _level_contrast(c: Component, fx: _Fitter) -> dict:
    """Within- vs between-cluster effect of ``frm`` on ``to`` (H28: the between-dyad effect exceeds the
    within-dyad effect): a two-level model with ``to_w ~ bw*frm_w`` and ``to_b ~ bb*frm_b``; parts: the between
    slope bb in the hypothesised direction, and ``bb - bw`` in that direction (delta-method z; "?" two-sided)."""
    fw, tw, fb, tb = f"{c.frm}_w", f"{c.to}_w", f"{c.frm}_b", f"{c.to}_b"
    out, info = _two_level_model(
        c, fx, (c.frm, c.to), c.relation or f"{c.frm} -> {c.to}",
        lambda blocks: (f"level: 1\n{_factors(blocks, '_w')}{tw} ~ lvl_bw*{fw}\nlevel: 2\n{_factors(blocks, '_b')}"
                        f"{tb} ~ lvl_bb*{fb}\nlvl_diff := lvl_bb - lvl_bw\n"),
        f"two-level model of {c.frm} -> {c.to} within and between {c.level}s ({{col}})")
    if info is None:
        return out
    fit, fixed, k, col = info
    pb = _param(f"{c.frm} -> {c.to} (between {c.level}s, two-level)", _row(fit, "lvl_bb"), c.sign, "level_path")
    pw = _param(f"{c.frm} -> {c.to} (within {c.level}s, two-level)", _row(fit, "lvl_bw"), "?", "level_path")
    pd_ = _param(f"{c.frm} -> {c.to}: between minus within {c.level}s", _row(fit, "lvl_diff"), c.sign,
                 "level_contrast")
    for p in (pb, pw, pd_):
        p.update(_level_extra(c, fit, fixed, k, col))
    pw["role"] = "reported (not a part of the decision)"
    out["params"] += [pb, pw, pd_]
    for p in (pb, pd_):
        out["directional"].append((p["name"], p["p_directional"], p["p_directional"] < fx.s.alpha))
    return out


def _between_zero_variances(fit, items: list[str]) -> list[str]:
    """Items whose between-level residual variance is the only impropriety of a two-level fit and is estimated
    below 0 within 1.96 SE of 0 (a boundary estimate, not a misspecified model): they may be fixed at 0."""
    if not fit.problems:
        return []
    e = fit.estimates
    b = e[(e["op"] == "~~") & (e["lhs"] == e["rhs"]) & (e["level"] == 2) & e["lhs"].isin(items) & (e["est"] < 0)]
    near = b[b["est"] + 1.96 * b["se"] >= 0]
    if not len(near) or len(near) < len(b):
        return []
    others = [p for p in fit.problems if not any(f"negative variance estimate for {i} " in p for i in near["lhs"])]
    # the negative variances also make the standardized values and the latent matrix odd: only those may remain
    if any("negative variance" in p for p in others):
        return []
    return list(near["lhs"])


# ----------------------------------------------------------------------------------------------------------
# Competing measurement structures (H52) and paths to a general factor (H56)
# ----------------------------------------------------------------------------------------------------------
def _own_items(fx: _Fitter, cid: str) -> list[str]:
    return [i.id for i in fx.registry.items_of(cid) if i.kind == "reflective" and i.id in fx.columns]


def _equivalent_fit(constrained, free, what: str, fx: _Fitter) -> tuple[dict, tuple]:
    """The comparison of two nested fits and its null part "the constrained model fits as well": not rejected by
    the chi-square difference, shown when the RMSEA of the difference is below .05 (equivalence test,
    :func:`vccscale.sem.compare.rmsea_equivalence`)."""
    from ..sem.compare import RMSEA_CLOSE, rmsea_equivalence

    s = fx.s
    d = _compare(constrained, free, s.estimator)
    n = int(sum(constrained.nobs))
    eq = rmsea_equivalence(d["chisq_diff"], d["df_diff"], n, RMSEA_CLOSE)
    d.update(n=n, p_equivalence=eq["p_equivalence"], equivalence_epsilon0=eq["epsilon0"],
             equivalence_rmsea_diff=eq["rmsea_diff"], equivalence_ncp0=eq["ncp0"])
    p, p_eq = d["pvalue"], eq["p_equivalence"]
    holds = not (np.isfinite(p) and p < s.alpha)
    shown = bool(np.isfinite(p_eq) and p_eq < s.alpha)
    return d, (what, p, holds, shown)


def _structure_comparison(c: Component, fx: _Fitter) -> dict:
    """H52's competing measurement models on the items of the first-order constructs: flat (correlated first-order
    factors), second-order (the registry's groups), one-factor and bifactor (``c.general`` as the general factor of
    every item, the other first-order factors as orthogonal specific factors). Parts: the practices are distinct
    (one-factor vs flat, chi-square difference significant) and the hierarchy accounts for their correlations
    (second-order vs flat: equivalence of fit, RMSEA of the difference < .05). The bifactor is the competing
    specification: its fit and BIC are reported, not a part of the decision."""
    s = fx.s
    out: dict[str, list] = {"params": [], "comparisons": [], "directional": [], "nulls": [], "untested": []}
    items = {f: _own_items(fx, f) for f in c.constructs}
    first = [f"{f} =~ {' + '.join(its)}" for f, its in items.items()]
    flat = "\n".join(first)
    second = "\n".join(first + [f"{g} =~ {' + '.join(fs)}" for g, fs in c.groups])
    every = [i for its in items.values() for i in its]
    one = "one_factor =~ " + " + ".join(every)
    desc = c.relation or "structure"
    try:
        f_flat = _proper(fx.cfa(flat), f"flat {len(items)}-factor model")
        f_second = _proper(fx.cfa(second), "second-order model")
        f_one = fx.cfa(one)
    except (VccscaleError, np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
        out["untested"].append((desc, f"a measurement model could not be used: "
                                      f"{exc.message if isinstance(exc, VccscaleError) else exc}"))
        return out
    d1 = _compare(f_one, f_flat, s.estimator)
    name1 = f"one-factor vs flat {len(items)}-factor CFA (the first-order constructs are distinct)"
    out["comparisons"].append({"name": name1, "kind": "structure", **d1})
    out["directional"].append((name1, d1["pvalue"], bool(np.isfinite(d1["pvalue"]) and d1["pvalue"] < s.alpha)))
    name2 = (f"second-order ({', '.join(g for g, _ in c.groups)}) vs flat {len(items)}-factor CFA (the hierarchy "
             "fits as well)")
    d2, part = _equivalent_fit(f_second, f_flat, name2, fx)
    out["comparisons"].append({"name": name2, "kind": "structure", **d2})
    out["nulls"].append(part)
    if c.general:
        spec = [f for f in items if f != c.general]
        lat = [c.general, *spec]
        bif = "\n".join([f"{c.general} =~ {' + '.join(every)}"] + [f"{f} =~ {' + '.join(items[f])}" for f in spec]
                        + [f"{a} ~~ 0*{b}" for i, a in enumerate(lat) for b in lat[i + 1:]])
        rec = {"name": f"bifactor ({c.general} general, {len(spec)} orthogonal specific factors; competing model)",
               "kind": "structure_competitor"}
        try:
            fb = fx.cfa(bif)
            rec.update({k: fb.fit.get(k) for k in ("chisq", "df", "cfi", "rmsea", "srmr", "bic")},
                       bic_second_order=float(f_second.fit["bic"]), improper=list(fb.problems),
                       preferred_by_bic="bifactor" if fb.fit["bic"] < f_second.fit["bic"] else "second-order")
        except (VccscaleError, np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
            rec["error"] = exc.message if isinstance(exc, VccscaleError) else str(exc)
        out["comparisons"].append(rec)
    return out


def _general_path(c: Component, fx: _Fitter) -> dict:
    """H56: ``c.frm`` predicts what the constructs ``c.constructs`` share: a higher-order general factor over them
    (``general =~`` the first-order constructs), ``general ~ frm``; the free model gives ``frm`` a path of its own
    to every first-order construct instead (the general-only model is the special case path = loading x g1, so
    it is nested, df = k - 1). Parts: the general path in the hypothesised direction (Wald z) and the specific
    paths add nothing (equivalence of fit of the two models)."""
    s = fx.s
    out: dict[str, list] = {"params": [], "comparisons": [], "directional": [], "nulls": [], "untested": []}
    desc = c.relation or f"{c.frm} -> general factor of {', '.join(c.constructs)}"
    lines, _, _ = measurement_lines(fx.registry, [c.frm], fx.columns)
    first = [f"{t} =~ {' + '.join(_own_items(fx, t))}" for t in c.constructs]
    meas = [*lines, *first, f"general_factor =~ {' + '.join(c.constructs)}"]
    base = "\n".join([*meas, f"general_factor ~ g1*{c.frm}"])
    # the free model: a path of its own to every first-order construct and none through the general factor (which
    # is then uncorrelated with frm); the general-only model is nested in it (each path = loading x g1), df k - 1
    free = "\n".join([*meas, f"general_factor ~~ 0*{c.frm}", *(f"{t} ~ {c.frm}" for t in c.constructs)])
    try:
        f0 = _proper(fx.sem(base), f"general-factor model of {c.frm}")
        f1 = _proper(fx.sem(free), f"model with the specific paths of {c.frm}")
    except (VccscaleError, np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
        out["untested"].append((desc, f"the general-factor model could not be used: "
                                      f"{exc.message if isinstance(exc, VccscaleError) else exc}"))
        return out
    p = _param(f"{c.frm} -> general factor of {len(c.constructs)} constructs", _row(f0, "g1"), c.sign,
               "general_path")
    out["params"].append(p)
    out["directional"].append((p["name"], p["p_directional"], p["p_directional"] < s.alpha))
    name = f"{c.frm}: paths to the {len(c.constructs)} specific constructs add nothing (nested models)"
    d, part = _equivalent_fit(f0, f1, name, fx)
    out["comparisons"].append({"name": name, "kind": "nested", **d})
    out["nulls"].append(part)
    return out


#: component kinds tested on the nesting of the data: (evaluation, method text)
_LEVEL_TESTS = {
    "level_path": (_level_path, "two-level SEM (ML, lavaan cluster = with level: blocks): between-cluster path of "
                                "the latent cluster means"),
    "level_indirect": (_level_indirect, "two-level SEM (ML): between-cluster indirect effect a*b with a Monte Carlo "
                                        "CI (Preacher & Selig 2012)"),
    "level_contrast": (_level_contrast, "two-level SEM (ML): between- vs within-cluster slope, their difference by "
                                        "the delta method"),
    "nesting": (_nesting, "ICC(1) of scale scores with the one-way ANOVA F test"),
}


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
    info: dict[str, Any] = {}
    # the main model holds the hypothesis's paths, indirect effects and covariances; interactions get models of
    # their own (below)
    plans_for_model = [HypothesisPlan(p.hypothesis, tuple(c for c in p.components if c.kind != "interaction"),
                                      p.untested, p.blocked) for p in plans_for_model]
    if single:
        spec = fx.spec(plans_for_model)
        fit = _proper(fx.sem(spec.syntax), "hypothesis model")
        info = _fit_info(fit, spec)
    for c in plan.components:
        if c.kind == "path":
            lab = spec.label(c.frm, c.to)
            p = _param(f"{c.frm} -> {c.to}", _row(fit, lab), c.sign, "path")
            params.append(p)
            directional.append((p["name"], p["p_directional"], p["p_directional"] < s.alpha))
            if "sem_path" not in methods:
                methods.append("sem_path")
        elif c.kind == "interaction":
            # one model per interaction (X, Z and their latent product -> Y): a hypothesis with many moderated
            # paths would otherwise need more cases than its joint model's parameters
            ispec = fx.spec([HypothesisPlan(plan.hypothesis, (c,), ())])
            ifit = _proper(fx.sem(ispec.syntax), f"interaction model of {c.frm} x {c.moderator}")
            lab = ispec.interactions[(c.frm, c.moderator, c.to)]
            p = _param(f"{c.frm} x {c.moderator} -> {c.to} (interaction)", _row(ifit, lab), c.sign, "interaction")
            params.append(p)
            directional.append((p["name"], p["p_directional"], p["p_directional"] < s.alpha))
            m = ("latent interaction, one model per interaction (double-mean-centred matched-pair product "
                 "indicators, Lin et al. 2010; the interaction path tested)")
            if m not in methods:
                methods.append(m)
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
            cons = _proper(fx.sem(fx.spec(plans_for_model, zero=c.paths).syntax), "model with the zero paths fixed")
            d = _compare(cons, fit, s.estimator)
            bound = s.equivalence_bound
            zero = []
            for f, t in c.paths:
                if (f, t) in spec.paths:
                    p = _param(f"{f} -> {t}", _row(fit, spec.paths[(f, t)]), "0", "path")
                    p.update(_tost(p, bound))
                    params.append(p)
                    zero.append(p)
            eq = joint_equivalence([p["std_all"] for p in zero], _std_vcov(fit, zero), bound)
            p_eq = eq["p_equivalence"]
            rejected = bool(d["pvalue"] < s.alpha)
            equivalent = bool(np.isfinite(p_eq) and p_eq < s.alpha)
            comps.append({"name": f"{len(c.paths)} path(s) of sign 0 fixed to 0 vs free", "kind": "nested",
                          "paths": [f"{f} -> {t}" for f, t in c.paths], **d, "holds": not rejected,
                          "equivalence_bound": bound, "p_equivalence": p_eq, "equivalent": equivalent,
                          "equivalence_w": eq["w"], "equivalence_df": eq["df"], "equivalence_ncp": eq["ncp"],
                          "rms_std": eq["rms"]})
            what = (f"{len(zero)} path(s) = 0" if len(zero) == 1 else
                    f"{len(zero)} paths = 0 (jointly negligible: RMS of the standardized paths < {bound:g})")
            nulls.append((what, d["pvalue"], not rejected, equivalent))
            m = (f"nested comparison (paths = 0 vs free: chi-square difference, AIC, BIC) and a joint equivalence "
                 f"test of the zero paths (root mean square of the standardized paths < {bound:g}: Wald W against "
                 f"the noncentral chi-square at the bound; TOST of each path in the parameter table)")
            if m not in methods:
                methods.append(m)
        elif c.kind == "multigroup" and c.sign != "=" and (g := _dyadic_moderation(c, fx)) is not None:
            if "untested" in g:
                untested.append((c.relation or f"{c.frm} -> {c.to} by {c.group}", g["untested"]))
                continue
            params += g["params"]
            comps.append(g["comparison"])
            directional.append(g["directional"])
            m = ("actor effects of the two members compared within dyads (APIM: latent with equal loadings, or of "
                 "scale scores for second-order constructs; Kenny, Kashy & Cook 2006; Wald test of the difference)")
            if m not in methods:
                methods.append(m)
        elif c.kind == "multigroup":
            groups = list(pd.unique(fx.data[c.group].dropna()))
            if len(groups) < 2:
                raise VccscaleError(f"group column {c.group!r} has fewer than two groups")
            G = len(groups)
            sub = [p for p in plans_for_model if p.id == plan.id]
            mg_plan = HypothesisPlan(plan.hypothesis, (Component("path", "?", frm=c.frm, to=c.to),), ())
            free_spec = fx.spec([mg_plan], groups=G)
            eq_spec = fx.spec([mg_plan], groups=G, equal=[(c.frm, c.to)])
            free = _proper(fx.sem(free_spec.syntax, group=c.group, group_equal=("loadings",)), "multi-group model")
            cons = _proper(fx.sem(eq_spec.syntax, group=c.group, group_equal=("loadings",)),
                           "multi-group model with the path equal")
            d = _compare(cons, free, s.estimator, G)
            lab = free_spec.paths[(c.frm, c.to)]
            ests, gparams = {}, []
            for g, gl in enumerate(groups):
                r = _row(free, f"{lab}.g{g + 1}")
                ests[str(gl)] = float(r["est"])
                gparams.append({**_param(f"{c.frm} -> {c.to} [{c.group} = {gl}]", r, "?", "path"),
                                "group": str(gl)})
            params += gparams
            expect = (c.expect or "").strip().lower()
            comps.append({"name": f"{c.frm} -> {c.to} equal across {c.group}", "kind": "multigroup",
                          "expect": c.expect, "estimates": ests, **d})
            if c.sign == "=":
                holds = not d["pvalue"] < s.alpha
                # equivalence: the G - 1 differences of the standardized path from the first group's, the groups
                # independent samples (their covariance 0), jointly within +-bound (RMS)
                se_std = np.array([abs(p["std_all"] / p["est"]) * p["se"] if p["est"] else np.nan for p in gparams])
                std = np.array([p["std_all"] for p in gparams])
                C = np.hstack([-np.ones((G - 1, 1)), np.eye(G - 1)])
                eq = joint_equivalence(C @ std, C @ np.diag(se_std ** 2) @ C.T, s.equivalence_bound)
                equivalent = bool(holds and np.isfinite(eq["p_equivalence"]) and eq["p_equivalence"] < s.alpha)
                comps[-1].update(holds=holds, equivalence_bound=s.equivalence_bound,
                                 p_equivalence=eq["p_equivalence"], equivalent=equivalent)
                nulls.append((comps[-1]["name"], d["pvalue"], holds, equivalent))
                m = (f"equivalence of the standardized path across groups (differences from the first group jointly "
                     f"within +-{s.equivalence_bound:g}, RMS)")
                if m not in methods:
                    methods.append(m)
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

            # one invariance sequence per construct (as the invariance stage): a joint multi-group model of many
            # constructs would have more parameters than cases
            order = ("configural", "metric", "scalar", "strict")
            levels = order[: order.index(c.level or "scalar") + 1]
            all_rows, holds, pmin, failed = [], True, float("nan"), []
            dyadic_used = False
            for cid in c.constructs:
                lines, modelled, _ = measurement_lines(fx.registry, [cid], fx.columns)
                if cid not in modelled:
                    failed.append((cid, "not measured in the data"))
                    continue
                syn = "\n".join(lines)
                dy = _dyadic_invariance_rows(fx, cid, c.group, levels)
                if dy is not None:
                    if isinstance(dy, str):
                        failed.append((cid, dy))
                        continue
                    for r in dy:
                        all_rows.append(r)
                        holds = holds and bool(np.isfinite(r["delta_cfi"]) and r["delta_cfi"] >= DELTA_CFI)
                        pmin = r["pvalue"] if not np.isfinite(pmin) else min(pmin, r["pvalue"])
                    dyadic_used = True
                    continue
                sub = fx.data[fx.data[c.group].notna()]
                try:
                    res = invariance(sub, syn, c.group, estimator=s.estimator, levels=levels,
                                     missing=fx._fiml_ok(syn), cluster=fx.cluster)
                except (VccscaleError, np.linalg.LinAlgError, ValueError) as exc:
                    failed.append((cid, exc.message if isinstance(exc, VccscaleError) else str(exc)))
                    continue
                probs = [f"{lv}: {'; '.join(f.problems)}" for lv, f in res.fits.items() if f.problems]
                if probs:
                    failed.append((cid, "improper solution: " + "; ".join(probs)))
                    continue
                no_dcfi = [r for r in res.tests.to_dict(orient="records") if not np.isfinite(r["delta_cfi"])]
                if no_dcfi:
                    # the delta-CFI rule cannot be applied: not tested (a NaN is no evidence against invariance)
                    failed.append((cid, "delta CFI not available for " + ", ".join(r["compare"] for r in no_dcfi)
                                   + (f" ({'; '.join(res.notes)})" if res.notes else "")))
                    continue
                for r in res.tests.to_dict(orient="records"):
                    r["construct"] = cid
                    if res.notes:  # e.g. delta CFI from the scaled CFI where the robust one is not available
                        r["note"] = "; ".join(res.notes)
                    all_rows.append(r)
                    holds = holds and bool(np.isfinite(r["delta_cfi"]) and r["delta_cfi"] >= DELTA_CFI)
                    pmin = r["pvalue"] if not np.isfinite(pmin) else min(pmin, r["pvalue"])
            name = f"{c.level} invariance of {', '.join(c.constructs)} by {c.group}"
            for cid, why in failed:
                untested.append((f"{c.level} invariance of {cid} by {c.group}", why))
            if all_rows:
                comps.append({"name": name, "kind": "invariance", "steps": all_rows, "holds": holds})
                # the delta-CFI rule is an approximate-fit criterion (a drop in CFI of at most .01), not the
                # non-rejection of a chi-square difference: it counts as shown when it holds at every step
                nulls.append((name, pmin, holds, holds))
                methods.append(f"measurement invariance up to {c.level}, one sequence per construct (delta CFI >= "
                               "-.01 at every step; chi-square differences reported)"
                               + ("; provider and customer of one relationship as the two members of a dyad "
                                  "(dyadic CFA, Kenny, Kashy & Cook 2006)" if dyadic_used else ""))
        elif c.kind == "distinct":
            from ..validate.validity import htmt

            lines, _, _ = measurement_lines(fx.registry, c.constructs, fx.columns)
            k_fit = _proper(fx.cfa("\n".join(lines)), f"{len(c.constructs)}-factor model")
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
            try:
                h = htmt(fx.data, blocks, missing=fx._fiml_ok(one))
            except DataError as exc:
                untested.append((c.relation or f"distinctness of {', '.join(c.constructs)}",
                                 f"HTMT is not defined: {exc.message}"))
                continue
            m = h.matrix
            pairs = [(a, b, float(m.loc[a, b])) for i, a in enumerate(m.index) for b in m.index[i + 1:]]
            undefined = [f"{a} and {b}" for a, b, v in pairs if not np.isfinite(v)]
            if undefined:  # e.g. a construct with one item: no within-construct correlation
                untested.append((c.relation or f"distinctness of {', '.join(c.constructs)}",
                                 "HTMT is not defined for " + "; ".join(undefined) + " (a construct with one item, or "
                                 "an average within-construct correlation of 0)"))
                continue
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
            m = ("latent mean difference within dyads after scalar equivalence of the two sides (dyadic CFA; Kenny, "
                 "Kashy & Cook 2006; Wald test)" if g.get("dyadic") else
                 "latent mean difference after (partial) scalar invariance (score-test search, Bonferroni; Wald "
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
        elif c.kind == "ordinal":
            g = _ordinal(plan, c, fx)
            if "untested" in g:
                untested.append((c.relation or f"path {c.frm} -> {c.to}", g["untested"]))
                continue
            r = g["result"]
            row = r.coefficients.set_index("name").loc[c.frm]
            pv = float(row["pvalue"])
            p = {"name": f"{c.frm} -> {c.to} (ordinal)", "kind": "ordinal", "label": "", "sign": c.sign,
                 "est": float(row["est"]), "se": float(row["se"]),
                 "ci_lower": float(row["est"] - 1.959963984540054 * row["se"]),
                 "ci_upper": float(row["est"] + 1.959963984540054 * row["se"]), "pvalue": pv,
                 "std_all": float("nan"), "odds_ratio": float(row.get("odds_ratio", float("nan"))),
                 "p_directional": _directional_p(float(row["est"]), pv, c.sign), "ci_method": "Wald", "n": r.n}
            params.append(p)
            directional.append((p["name"], p["p_directional"], p["p_directional"] < s.alpha))
            if g["first"]:
                comps.append(g["comparison"])
                notes.append(g["note"])
                if g.get("flag"):
                    notes.append(g["flag"])
            m = ("ordinal regression (proportional odds, cumulative logit, as MASS::polr) of the stage on the "
                 "predictors' scale scores, one model per outcome; Brant test of proportional odds")
            if m not in methods:
                methods.append(m)
        elif c.kind == "necessity":
            from .nca import nca

            sx, why_x = fx.score(c.frm)
            sy, why_y = fx.score(c.to)
            if sx is None or sy is None:
                untested.append((c.relation or f"necessity {c.frm} for {c.to}", why_x or why_y))
                continue
            seed = s.bootstrap_seed if s.bootstrap_seed is not None else 0
            res = nca(pd.DataFrame({c.frm: sx, c.to: sy}), c.frm, c.to, n_perm=s.permutations, seed=seed,
                      keep_data=False)
            ce = res.ceilings.set_index("ceiling")
            d, p_ce = float(ce.loc["ce_fdh", "d"]), float(ce.loc["ce_fdh", "p"])
            name = f"{c.frm} necessary for {c.to}"
            params.append({"name": f"NCA effect size d (CE-FDH): {name}", "kind": "nca_d", "sign": "+", "est": d,
                           "se": None, "ci_lower": None, "ci_upper": None, "pvalue": p_ce, "p_directional": p_ce,
                           "n": res.n, "d_cr_fdh": float(ce.loc["cr_fdh", "d"]),
                           "p_cr_fdh": float(ce.loc["cr_fdh", "p"]), "accuracy_cr_fdh":
                               float(ce.loc["cr_fdh", "accuracy"]), "ci_method": ""})
            comps.append({"name": f"necessary condition analysis: {name}", "kind": "nca", **res.to_dict()})
            directional.append((name, p_ce, bool(np.isfinite(p_ce) and p_ce < s.alpha)))
            notes.append(f"{name}: CE-FDH d = {d:.3f} (permutation p = {p_ce:.3g}, {res.n_perm} permutations; "
                         "Dul: .1-.3 medium)")
            m = ("necessary condition analysis on scale scores (CE-FDH ceiling, effect size d, permutation test; "
                 "Dul 2016, 2020)")
            if m not in methods:
                methods.append(m)
        elif c.kind in ("structure_comparison", "general_path"):
            g = (_structure_comparison if c.kind == "structure_comparison" else _general_path)(c, fx)
            params += g["params"]
            comps += g["comparisons"]
            directional += g["directional"]
            nulls += g["nulls"]
            untested += g["untested"]
            m = KIND_METHODS[c.kind]
            if (g["directional"] or g["nulls"]) and m not in methods:
                methods.append(m)
        elif c.kind in _LEVEL_TESTS:
            fn, m = _LEVEL_TESTS[c.kind]
            g = fn(c, fx)
            params += g["params"]
            comps += g["comparisons"]
            directional += g["directional"]
            untested += g["untested"]
            if g["directional"] and m not in methods:
                methods.append(m)
    return params, comps, directional, nulls, methods, untested, notes, info


def _tost(p: dict, bound: float) -> dict:
    """Two one-sided tests (TOST) that a path lies within +-``bound`` on the standardized (std.all) scale: the SE
    of the standardized estimate is the unstandardized SE times std_all / est (the standardization treated as
    fixed); p = the larger of the two one-sided normal p-values."""
    from ..sem._dist import norm_sf

    est, se, std = p["est"], p["se"], p["std_all"]
    if not (np.isfinite(est) and np.isfinite(se) and np.isfinite(std)) or est == 0 or se <= 0:
        return {"se_std": float("nan"), "p_equivalence": float("nan"), "equivalence_bound": bound}
    se_std = abs(std / est) * se
    p_low = float(norm_sf((std + bound) / se_std))
    p_high = float(norm_sf((bound - std) / se_std))
    return {"se_std": se_std, "p_equivalence": max(p_low, p_high), "equivalence_bound": bound}


def _std_vcov(fit, params: list[dict]) -> np.ndarray:
    """Sampling covariance of the standardized (std.all) paths, the standardization treated as fixed (as
    :func:`_tost`): diag(std/est) V diag(std/est), V the paths' block of ``fit.vcov()``."""
    if not params:
        return np.zeros((0, 0))
    labels = [p["label"] for p in params]
    try:
        V = fit.vcov(labels).to_numpy()
    except (KeyError, ValueError, AttributeError):
        V = np.diag([p["se"] ** 2 for p in params])
    ratio = np.array([p["std_all"] / p["est"] if p["est"] != 0 else np.nan for p in params])
    return V * np.outer(ratio, ratio)


def joint_equivalence(std, vcov, bound: float) -> dict:
    """Joint equivalence test that k parameters are negligible: H0 "root mean square of the k standardized values
    >= ``bound``" against H1 "< bound".

    W = b' V^-1 b (b the standardized estimates, V their sampling covariance) is noncentral chi-square with k df
    and noncentrality beta' V^-1 beta. Under H0, beta' beta >= k bound^2, so the noncentrality is at least
    lambda0 = k bound^2 / lambda_max(V) (lambda_max the largest eigenvalue of V); the test rejects H0 when W is
    small: p = P(chi-square(k, lambda0) <= W) (valid at level alpha for every beta in H0; the multivariate
    analogue of the equivalence test for one parameter, which for k = 1 is P(|Z + bound/se| <= |z|), the exact
    form of the two one-sided tests). Returns w, df, ncp (lambda0), rms (of the estimates) and p_equivalence.

    No R equivalent for the test itself; its p-value is ``stats::pchisq(W, df = k, ncp = lambda0)``
    (tests/reference/models/joint_equivalence_reference.R).
    """
    from ..sem._dist import ncx2_cdf

    b = np.asarray(std, dtype=float)
    k = b.size
    nan = {"w": float("nan"), "df": k, "ncp": float("nan"), "rms": float("nan"), "p_equivalence": float("nan"),
           "equivalence_bound": bound}
    V = np.asarray(vcov, dtype=float)
    if k == 0 or not (np.all(np.isfinite(b)) and np.all(np.isfinite(V))):
        return nan
    V = (V + V.T) / 2
    w_eig, vecs = np.linalg.eigh(V)
    if w_eig.min() <= 1e-14 * max(w_eig.max(), 1e-300):
        return nan
    proj = vecs.T @ b
    W = float(np.sum(proj * proj / w_eig))
    ncp = float(k * bound * bound / w_eig.max())
    p = float(ncx2_cdf(W, k, ncp))
    return {"w": W, "df": k, "ncp": ncp, "rms": float(np.sqrt(np.mean(b * b))), "p_equivalence": p,
            "equivalence_bound": bound}


def _fit_info(fit, spec: ModelSpec) -> dict:
    """What the report shows of a hypothesis model: n, estimator, missing, fit measures, R² of its endogenous
    constructs."""
    f = fit.fit
    rob = fit.estimator == "MLR"
    r2 = fit.r2 if isinstance(fit.r2, pd.Series) else pd.Series(dtype=float)
    endo = {k: float(v) for k, v in r2.items() if k in spec.constructs}
    return {"n": int(sum(fit.nobs)), "estimator": fit.estimator, "missing": fit.missing, "npar": int(f["npar"]),
            "chisq": float(f["chisq.scaled" if rob else "chisq"]), "df": float(f["df"]),
            "pvalue": float(f["pvalue.scaled" if rob else "pvalue"]), "cfi": float(f["cfi.robust" if rob else "cfi"]),
            "tli": float(f["tli.robust" if rob else "tli"]), "rmsea": float(f["rmsea.robust" if rob else "rmsea"]),
            "srmr": float(f["srmr"]), "aic": float(f["aic"]), "bic": float(f["bic"]), "r2": endo}


# ----------------------------------------------------------------------------------------------------------
# Main entry
# ----------------------------------------------------------------------------------------------------------
def _separate_feedback_loops(by_family: dict[str, list[HypothesisPlan]]) -> dict[str, str]:
    """Family-scope models must be recursive: hypotheses whose paths would close a feedback loop in their family's
    joint model (e.g. H57's d_spe -> d_materializing with H58's d_materializing -> d_spe) leave it and are tested
    in models of their own; returns id -> the note saying so (``by_family`` is updated in place)."""
    out: dict[str, str] = {}
    for fam, ps in by_family.items():
        cycles = find_cycles(set().union(*(plan_edges(p) for p in ps)))
        if not cycles:
            continue
        loop = {e for c in cycles for e in pairwise(c)}
        leave = [p for p in ps if plan_edges(p) & loop]
        text = "; ".join(" -> ".join(c) for c in cycles)
        for p in leave:
            others = [q.id for q in leave if q is not p]
            out[p.id] = (f"tested in a model of its own: in the family {fam} model its paths would form a feedback "
                         f"loop ({text}) with {', '.join(others) or 'its own paths'}; a non-recursive model needs "
                         "instruments (not built)")
        by_family[fam] = [p for p in ps if p not in leave]
    return out


def test_hypotheses(study: Any, data: Any, registry: Registry | None = None, *, hypotheses: Any = None,
                    missing: str = "listwise", min_answered: float = MIN_ANSWERED, measurement: Any = None,
                    progress: Any = None, n_jobs: int = 1, cluster: str | None = None,
                    cluster_name: str | None = None) -> list[HypothesisResult]:
    """Test the study's chosen hypotheses (``study.models``) on stacked data; see the module docstring.

    ``study``: a Study, its ModelsSection, a dict for one, or None (defaults: all hypotheses, ML, Holm, .05).
    ``hypotheses`` overrides ``models.hypotheses`` (ids, family letters or "all"). ``missing``: "fiml" or
    "listwise" for the hypothesis models (as the study's CFA, including the score-test search of partial
    invariance; dyadic models under FIML keep the dyads with one side only). ``min_answered``: the scale-score rule of the score-based tests.
    ``measurement``: the CFA stage's :class:`vccscale.validate.measurement.MeasurementResult`; hypotheses on
    constructs whose measurement model is improper or failed are flagged. ``progress(done, total, label)``.
    ``n_jobs``: processes for the bootstrap refits (joblib; the draws do not depend on it).
    With ``models.bootstrap`` > 0 every indirect effect gets a percentile bootstrap CI (:func:`vccscale.sem.bootstrap`
    of its hypothesis model, seed ``models.bootstrap_seed``), and its part of the decision uses the bootstrap
    (two-sided percentile p: twice the share of draws on the other side of zero).
    ``cluster``: a column of cluster ids (organisations): every latent-variable model gets cluster-robust standard
    errors and the Yuan-Bentler scaled test (lavaan ``cluster =``; the estimator becomes MLR, whose robust SEs
    and test that are), and bootstrap CIs resample clusters. Score-based tests (response surfaces, ordinal
    regression, necessary conditions, ICCs) are not cluster-adjusted; their method says so. ``cluster_name``: the
    name the method text gives the clusters (default: the column).

    R: each model as ``lavaan::sem`` (tests/reference/models/lavaan_reference.R), adjusted p-values as
    ``stats::p.adjust``.
    """
    if registry is None:
        from ..registry import load_registry

        registry = load_registry()
    s = _settings(study)
    if cluster is not None and s.estimator != "MLR":
        s = s.model_copy(update={"estimator": "MLR"})  # lavaan cluster =: robust.cluster SEs, scaled test
    df = _frame(data)
    chosen = select_hypotheses(registry, hypotheses if hypotheses is not None else s.hypotheses, s.families)
    fx = _Fitter(registry, df, s, missing=missing, min_answered=min_answered, cluster=cluster)
    columns = set(df.columns)
    plans = [plan_hypothesis(registry, h, columns, group_by_perspective=s.group_by_perspective) for h in chosen]
    by_family: dict[str, list[HypothesisPlan]] = {}
    for p in plans:
        if p.structural_hypothesis:
            by_family.setdefault(p.hypothesis.family, []).append(p)
    apart = _separate_feedback_loops(by_family) if s.scope == "family" else {}

    raw: list[dict] = []
    for k, plan in enumerate(plans, 1):
        h = plan.hypothesis
        rec: dict = {"id": h.id, "family": h.family, "exploratory": h.exploratory, "untested": plan.untested,
                     "parameters": [], "comparisons": [], "directional": [], "nulls": [], "test": "", "model": "",
                     "error": None, "notes": [], "fit": {}, "flags": []}
        if plan.components:
            model_plans = (by_family.get(h.family, [plan]) if s.scope == "family" and h.id not in apart
                           else [plan])
            if h.id in apart:
                rec["notes"].append(apart[h.id])
            try:
                params, comps, directional, nulls, methods, untested, notes, info = _evaluate(plan, model_plans, fx)
                sem_kinds = any(c.kind not in ("congruence", "nesting", "necessity", "ordinal", "level_path")
                                for c in plan.components)
                rec.update(parameters=params, comparisons=comps, directional=directional, nulls=nulls,
                           untested=tuple(plan.untested) + tuple(untested), notes=notes, fit=info,
                           test=("; ".join(methods) + (f" ({s.estimator}, missing data: {missing}"
                                                       + (f", cluster-robust by {cluster_name or cluster}"
                                                          if cluster else "")
                                                       + ")" if sem_kinds else "")
                                 if methods or directional or nulls else ""))
                _drop_unavailable(rec)
                main_plans = [HypothesisPlan(p.hypothesis, tuple(c for c in p.components if c.kind != "interaction"),
                                             p.untested, p.blocked) for p in model_plans]
                if any(c.kind in ("path", "indirect", "covariance", "nested") for c in plan.components):
                    rec["model"] = fx.spec(main_plans).syntax
                if s.bootstrap and any(c.kind == "indirect" for c in plan.components):
                    _bootstrap_indirect(rec, fx, fx.spec(main_plans).syntax, s, n_jobs)
            except ImproperSolution as exc:
                rec["error"] = str(exc.message) + "; the hypothesis is not tested on an improper solution"
            except (VccscaleError, KeyError, ValueError, np.linalg.LinAlgError) as exc:
                msg = exc.message if isinstance(exc, VccscaleError) else str(exc)
                rec["error"] = f"the model could not be fitted: {msg}"
        if measurement is not None:
            rec["flags"] = _measurement_flags(plan, measurement)
        raw.append(rec)
        if progress:
            progress(k, len(plans), h.id)

    # hypothesis-level p-values and the adjustment family
    ps = []
    for rec in raw:
        if rec["error"] or not (rec["directional"] or rec["nulls"]):
            rec["p"] = None
            ps.append(np.nan)
        elif rec["directional"]:
            vals = [d[1] for d in rec["directional"]]
            rec["p"] = float(np.nan if any(np.isnan(vals)) else max(vals))
            ps.append(rec["p"])
        else:
            rec["p"] = float(min(n[1] for n in rec["nulls"]))
            ps.append(np.nan)
    holm, bh = p_adjust(ps, "holm"), p_adjust(ps, "bh")

    out: list[HypothesisResult] = []
    for rec, ph, pb in zip(raw, holm, bh):
        ph = None if np.isnan(ph) else float(ph)
        pb = None if np.isnan(pb) else float(pb)
        padj = {"holm": ph, "bh": pb, "none": rec["p"] if rec["directional"] else None}[s.adjust]
        decision, reason = _decide(rec, padj, s)
        short = _short_reason(rec, decision, padj, s)
        out.append(HypothesisResult(
            id=rec["id"], test=rec["test"] or "not tested", parameters=tuple(rec["parameters"]), pvalue=rec["p"],
            pvalue_adjusted=padj, decision=decision, reason=reason, exploratory=rec["exploratory"],
            family=rec["family"], pvalue_holm=ph, pvalue_bh=pb, comparisons=tuple(rec["comparisons"]),
            model=rec["model"], untested=tuple(rec["untested"]), fit=rec["fit"], flags=tuple(rec["flags"]),
            short_reason=short))
    return out


def _short_reason(rec: dict, decision: str, padj: float | None, s) -> str:
    """One short sentence for a decision table cell (the full reason stays in ``reason``)."""
    from ..report.tables import fmt_p

    adj = {"holm": "Holm", "bh": "BH", "none": ""}[s.adjust]
    if rec["error"]:
        msg = rec["error"]
        if "improper" in msg:
            return "not tested: the model's solution is improper"
        return "not tested: " + msg.split(":")[0].replace("the model could not be fitted", "the model could not be "
                                                                                         "fitted")
    if not (rec["directional"] or rec["nulls"]):
        why = next((r for _, r in rec["untested"]), "no testable relation")
        return "not tested: " + why.split(";")[0].split(" (")[0]
    d, nulls = rec["directional"], rec["nulls"]
    n_ok = sum(bool(x[2]) for x in d)
    open_ = [n for n in nulls if n[2] and not n[3]]
    rejected = [n for n in nulls if not n[2]]
    padj_txt = f"{adj}-adjusted p {fmt_p(padj)}" if padj is not None and adj else ""
    parts = []
    if d:
        if n_ok == len(d):
            parts.append(f"all {len(d)} part(s) significant as hypothesised" + (f" ({padj_txt})" if padj_txt else ""))
            if padj is not None and not padj < s.alpha:
                parts[-1] = f"all {len(d)} part(s) significant, but not after {adj} adjustment ({padj_txt})"
        elif n_ok:
            parts.append(f"{n_ok} of {len(d)} parts significant as hypothesised")
        else:
            parts.append("no part significant in the hypothesised direction")
    if rejected:
        parts.append(f"{len(rejected)} null part(s) rejected")
    if open_:
        parts.append("zero/equality part(s) not rejected but not shown" if d else
                     "not rejected, but equivalence not shown")
    shown = [n for n in nulls if n[2] and n[3]]
    if not d and shown and not rejected and not open_:
        parts.append("shown to hold: " + "; ".join(n[0].split(" of ")[0] for n in shown[:2]))
    elif d and shown and not rejected and not open_:
        inv = any("invariance" in n[0] for n in shown)
        zero = [n for n in shown if "invariance" not in n[0]]
        parts.append(" and ".join(x for x in (
            "zero/equality part(s) shown negligible (equivalence tests)" if zero else "",
            "invariance shown (delta CFI)" if inv else "") if x))
    if rec["untested"]:
        parts.append(f"{len(dict.fromkeys(rec['untested']))} relation(s) not tested")
    if rec.get("flags"):
        parts.append("caution: " + rec["flags"][0].split(" (")[0])
    return "; ".join(parts)


def _bootstrap_indirect(rec: dict, fx: _Fitter, syntax: str, s, n_jobs: int = 1) -> None:
    """Percentile bootstrap CIs for the indirect parameters of ``rec`` and their parts' p-values."""
    from ..sem import bootstrap

    fit = fx.sem(syntax)
    seed = s.bootstrap_seed if s.bootstrap_seed is not None else 0
    bres = bootstrap(fit, s.bootstrap, seed, n_jobs=n_jobs if s.bootstrap * fit.fit["npar"] > 20000 else 1)
    ci = bres.ci(1 - s.alpha).set_index("name")
    share = bres.failed_share
    by_name = {}
    for p in rec["parameters"]:
        if p.get("kind") != "indirect" or p.get("label") not in ci.index:
            continue
        d = bres.draws[p["label"]].to_numpy(dtype=float)
        d = d[np.isfinite(d)]
        p_boot = float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean()))) if len(d) else float("nan")
        r = ci.loc[p["label"]]
        p.update(ci_lower=float(r["ci_lower"]), ci_upper=float(r["ci_upper"]), ci_method="percentile bootstrap",
                 boot_se=float(r["boot_se"]), n_boot=bres.n_boot, n_boot_failed=bres.n_failed, pvalue_delta=p["pvalue"],
                 pvalue=p_boot, p_directional=_directional_p(p["est"], p_boot, p["sign"]))
        by_name[p["name"]] = p
    rec["directional"] = [(n, by_name[n]["p_directional"], by_name[n]["p_directional"] < s.alpha) if n in by_name
                          else (n, pv, ok) for n, pv, ok in rec["directional"]]
    rec["comparisons"].append({"name": "bootstrap of the hypothesis model", "kind": "bootstrap", "draws": bres.n_boot,
                               "failed": bres.n_failed, "seed": seed, "ci": "percentile",
                               "level": 1 - s.alpha})
    if share > 0.05:
        rec["flags"].append(f"{bres.n_failed} of {bres.n_boot} bootstrap refits failed ({share:.0%}): the bootstrap "
                            "CIs rest on the rest")
    rec["test"] = rec["test"].replace("indirect (delta-method CI; bootstrap in vccscale.models.mediation)",
                                      f"indirect effects with percentile bootstrap CIs ({bres.n_boot} draws)")


def _measurement_flags(plan: HypothesisPlan, measurement: Any) -> list[str]:
    out = []
    cons = measurement.constructs.set_index("construct") if len(measurement.constructs) else None
    seen = set()
    for c in plan.components:
        for cid in tuple(getattr(c, "constructs", ()) or ()) + tuple(x for x in (c.frm, c.to, c.y) if x):
            if cid in seen or cons is None or cid not in cons.index:
                continue
            seen.add(cid)
            st = cons.loc[cid, "status"]
            if st != "ok":
                out.append(f"measurement of {cid} is {st} in the CFA stage ({cons.loc[cid, 'problems']})")
    return out


UNAVAILABLE_P = ("its p-value could not be computed (e.g. a Satorra-Bentler scaled chi-square difference with a "
                 "non-positive scaling correction, or a standard error that is not available); a test that could "
                 "not be computed is not a non-significant one")


def _drop_unavailable(rec: dict) -> None:
    """Parts whose p-value is NaN are not tested (never counted as non-significant or as holding)."""
    def ok(part) -> bool:
        return part[1] is not None and np.isfinite(part[1])

    bad = [d for d in rec["directional"] if not ok(d)] + [n for n in rec["nulls"] if not ok(n)]
    if bad:
        rec["directional"] = [d for d in rec["directional"] if ok(d)]
        rec["nulls"] = [n for n in rec["nulls"] if ok(n)]
        rec["untested"] = tuple(rec["untested"]) + tuple((b[0], UNAVAILABLE_P) for b in bad)


def _decide(rec: dict, padj: float | None, s) -> tuple[str, str]:
    """The decision and its reason in words (see the module docstring)."""
    untested = rec["untested"]
    utxt = "; ".join(f"{d}: {r}" for d, r in dict.fromkeys(untested))
    flag = " (exploratory: derived hypothesis)" if rec["exploratory"] else ""
    flags = ("; caution: " + "; ".join(rec["flags"])) if rec.get("flags") else ""
    if rec["error"]:
        return "not_tested", rec["error"] + flag
    if not (rec["directional"] or rec["nulls"]):
        reasons = "; ".join(dict.fromkeys(r for _, r in untested)) or "no testable relation"
        return "not_tested", reasons + flag
    directional, nulls = rec["directional"], rec["nulls"]
    n_ok = sum(bool(d[2]) for d in directional)
    rejected = [n[0] for n in nulls if not n[2]]
    shown = [n[0] for n in nulls if n[2] and n[3]]
    open_ = [n[0] for n in nulls if n[2] and not n[3]]
    adj = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}[s.adjust]
    notes = []
    if directional:
        all_ok = padj is not None and padj < s.alpha
        what = (f"all {len(directional)} directional part(s)" if n_ok == len(directional)
                else f"{n_ok} of {len(directional)} directional part(s)")
        notes.append(f"{what} significant in the hypothesised direction at p < {s.alpha:g} (unadjusted)")
        if rec.get("p") is not None and padj is not None and s.adjust != "none":
            notes.append(f"hypothesis-level p (largest part) = {rec['p']:.3g}, {adj}-adjusted across the tested "
                         f"hypotheses = {padj:.3g}: " + ("significant" if all_ok else "not significant")
                         + " after adjustment")
        if all_ok and not rejected and not open_ and not untested:
            decision = "supported"
        elif all_ok or n_ok > 0:
            decision = "partial"
        else:
            decision = "not_supported"
    else:
        if rejected:
            decision = "not_supported"
        elif open_:
            decision = "inconclusive"
        else:
            decision = "partial" if untested else "supported"
    if shown:
        notes.append("shown to hold: " + ", ".join(shown))
    if open_:
        notes.append("not rejected, but not shown either (" + ", ".join(open_) + "): the data do not contradict "
                     "it, which is not evidence that it holds; equivalence within its bound (paths: "
                     f"+-{s.equivalence_bound:g} standardized; surface and fit conditions: the parameter's bound) was "
                     "not shown")
    if rejected:
        notes.append("rejected: " + ", ".join(rejected))
    if untested:
        notes.append("not tested: " + utxt)
    notes += rec.get("notes", [])
    return decision, "; ".join(notes) + flags + flag


def results_frame(results: list[HypothesisResult]) -> pd.DataFrame:
    """One row per hypothesis: id, family, decision, pvalue, pvalue_holm, pvalue_bh, pvalue_adjusted, reason.

    No R equivalent (a table of :class:`HypothesisResult`).
    """
    return pd.DataFrame([{"id": r.id, "family": r.family, "decision": r.decision, "pvalue": r.pvalue,
                          "pvalue_holm": r.pvalue_holm, "pvalue_bh": r.pvalue_bh,
                          "pvalue_adjusted": r.pvalue_adjusted, "exploratory": r.exploratory, "test": r.test,
                          "reason": r.reason} for r in results])


test_hypotheses.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported into one


def hypothesis_tables(results: list[HypothesisResult], registry: Registry | None = None) -> dict[str, pd.DataFrame]:
    """The tables of a study's hypothesis tests (what the report and ``vccscale run`` write):

    * ``hypotheses``: one row per hypothesis (id, family, statement, test, decision, reason, p, adjusted p,
      exploratory, flags, n, estimator, missing-data treatment);
    * ``hypothesis_parameters``: every tested parameter (path, indirect effect, surface parameter, latent mean
      difference, ICC ...) with estimate, SE, standardized value, CI (and its method), p, the equivalence test of
      zero paths;
    * ``hypothesis_models``: the fit of each hypothesis's structural model (n, npar, chi-square, df, p, CFI, TLI,
      RMSEA, SRMR, AIC, BIC, R² of its endogenous constructs);
    * ``hypothesis_comparisons``: nested comparisons (zero paths fixed vs free = full vs partial mediation,
      equality across groups, invariance steps, one- vs k-factor): delta chi-square, df, p, AIC and BIC of both;
    * ``structural_paths``: the hypothesised directional paths (from, to, standardized estimate, p, hypothesis)
      for the path diagram.

    No R equivalent (report tables); the numbers in them are checked against ``lavaan::sem`` in
    tests/test_hypothesis_tests.py.
    """
    statements = {h: registry.hypotheses[h].statement for h in registry.hypotheses} if registry is not None else {}
    hyp, pars, mods, comps, paths = [], [], [], [], []
    for r in results:
        f = r.fit or {}
        hyp.append({"id": r.id, "family": r.family, "statement": statements.get(r.id, ""), "test": r.test,
                    "decision": r.decision, "short_reason": r.short_reason, "reason": r.reason, "pvalue": r.pvalue,
                    "pvalue_adjusted": r.pvalue_adjusted, "exploratory": bool(r.exploratory),
                    "flags": "; ".join(r.flags), "n": f.get("n"), "estimator": f.get("estimator"),
                    "missing": f.get("missing")})
        for p in r.parameters:
            pars.append({"id": r.id, "name": p.get("name"), "kind": p.get("kind"), "sign": p.get("sign"),
                         "est": p.get("est"), "se": p.get("se"), "std_all": p.get("std_all"),
                         "ci_lower": p.get("ci_lower"), "ci_upper": p.get("ci_upper"),
                         "ci_method": p.get("ci_method", "Wald" if p.get("se") is not None else ""),
                         "pvalue": p.get("pvalue"), "p_directional": p.get("p_directional"),
                         "p_equivalence": p.get("p_equivalence"), "equivalence_bound": p.get("equivalence_bound")})
            if p.get("kind") == "path" and p.get("sign") in ("+", "-", "?") and "->" in str(p.get("name")) and \
                    "[" not in str(p.get("name")):
                a, b = (x.strip() for x in str(p["name"]).split("->", 1))
                paths.append({"from": a, "to": b, "std_all": p.get("std_all"), "pvalue": p.get("pvalue"),
                              "hypothesis": r.id})
        if f:
            mods.append({"id": r.id, **{k: f.get(k) for k in ("n", "npar", "chisq", "df", "pvalue", "cfi", "tli",
                                                              "rmsea", "srmr", "aic", "bic", "estimator", "missing")},
                         "r2": "; ".join(f"{k}: {v:.3f}" for k, v in sorted((f.get("r2") or {}).items()))})
        for c in r.comparisons:
            if c.get("kind") in ("nested", "multigroup", "distinct", "latent_means", "structure"):
                comps.append({"id": r.id, "name": c.get("name"), "kind": c.get("kind"),
                              "chisq_diff": c.get("chisq_diff"), "df_diff": c.get("df_diff"), "pvalue": c.get("pvalue"),
                              "aic_constrained": c.get("aic_constrained"), "aic_free": c.get("aic_free"),
                              "bic_constrained": c.get("bic_constrained"), "bic_free": c.get("bic_free"),
                              "delta_cfi": c.get("delta_cfi"), "p_equivalence": c.get("p_equivalence")})
            elif c.get("kind") == "invariance":
                for st in c.get("steps", []):
                    what = f"invariance of {st['construct']}" if st.get("construct") else c.get("name")
                    comps.append({"id": r.id, "name": f"{what}: {st.get('compare')}", "kind": "invariance",
                                  "chisq_diff": st.get("chisq_diff"), "df_diff": st.get("df_diff"),
                                  "pvalue": st.get("pvalue"), "delta_cfi": st.get("delta_cfi")})

    def order(df: pd.DataFrame) -> pd.DataFrame:
        if not len(df):
            return df
        k = df["id"].str[1:].astype(int) if "id" in df.columns else None
        return df.assign(_k=k).sort_values("_k", kind="mergesort").drop(columns="_k").reset_index(drop=True)

    return {
        "hypotheses": order(pd.DataFrame(hyp, columns=["id", "family", "statement", "test", "decision",
                                                       "short_reason", "reason",
                                                       "pvalue", "pvalue_adjusted", "exploratory", "flags", "n",
                                                       "estimator", "missing"])),
        "hypothesis_parameters": order(pd.DataFrame(pars, columns=[
            "id", "name", "kind", "sign", "est", "se", "std_all", "ci_lower", "ci_upper", "ci_method", "pvalue",
            "p_directional", "p_equivalence", "equivalence_bound"])),
        "hypothesis_models": order(pd.DataFrame(mods, columns=["id", "n", "npar", "chisq", "df", "pvalue", "cfi",
                                                               "tli", "rmsea", "srmr", "aic", "bic", "estimator",
                                                               "missing", "r2"])),
        "hypothesis_comparisons": order(pd.DataFrame(comps, columns=[
            "id", "name", "kind", "chisq_diff", "df_diff", "pvalue", "aic_constrained", "aic_free", "bic_constrained",
            "bic_free", "delta_cfi", "p_equivalence"])),
        "structural_paths": pd.DataFrame(paths, columns=["from", "to", "std_all", "pvalue", "hypothesis"]),
    }
