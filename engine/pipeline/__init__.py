"""Pipeline: region → tiles → chain → store, cached and resumable, on any executor.

:func:`run` is the one entry point of the command line and the dashboard. It cuts the
region into the grid's tiles (with their overlap), sends every tile not already finished to
the executor (:mod:`engine.pipeline._executors`), records each tile as it lands, and finally
gathers the tiles' sites into the run's ranked site table.

Caching is by content, with the keys of :mod:`engine.hashing`. A tile's key holds the
dataset's key (every input file, the ingest options, the dataset's name), every parameter
the tile chain reads, the model's weights, the code version and the tile; a run's key holds
the dataset, its tiles' keys and its region. The same request again finds its finished run
at once; another region or a killed attempt reuses every finished tile; a changed parameter
changes the keys and recomputes.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from engine.baseline import threshold_key
from engine.config import RunConfig, check_memory
from engine.errors import InputError
from engine.grid import tiles_for_bounds
from engine.hashing import code_version, run_key, tile_key
from engine.model import load_model
from engine.pipeline._executors import ExecutorSpec, map_unordered
from engine.pipeline._tile import (
    TileJob,
    TileResult,
    largest_first,
    process_tile,
    raw_velocity,
    site_probability,
)
from engine.runs import (
    RunInfo,
    begin_run,
    find_finished_run,
    finish_run,
    finished_tiles,
    interrupt_run,
    record_tiles,
    run_tiles,
)
from engine.sites import drop_overlapping, number_sites, sites_summary
from engine.store import DatasetInfo, Store
from engine.types import Tile

__all__ = [
    "ExecutorSpec",
    "Region",
    "RunPlan",
    "RunResult",
    "TileJob",
    "TileResult",
    "check_plan",
    "plan_run",
    "plan_tiles",
    "process_tile",
    "raw_velocity",
    "resolve_region",
    "run",
    "site_probability",
]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Region:
    """Part of a dataset to run: a bounding box (run CRS, or lon/lat) or a polygon file."""

    bbox: tuple[float, float, float, float] | None = None
    lonlat: bool = False
    aoi: str | Path | None = None
    """A GeoJSON / GeoPackage / Shapefile of polygons (any CRS it declares)."""
    polygon_lonlat: BaseGeometry | None = None
    """A (multi)polygon in lon/lat: an upload, read by :func:`engine.uploads.read_region_upload`
    (never by path: a visitor's file must not choose how the server opens files)."""


@dataclass(frozen=True)
class RunResult:
    """What :func:`run` did; :meth:`to_json` is the command line's ``--json`` object."""

    run_id: str
    dataset: str
    tiles: int
    tiles_cached: int
    cache_hit: bool
    sites: dict[str, int]
    baseline_sites: dict[str, int]
    seconds: float
    executor: str = ""
    peak_worker_mb: float = 0.0
    points: int = 0
    tile_seconds: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id, "dataset": self.dataset, "tiles": self.tiles,
            "tiles_cached": self.tiles_cached, "cache_hit": self.cache_hit, "sites": self.sites,
            "baseline_sites": self.baseline_sites, "seconds": round(self.seconds, 3),
            "executor": self.executor, "points": self.points,
            "peak_worker_mb": round(self.peak_worker_mb, 1),
        }  # fmt: skip


def run(
    config: RunConfig,
    dataset: str,
    region: Region | None = None,
    *,
    store: Store | None = None,
    executor: ExecutorSpec = ExecutorSpec(),
    model: str = "default",
    progress: Progress | None = None,
) -> RunResult:
    """Detect deformation over a dataset (or a region of it) and store the run.

    Parameters
    ----------
    config
        Every parameter; the defaults are the papers'.
    dataset
        Name of an ingested dataset.
    region
        Part of the dataset; None = all of it. Whole tiles are computed (they are what is
        cached); the run's sites are those that meet the region.
    executor
        In-process, local process pool (default) or Dask.
    model
        Shipped weights name or path.
    progress
        Called with ``(tiles done, tiles total)``, cached tiles counted at once.

    Raises
    ------
    engine.errors.GroundwatchError
        Unknown dataset, a region that misses the dataset or a polygon file that cannot be
        read.
    """
    started = time.perf_counter()
    store = store or Store()
    req = _request(config, dataset, region, store, model)
    hit = find_finished_run(store, req.run_key)
    if hit is not None:
        if progress is not None:
            progress(len(req.tiles), len(req.tiles))
        return _result(hit, cache_hit=True, seconds=time.perf_counter() - started)

    run_id = req.run_key[:12]
    begin_run(store, RunInfo(
        run_id=run_id, dataset=dataset, cache_key=req.run_key, status="running",
        crs=req.info.crs, region=req.region_wkt, tiles_total=len(req.tiles),
        config_yaml=config.to_yaml(), seed=config.seed, model_hash=req.model_hash,
        input_hashes=[req.info.input_hash], engine_version=code_version(), created="",
    ))  # fmt: skip
    try:
        return _run_tiles(req, config, dataset, store, executor, model, progress, started)
    except BaseException:  # an error or Ctrl-C: resumable, and not "running" any more
        with contextlib.suppress(Exception):  # the first error is the one to report
            interrupt_run(store, run_id)
        raise


def _run_tiles(
    req: _Request,
    config: RunConfig,
    dataset: str,
    store: Store,
    executor: ExecutorSpec,
    model: str,
    progress: Progress | None,
    started: float,
) -> RunResult:
    """Compute the tiles not yet done, record them, then gather and publish the run's sites."""
    info, polygon, tiles, keys = req.info, req.polygon, req.tiles, req.keys
    run_id = req.run_key[:12]
    done = finished_tiles(store, keys.values())
    record_tiles(store, run_id, [(t.key, keys[t.key], done[keys[t.key]], 0.0)
                                 for t in tiles if keys[t.key] in done])  # fmt: skip
    cached = sum(keys[t.key] in done for t in tiles)
    if progress is not None:
        progress(cached, len(tiles))
    if len(tiles) - cached == 1 and executor.kind == "process":
        executor = ExecutorSpec("inprocess")  # starting a pool costs more than it saves
    threads = 0 if executor.kind == "inprocess" else 1
    todo = [t for t in tiles if keys[t.key] not in done]
    if executor.worker_count() > 1:
        todo = largest_first(todo, info.path / "points", info.partition_size_m)
    jobs = (
        TileJob(t, keys[t.key], str(info.path / "points"), info.partition_size_m, info.crs,
                str(store.root), config, model, threads)
        for t in todo
    )  # fmt: skip
    finished, peak, points, seconds = cached, 0.0, 0, []
    for result in map_unordered(process_tile, jobs, executor):
        record_tiles(store, run_id, [(result.tile_key, result.cache_key, result.path,
                                      result.seconds)])  # fmt: skip
        finished += 1
        peak, points = max(peak, result.peak_rss_mb), points + result.points
        seconds.append(result.seconds)
        if progress is not None:
            progress(finished, len(tiles))

    sites, baseline = gather_sites(store, run_id, polygon, info.crs, config)
    summary = {
        "tiles": len(tiles),
        "tiles_cached": cached,
        "sites": sites_summary(sites, levels=config.sites.levels),
        "baseline_sites": _counts(baseline, "threshold", threshold_key,
                                  config.baseline.thresholds_mm_yr),
        "seconds": round(time.perf_counter() - started, 3),
        "executor": executor.describe(),
        "peak_worker_mb": round(peak, 1),
        "points": points,
    }  # fmt: skip
    finish_run(store, run_id, sites, baseline, summary)
    return RunResult(
        run_id, dataset, len(tiles), cached, False, summary["sites"], summary["baseline_sites"],
        time.perf_counter() - started, executor.describe(), peak, points, seconds,
    )  # fmt: skip


@dataclass(frozen=True)
class RunPlan:
    """What :func:`run` would do, known before running it."""

    tiles: int
    tiles_cached: int
    area_km2: float
    """Area of the region within the dataset's extent."""
    cached_run: str | None
    """Id of the finished run that answers the request, if any."""
    scheduled_km2: float = 0.0
    """Area of the tiles to compute (not cached) within the dataset's extent: what a run
    costs, since whole tiles are computed however little of them the region covers."""


def plan_run(
    config: RunConfig,
    dataset: str,
    region: Region | None = None,
    *,
    store: Store | None = None,
    model: str = "default",
) -> RunPlan:
    """Tiles to compute and reuse for a request (for the dashboard to show, and to limit)."""
    store = store or Store()
    req = _request(config, dataset, region, store, model)
    extent = shapely.box(*req.info.bbox_xy)
    area = extent.area if req.polygon is None else extent.intersection(req.polygon).area
    hit = find_finished_run(store, req.run_key)
    done = finished_tiles(store, req.keys.values())
    todo = [shapely.box(*t.core_bounds) for t in req.tiles if req.keys[t.key] not in done]
    scheduled = 0.0 if hit or not todo else shapely.union_all(todo).intersection(extent).area
    return RunPlan(len(req.tiles), len(done), area / 1e6, hit.run_id if hit else None,
                   scheduled / 1e6)  # fmt: skip


@dataclass(frozen=True)
class _Request:
    """A request resolved to its tiles and cache keys (what run and plan_run share)."""

    info: DatasetInfo
    polygon: BaseGeometry | None
    tiles: list[Tile]
    keys: dict[str, str]
    region_wkt: str | None
    run_key: str
    model_hash: str


def _request(
    config: RunConfig, dataset: str, region: Region | None, store: Store, model: str
) -> _Request:
    info = store.dataset(dataset)
    polygon = resolve_region(region, info.crs)
    check_plan(info, polygon, config)
    tiles = plan_tiles(info, polygon, config)
    model_hash = load_model(model)[1]["sha256"]
    keys = {t.key: tile_cache_key(info, config, model_hash, t) for t in tiles}
    region_wkt = shapely.to_wkt(polygon, rounding_precision=3) if polygon is not None else None
    run_key_ = run_key(
        dataset=info.name, dataset_key=info.input_hash, tile_keys=keys.values(), region=region_wkt
    )
    return _Request(info, polygon, tiles, keys, region_wkt, run_key_, model_hash)


def resolve_region(region: Region | None, crs: str) -> BaseGeometry | None:
    """The region as one (multi)polygon in the run CRS; None for the whole dataset."""
    if region is None or (region.bbox is None and region.aoi is None
                          and region.polygon_lonlat is None):  # fmt: skip
        return None
    if region.polygon_lonlat is not None:
        shape = gpd.GeoSeries([region.polygon_lonlat], crs="EPSG:4326").to_crs(crs).iloc[0]
    elif region.aoi is not None:
        shape = _read_aoi(Path(region.aoi), crs)
    else:
        minx, miny, maxx, maxy = (float(v) for v in region.bbox)  # type: ignore[union-attr]
        if not (minx < maxx and miny < maxy):
            raise InputError("--bbox", f"{region.bbox} is empty", "MINX MINY MAXX MAXY, min < max")
        if region.lonlat and not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
            raise InputError("--bbox", f"{region.bbox} is not lon/lat", "degrees within ±180/±90")
        source = "EPSG:4326" if region.lonlat else crs
        box = gpd.GeoSeries([shapely.box(minx, miny, maxx, maxy)], crs=source)
        shape = box.segmentize(0.01 if region.lonlat else 100.0).to_crs(crs).iloc[0]
    return shape


def plan_tiles(info: DatasetInfo, polygon: BaseGeometry | None, config: RunConfig) -> list[Tile]:
    """The tiles whose cores meet both the dataset's extent and the region."""
    extent = shapely.box(*info.bbox_xy)
    area = extent if polygon is None else extent.intersection(polygon)
    if area.is_empty and polygon is not None:
        raise InputError(
            "region", f"does not overlap dataset {info.name!r}",
            f"a region within {[round(v, 4) for v in info.bbox_lonlat]} (lon/lat)",
        )  # fmt: skip
    if area.area == 0:  # a dataset of one point, or on one line
        area = area.buffer(config.grid.pixel_size_m / 2)
    tiles = tiles_for_bounds(area.bounds, params=config.grid)
    return [t for t in tiles if shapely.box(*t.core_bounds).intersects(area)]


# What a worker holds per pixel of a tile (looks, interpolations, the wrapped stacks, the
# probability maps: ~450 MB measured on a 3000² tile, with room), and the driver per tile
_TILE_BYTES_PER_PX = 64
_PLAN_BYTES_PER_TILE = 4096


def check_plan(info: DatasetInfo, polygon: BaseGeometry | None, config: RunConfig) -> None:
    """Refuse a run whose tiles, or whose list of tiles, would not fit in memory."""
    g = config.grid
    side = g.tile_size_px + 2 * g.tile_overlap_px
    check_memory(config, need_bytes=side**2 * _TILE_BYTES_PER_PX,
                 what=f"tiles of {side}² pixels")  # fmt: skip
    extent = shapely.box(*info.bbox_xy)
    area = extent if polygon is None else extent.intersection(polygon)
    if area.is_empty:
        return  # plan_tiles says why
    minx, miny, maxx, maxy = area.bounds
    tile_m = g.tile_size_px * g.pixel_size_m
    n = (math.floor((maxx - minx) / tile_m) + 2) * (math.floor((maxy - miny) / tile_m) + 2)
    check_memory(config, need_bytes=n * _PLAN_BYTES_PER_TILE, what=f"{n:.3g} tiles")


def tile_cache_key(info: DatasetInfo, config: RunConfig, model_hash: str, tile: Tile) -> str:
    """sha256 of everything one tile's outputs depend on (:func:`engine.hashing.tile_key`)."""
    return tile_key(dataset_key=info.input_hash, config=config, model_hash=model_hash, tile=tile)


def gather_sites(
    store: Store, run_id: str, polygon: BaseGeometry | None, crs: str, config: RunConfig
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The run's CNN and baseline sites from its tiles, inside the region, renumbered."""
    folders = [f for _, f in run_tiles(store, run_id) if f is not None]
    region = None
    if polygon is not None:
        region = gpd.GeoSeries([polygon], crs=crs).to_crs("EPSG:4326").iloc[0]
    out = []
    for name in ("sites", "baseline"):
        parts = [gpd.read_parquet(f / f"{name}.parquet") for f in folders]
        frame = _concat(parts)
        if region is not None:
            frame = frame[frame.intersects(region)]
        out.append(frame)
    return number_sites(drop_overlapping(out[0])), _renumber(out[1], "threshold", threshold_key)


def _concat(parts: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    if not parts:
        from engine.sites import SITE_COLUMNS

        return gpd.GeoDataFrame(columns=[*SITE_COLUMNS, "tile_key"], geometry="geometry",
                                crs="EPSG:4326")  # fmt: skip
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)


def _renumber(frame: gpd.GeoDataFrame, by: str, key: Callable[[float], str]) -> gpd.GeoDataFrame:
    """Ids by level (or threshold) and decreasing priority over the whole run: tiles number
    their own sites from 1, so their ids repeat."""
    frame = frame.sort_values([by, "priority"], ascending=[True, False], kind="stable")
    frame = frame.reset_index(drop=True)
    rank = frame.groupby(by, sort=False).cumcount() + 1
    frame["site_id"] = [f"{key(v)}-{i:04d}" for v, i in zip(frame[by], rank, strict=True)]
    return frame


def _counts(
    frame: pd.DataFrame, by: str, key: Callable[[float], str], values: Sequence[float]
) -> dict[str, int]:
    counts = frame[by].value_counts()
    return {key(v): int(counts.get(v, 0)) for v in values}


def _read_aoi(path: Path, crs: str) -> BaseGeometry:
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own errors for every format problem
        raise InputError(path, f"cannot be read ({str(exc).splitlines()[0]})",
                         "a GeoJSON, GeoPackage or Shapefile of polygons") from None  # fmt: skip
    polygons = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise InputError(path, "holds no polygon", "a polygon layer (the region to run)")
    if polygons.crs is None:
        raise InputError(path, "has no CRS", "a file that states its CRS (GeoJSON: WGS84)")
    return polygons.to_crs(crs).union_all()


def _result(info: RunInfo, *, cache_hit: bool, seconds: float) -> RunResult:
    s = info.summary
    return RunResult(info.run_id, info.dataset, s["tiles"], s["tiles"] if cache_hit else
                     s["tiles_cached"], cache_hit, s["sites"], s["baseline_sites"], seconds,
                     s.get("executor", ""), 0.0, s.get("points", 0))  # fmt: skip
