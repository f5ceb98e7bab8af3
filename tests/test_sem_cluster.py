"""Cluster-robust standard errors and tests of single-level models (``fit_cfa(..., cluster=...)``; lavaan
``cluster =``), against lavaan 0.6-14.

Fixtures: tests/reference/sem/demo_twolevel.csv (lavaan's Demo.twolevel: 2500 rows in 200 clusters) and
cluster_robust_reference.json, written by cluster_robust_reference.R: CFA with MLR and with ML (lavaan then uses
se = "robust.cluster" and test = c("standard", "yuan.bentler.mplus") too), a SEM with fixed.x covariates, two
groups (clusters nested in the groups: group = odd / even cluster id), the metric model with lavTestLRT
(Satorra-Bentler 2001), and FIML (missing = "ml") with MLR.

Tolerance: relative 1e-5 with an absolute floor of 1e-6, for all fit measures and for est / se / z / pvalue of
every parameter (the issue requires 1e-3 relative). Measured: fit measures at most 6e-6 relative, estimates,
standard errors and z at most 5.5e-6 relative, parameter p-values at most 5e-5 relative (within the 1e-6 absolute
floor). lavaan's nlminb stops at a relative change of 1e-10 of the objective, so its estimates carry about 1e-6
relative error; the standard errors and test statistics follow. GFI / AGFI / PGFI with FIML are not compared: they differ from lavaan
by up to 5e-4 without clusters as well (a known difference of vccscale's FIML GFI, unrelated to clusters).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from reference_data import load_reference, reference_path
from vccscale.errors import DataError, ModelError
from vccscale.sem import fit_cfa, fit_sem

REF = Path(__file__).resolve().parent / "reference" / "sem"
RTOL, ATOL = 1e-5, 1e-6
FIML_SKIP = ("gfi", "agfi", "pgfi")


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "cluster_robust_reference.json")


@pytest.fixture(scope="module")
def demo():
    d = pd.read_csv(reference_path(REF / "demo_twolevel.csv"))
    d["g"] = np.where(d["cluster"] % 2 == 1, "odd", "even")  # as cluster_robust_reference.R
    return d


def _with_missing(d: pd.DataFrame) -> pd.DataFrame:
    """cluster_robust_reference.R's d_na: y1 deleted in the rows 10, 20, ..., y4 in the rows 7, 27, 47, ..."""
    d = d.copy()
    d.loc[np.arange(9, len(d), 10), "y1"] = np.nan
    d.loc[np.arange(6, len(d), 20), "y4"] = np.nan
    return d


CASES = {
    "cfa_mlr": lambda d, r: fit_cfa(d, r["model_cfa"], estimator="MLR", cluster="cluster"),
    "sem_mlr": lambda d, r: fit_sem(d, r["model_sem"], estimator="MLR", cluster="cluster"),
    "cfa_ml": lambda d, r: fit_cfa(d, r["model_cfa"], estimator="ML", cluster="cluster"),
    "groups_mlr": lambda d, r: fit_cfa(d, r["model_cfa"], estimator="MLR", cluster="cluster", group="g"),
    "metric_mlr": lambda d, r: fit_cfa(d, r["model_cfa"], estimator="MLR", cluster="cluster", group="g",
                                       group_equal="loadings"),
    "fiml_mlr": lambda d, r: fit_cfa(_with_missing(d), r["model_cfa"], estimator="MLR", cluster="cluster",
                                     missing="fiml"),
}


@pytest.fixture(scope="module")
def fits(ref, demo):
    return {name: make(demo, ref) for name, make in CASES.items()}


def _close(mine, theirs) -> bool:
    if theirs is None:
        return mine is None or (isinstance(mine, float) and math.isnan(mine))
    return mine is not None and abs(mine - theirs) <= max(RTOL * abs(theirs), ATOL)


@pytest.mark.parametrize("case", list(CASES))
def test_fit_measures_match_lavaan(fits, ref, case):
    res, r = fits[case], ref[case]
    skip = FIML_SKIP if case.startswith("fiml") else ()
    bad = [(k, res.fit.get(k), v) for k, v in r["fit"].items() if k not in skip and not _close(res.fit.get(k), v)]
    assert not bad, bad
    for k in ("chisq.scaled", "chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust"):
        assert k in res.fit  # the robust family is there, also for ML with clusters (as lavaan)


@pytest.mark.parametrize("case", list(CASES))
def test_estimates_and_cluster_robust_se_match_lavaan(fits, ref, case):
    res, r = fits[case], ref[case]
    pe = pd.DataFrame(r["estimates"])
    if "group" not in pe:
        pe["group"] = 1
    est = res.estimates[res.estimates["op"] != ":="]
    if "group" not in est:
        est = est.assign(group=1)
    m = pe.merge(est, on=["lhs", "op", "rhs", "group"], suffixes=("_r", ""))
    assert len(m) == len(pe) == len(est)
    bad = []
    for col in ("est", "se", "z", "pvalue"):
        for row in m.itertuples():
            theirs, mine = getattr(row, f"{col}_r"), getattr(row, col)
            theirs = None if theirs is None or (isinstance(theirs, float) and math.isnan(theirs)) else theirs
            if not _close(None if mine is None or math.isnan(mine) else mine, theirs):
                bad.append((row.lhs, row.op, row.rhs, row.group, col, mine, theirs))
    assert not bad, bad


@pytest.mark.parametrize("case", list(CASES))
def test_se_test_names_and_cluster_counts(fits, ref, case):
    res, r = fits[case], ref[case]
    assert res.se == r["se"] == "robust.cluster"
    assert list(res.test) == ([r["test"]] if isinstance(r["test"], str) else list(r["test"]))
    nc = r["nclusters"] if isinstance(r["nclusters"], list) else [r["nclusters"]]
    assert res.cluster == "cluster" and res.n_clusters == nc
    assert res.to_dict()["n_clusters"] == nc
    assert "clusters [cluster]" in res.summary()


def test_ml_with_cluster_differs_from_mlr_only_in_the_scaled_test(fits, ref):
    """lavaan's ML + cluster: the same (Hessian-based) cluster-robust SEs as MLR, but the scaled test inverts the
    h1-based observed information (observed.information[2] = "h1"): a slightly different scaling factor."""
    a, b = fits["cfa_ml"], fits["cfa_mlr"]
    assert np.allclose(a.estimates["se"].fillna(0), b.estimates["se"].fillna(0), rtol=1e-10)
    assert a.fit["chisq.scaling.factor"] != pytest.approx(b.fit["chisq.scaling.factor"], rel=1e-4)
    assert ref["cfa_ml"]["fit"]["chisq.scaling.factor"] != pytest.approx(
        ref["cfa_mlr"]["fit"]["chisq.scaling.factor"], rel=1e-4)


def test_metric_difference_test_matches_lavtestlrt(fits, ref):
    from vccscale.sem.compare import chisq_difference

    d = chisq_difference(fits["metric_mlr"], fits["groups_mlr"], estimator="MLR")
    r = ref["metric_lrt"]
    assert "satorra.bentler.2001" in r["method"]
    assert d["df_diff"] == r["df_diff"]
    assert _close(d["chisq_diff"], r["chisq_diff"]) and _close(d["pvalue"], r["pvalue"])


def test_cluster_changes_the_standard_errors(demo, ref, fits):
    """Without the cluster the SEs are the (smaller, here) Huber-White ones: the cluster matters."""
    plain = fit_cfa(demo, ref["model_cfa"], estimator="MLR", meanstructure=True)
    se_cl = fits["cfa_mlr"].estimates["se"].to_numpy()
    se = plain.estimates["se"].to_numpy()
    free = se > 0
    assert plain.se == "robust.huber.white" and plain.cluster is None and plain.n_clusters == []
    assert np.max(np.abs(se_cl[free] / se[free] - 1)) > 0.2


def test_refitter_refuses_a_clustered_fit(fits):
    from vccscale.sem import Refitter

    with pytest.raises(ModelError, match="resamples cases, not clusters"):
        Refitter(fits["cfa_mlr"])


def test_bad_cluster_columns(demo, ref):
    with pytest.raises(DataError, match="cluster column 'nope' is not in the data"):
        fit_cfa(demo, ref["model_cfa"], estimator="MLR", cluster="nope")
    d = demo.copy()
    d.loc[[0, 5, 9], "cluster"] = np.nan
    with pytest.raises(DataError, match=r"cluster column 'cluster' has 3 missing value\(s\)"):
        fit_cfa(d, ref["model_cfa"], estimator="MLR", cluster="cluster")
    d = demo.assign(one=1)
    with pytest.raises(DataError, match="1 cluster"):
        fit_cfa(d, ref["model_cfa"], estimator="MLR", cluster="one")
    with pytest.raises(ModelError, match="also a variable of the model"):
        fit_sem(demo, ref["model_sem"], estimator="MLR", cluster="x1")
    with pytest.raises(ModelError, match="estimator='ML' and missing='fiml'"):
        fit_cfa(_with_missing(demo), ref["model_cfa"], estimator="ML", cluster="cluster", missing="fiml")


# ------------------------------------------------------------------------------------------------------------ CLI
@pytest.fixture()
def model_file(tmp_path, ref):
    p = tmp_path / "m.lav"
    p.write_text(ref["model_cfa"] + "\n")
    return p


def test_cli_cluster_json(model_file, ref):
    from vccscale.cli import main

    data = reference_path(REF / "demo_twolevel.csv")
    out = CliRunner().invoke(main, ["cfa", str(data), "--model", str(model_file), "--estimator", "MLR",
                                    "--cluster", "cluster", "--format", "json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)  # stdout is JSON only
    assert d["cluster"] == "cluster" and d["n_clusters"] == 200 and d["n_clusters_by_group"] == [200]
    assert d["se"] == "robust.cluster" and d["test"] == ["yuan.bentler.mplus"]
    r = ref["cfa_mlr"]["fit"]
    for k in ("chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust"):
        assert _close(d["fit"][k.replace(".", "_")], r[k]), k


def test_cli_missing_cluster_column_exits_1(model_file):
    from vccscale.cli import main

    data = reference_path(REF / "demo_twolevel.csv")
    out = CliRunner().invoke(main, ["cfa", str(data), "--model", str(model_file), "--cluster", "school",
                                    "--format", "json"])
    assert out.exit_code == 1
    assert "cluster column 'school' is not in the data" in out.stderr
    assert out.stdout == ""


def test_cli_invariance_cluster(tmp_path, model_file, demo):
    from vccscale.cli import main

    data = tmp_path / "d.csv"
    demo.to_csv(data, index=False)
    out = CliRunner().invoke(main, ["invariance", str(data), "--model", str(model_file), "--group", "g",
                                    "--estimator", "MLR", "--cluster", "cluster", "--format", "json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    assert d["cluster"] == "cluster" and d["n_clusters"] == 200 and d["n_clusters_by_group"] == [100, 100]
    out = CliRunner().invoke(main, ["invariance", str(data), "--model", str(model_file), "--group", "g",
                                    "--cluster", "cluster"])
    assert out.exit_code == 1 and "needs estimator='MLR'" in out.stderr


def test_invariance_metric_step_matches_lavaan(demo, ref):
    from vccscale.validate.invariance import invariance

    res = invariance(demo, ref["model_cfa"], "g", estimator="MLR", levels=("configural", "metric"),
                     cluster="cluster")
    t = res.tests.iloc[0]
    r = ref["metric_lrt"]
    assert _close(t["chisq_diff"], r["chisq_diff"]) and _close(t["pvalue"], r["pvalue"])


def test_cluster_bootstrap_se_agrees_with_the_cluster_robust_se():
    """bootstrap() of a clustered fit resamples clusters: its SE of a path matches the cluster-robust (sandwich) SE
    (both estimate the same sampling variance; tolerance 10%: Monte Carlo SE of a bootstrap SE from 1,000 draws
    ~2.2%, plus the (C-1)/C small-sample factor at 60 clusters), while resampling cases reproduces the naive SE,
    which is a third smaller here (x and y with ICC .5)."""
    from vccscale.sem import bootstrap
    from vccscale.simulate.nested import simulate_nested

    d = simulate_nested("y ~ 0.4*x", 60, 10, seed=3, icc={"x": 0.5, "y": 0.5})
    naive = fit_sem(d, "y ~ b*x")
    clustered = fit_sem(d, "y ~ b*x", cluster="cluster")
    se_naive = float(naive.estimates.query("op == '~'")["se"].iloc[0])
    se_cluster = float(clustered.estimates.query("op == '~'")["se"].iloc[0])
    boot_c = bootstrap(clustered, 1000, seed=1).ci().set_index("name").loc["b", "boot_se"]
    boot_n = bootstrap(naive, 1000, seed=1).ci().set_index("name").loc["b", "boot_se"]
    assert se_cluster > 1.3 * se_naive
    assert boot_c == pytest.approx(se_cluster, rel=0.10)
    assert boot_n == pytest.approx(se_naive, rel=0.10)


def test_fiml_with_variables_never_answered_together():
    """MLR + FIML + cluster when two blocks of items were never answered together (family C's stakeholder
    versions): the saturated information is singular; the scaled test uses a generalized inverse and equals
    lavaan 0.6-14's (chisq.scaled 1.374 on these data, from R: cfa(..., estimator = "MLR", missing = "ml",
    cluster = "cl"); 1e-3 relative); the FIML-corrected robust measures are NaN with the reason."""
    rng = np.random.default_rng(1)
    n = 400
    f = rng.standard_normal(n)
    g = 0.5 * f + rng.standard_normal(n) * 0.8
    d = pd.DataFrame({**{f"a{i}": 0.8 * f + 0.6 * rng.standard_normal(n) for i in range(3)},
                      **{f"b{i}": 0.8 * g + 0.6 * rng.standard_normal(n) for i in range(3)}})
    d.loc[:199, ["b0", "b1", "b2"]] = np.nan
    d.loc[200:, ["a0", "a2"]] = np.nan
    d["cl"] = np.arange(n) // 5
    fit = fit_cfa(d, "fa =~ a0 + a1 + a2\nfb =~ b0 + b1 + b2", estimator="MLR", missing="fiml", cluster="cl")
    assert fit.fit["chisq"] == pytest.approx(0.4715, rel=1e-3)
    assert fit.fit["chisq.scaled"] == pytest.approx(1.374, rel=1e-3)
    assert fit.fit["chisq.scaling.factor"] == pytest.approx(0.343, rel=2e-3)
    assert math.isnan(fit.fit["cfi.robust"]) and any("never answered together" in w for w in fit.warnings)
    assert not fit.problems


@pytest.mark.parametrize("meanstructure", [True, False])
@pytest.mark.parametrize("clustered", [False, True])
def test_h1_trace_in_closed_form_equals_the_matrix_route(meanstructure, clustered):
    """tr(B1 A1^-1) of the saturated model (the h1 half of the Yuan-Bentler scaling factor), in closed form from
    each case's (or cluster's) scores and the normal-theory inverse of A1, equals the route through the
    moments x moments matrices and their inverse to 1e-10 relative: 12 skewed variables, 400 cases, two groups,
    with and without 40 clusters. Without clusters it is half of Mardia's multivariate kurtosis b2p plus p/2 with
    the means (a published closed form: Mardia 1970), checked too."""
    from vccscale.sem.fit import Engine, prepare_groups
    from vccscale.sem.model import build_partable
    from vccscale.sem.robust import _h1_trace_matrix, h1_traces

    rng = np.random.default_rng(8)
    p, n = 12, 400
    X = rng.gamma(2.0, size=(n, 2)) @ rng.normal(size=(2, p)) + rng.standard_t(5, size=(n, p))
    d = pd.DataFrame(X, columns=[f"v{j}" for j in range(p)])
    d["g"] = np.repeat(["a", "b"], n // 2)
    model = "f1 =~ " + " + ".join(f"v{j}" for j in range(6)) + "\nf2 =~ " + " + ".join(f"v{j}" for j in range(6, p))
    pt = build_partable(model, model_type="cfa", ngroups=2, group_labels=["a", "b"], meanstructure=meanstructure)
    groups, _ = prepare_groups(d, pt.ov_names, "g", labels=["a", "b"])
    eng = Engine(pt, groups)
    clusters = [np.arange(len(gd.X)) % 40 for gd in groups] if clustered else None
    traces, ndats = h1_traces(eng, clusters)
    for k, gd in enumerate(groups):
        ref, nd = _h1_trace_matrix(eng, gd, clusters[k] if clustered else None)
        assert traces[k] == pytest.approx(ref, rel=1e-10) and ndats[k] == nd
        if not clustered:
            E = gd.X - gd.mean
            d2 = np.einsum("ij,jk,ik->i", E, np.linalg.inv(gd.cov), E)
            b2p = float(np.mean(d2 ** 2))
            assert traces[k] == pytest.approx(0.5 * b2p + (0.5 * p if meanstructure else 0.5 * p - p), rel=1e-10)
