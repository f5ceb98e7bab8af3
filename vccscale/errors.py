"""Exception types of vccscale.

Every error a user can cause carries where it happened: the file, and where it applies the line (YAML),
row and column (data) or field. The CLI prints ``str(error)`` and exits with code 1 (2 for an OutputError);
programming errors are never turned into these.
"""
from __future__ import annotations

from pathlib import Path


class VccscaleError(Exception):
    """Base class: a problem with the user's input (data, model, registry), not a bug."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 row: int | None = None, column: str | None = None, field: str | None = None) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.row = row
        self.column = column
        self.field = field
        super().__init__(self.__str__())

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file + (f":{self.line}" if self.line else ""))
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "message": self.message, "file": self.file, "line": self.line,
                "row": self.row, "column": self.column, "field": self.field}


class RegistryError(VccscaleError):
    """The construct registry, item bank or hypotheses file is invalid."""


class RegistryErrors(RegistryError):
    """Several registry problems found in one pass (all are reported, not only the first)."""

    def __init__(self, errors: list[RegistryError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s) in the registry:\n" + "\n".join(f"  {e}" for e in errors))

    def __str__(self) -> str:  # the message already lists every error with its location
        return self.message


class StudyError(VccscaleError):
    """The study file is invalid."""


class DataError(VccscaleError):
    """Input data cannot be read or does not fit what is asked of it."""


class ModelError(VccscaleError):
    """A model cannot be specified, identified or estimated."""


class OutputError(VccscaleError):
    """An output path that cannot be used: it would overwrite an input, or is a file where a folder is needed.
    A usage error: the CLI exits with code 2."""

    exit_code = 2
