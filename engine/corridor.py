"""Asset corridor: the sites within a buffer of a route, ranked, with chainage along it.

Engineers who look after a linear asset (a railway such as HS2, a road, a pipeline) read the
run's sites (:mod:`engine.sites`) along their route rather than over a map.

Definitions
-----------
* The route is every LineString/MultiLineString part of the file, in file order. Parts that
  touch end to end are merged (:func:`shapely.line_merge`) and each merged line runs in the
  direction of the first file part it holds; lines that stay apart are kept in the order of
  their first file part. Chainage runs along that concatenation: the gaps between parts add
  nothing, so it is the distance travelled along the asset.
* Distances are in metres in a projected CRS: the run CRS when given, else
  :func:`engine.grid.choose_crs` of the route (EPSG:27700 in Great Britain).
* A site is in the corridor when its polygon intersects the route buffered by ``buffer_m``
  (a distance either side, so the corridor is ``2 × buffer_m`` wide).
* ``offset_m`` is the distance from the route to the polygon, 0 when the site crosses it.
  ``chainage_m`` is the chainage (:func:`shapely.line_locate_point`) of the route's point
  nearest the polygon. That point is often not unique: a route crosses a site along a
  stretch, and runs beside a site's straight edge (a raster outline) along another. So it is
  the middle of the stretch of route within ``offset_m`` + 1 cm of the polygon (of both
  stretches, where a winding route passes the site twice), which is the nearest point itself
  where that is unique; where the stretch is lost to the chords of
  :func:`shapely.buffer`, the nearest point of :func:`shapely.shortest_line` (as
  :func:`shapely.ops.nearest_points`). ``chainage_from_m`` / ``chainage_to_m`` bound the
  stretch of route within ``buffer_m`` of the site: where it touches the asset.
* Sites are ranked by their triage priority (:mod:`engine.sites`: probability × relative
  velocity × extent × point support; descending), ties by chainage; ``rank`` counts from 1.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiLineString, box

from engine.errors import InputError
from engine.grid import choose_crs
from engine.sites import sites_at
from engine.uploads import read_vector_upload

__all__ = [
    "CORRIDOR_COLUMNS",
    "corridor_polygon",
    "corridor_sites",
    "example_route",
    "read_route",
    "route_length_m",
    "to_csv",
    "to_geojson",
]

logger = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
CORRIDOR_COLUMNS = (
    "rank", "chainage_km", "chainage_m", "offset_m", "chainage_from_m", "chainage_to_m",
)  # fmt: skip
_LINES = ("LineString", "MultiLineString")
_TIE_M = 0.01  # route points this much further than the nearest are as near (see chainage_m)
_EXPECTED_CRS = "a CRS in the file (the .prj of a Shapefile, the SRS of a GeoPackage layer)"
_EXPECTED_LINE = "the route as LineString or MultiLineString features"
_EXPECTED = "a GeoJSON, GeoPackage or zipped Shapefile holding the route as line features"


def read_route(
    source: str | Path | bytes | IO[bytes],
    *,
    name: str | None = None,
    max_bytes: int = 5 << 20,
) -> gpd.GeoDataFrame:
    """Read a route: the line features of a GeoJSON, GeoPackage, zipped Shapefile or KML.

    Parameters
    ----------
    source
        A path (the operator's own file: any format GDAL reads), or the file's bytes or a
        binary file object (an upload, with ``name``: read by
        :func:`engine.uploads.read_vector_upload`, one fixed format per extension).
    name
        The file's name; its suffix picks the format of bytes. Default: the path.
    max_bytes
        The largest upload accepted.

    Returns
    -------
    geopandas.GeoDataFrame
        One row in the file's CRS: ``name`` (the file's stem), ``parts`` (lines left after
        merging) and the route as a LineString, or a MultiLineString in chainage order
        (see the module docstring). Of a GeoPackage, the first layer with lines is read.

    Raises
    ------
    InputError
        If the file cannot be read, is empty, has no CRS or holds no line.

    Examples
    --------
    >>> text = b'{"type": "LineString", "coordinates": [[-1.5, 52.9], [-1.4, 52.9]]}'
    >>> route = read_route(text, name="hs2.geojson")
    >>> route["name"].item(), route.geometry.item().geom_type, route.crs.to_string()
    ('hs2', 'LineString', 'EPSG:4326')
    """
    if isinstance(source, (str, Path)):
        label = name or str(source)
        return _route_frame(_read_file(Path(source), label), label)
    if not name:
        raise ValueError("name is needed to read a route from bytes or a file object")
    data = source if isinstance(source, bytes) else source.read()
    frame = read_vector_upload(data, name, max_bytes=max_bytes, prefer=("LineString",))
    return _route_frame(frame, name)


def _read_file(path: Path, label: str) -> gpd.GeoDataFrame:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
        lines = [str(n) for n, kind in layers if "LineString" in str(kind)]
        layer = lines[0] if lines else str(layers[0][0])
        return gpd.read_file(path, layer=layer)
    except Exception as exc:  # GDAL's errors (pyogrio.errors.*, OSError, IndexError)
        reason = str(exc).replace(str(path), label).splitlines()[0].split(";")[0]
        raise InputError(label, f"cannot be read ({reason})", _EXPECTED) from exc


def _route_frame(frame: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
    geoms = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
    if geoms.empty:
        raise InputError(label, "holds no features", _EXPECTED)
    if frame.crs is None:
        raise InputError(label, "has no coordinate reference system", _EXPECTED_CRS)
    kinds = geoms.geom_type
    if not kinds.isin(_LINES).any():
        found = ", ".join(sorted(set(kinds)))
        raise InputError(label, f"holds no line features (found {found})", _EXPECTED_LINE)
    parts = shapely.force_2d(shapely.get_parts(geoms[kinds.isin(_LINES)].to_numpy()))
    parts = parts[shapely.length(parts) > 0]
    if len(parts) == 0:
        raise InputError(label, "holds only lines of zero length", _EXPECTED_LINE)
    west, south, east, north = shapely.total_bounds(parts)
    if frame.crs.is_geographic and not (
        -180 <= west <= east <= 180 and -90 <= south <= north <= 90
    ):
        problem = "has coordinates outside the longitude/latitude range of its CRS"
        raise InputError(label, problem, "coordinates in the file's CRS (is a CRS missing?)")
    merged = _merge_parts(parts)
    geometry = merged[0] if len(merged) == 1 else MultiLineString(merged)
    table = pd.DataFrame({"name": [Path(label).stem], "parts": [len(merged)]})
    return gpd.GeoDataFrame(table, geometry=[geometry], crs=frame.crs)


def _merge_parts(parts: NDArray[np.object_]) -> list[LineString]:
    """Merge touching parts; orient and order the results by the file order of their parts."""
    if len(parts) == 1:
        return [parts[0]]
    pieces = shapely.get_parts(shapely.line_merge(MultiLineString(list(parts))))
    mids = shapely.line_interpolate_point(parts, 0.5, normalized=True)
    owner = np.argmin(shapely.distance(pieces[:, None], mids[None, :]), axis=0)
    out = []
    for k in dict.fromkeys(owner.tolist()):  # pieces in the order of their first part
        piece, first = pieces[k], parts[np.flatnonzero(owner == k)[0]]
        ends = shapely.line_locate_point(piece, shapely.points([first.coords[0], first.coords[-1]]))
        out.append(piece.reverse() if ends[0] > ends[1] else piece)
    return out


def _route_line(route: gpd.GeoDataFrame | gpd.GeoSeries, crs: str) -> LineString | MultiLineString:
    if route.crs is None:
        raise ValueError("the route has no CRS")
    parts = shapely.get_parts(route.geometry.to_crs(crs).to_numpy())
    return parts[0] if len(parts) == 1 else MultiLineString(list(parts))


def _default_crs(route: gpd.GeoDataFrame | gpd.GeoSeries, crs: str | None) -> str:
    if crs:
        return crs
    lonlat = shapely.get_coordinates(route.geometry.to_crs(WGS84).to_numpy())
    return choose_crs(lonlat[:, 0], lonlat[:, 1])


def route_length_m(route: gpd.GeoDataFrame | gpd.GeoSeries, *, crs: str | None = None) -> float:
    """Length of the route in metres (the last chainage; gaps between parts excluded)."""
    return float(_route_line(route, _default_crs(route, crs)).length)


def corridor_polygon(
    route: gpd.GeoDataFrame | gpd.GeoSeries, buffer_m: float, *, crs: str | None = None
) -> gpd.GeoDataFrame:
    """The corridor, the route buffered by ``buffer_m`` either side, as one WGS84 polygon."""
    crs = _default_crs(route, crs)
    corridor = _route_line(route, crs).buffer(_positive(buffer_m))
    return gpd.GeoDataFrame({"buffer_m": [float(buffer_m)]}, geometry=[corridor], crs=crs).to_crs(
        WGS84
    )


def corridor_sites(
    sites: gpd.GeoDataFrame,
    route: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    buffer_m: float,
    level: float | None = None,
    crs: str | None = None,
) -> gpd.GeoDataFrame:
    """The sites whose polygon lies within ``buffer_m`` of the route, ranked, with chainage.

    Parameters
    ----------
    sites
        A run's sites (:func:`engine.runs.read_sites`): polygons with a CRS, ``level`` and
        ``priority`` among the columns.
    route
        The route with its CRS, e.g. from :func:`read_route`; rows are parts in order.
    buffer_m
        Distance either side of the route, metres (> 0).
    level
        Keep the sites whose highest level reaches this one (:func:`engine.sites.sites_at`);
        None keeps all.
    crs
        Projected CRS in metres; default :func:`engine.grid.choose_crs` of the route.

    Returns
    -------
    geopandas.GeoDataFrame
        The sites in the corridor in rank order, WGS84: ``rank``, ``site_id``, the other
        :data:`CORRIDOR_COLUMNS` (see the module docstring), then the sites' columns.

    Examples
    --------
    >>> from shapely.geometry import LineString, Point
    >>> route = gpd.GeoSeries([LineString([(430_000, 335_000), (440_000, 335_000)])],
    ...                       crs="EPSG:27700")
    >>> sites = gpd.GeoDataFrame({"site_id": ["a", "b"], "level": 0.5, "priority": [1.0, 2.0]},
    ...     geometry=[Point(432_000, 335_150).buffer(50), Point(432_000, 336_000).buffer(50)],
    ...     crs="EPSG:27700")
    >>> out = corridor_sites(sites, route, buffer_m=250)
    >>> out[["site_id", "rank", "chainage_m", "offset_m"]].round(1).to_numpy().tolist()
    [['a', 1, 2000.0, 100.0]]
    """
    crs = _default_crs(route, crs)
    line = _route_line(route, crs)
    buffer_m = _positive(buffer_m)
    chosen = sites if level is None else sites_at(sites, level)
    geoms = chosen.geometry.to_crs(crs).to_numpy()
    inside = shapely.intersects(geoms, line.buffer(buffer_m))
    out = chosen[inside].to_crs(crs)
    geoms = geoms[inside]
    offset = shapely.distance(line, geoms)
    nearest = _stretch(line, shapely.buffer(geoms, offset + _TIE_M)).mean(axis=1)
    point = shapely.get_point(shapely.shortest_line(line, geoms), 0)
    near_by = _stretch(line, shapely.buffer(geoms, buffer_m))
    out = out.assign(
        chainage_m=np.where(np.isnan(nearest), shapely.line_locate_point(line, point), nearest),
        offset_m=offset,
        chainage_from_m=near_by[:, 0],
        chainage_to_m=near_by[:, 1],
    )
    out = out.assign(chainage_km=out["chainage_m"] / 1000.0)
    out = out.sort_values(["priority", "chainage_m"], ascending=[False, True], kind="stable")
    out = out.assign(rank=np.arange(1, len(out) + 1))
    first = ["rank", *(["site_id"] * ("site_id" in out)), *CORRIDOR_COLUMNS[1:]]
    rest = [c for c in out.columns if c not in first and c != "geometry"]
    logger.info("%d of %d sites within %g m of the route", len(out), len(chosen), buffer_m)
    return out[[*first, *rest, "geometry"]].reset_index(drop=True).to_crs(WGS84)


def _stretch(line: LineString | MultiLineString, areas: NDArray[np.object_]) -> NDArray[np.float64]:
    """``(n, 2)`` first and last chainage of the route inside each area; NaN where none."""
    coords, index = shapely.get_coordinates(shapely.intersection(line, areas), return_index=True)
    found = pd.Series(shapely.line_locate_point(line, shapely.points(coords))).groupby(index)
    low, high = found.min(), found.max()
    span = np.full((len(areas), 2), np.nan)
    span[low.index] = np.column_stack([low, high])
    return span


def _positive(buffer_m: float) -> float:
    if not np.isfinite(buffer_m) or buffer_m <= 0:
        raise ValueError(f"buffer_m must be a positive number of metres, got {buffer_m}")
    return float(buffer_m)


def example_route(
    bounds_lonlat: Sequence[float], *, through: tuple[float, float] | None = None
) -> gpd.GeoDataFrame:
    """A straight route across ``(west, south, east, north)``, parallel to its SW–NE diagonal.

    It passes through ``through`` (lon, lat), default the centre, and ends at the bounds; for
    trying the corridor without a file. Same shape as :func:`read_route`, in WGS84.

    Examples
    --------
    >>> example_route((-1.6, 52.8, -1.4, 53.0)).geometry.item().wkt
    'LINESTRING (-1.6 52.8, -1.4 53)'
    """
    west, south, east, north = map(float, bounds_lonlat)
    x, y = through if through is not None else ((west + east) / 2, (south + north) / 2)
    dx, dy = east - west, north - south
    long = LineString([(x - 2 * dx, y - 2 * dy), (x + 2 * dx, y + 2 * dy)])
    line = shapely.intersection(long, box(west, south, east, north))
    return gpd.GeoDataFrame({"name": ["example"], "parts": [1]}, geometry=[line], crs=WGS84)


def to_csv(sites: gpd.GeoDataFrame) -> bytes:
    """The sites as CSV (UTF-8) without their polygons; ``centroid_lon/lat`` locate them."""
    return sites.drop(columns="geometry").to_csv(index=False).encode("utf-8")


def to_geojson(sites: gpd.GeoDataFrame) -> str:
    """The sites as a GeoJSON FeatureCollection in WGS84 (NaN written as null)."""
    return sites.to_crs(WGS84).to_json(na="null", drop_id=True)
