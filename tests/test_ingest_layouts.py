"""Legitimate layouts ingest reads as they are, and the one-line warnings it gives.

European products separate fields with ``;`` or tabs and write decimal commas; dated columns
may come in any order. When rows are left out for want of a velocity, or a file's name says
one pass direction and its own line-of-sight vectors another, ingest says so in one line.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.errors import InputError
from engine.ingest import IngestOptions, ingest
from engine.store import Store
from engine.timeseries import DAYS_PER_YEAR

ASC = IngestOptions(geometry="ascending")


def _read(store: Store, name: str) -> dict[str, list]:
    table = store.read_points(name).sort_by("velocity")
    return table.to_pydict()


@pytest.mark.parametrize(
    "text",
    [
        "lon;lat;velocity_mm_yr\n-1,5;53,8;1,25\n-1,6;53,9;-2,5\n",  # semicolons, decimal commas
        "lon;lat;velocity_mm_yr\n-1.5;53.8;1.25\n-1.6;53.9;-2.5\n",  # semicolons, decimal points
        "lon\tlat\tvelocity_mm_yr\n-1.5\t53.8\t1.25\n-1.6\t53.9\t-2.5\n",  # tabs
        "lon, lat, velocity_mm_yr\n-1.5, 53.8, 1.25\n-1.6, 53.9, -2.5\n",  # spaces after commas
    ],
    ids=["semicolon-decimal-comma", "semicolon", "tab", "comma-space"],
)
def test_dialects_give_the_same_points(store: Store, tmp_path: Path, text: str) -> None:
    path = tmp_path / "pts.csv"
    path.write_text(text)
    info = ingest([path], name="d", store=store, options=ASC)
    assert info.points == {"ascending": 2}
    got = _read(store, "d")
    np.testing.assert_array_equal(got["velocity"], np.float32([-2.5, 1.25]))
    np.testing.assert_allclose(got["lon"], [-1.6, -1.5], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["lat"], [53.9, 53.8], rtol=0, atol=1e-12)


def test_mixed_decimal_marks_name_the_row(store: Store, tmp_path: Path) -> None:
    """One value written with a decimal point settles the dialect: a comma is then wrong."""
    path = tmp_path / "mixed.csv"
    path.write_text("lon;lat;velocity_mm_yr\n-1.5;53.8;1,25\n-1.6;53.9;2.5\n")
    with pytest.raises(InputError, match="row 1") as err:
        ingest([path], name="m", store=store, options=ASC)
    assert "'1,25' is not a number" in str(err.value)


def test_dates_out_of_order_are_sorted(store: Store, tmp_path: Path) -> None:
    """The same trend (+10 and −20 mm over 366 days) with its date columns in two orders."""
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text(
        "lon,lat,20210101,20200101,20200702\n-1.5,53.8,10,0,5\n-1.6,53.9,-20,0,-10\n"
    )
    ordered = tmp_path / "ordered.csv"
    ordered.write_text(
        "lon,lat,20200101,20200702,20210101\n-1.5,53.8,0,5,10\n-1.6,53.9,0,-10,-20\n"
    )
    opts = IngestOptions(geometry="ascending", units="mm")
    a = ingest([shuffled], name="a", store=store, options=opts)
    b = ingest([ordered], name="b", store=store, options=opts)
    assert a.dates == b.dates == {"ascending": ["2020-01-01", "2020-07-02", "2021-01-01"]}
    got, want = _read(store, "a"), _read(store, "b")
    assert got["d20200702"] == want["d20200702"] == [-10.0, 5.0]
    assert got["d20210101"] == want["d20210101"] == [-20.0, 10.0]
    # 2020-07-02 is day 183 of 366: the points lie on a line through the origin
    years = 366 / DAYS_PER_YEAR
    np.testing.assert_allclose(got["velocity"], [-20 / years, 10 / years], rtol=1e-5)
    assert got["velocity"] == want["velocity"]


def test_rows_without_velocity_are_counted(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("lon,lat,velocity_mm_yr\n-1.5,53.8,1\n-1.6,53.9,\n-1.7,54.0,nan\n-1.8,54,2\n")
    with caplog.at_level(logging.WARNING, logger="engine"):
        info = ingest([path], name="g", store=store, options=ASC)
    assert info.points == {"ascending": 2}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{path}: 2 of 4 rows have no velocity; left out"]


def _los_csv(path: Path, los_east: float) -> Path:
    # Sentinel-1 looks right: east component > 0 is a descending pass
    path.write_text(
        "lon,lat,velocity_mm_yr,los_east,los_north,los_up\n"
        f"-1.5,53.8,1,{los_east},-0.12,0.79\n-1.6,53.9,2,{los_east},-0.12,0.79\n"
    )
    return path


def test_name_contradicted_by_vectors_warns_and_vectors_win(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _los_csv(tmp_path / "S1_Asc_t117.csv", 0.59)
    with caplog.at_level(logging.WARNING, logger="engine"):
        info = ingest([path], name="n", store=store)
    assert info.points == {"descending": 2}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{path}: named ascending, but its line-of-sight vectors say descending for 2 of 2 "
        "points; the line-of-sight vectors win"
    ]


def test_layer_name_contradicted_by_vectors_warns(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    gdf = gpd.GeoDataFrame(
        {"vel_mm_yr": [1.0, 2.0], "los_east": [0.6, 0.6]},
        geometry=[Point(-1.5, 53.8), Point(-1.6, 53.9)],
        crs="EPSG:4326",
    )
    path = tmp_path / "points.gpkg"
    gdf.to_file(path, layer="Sentinel1_Asc")
    with caplog.at_level(logging.WARNING, logger="engine"):
        info = ingest([path], name="l", store=store)
    assert info.points == {"descending": 2}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "named ascending" in warnings[0]


@pytest.mark.parametrize("name", ["S1_Dsc_t22.csv", "points.csv", "desc_and_asc.csv"])
def test_no_warning_when_the_name_agrees_or_says_nothing(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    path = _los_csv(tmp_path / name, 0.59)
    with caplog.at_level(logging.WARNING, logger="engine"):
        ingest([path], name="q", store=store)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_warning_is_one_stderr_line_of_the_cli(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("lon,lat,velocity_mm_yr\n-1.5,53.8,1\n-1.6,53.9,\n")
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "ingest", str(path), "--name", "g",
         "--geometry", "ascending", "--store", str(store.root)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"WARNING engine.ingest: {path}: 1 of 2 rows have no velocity; left out"
    ]


def test_cli_reads_a_semicolon_file(store: Store, tmp_path: Path, capsys) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("lon;lat;velocity_mm_yr\n-1,5;53,8;1,25\n")
    code = main(["ingest", str(path), "--name", "eu", "--geometry", "ascending",
                 "--store", str(store.root)])  # fmt: skip
    assert code == 0, capsys.readouterr().err


def test_a_row_left_out_needs_no_pass_direction(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "pass.csv"
    path.write_text("lon,lat,velocity_mm_yr,pass\n-1.5,53.8,1,A\n-1.6,53.9,,\n-1.7,53.9,2,D\n")
    info = ingest([path], name="p", store=store)
    assert info.points == {"ascending": 1, "descending": 1}
    got = _read(store, "p")
    assert got["geometry"] == ["ascending", "descending"] and got["velocity"] == [1.0, 2.0]


def test_geometry_flag_that_agrees_with_the_vectors(store: Store, tmp_path: Path) -> None:
    path = _los_csv(tmp_path / "d.csv", 0.59)
    info = ingest([path], name="d", store=store, options=IngestOptions(geometry="descending"))
    assert info.points == {"descending": 2}
