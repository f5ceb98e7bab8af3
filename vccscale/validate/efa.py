"""Exploratory factor analysis on numpy/scipy, reproducing R psych 2.2.9 + GPArotation 2022.10.

Dependency decision: factor_analyzer is not used. Version 0.5.1 calls scikit-learn's
``check_array(force_all_finite=...)``, renamed in scikit-learn 1.6, while pingouin 0.7 needs
scikit-learn >= 1.6.1, so the two cannot be installed together; factor_analyzer also has no parallel analysis
and its R parity tests are loose. Everything here (KMO, Bartlett, parallel analysis, minres/ML/principal-axis
extraction, varimax/promax/oblimin/geomin rotations by gradient projection) is a direct transcription of the
R code, checked against R in ``tests/test_validate_efa.py``.

Public functions (data = DataFrame, items = column names; correlations are pairwise-complete as in psych):

- ``kmo(data, items)`` -> :class:`KMOResult` (psych::KMO: overall MSA and MSA per item).
- ``bartlett(data, items)`` -> :class:`BartlettResult` (psych::cortest.bartlett(R, n) with n = the rows that
  answered at least one item; psych takes nrow(data) on raw data).
- ``parallel_analysis(data, items, n_iter=20, seed=None, method="minres")`` -> :class:`ParallelResult`
  (psych::fa.parallel, fa = "both": simulated normal data and resampled data).
- ``efa(data, items, n_factors, method="minres", rotation="oblimin")`` -> :class:`EFAResult` (psych::fa).
- ``loading_table(result, cut=0.30)``: loadings with |loading| < cut blanked, for display.

Conventions that matter when comparing with R:

- n: rows on which every selected item is missing are not respondents (on a wide export they belong to another
  version) and are left out (``n_rows_without_answers`` of the results); psych counts ``nrow(data)``, which
  enters Bartlett's chi-square, fa's chi-square/RMSEA/TLI/BIC and the size of parallel analysis's simulated
  data sets. On the answered rows the results equal psych's.
- Loadings and factor columns: after rotation each factor's sign is set so its loadings sum to a positive
  value and factors are ordered by the variance they account for (``diag(Phi L'L)``), as psych::fa does.
  psych keeps the pre-ordering labels (``MR1, MR3, MR2``); here the columns are renamed in their final order
  (``MR1, MR2, MR3``).
- ``EFAResult.loadings`` rows are in psych::fa.sort order (items grouped by their largest absolute loading,
  then by its size) unless ``sort=False``. psych's fa.sort indexes the within-factor sort by the position in
  the table of non-empty clusters, which mis-sorts when a factor has no marker item; here each group is sorted
  on its own factor.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize

from .._args import data_first, items_and_n_factors
from ..errors import DataError, ModelError
from ..sem._dist import chi2_cdf, chi2_upper, ncx2_cdf
from ._common import answered_rows, eigh_desc, item_frame, pairwise_cor, rng_from, smc

_EPS = np.finfo(float).eps
Method = Literal["minres", "ml", "principal", "pa"]
Rotation = Literal["oblimin", "quartimin", "varimax", "promax", "geomin", "geominQ", "geominT", "none"]

ORTHOGONAL = {"varimax", "geominT", "none"}
OBLIQUE = {"oblimin", "quartimin", "promax", "geomin", "geominQ"}


# ----------------------------------------------------------------------------------------------------------
# KMO and Bartlett
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KMOResult:
    """Kaiser-Meyer-Olkin measure of sampling adequacy (overall ``msa`` and ``msa_items`` per item)."""

    msa: float
    msa_items: pd.Series

    def to_frame(self) -> pd.DataFrame:
        return pd.concat([self.msa_items.rename("msa"),
                          pd.Series({"overall": self.msa}, name="msa")]).to_frame()

    def to_dict(self) -> dict:
        return {"msa": self.msa, "msa_items": {k: float(v) for k, v in self.msa_items.items()}}


def _kmo_from_r(r: np.ndarray) -> tuple[float, np.ndarray]:
    w = np.linalg.eigvalsh(r)
    if w[0] <= 1e-12 * w[-1]:
        raise DataError("the correlation matrix is singular: KMO needs its inverse (drop redundant items)")
    q = np.linalg.inv(r)
    d = 1 / np.sqrt(np.diag(q))
    a = q * np.outer(d, d)  # anti-image correlations (up to sign, which is squared away)
    np.fill_diagonal(a, 0)
    r0 = r.copy()
    np.fill_diagonal(r0, 0)
    r2, a2 = r0 ** 2, a ** 2
    return float(r2.sum() / (r2.sum() + a2.sum())), r2.sum(axis=0) / (r2.sum(axis=0) + a2.sum(axis=0))


def kmo(data: pd.DataFrame, items: list[str] | None = None) -> KMOResult:
    """Kaiser-Meyer-Olkin MSA: sum r_ij^2 / (sum r_ij^2 + sum q_ij^2) over i != j, with q the anti-image
    (partial) correlations from R^-1; per item the same sums over column j.

    Matches ``psych::KMO(data[items])`` (pairwise-complete Pearson correlations).
    """
    x, _ = answered_rows(item_frame(data, items, what="KMO"))  # KMO does not depend on n
    msa, msai = _kmo_from_r(pairwise_cor(x))
    return KMOResult(msa, pd.Series(msai, index=x.columns, name="msa"))


@dataclass(frozen=True)
class BartlettResult:
    """Bartlett's test that the correlation matrix is an identity matrix."""

    chisq: float
    df: int
    pvalue: float
    n: int
    n_rows_without_answers: int = 0

    def to_dict(self) -> dict:
        return {"chisq": self.chisq, "df": self.df, "pvalue": self.pvalue, "n": self.n,
                "n_rows_without_answers": self.n_rows_without_answers}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()], index=["bartlett"])


def bartlett(data: pd.DataFrame, items: list[str] | None = None, n: int | None = None) -> BartlettResult:
    """Bartlett's sphericity test: chisq = -ln|R| (n - 1 - (2p + 5)/6), df = p(p - 1)/2.

    ``n`` defaults to the number of rows that answered at least one of the items (rows with some answers
    missing count; R is pairwise-complete). ``psych::cortest.bartlett(data[items])`` on raw data takes
    ``nrow(data)``, also counting rows without any answer; on the answered rows the two agree.
    """
    x, n_empty = answered_rows(item_frame(data, items, what="Bartlett's test"))
    r = pairwise_cor(x)
    p = r.shape[0]
    n = len(x) if n is None else int(n)
    sign, logdet = np.linalg.slogdet(r)
    if sign <= 0:
        raise DataError("the correlation matrix is not positive definite: Bartlett's test is undefined")
    chisq = -logdet * (n - 1 - (2 * p + 5) / 6)
    df = p * (p - 1) // 2
    return BartlettResult(float(chisq), int(df), float(chi2_upper(chisq, df)), n, n_empty)


# ----------------------------------------------------------------------------------------------------------
# Extraction (psych:::fac)
# ----------------------------------------------------------------------------------------------------------
def _load_from(vals: np.ndarray, vecs: np.ndarray, nf: int) -> np.ndarray:
    return vecs[:, :nf] * np.sqrt(np.maximum(vals[:nf], 0))


def _minres_fn(psi: np.ndarray, r: np.ndarray, nf: int) -> float:
    """psych fit.residuals (fm = "minres"): sum of squared lower-triangle residuals of R (diag 1 - psi)."""
    s = r.copy()
    np.fill_diagonal(s, 1 - psi)
    w, v = eigh_desc(s)
    w = np.where(w < _EPS, 100 * _EPS, w)
    lam = v[:, :nf] * np.sqrt(w[:nf])
    res = (s - lam @ lam.T)[np.tril_indices(len(psi), -1)]
    return float((res ** 2).sum())


def _minres_gr(psi: np.ndarray, r: np.ndarray, nf: int) -> np.ndarray:
    """psych FAgr.minres: diag(Lambda Lambda' + Psi - R), Lambda from R - Psi (the ULS gradient up to a factor 2)."""
    w, v = eigh_desc(r - np.diag(psi))
    lam = _load_from(w, v, nf)
    return np.diag(lam @ lam.T + np.diag(psi) - r).copy()


def _ml_fn(psi: np.ndarray, r: np.ndarray, nf: int) -> float:
    """psych FAfn (= stats::factanal's criterion)."""
    sc = 1 / np.sqrt(psi)
    e = eigh_desc(r * np.outer(sc, sc))[0][nf:]
    return float(-(np.sum(np.log(e) - e) - nf + r.shape[0]))


def _ml_gr(psi: np.ndarray, r: np.ndarray, nf: int) -> np.ndarray:
    """psych FAgr (= stats::factanal's gradient)."""
    load = _ml_loadings(psi, r, nf)
    g = load @ load.T + np.diag(psi) - r
    return np.diag(g) / psi ** 2


def _optim_lbfgsb(fn, gr, start: np.ndarray, lower: float, upper: float, args: tuple):
    """R ``optim(method = "L-BFGS-B", control = list(parscale = rep(0.01, p)))`` as psych calls it: parameters
    divided by parscale, R's defaults factr = 1e7, pgtol = 0, lmm = 5, maxit = 100. Emulating R's settings
    (not just minimising harder) makes even non-unique solutions (more factors than the data identify) land
    where psych's do."""
    ps = 0.01
    res = optimize.minimize(lambda u: fn(u * ps, *args), start / ps, jac=lambda u: gr(u * ps, *args) * ps,
                            method="L-BFGS-B", bounds=[(lower / ps, upper / ps)] * len(start),
                            options={"ftol": 1e7 * _EPS, "gtol": 0.0, "maxcor": 5, "maxiter": 100})
    return res.x * ps, res


def _ml_loadings(psi: np.ndarray, r: np.ndarray, nf: int) -> np.ndarray:
    sc = 1 / np.sqrt(psi)
    w, v = eigh_desc(r * np.outer(sc, sc))
    return np.sqrt(psi)[:, None] * (v[:, :nf] * np.sqrt(np.maximum(w[:nf] - 1, 0)))


@dataclass
class Extraction:
    """An unrotated factor extraction (:func:`extract_factors`)."""

    loadings: np.ndarray
    values: np.ndarray          # eigenvalues of R with the model communalities on the diagonal
    converged: bool
    iterations: int
    criterion: float


def extract_factors(r: np.ndarray, nf: int, method: str, *, min_err: float = 0.001, max_iter: int = 50,
                    precise: bool = False) -> Extraction:
    """psych's extraction of ``nf`` unrotated factors from the correlation matrix ``r`` (``psych::fa``'s
    ``fm``): ``method`` is ``"minres"``, ``"ml"`` or ``"pa"`` (iterated principal axis; ``min_err`` /
    ``max_iter`` as psych). Canonical method names only: map user spellings with :data:`METHOD_ALIASES`.
    ``precise=True`` minimises to machine precision instead of emulating R's optim (the one-factor ML CFA of
    ``omega(method="cfa")``)."""
    p = r.shape[0]
    s_smc = smc(r)
    if method in ("minres", "ml"):
        upper = max(float(s_smc.max()), 1.0)
        start = np.clip(np.diag(r) - s_smc, 0.005, upper)
        fn, gr = (_ml_fn, _ml_gr) if method == "ml" else (_minres_fn, _minres_gr)
        if precise and method == "ml":  # exact gradient: minimise to machine precision (the CFA use)
            res = optimize.minimize(lambda ps: (fn(ps, r, nf), gr(ps, r, nf)), start, jac=True, method="L-BFGS-B",
                                    bounds=[(0.005, upper)] * p,
                                    options={"ftol": 1e-15, "gtol": 1e-11, "maxcor": 20, "maxiter": 5000})
            psi = res.x
        else:
            psi, res = _optim_lbfgsb(fn, gr, start, 0.005, upper, (r, nf))
        if method == "ml":
            lam = _ml_loadings(psi, r, nf)
        else:
            s = r.copy()
            np.fill_diagonal(s, np.diag(r) - psi)
            w, v = eigh_desc(s)
            lam = _load_from(w, v, nf)
        s = r.copy()
        np.fill_diagonal(s, np.diag(lam @ lam.T))
        values = eigh_desc(s)[0]
        return Extraction(lam, values, bool(res.success), int(res.nit), float(res.fun))
    if method == "pa":  # iterated principal axis, psych fm = "pa"
        rmat = r.copy()
        np.fill_diagonal(rmat, s_smc)
        comm = float(np.trace(rmat))
        err, i = comm, 1
        converged = True
        while err > min_err:
            w, v = eigh_desc(rmat)
            if (w[:nf] < 0).any():
                raise ModelError(f"principal axis factoring hit a negative eigenvalue with {nf} factor(s) "
                                 "(an improper solution): extract fewer factors or use method='minres'")
            lam = v[:, :nf] * np.sqrt(w[:nf])
            new = (lam ** 2).sum(axis=1)
            comm1 = float(new.sum())
            np.fill_diagonal(rmat, new)
            err = abs(comm - comm1)
            comm = comm1
            i += 1
            if i > max_iter:
                converged = False
                err = 0.0
        return Extraction(lam, w, converged, i - 1, err)
    raise DataError(f"unknown extraction method {method!r}: use 'minres', 'ml' or 'principal'", field="method")


# ----------------------------------------------------------------------------------------------------------
# Rotations
# ----------------------------------------------------------------------------------------------------------
def _varimax(x: np.ndarray, normalize: bool = True, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """stats::varimax (Kaiser normalisation, convergence on the SVD criterion)."""
    nc = x.shape[1]
    if nc < 2:
        return x, np.eye(nc)
    sc = np.sqrt((x ** 2).sum(axis=1)) if normalize else None
    if normalize:
        x = x / sc[:, None]
    p = x.shape[0]
    tt = np.eye(nc)
    d = 0.0
    for _ in range(1000):
        z = x @ tt
        b = x.T @ (z ** 3 - z * ((z ** 2).sum(axis=0) / p))
        u, sv, vt = np.linalg.svd(b)
        tt = u @ vt
        dpast, d = d, sv.sum()
        if d < dpast * (1 + eps):
            break
    z = x @ tt
    if normalize:
        z = z * sc[:, None]
    return z, tt


def _promax_psych(x: np.ndarray, m: float = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """psych::Promax: varimax, then target Q = L |L|^(m-1) by least squares, columns rescaled."""
    xv, tv = _varimax(x)
    q = xv * np.abs(xv) ** (m - 1)
    u = np.linalg.lstsq(xv, q, rcond=None)[0]
    d = np.diag(np.linalg.inv(u.T @ u))
    u = u * np.sqrt(d)
    z = xv @ u
    rot = tv @ u
    ui = np.linalg.inv(rot)
    return z, rot, ui @ ui.T


def _vgq_oblimin(lam: np.ndarray, gam: float = 0.0) -> tuple[np.ndarray, float]:
    k = lam.shape[1]
    x = (lam ** 2) @ (1 - np.eye(k))
    if gam != 0:
        p = lam.shape[0]
        x = (np.eye(p) - gam / p) @ x
    return lam * x, float((lam ** 2 * x).sum() / 4)


def _vgq_geomin(lam: np.ndarray, delta: float = 0.01) -> tuple[np.ndarray, float]:
    k = lam.shape[1]
    l2 = lam ** 2 + delta
    pro = np.exp(np.log(l2).sum(axis=1) / k)
    return (2 / k) * (lam / l2) * pro[:, None], float(pro.sum())


def _gpf_oblq(a: np.ndarray, vgq, eps: float = 1e-5, maxit: int = 1000) -> tuple[np.ndarray, np.ndarray, bool]:
    """GPArotation::GPFoblq (gradient projection, oblique), started at the identity. Returns L, Phi, converged."""
    k = a.shape[1]
    tm = np.eye(k)
    al = 1.0
    lam = a @ np.linalg.inv(tm).T
    gq, f = vgq(lam)
    g = -(lam.T @ gq @ np.linalg.inv(tm)).T
    s = np.inf
    for _ in range(maxit + 1):
        gp = g - tm * (tm * g).sum(axis=0)
        s = math.sqrt(float((gp ** 2).sum()))
        if s < eps:
            break
        al *= 2
        for _ in range(11):
            xm = tm - al * gp
            tmt = xm / np.sqrt((xm ** 2).sum(axis=0))
            lam = a @ np.linalg.inv(tmt).T
            gqt, ft = vgq(lam)
            if f - ft > 0.5 * s ** 2 * al:
                break
            al /= 2
        tm, f = tmt, ft
        g = -(lam.T @ gqt @ np.linalg.inv(tmt)).T
    return lam, tm.T @ tm, s < eps


def _gpf_orth(a: np.ndarray, vgq, eps: float = 1e-5, maxit: int = 1000) -> tuple[np.ndarray, bool]:
    """GPArotation::GPForth (gradient projection, orthogonal), started at the identity."""
    k = a.shape[1]
    tm = np.eye(k)
    al = 1.0
    lam = a @ tm
    gq, f = vgq(lam)
    g = a.T @ gq
    s = np.inf
    for _ in range(maxit + 1):
        m = tm.T @ g
        gp = g - tm @ ((m + m.T) / 2)
        s = math.sqrt(float((gp ** 2).sum()))
        if s < eps:
            break
        al *= 2
        for _ in range(11):
            u, _d, vt = np.linalg.svd(tm - al * gp)
            tmt = u @ vt
            lam = a @ tmt
            gqt, ft = vgq(lam)
            if ft < f - 0.5 * s ** 2 * al:
                break
            al /= 2
        tm, f = tmt, ft
        g = a.T @ gqt
    return lam, s < eps


def rotate(loadings: np.ndarray, rotation: str, *, gamma: float = 0.0, delta: float = 0.01,
           power: float = 4) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Rotate an unrotated loading matrix as psych::fa does; returns (loadings, Phi or None, converged).

    - ``varimax``: stats::varimax (normalize = TRUE, eps = 1e-5).
    - ``promax``: psych's ``"promax"``: Kaiser row normalisation, psych::Promax (varimax then target
      L |L|^(m-1), m = ``power`` = 4), rows rescaled.
    - ``oblimin`` / ``quartimin``: GPArotation::oblimin(L, gam = ``gamma`` = 0, normalize = FALSE).
    - ``geomin`` / ``geominQ``: GPArotation::geominQ(L, delta = ``delta`` = 0.01); ``geominT`` the orthogonal one.
    - ``none``: unrotated.
    """
    lam = np.asarray(loadings, dtype=float)
    if lam.shape[1] < 2 or rotation == "none":
        return lam, None, True
    if rotation == "varimax":
        return _varimax(lam)[0], None, True
    if rotation == "promax":
        h = np.sqrt((lam ** 2).sum(axis=1))
        z, _rot, phi = _promax_psych(lam / h[:, None], m=power)
        return z * h[:, None], phi, True
    if rotation in ("oblimin", "quartimin"):
        g = 0.0 if rotation == "quartimin" else gamma
        lr, phi, ok = _gpf_oblq(lam, lambda x: _vgq_oblimin(x, g))
        return lr, phi, ok
    if rotation in ("geomin", "geominQ"):
        lr, phi, ok = _gpf_oblq(lam, lambda x: _vgq_geomin(x, delta))
        return lr, phi, ok
    if rotation == "geominT":
        lr, ok = _gpf_orth(lam, lambda x: _vgq_geomin(x, delta))
        return lr, None, ok
    raise DataError(f"unknown rotation {rotation!r}: use one of {sorted(ORTHOGONAL | OBLIQUE)}", field="rotation")


# ----------------------------------------------------------------------------------------------------------
# fa
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EFAResult:
    """psych::fa output: pattern ``loadings``, ``structure`` (= loadings Phi), ``phi`` (identity when
    orthogonal), ``communalities`` (h2 = diag of Lambda Lambda' of the unrotated solution),
    ``uniquenesses`` (u2 = 1 - h2), ``complexity`` (Hoffman), ``variance`` (psych's Vaccounted table),
    ``eigenvalues`` (observed R: ``e.values``; reduced matrix: ``values``) and fit statistics."""

    loadings: pd.DataFrame
    structure: pd.DataFrame
    phi: pd.DataFrame
    communalities: pd.Series
    uniquenesses: pd.Series
    complexity: pd.Series
    variance: pd.DataFrame
    eigenvalues: pd.DataFrame
    method: str
    rotation: str
    n_factors: int
    n_obs: int
    converged: bool
    fit: dict = field(default_factory=dict)
    n_rows_without_answers: int = 0

    def to_frame(self) -> pd.DataFrame:
        """Loadings with h2, u2 and complexity (psych's print layout)."""
        return pd.concat([self.loadings, self.communalities.rename("h2"), self.uniquenesses.rename("u2"),
                          self.complexity.rename("com")], axis=1)

    def to_dict(self) -> dict:
        return {"method": self.method, "rotation": self.rotation, "n_factors": self.n_factors,
                "n_obs": self.n_obs, "n_rows_without_answers": self.n_rows_without_answers,
                "converged": self.converged,
                "loadings": {i: {f: float(v) for f, v in row.items()} for i, row in self.loadings.iterrows()},
                "phi": self.phi.to_numpy().tolist(), "communalities": self.communalities.to_dict(),
                "uniquenesses": self.uniquenesses.to_dict(),
                "variance": {k: v for k, v in self.variance.to_dict(orient="index").items()}, "fit": self.fit}

    def table(self, cut: float = 0.30) -> pd.DataFrame:
        return loading_table(self, cut)

    def summary(self) -> str:
        head = f"EFA: {self.method}, rotation {self.rotation}, {self.n_factors} factor(s), n = {self.n_obs}"
        if self.n_rows_without_answers:
            head += f" ({self.n_rows_without_answers} rows without answers left out)"
        return "\n".join([head, self.table().to_string(), "", self.variance.round(3).to_string(), "",
                          self.fit_summary()])

    def fit_summary(self) -> str:
        """psych's fit lines: chi-square, TLI, RMSEA with its 90% interval, BIC, RMSR (and corrected), fit."""
        f = self.fit

        def g(k: str, d: int = 3) -> str:
            v = f.get(k, float("nan"))
            return "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}"

        return (f"Fit: chi2({f.get('dof')}) = {g('chisq', 2)}, p = {g('pvalue', 3)}; TLI = {g('tli')}; RMSEA = "
                f"{g('rmsea')} [{g('rmsea_lower')}, {g('rmsea_upper')}] ({100 * f.get('rmsea_confidence', 0.9):g}%); "
                f"BIC = {g('bic', 2)}\nRMSR = {g('rms')} (df-corrected {g('crms')}); empirical chi2 = {g('chi', 2)}, "
                f"p = {g('e_pvalue', 3)}; fit = {g('fit')}, off-diagonal fit = {g('fit_off')} (nh = {g('nh', 1)})")


_PREFIX = {"minres": "MR", "ml": "ML", "pa": "PA"}
#: accepted spellings of the extraction methods -> the canonical name of :func:`extract_factors`
METHOD_ALIASES = {"minres": "minres", "ml": "ml", "mle": "ml", "principal": "pa", "pa": "pa",
                  "paf": "pa"}


def _fa_sort_order(lam: np.ndarray) -> np.ndarray:
    cluster = np.argmax(np.abs(lam), axis=1)
    order = []
    for f in range(lam.shape[1]):
        idx = np.flatnonzero(cluster == f)
        idx = idx[np.argsort(-np.abs(lam[idx, f]), kind="stable")]
        order.extend(idx.tolist())
    return np.asarray(order, dtype=int)


def _cor_smooth(x: np.ndarray, eig_tol: float = 1e-12) -> np.ndarray:
    """psych::cor.smooth: when an eigenvalue is below machine epsilon, set those below ``eig_tol`` to
    100 ``eig_tol``, rescale the eigenvalues to sum to p, rebuild and rescale to a correlation matrix."""
    w, v = eigh_desc(x)
    if w.min() >= _EPS:
        return x
    warnings.warn("the matrix was not positive definite: it was smoothed (psych::cor.smooth) for the fit "
                  "statistics", stacklevel=3)
    w = np.where(w < eig_tol, 100 * eig_tol, w)
    w = w * x.shape[0] / w.sum()
    y = (v * w) @ v.T
    d = 1 / np.sqrt(np.diag(y))
    return y * np.outer(d, d)


def _rmsea_ci(chisq: float, dof: float, n_obs: int, rmsea: float, alpha: float) -> tuple[float, float]:
    """psych fa.stats' RMSEA interval: the noncentrality parameters at which the observed chi-square is the
    1 - alpha/2 (upper bound) and alpha/2 (lower bound) quantile, each root searched on [0, max(n, chisq) + 2n],
    as sqrt(ncp / (n - 1) / dof). A bound that cannot be bracketed is 0 (upper, when RMSEA is 0) or NaN; a
    bound on the wrong side of the point estimate is NaN, as in psych. R's uniroot stops at a tolerance of
    1.2e-4 in the ncp; this solves to machine precision (the bounds differ from psych's by < 1e-6 here)."""
    tail = alpha / 2
    hi = max(n_obs, chisq) + 2 * n_obs

    def bound(target: float) -> float:
        f = lambda ncp: float(ncx2_cdf(chisq, dof, ncp)) - target  # noqa: E731
        fa, fb = f(0.0), f(hi)
        if fa * fb > 0:
            raise ValueError("not bracketed")
        root = optimize.brentq(f, 0.0, hi, xtol=1e-12, rtol=4 * _EPS, maxiter=500)
        return math.sqrt(root / (n_obs - 1) / dof)

    p0 = float(chi2_cdf(chisq, dof))
    upper = 0.0
    if p0 > tail:
        try:
            upper = bound(tail)
        except ValueError:
            upper = 0.0 if rmsea <= 0 else float("nan")
    lower = 0.0
    if p0 > 1 - tail:
        try:
            lower = bound(1 - tail)
        except ValueError:
            lower = float("nan")
    if not math.isnan(upper) and upper < rmsea:
        upper = float("nan")
    if not math.isnan(lower) and lower > rmsea:
        lower = float("nan")
    return lower, upper


def _fit_stats(r: np.ndarray, lam: np.ndarray, phi: np.ndarray, n_obs: int, nf: int,
               np_obs: np.ndarray | None = None, alpha: float = 0.1) -> dict:
    """psych::fa.stats (psych 2.2.9), the statistics that do not depend on factor scores.

    Residual-based ("empirical") statistics, with ``np_obs`` the pairwise counts (psych passes
    ``pairwiseCount(x)`` whenever fa gets raw data, complete or not) and nh their harmonic mean over all p^2
    entries: ``chi = sum(resid_off^2 * np_obs)``, ``rms = sqrt(chi / (nh p (p - 1)))``,
    ``crms = sqrt(chi / (2 nh dof))``, ``e_pvalue``, ``e_bic = chi - dof log(nh)``, ``e_sabic``; ``fit = 1 -
    sum(resid^2) / sum(R^2)`` (diagonal included, unweighted) and ``fit_off = 1 - chi / sum_off(R^2 np_obs)``.
    Without ``np_obs`` every count is ``n_obs`` (psych's branch for a correlation matrix with n.obs).

    Likelihood-based statistics (n = ``n_obs``): ``objective`` = tr(M^-1 R) - log|M^-1 R| - p, M the model
    with R's diagonal (both cor.smooth'ed when not positive definite), ``chisq`` (psych's STATISTIC,
    Bartlett-corrected, floored at 0) and its ``pvalue``, ``tli``, ``rmsea`` with its ``1 - alpha`` (90%)
    interval ``rmsea_lower``/``rmsea_upper``, ``bic``, ``sabic``, and the null model (``null_model`` = F0,
    ``null_dof``, ``null_chisq``)."""
    p = r.shape[0]
    nan = float("nan")
    model = lam @ phi @ lam.T
    resid = r - model
    dof = p * (p - 1) / 2 - p * nf + nf * (nf - 1) / 2
    r2 = float((r * r).sum())
    rstar2 = float((resid * resid).sum())
    off = resid.copy()
    np.fill_diagonal(off, 0)
    counts = np.full((p, p), float(n_obs)) if np_obs is None else np.asarray(np_obs, dtype=float)
    rstar_off = float((off ** 2 * counts).sum())
    rr = r * r * counts
    r2_off = float(rr.sum() - np.trace(rr))
    with np.errstate(divide="ignore"):
        nh = float(1 / np.mean(1 / counts))
    out: dict = {"dof": int(round(dof)), "n_obs": int(n_obs), "nh": nh, "chi": rstar_off,
                 "rms": math.sqrt(rstar_off / (nh * p * (p - 1)))}
    if dof > 0:
        out["e_pvalue"] = float(chi2_upper(rstar_off, dof))
        out["crms"] = math.sqrt(rstar_off / (2 * nh * dof))
        out["e_bic"] = rstar_off - dof * math.log(nh)
        out["e_sabic"] = rstar_off - dof * math.log((nh + 2) / 24)
    else:
        out.update(e_pvalue=nan, crms=nan, e_bic=nan, e_sabic=nan)
    out["fit"] = 1 - rstar2 / r2
    out["fit_off"] = 1 - rstar_off / r2_off
    m = model.copy()
    np.fill_diagonal(m, np.diag(r))
    m = _cor_smooth(m)
    rs = _cor_smooth(r)
    try:
        mir = np.linalg.solve(m, rs)
    except np.linalg.LinAlgError:
        warnings.warn("the model inverse times the r matrix is singular, replaced with the identity matrix: the "
                      "fit statistics are wrong (as psych)", stacklevel=3)
        mir = np.eye(p)
    sign, logdet = np.linalg.slogdet(mir)
    if sign < 0:
        obj = nan                               # log of a negative determinant: NaN in R
    elif sign == 0 or not math.isfinite(logdet):
        obj = rstar2                            # psych: "the objective function is not defined"
    else:
        obj = float(np.trace(mir) - logdet - p)
    out["objective"] = obj
    corr = (n_obs - 1) - (2 * p + 5) / 6 - (2 * nf) / 3
    chisq = obj * corr
    if not math.isnan(chisq) and chisq < 0:
        chisq = 0.0
    out["chisq"] = chisq
    out["pvalue"] = float(chi2_upper(chisq, dof)) if dof > 0 and not math.isnan(chisq) else nan
    sign0, logdet0 = np.linalg.slogdet(rs)
    f0 = float(np.trace(rs) - logdet0 - p) if sign0 > 0 else (r2 if sign0 == 0 else nan)
    out["null_model"] = f0
    out["null_dof"] = p * (p - 1) // 2
    out["null_chisq"] = f0 * ((n_obs - 1) - (2 * p + 5) / 6)
    m0 = f0 * 2 / (p * (p - 1))
    out["tli"] = (m0 - obj / dof) / (m0 - 1 / corr) if dof > 0 else nan  # psych: -Inf or NaN at dof = 0
    out.update(rmsea=nan, rmsea_lower=nan, rmsea_upper=nan, rmsea_confidence=1 - alpha, bic=nan, sabic=nan)
    if dof > 0 and not math.isnan(obj):
        rmsea = math.sqrt(max(chisq / (dof * n_obs) - 1 / (n_obs - 1), 0))
        lo, hi = _rmsea_ci(chisq, dof, n_obs, rmsea, alpha)
        out.update(rmsea=rmsea, rmsea_lower=lo, rmsea_upper=hi, bic=chisq - dof * math.log(n_obs),
                   sabic=chisq - dof * math.log((n_obs + 2) / 24))
    return out


@dataclass
class FactorSolution:
    """A rotated factor solution on a correlation matrix (:func:`factor_solution`)."""

    loadings: np.ndarray      # rotated, signed, ordered by variance accounted for
    phi: np.ndarray           # identity when orthogonal
    h2: np.ndarray            # communalities of the unrotated solution
    extraction: Extraction
    rotation_converged: bool


def factor_solution(r: np.ndarray, nf: int, meth: str, rot: str, *, min_err: float = 0.001,
                    max_iter: int = 50) -> FactorSolution:
    """psych:::fac on a correlation matrix ``r``: extract ``nf`` factors by ``meth`` (canonical name, see
    :func:`extract_factors`), flip signs to positive column sums, rotate by ``rot`` (:func:`rotate`; ``"none"``
    for none), flip again and order the factors by variance accounted for. What :func:`efa` fits, and what
    omega's Schmid-Leiman step and Harman's test use."""
    ext = extract_factors(r, nf, meth, min_err=min_err, max_iter=max_iter)
    lam = ext.loadings.copy()
    lam = lam * np.where(lam.sum(axis=0) < 0, -1.0, 1.0)
    h2 = (lam ** 2).sum(axis=1)
    lam_r, phi, rot_ok = rotate(lam, rot) if nf > 1 else (lam, None, True)
    sgn = np.where(lam_r.sum(axis=0) < 0, -1.0, 1.0)
    lam_r = lam_r * sgn
    if phi is not None:
        phi = phi * np.outer(sgn, sgn)
    phi_m = np.eye(nf) if phi is None else phi
    if nf > 1:
        ev = np.diag(phi_m @ lam_r.T @ lam_r)
        order = np.argsort(-ev, kind="stable")
        lam_r = lam_r[:, order]
        phi_m = phi_m[np.ix_(order, order)]
    return FactorSolution(lam_r, phi_m, h2, ext, rot_ok)


def efa(data: pd.DataFrame, items: list[str] | None = None, n_factors: int | None = None, method: str = "minres",
        rotation: str | None = "oblimin", *, sort: bool = True, max_iter: int = 50,
        min_err: float = 0.001) -> EFAResult:
    """Exploratory factor analysis of the pairwise-complete correlation matrix, as ``psych::fa``.

    ``method``: ``"minres"`` (psych fm = "minres": the sum of squared off-diagonal residuals, minimised over
    the uniquenesses with psych's gradient FAgr.minres), ``"ml"`` (fm = "ml": the factanal likelihood
    FAfn/FAgr) - both by L-BFGS-B from 1 - SMC, uniquenesses bounded in [0.005, 1], with R optim's settings
    as psych calls it (parscale 0.01, factr 1e7, lmm 5), so that even under-identified solutions land where
    psych's do - or
    ``"principal"`` (= ``"pa"``, fm = "pa": iterated principal axis starting from SMCs, stopping when the sum
    of communalities changes by less than ``min_err`` = 0.001 or after ``max_iter`` = 50 iterations). This is
    principal *axis* factoring; principal components are :func:`vccscale.validate.validity.harman_single_factor`'s
    business.

    ``rotation``: ``"oblimin"`` (psych's default; GPArotation quartimin, gamma 0), ``"varimax"``,
    ``"promax"`` (psych: Kaiser-normalised Promax, power 4), ``"geomin"`` (GPArotation geominQ,
    delta 0.01), ``"geominT"``, ``"quartimin"`` or ``None``/``"none"``.

    Matches ``psych::fa(data[items], nfactors = n_factors, fm = method, rotate = rotation)``: on the 25 bfi
    items the loadings agree to about 1e-12 (minres, pa) and 1e-5 (ml); the tests demand 1e-2 after matching
    factor order and sign. ``fit`` holds psych's fa.stats (see :func:`_fit_stats`): dof, objective, chisq
    (psych's STATISTIC, Bartlett-corrected; n = the rows that answered at least one item, where psych takes
    nrow(data)), pvalue, tli, rmsea with its 90% interval (rmsea_lower, rmsea_upper), bic, sabic, the null
    model, and the residual-based chi (psych's empirical chi-square), e_pvalue, e_bic, rms, crms, fit and fit_off,
    whose squared residuals are weighted by the pairwise n of each correlation with nh, the harmonic mean of the
    pairwise n, in place of n (psych does so whenever it gets raw data; with complete data nh = n). A model or
    correlation matrix that is not positive definite is smoothed first (psych::cor.smooth, with a warning).

    Calls: ``efa(df, n_factors=2)`` and ``efa(df, 2)`` (psych's ``fa(r, 2)``) use every column of ``df``;
    ``efa(df, items=[...], n_factors=2)`` or ``efa(df, [...], 2)`` the listed ones. ``n_factors`` defaults to 1.
    """
    items, n_factors = items_and_n_factors(items, n_factors, "efa")
    x, n_empty = answered_rows(item_frame(data, items, what="factor analysis"))
    r = pairwise_cor(x)
    p = r.shape[0]
    meth = METHOD_ALIASES.get(str(method).lower())
    if meth is None:
        raise DataError(f"unknown extraction method {method!r}: use 'minres', 'ml' or 'principal'", field="method")
    rot = "none" if rotation is None else str(rotation)
    if rot not in ORTHOGONAL | OBLIQUE:
        raise DataError(f"unknown rotation {rotation!r}: use one of {sorted(ORTHOGONAL | OBLIQUE)}", field="rotation")
    nf = int(n_factors)
    if nf < 1 or nf >= p:
        raise DataError(f"n_factors must be between 1 and {p - 1} for {p} items, got {n_factors}", field="n_factors")
    dof = p * (p - 1) / 2 - p * nf + nf * (nf - 1) / 2
    if dof < 0:
        warnings.warn(f"{nf} factors for {p} items leave {dof:g} degrees of freedom: the model is not identified",
                      stacklevel=2)
    core = factor_solution(r, nf, meth, rot, min_err=min_err, max_iter=max_iter)
    lam_r, phi_m, h2, ext, rot_ok = core.loadings, core.phi, core.h2, core.extraction, core.rotation_converged
    names = [f"{_PREFIX[meth]}{k + 1}" for k in range(nf)]
    vx = np.diag(phi_m @ lam_r.T @ lam_r)
    vtotal = float(np.diag(r).sum())
    var = pd.DataFrame({"ss_loadings": vx, "proportion_var": vx / vtotal, "cumulative_var": np.cumsum(vx) / vtotal,
                        "proportion_explained": vx / vx.sum(), "cumulative_proportion": np.cumsum(vx) / vx.sum()},
                       index=names)
    idx = np.arange(p)
    if sort:
        idx = _fa_sort_order(lam_r)
    items_o = [x.columns[i] for i in idx]
    load_df = pd.DataFrame(lam_r[idx], index=items_o, columns=names)
    struct = pd.DataFrame((lam_r @ phi_m)[idx], index=items_o, columns=names)
    comm = pd.Series(h2[idx], index=items_o, name="h2")
    uniq = pd.Series((np.diag(r) - h2)[idx], index=items_o, name="u2")
    cx = pd.Series(((lam_r ** 2).sum(axis=1) ** 2 / (lam_r ** 4).sum(axis=1))[idx], index=items_o, name="com")
    eig = pd.DataFrame({"observed": eigh_desc(r)[0], "reduced": ext.values},
                       index=pd.RangeIndex(1, p + 1, name="number"))
    if np.any(h2 > 1):
        warnings.warn("an ultra-Heywood case was detected (a communality above 1): examine the solution",
                      stacklevel=2)
    n_obs = len(x)
    answered = x.notna().to_numpy(dtype=float)
    fit = _fit_stats(r, lam_r, phi_m, n_obs, nf, np_obs=answered.T @ answered)  # psych: pairwiseCount(x)
    fit["criterion"] = ext.criterion
    fit["iterations"] = ext.iterations
    converged = ext.converged and rot_ok
    if not converged:
        warnings.warn("the factor extraction or rotation did not converge: examine the solution", stacklevel=2)
    return EFAResult(load_df, struct, pd.DataFrame(phi_m, index=names, columns=names), comm, uniq, cx, var, eig,
                     meth, rot, nf, n_obs, converged, fit, n_empty)


def loading_table(result: EFAResult | pd.DataFrame, cut: float = 0.30, digits: int = 2) -> pd.DataFrame:
    """Loadings as strings for display, blank where |loading| < ``cut`` (psych print(fa, cut = .3)).

    h2, u2 and com are appended when ``result`` is an :class:`EFAResult`.
    """
    lam = result.loadings if isinstance(result, EFAResult) else result
    fmt = lam.map(lambda v: "" if abs(v) < cut else f"{v:.{digits}f}")
    if isinstance(result, EFAResult):
        fmt["h2"] = result.communalities.map(lambda v: f"{v:.{digits}f}")
        fmt["u2"] = result.uniquenesses.map(lambda v: f"{v:.{digits}f}")
        fmt["com"] = result.complexity.map(lambda v: f"{v:.1f}")
    return fmt


# ----------------------------------------------------------------------------------------------------------
# Parallel analysis
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParallelResult:
    """psych::fa.parallel: ``n_factors`` and ``n_components`` suggested, and the scree data.

    ``scree`` columns: ``pc_observed`` (eigenvalues of R), ``fa_observed`` (of the reduced matrix from a
    one-factor fit), ``pc_simulated``/``fa_simulated`` (means over simulated normal data),
    ``pc_resampled``/``fa_resampled`` (means over column-wise resampled data) and the ``quantile`` (0.95)
    of the simulated eigenvalues, against which the observed ones are compared.
    """

    n_factors: int
    n_components: int
    scree: pd.DataFrame
    n_iter: int
    quantile: float
    method: str
    seed: int | None
    n_obs: int = 0
    n_rows_without_answers: int = 0

    def to_frame(self) -> pd.DataFrame:
        return self.scree

    def to_dict(self) -> dict:
        return {"n_factors": self.n_factors, "n_components": self.n_components, "n_iter": self.n_iter,
                "quantile": self.quantile, "method": self.method, "seed": self.seed,
                "n_obs": self.n_obs, "n_rows_without_answers": self.n_rows_without_answers,
                "scree": self.scree.to_dict(orient="list")}


def _fa_values(r: np.ndarray, method: str) -> np.ndarray:
    return extract_factors(r, 1, METHOD_ALIASES[method]).values


def parallel_analysis(data: pd.DataFrame, items: list[str] | None = None, n_iter: int = 20,
                      seed: int | np.random.Generator | None = None, method: str = "minres",
                      quantile: float = 0.95) -> ParallelResult:
    """Horn's parallel analysis as ``psych::fa.parallel(data[items], fm = method, n.iter = n_iter)``.

    Observed: eigenvalues of the correlation matrix (components) and of the reduced matrix whose diagonal holds
    the communalities of a one-factor ``method`` fit (factors). Each iteration draws (a) n x p standard normal
    data and (b) a column-wise bootstrap of the items (each column resampled with replacement), and takes the
    same two sets of eigenvalues. The suggested number of factors (components) is the count of leading
    observed eigenvalues greater than the ``quantile`` (0.95, psych's ``quant``) of the simulated normal-data
    eigenvalues, as psych 2.2.9 does; the ``*_resampled`` means are reported for the plot.

    Reproducible from ``seed`` (numpy Generator); R's random numbers differ, so only the observed eigenvalues
    equal R's exactly, and the simulated ones agree within simulation error. The simulated data sets have n rows,
    n the rows that answered at least one item (psych: nrow(data)).
    """
    x, n_empty = answered_rows(item_frame(data, items, what="parallel analysis"))
    r = pairwise_cor(x)
    n, p = x.shape
    if n_iter < 1:
        raise DataError("n_iter must be at least 1", field="n_iter")
    meth = METHOD_ALIASES.get(method)
    if meth is None:
        raise DataError(f"unknown extraction method {method!r}", field="method")
    rng = rng_from(seed)
    pc_obs = eigh_desc(r)[0]
    fa_obs = _fa_values(r, meth)
    arr = x.to_numpy()
    sim_pc, sim_fa, res_pc, res_fa = [], [], [], []
    for _ in range(n_iter):
        for _tries in range(100):
            samp = np.column_stack([rng.choice(arr[:, j], size=n, replace=True) for j in range(p)])
            c = pd.DataFrame(samp).corr().to_numpy()
            if not np.isnan(c).any():
                break
        else:  # pragma: no cover - needs pathological data
            raise DataError("resampled data kept giving undefined correlations")
        res_pc.append(eigh_desc(c)[0])
        res_fa.append(_fa_values(c, meth))
        z = rng.standard_normal((n, p))
        cz = np.corrcoef(z, rowvar=False)
        sim_pc.append(eigh_desc(cz)[0])
        sim_fa.append(_fa_values(cz, meth))
    sim_pc, sim_fa, res_pc, res_fa = map(np.asarray, (sim_pc, sim_fa, res_pc, res_fa))
    q_pc = np.quantile(sim_pc, quantile, axis=0)  # R quantile type 7 = numpy "linear"
    q_fa = np.quantile(sim_fa, quantile, axis=0)

    def _count(obs: np.ndarray, crit: np.ndarray) -> int:
        below = np.flatnonzero(~(obs > crit))
        return int(below[0]) if len(below) else len(obs)

    scree = pd.DataFrame({"pc_observed": pc_obs, "fa_observed": fa_obs,
                          "pc_simulated": sim_pc.mean(axis=0), "fa_simulated": sim_fa.mean(axis=0),
                          "pc_resampled": res_pc.mean(axis=0), "fa_resampled": res_fa.mean(axis=0),
                          "pc_simulated_quantile": q_pc, "fa_simulated_quantile": q_fa},
                         index=pd.RangeIndex(1, p + 1, name="number"))
    return ParallelResult(_count(fa_obs, q_fa), _count(pc_obs, q_pc), scree, int(n_iter), float(quantile), meth,
                          seed if isinstance(seed, int) else None, int(n), n_empty)


# ----------------------------------------------------------------------------------------------------------
# EFA of an instrument, by construct group
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EFAGroup:
    """One EFA of :func:`efa_by_groups`: its constructs and items, the cases (rows with at least one answered item
    of the group), the factors extracted (one per construct), KMO, Bartlett, parallel analysis, the solution and
    ``status`` (ok | not_run) with ``notes`` (warnings of the extraction, why not run)."""

    name: str
    constructs: tuple[str, ...]
    items: tuple[str, ...]
    n: int
    n_factors: int
    status: str
    notes: tuple[str, ...] = ()
    result: EFAResult | None = None
    parallel: ParallelResult | None = None
    kmo: float = float("nan")
    bartlett_chisq: float = float("nan")
    bartlett_df: float = float("nan")
    bartlett_pvalue: float = float("nan")
    blocks: dict = field(default_factory=dict)

    def assignment(self) -> pd.DataFrame:
        """One row per item: its construct, primary factor (largest absolute pattern loading), that loading, the
        factor most of the construct's items load on, and ``as_expected`` (the item's primary factor is its
        construct's factor and no other construct claims that factor)."""
        if self.result is None:
            return pd.DataFrame(columns=["item", "construct", "factor", "loading", "construct_factor",
                                         "as_expected"])
        lam = self.result.loadings
        owner = {i: c for c in self.constructs for i in self.blocks.get(c, ())}
        prim = lam.abs().idxmax(axis=1)
        rows = [{"item": i, "construct": owner.get(i, ""), "factor": prim[i], "loading": float(lam.loc[i, prim[i]])}
                for i in lam.index]
        df = pd.DataFrame(rows)
        home = df.groupby("construct")["factor"].agg(lambda s: s.value_counts().sort_index().idxmax())
        claimed = home.value_counts()
        df["construct_factor"] = df["construct"].map(home)
        df["as_expected"] = [bool(f == home[c] and claimed[home[c]] == 1) for f, c in zip(df["factor"],
                                                                                        df["construct"])]
        return df


@dataclass(frozen=True)
class EFAGroupsResult:
    """EFAs of an instrument's items: ``scope`` (all | groups), the reason, and the :class:`EFAGroup` list."""

    scope: str
    reason: str
    groups: tuple[EFAGroup, ...]
    method: str
    rotation: str

    def to_frame(self) -> pd.DataFrame:
        """One row per EFA: group, constructs, items, n, factors, parallel-analysis factors, KMO, Bartlett, fit
        (psych's TLI, RMSEA, RMSR), items loading as expected, status, notes."""
        rows = []
        for g in self.groups:
            fit = g.result.fit if g.result is not None else {}
            a = g.assignment()
            rows.append({"group": g.name, "constructs": len(g.constructs), "items": len(g.items), "n": g.n,
                         "factors": g.n_factors,
                         "parallel_factors": g.parallel.n_factors if g.parallel is not None else np.nan,
                         "kmo": g.kmo, "bartlett_chisq": g.bartlett_chisq, "bartlett_df": g.bartlett_df,
                         "bartlett_pvalue": g.bartlett_pvalue, "tli": fit.get("tli", np.nan),
                         "rmsea": fit.get("rmsea", np.nan), "rms": fit.get("rms", np.nan),
                         "as_expected": float(a["as_expected"].mean()) if len(a) else np.nan,
                         "status": g.status, "notes": "; ".join(g.notes)})
        return pd.DataFrame(rows)

    def loadings_frame(self) -> pd.DataFrame:
        """Pattern loadings of every EFA, long: group, item, construct, factor, loading, primary, h2."""
        rows = []
        for g in self.groups:
            if g.result is None:
                continue
            a = g.assignment().set_index("item")
            for item, lrow in g.result.loadings.iterrows():
                for f, v in lrow.items():
                    rows.append({"group": g.name, "item": item, "construct": a.loc[item, "construct"], "factor": f,
                                 "loading": float(v), "primary": bool(a.loc[item, "factor"] == f),
                                 "h2": float(g.result.communalities[item])})
        return pd.DataFrame(rows, columns=["group", "item", "construct", "factor", "loading", "primary", "h2"])

    def to_dict(self) -> dict:
        return {"scope": self.scope, "reason": self.reason, "method": self.method, "rotation": self.rotation,
                "groups": self.to_frame().to_dict(orient="records")}


@data_first("blocks", blocks=True)
def efa_by_groups(data: pd.DataFrame, blocks: dict[str, list[str]], groups: list[tuple[str, list[str]]] | None = None,
                  *, scope: str = "auto", min_ratio: float = 5.0, n_factors: int | None = None,
                  method: str = "minres", rotation: str | None = "oblimin", n_iter: int = 20,
                  seed: int | None = None) -> EFAGroupsResult:
    """EFA of an instrument's items at a size the data carry.

    ``blocks``: construct -> item columns. ``scope="all"``: one EFA of every item with ``n_factors`` factors
    (default one per construct); ``"groups"``: one EFA per construct group (``groups``, e.g.
    :func:`vccscale.validate.measurement.construct_groups`), each group split into consecutive parts with at least
    ``min_ratio`` cases per item and constructs that share respondents, one factor per construct; ``"auto"``: all
    when every pair of constructs shares respondents and n >= ``min_ratio`` x items, else groups. Cases of an EFA
    are the rows with at least one answered item of it; correlations are pairwise-complete (psych's default).
    Each EFA reports KMO, Bartlett's test, parallel analysis (``n_iter`` draws seeded by ``seed``) and psych's fit
    statistics; an EFA that cannot run (fewer than 3 items, too few cases, no pair of answers) is ``not_run`` with
    the reason."""
    import warnings as _w

    from .measurement import answered

    if scope not in ("auto", "all", "groups"):
        raise DataError(f"scope must be auto, all or groups, not {scope!r}", field="scope")
    names = list(blocks)
    all_items = [i for c in names for i in blocks[c]]
    n_all = int(answered(data, all_items).sum())
    rows = {c: answered(data, blocks[c]).to_numpy() for c in names}
    disjoint = next(((a, b) for i, a in enumerate(names) for b in names[i + 1:] if not (rows[a] & rows[b]).any()),
                    None)
    ok_all = disjoint is None and n_all >= min_ratio * len(all_items)
    why_all = (f"constructs {disjoint[0]} and {disjoint[1]} have no respondent in common" if disjoint else
               f"{n_all} cases for {len(all_items)} items ({n_all / max(len(all_items), 1):.1f} per item; the rule "
               f"asks for {min_ratio:g})")
    if scope == "all" or (scope == "auto" and ok_all):
        parts = [("all items", names)]
        chosen = "all"
        reason = (f"one EFA of all {len(all_items)} items: {why_all}" if ok_all else
                  f"one EFA of all items, as the study file asks (efa.scope: all), although {why_all}")
    else:
        chosen = "groups"
        parts = []
        for gname, cs in (groups or [("all constructs", names)]):
            cs = [c for c in cs if c in blocks]
            cur: list[str] = []
            chunks: list[list[str]] = []
            for c in cs:
                trial = cur + [c]
                its = [i for x in trial for i in blocks[x]]
                n = int(answered(data, its).sum())
                if cur and (n < min_ratio * len(its) or any(not (rows[c] & rows[x]).any() for x in cur)):
                    chunks.append(cur)
                    cur = [c]
                else:
                    cur = trial
            if cur:
                chunks.append(cur)
            for k, ch in enumerate(chunks):
                parts.append((gname if len(chunks) == 1 else f"{gname} {k + 1}", ch))
        reason = (f"{why_all}; so {len(parts)} EFAs of construct groups (one factor per construct, at least "
                  f"{min_ratio:g} cases per item where possible)" if scope == "auto" else
                  f"{len(parts)} EFAs of construct groups, as the study file asks (efa.scope: groups)")
    out = []
    for k, (gname, cs) in enumerate(parts):
        its = [i for c in cs for i in blocks[c]]
        sub = data.loc[answered(data, its), its]
        nf = (n_factors or len(cs)) if chosen == "all" else len(cs)
        notes: list[str] = []
        g = dict(name=gname, constructs=tuple(cs), items=tuple(its), n=len(sub), n_factors=nf,
                 blocks={c: tuple(blocks[c]) for c in cs})
        if len(its) < 3 or nf >= len(its):
            out.append(EFAGroup(**g, status="not_run", notes=(f"{len(its)} items for {nf} factor(s): too few",)))
            continue
        if len(sub) < min_ratio * len(its):
            notes.append(f"{len(sub)} cases for {len(its)} items ({len(sub) / len(its):.1f} per item, below "
                         f"{min_ratio:g})")
        try:
            with _w.catch_warnings(record=True) as caught:
                _w.simplefilter("always")
                res = efa(sub, its, nf, method=method, rotation=rotation)
                pa = parallel_analysis(sub, its, n_iter=n_iter, seed=None if seed is None else [seed, 2, k],
                                       method="minres" if method in ("principal", "pa") else method)
                km = kmo(sub, its)
                bt = bartlett(sub, its, n=len(sub))
            notes += list(dict.fromkeys(str(w.message) for w in caught))
        except (DataError, np.linalg.LinAlgError, ValueError) as exc:
            msg = exc.message if isinstance(exc, DataError) else str(exc)
            out.append(EFAGroup(**g, status="not_run", notes=tuple(notes) + (msg,)))
            continue
        grp = EFAGroup(**g, status="ok", notes=tuple(notes), result=res, parallel=pa, kmo=float(km.msa),
                       bartlett_chisq=float(bt.chisq), bartlett_df=float(bt.df), bartlett_pvalue=float(bt.pvalue))
        out.append(grp)
    return EFAGroupsResult(chosen, reason, tuple(out), method, "none" if rotation is None else str(rotation))
