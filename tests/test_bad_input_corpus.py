"""A corpus of malformed inputs, each refused by ``ingest`` with one clear line.

Every case builds its bad file(s) in a temporary folder and runs the real command line
(``engine.cli.main``, in-process so that the corpus stays fast). Each must end with exit
code 2, exactly one ``error:`` line on stderr naming the file (and the row or column where
there is one), no traceback, and every file of the store byte-identical to before. The
store is shared by all cases and holds one dataset, so "unchanged" is a real check.

The ingest guard that turns an unforeseen exception into "could not be read" would hide a
missing check, so no case may end in that message: each is caught where it arises.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from shapely.geometry import MultiPoint, Point, box

from engine.cli import main
from engine.store import Store

GOOD = "lon,lat,velocity_mm_yr\n-1.5,53.8,1.0\n-1.6,53.9,2.0\n"
ASC = ["--geometry", "ascending"]


class Case(NamedTuple):
    """``build(folder)`` writes the bad input and returns the ``ingest`` arguments."""

    build: Callable[[Path], list[str]]
    expect: tuple[str, ...]  # substrings the error line must hold


def _text(name: str, text: str, *extra: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        (folder / name).write_text(text)
        return [str(folder / name), *extra]

    return build


def _bytes(name: str, data: bytes, *extra: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        (folder / name).write_bytes(data)
        return [str(folder / name), *extra]

    return build


def _garbage(n: int) -> bytes:
    return np.random.default_rng(18).integers(0, 256, n, dtype=np.uint8).tobytes()


def _zip(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for member, data in members.items():
            z.writestr(member, data)
    return buf.getvalue()


def _corrupt_member(folder: Path) -> list[str]:
    """A stored (uncompressed) member with one byte changed: only its CRC-32 tells."""
    rows = "".join(f"-1.{i % 9},53.{i % 9},{i % 7}.0\n" for i in range(2000))
    data = bytearray(
        _zip({"pts.csv": ("lon,lat,velocity_mm_yr\n" + rows).encode()}, method=zipfile.ZIP_STORED)
    )
    at = data.index(b"\n-1.5,53.5") + 3
    data[at] = ord("7")  # still valid CSV, wrong checksum
    (folder / "crc.zip").write_bytes(bytes(data))
    return [str(folder / "crc.zip"), *ASC]


def _corrupt_deflate(folder: Path) -> list[str]:
    rows = "".join(f"-1.{i % 9},53.{i % 9},{i % 7}.0\n" for i in range(20000))
    data = bytearray(_zip({"pts.csv": ("lon,lat,velocity_mm_yr\n" + rows).encode()}))
    for k in range(200, 400):
        data[k] ^= 0x5A
    (folder / "deflate.zip").write_bytes(bytes(data))
    return [str(folder / "deflate.zip"), *ASC]


def _patched_zip(folder: Path, name: str, *, flag: int = 0, method: int | None = None) -> list[str]:
    """A zip whose member says it is encrypted (flag bit 0) or uses another method."""
    data = bytearray(_zip({"pts.csv": GOOD.encode()}))
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = data.index(signature)
        old = struct.unpack("<H", data[i + flag_at : i + flag_at + 2])[0]
        data[i + flag_at : i + flag_at + 2] = struct.pack("<H", old | flag)
        if method is not None:
            data[i + method_at : i + method_at + 2] = struct.pack("<H", method)
    (folder / name).write_bytes(bytes(data))
    return [str(folder / name), *ASC]


def _features(folder: Path, geometries: list) -> list[str]:
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(
        {"vel_mm_yr": [1.0] * len(geometries)}, geometry=geometries, crs="EPSG:4326"
    )
    gdf.to_file(folder / "f.gpkg")
    return [str(folder / "f.gpkg"), *ASC]


def _twice(folder: Path) -> list[str]:
    (folder / "p.csv").write_text(GOOD)
    return [str(folder / "p.csv"), str(folder / "." / "p.csv"), *ASC]


def _zip_bomb(folder: Path) -> list[str]:
    """300 MB of one line, compressed to ~300 kB: refused from the sizes it declares."""
    path = folder / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("bomb.csv", "w", force_zip64=True) as fh:
            fh.write(b"lon,lat,velocity_mm_yr\n-1.5,53.8,")
            chunk = b"1" * (1 << 20)
            for _ in range(300):
                fh.write(chunk)
    return [str(path), *ASC]


def _shapefile(folder: Path, drop: str) -> list[str]:
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(
        {"vel_mm_yr": [1.0, 2.0]},
        geometry=[Point(-1.5, 53.8), Point(-1.6, 53.9)],
        crs="EPSG:4326",
    )
    gdf.to_file(folder / "pts.shp")
    (folder / f"pts.{drop}").unlink()
    return [str(folder / "pts.shp"), *ASC]


def _polygons_gpkg(folder: Path) -> list[str]:
    import geopandas as gpd

    gdf = gpd.GeoDataFrame({"velocity_mm_yr": [1.0]}, geometry=[box(0, 50, 1, 51)], crs=4326)
    gdf.to_file(folder / "poly.gpkg")
    return [str(folder / "poly.gpkg"), *ASC]


def _geojson_projected(folder: Path) -> list[str]:
    features = [
        {
            "type": "Feature",
            "properties": {"velocity_mm_yr": v},
            "geometry": {"type": "Point", "coordinates": [430000.0 + 10 * i, 330000.0]},
        }
        for i, v in enumerate([1.0, 2.0])
    ]
    path = folder / "bng.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return [str(path), *ASC]


def _parquet(folder: Path, name: str, table: dict, *, truncate: bool = False) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / name
    pq.write_table(pa.table(table), path)
    if truncate:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return [str(path), *ASC]


def _geotiff(
    folder: Path, name: str, *, crs: str | None, units: str | None, truncate: bool = False
) -> Path:
    import rasterio
    from affine import Affine

    path = folder / name
    data = np.arange(64 * 64, dtype=np.float32).reshape(64, 64) / 1000
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="float32",
        crs=crs,
        transform=Affine(10, 0, 430000, 0, -10, 340000),
    ) as dst:
        dst.write(data, 1)
        if units:
            dst.update_tags(1, units=units)
    if truncate:
        path.write_bytes(path.read_bytes()[:2000])
    return path


def _stack_mixed_refs(folder: Path) -> list[str]:
    a = _geotiff(folder, "disp_20200101_20200201.tif", crs="EPSG:27700", units="m")
    b = _geotiff(folder, "disp_20200115_20200301.tif", crs="EPSG:27700", units="m")
    return [str(a), str(b), *ASC]


def _long_row(folder: Path) -> list[str]:
    """A 3 MB line: more than the 1 MiB Arrow reads at a time with these batch sizes."""
    (folder / "long.csv").write_text(
        GOOD.splitlines()[0] + "\n-1.5,53.8,1\n-1.6,53.9," + "9" * 3_000_000
    )
    (folder / "small.yaml").write_text("ingest:\n  batch_rows: 1000\n")
    return [str(folder / "long.csv"), *ASC, "--config", str(folder / "small.yaml")]


def _folder(folder: Path) -> list[str]:
    (folder / "sub").mkdir()
    return [str(folder / "sub"), *ASC]


def _long_name(folder: Path) -> list[str]:
    return [str(folder / ("p" * 300 + ".csv")), *ASC]


def _config(folder: Path) -> list[str]:
    (folder / "pts.csv").write_text(GOOD)
    (folder / "run.yaml").write_text("crs: garbage\n")
    return [str(folder / "pts.csv"), *ASC, "--config", str(folder / "run.yaml")]


def _en(folder: Path, *extra: str) -> list[str]:
    (folder / "en.csv").write_text("easting,northing,velocity_mm_yr\n430000,330000,1.0\n")
    return [str(folder / "en.csv"), *ASC, *extra]


DATED = "lon,lat,{}\n-1.5,53.8,0,1,2\n-1.6,53.9,0,2,4\n"

CASES: dict[str, Case] = {
    # --- text that is not a point table
    "empty": Case(_text("empty.csv", "", *ASC), ("empty.csv", "empty")),
    "blank_lines": Case(_text("blank.csv", "\n\n\n", *ASC), ("blank.csv",)),
    "header_only": Case(_text("header.csv", "lon,lat,velocity_mm_yr\n", *ASC), ("no rows",)),
    "binary_garbage": Case(_bytes("noise.csv", _garbage(5000), *ASC), ("noise.csv",)),
    "nul_bytes": Case(_bytes("nul.csv", GOOD.encode() + b"-1.5,\x00\x00,1\n", *ASC), ("nul.csv",)),
    "utf16": Case(_bytes("u16.csv", GOOD.encode("utf-16"), *ASC), ("u16.csv", "UTF-16")),
    "latin1_value": Case(
        _bytes(
            "latin.csv", "pid,lon,lat,velocity_mm_yr\ncaf\xe9,-1.5,53.8,1\n".encode("latin-1"), *ASC
        ),
        ("latin.csv", "row 1", "UTF-8"),
    ),
    "ragged_long_row": Case(
        _text("ragged.csv", GOOD + "-1.7,54.0,1.0,9\n", *ASC), ("ragged.csv", "row 3")
    ),
    "ragged_short_row": Case(
        _text("short.csv", GOOD + "-1.7,54.0\n", *ASC), ("short.csv", "row 3")
    ),
    "unterminated_quote": Case(
        _text("quote.csv", GOOD + '-1.7,54.0,"1.0\n-1.8,54.1,2.0\n', *ASC),
        ("quote.csv", "row 3", "never closed"),
    ),
    "header_field_over_128k": Case(
        _text("wide.csv", "lon,lat,velocity_mm_yr," + "h" * 200_000 + "\n-1.5,53.8,1,2\n", *ASC),
        ("wide.csv", "header"),
    ),
    "semicolon_no_velocity": Case(
        _text("semi.csv", "lon;lat;height\n-1,5;53,8;10\n", *ASC), ("semi.csv", "velocity")
    ),
    # --- values
    "text_velocity": Case(
        _text("text.csv", GOOD + "-1.7,54.0,fast\n", *ASC), ("'velocity_mm_yr'", "row 3", "'fast'")
    ),
    "text_latitude": Case(
        _text("lattext.csv", "lon,lat,velocity_mm_yr\n-1.5,north,1\n", *ASC),
        ("'lat'", "row 1", "'north'"),
    ),
    "huge_value": Case(
        _text("huge.csv", GOOD + "-1.7,54.0," + "9" * 400_000 + "x\n", *ASC),
        ("huge.csv", "row 3"),
    ),
    "row_longer_than_a_block": Case(_long_row, ("long.csv", "row 2", "longer than 1 MiB")),
    "lat_out_of_range": Case(
        _text("lat.csv", GOOD + "-1.7,95,1\n", *ASC), ("'lat'", "row 3", "95 out of range")
    ),
    "lon_out_of_range": Case(
        _text("lon.csv", GOOD + "-190,53,1\n", *ASC), ("'lon'", "row 3", "-190 out of range")
    ),
    "missing_lat": Case(_text("nolat.csv", GOOD + "-1.7,,1\n", *ASC), ("'lat'", "row 3")),
    "inf_velocity": Case(_text("inf.csv", GOOD + "-1.7,54.0,inf\n", *ASC), ("row 3", "velocity")),
    "implausible_velocity": Case(
        _text("metres.csv", "lon,lat,velocity\n-1.5,53.8,2.5\n", *ASC, "--units", "m/yr"),
        ("row 1", "check --units"),
    ),
    "all_velocities_missing": Case(
        _text("nan.csv", "lon,lat,velocity_mm_yr\n-1.5,53.8,\n-1.6,53.9,nan\n", *ASC),
        ("nan.csv", "no points with a velocity"),
    ),
    # --- columns
    "no_velocity_column": Case(
        _text("novel.csv", "lon,lat,height\n-1.5,53.8,10\n", *ASC), ("no velocity column",)
    ),
    "no_coordinates": Case(
        _text("nocoord.csv", "a,b,velocity_mm_yr\n1,2,3\n", *ASC), ("no coordinate columns",)
    ),
    "duplicate_velocity_columns": Case(
        _text("dup.csv", "lon,lat,velocity_mm_yr,mean_velocity_mm_yr\n-1.5,53.8,1,2\n", *ASC),
        ("dup.csv", "'velocity_mm_yr'", "'mean_velocity_mm_yr'"),
    ),
    "same_column_twice": Case(
        _text("twice.csv", "lon,lat,velocity_mm_yr,velocity_mm_yr\n-1.5,53.8,1,2\n", *ASC),
        ("twice.csv", "'velocity_mm_yr'"),
    ),
    "units_unknown": Case(
        _text("nounits.csv", "lon,lat,velocity\n-1.5,53.8,1\n", *ASC), ("units unknown", "--units")
    ),
    "units_flag_unknown": Case(_text("u.csv", GOOD, *ASC, "--units", "furlongs"), ("furlongs",)),
    "geometry_unknown": Case(_text("nogeom.csv", GOOD), ("--geometry",)),
    "pass_direction_unknown": Case(
        _text("pass.csv", "lon,lat,velocity_mm_yr,pass\n-1.5,53.8,1,sideways\n"), ("sideways",)
    ),
    "column_flag_missing": Case(
        _text("c.csv", GOOD, *ASC, "--column", "velocity=speed"), ("c.csv", "'speed'")
    ),
    "column_flag_unknown_role": Case(
        _text("r.csv", GOOD, *ASC, "--column", "colour=velocity_mm_yr"), ("'colour'",)
    ),
    "easting_without_crs": Case(_en, ("en.csv", "--source-crs")),
    # --- time-series dates
    "date_month_13": Case(
        _text("m13.csv", DATED.format("20200101,20201301,20200201"), *ASC, "--units", "mm"),
        ("m13.csv", "'20201301'"),
    ),
    "date_feb_30": Case(
        _text("f30.csv", DATED.format("20200101,20200230,20200301"), *ASC, "--units", "mm"),
        ("f30.csv", "'20200230'"),
    ),
    "date_repeated": Case(
        _text("rep.csv", DATED.format("20200101,D20200101,20200301"), *ASC, "--units", "mm"),
        ("rep.csv", "'D20200101'"),
    ),
    # --- files
    "no_such_file": Case(lambda f: [str(f / "nope.csv"), *ASC], ("nope.csv", "no such file")),
    "folder_as_file": Case(_folder, ("sub", "folder")),
    "name_too_long": Case(_long_name, ("ppp", "too long")),
    "unknown_suffix": Case(_text("pts.xyz", GOOD, *ASC), ("pts.xyz", "unknown file type")),
    "zip_truncated": Case(
        _bytes("trunc.zip", _zip({"pts.csv": GOOD.encode() * 50})[:120], *ASC),
        ("trunc.zip", "zip"),
    ),
    "zip_garbage": Case(_bytes("noise.zip", _garbage(3000), *ASC), ("noise.zip", "zip")),
    "zip_two_csvs": Case(
        _bytes("two.zip", _zip({"a.csv": GOOD.encode(), "b.csv": GOOD.encode()}), *ASC),
        ("two.zip", "2 CSV"),
    ),
    "zip_without_csv": Case(_bytes("none.zip", _zip({"a.txt": b"hi"}), *ASC), ("CSV",)),
    "zip_crc_error": Case(_corrupt_member, ("crc.zip", "CRC")),
    "zip_corrupt_deflate": Case(_corrupt_deflate, ("deflate.zip", "corrupt")),
    "zip_bomb_one_line": Case(_zip_bomb, ("bomb.zip", "bomb.csv")),
    "zip_encrypted": Case(lambda f: _patched_zip(f, "enc.zip", flag=1), ("enc.zip", "encrypted")),
    "zip_deflate64": Case(lambda f: _patched_zip(f, "d64.zip", method=9), ("d64.zip", "method 9")),
    "same_file_twice": Case(_twice, ("p.csv", "given twice")),
    "no_header_line": Case(
        _text("nohead.csv", "-1.5,53.8,1\n-1.6,53.9,2\n", *ASC), ("nohead.csv", "holds numbers")
    ),
    "los_east_missing": Case(
        _text("los.csv", "lon,lat,velocity_mm_yr,los_east\n-1.6,53.9,2,0.6\n-1.5,53.8,1,\n"),
        ("'los_east'", "row 2", "line-of-sight"),
    ),
    "heading_missing": Case(
        _text("hd.csv", "lon,lat,velocity_mm_yr,heading\n-1.5,53.8,1,\n"),
        ("'heading'", "row 1"),
    ),
    "pass_missing": Case(
        _text("pass.csv", "lon,lat,velocity_mm_yr,pass\n-1.5,53.8,1,A\n-1.6,53.9,2,\n"),
        ("'pass'", "row 2"),
    ),
    "pass_unknown_row": Case(
        _text("pass2.csv", "lon,lat,velocity_mm_yr,pass\n-1.5,53.8,1,A\n-1.6,53.9,2,up-ish\n"),
        ("'pass'", "row 2", "'up-ish'"),
    ),
    "geometry_flag_against_vectors": Case(
        _text(
            "vec.csv",
            "lon,lat,velocity_mm_yr,los_east\n-1.5,53.8,1,-0.6\n-1.6,53.9,2,0.6\n",
            *ASC,
        ),
        ("'los_east'", "row 2", "--geometry says ascending", "say descending"),
    ),
    "negative_std": Case(
        _text("std.csv", "lon,lat,velocity_mm_yr,velocity_std_mm_yr\n-1.5,53.8,1,-5\n", *ASC),
        ("'velocity_std_mm_yr'", "row 1", "negative"),
    ),
    "parquet_truncated": Case(
        lambda f: _parquet(
            f,
            "t.parquet",
            {"lon": [-1.5] * 100, "lat": [53.8] * 100, "velocity_mm_yr": [1.0] * 100},
            truncate=True,
        ),
        ("t.parquet", "Parquet"),
    ),
    "parquet_garbage": Case(_bytes("g.parquet", _garbage(4000), *ASC), ("g.parquet", "Parquet")),
    "parquet_text_velocity": Case(
        lambda f: _parquet(
            f, "s.parquet", {"lon": [-1.5], "lat": [53.8], "velocity_mm_yr": ["fast"]}
        ),
        ("s.parquet", "'velocity_mm_yr'", "numbers"),
    ),
    "gpkg_garbage": Case(_bytes("g.gpkg", _garbage(4000), *ASC), ("g.gpkg",)),
    "gpkg_polygons": Case(_polygons_gpkg, ("poly.gpkg", "Polygon")),
    "gpkg_feature_without_geometry": Case(
        lambda f: _features(f, [Point(-1.5, 53.8), None]), ("f.gpkg", "row 2", "no geometry")
    ),
    "gpkg_multipoint": Case(
        lambda f: _features(f, [MultiPoint([(-1.5, 53.8), (-1.6, 53.9)])]),
        ("f.gpkg", "row 1", "2 points"),
    ),
    "shapefile_without_dbf": Case(lambda f: _shapefile(f, "dbf"), ("pts.shp", "pts.dbf")),
    "shapefile_without_shx": Case(lambda f: _shapefile(f, "shx"), ("pts.shp", "pts.shx")),
    "geojson_projected": Case(_geojson_projected, ("bng.geojson", "degrees")),
    "geotiff_garbage": Case(
        _bytes("v.tif", b"II*\x00" + b"\x00" * 100, *ASC, "--units", "mm/yr"), ("v.tif", "GeoTIFF")
    ),
    "geotiff_truncated": Case(
        lambda f: [str(_geotiff(f, "t.tif", crs="EPSG:27700", units="mm/yr", truncate=True)), *ASC],
        ("t.tif",),
    ),
    "geotiff_without_crs": Case(
        lambda f: [str(_geotiff(f, "n.tif", crs=None, units="mm/yr")), *ASC], ("n.tif", "CRS")
    ),
    "geotiff_without_units": Case(
        lambda f: [str(_geotiff(f, "u.tif", crs="EPSG:27700", units=None)), *ASC],
        ("u.tif", "units"),
    ),
    "geotiff_stack_two_references": Case(_stack_mixed_refs, ("reference dates",)),
    # --- CRS
    "crs_garbage": Case(_text("p.csv", GOOD, *ASC, "--crs", "garbage"), ("--crs", "'garbage'")),
    "crs_unknown_code": Case(
        _text("p.csv", GOOD, *ASC, "--crs", "EPSG:999999"), ("--crs", "EPSG:999999")
    ),
    "crs_geographic": Case(
        _text("p.csv", GOOD, *ASC, "--crs", "EPSG:4326"), ("--crs", "projected")
    ),
    "source_crs_garbage": Case(
        lambda f: _en(f, "--source-crs", "garbage"), ("--source-crs", "'garbage'")
    ),
    "source_crs_unknown_code": Case(
        lambda f: _en(f, "--source-crs", "EPSG:999999"), ("--source-crs", "EPSG:999999")
    ),
    "config_crs_garbage": Case(_config, ("run.yaml", "'garbage'")),
    "config_is_a_folder": Case(
        lambda f: [*_en(f, "--source-crs", "EPSG:27700"), "--config", str(f)],
        (": is a folder", "YAML"),
    ),
}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """One store for the whole corpus, holding a dataset that no failure may touch."""
    root = tmp_path_factory.mktemp("corpus")
    good = root / "good.csv"
    good.write_text(GOOD)
    store = Store(root / "store")
    assert main(["ingest", str(good), "--name", "keep", *ASC, "--store", str(store.root)]) == 0
    return store


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line(
    name: str,
    seeded: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = CASES[name]
    args = case.build(tmp_path)
    capsys.readouterr()
    before = _hashes(seeded.root)
    with caplog.at_level(logging.WARNING, logger="engine"):
        code = main(["ingest", *args, "--name", "keep", "--store", str(seeded.root)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err and "could not be read" not in err, err
    for part in case.expect:
        assert part in err, f"{part!r} not in {err!r}"
    # the command line prints warnings on stderr too: a failed ingest must give none
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert _hashes(seeded.root) == before


@pytest.mark.parametrize("name", ["zip_crc_error", "all_velocities_missing"])
def test_bad_input_from_a_shell(name: str, seeded: Store, tmp_path: Path) -> None:
    """The same through a real process: its stderr is exactly what a user sees."""
    args = CASES[name].build(tmp_path)
    before = _hashes(seeded.root)
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "ingest", *args, "--name", "keep",
         "--store", str(seeded.root)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    assert _hashes(seeded.root) == before


def test_unreadable_file(
    seeded: Store, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret.csv"
    path.write_text(GOOD)
    path.chmod(0)
    if os.geteuid() == 0:  # root reads whatever the mode: refuse the open as the kernel would
        real_open = open

        def no_permission(file, *args, **kwargs):  # type: ignore[no-untyped-def]
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", no_permission)
    before = _hashes(seeded.root)
    code = main(["ingest", str(path), *ASC, "--name", "keep", "--store", str(seeded.root)])
    monkeypatch.undo()
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "secret.csv" in err, err
    assert "permission denied" in err
    assert _hashes(seeded.root) == before


BENCHMARKS = "id,lon,lat,rate_up\nA,-1.5,53.8,1.0\n"
GNSS_CASES: dict[str, Case] = {
    "utf16": Case(_bytes("b.csv", BENCHMARKS.encode("utf-16")), ("b.csv", "UTF-16")),
    "binary": Case(_bytes("b.csv", _garbage(3000)), ("b.csv", "not a text file")),
    "name_too_long": Case(lambda f: [str(f / ("g" * 300 + ".csv"))], ("ggg", "too long")),
    "gnss_crs_garbage": Case(
        _bytes("b.csv", b"id,x,y,rate_up\nA,430000,330000,1\n", "--gnss-crs", "garbage"),
        ("--gnss-crs", "'garbage'"),
    ),
    "text_rate": Case(
        _bytes("b.csv", b"id,lon,lat,rate_up\nA,-1.5,53.8,fast\n"), ("'rate_up'", "row 1")
    ),
}


@pytest.mark.parametrize("name", sorted(GNSS_CASES))
def test_bad_gnss_file_is_one_line(
    name: str, seeded: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, *extra = GNSS_CASES[name].build(tmp_path)
    capsys.readouterr()
    before = _hashes(seeded.root)
    argv = ["validate", "--gnss", path, *extra, "--dataset", "keep", "--store", str(seeded.root)]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    for part in GNSS_CASES[name].expect:
        assert part in err, f"{part!r} not in {err!r}"
    assert _hashes(seeded.root) == before
