"""One Arrow batch of a :class:`Source` → the point table, the same way for every format.

Point table (one row per scatterer):

=================  =======  =====================================================
column             type     meaning
=================  =======  =====================================================
pid                string   product's point id (null when the product has none)
x, y               float64  metres in the run CRS
lon, lat           float64  WGS84 degrees
velocity           float32  mm/yr along the line of sight, positive = towards satellite
velocity_std       float32  mm/yr, one standard deviation (NaN when unknown)
geometry           string   ascending | descending | vertical | east
track              string   relative orbit when known
los_east/north/up  float32  ground→satellite unit vector (NaN when unknown)
dYYYYMMDD          float32  displacement in mm at that date (only with time series)
=================  =======  =====================================================
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.config import RunConfig
from engine.errors import InputError
from engine.ingest._columns import (
    Units,
    geometry_from_heading,
    geometry_from_los_east,
    parse_geometry,
)
from engine.ingest._project import WGS84, project
from engine.ingest._sources import Source
from engine.timeseries import fit_velocity
from engine.types import Geometry

_EVIDENCE = {
    "track_angle": "headings",
    "pass_direction": "pass directions",
    "los_east": "line-of-sight vectors",
}
_ROLE_OF_EVIDENCE = {what: role for role, what in _EVIDENCE.items()}
_PASSES = (Geometry.ASCENDING, Geometry.DESCENDING)
_LOS_OF_COMPONENT = {Geometry.VERTICAL: (0.0, 0.0, 1.0), Geometry.EAST: (1.0, 0.0, 0.0)}


@dataclass
class Normaliser:
    """Converts batches of one source; remembers what it saw for the catalogue."""

    source: Source
    crs: str
    config: RunConfig
    geometry_option: Geometry | None = None
    units_option: Units | None = None
    velocity_from_timeseries: bool = False

    def __post_init__(self) -> None:
        s, roles = self.source, self.source.roles
        if not ({"lon", "lat"} <= roles.keys() or {"easting", "northing"} <= roles.keys()):
            raise InputError(
                s.label,
                "no coordinate columns",
                "lon/lat (or longitude/latitude) or easting/northing columns",
            )
        if "lon" not in roles and s.native_crs is None:
            raise InputError(
                s.label, "easting/northing given without their CRS", "--source-crs EPSG:XXXX"
            )
        has_velocity = "velocity" in roles and not self.velocity_from_timeseries
        if not has_velocity and len(s.dates) < self.config.timeseries.min_epochs:
            raise InputError(
                s.label,
                "no velocity column and no dated displacement columns",
                "a velocity column (e.g. 'velocity', 'mean_velocity', 'vel_mm_yr') "
                "or displacement columns named YYYYMMDD",
            )
        self.velocity_source = "column" if has_velocity else "timeseries"
        self.velocity_to_mm = self._units("velocity", rate=True) if has_velocity else None
        self.std_to_mm = (
            self._units("velocity_std", rate=True)
            if has_velocity and "velocity_std" in roles
            else None
        )
        self.disp_to_mm = self._units("displacement", rate=False) if s.dates else None
        self._date_values = np.array(list(s.dates.values()), dtype="datetime64[D]")
        self._date_names = [f"d{str(d).replace('-', '')}" for d in self._date_values]
        # what labels each row when no geometry is fixed, in the order _geometry() looks
        self.geometry_evidence = next(
            (what for role, what in _EVIDENCE.items() if role in roles), ""
        )
        self.geometry = self._fixed_geometry()

    def _units(self, role: str, *, rate: bool) -> float:
        if self.units_option is not None:
            return self.units_option.to_mm
        known = self.source.units.get(role) or self.source.units.get(
            "velocity" if role == "velocity_std" else role
        )
        if known is None:
            column = self.source.roles.get(role) or next(iter(self.source.dates), None)
            kind = "velocity (mm/yr, cm/yr or m/yr)" if rate else "displacement (mm, cm or m)"
            raise InputError(
                self.source.label, "units unknown", f"--units giving the {kind} unit", column=column
            )
        return known.to_mm

    def _fixed_geometry(self) -> Geometry | None:
        """Geometry stated by the product or the option; None when it varies per row."""
        s, opt = self.source, self.geometry_option
        if s.geometry is not None and opt is not None and s.geometry is not opt:
            raise InputError(
                s.label,
                f"product is {s.geometry.value} but --geometry says {opt.value}",
                "no --geometry, or the product's own",
            )
        if s.geometry is not None or opt is not None:
            return s.geometry or opt
        if not self.geometry_evidence:
            raise InputError(
                s.label,
                "line-of-sight geometry unknown",
                "--geometry ascending|descending, or a track_angle/los_east column",
            )
        return None

    def __call__(self, batch: pa.RecordBatch, row0: int) -> pa.RecordBatch:
        roles = self.source.roles
        n = batch.num_rows
        col = lambda role: _floats(batch, roles[role])  # noqa: E731
        out: dict[str, pa.Array | np.ndarray] = {}
        out["pid"] = (
            pc.cast(batch.column(roles["pid"]), pa.string())
            if "pid" in roles
            else pa.nulls(n, pa.string())
        )
        lon, lat, x, y = self._coordinates(batch, row0)
        out |= {"x": x, "y": y, "lon": lon, "lat": lat}
        disp = self._displacements(batch)
        if self.velocity_source == "column":
            velocity = col("velocity") * self.velocity_to_mm
            std = (
                col("velocity_std") * self.std_to_mm
                if self.std_to_mm is not None
                else np.full(n, np.nan)
            )
        else:
            fit = fit_velocity(disp, self._date_values, params=self.config.timeseries)
            velocity, std = fit.velocity, fit.velocity_std
        self._check_velocity(velocity, roles.get("velocity"), row0)
        if self.std_to_mm is not None and (std < 0).any():
            i = int(np.argmax(std < 0))
            raise InputError(
                self.source.label,
                f"standard deviation {std[i]:g} is negative",
                "a standard deviation ≥ 0",
                column=roles["velocity_std"],
                row=row0 + i + 1,
            )
        out["velocity"] = np.asarray(velocity, dtype=np.float32)
        out["velocity_std"] = np.asarray(std, dtype=np.float32)
        out["geometry"] = self._geometry(batch, n, row0, np.isfinite(velocity))
        out["track"] = (
            pc.cast(batch.column(roles["track"]), pa.string())
            if "track" in roles
            else _constant(self.source.track, n)
        )
        out |= self._los(batch, n)
        for name, values in zip(self._date_names, disp.T if disp is not None else (), strict=False):
            out[name] = values
        return pa.RecordBatch.from_pydict(out)

    def _coordinates(self, batch: pa.RecordBatch, row0: int) -> tuple[np.ndarray, ...]:
        roles, label = self.source.roles, self.source.label
        if "lon" in roles:
            lon, lat = _floats(batch, roles["lon"]), _floats(batch, roles["lat"])
            for name, values, limit in (("lon", lon, 180.0), ("lat", lat, 90.0)):
                bad = ~(np.abs(values) <= limit)
                if bad.any():
                    i = int(np.argmax(bad))
                    raise InputError(
                        label,
                        f"{name} {values[i]:g} out of range",
                        f"degrees within ±{limit:g}",
                        column=roles[name],
                        row=row0 + i + 1,
                    )
            if self.source.native_crs == self.crs and "easting" in roles:
                x, y = _floats(batch, roles["easting"]), _floats(batch, roles["northing"])
            else:
                x, y = project(WGS84, self.crs, lon, lat)
            return lon, lat, np.asarray(x), np.asarray(y)
        e, nth = _floats(batch, roles["easting"]), _floats(batch, roles["northing"])
        bad = ~(np.isfinite(e) & np.isfinite(nth))
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                label,
                "missing coordinate",
                "easting and northing on every row",
                column=roles["easting"],
                row=row0 + i + 1,
            )
        if _is_geographic(self.source.native_crs):
            self._check_degrees(e, nth, row0)
        lon, lat = project(self.source.native_crs, WGS84, e, nth)
        x, y = (
            (e, nth) if self.source.native_crs == self.crs else project(WGS84, self.crs, lon, lat)
        )
        return np.asarray(lon), np.asarray(lat), np.asarray(x), np.asarray(y)

    def _check_degrees(self, e: np.ndarray, nth: np.ndarray, row0: int) -> None:
        """Coordinates in a geographic CRS are degrees (GeoJSON written with metres is not)."""
        bad = ~((np.abs(e) <= 180.0) & (np.abs(nth) <= 90.0))
        if bad.any():
            i = int(np.argmax(bad))
            column = self.source.roles["easting"]
            raise InputError(
                self.source.label,
                f"coordinates ({e[i]:g}, {nth[i]:g}) are not degrees of {self.source.native_crs}",
                "longitude/latitude in degrees, or --source-crs naming the CRS they are in",
                column=None if column.startswith("__") else column,
                row=row0 + i + 1,
            )

    def _displacements(self, batch: pa.RecordBatch) -> np.ndarray | None:
        if not self.source.dates:
            return None
        cols = [_floats(batch, c, np.float32) for c in self.source.dates]
        return np.stack(cols, axis=1) * np.float32(self.disp_to_mm)

    def _check_velocity(self, velocity: np.ndarray, column: str | None, row0: int) -> None:
        limit = self.config.ingest.max_abs_velocity_mm_yr
        bad = np.abs(velocity) > limit
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                self.source.label,
                f"velocity {velocity[i]:.4g} mm/yr is implausible",
                f"|velocity| ≤ {limit:g} mm/yr (check --units)",
                column=column,
                row=row0 + i + 1,
            )

    def _geometry(
        self, batch: pa.RecordBatch, n: int, row0: int, used: np.ndarray
    ) -> pa.DictionaryArray:
        """Dictionary-encoded labels: cheap to build, and what the tile writer groups by.

        ``used`` marks the rows that will be kept (those with a velocity): each needs a label.
        """
        if self.geometry is None:
            return pc.dictionary_encode(pa.array(self._labels(batch, row0, used), pa.string()))
        if self.geometry_evidence and self.geometry in _PASSES and self.source.geometry is None:
            # --geometry given for a file whose rows state their own pass: they must agree
            labels = self._labels(batch, row0, used)
            wrong = used & (labels != self.geometry.value)
            if wrong.any():
                i = int(np.argmax(wrong))
                raise InputError(
                    self.source.label,
                    f"--geometry says {self.geometry.value}, but its {self.geometry_evidence} "
                    f"say {labels[i]}",
                    "no --geometry (the file states its own), or one that agrees",
                    column=self.source.roles[_ROLE_OF_EVIDENCE[self.geometry_evidence]],
                    row=row0 + i + 1,
                )
        return _constant(self.geometry.value, n)

    def _labels(self, batch: pa.RecordBatch, row0: int, used: np.ndarray) -> np.ndarray:
        """Per-row pass from the file's own columns (None where a row is not used)."""
        roles = self.source.roles
        if "track_angle" in roles:
            heading = _floats(batch, roles["track_angle"])
            self._require(np.isfinite(heading) | ~used, "track_angle", row0, "a heading")
            return geometry_from_heading(heading)
        if "pass_direction" in roles:
            column = roles["pass_direction"]
            raw = pc.dictionary_encode(pc.cast(batch.column(column), pa.string()))
            valid = ~np.asarray(raw.indices.is_null(), dtype=bool)
            indices = pc.fill_null(raw.indices, 0).to_numpy()
            self._require(valid | ~used, "pass_direction", row0, "ascending or descending")
            names: list[str | None] = []
            for k, value in enumerate(raw.dictionary.to_pylist()):
                try:
                    names.append(parse_geometry(str(value), origin=self.source.label).value)
                except InputError as exc:
                    row = row0 + int(np.argmax(valid & (indices == k))) + 1
                    raise InputError(
                        exc.path, exc.problem, exc.expected, column=column, row=row
                    ) from None
            names.append(None)  # where the pass is missing and the row is dropped
            return np.asarray(names, dtype=object)[np.where(valid, indices, len(names) - 1)]
        east = _floats(batch, roles["los_east"])
        self._require(np.isfinite(east) | ~used, "los_east", row0, "a line-of-sight vector")
        return geometry_from_los_east(east)

    def _require(self, ok: np.ndarray, role: str, row0: int, expected: str) -> None:
        if not ok.all():
            i = int(np.argmin(ok))
            raise InputError(
                self.source.label,
                "missing value",
                f"{expected} on every row with a velocity",
                column=self.source.roles[role],
                row=row0 + i + 1,
            )

    def _los(self, batch: pa.RecordBatch, n: int) -> dict[str, np.ndarray]:
        roles = self.source.roles
        if {"los_east", "los_north", "los_up"} <= roles.keys():
            return {
                k: _floats(batch, roles[k], np.float32) for k in ("los_east", "los_north", "los_up")
            }
        e, nth, u = _LOS_OF_COMPONENT.get(self.geometry, (np.nan, np.nan, np.nan))  # type: ignore[arg-type]
        return {
            "los_east": np.full(n, e, np.float32),
            "los_north": np.full(n, nth, np.float32),
            "los_up": np.full(n, u, np.float32),
        }


@functools.cache
def _is_geographic(crs: str) -> bool:
    from pyproj import CRS

    return bool(CRS.from_user_input(crs).is_geographic)


def _constant(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    indices = pa.array(np.zeros(n, dtype=np.int8))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value]), safe=False)


def _floats(batch: pa.RecordBatch, column: str, dtype: type = np.float64) -> np.ndarray:
    arr = batch.column(column)
    if arr.null_count:
        arr = pc.fill_null(pc.cast(arr, pa.float64()), float("nan"))
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=dtype)
