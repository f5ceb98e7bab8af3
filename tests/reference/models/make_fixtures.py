"""Write the simulated data and the generated model for the R reference scripts (run from the repository root):

    python tests/reference/models/make_fixtures.py
    Rscript tests/reference/models/lavaan_reference.R
    Rscript tests/reference/models/p_adjust_reference.R
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parents[2])]

from test_hypothesis_tests import sim_hypotheses, simulate

from vccscale.models import build_model
from vccscale.registry import load_registry

reg = load_registry(HERE.parents[2] / "instruments")
data = simulate(reg)
data.to_csv(HERE / "sim_family_a.csv", index=False, float_format="%.17g")
spec = build_model(reg, [sim_hypotheses()["H108"]], columns=data.columns)
(HERE / "sim_family_a_model.lav").write_text(spec.syntax)
