"""Ingest: real InSAR products → one point table in a projected CRS, stored by tile (§II-B).

Reads EGMS L2a/L2b/L3 CSVs (also straight from the downloaded ``.zip``), generic CSV/Parquet
point tables, GeoPackage/Shapefile point layers, and GeoTIFF velocity rasters or dated
displacement stacks. Everything streams in batches, so a national file is never held whole.
CSVs may be comma-, semicolon- or tab-separated, with decimal points or commas (sniffed).
Units and geometry come from the product or an option, never from a guess (a file name that
says ascending while the LOS vectors say descending gets a warning; the vectors win). Anything
that cannot be used raises :class:`~engine.errors.InputError` naming the file, and the row or
column where there is one, and the store is left as it was; warnings (rows left out for want of
a velocity) are logged only once the ingest is sure to succeed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.config import RunConfig
from engine.errors import GroundwatchError, InputError
from engine.grid import check_crs, choose_crs
from engine.hashing import dataset_key, input_files, sha256_files
from engine.ingest._columns import parse_geometry, parse_units
from engine.ingest._gnss import Benchmarks, read_benchmarks, read_pairs, read_uploaded_benchmarks
from engine.ingest._normalise import WGS84, Normaliser
from engine.ingest._parallel import PartJob, stage_parallel, start_server, worker_count
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
from engine.ingest._staging import Stats, source_notes, stage_batches
from engine.ingest._tenv3 import GnssSeries, read_tenv3
from engine.store import DatasetInfo, PointWriter, Store, check_dataset_name

__all__ = [
    "Benchmarks",
    "GnssSeries",
    "IngestOptions",
    "IngestProgress",
    "ingest",
    "open_sources",
    "read_benchmarks",
    "read_pairs",
    "read_tenv3",
    "read_uploaded_benchmarks",
]

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
        _check_readable(path)
    seen: set[Path] = set()
    for path in resolved:
        if path.resolve() in seen:
            raise InputError(path, "given twice", "each file once (its points would be doubled)")
        seen.add(path.resolve())
    if options.crs:
        check_crs(options.crs, origin="--crs", projected=True)
    if options.source_crs:
        check_crs(options.source_crs, origin="--source-crs")
    units = parse_units(options.units) if options.units else None
    sources: list[Source] = []
    rasters = [p for p in resolved if p.suffix.lower() in RASTER_SUFFIXES]
    for path in resolved:
        suffix = path.suffix.lower()
        with _reading(str(path)):
            if suffix in TABLE_SUFFIXES:
                sources.append(open_table(path, options.columns))
            elif suffix in VECTOR_SUFFIXES:
                sources.append(open_vector(path, options.columns))
        if suffix not in TABLE_SUFFIXES | VECTOR_SUFFIXES | RASTER_SUFFIXES:
            known = sorted(TABLE_SUFFIXES | VECTOR_SUFFIXES | RASTER_SUFFIXES)
            raise InputError(path, f"unknown file type {suffix or '(none)'!r}", ", ".join(known))
    with _reading(", ".join(map(str, rasters))):
        sources += open_rasters(rasters, units)
    if options.source_crs:
        for source in sources:
            source.native_crs = options.source_crs
    return sources


@contextlib.contextmanager
def _reading(label: str) -> Iterator[None]:
    """The last guard: an exception no check foresaw, raised while reading a user's file,
    becomes a one-line error naming the file (the traceback is logged for ``-v``).

    Every kind of bad input met so far is caught where it arises, with the row or column;
    ``tests/test_bad_input_corpus.py`` checks that none of its cases ends up here.
    """
    try:
        yield
    except GroundwatchError:
        raise
    except Exception as exc:
        logger.debug("unexpected error reading %s", label, exc_info=True)
        first = (str(exc).splitlines() or [""])[0][:200]
        raise InputError(
            label,
            f"could not be read ({type(exc).__name__}: {first})",
            "a readable point product (run with -v for the details)",
        ) from exc


def _check_readable(path: Path) -> None:
    """A file that exists and can be opened, or an InputError saying why not."""
    try:
        if path.is_dir():
            raise InputError(path, "is a folder", "files (use a shell glob for a folder's files)")
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise InputError(path, "no such file", "an existing file") from None
    except OSError as exc:  # permissions, a name too long for the file system, ...
        reason = (exc.strerror or type(exc).__name__).lower()
        raise InputError(path, f"cannot be opened ({reason})", "a readable file") from None


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
    check_dataset_name(name)
    sources = open_sources(paths, options)
    # every file read, a shapefile's sidecars too: the key must see them all (engine.hashing)
    hashes = _HashInBackground(
        [[f for p in (s.files or [s.path]) for f in input_files(p)] for s in sources]
    )
    geometry = parse_geometry(options.geometry, origin="--geometry") if options.geometry else None
    units = parse_units(options.units) if options.units else None
    crs = options.crs or config.crs
    if any(worker_count(s, config) > 1 for s in sources):
        start_server()  # its imports overlap the sweep and the first batch read here
    store.sweep()
    staging = store.staging_dir()
    try:
        stats = Stats()
        notes: list[str] = []  # warnings, said only once the ingest is sure to succeed
        writer = PointWriter(
            staging / "points", config.grid.tile_size_px * config.grid.pixel_size_m
        )
        try:
            for i, source in enumerate(sources):
                with _reading(source.label):
                    normalise = Normaliser(
                        source,
                        crs or WGS84,
                        config,
                        geometry,
                        units,
                        options.velocity_from_timeseries,
                    )
                    if crs is None:
                        crs = normalise.crs = _crs_from_first_batch(source, normalise, config)
                    before = stats.snapshot()
                    workers = worker_count(source, config)
                    if workers > 1:
                        jobs = _part_jobs(source, workers, normalise, writer, str(i), config)
                        _stage_parts(source, jobs, stats, progress)
                    else:
                        _stage(source, normalise, writer, str(i), stats, config, progress)
                    notes += source_notes(source, normalise, before, stats)
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
        key = dataset_key(name=name, file_hashes=hashes.result(), config=config, crs=crs,
                          options=_options_for_key(options, crs))  # fmt: skip
        info = dataclasses.replace(info, input_hash=key)  # the one key scheme: engine.hashing
        for note in notes:
            logger.warning(note)
        return store.commit_dataset(info, staging / "points")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _options_for_key(options: IngestOptions, crs: str) -> dict[str, object]:
    """The options as the dataset key sees them: the run CRS as resolved, not as asked."""
    return {**options.__dict__, "columns": dict(options.columns), "crs": crs}


def _crs_from_first_batch(source: Source, normalise: Normaliser, config: RunConfig) -> str:
    """Run CRS from the first rows read; :func:`ingest` checks it against the centroid of all."""
    for batch in source.batches(min(config.ingest.batch_rows, 10_000)):  # a guess, checked later
        table = normalise(batch, 0)
        return choose_crs(table.column("lon").to_numpy(), table.column("lat").to_numpy())
    raise InputError(source.label, "file has no rows", "at least one point")


def _crs_of_centroid(stats: Stats) -> str:
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
    stats: Stats,
    progress: Callable[[IngestProgress], None] | None,
) -> None:
    def on_rows(rows: int) -> None:
        if progress:
            progress(IngestProgress(source.label, rows))

    before = stats.rows_read
    for part in stage_parallel(jobs, on_rows):
        stats.merge(part)
    if stats.rows_read == before:
        raise InputError(source.label, "file has no rows", "at least one point")
    if progress:
        progress(IngestProgress(source.label, stats.rows_read - before, done=True))


def _stage(
    source: Source,
    normalise: Normaliser,
    writer: PointWriter,
    part: str,
    stats: Stats,
    config: RunConfig,
    progress: Callable[[IngestProgress], None] | None,
) -> None:
    def on_batch(rows: int) -> None:
        if progress:
            progress(IngestProgress(source.label, stats.rows_read + rows))

    before = stats.rows_read
    stage_batches(source, normalise, writer, part, stats, config.ingest.batch_rows, on_batch)
    if stats.rows_read == before:
        raise InputError(source.label, "file has no rows", "at least one point")
    if progress:
        progress(IngestProgress(source.label, stats.rows_read - before, done=True))


class _HashInBackground:
    """sha256 of every input file, computed on a thread while the ingest runs."""

    def __init__(self, groups: Sequence[Sequence[Path]]) -> None:
        self._hashes: list[str] = []
        self._thread = threading.Thread(target=self._run, args=(groups,), daemon=True)
        self._thread.start()

    def _run(self, groups: Sequence[Sequence[Path]]) -> None:
        for files in groups:
            self._hashes.append(sha256_files(*files))

    def result(self) -> list[str]:
        self._thread.join()
        return self._hashes
