"""Instrument generation: from registry + study file to QSF, codebook, questionnaire and lavaan syntax.

Public API::

    inst = build_instrument(registry, study)        # the in-memory Instrument
    write_instrument(inst, out_dir, registry)       # survey.qsf, codebook.csv/.json, questionnaire.html/.md,
                                                    # measurement.lavaan, summary.json (length per version)
    read_qsf(path, registry=None) -> Codebook       # any QSF back into a codebook
    fake_export(codebook, n, seed, out, ...)        # synthetic Qualtrics export of the instrument
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..registry import Registry
    from .build import build_instrument
    from .codebook import Codebook, CodebookRow, codebook_from_instrument
    from .model import Instrument

#: lazy (PEP 562): reading a codebook (``vccscale.instrument.codebook``) does not import the builder, the registry
#: and the study schema
_WHERE = {"build_instrument": "build", "Codebook": "codebook", "CodebookRow": "codebook",
          "codebook_from_instrument": "codebook"}


def __getattr__(name: str):
    from .._lazy import lazy_attribute

    return lazy_attribute(__name__, _WHERE, globals(), name)

__all__ = ["build_instrument", "write_instrument", "Codebook", "CodebookRow", "codebook_from_instrument",
           "read_qsf", "fake_export"]


def write_instrument(inst: "Instrument", out: str | Path, registry: "Registry") -> dict[str, Path]:
    """Write every output of the instrument into ``out``; returns {kind: path}."""
    import json

    from .codebook import codebook_from_instrument
    from .lavaan import measurement_model
    from .qsf import write_qsf
    from .questionnaire import render_html, render_markdown
    from .timing import estimate

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    cb = codebook_from_instrument(inst, registry)
    paths = {"qsf": write_qsf(inst, d / "survey.qsf"), "codebook_csv": d / "codebook.csv",
             "codebook_json": d / "codebook.json", "questionnaire_html": d / "questionnaire.html",
             "questionnaire_md": d / "questionnaire.md", "lavaan": d / "measurement.lavaan",
             "summary": d / "summary.json"}
    cb.write_csv(paths["codebook_csv"])
    cb.write_json(paths["codebook_json"])
    paths["questionnaire_html"].write_text(render_html(inst), encoding="utf-8")
    paths["questionnaire_md"].write_text(render_markdown(inst), encoding="utf-8")
    paths["lavaan"].write_text(measurement_model(cb, registry), encoding="utf-8")
    paths["summary"].write_text(json.dumps(estimate(inst), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                encoding="utf-8")
    return paths


def read_qsf(path, registry=None, **kwargs):  # noqa: ANN001, ANN003 - re-export, documented in qsf_read
    from .qsf_read import read_qsf as _read

    return _read(path, registry=registry, **kwargs)


def fake_export(*args, **kwargs):  # noqa: ANN002, ANN003
    from .fake import fake_export as _fake

    return _fake(*args, **kwargs)
