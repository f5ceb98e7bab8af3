"""Construct registry, item bank and hypotheses, loaded from YAML and validated.

The registry is data (``instruments/`` in the repository, shipped inside the wheel as ``vccscale/_instruments``):

- ``seeds.yaml``: the seed documents every provenance entry points to;
- ``constructs/*.yaml``: one entry per construct (latent, observed and structural);
- ``items/scales.yaml``, ``items/stems.yaml``, ``items/blocks.yaml`` and ``items/*.yaml`` (the item bank);
- ``hypotheses.yaml``: hypotheses H1-H71 with the relations they assert and the tests they imply.

``load_registry(path=None)`` reads and validates all of it and returns a read-only :class:`Registry`. Every
problem found (unknown keys, missing provenance, duplicate ids, references to unknown constructs, ...) is
reported with its file, line and field; all problems are collected before raising :class:`RegistryErrors`.
"""
from __future__ import annotations

import fnmatch
import os
import re
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import RegistryError, RegistryErrors
from .yamlio import LineMap, load_yaml, validation_problems

# --------------------------------------------------------------------------------------------------------------
# Vocabularies (construct-map section 0.3)
# --------------------------------------------------------------------------------------------------------------
FAMILIES = ("A", "B", "C", "D")
ROLE_TERMS = ("driver", "antecedent", "mediator", "moderator", "condition", "outcome", "level")
LEVEL_TERMS = ("micro", "meso", "macro", "dyad", "individual", "organisation", "network")
WORDING_CODES = ("P+C", "P", "C", "J", "S")
ITEM_WORDING_KEYS = ("P", "C", "J", "S")
STAKEHOLDER_ROLES = ("staff", "service_user", "partner_manager", "funder", "employer")
REFERENTS = ("micro", "meso", "macro")
MEASUREMENT = ("reflective", "formative", "observed", "structural")
ITEM_KINDS = ("reflective", "global", "formative", "checklist", "observed")
ID_PREFIX = {"a_": "A", "b_": "B", "c_": "C", "d_": "D", "x_": "X", "lvl_": None}

T3_DIMS = ("VProp", "VCre", "VDel", "VCap")
T3_LEVELS = ("micro", "meso", "meso-r2", "macro", "macro-r2", "*")
T3_COLUMNS = ("ISN", "SE1", "SE2", "MECH", "*")
_WHERE_RE = re.compile(
    r"^(§|T[1-5]\b|Fig\.\s?\d|App\d|KS[1-5]|P[1-3]\b|Abstract|§Sum|Table\s?\d)")
_CELL_RE = re.compile(r"^(T[23])\[([^\]]+)\]")

# pydantic warns that a field called "construct" shadows the deprecated BaseModel.construct(); it is harmless.
warnings.filterwarnings("ignore", message='Field name "construct"', category=UserWarning)

ConstructId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
StrictText = Annotated[str, Field(min_length=1)]
# hypotheses may name a group of constructs by pattern, as the construct map does (a_drv_*, c_v*_meso)
ConstructRef = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_*]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --------------------------------------------------------------------------------------------------------------
# Seeds and provenance
# --------------------------------------------------------------------------------------------------------------
class Seed(_Model):
    code: Annotated[str, Field(pattern=r"^S\d{3}$")]
    file: StrictText
    citation: StrictText
    kind: StrictText


class Provenance(_Model):
    """Where in a seed a construct, item or hypothesis comes from.

    ``where`` uses the construct map's notation (section 0.2): a printed section (``§4.1.1``, ``§PF1``), a table
    or table cell (``T3[VProp/micro/ISN]``, ``T2[r1/char]``, ``T4 row "Realigning incentives"``), a figure,
    appendix or key statement. ``loc`` is a short phrase that can be found in the seed text.
    """

    seed: Annotated[str, Field(pattern=r"^S\d{3}$")]
    where: StrictText
    loc: str | list[str] | None = None
    note: str | None = None

    @field_validator("where")
    @classmethod
    def _where_known(cls, v: str) -> str:
        if not _WHERE_RE.match(v):
            raise ValueError(f"unrecognised locator {v!r}: expected a section (§...), table (T1-T5, T3[dim/level/"
                             "column]), figure (Fig.N), appendix (AppN), key statement (KSN) or proposition (PN)")
        m = _CELL_RE.match(v)
        if m and m.group(1) == "T3":
            parts = m.group(2).split("/")
            if not (2 <= len(parts) <= 3 and parts[0] in T3_DIMS and parts[1] in T3_LEVELS
                    and (len(parts) == 2 or parts[2] in T3_COLUMNS)):
                raise ValueError(f"bad Table 3 cell {m.group(0)!r}: expected T3[dim/level/column] with dim in "
                                 f"{T3_DIMS}, level in {T3_LEVELS}, column in {T3_COLUMNS}")
        if m and m.group(1) == "T2" and not re.fullmatch(r"r[1-4](/(char|impl))?", m.group(2)):
            raise ValueError(f"bad Table 2 cell {m.group(0)!r}: expected T2[rN] or T2[rN/char|impl], N = 1-4")
        return v

    @property
    def loc_phrases(self) -> list[str]:
        if self.loc is None:
            return []
        return [self.loc] if isinstance(self.loc, str) else list(self.loc)

    @property
    def table(self) -> str | None:
        m = re.match(r"^(T[1-5]|Fig\.\s?\d|App\d|KS[1-5]|P[1-3])\b", self.where)
        return m.group(1) if m else None

    @property
    def cell(self) -> str | None:
        m = _CELL_RE.match(self.where)
        if m:
            return m.group(2)
        m = re.match(r'^T4 row "([^"]+)"', self.where)
        return m.group(1) if m else None

    @property
    def section(self) -> str | None:
        return self.where.split()[0] if self.where.startswith("§") else None


# --------------------------------------------------------------------------------------------------------------
# Constructs
# --------------------------------------------------------------------------------------------------------------
class RsaSpec(_Model):
    """The construct is one axis of a congruence (response surface) pair."""

    axis: Literal["X", "Y"]
    phase: int | None = None
    partner: ConstructId


class Construct(_Model):
    id: ConstructId
    name: StrictText
    family: Literal["A", "B", "C", "D", "X"]
    families: list[Literal["A", "B", "C", "D"]] = Field(default_factory=list)
    family_text: str | None = None
    role: list[Literal[ROLE_TERMS]] = Field(min_length=1)  # type: ignore[valid-type]
    role_text: StrictText
    order: Literal["first", "second"] | None = None
    parent: ConstructId | None = None
    lower_order: list[ConstructId] = Field(default_factory=list)
    level: list[Literal[LEVEL_TERMS]] = Field(min_length=1)  # type: ignore[valid-type]
    level_text: StrictText
    wording: list[Literal[WORDING_CODES]] = Field(default_factory=list)  # type: ignore[valid-type]
    wording_optional: list[Literal["P", "C"]] = Field(default_factory=list)
    wording_text: StrictText
    stakeholder_roles: list[Literal[STAKEHOLDER_ROLES]] | None = None  # type: ignore[valid-type]
    definition: StrictText
    facets: list[StrictText] = Field(default_factory=list)
    measurement: Literal[MEASUREMENT]  # type: ignore[valid-type]
    identification: Literal["mimic", "index", "composite"] | None = None
    global_items: int = 0
    global_facets: list[StrictText] = Field(default_factory=list)
    latent: bool = True
    rsa: RsaSpec | None = None
    identifiers: list[StrictText] = Field(default_factory=list)
    provenance: list[Provenance] = Field(min_length=1)
    note: str | None = None
    # facet pairs of `items overlap` that the construct accepts: {lint: overlap, facet: N, other: <construct id>,
    # other_facet: M, reason: ...}
    waivers: list[Waiver] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "Construct":
        prefix = next((p for p in ID_PREFIX if self.id.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"id {self.id!r} must start with a_, b_, c_, d_, x_ or lvl_ (construct-map 0.3)")
        expected = ID_PREFIX[prefix]
        if expected is not None and self.family != expected:
            raise ValueError(f"id prefix {prefix!r} means family {expected}, but family is {self.family}")
        if self.family == "X" and len(self.families) < 2:
            raise ValueError("a shared (family X) construct lists the families that use it (at least two)")
        if self.family != "X" and self.families and self.families != [self.family]:
            raise ValueError("families is only for shared (X) constructs")
        if self.order == "first" and not self.parent:
            raise ValueError("a first-order construct names its parent")
        if self.order == "second" and not self.lower_order:
            raise ValueError("a second-order construct lists its lower-order constructs")
        if self.order != "first" and self.parent:
            raise ValueError("parent is only for first-order constructs (order: first)")
        if self.measurement == "structural" and self.latent:
            raise ValueError("structural entries are not latent (latent: false)")
        if self.identification == "mimic" and self.global_items < 2:
            raise ValueError("a MIMIC construct needs at least 2 global reflective items (global_items)")
        if self.latent and self.measurement != "structural" and not self.wording:
            raise ValueError("a latent construct needs wording codes")
        if "S" not in self.wording and self.stakeholder_roles:
            raise ValueError("stakeholder_roles is only for constructs with wording code S")
        for w in self.waivers:
            if w.lint != "overlap" or w.facet is None or w.other is None or w.other_facet is None:
                raise ValueError("a construct waiver accepts one facet pair of items overlap: {lint: overlap, "
                                 "facet: N, other: <construct id>, other_facet: M, reason: ...}")
            if w.facet > len(self.facets):
                raise ValueError(f"waiver facet {w.facet} does not exist (the construct has {len(self.facets)} "
                                 "facets)")
        return self

    @property
    def families_using(self) -> list[str]:
        return list(self.families) if self.family == "X" else [self.family]

    @property
    def item_keys(self) -> set[str]:
        """Wording keys an item of this construct may carry."""
        keys: set[str] = set(self.wording_optional)
        for code in self.wording:
            keys.update(("P", "C") if code == "P+C" else (code,))
        return keys

    @property
    def needs_items(self) -> bool:
        """Reflective first-order constructs (and formative ones) need items; 2nd-order/structural do not."""
        return self.latent and self.order != "second" and self.measurement in ("reflective", "formative")


# --------------------------------------------------------------------------------------------------------------
# Items, scales, stems, blocks
# --------------------------------------------------------------------------------------------------------------
class Scale(_Model):
    id: StrictText
    name: StrictText
    type: Literal["likert", "binary", "ordinal"]
    labels: dict[int, StrictText]
    dont_know_code: int | None = None
    dont_know_label: str | None = None
    # what respondents see, in plain words, when the labels carry analysis codes (bmi_stage4: "F1: ..."); the
    # labels stay the codebook's value labels
    display: dict[int, StrictText] | None = None

    @model_validator(mode="after")
    def _labels(self) -> "Scale":
        codes = sorted(self.labels)
        if codes != list(range(codes[0], codes[0] + len(codes))):
            raise ValueError(f"scale codes must be consecutive integers, got {codes}")
        if self.dont_know_code is not None and self.dont_know_code in self.labels:
            raise ValueError("dont_know_code must not be a scale point (it is coded as missing)")
        if self.display is not None and set(self.display) != set(self.labels):
            raise ValueError("display gives the respondent's wording of every code in labels, and no other")
        return self

    @property
    def min(self) -> int:
        return min(self.labels)

    @property
    def max(self) -> int:
        return max(self.labels)


class Stem(_Model):
    id: StrictText
    text: StrictText
    scale: StrictText
    phase: int | None = None


class Waiver(_Model):
    """A finding that an item (or a construct) accepts, with the reason. ``lint: overlap`` waives one pair of
    ``vccscale items overlap``: on an item, ``other`` is the other item; on a construct, the pair of facet texts
    ``facet`` (this construct's facet number) and ``other_facet`` of construct ``other``."""

    lint: StrictText
    reason: Annotated[str, Field(min_length=10)]
    other: str | None = None  # the other item (item waiver) or construct (construct waiver) of a pair
    facet: int | None = Field(default=None, ge=1)        # construct waivers only: this construct's facet
    other_facet: int | None = Field(default=None, ge=1)  # construct waivers only: the other construct's facet


SWording = dict[Literal[STAKEHOLDER_ROLES], StrictText]  # type: ignore[valid-type]


class Item(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*_\d{2}$")]
    construct: ConstructId
    facet: int = Field(ge=0)
    kind: Literal[ITEM_KINDS] = "reflective"  # type: ignore[valid-type]
    reverse: bool = False
    scale: str | None = None
    stem: str | None = None
    wording: dict[Literal[ITEM_WORDING_KEYS], Union[StrictText, SWording]]  # type: ignore[valid-type]
    referent: Literal[REFERENTS] | None = None  # type: ignore[valid-type]
    pair: str | None = None
    # true: every version offers "don't know"; a list of wording keys (P, C, J, S): only those versions do (e.g. [C]
    # for a customer asked about the provider's own results)
    dont_know: bool | list[Literal[ITEM_WORDING_KEYS]] = False  # type: ignore[valid-type]
    provenance: list[Provenance] = Field(min_length=1)
    status: Literal["draft", "validated"]
    waivers: list[Waiver] = Field(default_factory=list)
    note: str | None = None

    @field_validator("provenance", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _shape(self) -> "Item":
        if not self.wording:
            raise ValueError("an item needs at least one wording")
        for key, text in self.wording.items():
            if (key == "S") != isinstance(text, dict):
                raise ValueError(f"wording {key}: S takes a mapping role -> text; P, C and J take a text")
        if "S" in self.wording and self.referent is None:
            raise ValueError("an item with stakeholder (S) wording needs a referent (micro, meso or macro)")
        if self.scale is None and self.stem is None:
            raise ValueError("an item needs a scale (or a stem that gives one)")
        if not self.id.startswith(self.construct + "_"):
            raise ValueError(f"item id {self.id!r} must be '<construct id>_NN' ({self.construct}_NN)")
        if isinstance(self.dont_know, list):
            if not self.dont_know:
                raise ValueError("dont_know: give true, false or the wording keys whose version offers it")
            extra = [k for k in self.dont_know if k not in self.wording]
            if extra:
                raise ValueError(f"dont_know names wording key(s) {extra} the item has no wording for")
        if any(w.facet is not None or w.other_facet is not None for w in self.waivers):
            raise ValueError("facet and other_facet belong to a construct's waiver of a facet pair, not to an item's")
        return self

    def dont_know_for(self, key: str) -> bool:
        """Whether the version with wording key ``key`` (P, C, J or S:<role>) offers "don't know"."""
        if isinstance(self.dont_know, bool):
            return self.dont_know
        return key.split(":", 1)[0] in self.dont_know

    def texts(self) -> dict[str, str]:
        """Flat view of all wordings: {'P': ..., 'C': ..., 'S:staff': ...}."""
        out: dict[str, str] = {}
        for key, text in self.wording.items():
            if isinstance(text, dict):
                out.update({f"S:{role}": t for role, t in text.items()})
            else:
                out[key] = text
        return out

    def waived(self, lint: str) -> bool:
        return any(w.lint == lint for w in self.waivers)


class BlockQuestion(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    type: Literal["single_choice", "text_entry", "numeric_entry", "likert", "instructed_response", "descriptive"]
    role: Literal["consent", "attention_check", "respondent_role", "organisation_id", "relationship_id",
                  "firmographic", "marker", "info", "key_informant", "screener"]
    text: StrictText
    # wording for network studies (stakeholder versions only), when the dyadic wording names [Partner]
    network_text: str | None = None
    # asked only in dyadic studies (provider/customer versions) or only in network studies (stakeholder roles)
    only_if: Literal["dyadic", "network"] | None = None
    choices: dict[int, StrictText] | None = None
    scale: str | None = None
    correct: int | None = None
    reverse: bool = False
    required: bool = False
    end_survey_unless: int | None = None
    embedded_data: str | None = None
    grouping: bool = False  # a grouping variable: asked only when a chosen hypothesis compares its groups
    note: str | None = None
    waivers: list[Waiver] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self) -> "BlockQuestion":
        if self.type == "single_choice" and not self.choices:
            raise ValueError("a single_choice question lists its choices")
        if self.type in ("likert", "instructed_response") and not self.scale:
            raise ValueError(f"a {self.type} question names its scale")
        if self.role == "attention_check" and self.correct is None:
            raise ValueError("an attention check states its correct answer (correct)")
        return self


class Block(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    title: StrictText
    purpose: StrictText
    questions: list[BlockQuestion] = Field(min_length=1)


# --------------------------------------------------------------------------------------------------------------
# Hypotheses
# --------------------------------------------------------------------------------------------------------------
Sign = Literal["+", "-", "0", "?"]  # "0": hypothesised zero; "?": the seed states no direction
LevelRef = Literal["micro", "meso", "macro"] | None


class _Rel(_Model):
    note: str | None = None
    from_level: LevelRef = None
    to_level: LevelRef = None

    def construct_refs(self) -> list[str]:
        raise NotImplementedError


class PathRel(_Rel):
    type: Literal["path"]
    from_: ConstructRef = Field(alias="from")
    to: ConstructRef
    sign: Sign

    def construct_refs(self) -> list[str]:
        return [self.from_, self.to]


class IndirectRel(_Rel):
    type: Literal["indirect"]
    from_: ConstructRef = Field(alias="from")
    via: list[ConstructRef] = Field(min_length=1)
    to: ConstructRef
    sign: Sign

    def construct_refs(self) -> list[str]:
        return [self.from_, *self.via, self.to]


class InteractionRel(_Rel):
    type: Literal["interaction"]
    from_: ConstructRef = Field(alias="from")
    moderator: ConstructRef
    to: ConstructRef
    sign: Sign

    def construct_refs(self) -> list[str]:
        return [self.from_, self.moderator, self.to]


class CongruenceRel(_Rel):
    type: Literal["congruence"]
    x: ConstructRef
    y: ConstructRef
    to: ConstructRef
    expect: dict[Literal["a1", "a2", "a3", "a4", "a5"], Literal["> 0", "< 0", "= 0"]]

    def construct_refs(self) -> list[str]:
        return [self.x, self.y, self.to]


class CovarianceRel(_Rel):
    type: Literal["covariance"]
    between: list[ConstructRef] = Field(min_length=2, max_length=2)
    sign: Sign

    def construct_refs(self) -> list[str]:
        return list(self.between)


class GroupDifferenceRel(_Rel):
    type: Literal["group_difference"]
    construct: ConstructRef
    group: StrictText
    expect: StrictText
    grouping: ConstructRef | None = None  # structural entry whose identifier defines the groups (lvl_*)

    def construct_refs(self) -> list[str]:
        return [self.construct] + ([self.grouping] if self.grouping else [])


class GroupModerationRel(_Rel):
    type: Literal["group_moderation"]
    from_: ConstructRef = Field(alias="from")
    to: ConstructRef
    group: StrictText
    expect: StrictText
    grouping: ConstructRef | None = None  # structural entry whose identifier defines the groups (lvl_*)

    def construct_refs(self) -> list[str]:
        return [self.from_, self.to] + ([self.grouping] if self.grouping else [])


class InvarianceRel(_Rel):
    type: Literal["invariance"]
    constructs: list[ConstructRef] = Field(min_length=1)
    group: StrictText
    level: Literal["configural", "metric", "scalar", "strict"]
    grouping: ConstructRef | None = None  # structural entry whose identifier defines the groups (lvl_*)

    def construct_refs(self) -> list[str]:
        return list(self.constructs) + ([self.grouping] if self.grouping else [])


class DistinctRel(_Rel):
    type: Literal["distinct"]
    constructs: list[ConstructRef] = Field(min_length=2)

    def construct_refs(self) -> list[str]:
        return list(self.constructs)


class StructureRel(_Rel):
    type: Literal["structure"]
    construct: ConstructRef
    facets: list[ConstructRef] = Field(min_length=1)

    def construct_refs(self) -> list[str]:
        return [self.construct, *self.facets]


class NestingRel(_Rel):
    type: Literal["nesting"]
    constructs: list[ConstructRef] = Field(min_length=1)
    levels: list[StrictText] = Field(min_length=1)

    def construct_refs(self) -> list[str]:
        return list(self.constructs)


class NecessityRel(_Rel):
    type: Literal["necessity"]
    condition: ConstructRef
    outcome: ConstructRef

    def construct_refs(self) -> list[str]:
        return [self.condition, self.outcome]


Relation = Annotated[Union[PathRel, IndirectRel, InteractionRel, CongruenceRel, CovarianceRel, GroupDifferenceRel,
                           GroupModerationRel, InvarianceRel, DistinctRel, StructureRel, NestingRel, NecessityRel],
                     Field(discriminator="type")]

TEST_METHODS = (
    "cfa", "cfa_model_comparison", "bifactor_comparison", "sem_path", "nested_model_comparison",
    "indirect_bootstrap", "full_vs_partial_mediation", "serial_mediation", "latent_interaction", "moderation",
    "multigroup_moderation", "invariance", "latent_mean_difference", "multigroup_path_equality", "rsa",
    "logistic_rsa", "discrepancy_regression", "ordinal_regression", "logistic_regression", "icc_rwg",
    "two_level_sem", "multilevel_mediation", "random_intercept_model", "model_comparison", "cross_lagged_panel",
    "discriminant_validity", "mimic", "nca", "quantile_regression", "incremental_r2", "dyadic_agreement",
)


class HypothesisTest(_Model):
    methods: list[Literal[TEST_METHODS]] = Field(min_length=1)  # type: ignore[valid-type]
    description: StrictText


class Hypothesis(_Model):
    id: Annotated[str, Field(pattern=r"^H\d+$")]
    family: Literal["A", "B", "C", "D", "X"]
    statement: StrictText
    relations: list[Relation] = Field(min_length=1)
    test: HypothesisTest
    basis: list[Literal["F", "P", "FR", "D"]] = Field(min_length=1)
    basis_note: str | None = None
    exploratory: bool
    provenance: list[Provenance] = Field(min_length=1)

    @model_validator(mode="after")
    def _exploratory(self) -> "Hypothesis":
        if self.basis == ["D"] and not self.exploratory:
            raise ValueError("a hypothesis derived here (basis D only) is exploratory: set exploratory: true")
        if "D" not in self.basis and self.exploratory:
            raise ValueError("exploratory: true needs basis D (derived, not stated by the seed)")
        return self

    def construct_refs(self) -> list[str]:
        refs: list[str] = []
        for rel in self.relations:
            refs.extend(r for r in rel.construct_refs() if r not in refs)
        return refs


# --------------------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Located:
    """Where an object was defined: file and line (for error messages and lints)."""

    file: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Registry:
    root: Path
    seeds: dict[str, Seed]
    constructs: dict[str, Construct]
    items: dict[str, Item]
    scales: dict[str, Scale]
    stems: dict[str, Stem]
    blocks: dict[str, Block]
    hypotheses: dict[str, Hypothesis]
    lint_config: dict[str, Any] = field(default_factory=dict)
    where: dict[str, Located] = field(default_factory=dict, repr=False)  # "construct:ID" / "item:ID" -> place

    # -- lookups -----------------------------------------------------------------------------------------------
    def construct(self, cid: str) -> Construct:
        try:
            return self.constructs[cid]
        except KeyError:
            close = [c for c in self.constructs if cid in c or c in cid][:5]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise RegistryError(f"unknown construct {cid!r}{hint}", file=str(self.root)) from None

    def items_of(self, cid: str) -> list[Item]:
        return self._items_by_construct.get(cid, [])

    @cached_property
    def _items_by_construct(self) -> dict[str, list[Item]]:
        out: dict[str, list[Item]] = {}
        for item in self.items.values():
            out.setdefault(item.construct, []).append(item)
        return out

    def item_scale(self, item: Item) -> Scale:
        sid = item.scale if item.scale else self.stems[item.stem].scale  # type: ignore[index]
        return self.scales[sid]

    def constructs_in(self, family: str | None = None, *, include_shared: bool = True) -> list[Construct]:
        """Constructs of a family (A-D, X); shared constructs used by that family are included by default."""
        if family is None:
            return list(self.constructs.values())
        family = family.upper()
        return [c for c in self.constructs.values()
                if c.family == family or (include_shared and family in c.families_using)]

    def hypotheses_in(self, family: str | None = None) -> list[Hypothesis]:
        if family is None:
            return list(self.hypotheses.values())
        return [h for h in self.hypotheses.values() if h.family == family.upper()]

    def expand(self, pattern: str) -> list[str]:
        """Construct ids matching an id or a pattern such as ``a_drv_*`` or ``c_v*_meso``."""
        if "*" not in pattern:
            return [pattern] if pattern in self.constructs else []
        return [c for c in self.constructs if fnmatch.fnmatchcase(c, pattern)]

    def seed_file(self, code: str) -> str:
        return self.seeds[code].file

    def located(self, kind: str, oid: str) -> Located | None:
        return self.where.get(f"{kind}:{oid}")

    # -- records (what `constructs list --format json` prints) --------------------------------------------------
    def provenance_record(self, p: Provenance) -> dict[str, Any]:
        rec: dict[str, Any] = {"seed": p.seed, "file": self.seed_file(p.seed), "where": p.where}
        for key in ("section", "table", "cell"):
            val = getattr(p, key)
            if val:
                rec[key] = val
        if p.loc_phrases:
            rec["loc"] = p.loc_phrases
        if p.note:
            rec["note"] = p.note
        return rec

    def construct_record(self, c: Construct, *, full: bool = False) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "id": c.id, "name": c.name, "family": c.family, "families": c.families_using,
            "role": "/".join(c.role), "role_text": c.role_text, "order": c.order,
            "level": c.level, "wording": c.wording, "measurement": c.measurement,
            "identification": c.identification, "latent": c.latent,
            "provenance": [self.provenance_record(p) for p in c.provenance],
            "n_items": len(self.items_of(c.id)), "n_facets": len(c.facets),
        }
        if c.parent:
            rec["parent"] = c.parent
        if c.lower_order:
            rec["lower_order"] = c.lower_order
        if full:
            rec.update(definition=c.definition, facets=c.facets, wording_text=c.wording_text,
                       level_text=c.level_text, stakeholder_roles=c.stakeholder_roles,
                       global_items=c.global_items, rsa=c.rsa.model_dump() if c.rsa else None,
                       identifiers=c.identifiers, note=c.note,
                       items=[self.item_record(i) for i in self.items_of(c.id)])
        return rec

    def item_record(self, i: Item) -> dict[str, Any]:
        scale = self.item_scale(i)
        return {"id": i.id, "construct": i.construct, "facet": i.facet, "kind": i.kind, "reverse": i.reverse,
                "scale": scale.id, "stem": i.stem, "referent": i.referent, "wording": i.texts(),
                "status": i.status, "provenance": [self.provenance_record(p) for p in i.provenance]}

    def hypothesis_record(self, h: Hypothesis) -> dict[str, Any]:
        return {"id": h.id, "family": h.family, "statement": h.statement,
                "constructs": h.construct_refs(),
                "relations": [r.model_dump(by_alias=True, exclude_none=True) for r in h.relations],
                "test": h.test.model_dump(), "basis": h.basis, "basis_note": h.basis_note,
                "exploratory": h.exploratory,
                "provenance": [self.provenance_record(p) for p in h.provenance]}


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------
ENV_VAR = "VCCSCALE_REGISTRY"


def default_registry_dir() -> Path:
    """Where the shipped registry lives.

    Order: ``$VCCSCALE_REGISTRY``; ``vccscale/_instruments`` inside an installed wheel; ``instruments/`` beside
    the package in a source checkout (editable install).
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for cand in (here / "_instruments", here.parent / "instruments"):
        if (cand / "constructs").is_dir():
            return cand
    raise RegistryError("the construct registry was not found: neither vccscale/_instruments nor instruments/ "
                        f"beside the package exists; pass --registry DIR or set {ENV_VAR}", file=str(here))


class _Collector:
    """Collects validation problems with file and line."""

    def __init__(self) -> None:
        self.errors: list[RegistryError] = []
        self.invalid: set[str] = set()  # ids of entries that failed validation (already reported)

    def add(self, message: str, *, file: str | None, line: int | None = None, field: str | None = None) -> None:
        self.errors.append(RegistryError(message, file=file, line=line, field=field))

    def pydantic(self, exc: ValidationError, lm: LineMap, base: tuple, what: str) -> None:
        for msg, line, fld in validation_problems(exc, lm, base):
            self.add(f"{what}: {msg}", file=lm.file, line=line, field=fld)


def _entries(data: Any, key: str, lm: LineMap, col: _Collector) -> list[tuple[int, Any]]:
    if data is None:
        return []
    if not isinstance(data, dict) or key not in data:
        col.add(f"expected a mapping with a top-level '{key}:' list", file=lm.file, line=1)
        return []
    extra = set(data) - {key}
    for k in extra:
        col.add("unknown top-level key", file=lm.file, line=lm.line((k,)), field=str(k))
    entries = data[key]
    if not isinstance(entries, list):
        col.add(f"'{key}' must be a list", file=lm.file, line=lm.line((key,)), field=key)
        return []
    return list(enumerate(entries))


def _load_list(files: list[Path], key: str, model: type[_Model], idattr: str, col: _Collector,
               where: dict[str, Located], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in files:
        try:
            data, lm = load_yaml(f)
        except RegistryError as exc:
            col.errors.append(exc)
            continue
        for i, raw in _entries(data, key, lm, col):
            oid = raw.get(idattr) if isinstance(raw, dict) else None
            what = f"{kind} {oid!r}" if oid else f"{kind} #{i + 1}"
            try:
                obj = model.model_validate(raw)
            except ValidationError as exc:
                col.pydantic(exc, lm, (key, i), what)
                if isinstance(oid, str):
                    col.invalid.add(oid)
                continue
            oid = getattr(obj, idattr)
            line = lm.line((key, i))
            if oid in out:
                col.add(f"duplicate {kind} id {oid!r} (first defined at {where[f'{kind}:{oid}']})",
                        file=lm.file, line=line, field=idattr)
                continue
            out[oid] = obj
            where[f"{kind}:{oid}"] = Located(lm.file, line)
    return out


def _yaml_files(d: Path) -> list[Path]:
    return sorted(p for p in d.glob("*.yaml") if not p.name.startswith("_")) if d.is_dir() else []


ITEM_SUPPORT_FILES = {"scales.yaml", "stems.yaml", "blocks.yaml", "lint.yaml"}


def load_registry(path: str | Path | None = None) -> Registry:
    """Load and validate a registry directory (default: the shipped one). Raises RegistryErrors."""
    root = Path(path) if path is not None else default_registry_dir()
    if not root.is_dir():
        raise RegistryError("registry directory not found", file=str(root))
    col = _Collector()
    where: dict[str, Located] = {}

    seeds = _load_list([root / "seeds.yaml"], "seeds", Seed, "code", col, where, "seed")
    cfiles = _yaml_files(root / "constructs")
    if not cfiles:
        col.add("no construct files (constructs/*.yaml)", file=str(root / "constructs"))
    constructs = _load_list(cfiles, "constructs", Construct, "id", col, where, "construct")
    items_dir = root / "items"
    scales = _load_list([items_dir / "scales.yaml"], "scales", Scale, "id", col, where, "scale")
    stems = (_load_list([items_dir / "stems.yaml"], "stems", Stem, "id", col, where, "stem")
             if (items_dir / "stems.yaml").exists() else {})
    blocks = (_load_list([items_dir / "blocks.yaml"], "blocks", Block, "id", col, where, "block")
              if (items_dir / "blocks.yaml").exists() else {})
    ifiles = [p for p in _yaml_files(items_dir) if p.name not in ITEM_SUPPORT_FILES]
    items = _load_list(ifiles, "items", Item, "id", col, where, "item")
    hyps = (_load_list([root / "hypotheses.yaml"], "hypotheses", Hypothesis, "id", col, where, "hypothesis")
            if (root / "hypotheses.yaml").exists() else {})
    lint_config: dict[str, Any] = {}
    if (items_dir / "lint.yaml").exists():
        try:
            lint_config = load_yaml(items_dir / "lint.yaml")[0] or {}
        except RegistryError as exc:
            col.errors.append(exc)

    reg = Registry(root=root, seeds=seeds, constructs=constructs, items=items, scales=scales, stems=stems,
                   blocks=blocks, hypotheses=hyps, lint_config=lint_config, where=where)
    _cross_check(reg, col)
    if col.errors:
        raise RegistryErrors(col.errors)
    return reg


def _cross_check(reg: Registry, col: _Collector) -> None:
    """Checks that span entries: references, hierarchy, wording keys, scales."""

    known = set(reg.constructs) | col.invalid  # references to invalid entries are not reported twice

    def at(kind: str, oid: str) -> dict[str, Any]:
        loc = reg.where.get(f"{kind}:{oid}")
        return {"file": loc.file if loc else str(reg.root), "line": loc.line if loc else None}

    def check_prov(provs: list[Provenance], kind: str, oid: str) -> None:
        for p in provs:
            if p.seed not in reg.seeds:
                col.add(f"{kind} {oid!r}: provenance names unknown seed {p.seed!r} (seeds.yaml lists "
                        f"{', '.join(reg.seeds) or 'none'})", field="provenance.seed", **at(kind, oid))

    for c in reg.constructs.values():
        check_prov(c.provenance, "construct", c.id)
        if c.parent in col.invalid or any(lo in col.invalid for lo in c.lower_order):
            continue
        if c.parent and c.parent not in reg.constructs:
            col.add(f"construct {c.id!r}: parent {c.parent!r} is not a construct", field="parent",
                    **at("construct", c.id))
        elif c.parent and c.id not in reg.constructs[c.parent].lower_order:
            col.add(f"construct {c.id!r}: parent {c.parent!r} does not list it under lower_order", field="parent",
                    **at("construct", c.id))
        for lo in c.lower_order:
            if lo not in reg.constructs:
                col.add(f"construct {c.id!r}: lower-order {lo!r} is not a construct", field="lower_order",
                        **at("construct", c.id))
            elif reg.constructs[lo].parent != c.id:
                col.add(f"construct {c.id!r}: lower-order {lo!r} does not name it as parent", field="lower_order",
                        **at("construct", c.id))
        if c.rsa:
            partner = reg.constructs.get(c.rsa.partner)
            if partner is None:
                col.add(f"construct {c.id!r}: RSA partner {c.rsa.partner!r} is not a construct", field="rsa.partner",
                        **at("construct", c.id))
            elif not partner.rsa or partner.rsa.partner != c.id or partner.rsa.axis == c.rsa.axis:
                col.add(f"construct {c.id!r}: RSA partner {c.rsa.partner!r} must name it back, on the other axis",
                        field="rsa.partner", **at("construct", c.id))

    for it in reg.items.values():
        c = reg.constructs.get(it.construct)
        if c is None and it.construct in col.invalid:
            continue
        if c is None:
            col.add(f"item {it.id!r}: unknown construct {it.construct!r}", field="construct", **at("item", it.id))
            continue
        check_prov(it.provenance, "item", it.id)
        if it.stem is not None and it.stem not in reg.stems:
            col.add(f"item {it.id!r}: unknown stem {it.stem!r}", field="stem", **at("item", it.id))
        sid = it.scale or (reg.stems[it.stem].scale if it.stem in reg.stems else None)
        if sid is not None and sid not in reg.scales:
            col.add(f"item {it.id!r}: unknown scale {sid!r}", field="scale", **at("item", it.id))
        if it.stem in reg.stems and it.scale and it.scale != reg.stems[it.stem].scale:
            col.add(f"item {it.id!r}: scale {it.scale!r} differs from its stem's scale "
                    f"{reg.stems[it.stem].scale!r}", field="scale", **at("item", it.id))
        if it.kind == "global":
            if it.facet != 0 and it.facet > max(len(c.global_facets), c.global_items):
                col.add(f"item {it.id!r}: global item facet must be 0 or a global-facet number", field="facet",
                        **at("item", it.id))
            if c.global_items == 0 and not c.global_facets:
                col.add(f"item {it.id!r}: construct {c.id!r} takes no global items", field="kind",
                        **at("item", it.id))
        elif not 1 <= it.facet <= len(c.facets):
            col.add(f"item {it.id!r}: facet {it.facet} does not exist (construct {c.id!r} has "
                    f"{len(c.facets)} facets)", field="facet", **at("item", it.id))
        if it.kind == "formative" and c.measurement != "formative":
            col.add(f"item {it.id!r}: formative item of a {c.measurement} construct", field="kind",
                    **at("item", it.id))
        if it.kind == "reflective" and c.measurement != "reflective":
            col.add(f"item {it.id!r}: reflective item of a {c.measurement} construct (use kind global, formative, "
                    "checklist or observed)", field="kind", **at("item", it.id))
        keys = set(it.wording)
        bad = keys - c.item_keys
        if bad:
            col.add(f"item {it.id!r}: wording {sorted(bad)} not allowed for construct {c.id!r} "
                    f"(wording {c.wording_text})", field="wording", **at("item", it.id))
        if "P+C" in c.wording and len(keys & {"P", "C"}) == 1:
            col.add(f"item {it.id!r}: construct {c.id!r} is P+C; the item needs both P and C wordings",
                    field="wording", **at("item", it.id))
        if "S" in it.wording and c.stakeholder_roles:
            extra = set(it.wording["S"]) - set(c.stakeholder_roles)  # type: ignore[arg-type]
            if extra:
                col.add(f"item {it.id!r}: stakeholder roles {sorted(extra)} not asked of {c.id!r} "
                        f"(only {c.stakeholder_roles})", field="wording.S", **at("item", it.id))
        if it.pair is not None and it.pair not in reg.items:
            col.add(f"item {it.id!r}: pair {it.pair!r} is not an item", field="pair", **at("item", it.id))

    for h in reg.hypotheses.values():
        check_prov(h.provenance, "hypothesis", h.id)
        for ref in h.construct_refs():
            if not reg.expand(ref) and ref not in known:
                col.add(f"hypothesis {h.id}: unknown construct {ref!r}", field="relations", **at("hypothesis", h.id))

    for b in reg.blocks.values():
        for q in b.questions:
            if q.scale and q.scale not in reg.scales:
                col.add(f"block {b.id!r}, question {q.id!r}: unknown scale {q.scale!r}", field="scale",
                        **at("block", b.id))
