"""Shared fixtures: a store in a temporary folder and the real third-party data."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store import Store

REAL = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real").resolve()
PAPER_TABLES = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "paper-tables"
).resolve()


def real_path(*parts: str) -> Path:
    """A file of ../shared/data/real, or a skip when this checkout has no shared data."""
    path = REAL.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def egms_zips() -> list[Path]:
    zips = real_path("egms_ustica", "original_zips")
    return sorted(zips.glob("EGMS_L2b_*.zip"))


# 500 px tiles: the 1000 px benchmark scene (430–440 km E, 330–340 km N) is 2 × 2 tiles
SMALL_TILES = {"grid": {"tile_size_px": 500, "tile_overlap_px": 100}}


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store holding dataset "demo" (a seeded 10 km scene with time series) and one
    finished in-process run over it. Shared by the dashboard tests: treat as read-only."""
    from engine.config import RunConfig
    from engine.demo import demo_points
    from engine.ingest import IngestOptions, ingest
    from engine.pipeline import ExecutorSpec, run
    from engine.scenes import make_scene

    store = Store(tmp_path_factory.mktemp("demo-store"))
    config = RunConfig.model_validate(SMALL_TILES)
    points = store.root / "demo.parquet"
    demo_points(make_scene(1000, 7), seed=7).to_parquet(points, index=False)
    ingest([points], name="demo", store=store, options=IngestOptions(units="mm"), config=config)
    points.unlink()
    run(config, "demo", store=store, executor=ExecutorSpec("inprocess"))
    return store


@pytest.fixture
def app_home(demo_store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The demo store as the dashboard's store ($GROUNDWATCH_HOME)."""
    monkeypatch.setenv("GROUNDWATCH_HOME", str(demo_store.root))
    return demo_store
