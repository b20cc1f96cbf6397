"""Reading Nevada Geodetic Laboratory ``.tenv3`` daily GNSS series (for 004 §5.2 validation).

Whitespace-separated, one header line, one line per day; east, north, up are an integer
plus a fractional part in metres (``_e0 + __east`` ...), with sigmas in metres and the
date as a Modified Julian Day. See ../shared/data/real/gnss_ngl_tenv3/PROVENANCE.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from engine.errors import InputError

__all__ = ["GnssSeries", "read_tenv3"]

logger = logging.getLogger(__name__)

_TENV3_HEADER = tuple(
    "site yymmmdd yyyy.yyyy mjd week d reflon e0 east n0 north u0 up ant sig_e sig_n sig_u "
    "corr_en corr_eu corr_nu latitude longitude height".split()
)
_MJD_EPOCH = np.datetime64("1858-11-17", "D")


class GnssSeries(NamedTuple):
    """A daily GNSS position series (NGL ``.tenv3``)."""

    station: str
    """Four-character station id."""
    path: str
    """File it was read from (for messages)."""
    dates: NDArray[np.datetime64]
    """``(n,)`` dates, ``datetime64[D]``, strictly increasing."""
    enu_mm: NDArray[np.float64]
    """``(3, n)`` east, north, up in mm, relative to the first epoch."""
    sigma_mm: NDArray[np.float64]
    """``(3, n)`` one-sigma errors of east, north, up in mm (all > 0)."""
    lon: float
    """Median longitude, degrees in [-180, 180)."""
    lat: float
    """Median latitude, degrees."""


def read_tenv3(path: str | Path) -> GnssSeries:
    """Read a Nevada Geodetic Laboratory ``.tenv3`` file (one station, one row per day).

    East, north and up are ``_e0 + __east``, ``____n0 + _north``, ``u0 + ____up`` (metres),
    returned in mm relative to the first day; dates come from the ``__MJD`` column.

    Raises
    ------
    engine.errors.InputError
        Naming the file, row and column, for a missing or foreign header, a row without its
        23 fields, a value that is not a number, mixed stations, dates out of order or
        repeated, and sigmas that are not positive.
    """
    lines = read_text(path).splitlines()
    header = tuple(
        h.strip("_").lower().removesuffix("(m)").removesuffix("(deg)").strip("_")
        for h in lines[0].split()
    )
    if header[:23] != _TENV3_HEADER:
        raise InputError(
            path,
            "header is not that of an NGL .tenv3 file",
            "'site YYMMMDD yyyy.yyyy __MJD week d reflon _e0(m) ...' (23 columns)",
        )
    rows = [(i, line.split()) for i, line in enumerate(lines[1:], 1) if line.strip()]
    if not rows:
        raise InputError(path, "no data rows", "one row per day after the header")
    for i, fields in rows:
        if len(fields) != len(_TENV3_HEADER):
            raise InputError(path, f"{len(fields)} fields", "23 whitespace-separated fields", row=i)
    text = np.array([f for _, f in rows])
    row_of = np.array([i for i, _ in rows])
    num = {name: _tenv3_column(text, row_of, name, path) for name in _TENV3_HEADER[3:]}
    station = text[0, 0]
    other = text[:, 0] != station
    if other.any():
        k = int(np.argmax(other))
        raise InputError(
            path,
            f"station {text[k, 0]!r} after {station!r}",
            "one station per file",
            column="site",
            row=int(row_of[k]),
        )
    dates = _MJD_EPOCH + np.rint(num["mjd"]).astype(np.int64).astype("timedelta64[D]")
    back = np.flatnonzero(np.diff(dates) <= np.timedelta64(0, "D"))
    if back.size:
        k = int(back[0]) + 1
        raise InputError(
            path,
            f"date {dates[k]} does not follow {dates[k - 1]}",
            "one row per day in date order",
            column="mjd",
            row=int(row_of[k]),
        )
    enu, sigma = [], []
    for whole, part, sig in (
        ("e0", "east", "sig_e"),
        ("n0", "north", "sig_n"),
        ("u0", "up", "sig_u"),
    ):
        # integer and fractional metres differenced apart, so no precision is lost
        enu.append(((num[whole] - num[whole][0]) + (num[part] - num[part][0])) * 1000.0)
        bad = ~(num[sig] > 0)
        if bad.any():
            k = int(np.argmax(bad))
            raise InputError(
                path,
                f"sigma {float(num[sig][k])!r} is not positive",
                "a positive sigma in metres",
                column=sig,
                row=int(row_of[k]),
            )
        sigma.append(num[sig] * 1000.0)
    lon = (float(np.median(num["longitude"])) + 180.0) % 360.0 - 180.0
    return GnssSeries(
        str(station),
        str(path),
        dates,
        np.array(enu),
        np.array(sigma),
        lon,
        float(np.median(num["latitude"])),
    )


def read_text(path: str | Path) -> str:
    """The text of a GNSS file; InputError when missing, binary or empty."""
    p = Path(path)
    try:
        if not p.is_file():
            raise InputError(p, "no such file", "an existing file")
        raw = p.read_bytes()
    except OSError as exc:  # permissions, a name too long for the file system, ...
        reason = (exc.strerror or type(exc).__name__).lower()
        raise InputError(p, f"cannot be opened ({reason})", "a readable file") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(p, "file is UTF-16 text", "UTF-8 text (save it as UTF-8)")
    try:
        text = raw.decode().replace("\r\n", "\n").replace("\r", "\n")  # as read_text() did
    except UnicodeDecodeError:
        raise InputError(p, "not a text file", "a CSV, whitespace table or .tenv3 file") from None
    if not text.strip():
        raise InputError(p, "file is empty", "a header row and one row per benchmark")
    return text


def _tenv3_column(
    text: NDArray[np.str_], row_of: NDArray[np.int_], name: str, path: str | Path
) -> NDArray[np.float64]:
    j = _TENV3_HEADER.index(name)
    try:
        values = text[:, j].astype(np.float64)
        if np.isfinite(values).all():
            return values
        raise ValueError
    except ValueError:
        for k, value in enumerate(text[:, j]):  # find the row to name, on the error path only
            try:
                if not np.isfinite(float(value)):
                    raise ValueError
            except ValueError:
                raise InputError(
                    path,
                    f"value {str(value)!r} is not a number",
                    "a number",
                    column=name,
                    row=int(row_of[k]),
                ) from None
        raise
