"""Matching GNSS benchmarks to PS points and the statistics of the comparison."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from engine.config import ValidateParams

if TYPE_CHECKING:
    pass


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
            "n_matched": len(m),  # pairs: a benchmark counts once per geometry it matched
            "n_benchmarks_matched": int(m["id"].nunique()),
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
        note = (f"{geometry}: the product gives no line-of-sight direction (no LOS vectors), "
                "so the GNSS vertical rate is compared with its velocity as given")  # fmt: skip
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
