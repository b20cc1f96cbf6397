"""Dashboard benchmark: render time of every page with a run of 100,000 sites.

    python bench/dashboard.py [--sites 100000] [--repeats 3] [--json]

Builds a store with the demo dataset (a seeded 10 km scene, 2 × 2 tiles of 500 px) and one
real run over it, then adds a run with the same tiles and ``--sites`` synthetic sites
(squares of 20–400 m with plausible statistics, spread over the scene) published through
the same code as a real run. Each page is rendered with Streamlit's AppTest: the first
render (cold caches) and the median of ``--repeats`` re-renders (what a user waits for when
moving a widget). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from engine.config import RunConfig
from engine.demo import demo_points
from engine.ingest import IngestOptions, ingest
from engine.pipeline import ExecutorSpec, run
from engine.runs import begin_run, finish_run, get_run, record_tiles, run_tiles
from engine.scenes import make_scene
from engine.sites import SITE_COLUMNS
from engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    "pages/overview.py", "pages/velocity_probability.py", "pages/thresholds.py",
    "pages/site.py", "pages/time_series.py", "pages/corridor.py", "pages/gnss_validation.py",
    "pages/rerun.py",
]  # fmt: skip


def build_store(root: Path, n_sites: int) -> tuple[Store, str]:
    store = Store(root)
    config = RunConfig.model_validate({"grid": {"tile_size_px": 500, "tile_overlap_px": 100}})
    scene = make_scene(1000, 7)
    points = root / "demo.parquet"
    root.mkdir(parents=True, exist_ok=True)
    demo_points(scene, seed=7).to_parquet(points, index=False)
    ingest([points], name="demo", store=store, options=IngestOptions(units="mm"), config=config)
    real = run(config, "demo", store=store, executor=ExecutorSpec("inprocess"))
    info = get_run(store, real.run_id)

    big = f"bench{n_sites}"
    begin_run(store, info.__class__(**{**info.__dict__, "run_id": big, "cache_key": big}))
    tiles = run_tiles(store, real.run_id)
    record_tiles(store, big, [(k, f.name, f.name, 0.0) for k, f in tiles if f is not None])
    sites = synthetic_sites(n_sites, scene.transform, scene.crs, [k for k, _ in tiles])
    finish_run(store, big, sites, sites.iloc[:0].rename(columns={"level": "threshold"}),
               {**info.summary, "sites": sites["level"].map(
                   {0.5: "p50", 0.75: "p75", 0.9: "p90"}).value_counts().to_dict()})  # fmt: skip
    return store, big


def synthetic_sites(n: int, transform, crs: str, tile_keys: list[str]) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(0)
    x0, y1 = transform.c, transform.f
    x = rng.uniform(x0, x0 + 10_000, n)
    y = rng.uniform(y1 - 10_000, y1, n)
    half = rng.uniform(10, 200, n)
    boxes = shapely.box(x - half, y - half, x + half, y + half)
    frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries(boxes, crs=crs)).to_crs("EPSG:4326")
    level = rng.choice([0.5, 0.75, 0.9], n, p=[0.6, 0.25, 0.15])
    v = rng.normal(-2, 4, n)
    cent = frame.geometry.centroid
    columns = {
        "level": level, "area_m2": (2 * half) ** 2, "n_points": rng.integers(4, 400, n),
        "v_mean": v, "v_min": v - 2, "v_max": v + 2, "v_ring": rng.normal(0, 1, n),
        "dv": v, "motion": np.where(v > 0, "uplift", "subsidence"),
        "p_max": np.maximum(level + 0.05, rng.uniform(0.5, 1, n)).clip(0, 1),
        "p_mean": level + 0.02, "looks": "ascending,descending", "single_geometry": False,
        "priority": np.abs(v) * level, "centroid_lon": cent.x, "centroid_lat": cent.y,
    }  # fmt: skip
    for name, values in columns.items():
        frame[name] = values
    frame["site_id"] = [f"s{i:06d}" for i in range(n)]
    frame["tile_key"] = rng.choice(tile_keys, n)
    return frame[[*SITE_COLUMNS, "tile_key"]]


def render_times(store: Store, run_id: str, repeats: int) -> dict[str, dict[str, float]]:
    from streamlit.testing.v1 import AppTest

    os.environ["GROUNDWATCH_HOME"] = str(store.root)
    out = {}
    for page in PAGES:
        if not (ROOT / page).exists():
            continue
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.switch_page(page)
        times = []
        for _ in range(repeats + 1):
            at.session_state["dataset"] = "demo"
            at.session_state["run"] = run_id
            t0 = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t0)
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception[0].message}")
        out[Path(page).stem] = {
            "first_s": round(times[0], 3),
            "rerun_median_s": round(statistics.median(times[1:]), 3),
        }
        print(page, out[Path(page).stem], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    store, run_id = build_store(Path(tempfile.mkdtemp(prefix="bench-dashboard-")), args.sites)
    pages = render_times(store, run_id, args.repeats)
    result = {
        "benchmark": "dashboard", "cpus": os.cpu_count(), "sites": args.sites,
        "pages": pages, "max_rerun_s": max(p["rerun_median_s"] for p in pages.values()),
        "max_first_s": max(p["first_s"] for p in pages.values()),
    }  # fmt: skip
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
