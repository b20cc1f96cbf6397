"""engine.ingest._project: the lattice interpolation against PROJ on every point."""

from __future__ import annotations

import numpy as np
import pytest

from engine.ingest._project import project, project_by_lattice, project_exact

BNG = "EPSG:27700"
WGS84 = "EPSG:4326"
MM = 1e-3


def _towns(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points clustered around towns over Great Britain, as in bench/ingest.py."""
    rng = np.random.default_rng(seed)
    towns = np.column_stack([rng.uniform(-4.5, 1.3, 2000), rng.uniform(50.5, 55.8, 2000)])
    t = towns[rng.integers(0, len(towns), n)]
    lon = np.round(t[:, 0] + rng.normal(0, 0.03, n), 6)
    lat = np.round(t[:, 1] + rng.normal(0, 0.02, n), 6)
    return lon, lat


def _error_m(src: str, dst: str, a: np.ndarray, b: np.ndarray, *, fast: bool = True) -> float:
    """Largest distance in metres between lattice (or project()) and PROJ results."""
    got = project_by_lattice(src, dst, a, b) if fast else project(src, dst, a, b)
    assert got is not None, "lattice refused"
    want = project_exact(src, dst, a, b)
    finite = np.isfinite(want[0]) & np.isfinite(want[1])
    for g in got:
        np.testing.assert_array_equal(np.isfinite(g), finite)
    dx, dy = (np.abs(g[finite] - w[finite]) for g, w in zip(got, want, strict=True))
    if dst == WGS84:  # degrees → metres (at most 111.7 km a degree)
        dx, dy = dx * 111_700, dy * 111_700
    return float(max(dx.max(initial=0), dy.max(initial=0)))


def test_bench_points_within_a_millimetre() -> None:
    lon, lat = _towns(300_000)
    assert _error_m(WGS84, BNG, lon, lat) <= 1 * MM


def test_random_points_across_the_uk() -> None:
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(-8.7, 1.9, 200_000), rng.uniform(49.8, 60.9, 200_000)
    assert _error_m(WGS84, BNG, lon, lat) <= 1 * MM


def test_batch_past_the_datum_shifts_area_of_use() -> None:
    """Beyond 8.82°W–1.92°E PROJ switches to a 'ballpark' shift: cells across it use PROJ."""
    rng = np.random.default_rng(2)
    lon, lat = rng.uniform(-12.0, 4.0, 200_000), rng.uniform(48.0, 62.0, 200_000)
    assert _error_m(WGS84, BNG, lon, lat) <= 1 * MM
    lon = np.concatenate([lon, [1.76, 1.919, 1.921, 1.93]])  # Lowestoft, the edge itself
    lat = np.concatenate([lat, [52.48, 52.0, 52.0, 52.0]])
    assert _error_m(WGS84, BNG, lon, lat) <= 1 * MM


def test_batch_spanning_a_continent_and_the_world() -> None:
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-10.0, 30.0, 100_000), rng.uniform(35.0, 70.0, 100_000)
    assert _error_m(WGS84, "EPSG:3035", lon, lat) <= 1 * MM
    lon, lat = rng.uniform(-180.0, 180.0, 100_000), rng.uniform(-90.0, 90.0, 100_000)
    assert _error_m(WGS84, BNG, lon, lat, fast=False) <= 1 * MM
    assert _error_m(WGS84, "EPSG:32630", lon, lat, fast=False) <= 1 * MM


def test_points_on_and_beside_lattice_nodes() -> None:
    """Steps are powers of two: put points on node lines, a hair either side and at the box."""
    lon, lat = _towns(100_000, seed=4)
    nodes = np.arange(-4.75, 1.5, 0.0625)
    for k, offset in enumerate((0.0, 1e-12, -1e-12, 0.5e-9)):
        lon[k::8][: len(nodes)] = nodes + offset
    lon[-1], lat[-1] = lon.max(), lat.max()
    lon[-2], lat[-2] = lon.min(), lat.min()
    assert _error_m(WGS84, BNG, lon, lat) <= 1 * MM


def test_inverse_from_grid_and_utm() -> None:
    lon, lat = _towns(200_000, seed=5)
    e, n = project_exact(WGS84, BNG, lon, lat)
    assert _error_m(BNG, WGS84, e, n) <= 1 * MM
    rng = np.random.default_rng(6)
    lon, lat = rng.uniform(12.0, 18.0, 100_000), rng.uniform(36.0, 47.0, 100_000)
    assert _error_m(WGS84, "EPSG:32633", lon, lat) <= 1 * MM


@pytest.mark.parametrize(
    "lon, lat",
    [
        (np.full(5000, -1.5), np.full(5000, 52.0)),  # one place: nothing to interpolate
        (np.linspace(-1.5, -1.4, 50), np.linspace(52.0, 52.1, 50)),  # too few to repay
        (np.array([-1.5, np.nan] * 50_000), np.full(100_000, 52.0)),  # not finite
        (np.array([], dtype=float), np.array([], dtype=float)),
    ],
)
def test_refused_where_it_cannot_pay_or_apply(lon: np.ndarray, lat: np.ndarray) -> None:
    assert project_by_lattice(WGS84, BNG, lon, lat) is None
    x, y = project(WGS84, BNG, lon, lat)
    want = project_exact(WGS84, BNG, lon, lat)
    np.testing.assert_array_equal(x, want[0])
    np.testing.assert_array_equal(y, want[1])
