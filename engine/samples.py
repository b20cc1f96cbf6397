"""Sample inputs for the README's examples: a point CSV and a GNSS benchmark CSV.

``python -m engine sample-data --out DIR`` writes them, generated from a seeded benchmark
scene (:func:`engine.scenes.make_scene`, 10 km square near Nottingham, British National
Grid), so that every command of the README runs on a fresh clone without any download:

- ``points.csv``: ``pid, easting, northing, velocity`` (mm/yr, descending line of sight),
  easting/northing in EPSG:27700, which the file does not state (``--source-crs``);
- ``benchmarks.csv``: ``id, lon, lat, vu`` (vertical GNSS rate, mm/yr) at six points, three
  of them on the scene's fastest motion, with 0.3 mm/yr of noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import InputError

__all__ = ["write_samples"]

_SIZE_PX = 1000  # 10 km at 10 m: ~30,000 points, a 1 MB CSV


def write_samples(out: str | Path, *, seed: int = 7) -> dict[str, Path]:
    """Write ``points.csv`` and ``benchmarks.csv`` into folder ``out`` (made if missing).

    Returns ``{"points": path, "benchmarks": path}``. Existing files are replaced.
    """
    from engine.scenes import make_scene

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file", "a folder to write the sample files into")
    out.mkdir(parents=True, exist_ok=True)
    # no spike clusters: a benchmark on one would compare GNSS with noise
    scene = make_scene(_SIZE_PX, seed, hard_negatives=False)
    points = scene.points("descending").reset_index(drop=True)
    table = pd.DataFrame({
        "pid": [f"P{i:06d}" for i in range(len(points))],
        "easting": points["x"].round(1), "northing": points["y"].round(1),
        "velocity": points["velocity"].round(3),
    })  # fmt: skip
    rng = np.random.default_rng(seed)
    fastest = np.argsort(-points["velocity"].abs().to_numpy())[:3]
    others = rng.choice(np.setdiff1d(np.arange(len(points)), fastest), 3, replace=False)
    chosen = points.iloc[np.r_[fastest, others]]
    benchmarks = pd.DataFrame({
        "id": [f"GNSS{i + 1:02d}" for i in range(len(chosen))],
        "lon": chosen["lon"].round(7).to_numpy(), "lat": chosen["lat"].round(7).to_numpy(),
        "vu": (chosen["velocity"].to_numpy() + rng.normal(0, 0.3, len(chosen))).round(2),
    })  # fmt: skip
    paths = {"points": out / "points.csv", "benchmarks": out / "benchmarks.csv"}
    table.to_csv(paths["points"], index=False)
    benchmarks.to_csv(paths["benchmarks"], index=False)
    return paths
