"""Algorithm 1 of §III-A taken literally: a full SVD and a Gaussian filter in every iteration."""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from engine.config import InterpolateParams
from engine.interpolate._common import GAUSSIAN_TRUNCATE, Progress, schatten_shrink
from engine.interpolate._first_guess import delaunay

__all__ = ["algorithm1"]

logger = logging.getLogger(__name__)


def algorithm1(
    image: NDArray[np.float32],
    *,
    params: InterpolateParams,
    progress: Progress | None = None,
    done: int = 0,
    total: int | None = None,
) -> tuple[NDArray[np.float64], int, bool]:
    """Run Algorithm 1 on one validated sparse raster.

    ``x₀`` is the Delaunay interpolation of ``image``; then, for ``k = 1 … K``::

        x ← x + (1/λ) Mᵀ(y − M x)               gradient step, λ = factor · eig_max(MᵀM)
        U, S, Vᵀ ← SVD(x)                       full SVD (LAPACK gesdd)
        S ← max(0, S − (α/λ) · S^(p−1))         Schatten-p shrinkage
        x ← G_σ(U S Vᵀ)                         Gaussian filter, reflect boundaries
        α ← decay · α                           from α₀ = factor · max|M x₀|
        stop when ‖x_k − x_{k−1}‖ / ‖x_{k−1}‖ < τ

    Returns
    -------
    tuple
        ``(x, iterations, converged)`` with ``x`` float64 ``(rows, cols)``.
    """
    observed = np.isfinite(image)
    mask = observed.astype(np.float64)
    y = np.where(observed, image, 0.0).astype(np.float64)
    x = delaunay(image).astype(np.float64)
    lam = params.step_lambda_factor * 1.0  # MᵀM = diag(mask): its largest eigenvalue is 1
    alpha = params.alpha0_factor * float(np.abs(x[observed]).max())
    total = params.max_iterations if total is None else total
    k, converged = 0, False
    for k in range(1, params.max_iterations + 1):
        z = x + (mask * (y - x)) / lam
        u, s, vt = np.linalg.svd(z, full_matrices=False)
        s = schatten_shrink(s, alpha / lam, params.schatten_p)
        rank = int(np.count_nonzero(s))
        z = (u[:, :rank] * s[:rank]) @ vt[:rank]
        x_new = ndimage.gaussian_filter(
            z, params.gaussian_sigma_px, mode="reflect", truncate=GAUSSIAN_TRUNCATE
        )
        change = _relative_change(x_new, x)
        x = x_new
        alpha *= params.alpha_decay
        if progress is not None:
            progress(done + k, total)
        if change < params.tolerance:
            converged = True
            break
    logger.debug("algorithm 1: %d iterations, converged=%s, final rank %d", k, converged, rank)
    return x, k, converged


def _relative_change(new: NDArray, old: NDArray) -> float:
    norm_old = float(np.linalg.norm(old))
    diff = float(np.linalg.norm(new - old))
    if norm_old == 0.0:
        return 0.0 if diff == 0.0 else np.inf
    return diff / norm_old
