"""Benchmark: 500 replications of a 3-factor SEM at 4 sample sizes, joblib (2 processes) vs a 2-worker local
Dask cluster. Run: python tests/reference/power/power_benchmark.py  (meant for benchmarks/power_benchmark.py)."""
from __future__ import annotations

import json
import time

MODEL = """f1 =~ 0.7*x1 + 0.7*x2 + 0.7*x3
f2 =~ 0.7*x4 + 0.7*x5 + 0.7*x6
f3 =~ 0.7*x7 + 0.7*x8 + 0.7*x9
f2 ~ 0.3*f1
f3 ~ 0.3*f2 + 0.2*f1"""
KW = {"targets": ["f3~f2", "f2~f1"], "n": [100, 200, 300, 400], "reps": 500, "seed": 1, "progress": False}


def main() -> None:
    from vccscale.simulate import power

    out = {}
    t = time.perf_counter()
    rj = power(MODEL, backend="joblib", n_jobs=2, **KW)
    out["joblib_2_cores_s"] = round(time.perf_counter() - t, 1)
    from dask.distributed import Client, LocalCluster

    t = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        rd = power(MODEL, backend="dask", scheduler=client, **KW)
    out["dask_2_workers_s"] = round(time.perf_counter() - t, 1)
    out["identical_results"] = bool(rj.table.equals(rd.table))
    print(rj.summary())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
