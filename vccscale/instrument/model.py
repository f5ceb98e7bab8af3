"""The in-memory instrument: blocks of questions, the survey flow and the export columns they produce.

An :class:`Instrument` is built from the registry and a study file (``build.build_instrument``) and is the single
source for every output: the QSF (``qsf.write_qsf``), the codebook (``codebook.codebook_from_instrument``), the
printable questionnaire (``questionnaire``), the lavaan measurement model (``lavaan``) and synthetic exports
(``fake``). Everything is plain frozen dataclasses; no pandas.

Variable naming (what a Qualtrics export of the generated QSF calls each column): a matrix question has the
DataExportTag ``<construct>_<version code>`` and one statement per item whose choice id is the item number, so
the export column is ``<construct>_<version code>_<n>`` (e.g. ``a_drv_cust_involvement_p_3`` = item
``a_drv_cust_involvement_03``, provider version). Attention checks are statements with choice ids 901, 902, ...
inside item matrices. Single questions (consent, respondent, firmographics) use their block question id as tag.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .logic import Condition

# respondent versions: name -> (wording key in the item bank, short code used in variable names)
VERSIONS: dict[str, tuple[str, str]] = {
    "provider": ("P", "p"),
    "customer": ("C", "c"),
    "joint": ("J", "j"),
    "staff": ("S:staff", "st"),
    "service_user": ("S:service_user", "su"),
    "partner_manager": ("S:partner_manager", "pm"),
    "funder": ("S:funder", "fu"),
    "employer": ("S:employer", "em"),
}
VERSION_BY_CODE = {code: name for name, (_, code) in VERSIONS.items()}
ATTENTION_CHOICE_BASE = 900

# Placeholders in item text and how the QSF pipes them (embedded data fields set from the invitation link)
PLACEHOLDERS: dict[str, str] = {
    "Provider": "provider_name",
    "Customer": "customer_name",
    "Partner": "partner_name",
    "Network": "network_name",
    "Organisation": "organisation_name",
}

# The standard metadata columns of a current-format export, in order (qualtrics-formats.md 2.1):
# (row-1 name, ImportId, row-2 label, codebook type)
METADATA_COLUMNS: list[tuple[str, str, str, str]] = [
    ("StartDate", "startDate", "Start Date", "datetime"),
    ("EndDate", "endDate", "End Date", "datetime"),
    ("Status", "status", "Response Type", "code"),
    ("IPAddress", "ipAddress", "IP Address", "identifier"),
    ("Progress", "progress", "Progress", "integer"),
    ("Duration (in seconds)", "duration", "Duration (in seconds)", "integer"),
    ("Finished", "finished", "Finished", "boolean"),
    ("RecordedDate", "recordedDate", "Recorded Date", "datetime"),
    ("ResponseId", "_recordId", "Response ID", "text"),
    ("RecipientLastName", "recipientLastName", "Recipient Last Name", "identifier"),
    ("RecipientFirstName", "recipientFirstName", "Recipient First Name", "identifier"),
    ("RecipientEmail", "recipientEmail", "Recipient Email", "identifier"),
    ("ExternalReference", "externalDataReference", "External Data Reference", "text"),
    ("LocationLatitude", "locationLatitude", "Location Latitude", "identifier"),
    ("LocationLongitude", "locationLongitude", "Location Longitude", "identifier"),
    ("DistributionChannel", "distributionChannel", "Distribution Channel", "text"),
    ("UserLanguage", "userLanguage", "User Language", "text"),
]
DATE_COLUMNS = ("StartDate", "EndDate", "RecordedDate")

# Three-form planned missingness (Graham et al. 2006): the embedded-data field holding the form assigned at random,
# and the block of items each form omits (form k omits block "ABC"[k-1]; block X is in every form)
FORM_FIELD = "form"
THREE_FORMS: dict[int, str] = {1: "A", 2: "B", 3: "C"}


def form_value_labels(forms: dict[int, str]) -> dict[int, str]:
    """Value labels of the form variable: which blocks each form shows and which it omits."""
    letters = sorted(set(forms.values()))
    return {k: f"Form {k}: X, {', '.join(x for x in letters if x != omit)} ({omit} omitted)"
            for k, omit in sorted(forms.items())}


FORM_LABEL = "Three-form design: the form assigned at random (its omitted block is planned missing)"


@dataclass(frozen=True)
class Statement:
    """One row of a matrix question: an item (one version of it), a global/formative indicator, an
    attention check or a marker item. ``choice_id`` is the Qualtrics choice id (column suffix)."""

    choice_id: int
    text: str
    item_id: str | None = None
    construct: str | None = None
    role: str = "item"          # item | global | formative | checklist | attention_check | marker
    reverse: bool = False
    correct: int | None = None  # attention checks: the code of the correct answer
    shown_if: Condition | None = None  # statement display logic (e.g. significance only if the event happened)
    form_block: str | None = None      # three-form design: "X" (every form), "A", "B" or "C"


@dataclass(frozen=True)
class ScaleSpec:
    id: str
    labels: dict[int, str]
    dont_know_code: int | None = None
    dont_know_label: str | None = None
    display: dict[int, str] | None = None  # what respondents see, when it differs from the codebook's labels

    def shown_label(self, code: int) -> str:
        return (self.display or {}).get(code) or self.labels[code]

    @property
    def min(self) -> int:
        return min(self.labels)

    @property
    def max(self) -> int:
        return max(self.labels)


@dataclass(frozen=True)
class Question:
    """A question of the survey. ``kind``: matrix, single_choice, text_entry, numeric_entry, descriptive."""

    qid: str                      # QID<n>
    tag: str                      # DataExportTag
    kind: str
    text: str                     # question text (stem), with [Placeholders]
    role: str = "item"            # for single questions: consent, respondent_role, firmographic, ...
    version: str | None = None    # respondent version (perspective) of a matrix; None = shown to everyone
    scale: ScaleSpec | None = None
    statements: tuple[Statement, ...] = ()
    choices: dict[int, str] = field(default_factory=dict)
    randomize: bool = False
    dont_know: bool = False
    required: bool = False
    embedded_data: str | None = None
    shown_if: Condition | None = None   # question display logic (None = shown to everyone on the block's path)

    def columns(self) -> list[tuple[str, str, Statement | None]]:
        """(export column name, ImportId, statement) for every data column this question produces."""
        if self.kind == "matrix":
            return [(f"{self.tag}_{s.choice_id}", f"{self.qid}_{s.choice_id}", s) for s in self.statements]
        if self.kind == "descriptive":
            return []
        if self.kind in ("text_entry", "numeric_entry"):
            return [(self.tag, f"{self.qid}_TEXT", None)]
        if self.kind == "single_choice" and self.statements:  # a categorical item (e.g. b_bmi_stage)
            return [(self.tag, self.qid, self.statements[0])]
        return [(self.tag, self.qid, None)]


@dataclass(frozen=True)
class Block:
    id: str                       # BL_ + 15 characters
    name: str                     # Qualtrics block Description
    title: str                    # heading shown in the questionnaire
    version: str | None           # the respondent version that sees the block; None = everyone
    questions: tuple[Question, ...]
    randomize_questions: bool = False


@dataclass(frozen=True)
class Branch:
    """Show ``blocks`` only when the answer to question ``qid`` is choice ``choice`` (flow Branch)."""

    qid: str
    choice: int
    label: str
    blocks: tuple[str, ...]       # block ids in order
    version: str


@dataclass(frozen=True)
class Instrument:
    name: str
    survey_id: str
    blocks: tuple[Block, ...]
    # flow: a sequence of ("block", block_id) | ("end_if", qid, choice[, description]) | ("branches", (Branch, ...))
    # | ("randomize", embedded field, (value, ...)): the field set at random, evenly, to one of the values
    flow: tuple[tuple, ...]
    embedded_fields: tuple[str, ...]
    versions: tuple[str, ...]
    seed: int | None = None
    study: str | None = None
    notes: tuple[str, ...] = ()  # what the builder added beyond instrument.families/constructs, and why
    warnings: tuple[str, ...] = ()  # what keeps the instrument from being fieldable as built (printed on stderr)
    # three-form planned missingness: form number -> the block it omits ({1: "A", 2: "B", 3: "C"}); empty = none
    forms: dict[int, str] = field(default_factory=dict)
    max_minutes: float | None = None

    @property
    def questions(self) -> list[Question]:
        return [q for b in self.blocks for q in b.questions]

    def block(self, block_id: str) -> Block:
        return next(b for b in self.blocks if b.id == block_id)
