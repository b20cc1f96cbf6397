"""Dashboard pages (AppTest) on the demo store: each page renders the run's own figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.explore import velocity_probability
from engine.runs import list_runs, read_sites
from engine.store import Store

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(page: str) -> AppTest:
    """Run app.py (sidebar picks), then the page with those picks.

    AppTest's switch_page runs the page file alone, without app.py's sidebar, so the picks
    are carried over as plain session state (in a browser app.py runs every time).
    """
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    picks = {k: at.session_state[k] for k in ("dataset", "run")}
    at.switch_page(page)
    return rerun(at, picks)


def rerun(at: AppTest, picks: dict | None = None) -> AppTest:
    """Run again, keeping the sidebar's picks (see :func:`open_page`)."""
    picks = picks or at.picks
    for key, value in picks.items():
        at.session_state[key] = value
    at.run()
    at.picks = picks
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def demo_run(app_home: Store):
    (run,) = list_runs(app_home)
    return run, read_sites(app_home, run.run_id)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_sidebar_picks_the_dataset_and_its_finished_run(app_home: Store, demo_run):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert at.sidebar.selectbox[0].value == "demo"
    assert at.sidebar.selectbox[1].value == demo_run[0].run_id


def test_overview_shows_counts_map_and_priority_table(app_home: Store, demo_run):
    run, sites = demo_run
    at = open_page("pages/overview.py")
    m = metrics(at)
    assert m["Sites, P > 0.5"] == str(run.summary["sites"]["p50"])
    assert m["P > 0.9"] == str(run.summary["sites"]["p90"])
    assert m["Thresholding at 3 mm/yr"] == str(run.summary["baseline_sites"]["t3.0"])
    table = at.dataframe[0].value
    ranked = sites.sort_values("priority", ascending=False)  # every highest level by default
    assert table["Site"].tolist() == ranked["site_id"].head(50).tolist()
    deck = at.get("deck_gl_json_chart")[0].proto.json
    assert "BitmapLayer" in deck and "PolygonLayer" in deck


def test_velocity_probability_counts_every_scored_point(app_home: Store, demo_run):
    run, _ = demo_run
    at = open_page("pages/velocity_probability.py")
    hist = velocity_probability(app_home, run.run_id)
    assert metrics(at)["Points with a probability"] == f"{hist.n_points:,}"
    assert at.get("plotly_chart")


def test_threshold_comparison_follows_the_sliders(app_home: Store, demo_run):
    run, sites = demo_run
    at = open_page("pages/thresholds.py")
    m = metrics(at)
    assert m["Network sites (P > 0.5)"] == str(int((sites["level"] >= 0.5).sum()))
    assert m["Baseline sites (|v| ≥ 3)"] == str(run.summary["baseline_sites"]["t3.0"])
    at.slider(key="thr_threshold").set_value(5.0)
    rerun(at)
    assert metrics(at)["Baseline sites (|v| ≥ 5)"] == str(run.summary["baseline_sites"]["t5.0"])
    assert len(at.get("deck_gl_json_chart")) == 2


def test_site_drill_down_shows_the_site_and_offers_downloads(app_home: Store, demo_run):
    _, sites = demo_run
    first = sites.sort_values("priority", ascending=False).iloc[0]
    at = open_page("pages/site.py")
    assert at.selectbox(key="site_id").value == first["site_id"]
    m = metrics(at)
    assert m["Points"] == str(int(first["n_points"]))
    assert m["Mean velocity"] == f"{first['v_mean']:.1f} mm/yr"
    assert len(at.get("plotly_chart")) == 4  # points, interpolated, wrapped, probability
    assert len(at.get("download_button")) == 3


def test_region_rerun_lists_runs_and_refuses_a_region_outside(app_home: Store, demo_run):
    at = open_page("pages/rerun.py")
    assert at.dataframe[0].value["Run"].tolist() == [demo_run[0].run_id[:12]]
    at.number_input[0].set_value(10.0)  # west
    at.number_input[2].set_value(11.0)  # east: far from the scene
    at.button[0].click()
    rerun(at)
    assert "does not overlap" in at.error[0].value


def test_baseline_variant_reads_the_stored_thresholds_or_recomputes_the_same(
    app_home: Store, demo_run
):
    from engine.config import BaselineParams
    from engine.explore import baseline_variant

    run, _ = demo_run
    stored, _ = baseline_variant(app_home, run.run_id, BaselineParams(thresholds_mm_yr=(4.5,)))
    assert len(stored) == run.summary["baseline_sites"]["t4.5"]
    # 4.4 mm/yr is not stored: both thresholds are recomputed from the points, and the
    # recomputation gives the pipeline's own count at 4.5
    fresh, comparison = baseline_variant(
        app_home, run.run_id, BaselineParams(thresholds_mm_yr=(4.4, 4.5))
    )
    assert comparison["baseline"]["t4.5"] == len(stored)
    assert comparison["baseline"]["t4.4"] == int((fresh["threshold"] == 4.4).sum()) > 0
