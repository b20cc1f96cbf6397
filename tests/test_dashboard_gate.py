"""The dashboard fails closed (AppTest): every page that reruns or uploads, under every secret.

Secrets come from a real secrets.toml in a temporary folder (``dashboard_secrets``), read by
Streamlit as on a server: none, broken, misspelt, empty, a password (typed wrong and right),
and anonymous reruns allowed.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box
from streamlit.testing.v1 import AppTest

from engine.runs import list_runs
from engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/rerun.py", "pages/corridor.py", "pages/gnss_validation.py"]
WHAT = {"pages/rerun.py": "Reruns and uploads", "pages/corridor.py": "Route uploads",
        "pages/gnss_validation.py": "GNSS uploads"}  # fmt: skip
LOCKED = {
    "none": (None, "no rerun_password or allow_anonymous_reruns is set"),
    "broken": ('rerun_password = "unterminated\n', "the secrets file cannot be read"),
    "misspelt": ('rerun_pasword = "s3cret"\n', "did you mean 'rerun_password'?"),
    "empty": ('rerun_password = ""\n', "rerun_password is empty"),
    "not true": ('allow_anonymous_reruns = "yes"\n', "allow_anonymous_reruns is 'yes'"),
}


def page(path: str, store: Store) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    at.session_state["dataset"] = "demo"
    at.session_state["run"] = list_runs(store, "demo")[0].run_id
    return at.run()


def can_upload(at: AppTest, path: str) -> bool:
    """Whether the page offers its upload (and the rerun page its form)."""
    uploads = len(at.get("file_uploader")) > 0
    if path == "pages/rerun.py":
        assert uploads == bool(at.get("form")), "the rerun form and its upload go together"
    return uploads


# ------------------------------------------------------------------ locked


@pytest.mark.parametrize(
    ("path", "case"),
    [(path, case) for path in PAGES for case in ("none", "broken")]
    + [("pages/rerun.py", case) for case in ("misspelt", "empty", "not true")],
)
def test_locked_pages_offer_no_upload_and_say_why_in_one_line(
    app_home: Store, dashboard_secrets, path: str, case: str
) -> None:
    text, reason = LOCKED[case]
    dashboard_secrets(text)
    at = page(path, app_home)
    assert not at.exception
    assert not can_upload(at, path) and not at.text_input  # nothing to unlock it with
    [warning] = at.warning
    assert warning.value.startswith(f"{WHAT[path]} are off on this server: ")
    assert reason in warning.value and "\n" not in warning.value
    if case == "broken":  # the page does not show the server's path (the log does)
        assert "secrets.toml" not in warning.value and "Unterminated" not in warning.value


def test_a_broken_secrets_file_is_logged_once_with_its_cause(
    app_home: Store, dashboard_secrets, caplog
) -> None:
    path = dashboard_secrets('allow_anonymous_reruns = true\nrerun_password = "x\n')
    with caplog.at_level(logging.WARNING, logger="pages._shared.gate"):
        for _ in range(2):
            page("pages/rerun.py", app_home)
    lines = [r.getMessage() for r in caplog.records if r.name == "pages._shared.gate"]
    assert len(lines) == 1
    assert lines[0].startswith("reruns and uploads are off: Error parsing secrets file at")
    assert str(path) in lines[0] and "(at line 2, column 20); fix its syntax" in lines[0]


# ------------------------------------------------------------------ a password


@pytest.mark.parametrize("path", PAGES)
def test_a_password_is_required_wrong_refused_right_opens(
    app_home: Store, dashboard_secrets, path: str
) -> None:
    dashboard_secrets('rerun_password = "s3cret"\nallow_anonymous_reruns = true\n')
    at = page(path, app_home)
    assert not at.exception and not can_upload(at, path)
    box = at.text_input(key="gate_password")
    assert box.label == f"{WHAT[path]} need the operator's password"
    box.input("wrong").run()
    assert not can_upload(at, path)
    assert [e.value for e in at.error] == ["Wrong password."]
    at.text_input(key="gate_password").input("s3cret").run()
    assert not at.exception and not at.error
    assert can_upload(at, path)
    at.run()  # the session stays unlocked
    assert can_upload(at, path)
    dashboard_secrets('rerun_password = "changed"\n')  # a new password locks it again
    at.run()
    assert not can_upload(at, path)


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_reruns_open_every_page_when_the_operator_says_so(
    app_home: Store, dashboard_secrets, path: str
) -> None:
    dashboard_secrets("allow_anonymous_reruns = true\n")
    at = page(path, app_home)
    assert not at.exception and not at.warning and not at.text_input
    assert can_upload(at, path)


def test_one_unlock_opens_every_page_of_the_session(app_home: Store, dashboard_secrets) -> None:
    dashboard_secrets('rerun_password = "s3cret"\n')
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    picks = {k: at.session_state[k] for k in ("dataset", "run")}

    def run() -> AppTest:  # after switch_page, AppTest drops the sidebar's picks: pin them
        for key, value in picks.items():
            at.session_state[key] = value
        return at.run()

    at.switch_page("pages/rerun.py")
    run().text_input(key="gate_password").input("s3cret")
    assert run().get("file_uploader")
    at.switch_page("pages/gnss_validation.py")
    assert run().get("file_uploader") and not at.text_input


# ------------------------------------------------------------------ what an open gate still refuses


def test_corridor_refuses_a_vrt_route(app_home: Store, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("x,y,password\n1,2,hunter2\n")
    vrt = (f"<OGRVRTDataSource><OGRVRTLayer name='s'><SrcDataSource>{secret}</SrcDataSource>"
           "</OGRVRTLayer></OGRVRTDataSource>").encode()  # fmt: skip
    at = page("pages/corridor.py", app_home)
    at.file_uploader(key="corridor_upload").set_value(("route.geojson", vrt, "application/json"))
    at.run()
    assert not at.exception and not at.metric
    [error] = at.error
    assert error.value.startswith("route.geojson: is GDAL VRT XML, which reads other files")
    assert "hunter2" not in error.value and str(secret) not in error.value


def test_gnss_refuses_a_series_path_on_the_server(app_home: Store, tmp_path: Path) -> None:
    on_server = tmp_path / "AAAA.tenv3"
    on_server.write_text("site YYMMMDD\n")
    at = page("pages/gnss_validation.py", app_home)
    table = f"id,series\nA,{on_server}\n".encode()
    at.file_uploader[0].set_value(("bench.csv", table, "text/csv")).run()
    assert not at.exception and not at.metric
    [error] = at.error
    assert error.value == (
        f"bench.csv: column 'series', row 1: series {str(on_server)!r} is not a file uploaded "
        "with the table; expected the name of a .tenv3 file uploaded together with it"
    )


def test_rerun_limit_counts_the_tiles_a_region_schedules(
    app_home: Store, dashboard_secrets
) -> None:
    """Four 50 m squares at the scene's corners: 0.01 km², but the whole default tile."""
    dashboard_secrets("allow_anonymous_reruns = true\nrerun_max_km2 = 50\n")
    at = page("pages/rerun.py", app_home)
    info = app_home.dataset("demo")
    x0, y0, x1, y1 = info.bbox_xy
    corners = [
        (x0 + 100, y0 + 100),
        (x1 - 150, y0 + 100),
        (x0 + 100, y1 - 150),
        (x1 - 150, y1 - 150),
    ]
    squares = gpd.GeoSeries([box(x, y, x + 50, y + 50) for x, y in corners], crs=info.crs)
    extent_km2 = (x1 - x0) * (y1 - y0) / 1e6  # one 25 km tile holds the 10 km scene
    at.radio(key="rerun_how").set_value("polygon file")
    at.file_uploader(key="rerun_upload").set_value(
        ("aoi.geojson", squares.to_crs("EPSG:4326").to_json().encode(), "application/geo+json")
    )
    at.button[0].click().run()
    assert not at.exception
    [error] = at.error
    assert error.value.startswith(f"The region schedules 1 new tile covering {extent_km2:,.0f} km²")
    assert "limited to 50 km²" in error.value
    assert "rerun_job" not in at.session_state


def test_reruns_run_one_at_a_time_and_every_visitor_sees_the_queue(
    app_home: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import engine.pipeline
    from engine.errors import GroundwatchError

    release, started = threading.Event(), []

    def blocked_run(config, dataset, region, *, store, executor, progress):  # the page's call
        started.append(dataset)
        progress(0, 1)
        if not release.wait(60):
            raise AssertionError("never released")
        raise GroundwatchError("stopped by the test")

    monkeypatch.setattr(engine.pipeline, "run", blocked_run)
    visitors = [page("pages/rerun.py", app_home) for _ in range(2)]
    try:
        for at in visitors:
            at.radio(key="rerun_how").set_value("whole dataset")
            at.button[0].click().run()
            assert not at.exception and not at.error
            deadline = time.monotonic() + 60
            while not started and time.monotonic() < deadline:  # the first has begun
                time.sleep(0.05)
        jobs = [at.session_state["rerun_job"] for at in visitors]
        assert [j.status for j in jobs] == ["running", "queued"] and started == ["demo"]
        second = visitors[1].run()
        assert (
            second.info[0].value == "Your rerun is queued: 1 ahead of it. Reruns run one at a time."
        )
        queue = second.dataframe[0].value
        assert queue["status"].tolist() == ["running", "queued"]
        assert queue["yours"].tolist() == [False, True]
        again = visitors[0]
        again.button[0].click().run()  # a second request while the first waits
        assert again.error[0].value.startswith("Your rerun is still in the queue")
    finally:
        release.set()
    deadline = time.monotonic() + 60
    while any(j.status in ("queued", "running") for j in jobs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [j.status for j in jobs] == ["failed", "failed"] and started == ["demo", "demo"]
    assert visitors[0].run().error[0].value == "stopped by the test"
