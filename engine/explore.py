"""What the dashboard shows of a finished run, computed here so that pages only draw.

* :func:`heatmap` — the probability mosaic in WGS84 as an RGBA image (for a map layer).
* :func:`velocity_probability` — the 2-D histogram of point velocity against the
  probability at the point (000 Fig. 8a).
* :func:`site_detail` — one site's surroundings: points, interpolated and probability
  rasters around it, in the run CRS (000 Fig. 5).
* :func:`baseline_variant` — the thresholding baseline recomputed with other thresholds or
  dilation, and its comparison with the run's CNN sites.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import yaml
from affine import Affine
from numpy.typing import NDArray
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rasterio.windows import from_bounds

from engine.baseline import baseline_sites, compare_sites
from engine.config import BaselineParams, RunConfig
from engine.errors import InputError
from engine.grid import tile_transform
from engine.mapview import probability_colours
from engine.pipeline._tile import owned_by, rasterize_looks, raw_velocity
from engine.rasters import read_mosaic
from engine.runs import RunInfo, get_run, read_sites, run_tiles
from engine.store import DatasetInfo, Store, read_points_at
from engine.types import Tile

__all__ = [
    "Histogram2D",
    "SiteDetail",
    "baseline_variant",
    "colourise",
    "heatmap",
    "log_count_ticks",
    "png_bytes",
    "points_csv",
    "run_config",
    "site_detail",
    "site_geojson",
    "velocity_probability",
    "wrapped_png",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Histogram2D:
    counts: NDArray[np.int64]
    """``(len(v_edges) − 1, len(p_edges) − 1)`` points per bin."""
    v_edges: NDArray[np.float64]
    p_edges: NDArray[np.float64]
    n_points: int
    """Points with a probability (inside the scored area)."""


@dataclass(frozen=True)
class SiteDetail:
    site: pd.Series
    points: pd.DataFrame
    """Points around the site: pid, x, y, lon, lat, velocity, geometry (+ dated columns)."""
    rasters: dict[str, NDArray[np.float32]]
    """``probability`` and ``velocity-<look>`` over ``bounds``, NaN outside the run."""
    bounds: tuple[float, float, float, float]
    """``(minx, miny, maxx, maxy)`` of the rasters, run CRS metres."""
    crs: str
    polygon_xy: object
    """The site's polygon in the run CRS (shapely)."""
    outline_xy: tuple[list[float], list[float]]
    """``(xs, ys)`` of the site's outline (its largest part), run CRS, for drawing."""


def colourise(probability: NDArray[np.floating]) -> NDArray[np.uint8]:
    """RGBA ``(rows, cols, 4)`` of a probability map; NaN and P < 0.3 transparent."""
    return probability_colours(probability)  # one ramp, shared with the map legends


def png_bytes(rgba: NDArray[np.uint8]) -> bytes:
    """PNG encoding of an RGBA or greyscale image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba)).save(buffer, format="PNG")
    return buffer.getvalue()


def heatmap(
    store: Store, run_id: str, *, max_pixels: int = 1_000_000
) -> tuple[NDArray[np.uint8], tuple[float, float, float, float]]:
    """The run's probability as RGBA in WGS84 and its ``(west, south, east, north)``."""
    array, (minx, miny, maxx, maxy), crs = read_mosaic(store, run_id, "probability",
                                                       max_pixels=max_pixels)  # fmt: skip
    rows, cols = array.shape
    src_transform = Affine((maxx - minx) / cols, 0, minx, 0, -(maxy - miny) / rows, maxy)
    transform, width, height = calculate_default_transform(
        crs, "EPSG:4326", cols, rows, minx, miny, maxx, maxy
    )
    out = np.full((height, width), np.nan, dtype=np.float32)
    reproject(array, out, src_transform=src_transform, src_crs=crs, dst_transform=transform,
              dst_crs="EPSG:4326", resampling=Resampling.bilinear, src_nodata=np.nan,
              dst_nodata=np.nan)  # fmt: skip
    west, north = transform.c, transform.f
    east, south = west + width * transform.a, north + height * transform.e
    return colourise(out), (west, south, east, north)


def velocity_probability(
    store: Store,
    run_id: str,
    *,
    v_edges: NDArray[np.floating] | None = None,
    p_bins: int = 20,
) -> Histogram2D:
    """Every point of the run against the probability at its pixel (000 Fig. 8a).

    Tile by tile: the points of a tile's core and its probability raster only.
    """
    info, tiles = _run_tiles(store, run_id)
    v_edges = np.linspace(-20, 20, 41) if v_edges is None else np.asarray(v_edges, float)
    p_edges = np.linspace(0.0, 1.0, p_bins + 1)
    counts = np.zeros((len(v_edges) - 1, p_bins), dtype=np.int64)
    points_folder, partition = _points_of(store.dataset(info.dataset))
    for tile, folder in tiles:
        c = tile.core_bounds
        table = read_points_at(points_folder, partition, bbox=c, columns=["x", "y", "velocity"])
        if table.num_rows == 0:
            continue
        x, y = table["x"].to_numpy(), table["y"].to_numpy()
        v = table["velocity"].to_numpy()
        with rasterio.open(folder / "probability.tif") as src:
            p = src.read(1)
        col = np.clip(((x - c.minx) / tile.pixel_size_m).astype(int), 0, p.shape[1] - 1)
        row = np.clip(((c.maxy - y) / tile.pixel_size_m).astype(int), 0, p.shape[0] - 1)
        prob = p[row, col]
        ok = np.isfinite(prob) & np.isfinite(v)
        counts += np.histogram2d(v[ok].clip(v_edges[0], v_edges[-1]), prob[ok],
                                 bins=(v_edges, p_edges))[0].astype(np.int64)  # fmt: skip
    return Histogram2D(counts, v_edges, p_edges, int(counts.sum()))


def site_detail(store: Store, run_id: str, site_id: str, *, margin_m: float = 300.0) -> SiteDetail:
    """A site, its surroundings' points and the run's rasters around it."""
    info = get_run(store, run_id)
    sites = read_sites(store, info.run_id)
    match = sites[sites["site_id"] == site_id]
    if match.empty:
        raise InputError(f"run {info.run_id}", f"has no site {site_id!r}", "a site id of the run")
    site = match.iloc[0]
    polygon = gpd.GeoSeries([site.geometry], crs="EPSG:4326").to_crs(info.crs).iloc[0]
    config = RunConfig.from_yaml(info.config_yaml)
    px = config.grid.pixel_size_m
    minx, miny, maxx, maxy = polygon.bounds
    snap_down = lambda v: math.floor((v - margin_m) / px) * px  # noqa: E731
    snap_up = lambda v: math.ceil((v + margin_m) / px) * px  # noqa: E731
    bounds = (snap_down(minx), snap_down(miny), snap_up(maxx), snap_up(maxy))
    points_folder, partition = _points_of(store.dataset(info.dataset))
    points = read_points_at(points_folder, partition, bbox=bounds).to_pandas()
    for column in ("tile_ix", "tile_iy"):
        points = points.drop(columns=column, errors="ignore")
    rasters = _read_window(store, info, bounds, px)
    largest = max(getattr(polygon, "geoms", [polygon]), key=lambda g: g.area)
    xs, ys = largest.exterior.xy
    return SiteDetail(site, points, rasters, bounds, info.crs, polygon, (list(xs), list(ys)))


def baseline_variant(
    store: Store, run_id: str, params: BaselineParams, *, level: float = 0.5
) -> tuple[gpd.GeoDataFrame, dict]:
    """The baseline's sites with ``params`` over the run's tiles, and their comparison
    with the run's CNN sites at ``level`` (:func:`engine.baseline.compare_sites`).

    Thresholds the run already computed with the same dilation, filter and minimum are
    read from its stored baseline instead of being recomputed.
    """
    info, tiles = _run_tiles(store, run_id)
    cnn = read_sites(store, info.run_id)
    ran = RunConfig.from_yaml(info.config_yaml).baseline
    same = ran.model_copy(update={"thresholds_mm_yr": params.thresholds_mm_yr}) == params
    if same and set(params.thresholds_mm_yr) <= set(ran.thresholds_mm_yr):
        stored = read_sites(store, info.run_id, baseline=True)
        base = stored[stored["threshold"].isin(params.thresholds_mm_yr)]
        return base, compare_sites(cnn, base, level=level)
    points_folder, partition = _points_of(store.dataset(info.dataset))
    parts = []
    for tile, _ in tiles:
        table = read_points_at(points_folder, partition, bbox=tile.bounds,
                               columns=["x", "y", "velocity", "geometry", "track"])  # fmt: skip
        looks = rasterize_looks(table, tile)
        if not looks:
            continue
        velocity, counts = raw_velocity([v for v, _ in looks.values()],
                                        [c for _, c in looks.values()])  # fmt: skip
        found = baseline_sites(velocity, tile_transform(tile), info.crs, counts=counts,
                               params=params)  # fmt: skip
        parts.append(owned_by(found, tile, info.crs))
    if parts:
        base = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    else:  # the empty frame with the right columns
        base = baseline_sites(np.zeros((1, 1)), Affine.identity(), info.crs, params=params)
    return base, compare_sites(cnn, base, level=level)


def _run_tiles(store: Store, run_id: str) -> tuple[RunInfo, list[tuple[Tile, object]]]:
    info = get_run(store, run_id)
    grid = RunConfig.from_yaml(info.config_yaml).grid
    tiles = []
    for key, folder in run_tiles(store, info.run_id):
        if folder is None:
            continue
        ix, iy = (int(v) for v in key.split("_"))
        tiles.append((Tile(ix, iy, grid.tile_size_px, grid.tile_overlap_px, grid.pixel_size_m),
                      folder))  # fmt: skip
    return info, tiles


def _points_of(dataset: DatasetInfo) -> tuple[str, float]:
    return str(dataset.path / "points"), dataset.partition_size_m


def _read_window(
    store: Store, info: RunInfo, bounds: tuple[float, float, float, float], px: float
) -> dict[str, NDArray[np.float32]]:
    minx, miny, maxx, maxy = bounds
    shape = (round((maxy - miny) / px), round((maxx - minx) / px))
    out: dict[str, NDArray[np.float32]] = {}
    for _, folder in run_tiles(store, info.run_id):
        if folder is None:
            continue
        for path in sorted(folder.glob("*.tif")):
            with rasterio.open(path) as src:
                b = src.bounds
                if b.left >= maxx or b.right <= minx or b.bottom >= maxy or b.top <= miny:
                    continue
                left, right = max(b.left, minx), min(b.right, maxx)
                bottom, top = max(b.bottom, miny), min(b.top, maxy)
                window = from_bounds(left, bottom, right, top, transform=src.transform)
                data = src.read(1, window=window.round_offsets().round_lengths())
            target = out.setdefault(path.stem, np.full(shape, np.nan, dtype=np.float32))
            r0, c0 = round((maxy - top) / px), round((left - minx) / px)
            target[r0 : r0 + data.shape[0], c0 : c0 + data.shape[1]] = data
    return out


def site_geojson(detail: SiteDetail) -> str:
    """The site as a GeoJSON feature collection (WGS84) with its statistics."""
    frame = gpd.GeoDataFrame([detail.site], geometry="geometry", crs="EPSG:4326")
    return frame.to_json(drop_id=True)


def points_csv(detail: SiteDetail) -> bytes:
    """The points around the site as CSV (dated columns are displacements in mm)."""
    return detail.points.to_csv(index=False).encode()


def wrapped_png(velocity: NDArray[np.floating], rho_mm_yr: float, tau_mm_yr: float = 0.0) -> bytes:
    """The map the CNN sees at ``ρ``, ``τ``: wrapped greyscale, no data transparent."""
    from engine.wrap import wrap

    grey = wrap(velocity, rho_mm_yr, tau_mm_yr)
    rgba = np.zeros((*grey.shape, 4), dtype=np.uint8)
    ok = np.isfinite(grey)
    rgba[..., :3] = np.nan_to_num(grey).astype(np.uint8)[..., None]
    rgba[..., 3] = np.where(ok, 255, 0)
    return png_bytes(rgba)


def log_count_ticks(max_count: int) -> tuple[list[float], list[str]]:
    """Colour-bar ticks of a log₁₀-scaled count: positions (log₁₀ n) and labels (n).

    Examples
    --------
    >>> log_count_ticks(2500)
    ([0.0, 1.0, 2.0, 3.0], ['1', '10', '100', '1,000'])
    >>> log_count_ticks(0)
    ([0.0], ['1'])
    """
    top = max(0, math.floor(math.log10(max_count))) if max_count >= 1 else 0
    return [float(k) for k in range(top + 1)], [f"{10**k:,}" for k in range(top + 1)]


def run_config(run: RunInfo) -> RunConfig:
    """The run's own configuration (levels, thresholds, wrap intervals), as this engine
    reads it. A section another engine version wrote that no longer validates falls back
    to its defaults (with a warning), so the dashboard still shows the run."""
    try:
        return RunConfig.from_yaml(run.config_yaml)
    except ValueError:  # pydantic's ValidationError is one
        data = yaml.safe_load(run.config_yaml) or {}
    kept = {}
    for name, value in data.items():
        try:
            RunConfig.model_validate({name: value})
        except ValueError:
            logger.warning("run %s: config section %r unreadable here; defaults used", run.run_id,
                           name)  # fmt: skip
            continue
        kept[name] = value
    return RunConfig.model_validate(kept)
