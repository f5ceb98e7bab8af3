"""The run report: ``render_report(out_dir)`` writes ``out_dir/report.html`` (one self-contained page) and the
LaTeX / Word-ready versions of every CSV table; ``figures.path_diagram`` draws the structural model.
Formatting follows APA style (see :mod:`vccscale.report.tables`). No template files: the HTML is built in Python.
"""
from __future__ import annotations

from .render import render_report

__all__ = ["render_report"]
