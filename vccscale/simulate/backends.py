"""Run a list of independent tasks with joblib (local processes) or on a dask.distributed cluster.

Every task carries its own random seeds, so the results do not depend on the backend, the number of workers or
the order in which tasks finish: results are returned in task order.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from ..errors import VccscaleError

__all__ = ["BACKENDS", "run_tasks"]

BACKENDS = ("joblib", "dask", "serial")


_LAST = [0.0]


def _progress(done: int, total: int, enabled: bool) -> None:
    """One line redrawn on a terminal; elsewhere (a log file, a pipe) a line of its own at most every 3 s and at
    the end, so that a log does not fill with carriage returns."""
    if not enabled:
        return
    if sys.stderr.isatty():
        sys.stderr.write(f"\rpower: {done}/{total} batches")
        if done == total:
            sys.stderr.write("\n")
    else:
        import time

        now = time.monotonic()
        if done == total or done == 1 or now - _LAST[0] >= 3:
            _LAST[0] = now
            sys.stderr.write(f"power: {done}/{total} batches\n")
    sys.stderr.flush()


def run_tasks(func: Callable, tasks: Sequence[tuple], backend: str = "joblib", n_jobs: int = -1,
              scheduler=None, progress: bool = False) -> list:
    """``[func(*t) for t in tasks]`` computed by ``backend``.

    backend "joblib": ``joblib.Parallel(n_jobs)`` (loky processes; ``n_jobs=1`` runs in this process).
    backend "dask": tasks are submitted to a ``dask.distributed.Client``: ``scheduler`` is a Client, a scheduler
    address ("tcp://host:8786"), or None / "local" for a LocalCluster with ``n_jobs`` workers (all cores when
    -1) that is closed afterwards. backend "serial": a plain loop.
    """
    total = len(tasks)
    if backend == "serial" or (backend == "joblib" and n_jobs == 1):
        out = []
        for i, t in enumerate(tasks, 1):
            out.append(func(*t))
            _progress(i, total, progress)
        return out
    if backend == "joblib":
        from joblib import Parallel, delayed

        gen = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(func)(*t) for t in tasks)
        out = []
        for i, r in enumerate(gen, 1):
            out.append(r)
            _progress(i, total, progress)
        return out
    if backend == "dask":
        return _run_dask(func, tasks, n_jobs, scheduler, progress)
    raise VccscaleError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")


def _run_dask(func, tasks, n_jobs, scheduler, progress):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - depends on the environment
        raise VccscaleError('the dask backend needs dask.distributed: pip install "vccscale[dask]" '
                            '(or pip install "dask[distributed]")') from None
    own_client = own_cluster = None
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler is None or scheduler == "local":
        import os

        workers = (os.cpu_count() or 1) if n_jobs in (None, -1) else max(1, int(n_jobs))
        own_cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = own_client = Client(own_cluster)
    else:
        client = own_client = Client(scheduler)
    try:
        futures = [client.submit(func, *t, pure=False) for t in tasks]
        if progress:
            for i, _ in enumerate(as_completed(futures), 1):
                _progress(i, len(futures), True)
        return client.gather(futures)
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
