"""Large CSVs are read by several processes, each a byte range; results equal the serial read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import engine.ingest._parallel as parallel
from engine.config import IngestParams, RunConfig
from engine.errors import InputError
from engine.ingest import IngestOptions, ingest
from engine.ingest._sources import line_starts
from engine.store import Store

TWO_WORKERS = RunConfig(ingest=IngestParams(workers=2, batch_rows=1000))
ONE_WORKER = RunConfig(ingest=IngestParams(workers=1, batch_rows=1000))


@pytest.fixture
def small_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_MIN_BYTES_PER_WORKER", 1000)


def _csv(path: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pacsv.write_csv(pa.table({
        "pid": [f"p{i}" for i in range(n)],
        "lon": np.round(rng.uniform(-2, -1, n), 6),
        "lat": np.round(rng.uniform(53, 54, n), 6),
        "velocity_mm_yr": np.round(rng.normal(0, 2, n), 3),
    }), path)  # fmt: skip
    return path


def test_line_starts_split_on_line_boundaries(tmp_path: Path) -> None:
    f = _csv(tmp_path / "a.csv", 1000)
    data = f.read_bytes()
    bounds = line_starts(f, 3)
    assert bounds[0] == data.index(b"\n") + 1 and bounds[-1] == len(data)
    assert all(data[b - 1 : b] == b"\n" for b in bounds[:-1])


def test_parallel_equals_serial(small_split: None, tmp_path: Path, store: Store) -> None:
    f = _csv(tmp_path / "a.csv", 5000)
    opts = IngestOptions(geometry="ascending")
    a = ingest([f], name="par", store=store, options=opts, config=TWO_WORKERS)
    b = ingest([f], name="ser", store=store, options=opts, config=ONE_WORKER)
    files = list((a.path / "points").rglob("part-0.1.parquet"))
    assert files, "the second worker wrote nothing: the file was not split"
    assert a.points == b.points == {"ascending": 5000}
    assert a.bbox_xy == pytest.approx(b.bbox_xy)
    ta = store.read_points("par").sort_by("pid")
    tb = store.read_points("ser").sort_by("pid")
    assert ta.select(["pid", "x", "y", "velocity"]).equals(tb.select(["pid", "x", "y", "velocity"]))


def test_parallel_error_row_is_the_files_row(
    small_split: None, tmp_path: Path, store: Store
) -> None:
    f = _csv(tmp_path / "a.csv", 5000)
    lines = f.read_text().splitlines()
    lines[4001] = lines[4001].rsplit(",", 1)[0] + ",oops"  # data row 4001
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        ingest(
            [f],
            name="x",
            store=store,
            options=IngestOptions(geometry="ascending"),
            config=TWO_WORKERS,
        )
    assert info.value.row == 4001 and info.value.column == "velocity_mm_yr"
    lines[4001] = lines[4001].replace("oops", "1.0").replace(",53.", ",93.", 1)
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        ingest(
            [f],
            name="x",
            store=store,
            options=IngestOptions(geometry="ascending"),
            config=TWO_WORKERS,
        )
    assert info.value.row == 4001 and info.value.column == "lat"
    assert store.datasets() == []


def test_parallel_reads_semicolons_and_counts_dropped_rows(
    small_split: None, tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Each worker sniffs the dialect itself; the rows they leave out add up to one warning."""
    f = _csv(tmp_path / "a.csv", 4000)
    lines = f.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    rows = [r if i % 100 else r.rsplit(",", 1)[0] + "," for i, r in enumerate(rows)]  # 40 gaps
    eu = tmp_path / "eu.csv"
    eu.write_text(
        "\n".join(
            [header.replace(",", ";")] + [r.replace(",", ";").replace(".", ",") for r in rows]
        )
        + "\n"
    )
    opts = IngestOptions(geometry="ascending")
    with caplog.at_level("WARNING", logger="engine"):
        a = ingest([eu], name="eu", store=store, options=opts, config=TWO_WORKERS)
    b = ingest([f], name="plain", store=store, options=opts, config=ONE_WORKER)
    assert list((a.path / "points").rglob("part-0.1.parquet")), "the file was not split"
    assert a.points == {"ascending": 3960} and b.points == {"ascending": 4000}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= 30]
    assert warnings == [f"{eu}: 40 of 4,000 rows have no velocity; left out"]
    ta = store.read_points("eu").sort_by("pid").select(["pid", "velocity"])
    tb = store.read_points("plain").sort_by("pid").select(["pid", "velocity"])
    kept = set(ta.column("pid").to_pylist())
    tb = tb.filter(pa.array([p in kept for p in tb.column("pid").to_pylist()]))
    assert ta.equals(tb)
