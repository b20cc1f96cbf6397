"""The training-set builder: shards, manifest, determinism, real masks, command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.config import RunConfig
from engine.errors import InputError
from engine.ingest import ingest
from engine.store import Store
from engine.synthetic import RealMasks, build_dataset, open_dataset, sample_labels


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_identical_files_whatever_the_workers(tmp_path):
    one = build_dataset(tmp_path / "a", kind="point", n=10, seed=4, workers=1, shard_size=4)
    build_dataset(tmp_path / "b", kind="point", n=10, seed=4, workers=2, shard_size=4)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert [s["count"] for s in one["shards"]] == [4, 4, 2]
    build_dataset(tmp_path / "c", kind="point", n=10, seed=5, workers=1, shard_size=4)
    assert _files(tmp_path / "a")["mc-00000.npy"] != _files(tmp_path / "c")["mc-00000.npy"]


def test_build_is_balanced_and_the_manifest_describes_every_sample(tmp_path):
    n = 12
    manifest = build_dataset(tmp_path / "d", kind="tunnel", n=n, seed=0, shard_size=5)
    ds = open_dataset(tmp_path / "d", verify=True)
    labels = ds.labels
    assert labels.sum() == n // 2 == manifest["positives"]
    records = pd.DataFrame(manifest["samples"])
    assert list(records["index"]) == list(range(n))
    np.testing.assert_array_equal(records["label"].to_numpy(), labels)
    assert set(records.loc[records.label == 1, "source"]) == {"tunnel"}
    assert set(records.loc[records.label == 0, "source"]) == {"none"}
    assert records.loc[records.label == 0, "l_sag_m"].isna().all()
    assert manifest["seed"] == 0 and manifest["kind"] == "tunnel"
    for version in ("sparse", "delaunay", "mc"):
        arrays = ds.load(version)
        assert arrays.shape == (n, 224, 224) and arrays.dtype == np.float32
    assert np.isfinite(ds.load("mc")).all()
    assert np.isnan(ds.load("sparse")).any()


def test_manifest_reproduces_the_parameter_ranges(tmp_path):
    p = RunConfig().synthetic
    manifest = build_dataset(tmp_path / "r", kind="point", n=24, seed=1, workers=2)
    df = pd.DataFrame(manifest["samples"])
    pos = df[df.label == 1]
    assert pos.depth_m.between(*p.mogi_depth_m).all()
    assert pos.los_peak_mm_yr.abs().between(*p.los_velocity_mm_yr).all()
    assert (pos.volume_m3 > 0).any() and (pos.volume_m3 < 0).any()  # uplift and subsidence
    assert np.all(np.sign(pos.volume_m3) == np.sign(pos.los_peak_mm_yr))
    assert df.atmosphere_a_mm2_yr2.between(*p.atmosphere_a_mm2_yr2).all()
    assert df.atmosphere_b_per_km.between(*p.atmosphere_b_per_km).all()
    assert df.incidence_deg.between(*p.incidence_deg).all()
    assert set(df.geometry) == {"ascending", "descending"}
    # the patch is a crop of a mask drawn at 2–30 %: its own density scatters around that
    assert df.density.between(0.005, 0.5).all()


def test_labels_are_balanced_and_seeded():
    a = sample_labels("point", 101, 3)
    assert a.sum() == 51
    np.testing.assert_array_equal(a, sample_labels("point", 101, 3))
    assert not np.array_equal(a, sample_labels("point", 101, 4))
    assert sample_labels("none", 10, 0).sum() == 0


def test_builder_refuses_a_non_empty_folder_and_leaves_it_alone(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not an empty folder"):
        build_dataset(out, kind="point", n=2, seed=0)
    assert (out / "keep.txt").read_text() == "mine"


def test_open_dataset_detects_a_modified_shard(tmp_path):
    build_dataset(tmp_path / "e", kind="none", n=3, seed=0)
    path = tmp_path / "e" / "mc-00000.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    open_dataset(tmp_path / "e")  # without verify: opens
    with pytest.raises(InputError, match="sha256"):
        open_dataset(tmp_path / "e", verify=True)
    with pytest.raises(InputError, match="manifest"):
        open_dataset(tmp_path)


# ---------------------------------------------------------------- real masks


def _lattice_dataset(store: Store, tmp_path: Path, step_px: int = 3) -> None:
    """Points at every ``step_px``-th pixel centre of a 400 × 400 px (10 m) square in BNG."""
    idx = np.arange(0, 400, step_px)
    cols, rows = np.meshgrid(idx, idx)
    x = 400_000 + (cols.ravel() + 0.5) * 10.0
    y = 300_000 - (rows.ravel() + 0.5) * 10.0
    v = np.random.default_rng(0).normal(0, 1, x.size)
    csv = tmp_path / "lattice.csv"
    pd.DataFrame({"easting": x, "northing": y, "velocity_mm_yr": v}).to_csv(csv, index=False)
    from engine.ingest import IngestOptions

    options = IngestOptions(geometry="ascending", crs="EPSG:27700", source_crs="EPSG:27700")
    ingest([csv], name="lattice", store=store, options=options)


def _lattice_count(start: int, size: int = 64) -> int:
    """Lattice lines (every 3rd of 0 … 399) in ``size`` pixels from ``start``."""
    idx = np.arange(start, start + size)
    return int(((idx % 3 == 0) & (idx >= 0) & (idx < 400)).sum())


def test_real_masks_follow_the_points_of_the_dataset(store, tmp_path):
    _lattice_dataset(store, tmp_path)
    masks = RealMasks.from_store(store, "lattice")
    rng = np.random.default_rng(0)
    full = []
    for _ in range(20):
        mask, where = masks.draw((64, 64), rng)
        assert mask.shape == (64, 64) and where.startswith("lattice:")
        top, left = (int(v) for v in where.split("/")[1].split(","))
        rows, cols = np.nonzero(mask)
        rows, cols = rows + top, cols + left  # in the dataset's grid
        assert ((rows % 3 == 0) & (cols % 3 == 0)).all()
        assert rows.min() >= 0 and cols.min() >= 0 and rows.max() < 400 and cols.max() < 400
        expected = _lattice_count(top) * _lattice_count(left)
        assert mask.sum() == expected  # every lattice point of the window, none from elsewhere
        if top >= 0 and left >= 0 and top + 64 <= 400 and left + 64 <= 400:
            full.append(mask.mean())
    assert full and np.allclose(full, 1 / 9, atol=0.01)
    assert masks.noise_pool is not None and masks.noise_pool.size > 1000
    # lattice points have no 8-neighbours: the noise map is zero (a 3×3 median of one value)
    assert np.abs(masks.noise_pool).max() == 0


def test_samples_use_real_masks_and_real_noise(store, egms_zips):
    ingest(egms_zips, name="ustica", store=store)
    masks = RealMasks.from_store(store, "ustica")
    assert masks.noise_pool is not None and np.abs(masks.noise_pool).max() > 0
    assert len(masks.layers) == 2  # ascending and descending
    from engine.synthetic import make_sample

    s = make_sample(0, kind="point", label=1, rng=np.random.default_rng(0), masks=masks)
    assert s.record.mask.startswith("ustica:")
    assert s.record.deforming_points >= 4


# ---------------------------------------------------------------- command line


def test_cli_synth_builds_and_reports(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(
        [
            "synth",
            "--kind",
            "point",
            "--n",
            "4",
            "--seed",
            "2",
            "--out",
            str(out),
            "--workers",
            "1",
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 4 and summary["positives"] == 2 and summary["seed"] == 2
    assert json.loads((out / "manifest.json").read_text())["n"] == 4


def test_cli_synth_bad_input_exits_2_with_one_line(tmp_path, capsys):
    out = tmp_path / "x"
    out.mkdir()
    (out / "f").write_text("")
    assert main(["synth", "--kind", "point", "--n", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "empty folder" in err[0]
    code = main(
        [
            "synth",
            "--kind",
            "point",
            "--n",
            "2",
            "--out",
            str(tmp_path / "y"),
            "--mask-source",
            "nope",
            "--store",
            str(tmp_path / "store"),
        ]
    )
    assert code == 2
    assert "nope" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
