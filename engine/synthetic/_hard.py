"""The hard parts of a mixed sample, and the reference statistics of any sample.

Hard negatives (:func:`gap_mask`: a coast or gap with no scatterers; :func:`add_spike_cluster`:
incoherent points of ±5–10 mm/yr within ≤ 100 m) and, for evaluation,
:func:`reference_statistics` — the oracle and scan filters of :mod:`engine.references` on a
sample's raw observations (:func:`random_bowl` is a negative's oracle template).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from engine.references import Whitener, oracle_statistic, scan_statistic
from engine.synthetic._sources import raster_coordinates

__all__ = ["add_spike_cluster", "gap_mask", "random_bowl", "reference_statistics"]


def reference_statistics(
    sparse: NDArray[np.float32],
    deformation: NDArray[np.float64],
    a: float,
    b: float,
    nugget: float,
    pixel: float,
    margin_px: int,
) -> dict[str, float]:
    rows, cols = np.nonzero(np.isfinite(sparse))
    whitener = Whitener.for_points(rows, cols, sparse.shape, a_mm2_yr2=a, b_per_km=b,
                                   nugget_mm2_yr2=nugget, pixel_size_m=pixel)  # fmt: skip
    values = sparse[rows, cols]
    t, d = oracle_statistic(deformation[rows, cols], values, whitener)
    inner = slice(margin_px, sparse.shape[0] - margin_px)
    scan = scan_statistic(values, rows, cols, sparse.shape, whitener, region=(inner, inner))
    return {"oracle_t": t, "oracle_d": d, "scan_t": scan}


def random_bowl(
    shape: tuple[int, int], margin_px: int, pixel: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """A negative's oracle template: a Mogi bowl of the prior's depths, somewhere in the patch."""
    depth = float(np.exp(rng.uniform(np.log(30.0), np.log(800.0))))
    lo, hi = margin_px + 16, shape[0] - margin_px - 16
    centre = (rng.uniform(lo, hi), rng.uniform(lo, hi))
    x, y = raster_coordinates(shape, centre_px=centre, pixel_size_m=pixel)
    return (1.0 + (x * x + y * y) / (depth * depth)) ** -1.5


def gap_mask(shape: tuple[int, int], margin_px: int, rng: np.random.Generator) -> NDArray[np.bool_]:
    """A coast or a gap: everything beyond a wavy line across the canvas has no scatterers.

    The line crosses the patch, so 15–60 % of it is left without data.
    """
    rows, cols = shape
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
    theta = rng.uniform(0.0, 2.0 * math.pi)
    along = (c - cols / 2) * math.cos(theta) + (r - rows / 2) * math.sin(theta)
    across = -(c - cols / 2) * math.sin(theta) + (r - rows / 2) * math.cos(theta)
    patch = rows - 2 * margin_px
    offset = rng.uniform(-0.35, 0.2) * patch
    wave = (
        rng.uniform(0.0, 0.08)
        * patch
        * np.sin(across / rng.uniform(20.0, 80.0) + rng.uniform(0, 6.3))
    )
    return along > offset + wave


def add_spike_cluster(
    sparse: NDArray[np.float32], margin_px: int, pixel_m: float, rng: np.random.Generator
) -> None:
    """A few dozen incoherent points of ±5–10 mm/yr within ≤ 100 m, inside the patch.

    Like the city-centre pixels the paper's CNN scores low (§IV-C): each point draws its
    own sign, so there is no coherent motion to find.
    """
    rows, cols = sparse.shape
    radius = rng.uniform(30.0, 100.0) / pixel_m
    centre = rng.uniform(margin_px + radius, rows - margin_px - radius, size=2)
    r, c = np.ogrid[0:rows, 0:cols]
    disc = np.flatnonzero((r - centre[0]) ** 2 + (c - centre[1]) ** 2 <= radius * radius)
    count = min(disc.size, int(rng.integers(20, 61)))
    where = rng.choice(disc, size=count, replace=False)
    flat = sparse.reshape(-1)
    base = np.where(np.isfinite(flat[where]), flat[where], 0.0)
    signs = rng.choice([-1.0, 1.0], size=count)
    flat[where] = base + signs * rng.uniform(5.0, 10.0, size=count)
