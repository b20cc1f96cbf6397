"""Uploads: files sent from a browser, read with a fixed format per extension and nothing else.

A file a visitor uploads must never make the server read one of its own files or fetch a
URL. GDAL picks a driver by content, so a "route" whose content is GDAL VRT XML (or that
names a ``/vsicurl/…`` or ``/vsizip//etc/…`` source) would read server files or make
server-side requests. So every upload here is:

* chosen by its extension from :data:`VECTOR_SUFFIXES` (GeoJSON, GeoPackage, zipped
  Shapefile, KML) or :data:`TABLE_SUFFIXES` (CSV and the GNSS text formats); anything else
  is refused;
* checked to *be* that format before GDAL sees it (JSON that parses as GeoJSON, an SQLite
  file with the GeoPackage application id, a zip of Shapefile parts only, KML without a
  DOCTYPE or network links), and refused when it holds VRT XML or a ``/vsi…`` name;
* written under a fixed name in a private temporary folder that is deleted after reading
  (uploads are not kept);
* never allowed to name other files: a zip's member paths are ignored (its parts are
  written by base name), and a GNSS table's ``series`` column may only name ``.tenv3``
  files uploaded with it (:func:`engine.ingest.read_uploaded_benchmarks`).
"""

from __future__ import annotations

import io
import json
import logging
import re
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from engine.errors import InputError

__all__ = [
    "TABLE_SUFFIXES",
    "VECTOR_SUFFIXES",
    "read_gnss_upload",
    "read_region_upload",
    "read_vector_upload",
]

logger = logging.getLogger(__name__)

VECTOR_SUFFIXES = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG",
                   ".zip": "ESRI Shapefile", ".kml": "KML"}  # fmt: skip
TABLE_SUFFIXES = (".csv", ".txt", ".tenv3")
VECTOR_EXPECTED = "a GeoJSON, GeoPackage, zipped Shapefile or KML file"
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_UNZIPPED_FACTOR = 10  # a zip may expand to this many times the upload limit, no more
_DEFAULT_MAX_BYTES = 5 << 20
_VRT = re.compile(rb"<\s*(?:ogr)?vrtdataset|<\s*ogrvrtdatasource", re.IGNORECASE)
_VSI = re.compile(rb"/vsi[a-z0-9_]*", re.IGNORECASE)
_CRS_NAME = re.compile(
    r"^(?:EPSG:\d{4,6}|urn:ogc:def:crs:(?:EPSG|OGC)::?[A-Za-z0-9.]*:?[A-Za-z0-9]+)$"
)
_GPKG_IDS = (b"GPKG", b"GP10", b"GP11")
_KML_REFUSED = re.compile(rb"<!DOCTYPE|<!ENTITY|<\s*(?:kml:)?NetworkLink\b", re.IGNORECASE)


def read_vector_upload(
    data: bytes, name: str, *, max_bytes: int = _DEFAULT_MAX_BYTES, prefer: Sequence[str] = ()
) -> gpd.GeoDataFrame:
    """Read an uploaded GeoJSON, GeoPackage, zipped Shapefile or KML as a GeoDataFrame.

    Parameters
    ----------
    data
        The file's content.
    name
        The uploaded file's name; only its extension is used (it picks the format), and it
        labels error messages.
    max_bytes
        The largest upload accepted (the dashboard's ``server.maxUploadSize``).
    prefer
        Geometry kinds (``"LineString"``, ``"Polygon"``): of a file with several layers,
        the first layer whose geometry type contains one of them is read, else the first.

    Raises
    ------
    InputError
        Another extension, a file too large, content that is not the format its extension
        says, VRT XML or a ``/vsi…`` name, or a file GDAL cannot read.

    Examples
    --------
    >>> frame = read_vector_upload(b'{"type": "Point", "coordinates": [1, 2]}', "p.geojson")
    >>> frame.geometry.item().wkt, frame.crs.to_string()
    ('POINT (1 2)', 'EPSG:4326')
    >>> read_vector_upload(b"<OGRVRTDataSource/>", "p.geojson")
    Traceback (most recent call last):
    ...
    engine.errors.InputError: p.geojson: is GDAL VRT XML, which reads other files; expected a GeoJSON, GeoPackage, zipped Shapefile or KML file
    """  # noqa: E501
    label = _label(name)
    suffix = PurePosixPath(label).suffix.lower()
    driver = VECTOR_SUFFIXES.get(suffix)
    if driver is None:
        raise InputError(label, f"unsupported file type {suffix or '(none)'!r}",
                         f"{VECTOR_EXPECTED} ({', '.join(VECTOR_SUFFIXES)})")  # fmt: skip
    _check_size(data, label, max_bytes)
    _refuse_redirects(data, label, text=driver in ("GeoJSON", "KML"))
    with tempfile.TemporaryDirectory(prefix="groundwatch-upload-") as tmp:
        folder = Path(tmp)
        if driver == "ESRI Shapefile":
            path = _unzip_shapefile(data, label, folder, max_bytes * _UNZIPPED_FACTOR)
        else:
            _check_content(driver, data, label)
            path = folder / f"upload{suffix if driver != 'GeoJSON' else '.geojson'}"
            path.write_bytes(data)
        return _read(path, label, prefer)


def read_region_upload(
    data: bytes, name: str, *, max_bytes: int = _DEFAULT_MAX_BYTES
) -> BaseGeometry:
    """The polygons of an uploaded region file, merged, in lon/lat (WGS84).

    Raises
    ------
    InputError
        As :func:`read_vector_upload`; also a file without polygons or without a CRS.

    Examples
    --------
    >>> text = b'{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}'
    >>> read_region_upload(text, "aoi.geojson").area
    0.5
    """
    label = _label(name)
    frame = read_vector_upload(data, name, max_bytes=max_bytes, prefer=("Polygon",))
    polygons = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise InputError(label, "holds no polygon", "a polygon layer (the region to run)")
    if polygons.crs is None:
        raise InputError(label, "has no CRS", "a file that states its CRS (GeoJSON: WGS84)")
    return polygons.to_crs("EPSG:4326").union_all()


def read_gnss_upload(files: Sequence[tuple[str, bytes]], *, max_bytes: int = _DEFAULT_MAX_BYTES):
    """Read uploaded GNSS benchmarks: one CSV/text table and the ``.tenv3`` files it names,
    or ``.tenv3`` files alone (:func:`engine.ingest.read_uploaded_benchmarks`).

    The files are read with Python's own parsers (never GDAL); a table's ``series`` column
    may only name files uploaded with it.

    Raises
    ------
    InputError
        Another extension, a file too large, a ``/vsi…`` name in a file, or as
        :func:`engine.ingest.read_uploaded_benchmarks`.
    """
    from engine.ingest import read_uploaded_benchmarks

    for name, data in files:
        label = _label(name)
        if not label.lower().endswith(TABLE_SUFFIXES):
            expected = f"a benchmark table or .tenv3 series ({', '.join(TABLE_SUFFIXES)})"
            raise InputError(label, "unsupported file type", expected)
        _check_size(data, label, max_bytes)
        _refuse_redirects(data, label)
    return read_uploaded_benchmarks([(_label(n), d) for n, d in files])


# ----------------------------------------------------------------------------- checks
def _label(name: str) -> str:
    """The uploaded file's base name (browsers may send folders, some with backslashes)."""
    return PurePosixPath(str(name).replace("\\", "/")).name or "upload"


def _check_size(data: bytes, label: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise InputError(label, f"is {len(data) / 2**20:.1f} MB",
                         f"a file of at most {max_bytes / 2**20:g} MB")  # fmt: skip


def _refuse_redirects(data: bytes, label: str, *, text: bool = True) -> None:
    """Refuse content that makes GDAL read other files or URLs.

    ``/vsi`` is looked for in text only: four bytes turn up by chance in megabytes of
    compressed or binary data, where GDAL does not read them as paths anyway.
    """
    if _VRT.search(data):
        raise InputError(label, "is GDAL VRT XML, which reads other files", VECTOR_EXPECTED)
    found = _VSI.search(data) if text else None
    if found:
        name = found.group().decode("ascii", "replace")
        raise InputError(label, f"names a GDAL virtual file ({name}…)",
                         "a file that holds its data, not a path to other data")  # fmt: skip


def _check_content(driver: str, data: bytes, label: str) -> None:
    if driver == "GeoJSON":
        _check_geojson(data, label)
    elif driver == "GPKG":
        if not (data.startswith(b"SQLite format 3\x00") and data[68:72] in _GPKG_IDS):
            raise InputError(label, "is not a GeoPackage (no GeoPackage header)", VECTOR_EXPECTED)
    elif driver == "KML":
        if b"<kml" not in data[:4096].lower():
            raise InputError(label, "is not KML (no <kml> element)", VECTOR_EXPECTED)
        refused = _KML_REFUSED.search(data)
        if refused:
            what = refused.group().decode("ascii", "replace").strip("<! ")
            raise InputError(label, f"holds {what}, which refers to other files",
                             "KML with its placemarks inline")  # fmt: skip


def _check_geojson(data: bytes, label: str) -> None:
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0]
        raise InputError(label, f"cannot be read (not JSON: {reason})", VECTOR_EXPECTED) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise InputError(label, 'is not GeoJSON (no "type" member)', VECTOR_EXPECTED)
    if "crs" in obj and obj["crs"] is not None:  # GDAL resolves linked CRSs: name only
        crs = obj["crs"]
        crs_name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
        if not (isinstance(crs, dict) and crs.get("type") == "name"
                and isinstance(crs_name, str) and _CRS_NAME.match(crs_name)):  # fmt: skip
            raise InputError(label, f"has a crs member {json.dumps(crs)[:80]}",
                             'a named CRS such as "EPSG:27700", or none (WGS84)')  # fmt: skip


def _unzip_shapefile(data: bytes, label: str, folder: Path, max_unzipped: int) -> Path:
    """Write the zip's Shapefile parts by base name; everything else in it is ignored."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(label, "is not a zip file", "a zipped Shapefile") from None
    with archive:
        parts = [i for i in archive.infolist() if not i.is_dir()
                 and PurePosixPath(i.filename).suffix.lower() in _SHAPEFILE_PARTS
                 and not PurePosixPath(i.filename).name.startswith(".")]  # fmt: skip
        if sum(i.file_size for i in parts) > max_unzipped:
            raise InputError(label, "expands beyond the upload limit",
                             f"at most {max_unzipped / 2**20:g} MB unzipped")  # fmt: skip
        written: set[str] = set()
        for info in parts:
            base = PurePosixPath(info.filename)
            stem = re.sub(r"[^A-Za-z0-9_-]", "_", base.stem) or "layer"
            out = f"{stem}{base.suffix.lower()}"
            if out in written:
                raise InputError(label, f"holds {base.name} twice", "one Shapefile per name")
            content = archive.read(info)
            _refuse_redirects(content, f"{label}/{base.name}", text=out.endswith((".prj", ".cpg")))
            (folder / out).write_bytes(content)
            written.add(out)
    shps = sorted(n for n in written if n.endswith(".shp"))
    if not shps:
        raise InputError(label, "holds no .shp file", "a zipped Shapefile (.shp, .shx, .dbf, .prj)")
    return folder / shps[0] if len(shps) == 1 else folder


def _read(path: Path, label: str, prefer: Sequence[str]) -> gpd.GeoDataFrame:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
        chosen = [str(n) for n, kind in layers if any(p in str(kind) for p in prefer)]
        return gpd.read_file(path, layer=chosen[0] if chosen else str(layers[0][0]))
    except Exception as exc:  # GDAL's errors (pyogrio.errors.*, OSError, IndexError)
        reason = str(exc).replace(str(path), label).splitlines()[0].split(";")[0]
        reason = reason.replace(str(path.parent), "")
        raise InputError(label, f"cannot be read ({reason})", VECTOR_EXPECTED) from exc
