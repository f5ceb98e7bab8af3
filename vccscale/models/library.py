"""Model library: lavaan syntax for the structural models of families A-D, generated from the registry.

Nothing here is written by hand per study. :func:`build_model` takes registry hypotheses (and optional controls
and the data's columns) and writes

- the **measurement part** with the rules of :mod:`vccscale.instrument.lavaan`: reflective constructs ``=~`` over
  their item ids; second-order constructs over their first-order factors (plus their own global items);
  formative constructs with global items as MIMIC models (``=~`` global items, ``~`` formative items);
  composites, event indices, observed and structural entries are not modelled (a comment says so, and every
  relation that needs them is reported as not testable with the reason);
- the **structural part** from the hypotheses' ``path`` / ``indirect`` / ``covariance`` / ``group_moderation``
  relations. Every path carries a label (``p1``, ``p2``, ... with a comment naming it) so that ``:=`` lines can
  define each specific indirect effect (``ind1 := p1*p4``), the total indirect effect of a predictor on an
  outcome (``tind1 := ind1 + ind2``) and the total effect (``total1 := p7 + tind1``). Specific indirect effects
  are every directed chain from the predictor to the outcome through the model's structural paths.

:func:`plan_hypothesis` maps a hypothesis to what tests it (see :mod:`vccscale.models.hypotheses`): labelled
coefficients with their hypothesised sign, ``:=`` products for indirect effects, nested comparisons for
relations of sign ``"0"``, multi-group equality tests for ``group_moderation``, invariance sequences,
latent mean comparisons after (partial) scalar invariance for ``group_difference``, one- vs k-factor
comparisons for ``distinct``, response surface analyses on scale scores for ``congruence`` (provider vs customer
scores of the same construct paired by dyad), ICC(1) with its F test per level for ``nesting``, and, for what
is not built yet, the reason it is not tested. ``congruence`` and ``nesting`` relations work on scale scores
(:func:`score_blocks`), so they stay testable in hypotheses whose other relations need models not built yet.
:func:`family_models` gives one model per family for a study's models section.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ..errors import ModelError
from ..registry import (
    CongruenceRel,
    CovarianceRel,
    DistinctRel,
    GroupDifferenceRel,
    GroupModerationRel,
    Hypothesis,
    IndirectRel,
    InteractionRel,
    InvarianceRel,
    NecessityRel,
    NestingRel,
    PathRel,
    Registry,
    StructureRel,
)

__all__ = [
    "DYAD_ID_COLUMNS",
    "GROUP_COLUMNS",
    "LEVEL_COLUMNS",
    "METHOD_REASONS",
    "RELATION_REASONS",
    "Component",
    "HypothesisPlan",
    "ModelSpec",
    "build_model",
    "find_cycles",
    "plan_record",
    "plan_records",
    "KIND_METHODS",
    "plan_edges",
    "composite_column",
    "composite_scores",
    "dyad_column",
    "family_models",
    "level_column",
    "measurement_lines",
    "plan_hypothesis",
    "product_indicators",
    "score_blocks",
    "select_hypotheses",
]

# Relations whose test is not built yet, and why (reported as status not_tested, never skipped).
RELATION_REASONS: dict[str, str] = {}
# Relations tested on scale scores, whatever blocks the hypothesis's other relations.
SCORE_RELATIONS = ("congruence", "nesting", "necessity")
# Dyad id columns of the stacked data (first one present is used) and id columns of the nesting levels.
DYAD_ID_COLUMNS = ("relationship_id", "invite_dyad_id")
LEVEL_COLUMNS = {"organisation": ("organisation_id", "invite_organisation_id"),
                 "network": ("invite_network_id",),
                 "dyad": DYAD_ID_COLUMNS}
DYAD_REASON = ("the response surface analysis (issue 8) of provider vs customer ratings of the same construct needs "
               "the dyadic pairing, but the data have no dyad id column (relationship_id or invite_dyad_id)")
# Methods that make the whole hypothesis untestable with the single-level models built here.
METHOD_REASONS = {
    "random_intercept_model": "needs a random-intercept (multilevel) model (not built yet)",
    "cross_lagged_panel": ("needs a cross-lagged panel model, i.e. longitudinal data (the same respondents at two or "
                           "more waves); the instrument collects one wave, so no method can test it on these data"),
}
# Two-level methods: relations with micro/meso/macro levels are tested in two-level models (level_path); a relation
# of such a hypothesis without levels asks for a within- vs between-cluster comparison, which is not built.
TWO_LEVEL_METHODS = {
    "two_level_sem": "needs the comparison of within- and between-cluster effects in a two-level SEM",
    "multilevel_mediation": "needs multilevel mediation: only indirect relations with from_level / to_level are "
                            "tested that way",
}
# Relation methods whose outcome is not a continuous latent variable.
OUTCOME_METHODS = {
    "ordinal_regression": "needs ordinal regression (not built yet)",
    "logistic_regression": "needs logistic regression (not built yet)",
    "logistic_rsa": "needs logistic response surface analysis (issue 8)",
}
# Registry group names -> data column; "side" is the stacked data's perspective column.
GROUP_COLUMNS = {"side": "perspective", "respondent_role": "side"}


@dataclass(frozen=True)
class ModelSpec:
    """A generated model: the syntax and the map from hypotheses' relations to its parameters.

    No R equivalent; the syntax is fitted as ``lavaan::sem`` would (tests/reference/models/lavaan_reference.R).
    """

    syntax: str
    measurement: str
    structural: str
    constructs: tuple[str, ...]                       # latent constructs modelled (incl. first-order facets)
    paths: dict[tuple[str, str], str]                 # (from, to) -> label (fixed paths absent)
    defined: dict[str, str]                           # := name -> expression
    indirect: dict[tuple[str, tuple[str, ...], str], str]  # (from, via, to) -> := name of the specific effect
    total_indirect: dict[tuple[str, str], str]        # (from, to) -> := name
    total: dict[tuple[str, str], str]                 # (from, to) -> := name
    covariances: dict[tuple[str, str], str]           # (a, b) -> label
    zero: frozenset = frozenset()                     # paths fixed to 0 in this model
    notes: tuple[str, ...] = ()
    groups: int = 1
    products: dict = field(default_factory=dict)      # product indicator column -> (x item, z item)
    interactions: dict = field(default_factory=dict)  # (x, z, outcome) -> label of the latent product's path

    def label(self, frm: str, to: str) -> str:
        return self.paths[(frm, to)]

    def __str__(self) -> str:
        return self.syntax


@dataclass(frozen=True)
class Component:
    """One testable part of a hypothesis.

    kind: ``path`` (labelled coefficient), ``indirect`` (``:=`` product), ``covariance``, ``nested`` (paths of
    sign "0" fixed to zero vs free), ``multigroup`` (path equal across groups vs free), ``invariance``,
    ``group_difference`` (latent mean difference of ``constructs[0]`` by ``group`` after (partial) scalar
    invariance; ``expect`` "A > B" gives sign "+" for mean(A) - mean(B)), ``distinct``, ``congruence`` (response
    surface of ``to`` on the scale scores of ``frm`` (X) and ``y`` (Y), expectations ``surface`` such as
    (("a1", "> 0"), ("a4", "< 0")); ``group`` = the dyad id column when X and Y are the same construct rated by
    the provider (X) and the customer (Y)), ``nesting`` (ICC(1) of every construct's scale score for every
    (level, id column) of ``levels``; the column is None when the plan was made without the data's columns) and
    ``interaction`` (the latent interaction of ``frm`` (X) and ``moderator`` (Z) on ``to``: a latent product of
    double-mean-centred matched-pair product indicators, Lin et al. 2010, with X and Z as main effects) and
    ``level_path`` (a path whose registry relation names meso or macro levels: the between-cluster regression of
    ``to`` on ``frm`` in a two-level model, clusters = ``group`` (the ``level``'s id column)), ``level_indirect``
    (a cross-level indirect effect ``frm`` -> ``via`` -> ``to``: the between-cluster product a*b in a two-level
    model, Monte Carlo CI) and ``level_contrast`` (a path of a two_level_sem hypothesis without levels: the
    between-cluster slope in the hypothesised direction and exceeding the within-cluster slope).
    ``sign``: "+", "-",
    "?" (significant, either direction) or "0"/"=" (the null is the hypothesis: supported when not rejected).
    ``relation``: the description of the registry relation (used when the component turns out untestable).

    No R equivalent (the plan of which parameters test a hypothesis).
    """

    kind: str
    sign: str
    frm: str | None = None
    to: str | None = None
    via: tuple[str, ...] = ()
    paths: tuple[tuple[str, str], ...] = ()           # nested: paths fixed to zero
    constructs: tuple[str, ...] = ()
    group: str | None = None                          # data column for multigroup / invariance
    level: str | None = None
    expect: str | None = None
    note: str | None = None
    relation: str | None = None
    y: str | None = None                              # congruence: the Y construct
    surface: tuple[tuple[str, str], ...] = ()         # congruence: (a1..a5, "> 0" | "< 0" | "= 0")
    levels: tuple[tuple[str, str | None], ...] = ()   # nesting: (level, id column)
    moderator: str | None = None                      # interaction: Z (the effect of frm on to depends on Z)
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # structure_comparison: second-order -> its facets
    general: str | None = None                        # structure_comparison: the competing bifactor's general factor


@dataclass(frozen=True)
class HypothesisPlan:
    """What tests one hypothesis: its components (:class:`Component`), the relations that are not tested and why,
    and ``blocked`` when the whole hypothesis cannot be tested.

    No R equivalent (registry bookkeeping); tested in tests/test_model_library.py.
    """

    hypothesis: Hypothesis
    components: tuple[Component, ...]
    untested: tuple[tuple[str, str], ...]             # (relation description, reason)
    blocked: str | None = None                        # whole hypothesis not testable: reason

    @property
    def id(self) -> str:
        return self.hypothesis.id

    @property
    def structural_hypothesis(self) -> bool:
        return any(c.kind in ("path", "indirect", "covariance", "nested") for c in self.components)


# ----------------------------------------------------------------------------------------------------------
# Measurement
# ----------------------------------------------------------------------------------------------------------
def _items(registry: Registry, cid: str, kind: str, columns: set[str] | None) -> list[str]:
    return [i.id for i in registry.items_of(cid) if i.kind == kind and (columns is None or i.id in columns)]


def construct_items(registry: Registry, cid: str, columns: set[str] | None = None) -> list[str]:
    """Every item of ``cid`` in ``columns``: its own (reflective, global, formative) and those of its first-order
    factors (recursively).

    No R equivalent (a registry lookup).
    """
    c = registry.constructs.get(cid)
    out = [i.id for i in registry.items_of(cid) if columns is None or i.id in columns]
    for lo in (c.lower_order if c is not None else []):
        out += construct_items(registry, lo, columns)
    return list(dict.fromkeys(out))


def shared_respondents(registry: Registry, data) -> Any:
    """A function (a, b) -> whether some row of ``data`` answered an item of construct a and one of b: constructs
    no respondent answered together (different questionnaire versions) have no estimable covariance.

    No R equivalent (a pattern check on the data: do two constructs share respondents?).
    """
    cols = set(data.columns)
    rows: dict[str, Any] = {}

    def answered(cid: str):
        if cid not in rows:
            its = construct_items(registry, cid, cols)
            rows[cid] = data[its].notna().any(axis=1).to_numpy() if its else None
        return rows[cid]

    def shared(a: str, b: str) -> bool:
        ra, rb = answered(a), answered(b)
        return True if ra is None or rb is None else bool((ra & rb).any())
    return shared


def measurability(registry: Registry, cid: str, columns: set[str] | None = None) -> str | None:
    """None if ``cid`` can be a latent variable of a generated model, else the reason it cannot.

    No R equivalent (a registry rule).
    """
    c = registry.constructs.get(cid)
    if c is None:
        return f"{cid} is not a registry construct"
    if c.measurement == "observed":
        return f"{cid} is an observed variable, not modelled as a latent variable"
    if c.measurement == "structural" or not c.latent:
        return f"{cid} is a structural (level) entry, not a measured variable"
    if c.identification == "composite":
        blocks, why = score_blocks(registry, cid, columns)
        return None if blocks is not None else why
    if c.identification == "index":
        pairs = [i for i in registry.items_of(cid) if i.kind == "checklist" and i.pair
                 and (columns is None or (i.id in columns and i.pair in columns))]
        return None if pairs else f"{cid}: none of its events (checklist item and significance) is in the data"
    if c.order == "second" and c.measurement == "reflective":
        missing = [lo for lo in c.lower_order if measurability(registry, lo, columns)]
        if len(c.lower_order) - len(missing) + len(_items(registry, cid, "global", columns)) < 2:
            return f"{cid}: fewer than two of its first-order factors are measured in the data"
        return None
    if c.identification == "mimic":
        if len(_items(registry, cid, "global", columns)) < 2:
            return f"{cid}: fewer than two of its global items are in the data (MIMIC needs two)"
        return None
    if len(_items(registry, cid, "reflective", columns)) < 2:
        where = "in the data" if columns is not None else "in the registry"
        return f"{cid}: fewer than two of its items are {where}"
    return None


def measurement_lines(registry: Registry, constructs: Iterable[str], columns: set[str] | None = None
                      ) -> tuple[list[str], list[str], list[str]]:
    """lavaan lines for the constructs (first-order facets of second-order ones added): (lines, modelled ids,
    notes). Unmeasurable constructs become notes.

    No R equivalent (writes ``lavaan::cfa`` measurement syntax from the registry).
    """
    wanted: list[str] = []
    notes: list[str] = []
    for cid in constructs:
        if cid in wanted:
            continue
        why = measurability(registry, cid, columns)
        if why:
            notes.append(f"# not modelled: {why}")
            continue
        c = registry.constructs[cid]
        if c.order == "second" and c.identification != "composite":
            for lo in c.lower_order:
                if lo not in wanted and not measurability(registry, lo, columns):
                    wanted.append(lo)
        wanted.append(cid)
    first, second, mimic, composite = [], [], [], []
    for cid in wanted:
        c = registry.constructs[cid]
        if c.identification in ("composite", "index"):
            col = composite_column(cid)
            composite += [f"{cid} =~ 1*{col}", f"{col} ~~ 0*{col}"]
        elif c.order == "second":
            facets = [lo for lo in c.lower_order if lo in wanted]
            second.append(f"{cid} =~ {' + '.join(facets + _items(registry, cid, 'global', columns))}")
        elif c.identification == "mimic":
            mimic.append(f"{cid} =~ {' + '.join(_items(registry, cid, 'global', columns))}")
            form = _items(registry, cid, "formative", columns)
            if form:
                mimic.append(f"{cid} ~ {' + '.join(form)}")
        else:
            first.append(f"{cid} =~ {' + '.join(_items(registry, cid, 'reflective', columns))}")
    lines: list[str] = []
    if first:
        lines += ["# Reflective constructs (indicators are item ids)", *first]
    if second:
        lines += ["# Second-order constructs (over their first-order factors and own global items)", *second]
    if mimic:
        lines += ["# Formative constructs as MIMIC models (global items; formative items as causes)", *mimic]
    if composite:
        lines += ["# Formative composites and event indices: single-indicator latent variables of their score "
                  "(composite: unit-weighted mean of the sub-activity scale means; index: sum of occurred x "
                  "significance; loading 1, no error variance)", *composite]
    return lines, wanted, notes


COMPOSITE_SUFFIX = "_score"


def composite_column(cid: str) -> str:
    """The data column holding the composite score of formative composite ``cid`` in generated models.

    No R equivalent (a naming rule).
    """
    return f"{cid}{COMPOSITE_SUFFIX}"


def composite_scores(registry: Registry, data, syntax: str, min_answered: float = 0.5):
    """``data`` with the score columns the model ``syntax`` uses (``<cid>_score`` of the formative composites and
    event indices, and of constructs whose score enters latent-product indicators;
    :func:`vccscale.clean.scoring.scale_score`: unit-weighted mean of the sub-activity means, missing when a
    sub-activity is; an index's sum of occurred x significance); ``data`` itself when it uses none.

    No R equivalent (unit-weighted means, a closed form); the model using them matches ``lavaan::sem`` in
    tests/reference/models/composite_reference.R.
    """
    from ..clean.scoring import scale_score

    want = [cid for cid in registry.constructs if re.search(rf"\b{re.escape(composite_column(cid))}\b", syntax)
            and composite_column(cid) not in data.columns]
    if not want:
        return data
    out = data.copy()
    for cid in want:
        score, why = scale_score(registry, cid, data, min_answered)
        if score is None:
            raise ModelError(f"composite {cid} cannot be scored: {why}")
        out[composite_column(cid)] = score.to_numpy()
    return out


# ----------------------------------------------------------------------------------------------------------
# Scale scores (congruence and nesting relations)
# ----------------------------------------------------------------------------------------------------------
def score_blocks(registry: Registry, cid: str, columns: set[str] | None = None
                 ) -> tuple[dict[str, list[str]] | None, str]:
    """The item blocks of ``cid``'s scale score: ({block: item ids}, "") or (None, reason it cannot be scored).

    A block's score is the mean of its items (at least half answered); the construct's score is the
    unit-weighted mean of its blocks. Reflective constructs: one block, their reflective items in the data;
    formative composites (construct-map 5.1) and second-order constructs without own reflective items: one block
    per first-order sub-activity (every sub-activity needs items in the data); MIMIC constructs: their global
    (reflective) items; observed variables: their item(s). With ``columns`` None every registry item counts.

    No R equivalent (registry bookkeeping); tested in tests/test_model_library.py.
    """
    c = registry.constructs.get(cid)
    if c is None:
        return None, f"{cid} is not a registry construct"

    def present(kinds: tuple[str, ...], of: str) -> list[str]:
        return [i.id for i in registry.items_of(of) if i.kind in kinds and (columns is None or i.id in columns)]

    where = "in the data" if columns is not None else "in the registry"
    if c.measurement == "structural":
        return None, f"{cid} is a structural (level) entry, not a measured variable"
    if c.identification == "index":
        return None, f"{cid} is an event index (checklist x significance), not scored as a scale mean"
    if c.measurement == "observed":
        its = present(("observed", "reflective", "global"), cid)
        return ({cid: its}, "") if its else (None, f"{cid}: its item is not {where}")
    if c.identification == "mimic":
        its = present(("global",), cid)
        return ({cid: its}, "") if its else (None, f"{cid}: none of its global items is {where}")
    own = present(("reflective",), cid)
    if own:
        return {cid: own}, ""
    if c.lower_order:
        blocks = {lo: present(("reflective",), lo) for lo in c.lower_order}
        missing = [lo for lo, its in blocks.items() if not its]
        if missing:
            return None, (f"{cid}: the unit-weighted mean of its sub-activities needs all of them, but "
                          f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no items {where}")
        return blocks, ""
    return None, f"{cid}: none of its items is {where}"


def dyad_column(columns: Iterable[str]) -> str | None:
    """The dyad id column of the data (relationship_id, else invite_dyad_id), or None.

    No R equivalent (a column lookup).
    """
    cols = set(columns)
    return next((c for c in DYAD_ID_COLUMNS if c in cols), None)


def level_column(level: str, columns: Iterable[str]) -> str | None:
    """The id column of a nesting level in the data (organisation_id / invite_organisation_id, invite_network_id,
    relationship_id / invite_dyad_id), or None.

    No R equivalent (a column lookup).
    """
    cols = set(columns)
    return next((c for c in LEVEL_COLUMNS.get(level.lower(), ()) if c in cols), None)


# ----------------------------------------------------------------------------------------------------------
# Planning: hypothesis -> components
# ----------------------------------------------------------------------------------------------------------
def _describe(rel: Any) -> str:
    d = rel.model_dump(by_alias=True, exclude_none=True)
    d.pop("note", None)
    t = d.pop("type")
    if "from" in d and "to" in d:
        mid = f" via {'/'.join(d['via'])}" if d.get("via") else ""
        mod = f" x {d['moderator']}" if d.get("moderator") else ""
        return f"{t} {d['from']}{mod}{mid} -> {d['to']}"
    if t == "congruence":
        return f"congruence ({d['x']}, {d['y']}) -> {d['to']}"
    if t == "necessity":
        return f"necessity {d['condition']} for {d['outcome']}"
    if t == "covariance":
        return f"covariance {d['between'][0]} ~~ {d['between'][1]}"
    if "constructs" in d:
        return f"{t} {', '.join(d['constructs'])}" + (f" by {d['group']}" if d.get("group") else "")
    if "construct" in d:
        return f"{t} {d['construct']}" + (f" by {d['group']}" if d.get("group") else "")
    return t


def _expand(registry: Registry, ref: str) -> list[str]:
    return registry.expand(ref) if "*" in ref else [ref]


def _group_column(group: str, group_by_perspective: bool, columns: set[str] | None) -> tuple[str | None, str]:
    col = GROUP_COLUMNS.get(group, group)
    if group == "side" and not group_by_perspective:
        return None, "group_by_perspective is off (models.group_by_perspective)"
    if columns is not None and col not in columns:
        return None, f"grouping column {col!r} is not in the data"
    return col, ""


def _direction(expect: str) -> str:
    """'customer > provider' -> '>' style direction key; 'equal ...' -> '='; otherwise '?'."""
    e = expect.lower()
    if "equal" in e:
        return "="
    if re.match(r"^\s*\w+\s*[<>]\s*\w+\s*$", e):
        return e.strip()
    return "?"


def _ordinal_outcome(registry: Registry, cid: str) -> bool:
    """Whether ``cid`` is an observed variable with an ordinal response scale (an ordered outcome)."""
    c = registry.constructs.get(cid)
    if c is None or c.measurement != "observed":
        return False
    its = registry.items_of(cid)
    return bool(its) and all(registry.scales[i.scale].type == "ordinal" for i in its if i.scale in registry.scales)


def _composite_reason(registry: Registry, cids: Iterable[str], what: str) -> str | None:
    for cid in cids:
        c = registry.constructs.get(cid)
        if c is not None and c.identification == "composite":
            return (f"{cid} is a formative composite (unit-weighted mean of its sub-activities): it has no "
                    f"measurement model, so no {what}")
    return None


#: why cross-level relations other than paths are not tested
CROSS_LEVEL_REASON = ("cross-level covariances and interactions are not built (cross-level paths and indirect effects "
                      "are tested in two-level models)")


def _cross_level(registry: Registry, rel, desc: str, levels: set[str], columns, unmeasured, comps: list,
                 untested: list) -> None:
    """A relation with from_level / to_level beyond micro: a path becomes a ``level_path`` component (the
    between-cluster regression of ``to`` on ``frm`` in a two-level model with respondents nested in organisations,
    or in networks when a level is macro); anything else is untested with the reason."""
    if isinstance(rel, IndirectRel):
        _cross_level_indirect(registry, rel, desc, levels, columns, unmeasured, comps, untested)
        return
    if not isinstance(rel, PathRel):
        untested.append((desc, CROSS_LEVEL_REASON))
        return
    pairs = [(f, t) for f in _expand(registry, rel.from_) for t in _expand(registry, rel.to)]
    if not pairs:
        untested.append((desc, "the path has no registry construct at one end"))
        return
    level = "network" if "macro" in levels else "organisation"
    col, why = _level_id(level, columns)
    why = (_cross_level_reason(any(f == t for f, t in pairs), rel.sign, "path") or why
           or unmeasured(dict.fromkeys(x for p in pairs for x in p)))
    if why:
        untested.append((desc, why))
        return
    for f, t in pairs:
        comps.append(Component("level_path", rel.sign, frm=f, to=t, group=col, level=level, note=rel.note,
                               relation=desc))


def _level_id(level: str, columns) -> tuple[str | None, str | None]:
    """(id column, None) of a nesting level, (None, reason) when the data lack it; (None, None) without columns."""
    if columns is None:
        return None, None
    col = level_column(level, columns)
    if col is None:
        return None, (f"a two-level model by {level} needs the {level} id column "
                      f"({' or '.join(LEVEL_COLUMNS[level])})")
    return col, None


def _cross_level_reason(same_construct: bool, sign: str, what: str) -> str | None:
    """Why a cross-level relation cannot be a two-level test (a construct at two levels, a zero hypothesis), or
    None."""
    if same_construct:
        return ("the same construct at two levels (e.g. individual- vs organisation-referent items) cannot be "
                "separated in a two-level model of one item set; split its items into two constructs to test it")
    if sign not in ("+", "-", "?"):
        return (f"a cross-level {what} hypothesised to be zero needs an equivalence test in the two-level model "
                "(not built)")
    return None


def _cross_level_indirect(registry: Registry, rel, desc: str, levels: set[str], columns, unmeasured, comps: list,
                          untested: list) -> None:
    """A cross-level indirect effect (e.g. 1-2-2 mediation): a ``level_indirect`` component, the between-cluster
    product a*b of x_b -> m_b -> y_b in a two-level model of the three constructs, with a Monte Carlo CI."""
    froms, tos = _expand(registry, rel.from_), _expand(registry, rel.to)
    vias = [_expand(registry, v) for v in rel.via]
    if len(froms) != 1 or len(tos) != 1 or len(vias) != 1 or len(vias[0]) != 1:
        untested.append((desc, "a multilevel indirect effect is built for one registry construct at each end and "
                               "one mediator"))
        return
    f, m, t = froms[0], vias[0][0], tos[0]
    level = "network" if "macro" in levels else "organisation"
    col, why = _level_id(level, columns)
    why = _cross_level_reason(len({f, m, t}) < 3, rel.sign, "indirect effect") or why or unmeasured([f, m, t])
    if why:
        untested.append((desc, why))
        return
    comps.append(Component("level_indirect", rel.sign, frm=f, via=(m,), to=t, group=col, level=level,
                           note=rel.note, relation=desc))


def _structure_comparison(registry: Registry, structures, columns, unmeasured, comps: list, untested: list) -> None:
    """The competing measurement models of a hierarchy claim (H52): a ``structure_comparison`` component over the
    first-order constructs of the structure relations, their second-order groups, and the general factor of the
    competing bifactor (a structure relation whose construct has items of its own and whose facets include every
    other relation's facets)."""
    desc = "; ".join(f"structure {r.construct}" for r in structures)
    groups, general = [], None
    firsts: list[str] = []
    for r in structures:
        facets = [f for ref in r.facets for f in _expand(registry, ref)]
        c = registry.constructs.get(r.construct)
        if c is not None and c.lower_order:
            groups.append((r.construct, tuple(facets)))
        firsts += facets
    for r in structures:
        c = registry.constructs.get(r.construct)
        facets = {f for ref in r.facets for f in _expand(registry, ref)}
        others = {f for g in groups for f in g[1]}
        if c is not None and not c.lower_order and facets >= others:
            general = r.construct
            firsts.append(r.construct)
    firsts = list(dict.fromkeys(firsts))
    why = unmeasured(firsts) or next((f"{f} has no reflective items of its own" for f in firsts
                                      if not _items(registry, f, "reflective", columns)), None)
    if not groups:
        why = why or "no second-order construct among the structure relations to compare with the flat model"
    if why:
        untested.append((desc, why))
        return
    comps.append(Component("structure_comparison", "?", constructs=tuple(firsts), groups=tuple(groups),
                           general=general, relation=desc,
                           note="second-order vs flat, one-factor and bifactor measurement models"))


def _hypothesis_level(h: Hypothesis) -> str:
    """The nesting level a hypothesis's within-vs-between comparison is about: the first level of its nesting
    relations (H28: dyad), else organisation."""
    for rel in h.relations:
        if isinstance(rel, NestingRel) and rel.levels:
            return rel.levels[0].lower()
    return "organisation"


def _product_score_reason(registry: Registry, cid: str, columns) -> str | None:
    """None when ``cid`` can enter latent-product indicators: by reflective items of its own, else (second-order
    constructs) by its scale score, the mean of its facets' means; else the reason. A formative composite or
    event index is modelled as its score without measurement error; products of that score with the moderator's
    items make the casewise scores linearly dependent, so the robust (MLR, cluster-robust) information is singular
    (measured on the family B pilot: smallest eigenvalue 5e-19) and such models are not used."""
    if _items(registry, cid, "reflective", columns):
        return None
    c = registry.constructs.get(cid)
    if c is not None and c.identification in ("index", "composite"):
        return (f"{cid} is a formative {c.identification} (its score without measurement error): latent product "
                "indicators of it make the robust information singular; test the moderation on scale scores "
                "(vccscale.models.simple_slopes) instead")
    return score_blocks(registry, cid, columns)[1] or None


def plan_hypothesis(registry: Registry, h: Hypothesis, columns: set[str] | None = None, *,
                    group_by_perspective: bool = True) -> HypothesisPlan:
    """What tests ``h``: its components (see :class:`Component`) and the relations that are not tested.

    No R equivalent (registry bookkeeping); tested in tests/test_model_library.py.
    """
    blocked = next((METHOD_REASONS[m] for m in h.test.methods if m in METHOD_REASONS), None)
    if blocked and not any(r.type in SCORE_RELATIONS for r in h.relations):
        return HypothesisPlan(h, (), tuple((_describe(r), blocked) for r in h.relations), blocked)
    outcome_reason = next((OUTCOME_METHODS[m] for m in h.test.methods if m in OUTCOME_METHODS), None)

    comps: list[Component] = []
    untested: list[tuple[str, str]] = []
    zero_paths: list[tuple[str, str]] = []

    def unmeasured(ids: Iterable[str]) -> str | None:
        for cid in ids:
            why = measurability(registry, cid, columns)
            if why:
                c = registry.constructs.get(cid)
                if outcome_reason and c is not None and c.measurement == "observed":
                    return f"{why}; {outcome_reason}"
                return why
        return None

    for rel in h.relations:
        desc = _describe(rel)
        if blocked and rel.type not in SCORE_RELATIONS:
            untested.append((desc, blocked))
            continue
        if isinstance(rel, StructureRel):
            continue  # part of the measurement model (compared with its competitors below for bifactor_comparison)
        if (isinstance(rel, PathRel) and "bifactor_comparison" in h.test.methods
                and len(_expand(registry, rel.to)) > 1):
            # a path to what a set of constructs shares (H56: d_cap_* -> the general practice factor)
            targets = [t for t in _expand(registry, rel.to) if t != rel.from_]
            why = unmeasured([rel.from_, *targets]) or next(
                (f"{t} has no reflective items of its own for the general factor" for t in targets
                 if not _items(registry, t, "reflective", columns)), None)
            if why:
                untested.append((desc, why))
                continue
            comps.append(Component("general_path", rel.sign, frm=rel.from_, constructs=tuple(targets), note=rel.note,
                                   relation=desc))
            continue
        reason = RELATION_REASONS.get(rel.type)
        if reason:
            untested.append((desc, reason))
            continue
        levels = {x for x in (getattr(rel, "from_level", None), getattr(rel, "to_level", None)) if x}
        if levels and levels != {"micro"}:
            _cross_level(registry, rel, desc, levels, columns, unmeasured, comps, untested)
            continue
        two_level = next((m for m in h.test.methods if m in TWO_LEVEL_METHODS), None)
        if two_level and not levels and rel.type not in SCORE_RELATIONS and not isinstance(rel, StructureRel):
            pairs = ([(f, t) for f in _expand(registry, rel.from_) for t in _expand(registry, rel.to)]
                     if isinstance(rel, PathRel) else [])
            if two_level != "two_level_sem" or not pairs or any(f == t for f, t in pairs) \
                    or rel.sign not in ("+", "-", "?"):
                untested.append((desc, TWO_LEVEL_METHODS[two_level]
                                 + ("" if pairs else " (built for paths between registry constructs)")))
                continue
            level = _hypothesis_level(h)
            if level not in LEVEL_COLUMNS:
                untested.append((desc, f"no id column is known for the level {level!r}"))
                continue
            col, why = _level_id(level, columns)
            why = why or unmeasured(dict.fromkeys(x for p in pairs for x in p))
            if why:
                untested.append((desc, why))
                continue
            for f, t in pairs:
                # within- vs between-cluster effect: the between slope in the hypothesised direction and larger
                # than the within slope (H28: "the between-dyad effect exceeds the within-dyad effect")
                comps.append(Component("level_contrast", rel.sign, frm=f, to=t, group=col, level=level,
                                       note=rel.note, relation=desc))
            continue
        if isinstance(rel, PathRel):
            pairs = [(f, t) for f in _expand(registry, rel.from_) for t in _expand(registry, rel.to)]
            if not pairs or any(f == t for f, t in pairs):
                untested.append((desc, "the path has no registry construct at one end (pattern without match "
                                       "or a general factor)"))
                continue
            if (outcome_reason and "ordinal_regression" in h.test.methods and rel.sign in ("+", "-", "?")
                    and all(_ordinal_outcome(registry, t) for _, t in pairs)):
                # an ordered observed outcome (b_bmi_stage): proportional-odds regression on scale scores
                why = next((w for w in (score_blocks(registry, c, columns)[1]
                                        for c in dict.fromkeys(x for p in pairs for x in p)) if w), None)
                if why:
                    untested.append((desc, f"{why} (ordinal regression needs its score)"))
                    continue
                for f, t in pairs:
                    comps.append(Component("ordinal", rel.sign, frm=f, to=t, note=rel.note, relation=desc))
                continue
            why = unmeasured(dict.fromkeys(x for p in pairs for x in p))  # in relation order, not hash order
            if why:
                untested.append((desc, why))
                continue
            for f, t in pairs:
                if rel.sign == "0":
                    zero_paths.append((f, t))
                else:
                    comps.append(Component("path", rel.sign, frm=f, to=t, note=rel.note))
        elif isinstance(rel, IndirectRel):
            froms, tos = _expand(registry, rel.from_), _expand(registry, rel.to)
            vias = [_expand(registry, v) for v in rel.via]
            if not froms or not tos or any(len(v) != 1 for v in vias):
                untested.append((desc, "the indirect effect has a pattern without a single registry construct"))
                continue
            why = unmeasured([*froms, *(v[0] for v in vias), *tos])
            if why:
                untested.append((desc, why))
                continue
            for f in froms:
                for t in tos:
                    comps.append(Component("indirect", rel.sign, frm=f, via=tuple(v[0] for v in vias), to=t,
                                           note=rel.note))
        elif isinstance(rel, CovarianceRel):
            why = unmeasured(rel.between)
            if why:
                untested.append((desc, why))
                continue
            comps.append(Component("covariance", rel.sign, frm=rel.between[0], to=rel.between[1], note=rel.note))
        elif isinstance(rel, GroupModerationRel):
            why = unmeasured([rel.from_, rel.to])
            col, gwhy = _group_column(rel.group, group_by_perspective, columns)
            if why or col is None:
                untested.append((desc, why or gwhy))
                continue
            d = _direction(rel.expect)
            comps.append(Component("multigroup", "=" if d == "=" else "?", frm=rel.from_, to=rel.to, group=col,
                                   expect=rel.expect, note=rel.note))
        elif isinstance(rel, InvarianceRel):
            cids = [c for r in rel.constructs for c in _expand(registry, r)]
            # a formative composite has no measurement model of its own: its sub-activities' invariance is tested
            cids = list(dict.fromkeys(x for c in cids for x in (
                registry.constructs[c].lower_order if c in registry.constructs
                and registry.constructs[c].identification == "composite" else [c])))
            why = unmeasured(cids)
            col, gwhy = _group_column(rel.group, group_by_perspective, columns)
            if why or col is None:
                untested.append((desc, why or gwhy))
                continue
            comps.append(Component("invariance", "=", constructs=tuple(cids), group=col, level=rel.level,
                                   note=rel.note))
        elif isinstance(rel, GroupDifferenceRel):
            why = unmeasured([rel.construct]) or _composite_reason(registry, [rel.construct], "a latent mean")
            col, gwhy = _group_column(rel.group, group_by_perspective, columns)
            if why or col is None:
                untested.append((desc, why or gwhy))
                continue
            d = _direction(rel.expect)
            sign = "=" if d == "=" else ("+" if d != "?" else "?")
            comps.append(Component("group_difference", sign, constructs=(rel.construct,), group=col, level="scalar",
                                   expect=rel.expect, note=rel.note, relation=desc))
        elif isinstance(rel, DistinctRel):
            cids = [c for r in rel.constructs for c in _expand(registry, r)]
            why = unmeasured(cids) or _composite_reason(registry, cids, "a factor of its own in a CFA")
            if why:
                untested.append((desc, why))
                continue
            comps.append(Component("distinct", "+", constructs=tuple(cids), note=rel.note))
        elif isinstance(rel, CongruenceRel):
            why = next((w for w in (score_blocks(registry, cid, columns)[1]
                                    for cid in dict.fromkeys((rel.x, rel.y, rel.to))) if w), None)
            if why:
                untested.append((desc, f"{why} (response surface analysis needs its scale score)"))
                continue
            dyad = None
            if rel.x == rel.y and columns is not None:
                dyad = dyad_column(columns)
                if dyad is None:
                    untested.append((desc, DYAD_REASON))
                    continue
                if "perspective" not in columns:
                    untested.append((desc, ("the dyadic pairing of provider and customer scores needs the "
                                            "perspective column")))
                    continue
            comps.append(Component("congruence", "rsa", frm=rel.x, y=rel.y, to=rel.to, group=dyad,
                                   surface=tuple(rel.expect.items()), note=rel.note, relation=desc))
        elif isinstance(rel, NestingRel):
            cids = [c for r in rel.constructs for c in _expand(registry, r)]
            ok = []
            for cid in cids:
                why = score_blocks(registry, cid, columns)[1]
                if why:
                    untested.append((f"nesting {cid}", f"{why} (ICC(1) needs its scale score)"))
                else:
                    ok.append(cid)
            levels = []
            for lv in rel.levels:
                col = level_column(lv, columns) if columns is not None else None
                if columns is not None and col is None:
                    known = LEVEL_COLUMNS.get(lv.lower())
                    untested.append((f"nesting {', '.join(cids)} in {lv}",
                                     f"no id column for the level {lv!r} in the data ({' or '.join(known)})" if known
                                     else f"no id column is known for the level {lv!r}"))
                    continue
                levels.append((lv, col))
            if ok and levels:
                comps.append(Component("nesting", "+", constructs=tuple(ok), levels=tuple(levels), note=rel.note,
                                       relation=desc))
        elif isinstance(rel, InteractionRel):
            xs, zs, ts = (_expand(registry, r) for r in (rel.from_, rel.moderator, rel.to))
            # an outcome pattern (H50: c_v*) gives one interaction per outcome; X and the moderator are one each
            ts = [t for t in ts if t not in xs + zs]
            if len(xs) != 1 or len(zs) != 1 or not ts or xs[0] == zs[0]:
                untested.append((desc, "the interaction needs one registry construct each for X and the moderator, "
                                       "and at least one other for the outcome"))
                continue
            why = unmeasured([xs[0], zs[0], *ts]) or next(
                (f"{c} cannot enter latent product indicators: {w}"
                 for c, w in ((c, _product_score_reason(registry, c, columns)) for c in (xs[0], zs[0])) if w),
                None)
            if why:
                untested.append((desc, why))
                continue
            for t in ts:
                comps.append(Component("interaction", "?" if rel.sign not in ("+", "-") else rel.sign, frm=xs[0],
                                       moderator=zs[0], to=t, note=rel.note, relation=desc))
        elif isinstance(rel, NecessityRel):
            why = next((w for w in (score_blocks(registry, cid, columns)[1] for cid in (rel.condition, rel.outcome))
                        if w), None)
            if why:
                untested.append((desc, f"{why} (necessary condition analysis needs its scale score)"))
                continue
            comps.append(Component("necessity", "+", frm=rel.condition, to=rel.outcome, note=rel.note,
                                   relation=desc))
        else:  # pragma: no cover - a new relation type
            untested.append((desc, f"relation type {rel.type!r} has no test in the model library"))
    if zero_paths:
        comps.append(Component("nested", "0", paths=tuple(dict.fromkeys(zero_paths)),
                               note="paths of sign 0 fixed to zero vs free (chi-square difference, AIC, BIC)"))
    structures = [r for r in h.relations if isinstance(r, StructureRel)]
    if structures and "bifactor_comparison" in h.test.methods and not blocked:
        _structure_comparison(registry, structures, columns, unmeasured, comps, untested)
    if blocked and not any(why == blocked for _, why in untested):
        # the score relations are tested, the method the hypothesis names is not: say so (never "full")
        method = next(m for m in h.test.methods if m in METHOD_REASONS)
        untested.append((f"{method.replace('_', ' ')} test", blocked))
    return HypothesisPlan(h, tuple(comps), tuple(untested), blocked)


# ----------------------------------------------------------------------------------------------------------
# Model generation
# ----------------------------------------------------------------------------------------------------------
def _chains(edges: dict[str, list[str]], frm: str, to: str, limit: int = 200) -> list[tuple[str, ...]]:
    """Every directed chain frm -> ... -> to with at least one mediator (simple paths)."""
    out: list[tuple[str, ...]] = []

    def walk(node: str, seen: tuple[str, ...]) -> None:
        if len(out) >= limit:
            return
        for nxt in edges.get(node, []):
            if nxt == to and len(seen) > 1:
                out.append(seen[1:])
            elif nxt not in seen and nxt != to:
                walk(nxt, seen + (nxt,))

    walk(frm, (frm,))
    return out


def build_model(registry: Registry, hypotheses: Iterable[Hypothesis | HypothesisPlan], controls: Iterable[str] = (),
                columns: Iterable[str] | None = None, *, zero: Iterable[tuple[str, str]] = (),
                groups: int = 1, equal: Iterable[tuple[str, str]] = (), group_by_perspective: bool = True,
                title: str | None = None, shared: Any = None) -> ModelSpec:
    """The lavaan model for a set of hypotheses (plus controls), over the item ids.

    ``columns``: the data's columns (items not in the data are left out; constructs with fewer than two items
    are not modelled). ``zero``: paths (from, to) fixed to 0 (the constrained model of a nested comparison).
    ``groups`` > 1 writes per-group labels ``c(p1.g1, p1.g2)`` (multi-group model; ``:=`` lines are not written
    then), and paths in ``equal`` get one label shared by all groups (equality constraint). ``shared(a, b)``
    (e.g. :func:`shared_respondents`) says whether two constructs were answered by the same respondents: the
    covariance of exogenous constructs no respondent answered together is not estimable and is fixed at 0 (said in
    a comment), and their residual covariances are not freed.

    R: the syntax is lavaan's; ``lavaan::sem`` fits it to the same values
    (tests/reference/models/lavaan_reference.R).
    """
    cols = set(columns) if columns is not None else None
    plans = [p if isinstance(p, HypothesisPlan) else
             plan_hypothesis(registry, p, cols, group_by_perspective=group_by_perspective) for p in hypotheses]
    zero_set, equal_set = set(zero), set(equal)

    paths: list[tuple[str, str]] = []
    covs: list[tuple[str, str]] = []
    constructs: list[str] = []
    indirect_rel: list[tuple[str, tuple[str, ...], str]] = []
    inter: list[tuple[str, str, str]] = []

    def add_c(*ids: str) -> None:
        for c in ids:
            if c not in constructs:
                constructs.append(c)

    def add_p(f: str, t: str) -> None:
        if (f, t) not in paths:
            paths.append((f, t))
        add_c(f, t)

    for plan in plans:
        for rel in plan.hypothesis.relations:
            if isinstance(rel, StructureRel) and not plan.blocked and not measurability(registry, rel.construct, cols):
                add_c(rel.construct)
        for comp in plan.components:
            if comp.kind in ("path", "multigroup"):
                add_p(comp.frm, comp.to)
            elif comp.kind == "indirect":
                chain = (comp.frm, *comp.via, comp.to)
                for a, b in pairwise(chain):
                    add_p(a, b)
                indirect_rel.append((comp.frm, comp.via, comp.to))
            elif comp.kind == "nested":
                for f, t in comp.paths:
                    add_p(f, t)
            elif comp.kind == "covariance":
                if (comp.frm, comp.to) not in covs:
                    covs.append((comp.frm, comp.to))
                add_c(comp.frm, comp.to)
            elif comp.kind == "interaction":
                add_p(comp.frm, comp.to)
                add_p(comp.moderator, comp.to)
                if (comp.frm, comp.moderator, comp.to) not in inter:
                    inter.append((comp.frm, comp.moderator, comp.to))
    if not constructs:
        raise ModelError("no structural relation of the chosen hypotheses can be modelled: "
                          + "; ".join(f"{p.id}: {r}" for p in plans for _, r in p.untested[:1]))

    controls = list(dict.fromkeys(controls))
    ctrl_constructs = [c for c in controls if c in registry.constructs]
    ctrl_observed = [c for c in controls if c not in registry.constructs]
    if cols is not None:
        missing = [c for c in ctrl_observed if c not in cols]
        if missing:
            raise ModelError(f"control(s) {missing} are neither registry constructs nor data columns")
    mlines, modelled, notes = measurement_lines(registry, constructs + ctrl_constructs, cols)
    unmodelled = [c for c in constructs if c not in modelled]
    if unmodelled:
        raise ModelError(f"construct(s) {unmodelled} of the structural part cannot be modelled: "
                         + "; ".join(n.lstrip("# ") for n in notes))

    def lab(name: str, pair: tuple[str, str]) -> str:
        if groups == 1:
            return name
        if pair in equal_set:
            return f"c({', '.join([name] * groups)})"
        return f"c({', '.join(f'{name}.g{g + 1}' for g in range(groups))})"

    labels: dict[tuple[str, str], str] = {}
    k = 0
    for pair in paths:
        k += 1
        if pair not in zero_set:
            labels[pair] = f"p{k}"
    # structural lines grouped by outcome, in order of first appearance
    outcomes = list(dict.fromkeys(t for _, t in paths))
    slines = ["# Structural part: labelled paths"]
    for pair in paths:
        slines.append(f"#   {labels.get(pair, '0 (fixed)')}: {pair[0]} -> {pair[1]}")
    ctrl_all = [c for c in ctrl_constructs if c in modelled] + ctrl_observed
    kc = 0
    for t in outcomes:
        terms = []
        for f, tt in paths:
            if tt != t:
                continue
            terms.append(f"0*{f}" if (f, t) in zero_set else f"{lab(labels[(f, t)], (f, t))}*{f}")
        for c in ctrl_all:
            if c != t and c not in [f for f, tt in paths if tt == t]:
                kc += 1
                terms.append(f"{lab(f'k{kc}', (c, t))}*{c}")
        slines.append(f"{t} ~ {' + '.join(terms)}")
    # latent interactions: XZ =~ double-mean-centred products of matched item pairs (in item order, as
    # semTools::indProd(match = TRUE)); the product columns are computed by product_indicators()
    products: dict[str, tuple[str, str]] = {}
    inter_labels: dict[tuple[str, str, str], str] = {}
    ilines: list[str] = []
    for k, (x, z, t) in enumerate(inter, 1):
        # a construct without reflective items of its own (second-order, formative composite, event index) enters
        # the products by its scale score; with a single indicator on one side every product is used (as
        # semTools::indProd(match = FALSE)), otherwise matched pairs
        xi = _items(registry, x, "reflective", cols) or [composite_column(x)]
        zi = _items(registry, z, "reflective", cols) or [composite_column(z)]
        pairs_k = [(a, b) for a in xi for b in zi] if min(len(xi), len(zi)) == 1 else list(zip(xi, zi))
        name = f"{x}.x.{z}"
        cols_k = []
        for j, (a, b) in enumerate(pairs_k, 1):
            pc = f"dmc{k}_{j}"
            products[pc] = (a, b)
            cols_k.append(pc)
        lab_k = f"i{k}"
        inter_labels[(x, z, t)] = lab_k
        ilines += [f"# {lab_k}: interaction {x} x {z} -> {t} (latent product of {len(cols_k)} matched pairs)",
                   f"{name} =~ {' + '.join(cols_k)}", f"{t} ~ {lab(lab_k, (name, t))}*{name}"]
    if ilines:
        slines += ["# Latent interactions (double-mean-centred product indicators, Lin et al. 2010)"] + ilines
    cov_labels: dict[tuple[str, str], str] = {}
    for i, (a, b) in enumerate(covs, 1):
        cov_labels[(a, b)] = f"cv{i}"
        slines.append(f"{a} ~~ {lab(f'cv{i}', (a, b))}*{b}")
    # disturbances of endogenous constructs that no path links (neither reaches the other) may covary: they can
    # share causes outside the model, e.g. facets of one higher-order construct (as lavaan's auto.cov.y does for
    # observed outcomes); fixing them at 0 would show up as misfit in every nested comparison
    reach: dict[str, set[str]] = {}
    succ: dict[str, list[str]] = {}
    for f, t in paths:
        succ.setdefault(f, []).append(t)

    def _reach(c: str) -> set[str]:
        if c not in reach:
            reach[c] = set()
            stack = list(succ.get(c, []))
            while stack:
                x = stack.pop()
                if x not in reach[c]:
                    reach[c].add(x)
                    stack += succ.get(x, [])
        return reach[c]

    joint = shared or (lambda a, b: True)
    endo = [t for t in outcomes if t in modelled]
    free_res = [(a, b) for i, a in enumerate(endo) for b in endo[i + 1:]
                if b not in _reach(a) and a not in _reach(b) and (a, b) not in covs and (b, a) not in covs
                and joint(a, b)]
    if free_res:
        slines.append("# Residual covariances of endogenous constructs that no path links")
        slines += [f"{a} ~~ {b}" for a, b in free_res]
    indicators = {x.strip() for ln in mlines if "=~" in ln and not ln.lstrip().startswith("#")
                  for x in ln.split("=~", 1)[1].split("+")}
    exo = [c for c in constructs if c in modelled and c not in outcomes and c not in indicators]
    apart = [(a, b) for group_ in (exo, endo) for i, a in enumerate(group_) for b in group_[i + 1:]
             if not joint(a, b) and (a, b) not in covs and (b, a) not in covs]
    if apart:
        slines.append("# (Residual) covariances of constructs no respondent answered together: not estimable, fixed "
                      "at 0")
        slines += [f"{a} ~~ 0*{b}" for a, b in apart]

    defined: dict[str, str] = {}
    ind_names: dict[tuple[str, tuple[str, ...], str], str] = {}
    tind: dict[tuple[str, str], str] = {}
    tot: dict[tuple[str, str], str] = {}
    dlines: list[str] = []
    if groups == 1 and indirect_rel:
        edges: dict[str, list[str]] = {}
        for f, t in labels:
            edges.setdefault(f, []).append(t)
        dlines.append("# Defined parameters: specific indirect, total indirect and total effects")
        ni = 0
        for f, t in dict.fromkeys((f, t) for f, _, t in indirect_rel):
            chains = _chains(edges, f, t)
            names = []
            for via in chains:
                if (f, via, t) in ind_names:
                    names.append(ind_names[(f, via, t)])
                    continue
                ni += 1
                full = (f, *via, t)
                expr = "*".join(labels[(a, b)] for a, b in pairwise(full))
                name = f"ind{ni}"
                ind_names[(f, via, t)] = name
                defined[name] = expr
                names.append(name)
                dlines += [f"# {name}: {' -> '.join(full)}", f"{name} := {expr}"]
            if not names:
                continue
            tname = f"tind{len(tind) + 1}"
            tind[(f, t)] = tname
            defined[tname] = " + ".join(names)
            dlines += [f"# {tname}: total indirect {f} -> {t}", f"{tname} := {defined[tname]}"]
            if (f, t) in labels:
                oname = f"total{len(tot) + 1}"
                tot[(f, t)] = oname
                defined[oname] = f"{labels[(f, t)]} + {tname}"
                dlines += [f"# {oname}: total {f} -> {t}", f"{oname} := {defined[oname]}"]

    head = ["# vccscale structural model (lavaan syntax)" + (f": {title}" if title else ""),
            "# Generated from the registry: " + ", ".join(p.id for p in plans)]
    if controls:
        head.append(f"# Controls: {', '.join(controls)}")
    if zero_set:
        head.append("# Constrained model: " + ", ".join(f"{f} -> {t}" for f, t in paths if (f, t) in zero_set)
                    + " fixed to 0")
    if groups > 1:
        head.append(f"# Multi-group model ({groups} groups)" + (
            "; equal across groups: " + ", ".join(f"{f} -> {t}" for f, t in [*(p for p in paths if p in equal_set),
                                                                          *sorted(equal_set - set(paths))])
            if equal_set else ""))
    body = head + [""] + mlines + [""] + slines + ([""] + dlines if dlines else [])
    if notes:
        body += ["", *notes]
    syntax = "\n".join(body).rstrip() + "\n"
    return ModelSpec(syntax=syntax, measurement="\n".join(mlines) + "\n", structural="\n".join(slines) + "\n",
                     constructs=tuple(modelled), paths=labels, defined=defined, indirect=ind_names,
                     total_indirect=tind, total=tot, covariances=cov_labels, zero=frozenset(zero_set),
                     notes=tuple(n.lstrip("# ") for n in notes), groups=groups, products=products,
                     interactions=inter_labels)


def product_indicators(data, products: dict[str, tuple[str, str]]):
    """``data`` with the product indicators of latent interactions added: for each (x, z) item pair, both
    mean-centred, multiplied, and the product mean-centred again (double mean centring, Lin et al. 2010; as
    ``semTools::indProd(..., match = TRUE, meanC = TRUE, doubleMC = TRUE)``). Missing when either item is."""
    if not products:
        return data
    new = {}
    for pc, (a, b) in products.items():
        xa = data[a].astype(float)
        xb = data[b].astype(float)
        prod = (xa - xa.mean()) * (xb - xb.mean())
        new[pc] = prod - prod.mean()
    return data.assign(**new)


# ----------------------------------------------------------------------------------------------------------
# Selection from a study's models section
# ----------------------------------------------------------------------------------------------------------
def plan_edges(plan: HypothesisPlan) -> set[tuple[str, str]]:
    """The directed construct-to-construct edges a plan's structural model holds (paths, the links of indirect
    effects, paths fixed to zero).

    No R equivalent (graph bookkeeping).
    """
    edges: set[tuple[str, str]] = set()
    for c in plan.components:
        if c.kind == "path":
            edges.add((c.frm, c.to))
        elif c.kind == "indirect":
            chain = (c.frm, *c.via, c.to)
            edges.update(pairwise(chain))
        elif c.kind == "nested":
            edges.update(c.paths)
    return edges


def find_cycles(edges: Iterable[tuple[str, str]]) -> list[tuple[str, ...]]:
    """Feedback loops of a directed graph: one cycle (as its node sequence, closed) per strongly connected
    component with more than one node, and every self-loop; sorted. A recursive (acyclic) model has none.

    No R equivalent (graph bookkeeping; lavaan fits non-recursive models without saying so).
    """
    graph: dict[str, set[str]] = {}
    out: list[tuple[str, ...]] = []
    for a, b in edges:
        if a == b:
            out.append((a, a))
            continue
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    # Tarjan's strongly connected components (iterative)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(comp)
    for comp in comps:
        members = set(comp)
        start = min(comp)
        # one cycle through the component: shortest path back to the start (breadth first)
        prev: dict[str, str] = {}
        queue = [start]
        found = None
        while queue and found is None:
            nxt_q = []
            for v in queue:
                for w in sorted(graph[v]):
                    if w not in members:
                        continue
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt_q.append(w)
                if found is not None:
                    break
            queue = nxt_q
        path = [start]
        v = found
        while v is not None and v != start:
            path.append(v)
            v = prev.get(v)
        out.append(tuple([start, *reversed(path[1:]), start]))
    return sorted(out)


#: what each component kind is tested with (the plan's ``method`` per component)
KIND_METHODS = {
    "path": "SEM path (Wald z of the labelled coefficient)",
    "indirect": "indirect effect (:= product; percentile bootstrap CI when models.bootstrap is set)",
    "covariance": "latent covariance (Wald z)",
    "nested": "paths fixed to zero vs free (chi-square difference) and joint equivalence test",
    "multigroup": "path equal across groups vs free (chi-square difference)",
    "invariance": "measurement invariance sequence (configural, metric, scalar; delta-CFI rule)",
    "group_difference": "latent mean difference after (partial) scalar invariance",
    "distinct": "discriminant validity: one- vs multi-factor CFA (chi-square difference) and HTMT",
    "congruence": "polynomial regression with response surface analysis",
    "nesting": "ICC(1) of scale scores with the one-way ANOVA F test",
    "interaction": "latent interaction: double-mean-centred matched-pair product indicators (Lin et al. 2010)",
    "ordinal": "proportional-odds ordinal regression (as MASS::polr) with the Brant test",
    "necessity": "necessary condition analysis (CE-FDH, effect size d, permutation test; Dul 2016)",
    "level_path": "two-level SEM: between-cluster path of the latent cluster means",
    "level_indirect": "two-level SEM: between-cluster indirect effect with a Monte Carlo CI",
    "level_contrast": "two-level SEM: between- vs within-cluster slope (difference by the delta method)",
    "structure_comparison": "competing CFAs: one-factor vs flat (chi-square difference), second-order vs flat "
                            "(equivalence of fit: RMSEA of the difference below .05), bifactor reported",
    "general_path": "higher-order general factor of the targets: its path, and the specific paths jointly "
                    "negligible (equivalence of fit of the nested models)",
}


def plan_record(registry: Registry, plan: HypothesisPlan, family_cycles: Iterable[tuple[str, ...]] = ()) -> dict:
    """What ``plan`` tests, as the ``vccscale hypotheses plan`` row: id, family, statement, ``status`` (full /
    partial / not_tested), ``reason`` (the untested relations' reasons), the components with their methods, the
    untested relations, ``self_loop`` (a path from a construct to itself), ``cycle`` (the paths of the
    hypothesis's model form a feedback loop, alone or, ``family_cycles``, in a family-scope model) and ``fix``.

    No R equivalent (registry bookkeeping).
    """
    h = plan.hypothesis
    status = "not_tested" if not plan.components else "partial" if plan.untested else "full"
    self_loop = any(isinstance(r, PathRel) and any(f == t for f in _expand(registry, r.from_)
                                                  for t in _expand(registry, r.to)) for r in h.relations)
    edges = plan_edges(plan)
    own = find_cycles(edges)
    shared = [c for c in family_cycles if any(e in edges for e in pairwise(c))]
    cycles = own + [c for c in shared if c not in own]
    fix = None
    if self_loop:
        fix = ("a construct cannot cause itself in one model: split its items into an individual- and an "
               "organisation-referent construct (two registry ids) to test the cross-level path")
    elif cycles:
        fix = ("a feedback loop needs a non-recursive model with instruments (not built): the hypotheses are tested "
               "in separate models, and the report says so")
    comps = []
    for c in plan.components:
        rec = {"kind": c.kind, "method": KIND_METHODS.get(c.kind, c.kind), "sign": c.sign}
        for k in ("frm", "to", "via", "group", "level", "moderator", "y", "constructs", "general"):
            v = getattr(c, k)
            if v:
                rec["from" if k == "frm" else k] = list(v) if isinstance(v, tuple) else v
        if c.groups:
            rec["groups"] = {g: list(f) for g, f in c.groups}
        comps.append(rec)
    return {"id": h.id, "family": h.family, "statement": h.statement, "methods": list(h.test.methods),
            "status": status,
            "reason": plan.blocked or ("; ".join(f"{d}: {w}" for d, w in plan.untested) or None),
            "components": comps, "untested": [{"relation": d, "reason": w} for d, w in plan.untested],
            "self_loop": self_loop, "cycle": bool(cycles), "cycles": [list(c) for c in cycles], "fix": fix}


def plan_records(registry: Registry, hypotheses: Iterable[Hypothesis], columns: set[str] | None = None, *,
                 scope: str = "hypothesis") -> list[dict]:
    """:func:`plan_record` of every hypothesis; with ``scope="family"`` the cycles of each family's joint model
    (the union of its hypotheses' paths) are flagged too.

    No R equivalent (registry bookkeeping).
    """
    plans = [plan_hypothesis(registry, h, columns) for h in hypotheses]
    fam_cycles: dict[str, list] = {}
    if scope == "family":
        for fam in dict.fromkeys(p.hypothesis.family for p in plans):
            edges = set().union(*(plan_edges(p) for p in plans if p.hypothesis.family == fam
                                  and p.structural_hypothesis))
            fam_cycles[fam] = find_cycles(edges)
    return [plan_record(registry, p, fam_cycles.get(p.hypothesis.family, ())) for p in plans]


def select_hypotheses(registry: Registry, hypotheses: str | Iterable[str] = "all",
                      families: Iterable[str] = ()) -> list[Hypothesis]:
    """Hypotheses named by ids (``H1``), family letters (``A``) or ``"all"``, restricted to ``families`` if given;
    in registry order.

    No R equivalent (registry bookkeeping); tested in tests/test_model_library.py.
    """
    fams = {f.upper() for f in families}
    if isinstance(hypotheses, str):
        hypotheses = [hypotheses]
    chosen: set[str] = set()
    for ref in hypotheses:
        if ref == "all":
            chosen.update(registry.hypotheses)
        elif re.fullmatch(r"[A-DXa-dx]", ref):
            chosen.update(h.id for h in registry.hypotheses_in(ref))
        elif ref in registry.hypotheses:
            chosen.add(ref)
        else:
            raise ModelError(f"unknown hypothesis {ref!r}: use ids H1-H{len(registry.hypotheses)}, family letters "
                             "or 'all'")
    return [h for h in registry.hypotheses.values() if h.id in chosen and (not fams or h.family in fams)]


def family_models(registry: Registry, models: Any = None, columns: Iterable[str] | None = None
                  ) -> dict[str, ModelSpec]:
    """One generated model per family (A-D, X) of the chosen hypotheses (``models``: a ModelsSection, a Study or
    None for all hypotheses). Families with no modellable structural relation are left out.

    No R equivalent (registry bookkeeping); each model is ``lavaan::sem`` syntax.
    """
    settings = getattr(models, "models", models)
    hyps = select_hypotheses(registry, getattr(settings, "hypotheses", "all"), getattr(settings, "families", ()))
    controls = list(getattr(settings, "controls", ()) or ())
    gbp = bool(getattr(settings, "group_by_perspective", True))
    cols = set(columns) if columns is not None else None
    out: dict[str, ModelSpec] = {}
    for fam in ("A", "B", "C", "D", "X"):
        plans = [plan_hypothesis(registry, h, cols, group_by_perspective=gbp) for h in hyps if h.family == fam]
        plans = [p for p in plans if p.structural_hypothesis]
        if plans:
            out[fam] = build_model(registry, plans, controls, cols, group_by_perspective=gbp,
                                   title=f"family {fam}")
    return out
