"""One training sample (§III-B): draw a world, observe it like InSAR, run the real chain.

``X = D + T``: deformation ``D`` (a Mogi point source or a tunnel, 3-D, projected onto a
random Sentinel-1 line of sight) plus turbulent atmosphere ``T``, sampled at a mask of
persistent scatterers with spike noise, then denoised and interpolated exactly as real
tiles are (:mod:`engine.denoise`, :mod:`engine.interpolate`) and cropped to the model's
input. Rendering happens on a canvas ``margin`` pixels wider on every side so the crop
sees no interpolation edge.

A positive must be *seen*: at least ``positive_min_points`` observed pixels where
``|D| ≥ max(positive_floor, |peak|/2)``. A source that fails (a Mogi bowl narrower than a
pixel, a tunnel over empty fields) is drawn again; ``attempts`` in the record says how
often. Labelling an unobservable source positive would only teach the model to fire on noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from engine.config import RunConfig
from engine.denoise import denoise
from engine.interpolate import delaunay, interpolate
from engine.synthetic._fields import clustered_mask, nugget_noise, turbulent_atmosphere
from engine.synthetic._sources import Viewing, mogi, raster_coordinates, to_los, tunnel

__all__ = ["KINDS", "VERSIONS", "MaskSampler", "Sample", "SampleRecord", "make_sample"]

KINDS = ("point", "tunnel", "none")
VERSIONS = ("sparse", "delaunay", "mc")  # Table I's three rows
_MAX_ATTEMPTS = 200


class MaskSampler(Protocol):
    """Where the scatterers are: a crop of a real dataset's point mask, and its noise."""

    name: str
    noise_pool: NDArray[np.float32] | None

    def draw(
        self, shape: tuple[int, int], rng: np.random.Generator
    ) -> tuple[NDArray[np.bool_], str]:
        """A ``shape`` mask and a description of where it came from."""
        ...


@dataclass(frozen=True)
class SampleRecord:
    """Everything drawn for one sample: a row of the dataset manifest."""

    index: int
    label: int  # 1 = deformation + atmosphere (D+T), 0 = atmosphere only (T)
    source: str  # "point", "tunnel" or "none"
    geometry: str
    incidence_deg: float
    heading_deg: float
    atmosphere_a_mm2_yr2: float
    atmosphere_b_per_km: float
    nugget_mm2_yr2: float
    mask: str
    density: float  # observed fraction of the patch
    los_peak_mm_yr: float | None = None  # D at its largest |D| in the patch (signed)
    deforming_points: int | None = None
    attempts: int | None = None
    centre_row: float | None = None  # source position in patch pixels
    centre_col: float | None = None
    depth_m: float | None = None
    volume_m3: float | None = None  # per year; < 0 = deflation
    l_sag_m: float | None = None
    l_hog_m: float | None = None
    d_sag_mm: float | None = None
    d_hog_mm: float | None = None
    axis_depth_m: float | None = None
    bearing_deg: float | None = None
    curvature_per_m: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sample:
    """The three model inputs of one sample (float32, NaN = unobserved in ``sparse``)."""

    sparse: NDArray[np.float32]
    delaunay: NDArray[np.float32]
    mc: NDArray[np.float32]
    record: SampleRecord


@dataclass(frozen=True)
class _Source:
    los: NDArray[np.float64]
    fields: dict[str, Any]


def make_sample(
    index: int,
    *,
    kind: str,
    label: int,
    rng: np.random.Generator,
    config: RunConfig = RunConfig(),
    masks: MaskSampler | None = None,
    margin_px: int = 16,
) -> Sample:
    """Draw and process one sample; see the module docstring for the chain.

    Parameters
    ----------
    index
        Position in the dataset (recorded only).
    kind
        Deformation of a positive: ``"point"`` (Mogi) or ``"tunnel"``; ``"none"`` means
        ``label`` must be 0.
    label
        1 for ``D + T``, 0 for ``T`` alone.
    rng
        The sample's own generator; nothing else is random.
    config
        ``synthetic`` ranges, ``grid.pixel_size_m``, ``model.patch_size_px`` and the
        ``denoise`` / ``interpolate`` parameters of the chain.
    masks
        Real scatterer masks and noise; ``None`` = generated clustered masks, nugget noise.
    margin_px
        Canvas margin around the patch.

    Examples
    --------
    >>> s = make_sample(0, kind="point", label=1, rng=np.random.default_rng(0))
    >>> s.mc.shape, s.record.source, s.record.deforming_points >= 4
    ((224, 224), 'point', True)
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if label not in (0, 1) or (kind == "none" and label == 1):
        raise ValueError(f"label must be 0 or 1 (0 for kind 'none'), got {label!r}")
    p = config.synthetic
    patch = config.model.patch_size_px
    size = patch + 2 * margin_px
    shape = (size, size)
    pixel = config.grid.pixel_size_m

    viewing = _draw_viewing(rng, p.incidence_deg, p.heading_deg)
    a = float(rng.uniform(*p.atmosphere_a_mm2_yr2))
    b = float(rng.uniform(*p.atmosphere_b_per_km))
    nugget = max(float(rng.uniform(*p.sill_mm2_yr2)) - a, p.min_nugget_mm2_yr2)
    if masks is None:
        density = math.exp(rng.uniform(*np.log(p.density)))  # log-uniform: rural is common
        mask, mask_name = clustered_mask(shape, density, rng=rng), "generated"
    else:
        mask, mask_name = masks.draw(shape, rng)
    atmosphere = turbulent_atmosphere(shape, a_mm2_yr2=a, b_per_km=b, pixel_size_m=pixel, rng=rng)
    inner = slice(margin_px, margin_px + patch)

    fields: dict[str, Any] = {}
    total = atmosphere.astype(np.float64)
    if label == 1:
        source, attempts = _observable_source(kind, rng, shape, mask, margin_px, config, viewing)
        total += source.los
        fields = dict(source.fields, attempts=attempts)
        fields["centre_row"] -= margin_px
        fields["centre_col"] -= margin_px

    pool = None if masks is None else masks.noise_pool
    observed = np.flatnonzero(mask)
    values = total.ravel()[observed] + nugget_noise(
        observed.size, nugget_mm2_yr2=nugget, pool=pool, rng=rng
    )
    sparse = np.full(size * size, np.nan, dtype=np.float32)
    sparse[observed] = values
    sparse = sparse.reshape(shape)

    filtered = denoise(sparse, params=config.denoise).filtered
    dense_dt = delaunay(filtered)
    dense_mc = interpolate(filtered, params=config.interpolate)
    record = SampleRecord(
        index=index,
        label=label,
        source=kind if label else "none",
        geometry=viewing.geometry,
        incidence_deg=viewing.incidence_deg,
        heading_deg=viewing.heading_deg,
        atmosphere_a_mm2_yr2=a,
        atmosphere_b_per_km=b,
        nugget_mm2_yr2=nugget,
        mask=mask_name,
        density=float(mask[inner, inner].mean()),
        **fields,
    )
    return Sample(
        sparse=np.ascontiguousarray(sparse[inner, inner]),
        delaunay=np.ascontiguousarray(dense_dt[inner, inner]),
        mc=np.ascontiguousarray(dense_mc[inner, inner]),
        record=record,
    )


def _draw_viewing(
    rng: np.random.Generator,
    incidence: tuple[float, float],
    heading: dict[str, tuple[float, float]],
) -> Viewing:
    geometry = "ascending" if rng.random() < 0.5 else "descending"
    return Viewing(geometry, float(rng.uniform(*incidence)), float(rng.uniform(*heading[geometry])))


def _observable_source(
    kind: str,
    rng: np.random.Generator,
    shape: tuple[int, int],
    mask: NDArray[np.bool_],
    margin_px: int,
    config: RunConfig,
    viewing: Viewing,
) -> tuple[_Source, int]:
    """Draw sources until one is seen by enough scatterers inside the patch."""
    p = config.synthetic
    rows, cols = shape
    inside = np.zeros(shape, dtype=bool)
    lo = 2 * margin_px  # keep sources a margin inside the patch, where the model sees them
    inside[lo : rows - lo, lo : cols - lo] = True
    seen_here = mask & inside
    candidates = np.flatnonzero(seen_here)
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        if candidates.size and rng.random() < 0.5:  # under the scatterers (towns, roads) …
            r, c = divmod(int(rng.choice(candidates)), cols)
            centre = (r + rng.uniform(-0.5, 0.5), c + rng.uniform(-0.5, 0.5))
        else:  # … or anywhere
            centre = (rng.uniform(lo, rows - lo), rng.uniform(lo, cols - lo))
        draw = _draw_point if kind == "point" else _draw_tunnel
        source = draw(rng, shape, centre, config, viewing)
        mag = np.abs(source.los)
        floor = max(p.positive_floor_mm_yr, 0.5 * abs(source.fields["los_peak_mm_yr"]))
        count = int(np.count_nonzero(seen_here & (mag >= floor)))
        if count >= p.positive_min_points:
            source.fields["deforming_points"] = count
            return source, attempt
    raise RuntimeError(
        f"no observable {kind} source in {_MAX_ATTEMPTS} draws; the mask is too sparse "
        f"({mask.mean():.1%}) for positive_min_points={p.positive_min_points}"
    )


def _draw_point(
    rng: np.random.Generator,
    shape: tuple[int, int],
    centre: tuple[float, float],
    config: RunConfig,
    viewing: Viewing,
) -> _Source:
    p = config.synthetic
    depth = float(np.exp(rng.uniform(*np.log(p.mogi_depth_m))))  # log-uniform
    x, y = raster_coordinates(shape, centre_px=centre, pixel_size_m=config.grid.pixel_size_m)
    unit = to_los(mogi(x, y, depth_m=depth, volume_m3=1.0), viewing)
    peak_at = np.unravel_index(np.argmax(np.abs(unit)), shape)
    target = float(rng.uniform(*p.los_velocity_mm_yr))
    sign = 1.0 if rng.random() < p.inflation_fraction else -1.0
    volume = sign * target / abs(float(unit[peak_at]))
    los = unit * volume
    return _Source(
        los,
        {
            "los_peak_mm_yr": float(los[peak_at]),
            "centre_row": centre[0],
            "centre_col": centre[1],
            "depth_m": depth,
            "volume_m3": volume,
        },
    )


def _draw_tunnel(
    rng: np.random.Generator,
    shape: tuple[int, int],
    centre: tuple[float, float],
    config: RunConfig,
    viewing: Viewing,
) -> _Source:
    p = config.synthetic
    fields = {
        "l_sag_m": float(rng.uniform(*p.tunnel_l_sag_m)),
        "l_hog_m": float(rng.uniform(*p.tunnel_l_hog_m)),
        "d_sag_mm": float(rng.uniform(*p.tunnel_d_sag_mm)),
        "d_hog_mm": float(rng.uniform(*p.tunnel_d_hog_mm)),
        "bearing_deg": float(rng.uniform(0.0, 360.0)),
        "curvature_per_m": 0.0,
    }
    if rng.random() < 0.5:  # a curve of radius 300 m – 3 km, either way
        fields["curvature_per_m"] = float(rng.choice([-1.0, 1.0]) / rng.uniform(300.0, 3000.0))
    fields["axis_depth_m"] = 2.0 * fields["l_sag_m"]  # trough width i = K·z₀, K = 0.5 (clay)
    x, y = raster_coordinates(shape, centre_px=centre, pixel_size_m=config.grid.pixel_size_m)
    displacement = tunnel(
        x,
        y,
        along_wavelength_m=float(rng.uniform(500.0, 2000.0)),
        along_modulation=float(rng.uniform(0.0, 0.5)),
        along_phase=float(rng.uniform(0.0, 2.0 * np.pi)),
        **fields,
    )
    los = to_los(displacement, viewing)
    peak = float(los.flat[np.argmax(np.abs(los))])
    excess = abs(peak) / p.los_velocity_mm_yr[1]
    if excess > 1.0:  # keep the LOS rate within the range, as for point sources
        los /= excess
        peak /= excess
        fields["d_sag_mm"] /= excess
        fields["d_hog_mm"] /= excess
    return _Source(
        los, dict(fields, los_peak_mm_yr=peak, centre_row=centre[0], centre_col=centre[1])
    )
