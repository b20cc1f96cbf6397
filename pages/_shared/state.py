"""Session-wide state of the dashboard: the store, and the dataset and run the sidebar picked."""

from __future__ import annotations

import streamlit as st

from engine.runs import RunInfo, get_run
from engine.store import Store

DATASET_KEY = "dataset"
RUN_KEY = "run"
PENDING_RUN_KEY = "pending_run"


def store_for_session() -> Store:
    """The store named by ``$GROUNDWATCH_HOME``, else ``cache/``.

    Not cached: a Store holds no connection (each query opens and closes one), so a fresh
    object is free and always follows the environment.
    """
    return Store()


def selected_dataset() -> str | None:
    """The dataset picked in the sidebar, or None when the store has none."""
    return st.session_state.get(DATASET_KEY)


def selected_run() -> RunInfo | None:
    """The finished run picked in the sidebar, or None when the dataset has none."""
    run_id = st.session_state.get(RUN_KEY)
    if not run_id:
        return None
    return get_run(store_for_session(), run_id)


def require_run() -> RunInfo:
    """The selected run; stops the page with a hint when there is none."""
    run = selected_run()
    if run is None:
        st.info(
            "No finished detection run for this dataset yet. Start one on **Region rerun**, "
            "or from a terminal: `python -m engine detect --dataset NAME`."
        )
        st.stop()
    return run


def select_run(run_id: str) -> None:
    """Make ``run_id`` the sidebar's run from the next rerun on (the widget owns its key)."""
    st.session_state[PENDING_RUN_KEY] = run_id
