"""Groundwatch engine: find ground deformation in InSAR velocity maps.

Array conventions, stated once: rasters are ``(rows, cols)`` float32 in mm/yr, line of sight,
positive towards the satellite; NaN means no data; ``mask=True`` means observed. Distances are
in metres in the run's projected CRS; map outputs are WGS84.

The public API is re-exported here and imported on first use, so ``import engine`` (and the
command line's ``--help``) stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "RunConfig": "engine.config",
    "load_config": "engine.config",
    "InputError": "engine.errors",
    "StoreError": "engine.errors",
    "IngestOptions": "engine.ingest",
    "Store": "engine.store",
    "DatasetInfo": "engine.store",
    "fit_velocity": "engine.timeseries",
    "choose_crs": "engine.grid",
    "rasterize_points": "engine.grid",
    "tiles_for_bounds": "engine.grid",
    "probability_map": "engine.detect",
    "detect_tile": "engine.detect",
    "combine": "engine.combine",
    "extract_sites": "engine.sites",
    "baseline_sites": "engine.baseline",
    "compare_sites": "engine.baseline",
    "make_scene": "engine.scenes",
    "score_sites": "engine.scenes",
    "Benchmarks": "engine.ingest",
    "read_benchmarks": "engine.ingest",
    "read_pairs": "engine.ingest",
    "read_tenv3": "engine.ingest",
    "ValidationResult": "engine.validate",
    "gnss_rates": "engine.validate",
    "validate_benchmarks": "engine.validate",
    "validate_pairs": "engine.validate",
    "validate_dataset": "engine.validate",
    "read_uploaded_benchmarks": "engine.ingest",
    "read_point_series": "engine.series",
    "fit_series": "engine.series",
    "heatmap": "engine.explore",
    "velocity_probability": "engine.explore",
    "site_detail": "engine.explore",
    "baseline_variant": "engine.explore",
    "ExecutorSpec": "engine.pipeline",
    "Region": "engine.pipeline",
    "RunResult": "engine.pipeline",
    "run": "engine.pipeline",
    "RunInfo": "engine.runs",
    "get_run": "engine.runs",
    "list_runs": "engine.runs",
    "read_sites": "engine.runs",
    "read_mosaic": "engine.rasters",
    "write_mosaic": "engine.rasters",
    "build_demo": "engine.demo",
    "read_route": "engine.corridor",
    "corridor_sites": "engine.corridor",
    "corridor_polygon": "engine.corridor",
    "Bbox": "engine.types",
    "Geometry": "engine.types",
    "Tile": "engine.types",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
