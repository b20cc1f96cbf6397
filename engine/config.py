"""Configuration: one typed object holding every default of the chain (the papers' values).

Each stage takes its own ``<Stage>Params``; :class:`RunConfig` nests them all, plus the
seed, the CRS and the grid. Every default lives here and nowhere else. References are to
000_c0a19baeb6bee3ed.txt (Anantrasirichai et al.) unless "004" (Van Anh et al.) is named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "BaselineParams",
    "DenoiseParams",
    "DetectParams",
    "GridParams",
    "IngestParams",
    "InterpolateParams",
    "ModelParams",
    "RunConfig",
    "SitesParams",
    "SyntheticParams",
    "TimeseriesParams",
    "ValidateParams",
    "WrapParams",
    "check_memory",
    "load_config",
]


# Bounds that keep one tile's rasters, and the kernels run over them, within reach of a
# machine's memory; finer checks against this machine's memory are in check_memory.
MAX_RASTER_PX = 16_384
MAX_KERNEL_PX = 1024
Probability = Annotated[float, Field(gt=0, lt=1)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestParams(_Params):
    batch_rows: int = Field(
        1_000_000, gt=0, le=100_000_000, description="Rows per streamed batch; bounds ingest memory"
    )
    workers: int = Field(
        0, ge=0, description="Processes that share one large CSV; 0 = one per core"
    )
    max_abs_velocity_mm_yr: float = Field(
        1000.0, gt=0, description="Velocities beyond this are refused as a unit mistake"
    )


class TimeseriesParams(_Params):
    min_epochs: int = Field(
        3, ge=3, description="Fewest dated displacements for a velocity and its error (004 eq. 3)"
    )
    scale_by_residuals: bool = Field(
        True,
        description=(
            "Velocity error from the a-posteriori variance factor Σw·r²/(n−2) (004 eq. 3–4); "
            "False keeps the a-priori error, for weights that are absolute 1/σ²"
        ),
    )


class GridParams(_Params):
    pixel_size_m: float = Field(
        10.0, gt=0, le=10_000, description="Grid pixel size in metres (§II-B)"
    )
    tile_size_px: int = Field(
        2500, ge=64, le=MAX_RASTER_PX, description="Tile edge in pixels (§IV-C)"
    )
    tile_overlap_px: int = Field(
        250,
        ge=0,
        le=MAX_RASTER_PX // 4,
        description="Overlap added on each side of a tile: at least one CNN patch (§II-A); "
        "250 makes a 2500 px tile a 3000 px raster, a fast FFT size (2948 has the factor 67)",
    )


class DenoiseParams(_Params):
    median_size_px: int = Field(
        3, ge=1, le=MAX_KERNEL_PX, description="NaN-aware median window Med_3x3 (§III-A)"
    )


class InterpolateParams(_Params):
    method: Literal["fast", "reference"] = Field(
        "fast", description="'reference' is Algorithm 1 literally; 'fast' is the production path"
    )
    schatten_p: float = Field(0.8, gt=0, le=1, description="Schatten-p exponent (§III-A)")
    gaussian_sigma_px: float = Field(
        5.0, ge=0, description="Gaussian filter applied every iteration (§III-A)"
    )
    step_lambda_factor: float = Field(
        1.1, gt=0, description="Gradient step λ = factor · largest eig(MᵀM) (Algorithm 1)"
    )
    alpha0_factor: float = Field(0.9, gt=0, description="α₀ = factor · max|M x₀| (Algorithm 1)")
    alpha_decay: float = Field(0.9, gt=0, lt=1, description="α ← decay · α each iteration")
    tolerance: float = Field(
        1e-4,
        gt=0,
        description="Stopping tolerance τ: relative change per iteration (Algorithm 1); the fast "
        "solver uses it as its relative residual",
    )
    max_iterations: int = Field(200, ge=1, le=100_000, description="Iteration cap K (Algorithm 1)")
    residual_passes: int = Field(
        1,
        ge=0,
        le=5,
        description="Final data-consistency passes (twicing): interpolate the residual at the "
        "observed pixels again and add it. Not in the paper; 0 = Algorithm 1 as published",
    )


class SyntheticParams(_Params):
    mogi_depth_m: tuple[float, float] = Field(
        (30.0, 800.0),
        description="Mogi depth range, drawn log-uniformly: the paper's 3–80 read in pixels "
        "of its 10 m product (§III-B), i.e. bowls of 2–60 px to half-peak",
    )
    quarry_size_m: tuple[float, float] = Field(
        (100.0, 300.0), description="Quarry and clay-pit bowl length (§IV-C)"
    )
    dome_size_m: tuple[float, float] = Field(
        (500.0, 3000.0),
        description="Uplift dome diameter at 20 % of its peak, log-uniform (dewatering, "
        "mine-water rebound; §IV-C)",
    )
    landslide_length_m: tuple[float, float] = Field(
        (100.0, 500.0), description="Landslide block length (§IV-C)"
    )
    tunnel_l_sag_m: tuple[float, float] = Field((30.0, 80.0), description="Sagging zone (§III-B)")
    tunnel_l_hog_m: tuple[float, float] = Field((30.0, 80.0), description="Hogging zone (§III-B)")
    tunnel_d_sag_mm: tuple[float, float] = Field((1.0, 10.0), description="Sag depth (§III-B)")
    tunnel_d_hog_mm: tuple[float, float] = Field((1.0, 5.0), description="Hog height (§III-B)")
    los_velocity_mm_yr: tuple[float, float] = Field(
        (1.0, 15.0),
        description="Peak LOS rate of a point source, drawn uniformly; tunnels are scaled "
        "down to the upper end (§III-B: 0–15 mm/yr; below ~1 mm/yr a source is noise)",
    )
    inflation_fraction: float = Field(
        0.5, ge=0, le=1, description="Share of point sources that inflate (uplift)"
    )
    atmosphere_a_mm2_yr2: tuple[float, float] = Field(
        (0.7, 1.8), description="Covariance C(d)=a·exp(-b·d): a range (§III-B)"
    )
    atmosphere_b_per_km: tuple[float, float] = Field(
        (0.8, 1.6), description="Covariance decay b range (§III-B)"
    )
    sill_mm2_yr2: tuple[float, float] = Field(
        (1.5, 2.9), description="Variogram sill; the nugget is sill − a (§II-B)"
    )
    min_nugget_mm2_yr2: float = Field(
        0.1, ge=0, description="Smallest nugget (spike-noise variance) when sill − a is less"
    )
    density: tuple[float, float] = Field(
        (0.02, 0.30),
        description="Fraction of pixels observed in generated masks, drawn log-uniformly (§III-B)",
    )
    incidence_deg: tuple[float, float] = Field(
        (30.0, 46.0), description="Sentinel-1 IW incidence range"
    )
    heading_deg: dict[str, tuple[float, float]] = Field(
        {"ascending": (-14.0, -8.0), "descending": (188.0, 194.0)},
        description="Track angle ranges over Great Britain and Europe (EGMS track_angle)",
    )
    positive_min_points: int = Field(
        4,
        ge=0,
        description="A positive needs this many observed pixels of strong deformation "
        "(|D| ≥ max(floor, peak/2)); else it is drawn again. 0 = keep every draw",
    )
    positive_floor_mm_yr: float = Field(
        1.0, ge=0, description="Smallest |D| that counts as observed deformation"
    )


class WrapParams(_Params):
    rho_mm_yr: tuple[Positive, ...] = Field(
        min_length=1,
        default=(14.0, 7.0, 3.5, 1.75),
        description="Wrap intervals ρ, over-wrapping (§III-C)",
    )
    tau_mm_yr: tuple[Finite, ...] = Field(
        min_length=1, default=(0.0, 3.5, 7.0, 10.5), description="Wrap offsets τ (§III-C)"
    )


class ModelParams(_Params):
    patch_size_px: int = Field(224, ge=32, le=MAX_KERNEL_PX, description="CNN input patch (§II-A)")


class DetectParams(_Params):
    stride_px: int = Field(28, ge=1, le=MAX_KERNEL_PX, description="Sliding-window stride (§II-A)")
    merge_size_px: int = Field(
        20, ge=1, le=MAX_KERNEL_PX, description="Gaussian merge kernel size (§II-A)"
    )
    merge_sigma_px: float = Field(
        5.0, gt=0, le=MAX_KERNEL_PX, description="Gaussian merge sigma (§II-A)"
    )
    evidence_px: int = Field(
        31,
        ge=1,
        le=MAX_KERNEL_PX,
        description="Side of the window whose scatterers weigh each geometry in the "
        "ascending/descending mean (§III-D)",
    )


class SitesParams(_Params):
    levels: tuple[Probability, ...] = Field(
        min_length=1,
        default=(0.5, 0.75, 0.9),
        description="Probability levels that define sites (§IV-C)",
    )
    ring_width_px: int = Field(
        20,
        ge=1,
        le=MAX_KERNEL_PX,
        description="Width of the ring around a site that its motion is measured against",
    )
    min_points: int = Field(4, ge=1, description="Fewest observed points in a site (§IV-C)")
    max_beyond_m: float = Field(
        100.0,
        gt=0,
        description="Farthest a site's outline (and the heatmap) reaches beyond "
        "the data; points above a level this close join one site",
    )
    buffer_px: int = Field(2, ge=0, description="Outline hugs the points at this many pixels")
    stable_mm_yr: float = Field(
        1.0, ge=0, description="A ring slower than this is called stable in the motion text"
    )


class BaselineParams(_Params):
    thresholds_mm_yr: tuple[Positive, ...] = Field(
        min_length=1, default=(3.0, 4.5, 5.0), description="|v| thresholds of the baseline (§IV-C)"
    )
    dilation_px: int = Field(
        18, ge=0, le=MAX_KERNEL_PX, description="Dilation of thresholded points (§IV-C)"
    )
    median_size_px: int = Field(
        3, ge=1, le=MAX_KERNEL_PX, description="Median filter of the baseline (§IV-C)"
    )
    min_points: int = Field(4, ge=1, description="Fewest points for a baseline site (§IV-C)")
    ring_width_px: int = Field(
        20,
        ge=1,
        le=MAX_KERNEL_PX,
        description="Width of the ring around a site that its motion is measured against",
    )


class ValidateParams(_Params):
    radius_m: float = Field(20.0, gt=0, description="GNSS ↔ PS matching radius (004 §5.2)")
    min_points: int = Field(
        1, ge=1, description="Fewest PS within the radius for a benchmark to count (004: any)"
    )
    statistic: Literal["mean", "median"] = Field(
        "mean",
        description="How the PS velocities within the radius are combined: their mean, as in "
        "004 Table 2, or the median, robust to a stray scatterer",
    )
    direction: Literal["los", "vertical"] = Field(
        "los",
        description="'los': GNSS projected on the points' mean line of sight (no assumption on "
        "the InSAR side); 'vertical': each PS velocity divided by its los_up (motion assumed "
        "vertical) and compared with the GNSS vertical rate",
    )
    search_m: float = Field(
        1000.0, gt=0, description="Unmatched benchmarks report their nearest PS within this"
    )
    series_window: Literal["insar", "all"] = Field(
        "insar",
        description="GNSS series fitted over the InSAR dataset's dates (004 §5.2 compares the "
        "same period) or over the whole record",
    )
    min_series_years: float = Field(
        1.0, gt=0, description="Shortest GNSS series that gives a rate (less seasonal bias)"
    )


class RunConfig(_Params):
    """Everything a run depends on; :mod:`engine.hashing` puts it into the cache keys."""

    seed: int = Field(0, ge=0, description="Seed for every random draw of the run")
    crs: str | None = Field(
        None, description="Run CRS; None = EPSG:27700 in Great Britain, else the UTM zone"
    )
    ingest: IngestParams = IngestParams()
    timeseries: TimeseriesParams = TimeseriesParams()
    grid: GridParams = GridParams()
    denoise: DenoiseParams = DenoiseParams()
    interpolate: InterpolateParams = InterpolateParams()
    synthetic: SyntheticParams = SyntheticParams()
    wrap: WrapParams = WrapParams()
    model: ModelParams = ModelParams()
    detect: DetectParams = DetectParams()
    sites: SitesParams = SitesParams()
    baseline: BaselineParams = BaselineParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from engine.errors import InputError
        from engine.grid import check_crs  # imports pyproj: only when a CRS is given

        try:
            return check_crs(value, origin="crs", projected=True)
        except InputError as exc:  # pydantic reports ValueErrors with the field's place
            raise ValueError(exc.problem) from None

    def to_yaml(self) -> str:
        """YAML text of the whole config (tuples written as lists)."""
        data = json.loads(self.model_dump_json(by_alias=True))
        return yaml.safe_dump(data, sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> RunConfig:
        """Parse YAML text; missing keys take the defaults."""
        data = yaml.safe_load(text) or {}
        if not isinstance(data, Mapping):
            raise ValueError("expected a YAML mapping at the top level")
        return cls.model_validate(data)


def load_config(path: str | Path | None) -> RunConfig:
    """Read a YAML config file; ``None`` gives the defaults.

    Raises
    ------
    engine.errors.InputError
        When the file is missing, is not YAML or holds an unknown or out-of-range key.
    """
    from engine.errors import InputError

    if path is None:
        return RunConfig()
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder", "a YAML config file")
    try:
        return RunConfig.from_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "file not found", "a YAML config file") from None
    except UnicodeDecodeError:
        raise InputError(path, "is not UTF-8 text", "a YAML config file") from None
    except OSError as exc:  # no permission, a name too long, ...
        reason = (exc.strerror or type(exc).__name__).lower()
        raise InputError(path, f"cannot be read ({reason})", "a YAML config file") from None
    except (yaml.YAMLError, ValueError) as exc:
        first = _first_error_line(exc)
        raise InputError(path, first, "a valid Groundwatch config") from None


def check_memory(config: RunConfig, *, need_bytes: float, what: str) -> None:
    """Refuse work that would not fit in this machine's memory, before it starts.

    ``what`` says what takes the memory, e.g. ``"tiles of 3000² pixels"``.

    Raises
    ------
    engine.errors.InputError
        Naming the pixel and tile sizes and the memory they would take.
    """
    import psutil

    from engine.errors import InputError

    have = psutil.virtual_memory().total
    if need_bytes > have:
        grid = config.grid
        raise InputError(
            "config",
            f"grid.pixel_size_m {grid.pixel_size_m:g} with grid.tile_size_px "
            f"{grid.tile_size_px} needs {what}, about {need_bytes / 2**30:,.0f} GiB",
            f"at most this machine's {have / 2**30:,.0f} GiB: a larger pixel size or a "
            "smaller tile",
        )


def _first_error_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        return f"key {loc}: {err['msg']}"
    return str(exc).splitlines()[0]
