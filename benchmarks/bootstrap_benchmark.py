"""Bootstrap speed-up by workers (run on demand: python benchmarks/bootstrap_benchmark.py [--draws 1000]).

A latent mediation model (three factors of five items, n = 300, 10% of the answers missing, FIML) is
bootstrapped with `vccscale.sem.bootstrap` on 1, 2 and all cores with joblib, and on a local dask.distributed
cluster with the same number of workers when dask is installed. Wall-clock seconds, speed-up against one
worker, and whether the draws are identical to the one-worker draws (they must be: every replicate has its own
seed). ``--alone`` adds the same draws refitted one replicate at a time in this process (the path before
vccscale.sem.batch, still the fallback): its CPU seconds beside the batched refits' and the largest difference of
the draws in units of their bootstrap SD.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

MODEL = """X =~ x1 + x2 + x3 + x4 + x5
M =~ m1 + m2 + m3 + m4 + m5
Y =~ y1 + y2 + y3 + y4 + y5
M ~ a*X
Y ~ b*M + X
ind := a*b"""


def data(n: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(n)
    M = 0.4 * X + np.sqrt(1 - 0.16) * rng.standard_normal(n)
    Y = 0.3 * M + 0.1 * X + 0.9 * rng.standard_normal(n)
    cols = {}
    for name, f in (("x", X), ("m", M), ("y", Y)):
        for j in range(1, 6):
            cols[f"{name}{j}"] = 0.7 * f + 0.7 * rng.standard_normal(n)
    d = pd.DataFrame(cols)
    return d.mask(rng.random(d.shape) < 0.10)


def main() -> None:
    from vccscale.sem import bootstrap, fit_sem

    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--alone", action="store_true", help="also refit each replicate alone (no batches)")
    args = ap.parse_args()
    fit = fit_sem(data(), MODEL, missing="fiml")
    alone = _alone(fit, args.draws) if args.alone else None
    cores = os.cpu_count() or 1
    rows, ref = [], None
    for n_jobs in sorted({1, 2, cores}):
        t = time.perf_counter()
        b = bootstrap(fit, args.draws, seed=1, n_jobs=n_jobs)
        sec = time.perf_counter() - t
        ref = b.draws if ref is None else ref
        rows.append({"backend": "joblib", "workers": n_jobs, "seconds": round(sec, 2),
                     "identical": bool(b.draws.equals(ref))})
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        LocalCluster = None
    if LocalCluster is not None:
        for n_jobs in sorted({2, cores}):
            with LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                    Client(cl) as client:
                t = time.perf_counter()
                b = bootstrap(fit, args.draws, seed=1, backend="dask", scheduler=client)
                sec = time.perf_counter() - t
            rows.append({"backend": "dask", "workers": n_jobs, "seconds": round(sec, 2),
                         "identical": bool(b.draws.equals(ref))})
    base = rows[0]["seconds"]
    for r in rows:
        r["speedup"] = round(base / r["seconds"], 2)
    out = {"draws": args.draws, "cores": cores, "n": 300, "missing": "10% MCAR, FIML", "runs": rows}
    if alone is not None:
        out["batched_vs_alone"] = alone
    print(json.dumps(out, indent=2))


def _alone(fit, draws: int) -> dict:
    """CPU seconds of the draws in this process, batched and one replicate at a time, and their largest
    difference (in bootstrap SDs)."""
    import vccscale.sem.resample as R
    from vccscale.sem import bootstrap

    bootstrap(fit, 50, seed=1)  # (warm-up: imports, LAPACK)
    t = time.process_time()
    batched = bootstrap(fit, draws, seed=1)
    t_batched = time.process_time() - t
    real = R._refit_batched

    def off(*a, **k):
        raise ValueError("batches off")

    R._refit_batched = off
    try:
        t = time.process_time()
        single = bootstrap(fit, draws, seed=1)
        t_alone = time.process_time() - t
    finally:
        R._refit_batched = real
    sd = single.draws.std().to_numpy()
    gap = np.abs(batched.draws.to_numpy() - single.draws.to_numpy()) / np.where(sd > 0, sd, 1.0)
    return {"batched_cpu_s": round(t_batched, 2), "alone_cpu_s": round(t_alone, 2),
            "ratio": round(t_alone / t_batched, 2), "max_gap_in_sd": float(f"{gap.max():.2g}")}


if __name__ == "__main__":
    main()
