"""Threshold comparison: CNN sites against the paper's velocity-thresholding baseline."""

from __future__ import annotations

import streamlit as st

from engine.baseline import threshold_key
from engine.tables import area_text
from pages._shared import data
from pages._shared.maps import (
    MAX_MAP_SITES,
    SITE_TOOLTIP,
    deck,
    points_layer,
    site_legend,
    sites_layer,
    top_sites,
)
from pages._shared.state import require_run, store_for_session

run = require_run()
root = str(store_for_session().root)
config = data.run_config(run)
levels = sorted(config.sites.levels)
st.title("Threshold comparison")
st.caption(
    "The simple baseline flags every point whose velocity exceeds a threshold, widens each "
    "flag by a few pixels, smooths (3×3 median) and keeps areas with at least 4 points. Over "
    "the UK it gave 4,064 areas where the neural network gave 258 (Anantrasirichai et al. 2021): "
    "thresholds flag noise and atmosphere; the network looks for the shape of deformation."
)
c = st.columns(3)
first_threshold = float(config.baseline.thresholds_mm_yr[0])
threshold = c[0].slider(
    "Velocity threshold (mm/yr)", 1.0, 10.0, first_threshold, 0.5, key="thr_threshold"
)
dilation = c[1].slider("Widen each flag by (pixels)", 0, 40, config.baseline.dilation_px, 1,
                       key="thr_dilation")  # fmt: skip
level = c[2].select_slider("Network probability level", levels, levels[0], key="thr_level",
                           format_func=lambda p: f"P > {p:g}")  # fmt: skip

sites = data.sites(root, run.run_id)
cnn = data.at_level(sites, level)
base, comparison = data.baseline_variant(root, run.run_id, threshold, dilation, level)
overlap = comparison["overlap"].get(threshold_key(threshold))

m = st.columns(4)
m[0].metric(f"Network sites (P > {level:g})", len(cnn))
m[1].metric(f"Baseline sites (|v| ≥ {threshold:g})", len(base))
if overlap is not None:
    m[2].metric("Baseline sites touching a network site", overlap["baseline_hitting_cnn"])
    m[3].metric("Network sites touching a baseline site", overlap["cnn_hitting_baseline"])

left, right = st.columns(2)
bounds = data.data_bounds(root, run.run_id)
points, _ = data.background_points(root, run.run_id)
for column, title, found, key in ((left, "Neural network", cnn, "thr_map_cnn"),
                                  (right, "Thresholding", base, "thr_map_base")):  # fmt: skip
    with column:
        st.subheader(title)
        layers = [points_layer(points)]
        if len(found):
            layers.append(sites_layer(top_sites(found), colour_by="motion"))
        st.pydeck_chart(deck(layers, bounds, SITE_TOOLTIP, width_px=480, height_px=420),
                        height=420, key=key)  # fmt: skip
site_legend("motion", levels)

if max(len(cnn), len(base)) > MAX_MAP_SITES:
    st.caption(f"Each map shows at most the {MAX_MAP_SITES:,} highest-priority sites.")
if overlap is not None:
    area = {k: area_text(overlap[f"{k}_area_m2"]) for k in ("cnn", "baseline", "shared")}
    st.caption(
        f"Area: neural network {area['cnn']}, thresholding {area['baseline']}, "
        f"both {area['shared']}."
    )
