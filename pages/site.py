"""Site drill-down: the points, the interpolated map, what the CNN saw, and its verdict."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from engine import explore
from engine.wrap import wrap
from pages._shared import data
from pages._shared.state import require_run, store_for_session

run = require_run()
root = str(store_for_session().root)
st.title("Site drill-down")
sites = data.sites(root, run.run_id)
if sites.empty:
    st.info("This run found no site. Try a lower level or another region.")
    st.stop()
# the first 2,000 by priority: a longer list helps nobody and slows every render
ids = sites.sort_values("priority", ascending=False)["site_id"].head(2000)
ids = ids.tolist()
asked = st.session_state.get("site_id")
if asked not in ids:
    if asked in set(sites["site_id"]):
        ids.insert(0, asked)
    else:
        st.session_state["site_id"] = ids[0]
site_id = st.selectbox("Site", ids, key="site_id")
detail = data.site_detail(root, run.run_id, site_id)
site = detail.site

c = st.columns(3)
c[0].metric("Motion", site["motion"] or "—")
c[1].metric("Mean velocity", f"{site['v_mean']:.1f} mm/yr")
c[2].metric("Relative to ring", f"{site['dv']:+.1f} mm/yr")
st.caption(site.get("motion_text", ""))
c = st.columns(3)
c[0].metric("Probability (max / mean)", f"{site['p_max']:.2f} / {site['p_mean']:.2f}")
c[1].metric("Area", f"{site['area_m2'] / 1e4:,.2f} ha")
c[2].metric("Points", int(site["n_points"]))
st.caption(
    f"Seen in: {site['looks'] or 'unknown'}"
    + (
        " (one geometry only: no confirmation from the other look)"
        if site["single_geometry"]
        else ""
    )
    + f" · velocity range {site['v_min']:.1f} … {site['v_max']:.1f} mm/yr · "
    f"centroid {site['centroid_lat']:.5f}, {site['centroid_lon']:.5f}"
)

minx, miny, maxx, maxy = detail.bounds
outline_x, outline_y = detail.outline_xy
looks = [k.removeprefix("velocity-") for k in detail.rasters if k.startswith("velocity-")]
opts = st.columns(3)
look = opts[0].selectbox("Look", looks, key="site_look") if looks else None
rho = opts[1].select_slider("Wrap interval ρ (mm/yr)", [14.0, 7.0, 3.5, 1.75], 7.0, key="site_rho")
tau = opts[2].select_slider("Offset τ (mm/yr)", [0.0, 3.5, 7.0, 10.5], 0.0, key="site_tau")


def raster_figure(z, title, colorscale, zmin=None, zmax=None):
    fig = go.Figure(
        go.Heatmap(
            z=z[::-1],
            x0=minx,
            dx=(maxx - minx) / z.shape[1],
            y0=miny,
            dy=(maxy - miny) / z.shape[0],
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=outline_x,
            y=outline_y,
            mode="lines",
            showlegend=False,
            line={"color": "black", "width": 2},
        )
    )
    fig.update_layout(
        title=title,
        height=360,
        margin={"t": 40, "b": 10, "l": 10, "r": 10},
        yaxis={"scaleanchor": "x"},
        showlegend=False,
    )
    return fig


v_lim = max(3.0, float(abs(detail.points["velocity"]).quantile(0.98))) if len(detail.points) else 5
row1 = st.columns(2)
points = detail.points
raw = go.Figure(
    go.Scattergl(
        x=points["x"],
        y=points["y"],
        mode="markers",
        marker={
            "color": points["velocity"],
            "colorscale": "RdBu",
            "cmin": -v_lim,
            "cmax": v_lim,
            "size": 4,
            "colorbar": {"title": "mm/yr"},
        },
        text=points.get("pid"),
        hovertemplate="%{text}<br>%{marker.color:.1f} mm/yr<extra></extra>",
    )
)
raw.add_trace(go.Scatter(x=outline_x, y=outline_y, mode="lines", line={"color": "black"}))
raw.update_layout(
    title="Points (raw LOS velocity)",
    height=360,
    showlegend=False,
    margin={"t": 40, "b": 10, "l": 10, "r": 10},
    yaxis={"scaleanchor": "x"},
)
row1[0].plotly_chart(raw, width="stretch")
if look is not None:
    velocity = detail.rasters[f"velocity-{look}"]
    row1[1].plotly_chart(
        raster_figure(velocity, f"Interpolated ({look})", "RdBu", -v_lim, v_lim),
        width="stretch",
    )
    row2 = st.columns(2)
    row2[0].plotly_chart(
        raster_figure(
            wrap(velocity, rho, tau), f"Wrapped at ρ = {rho:g}, τ = {tau:g}", "gray", 0, 255
        ),
        width="stretch",
    )
    row2[1].plotly_chart(
        raster_figure(detail.rasters["probability"], "Probability (combined)", "YlOrRd", 0, 1),
        width="stretch",
    )

st.subheader("Time series")
st.page_link(
    "pages/time_series.py",
    label="Displacement time series of this site's points",
    icon=":material/show_chart:",
)
st.session_state["ts_site_id"] = site_id

d = st.columns(3)
d[0].download_button(
    "Site (GeoJSON)", explore.site_geojson(detail), f"{site_id}.geojson", "application/geo+json"
)
d[1].download_button(
    "Points (CSV)", explore.points_csv(detail), f"{site_id}-points.csv", "text/csv"
)
if look is not None:
    d[2].download_button(
        "Wrapped map (PNG)",
        explore.wrapped_png(velocity, rho, tau),
        f"{site_id}-wrapped-{rho:g}.png",
        "image/png",
    )
