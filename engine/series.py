"""Time series view: chosen points' displacement series and fitted velocities (004 eq. 3–4).

Not a pipeline stage but the engine side of the dashboard's time-series page: up to
:data:`MAX_POINTS` points of a dataset, picked by product id, around a place or inside a
detected site, are read with their dated displacement columns (``dYYYYMMDD``, mm) and fitted
by :func:`engine.timeseries.fit_velocity`, the weighted least squares that gives the velocity
of a product published without one. Only the points asked for are read (``pid IN (...)``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from engine.config import TimeseriesParams
from engine.errors import InputError
from engine.store import Store
from engine.timeseries import DAYS_PER_YEAR, fit_velocity, parse_date_columns

__all__ = [
    "MAX_POINTS",
    "PointSeries",
    "fit_series",
    "fitted_lines",
    "has_time_series",
    "points_in_site",
    "points_near",
    "read_point_series",
]

logger = logging.getLogger(__name__)

MAX_POINTS = 20
"""Most points shown at once, as commercial InSAR portals allow."""
POINT_COLUMNS = ("pid", "geometry", "x", "y", "lon", "lat", "velocity", "velocity_std")


class PointSeries(NamedTuple):
    """Displacement series of a few points (:func:`read_point_series`)."""

    points: pd.DataFrame
    """One row per point, in the order asked: :data:`POINT_COLUMNS` (``x``/``y`` in metres
    in the dataset CRS; ``velocity``/``velocity_std`` in mm/yr as the product gives them)."""
    dates: NDArray[np.datetime64]
    """``(n_dates,)`` every date of the dataset, ``datetime64[D]``, increasing."""
    displacements: NDArray[np.float32]
    """``(n_points, n_dates)`` displacement in mm; NaN where a point has no value."""

    def long(self) -> pd.DataFrame:
        """One row per point and observed date: pid, geometry, date, displacement_mm."""
        n, m = self.displacements.shape
        out = pd.DataFrame(
            {
                "pid": np.repeat(self.points["pid"].to_numpy(), m),
                "geometry": np.repeat(self.points["geometry"].to_numpy(), m),
                "date": np.tile(self.dates, n),
                "displacement_mm": self.displacements.ravel(),
            }
        )
        return out[np.isfinite(out["displacement_mm"].to_numpy())].reset_index(drop=True)


def has_time_series(store: Store, dataset: str) -> bool:
    """Whether the dataset's points carry dated displacements (``dYYYYMMDD`` columns)."""
    return len(_date_columns(store, dataset)) >= 2


def read_point_series(
    store: Store, dataset: str, pids: Iterable[str], *, geometry: str | None = None
) -> PointSeries:
    """Read the displacement series of the points with product ids ``pids``.

    Parameters
    ----------
    store, dataset
        Where the points are.
    pids
        1 to :data:`MAX_POINTS` product point ids (repeats and blanks are ignored).
    geometry
        Only points of this geometry (an id may occur in two geometries of one dataset).

    Raises
    ------
    engine.errors.InputError
        No id, more than :data:`MAX_POINTS` points, an unknown id, or a dataset without
        time series.
    """
    ids = list(dict.fromkeys(s for s in (str(p).strip() for p in pids) if s))
    if not ids:
        raise InputError("points", "none chosen", f"1 to {MAX_POINTS} point ids")
    if len(ids) > MAX_POINTS:
        raise InputError("points", f"{len(ids)} chosen", f"at most {MAX_POINTS} at a time")
    dated = _date_columns(store, dataset)
    if len(dated) < 2:
        raise InputError(
            dataset,
            "has no time series (no dYYYYMMDD displacement columns)",
            "a product with dated displacements, e.g. EGMS L2b",
        )
    names = sorted(dated, key=dated.__getitem__)
    base = _present(store, dataset)
    columns = [*base, *names]
    table = store.read_points(dataset, pids=ids, geometry=geometry, columns=columns).to_pandas()
    missing = [p for p in ids if p not in set(table["pid"])]
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (" …" if len(missing) > 5 else "")
        raise InputError(dataset, f"no point with id {shown}", "ids of the dataset's points")
    if len(table) > MAX_POINTS:
        raise InputError(
            "points", f"the ids match {len(table)} points", f"at most {MAX_POINTS} at a time"
        )
    rank = table["pid"].map({p: i for i, p in enumerate(ids)})
    table = table.iloc[np.lexsort((table["geometry"].astype(str), rank))].reset_index(drop=True)
    return PointSeries(
        table.reindex(columns=list(POINT_COLUMNS)),
        np.array([dated[c] for c in names], dtype="datetime64[D]"),
        table[names].to_numpy(np.float32),
    )


def fit_series(
    series: PointSeries, *, params: TimeseriesParams = TimeseriesParams()
) -> pd.DataFrame:
    """Velocity ± standard error of every point, fitted to its series (004 eq. 3–4).

    Returns
    -------
    pandas.DataFrame
        ``pid``, ``geometry``, ``velocity`` and ``velocity_std`` (mm/yr, a-posteriori error
        unless ``params`` say otherwise), ``intercept`` (mm at ``series.dates[0]``),
        ``n_epochs``, ``product_velocity`` (mm/yr, the product's own). NaN where a point
        has fewer than ``params.min_epochs`` values.
    """
    fit = fit_velocity(series.displacements, series.dates, params=params)
    out = series.points[["pid", "geometry"]].copy()
    out["velocity"], out["velocity_std"] = fit.velocity, fit.velocity_std
    out["intercept"], out["n_epochs"] = fit.intercept, fit.n_epochs
    out["product_velocity"] = series.points["velocity"].to_numpy(np.float32)
    return out


def fitted_lines(series: PointSeries, fits: pd.DataFrame | None = None) -> pd.DataFrame:
    """The fitted line of every point over its observed dates, with its ±1σ velocity fan.

    ``fitted_mm = intercept + v·t`` (``t`` in years since ``series.dates[0]``);
    ``lower_mm``/``upper_mm`` are the lines of slope ``v ∓ σ_v`` and ``v ± σ_v`` through the
    fit at the mean observed time, where intercept and velocity are uncorrelated.

    Returns
    -------
    pandas.DataFrame
        ``pid``, ``geometry``, ``date``, ``fitted_mm``, ``lower_mm``, ``upper_mm``: one row
        per point and date from its first to its last value.
    """
    fits = fit_series(series) if fits is None else fits
    t = (series.dates - series.dates[0]).astype(np.float64) / DAYS_PER_YEAR
    seen = np.isfinite(series.displacements)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = (seen * t).sum(axis=1) / seen.sum(axis=1)
    v = fits["velocity"].to_numpy(np.float64)[:, None]
    fitted = fits["intercept"].to_numpy(np.float64)[:, None] + v * t
    fan = fits["velocity_std"].to_numpy(np.float64)[:, None] * np.abs(t - t_mean[:, None])
    inside = np.cumsum(seen, axis=1) > 0
    inside &= np.cumsum(seen[:, ::-1], axis=1)[:, ::-1] > 0  # first to last observed date
    i, j = np.nonzero(inside)
    return pd.DataFrame(
        {
            "pid": series.points["pid"].to_numpy()[i],
            "geometry": series.points["geometry"].to_numpy()[i],
            "date": series.dates[j],
            "fitted_mm": fitted[i, j],
            "lower_mm": (fitted - fan)[i, j],
            "upper_mm": (fitted + fan)[i, j],
        }
    )


def points_near(
    store: Store,
    dataset: str,
    lon: float,
    lat: float,
    *,
    radius_m: float,
    limit: int = MAX_POINTS,
    geometry: str | None = None,
) -> pd.DataFrame:
    """Points with an id within ``radius_m`` of (lon, lat), nearest first, at most ``limit``.

    Returns :data:`POINT_COLUMNS` plus ``distance_m``.
    """
    from pyproj import Transformer

    if not radius_m > 0:
        raise InputError("radius", f"{radius_m!r} m", "a positive distance in m")
    info = store.dataset(dataset)
    x0, y0 = Transformer.from_crs("EPSG:4326", info.crs, always_xy=True).transform(lon, lat)
    box = (x0 - radius_m, y0 - radius_m, x0 + radius_m, y0 + radius_m)
    table = _read(store, dataset, box, geometry)
    table["distance_m"] = np.hypot(table["x"] - x0, table["y"] - y0)
    table = table[table["distance_m"].to_numpy() <= radius_m]
    return table.sort_values("distance_m", kind="stable").head(limit).reset_index(drop=True)


def points_in_site(
    store: Store, dataset: str, site: Any, *, limit: int = MAX_POINTS, geometry: str | None = None
) -> pd.DataFrame:
    """Points with an id inside a site's outline, fastest-moving first, at most ``limit``.

    Parameters
    ----------
    site
        A row of :func:`engine.runs.read_sites` (its ``geometry`` is the WGS84 outline), or
        the outline itself, a shapely (multi)polygon in lon/lat.

    Returns
    -------
    pandas.DataFrame
        :data:`POINT_COLUMNS`, sorted by ``|velocity|`` descending.
    """
    import shapely
    from pyproj import Transformer

    outline = site["geometry"] if isinstance(site, pd.Series) else site
    info = store.dataset(dataset)
    to_xy = Transformer.from_crs("EPSG:4326", info.crs, always_xy=True)
    outline = shapely.transform(outline, to_xy.transform, interleaved=False)
    table = _read(store, dataset, outline.bounds, geometry)
    table = table[shapely.contains_xy(outline, table["x"].to_numpy(), table["y"].to_numpy())]
    order = np.argsort(-np.abs(table["velocity"].to_numpy(np.float64)), kind="stable")
    return table.iloc[order].head(limit).reset_index(drop=True)


# ----------------------------------------------------------------------------- helpers
def _date_columns(store: Store, dataset: str) -> dict[str, np.datetime64]:
    return parse_date_columns(c for c in store.point_columns(dataset) if c.startswith(("d", "D")))


def _present(store: Store, dataset: str) -> list[str]:
    present = set(store.point_columns(dataset))
    return [c for c in POINT_COLUMNS if c in present]


def _read(store: Store, dataset: str, box: Any, geometry: str | None) -> pd.DataFrame:
    """Points in a box that have a product id (needed to read their series)."""
    columns = _present(store, dataset)
    table = store.read_points(dataset, bbox=box, geometry=geometry, columns=columns).to_pandas()
    table = table.reindex(columns=list(POINT_COLUMNS))
    has_id = table["pid"].notna().to_numpy()
    if len(table) and not has_id.any():
        raise InputError(dataset, "points have no product ids", "a product with a pid column")
    return table[has_id]
