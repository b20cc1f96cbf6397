"""Scatterer masks and spike noise taken from a real dataset in the store (§III-B).

The paper samples its synthetic maps "using randomly chosen distributions of points from the
SatSense data". :class:`RealMasks` keeps the occupied pixels of each line-of-sight geometry
of a dataset as sorted linear indices (memory grows with the points, not the extent) and
cuts windows around randomly chosen points, so crops follow the real density: towns,
roads, coastlines, empty fields. Its noise pool is the noise map ``N = y − Med(y)`` of a
few such windows of the real velocities.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from engine.config import RunConfig
from engine.denoise import denoise
from engine.errors import InputError
from engine.store import Store

__all__ = ["RealMasks"]

logger = logging.getLogger(__name__)

_NOISE_WINDOWS = 24
_NOISE_WINDOW_PX = 256
_TRIES = 50


@dataclass
class _Layer:
    """The occupied pixels of one geometry, row-major sorted, and their mean velocity."""

    cells: NDArray[np.int64]  # row * width + col
    velocity: NDArray[np.float32]
    width: int
    height: int

    def window(self, top: int, left: int, shape: tuple[int, int]) -> NDArray[np.float32]:
        """The velocity raster of a window (NaN = no scatterer); may run off the extent."""
        rows, cols = shape
        out = np.full(shape, np.nan, dtype=np.float32)
        for r in range(max(top, 0), min(top + rows, self.height)):
            first, stop = max(left, 0), min(left + cols, self.width)  # stay on row r
            lo, hi = np.searchsorted(self.cells, [r * self.width + first, r * self.width + stop])
            if hi > lo:
                out[r - top, self.cells[lo:hi] - r * self.width - left] = self.velocity[lo:hi]
        return out


@dataclass
class RealMasks:
    """Crops of a real dataset's scatterer mask, and a pool of its spike noise.

    Build one with :meth:`from_store`; :meth:`draw` is what
    :func:`engine.synthetic.make_sample` calls.
    """

    name: str
    layers: list[_Layer]
    min_density: float
    noise_pool: NDArray[np.float32] | None = field(default=None, repr=False)

    @classmethod
    def from_store(
        cls, store: Store, dataset: str, *, config: RunConfig = RunConfig(), seed: int = 0
    ) -> RealMasks:
        """Grid every geometry of ``dataset`` at ``config.grid.pixel_size_m``.

        Raises
        ------
        InputError
            If the dataset does not exist or holds too few points for one patch.
        """
        info = store.dataset(dataset)
        pixel = config.grid.pixel_size_m
        layers = []
        for geometry in info.points:
            table = store.read_points(dataset, geometry=geometry, columns=["x", "y", "velocity"])
            x = table.column("x").to_numpy()
            y = table.column("y").to_numpy()
            v = table.column("velocity").to_numpy().astype(np.float64)
            layers.append(_grid_layer(x, y, v, pixel))
        size = config.model.patch_size_px
        layers = [
            layer
            for layer in layers
            if layer.cells.size >= 4 * config.synthetic.positive_min_points
        ]
        if not layers:
            raise InputError(
                dataset, "has too few points to sample masks from", "a dataset with points"
            )
        masks = cls(dataset, layers, min_density=config.synthetic.density[0])
        rng = np.random.default_rng(seed)
        noise = []
        for _ in range(_NOISE_WINDOWS):
            velocity, _ = masks._window((_NOISE_WINDOW_PX, _NOISE_WINDOW_PX), rng)
            result = denoise(velocity, params=config.denoise)
            noise.append(result.noise[np.isfinite(result.noise)])
        masks.noise_pool = np.concatenate(noise).astype(np.float32)
        logger.info(
            "mask source %s: %d geometries, %s points, noise pool of %d values (patch %d px)",
            dataset,
            len(layers),
            [layer.cells.size for layer in layers],
            masks.noise_pool.size,
            size,
        )
        return masks

    def draw(
        self, shape: tuple[int, int], rng: np.random.Generator
    ) -> tuple[NDArray[np.bool_], str]:
        """A mask of ``shape`` cut around a random scatterer, and where it was cut."""
        velocity, where = self._window(shape, rng)
        return np.isfinite(velocity), f"{self.name}:{where}"

    def _window(
        self, shape: tuple[int, int], rng: np.random.Generator
    ) -> tuple[NDArray[np.float32], str]:
        weights = np.array([layer.cells.size for layer in self.layers], dtype=np.float64)
        best: tuple[float, NDArray[np.float32], str] | None = None
        for _ in range(_TRIES):
            k = int(rng.choice(len(self.layers), p=weights / weights.sum()))
            layer = self.layers[k]
            r, c = divmod(int(layer.cells[rng.integers(layer.cells.size)]), layer.width)
            top = r - int(rng.integers(shape[0]))
            left = c - int(rng.integers(shape[1]))
            velocity = layer.window(top, left, shape)
            density = float(np.isfinite(velocity).mean())
            if best is None or density > best[0]:
                best = (density, velocity, f"{k}/{top},{left}")
            if density >= self.min_density:
                break
        assert best is not None
        return best[1], best[2]


def _grid_layer(x: NDArray, y: NDArray, v: NDArray, pixel: float) -> _Layer:
    west = np.floor(x.min() / pixel) * pixel
    north = np.ceil(y.max() / pixel) * pixel
    col = ((x - west) // pixel).astype(np.int64)
    row = ((north - y) // pixel).astype(np.int64)
    width = int(col.max()) + 1
    height = int(row.max()) + 1
    cells, inverse = np.unique(row * width + col, return_inverse=True)
    good = np.isfinite(v)
    sums = np.bincount(inverse[good], weights=v[good], minlength=cells.size)
    counts = np.bincount(inverse[good], minlength=cells.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        velocity = (sums / counts).astype(np.float32)
    return _Layer(cells, velocity, width, height)
