"""Validate stage: InSAR velocities against GNSS benchmarks (004 §5.2, Table 2, Fig. 7).

A benchmark's GNSS rate comes from a published rate, from two campaigns (``Δ/Δt``, as 004
divides the 2018–2020 change by 2 years) or from a daily series fitted by weighted least
squares (:func:`engine.timeseries.fit_velocity`, weights ``1/σ²``). It is compared with the
PS points within ``radius_m`` (20 m in 004), one geometry (ascending, descending, ...) at a
time: the points' velocities are combined (their mean, as in 004, or median) and the GNSS
motion is projected on their mean line of sight, ``e·los_east + n·los_north + u·los_up``
(vertical only when the GNSS gives no horizontal rates, which are then taken as zero).

Per benchmark the deviation is GNSS − InSAR (004 eq. 5; Table 2 prints its absolute value).
Over all matched benchmarks: ``bias`` (mean deviation, 004's "± 1.5 mm"), mean |deviation|,
RMSE, and ``r2``, the squared Pearson correlation of GNSS and InSAR rates, the R² of the
trend line of 004 Fig. 7 (0.830 from Table 2; ``1 − SS_res/SS_tot`` about the 1:1 line
gives 0.137 there). Sign convention: mm/yr, positive = towards the satellite (uplift).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from engine.config import TimeseriesParams, ValidateParams
from engine.errors import InputError
from engine.timeseries import DAYS_PER_YEAR, fit_velocity
from engine.types import Bbox

if TYPE_CHECKING:
    from engine.ingest import Benchmarks, GnssSeries
    from engine.store import Store

__all__ = [
    "ValidationResult",
    "gnss_rates",
    "search_boxes",
    "validate_benchmarks",
    "validate_dataset",
    "validate_pairs",
]

logger = logging.getLogger(__name__)

ENU = ("east", "north", "up")
_LOS = ("los_east", "los_north", "los_up")
DateLike = str | np.datetime64 | _dt.date
_STATS = ("r2", "bias", "mean_abs_deviation", "rmse", "slope", "intercept")


@dataclass(frozen=True)
class ValidationResult:
    """GNSS ↔ InSAR comparison.

    ``rows`` holds one row per benchmark and geometry: ``id``, ``geometry``, ``x``, ``y``,
    ``n_points`` (PS within the radius), ``nearest_m`` (NaN: none within ``search_m``),
    ``matched``, ``los_east/north/up`` (mean of the matched points), ``components``
    (``"enu"`` or ``"up"``: what the GNSS gave), ``gnss_up``/``gnss_up_std`` (vertical GNSS
    rate), ``gnss_rate``/``gnss_rate_std`` (GNSS rate in the compared direction: on the line
    of sight, or vertical), ``insar_velocity`` (combined PS velocity), ``insar_spread``
    (their standard deviation), ``deviation`` (gnss_rate − insar_velocity) and
    ``abs_deviation``, all in mm/yr. ``stats`` are over the matched rows.
    ``points`` holds the PS within the radius of each benchmark (one row per pair).
    """

    rows: pd.DataFrame
    direction: str
    stats: dict[str, float]
    radius_m: float | None = None
    statistic: str | None = None
    notes: tuple[str, ...] = ()
    n_benchmarks: int | None = None
    """Benchmarks given (rows may hold fewer: a left-out geometry; or more: one per geometry)."""
    points: pd.DataFrame | None = dataclasses.field(default=None, repr=False, compare=False)
    """PS within ``radius_m`` of a benchmark: ``id`` (the benchmark's), ``geometry`` and the
    points' own ``pid``, ``x``, ``y``, ``lon``, ``lat``, ``velocity`` where given."""

    @property
    def matched(self) -> pd.DataFrame:
        """The rows that enter the statistics."""
        return self.rows[self.rows["matched"]]

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: counts, statistics, deviations, matched and unmatched lists."""
        m, rows = self.matched, self.rows
        out: dict[str, Any] = {
            "n_benchmarks": self.n_benchmarks or int(rows["id"].nunique()),
            "n_matched": len(m),
            **{k: _num(v) for k, v in self.stats.items()},
            "deviations": [_num(v) for v in m["deviation"]],
            "direction": self.direction,
            "radius_m": self.radius_m,
            "statistic": self.statistic,
            "benchmarks": [_record(r) for r in m.to_dict("records")],
            "unmatched": [
                {"id": r["id"], "geometry": r.get("geometry"), "nearest_m": _num(r["nearest_m"])}
                for r in rows[~rows["matched"]].to_dict("records")
            ],
            "notes": list(self.notes),
        }
        if "geometry" in m and m["geometry"].nunique() > 1:
            out["by_geometry"] = {
                g: {"n_matched": len(part), **{k: _num(v) for k, v in _stats(part).items()}}
                for g, part in m.groupby("geometry")
            }
        return out


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


def validate_benchmarks(
    rates: pd.DataFrame, points: pd.DataFrame, *, params: ValidateParams = ValidateParams()
) -> ValidationResult:
    """Compare GNSS benchmark rates with the PS points around them, per geometry.

    Parameters
    ----------
    rates
        ``id``, ``x``, ``y`` (metres, the points' CRS), ``rate_up`` and optionally
        ``rate_east``, ``rate_north``, ``std_*`` (mm/yr), e.g. from :func:`gnss_rates`.
    points
        ``x``, ``y``, ``velocity`` (mm/yr LOS) and optionally ``geometry`` and
        ``los_east/north/up`` (ground → satellite unit vector), e.g. a store dataset.
    params
        ``radius_m``, ``min_points``, ``statistic`` (mean/median), ``direction`` (``los``:
        GNSS projected on the LOS; ``vertical``: each PS velocity divided by its
        ``los_up``, i.e. motion assumed vertical, against the GNSS vertical), ``search_m``.

    Returns
    -------
    ValidationResult
        Benchmarks of an ``east`` geometry (EGMS L3 E) are left out when the GNSS is vertical
        only, or the direction vertical. Without LOS vectors the GNSS vertical is compared with
        the velocity as given (noted in ``notes``).

    Examples
    --------
    >>> rates = pd.DataFrame({"id": ["A"], "x": [0.0], "y": [0.0], "rate_up": [-10.0]})
    >>> pts = pd.DataFrame({"x": [5.0, -8.0, 300.0], "y": [0.0, 6.0, 0.0],
    ...     "velocity": [-7.0, -9.0, 0.0], "geometry": "descending",
    ...     "los_east": 0.6, "los_north": -0.1, "los_up": 0.8})
    >>> r = validate_benchmarks(rates, pts)
    >>> r.rows[["n_points", "nearest_m", "gnss_rate", "insar_velocity", "deviation"]]
       n_points  nearest_m  gnss_rate  insar_velocity  deviation
    0         2        5.0       -8.0            -8.0        0.0
    """
    _require(rates, ("id", "x", "y", "rate_up"), "rates")
    _require(points, ("x", "y", "velocity"), "points")
    geometry = points["geometry"].astype(str) if "geometry" in points else None
    parts, near, notes = [], [], []
    for g in sorted(geometry.unique()) if geometry is not None and len(points) else [None]:
        pts = points if g is None else points[(geometry == g).to_numpy()]
        part, neighbours, note = _match(rates, pts, g, params)
        parts += [part] if len(part) else []
        near.append(neighbours)
        notes += [note] if note else []
    empty = pd.DataFrame({"id": [], "geometry": [], "nearest_m": [], "deviation": []})
    rows = pd.concat(parts, ignore_index=True) if parts else empty.assign(matched=False)
    return ValidationResult(
        rows,
        params.direction,
        _stats(rows[rows["matched"]]),
        params.radius_m,
        params.statistic,
        tuple(notes),
        int(rates["id"].nunique()),
        pd.concat(near, ignore_index=True),
    )


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


def validate_pairs(pairs: pd.DataFrame) -> ValidationResult:
    """Statistics of GNSS ↔ InSAR pairs already matched, such as 004 Table 2.

    Parameters
    ----------
    pairs
        ``id``, ``gnss_rate`` and ``insar_velocity`` in mm/yr (see
        :func:`engine.ingest.read_pairs`).

    Examples
    --------
    Three rows of 004 Table 2 (GNSS rate = Δ1/2):

    >>> pairs = pd.DataFrame({"id": ["A23", "A122", "B72"], "gnss_rate": [-5.8, -3.1, -2.55],
    ...                       "insar_velocity": [-9.3, -3.1, -1.3]})
    >>> r = validate_pairs(pairs)
    >>> r.rows["abs_deviation"].round(2).tolist(), round(r.stats["bias"], 4)
    ([3.5, 0.0, 1.25], 0.75)
    """
    _require(pairs, ("id", "gnss_rate", "insar_velocity"), "pairs")
    rows = pairs[["id", "gnss_rate", "insar_velocity"]].copy()
    rows["deviation"] = rows["gnss_rate"] - rows["insar_velocity"]
    rows["abs_deviation"] = rows["deviation"].abs()
    rows["matched"] = np.isfinite(rows["deviation"].to_numpy(np.float64))
    return ValidationResult(rows, "given", _stats(rows[rows["matched"]]))


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


def _match(
    rates: pd.DataFrame, points: pd.DataFrame, geometry: str | None, params: ValidateParams
) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Rows of one geometry: PS within the radius of each benchmark, combined and compared;
    and those PS, one row per benchmark and point."""
    from scipy.spatial import cKDTree

    east = rates.reindex(columns=["rate_east"]).to_numpy(np.float64)
    if geometry == "east" and (params.direction == "vertical" or not np.isfinite(east).any()):
        left_out = "east: left out (needs GNSS east rates and direction 'los')"
        return pd.DataFrame(), _neighbours(rates, points.iloc[:0], [], geometry), left_out
    bxy = rates[["x", "y"]].to_numpy(np.float64)
    xy = points[["x", "y"]].to_numpy(np.float64)
    v = points["velocity"].to_numpy(np.float64)
    los = points.reindex(columns=list(_LOS)).to_numpy(np.float64)
    has_los = bool(np.isfinite(los[:, 2]).any())
    if params.direction == "vertical" and has_los:
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(los[:, 2] > 0, v / los[:, 2], np.nan)  # vertical-ised: v / cos(θ)
    tree = cKDTree(xy) if len(xy) else None
    nearest = np.full(len(bxy), np.inf)
    groups: list[list[int]] = [[] for _ in range(len(bxy))]
    if tree is not None and len(bxy):
        nearest = tree.query(bxy, k=1, distance_upper_bound=params.search_m)[0]
        groups = tree.query_ball_point(bxy, r=params.radius_m)
    combine = np.mean if params.statistic == "mean" else np.median
    n = np.zeros(len(bxy), dtype=np.int64)
    agg, spread = np.full(len(bxy), np.nan), np.full(len(bxy), np.nan)
    mean_los = np.full((len(bxy), 3), np.nan)
    for i, group in enumerate(groups):  # loop over benchmarks (few), not points
        idx = np.asarray(group, dtype=np.int64)
        vals = v[idx][np.isfinite(v[idx])]
        n[i] = vals.size
        if vals.size:
            agg[i], spread[i] = combine(vals), vals.std(ddof=1) if vals.size > 1 else np.nan
            ok = np.isfinite(los[idx]).all(axis=1)
            mean_los[i] = los[idx][ok].mean(axis=0) if ok.any() else np.nan
    rows = _compare(rates, mean_los, has_los, params.direction)
    rows.insert(1, "geometry", geometry)
    rows["n_points"], rows["nearest_m"] = n, np.where(np.isfinite(nearest), nearest, np.nan)
    rows["insar_velocity"], rows["insar_spread"] = agg, spread
    rows["deviation"] = rows["gnss_rate"] - rows["insar_velocity"]
    rows["abs_deviation"] = rows["deviation"].abs()
    rows["matched"] = (n >= params.min_points) & np.isfinite(rows["deviation"].to_numpy())
    note = None
    if not len(points):
        note = f"no points within {params.search_m:g} m of any benchmark"
    elif not has_los:
        note = f"{geometry}: no LOS vectors, GNSS vertical compared with the velocity as given"
    return rows, _neighbours(rates, points, groups, geometry), note


def _neighbours(
    rates: pd.DataFrame, points: pd.DataFrame, groups: list[list[int]], geometry: str | None
) -> pd.DataFrame:
    """The PS of each benchmark's group, one row per (benchmark, point)."""
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    idx = np.fromiter((i for g in groups for i in g), dtype=np.int64, count=int(sizes.sum()))
    keep = [c for c in ("pid", "x", "y", "lon", "lat", "velocity") if c in points]
    out = points.iloc[idx][keep].reset_index(drop=True)
    out.insert(0, "id", np.repeat(rates["id"].to_numpy()[: len(groups)], sizes))
    out.insert(1, "geometry", geometry)
    return out


def _compare(
    rates: pd.DataFrame, los: NDArray[np.float64], has_los: bool, direction: str
) -> pd.DataFrame:
    """GNSS rate in the compared direction, with its error, for every benchmark."""
    r = rates.reindex(columns=[f"rate_{c}" for c in ENU]).to_numpy(np.float64, copy=True)
    s = rates.reindex(columns=[f"std_{c}" for c in ENU]).to_numpy(np.float64, copy=True)
    horizontal = np.isfinite(r[:, :2]).all(axis=1)
    rows = pd.DataFrame({c: rates[c].to_numpy() for c in ("id", "x", "y")})
    rows[list(_LOS)] = los
    rows["components"] = np.where(horizontal, "enu", "up")
    rows["gnss_up"], rows["gnss_up_std"] = r[:, 2], s[:, 2]
    if direction == "vertical" or not has_los:
        rows["gnss_rate"], rows["gnss_rate_std"] = r[:, 2], s[:, 2]
        return rows
    # unknown horizontals are taken as zero: with a vertical GNSS only up·los_up is compared
    r[:, :2] = np.where(horizontal[:, None], r[:, :2], 0.0)
    s[:, :2] = np.where(horizontal[:, None], s[:, :2], 0.0)
    rows["gnss_rate"] = (r * los).sum(axis=1)
    rows["gnss_rate_std"] = np.sqrt(((s * los) ** 2).sum(axis=1))
    return rows


def _stats(rows: pd.DataFrame) -> dict[str, float]:
    """R², bias, mean |deviation|, RMSE and the trend line InSAR = intercept + slope·GNSS."""
    g = rows["gnss_rate"].to_numpy(np.float64) if len(rows) else np.empty(0)
    s = rows["insar_velocity"].to_numpy(np.float64) if len(rows) else np.empty(0)
    if g.size == 0:
        return dict.fromkeys(_STATS, math.nan)
    d = g - s
    out = {
        "r2": math.nan,
        "bias": float(d.mean()),
        "mean_abs_deviation": float(np.abs(d).mean()),
        "rmse": float(np.sqrt((d**2).mean())),
        "slope": math.nan,
        "intercept": math.nan,
    }
    if g.size >= 2 and g.std() > 0 and s.std() > 0:
        out["r2"] = float(np.corrcoef(g, s)[0, 1] ** 2)
        out["slope"], out["intercept"] = (float(c) for c in np.polyfit(g, s, 1))
    return out


def _require(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df]
    if missing:
        raise ValueError(f"{what} lack the columns {missing}")


def _num(v: Any) -> float | None:
    """JSON number: NaN → None, rounded to 6 decimals (far below any mm/yr precision)."""
    return None if v is None or not math.isfinite(float(v)) else round(float(v), 6)


def _record(r: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "geometry",
        "n_points",
        "nearest_m",
        "components",
        "gnss_rate",
        "insar_velocity",
        "deviation",
    )
    return {k: (_num(r[k]) if isinstance(r[k], float) else r[k]) for k in keys if k in r}
