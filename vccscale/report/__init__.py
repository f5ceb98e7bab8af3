"""The run report: ``render_report(out_dir, results=None)`` writes ``out_dir/report.html`` (one self-contained
page) and the LaTeX / Word-ready versions of every table it shows; ``figures.path_diagram`` draws the structural
model. The page renders :class:`RunResults` (the tables, dicts and figures the stages produced; ``vccscale run``
hands over its in-process objects, ``vccscale report OUT`` loads them from the folder).
Formatting follows APA style (see :mod:`vccscale.report.tables`). No template files: the HTML is built in Python.
"""
from __future__ import annotations

from .render import render_report
from .results import RunResults

__all__ = ["RunResults", "render_report"]
