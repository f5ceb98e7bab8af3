"""Timings of the CFA engine beside lavaan (run on demand: python benchmarks/validate_benchmark.py).

Fits, each timed as the median of 5 runs after one warm-up (same protocol as benchmarks/lavaan_timings.R,
whose results are in benchmarks/lavaan_timings.json): the Holzinger-Swineford 3-factor CFA (ML), the
4-model invariance sequence by school, and a 30-item 6-factor CFA on n = 1000 (the same simulated data lavaan
fitted, tests/reference/validate/cfa30_n1000.csv).
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
REF = REPO / "tests" / "reference" / "validate"


def timed(fn, reps: int = 5) -> float:
    fn()
    runs = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    from vccscale.sem import fit_cfa
    from vccscale.validate.invariance import invariance

    hs = pd.read_csv(REF / "HolzingerSwineford1939.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    lav = json.loads((REPO / "benchmarks" / "lavaan_timings.json").read_text())
    cfa30 = pd.read_csv(REF / "cfa30_n1000.csv")
    m30 = lav["cfa30_model"]
    rows = [("HS1939 CFA (ML)", timed(lambda: fit_cfa(hs, model)), lav["timings"]["hs_cfa"]["median"]),
            ("HS1939 invariance (4 models)", timed(lambda: invariance(hs, model, "school")),
             lav["timings"]["hs_invariance"]["median"]),
            ("30-item 6-factor CFA, n = 1000", timed(lambda: fit_cfa(cfa30, m30)),
             lav["timings"]["cfa30_n1000"]["median"])]
    print(f"{'task':34s} {'vccscale (s)':>12s} {'lavaan (s)':>11s}")
    for name, ours, theirs in rows:
        print(f"{name:34s} {ours:12.3f} {theirs:11.3f}")


if __name__ == "__main__":
    main()
