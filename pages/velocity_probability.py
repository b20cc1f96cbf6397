"""Velocity against probability (000 Fig. 8a): what the CNN adds to a velocity threshold."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from engine.config import RunConfig
from engine.sites import sites_at
from pages._shared import data
from pages._shared.state import require_run, store_for_session

run = require_run()
root = str(store_for_session().root)
config = RunConfig.from_yaml(run.config_yaml)
st.title("Velocity vs probability")
st.caption(
    "Every point of the run: its line-of-sight velocity against the detection probability "
    "at its location. A velocity threshold keeps everything left and right of the dashed "
    "lines; the CNN keeps what lies above the dotted levels — fast points in noise fall "
    "below them, slow points in a coherent bowl rise above. Click a site (dot) to open it."
)
hist = data.histogram(root, run.run_id)
sites = data.sites(root, run.run_id)
v_centres = (hist.v_edges[:-1] + hist.v_edges[1:]) / 2
p_centres = (hist.p_edges[:-1] + hist.p_edges[1:]) / 2
with np.errstate(divide="ignore"):
    log_counts = np.where(hist.counts > 0, np.log10(hist.counts), np.nan)

fig = go.Figure(
    go.Heatmap(
        x=v_centres,
        y=p_centres,
        z=log_counts.T,
        colorscale="Viridis",
        colorbar={"title": "log₁₀ points"},
        hovertemplate="v %{x:.1f} mm/yr<br>P %{y:.2f}<br>log₁₀ n %{z:.2f}<extra></extra>",
        name="points",
    )
)
at_level = sites_at(sites, config.sites.levels[0])
fig.add_trace(
    go.Scatter(
        x=at_level["v_mean"],
        y=at_level["p_max"],
        mode="markers",
        name="sites",
        customdata=at_level[["site_id"]].to_numpy(),
        marker={"color": "white", "size": 8, "line": {"color": "black", "width": 1}},
        hovertemplate="%{customdata[0]}<br>v̄ %{x:.1f} mm/yr · P max %{y:.2f}<extra></extra>",
    )
)
for level in config.sites.levels:
    fig.add_hline(y=level, line_dash="dot", line_color="white", annotation_text=f"P {level:g}")
for t in config.baseline.thresholds_mm_yr:
    for sign in (-1, 1):
        fig.add_vline(x=sign * t, line_dash="dash", line_color="orange")
fig.update_layout(
    xaxis_title="velocity (mm/yr, LOS)", yaxis_title="probability", height=520, margin={"t": 30}
)
event = st.plotly_chart(
    fig,
    on_select="rerun",
    selection_mode=("points", "box"),
    key="vp_chart",
    width="stretch",
)

c = st.columns(3)
c[0].metric("Points with a probability", f"{hist.n_points:,}")
fast = np.abs(v_centres) >= config.baseline.thresholds_mm_yr[0]
high = p_centres > config.sites.levels[0]
c[1].metric(f"|v| ≥ {config.baseline.thresholds_mm_yr[0]:g} mm/yr", f"{hist.counts[fast].sum():,}")
c[2].metric(f"P > {config.sites.levels[0]:g}", f"{hist.counts[:, high].sum():,}")

picked = [p for p in event.selection.get("points", []) if p.get("curve_number") == 1]
box = event.selection.get("box", [])
if picked:
    site_id = picked[0]["customdata"][0]
    st.session_state["site_id"] = site_id
    st.page_link("pages/site.py", label=f"Open site {site_id}", icon=":material/search:")
elif box:
    (x0, x1), (y0, y1) = sorted(box[0]["x"]), sorted(box[0]["y"])
    inside = at_level[at_level["v_mean"].between(x0, x1) & at_level["p_max"].between(y0, y1)]
    st.write(f"{len(inside)} site(s) in the selected bins")
    st.dataframe(
        inside[["site_id", "motion", "v_mean", "p_max", "area_m2", "priority"]], hide_index=True
    )
