"""Shared pieces of the interpolators: input checks, the Gaussian operator, shrinkage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "InterpolateResult",
    "Progress",
    "as_sparse_raster",
    "gaussian_eigenvalues",
    "schatten_shrink",
]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Progress callback ``progress(done, total)``, in iterations over all passes."""

GAUSSIAN_TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter's default: kernel radius = 4σ


class InterpolateResult(NamedTuple):
    """Output of :func:`engine.interpolate.complete`."""

    image: NDArray[np.float32]
    """Dense ``(rows, cols)`` velocity in mm/yr, finite everywhere."""
    iterations: tuple[int, ...]
    """Iterations used by each pass: Algorithm 1 first, then each residual pass."""
    converged: tuple[bool, ...]
    """Whether each pass met the tolerance before the iteration cap."""


def as_sparse_raster(image: NDArray[np.floating], *, name: str = "image") -> NDArray[np.float32]:
    """Check a sparse raster and return it as float32 with ±inf turned into NaN.

    Raises
    ------
    TypeError
        If the array is not numeric.
    ValueError
        If it is not 2-D or has fewer than 3 observed (finite) pixels.
    """
    arr = np.asarray(image)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name}: expected a numeric raster, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (rows, cols) raster, got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    observed = np.isfinite(arr)
    count = int(observed.sum())
    if count == 0:
        raise ValueError(
            f"{name}: the {arr.shape[0]}x{arr.shape[1]} tile has no observed pixel "
            "(all NaN); there is nothing to interpolate"
        )
    if count < 3:
        raise ValueError(
            f"{name}: the tile has only {count} observed pixel(s); interpolation needs at least 3"
        )
    if np.isinf(arr).any():
        arr = np.where(observed, arr, np.float32(np.nan))
    return arr


def gaussian_eigenvalues(n: int, sigma_px: float) -> NDArray[np.float64]:
    """Eigenvalues of the 1-D Gaussian filter of ``scipy.ndimage`` (mode ``reflect``).

    With half-sample symmetric ("reflect") boundaries a symmetric convolution is diagonal in
    the orthonormal DCT-II basis; eigenvalue ``j`` is ``Σ_m k_m cos(π j m / n)`` for the
    sampled, truncated (4σ) and normalised kernel ``k``. So
    ``idctn(dctn(x) · outer(e_rows, e_cols))`` equals ``gaussian_filter(x, σ)`` to rounding.

    Parameters
    ----------
    n
        Length of the axis in pixels.
    sigma_px
        Standard deviation in pixels (0 gives the identity).

    Returns
    -------
    NDArray[np.float64]
        ``(n,)`` eigenvalues, in ``(−1e-12, 1]`` for σ ≥ 1.
    """
    if sigma_px <= 0:
        return np.ones(n)
    radius = int(GAUSSIAN_TRUNCATE * sigma_px + 0.5)
    m = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (m / sigma_px) ** 2)
    kernel /= kernel.sum()
    j = np.arange(n, dtype=np.float64)
    return np.cos(np.pi * np.outer(j, m) / n) @ kernel


def schatten_shrink(s: NDArray[np.floating], threshold: float, p: float) -> NDArray[np.floating]:
    """Generalised (p-)shrinkage of non-negative singular values (Algorithm 1, line 6).

    ``s ← max(0, s − threshold · s^(p−1))``: the p-shrinkage of Chartrand (2012), the
    non-convex counterpart of soft thresholding (p = 1); values at or below
    ``threshold^(1/(2−p))`` become zero.

    Examples
    --------
    >>> schatten_shrink(np.array([0.0, 1.0, 4.0, 32.0]), 2.0, 0.8).round(3)
    array([ 0.   ,  0.   ,  2.484, 31.   ])
    """
    s = np.asarray(s)
    with np.errstate(divide="ignore"):
        shrunk = s - threshold * np.power(np.where(s > 0, s, np.inf), p - 1.0)
    return np.maximum(shrunk, 0.0)
