"""Golden numbers of the call sites unified in issue 15 (internals), computed with the code BEFORE the
unification (commit ca75eda, main before the merge of the unification) and compared by tests/test_unification.py after it: the old public call sites must
give identical numbers.

Run from the repository root: ``PYTHONPATH=. python tests/reference/unification/make_golden.py``. Everything here
is a public call; ``golden()`` is imported by the test so that both compute exactly the same things.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REF = HERE.parent


def _frame(df: pd.DataFrame) -> list:
    return json.loads(df.to_json(orient="records", double_precision=15))


def golden() -> dict:
    from vccscale.models import mediate, mediate_latent, moderated_mediation, simple_slopes
    from vccscale.models.ordinal import ordinal_regression
    from vccscale.models.rsa import rsa
    from vccscale.models.multilevel import icc, multilevel_summary
    from vccscale.sem import fit_cfa
    from vccscale.sem.score import partial_invariance
    from vccscale.validate import harman_single_factor, omega
    from vccscale.validate.invariance import difference_test, invariance
    from vccscale.validate.validity import common_method
    from vccscale.clean.scoring import scale_score

    out: dict = {}
    med = pd.read_csv(REF / "models" / "mediation_data.csv")
    lat = pd.read_csv(REF / "models" / "latent_data.csv")
    # --- composite path models (mediation.py / moderation.py -> pathmodel.py)
    r = mediate(med, "x", ["m1", "m2"], "y", covariates=["cv"], n_boot=300, ci="bca", seed=3, n_mc=300)
    out["mediate_parallel"] = _frame(r.effects)
    out["mediate_parallel_coef"] = _frame(r.coefficients)
    r = mediate(med, "x", ["m1", "m2"], "y", serial=True, n_boot=200, ci="bc", seed=4, n_mc=200)
    out["mediate_serial"] = _frame(r.effects)
    out["mediate_serial_reading"] = r.mediation
    for stage in ("first", "second"):
        mm = moderated_mediation(med, "x", "m1", "y", "w", stage=stage, covariates=["cv"], n_boot=200, seed=5,
                                 n_mc=200)
        out[f"modmed_{stage}"] = _frame(mm.effects)
        out[f"modmed_{stage}_cond"] = _frame(mm.conditional)
    out["simple_slopes"] = _frame(simple_slopes(med, "x", "w", "y", covariates=["cv"]))
    # --- latent mediation (FitResult internals -> vccscale.sem refit API; chi-square difference)
    meas = {"X": ["x1", "x2", "x3"], "M": ["m1", "m2", "m3"], "Y": ["y1", "y2", "y3"]}
    r = mediate_latent(lat.iloc[:200], meas, "X", "M", "Y", n_boot=12, seed=6, n_mc=300, n_jobs=1, progress=False)
    out["mediate_latent"] = _frame(r.effects)
    out["mediate_latent_reading"] = {k: v for k, v in r.mediation.items()}
    r = mediate_latent(lat.iloc[:120], meas, "X", "M", "Y", n_boot=8, ci="bca", seed=7, n_mc=0, n_jobs=1,
                       progress=False, compare_full=False)
    out["mediate_latent_bca"] = _frame(r.effects)
    # --- EFA core used by reliability / validity (efa.py private -> public)
    bfi = pd.read_csv(REF / "validate" / "bfi.csv")
    items = [f"{c}{i}" for c in "ACENO" for i in range(1, 6)]
    out["omega_psych_1"] = omega(bfi, items[:5]).to_dict()
    out["omega_psych_3"] = omega(bfi, items[:15], n_factors=3).to_dict()
    out["omega_psych_2_ml"] = omega(bfi, items[:10], n_factors=2, fm="ml").to_dict()
    out["omega_cfa"] = omega(bfi, items[:5], method="cfa").to_dict()
    out["harman"] = {m: harman_single_factor(bfi, items, method=m).share for m in ("pca", "minres", "ml", "principal")}
    # --- chi-square difference (invariance / score / mediation)
    hs = pd.read_csv(REF / "validate" / "HolzingerSwineford1939.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    for est in ("ML", "MLR"):
        inv = invariance(hs, model, "school", estimator=est)
        out[f"invariance_{est}"] = _frame(inv.tests)
        out[f"invariance_{est}_fit"] = {lv: {k: v for k, v in f.fit.items()} for lv, f in inv.fits.items()}
        out[f"difference_{est}"] = difference_test(inv.fits["scalar"], inv.fits["metric"], est, 2)
        part = partial_invariance(hs, model, "school", level="scalar", estimator=est)
        out[f"partial_{est}_steps"] = _frame(part.steps)
        out[f"partial_{est}_freed"] = _frame(part.freed)
    # --- scale scores (scoring.py, the pipeline's reliability stage, common-method marker scores)
    sc = bfi[items].astype(float)
    blocks = {c: [f"{c}{i}" for i in range(1, 6)] for c in "ACE"}
    out["scale_score"] = {c: scale_score(None, c, sc, 0.6, blocks={c: its})[0].tolist() for c, its in blocks.items()}
    out["scale_score_composite"] = scale_score(None, "AC", sc, 0.5, blocks={"A": blocks["A"], "C": blocks["C"]}
                                               )[0].tolist()
    cm = common_method(bfi, blocks, marker=["O1", "O2", "O3"], min_answered=0.6)
    out["common_method_marker"] = _frame(cm.marker) if getattr(cm, "marker", None) is not None else None
    out["common_method"] = cm.to_dict() if hasattr(cm, "to_dict") else None
    # --- JSON cleaners
    fit = fit_cfa(hs, model, estimator="MLR")
    out["fit_to_dict"] = fit.to_dict()
    rd = pd.read_csv(REF / "rsa" / "rsa_data.csv")
    out["rsa_to_dict"] = rsa(rd, "X", "Y", "Z", scale_min=1, scale_max=7).to_dict()
    od = pd.read_csv(REF / "ordinal" / "ordinal_data.csv")
    out["ordinal_to_dict"] = ordinal_regression(od, "stage", ["x1", "x2"]).to_dict()
    ml = pd.read_csv(REF / "multilevel" / "multilevel_data.csv")
    out["multilevel_summary"] = multilevel_summary(ml, "g", ["a1", "a2", "a3", "a4", "a5"], 1, 5)
    out["icc_to_dict"] = icc(ml, "g", "x").to_dict()
    return out


def normalise(obj):
    """What json.dumps / json.loads makes of ``obj`` (NaN kept as a string, so that golden files compare)."""
    def fix(v):
        if isinstance(v, dict):
            return {str(k): fix(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        if isinstance(v, (np.bool_, bool)):
            return bool(v)
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating, float)):
            f = float(v)
            return f if math.isfinite(f) else repr(f)
        if isinstance(v, np.ndarray):
            return fix(v.tolist())
        if isinstance(v, pd.DataFrame):
            return fix(v.to_dict(orient="records"))
        if isinstance(v, pd.Series):
            return fix(v.to_dict())
        if v is None or isinstance(v, (str, int)):
            return v
        return str(v)

    return fix(obj)


if __name__ == "__main__":
    g = normalise(golden())
    (HERE / "golden.json").write_text(json.dumps(g, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print("wrote", HERE / "golden.json", len(g), "entries")
