"""Issue 15 (internals): the call sites whose implementation was unified give the numbers they gave before.

tests/fixtures/unification/golden.json was written by make_golden.py with the code before the unification
(path-model machinery moved out of mediation.py, EFA core made public, the SEM refit API used by latent
mediation, one chi-square difference test, one scale score, one JSON cleaner); here the same public calls are
made again and compared with it (relative 1e-12). The golden file was re-written three times, at issue 20's changes
of the estimator's last phase and of the inverses (see make_golden.py: differences within the convergence tolerance)."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "fixtures" / "unification"


def _load():
    spec = importlib.util.spec_from_file_location("make_golden", HERE / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _same(a, b, where="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = [f"{where}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        for k in set(a) & set(b):
            diffs += _same(a[k], b[k], f"{where}.{k}")
        return diffs
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _same(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return [] if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-14) else [f"{where}: {a!r} != {b!r}"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


@pytest.fixture(scope="module")
def now_and_then():
    mod = _load()
    then = json.loads((HERE / "golden.json").read_text(encoding="utf-8"))
    now = json.loads(json.dumps(mod.normalise(mod.golden()), sort_keys=True))
    # keys added to FitResult.to_dict() after the golden numbers were written (the optional semopy engine; lavaan's
    # se / test names and the cluster of a cluster-robust fit)
    for k in ("engine", "engine_info", "se", "test", "cluster", "n_clusters"):
        now.get("fit_to_dict", {}).pop(k, None)
    return now, then


@pytest.mark.parametrize("key", sorted(json.loads((HERE / "golden.json").read_text(encoding="utf-8"))))
def test_unified_call_sites_give_the_old_numbers(now_and_then, key):
    now, then = now_and_then
    assert key in now
    diffs = _same(now[key], then[key], key)
    assert not diffs, "\n".join(diffs[:20])


def test_refitter_is_the_public_resampling_of_a_fit():
    """vccscale.sem.Refitter: refitting on all cases gives back the estimates; FIML and multi-group fits are
    refused; it pickles (joblib workers)."""
    import pickle

    import numpy as np
    import pandas as pd

    from vccscale.errors import ModelError
    from vccscale.sem import Refitter, fit_cfa

    hs = pd.read_csv(Path(__file__).parent / "reference" / "validate" / "HolzingerSwineford1939.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6"
    fit = fit_cfa(hs, model)
    rf = pickle.loads(pickle.dumps(Refitter(fit)))
    assert rf.n == 301
    np.testing.assert_allclose(rf(np.arange(rf.n)), fit.row_values(), rtol=1e-6, atol=1e-8)
    assert np.allclose(fit.row_values(fit.theta[None])[0], fit.row_values())
    with pytest.raises(ModelError):
        Refitter(fit_cfa(hs, model, group="school"))


def test_one_json_cleaner_gives_what_the_old_cleaners_gave():
    """vccscale.jsonsafe.jsonable replaces pipeline.context.clean_json, cli._jsonable, rsa._clean, the to_dict
    cleaners of FitResult / PowerResult / OrdinalResult and multilevel._py: on values those handled it returns what
    they returned (clean_json: with its rounding), and everything it returns is strict JSON."""
    import numpy as np
    import pandas as pd

    from vccscale.jsonsafe import jsonable, snake_keys
    from vccscale.pipeline.context import clean_json

    def old_clean_json(v, digits):  # pipeline/context.py before issue 15
        if isinstance(v, dict):
            return {str(k): old_clean_json(x, digits) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [old_clean_json(x, digits) for x in v]
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            f = float(v)
            return None if not math.isfinite(f) else float(f"{f:.{digits}g}")
        if isinstance(v, Path):
            return v.as_posix()
        if v is None or isinstance(v, str):
            return v
        if pd.isna(v):
            return None
        return str(v)

    def old_cli(obj):  # cli._jsonable before issue 15
        if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
            return None
        if isinstance(obj, dict):
            return {str(k): old_cli(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [old_cli(v) for v in obj]
        if isinstance(obj, Path):
            return str(obj)
        return obj

    def old_sem(x):  # FitResult.to_dict's clean before issue 15
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, (np.floating, np.integer)):
            return old_sem(x.item())
        return x

    sample = {"a": 1.23456789012345, "b": float("nan"), "c": [np.float64(2.5), np.inf, -np.inf, (1, "x")],
              3: {"d": np.int64(7), "e": np.bool_(True), "f": None, "g": Path("x/y.csv"), "h": pd.NA, "i": pd.NaT},
              "j": True, "k": np.float32(0.1), "l": "text"}
    for digits in (3, 8, 15):
        assert clean_json(sample, digits) == old_clean_json(sample, digits)
        assert jsonable(sample, digits) == old_clean_json(sample, digits)
    plain = {"a": 1.5, "b": float("nan"), "c": [float("inf"), 2, "s", None, True], 4: Path("p/q")}
    assert jsonable(plain) == old_cli(plain)
    for x in (np.float64(0.3), np.int32(4), float("nan"), np.float64("inf"), 1.0, 2, "s", None):
        assert jsonable(x) == old_sem(x) and type(jsonable(x)) is type(old_sem(x))
    # where the old cleaners let a value through that json cannot write, the one cleaner converts it
    assert type(jsonable(np.bool_(False))) is bool and jsonable(np.int64(3)) == 3 and jsonable({1}) == "{1}"
    json.dumps(jsonable(sample), allow_nan=False)
    assert snake_keys({"rmsea.ci.lower": 1, "cfi": 2}) == {"rmsea_ci_lower": 1, "cfi": 2}


def test_one_chisq_difference_behind_invariance_partial_invariance_and_mediation():
    """vccscale.sem.chisq_difference (lavTestLRT's methods) is what difference_test, the partial-invariance search
    and mediate_latent report; the golden numbers above pin them to the old implementations."""
    import pandas as pd

    from vccscale.sem import chisq_difference, fit_cfa
    from vccscale.validate.invariance import difference_test

    hs = pd.read_csv(Path(__file__).parent / "reference" / "validate" / "HolzingerSwineford1939.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    golden = json.loads((HERE / "golden.json").read_text(encoding="utf-8"))
    for est, method in (("ML", "standard"), ("MLR", "satorra.bentler.2001")):
        scalar, metric = (fit_cfa(hs, model, estimator=est, group="school", group_equal=eq)
                          for eq in (["loadings", "intercepts"], ["loadings"]))
        d = chisq_difference(scalar, metric, method)
        assert d == chisq_difference(scalar, metric, estimator=est)
        full = difference_test(scalar, metric, est, 2)
        assert {k: full[k] for k in d} == d
        assert not _same(json.loads(json.dumps(d)), {k: golden[f"difference_{est}"][k] for k in d})
        assert math.isnan(chisq_difference(metric, scalar, method)["pvalue"])  # wrong order: no test
    with pytest.raises(ValueError):
        chisq_difference(scalar, metric, "satorra.2000")


def test_one_block_score_behind_every_scale_mean():
    """clean.scoring.block_score is the item mean of scale_score, the pipeline's reliability stage, the
    common-method marker scores, cross-loadings and the multilevel scale means: it equals each of their old
    inline formulas (bit for bit)."""
    import numpy as np
    import pandas as pd

    from vccscale.clean.scoring import block_score

    bfi = pd.read_csv(Path(__file__).parent / "reference" / "validate" / "bfi.csv")
    x = bfi[["A1", "A2", "A3", "A4", "A5"]]
    for share in (0.5, 0.6, 1.0):
        new = block_score(x, share)
        xf = x.astype(float)  # stages.stage_reliability
        need = math.ceil(share * 5 - 1e-9)
        pd.testing.assert_series_equal(new, xf.mean(axis=1).where(xf.notna().sum(axis=1) >= need))
        xn = x.apply(pd.to_numeric, errors="coerce")  # validity.common_method
        assert np.array_equal(new.to_numpy(), xn.mean(axis=1).where(xn.notna().sum(axis=1) >= need).to_numpy(),
                              equal_nan=True)
    complete = x.dropna()  # cross_loadings, multilevel: complete cases, plain mean
    pd.testing.assert_series_equal(block_score(complete), complete.mean(axis=1))
    pd.testing.assert_series_equal(block_score(x, 1 / 5), x.mean(axis=1, skipna=True))  # alpha's item-total score


def test_one_figure_saver_deterministic_bytes(tmp_path):
    """RSA plots and the power curve are written by report.figures.save_figure (as NCA plots and the pipeline's
    figures): the same input gives the same bytes, without dates or software versions in the files."""
    from types import SimpleNamespace

    import pandas as pd

    from vccscale.models.rsa import contour_plot, rsa
    from vccscale.simulate.power import power_curve_plot

    rd = pd.read_csv(Path(__file__).parent / "reference" / "rsa" / "rsa_data.csv")
    fit = rsa(rd, "X", "Y", "Z", scale_min=1, scale_max=7)
    a = contour_plot(fit, tmp_path / "a" / "c")
    b = contour_plot(fit, tmp_path / "b" / "c")
    res = SimpleNamespace(targets=["t"], alpha=0.05, reps=10,
                          table=pd.DataFrame({"target": ["t", "t"], "n": [100, 200], "power": [0.5, 0.8],
                                              "mcse": [0.05, 0.04]}))
    p = [power_curve_plot(res, tmp_path / d / "p.svg") for d in ("a", "b")]
    q = [power_curve_plot(res, tmp_path / d / "p.png") for d in ("a", "b")]
    for x, y in [*zip(a, b), p, q]:
        bx = Path(x).read_bytes()
        assert bx == Path(y).read_bytes()
        assert b"<dc:date>" not in bx and b"Matplotlib v" not in bx


def test_fit_measures_keep_lavaans_names_inside_and_snake_case_only_in_json():
    """InvarianceResult.fit_table uses lavaan's measure names (as FitResult.fit and the measurement tables);
    its to_dict (the CLI's JSON) keeps the snake_case keys it always had."""
    import pandas as pd

    from vccscale.validate.invariance import FIT_KEYS, ROBUST_KEYS, invariance

    hs = pd.read_csv(Path(__file__).parent / "reference" / "validate" / "HolzingerSwineford1939.csv")
    res = invariance(hs, "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6", "school", estimator="MLR",
                     levels=("configural", "metric"))
    assert list(res.fit_table().columns) == list(FIT_KEYS + ROBUST_KEYS)
    d = res.to_dict()
    assert set(d["metric"]) == {k.replace(".", "_") for k in FIT_KEYS + ROBUST_KEYS}
    assert d["metric"]["chisq_scaling_factor"] == res.fits["metric"].fit["chisq.scaling.factor"]
