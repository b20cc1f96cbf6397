"""Sites stage (§IV-C): per-pixel probability + observed points → one ranked row per site."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from numpy.typing import NDArray

from engine import _regions
from engine.config import SitesParams
from engine.sites._motion import describe_motion, ring_reference, site_priority
from engine.sites._pixels import site_regions

__all__ = [
    "SITE_COLUMNS",
    "drop_overlapping",
    "extract_sites",
    "level_key",
    "number_sites",
    "reach_px",
    "sites_at",
    "sites_summary",
]

logger = logging.getLogger(__name__)

SITE_COLUMNS: tuple[str, ...] = (
    "site_id",
    "level",
    "area_m2",
    "n_points",
    "v_mean",
    "v_min",
    "v_max",
    "v_ring",
    "ring_points",
    "dv",
    "motion",
    "motion_text",
    "p_max",
    "p_mean",
    "looks",
    "single_geometry",
    "priority",
    "centroid_lon",
    "centroid_lat",
    "geometry",
)
_DTYPES = {"site_id": "str", "n_points": np.int64, "ring_points": np.int64, "motion": "str",
           "motion_text": "str", "looks": "str", "single_geometry": bool}  # fmt: skip


def level_key(level: float) -> str:
    """Short name of a probability level.

    Examples
    --------
    >>> level_key(0.5), level_key(0.75), level_key(0.9), level_key(0.995)
    ('p50', 'p75', 'p90', 'p99.5')
    """
    return f"p{round(level * 100, 6):g}"


def reach_px(params: SitesParams, pixel_size_m: float) -> float:
    """How far (pixels, centre to centre) a site reaches beyond its points.

    ``max_beyond_m`` less half a pixel's diagonal, so that even the corner of an outline
    pixel lies within ``max_beyond_m`` of a point's pixel centre.
    """
    return max(params.max_beyond_m / pixel_size_m - np.sqrt(0.5), 0.0)


def extract_sites(
    probability: NDArray[np.floating],
    velocity: NDArray[np.floating],
    transform: Affine,
    crs: str,
    *,
    counts: NDArray[np.integer] | None = None,
    geometries: Mapping[str, NDArray[np.bool_]] | None = None,
    params: SitesParams = SitesParams(),
    progress: Callable[[int, int], None] | None = None,
) -> gpd.GeoDataFrame:
    """The sites of a tile: one row per deformation, with its highest level.

    Parameters
    ----------
    probability
        ``(rows, cols)`` per-pixel probability of deformation in [0, 1]; NaN = not scored.
        Any raster on the grid of ``velocity`` will do: the merged patch probability today,
        a segmentation output when the detector gives one.
    velocity
        ``(rows, cols)`` raw point velocities averaged per pixel, mm/yr LOS; NaN = no point.
    transform
        Affine map from pixel (col, row) to (x, y) metres in ``crs``; row 0 north.
    crs
        The run's projected CRS, e.g. ``"EPSG:27700"``.
    counts
        ``(rows, cols)`` points per pixel; default 1 wherever ``velocity`` is finite.
    geometries
        Which LOS geometries scored each pixel (``{"ascending": mask, ...}``); None =
        unknown (``looks`` is "").
    params
        Levels, how sites hug their points, ring width, motion wording.
    progress
        Called as ``progress(1, 1)`` when done.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`SITE_COLUMNS` (see :mod:`engine.sites`), by decreasing priority; WGS84.
        No NaN in any column.

    Raises
    ------
    ValueError
        If the rasters are not two-dimensional or differ in shape.

    Examples
    --------
    >>> p = np.zeros((12, 12)); p[3:9, 3:9] = 0.95
    >>> v = np.zeros((12, 12)); v[4:8, 4:8] = -4.0
    >>> s = extract_sites(p, v, Affine(10, 0, 400_000, 0, -10, 300_000), "EPSG:27700")
    >>> s[["site_id", "level", "n_points", "dv", "motion"]].to_dict("records")
    [{'site_id': 'site-0001', 'level': 0.9, 'n_points': 36, 'dv': -1.8, 'motion': 'subsidence'}]
    >>> s["motion_text"].item()
    'subsidence of −1.8 mm/yr relative to stable surroundings'
    """
    prob = np.asarray(probability, dtype=np.float64)
    vel, cnt = _regions.check_inputs(velocity, counts)
    if prob.shape != vel.shape:
        raise ValueError(f"probability {prob.shape} and velocity {vel.shape} differ in shape")
    pixel = abs(transform.a)
    regions = site_regions(
        prob, cnt, levels=params.levels, reach_px=reach_px(params, pixel),
        buffer_px=params.buffer_px, min_points=params.min_points,
    )  # fmt: skip
    labels, n = regions.labels, regions.n
    stats = _regions.region_stats(labels, n, vel, cnt, abs(transform.determinant))
    # probability at the site's points, where the detection is about the data
    p_max, p_mean = _regions.probability_stats(np.where(cnt > 0, labels, 0), n, prob)
    v_ring, ring_points = ring_reference(
        labels, n, vel, cnt, regions.region, width_px=params.ring_width_px,
        min_points=params.min_points,
    )  # fmt: skip
    dv, motion, text = describe_motion(stats.v_mean, v_ring, ring_points,
                                       stable_mm_yr=params.stable_mm_yr)  # fmt: skip
    looks, single = _regions.looks(labels, n, geometries)
    table = pd.DataFrame(
        {
            "level": regions.level,
            **stats._asdict(),
            "v_ring": v_ring,
            "ring_points": ring_points,
            "dv": dv,
            "motion": motion,
            "motion_text": text,
            "p_max": p_max,
            "p_mean": p_mean,
            "looks": looks,
            "single_geometry": single,
            "priority": site_priority(p_mean, dv, stats.area_m2, stats.n_points),
        }
    )
    outline = _regions.region_polygons(labels, n, transform, crs)
    order = _regions.priority_order(table["priority"].to_numpy(), stats.area_m2)
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "site_id", [f"site-{i:04d}" for i in range(1, n + 1)])
    logger.info("%d sites; %s", n, sites_summary(table, levels=params.levels))
    if progress is not None:
        progress(1, 1)
    frame = _regions.regions_frame([table], [outline.iloc[order].reset_index(drop=True)],
                                   SITE_COLUMNS)  # fmt: skip
    return frame.astype({k: v for k, v in _DTYPES.items()})


def sites_at(sites: pd.DataFrame, level: float) -> pd.DataFrame:
    """The sites whose highest level reaches ``level``: the sites "at P > level".

    Examples
    --------
    >>> sites_at(pd.DataFrame({"level": [0.5, 0.9, 0.75]}), 0.75)["level"].tolist()
    [0.9, 0.75]
    """
    return sites[sites["level"].to_numpy(dtype=float) >= float(level) - 1e-9]


def sites_summary(
    sites: pd.DataFrame, *, levels: Iterable[float] = SitesParams().levels
) -> dict[str, int]:
    """Number of sites at each level, e.g. ``{"p50": 12, "p75": 5, "p90": 2}``.

    The count at L is the number of sites whose highest level reaches L, so it never grows
    with L.

    Examples
    --------
    >>> sites_summary(pd.DataFrame({"level": [0.5, 0.9, 0.9]}))
    {'p50': 3, 'p75': 2, 'p90': 2}
    """
    found = sites["level"].to_numpy(dtype=float)
    every = sorted({float(x) for x in levels} | {float(x) for x in np.unique(found)})
    return {level_key(x): len(sites_at(sites, x)) for x in every}


def number_sites(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Ids ``site-0001``… by decreasing priority (ties by area), e.g. over a whole run whose
    tiles numbered their own sites from 1."""
    order = _regions.priority_order(frame["priority"].to_numpy(dtype=float),
                                    frame["area_m2"].to_numpy(dtype=float))  # fmt: skip
    frame = frame.iloc[order].reset_index(drop=True)
    frame["site_id"] = [f"site-{i:04d}" for i in range(1, len(frame) + 1)]
    return frame


def drop_overlapping(frame: gpd.GeoDataFrame, *, share: float = 0.01) -> gpd.GeoDataFrame:
    """Keep one of each group of overlapping sites: the one with most points.

    Tiles cut sites out of their overlap too and keep those whose centroid lies in their
    core. A deformation wider than the overlap is seen, truncated differently, by two
    tiles whose views can both have their centroid at home: two sites for one deformation.
    Sites of one tile never overlap, so overlapping sites are such views; the largest view
    (most points) stays. Two sites overlap when they share more than ``share`` of the
    smaller one's area (sites touching along a tile edge share none).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> f = gpd.GeoDataFrame({"n_points": [5, 9, 4]},
    ...                      geometry=[box(0, 0, 2, 2), box(1, 0, 4, 2), box(4, 0, 5, 1)])
    >>> drop_overlapping(f)["n_points"].tolist()
    [9, 4]
    """
    geoms = np.asarray(frame.geometry.values, dtype=object)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    real = shared > share * smaller
    left, right = left[real], right[real]
    if not left.size:
        return frame
    order = np.lexsort((np.arange(len(frame)), -frame["n_points"].to_numpy()))
    rank = np.empty(len(frame), dtype=np.int64)
    rank[order] = np.arange(len(frame))
    dropped = np.zeros(len(frame), dtype=bool)
    for i in order:  # most points first: a site stays unless a kept one overlaps it
        if dropped[i]:
            continue
        others = np.concatenate([right[left == i], left[right == i]])
        dropped[others[rank[others] > rank[i]]] = True
    return frame[~dropped]
