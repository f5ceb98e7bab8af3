"""The sample of a cleaned study: :func:`describe_sample` -> :class:`SampleDescription`.

What a methods section reports about who answered: respondents by version (perspective or stakeholder role),
organisations and relationships (dyads, and how many have both sides), respondents per organisation, and the
distribution of every firmographic or respondent-role question (categories with n and percent of those who
answered; numeric questions with n, mean, SD, min and max).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..io.dataset import Dataset

__all__ = ["SampleDescription", "describe_sample"]

_ID_COLUMNS = {"organisation": ("organisation_id", "invite_organisation_id"),
               "relationship": ("relationship_id", "invite_dyad_id")}


@dataclass(frozen=True)
class SampleDescription:
    """``rows``: one dict per reported line (variable, label, category, n, percent, mean, sd, min, max);
    ``counts``: respondents, by version, organisations, relationships (all / with both sides)."""

    rows: tuple[dict, ...]
    counts: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = ["variable", "label", "category", "n", "percent", "mean", "sd", "min", "max"]
        return pd.DataFrame(list(self.rows), columns=cols)

    def to_dict(self) -> dict:
        return {"counts": self.counts, "rows": list(self.rows)}

    def headline(self) -> dict:
        return {k: self.counts[k] for k in ("respondents", "by_version", "organisations", "relationships",
                                            "relationships_both_sides") if k in self.counts}


def _first(df: Any, names: tuple[str, ...]) -> str | None:
    return next((c for c in names if c in df.columns and df[c].notna().any()), None)


def describe_sample(ds: Dataset) -> SampleDescription:
    """Describe the respondents of a (cleaned) Dataset with a codebook; see the module docstring."""
    import numpy as np
    import pandas as pd

    data = ds.data
    rows: list[dict] = []
    counts: dict[str, Any] = {"respondents": int(len(data))}
    long = ds.to_long() if ds.codebook is not None else pd.DataFrame()
    if len(long) and "perspective" in long.columns:
        by = long.groupby("perspective")["response_id"].nunique().sort_index()
        counts["by_version"] = {str(k): int(v) for k, v in by.items()}
        for k, v in by.items():
            rows.append({"variable": "version", "label": "Questionnaire version", "category": str(k), "n": int(v),
                         "percent": 100.0 * v / max(len(data), 1)})
    org = _first(data, _ID_COLUMNS["organisation"])
    if org is not None:
        sizes = data[org].dropna().astype(str).value_counts()
        counts["organisations"] = int(len(sizes))
        rows.append({"variable": org, "label": "Respondents per organisation", "category": "", "n": int(sizes.sum()),
                     "mean": float(sizes.mean()), "sd": float(sizes.std(ddof=1)) if len(sizes) > 1 else np.nan,
                     "min": float(sizes.min()), "max": float(sizes.max())})
    rel = _first(data, _ID_COLUMNS["relationship"])
    if rel is not None:
        ids = data[rel].dropna().astype(str)
        counts["relationships"] = int(ids.nunique())
        if len(long) and rel in long.columns and "perspective" in long.columns:
            sides = long.dropna(subset=[rel]).groupby(long[rel].astype(str))["perspective"].nunique()
            counts["relationships_both_sides"] = int((sides >= 2).sum())
        rows.append({"variable": rel, "label": "Relationships (dyads)", "category": "all", "n": counts["relationships"]})
        if "relationships_both_sides" in counts:
            rows.append({"variable": rel, "label": "Relationships (dyads)", "category": "answered by both sides",
                         "n": counts["relationships_both_sides"]})
    cb = ds.codebook
    if cb is not None:
        for r in cb.rows:
            if r.role not in ("firmographic", "respondent_role") or r.variable not in data.columns:
                continue
            if r.role == "respondent_role" and "perspective" in long.columns and r.variable in ("side",):
                continue  # the version counts above say it
            v = data[r.variable]
            label = r.label or r.variable
            if r.value_labels:
                x = pd.to_numeric(v, errors="coerce")
                answered = int(x.notna().sum())
                for code, text in r.value_labels.items():
                    if code in (r.missing_codes or ()):
                        continue
                    k = int((x == code).sum())
                    rows.append({"variable": r.variable, "label": label, "category": str(text), "n": k,
                                 "percent": 100.0 * k / answered if answered else np.nan})
                miss = int(len(x) - answered + x.isin(list(r.missing_codes or ())).sum())
                if miss:
                    rows.append({"variable": r.variable, "label": label, "category": "not answered", "n": miss})
            else:
                x = pd.to_numeric(v, errors="coerce").dropna()
                if len(x):
                    rows.append({"variable": r.variable, "label": label, "category": "", "n": int(len(x)),
                                 "mean": float(x.mean()), "sd": float(x.std(ddof=1)) if len(x) > 1 else np.nan,
                                 "min": float(x.min()), "max": float(x.max())})
    return SampleDescription(tuple(rows), counts)
