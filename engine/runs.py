"""Detection runs in the store: catalogue rows, finished tiles, sites and rasters.

Layout under the store root (next to ``datasets/``, see :mod:`engine.store`)::

    tiles/<tile cache key>/   probability.tif, velocity-<look>.tif (COG, the tile's core),
                              sites.parquet, baseline.parquet, tile.json
    runs/<run id>/            sites.parquet, baseline.parquet (GeoParquet, WGS84)

Tile outputs are addressed by their cache key (dataset + detection config + model + tile),
not by run: a run that needs a tile any earlier run, or a killed attempt, finished reuses it.
A tile folder appears by one rename and is catalogued after it exists; a run's sites are
written, renamed into place, and only then does one transaction publish them and mark the
run finished. A run killed at any point leaves nothing half-visible; its row reads
``interrupted`` (resumable: the same request again reuses its finished tiles) once the
process that owned it has gone, or at once when it stopped on an error.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from engine.errors import StoreError
from engine.store import Store

__all__ = [
    "RunInfo",
    "begin_run",
    "find_finished_run",
    "finish_run",
    "finished_tiles",
    "get_run",
    "interrupt_run",
    "list_runs",
    "publish_tile",
    "read_sites",
    "record_tiles",
    "run_tiles",
    "tile_folder",
]

_RUN_COLUMNS = (
    "run_id, dataset, cache_key, config_yaml, seed, model_hash, input_hashes, engine_version, "
    "status, created, finished, crs, region, tiles_total, summary, owner"
)
RUNNING, FINISHED, INTERRUPTED = "running", "finished", "interrupted"


@dataclass(frozen=True)
class RunInfo:
    """One catalogued detection run (a row of ``runs``)."""

    run_id: str
    dataset: str
    cache_key: str
    status: str
    """``"running"`` while its process works on it, ``"finished"`` once its sites are
    published, ``"interrupted"`` when it stopped before (killed, or an error): resumable."""
    crs: str
    region: str | None
    """The region as WKT in the run CRS; None = the whole dataset."""
    tiles_total: int
    config_yaml: str
    seed: int
    model_hash: str
    input_hashes: list[str]
    engine_version: str
    created: str
    finished: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    """Figures of the finished run: sites per level, tiles, seconds (see pipeline.run)."""


def tile_folder(store: Store, cache_key: str) -> Path:
    """Where a tile's outputs live once published."""
    return store.root / "tiles" / cache_key


def publish_tile(store: Store, staging: Path, cache_key: str) -> Path:
    """Move a staged tile folder into place; a leftover of a killed attempt is replaced."""
    final = tile_folder(store, cache_key)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # another worker finished the same tile first: same key, same content
        shutil.rmtree(staging)
        return final
    staging.rename(final)
    return final


def list_runs(store: Store, dataset: str | None = None) -> list[RunInfo]:
    """Runs, newest first, of one dataset or all."""
    sql = f"SELECT {_RUN_COLUMNS} FROM runs"
    params: list[Any] = []
    if dataset is not None:
        sql += " WHERE dataset = ?"
        params.append(dataset)
    with store.connect(read_only=True) as con:
        rows = con.execute(sql + " ORDER BY created DESC", params).fetchall()
    return [_info(row) for row in rows]


def get_run(store: Store, run_id: str) -> RunInfo:
    """A run by id or unique id prefix; :class:`StoreError` when none or ambiguous."""
    with store.connect(read_only=True) as con:
        rows = con.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE starts_with(run_id, ?)", [run_id]
        ).fetchall()
    if len(rows) != 1:
        problem = "no run" if not rows else f"{len(rows)} runs"
        raise StoreError(f"{store.root}: {problem} with id {run_id!r} (list them: engine runs)")
    return _info(rows[0])


def find_finished_run(store: Store, cache_key: str) -> RunInfo | None:
    """The finished run with this cache key, if any (an instant cache hit)."""
    with store.connect(read_only=True) as con:
        rows = con.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE cache_key = ? AND status = 'finished'",
            [cache_key],
        ).fetchall()
    return _info(rows[0]) if rows else None


def begin_run(store: Store, info: RunInfo) -> None:
    """Catalogue a run as ``running`` (again, when a killed attempt left its row)."""
    with store.connect() as con:
        con.begin()
        con.execute("DELETE FROM runs WHERE run_id = ?", [info.run_id])
        con.execute(
            f"INSERT INTO runs ({_RUN_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', now(), NULL, ?, ?, ?, NULL, ?)",
            [
                info.run_id, info.dataset, info.cache_key, info.config_yaml, info.seed,
                info.model_hash, json.dumps(info.input_hashes), info.engine_version, info.crs,
                info.region, info.tiles_total, _this_process(),
            ],
        )  # fmt: skip
        con.commit()


def interrupt_run(store: Store, run_id: str) -> None:
    """Mark a run that stopped before finishing (an error, Ctrl-C) as ``interrupted``."""
    with store.connect() as con:
        con.execute(
            "UPDATE runs SET status = ? WHERE run_id = ? AND status = ?",
            [INTERRUPTED, run_id, RUNNING],
        )


def _this_process() -> str:
    """``host:pid:start time``: who owns a running run (pids are reused, start times not)."""
    import psutil

    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{me.create_time():.2f}"


def _owner_gone(owner: str | None) -> bool:
    """Whether the process that began a run has ended (only known on its own host)."""
    if not owner:
        return False
    import psutil

    host, pid, started = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return False  # another machine of a shared store: cannot tell, keep "running"
    try:
        return f"{psutil.Process(int(pid)).create_time():.2f}" != started
    except (psutil.NoSuchProcess, ValueError):
        return True


def finished_tiles(store: Store, cache_keys: Iterable[str]) -> dict[str, str | None]:
    """``{cache key: folder name or None (no points)}`` of the tiles already done.

    A tile folder appears by one rename of a complete staging folder, so one on disk is
    finished even when the process that made it was killed before cataloguing it.
    """
    keys = list(cache_keys)
    if not keys:
        return {}
    with store.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT cache_key, path FROM tiles WHERE list_contains(?, cache_key)",
            [keys],
        ).fetchall()
    done = {
        key: path
        for key, path in rows
        if path is None or tile_folder(store, key).is_dir()  # a deleted folder is not done
    }
    for key in keys:  # published by a worker killed before its tile was catalogued
        if key not in done and (tile_folder(store, key) / "tile.json").is_file():
            done[key] = key
    return done


def record_tiles(
    store: Store, run_id: str, tiles: Iterable[tuple[str, str, str | None, float]]
) -> None:
    """Catalogue finished tiles of a run: ``(tile key, cache key, path, seconds)`` each."""
    rows = [[run_id, *t] for t in tiles]
    if not rows:
        return
    with store.connect() as con:
        con.begin()
        con.executemany("INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?, ?, now())", rows)
        con.commit()


def run_tiles(store: Store, run_id: str) -> list[tuple[str, Path | None]]:
    """``(tile key, folder)`` of every tile of a run; folder None where it has no points."""
    with store.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT tile_key, cache_key, path FROM tiles WHERE run_id = ? ORDER BY tile_key",
            [run_id],
        ).fetchall()
    return [(k, tile_folder(store, c) if p is not None else None) for k, c, p in rows]


def finish_run(
    store: Store,
    run_id: str,
    sites: gpd.GeoDataFrame,
    baseline: gpd.GeoDataFrame,
    summary: dict[str, Any],
) -> None:
    """Publish a run's sites (files, then catalogue rows) and mark it finished."""
    folder = store.root / "runs" / run_id
    staging = store.staging_dir()
    sites.to_parquet(staging / "sites.parquet")
    baseline.to_parquet(staging / "baseline.parquet")
    folder.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if folder.exists():  # a killed attempt's files: swap, then drop
        old = folder.with_name(f".{run_id}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    staging.rename(folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    rows = pd.DataFrame(
        {
            "run_id": run_id,
            "site_id": sites["site_id"].astype(str),
            "level": sites["level"].astype(float),
            "lon": sites["centroid_lon"].astype(float),
            "lat": sites["centroid_lat"].astype(float),
            "area_m2": sites["area_m2"].astype(float),
            "n_points": sites["n_points"].astype("int32"),
            "mean_velocity": sites["v_mean"].astype(float),
            "max_probability": sites["p_max"].astype(float),
            "priority": sites["priority"].astype(float),
            "dv": sites["dv"].astype(float),
            "motion": sites["motion"].astype(str),
            "tile_key": sites["tile_key"].astype(str),
        }
    )
    with store.connect() as con:
        con.begin()
        con.execute("DELETE FROM sites WHERE run_id = ?", [run_id])
        con.register("new_sites", rows)
        con.execute(f"INSERT INTO sites BY NAME SELECT * FROM new_sites")  # noqa: F541
        con.execute(
            "UPDATE runs SET status = 'finished', finished = now(), summary = ? WHERE run_id = ?",
            [json.dumps(summary), run_id],
        )
        con.commit()


def read_sites(store: Store, run_id: str, *, baseline: bool = False) -> gpd.GeoDataFrame:
    """A finished run's sites (or its thresholding-baseline sites), WGS84."""
    info = get_run(store, run_id)
    if info.status != "finished":
        raise StoreError(
            f"{store.root}: run {info.run_id} has not finished ({info.status}; run the same "
            "detect again to resume it)"
        )
    name = "baseline.parquet" if baseline else "sites.parquet"
    return gpd.read_parquet(store.root / "runs" / info.run_id / name)


def _info(row: tuple[Any, ...]) -> RunInfo:
    (run_id, dataset, cache_key, config_yaml, seed, model_hash, input_hashes, version, status,
     created, finished, crs, region, tiles_total, summary, owner) = row  # fmt: skip
    if status == RUNNING and _owner_gone(owner):
        status = INTERRUPTED
    return RunInfo(
        run_id=run_id,
        dataset=dataset,
        cache_key=cache_key,
        status=status,
        crs=crs or "",
        region=region,
        tiles_total=int(tiles_total or 0),
        config_yaml=config_yaml,
        seed=int(seed),
        model_hash=model_hash or "",
        input_hashes=json.loads(input_hashes),
        engine_version=version,
        created=str(created),
        finished=str(finished) if finished is not None else None,
        summary=json.loads(summary) if summary else {},
    )
