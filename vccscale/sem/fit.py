"""Maximum-likelihood estimation with lavaan's conventions.

The model is held in RAM form for every group: all variables (observed first, then latent) satisfy
``v = A v + e`` with ``Cov(e) = P`` and intercepts ``m``; with ``B = (I - A)^-1`` the implied moments of the observed
variables are ``Sigma = F B P B' F'`` and ``mu = F B m``.  This gives the same implied moments as lavaan's LISREL
matrices for every model lavaan's ``cfa()``/``sem()`` accept here.

Fit function (lavaan, ``likelihood = "normal"``): per group
``F_g = log|Sigma| + tr(S Sigma^-1) - log|S| - p + (ybar - mu)' Sigma^-1 (ybar - mu)`` with ``S`` the covariance
with divisor ``N_g``; ``F = sum_g (N_g / N) F_g``; lavaan's ``fmin`` is ``F / 2`` and its ``chisq`` is ``N F``.

Estimation: Fisher scoring (expected information) with step halving and Levenberg damping, from lavaan-like
start values, in unit-free coordinates (the information scaled to unit diagonal), until the predicted decrease of
``F`` (the scoring decrement) is below ``1e-13 max(1, F)`` or the largest scaled gradient below ``1e-9``; neither
depends on the units of the data.  A fit that does not get there is
never returned: :class:`~vccscale.errors.ModelError` says what to change.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._args import is_plain
from ..errors import DataError, ModelError
from ._linalg import SMALL, inverse, spd_inverse
from .em import EM_SINGULAR_EIG, EMResult, em_moments
from .em import missing_patterns
from .model import ParTable

__all__ = ["GroupData", "Engine", "FIMLEngine", "prepare_groups", "estimate", "em_moments", "GRAD_TOL"]

#: largest scaled gradient |dF/dtheta_k| / (2 sqrt(I_kk)) (unit-free, see _scaled) at which the estimation has converged
GRAD_TOL = 1e-9
#: scoring decrement (predicted decrease of F by a full Fisher step), relative to max(1, |F|), at which the
#: estimation has converged (lavaan's nlminb stops at a relative function change of 1e-10)
DECREMENT_TOL = 1e-13
#: when no step can lower F, the estimation has still converged if the scoring decrement is below this share of |F|
STALL_TOL = 1e-10
#: _fisher hands over to BFGS (quasi_newton) once the scoring decrement is below QN_SWITCH x max(1, |F|), at most
#: QN_TRIES times per estimation
QN_SWITCH = 1e-5
QN_TRIES = 2


@dataclass
class GroupData:
    """Complete-case data of one group, with lavaan's sample statistics (covariance divisor N)."""

    label: object
    X: np.ndarray
    n: int
    mean: np.ndarray
    cov: np.ndarray
    patterns: list | None = None  # FIML: missing-data patterns (see missing_patterns); mean/cov are then EM estimates
    logl_h1: float | None = None  # FIML: log-likelihood of the saturated model at the EM moments
    em: EMResult | None = None  # FIML: the EM run (iterations, converged) behind mean / cov
    rows: np.ndarray | None = None  # positions (0-based) in the data of the rows of X (prepare_groups)


_EM_CACHE: dict = {}
#: data matrices whose missing-data patterns and EM moments are kept (least recently used dropped first): a study
#: fits several models to the same variables (nested comparisons, invariance steps, stages), and EM of many
#: variables with many patterns takes hundreds of iterations; kept while the data total at most _EM_CACHE_BYTES
_EM_CACHE_SIZE = 32
_EM_CACHE_BYTES = 128 * 2**20


def lru_keep(cache: dict, key, value, max_items: int, max_bytes: int, nbytes) -> None:
    """Keep ``value`` under ``key`` in ``cache`` (a dict, least recently used first) as the most recent entry, then
    drop the least recently used ones until at most ``max_items`` remain and their ``nbytes(value)`` total at most
    ``max_bytes``; a value larger than ``max_bytes`` alone is not kept (and drops nothing)."""
    cache.pop(key, None)
    if nbytes(value) > max_bytes:
        return
    cache[key] = value
    while len(cache) > max_items or sum(nbytes(v) for v in cache.values()) > max_bytes:
        cache.pop(next(iter(cache)))


def _saturated_em(X: np.ndarray):
    """(patterns, EMResult) of ``X``, shared by the fits to the same data (a digest of its shape and cells)."""
    import hashlib

    Xc = np.ascontiguousarray(X, dtype=float)
    key = hashlib.blake2b(repr(Xc.shape).encode() + Xc.tobytes(), digest_size=20).digest()
    hit = _EM_CACHE.get(key)
    if hit is None:
        pats = missing_patterns(Xc)
        hit = (pats, em_moments(pats, Xc.shape[1]), 3 * Xc.nbytes)
    lru_keep(_EM_CACHE, key, hit, _EM_CACHE_SIZE, _EM_CACHE_BYTES, lambda v: v[2])
    return hit[0], hit[1]


def prepare_groups(data, ov_names: list[str], group: str | None, *, labels: list | None = None,
                   missing: str = "listwise", ov_x: list[str] | None = None) -> tuple[list[GroupData], int]:
    """Check ``data`` against the model's observed variables and return per-group statistics.

    Rows with a missing value on any model variable (or the group column) are dropped (lavaan's
    ``missing = "listwise"``).  Returns the groups (in ``labels`` order, by default the order of first appearance
    in the data, as lavaan) and the number of dropped rows.

    With ``missing="fiml"`` (lavaan's ``missing = "ml"``) every row with at least one observed model variable is
    kept (rows with all model variables missing are dropped and counted); each group then carries its
    missing-data patterns and the EM estimates of the saturated mean and covariance (lavaan's ``missing.h1``),
    which serve as its sample statistics (start values, SRMR, sample covariance).
    """
    fiml = missing == "fiml"
    plain = is_plain(data) and group is None  # numeric columns read without pandas (vccscale.io.plain)
    if not plain:
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = [v for v in ov_names if v not in data.columns]
    if missing:
        raise ModelError(f"the model names {len(missing)} variable(s) that are not columns of the data: "
                         f"{', '.join(missing)}" + (f" (columns are: {', '.join(map(str, data.columns[:30]))}"
                                                   f"{' ...' if len(data.columns) > 30 else ''})"))
    if group is not None and group not in data.columns:
        raise DataError(f"group column {group!r} is not in the data", column=group)
    if group is not None and group in ov_names:
        raise ModelError(f"the group column {group!r} is also a variable of the model")
    cols = list(ov_names)
    X_all = data.matrix(cols) if plain else _numeric_matrix(data, cols)
    ok = np.isfinite(X_all).any(axis=1) if fiml else np.isfinite(X_all).all(axis=1)
    if fiml and ov_x:  # fixed.x = TRUE: cases with a missing covariate are deleted (as lavaan, with a warning)
        xi = [cols.index(v) for v in ov_x]
        ok &= np.isfinite(X_all[:, xi]).all(axis=1)
    if group is not None:
        gcol = data[group]
        ok &= gcol.notna().to_numpy()
    dropped = int((~ok).sum())
    groups: list[GroupData] = []
    if group is None:
        labels, idxs = [None], [np.flatnonzero(ok)]
    else:
        gv = data[group].to_numpy()
        if labels is None:
            labels = list(pd.unique(gv[ok]))
        idxs = [np.flatnonzero(ok & (gv == lab)) for lab in labels]
    for lab, idx in zip(labels, idxs):
        X = X_all[idx]
        n = X.shape[0]
        where = f" in group {lab!r}" if group is not None else ""
        if n == 0 and group is not None:
            raise DataError(f"group {lab!r} has no complete cases on the model variables", column=group)
        if n < 2:
            raise DataError(f"only {n} complete case(s){where}; at least 2 are needed (and more cases than free "
                            "parameters)")
        if fiml:
            empty = [c for j, c in enumerate(cols) if not np.isfinite(X[:, j]).any()]
            if empty:
                raise DataError(f"variable(s) {', '.join(empty)} have no observed values{where}", column=empty[0])
            pats, em = _saturated_em(X)
            mean, cov = em.mean, em.cov
            if not em.converged and not np.isfinite(em.delta):  # EM ran into a singular matrix: say so
                raise DataError(_em_singular_message(
                    f"the saturated model's means and covariances{where} cannot be estimated from these rows: EM "
                    f"ran into a singular covariance matrix after {em.iterations} iterations", cov, cols, n, pats))
            _check_pd(cov, cols, n, where, pats)
            logl_h1 = sum(_mvn_logl(pt["n"], pt["cov"], pt["mean"], cov[np.ix_(pt["o"], pt["o"])], mean[pt["o"]])
                          for pt in pats)
            groups.append(GroupData(lab, X, n, mean, cov, pats, float(logl_h1), em, rows=idx))
            continue
        mean = X.mean(axis=0)
        Xc = X - mean
        cov = Xc.T @ Xc / n
        _check_pd(cov, cols, n, where)
        groups.append(GroupData(lab, X, n, mean, cov, rows=idx))
    return groups, dropped


def _numeric_matrix(data, cols: list[str]) -> np.ndarray:
    """The model variables of a DataFrame as a float matrix (NaN for missing), refusing non-numeric columns."""
    import pandas as pd

    # column by column: data[cols] would copy the frame through an indexer (a third of a small model's fit)
    sub = data[cols] if data.columns.has_duplicates else data
    bad = []
    for c in cols:
        s = sub[c]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            bad.append(c)
    if bad:
        raise DataError(f"model variable(s) {', '.join(bad)} are not numeric (dtype "
                        f"{', '.join(str(sub[c].dtype) for c in bad)}); recode them to numbers first",
                        column=bad[0])
    if sub is data:
        X_all = np.empty((len(data), len(cols)))
        for j, c in enumerate(cols):
            X_all[:, j] = data[c].to_numpy(dtype=float, na_value=np.nan)
    else:
        X_all = sub.to_numpy(dtype=float, na_value=np.nan)
    return X_all


def _check_pd(cov: np.ndarray, cols: list[str], n: int, where: str, patterns: list | None = None) -> None:
    """Refuse a sample covariance matrix (with ``patterns``: FIML's EM estimate of it) that is not positive
    definite, naming the variables and the likely cause."""
    p = cov.shape[0]
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    const = [c for c, s in zip(cols, sd) if s <= 1e-12 * max(1.0, float(np.max(sd)))]
    if const:
        raise DataError(f"variable(s) {', '.join(const)} are constant{where}; the sample covariance matrix is not "
                        "positive definite. Drop them from the model")
    if n <= p:
        raise DataError(f"{n} complete cases{where} for {p} observed variables: the sample covariance matrix is "
                        f"singular. Rule: each group needs more complete cases than observed variables (N > p)")
    R = cov / np.outer(sd, sd)
    w, v = np.linalg.eigh(R)
    if w[0] < EM_SINGULAR_EIG:
        culprits = _dependent(v[:, 0], cols)
        if patterns is not None and len(patterns) > 1:  # EM moments of incomplete data
            raise DataError(_em_singular_message(
                f"the EM estimate of the covariance matrix{where} (missing answers, FIML) is not positive definite "
                f"(smallest eigenvalue of the correlation matrix {w[0]:.3g})", cov, cols, n, patterns))
        raise DataError(f"the sample covariance matrix{where} is not positive definite (smallest eigenvalue of the "
                        f"correlation matrix {w[0]:.3g}); the variables {', '.join(culprits)} are (nearly) "
                        "linearly dependent, e.g. duplicated items or a total score next to its items. Drop one")


def _dependent(vec: np.ndarray, cols: list[str]) -> list[str]:
    """The variables that load on ``vec`` (a correlation matrix's eigenvector of its smallest eigenvalue) by more
    than 0.1, largest first, at most 8: the (nearly) linearly dependent ones."""
    return [cols[i] for i in np.argsort(-np.abs(vec)) if abs(vec[i]) > 0.1][:8]


def _em_singular_message(what: str, cov: np.ndarray, cols: list[str], n: int, patterns: list) -> str:
    """``what`` and why: the variables (nearly) dependent in the EM covariance matrix ``cov`` (its correlation
    matrix's smallest eigenvector), the rows and patterns of answered variables, the two usual causes."""
    with np.errstate(all="ignore"):
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        R = cov / np.outer(sd, sd)
    culprits = _dependent(np.linalg.eigh(R)[1][:, 0], cols) if np.isfinite(R).all() else []
    who = f"; nearly linearly dependent in it: {', '.join(culprits)}" if culprits else ""
    most = max(pt["n"] for pt in patterns)
    return (f"{what}{who}. {n} rows in {len(patterns)} patterns of answered variables (at most {most} "
            f"row{'s' if most != 1 else ''} sharing one): the usual causes are too few rows answering these "
            "variables together (versions of a questionnaire answered by fewer respondents than they have items, "
            "items rarely answered together) or duplicated items (a total score next to its items). Fit fewer "
            "variables at a time or the versions separately, drop one of the dependent items, or collect more "
            "responses")


def _vech_idx(p: int):
    return np.tril_indices(p)


class Engine:
    """Implied moments, ML fit function, gradient, information and casewise scores of a :class:`ParTable`."""

    def __init__(self, pt: ParTable, groups: list[GroupData]):
        self.pt = pt
        self.groups = groups
        self.p = len(pt.ov_names)
        self.nlv = len(pt.lv_names)
        self.nv = self.p + self.nlv
        self.N = sum(g.n for g in groups)
        self.q = pt.npar
        self.meanstructure = pt.meanstructure
        pos = {v: i for i, v in enumerate(pt.ov_names)}
        pos.update({v: self.p + i for i, v in enumerate(pt.lv_names)})
        self.pos = pos
        rows = pt.rows
        self.par = np.array([r["par"] for r in rows], dtype=int)
        # fixed values (exogenous covariates take the sample moments of their group)
        fixed = np.zeros(len(rows))
        for k, r in enumerate(rows):
            if r["par"] >= 0:
                continue
            if r["exo"]:
                gd = groups[r["group"] - 1]
                if r["op"] == "~~":
                    fixed[k] = gd.cov[pos[r["lhs"]], pos[r["rhs"]]]
                else:
                    fixed[k] = gd.mean[pos[r["lhs"]]]
            else:
                fixed[k] = r["ustart"] if r["ustart"] is not None else 0.0
        self.fixed = fixed
        self.block = []
        for g in range(len(groups)):
            ent = {"A": [], "P": [], "m": []}
            for k, r in enumerate(rows):
                if r["group"] != g + 1:
                    continue
                op = r["op"]
                if op == "=~":
                    ent["A"].append((k, pos[r["rhs"]], pos[r["lhs"]]))
                elif op == "~":
                    ent["A"].append((k, pos[r["lhs"]], pos[r["rhs"]]))
                elif op == "~~":
                    ent["P"].append((k, pos[r["lhs"]], pos[r["rhs"]]))
                elif op == "~1":
                    ent["m"].append((k, pos[r["lhs"]], 0))
            self.block.append({key: np.array(v, dtype=int).reshape(-1, 3) for key, v in ent.items()})
        self._grad_plans = [self._gradient_plan(b) for b in self.block]

    # ------------------------------------------------------------------ model matrices
    def row_values(self, theta: np.ndarray) -> np.ndarray:
        vals = self.fixed.copy()
        free = self.par >= 0
        vals[free] = theta[self.par[free]]
        return vals

    def matrices(self, theta: np.ndarray, g: int, vals: np.ndarray | None = None):
        if vals is None:
            vals = self.row_values(theta)
        b = self.block[g]
        A = np.zeros((self.nv, self.nv))
        P = np.zeros((self.nv, self.nv))
        m = np.zeros(self.nv)
        a = b["A"]
        A[a[:, 1], a[:, 2]] = vals[a[:, 0]]
        pe = b["P"]
        P[pe[:, 1], pe[:, 2]] = vals[pe[:, 0]]
        P[pe[:, 2], pe[:, 1]] = vals[pe[:, 0]]
        me = b["m"]
        m[me[:, 1]] = vals[me[:, 0]]
        return A, P, m

    def implied_all(self, theta: np.ndarray, g: int):
        """Full (observed + latent) implied covariance and mean, and B = (I - A)^-1 (the last few results are
        remembered: the objective and the gradient at one theta share them)."""
        key = (g, theta.tobytes())
        memo = self.__dict__.setdefault("_memo", {})
        hit = memo.get(key)
        if hit is not None:
            return hit
        res = self._implied_all(theta, g)
        if len(memo) > 8:
            memo.clear()
        memo[key] = res
        return res

    def _implied_all(self, theta: np.ndarray, g: int):
        A, P, m = self.matrices(theta, g)
        try:
            B = inverse(np.eye(self.nv) - A)
        except np.linalg.LinAlgError:
            raise ModelError("the regression part of the model cannot be solved (I - B is singular): check for "
                             "feedback loops of regressions") from None
        cov = B @ P @ B.T
        mean = B @ m
        return cov, mean, B, P, m

    def implied(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for g, gd in enumerate(self.groups):
            cov, mean, *_ = self.implied_all(theta, g)
            S = cov[:self.p, :self.p]
            mu = mean[:self.p] if self.meanstructure else gd.mean.copy()
            out.append((S, mu))
        return out

    def derivatives(self, theta: np.ndarray, g: int, reduce: bool = True):
        """d Sigma / d theta (q, p, p) and d mu / d theta (q, p) for group g."""
        _, _, B, P, m = self.implied_all(theta, g)
        p = self.p
        Fc = B[:p, :]
        H = Fc @ P @ B.T  # (p, nv) = F Sigma_full
        Bm = B @ m
        b = self.block[g]
        mats, means, idx = [], [], []
        a = b["A"]
        if len(a):
            sel = self.par[a[:, 0]] >= 0
            a = a[sel]
            U, V = Fc[:, a[:, 1]], H[:, a[:, 2]]
            d = np.einsum("ak,bk->kab", U, V)
            mats.append(d + d.transpose(0, 2, 1))
            means.append((U * Bm[a[:, 2]]).T)
            idx.append(self.par[a[:, 0]])
        pe = b["P"]
        if len(pe):
            sel = self.par[pe[:, 0]] >= 0
            pe = pe[sel]
            U, V = Fc[:, pe[:, 1]], Fc[:, pe[:, 2]]
            d = np.einsum("ak,bk->kab", U, V)
            diag = pe[:, 1] == pe[:, 2]
            d = d + np.where(diag[:, None, None], 0.0, 1.0) * d.transpose(0, 2, 1)
            mats.append(d)
            means.append(np.zeros((len(pe), p)))
            idx.append(self.par[pe[:, 0]])
        me = b["m"]
        if len(me):
            sel = self.par[me[:, 0]] >= 0
            me = me[sel]
            mats.append(np.zeros((len(me), p, p)))
            means.append(Fc[:, me[:, 1]].T)
            idx.append(self.par[me[:, 0]])
        if mats:
            dS = np.concatenate(mats)
            dm = np.concatenate(means)
            ix = np.concatenate(idx)
        else:
            dS, dm, ix = np.zeros((0, p, p)), np.zeros((0, p)), np.zeros(0, dtype=int)
        if not self.meanstructure:
            dm = np.zeros_like(dm)
        if not reduce:
            return dS, dm, ix
        q = self.q
        dSr = np.zeros((q, p, p))
        dmr = np.zeros((q, p))
        if len(np.unique(ix)) == len(ix):
            dSr[ix] = dS
            dmr[ix] = dm
        else:
            np.add.at(dSr, ix, dS)
            np.add.at(dmr, ix, dm)
        return dSr, dmr

    def moment_gradient(self, theta: np.ndarray, g: int, G: np.ndarray, gm: np.ndarray | None) -> np.ndarray:
        """sum over the free parameters of tr(G dSigma/dtheta_k) + gm . dmu/dtheta_k for group g (G symmetric),
        by matrix products of the RAM form instead of the (q, p, p) derivative array: for a regression or loading
        A[i, j], tr(G (u v' + v u')) = 2 (F'G H)[i, j] with u = F[:, i], v = H[:, j], H = F P B'; for a (co)variance
        P[i, j] it is 2 (F'G F)[i, j] (once on the diagonal); means follow from F'gm."""
        _, _, B, P, m = self.implied_all(theta, g)
        p = self.p
        Fc = B[:p, :]
        M1 = Fc.T @ G
        a, pe, me, pf, par_all = self._grad_plans[g]
        use_mean = self.meanstructure and gm is not None
        w = Fc.T @ gm if use_mean else None
        vals = []
        if len(a):
            val = 2 * (M1 @ (Fc @ P @ B.T))[a[:, 1], a[:, 2]]
            if use_mean:
                val = val + w[a[:, 1]] * (B @ m)[a[:, 2]]
            vals.append(val)
        if len(pe):
            vals.append((M1 @ Fc)[pe[:, 1], pe[:, 2]] * pf)
        if len(me):
            vals.append(w[me[:, 1]] if use_mean else np.zeros(len(me)))
        if not vals:
            return np.zeros(self.q)
        # one bincount: the same sums, in the same order, as adding the three parts in turn (equal parameters too)
        return np.bincount(par_all, weights=np.concatenate(vals) if len(vals) > 1 else vals[0], minlength=self.q)

    def _gradient_plan(self, b: dict) -> tuple:
        """The free rows of a group's A, P and m entries ``b`` (index triples), P's factor (1 on the diagonal, else
        2) and the parameter of each, in the order :meth:`moment_gradient` concatenates them."""
        a, pe, me = (b[k][self.par[b[k][:, 0]] >= 0] for k in ("A", "P", "m"))
        pf = np.where(pe[:, 1] == pe[:, 2], 1.0, 2.0)
        return a, pe, me, pf, np.concatenate([self.par[x[:, 0]] for x in (a, pe, me)])

    # ------------------------------------------------------------------ fit function
    def objective(self, theta: np.ndarray) -> float:
        """F = sum_g (N_g/N) F_g (lavaan's fmin is F/2); inf where Sigma is not positive definite."""
        return self._value(theta, False)[0]

    def _value(self, theta: np.ndarray, grad: bool) -> tuple[float, np.ndarray | None]:
        total = 0.0
        g_all = np.zeros(self.q) if grad else None
        for g, ((Sig, mu), gd) in enumerate(zip(self.implied(theta), self.groups)):
            try:
                if self.p < SMALL:
                    L = np.linalg.cholesky(Sig)
                    logdet = 2 * np.log(np.diag(L)).sum()
                    W = np.linalg.inv(Sig)
                else:  # LAPACK potri: the inverse and log-determinant from one Cholesky factor
                    W, logdet = spd_inverse(Sig)
            except np.linalg.LinAlgError:
                return np.inf, None
            d = gd.mean - mu
            logdet_s = getattr(gd, "_logdet_s", None)
            if logdet_s is None:  # the data's log-determinant: once per data set
                logdet_s = gd._logdet_s = float(np.linalg.slogdet(gd.cov)[1])
            Wd = W @ d
            Fg = logdet + np.sum(W * gd.cov) - logdet_s - self.p + d @ Wd
            total += gd.n / self.N * Fg
            if grad:
                g_all += self._group_gradient(theta, g, gd, W, d, Wd)
        return float(total), g_all

    def _group_gradient(self, theta, g, gd, W, d, Wd) -> np.ndarray:
        """Group g's share (N_g / N) of dF/dtheta at Sigma^-1 = ``W`` and d = ybar - mu (``Wd`` = W d)."""
        Gm = W - W @ (gd.cov + np.outer(d, d)) @ W
        return gd.n / self.N * self.moment_gradient(theta, g, Gm, -2 * Wd)

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray | None]:
        """(objective, gradient) at ``theta`` from one inverse of each group's Sigma; the gradient is None where the
        objective is not finite. Engines whose two share more work (FIML: one pass over the missing-data patterns)
        override it."""
        F, grad = self._value(theta, True)
        return (F, grad) if np.isfinite(F) else (np.inf, None)

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        grad = np.zeros(self.q)
        for g, ((Sig, mu), gd) in enumerate(zip(self.implied(theta), self.groups)):
            W = inverse(Sig)
            d = gd.mean - mu
            grad += self._group_gradient(theta, g, gd, W, d, W @ d)
        return grad

    def _rank_one(self, theta: np.ndarray, g: int):
        """The derivatives of group g in factored form: every free row k has dSigma_k = c_k (u_k v_k' + v_k u_k')
        and dmu_k = dm[k]; returns U (p, r), V (p, r), c (r), dm (r, p) and the parameter index of each row."""
        _, _, B, P, m = self.implied_all(theta, g)
        p = self.p
        Fc = B[:p, :]
        H = Fc @ P @ B.T
        Bm = B @ m
        b = self.block[g]
        Us, Vs, cs, dms, idx = [], [], [], [], []
        a = b["A"]
        if len(a):
            a = a[self.par[a[:, 0]] >= 0]
            Us.append(Fc[:, a[:, 1]])
            Vs.append(H[:, a[:, 2]])
            cs.append(np.ones(len(a)))
            dms.append((Fc[:, a[:, 1]] * Bm[a[:, 2]]).T)
            idx.append(self.par[a[:, 0]])
        pe = b["P"]
        if len(pe):
            pe = pe[self.par[pe[:, 0]] >= 0]
            Us.append(Fc[:, pe[:, 1]])
            Vs.append(Fc[:, pe[:, 2]])
            cs.append(np.where(pe[:, 1] == pe[:, 2], 0.5, 1.0))
            dms.append(np.zeros((len(pe), p)))
            idx.append(self.par[pe[:, 0]])
        me = b["m"]
        if len(me):
            me = me[self.par[me[:, 0]] >= 0]
            Us.append(np.zeros((p, len(me))))
            Vs.append(np.zeros((p, len(me))))
            cs.append(np.zeros(len(me)))
            dms.append(Fc[:, me[:, 1]].T)
            idx.append(self.par[me[:, 0]])
        if not idx:
            z = np.zeros((p, 0))
            return z, z, np.zeros(0), np.zeros((0, p)), np.zeros(0, dtype=int)
        dm = np.concatenate(dms)
        if not self.meanstructure:
            dm = np.zeros_like(dm)
        return np.hstack(Us), np.hstack(Vs), np.concatenate(cs), dm, np.concatenate(idx)

    def information_expected(self, theta: np.ndarray, per_group: bool = False):
        """Expected (Fisher) information per case: sum_g (N_g/N) [Dmu' W Dmu + 1/2 tr(W dS_k W dS_l)].

        With dS_k = c_k (u_k v_k' + v_k u_k'), 1/2 tr(W dS_k W dS_l) = c_k c_l [(u_k'Wu_l)(v_k'Wv_l) +
        (u_k'Wv_l)(v_k'Wu_l)]: O(q^2 + q p^2) instead of O(q^2 p^2)."""
        out = []
        total = np.zeros((self.q, self.q))
        for g, ((Sig, mu), gd) in enumerate(zip(self.implied(theta), self.groups)):
            W = inverse(Sig)
            U, V, c, dm, ix = self._rank_one(theta, g)
            WU, WV = W @ U, W @ V
            UU, VV, UV = U.T @ WU, V.T @ WV, U.T @ WV
            rows = np.outer(c, c) * (UU * VV + UV * UV.T)
            if self.meanstructure:
                rows = rows + dm @ W @ dm.T
            info = _reduce_rows(rows, ix, self.q)
            out.append(info)
            total += gd.n / self.N * info
        return (total, out) if per_group else total

    def casewise_scores(self, theta: np.ndarray) -> list[np.ndarray]:
        """Per-case scores d log L_i / d theta (n_g x q for each group), at the structured moments."""
        out = []
        for g, ((Sig, mu), gd) in enumerate(zip(self.implied(theta), self.groups)):
            W = inverse(Sig)
            dS, dm = self.derivatives(theta, g)
            Z = (gd.X - mu) @ W  # n x p
            quad = np.einsum("kib,ib->ik", np.matmul(Z[None, :, :], dS), Z)
            sc = 0.5 * (quad - np.einsum("ab,kab->k", W, dS)[None, :])
            if self.meanstructure:
                sc = sc + Z @ dm.T
            out.append(sc)
        return out

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Observed information per case = Hessian of F/2, by central differences of the analytic gradient."""
        q = self.q
        H = np.zeros((q, q))
        unit = param_units(self, theta)
        for k in range(q):
            h = 1e-6 * max(unit[k], abs(theta[k]))  # relative to the parameter's units: scale-free
            tp, tm = theta.copy(), theta.copy()
            tp[k] += h
            tm[k] -= h
            H[:, k] = (self.gradient(tp) - self.gradient(tm)) / (2 * h)
        H = (H + H.T) / 2
        return H / 2

    def loglik(self, theta: np.ndarray) -> float:
        """lavaan's logl: sum_g -N_g/2 [p log 2pi + log|Sigma| + tr(S W) + d'Wd], minus the marginal
        log-likelihood of fixed exogenous covariates (``fixed.x``)."""
        total = 0.0
        xi = [self.pos[v] for v in self.pt.ov_x]
        for (Sig, mu), gd in zip(self.implied(theta), self.groups):
            total += _mvn_logl(gd.n, gd.cov, gd.mean, Sig, mu)
            if xi:
                total -= _mvn_logl(gd.n, gd.cov[np.ix_(xi, xi)], gd.mean[xi], Sig[np.ix_(xi, xi)], mu[xi])
        return float(total)

    def loglik_h1(self) -> float:
        total = 0.0
        xi = [self.pos[v] for v in self.pt.ov_x]
        for gd in self.groups:
            total += _mvn_logl(gd.n, gd.cov, gd.mean, gd.cov, gd.mean)
            if xi:
                Sx = gd.cov[np.ix_(xi, xi)]
                total -= _mvn_logl(gd.n, Sx, gd.mean[xi], Sx, gd.mean[xi])
        return float(total)


def _reduce_rows(rows: np.ndarray, ix: np.ndarray, q: int) -> np.ndarray:
    """Sum a (r, r) matrix over parameter-table rows into (q, q) by their parameter index ``ix`` (rows sharing a
    parameter through an equality constraint add up)."""
    out = np.zeros((q, q))
    if len(np.unique(ix)) == len(ix):
        out[np.ix_(ix, ix)] = rows
        return out
    M = np.zeros((q, len(ix)))
    M[ix, np.arange(len(ix))] = 1.0
    return M @ rows @ M.T


def param_units(engine: Engine, theta: np.ndarray) -> np.ndarray:
    """The natural unit of every free parameter, so that ``theta / units`` does not depend on the units of the
    data: with s_v the standard deviation of variable v (observed: the sample value, pooled over groups; latent:
    the model-implied one at ``theta``), a loading or regression of y on x has unit s_y / s_x, a (co)variance
    s_a s_b and a mean s_v. Multiplying an observed variable by c multiplies its parameters and their units by the
    same power of c, so scaled gradients, information and covariance matrices are unit-free. Used for the
    convergence and identification checks (not for the estimates)."""
    cached = getattr(engine, "_units_cache", None)
    key = theta.tobytes()
    if cached is not None and cached[0] == key:
        return cached[1]
    p, nlv = engine.p, engine.nlv
    var = np.zeros(p + nlv)
    for g, gd in enumerate(engine.groups):
        w = gd.n / engine.N
        var[:p] += w * np.diag(gd.cov)
        if nlv:
            cov, *_ = engine.implied_all(theta, g)
            var[p:] += w * np.diag(cov)[p:]
    sd = np.sqrt(np.abs(var))
    sd[~(sd > 0) | ~np.isfinite(sd)] = 1.0
    units = np.ones(engine.q)
    seen = np.zeros(engine.q, bool)
    pos = engine.pos
    for r in engine.pt.rows:
        k = r["par"]
        if k < 0 or seen[k]:
            continue
        seen[k] = True
        op, a = r["op"], sd[pos[r["lhs"]]]
        if op == "~1":
            units[k] = a
        elif op == "~~":
            units[k] = a * sd[pos[r["rhs"]]]
        elif op == "=~":
            units[k] = sd[pos[r["rhs"]]] / a
        elif op == "~":
            units[k] = a / sd[pos[r["rhs"]]]
    engine._units_cache = (key, units)
    return units


def _mvn_logl(n, S, ybar, Sig, mu) -> float:
    p = S.shape[0]
    _, logdet = np.linalg.slogdet(Sig)
    W = inverse(Sig)
    d = ybar - mu
    return -n / 2 * (p * np.log(2 * np.pi) + logdet + np.sum(W * S) + d @ W @ d)


# ---------------------------------------------------------------------- FIML (lavaan missing = "ml")
#: incomplete missing-data patterns shared by at least this many rows (and by at least p) enter the FIML likelihood
#: through their moments (one Sigma_oo^-1 each) instead of row by row
BIG_PATTERN = 20


class FIMLEngine(Engine):
    """Engine for full-information ML (lavaan ``missing = "ml"``): the casewise normal log-likelihood summed over
    the missing-data patterns.  ``F = -2 (logl(theta) - logl_h1) / N`` so that, as for complete data, lavaan's
    ``fmin`` is ``F / 2`` and ``chisq = N F = -2 (logl_H0 - logl_H1)`` with ``logl_H1`` the EM saturated model."""

    def _pattern_terms(self, theta):
        for g, ((Sig, mu), gd) in enumerate(zip(self.implied(theta), self.groups)):
            yield g, Sig, mu, gd

    def objective(self, theta: np.ndarray) -> float:
        try:
            ll = self.loglik(theta)
        except np.linalg.LinAlgError:
            return np.inf
        if not np.isfinite(ll):
            return np.inf
        return float(-2 * (ll - self.loglik_h1()) / self.N)

    @staticmethod
    def _blocks(gd):
        """The group's rows arranged for the pattern-wise algebra (:class:`vccscale.sem.em.RowBlocks`; built once
        per data set)."""
        blk = getattr(gd, "_fiml_blocks", None)
        if blk is None:
            from .em import RowBlocks

            tb = getattr(gd, "_fiml_terms_blocks", None)  # the likelihood's, when it has no large patterns apart
            if tb is not None and tb.w is not None:
                raise ModelError("internal: frequency-weighted rows serve the likelihood only")
            blk = gd._fiml_blocks = tb if tb is not None and not tb.big_patterns else RowBlocks(gd.X, gd.patterns)
        return blk

    def _terms(self, Sig, mu, gd, grad: bool):
        """Log-likelihood of group ``gd`` and, with ``grad``, dF/dSigma and dF/dmu (per-case scale, weights 1/N).

        With W = Sigma^-1, a row missing the variables m has Sigma_oo^-1 embedded in p x p P = W - W S W (S:
        W_mm^-1 at (m, m)) and log|Sigma_oo| = log|Sigma| + log|W_mm|; its residual z = P e is d W with d the
        row's deviations completed by their conditional means (:meth:`vccscale.sem.em.RowBlocks.complete`), so
        that all rows take a few matrix products: quad = sum e'z, dF/dSigma = (sum_i P_i - Z'Z) / N with
        sum_i P_i = n W - W Q W (Q: the summed conditional covariances), dF/dmu = -2 sum z / N. The complete rows
        enter through their count, mean and covariance when there are enough of them."""
        blk = getattr(gd, "_fiml_terms_blocks", None)
        if blk is None:  # here also large incomplete patterns enter through their moments
            from .em import RowBlocks

            blk = gd._fiml_terms_blocks = RowBlocks(gd.X, gd.patterns, big=max(self.p, BIG_PATTERN))
            if not blk.big_patterns and getattr(gd, "_fiml_blocks", None) is None:
                gd._fiml_blocks = blk  # the same arrangement serves the information, scores and J'AJ
        W, logdet = spd_inverse(Sig)
        E, D, Q, ldmm = blk.complete(W, mu)
        Z = D @ W
        w = blk.w  # frequency weights of the rows (a bootstrap resample's counts; RowBlocks.reweighted) or None
        quad = float(np.einsum("ij,ij->", E, Z) if w is None else np.einsum("ij,ij,i->", E, Z, w))
        n0 = blk.complete_n
        if n0:  # the complete rows through their moments: S0 = m2 + d0 d0' about the implied mean
            d0 = blk.complete_mean - mu
            Wd0 = W @ d0
            S0 = blk.complete_m2 + np.outer(d0, d0)
            quad += n0 * float(np.sum(W * S0))
        ll = -0.5 * (blk.nobs * np.log(2 * np.pi) + (blk.n + n0) * logdet + ldmm + quad)
        big = []
        for bp in blk.big_patterns:  # n_j (|o| log 2pi + log|Sigma_oo| + tr(P_oo S~)), P_oo = Sigma_oo^-1
            o, nj = bp["o"], bp["n"]
            Poo, ldo = spd_inverse(Sig[np.ix_(o, o)])
            d = bp["mean"] - mu[o]
            St = bp["m2"] + np.outer(d, d)
            PS = Poo @ St
            ll -= 0.5 * nj * (len(o) * np.log(2 * np.pi) + ldo + float(np.trace(PS)))
            big.append((o, nj, Poo, PS, d))
        if not grad:
            return ll, None, None
        if n0:  # W Q W and the complete rows' W S0 W in one sandwich
            Q = Q + n0 * S0
        if w is None:
            G = (blk.n + n0) * W - W @ Q @ W - Z.T @ Z
            gm = -2.0 * Z.sum(axis=0)
        else:
            G = (blk.n + n0) * W - W @ Q @ W - Z.T @ (Z * w[:, None])
            gm = -2.0 * (w @ Z)
        if n0:
            gm -= 2.0 * n0 * Wd0
        for o, nj, Poo, PS, d in big:
            G[np.ix_(o, o)] += nj * (Poo - PS @ Poo)
            gm[o] -= 2.0 * nj * (Poo @ d)
        return ll, G / self.N, gm / self.N

    def _moment_gradients(self, Sig, mu, gd):
        """d F_g / d Sigma (p x p) and d F_g / d mu (p) summed over the group's rows (per-case scale)."""
        _, G, gm = self._terms(Sig, mu, gd, True)
        return G, gm

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        grad = np.zeros(self.q)
        for g, Sig, mu, gd in self._pattern_terms(theta):
            G, gm = self._moment_gradients(Sig, mu, gd)
            grad += self.moment_gradient(theta, g, G, gm)
        return grad

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray | None]:
        """:meth:`objective` and :meth:`gradient` from one pass over the missing-data patterns."""
        grad = np.zeros(self.q)
        total = 0.0
        try:
            for g, Sig, mu, gd in self._pattern_terms(theta):
                ll, G, gm = self._terms(Sig, mu, gd, True)
                total += ll - self._x_marginal(gd)
                grad += self.moment_gradient(theta, g, G, gm)
        except np.linalg.LinAlgError:
            return np.inf, None
        F = float(-2 * (total - self.loglik_h1()) / self.N)
        return (F, grad) if np.isfinite(F) else (np.inf, None)

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Observed information per case (Hessian of F/2) of the pattern-wise likelihood, in two parts, both
        analytic: J'AJ (:meth:`_jaj`: the likelihood's Hessian in the moments at the implied moments, taken along
        their derivatives J) plus the curvature of the implied moments weighted by the likelihood's moment
        gradient, sum_i (dF/dm_i) d2 m_i / dtheta dtheta' (:meth:`_curvature`). The same matrix as central
        differences of the whole gradient (:meth:`Engine.hessian`), which it falls back to when the patterns
        carry no moments."""
        if any("cov" not in pt for gd in self.groups for pt in gd.patterns):
            return super().hessian(theta)
        q = self.q
        H1 = np.zeros((q, q))
        mgrads = []
        for g, Sig, mu, gd in self._pattern_terms(theta):
            H1 += (gd.n / self.N) * self._jaj(theta, g, Sig, mu, gd)
            _, G, gm = self._terms(Sig, mu, gd, True)
            mgrads.append((G, gm))

        H2 = self._curvature(theta, mgrads)
        H = H1 + (H2 + H2.T) / 4  # (the second part is of F: halved for F/2)
        return (H + H.T) / 2

    def _curvature(self, theta: np.ndarray, mgrads: list) -> np.ndarray:
        """sum_g tr(G_g d2Sigma_g/dtheta dtheta') + gm_g' d2mu_g/dtheta dtheta' with the moment gradients
        ``mgrads`` = [(G_g, gm_g)] held fixed, analytically in the RAM form: with B = (I - A)^-1, Hf = B P B',
        M = F'GF, K = B'MB, N = Hf M B, v = B'F'gm and mu_f = B m, for loadings / regressions A[i, j], A[k, l],
        (co)variances P[k, l] (S = E_kl + E_lk, once on the diagonal) and means m[k]:
        AA: 2 B_li N_jk + 2 B_jk N_li + 2 K_ki Hf_jl + v_k B_li mu_j + v_i B_jk mu_l;
        AP: 2 (K_li B_jk + K_ki B_jl); Am: v_i B_jk; PP, Pm, mm: 0. Rows that share a parameter add up."""
        q, p, nv = self.q, self.p, self.nv
        C = np.zeros((q, q))
        for g, (G, gm) in enumerate(mgrads):
            _, _, B, P, m = self.implied_all(theta, g)
            Hf = B @ P @ B.T
            M = np.zeros((nv, nv))
            M[:p, :p] = G
            K = B.T @ M @ B
            N = Hf @ M @ B
            v = np.zeros(nv)
            if self.meanstructure and gm is not None:
                w = np.zeros(nv)
                w[:p] = gm
                v = B.T @ w
            mf = B @ m
            b = self.block[g]
            a, pe, me = (b[key][self.par[b[key][:, 0]] >= 0] for key in ("A", "P", "m"))
            i, j = a[:, 1][:, None], a[:, 2][:, None]
            k, l_ = a[:, 1][None, :], a[:, 2][None, :]
            caa = (2 * B[l_, i] * N[j, k] + 2 * B[j, k] * N[l_, i] + 2 * K[k, i] * Hf[j, l_]
                   + v[k] * B[l_, i] * mf[j] + v[i] * B[j, k] * mf[l_])
            pk, pl = pe[:, 1][None, :], pe[:, 2][None, :]
            cap = 2 * (K[pl, i] * B[j, pk] + K[pk, i] * B[j, pl]) * np.where(pk == pl, 0.5, 1.0)
            cam = v[i] * B[j, me[:, 1][None, :]]
            na, npe, nm = len(a), len(pe), len(me)
            rowm = np.zeros((na + npe + nm, na + npe + nm))
            rowm[:na, :na] = caa
            rowm[:na, na:na + npe] = cap
            rowm[na:na + npe, :na] = cap.T
            rowm[:na, na + npe:] = cam
            rowm[na + npe:, :na] = cam.T
            idx = self.par[np.concatenate([a[:, 0], pe[:, 0], me[:, 0]])]
            np.add.at(C, (idx[:, None], idx[None, :]), rowm)
        return C

    def _jaj(self, theta: np.ndarray, g: int, Sig: np.ndarray, mu: np.ndarray, gd) -> np.ndarray:
        """J'AJ of group g per case: the Hessian of -logl/n in the moments (the saturated model's observed
        information at Sigma, mu, as robust.saturated_fiml_information) taken along the model's derivatives.
        Per pattern j (share w_j of the cases; P = Sigma_oo^-1 embedded; e, z = P e the rows' deviations and
        residuals; t = mean of z; AAA = P (2 S~ - Sigma) P = (2/n_j) sum z z' - P, X_k = dSigma/dtheta_k, M_k =
        dmu/dtheta_k): 1/2 tr(X_k AAA X_l P) + t'X_k P M_l + t'X_l P M_k + M_k'P M_l.

        Without a loop over patterns: with the derivatives in rank-one form (X_k = c_k (u_k v_k' + v_k u_k'),
        :meth:`_rank_one`) the trace is c_k c_l times four products of quadratic forms such as (v_k'AAA u_l)
        (u_k'P v_l); every form is its complete-data value W (a constant) plus low-rank parts (P = W - sum_t
        v_t v_t' with v_t the columns of W_.m R', W_mm^-1 = R'R, and the rows' z z'). The sums over patterns of
        the constant x low-rank products are matrix products with Q (the summed W_mm^-1) and Z'Z; those of two
        low-rank parts are sums of outer products of Hadamard products of their factors (rows x pattern columns,
        pattern columns x pattern columns): a few matrix products whatever the number of patterns."""
        U, V, c, dm, ix = self._rank_one(theta, g)
        r, p, n = len(ix), self.p, gd.n
        blk = self._blocks(gd)
        W = inverse(Sig)
        W = (W + W.T) / 2
        Zr = np.zeros((0, p))
        Q = np.zeros((p, p))
        if blk.n:
            _, D, Q, _ = blk.complete(W, mu)
            Zr = D @ W
        ZZ, zs = Zr.T @ Zr, Zr.sum(axis=0)
        if blk.complete_n:
            Wd0 = W @ (blk.complete_mean - mu)
            ZZ = ZZ + blk.complete_n * (W @ blk.complete_m2 @ W + np.outer(Wd0, Wd0))
            zs = zs + blk.complete_n * Wd0
        Qw = W @ Q @ W / n                      # sum_j w_j W S_j W
        Dm = dm.T                               # (p, r)
        mats = {"U": U, "V": V}
        K = {(x, y): mats[x].T @ W @ mats[y] for x in "UV" for y in "UV"}
        LP = {(x, y): mats[x].T @ Qw @ mats[y] for x in "UV" for y in "UV"}
        LA = {(x, y): (2.0 / n) * (mats[x].T @ ZZ @ mats[y]) + LP[(x, y)] for x in "UV" for y in "UV"}
        pairs = [("V", "U", "U", "V"), ("V", "V", "U", "U"), ("U", "U", "V", "V"), ("U", "V", "V", "U")]
        bil = {pr: np.zeros((r, r)) for pr in pairs}
        cross_low = np.zeros((r, r))
        Wp = blk.padded(W)
        for M, cnt, R, (kb, _, _, rloc, pid, _, _) in blk.factors(W, chunk=None):
            Vb = np.einsum("pjk,jlk->jpl", Wp[:p][:, M], R)           # (J, p, kb): the patterns' v_t
            XV = {x: np.einsum("pr,jpl->jrl", mats[x], Vb) for x in "UV"}
            DV = np.einsum("pr,jpl->jrl", Dm, Vb)
            XZ = {x: Zr[rloc] @ mats[x] for x in "UV"}                # (rows, r)
            w = cnt / n
            J = len(M)
            for pr in pairs:
                x1, y1, x2, y2 = pr
                F = (XV[x1][:, :, :, None] * XV[x2][:, :, None, :]).transpose(0, 2, 3, 1).reshape(J, -1, r)
                G = (XV[y1][:, :, :, None] * XV[y2][:, :, None, :]).transpose(0, 2, 3, 1).reshape(J, -1, r)
                bil[pr] += (F * w[:, None, None]).reshape(-1, r).T @ G.reshape(-1, r)
                Fr = (XZ[x1][:, :, None] * XV[x2][pid]).transpose(0, 2, 1).reshape(-1, r)
                Gr = (XZ[y1][:, :, None] * XV[y2][pid]).transpose(0, 2, 1).reshape(-1, r)
                bil[pr] += (2.0 / n) * (Fr.T @ Gr)
            for x, y in (("U", "V"), ("V", "U")):
                Fr = (XZ[x][:, :, None] * XV[y][pid]).transpose(0, 2, 1).reshape(-1, r)
                cross_low += (Fr.T @ DV[pid].transpose(0, 2, 1).reshape(-1, r)) / n
        term = np.zeros((r, r))
        for x1, y1, x2, y2 in pairs:
            K1, K2 = K[(x1, y1)], K[(x2, y2)]
            term += -K1 * K2 + K1 * LP[(x2, y2)] + LA[(x1, y1)] * K2 - bil[(x1, y1, x2, y2)]
        cc = np.outer(c, c)
        zbar = zs / n
        cross = (U.T @ zbar)[:, None] * (V.T @ W @ Dm) + (V.T @ zbar)[:, None] * (U.T @ W @ Dm) - cross_low
        cross = c[:, None] * cross
        mm = Dm.T @ W @ Dm - Dm.T @ Qw @ Dm
        rows = 0.5 * cc * term + cross + cross.T + mm
        return _reduce_rows((rows + rows.T) / 2, ix, self.q)

    def information_expected(self, theta: np.ndarray, per_group: bool = False):
        """Expected information of the pattern-wise likelihood (per case), used for the scoring steps: per
        parameter-table rows k, l, sum over patterns of w_j [c_k c_l ((u_k'P_j u_l)(v_k'P_j v_l) + (u_k'P_j v_l)
        (v_k'P_j u_l)) + dmu_k'P_j dmu_l] with P_j = Sigma_oo^-1 embedded and w_j the pattern's share of cases.

        P_j = W - W S_j W (S_j: W_mm^-1 at the pattern's missing m; :class:`vccscale.sem.em.RowBlocks`), so every
        quadratic form is its complete-data value minus a rank-k correction: U'P_jU = U'WU - a_j with a_j =
        alpha'alpha, alpha = R_j (WU)_m (W_mm^-1 = R_j'R_j), likewise b_j (WV), c_j = alpha'beta. The sums of
        the corrections are A'QA, B'QB, A'QB with Q = sum w_j S_j, and the products of two corrections are
        sums of outer products, a_j o b_j = F_j'F_j and c_j o c_j' = F_j'G_j with the rows of F_j the products
        alpha_s o beta_t and of G_j beta_s o alpha_t: all patterns in a few matrix products."""
        out, total = [], np.zeros((self.q, self.q))
        for g, Sig, mu, gd in self._pattern_terms(theta):
            U, V, c, dm, ix = self._rank_one(theta, g)
            blk = self._blocks(gd)
            W = inverse(Sig)
            W = (W + W.T) / 2
            A, B, C = W @ U, W @ V, W @ dm.T
            X0, Y0, Z0, D0 = U.T @ A, V.T @ B, U.T @ B, dm @ C
            r = len(ix)
            K = blk.P - blk.p
            Ap, Bp = np.vstack([A, np.zeros((K, r))]), np.vstack([B, np.zeros((K, r))])
            Qf = np.zeros(blk.P * blk.P)
            FF, FG = np.zeros((r, r)), np.zeros((r, r))
            for M, cnt, R, _ in blk.factors(W):
                w = cnt / gd.n
                al = R @ Ap[M]            # (J, kb, r)
                be = R @ Bp[M]
                kb = M.shape[1]
                F = (al[:, :, None, :] * be[:, None, :, :]).reshape(len(M), kb * kb, r)
                G = (be[:, :, None, :] * al[:, None, :, :]).reshape(len(M), kb * kb, r)
                Fw = (F * w[:, None, None]).reshape(-1, r)
                FF += Fw.T @ F.reshape(-1, r)
                FG += Fw.T @ G.reshape(-1, r)
                S = np.transpose(R, (0, 2, 1)) @ R  # W_mm^-1
                idx = (M[:, :, None] * blk.P + M[:, None, :]).ravel()
                Qf += np.bincount(idx, weights=(w[:, None, None] * S).ravel(), minlength=Qf.size)
            Q = Qf.reshape(blk.P, blk.P)[:blk.p, :blk.p]
            QA, QB = Q @ A, Q @ B
            sa, sb, sc = A.T @ QA, B.T @ QB, A.T @ QB
            cc = np.outer(c, c)
            rows = cc * (X0 * Y0 - X0 * sb - sa * Y0 + FF + Z0 * Z0.T - Z0 * sc.T - sc * Z0.T + FG)
            rows = rows + D0 - C.T @ Q @ C
            info = _reduce_rows((rows + rows.T) / 2, ix, self.q)
            out.append(info)
            total += gd.n / self.N * info
        return (total, out) if per_group else total

    def casewise_scores(self, theta: np.ndarray) -> list[np.ndarray]:
        """Scores of every case: 1/2 (z' dSigma_k z - tr(W_oo dSigma_k,oo)) + z' dmu_k with z = W_oo (x_o - mu_o)
        on the case's observed variables. Computed in the full p-space with zeros at the missing positions: z = d W
        with d the deviations completed by their conditional means (:meth:`vccscale.sem.em.RowBlocks.complete`),
        and tr(P_j dSigma_k) = tr(W dSigma_k) - tr(W_mm^-1 (W dSigma_k W)_mm) for a pattern missing m (P_j:
        Sigma_oo^-1 embedded), one small inverse per pattern, so that all cases take a few matrix products."""
        out = []
        p, q = self.p, self.q
        for g, Sig, mu, gd in self._pattern_terms(theta):
            dS, dm = self.derivatives(theta, g)
            dSf = dS.reshape(q, p * p)
            blk = self._blocks(gd)
            W = inverse(Sig)
            W = (W + W.T) / 2
            Zf = self.case_residuals(gd, W, mu)
            tr = np.tile(dSf @ W.ravel(), (gd.n, 1))
            if blk.buckets:
                P = blk.P
                Wp = blk.padded(W)
                J = sum(len(bk[1]) for bk in blk.buckets)
                WdSW = None
                if p <= J:  # (W dSigma_k W) once, then each pattern's block: q p^3 + J kb^2 q
                    WdSW = np.zeros((q, P, P))
                    WdSW[:, :p, :p] = W @ dS @ W
                for kb, M, cnt, r, pid, cols, qidx in blk.buckets:
                    Minv = np.linalg.inv(Wp[M[:, :, None], M[:, None, :]])
                    if WdSW is not None:
                        corr = np.einsum("jab,kjab->jk", Minv, WdSW[:, M[:, :, None], M[:, None, :]])
                    else:  # few patterns: W_.m W_mm^-1 W_m. per pattern (J p^2 q)
                        Wm = np.transpose(Wp[:p, M], (1, 0, 2))        # (J, p, kb)
                        G = Wm @ Minv @ np.transpose(Wm, (0, 2, 1))     # (J, p, p)
                        corr = G.reshape(len(M), p * p) @ dSf.T
                    tr[blk.rows[r]] -= corr[pid]
            sc = np.empty((gd.n, q))
            step = max(1, 4_000_000 // max(p * p, 1))  # rows per block: bounded memory for z z'
            for a in range(0, gd.n, step):
                Zb = Zf[a:a + step]
                quad = (Zb[:, :, None] * Zb[:, None, :]).reshape(len(Zb), p * p) @ dSf.T
                sc[a:a + step] = 0.5 * (quad - tr[a:a + step]) + Zb @ dm.T
            out.append(sc)
        return out

    @classmethod
    def case_residuals(cls, gd, W: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """z = Sigma_oo^-1 (x_o - mu_o) of every case of group ``gd`` embedded in p (0 at its missing variables), at
        Sigma^-1 = ``W`` (symmetric): d W with d the deviations completed by their conditional means
        (:meth:`vccscale.sem.em.RowBlocks.complete`), (x - mu) W for the complete rows."""
        blk = cls._blocks(gd)
        Z = np.zeros((gd.n, W.shape[0]))
        if blk.n:
            _, D, _, _ = blk.complete(W, mu)
            Z[blk.rows] = D @ W
        if blk.complete_n:
            Z[blk.complete_rows] = (gd.X[blk.complete_rows] - mu) @ W
        return Z

    def _x_marginal(self, gd) -> float:
        """Log-likelihood of the fixed covariates at their sample moments (subtracted, as lavaan's logl with
        fixed.x = TRUE is the likelihood of the other variables given them)."""
        xi = [self.pos[v] for v in self.pt.ov_x]
        if not xi:
            return 0.0
        X = gd.X[:, xi]
        m = X.mean(axis=0)
        S = (X - m).T @ (X - m) / len(X)
        return _mvn_logl(len(X), S, m, S, m)

    def loglik(self, theta: np.ndarray) -> float:
        total = 0.0
        for g, Sig, mu, gd in self._pattern_terms(theta):
            total += self._terms(Sig, mu, gd, False)[0] - self._x_marginal(gd)
        return float(total)

    def loglik_h1(self) -> float:
        return float(sum(gd.logl_h1 - self._x_marginal(gd) for gd in self.groups))


# ---------------------------------------------------------------------- start values
def start_values(engine: Engine) -> np.ndarray:
    """lavaan-like start values: one-factor principal-component loadings per factor (scaled to the marker or to
    unit factor variance), residual variances from the remaining variance, sample means, zero elsewhere."""
    pt = engine.pt
    theta = np.full(pt.npar, np.nan)
    pos = engine.pos
    lv_set = set(pt.lv_names)
    for g, gd in enumerate(engine.groups):
        S = gd.cov
        rows = [r for r in pt.rows if r["group"] == g + 1]
        load: dict[tuple[str, str], float] = {}
        lvvar: dict[str, float] = {}
        for f in pt.lv_names:
            ind = [r for r in rows if r["op"] == "=~" and r["lhs"] == f]
            ov_ind = [r for r in ind if r["rhs"] not in lv_set]
            if not ov_ind:
                lvvar[f] = 0.05
                for r in ind:
                    load[(f, r["rhs"])] = 1.0
                continue
            ix = [pos[r["rhs"]] for r in ov_ind]
            sub = S[np.ix_(ix, ix)]
            # (a two-level between covariance S_B - S_W / n can have non-positive variances: a tiny positive one)
            sd = np.sqrt(np.clip(np.diag(sub), 1e-8, None))
            if len(ix) == 1:
                load1 = np.array([1.0])
            else:
                R = sub / np.outer(sd, sd)
                w, v = np.linalg.eigh(R)
                load1 = 0.9 * v[:, -1] * np.sqrt(max(w[-1], 1e-6))  # first principal component, shrunk
            lam_std = load1 * sd  # loadings for a unit-variance factor
            ref = next((k for k, r in enumerate(ov_ind) if r["par"] < 0 and (r["ustart"] or 0) != 0), None)
            if ref is None:
                # std.lv: the sign of a factor follows its first indicator (lavaan's fabin3 start fixes the first
                # loading at +1 and rescales by sqrt(psi)), so a reverse-keyed first item gets a positive loading
                # and the others negative ones, as in lavaan; the sum of the loadings decides only when the first
                # indicator is uncorrelated with the rest
                first = lam_std[0]
                sign = float(np.sign(first)) if abs(first) > 1e-8 * sd[0] else (1.0 if lam_std.sum() >= 0 else -1.0)
                phi, lam = 1.0, sign * lam_std
            else:
                c = ov_ind[ref]["ustart"]
                if abs(lam_std[ref]) < 1e-3 * sd[ref]:
                    phi, lam = 0.05, np.full(len(ix), 1.0)
                else:
                    s = lam_std[ref] / c  # = sqrt(phi) with sign
                    phi = s * s
                    lam = lam_std / s
            lvvar[f] = phi
            for k, r in enumerate(ov_ind):
                load[(f, r["rhs"])] = float(lam[k])
            for r in ind:
                if r["rhs"] in lv_set:
                    load[(f, r["rhs"])] = 1.0
        explained = {}
        for (f, x), lam in load.items():
            if x not in lv_set:
                explained[x] = explained.get(x, 0.0) + lam * lam * lvvar.get(f, 1.0)
        for r in rows:
            k = r["par"]
            if k < 0 or not np.isnan(theta[k]):
                continue
            if r["start"] is not None:
                theta[k] = r["start"]
                continue
            op, lhs, rhs = r["op"], r["lhs"], r["rhs"]
            if op == "=~":
                theta[k] = load.get((lhs, rhs), 1.0)
            elif op == "~":
                theta[k] = 0.0
            elif op == "~1":
                theta[k] = gd.mean[pos[lhs]] if lhs not in lv_set else 0.0
            elif op == "~~":
                if lhs != rhs:
                    theta[k] = 0.0
                elif lhs in lv_set:
                    theta[k] = lvvar.get(lhs, 0.05)
                else:
                    v = S[pos[lhs], pos[lhs]]
                    e = explained.get(lhs, 0.0)
                    if e:
                        theta[k] = max(v - e, 0.1 * v)
                    else:
                        theta[k] = 0.5 * v if _is_indicator(pt, lhs) else v
    theta[np.isnan(theta)] = 0.0
    return theta


def _is_indicator(pt: ParTable, v: str) -> bool:
    return any(r["op"] == "=~" and r["rhs"] == v for r in pt.rows)


# ---------------------------------------------------------------------- estimation
@dataclass
class Estimate:
    theta: np.ndarray
    fmin: float  # lavaan's fmin (F/2)
    iterations: int
    converged: bool
    max_grad: float  # largest scaled (unit-free) gradient at the estimate


def _scaled(engine: Engine, theta: np.ndarray, info: np.ndarray, g: np.ndarray):
    """The scoring system in unit-free coordinates: d = sqrt(diag(info)) (the parameter's units where the
    information is zero), R = D^-1 info D^-1 (unit diagonal) and b = D^-1 g / 2. A step solves R x = -b and is
    -x / d in theta; b is the gradient in units of each parameter's own information, so max |b| and the decrement
    b' R^-1 b do not depend on the units of the variables."""
    dg = np.diag(info)
    ok = np.isfinite(dg) & (dg > 0)
    d = np.sqrt(np.where(ok, dg, 1.0))
    if not ok.all():
        d = np.where(ok, d, 1.0 / param_units(engine, theta))
    return info / np.outer(d, d), g / 2 / d, d


def quasi_newton(eng, theta: np.ndarray, Hinv: np.ndarray, tol: float, max_iter: int = 200):
    """BFGS on F/2 from ``theta`` with ``Hinv`` (an inverse information) as the starting inverse Hessian: each step
    needs only the objective and gradient. Used where theta is already close to the optimum: a bootstrap resample
    from the full sample's estimates, and the last phase of :func:`_fisher` (scoring converges only linearly when
    the model does not fit exactly, BFGS superlinearly). Stops when the decrement (g/2)'H(g/2) < ``tol``; returns
    (theta, F, dF/dtheta) there (F never above its start: every step lowers it) or None (not converged)."""
    F, g = eng.value_and_gradient(theta)
    if not np.isfinite(F) or g is None:
        return None
    g = g / 2
    H = Hinv.copy()
    for _ in range(max_iter):
        step = -H @ g
        dec = float(-g @ step)
        if 0 <= dec < tol:
            return theta, F, 2 * g
        if dec <= 0:  # not a descent direction: restart from the scoring metric
            H = Hinv.copy()
            step = -H @ g
            dec = float(-g @ step)
        t = 1.0
        g_new = None
        for _ls in range(30):
            cand = theta + t * step
            if t == 1.0:   # the full step is usually accepted: its value and gradient in one pass
                Fc, g_new = eng.value_and_gradient(cand)
            else:
                Fc, g_new = eng.objective(cand), None
            if np.isfinite(Fc) and Fc / 2 <= F / 2 - 1e-4 * t * dec:
                break
            t /= 2
        else:
            return None
        g_new = (eng.gradient(cand) if g_new is None else g_new) / 2
        s_, y_ = cand - theta, g_new - g
        sy = float(s_ @ y_)
        if sy > 1e-14:  # the BFGS update, a rank-2 correction in one product (q x 2 x q) and one in-place add
            rho = 1.0 / sy
            Hy = H @ y_
            Uc = np.column_stack([s_, Hy])
            Mc = np.array([[(sy + y_ @ Hy) * rho * rho, -rho], [-rho, 0.0]])
            H += (Uc @ Mc) @ Uc.T
        theta, F, g = cand, Fc, g_new
    return None


def _fisher(engine: Engine, theta: np.ndarray, max_iter: int = 500, tol: float = DECREMENT_TOL
            ) -> tuple[np.ndarray, int, bool, float]:
    """Damped Fisher scoring (Levenberg damping and step halving) in unit-free coordinates (see :func:`_scaled`).
    Converged when the scoring decrement b' R^-1 b = (g/2)' I^-1 (g/2) -- the decrease of F a full scoring step
    predicts -- is below ``tol`` x max(1, |F|), or the largest scaled gradient |g_k| / (2 sqrt(I_kk)) is below
    GRAD_TOL. Both are unit-free, as F_ML is: rescaling a variable (e.g. x 0.01 or x 1e6) changes neither the
    path nor the stopping point, only the units of the estimates. Returns (theta, iterations, converged, largest
    scaled gradient)."""
    F = engine.objective(theta)
    if not np.isfinite(F):
        return theta, 0, False, np.inf
    lam = 1e-4
    g = engine.gradient(theta)
    eye = np.eye(engine.q)
    qn_tries = QN_TRIES
    for it in range(1, max_iter + 1):
        info = engine.information_expected(theta)
        R, b, d = _scaled(engine, theta, info, g)
        mg = float(np.max(np.abs(b))) if b.size else 0.0
        if mg < GRAD_TOL:
            return theta, it, True, mg
        try:
            dec = float(b @ np.linalg.solve(R, b))
        except np.linalg.LinAlgError:
            dec = np.inf
        if 0 <= dec < tol * max(1.0, abs(F)):
            return theta, it, True, mg
        if qn_tries and 0 <= dec < QN_SWITCH * max(1.0, abs(F)):
            # close to the optimum: scoring converges only linearly when the model does not fit exactly; BFGS
            # from the scoring metric finishes in a few gradient steps. Its end point is checked by the scoring
            # criterion above in the next pass (and scoring goes on from it, or from here, if that fails)
            qn_tries -= 1
            try:
                qn = quasi_newton(engine, theta, inverse(info), tol * max(1.0, abs(F)))
            except np.linalg.LinAlgError:
                qn = None
            if qn is not None:
                theta, F, g = qn
                continue
        accepted = False
        for _ in range(30):
            try:
                step = -np.linalg.solve(R + lam * eye, b) / d
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            t = 1.0
            for _ in range(12):
                cand = theta + t * step
                Fc = engine.objective(cand)
                if np.isfinite(Fc) and Fc <= F + 1e-14 * max(1.0, abs(F)):
                    accepted = True
                    break
                t /= 2
            if accepted:
                break
            lam *= 10
        if not accepted:
            # no step lowers F any more: at the optimum to the precision of F itself when the predicted decrease
            # is that small (lavaan's nlminb stops on a relative change of F of 1e-10 as well)
            return theta, it, bool(0 <= dec < STALL_TOL * max(1.0, abs(F))), mg
        theta, F = cand, Fc
        lam = max(lam / 10, 1e-10)
        g = engine.gradient(theta)
    _, b, _ = _scaled(engine, theta, engine.information_expected(theta), g)
    mg = float(np.max(np.abs(b))) if b.size else 0.0
    return theta, max_iter, mg < GRAD_TOL, mg


def estimate(engine: Engine, start: np.ndarray | None = None, tol: float | None = None, max_iter: int = 500,
             second_attempt: bool = True) -> Estimate:
    """Minimise the ML fit function; raise :class:`ModelError` if it does not converge. ``tol``: the scoring
    decrement at which :func:`_fisher` stops (default DECREMENT_TOL; the bootstrap uses a looser one); ``max_iter``
    its iterations; ``second_attempt``: when scoring does not converge, BFGS from the start values and scoring
    again (a bootstrap replicate goes without).

    The search's trial points may imply a (nearly) singular or indefinite Sigma: the objective is then infinite and
    the step is rejected, so numpy's floating-point warnings from those points (overflow in a product, an invalid
    log-determinant) say nothing and are not shown; the estimate returned is checked to be finite."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _estimate(engine, start, tol, max_iter, second_attempt)


def _jac_or_nan(engine: Engine, theta: np.ndarray) -> np.ndarray:
    """The gradient, or NaNs where Sigma is not positive definite (scipy's line search asks for gradients at
    points whose objective it has not checked)."""
    try:
        return engine.gradient(theta)
    except np.linalg.LinAlgError:
        return np.full(engine.q, np.nan)


def _estimate(engine: Engine, start: np.ndarray | None, tol: float | None, max_iter: int = 500,
              second_attempt: bool = True) -> Estimate:
    tol = DECREMENT_TOL if tol is None else tol
    theta0 = start_values(engine) if start is None else np.asarray(start, float)
    if engine.q == 0:
        return Estimate(theta0, engine.objective(theta0) / 2, 0, True, 0.0)
    if not np.isfinite(engine.objective(theta0)):
        # make the start admissible: inflate variances
        theta0 = _admissible(engine, theta0)
    theta, it, ok, mg = _fisher(engine, theta0, max_iter=max_iter, tol=tol)
    if not ok and second_attempt:
        # second attempt: quasi-Newton from the start values (in the parameters' natural units, so that its
        # gradient tolerance is unit-free), then Fisher scoring again
        from scipy.optimize import minimize

        u = param_units(engine, theta0)
        res = minimize(lambda x: engine.objective(x * u), theta0 / u, jac=lambda x: _jac_or_nan(engine, x * u) * u,
                       method="BFGS", options={"maxiter": 5000, "gtol": 1e-7})
        if np.isfinite(res.fun) and np.isfinite(res.x).all():
            theta2, it2, ok, mg = _fisher(engine, res.x * u, max_iter=max_iter, tol=tol)
            theta, it = theta2, it + it2 + int(res.nit)
    if not ok:
        raise ModelError(
            f"the estimation did not converge (largest scaled gradient {mg:.2g} after {it} iterations). Check the "
            "model: factors with fewer than three indicators, items with very small variance, negatively keyed "
            "items that were not reversed, or a structural part that is not identified; supplying start values "
            "(start(0.5)*x) or fixing a problematic parameter may help")
    return Estimate(theta, engine.objective(theta) / 2, it, True, mg)


def _admissible(engine: Engine, theta: np.ndarray) -> np.ndarray:
    theta = theta.copy()
    var_pars = sorted({r["par"] for r in engine.pt.rows if r["par"] >= 0 and r["op"] == "~~"
                       and r["lhs"] == r["rhs"]})
    for _ in range(20):
        if np.isfinite(engine.objective(theta)):
            return theta
        theta[var_pars] = np.abs(theta[var_pars]) * 2 + 0.1
    return theta
