"""Asset corridor: chainage, offset, selection and ranking by hand; route files; the page."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box
from streamlit.testing.v1 import AppTest

from engine.corridor import (
    corridor_polygon,
    corridor_sites,
    example_route,
    read_route,
    route_length_m,
    to_csv,
    to_geojson,
)
from engine.errors import InputError
from engine.runs import RunInfo, list_runs, read_sites
from engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
BNG = "EPSG:27700"
Y = 335_000.0  # the route runs east along y = 335 km, from x = 430 km to 440 km


def square(x: float, y: float, side: float = 100.0):
    return box(x - side / 2, y - side / 2, x + side / 2, y + side / 2)


def line(*xs: tuple[float, float]) -> gpd.GeoSeries:
    return gpd.GeoSeries([LineString([(x, Y) for x in pair]) for pair in xs], crs=BNG)


@pytest.fixture
def sites() -> gpd.GeoDataFrame:
    """Sites as a run stores them (WGS84), built as 100 m squares in British National Grid.

    a: 100 m north of the route at x = 432 km (its edge 100 m off, priority 1)
    b: 1 km north at x = 435 km (edge 950 m off, priority 5)
    c: astride the route at x = 437 km (priority 3)
    d: 5 km north at x = 437 km, highest level 0.9 (a site at P > 0.5 too)
    e: 2 km south at x = 438 km (never in a corridor below 1.95 km)
    """
    frame = gpd.GeoDataFrame(
        {
            "site_id": ["a", "b", "c", "d", "e"],
            "level": [0.5, 0.5, 0.5, 0.9, 0.5],
            "priority": [1.0, 5.0, 3.0, 9.0, 7.0],
            "motion": ["subsidence", "uplift", "subsidence", "subsidence", "uplift"],
            "v_mean": [-4.0, 2.0, np.nan, -6.0, 1.0],
        },
        geometry=[
            square(432_000, Y + 150),
            square(435_000, Y + 1_000),
            square(437_000, Y),
            square(437_000, Y + 5_000),
            square(438_000, Y - 2_000),
        ],
        crs=BNG,
    )
    return frame.to_crs("EPSG:4326")


# ------------------------------------------------------------------ chainage by hand


def test_chainage_offset_selection_and_rank_by_hand(sites: gpd.GeoDataFrame) -> None:
    out = corridor_sites(sites, line((430_000, 440_000)), buffer_m=250, level=0.5)
    # b (950 m) and e (1950 m) lie outside 250 m; c outranks a on priority
    assert out["site_id"].tolist() == ["c", "a"]
    assert out["rank"].tolist() == [1, 2]
    np.testing.assert_allclose(out["chainage_m"], [7_000, 2_000], atol=0.01)
    np.testing.assert_allclose(out["chainage_km"], [7.0, 2.0], atol=1e-5)
    np.testing.assert_allclose(out["offset_m"], [0, 100], atol=0.01)
    # the stretch within 250 m of a: |dx| ≤ √(250² − 100²) = 229.13 m beyond its 100 m side;
    # of c: 250 m beyond its sides (buffer polygons are 32-gons, hence the tolerance)
    reach = np.sqrt(250**2 - 100**2)
    np.testing.assert_allclose(out["chainage_from_m"], [6_700, 1_950 - reach], atol=1.0)
    np.testing.assert_allclose(out["chainage_to_m"], [7_300, 2_050 + reach], atol=1.0)
    assert out.crs.to_string() == "EPSG:4326"
    assert list(out.columns[:2]) == ["rank", "site_id"]
    assert {"priority", "motion", "v_mean", "geometry"} <= set(out.columns)


def test_wider_buffer_takes_in_more_sites_ranked_by_priority(sites: gpd.GeoDataFrame) -> None:
    out = corridor_sites(sites, line((430_000, 440_000)), buffer_m=1_000, level=0.5)
    assert out["site_id"].tolist() == ["b", "c", "a"]
    np.testing.assert_allclose(out["offset_m"], [950, 0, 100], atol=0.01)
    np.testing.assert_allclose(out["chainage_m"], [5_000, 7_000, 2_000], atol=0.01)


def test_a_level_keeps_the_sites_whose_highest_level_reaches_it(
    sites: gpd.GeoDataFrame,
) -> None:
    route = line((430_000, 440_000))
    assert corridor_sites(sites, route, buffer_m=250)["site_id"].tolist() == ["c", "a"]
    wide = corridor_sites(sites, route, buffer_m=6_000, level=0.5)
    assert wide["site_id"].tolist() == ["d", "e", "b", "c", "a"]  # by priority
    assert corridor_sites(sites, route, buffer_m=6_000, level=0.9)["site_id"].tolist() == ["d"]


def test_no_site_in_reach_gives_an_empty_table(sites: gpd.GeoDataFrame) -> None:
    far = gpd.GeoSeries([LineString([(400_000, 300_000), (401_000, 300_000)])], crs=BNG)
    out = corridor_sites(sites, far, buffer_m=250)
    assert out.empty and out.crs.to_string() == "EPSG:4326"
    assert list(out.columns[:4]) == ["rank", "site_id", "chainage_km", "chainage_m"]
    assert json.loads(to_geojson(out))["features"] == []


def test_ties_in_priority_go_by_chainage(sites: gpd.GeoDataFrame) -> None:
    same = sites.assign(priority=1.0)
    out = corridor_sites(same, line((430_000, 440_000)), buffer_m=1_000, level=0.5)
    assert out["site_id"].tolist() == ["a", "b", "c"]


def test_nearest_point_at_a_corner_or_a_bend() -> None:
    """A diamond's vertex faces the route; past an L-shaped route's bend, a square's corner."""
    diamond = Polygon([(433_000, Y + 100), (433_100, Y + 200), (433_000, Y + 300),
                       (432_900, Y + 200)])  # fmt: skip
    sites = gpd.GeoDataFrame(
        {"level": 0.5, "priority": [2.0, 1.0]},
        geometry=[diamond, square(435_200, Y - 200)],
        crs=BNG,
    )
    bend = gpd.GeoSeries([LineString([(430_000, Y), (435_000, Y), (435_000, Y + 5_000)])], crs=BNG)
    out = corridor_sites(sites, bend, buffer_m=250)
    np.testing.assert_allclose(out["offset_m"], [100, 150 * np.sqrt(2)], atol=0.01)
    np.testing.assert_allclose(out["chainage_m"], [3_000, 5_000], atol=0.01)


def test_reversed_route_measures_from_its_own_start(sites: gpd.GeoDataFrame) -> None:
    out = corridor_sites(sites, line((440_000, 430_000)), buffer_m=250, level=0.5)
    np.testing.assert_allclose(out["chainage_m"], [3_000, 8_000], atol=0.01)


def test_route_in_lonlat_picks_british_national_grid(sites: gpd.GeoDataFrame) -> None:
    route = line((430_000, 440_000)).to_crs("EPSG:4326")
    out = corridor_sites(sites, route, buffer_m=250, level=0.5)
    # a straight line in lon/lat is not quite straight in BNG: centimetres at 10 km
    np.testing.assert_allclose(out["chainage_m"], [7_000, 2_000], atol=0.5)
    assert route_length_m(route) == pytest.approx(10_000, abs=0.5)


def test_multipart_route_concatenates_parts_in_order(sites: gpd.GeoDataFrame) -> None:
    route = line((430_000, 434_000), (436_000, 440_000))  # a 2 km gap at 434–436 km
    out = corridor_sites(sites, route, buffer_m=250, level=0.5)
    # c at x = 437 km is 1 km into the second part, after the 4 km first part
    np.testing.assert_allclose(out["chainage_m"], [5_000, 2_000], atol=0.01)
    assert route_length_m(route) == pytest.approx(8_000)


def test_bad_buffer_is_refused(sites: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="buffer_m"):
        corridor_sites(sites, line((430_000, 440_000)), buffer_m=0)


def test_corridor_polygon_is_the_buffer_in_wgs84() -> None:
    corridor = corridor_polygon(line((430_000, 440_000)), 250)
    assert corridor.crs.to_string() == "EPSG:4326"
    area = corridor.to_crs(BNG).area.item()
    assert area == pytest.approx(10_000 * 500 + np.pi * 250**2, rel=1e-3)


# ------------------------------------------------------------------ route files


def write_route(path: Path, geoms: list, crs: str | None = BNG, **kwargs) -> Path:
    frame = gpd.GeoDataFrame({"part": range(len(geoms))}, geometry=geoms, crs=crs)
    frame.to_file(path, **kwargs)
    return path


def test_reads_geojson_from_path_bytes_and_file(tmp_path: Path) -> None:
    path = write_route(tmp_path / "hs2.geojson", [LineString([(430_000, Y), (440_000, Y)])])
    for route in (
        read_route(path),
        read_route(path.read_bytes(), name="hs2.geojson"),
        read_route(io.BytesIO(path.read_bytes()), name="hs2.geojson"),
    ):
        assert route["name"].item() == "hs2"
        assert route.crs.to_epsg() == 27700
        assert route.geometry.item().equals(LineString([(430_000, Y), (440_000, Y)]))


def test_reads_gpkg_bytes_picking_the_line_layer(tmp_path: Path) -> None:
    path = write_route(tmp_path / "r.gpkg", [Point(0, 0)], layer="stations")
    write_route(path, [LineString([(430_000, Y), (440_000, Y)])], layer="track", mode="a")
    route = read_route(path.read_bytes(), name="r.gpkg")
    assert route_length_m(route) == pytest.approx(10_000)


def test_reads_zipped_shapefile(tmp_path: Path) -> None:
    write_route(tmp_path / "r.shp", [LineString([(430_000, Y), (440_000, Y)])])
    archive = tmp_path / "r.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in tmp_path.glob("r.*"):
            if part.suffix != ".zip":
                z.write(part, part.name)
    route = read_route(archive.read_bytes(), name="route.zip")
    assert route_length_m(route) == pytest.approx(10_000)


def test_touching_parts_merge_into_one_line_in_file_direction(tmp_path: Path) -> None:
    # second part digitised backwards; merged, the line runs the way the first part does
    geoms = [LineString([(430_000, Y), (435_000, Y)]), LineString([(440_000, Y), (435_000, Y)])]
    route = read_route(write_route(tmp_path / "r.geojson", geoms))
    assert route["parts"].item() == 1
    assert route.geometry.item().coords[0] == (430_000, Y)
    assert route_length_m(route) == pytest.approx(10_000)


def test_separate_parts_keep_file_order(tmp_path: Path, sites: gpd.GeoDataFrame) -> None:
    geoms = [
        LineString([(436_000, Y), (440_000, Y)]),
        MultiLineString([[(430_000, Y), (432_000, Y)], [(432_000, Y), (434_000, Y)]]),
    ]
    route = read_route(write_route(tmp_path / "r.geojson", geoms))
    assert route["parts"].item() == 2
    first, second = route.geometry.item().geoms
    assert first.coords[0] == (436_000, Y) and second.coords[-1] == (434_000, Y)
    out = corridor_sites(sites, route, buffer_m=250, level=0.5)
    # c (437 km) is 1 km into the first part; a (432 km) 2 km into the second, after 4 km
    np.testing.assert_allclose(out["chainage_m"], [1_000, 6_000], atol=0.01)


def one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_points_only_is_refused(tmp_path: Path) -> None:
    path = write_route(tmp_path / "stations.geojson", [Point(430_000, Y)])
    with pytest.raises(InputError) as exc:
        read_route(path)
    assert "no line features (found Point)" in one_line(exc)
    assert one_line(exc).startswith(str(path))


def test_no_crs_is_refused(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="crs"):  # pyogrio warns on writing it
        path = write_route(tmp_path / "r.gpkg", [LineString([(0, 0), (1, 1)])], crs=None)
    with pytest.raises(InputError, match="no coordinate reference system") as exc:
        read_route(path.read_bytes(), name="upload.gpkg")
    assert one_line(exc).startswith("upload.gpkg: ")


def test_projected_coordinates_in_plain_geojson_are_refused() -> None:
    text = json.dumps({"type": "LineString", "coordinates": [[430_000, Y], [440_000, Y]]})
    with pytest.raises(InputError, match="outside the longitude/latitude range") as exc:
        read_route(text.encode(), name="bng.geojson")
    one_line(exc)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00\x01 not a route \xff", "cannot be read"),
        (b'{"type": "FeatureCollection", "features": []}', "no features"),
    ],
)
def test_garbage_and_empty_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as exc:
        read_route(data, name="route.geojson")
    assert one_line(exc).startswith("route.geojson: ")


def test_bytes_need_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        read_route(b"{}")


# ------------------------------------------------------------------ exports, example route


def test_exports_drop_polygons_and_write_null(sites: gpd.GeoDataFrame) -> None:
    out = corridor_sites(sites, line((430_000, 440_000)), buffer_m=250, level=0.5)
    table = pd.read_csv(io.BytesIO(to_csv(out)))
    assert "geometry" not in table.columns
    assert table["site_id"].tolist() == ["c", "a"]
    features = json.loads(to_geojson(out))["features"]
    assert [f["properties"]["site_id"] for f in features] == ["c", "a"]
    assert features[0]["properties"]["v_mean"] is None
    assert features[0]["geometry"]["type"] == "Polygon"


def test_example_route_crosses_the_bounds_through_a_point() -> None:
    bounds = (-1.6, 52.8, -1.4, 53.0)
    assert example_route(bounds).geometry.item().coords[:] == [(-1.6, 52.8), (-1.4, 53.0)]
    shifted = example_route(bounds, through=(-1.45, 52.9)).geometry.item()
    np.testing.assert_allclose(shifted.coords, [(-1.55, 52.8), (-1.4, 52.95)])


# ------------------------------------------------------------------ the page


def page() -> AppTest:
    """The dashboard, switched to the corridor page (the sidebar picks the store's one run)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    return at.switch_page("pages/corridor.py").run()


def rerun(at: AppTest, run: RunInfo) -> AppTest:
    """Run again with the sidebar's picks pinned: after switch_page, AppTest (1.67) leaves
    the sidebar out of its element tree, so a rerun would drop those widgets' values."""
    at.session_state["dataset"] = run.dataset
    at.session_state["run"] = run.run_id
    return at.run()


def test_page_lists_the_sites_along_the_example_route(app_home: Store) -> None:
    at = page()
    assert not at.exception
    assert "Upload a route" in at.info[0].value
    assert not at.metric

    run = list_runs(app_home)[0]  # the only run, so the one the sidebar picked
    sites = read_sites(app_home, run.run_id)
    route = example_route(app_home.dataset(run.dataset).bbox_lonlat)
    at.button(key="corridor_example_button").click()
    rerun(at, run)
    assert not at.exception
    expected = corridor_sites(sites, route, buffer_m=250, level=0.5, crs=run.crs)
    assert len(expected) > 0
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Route length"] == f"{route_length_m(route, crs=run.crs) / 1000:.2f} km"
    assert metrics["Sites in corridor"] == str(len(expected))
    counts = expected["motion"].value_counts()
    assert metrics["Subsidence"] == str(counts.get("subsidence", 0))
    assert metrics["Uplift"] == str(counts.get("uplift", 0))
    shown = at.dataframe[0].value
    assert shown["Site"].tolist() == expected["site_id"].tolist()
    np.testing.assert_allclose(shown["Chainage (km)"], expected["chainage_km"])
    assert "geometry" not in shown.columns
    assert [b.label for b in at.get("download_button")] == ["CSV", "GeoJSON"]
    layers = json.loads(at.get("deck_gl_json_chart")[0].proto.json)["layers"]
    by_id = {layer["id"]: layer for layer in layers}
    assert {"corridor", "route", "sites"} <= set(by_id)  # over the measured points
    assert len(by_id["sites"]["data"]["features"]) == len(expected)

    at.slider(key="corridor_buffer_m").set_value(2_000)
    at.selectbox(key="corridor_level").set_value(0.75)
    rerun(at, run)
    assert not at.exception
    wider = corridor_sites(sites, route, buffer_m=2_000, level=0.75, crs=run.crs)
    assert {m.label: m.value for m in at.metric}["Sites in corridor"] == str(len(wider))
    assert at.dataframe[0].value["Site"].tolist() == wider["site_id"].tolist()
