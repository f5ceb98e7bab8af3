"""Monte Carlo power (vccscale.simulate.power) against closed forms and published values.

Closed form for a standardized simple regression y = beta*x + e (var x = var y = 1): the OLS t-test of the slope
has power P(|T| > t_{1-alpha/2, n-2}) with T ~ noncentral t(df = n - 2, ncp = beta*sqrt(n)/sqrt(1 - beta^2))
(ncp for fixed x with sum((x - xbar)^2) = n). vccscale.sem uses the ML z-test: SE = sqrt(RSS/n / Sxx), so
z = t*sqrt(n/(n-2)) and its exact power is P(|T| > z_{1-alpha/2}*sqrt((n-2)/n)): slightly higher than the t-test
at small n (about +0.01 at n = 50), inside the Monte Carlo tolerance used here.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from vccscale.simulate import population_moments, power, power_curve_plot
from reference_data import load_reference

REF = Path(__file__).parent / "reference" / "power"


def t_power(beta: float, n: int, alpha: float = 0.05, z_test: bool = False) -> float:
    ncp = beta * math.sqrt(n) / math.sqrt(1 - beta ** 2)
    df = n - 2
    crit = stats.norm.ppf(1 - alpha / 2) * math.sqrt((n - 2) / n) if z_test else stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def unstd_power(coef: float, n: int, alpha: float = 0.05) -> float:
    """t-test power of a coefficient whose predictor has (conditional) variance 1 and residual variance 1."""
    ncp = coef * math.sqrt(n)
    crit = stats.t.ppf(1 - alpha / 2, n - 2)
    return float(stats.nct.sf(crit, n - 2, ncp) + stats.nct.cdf(-crit, n - 2, ncp))


@pytest.mark.slow  # 3-6 s per case
@pytest.mark.parametrize("n,beta", [(50, 0.3), (100, 0.2), (200, 0.15)])
def test_simple_regression_matches_noncentral_t(n, beta):
    model = f"y ~ {beta}*x\ny ~~ {1 - beta ** 2}*y"
    t0 = time.perf_counter()
    res = power(model, targets=["y~x"], n=[n], reps=1000, seed=20240 + n, n_jobs=2, progress=False)
    elapsed = time.perf_counter() - t0
    row = res.table.iloc[0]
    exact = t_power(beta, n)
    tol = 3 * math.sqrt(exact * (1 - exact) / 1000)
    assert row["converged"] == 1.0
    assert abs(row["power"] - exact) < tol, (row["power"], exact, t_power(beta, n, z_test=True))
    assert abs(row["bias"]) < 0.02
    assert abs(row["coverage"] - 0.95) < 0.025
    assert elapsed < 60


@pytest.mark.slow  # ~5.5 s
def test_mediation_joint_significance_fritz_mackinnon():
    """Fritz & MacKinnon (2007, Psychological Science 18(3), 233-239), Table 3: joint significance test, a = b = .14
    (small, 'SS'), tau' = 0, needs N = 530 for .80 power. Their data: X ~ N(0, 1), M = aX + e, Y = bM + e with unit
    residual variances, which is the simulateData convention for this syntax."""
    model = "m ~ a*0.14*x\ny ~ b*0.14*m + 0*x\nind := a*b"
    res = power(model, targets=["joint(a, b)", "ind"], n=[530], reps=1000, seed=2007, n_jobs=2, progress=False)
    js = res.table.set_index("target").loc["joint(a, b)", "power"]
    tol = 3 * math.sqrt(0.8 * 0.2 / 1000)
    assert abs(js - 0.80) < tol
    # a and b estimates are asymptotically independent: power ~ P(a sig) * P(b sig)
    analytic = unstd_power(0.14, 530) ** 2
    assert abs(js - analytic) < tol
    # the Sobel (delta-method) test of ind is less powerful than joint significance (Fritz & MacKinnon: N = 667)
    assert res.table.set_index("target").loc["ind", "power"] < js


# A reduced model of each family: a chain of four reflective constructs from the registry, all their reflective
# items with loadings .7 and paths .4 / .3 / .5 (the full family models are in benchmarks/recovery_benchmark.py).
CHAINS = {
    "A": ["a_drv_documentation", "a_align_prod_impl", "x_vcc_customer", "x_rel_satisfaction"],
    "B": ["b_iterative_interplay", "b_align_p3", "x_value_codestruction", "x_rel_continuation"],
    "C": ["c_shared_values", "c_mech_co_experience", "c_stakeholder_alignment", "c_bmi_network"],
    "D": ["d_cap_concerted", "d_prac_co_ideation", "d_spe_purpose", "x_vcc_provider"],
}
BETAS = (0.4, 0.3, 0.5)


def _family_reduced(family: str) -> tuple[str, list[tuple[str, str, float]]]:
    from vccscale.registry import load_registry

    reg = load_registry(Path(__file__).resolve().parents[1] / "instruments")
    chain = CHAINS[family]
    lines = [f"{c} =~ " + " + ".join(f"0.7*{i.id}" for i in reg.items_of(c) if i.kind == "reflective"
                                     and ("P" in i.wording or "J" in i.wording or "S" in i.wording))
             for c in chain]
    paths = [(y, x, b) for (x, y), b in zip(zip(chain, chain[1:]), BETAS)]
    lines += [f"{y} ~ p{k}*{b}*{x}" for k, (y, x, b) in enumerate(paths)]
    return "\n".join(lines), paths


@pytest.mark.slow  # 2.5 s or more on the 2-core development machine (the quick suite: -m 'not slow')
@pytest.mark.parametrize("family", sorted(CHAINS))
def test_parameter_recovery_n2000(family):
    """|mean bias| < .02 on the standardised scale (and for raw paths and loadings) over 20 replicates."""
    from vccscale.sem import fit_sem
    from vccscale.simulate import analysis_model, simulate_data

    pop, paths = _family_reduced(family)
    ana = analysis_model(pop)
    names, _, cov = population_moments(pop, latent=True)
    sd = dict(zip(names, np.sqrt(np.diag(cov))))
    true_std = {(y, x): b * sd[x] / sd[y] for y, x, b in paths}
    seeds = np.random.SeedSequence(11).spawn(20)
    bias_std = {k: [] for k in true_std}
    bias_raw = {k: [] for k in true_std}
    for s in seeds:
        est = fit_sem(simulate_data(pop, 2000, seed=s), ana).estimates
        for (y, x, b) in paths:
            r = est[(est.lhs == y) & (est.op == "~") & (est.rhs == x)].iloc[0]
            bias_std[(y, x)].append(r["std_all"] - true_std[(y, x)])
            bias_raw[(y, x)].append(r["est"] - b)
        lam = est[(est.op == "=~")]
        bias_std.setdefault("loadings", []).append(float((lam["est"] - 0.7).mean()))
    for k, v in bias_std.items():
        assert abs(np.mean(v)) < 0.02, (family, k, np.mean(v))
    for k, v in bias_raw.items():
        assert abs(np.mean(v)) < 0.02, (family, k, np.mean(v))


@pytest.mark.slow  # ~5 s
def test_reproducible_and_backend_independent(tmp_path):
    model = "m ~ a*0.3*x\ny ~ b*0.3*m\nind := a*b"
    kw = {"targets": ["y~m", "ind", "joint(a,b)"], "n": [40, 80], "reps": 40, "seed": 99, "progress": False}
    r1 = power(model, n_jobs=1, **kw).to_dict()
    r2 = power(model, n_jobs=2, batch_size=7, **kw).to_dict()
    for r in (r1, r2):
        r.pop("seconds"), r.pop("backend")
    assert r1 == r2
    assert r1["seed"] == 99
    assert {"n", "target", "power", "converged", "bias", "coverage"} <= set(r1["results"][0])
    assert set(r1["n_for_80"]) == {"y~m", "ind", "joint(a,b)"}
    r3 = power(model, n_jobs=1, **{**kw, "seed": 100}).to_dict()
    assert r3["results"] != r1["results"]
    res = power(model, n_jobs=1, **kw)
    for suffix in (".png", ".svg"):
        p = power_curve_plot(res, tmp_path / f"curve{suffix}")
        assert Path(p).stat().st_size > 1000


def test_dask_backend_equals_joblib():
    distributed = pytest.importorskip("dask.distributed")
    model = "y ~ 0.3*x"
    kw = {"targets": ["y~x"], "n": [30, 60], "reps": 12, "seed": 5, "progress": False}
    ref = power(model, backend="joblib", n_jobs=1, **kw).table
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        got = power(model, backend="dask", scheduler=client, **kw).table
    assert got.equals(ref)


def test_n_for_80_and_loading_target():
    model = "f =~ 0.7*x1 + 0.7*x2 + 0.7*x3 + 0.7*x4\ny ~ 0.25*f"
    res = power(model, targets=["y~f", "f=~x2"], n=[60, 120, 240], reps=60, seed=3, n_jobs=1, progress=False)
    d = res.to_dict()
    n80 = d["n_for_80"]["y~f"]
    rows = [r for r in d["results"] if r["target"] == "y~f"]
    first = next((r["n"] for r in rows if r["power"] >= 0.8), None)
    assert n80["grid"] == first
    if n80["interpolated"] is not None:
        assert 60 <= n80["interpolated"] <= n80["grid"]
    lam = [r["power"] for r in d["results"] if r["target"] == "f=~x2"]
    assert lam[-1] == 1.0 and lam[0] > 0.8


def test_reference_outputs_exist():
    ref = load_reference(REF / "simulatedata_moments.json")
    assert ref["lavaan"].startswith("0.6")


@pytest.mark.parametrize("estimator,missing", [("ML", None), ("MLR", None), ("ML", {"mcar": 0.15}),
                                               ("MLR", {"mcar": 0.15})])
def test_estimates_only_fit_equals_the_full_fit(estimator, missing):
    """Power replicates fit through vccscale.sem.api.fit_estimates (no baseline model, fit measures, standardized
    values or tables): est, se, z, p and CI equal fit_sem's parameter table for a latent mediation model with a :=
    parameter, complete and with MCAR gaps (FIML), ML and MLR; and the replicate records of power equal those
    computed from fit_sem's table."""
    from vccscale.sem import fit_sem
    from vccscale.sem.api import fit_estimates
    import importlib

    power_mod = importlib.import_module("vccscale.simulate.power")
    from vccscale.simulate.population import simulate_data

    pop = ("X =~ 0.7*x1 + 0.7*x2 + 0.7*x3\nM =~ 0.7*m1 + 0.7*m2 + 0.7*m3\nY =~ 0.7*y1 + 0.7*y2 + 0.7*y3\n"
           "M ~ a*0.3*X\nY ~ b*0.3*M + 0.1*X\nind := a*b")
    ana = "X =~ x1 + x2 + x3\nM =~ m1 + m2 + m3\nY =~ y1 + y2 + y3\nM ~ a*X\nY ~ b*M + X\nind := a*b"
    sim = {"missing": missing} if missing else {}
    miss = "fiml" if missing else "listwise"
    data = simulate_data(pop, 150, seed=np.random.default_rng(4), **sim)
    if missing:
        assert data.isna().any().any()
    lean = fit_estimates(data, ana, estimator=estimator, missing=miss).rows
    full = fit_sem(data, ana, estimator=estimator, missing=miss).estimates
    assert [(r["lhs"], r["op"], r["rhs"]) for r in lean] == list(zip(full["lhs"], full["op"], full["rhs"]))
    for col in ("est", "se", "z", "pvalue", "ci_lower", "ci_upper"):
        np.testing.assert_allclose([r[col] for r in lean], full[col].to_numpy(float), rtol=0, atol=0, err_msg=col)
    assert all(math.isnan(r["std_all"]) for r in lean)

    targets = tuple(power_mod.parse_target(t, ana) for t in ["Y~M", "ind", "joint(a,b)", "M=~m2"])
    seeds = np.random.SeedSequence(11).spawn(3)
    truths = tuple(0.5 for _ in targets)
    got = [power_mod._one(pop, ana, targets, 150, s, estimator, 0.05, sim, truths) for s in seeds]

    def via_fit_sem(seed_seq):
        d = simulate_data(pop, 150, seed=np.random.default_rng(seed_seq), **sim)
        est = power_mod._records(fit_sem(d, ana, estimator=estimator, missing=miss).estimates)
        return est

    for rec, s in zip(got, seeds):
        est = via_fit_sem(s)
        assert rec["converged"]
        for k, t in enumerate(targets):
            if t.kind == "joint":
                continue
            r = power_mod._find(est, t)
            assert rec["est"][k] == r["est"] and rec["se"][k] == r["se"]
            assert rec["sig"][k] == (r["pvalue"] < 0.05)


@pytest.mark.parametrize("kw", [{}, {"missing": {"mcar": 0.1}}, {"missing": {"mar": 0.2, "on": "x1"}},
                                {"ordinal": {"points": 5}, "careless": {"straightliners": 0.05, "random": 0.05}}])
def test_simulate_matrix_is_simulate_data_without_pandas(kw):
    """simulate_matrix (what the power replicates draw) gives simulate_data's numbers, names and attrs exactly."""
    from vccscale.simulate.population import simulate_data, simulate_matrix

    pop = "F =~ 0.7*x1 + 0.7*x2 + 0.7*x3\ny ~ 0.3*F"
    df = simulate_data(pop, 120, seed=5, **kw)
    X, names, attrs = simulate_matrix(pop, 120, seed=5, **kw)
    assert names == list(df.columns)
    assert attrs == df.attrs
    np.testing.assert_array_equal(X, df.to_numpy(float))


def test_power_replicates_run_without_pandas():
    """A worker process running ML power replicates does not import pandas (0.3 CPU-s per worker): the data are
    drawn as a matrix and fitted as plain columns."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "import vccscale.simulate, importlib\n"
            "P = importlib.import_module('vccscale.simulate.power')\n"
            "pop = P.population_model('y ~ a*0.3*x')\n"
            "t = (P.parse_target('a', 'y ~ a*x'),)\n"
            "for miss in ({}, {'missing': {'mcar': 0.1}}):\n"
            "    r = P._batch(pop, 'y ~ a*x', t, 80, np.random.SeedSequence(1).spawn(2), 'ML', 0.05, miss, (0.3,))\n"
            "    assert all(x['converged'] for x in r), r\n"
            "print('pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_array_columns():
    from vccscale.io.plain import ArrayColumns

    X = np.arange(12.0).reshape(4, 3)
    X[1, 2] = np.nan
    a = ArrayColumns(X, ["a", "b", "c"])
    m = a.matrix(["c", "a"])
    assert len(a) == 4 and a.columns == ["a", "b", "c"]
    np.testing.assert_array_equal(m, X[:, [2, 0]])
    assert m.flags.c_contiguous and not np.shares_memory(m, X)


def test_progress_lines_off_a_terminal(capsys, monkeypatch):
    """Off a terminal (a log file, CI) the power progress is whole lines: the first, at most one every 3 s, the
    last; no carriage returns."""
    import vccscale.simulate.backends as B

    monkeypatch.setattr(B.sys.stderr, "isatty", lambda: False, raising=False)
    B.run_tasks(lambda x: x, [(i,) for i in range(5)], backend="serial", progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines()[0] == "power: 1/5 batches" and err.splitlines()[-1] == "power: 5/5 batches"
