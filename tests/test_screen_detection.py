"""The default careless-responding rule (vccscale.clean.indices.default_flags) on simulated survey data.

400 attentive respondents answer 30 seven-point items in 3 scales of 10 (a 3-factor model, factor
correlations .3, loadings .7, two reverse-keyed items per scale left un-reversed as in raw data); 20
straight-liners and 20 uniform random responders are added. The combined rule must flag at least 90 % of
the injected cases and at most 5 % of the attentive ones. The thresholds were fixed a priori (see the
default_flags docstring) and not tuned; the simulation was explored on seeds 1-40 only, and this test uses
seed 20240611.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vccscale.clean import indices as ix

TEST_SEED = 20240611
N_ATTENTIVE, N_STRAIGHT, N_RANDOM = 400, 20, 20
N_SCALES, PER_SCALE = 3, 10
REVERSED = (3, 8)  # positions (0-based) of the reverse-keyed items within each scale
CUTS = [-1.8, -1.1, -0.4, 0.4, 1.1, 1.8]  # latent (variance 1) -> 1..7


def simulate(seed: int) -> tuple[pd.DataFrame, np.ndarray, list[list[str]], list[int]]:
    """(responses, truth: True = injected careless case, blocks, factor lengths)."""
    rng = np.random.default_rng(seed)
    p = N_SCALES * PER_SCALE
    phi = np.full((N_SCALES, N_SCALES), 0.3)
    np.fill_diagonal(phi, 1.0)
    eta = rng.standard_normal((N_ATTENTIVE, N_SCALES)) @ np.linalg.cholesky(phi).T
    scale_of = np.repeat(np.arange(N_SCALES), PER_SCALE)
    reverse = np.tile(np.isin(np.arange(PER_SCALE), REVERSED), N_SCALES)
    loading = np.where(reverse, -0.7, 0.7)
    # items differ in level (agreement with regular items, disagreement with reverse-keyed ones)
    intercept = rng.uniform(0.2, 0.8, p) * np.where(reverse, -1.0, 1.0)
    latent = (intercept + eta[:, scale_of] * loading
              + rng.standard_normal((N_ATTENTIVE, p)) * np.sqrt(1 - 0.7 ** 2))
    attentive = np.digitize(latent, CUTS) + 1.0
    straight = np.repeat(rng.integers(1, 8, N_STRAIGHT)[:, None], p, axis=1).astype(float)
    random = rng.integers(1, 8, (N_RANDOM, p)).astype(float)
    x = np.vstack([attentive, straight, random])
    truth = np.r_[np.zeros(N_ATTENTIVE, bool), np.ones(N_STRAIGHT + N_RANDOM, bool)]
    cols = [f"s{s + 1}_{j + 1:02d}" for s in range(N_SCALES) for j in range(PER_SCALE)]
    blocks = [cols[s * PER_SCALE:(s + 1) * PER_SCALE] for s in range(N_SCALES)]
    return pd.DataFrame(x, columns=cols), truth, blocks, [PER_SCALE] * N_SCALES


@pytest.fixture(scope="module")
def screened():
    x, truth, blocks, factors = simulate(TEST_SEED)
    return x, truth, ix.default_flags(x, blocks, factors)


def test_simulated_data_look_like_survey_data(screened):
    x, truth, _ = screened
    att = x[~truth]
    assert att.min(axis=None) == 1 and att.max(axis=None) == 7
    r = att.corr().to_numpy()
    within = r[:PER_SCALE, :PER_SCALE][np.triu_indices(PER_SCALE, 1)]
    assert (within > 0.2).sum() > 20 and (within < -0.2).sum() >= 10     # reverse-keyed items un-reversed


def test_flag_frame_shape(screened):
    x, _, flags = screened
    assert list(flags.columns) == ["longstring", "mahalanobis", "irv_low", "even_odd", "person_total", "missing",
                                   "any"]
    assert flags.index.equals(x.index)
    assert all(flags[c].dtype == bool for c in flags.columns)
    assert flags["any"].equals(flags[list(ix.DEFAULT_ANY)].any(axis=1))
    assert not flags["even_odd"].any()              # 3 scales: below the 6-scale minimum for even-odd


def test_combined_rule_detects_injected_cases(screened):
    _, truth, flags = screened
    hit = flags["any"][truth].mean()
    false_alarm = flags["any"][~truth].mean()
    print(f"injected flagged {hit:.3f}, attentive flagged {false_alarm:.4f}")
    assert hit >= 0.90
    assert false_alarm <= 0.05


def test_each_kind_of_careless_case_is_caught_by_its_index(screened):
    _, truth, flags = screened
    straight = flags[truth].iloc[:N_STRAIGHT]
    random = flags[truth].iloc[N_STRAIGHT:]
    assert straight["longstring"].all() and straight["irv_low"].all()
    assert random["mahalanobis"].mean() >= 0.85


def test_person_total_separates_random_from_attentive_on_average(screened):
    x, truth, _ = screened
    pt = ix.person_total(x)
    assert pt[:N_ATTENTIVE].median() > 0.3
    assert abs(pt[N_ATTENTIVE + N_STRAIGHT:].median()) < 0.2
    assert pt[N_ATTENTIVE:N_ATTENTIVE + N_STRAIGHT].isna().all()        # constant responses


def test_thresholds_can_be_overridden(screened):
    x, truth, _ = screened
    blocks = [list(x.columns[i:i + PER_SCALE]) for i in range(0, x.shape[1], PER_SCALE)]
    strict = ix.default_flags(x, blocks, [PER_SCALE] * N_SCALES, thresholds={"mahalanobis_confidence": 0.9999999},
                              any_of=["mahalanobis"])
    assert strict["any"].equals(strict["mahalanobis"])
    with pytest.raises(ValueError):
        ix.default_flags(x, blocks, None, thresholds={"nope": 1})
