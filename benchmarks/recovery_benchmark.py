"""Parameter recovery of the FULL family models (run on demand: python benchmarks/recovery_benchmark.py [--reps 5]).

For each family A-D, the structural model the model library generates from the registry for all of the family's
hypotheses (vccscale.models.family_models) becomes a population model: every loading .7, every labelled
structural path .3, formative (MIMIC) causes .2. Data (n = 2000) are simulated with lavaan's simulateData
conventions and the model is refitted; the table reports convergence, time per fit and the mean absolute bias of
paths and loadings (raw scale) over the replicates. The reduced four-construct chains of every family are the
test in tests/test_power.py (|bias| < .02).
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def population(syntax: str) -> str:
    out = []
    for line in syntax.splitlines():
        s = line.strip()
        if not s or s.startswith("#") or ":=" in s:
            out.append(line)
            continue
        lhs, op, rhs = re.split(r"\s*(=~|~~|~)\s*", s, maxsplit=1)
        terms = [t.strip() for t in rhs.split("+")]
        if op == "=~":
            terms = [f"0.7*{t.split('*')[-1]}" for t in terms]
        elif op == "~":
            terms = [(f"{t.split('*')[0]}*0.3*{t.split('*')[-1]}" if "*" in t else f"0.2*{t}") for t in terms]
        out.append(f"{lhs} {op} " + " + ".join(terms))
    return "\n".join(out)


def main() -> None:
    from vccscale.models import family_models
    from vccscale.registry import load_registry
    from vccscale.sem import fit_sem
    from vccscale.simulate import analysis_model, simulate_data

    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--families", nargs="*", default=["A", "B", "C", "D"])
    args = ap.parse_args()
    models = family_models(load_registry(REPO / "instruments"))
    print(f"{'family':6s} {'variables':>9s} {'free':>5s} {'converged':>9s} {'s/fit':>7s} {'|bias| paths':>12s} "
          f"{'|bias| loadings':>15s}")
    for fam in args.families:
        pop = population(models[fam].syntax)
        ana = analysis_model(pop)
        ok, secs, bp, bl = 0, [], [], []
        nvar = npar = 0
        for s in np.random.SeedSequence(7).spawn(args.reps):
            data = simulate_data(pop, args.n, seed=s)
            nvar = data.shape[1]
            t = time.perf_counter()
            try:
                est = fit_sem(data, ana).estimates
            except Exception as exc:  # noqa: BLE001 - a benchmark reports failures instead of stopping
                print(f"  {fam}: fit failed ({type(exc).__name__}: {str(exc)[:100]})")
                continue
            secs.append(time.perf_counter() - t)
            ok += 1
            npar = int(est["se"].notna().sum())
            paths = est[(est.op == "~") & est.label.astype(str).str.match(r"^p\d+$")]
            lam = est[(est.op == "=~") & (est.se > 0)]
            bp.append(float((paths.est - 0.3).abs().mean()) if len(paths) else float("nan"))
            bl.append(float((lam.est - 0.7).abs().mean()))
        print(f"{fam:6s} {nvar:9d} {npar:5d} {ok:4d}/{args.reps:<4d} {np.mean(secs) if secs else float('nan'):7.2f} "
              f"{np.nanmean(bp) if bp else float('nan'):12.4f} {np.mean(bl) if bl else float('nan'):15.4f}")


if __name__ == "__main__":
    main()
