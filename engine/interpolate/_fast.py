"""The limit of Algorithm 1, solved directly by preconditioned conjugate gradients.

Once α has decayed, the Schatten-p shrinkage of Algorithm 1 leaves the singular values
unchanged and an iteration reduces to the linear map ``x ← G(x + c·M(y − x))`` with
``c = 1/λ``. Its fixed point solves ``(I − G(I − cM)) x = c·G·M·y``. With ``G = H²`` (``H``
the square root of the Gaussian in the DCT basis, symmetric because the boundaries are
"reflect") and ``x = H u`` this becomes the symmetric positive-definite system

    (I − H (I − cM) H) u = c·H·M·y,

solved here by conjugate gradients entirely in the orthonormal DCT-II domain, where ``H``
is a diagonal. One iteration costs one inverse and one forward DCT of the tile. The
preconditioner ``1 − g + c·ρ·g`` (``g`` the Gaussian's DCT eigenvalues, ``ρ`` the observed
fraction) inverts the operator exactly when the mask is replaced by its mean.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from engine.config import InterpolateParams
from engine.interpolate._common import Progress, gaussian_eigenvalues

__all__ = ["gaussian_dct", "solve_limit"]

logger = logging.getLogger(__name__)

_F32 = np.float32


# DCT threads: every core by default; pipeline workers, one per core, take one each
_FFT_WORKERS = [-1]


def set_fft_workers(n: int) -> None:
    """Threads of the interpolation's DCTs in this process (-1 = one per core)."""
    _FFT_WORKERS[0] = int(n)


def _dct(a: NDArray) -> NDArray:
    return scipy.fft.dctn(a, type=2, norm="ortho", workers=_FFT_WORKERS[0])


def _idct(a: NDArray) -> NDArray:
    return scipy.fft.idctn(a, type=2, norm="ortho", workers=_FFT_WORKERS[0])


@functools.lru_cache(maxsize=8)
def _eigen_2d(shape: tuple[int, int], sigma_px: float) -> NDArray[np.float32]:
    """2-D DCT eigenvalues of the Gaussian; the 4σ truncation makes a few ~−3e-5.

    Cached (read-only): many tiles or training samples share one shape.
    """
    rows, cols = shape
    g = np.outer(gaussian_eigenvalues(rows, sigma_px), gaussian_eigenvalues(cols, sigma_px))
    g = g.astype(_F32)
    g.flags.writeable = False
    return g


def gaussian_dct(image: NDArray[np.floating], sigma_px: float) -> NDArray[np.float32]:
    """Gaussian filter with reflect boundaries through the DCT; equals ``gaussian_filter``.

    Examples
    --------
    >>> from scipy import ndimage
    >>> x = np.random.default_rng(0).normal(size=(40, 50)).astype(np.float32)
    >>> bool(np.allclose(gaussian_dct(x, 5.0), ndimage.gaussian_filter(x, 5.0), atol=1e-5))
    True
    """
    g = _eigen_2d(image.shape, sigma_px)
    return _idct(_dct(np.asarray(image, dtype=_F32)) * g).astype(_F32, copy=False)


def solve_limit(
    image: NDArray[np.float32],
    *,
    params: InterpolateParams,
    progress: Progress | None = None,
    done: int = 0,
    total: int | None = None,
) -> tuple[NDArray[np.float32], int, bool]:
    """Fixed point of ``x = G(x + (1/λ)·M(y − x))`` for one validated sparse raster.

    Stops when the relative residual of the symmetric system falls below
    ``params.tolerance`` or after ``params.max_iterations`` iterations.

    Returns
    -------
    tuple
        ``(x, iterations, converged)`` with ``x`` float32 ``(rows, cols)``.
    """
    observed = np.isfinite(image)
    mask = observed.astype(_F32)
    c = _F32(1.0 / params.step_lambda_factor)  # largest eigenvalue of MᵀM is 1
    g = np.clip(_eigen_2d(image.shape, params.gaussian_sigma_px), 0.0, 1.0)
    h = np.sqrt(g)  # H² = G up to the clipped ~3e-5 negative eigenvalues
    keep = 1.0 - c * mask  # (I − cM) as a diagonal
    data = np.where(observed, image, _F32(0.0))
    b = h * _dct(c * data)
    b_norm = float(np.linalg.norm(b))
    if b_norm == 0.0:  # all observations are zero: so is the solution
        return np.zeros(image.shape, dtype=_F32), 0, True
    precond = 1.0 - g + c * _F32(mask.mean()) * g
    del g
    u = _dct(_initial_guess(data, mask, params.gaussian_sigma_px))

    def apply(v: NDArray[np.float32]) -> NDArray[np.float32]:
        return v - h * _dct(_idct(h * v) * keep)

    r = b - apply(u)
    z = r / precond
    p = z.copy()
    rz = float(np.vdot(r, z))
    total = params.max_iterations if total is None else total
    k, converged = 0, False
    for k in range(1, params.max_iterations + 1):
        ap = apply(p)
        step = rz / float(np.vdot(p, ap))
        u += _F32(step) * p
        r -= _F32(step) * ap
        residual = float(np.linalg.norm(r)) / b_norm
        if progress is not None:
            progress(done + k, total)
        if residual < params.tolerance:
            converged = True
            break
        z = r / precond
        rz_new = float(np.vdot(r, z))
        p *= _F32(rz_new / rz)
        p += z
        rz = rz_new
    logger.debug("limit solver: %d iterations, relative residual %.2e", k, residual)
    return _idct(h * u).astype(_F32, copy=False), k, converged


def _initial_guess(data: NDArray, mask: NDArray, sigma_px: float) -> NDArray[np.float32]:
    """Normalised Gaussian convolution ``G(My)/G(M)``, tending to the data mean far away."""
    eps = _F32(1e-3)
    mean = _F32(data.sum() / max(mask.sum(), 1.0))
    num = gaussian_dct(data, sigma_px) + eps * mean
    den = gaussian_dct(mask, sigma_px) + eps
    return num / den
