"""``vccscale run``: every stage of a study, from the export to the report, into one output folder.

``run_study(study_path, only=None, from_stage=None, out=None, registry=None, progress=True) -> RunResult`` runs
the stages import -> clean -> items -> reliability -> efa -> cfa -> validity -> invariance -> hypotheses -> rsa ->
multilevel -> power and writes the files of the output-folder contract (stages/<stage>.json, tables/*.csv,
figures/*.png|svg, manifest.json; report.html via vccscale.report when that module exists).

Caching: a stage's inputs hash covers its study sections, the hashes of the stages it depends on and (import)
the sha256 of the input files; it is stored with the list of the stage's outputs in OUT/.cache/<stage>.json. A
stage whose hash is unchanged and whose outputs exist is not run again. ``only`` runs one stage (upstream
results are read from their files), ``from_stage`` reruns that stage and every later one.

Determinism: every random step is seeded from ``study.seed``; floats are written with a fixed number of
significant digits, rows sorted, SVGs written with a fixed hash salt and no date. Only the manifest's
``started``/``finished``/``run_seconds`` and the stage files' ``seconds`` change between identical runs.

``init_study(name, parent_dir)`` scaffolds a new study folder.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import DataError, StudyError, VccscaleError

STAGES = ("import", "clean", "items", "reliability", "efa", "cfa", "validity", "invariance", "hypotheses", "rsa",
          "multilevel", "power")

# stage -> (study sections hashed, upstream stages)
_DEPENDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "import": (("data",), ()),
    "clean": (("cleaning",), ("import",)),
    "items": (("validation",), ("clean",)),
    "reliability": (("validation",), ("clean",)),
    "efa": (("validation", "seed"), ("clean",)),
    "cfa": (("validation", "seed"), ("clean", "efa")),
    "validity": (("validation", "seed"), ("clean", "cfa")),
    "invariance": (("validation",), ("clean",)),
    "hypotheses": (("models", "seed"), ("clean",)),
    "rsa": (("models",), ("clean",)),
    "multilevel": (("validation",), ("clean",)),
    "power": (("power", "seed"), ()),
}
_CACHE_VERSION = 1
_PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "pydantic", "matplotlib", "statsmodels")


# ---------------------------------------------------------------------------------------------------- results
@dataclass
class StageRecord:
    stage: str
    status: str                      # ok | skipped | failed
    inputs_hash: str
    seconds: float = 0.0
    summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    cached: bool = False

    def to_dict(self) -> dict:
        return {"stage": self.stage, "status": self.status, "seconds": round(self.seconds, 3),
                "inputs_hash": self.inputs_hash, "cached": self.cached, "summary": self.summary,
                "notes": self.notes, "outputs": self.outputs}


@dataclass
class RunResult:
    out: Path
    stages: dict[str, StageRecord]
    manifest: dict
    report_written: bool

    @property
    def failed(self) -> list[str]:
        return [s for s, r in self.stages.items() if r.status == "failed"]

    @property
    def ran(self) -> list[str]:
        """Stages computed in this run (not taken from the cache)."""
        return [s for s, r in self.stages.items() if r.status != "skipped" and not r.cached]


# ---------------------------------------------------------------------------------------------------- helpers
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _hash(obj: Any) -> str:
    return hashlib.sha256(_canon(obj).encode("utf-8")).hexdigest()


def _clean_json(v: Any, digits: int) -> Any:
    """JSON-ready value with floats rounded to ``digits`` significant digits and NaN/inf as None."""
    import numpy as np

    if isinstance(v, dict):
        return {str(k): _clean_json(x, digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_json(x, digits) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if not math.isfinite(f) else float(f"{f:.{digits}g}")
    if isinstance(v, Path):
        return v.as_posix()
    return v


def _write_json(path: Path, obj: Any, digits: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean_json(obj, digits), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def _write_csv(path: Path, df: Any, digits: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, float_format=f"%.{digits}g", lineterminator="\n")


class _Ctx:
    """Everything a stage needs: study, registry, output folder, lazily loaded upstream data."""

    def __init__(self, study: Any, registry: Any, out: Path) -> None:
        self.study = study
        self.registry = registry
        self.out = out
        self.digits = study.output.float_digits if study.output else 8
        self.formats = list(study.output.figures) if study.output else ["png", "svg"]
        self.seed = study.seed if study.seed is not None else 0
        from .study import ValidationSection

        self.validation = study.validation or ValidationSection()
        self._cache: dict[str, Any] = {}

    # -- upstream data, read from the stage files (so --only works on a previous run's outputs) -----------------
    def imported(self):
        if "imported" not in self._cache:
            from .io.dataset import load_dataset

            p = self.out / "data" / "imported.parquet"
            if not p.exists():
                raise DataError("no imported data in the output folder: run the import stage first",
                                 file=self.out)
            self._cache["imported"] = _attach_codebook(load_dataset(p), self.study)
        return self._cache["imported"]

    def cleaned(self):
        if "cleaned" not in self._cache:
            from .io.dataset import load_dataset

            p = self.out / "data" / "clean.parquet"
            if not p.exists():
                raise DataError("no clean data in the output folder: run the clean stage first", file=self.out)
            self._cache["cleaned"] = _attach_codebook(load_dataset(p), self.study)
        return self._cache["cleaned"]

    def long(self):
        """Clean data stacked by item id (one row per respondent version), items rescored (reverse keys,
        missing codes), sorted by response id and perspective."""
        if "long" not in self._cache:
            from .clean.scoring import rescored_long

            lf = rescored_long(self.cleaned())
            lf = lf.sort_values(["response_id", "perspective"], kind="mergesort").reset_index(drop=True)
            self._cache["long"] = lf
        return self._cache["long"]

    def blocks(self) -> dict[str, list[str]]:
        """Construct -> item ids of the validated constructs (reflective, items present in the data)."""
        if "blocks" not in self._cache:
            ds = self.cleaned()
            cols = set(self.long().columns)
            chosen = _expand(self.registry, self.validation.constructs) if self.validation.constructs else None
            blocks: dict[str, list[str]] = {}
            for r in ds.codebook.rows:
                if r.role != "item" or not r.item_id or not r.construct or r.item_id not in cols:
                    continue
                if (r.indicator or "reflective") != "reflective":
                    continue
                if chosen is not None and r.construct not in chosen:
                    continue
                lst = blocks.setdefault(r.construct, [])
                if r.item_id not in lst:
                    lst.append(r.item_id)
            blocks = {c: sorted(v) for c, v in sorted(blocks.items()) if len(v) >= 2}
            self._cache["blocks"] = blocks
        return self._cache["blocks"]

    def scale_bounds(self, items: list[str]) -> tuple[float | None, float | None]:
        cb = self.cleaned().codebook
        lo = [r.scale_min for r in cb.rows if r.item_id in items and r.scale_min is not None]
        hi = [r.scale_max for r in cb.rows if r.item_id in items and r.scale_max is not None]
        return (min(lo) if lo else None, max(hi) if hi else None)

    def split(self) -> tuple[Any, Any]:
        """(efa half, cfa half) of the long frame: respondents split at random with the study seed."""
        import numpy as np

        lf = self.long()
        if not self.validation.efa_half:
            return lf, lf
        ids = np.array(sorted(lf["response_id"].astype(str).unique()))
        rng = np.random.default_rng([self.seed, 1])
        perm = rng.permutation(len(ids))
        first = set(ids[perm[: len(ids) // 2]])
        mask = lf["response_id"].astype(str).isin(first)
        return lf[mask].reset_index(drop=True), lf[~mask].reset_index(drop=True)

    def syntax(self, blocks: dict[str, list[str]] | None = None) -> str:
        b = self.blocks() if blocks is None else blocks
        return "\n".join(f"{c} =~ {' + '.join(items)}" for c, items in b.items()) + "\n"

    def missing(self) -> str:
        md = self.study.cleaning.missing_data if self.study.cleaning else "fiml"
        return "fiml" if md == "fiml" else "listwise"

    def csv(self, name: str, df: Any) -> str:
        _write_csv(self.out / "tables" / f"{name}.csv", df, self.digits)
        return f"tables/{name}.csv"

    def figure(self, fig: Any, name: str) -> list[str]:
        return _save_figure(fig, self.out / "figures" / name, self.formats)


def _attach_codebook(ds: Any, study: Any) -> Any:
    if ds.codebook is None and study.data and study.data.codebook:
        import dataclasses

        from .instrument.codebook import Codebook

        ds = dataclasses.replace(ds, codebook=Codebook.read(study.resolve(study.data.codebook)))
    return ds


def _expand(registry: Any, patterns: list[str]) -> set[str]:
    out: set[str] = set()
    for p in patterns:
        out.update(registry.expand(p))
    return out


def _save_figure(fig: Any, base: Path, formats: list[str]) -> list[str]:
    """Save ``fig`` in every requested format with the report's deterministic saver; returns contract paths."""
    import matplotlib.pyplot as plt

    from .report.figures import save_figure

    written = [f"figures/{save_figure(fig, base.with_suffix('.' + fmt), dpi=120).name}" for fmt in sorted(formats)]
    plt.close(fig)
    return written


def _scrub_svg(path: Path) -> None:
    """Remove the creation date matplotlib writes into an SVG (for figures saved by library functions)."""
    if path.suffix.lower() == ".svg" and path.exists():
        txt = path.read_text(encoding="utf-8")
        txt = re.sub(r"\s*<dc:date>[^<]*</dc:date>", "", txt)
        path.write_text(txt, encoding="utf-8")


# ---------------------------------------------------------------------------------------------------- stages
def _stage_import(ctx: _Ctx) -> tuple[dict, list[str], list[str]]:
    from .instrument.codebook import Codebook
    from .io import read_export

    d = ctx.study.data
    salt = os.environ.get(d.salt_env) if d.salt_env else None
    cb = Codebook.read(ctx.study.resolve(d.codebook)) if d.codebook else None
    ds = read_export(ctx.study.resolve(d.export), cb, identifiers=d.identifiers, salt=salt)
    (ctx.out / "data").mkdir(parents=True, exist_ok=True)
    ds.write(ctx.out / "data" / "imported.parquet")
    _normalise_meta(ctx.out / "data" / "imported.parquet.meta.json", ctx)
    summary = {"rows": ds.n_rows, "columns": len(ds.columns), "format": ds.source.format,
               "dropped_identifiers": sorted(ds.dropped_identifiers),
               "missing_from_export": len(ds.missing_from_export), "not_in_codebook": len(ds.not_in_codebook)}
    return summary, ["data/imported.parquet", "data/imported.parquet.meta.json"], list(ds.log)


def _normalise_meta(path: Path, ctx: _Ctx) -> None:
    """Paths in a data sidecar relative to the study folder, so that the file does not depend on OUT."""
    base = ctx.study.path.resolve().parent if ctx.study.path else Path.cwd()
    txt = path.read_text(encoding="utf-8")
    meta = json.loads(txt)

    def rel(v: Any) -> Any:
        if isinstance(v, str) and os.path.isabs(v):
            try:
                return os.path.relpath(v, base).replace(os.sep, "/")
            except ValueError:
                return v
        return v

    if isinstance(meta.get("source"), dict) and "path" in meta["source"]:
        meta["source"]["path"] = rel(meta["source"]["path"])
    if meta.get("codebook"):  # the pipeline attaches the study's codebook when it reads the data back
        meta["codebook_file"] = rel(meta["codebook"])
        meta["codebook"] = None
    path.write_text(json.dumps(meta, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def _stage_clean(ctx: _Ctx):
    from .clean import clean
    from .study import CleaningSection

    res = clean(ctx.imported(), ctx.study.cleaning or CleaningSection())
    res.data.write(ctx.out / "data" / "clean.parquet")
    _normalise_meta(ctx.out / "data" / "clean.parquet.meta.json", ctx)
    outs = ["data/clean.parquet", "data/clean.parquet.meta.json",
            ctx.csv("consort", res.consort[["step", "rule", "excluded", "remaining"]]),
            ctx.csv("audit_log", res.audit)]
    s = res.summary()
    summary = {"n_received": s["n_received"], "n_analysed": s["n_analysed"],
               "excluded_by_rule": s["excluded_by_rule"]}
    return summary, outs, list(res.notes)


def _by_perspective(ctx: _Ctx):
    lf = ctx.long()
    for persp in sorted(lf["perspective"].astype(str).unique()):
        yield persp, lf[lf["perspective"].astype(str) == persp]


def _stage_items(ctx: _Ctx):
    import pandas as pd

    from .validate import item_analysis

    rows, notes = [], []
    for c, items in ctx.blocks().items():
        lo, hi = ctx.scale_bounds(items)
        for persp, sub in _by_perspective(ctx):
            have = [i for i in items if sub[i].notna().any()]
            if len(have) < 2:
                continue
            try:
                ia = item_analysis(sub, have, scale_min=lo, scale_max=hi)
            except VccscaleError as exc:
                notes.append(f"{c} ({persp}): {exc.message}")
                continue
            t = ia.items
            for item in have:
                r = t.loc[item]
                rows.append({"construct": c, "perspective": persp, "item": item, "n": int(r["n"]),
                             **{k: float(r[k]) for k in ("mean", "sd", "skew", "kurtosis", "floor_pct",
                                                         "ceiling_pct", "r_drop", "alpha_if_deleted")}})
    cols = ["construct", "perspective", "item", "n", "mean", "sd", "skew", "kurtosis", "floor_pct", "ceiling_pct",
            "r_drop", "alpha_if_deleted"]
    df = pd.DataFrame(rows, columns=cols).sort_values(["construct", "perspective", "item"], kind="mergesort")
    low = df[df["r_drop"] < 0.30]
    return ({"items": len(df), "constructs": len(ctx.blocks()), "r_drop_below_30": len(low)},
            [ctx.csv("item_analysis", df)], notes)


def _stage_reliability(ctx: _Ctx):
    import warnings

    import pandas as pd

    from .sem import fit_cfa
    from .validate import cronbach_alpha, omega, reliability_from_params

    rows, notes = [], []
    for c, items in ctx.blocks().items():
        for persp, sub in _by_perspective(ctx):
            have = [i for i in items if sub[i].notna().any()]
            if len(have) < 2:
                continue
            row: dict[str, Any] = {"construct": c, "perspective": persp, "n_items": len(have)}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    a = cronbach_alpha(sub, have)
                    row.update(alpha=a.alpha, alpha_ci_lower=a.ci_lower, alpha_ci_upper=a.ci_upper)
                except VccscaleError as exc:
                    notes.append(f"{c} ({persp}) alpha: {exc.message}")
                try:
                    row["omega"] = omega(sub, have).omega_total
                except (VccscaleError, ValueError, ArithmeticError) as exc:
                    notes.append(f"{c} ({persp}) omega: {exc}")
                if len(have) >= 3:
                    try:
                        fit = fit_cfa(sub, f"{c} =~ {' + '.join(have)}\n", missing=ctx.missing())
                        rel = reliability_from_params(fit.estimates)
                        row.update(cr=float(rel.loc[c, "omega_fitted"]), ave=float(rel.loc[c, "ave_fitted"]))
                    except (VccscaleError, ValueError, ArithmeticError, KeyError) as exc:
                        notes.append(f"{c} ({persp}) CR/AVE: {exc}")
            rows.append(row)
    cols = ["construct", "perspective", "n_items", "alpha", "alpha_ci_lower", "alpha_ci_upper", "omega", "cr", "ave"]
    df = pd.DataFrame(rows, columns=cols).sort_values(["construct", "perspective"], kind="mergesort")
    return ({"scales": len(df), "alpha_below_70": int((df["alpha"] < 0.70).sum())},
            [ctx.csv("reliability", df)], notes)


def _stage_efa(ctx: _Ctx):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from .validate import efa, parallel_analysis

    v = ctx.validation
    half, _ = ctx.split()
    blocks = ctx.blocks()
    items = sorted(i for b in blocks.values() for i in b)
    sub = half[items].dropna(how="all")
    meth = v.efa_method
    pa = parallel_analysis(sub, items, n_iter=v.parallel_iterations, seed=ctx.seed,
                           method="minres" if meth == "principal" else meth)
    k = v.efa_factors or len(blocks)
    res = efa(sub, items, k, method=meth, rotation=None if v.efa_rotation == "none" else v.efa_rotation)
    load = res.loadings.copy()
    load.columns = [f"F{j + 1}" for j in range(load.shape[1])]
    load.insert(0, "item", load.index.astype(str))
    load["h2"] = res.communalities.reindex(res.loadings.index).to_numpy()
    scree = pd.DataFrame({"factor": range(1, len(pa.scree) + 1), "observed": pa.scree["fa_observed"].to_numpy(),
                          "simulated": pa.scree["fa_simulated"].to_numpy()})
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(scree["factor"], scree["observed"], marker="o", label="observed")
    ax.plot(scree["factor"], scree["simulated"], ls="--", label="simulated (parallel analysis)")
    ax.set_xlabel("factor")
    ax.set_ylabel("eigenvalue (reduced matrix)")
    ax.set_title(f"Scree plot, n = {res.n_obs}")
    ax.legend()
    fig.tight_layout()
    outs = [ctx.csv("efa_loadings", load), ctx.csv("efa_scree", scree)] + ctx.figure(fig, "efa_scree")
    summary = {"n": int(res.n_obs), "n_items": len(items), "n_factors": int(k),
               "parallel_n_factors": int(pa.n_factors), "half": bool(v.efa_half), "seed": ctx.seed,
               "method": meth, "rotation": v.efa_rotation, "converged": bool(res.converged)}
    return summary, outs, []


_FIT_MEASURES = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "aic",
                 "bic")
_ROBUST = ("chisq.scaled", "df.scaled", "pvalue.scaled", "cfi.robust", "tli.robust", "rmsea.robust")


def _stage_cfa(ctx: _Ctx):
    import pandas as pd

    from .sem import fit_cfa

    _, half = ctx.split()
    v = ctx.validation
    fit = fit_cfa(half, ctx.syntax(), estimator=v.estimator, missing=ctx.missing())
    keys = _FIT_MEASURES + (_ROBUST if v.estimator == "MLR" else ())
    fm = pd.DataFrame([{"measure": k.replace(".", "_"), "value": fit.fit.get(k)} for k in keys if k in fit.fit])
    est = fit.estimates[["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]]
    outs = [ctx.csv("cfa_fit", fm), ctx.csv("cfa_estimates", est)]
    from .report.figures import path_diagram

    for fmt in sorted(ctx.formats):  # the measurement model's constructs with standardised correlations
        target = ctx.out / "figures" / f"path_diagram.{fmt}"
        path_diagram(fit.estimates, target, title="Measurement model (standardised estimates)")
        outs.append(f"figures/{target.name}")
    summary = {"n": int(sum(fit.nobs)) if hasattr(fit.nobs, "__iter__") else int(fit.nobs),
               "estimator": v.estimator, "sample": "cfa half" if v.efa_half else "all",
               **{k.replace(".", "_"): fit.fit.get(k) for k in ("cfi", "tli", "rmsea", "srmr")}}
    return summary, outs, [f"warning: {w}" for w in fit.warnings]


def _stage_validity(ctx: _Ctx):
    import numpy as np
    import pandas as pd

    from .validate import fornell_larcker, htmt, reliability_from_params

    p = ctx.out / "tables" / "cfa_estimates.csv"
    if not p.exists():
        raise DataError("no CFA estimates in the output folder: run the cfa stage first", file=ctx.out)
    est = pd.read_csv(p)
    blocks = ctx.blocks()
    facs = list(blocks)
    notes = []
    if len(facs) < 2:
        return {"factors": len(facs)}, [], ["validity needs at least two constructs"]
    rel = reliability_from_params(est)
    ave = {f: float(rel.loc[f, "ave_fitted"]) for f in facs}
    m = pd.DataFrame(np.eye(len(facs)), index=facs, columns=facs)
    cor = est[(est["op"] == "~~") & est["lhs"].isin(facs) & est["rhs"].isin(facs) & (est["lhs"] != est["rhs"])]
    for r in cor.itertuples():
        m.loc[r.lhs, r.rhs] = m.loc[r.rhs, r.lhs] = r.std_all
    fl = fornell_larcker(ave, m)
    flt = fl.table.copy()
    flt.insert(0, "factor", flt.index.astype(str))
    h = htmt(ctx.long(), blocks, n_boot=ctx.validation.htmt_bootstrap, seed=ctx.seed)
    ht = h.matrix.copy()
    ht.insert(0, "factor", ht.index.astype(str))
    failed = [f for f, ok in fl.passed.items() if not ok]
    high = [(a, b) for i, a in enumerate(facs) for b in facs[i + 1:] if h.matrix.loc[a, b] > 0.85]
    if failed:
        notes.append("Fornell-Larcker not met for " + ", ".join(failed))
    summary = {"factors": len(facs), "fornell_larcker_failed": failed,
               "htmt_max": float(np.nanmax(h.matrix.where(~np.eye(len(facs), dtype=bool)).to_numpy())),
               "htmt_above_85": [f"{a}~~{b}" for a, b in high]}
    return summary, [ctx.csv("fornell_larcker", flt), ctx.csv("htmt", ht)], notes


def _stage_invariance(ctx: _Ctx):
    import pandas as pd

    from .validate.invariance import invariance

    lf = ctx.long()
    persps = sorted(lf["perspective"].astype(str).unique())
    if not ctx.validation.invariance:
        return None, [], ["invariance: turned off (validation.invariance: false)"]
    if len(persps) < 2:
        return None, [], ["invariance: the data hold one perspective only"]
    # constructs answered in every perspective
    blocks = {c: items for c, items in ctx.blocks().items()
              if all(lf.loc[lf["perspective"].astype(str) == p, items].notna().any().all() for p in persps)}
    if not blocks:
        return None, [], ["invariance: no construct is measured in every perspective"]
    res = invariance(lf, ctx.syntax(blocks), "perspective", estimator=ctx.validation.estimator,
                     missing=ctx.missing())
    ft = res.fit_table()
    tests = {t["compare"].split(" vs ")[0]: t for t in res.tests.to_dict(orient="records")}
    rows = []
    for lvl, r in ft.iterrows():
        t = tests.get(lvl, {})
        rows.append({"model": lvl, "chisq": r.get("chisq"), "df": r.get("df"), "cfi": r.get("cfi"),
                     "rmsea": r.get("rmsea"), "srmr": r.get("srmr"), "compare": t.get("compare", ""),
                     "chisq_diff": t.get("chisq_diff"), "df_diff": t.get("df_diff"), "pvalue": t.get("pvalue"),
                     "delta_cfi": t.get("delta_cfi"), "delta_rmsea": t.get("delta_rmsea")})
    df = pd.DataFrame(rows)
    summary = {"group": "perspective", "groups": [str(g) for g in res.groups], "constructs": sorted(blocks),
               "n": int(res.n)}
    return summary, [ctx.csv("invariance", df)], list(res.notes)


def _fmt_num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "NA"
    return f"{v:.{digits}f}"


def _stage_hypotheses(ctx: _Ctx):
    import pandas as pd

    from .models.hypotheses import test_hypotheses

    if ctx.study.models is None:
        return None, [], ["hypotheses: the study file has no models: section"]
    study = ctx.study
    if study.models.bootstrap_seed is None and study.seed is not None:
        study = study.model_copy(update={"models": study.models.model_copy(update={"bootstrap_seed": study.seed})})
    results = [r.to_dict() for r in test_hypotheses(study, ctx.long(), ctx.registry)]
    rows = []
    for r in results:
        params = "; ".join(
            f"{p.get('name', p.get('label', '?'))} = {_fmt_num(p.get('est'))} "
            f"[{_fmt_num(p.get('ci_lower'))}, {_fmt_num(p.get('ci_upper'))}]" for p in r.get("parameters", []))
        h = ctx.registry.hypotheses.get(r["id"])
        rows.append({"id": r["id"], "family": r.get("family", ""), "statement": h.statement if h else "",
                     "test": r.get("test", ""), "parameters": params, "pvalue": r.get("pvalue"),
                     "pvalue_adjusted": r.get("pvalue_adjusted"), "decision": r.get("decision"),
                     "reason": r.get("reason", ""), "exploratory": bool(r.get("exploratory"))})
    df = pd.DataFrame(rows, columns=["id", "family", "statement", "test", "parameters", "pvalue", "pvalue_adjusted",
                                     "decision", "reason", "exploratory"])
    df = df.assign(_k=df["id"].str[1:].astype(int)).sort_values("_k", kind="mergesort").drop(columns="_k")
    counts: dict[str, int] = {}
    for d in df["decision"]:
        counts[d] = counts.get(d, 0) + 1
    _write_json(ctx.out / "data" / "hypotheses.json", results, ctx.digits)
    return ({"tested": len(df), "decisions": dict(sorted(counts.items())),
             "adjust": ctx.study.models.adjust, "alpha": ctx.study.models.alpha},
            [ctx.csv("hypotheses", df), "data/hypotheses.json"], [])


def _stage_rsa(ctx: _Ctx):
    import pandas as pd

    from .models.library import select_hypotheses
    from .models.rsa import contour_plot, rsa, surface_plot

    if ctx.study.models is None:
        return None, [], ["rsa: the study file has no models: section"]
    m = ctx.study.models
    chosen = select_hypotheses(ctx.registry, m.hypotheses, m.families)
    rel = next((r for h in chosen for r in h.relations if r.type == "congruence"), None)
    if rel is None:
        return None, [], ["rsa: no congruence hypothesis among the chosen ones"]
    from .models.hypotheses import scale_bounds, scale_score

    lf = ctx.long()
    scores = {}
    for cid in (rel.x, rel.y, rel.to):
        # the same scale scores as the hypothesis tests: composites = unit-weighted means of their sub-activities
        score, why = scale_score(ctx.registry, cid, lf)
        if score is None:
            return None, [], [f"rsa: {why}"]
        scores[cid] = score
    frame = pd.DataFrame(scores).dropna()
    lo, hi = scale_bounds(ctx.registry, rel.x, set(lf.columns))
    binary = set(frame[rel.to].unique()) <= {0, 1}
    res = rsa(frame, rel.x, rel.y, rel.to, center="midpoint", scale_min=lo, scale_max=hi,
              family="binomial" if binary else "gaussian")
    tab = []
    for t in (res.coefficients, res.surface, res.stationary):
        for name, r in t.iterrows():
            if name in ("b0",):
                continue
            tab.append({"parameter": str(name), "est": r["est"], "se": r["se"], "pvalue": r["pvalue"]})
    outs = [ctx.csv("rsa", pd.DataFrame(tab))]
    figdir = ctx.out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    files = surface_plot(res, figdir / "rsa_surface") + contour_plot(res, figdir / "rsa_contour")
    for f in files:
        _scrub_svg(Path(f))
    outs += sorted(f"figures/{Path(f).name}" for f in files)
    return {"x": rel.x, "y": rel.y, "z": rel.to, "n": int(res.n), "r2": res.r2}, outs, []


def _stage_multilevel(ctx: _Ctx):
    from .models.multilevel import aggregation_table

    g = ctx.validation.group_column
    lf = ctx.long()
    if not ctx.validation.multilevel:
        return None, [], ["multilevel: turned off (validation.multilevel: false)"]
    if g not in lf.columns or lf[g].nunique() < 2:
        return None, [], [f"multilevel: no {g!r} column with at least two groups"]
    lo, hi = ctx.scale_bounds([i for b in ctx.blocks().values() for i in b])
    points = int(hi - lo + 1) if lo is not None and hi is not None else 7
    tab = aggregation_table(lf, g, ctx.blocks(), points).reset_index()
    tab = tab.rename(columns={"share_rwg_j_ge_cut": "share_rwg_70"})
    df = tab[["construct", "icc1", "icc2", "rwg_j_mean", "rwg_j_median", "share_rwg_70", "ad_mean", "verdict"]]
    df = df.sort_values("construct", kind="mergesort")
    return ({"group": g, "n_groups": int(lf[g].nunique()), "constructs": len(df),
             "justified": int((df["verdict"] == "justified").sum())}, [ctx.csv("multilevel", df)], [])


def _stage_power(ctx: _Ctx):

    from .simulate import power, power_curve_plot

    p = ctx.study.power
    if p is None or not p.enabled:
        return None, [], ["power: not enabled (power.enabled: false)"]
    model = ctx.study.resolve(p.model).read_text(encoding="utf-8")
    seed = p.seed if p.seed is not None else ctx.seed
    res = power(model, targets=list(p.targets), n=list(p.n), reps=p.reps, seed=seed, alpha=p.alpha,
                estimator=p.estimator, n_jobs=1, progress=False)
    df = res.table[["n", "target", "power", "converged", "bias", "coverage"]].sort_values(
        ["target", "n"], kind="mergesort")
    outs = [ctx.csv("power", df)]
    figdir = ctx.out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    import matplotlib

    for fmt in sorted(ctx.formats):
        f = figdir / f"power_curve.{fmt}"
        with matplotlib.rc_context({"svg.hashsalt": "vccscale", "svg.fonttype": "path"}):
            power_curve_plot(res, f)
        _scrub_svg(f)
        outs.append(f"figures/{f.name}")
    return {"seed": seed, "reps": p.reps, "n": list(p.n), "n_for_80": res.n_for_80}, outs, []


_RUNNERS: dict[str, Callable[[_Ctx], Any]] = {
    "import": _stage_import, "clean": _stage_clean, "items": _stage_items, "reliability": _stage_reliability,
    "efa": _stage_efa, "cfa": _stage_cfa, "validity": _stage_validity, "invariance": _stage_invariance,
    "hypotheses": _stage_hypotheses, "rsa": _stage_rsa, "multilevel": _stage_multilevel, "power": _stage_power,
}


# ---------------------------------------------------------------------------------------------------- checks
def _check_study(study: Any, registry: Any, only: str | None, from_stage: str | None) -> None:
    """Every problem a study file can have that is not a schema error, before any work is done."""
    f = study.path
    for name, value in (("--only", only), ("--from", from_stage)):
        if value is not None and value not in STAGES:
            raise StudyError(f"unknown stage {value!r}; allowed: {', '.join(STAGES)}", field=name)
    if only is not None and from_stage is not None:
        raise StudyError("give --only or --from, not both", field="--only")
    if study.data is None:
        raise StudyError("vccscale run needs a 'data:' section naming the export (data.export) and the codebook "
                         "(data.codebook)", file=f, field="data")
    if not study.data.codebook:
        raise StudyError("vccscale run needs the instrument's codebook (csv or json)", file=f, field="data.codebook")
    for key in ("export", "codebook"):
        p = study.resolve(getattr(study.data, key))
        if not p.is_file():
            raise StudyError(f"file not found: {p}", file=f, field=f"data.{key}")
    known = "construct ids of the registry (vccscale constructs list) or patterns such as a_drv_*"
    if study.instrument is not None:
        for sect in ("constructs", "exclude"):
            for k, pat in enumerate(getattr(study.instrument, sect)):
                if not registry.expand(pat):
                    raise StudyError(f"unknown construct {pat!r}; allowed: {known}", file=f,
                                     field=f"instrument.{sect}.{k}")
    if study.validation is not None:
        for k, pat in enumerate(study.validation.constructs):
            if not registry.expand(pat):
                raise StudyError(f"unknown construct {pat!r}; allowed: {known}", file=f,
                                 field=f"validation.constructs.{k}")
    if study.models is not None:
        m = study.models
        if isinstance(m.hypotheses, list):
            for k, h in enumerate(m.hypotheses):
                if h.startswith("H") and h not in registry.hypotheses:
                    raise StudyError(f"unknown hypothesis {h!r}; allowed: hypothesis ids of the registry "
                                     "(vccscale hypotheses list), family letters or 'all'", file=f,
                                     field=f"models.hypotheses.{k}")
        for k, c in enumerate(m.controls):
            if c.islower() and "_" in c and c[:2] in ("a_", "b_", "c_", "d_", "x_") and c not in registry.constructs:
                raise StudyError(f"unknown construct {c!r}; allowed: {known}, or an observed data column", file=f,
                                 field=f"models.controls.{k}")
    if study.power is not None and study.power.enabled:
        p = study.resolve(study.power.model)
        if not p.is_file():
            raise StudyError(f"file not found: {p}", file=f, field="power.model")


def _out_dir(study: Any, out: str | Path | None) -> Path:
    if out is not None:
        return Path(out)
    if study.output is not None and study.output.dir:
        return study.resolve(study.output.dir)
    return study.resolve(Path("output") / study.study.id)


def _section_value(study: Any, name: str) -> Any:
    if name == "seed":
        return study.seed
    v = getattr(study, name)
    return None if v is None else v.model_dump(mode="json")


# ---------------------------------------------------------------------------------------------------- runner
class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, msg: str) -> None:
        if self.enabled:
            print(msg, file=sys.stderr, flush=True)


def run_study(study_path: str | Path, only: str | None = None, from_stage: str | None = None,
              out: str | Path | None = None, registry: Any = None, progress: bool = True) -> RunResult:
    """Run the study's stages into its output folder (see the module docstring); returns a :class:`RunResult`.

    Raises :class:`StudyError` before any file is written when the study file is invalid (schema, unknown
    construct or hypothesis, missing data file, unknown stage name)."""
    from .study import load_study

    t0 = time.time()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    study = load_study(study_path)
    if registry is None:
        from .registry import load_registry

        registry = load_registry()
    _check_study(study, registry, only, from_stage)

    out_dir = _out_dir(study, out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("stages", "tables", "figures", "data", ".cache"):
        (out_dir / sub).mkdir(exist_ok=True)
    ctx = _Ctx(study, registry, out_dir)
    say = _Progress(progress)

    base = study.path.resolve().parent

    def rel(p: Path) -> str:
        return os.path.relpath(p.resolve(), base).replace(os.sep, "/")

    data_inputs = {rel(p): _sha256(p) for p in (study.resolve(study.data.export), study.resolve(study.data.codebook))}
    power_inputs = ({rel(study.resolve(study.power.model)): _sha256(study.resolve(study.power.model))}
                    if study.power is not None and study.power.enabled else {})
    inputs = {**data_inputs, **power_inputs}

    hashes: dict[str, str] = {}
    for stage in STAGES:
        sections, upstream = _DEPENDS[stage]
        key = {"stage": stage, "cache_version": _CACHE_VERSION,
               "sections": {s: _section_value(study, s) for s in sections},
               "output": _section_value(study, "output"),
               "upstream": {u: hashes[u] for u in upstream},
               "inputs": data_inputs if stage == "import" else (power_inputs if stage == "power" else {})}
        hashes[stage] = _hash(key)

    if only is not None:
        to_run = [only]
    else:
        to_run = list(STAGES)
    forced = {only} if only else (set(STAGES[STAGES.index(from_stage):]) if from_stage else set())

    records: dict[str, StageRecord] = {}
    for i, stage in enumerate(to_run, 1):
        h = hashes[stage]
        cache_file = out_dir / ".cache" / f"{stage}.json"
        label = f"[{i}/{len(to_run)}] {stage}"
        if stage not in forced and cache_file.exists():
            try:
                cached = json.loads(cache_file.read_text(encoding="utf-8"))
            except ValueError:
                cached = {}
            if cached.get("hash") == h and all((out_dir / o).exists() for o in cached.get("outputs", [])):
                rec = StageRecord(stage, cached.get("status", "ok"), h, 0.0, cached.get("summary", {}),
                                  cached.get("notes", []), cached.get("outputs", []), cached=True)
                records[stage] = rec
                _write_json(out_dir / "stages" / f"{stage}.json", rec.to_dict(), ctx.digits)
                say(f"{label}: unchanged (cached)")
                continue
        say(f"{label} ...")
        ts = time.time()
        try:
            summary, outputs, notes = _RUNNERS[stage](ctx)
            status = "skipped" if summary is None else "ok"
            summary = summary or {}
        except StudyError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing stage is recorded, later stages still run
            status, summary, outputs = "failed", {}, []
            msg = exc.message if isinstance(exc, VccscaleError) else f"{type(exc).__name__}: {exc}"
            notes = [msg]
            if not isinstance(exc, VccscaleError):
                notes.append(traceback.format_exc(limit=3).strip().splitlines()[-1])
        rec = StageRecord(stage, status, h, time.time() - ts, _clean_json(summary, ctx.digits), list(notes),
                          sorted(outputs))
        records[stage] = rec
        _write_json(out_dir / "stages" / f"{stage}.json", rec.to_dict(), ctx.digits)
        if status == "failed":
            cache_file.unlink(missing_ok=True)
        else:
            _write_json(cache_file, {"hash": h, "status": status, "outputs": rec.outputs, "summary": rec.summary,
                                     "notes": rec.notes}, ctx.digits)
        say(f"{label}: {status} ({rec.seconds:.1f} s)" + (f": {notes[0]}" if status != "ok" and notes else ""))

    # stages not run this time (--only): take their record from the stage files
    all_records: dict[str, dict] = {}
    for stage in STAGES:
        p = out_dir / "stages" / f"{stage}.json"
        if p.exists():
            all_records[stage] = json.loads(p.read_text(encoding="utf-8"))

    report_written = False
    report_error = None
    if study.output is None or study.output.report:
        try:
            from .report import render_report  # type: ignore[attr-defined]

            render_report(out_dir, study)
            report_written = (out_dir / "report.html").exists()
        except ImportError:
            report_error = "vccscale.report is not available"
        except Exception as exc:  # noqa: BLE001 - the analysis results stay usable without the report
            report_error = f"{type(exc).__name__}: {exc}"
        say("report: " + ("written" if report_written else f"not written ({report_error})"))

    import importlib.metadata as md

    from . import __version__

    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    seeds = {"study": study.seed, "efa_split": ctx.seed, "parallel_analysis": ctx.seed,
             "htmt_bootstrap": ctx.seed,
             "hypotheses_bootstrap": (study.models.bootstrap_seed if study.models and
                                      study.models.bootstrap_seed is not None else study.seed),
             "power": (study.power.seed if study.power and study.power.seed is not None else study.seed)}
    manifest = {
        "vccscale": __version__, "python": platform.python_version(), "packages": packages,
        "platform": platform.platform(), "study_file": study.path.name,
        "study_hash": _sha256(study.path), "inputs": dict(sorted(inputs.items())), "seeds": seeds,
        "started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_seconds": round(time.time() - t0, 3),
        "stages": [{"stage": s, "status": r["status"], "inputs_hash": r["inputs_hash"],
                    "outputs": r.get("outputs", [])} for s, r in all_records.items()],
        "report": {"written": report_written, "error": report_error},
    }
    _write_json(out_dir / "manifest.json", manifest, ctx.digits)
    return RunResult(out_dir, records, manifest, report_written)


# ---------------------------------------------------------------------------------------------------- init
_STUDY_TEMPLATE = """\
# vccscale study file: one YAML document drives every stage of `vccscale run study.yaml`.
# Relative paths are relative to this file. Unknown keys are errors (the message names the field).

study:
  id: {id}                      # letters, digits, _ and -; names the output folder
  title: {title}
  seed: {seed}                  # master seed: EFA split, parallel analysis, bootstrap, power

# What the instrument measures (vccscale instrument build study.yaml --out build/)
instrument:
  families: [A]                 # and/or constructs: [a_drv_*, x_vcc_customer]
  versions: [provider, customer]
  blocks: [consent, respondent, attention, marker, firmographics]

# The responses: a Qualtrics export and the codebook written by `vccscale instrument build`
data:
  export: data/export.csv       # csv, tsv, sav or zip
  codebook: build/codebook.json
  identifiers: drop             # drop | hash | keep (IP address, names, e-mail, location)

# Screening rules (each can be turned off with enabled: false); defaults are documented in the manual
cleaning:
  speeders: {{fraction_of_median: 0.3}}
  attention: {{max_failed: 0}}
  missing_data: fiml            # listwise | fiml | mice

# Psychometric validation
validation:
  constructs: []                # empty = every reflective construct of the codebook; or ids / patterns
  efa_half: true                # EFA on a random half, CFA on the other half (split seeded by study.seed)
  estimator: ML                 # ML | MLR
  invariance: true              # across perspectives (provider / customer) when the data hold several

# Hypothesis tests
models:
  hypotheses: [A]               # ids (H1), family letters (A) or all
  adjust: holm                  # holm | bh | none
  alpha: 0.05

# Monte Carlo power (optional)
power:
  enabled: false
  # model: power_model.lavaan   # population model in lavaan syntax
  # n: [100, 200, 400]
  # reps: 200
  # targets: ["y~x"]

# Output folder (default: output/<study id> next to this file)
output:
  figures: [png, svg]
"""

_README_TEMPLATE = """\
# {title}

A vccscale study. Steps:

1. Edit `study.yaml`: choose the constructs (`instrument:`), hypotheses (`models:`) and settings.
2. Build the instrument: `vccscale instrument build study.yaml --out build` and import `build/survey.qsf`
   into Qualtrics.
3. Export the responses from Qualtrics (CSV, numeric values) into `data/export.csv`.
4. Run everything: `vccscale run study.yaml` (results in `output/{id}/`, open `report.html`).
   `--only STAGE` reruns one stage, `--from STAGE` reruns from a stage onward; unchanged stages are cached.
   Stages: {stages}.
"""


def init_study(name: str, parent_dir: str | Path = ".") -> Path:
    """Scaffold NAME/ with study.yaml (commented), README.md and an empty data/ folder; refuses to overwrite.
    Returns the study folder."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
        raise StudyError(f"study name {name!r}: use letters, digits, _ and -, starting with a letter", field="name")
    d = Path(parent_dir) / name
    if d.exists():
        raise StudyError("already exists; choose another name or remove it first", file=d)
    (d / "data").mkdir(parents=True)
    (d / "data" / ".gitkeep").write_text("", encoding="utf-8")
    title = name.replace("_", " ").replace("-", " ").capitalize()
    (d / "study.yaml").write_text(_STUDY_TEMPLATE.format(id=name, title=title, seed=20260101), encoding="utf-8")
    (d / "README.md").write_text(_README_TEMPLATE.format(title=title, id=name, stages=", ".join(STAGES)),
                                 encoding="utf-8")
    return d
