"""vccscale.sem._dist: the scipy.special functions the fit path uses instead of scipy.stats, against R 4 values
(printed with 10 significant digits) and a closed-form root."""
import math

import pytest

from vccscale.sem import _dist


def test_distribution_functions_match_r():
    assert _dist.chi2_sf(3.84, 1) == pytest.approx(0.05004352124, rel=1e-9)       # pchisq(3.84, 1, lower = FALSE)
    assert _dist.chi2_cdf(10.0, 5) == pytest.approx(0.9247647539, rel=1e-9)       # pchisq(10, 5)
    assert _dist.chi2_isf(0.05, 1) == pytest.approx(3.841458821, rel=1e-9)        # qchisq(0.95, 1)
    assert _dist.ncx2_cdf(50.0, 24, 10.0) == pytest.approx(0.9436721064, rel=1e-8)  # pchisq(50, 24, ncp = 10)
    assert _dist.norm_sf(1.96) == pytest.approx(0.02499789515, rel=1e-9)          # pnorm(1.96, lower = FALSE)
    assert _dist.norm_ppf(0.975) == pytest.approx(1.959963985, rel=1e-9)          # qnorm(0.975)


def test_root_bisect():
    assert _dist.root_bisect(lambda x: x * x - 2, 0, 2) == pytest.approx(math.sqrt(2), abs=1e-11)
    assert _dist.root_bisect(lambda x: x - 1, 1, 3) == 1.0
    with pytest.raises(ValueError):
        _dist.root_bisect(lambda x: x * x + 1, -1, 1)
