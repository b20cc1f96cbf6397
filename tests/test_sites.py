"""Sites (§IV-C): hand-worked probability and velocity rasters with known sites."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer
from shapely.geometry import MultiPolygon

from engine.config import SitesParams
from engine.sites import SITE_COLUMNS, extract_sites, level_key, sites_summary

BNG = "EPSG:27700"
TRANSFORM = Affine(10, 0, 450_000, 0, -10, 250_000)  # 10 m pixels in the Midlands
NAN = np.nan


def _two_blobs() -> np.ndarray:
    """A: rows 5–9 × cols 5–9 at 0.95 (25 px). B: rows 25–28 × cols 20–27 at 0.6 (32 px)."""
    p = np.zeros((40, 40))
    p[5:10, 5:10] = 0.95
    p[25:29, 20:28] = 0.6
    return p


def _by_level(sites, level):
    return sites[np.isclose(sites["level"], level)].reset_index(drop=True)


def test_levels_find_the_blobs_above_them_with_exact_areas():
    sites = extract_sites(_two_blobs(), np.full((40, 40), NAN), TRANSFORM, BNG)
    assert sites_summary(sites) == {"p50": 2, "p75": 1, "p90": 1}
    assert sorted(_by_level(sites, 0.5)["area_m2"]) == [2500.0, 3200.0]
    assert _by_level(sites, 0.9)["area_m2"].tolist() == [2500.0]
    a = _by_level(sites, 0.9).iloc[0]
    assert a["p_max"] == 0.95 and a["p_mean"] == pytest.approx(0.95)


def test_point_statistics_and_ring_against_hand_values():
    p = _two_blobs()
    p[5, 11] = 0.6  # a lone P=0.6 pixel two columns east of A: a site at 0.5 only
    v = np.full((40, 40), NAN)
    c = np.zeros((40, 40), dtype=np.int64)
    v[3:12, 3:12], c[3:12, 3:12] = 0.0, 1  # ring (width 2 around A) of still points
    v[5:10, 5:10], c[5:10, 5:10] = NAN, 0  # A itself holds three pixels of points:
    v[6, 6], c[6, 6] = -3.0, 1
    v[7, 7], c[7, 7] = -5.0, 3
    v[8, 8], c[8, 8] = -1.0, 2
    v[5, 11], c[5, 11] = 100.0, 100  # in the ring unless P > level excludes it
    v[1, 7], c[1, 7] = 50.0, 1  # 4 px north of A: outside a 2 px ring
    sites = extract_sites(p, v, TRANSFORM, BNG, counts=c, params=SitesParams(ring_width_px=2))

    a50 = _by_level(sites, 0.5).set_index("area_m2").loc[2500.0]
    assert a50["n_points"] == 6
    assert a50["v_mean"] == pytest.approx((-3 * 1 - 5 * 3 - 1 * 2) / 6)
    assert (a50["v_min"], a50["v_max"]) == (-5.0, -1.0)
    assert a50["v_ring"] == 0.0  # 55 still points; the P=0.6 pixel is a site at 0.5
    assert a50["dv"] == pytest.approx(-20 / 6) and a50["motion"] == "subsidence"
    a90 = _by_level(sites, 0.9).iloc[0]
    assert a90["v_ring"] == 100.0  # now in the ring: 100 points at 100 outnumber 55 at 0
    assert a90["dv"] == pytest.approx(-20 / 6 - 100)


def test_uplift_against_a_still_ring_and_no_ring_falls_back_to_v_mean():
    p = np.zeros((30, 30))
    p[10:15, 10:15] = 0.8
    v = np.zeros((30, 30))
    v[10:15, 10:15] = 4.0
    site = extract_sites(p, v, TRANSFORM, BNG).iloc[0]
    assert (site["v_ring"], site["dv"], site["motion"]) == (0.0, 4.0, "uplift")

    v_alone = np.where(p > 0, -2.0, NAN)  # no point around the site
    site = extract_sites(p, v_alone, TRANSFORM, BNG).iloc[0]
    assert np.isnan(site["v_ring"]) and site["dv"] == -2.0 and site["motion"] == "subsidence"


def test_site_without_points_is_kept_with_zero_priority():
    sites = extract_sites(_two_blobs(), np.full((40, 40), NAN), TRANSFORM, BNG)
    assert (sites["n_points"] == 0).all() and (sites["priority"] == 0).all()
    assert sites[["v_mean", "v_min", "v_max", "v_ring", "dv"]].isna().all().all()
    assert (sites["motion"] == "").all()


def test_centroid_of_a_site_at_known_bng_coordinates():
    # a 3 × 3 px site at rows 10–12, cols 20–22: its centre (21.5, 11.5 px) is at 530000 E, 180000 N
    transform = Affine(10, 0, 530_000 - 215, 0, -10, 180_000 + 115)
    p = np.zeros((30, 40))
    p[10:13, 20:23] = 0.99
    site = extract_sites(p, np.zeros((30, 40)), transform, BNG).iloc[0]
    lon, lat = Transformer.from_crs(BNG, "EPSG:4326", always_xy=True).transform(530_000, 180_000)
    assert site["centroid_lon"] == pytest.approx(lon, abs=1e-9)
    assert site["centroid_lat"] == pytest.approx(lat, abs=1e-9)
    back = extract_sites(p, np.zeros((30, 40)), transform, BNG).to_crs(BNG)
    assert back.area.iloc[0] == pytest.approx(900.0, rel=1e-6)  # the polygon survives the trip


def test_looks_name_the_geometries_that_scored_the_site():
    p = _two_blobs()
    ascending = np.ones((40, 40), dtype=bool)
    descending = np.zeros((40, 40), dtype=bool)
    descending[25, 20] = True  # one pixel of B seen from both looks
    sites = extract_sites(
        p,
        np.zeros((40, 40)),
        TRANSFORM,
        BNG,
        geometries={"ascending": ascending, "descending": descending},
    )
    p50 = _by_level(sites, 0.5).set_index("area_m2")
    assert p50.loc[2500.0, "looks"] == "ascending" and p50.loc[2500.0, "single_geometry"]
    assert p50.loc[3200.0, "looks"] == "ascending+descending"
    assert not p50.loc[3200.0, "single_geometry"]
    unknown = extract_sites(p, np.zeros((40, 40)), TRANSFORM, BNG)
    assert (unknown["looks"] == "").all() and not unknown["single_geometry"].any()


def test_priority_formula_and_id_order():
    p = _two_blobs()
    v = np.zeros((40, 40))
    v[5:10, 5:10] = -2.0  # A: confident, slow
    v[25:29, 20:28] = 10.0  # B: less confident, fast
    p50 = _by_level(extract_sites(p, v, TRANSFORM, BNG), 0.5)
    prio_a = 0.95 * 2.0 * (1 + math.log10(1 + 2500 / 10_000))
    prio_b = 0.6 * 10.0 * (1 + math.log10(1 + 3200 / 10_000))
    assert p50["site_id"].tolist() == ["p50-0001", "p50-0002"]
    assert p50["priority"].tolist() == pytest.approx([prio_b, prio_a])
    assert p50["area_m2"].tolist() == [3200.0, 2500.0]


def test_empty_input_gives_empty_frame_with_columns_and_crs():
    empty = extract_sites(np.zeros((20, 20)), np.zeros((20, 20)), TRANSFORM, BNG)
    assert len(empty) == 0 and tuple(empty.columns) == SITE_COLUMNS
    assert empty.crs.to_epsg() == 4326
    full = extract_sites(_two_blobs(), np.zeros((40, 40)), TRANSFORM, BNG)
    assert full.crs.to_epsg() == 4326 and tuple(full.columns) == SITE_COLUMNS
    assert (empty.dtypes == full.dtypes).all()


def test_nan_probability_never_forms_or_joins_a_site():
    assert len(extract_sites(np.full((20, 20), NAN), np.zeros((20, 20)), TRANSFORM, BNG)) == 0
    p = np.zeros((20, 20))
    p[5:10, 5:15] = 0.95
    p[:, 10] = NAN  # a column of unscored pixels cuts the blob in two
    sites = extract_sites(p, np.zeros((20, 20)), TRANSFORM, BNG)
    assert sites_summary(sites) == {"p50": 2, "p75": 2, "p90": 2}
    assert set(sites["area_m2"]) == {2500.0, 2000.0}


def test_diagonal_pixels_form_one_multipolygon_site():
    p = np.zeros((10, 10))
    p[3, 3] = p[4, 4] = 0.99  # 8-connected, so one site of two squares meeting at a corner
    site = extract_sites(p, np.zeros((10, 10)), TRANSFORM, BNG).iloc[0]
    assert isinstance(site.geometry, MultiPolygon) and len(site.geometry.geoms) == 2
    assert site["area_m2"] == 200.0


def test_progress_and_shape_check():
    calls = []
    extract_sites(
        np.zeros((5, 5)), np.zeros((5, 5)), TRANSFORM, BNG, progress=lambda *a: calls.append(a)
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(ValueError, match="differ in shape"):
        extract_sites(np.zeros((5, 5)), np.zeros((5, 6)), TRANSFORM, BNG)


def test_level_keys():
    assert [level_key(x) for x in SitesParams().levels] == ["p50", "p75", "p90"]
