"""Tests of engine.scenes: benchmark scenes with ground truth, and site scoring."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from engine.scenes import (
    LANDCOVER_CLASSES,
    SOURCE_KINDS,
    atmosphere,
    draw_sources,
    footprint_points,
    make_scene,
    render_source,
    scene_transform,
    score_scene,
    score_sites,
)
from engine.synthetic import Viewing, los_unit_vector, to_los

SIZE = 1000
TOWN, FIELD = LANDCOVER_CLASSES.index("town"), LANDCOVER_CLASSES.index("field")
VIEWING = {
    "ascending": Viewing("ascending", 34.0, -10.0),
    "descending": Viewing("descending", 43.0, 190.0),
}


@pytest.fixture(scope="module")
def scene():
    return make_scene(SIZE, seed=7)


@pytest.fixture(scope="module")
def sources_2000():
    return draw_sources(2000, transform=scene_transform(2000, 10.0), viewing=VIEWING, rng=3)


def _truth_key(truth: gpd.GeoDataFrame) -> tuple:
    return (
        truth.drop(columns="geometry").to_dict("list"),
        [g.wkb for g in truth.geometry],
    )


def test_same_seed_same_scene_other_seed_differs(scene):
    again = make_scene(SIZE, seed=7)
    for g in ("ascending", "descending"):
        np.testing.assert_array_equal(again.velocity[g], scene.velocity[g])
        assert again.velocity[g].dtype == np.float32
        assert again.velocity[g].shape == (SIZE, SIZE)
    assert _truth_key(again.truth()) == _truth_key(scene.truth())
    assert [s.params for s in again.sources] == [s.params for s in scene.sources]

    other = make_scene(SIZE, seed=8)
    assert not np.array_equal(
        np.isfinite(other.velocity["ascending"]), np.isfinite(scene.velocity["ascending"])
    )
    assert _truth_key(other.truth()) != _truth_key(scene.truth())


def test_grid_in_the_midlands(scene):
    t = scene.transform
    assert scene.crs == "EPSG:27700" and t.a == 10.0 and t.e == -10.0
    assert (t.c, t.f) == (430000.0, 340000.0)  # top-left; the south edge is at 330000


def test_density_clustered_and_independent_between_geometries(scene):
    observed = {g: np.isfinite(v) for g, v in scene.velocity.items()}
    for seen in observed.values():
        assert 0.01 <= seen.mean() <= 0.30
        town = seen[scene.landcover == TOWN].mean()
        field = seen[scene.landcover == FIELD].mean()
        assert 0.08 <= town <= 0.30 and 0.005 <= field <= 0.015
        assert town > 5 * field
    # one layout, two independent draws: many pixels seen by only one geometry
    both = (observed["ascending"] & observed["descending"]).sum()
    assert both < 0.5 * observed["ascending"].sum()
    assert not np.array_equal(observed["ascending"], observed["descending"])


def test_every_kind_in_a_2000_px_scene_and_more_sources_when_bigger(sources_2000):
    kinds = [s.kind for s in sources_2000]
    assert set(kinds) == set(SOURCE_KINDS)
    assert len(sources_2000) == 80  # 400 km² at one per 5 km², all placed
    small = draw_sources(1000, transform=scene_transform(1000, 10.0), viewing=VIEWING, rng=3)
    assert 5 <= len(small) < len(sources_2000)
    assert len({s.id for s in sources_2000}) == len(sources_2000)


@pytest.mark.parametrize("which", ["scene", "sources_2000"])
def test_footprints_inside_and_apart(which, request):
    obj = request.getfixturevalue(which)
    size = SIZE if which == "scene" else 2000
    sources = obj.sources if which == "scene" else obj
    t = scene_transform(size, 10.0)
    inner = box(t.c + 300, t.f - size * 10 + 300, t.c + size * 10 - 300, t.f - 300)
    footprints = [s.footprint for s in sources]
    for s in sources:
        assert isinstance(s.footprint, Polygon | MultiPolygon) and s.footprint.is_valid
        assert inner.contains(s.footprint), s.id
        assert 1.0 <= s.peak_mm_yr <= 15.0 + 1e-9, s.id
    distance = shapely.distance(np.array(footprints)[:, None], np.array(footprints)[None, :])
    np.fill_diagonal(distance, np.inf)
    assert distance.min() >= 200.0


def test_recorded_peaks_and_footprints_match_a_full_render(scene):
    """Placement measures on a window of reach_m only; the full field must agree."""
    for s in scene.sources:
        *_, u = render_source(s.kind, s.params, scene.transform, SIZE)
        magnitude = np.sqrt(u.east**2 + u.north**2 + u.up**2)
        assert magnitude.max() == pytest.approx(s.peak_mm_yr, rel=1e-12), s.id
        inside = magnitude >= max(1.0, 0.2 * s.peak_mm_yr)
        assert inside.sum() * 100.0 == pytest.approx(s.footprint.area), s.id
        for g, view in scene.viewing.items():
            los = to_los(u, view)
            assert los.flat[np.argmax(np.abs(los))] == pytest.approx(s.peak_los_mm_yr[g]), s.id


def test_vertical_sources_seen_at_cos_incidence(sources_2000):
    checked = 0
    for s in sources_2000:
        if s.kind not in ("quarry", "dewatering"):
            continue
        up = s.peak_mm_yr if s.kind == "dewatering" else -s.peak_mm_yr
        for g, view in VIEWING.items():
            expected = math.cos(math.radians(view.incidence_deg)) * up
            assert s.peak_los_mm_yr[g] == pytest.approx(expected, rel=1e-9), (s.id, g)
        checked += 1
    assert checked >= 10
    # cos 34° ≠ cos 43°: the same vertical source is seen larger from the steeper track
    s = next(s for s in sources_2000 if s.kind == "quarry")
    assert abs(s.peak_los_mm_yr["ascending"]) > abs(s.peak_los_mm_yr["descending"])


def test_landslides_seen_differently_by_the_two_geometries(sources_2000):
    slides = [s for s in sources_2000 if s.kind == "landslide"]
    assert slides
    opposite = 0
    for s in slides:
        p = s.params
        az = math.radians(p["azimuth_deg"])
        h, v = p["horizontal_mm_yr"], p["down_mm_yr"]
        direction = np.array([h * math.sin(az), h * math.cos(az), -v]) / math.hypot(h, v)
        for g, view in VIEWING.items():
            expected = s.peak_mm_yr * float(direction @ np.array(los_unit_vector(view)))
            assert s.peak_los_mm_yr[g] == pytest.approx(expected, rel=1e-9, abs=1e-9)
        asc, desc = s.peak_los_mm_yr["ascending"], s.peak_los_mm_yr["descending"]
        assert asc != pytest.approx(desc, rel=0.01)
        opposite += asc * desc < 0
    assert opposite >= 1  # a slide moving east or west: towards one track, away from the other


def test_points_round_trip(scene, tmp_path):
    for g in ("ascending", "descending"):
        raster = scene.velocity[g]
        points = scene.points(g)
        assert list(points.columns) == ["x", "y", "lon", "lat", "velocity"]
        assert len(points) == np.isfinite(raster).sum()
        cols, rows = ~scene.transform @ (points["x"].to_numpy(), points["y"].to_numpy())
        np.testing.assert_allclose(cols % 1, 0.5)
        np.testing.assert_array_equal(
            raster[rows.astype(int), cols.astype(int)], points["velocity"].to_numpy()
        )
        assert points["lon"].between(-1.7, -1.3).all() and points["lat"].between(52.8, 53.0).all()
    path = tmp_path / "asc.csv"
    scene.points("ascending").to_csv(path, index=False)
    back = pd.read_csv(path)
    np.testing.assert_allclose(back["velocity"], scene.points("ascending")["velocity"], atol=1e-6)
    with pytest.raises(ValueError, match="geometry"):
        scene.points("vertical")


def test_truth_table(scene):
    truth = scene.truth()
    assert list(truth.columns) == [
        "id",
        "kind",
        "peak_mm_yr",
        "peak_los_ascending",
        "peak_los_descending",
        "geometry",
    ]
    assert truth.crs.to_epsg() == 27700 and len(truth) == len(scene.sources) == 20
    assert truth["id"].tolist() == [s.id for s in scene.sources]


def test_score_sites_by_hand():
    truth = gpd.GeoDataFrame(
        {"id": ["A", "B"]},
        geometry=[box(430000, 330000, 430100, 330100), box(431000, 331000, 431100, 331100)],
        crs="EPSG:27700",
    )
    sites = gpd.GeoDataFrame(
        geometry=[
            box(430050, 330050, 430200, 330200),  # overlaps A
            box(435000, 335000, 435100, 335100),  # overlaps nothing
            box(429900, 329900, 430010, 330010),  # overlaps A too
        ],
        crs="EPSG:27700",
    )
    expected = {
        "recall": 0.5,
        "precision": 2 / 3,
        "false_positive_sites": 1,
        "sites": 3,
        "sources": 2,
        "detected": ["A"],
        "missed": ["B"],
    }
    assert score_sites(sites, truth) == expected
    # sites in WGS84 are brought to the truth's CRS first
    assert score_sites(sites.to_crs("EPSG:4326"), truth) == expected
    # one more site covering B: all found, 1 false positive in 4
    more = pd.concat(
        [sites, gpd.GeoDataFrame(geometry=[box(431050, 331050, 431060, 331060)], crs="EPSG:27700")],
        ignore_index=True,
    )
    score = score_sites(more, truth)
    assert (score["recall"], score["precision"], score["missed"]) == (1.0, 0.75, [])


def test_score_sites_empty_cases():
    truth = gpd.GeoDataFrame({"id": ["A"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:27700")
    no_sites = gpd.GeoDataFrame(geometry=[], crs="EPSG:27700")
    score = score_sites(no_sites, truth)
    assert (score["recall"], score["precision"], score["missed"]) == (0.0, 0.0, ["A"])
    no_truth = truth.iloc[:0]
    score = score_sites(truth, no_truth)
    assert (score["recall"], score["precision"], score["false_positive_sites"]) == (0.0, 0.0, 1)


@pytest.mark.parametrize("size", [999, 10001, 0])
def test_size_outside_range_refused(size):
    with pytest.raises(ValueError, match="size_px"):
        make_scene(size)


def test_non_positive_pixel_refused():
    with pytest.raises(ValueError, match="pixel_size_m"):
        make_scene(1000, pixel_size_m=0.0)


def test_coarse_atmosphere_keeps_the_covariance():
    """Above 2500 px the field is synthesised on a coarser grid and upsampled."""
    a, b, pixel = 1.5, 1.0, 25.0  # 2600 px at 25 m: a 50 m grid, 65 km across
    field = atmosphere(2600, pixel, a_mm2_yr2=a, b_per_km=b, rng=0)
    assert field.shape == (2600, 2600) and field.dtype == np.float32
    assert field.var() == pytest.approx(a, rel=0.2)
    lag = 40  # 1 km
    cov = np.mean((field[:, lag:] - field.mean()) * (field[:, :-lag] - field.mean()))
    assert cov / field.var() == pytest.approx(math.exp(-b * lag * pixel / 1000), abs=0.1)


# ------------------------------------------------------------------ hard negatives


def test_hard_negatives_lie_apart_from_every_source(scene):
    negatives = scene.negatives_frame()
    assert set(negatives["kind"]) == {"sea", "sparse", "spikes"}
    assert (negatives["kind"] == "spikes").sum() == 20  # one per 5 km² of a 100 km² scene
    footprints = np.asarray(scene.truth().geometry.values, dtype=object)
    for region in negatives.geometry:
        assert not shapely.dwithin(region, footprints, 299.0).any()


def test_sea_holds_no_point_and_sparse_fields_few(scene):
    sea = LANDCOVER_CLASSES.index("sea")
    sparse = LANDCOVER_CLASSES.index("sparse field")
    assert (scene.landcover == sea).mean() > 0.02  # a coast ≥ 200 m deep along one side
    for v in scene.velocity.values():
        seen = np.isfinite(v)
        assert not seen[scene.landcover == sea].any()
        assert 0.0005 < seen[scene.landcover == sparse].mean() < 0.0035


def test_spike_clusters_are_dense_incoherent_and_independent_per_geometry(scene):
    negatives = scene.negatives_frame()
    spikes = negatives[negatives["kind"] == "spikes"].reset_index(drop=True)
    points = {g: scene.points(g) for g in ("ascending", "descending")}
    for disc in spikes.geometry[:5]:
        values = {}
        for g, table in points.items():
            inside = shapely.contains_xy(disc.buffer(2.0), table["x"], table["y"])
            values[g] = table.loc[inside, "velocity"].to_numpy()
            assert 24 <= inside.sum() <= 48 + 10  # the cluster, plus a few ordinary points
            fast = np.abs(values[g]) > 4.0  # ±5–10 on an atmosphere of ~1 mm/yr
            assert fast.mean() > 0.7
            assert (values[g][fast] > 0).any() and (values[g][fast] < 0).any()  # incoherent
        assert not np.array_equal(values["ascending"], values["descending"])


def test_without_negatives_the_rest_of_the_scene_is_unchanged(scene):
    plain = make_scene(SIZE, seed=7, hard_negatives=False)
    assert plain.negatives == () and _truth_key(plain.truth()) == _truth_key(scene.truth())
    away = np.ones((SIZE, SIZE), dtype=bool)  # pixels no negative touches
    rows, cols = np.mgrid[:SIZE, :SIZE]
    x, y = scene.transform @ (cols + 0.5, rows + 0.5)
    for region in scene.negatives_frame().geometry:
        away &= ~shapely.contains_xy(region.buffer(20.0), x, y)
    for g in ("ascending", "descending"):
        # the same scatterers (the spike noise on them is drawn in another order)
        seen = np.isfinite(scene.velocity[g])
        np.testing.assert_array_equal(np.isfinite(plain.velocity[g])[away], seen[away])


def test_score_scene_by_hand(scene):
    truth = scene.truth().set_index("id")
    negatives = scene.negatives_frame().set_index("id")
    source = truth.geometry.iloc[0]
    speed = truth[["peak_los_ascending", "peak_los_descending"]].abs().max(axis=1).iloc[0]
    sites = gpd.GeoDataFrame(
        {"n_points": [10, 3, 6]},
        geometry=[
            source.buffer(0),  # exactly the first footprint: area ratio 1
            negatives.geometry["spikes-1"].centroid.buffer(10.0),  # on a spike cluster
            negatives.geometry["sea-1"].representative_point().buffer(30.0),  # over the sea
        ],
        crs=scene.crs,
    )
    score = score_scene(sites, scene)
    assert (score["sites"], score["false_positive_sites"]) == (3, 2)
    assert score["spike_clusters_hit"] == pytest.approx(1 / 20)
    assert score["sites_over_sea"] == 1 and score["sites_without_points"] == 1
    assert score["median_area_ratio"] == 1.0
    bins = {k: v for k, v in score["recall_by_velocity"].items() if v}
    lo, hi = (float(x) for x in next(iter(bins)).split("-"))
    assert len(bins) == 1 and lo <= speed <= hi  # the one detected source, in its bin
    empty = score_scene(sites.iloc[:0], scene)
    assert empty["recall_ge3"] == 0.0 and empty["median_area_ratio"] is None


def test_footprint_points_count_the_observed_pixel_centres_inside(scene):
    seen = np.any([np.isfinite(v) for v in scene.velocity.values()], axis=0)
    rows, cols = np.nonzero(seen)
    x, y = scene.transform @ (cols + 0.5, rows + 0.5)
    expected = [int(shapely.contains_xy(s.footprint, x, y).sum()) for s in scene.sources]
    assert footprint_points(scene).tolist() == expected
    assert max(expected) > 0


def test_sources_too_thin_for_a_site_are_left_out_of_the_observable_recall(scene):
    truth = scene.truth()
    speed = truth[["peak_los_ascending", "peak_los_descending"]].abs().max(axis=1)
    points = footprint_points(scene)
    score = score_scene(truth.assign(n_points=10), scene)  # every footprint is a site
    assert score["observable_ge3"] == int(((speed >= 3) & (points >= 4)).sum())
    assert score["recall_ge3_observable"] == 1.0
    strict = score_scene(truth.assign(n_points=10), scene, min_points=10**9)
    assert strict["observable_ge3"] == 0 and strict["recall_ge3_observable"] is None
