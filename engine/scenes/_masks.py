"""Training masks drawn from the benchmark scenes' land cover.

The generated masks of :func:`engine.synthetic.clustered_mask` put low densities almost
entirely in towns, so a source in open country is rarely seen through a 1 % spread of
field scatterers. Real rural maps, and the benchmark scenes (:func:`draw_layout`), are
mostly that: fields at 0.5–1.5 %, with roads, villages and towns. A detector trained only
on the first misses most sources of the second, so a build can take its masks from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.scenes._layout import draw_layout

__all__ = ["LandcoverMasks"]

_LAYOUT_PATCHES = 3  # the layout is this many patch sides wide: roads and towns at scene spacing


@dataclass(frozen=True)
class LandcoverMasks:
    """Scatterer masks cut from a fresh scene layout per sample (a ``MaskSampler``).

    Each draw lays out land cover over three patch sides (so roads and towns keep the
    spacing they have in a 10 km scene), cuts a random window of ``shape`` and observes each
    pixel with the layout's chance of a scatterer. The spike noise stays the generator's.

    Examples
    --------
    >>> mask, where = LandcoverMasks().draw((320, 320), np.random.default_rng(0))
    >>> mask.shape, where.startswith("landcover:"), bool(0.003 < mask.mean() < 0.3)
    ((320, 320), True, True)
    """

    pixel_size_m: float = 10.0
    name: str = "landcover"
    noise_pool: NDArray[np.float32] | None = None

    def draw(
        self, shape: tuple[int, int], rng: np.random.Generator
    ) -> tuple[NDArray[np.bool_], str]:
        """A ``shape`` mask and the window of the layout it was cut from."""
        size = _LAYOUT_PATCHES * max(shape)
        layout = draw_layout(size, self.pixel_size_m, rng=rng)
        top = int(rng.integers(size - shape[0] + 1))
        left = int(rng.integers(size - shape[1] + 1))
        chance = layout.probability(slice(top, top + shape[0]))[:, left : left + shape[1]]
        mask = rng.random(chance.shape, dtype=np.float32) < chance
        return mask, f"landcover:{top},{left}"
