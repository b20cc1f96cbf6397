"""Groundwatch dashboard: navigation, the shared sidebar, and the first-run demo."""

from __future__ import annotations

import logging

import streamlit as st

from engine.demo import build_demo
from engine.runs import list_runs
from engine.tables import label
from pages._shared.state import DATASET_KEY, PENDING_RUN_KEY, RUN_KEY, store_for_session

st.set_page_config(page_title="Groundwatch", page_icon="🛰️", layout="wide")
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/map:", default=True),
    st.Page(
        "pages/velocity_probability.py",
        title="Velocity vs probability",
        icon=":material/scatter_plot:",
    ),
    st.Page("pages/thresholds.py", title="Threshold comparison", icon=":material/balance:"),
    st.Page("pages/site.py", title="Site drill-down", icon=":material/search:"),
    st.Page("pages/time_series.py", title="Time series", icon=":material/show_chart:"),
    st.Page("pages/corridor.py", title="Asset corridor", icon=":material/train:"),
    st.Page("pages/gnss_validation.py", title="GNSS validation", icon=":material/satellite_alt:"),
    st.Page("pages/rerun.py", title="Region rerun", icon=":material/refresh:"),
]


def offer_demo() -> None:
    """An empty store: explain, and offer to build the demo dataset with its run."""
    st.title("Groundwatch")
    st.info(
        "The store is empty. Build the demo — a 10 km benchmark scene with mining, tunnel, "
        "quarry, dewatering and landslide sources, ingested and detected like a real product "
        "(about a minute) — or ingest a product with `python -m engine ingest PATH --name NAME`."
    )
    if st.button("Build the demo", type="primary"):
        bar = st.progress(0.0, text="Starting")
        stages = {"scene": (0.0, 0.15), "ingest": (0.15, 0.25), "detect": (0.25, 1.0)}

        def progress(stage: str, done: int, total: int) -> None:
            lo, hi = stages[stage]
            bar.progress(lo + (hi - lo) * done / max(total, 1), text=f"{stage} {done}/{total}")

        result = build_demo(store_for_session(), progress=progress)
        st.session_state[DATASET_KEY] = result.dataset.name
        st.session_state[RUN_KEY] = result.run.run_id
        st.rerun()


def sidebar() -> None:
    """Dataset and run pickers shared by every page."""
    store = store_for_session()
    names = [d.name for d in store.datasets()]
    with st.sidebar:
        st.header("Groundwatch")
        if st.session_state.get(DATASET_KEY) not in names:
            st.session_state.pop(DATASET_KEY, None)
        dataset = st.selectbox("Dataset", names, key=DATASET_KEY)
        runs = [r for r in list_runs(store, dataset) if r.status == "finished"]
        labels = {r.run_id: _run_label(r) for r in runs}
        if st.session_state.get(PENDING_RUN_KEY) in labels:  # a page asked for this run
            st.session_state[RUN_KEY] = st.session_state.pop(PENDING_RUN_KEY)
        if st.session_state.get(RUN_KEY) not in labels:
            st.session_state[RUN_KEY] = runs[0].run_id if runs else None
        st.selectbox("Run", list(labels), format_func=labels.get, key=RUN_KEY,
                     placeholder="no run yet")  # fmt: skip


def _run_label(run) -> str:
    region = "region" if run.region else "whole dataset"
    counts = run.summary.get("sites", {})  # its own levels, lowest first
    key = next(iter(counts), None)
    words = label(key).removeprefix("Sites ") if key else ""  # "at P > 0.6"
    sites = f"{counts[key]} site{'s' * (counts[key] != 1)} {words}" if key else "no sites"
    return f"{run.created[:16]} · {region} · {sites} · {run.run_id[:6]}"


if not store_for_session().datasets():
    st.navigation([st.Page(offer_demo, title="Welcome", icon=":material/satellite_alt:")]).run()
else:
    sidebar()
    st.navigation(PAGES).run()
