"""Issue 20's speed goals in one run, each beside its reference (run on demand, not part of the tests):

    python benchmarks/goals.py                      # everything (about 4-5 minutes on 2 cores)
    python benchmarks/goals.py --skip family bootstrap --import-rows 20000 --out goals.json

Goals and how each is measured (whole processes are timed from outside, CPU = user + system of the process and
of the worker processes it waited for):

1. startup: `vccscale cfa FILE --model M --format json` beside `Rscript -e` with lavaan doing the same (read.csv,
   cfa, fitMeasures), HS1939 and a 30-item six-factor CFA (n = 1000); median wall time of 5 after a warm-up, the
   two commands run in turn (benchmarks/cli_startup_benchmark.py measures more commands). Goal: ratio <= 1.
2. in_process: CFA, the four-model invariance sequence and the 30-item CFA in this process (median of 5 after a
   warm-up) beside lavaan's timings of the same fits in R (benchmarks/lavaan_timings.R, re-run here when Rscript
   is available, else its recorded benchmarks/lavaan_timings.json). Goal: lavaan / vccscale >= 2.
3. example: `vccscale run analysis/example_study.yaml` into a temporary folder, three times; the median CPU (and
   each run's). Goal: CPU <= 15 s.
4. family: a family A study of 600 respondents (`vccscale init`, `instrument build`, `simulate --study --n 600
   --seed 1`, `run`): the run's CPU. Goal: <= 60 s.
5. import: `vccscale import export.csv --out x.parquet` beside `python -c "pandas.read_csv(...).to_parquet(...)"`
   on a generated 3-header-row export of --import-rows x 300 (benchmarks/import_benchmark.py writes it), three
   times each, interleaved (median wall time, largest peak). The command streams an export of 32 MB or more
   (vccscale.io.stream); smaller ones are read in memory. Goals: wall ratio <= 1.3, peak resident memory <= 2 x
   the file.
6. bootstrap: 1,000 FIML bootstrap draws on 1 and 2 joblib workers and a 2-worker dask cluster
   (benchmarks/bootstrap_benchmark.py). Goal: uses every core (speed-up reported).

vccscale's modules are byte-compiled first (``compileall`` into the git-ignored __pycache__ folders), as an installed
package is (pip compiles on install; Python writes them on the first import): on a machine that sets
PYTHONDONTWRITEBYTECODE every process would otherwise compile the sources again (measured: about 0.4 CPU-s for the
main process and each worker of the example study, 1.1 CPU-s in all). ``--source`` measures without them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
VAL = REPO / "tests" / "reference" / "validate"
sys.path.insert(0, str(BENCH))

#: runs a command and prints its wall seconds, CPU seconds (user + system of it and of the processes it waited for)
#: and peak resident memory (KB; the largest of the command and its children)
_MEASURE = r"""
import resource, subprocess, sys, time, json
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall": wall, "cpu": r.ru_utime + r.ru_stime, "peak_kb": r.ru_maxrss}))
"""


_R_TIMINGS = r"""
suppressPackageStartupMessages(library(lavaan))
t5 <- function(f) { f(); median(vapply(1:5, function(i) system.time(f())[["elapsed"]], numeric(1))) }
HS <- HolzingerSwineford1939
m <- 'visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9'
d30 <- read.csv('%s')
m30 <- '%s'
inv <- function() { f1 <- cfa(m, HS, group = 'school'); f2 <- cfa(m, HS, group = 'school', group.equal = 'loadings')
  f3 <- cfa(m, HS, group = 'school', group.equal = c('loadings', 'intercepts'))
  f4 <- cfa(m, HS, group = 'school', group.equal = c('loadings', 'intercepts', 'residuals'))
  lavTestLRT(f1, f2, f3, f4) }
cat(sprintf('hs_cfa=%%.4f hs_invariance=%%.4f cfa30_n1000=%%.4f\n', t5(function() cfa(m, HS)), t5(inv),
            t5(function() cfa(m30, d30))))
"""


def measure(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, cwd=cwd,
                         env=env, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise SystemExit(f"failed ({res['rc']}): {' '.join(cmd)}")
    return res


def median_of(cmd: list[str], n: int = 3) -> dict:
    measure(cmd)  # warm-up (file cache, byte-compiled modules)
    runs = [measure(cmd) for _ in range(n)]
    return {"wall": statistics.median(r["wall"] for r in runs), "cpu": statistics.median(r["cpu"] for r in runs)}


def medians_interleaved(cmds: list[list[str]], n: int = 5) -> list[dict]:
    """``median_of`` for several commands run in turn (a, b, a, b, ...) after one warm-up each, so that a change in
    the machine's speed during the measurement falls on all of them alike."""
    for cmd in cmds:
        measure(cmd)
    runs: list[list[dict]] = [[] for _ in cmds]
    for _ in range(n):
        for k, cmd in enumerate(cmds):
            runs[k].append(measure(cmd))
    return [{"wall": statistics.median(r["wall"] for r in rs), "cpu": statistics.median(r["cpu"] for r in rs)}
            for rs in runs]


def startup() -> list[dict]:
    from cli_startup_benchmark import CFA30, HS, r_code

    rows = []
    exe = [sys.executable, "-m", "vccscale"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, csv, model in (("HS1939 CFA", VAL / "HolzingerSwineford1939.csv", HS),
                                 ("30-item CFA, n = 1000", VAL / "cfa30_n1000.csv", CFA30)):
            mfile = Path(tmp) / "m.lavaan"
            mfile.write_text(model)
            cmds = [exe + ["cfa", str(csv), "--model", str(mfile), "--format", "json"]]
            if shutil.which("Rscript"):
                cmds.append(["Rscript", "-e", r_code(csv, model)])
            ours, ref = (medians_interleaved(cmds) + [None])[:2]
            rows.append(_row("startup", f"`vccscale cfa` whole process, {name} (wall s)", ours["wall"],
                             ref and ref["wall"], "Rscript + lavaan", "ratio <= 1",
                             None if ref is None else ours["wall"] / ref["wall"] <= 1))
    return rows


def in_process() -> list[dict]:
    from validate_benchmark import timed

    import pandas as pd

    from vccscale.sem import fit_cfa
    from vccscale.validate.invariance import invariance

    lav = json.loads((BENCH / "lavaan_timings.json").read_text())
    if shutil.which("Rscript"):  # the same protocol as lavaan_timings.R, now, on this machine (nothing written)
        out = subprocess.run(["Rscript", "-e", _R_TIMINGS % (VAL / "cfa30_n1000.csv", lav["cfa30_model"])],
                             capture_output=True, text=True, check=True)
        lav["timings"] = {k: {"median": float(v)} for k, v in
                          (line.split("=") for line in out.stdout.split() if "=" in line)}
    hs = pd.read_csv(VAL / "HolzingerSwineford1939.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    cfa30 = pd.read_csv(VAL / "cfa30_n1000.csv")
    rows = []
    for name, fn, key in (("HS1939 CFA", lambda: fit_cfa(hs, model), "hs_cfa"),
                          ("HS1939 invariance, 4 models", lambda: invariance(hs, model, "school"), "hs_invariance"),
                          ("30-item CFA, n = 1000", lambda: fit_cfa(cfa30, lav["cfa30_model"]), "cfa30_n1000")):
        ours, ref = timed(fn), lav["timings"][key]["median"]
        rows.append(_row("in_process", f"{name} in process (s)", ours, ref, "lavaan in R", "lavaan / ours >= 2",
                         ref / ours >= 2))
    return rows


def example(runs: int = 3) -> list[dict]:
    """The example study ``runs`` times (each into a fresh folder, so no stage is cached): the median CPU, and
    every run's (the CPU time of the same work on this machine varies by 10-40% from run to run)."""
    res = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            res.append(measure([sys.executable, "-m", "vccscale", "run", str(REPO / "analysis" / "example_study.yaml"),
                                "--out", str(Path(tmp) / "out")]))
    cpu = statistics.median(r["cpu"] for r in res)
    row = _row("example", f"shipped example study end to end (CPU s, median of {runs})", cpu, None, "",
               "<= 15 CPU s", cpu <= 15, wall=statistics.median(r["wall"] for r in res))
    row["runs_cpu"] = [round(r["cpu"], 2) for r in res]
    return [row]


def family() -> list[dict]:
    exe = [sys.executable, "-m", "vccscale"]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "study_a"
        subprocess.run(exe + ["init", "study_a"], cwd=tmp, check=True, capture_output=True)
        subprocess.run(exe + ["instrument", "build", "study.yaml", "--out", "build"], cwd=d, check=True,
                       capture_output=True)
        subprocess.run(exe + ["simulate", "--study", "study.yaml", "--n", "600", "--seed", "1", "--out",
                              "data/export.csv"], cwd=d, check=True, capture_output=True)
        r = measure(exe + ["run", "study.yaml"], cwd=d)
    return [_row("family", "family A study, n = 600, `vccscale run` (CPU s)", r["cpu"], None, "", "<= 60 CPU s",
                 r["cpu"] <= 60, wall=r["wall"])]


def importing(rows_n: int, runs: int = 3) -> list[dict]:
    """`vccscale import` (which streams an export of this size: vccscale.io.stream) beside pandas, interleaved,
    ``runs`` times each: the median wall time and the largest peak memory of the runs."""
    from import_benchmark import make_export

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        make_export(path, rows_n, 300)
        size_kb = path.stat().st_size / 1024
        pd_code = ("import pandas as pd, sys; pd.read_csv(sys.argv[1], skiprows=[1, 2], low_memory=False)"
                   ".to_parquet(sys.argv[2])")
        ours, ref = [], []
        for _ in range(runs):
            ours.append(measure([sys.executable, "-m", "vccscale", "import", str(path), "--out",
                                 str(Path(tmp) / "v.parquet")]))
            ref.append(measure([sys.executable, "-c", pd_code, str(path), str(Path(tmp) / "p.parquet")]))
    wall = statistics.median(r["wall"] for r in ours)
    ref_wall = statistics.median(r["wall"] for r in ref)
    peak = max(r["peak_kb"] for r in ours) / 1024
    ref_peak = max(r["peak_kb"] for r in ref) / 1024
    label = f"{rows_n:,} x 300 export ({size_kb / 1024:.0f} MB)"
    return [_row("import", f"import {label}, whole process (wall s, median of {runs})", wall, ref_wall,
                 "pandas read_csv + to_parquet", "ratio <= 1.3", wall / ref_wall <= 1.3),
            _row("import", f"import {label}, peak memory (MB, largest of {runs})", peak, ref_peak,
                 "pandas read_csv + to_parquet", f"<= 2 x file ({2 * size_kb / 1024:.0f} MB)",
                 peak <= 2 * size_kb / 1024)]


def bootstrap_scaling() -> list[dict]:
    out = subprocess.run([sys.executable, str(BENCH / "bootstrap_benchmark.py")], capture_output=True, text=True,
                         check=True)
    res = json.loads(out.stdout)
    one = res["runs"][0]["seconds"]
    return [_row("bootstrap", f"{res['draws']:,} FIML bootstrap draws, {r['backend']} x {r['workers']} (wall s)",
                 r["seconds"], one, "one joblib worker", "speed-up with workers", None) for r in res["runs"]]


def _row(goal, what, ours, ref, ref_what, target, met, wall=None) -> dict:
    return {"goal": goal, "what": what, "vccscale": ours, "reference": ref, "reference_is": ref_what,
            "target": target, "met": met, **({"wall": wall} if wall is not None else {})}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip", nargs="*", default=[], choices=["startup", "in_process", "example", "family", "import",
                                                               "bootstrap"])
    ap.add_argument("--import-rows", type=int, default=100_000)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--source", action="store_true", help="measure without byte-compiled modules of vccscale")
    args = ap.parse_args(argv)
    pkg = REPO / "vccscale"
    if args.source:  # and keep every measured process from writing them
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        for d in pkg.rglob("__pycache__"):
            shutil.rmtree(d)
    else:
        import compileall

        compileall.compile_dir(str(pkg), quiet=1)
    steps = [("startup", startup), ("in_process", in_process), ("example", example), ("family", family),
             ("import", lambda: importing(args.import_rows)), ("bootstrap", bootstrap_scaling)]
    rows: list[dict] = []
    for name, fn in steps:
        if name in args.skip:
            continue
        t = time.perf_counter()
        print(f"{name} ...", file=sys.stderr, flush=True)
        rows += fn()
        print(f"{name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    print(f"{'goal':10} {'what':66} {'vccscale':>9} {'reference':>10}  {'target':24} met")
    for r in rows:
        ref = "" if r["reference"] is None else f"{r['reference']:10.3f}"
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        print(f"{r['goal']:10} {r['what'][:66]:66} {r['vccscale']:9.3f} {ref:>10}  {r['target'][:24]:24} {met}")
        if "runs_cpu" in r:
            print(f"{'':10} (each run: {', '.join(f'{c:.2f}' for c in r['runs_cpu'])})")
    if args.out:
        args.out.write_text(json.dumps({"cores": os.cpu_count(), "python": sys.version.split()[0],
                                        "byte_compiled": not args.source, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
