"""Threshold comparison: CNN sites against the paper's velocity-thresholding baseline."""

from __future__ import annotations

import streamlit as st

from engine.baseline import threshold_key
from engine.sites import sites_at
from pages._shared import data
from pages._shared.maps import MAX_MAP_SITES, SITE_TOOLTIP, deck, sites_layer, top_sites
from pages._shared.state import require_run, store_for_session

run = require_run()
root = str(store_for_session().root)
st.title("Threshold comparison")
st.caption(
    "The paper's baseline flags every point with |velocity| above a threshold, dilates "
    "(18 px), median-filters (3×3) and keeps areas with at least 4 points. Over the UK it "
    "gave 4,064 positives where the CNN gave 258 (000 §IV-C): thresholds flag noise and "
    "atmosphere; the CNN looks for the shape of deformation."
)
c = st.columns(3)
threshold = c[0].slider("Velocity threshold (mm/yr)", 1.0, 10.0, 3.0, 0.5, key="thr_threshold")
dilation = c[1].slider("Dilation (px)", 0, 40, 18, 1, key="thr_dilation")
level = c[2].select_slider("CNN probability level", [0.5, 0.75, 0.9], 0.5, key="thr_level")

sites = data.sites(root, run.run_id)
cnn = sites_at(sites, level)
base, comparison = data.baseline_variant(root, run.run_id, threshold, dilation, level)
overlap = comparison["overlap"].get(threshold_key(threshold))

m = st.columns(4)
m[0].metric(f"CNN sites (P > {level:g})", len(cnn))
m[1].metric(f"Baseline sites (|v| ≥ {threshold:g})", len(base))
if overlap is not None:
    m[2].metric("Baseline sites meeting a CNN site", overlap["baseline_hitting_cnn"])
    m[3].metric("CNN sites meeting a baseline site", overlap["cnn_hitting_baseline"])

left, right = st.columns(2)
bounds = run.summary.get("bounds_lonlat") or data.heatmap_url(root, run.run_id)[1]
with left:
    st.subheader("CNN")
    layers = [sites_layer(top_sites(cnn), colour_by="motion")] if len(cnn) else []
    st.pydeck_chart(deck(layers, bounds, SITE_TOOLTIP), height=420, key="thr_map_cnn")
with right:
    st.subheader("Thresholding")
    layers = [sites_layer(top_sites(base), colour_by="motion")] if len(base) else []
    st.pydeck_chart(deck(layers, bounds, SITE_TOOLTIP), height=420, key="thr_map_base")

if max(len(cnn), len(base)) > MAX_MAP_SITES:
    st.caption(f"Each map shows at most the {MAX_MAP_SITES:,} highest-priority sites.")
if overlap is not None:
    ha = {k: overlap[f"{k}_area_m2"] / 1e4 for k in ("cnn", "baseline", "shared")}
    st.caption(
        f"Area: CNN {ha['cnn']:,.1f} ha, baseline {ha['baseline']:,.1f} ha, "
        f"shared {ha['shared']:,.1f} ha."
    )
