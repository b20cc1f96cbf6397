"""Over-wrapping (§III-C): velocity → wrapped grayscale at interval ρ with offset τ.

Wrapping turns a velocity map into fringes whose edges a CNN picks up easily; a shorter
interval ρ adds fringes (more sensitivity, same signal-to-noise), and an offset τ moves
the wrap discontinuities, so that small signals are not missed because the reference
happened to put them mid-fringe: ``ψ = (v + τ) mod ρ``, shown as ``255·ψ/ρ``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["wrap", "wrap_mm_yr", "wrap_stack"]


def wrap(
    velocity: ArrayLike, rho_mm_yr: ArrayLike, tau_mm_yr: ArrayLike = 0.0
) -> NDArray[np.float32]:
    """Wrapped grayscale ``255·((v + τ) mod ρ)/ρ`` in ``[0, 255)``; NaN stays NaN.

    Parameters
    ----------
    velocity
        Velocities in mm/yr, any shape; NaN marks pixels without data.
    rho_mm_yr
        Wrap interval ρ (> 0), e.g. 14, 7, 3.5 or 1.75 mm/yr; may be an array that
        broadcasts against ``velocity`` (one interval per map of a batch).
    tau_mm_yr
        Offset τ added before wrapping (broadcast likewise).

    Returns
    -------
    NDArray[np.float32]
        Same shape; ``wrap(v + ρ) == wrap(v)`` and ``wrap(v, ρ, τ) == wrap(v + τ, ρ)``.

    Examples
    --------
    >>> wrap([0.0, 3.5, 7.0, -3.5, np.nan], 7.0)
    array([  0. , 127.5,   0. , 127.5,   nan], dtype=float32)
    >>> wrap([0.0], 7.0, 3.5)
    array([127.5], dtype=float32)
    """
    rho = np.asarray(rho_mm_yr, dtype=np.float64)
    if not (rho > 0).all():
        raise ValueError(f"wrap intervals must be positive, got {rho_mm_yr}")
    v = np.asarray(velocity, dtype=np.float64)
    phase = np.mod(v + np.asarray(tau_mm_yr, dtype=np.float64), rho) / rho
    phase = np.where(phase >= 1.0, 0.0, phase)  # mod can round up to ρ itself
    return (255.0 * phase).astype(np.float32)


def wrap_mm_yr(
    velocity: ArrayLike, rho_mm_yr: float, tau_mm_yr: float = 0.0
) -> NDArray[np.float32]:
    """The same wrap as :func:`wrap`, as the position in the interval ``(v + τ) mod ρ``
    in mm/yr (``[0, ρ)``): what a colour bar of the wrapped map should read.

    Examples
    --------
    >>> wrap_mm_yr([0.0, 3.5, 7.0, -1.0, np.nan], 7.0)
    array([0. , 3.5, 0. , 6. , nan], dtype=float32)
    """
    return (wrap(velocity, rho_mm_yr, tau_mm_yr) * (float(rho_mm_yr) / 255.0)).astype(np.float32)


def wrap_stack(
    velocity: ArrayLike, rhos: Sequence[float], taus: Sequence[float]
) -> NDArray[np.float32]:
    """All wraps of one map: ``(len(rhos), len(taus), *velocity.shape)``.

    Examples
    --------
    >>> wrap_stack(np.zeros((2, 2)), [14.0, 7.0], [0.0, 3.5, 7.0]).shape
    (2, 3, 2, 2)
    """
    v = np.asarray(velocity, dtype=np.float64)
    rho = np.asarray(rhos, dtype=np.float64).reshape(-1, 1, *([1] * v.ndim))
    tau = np.asarray(taus, dtype=np.float64).reshape(1, -1, *([1] * v.ndim))
    if not (rho > 0).all():
        raise ValueError(f"wrap intervals must be positive, got {list(rhos)}")
    phase = np.mod(v + tau, rho) / rho
    phase = np.where(phase >= 1.0, 0.0, phase)
    return (255.0 * phase).astype(np.float32)
