"""Groundwatch dashboard: entry page, shared sidebar and navigation."""

from __future__ import annotations

import logging

import streamlit as st

from pages._shared.state import store_for_session

st.set_page_config(page_title="Groundwatch", page_icon="🛰️", layout="wide")
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def overview() -> None:
    """What is in the store: one row per ingested dataset."""
    st.title("Groundwatch")
    st.caption("Ground deformation found in Sentinel-1 InSAR velocity maps.")
    datasets = store_for_session().datasets()
    if not datasets:
        st.info(
            "The store is empty. Ingest a product with "
            "`python -m engine ingest PATH --name NAME` and reload."
        )
        return
    rows = []
    for d in datasets:
        s = d.summary()
        rows.append(
            {
                "dataset": s["name"],
                **{f"{g} points": n for g, n in s["points"].items()},
                "CRS": s["crs"],
                "velocity from": s["velocity_source"],
                "first date": s["first_date"],
                "last date": s["last_date"],
            }
        )
    st.metric("Datasets", len(rows))
    st.dataframe(rows, hide_index=True, use_container_width=True)


with st.sidebar:
    st.header("Groundwatch")
    names = [d.name for d in store_for_session().datasets()]
    st.selectbox("Dataset", names, key="dataset", placeholder="no datasets yet")

st.navigation([st.Page(overview, title="Overview", icon="🗺️", default=True)]).run()
