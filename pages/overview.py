"""Overview: where the chain found deformation, and which sites to look at first."""

from __future__ import annotations

import streamlit as st

from engine.baseline import threshold_key
from engine.mapview import heatmap_legend, velocity_legend
from engine.sites import level_key
from pages._shared import data
from pages._shared.maps import (
    MAX_MAP_SITES,
    SITE_TOOLTIP,
    deck,
    heatmap_layer,
    legend,
    points_layer,
    site_legend,
    sites_layer,
    top_sites,
)
from pages._shared.state import require_run, store_for_session
from pages._shared.tables import show_table

run = require_run()
root = str(store_for_session().root)
config = data.run_config(run)
levels = sorted(config.sites.levels)
first_threshold = config.baseline.thresholds_mm_yr[0]
st.title(f"Overview · {run.dataset}")
st.caption(
    f"Run {run.run_id[:12]} · {run.created[:16]} · "
    f"{'region' if run.region else 'whole dataset'} · {run.tiles_total} tile(s). "
    "Sites are areas where the neural network's probability of ground deformation exceeds a "
    "level; velocities are along the satellite's line of sight (mm/yr, positive = towards it)."
)
sites = data.sites(root, run.run_id)
counts = run.summary.get("sites", {})
baseline = run.summary.get("baseline_sites", {})

c = st.columns(len(levels) + 2)
for i, level in enumerate(levels):
    label = f"Sites, P > {level:g}" if i == 0 else f"P > {level:g}"
    c[i].metric(label, counts.get(level_key(level), len(data.at_level(sites, level))))
motion = data.at_level(sites, levels[0])["motion"].value_counts()
c[-2].metric(
    "Subsiding / uplifting",
    f"{motion.get('subsidence', 0)} / {motion.get('uplift', 0)}",
    help=f"Sites at P > {levels[0]:g}, by their motion relative to the surrounding ground",
)
c[-1].metric(
    f"Thresholding at {first_threshold:g} mm/yr",
    baseline.get(threshold_key(first_threshold), 0),
    help=f"Sites of the simple baseline (|velocity| ≥ {first_threshold:g} mm/yr, "
    f"{config.baseline.dilation_px} px dilation): compare on Threshold comparison",
)

left, right = st.columns([3, 1])
with right:
    colour_by = st.radio(
        "Colour sites by", ["level", "motion"], horizontal=True, key="overview_colour"
    )
    chosen = st.multiselect("Highest level", levels, default=levels, key="overview_levels",
                            format_func=lambda p: f"P > {p:g}")  # fmt: skip
    show_heatmap = st.toggle("Probability heatmap", value=True, key="overview_heatmap")
    show_points = st.toggle("Measurement points", value=True, key="overview_points")
shown = sites[sites["level"].isin(chosen)]
with left:
    bounds = data.data_bounds(root, run.run_id)
    layers = []
    if show_points:
        points, v_limit = data.background_points(root, run.run_id)
        layers.append(points_layer(points))
    if show_heatmap:
        url, heat_bounds = data.heatmap_url(root, run.run_id)
        layers.append(heatmap_layer(url, heat_bounds))
    if len(shown):
        layers.append(sites_layer(top_sites(shown), colour_by=colour_by, levels=levels))
    if len(shown) > MAX_MAP_SITES:
        st.caption(f"The map shows the {MAX_MAP_SITES:,} highest-priority of {len(shown):,} sites.")
    st.pydeck_chart(deck(layers, bounds, SITE_TOOLTIP, width_px=760, height_px=520), height=520)
    site_legend(colour_by, chosen or levels)
    if show_heatmap:
        legend("Probability of deformation (heatmap)", heatmap_legend([*levels, 1.0]))
    if show_points:
        legend("Measurement points", velocity_legend(v_limit))

st.subheader("Sites to look at first")
st.caption(
    "Priority score = mean probability × |velocity relative to the surrounding ground| × "
    "(1 + log₁₀(1 + area / 1 ha)): confident, fast and large first. Select a row to open it."
)
top = shown.sort_values("priority", ascending=False).head(50)
columns = ["site_id", "motion", "v_mean", "dv", "p_max", "area_m2", "n_points", "looks",
           "priority", "centroid_lon", "centroid_lat"]  # fmt: skip
if top.empty:
    st.info("No site at the chosen levels: pick another level above the map.")
    st.stop()
event = show_table(top, [c for c in columns if c in top], width="stretch", on_select="rerun",
                   selection_mode="single-row", key="overview_table")  # fmt: skip
if event.selection.rows:
    st.session_state["site_id"] = top.iloc[event.selection.rows[0]]["site_id"]
    st.switch_page("pages/site.py")
