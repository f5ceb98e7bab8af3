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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import StudyError
from .yamlio import load_yaml, validation_problems

VERSION_NAMES = ("provider", "customer", "joint", "staff", "service_user", "partner_manager", "funder", "employer")
STANDARD_BLOCKS = ("consent", "respondent", "attention", "firmographics", "marker")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyMeta(_Section):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    title: str = Field(min_length=1)
    description: str | None = None
    seed: int | None = Field(default=None, ge=0, description="Master seed for every random procedure of the study")


class InstrumentSection(_Section):
    """What the instrument builder needs (issue 4)."""

    name: str | None = Field(default=None, description="Survey name in Qualtrics (default: the study title)")
    families: list[Literal["A", "B", "C", "D"]] = Field(default_factory=list)
    constructs: list[str] = Field(default_factory=list, description="Construct ids or patterns such as a_drv_*")
    exclude: list[str] = Field(default_factory=list, description="Construct ids or patterns to leave out")
    include_shared: bool = Field(default=True, description="With families: add the shared x_ constructs they use")
    versions: list[Literal[VERSION_NAMES]] = Field(min_length=1)  # type: ignore[valid-type]
    blocks: list[Literal[STANDARD_BLOCKS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["consent", "respondent", "attention", "marker", "firmographics"])
    randomize_items: bool = False
    attention_checks: int = Field(default=2, ge=0, le=9)
    dont_know: bool = Field(default=True, description="Offer 'don't know' on items that allow it (coded missing)")
    global_items: bool = Field(default=True, description="Include optional global items of second-order constructs")
    groups: dict[str, list[str]] = Field(default_factory=dict,
                                         description="Block name -> construct ids, overriding the default grouping")

    @model_validator(mode="after")
    def _something_chosen(self) -> InstrumentSection:
        if not self.families and not self.constructs:
            raise ValueError("name the families and/or constructs the instrument measures")
        if self.attention_checks and "attention" not in self.blocks:
            raise ValueError("attention_checks needs the 'attention' block in blocks")
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
    even_odd = maximum even-odd, person_total = minimum person-total correlation (off by default)."""

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
    missing_data: Literal["listwise", "fiml", "mice"] = Field(
        default="fiml", description="How later stages treat remaining missing item answers")
    mice_imputations: int = Field(default=20, ge=1)


class DataSection(_Section):
    """Where the responses come from. Relative paths are relative to the study file."""

    export: str = Field(description="Qualtrics export (csv, tsv, sav or zip)")
    codebook: str | None = Field(default=None, description="Codebook of the instrument (csv or json)")
    identifiers: Literal["drop", "hash", "keep"] = "drop"
    salt_env: str | None = Field(default=None, description="Environment variable holding the salt for hashing")


class ModelsSection(_Section):
    """Hypothesis tests (issue 7, vccscale.models): which hypotheses, which controls, how decisions are made.

    ``hypotheses``: ``all``, or a list of ids (``H1``) and family letters (``A``); ``families`` restricts the choice
    to those families. ``controls``: construct ids (modelled from their items) or observed data columns, added as
    predictors of every endogenous construct. ``adjust``: the multiple-testing adjustment (Holm or
    Benjamini-Hochberg across the hypotheses tested in one study) whose p-values drive the decisions; both are
    always reported. ``scope``: fit one model per hypothesis (default) or one model per family.
    ``group_by_perspective``: test relations across respondent sides (group ``side``) as multi-group models by the
    ``perspective`` column. ``bootstrap`` / ``bootstrap_seed``: draws and seed for bootstrap CIs of indirect effects
    (vccscale.models.mediation; recorded here, the model library reports delta-method CIs).
    """

    hypotheses: Literal["all"] | list[str] = "all"
    families: list[Literal["A", "B", "C", "D", "X"]] = Field(default_factory=list)
    controls: list[str] = Field(default_factory=list)
    estimator: Literal["ML", "MLR"] = "ML"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    adjust: Literal["holm", "bh", "none"] = "holm"
    scope: Literal["hypothesis", "family"] = "hypothesis"
    group_by_perspective: bool = True
    bootstrap: int = Field(default=5000, ge=0, description="Bootstrap draws for indirect effects (0 = none)")
    bootstrap_seed: int | None = Field(default=None, ge=0, description="Seed (default: the study seed)")

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


class ValidationSection(_Section):
    """Psychometric validation (vccscale run: items, reliability, efa, cfa, validity, invariance, multilevel).

    ``constructs``: construct ids or patterns (a_drv_*) to validate; empty = every reflective construct the
    codebook measures. ``efa_half``: EFA on a random half of the respondents (split seeded by study.seed), CFA on
    the other half; false = both on all. ``efa_factors``: number of EFA factors (default: the number of constructs;
    parallel analysis is always reported). ``estimator``: ML or MLR for the CFA and invariance models.
    ``invariance``: test measurement invariance across perspectives when the data hold more than one.
    ``htmt_bootstrap``: bootstrap draws for HTMT CIs (0 = none). ``multilevel``: aggregation statistics by
    ``group_column`` (default organisation_id) when that column exists."""

    constructs: list[str] = Field(default_factory=list)
    efa_half: bool = True
    efa_factors: int | None = Field(default=None, ge=1)
    efa_method: Literal["minres", "ml", "principal"] = "minres"
    efa_rotation: Literal["oblimin", "varimax", "promax", "geomin", "none"] = "oblimin"
    parallel_iterations: int = Field(default=20, ge=1)
    estimator: Literal["ML", "MLR"] = "ML"
    invariance: bool = True
    htmt_bootstrap: int = Field(default=0, ge=0)
    multilevel: bool = True
    group_column: str = "organisation_id"


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
    models: ModelsSection | None = None
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
