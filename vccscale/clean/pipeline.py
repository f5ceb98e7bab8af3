"""The audited screening pipeline.

``clean(ds, config)`` applies the rules of :class:`vccscale.study.CleaningSection` in a fixed order to the responses
still in: status (previews, tests, spam), unfinished, duplicates, speeders, attention checks, the careless-
responding indices (longstring, IRV, Mahalanobis D², even-odd, person-total) and respondent missingness. A response
is excluded by the first rule that flags it. Every rule's decision for every response it examined is logged (one
audit row per respondent and rule: value, threshold, flagged, excluded), and the CONSORT table counts the responses
received, excluded at each step and analysed. The input Dataset is never modified; the kept responses come back
as a new Dataset.

Careless-responding indices are computed per respondent version (provider, customer, ... ; joint items count for
every version) on the items of that version in codebook (presentation) order, among the responses left after the
procedural rules; Mahalanobis D² uses the complete responses of the same version. Reverse-keyed items are rescored
before even-odd and person-total (not before longstring or IRV, which describe the raw answer pattern).

Structural and planned missingness: an item whose codebook ``shown_if`` condition is false for a respondent (a
family B block skipped by the screener or the BMI stage, an event's significance when the event did not happen, a
three-form block the respondent's form omits) was never shown to that respondent. The respondent-missingness rule
and the per-item missing shares count only the items that were shown (:func:`applicable`), so routed and
planned-missing respondents are not screened out as incomplete. A condition on a column the data do not hold counts
as met. The other indices are computed as before on what was answered (Mahalanobis D² needs complete responses, so
under a three-form design, where no respondent answers every item, it is not computed).

Blank metadata (a Status, Finished, Progress or Duration cell that is empty or not a number; Qualtrics always fills
them, so the file was edited, merged or converted): the rule that needs the value cannot judge the response, and
the response is **kept and flagged**, never excluded (a blank is no evidence of a preview, an unfinished or a
speeding response, and excluding would silently drop real respondents). Its audit row has ``flagged`` true,
``excluded`` false and a note saying why (``Status blank: preview/test rule could not be applied``; ``Finished
blank: unfinished rule applied on Progress only``, or ``... could not be applied`` when neither Finished nor
Progress holds a value; ``Duration blank: speeder rule could not be applied``), and :attr:`CleanResult.notes`
(printed by ``vccscale clean``) and ``summary()["flagged_kept"]`` give the count and the response ids per rule, so
that the researcher can decide. Outside this case ``flagged`` equals ``excluded``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..study import CleaningSection

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from ..io.dataset import Dataset

RULE_ORDER = ("status", "unfinished", "duplicates", "speeders", "attention", "longstring", "irv", "mahalanobis",
              "even_odd", "person_total", "missing")
AUDIT_COLUMNS = ["response_id", "row", "rule", "value", "threshold", "flagged", "excluded", "note"]


@dataclass
class CleanResult:
    data: "Dataset"
    audit: "pd.DataFrame"
    consort: "pd.DataFrame"
    indices: "pd.DataFrame"
    config: CleaningSection
    item_missing: "pd.Series | None" = None
    notes: list[str] = field(default_factory=list)
    # responses a rule could not judge (blank metadata), kept and flagged: rule -> {reason: response ids}
    flagged_kept: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"n_received": int(self.consort["remaining"].iloc[0]) if len(self.consort) else 0,
                "n_analysed": int(self.consort["remaining"].iloc[-1]) if len(self.consort) else 0,
                "excluded_by_rule": {r: int(n) for r, n in zip(self.consort["rule"], self.consort["excluded"])
                                     if r != "received"},
                "config": self.config.model_dump(), "notes": self.notes,
                "flagged_kept": {r: {why: {"n": len(ids), "response_ids": ids} for why, ids in d.items()}
                                 for r, d in self.flagged_kept.items()}}

    def write(self, out_dir: str | Path, data_format: str = "parquet") -> dict[str, Path]:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        data_path, meta_path = self.data.write(d / f"clean.{data_format}")
        paths = {"data": data_path, "meta": meta_path, "audit": d / "audit_log.csv", "consort": d / "consort.csv",
                 "indices": d / "screening_indices.csv", "summary": d / "cleaning_summary.json"}
        from ..csvsafe import write_csv

        write_csv(self.audit, paths["audit"])
        write_csv(self.consort, paths["consort"])
        write_csv(self.indices, paths["indices"])
        paths["summary"].write_text(json.dumps(self.summary(), indent=1, default=str) + "\n", encoding="utf-8")
        return paths


# ------------------------------------------------------------------------------------------------------ helpers
def _blank_reason(blank: "pd.Series", reason: str) -> "pd.Series":
    """``reason`` where ``blank``, else None (the ``kept`` argument of a rule's decision)."""
    return blank.map(lambda b: reason if b else None).astype("object")


def _col(ds: "Dataset", *names: str) -> str | None:
    for n in names:
        if n in ds.data.columns:
            return n
    for c, info in ds.columns.items():
        if info.original in names:
            return c
    return None


def _version_matrices(ds: "Dataset", rows: "pd.Index") -> dict[str, tuple["pd.Index", list[str], list[list[str]],
                                                                           list[int]]]:
    """Per version: (rows answering it, item columns in codebook order, blocks (one per matrix), factor sizes)."""
    from .scoring import numeric_items

    if ds.codebook is None:
        return {}
    order = {r.variable: k for k, r in enumerate(ds.codebook.rows)}
    items = sorted(ds.item_columns(), key=lambda c: order.get(ds.columns[c].codebook_variable or "", 10**9))
    by_p: dict[str, list[str]] = {}
    for c in items:
        by_p.setdefault(ds.codebook_row(c).perspective or "joint", []).append(c)
    joint = by_p.pop("joint", [])
    x = numeric_items(ds, items).loc[rows]
    out = {}
    versions = by_p or {"joint": []}
    for persp, cols in versions.items():
        allcols = [c for c in items if c in set(cols) | set(joint)]
        who = x[cols].notna().any(axis=1) if cols else x[allcols].notna().any(axis=1)
        if not who.any():
            continue
        blocks: dict[str, list[str]] = {}
        for c in allcols:
            blocks.setdefault(ds.codebook_row(c).block or c, []).append(c)  # a survey block is one page
        factors: list[int] = []
        last = None
        for c in allcols:
            cons = ds.codebook_row(c).construct
            if cons == last:
                factors[-1] += 1
            else:
                factors.append(1)
            last = cons
        out[persp] = (who[who].index, allcols, list(blocks.values()), factors)
    return out


def applicable(ds: "Dataset", columns: list[str], rows: "pd.Index | None" = None) -> "pd.DataFrame":
    """Whether each item column was shown to each respondent (True unless its codebook ``shown_if`` is false for
    the respondent; see :mod:`vccscale.instrument.logic`)."""
    import pandas as pd

    from ..instrument.logic import shown

    data = ds.data if rows is None else ds.data.loc[rows]
    var_to_col = {info.codebook_variable: name for name, info in ds.columns.items() if info.codebook_variable}
    out = {}
    cache: dict[str, "pd.Series"] = {}
    for c in columns:
        r = ds.codebook_row(c)
        cond = r.shown_if if r is not None else None
        if not cond:
            out[c] = pd.Series(True, index=data.index)
            continue
        if cond not in cache:
            cache[cond] = shown(cond, data, column_of=var_to_col.get)
        out[c] = cache[cond]
    return pd.DataFrame(out, index=data.index)


def _conditional(ds: "Dataset", columns: list[str]) -> bool:
    return any((r := ds.codebook_row(c)) is not None and r.shown_if for c in columns)


def indices_frame(raw: "np.ndarray", rev: "np.ndarray", blocks: list[list[int]], factors: list[int] | None,
                  index: "pd.Index", min_factors: int | None = None, block_share: float | None = None,
                  min_run: int | None = None) -> "pd.DataFrame":
    """The index table for one item matrix (raw answers, reverse-keyed answers, blocks as column positions).
    ``longstring_block`` is the longest run within a block; ``longstring_flag`` says whether some block has a
    run longer than ``block_share`` of its items and at least ``min_run`` long (defaults: DEFAULT_THRESHOLDS)."""
    import numpy as np
    import pandas as pd

    from . import indices as ix

    n, p = raw.shape
    f = pd.DataFrame(index=index)
    f["n_items"] = p
    f["longstring"] = ix.longstring(raw)
    share = ix.DEFAULT_THRESHOLDS["longstring_block_share"] if block_share is None else block_share
    min_run = int(ix.DEFAULT_THRESHOLDS["longstring_min_run"]) if min_run is None else min_run
    longest = np.zeros(n)
    flag = np.zeros(n, dtype=bool)
    for b in blocks:
        run = ix.longstring(raw[:, b])
        longest = np.maximum(longest, run)
        flag |= (run > share * len(b)) & (run >= min_run)
    f["longstring_block"] = longest
    f["longstring_flag"] = flag
    f["irv"] = ix.irv(raw)
    f["mahalanobis"] = ix.mahalanobis_d2(rev) if n > p else np.nan
    f["mahalanobis_df"] = p
    if min_factors is None:
        min_factors = int(ix.DEFAULT_THRESHOLDS["even_odd_min_factors"])
    use_eo = factors is not None and len(factors) >= min_factors
    if use_eo:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f["even_odd"] = ix.even_odd(rev, factors)
    else:
        f["even_odd"] = np.nan
    f["person_total"] = ix.person_total(rev) if n > 2 else np.nan
    f["missing_share"] = ix.missing_share(raw)
    f["n_factors"] = len(factors) if factors is not None else 0
    return f


def screen_indices(ds: "Dataset", rows: "pd.Index | None" = None,
                   cfg: CleaningSection | None = None) -> "pd.DataFrame":
    """Careless-responding indices per response (index = data row labels), per respondent version: perspective,
    n_items, longstring, longstring_block_share (longest run within a survey block / block length, the largest
    over blocks), irv, mahalanobis (D², psych::outlier method) and its df, even_odd (with at least 6 scales),
    person_total, missing_share. Definitions: :mod:`vccscale.clean.indices`."""
    import pandas as pd

    from .scoring import numeric_items, reverse_key

    rows = ds.data.index if rows is None else rows
    frames = []
    for persp, (who, cols, blocks, factors) in _version_matrices(ds, rows).items():
        pos = {c: k for k, c in enumerate(cols)}
        raw = numeric_items(ds, cols).loc[who]
        f = indices_frame(raw.to_numpy(), reverse_key(ds, cols).loc[who].to_numpy(),
                          [[pos[c] for c in b] for b in blocks], factors, who,
                          block_share=cfg.longstring.block_share if cfg else None,
                          min_run=cfg.longstring.min_run if cfg else None)
        if _conditional(ds, cols):  # missing share among the items shown to the respondent
            shown = applicable(ds, cols, who)
            n_shown = shown.sum(axis=1)
            f["missing_share"] = (raw.isna() & shown).sum(axis=1).div(n_shown.where(n_shown > 0))
        f.insert(0, "perspective", persp)
        frames.append(f)
    if not frames:
        return pd.DataFrame(index=pd.Index([], dtype="int64"))
    return pd.concat(frames).sort_index()


def index_flags(idx: "pd.DataFrame", cfg: CleaningSection | None = None) -> "pd.DataFrame":
    """Booleans per index rule (longstring, irv, mahalanobis, even_odd, person_total, missing) with the study's
    thresholds, defaulting to :data:`vccscale.clean.indices.DEFAULT_THRESHOLDS`: a run within a block longer
    than half the block and at least 10 answers (computed in :func:`indices_frame`); IRV = 0; D² above the chi-square .999 quantile (df = items); even-odd above
    -.30 (consistency below .30, computed with 6 or more scales); person-total below 0; more than half the
    items missing. NaN never flags."""
    import pandas as pd
    from ..sem._dist import chi2_ppf

    from .indices import DEFAULT_THRESHOLDS as D

    cfg = cfg or CleaningSection()
    if "longstring_flag" not in idx.columns:  # no respondent answered any item: nothing is flagged
        return pd.DataFrame(False, index=idx.index, columns=["longstring", "irv", "mahalanobis", "even_odd",
                                                              "person_total", "missing"])

    def thr(rule: str, default: float) -> float:
        t = getattr(cfg, rule).threshold
        return default if t is None else t

    out = pd.DataFrame(index=idx.index)
    out["longstring"] = idx["longstring_flag"].astype(bool)
    out["irv"] = idx["irv"] <= thr("irv", D["irv_low"])
    conf = thr("mahalanobis", D["mahalanobis_confidence"])
    out["mahalanobis"] = idx["mahalanobis"] > idx["mahalanobis_df"].map(lambda k: chi2_ppf(conf, k))
    eo_ok = idx.get("n_factors", D["even_odd_min_factors"]) >= D["even_odd_min_factors"]
    out["even_odd"] = (idx["even_odd"] > thr("even_odd", D["even_odd_max"])) & eo_ok
    out["person_total"] = idx["person_total"] < thr("person_total", D["person_total_max"])
    out["missing"] = idx["missing_share"] > cfg.missing.max_share
    return out.fillna(False).astype(bool)


THRESHOLD_TEXT = {"irv": "irv <= {t}",
                  "mahalanobis": "D2 > chi2({t}; df = items)", "even_odd": "even-odd > {t}",
                  "person_total": "person-total < {t}"}


# ------------------------------------------------------------------------------------------------------ the rules
def clean(ds: "Dataset", config: CleaningSection | None = None) -> CleanResult:
    import numpy as np
    import pandas as pd


    from ..errors import DataError

    cfg = config or CleaningSection()
    data = ds.data
    if len(data) == 0:
        raise DataError("no responses to clean: the data has 0 rows (an export with its header rows only?)",
                        file=ds.source.path)
    rid = ds.response_id().astype("string")
    remaining = data.index
    audit: list["pd.DataFrame"] = []
    consort = [{"step": 0, "rule": "received", "excluded": 0, "remaining": len(remaining)}]
    notes: list[str] = []

    flagged_kept: dict[str, dict[str, list[str]]] = {}

    def decide(rule: str, values: "pd.Series", flagged: "pd.Series", threshold: Any, note: "pd.Series | str" = "",
               kept: "pd.Series | None" = None):
        """``kept``: reason per response the rule could not judge (blank metadata): flagged, not excluded."""
        nonlocal remaining
        flagged = flagged.reindex(remaining).fillna(False).astype(bool)
        nts = note.reindex(remaining).fillna("") if isinstance(note, pd.Series) else pd.Series(note, index=remaining)
        why = (kept.reindex(remaining) if kept is not None else pd.Series(None, index=remaining, dtype="object"))
        why = why.where(~flagged & why.map(lambda w: isinstance(w, str) and w != "").astype(bool), None)
        if why.notna().any():
            nts = nts.where(why.isna(), why.astype("object").where(nts == "", why.astype(str) + "; " + nts))
            by_reason: dict[str, list[str]] = {}
            for i, w in why.dropna().items():
                by_reason.setdefault(str(w), []).append(str(rid.loc[i]))
            flagged_kept[rule] = by_reason
            for w, ids in by_reason.items():
                shown = ", ".join(ids[:10]) + (f" ... (+{len(ids) - 10})" if len(ids) > 10 else "")
                notes.append(f"{rule}: {len(ids)} response(s) kept but flagged, {w}: {shown}")
        audit.append(pd.DataFrame({
            "response_id": rid.reindex(remaining).values, "row": data.index.get_indexer(remaining),
            "rule": rule, "value": values.reindex(remaining).astype("object").values, "threshold": str(threshold),
            "flagged": (flagged | why.notna()).values, "excluded": flagged.values, "note": nts.values}))
        out = flagged[flagged].index
        remaining = remaining.difference(out, sort=False)
        consort.append({"step": len(consort), "rule": rule, "excluded": len(out), "remaining": len(remaining)})

    def skip(rule: str, why: str) -> None:
        notes.append(f"{rule}: skipped ({why})")

    # 1 status
    col = _col(ds, "Status")
    if not cfg.status.enabled:
        skip("status", "disabled")
    elif col is None:
        skip("status", "no Status column")
    else:
        st = pd.to_numeric(data[col], errors="coerce")
        decide("status", st, st.isin(cfg.status.exclude_codes), ",".join(map(str, cfg.status.exclude_codes)),
               kept=_blank_reason(st.isna(), "Status blank: preview/test rule could not be applied"))

    # 2 unfinished
    fin, prog = _col(ds, "Finished"), _col(ds, "Progress")
    if not cfg.unfinished.enabled:
        skip("unfinished", "disabled")
    elif fin is None and prog is None:
        skip("unfinished", "no Finished or Progress column")
    else:
        p = pd.to_numeric(data[prog], errors="coerce") if prog else pd.Series(np.nan, index=data.index)
        f = data[fin].astype("boolean") if fin else pd.Series(pd.NA, index=data.index, dtype="boolean")
        flagged = (f == False).fillna(False) | (p < cfg.unfinished.min_progress).fillna(False)  # noqa: E712
        f_blank = f.isna() if fin else pd.Series(False, index=data.index)
        p_blank = p.isna() if prog else pd.Series(False, index=data.index)
        neither = f.isna() & p.isna()
        why = pd.Series(None, index=data.index, dtype="object")
        why[f_blank & ~neither] = "Finished blank: unfinished rule applied on Progress only"
        why[p_blank & ~neither] = "Progress blank: unfinished rule applied on Finished only"
        what = "Finished and Progress blank" if fin and prog else "Finished blank" if fin else "Progress blank"
        why[neither] = f"{what}: unfinished rule could not be applied"
        decide("unfinished", p, flagged, cfg.unfinished.min_progress, kept=why)

    # 3 duplicates
    if not cfg.duplicates.enabled:
        skip("duplicates", "disabled")
    else:
        flagged = pd.Series(False, index=data.index)
        dup_note = pd.Series("", index=data.index, dtype="object")
        used = []
        for key in cfg.duplicates.keys:
            cols = [_col(ds, k) for k in key]
            if any(c is None for c in cols):
                continue
            used.append("+".join(key))
            sub = data.loc[remaining, cols]
            sub = sub[sub.notna().all(axis=1)]
            if cfg.duplicates.keep == "most_complete":
                filled = data.loc[sub.index].notna().sum(axis=1)
                sub = sub.assign(_f=-filled).sort_values("_f", kind="stable").drop(columns="_f")
            elif cfg.duplicates.keep == "last":
                sub = sub.iloc[::-1]
            keys = sub.astype("string").fillna("").agg("\x1f".join, axis=1)
            first_of: dict[str, Any] = {}
            for i, k in zip(sub.index, keys):
                if k in first_of:
                    flagged.loc[i] = True
                    dup_note.loc[i] = f"same {'+'.join(key)} as {rid.loc[first_of[k]]}"
                else:
                    first_of[k] = i
        if not used:
            skip("duplicates", "no key columns present")
        else:
            decide("duplicates", dup_note.replace("", pd.NA), flagged, " | ".join(used), dup_note)

    # 4 speeders
    dur = _col(ds, "Duration (in seconds)", "Duration__in_seconds_", "Duration")
    if not cfg.speeders.enabled:
        skip("speeders", "disabled")
    elif dur is None:
        skip("speeders", "no Duration column")
    elif len(remaining) == 0:
        skip("speeders", "no responses left")
    else:
        d = pd.to_numeric(data[dur], errors="coerce")
        med = d.loc[remaining].median()  # NA when no remaining response has a duration: nothing flagged
        cut = cfg.speeders.fraction_of_median * (float("nan") if pd.isna(med) else float(med))
        flagged = d < cut
        thr: Any = round(cut, 3)
        if cfg.speeders.seconds_per_item is not None and ds.codebook is not None:
            answered = data[ds.item_columns()].notna().sum(axis=1)
            flagged = flagged | (d < cfg.speeders.seconds_per_item * answered)
            thr = f"{round(cut, 3)} or {cfg.speeders.seconds_per_item} s/item"
        decide("speeders", d, flagged.fillna(False), thr,
               kept=_blank_reason(d.isna(), "Duration blank: speeder rule could not be applied"))

    # 5 attention checks
    checks = ds.columns_with_role("attention_check") if ds.codebook is not None else []
    if not cfg.attention.enabled:
        skip("attention", "disabled")
    elif not checks:
        skip("attention", "no attention-check columns in the codebook")
    else:
        failed = pd.Series(0, index=data.index)
        seen = pd.Series(0, index=data.index)
        for c in checks:
            r = ds.codebook_row(c)
            mates = [m for m in ds.columns if (mr := ds.codebook_row(m)) is not None and mr.question_id ==
                     r.question_id and m != c]
            saw = data[mates].notna().any(axis=1) | data[c].notna() if mates else data[c].notna()
            ans = pd.to_numeric(data[c], errors="coerce")
            seen += saw.astype(int)
            failed += (saw & ((ans != r.correct_answer) | ans.isna())).astype(int)
        decide("attention", failed, failed > cfg.attention.max_failed, cfg.attention.max_failed,
               note=seen.map(lambda k: f"{k} check(s) seen"))

    # 6-10 careless-responding indices, per version, on the responses still in; 11 respondent missingness
    from .indices import DEFAULT_THRESHOLDS as D

    idx = screen_indices(ds, remaining, cfg) if ds.codebook is not None else pd.DataFrame()
    flags = index_flags(idx, cfg) if not idx.empty else pd.DataFrame()
    defaults = {"longstring": None, "irv": D["irv_low"],
                "mahalanobis": D["mahalanobis_confidence"], "even_odd": D["even_odd_max"],
                "person_total": D["person_total_max"]}
    value_col = {"longstring": "longstring_block", "irv": "irv", "mahalanobis": "mahalanobis",
                 "even_odd": "even_odd", "person_total": "person_total", "missing": "missing_share"}
    for rule in ("longstring", "irv", "mahalanobis", "even_odd", "person_total", "missing"):
        rc = getattr(cfg, rule)
        if not rc.enabled:
            skip(rule, "disabled")
            continue
        if idx.empty:
            skip(rule, "no item columns")
            continue
        if rule == "even_odd" and idx["even_odd"].isna().all():
            skip(rule, f"needs at least {D['even_odd_min_factors']} scales per respondent version")
            continue
        if rule == "missing":
            shown: Any = cfg.missing.max_share
        elif rule == "longstring":
            shown = f"run > {cfg.longstring.block_share} x block items and >= {cfg.longstring.min_run}"
        else:
            t = rc.threshold if rc.threshold is not None else defaults[rule]
            shown = THRESHOLD_TEXT[rule].format(t=t)
        decide(rule, idx[value_col[rule]], flags[rule], shown)

    audit_df = pd.concat(audit, ignore_index=True) if audit else pd.DataFrame(columns=AUDIT_COLUMNS)
    audit_df["value"] = audit_df["value"].map(lambda v: None if v is None or (isinstance(v, float) and v != v)
                                              or v is pd.NA else v)
    kept = data.loc[remaining].copy()
    log = [*ds.log, f"cleaning: {len(data)} received, {len(kept)} analysed"]
    out = ds.with_data(kept, log=log)
    item_missing = None
    if ds.codebook is not None and ds.item_columns():
        from .scoring import numeric_items

        x = numeric_items(out)
        if _conditional(out, list(x.columns)):  # among the respondents each item was shown to
            shown = applicable(out, list(x.columns))
            item_missing = ((x.isna() & shown).sum() / shown.sum().where(shown.sum() > 0)).rename("missing_share")
        else:
            item_missing = x.isna().mean().rename("missing_share")
    idx_out = idx.copy()
    if not idx_out.empty:
        idx_out.insert(0, "response_id", rid.reindex(idx_out.index).values)
        idx_out.insert(1, "row", [int(data.index.get_loc(i)) for i in idx_out.index])
    return CleanResult(data=out, audit=audit_df, consort=pd.DataFrame(consort), indices=idx_out, config=cfg,
                       item_missing=item_missing, notes=notes, flagged_kept=flagged_kept)
