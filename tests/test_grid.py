"""Tests of engine.grid: points → raster, CRS choice and tile layout."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pyproj import CRS

from engine.config import GridParams
from engine.grid import (
    _GB_POLYGON,
    choose_crs,
    core_slices,
    pixel_centres,
    rasterize_points,
    rasterize_tile,
    tile_transform,
    tiles_for_bounds,
)
from engine.types import Bbox, Tile

NAN = np.nan

# --- rasterize: hand-worked ---------------------------------------------------------------


def test_rasterize_hand_worked_3x3() -> None:
    # Raster west = 100, north = 230, 10 m pixels: x ∈ [100, 130), y ∈ [200, 230).
    # (105, 225) and (108, 221) → row 0, col 0 → mean (2 + 4)/2 = 3.
    # (125, 215) → row 1, col 2.   (111, 201) → row 2, col 1.
    # (131, 215) is east of the raster and (105, 230) on its northern edge: both dropped.
    # (115, 215) has a NaN value: dropped.
    x = [105.0, 108.0, 125.0, 111.0, 131.0, 105.0, 115.0]
    y = [225.0, 221.0, 215.0, 201.0, 215.0, 230.0, 215.0]
    v = np.array([2.0, 4.0, -1.5, 7.0, 99.0, 99.0, NAN], dtype=np.float32)
    r = rasterize_points(x, y, v, origin=(100.0, 230.0), shape=(3, 3), pixel_size_m=10.0)
    expected = np.array([[3.0, NAN, NAN], [NAN, NAN, -1.5], [NAN, 7.0, NAN]], dtype=np.float32)
    np.testing.assert_array_equal(r.velocity, expected)
    np.testing.assert_array_equal(r.count, [[2, 0, 0], [0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(r.mask, ~np.isnan(expected))
    assert r.velocity.dtype == np.float32 and r.count.dtype == np.int32 and r.mask.dtype == bool


def test_rasterize_pixel_edges_are_half_open() -> None:
    # Raster x ∈ [0, 20), y ∈ [0, 20); row 0 is y ∈ [10, 20), col 1 is x ∈ [10, 20).
    # A point on a pixel edge belongs to the pixel east / north of it (like tiles), so the
    # west and south edges are in, the east (x = 20) and north (y = 20) edges are out.
    x = [10.0, 0.0, 0.0, 20.0, 5.0]
    y = [15.0, 10.0, 0.0, 5.0, 20.0]
    r = rasterize_points(x, y, [1.0] * 5, origin=(0.0, 20.0), shape=(2, 2), pixel_size_m=10.0)
    np.testing.assert_array_equal(r.count, [[1, 1], [1, 0]])


def test_rasterize_tile_places_overlap_and_core() -> None:
    t = Tile(ix=2, iy=-1, size_px=4, overlap_px=2, pixel_size_m=5.0)  # core x 40..60, y −20..0
    x, y = pixel_centres(t)
    assert t.shape == (8, 8) and x.size == 8 and y.size == 8
    r = rasterize_tile([x[0], x[5], 60.0], [y[0], y[3], -20.0], [1.0, 2.0, 3.0], t)
    assert r.count[0, 0] == 1 and r.count[3, 5] == 1
    core = r.count[core_slices(t)]
    assert core.shape == (4, 4) and core.sum() == 1  # (60, −20) lies in the eastern overlap
    assert r.count.sum() == 3


def test_rasterize_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="1-D of one length"):
        rasterize_points([1.0, 2.0], [1.0], [1.0, 2.0], origin=(0, 0), shape=(2, 2), pixel_size_m=1)
    with pytest.raises(ValueError, match="shape"):
        rasterize_points([1.0], [1.0], [1.0], origin=(0, 0), shape=(0, 2), pixel_size_m=1)
    with pytest.raises(ValueError, match="pixel_size_m"):
        rasterize_points([1.0], [1.0], [1.0], origin=(0, 0), shape=(2, 2), pixel_size_m=0)
    with pytest.raises(ValueError, match="real numbers"):
        rasterize_points([1.0], [1.0], ["a"], origin=(0, 0), shape=(2, 2), pixel_size_m=1)


# --- rasterize: invariants ----------------------------------------------------------------

_coord = st.floats(-20, 80, allow_subnormal=False)
_coords = hnp.arrays(np.float64, st.integers(0, 200), elements=_coord)


@st.composite
def _points(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = draw(_coords)
    y = draw(hnp.arrays(np.float64, x.shape, elements=_coord))
    v = draw(
        hnp.arrays(
            np.float32, x.shape, elements=st.floats(-1e4, 1e4, width=32, allow_subnormal=False)
        )
    )
    return x, y, v


@settings(max_examples=100, deadline=None)
@given(_points(), st.sampled_from([1.0, 2.5, 10.0]))
def test_rasterize_keeps_points_and_bounds_means(points, px) -> None:
    x, y, v = points
    rows, cols = int(50 / px), int(60 / px)
    r = rasterize_points(x, y, v, origin=(0.0, 50.0), shape=(rows, cols), pixel_size_m=px)
    inside = (x >= 0) & (x < cols * px) & (y >= 50 - rows * px) & (y < 50)
    # Every point inside is counted once (points within 1e-9 m of an edge may go either way).
    near_edge = np.isclose(y, 50 - rows * px, atol=1e-9) | np.isclose(y, 50, atol=1e-9)
    near_edge |= np.isclose(x, 0, atol=1e-9) | np.isclose(x, cols * px, atol=1e-9)
    assert abs(int(r.count.sum()) - int(inside.sum())) <= near_edge.sum()
    np.testing.assert_array_equal(r.mask, r.count > 0)
    assert np.all(np.isnan(r.velocity) == ~r.mask)
    # Each pixel's mean lies between the min and max of its points.
    col = np.floor(x / px).astype(int)
    row = np.ceil((50 - y) / px).astype(int) - 1
    for i, j in zip(*np.nonzero(r.mask), strict=True):
        vals = v[(row == i) & (col == j)]
        if vals.size == r.count[i, j]:  # skip pixels an edge point made ambiguous
            assert vals.min() <= r.velocity[i, j] <= vals.max()


# --- choose_crs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "lon", "lat", "expected"),
    [
        ("London", -0.1276, 51.5072, "EPSG:27700"),
        ("Edinburgh", -3.1883, 55.9533, "EPSG:27700"),
        ("Shetland", -1.30, 60.40, "EPSG:27700"),
        ("Anglesey", -4.45, 53.30, "EPSG:27700"),
        ("Dover", 1.31, 51.13, "EPSG:27700"),
        ("Ustica", 13.17, 38.70, "EPSG:32633"),
        ("West Texas", -102.65, 31.40, "EPSG:32613"),
        ("Dublin", -6.2603, 53.3498, "EPSG:32629"),
        ("Belfast", -5.93, 54.60, "EPSG:32630"),
        ("Calais", 1.85, 50.95, "EPSG:32631"),
        ("Bergen (Norway 32V)", 5.32, 60.39, "EPSG:32632"),
        ("Longyearbyen (Svalbard 33X)", 15.60, 78.22, "EPSG:32633"),
        ("Sydney", 151.21, -33.87, "EPSG:32756"),
    ],
)
def test_choose_crs(place: str, lon: float, lat: float, expected: str) -> None:
    assert choose_crs(lon, lat) == expected, place


def test_choose_crs_uses_the_centroid_of_arrays() -> None:
    lon = np.array([-0.2, -0.1, np.nan, 0.0])
    lat = np.array([51.4, 51.5, 51.6, np.nan])
    assert choose_crs(lon, lat) == "EPSG:27700"
    assert choose_crs(np.array([179.9, -179.9]), np.array([10.0, 10.0])) in (
        "EPSG:32601",
        "EPSG:32660",
    )


def test_gb_polygon_lies_in_the_bng_area_of_use() -> None:
    area = CRS("EPSG:27700").area_of_use
    assert area is not None
    assert _GB_POLYGON[:, 0].min() >= area.west and _GB_POLYGON[:, 0].max() <= area.east
    assert _GB_POLYGON[:, 1].min() >= area.south and _GB_POLYGON[:, 1].max() <= area.north


def test_choose_crs_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="same size"):
        choose_crs([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no finite"):
        choose_crs([np.nan], [np.nan])
    with pytest.raises(ValueError, match=r"lat in \[-90, 90\]"):
        choose_crs(10.0, 95.0)


# --- tiles --------------------------------------------------------------------------------

P = GridParams(pixel_size_m=10.0, tile_size_px=100, tile_overlap_px=8)  # 1 km tiles


def test_tiles_for_bounds_inside_one_tile() -> None:
    tiles = tiles_for_bounds(Bbox(1100.0, 2100.0, 1900.0, 2900.0), params=P)
    assert tiles == [Tile(1, 2, 100, 8, 10.0)]


def test_tiles_for_bounds_spanning_a_boundary() -> None:
    tiles = tiles_for_bounds(Bbox(1900.0, 2100.0, 2100.0, 2900.0), params=P)
    assert [(t.ix, t.iy) for t in tiles] == [(1, 2), (2, 2)]


def test_tiles_for_bounds_grid_and_negative_coordinates() -> None:
    tiles = tiles_for_bounds((-1500.0, -500.0, 500.0, 1500.0), params=P)
    assert [(t.ix, t.iy) for t in tiles] == [
        (-2, -1), (-1, -1), (0, -1),
        (-2, 0), (-1, 0), (0, 0),
        (-2, 1), (-1, 1), (0, 1),
    ]  # fmt: skip


def test_tiles_for_bounds_edge_takes_the_next_tile() -> None:
    # Cores are half-open: x = 2000 belongs to tile 2, as Tile.index_of says.
    tiles = tiles_for_bounds((1500.0, 2500.0, 2000.0, 2600.0), params=P)
    assert [t.ix for t in tiles] == [1, 2]
    assert Tile.index_of(2000.0, 2500.0, 1000.0) == (2, 2)


def test_tiles_for_bounds_rejects_bad_bbox() -> None:
    with pytest.raises(ValueError, match="min <= max"):
        tiles_for_bounds((10.0, 0.0, 0.0, 10.0), params=P)
    with pytest.raises(ValueError, match="finite"):
        tiles_for_bounds((0.0, 0.0, np.inf, 10.0), params=P)


def test_tiles_for_bounds_default_params() -> None:
    tiles = tiles_for_bounds((530_000.0, 180_000.0, 531_000.0, 181_000.0))
    assert len(tiles) == 1 and tiles[0].size_m == 25_000.0 and tiles[0].shape == (3000, 3000)


def test_tile_transform_is_consistent_with_tile() -> None:
    t = Tile(ix=3, iy=-4, size_px=100, overlap_px=8, pixel_size_m=10.0)
    b = t.bounds
    tr = tile_transform(t)
    assert tr @ (0.5, 0.5) == (b.minx + 5.0, b.maxy - 5.0)  # centre of pixel (0, 0)
    assert tr @ (0, 0) == (b.minx, b.maxy)
    rows, cols = t.shape
    assert tr @ (cols, rows) == (b.maxx, b.miny)
    assert b.minx % t.pixel_size_m == 0 and b.maxy % t.pixel_size_m == 0
    x, y = pixel_centres(t)
    assert (x[0], y[0]) == tr @ (0.5, 0.5) and (x[-1], y[-1]) == tr @ (cols - 0.5, rows - 0.5)
    core_rows, core_cols = core_slices(t)
    assert tr @ (core_cols.start, core_rows.start) == (t.core_bounds.minx, t.core_bounds.maxy)


def test_rasterize_tile_agrees_with_its_transform() -> None:
    # A point at each pixel centre (from the transform) lands in that pixel.
    t = Tile(ix=-1, iy=0, size_px=6, overlap_px=2, pixel_size_m=2.5)
    rows, cols = np.indices(t.shape)
    x, y = tile_transform(t) @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
    v = np.arange(x.size, dtype=np.float32)
    r = rasterize_tile(x, y, v, t)
    np.testing.assert_array_equal(r.velocity, v.reshape(t.shape))
