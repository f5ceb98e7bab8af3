"""Issue 15 (internals): the call sites whose implementation was unified give the numbers they gave before.

tests/reference/unification/golden.json was written by make_golden.py with the code before the unification
(path-model machinery moved out of mediation.py, EFA core made public, the SEM refit API used by latent
mediation, one chi-square difference test, one scale score, one JSON cleaner); here the same public calls are
made again and compared with it (relative 1e-12)."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "reference" / "unification"


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
