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


def test_study_distribution_functions_match_r():
    """The functions that replace scipy.stats in the models, validation and cleaning (R 4 values)."""
    assert _dist.t_sf(2.1, 7) == pytest.approx(0.03693559811, rel=1e-9)           # pt(2.1, 7, lower = FALSE)
    assert _dist.t_ppf(0.975, 12) == pytest.approx(2.17881282967, rel=1e-10)      # qt(0.975, 12)
    assert _dist.f_sf(3.2, 3, 40) == pytest.approx(0.03342118072, rel=1e-9)       # pf(3.2, 3, 40, lower = FALSE)
    assert _dist.norm_cdf(-1.3) == pytest.approx(0.09680048459, rel=1e-9)         # pnorm(-1.3)
    assert _dist.chi2_ppf(0.99, 20) == pytest.approx(37.56623478663, rel=1e-11)   # qchisq(0.99, 20)
    # below the support, as R (and scipy.stats): pchisq(-1, 3, lower = FALSE) = pf(-1, ...) = 1, pchisq(-1, 3) = 0
    assert _dist.chi2_upper(-1.0, 3) == 1.0 and _dist.f_sf(-1.0, 2, 3) == 1.0 and _dist.chi2_cdf(-1.0, 3) == 0.0


def test_same_values_as_scipy_stats():
    """Each replacement gives scipy.stats' value to the last bit (the same special functions underneath), NaN
    where scipy.stats gives NaN; so replacing the import changed no reported number."""
    np = pytest.importorskip("numpy")
    stats = pytest.importorskip("scipy.stats")
    x = np.concatenate([np.linspace(-8, 8, 401), [0.0, np.inf, -np.inf, np.nan]])
    q = np.concatenate([np.linspace(0.0005, 0.9995, 401), [0.0, 1.0, np.nan]])
    pos = np.concatenate([np.linspace(0, 80, 401), [np.inf, np.nan]])
    for df in (0.5, 1, 2.5, 7, 30, 1000, np.inf, 0, -1, np.nan):
        np.testing.assert_array_equal(_dist.t_sf(x, df), stats.t.sf(x, df))
        np.testing.assert_array_equal(_dist.t_ppf(q, df), stats.t.ppf(q, df))
        if np.isfinite(df):
            np.testing.assert_array_equal(_dist.chi2_upper(x, df), stats.chi2.sf(x, df))
            if df > 0:  # (chi2_cdf, of the fit path, keeps chdtr's point mass at 0 for df = 0)
                np.testing.assert_array_equal(_dist.chi2_cdf(x, df), stats.chi2.cdf(x, df))
            np.testing.assert_array_equal(_dist.chi2_ppf(q, df), stats.chi2.ppf(q, df))
            np.testing.assert_array_equal(_dist.f_sf(pos, df, 40), stats.f.sf(pos, df, 40))
            np.testing.assert_array_equal(_dist.f_sf(x, 3, df), stats.f.sf(x, 3, df))
    np.testing.assert_array_equal(_dist.norm_cdf(x), stats.norm.cdf(x))
    np.testing.assert_array_equal(_dist.norm_sf(x), stats.norm.sf(x))
    np.testing.assert_array_equal(_dist.norm_ppf(q), stats.norm.ppf(q))
    for df, ncp in ((5, 3.2), (24, 10.0), (1, 0.5), (60, 80.0)):
        np.testing.assert_allclose(_dist.ncx2_cdf(pos, df, ncp), stats.ncx2.cdf(pos, df, ncp), rtol=1e-13,
                                   atol=1e-300)
