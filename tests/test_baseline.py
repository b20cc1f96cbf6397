"""Baseline thresholding (§IV-C): hand rasters of sparse points with known outcomes."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from engine import _regions
from engine.baseline import BASELINE_COLUMNS, baseline_sites, compare_sites, threshold_key
from engine.config import BaselineParams

BNG = "EPSG:27700"
TRANSFORM = Affine(10, 0, 450_000, 0, -10, 250_000)  # 10 m pixels
NAN = np.nan


def _points(shape, values: dict[tuple[int, int], float]) -> np.ndarray:
    v = np.full(shape, NAN)
    for rc, value in values.items():
        v[rc] = value
    return v


def _row_of_four(spacing_px: int, value: float = -6.0) -> np.ndarray:
    """Four isolated points on row 30, from column 10, ``spacing_px`` apart."""
    return _points((60, 100), {(30, 10 + i * spacing_px): value for i in range(4)})


def test_a_lone_fast_point_is_not_a_site():
    v = _points((60, 60), {(30, 30): -20.0})
    assert len(baseline_sites(v, TRANSFORM, BNG)) == 0


def test_one_pixel_with_many_points_is_still_one_point():
    v = _points((60, 60), {(30, 30): -20.0})
    counts = np.where(np.isfinite(v), 10, 0)
    assert len(baseline_sites(v, TRANSFORM, BNG, counts=counts)) == 0


def test_four_points_within_the_dilation_join_and_farther_apart_do_not():
    joined = baseline_sites(_row_of_four(18), TRANSFORM, BNG)
    assert joined["site_id"].tolist() == ["t3.0-0001", "t4.5-0001", "t5.0-0001"]
    site = joined.iloc[0]
    # 18 px square around each: rows 21–38, cols 1–72 (10 − 9 … 64 + 8)
    assert site["area_m2"] == 18 * 72 * 100.0
    assert site["n_points"] == 4 and site["v_mean"] == -6.0
    assert np.isnan(site["v_ring"]) and site["dv"] == -6.0  # no point around: v_mean alone
    assert site["motion"] == "subsidence"
    assert site["priority"] == pytest.approx(6.0 * (1 + math.log10(1 + 129_600 / 10_000)))
    assert len(baseline_sites(_row_of_four(19), TRANSFORM, BNG)) == 0  # 1 px gaps between


def test_columns_and_the_cnn_only_fields():
    sites = baseline_sites(_row_of_four(5), TRANSFORM, BNG)
    assert tuple(sites.columns) == BASELINE_COLUMNS and sites.crs.to_epsg() == 4326
    assert sites[["p_max", "p_mean"]].isna().all().all()
    assert (sites["looks"] == "").all() and not sites["single_geometry"].any()
    assert sites["threshold"].tolist() == [3.0, 4.5, 5.0]


def test_median_removes_a_spike_among_slow_points():
    v = np.full((60, 60), 1.0)  # dense slow ground
    for r, c in [(20, 20), (20, 25), (25, 20), (25, 25)]:
        v[r, c] = 20.0  # four lone spikes, close enough to be joined by the dilation
    assert len(baseline_sites(v, TRANSFORM, BNG)) == 0
    unfiltered = baseline_sites(v, TRANSFORM, BNG, params=BaselineParams(median_size_px=1))
    assert len(unfiltered) == 3  # without the median the spikes pass every threshold


def test_thresholds_give_nested_counts():
    values = {}
    for col, rate in [(10, 3.5), (40, -4.7), (70, 6.0)]:
        for i in range(4):
            values[(30, col + 3 * i)] = rate  # 4 points 3 px apart; groups 21+ px apart
    sites = baseline_sites(_points((60, 100), values), TRANSFORM, BNG)
    counts = sites.groupby("threshold").size().to_dict()
    assert counts == {3.0: 3, 4.5: 2, 5.0: 1}
    fast = sites[sites["threshold"] == 5.0].iloc[0]
    assert fast["v_mean"] == 6.0 and fast["motion"] == "uplift"


def test_ring_is_measured_outside_the_dilated_mask():
    v = _row_of_four(5, value=-6.0)
    v[5, 5] = v[55, 95] = 2.0  # far from the site but within 20 px of its 18 px square
    v[30, 99] = 50.0  # 26 px east of the square's edge at col 73: outside the ring
    site = baseline_sites(v, TRANSFORM, BNG).iloc[0]
    assert site["v_ring"] == 2.0 and site["dv"] == -8.0


def test_a_dilated_lone_point_covers_18_by_18_pixels():
    one = np.zeros((40, 40), dtype=bool)
    one[20, 20] = True
    grown = _regions.dilate_square(one, 18)
    rows, cols = np.nonzero(grown)
    assert grown.sum() == 324 and (rows.min(), rows.max(), cols.min(), cols.max()) == (
        11,
        28,
        11,
        28,
    )
    lone = baseline_sites(
        _points((40, 40), {(20, 20): -9.0}), TRANSFORM, BNG, params=BaselineParams(min_points=1)
    )
    assert lone["area_m2"].tolist() == [32_400.0] * 3  # the paper's "32k m²"


def test_compare_sites_on_a_hand_case():
    # CNN site A (rows 25–35, cols 5–15: 11 × 11 px, highest level 0.75) over the first
    # baseline group; B (rows 32–35, cols 62–72, level 0.5): its south edge touches group
    # 2's square, no overlap
    a = box(450_050, 250_000 - 360, 450_160, 250_000 - 250)
    b = box(450_620, 250_000 - 360, 450_730, 250_000 - 320)
    cnn = gpd.GeoDataFrame({"level": [0.75, 0.5]}, geometry=[a, b], crs=BNG).to_crs(4326)
    v = np.full((60, 100), NAN)
    for c in (10, 12, 14, 16):
        v[30, c] = -6.0  # baseline group 1: rows 21–38, cols 1–24
    for c in (70, 72, 74, 76):
        v[45, c] = 4.0  # group 2, above 3 mm/yr only: rows 36–53, cols 61–84
    base = baseline_sites(v, TRANSFORM, BNG)
    out = compare_sites(cnn, base, level=0.5)
    assert out["level"] == "p50"
    assert out["cnn"] == {"p50": 2, "p75": 1, "p90": 0}
    assert out["baseline"] == {"t3.0": 2, "t4.5": 1, "t5.0": 1}
    t3 = out["overlap"]["t3.0"]
    assert (t3["cnn_sites"], t3["baseline_sites"]) == (2, 2)
    assert (t3["baseline_hitting_cnn"], t3["cnn_hitting_baseline"]) == (1, 1)
    # A (rows 25–35, cols 5–15) lies inside group 1's square: shared = A's 121 px
    assert t3["shared_area_m2"] == pytest.approx(12_100.0, rel=2e-3)
    assert t3["cnn_area_m2"] == pytest.approx(12_100.0 + 4_400.0, rel=2e-3)
    assert t3["baseline_area_m2"] == pytest.approx((18 * 24 + 18 * 24) * 100.0, rel=2e-3)
    assert out["overlap"]["t5.0"]["baseline_hitting_cnn"] == 1


def test_threshold_keys():
    assert [threshold_key(t) for t in BaselineParams().thresholds_mm_yr] == ["t3.0", "t4.5", "t5.0"]
