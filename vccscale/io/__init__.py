"""Data import: Qualtrics response exports into a :class:`Dataset` (data + column metadata + provenance).

Public API::

    ds = read_export(path, codebook=None, identifiers="drop", salt=None, encoding=None, na=None,
                     redact_emails=False, max_unzipped_bytes=None, max_line_chars=None)
    describe(ds) -> dict        # format, encoding, size, columns (name, label, ImportId, dtype), dropped ids,
                                # cells read as missing per token, text columns with e-mail addresses
    ds.write("responses.parquet")   # data + responses.parquet.meta.json

    from vccscale.io.stream import import_export
    import_export(path, "responses.parquet", codebook=None, ...)   # the same, straight to the file: a large UTF-8
                                    # CSV/TSV export is streamed in blocks (memory does not grow with the file)

pandas and pyarrow are imported only when a file is read, so importing ``vccscale.io`` stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dataset import ColumnInfo, Dataset, SourceInfo

if TYPE_CHECKING:  # pragma: no cover
    from .read import describe, read_export

__all__ = ["read_export", "describe", "Dataset", "ColumnInfo", "SourceInfo"]


def __getattr__(name: str) -> Any:  # lazy: the importer pulls in pandas and pyarrow
    if name in ("read_export", "describe"):
        from . import read

        return getattr(read, name)
    raise AttributeError(f"module 'vccscale.io' has no attribute {name!r}")
