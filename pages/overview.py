"""Overview: where the chain found deformation, and which sites to look at first."""

from __future__ import annotations

import streamlit as st

from engine.sites import sites_at
from pages._shared import data
from pages._shared.maps import (
    MAX_MAP_SITES,
    SITE_TOOLTIP,
    deck,
    heatmap_layer,
    sites_layer,
    top_sites,
)
from pages._shared.state import require_run, store_for_session

run = require_run()
root = str(store_for_session().root)
st.title(f"Overview · {run.dataset}")
st.caption(
    f"Run {run.run_id[:12]} · {run.created[:16]} · "
    f"{'region' if run.region else 'whole dataset'} · {run.tiles_total} tile(s). "
    "Sites are areas where the CNN's probability of deformation exceeds a level; "
    "velocities are along the satellite's line of sight (mm/yr, positive = towards it)."
)
sites = data.sites(root, run.run_id)
counts = run.summary.get("sites", {})
baseline = run.summary.get("baseline_sites", {})

c = st.columns(5)
c[0].metric("Sites, P > 0.5", counts.get("p50", 0))
c[1].metric("P > 0.75", counts.get("p75", 0))
c[2].metric("P > 0.9", counts.get("p90", 0))
motion = sites_at(sites, 0.5)["motion"].value_counts()
c[3].metric(
    "Subsiding / uplifting",
    f"{motion.get('subsidence', 0)} / {motion.get('uplift', 0)}",
    help="Sites at P > 0.5, by their motion relative to the surrounding ring",
)
c[4].metric(
    "Thresholding at 3 mm/yr",
    baseline.get("t3.0", 0),
    help="Sites of the paper's baseline (|v| ≥ 3 mm/yr, 18 px dilation): "
    "compare on Threshold comparison",
)

left, right = st.columns([3, 1])
with right:
    colour_by = st.radio(
        "Colour sites by", ["level", "motion"], horizontal=True, key="overview_colour"
    )
    levels = st.multiselect(
        "Highest level", [0.5, 0.75, 0.9], default=[0.5, 0.75, 0.9], key="overview_levels"
    )
    show_heatmap = st.toggle("Probability heatmap", value=True, key="overview_heatmap")
shown = sites[sites["level"].isin(levels)]
with left:
    url, bounds = data.heatmap_url(root, run.run_id)
    layers = [heatmap_layer(url, bounds)] if show_heatmap else []
    if len(shown):
        layers.append(sites_layer(top_sites(shown), colour_by=colour_by))
    if len(shown) > MAX_MAP_SITES:
        st.caption(f"The map shows the {MAX_MAP_SITES:,} highest-priority of {len(shown):,} sites.")
    st.pydeck_chart(deck(layers, bounds, SITE_TOOLTIP), height=520)

st.subheader("Sites to look at first")
st.caption(
    "Priority = mean probability at the points × |velocity relative to the surrounding ring| × "
    "(1 + log₁₀(1 + area / 1 ha)) × (1 − e^(−points / 10)): confident, fast, large and "
    "well-measured first. Select a row to open it."
)
top = shown.sort_values("priority", ascending=False).head(50)
table = top[
    [
        "site_id",
        "motion",
        "dv",
        "motion_text",
        "v_mean",
        "p_max",
        "area_m2",
        "n_points",
        "looks",
        "priority",
        "centroid_lon",
        "centroid_lat",
    ]
]
event = st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key="overview_table",
    column_config={
        "v_mean": st.column_config.NumberColumn("v̄ (mm/yr)", format="%.1f"),
        "dv": st.column_config.NumberColumn("Δ to ring", format="%.1f"),
        "p_max": st.column_config.NumberColumn("P max", format="%.2f"),
        "area_m2": st.column_config.NumberColumn("area (m²)", format="%d"),
        "priority": st.column_config.NumberColumn(format="%.2f"),
        "centroid_lon": st.column_config.NumberColumn("lon", format="%.5f"),
        "centroid_lat": st.column_config.NumberColumn("lat", format="%.5f"),
    },
)
if event.selection.rows:
    st.session_state["site_id"] = table.iloc[event.selection.rows[0]]["site_id"]
    st.switch_page("pages/site.py")
