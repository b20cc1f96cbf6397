"""GNSS rates of benchmarks: published, from two campaigns, or fitted to a daily series."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from engine.config import TimeseriesParams, ValidateParams
from engine.errors import InputError
from engine.timeseries import DAYS_PER_YEAR, fit_velocity

if TYPE_CHECKING:
    from engine.ingest import Benchmarks, GnssSeries

from engine.validate._core import ENU, DateLike


def gnss_rates(
    benchmarks: Benchmarks,
    *,
    crs: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    params: ValidateParams = ValidateParams(),
) -> pd.DataFrame:
    """Rates of every benchmark (mm/yr) and its position in ``crs``.

    Parameters
    ----------
    benchmarks
        From :func:`engine.ingest.read_benchmarks`.
    crs
        CRS of the points to compare with; benchmarks in lon/lat are projected to it, x/y in
        ``benchmarks.xy_crs`` transformed. None keeps x/y as given.
    start, end
        Dates (inclusive) that bound the series fits, e.g. the InSAR period; None = all.
    params
        ``min_series_years``: a shorter series (within the window) is refused.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``method`` (rate/campaign/series), ``lon``, ``lat``, ``x``, ``y``,
        ``rate_east/north/up`` and ``std_east/north/up`` (NaN where unknown; series errors
        are the formal white-noise ones, optimistic for GNSS), ``components`` (enu/up),
        ``n_epochs``, ``span_years``.

    Raises
    ------
    engine.errors.InputError
        A series with too few days within the window.
    ValueError
        Benchmarks with lon/lat only and no ``crs``.
    """
    t = benchmarks.table
    rate = t[[f"rate_{c}" for c in ENU]].to_numpy(np.float64, copy=True)
    std = t[[f"std_{c}" for c in ENU]].to_numpy(np.float64, copy=True)
    n_epochs, span = np.zeros(len(t), dtype=np.int64), np.full(len(t), np.nan)
    camp = (t["kind"] == "campaign").to_numpy()
    if camp.any():  # Δ/Δt over the campaign interval
        years = (t["date2"] - t["date1"]).dt.days.to_numpy(np.float64)[camp] / DAYS_PER_YEAR
        rate[camp, 2] = (t["value2_mm"] - t["value1_mm"]).to_numpy(np.float64)[camp] / years
        std[camp, 2] = np.hypot(t["sigma1_mm"], t["sigma2_mm"]).to_numpy()[camp] / years
        n_epochs[camp], span[camp] = 2, years
    for i in np.flatnonzero((t["kind"] == "series").to_numpy()):
        series = benchmarks.series[t["id"].iloc[i]]
        rate[i], std[i], n_epochs[i], span[i] = _series_rate(series, start, end, params)
    out = t[["id", "kind", "lon", "lat", "x", "y"]].rename(columns={"kind": "method"})
    out[[f"rate_{c}" for c in ENU]] = rate
    out[[f"std_{c}" for c in ENU]] = std
    out["n_epochs"], out["span_years"] = n_epochs, span
    horizontal = np.isfinite(out[["rate_east", "rate_north"]].to_numpy()).all(axis=1)
    out["components"] = np.where(horizontal, "enu", "up")
    out["x"], out["y"] = _positions(out, crs, benchmarks.xy_crs)
    return out.reset_index(drop=True)


def _series_rate(
    s: GnssSeries, start: DateLike | None, end: DateLike | None, params: ValidateParams
) -> tuple[NDArray[np.float32], NDArray[np.float32], int, float]:
    """WLS rates of east, north, up (weights 1/σ²), their errors, days used and span."""
    keep = np.ones(s.dates.size, dtype=bool)
    if start is not None:
        keep &= s.dates >= np.asarray(start, dtype="datetime64[D]")
    if end is not None:
        keep &= s.dates <= np.asarray(end, dtype="datetime64[D]")
    dates = s.dates[keep]
    span = (dates[-1] - dates[0]).astype(np.int64) / DAYS_PER_YEAR if dates.size else 0.0
    if dates.size < 3 or span < params.min_series_years:
        raise InputError(
            s.path,
            f"station {s.station}: {dates.size} days spanning {span:.2f} yr within "
            f"{start or 'start'} … {end or 'end'}",
            f"at least {params.min_series_years:g} yr of daily positions (widen the window)",
        )
    fit = fit_velocity(
        s.enu_mm[:, keep], dates, weights=1.0 / s.sigma_mm[:, keep] ** 2, params=TimeseriesParams()
    )
    return fit.velocity, fit.velocity_std, int(fit.n_epochs[2]), float(span)


def _positions(out: pd.DataFrame, crs: str | None, xy_crs: str | None) -> tuple[NDArray, NDArray]:
    from pyproj import Transformer

    x, y = out["x"].to_numpy(np.float64), out["y"].to_numpy(np.float64)
    given = np.isfinite(x) & np.isfinite(y)
    if given.any() and xy_crs and crs and xy_crs != crs:
        x, y = np.array(Transformer.from_crs(xy_crs, crs, always_xy=True).transform(x, y))
    if not given.all():
        if crs is None:
            raise ValueError("benchmarks given in lon/lat need the crs of the points")
        lon, lat = out["lon"].to_numpy(np.float64), out["lat"].to_numpy(np.float64)
        px, py = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
        x, y = np.where(given, x, px), np.where(given, y, py)
    return x, y
