"""Shared fixtures: a store in a temporary folder and the real third-party data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
def dashboard_secrets(tmp_path: Path) -> Iterator[Callable[[str | None], Path]]:
    """Point the dashboard at a secrets.toml of the given text (None: no secrets file).

    Streamlit reads ``secrets.files`` (default: .streamlit/secrets.toml of the working
    directory and of the home folder); tests must not see the developer's own file.
    """
    import streamlit as st
    from streamlit import config

    saved = config.get_option("secrets.files")
    path = tmp_path / "streamlit-secrets" / "secrets.toml"
    path.parent.mkdir()

    def use(text: str | None) -> Path:
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)
        config.set_option("secrets.files", [str(path)])
        st.secrets._reset()  # parsed once per process otherwise
        return path

    use(None)
    yield use
    config.set_option("secrets.files", saved)
    st.secrets._reset()


@pytest.fixture
def app_home(
    demo_store: Store, monkeypatch: pytest.MonkeyPatch, dashboard_secrets: Callable
) -> Store:
    """The demo store as the dashboard's store ($GROUNDWATCH_HOME), with reruns and uploads
    open (``allow_anonymous_reruns = true``; the gate's own tests change the secrets)."""
    monkeypatch.setenv("GROUNDWATCH_HOME", str(demo_store.root))
    dashboard_secrets("allow_anonymous_reruns = true\n")
    return demo_store
