"""Time series: up to 20 points' displacements, fitted velocity ± standard error (Van Anh et
al. 2020, eq. 3–4)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from engine.errors import GroundwatchError
from engine.series import (
    MAX_POINTS,
    PointSeries,
    fit_series,
    fitted_lines,
    has_time_series,
    points_in_site,
    points_near,
    read_point_series,
)
from engine.tables import cell_text
from pages._shared import data
from pages._shared.state import require_run, selected_dataset, store_for_session
from pages._shared.tables import show_table

PICKERS = ("In a site", "Near a place", "By point id")
FIT_COLUMNS = ["pid", "geometry", "fitted_velocity", "fitted_velocity_std", "n_epochs",
               "product_velocity"]  # fmt: skip


def candidates(store, dataset: str, how: str) -> dict[str, str] | None:
    """Point ids to choose from (site, place) with their labels; None when the user types them."""
    if how == PICKERS[0]:
        sites = data.sites(str(store.root), require_run().run_id)
        if sites.empty:
            st.info("The selected run found no site: choose points near a place instead.")
            st.stop()
        # the 2,000 highest-priority sites (and the one the drill-down sent): a list to read
        shown = sites.nlargest(2000, "priority")
        asked = st.session_state.pop("ts_site_id", None)
        if asked is not None and asked in set(sites["site_id"]):
            st.session_state["ts_site"] = asked
            if asked not in set(shown["site_id"]):
                shown = pd.concat([sites[sites["site_id"] == asked], shown])
        label = {
            r.site_id: f"{r.site_id} · {r.n_points} points · {r.v_mean:+.1f} mm/yr"
            for r in shown.itertuples()
        }
        site = st.selectbox("Site", list(label), format_func=lambda k: label[k], key="ts_site")
        found = points_in_site(store, dataset, sites[sites["site_id"] == site].iloc[0])
    elif how == PICKERS[1]:
        west, south, east, north = store.dataset(dataset).bbox_lonlat
        c = st.columns(3)
        lon = c[0].number_input("Longitude", -180.0, 180.0, (west + east) / 2, format="%.5f")
        lat = c[1].number_input("Latitude", -90.0, 90.0, (south + north) / 2, format="%.5f")
        radius_m = c[2].slider("Radius (m)", 10, 2000, 100, 10, key="ts_radius_m")
        found = points_near(store, dataset, lon, lat, radius_m=radius_m, limit=50)
    else:
        return None
    if found.empty:
        st.info("No point with an id there: move the place, widen the radius or pick a site.")
        st.stop()
    return {
        r.pid: f"{r.pid} ({r.geometry} pass; product's velocity "
        f"{cell_text('v_mean', r.velocity)} mm/yr)"
        for r in found.itertuples()
    }


def figure(series: PointSeries, fits, lines, fan: bool) -> go.Figure:
    """Each point's displacements (markers), its fitted line and, optionally, its ±1σ fan."""
    fig, colours = go.Figure(), px.colors.qualitative.Dark24
    by_point = dict(iter(lines.groupby(["pid", "geometry"], sort=False)))
    for i, f in enumerate(fits.itertuples()):
        colour, group = colours[i % len(colours)], f"{f.pid} {f.geometry}"
        name = (
            f"{f.pid} ({f.geometry}): fitted {cell_text('v_mean', f.velocity)} ± "
            f"{cell_text('v_mean', f.velocity_std)} mm/yr"
        )
        fig.add_scatter(
            x=series.dates,
            y=series.displacements[i],
            mode="markers",
            name=name,
            legendgroup=group,
            marker={"color": colour, "size": 5},
        )
        line = by_point.get((f.pid, f.geometry))
        if line is None:
            continue
        fig.add_scatter(
            x=line["date"],
            y=line["fitted_mm"],
            mode="lines",
            legendgroup=group,
            showlegend=False,
            line={"color": colour},
        )
        for edge in ("lower_mm", "upper_mm") if fan else ():
            fig.add_scatter(
                x=line["date"],
                y=line[edge],
                mode="lines",
                legendgroup=group,
                showlegend=False,
                line={"color": colour, "dash": "dot", "width": 1},
            )
    fig.update_layout(
        xaxis_title="date",
        yaxis_title="displacement along the line of sight (mm)",
        height=560,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


st.title("Time series")
store, dataset = store_for_session(), selected_dataset()
if dataset is None:
    st.info("No dataset in the store yet.")
    st.stop()
if not has_time_series(store, dataset):
    st.info(
        f"Dataset **{dataset}** has no time series: its product gave velocities only, without "
        "dated displacement columns (`dYYYYMMDD`). Ingest a product with displacements, "
        "e.g. EGMS L2b, to plot series."
    )
    st.stop()

how = st.radio("Choose points", PICKERS, horizontal=True, key="ts_pick")
try:
    options = candidates(store, dataset, how)
    if options is None:
        text = st.text_area(
            f"Point ids (up to {MAX_POINTS}, separated by commas or spaces)", key="ts_pids"
        )
        chosen = text.replace(",", " ").split()
    else:
        chosen = st.multiselect(
            f"Points (up to {MAX_POINTS})",
            list(options),
            default=list(options)[:5],
            format_func=options.__getitem__,
            max_selections=MAX_POINTS,
        )
    if not chosen:
        st.info("Choose one or more points.")
        st.stop()
    series = read_point_series(store, dataset, chosen)
    fits = fit_series(series)
    lines = fitted_lines(series, fits)
except GroundwatchError as exc:
    st.error(str(exc))
    st.stop()

fan = st.checkbox("Show the ±1σ velocity fan", value=True, key="ts_fan")
st.plotly_chart(figure(series, fits, lines, fan))
st.metric("Points", len(fits))
shown = fits.rename(columns={"velocity": "fitted_velocity", "velocity_std": "fitted_velocity_std"})
show_table(shown, [c for c in FIT_COLUMNS if c in shown])
st.download_button(
    "Download the series (CSV)",
    series.long().to_csv(index=False),
    file_name=f"time-series-{dataset}.csv",
    mime="text/csv",
)
