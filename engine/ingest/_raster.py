"""GeoTIFF products: a velocity raster, or a stack of cumulative displacement rasters.

A stack is a set of single-band files whose names carry ``REFERENCE_SECONDARY`` dates, as
dolphin and MintPy write them (``displacement_20160708_20161223.tif``). Each valid pixel
becomes a point at its centre; the reference date enters as a zero displacement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.errors import InputError
from engine.ingest._columns import Units, parse_units
from engine.ingest._sources import _EGMS_NAME, Source
from engine.types import Geometry

_PAIR = re.compile(r"(?<!\d)(\d{8})_(\d{8})(?!\d)")


def open_rasters(paths: Sequence[Path], units: Units | None) -> list[Source]:
    """Group GeoTIFFs into sources: dated files form one stack, others stand alone."""
    import rasterio

    dated: list[tuple[Path, np.datetime64, np.datetime64]] = []
    single: list[Path] = []
    for path in paths:
        try:
            with rasterio.open(path) as src:
                _ = src.profile
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(path, f"not a readable GeoTIFF ({exc})", "a GeoTIFF raster") from None
        pair = _PAIR.search(path.name)
        if pair:
            ref, sec = (_date(path, d) for d in pair.groups())
            dated.append((path, ref, sec))
        else:
            single.append(path)
    sources = [_velocity_source(p, units) for p in single]
    if dated:
        sources.append(_stack_source(dated, units))
    return sources


def _date(path: Path, text: str) -> np.datetime64:
    try:
        return np.datetime64(f"{text[:4]}-{text[4:6]}-{text[6:]}", "D")
    except ValueError:
        raise InputError(path, f"{text!r} in the name is not a date", "YYYYMMDD") from None


def _band_units(path: Path, given: Units | None, *, rate: bool) -> Units:
    import rasterio

    if given is not None:
        return given
    with rasterio.open(path) as src:
        tag = (src.units[0] if src.units else None) or src.tags(1).get("units")
    if tag:
        found = parse_units(tag, origin=f"{path} (band units tag)")
        return Units(found.to_mm, rate=found.rate or rate)
    if _EGMS_NAME.search(path.name):
        return Units(1.0, rate=True)  # EGMS L3 rasters are mm/yr
    kind = "velocity (e.g. mm/yr)" if rate else "displacement (e.g. m)"
    raise InputError(path, "band has no units", f"--units giving the {kind} unit")


def _velocity_source(path: Path, units: Units | None) -> Source:
    found = _band_units(path, units, rate=True)
    if not found.rate:
        raise InputError(
            path,
            "a single undated raster of displacement cannot give a velocity",
            "a velocity raster (--units mm/yr) or dated REF_SEC file names",
        )
    source = Source(
        path,
        str(path),
        "raster",
        roles={"easting": "__easting", "northing": "__northing", "velocity": "velocity"},
        units={"velocity": found},
        dates={},
        batches=lambda n: _read_pixels([path], n, ["velocity"]),
    )
    egms = _EGMS_NAME.search(path.name)
    if egms and egms["comp"]:
        source.geometry = Geometry.VERTICAL if egms["comp"].upper() == "U" else Geometry.EAST
    source.native_crs = _crs(path)
    return source


def _stack_source(
    dated: list[tuple[Path, np.datetime64, np.datetime64]], units: Units | None
) -> Source:
    refs = {ref for _, ref, _ in dated}
    if len(refs) != 1:
        raise InputError(
            dated[0][0],
            f"stack mixes reference dates {sorted(map(str, refs))}",
            "one reference date (cumulative displacements)",
        )
    dated.sort(key=lambda item: item[2])
    found = _band_units(dated[0][0], units, rate=False)
    if found.rate:
        raise InputError(dated[0][0], "dated files hold rates", "cumulative displacement units")
    _check_same_grid([p for p, _, _ in dated])
    ref = next(iter(refs))
    names = [f"d{str(ref).replace('-', '')}"] + [f"d{str(s).replace('-', '')}" for _, _, s in dated]
    dates = {n: np.datetime64(f"{n[1:5]}-{n[5:7]}-{n[7:]}", "D") for n in names}
    paths = [p for p, _, _ in dated]
    return Source(
        paths[0],
        f"{paths[0].parent}/ ({len(paths)} dated rasters)",
        "raster",
        roles={"easting": "__easting", "northing": "__northing"},
        units={"displacement": found},
        dates=dates,
        batches=lambda n: _read_pixels(paths, n, names, zero_first=True),
        native_crs=_crs(paths[0]),
        files=paths,
    )


def _crs(path: Path) -> str:
    import rasterio

    with rasterio.open(path) as src:
        if src.crs is None:
            raise InputError(path, "raster has no CRS", "a georeferenced GeoTIFF")
        return src.crs.to_string()


def _check_same_grid(paths: list[Path]) -> None:
    import rasterio

    with rasterio.open(paths[0]) as first:
        grid = (first.shape, first.transform, first.crs)
    for path in paths[1:]:
        with rasterio.open(path) as src:
            if (src.shape, src.transform, src.crs) != grid:
                raise InputError(
                    path,
                    "grid differs from the first raster of the stack",
                    f"the grid of {paths[0].name}",
                )


def _read_pixels(
    paths: list[Path], batch_rows: int, names: list[str], *, zero_first: bool = False
) -> Iterator[pa.RecordBatch]:
    """Stream valid pixels as points, a band of raster rows at a time."""
    import rasterio
    from rasterio.windows import Window

    handles = [rasterio.open(p) for p in paths]
    try:
        height, width = handles[0].shape
        transform = handles[0].transform
        step = max(1, batch_rows // max(width, 1))
        for row0 in range(0, height, step):
            window = Window(0, row0, width, min(step, height - row0))
            layers = [_read_valid(h, window) for h in handles]
            valid = np.logical_or.reduce([np.isfinite(v) for v in layers])
            if not valid.any():
                continue
            rows, cols = np.nonzero(valid)
            xs, ys = rasterio.transform.xy(transform, rows + row0, cols, offset="center")
            data = {"__easting": np.asarray(xs), "__northing": np.asarray(ys)}
            values = [v[valid] for v in layers]
            if zero_first:
                values = [np.zeros_like(values[0]), *values]
            data |= {name: v.astype(np.float32) for name, v in zip(names, values, strict=True)}
            yield pa.RecordBatch.from_pydict(data)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(
            paths[0], f"cannot read raster data ({exc})", "an intact GeoTIFF"
        ) from None
    finally:
        for h in handles:
            h.close()


def _read_valid(handle, window) -> np.ndarray:  # type: ignore[no-untyped-def]
    data = handle.read(1, window=window, masked=True).astype(np.float32)
    return data.filled(np.nan)
