"""Runs that cannot go wrong quietly: names, paths, config limits, interrupted runs, workers
that end with their driver, and the command line's own text (runs, demo, validate)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from engine.cli import main
from engine.config import RunConfig
from engine.errors import InputError
from engine.ingest import IngestOptions, ingest
from engine.pipeline import ExecutorSpec, run
from engine.runs import list_runs
from engine.samples import write_samples
from engine.store import Store, check_dataset_name

CONFIG = RunConfig.model_validate({"grid": {"tile_size_px": 256, "tile_overlap_px": 32}})
INPROCESS = ExecutorSpec("inprocess")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_samples(tmp_path_factory.mktemp("samples"))


def _ingest_sample(store: Store, samples: dict[str, Path], name: str = "mine") -> None:
    options = IngestOptions(geometry="descending", units="mm", source_crs="EPSG:27700")
    ingest([samples["points"]], name=name, store=store, options=options, config=CONFIG)


@pytest.fixture(scope="module")
def sample_store(samples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("sample-store") / "s")
    _ingest_sample(store, samples)
    return store


def _copy(store: Store, tmp_path: Path) -> Store:
    """A store of its own for a test, holding dataset "mine" (folders are root-relative)."""
    shutil.copytree(store.root, tmp_path / "s")
    return Store(tmp_path / "s")


def _store_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


# ---------------------------------------------------------------- 1. names and paths


@pytest.mark.parametrize(
    "name", ["a'b", 'a"b', "two\nlines", "ok\nerror: fake", "x" * 101, "", "a/b", ".hidden",
             "tab\there", "glob*", " padded"],
)  # fmt: skip
def test_unusable_dataset_names_are_one_line_errors_and_touch_nothing(
    name: str,
    samples: dict[str, Path],
    sample_store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = _copy(sample_store, tmp_path)
    before = _store_digest(store.root)
    code = main(["ingest", str(samples["points"]), "--name", name, "--store", str(store.root),
                 "--geometry", "descending", "--units", "mm",
                 "--source-crs", "EPSG:27700"])  # fmt: skip
    assert code == 2
    _one_line_error(capsys, "not a usable dataset name", "100 printable characters")
    assert _store_digest(store.root) == before


def test_usable_names_pass_as_they_are() -> None:
    for name in ["ustica", "west-texas_2020", "x" * 100, "Zürich 2021", "a.b (v2)"]:
        assert check_dataset_name(name) == name
    with pytest.raises(InputError, match="not a usable"):
        check_dataset_name("error: no\nerror: fake")


def test_a_store_path_with_a_quote_reads_and_writes(samples: dict[str, Path], tmp_path: Path):
    # the folder is bound as a parameter, never pasted into SQL text
    store = Store(tmp_path / "it's [a] store*")
    _ingest_sample(store, samples)
    table = store.read_points("mine", bbox=(430_000, 330_000, 432_000, 332_000))
    expected = pd.read_csv(samples["points"])
    east = expected["easting"].between(430_000, 432_000, inclusive="left")
    inside = expected[east & expected["northing"].between(330_000, 332_000, inclusive="left")]
    assert table.num_rows == len(inside) > 0
    assert "velocity" in store.point_columns("mine")
    result = run(CONFIG, "mine", store=store, executor=INPROCESS,
                 region=None)  # fmt: skip
    assert result.tiles > 0 and list_runs(store)[0].status == "finished"


# ---------------------------------------------------------------- 2. config limits


@pytest.mark.parametrize(
    ("yaml", "needle"),
    [
        ("sites: {levels: [0.5, 1.0]}", "sites.levels"),
        ("sites: {levels: [0.0]}", "sites.levels"),
        ("sites: {levels: []}", "sites.levels"),
        ("grid: {tile_size_px: 1000000000}", "grid.tile_size_px"),
        ("grid: {tile_overlap_px: 100000}", "grid.tile_overlap_px"),
        ("model: {patch_size_px: 100000}", "model.patch_size_px"),
        ("detect: {stride_px: 0}", "detect.stride_px"),
        ("wrap: {rho_mm_yr: [0.0]}", "wrap.rho_mm_yr"),
        ("baseline: {thresholds_mm_yr: [-3]}", "baseline.thresholds_mm_yr"),
        # 1 mm pixels: ~8e11 tiles of 25 cm over the 10 km sample, far beyond any memory
        ("grid: {pixel_size_m: 0.001}", "grid.pixel_size_m 0.001"),
        # 16,384 px tiles with their overlap: 64 B a pixel is ~24 GiB a worker
        ("grid: {tile_size_px: 16384, tile_overlap_px: 4096}", "tiles of 24576² pixels"),
    ],
)
def test_config_limits_are_checked_before_any_work(
    yaml: str, needle: str, sample_store: Store, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # a machine of 16 GiB, whatever runs the test
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("M", (), {"total": 16 << 30}))
    store = _copy(sample_store, tmp_path)
    before = _store_digest(store.root)
    config = tmp_path / "bad.yaml"
    config.write_text(yaml)
    code = main(["detect", "--dataset", "mine", "--store", str(store.root), "--config",
                 str(config), "--workers", "1"])  # fmt: skip
    assert code == 2
    _one_line_error(capsys, needle)
    assert list_runs(store) == []  # no run was begun, so none is left "running"
    assert _store_digest(store.root) == before


def test_a_folder_as_config_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["config", "--config", str(tmp_path)]) == 2
    _one_line_error(capsys, str(tmp_path), "is a folder", "a YAML config file")


def test_a_demo_too_fine_for_memory_is_refused_before_it_starts(tmp_path: Path, capsys,
                                                                 monkeypatch) -> None:  # fmt: skip
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("M", (), {"total": 16 << 30}))
    config = tmp_path / "fine.yaml"
    config.write_text("grid: {pixel_size_m: 0.1}")  # 10 km at 10 cm: 1e10 pixels
    store = tmp_path / "s"
    assert main(["demo", "--store", str(store), "--config", str(config)]) == 2
    _one_line_error(capsys, "a scene of 100,000² pixels")
    assert not (store / "catalog.duckdb").exists()


# ---------------------------------------------------------------- 3. interrupted runs


def test_a_run_that_fails_mid_way_is_interrupted_not_running(
    sample_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.pipeline as pipeline

    store = _copy(sample_store, tmp_path)
    real, calls = pipeline.process_tile, []

    def failing(job):  # the third tile fails
        calls.append(job)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(job)

    monkeypatch.setattr(pipeline, "process_tile", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        run(CONFIG, "mine", store=store, executor=INPROCESS)
    (broken,) = list_runs(store)
    assert broken.status == "interrupted"
    monkeypatch.setattr(pipeline, "process_tile", real)
    resumed = run(CONFIG, "mine", store=store, executor=INPROCESS)
    assert resumed.run_id == broken.run_id and resumed.tiles_cached == 2
    assert list_runs(store)[0].status == "finished"


def test_kill_9_ends_the_pool_workers_and_leaves_the_run_interrupted(
    sample_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _copy(sample_store, tmp_path)
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG.to_yaml())
    cmd = [sys.executable, "-m", "engine", "detect", "--dataset", "mine", "--store",
           str(store.root), "--config", str(config), "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = psutil.Process(proc.pid)
    deadline = time.monotonic() + 300
    while len(descendants := driver.children(recursive=True)) < 3:  # forkserver + 2 workers
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(descendants, timeout=20)
    assert alive == [], f"{len(alive)} of {len(descendants)} processes outlived their driver"

    (killed,) = list_runs(store)
    assert killed.status == "interrupted"
    assert main(["runs", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert f"{killed.run_id}  mine" in out and "interrupted" in out and "resumable" in out


def test_kill_9_ends_the_synthetic_build_workers(tmp_path: Path) -> None:
    out = str(tmp_path / "b")
    cmd = [sys.executable, "-m", "engine", "synth", "--kind", "mixed", "--n", "4000",
           "--seed", "5", "--versions", "mc", "--out", out, "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = psutil.Process(proc.pid)
    deadline = time.monotonic() + 300
    while len(descendants := driver.children(recursive=True)) < 3:  # forkserver + 2 workers
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # the workers' initializers have run
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(descendants, timeout=20)
    assert alive == [], f"{len(alive)} of {len(descendants)} processes outlived their driver"
    assert not (tmp_path / "b").exists()  # nothing half-built under the name asked for


# ---------------------------------------------------------------- 4. command-line text


def test_runs_prints_a_table_not_a_dict(sample_store: Store, tmp_path: Path, capsys) -> None:
    store = _copy(sample_store, tmp_path)
    result = run(CONFIG, "mine", store=store, executor=INPROCESS)
    capsys.readouterr()
    assert main(["runs", "--store", str(store.root)]) == 0
    header, row = capsys.readouterr().out.strip().splitlines()
    assert "{" not in row and "'" not in row
    assert header.split() == ["run", "dataset", "status", "created", "tiles", "region",
                              "p50", "p75", "p90"]  # fmt: skip
    cells = row.split()
    assert cells[:3] == [result.run_id, "mine", "finished"]
    assert cells[-4:] == ["whole", *(str(result.sites[k]) for k in ("p50", "p75", "p90"))]


def test_demo_without_json_prints_its_summary(tmp_path: Path, capsys, monkeypatch) -> None:
    import engine.demo
    from engine.demo import DemoResult
    from engine.pipeline import RunResult
    from engine.store import DatasetInfo

    info = DatasetInfo("demo", tmp_path, "EPSG:27700", 25_000.0,
                       {"ascending": 1200, "descending": 800}, (0, 0, 1, 1), (0, 0, 1, 1),
                       "timeseries", None, None)  # fmt: skip
    result = RunResult("abc123def456", "demo", 4, 0, False, {"p50": 3, "p75": 2, "p90": 1},
                       {"t3.0": 5}, 1.0)  # fmt: skip
    monkeypatch.setattr(engine.demo, "build_demo",
                        lambda *a, **k: DemoResult(info, result, 7))  # fmt: skip
    assert main(["demo", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == ("demo dataset 'demo': 2,000 points, 7 sources; run abc123def456: "
                   "sites p50 3, p75 2, p90 1")  # fmt: skip
    assert main(["demo", "--store", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["dataset"]["name"] == "demo" and out["run"] == "abc123def456"


def test_validate_counts_benchmarks_not_benchmark_geometry_pairs(tmp_path: Path,
                                                                 capsys) -> None:  # fmt: skip
    # two benchmarks, each seen in both geometries: 2 of 2 matched, in 4 pairs (not "4 of 2")
    rows = []
    for geometry, sign in (("ascending", 1), ("descending", -1)):
        for i, (x, y) in enumerate([(0.0, 0.0), (1000.0, 0.0)]):
            for dx in (-3.0, 0.0, 3.0):
                rows.append({"easting": 430_000 + x + dx, "northing": 330_000 + y,
                             "velocity": 2.0 + i + sign * 0.1, "geometry": geometry})  # fmt: skip
    pts = tmp_path / "p.csv"
    pd.DataFrame(rows).to_csv(pts, index=False)
    store = str(tmp_path / "s")
    assert main(["ingest", str(pts), "--name", "two", "--store", store, "--units", "mm",
                 "--source-crs", "EPSG:27700"]) == 0  # fmt: skip
    gnss = tmp_path / "g.csv"
    pd.DataFrame({"id": ["B1", "B2"], "x": [430_000.0, 431_000.0], "y": [330_000.0] * 2,
                  "vu": [2.0, 3.0]}).to_csv(gnss, index=False)  # fmt: skip
    capsys.readouterr()
    assert main(["validate", "--gnss", str(gnss), "--gnss-crs", "EPSG:27700", "--dataset",
                 "two", "--store", store]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "2 of 2 benchmarks matched (4 benchmark-geometry pairs)" in out


def test_sample_data_runs_the_readme_examples(tmp_path: Path, capsys, monkeypatch) -> None:
    # the README's commands, as written there, in a fresh folder
    monkeypatch.chdir(tmp_path)
    readme = [line for line in (ROOT / "README.md").read_text().splitlines()
              if line.startswith("python -m engine ")]  # fmt: skip
    store = ["--store", str(tmp_path / "s")]

    def readme_command(start: str) -> list[str]:
        line = next(line for line in readme if line.startswith(f"python -m engine {start}"))
        return line.split("#")[0].split()[3:]

    assert main(readme_command("sample-data")) == 0
    points, bench = pd.read_csv("points.csv"), pd.read_csv("benchmarks.csv")
    assert list(points.columns) == ["pid", "easting", "northing", "velocity"]
    assert points["easting"].between(430_000, 440_000).all() and len(points) > 10_000
    assert "--source-crs" in readme_command("ingest points.csv")
    assert main([*readme_command("ingest points.csv"), *store]) == 0
    capsys.readouterr()
    assert main([*readme_command("validate --gnss benchmarks.csv"), *store]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_benchmarks"] == out["n_benchmarks_matched"] == len(bench) == 6
    assert out["rmse"] < 1.0  # benchmarks are the scene's own rates plus 0.3 mm/yr noise


def test_pyproject_declares_the_pinned_requirements() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]  # fmt: skip
    assert project["dependencies"] == pins
    names = {p.split("==")[0].lower() for p in pins}
    assert {"affine", "pillow"} <= names and all("==" in p for p in pins)


def test_a_catalogue_of_an_older_version_is_read(tmp_path: Path) -> None:
    # a store written before runs had an owner: read-only readers select the column too
    import duckdb

    from engine.store import _SCHEMA

    store = Store(tmp_path)
    old = _SCHEMA.replace("ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner VARCHAR;", "")
    con = duckdb.connect(str(store.catalog_path))
    con.execute(old)
    con.close()
    assert list_runs(store) == []
    con = duckdb.connect(str(store.catalog_path), read_only=True)
    columns = [c for (c, *_) in con.execute("DESCRIBE runs").fetchall()]
    con.close()
    assert "owner" in columns
