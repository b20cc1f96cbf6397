"""Site-level scoring of detections against a scene's ground truth and hard negatives."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from engine.scenes._layout import region_pixels

__all__ = ["VELOCITY_BINS", "footprint_points", "score_scene", "score_sites"]


def score_sites(sites: gpd.GeoDataFrame, truth: gpd.GeoDataFrame) -> dict[str, Any]:
    """Recall and precision of detected sites against source footprints.

    A source is *detected* when any site polygon intersects its footprint; a site is a
    *true positive* when it intersects any footprint, else a false positive. Sites are
    converted to the truth's CRS first (a site layer without a CRS is taken to be in it).

    Parameters
    ----------
    sites
        Detected sites, one polygon per row, any CRS; missing geometries never intersect.
    truth
        :meth:`engine.scenes.Scene.truth`: ``id`` and footprint ``geometry``.

    Returns
    -------
    dict
        ``recall`` (detected / sources; 0.0 when there are no sources), ``precision``
        (true-positive sites / sites; 0.0 when there are no sites: no detections earn no
        credit), ``false_positive_sites``, ``sites``, ``sources``, and the ids ``detected``
        and ``missed`` in truth order.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> truth = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(5, 5, 6, 6)])
    >>> sites = gpd.GeoDataFrame(geometry=[box(0.5, 0.5, 2, 2), box(9, 9, 10, 10)])
    >>> score = score_sites(sites, truth)
    >>> score["recall"], score["precision"], score["detected"], score["missed"]
    (0.5, 0.5, ['a'], ['b'])
    """
    if sites.crs is not None and truth.crs is not None and not sites.crs.equals(truth.crs):
        sites = sites.to_crs(truth.crs)
    ids = [str(i) for i in (truth["id"] if "id" in truth.columns else truth.index)]
    footprints = np.asarray(truth.geometry.values, dtype=object)
    pairs = shapely.STRtree(footprints).query(
        np.asarray(sites.geometry.values, dtype=object), predicate="intersects"
    )
    hit_sites = np.unique(pairs[0])
    hit_sources = set(np.unique(pairs[1]).tolist())
    n_sites, n_sources = len(sites), len(truth)
    return {
        "recall": len(hit_sources) / n_sources if n_sources else 0.0,
        "precision": hit_sites.size / n_sites if n_sites else 0.0,
        "false_positive_sites": n_sites - int(hit_sites.size),
        "sites": n_sites,
        "sources": n_sources,
        "detected": [ids[i] for i in range(n_sources) if i in hit_sources],
        "missed": [ids[i] for i in range(n_sources) if i not in hit_sources],
    }


VELOCITY_BINS: tuple[tuple[float, float], ...] = ((1.0, 3.0), (3.0, 5.0), (5.0, 8.0), (8.0, 15.0))


def footprint_points(scene: Any) -> np.ndarray:
    """Per source of ``scene``, the pixels inside its footprint observed in either geometry.

    A site is made of at least ``min_points`` points, so a source holding fewer cannot
    become one, whatever the detector.
    """
    seen = np.any([np.isfinite(v) for v in scene.velocity.values()], axis=0)
    counts = np.zeros(len(scene.sources), dtype=np.int64)
    for i, source in enumerate(scene.sources):
        window = region_pixels(source.footprint, scene.transform, seen.shape)
        if window is not None:
            rows, cols, inside = window
            counts[i] = int(np.count_nonzero(seen[rows, cols] & inside))
    return counts


def score_scene(sites: gpd.GeoDataFrame, scene: Any, *, min_points: int = 4) -> dict[str, Any]:
    """What a stakeholder would make of a detector's sites on a benchmark scene.

    A source's velocity is its largest ``|peak LOS|`` over the two geometries (what the
    data can show). A site *hits* a source when it intersects the footprint.

    Parameters
    ----------
    sites
        Sites with polygons (any CRS) and ``n_points``.
    scene
        An :class:`engine.scenes.Scene`: its sources and hard negatives.
    min_points
        Sites with fewer points are counted in ``sites_without_points``.

    Returns
    -------
    dict
        ``recall_by_velocity`` (``"1-3"``, ``"3-5"``, ``"5-8"``, ``"8-15"`` mm/yr: detected /
        sources in the bin, None when the bin is empty), ``recall_ge3`` (sources ≥ 3 mm/yr),
        ``recall_ge3_observable`` over the ``observable_ge3`` of them whose footprint holds
        at least ``min_points`` observed points (:func:`footprint_points`): the others
        cannot become a site,
        ``sites``, ``false_positive_sites`` (hitting no footprint), ``spike_clusters_hit``
        (fraction of the spike clusters that a site intersects) and ``spike_clusters``,
        ``sites_over_sea`` (more than half the area over the sea), ``median_area_ratio``
        (over sites that hit sources: the site's area ÷ the area of the footprints it hits;
        None without such a site) and ``sites_without_points`` (fewer than ``min_points``).
    """
    truth = scene.truth()
    negatives = scene.negatives_frame()
    sites = sites.to_crs(truth.crs) if sites.crs is not None else sites.set_crs(truth.crs)
    geoms = np.asarray(sites.geometry.values, dtype=object)
    footprints = np.asarray(truth.geometry.values, dtype=object)
    pairs = shapely.STRtree(footprints).query(geoms, predicate="intersects")
    velocity = truth[[c for c in truth.columns if c.startswith("peak_los_")]].abs().max(axis=1)
    found = np.zeros(len(truth), dtype=bool)
    found[pairs[1]] = True
    by_bin = {}
    for lo, hi in VELOCITY_BINS:
        inside = ((velocity >= lo) & (velocity < hi if hi < VELOCITY_BINS[-1][1] else
                                      velocity <= hi)).to_numpy()  # fmt: skip
        by_bin[f"{lo:g}-{hi:g}"] = round(float(found[inside].mean()), 3) if inside.any() else None
    strong = (velocity >= 3.0).to_numpy()
    observable = strong & (scene.source_points >= min_points)
    ratios = []
    site_area = shapely.area(geoms)
    foot_area = shapely.area(footprints)
    for i in np.unique(pairs[0]):
        ratios.append(site_area[i] / foot_area[pairs[1][pairs[0] == i]].sum())
    spikes = negatives[negatives["kind"] == "spikes"]
    hit = shapely.STRtree(np.asarray(spikes.geometry.values, dtype=object)).query(
        geoms, predicate="intersects"
    )
    sea = negatives[negatives["kind"] == "sea"].geometry
    over_sea = 0
    if len(sea) and len(geoms):
        over_sea = int(
            (shapely.area(shapely.intersection(geoms, sea.iloc[0])) > 0.5 * site_area).sum()
        )
    return {
        "sources": len(truth),
        "recall_by_velocity": by_bin,
        "recall_ge3": round(float(found[strong].mean()), 3) if strong.any() else None,
        "observable_ge3": int(observable.sum()),
        "recall_ge3_observable": round(float(found[observable].mean()), 3)
        if observable.any()
        else None,
        "sites": len(sites),
        "false_positive_sites": len(sites) - int(np.unique(pairs[0]).size),
        "spike_clusters": len(spikes),
        "spike_clusters_hit": round(np.unique(hit[1]).size / len(spikes), 3)
        if len(spikes)
        else 0.0,
        "sites_over_sea": over_sea,
        "median_area_ratio": round(float(np.median(ratios)), 2) if ratios else None,
        "sites_without_points": int((sites["n_points"].to_numpy() < min_points).sum()),
    }
