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
    def _something_chosen(self) -> "InstrumentSection":
        if not self.families and not self.constructs:
            raise ValueError("name the families and/or constructs the instrument measures")
        if self.attention_checks and "attention" not in self.blocks:
            raise ValueError("attention_checks needs the 'attention' block in blocks")
        return self


class Study(_Section):
    study: StudyMeta
    instrument: InstrumentSection | None = None
    # Sections of later stages; their schemas are added by the stages that use them.
    data: dict[str, Any] | None = None
    cleaning: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    models: dict[str, Any] | None = None
    power: dict[str, Any] | None = None
    output: dict[str, Any] | None = None

    path: Path | None = Field(default=None, exclude=True)

    @property
    def seed(self) -> int | None:
        return self.study.seed


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
