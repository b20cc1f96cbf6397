"""Validation against a stored dataset: read only the points near the benchmarks."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from engine.config import ValidateParams
from engine.errors import InputError
from engine.types import Bbox

if TYPE_CHECKING:
    from engine.ingest import Benchmarks
    from engine.store import Store

from engine.validate._core import _LOS, DateLike, ValidationResult, validate_benchmarks
from engine.validate._rates import gnss_rates


def validate_dataset(
    store: Store,
    dataset: str,
    benchmarks: Benchmarks,
    *,
    params: ValidateParams = ValidateParams(),
    geometry: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
) -> ValidationResult:
    """Validate a store dataset against GNSS benchmarks (the CLI's and the dashboard's path).

    The benchmarks' rates are fitted (series over the dataset's dates when
    ``params.series_window`` is ``"insar"``), then only the points within
    ``max(search_m, radius_m)`` of a benchmark are read, never the whole (national) dataset,
    and compared by :func:`validate_benchmarks`.

    Parameters
    ----------
    store, dataset
        Where the InSAR points are.
    benchmarks
        From :func:`engine.ingest.read_benchmarks` (or ``read_uploaded_benchmarks``).
    params
        Radius, statistic, direction, series window.
    geometry
        Compare only the points of this geometry; None compares each geometry.
    start, end
        Bounds of the GNSS series fits; given ones override the dataset's dates.

    Returns
    -------
    ValidationResult
        As :func:`validate_benchmarks`, its rows with ``lon``/``lat`` (WGS84) added.

    Raises
    ------
    engine.errors.StoreError
        No such dataset.
    engine.errors.InputError
        A geometry the dataset lacks; a GNSS series too short within the window.
    """
    from pyproj import Transformer

    info = store.dataset(dataset)
    if geometry is not None and geometry not in info.points:
        known = " or ".join(sorted(info.points)) or "none"
        raise InputError("geometry", f"{geometry!r} not in dataset {dataset!r}", known)
    if params.series_window == "insar" and info.first_date and info.last_date:
        start, end = start or info.first_date, end or info.last_date
    rates = gnss_rates(benchmarks, crs=info.crs, start=start, end=end, params=params)
    present = set(store.point_columns(dataset))
    wanted = ("pid", "x", "y", "lon", "lat", "velocity", "geometry", *_LOS)
    columns = [c for c in wanted if c in present]
    # only the neighbourhood of each benchmark is read, never the whole (national) dataset
    pad = max(params.search_m, params.radius_m)
    tables = [
        store.read_points(dataset, bbox=box, geometry=geometry, columns=columns).to_pandas()
        for box in search_boxes(rates["x"], rates["y"], pad_m=pad)
    ]
    points = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    result = validate_benchmarks(rates, points, params=params)
    rows = result.rows.copy()
    to_lonlat = Transformer.from_crs(info.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(rows["x"].to_numpy(np.float64), rows["y"].to_numpy(np.float64))
    rows.insert(rows.columns.get_loc("y") + 1, "lon", lon)
    rows.insert(rows.columns.get_loc("lon") + 1, "lat", lat)
    return dataclasses.replace(result, rows=rows)


def search_boxes(x: ArrayLike, y: ArrayLike, *, pad_m: float) -> list[Bbox]:
    """Disjoint boxes that cover every point within ``pad_m`` of the benchmarks.

    Cells of ``pad_m`` on a grid anchored at the origin; the cells within reach of each
    benchmark are merged into runs along x. The boxes are half-open like
    :meth:`engine.store.Store.read_points` bounding boxes, so no point is read twice.

    Examples
    --------
    >>> boxes = search_boxes([150.0, 450.0], [50.0, 50.0], pad_m=100.0)
    >>> len(boxes), boxes[0]
    (3, Bbox(minx=0.0, miny=-100.0, maxx=600.0, maxy=0.0))
    """
    bx, by = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if bx.size == 0:
        return []
    reach = np.array([-pad_m, 0.0, pad_m])
    ix = np.floor((bx[:, None, None] + reach[None, :, None]) / pad_m).astype(np.int64)
    iy = np.floor((by[:, None, None] + reach[None, None, :]) / pad_m).astype(np.int64)
    cells = np.unique(
        np.c_[
            np.broadcast_to(iy, (bx.size, 3, 3)).ravel(),
            np.broadcast_to(ix, (bx.size, 3, 3)).ravel(),
        ],
        axis=0,
    )
    # a run breaks where the row changes or the column jumps
    brk = np.r_[True, (np.diff(cells[:, 0]) != 0) | (np.diff(cells[:, 1]) != 1)]
    first, last = np.flatnonzero(brk), np.r_[np.flatnonzero(brk)[1:] - 1, len(cells) - 1]
    return [
        Bbox(
            float(cells[a, 1] * pad_m),
            float(cells[a, 0] * pad_m),
            float((cells[b, 1] + 1) * pad_m),
            float((cells[a, 0] + 1) * pad_m),
        )
        for a, b in zip(first, last, strict=True)
    ]


# ----------------------------------------------------------------------------- helpers
