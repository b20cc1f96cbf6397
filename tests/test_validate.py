"""engine.validate and its readers: GNSS ↔ InSAR validation of 004 §5.2.

Four kinds: hand-worked cases, recovery of known rates from synthetic PS points, regression
against 004 Table 2 and the real NGL series of MXTM, and bad files (one-line errors).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.config import ValidateParams
from engine.errors import InputError
from engine.ingest import ingest, read_benchmarks, read_pairs, read_tenv3
from engine.store import Store
from engine.synthetic import Viewing, los_unit_vector
from engine.validate import gnss_rates, search_boxes, validate_benchmarks, validate_pairs
from tests.conftest import PAPER_TABLES, real_path

TABLE2 = PAPER_TABLES / "van-anh-2020-table2.csv"
ASC, DESC = Viewing("ascending", 39.0, -8.94), Viewing("descending", 37.3, 191.42)


def _table2() -> Path:
    if not TABLE2.exists():
        pytest.skip(f"paper tables not available: {TABLE2}")
    return TABLE2


def _mxtm_independent() -> tuple[float, float]:
    """Vertical rate and its error by numpy.polyfit on the raw columns (weights 1/σ)."""
    raw = np.loadtxt(real_path("gnss_ngl_tenv3", "MXTM.NA.tenv3"), skiprows=1, usecols=range(3, 23))
    t = raw[:, 0] / 365.25  # MJD → years
    up_mm, sig_mm = (raw[:, 8] + raw[:, 9]) * 1000, raw[:, 13] * 1000
    (slope, _), cov = np.polyfit(t, up_mm, 1, w=1 / sig_mm, cov=True)
    return float(slope), float(np.sqrt(cov[0, 0]))


# ---------------------------------------------------------------- 004 Table 2 regression
def test_table2_deviations_r2_bias_and_mean_abs_deviation() -> None:
    published = pd.read_csv(_table2())
    result = validate_pairs(read_pairs(TABLE2, gnss_span_years=2))
    # rate = Δ1/2 (the two campaigns are 2 years apart), deviation = Δ1/2 − Δ2
    np.testing.assert_allclose(result.rows["gnss_rate"], published.iloc[:, 2] / 2)
    printed = published["deviation_mm_per_yr"].to_numpy()
    np.testing.assert_array_equal(result.rows["abs_deviation"].round(2), printed)
    signs = dict(zip(result.rows["id"], np.sign(result.rows["deviation"]), strict=True))
    assert signs["A122"] == 0 and signs["B72"] == signs["B9"] == -1
    assert sum(v > 0 for v in signs.values()) == 17  # InSAR shows more subsidence elsewhere
    s = result.stats
    assert round(s["r2"], 3) == 0.830  # squared Pearson correlation (004 Fig. 7 trend line)
    assert s["bias"] == pytest.approx(1.4475) and round(s["bias"], 1) == 1.4  # "± 1.5 mm"
    assert s["mean_abs_deviation"] == pytest.approx(1.7025)
    assert s["rmse"] == pytest.approx(math.sqrt(np.mean(printed**2)))
    # the other common R², 1 − SS_res/SS_tot about the 1:1 line, is not what 004 reports
    g, v = result.rows["gnss_rate"], result.rows["insar_velocity"]
    assert round(1 - ((g - v) ** 2).sum() / ((g - g.mean()) ** 2).sum(), 3) == 0.137


def test_table2_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["validate", "--pairs", str(_table2()), "--gnss-span-years", "2", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_matched"] == out["n_benchmarks"] == 20
    assert round(out["r2"], 3) == 0.830 and out["bias"] == pytest.approx(1.4475)
    assert out["mean_abs_deviation"] == pytest.approx(1.7025)
    assert out["rmse"] == pytest.approx(2.0336, abs=1e-4)
    printed = pd.read_csv(TABLE2)["deviation_mm_per_yr"].tolist()
    assert [round(abs(d), 2) for d in out["deviations"]] == printed
    assert out["unmatched"] == []


def test_pairs_displacement_needs_a_span(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--pairs", str(_table2())]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--gnss-span-years" in err
    assert "gnss_subsidence_mm_2018_01_to_2020_03" in err


def test_pairs_given_as_rates_in_cm(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("station,gps_rate_cm_yr,insar_velocity_mm_yr\nA,-1.0,-8.0\nB,0.5,4.0\nC,0,1\n")
    r = validate_pairs(read_pairs(f))
    assert r.rows["gnss_rate"].tolist() == [-10.0, 5.0, 0.0]
    assert r.rows["deviation"].tolist() == [-2.0, 1.0, -1.0]
    assert r.stats["bias"] == pytest.approx(-2 / 3) and r.stats["rmse"] == pytest.approx(
        math.sqrt(2)
    )


# ---------------------------------------------------------------- MXTM (real NGL series)
def test_mxtm_tenv3_vertical_rate() -> None:
    series = read_tenv3(real_path("gnss_ngl_tenv3", "MXTM.NA.tenv3"))
    assert series.station == "MXTM" and series.dates.size == 548
    assert (str(series.dates[0]), str(series.dates[-1])) == ("2017-06-15", "2019-05-04")
    assert series.lat == pytest.approx(19.48442, abs=1e-5)
    assert series.lon == pytest.approx(-98.97851, abs=1e-5)
    rates = gnss_rates(
        read_benchmarks(real_path("gnss_ngl_tenv3", "MXTM.NA.tenv3")), crs="EPSG:32614"
    )
    row = rates.iloc[0]
    slope, err = _mxtm_independent()
    assert row["rate_up"] == pytest.approx(slope, abs=1e-3)  # −284.27 mm/yr
    assert row["std_up"] == pytest.approx(err, rel=1e-3)  # 0.60 mm/yr, formal white noise
    assert round(row["rate_up"], 1) == -284.3 and round(row["std_up"], 2) == 0.60
    # the PROVENANCE's plain, unweighted line: −284.2 mm/yr (east +11.7, north −40.9 likewise)
    assert (round(row["rate_east"]), round(row["rate_north"])) == (12, -41)
    assert row["components"] == "enu" and row["n_epochs"] == 548 and row["method"] == "series"


def test_series_window_and_too_short_a_window() -> None:
    b = read_benchmarks(real_path("gnss_ngl_tenv3", "MXTM.NA.tenv3"))
    part = gnss_rates(b, crs="EPSG:32614", start="2017-10-01", end="2019-01-01").iloc[0]
    assert part["n_epochs"] < 548 and part["span_years"] == pytest.approx(1.25, abs=0.01)
    assert -300 < part["rate_up"] < -260
    with pytest.raises(InputError, match=r"MXTM.*within 2019-01-01"):
        gnss_rates(b, crs="EPSG:32614", start="2019-01-01")


# ---------------------------------------------------------------- hand-worked matching
def test_hand_worked_mean_median_min_points_and_nearest() -> None:
    rates = pd.DataFrame(
        {"id": ["A", "B"], "x": [0.0, 1000.0], "y": [0.0, 0.0], "rate_up": [-10.0, 2.0]}
    )
    # A: points at 3-4-5 m, 6-8-10 m and 12-16-20 m (on the radius: in); one at 30 m (out)
    pts = pd.DataFrame(
        {
            "x": [3.0, 6.0, 12.0, 30.0, 1100.0],
            "y": [4.0, 8.0, 16.0, 0.0, 0.0],
            "velocity": [-7.0, -8.0, -12.0, 50.0, 0.0],
            "geometry": "descending",
            "los_east": 0.6,
            "los_north": 0.0,
            "los_up": 0.8,
        }
    )
    r = validate_benchmarks(rates, pts)
    a, b = r.rows.iloc[0], r.rows.iloc[1]
    assert (a["n_points"], a["nearest_m"], a["insar_velocity"]) == (3, 5.0, -9.0)
    assert a["gnss_rate"] == pytest.approx(-8.0) and a["deviation"] == pytest.approx(1.0)
    assert a["components"] == "up" and bool(a["matched"])
    assert (b["n_points"], b["nearest_m"], bool(b["matched"])) == (0, 100.0, False)
    assert r.summary()["unmatched"] == [{"id": "B", "geometry": "descending", "nearest_m": 100.0}]
    assert r.stats["bias"] == pytest.approx(1.0) and math.isnan(r.stats["r2"])  # one pair

    med = validate_benchmarks(rates, pts, params=ValidateParams(statistic="median"))
    assert med.rows.iloc[0]["insar_velocity"] == -8.0
    few = validate_benchmarks(rates, pts, params=ValidateParams(min_points=4))
    assert not few.rows["matched"].any() and few.summary()["n_matched"] == 0
    near = validate_benchmarks(rates, pts, params=ValidateParams(search_m=50.0))
    assert math.isnan(near.rows.iloc[1]["nearest_m"])  # none within 50 m of B
    vert = validate_benchmarks(rates, pts, params=ValidateParams(direction="vertical"))
    # −7/0.8, −8/0.8, −12/0.8 → mean −11.25 against the GNSS vertical −10
    assert vert.rows.iloc[0]["insar_velocity"] == pytest.approx(-11.25)
    assert vert.rows.iloc[0]["gnss_rate"] == -10.0


def test_enu_projection_and_no_los_vectors() -> None:
    e, n, u = los_unit_vector(DESC)
    rates = pd.DataFrame(
        {"id": ["A"], "x": [0.0], "y": [0.0], "rate_east": [3.0], "rate_north": [-2.0]}
    ).assign(rate_up=-10.0, std_east=0.3, std_north=0.4, std_up=1.0)
    pts = pd.DataFrame({"x": [1.0], "y": [1.0], "velocity": [-5.0], "geometry": "descending"})
    pts = pts.assign(los_east=e, los_north=n, los_up=u)
    row = validate_benchmarks(rates, pts).rows.iloc[0]
    assert row["components"] == "enu"
    assert row["gnss_rate"] == pytest.approx(3 * e - 2 * n - 10 * u)
    assert row["gnss_rate_std"] == pytest.approx(math.hypot(0.3 * e, 0.4 * n, 1.0 * u))
    bare = validate_benchmarks(rates, pts.drop(columns=["los_east", "los_north", "los_up"]))
    assert bare.rows.iloc[0]["gnss_rate"] == -10.0 and "no LOS vectors" in bare.notes[0]


def test_no_points_nearby_and_east_west_products() -> None:
    rates = pd.DataFrame({"id": ["A"], "x": [0.0], "y": [0.0], "rate_up": [-10.0]})
    none = validate_benchmarks(rates, pd.DataFrame({"x": [], "y": [], "velocity": []}))
    s = none.summary()
    assert (s["n_benchmarks"], s["n_matched"], s["r2"], s["bias"]) == (1, 0, None, None)
    assert s["unmatched"] == [{"id": "A", "geometry": None, "nearest_m": None}]
    assert s["notes"] == ["no points within 1000 m of any benchmark"]
    # an EGMS L3 east-west product: comparable only with a GNSS east rate
    east = pd.DataFrame({"x": [1.0], "y": [0.0], "velocity": [2.5], "geometry": "east"})
    east = east.assign(los_east=1.0, los_north=0.0, los_up=0.0)
    left_out = validate_benchmarks(rates, east).summary()
    assert left_out["n_benchmarks"] == 1 and left_out["n_matched"] == 0
    assert "east: left out" in left_out["notes"][0]
    row = validate_benchmarks(rates.assign(rate_east=3.0, rate_north=1.0), east).rows.iloc[0]
    assert (row["gnss_rate"], row["deviation"]) == (3.0, 0.5)


def test_search_boxes_cover_each_neighbourhood_once() -> None:
    rng = np.random.default_rng(3)
    bx, by = rng.uniform(-5000, 5000, 15), rng.uniform(-5000, 5000, 15)
    boxes = search_boxes(bx, by, pad_m=700.0)
    px, py = rng.uniform(-6000, 6000, 20000), rng.uniform(-6000, 6000, 20000)
    inside = np.zeros(px.size, dtype=int)
    for b in boxes:
        inside += (px >= b.minx) & (px < b.maxx) & (py >= b.miny) & (py < b.maxy)
    assert inside.max() == 1  # disjoint: nothing read twice
    d = np.hypot(px[:, None] - bx, py[:, None] - by).min(axis=1)
    assert (inside[d <= 700] == 1).all()


# ---------------------------------------------------------------- synthetic recovery
def _truth(rng: np.random.Generator, n: int = 20) -> pd.DataFrame:
    """Benchmarks 400 m apart with known ENU rates (mm/yr)."""
    return pd.DataFrame(
        {
            "id": [f"B{i:02d}" for i in range(n)],
            "x": 500_000 + 400.0 * np.arange(n),
            "y": 5_000_000 + rng.uniform(-100, 100, n),
            "rate_east": rng.uniform(-5, 5, n),
            "rate_north": rng.uniform(-5, 5, n),
            "rate_up": rng.uniform(-30, 10, n),
        }
    )


def _ps_points(
    truth: pd.DataFrame, rng: np.random.Generator, *, k: int = 40, far: tuple[str, ...] = ()
) -> pd.DataFrame:
    """``k`` PS within 50 m of each benchmark per geometry (30–50 m for ``far`` ones).

    Each point sees the benchmark's motion along its own LOS vector (the incidence varies
    by ±1° across the swath) plus white noise of σ = 1 mm/yr.
    """
    parts = []
    for view in (ASC, DESC):
        for _, b in truth.iterrows():
            r = rng.uniform(30.0 if b["id"] in far else 0.0, 50.0, k)
            a = rng.uniform(0, 2 * np.pi, k)
            incidence = view.incidence_deg + rng.uniform(-1, 1, k)
            los = np.array([los_unit_vector(view._replace(incidence_deg=i)) for i in incidence])
            enu = b[["rate_east", "rate_north", "rate_up"]].to_numpy(np.float64)
            frame = pd.DataFrame(los, columns=["los_east", "los_north", "los_up"])
            frame["x"], frame["y"] = b["x"] + r * np.cos(a), b["y"] + r * np.sin(a)
            frame["velocity"] = los @ enu + rng.normal(0, 1.0, k)
            frame["geometry"] = view.geometry
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def test_recovery_of_known_rates_in_both_geometries() -> None:
    rng = np.random.default_rng(20240)
    truth = _truth(rng)
    pts = _ps_points(truth, rng, far=("B19",))
    r = validate_benchmarks(truth, pts)
    m = r.matched
    assert len(m) == 2 * 19 and set(m["geometry"]) == {"ascending", "descending"}
    assert "B19" not in set(m["id"]) and (m["components"] == "enu").all()
    # the GNSS side is exact; the InSAR side is a mean of n noisy points: 4σ/√n bounds it
    assert (m["abs_deviation"] <= 4.0 / np.sqrt(m["n_points"])).all()
    assert abs(r.stats["bias"]) < 0.3 and r.stats["rmse"] < 0.8
    assert r.stats["r2"] >= 0.98 and r.stats["slope"] == pytest.approx(1.0, abs=0.05)
    unmatched = r.summary()["unmatched"]
    assert {u["id"] for u in unmatched} == {"B19"} and len(unmatched) == 2
    b19 = truth.iloc[19]
    for u in unmatched:  # the distance to the closest point of its geometry
        own = pts[pts["geometry"] == u["geometry"]]
        d = np.hypot(own["x"] - b19["x"], own["y"] - b19["y"]).min()
        assert u["nearest_m"] == pytest.approx(d, abs=1e-6) and 30 <= u["nearest_m"] < 50
    by = r.summary()["by_geometry"]
    assert by["ascending"]["n_matched"] == by["descending"]["n_matched"] == 19


def test_recovery_with_vertical_gnss_and_vertical_motion() -> None:
    rng = np.random.default_rng(7)
    truth = _truth(rng).assign(rate_east=0.0, rate_north=0.0)  # the ground moves vertically
    pts = _ps_points(truth, rng)
    vertical_gnss = truth.drop(columns=["rate_east", "rate_north"])  # GNSS gives up only
    for direction, tol in (("los", 0.8), ("vertical", 1.0)):
        r = validate_benchmarks(vertical_gnss, pts, params=ValidateParams(direction=direction))
        assert len(r.matched) == 40 and set(r.matched["components"]) == {"up"}
        assert r.stats["rmse"] < tol and r.stats["r2"] >= 0.98, direction


# ---------------------------------------------------------------- benchmark file formats
def test_campaign_csv_rate_is_delta_over_delta_t(tmp_path: Path) -> None:
    f = tmp_path / "b.csv"
    f.write_text(
        "code,lon,lat,height1_m,date1,height2_m,date2,sigma1_mm,sigma2_mm\n"
        "A23,106.70,11.10,12.3456,2018-01-15,12.3340,2019-12-15,5,4\n"
    )
    b = read_benchmarks(f)
    row = gnss_rates(b, crs="EPSG:32648").iloc[0]
    years = 699 / 365.25  # 2018-01-15 → 2019-12-15
    assert row["rate_up"] == pytest.approx(-11.6 / years)
    assert row["std_up"] == pytest.approx(math.hypot(5, 4) / years)
    assert row["method"] == "campaign" and row["components"] == "up"
    assert 680_000 < row["x"] < 690_000  # UTM 48N: 106.7°E is 1.7° east of its meridian


def test_velocity_tables_and_series_column(tmp_path: Path) -> None:
    norcal = read_benchmarks(real_path("gnss_velocity_tables", "NorCal_stationvels.txt"))
    t = norcal.table
    assert len(t) == 284 and t["id"].iloc[0] == "ASHL"
    assert t[["rate_east", "rate_north", "rate_up"]].iloc[0].tolist() == [-1.42, 6.8, -1.05]
    assert t["std_up"].iloc[0] == 0.68
    with pytest.raises(InputError, match="column 'Vu', row 1: vertical rate is a placeholder"):
        read_benchmarks(
            real_path("gnss_velocity_tables", "Guatemala_gnss_ITRF08_Strain2DFormat.txt")
        )
    tenv3 = real_path("gnss_ngl_tenv3", "MXTM.NA.tenv3")
    (tmp_path / "MXTM.NA.tenv3").write_text(tenv3.read_text())
    f = tmp_path / "b.csv"
    f.write_text("station,series\nMXTM,MXTM.NA.tenv3\n")
    row = gnss_rates(read_benchmarks(f), crs="EPSG:32614").iloc[0]
    assert row["rate_up"] == pytest.approx(_mxtm_independent()[0], abs=1e-3)
    assert row["lat"] == pytest.approx(19.48442, abs=1e-5)


def test_xy_benchmarks_in_another_crs(tmp_path: Path) -> None:
    f = tmp_path / "b.csv"
    f.write_text("id,easting,northing,vu\nA,433000,434000,-3.5\n")  # Leeds in BNG
    same = gnss_rates(read_benchmarks(f), crs="EPSG:27700").iloc[0]
    assert (same["x"], same["y"], same["rate_up"]) == (433000.0, 434000.0, -3.5)
    moved = gnss_rates(read_benchmarks(f, xy_crs="EPSG:27700"), crs="EPSG:32630").iloc[0]
    assert 580_000 < moved["x"] < 600_000 and 5_960_000 < moved["y"] < 5_980_000


# ---------------------------------------------------------------- bad files
TENV3_HEAD = (
    "site YYMMMDD yyyy.yyyy __MJD week d reflon _e0(m) __east(m) ____n0(m) _north(m) u0(m) "
    "____up(m) _ant(m) sig_e(m) sig_n(m) sig_u(m) __corr_en __corr_eu __corr_nu "
    "_latitude(deg) _longitude(deg) __height(m)\n"
)
DAY = "MXTM 17JUN{d:02d} 2017.45 {mjd} 1953 4 -99.0 2256 0.66 2155291 0.60 2226 0.37 0.0 0.001 0.001 {su} -0.04 0.14 -0.07 19.48 -98.97 2226.3\n"  # noqa: E501


def _day(d: int, mjd: int | str | None = None, su: str = "0.004") -> str:
    return DAY.format(d=d, mjd=57904 + d if mjd is None else mjd, su=su)


@pytest.mark.parametrize(
    "name,text,where",
    [
        ("b.csv", "", "file is empty"),
        ("b.xlsx", "id,lon,lat,vu\n", "unknown file type '.xlsx'"),
        ("b.csv", "lon,lat,vu\n1,2,3\n", "no id column"),
        ("b.csv", "id,vu\nA,3\n", "no coordinate columns"),
        ("b.csv", "id,lon,lat,colour\nA,1,2,red\n", "no rate, campaign or series columns"),
        ("b.csv", "id,lon,lat,vu\nA,1,2,-3\nB,1,2,fast\n", "column 'vu', row 2: value 'fast' is not a number"),  # noqa: E501
        ("b.csv", "id,lon,lat,vu\nA,1,200,-3\n", "column 'lat', row 1: lat 200.0 out of range"),
        ("b.csv", "id,lon,lat,vu\nA,1,2,-3\nA,1,2,-3\n", "column 'id', row 2: id 'A' repeated"),
        ("b.csv", "id,lon,lat,up1,date1,up2,date2\nA,1,2,3,2018-01-01,4,2019-01-01\n", "column 'up1': units unknown"),  # noqa: E501
        ("b.csv", "id,lon,lat,up1_mm,date1,up2_mm,date2\nA,1,2,3,2018-01-01,4,someday\n", "column 'date2', row 1: value 'someday' is not a date"),  # noqa: E501
        ("b.csv", "id,lon,lat,up1_mm,date1,up2_mm,date2\nA,1,2,3,2018-01-01,4,2017-01-01\n", "row 1: date2 2017-01-01 is not after date1"),  # noqa: E501
        ("s.tenv3", "site date up\nMXTM 1 2\n", "header is not that of an NGL .tenv3 file"),
        ("s.tenv3", TENV3_HEAD, "no data rows"),
        ("s.tenv3", TENV3_HEAD + _day(1) + _day(2)[:-10] + "\n", "row 2: 22 fields"),
        ("s.tenv3", TENV3_HEAD + _day(1) + _day(2, mjd="x"), "column 'mjd', row 2: value 'x' is not a number"),  # noqa: E501
        ("s.tenv3", TENV3_HEAD + _day(2) + _day(1), "column 'mjd', row 2: date 2017-06-01 does not follow 2017-06-02"),  # noqa: E501
        ("s.tenv3", TENV3_HEAD + _day(1) + _day(2, su="0"), "column 'sig_u', row 2: sigma 0.0"),
    ],
)  # fmt: skip
def test_bad_gnss_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, where: str
) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(InputError) as info:
        read_benchmarks(f)
    message = str(info.value)
    assert message.startswith(str(f)) and where in message and "\n" not in message
    code = main(["validate", "--gnss", str(f), "--dataset", "d", "--store", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"error: {message}"


def test_cli_missing_dataset_and_bad_radius(tmp_path: Path, capsys) -> None:
    f = tmp_path / "b.csv"
    f.write_text("id,lon,lat,vu\nA,-1.5,53.8,-3\n")
    store = ["--store", str(tmp_path / "s")]
    assert main(["validate", "--gnss", str(f), *store]) == 2
    assert "--dataset" in capsys.readouterr().err
    assert main(["validate", "--gnss", str(f), "--dataset", "none", *store]) == 2
    assert "no dataset named 'none'" in capsys.readouterr().err
    assert main(["validate", "--gnss", str(f), "--dataset", "x", "--radius-m", "-5", *store]) == 2
    assert "--radius-m" in capsys.readouterr().err
    assert main(["validate", "--gnss", str(f), "--dataset", "x", "--start", "soon", *store]) == 2
    assert capsys.readouterr().err.startswith("error: --start: 'soon' is not a date")


# ---------------------------------------------------------------- CLI against a store
def _lonlat_points(lon0: float, lat0: float, offsets_m: np.ndarray) -> tuple[np.ndarray, ...]:
    """Points at east/north offsets (m) from a place, in degrees (a local flat approximation)."""
    m_per_deg = 111_320.0
    lon = lon0 + offsets_m[:, 0] / (m_per_deg * np.cos(np.radians(lat0)))
    return lon, lat0 + offsets_m[:, 1] / m_per_deg


def test_cli_gnss_against_a_store_dataset(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(11)
    store = Store(tmp_path / "s")
    bench = pd.DataFrame(
        {
            "id": ["L1", "L2", "L3", "L4", "FAR"],
            "lon": [-1.50, -1.49, -1.48, -1.47, -1.40],
            "lat": 53.80,
            "vu": [-8.0, -2.0, 1.0, -5.0, 0.0],
        }
    )
    e, n, u = los_unit_vector(DESC)
    rows = []
    for _, b in bench.iloc[:4].iterrows():
        lon, lat = _lonlat_points(b["lon"], b["lat"], rng.uniform(-12, 12, (6, 2)))
        v = b["vu"] * u + rng.normal(0, 0.3, 6)
        rows += [
            f"{a:.7f},{c:.7f},{w:.3f},{e},{n},{u}" for a, c, w in zip(lon, lat, v, strict=True)
        ]
    lon, lat = _lonlat_points(-1.40, 53.80, np.array([[300.0, 0.0]]))  # FAR: 300 m away
    rows.append(f"{lon[0]:.7f},{lat[0]:.7f},0.0,{e},{n},{u}")
    pts = tmp_path / "pts.csv"
    pts.write_text("lon,lat,velocity_mm_yr,los_east,los_north,los_up\n" + "\n".join(rows) + "\n")
    ingest([pts], name="leeds", store=store)
    bfile = tmp_path / "bench.csv"
    bench.to_csv(bfile, index=False)

    args = ["validate", "--gnss", str(bfile), "--dataset", "leeds", "--store", str(store.root)]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_benchmarks"] == 5 and out["n_matched"] == 4
    assert out["direction"] == "los" and out["radius_m"] == 20.0
    assert [b["id"] for b in out["benchmarks"]] == ["L1", "L2", "L3", "L4"]
    for b, vu in zip(out["benchmarks"], bench["vu"], strict=False):
        assert b["gnss_rate"] == pytest.approx(vu * u, abs=1e-4) and b["n_points"] == 6
        assert b["components"] == "up" and abs(b["deviation"]) < 0.5
    assert out["r2"] > 0.98 and abs(out["bias"]) < 0.3 and out["rmse"] < 0.5
    assert len(out["deviations"]) == 4
    [far] = out["unmatched"]
    assert far["id"] == "FAR" and far["nearest_m"] == pytest.approx(300.0, abs=2.0)

    assert main([*args, "--radius-m", "400"]) == 0  # FAR now matches its point 300 m away
    text = capsys.readouterr().out
    assert "5 of 5 benchmarks matched" in text and "R²" in text


def test_cli_mxtm_tenv3_against_a_store_dataset(tmp_path: Path, capsys) -> None:
    """The .tenv3 file as the benchmark: its ENU rates projected on descending LOS vectors."""
    series = read_tenv3(real_path("gnss_ngl_tenv3", "MXTM.NA.tenv3"))
    rates = gnss_rates(read_benchmarks(series.path), crs="EPSG:32614").iloc[0]
    e, n, u = los_unit_vector(DESC)
    los_rate = rates["rate_east"] * e + rates["rate_north"] * n + rates["rate_up"] * u
    rng = np.random.default_rng(5)
    lon, lat = _lonlat_points(series.lon, series.lat, rng.uniform(-10, 10, (8, 2)))
    v = los_rate + rng.normal(0, 1.0, 8)
    pts = tmp_path / "pts.csv"
    rows = [f"{a:.7f},{b:.7f},{w:.3f},{e},{n},{u}" for a, b, w in zip(lon, lat, v, strict=True)]
    pts.write_text("lon,lat,velocity_mm_yr,los_east,los_north,los_up\n" + "\n".join(rows) + "\n")
    store = Store(tmp_path / "s")
    ingest([pts], name="cdmx", store=store)  # no dates: the whole GNSS record is fitted
    args = ["validate", "--gnss", series.path, "--dataset", "cdmx", "--store", str(store.root)]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [b] = out["benchmarks"]
    assert b["id"] == "MXTM" and b["components"] == "enu" and b["n_points"] == 8
    assert b["gnss_rate"] == pytest.approx(los_rate, abs=1e-3)  # ≈ −243 mm/yr on the LOS
    assert b["insar_velocity"] == pytest.approx(v.mean(), abs=1e-3)
