"""Tests of engine.timeseries: weighted least-squares velocity (004 eq. 3–4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.config import TimeseriesParams
from engine.timeseries import VelocityFit, fit_velocity, parse_date_columns

EGMS_DIR = (Path(__file__).parents[1] / "../shared/data/real/egms_ustica").resolve()
EGMS_BURSTS = [
    "EGMS_L2b_022_0845_IW2_VV_2020_2024_1.csv",  # descending; measured median |diff| 0.0507
    "EGMS_L2b_117_0227_IW2_VV_2020_2024_1.csv",  # ascending;  measured median |diff| 0.0589
]

# 1461 days = 4 Julian years, so these dates are exactly t = 0, 4, 8, 12 yr.
HAND_DATES = np.array(["2000-01-01", "2004-01-01", "2008-01-01", "2012-01-01"], "datetime64[D]")
HAND_D = np.array([[1.0, 3.0, 9.0, 11.0]])


def _dates(n: int, *, step_days: int = 6, start: str = "2020-01-03") -> np.ndarray:
    return np.datetime64(start, "D") + np.arange(n) * step_days


def assert_fit_close(a: VelocityFit, b: VelocityFit, *, atol: float = 1e-5) -> None:
    """Two fits agree: same epoch counts, and values equal within ``atol`` (NaN where NaN)."""
    np.testing.assert_array_equal(a.n_epochs, b.n_epochs)
    for name in ("velocity", "velocity_std", "intercept"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=atol, err_msg=name)


# --- 1. hand-worked -----------------------------------------------------------------------


def test_hand_worked_case() -> None:
    # t = 0, 4, 8, 12 yr; d = 1, 3, 9, 11 mm.  t̄ = 6, d̄ = 6.
    # Σ(t−t̄)² = 36+4+4+36 = 80;  Σ(t−t̄)(d−d̄) = 30+6+6+30 = 72  →  v = 72/80 = 0.9 mm/yr.
    # Intercept at t = 0: d̄ − v·t̄ = 6 − 5.4 = 0.6 mm.
    # Fitted 0.6, 4.2, 7.8, 11.4 → residuals 0.4, −1.2, 1.2, −0.4 → Σr² = 3.2.
    # σ̂₀² = 3.2/(4−2) = 1.6;  (N⁻¹)_vv = 1/80  →  σ_v = √(1.6/80) = √0.02.
    fit = fit_velocity(HAND_D, HAND_DATES)
    np.testing.assert_allclose(fit.velocity, [0.9], rtol=1e-6)
    np.testing.assert_allclose(fit.intercept, [0.6], rtol=1e-6)
    np.testing.assert_allclose(fit.velocity_std, [np.sqrt(0.02)], rtol=1e-6)
    np.testing.assert_array_equal(fit.n_epochs, [4])
    assert fit.velocity.dtype == np.float32 and fit.n_epochs.dtype == np.int32


def test_hand_worked_weights_a_priori_and_a_posteriori() -> None:
    # Uniform weights w = 2: N = 2·[[4, 24], [24, 224]], (N⁻¹)_vv = 1/(2·80) = 1/160.
    # A-priori σ_v = √(1/160); a-posteriori σ̂₀² = 2·3.2/2 = 3.2, σ_v² = 3.2/160 = 0.02 (unchanged).
    w = np.full(4, 2.0)
    post = fit_velocity(HAND_D, HAND_DATES, weights=w)
    prior = fit_velocity(
        HAND_D, HAND_DATES, weights=w, params=TimeseriesParams(scale_by_residuals=False)
    )
    np.testing.assert_allclose(post.velocity_std, [np.sqrt(0.02)], rtol=1e-6)
    np.testing.assert_allclose(prior.velocity_std, [np.sqrt(1 / 160)], rtol=1e-6)
    np.testing.assert_allclose(prior.velocity, [0.9], rtol=1e-6)


def test_matches_dense_weighted_least_squares() -> None:
    # Per-point (TᵀPT)⁻¹TᵀPd solved densely, with missing epochs and per-point weights.
    rng = np.random.default_rng(7)
    n, m = 50, 25
    dates = np.datetime64("2019-03-01") + np.cumsum(rng.integers(1, 30, m))
    t = (dates - dates[0]).astype(float) / 365.25
    d = rng.normal(0, 3, (n, m)) + rng.normal(0, 10, (n, 1)) * t + 50
    d[rng.random((n, m)) < 0.3] = np.nan
    w = rng.uniform(0.1, 2.0, (n, m))
    fit = fit_velocity(d, dates, weights=w)
    for i in range(n):
        ok = np.isfinite(d[i])
        tt = np.column_stack([np.ones(ok.sum()), t[ok]])
        p = np.diag(w[i, ok])
        nmat = tt.T @ p @ tt
        a, v = np.linalg.solve(nmat, tt.T @ p @ d[i, ok])
        r = d[i, ok] - tt @ [a, v]
        std = np.sqrt(np.linalg.inv(nmat)[1, 1] * (r @ p @ r) / (ok.sum() - 2))
        np.testing.assert_allclose(
            [fit.velocity[i], fit.intercept[i], fit.velocity_std[i]], [v, a, std], rtol=1e-5
        )


# --- 2. recovery --------------------------------------------------------------------------


def test_recovery_of_linear_trends() -> None:
    # 200 k points, 61 dates 12 days apart (2 yr), v ~ U(−20, 20) mm/yr, noise σ = 2 mm.
    # Theory: σ_v = σ / √Σ(t−t̄)² ≈ 0.20 mm/yr. Tolerances: bias < 4 σ_v/√n; the rms error
    # within 3 % of σ_v; the reported std within 10 % of the empirical scatter.
    rng = np.random.default_rng(42)
    n, m, sigma = 200_000, 61, 2.0
    dates = _dates(m, step_days=12)
    t = (dates - dates[0]).astype(float) / 365.25
    v_true = rng.uniform(-20, 20, n)
    a_true = rng.uniform(-5, 5, n)
    d = (a_true[:, None] + v_true[:, None] * t + rng.normal(0, sigma, (n, m))).astype(np.float32)
    fit = fit_velocity(d, dates)
    err = fit.velocity - v_true
    sigma_v = sigma / np.sqrt(np.sum((t - t.mean()) ** 2))
    rms = np.sqrt(np.mean(err**2))
    assert abs(err.mean()) < 4 * sigma_v / np.sqrt(n)
    assert abs(rms / sigma_v - 1) < 0.03
    assert abs(np.mean(fit.velocity_std) / rms - 1) < 0.10
    assert np.all(fit.n_epochs == m)


def test_recovery_with_missing_epochs_std_is_calibrated() -> None:
    # 30 % of epochs missing at random: each point has its own σ_v; the normalised errors
    # (v − v_true)/σ_v must have unit scatter (Student-t, ≥ 8 dof here) within 10 %.
    rng = np.random.default_rng(3)
    n, m = 200_000, 30
    dates = _dates(m, step_days=24)
    t = (dates - dates[0]).astype(float) / 365.25
    v_true = rng.normal(0, 5, n)
    d = v_true[:, None] * t + rng.normal(0, 1.5, (n, m))
    d[rng.random((n, m)) < 0.3] = np.nan
    fit = fit_velocity(d.astype(np.float32), dates)
    ok = np.isfinite(fit.velocity)
    assert ok.mean() > 0.99
    z = (fit.velocity[ok] - v_true[ok]) / fit.velocity_std[ok]
    assert abs(np.std(z) - 1) < 0.10


# --- 3. missing epochs and weights --------------------------------------------------------


def test_missing_epochs_equal_fit_on_valid_epochs() -> None:
    rng = np.random.default_rng(0)
    dates = _dates(12)
    d = rng.normal(0, 2, (1, 12)) + 3.0 * np.arange(12) / 60
    keep = np.ones(12, bool)
    keep[[1, 4, 5, 9]] = False
    holed = np.where(keep, d, np.nan)
    assert_fit_close(fit_velocity(holed, dates), fit_velocity(d[:, keep], dates[keep]))


def test_zero_weight_epoch_is_ignored() -> None:
    rng = np.random.default_rng(1)
    dates = _dates(10)
    d = rng.normal(0, 2, (3, 10))
    d[:, 6] = 1e6  # an outlier that must have no influence
    w = rng.uniform(0.5, 2.0, 10)
    w[6] = 0.0
    keep = w > 0
    expected = fit_velocity(d[:, keep], dates[keep], weights=w[keep])
    assert_fit_close(fit_velocity(d, dates, weights=w), expected, atol=1e-4)
    w2 = np.tile(w, (3, 1))
    assert_fit_close(fit_velocity(d, dates, weights=w2), expected, atol=1e-4)


def test_too_few_epochs_give_nan() -> None:
    d = np.array([[1.0, np.nan, np.nan, 2.0], [1.0, 2.0, np.nan, 4.0]])
    fit = fit_velocity(d, HAND_DATES, params=TimeseriesParams(min_epochs=3))
    assert np.isnan(fit.velocity[0]) and np.isnan(fit.velocity_std[0])
    assert np.isnan(fit.intercept[0])
    assert np.isfinite(fit.velocity[1])
    np.testing.assert_array_equal(fit.n_epochs, [2, 3])


def test_many_blocks_equal_one_block() -> None:
    # More rows than one internal block, with a ragged last block.
    rng = np.random.default_rng(5)
    d = rng.normal(size=(1000, 300)).astype(np.float32)
    d[rng.random(d.shape) < 0.1] = np.nan
    dates = _dates(300)
    full = fit_velocity(d, dates)
    part = fit_velocity(d[777:778], dates)
    assert_fit_close(VelocityFit(*(f[777:778] for f in full)), part, atol=0)


@pytest.mark.parametrize(
    ("displacements", "dates", "weights", "match"),
    [
        (np.zeros(4), HAND_DATES, None, "2-D"),
        (np.zeros((2, 3)), HAND_DATES, None, "one per displacement column"),
        (np.zeros((2, 1)), HAND_DATES[:1], None, "at least 2 dates"),
        (np.zeros((2, 4)), HAND_DATES[::-1], None, "strictly increasing"),
        (np.zeros((2, 4)), HAND_DATES[[0, 1, 1, 2]], None, "strictly increasing"),
        (np.zeros((2, 4), dtype=complex), HAND_DATES, None, "real numeric"),
        (np.zeros((2, 4)), ["2020-01-01", "x", "2020-01-03", "2020-01-04"], None, "dates must"),
        (np.zeros((2, 4)), HAND_DATES, np.ones(3), "weights must have shape"),
        (np.zeros((2, 4)), HAND_DATES, -np.ones(4), "finite and >= 0"),
        (np.zeros((2, 4)), HAND_DATES, np.full(4, np.nan), "finite and >= 0"),
    ],
)
def test_invalid_input_raises(displacements, dates, weights, match) -> None:
    with pytest.raises(ValueError, match=match):
        fit_velocity(displacements, dates, weights=weights)


# --- 4. invariants ------------------------------------------------------------------------


@st.composite
def _series(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    m = draw(st.integers(3, 15))
    steps = draw(st.lists(st.integers(1, 8), min_size=m - 1, max_size=m - 1))
    dates = np.datetime64("2020-01-01") + 6 * np.concatenate([[0], np.cumsum(steps)])
    values = st.floats(-200, 200, allow_nan=False, allow_subnormal=False)
    d = draw(hnp.arrays(np.float64, (4, m), elements=values))
    return d, dates


@settings(max_examples=60, deadline=None)
@given(_series(), st.floats(-1e4, 1e4, allow_subnormal=False))
def test_adding_a_constant_changes_only_the_intercept(series, c) -> None:
    d, dates = series
    a, b = fit_velocity(d, dates), fit_velocity(d + c, dates)
    scale = np.abs(d).max() * 365.25 / 6 + 1  # bound on |v| and σ_v for 6-day spacing
    np.testing.assert_allclose(b.velocity, a.velocity, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(b.velocity_std, a.velocity_std, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(b.intercept, a.intercept + c, rtol=1e-5, atol=1e-3)


@settings(max_examples=60, deadline=None)
@given(_series(), st.floats(-100, 100, allow_subnormal=False))
def test_scaling_scales_velocity_error_and_intercept(series, k) -> None:
    d, dates = series
    a, b = fit_velocity(d, dates), fit_velocity(k * d, dates)
    scale = (np.abs(d).max() * 365.25 / 6 + 1) * max(abs(k), 1)
    np.testing.assert_allclose(b.velocity, k * a.velocity, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(
        b.velocity_std, abs(k) * a.velocity_std, rtol=1e-4, atol=1e-5 * scale
    )
    np.testing.assert_allclose(b.intercept, k * a.intercept, rtol=1e-5, atol=1e-5 * scale)


# --- parse_date_columns -------------------------------------------------------------------


def test_parse_date_columns_recognises_egms_names() -> None:
    names = ["pid", "mean_velocity", "20200103", "D20200109", "d20200115", "2020011", "x20200121"]
    assert parse_date_columns(names) == {
        "20200103": np.datetime64("2020-01-03"),
        "D20200109": np.datetime64("2020-01-09"),
        "d20200115": np.datetime64("2020-01-15"),
    }
    assert parse_date_columns(["pid", "height"]) == {}


@pytest.mark.parametrize("bad", ["20201340", "20200230", "20210229", "00000101", "D20201301"])
def test_parse_date_columns_refuses_impossible_dates(bad: str) -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_date_columns(["pid", "20200103", bad])


def test_parse_date_columns_refuses_duplicate_dates() -> None:
    with pytest.raises(ValueError, match="same date"):
        parse_date_columns(["20200103", "D20200103"])


# --- 5. regression against EGMS L2b -------------------------------------------------------


@pytest.mark.parametrize("name", EGMS_BURSTS)
def test_egms_mean_velocity_is_recovered(name: str, record_property) -> None:
    # EGMS mean_velocity (rounded to 0.1 mm/yr) vs our unweighted fit of the same series.
    # Measured: 022 desc median |diff| 0.0507 mm/yr, 117 asc 0.0589 mm/yr (11.6 k points each).
    if not EGMS_DIR.is_dir():
        pytest.skip(f"EGMS Ustica data not found at {EGMS_DIR}")
    pacsv = pytest.importorskip("pyarrow.csv")
    table = pacsv.read_csv(EGMS_DIR / name)
    columns = parse_date_columns(table.column_names)
    assert len(columns) > 200
    d = np.column_stack([table[c].to_numpy() for c in columns]).astype(np.float32)
    fit = fit_velocity(d, list(columns.values()))
    diff = np.abs(fit.velocity - table["mean_velocity"].to_numpy())
    median = float(np.median(diff))
    record_property("median_abs_diff_mm_yr", median)
    print(f"{name}: median |v_fit − mean_velocity| = {median:.4f} mm/yr over {diff.size} points")
    assert np.all(np.isfinite(fit.velocity))
    assert median <= 0.1
