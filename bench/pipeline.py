"""Pipeline benchmark: a 2 × 2-tile scene run cold and warm on every executor.

    python bench/pipeline.py [--scene-px 2000] [--tile-px 1000] [--repeat 3] [--seed 5] [--json]

A seeded benchmark scene (both geometries, ~6 % of pixels with a point) is ingested into a
fresh store for every cold run: one process (in-process), a local process pool of 2, and a
Dask ``LocalCluster`` of 1 and of 2 single-threaded workers, ``--repeat`` times each. The
first in-process store is then asked the same request again (warm: a cache hit). Reported
(medians): seconds, tiles/s, points/s, the workers' peak resident memory, the Dask speedup
(2 workers over 1), the warm speedup, and an extrapolation to the UK map of 000 §IV-C
(98,504 × 68,504 px at 10 m, ~93 M points) with the default 2,500 px tiles, for 2 and 16 cores.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from engine.config import RunConfig
from engine.demo import demo_points
from engine.ingest import IngestOptions, ingest
from engine.pipeline import ExecutorSpec, run
from engine.scenes import make_scene
from engine.store import Store

UK_PX = (98_504, 68_504)
UK_POINTS = 93_000_000
UK_LAND_FRACTION = 0.36  # 243,610 km² of land in the 985 × 685 km box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene-px", type=int, default=2000)
    parser.add_argument("--tile-px", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="cold runs per executor")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    config = RunConfig.model_validate({"grid": {"tile_size_px": args.tile_px}})
    scene = make_scene(args.scene_px, args.seed)
    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    points_file = root / "scene.parquet"
    demo_points(scene, seed=args.seed).to_parquet(points_file, index=False)

    executors = {
        "inprocess": ExecutorSpec("inprocess"),
        "process_2": ExecutorSpec("process", workers=2),
        "dask_1": ExecutorSpec("dask", workers=1),
        "dask_2": ExecutorSpec("dask", workers=2),
    }
    # Each repeat runs every executor cold on a fresh store, interleaved, so that a machine
    # whose speed drifts over minutes (a shared VM) slows all of them alike; medians are
    # reported, and the Dask speedup is the median of the repeats' own ratios.
    runs: dict[str, list] = {name: [] for name in executors}
    for k in range(args.repeat):
        for name, spec in executors.items():
            store = Store(root / f"{name}-{k}")
            ingest([points_file], name="scene", store=store, options=IngestOptions(units="mm"),
                   config=config)  # fmt: skip
            result = run(config, "scene", store=store, executor=spec)
            runs[name].append(result)
            _log(f"repeat {k + 1}/{args.repeat} {name}: {result.seconds:.1f} s, "
                 f"{result.tiles} tiles, peak worker {result.peak_worker_mb:.0f} MB")  # fmt: skip
    seconds = {name: statistics.median(r.seconds for r in rs) for name, rs in runs.items()}
    peak_mb = {name: max(r.peak_worker_mb for r in rs) for name, rs in runs.items()}
    dask_ratios = [
        one.seconds / two.seconds for one, two in zip(runs["dask_1"], runs["dask_2"], strict=True)
    ]
    store = Store(root / "inprocess-0")
    warm_seconds = []
    for _ in range(5):
        t0 = time.perf_counter()
        warm = run(config, "scene", store=store, executor=executors["inprocess"])
        warm_seconds.append(time.perf_counter() - t0)
        assert warm.cache_hit
    warm_s = statistics.median(warm_seconds)
    shutil.rmtree(root)

    tiles = runs["inprocess"][0].tiles
    points = runs["inprocess"][0].points
    raster_px = args.tile_px + 2 * config.grid.tile_overlap_px
    default = RunConfig().grid
    default_raster_px = default.tile_size_px + 2 * default.tile_overlap_px
    # one worker's seconds per tile (single-threaded, as pool workers run), scaled to the
    # default tile's pixels: both the interpolation and the CNN are linear in pixels
    per_tile = statistics.median(t for r in runs["process_2"] for t in r.tile_seconds)
    per_default_tile = per_tile * (default_raster_px / raster_px) ** 2
    uk_tiles = math.ceil(UK_PX[0] / default.tile_size_px) * math.ceil(
        UK_PX[1] / default.tile_size_px
    )
    uk_busy = math.ceil(uk_tiles * UK_LAND_FRACTION)
    result = {
        "benchmark": "pipeline",
        "cpus": os.cpu_count(),
        "scene_px": args.scene_px,
        "tile_px": args.tile_px,
        "tile_raster_px": raster_px,
        "tiles": tiles,
        "points": points,
        "repeats": args.repeat,
        "cold_seconds": {k: round(v, 2) for k, v in seconds.items()},
        "cold_seconds_all": {k: [round(r.seconds, 1) for r in rs] for k, rs in runs.items()},
        "tiles_per_s": {k: round(tiles / v, 3) for k, v in seconds.items()},
        "points_per_s": {k: round(points / v) for k, v in seconds.items()},
        "peak_worker_mb": {k: round(v) for k, v in peak_mb.items()},
        "warm_seconds": round(warm_s, 3),
        "warm_speedup": round(seconds["inprocess"] / warm_s, 1),
        "process_speedup_2": round(seconds["inprocess"] / seconds["process_2"], 2),
        "dask_speedup_2_over_1": round(statistics.median(dask_ratios), 2),
        "dask_speedup_2_over_1_all": [round(r, 2) for r in dask_ratios],
        "uk_extrapolation": {
            "tiles_in_box": uk_tiles,
            "tiles_with_land": uk_busy,
            "seconds_per_default_tile_one_worker": round(per_default_tile, 1),
            "hours": {
                f"cores_{n}": round(math.ceil(uk_busy / n) * per_default_tile / 3600, 2)
                for n in (2, 16)
            },
            "points_per_s_16_cores": round(
                UK_POINTS / (math.ceil(uk_busy / 16) * per_default_tile)
            ),
        },
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


def _log(message: str) -> None:
    print(message, flush=True)


if __name__ == "__main__":
    main()
