"""Denoise (§III-A): NaN-aware median filter Med_3x3 of sparse velocities and the noise map.

Before interpolation the paper suppresses high-amplitude spike noise with a two-dimensional
median filter "that omits NaN values in the median calculation", and records the noise map
``N = y − Med_3x3(y)`` for generating synthetic data with the same character (§III-B).

Choices
-------
* The filter is applied to the sparse observations only: the output is NaN wherever the
  input is NaN, so no pixel is invented here (filling is the interpolator's job). An observed
  pixel's median is taken over the observed pixels of its window, itself included, so it is
  always defined; an isolated pixel keeps its value (noise 0).
* With an even number of observed values the median is the mean of the two middle ones
  (the convention of :func:`numpy.nanmedian`), so results equal ``nanmedian`` exactly.
* Speed: the median is computed only at observed pixels. For each one the ``k²`` window
  values are gathered into ``k²`` flat arrays (NaN → +inf), sorted element-wise by a pruned
  Batcher odd–even merge sorting network (28 compare–exchanges for 3×3, each a vectorised
  ``minimum``/``maximum``), and the middle value(s) are picked by the count of finite values.
  This is exact and ~0.1–0.3 s for a 2500² tile at 10–30 % density, where
  ``np.nanmedian`` over a stack of shifted copies takes ~16 s and ``generic_filter`` longer.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from engine.config import DenoiseParams

__all__ = ["DenoiseResult", "denoise", "median_nan", "noise_map"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 18  # observed pixels per sorting-network pass (keeps temporaries in cache)


class DenoiseResult(NamedTuple):
    """Output of :func:`denoise`."""

    filtered: NDArray[np.float32]
    """``Med(y)``: NaN-aware median of the observed pixels, NaN elsewhere, mm/yr."""
    noise: NDArray[np.float32]
    """``N = y − Med(y)`` on observed pixels, NaN elsewhere, mm/yr."""


def median_nan(
    image: NDArray[np.floating], *, params: DenoiseParams = DenoiseParams()
) -> NDArray[np.float32]:
    """Median filter that ignores NaN, evaluated at the observed pixels.

    Parameters
    ----------
    image
        ``(rows, cols)`` sparse velocity raster in mm/yr; NaN = not observed.
    params
        ``median_size_px`` is the window edge ``k`` (3 in the paper). For an even ``k`` the
        window spans ``k//2`` pixels before and ``k//2 − 1`` after the centre, as in
        :func:`scipy.ndimage.median_filter`.

    Returns
    -------
    NDArray[np.float32]
        ``(rows, cols)``: at each observed pixel the median of the observed values in its
        ``k × k`` window (mean of the two middle values for an even count); NaN where the
        input is NaN. ±inf inputs are treated as NaN.

    Raises
    ------
    ValueError
        If ``image`` is not two-dimensional.

    References
    ----------
    §III-A: "a two-dimensional median filter Med_3x3(·) that omits NaN values".

    Examples
    --------
    >>> y = np.array([[1, np.nan, 3], [np.nan, 100, np.nan], [7, np.nan, 9]], dtype=np.float32)
    >>> median_nan(y)
    array([[50.5,  nan, 51.5],
           [ nan,  7. ,  nan],
           [53.5,  nan, 54.5]], dtype=float32)
    """
    image = _as_raster(image)
    k = params.median_size_px
    out = np.full(image.shape, np.nan, dtype=np.float32)
    observed = np.isfinite(image)
    if k == 1 or not observed.any():
        out[observed] = image[observed]
        return out
    out[observed] = _median_at(image, np.flatnonzero(observed), k)
    return out


def noise_map(image: NDArray[np.floating], median: NDArray[np.floating]) -> NDArray[np.float32]:
    """Noise map ``N = y − Med(y)`` on the observed pixels, NaN elsewhere.

    Parameters
    ----------
    image
        ``(rows, cols)`` sparse raster ``y`` in mm/yr, NaN = not observed.
    median
        ``(rows, cols)`` its NaN-aware median, e.g. from :func:`median_nan`.

    Returns
    -------
    NDArray[np.float32]
        ``(rows, cols)`` in mm/yr; NaN where either input is NaN.

    Raises
    ------
    ValueError
        If the shapes differ or are not two-dimensional.

    Examples
    --------
    >>> y = np.array([[1.0, 5.0, np.nan]])
    >>> noise_map(y, median_nan(y))
    array([[-2.,  2., nan]], dtype=float32)
    """
    image = _as_raster(image)
    median = _as_raster(median)
    if image.shape != median.shape:
        raise ValueError(f"image {image.shape} and median {median.shape} differ in shape")
    with np.errstate(invalid="ignore"):
        return (image - median).astype(np.float32, copy=False)


def denoise(
    image: NDArray[np.floating], *, params: DenoiseParams = DenoiseParams()
) -> DenoiseResult:
    """Median-filter a sparse raster and return the filtered values with the noise map.

    Parameters
    ----------
    image
        ``(rows, cols)`` sparse velocity raster in mm/yr; NaN = not observed.
    params
        Denoising parameters (median window).

    Returns
    -------
    DenoiseResult
        ``filtered = Med(y)`` and ``noise = y − Med(y)``, both NaN off the observed pixels.

    Examples
    --------
    >>> y = np.array([[0.0, 0.0, 9.0]], dtype=np.float32)
    >>> res = denoise(y)
    >>> res.filtered, res.noise
    (array([[0. , 0. , 4.5]], dtype=float32), array([[0. , 0. , 4.5]], dtype=float32))
    """
    filtered = median_nan(image, params=params)
    return DenoiseResult(filtered=filtered, noise=noise_map(image, filtered))


def _as_raster(image: NDArray[np.floating]) -> NDArray[np.float32]:
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D (rows, cols) raster, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"expected a numeric raster, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if np.isinf(arr).any():
        arr = np.where(np.isinf(arr), np.float32(np.nan), arr)
    return arr


def _median_at(image: NDArray[np.float32], flat_idx: NDArray[np.intp], k: int) -> NDArray:
    """Median of the finite values of the ``k × k`` windows centred on ``flat_idx``."""
    cols = image.shape[1]
    before, after = k // 2, k - 1 - k // 2
    padded = np.pad(image, ((before, after), (before, after)), constant_values=np.nan)
    padded[np.isnan(padded)] = np.inf  # +inf sorts last; counted out below
    flat = padded.ravel()
    wide = cols + k - 1
    r, c = np.divmod(flat_idx, cols)
    centre = (r + before) * wide + (c + before)  # index of the pixel in the padded raster
    offsets = [(i - before) * wide + (j - before) for i in range(k) for j in range(k)]
    out = np.empty(flat_idx.size, dtype=np.float32)
    for start in range(0, flat_idx.size, _CHUNK):
        sl = slice(start, start + _CHUNK)
        planes = [flat[centre[sl] + off] for off in offsets]
        out[sl] = _sorted_middle(planes)
    return out


def _sorted_middle(planes: list[NDArray[np.float32]]) -> NDArray[np.float32]:
    """Element-wise median of the finite entries of ``planes`` (+inf = missing)."""
    count = np.zeros(planes[0].shape, dtype=np.int16)
    for p in planes:
        count += np.isfinite(p)
    tmp = np.empty_like(planes[0])
    for a, b in _sorting_network(len(planes)):
        np.minimum(planes[a], planes[b], out=tmp)
        np.maximum(planes[a], planes[b], out=planes[b])
        planes[a], tmp = tmp, planes[a]
    lo = np.empty_like(planes[0])
    hi = np.empty_like(planes[0])
    low_rank, high_rank = (count - 1) // 2, count // 2
    for i, p in enumerate(planes):
        np.copyto(lo, p, where=low_rank == i)
        np.copyto(hi, p, where=high_rank == i)
    return 0.5 * (lo + hi)


@lru_cache(maxsize=8)
def _sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher odd–even merge sort for ``n`` inputs (comparators ``(lo, hi)``).

    Built for the next power of two and pruned: inputs beyond ``n`` are +inf, stay in
    place through every compare–exchange, so comparators touching them are no-ops.
    """
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple((a, b) for a, b in pairs if b < n)
