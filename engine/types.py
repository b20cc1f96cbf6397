"""Shared small types: geometries, bounding boxes and tiles."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import NamedTuple

__all__ = ["Bbox", "Geometry", "Tile"]


class Geometry(StrEnum):
    """What a velocity measures: a line of sight, or an EGMS L3 component."""

    ASCENDING = "ascending"
    DESCENDING = "descending"
    VERTICAL = "vertical"  # EGMS L3 U
    EAST = "east"  # EGMS L3 E


class Bbox(NamedTuple):
    """Axis-aligned box ``(minx, miny, maxx, maxy)`` in one CRS."""

    minx: float
    miny: float
    maxx: float
    maxy: float


class Tile(NamedTuple):
    """A square tile of a grid anchored at the CRS origin.

    Tile ``(ix, iy)`` covers ``[ix·T, (ix+1)·T) × [iy·T, (iy+1)·T)`` metres, with
    ``T = size_px · pixel_size_m``, so tiles of every dataset in one CRS and pixel size
    line up. Its raster adds ``overlap_px`` on every side; pixel edges fall on multiples
    of the pixel size. Row 0 of the raster is the northern edge.

    Examples
    --------
    >>> t = Tile(ix=1, iy=-2, size_px=100, overlap_px=10, pixel_size_m=10.0)
    >>> t.core_bounds
    Bbox(minx=1000.0, miny=-2000.0, maxx=2000.0, maxy=-1000.0)
    >>> t.shape
    (120, 120)
    """

    ix: int
    iy: int
    size_px: int
    overlap_px: int
    pixel_size_m: float

    @property
    def size_m(self) -> float:
        return self.size_px * self.pixel_size_m

    @property
    def core_bounds(self) -> Bbox:
        t = self.size_m
        return Bbox(self.ix * t, self.iy * t, (self.ix + 1) * t, (self.iy + 1) * t)

    @property
    def bounds(self) -> Bbox:
        """Bounds including the overlap."""
        pad = self.overlap_px * self.pixel_size_m
        c = self.core_bounds
        return Bbox(c.minx - pad, c.miny - pad, c.maxx + pad, c.maxy + pad)

    @property
    def shape(self) -> tuple[int, int]:
        n = self.size_px + 2 * self.overlap_px
        return (n, n)

    @property
    def key(self) -> str:
        return f"{self.ix}_{self.iy}"

    @classmethod
    def index_of(cls, x: float, y: float, size_m: float) -> tuple[int, int]:
        """``(ix, iy)`` of the tile whose core holds the point ``(x, y)``."""
        return math.floor(x / size_m), math.floor(y / size_m)
