"""Bad input: exit 2, one line naming file, column or row and what was expected; store unchanged."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine.cli import main
from engine.store import Store

GOOD = "lon,lat,velocity_mm_yr\n-1.5,53.8,1.0\n-1.6,53.9,2.0\n"


@pytest.fixture
def seeded(store: Store, tmp_path: Path) -> Store:
    """A store that already holds one dataset, to check that failures leave it alone."""
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    assert (
        main(
            [
                "ingest",
                str(good),
                "--name",
                "keep",
                "--geometry",
                "ascending",
                "--store",
                str(store.root),
            ]
        )
        == 0
    )
    return store


def _snapshot(store: Store) -> tuple:
    files = sorted(
        str(p.relative_to(store.root))
        for p in store.root.rglob("*")
        if p.is_file() and p.name != "catalog.duckdb" and not p.name.endswith(".wal")
    )
    return files, [d.summary() for d in store.datasets()]


def _fails(store: Store, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    before = _snapshot(store)
    code = main(["ingest", *args, "--name", "keep", "--store", str(store.root)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert _snapshot(store) == before
    return err


def test_missing_velocity_column(seeded: Store, tmp_path: Path, capsys) -> None:
    f = tmp_path / "novel.csv"
    f.write_text("lon,lat,height\n-1.5,53.8,10\n")
    err = _fails(seeded, capsys, str(f), "--geometry", "ascending")
    assert (
        "novel.csv" in err and "no velocity column" in err and "expected a velocity column" in err
    )


def test_non_numeric_value_names_row_and_column(seeded: Store, tmp_path: Path, capsys) -> None:
    f = tmp_path / "text.csv"
    f.write_text(GOOD + "-1.7,54.0,fast\n")
    err = _fails(seeded, capsys, str(f), "--geometry", "ascending")
    assert "text.csv" in err and "'velocity_mm_yr'" in err and "row 3" in err and "'fast'" in err


def test_empty_file(seeded: Store, tmp_path: Path, capsys) -> None:
    f = tmp_path / "empty.csv"
    f.write_text("")
    assert "empty.csv" in _fails(seeded, capsys, str(f), "--geometry", "ascending")


def test_header_only_file(seeded: Store, tmp_path: Path, capsys) -> None:
    f = tmp_path / "header.csv"
    f.write_text("lon,lat,velocity_mm_yr\n")
    err = _fails(seeded, capsys, str(f), "--geometry", "ascending")
    assert "header.csv" in err and "no rows" in err


@pytest.mark.parametrize("column,value", [("lat", "95.0"), ("lon", "-190")])
def test_lonlat_out_of_range(seeded: Store, tmp_path: Path, capsys, column, value) -> None:
    f = tmp_path / "range.csv"
    row = {"lon": "-1.5", "lat": "53.8"} | {column: value}
    f.write_text(GOOD + f"{row['lon']},{row['lat']},1.0\n")
    err = _fails(seeded, capsys, str(f), "--geometry", "ascending")
    assert f"column '{column}'" in err and "row 3" in err and "out of range" in err


def test_unknown_units(seeded: Store, tmp_path: Path, capsys) -> None:
    f = tmp_path / "nounits.csv"
    f.write_text("lon,lat,velocity\n-1.5,53.8,1.0\n")
    err = _fails(seeded, capsys, str(f), "--geometry", "ascending")
    assert "units unknown" in err and "--units" in err and "'velocity'" in err
    err = _fails(seeded, capsys, str(f), "--geometry", "ascending", "--units", "furlongs")
    assert "furlongs" in err


def test_implausible_velocity_suggests_units(seeded: Store, tmp_path: Path, capsys) -> None:
    f = tmp_path / "metres.csv"
    f.write_text("lon,lat,velocity\n-1.5,53.8,0.004\n-1.5,53.9,2.5\n")
    err = _fails(seeded, capsys, str(f), "--geometry", "ascending", "--units", "m/yr")
    assert "row 2" in err and "check --units" in err


def test_unknown_geometry(seeded: Store, tmp_path: Path, capsys) -> None:
    f = tmp_path / "nogeom.csv"
    f.write_text(GOOD)
    assert "--geometry" in _fails(seeded, capsys, str(f))


def test_corrupt_geotiff(seeded: Store, tmp_path: Path, capsys) -> None:
    f = tmp_path / "velocity.tif"
    f.write_bytes(b"II*\x00" + b"\x00" * 100)
    err = _fails(seeded, capsys, str(f), "--geometry", "ascending", "--units", "mm/yr")
    assert "velocity.tif" in err and "GeoTIFF" in err


def test_corrupt_zip(seeded: Store, tmp_path: Path, capsys, egms_zips) -> None:
    f = tmp_path / "EGMS_L2b_117_0227_IW2_VV_2020_2024_1.zip"
    f.write_bytes(egms_zips[1].read_bytes()[:200_000])
    err = _fails(seeded, capsys, str(f))
    assert f.name in err and "zip" in err


def test_zip_without_csv(seeded: Store, tmp_path: Path, capsys) -> None:
    f = tmp_path / "other.zip"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("readme.txt", "hello")
    assert "CSV" in _fails(seeded, capsys, str(f))


def test_missing_path(seeded: Store, tmp_path: Path, capsys) -> None:
    err = _fails(seeded, capsys, str(tmp_path / "nope.csv"))
    assert "nope.csv" in err and "no such file" in err


def test_error_after_first_file_leaves_store(seeded: Store, tmp_path: Path, capsys) -> None:
    ok = tmp_path / "ok.csv"
    ok.write_text(GOOD)
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD + "-1.5,91,1\n")
    _fails(seeded, capsys, str(ok), str(bad), "--geometry", "ascending")
    assert not (seeded.root / "tmp").exists() or not any((seeded.root / "tmp").iterdir())


def test_process_exit_code_and_single_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "ingest",
            str(tmp_path / "missing.csv"),
            "--name",
            "x",
            "--store",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "s" / "catalog.duckdb").exists()
