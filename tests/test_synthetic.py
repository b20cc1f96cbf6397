"""Synthetic training data (§III-B): sources, LOS geometry, atmosphere, samples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.config import RunConfig
from engine.synthetic import (
    Displacement,
    Viewing,
    atmosphere_cholesky,
    exponential_covariance,
    los_unit_vector,
    make_sample,
    mogi,
    nugget_noise,
    to_los,
    tunnel,
    tunnel_profile,
    turbulent_atmosphere,
)
from tests.conftest import real_path

# ---------------------------------------------------------------- Mogi


def test_mogi_matches_hand_computed_values():
    # (1 − ν)ΔV/π = 0.75·1000/π = 238.7324 m³; R³ = (50² + 50²)^1.5 = 353553.39 m³
    u = mogi(50.0, 0.0, depth_m=50.0, volume_m3=1000.0)
    assert float(u.up) == pytest.approx(1000 * 238.7324 * 50 / 353553.39, rel=1e-6)  # 33.762 mm
    assert float(u.east) == pytest.approx(float(u.up), rel=1e-12)  # x = d here
    assert float(u.north) == 0.0
    # above the source: 0.75·ΔV/(π·d²); 10 m deep, 2 m³/yr of deflation
    assert float(mogi(0, 0, depth_m=10.0, volume_m3=-2.0).up) == pytest.approx(
        -1000 * 0.75 * 2 / (math.pi * 100)
    )


def test_mogi_inflation_and_deflation_mirror_each_other():
    x = np.linspace(-200, 200, 41)
    up = mogi(x, 30.0, depth_m=40.0, volume_m3=5.0)
    down = mogi(x, 30.0, depth_m=40.0, volume_m3=-5.0)
    for a, b in zip(up, down, strict=True):
        np.testing.assert_allclose(a, -b)
    assert (up.up > 0).all()
    assert np.all(np.sign(up.east) == np.sign(x))  # inflation pushes the ground outwards


def test_mogi_poisson_ratio_scales_linearly():
    a = mogi(0, 0, depth_m=20.0, volume_m3=1.0, poisson=0.25).up
    b = mogi(0, 0, depth_m=20.0, volume_m3=1.0, poisson=0.5).up
    assert float(a) / float(b) == pytest.approx(0.75 / 0.5)


# ---------------------------------------------------------------- tunnels


def test_tunnel_profile_zones():
    kw = dict(l_sag_m=40.0, l_hog_m=60.0, d_sag_mm=6.0, d_hog_mm=2.0)
    s = np.array([0.0, 20.0, 40.0, 70.0, 100.0, 150.0])
    w = tunnel_profile(s, **kw)
    np.testing.assert_allclose(w, [-8.0, -2.0 - 4.5, -2.0, -0.5, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(tunnel_profile(-s, **kw), w)  # symmetric
    # sagging (concave up) inside l_sag, hogging (convex) in the next l_hog
    fine = np.linspace(0, 140, 1401)
    curvature = np.gradient(np.gradient(tunnel_profile(fine, **kw), fine), fine)
    assert curvature[fine < 39].min() > 0
    assert curvature[(fine > 41) & (fine < 99)].max() < 0


def test_curved_tunnel_follows_its_arc_and_pulls_towards_the_axis():
    radius, d = 500.0, 7.0
    kw = dict(l_sag_m=40, l_hog_m=30, d_sag_mm=5, d_hog_mm=2, axis_depth_m=80)
    # a right turn from the origin heading north: the centre is 500 m east
    phi = np.linspace(0, 0.6, 7)
    on_x, on_y = radius * (1 - np.cos(phi)), radius * np.sin(phi)
    u = tunnel(on_x, on_y, bearing_deg=0, curvature_per_m=1 / radius, **kw)
    np.testing.assert_allclose(u.up, -d, atol=1e-9)
    np.testing.assert_allclose(np.hypot(u.east, u.north), 0, atol=1e-9)
    # 30 m outside the arc (away from the centre) the ground moves back towards it
    out_x, out_y = radius - (radius + 30) * np.cos(phi), (radius + 30) * np.sin(phi)
    u = tunnel(out_x, out_y, bearing_deg=0, curvature_per_m=1 / radius, **kw)
    towards_centre = np.stack([radius - out_x, -out_y]) / np.hypot(radius - out_x, out_y)
    horizontal = np.stack([u.east, u.north])
    assert (np.einsum("ij,ij->j", horizontal, towards_centre) > 0).all()
    profile = {k: v for k, v in kw.items() if k != "axis_depth_m"}
    np.testing.assert_allclose(u.up, tunnel_profile(30.0, **profile))
    # a left turn is the mirror image
    v = tunnel(-out_x, out_y, bearing_deg=0, curvature_per_m=-1 / radius, **kw)
    np.testing.assert_allclose(v.up, u.up)
    np.testing.assert_allclose(v.east, -u.east, atol=1e-12)


def test_straight_tunnel_with_along_track_modulation():
    kw = dict(l_sag_m=40, l_hog_m=30, d_sag_mm=5, d_hog_mm=2, axis_depth_m=80)
    along = np.linspace(0, 1000, 11)  # along the axis, bearing 90° = east
    u = tunnel(
        along,
        0 * along,
        bearing_deg=90,
        curvature_per_m=0,
        along_modulation=0.4,
        along_wavelength_m=1000,
        **kw,
    )
    factor = 1 - 0.4 * 0.5 * (1 + np.sin(2 * np.pi * along / 1000))
    np.testing.assert_allclose(u.up, -7 * factor)


# ---------------------------------------------------------------- line of sight


@pytest.mark.parametrize(
    ("geometry", "heading", "east_sign"), [("ascending", -10.0, -1), ("descending", 190.0, 1)]
)
@pytest.mark.parametrize("incidence", [30.0, 46.0])
def test_los_of_pure_up_and_pure_east(geometry, heading, east_sign, incidence):
    view = Viewing(geometry, incidence, heading)
    inc, h = math.radians(incidence), math.radians(heading)
    assert float(to_los(Displacement(0.0, 0.0, 1.0), view)) == pytest.approx(math.cos(inc))
    east = float(to_los(Displacement(1.0, 0.0, 0.0), view))
    assert east == pytest.approx(-math.sin(inc) * math.cos(h))
    assert np.sign(east) == east_sign  # a right-looking satellite sits west when ascending
    assert float(to_los(Displacement(0.0, 1.0, 0.0), view)) == pytest.approx(
        math.sin(inc) * math.sin(h)
    )
    assert np.linalg.norm(los_unit_vector(view)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "name", ["EGMS_L2b_117_0227_IW2_VV_2020_2024_1.csv", "EGMS_L2b_022_0845_IW2_VV_2020_2024_1.csv"]
)
def test_los_unit_vector_matches_egms_columns(name):
    cols = ["incidence_angle", "track_angle", "los_east", "los_north", "los_up"]
    df = pd.read_csv(real_path("egms_ustica", name), usecols=cols, nrows=500)
    geometry = "ascending" if df.track_angle.iloc[0] < 90 else "descending"
    for row in df.iloc[::50].itertuples():
        e, n, u = los_unit_vector(Viewing(geometry, row.incidence_angle, row.track_angle))
        # EGMS rounds its unit vectors to 3 decimals
        assert (e, n, u) == pytest.approx((row.los_east, row.los_north, row.los_up), abs=2e-3)


# ---------------------------------------------------------------- atmosphere


def _empirical_cov(fields: np.ndarray, lag: int) -> float:
    f = fields.astype(np.float64)
    if lag == 0:
        return float((f * f).mean())
    return float(
        0.5 * ((f[:, :, :-lag] * f[:, :, lag:]).mean() + (f[:, :-lag] * f[:, lag:]).mean())
    )


@pytest.mark.parametrize(("a", "b"), [(0.7, 1.6), (1.8, 0.8)])
def test_atmosphere_covariance_matches_the_model_and_the_cholesky_reference(a, b):
    """Tolerance: 12 % of a (the standard error of 300 small fields is ~5–8 % of a)."""
    rng = np.random.default_rng(42)
    shape, pixel = (20, 20), 50.0  # 1 km across: lags up to 0.5 km
    fft = np.stack(
        [
            turbulent_atmosphere(shape, a_mm2_yr2=a, b_per_km=b, pixel_size_m=pixel, rng=rng)
            for _ in range(300)
        ]
    )
    chol = np.stack(
        [
            atmosphere_cholesky(shape, a_mm2_yr2=a, b_per_km=b, pixel_size_m=pixel, rng=rng)
            for _ in range(300)
        ]
    )
    for lag in (0, 2, 5, 10):
        expected = float(exponential_covariance(lag * pixel / 1000, a_mm2_yr2=a, b_per_km=b))
        if lag == 0:
            expected = a  # the field alone; the nugget is added as spike noise
        assert _empirical_cov(fft, lag) == pytest.approx(expected, abs=0.12 * a), lag
        assert _empirical_cov(chol, lag) == pytest.approx(expected, abs=0.12 * a), lag


def test_exponential_covariance_has_the_nugget_at_zero_only():
    c = exponential_covariance([0.0, 1e-9, 2.0], a_mm2_yr2=1.2, b_per_km=1.0, nugget_mm2_yr2=0.8)
    np.testing.assert_allclose(c, [2.0, 1.2, 1.2 * math.exp(-2.0)], rtol=1e-6)


def test_nugget_noise_variance_and_pool():
    noise = nugget_noise(200_000, nugget_mm2_yr2=0.9, rng=1)
    assert noise.var() == pytest.approx(0.9, rel=0.03)
    assert noise.dtype == np.float32
    kurtosis = float(((noise - noise.mean()) ** 4).mean() / noise.var() ** 2)
    assert kurtosis > 5  # heavy-tailed spikes (Laplace: 6, Gaussian: 3)
    pool = np.array([np.nan, -3.0, 4.0], dtype=np.float32)
    assert set(nugget_noise(50, nugget_mm2_yr2=0.0, pool=pool, rng=0).tolist()) == {-3.0, 4.0}


# ---------------------------------------------------------------- samples


def test_positive_sample_is_observed_and_within_the_ranges():
    config = RunConfig()
    p = config.synthetic
    for seed in range(4):
        s = make_sample(seed, kind="point", label=1, rng=np.random.default_rng(seed))
        r = s.record
        assert r.label == 1 and r.source == "point"
        assert p.mogi_depth_m[0] <= r.depth_m <= p.mogi_depth_m[1]
        assert p.los_velocity_mm_yr[0] <= abs(r.los_peak_mm_yr) <= p.los_velocity_mm_yr[1] + 1e-9
        assert r.deforming_points >= p.positive_min_points
        assert 0 <= r.centre_row < 224 and 0 <= r.centre_col < 224
        for image in (s.sparse, s.delaunay, s.mc):
            assert image.shape == (224, 224) and image.dtype == np.float32
        assert np.isfinite(s.mc).all() and np.isfinite(s.delaunay).all()
        assert np.isnan(s.sparse).mean() == pytest.approx(1 - r.density, abs=1e-9)


def test_negative_sample_has_no_source_and_the_same_world_otherwise():
    neg = make_sample(0, kind="point", label=0, rng=np.random.default_rng(5))
    assert neg.record.source == "none" and neg.record.depth_m is None
    none = make_sample(0, kind="none", label=0, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(neg.mc, none.mc)


def test_tunnel_sample_records_its_parameters():
    s = make_sample(1, kind="tunnel", label=1, rng=np.random.default_rng(11))
    r = s.record
    p = RunConfig().synthetic
    assert r.source == "tunnel"
    assert p.tunnel_l_sag_m[0] <= r.l_sag_m <= p.tunnel_l_sag_m[1]
    assert r.d_hog_mm <= p.tunnel_d_hog_mm[1] and r.d_sag_mm <= p.tunnel_d_sag_mm[1]
    assert r.los_peak_mm_yr < 0  # tunnels settle


def test_deformation_shows_in_the_sample():
    """Above the source the interpolated map departs from its median in the source's sense."""
    pos = make_sample(0, kind="point", label=1, rng=np.random.default_rng(3))
    r = pos.record
    row, col = round(r.centre_row), round(r.centre_col)
    window = pos.delaunay[max(row - 3, 0) : row + 4, max(col - 3, 0) : col + 4]
    background = np.median(pos.delaunay)
    assert np.sign(window.mean() - background) == np.sign(r.los_peak_mm_yr)


def test_sample_is_a_pure_function_of_its_generator():
    a = make_sample(7, kind="tunnel", label=1, rng=np.random.default_rng(123))
    b = make_sample(7, kind="tunnel", label=1, rng=np.random.default_rng(123))
    np.testing.assert_array_equal(a.sparse, b.sparse)
    np.testing.assert_array_equal(a.mc, b.mc)
    assert a.record == b.record


def test_make_sample_rejects_bad_kind_and_label():
    with pytest.raises(ValueError, match="kind"):
        make_sample(0, kind="volcano", label=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="label"):
        make_sample(0, kind="none", label=1, rng=np.random.default_rng(0))
