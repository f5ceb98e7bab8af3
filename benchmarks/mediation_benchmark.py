"""Benchmark: 5,000-draw bootstrap mediation, vccscale vs lavaan 0.6-14 (n = 300).

    python benchmarks/mediation_benchmark.py [--draws 5000] [--n-jobs 2] [--r-json FILE | --no-r]

Composite (observed) simple mediation: vccscale.models.mediate (vectorised, no refit loop) vs
``sem(..., se = "bootstrap")``. Latent mediation (3 factors x 3 indicators): mediate_latent (joblib refits,
warm-started) vs lavaan's bootstrap. lavaan times come from benchmarks/mediation_benchmark.R (run here with
Rscript unless --r-json gives its saved output or --no-r skips it). Data: tests/reference/models.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vccscale.models import mediate, mediate_latent  # noqa: E402

REF = ROOT / "tests" / "reference" / "models"
MEAS = {"X": ["x1", "x2", "x3"], "M": ["m1", "m2", "m3"], "Y": ["y1", "y2", "y3"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=5000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--r-json")
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    d = pd.read_csv(REF / "mediation_data.csv")
    lat = pd.read_csv(REF / "latent_data.csv")

    mediate(d, "x", "m1", "y", n_boot=10, seed=1, n_mc=0)  # warm-up imports
    t0 = time.perf_counter()
    r1 = mediate(d, "x", "m1", "y", n_boot=args.draws, seed=1, n_mc=0)
    t_comp = time.perf_counter() - t0
    t0 = time.perf_counter()
    r2 = mediate_latent(lat, MEAS, "X", "M", "Y", n_boot=args.draws, seed=1, n_mc=0, n_jobs=args.n_jobs,
                        compare_full=False)
    t_lat = time.perf_counter() - t0

    rt = None
    if args.r_json:
        rt = json.loads(Path(args.r_json).read_text())
    elif not args.no_r:
        out = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "mediation_benchmark.R"), str(args.draws)],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        rt = json.loads(out.stdout.strip().splitlines()[-1])

    rows = [("composite simple mediation", t_comp, r1.bootstrap, rt and rt["composite"]),
            ("latent mediation (3x3)", t_lat, r2.bootstrap, rt and rt["latent"])]
    print(f"bootstrap draws: {args.draws}, n = {len(d)}, n_jobs (latent) = {args.n_jobs}")
    print(f"{'model':30s} {'vccscale s':>11s} {'failed':>7s} {'lavaan s':>9s} {'speed-up':>9s}")
    for name, t, b, tr in rows:
        su = f"{tr / t:9.1f}" if tr else f"{'-':>9s}"
        trs = f"{tr:9.2f}" if tr else f"{'-':>9s}"
        print(f"{name:30s} {t:11.2f} {b['failed']:7d} {trs} {su}")


if __name__ == "__main__":
    main()
