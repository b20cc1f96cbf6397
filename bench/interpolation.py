"""Interpolation benchmark: quality against a known truth, and speed, of §III-A (Algorithm 1).

    python bench/interpolation.py [--json] [--seed 0] [--density 0.1] [--no-reference]

Scenes come from tests/_fields.py: Mogi bowls + turbulent atmosphere (the truth), sampled
with a clustered "urban" mask, white + Laplace spike noise, then the NaN-aware 3×3 median.

1. A 2500² tile at 10 % density: the fast method only (denoise and interpolate timed
   separately). It runs first, so the peak resident memory of the process (getrusage) is
   that of this tile, scene generation included.
2. A 512² tile at ``--density``: RMSE against the truth of nearest neighbour, Delaunay,
   the reference (Algorithm 1 literally, a full SVD per iteration, ~40–60 s on two cores)
   and the fast method (median of three runs after a warm-up).
3. 512² tiles at 2 / 10 / 30 %: RMSE of nearest, Delaunay and the fast method with 0, 1
   and 2 residual passes (0 = Algorithm 1 as published, 1 = the default).

The FFTs use every core (``scipy.fft.set_workers``), as LAPACK does for the reference.
Human-readable lines go to stdout, progress to stderr; the last stdout line is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402

from engine.config import InterpolateParams  # noqa: E402
from engine.denoise import denoise  # noqa: E402
from engine.interpolate import complete, delaunay, nearest  # noqa: E402
from tests._fields import make_scene, rmse  # noqa: E402

SMALL, BIG, BIG_DENSITY = 512, 2500, 0.10
DENSITIES = (0.02, 0.10, 0.30)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _progress(label: str):
    def report(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            print(f"  {label}: iteration {done}/{total}", file=sys.stderr, flush=True)

    return report


def _timed(func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_big(seed: int) -> dict:
    scene = make_scene(BIG, BIG_DENSITY, seed=seed)
    den, t_denoise = _timed(denoise, scene.observed)
    res, t_fast = _timed(complete, den.filtered)
    out = {
        "seconds_denoise": t_denoise,
        "seconds_fast": t_fast,
        "iterations": list(res.iterations),
        "rmse_fast": rmse(res.image, scene.truth),
        "peak_rss_mb": _peak_rss_mb(),
    }
    print(
        f"{BIG}² at {BIG_DENSITY:.0%}: denoise {t_denoise:.2f} s, fast interpolation "
        f"{t_fast:.2f} s (CG iterations {res.iterations}), RMSE {out['rmse_fast']:.3f} mm/yr, "
        f"peak RSS {out['peak_rss_mb']:.0f} MB"
    )
    return out


def bench_small(density: float, seed: int, with_reference: bool) -> dict:
    scene = make_scene(SMALL, density, seed=seed)
    med = denoise(scene.observed).filtered
    complete(med[:64, :64])  # warm-up: imports, FFT plans
    runs = [_timed(complete, med) for _ in range(3)]
    fast, t_fast = runs[0][0], statistics.median(t for _, t in runs)
    out = {
        "rmse": {
            "nearest": rmse(nearest(med), scene.truth),
            "delaunay": rmse(delaunay(med), scene.truth),
            "mc_fast": rmse(fast.image, scene.truth),
        },
        "seconds": {"mc_fast_512": t_fast},
        "iterations": {"mc_fast": list(fast.iterations)},
    }
    if with_reference:
        print(f"reference on {SMALL}² (full SVD every iteration; about a minute) ...", flush=True)
        params = InterpolateParams(method="reference")
        ref, t_ref = _timed(complete, med, params=params, progress=_progress("reference"))
        out["rmse"]["mc_reference"] = rmse(ref.image, scene.truth)
        out["seconds"]["mc_reference_512"] = t_ref
        out["iterations"]["mc_reference"] = list(ref.iterations)
        out["fast_vs_reference_relative_difference"] = float(
            np.linalg.norm(fast.image - ref.image) / np.linalg.norm(ref.image)
        )
    return out


def bench_densities(seed: int) -> dict:
    table = {}
    for density in DENSITIES:
        scene = make_scene(SMALL, density, seed=seed)
        med = denoise(scene.observed).filtered
        row = {
            "nearest": rmse(nearest(med), scene.truth),
            "delaunay": rmse(delaunay(med), scene.truth),
        }
        for passes in (0, 1, 2):
            image = complete(med, params=InterpolateParams(residual_passes=passes)).image
            row[f"mc_fast_passes_{passes}"] = rmse(image, scene.truth)
        table[f"{density:g}"] = row
        cells = "  ".join(f"{k} {v:.3f}" for k, v in row.items())
        print(f"  {SMALL}² at {density:>4.0%}: {cells}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The reference run on the 512² tile takes about a minute on two cores.",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    parser.add_argument("--density", type=float, default=0.1, help="512² tile density")
    parser.add_argument("--no-reference", action="store_true", help="skip the slow reference")
    args = parser.parse_args(argv)

    workers = os.cpu_count() or 1
    with scipy.fft.set_workers(workers):
        big = bench_big(args.seed)
        small = bench_small(args.density, args.seed, not args.no_reference)
        print(f"RMSE against the truth on {SMALL}² at {args.density:.0%} (mm/yr):")
        for name, value in small["rmse"].items():
            print(f"  {name:>13}: {value:.4f}")
        print("per density (fast; passes = residual passes, 1 is the default):")
        table = bench_densities(args.seed)

    seconds = {**small["seconds"], "mc_fast_2500": big["seconds_fast"]}
    result = {
        "density": args.density,
        "seed": args.seed,
        "rmse": small["rmse"],
        "seconds": {**seconds, "denoise_2500": big["seconds_denoise"]},
        "speedup_512": (
            seconds["mc_reference_512"] / seconds["mc_fast_512"]
            if "mc_reference_512" in seconds
            else None
        ),
        "peak_rss_mb": _peak_rss_mb(),
        "iterations": {**small["iterations"], "mc_fast_2500": big["iterations"]},
        "rmse_2500_fast": big["rmse_fast"],
        "rmse_by_density_512": table,
        "fft_workers": workers,
        "cpu_count": os.cpu_count(),
    }
    if "mc_reference" in small["rmse"]:
        ratio = small["rmse"]["mc_fast"] / small["rmse"]["mc_reference"]
        result["fast_over_reference_rmse"] = ratio
        result["fast_vs_reference_relative_difference"] = small[
            "fast_vs_reference_relative_difference"
        ]
        result["targets_met"] = {
            "fast_rmse_le_1.05x_reference": ratio <= 1.05,
            "mc_beats_delaunay": small["rmse"]["mc_fast"] < small["rmse"]["delaunay"],
            "speedup_512_ge_50": result["speedup_512"] >= 50,
            "fast_2500_le_30s": big["seconds_fast"] <= 30,
            "peak_rss_le_2GB": result["peak_rss_mb"] <= 2048,
        }
    print(
        f"speedup on {SMALL}²: {result['speedup_512'] or float('nan'):.0f}x; "
        f"{BIG}² fast: {big['seconds_fast']:.2f} s; peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
