"""Site-level scoring of detections against a scene's ground truth."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["score_sites"]


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
