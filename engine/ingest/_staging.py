"""The batch loop shared by the in-process and the worker-process ingest, and its tallies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from queue import Empty, Queue

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.config import RunConfig
from engine.ingest._normalise import Normaliser
from engine.ingest._sources import Source
from engine.store import DatasetInfo, PointWriter


def stage_batches(
    source: Source,
    normalise: Normaliser,
    writer: PointWriter,
    part: str,
    stats: Stats,
    batch_rows: int,
    on_batch: Callable[[int], None],
) -> None:
    """Normalise every batch of ``source`` and write it by tile; ``on_batch(rows so far)``."""
    rows = 0
    for batch in _prefetch(source.batches(batch_rows)):
        table = stats.keep_finite(normalise(batch, rows))
        rows += batch.num_rows
        stats.add(table, normalise)
        writer.write(table, part=part)
        on_batch(rows)
    stats.rows_read += rows


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


class Stats:
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
        self.dropped = 0  # rows read without a finite velocity

    def keep_finite(self, batch: pa.RecordBatch) -> pa.Table:
        """Rows with a velocity (an empty cell, NaN, or a series too short to fit has none)."""
        table = pa.Table.from_batches([batch])
        finite = pc.is_finite(table.column("velocity"))
        if pc.all(finite).as_py():
            return table
        kept = table.filter(finite)
        self.dropped += table.num_rows - kept.num_rows
        return kept

    def snapshot(self) -> tuple[int, int, dict[str, int]]:
        """Rows read, rows dropped and points per geometry so far (see :func:`source_notes`)."""
        return self.rows_read, self.dropped, dict(self.points)

    def merge(self, other: Stats) -> None:
        self.rows += other.rows
        self.rows_read += other.rows_read
        self.dropped += other.dropped
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
        )


def source_notes(
    source: Source, normalise: Normaliser, before: tuple[int, int, dict[str, int]], stats: Stats
) -> list[str]:
    """One-line warnings about a source just staged: rows left out, a name the data belie."""
    rows = stats.rows_read - before[0]
    dropped = stats.dropped - before[1]
    notes = []
    if dropped:
        what = "velocity" if normalise.velocity_source == "column" else "fitted velocity"
        notes.append(f"{source.label}: {dropped:,} of {rows:,} rows have no {what}; left out")
    named = source.name_geometry
    if named is not None and normalise.geometry is None:
        points = {g: n - before[2].get(g, 0) for g, n in stats.points.items()}
        other = {g: n for g, n in points.items() if n and g != named.value}
        if other:
            said = ", ".join(f"{g} for {n:,}" for g, n in sorted(other.items()))
            notes.append(
                f"{source.label}: named {named.value}, but its {normalise.geometry_evidence} "
                f"say {said} of {sum(points.values()):,} points; the {normalise.geometry_evidence}"
                " win"
            )
    return notes


def _union(a: list[float], b: list[float]) -> list[float]:
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def _grow(box: list[float], a: np.ndarray, b: np.ndarray) -> None:
    box[0], box[1] = min(box[0], float(a.min())), min(box[1], float(b.min()))
    box[2], box[3] = max(box[2], float(a.max())), max(box[3], float(b.max()))
