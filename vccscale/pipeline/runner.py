"""The loop of ``vccscale run``: checks, caching, stage records, report and manifest (see :mod:`vccscale.pipeline`)."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import OutputError, StudyError, VccscaleError
from . import STAGES
from ..jsonsafe import jsonable
from .context import Skip, StageContext, write_json

# stage -> (study sections hashed, upstream stages)
_DEPENDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "import": (("data",), ()),
    "clean": (("cleaning",), ("import",)),
    "items": (("validation", "items"), ("clean",)),
    "efa": (("validation", "efa", "cfa", "seed"), ("clean",)),
    "cfa": (("validation", "efa", "cfa", "seed", "nesting", "multilevel"), ("clean",)),
    "reliability": (("validation", "reliability"), ("clean", "cfa")),
    "validity": (("validation", "validity", "cfa", "seed"), ("clean", "cfa")),
    "invariance": (("validation", "invariance", "cfa", "nesting", "multilevel"), ("clean",)),
    "hypotheses": (("models", "seed", "nesting", "multilevel"), ("clean", "cfa")),
    "rsa": (("models", "rsa"), ("clean",)),
    "multilevel": (("validation", "multilevel"), ("clean",)),
    "power": (("power", "seed"), ()),
}
_CACHE_VERSION = 3
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


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
                          ).hexdigest()


def _registry_hash(registry: Any) -> str:
    """sha256 over the registry's files (constructs, items, hypotheses, seeds), so that a changed registry reruns
    every stage that reads it."""
    root = Path(getattr(registry, "root", "") or "")
    h = hashlib.sha256()
    if root.is_dir():
        for p in sorted(root.rglob("*.yaml")):
            h.update(p.relative_to(root).as_posix().encode("utf-8"))
            h.update(_sha256(p).encode("ascii"))
    return h.hexdigest()


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
    if study.cfa is not None:
        for name, pats in study.cfa.groups.items():
            for k, pat in enumerate(pats):
                if not registry.expand(pat):
                    raise StudyError(f"unknown construct {pat!r}; allowed: {known}", file=f,
                                     field=f"cfa.groups.{name}.{k}")
    if study.rsa is not None and isinstance(study.rsa.hypotheses, list):
        for k, h in enumerate(study.rsa.hypotheses):
            if h not in registry.hypotheses:
                raise StudyError(f"unknown hypothesis {h!r}; allowed: hypothesis ids of the registry", file=f,
                                 field=f"rsa.hypotheses.{k}")
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


# files of the output folder a run writes (besides stages/, tables/, figures/, .cache/): data/<name>.json results
_RESULT_JSON = frozenset(STAGES) | {"measurement", "sample", "common_method"}


def _written_by_run(rel: Path) -> bool:
    """Whether a run writes the file at ``rel`` (relative to the output folder)."""
    parts = rel.parts
    if not parts:
        return True
    if parts[0] in ("stages", "tables", "figures", ".cache") or rel.as_posix() in ("report.html", "manifest.json"):
        return True
    if parts[0] == "data" and len(parts) == 2:
        name = parts[1]
        return name.endswith((".parquet", ".parquet.meta.json")) or (name.endswith(".json")
                                                                      and name[:-5] in _RESULT_JSON)
    return False


def _check_out_dir(study: Any, out_dir: Path, option: str) -> None:
    """Refuse an output folder that is a file or would overwrite an input (study file, export, codebook, power
    model), before anything is written."""
    f = study.path
    if out_dir.exists() and not out_dir.is_dir():
        if option == "output.dir":
            raise StudyError(f"the output folder {out_dir} is a file, not a folder", file=f, field="output.dir")
        raise OutputError(f"{option} {out_dir} is a file, not a folder")
    inputs = [f, study.resolve(study.data.export), study.resolve(study.data.codebook)]
    if study.power is not None and study.power.enabled:
        inputs.append(study.resolve(study.power.model))
    root = out_dir.resolve()
    for i in inputs:
        try:
            rel = Path(i).resolve().relative_to(root)
        except ValueError:
            continue
        if _written_by_run(rel):
            raise OutputError(f"{option} {out_dir} would overwrite the input {i} (a run writes {rel.as_posix()} "
                              "there): choose another output folder")


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
    """Run the study's stages into its output folder (see :mod:`vccscale.pipeline`); returns a :class:`RunResult`.

    Raises :class:`StudyError` before any file is written when the study file is invalid (schema, unknown
    construct or hypothesis, missing data file, unknown stage name, an output.dir that is a file), and
    :class:`OutputError` when the output folder would overwrite an input. An output folder outside the study
    folder is said on stderr and recorded in the manifest (``output.outside_study_folder``)."""
    import numpy  # noqa: F401 - load BLAS before limiting its threads (threadpoolctl acts on loaded libraries)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    from ..study import load_study

    t0 = time.time()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    study = load_study(study_path)
    if registry is None:
        from ..registry import load_registry

        registry = load_registry()
    _check_study(study, registry, only, from_stage)

    out_dir = _out_dir(study, out)
    _check_out_dir(study, out_dir, "--out" if out is not None else (
        "output.dir" if study.output is not None and study.output.dir else "the default output folder"))
    base = study.path.resolve().parent
    outside = not out_dir.resolve().is_relative_to(base)
    if outside:  # said even without progress: results land somewhere the study folder does not show
        print(f"warning: the output folder {out_dir} is outside the study folder {base}", file=sys.stderr,
              flush=True)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("stages", "tables", "figures", "data", ".cache"):
            (out_dir / sub).mkdir(exist_ok=True)
    except OSError as exc:
        why = "a file is in the way" if isinstance(exc, (FileExistsError, NotADirectoryError)) else exc.strerror
        raise OutputError(f"cannot create the output folder {out_dir}: {why or exc}") from None
    ctx = StageContext(study, registry, out_dir, progress=progress)
    say = _Progress(progress)

    def rel(p: Path) -> str:
        return os.path.relpath(p.resolve(), base).replace(os.sep, "/")

    data_inputs = {rel(p): _sha256(p) for p in (study.resolve(study.data.export), study.resolve(study.data.codebook))}
    power_inputs = ({rel(study.resolve(study.power.model)): _sha256(study.resolve(study.power.model))}
                    if study.power is not None and study.power.enabled else {})
    inputs = {**data_inputs, **power_inputs}

    from .. import __version__

    reg_hash = _registry_hash(registry)
    hashes: dict[str, str] = {}
    for stage in STAGES:
        sections, upstream = _DEPENDS[stage]
        key = {"stage": stage, "cache_version": _CACHE_VERSION, "vccscale": __version__, "registry": reg_hash,
               "sections": {s: _section_value(study, s) for s in sections + ("cleaning",)},
               "output": _section_value(study, "output"),
               "upstream": {u: hashes[u] for u in upstream},
               "inputs": data_inputs if stage == "import" else (power_inputs if stage == "power" else {})}
        hashes[stage] = _hash(key)

    to_run = [only] if only is not None else list(STAGES)
    forced = {only} if only else (set(STAGES[STAGES.index(from_stage):]) if from_stage else set())

    from .stages import RUNNERS

    records: dict[str, StageRecord] = {}
    with threadpool_limits(1):  # small matrices: one BLAS thread is many times faster than several
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
                    write_json(out_dir / "stages" / f"{stage}.json", rec.to_dict(), ctx.digits)
                    say(f"{label}: unchanged (cached)")
                    continue
            say(f"{label} ...")
            ts = time.time()
            try:
                summary, outputs, notes = RUNNERS[stage](ctx)
                status = "ok"
            except Skip as sk:
                status, summary, outputs, notes = "skipped", {}, [], [sk.reason]
            except StudyError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failing stage is recorded, later stages still run
                status, summary, outputs = "failed", {}, []
                notes = [_failure_note(stage, exc)]
                if not isinstance(exc, VccscaleError):
                    notes.append(traceback.format_exc(limit=3).strip().splitlines()[-1])
            rec = StageRecord(stage, status, h, time.time() - ts, jsonable(summary, ctx.digits), list(notes),
                              sorted(outputs))
            records[stage] = rec
            write_json(out_dir / "stages" / f"{stage}.json", rec.to_dict(), ctx.digits)
            if status == "failed":
                cache_file.unlink(missing_ok=True)
            else:
                write_json(cache_file, {"hash": h, "status": status, "outputs": rec.outputs, "summary": rec.summary,
                                        "notes": rec.notes}, ctx.digits)
            say(f"{label}: {status} ({rec.seconds:.1f} s)" + (f": {notes[0]}" if status != "ok" and notes else ""))

    # stages not run this time (--only): take their record from the stage files
    all_records: dict[str, dict] = {}
    for stage in STAGES:
        p = out_dir / "stages" / f"{stage}.json"
        if p.exists():
            all_records[stage] = json.loads(p.read_text(encoding="utf-8"))

    import importlib.metadata as md

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
        "platform": platform.platform(), "study_file": study.path.name, "study_id": study.study.id,
        "study_title": study.study.title, "study_description": study.study.description,
        "study_hash": _sha256(study.path), "registry_hash": reg_hash, "inputs": dict(sorted(inputs.items())),
        "seeds": seeds, "started": started,
        # where the results are is not recorded (the manifest is in the folder), only whether it is the study's
        "output": {"outside_study_folder": outside},
        "stages": [{"stage": s, "status": r["status"], "inputs_hash": r["inputs_hash"],
                    "outputs": r.get("outputs", [])} for s, r in all_records.items()],
    }
    # the manifest is written before the report, which shows it; the finish time and the report's own status are
    # added after
    manifest.update(finished=datetime.now(UTC).isoformat(timespec="seconds"), run_seconds=round(time.time() - t0, 3),
                    report={"written": False, "error": None})
    write_json(out_dir / "manifest.json", manifest, ctx.digits)
    report_written = False
    report_error = None
    if study.output is None or study.output.report:
        try:
            from ..report import render_report

            with threadpool_limits(1):
                render_report(out_dir, study, registry=registry, results=ctx.results)
            report_written = (out_dir / "report.html").exists()
        except Exception as exc:  # noqa: BLE001 - the analysis results stay usable without the report
            report_error = f"{type(exc).__name__}: {exc}"
        say("report: " + ("written" if report_written else f"not written ({report_error})"))
    manifest["report"] = {"written": report_written, "error": report_error}
    write_json(out_dir / "manifest.json", manifest, ctx.digits)
    return RunResult(out_dir, records, manifest, report_written)


_FIXES = {
    "import": "check data.export and data.codebook (vccscale import EXPORT --describe shows what was read)",
    "clean": "check the cleaning: section (each rule can be switched off with enabled: false)",
    "efa": "set efa.scope: groups, lower efa.min_cases_per_item, or switch the stage off (efa.enabled: false)",
    "cfa": "set cfa.scope: construct, or validate fewer constructs (validation.constructs)",
    "invariance": "set invariance.scope: construct, or switch the stage off (invariance.enabled: false)",
    "hypotheses": "choose fewer hypotheses (models.hypotheses) or switch the stage off (models.enabled: false)",
    "rsa": "switch the stage off (rsa.enabled: false) or name the hypotheses (rsa.hypotheses)",
    "multilevel": "check multilevel.group_column, or switch the stage off (multilevel.enabled: false)",
    "power": "check power.model and power.targets",
}


def _failure_note(stage: str, exc: Exception) -> str:
    msg = exc.message if isinstance(exc, VccscaleError) else f"{type(exc).__name__}: {exc}"
    fix = _FIXES.get(stage)
    return msg + (f". What to do: {fix}" if fix and "What to do" not in msg else "")
