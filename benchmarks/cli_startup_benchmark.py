"""A whole `vccscale cfa` process beside a whole `Rscript` lavaan process (run on demand:
python benchmarks/cli_startup_benchmark.py [--out FILE.json]).

What a researcher waits for when they type one command: interpreter start, imports, reading the CSV, the fit, the
JSON on stdout. Each command runs 1 + 5 times (the first is a warm-up for the file cache); the median wall time
of the 5 is reported, with the user + system CPU time of the child. lavaan: `Rscript -e` with library(lavaan),
read.csv, cfa() and fitMeasures() printed as JSON-like text (the same work). Models: HS1939's three-factor CFA
(n = 301) and the 30-item six-factor CFA (n = 1000, tests/reference/validate/cfa30_n1000.csv). Also the import
time of `vccscale` alone and `vccscale --help`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VAL = REPO / "tests" / "reference" / "validate"
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
CFA30 = "\n".join(f"f{k + 1} =~ " + " + ".join(f"y{5 * k + j}" for j in range(1, 6)) for k in range(6)) + "\n"


def run(cmd: list[str], n: int = 5) -> dict:
    walls, cpus = [], []
    for i in range(n + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            walls.append(wall)
            cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return {"wall_median": round(statistics.median(walls), 3), "cpu_median": round(statistics.median(cpus), 3),
            "runs": [round(w, 3) for w in walls]}


def r_code(csv: Path, model: str) -> str:
    return ("suppressPackageStartupMessages(library(lavaan)); d <- read.csv('%s'); "
            "fit <- cfa('%s', data = d); cat(format(fitMeasures(fit)))" % (csv, model.replace("\n", "; ")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    exe = [sys.executable, "-m", "vccscale"]
    out: dict = {"python": sys.version.split()[0], "cores": os.cpu_count(), "protocol": "median of 5 whole-process "
                 "runs after one warm-up; CPU = user + system of the child"}
    with tempfile.TemporaryDirectory() as tmp:
        cases = {}
        for name, csv, model in (("hs1939", VAL / "HolzingerSwineford1939.csv", HS),
                                 ("cfa30_n1000", VAL / "cfa30_n1000.csv", CFA30)):
            mfile = Path(tmp) / f"{name}.lavaan"
            mfile.write_text(model)
            row = {"vccscale": run(exe + ["cfa", str(csv), "--model", str(mfile), "--format", "json"])}
            if shutil.which("Rscript"):
                row["lavaan_rscript"] = run(["Rscript", "-e", r_code(csv, model)])
                row["ratio_wall"] = round(row["vccscale"]["wall_median"] / row["lavaan_rscript"]["wall_median"], 2)
            cases[name] = row
        out["cfa"] = cases
        out["import_vccscale"] = run([sys.executable, "-c", "import vccscale"])
        out["help"] = run(exe + ["--help"])
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
