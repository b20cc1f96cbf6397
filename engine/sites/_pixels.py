"""Sites stage (§IV-C): which pixels make each site, from a per-pixel probability and the points.

A site is built from observed points, not from the probability alone:

* At a level L, the *seeds* are the pixels that hold a point and score ``P > L``. The
  *region* at L is every pixel with ``P > L`` within ``reach_px`` of a seed; its
  8-connected parts group the seeds (two seeds closer than about twice the reach, with the
  probability above L between them, fall in one part).
* A site is one part of the region at the lowest level that holds at least ``min_points``
  points. Its *highest level* is the largest L at which a part of the region at L, inside
  it, holds ``min_points`` points. Seeds and regions shrink as L grows, so the region at
  0.9 lies inside the one at 0.75, which lies inside the one at 0.5: each part nests in
  exactly one site, and the number of sites whose highest level reaches L cannot grow
  with L.
* Its *outline* hugs its points: the pixels of its part within ``buffer_px`` of a seed,
  plus the gaps between seeds (the region eroded by ``reach_px − buffer_px``, a
  morphological closing of the buffered seeds). It lies inside the region, so no outline
  pixel is farther than ``reach_px`` from a point.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["SiteRegions", "distance_to_data_px", "level_regions", "mask_to_data", "site_regions"]

_EIGHT = np.ones((3, 3), dtype=bool)


class SiteRegions(NamedTuple):
    """Result of :func:`site_regions`; rasters are ``(rows, cols)``."""

    labels: NDArray[np.int32]
    """Outline of site ``i`` has label ``i + 1``; 0 elsewhere. Every point of a site lies
    on its outline."""
    level: NDArray[np.float64]
    """Highest level reached by each site, length ``n``."""
    region: NDArray[np.bool_]
    """The region at the lowest level, kept sites or not: rings leave it out."""

    @property
    def n(self) -> int:
        return int(self.level.size)


def distance_to_data_px(observed: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Euclidean distance in pixels from every pixel to the nearest observed one (0 on it).

    Infinite everywhere when nothing is observed.
    """
    observed = np.asarray(observed, dtype=bool)
    if not observed.any():
        return np.full(observed.shape, np.inf)
    return ndimage.distance_transform_edt(~observed)


def mask_to_data(
    raster: NDArray[np.floating],
    observed: NDArray[np.bool_],
    *,
    pixel_size_m: float,
    max_distance_m: float,
) -> NDArray[np.float32]:
    """``raster`` with NaN wherever the nearest observed pixel is farther than ``max_distance_m``.

    For the heatmap: the merged probability is defined half a patch (over a kilometre)
    beyond the data; masked to the sites' own limit, it no longer paints the sea.

    Examples
    --------
    >>> seen = np.zeros((1, 6), dtype=bool); seen[0, 0] = True
    >>> mask_to_data(np.ones((1, 6)), seen, pixel_size_m=10, max_distance_m=30).tolist()
    [[1.0, 1.0, 1.0, 1.0, nan, nan]]
    """
    out = np.array(raster, dtype=np.float32, copy=True)
    far = distance_to_data_px(observed) * pixel_size_m > max_distance_m
    out[far] = np.nan
    return out


def level_regions(
    probability: NDArray[np.floating],
    observed: NDArray[np.bool_],
    level: float,
    *,
    reach_px: float,
) -> tuple[NDArray[np.int32], int, NDArray[np.bool_], NDArray[np.float64]]:
    """The region at one level, labelled (8-connected), its seeds and the distance to them.

    ``probability`` NaN never passes a level. Returns ``(labels, n, seeds, distance_px)``.
    """
    p = np.asarray(probability, dtype=np.float64)
    above = np.where(np.isfinite(p), p, -np.inf) > level
    seeds = above & np.asarray(observed, dtype=bool)
    distance = distance_to_data_px(seeds)
    labels, n = ndimage.label((distance <= reach_px) & above, structure=_EIGHT, output=np.int32)
    return labels, int(n), seeds, distance


def site_regions(
    probability: NDArray[np.floating],
    counts: NDArray[np.integer],
    *,
    levels: tuple[float, ...],
    reach_px: float,
    buffer_px: float,
    min_points: int,
) -> SiteRegions:
    """The sites of a raster: outlines, highest levels and the lowest level's region.

    Parameters
    ----------
    probability
        ``(rows, cols)`` per-pixel probability in [0, 1]; NaN = not scored.
    counts
        ``(rows, cols)`` points per pixel.
    levels
        Probability levels, any order; the lowest defines the sites.
    reach_px, buffer_px, min_points
        See the module docstring.

    Examples
    --------
    >>> p = np.zeros((9, 16)); p[:, :8] = 0.95; p[:, 8:] = 0.6
    >>> c = np.zeros((9, 16), dtype=int); c[4, 3:14:2] = 1   # six points along row 4
    >>> s = site_regions(p, c, levels=(0.5, 0.9), reach_px=2, buffer_px=0, min_points=3)
    >>> s.n, s.level.tolist()        # one site; three of its points are above 0.9
    (1, [0.9])
    >>> s.labels[4].tolist()          # the closing joins the points (0 px buffer)
    [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    >>> int(s.labels[:3].sum() + s.labels[6:].sum())   # and stays within a pixel of them
    0
    """
    order = sorted(float(x) for x in levels)
    cnt = np.asarray(counts)
    observed = cnt > 0
    base, n, _, distance = level_regions(probability, observed, order[0], reach_px=reach_px)
    points = np.bincount(base[observed], weights=cnt[observed], minlength=n + 1)[1:]
    highest = np.full(n, order[0])
    for level in order[1:]:
        labels, m, _, _ = level_regions(probability, observed, level, reach_px=reach_px)
        strong = np.bincount(labels[observed], weights=cnt[observed], minlength=m + 1)[1:]
        parent = np.zeros(m + 1, dtype=np.int64)
        parent[labels.ravel()] = base.ravel()  # nested: a part's pixels share one parent
        reached = parent[1:][strong >= min_points]
        highest[reached - 1] = level  # levels ascend: the last one reached stays
    region = base > 0
    # closing of the buffered seeds: erode the region by (reach − buffer), keep the buffers
    if region.all():  # nothing outside: the tile's edge is not the data's edge
        inner = region
    else:
        # one pixel of slack: on the grid, the dilation's edge lies up to a pixel inside reach
        inner = ndimage.distance_transform_edt(region) > reach_px - buffer_px - 1.0
    outline = region & (inner | (distance <= buffer_px))
    kept = np.flatnonzero(points >= min_points)
    lut = np.zeros(n + 1, dtype=np.int32)
    lut[kept + 1] = np.arange(1, kept.size + 1, dtype=np.int32)
    return SiteRegions(np.where(outline, lut[base], 0).astype(np.int32), highest[kept], region)
