"""The study file: one YAML document that drives every stage.

``load_study(path)`` validates it with pydantic and returns a :class:`Study`. Unknown keys are rejected at every
level and errors name the file, line and field. Sections for later stages (``data``, ``cleaning``,
``validation``, ``models``, ``power``, ``output``) are optional; each stage adds its own schema to its section
rather than a new file format.

Example (``analysis/example_study.yaml``)::

    study:
      id: example_family_a
      title: Working together on joint projects
      seed: 20261124
    instrument:
      families: [A]                 # and/or constructs: [a_drv_*, x_vcc_customer]
      versions: [provider, customer]
      blocks: [consent, respondent, attention, marker, firmographics]
      randomize_items: true
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import StudyError
from .yamlio import load_yaml, validation_problems

VERSION_NAMES = ("provider", "customer", "joint", "staff", "service_user", "partner_manager", "funder", "employer")
STANDARD_BLOCKS = ("consent", "respondent", "key_informant", "attention", "firmographics", "marker")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyMeta(_Section):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    title: str = Field(min_length=1)
    description: str | None = None
    seed: int | None = Field(default=None, ge=0, description="Master seed for every random procedure of the study")


class ConsentSection(_Section):
    """What the consent page says about this study (issue 19). Each key fills the placeholder of the same name in
    capitals ([SPONSOR], ...) in the standard consent text (instruments/items/blocks.yaml); a key left out stays
    visible as its placeholder and ``vccscale instrument build`` warns. Write each value to fit its sentence (see
    docs/study-file.md)."""

    purpose: str | None = Field(default=None, min_length=1, description=(
        "One or two sentences on what the study is for"))
    sponsor: str | None = Field(default=None, min_length=1, description=(
        "Who runs the study and is responsible for the data (the data controller), and who funds it"))
    ethics_reference: str | None = Field(default=None, min_length=1, description=(
        "Ethics committee and approval reference"))
    withdrawal_deadline: str | None = Field(default=None, min_length=1, description=(
        "Until when respondents can ask for their answers to be withdrawn"))
    lawful_basis: str | None = Field(default=None, min_length=1, description=(
        "GDPR lawful basis, e.g. 'public task (Article 6(1)(e))' or 'your consent (Article 6(1)(a))'"))
    storage: str | None = Field(default=None, min_length=1, description=(
        "Where and how answers are stored, e.g. 'on the university's secure servers in the EU'"))
    retention: str | None = Field(default=None, min_length=1, description=(
        "How long answers are kept, e.g. 'ten years after the end of the project, then deleted'"))
    contact: str | None = Field(default=None, min_length=1, description=(
        "Contact for questions about the study (name, e-mail)"))
    data_protection_contact: str | None = Field(default=None, min_length=1, description=(
        "Contact for data-protection questions (the data protection officer)"))


class InstrumentSection(_Section):
    """What the instrument builder needs (issue 4)."""

    name: str | None = Field(default=None, description="Survey name in Qualtrics (default: the study title)")
    families: list[Literal["A", "B", "C", "D"]] = Field(default_factory=list)
    constructs: list[str] = Field(default_factory=list, description="Construct ids or patterns such as a_drv_*")
    exclude: list[str] = Field(default_factory=list, description="Construct ids or patterns to leave out")
    include_shared: bool = Field(default=True, description="With families: add the shared x_ constructs they use")
    hypothesis_needs: bool = Field(default=True, description="Add the grouping questions and (with families) the "
                                   "constructs the chosen hypotheses (models.hypotheses) name, so each can be tested")
    versions: list[Literal[VERSION_NAMES]] = Field(min_length=1)  # type: ignore[valid-type]
    blocks: list[Literal[STANDARD_BLOCKS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["consent", "respondent", "key_informant", "attention", "marker", "firmographics"])
    randomize_items: bool = False
    attention_checks: int = Field(default=2, ge=0, le=9)
    dont_know: bool = Field(default=True, description="Offer 'don't know' on items that allow it (coded missing)")
    global_items: bool = Field(default=True, description="Include optional global items of second-order constructs")
    groups: dict[str, list[str]] = Field(default_factory=dict,
                                         description="Block name -> construct ids, overriding the default grouping")
    consent: ConsentSection = Field(default_factory=ConsentSection,
                                    description="What the consent page says (sponsor, ethics approval, ...)")
    max_minutes: float | None = Field(default=None, gt=0, description=(
        "Longest acceptable estimated completion time of a version (minutes); a longer version is warned about"))
    planned_missing: Literal["three_form"] | None = Field(default=None, description=(
        "Planned missingness: three_form = Graham et al.'s (2006) three-form design (each respondent answers the "
        "common block X and two of the blocks A, B, C of every construct's items)"))

    @model_validator(mode="after")
    def _something_chosen(self) -> InstrumentSection:
        if not self.families and not self.constructs:
            raise ValueError("name the families and/or constructs the instrument measures")
        if self.attention_checks and "attention" not in self.blocks:
            raise ValueError("attention_checks needs the 'attention' block in blocks")
        if "consent" not in self.blocks and self.consent != ConsentSection():
            raise ValueError("consent: the study leaves the 'consent' block out of blocks, so nothing would use "
                             "these keys")
        return self


class _Rule(_Section):
    enabled: bool = True


class StatusRule(_Rule):
    """Exclude survey previews, tests, spam and offline previews (Qualtrics Status codes, formats doc 2.1)."""

    exclude_codes: list[int] = Field(default_factory=lambda: [1, 2, 8, 9, 12, 17, 40])


class UnfinishedRule(_Rule):
    """Exclude responses that did not finish (Finished false) or whose Progress is below min_progress."""

    min_progress: int = Field(default=100, ge=0, le=100)


class DuplicateRule(_Rule):
    """Duplicates: same value on every column of a key (ResponseId; relationship id + side, one respondent per
    side of a relationship). Keys whose columns are absent are skipped. keep: which response of a set stays."""

    keys: list[list[str]] = Field(default_factory=lambda: [["ResponseId"], ["relationship_id", "side"]])
    keep: Literal["first", "last", "most_complete"] = "first"


class SpeederRule(_Rule):
    """Duration below fraction_of_median x the median duration (of responses still in), or below
    seconds_per_item x items answered when that floor is set."""

    fraction_of_median: float = Field(default=0.3, gt=0, lt=1)
    seconds_per_item: float | None = Field(default=None, gt=0)


class AttentionRule(_Rule):
    """Instructed-response checks: a check counts for a respondent who saw its matrix; wrong or empty = failed."""

    max_failed: int = Field(default=0, ge=0)


class ThresholdRule(_Rule):
    threshold: float | None = None


class LongstringRule(_Rule):
    """Flag a run of identical consecutive answers within a survey block that is longer than block_share of the
    block's items and at least min_run answers long."""

    block_share: float = Field(default=0.5, gt=0, le=1)
    min_run: int = Field(default=10, ge=2)


class MissingRule(_Rule):
    """Exclude respondents missing more than max_share of the items of their version."""

    max_share: float = Field(default=0.5, ge=0, le=1)


class CleaningSection(_Section):
    """Screening rules, applied in this order; each can be turned off (enabled: false). Thresholds of the
    careless-responding indices default to vccscale.clean.indices.DEFAULT_THRESHOLDS (documented in
    default_flags): irv = maximum IRV, mahalanobis = chi-square confidence,
    even_odd = maximum even-odd, person_total = minimum person-total correlation (off by default).

    ``min_answered``: share of a scale's items a respondent must answer for a scale score (used by every scale
    score of the run: item-level tables, response surfaces, ICCs, composite mediation). ``missing_data``: how the
    latent-variable stages (CFA, reliability from the CFA, validity, invariance, hypothesis models) treat item
    answers still missing after screening: ``fiml`` (full-information ML, lavaan's missing = "ml"; default) or
    ``listwise`` (complete cases of each model's items)."""

    status: StatusRule = StatusRule()
    unfinished: UnfinishedRule = UnfinishedRule()
    duplicates: DuplicateRule = DuplicateRule()
    speeders: SpeederRule = SpeederRule()
    attention: AttentionRule = AttentionRule()
    longstring: LongstringRule = LongstringRule()
    irv: ThresholdRule = ThresholdRule()
    mahalanobis: ThresholdRule = ThresholdRule()
    even_odd: ThresholdRule = ThresholdRule()
    person_total: ThresholdRule = ThresholdRule(enabled=False)
    missing: MissingRule = MissingRule()
    min_answered: float = Field(default=0.5, gt=0, le=1,
                                description="Share of a scale's items needed for a scale score (else missing)")
    missing_data: Literal["listwise", "fiml"] = Field(
        default="fiml", description="How later stages treat remaining missing item answers")

    @model_validator(mode="before")
    @classmethod
    def _refuse_mice(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("missing_data") == "mice":
                raise ValueError(
                    "missing_data: mice is not available in `vccscale run`: the CFA, invariance and hypothesis "
                    "models pool nothing across imputations. Use fiml (full-information ML, the default, which uses "
                    "every answered item under the same missing-at-random assumption as multiple imputation), or "
                    "impute with vccscale.clean.mice and analyse the imputed data sets yourself")
            if "mice_imputations" in data:
                raise ValueError("mice_imputations: multiple imputation is not part of `vccscale run` (see "
                                 "missing_data); remove this key")
        return data


class DataSection(_Section):
    """Where the responses come from. Relative paths are relative to the study file."""

    export: str = Field(description="Qualtrics export (csv, tsv, sav or zip)")
    codebook: str | None = Field(default=None, description="Codebook of the instrument (csv or json)")
    identifiers: Literal["drop", "hash", "keep"] = "drop"
    salt_env: str | None = Field(default=None, description="Environment variable holding the salt for hashing")
    na: list[str] | None = Field(default=None, description="Cell values read as missing at import, e.g. "
                                 "[NA, -99, '.'] (default: NA in plain CSV files, none in Qualtrics exports)")
    redact_emails: bool = Field(default=False, description="Replace e-mail addresses in text answers with "
                                "'[email removed]' at import")

    @model_validator(mode="before")
    @classmethod
    def _na_as_text(cls, data: Any) -> Any:
        """``na: [NA, -99]``: YAML reads -99 as a number; a token is the cell's text, so whole numbers are kept as
        written (other numbers must be quoted: '-99.5')."""
        if isinstance(data, dict) and isinstance(data.get("na"), list):
            data = {**data, "na": [str(v) if isinstance(v, int) and not isinstance(v, bool) else v
                                   for v in data["na"]]}
        return data


class ModelsSection(_Section):
    """Hypothesis tests (issue 7, vccscale.models): which hypotheses, which controls, how decisions are made.

    ``hypotheses``: ``all``, or a list of ids (``H1``) and family letters (``A``); ``families`` restricts the choice
    to those families. ``controls``: construct ids (modelled from their items) or observed data columns, added as
    predictors of every endogenous construct. ``adjust``: the multiple-testing adjustment (Holm or
    Benjamini-Hochberg across the hypotheses tested in one study) whose p-values drive the decisions; both are
    always reported. ``scope``: fit one model per hypothesis (default) or one model per family.
    ``group_by_perspective``: test relations across respondent sides (group ``side``) as multi-group models by the
    ``perspective`` column. ``bootstrap`` / ``bootstrap_seed``: draws and seed for the percentile bootstrap CIs of
    indirect effects (vccscale.sem.bootstrap of each hypothesis model; 0 = delta-method CIs only), which then decide
    the indirect parts. ``equivalence_bound``: the smallest standardized effect of interest for paths hypothesised
    to be zero (equivalence by two one-sided tests; non-rejection alone never supports a hypothesis); for a
    congruence surface also the bound of a3 = 0 (a3 times the pooled SD of X and Y over the SD of Z, or pi/sqrt(3)
    on the logit scale). ``congruence_axis_bounds``: (p10 in pooled SDs of X and Y, p11 - 1) for the first principal
    axis on the line of congruence.
    """

    enabled: bool = Field(default=True, description="Run the hypotheses stage (false: skipped, with that reason)")
    hypotheses: Literal["all"] | list[str] = "all"
    families: list[Literal["A", "B", "C", "D", "X"]] = Field(default_factory=list)
    controls: list[str] = Field(default_factory=list)
    estimator: Literal["ML", "MLR"] = "ML"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    adjust: Literal["holm", "bh", "none"] = "holm"
    scope: Literal["hypothesis", "family"] = "hypothesis"
    group_by_perspective: bool = True
    bootstrap: int = Field(default=1000, ge=0, description="Bootstrap draws for indirect effects (0 = none)")
    equivalence_bound: float = Field(default=0.10, gt=0, lt=1, description=(
        "Smallest standardized path of interest: a path hypothesised to be zero is shown to be negligible when "
        "two one-sided tests (TOST) place it within +-this bound"))
    congruence_axis_bounds: tuple[float, float] = Field(default=(0.5, 0.3), description=(
        "Equivalence bounds for the first principal axis of a congruence surface lying on the line of congruence "
        "(Humberg, Nestler & Back 2019): |p10| within this many pooled SDs of X and Y, |p11 - 1| within the second "
        "value"))
    bootstrap_seed: int | None = Field(default=None, ge=0, description="Seed (default: the study seed)")
    permutations: int = Field(default=1000, ge=0, description=(
        "Permutations of the necessary condition analysis's test (necessity hypotheses; seed = bootstrap_seed)"))

    @model_validator(mode="after")
    def _ids(self) -> ModelsSection:
        if isinstance(self.hypotheses, list):
            if not self.hypotheses:
                raise ValueError("hypotheses: name at least one hypothesis id or family, or use 'all'")
            bad = [h for h in self.hypotheses if not (h == "all" or h in ("A", "B", "C", "D", "X")
                                                       or (h.startswith("H") and h[1:].isdigit()))]
            if bad:
                raise ValueError(f"hypotheses: {bad} are neither ids (H1-H71), family letters (A-D, X) nor 'all'")
        return self


_MOVED = {
    "efa_half": "efa.half", "efa_factors": "efa.factors", "efa_method": "efa.method",
    "efa_rotation": "efa.rotation", "parallel_iterations": "efa.parallel_iterations",
    "htmt_bootstrap": "validity.htmt_bootstrap", "invariance": "invariance.enabled",
    "multilevel": "multilevel.enabled", "group_column": "multilevel.group_column",
}


class ValidationSection(_Section):
    """What the measurement stages validate and how they estimate.

    ``constructs``: construct ids or patterns (a_drv_*) to validate; empty = every reflective construct the codebook
    measures. ``estimator``: ML or MLR for the CFA, invariance and (unless ``models.estimator`` says otherwise)
    nothing else; WLSMV fits the CFA stage's measurement models with the items as ordered indicators (polychoric
    correlations, pairwise missing answers, not cluster-adjusted), while invariance uses ML (MLR when clustered). Each stage has its own section (``items``, ``reliability``, ``efa``, ``cfa``, ``validity``,
    ``invariance``, ``multilevel``) with ``enabled`` and its settings."""

    constructs: list[str] = Field(default_factory=list)
    estimator: Literal["ML", "MLR", "WLSMV"] = "ML"

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in _MOVED.items():
                if old in data:
                    raise ValueError(f"validation.{old} has moved to {new} (each stage has its own section; see "
                                     "docs/study-file.md)")
        return data


class _Stage(_Section):
    enabled: bool = Field(default=True, description="Run this stage (false: skipped, with that reason)")


class ItemsSection(_Stage):
    """Item analysis per construct and perspective (psych::describe + corrected item-total correlations).
    ``r_drop_min``: corrected item-total correlations below it are flagged."""

    r_drop_min: float = Field(default=0.30, ge=0, lt=1)


class ReliabilitySection(_Stage):
    """Cronbach's alpha (Feldt CI) and omega per construct, for all respondents and per perspective; CR and AVE
    from the CFA stage's measurement model(s). ``alpha_min`` / ``cr_min`` / ``ave_min`` flag low values."""

    alpha_min: float = Field(default=0.70, gt=0, lt=1)
    cr_min: float = Field(default=0.70, gt=0, lt=1)
    ave_min: float = Field(default=0.50, gt=0, lt=1)


class EFASection(_Stage):
    """Exploratory factor analysis (psych::fa) with parallel analysis.

    ``half``: EFA on a random half of the respondents (split seeded by study.seed) and the CFA on the other half;
    false = both on all. ``scope``: ``all`` = one EFA of every validated item; ``groups`` = one EFA per construct
    group (the constructs of one family and role answered by the same respondent versions, split so that each
    EFA has at least ``min_cases_per_item`` cases per item); ``auto`` (default) = ``all`` when the data carry it,
    else ``groups``. ``factors``: number of factors of an EFA of all items (default: one per construct; groups
    always extract one factor per construct of the group)."""

    half: bool = True
    scope: Literal["auto", "all", "groups"] = "auto"
    min_cases_per_item: float = Field(default=5.0, gt=0)
    factors: int | None = Field(default=None, ge=1)
    method: Literal["minres", "ml", "principal"] = "minres"
    rotation: Literal["oblimin", "varimax", "promax", "geomin", "none"] = "oblimin"
    parallel_iterations: int = Field(default=20, ge=1)


class CFASection(_Stage):
    """Confirmatory factor analysis of the measurement model (vccscale.validate.measurement).

    ``scope``: ``full`` = one model of every validated construct; ``groups`` = one model per construct group
    (``groups`` below, or the automatic ones of the EFA); ``construct`` = one one-factor model per construct, with
    latent correlations from two-construct models (Anderson & Gerbing 1988); ``auto`` (default) = the largest of
    these whose models all have at least ``min_cases_per_parameter`` cases per free parameter (Bentler & Chou
    1987: 5), ``construct`` when none has. The report says which was chosen and why.
    ``groups``: name -> construct ids or patterns, for ``scope: groups``."""

    scope: Literal["auto", "full", "groups", "construct"] = "auto"
    min_cases_per_parameter: float = Field(default=5.0, gt=0)
    groups: dict[str, list[str]] = Field(default_factory=dict)


class ValiditySection(_Stage):
    """Discriminant validity (Fornell-Larcker with latent correlations from the CFA stage, HTMT with an optional
    bootstrap CI) and common-method checks (Harman's single factor; the marker-variable technique when the
    instrument collects the marker)."""

    htmt_bootstrap: int = Field(default=0, ge=0)
    htmt_cutoff: float = Field(default=0.85, gt=0, le=1)
    common_method: bool = True


class InvarianceSection(_Stage):
    """Measurement invariance (configural -> metric -> scalar -> strict) by ``group`` (default the respondent's
    perspective) for the constructs measured in every group. ``scope``: ``full`` = one multi-group model of all of
    them; ``construct`` = one sequence per construct; ``auto`` = ``full`` when every group has at least
    ``cfa.min_cases_per_parameter`` cases per free parameter of the configural model, else ``construct``.
    ``delta_cfi``: a step holds when CFI drops by no more than this (Cheung & Rensvold 2002)."""

    group: str = "perspective"
    levels: list[Literal["configural", "metric", "scalar", "strict"]] = Field(
        default_factory=lambda: ["configural", "metric", "scalar"])
    scope: Literal["auto", "full", "construct"] = "auto"
    delta_cfi: float = Field(default=0.01, gt=0, lt=1)

    @model_validator(mode="after")
    def _levels(self) -> InvarianceSection:
        order = ("configural", "metric", "scalar", "strict")
        if not self.levels or self.levels[0] != "configural" or list(self.levels) != list(order[:len(self.levels)]):
            raise ValueError("levels: a prefix of [configural, metric, scalar, strict], starting with configural")
        return self


class RSASection(_Stage):
    """Response surface analyses (vccscale.models.rsa) of the congruence hypotheses among the chosen ones, with
    surface and contour plots. ``hypotheses``: all of them, or these ids."""

    hypotheses: Literal["all"] | list[str] = "all"


class MultilevelSection(_Stage):
    """Aggregation statistics (ICC(1), ICC(2), rwg(j), AD) of every construct's scale score by ``group_column``
    when the data hold it."""

    group_column: str = "organisation_id"


class NestingSection(_Section):
    """Respondents nested in organisations (or relationships, networks): how the latent-variable models treat it.

    ``cluster``: the column of the nesting unit. ``auto`` (default): ``multilevel.group_column`` when the data hold
    it with at least ``min_clusters`` clusters; ``none``: respondents are analysed as independent (the report says
    so); or a column name. With a cluster, every CFA, invariance model and hypothesis model gets cluster-robust
    standard errors and the Yuan-Bentler scaled test (lavaan ``cluster =``; estimator MLR), bootstrap CIs resample
    clusters, and the multilevel stage reports ICC(1) and the design effect per construct. Respondents without a
    cluster id count as clusters of their own. ``min_clusters``: with fewer clusters, sandwich standard errors are
    unreliable, and inference stays ordinary (with a warning in the report)."""

    cluster: str = "auto"
    min_clusters: int = Field(default=20, ge=2)


class PowerSection(_Section):
    """Monte Carlo power (vccscale.simulate.power); runs only when ``enabled``. ``model``: population model file
    (lavaan syntax, relative to the study file); ``n``: sample sizes; ``targets``: parameters ('y~x', labels,
    'joint(a, b)'); ``seed``: default the study seed."""

    enabled: bool = False
    model: str | None = None
    n: list[int] = Field(default_factory=lambda: [100, 200, 400])
    reps: int = Field(default=200, ge=1)
    targets: list[str] = Field(default_factory=list)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    estimator: Literal["ML", "MLR"] = "ML"
    seed: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> PowerSection:
        if self.enabled and not self.model:
            raise ValueError("power.enabled needs 'model': a population model file (lavaan syntax)")
        if self.enabled and not self.targets:
            raise ValueError("power.enabled needs 'targets': parameters such as 'y~x'")
        if any(n < 2 for n in self.n) or not self.n:
            raise ValueError("n: give sample sizes of at least 2")
        return self


class OutputSection(_Section):
    """Where ``vccscale run`` writes (default: <study file folder>/output/<study id>), figure formats and the
    number of significant digits of floats in the tables."""

    dir: str | None = None
    figures: list[Literal["png", "svg"]] = Field(default_factory=lambda: ["png", "svg"])
    float_digits: int = Field(default=8, ge=3, le=17)
    report: bool = Field(default=True, description="Render report.html at the end of the run")


class Study(_Section):
    study: StudyMeta
    instrument: InstrumentSection | None = None
    # Sections of later stages; their schemas are added by the stages that use them.
    data: DataSection | None = None
    cleaning: CleaningSection | None = None
    validation: ValidationSection | None = None
    items: ItemsSection | None = None
    reliability: ReliabilitySection | None = None
    efa: EFASection | None = None
    cfa: CFASection | None = None
    validity: ValiditySection | None = None
    invariance: InvarianceSection | None = None
    models: ModelsSection | None = None
    rsa: RSASection | None = None
    multilevel: MultilevelSection | None = None
    nesting: NestingSection | None = None
    power: PowerSection | None = None
    output: OutputSection | None = None

    path: Path | None = Field(default=None, exclude=True)

    @property
    def seed(self) -> int | None:
        return self.study.seed

    def resolve(self, relative: str) -> Path:
        """A path from the study file, relative to the study file's folder."""
        p = Path(relative)
        return p if p.is_absolute() or self.path is None else self.path.parent / p


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; every problem is reported with file, line and field."""
    p = Path(path)
    data, lm = load_yaml(p, error=StudyError)
    if not isinstance(data, dict):
        raise StudyError("a study file is a YAML mapping with at least a 'study:' section", file=p, line=1)
    if "path" in data:
        raise StudyError("unknown key", file=p, line=lm.line(("path",)), field="path")
    try:
        study = Study.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, lm)
        msg, line, fld = problems[0]
        extra = "" if len(problems) == 1 else "; also " + "; ".join(
            f"line {ln} field {f!r}: {m}" for m, ln, f in problems[1:4])
        raise StudyError(msg + extra, file=p, line=line, field=fld) from None
    return study.model_copy(update={"path": p})
