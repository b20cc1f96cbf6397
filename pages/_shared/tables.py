"""Tables drawn the same way on every page: friendly names, units, no NaN (engine.tables)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from engine.tables import display_table


def show_table(frame, columns: Sequence[str] | None = None, **dataframe_kwargs):
    """``st.dataframe`` of ``frame`` (or its ``columns``) as a person reads it; returns what
    ``st.dataframe`` returns (row selections index the same rows, in the same order)."""
    table = display_table(frame, columns)
    config = {}
    for label in table.frame.columns:
        fmt, help_ = table.formats.get(label), table.helps.get(label)
        if fmt is not None:
            config[label] = st.column_config.NumberColumn(label, format=fmt, help=help_)
        elif help_:
            config[label] = st.column_config.Column(label, help=help_)
    dataframe_kwargs.setdefault("hide_index", True)
    return st.dataframe(table.frame, column_config=config, **dataframe_kwargs)
