"""Command line: help, version, config, ingest --json, datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import __version__
from engine.cli import main
from engine.config import RunConfig


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "ingest" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_print_defaults_is_loadable_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--print-defaults"]) == 0
    assert RunConfig.from_yaml(capsys.readouterr().out) == RunConfig()


def test_ingest_json_last_line_and_datasets(tmp_path: Path, capsys, egms_zips) -> None:
    store = str(tmp_path / "s")
    assert (
        main(["ingest", *map(str, egms_zips), "--name", "ustica", "--store", store, "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["name"] == "ustica"
    assert out["points"] == {"ascending": 11759, "descending": 11590}
    assert out["crs"] == "EPSG:32633" and out["velocity_source"] == "column"
    assert out["first_date"] == "2020-01-03" and len(out["bbox_lonlat"]) == 4
    assert main(["datasets", "--store", store, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [d["name"] for d in listed["datasets"]] == ["ustica"]
    assert main(["datasets", "--store", store]) == 0
    assert "ustica: ascending 11,759, descending 11,590 points" in capsys.readouterr().out


def test_column_override(tmp_path: Path, capsys) -> None:
    f = tmp_path / "odd.csv"
    f.write_text("px,py,speed\n-1.5,53.8,1.0\n")
    args = [
        "ingest",
        str(f),
        "--name",
        "o",
        "--store",
        str(tmp_path / "s"),
        "--geometry",
        "ascending",
        "--units",
        "mm",
        "--column",
        "lon=px",
        "--column",
        "lat=py",
        "--column",
        "velocity=speed",
        "--json",
    ]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["points"] == {"ascending": 1}
    assert main([*args[:-3], "--column", "velocity", "--json"]) == 2
