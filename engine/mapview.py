"""What a dashboard map needs besides its data: the view that fits it, legends, a scale bar.

Computed here so that pages only draw (STYLE §5). Nothing in this module knows Streamlit
or pydeck: it returns numbers, colours and labels.

* :func:`fit_view` — centre and zoom at which ``(west, south, east, north)`` fills a map of
  a given size in deck.gl's Web Mercator (512 px world at zoom 0).
* :data:`PROBABILITY_RAMP` and :func:`probability_colours` — the heatmap's colours, shared
  with :func:`engine.explore.colourise`; :func:`heatmap_legend` and :func:`level_legend`
  — the legends of the heatmap and of sites coloured by level, for any levels a run used.
* :data:`MOTION_COLOURS` / :func:`motion_legend` — sites coloured by uplift/subsidence.
* :func:`velocity_colours` / :func:`velocity_legend` — the faint background layer of points.
* :func:`scale_bar` — a bar of a round length drawn in map coordinates, so it stays true at
  every zoom.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MOTION_COLOURS",
    "PROBABILITY_RAMP",
    "LegendEntry",
    "MapView",
    "ScaleBar",
    "fit_view",
    "heatmap_legend",
    "level_legend",
    "motion_legend",
    "probability_colours",
    "scale_bar",
    "velocity_colours",
    "velocity_legend",
]

WORLD_PX = 512.0  # deck.gl's Web Mercator world at zoom 0
EARTH_RADIUS_M = 6_371_008.8  # mean radius: a scale bar is good to ~0.3 % (ellipsoid)
MAX_ZOOM = 18.0

# probability 0 → 1: transparent below 0.3, then yellow → orange → dark red
PROBABILITY_RAMP: tuple[tuple[float, tuple[int, int, int, int]], ...] = (
    (0.0, (255, 255, 204, 0)),
    (0.3, (255, 255, 178, 0)),
    (0.5, (254, 204, 92, 150)),
    (0.75, (253, 141, 60, 190)),
    (0.9, (240, 59, 32, 220)),
    (1.0, (189, 0, 38, 240)),
)
# subsidence blue, uplift red (LOS positive = towards the satellite = uplift); no points grey
MOTION_COLOURS: dict[str, tuple[int, int, int, int]] = {
    "subsidence": (44, 123, 182, 200),
    "uplift": (202, 0, 32, 200),
    "": (128, 128, 128, 160),
}
_MOTION_WORDS = {
    "subsidence": "subsidence (moving away from the satellite)",
    "uplift": "uplift (moving towards the satellite)",
    "": "no measured points",
}
_FAINT_ALPHA = 110  # background points: context, not the message


class LegendEntry(NamedTuple):
    """One swatch of a legend."""

    label: str
    rgba: tuple[int, int, int, int]


class MapView(NamedTuple):
    """The initial view of a map (deck.gl ``initialViewState``)."""

    longitude: float
    latitude: float
    zoom: float


class ScaleBar(NamedTuple):
    """A horizontal bar of ``length_m`` with its label, in lon/lat."""

    path: list[list[float]]
    """``[[lon, lat], …]``: the bar with end ticks, drawn as one line."""
    label: str
    label_position: list[float]
    """``[lon, lat]`` just above the bar's middle."""
    length_m: float


def _mercator_y(lat: float) -> float:
    """Web Mercator y in [0, 1] (0 at the north edge), as deck.gl projects it."""
    phi = math.radians(max(-85.05, min(85.05, lat)))
    return (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0


def _latitude(y: float) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y))))


def fit_view(
    bounds_lonlat: Sequence[float],
    *,
    width_px: float = 700.0,
    height_px: float = 500.0,
    fill: float = 0.9,
) -> MapView:
    """The centre and zoom at which ``bounds_lonlat`` fills ``fill`` of a map's limiting side.

    Examples
    --------
    A 1° box on the equator in a 512 px square fills it whole at zoom log2(360) ≈ 8.49:

    >>> v = fit_view((0, -0.5, 1, 0.5), width_px=512, height_px=512, fill=1.0)
    >>> round(v.longitude, 6), round(v.latitude, 6), round(v.zoom, 2)
    (0.5, 0.0, 8.49)
    """
    west, south, east, north = (float(b) for b in bounds_lonlat)
    if not (east >= west and north >= south):
        raise ValueError(f"bounds must be (west, south, east, north), got {bounds_lonlat}")
    if not 0 < fill <= 1:
        raise ValueError(f"fill must be in (0, 1], got {fill}")
    y_north, y_south = _mercator_y(north), _mercator_y(south)
    dx = max((east - west) / 360.0, 1e-9)
    dy = max(y_south - y_north, 1e-9)
    zoom = min(
        math.log2(fill * width_px / (WORLD_PX * dx)),
        math.log2(fill * height_px / (WORLD_PX * dy)),
    )
    return MapView(
        longitude=(west + east) / 2,
        latitude=_latitude((y_north + y_south) / 2),
        zoom=max(0.0, min(MAX_ZOOM, zoom)),
    )


def probability_colours(probability: ArrayLike) -> NDArray[np.uint8]:
    """RGBA (``(..., 4)``) of probabilities on :data:`PROBABILITY_RAMP`; NaN transparent."""
    p = np.nan_to_num(np.asarray(probability, dtype=np.float64), nan=0.0).clip(0, 1)
    stops = np.array([s for s, _ in PROBABILITY_RAMP])
    colours = np.array([c for _, c in PROBABILITY_RAMP], dtype=np.float64)
    rgba = np.stack([np.interp(p, stops, colours[:, k]) for k in range(4)], axis=-1)
    return rgba.round().astype(np.uint8)


def heatmap_legend(levels: Iterable[float] = (0.5, 0.75, 0.9, 1.0)) -> list[LegendEntry]:
    """Swatches of the probability heatmap at ``levels`` (below 0.3 it is transparent).

    Examples
    --------
    >>> [e.label for e in heatmap_legend((0.5, 0.9))]
    ['probability 0.5', 'probability 0.9']
    """
    return [
        LegendEntry(f"probability {p:g}", _opaque(probability_colours(p)))
        for p in sorted(float(x) for x in levels)
    ]


def level_legend(levels: Iterable[float]) -> list[LegendEntry]:
    """Swatches of sites coloured by level: each level sampled on the heatmap's ramp, so
    levels a run chose (0.6, 0.95, …) get their own colours, not a grey fallback.

    Examples
    --------
    >>> [(e.label, e.rgba) for e in level_legend([0.9, 0.5])]
    [('P > 0.5', (254, 204, 92, 200)), ('P > 0.9', (240, 59, 32, 220))]
    """
    entries = []
    for level in sorted(float(x) for x in levels):
        r, g, b, a = (int(c) for c in probability_colours(level))
        entries.append(LegendEntry(f"P > {level:g}", (r, g, b, max(a, 200))))
    return entries


def motion_legend(motions: Iterable[str] = ("subsidence", "uplift")) -> list[LegendEntry]:
    """Swatches of sites coloured by motion, in words a non-expert follows."""
    return [LegendEntry(_MOTION_WORDS.get(m, m), MOTION_COLOURS.get(m, MOTION_COLOURS[""]))
            for m in motions]  # fmt: skip


def velocity_colours(velocity: ArrayLike, limit_mm_yr: float) -> NDArray[np.uint8]:
    """Faint RGBA per point: blue away from the satellite, red towards it, white at 0.

    The same blue/red as :data:`MOTION_COLOURS`, saturating at ``±limit_mm_yr``.

    Examples
    --------
    >>> velocity_colours([-5.0, 0.0, 5.0, np.nan], 5.0)[:, :3].tolist()
    [[44, 123, 182], [247, 247, 247], [202, 0, 32], [128, 128, 128]]
    """
    if not limit_mm_yr > 0:
        raise ValueError(f"limit_mm_yr must be positive, got {limit_mm_yr}")
    v = np.asarray(velocity, dtype=np.float64)
    t = np.clip(np.nan_to_num(v, nan=0.0) / limit_mm_yr, -1.0, 1.0)
    white = np.array([247.0, 247.0, 247.0])
    blue = np.array(MOTION_COLOURS["subsidence"][:3], dtype=np.float64)
    red = np.array(MOTION_COLOURS["uplift"][:3], dtype=np.float64)
    towards = np.where(t[..., None] < 0, blue, red)
    rgb = white + np.abs(t)[..., None] * (towards - white)
    rgb = np.where(np.isnan(v)[..., None], np.array([128.0, 128.0, 128.0]), rgb)
    alpha = np.full((*v.shape, 1), _FAINT_ALPHA, dtype=np.float64)
    return np.concatenate([rgb, alpha], axis=-1).round().astype(np.uint8)


def velocity_legend(limit_mm_yr: float) -> list[LegendEntry]:
    """Swatches of the background points at −limit, 0 and +limit mm/yr."""
    values = (-limit_mm_yr, 0.0, limit_mm_yr)
    rgba = velocity_colours(values, limit_mm_yr)
    words = ("away from the satellite", "stable", "towards the satellite")
    return [
        LegendEntry(f"point {v:+.0f} mm/yr ({w})" if v else f"point 0 mm/yr ({w})", _opaque(c))
        for v, w, c in zip(values, words, rgba, strict=True)
    ]


def _opaque(rgba: ArrayLike) -> tuple[int, int, int, int]:
    r, g, b, _ = (int(c) for c in np.asarray(rgba).ravel()[:4])
    return (r, g, b, 255)


def _round_length(max_m: float) -> float:
    """The largest 1, 2 or 5 × 10^k metres not above ``max_m``."""
    exponent = math.floor(math.log10(max_m))
    for mantissa in (5, 2, 1):
        if mantissa * 10**exponent <= max_m:
            return float(mantissa * 10**exponent)
    return float(10 ** (exponent - 1) * 5)  # pragma: no cover - unreachable (mantissa 1 fits)


def _length_label(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def scale_bar(bounds_lonlat: Sequence[float], *, share: float = 0.25) -> ScaleBar:
    """A bar of a round length (≤ ``share`` of the box's width) at the box's lower left.

    Drawn in map coordinates, the bar scales with the map, so it stays true at every zoom.

    Examples
    --------
    >>> bar = scale_bar((0.0, 0.0, 0.1, 0.1))  # 11.1 km wide at the equator
    >>> bar.label, bar.length_m
    ('2 km', 2000.0)
    """
    west, south, east, north = (float(b) for b in bounds_lonlat)
    lat = south + 0.06 * (north - south)
    metres_per_degree = math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(lat))
    width_m = max((east - west) * metres_per_degree, 1.0)
    length = _round_length(share * width_m)
    x0 = west + 0.04 * (east - west)
    x1 = x0 + length / metres_per_degree
    tick = 0.015 * (north - south) or 1e-4
    path = [[x0, lat + tick], [x0, lat], [x1, lat], [x1, lat + tick]]
    return ScaleBar(path, _length_label(length), [(x0 + x1) / 2, lat + 1.5 * tick], length)
