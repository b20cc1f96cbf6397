"""Map pieces shared by the pages: the deck, its layers, legends and scale bar.

Everything computed (view, colours, legend stops, scale bar) comes from engine.mapview;
this module only turns it into pydeck layers and a little HTML.

Offline by default: no basemap is requested unless the operator names one in
``$GROUNDWATCH_BASEMAP`` (a MapLibre style URL, or ``carto`` for Carto's light style).
Without it, the run's points are drawn as a faint layer so the map still has context.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence

import pydeck as pdk
import streamlit as st

from engine.mapview import (
    MOTION_COLOURS,
    LegendEntry,
    fit_view,
    level_legend,
    motion_legend,
    scale_bar,
)
from engine.tables import cell_text

BASEMAP_ENV = "GROUNDWATCH_BASEMAP"
_CARTO = "https://basemaps.cartocdn.com/gl/positron-gl-style/style.json"
# pydeck's "default style" sentinel with no provider: Streamlit then draws no basemap at
# all (map_style=None would make it fetch Carto's tiles)
_NO_BASEMAP = "__MAP_STYLE__"
MAX_MAP_SITES = 5000


def basemap() -> str | None:
    """The operator's basemap style URL, or None (offline: no tiles requested)."""
    value = os.environ.get(BASEMAP_ENV, "").strip()
    if not value:
        return None
    return _CARTO if value.lower() == "carto" else value


def deck(
    layers: list[pdk.Layer],
    bounds_lonlat: Sequence[float],
    tooltip: dict | None = None,
    *,
    width_px: float = 700,
    height_px: float = 500,
) -> pdk.Deck:
    """A deck whose first view fits ``bounds_lonlat`` in a map of about that size, with a
    scale bar, and a basemap only when the operator configured one."""
    view = fit_view(bounds_lonlat, width_px=width_px, height_px=height_px)
    style = basemap()
    return pdk.Deck(
        layers=[*layers, *scale_layers(bounds_lonlat)],
        initial_view_state=pdk.ViewState(
            longitude=view.longitude, latitude=view.latitude, zoom=view.zoom
        ),
        map_style=style or _NO_BASEMAP,
        map_provider="carto" if style else None,
        tooltip=tooltip or False,
    )


def scale_layers(bounds_lonlat: Sequence[float]) -> list[pdk.Layer]:
    """A scale bar drawn in map coordinates (true at every zoom) and its label."""
    bar = scale_bar(bounds_lonlat)
    return [
        pdk.Layer("PathLayer", [{"path": bar.path}], id="scale-bar", get_path="path",
                  get_color=[20, 20, 20, 230], get_width=1, width_min_pixels=3),
        pdk.Layer("TextLayer", [{"position": bar.label_position, "text": bar.label}],
                  id="scale-label", get_position="position", get_text="text", get_size=14,
                  get_color=[20, 20, 20, 255], get_text_anchor="'middle'",
                  get_alignment_baseline="'bottom'"),
    ]  # fmt: skip


def points_layer(points) -> pdk.Layer:
    """The run's points, faint, coloured by velocity (context beneath the sites)."""
    return pdk.Layer(
        "ScatterplotLayer", points[["lon", "lat", "colour"]], id="points",
        get_position=["lon", "lat"], get_fill_color="colour", get_radius=8,
        radius_min_pixels=1, radius_max_pixels=3, pickable=False,
    )  # fmt: skip


def top_sites(sites, limit: int = MAX_MAP_SITES):
    """The ``limit`` highest-priority sites: what a map can show and a person can read."""
    return sites if len(sites) <= limit else sites.nlargest(limit, "priority")


_TIP_COLUMNS = ("site_id", "motion", "v_mean", "dv", "p_max", "area_m2", "priority")


def sites_layer(
    sites,
    *,
    colour_by: str = "level",
    levels: Iterable[float] = (),
    max_polygons: int = 2000,
) -> pdk.Layer:
    """Sites as outlines (or, beyond ``max_polygons``, as dots at their centroids),
    coloured by their level (on the heatmap's ramp) or their motion."""
    frame = sites[["centroid_lon", "centroid_lat"]].copy()
    for column in _TIP_COLUMNS:  # tooltip text: units and precision, never "nan"
        frame[column] = [cell_text(column, v) for v in sites[column]] if column in sites else "—"
    frame["motion"] = [m if m != "—" else "no points" for m in frame["motion"]]
    if colour_by == "motion":
        frame["colour"] = [list(MOTION_COLOURS.get(m, MOTION_COLOURS[""]))
                           for m in sites["motion"]]  # fmt: skip
    else:
        by_level = {round(float(lv), 6): list(e.rgba) for lv, e in
                    zip(sorted(levels), level_legend(levels), strict=True)}  # fmt: skip
        frame["colour"] = [by_level.get(round(float(lv), 6), [90, 90, 90, 160])
                           for lv in sites["level"]]  # fmt: skip
    if len(sites) > max_polygons:
        return pdk.Layer(
            "ScatterplotLayer", frame, id="sites", get_position=["centroid_lon", "centroid_lat"],
            get_fill_color="colour", get_radius=60, radius_min_pixels=2, pickable=True,
        )  # fmt: skip
    frame["outline"] = [[list(map(list, g.exterior.coords))] for g in _polygons(sites.geometry)]
    return pdk.Layer(
        "PolygonLayer", frame, id="sites", get_polygon="outline", get_fill_color="colour",
        get_line_color=[60, 60, 60, 200], line_width_min_pixels=1, pickable=True,
    )  # fmt: skip


def heatmap_layer(image_url: str, bounds_lonlat: Sequence[float]) -> pdk.Layer:
    west, south, east, north = bounds_lonlat
    # a plain str would be read as a deck.gl expression ("data:…" fails to parse)
    return pdk.Layer(
        "BitmapLayer",
        id="heatmap",
        image=pdk.types.String(image_url),
        bounds=[west, south, east, north],
        opacity=0.8,
    )


SITE_TOOLTIP = {
    "html": "<b>Site {site_id}</b> · {motion}: {dv} mm/yr relative to the surroundings"
    "<br/>mean velocity {v_mean} mm/yr<br/>highest probability {p_max} · "
    "area {area_m2}<br/>priority score {priority}",
}


def legend(title: str, entries: Iterable[LegendEntry]) -> None:
    """One line of colour swatches under a map."""
    swatches = " ".join(
        f'<span style="white-space:nowrap;margin-right:0.9em">'
        f'<span style="display:inline-block;width:0.9em;height:0.9em;border:1px solid #555;'
        f'vertical-align:middle;background:rgba({r},{g},{b},{a / 255:.2f})"></span> '
        f"{html.escape(e.label)}</span>"
        for e in entries
        for r, g, b, a in [e.rgba]
    )
    st.markdown(
        f'<div style="font-size:0.85em"><b>{html.escape(title)}</b>: {swatches}</div>',
        unsafe_allow_html=True,
    )


def site_legend(colour_by: str, levels: Iterable[float]) -> None:
    """The legend of a sites layer coloured as :func:`sites_layer` colours it."""
    if colour_by == "motion":
        legend("Sites, by motion", motion_legend())
    else:
        legend("Sites, by probability level", level_legend(levels))


def _polygons(geometries):
    for g in geometries:
        yield max(g.geoms, key=lambda p: p.area) if g.geom_type == "MultiPolygon" else g
