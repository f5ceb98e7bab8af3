"""vccscale.sem.bootstrap: the draws do not depend on the backend or the number of workers (every replicate has
its own seed), for complete data and for FIML with missing answers."""
import numpy as np
import pandas as pd
import pytest

from vccscale.sem import bootstrap, fit_sem

MODEL = "m ~ a*x\ny ~ b*m + x\nind := a*b"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 200
    x = rng.standard_normal(n)
    m = 0.4 * x + rng.standard_normal(n)
    y = 0.3 * m + 0.1 * x + rng.standard_normal(n)
    d = pd.DataFrame({"x": x, "m": m, "y": y})
    d.loc[rng.random(n) < 0.1, "m"] = np.nan
    return d


@pytest.mark.parametrize("missing", ["listwise", "fiml"])
def test_joblib_workers_give_identical_draws(data, missing):
    fit = fit_sem(data, MODEL, missing=missing)
    one = bootstrap(fit, 60, seed=4, n_jobs=1)
    two = bootstrap(fit, 60, seed=4, n_jobs=2)
    ser = bootstrap(fit, 60, seed=4, backend="serial")
    pd.testing.assert_frame_equal(one.draws, two.draws)
    pd.testing.assert_frame_equal(one.draws, ser.draws)
    assert one.n_failed == two.n_failed == 0


def test_dask_backend_equals_joblib(data):
    distributed = pytest.importorskip("dask.distributed")
    fit = fit_sem(data, MODEL, missing="fiml")
    ref = bootstrap(fit, 40, seed=9, n_jobs=1)
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        got = bootstrap(fit, 40, seed=9, backend="dask", scheduler=client)
    pd.testing.assert_frame_equal(ref.draws, got.draws)
    with pytest.raises(Exception, match="backend"):
        bootstrap(fit, 10, backend="spark")
