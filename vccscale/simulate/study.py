"""Pilot data for a study: a Qualtrics-format export of the study's instrument whose answers come from the
population model that the study's chosen hypotheses imply.

``simulate_study(study, n, seed, out, ...) -> StudySimulation`` builds that population model from the registry
(``models.hypotheses`` of the study), draws ``n`` respondents with organisation (and, for provider/customer
designs, relationship) nesting, cuts the item responses into the codebook's scale points and writes the export
with :func:`vccscale.instrument.fake_export` (``answers=`` and ``organisations=``), so every flaw that
``fake-export`` can inject is available. ``docs/pilot-simulation.md`` is the user documentation.

The population model
--------------------
*Variables.* One latent variable per construct of the instrument (the constructs of the codebook's items), per
construct a chosen hypothesis names (measured or not), and per parent of a first-order construct; plus, for a
formative construct identified as a MIMIC model, one observed variable per formative item (its causes). Every
variable has variance 1 in every respondent group (sides of a provider/customer design), so path coefficients
are standardised effects. Everything is drawn at the respondent level: one model over all constructs, and each
respondent answers the items their version shows (``fake_export`` routes versions).

*Measurement.* Every item loads ``loading`` (default .7, standardised) on its construct; a reverse-keyed item
(codebook ``reverse``) loads ``-loading`` in the raw answers, so that after reverse-keying
(:func:`vccscale.clean.scoring.reverse_key`) it loads positively. Global items of second-order and MIMIC
constructs load on that construct; an observed construct's single item is the variable itself (no error); the
items of event indices load on the index variable. A first-order construct loads ``facet_loading`` on its
registry parent (second-order constructs and formative composites, whose scale score is the unit-weighted mean
of their sub-activities). Formative items of a MIMIC construct are its causes: correlated ``formative_r`` among
themselves, together explaining ``formative_r2`` of the construct's variance. Continuous responses are cut into
the item's scale points at fixed thresholds (categories about ``k/5`` latent SD wide, mean slightly above the
midpoint, as ``fake_export``'s own answers).

*Relations of the chosen hypotheses* (registry relation types):

- ``path``: a standardised coefficient ``effect`` (default .3) with the hypothesised sign; ``?`` is treated as
  ``+``; sign ``0`` plants no path (the coefficient is zero in the population);
- ``indirect``: follows from its component paths; component paths no relation states are added (``+``, the
  last one carrying the indirect effect's sign);
- ``covariance``: a correlation ``effect`` between two exogenous variables, or a residual correlation when one
  is endogenous (not planted when one is an ancestor of the other: their covariance follows from the paths);
- ``structure``: the facet loads ``facet_loading`` on the construct when the registry's hierarchy agrees (a
  second parent, e.g. a bifactor alternative, is not planted);
- ``congruence`` (response surface): linear paths from X and Y for the slopes asked (a1 = b1 + b2,
  a3 = b1 - b2) plus centred quadratic terms for the curvatures asked: ``-(X - Y)^2`` for ``a4 < 0``,
  ``(X + Y)^2`` for ``a2``, ``X^2 - Y^2`` for ``a5``, each with standardised weight ``congruence`` (default .4:
  share of the outcome's variance .16; curvature estimated from scale scores is attenuated by their measurement
  error about as the square of their reliability, so it is planted a little stronger than the paths). When X and
  Y are the same construct (the provider's and the customer's
  ratings of one relationship), the quadratic term is computed from the provider's X and the customer's Y of the
  relationship and enters the outcome of the customer's row; the linear slope comes from the customer's own
  rating (there are no partner-to-partner paths), so a3 = -a1 there;
- ``interaction``: a centred latent product term ``X * M`` with standardised weight ``effect``;
- ``group_difference`` by ``side``: latent mean difference ``group_d`` (Cohen's d, default .5) in the stated
  direction (no direction stated: customer > provider), with invariant measurement;
- ``group_moderation`` by ``side``: the path is ``1.75 * effect`` in the stronger group and ``.25 * effect`` in the
  other (no direction stated: customer stronger); "equal" expectations are met by construction;
- ``invariance``: by construction (loadings, intercepts and thresholds equal in every group);
- ``distinct``: by construction; the largest implied latent correlation among the constructs is reported;
- ``nesting``: organisation-level variance (ICC(1) of every latent variable ``icc``), relationship-level
  variance (correlation ``dyad_r`` of the provider's and the customer's value of every latent variable of one
  relationship) and network-level variance (``network_icc``; only where the instrument records network ids);
- ``necessity``: not planted (a ceiling is not a linear-Gaussian relation; see the docs).

Groups other than ``side`` (industry, network configuration, ...) are not planted: ``fake_export`` answers those
firmographic questions at random.

*Conflicts* (reported in ``conflicts``, never silent):

1. a self-loop (``x_trust -> x_trust``) is not planted;
2. a path stated by one relation outranks one implied by an indirect or congruence relation; among stated paths
   a non-zero sign outranks ``0``; opposite signs: the first hypothesis in registry order wins;
3. a path that would close a feedback loop with the paths accepted before it (registry hierarchy first, then
   the hypotheses in registry order) is not planted;
4. the non-linear (quadratic and product) terms on one variable together explain at most 30% of its variance
   (scaled down by one factor if they would explain more, e.g. H14's eleven congruence surfaces on one outcome);
   then, when the planted effects on one variable would explain more than ``r2_max`` (default .8) of its variance
   (a first-order factor: together with its loading on its parent, which is kept), all of them are scaled down by
   one factor so that they explain ``r2_max``.

*Unlinked constructs.* Exogenous variables (no planted cause) correlate ``correlation`` (default .2) with each
other, except pairs that share a planted outcome (they are uncorrelated, so that a path a hypothesis states as
zero stays zero in every sub-model that leaves one of them out) and formative causes (uncorrelated with
everything but their own construct's other causes). The root correlation matrix is shrunk towards the identity
if it would not be positive definite (reported).

*Nesting.* Every disturbance is ``sqrt(icc)`` organisation + ``sqrt(dyad_r)`` relationship + ``sqrt(network_icc)``
network + the rest respondent, all with the same covariance matrix, so the structural model holds at every
level. Organisations hold respondents of one side (provider organisations, customer organisations) and have
``org_size`` respondents (default 4-8); fake_export pairs respondent ``2k`` (provider) with ``2k + 1``
(customer) in relationship ``k``.

Everything random comes from ``seed``: the same arguments give a byte-identical export in any process.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, StudyError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..instrument.codebook import Codebook
    from ..registry import Registry
    from ..study import Study

__all__ = ["PlantedEffect", "StudySimulation", "simulate_study", "study_population"]

SIDES = ("provider", "customer")
MEAN_SHIFT = 0.35          # latent responses sit slightly above the scale midpoint (as fake_export)
CATEGORY_WIDTH = 0.2       # one scale point is 1/(0.2 k) latent SD wide: a k-point item spans about 5 SD
MODERATION_STRONG, MODERATION_WEAK = 1.75, 0.25
R2_TOTAL = 0.8             # explained variance of a first-order factor, its loading on its parent included
NONLINEAR_MAX = 0.3        # non-linear terms on one outcome together explain at most this share of its variance
NETWORK_SIZE = 4           # fake_export: networks of four organisations in order of first appearance


# ----------------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlantedEffect:
    """One planted (or not planted) part of a hypothesis: ``relation`` (description), ``type`` (registry relation
    type), ``parameter`` (what was planted, e.g. ``a -> b``, ``-(X - Y)^2``), ``value`` (its standardised
    population value; None when not planted), ``planted`` and ``note`` (why not, or how)."""

    hypothesis: str
    relation: str
    type: str
    parameter: str
    value: float | None
    planted: bool
    note: str = ""

    def to_dict(self) -> dict:
        return {"hypothesis": self.hypothesis, "relation": self.relation, "type": self.type,
                "parameter": self.parameter, "value": self.value, "planted": self.planted, "note": self.note}


@dataclass(frozen=True)
class StudySimulation:
    """What :func:`simulate_study` did: the export written, the design, the planted effects and conflicts, and
    the population model (``population_syntax``: lavaan syntax with the planted values)."""

    study: str
    n: int
    seed: int
    out: str
    codebook_source: str                 # "study" (data.codebook), "argument" or "built" (in memory)
    codebook_path: str | None
    hypotheses: tuple[str, ...]
    design: dict
    settings: dict
    planted: tuple[PlantedEffect, ...]
    conflicts: tuple[dict, ...]
    population_syntax: str
    export: dict
    max_latent_correlation: float        # of two constructs other than a first-order factor and its parent
    population_out: str | None = None
    truth: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready summary (snake_case keys; floats may be NaN: the CLI writes them as null)."""
        per_h: dict[str, dict] = {}
        for p in self.planted:
            rec = per_h.setdefault(p.hypothesis, {"id": p.hypothesis, "planted": 0, "not_planted": 0,
                                                  "effects": []})
            rec["planted" if p.planted else "not_planted"] += 1
            rec["effects"].append({k: v for k, v in p.to_dict().items() if k != "hypothesis"})
        return {"study": self.study, "n": self.n, "seed": self.seed, "out": self.out,
                "codebook": {"source": self.codebook_source, "path": self.codebook_path},
                "hypotheses": list(self.hypotheses), "design": self.design, "settings": self.settings,
                "max_latent_correlation": self.max_latent_correlation,
                "planted": [per_h[h] for h in self.hypotheses if h in per_h],
                "conflicts": list(self.conflicts), "export": self.export,
                "population_out": self.population_out, "truth": self.truth}

    def to_frame(self) -> "pd.DataFrame":
        """The planted-effects table: one row per planted or not planted part of a hypothesis."""
        import pandas as pd

        return pd.DataFrame([p.to_dict() for p in self.planted],
                            columns=["hypothesis", "relation", "type", "parameter", "value", "planted", "note"])


# ----------------------------------------------------------------------------------------------------------
# The population model
# ----------------------------------------------------------------------------------------------------------
@dataclass
class _QTerm:
    """A centred quadratic term ``v' M v`` of two latent values, ``v = (a, b)``; ``who`` says whose value: "self"
    (the respondent's own), "P" / "C" (the provider's / the customer's of the respondent's relationship)."""

    name: str
    a: str
    b: str
    who_a: str
    who_b: str
    M: np.ndarray
    target: str
    weight: float                        # standardised weight (signed): share of the target's variance weight^2
    sides: tuple[str, ...]               # row groups whose target receives it
    label: str
    coef: dict = field(default_factory=dict)      # side -> coefficient on the raw (centred) term
    mean: dict = field(default_factory=dict)      # side -> population mean of v' M v (centring)
    var: dict = field(default_factory=dict)       # side -> variance of v' M v


@dataclass
class Population:
    """The population model of a study (see the module docstring). ``nodes``: variable names (constructs and
    formative items); ``kind``: node -> construct / formative; ``B``: side -> coefficient matrix (row = outcome);
    ``psi``: common disturbance covariance (shared by every level), ``extra``: side -> additional respondent-level
    residual variance; ``mu``: side -> disturbance means (group differences); ``q``: quadratic terms;
    ``items``: item id -> (construct node, loading); ``cov``: side -> implied covariance of the nodes."""

    nodes: list[str]
    kind: dict[str, str]
    sides: tuple[str, ...]
    B: dict[str, np.ndarray]
    psi: np.ndarray
    extra: dict[str, np.ndarray]
    mu: dict[str, np.ndarray]
    q: list[_QTerm]
    order: list[int]
    items: dict[str, tuple[str, float]]
    cov: dict[str, np.ndarray]
    gauss: dict[str, np.ndarray]
    cross: np.ndarray | None
    icc: float
    dyad_r: float
    network_icc: float
    scaled: dict[str, float]
    structure: frozenset = frozenset()   # (parent, facet) loadings of first-order factors on their parent
    planted: tuple = ()                  # PlantedEffect rows (what simulate_study reports)
    conflicts: tuple = ()                # conflict resolutions (rules in the module docstring)

    def index(self, name: str) -> int:
        return self.nodes.index(name)

    def syntax(self, side: str | None = None, header: str = "") -> str:
        """lavaan syntax of the population model of one respondent group (``side``; default the first), with
        the planted values fixed. Quadratic and product terms appear as observed exogenous variables ``q_*`` with
        their variance (uncorrelated with every latent variable, as a centred even function of Gaussian variables
        is), so the second moments the syntax implies are those of the simulated data."""
        s = side or self.sides[0]
        return _syntax(self, s, header)


def _fmt(x: float) -> str:
    """A population value with 12 significant digits (enough for implied variances to 1e-10)."""
    s = f"{float(x):.12g}"
    return "0" if s in ("-0", "") else s


def _expand(registry: "Registry", ref: str) -> list[str]:
    if "*" in ref:
        return registry.expand(ref)
    return [ref] if ref in registry.constructs else []


def _describe(rel: Any) -> str:
    d = rel.model_dump(by_alias=True, exclude_none=True)
    d.pop("note", None)
    t = d.pop("type")
    if t == "congruence":
        return f"congruence ({d['x']}, {d['y']}) -> {d['to']} " + ", ".join(f"{k} {v}" for k, v in d["expect"].items())
    if t == "necessity":
        return f"necessity {d['condition']} for {d['outcome']}"
    if t == "covariance":
        return f"covariance {d['between'][0]} ~~ {d['between'][1]} ({d['sign']})"
    if t == "structure":
        return f"structure {d['construct']} over {', '.join(d['facets'])}"
    if "from" in d and "to" in d:
        mid = f" via {'/'.join(d['via'])}" if d.get("via") else ""
        mod = f" x {d['moderator']}" if d.get("moderator") else ""
        tail = f" ({d['sign']})" if "sign" in d else f" by {d['group']}: {d['expect']}"
        return f"{t} {d['from']}{mod}{mid} -> {d['to']}{tail}"
    if "constructs" in d:
        return f"{t} {', '.join(d['constructs'])}" + (f" by {d['group']}" if d.get("group") else "") + (
            f" in {', '.join(d['levels'])}" if d.get("levels") else "")
    if "construct" in d:
        return f"{t} {d['construct']} by {d['group']}: {d['expect']}"
    return t


def _direction(expect: str) -> tuple[str, str] | str | None:
    """'A > B' / 'B < A' -> (A, B); 'equal ...' -> '='; anything else -> None (no direction stated)."""
    e = (expect or "").strip().lower()
    if "equal" in e:
        return "="
    m = re.match(r"^\s*(\w+)\s*([<>])\s*(\w+)\s*$", e)
    if not m:
        return None
    a, op, b = m.groups()
    return (b, a) if op == "<" else (a, b)


class _Builder:
    """Collects the planted structure from the chosen hypotheses; resolves conflicts; standardises."""

    def __init__(self, registry, constructs: list[str], hypotheses: list, *, effect, loading, facet_loading,
                 correlation, group_d, r2_max, congruence, formative_r, formative_r2, sides, dyadic, icc, dyad_r,
                 network_icc, items: dict[str, Any]) -> None:
        self.reg = registry
        self.effect, self.loading, self.facet_loading = effect, loading, facet_loading
        self.correlation, self.group_d, self.r2_max = correlation, group_d, r2_max
        self.congruence, self.formative_r, self.formative_r2 = congruence, formative_r, formative_r2
        self.sides, self.dyadic = sides, dyadic
        self.icc, self.dyad_r, self.network_icc = icc, dyad_r, network_icc
        self.hyps = hypotheses
        self.items = items              # item id -> codebook row (first one)
        self.planted: list[PlantedEffect] = []
        self.conflicts: list[dict] = []
        # nodes: constructs (+ registry parents), then formative causes of MIMIC constructs
        nodes: list[str] = []

        def add(c: str) -> None:
            if c in nodes or c not in registry.constructs:
                return
            con = registry.constructs[c]
            if con.measurement == "structural":
                return
            nodes.append(c)
            if con.parent:
                add(con.parent)

        for c in constructs:
            add(c)
        self.kind = {c: "construct" for c in nodes}
        self.formative_of: dict[str, list[str]] = {}
        for c in list(nodes):
            con = registry.constructs[c]
            if con.identification == "mimic":
                form = [i.id for i in registry.items_of(c) if i.kind == "formative" and i.id in items]
                if form:
                    self.formative_of[c] = form
                    for f in form:
                        nodes.append(f)
                        self.kind[f] = "formative"
        order = {c: k for k, c in enumerate(registry.constructs)}
        cons = sorted((c for c in nodes if self.kind[c] == "construct"), key=lambda c: order[c])
        self.nodes = cons + [c for c in nodes if self.kind[c] == "formative"]
        self.pos = {c: k for k, c in enumerate(self.nodes)}
        # edges: (from, to) -> dict(sign, value per side, source, hypothesis, kind)
        self.edges: dict[tuple[str, str], dict] = {}
        self.statements: dict[tuple[str, str], list[dict]] = {}
        self.cov_rel: list[dict] = []
        self.qterms: list[_QTerm] = []
        self.mean_shift: dict[str, dict[str, float]] = {s: {} for s in sides}
        self.moderated: dict[tuple[str, str], dict[str, float]] = {}
        self.pending_indirect: list = []
        self.pending_structure: list = []
        self.pending_q: list = []
        self.pending_congruence: list = []
        self.pending_group: list = []
        self.pending_distinct: list = []
        self.pending_nesting: list = []
        self.zero_paths: dict = {}
        self.dropped: dict = {}
        self.cong_lin: list = []
        self.cong_notes: dict = {}
        self.q_owner: list = []
        self.has_network = False

    # -- helpers ----------------------------------------------------------------------------------------------
    def rec(self, h: str, relation: str, rtype: str, parameter: str, value, planted: bool, note: str = "") -> None:
        self.planted.append(PlantedEffect(h, relation, rtype, parameter,
                                          None if value is None else float(value), planted, note))

    def unknown(self, ids: list[str]) -> str | None:
        for c in ids:
            con = self.reg.constructs.get(c)
            if con is None:
                return f"{c} is not a registry construct"
            if con.measurement == "structural":
                return f"{c} is a structural (level) entry, not a variable"
            if c not in self.pos:
                return f"{c} is not part of the population model"
        return None

    def state(self, f: str, t: str, sign: str, h: str, relation: str, kind: str) -> None:
        """A statement about the path f -> t: kind "stated" (a path relation), "implied" (indirect or congruence
        component), "structure" (registry hierarchy)."""
        self.statements.setdefault((f, t), []).append({"sign": "+" if sign == "?" else sign, "h": h,
                                                       "relation": relation, "kind": kind,
                                                       "question": sign == "?"})

    def reaches(self, a: str, b: str, extra: list[tuple[str, str]] = ()) -> bool:
        """Is b reachable from a through the accepted edges (plus ``extra``)?"""
        adj: dict[str, list[str]] = {}
        for (f, t) in list(self.edges) + list(extra):
            adj.setdefault(f, []).append(t)
        for qt in self.qterms:
            for src in (qt.a, qt.b):
                adj.setdefault(src, []).append(qt.target)
        seen, stack = {a}, [a]
        while stack:
            x = stack.pop()
            if x == b:
                return True
            for y in adj.get(x, []):
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        return False

    # -- collect ------------------------------------------------------------------------------------------------
    def collect(self) -> None:
        reg = self.reg
        # registry hierarchy first: facets load on their parent
        for c in self.nodes:
            con = reg.constructs.get(c)
            if con is not None and con.parent and con.parent in self.pos:
                self.state(con.parent, c, "+", "", f"{c} is a first-order factor of {con.parent}", "structure")
        for h in self.hyps:
            for rel in h.relations:
                self.collect_relation(h.id, rel)
        self.facet_paths()

    def facet_paths(self) -> None:
        """A path from a higher-order construct whose facets have predictors of their own (a_align_ri -> value,
        with drivers -> each alignment facet), when other hypotheses also name paths from the facets to the same
        outcome (H8), is planted from the facets: the outcome depends on the facets, which
        carry their predictors' effects, so that the indirect effects through a facet (H8) exist and the direct
        paths hypothesised to be zero are zero in the population. From the common factor alone, the facets'
        predictors would not reach the outcome and the facet-level models would need direct paths."""
        reg = self.reg
        incoming = {t for (f, t), sts in self.statements.items()
                    if any(st["kind"] != "structure" and st["sign"] != "0" for st in sts)}
        for (f, t), sts in list(self.statements.items()):
            if any(st["kind"] == "structure" for st in sts):
                continue
            facets = [c for c in self.nodes if (con := reg.constructs.get(c)) is not None and con.parent == f
                      and c != t]
            # only where a hypothesis also names facet-level paths to the outcome (H8's driver -> facet -> value):
            # a parent-level path alone (H61's d_spe -> value) stays on the parent
            if not facets or not any(fc in incoming for fc in facets) or not any(
                    (fc, t) in self.statements for fc in facets):
                continue
            del self.statements[(f, t)]
            for fc in facets:
                for st in sts:
                    self.statements.setdefault((fc, t), []).append(
                        {**st, "relation": st["relation"] + f" (planted from the facets of {f}, which have "
                                                            "predictors of their own)"})
            self.conflicts.append({"rule": "higher-order predictor with predicted facets", "path": f"{f} -> {t}",
                                   "resolution": f"planted as {', '.join(facets)} -> {t} (the facets carry their "
                                                 "predictors' effects to the outcome)"})

    def collect_relation(self, h: str, rel) -> None:  # noqa: C901 - one branch per relation type
        reg, desc = self.reg, _describe(rel)
        cross = bool(getattr(rel, "from_level", None) or getattr(rel, "to_level", None))
        xnote = (" (a cross-level relation: planted at the respondent level, where the one structural model holds "
                 "at every level)") if cross else ""
        t = rel.type
        if t == "path":
            for f in _expand(reg, rel.from_) or [rel.from_]:
                for to in _expand(reg, rel.to) or [rel.to]:
                    if f == to:
                        self.rec(h, desc, t, f"{f} -> {to}", None, False,
                                 "self-loop (a construct on itself) is not planted" + (
                                     "; its organisation-level variance is the nesting part" if cross else ""))
                        self.conflicts.append({"rule": "self-loop", "hypothesis": h, "path": f"{f} -> {to}",
                                               "resolution": "not planted"})
                        continue
                    why = self.unknown([f, to])
                    if why:
                        self.rec(h, desc, t, f"{f} -> {to}", None, False, why)
                        continue
                    self.state(f, to, rel.sign, h, desc + xnote, "stated")
        elif t == "indirect":
            froms, tos = _expand(reg, rel.from_), _expand(reg, rel.to)
            vias = [_expand(reg, v) for v in rel.via]
            if not froms or not tos or any(len(v) != 1 for v in vias):
                self.rec(h, desc, t, desc, None, False, "a pattern without a single registry construct")
                return
            for f in froms:
                for to in tos:
                    chain = [f, *(v[0] for v in vias), to]
                    why = self.unknown(chain)
                    if why or len(set(chain)) < len(chain):
                        self.rec(h, desc, t, " -> ".join(chain), None, False, why or "the chain repeats a construct")
                        continue
                    sign = "+" if rel.sign == "?" else rel.sign
                    for k in range(len(chain) - 1):
                        s = sign if k == len(chain) - 2 else "+"
                        if sign == "0":
                            continue
                        self.state(chain[k], chain[k + 1], s, h, desc + xnote, "implied")
                    self.pending_indirect.append((h, desc, chain, sign))
        elif t == "covariance":
            a, b = rel.between
            why = self.unknown([a, b])
            if why:
                self.rec(h, desc, t, f"{a} ~~ {b}", None, False, why)
                return
            self.cov_rel.append({"h": h, "desc": desc, "a": a, "b": b, "sign": "+" if rel.sign == "?" else rel.sign})
        elif t == "structure":
            for fct in [rel.construct]:
                for facet in [x for r in rel.facets for x in _expand(reg, r)]:
                    con = reg.constructs.get(facet)
                    if con is not None and con.parent == fct and fct in self.pos and facet in self.pos:
                        self.pending_structure.append((h, desc, fct, facet))
                    else:
                        self.rec(h, desc, t, f"{fct} =~ {facet}", None, False,
                                 (f"the registry's hierarchy gives {facet} the parent {con.parent}; " if con.parent else
                                  f"{facet} has no parent in the registry's hierarchy; ") +
                                 "a second parent (bifactor or alternative structure) is not planted"
                                 if con is not None and con.parent != fct else (self.unknown([fct, facet]) or
                                                                                "not part of the model"))
        elif t == "interaction":
            for f in _expand(reg, rel.from_):
                for to in _expand(reg, rel.to):
                    m = rel.moderator
                    why = self.unknown([f, m, to])
                    if why or to in (f, m):
                        self.rec(h, desc, t, f"{f} x {m} -> {to}", None, False, why or "the outcome is a factor")
                        continue
                    sign = -1.0 if rel.sign == "-" else 1.0
                    if rel.sign == "0":
                        self.rec(h, desc, t, f"{f} x {m} -> {to}", 0.0, True, "no product term (sign 0)")
                        continue
                    M = np.array([[0.0, 0.5], [0.5, 0.0]])
                    self.pending_q.append((h, desc, t, _QTerm(f"q{len(self.pending_q) + 1}", f, m, "self", "self", M,
                                                              to, sign * self.effect, self.sides,
                                                              f"{f} * {m}")))
        elif t == "congruence":
            x, y, to = rel.x, rel.y, rel.to
            why = self.unknown([x, y, to])
            if why:
                self.rec(h, desc, t, desc, None, False, why)
                return
            self.pending_congruence.append((h, desc, rel))
        elif t == "group_difference":
            self.pending_group.append((h, desc, rel))
        elif t == "group_moderation":
            self.pending_group.append((h, desc, rel))
        elif t == "invariance":
            if rel.group == "side" and not self.dyadic:
                self.rec(h, desc, t, "measurement invariance", None, False,
                         "the instrument has no provider and customer versions")
            else:
                self.rec(h, desc, t, f"{rel.level} invariance by {rel.group}", None, True,
                         "by construction: loadings, intercepts and thresholds are equal in every group")
        elif t == "distinct":
            self.pending_distinct.append((h, desc, [c for r in rel.constructs for c in _expand(reg, r)]))
        elif t == "nesting":
            self.pending_nesting.append((h, desc, rel))
        elif t == "necessity":
            self.rec(h, desc, t, f"ceiling of {rel.outcome} by {rel.condition}", None, False,
                     "a ceiling (necessary condition) is not a linear-Gaussian relation and would break the "
                     "standardised population model; not planted (the library has no NCA test either)")
        else:  # pragma: no cover - a new relation type
            self.rec(h, desc, t, desc, None, False, f"relation type {t!r} is not known to the generator")

    # -- resolve paths ----------------------------------------------------------------------------------------
    def resolve(self) -> None:
        """Accept paths: structure loadings, then statements in order (rules 2 and 3 of the module docstring)."""
        order = ([pair for pair, sts in self.statements.items() if any(s["kind"] == "structure" for s in sts)] +
                 [pair for pair, sts in self.statements.items() if not any(s["kind"] == "structure" for s in sts)])
        for pair in order:
            sts = self.statements[pair]
            f, t = pair
            label = f"{f} -> {t}"
            if any(s["kind"] == "structure" for s in sts):
                chosen = {"sign": "+", "h": "", "kind": "structure"}
            else:
                stated = [s for s in sts if s["kind"] == "stated"]
                pool = stated or sts
                overruled = [s for s in sts if s["kind"] != "stated" and stated and
                             s["sign"] != next((x["sign"] for x in stated if x["sign"] != "0"), "0")]
                if overruled:
                    self.conflicts.append({"rule": "stated vs implied", "path": label,
                                           "statements": [f"{s['h']} ({s['sign']}, {s['kind']})" for s in sts],
                                           "resolution": "the path a relation states outranks one an indirect or "
                                                         "congruence relation implies"})
                nonzero = [s for s in pool if s["sign"] != "0"]
                if nonzero:
                    chosen = nonzero[0]
                    signs = list(dict.fromkeys(s["sign"] for s in nonzero))
                    if len(signs) > 1:
                        self.conflicts.append({"rule": "opposite signs", "path": label,
                                               "statements": [f"{s['h']} ({s['sign']})" for s in nonzero],
                                               "resolution": f"{chosen['sign']} of {chosen['h']} (first in registry "
                                                             "order)"})
                    zeros = [s for s in sts if s["sign"] == "0"]
                    if zeros:
                        self.conflicts.append({"rule": "zero vs effect", "path": label,
                                               "statements": [f"{s['h']} ({s['sign']})" for s in sts],
                                               "resolution": f"the effect ({chosen['sign']}, {chosen['h']}) is "
                                                             "planted; the zero is not"})
                else:
                    chosen = {"sign": "0", "h": pool[0]["h"], "kind": pool[0]["kind"]}
            if chosen["sign"] == "0":
                self.zero_paths[pair] = chosen
                continue
            if self.reaches(t, f):
                self.conflicts.append({"rule": "feedback loop", "path": label,
                                       "statements": [f"{s['h']} ({s['sign']})" for s in sts if s["h"]],
                                       "resolution": f"not planted: {t} already leads to {f} through paths accepted "
                                                     "earlier (registry hierarchy, then hypotheses in registry "
                                                     "order)"})
                self.dropped[pair] = "feedback loop"
                continue
            value = (self.facet_loading if chosen["kind"] == "structure" else self.effect) * (
                -1.0 if chosen["sign"] == "-" else 1.0)
            self.edges[pair] = {"value": {s: value for s in self.sides}, "sign": chosen["sign"], "h": chosen["h"],
                                "kind": chosen["kind"]}

    def run(self) -> Population:
        self.collect()
        self.congruence_paths()
        self.resolve()
        self.quadratic_terms()
        self.groups()
        pop = self.standardise()
        self.report(pop)
        pop.planted, pop.conflicts = tuple(self.planted), tuple(self.conflicts)
        return pop

    def congruence_paths(self) -> None:
        """Congruence relations with the same X, Y and outcome are one surface (their expectations merged; a
        parameter stated with two signs keeps the first). Linear parts become implied paths, quadratic parts
        q terms."""
        surfaces: dict[tuple, dict] = {}
        for h, desc, rel in self.pending_congruence:
            key = (rel.x, rel.y, rel.to)
            s = surfaces.setdefault(key, {"expect": {}, "by": {}, "members": []})
            s["members"].append((h, desc))
            for k, v in rel.expect.items():
                v = v.replace(" ", "")
                if k in s["expect"] and s["expect"][k] != v:
                    self.conflicts.append({"rule": "congruence expectations", "surface": f"({rel.x}, {rel.y}) -> "
                                           f"{rel.to}", "statements": [f"{s['by'][k]} ({k} {s['expect'][k]})",
                                                                       f"{h} ({k} {v})"],
                                           "resolution": f"{k} {s['expect'][k]} of {s['by'][k]} (first in registry "
                                                         "order)"})
                    continue
                if k not in s["expect"]:
                    s["expect"][k], s["by"][k] = v, h
        for (x, y, to), s in surfaces.items():
            exp = s["expect"]
            h0, desc0 = s["members"][0]
            merged = ", ".join(f"{k} {v}" for k, v in sorted(exp.items()))
            if exp.get("a4") == "<0" and exp.get("a3") in ("<0", ">0") and s["by"]["a3"] != s["by"]["a4"]:
                # the hypothesis tests add a congruence effect's conditions (Humberg, Nestler & Back 2019: the
                # ridge on the line of congruence, which implies a3 = 0); an asymmetry another hypothesis plants
                # on the same surface contradicts them
                self.conflicts.append({"rule": "congruence vs asymmetry", "surface": f"({x}, {y}) -> {to}",
                                       "statements": [f"{s['by']['a4']} (congruence: a4 < 0, ridge on the line of "
                                                      "congruence, hence a3 = 0)",
                                                      f"{s['by']['a3']} (a3 {exp['a3'][0]} 0)"],
                                       "resolution": f"a3 planted as {s['by']['a3']} states: the congruence conditions "
                                                     f"of {s['by']['a4']} do not hold on this surface, so its test "
                                                     "can be partial at best (the data cannot satisfy both)"})
            dyad = x == y
            if dyad and not self.dyadic:
                for h, desc in s["members"]:
                    self.rec(h, desc, "congruence", "response surface", None, False,
                             "provider-vs-customer congruence needs provider and customer versions of one "
                             "relationship")
                continue
            for h, desc in s["members"][1:]:
                self.rec(h, desc, "congruence", f"response surface ({x}, {y}) -> {to}", None, True,
                         f"one surface with {h0}'s (same X, Y and outcome); planted expectations: {merged}")
            sgn = {k: (1 if v == ">0" else -1 if v == "<0" else 0) for k, v in exp.items()}
            s1, s3 = sgn.get("a1", 0), sgn.get("a3", 0)
            notes = []
            b1 = (s1 + s3) / 2.0
            b2 = (s1 - s3) / 2.0
            lin = []
            if dyad:
                if b1:
                    notes.append("the provider's (partner's) linear slope is not planted (no partner-to-partner "
                                 "paths); the slope comes from the customer's own rating")
                if b1 and not b2:
                    b2 = b1
                if b2:
                    lin.append((y, "+" if b2 > 0 else "-"))
            else:
                for v, b in ((x, b1), (y, b2)):
                    if b:
                        lin.append((v, "+" if b > 0 else "-"))
            for v, sign in lin:
                if v != to:
                    self.state(v, to, sign, h0, desc0, "congruence")
            self.cong_lin.append((h0, desc0, lin, to, dyad))
            quad = []
            who = ("P", "C") if dyad else ("self", "self")
            sides = ("customer",) if dyad else self.sides
            if sgn.get("a4"):
                quad.append(("a4", np.array([[1.0, -1.0], [-1.0, 1.0]]), sgn["a4"], f"({x} - {y})^2"))
            if sgn.get("a2"):
                quad.append(("a2", np.array([[1.0, 1.0], [1.0, 1.0]]), sgn["a2"], f"({x} + {y})^2"))
            if sgn.get("a5"):
                quad.append(("a5", np.array([[1.0, 0.0], [0.0, -1.0]]), sgn["a5"], f"{x}^2 - {y}^2"))
            for k, M, sg, lab in quad:
                if dyad:
                    lab = lab.replace(f"({x}", f"(provider's {x}").replace(f" {y})", f" customer's {y})")
                self.pending_q.append((h0, desc0, "congruence", _QTerm(
                    f"q{len(self.pending_q) + 1}", x, y, who[0], who[1], M, to, sg * self.congruence, sides, lab)))
            for k, v in exp.items():
                if v == "=0":
                    notes.append(f"{k} = 0: no term planted for it")
            self.cong_notes[(h0, desc0)] = notes

    def quadratic_terms(self) -> None:
        for h, desc, rtype, qt in self.pending_q:
            if self.reaches(qt.target, qt.a) or self.reaches(qt.target, qt.b):
                self.rec(h, desc, rtype, qt.label, None, False,
                         f"not planted: {qt.target} already leads to {qt.a} or {qt.b} (feedback loop)")
                self.conflicts.append({"rule": "feedback loop", "path": f"{qt.label} -> {qt.target}",
                                       "resolution": "not planted"})
                continue
            qt.name = f"q{len(self.qterms) + 1}"
            self.qterms.append(qt)
            self.q_owner.append((h, desc, rtype, qt))

    def groups(self) -> None:
        for h, desc, rel in self.pending_group:
            t = rel.type
            if rel.group != "side":
                self.rec(h, desc, t, f"by {rel.group}", None, False,
                         f"group {rel.group!r} is not planted: fake_export answers firmographic questions at random, "
                         "so the generator cannot tie groups to respondents" + (
                             " (an 'equal' expectation holds by construction: no group differs)"
                             if _direction(rel.expect) == "=" else ""))
                continue
            if not self.dyadic:
                self.rec(h, desc, t, "by side", None, False, "the instrument has no provider and customer versions")
                continue
            d = _direction(rel.expect)
            if t == "group_difference":
                c = rel.construct
                why = self.unknown([c])
                if why:
                    self.rec(h, desc, t, f"mean of {c}", None, False, why)
                    continue
                if d == "=":
                    self.rec(h, desc, t, f"mean of {c} by side", 0.0, True, "equal means (no difference planted)")
                    continue
                hi, lo = d if isinstance(d, tuple) and set(d) <= set(SIDES) else ("customer", "provider")
                note = "" if isinstance(d, tuple) else "no direction stated: planted as customer > provider; "
                self.mean_shift[hi][c] = self.mean_shift[hi].get(c, 0.0) + self.group_d / 2
                self.mean_shift[lo][c] = self.mean_shift[lo].get(c, 0.0) - self.group_d / 2
                self.rec(h, desc, t, f"mean({c}: {hi}) - mean({c}: {lo})", self.group_d, True,
                         note + "latent mean difference in SD units (Cohen's d) with invariant measurement; it "
                                "passes on to the construct's outcomes through the paths")
            else:
                f, to = rel.from_, rel.to
                why = self.unknown([f, to])
                if why:
                    self.rec(h, desc, t, f"{f} -> {to} by side", None, False, why)
                    continue
                if d == "=":
                    self.rec(h, desc, t, f"{f} -> {to} by side", None, True, "equal in both groups by construction")
                    continue
                hi, lo = d if isinstance(d, tuple) and set(d) <= set(SIDES) else ("customer", "provider")
                if (f, to) not in self.edges:
                    if self.reaches(to, f) or f == to:
                        self.rec(h, desc, t, f"{f} -> {to} by side", None, False, "would close a feedback loop")
                        continue
                    self.edges[(f, to)] = {"value": {s: self.effect for s in self.sides}, "sign": "+", "h": h,
                                           "kind": "moderation"}
                e = self.edges[(f, to)]
                base = e["value"][hi]
                e["value"][hi] = base * MODERATION_STRONG
                e["value"][lo] = base * MODERATION_WEAK
                self.moderated[(f, to)] = {"h": h, "desc": desc, "hi": hi, "lo": lo}

    # -- standardise --------------------------------------------------------------------------------------------
    def root_correlations(self, roots: list[int]) -> np.ndarray:
        p = len(self.nodes)
        R = np.eye(p)
        children: dict[str, set] = {}
        for (f, t) in self.edges:
            children.setdefault(f, set()).add(t)
        for qt in self.qterms:
            children.setdefault(qt.a, set()).add(qt.target)
            children.setdefault(qt.b, set()).add(qt.target)
        formative_group = {f: c for c, fs in self.formative_of.items() for f in fs}
        names = [self.nodes[i] for i in roots]
        for ia, a in zip(roots, names):
            for ib, b in zip(roots, names):
                if ib <= ia:
                    continue
                fa, fb = formative_group.get(a), formative_group.get(b)
                if fa or fb:
                    r = self.formative_r if fa is not None and fa == fb else 0.0
                elif children.get(a, set()) & children.get(b, set()):
                    r = 0.0
                else:
                    r = self.correlation
                R[ia, ib] = R[ib, ia] = r
        for cv in self.cov_rel:
            ia, ib = self.pos[cv["a"]], self.pos[cv["b"]]
            if ia in roots and ib in roots:
                v = 0.0 if cv["sign"] == "0" else self.effect * (-1 if cv["sign"] == "-" else 1)
                R[ia, ib] = R[ib, ia] = v
                cv["planted"] = v
        sub = R[np.ix_(roots, roots)]
        if len(roots) > 1:
            w = np.linalg.eigvalsh(sub)
            shrink = 1.0
            while w.min() < 0.05 and shrink > 0.01:
                shrink *= 0.9
                off = sub - np.eye(len(roots))
                w = np.linalg.eigvalsh(np.eye(len(roots)) + shrink * off)
            if shrink < 1.0:
                self.conflicts.append({"rule": "root correlations", "resolution": f"the correlations of the "
                                       f"exogenous variables were multiplied by {shrink:.3f} to keep the matrix "
                                       "positive definite"})
                for ia in roots:
                    for ib in roots:
                        if ia != ib:
                            R[ia, ib] *= shrink
        return R

    def standardise(self) -> Population:  # noqa: C901
        p = len(self.nodes)
        sides = self.sides
        B = {s: np.zeros((p, p)) for s in sides}
        structure = [pair for pair, e in self.edges.items() if e["kind"] == "structure"]
        for (f, t), e in self.edges.items():
            for s in sides:
                B[s][self.pos[t], self.pos[f]] = e["value"][s]
        form_coef: dict[str, float] = {}
        for c, fs in self.formative_of.items():
            k = len(fs)
            g = math.sqrt(self.formative_r2 / (k + k * (k - 1) * self.formative_r))
            form_coef[c] = g
            for fi in fs:
                for s in sides:
                    B[s][self.pos[c], self.pos[fi]] = g
        # topological order (Kahn, ties by node order): edges and q dependencies
        deps: dict[int, set] = {i: set() for i in range(p)}
        for s in sides:
            for t, f in zip(*np.nonzero(B[s])):
                deps[int(t)].add(int(f))
        for qt in self.qterms:
            deps[self.pos[qt.target]].update((self.pos[qt.a], self.pos[qt.b]))
        order: list[int] = []
        done: set = set()
        while len(order) < p:
            ready = [i for i in range(p) if i not in done and deps[i] <= done]
            if not ready:  # pragma: no cover - cycles are removed before
                raise DataError("the planted structure has a feedback loop")
            order.append(ready[0])
            done.add(ready[0])
        roots = [i for i in range(p) if not deps[i]]
        R = self.root_correlations(roots)
        psi = np.zeros((p, p))
        for ia in roots:
            for ib in roots:
                psi[ia, ib] = R[ia, ib]
        extra = {s: np.zeros(p) for s in sides}
        qidx = {qt.name: k for k, qt in enumerate(self.qterms)}
        m = len(self.qterms)
        Gam = {s: np.zeros((p, m)) for s in sides}
        tau_d = self.dyad_r if self.dyadic else 0.0
        self.scaled: dict[str, float] = {}
        self.q_scaled: dict[str, float] = {}

        def moments():
            T = {s: np.linalg.inv(np.eye(p) - B[s]) for s in sides}
            G = {s: T[s] @ (psi + np.diag(extra[s])) @ T[s].T for s in sides}
            C = tau_d * T["provider"] @ psi @ T["customer"].T if self.dyadic else None
            return T, G, C

        def gcov(s, G, C, a, wa, b, wb):
            """Gaussian covariance of (node a of person wa, node b of person wb) in a row of side s."""
            wa = s if wa == "self" else ("provider" if wa == "P" else "customer")
            wb = s if wb == "self" else ("provider" if wb == "P" else "customer")
            ia, ib = self.pos[a], self.pos[b]
            if wa == wb:
                return G[wa][ia, ib]
            return C[ia, ib] if wa == "provider" else C[ib, ia]

        def qcov(s, G, C, q1, q2):
            S = np.array([[gcov(s, G, C, u, wu, v, wv) for v, wv in ((q2.a, q2.who_a), (q2.b, q2.who_b))]
                          for u, wu in ((q1.a, q1.who_a), (q1.b, q1.who_b))])
            return 2.0 * float(np.trace(q1.M @ S @ q2.M @ S.T))

        Sq = {s: np.zeros((m, m)) for s in sides}
        active: list[int] = []
        for j in order:
            if j in roots:
                continue
            name = self.nodes[j]
            T, G, C = moments()
            new = []
            for qt in self.qterms:
                if qt.target != name:
                    continue
                new.append(qidx[qt.name])
                for s in sides:
                    S = np.array([[gcov(s, G, C, u, wu, v, wv) for v, wv in ((qt.a, qt.who_a), (qt.b, qt.who_b))]
                                  for u, wu in ((qt.a, qt.who_a), (qt.b, qt.who_b))])
                    qt.mean[s] = float(np.trace(qt.M @ S))
                    qt.var[s] = 2.0 * float(np.trace(qt.M @ S @ qt.M @ S))
                    if s in qt.sides and qt.var[s] > 0:
                        qt.coef[s] = qt.weight / math.sqrt(qt.var[s])
                        Gam[s][j, qidx[qt.name]] = qt.coef[s]
            # covariances of the new terms with every term already planted (their inputs are final)
            for k in new:
                active.append(k)
                for a in active:
                    for s in sides:
                        Sq[s][k, a] = Sq[s][a, k] = qcov(s, G, C, self.qterms[k], self.qterms[a])

            def explained(s):
                Tj = T[s][j]
                v = Tj @ (psi + np.diag(extra[s])) @ Tj
                if m:
                    g = Tj @ Gam[s]
                    v += g @ Sq[s] @ g
                return float(v)

            # rule 4a: the non-linear terms on this variable together explain at most NONLINEAR_MAX
            vq = max((float(Gam[s][j] @ Sq[s] @ Gam[s][j]) for s in sides), default=0.0) if m else 0.0
            if vq > NONLINEAR_MAX:
                f = math.sqrt(NONLINEAR_MAX / vq)
                self.q_scaled[name] = f
                for s in sides:
                    Gam[s][j, :] *= f
                for qt in self.qterms:
                    if qt.target == name:
                        qt.coef = {s: c * f for s, c in qt.coef.items()}
            # rule 4b: the planted effects (everything but a first-order factor's loading on its parent) explain at
            # most r2_max of the variable's variance (including their covariance with the loading part)
            smask = np.zeros(p, dtype=bool)
            for (pf, pt) in structure:
                if pt == name:
                    smask[self.pos[pf]] = True
            f_all = 1.0
            for s in sides:
                Cee = T[s] @ (psi + np.diag(extra[s]) + (Gam[s] @ Sq[s] @ Gam[s].T if m else 0.0)) @ T[s].T
                Ceq = T[s] @ Gam[s] @ Sq[s] if m else np.zeros((p, 0))
                Cf = np.block([[Cee, Ceq], [Ceq.T, Sq[s]]]) if m else Cee
                w = np.concatenate([B[s][j], Gam[s][j]]) if m else B[s][j].copy()
                wS = np.where(np.concatenate([smask, np.zeros(m, dtype=bool)]) if m else smask, w, 0.0)
                wE = w - wS
                vS, cSE, vE = float(wS @ Cf @ wS), float(wS @ Cf @ wE), float(wE @ Cf @ wE)
                if vE > 1e-15 and 2 * cSE + vE > self.r2_max:
                    f = (-cSE + math.sqrt(cSE * cSE + vE * self.r2_max)) / vE
                    f_all = min(f_all, f)
                if vS + 2 * f_all * cSE + f_all * f_all * vE > R2_TOTAL and vE > 1e-15:
                    f = (-cSE + math.sqrt(max(cSE * cSE + vE * (R2_TOTAL - vS), 0.0))) / vE
                    f_all = min(f_all, max(f, 0.0))
            if f_all < 1.0:
                self.scaled[name] = f_all
                for s in sides:
                    B[s][j, ~smask] *= f_all
                    Gam[s][j, :] *= f_all
                for qt in self.qterms:
                    if qt.target == name:
                        qt.coef = {s: c * f_all for s, c in qt.coef.items()}
                T, G, C = moments()
            e = {s: explained(s) for s in sides}
            lo = min(1.0 - e[s] for s in sides)
            psi[j, j] = lo
            for s in sides:
                extra[s][j] = (1.0 - e[s]) - lo
            # planted covariance relations with an earlier, non-ancestral variable
            for cv in self.cov_rel:
                if name not in (cv["a"], cv["b"]) or "planted" in cv:
                    continue
                other = cv["b"] if name == cv["a"] else cv["a"]
                io = self.pos[other]
                if order.index(io) > order.index(j):
                    continue
                if abs(T[sides[0]][j, io]) > 1e-12 or abs(T[sides[0]][io, j]) > 1e-12:
                    cv["planted"] = None
                    continue
                v = 0.0 if cv["sign"] == "0" else self.effect * (-1 if cv["sign"] == "-" else 1)
                psi[j, io] = psi[io, j] = v * math.sqrt(psi[j, j] * psi[io, io])
                cv["planted"] = v
        T, G, C = moments()
        cov = {}
        for s in sides:
            cov[s] = G[s] + (T[s] @ Gam[s] @ Sq[s] @ Gam[s].T @ T[s].T if m else 0.0)
        mu = {}
        for s in sides:
            v = np.zeros(p)
            for c, d in self.mean_shift[s].items():
                v[self.pos[c]] = d
            mu[s] = v
        items = {}
        for iid, row in self.items.items():
            c = row.construct
            if (row.indicator or "reflective") == "formative" and iid in self.pos:
                items[iid] = (iid, -1.0 if row.reverse else 1.0)
                continue
            if c not in self.pos:
                continue
            con = self.reg.constructs[c]
            lam = 1.0 if con.measurement == "observed" else self.loading
            items[iid] = (c, -lam if row.reverse else lam)
        self.B, self.Gam, self.form_coef = B, Gam, form_coef
        return Population(nodes=list(self.nodes), kind=dict(self.kind), sides=tuple(sides), B=B, psi=psi,
                          extra=extra, mu=mu, q=list(self.qterms), order=order, items=items, cov=cov, gauss=G,
                          cross=C, icc=self.icc, dyad_r=tau_d, network_icc=self.network_icc, scaled=self.scaled,
                          structure=frozenset(p for p, e in self.edges.items() if e["kind"] == "structure"))

    # -- report -------------------------------------------------------------------------------------------------
    def report(self, pop: Population) -> None:  # noqa: C901
        s0 = pop.sides[0]

        def value(f, t, s=s0):
            return float(pop.B[s][self.pos[t], self.pos[f]])

        def scaled_note(t):
            f = pop.scaled.get(t)
            return (f" (scaled by {f:.3f}: the planted effects on {t} would explain more than "
                    f"{self.r2_max:g} of its variance)") if f else ""

        # paths and zero paths, per stating hypothesis (one row per hypothesis and path; a path a hypothesis only
        # implies is reported when the implication planted it)
        for pair, sts in self.statements.items():
            f, t = pair
            seen_h: set = set()
            stated_h = {s["h"] for s in sts if s["kind"] == "stated"}
            for st in sts:
                if st["kind"] in ("structure", "congruence") or not st["h"] or st["h"] in seen_h:
                    continue
                if st["kind"] == "implied" and (st["h"] in stated_h or pair not in self.edges or
                                                self.edges[pair]["kind"] != "implied"):
                    continue
                seen_h.add(st["h"])
                label = f"{f} -> {t}"
                if pair in self.edges:
                    e = self.edges[pair]
                    if st["sign"] == "0":
                        self.rec(st["h"], st["relation"], "path", label, None, False,
                                 f"conflict: {e['h']} plants {e['sign']} on this path (an effect outranks a zero)")
                        continue
                    if st["sign"] != e["sign"]:
                        self.rec(st["h"], st["relation"], "path", label, None, False,
                                 f"conflict: {e['h']} plants the opposite sign (first in registry order)")
                        continue
                    note = ("'?' (no direction stated) planted as '+'; " if st["question"] else "") + (
                        "implied by the relation; " if st["kind"] == "implied" else "")
                    if pair in self.moderated:
                        mm = self.moderated[pair]
                        note += (f"{mm['hi']} {value(f, t, mm['hi']):.3f}, {mm['lo']} {value(f, t, mm['lo']):.3f} "
                                 f"(group moderation, {mm['h']}); ")
                    self.rec(st["h"], st["relation"], "path" if st["kind"] == "stated" else "path (implied)", label,
                             value(f, t), True, (note + scaled_note(t)).strip("; ").strip())
                elif pair in self.dropped:
                    self.rec(st["h"], st["relation"], "path", label, None, False,
                             "not planted: it would close a feedback loop with paths accepted before it")
                elif st["sign"] == "0":
                    self.rec(st["h"], st["relation"], "path", label, 0.0, True, "zero in the population (no path)")
        # indirect effects: product of the planted component paths
        for h, desc, chain, sign in self.pending_indirect:
            if sign == "0":
                self.rec(h, desc, "indirect", " -> ".join(chain), 0.0, True, "no component paths planted (sign 0)")
                continue
            pairs = list(zip(chain[:-1], chain[1:]))
            if all(p in self.edges for p in pairs):
                v = float(np.prod([value(a, b) for a, b in pairs]))
                ok = (v > 0) == (sign == "+")
                self.rec(h, desc, "indirect", " -> ".join(chain), v, ok, "product of the planted component paths" + (
                    "" if ok else f"; its sign is not the hypothesised {sign} (the component paths' signs decide)"))
            else:
                miss = [f"{a} -> {b}" for a, b in pairs if (a, b) not in self.edges]
                self.rec(h, desc, "indirect", " -> ".join(chain), None, False,
                         f"component path(s) not planted: {', '.join(miss)}")
        # structure
        for h, desc, fct, facet in self.pending_structure:
            if (fct, facet) in self.edges:
                self.rec(h, desc, "structure", f"{fct} =~ {facet}", value(fct, facet), True,
                         "first-order factor loading on its parent")
        # congruence: linear parts and quadratic terms
        for h, desc, lin, to, dyad in self.cong_lin:
            for v, sign in lin:
                if (v, to) in self.edges:
                    self.rec(h, desc, "congruence", f"{v} -> {to} (linear slope)", value(v, to), True,
                             ("the customer's own rating; " if dyad else "") + scaled_note(to).strip())
                elif (v, to) in self.zero_paths:
                    z = self.zero_paths[(v, to)]
                    self.rec(h, desc, "congruence", f"{v} -> {to} (linear slope)", None, False,
                             f"conflict: {z['h']} states this path 0 (a path a relation states outranks one a "
                             "congruence relation implies); the slope along X = Y is not planted")
                else:
                    self.rec(h, desc, "congruence", f"{v} -> {to} (linear slope)", None, False,
                             "the path is not planted (conflict or feedback loop; see conflicts)")
            for note in self.cong_notes.get((h, desc), []):
                self.rec(h, desc, "congruence", "note", None, True, note)
        for h, desc, rtype, qt in self.q_owner:
            side = "customer" if "customer" in qt.sides and len(qt.sides) == 1 else s0
            coef = qt.coef.get(side)
            std = coef * math.sqrt(qt.var[side]) if coef is not None else None
            where = (" in the customer's row (provider's and customer's ratings of one relationship)"
                     if qt.who_a != "self" else "")
            qs = self.q_scaled.get(qt.target)
            qnote = (f" (scaled by {qs:.3f}: the non-linear terms on {qt.target} together explain at most "
                     f"{NONLINEAR_MAX:g} of its variance)") if qs else ""
            self.rec(h, desc, rtype, qt.label + f" -> {qt.target}", std, coef is not None,
                     f"centred {'product' if rtype == 'interaction' else 'quadratic'} term, standardised weight "
                     f"(share of variance = weight^2){where}" + qnote + scaled_note(qt.target))
        # covariances
        for cv in self.cov_rel:
            v = cv.get("planted")
            if v is None:
                self.rec(cv["h"], cv["desc"], "covariance", f"{cv['a']} ~~ {cv['b']}", None, False,
                         "one is an ancestor of the other: their covariance follows from the paths")
            else:
                both_root = all(not np.any(pop.B[s0][self.pos[x]]) and not any(qt.target == x for qt in pop.q)
                                for x in (cv["a"], cv["b"]))
                self.rec(cv["h"], cv["desc"], "covariance", f"{cv['a']} ~~ {cv['b']}", v, True,
                         "correlation of exogenous variables" if both_root else "residual correlation")
        # distinctness
        for h, desc, cids in self.pending_distinct:
            ok = [c for c in cids if c in self.pos]
            if len(ok) < 2:
                self.rec(h, desc, "distinct", "distinct constructs", None, False, "fewer than two in the model")
                continue
            idx = [self.pos[c] for c in ok]
            S = pop.cov[s0][np.ix_(idx, idx)]
            d = np.sqrt(np.diag(S))
            r = S / np.outer(d, d)
            mx = float(np.max(np.abs(r - np.eye(len(idx))))) if len(idx) > 1 else 0.0
            self.rec(h, desc, "distinct", "largest latent correlation", mx, mx < 0.85,
                     "by construction: distinct latent variables" if mx < 0.85 else
                     "the planted paths make two of them correlate .85 or more")
        # nesting
        for h, desc, rel in self.pending_nesting:
            for lv in rel.levels:
                lvl = lv.lower()
                if lvl == "organisation":
                    self.rec(h, desc, "nesting", "ICC(1) by organisation_id", self.icc, self.icc > 0,
                             "organisation-level variance of every latent variable (scale scores: about ICC x "
                             "reliability)" if self.icc > 0 else "icc is 0")
                elif lvl == "dyad":
                    ok = self.dyadic and self.dyad_r > 0
                    self.rec(h, desc, "nesting", "correlation within relationship_id", self.dyad_r if ok else None,
                             ok, "relationship-level variance: the provider's and the customer's values of every "
                                 "latent variable correlate dyad_r" if ok else
                             "no provider/customer relationships in this instrument" if not self.dyadic else
                             "dyad_r is 0")
                elif lvl == "network":
                    ok = self.network_icc > 0 and self.has_network
                    self.rec(h, desc, "nesting", "ICC(1) by invite_network_id", self.network_icc if ok else None, ok,
                             "network-level variance of every latent variable" if ok else
                             "the instrument records no network id (invite_network_id)" if not self.has_network
                             else "network_icc is 0")
                else:
                    self.rec(h, desc, "nesting", f"level {lv}", None, False, f"level {lv!r} is not simulated")
        order = {h.id: k for k, h in enumerate(self.hyps)}
        self.planted.sort(key=lambda r: order.get(r.hypothesis, 10 ** 6))


def _syntax(pop: Population, s: str, header: str) -> str:
    lines = ["# vccscale pilot population model (lavaan syntax): planted values, standardised (every latent "
             "variable has variance 1)"]
    if header:
        lines += [f"# {ln}" for ln in header.splitlines()]
    if len(pop.sides) > 1:
        lines.append(f"# respondent group: {s} (the groups differ only where a group difference or group "
                     "moderation is planted)")
    lines += ["", "# Measurement: item loadings (reverse-keyed items load negatively in the raw answers)"]
    by_c: dict[str, list[str]] = {}
    for iid, (c, lam) in pop.items.items():
        if pop.kind.get(c) == "formative":
            continue
        by_c.setdefault(c, []).append(f"{_fmt(lam)}*{iid}")
    B = pop.B[s]
    p = len(pop.nodes)
    for (f, t) in sorted(pop.structure, key=lambda e: (pop.index(e[0]), pop.index(e[1]))):
        by_c.setdefault(f, []).append(f"{_fmt(B[pop.index(t), pop.index(f)])}*{t}")
    for c in pop.nodes:
        if c in by_c:
            lines.append(f"{c} =~ {' + '.join(by_c[c])}")
    reg_lines, form_lines = [], []
    for j in range(p):
        terms = [f"{_fmt(B[j, k])}*{pop.nodes[k]}" for k in range(p) if B[j, k] != 0 and
                 pop.kind[pop.nodes[k]] == "construct" and (pop.nodes[k], pop.nodes[j]) not in pop.structure]
        fterms = [f"{_fmt(B[j, k])}*{pop.nodes[k]}" for k in range(p) if B[j, k] != 0 and
                  pop.kind[pop.nodes[k]] == "formative"]
        qterms = [f"{_fmt(qt.coef[s])}*{qt.name}" for qt in pop.q if qt.target == pop.nodes[j] and s in qt.coef]
        if terms or qterms:
            reg_lines.append(f"{pop.nodes[j]} ~ {' + '.join(terms + qterms)}")
        if fterms:
            form_lines.append(f"{pop.nodes[j]} ~ {' + '.join(fterms)}")
    if form_lines:
        lines += ["", "# Formative causes (MIMIC constructs): formative items as observed exogenous variables"]
        lines += form_lines
    if reg_lines:
        lines += ["", "# Structural part: paths (a first-order factor on its parent is written as a regression on it)"]
        lines += reg_lines
    if pop.q:
        lines += ["", "# Non-linear terms: q = centred v'Mv of latent values (congruence surfaces, latent products);",
                  "# written as observed exogenous variables with their variance (lavaan cannot compute them)"]
        for qt in pop.q:
            who = {"self": "", "P": "provider's ", "C": "customer's "}
            lines.append(f"# {qt.name} = {qt.label} [{who[qt.who_a]}{qt.a}, {who[qt.who_b]}{qt.b}] -> {qt.target}"
                         + ("" if s in qt.coef else f" (not in the {s} group)"))
        for i, qa in enumerate(pop.q):
            lines.append(f"{qa.name} ~~ {_fmt(qa.var.get(s, 0.0))}*{qa.name}")
    lines += ["", "# Variances and covariances of exogenous variables, residual variances and covariances"]
    psi = pop.psi + np.diag(pop.extra[s])
    for j in range(p):
        lines.append(f"{pop.nodes[j]} ~~ {_fmt(psi[j, j])}*{pop.nodes[j]}")
    for j in range(p):
        for k in range(j + 1, p):
            if abs(psi[j, k]) > 1e-12:
                lines.append(f"{pop.nodes[j]} ~~ {_fmt(psi[j, k])}*{pop.nodes[k]}")
    if any(abs(pop.mu[s]) > 0):
        lines += ["", "# Latent means (group differences; intercepts of the disturbances)"]
        for j in range(p):
            if pop.mu[s][j]:
                lines.append(f"{pop.nodes[j]} ~ {_fmt(pop.mu[s][j])}*1")
    lines += ["", "# Item residual variances"]
    for iid, (c, lam) in pop.items.items():
        if pop.kind.get(c) == "formative":
            continue
        lines.append(f"{iid} ~~ {_fmt(1 - lam * lam)}*{iid}")
    lines += ["", f"# Nesting (not lavaan): every disturbance is {_fmt(pop.icc)} organisation + {_fmt(pop.dyad_r)} "
                  f"relationship + {_fmt(pop.network_icc)} network + the rest respondent variance (shares)."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------
# Design: who is who
# ----------------------------------------------------------------------------------------------------------
def _design(codebook: "Codebook") -> dict:
    persp = list(dict.fromkeys(r.perspective for r in codebook.rows if r.role == "item" and r.perspective))
    sides = [s for s in SIDES if s in persp]
    roles = [r for r in persp if r not in SIDES and r != "joint"]
    cols = {r.variable for r in codebook.rows}
    return {"versions": persp, "sides": sides, "stakeholder_roles": roles, "dyadic": len(sides) == 2,
            "has_relationship_id": any(r.role == "relationship_id" for r in codebook.rows) or
            "invite_dyad_id" in cols or "invite_relationship_id" in cols,
            "has_network": "invite_network_id" in cols}


def _organisations(n: int, sided: bool, org_size: tuple[int, int], rng: np.random.Generator) -> list[str]:
    """Organisation id per respondent: with provider and customer versions each side (even / odd respondents)
    is split at random into organisations of org_size respondents (P001.., C001..); otherwise all respondents
    (O001..)."""
    lo, hi = org_size
    out = [""] * n
    groups = ((range(0, n, 2), "P"), (range(1, n, 2), "C")) if sided else ((range(n), "O"),)
    for members, prefix in groups:
        members = [int(i) for i in rng.permutation(list(members))]
        at, k = 0, 0
        while at < len(members):
            size = int(rng.integers(lo, hi + 1))
            if len(members) - at - size < lo:
                size = len(members) - at
            k += 1
            for i in members[at:at + size]:
                out[i] = f"{prefix}{k:03d}"
            at += size
    return out


def _networks(orgs: list[str]) -> list[int]:
    """Network index per respondent as fake_export assigns it: organisations in order of first appearance,
    NETWORK_SIZE per network."""
    first = list(dict.fromkeys(orgs))
    net = {o: k // NETWORK_SIZE for k, o in enumerate(first)}
    return [net[o] for o in orgs]


def _draw(pop: Population, n: int, side_of: np.ndarray, orgs: list[str], nets: list[int], dyadic: bool,
          rng: np.random.Generator) -> np.ndarray:
    """Latent values (n x p) in topological order with the nesting components and the non-linear terms."""
    p = len(pop.nodes)
    w, V = np.linalg.eigh(pop.psi)
    root = V * np.sqrt(np.clip(w, 0, None))          # psi = root root'
    org_ids = {o: k for k, o in enumerate(dict.fromkeys(orgs))}
    oi = np.array([org_ids[o] for o in orgs])
    ni = np.array(nets)
    di = np.arange(n) // 2 if dyadic else np.arange(n)
    t_o, t_d, t_n = pop.icc, pop.dyad_r if dyadic else 0.0, pop.network_icc
    t_w = 1.0 - t_o - t_d - t_n
    eps = rng.standard_normal((n, p))
    u = rng.standard_normal((len(org_ids), p))
    z = rng.standard_normal((int(di.max()) + 1, p))
    nw = rng.standard_normal((int(ni.max()) + 1, p))
    own = rng.standard_normal((n, p))
    zeta = (math.sqrt(t_w) * eps + math.sqrt(t_o) * u[oi] + math.sqrt(t_d) * z[di] + math.sqrt(t_n) * nw[ni]) @ root.T
    for k, s in enumerate(pop.sides):
        mask = side_of == k
        zeta[mask] += own[mask] * np.sqrt(pop.extra[s]) + pop.mu[s]
    eta = np.zeros((n, p))
    partner = np.full(n, -1)
    if dyadic:
        idx = np.arange(n)
        partner = np.where(idx % 2 == 0, idx + 1, idx - 1)
        partner[partner >= n] = -1
    prov = np.where(np.arange(n) % 2 == 0, np.arange(n), partner) if dyadic else np.arange(n)
    cust = np.where(np.arange(n) % 2 == 1, np.arange(n), partner) if dyadic else np.arange(n)
    for j in pop.order:
        name = pop.nodes[j]
        val = zeta[:, j].copy()
        for k, s in enumerate(pop.sides):
            mask = side_of == k
            row = pop.B[s][j]
            nz = np.nonzero(row)[0]
            if len(nz):
                val[mask] += eta[np.ix_(mask, nz)] @ row[nz]
        for qt in pop.q:
            if qt.target != name:
                continue
            ia, ib = pop.index(qt.a), pop.index(qt.b)
            ok = np.ones(n, dtype=bool)
            whose = {"self": np.arange(n), "P": prov, "C": cust}
            wa, wb = whose[qt.who_a], whose[qt.who_b]
            ok &= (wa >= 0) & (wb >= 0)
            a = np.where(ok, eta[np.clip(wa, 0, None), ia], 0.0)
            b = np.where(ok, eta[np.clip(wb, 0, None), ib], 0.0)
            M = qt.M
            qv = M[0, 0] * a * a + 2 * M[0, 1] * a * b + M[1, 1] * b * b
            for k, s in enumerate(pop.sides):
                if s not in qt.coef:
                    continue
                mask = (side_of == k) & ok
                val[mask] += qt.coef[s] * (qv[mask] - qt.mean[s])
        eta[:, j] = val
    return eta


def _codes(x: np.ndarray, points: tuple[int, ...]) -> np.ndarray:
    """Continuous responses (population SD 1) cut into the scale points: position (k - 1)/2 + MEAN_SHIFT +
    x * CATEGORY_WIDTH * k, rounded and clipped (fake_export's bell-shaped response model)."""
    k = len(points)
    pos = (k - 1) / 2 + MEAN_SHIFT + x * max(CATEGORY_WIDTH * k, 0.5)
    pos = np.clip(np.floor(pos + 0.5), 0, k - 1).astype(int)
    return np.asarray(points)[pos]


def _points(row) -> tuple[int, ...]:
    miss = set(row.missing_codes)
    if row.scale_min is not None and row.scale_max is not None and row.scale_max >= row.scale_min:
        return tuple(c for c in range(row.scale_min, row.scale_max + 1) if c not in miss)
    if row.value_labels:
        return tuple(sorted(c for c in row.value_labels if c not in miss))
    return ()


# ----------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------
def _load(study) -> "Study":
    from ..study import Study, load_study

    if isinstance(study, Study):
        return study
    return load_study(study)


def _codebook(study: "Study", registry: "Registry", codebook) -> tuple["Codebook", str, str | None]:
    from ..instrument import Codebook, build_instrument, codebook_from_instrument

    if codebook is not None:
        cb = codebook if isinstance(codebook, Codebook) else Codebook.read(codebook)
        return cb, "argument", cb.source
    if study.data is not None and study.data.codebook:
        p = study.resolve(study.data.codebook)
        if p.exists():
            return Codebook.read(p), "study", str(p)
    inst = build_instrument(registry, study)
    return codebook_from_instrument(inst, registry), "built", None


def study_population(study, registry: "Registry | None" = None, **kwargs) -> Population:
    """The population model of a study without drawing data (keyword arguments as :func:`simulate_study`'s
    model settings: codebook, effect, loading, facet_loading, correlation, icc, dyad_r, network_icc, group_d,
    r2_max, congruence, formative_r, formative_r2). ``population.syntax(side)`` is its lavaan syntax,
    ``population.cov[side]`` the implied covariance matrix of ``population.nodes``, ``population.planted`` and
    ``population.conflicts`` what would be planted and how conflicts were resolved."""
    return _prepare(study, registry, **kwargs)[0]


def _prepare(study, registry: "Registry | None" = None, *, codebook=None, effect: float = 0.3,
                     loading: float = 0.7, facet_loading: float = 0.7, correlation: float = 0.2,
                     icc: float = 0.2, dyad_r: float = 0.4, network_icc: float = 0.05, group_d: float = 0.5,
                     r2_max: float = 0.8, congruence: float = 0.4, formative_r: float = 0.3,
                     formative_r2: float = 0.5):
    """(population, builder, codebook, design, codebook source, codebook path, chosen hypotheses, study)."""
    from ..models.library import select_hypotheses
    from ..registry import load_registry

    st = _load(study)
    where = str(st.path) if st.path is not None else None
    if st.instrument is None:
        raise StudyError("the study has no 'instrument:' section: the pilot needs the instrument it simulates",
                         file=where, field="instrument")
    if st.models is None:
        raise StudyError("the study has no 'models:' section: the pilot plants the hypotheses of models.hypotheses",
                         file=where, field="models")
    for name, v, lo, hi in (("effect", effect, -0.95, 0.95), ("loading", loading, 0.05, 0.99),
                            ("facet_loading", facet_loading, 0.05, 0.99), ("correlation", correlation, -0.5, 0.8),
                            ("icc", icc, 0.0, 0.6), ("dyad_r", dyad_r, 0.0, 0.8),
                            ("network_icc", network_icc, 0.0, 0.5), ("group_d", group_d, -3.0, 3.0),
                            ("r2_max", r2_max, 0.05, 0.95), ("formative_r", formative_r, 0.0, 0.8),
                            ("formative_r2", formative_r2, 0.0, 0.9)):
        if not lo <= float(v) <= hi:
            raise DataError(f"{name} must be between {lo:g} and {hi:g}, got {v!r}", field=name)
    reg = registry if registry is not None else load_registry()
    cb, source, cb_path = _codebook(st, reg, codebook)
    design = _design(cb)
    if icc + (dyad_r if design["dyadic"] else 0.0) + (network_icc if design["has_network"] else 0.0) >= 0.95:
        raise DataError("icc + dyad_r + network_icc leave no respondent-level variance (must stay below .95)",
                        field="icc")
    items: dict[str, Any] = {}
    for r in cb.rows:
        if r.role != "item" or not r.item_id:
            continue
        if not r.construct or r.construct not in reg.constructs:
            raise DataError(f"item {r.item_id!r} (column {r.variable!r}) names unknown construct {r.construct!r}; "
                            "the codebook does not fit the registry", file=cb.source or "codebook", field="construct")
        items.setdefault(r.item_id, r)
    if not items:
        raise DataError("the codebook has no item columns", file=cb.source or "codebook", field="role")
    try:
        chosen = select_hypotheses(reg, st.models.hypotheses, st.models.families)
    except Exception as exc:  # ModelError: unknown id
        raise StudyError(str(getattr(exc, "message", exc)), file=where, field="models.hypotheses") from None
    constructs = list(dict.fromkeys(r.construct for r in items.values()))
    for h in chosen:
        for ref in h.construct_refs():
            for c in _expand(reg, ref):
                if c not in constructs:
                    constructs.append(c)
    sides = tuple(design["sides"]) if design["dyadic"] else ("all",)
    b = _Builder(reg, constructs, chosen, effect=effect, loading=loading, facet_loading=facet_loading,
                 correlation=correlation, group_d=group_d, r2_max=r2_max,
                 congruence=congruence, formative_r=formative_r,
                 formative_r2=formative_r2, sides=sides, dyadic=design["dyadic"], icc=icc,
                 dyad_r=dyad_r if design["dyadic"] else 0.0,
                 network_icc=network_icc if design["has_network"] else 0.0, items=items)
    b.has_network = design["has_network"]
    b.cong_lin, b.cong_notes, b.q_owner = [], {}, []
    pop = b.run()
    for s, S in pop.cov.items():
        w = np.linalg.eigvalsh((S + S.T) / 2)
        if w.min() <= 1e-10:
            raise DataError(f"the implied latent covariance matrix ({s}) is not positive definite "
                            f"(smallest eigenvalue {w.min():.3g}); lower effect or r2_max", field="effect")
    return pop, b, cb, design, source, cb_path, chosen, st


def simulate_study(study, n: int, seed: int, out, *, registry: "Registry | None" = None, codebook=None,
                   effect: float = 0.3, loading: float = 0.7, facet_loading: float = 0.7,
                   correlation: float = 0.2, icc: float = 0.2, dyad_r: float = 0.4, network_icc: float = 0.05,
                   group_d: float = 0.5, r2_max: float = 0.8, congruence: float = 0.4,
                   formative_r: float = 0.3, formative_r2: float = 0.5, org_size: tuple[int, int] = (4, 8),
                   straightliners: float = 0.0, random_responders: float = 0.0, speeders: float = 0.0,
                   missing: float = 0.0, previews: int = 0, duplicates: int = 0, partials: float = 0.0,
                   truth=None, population_out=None) -> StudySimulation:
    """Write a pilot export of the study's instrument (``out``) drawn from the population model of its chosen
    hypotheses; see the module docstring for what is planted and how conflicts are resolved.

    ``study``: a Study or the path of a study file (needs ``instrument:`` and ``models:``). ``codebook``: a
    Codebook or path; default the study's ``data.codebook`` when that file exists, else the instrument built in
    memory from the study (``codebook_source`` says which). ``effect``: standardised path coefficient;
    ``congruence``: standardised weight of each quadratic congruence term; ``icc``, ``dyad_r``,
    ``network_icc``: variance shares of organisation, relationship and network; ``org_size``: (min, max)
    respondents per organisation. Flaws (``straightliners`` ... ``partials``) as
    :func:`vccscale.instrument.fake_export` (all 0 by default; ``partials`` is fake_export's closed timeouts).
    ``truth``: also write fake_export's per-response kinds; ``population_out``: also write the population model
    (lavaan syntax). Raises StudyError / DataError (file and field named) for unusable input.
    """
    import pandas as pd

    from ..instrument import fake_export

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"n must be a positive integer, got {n!r}", field="n")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}", field="seed")
    lo, hi = (int(x) for x in org_size)
    if not 1 <= lo <= hi:
        raise DataError(f"org_size must be (min, max) with 1 <= min <= max, got {org_size!r}", field="org_size")
    n, seed = int(n), int(seed)
    pop, b, cb, design, source, cb_path, chosen, st = _prepare(
        study, registry, codebook=codebook, effect=effect, loading=loading, facet_loading=facet_loading,
        correlation=correlation, icc=icc, dyad_r=dyad_r, network_icc=network_icc, group_d=group_d, r2_max=r2_max,
        congruence=congruence, formative_r=formative_r, formative_r2=formative_r2)
    sided = design["dyadic"]
    need = 2 * lo * (2 if sided else 1)
    if n < need:
        what = ("provider and customer organisations" if sided else "organisations")
        raise DataError(f"n = {n} is too small for the design: {what} of {lo}-{hi} respondents need at least "
                        f"{need} respondents (two organisations{' per side' if sided else ''})", field="n")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20261124]))
    orgs = _organisations(n, sided, (lo, hi), rng)
    nets = _networks(orgs)
    if sided:
        side_of = np.array([0 if i % 2 == 0 else 1 for i in range(n)])
    else:
        side_of = np.zeros(n, dtype=int)
    eta = _draw(pop, n, side_of, orgs, nets, sided, rng)
    cols: dict[str, np.ndarray] = {}
    noise = rng.standard_normal((n, len(pop.items)))
    for k, (iid, (node, lam)) in enumerate(pop.items.items()):
        pts = _points(b.items[iid])
        if len(pts) < 2:
            continue
        j = pop.index(node)
        if pop.kind[node] == "formative":
            x = lam * eta[:, j]
        else:
            x = lam * eta[:, j] + math.sqrt(max(0.0, 1.0 - lam * lam)) * noise[:, k]
        cols[iid] = _codes(x, pts)
    answers = pd.DataFrame(cols)
    fx = fake_export(cb, n=n, seed=seed, out=out, straightliners=straightliners,
                     random_responders=random_responders, speeders=speeders, missing=missing, previews=previews,
                     duplicates=duplicates, truth=truth, partials=partials, answers=answers, organisations=orgs)
    hyp_ids = tuple(h.id for h in chosen)
    header = (f"study {st.study.id}; hypotheses {', '.join(hyp_ids)}; effect {effect:g}, loading {loading:g}, "
              f"seed {seed}")
    syntax = "".join(pop.syntax(s, header) for s in pop.sides) if len(pop.sides) > 1 else pop.syntax(None, header)
    if population_out is not None:
        try:
            Path(population_out).write_text(syntax, encoding="utf-8")
        except OSError as exc:
            raise DataError(f"cannot write the population model: {exc.strerror or exc}", file=population_out) \
                from None
    cons = [i for i, c in enumerate(pop.nodes) if pop.kind[c] == "construct"]
    mx = 0.0   # largest latent correlation of two constructs that are not a first-order factor and its parent
    nested = {(pop.index(a), pop.index(b)) for a, b in pop.structure} | {(pop.index(b), pop.index(a))
                                                                          for a, b in pop.structure}
    for S in pop.cov.values():
        d = np.sqrt(np.diag(S))
        for x, i in enumerate(cons):
            for j in cons[x + 1:]:
                if (i, j) not in nested:
                    mx = max(mx, abs(float(S[i, j] / (d[i] * d[j]))))
    n_org = len(dict.fromkeys(orgs))
    design_out = {"versions": design["versions"], "sides": design["sides"],
                  "stakeholder_roles": design["stakeholder_roles"], "dyadic": sided,
                  "groups": list(pop.sides), "n_organisations": n_org, "org_size": [lo, hi],
                  "n_relationships": (n + 1) // 2 if sided else 0, "n_networks": len(set(nets)) if
                  design["has_network"] else 0, "n_variables": len(pop.nodes),
                  "n_latent": len(cons), "n_items": len(pop.items)}
    settings = {"effect": effect, "loading": loading, "facet_loading": facet_loading, "correlation": correlation,
                "icc": icc, "dyad_r": pop.dyad_r, "network_icc": pop.network_icc, "group_d": group_d,
                "r2_max": r2_max, "congruence": congruence,
                "formative_r": formative_r, "formative_r2": formative_r2,
                "flaws": {"straightliners": straightliners, "random_responders": random_responders,
                          "speeders": speeders, "missing": missing, "previews": previews, "duplicates": duplicates,
                          "partials": partials}}
    export = {k: v for k, v in fx.items() if k not in ("path", "truth")}
    return StudySimulation(study=st.study.id, n=n, seed=seed, out=str(out), codebook_source=source,
                           codebook_path=cb_path, hypotheses=hyp_ids, design=design_out, settings=settings,
                           planted=tuple(b.planted), conflicts=tuple(b.conflicts), population_syntax=syntax,
                           export=export, max_latent_correlation=mx,
                           population_out=str(population_out) if population_out is not None else None,
                           truth=str(truth) if truth is not None else None)
