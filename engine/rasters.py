"""A run's rasters: its tiles' cores mosaicked into one GeoTIFF, or read back as arrays.

Each finished tile holds Cloud-Optimised GeoTIFFs of its core (``probability.tif``,
``velocity-<look>.tif``). Cores do not overlap, so a mosaic is each core written into its
window of one grid: one tile in memory at a time, whatever the run's size.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.windows import from_bounds

from engine.errors import InputError, StoreError
from engine.runs import get_run, run_tiles
from engine.store import Store

__all__ = ["raster_layers", "read_mosaic", "write_mosaic"]


def raster_layers(store: Store, run_id: str) -> list[str]:
    """The layers a run has: ``"probability"`` and ``"velocity-<look>"`` for each look."""
    names: set[str] = set()
    for _, folder in run_tiles(store, run_id):
        if folder is not None:
            names.update(p.stem for p in folder.glob("*.tif"))
    return sorted(names, key=lambda n: (n != "probability", n))


def write_mosaic(
    store: Store,
    run_id: str,
    layer: str,
    out: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write one layer of a run as a Cloud-Optimised GeoTIFF at ``out``.

    Raises
    ------
    engine.errors.InputError
        If the run has no such layer (the message lists the ones it has).
    """
    files = _layer_files(store, run_id, layer)
    out = Path(out)
    grid = _union_grid(files)
    staging = store.staging_dir()
    plain = staging / "mosaic.tif"
    profile = {
        "driver": "GTiff", "width": grid["width"], "height": grid["height"], "count": 1,
        "dtype": "float32", "crs": grid["crs"], "transform": grid["transform"],
        "nodata": np.nan, "tiled": True, "blockxsize": 512, "blockysize": 512,
        "compress": "deflate", "predictor": 3, "BIGTIFF": "IF_SAFER",
    }  # fmt: skip
    with rasterio.open(plain, "w", **profile) as dst:
        for done, path in enumerate(files, start=1):
            with rasterio.open(path) as src:
                window = from_bounds(*src.bounds, transform=grid["transform"]).round_offsets()
                dst.write(src.read(1), 1, window=window.round_lengths())
            if progress is not None:
                progress(done, len(files))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    rasterio.shutil.copy(plain, tmp, driver="COG", compress="deflate", predictor=3)
    os.replace(tmp, out)
    plain.unlink()
    staging.rmdir()
    return out


def read_mosaic(
    store: Store, run_id: str, layer: str, *, max_pixels: int = 2_000_000
) -> tuple[NDArray[np.float32], tuple[float, float, float, float], str]:
    """A layer of the whole run as one array, decimated to at most ``max_pixels`` pixels.

    Reads the tiles' overviews (the COGs have them), so a national run costs what a
    screen-sized picture costs. Returns ``(array, (minx, miny, maxx, maxy), crs)``.
    """
    files = _layer_files(store, run_id, layer)
    grid = _union_grid(files)
    factor = max(1, math.ceil(math.sqrt(grid["width"] * grid["height"] / max_pixels)))
    width, height = math.ceil(grid["width"] / factor), math.ceil(grid["height"] / factor)
    res = grid["transform"].a * factor
    minx, maxy = grid["transform"].c, grid["transform"].f
    out = np.full((height, width), np.nan, dtype=np.float32)
    for path in files:
        with rasterio.open(path) as src:
            b = src.bounds
            col, row = round((b.left - minx) / res), round((maxy - b.top) / res)
            w = max(1, min(width - col, round((b.right - b.left) / res)))
            h = max(1, min(height - row, round((b.top - b.bottom) / res)))
            out[row : row + h, col : col + w] = src.read(
                1, out_shape=(h, w), resampling=Resampling.average
            )
    bounds = (minx, maxy - height * res, minx + width * res, maxy)
    return out, bounds, grid["crs"]


def _layer_files(store: Store, run_id: str, layer: str) -> list[Path]:
    info = get_run(store, run_id)
    files = [f / f"{layer}.tif" for _, f in run_tiles(store, info.run_id) if f is not None]
    files = [f for f in files if f.exists()]
    if not files:
        have = ", ".join(raster_layers(store, info.run_id)) or "none (no tile holds points)"
        if info.status != "finished":
            raise StoreError(f"{store.root}: run {info.run_id} has not finished (rerun it)")
        raise InputError(f"run {info.run_id}", f"has no raster {layer!r}", f"one of: {have}")
    return files


def _union_grid(files: list[Path]) -> dict:
    lefts, bottoms, rights, tops = [], [], [], []
    for path in files:
        with rasterio.open(path) as src:
            lefts.append(src.bounds.left)
            bottoms.append(src.bounds.bottom)
            rights.append(src.bounds.right)
            tops.append(src.bounds.top)
            res, crs = src.res[0], src.crs
    left, top = min(lefts), max(tops)
    return {
        "transform": Affine(res, 0.0, left, 0.0, -res, top),
        "width": round((max(rights) - left) / res),
        "height": round((top - min(bottoms)) / res),
        "crs": crs,
    }
