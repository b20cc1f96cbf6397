"""Uploads never read server files or URLs; the rerun limit counts the tiles a region schedules."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from engine.access import Access, rerun_size_error
from engine.errors import InputError
from engine.uploads import read_gnss_upload, read_region_upload, read_vector_upload

BNG = "EPSG:27700"
LINE = LineString([(430_000, 335_000), (440_000, 335_000)])
TENV3 = """\
site YYMMMDD yyyy.yyyy __MJD week d reflon _e0(m) __east(m) n0(m) _north(m) u0(m) ____up(m) _ant(m) sig_e(m) sig_n(m) sig_u(m) __corr_en __corr_eu __corr_nu _latitude(deg) _longitude(deg) __height(m)
AAAA 20JAN01 2020.0014 58849 2086 3 -1.5 0 0.000 5900000 0.000 0 0.0000 0.0 0.001 0.001 0.003 0 0 0 52.9 -1.5 100.0
AAAA 21JAN01 2021.0014 59215 2138 5 -1.5 0 0.000 5900000 0.000 0 0.0050 0.0 0.001 0.001 0.003 0 0 0 52.9 -1.5 100.0
"""  # noqa: E501


def frame_bytes(tmp_path: Path, geoms: list, suffix: str, crs: str | None = BNG) -> bytes:
    path = tmp_path / f"f{suffix}"
    driver = "KML" if suffix == ".kml" else None  # LIBKML would write a folder
    gpd.GeoDataFrame({"n": range(len(geoms))}, geometry=geoms, crs=crs).to_file(path, driver=driver)
    return path.read_bytes()


def one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ 1. the formats read


def test_geojson_gpkg_and_kml_are_read_with_their_crs(tmp_path: Path) -> None:
    for suffix in (".geojson", ".gpkg"):
        frame = read_vector_upload(frame_bytes(tmp_path, [LINE], suffix), f"route{suffix}")
        assert frame.crs.to_epsg() == 27700 and frame.geometry.item().equals(LINE)
    lonlat = gpd.GeoSeries([LINE], crs=BNG).to_crs("EPSG:4326")
    frame = read_vector_upload(frame_bytes(tmp_path, list(lonlat), ".kml", "EPSG:4326"), "r.kml")
    assert frame.crs.to_epsg() == 4326
    np.testing.assert_allclose(shapely.get_coordinates(frame.geometry.item()),
                               shapely.get_coordinates(lonlat.item()), atol=1e-9)  # fmt: skip


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def shapefile_parts(tmp_path: Path, geoms: list) -> dict[str, bytes]:
    gpd.GeoDataFrame({"n": range(len(geoms))}, geometry=geoms, crs=BNG).to_file(tmp_path / "r.shp")
    return {p.name: p.read_bytes() for p in tmp_path.glob("r.*")}


def test_zipped_shapefile_parts_are_written_by_base_name_only(tmp_path: Path) -> None:
    parts = shapefile_parts(tmp_path, [LINE])
    members = {f"../../deep/{name}": data for name, data in parts.items()}
    members["notes/readme.vrt.txt"] = b"ignored: not a Shapefile part"
    frame = read_vector_upload(zipped(members), "route.zip")
    assert frame.geometry.item().equals(LINE) and frame.crs.to_epsg() == 27700
    assert not (tmp_path.parent / "deep").exists()


def test_region_upload_is_the_union_of_its_polygons_in_lonlat(tmp_path: Path) -> None:
    squares = [box(430_000, 335_000, 431_000, 336_000), box(431_000, 335_000, 432_000, 336_000)]
    data = frame_bytes(tmp_path, [*squares, LINE], ".gpkg")
    region = read_region_upload(data, "aoi.gpkg")
    back = gpd.GeoSeries([region], crs="EPSG:4326").to_crs(BNG).item()
    assert back.area == pytest.approx(2e6, rel=1e-6)  # the line is left out
    with pytest.raises(InputError, match="holds no polygon"):
        read_region_upload(frame_bytes(tmp_path, [LINE], ".geojson"), "line.geojson")


# ------------------------------------------------------------------ 2. what is refused


def ogr_vrt(target: Path) -> bytes:
    """An OGR VRT that makes GDAL read ``target`` (a server file) as a point layer."""
    return (
        f'<OGRVRTDataSource><OGRVRTLayer name="secret"><SrcDataSource>{target}</SrcDataSource>'
        f"<SrcLayer>{target.stem}</SrcLayer>"
        '<GeometryType>wkbPoint</GeometryType><GeometryField encoding="PointFromColumns" '
        'x="x" y="y"/></OGRVRTLayer></OGRVRTDataSource>'
    ).encode()


def test_vrt_content_is_refused_whatever_its_name(tmp_path: Path) -> None:
    secret = tmp_path / "server-secret.csv"
    secret.write_text("x,y,password\n1,2,hunter2\n")
    vrt = ogr_vrt(secret)
    vrt_file = tmp_path / "route.geojson"
    vrt_file.write_bytes(vrt)
    # what the test guards against: GDAL, left to sniff the content, reads the server file
    assert gpd.read_file(vrt_file)["password"].item() == "hunter2"
    for name in ("route.geojson", "route.json", "route.kml", "route.gpkg"):
        with pytest.raises(InputError, match="is GDAL VRT XML") as exc:
            read_vector_upload(vrt, name)
        assert "hunter2" not in one_line(exc) and str(secret) not in one_line(exc)
    raster_vrt = b'<VRTDataset rasterXSize="1"><VRTRasterBand/></VRTDataset>'
    with pytest.raises(InputError, match="is GDAL VRT XML"):
        read_vector_upload(raster_vrt, "aoi.geojson")
    with pytest.raises(InputError, match="is GDAL VRT XML"):  # a .shp that is a VRT
        read_vector_upload(zipped({"r.shp": vrt, "r.dbf": b""}), "route.zip")


@pytest.mark.parametrize("name", ["route.vrt", "route.shp", "route.csv", "route", "r.tif"])
def test_other_extensions_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="unsupported file type") as exc:
        read_vector_upload(b'{"type": "Point", "coordinates": [0, 0]}', name)
    assert one_line(exc).startswith(f"{name}: ")


@pytest.mark.parametrize(
    ("data", "name", "problem"),
    [
        (b'{"type": "Point", "coordinates": [0, 0], "x": "/vsicurl/http://10.0.0.1/"}',
         "a.geojson", r"names a GDAL virtual file \(/vsicurl…\)"),
        (b"/vsizip//etc/archive.zip/a.shp", "a.geojson", "names a GDAL virtual file"),
        (b"https://example.com/route.geojson", "a.geojson", "not JSON"),
        (json.dumps({"type": "Point", "coordinates": [0, 0], "crs": {
            "type": "link", "properties": {"href": "http://169.254.169.254/crs"}}}).encode(),
         "a.geojson", "has a crs member"),
        (json.dumps({"type": "Point", "coordinates": [0, 0], "crs": {
            "type": "name", "properties": {"name": "/etc/passwd"}}}).encode(),
         "a.geojson", "has a crs member"),
        (b'[1, 2]', "a.geojson", "is not GeoJSON"),
        (b"not sqlite at all", "a.gpkg", "is not a GeoPackage"),
        (b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
         b"<kml><Placemark><name>&x;</name></Placemark></kml>", "a.kml", "holds DOCTYPE"),
        (b"<kml><NetworkLink><Link><href>http://10.0.0.1/a.kml</href></Link></NetworkLink></kml>",
         "a.kml", "holds NetworkLink"),
        (b"<html/>", "a.kml", "is not KML"),
        (b"PK not really", "a.zip", "is not a zip file"),
        (zipped({"a.txt": b"x"}), "a.zip", "holds no .shp file"),
    ],
)  # fmt: skip
def test_content_that_is_not_its_format_or_points_elsewhere_is_refused(
    data: bytes, name: str, problem: str
) -> None:
    with pytest.raises(InputError, match=problem) as exc:
        read_vector_upload(data, name)
    assert one_line(exc).startswith(f"{name}: ")


def test_a_geojson_with_a_named_crs_is_read_in_that_crs() -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}
    obj = {"type": "Point", "coordinates": [430_000, 335_000], "crs": crs}
    assert read_vector_upload(json.dumps(obj).encode(), "p.geojson").crs.to_epsg() == 27700


def test_sizes_are_limited_before_and_after_unzipping(tmp_path: Path) -> None:
    data = frame_bytes(tmp_path, [LINE], ".geojson")
    with pytest.raises(InputError, match=r"is 0\.0 MB; expected a file of at most"):
        read_vector_upload(data, "route.geojson", max_bytes=len(data) - 1)
    bomb = zipped({"r.shp": b"\0" * (3 << 20), "r.dbf": b"\0"})  # compresses to a few kB
    assert len(bomb) < 1 << 20
    with pytest.raises(InputError, match="expands beyond the upload limit"):
        read_vector_upload(bomb, "route.zip", max_bytes=1 << 18)


# ------------------------------------------------------------------ 3. GNSS uploads


def test_gnss_series_may_only_name_files_uploaded_with_the_table(tmp_path: Path) -> None:
    on_server = tmp_path / "AAAA.tenv3"
    on_server.write_text(TENV3)  # a readable file on the server
    for series in (str(on_server), "../AAAA.tenv3", "sub/AAAA.tenv3", "BBBB.tenv3"):
        table = f"id,series\nA,{series}\n".encode()
        files = [("t.csv", table), ("AAAA.tenv3", TENV3.encode())]
        with pytest.raises(InputError) as exc:
            read_gnss_upload(files if series != str(on_server) else files[:1])
        message = one_line(exc)
        assert message.startswith("t.csv: column 'series', row 1: ")
        assert f"series {series!r} is not a file uploaded with the table" in message
    # the same file, uploaded with the table and named by its name, is read
    ok = read_gnss_upload([("t.csv", b"id,series\nA,AAAA.tenv3\n"), ("AAAA.tenv3", TENV3.encode())])
    assert ok.table["kind"].tolist() == ["series"] and list(ok.series) == ["A"]


def test_gnss_uploads_refuse_other_types_vsi_names_and_large_files() -> None:
    with pytest.raises(InputError, match="unsupported file type"):
        read_gnss_upload([("b.vrt", b"id,lon,lat,vu\n")])
    with pytest.raises(InputError, match="names a GDAL virtual file"):
        read_gnss_upload([("b.csv", b"id,series\nA,/vsicurl/http://10.0.0.1/a.tenv3\n")])
    with pytest.raises(InputError, match="at most"):
        read_gnss_upload([("b.csv", b"id,lon,lat,vu\n" * 100)], max_bytes=100)


# ------------------------------------------------------------------ 4. the scheduled-tile limit


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory):
    """Points every 2.5 km over 9 × 9 default tiles (25 km) of British National Grid."""
    from engine.ingest import IngestOptions, ingest
    from engine.store import Store

    store = Store(tmp_path_factory.mktemp("wide"))
    xs = np.arange(401_250, 625_000, 2_500.0)
    x, y = np.meshgrid(xs, xs - 200_000)
    path = store.root / "wide.csv"
    pd.DataFrame({"pid": np.arange(x.size), "x": x.ravel(), "y": y.ravel(),
                  "velocity": 0.0}).to_csv(path, index=False)  # fmt: skip
    ingest([path], name="wide", store=store,
           options=IngestOptions(geometry="ascending", source_crs=BNG, units="mm"))  # fmt: skip
    return store


def test_81_small_squares_schedule_81_tiles_and_are_refused(wide_store) -> None:
    from engine.config import RunConfig
    from engine.pipeline import Region, plan_run

    centres = [(400_000 + 25_000 * i + 12_500, 200_000 + 25_000 * j + 12_500)
               for i in range(9) for j in range(9)]  # fmt: skip
    squares = shapely.MultiPolygon([Point(c).buffer(25, cap_style="square") for c in centres])
    lonlat = gpd.GeoSeries([squares], crs=BNG).to_crs("EPSG:4326").item()
    plan = plan_run(RunConfig(), "wide", Region(polygon_lonlat=lonlat), store=wide_store)
    assert plan.area_km2 == pytest.approx(81 * 0.0025, rel=1e-3)  # what the old limit saw
    assert plan.tiles == 81 and plan.tiles_cached == 0
    assert plan.scheduled_km2 == pytest.approx(222.5**2, rel=1e-6)  # tiles within the data
    message = rerun_size_error(plan.tiles - plan.tiles_cached, plan.scheduled_km2, Access("open"))
    assert message is not None and "schedules 81 new tiles covering 49,506 km²" in message
    # one square: one tile, 625 km², within the default limit
    one = gpd.GeoSeries([Point(centres[40]).buffer(25)], crs=BNG).to_crs("EPSG:4326").item()
    plan = plan_run(RunConfig(), "wide", Region(polygon_lonlat=one), store=wide_store)
    assert plan.tiles == 1 and plan.scheduled_km2 == pytest.approx(625.0)
    assert rerun_size_error(1, plan.scheduled_km2, Access("open")) is None
