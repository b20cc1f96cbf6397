"""Tables as a person reads them: friendly column names, units, precision, no NaN or None.

The dashboard shows engine frames (sites, corridor rankings, GNSS deviations, time-series
fits, runs) whose column names are code (``n_points``, ``gnss_rate_std``). One table of
:data:`COLUMNS` names each column once, with its unit, its precision and a line of help;
a column it does not know still gets words (``some_rate_mm_yr`` → "Some rate (mm/yr)"),
so a new column never shows its raw name.

:func:`display_table` returns the frame to draw plus the number format and help of each
column; pages turn those into ``st.column_config`` without computing anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "MISSING",
    "Column",
    "DisplayTable",
    "area_text",
    "cell_text",
    "display_table",
    "label",
]

MISSING = "—"
_LOS = "along the line of sight; positive = towards the satellite"


class Column(NamedTuple):
    """How one column is shown."""

    label: str
    format: str | None = None
    """printf-style format of a number (``"%.1f"``), None for text."""
    help: str | None = None


COLUMNS: dict[str, Column] = {
    # sites (engine.sites) and baseline sites
    "site_id": Column("Site"),
    "level": Column("Probability level", "%.2f", "the site's probability exceeds this level"),
    "threshold": Column("Threshold (mm/yr)", "%.1f", "velocity threshold of the baseline"),
    "motion": Column("Motion", None, "relative to the surrounding ground"),
    "v_mean": Column("Mean velocity (mm/yr)", "%.1f", f"mean of the site's points, {_LOS}"),
    "v_min": Column("Lowest velocity (mm/yr)", "%.1f", _LOS),
    "v_max": Column("Highest velocity (mm/yr)", "%.1f", _LOS),
    "v_ring": Column("Surroundings (mm/yr)", "%.1f", "median velocity of the points around"),
    "dv": Column(
        "Relative to surroundings (mm/yr)",
        "%+.1f",
        "mean velocity minus that of the surrounding ground",
    ),
    "p_max": Column("Highest probability", "%.2f", "of deformation, from the CNN (0–1)"),
    "p_mean": Column("Mean probability", "%.2f", "of deformation, from the CNN (0–1)"),
    "n_points": Column("Points", "%d", "measurement points in the site"),
    "looks": Column("Seen from", None, "satellite passes (ascending/descending) that saw it"),
    "single_geometry": Column("One pass only", None, "not confirmed by the other pass"),
    "priority": Column(
        "Priority score",
        "%.1f",
        "mean probability × |velocity relative to the surroundings| × a "
        "factor growing slowly with area: higher = look first",
    ),
    "centroid_lon": Column("Longitude", "%.5f"),
    "centroid_lat": Column("Latitude", "%.5f"),
    # asset corridor
    "rank": Column("Rank", "%d", "by priority score"),
    "chainage_km": Column("Chainage (km)", "%.2f", "distance along the route from its start"),
    "offset_m": Column("Distance from route (m)", "%.0f"),
    # GNSS validation
    "id": Column("Benchmark"),
    "geometry": Column("Pass", None, "satellite pass (ascending/descending)"),
    "nearest_m": Column("Nearest point (m)", "%.1f"),
    "components": Column("GNSS components", None, "which GNSS directions were measured"),
    "gnss_rate": Column("GNSS rate (mm/yr)", "%.2f", "projected on the satellite's line of sight"),
    "gnss_rate_std": Column("GNSS rate uncertainty (mm/yr)", "%.2f", "one standard deviation"),
    "insar_velocity": Column("InSAR velocity (mm/yr)", "%.2f", "of the points within the radius"),
    "insar_spread": Column(
        "Spread of InSAR points (mm/yr)",
        "%.2f",
        "standard deviation of the points within the radius",
    ),
    "deviation": Column("Difference GNSS − InSAR (mm/yr)", "%+.2f"),
    "matched": Column("Matched", None, "a point lies within the radius"),
    # time series
    "pid": Column("Point"),
    "velocity": Column("Velocity (mm/yr)", "%.2f", _LOS),
    "velocity_std": Column("Velocity standard error (mm/yr)", "%.2f"),
    "n_epochs": Column("Dates", "%d", "acquisitions in the series"),
    "fitted_velocity": Column(
        "Fitted velocity (mm/yr)",
        "%.2f",
        "fitted to the dated displacements by weighted least squares",
    ),
    "fitted_velocity_std": Column("Its standard error (mm/yr)", "%.2f"),
    "product_velocity": Column(
        "Product's velocity (mm/yr)",
        "%.2f",
        "the velocity the product itself gives, for comparison",
    ),
    # runs
    "run": Column("Run"),
    "status": Column("Status"),
    "created": Column("Started"),
    "region": Column("Region"),
    "tiles": Column("Tiles", "%d"),
}
_UNITS = (  # suffix of an unknown column → unit words
    ("_mm_yr", "mm/yr"), ("_mm", "mm"), ("_km2", "km²"), ("_m2", "m²"), ("_km", "km"),
    ("_m", "m"), ("_px", "px"), ("_s", "s"),
)  # fmt: skip
_LEVEL_COUNT = re.compile(r"^p(\d+(?:\.\d+)?)$")  # run summaries: "p50" → sites at P > 0.5
_THRESHOLD_COUNT = re.compile(r"^t(\d+(?:\.\d+)?)$")  # "t3.0" → baseline at 3 mm/yr


class DisplayTable(NamedTuple):
    """A frame ready to draw: same rows and order, columns renamed to their labels."""

    frame: pd.DataFrame
    formats: dict[str, str]
    """label → printf format of the numeric columns."""
    helps: dict[str, str]
    """label → one line of help."""


def label(column: str) -> str:
    """The words for a column name.

    Examples
    --------
    >>> label("n_points"), label("p95"), label("t4.5"), label("uplift_rate_mm_yr")
    ('Points', 'Sites at P > 0.95', 'Baseline sites at 4.5 mm/yr', 'Uplift rate (mm/yr)')
    """
    if column in COLUMNS:
        return COLUMNS[column].label
    if m := _LEVEL_COUNT.match(column):
        return f"Sites at P > {float(m.group(1)) / 100:g}"
    if m := _THRESHOLD_COUNT.match(column):
        return f"Baseline sites at {float(m.group(1)):g} mm/yr"
    for suffix, unit in _UNITS:
        if column.endswith(suffix) and len(column) > len(suffix):
            return f"{_words(column[: -len(suffix)])} ({unit})"
    return _words(column)


def _words(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def area_text(area_m2: float) -> str:
    """An area in m², ha or km² with three significant figures at most.

    Examples
    --------
    >>> area_text(350), area_text(11_337_200), area_text(45_600), area_text(float("nan"))
    ('350 m²', '11.3 km²', '4.56 ha', '—')
    """
    if area_m2 is None or not math.isfinite(area_m2):
        return MISSING
    if area_m2 < 1e4:
        return f"{area_m2:,.0f} m²"
    if area_m2 < 1e6:
        return f"{_sig3(area_m2 / 1e4)} ha"
    return f"{_sig3(area_m2 / 1e6)} km²"


def _sig3(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def cell_text(column: str, value: object) -> str:
    """One value of a column as text with its precision (for tooltips); "—" when missing.

    Examples
    --------
    >>> cell_text("dv", -3.14159), cell_text("area_m2", 45_600.0), cell_text("dv", None)
    ('-3.1', '4.56 ha', '—')
    """
    if column.endswith("area_m2"):
        return area_text(value)  # type: ignore[arg-type]
    if value is None or (isinstance(value, float | np.floating) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, str):
        return value.strip() or MISSING
    fmt = COLUMNS[column].format if column in COLUMNS else None
    return fmt % value if fmt else _cell(value)


def lonlat_text(lon: float, lat: float) -> str:
    """A place as a person writes it.

    Examples
    --------
    >>> lonlat_text(-1.433321, 52.952441)
    '52.95244° N, 1.43332° W'
    """
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    return f"{abs(lat):.5f}° {ns}, {abs(lon):.5f}° {ew}"


def _area_unit(areas: pd.Series) -> tuple[str, float]:
    """One unit for a whole column, so it still sorts as numbers: km² when the typical
    area is at least 1 km², else ha."""
    typical = float(np.nanmedian(areas)) if areas.notna().any() else 0.0
    return ("km²", 1e6) if typical >= 1e6 else ("ha", 1e4)


def display_table(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> DisplayTable:
    """``frame`` (or its ``columns``) as a person reads it.

    * Columns get their :func:`label`; areas in m² are shown in ha or km² (one unit per
      column, three significant figures).
    * A missing value (NaN, None, an empty text) is shown as "—"; a numeric column holding
      any becomes text formatted with its precision, so nothing reads "nan" or "None".
    * True/False become "yes"/"no"; the geometry of a GeoDataFrame is dropped.

    Examples
    --------
    >>> t = display_table(pd.DataFrame({"n_points": [4, 12, 7],
    ...                                 "area_m2": [2500.0, 11337200.0, 60000.0],
    ...                                 "gnss_rate_std": [0.4, np.nan, 1.0]}))
    >>> t.frame.columns.tolist()
    ['Points', 'Area (ha)', 'GNSS rate uncertainty (mm/yr)']
    >>> t.frame.iloc[:, 1].tolist(), t.frame.iloc[:, 2].tolist()
    ([0.25, 1133.72, 6.0], ['0.40', '—', '1.00'])
    >>> t.formats
    {'Points': '%d', 'Area (ha)': '%.2f'}
    """
    chosen = list(columns) if columns is not None else list(frame.columns)
    out: dict[str, pd.Series] = {}
    formats: dict[str, str] = {}
    helps: dict[str, str] = {}
    for name in chosen:
        values = frame[name]
        if name != "geometry" and hasattr(values, "geom_type"):
            continue  # shapes are drawn on maps, not listed
        spec = COLUMNS.get(name, Column(label(name)))
        title, fmt = spec.label, spec.format
        if name.endswith("area_m2"):
            unit, scale = _area_unit(values)
            title = f"{_words(name[: -len('_m2')]) if name != 'area_m2' else 'Area'} ({unit})"
            values = values.astype(float) / scale
            fmt = f"%.{_decimals(values)}f"
        elif fmt is None and (_LEVEL_COUNT.match(name) or _THRESHOLD_COUNT.match(name)):
            fmt = "%d"
        if spec.help:
            helps[title] = spec.help
        out[title] = _readable(values, fmt)
        if fmt is not None and pd.api.types.is_numeric_dtype(out[title]):
            formats[title] = fmt
    shown = pd.DataFrame(out, index=frame.index).reset_index(drop=True)
    return DisplayTable(shown, formats, helps)


def _decimals(scaled: pd.Series) -> int:
    """Decimals that show two significant figures of the smallest area (0 to 3)."""
    finite = scaled[np.isfinite(scaled) & (scaled > 0)]
    if finite.empty:
        return 0
    return int(min(3, max(0, 1 - math.floor(math.log10(float(finite.min()))))))


def _readable(values: pd.Series, fmt: str | None) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.map({True: "yes", False: "no"})
    if pd.api.types.is_numeric_dtype(values):
        missing = values.isna()
        if not missing.any():
            return values
        return pd.Series(
            [
                MISSING if m else (fmt % v if fmt else f"{v:g}")
                for v, m in zip(values, missing, strict=True)
            ],
            index=values.index,
        )
    text = values.astype(object)
    blank = text.isna() | text.map(lambda v: isinstance(v, str) and not v.strip())
    return text.where(~blank, MISSING).map(lambda v: v if isinstance(v, str) else _cell(v))


def _cell(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(str(v) for v in value) or MISSING
    return str(value)
