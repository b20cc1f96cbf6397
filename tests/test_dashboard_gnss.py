"""Dashboard pages "GNSS validation" and "Time series", and the engine functions they call.

engine.series on a tiny store whose series are known (hand-worked and recovery cases),
engine.validate.validate_dataset against the command line on the same input, uploaded
benchmarks read from bytes, and AppTest runs of both pages on the demo store.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from engine.cli import main
from engine.config import ValidateParams
from engine.errors import InputError
from engine.ingest import IngestOptions, ingest, read_benchmarks, read_uploaded_benchmarks
from engine.runs import list_runs
from engine.series import (
    MAX_POINTS,
    fit_series,
    fitted_lines,
    has_time_series,
    points_in_site,
    points_near,
    read_point_series,
)
from engine.store import Store
from engine.timeseries import DAYS_PER_YEAR
from engine.validate import validate_dataset

ROOT = Path(__file__).resolve().parents[1]
TS_PAGE, GNSS_PAGE = (
    str(ROOT / "pages" / "time_series.py"),
    str(ROOT / "pages" / "gnss_validation.py"),
)
DATES = np.arange("2019-01-01", "2021-01-01", 12, dtype="datetime64[D]")  # 61 dates over 2 yr
LON0, LAT0, M_PER_DEG = -1.55, 53.80, 111_320.0


# ---------------------------------------------------------------- a tiny dataset with series
def _points(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n points 10 m apart eastwards, velocity −n/2…n/2 mm/yr, series v·t + N(0, 1 mm)."""
    east = np.arange(n) * 10.0
    v = np.linspace(-n / 2, n / 2, n)
    t = (DATES - DATES[0]).astype(np.float64) / DAYS_PER_YEAR
    disp = v[:, None] * t + rng.normal(0.0, 1.0, (n, t.size))
    frame = pd.DataFrame(
        {
            "pid": [f"P{i:02d}" for i in range(n)],
            "lon": LON0 + east / (M_PER_DEG * np.cos(np.radians(LAT0))),
            "lat": LAT0,
            "velocity": np.round(v, 3),
        }
    )
    dated = pd.DataFrame(disp.round(3), columns=[f"d{d:%Y%m%d}" for d in DATES.astype(object)])
    return pd.concat([frame, dated], axis=1)


@pytest.fixture(scope="module")
def ts_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, pd.DataFrame]:
    """Dataset "ts" (30 ascending points with 61-date series) and "flat" (velocities only)."""
    folder = tmp_path_factory.mktemp("series")
    store = Store(folder / "store")
    table = _points(30, np.random.default_rng(3))
    table.to_csv(folder / "ts.csv", index=False)
    options = IngestOptions(geometry="ascending", units="mm")
    ingest([folder / "ts.csv"], name="ts", store=store, options=options)
    table[["pid", "lon", "lat", "velocity"]].to_csv(folder / "flat.csv", index=False)
    ingest([folder / "flat.csv"], name="flat", store=store, options=options)
    return store, table


def test_read_point_series_reads_the_points_asked_in_order(ts_store) -> None:
    store, table = ts_store
    s = read_point_series(store, "ts", ["P07", "P02", " P07 ", ""])  # repeats, blanks ignored
    assert s.points["pid"].tolist() == ["P07", "P02"]
    assert s.points["geometry"].tolist() == ["ascending", "ascending"]
    np.testing.assert_array_equal(s.dates, DATES)
    expected = table.set_index("pid").loc[["P07", "P02"]].filter(regex=r"^d\d{8}$")
    np.testing.assert_allclose(s.displacements, expected.to_numpy(np.float32), atol=1e-6)
    truth = table.set_index("pid").loc[["P07", "P02"], "velocity"]
    np.testing.assert_allclose(s.points["velocity"], truth, atol=1e-3)
    long = s.long()
    assert len(long) == 2 * DATES.size and list(long.columns) == [
        "pid", "geometry", "date", "displacement_mm"
    ]  # fmt: skip


def test_point_limits_unknown_ids_and_datasets_without_series(ts_store) -> None:
    store, _ = ts_store
    with pytest.raises(InputError, match=f"21 chosen; expected at most {MAX_POINTS} at a time"):
        read_point_series(store, "ts", [f"P{i:02d}" for i in range(21)])
    assert len(read_point_series(store, "ts", [f"P{i:02d}" for i in range(20)]).points) == 20
    with pytest.raises(InputError, match="none chosen"):
        read_point_series(store, "ts", [" "])
    with pytest.raises(InputError, match="no point with id 'P99', \"x' OR '1'='1\""):
        read_point_series(store, "ts", ["P01", "P99", "x' OR '1'='1"])
    assert has_time_series(store, "ts") and not has_time_series(store, "flat")
    with pytest.raises(InputError, match="flat: has no time series"):
        read_point_series(store, "flat", ["P01"])
    assert store.read_points("ts", pids=[]).num_rows == 0
    assert store.read_points("ts", pids=["P03", "P04"], columns=["pid"]).num_rows == 2


def test_fit_series_hand_worked_line_and_fan(ts_store) -> None:
    """An exact line: velocity recovered exactly, error 0, fan closed; fan widths by hand."""
    store, _ = ts_store
    s = read_point_series(store, "ts", ["P00", "P01"])
    t = (DATES - DATES[0]).astype(np.float64) / DAYS_PER_YEAR
    exact = s._replace(displacements=np.stack([2.0 + 3.0 * t, -1.0 * t]).astype(np.float32))
    exact.displacements[1, :10] = np.nan  # P01 observed from the 11th date
    fits = fit_series(exact)
    assert fits["velocity"].tolist() == pytest.approx([3.0, -1.0], abs=1e-4)
    assert fits["intercept"].tolist() == pytest.approx([2.0, 0.0], abs=1e-4)
    assert fits["velocity_std"].tolist() == pytest.approx([0.0, 0.0], abs=1e-3)
    assert fits["n_epochs"].tolist() == [DATES.size, DATES.size - 10]
    lines = fitted_lines(exact, fits.assign(velocity_std=[0.5, 0.0]))
    p0, p1 = lines[lines["pid"] == "P00"], lines[lines["pid"] == "P01"]
    assert len(p0) == DATES.size and len(p1) == DATES.size - 10  # first to last observed
    np.testing.assert_allclose(p0["fitted_mm"], 2.0 + 3.0 * t, atol=1e-4)
    np.testing.assert_allclose(
        p0["upper_mm"] - p0["fitted_mm"], 0.5 * np.abs(t - t.mean()), atol=1e-9
    )
    np.testing.assert_allclose(p1["lower_mm"], p1["fitted_mm"])


def test_fit_series_recovers_known_velocities(ts_store) -> None:
    """Series v·t + N(0, 1 mm): v within 4σ, σ as for white noise, σ/√(n)/std(t)."""
    store, table = ts_store
    pids = table["pid"].iloc[::3].tolist()
    fits = fit_series(read_point_series(store, "ts", pids))
    truth = np.linspace(-15, 15, 30)[::3]
    t = (DATES - DATES[0]).astype(np.float64) / DAYS_PER_YEAR
    sigma = 1.0 / np.sqrt(t.size) / t.std()
    assert fits["pid"].tolist() == pids
    np.testing.assert_allclose(fits["velocity_std"], sigma, rtol=0.3)
    assert np.all(np.abs(fits["velocity"] - truth) < 4 * sigma)
    np.testing.assert_allclose(fits["product_velocity"], truth, atol=1e-3)


def test_points_near_and_in_site(ts_store) -> None:
    store, table = ts_store
    p5 = table.iloc[5]
    near = points_near(store, "ts", p5["lon"], p5["lat"], radius_m=15.0)
    assert near["pid"].tolist() == ["P05", "P04", "P06"]
    np.testing.assert_allclose(near["distance_m"], [0.0, 10.0, 10.0], atol=0.05)
    assert len(points_near(store, "ts", p5["lon"], p5["lat"], radius_m=1e4, limit=7)) == 7
    with pytest.raises(InputError, match="positive distance"):
        points_near(store, "ts", p5["lon"], p5["lat"], radius_m=0.0)
    lon = table["lon"].to_numpy()
    outline = shapely.box(lon[2] - 1e-5, LAT0 - 1e-4, lon[24] + 1e-5, LAT0 + 1e-4)
    inside = points_in_site(store, "ts", pd.Series({"site_id": "s", "geometry": outline}))
    within = table.iloc[2:25]  # P02 … P24, fastest first
    fastest = within.iloc[np.argsort(-np.abs(within["velocity"].to_numpy()), kind="stable")]
    assert inside["pid"].tolist() == fastest["pid"].iloc[:MAX_POINTS].tolist()
    assert len(points_in_site(store, "ts", outline, limit=3)) == 3


# ---------------------------------------------------------------- GNSS: the shared glue
def _demo_benchmarks(store: Store) -> pd.DataFrame:
    """Three benchmarks on demo points (rate = the point's velocity), one 5 km outside."""
    pts = store.read_points("demo", geometry="ascending", columns=["pid", "lon", "lat", "velocity"])
    pts = pts.to_pandas().sort_values("pid").iloc[[100, 5000, 20000]]
    bench = pd.DataFrame(
        {"id": ["B1", "B2", "B3"], "lon": pts["lon"].round(7), "lat": pts["lat"].round(7),
         "rate_mm_yr": pts["velocity"].round(2)}
    )  # fmt: skip
    far = {"id": "FAR", "lon": -1.30, "lat": 52.90, "rate_mm_yr": 0.0}
    return pd.concat([bench, pd.DataFrame([far])], ignore_index=True)


def _tenv3(station: str, lon: float, lat: float, up_mm_yr: float) -> str:
    """An NGL .tenv3 series: 800 days, up = up_mm_yr·t, from 2019-01-01 (MJD 58484)."""
    head = (
        "site YYMMMDD yyyy.yyyy __MJD week d reflon _e0(m) __east(m) ____n0(m) _north(m) u0(m) "
        "____up(m) _ant(m) sig_e(m) sig_n(m) sig_u(m) __corr_en __corr_eu __corr_nu "
        "_latitude(deg) _longitude(deg) __height(m)\n"
    )
    rows = [
        f"{station} 19JAN01 2019.0 {58484 + d} 2000 0 {lon:.1f} 0 0.0 0 0.0 100 "
        f"{up_mm_yr * d / DAYS_PER_YEAR / 1000:.6f} 0.0 0.001 0.001 0.003 0 0 0 "
        f"{lat:.7f} {lon:.7f} 100.0\n"
        for d in range(800)
    ]
    return head + "".join(rows)


def test_validate_dataset_is_the_command_line_path(
    demo_store: Store, tmp_path: Path, capsys
) -> None:
    bench = _demo_benchmarks(demo_store)
    f = tmp_path / "bench.csv"
    bench.to_csv(f, index=False)
    args = ["validate", "--gnss", str(f), "--dataset", "demo", "--store", str(demo_store.root)]
    assert main([*args, "--radius-m", "30", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    uploaded = read_uploaded_benchmarks([("bench.csv", f.read_bytes())])
    pd.testing.assert_frame_equal(uploaded.table, read_benchmarks(f).table)
    result = validate_dataset(demo_store, "demo", uploaded, params=ValidateParams(radius_m=30.0))
    assert result.summary() == cli
    assert cli["n_benchmarks"] == 4 and {b["id"] for b in cli["benchmarks"]} == {"B1", "B2", "B3"}
    # each matched row lists its points; the benchmark stands on its own point
    m = result.matched
    counts = result.points.groupby(["id", "geometry"]).size()
    assert [counts[(r.id, r.geometry)] for r in m.itertuples()] == m["n_points"].tolist()
    np.testing.assert_allclose(result.rows["lon"], np.tile(bench["lon"], 2), atol=1e-6)
    asc = validate_dataset(demo_store, "demo", uploaded, geometry="ascending")
    assert set(asc.rows["geometry"]) == {"ascending"} and len(asc.rows) == 4
    on_point = asc.rows.set_index("id").loc[["B1", "B2", "B3"], "nearest_m"]
    assert (on_point < 0.01).all()
    with pytest.raises(InputError, match="'east' not in dataset 'demo'"):
        validate_dataset(demo_store, "demo", uploaded, geometry="east")


def test_uploaded_benchmarks_tenv3_files_and_errors(tmp_path: Path) -> None:
    a, b = _tenv3("AAAA", -1.5, 52.9, -4.0), _tenv3("BBBB", -1.45, 52.91, 2.0)
    two = read_uploaded_benchmarks([("AAAA.tenv3", a.encode()), ("x/BBBB.tenv3", b.encode())])
    assert two.table["id"].tolist() == ["AAAA", "BBBB"] and two.table["row"].tolist() == [1, 2]
    assert two.series["BBBB"].path == "BBBB.tenv3" and two.path == "AAAA.tenv3, BBBB.tenv3"
    table = b"id,lon,lat,series\nA,-1.5,52.9,AAAA.tenv3\n"
    one = read_uploaded_benchmarks([("t.csv", table), ("AAAA.tenv3", a.encode())])
    assert one.table["kind"].tolist() == ["series"] and one.series["A"].path == "AAAA.tenv3"
    with pytest.raises(InputError) as info:
        read_uploaded_benchmarks([("b.csv", b"id,lon,lat,vu\nA,-1.5,52.9,abc\n")])
    assert str(info.value) == (
        "b.csv: column 'vu', row 1: value 'abc' is not a number; expected a number"
    )
    with pytest.raises(InputError, match=r"^t\.csv: .*'AAAA\.tenv3' is not a file uploaded with"):
        read_uploaded_benchmarks([("t.csv", table)])  # never looked for on the server
    with pytest.raises(InputError, match=r"BBBB\.tenv3: not named in the series column of t\.csv"):
        read_uploaded_benchmarks(
            [("t.csv", table), ("AAAA.tenv3", a.encode()), ("BBBB.tenv3", b.encode())]
        )
    with pytest.raises(InputError, match="more than one table"):
        read_uploaded_benchmarks([("a.csv", table), ("b.csv", table)])
    with pytest.raises(InputError, match="station 'AAAA' repeated"):
        read_uploaded_benchmarks([("a.tenv3", a.encode()), ("b.tenv3", a.encode())])


# ---------------------------------------------------------------- the pages (AppTest)
def _page(path: str, store: Store, **state: object) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    at.session_state["dataset"] = "demo"
    at.session_state["run"] = list_runs(store, "demo")[0].run_id
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _plotly(at: AppTest) -> dict:
    [chart] = at.get("plotly_chart")
    return json.loads(chart.proto.spec)


def test_gnss_page_explains_the_upload_then_validates(app_home: Store) -> None:
    at = _page(GNSS_PAGE, app_home)
    assert not at.exception
    assert "rate_mm_yr" in at.info[0].value and ".tenv3" in at.info[0].value
    assert at.slider(key="radius_m").value == 20.0 and at.radio(key="statistic").value == "mean"

    csv = _demo_benchmarks(app_home).to_csv(index=False).encode()
    at.file_uploader[0].set_value(("bench.csv", csv, "text/csv"))
    at.run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    expected = validate_dataset(app_home, "demo", read_uploaded_benchmarks([("b.csv", csv)]))
    assert metrics["Benchmarks matched"] == "3 of 4"
    assert metrics["R²"] == f"{expected.stats['r2']:.3f}"
    assert metrics["RMSE"] == f"{expected.stats['rmse']:.2f} mm/yr"
    rows = at.dataframe[0].value
    assert len(rows) == 8 and set(rows["Benchmark"]) == {"B1", "B2", "B3", "FAR"}
    figure = _plotly(at)
    assert figure["layout"]["title"]["text"].startswith(
        f"GNSS vs InSAR, {len(expected.matched)} matched"
    )
    assert {t["name"] for t in figure["data"]} >= {"ascending", "descending", "1:1"}
    assert at.get("deck_gl_json_chart") and at.get("download_button")

    at.selectbox(key="geometry").set_value("ascending").run()
    assert len(at.dataframe[0].value) == 4

    at.file_uploader[0].set_value(("bad.csv", b"id,lon,lat,vu\nA,-1.5,52.9,abc\n", "text/csv"))
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("bad.csv: column 'vu', row 1: value 'abc'")


def test_time_series_page_site_points(app_home: Store) -> None:
    at = _page(TS_PAGE, app_home)
    assert not at.exception and not at.error
    assert at.radio(key="ts_pick").value == "In a site"
    assert at.metric[0].value == "5"
    fits = at.dataframe[0].value
    assert len(fits) == 5 and np.isfinite(fits["Fitted velocity (mm/yr)"]).all()
    assert (fits["Its standard error (mm/yr)"] > 0).all()
    traces = _plotly(at)["data"]
    legend = [t["name"] for t in traces if t.get("showlegend", True)]
    assert len(legend) == 5 and all(" ± " in n and n.endswith("mm/yr") for n in legend)
    assert len(traces) == 5 * 4  # markers, line, fan edges
    at.multiselect[0].set_value(at.multiselect[0].value[:2]).run()
    assert at.metric[0].value == "2" and len(at.dataframe[0].value) == 2


def test_time_series_page_near_a_place_and_typed_ids(app_home: Store) -> None:
    at = _page(TS_PAGE, app_home)
    at.radio(key="ts_pick").set_value("Near a place").run()
    assert not at.exception and not at.error
    assert at.metric[0].value == "5"
    pids = app_home.read_points("demo", columns=["pid"]).column("pid").to_pylist()[:21]
    at.radio(key="ts_pick").set_value("By point id").run()
    at.text_area(key="ts_pids").set_value(", ".join(pids[:3])).run()
    assert at.metric[0].value == "3" and not at.error
    at.text_area(key="ts_pids").set_value(" ".join(pids)).run()
    assert not at.exception
    assert "21 chosen; expected at most 20" in at.error[0].value


def test_time_series_page_without_series(tmp_path: Path, monkeypatch) -> None:
    store = Store(tmp_path / "store")
    f = tmp_path / "v.csv"
    f.write_text("pid,lon,lat,velocity_mm_yr\nA,-1.5,53.8,1.0\nB,-1.6,53.9,2.0\n")
    ingest([f], name="demo", store=store, options=IngestOptions(geometry="ascending"))
    monkeypatch.setenv("GROUNDWATCH_HOME", str(store.root))
    at = AppTest.from_file(TS_PAGE, default_timeout=60)
    at.session_state["dataset"] = "demo"
    at.run()
    assert not at.exception and "has no time series" in at.info[0].value


@pytest.mark.parametrize(
    "page,title", [("pages/time_series.py", "Time series"), ("pages/gnss_validation.py", "GNSS")]
)
def test_pages_open_from_the_app_with_the_sidebar_state(
    app_home: Store, page: str, title: str
) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception and not at.error
    assert at.title[0].value.startswith(title)
    if title == "Time series":  # the sidebar's run: its first site's five fastest points
        assert at.metric[0].value == "5"
    else:
        assert "Upload GNSS benchmarks" in at.info[0].value
