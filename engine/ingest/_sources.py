"""Opening third-party products as streams of Arrow batches with known roles and units.

Every reader returns a :class:`Source`: which column plays which role, what units and
geometry the product states, and a function that streams its rows. Nothing is projected or
converted here; :mod:`engine.ingest._normalise` does that, the same way for every format.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from engine.errors import InputError
from engine.ingest._columns import (
    NUMERIC_ROLES,
    Units,
    date_columns,
    recognise,
)
from engine.ingest._text import Dialect, csv_error, read_header
from engine.types import Geometry

logger = logging.getLogger(__name__)

_EGMS_NAME = re.compile(
    r"EGMS_(?P<level>L2a|L2b|L3)_(?:(?P<track>\d{3})_\d{4}_IW\d_VV|E\d+N\d+_100km_(?P<comp>[EU]))",
    re.IGNORECASE,
)
_EGMS_CRS = "EPSG:3035"  # EGMS easting/northing: ETRS89-LAEA
TABLE_SUFFIXES = {".csv", ".txt", ".zip", ".parquet", ".pq"}
VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".fgb"}
RASTER_SUFFIXES = {".tif", ".tiff"}
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)  # what a corrupt member raises
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_BOMB_MIN_BYTES = 64 << 20  # a member this large ...
_BOMB_RATIO = 100  # ... compressed more than this is refused before it is inflated


@dataclass
class Source:
    """A product opened for reading, before any conversion."""

    path: Path
    label: str
    kind: str
    roles: dict[str, str]
    units: dict[str, Units]
    dates: dict[str, np.datetime64]
    batches: Callable[[int], Iterator[pa.RecordBatch]]
    native_crs: str | None = None
    geometry: Geometry | None = None
    track: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # every file read, when more than path
    byte_range: tuple[int, int] | None = None  # a part of a plain CSV, see window()
    overrides: Mapping[str, str] = field(default_factory=dict)
    name_geometry: Geometry | None = None  # what the file or layer name says, to check only

    def window(self, start: int, stop: int) -> Source:
        """The rows of a plain CSV between two byte offsets that begin lines.

        Parts of one file can then be read by separate processes; ``rows_before`` gives
        the row numbers back their place in the whole file.
        """
        with open(self.path, "rb") as fh:
            header, dialect = read_header(fh, self.path)
        return _csv_source(
            self.path,
            self.label,
            header,
            dialect,
            lambda: io.BufferedReader(_Window(self.path, start, stop)),
            self.overrides,
            byte_range=(start, stop),
        )

    def rows_before(self) -> int:
        """Data rows in the file before this part (0 for a whole file)."""
        if self.byte_range is None:
            return 0
        count, left = 0, self.byte_range[0]
        with open(self.path, "rb") as fh:
            while left > 0:
                chunk = fh.read(min(left, 1 << 24))
                count += chunk.count(b"\n")
                left -= len(chunk)
        return count - 1  # the header line


class _Window(io.RawIOBase):
    """A read-only view of bytes ``[start, stop)`` of a file."""

    def __init__(self, path: Path, start: int, stop: int) -> None:
        self._fh = open(path, "rb")
        self._fh.seek(start)
        self._left = stop - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = self._fh.readinto(memoryview(buffer)[: max(0, min(len(buffer), self._left))])
        self._left -= n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


_NAMED_PASS = re.compile(r"(?<![a-z])(asc|ascending|desc|dsc|descending)(?![a-z])", re.IGNORECASE)


def geometry_in_name(*names: str) -> Geometry | None:
    """Ascending or descending as a file or layer name says it (``S1_Asc_T117.gpkg``).

    Only ever compared with what the data say; never used to label points.

    Examples
    --------
    >>> geometry_in_name("ps_desc_track_22.csv").value
    'descending'
    >>> geometry_in_name("description.csv") is None
    True
    """
    found = {
        Geometry.ASCENDING if m.lower().startswith("a") else Geometry.DESCENDING
        for name in names
        for m in _NAMED_PASS.findall(name)
    }
    return found.pop() if len(found) == 1 else None


def line_starts(path: Path, parts: int) -> list[int]:
    """Byte offsets splitting a CSV's rows into ``parts`` pieces at line starts."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.readline()
        bounds = [fh.tell()]
        for k in range(1, parts):
            fh.seek(max(bounds[-1], size * k // parts))
            fh.readline()
            bounds.append(fh.tell())
    bounds.append(size)
    return sorted(set(bounds))


def open_table(path: Path, overrides: Mapping[str, str]) -> Source:
    """A CSV, an EGMS zip (CSV + XML) or a Parquet file of points."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _open_zip(path, overrides)
    if suffix in (".parquet", ".pq"):
        return _open_parquet(path, overrides)
    with open(path, "rb") as fh:
        header, dialect = read_header(fh, path)
    return _csv_source(path, str(path), header, dialect, lambda: open(path, "rb"), overrides)


def _open_zip(path: Path, overrides: Mapping[str, str]) -> Source:
    try:
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(path, f"not a readable zip archive ({exc})", "an EGMS .zip") from None
    if len(members) != 1:
        raise InputError(path, f"holds {len(members)} CSV files", "exactly one CSV member")
    member = members[0]
    label = f"{path}:{member}"
    info = archive.getinfo(member)
    if info.flag_bits & 0x1:
        raise InputError(path, f"member {member} is encrypted", "an archive without a password")
    if info.compress_type not in _ZIP_METHODS:
        raise InputError(
            path,
            f"member {member} is compressed by method {info.compress_type}, which cannot be read",
            "deflate, bzip2 or lzma (or no) compression",
        )
    _check_inflation(path, info)

    def opener() -> io.BufferedIOBase:
        return zipfile.ZipFile(path).open(member)  # type: ignore[return-value]

    try:
        with opener() as fh:
            header, dialect = read_header(fh, Path(label))
    except _ZIP_ERRORS as exc:
        raise InputError(path, f"corrupt zip member {member} ({exc})", "an EGMS .zip") from None
    return _csv_source(path, label, header, dialect, opener, overrides)


def _check_inflation(path: Path, member: zipfile.ZipInfo) -> None:
    """Refuse a member that would inflate far beyond what CSV text compresses to.

    The sizes are the ones the archive declares; :mod:`zipfile` never inflates a member past
    its declared size (and checks its CRC), so a lying archive fails when read instead.
    EGMS CSVs compress about 4×.
    """
    ratio = member.file_size / max(member.compress_size, 1)
    if member.file_size > _BOMB_MIN_BYTES and ratio > _BOMB_RATIO:
        raise InputError(
            path,
            f"member {member.filename} would inflate {ratio:.0f}× to "
            f"{member.file_size / 2**20:.0f} MiB",
            f"CSV text compressed at most {_BOMB_RATIO}× (unzip it yourself if it is genuine)",
        )


def _csv_source(
    path: Path,
    label: str,
    header: list[str],
    dialect: Dialect,
    opener: Callable[[], io.BufferedIOBase],
    overrides: Mapping[str, str],
    *,
    byte_range: tuple[int, int] | None = None,
) -> Source:
    roles, units = recognise(header, overrides, path=label)
    dates = date_columns(header, path=label)
    source = Source(
        path,
        label,
        "table",
        roles,
        units,
        dates,
        batches=lambda n: iter(()),
        byte_range=byte_range,
        overrides=dict(overrides),
    )
    _apply_egms(source, Path(label).name)
    source.name_geometry = geometry_in_name(*Path(label.replace(":", "/")).parts[-2:])
    wanted = [*roles.values(), *dates]
    types = {c: pa.float64() for r, c in roles.items() if r in NUMERIC_ROLES}
    types |= {c: pa.float32() for c in dates}
    types |= {c: pa.string() for r, c in roles.items() if r not in NUMERIC_ROLES}

    def batches(batch_rows: int) -> Iterator[pa.RecordBatch]:
        # ~60 bytes a row for a velocity table; dated columns make rows much longer
        block = int(min(max(batch_rows * (60 + 6 * len(dates)), 1 << 20), 1 << 28))
        with opener() as fh:
            try:
                reader = pacsv.open_csv(
                    fh,
                    # our header, not Arrow's: its names are stripped and its dialect sniffed
                    read_options=pacsv.ReadOptions(
                        block_size=block, column_names=header, skip_rows=0 if byte_range else 1
                    ),
                    parse_options=pacsv.ParseOptions(delimiter=dialect.delimiter),
                    convert_options=pacsv.ConvertOptions(
                        column_types=types,
                        include_columns=wanted,
                        strings_can_be_null=True,
                        decimal_point=dialect.decimal,
                    ),
                )
                yield from reader
            except pa.ArrowInvalid as exc:
                raise csv_error(
                    label, opener, header, dialect, exc, has_header=not byte_range, block=block
                ) from None
            except _ZIP_ERRORS as exc:
                raise InputError(label, f"corrupt archive ({exc})", "an intact .zip") from None

    source.batches = batches
    return source


def _open_parquet(path: Path, overrides: Mapping[str, str]) -> Source:
    try:
        pfile = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, f"not a readable Parquet file ({exc})", "a Parquet file") from None
    names = pfile.schema_arrow.names
    roles, units = recognise(names, overrides, path=str(path))
    dates = date_columns(names, path=str(path))
    wanted = [*roles.values(), *dates]
    for role, column in roles.items():
        kind = pfile.schema_arrow.field(column).type
        if role in NUMERIC_ROLES and not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            raise InputError(path, f"column holds {kind}", "numbers", column=column)

    def batches(batch_rows: int) -> Iterator[pa.RecordBatch]:
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=wanted)

    source = Source(path, str(path), "table", roles, units, dates, batches)
    _apply_egms(source, path.name)
    source.name_geometry = geometry_in_name(path.name)
    return source


def _one_point_each(path: Path, wkb: pa.Array, rows_before: int) -> np.ndarray:
    """(n, 2) coordinates of a batch of features, each a single point."""
    import shapely

    geoms = shapely.from_wkb(wkb)
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    count = np.bincount(owner, minlength=len(geoms))
    if (count != 1).any():
        i = int(np.argmax(count != 1))
        what = "no geometry" if count[i] == 0 else f"{count[i]} points"
        raise InputError(
            path, f"feature has {what}", "one point per feature", row=rows_before + i + 1
        )
    return xy


def _apply_egms(source: Source, name: str) -> None:
    """EGMS products state their conventions in the name and the columns, not in metadata."""
    found = _EGMS_NAME.search(name)
    looks_egms = {"mean_velocity", "pid"} <= set(source.roles.values())
    if not (found or looks_egms):
        return
    source.kind = "egms"
    source.units.setdefault("velocity", Units(1.0, rate=True))
    source.units.setdefault("velocity_std", Units(1.0, rate=True))
    source.units.setdefault("displacement", Units(1.0, rate=False))
    source.native_crs = source.native_crs or _EGMS_CRS
    if found:
        source.meta["egms_level"] = found["level"].upper()
        if found["track"]:
            source.track = found["track"]
        if found["comp"]:
            source.geometry = Geometry.VERTICAL if found["comp"].upper() == "U" else Geometry.EAST


def open_vector(path: Path, overrides: Mapping[str, str]) -> Source:
    """A GeoPackage, Shapefile or GeoJSON layer of points (coordinates from the geometry)."""
    import pyogrio

    if path.suffix.lower() == ".shp":
        for sidecar, holds in ((".dbf", "the attribute table"), (".shx", "the index")):
            if not any(path.with_suffix(s).exists() for s in (sidecar, sidecar.upper())):
                raise InputError(
                    path,
                    f"missing sidecar {path.with_suffix(sidecar).name} ({holds})",
                    "the .shp with its .shx and .dbf beside it",
                )
    try:
        info = pyogrio.read_info(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise InputError(path, f"not a readable vector file ({exc})", "a point layer") from None
    if info["geometry_type"] not in ("Point", "Point Z", "MultiPoint", "Unknown"):
        raise InputError(path, f"layer holds {info['geometry_type']} geometries", "points")
    names = list(info["fields"])
    roles, units = recognise(names, overrides, path=str(path))
    roles.pop("lon", None), roles.pop("lat", None)
    roles.pop("easting", None), roles.pop("northing", None)
    dates = date_columns(names, path=str(path))
    wanted = [*roles.values(), *dates]

    def batches(batch_rows: int) -> Iterator[pa.RecordBatch]:
        with pyogrio.open_arrow(path, columns=wanted, batch_size=batch_rows, use_pyarrow=True) as (
            meta,
            reader,
        ):
            geometry = meta.get("geometry_name") or "wkb_geometry"
            rows = 0
            for batch in reader:
                xy = _one_point_each(path, batch.column(geometry), rows)
                rows += batch.num_rows
                cols = {name: batch.column(name) for name in wanted}
                cols["__easting"] = pa.array(xy[:, 0])
                cols["__northing"] = pa.array(xy[:, 1])
                yield pa.RecordBatch.from_pydict(cols)

    roles["easting"], roles["northing"] = "__easting", "__northing"
    crs = info.get("crs")
    layer = str(info.get("layer_name") or "")
    return Source(
        path,
        str(path),
        "vector",
        roles,
        units,
        dates,
        batches,
        native_crs=crs,
        name_geometry=geometry_in_name(path.name, layer),
    )
