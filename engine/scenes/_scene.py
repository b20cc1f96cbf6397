"""A benchmark scene: both line-of-sight geometries of one synthetic region with its truth."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from affine import Affine
from numpy.typing import NDArray

from engine.config import RunConfig, SyntheticParams
from engine.scenes._layout import SEA, SPARSE, Layout, atmosphere, draw_layout, paint, row_blocks
from engine.scenes._negatives import HardNegative, draw_negatives, spike_pixels, spike_values
from engine.scenes._score import footprint_points
from engine.scenes._sources import SceneSource, draw_sources, render_source
from engine.synthetic import Viewing, nugget_noise, to_los

__all__ = ["GEOMETRIES", "MAX_SIZE_PX", "MIN_SIZE_PX", "Scene", "make_scene", "scene_transform"]

logger = logging.getLogger(__name__)

GEOMETRIES = ("ascending", "descending")
MIN_SIZE_PX, MAX_SIZE_PX = 1000, 10000
CRS = "EPSG:27700"
_ORIGIN_M = (430000.0, 330000.0)  # south-west corner: the English Midlands, near Derby
# one independent stream per random ingredient, so changing one leaves the others alone
_STREAMS = (
    "viewing",
    "layout",
    "sources",
    *(f"{part}-{g}" for part in ("atmosphere", "mask", "noise") for g in GEOMETRIES),
    # appended, so that the streams above (and scenes without negatives) stay as they were
    "negatives",
    *(f"spikes-{g}" for g in GEOMETRIES),
)


@dataclass(frozen=True, eq=False)
class Scene:
    """A synthetic region seen from both geometries, with the sources it holds.

    Arrays are ``(rows, cols)``, row 0 north, float32 LOS mm/yr (positive = towards the
    satellite), NaN where there is no scatterer.

    Attributes
    ----------
    size_px, pixel_size_m, crs, transform
        The grid: ``transform`` maps pixel ``(col, row)`` to CRS metres, north-up.
    seed
        The seed it was made from; :func:`make_scene` with it gives the same scene.
    velocity
        Per geometry, the sparse velocity raster: one value per observed pixel.
    viewing
        Per geometry, the viewing the sources were projected with.
    sources
        The deformation sources (the ground truth).
    landcover
        ``(rows, cols)`` uint8 codes into :data:`engine.scenes.LANDCOVER_CLASSES`,
        shared by both geometries (for results by land cover).
    noise
        Per geometry, the atmosphere's ``a_mm2_yr2`` and ``b_per_km`` and the spike
        noise's ``nugget_mm2_yr2``.
    negatives
        The hard negatives (:mod:`engine.scenes._negatives`): sea, sparse fields, spike
        clusters; a site on one is a false positive.
    """

    size_px: int
    pixel_size_m: float
    crs: str
    transform: Affine
    seed: int
    velocity: dict[str, NDArray[np.float32]] = field(repr=False)
    viewing: dict[str, Viewing]
    sources: tuple[SceneSource, ...] = field(repr=False)
    landcover: NDArray[np.uint8] = field(repr=False)
    noise: dict[str, dict[str, float]] = field(default_factory=dict)
    negatives: tuple[HardNegative, ...] = field(default=(), repr=False)

    @functools.cached_property
    def source_points(self) -> NDArray[np.int64]:
        """Per source, the observed pixels in its footprint (:func:`footprint_points`), counted
        once however many detectors are scored on the scene."""
        return footprint_points(self)

    def negatives_frame(self) -> gpd.GeoDataFrame:
        """One row per hard negative: id, kind and region, in the scene CRS."""
        return gpd.GeoDataFrame(
            {"id": [n.id for n in self.negatives], "kind": [n.kind for n in self.negatives]},
            geometry=gpd.GeoSeries([n.region for n in self.negatives], crs=self.crs),
            crs=self.crs,
        )

    def truth(self) -> gpd.GeoDataFrame:
        """One row per source: id, kind, peak rates and the footprint, in the scene CRS."""
        return gpd.GeoDataFrame(
            {
                "id": [s.id for s in self.sources],
                "kind": [s.kind for s in self.sources],
                "peak_mm_yr": [s.peak_mm_yr for s in self.sources],
                **{
                    f"peak_los_{g}": [s.peak_los_mm_yr[g] for s in self.sources] for g in GEOMETRIES
                },
            },
            geometry=gpd.GeoSeries([s.footprint for s in self.sources], crs=self.crs),
            crs=self.crs,
        )

    def points(self, geometry: str) -> pd.DataFrame:
        """The observed pixels of one geometry as a point table.

        Columns ``x``, ``y`` (pixel centres, scene CRS metres), ``lon``, ``lat`` (WGS84) and
        ``velocity`` (mm/yr), row-major; written to CSV it ingests like a real product.

        Raises
        ------
        ValueError
            If ``geometry`` is not ``"ascending"`` or ``"descending"``.
        """
        if geometry not in self.velocity:
            raise ValueError(f"geometry must be one of {sorted(self.velocity)}, got {geometry!r}")
        raster = self.velocity[geometry]
        rows, cols = np.nonzero(np.isfinite(raster))
        x, y = self.transform @ (cols + 0.5, rows + 0.5)
        to_wgs84 = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon, lat = to_wgs84.transform(x, y)
        return pd.DataFrame(
            {"x": x, "y": y, "lon": lon, "lat": lat, "velocity": raster[rows, cols]}
        )


def scene_transform(size_px: int, pixel_size_m: float) -> Affine:
    """North-up transform with the south-west corner at (430000, 330000), on the pixel grid.

    Examples
    --------
    >>> t = scene_transform(1000, 10.0)
    >>> t.c, t.f, t @ (1000, 1000)
    (430000.0, 340000.0, (440000.0, 330000.0))
    """
    west = round(_ORIGIN_M[0] / pixel_size_m) * pixel_size_m
    north = round((_ORIGIN_M[1] + size_px * pixel_size_m) / pixel_size_m) * pixel_size_m
    return Affine(pixel_size_m, 0.0, west, 0.0, -pixel_size_m, north)


def make_scene(
    size_px: int = 2000,
    seed: int = 0,
    *,
    pixel_size_m: float = 10.0,
    config: RunConfig = RunConfig(),
    hard_negatives: bool = True,
) -> Scene:
    """Make a benchmark scene: atmosphere + sources, observed at scatterers, with spikes.

    For each geometry, ``velocity = T + Σ LOS(sources)`` at the observed pixels plus spike
    noise, NaN elsewhere. ``T`` is :func:`engine.scenes.atmosphere` with ``a``, ``b`` drawn
    from ``config.synthetic``; the spikes are :func:`engine.synthetic.nugget_noise` with
    nugget ``max(sill − a, min_nugget)``; the scatterers are independent draws per geometry
    from one land cover (:func:`engine.scenes.draw_layout`); the sources are
    :func:`engine.scenes.draw_sources`. Viewing: incidence from ``config.synthetic``,
    heading from its per-geometry range (≈ −10° ascending, ≈ 190° descending).

    Parameters
    ----------
    size_px
        Side of the square scene, 1000–10000 pixels.
    seed
        Seed (≥ 0); the scene depends on nothing else but the arguments.
    pixel_size_m
        Pixel size, metres.
    config
        Ranges of the synthetic world (``config.synthetic``).
    hard_negatives
        Add a coast, a stretch of sparse fields and spike clusters
        (:func:`engine.scenes.draw_negatives`), away from the sources. False leaves the
        sources, the atmosphere and the scatterers as they are (the spike noise on the
        scatterers is drawn in another order).

    Raises
    ------
    ValueError
        If ``size_px`` is outside 1000–10000 or ``pixel_size_m`` is not positive.

    Examples
    --------
    >>> scene = make_scene(1000, seed=1)  # doctest: +SKIP
    >>> scene.truth()[["id", "kind", "peak_mm_yr"]]  # doctest: +SKIP
    """
    if not MIN_SIZE_PX <= size_px <= MAX_SIZE_PX:
        raise ValueError(f"size_px must lie in {MIN_SIZE_PX}–{MAX_SIZE_PX}, got {size_px}")
    if not pixel_size_m > 0:
        raise ValueError(f"pixel_size_m must be positive, got {pixel_size_m}")
    size_px = int(size_px)
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    rng = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, children, strict=True)}
    transform = scene_transform(size_px, pixel_size_m)
    viewing, noise = _draw_viewing(rng["viewing"], config.synthetic)
    layout = draw_layout(size_px, pixel_size_m, rng=rng["layout"])
    sources = draw_sources(
        size_px, transform=transform, viewing=viewing, rng=rng["sources"], config=config
    )
    negatives: tuple[HardNegative, ...] = ()
    if hard_negatives:
        negatives = draw_negatives(size_px, transform=transform, rng=rng["negatives"],
                                   footprints=[s.footprint for s in sources])  # fmt: skip
    for negative in negatives:
        if negative.kind in ("sea", "sparse"):
            paint(layout.landcover, negative.region, SEA if negative.kind == "sea" else SPARSE,
                  transform)  # fmt: skip
    spikes = [spike_pixels(n, transform, size_px, rng["negatives"])
              for n in negatives if n.kind == "spikes"]  # fmt: skip
    velocity = {
        g: atmosphere(
            size_px,
            pixel_size_m,
            a_mm2_yr2=noise[g]["a_mm2_yr2"],
            b_per_km=noise[g]["b_per_km"],
            rng=rng[f"atmosphere-{g}"],
        )
        for g in GEOMETRIES
    }
    for source in sources:
        rows, cols, displacement = render_source(source.kind, source.params, transform, size_px)
        for g in GEOMETRIES:
            velocity[g][rows, cols] += to_los(displacement, viewing[g]).astype(np.float32)
    background = {g: [velocity[g][rr, cc] for rr, cc in spikes] for g in GEOMETRIES}
    _observe(velocity, layout, noise, rng)
    for g in GEOMETRIES:  # spike clusters: observed, incoherent, independently per geometry
        for (rr, cc), under in zip(spikes, background[g], strict=True):
            velocity[g][rr, cc] = under + spike_values(rr.size, rng[f"spikes-{g}"])
    logger.info(
        "scene %d px seed %d: %d sources, observed %s",
        size_px,
        seed,
        len(sources),
        {g: f"{np.isfinite(v).mean():.1%}" for g, v in velocity.items()},
    )
    return Scene(
        size_px,
        float(pixel_size_m),
        CRS,
        transform,
        seed,
        velocity,
        viewing,
        sources,
        layout.landcover,
        noise,
        negatives,
    )


def _draw_viewing(
    rng: np.random.Generator, syn: SyntheticParams
) -> tuple[dict[str, Viewing], dict[str, dict[str, float]]]:
    viewing, noise = {}, {}
    for g in GEOMETRIES:
        viewing[g] = Viewing(
            g, float(rng.uniform(*syn.incidence_deg)), float(rng.uniform(*syn.heading_deg[g]))
        )
        a = float(rng.uniform(*syn.atmosphere_a_mm2_yr2))
        nugget = max(float(rng.uniform(*syn.sill_mm2_yr2)) - a, syn.min_nugget_mm2_yr2)
        noise[g] = {
            "a_mm2_yr2": a,
            "b_per_km": float(rng.uniform(*syn.atmosphere_b_per_km)),
            "nugget_mm2_yr2": nugget,
        }
    return viewing, noise


def _observe(
    velocity: dict[str, NDArray[np.float32]],
    layout: Layout,
    noise: dict[str, dict[str, float]],
    rng: dict[str, np.random.Generator],
) -> None:
    """Keep the scatterer pixels (plus spikes) and blank the rest, a block of rows at a time."""
    for rows in row_blocks(layout.landcover.shape[0]):
        probability = layout.probability(rows)
        for g in GEOMETRIES:
            seen = rng[f"mask-{g}"].random(probability.shape, dtype=np.float32) < probability
            block = velocity[g][rows]
            block[seen] += nugget_noise(
                int(seen.sum()), nugget_mm2_yr2=noise[g]["nugget_mm2_yr2"], rng=rng[f"noise-{g}"]
            )
            block[~seen] = np.nan
