"""Site drill-down: the points, the interpolated map, what the CNN saw, and its verdict."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from engine import explore
from engine.tables import area_text, cell_text, lonlat_text
from engine.wrap import wrap_mm_yr
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
c[0].metric("Motion", site["motion"] or "no points measured")
c[1].metric("Mean velocity", cell_text("v_mean", site["v_mean"]) + " mm/yr",
            help="along the satellite's line of sight; positive = towards it")  # fmt: skip
c[2].metric("Relative to ring", cell_text("dv", site["dv"]) + " mm/yr",
            help="mean velocity minus that of the ground around the site")  # fmt: skip
if site.get("motion_text"):
    st.caption(site["motion_text"])
c = st.columns(3)
p_text = f"{cell_text('p_max', site['p_max'])} / {cell_text('p_mean', site['p_mean'])}"
c[0].metric("Probability (highest / mean)", p_text)
c[1].metric("Area", area_text(site["area_m2"]))
c[2].metric("Points", int(site["n_points"]))
st.caption(
    f"Seen from: {site['looks'] or 'no satellite pass'}"
    + (" (one pass only: not confirmed by the other)" if site["single_geometry"] else "")
    + f" · velocities from {cell_text('v_min', site['v_min'])} to "
    f"{cell_text('v_max', site['v_max'])} mm/yr · centre "
    f"{lonlat_text(site['centroid_lon'], site['centroid_lat'])}"
)

minx, miny, maxx, maxy = detail.bounds
outline_x, outline_y = detail.outline_xy
looks = [k.removeprefix("velocity-") for k in detail.rasters if k.startswith("velocity-")]
opts = st.columns(3)
look = opts[0].selectbox("Satellite pass", looks, key="site_look") if looks else None
wrap_params = data.run_config(run).wrap  # the intervals and offsets this run scored
rhos, taus = list(wrap_params.rho_mm_yr), list(wrap_params.tau_mm_yr)
rho = opts[1].select_slider("Wrap interval ρ (mm/yr)", rhos, 7.0 if 7.0 in rhos else rhos[0],
                            key="site_rho")  # fmt: skip
tau = opts[2].select_slider("Offset τ (mm/yr)", taus, taus[0], key="site_tau")


AXES = {  # run CRS metres, one metre the same length on both axes
    "xaxis": {"title": "easting (m)", "tickformat": "d"},
    "yaxis": {"title": "northing (m)", "tickformat": "d", "scaleanchor": "x"},
}


def raster_figure(z, title, colorscale, zmin=None, zmax=None, colorbar=None):
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
            colorbar=colorbar,
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
    fig.update_layout(title=title, height=380, margin={"t": 40, "b": 10, "l": 10, "r": 10},
                      showlegend=False, **AXES)  # fmt: skip
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
            "colorscale": "RdBu_r",
            "cmin": -v_lim,
            "cmax": v_lim,
            "size": 4,
            "colorbar": {"title": "mm/yr<br>(+ towards<br>satellite)"},
        },
        text=points.get("pid"),
        hovertemplate="%{text}<br>%{marker.color:.1f} mm/yr<extra></extra>",
    )
)
raw.add_trace(go.Scatter(x=outline_x, y=outline_y, mode="lines", line={"color": "black"}))
raw.update_layout(
    title="Measured points (velocity along the line of sight)",
    height=380,
    showlegend=False,
    margin={"t": 40, "b": 10, "l": 10, "r": 10},
    **AXES,
)
row1[0].plotly_chart(raw, width="stretch")
if look is not None:
    velocity = detail.rasters[f"velocity-{look}"]
    row1[1].plotly_chart(
        raster_figure(
            velocity,
            f"Interpolated velocity ({look} pass)",
            "RdBu_r",
            -v_lim,
            v_lim,
            {"title": "mm/yr"},
        ),
        width="stretch",
    )
    row2 = st.columns(2)
    row2[0].plotly_chart(
        raster_figure(
            wrap_mm_yr(velocity, rho, tau),
            f"What the network sees: velocity wrapped every {rho:g} mm/yr",
            "gray",
            0,
            rho,
            {"title": f"position in<br>the {rho:g} mm/yr<br>interval (mm/yr)"},
        ),
        width="stretch",
    )
    row2[1].plotly_chart(
        raster_figure(
            detail.rasters["probability"],
            "Probability of deformation",
            "YlOrRd",
            0,
            1,
            {"title": "probability"},
        ),
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
