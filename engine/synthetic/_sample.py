"""One training sample (§III-B): draw a world, observe it like InSAR, run the real chain.

``X = D + T``: deformation ``D`` (a Mogi point source, a tunnel, or for ``kind="mixed"``
any of the five kinds of :mod:`engine.synthetic._kinds`, 3-D, projected onto a random
Sentinel-1 line of sight) plus turbulent atmosphere ``T``, sampled at a mask of persistent
scatterers with spike noise, then denoised and interpolated exactly as real tiles are
(:mod:`engine.denoise`, :mod:`engine.interpolate`). Rendering happens on a canvas
``margin_px`` pixels wider on every side: the Table I inputs are the central patch, and the
default detector also reads the canvas around it (``context``), as it does on a tile.

``mixed`` samples also carry the hard negatives of real maps, on either label: incoherent
spike clusters (a few dozen points of ±5–10 mm/yr within ≤ 100 m), data edges (a coast or
a gap with no scatterers) and very sparse fields.

A positive must be *seen*: at least ``positive_min_points`` observed pixels where
``|D| ≥ max(positive_floor, |peak|/2)``. A source that fails is drawn again; ``attempts``
in the record says how often. Every sample keeps a per-pixel truth mask of the patch:
``|D| ≥ max(0.3·|peak|, 1 mm/yr)`` (empty for a negative).
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
from engine.synthetic._hard import (
    add_spike_cluster,
    gap_mask,
    random_bowl,
    reference_statistics,
)
from engine.synthetic._kinds import DRAWS, MODELS
from engine.synthetic._sources import Viewing, mogi, raster_coordinates, to_los, tunnel

__all__ = [
    "KINDS",
    "MIXED_WEIGHTS",
    "VERSIONS",
    "MaskSampler",
    "Sample",
    "SampleRecord",
    "make_sample",
    "observation_residual",
    "truth_mask",
]

KINDS = ("point", "tunnel", "mixed", "none")
VERSIONS = ("sparse", "delaunay", "mc")  # Table I's three rows
MARGIN_PX = 48  # canvas margin: the default detector's context on each side of the patch
_MAX_ATTEMPTS = 200
TRUTH_FRACTION = 0.3
# kinds of a mixed positive: Mogi bowls most often (mining, cavities), then the rest
MIXED_WEIGHTS = {
    "mining": 0.35,
    "tunnel": 0.15,
    "quarry": 0.15,
    "dewatering": 0.15,
    "landslide": 0.2,
}
# hard negatives of a mixed sample (either label), each drawn independently
HARD_NEGATIVES = {"spikes": 0.3, "edge": 0.25, "sparse": 0.15}
SPARSE_DENSITY = (0.005, 0.02)


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
    source: str  # "point", "tunnel", a mixed kind ("mining", "quarry", ...) or "none"
    geometry: str
    incidence_deg: float
    heading_deg: float
    atmosphere_a_mm2_yr2: float
    atmosphere_b_per_km: float
    nugget_mm2_yr2: float
    mask: str
    density: float  # observed fraction of the patch
    hard_negatives: str = ""  # "+"-joined: spikes, edge, sparse (mixed kind)
    los_peak_mm_yr: float | None = None  # D at its largest |D| in the patch (signed)
    radius_px: float | None = None  # √(area of |D| ≥ |peak|/2 / π): the half-peak radius
    truth_pixels: int = 0  # pixels of the patch's truth mask
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
    size_m: float | None = None  # mixed kinds: length, diameter or depth, metres
    oracle_t: float | None = None  # reference statistics (evaluation only), see
    oracle_d: float | None = None  # engine.references
    scan_t: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sample:
    """The model inputs of one sample (float32, NaN = unobserved in ``sparse``).

    ``sparse``, ``delaunay`` and ``mc`` are the patch (Table I's inputs; ``delaunay`` is
    ``None`` when not asked for); ``context_mc`` and ``context_observed`` are the whole
    canvas around it, ``truth`` the patch's per-pixel truth mask. ``context_residual`` is
    what matrix completion left of the (median-filtered) observations, ``filtered − mc`` at
    the observed pixels and 0 elsewhere: at rural densities MC smooths a small bowl away,
    and the detector needs what it lost.
    """

    sparse: NDArray[np.float32]
    delaunay: NDArray[np.float32] | None
    mc: NDArray[np.float32]
    record: SampleRecord
    truth: NDArray[np.bool_]
    context_mc: NDArray[np.float32]
    context_observed: NDArray[np.bool_]
    context_residual: NDArray[np.float32] | None = None


@dataclass(frozen=True)
class _Source:
    los: NDArray[np.float64]
    fields: dict[str, Any]


def truth_mask(los: NDArray[np.floating], peak_mm_yr: float, floor_mm_yr: float = 1.0) -> NDArray:
    """Where a source deforms the ground: ``|D| ≥ max(0.3·|peak|, floor)``.

    Examples
    --------
    >>> truth_mask(np.array([0.5, -2.0, 4.0, 10.0]), peak_mm_yr=10.0).tolist()
    [False, False, True, True]
    >>> truth_mask(np.array([0.5, 0.9, 1.0]), peak_mm_yr=2.0).tolist()    # the 1 mm/yr floor
    [False, False, True]
    """
    return np.abs(los) >= max(TRUTH_FRACTION * abs(peak_mm_yr), floor_mm_yr)


def make_sample(
    index: int,
    *,
    kind: str,
    label: int,
    rng: np.random.Generator,
    config: RunConfig = RunConfig(),
    masks: MaskSampler | None = None,
    margin_px: int = MARGIN_PX,
    versions: tuple[str, ...] = VERSIONS,
    references: bool = False,
) -> Sample:
    """Draw and process one sample; see the module docstring for the chain.

    Parameters
    ----------
    index
        Position in the dataset (recorded only).
    kind
        Deformation of a positive: ``"point"`` (Mogi), ``"tunnel"`` or ``"mixed"`` (any of
        the five kinds, with hard negatives); ``"none"`` means ``label`` must be 0.
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
    versions
        Which patch inputs to compute; Delaunay is skipped unless asked for.
    references
        Also score the raw observations with the oracle and scan filters
        (:mod:`engine.references`); a negative's oracle uses a random bowl.

    Examples
    --------
    >>> s = make_sample(0, kind="point", label=1, rng=np.random.default_rng(0))
    >>> s.mc.shape, s.context_mc.shape, s.record.source, s.record.deforming_points >= 4
    ((224, 224), (320, 320), 'point', True)
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
    hard = [h for h, chance in HARD_NEGATIVES.items() if kind == "mixed" and rng.random() < chance]
    if masks is not None:  # the masks bring their own density: no sparse field is drawn
        hard = [h for h in hard if h != "sparse"]
    if masks is None:
        bounds = SPARSE_DENSITY if "sparse" in hard else p.density
        density = math.exp(rng.uniform(*np.log(bounds)))  # log-uniform: rural is common
        mask, mask_name = clustered_mask(shape, density, rng=rng), "generated"
    else:
        mask, mask_name = masks.draw(shape, rng)
    if "edge" in hard:
        mask &= ~gap_mask(shape, margin_px, rng)
    atmosphere = turbulent_atmosphere(shape, a_mm2_yr2=a, b_per_km=b, pixel_size_m=pixel, rng=rng)
    inner = slice(margin_px, margin_px + patch)

    fields: dict[str, Any] = {}
    total = atmosphere.astype(np.float64)
    truth = np.zeros((patch, patch), dtype=bool)
    if label == 1:
        source, attempts = _observable_source(kind, rng, shape, mask, margin_px, config, viewing)
        total += source.los
        fields = dict(source.fields, attempts=attempts)
        fields["centre_row"] -= margin_px
        fields["centre_col"] -= margin_px
        peak = fields["los_peak_mm_yr"]
        truth = truth_mask(source.los[inner, inner], peak, p.positive_floor_mm_yr)
        half = np.count_nonzero(np.abs(source.los) >= 0.5 * abs(peak))
        fields["radius_px"] = math.sqrt(half / math.pi)
        fields["truth_pixels"] = int(truth.sum())

    pool = None if masks is None else masks.noise_pool
    observed = np.flatnonzero(mask)
    values = total.ravel()[observed] + nugget_noise(
        observed.size, nugget_mm2_yr2=nugget, pool=pool, rng=rng
    )
    sparse = np.full(size * size, np.nan, dtype=np.float32)
    sparse[observed] = values
    sparse = sparse.reshape(shape)
    if "spikes" in hard:
        add_spike_cluster(sparse, margin_px, pixel, rng)
    if references:
        deformation = source.los if label == 1 else random_bowl(shape, margin_px, pixel, rng)
        fields.update(reference_statistics(sparse, deformation, a, b, nugget, pixel, margin_px))

    filtered = denoise(sparse, params=config.denoise).filtered
    dense_dt = delaunay(filtered) if "delaunay" in versions else None
    dense_mc = interpolate(filtered, params=config.interpolate)
    record = SampleRecord(
        index=index,
        label=label,
        source=fields.pop("kind", kind) if label else "none",
        geometry=viewing.geometry,
        incidence_deg=viewing.incidence_deg,
        heading_deg=viewing.heading_deg,
        atmosphere_a_mm2_yr2=a,
        atmosphere_b_per_km=b,
        nugget_mm2_yr2=nugget,
        mask=mask_name,
        density=float(np.isfinite(sparse[inner, inner]).mean()),
        hard_negatives="+".join(hard),
        **fields,
    )
    return Sample(
        sparse=np.ascontiguousarray(sparse[inner, inner]),
        delaunay=None if dense_dt is None else np.ascontiguousarray(dense_dt[inner, inner]),
        mc=np.ascontiguousarray(dense_mc[inner, inner]),
        record=record,
        truth=truth,
        context_mc=dense_mc.astype(np.float32),
        context_observed=np.isfinite(sparse),
        context_residual=observation_residual(filtered, dense_mc),
    )


def observation_residual(
    filtered: NDArray[np.floating], dense: NDArray[np.floating]
) -> NDArray[np.float32]:
    """``filtered − dense`` where ``filtered`` is observed, 0 elsewhere (and where either is NaN).

    Blind to a constant added to both, as the detector must be to the reference point.

    Examples
    --------
    >>> observation_residual(np.array([[5.0, np.nan]]), np.array([[2.0, 1.0]])).tolist()
    [[3.0, 0.0]]
    """
    r = np.asarray(filtered, dtype=np.float32) - np.asarray(dense, dtype=np.float32)
    return np.where(np.isfinite(r), r, np.float32(0.0)).astype(np.float32)


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
    patch = np.zeros(shape, dtype=bool)
    patch[margin_px : rows - margin_px, margin_px : cols - margin_px] = True
    inside = np.zeros(shape, dtype=bool)
    lo = margin_px + 16  # keep centres 16 px inside the patch, where the model judges them
    inside[lo : rows - lo, lo : cols - lo] = True
    seen_here = mask & patch
    candidates = np.flatnonzero(mask & inside)
    draw = {"point": _draw_point, "tunnel": _draw_tunnel, "mixed": _draw_mixed}[kind]
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        if candidates.size and rng.random() < 0.5:  # under the scatterers (towns, roads) …
            r, c = divmod(int(rng.choice(candidates)), cols)
            centre = (r + rng.uniform(-0.5, 0.5), c + rng.uniform(-0.5, 0.5))
        else:  # … or anywhere
            centre = (rng.uniform(lo, rows - lo), rng.uniform(lo, cols - lo))
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


def _draw_mixed(
    rng: np.random.Generator,
    shape: tuple[int, int],
    centre: tuple[float, float],
    config: RunConfig,
    viewing: Viewing,
) -> _Source:
    """One of the five kinds, scaled to a peak LOS rate drawn in ``los_velocity_mm_yr``."""
    p = config.synthetic
    kinds = list(MIXED_WEIGHTS)
    kind = kinds[int(rng.choice(len(kinds), p=list(MIXED_WEIGHTS.values())))]
    params = DRAWS[kind](rng, p)
    x, y = raster_coordinates(shape, centre_px=centre, pixel_size_m=config.grid.pixel_size_m)
    los = to_los(MODELS[kind](params, x, y), viewing)
    peak = float(los.flat[np.argmax(np.abs(los))])
    target = float(rng.uniform(*p.los_velocity_mm_yr))
    scale = target / max(abs(peak), 1e-12)
    size = {
        "mining": params.get("depth_m"),
        "tunnel": params.get("length_m"),
        "quarry": params.get("length_m"),
        "dewatering": 2.0 * math.sqrt(2.0 * math.log(5.0)) * params.get("sigma_m", 0.0),
        "landslide": params.get("length_m"),
    }[kind]
    fields = {
        "kind": kind,
        "los_peak_mm_yr": peak * scale,
        "centre_row": centre[0],
        "centre_col": centre[1],
        "size_m": size,
        "depth_m": params.get("depth_m"),
    }
    return _Source(los * scale, fields)
