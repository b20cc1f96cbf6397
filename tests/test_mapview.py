"""Map views, legends, scale bars (engine.mapview) and readable tables (engine.tables)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from engine import _regions
from engine.explore import colourise
from engine.mapview import (
    MAX_ZOOM,
    MOTION_COLOURS,
    PROBABILITY_RAMP,
    WORLD_PX,
    fit_view,
    heatmap_legend,
    level_legend,
    scale_bar,
    velocity_colours,
)
from engine.tables import MISSING, area_text, display_table, label

GEOD = Geod(ellps="WGS84")


def _pixels(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    """deck.gl's Web Mercator pixel of a place at a zoom (independent of fit_view)."""
    world = WORLD_PX * 2**zoom
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return (lon + 180) / 360 * world, (1 - y / math.pi) / 2 * world


@pytest.mark.parametrize(
    "bounds",
    [
        (-1.49, 53.00, -1.34, 53.09),  # the 10 km demo scene in England
        (13.05, 38.68, 13.25, 38.74),  # Ustica: wide and flat
        (-103.6, 31.0, -102.9, 31.9),  # West Texas: tall
        (0.0, 0.0, 0.001, 0.001),  # a single building: no closer than MAX_ZOOM
    ],
)
def test_fit_view_puts_the_data_inside_the_map_and_fills_it(bounds):
    width, height, fill = 760, 520, 0.9
    view = fit_view(bounds, width_px=width, height_px=height, fill=fill)
    cx, cy = _pixels(view.longitude, view.latitude, view.zoom)
    west, south, east, north = bounds
    x0, y0 = _pixels(west, north, view.zoom)
    x1, y1 = _pixels(east, south, view.zoom)
    # every corner on the map, and the limiting side filled to `fill` (the old heuristic
    # left a 10 km scene filling a third of the map)
    assert cx - width / 2 <= x0 < x1 <= cx + width / 2
    assert cy - height / 2 <= y0 < y1 <= cy + height / 2
    filled = max((x1 - x0) / width, (y1 - y0) / height)
    if view.zoom < MAX_ZOOM:
        assert filled == pytest.approx(fill, rel=1e-6)
    else:
        assert filled < fill
    assert (x0 + x1) / 2 == pytest.approx(cx, abs=1e-6)
    assert (y0 + y1) / 2 == pytest.approx(cy, abs=1e-6)


def test_fit_view_refuses_a_box_turned_inside_out():
    with pytest.raises(ValueError, match="west, south, east, north"):
        fit_view((1.0, 0.0, 0.0, 1.0))


SCENES = [(-1.49, 53.0, -1.34, 53.09), (13.05, 38.68, 13.25, 38.74), (-103.6, 31.0, -102.9, 31.9),
          (0.0, -0.05, 0.01, 0.05)]  # fmt: skip


@pytest.mark.parametrize("bounds", SCENES)
def test_scale_bar_is_as_long_as_it_says(bounds):
    bar = scale_bar(bounds)
    (x0, lat), (x1, _) = bar.path[1], bar.path[2]
    _, _, metres = GEOD.inv(x0, lat, x1, lat)
    assert metres == pytest.approx(bar.length_m, rel=0.005)  # a sphere, not the ellipsoid
    mantissa = bar.length_m / 10 ** math.floor(math.log10(bar.length_m))
    assert mantissa in (1, 2, 5)
    _, _, width = GEOD.inv(bounds[0], lat, bounds[2], lat)
    assert 0.1 * width < bar.length_m <= 0.25 * width  # visible, and inside the data
    assert bar.label == (f"{bar.length_m / 1000:g} km" if bar.length_m >= 1000
                         else f"{bar.length_m:g} m")  # fmt: skip


def test_legends_show_the_colours_the_map_draws():
    # the heatmap legend samples the very ramp the heatmap image is coloured with
    for entry, p in zip(heatmap_legend((0.5, 0.9)), (0.5, 0.9), strict=True):
        assert entry.rgba[:3] == tuple(int(c) for c in colourise(np.array([p]))[0, :3])
    # levels a rerun chose get their own, distinct colours, darker with the level
    colours = [e.rgba for e in level_legend((0.95, 0.6))]
    assert [e.label for e in level_legend((0.95, 0.6))] == ["P > 0.6", "P > 0.95"]
    assert colours[0] != colours[1]
    assert sum(colours[1][:3]) < sum(colours[0][:3])
    assert [s for s, _ in PROBABILITY_RAMP] == sorted(s for s, _ in PROBABILITY_RAMP)


def test_velocity_colours_follow_the_motion_colours():
    rgba = velocity_colours([-10.0, -2.5, 0.0, 2.5, 10.0, np.nan], 5.0)
    assert rgba[0, :3].tolist() == list(MOTION_COLOURS["subsidence"][:3])  # saturated
    assert rgba[4, :3].tolist() == list(MOTION_COLOURS["uplift"][:3])
    assert rgba[2, :3].tolist() == [247, 247, 247]
    # half-way is half-way between white and the motion colour
    half = (np.array([247, 247, 247]) + np.array(MOTION_COLOURS["subsidence"][:3])) / 2
    assert np.abs(rgba[1, :3] - half).max() <= 0.5
    assert (rgba[:, 3] < 128).all()  # faint: context, not the message


def test_every_site_column_has_words():
    for column in ("site_id", *_regions.STAT_COLUMNS):
        if column != "geometry":
            assert "_" not in label(column), column
    assert label("p60") == "Sites at P > 0.6"
    assert label("t4.5") == "Baseline sites at 4.5 mm/yr"
    assert label("some_new_rate_mm_yr") == "Some new rate (mm/yr)"


def test_display_table_has_no_missing_values_and_readable_areas():
    frame = pd.DataFrame({
        "site_id": ["p50-0001", "p50-0002", "p50-0003"],
        "motion": ["subsidence", "", None],
        "dv": [-3.21, np.nan, 1.0],
        "area_m2": [11_337_200.0, 2_500.0, 180_000.0],
        "n_points": [120, 4, 30],
        "single_geometry": [True, False, True],
    })  # fmt: skip
    table = display_table(frame)
    shown = table.frame
    assert list(shown.columns) == ["Site", "Motion", "Relative to surroundings (mm/yr)",
                                   "Area (ha)", "Points", "One pass only"]  # fmt: skip
    assert not shown.isna().any().any()
    cells = shown.astype(str).to_numpy().ravel().tolist()
    assert not {"nan", "None", "NaN", ""} & set(cells)
    assert shown["Motion"].tolist() == ["subsidence", MISSING, MISSING]
    assert shown["Relative to surroundings (mm/yr)"].tolist() == ["-3.2", MISSING, "+1.0"]
    assert shown["Area (ha)"].tolist() == pytest.approx([1133.72, 0.25, 18.0])
    assert table.formats["Area (ha)"] == "%.2f"
    assert shown["One pass only"].tolist() == ["yes", "no", "yes"]
    # the frame itself is untouched
    assert frame["area_m2"].iloc[0] == 11_337_200.0


@pytest.mark.parametrize(("m2", "text"), [(0.0, "0 m²"), (99.4, "99 m²"), (10_000.0, "1 ha"),
                                          (123_456.0, "12.3 ha"), (999_999.0, "100 ha"),
                                          (2_000_000.0, "2 km²"), (11_337_200.0, "11.3 km²"),
                                          (1.5e9, "1,500 km²")])  # fmt: skip
def test_area_text(m2, text):
    assert area_text(m2) == text
