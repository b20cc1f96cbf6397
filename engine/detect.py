"""Probability of deformation at every pixel of an interpolated tile (§II-A, §III-C).

The default detector (:class:`engine.detector.GroundSeg`) scores the interpolated tile in
one fully convolutional pass: its per-pixel probability is the map (sites follow it), and
the probability of every 224 px patch — its largest block probability — is kept beside
it at a 16 px step, exactly the numbers of patches cut out with their context.

The paper-literal classifier (``--model paper``, the weights ``mc``/``delaunay``/``sparse``)
works as the paper does. The tile is wrapped at every interval ρ and offset τ; each wrapped
map is classified patch by patch (224 px patches); ``P_ρ = max_τ P(ρ, τ)`` per patch,
``P = mean_ρ P_ρ``. A patch's probability belongs to its centre: the patch grid is spread
bilinearly over the pixels between patch centres (held constant beyond the outermost ones),
then merged with the paper's Gaussian (size 20 px, σ 5 px). Pixels with no observed point
within half a patch get NaN: there is nothing there to detect, only interpolation.

Two ways to score the patches, same weights:

``"fully_conv"`` (default)
    :meth:`engine.model.GroundNet.patch_logits` on the whole wrapped tile: every 224 px
    window at a 16 px step in one pass, the convolutions shared between overlapping
    windows. Differs from cutting patches out only by the zero padding at patch edges.
``"sliding"``
    The paper's literal procedure and our reference: patches cut out at a 28 px stride
    (plus a last one flush with each edge), classified in batches.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft
import torch
from numpy.typing import NDArray
from scipy import ndimage

from engine.combine import Combined, combine
from engine.config import RunConfig
from engine.denoise import denoise
from engine.detector import CHANNELS, GroundSeg, encode_context, pixel_logits_to_map
from engine.errors import GroundwatchError
from engine.interpolate import interpolate
from engine.model import encode_wrapped, for_inference, load_model
from engine.synthetic import observation_residual

__all__ = [
    "ProbabilityMap",
    "TileDetection",
    "data_window",
    "detect_tile",
    "detection_model",
    "merge_patches",
    "patch_grid",
    "probability_map",
]

Method = Literal["fully_conv", "sliding"]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ProbabilityMap:
    """Result of :func:`probability_map`."""

    probability: NDArray[np.float32]
    """``P = mean_ρ max_τ P(ρ, τ)`` merged to pixels, ``(rows, cols)``; NaN = unscored."""
    patch_rho: NDArray[np.float32]
    """``P_ρ`` of every patch, ``(len(rho), gh, gw)``: which intervals see the signal."""
    centre_rows: NDArray[np.float64]
    """Pixel coordinates of the patch centres (``patch_rho``'s rows and columns)."""
    centre_cols: NDArray[np.float64]
    rho_mm_yr: tuple[float, ...]
    method: str
    step_px: int
    """Distance between patch centres (16 fully convolutional, the stride when sliding)."""
    pixel_probability: NDArray[np.float32] | None = None
    """The default detector's per-pixel probability (also ``probability``); None for the
    paper's classifier, which has none."""


@functools.lru_cache(maxsize=4)
def detection_model(name: str = "default", pixel_size_m: float = 10.0) -> torch.nn.Module:
    """Shipped weights by name, folded for inference; refuses another pixel size.

    A model learned its sources in metres at one pixel size (DESIGN.md): the same bowl
    on another grid is another shape. ``"paper"`` names the paper-literal classifier on
    matrix-completion input (``"mc"``).
    """
    model, card = load_model(name)
    trained = float(card.get("pixel_size_m", pixel_size_m))
    if not np.isclose(trained, pixel_size_m):
        raise GroundwatchError(
            f"model {name!r} was trained at {trained:g} m pixels; the grid has "
            f"{pixel_size_m:g} m. Re-grid the data at {trained:g} m or train a model for it"
        )
    return for_inference(model)


def probability_map(
    velocity: NDArray[np.floating],
    *,
    observed: NDArray[np.bool_] | None = None,
    model: torch.nn.Module | None = None,
    config: RunConfig = RunConfig(),
    method: Method = "fully_conv",
    progress: Progress | None = None,
    observations: NDArray[np.floating] | None = None,
) -> ProbabilityMap:
    """Probability map of an interpolated velocity tile.

    Parameters
    ----------
    velocity
        Interpolated (dense) velocities, mm/yr, ``(rows, cols)``; NaN pixels are fed to
        the model as unobserved.
    observed
        Pixels that hold a real point; defaults to the finite pixels of ``velocity``.
        Decides where the map is defined (NaN farther than half a patch from any).
    model
        A classifier of wrapped patches; default :func:`detection_model` at the grid's
        pixel size. ``"fully_conv"`` needs a model with ``patch_logits``.
    config
        ``wrap`` intervals and offsets, ``model.patch_size_px``, ``detect`` stride and merge.
    method
        ``"fully_conv"`` (fast) or ``"sliding"`` (the reference).
    progress
        Called with ``(done, total)`` over the ρ × τ wrapped maps.
    observations
        The (median-filtered) sparse values the interpolation was made from, NaN where
        none: a default detector with a residual channel needs them.
    """
    v = np.asarray(velocity, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"velocity must be 2-D, got shape {v.shape}")
    if model is None:
        model = detection_model("default", config.grid.pixel_size_m)
    obs = np.isfinite(v) if observed is None else np.asarray(observed, dtype=bool)
    patch = config.model.patch_size_px
    if isinstance(model, GroundSeg):
        return segment_map(v, obs, model, patch_px=patch, observations=observations)
    rhos, taus = config.wrap.rho_mm_yr, config.wrap.tau_mm_yr
    grid, centres_r, centres_c, step = patch_grid(
        model, v, rhos, taus, patch_px=patch, method=method, stride_px=config.detect.stride_px,
        progress=progress,
    )  # fmt: skip
    p_rho = grid.max(axis=1)  # over τ: the offset that shows the signal best
    d = config.detect
    # the merge is linear, so merging the mean over ρ once equals the mean of merged P_ρ
    probability = merge_patches(
        p_rho.mean(axis=0), centres_r, centres_c, v.shape, d.merge_size_px, d.merge_sigma_px
    )
    near_data = ndimage.uniform_filter(obs.astype(np.float32), size=patch, mode="constant") > 0
    probability[~near_data] = np.nan
    return ProbabilityMap(probability, p_rho, centres_r, centres_c, tuple(rhos), method, step)


@torch.no_grad()
def segment_map(
    velocity: NDArray[np.float32],
    observed: NDArray[np.bool_],
    model: GroundSeg,
    *,
    patch_px: int = 224,
    observations: NDArray[np.floating] | None = None,
) -> ProbabilityMap:
    """The default detector's maps of a tile: per pixel, and per patch at a 16 px step.

    Pixels farther than half a patch from every observed point are NaN, as for the paper's
    maps; so is the ``model.context`` px rim, which has no context to be judged with.
    ``observations`` (the values ``velocity`` interpolates) are needed by a model with a
    residual channel.

    Raises
    ------
    ValueError
        If the model reads the residual and ``observations`` is None.
    """
    residual = None
    if getattr(model, "in_channels", CHANNELS) > CHANNELS:
        if observations is None:
            raise ValueError("this detector reads the observations' residual: pass observations")
        residual = observation_residual(np.where(observed, observations, np.nan), velocity)
    x = torch.from_numpy(encode_context(velocity, observed, residual))[None]
    blocks = model.eval()(x.contiguous(memory_format=torch.channels_last))[0]
    pixel = pixel_logits_to_map(blocks.numpy(), velocity.shape, stride=model.stride,
                                context=model.context)  # fmt: skip
    near_data = ndimage.uniform_filter(observed.astype(np.float32), size=patch_px,
                                       mode="constant") > 0  # fmt: skip
    pixel[~near_data] = np.nan
    per_patch = patch_px // model.stride
    step = 16 // model.stride
    patches = torch.sigmoid(GroundSeg.patch_logits(blocks[None], per_patch))[0, ::step, ::step]
    first = model.context + patch_px / 2.0 - 0.5
    rows = first + 16.0 * np.arange(patches.shape[0])
    cols = first + 16.0 * np.arange(patches.shape[1])
    return ProbabilityMap(pixel, patches.numpy()[None], rows, cols, (), "segment", 16, pixel)


def patch_grid(
    model: torch.nn.Module,
    velocity: NDArray[np.float32],
    rhos: tuple[float, ...],
    taus: tuple[float, ...],
    *,
    patch_px: int = 224,
    method: Method = "fully_conv",
    stride_px: int = 28,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.float64], int]:
    """Patch probabilities ``(len(rhos), len(taus), gh, gw)`` and the patch centres.

    Returns ``(grid, centre_rows, centre_cols, step)``; centres in pixel coordinates of
    ``velocity`` (pixel ``i`` spans ``[i, i+1)``, so a patch from 0 has its centre at
    ``patch_px / 2``). Tiles smaller than a patch are padded with unobserved pixels.
    """
    rows, cols = velocity.shape
    padded = np.full((max(rows, patch_px), max(cols, patch_px)), np.nan, dtype=np.float32)
    padded[:rows, :cols] = velocity
    finite = np.isfinite(padded)
    buffer = None
    total = len(rhos) * len(taus)
    grids = []
    with torch.inference_mode():
        for k, (rho, tau) in enumerate((r, t) for r in rhos for t in taus):
            x = encode_wrapped(padded, rho, tau, finite=finite, out=buffer)
            buffer = x.permute(0, 2, 3, 1).numpy()  # the same memory, NHWC
            if method == "fully_conv":
                if not hasattr(model, "patch_logits"):
                    raise ValueError(f"{type(model).__name__} is not fully convolutional")
                grids.append(torch.sigmoid(model.patch_logits(x))[0].numpy())
                step = int(model.stride)
            elif method == "sliding":
                grids.append(_sliding(model, x, patch_px, stride_px, batch_size))
                step = stride_px
            else:
                raise ValueError(f"method must be 'fully_conv' or 'sliding', got {method!r}")
            if progress is not None:
                progress(k + 1, total)
    grid = np.stack(grids).reshape(len(rhos), len(taus), *grids[0].shape)
    if method == "fully_conv":
        starts_r = step * np.arange(grid.shape[2])
        starts_c = step * np.arange(grid.shape[3])
    else:
        starts_r, starts_c = (
            _starts(padded.shape[0], patch_px, step),
            _starts(padded.shape[1], patch_px, step),
        )
    return grid.astype(np.float32), starts_r + patch_px / 2, starts_c + patch_px / 2, step


def _starts(n: int, patch: int, stride: int) -> NDArray[np.float64]:
    starts = list(range(0, n - patch + 1, stride))
    if starts[-1] != n - patch:
        starts.append(n - patch)  # one flush with the edge, so every pixel is covered
    return np.asarray(starts, dtype=np.float64)


def _sliding(
    model: torch.nn.Module, x: torch.Tensor, patch: int, stride: int, batch_size: int
) -> NDArray[np.float32]:
    rs = _starts(x.shape[2], patch, stride).astype(int)
    cs = _starts(x.shape[3], patch, stride).astype(int)
    corners = [(r, c) for r in rs for c in cs]
    out = []
    for i in range(0, len(corners), batch_size):
        chunk = corners[i : i + batch_size]
        batch = torch.cat([x[:, :, r : r + patch, c : c + patch] for r, c in chunk])
        out.append(torch.sigmoid(model(batch.contiguous(memory_format=torch.channels_last))))
    return torch.cat(out).numpy().reshape(len(rs), len(cs))


def merge_patches(
    grid: NDArray[np.floating],
    centre_rows: NDArray[np.floating],
    centre_cols: NDArray[np.floating],
    shape: tuple[int, int],
    size_px: int = 20,
    sigma_px: float = 5.0,
) -> NDArray[np.float32]:
    """Spread patch probabilities over the pixels and merge them with a Gaussian.

    Bilinear between patch centres (separable: ``A_r · grid · A_cᵀ``), constant beyond the
    outermost centres, then a Gaussian of standard deviation ``sigma_px`` cut at
    ``size_px / 2`` (§II-A).

    Examples
    --------
    >>> g = np.array([[0.0, 1.0]])
    >>> m = merge_patches(g, np.array([1.0]), np.array([1.0, 3.0]), (2, 4), sigma_px=1e-3)
    >>> m[0].round(2).tolist()
    [0.0, 0.25, 0.75, 1.0]
    """
    rows = _bilinear_weights(np.arange(shape[0]) + 0.5, np.asarray(centre_rows, float))
    cols = _bilinear_weights(np.arange(shape[1]) + 0.5, np.asarray(centre_cols, float))
    spread = (rows @ np.asarray(grid, dtype=np.float64) @ cols.T).astype(np.float32)
    truncate = (size_px / 2) / sigma_px
    return ndimage.gaussian_filter(spread, sigma_px, mode="nearest", truncate=truncate)


def _bilinear_weights(at: NDArray[np.float64], centres: NDArray[np.float64]) -> NDArray:
    """``(len(at), len(centres))`` matrix of linear-interpolation weights."""
    weights = np.zeros((at.size, centres.size))
    if centres.size == 1:
        weights[:, 0] = 1.0
        return weights
    pos = np.clip(at, centres[0], centres[-1])
    right = np.clip(np.searchsorted(centres, pos, side="right"), 1, centres.size - 1)
    left = right - 1
    frac = (pos - centres[left]) / (centres[right] - centres[left])
    rows = np.arange(at.size)
    weights[rows, left] = 1.0 - frac
    weights[rows, right] += frac
    return weights


@dataclass(frozen=True)
class TileDetection:
    """Result of :func:`detect_tile`: per-look interpolations and maps, and their combination."""

    velocity: dict[str, NDArray[np.float32]]
    """Interpolated velocity of each look."""
    maps: dict[str, ProbabilityMap]
    combined: Combined
    seconds: dict[str, float]
    """Wall time of ``"interpolate"`` (denoise included) and ``"score"``, all looks."""


def detect_tile(
    sparse: Mapping[str, NDArray[np.floating]],
    *,
    model: torch.nn.Module | None = None,
    config: RunConfig = RunConfig(),
    method: Method = "fully_conv",
    progress: Progress | None = None,
) -> TileDetection:
    """Denoise, interpolate and score every look of a tile, then combine the geometries.

    Parameters
    ----------
    sparse
        Gridded raw velocities per look, NaN where no point: keys are the geometry
        (``"ascending"``) or geometry and track (``"ascending:T015"``).
    progress
        Called with ``(done, total)`` over all looks' wrapped maps.
    """
    if model is None:
        model = detection_model("default", config.grid.pixel_size_m)
    looks = {k: np.asarray(v, dtype=np.float32) for k, v in sparse.items()}
    shape = next(iter(looks.values())).shape
    window = data_window(looks.values(), margin_px=config.model.patch_size_px)
    if window is None:  # no point at all: nothing is scored
        empty = {k: np.full(shape, np.nan, np.float32) for k in looks}
        return TileDetection(empty, {}, combine({k: [v] for k, v in empty.items()}),
                             {"interpolate": 0.0, "score": 0.0})  # fmt: skip
    result = _detect_window({k: v[window] for k, v in looks.items()}, model, config, method,
                            progress)  # fmt: skip
    return _embed(result, window, shape)


def data_window(
    rasters: Iterable[NDArray[np.floating]], *, margin_px: int
) -> tuple[slice, slice] | None:
    """The part of a tile worth interpolating: the observed pixels' box plus ``margin_px``.

    Beyond half a patch from every point the map is NaN anyway, and an empty stretch costs
    the interpolation as much as a full one (more: the solver converges slower). The box is
    widened, inside the tile, to sizes the FFT is fast at. None when nothing is observed.
    """
    observed = np.any([np.isfinite(r) for r in rasters], axis=0)
    if not observed.any():
        return None
    out = []
    for axis in (1, 0):
        hits = np.flatnonzero(observed.any(axis=axis))
        n = observed.shape[1 - axis]
        start, stop = max(0, hits[0] - margin_px), min(n, hits[-1] + 1 + margin_px)
        size = min(n, scipy.fft.next_fast_len(stop - start, real=True))
        start = max(0, min(start, n - size))
        out.append(slice(start, start + size))
    return out[0], out[1]


def _detect_window(
    sparse: Mapping[str, NDArray[np.float32]],
    model: torch.nn.Module,
    config: RunConfig,
    method: Method,
    progress: Progress | None,
) -> TileDetection:
    per_look = (
        1
        if isinstance(model, GroundSeg)
        else len(config.wrap.rho_mm_yr) * len(config.wrap.tau_mm_yr)
    )
    total = per_look * len(sparse)
    dense, maps, seconds = {}, {}, {"interpolate": 0.0, "score": 0.0}
    for k, (look, raw) in enumerate(sparse.items()):
        started = time.perf_counter()
        raw = np.asarray(raw, dtype=np.float32)
        filtered = denoise(raw, params=config.denoise).filtered
        dense[look] = interpolate(filtered, params=config.interpolate)
        seconds["interpolate"] += time.perf_counter() - started
        started = time.perf_counter()

        def step(done: int, _: int, offset: int = k * per_look) -> None:
            if progress is not None:
                progress(offset + done, total)

        maps[look] = probability_map(
            dense[look], observed=np.isfinite(raw), model=model, config=config, method=method,
            progress=step, observations=filtered,
        )  # fmt: skip
        seconds["score"] += time.perf_counter() - started
    groups: dict[str, list[NDArray[np.float32]]] = {}
    evidence: dict[str, list[NDArray[np.float32]]] = {}
    size = config.detect.evidence_px
    for look, result in maps.items():
        groups.setdefault(look.split(":")[0], []).append(result.probability)
        seen = np.isfinite(sparse[look]).astype(np.float32)  # scatterers in the window
        count = ndimage.uniform_filter(seen, size=size, mode="constant") * np.float32(size * size)
        evidence.setdefault(look.split(":")[0], []).append(count)
    return TileDetection(dense, maps, combine(groups, evidence), seconds)


def _embed(
    result: TileDetection, window: tuple[slice, slice], shape: tuple[int, int]
) -> TileDetection:
    """Put a window's results back at their place in the whole tile (NaN around)."""

    def full(a: NDArray, fill: float | bool = np.nan) -> NDArray:
        out = np.full(shape, fill, dtype=a.dtype)
        out[window] = a
        return out

    rows, cols = window[0].start, window[1].start
    maps = {
        k: dataclasses.replace(m, probability=full(m.probability),
                               pixel_probability=None if m.pixel_probability is None
                               else full(m.pixel_probability),
                               centre_rows=m.centre_rows + rows, centre_cols=m.centre_cols + cols)
        for k, m in result.maps.items()
    }  # fmt: skip
    c = result.combined
    combined = Combined(full(c.probability), full(c.single_geometry, False),
                        {g: full(s, False) for g, s in c.seen.items()})  # fmt: skip
    velocity = {k: full(v) for k, v in result.velocity.items()}
    return TileDetection(velocity, maps, combined, result.seconds)
