"""Cached reads of the engine for the pages (one place, so every page shares the cache)."""

from __future__ import annotations

import base64

import streamlit as st

from engine import explore
from engine.config import BaselineParams
from engine.maplayers import data_bounds as _data_bounds
from engine.maplayers import point_sample
from engine.runs import get_run, read_sites
from engine.sites import sites_at
from pages._shared.state import store_for_session


@st.cache_resource(show_spinner=False, max_entries=8)
def sites(root: str, run_id: str, baseline: bool = False):
    """A run's sites, shared by every session without copying: treat as read-only (a run's
    sites never change once it has finished)."""
    return read_sites(store_for_session(), run_id, baseline=baseline)


@st.cache_data(show_spinner="Rendering the probability map…", max_entries=8)
def heatmap_url(root: str, run_id: str) -> tuple[str, tuple[float, float, float, float]]:
    rgba, bounds = explore.heatmap(store_for_session(), run_id)
    png = base64.b64encode(explore.png_bytes(rgba)).decode()
    return f"data:image/png;base64,{png}", bounds


@st.cache_data(show_spinner="Sampling the probability at every point…", max_entries=8)
def histogram(root: str, run_id: str) -> explore.Histogram2D:
    return explore.velocity_probability(store_for_session(), run_id)


@st.cache_data(show_spinner="Thresholding the velocities…", max_entries=16)
def baseline_variant(root: str, run_id: str, threshold: float, dilation_px: int, level: float):
    params = BaselineParams(thresholds_mm_yr=(threshold,), dilation_px=dilation_px)
    return explore.baseline_variant(store_for_session(), run_id, params, level=level)


@st.cache_data(show_spinner="Reading the site's surroundings…", max_entries=16)
def site_detail(root: str, run_id: str, site_id: str) -> explore.SiteDetail:
    return explore.site_detail(store_for_session(), run_id, site_id)


@st.cache_data(show_spinner="Reading the measurement points…", max_entries=8)
def background_points(root: str, run_id: str):
    """A sample of the run's points with faint velocity colours, and where they saturate."""
    store = store_for_session()
    return point_sample(store, get_run(store, run_id))


@st.cache_data(show_spinner=False, max_entries=16)
def data_bounds(root: str, run_id: str) -> tuple[float, float, float, float]:
    """The lon/lat box of the run's data: what a map's first view fits."""
    store = store_for_session()
    return _data_bounds(store, get_run(store, run_id))


def run_config(run):
    """The run's own configuration (levels, thresholds): pages never assume the defaults."""
    return explore.run_config(run)


def at_level(sites, level: float):
    """The sites at P > ``level``: those whose highest level reaches it."""
    return sites_at(sites, level)
