"""Public entry points: validate, dispatch on the method, run the residual passes."""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from engine.config import InterpolateParams
from engine.interpolate._common import InterpolateResult, Progress, as_sparse_raster
from engine.interpolate._fast import solve_limit
from engine.interpolate._reference import algorithm1

__all__ = ["complete", "interpolate"]

logger = logging.getLogger(__name__)


class _Pass(Protocol):
    def __call__(
        self,
        image: NDArray[np.float32],
        *,
        params: InterpolateParams,
        progress: Progress | None,
        done: int,
        total: int,
    ) -> tuple[NDArray, int, bool]: ...


def interpolate(
    image: NDArray[np.floating],
    *,
    params: InterpolateParams = InterpolateParams(),
    progress: Progress | None = None,
) -> NDArray[np.float32]:
    """Interpolate a sparse velocity raster to a dense one (§III-A, Algorithm 1).

    Parameters
    ----------
    image
        ``(rows, cols)`` sparse raster in mm/yr, NaN = not observed; normally the
        median-filtered observations ``Med(y)`` from :func:`engine.denoise.denoise`.
    params
        ``method`` picks ``"fast"`` (default) or ``"reference"``; see the package docstring
        for what each computes and the choices made.
    progress
        Optional callback ``progress(done, total)`` called after every iteration.

    Returns
    -------
    NDArray[np.float32]
        Dense ``(rows, cols)`` raster in mm/yr, finite everywhere.

    Raises
    ------
    ValueError
        If the tile is not 2-D, is all NaN or has fewer than 3 observed pixels.
    TypeError
        If the raster is not numeric.

    References
    ----------
    §III-A and Algorithm 1 of 000_c0a19baeb6bee3ed.txt (Anantrasirichai et al.).

    Examples
    --------
    >>> y = np.full((32, 32), np.nan, dtype=np.float32)
    >>> y[::4, ::4] = 2.5
    >>> out = interpolate(y)
    >>> out.shape, bool(np.allclose(out, 2.5, atol=1e-3))
    ((32, 32), True)
    """
    return complete(image, params=params, progress=progress).image


def complete(
    image: NDArray[np.floating],
    *,
    params: InterpolateParams = InterpolateParams(),
    progress: Progress | None = None,
) -> InterpolateResult:
    """Like :func:`interpolate`, also returning the iterations used by each pass.

    Returns
    -------
    InterpolateResult
        The dense raster, the iterations and the convergence flag of each pass (Algorithm
        1 first, then ``params.residual_passes`` residual passes).

    Raises
    ------
    ValueError
        If the tile is not 2-D, is all NaN or has fewer than 3 observed pixels.

    Examples
    --------
    >>> y = np.full((32, 32), np.nan, dtype=np.float32)
    >>> y[::4, ::4] = 1.0
    >>> res = complete(y)
    >>> len(res.iterations), all(res.converged)
    (2, True)
    """
    image = as_sparse_raster(image)
    run_pass = _select_pass(params)
    n_passes = 1 + params.residual_passes
    total = n_passes * params.max_iterations
    observed = np.isfinite(image)
    x, iterations, converged = None, [], []
    target = image
    for index in range(n_passes):
        done = index * params.max_iterations
        dx, used, ok = run_pass(target, params=params, progress=progress, done=done, total=total)
        x = dx if x is None else x + dx
        iterations.append(used)
        converged.append(ok)
        target = np.where(observed, image - x, np.nan).astype(np.float32)
    if progress is not None:
        progress(total, total)
    logger.info(
        "interpolated %dx%d tile (%s): iterations %s", *image.shape, params.method, iterations
    )
    return InterpolateResult(np.asarray(x, dtype=np.float32), tuple(iterations), tuple(converged))


def _select_pass(params: InterpolateParams) -> _Pass:
    if params.method == "reference":
        return algorithm1
    if not _limit_is_reached(params):
        logger.warning(
            "fast interpolation assumes Algorithm 1 runs to its limit (sigma >= 1 px, >= 100 "
            "iterations, alpha decayed below 1e-3 of alpha0); running the reference instead"
        )
        return algorithm1
    return solve_limit


def _limit_is_reached(params: InterpolateParams) -> bool:
    """Whether Algorithm 1 with these parameters ends at the fixed point the fast path solves."""
    return (
        params.gaussian_sigma_px >= 1.0
        and params.max_iterations >= 100
        and params.alpha_decay**params.max_iterations <= 1e-3
    )
