"""A demo dataset: a benchmark scene ingested like a real product, then detected.

So that a fresh install shows real results: ``python -m engine demo`` (or the dashboard's
first-run button) makes a seeded benchmark scene (:func:`engine.scenes.make_scene`: land
cover, atmosphere, spike noise and mining, tunnel, quarry, dewatering and landslide sources
in both geometries), writes its points with displacement time series to a Parquet file,
ingests it through the same reader as a user's file, and runs the pipeline over it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import RunConfig, check_memory
from engine.ingest import IngestOptions, ingest
from engine.pipeline import ExecutorSpec, RunResult, run
from engine.scenes import make_scene
from engine.store import DatasetInfo, Store, check_dataset_name

__all__ = ["DemoResult", "build_demo", "demo_points"]

Progress = Callable[[str, int, int], None]
_EPOCHS = 61  # every 12 days over two years, the Sentinel-1 repeat of one satellite
_FIRST_DATE = np.datetime64("2019-01-03")


@dataclass(frozen=True)
class DemoResult:
    dataset: DatasetInfo
    run: RunResult
    sources: int


def demo_points(scene, *, seed: int) -> pd.DataFrame:
    """Both geometries' points of a scene with a displacement time series each.

    Displacement = velocity × time + an annual cycle (1–3 mm, a thermal or groundwater
    signal) + 1.5 mm white noise, so the velocity refitted from the series scatters about
    the scene's velocity the way a real product's does.
    """
    rng = np.random.default_rng(seed)
    dates = _FIRST_DATE + np.arange(_EPOCHS) * np.timedelta64(12, "D")
    years = (dates - dates[0]).astype(np.float64) / 365.25
    frames = []
    for geometry in sorted(scene.velocity):
        points = scene.points(geometry)
        n = len(points)
        amplitude = rng.uniform(1.0, 3.0, n).astype(np.float32)
        phase = rng.uniform(0.0, 2 * np.pi, n).astype(np.float32)
        v = points["velocity"].to_numpy(np.float32)
        series = (
            v[:, None] * years[None, :].astype(np.float32)
            + amplitude[:, None] * np.sin(2 * np.pi * years[None, :] + phase[:, None])
            + rng.normal(0.0, 1.5, (n, _EPOCHS)).astype(np.float32)
        )
        series -= series[:, :1]  # displacements relative to the first date, as products give
        names = [f"D{np.datetime_as_string(d).replace('-', '')}" for d in dates]
        frame = pd.DataFrame(series, columns=names)
        frame.insert(0, "pid", [f"{geometry[0].upper()}{i:07d}" for i in range(n)])
        frame.insert(1, "lon", points["lon"].to_numpy())
        frame.insert(2, "lat", points["lat"].to_numpy())
        frame.insert(3, "velocity", v)
        frame.insert(4, "pass_direction", geometry)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def build_demo(
    store: Store,
    *,
    size_km: float = 10.0,
    seed: int = 7,
    name: str = "demo",
    config: RunConfig = RunConfig(),
    executor: ExecutorSpec = ExecutorSpec(),
    progress: Progress | None = None,
) -> DemoResult:
    """Make, ingest and detect a demo scene of ``size_km`` × ``size_km`` (10–100 km).

    ``progress(stage, done, total)`` is called for the stages ``"scene"``, ``"ingest"`` and
    ``"detect"`` (tiles).
    """
    check_dataset_name(name)
    size_px = round(size_km * 1000 / config.grid.pixel_size_m)
    # a scene holds ~48 bytes per pixel (measured on 2000²): refuse one that cannot fit
    check_memory(config, need_bytes=48.0 * size_px**2, what=f"a scene of {size_px:,}² pixels")
    step = (lambda stage, d, t: progress(stage, d, t)) if progress else (lambda *_: None)
    step("scene", 0, 1)
    scene = make_scene(size_px, seed, pixel_size_m=config.grid.pixel_size_m, config=config)
    staging = store.staging_dir()
    path = staging / f"{name}-scene-{seed}.parquet"
    demo_points(scene, seed=seed).to_parquet(path, index=False)
    step("scene", 1, 1)
    step("ingest", 0, 1)
    info = ingest([path], name=name, store=store, options=IngestOptions(units="mm"),
                  config=config)  # fmt: skip
    path.unlink()
    staging.rmdir()
    step("ingest", 1, 1)
    result = run(config, name, store=store, executor=executor,
                 progress=lambda d, t: step("detect", d, t))  # fmt: skip
    return DemoResult(info, result, len(scene.sources))
