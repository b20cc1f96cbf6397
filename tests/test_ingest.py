"""engine.ingest on real products and small hand-made files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest

from engine.ingest import IngestOptions, ingest
from engine.store import Store
from tests.conftest import real_path


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_egms_bursts_from_zips(store: Store, egms_zips: list[Path]) -> None:
    info = ingest(egms_zips, name="ustica", store=store)
    assert info.points == {"ascending": 11_759, "descending": 11_590}
    assert info.crs == "EPSG:32633"  # Ustica, 13.17°E: UTM zone 33
    assert info.velocity_source == "column"
    assert (info.first_date, info.last_date) == ("2020-01-03", "2024-12-31")
    lon0, lat0, lon1, lat1 = info.bbox_lonlat
    assert 13.15 < lon0 < lon1 < 13.21 and 38.69 < lat0 < lat1 < 38.73

    table = store.read_points("ustica", geometry="descending")
    assert table.num_rows == 11_590
    assert set(pc.unique(table.column("track")).to_pylist()) == {"022"}
    los = np.stack([table.column(c).to_numpy() for c in ("los_east", "los_north", "los_up")])
    np.testing.assert_allclose(los[:, 0], [0.594, -0.12, 0.795], atol=1e-6)
    # the published first row of the descending burst survives the trip
    row = table.filter(pc.equal(table.column("pid"), "166ax5Ofja")).to_pylist()[0]
    assert row["velocity"] == pytest.approx(-2.1) and row["velocity_std"] == pytest.approx(0.1)
    assert row["d20200103"] == pytest.approx(-1.0) and row["d20200121"] == pytest.approx(0.8)
    assert row["lat"] == pytest.approx(38.690708)


def test_egms_extracted_csv_equals_zip(store: Store, egms_zips: list[Path]) -> None:
    csv = real_path("egms_ustica", "EGMS_L2b_117_0227_IW2_VV_2020_2024_1.csv")
    a = ingest([csv], name="a", store=store)
    b = ingest([egms_zips[1]], name="b", store=store)
    assert a.points == b.points == {"ascending": 11_759}
    va = store.read_points("a", columns=["pid", "velocity"]).sort_by("pid")
    vb = store.read_points("b", columns=["pid", "velocity"]).sort_by("pid")
    assert va.equals(vb)


def test_egms_l3_vertical_raster_and_csv(store: Store) -> None:
    tif = real_path("egms_ustica", "EGMS_L3_E45N17_100km_U_2020_2024_1.tiff")
    csv = real_path("egms_ustica", "EGMS_L3_E45N17_100km_U_2020_2024_1.csv")
    from_tif = ingest([tif], name="u_tif", store=store)
    from_csv = ingest([csv], name="u_csv", store=store)
    assert from_tif.points == from_csv.points == {"vertical": 522}
    a = store.read_points("u_tif", columns=["x", "y", "velocity", "los_up"]).sort_by(
        [("x", "ascending"), ("y", "ascending")]
    )
    b = store.read_points("u_csv", columns=["x", "y", "velocity", "los_up"]).sort_by(
        [("x", "ascending"), ("y", "ascending")]
    )
    np.testing.assert_allclose(a.column("x").to_numpy(), b.column("x").to_numpy(), atol=1e-3)
    np.testing.assert_allclose(a.column("velocity").to_numpy(), b.column("velocity").to_numpy())
    assert set(a.column("los_up").to_pylist()) == {1.0}


def test_dolphin_stack_velocity_from_timeseries(store: Store) -> None:
    folder = real_path("dolphin_west_texas_s1")
    files = sorted(folder.glob("displacement_*.tif"))
    info = ingest(files, name="tx", store=store, options=IngestOptions(geometry="ascending"))
    assert info.crs == "EPSG:32613"
    assert info.velocity_source == "timeseries"
    assert info.points == {"ascending": 129_111}  # pixels with ≥ 3 epochs
    assert (info.first_date, info.last_date) == ("2016-07-08", "2016-12-23")
    t = store.read_points("tx")
    # the reference pixel (row 258, col 142 of the 30 m grid) is zero at every epoch
    ref = t.filter(
        pc.and_(
            pc.equal(t.column("x"), 717600 + 142.5 * 30),
            pc.equal(t.column("y"), 3481740 - 258.5 * 30),
        )
    ).to_pylist()[0]
    assert ref["d20161223"] == 0.0 and ref["velocity"] == pytest.approx(0.0, abs=1e-3)
    # metres became millimetres: last-epoch spread is tens of mm
    last = t.column("d20161223").to_numpy()
    assert -60 < np.nanpercentile(last, 1) < -5 and 5 < np.nanpercentile(last, 99) < 60


def test_generic_csv_lonlat_with_unit_suffix(store: Store, tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "pts.csv",
        "ID,Longitude,Latitude,VEL_cm_yr\n"
        "a,-1.5,53.8,-0.5\nb,-1.5001,53.8001,0.25\nc,-1.4999,53.7999,\n",
    )
    info = ingest([path], name="leeds", store=store, options=IngestOptions(geometry="descending"))
    assert info.crs == "EPSG:27700"
    assert info.points == {"descending": 2}  # the row without a velocity is left out
    t = store.read_points("leeds").sort_by("pid")
    assert t.column("velocity").to_pylist() == [-5.0, 2.5]
    assert t.column("pid").to_pylist() == ["a", "b"]
    x, y = t.column("x").to_numpy(), t.column("y").to_numpy()
    assert 432_000 < x[0] < 434_000 and 433_000 < y[0] < 435_000  # Leeds in BNG


def test_generic_csv_easting_northing_and_dates(store: Store, tmp_path: Path) -> None:
    rows = ["easting,northing,D20200101,D20200701,D20210101,D20210701"]
    for i in range(5):
        v = -4.0 * i  # mm/yr
        rows.append(f"{430000 + 20 * i},{433000},0,{v / 2},{v},{1.5 * v}")
    path = _csv(tmp_path / "ts.csv", "\n".join(rows) + "\n")
    opts = IngestOptions(geometry="ascending", units="mm", source_crs="EPSG:27700")
    info = ingest([path], name="ts", store=store, options=opts)
    assert info.velocity_source == "timeseries" and info.crs == "EPSG:27700"
    t = store.read_points("ts").sort_by("x")
    np.testing.assert_allclose(t.column("velocity").to_numpy(), [0, -4, -8, -12, -16], rtol=0.01)
    np.testing.assert_array_equal(t.column("x").to_numpy(), 430000 + 20 * np.arange(5))


def test_parquet_and_geopackage(store: Store, tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    df = pd.DataFrame({"lon": [13.17, 13.18], "lat": [38.70, 38.71], "velocity_mm_yr": [1.0, -2.0]})
    df.to_parquet(tmp_path / "p.parquet")
    info = ingest(
        [tmp_path / "p.parquet"],
        name="pq",
        store=store,
        options=IngestOptions(geometry="ascending"),
    )
    assert info.points == {"ascending": 2}
    gdf = gpd.GeoDataFrame(
        {"vel_mm_yr": [3.0, 4.0]},
        geometry=[Point(430000, 433000), Point(430100, 433100)],
        crs=27700,
    )
    gdf.to_file(tmp_path / "p.gpkg")
    info = ingest(
        [tmp_path / "p.gpkg"],
        name="gpkg",
        store=store,
        options=IngestOptions(geometry="descending"),
    )
    t = store.read_points("gpkg").sort_by("x")
    assert info.crs == "EPSG:27700"
    assert t.column("x").to_pylist() == [430000.0, 430100.0]
    assert t.column("velocity").to_pylist() == [3.0, 4.0]
    assert 53.0 < t.column("lat").to_pylist()[0] < 54.5


def test_reingest_replaces_and_bbox_read(store: Store, tmp_path: Path) -> None:
    lines = ["lon,lat,velocity_mm_yr"] + [f"{-1.5 + i * 0.01},53.8,{i}" for i in range(50)]
    path = _csv(tmp_path / "a.csv", "\n".join(lines) + "\n")
    opts = IngestOptions(geometry="ascending")
    ingest([path], name="x", store=store, options=opts)
    info = ingest([path], name="x", store=store, options=opts)
    assert [d.name for d in store.datasets()] == ["x"]
    assert len(list((store.root / "datasets").iterdir())) == 1  # old files gone
    t = store.read_points("x")
    xs = np.sort(t.column("x").to_numpy())
    box = (xs[10] - 1, info.bbox_xy[1] - 1, xs[19] + 1, info.bbox_xy[3] + 1)
    assert store.read_points("x", bbox=box).num_rows == 10
    assert json.loads(json.dumps(info.summary()))["points"] == {"ascending": 50}
