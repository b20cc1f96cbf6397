"""GNSS validation: uploaded benchmarks against the selected dataset (Van Anh et al. 2020,
§5.2, Table 2, Fig. 7)."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk
import streamlit as st

from engine.config import RunConfig, ValidateParams
from engine.errors import GroundwatchError
from engine.mapview import LegendEntry
from engine.tables import cell_text
from engine.uploads import read_gnss_upload
from engine.validate import ValidationResult, validate_dataset
from pages._shared import data
from pages._shared.gate import unlocked, upload_limit_bytes
from pages._shared.maps import deck, legend, points_layer
from pages._shared.state import selected_dataset, selected_run, store_for_session
from pages._shared.tables import show_table

DEFAULTS = RunConfig().validate_
EXPECTED = """Upload GNSS benchmarks to compare with this dataset's velocities:

- **a CSV table**, one row per benchmark: `id`, `lon`, `lat` (or `x`, `y` in the dataset's
  CRS), and either a vertical rate `rate_mm_yr` (optionally `ve`, `vn` and sigmas), or two
  campaigns `up1_mm, date1, up2_mm, date2`, or a `series` column naming `.tenv3` files
  uploaded with it;
- **one or more NGL `.tenv3` daily series**, each a benchmark, fitted over the dataset's dates;
- a `# Format: lon lat VE VN VU SE SN SU name` velocity table (`.txt`).

Each benchmark is compared with the mean (or median) velocity of the points within the
radius, the GNSS motion projected on their line of sight (as Van Anh et al. 2020 did: within
20 m, the mean)."""
MATCHED, UNMATCHED = [26, 150, 65, 230], [215, 48, 39, 230]
ROW_COLUMNS = (
    "id geometry n_points nearest_m components gnss_rate gnss_rate_std insar_velocity "
    "insar_spread deviation matched"
).split()


def _fmt(value: float | None, unit: str = " mm/yr", digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "— (too few benchmarks)"
    return f"{value:.{digits}f}{unit}"


def scatter(result: ValidationResult) -> go.Figure:
    """GNSS rate vs InSAR velocity, the 1:1 line and the trend line whose R² is shown."""
    m, s = result.matched, result.stats
    fig = go.Figure()
    for g, part in m.groupby("geometry", dropna=False):
        fig.add_scatter(
            x=part["gnss_rate"],
            y=part["insar_velocity"],
            mode="markers",
            name=str(g),
            text=part["id"],
            error_x={"array": part["gnss_rate_std"]},
            hovertemplate="%{text}: GNSS %{x:.2f}, InSAR %{y:.2f} mm/yr",
        )
    ends = [
        min(m["gnss_rate"].min(), m["insar_velocity"].min()),
        max(m["gnss_rate"].max(), m["insar_velocity"].max()),
    ]
    fig.add_scatter(
        x=ends, y=ends, mode="lines", name="1:1", line={"dash": "dash", "color": "grey"}
    )
    if math.isfinite(s["slope"]):
        trend = [s["intercept"] + s["slope"] * e for e in ends]
        fig.add_scatter(x=ends, y=trend, mode="lines", name="trend", line={"color": "black"})
    r2 = "n/a" if not math.isfinite(s["r2"]) else f"{s['r2']:.3f}"
    fig.update_layout(
        title=f"GNSS vs InSAR, {len(m)} matched (benchmark × geometry), R² = {r2}",
        xaxis_title="GNSS rate (mm/yr)",
        yaxis_title="InSAR velocity (mm/yr)",
    )
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def benchmark_map(result: ValidationResult, radius_m: float, result_dataset: str) -> pdk.Deck:
    """Benchmarks (their matching circle; matched green, unmatched red) and matched points."""
    rows = result.rows
    marks = pd.DataFrame(
        {
            "lon": rows["lon"],
            "lat": rows["lat"],
            "colour": [MATCHED if ok else UNMATCHED for ok in rows["matched"]],
            "label": [
                f"{r.id} ({r.geometry} pass): GNSS {cell_text('gnss_rate', r.gnss_rate)}, "
                f"InSAR {cell_text('insar_velocity', r.insar_velocity)} mm/yr, "
                f"{r.n_points} points within {radius_m:g} m"
                for r in rows.itertuples()
            ],
        }
    )
    pts = result.points if result.points is not None else pd.DataFrame()
    dots = pd.DataFrame(
        {
            "lon": pts.get("lon", []),
            "lat": pts.get("lat", []),
            "label": [
                f"point {r.pid} → {r.id}: {cell_text('velocity', r.velocity)} mm/yr"
                for r in pts.itertuples()
            ],
        }
    )
    run = selected_run()
    background = []
    if run is not None and run.dataset == result_dataset:
        background = [points_layer(data.background_points(str(store.root), run.run_id)[0])]
    layers = [
        *background,
        pdk.Layer(
            "ScatterplotLayer",
            marks,
            get_position=["lon", "lat"],
            get_radius=radius_m,
            get_fill_color="colour",
            opacity=0.35,
            stroked=True,
            get_line_color="colour",
            line_width_min_pixels=2,
            radius_min_pixels=6,
            pickable=True,
        ),
        pdk.Layer(
            "ScatterplotLayer",
            dots,
            get_position=["lon", "lat"],
            get_radius=1.5,
            get_fill_color=[44, 123, 182, 230],
            radius_min_pixels=2,
            pickable=True,
        ),
    ]
    bounds = (marks["lon"].min(), marks["lat"].min(), marks["lon"].max(), marks["lat"].max())
    return deck(layers, bounds, tooltip={"text": "{label}"}, width_px=480, height_px=450)


st.title("GNSS validation")
store, dataset = store_for_session(), selected_dataset()
if dataset is None:
    st.info("No dataset in the store yet.")
    st.stop()
info = store.dataset(dataset)
if not unlocked("GNSS uploads"):
    st.stop()
uploads = st.file_uploader(
    "GNSS benchmarks",
    type=["csv", "txt", "tenv3"],
    accept_multiple_files=True,
    help="A table, or .tenv3 files",
)
c = st.columns(4)
geometry = c[0].selectbox("Geometry", ["all", *sorted(info.points)], key="geometry")
radius_m = c[1].slider("Radius (m)", 5.0, 200.0, DEFAULTS.radius_m, 5.0, key="radius_m")
statistic = c[2].radio(
    "Statistic",
    ["mean", "median"],
    key="statistic",
    horizontal=True,
    index=["mean", "median"].index(DEFAULTS.statistic),
)
direction = c[3].radio(
    "Direction",
    ["los", "vertical"],
    key="direction",
    horizontal=True,
    index=["los", "vertical"].index(DEFAULTS.direction),
)
if not uploads:
    st.info(EXPECTED)
    st.stop()
params = ValidateParams.model_validate(
    DEFAULTS.model_dump() | {"radius_m": radius_m, "statistic": statistic, "direction": direction}
)
try:
    files = [(u.name, u.getvalue()) for u in uploads]
    benchmarks = read_gnss_upload(files, max_bytes=upload_limit_bytes())
    result = validate_dataset(
        store, dataset, benchmarks, params=params, geometry=None if geometry == "all" else geometry
    )
except GroundwatchError as exc:
    st.error(str(exc))
    st.stop()

s = result.summary()
m = st.columns(5)
m[0].metric("Benchmarks matched", f"{result.matched['id'].nunique()} of {s['n_benchmarks']}")
m[1].metric("R²", _fmt(s["r2"], "", 3))
m[2].metric("Bias (GNSS − InSAR)", _fmt(s["bias"]))
m[3].metric("Mean |deviation|", _fmt(s["mean_abs_deviation"]))
m[4].metric("RMSE", _fmt(s["rmse"]))
for note in result.notes:
    st.caption(note)
show_table(result.rows, [c for c in ROW_COLUMNS if c in result.rows])
st.download_button(
    "Download the deviations (CSV)",
    result.rows.to_csv(index=False),
    file_name=f"gnss-validation-{dataset}.csv",
    mime="text/csv",
)
left, right = st.columns(2)
if len(result.matched):
    left.plotly_chart(scatter(result))
else:
    left.warning(f"No benchmark has a point within {radius_m:g} m: widen the radius.")
with right:
    st.pydeck_chart(benchmark_map(result, radius_m, dataset), height=450)
    legend("Benchmarks", [LegendEntry(f"matched (a point within {radius_m:g} m)", tuple(MATCHED)),
                          LegendEntry("unmatched", tuple(UNMATCHED)),
                          LegendEntry("points compared", (44, 123, 182, 230))])  # fmt: skip
