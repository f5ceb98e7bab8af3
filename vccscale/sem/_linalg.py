"""Matrix inverses of the estimation's inner loop.

numpy's ``inv`` solves A X = I by LU (``gesv`` with p right-hand sides); LAPACK's ``getri`` (general) and ``potri``
(symmetric positive definite, from the Cholesky factor, which also gives the log-determinant) invert in fewer
operations (measured on one core, numpy.linalg.inv / getrf + getri / potrf + potri with the mirrored triangle:
19 x 19 16 / 8 / 6 us, 72 x 72 122-165 / 69 / 62 us, 87 x 87 190-240 / 114 / 97 us). Below SMALL rows numpy's
routines are used unchanged: small models keep their numbers to the last bit, and a short command on a small model
does not import ``scipy.linalg`` (about 50 ms). Both raise ``numpy.linalg.LinAlgError`` as numpy does (singular;
not positive definite).
"""
from __future__ import annotations

import numpy as np

#: from this many rows on, LAPACK's getri / potri (through scipy.linalg.lapack) instead of numpy.linalg.inv
SMALL = 16

_LAPACK = None


def _lapack():
    global _LAPACK
    if _LAPACK is None:
        from scipy.linalg import lapack

        _LAPACK = lapack
    return _LAPACK


def preload(rows: int) -> None:
    """Load scipy's LAPACK now when matrices of ``rows`` rows will be inverted: a process that limits its BLAS
    threads (threadpoolctl) must load the library before the limit, which applies to the libraries loaded then."""
    if rows >= SMALL:
        _lapack()


def inverse(A: np.ndarray) -> np.ndarray:
    """The inverse of the square matrix ``A`` (LinAlgError if it is singular)."""
    if A.shape[0] < SMALL:
        return np.linalg.inv(A)
    la = _lapack()
    lu, piv, info = la.dgetrf(A)
    if info > 0:
        raise np.linalg.LinAlgError("Singular matrix")
    out, info = la.dgetri(lu, piv)
    if info != 0:
        raise np.linalg.LinAlgError("Singular matrix")
    return out


def spd_inverse(S: np.ndarray) -> tuple[np.ndarray, float]:
    """(S^-1, log|S|) of the symmetric positive definite ``S`` from its Cholesky factor (LinAlgError if ``S`` is
    not positive definite). The inverse is symmetric (both triangles filled)."""
    if S.shape[0] < SMALL:
        L = np.linalg.cholesky(S)
        Li = np.linalg.inv(L)
        return Li.T @ Li, 2.0 * float(np.log(np.diag(L)).sum())
    la = _lapack()
    c, info = la.dpotrf(S, lower=1, clean=1)  # (clean: the upper triangle zero, so that potri's is zero too)
    if info != 0:
        raise np.linalg.LinAlgError("Matrix is not positive definite")
    logdet = 2.0 * float(np.log(np.diag(c)).sum())
    W, info = la.dpotri(c, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("Matrix is not positive definite")
    W = W + W.T  # the lower triangle mirrored (exactly: the diagonal doubled, then halved)
    W.flat[::W.shape[0] + 1] *= 0.5
    return W, logdet
