"""Cache keys (engine.hashing): every input that changes a run's numbers changes its key.

The same file ingested with other units, geometry or column mapping, a shapefile whose
``.dbf`` changed, or the same files under another dataset name: each gets its own run, and
its own results. And a tile's numbers do not depend on the executor that computed them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest

from engine.cli import main
from engine.config import RunConfig
from engine.hashing import dataset_key, input_files
from engine.ingest import IngestOptions, ingest
from engine.pipeline import ExecutorSpec, run
from engine.rasters import read_mosaic
from engine.runs import list_runs
from engine.store import Store

# 256 px tiles of 10 m: the 2.4 km square of points is 2 × 2 small tiles, a second each
CONFIG = RunConfig.model_validate({"grid": {"tile_size_px": 256, "tile_overlap_px": 32}})
INPROCESS = ExecutorSpec("inprocess")


def _points(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Points over 2.4 km with a 12 mm/yr subsidence bowl (v1) and a 6 mm/yr uplift dome
    elsewhere (v2): the two velocity columns give different maps."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(430_000, 432_400, n)
    y = rng.uniform(330_000, 332_400, n)
    bowl = np.exp(-((x - 430_800) ** 2 + (y - 330_800) ** 2) / (2 * 250**2))
    dome = np.exp(-((x - 431_700) ** 2 + (y - 331_700) ** 2) / (2 * 300**2))
    noise = rng.normal(0, 0.5, (2, n))
    lon, lat = pyproj.Transformer.from_crs(27700, 4326, always_xy=True).transform(x, y)
    return pd.DataFrame({"lon": lon, "lat": lat, "v1": (-12 * bowl + noise[0]).round(3),
                         "v2": (6 * dome + noise[1]).round(3)})  # fmt: skip


@pytest.fixture(scope="module")
def csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "points.csv"
    _points().to_csv(path, index=False)
    return path


def _ingest_and_run(store: Store, paths: list[Path], name: str = "d", **options: object):
    options = {"units": "mm", "geometry": "ascending", "columns": {"velocity": "v1"}} | options
    info = ingest(paths, name=name, store=store, options=IngestOptions(**options), config=CONFIG)
    return info, run(CONFIG, name, store=store, executor=INPROCESS)


def _velocity(store: Store, run_id: str, look: str = "ascending") -> np.ndarray:
    return read_mosaic(store, run_id, f"velocity-{look}")[0]


def test_units_change_the_run_and_its_results(store: Store, csv: Path) -> None:
    mm, run_mm = _ingest_and_run(store, [csv])
    cm, run_cm = _ingest_and_run(store, [csv], units="cm")
    assert mm.input_hash != cm.input_hash
    assert run_cm.run_id != run_mm.run_id and not run_cm.cache_hit
    # the stored points are read in cm now: exactly ten times the mm values
    v = store.read_points("d", columns=["velocity"]).column("velocity").to_numpy()
    expected = 10 * pd.read_csv(csv)["v1"].to_numpy(np.float32)
    np.testing.assert_allclose(np.sort(v), np.sort(expected), rtol=1e-6)  # stored by tile
    # and so is the run: the bowl is 120 mm/yr deep, not 12 (the old run's answer)
    assert np.nanmin(_velocity(store, run_cm.run_id)) < -60
    assert np.nanmin(_velocity(store, run_mm.run_id)) > -15
    # back to mm: the key is a function of the inputs, not of history
    again, run_again = _ingest_and_run(store, [csv])
    assert again.input_hash == mm.input_hash
    assert run_again.cache_hit and run_again.run_id == run_mm.run_id


def test_geometry_changes_the_run_and_its_results(store: Store, csv: Path) -> None:
    asc, run_asc = _ingest_and_run(store, [csv])
    desc, run_desc = _ingest_and_run(store, [csv], geometry="descending")
    assert asc.input_hash != desc.input_hash and run_asc.run_id != run_desc.run_id
    assert not run_desc.cache_hit
    with pytest.raises(Exception, match="no raster 'velocity-ascending'"):
        _velocity(store, run_desc.run_id)  # the run holds the descending look only
    np.testing.assert_array_equal(
        _velocity(store, run_desc.run_id, "descending"), _velocity(store, run_asc.run_id)
    )  # same numbers in the other look: the label is what changed


def test_column_mapping_changes_the_run_and_its_results(store: Store, csv: Path) -> None:
    _, run_v1 = _ingest_and_run(store, [csv])
    _, run_v2 = _ingest_and_run(store, [csv], columns={"velocity": "v2"})
    assert run_v1.run_id != run_v2.run_id and not run_v2.cache_hit
    v1, v2 = _velocity(store, run_v1.run_id), _velocity(store, run_v2.run_id)
    assert np.nanmin(v1) < -8 and np.nanmax(v1) < 3  # the bowl
    assert np.nanmax(v2) > 4 and np.nanmin(v2) > -3  # the dome


def test_a_changed_dbf_invalidates_the_shapefiles_runs(store: Store, tmp_path: Path) -> None:
    frame = _points(800, seed=1)
    shp = tmp_path / "pts.shp"

    def write(folder: Path, velocity: pd.Series) -> Path:
        gdf = gpd.GeoDataFrame({"velocity": velocity}, geometry=gpd.points_from_xy(
            frame["lon"], frame["lat"]), crs="EPSG:4326")  # fmt: skip
        folder.mkdir(exist_ok=True)
        gdf.to_file(folder / "pts.shp")
        return folder / "pts.shp"

    write(tmp_path, frame["v1"])
    assert [p.suffix for p in input_files(shp)] == [".shp", ".dbf", ".shx", ".prj", ".cpg"]
    before, run_before = _ingest_and_run(store, [shp], columns={})
    # reprocessed velocities: only the .dbf changes, the .shp keeps every byte
    other = write(tmp_path / "other", frame["v2"])
    assert other.read_bytes() == shp.read_bytes()
    shutil.copy(other.with_suffix(".dbf"), shp.with_suffix(".dbf"))
    after, run_after = _ingest_and_run(store, [shp], columns={})
    assert after.input_hash != before.input_hash
    assert run_after.run_id != run_before.run_id and not run_after.cache_hit
    v = store.read_points("d", columns=["velocity"]).column("velocity").to_numpy()
    np.testing.assert_allclose(np.sort(v), np.sort(frame["v2"].to_numpy(np.float32)))
    old, new = _velocity(store, run_before.run_id), _velocity(store, run_after.run_id)
    assert np.nanmin(old) < -5 and np.nanmax(old) < 2  # the bowl of the old .dbf
    assert np.nanmin(new) > -3 and np.nanmax(new) > 2.5  # the dome of the new one


def test_two_datasets_of_the_same_files_answer_each_with_its_own_runs(
    store: Store, csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, run_a = _ingest_and_run(store, [csv], name="a")
    b, run_b = _ingest_and_run(store, [csv], name="b")
    assert a.input_hash != b.input_hash
    assert run_b.dataset == "b" and run_b.run_id != run_a.run_id and not run_b.cache_hit
    np.testing.assert_array_equal(_velocity(store, run_a.run_id), _velocity(store, run_b.run_id))
    config = store.root / "run.yaml"
    config.write_text(CONFIG.to_yaml())
    root = ["--store", str(store.root), "--config", str(config)]
    assert main(["detect", "--dataset", "b", "--json", *root]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["dataset"] == "b" and out["run"] == run_b.run_id and out["cache_hit"]
    assert main(["runs", "--dataset", "b", "--json", "--store", str(store.root)]) == 0
    runs = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["runs"]
    assert [r["run"] for r in runs] == [run_b.run_id]
    assert [r.run_id for r in list_runs(store, "a")] == [run_a.run_id]


def test_the_dataset_key_sees_each_part() -> None:
    base = {"name": "d", "file_hashes": ["f1"], "options": {"units": "mm"}, "config": CONFIG,
            "crs": "EPSG:27700"}  # fmt: skip
    key = dataset_key(**base)
    assert key == dataset_key(**base)
    changes = [
        {"name": "e"}, {"file_hashes": ["f2"]}, {"file_hashes": ["f1", "f1"]},
        {"options": {"units": "cm"}}, {"crs": "EPSG:32630"},
        {"config": CONFIG.model_copy(update={"crs": "EPSG:32630"})},
        {"config": RunConfig.model_validate({"timeseries": {"min_epochs": 5}})},
        {"config": RunConfig.model_validate({"ingest": {"max_abs_velocity_mm_yr": 50}})},
    ]  # fmt: skip
    keys = {dataset_key(**(base | change)) for change in changes}
    assert len(keys) == len(changes) and key not in keys
    # how the ingest batches its reading changes no number, and so no key
    same = RunConfig.model_validate({**CONFIG.model_dump(), "ingest": {"batch_rows": 10_000,
                                                                     "workers": 3}})  # fmt: skip
    assert dataset_key(**(base | {"config": same})) == key


def test_a_tiles_numbers_do_not_depend_on_the_threads_of_its_process(
    csv: Path, tmp_path: Path
) -> None:
    # one key, one answer: a pool worker (one thread) and --workers 1 (every core) must agree
    # to the bit; oneDNN's convolutions on 2 threads differed from 1 by 1.2e-7 on this tile
    import torch

    config = RunConfig.model_validate({"grid": {"tile_size_px": 500, "tile_overlap_px": 100}})
    before, layers = torch.get_num_threads(), []
    try:
        for threads in (2, 1):
            torch.set_num_threads(threads)
            store = Store(tmp_path / str(threads))
            ingest([csv], name="d", store=store, config=config, options=IngestOptions(
                units="mm", geometry="ascending", columns={"velocity": "v1"}))  # fmt: skip
            result = run(config, "d", store=store, executor=INPROCESS)
            assert torch.get_num_threads() == threads  # the caller's setting is left alone
            layers.append(read_mosaic(store, result.run_id, "probability")[0])
    finally:
        torch.set_num_threads(before)
    assert np.isfinite(layers[0]).sum() > 50_000  # the scored part of a 500² tile
    np.testing.assert_array_equal(layers[0], layers[1])
