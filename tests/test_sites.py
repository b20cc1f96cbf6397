"""Sites (§IV-C): sites on the data, nested levels, motion in words, priority.

1. Hand cases: outlines hug the points and stay within ``max_beyond_m``; ``min_points``.
2. Motion against the ring: a ring moving with the site, against it, stable, absent.
3. Priority and ids; columns, dtypes and no NaN.
4. Properties over random probability maps: nesting, counts that never grow with the level.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from scipy import ndimage

from engine.config import SitesParams
from engine.sites import (
    SITE_COLUMNS,
    extract_sites,
    level_key,
    level_regions,
    mask_to_data,
    reach_px,
    site_regions,
    sites_at,
    sites_summary,
)

BNG = "EPSG:27700"
TRANSFORM = Affine(10, 0, 450_000, 0, -10, 250_000)  # 10 m pixels in the Midlands
NAN = np.nan


def _point_centres(velocity: np.ndarray, transform: Affine = TRANSFORM) -> shapely.MultiPoint:
    rows, cols = np.nonzero(np.isfinite(velocity))
    x, y = transform @ (cols + 0.5, rows + 0.5)
    return shapely.MultiPoint(np.column_stack([x, y]))


# 1. On the data ---------------------------------------------------------------------------


def test_outline_hugs_sparse_points_and_stays_within_the_limit():
    # the merged map is high over 60 × 60 px (600 m), but only 8 points lie in it, 60 m apart
    p = np.zeros((80, 80))
    p[10:70, 10:70] = 0.95
    v = np.full((80, 80), NAN)
    v[40, 20:68:6] = -6.0
    for limit in (100.0, 50.0):
        params = SitesParams(max_beyond_m=limit)
        sites = extract_sites(p, v, TRANSFORM, BNG, params=params).to_crs(BNG)
        assert len(sites) == 1 and sites["n_points"].item() == 8
        outline = sites.geometry.item()
        corners = shapely.points(shapely.get_coordinates(outline))
        farthest = shapely.distance(corners, _point_centres(v)).max()
        assert farthest <= limit  # every corner of the outline within the limit of a point
        assert outline.area < 0.1 * 600 * 600  # not the 36 ha where P > 0.5
    # the line of points: 42 px long; at 100 m the gaps (60 m) close, at 2 px buffer it is
    # at least 5 px wide along its length
    assert outline.contains(shapely.LineString(_point_centres(v).geoms))


def test_probability_over_empty_ground_makes_no_site_and_no_heatmap():
    # the west half holds points, the east half is sea with P = 0.97 all the same
    p = np.full((40, 80), 0.97)
    v = np.full((40, 80), NAN)
    v[5:35:3, 5:40:3] = -5.0
    sites = extract_sites(p, v, TRANSFORM, BNG).to_crs(BNG)
    assert len(sites) == 1
    east_edge = sites.total_bounds[2]
    last_point_x = TRANSFORM.c + (38 + 0.5) * 10
    assert east_edge <= last_point_x + 100.0
    heat = mask_to_data(p, np.isfinite(v), pixel_size_m=10.0, max_distance_m=100.0)
    assert np.isnan(heat[:, 49:]).all() and np.isfinite(heat[5:35, 5:47]).all()


def test_a_site_needs_min_points():
    p = np.zeros((30, 30))
    p[10:20, 10:20] = 0.9
    v = np.full((30, 30), NAN)
    v[12, 12], v[14, 14], v[16, 16] = -5.0, -5.0, -5.0
    assert len(extract_sites(p, v, TRANSFORM, BNG)) == 0  # three points: no site
    v[18, 18] = -5.0
    assert extract_sites(p, v, TRANSFORM, BNG)["n_points"].tolist() == [4]
    counts = np.where(np.isfinite(v), 1, 0)
    counts[12, 12] = 3  # one pixel of three points: six points in all
    assert extract_sites(p, v, TRANSFORM, BNG, counts=counts)["n_points"].tolist() == [6]


def test_two_groups_of_points_far_apart_are_two_sites_one_region_one_site():
    p = np.zeros((40, 100))
    p[5:35, 5:95] = 0.8
    p[15:25, 15:25] = 0.95  # a core above 0.9 in the west group only
    v = np.full((40, 100), NAN)
    v[15:25:2, 15:25:2] = -4.0  # west: 25 points
    v[15:25:2, 75:85:2] = -4.0  # east: 25 points, 500 m away
    sites = extract_sites(p, v, TRANSFORM, BNG)
    assert sorted(sites["level"]) == [0.75, 0.9]
    assert sites_summary(sites) == {"p50": 2, "p75": 2, "p90": 1}


def test_centroid_of_a_site_at_known_bng_coordinates():
    # a 3 × 3 px site of points at rows 10–12, cols 20–22 (0 px buffer: the points' pixels)
    transform = Affine(10, 0, 530_000 - 215, 0, -10, 180_000 + 115)
    p = np.zeros((30, 40))
    p[10:13, 20:23] = 0.99
    v = np.where(p > 0, -3.0, NAN)
    site = extract_sites(p, v, transform, BNG, params=SitesParams(buffer_px=0)).iloc[0]
    lon, lat = Transformer.from_crs(BNG, "EPSG:4326", always_xy=True).transform(530_000, 180_000)
    assert site["centroid_lon"] == pytest.approx(lon, abs=1e-9)
    assert site["centroid_lat"] == pytest.approx(lat, abs=1e-9)
    assert site["area_m2"] == 900.0


# 2. Motion ---------------------------------------------------------------------------------


def _site_in_ring(v_site: float, v_ring: float | None) -> dict:
    """A 13 px disc at P = 0.95 and v_site; every pixel around it a point at v_ring (or none)."""
    rows, cols = np.mgrid[:60, :60]
    disc = (rows - 30) ** 2 + (cols - 30) ** 2 <= 36
    p = np.where(disc, 0.95, 0.1)
    v = np.where(disc, v_site, NAN if v_ring is None else v_ring)
    return extract_sites(p, v, TRANSFORM, BNG).iloc[0].to_dict()


@pytest.mark.parametrize(
    ("v_site", "v_ring", "dv", "motion", "text"),
    [
        (-5.0, 0.0, -5.0, "subsidence",
         "subsidence of −5.0 mm/yr relative to stable surroundings"),
        (-15.0, -10.0, -5.0, "subsidence",
         "relative subsidence of −5.0 mm/yr; the surrounding area also subsides at −10.0 mm/yr"),
        (-9.0, -12.0, 3.0, "uplift",
         "relative uplift of +3.0 mm/yr; the whole area subsides at −12.0 mm/yr"),
        (6.0, 2.5, 3.5, "uplift",
         "relative uplift of +3.5 mm/yr; the surrounding area also rises at +2.5 mm/yr"),
        (-2.0, None, -2.0, "subsidence",
         "subsidence of −2.0 mm/yr (absolute: too few points around it to compare with)"),
        (0.5, 0.5, 0.0, "stable", "no motion relative to stable surroundings"),
    ],
)  # fmt: skip
def test_motion_word_and_sentence_against_the_ring(v_site, v_ring, dv, motion, text):
    site = _site_in_ring(v_site, v_ring)
    assert site["dv"] == dv and site["motion"] == motion and site["motion_text"] == text
    assert site["v_mean"] == v_site
    assert site["v_ring"] == (0.0 if v_ring is None else v_ring)
    if v_ring is None:
        assert site["ring_points"] == 0
    else:  # the 20 px ring around a 13 px disc, inside the 60 px raster: ~2,600 points
        assert 2000 < site["ring_points"] < 3600 - 113


def test_ring_leaves_out_other_detections_and_widens_when_sparse():
    rows, cols = np.mgrid[:120, :120]
    disc = (rows - 60) ** 2 + (cols - 60) ** 2 <= 36
    p = np.where(disc, 0.95, 0.1)
    v = np.full((120, 120), NAN)
    v[disc] = -8.0
    v[5, 5:9] = 1.0  # four points 55 px away: beyond the 20 px ring, within 4 × 20
    site = extract_sites(p, v, TRANSFORM, BNG).iloc[0]
    assert (site["v_ring"], site["ring_points"], site["dv"]) == (1.0, 4, -9.0)


# 3. Priority, ids, columns ---------------------------------------------------------------


def test_priority_formula_and_id_order():
    p = np.zeros((40, 60))
    p[5:12, 5:12] = 0.95
    p[25:32, 30:45] = 0.6
    v = np.zeros((40, 60))
    v[5:12, 5:12] = -2.0  # A: confident, slow, 49 points
    v[25:32, 30:45] = 10.0  # B: less confident, fast, 105 points
    sites = extract_sites(p, v, TRANSFORM, BNG, params=SitesParams(buffer_px=0))

    def expected(p_mean, dv, area, n):
        return p_mean * abs(dv) * (1 + math.log10(1 + area / 1e4)) * (1 - math.exp(-n / 10))

    assert sites["site_id"].tolist() == ["site-0001", "site-0002"]
    assert sites["n_points"].tolist() == [105, 49]
    assert sites["priority"].tolist() == pytest.approx(
        [expected(0.6, 10.0, 10500.0, 105), expected(0.95, -2.0, 4900.0, 49)]
    )


def test_columns_dtypes_and_no_nan_anywhere():
    empty = extract_sites(np.zeros((20, 20)), np.zeros((20, 20)), TRANSFORM, BNG)
    assert len(empty) == 0 and tuple(empty.columns) == SITE_COLUMNS
    assert empty.crs.to_epsg() == 4326
    rng = np.random.default_rng(3)
    p = ndimage.gaussian_filter(rng.random((120, 120)), 6)
    p = (p - p.min()) / (p.max() - p.min())
    v = np.where(rng.random((120, 120)) < 0.2, rng.normal(0, 5, (120, 120)), NAN)
    full = extract_sites(p, v, TRANSFORM, BNG)
    assert len(full) >= 2 and tuple(full.columns) == SITE_COLUMNS
    assert (empty.dtypes == full.dtypes).all()
    assert not full.drop(columns="geometry").isna().any().any()
    assert "null" not in full.to_json() and "NaN" not in full.to_json()
    assert (full["n_points"] >= 4).all()


def test_looks_name_the_geometries_that_scored_the_site():
    p = np.zeros((40, 40))
    p[5:12, 5:12] = 0.9
    v = np.where(p > 0, -4.0, 0.0)
    ascending = np.ones((40, 40), dtype=bool)
    descending = np.zeros((40, 40), dtype=bool)
    site = extract_sites(p, v, TRANSFORM, BNG,
                         geometries={"ascending": ascending, "descending": descending})  # fmt: skip
    assert site["looks"].item() == "ascending" and site["single_geometry"].item()
    descending[8, 8] = True
    site = extract_sites(p, v, TRANSFORM, BNG,
                         geometries={"ascending": ascending, "descending": descending})  # fmt: skip
    assert site["looks"].item() == "ascending+descending" and not site["single_geometry"].item()


def test_nan_probability_never_holds_a_site_and_shape_check():
    v = np.zeros((20, 20))
    assert len(extract_sites(np.full((20, 20), NAN), v, TRANSFORM, BNG)) == 0
    with pytest.raises(ValueError, match="differ in shape"):
        extract_sites(np.zeros((5, 5)), np.zeros((5, 6)), TRANSFORM, BNG)
    assert [level_key(x) for x in SitesParams().levels] == ["p50", "p75", "p90"]


# 4. Properties -----------------------------------------------------------------------------


@st.composite
def _maps(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    size = draw(st.integers(20, 70))
    sigma = draw(st.floats(1.0, 6.0))
    density = draw(st.floats(0.02, 0.6))
    levels = tuple(sorted(draw(st.lists(st.floats(0.05, 0.95), min_size=2, max_size=4,
                                        unique=True))))  # fmt: skip
    rng = np.random.default_rng(seed)
    p = ndimage.gaussian_filter(rng.random((size, size)), sigma)
    p = (p - p.min()) / (np.ptp(p) + 1e-12)
    p[rng.random((size, size)) < 0.05] = NAN  # unscored holes
    counts = np.where(rng.random((size, size)) < density, rng.integers(1, 4, (size, size)), 0)
    reach = draw(st.floats(1.0, 6.0))
    return p, counts, levels, reach, draw(st.integers(1, 6))


@settings(max_examples=60, deadline=None)
@given(_maps())
def test_regions_nest_and_counts_never_grow_with_the_level(case):
    p, counts, levels, reach, min_points = case
    observed = counts > 0
    sites = site_regions(p, counts, levels=levels, reach_px=reach, buffer_px=1,
                         min_points=min_points)  # fmt: skip
    # the region at each level lies inside the one below, each part inside one part of it
    below = None
    for level in levels:
        labels, n, _, _ = level_regions(p, observed, level, reach_px=reach)
        if below is not None:
            assert not (labels > 0)[below == 0].any()
            for part in range(1, n + 1):
                parents = np.unique(below[labels == part])
                assert parents.size == 1 and parents[0] > 0
        below = labels
    # a site reaches L exactly when a part of the region at L inside it holds min_points
    site_of_points = np.where(observed, sites.labels, 0)
    for level in levels:
        labels, n, _, _ = level_regions(p, observed, level, reach_px=reach)
        held = ndimage.sum(counts, labels, np.arange(1, n + 1)) if n else np.zeros(0)
        reaching = set()
        for part in np.flatnonzero(np.asarray(held) >= min_points) + 1:
            owners = np.unique(site_of_points[(labels == part) & observed])
            assert owners.size == 1 and owners[0] > 0  # its points all belong to one site
            reaching.add(int(owners[0]))
        assert reaching == set(np.flatnonzero(sites.level >= level) + 1)
    # counts at increasing levels never grow
    at = [int((sites.level >= level).sum()) for level in levels]
    assert at == sorted(at, reverse=True)
    # every site is made of points, and no outline pixel lies beyond reach of one
    if sites.n:
        held = ndimage.sum(counts, site_of_points, np.arange(1, sites.n + 1))
        assert (np.asarray(held) >= min_points).all()
        seeds = observed & (np.nan_to_num(p, nan=-1) > levels[0])
        far = ndimage.distance_transform_edt(~seeds)
        assert (far[sites.labels > 0] <= reach).all()


@settings(max_examples=15, deadline=None)
@given(_maps())
def test_summary_counts_match_sites_at_and_never_grow(case):
    p, counts, levels, _, _ = case
    v = np.where(counts > 0, 1.0, NAN)
    params = SitesParams(levels=levels)
    sites = extract_sites(p, v, TRANSFORM, BNG, counts=counts, params=params)
    summary = sites_summary(sites, levels=levels)
    assert list(summary.values()) == sorted(summary.values(), reverse=True)
    assert summary == {level_key(x): len(sites_at(sites, x)) for x in levels}
    assert reach_px(params, 10.0) == pytest.approx(10.0 - math.sqrt(0.5))
