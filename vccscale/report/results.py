"""``RunResults``: what the report renders, held as results objects.

A run's results are data frames (the APA tables), JSON-ready dicts (measurement model, invariance design, RSA
figures ...), figure files, the stage records and the manifest. ``vccscale run`` hands the report the objects its
stages produced in this process (:meth:`RunResults.record_table`, :meth:`RunResults.record_data`, called by the
stage context as it writes each file); results of stages that were not run this time (cached, or ``--only``) and
``vccscale report OUT`` (re-render a finished folder) load the same objects from the output folder
(:meth:`RunResults.from_folder`). Either way the report gets the values of the files, rounded to the study's
significant digits, so the page is the same whichever way it was built (a test holds this).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["RunResults"]


def _round_frame(df: pd.DataFrame, digits: int) -> pd.DataFrame:
    """``df`` with its floats rounded to ``digits`` significant digits (what ``%.{digits}g`` writes)."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if pd.api.types.is_float_dtype(col):
            out[c] = [x if not math.isfinite(x) else float(f"{x:.{digits}g}") for x in col.astype(float)]
        elif col.dtype == object:
            out[c] = [float(f"{x:.{digits}g}") if isinstance(x, float) and math.isfinite(x) else x for x in col]
    return out


@dataclass
class RunResults:
    """Tables (``name -> DataFrame``), data (``name -> dict/list``), figures (``name -> Path``), stage records
    (``stage -> dict``) and the manifest of one run."""

    out: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    stages: dict[str, dict] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)

    # -- built while a run writes its files ----------------------------------------------------------------
    def record_table(self, name: str, df: pd.DataFrame, digits: int) -> None:
        self.tables[name] = _round_frame(pd.DataFrame(df).reset_index(drop=True), digits)

    def record_data(self, name: str, obj: Any, digits: int) -> None:
        from ..jsonsafe import jsonable

        self.data[name] = jsonable(obj, digits)

    def record_figure(self, name: str, path: Path) -> None:
        self.figures.setdefault(name, path)

    # -- loaded from a finished output folder ----------------------------------------------------------------
    @classmethod
    def from_folder(cls, out: str | Path, into: "RunResults | None" = None) -> "RunResults":
        """The results of the output folder ``out``. With ``into``, only what ``into`` does not hold yet is
        loaded (the results of stages that were not run in this process)."""
        out = Path(out)
        res = into if into is not None else cls(out)
        res.manifest = _read_json(out / "manifest.json")
        res.stages = {}
        if (out / "stages").is_dir():
            for p in sorted((out / "stages").glob("*.json")):
                info = _read_json(p)
                res.stages[str(info.get("stage") or p.stem)] = info
        # a file no stage record lists is a leftover of an earlier run (a stage that no longer writes it)
        listed = {o for info in res.stages.values() for o in (info.get("outputs") or [])}

        def current(p: Path) -> bool:
            return not listed or p.relative_to(out).as_posix() in listed

        if (out / "tables").is_dir():
            from .tables import read_table

            for p in sorted((out / "tables").glob("*.csv")):
                if p.stem in res.tables or not current(p):
                    continue
                try:
                    res.tables[p.stem] = read_table(p)
                except pd.errors.EmptyDataError:
                    res.tables[p.stem] = pd.DataFrame()
        if (out / "data").is_dir():
            for p in sorted((out / "data").glob("*.json")):
                if p.stem not in res.data and current(p):
                    res.data[p.stem] = _read_json(p)
        if (out / "figures").is_dir():
            for ext in (".png", ".svg"):  # PNG first: the page embeds the raster figure when both exist
                for p in sorted((out / "figures").glob(f"*{ext}")):
                    if current(p):
                        res.figures.setdefault(p.stem, p)
        return res

    # -- what the report asks -------------------------------------------------------------------------------
    def ok(self, stage: str) -> bool:
        return self.stages.get(stage, {}).get("status") == "ok"

    def table(self, name: str) -> pd.DataFrame | None:
        df = self.tables.get(name)
        return None if df is None else df.copy()

    def datum(self, name: str) -> Any:
        return self.data.get(name)

    def figure(self, name: str) -> Path | None:
        p = self.figures.get(name)
        return p if p is not None and p.is_file() else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
