"""MLR with FIML (``estimator="MLR", missing="fiml"``; lavaan ``estimator = "MLR", missing = "ml"``): the scaled
test and lavaan's FIML-corrected robust CFI / TLI / RMSEA (``lav_fit_fiml_corrected``), against lavaan 0.6-14
(issue 14).

Fixtures: tests/reference/sem/hs_mar.csv (HolzingerSwineford1939 with 13.5% MAR missing values),
hs_na2.csv and fiml_robust_reference.json, written by fiml_robust_reference.R.

Tolerance: relative 1e-4 with an absolute floor of 1e-6. lavaan stops its EM algorithm for the saturated (h1)
moments at a change of 1e-5 (``em.h1.tol``); ours runs to 1e-11. The robust measures compare the estimates with
these moments, so they agree to about 1e-5 relative (with lavaan's own EM moments the difference is 1e-7).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from vccscale.sem import fit_cfa, fit_sem
from reference_data import load_reference, reference_path

REF = Path(__file__).resolve().parent / "reference" / "sem"
RTOL, ATOL = 1e-4, 1e-6

# the measures the issue names, plus the rest of the .scaled / .robust family lavaan prints
KEYS = ("chisq", "df", "chisq.scaled", "pvalue.scaled", "chisq.scaling.factor", "baseline.chisq",
        "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi", "tli", "cfi.scaled", "tli.scaled",
        "cfi.robust", "tli.robust", "nnfi.robust", "rni.robust", "rmsea", "rmsea.scaled", "rmsea.ci.lower.scaled",
        "rmsea.ci.upper.scaled", "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust",
        "rmsea.pvalue.robust", "rmsea.notclose.pvalue.robust", "scaling.factor.h1", "scaling.factor.h0", "srmr")
ROBUST = ("cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust")

@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "fiml_robust_reference.json")


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "hs_mar.csv")


@pytest.fixture(scope="module")
def one_group(ref, data):
    return fit_cfa(data, ref["model"], estimator="MLR", missing="fiml")


def _close(mine, ref_value) -> bool:
    if ref_value is None:
        return mine is None or math.isnan(mine)
    return mine is not None and abs(mine - ref_value) <= max(RTOL * abs(ref_value), ATOL)


def _diffs(res, ref_fit, keys=KEYS):
    return [(k, res.fit.get(k), ref_fit[k]) for k in keys if not _close(res.fit.get(k), ref_fit[k])]


def test_one_group_matches_lavaan(one_group, ref):
    res = one_group
    assert res.nobs == [ref["one_group"]["nobs"]] and res.missing == "fiml"
    assert not _diffs(res, ref["one_group"]["fit"]), _diffs(res, ref["one_group"]["fit"])
    assert all(np.isfinite(res.fit[k]) for k in ROBUST)
    assert not res.warnings


@pytest.mark.parametrize("block,version", [("one_group", "V3"), ("one_group_ml", "V6")])
def test_fiml_corrected_parts_match_lavaan(one_group, ref, block, version):
    """lavaan:::lav_fit_fiml_corrected: XX3 (ML chi-square against the EM moments), c.hat3 and the baseline's
    (V3 for MLR; V6, lavaan's version for ML, on the same estimates: ML and MLR share them)."""
    from vccscale.sem.api import _baseline_partable, _baseline_start
    from vccscale.sem.fit import FIMLEngine, estimate
    from vccscale.sem.robust import fiml_corrected

    st = one_group._state
    bpt = _baseline_partable(st.pt)
    beng = FIMLEngine(bpt, st.engine.groups)
    best = estimate(beng, _baseline_start(bpt, st.engine.groups))
    fc = fiml_corrected(st.engine, st.theta, int(one_group.fit["df"]), beng, best.theta,
                        int(one_group.fit["baseline.df"]), version=version)
    want = ref[block]["fiml_corrected"]
    bad = [(k, fc[k], v) for k, v in want.items() if not _close(fc[k], v)]
    assert not bad, bad


@pytest.mark.parametrize("level,group_equal", [("configural", []), ("metric", ["loadings"]),
                                               ("scalar", ["loadings", "intercepts"])])
def test_two_groups_match_lavaan(ref, data, level, group_equal):
    """Two groups (school); metric / scalar also check scaling.factor.h0, whose denominator is lavaan's nx.free
    (free parameters before the equality constraints)."""
    res = fit_cfa(data, ref["model"], estimator="MLR", missing="fiml", group="school", group_equal=group_equal)
    assert [str(g) for g in res.group_labels] == ref["groups"]["group_labels"]
    want = ref["groups"]["fit"][level]
    assert not _diffs(res, want), _diffs(res, want)


def test_invariance_delta_cfi_from_robust_cfi(ref, data):
    """The invariance sequence under MLR + FIML: Satorra-Bentler differences as lavTestLRT, delta CFI from the
    robust CFI (before: NaN, read as "does not hold")."""
    from vccscale.validate.invariance import invariance

    res = invariance(data, ref["model"], "school", estimator="MLR", levels=("configural", "metric", "scalar"),
                     missing="fiml")
    fits = ref["groups"]["fit"]
    for row, (lv, prev) in zip(res.tests.to_dict(orient="records"), (("metric", "configural"),
                                                                     ("scalar", "metric"))):
        lrt = ref["groups"]["lrt"][lv]
        assert _close(row["chisq_diff"], lrt["chisq_diff"]) and row["df_diff"] == lrt["df_diff"]
        assert _close(row["pvalue"], lrt["pvalue"])
        assert abs(row["delta_cfi"] - (fits[lv]["cfi.robust"] - fits[prev]["cfi.robust"])) < 1e-5
        assert abs(row["delta_rmsea"] - (fits[lv]["rmsea.robust"] - fits[prev]["rmsea.robust"])) < 1e-5
    assert res.notes == ()


@pytest.mark.parametrize("key,fixed_x", [("fixed_x", None), ("random_x", False)])
def test_covariates_match_lavaan(ref, key, fixed_x):
    """sem() with covariates: fixed.x (lavaan leaves the x moments out of the h1 information; before, the scaled
    test counted them and chisq.scaled was 21.1 for lavaan's 65.6) and random covariates (lavaan's Wc, from a
    refit with lavaan()'s default fixed.x = TRUE, has zero rows for the covariates' moments)."""
    d = pd.read_csv(REF / "hs_na2.csv")
    block = ref["covariates"][key]
    res = fit_sem(d, ref["covariates"]["model"], estimator="MLR", missing="fiml", fixed_x=fixed_x)
    assert res.nobs == [block["nobs"]]
    keys = [k for k in KEYS if k != "srmr"] + ["srmr"]
    assert not _diffs(res, block["fit"], keys), _diffs(res, block["fit"], keys)


def test_saturated_model_robust_measures_as_lavaan(ref, data):
    """df = 0: lavaan's c.hat3 = k / 0 is Inf, the robust CFI / TLI are 1, RMSEA and its interval 0, the RMSEA
    p-values NA; no warning."""
    res = fit_cfa(data, ref["saturated"]["model"], estimator="MLR", missing="fiml")
    want = ref["saturated"]["fit"]
    keys = [k for k in want if k.endswith(".robust")]
    assert len(keys) == 9
    assert not _diffs(res, want, keys), _diffs(res, want, keys)
    assert not res.warnings


def test_failed_robust_computation_warns(monkeypatch, data, ref):
    """Where the FIML-corrected statistics cannot be computed the .robust measures are NaN and the fit's warnings
    say so (never a silent NaN); the solution is not flagged improper and the scaled measures stay."""
    import vccscale.sem.robust as robust

    def boom(*a, **k):
        raise np.linalg.LinAlgError("Matrix is not positive definite")

    monkeypatch.setattr(robust, "fiml_corrected", boom)
    res = fit_cfa(data, ref["model"], estimator="MLR", missing="fiml")
    assert all(math.isnan(res.fit[k]) for k in ROBUST)
    assert _close(res.fit["cfi.scaled"], ref["one_group"]["fit"]["cfi.scaled"])
    assert any("robust CFI / TLI / RMSEA for missing data" in w and "NaN" in w for w in res.warnings)
    assert res.problems == ()


def _fake(fit: dict, df: int, nobs=(100, 100)):
    base = {"chisq": 50.0 + df, "df": df, "chisq.scaling.factor": 1.1, "cfi.robust": float("nan"),
            "rmsea.robust": float("nan"), "cfi.scaled": 0.95, "rmsea.scaled": 0.05, "cfi": 0.96, "rmsea": 0.04}
    base.update(fit)
    return SimpleNamespace(fit=base, nobs=list(nobs), ngroups=2)


def test_difference_test_falls_back_to_scaled_cfi():
    """A NaN robust CFI: delta CFI from cfi.scaled, with a note (before: NaN)."""
    from vccscale.validate.invariance import difference_test

    d = difference_test(_fake({"cfi.scaled": 0.94, "rmsea.scaled": 0.06}, 30), _fake({}, 24), "MLR", 2)
    assert d["delta_cfi"] == pytest.approx(-0.01) and d["delta_rmsea"] == pytest.approx(0.01)
    assert d["delta_cfi_index"] == "cfi.scaled" and "cfi.scaled" in d["note"]
    both = difference_test(_fake({"cfi.scaled": float("nan")}, 30), _fake({}, 24), "MLR", 2)
    assert math.isnan(both["delta_cfi"]) and "delta CFI not available" in both["note"]
    ok = difference_test(_fake({"cfi.robust": 0.9, "rmsea.robust": 0.07}, 30),
                         _fake({"cfi.robust": 0.92, "rmsea.robust": 0.06}, 24), "MLR", 2)
    assert ok["delta_cfi"] == pytest.approx(-0.02) and ok["delta_cfi_index"] == "cfi.robust" and not ok["note"]


def test_invariance_by_construct_nan_delta_cfi_is_not_tested(monkeypatch, data, ref):
    """A step whose delta CFI cannot be computed is "not tested" (holds None, the reason in problems), not
    "does not hold"; the highest level reached stops before it."""
    import vccscale.sem as sem
    from vccscale.validate.invariance import invariance_by_construct

    real = sem.fit_cfa

    def no_cfi(*a, **k):
        res = real(*a, **k)
        if k.get("group_equal"):
            for key in ("cfi.robust", "cfi.scaled"):
                res.fit[key] = float("nan")
        return res

    monkeypatch.setattr(sem, "fit_cfa", no_cfi)
    blocks = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
    res = invariance_by_construct(data, blocks, "school", estimator="MLR", missing="fiml",
                                  levels=("configural", "metric"), scope="full")
    t = res.table.set_index("level")
    assert t.loc["metric", "status"] == "not tested"
    assert t.loc["metric", "holds"] is None
    assert "delta CFI not available" in t.loc["metric", "problems"]
    assert res.reached()["reached"].tolist() == ["configural"]


def test_level_holds_nan_delta_cfi_is_undecided():
    """Partial-invariance search: a significant difference with no identifiable culprit is decided by delta CFI;
    when that is NaN the level is not tested (None), not "does not hold"."""
    from vccscale.models.hypotheses import _level_holds

    steps = pd.DataFrame([{"pvalue_diff": 0.001, "df_diff": 6, "pvalue_max": 0.2, "threshold": 0.01}])
    nan_fit = _fake({"cfi.scaled": float("nan")}, 30)
    res = SimpleNamespace(steps=steps, fit=nan_fit, previous_fit=_fake({}, 24))
    holds, p, dcfi = _level_holds(res, 0.05, "MLR")
    assert holds is None and p == 0.001 and math.isnan(dcfi)
    res_ok = SimpleNamespace(steps=steps, fit=_fake({"cfi.robust": 0.95}, 30),
                             previous_fit=_fake({"cfi.robust": 0.955}, 24))
    assert _level_holds(res_ok, 0.05, "MLR")[0] is True


def test_cli_cfa_json_prints_robust_measures(tmp_path, ref):
    from vccscale.cli import main

    model = tmp_path / "hs.lavaan"
    model.write_text(ref["model"], encoding="utf-8")
    out = CliRunner().invoke(main, ["cfa", str(REF / "hs_mar.csv"), "--model", str(model), "--estimator", "MLR",
                                    "--missing", "fiml", "--format", "json"])
    assert out.exit_code == 0, out.output
    fit = json.loads(out.stdout)["fit"]
    want = ref["one_group"]["fit"]
    for k in ("chisq.scaled", "df", "chisq.scaling.factor", "cfi.scaled", "tli.scaled", "rmsea.scaled",
              "cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "srmr"):
        assert _close(fit[k.replace(".", "_")], want[k]), (k, fit[k.replace(".", "_")], want[k])


def _saturated_fiml_engine(gd, names):
    """A FIML engine of the saturated model of ``names`` (vech(Sigma) by columns j, rows i >= j, then mu; the order
    of vccscale.sem.robust's saturated information and scores) on group ``gd``."""
    from vccscale.sem.fit import FIMLEngine
    from vccscale.sem.model import ParTable

    p = len(names)
    rows = [{"lhs": names[j], "op": "~~", "rhs": names[i]} for j in range(p) for i in range(j, p)]
    rows += [{"lhs": v, "op": "~1", "rhs": ""} for v in names]
    for k, r in enumerate(rows):
        r.update(id=k + 1, par=k, group=1, user=0, free=True, ustart=None, start=None, label="", exo=False, line=None)
    spt = ParTable(rows=rows, ov_names=names, lv_names=[], ov_x=[], ov_nox=names, lv_x=[], lv_endo=[], ngroups=1,
                   group_labels=[None], meanstructure=True, std_lv=False, npar=len(rows))
    return FIMLEngine(spt, [gd])


@pytest.mark.parametrize("route", ["gathers", "sums", "sums in batches"])
def test_saturated_fiml_information_is_the_hessian(route, monkeypatch):
    """The analytic observed information of the saturated FIML model (lavaan's
    lav_mvnorm_missing_information_observed_samplestats) equals central differences of the analytic gradient
    (1e-8 absolute on entries up to 3.4), at the EM moments and away from them; each pattern's blocks gathered on
    their own, or summed over the patterns as Kronecker products first (the route of patterns observing many
    variables), in one batch or several."""
    import functools

    import numpy as np

    from vccscale.sem import robust
    from vccscale.sem.fit import prepare_groups
    from vccscale.sem.robust import saturated_fiml_information

    monkeypatch.setattr(robust, "KRON_RATIO", 1e-12 if route == "gathers" else 1e12)
    if route == "sums in batches":
        monkeypatch.setattr(robust, "_kron_blocks", functools.partial(robust._kron_blocks, batch=3))

    d = pd.read_csv(reference_path(REF / "hs_mar.csv"))
    names = ["x1", "x2", "x3", "x4", "x5", "x6"]
    gd = prepare_groups(d, names, None, missing="fiml")[0][0]
    p = len(names)
    eng = _saturated_fiml_engine(gd, names)
    for cov, mean in ((gd.cov, gd.mean), (gd.cov * 1.1, gd.mean + 0.1)):
        theta = np.array([cov[i, j] for j in range(p) for i in range(j, p)] + list(mean))
        np.testing.assert_allclose(saturated_fiml_information(gd.patterns, cov, mean, gd.n), eng.hessian(theta),
                                   atol=1e-8, rtol=0)


@pytest.mark.parametrize("complete", [True, False])
def test_saturated_scores_in_closed_form_equal_the_engines(complete):
    """vccscale.sem.robust.saturated_casewise_scores (the saturated model's casewise scores behind lavaan's h1
    first-order information with missing = "ml") equals the general FIML casewise scores of a saturated model
    (FIMLEngine.casewise_scores with dSigma / dmu derivatives) to 1e-12 of the largest score: data with missing
    answers (rows missing 1 to 4 variables, complete rows as moments) and complete data; at the EM moments and at
    other moments."""
    import numpy as np

    from vccscale.sem.fit import prepare_groups
    from vccscale.sem.robust import saturated_casewise_scores

    d = pd.read_csv(reference_path(REF / "hs_mar.csv"))
    names = ["x1", "x2", "x3", "x4", "x5", "x6"]
    if complete:
        d = d[names].dropna()
    gd = prepare_groups(d, names, None, missing="fiml")[0][0]
    p = len(names)
    eng = _saturated_fiml_engine(gd, names)
    for cov, mean in ((gd.cov, gd.mean), (gd.cov * 1.1 + 0.05, gd.mean + 0.1)):
        theta = np.array([cov[i, j] for j in range(p) for i in range(j, p)] + list(mean))
        ref = eng.casewise_scores(theta)[0]
        got = saturated_casewise_scores(gd, cov, mean)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    assert complete or np.isnan(gd.X).any()


def test_saturated_fiml_information_routes_agree(monkeypatch):
    """Gathered per pattern or summed as Kronecker products (in batches), the saturated model's information is the
    same matrix to 1e-13 of its largest entry: 14 variables, 200 rows, about 150 patterns missing 0 to 8 of them."""
    import functools

    import numpy as np

    from vccscale.sem import robust
    from vccscale.sem.fit import _saturated_em

    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 14)) + rng.normal(size=(200, 14))
    X[rng.random(X.shape) < rng.uniform(0, 0.4, size=(200, 1))] = np.nan
    pats, em = _saturated_em(X)
    got = {}
    kron = robust._kron_blocks
    for route, ratio, batch in (("gathers", 1e-12, 256), ("sums", 1e12, 256), ("batches", 1e12, 16)):
        monkeypatch.setattr(robust, "KRON_RATIO", ratio)
        monkeypatch.setattr(robust, "_kron_blocks", functools.partial(kron, batch=batch))
        got[route] = robust.saturated_fiml_information(pats, em.cov, em.mean, len(X))
    assert len(pats) > 100
    scale = np.abs(got["gathers"]).max()
    for route in ("sums", "batches"):
        np.testing.assert_allclose(got[route], got["gathers"], rtol=0, atol=1e-13 * scale)


def test_complete_h1_operator_equals_the_matrix():
    """fiml_corrected's Wc as an operator (1/2 D'(W x W)D applied as W X W per column, W for the means) equals the
    explicit matrix of _complete_h1_information (closed form, lavaan's lav_mvnorm_h1_information_observed) on the
    kept moments, with the zeroed rows and columns of random covariates, two groups and weights; to 1e-12."""
    from vccscale.sem.robust import _CompleteH1, _complete_h1_information, _vech_lavaan

    rng = np.random.default_rng(3)
    p = 7
    covs = []
    for _ in range(2):
        A = rng.standard_normal((p, 2 * p))
        covs.append(A @ A.T / (2 * p) + 0.5 * np.eye(p))
    r, c = _vech_lavaan(p)
    xi = np.array([5, 6])          # two covariates: their x-x moments dropped (fixed.x) ...
    keep = np.concatenate([~(np.isin(r, xi) & np.isin(c, xi)), ~np.isin(np.arange(p), xi)])
    zero = np.concatenate([np.isin(r, [4]) & np.isin(c, [4]), np.arange(p) == 4])[keep]  # ... one random: zeroed
    fg = [0.4, 0.6]
    op = _CompleteH1(covs, fg, keep, zero)
    blocks = []
    for f, cov in zip(fg, covs):
        W1 = _complete_h1_information(cov)[np.ix_(keep, keep)]
        W1[zero, :] = 0.0
        W1[:, zero] = 0.0
        blocks.append(f * W1)
    k = int(keep.sum())
    dense = np.zeros((2 * k, 2 * k))
    dense[:k, :k], dense[k:, k:] = blocks
    np.testing.assert_allclose(op.dense(), dense, rtol=0, atol=0)
    X = rng.standard_normal((2 * k, 9))
    np.testing.assert_allclose(op.times(X), dense @ X, rtol=1e-12, atol=1e-12)
    # group by group, unweighted, in pieces of columns (many columns: the chunked path)
    Y = rng.standard_normal((k, 50_000))
    np.testing.assert_allclose(op.group_times(1, Y), blocks[1] / fg[1] @ Y, rtol=1e-12, atol=1e-11)


def test_root_solve_is_shared_and_equals_a_fresh_solve():
    from vccscale.sem.robust import H1Info

    rng = np.random.default_rng(4)
    R = rng.standard_normal((40, 6))
    A = R.T @ R / 40 + np.eye(6)
    item = H1Info(A, R.T @ R, R)
    keep = np.array([True, True, False, True, True, True])
    got = item.root_solve(keep)
    np.testing.assert_allclose(got, np.linalg.solve(A[np.ix_(keep, keep)], R[:, keep].T), rtol=1e-12)
    assert item.root_solve(keep) is got
