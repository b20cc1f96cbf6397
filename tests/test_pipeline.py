"""Pipeline: tiles, cache hits, parameter changes, kill -9 and resume, executors, exports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely

from engine.cli import main
from engine.config import RunConfig
from engine.demo import demo_points
from engine.errors import InputError
from engine.ingest import IngestOptions, ingest
from engine.pipeline import ExecutorSpec, Region, run
from engine.pipeline._executors import map_unordered
from engine.pipeline._tile import largest_first
from engine.runs import get_run, list_runs, read_sites
from engine.scenes import make_scene
from engine.store import Store
from engine.types import Tile

# 500 px tiles: the 1000 px scene (430–440 km E, 330–340 km N) is exactly 2 × 2 tiles
CONFIG = RunConfig.model_validate({"grid": {"tile_size_px": 500, "tile_overlap_px": 100}})
INPROCESS = ExecutorSpec("inprocess")
NUMERIC = ["area_m2", "n_points", "v_mean", "dv", "p_max", "p_mean", "priority"]


def _ingest_scene(store: Store, seed: int = 3) -> None:
    path = store.root / "scene.parquet"
    store.root.mkdir(parents=True, exist_ok=True)
    demo_points(make_scene(1000, seed), seed=seed).to_parquet(path, index=False)
    ingest([path], name="scene", store=store, options=IngestOptions(units="mm"), config=CONFIG)


@pytest.fixture(scope="module")
def scene_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("pipeline"))
    _ingest_scene(store)
    return store


@pytest.fixture(scope="module")
def cold(scene_store: Store):
    calls = []
    result = run(CONFIG, "scene", store=scene_store, executor=INPROCESS,
                 progress=lambda d, t: calls.append((d, t)))  # fmt: skip
    return result, calls


def _same_sites(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert a["site_id"].tolist() == b["site_id"].tolist()
    np.testing.assert_allclose(a[NUMERIC].to_numpy(float), b[NUMERIC].to_numpy(float), rtol=1e-3,
                               atol=1e-3)  # fmt: skip


def test_cold_run_covers_the_scene_with_four_tiles(cold, scene_store: Store):
    result, calls = cold
    assert (result.tiles, result.tiles_cached, result.cache_hit) == (4, 0, False)
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    info = get_run(scene_store, result.run_id)
    assert info.status == "finished" and info.summary["sites"] == result.sites
    sites = read_sites(scene_store, result.run_id)
    assert sites["site_id"].is_unique
    assert set(sites["tile_key"]) <= {"86_66", "86_67", "87_66", "87_67"}
    # one row per site; the count at a level is the sites whose highest level reaches it
    assert result.sites == {f"p{k}": int((sites["level"] >= v).sum()) for k, v in
                            (("50", 0.5), ("75", 0.75), ("90", 0.9))}  # fmt: skip
    assert result.sites["p50"] >= result.sites["p75"] >= result.sites["p90"]
    with scene_store.connect(read_only=True) as con:
        n = con.execute("SELECT count(*) FROM sites WHERE run_id = ?", [result.run_id]).fetchone()
    assert n[0] == len(sites)


def test_a_site_belongs_to_one_tile(cold, scene_store: Store):
    # tiles cut sites out of their overlap too; only the owner of the centroid keeps one
    sites = read_sites(scene_store, cold[0].run_id).to_crs(CONFIG.crs or "EPSG:27700")
    # and where two tiles' views of one wide deformation overlap, the larger view stays
    pairs = sites.sjoin(sites, predicate="intersects")
    pairs = pairs[pairs.index != pairs["index_right"]]
    for i, j in zip(pairs.index, pairs["index_right"], strict=True):
        a, b = sites.geometry[i], sites.geometry[j]  # views that share a sliver may both stay
        assert a.intersection(b).area <= 0.01 * min(a.area, b.area)  # drop_overlapping's rule


def test_same_request_again_is_an_instant_cache_hit(cold, scene_store: Store):
    again = run(CONFIG, "scene", store=scene_store, executor=INPROCESS)
    assert again.cache_hit and again.run_id == cold[0].run_id
    assert again.tiles_cached == again.tiles == 4
    assert again.sites == cold[0].sites
    assert again.seconds < cold[0].seconds / 5


def test_a_changed_parameter_recomputes(cold, scene_store: Store):
    changed = CONFIG.model_copy(
        update={"sites": CONFIG.sites.model_copy(update={"ring_width_px": 8})}
    )
    result = run(changed, "scene", store=scene_store, executor=INPROCESS)
    assert result.run_id != cold[0].run_id
    assert not result.cache_hit and result.tiles_cached == 0
    # a parameter outside the tile chain (synthetic data) changes nothing
    same = CONFIG.model_copy(
        update={"synthetic": CONFIG.synthetic.model_copy(update={"tunnel_l_sag_m": (40.0, 60.0)})}
    )
    assert run(same, "scene", store=scene_store, executor=INPROCESS).cache_hit


def test_a_region_reuses_finished_tiles_and_keeps_its_sites(cold, scene_store: Store):
    bbox = (430_000.0, 330_000.0, 434_000.0, 334_000.0)  # inside tile 86_66
    result = run(CONFIG, "scene", Region(bbox=bbox), store=scene_store, executor=INPROCESS)
    assert (result.tiles, result.tiles_cached) == (1, 1)
    sites = read_sites(scene_store, result.run_id).to_crs("EPSG:27700")
    assert sites.intersects(shapely.box(*bbox)).all()
    whole = read_sites(scene_store, cold[0].run_id).to_crs("EPSG:27700")
    # the region's tile's own sites; those of neighbouring tiles may reach into the box too
    assert 0 < len(sites) <= int(whole.intersects(shapely.box(*bbox)).sum())


def test_regions_that_cannot_be_run_are_refused(scene_store: Store, tmp_path: Path):
    with pytest.raises(InputError, match="does not overlap"):
        run(CONFIG, "scene", Region(bbox=(0, 0, 10, 10)), store=scene_store, executor=INPROCESS)
    with pytest.raises(InputError, match="not lon/lat"):
        run(CONFIG, "scene", Region(bbox=(430_000, 330_000, 431_000, 331_000), lonlat=True),
            store=scene_store)  # fmt: skip
    line = tmp_path / "line.geojson"
    gpd.GeoDataFrame(geometry=[shapely.LineString([(-1.5, 52.9), (-1.4, 52.95)])],
                     crs="EPSG:4326").to_file(line)  # fmt: skip
    with pytest.raises(InputError, match="holds no polygon"):
        run(CONFIG, "scene", Region(aoi=line), store=scene_store)


def test_an_aoi_polygon_in_lonlat_selects_its_tiles(cold, scene_store: Store, tmp_path: Path):
    aoi = tmp_path / "aoi.geojson"
    box = gpd.GeoSeries([shapely.box(435_500, 335_500, 439_000, 339_000)], crs="EPSG:27700")
    gpd.GeoDataFrame(geometry=box.to_crs("EPSG:4326")).to_file(aoi)
    result = run(CONFIG, "scene", Region(aoi=aoi), store=scene_store, executor=INPROCESS)
    assert (result.tiles, result.tiles_cached) == (1, 1)  # tile 87_67 only


def test_process_pool_and_dask_local_cluster_give_the_same_sites(
    cold, scene_store: Store, tmp_path: Path
):
    reference = read_sites(scene_store, cold[0].run_id)
    for spec in (ExecutorSpec("process", workers=2), ExecutorSpec("dask", workers=2)):
        store = Store(tmp_path / spec.kind)
        _ingest_scene(store)
        result = run(CONFIG, "scene", store=store, executor=spec)
        assert result.tiles == 4 and result.tiles_cached == 0
        assert result.peak_worker_mb > 0
        _same_sites(read_sites(store, result.run_id), reference)


def test_local_dask_workers_keep_glibcs_malloc_defaults_and_do_not_profile():
    # Dask's MALLOC_TRIM_THRESHOLD_ made every tile 1.5x slower through page faults
    import dask

    key = "distributed.nanny.pre-spawn-environ"
    before = dict(dask.config.get(key)), dask.config.get("distributed.worker.profile.enabled")
    seen = list(
        map_unordered(_worker_settings, ["MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS"],
                      ExecutorSpec("dask", workers=1))
    )  # fmt: skip
    assert sorted(seen, key=str) == [("MALLOC_TRIM_THRESHOLD_", None, False),
                                     ("OMP_NUM_THREADS", "1", False)]  # fmt: skip
    # the caller's config is left as it was
    assert (dask.config.get(key), dask.config.get("distributed.worker.profile.enabled")) == before


def _worker_settings(name: str) -> tuple[str, str | None, bool]:
    import dask

    return name, os.environ.get(name), dask.config.get("distributed.worker.profile.enabled")


def test_a_run_killed_mid_way_resumes_from_its_finished_tiles(
    cold, scene_store: Store, tmp_path: Path
):
    store = Store(tmp_path / "killed")
    _ingest_scene(store)
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG.to_yaml())
    cmd = [sys.executable, "-m", "engine", "detect", "--dataset", "scene", "--store",
           str(store.root), "--config", str(config), "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((store.root / "tiles").glob("*/tile.json")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    (killed,) = list_runs(store)
    assert killed.status == "interrupted"  # its process is gone: resumable, not running
    assert not (store.root / "runs" / killed.run_id).exists()
    with pytest.raises(Exception, match="has not finished"):
        read_sites(store, killed.run_id)

    resumed = run(CONFIG, "scene", store=store, executor=INPROCESS)
    assert resumed.run_id == killed.run_id and not resumed.cache_hit
    assert 1 <= resumed.tiles_cached < resumed.tiles
    _same_sites(read_sites(store, resumed.run_id), read_sites(scene_store, cold[0].run_id))


def test_cli_detect_exports_sites_and_rasters(cold, scene_store: Store, tmp_path: Path, capsys):
    root = str(scene_store.root)
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG.to_yaml())
    assert main(["detect", "--dataset", "scene", "--store", root, "--config", str(config),
                 "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["run"] == cold[0].run_id and out["cache_hit"] is True
    assert set(out["sites"]) == {"p50", "p75", "p90"}

    run_id = out["run"][:6]
    csv, gpkg = tmp_path / "sites.csv", tmp_path / "sites.gpkg"
    assert main(["sites", run_id, "--format", "csv", "--out", str(csv), "--store", root]) == 0
    assert main(["sites", run_id, "--format", "gpkg", "--out", str(gpkg), "--store", root]) == 0
    table = pd.read_csv(csv)
    # one row per site, its highest level an attribute: as many rows as sites at P > 0.5
    assert len(table) == out["sites"]["p50"] == len(gpd.read_file(gpkg))
    assert table["wkt"].str.match(r"(MULTI)?POLYGON").all()

    tif = tmp_path / "p.tif"
    assert (
        main(["raster", run_id, "--what", "probability", "--out", str(tif), "--store", root]) == 0
    )
    with rasterio.open(tif) as src:
        assert (src.width, src.height) == (1000, 1000)  # 2 × 2 cores of 500 px
        assert src.bounds.left == 430_000 and src.bounds.top == 340_000
        p = src.read(1)
    tile = scene_store.root / "tiles" / _tile_folder(scene_store, cold[0].run_id, "86_67")
    with rasterio.open(tile / "probability.tif") as src:  # the north-west core
        np.testing.assert_array_equal(p[:500, :500], src.read(1))
    assert np.nanmin(p) >= 0 and np.nanmax(p) <= 1

    capsys.readouterr()
    assert main(["raster", run_id, "--what", "coherence", "--out", str(tif), "--store", root]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no raster 'coherence'" in err and "probability" in err


def _tile_folder(store: Store, run_id: str, key: str) -> str:
    with store.connect(read_only=True) as con:
        (cache_key,) = con.execute(
            "SELECT cache_key FROM tiles WHERE run_id = ? AND tile_key = ?", [run_id, key]
        ).fetchone()
    return cache_key


def test_tiles_are_handed_out_largest_first(tmp_path: Path):
    rows = {("ascending", 0, 0): 5, ("ascending", 1, 0): 50, ("ascending", 0, 1): 20,
            ("ascending", 1, 1): 10, ("descending", 1, 1): 15}  # fmt: skip
    for (geometry, ix, iy), n in rows.items():
        folder = tmp_path / f"geometry={geometry}" / f"tile_ix={ix}" / f"tile_iy={iy}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"x": np.zeros(n)}), folder / "part-0.parquet")

    def tiles(*keys: tuple[int, int], overlap_px: int = 0) -> list[Tile]:
        return [Tile(ix, iy, 100, overlap_px, 10.0) for ix, iy in keys]

    # partitions of 1 km, tiles of 1 km: each tile holds its partition's rows
    order = largest_first(tiles((0, 0), (0, 1), (1, 1), (1, 0)), tmp_path, 1000.0)
    assert [(t.ix, t.iy) for t in order] == [(1, 0), (1, 1), (0, 1), (0, 0)]
    # 500 m of overlap: tile (0, 0) reaches 5 + 50/2 + 20/2 + 25/4 = 46.25 points, tile
    # (2, 0) only half of (1, 0) and a quarter of (1, 1) = 31.25, tile (9, 9) none
    order = largest_first(tiles((9, 9), (2, 0), (0, 0), overlap_px=50), tmp_path, 1000.0)
    assert [(t.ix, t.iy) for t in order] == [(0, 0), (2, 0), (9, 9)]
