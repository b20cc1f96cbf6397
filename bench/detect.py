"""Detection benchmark: tile time, fully convolutional vs sliding window, sites on a scene.

    python bench/detect.py [--size 3000] [--crop 1200] [--seed 7] [--json]

1. A benchmark scene of ``--size`` px (default: one pipeline tile, 2500 px plus a patch of
   overlap on each side) in both geometries is denoised, interpolated and scored with all
   16 wrap variants and combined: seconds for interpolation and for scoring.
2. On a ``--crop`` px corner of the interpolated ascending map, the same shipped weights
   score every wrap variant fully convolutionally and with the paper's sliding window
   (224 px, stride 28): the speedup and the correlation of the two probability maps.
3. Sites at P > 0.5 and the thresholding baseline (3 mm/yr) against the scene's truth:
   recall, precision and false-positive sites of each.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from engine.baseline import baseline_sites
from engine.config import RunConfig
from engine.detect import detect_tile, detection_model, probability_map
from engine.pipeline import raw_velocity
from engine.scenes import make_scene, score_sites
from engine.sites import extract_sites


def main() -> None:
    config = RunConfig()
    default_size = config.grid.tile_size_px + 2 * config.grid.tile_overlap_px
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=default_size, help="scene edge, px")
    parser.add_argument("--crop", type=int, default=1200, help="edge of the speedup crop, px")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    started = time.perf_counter()
    scene = make_scene(args.size, args.seed, config=config)
    scene_seconds = time.perf_counter() - started
    model = detection_model("mc", config.grid.pixel_size_m)

    started = time.perf_counter()
    tile = detect_tile(scene.velocity, model=model, config=config)
    tile_seconds = time.perf_counter() - started

    crop = tile.velocity["ascending"][: args.crop, : args.crop]
    observed = np.isfinite(scene.velocity["ascending"][: args.crop, : args.crop])
    timings = {}
    maps = {}
    for method in ("fully_conv", "sliding"):
        t0 = time.perf_counter()
        maps[method] = probability_map(
            crop, observed=observed, model=model, config=config, method=method
        )
        timings[method] = time.perf_counter() - t0
    ok = np.isfinite(maps["fully_conv"].probability)
    correlation = np.corrcoef(maps["fully_conv"].probability[ok], maps["sliding"].probability[ok])[
        0, 1
    ]

    looks = list(scene.velocity.values())
    velocity, counts = raw_velocity(looks, [np.isfinite(v).astype(np.int32) for v in looks])
    truth = scene.truth()
    sites = extract_sites(
        tile.combined.probability,
        velocity,
        scene.transform,
        scene.crs,
        counts=counts,
        geometries=tile.combined.seen,
        params=config.sites,
    )
    cnn = score_sites(sites[sites["level"] == config.sites.levels[0]], truth)
    base = baseline_sites(
        velocity, scene.transform, scene.crs, counts=counts, params=config.baseline
    )
    threshold = config.baseline.thresholds_mm_yr[0]
    baseline = score_sites(base[base["threshold"] == threshold], truth)

    result = {
        "benchmark": "detect",
        "cpus": os.cpu_count(),
        "tile_px": args.size,
        "looks": len(scene.velocity),
        "wrap_variants": len(config.wrap.rho_mm_yr) * len(config.wrap.tau_mm_yr),
        "scene_seconds": round(scene_seconds, 2),
        "tile_seconds": {
            "interpolate": round(tile.seconds["interpolate"], 2),
            "score": round(tile.seconds["score"], 2),
            "total": round(tile_seconds, 2),
        },
        "crop_px": args.crop,
        "crop_seconds": {k: round(v, 2) for k, v in timings.items()},
        "speedup_fully_conv": round(timings["sliding"] / timings["fully_conv"], 1),
        "correlation": round(float(correlation), 4),
        "scene": {
            "sources": len(truth),
            "cnn": _scores(cnn, f"P > {config.sites.levels[0]:g}"),
            "baseline": _scores(baseline, f"|v| >= {threshold:g} mm/yr"),
        },
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


def _scores(score: dict, rule: str) -> dict:
    return {
        "rule": rule,
        "recall": round(score["recall"], 3),
        "precision": round(score["precision"], 3),
        "false_positive_sites": score["false_positive_sites"],
        "sites": score["sites"],
        "missed": score["missed"],
    }


if __name__ == "__main__":
    main()
