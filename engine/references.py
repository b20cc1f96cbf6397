"""Reference detectors that show how close a model is to what the data allows.

Both work on the raw scattered observations of a synthetic sample, ``y = D + T + n``:
turbulent atmosphere ``T`` with covariance ``C(d) = a·e^(−b·d)`` and spike noise ``n`` of
variance ``ν`` (the nugget). They whiten with that known covariance,
``C = a·e^(−b·d) + ν·I`` over the observed points.

* :func:`oracle_statistic` — the matched filter that knows the source's LOS field ``s``
  (shape, position, sign): ``t = sᵀC⁻¹y / √(sᵀC⁻¹s)``, normal with mean
  ``d′ = √(sᵀC⁻¹s)`` and unit variance, so its detections bound what any detector could
  do on that sample (the physical limit).
* :func:`scan_statistic` — the same whitening without knowing the source: the largest
  ``|gᵀC⁻¹y|`` over every position and a bank of bowl widths, each normalised by its
  spread over the map (constant false-alarm rate), the classical detector a CNN must beat.

``C⁻¹`` is applied through the Woodbury identity: the atmosphere is represented on a
coarse grid of nodes every ``spacing_px`` (its value at a point is the bilinear
interpolation of the nodes'), and the part of its variance the nodes miss,
``a·(1 − e^(−b·spacing))``, is added to the nugget. That keeps a sample's whitening at a
~1,000-node Cholesky factorisation instead of one over tens of thousands of points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.sparse
from numpy.typing import NDArray

__all__ = [
    "BOWL_HALF_RADII_PX",
    "Whitener",
    "bowl_template",
    "oracle_statistic",
    "scan_statistic",
]

BOWL_HALF_RADII_PX = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
_MOGI_HALF = math.sqrt(2.0 ** (2.0 / 3.0) - 1.0)  # half-peak radius / depth of a Mogi bowl


@dataclass(frozen=True)
class Whitener:
    """``C⁻¹`` of the observed points of one sample, applied by :meth:`solve`.

    Build it with :meth:`for_points`.
    """

    weights: scipy.sparse.csr_matrix  # (points, nodes) bilinear weights
    covariance: NDArray[np.float64]  # K, of the nodes
    factor: tuple[NDArray[np.float64], NDArray[np.int32]]  # LU of I + WᵀW·K/ν
    nugget: float

    @classmethod
    def for_points(
        cls,
        rows: NDArray[np.floating],
        cols: NDArray[np.floating],
        shape: tuple[int, int],
        *,
        a_mm2_yr2: float,
        b_per_km: float,
        nugget_mm2_yr2: float,
        pixel_size_m: float,
        spacing_px: int = 16,
    ) -> Whitener:
        """The whitener of points at ``rows, cols`` (pixel indices) of a ``shape`` map."""
        n_r = math.ceil((shape[0] - 1) / spacing_px) + 1
        n_c = math.ceil((shape[1] - 1) / spacing_px) + 1
        fr = np.asarray(rows, dtype=np.float64) / spacing_px
        fc = np.asarray(cols, dtype=np.float64) / spacing_px
        r0 = np.clip(np.floor(fr).astype(int), 0, n_r - 2)
        c0 = np.clip(np.floor(fc).astype(int), 0, n_c - 2)
        tr, tc = fr - r0, fc - c0
        idx = np.stack([r0 * n_c + c0, r0 * n_c + c0 + 1, (r0 + 1) * n_c + c0,
                        (r0 + 1) * n_c + c0 + 1], axis=1)  # fmt: skip
        w = np.stack([(1 - tr) * (1 - tc), (1 - tr) * tc, tr * (1 - tc), tr * tc], axis=1)
        n = fr.size
        weights = scipy.sparse.csr_matrix(
            (w.ravel(), idx.ravel(), np.arange(0, 4 * n + 1, 4)), shape=(n, n_r * n_c)
        )
        gr, gc = np.divmod(np.arange(n_r * n_c), n_c)
        dist_km = np.hypot(gr[:, None] - gr[None, :], gc[:, None] - gc[None, :])
        dist_km *= spacing_px * pixel_size_m / 1000.0
        k = a_mm2_yr2 * np.exp(-b_per_km * dist_km)
        k[np.diag_indices_from(k)] *= 1.0 + 1e-9
        missed = a_mm2_yr2 * (1.0 - math.exp(-b_per_km * spacing_px * pixel_size_m / 1000.0))
        nugget = nugget_mm2_yr2 + missed
        # (K⁻¹ + WᵀW/ν)⁻¹ = K·(I + WᵀW·K/ν)⁻¹: one LU, no inverse of K
        m = np.eye(k.shape[0]) + (weights.T @ weights) @ k / nugget
        return cls(weights, k, scipy.linalg.lu_factor(m), nugget)

    def solve(self, vector: NDArray[np.floating]) -> NDArray[np.float64]:
        """``C⁻¹·vector`` over the points (Woodbury)."""
        v = np.asarray(vector, dtype=np.float64)
        inner = self.covariance @ scipy.linalg.lu_solve(self.factor, self.weights.T @ v)
        return v / self.nugget - (self.weights @ inner) / (self.nugget * self.nugget)


def oracle_statistic(
    template: NDArray[np.floating], values: NDArray[np.floating], whitener: Whitener
) -> tuple[float, float]:
    """``(t, d′)`` of the known-signal matched filter: ``t ~ N(d′, 1)`` if the signal is there.

    Examples
    --------
    >>> w = Whitener.for_points(np.array([0.0, 5, 9]), np.array([0.0, 5, 9]), (10, 10),
    ...                         a_mm2_yr2=1e-9, b_per_km=1.0, nugget_mm2_yr2=1.0,
    ...                         pixel_size_m=10.0)
    >>> t, d = oracle_statistic(np.array([3.0, 0, 4]), np.array([3.0, 0, 4]), w)
    >>> round(t, 6), round(d, 6)      # white noise of variance 1: d′ = |s| = 5
    (5.0, 5.0)
    """
    s = np.asarray(template, dtype=np.float64)
    z = whitener.solve(s)
    energy = float(s @ z)
    if energy <= 0.0:
        return 0.0, 0.0
    d = math.sqrt(energy)
    return float(z @ np.asarray(values, dtype=np.float64)) / d, d


def bowl_template(half_radius_px: float, size_px: int) -> NDArray[np.float64]:
    """A Mogi bowl's vertical profile, peak 1, on a ``size_px`` square centred on its middle."""
    depth = half_radius_px / _MOGI_HALF
    r = np.arange(size_px) - (size_px - 1) / 2.0
    rr = r[:, None] ** 2 + r[None, :] ** 2
    return (1.0 + rr / (depth * depth)) ** -1.5


def scan_statistic(
    values: NDArray[np.floating],
    rows: NDArray[np.intp],
    cols: NDArray[np.intp],
    shape: tuple[int, int],
    whitener: Whitener,
    *,
    region: tuple[slice, slice] | None = None,
    half_radii_px: tuple[float, ...] = BOWL_HALF_RADII_PX,
) -> float:
    """The largest normalised whitened bowl response over positions (in ``region``) and widths.

    ``N_w(p) = Σ_i (C⁻¹y)_i · g_w(p_i − p)`` for every pixel ``p`` by FFT, divided by
    ``√(Σ_i g_w(p_i − p)²/ν)``, its standard deviation were the noise white (an upper bound
    on the whitened one), so sparse and dense places are on one scale; the statistic is
    the largest ``|N_w(p)|`` where at least a few points carry the bowl. Its threshold is
    set on negatives (a constant false-alarm rate), as for any scanning detector.
    """
    grid = np.zeros(shape)
    grid[rows, cols] = whitener.solve(values)
    mask = np.zeros(shape)
    mask[rows, cols] = 1.0
    region = region or (slice(None), slice(None))
    reach = [int(min(3.0 * h / _MOGI_HALF, max(shape) / 2)) for h in half_radii_px]
    fshape = [scipy.fft.next_fast_len(s + 2 * max(reach) + 1, real=True) for s in shape]
    spectrum = scipy.fft.rfft2(grid, fshape)
    coverage = scipy.fft.rfft2(mask, fshape)
    best = 0.0
    for h, radius in zip(half_radii_px, reach, strict=True):
        size = 2 * radius + 1
        g = bowl_template(h, size)
        c = size // 2
        crop = (slice(c, c + shape[0]), slice(c, c + shape[1]))
        response = scipy.fft.irfft2(spectrum * scipy.fft.rfft2(g, fshape), fshape)[crop]
        energy = scipy.fft.irfft2(coverage * scipy.fft.rfft2(g * g, fshape), fshape)[crop]
        response, energy = response[region], energy[region]
        carried = energy > 2.0  # ≥ two points' worth of the bowl's peak
        if carried.any():
            z = np.abs(response[carried]) * math.sqrt(whitener.nugget) / np.sqrt(energy[carried])
            best = max(best, float(z.max()))
    return best
