"""Baseline stage (§IV-C): the paper's velocity-thresholding detector, for comparison with the CNN.

The paper thresholds the raw velocities at 3, 4.5 and 5 mm/yr (slow, medium, fast), after a
3×3 median filter that removes spiky noise, dilates the points above the threshold by 18
pixels "to connect sparse pixels (resulting 32k m² with minimum 4 velocity points)", and
reports that this yields many more positives for an expert to check than the CNN (4064 vs
258). :func:`baseline_sites` reproduces it; :func:`compare_sites` puts the two side by side.

Choices
-------
* The median is the NaN-aware one of :func:`engine.denoise.median_nan`, over observed pixels
  only; the threshold is on ``|median|``, so a lone spike among slow neighbours drops out.
* The dilation is by an 18 × 18 px square: a lone point grows to 18 × 18 px (32 400 m² at
  10 m, the paper's "32k m²"), and points up to 18 px apart join one component.
* "4 velocity points" counts thresholded *pixels* of the velocity raster, as in the paper
  (whose raster holds one velocity per pixel); several scatterers on one roof are one place.
* Site statistics are those of :mod:`engine.sites` on the raw velocities inside the dilated
  component; the ring excludes every pixel of the dilated threshold mask.
* ``priority = |dv| × (1 + log10(1 + area_m2 / 10 000 m²))``: the CNN score without its
  confidence factor, since thresholding has none (``p_max`` and ``p_mean`` are NaN).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from numpy.typing import NDArray

from engine import _regions
from engine.config import BaselineParams, DenoiseParams
from engine.denoise import median_nan
from engine.sites import level_key, sites_at, sites_summary

__all__ = ["BASELINE_COLUMNS", "baseline_sites", "compare_sites", "threshold_key"]

logger = logging.getLogger(__name__)

BASELINE_COLUMNS: tuple[str, ...] = ("site_id", "threshold", *_regions.STAT_COLUMNS)
_MIN_SHARED_M2 = 1.0  # overlap below this is reprojection round-off along a shared edge


def threshold_key(threshold_mm_yr: float) -> str:
    """Short name of a threshold, the prefix of its site ids.

    Examples
    --------
    >>> threshold_key(3), threshold_key(4.5), threshold_key(2.25)
    ('t3.0', 't4.5', 't2.25')
    """
    t = float(threshold_mm_yr)
    return f"t{t:.1f}" if round(t, 1) == t else f"t{t:g}"


def baseline_sites(
    velocity: NDArray[np.floating],
    transform: Affine,
    crs: str,
    *,
    counts: NDArray[np.integer] | None = None,
    params: BaselineParams = BaselineParams(),
) -> gpd.GeoDataFrame:
    """Sites found by thresholding the median-filtered velocities.

    Parameters
    ----------
    velocity
        ``(rows, cols)`` raw point velocities averaged per pixel, mm/yr LOS; NaN = no point.
    transform
        Affine map from pixel (col, row) to (x, y) metres in ``crs``; row 0 north.
    crs
        The run's projected CRS, e.g. ``"EPSG:27700"``.
    counts
        ``(rows, cols)`` points per pixel; default 1 wherever ``velocity`` is finite.
    params
        Thresholds, dilation, median window, fewest points and ring width.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per site with the columns :data:`BASELINE_COLUMNS` (those of
        :data:`engine.sites.SITE_COLUMNS` with ``threshold`` in mm/yr for ``level``), ordered
        by threshold then priority, in WGS84. No rows, the same columns, when none is found.

    Raises
    ------
    ValueError
        If ``velocity`` is not two-dimensional or ``counts`` differs in shape.

    References
    ----------
    §IV-C: thresholds 3, 4.5, 5 mm/yr; 18 px dilation; 3×3 median; ≥ 4 points.

    Examples
    --------
    Four fast points in a row among sparse slow ones: one site per threshold, 18 × 21 px.

    >>> v = np.full((40, 40), np.nan); v[1::4, 1::4] = 0.0; v[19, 10:14] = -6.0
    >>> s = baseline_sites(v, Affine(10, 0, 400_000, 0, -10, 300_000), "EPSG:27700")
    >>> s[["site_id", "area_m2", "v_ring", "motion"]].to_dict("records")[0]
    {'site_id': 't3.0-0001', 'area_m2': 37800.0, 'v_ring': 0.0, 'motion': 'subsidence'}
    >>> s["site_id"].tolist()
    ['t3.0-0001', 't4.5-0001', 't5.0-0001']
    """
    vel, cnt = _regions.check_inputs(velocity, counts)
    observed = np.where(cnt > 0, vel, np.nan)
    median = median_nan(observed, params=DenoiseParams(median_size_px=params.median_size_px))
    tables, outlines = [], []
    for t in params.thresholds_mm_yr:
        with np.errstate(invalid="ignore"):
            hit = np.abs(median) >= t  # NaN (no point) is never a hit
        table, outline = _threshold_sites(hit, vel, cnt, transform, crs, t, params)
        tables.append(table)
        outlines.append(outline)
        logger.info("|v| ≥ %g mm/yr: %d baseline sites", t, len(table))
    return _regions.regions_frame(tables, outlines, BASELINE_COLUMNS)


def compare_sites(cnn: gpd.GeoDataFrame, baseline: gpd.GeoDataFrame, *, level: float = 0.5) -> dict:
    """Counts and overlap of CNN sites at ``level`` and baseline sites at each threshold.

    Parameters
    ----------
    cnn
        Output of :func:`engine.sites.extract_sites`.
    baseline
        Output of :func:`baseline_sites`, in the same CRS.
    level
        The CNN level to compare against (0.5 in the paper's 258 vs 4064).

    Returns
    -------
    dict
        ``{"level": "p50", "cnn": {"p50": n, ...}, "baseline": {"t3.0": n, ...},
        "overlap": {"t3.0": {...}, ...}}`` with the default levels and thresholds always
        present (0 when they have no site) and others found in the frames added; each
        overlap entry holds ``cnn_sites``, ``baseline_sites`` (counts compared),
        ``baseline_hitting_cnn``
        (baseline sites that share area with a CNN site), ``cnn_hitting_baseline``,
        ``cnn_area_m2``, ``baseline_area_m2`` (total areas) and ``shared_area_m2``. Sites
        touching only along an edge do not share area. All areas are measured on the
        polygons in one projected CRS (the frames' own, else the UTM zone of the sites), so
        they agree with each other; they differ from the ``area_m2`` columns (exact in the
        run CRS) by the scale factor between the two projections (~0.1 %).

    Examples
    --------
    >>> empty = baseline_sites(np.zeros((3, 3)), Affine.identity(), "EPSG:27700")
    >>> out = compare_sites(empty.rename(columns={"threshold": "level"}), empty)
    >>> out["cnn"], out["baseline"]
    ({'p50': 0, 'p75': 0, 'p90': 0}, {'t3.0': 0, 't4.5': 0, 't5.0': 0})
    >>> out["overlap"]["t3.0"]["baseline_hitting_cnn"]
    0
    """
    at_level = sites_at(cnn, level)
    present = {float(t) for t in baseline["threshold"]}
    thresholds = sorted(present | set(BaselineParams().thresholds_mm_yr))
    base_counts = {threshold_key(t): int((baseline["threshold"] == t).sum()) for t in thresholds}
    cnn_geom, base_geom = _projected(at_level.geometry, baseline.geometry)
    overlap = {
        threshold_key(t): _overlap(cnn_geom, base_geom[(baseline["threshold"] == t).to_numpy()])
        for t in thresholds
    }
    return {
        "level": level_key(level),
        "cnn": sites_summary(cnn),
        "baseline": base_counts,
        "overlap": overlap,
    }


def _threshold_sites(
    hit: NDArray[np.bool_],
    velocity: NDArray[np.float64],
    counts: NDArray[np.int64],
    transform: Affine,
    crs: str,
    threshold: float,
    params: BaselineParams,
) -> tuple[pd.DataFrame, gpd.GeoSeries]:
    """Table (in priority order) and run-CRS outlines of the sites of one threshold."""
    grown = _regions.dilate_square(hit, params.dilation_px)
    labels, n = _regions.label_regions(grown)
    n_hits = np.bincount(labels[hit], minlength=n + 1)  # thresholded pixels per component
    keep = np.flatnonzero(n_hits >= params.min_points)
    keep = keep[keep > 0]
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[keep] = np.arange(1, keep.size + 1)
    labels, n = relabel[labels], int(keep.size)
    stats = _regions.region_stats(labels, n, velocity, counts, abs(transform.determinant))
    v_ring = _regions.ring_medians(labels, n, velocity, counts, grown, params.ring_width_px)
    dv, motion, priority = _regions.motion_and_priority(stats.v_mean, v_ring, stats.area_m2, 1.0)
    table = pd.DataFrame(
        {
            "threshold": np.full(n, float(threshold)),
            **stats._asdict(),
            "v_ring": v_ring,
            "dv": dv,
            "motion": motion,
            "p_max": np.full(n, np.nan),
            "p_mean": np.full(n, np.nan),
            "looks": [""] * n,
            "single_geometry": np.zeros(n, dtype=bool),
            "priority": priority,
        }
    )
    order = _regions.priority_order(priority, stats.area_m2)
    outline = _regions.region_polygons(labels, n, transform, crs).iloc[order]
    table = table.iloc[order].reset_index(drop=True)
    key = threshold_key(threshold)
    table.insert(0, "site_id", [f"{key}-{i:04d}" for i in range(1, n + 1)])
    return table, outline.reset_index(drop=True)


def _projected(a: gpd.GeoSeries, b: gpd.GeoSeries) -> tuple[gpd.GeoSeries, gpd.GeoSeries]:
    """Both series in one projected CRS (theirs, or the UTM zone of their extent)."""
    if a.crs is None or b.crs is None or a.crs != b.crs:
        raise ValueError(f"CNN and baseline sites must share a CRS, got {a.crs} and {b.crs}")
    if a.crs.is_projected or (a.empty and b.empty):
        return a, b
    utm = gpd.GeoSeries(pd.concat([a, b]), crs=a.crs).estimate_utm_crs()
    return a.to_crs(utm), b.to_crs(utm)


def _overlap(cnn: gpd.GeoSeries, base: gpd.GeoSeries) -> dict:
    """Pairs of CNN and baseline sites that share area (more than round-off)."""
    i_base, i_cnn = cnn.sindex.query(base.to_numpy(), predicate="intersects")
    shared = shapely.area(shapely.intersection(base.to_numpy()[i_base], cnn.to_numpy()[i_cnn]))
    real = shared > _MIN_SHARED_M2
    return {
        "cnn_sites": len(cnn),
        "baseline_sites": len(base),
        "baseline_hitting_cnn": int(np.unique(i_base[real]).size),
        "cnn_hitting_baseline": int(np.unique(i_cnn[real]).size),
        "cnn_area_m2": float(shapely.area(cnn.to_numpy()).sum()),
        "baseline_area_m2": float(shapely.area(base.to_numpy()).sum()),
        "shared_area_m2": float(shared[real].sum()),  # sites of one level/threshold are disjoint
    }
