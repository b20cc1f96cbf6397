"""Store: the DuckDB catalogue plus Parquet point files, the I/O edge of every stage.

Layout under the store root (``cache/`` by default, ``$GROUNDWATCH_HOME`` or ``--store``)::

    catalog.duckdb                        datasets, runs, tiles, sites
    datasets/<name>.<id>/points/geometry=<g>/tile_ix=<i>/tile_iy=<j>/*.parquet
    tiles/<cache key>/                    one tile's rasters and sites (engine.runs)
    runs/<run id>/                        one run's sites (engine.runs)
    tmp/                                  staging; anything here is garbage after a crash

Writes are atomic: files are staged under ``tmp/``, moved into place, and only then does one
catalogue transaction make them visible. A crash at any point leaves either the old state or
the new one; orphans are swept by the next ingest once they are an hour old.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.errors import StoreError
from engine.types import Bbox

__all__ = [
    "DatasetInfo",
    "PointWriter",
    "Store",
    "check_dataset_name",
    "default_store_path",
    "read_points_at",
]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    name VARCHAR PRIMARY KEY,
    path VARCHAR NOT NULL,
    crs VARCHAR NOT NULL,
    partition_size_m DOUBLE NOT NULL,
    points JSON NOT NULL,
    bbox_lonlat DOUBLE[4] NOT NULL,
    bbox_xy DOUBLE[4] NOT NULL,
    velocity_source VARCHAR NOT NULL,
    first_date DATE,
    last_date DATE,
    dates JSON NOT NULL,
    sources JSON NOT NULL,
    input_hash VARCHAR NOT NULL,
    engine_version VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    dataset VARCHAR NOT NULL,
    cache_key VARCHAR NOT NULL,
    config_yaml VARCHAR NOT NULL,
    seed BIGINT NOT NULL,
    model_hash VARCHAR,
    input_hashes JSON NOT NULL,
    engine_version VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL,
    finished TIMESTAMP
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS crs VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS region VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS tiles_total INTEGER;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS summary JSON;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner VARCHAR;
CREATE TABLE IF NOT EXISTS tiles (
    run_id VARCHAR NOT NULL,
    tile_key VARCHAR NOT NULL,
    cache_key VARCHAR NOT NULL,
    path VARCHAR,
    seconds DOUBLE,
    finished TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, tile_key)
);
CREATE TABLE IF NOT EXISTS sites (
    run_id VARCHAR NOT NULL,
    site_id VARCHAR NOT NULL,
    level DOUBLE NOT NULL,
    lon DOUBLE NOT NULL,
    lat DOUBLE NOT NULL,
    area_m2 DOUBLE,
    n_points INTEGER,
    mean_velocity DOUBLE,
    max_probability DOUBLE,
    priority DOUBLE,
    PRIMARY KEY (run_id, site_id)
);
ALTER TABLE sites ADD COLUMN IF NOT EXISTS dv DOUBLE;
ALTER TABLE sites ADD COLUMN IF NOT EXISTS motion VARCHAR;
ALTER TABLE sites ADD COLUMN IF NOT EXISTS tile_key VARCHAR;
"""

_MIGRATED: set[Path] = set()  # catalogues this process has brought up to _SCHEMA

_TILE_BIAS = 1 << 19  # tile indices are packed into one int64 key with this offset


class PointWriter:
    """Streams point batches into ``geometry=/tile_ix=/tile_iy=`` Parquet partitions.

    Rows are grouped by tile in memory and appended, as row groups, to one open file per
    (part, geometry, tile); buffers are flushed once they hold ``flush_bytes``, so memory
    stays bounded whatever the input size. ``part`` separates inputs whose columns differ
    (for example two tracks with different acquisition dates).
    """

    def __init__(self, folder: Path, partition_size_m: float, *, flush_bytes: int = 256 << 20):
        self.folder = folder
        self.size_m = partition_size_m
        self.flush_bytes = flush_bytes
        self._buffers: dict[tuple[str, str, int, int], list[pa.Table]] = {}
        self._buffered = 0
        self._writers: dict[tuple[str, str, int, int], pq.ParquetWriter] = {}

    def write(self, table: pa.Table, *, part: str) -> None:
        """Queue rows (with x, y and a dictionary-encoded ``geometry`` column)."""
        if table.num_rows == 0:
            return
        geometry = table.column("geometry").combine_chunks()
        codes = geometry.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        labels = geometry.dictionary.to_pylist()
        ix = np.floor(table.column("x").to_numpy() / self.size_m).astype(np.int64)
        iy = np.floor(table.column("y").to_numpy() / self.size_m).astype(np.int64)
        key = (codes << 42) | ((ix + _TILE_BIAS) << 21) | (iy + _TILE_BIAS)
        order = np.argsort(key)
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        body = table.drop_columns(["geometry"]).take(order)
        for start, stop in zip(starts, [*starts[1:], len(key)], strict=True):
            k = int(key[start])
            tile = (
                part,
                labels[k >> 42],
                ((k >> 21) & 0x1FFFFF) - _TILE_BIAS,
                (k & 0x1FFFFF) - _TILE_BIAS,
            )
            piece = body.slice(start, stop - start)
            self._buffers.setdefault(tile, []).append(piece)
            self._buffered += piece.nbytes
        if self._buffered >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        for tile, pieces in self._buffers.items():
            table = pa.concat_tables(pieces)
            writer = self._writers.get(tile)
            if writer is None:
                part, geometry, ix, iy = tile
                path = self.folder / f"geometry={geometry}" / f"tile_ix={ix}" / f"tile_iy={iy}"
                path.mkdir(parents=True, exist_ok=True)
                # dictionary pages only where values repeat: trying them on ids and floats
                # costs more than the whole write
                writer = pq.ParquetWriter(
                    path / f"part-{part}.parquet",
                    table.schema,
                    compression="snappy",
                    use_dictionary=["track"],
                )
                self._writers[tile] = writer
            writer.write_table(table)
        self._buffers.clear()
        self._buffered = 0

    def close(self) -> None:
        """Flush what is buffered and close every file."""
        try:
            self.flush()
        finally:
            for writer in self._writers.values():
                writer.close()
            self._writers.clear()


def default_store_path() -> Path:
    """``$GROUNDWATCH_HOME`` if set, else ``cache/`` beside the ``engine`` package."""
    env = os.environ.get("GROUNDWATCH_HOME")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "cache"


@dataclass(frozen=True)
class DatasetInfo:
    """One catalogued dataset (a row of ``datasets``)."""

    name: str
    path: Path
    crs: str
    partition_size_m: float
    points: dict[str, int]
    bbox_lonlat: tuple[float, float, float, float]
    bbox_xy: tuple[float, float, float, float]
    velocity_source: str
    first_date: str | None
    last_date: str | None
    dates: dict[str, list[str]] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    input_hash: str = ""
    """The dataset's cache key (:func:`engine.hashing.dataset_key`): its files, sidecars
    included, the ingest options, its name, the ingest config and the code version."""

    def summary(self) -> dict[str, Any]:
        """The JSON-ready summary the command line prints."""
        return {
            "name": self.name,
            "points": self.points,
            "crs": self.crs,
            "bbox_lonlat": list(self.bbox_lonlat),
            "velocity_source": self.velocity_source,
            "first_date": self.first_date,
            "last_date": self.last_date,
        }


class Store:
    """A Groundwatch store rooted at a folder.

    Connections are opened per operation and closed at once, so the dashboard and the
    command line can share a store (DuckDB allows one writing process at a time).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_store_path()

    # ----------------------------------------------------------------- plumbing
    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A catalogue connection; retries briefly while another process holds the lock."""
        if read_only and not self.catalog_path.exists():
            con = duckdb.connect(":memory:")
            con.execute(_SCHEMA)
        else:
            if not read_only:
                self.root.mkdir(parents=True, exist_ok=True)
            elif self.catalog_path not in _MIGRATED:
                self._migrate()
            con = self._connect_with_retry(read_only)
            if not read_only:
                con.execute(_SCHEMA)
                _MIGRATED.add(self.catalog_path)
        try:
            yield con
        finally:
            con.close()

    def _migrate(self) -> None:
        """Bring a catalogue written by an older version up to the schema, once per process,
        so read-only connections find every column they select."""
        try:
            con = duckdb.connect(str(self.catalog_path))
        except duckdb.IOException:  # a writer holds it, and has migrated it on connecting
            return
        try:
            con.execute(_SCHEMA)
        finally:
            con.close()
        _MIGRATED.add(self.catalog_path)

    def _connect_with_retry(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        delay = 0.05
        for _ in range(60):
            try:
                return duckdb.connect(str(self.catalog_path), read_only=read_only)
            except duckdb.IOException as exc:  # lock held by another process
                last = exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        raise StoreError(f"{self.catalog_path}: catalogue is locked by another process ({last})")

    def staging_dir(self) -> Path:
        """A fresh folder under ``tmp/`` for files not yet in the catalogue."""
        path = self.root / "tmp" / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    def sweep(self, *, min_age_s: float = 3600.0) -> None:
        """Remove leftovers of killed writers: staging folders, uncatalogued dataset folders.

        Only entries older than ``min_age_s`` go, so a writer still at work in another
        process keeps its files.
        """
        cutoff = time.time() - min_age_s
        stale = lambda p: p.stat().st_mtime <= cutoff  # noqa: E731
        for child in _children(self.root / "tmp"):
            if stale(child):
                shutil.rmtree(child, ignore_errors=True)
        with self.connect(read_only=True) as con:
            live = {p for (p,) in con.execute("SELECT path FROM datasets").fetchall()}
        for child in _children(self.root / "datasets"):
            if child.name not in live and stale(child):
                shutil.rmtree(child, ignore_errors=True)

    # ----------------------------------------------------------------- datasets
    def commit_dataset(self, info: DatasetInfo, points: Path) -> DatasetInfo:
        """Publish a folder written by :class:`PointWriter` as dataset ``info.name``.

        The folder is moved into ``datasets/`` and one transaction swaps the catalogue row,
        so readers see the old dataset or the new one, never a mix. The replaced dataset's
        files are removed afterwards.
        """
        folder = f"{info.name}.{uuid.uuid4().hex[:8]}"
        final = self.root / "datasets" / folder
        final.mkdir(parents=True)
        points.rename(final / "points")
        info = _replace(info, path=final)
        try:
            with self.connect() as con:
                con.begin()
                old = con.execute(
                    "SELECT path FROM datasets WHERE name = ?", [info.name]
                ).fetchall()
                con.execute("DELETE FROM datasets WHERE name = ?", [info.name])
                con.execute(
                    "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                    _dataset_row(info, folder),
                )
                con.commit()
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        for (path,) in old:
            shutil.rmtree(self.root / "datasets" / path, ignore_errors=True)
        return info

    def datasets(self) -> list[DatasetInfo]:
        """Every catalogued dataset, by name."""
        with self.connect(read_only=True) as con:
            rows = con.execute("SELECT * FROM datasets ORDER BY name").fetchall()
            cols = [d[0] for d in con.description]
        return [self._info_from_row(dict(zip(cols, row, strict=True))) for row in rows]

    def dataset(self, name: str) -> DatasetInfo:
        """One dataset by name; :class:`StoreError` when there is none."""
        for info in self.datasets():
            if info.name == name:
                return info
        known = ", ".join(d.name for d in self.datasets()) or "none"
        raise StoreError(f"{self.root}: no dataset named {name!r} (known: {known})")

    def delete_dataset(self, name: str) -> None:
        """Drop a dataset's catalogue row, then its files."""
        info = self.dataset(name)
        with self.connect() as con:
            con.execute("DELETE FROM datasets WHERE name = ?", [name])
        shutil.rmtree(info.path, ignore_errors=True)

    def _info_from_row(self, row: dict[str, Any]) -> DatasetInfo:
        return DatasetInfo(
            name=row["name"],
            path=self.root / "datasets" / row["path"],
            crs=row["crs"],
            partition_size_m=row["partition_size_m"],
            points=json.loads(row["points"]),
            bbox_lonlat=tuple(row["bbox_lonlat"]),
            bbox_xy=tuple(row["bbox_xy"]),
            velocity_source=row["velocity_source"],
            first_date=row["first_date"].isoformat() if row["first_date"] else None,
            last_date=row["last_date"].isoformat() if row["last_date"] else None,
            dates=json.loads(row["dates"]),
            sources=json.loads(row["sources"]),
            input_hash=row["input_hash"],
        )

    # ----------------------------------------------------------------- points
    def read_points(
        self,
        name: str,
        *,
        bbox: Bbox | Sequence[float] | None = None,
        geometry: str | None = None,
        columns: Sequence[str] | None = None,
        pids: Sequence[str] | None = None,
        sample: int | None = None,
    ) -> pa.Table:
        """Points of a dataset, optionally only in a run-CRS box, of a geometry or with given ids.

        ``sample`` keeps at most that many of them, a fixed pseudo-random choice (for maps).

        ``pids`` are product point ids (the ``pid`` column). Only the tile partitions that
        meet the box are opened (DuckDB prunes on the hive keys), so reading a small region
        of a national dataset is cheap.
        """
        info = self.dataset(name)
        return read_points_at(
            info.path / "points", info.partition_size_m, bbox=bbox, geometry=geometry,
            columns=columns, pids=pids, sample=sample,
        )  # fmt: skip

    def point_columns(self, name: str) -> list[str]:
        """Column names of a dataset's point table (dated columns last)."""
        info = self.dataset(name)
        con = duckdb.connect(":memory:")
        try:
            rel = con.execute(
                "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = true, "
                "union_by_name = true)",
                [_parquet_glob(info.path / "points")],
            ).fetchall()
        finally:
            con.close()
        return [r[0] for r in rel]


def read_points_at(
    folder: str | Path,
    partition_size_m: float,
    *,
    bbox: Bbox | Sequence[float] | None = None,
    geometry: str | None = None,
    columns: Sequence[str] | None = None,
    pids: Sequence[str] | None = None,
    sample: int | None = None,
) -> pa.Table:
    """:meth:`Store.read_points` on a dataset's point folder, without the catalogue.

    Pipeline workers read their tile this way, so they never wait on the catalogue lock
    the process recording their results holds.
    """
    where: list[str] = []
    params: list[Any] = []
    if bbox is not None:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
        s = partition_size_m
        where.append(
            "tile_ix BETWEEN ? AND ? AND tile_iy BETWEEN ? AND ? "
            "AND x >= ? AND x < ? AND y >= ? AND y < ?"
        )
        params += [int(minx // s), int(maxx // s), int(miny // s), int(maxy // s)]
        params += [minx, maxx, miny, maxy]
    if geometry is not None:
        where.append("geometry = ?")
        params.append(str(geometry))
    if pids is not None:  # bound parameters: ids come from users
        ids = [str(p) for p in pids]
        where.append(f"pid IN ({', '.join('?' * len(ids))})" if ids else "FALSE")
        params += ids
    select = ", ".join(_quote_identifier(c) for c in columns) if columns else "*"
    # the path is a bound parameter, never SQL text: a folder may hold any character
    sql = f"SELECT {select} FROM read_parquet(?, hive_partitioning = true, union_by_name = true)"
    params.insert(0, _parquet_glob(Path(folder)))
    if where:
        sql += " WHERE " + " AND ".join(where)
    if sample is not None:  # top-n by a hash of the position: one pass, the same every time
        sql += f" ORDER BY hash(x, y) LIMIT {int(sample)}"
    con = duckdb.connect(":memory:")
    try:
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()


def check_dataset_name(name: str) -> str:
    """``name`` if it can name a dataset, else :class:`~engine.errors.InputError`.

    Names end up in folder names, log lines and the dashboard: printable characters only,
    no quotes, slashes, glob characters or line breaks, at most 100 characters.

    Examples
    --------
    >>> check_dataset_name("ustica-2019")
    'ustica-2019'
    >>> check_dataset_name("a'b")
    Traceback (most recent call last):
    engine.errors.InputError: --name: "a'b" is not a usable dataset name; expected ...
    """
    from engine.errors import InputError

    bad = set(name) & _FORBIDDEN_IN_NAMES
    ok = (
        0 < len(name) <= _MAX_NAME
        and name.isprintable()
        and not bad
        and not name.startswith((".", "-", " "))
        and name == name.strip()
    )
    if not ok:
        raise InputError(
            "--name", f"{name!r} is not a usable dataset name",
            f"1 to {_MAX_NAME} printable characters, not starting with '.', '-' or a space, "
            "without quotes, slashes, * ? [ ] or line breaks",
        )  # fmt: skip
    return name


_MAX_NAME = 100
_FORBIDDEN_IN_NAMES = set("'\"`/\\*?[]")


def _parquet_glob(folder: Path) -> str:
    """Every Parquet file under ``folder``, glob characters in the folder itself escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in str(folder)) + "/**/*.parquet"


def _quote_identifier(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _children(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.exists() else []


def _replace(info: DatasetInfo, **changes: Any) -> DatasetInfo:
    from dataclasses import replace

    return replace(info, **changes)


def _dataset_row(info: DatasetInfo, folder: str) -> list[Any]:
    return [
        info.name,
        folder,
        info.crs,
        info.partition_size_m,
        json.dumps(info.points),
        list(info.bbox_lonlat),
        list(info.bbox_xy),
        info.velocity_source,
        info.first_date,
        info.last_date,
        json.dumps(info.dates),
        json.dumps(info.sources),
        info.input_hash,
        _engine_version(),
    ]


def _engine_version() -> str:
    from engine import __version__

    return __version__
