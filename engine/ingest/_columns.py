"""Recognising columns, units and geometry in third-party point products."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from engine.errors import InputError
from engine.timeseries import parse_date_columns
from engine.types import Geometry

# Role -> names seen in EGMS, StaMPS/ascii exports, SqueeSAR/Ground Motion Service tables.
# Compared case-insensitively after stripping unit suffixes such as "_mm_yr" or "(mm/yr)".
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "pid": ("pid", "id", "point_id", "ps_id", "code", "fid"),
    "lon": ("lon", "longitude", "long", "lng"),
    "lat": ("lat", "latitude"),
    "easting": ("easting", "east", "x"),
    "northing": ("northing", "north", "y"),
    "velocity": (
        "velocity",
        "mean_velocity",
        "vel",
        "v",
        "los_velocity",
        "vel_los",
        "velocity_los",
        "rate",
        "mean_vel",
        "average_velocity",
        "vlos",
    ),
    "velocity_std": (
        "velocity_std",
        "mean_velocity_std",
        "vel_std",
        "v_std",
        "std_velocity",
        "velocity_sigma",
        "sigma_velocity",
        "vel_sd",
        "v_stdev",
        "velocity_stdev",
    ),
    "los_east": ("los_east", "los_e", "lose"),
    "los_north": ("los_north", "los_n", "losn"),
    "los_up": ("los_up", "los_u", "losu"),
    "track_angle": ("track_angle", "heading", "heading_deg", "track_heading"),
    "pass_direction": ("pass", "pass_direction", "orbit_direction", "direction", "geometry"),
    "track": ("track", "relative_orbit", "rel_orbit"),
}

ROLES = tuple(ROLE_NAMES)
NUMERIC_ROLES = frozenset(ROLES) - {"pid", "pass_direction", "track"}

_UNIT_SUFFIX = re.compile(
    r"(?P<sep>^|[\s_\[(]+)(?P<unit>mm|cm|m|millimet(?:er|re)s?|centimet(?:er|re)s?|met(?:er|re)s?)"
    r"(?P<rate>\s*(?:/|_|per)\s*(?:yr|y|year|a))?[\])]?$",
    re.IGNORECASE,
)
_LENGTH_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}


class Units(NamedTuple):
    """A length unit as a factor to millimetres, and whether values are per year."""

    to_mm: float
    rate: bool


def parse_units(text: str, *, origin: str = "--units") -> Units:
    """Parse ``mm``, ``cm/yr``, ``m``, ``meters``, ``mm/a`` ... into :class:`Units`.

    Examples
    --------
    >>> parse_units("cm/yr")
    Units(to_mm=10.0, rate=True)
    >>> parse_units("meters")
    Units(to_mm=1000.0, rate=False)
    """
    found = _UNIT_SUFFIX.fullmatch(text.strip())
    if not found:
        raise InputError(
            origin, f"unknown units {text!r}", "mm, cm or m, optionally per year (mm/yr)"
        )
    unit = found["unit"].lower()
    if unit not in _LENGTH_TO_MM:
        unit = "mm" if unit.startswith("milli") else "cm" if unit.startswith("centi") else "m"
    return Units(_LENGTH_TO_MM[unit], rate=bool(found["rate"]))


def unit_from_name(name: str) -> tuple[str, Units | None]:
    """Split a unit suffix off a column name: ``"vel_mm_yr"`` → ``("vel", mm/yr)``."""
    found = _UNIT_SUFFIX.search(name)
    if found and found.start() > 0:
        return name[: found.start()], parse_units(name[found.end("sep") :], origin=name)
    return name, None


def recognise(
    names: Sequence[str], overrides: Mapping[str, str], *, path: str
) -> tuple[dict[str, str], dict[str, Units]]:
    """Map roles to column names, and note units carried in the names.

    ``overrides`` (role → column, from ``--column ROLE=NAME``) win over recognition.
    """
    found: dict[str, str] = {}
    units: dict[str, Units] = {}
    for role, column in overrides.items():
        if role not in ROLE_NAMES:
            raise InputError("--column", f"unknown role {role!r}", f"one of {', '.join(ROLES)}")
        if column not in names:
            raise InputError(
                path,
                f"no column {column!r} (given by --column {role}=)",
                f"one of {', '.join(names[:12])}",
            )
        found[role] = column
    taken = set(found.values())
    for name in names:
        base, unit = unit_from_name(name)
        for role, aliases in ROLE_NAMES.items():
            if role in overrides or name in taken:
                continue
            if base.lower() in aliases or name.lower() in aliases:
                if role in found:
                    _second_match(path, role, found[role], name)
                    continue
                found[role] = name
                taken.add(name)
                if unit is not None:
                    units[role] = unit
    for name in {n for n, k in Counter(names).items() if k > 1} & set(found.values()):
        raise InputError(path, "column appears twice in the header", "unique names", column=name)
    # "x"/"y" are easting/northing only when there are no lon/lat columns.
    if "lon" in found and found.get("easting", "").lower() == "x":
        del found["easting"]
    if "lat" in found and found.get("northing", "").lower() == "y":
        del found["northing"]
    return found, units


# Two of these would leave the numbers to the column order: refuse rather than pick one.
_UNIQUE_ROLES = frozenset({"velocity", "velocity_std"})


def _second_match(path: str, role: str, first: str, second: str) -> None:
    if role in _UNIQUE_ROLES:
        raise InputError(
            path,
            f"columns {first!r} and {second!r} both look like the {role.replace('_', ' ')}",
            f"one of them, chosen with --column {role}=NAME",
        )


def date_columns(names: Sequence[str], *, path: str) -> dict[str, np.datetime64]:
    """Dated displacement columns (``YYYYMMDD`` or ``DYYYYMMDD``) → their dates, by date.

    Columns out of date order are a legitimate layout and come back sorted; a name of the
    date form that is no calendar date, or a date given twice, is an error naming the column.

    Examples
    --------
    >>> list(date_columns(["lon", "20200301", "20200101"], path="p.csv"))
    ['20200101', '20200301']
    """
    seen: dict[np.datetime64, str] = {}
    for name in names:
        try:
            found = parse_date_columns([name])
        except ValueError:
            raise InputError(
                path, "named like a date but is not one", "dates named YYYYMMDD", column=name
            ) from None
        for column, date in found.items():
            if date in seen:
                raise InputError(
                    path,
                    f"repeats the date {date} of column {seen[date]!r}",
                    "each date once",
                    column=column,
                )
            seen[date] = column
    return {column: date for date, column in sorted(seen.items())}


def parse_geometry(text: str, *, origin: str) -> Geometry:
    """``ascending``/``asc``/``A`` ... → :class:`Geometry`."""
    t = text.strip().lower()
    table = {
        "ascending": Geometry.ASCENDING,
        "asc": Geometry.ASCENDING,
        "a": Geometry.ASCENDING,
        "descending": Geometry.DESCENDING,
        "desc": Geometry.DESCENDING,
        "d": Geometry.DESCENDING,
        "vertical": Geometry.VERTICAL,
        "up": Geometry.VERTICAL,
        "u": Geometry.VERTICAL,
        "east": Geometry.EAST,
        "e": Geometry.EAST,
        "east-west": Geometry.EAST,
    }
    if t not in table:
        raise InputError(
            origin, f"unknown geometry {text!r}", "ascending, descending, vertical or east"
        )
    return table[t]


def geometry_from_heading(track_angle_deg: np.ndarray) -> np.ndarray:
    """Geometry labels from Sentinel-1 headings (EGMS ``track_angle``).

    Ascending passes head about −10°, descending about 190°.

    Examples
    --------
    >>> geometry_from_heading(np.array([-8.94, 191.42])).tolist()
    ['ascending', 'descending']
    """
    a = (np.asarray(track_angle_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0
    return np.where(np.abs(a) < 90.0, Geometry.ASCENDING.value, Geometry.DESCENDING.value)


def geometry_from_los_east(los_east: np.ndarray) -> np.ndarray:
    """Geometry labels from the east component of the ground→satellite unit vector.

    Sentinel-1 looks right: on ascending passes it looks east, so the vector points west.
    """
    east = np.asarray(los_east, dtype=np.float64)
    return np.where(east < 0, Geometry.ASCENDING.value, Geometry.DESCENDING.value)
