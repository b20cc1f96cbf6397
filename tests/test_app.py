"""Dashboard smoke tests with Streamlit's AppTest on a tiny store."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.ingest import IngestOptions, ingest
from engine.store import Store

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("GROUNDWATCH_HOME", str(tmp_path / "store"))
    return Store(tmp_path / "store")


def test_empty_store_explains_what_to_do(home: Store) -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "store is empty" in at.info[0].value


def test_a_dataset_without_run_says_how_to_start_one(home: Store, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("lon,lat,velocity_mm_yr\n-1.5,53.8,1.0\n-1.6,53.9,2.0\n")
    ingest([f], name="leeds", store=home, options=IngestOptions(geometry="ascending"))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "leeds"
    assert at.sidebar.selectbox[0].options == ["leeds"]
    assert "No finished detection run" in at.info[0].value
