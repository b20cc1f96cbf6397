"""Velocity against probability (Anantrasirichai et al. 2021, Fig. 8a): what the CNN adds to a
velocity threshold."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from engine.explore import log_count_ticks
from pages._shared import data
from pages._shared.state import require_run, store_for_session
from pages._shared.tables import show_table

run = require_run()
root = str(store_for_session().root)
config = data.run_config(run)
st.title("Velocity vs probability")
st.caption(
    "Every point of the run: its line-of-sight velocity against the detection probability "
    "the neural network gives its location. Colour = how many points fall in each cell. "
    "A velocity threshold keeps everything left and right of the orange dashed lines; the "
    "network keeps what lies above the white dotted probability levels — fast points in "
    "noise fall below them, slow points in a coherent bowl rise above. Click a site (white "
    "dot) to open it."
)
hist = data.histogram(root, run.run_id)
sites = data.sites(root, run.run_id)
v_centres = (hist.v_edges[:-1] + hist.v_edges[1:]) / 2
p_centres = (hist.p_edges[:-1] + hist.p_edges[1:]) / 2
with np.errstate(divide="ignore"):
    log_counts = np.where(hist.counts > 0, np.log10(hist.counts), np.nan)
ticks, tick_text = log_count_ticks(int(hist.counts.max(initial=0)))

fig = go.Figure(
    go.Heatmap(
        x=v_centres,
        y=p_centres,
        z=log_counts.T,
        colorscale="Viridis",
        colorbar={
            "title": "points<br>per cell",
            "tickvals": ticks,
            "ticktext": tick_text,
            "x": 1.08,
        },
        customdata=hist.counts.T,
        hovertemplate="velocity %{x:.1f} mm/yr<br>probability %{y:.2f}<br>"
        "%{customdata:,} points<extra></extra>",
        name="points",
    )
)
at_level = data.at_level(sites, min(config.sites.levels))
fig.add_trace(
    go.Scatter(
        x=at_level["v_mean"],
        y=at_level["p_max"],
        mode="markers",
        name=f"sites at P > {min(config.sites.levels):g} (mean velocity, highest probability)",
        customdata=at_level[["site_id"]].to_numpy(),
        marker={"color": "white", "size": 8, "line": {"color": "black", "width": 1}},
        hovertemplate="site %{customdata[0]}<br>mean velocity %{x:.1f} mm/yr · "
        "highest probability %{y:.2f}<extra></extra>",
    )
)
levels = sorted(config.sites.levels)
thresholds = sorted(config.baseline.thresholds_mm_yr)
for level in levels:
    fig.add_hline(
        y=level,
        line={"dash": "dot", "color": "white", "width": 2},
        annotation={"text": f"P = {level:g}", "font": {"color": "black"},
                    "bgcolor": "rgba(255,255,255,0.8)"},
        annotation_position="right",
    )  # fmt: skip
for t in thresholds:
    for sign in (-1, 1):
        fig.add_vline(x=sign * t, line_dash="dash", line_color="orange")
for name, dash, colour in (
    (f"probability levels ({', '.join(f'{p:g}' for p in levels)})", "dot", "grey"),
    (f"velocity thresholds (± {', '.join(f'{t:g}' for t in thresholds)} mm/yr)", "dash", "orange"),
):  # legend entries for the lines (plotly's shapes have none)
    fig.add_scatter(x=[None], y=[None], mode="lines", name=name,
                    line={"dash": dash, "color": colour, "width": 2})  # fmt: skip
fig.update_layout(
    xaxis_title="velocity along the line of sight (mm/yr; positive = towards the satellite)",
    yaxis_title="probability of deformation",
    height=540,
    margin={"t": 40},
    legend={"orientation": "h", "y": 1.12},
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
c[1].metric(f"Points faster than {config.baseline.thresholds_mm_yr[0]:g} mm/yr",
            f"{hist.counts[fast].sum():,}")  # fmt: skip
c[2].metric(
    f"Points at probability > {config.sites.levels[0]:g}", f"{hist.counts[:, high].sum():,}"
)

picked = [p for p in event.selection.get("points", []) if p.get("curve_number") == 1]
box = event.selection.get("box", [])
if picked:
    site_id = picked[0]["customdata"][0]
    st.session_state["site_id"] = site_id
    st.page_link("pages/site.py", label=f"Open site {site_id}", icon=":material/search:")
elif box:
    (x0, x1), (y0, y1) = sorted(box[0]["x"]), sorted(box[0]["y"])
    inside = at_level[at_level["v_mean"].between(x0, x1) & at_level["p_max"].between(y0, y1)]
    st.write(f"{len(inside)} site(s) in the selected cells")
    show_table(inside, ["site_id", "motion", "v_mean", "p_max", "area_m2", "priority"])
