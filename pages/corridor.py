"""Asset corridor: the run's sites within a buffer of an uploaded route, ranked, with chainage."""

from __future__ import annotations

import json

import pydeck as pdk
import streamlit as st

from engine.config import RunConfig
from engine.corridor import (
    corridor_polygon,
    corridor_sites,
    example_route,
    read_route,
    route_length_m,
    to_csv,
    to_geojson,
)
from engine.errors import InputError
from engine.mapview import MOTION_COLOURS, LegendEntry
from engine.sites import level_key
from engine.tables import cell_text
from pages._shared import data
from pages._shared.gate import unlocked, upload_limit_bytes
from pages._shared.maps import deck, legend, points_layer, site_legend
from pages._shared.state import require_run, store_for_session
from pages._shared.tables import show_table

EXAMPLE_KEY = "corridor_example"
TABLE = ["rank", "site_id", "chainage_km", "offset_m", "priority", "v_mean", "dv", "motion",
         "p_max", "area_m2"]  # fmt: skip
TOOLTIP = {
    "html": "<b>Site {site_id}</b> (rank {rank})<br/>{chainage_km} km along the route, "
    "{offset_m} m from it<br/>mean velocity {v_mean} mm/yr, {dv} mm/yr relative to the "
    "surroundings ({motion})"
}

st.title("Asset corridor")
st.caption(
    "Upload a route (a GeoJSON, GeoPackage, zipped Shapefile or KML line) to list the sites "
    "within a buffer of it, ranked by priority, with chainage — the distance along the route "
    "from its first vertex to the point nearest the site."
)
run = require_run()
store = store_for_session()
sites = data.sites(str(store.root), run.run_id)  # shared, read-only
bounds = store.dataset(run.dataset).bbox_lonlat

upload = None
if unlocked("Route uploads"):  # the example route needs no upload
    upload = st.file_uploader(
        "Route", type=["geojson", "json", "gpkg", "zip", "kml"], key="corridor_upload"
    )
if st.button("Use an example route", key="corridor_example_button"):
    st.session_state[EXAMPLE_KEY] = True
left, right = st.columns(2)
buffer_m = left.slider(
    "Buffer either side of the route (m)", 50, 2000, 250, step=50, key="corridor_buffer_m"
)
levels = list(RunConfig.from_yaml(run.config_yaml).sites.levels)
level = right.selectbox(
    "Probability level", levels, key="corridor_level", format_func=lambda p: f"P > {p:g}"
)

if upload is not None:
    try:
        route = read_route(upload.getvalue(), name=upload.name, max_bytes=upload_limit_bytes())
    except InputError as exc:
        st.error(str(exc))
        st.stop()
elif st.session_state.get(EXAMPLE_KEY):
    route = example_route(bounds)
    st.caption("Example route: a straight line across the dataset. Upload a file to replace it.")
else:
    st.info("Upload a route, or try an example route across the dataset.")
    st.stop()

found = corridor_sites(sites, route, buffer_m=buffer_m, level=level, crs=run.crs)
motion = found["motion"].value_counts()
cols = st.columns(4)
cols[0].metric("Route length", f"{route_length_m(route, crs=run.crs) / 1000:.2f} km")
cols[1].metric("Sites in corridor", len(found))
cols[2].metric("Subsidence", int(motion.get("subsidence", 0)))
cols[3].metric("Uplift", int(motion.get("uplift", 0)))

show_table(found, TABLE)
stem = f"corridor-{route['name'].item()}-{run.run_id[:6]}-{level_key(level)}-{buffer_m}m"
down = st.columns(2)
down[0].download_button("CSV", to_csv(found), f"{stem}.csv", "text/csv", key="corridor_csv")
down[1].download_button(
    "GeoJSON", to_geojson(found), f"{stem}.geojson", "application/geo+json", key="corridor_geojson"
)

shown = found[["site_id", "rank", "chainage_km", "offset_m", "v_mean", "dv", "motion", "geometry"]]
shown = shown.assign(
    **{c: [cell_text(c, v) for v in shown[c]] for c in ("chainage_km", "offset_m", "v_mean", "dv")},
    colour=[list(MOTION_COLOURS.get(m, MOTION_COLOURS[""])) for m in found["motion"]],
)
corridor = corridor_polygon(route, buffer_m, crs=run.crs)
grey, black = [90, 90, 90], [20, 20, 20]
points, _ = data.background_points(str(store.root), run.run_id)
layers = [
    points_layer(points),
    pdk.Layer("GeoJsonLayer", corridor.__geo_interface__, id="corridor",
              get_fill_color=[*grey, 40], get_line_color=[*grey, 160], line_width_min_pixels=1),
    pdk.Layer("GeoJsonLayer", route.to_crs("EPSG:4326").__geo_interface__, id="route",
              get_line_color=[*black, 230], line_width_min_pixels=3),
    pdk.Layer("GeoJsonLayer", json.loads(to_geojson(shown)), id="sites", pickable=True,
              get_fill_color="properties.colour", get_line_color="properties.colour",
              line_width_min_pixels=2),
]  # fmt: skip
st.pydeck_chart(deck(layers, corridor.total_bounds, TOOLTIP, width_px=1000, height_px=500))
legend("Route", [LegendEntry("route", (*black, 230)),
                 LegendEntry(f"corridor, {buffer_m} m either side", (*grey, 60))])  # fmt: skip
site_legend("motion", [level])
