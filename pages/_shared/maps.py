"""Map pieces shared by the pages: the pydeck deck, level and motion colours, the view."""

from __future__ import annotations

import math
import socket
from collections.abc import Sequence

import pydeck as pdk
import streamlit as st

# probability levels (0.5 / 0.75 / 0.9): amber → orange → red, readable on light and dark
LEVEL_COLOURS = {0.5: [253, 174, 97, 160], 0.75: [244, 109, 67, 190], 0.9: [215, 48, 39, 220]}
# subsidence blue, uplift red-brown (LOS positive = towards the satellite = uplift)
MOTION_COLOURS = {
    "subsidence": [44, 123, 182, 200],
    "uplift": [202, 0, 32, 200],
    "": [128, 128, 128, 160],
}
_BASEMAP = "https://basemaps.cartocdn.com/gl/positron-gl-style/style.json"


@st.cache_data(ttl=600, show_spinner=False)
def online() -> bool:
    """Whether the basemap host answers (a map without one still works offline)."""
    try:
        socket.create_connection(("basemaps.cartocdn.com", 443), timeout=0.5).close()
    except OSError:
        return False
    return True


def view_for(bounds_lonlat: Sequence[float]) -> pdk.ViewState:
    """A view that fits ``(west, south, east, north)``."""
    west, south, east, north = bounds_lonlat
    span = max(east - west, (north - south) * 1.6, 1e-3)
    zoom = max(1.0, min(16.0, 8.6 - 1.44 * math.log(span)))
    return pdk.ViewState(longitude=(west + east) / 2, latitude=(south + north) / 2, zoom=zoom)


def deck(
    layers: list[pdk.Layer], bounds_lonlat: Sequence[float], tooltip: dict | None = None
) -> pdk.Deck:
    """A deck over ``bounds_lonlat`` with a basemap when online, none otherwise."""
    return pdk.Deck(
        layers=layers,
        initial_view_state=view_for(bounds_lonlat),
        map_style=_BASEMAP if online() else None,
        tooltip=tooltip or False,
    )


MAX_MAP_SITES = 5000


def top_sites(sites, limit: int = MAX_MAP_SITES):
    """The ``limit`` highest-priority sites: what a map can show and a person can read."""
    return sites if len(sites) <= limit else sites.nlargest(limit, "priority")


def sites_layer(sites, *, colour_by: str = "level", max_polygons: int = 2000) -> pdk.Layer:
    """Sites as outlines (or, beyond ``max_polygons``, as dots at their centroids)."""
    keep = [
        "site_id",
        "level",
        "motion",
        "v_mean",
        "dv",
        "p_max",
        "area_m2",
        "priority",
        "centroid_lon",
        "centroid_lat",
    ]
    frame = sites[[c for c in keep if c in sites]].copy()
    if colour_by == "motion":
        frame["colour"] = [MOTION_COLOURS.get(m, MOTION_COLOURS[""]) for m in frame["motion"]]
    else:
        frame["colour"] = [
            LEVEL_COLOURS.get(round(lv, 2), [90, 90, 90, 160]) for lv in frame["level"]
        ]
    for column in ("v_mean", "dv", "p_max", "area_m2", "priority"):
        if column in frame:
            frame[column] = frame[column].astype(float).round(2)
    if len(sites) > max_polygons:
        return pdk.Layer(
            "ScatterplotLayer", frame, get_position=["centroid_lon", "centroid_lat"],
            get_fill_color="colour", get_radius=60, radius_min_pixels=2, pickable=True,
        )  # fmt: skip
    frame["outline"] = [[list(map(list, g.exterior.coords))] for g in _polygons(sites.geometry)]
    return pdk.Layer(
        "PolygonLayer", frame, get_polygon="outline", get_fill_color="colour",
        get_line_color=[60, 60, 60, 200], line_width_min_pixels=1, pickable=True,
    )  # fmt: skip


def heatmap_layer(image_url: str, bounds_lonlat: Sequence[float]) -> pdk.Layer:
    west, south, east, north = bounds_lonlat
    # a plain str would be read as a deck.gl expression ("data:…" fails to parse)
    return pdk.Layer(
        "BitmapLayer",
        image=pdk.types.String(image_url),
        bounds=[west, south, east, north],
        opacity=0.8,
    )


SITE_TOOLTIP = {
    "html": "<b>{site_id}</b> · {motion} {dv} mm/yr relative to its ring<br/>v̄ {v_mean} mm/yr<br/>"
    "P max {p_max} · {area_m2} m²<br/>priority {priority}",
}


def _polygons(geometries):
    for g in geometries:
        yield max(g.geoms, key=lambda p: p.area) if g.geom_type == "MultiPolygon" else g
