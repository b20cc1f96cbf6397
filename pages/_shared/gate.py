"""Page side of the access gate: reads the secrets, asks for the password, says why it is shut.

:mod:`engine.access` decides; this only reads ``st.secrets`` and draws. Every page that
reruns the chain or accepts an upload calls :func:`unlocked` before drawing the widget.
"""

from __future__ import annotations

import logging

import streamlit as st

from engine.access import Access, check_password, decide_access, how_to_open
from engine.jobs import JobQueue

__all__ = ["read_access", "rerun_queue", "unlocked", "upload_limit_bytes"]

logger = logging.getLogger(__name__)
UNLOCK_KEY = "gate_token"  # the session's proof of the password (engine.access.Access.token)
_logged: set[str] = set()  # one log line per distinct reason, not one per page view


def read_access() -> Access:
    """The operator's decision, from ``.streamlit/secrets.toml`` as Streamlit reads it."""
    try:
        secrets, error = st.secrets.to_dict(), None
    except FileNotFoundError as exc:  # StreamlitSecretNotFoundError: missing or unreadable
        missing = getattr(exc, "error_id", None) == "no-secrets-found"
        secrets, error = None, (None if missing else exc)
    except Exception as exc:  # any other failure to read them keeps the gate shut
        secrets, error = None, exc
    access = decide_access(secrets, error=error)
    fix = "fix its syntax" if access.broken else f"to open them, {how_to_open()}"
    line = f"reruns and uploads are off: {access.detail or access.reason}; {fix}"
    if access.mode == "locked" and line not in _logged:
        _logged.add(line)
        logger.warning("%s", line)
    return access


def unlocked(what: str = "Reruns and uploads") -> bool:
    """Whether this session may rerun or upload; if not, draws why (or the password box).

    ``what`` names the feature for the one line the page shows.
    """
    access = read_access()
    if access.mode == "open":
        return True
    if access.mode == "password":
        if st.session_state.get(UNLOCK_KEY) == access.token:
            return True
        typed = st.text_input(f"{what} need the operator's password", type="password",
                              key="gate_password")  # fmt: skip
        if typed and check_password(access, typed):
            st.session_state[UNLOCK_KEY] = access.token
            return True
        if typed:
            st.error("Wrong password.")
        return False
    detail = "" if access.broken else f" To open them, {how_to_open()}."
    st.warning(f"{what} are off on this server: {access.reason}.{detail}")
    return False


def upload_limit_bytes() -> int:
    """The one upload limit: ``server.maxUploadSize`` (MB) of ``.streamlit/config.toml``."""
    return int(st.get_option("server.maxUploadSize")) << 20


@st.cache_resource
def rerun_queue() -> JobQueue:
    """The server's one rerun queue, shared by every session."""
    return JobQueue()
