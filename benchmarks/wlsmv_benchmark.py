"""WLSMV with ordered indicators beside lavaan (run on demand: python benchmarks/wlsmv_benchmark.py).

Each fit timed as the median of 5 runs after one warm-up, in one process; lavaan's time is measured by Rscript in
the same run when R and lavaan are installed (the same protocol: 5 fits after a warm-up), else the value recorded
by tests/reference/ordinal_sem/wlsmv_reference.R is shown. Data: psych::bfi A1-A5, C1-C5, complete cases
(n = 2632), the two-factor CFA; single group and the three-level ordinal invariance sequence by gender.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
from validate_benchmark import timed   # the one timing protocol: median of 5 after a warm-up (script directory)

REPO = Path(__file__).resolve().parents[1]
REF = REPO / "tests" / "reference" / "ordinal_sem"
MODEL = "A =~ A1 + A2 + A3 + A4 + A5\nC =~ C1 + C2 + C3 + C4 + C5"

R_CODE = r"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("%s")
m <- "A =~ A1 + A2 + A3 + A4 + A5\nC =~ C1 + C2 + C3 + C4 + C5"
one <- function() cfa(m, data = d, ordered = TRUE, estimator = "WLSMV")
inv <- function() for (ge in list("none", "thresholds", c("thresholds", "loadings")))
  cfa(m, data = d, ordered = TRUE, estimator = "WLSMV", group = "gender", group.equal = ge)
med <- function(f) { f(); median(sapply(1:5, function(i) system.time(f())[["elapsed"]])) }
cat(sprintf("%%.4f %%.4f\n", med(one), med(inv)))
"""


def main() -> None:
    from vccscale.sem.wlsmv import fit_ordinal
    from vccscale.validate.invariance import ordinal_invariance

    d = pd.read_csv(REF / "bfi_ac.csv")
    ours = {"cfa": timed(lambda: fit_ordinal(d, MODEL)),
            "invariance": timed(lambda: ordinal_invariance(d, MODEL, "gender"))}
    lav = {"cfa": json.loads((REF / "wlsmv_reference.json").read_text())["seconds_per_fit"], "invariance": None}
    source = "recorded by wlsmv_reference.R"
    if shutil.which("Rscript"):
        r = subprocess.run(["Rscript", "-e", R_CODE % (REF / "bfi_ac.csv").as_posix()], capture_output=True,
                           text=True, check=False)
        if r.returncode == 0 and r.stdout.split():
            a, b = (float(x) for x in r.stdout.split()[:2])
            lav = {"cfa": a, "invariance": b}
            source = "Rscript, this run"
    print(f"WLSMV on bfi (n = 2632, 10 items, 2 factors); lavaan: {source}")
    for k in ("cfa", "invariance"):
        lv = lav[k]
        ratio = f"{lv / ours[k]:.1f}x" if lv else "-"
        print(f"  {k:11s} vccscale {ours[k]:.3f} s   lavaan {lv if lv is None else f'{lv:.3f} s'}   ({ratio})")


if __name__ == "__main__":
    main()
