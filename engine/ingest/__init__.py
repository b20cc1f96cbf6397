"""Ingest: real InSAR products → one point table in a projected CRS, stored by tile (§II-B).

Reads EGMS L2a/L2b/L3 CSVs (also straight from the downloaded ``.zip``), generic CSV/Parquet
point tables, GeoPackage/Shapefile point layers, and GeoTIFF velocity rasters or dated
displacement stacks. Everything streams in batches, so a national file is never held whole.
Units and geometry come from the product or an option, never from a guess; anything that
cannot be used raises :class:`~engine.errors.InputError` before the store is touched.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.config import RunConfig
from engine.errors import InputError
from engine.grid import choose_crs
from engine.ingest._columns import parse_geometry, parse_units
from engine.ingest._normalise import WGS84, Normaliser
from engine.ingest._parallel import PartJob, stage_parallel, worker_count
from engine.ingest._raster import open_rasters
from engine.ingest._sources import (
    RASTER_SUFFIXES,
    TABLE_SUFFIXES,
    VECTOR_SUFFIXES,
    Source,
    line_starts,
    open_table,
    open_vector,
)
from engine.store import DatasetInfo, PointWriter, Store

__all__ = ["IngestOptions", "IngestProgress", "ingest", "open_sources"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOptions:
    """What the user may state about the inputs (command-line options)."""

    geometry: str | None = None
    units: str | None = None
    crs: str | None = None
    source_crs: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    velocity_from_timeseries: bool = False


@dataclass(frozen=True)
class IngestProgress:
    """A progress event: rows done so far of the current file."""

    source: str
    rows: int
    done: bool = False


def open_sources(paths: Sequence[str | Path], options: IngestOptions) -> list[Source]:
    """Open every input, checking existence and format, before anything is written."""
    resolved = [Path(p) for p in paths]
    if not resolved:
        raise InputError("ingest", "no input files", "one or more paths")
    for path in resolved:
        if not path.exists():
            raise InputError(path, "no such file", "an existing file")
        if path.is_dir():
            raise InputError(path, "is a folder", "files (use a shell glob for a folder's files)")
    units = parse_units(options.units) if options.units else None
    sources: list[Source] = []
    rasters = [p for p in resolved if p.suffix.lower() in RASTER_SUFFIXES]
    for path in resolved:
        suffix = path.suffix.lower()
        if suffix in TABLE_SUFFIXES:
            sources.append(open_table(path, options.columns))
        elif suffix in VECTOR_SUFFIXES:
            sources.append(open_vector(path, options.columns))
        elif suffix not in RASTER_SUFFIXES:
            known = sorted(TABLE_SUFFIXES | VECTOR_SUFFIXES | RASTER_SUFFIXES)
            raise InputError(path, f"unknown file type {suffix or '(none)'!r}", ", ".join(known))
    sources += open_rasters(rasters, units)
    if options.source_crs:
        for source in sources:
            source.native_crs = options.source_crs
    return sources


def ingest(
    paths: Sequence[str | Path],
    *,
    name: str,
    store: Store,
    options: IngestOptions = IngestOptions(),
    config: RunConfig = RunConfig(),
    progress: Callable[[IngestProgress], None] | None = None,
) -> DatasetInfo:
    """Read products into the store as dataset ``name`` (replacing one of that name).

    Returns the catalogued :class:`~engine.store.DatasetInfo`. On any error the store is
    left exactly as it was.
    """
    if not name or "/" in name or name.startswith("."):
        raise InputError("--name", f"{name!r} is not a usable dataset name", "a plain name")
    sources = open_sources(paths, options)
    hashes = _HashInBackground([s.files or [s.path] for s in sources])
    geometry = parse_geometry(options.geometry, origin="--geometry") if options.geometry else None
    units = parse_units(options.units) if options.units else None
    crs = options.crs or config.crs
    store.sweep()
    staging = store.staging_dir()
    try:
        stats = _Stats()
        writer = PointWriter(
            staging / "points", config.grid.tile_size_px * config.grid.pixel_size_m
        )
        try:
            for i, source in enumerate(sources):
                normalise = Normaliser(
                    source, crs or WGS84, config, geometry, units, options.velocity_from_timeseries
                )
                if crs is None:
                    crs = normalise.crs = _crs_from_first_batch(source, normalise, config)
                workers = worker_count(source, config)
                if workers > 1:
                    jobs = _part_jobs(source, workers, normalise, writer, str(i), config)
                    _stage_parts(source, jobs, stats, progress)
                else:
                    _stage(source, normalise, writer, str(i), stats, config, progress)
        finally:
            writer.close()
        if stats.rows == 0:
            raise InputError(sources[0].label, "no points with a velocity", "at least one point")
        best = _crs_of_centroid(stats)
        if options.crs is None and config.crs is None and best != crs:
            # The first rows were not typical of the whole dataset: read it again, rarely.
            logger.info("first rows suggested %s, the whole dataset %s: reading again", crs, best)
            again = IngestOptions(**{**options.__dict__, "crs": best})
            return ingest(
                paths, name=name, store=store, options=again, config=config, progress=progress
            )
        info = stats.info(name, crs, config, sources, hashes.result())
        return store.commit_dataset(info, staging / "points")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _crs_from_first_batch(source: Source, normalise: Normaliser, config: RunConfig) -> str:
    """Run CRS from the first rows read; :func:`_settle_crs` checks it against all of them."""
    for batch in source.batches(min(config.ingest.batch_rows, 100_000)):
        table = normalise(batch, 0)
        return choose_crs(table.column("lon").to_numpy(), table.column("lat").to_numpy())
    raise InputError(source.label, "file has no rows", "at least one point")


def _crs_of_centroid(stats: _Stats) -> str:
    return choose_crs(
        np.array([stats.lon_sum / stats.rows]), np.array([stats.lat_sum / stats.rows])
    )


def _part_jobs(
    source: Source,
    workers: int,
    normalise: Normaliser,
    writer: PointWriter,
    part: str,
    config: RunConfig,
) -> list[PartJob]:
    bounds = line_starts(source.path, workers)
    # each worker reads smaller batches, so that all of them together stay in the same memory
    per_worker = config.model_copy(
        update={
            "ingest": config.ingest.model_copy(
                update={"batch_rows": max(10_000, config.ingest.batch_rows // workers)}
            )
        }
    )
    return [
        PartJob(
            source.path,
            dict(source.overrides),
            start,
            stop,
            f"{part}.{k}",
            normalise.crs,
            per_worker,
            normalise.geometry_option,
            normalise.units_option,
            normalise.velocity_from_timeseries,
            writer.folder,
            writer.size_m,
            writer.flush_bytes // workers,
        )
        for k, (start, stop) in enumerate(itertools.pairwise(bounds))
    ]


def _stage_parts(
    source: Source,
    jobs: list[PartJob],
    stats: _Stats,
    progress: Callable[[IngestProgress], None] | None,
) -> None:
    def on_rows(rows: int) -> None:
        if progress:
            progress(IngestProgress(source.label, rows))

    parts = stage_parallel(jobs, _Stats, on_rows)
    for part in parts:
        stats.merge(part)
    if sum(p.rows_read for p in parts) == 0:
        raise InputError(source.label, "file has no rows", "at least one point")
    if progress:
        progress(IngestProgress(source.label, sum(p.rows_read for p in parts), done=True))


def _stage(
    source: Source,
    normalise: Normaliser,
    writer: PointWriter,
    part: str,
    stats: _Stats,
    config: RunConfig,
    progress: Callable[[IngestProgress], None] | None,
) -> None:
    rows_read = 0
    for batch in _prefetch(source.batches(config.ingest.batch_rows)):
        table = stats.keep_finite(normalise(batch, rows_read))
        rows_read += batch.num_rows
        stats.add(table, normalise)
        writer.write(table, part=part)
        if progress:
            progress(IngestProgress(source.label, rows_read))
    if rows_read == 0:
        raise InputError(source.label, "file has no rows", "at least one point")
    if progress:
        progress(IngestProgress(source.label, rows_read, done=True))


def _prefetch(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Read ahead on a thread, so parsing overlaps with projecting and writing."""
    queue: Queue[tuple[str, object]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                queue.put(("batch", batch))
            queue.put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(("error", exc))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            kind, item = queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise item  # type: ignore[misc]
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                queue.get_nowait()
            except Empty:
                thread.join(0.01)


class _Stats:
    """Running counts, extents and dates of the staged points."""

    def __init__(self) -> None:
        self.rows = 0
        self.points: dict[str, int] = {}
        self.lonlat = [np.inf, np.inf, -np.inf, -np.inf]
        self.xy = [np.inf, np.inf, -np.inf, -np.inf]
        self.lon_sum = self.lat_sum = 0.0
        self.dates: dict[str, set[str]] = {}
        self.velocity_sources: set[str] = set()
        self.rows_read = 0

    @staticmethod
    def keep_finite(batch: pa.RecordBatch) -> pa.Table:
        """Rows with a velocity (a series too short to fit has none)."""
        table = pa.Table.from_batches([batch])
        finite = pc.is_finite(table.column("velocity"))
        return table if pc.all(finite).as_py() else table.filter(finite)

    def merge(self, other: _Stats) -> None:
        self.rows += other.rows
        for g, c in other.points.items():
            self.points[g] = self.points.get(g, 0) + c
        for g, d in other.dates.items():
            self.dates.setdefault(g, set()).update(d)
        self.lon_sum += other.lon_sum
        self.lat_sum += other.lat_sum
        self.lonlat = _union(self.lonlat, other.lonlat)
        self.xy = _union(self.xy, other.xy)
        self.velocity_sources |= other.velocity_sources

    def add(self, table: pa.RecordBatch, normalise: Normaliser) -> None:
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        for item in pc.value_counts(table.column("geometry")).to_pylist():
            g, c = str(item["values"]), int(item["counts"])
            self.points[g] = self.points.get(g, 0) + c
            self.dates.setdefault(g, set()).update(str(d) for d in normalise._date_values)
        lon, lat = table.column("lon").to_numpy(), table.column("lat").to_numpy()
        self.lon_sum += float(lon.sum())
        self.lat_sum += float(lat.sum())
        _grow(self.lonlat, lon, lat)
        _grow(self.xy, table.column("x").to_numpy(), table.column("y").to_numpy())
        self.velocity_sources.add(normalise.velocity_source)

    def info(
        self, name: str, crs: str, config: RunConfig, sources: list[Source], hashes: list[str]
    ) -> DatasetInfo:
        all_dates = sorted(set().union(*self.dates.values())) if self.dates else []
        return DatasetInfo(
            name=name,
            path=Path(),
            crs=crs,
            partition_size_m=config.grid.tile_size_px * config.grid.pixel_size_m,
            points=dict(sorted(self.points.items())),
            bbox_lonlat=tuple(float(v) for v in self.lonlat),  # type: ignore[arg-type]
            bbox_xy=tuple(float(v) for v in self.xy),  # type: ignore[arg-type]
            velocity_source="+".join(sorted(self.velocity_sources)),
            first_date=all_dates[0] if all_dates else None,
            last_date=all_dates[-1] if all_dates else None,
            dates={g: sorted(d) for g, d in self.dates.items() if d},
            sources=[
                {"path": s.label, "kind": s.kind, "sha256": h}
                for s, h in zip(sources, hashes, strict=True)
            ],
            input_hash=hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest(),
        )


def _union(a: list[float], b: list[float]) -> list[float]:
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def _grow(box: list[float], a: np.ndarray, b: np.ndarray) -> None:
    box[0], box[1] = min(box[0], float(a.min())), min(box[1], float(b.min()))
    box[2], box[3] = max(box[2], float(a.max())), max(box[3], float(b.max()))


class _HashInBackground:
    """sha256 of every input file, computed on a thread while the ingest runs."""

    def __init__(self, groups: Sequence[Sequence[Path]]) -> None:
        self._hashes: list[str] = []
        self._thread = threading.Thread(target=self._run, args=(groups,), daemon=True)
        self._thread.start()

    def _run(self, groups: Sequence[Sequence[Path]]) -> None:
        for files in groups:
            h = hashlib.sha256()
            for path in files:
                with open(path, "rb") as fh:
                    while chunk := fh.read(1 << 22):
                        h.update(chunk)
            self._hashes.append(h.hexdigest())

    def result(self) -> list[str]:
        self._thread.join()
        return self._hashes
