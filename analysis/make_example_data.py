"""Generate the SYNTHETIC example export datasets/example_export.csv (and its truth file) for
analysis/example_study.yaml. No real respondent is in the data: every answer is drawn from a population model.

Run from the repository root (the result is byte-identical for the same seed and package version)::

    python analysis/make_example_data.py            # seed 20261124 (the study seed), n = 360
    python analysis/make_example_data.py --seed 7 --out-dir /tmp/example

Steps:

1. The linear part: ``vccscale.simulate.simulate_data`` draws continuous item responses (item-id columns) from the
   population model ``analysis/example_population.lavaan`` (Diagnosing & Designing drivers -> alignment -> value
   for the customer and the provider, co-destruction, satisfaction, continuation; full mediation, no direct
   driver -> value paths; the four phase-1 VC / VK sub-activities of family B, correlated).
2. Organisation-level variance (in Python; a single-level population model cannot express it): respondents are
   nested in organisations of 4-8 respondents of one side (provider organisations and customer organisations).
   Every organisation gets a random effect u ~ N(0, TAU2) on the three driver latents; it is passed on to
   alignment and the outcomes through the population model's total effects (alignment gets 1.15 u, and so on), so
   the linear model still holds within and between organisations. Each item moves by its loading times the
   latent shift. ICC(1) of a driver latent is TAU2 / (1 + TAU2) = .23 (scale means somewhat lower).
3. The family B congruence outcome (in Python; lavaan syntax cannot express a quadratic surface): VC and VK are
   the standardized means of the continuous responses to the items of the two VC sub-activities and of the two VK
   sub-activities, and the latent phase-1 outcome is ``0.4 * (VC + VK) - 0.25 * (VC - VK)**2 + noise`` (noise
   sd .7), so a response surface analysis shows a1 > 0 (rising along X = Y) and a4 < 0 (falling as VC and VK
   diverge). The four b_p1_outcome items load .75-.80 on it.
4. Every item is cut into 7 categories at fixed thresholds on its z scale (bell shaped, mean about 4.3 and sd
   about 1.4, like fake_export's built-in answers; ``simulate_data(..., ordinal={"points": 7})`` would give
   equal-probability categories instead).
5. ``vccscale.instrument.fake_export`` writes the Qualtrics-format numeric export of the instrument's codebook
   (instruments/build/example_study/codebook.json) with these answers and organisations, and injects the flaws:
   3 survey previews, 1 duplicate submission, 3% speeders, 3% straight-liners, 2% random responders, 3% closed
   partial responses (fake_export's default) and 2% answers missing completely at random.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vccscale.instrument import Codebook, fake_export  # noqa: E402
from vccscale.simulate import population_model, simulate_data  # noqa: E402

SEED = 20261124                   # the study seed (analysis/example_study.yaml)
N = 360                           # respondents before previews and the duplicate (180 provider, 180 customer)
MODEL = REPO / "analysis" / "example_population.lavaan"
CODEBOOK = REPO / "instruments" / "build" / "example_study" / "codebook.json"
OUT_DIR = REPO / "datasets"

TAU2 = 0.30                       # variance of the organisation effect on the driver latents
ORG_SIZES = (4, 8)                # respondents of one side per organisation (inclusive)
DRIVERS = ("ci", "pa", "co")      # latents of the population model shifted by the organisation effect
VC_FACTORS, VK_FACTORS = ("ee", "vpc"), ("ww", "pp")
OUTCOME_ITEMS = {"b_p1_outcome_01": 0.80, "b_p1_outcome_02": 0.75, "b_p1_outcome_03": 0.75,
                 "b_p1_outcome_04": 0.80}
B1, B_QUAD, NOISE_SD = 0.4, -0.25, 0.7
# thresholds on the z scale: categories centred at 4.35 + 1.4 z (fake_export's bell-shaped response model)
THRESHOLDS = [(k + 0.5 - 3.35) / 1.4 for k in range(6)]
SHARES = {"previews": 3, "duplicates": 1, "speeders": 0.03, "straightliners": 0.03, "random_responders": 0.02,
          "missing": 0.02}


def organisations(n: int, rng: np.random.Generator) -> list[str]:
    """Organisation id per respondent: respondent k is a provider for even k and a customer for odd k (fake_export's
    order); each side is split into organisations of ORG_SIZES respondents (P01.., C01..)."""
    out = [""] * n
    for side, prefix in ((0, "P"), (1, "C")):
        members = list(range(side, n, 2))
        at, k = 0, 0
        while at < len(members):
            size = int(rng.integers(ORG_SIZES[0], ORG_SIZES[1] + 1))
            if len(members) - at - size < ORG_SIZES[0]:   # no organisation smaller than the minimum at the end
                size = len(members) - at
            k += 1
            for j in members[at:at + size]:
                out[j] = f"{prefix}{k:02d}"
            at += size
    return out


def total_effects(pm, source: tuple[str, ...]) -> dict[str, float]:
    """Shift of every latent when each ``source`` latent moves by 1 (the sum of paths through the structural
    model; the population model is recursive)."""
    paths = [(r["lhs"], r["rhs"], float(r["value"])) for r in pm.rows if r["op"] == "~"]
    shift = {lv: (1.0 if lv in source else 0.0) for lv in pm.lv_names}
    for _ in range(len(pm.lv_names)):          # fixed point of a recursive system
        for lhs, rhs, b in paths:
            shift[lhs] = sum(bb * shift[r] for ll, r, bb in paths if ll == lhs) + (1.0 if lhs in source else 0.0)
    return shift


def cut(x: np.ndarray) -> np.ndarray:
    z = (x - x.mean()) / x.std()
    return np.searchsorted(np.asarray(THRESHOLDS), z, side="right") + 1


def make_answers(n: int, seed: int) -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    text = MODEL.read_text(encoding="utf-8")
    pm = population_model(text)
    # 1. the linear part (continuous; cut into categories in step 4)
    df = simulate_data(text, n, seed=rng)
    loadings = {(r["lhs"], r["rhs"]): float(r["value"]) for r in pm.rows if r["op"] == "=~"}
    # 2. organisations and their random effect on the drivers, passed on by the total effects
    orgs = organisations(n, rng)
    ids = sorted(set(orgs))
    u = dict(zip(ids, rng.normal(0.0, np.sqrt(TAU2), size=len(ids))))
    u_resp = np.array([u[o] for o in orgs])
    shift = total_effects(pm, DRIVERS)
    for (lv, item), lam in loadings.items():
        if shift.get(lv):
            df[item] = df[item] + lam * shift[lv] * u_resp
    # 3. the congruence outcome of family B phase 1
    def composite(factors):
        cols = [item for (lv, item) in loadings if lv in factors]
        m = df[cols].mean(axis=1)
        return ((m - m.mean()) / m.std()).to_numpy()
    vc, vk = composite(VC_FACTORS), composite(VK_FACTORS)
    outcome = B1 * (vc + vk) + B_QUAD * (vc - vk) ** 2 + rng.normal(0.0, NOISE_SD, size=n)
    outcome = (outcome - outcome.mean()) / outcome.std()
    for item, lam in OUTCOME_ITEMS.items():
        df[item] = lam * outcome + np.sqrt(1 - lam ** 2) * rng.standard_normal(n)
    # 4. 7-point answers
    answers = pd.DataFrame({c: cut(df[c].to_numpy()) for c in df.columns})
    return answers, orgs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--n", type=int, default=N)
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    a = ap.parse_args(argv)
    answers, orgs = make_answers(a.n, a.seed)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    summary = fake_export(Codebook.read(CODEBOOK), n=a.n, seed=a.seed, out=a.out_dir / "example_export.csv",
                          truth=a.out_dir / "example_export.truth.csv", answers=answers, organisations=orgs,
                          **SHARES)
    print(f"wrote {summary['path']}: {summary['rows']} rows, {summary['counts']}, "
          f"{summary['missing_cells']} missing cells (seed {a.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
