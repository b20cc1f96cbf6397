"""The five kinds of deformation source, shared by training samples and benchmark scenes.

Each kind is a parameter draw (``DRAWS[kind](rng, syn)``, sizes in metres from
:class:`engine.config.SyntheticParams`) and a 3-D rate model of those parameters
(``MODELS[kind](params, x, y)``, metres from the centre → mm/yr east, north, up). The sizes
follow the issue's decision on scale: Mogi depths 30–800 m log-uniform (bowls 2–60 px to
half-peak at 10 m), quarry and clay-pit bowls 100–300 m, uplift domes 0.5–3 km, landslide
blocks 100–500 m moving mostly horizontally, tunnels with 30–80 m zones along ≥ 500 m.
Every draw also returns ``reach_m`` (a bound on the footprint's distance from the centre)
and ``render_radius_m`` (where the field is cut, tapered so the cut leaves no step).

Peak rates are drawn from ``syn.los_velocity_mm_yr`` as a 3-D magnitude; training samples
rescale them to a drawn LOS peak.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.config import SyntheticParams
from engine.synthetic._sources import Displacement, mogi, tunnel

__all__ = ["DRAWS", "KIND_NAMES", "MODELS", "Params", "along_track", "cosine_taper"]

Params = dict[str, Any]
KIND_NAMES: tuple[str, ...] = ("mining", "tunnel", "quarry", "dewatering", "landslide")
_TUNNEL_END_M = 150.0  # a tunnel's settlement fades out over its last 150 m


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


def _rate(rng: np.random.Generator, syn: SyntheticParams) -> float:
    return float(rng.uniform(*syn.los_velocity_mm_yr))


# --- parameter draws -----------------------------------------------------------------------


def _draw_mining(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """Mogi deflation or inflation at a log-uniform depth (a mine panel, a cavity)."""
    depth = _log_uniform(rng, syn.mogi_depth_m)
    rate = _rate(rng, syn)
    up_per_m3 = float(mogi(0.0, 0.0, depth_m=depth, volume_m3=1.0).up)
    # 3-D |u| = s·d²/(d² + r²): cut where it is ~0.2 mm/yr, at least 4 depths out
    render = depth * max(4.0, math.sqrt(rate / 0.2 - 1.0))
    sign = 1.0 if rng.random() < syn.inflation_fraction else -1.0
    return {
        "depth_m": depth,
        "subsidence_mm_yr": -sign * rate,
        "volume_m3": sign * rate / up_per_m3,
        "reach_m": 2.0 * depth,  # 3-D |u| = s·d²/(d² + r²): 20 % of the peak at r = 2·depth
        "render_radius_m": render,
    }


def _draw_tunnel(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """A 0.5–3 km tunnel, straight or curved (radius 1.5–6 km), with 30–80 m zones."""
    length = float(rng.uniform(500.0, 3000.0))
    l_sag = float(rng.uniform(*syn.tunnel_l_sag_m))
    l_hog = float(rng.uniform(*syn.tunnel_l_hog_m))
    curved = rng.random() < 0.5
    curvature = float(rng.choice([-1.0, 1.0]) / rng.uniform(1500.0, 6000.0)) if curved else 0.0
    reach = 0.5 * length + l_sag + l_hog
    return {
        "track": "curved" if curved else "straight",
        "length_m": length,
        "bearing_deg": float(rng.uniform(0.0, 180.0)),
        "curvature_per_m": curvature,
        "l_sag_m": l_sag,
        "l_hog_m": l_hog,
        "d_sag_mm_yr": float(rng.uniform(*syn.tunnel_d_sag_mm)),
        "d_hog_mm_yr": float(rng.uniform(*syn.tunnel_d_hog_mm)),
        "axis_depth_m": 2.0 * l_sag,  # trough width i = K·z₀, K = 0.5 (clay)
        "along_wavelength_m": float(rng.uniform(500.0, 2000.0)),
        "along_modulation": float(rng.uniform(0.0, 0.3)),
        "along_phase": float(rng.uniform(0.0, 2.0 * math.pi)),
        "reach_m": reach,
        "render_radius_m": reach + 20.0,
    }


def _draw_quarry(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """A quarry or clay pit 100–300 m across (aspect 0.6–1), edges smoothed over 10–30 m."""
    length = float(rng.uniform(*syn.quarry_size_m))
    edge = float(rng.uniform(10.0, 30.0))
    return {
        "length_m": length,
        "width_m": length * float(rng.uniform(0.6, 1.0)),
        "orientation_deg": float(rng.uniform(0.0, 180.0)),
        "subsidence_mm_yr": _rate(rng, syn),
        "edge_m": edge,
        "reach_m": 0.5 * length + 2.0 * edge,  # tanh edge: 20 % at 0.7 edge widths out
        "render_radius_m": 0.5 * length + 5.0 * edge,
    }


def _draw_dewatering(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """A broad Gaussian uplift dome (dewatering stopped, mine-water rebound).

    Its diameter at 20 % of the peak (3.59 σ) is drawn log-uniformly in ``dome_size_m``.
    """
    sigma = _log_uniform(rng, syn.dome_size_m) / (2.0 * math.sqrt(2.0 * math.log(5.0)))
    return {
        "sigma_m": sigma,
        "uplift_mm_yr": _rate(rng, syn),
        "reach_m": 1.8 * sigma,  # 20 % of the peak at σ·√(2 ln 5) = 1.79σ
        "render_radius_m": 4.0 * sigma,  # 0.03 % of the peak: no visible cut
    }


def _draw_landslide(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """A block 100–500 m long (width 40–80 % of it) sliding downslope, sinking 10–40 % of that."""
    length = float(rng.uniform(*syn.landslide_length_m))
    down_ratio = float(rng.uniform(0.1, 0.4))
    horizontal = _rate(rng, syn) / math.hypot(1.0, down_ratio)  # 3-D peak = the drawn rate
    return {
        "length_m": length,
        "width_m": length * float(rng.uniform(0.4, 0.8)),
        "azimuth_deg": float(rng.uniform(0.0, 360.0)),  # downslope, clockwise from north
        "horizontal_mm_yr": horizontal,
        "down_mm_yr": horizontal * down_ratio,
        "reach_m": 0.5 * length,
        "render_radius_m": 0.5 * length + 20.0,
    }


# --- 3-D rates at x, y metres from the centre ----------------------------------------------


def _mining(p: Params, x: NDArray, y: NDArray) -> Displacement:
    u = mogi(x, y, depth_m=p["depth_m"], volume_m3=p["volume_m3"])
    radius = p["render_radius_m"]
    # fade the far tail to zero so the window edge leaves no step
    w = cosine_taper(np.hypot(x, y), 0.6 * radius, radius)
    return Displacement(u.east * w, u.north * w, u.up * w)


def _tunnel(p: Params, x: NDArray, y: NDArray) -> Displacement:
    u = tunnel(
        x,
        y,
        bearing_deg=p["bearing_deg"],
        curvature_per_m=p["curvature_per_m"],
        l_sag_m=p["l_sag_m"],
        l_hog_m=p["l_hog_m"],
        d_sag_mm=p["d_sag_mm_yr"],
        d_hog_mm=p["d_hog_mm_yr"],
        axis_depth_m=p["axis_depth_m"],
        along_wavelength_m=p["along_wavelength_m"],
        along_modulation=p["along_modulation"],
        along_phase=p["along_phase"],
    )
    half = 0.5 * p["length_m"]
    along = np.abs(along_track(x, y, p["bearing_deg"], p["curvature_per_m"]))
    w = cosine_taper(along, half - _TUNNEL_END_M, half)  # a finite line, not an endless one
    return Displacement(u.east * w, u.north * w, u.up * w)


def _quarry(p: Params, x: NDArray, y: NDArray) -> Displacement:
    along, across = _rotate(x, y, p["orientation_deg"])
    a, b = 0.5 * p["length_m"], 0.5 * p["width_m"]
    rho = np.sqrt((along / a) ** 2 + (across / b) ** 2)
    mean_radius = math.sqrt(a * b)
    outside = (rho - 1.0) * mean_radius  # ≈ signed distance to the rim, metres
    edge = p["edge_m"]
    shape_ = (1.0 - np.tanh(outside / edge)) / (1.0 + math.tanh(mean_radius / edge))
    up = -p["subsidence_mm_yr"] * shape_
    return Displacement(np.zeros_like(up), np.zeros_like(up), up)


def _dewatering(p: Params, x: NDArray, y: NDArray) -> Displacement:
    up = p["uplift_mm_yr"] * np.exp(-(x * x + y * y) / (2.0 * p["sigma_m"] ** 2))
    return Displacement(np.zeros_like(up), np.zeros_like(up), up)


def _landslide(p: Params, x: NDArray, y: NDArray) -> Displacement:
    along, across = _rotate(x, y, p["azimuth_deg"])
    rho2 = (along / (0.5 * p["length_m"])) ** 2 + (across / (0.5 * p["width_m"])) ** 2
    lobe = np.where(rho2 < 1.0, (1.0 - np.minimum(rho2, 1.0) ** 2) ** 2, 0.0)  # smooth to 0
    azimuth = math.radians(p["azimuth_deg"])
    h = p["horizontal_mm_yr"] * lobe
    return Displacement(h * math.sin(azimuth), h * math.cos(azimuth), -p["down_mm_yr"] * lobe)


def _rotate(x: NDArray, y: NDArray, bearing_deg: float) -> tuple[NDArray, NDArray]:
    """Coordinates along ``bearing_deg`` (clockwise from north) and to its right."""
    theta = math.radians(bearing_deg)
    s, c = math.sin(theta), math.cos(theta)
    return x * s + y * c, x * c - y * s


def along_track(x: NDArray, y: NDArray, bearing_deg: float, curvature_per_m: float) -> NDArray:
    """Arc length along the axis of :func:`engine.synthetic.tunnel` (same frame)."""
    along, right = _rotate(x, y, bearing_deg)
    if abs(curvature_per_m) < 1e-9:
        return along
    radius = 1.0 / abs(curvature_per_m)
    dr = math.copysign(1.0, curvature_per_m) * right - radius
    return radius * np.arctan2(along, -dr)


def cosine_taper(distance: NDArray, start: float, stop: float) -> NDArray:
    """1 up to ``start``, a half cosine down to 0 at ``stop``, 0 beyond."""
    t = np.clip((distance - start) / (stop - start), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * t))


DRAWS: dict[str, Callable[[np.random.Generator, SyntheticParams], Params]] = {
    "mining": _draw_mining,
    "tunnel": _draw_tunnel,
    "quarry": _draw_quarry,
    "dewatering": _draw_dewatering,
    "landslide": _draw_landslide,
}
MODELS: dict[str, Callable[[Params, NDArray, NDArray], Displacement]] = {
    "mining": _mining,
    "tunnel": _tunnel,
    "quarry": _quarry,
    "dewatering": _dewatering,
    "landslide": _landslide,
}
