"""Detection benchmark: sites on realistic scenes against the truth and the hard negatives.

    python bench/detect.py [--size 1000] [--seeds 11 12] [--model default] [--speed] [--json]

For each seed, a benchmark scene (:func:`engine.scenes.make_scene`: all five source kinds
at the decided scale, a coast with no data, very sparse fields and incoherent spike
clusters) is detected in both geometries exactly as a pipeline tile is
(:func:`engine.detect.detect_tile`, :func:`engine.pipeline.site_probability`,
:func:`engine.sites.extract_sites`), and scored (:func:`engine.scenes.score_scene`) for the
CNN at each probability level and for the thresholding baseline at each threshold: site
recall by source velocity, recall at ≥ 3 mm/yr over all sources and over those whose
footprint holds the 4 points a site needs (``recall_ge3_observable``), false-positive
sites, spike clusters hit, sites over the sea, median site area ÷ source footprint, sites
with fewer than 4 points.

``--speed`` adds the old timing: one tile-sized scene scored fully convolutionally against
the paper's sliding window on a crop.

The last line is one JSON object; ``"scene"`` holds, per seed, ``"cnn"`` (the lowest
level), ``"cnn_p75"``, ``"cnn_p90"`` and ``"baseline_3"``, ``"baseline_4.5"``,
``"baseline_5"``. The default (two 10 km scenes) takes about a minute on 2 cores.
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
from engine.pipeline import raw_velocity, site_probability
from engine.scenes import make_scene, score_scene
from engine.sites import extract_sites, level_key, sites_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="scene edge, px (1000 = 10 km)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    parser.add_argument(
        "--model", default="default", help="shipped weights to detect with (paper: the paper's)"
    )
    parser.add_argument("--speed", action="store_true", help="also time fully conv vs sliding")
    parser.add_argument("--crop", type=int, default=1200, help="edge of the speedup crop, px")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    config = RunConfig()
    model = detection_model(args.model, config.grid.pixel_size_m)
    result: dict = {"benchmark": "detect", "cpus": os.cpu_count(), "size_px": args.size,
                    "model": args.model, "seconds": {}, "scene": {}}  # fmt: skip
    for seed in args.seeds:
        started = time.perf_counter()
        result["scene"][str(seed)] = score_seed(args.size, seed, model, config)
        result["seconds"][str(seed)] = round(time.perf_counter() - started, 1)
    if args.speed:
        result["speed"] = speed(model, config, args.crop)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


def score_seed(size: int, seed: int, model, config: RunConfig) -> dict:
    """The CNN at every level and the baseline at every threshold on one scene."""
    scene = make_scene(size, seed, pixel_size_m=config.grid.pixel_size_m, config=config)
    tile = detect_tile(scene.velocity, model=model, config=config)
    looks = list(scene.velocity.values())
    velocity, counts = raw_velocity(looks, [np.isfinite(v).astype(np.int32) for v in looks])
    sites = extract_sites(
        site_probability(tile), velocity, scene.transform, scene.crs, counts=counts,
        geometries=tile.combined.seen, params=config.sites,
    )  # fmt: skip
    out = {}
    for i, level in enumerate(config.sites.levels):
        name = "cnn" if i == 0 else f"cnn_{level_key(level)}"
        out[name] = score_scene(sites_at(sites, level), scene, min_points=config.sites.min_points)
    base = baseline_sites(
        velocity, scene.transform, scene.crs, counts=counts, params=config.baseline
    )
    for t in config.baseline.thresholds_mm_yr:
        chosen = base[np.isclose(base["threshold"], t)]
        out[f"baseline_{t:g}"] = score_scene(chosen, scene, min_points=config.sites.min_points)
    return out


def speed(model, config: RunConfig, crop_px: int) -> dict:
    """One tile-sized scene: interpolation and scoring time; fully conv vs sliding on a crop."""
    size = config.grid.tile_size_px + 2 * config.grid.tile_overlap_px
    scene = make_scene(size, 7, config=config)
    started = time.perf_counter()
    tile = detect_tile(scene.velocity, model=model, config=config)
    total = time.perf_counter() - started
    crop = tile.velocity["ascending"][:crop_px, :crop_px]
    raw = scene.velocity["ascending"][:crop_px, :crop_px]
    observed = np.isfinite(raw)
    timings, maps = {}, {}
    for method in ("fully_conv", "sliding"):
        t0 = time.perf_counter()
        maps[method] = probability_map(
            crop, observed=observed, model=model, config=config, method=method, observations=raw
        ).probability
        timings[method] = time.perf_counter() - t0
    ok = np.isfinite(maps["fully_conv"])
    correlation = np.corrcoef(maps["fully_conv"][ok], maps["sliding"][ok])[0, 1]
    return {
        "tile_px": size,
        "tile_seconds": {"interpolate": round(tile.seconds["interpolate"], 2),
                         "score": round(tile.seconds["score"], 2), "total": round(total, 2)},
        "crop_px": crop_px,
        "crop_seconds": {k: round(v, 2) for k, v in timings.items()},
        "speedup_fully_conv": round(timings["sliding"] / timings["fully_conv"], 1),
        "correlation": round(float(correlation), 4),
    }  # fmt: skip


if __name__ == "__main__":
    main()
