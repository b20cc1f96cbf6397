"""Dashboard access: who may rerun the chain and upload files, decided from the operator's secrets.

The dashboard fails closed (DESIGN.md). Reruns and uploads make the server compute and read
what a visitor sends, so they are off unless the operator's ``.streamlit/secrets.toml``
says otherwise:

* ``rerun_password = "..."`` (a non-empty string): open to whoever types it;
* ``allow_anonymous_reruns = true`` (and no password): open to anyone;
* anything else — no secrets file, one that does not parse, the key misspelt, empty or of
  the wrong type — keeps them **locked**, with one line that says why.

``rerun_max_km2`` (a positive number) sets the largest area of new tiles one rerun may
schedule (default :data:`DEFAULT_MAX_KM2`).

This module is pure: the dashboard reads the secrets (``st.secrets``) and passes the mapping,
or the error raised while reading it, so the decision can be tested without Streamlit.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DEFAULT_MAX_KM2",
    "SETTINGS",
    "Access",
    "check_password",
    "decide_access",
    "how_to_open",
    "rerun_size_error",
]

PASSWORD_KEY = "rerun_password"
ANONYMOUS_KEY = "allow_anonymous_reruns"
MAX_KM2_KEY = "rerun_max_km2"
SETTINGS = (PASSWORD_KEY, ANONYMOUS_KEY, MAX_KM2_KEY)
DEFAULT_MAX_KM2 = 2_500.0  # four default 25 km tiles: minutes on a laptop, not hours
_HOW = f'set {PASSWORD_KEY} = "..." (or {ANONYMOUS_KEY} = true) in .streamlit/secrets.toml'


@dataclass(frozen=True)
class Access:
    """What the operator's settings allow.

    ``mode`` is ``"open"`` (anyone), ``"password"`` (whoever types it) or ``"locked"``
    (nobody: the dashboard cannot unlock it). ``reason`` says why in one line, for the page
    and the log, when locked (empty otherwise). ``token`` identifies the password without
    holding it (a session that unlocked keeps it, and loses it when the password changes).
    """

    mode: Literal["open", "password", "locked"]
    reason: str = ""
    max_km2: float = DEFAULT_MAX_KM2
    token: str = ""
    broken: bool = False
    """Locked because the secrets file exists but cannot be read."""
    detail: str = ""
    """For the server log only: the parse error (it names the server's path)."""
    _password: str = field(default="", repr=False)


def decide_access(
    secrets: Mapping[str, Any] | None, *, error: BaseException | str | None = None
) -> Access:
    """Decide reruns and uploads from the operator's secrets.

    Parameters
    ----------
    secrets
        The parsed secrets (``st.secrets.to_dict()``); None when there is no secrets file.
    error
        The error raised while reading a secrets file that exists (a TOML syntax error).

    Returns
    -------
    Access
        Locked unless the settings are present and well-formed (see the module docstring).

    Examples
    --------
    >>> decide_access(None).mode
    'locked'
    >>> decide_access({"rerun_password": "s3cret"}).mode
    'password'
    >>> decide_access({"allow_anonymous_reruns": True}).mode
    'open'
    >>> decide_access({"rerun_pasword": "s3cret"}).reason
    "unknown setting 'rerun_pasword' (did you mean 'rerun_password'?)"
    """
    if error is not None:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        reason = "the secrets file cannot be read (see the server log)"
        return Access("locked", reason, broken=True, detail=detail)
    secrets = dict(secrets or {})
    problem, max_km2 = _max_km2(secrets.get(MAX_KM2_KEY, DEFAULT_MAX_KM2))
    password = secrets.get(PASSWORD_KEY)
    anonymous = secrets.get(ANONYMOUS_KEY, False)
    if problem is None and PASSWORD_KEY in secrets:
        if not isinstance(password, str) or not password.strip():
            problem = f"{PASSWORD_KEY} is empty or not a string"
    if problem is None and not isinstance(anonymous, bool):
        problem = f"{ANONYMOUS_KEY} is {anonymous!r}, not true or false"
    if problem is None and PASSWORD_KEY in secrets:
        token = hashlib.sha256(f"groundwatch:{password}".encode()).hexdigest()
        return Access("password", max_km2=max_km2, token=token, _password=str(password))
    if problem is None and anonymous:
        return Access("open", max_km2=max_km2)
    if problem is None:
        problem = _unknown_keys(secrets) or f"no {PASSWORD_KEY} or {ANONYMOUS_KEY} is set"
    return Access("locked", problem, max_km2=max_km2)


def check_password(access: Access, typed: str) -> bool:
    """Whether ``typed`` is the password (in constant time; never for an open or locked gate)."""
    if access.mode != "password" or not typed:
        return False
    return hmac.compare_digest(typed.encode(), access._password.encode())


def rerun_size_error(tiles: int, scheduled_km2: float, access: Access) -> str | None:
    """Why a rerun that schedules ``tiles`` new tiles over ``scheduled_km2`` is too large.

    The limit is on the tiles the region schedules (whole tiles are computed), not on the
    region's own area: 81 squares of 50 m in 81 tiles cost 81 tiles.

    Examples
    --------
    >>> rerun_size_error(81, 81 * 625.0, Access("open"))[:40]
    'The region schedules 81 new tiles coveri'
    >>> rerun_size_error(1, 625.0, Access("open")) is None
    True
    """
    if scheduled_km2 <= access.max_km2:
        return None
    return (
        f"The region schedules {tiles} new tile{'s' * (tiles != 1)} covering "
        f"{scheduled_km2:,.0f} km² of the dataset (whole tiles are computed); reruns from the "
        f"dashboard are limited to "
        f"{access.max_km2:,.0f} km². Draw a smaller region, or use the command line."
    )


def _max_km2(value: Any) -> tuple[str | None, float]:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and math.isfinite(value) and value > 0:
        return None, float(value)
    return f"{MAX_KM2_KEY} is {value!r}, not a positive number", DEFAULT_MAX_KM2


def _unknown_keys(secrets: Mapping[str, Any]) -> str:
    """A hint for a misspelt setting: the first unknown key close to a known one."""
    for key in secrets:
        close = difflib.get_close_matches(str(key), SETTINGS, n=1, cutoff=0.75)
        if key not in SETTINGS and close:
            return f"unknown setting {key!r} (did you mean {close[0]!r}?)"
    return ""


def how_to_open() -> str:
    """The one sentence that tells an operator how to open reruns and uploads."""
    return _HOW
