"""The dashboard as a non-expert reads it (AppTest): pages follow the run's own levels, tables
have words and no missing values, maps fit the data offline with legends."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.config import RunConfig
from engine.maplayers import data_bounds, point_sample
from engine.pipeline import ExecutorSpec, Region, run
from engine.runs import get_run, list_runs, read_sites
from engine.store import Store

APP = str(Path(__file__).resolve().parents[1] / "app.py")
LEVELS = (0.6, 0.95)
SMALL_TILES = {"grid": {"tile_size_px": 500, "tile_overlap_px": 100}}


@pytest.fixture(scope="module")
def other_levels(demo_store: Store, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the demo store with one more run: a region around the demo's top site,
    at levels 0.6 / 0.95 (the rerun that showed 0 sites when pages assumed 0.5)."""
    store = Store(tmp_path_factory.mktemp("levels") / "store")
    shutil.copytree(demo_store.root, store.root, dirs_exist_ok=True)
    (first,) = list_runs(store)
    top = read_sites(store, first.run_id).nlargest(1, "priority").iloc[0]
    lon, lat = top["centroid_lon"], top["centroid_lat"]
    config = RunConfig.model_validate(SMALL_TILES | {"sites": {"levels": LEVELS}})
    region = Region(bbox=(lon - 0.005, lat - 0.003, lon + 0.005, lat + 0.003), lonlat=True)
    result = run(config, "demo", region, store=store, executor=ExecutorSpec("inprocess"))
    return store, get_run(store, result.run_id)


def _open(page: str, run_id: str | None = None) -> AppTest:
    """app.py (sidebar), then ``page`` with the sidebar's picks (or ``run_id``)."""
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    picks = {"dataset": at.session_state["dataset"], "run": run_id or at.session_state["run"]}
    at.switch_page(page)
    return _rerun(at, picks)


def _rerun(at: AppTest, picks: dict) -> AppTest:
    for key, value in picks.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    at.picks = picks
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _deck(at: AppTest, i: int = 0) -> dict:
    return json.loads(at.get("deck_gl_json_chart")[i].proto.json)


def test_overview_follows_the_runs_own_levels(other_levels, monkeypatch):
    store, new = other_levels
    monkeypatch.setenv("GROUNDWATCH_HOME", str(store.root))
    sites = read_sites(store, new.run_id)
    at_low = sites[sites["level"] >= LEVELS[0]]  # a site's level is its highest
    assert len(at_low), "the region around the demo's top site should hold a site at P > 0.6"
    at = _open("pages/overview.py", new.run_id)
    m = _metrics(at)
    assert m["Sites, P > 0.6"] == str(new.summary["sites"]["p60"]) == str(len(at_low))
    assert m["P > 0.95"] == str(new.summary["sites"]["p95"])
    assert not any("0.5" in label or "0.75" in label for label in m)
    assert at.multiselect(key="overview_levels").options == ["P > 0.6", "P > 0.95"]
    assert at.multiselect(key="overview_levels").value == [0.6, 0.95]
    table = at.dataframe[0].value
    expected = at_low.sort_values("priority", ascending=False)["site_id"].head(50)
    assert table["Site"].tolist() == expected.tolist()
    layers = {layer["id"]: layer for layer in _deck(at)["layers"]}
    assert len(layers["sites"]["data"]) == len(at_low)
    # the levels' own colours, not the grey fallback of an unknown level
    assert all(row["colour"][:3] != [90, 90, 90] for row in layers["sites"]["data"])
    legend = next(md.value for md in at.markdown if "Sites, by probability level" in md.value)
    assert "P &gt; 0.6" in legend and "0.5" not in legend  # HTML: ">" escaped


def test_other_pages_follow_the_runs_own_levels(other_levels, monkeypatch):
    store, new = other_levels
    monkeypatch.setenv("GROUNDWATCH_HOME", str(store.root))
    at = _open("pages/thresholds.py", new.run_id)
    assert at.select_slider(key="thr_level").options == ["P > 0.6", "P > 0.95"]
    sites = read_sites(store, new.run_id)
    assert _metrics(at)["Network sites (P > 0.6)"] == str(int((sites["level"] >= 0.6).sum()))
    at = _open("pages/velocity_probability.py", new.run_id)
    assert "Points at probability > 0.6" in _metrics(at)


def _assert_readable(frame, where: str) -> None:
    raw = [c for c in frame.columns if "_" in str(c)]
    assert not raw, f"{where}: raw column names {raw}"
    assert not frame.isna().any().any(), f"{where}: missing values shown"
    cells = {str(v).strip() for v in frame.astype(object).to_numpy().ravel()}
    assert not cells & {"nan", "NaN", "None", "<NA>", ""}, f"{where}: {cells & {'nan', 'None'}}"


def test_tables_have_words_and_no_missing_values(app_home: Store):
    shown = 0
    for page in ("pages/overview.py", "pages/time_series.py", "pages/rerun.py"):
        at = _open(page)
        for frame in at.dataframe:
            _assert_readable(frame.value, page)
            shown += 1
    at = _open("pages/corridor.py")
    at.button(key="corridor_example_button").click()
    _rerun(at, at.picks)
    for frame in at.dataframe:
        _assert_readable(frame.value, "corridor")
        shown += 1
    assert shown >= 4


def test_site_metrics_and_captions_read_as_words(app_home: Store):
    at = _open("pages/site.py")
    texts = [m.value for m in at.metric] + [c.value for c in at.caption]
    assert not [t for t in texts if "nan" in t.split() or "None" in t]
    area = _metrics(at)["Area"]
    assert area.endswith(("m²", "ha", "km²")) and len(area.split()[0].replace(",", "")) <= 5


def test_maps_fit_the_data_offline_with_legends(app_home: Store, monkeypatch):
    monkeypatch.delenv("GROUNDWATCH_BASEMAP", raising=False)
    at = _open("pages/overview.py")
    deck = _deck(at)
    # no basemap offline: the style Streamlit reads as "none" (None would fetch Carto's)
    assert deck["mapStyle"] == "__MAP_STYLE__" and deck.get("mapProvider") is None
    ids = [layer["id"] for layer in deck["layers"]]
    assert ids[0] == "points" and {"heatmap", "sites", "scale-bar", "scale-label"} <= set(ids)
    # the 10 km scene fills the map: zoom 12–13 for ~10 km across 760 px (was ~10.6)
    (run,) = list_runs(app_home)
    west, _, east, _ = data_bounds(app_home, run)
    span_px = (east - west) / 360 * 512 * 2 ** deck["initialViewState"]["zoom"]
    assert 0.5 * 760 < span_px <= 760
    legends = " ".join(md.value for md in at.markdown)
    for title in ("Sites, by probability level", "Probability of deformation", "Measurement"):
        assert title in legends
    monkeypatch.setenv("GROUNDWATCH_BASEMAP", "carto")
    at = _open("pages/overview.py")
    assert "cartocdn" in _deck(at)["mapStyle"]


def test_map_layers_cover_the_runs_data(other_levels):
    store, new = other_levels
    (whole,) = [r for r in list_runs(store) if r.run_id != new.run_id]
    dataset = store.dataset("demo").bbox_lonlat
    assert data_bounds(store, whole) == pytest.approx(dataset)
    w, s, e, n = data_bounds(store, new)  # the region, cut to the data
    assert dataset[0] <= w < e <= dataset[2] and dataset[1] <= s < n <= dataset[3]
    assert (e - w) == pytest.approx(0.01, rel=0.05) or e == dataset[2] or w == dataset[0]
    points, limit = point_sample(store, whole, max_points=2000)
    again, _ = point_sample(store, whole, max_points=2000)
    assert len(points) == 2000 and points["lon"].tolist() == again["lon"].tolist()
    assert points["lon"].between(dataset[0], dataset[2]).all()
    assert limit >= 3.0 and math.isfinite(limit)
    inside, _ = point_sample(store, new, max_points=100_000)
    assert inside["lon"].between(w - 1e-6, e + 1e-6).all()
    assert 0 < len(inside) < len(store.read_points("demo", columns=["lon"]))
