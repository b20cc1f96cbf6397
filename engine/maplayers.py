"""The data a dashboard map draws beneath the sites: where the run has data, and its points.

* :func:`data_bounds` — the lon/lat box of a run's data (its region cut to the dataset),
  what the initial view should fit; the probability mosaic is whole tiles, often much
  larger than the data (a 10 km scene in a 25 km tile).
* :func:`point_sample` — a seeded sample of the run's points with faint velocity colours,
  so that a map without a basemap still shows where measurements are and how they move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from engine.mapview import velocity_colours
from engine.runs import RunInfo
from engine.store import Store

__all__ = ["data_bounds", "point_sample"]

MAX_BACKGROUND_POINTS = 30_000  # enough to show texture; the browser draws it at once


def _region_xy(store: Store, run: RunInfo) -> tuple[float, float, float, float] | None:
    """The run CRS box of the run's region cut to its dataset, or None for a whole run."""
    if not run.region:
        return None
    box = shapely.from_wkt(run.region).bounds
    w, s, e, n = store.dataset(run.dataset).bbox_lonlat
    to_xy = Transformer.from_crs("EPSG:4326", run.crs, always_xy=True)
    dx0, dy0, dx1, dy1 = to_xy.transform_bounds(w, s, e, n)
    cut = (max(box[0], dx0), max(box[1], dy0), min(box[2], dx1), min(box[3], dy1))
    return cut if cut[0] < cut[2] and cut[1] < cut[3] else box


def data_bounds(store: Store, run: RunInfo) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of the run's data: the dataset's box, or the region's
    box cut to it."""
    box = _region_xy(store, run)
    if box is None:
        return tuple(float(v) for v in store.dataset(run.dataset).bbox_lonlat)
    to_lonlat = Transformer.from_crs(run.crs, "EPSG:4326", always_xy=True)
    return tuple(float(v) for v in to_lonlat.transform_bounds(*box))


def point_sample(
    store: Store, run: RunInfo, *, max_points: int = MAX_BACKGROUND_POINTS
) -> tuple[pd.DataFrame, float]:
    """At most ``max_points`` of the run's points (lon, lat, velocity, colour) and the
    velocity at which their colours saturate (the 98th percentile of |v|, ≥ 3 mm/yr)."""
    table = store.read_points(run.dataset, bbox=_region_xy(store, run),
                              columns=["lon", "lat", "velocity"], sample=max_points)  # fmt: skip
    points = table.to_pandas()
    v = points["velocity"].to_numpy(dtype=float)
    finite = np.abs(v[np.isfinite(v)])
    limit = max(3.0, float(np.quantile(finite, 0.98))) if finite.size else 3.0
    points["colour"] = velocity_colours(v, limit).tolist()
    return points, limit
