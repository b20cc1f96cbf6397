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
