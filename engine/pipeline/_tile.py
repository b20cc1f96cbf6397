"""One tile through the chain: points → looks → detect → sites → files. Runs on any worker.

The function reads its points straight from the dataset's Parquet folder and writes its
outputs into the store's staging area, then renames them into place: it never opens the
catalogue, so many workers (processes, or Dask workers on other machines sharing the store's
file system) run it while one process records what they finished.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pyproj
import rasterio
from affine import Affine

from engine.baseline import baseline_sites
from engine.config import RunConfig
from engine.detect import TileDetection, detect_tile, detection_model
from engine.grid import core_slices, rasterize_tile, tile_transform
from engine.interpolate import set_fft_workers
from engine.runs import publish_tile
from engine.sites import extract_sites, mask_to_data
from engine.store import Store, read_points_at
from engine.types import Tile

__all__ = [
    "POINT_COLUMNS",
    "TileJob",
    "TileResult",
    "largest_first",
    "owned_by",
    "process_tile",
    "rasterize_looks",
    "raw_velocity",
    "site_probability",
]

POINT_COLUMNS = ("x", "y", "velocity", "geometry", "track")


@dataclass(frozen=True)
class TileJob:
    """Everything a worker needs for one tile (picklable, no open handles)."""

    tile: Tile
    cache_key: str
    points: str
    """The dataset's point folder (``datasets/<name>.<id>/points``)."""
    partition_size_m: float
    crs: str
    store_root: str
    config: RunConfig
    model: str = "default"
    threads: int = 0
    """DCT threads of the interpolation in the worker; 0 leaves every core. The CNN always
    runs on one thread (see :func:`_one_torch_thread`)."""


@dataclass(frozen=True)
class TileResult:
    """What a worker reports back; the files are already in place."""

    tile_key: str
    cache_key: str
    path: str | None
    """Folder name under ``tiles/``; None when the tile holds no point."""
    seconds: float
    points: int
    looks: tuple[str, ...]
    sites: int
    peak_rss_mb: float
    """The worker process's peak resident memory so far."""


def process_tile(job: TileJob) -> TileResult:
    """Grid, denoise, interpolate, score, combine and cut sites out of one tile."""
    started = time.perf_counter()
    if job.threads:  # one worker per core: threads inside a worker would only contend
        set_fft_workers(job.threads)
    tile, config = job.tile, job.config
    table = read_points_at(
        job.points, job.partition_size_m, bbox=tile.bounds, columns=list(POINT_COLUMNS)
    )
    looks = rasterize_looks(table, tile)
    if not looks:
        return TileResult(tile.key, job.cache_key, None, time.perf_counter() - started,
                          0, (), 0, _peak_rss_mb())  # fmt: skip
    model = detection_model(job.model, config.grid.pixel_size_m)
    with _one_torch_thread():
        detection = detect_tile({k: v for k, (v, _) in looks.items()}, model=model,
                                config=config)  # fmt: skip
    velocity, counts = raw_velocity([v for v, _ in looks.values()], [c for _, c in looks.values()])
    transform = tile_transform(tile)
    combined = detection.combined
    sites = extract_sites(
        site_probability(detection), velocity, transform, job.crs, counts=counts,
        geometries=combined.seen, params=config.sites,
    )  # fmt: skip
    base = baseline_sites(velocity, transform, job.crs, counts=counts, params=config.baseline)
    sites, base = owned_by(sites, tile, job.crs), owned_by(base, tile, job.crs)

    store = Store(job.store_root)
    staging = store.staging_dir()
    core = core_slices(tile)
    heatmap = mask_to_data(combined.probability, counts > 0, pixel_size_m=tile.pixel_size_m,
                           max_distance_m=config.sites.max_beyond_m)  # fmt: skip
    _write_core(staging / "probability.tif", heatmap[core], tile, job.crs)
    for look, dense in detection.velocity.items():
        _write_core(staging / f"velocity-{look.replace(':', '-')}.tif", dense[core], tile, job.crs)
    sites.to_parquet(staging / "sites.parquet")
    base.to_parquet(staging / "baseline.parquet")
    n_points = int(table.num_rows)
    meta = {
        "tile": tile.key, "points": n_points, "looks": list(looks),
        "seconds": {k: round(v, 3) for k, v in detection.seconds.items()},
    }  # fmt: skip
    (staging / "tile.json").write_text(json.dumps(meta))
    folder = publish_tile(store, staging, job.cache_key)
    return TileResult(tile.key, job.cache_key, folder.name, time.perf_counter() - started,
                      n_points, tuple(looks), len(sites), _peak_rss_mb())  # fmt: skip


def site_probability(detection: TileDetection) -> np.ndarray:
    """The per-pixel probability that sites are cut from: the detector's own per-pixel
    output when it gives one (``detection.pixel_probability``), else the merged patch map."""
    pixel = getattr(detection, "pixel_probability", None)
    return detection.combined.probability if pixel is None else pixel


def largest_first(tiles: list[Tile], points: str | Path, partition_size_m: float) -> list[Tile]:
    """``tiles`` by decreasing number of points, estimated from the partitions' row counts.

    A tile's time grows with its data, so handing the big ones out first leaves small ones
    for the end, when other workers would otherwise wait on one large tile.
    """
    rows = _partition_rows(Path(points))
    s = partition_size_m

    def estimate(tile: Tile) -> float:
        minx, miny, maxx, maxy = tile.bounds
        total = 0.0
        for ix in range(math.floor(minx / s), math.floor(maxx / s) + 1):
            for iy in range(math.floor(miny / s), math.floor(maxy / s) + 1):
                if n := rows.get((ix, iy)):  # points spread evenly over their partition
                    wx = min(maxx, (ix + 1) * s) - max(minx, ix * s)
                    wy = min(maxy, (iy + 1) * s) - max(miny, iy * s)
                    total += n * max(wx, 0.0) * max(wy, 0.0) / (s * s)
        return total

    return sorted(tiles, key=estimate, reverse=True)


_PARTITION = re.compile(r"tile_ix=(-?\d+)/tile_iy=(-?\d+)/")


def _partition_rows(points: Path) -> dict[tuple[int, int], int]:
    """Rows per ``(tile_ix, tile_iy)`` partition, from the Parquet footers only."""
    rows: dict[tuple[int, int], int] = {}
    for path in points.glob("geometry=*/tile_ix=*/tile_iy=*/*.parquet"):
        match = _PARTITION.search(path.relative_to(points).as_posix())
        if match:
            key = (int(match[1]), int(match[2]))
            rows[key] = rows.get(key, 0) + pq.read_metadata(path).num_rows
    return rows


def raw_velocity(
    velocities: list[np.ndarray], counts: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Point-weighted mean of the looks' gridded velocities and the total point count.

    The thresholding baseline and the site statistics read the raw points, whatever look
    they come from (as the paper thresholds its velocity map).
    """
    total = np.sum(counts, axis=0)
    weighted = np.sum([np.nan_to_num(v) * c for v, c in zip(velocities, counts, strict=True)], 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, weighted / total, np.nan)
    return mean.astype(np.float32), total.astype(np.int32)


def rasterize_looks(table, tile: Tile) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sparse velocity and point count per look: the geometry, with the track when a
    geometry has several tracks in the tile (four looks → §III-D's pair maximum)."""
    if table.num_rows == 0:
        return {}
    df = table.to_pandas()
    df["track"] = df["track"].fillna("").astype(str)
    looks = {}
    for geometry, by_geometry in df.groupby("geometry", sort=True):
        tracks = sorted(by_geometry["track"].unique())
        for track in tracks:
            part = by_geometry[by_geometry["track"] == track]
            key = f"{geometry}:{track}" if len(tracks) > 1 else str(geometry)
            grid = rasterize_tile(part["x"].to_numpy(), part["y"].to_numpy(),
                                  part["velocity"].to_numpy(np.float32), tile)  # fmt: skip
            looks[key] = (grid.velocity, grid.count)
    return looks


def owned_by(sites: gpd.GeoDataFrame, tile: Tile, crs: str) -> gpd.GeoDataFrame:
    """The sites whose centroid lies in the tile's core: each site belongs to one tile.

    Sites are cut from the whole raster, overlap included, so one up to the overlap's width
    beyond the core is whole; its neighbour tile sees it too but does not own it.
    """
    to_crs = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_crs.transform(sites["centroid_lon"].to_numpy(), sites["centroid_lat"].to_numpy())
    c = tile.core_bounds
    inside = (x >= c.minx) & (x < c.maxx) & (y >= c.miny) & (y < c.maxy)
    owned = sites[inside].copy()
    owned["tile_key"] = tile.key
    return owned


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Torch on one thread while inside: a tile's numbers must not depend on its executor.

    oneDNN's convolutions split their sums by thread, so the probability of a tile run with
    2 threads differs from one run with 1 by up to 1.2e-7 (measured), and a process pool
    (one thread per worker) and ``--workers 1`` gave different results under one key.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _write_core(path: Path, array: np.ndarray, tile: Tile, crs: str) -> None:
    """Cloud-optimised GeoTIFF of a tile's core, float32, NaN = no data."""
    c = tile.core_bounds
    transform = Affine(tile.pixel_size_m, 0.0, c.minx, 0.0, -tile.pixel_size_m, c.maxy)
    profile = {
        "driver": "COG", "width": array.shape[1], "height": array.shape[0], "count": 1,
        "dtype": "float32", "crs": crs, "transform": transform, "nodata": np.nan,
        "compress": "deflate", "predictor": 3, "blocksize": 512,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.asarray(array, dtype=np.float32), 1)


def _peak_rss_mb() -> float:
    # VmHWM is this process's own peak: ru_maxrss keeps the parent's across fork and exec,
    # so a Dask worker spawned by a large driver would report the driver's memory
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    # ru_maxrss is in KiB on Linux, bytes on macOS
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if os.name == "posix" else 0
    return maxrss / (2**20 if sys.platform == "darwin" else 1024)
