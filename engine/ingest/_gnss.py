"""Ingest of GNSS benchmarks for the validation stage (004 §5.2).

Three kinds of file:

- a benchmark table, one row per benchmark: an id, lon/lat (or x/y) and one of
  a rate in mm/yr (vertical, optionally east and north), two campaign values with their
  dates (``up1_mm, date1, up2_mm, date2``), or a ``series`` column naming an NGL ``.tenv3``
  file (relative to the table). CSV, or the whitespace tables headed
  ``# Format: lon lat VE VN VU SE SN SU name`` (Strain_2d, gemlab);
- one Nevada Geodetic Laboratory ``.tenv3`` daily series, a benchmark of its own;
- a paired table such as 004 Table 2: id, a GNSS rate or displacement, an InSAR velocity.

Values are checked and converted to mm here; rates are fitted by :mod:`engine.validate`.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import re
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from engine.errors import InputError
from engine.grid import check_crs
from engine.ingest._columns import unit_from_name
from engine.ingest._tenv3 import GnssSeries, read_tenv3, read_text

__all__ = ["Benchmarks", "read_benchmarks", "read_pairs", "read_uploaded_benchmarks"]

logger = logging.getLogger(__name__)

# Compared with the column name lower-cased, its unit suffix and any "(...)" removed.
# Not engine.ingest._columns.ROLE_NAMES: there "east"/"north" are coordinates, here rates.
_ROLES: dict[str, tuple[str, ...]] = {
    role: tuple(names.split())
    for role, names in {
        "id": "id code benchmark station site name pid point_id",
        "lon": "lon longitude long lng",
        "lat": "lat latitude",
        "x": "x easting",
        "y": "y northing",
        "rate_up": "vu v_up vel_up up rate_up up_rate rate velocity vertical_rate",
        "rate_east": "ve v_east vel_east east rate_east east_rate",
        "rate_north": "vn v_north vel_north north rate_north north_rate",
        "std_up": "su sigma_up std_up up_std sig_u rate_std velocity_std sigma std",
        "std_east": "se sigma_east std_east east_std sig_e",
        "std_north": "sn sigma_north std_north north_std sig_n",
        "series": "series file tenv3 series_file",
    }.items()
}
_CAMPAIGN = {
    "value": re.compile(r"^(?:value|height|h|up|u|z|elevation|displacement)_?([12])$"),
    "date": re.compile(r"^(?:date|epoch|t|time)_?([12])$"),
    "sigma": re.compile(r"^(?:sigma|std|sd|sig|error)_?([12])$"),
}
# Sigmas this large are placeholders for "not estimated" (Strain_2d tables write Vu 0 ± 100).
_PLACEHOLDER_SIGMA_MM_YR = 99.0
_BENCHMARK_SUFFIXES = {".csv", ".txt", ".tsv", ".dat", ".tenv3"}
_RATE_TOKENS = {"yr", "year", "a", "rate", "velocity", "vel"}
TABLE_COLUMNS = tuple(
    "id row kind lon lat x y rate_east rate_north rate_up std_east std_north std_up "
    "value1_mm value2_mm sigma1_mm sigma2_mm date1 date2".split()
)


@dataclass(frozen=True)
class Benchmarks:
    """GNSS benchmarks as read, before any rate is fitted.

    ``table`` has the columns :data:`TABLE_COLUMNS`: ``id`` (str), ``row`` (1-based data row),
    ``kind`` (``rate``, ``campaign`` or ``series``), ``lon``/``lat`` (degrees), ``x``/``y``
    (metres in ``xy_crs``, or in the dataset's CRS when ``xy_crs`` is None), rates and their
    sigmas in mm/yr, campaign values and sigmas in mm and dates (``datetime64[ns]``); NaN or
    NaT where not given. ``series`` maps the id of each ``series`` benchmark to its series.
    """

    path: str
    table: pd.DataFrame
    series: dict[str, GnssSeries] = field(default_factory=dict)
    xy_crs: str | None = None


def read_benchmarks(
    path: str | Path, *, xy_crs: str | None = None, series_names: Collection[str] | None = None
) -> Benchmarks:
    """Read GNSS benchmarks: a benchmark table (CSV or whitespace) or one ``.tenv3`` file.

    Parameters
    ----------
    path
        The file. Its content decides the format: an NGL ``.tenv3`` header, a
        ``# Format: ...`` whitespace velocity table, else a CSV with a header row.
    xy_crs
        CRS of ``x``/``y`` (or ``easting``/``northing``) columns; None means the dataset's.
    series_names
        For uploads: the only names a ``series`` column may hold (files uploaded with the
        table). Anything else is refused without looking for it on disk. None: any file
        relative to the table.

    Returns
    -------
    Benchmarks
        Rates are in mm/yr unless a column name carries another unit (``vu_cm_yr``);
        campaign values need a unit in their names (``height1_m``, ``up1_mm``).

    Raises
    ------
    engine.errors.InputError
        Empty or unknown file, missing id/coordinate/rate columns, a value that is not a
        number or a date (naming its row and column), campaign dates not in order.
    """
    if xy_crs is not None:
        check_crs(xy_crs, origin="--gnss-crs")
    suffix = Path(path).suffix.lower()
    if suffix not in _BENCHMARK_SUFFIXES:
        raise InputError(
            path,
            f"unknown file type {suffix or '(none)'!r}",
            ", ".join(sorted(_BENCHMARK_SUFFIXES)),
        )
    text = read_text(path)
    first = text.lstrip().splitlines()[0]
    if suffix == ".tenv3" or first.split()[:2] == ["site", "YYMMMDD"]:
        s = read_tenv3(path)
        row = {"id": s.station, "row": 1, "kind": "series", "lon": s.lon, "lat": s.lat}
        return Benchmarks(str(path), _complete(pd.DataFrame([row])), {s.station: s}, xy_crs)
    df = _whitespace_table(text, path) if first.startswith("#") else _csv_table(path)
    if df.empty:
        raise InputError(path, "no data rows", "one row per benchmark after the header")
    roles, units = _roles(df.columns, path)
    out = pd.DataFrame(
        {"id": df[roles["id"]].astype(str).str.strip(), "row": np.arange(len(df)) + 1}
    )
    repeated = out["id"].duplicated().to_numpy()
    if repeated.any():  # results are keyed by id
        i = int(np.argmax(repeated))
        raise InputError(
            path,
            f"id {out['id'].iloc[i]!r} repeated",
            "one row per benchmark",
            column=roles["id"],
            row=i + 1,
        )
    _coordinates(df, roles, out, path)
    for role in ("rate_east", "rate_north", "rate_up", "std_east", "std_north", "std_up"):
        if role in roles:
            out[role] = _numbers(df, roles[role], path, required=role == "rate_up") * units[role]
    out = _complete(out)
    series: dict[str, GnssSeries] = {}
    if "series" in roles:
        out["kind"] = "series"
        for i, name in enumerate(df[roles["series"]].fillna("")):
            if not name.strip():
                raise InputError(
                    path, "missing value", "a .tenv3 file name", column=roles["series"], row=i + 1
                )
            if series_names is not None and name.strip() not in series_names:
                raise InputError(
                    path,
                    f"series {name.strip()!r} is not a file uploaded with the table",
                    "the name of a .tenv3 file uploaded together with it",
                    column=roles["series"],
                    row=i + 1,
                )
            s = read_tenv3(Path(path).parent / name.strip())
            series[out.at[i, "id"]] = s
            if np.isnan(out.at[i, "lon"]):  # the table's position, else the station's
                out.loc[i, ["lon", "lat"]] = s.lon, s.lat
    elif "rate_up" in roles:
        out["kind"] = "rate"
        _drop_placeholders(out, path, roles["rate_up"])
    else:
        out["kind"] = "campaign"
        _campaigns(df, out, path)
    return Benchmarks(str(path), _complete(out), series, xy_crs)


def read_uploaded_benchmarks(
    files: Sequence[tuple[str, bytes]], *, xy_crs: str | None = None
) -> Benchmarks:
    """Read benchmarks uploaded as ``(file name, content)`` pairs, e.g. from a browser.

    Either one benchmark table, whose ``series`` column may name ``.tenv3`` files uploaded
    with it, or ``.tenv3`` files only, each a benchmark. The files are written to a private
    temporary folder and read by :func:`read_benchmarks`; paths in the result and in error
    messages are the uploaded names.

    Raises
    ------
    engine.errors.InputError
        As :func:`read_benchmarks`; also no file, two files of one name, two tables, and
        ``.tenv3`` files that the table does not name.
    """
    names = [Path(name).name for name, _ in files]  # no folders from outside
    if not names:
        raise InputError("upload", "no files", "a benchmark table or .tenv3 files")
    for name in names:
        if names.count(name) > 1 or not name.strip(". "):
            raise InputError(name, "uploaded twice or unnamed", "files of distinct names")
    tables = [n for n in names if Path(n).suffix.lower() != ".tenv3"]
    if len(tables) > 1:
        raise InputError(", ".join(tables), "more than one table", "one benchmark table")
    with tempfile.TemporaryDirectory(prefix="groundwatch-gnss-") as tmp:
        folder = Path(tmp)
        for name, (_, data) in zip(names, files, strict=True):
            (folder / name).write_bytes(data)
        try:
            if tables:
                tenv3 = {n for n in names if n not in tables}
                read = read_benchmarks(folder / tables[0], xy_crs=xy_crs, series_names=tenv3)
            else:
                read = _merged([read_benchmarks(folder / n, xy_crs=xy_crs) for n in names])
        except InputError as exc:
            problem = exc.problem.replace(f"{folder}/", "")
            raise InputError(
                Path(exc.path).name, problem, exc.expected, column=exc.column, row=exc.row
            ) from None
    series = {k: s._replace(path=Path(s.path).name) for k, s in read.series.items()}
    unused = set(names) - set(tables) - {s.path for s in series.values()}
    if unused:
        raise InputError(
            ", ".join(sorted(unused)),
            f"not named in the series column of {tables[0]}",
            "only the .tenv3 files the table names",
        )
    return dataclasses.replace(read, path=", ".join(names), series=series)


def read_pairs(path: str | Path, *, gnss_span_years: float | None = None) -> pd.DataFrame:
    """Read a table of GNSS ↔ InSAR pairs already matched, such as 004 Table 2.

    The GNSS column is the one whose name holds ``gnss`` or ``gps``, the InSAR column the
    one with ``insar``, ``sentinel`` or ``psi``. A name with ``yr``/``year``/``rate``/
    ``velocity`` is a rate, else a displacement (divided by ``gnss_span_years``, as 004
    divides Δ1 by 2). Units are mm unless ``cm`` or ``m`` appears in the name.

    Returns
    -------
    pandas.DataFrame
        ``id`` (str), ``gnss_rate`` and ``insar_velocity`` (float, mm/yr), file order.

    Raises
    ------
    engine.errors.InputError
        Missing columns, non-numbers (naming the row), a displacement without a span.
    """
    read_text(path)
    df = _csv_table(path)
    if df.empty:
        raise InputError(path, "no data rows", "one row per benchmark")
    lower = {c: str(c).strip().lower() for c in df.columns}
    ident = next((c for c in df.columns if lower[c] in _ROLES["id"]), None)
    gnss = [c for c in df.columns if "gnss" in lower[c] or "gps" in lower[c]]
    insar = [c for c in df.columns if any(k in lower[c] for k in ("insar", "sentinel", "psi"))]
    if ident is None or len(gnss) != 1 or len(insar) != 1:
        raise InputError(
            path,
            f"columns {list(df.columns)} do not name one id, one GNSS and one InSAR column",
            "e.g. code, gnss_rate_mm_yr, insar_velocity_mm_yr",
        )
    out = pd.DataFrame({"id": df[ident].astype(str).str.strip()})
    g_rate, g_mm = _pair_units(gnss[0])
    s_rate, s_mm = _pair_units(insar[0])
    if not s_rate:
        raise InputError(path, "is not a rate", "an InSAR velocity in mm/yr", column=insar[0])
    g = _numbers(df, gnss[0], path) * g_mm
    if not g_rate:
        if gnss_span_years is None:
            raise InputError(
                path,
                "is a displacement, not a rate",
                "--gnss-span-years, the years between the GNSS campaigns (004 Table 2: 2)",
                column=gnss[0],
            )
        if not gnss_span_years > 0:
            raise InputError("--gnss-span-years", f"{gnss_span_years!r}", "a positive number")
        g = g / gnss_span_years
    out["gnss_rate"] = g
    out["insar_velocity"] = _numbers(df, insar[0], path) * s_mm
    return out


# ----------------------------------------------------------------------------- helpers
def _csv_table(path: str | Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, skipinitialspace=True, sep=None, engine="python")
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError) as exc:
        problem = str(exc).strip().splitlines()[-1]
        raise InputError(
            path, f"not a readable table ({problem})", "a CSV with a header row"
        ) from None


def _whitespace_table(text: str, path: str | Path) -> pd.DataFrame:
    """``# Format: lon lat VE ...`` then whitespace-separated rows (Strain_2d tables)."""
    head = text.lstrip().splitlines()[0].lstrip("#").strip()
    names = re.sub(r"^format\s*:\s*", "", head, flags=re.IGNORECASE).split()
    rows = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for i, fields in enumerate(rows, 1):
        if len(fields) > len(names):
            raise InputError(
                path, f"{len(fields)} fields", f"at most {len(names)} ({' '.join(names)})", row=i
            )
    return pd.DataFrame(
        [f + [None] * (len(names) - len(f)) for f in rows], columns=names, dtype=str
    )


def _base(name: str) -> tuple[str, float]:
    """Role-matching form of a column name and its factor to mm (1 when it has no unit)."""
    base, unit = unit_from_name(str(name).strip())
    base = re.sub(r"\s*[(\[][^)\]]*[)\]]$", "", base).strip().lower()
    return base, unit.to_mm if unit is not None else 1.0


def _roles(columns: pd.Index, path: str | Path) -> tuple[dict[str, str], dict[str, float]]:
    roles: dict[str, str] = {}
    units: dict[str, float] = {}
    for name in columns:
        base, to_mm = _base(name)
        for role, aliases in _ROLES.items():
            if role not in roles and base in aliases:
                roles[role], units[role] = name, to_mm
                break
    found = ", ".join(map(str, columns))
    if "id" not in roles:
        raise InputError(path, f"no id column among {found}", "a column id, code, station or name")
    if not ({"lon", "lat"} <= roles.keys() or {"x", "y"} <= roles.keys() or "series" in roles):
        raise InputError(path, f"no coordinate columns among {found}", "lon/lat or x/y columns")
    dated = any(_CAMPAIGN["date"].match(_base(c)[0]) for c in columns)
    if not ({"rate_up", "series"} & roles.keys() or dated):
        raise InputError(
            path,
            f"no rate, campaign or series columns among {found}",
            "a vertical rate in mm/yr (vu, rate), up1_mm/date1/up2_mm/date2, or a "
            "series column naming .tenv3 files",
        )
    return roles, units


def _numbers(
    df: pd.DataFrame, column: str, path: str | Path, *, required: bool = True
) -> NDArray[np.float64]:
    text = df[column]
    values = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values) & (text.notna().to_numpy() | required)
    if bad.any():
        i = int(np.argmax(bad))
        problem = (
            "missing value" if pd.isna(text.iloc[i]) else f"value {text.iloc[i]!r} is not a number"
        )
        raise InputError(path, problem, "a number", column=str(column), row=i + 1)
    return values


def _coordinates(
    df: pd.DataFrame, roles: dict[str, str], out: pd.DataFrame, path: str | Path
) -> None:
    for a, b, limit in (("lon", "lat", (180.0, 90.0)), ("x", "y", None)):
        if {a, b} <= roles.keys():
            for role, lim in zip((a, b), limit or (None, None), strict=True):
                v = _numbers(df, roles[role], path, required="series" not in roles)
                if lim is not None and (np.abs(v) > lim).any():
                    i = int(np.argmax(np.abs(v) > lim))
                    raise InputError(
                        path,
                        f"{role} {float(v[i])!r} out of range",
                        f"degrees within ±{lim:g}",
                        column=roles[role],
                        row=i + 1,
                    )
                out[role] = v


def _drop_placeholders(out: pd.DataFrame, path: str | Path, column: str) -> None:
    for c in ("east", "north", "up"):
        sigma = np.abs(out[f"std_{c}"].to_numpy())  # some tables publish negative sigmas
        out[f"std_{c}"] = sigma
        out.loc[sigma >= _PLACEHOLDER_SIGMA_MM_YR, [f"rate_{c}", f"std_{c}"]] = np.nan
    bad = ~np.isfinite(out["rate_up"].to_numpy())
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            path,
            "vertical rate is a placeholder (sigma ≥ 99 mm/yr)",
            "an estimated vertical rate",
            column=column,
            row=i + 1,
        )


def _campaigns(df: pd.DataFrame, out: pd.DataFrame, path: str | Path) -> None:
    found: dict[str, tuple[str, float | None]] = {}
    for name in df.columns:
        base, unit = unit_from_name(str(name).strip())
        for kind, pattern in _CAMPAIGN.items():
            m = pattern.match(base.lower())
            if m:
                found[f"{kind}{m[1]}"] = (name, unit.to_mm if unit else None)
    missing = [k for k in ("value1", "date1", "value2", "date2") if k not in found]
    if missing:
        raise InputError(
            path,
            f"campaign columns {missing} missing",
            "up1_mm, date1, up2_mm, date2 (values with a unit in the name)",
        )
    for k in ("1", "2"):
        name, to_mm = found[f"value{k}"]
        if to_mm is None:
            raise InputError(
                path, "units unknown", "a unit in the name, e.g. height1_m or up1_mm", column=name
            )
        out[f"value{k}_mm"] = _numbers(df, name, path) * to_mm
        if f"sigma{k}" in found:
            sname, sunit = found[f"sigma{k}"]
            out[f"sigma{k}_mm"] = _numbers(df, sname, path, required=False) * (sunit or to_mm)
        out[f"date{k}"] = _dates(df, found[f"date{k}"][0], path)
    back = ~(out["date2"] > out["date1"]).to_numpy()
    if back.any():
        i = int(np.argmax(back))
        raise InputError(
            path,
            f"date2 {out['date2'].iloc[i].date()} is not after date1",
            "the second campaign after the first",
            row=i + 1,
        )


def _dates(df: pd.DataFrame, column: str, path: str | Path) -> pd.Series:
    text = df[column].str.strip()
    dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            path,
            f"value {text.iloc[i]!r} is not a date",
            "an ISO date YYYY-MM-DD",
            column=str(column),
            row=i + 1,
        )
    return dates.dt.tz_localize(None) if dates.dt.tz is not None else dates


def _merged(parts: list[Benchmarks]) -> Benchmarks:
    """One benchmark set from several (one per ``.tenv3`` file)."""
    table = pd.concat([b.table for b in parts], ignore_index=True)
    repeated = table["id"].duplicated().to_numpy()
    if repeated.any():
        i = int(np.argmax(repeated))
        raise InputError(
            parts[i].path, f"station {table['id'].iloc[i]!r} repeated", "one file per station"
        )
    table["row"] = np.arange(len(table)) + 1
    series = {k: v for b in parts for k, v in b.series.items()}
    return Benchmarks(", ".join(b.path for b in parts), table, series, parts[0].xy_crs)


def _complete(out: pd.DataFrame) -> pd.DataFrame:
    for c in TABLE_COLUMNS:
        if c not in out:
            out[c] = pd.NaT if c.startswith("date") else np.nan
    return out[list(TABLE_COLUMNS)]


def _pair_units(name: str) -> tuple[bool, float]:
    tokens = set(re.split(r"[^a-z0-9]+", str(name).lower()))
    to_mm = 10.0 if "cm" in tokens else 1000.0 if "m" in tokens else 1.0
    return bool(tokens & _RATE_TOKENS), to_mm
