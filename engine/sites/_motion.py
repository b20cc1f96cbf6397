"""Sites stage (§IV-C): a site's motion against its surroundings, in numbers and in words.

The paper notes that "uplift and subsidence can be simply distinguished by comparing the
velocity with that of neighbouring areas". The *ring* is the points within ``width_px`` of
the outline, outside every detected region; when it holds fewer than ``min_points`` points
it is widened (×2, then ×4). The headline ``dv = v_mean − v_ring`` is the motion relative to
it, and the word follows the sign of ``dv`` as shown (one decimal), so the two never disagree.
When the ring never holds enough points, the reference is the product's own (``v_ring = 0``,
``ring_points = 0``) and the text says the figure is absolute.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from engine._regions import dilate_square, grown_box

__all__ = ["describe_motion", "ring_reference", "site_priority"]

_WIDEN = (1, 2, 4)
MINUS = "\u2212"  # a true minus sign: "−12.0" reads better than "-12.0" in a sentence


def ring_reference(
    labels: NDArray[np.int32],
    n: int,
    velocity: NDArray[np.float64],
    counts: NDArray[np.int64],
    exclude: NDArray[np.bool_],
    *,
    width_px: int,
    min_points: int,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Median velocity of each site's ring and the number of points in it.

    Each pixel counts as many times as it holds points. ``(0.0, 0)`` for a site whose ring
    holds fewer than ``min_points`` points even at four times ``width_px``.
    """
    v_ring, ring_points = np.zeros(n), np.zeros(n, dtype=np.int64)
    pad = width_px * _WIDEN[-1]
    for i, box in enumerate(ndimage.find_objects(labels, max_label=n)):
        if box is None:
            continue
        window = grown_box(box, pad, labels.shape)
        site = labels[window] == i + 1
        usable = ~exclude[window] & ~site & (counts[window] > 0)
        for k in _WIDEN:
            ring = dilate_square(site, 2 * width_px * k + 1) & usable
            total = int(counts[window][ring].sum())
            if total >= min_points:
                v_ring[i] = np.median(np.repeat(velocity[window][ring], counts[window][ring]))
                ring_points[i] = total
                break
    return v_ring, ring_points


def describe_motion(
    v_mean: NDArray[np.float64],
    v_ring: NDArray[np.float64],
    ring_points: NDArray[np.int64],
    *,
    stable_mm_yr: float,
) -> tuple[NDArray[np.float64], list[str], list[str]]:
    """``dv``, the word ("uplift", "subsidence", "stable") and a sentence for each site.

    Examples
    --------
    >>> dv, word, text = describe_motion(np.array([-9.0, -4.0, 2.0]), np.array([-12.0, 0.2, 0]),
    ...                                  np.array([30, 30, 0]), stable_mm_yr=1.0)
    >>> dv.tolist(), word
    ([3.0, -4.2, 2.0], ['uplift', 'subsidence', 'uplift'])
    >>> print(text[0]); print(text[1]); print(text[2])
    relative uplift of +3.0 mm/yr; the whole area subsides at −12.0 mm/yr
    subsidence of −4.2 mm/yr relative to stable surroundings
    uplift of +2.0 mm/yr (absolute: too few points around it to compare with)
    """
    dv = np.round(np.asarray(v_mean, dtype=float) - v_ring, 1) + 0.0  # + 0.0: no "-0.0"
    words, texts = [], []
    for d, ring, k in zip(dv, np.asarray(v_ring, dtype=float), ring_points, strict=True):
        word = "uplift" if d > 0 else "subsidence" if d < 0 else "stable"
        words.append(word)
        rate = f"{_signed(d)} mm/yr"
        head = "no motion" if word == "stable" else f"{word} of {rate}"
        if k == 0:
            texts.append(f"{head} (absolute: too few points around it to compare with)")
        elif abs(ring) < stable_mm_yr:
            texts.append(f"{head} relative to stable surroundings")
        else:
            verb = "subsides" if ring < 0 else "rises"
            moving_with = (d < 0) == (ring < 0) and d != 0
            area = "the surrounding area also" if moving_with else "the whole area"
            relative = "no motion" if word == "stable" else f"relative {word} of {rate}"
            texts.append(f"{relative}; {area} {verb} at {_signed(ring)} mm/yr")
    return dv, words, texts


def site_priority(
    p_mean: NDArray[np.float64],
    dv: NDArray[np.float64],
    area_m2: NDArray[np.float64],
    n_points: NDArray[np.int64],
) -> NDArray[np.float64]:
    """``p_mean × |dv| × (1 + log10(1 + area / 1 ha)) × (1 − e^(−n_points / 10))``.

    See :mod:`engine.sites` for what each factor stands for.

    Examples
    --------
    >>> site_priority(np.array([1.0]), np.array([-5.0]), np.array([0.0]), np.array([10])).round(3)
    array([3.161])
    """
    extent = 1.0 + np.log10(1.0 + np.asarray(area_m2, dtype=float) / 10_000.0)
    support = 1.0 - np.exp(-np.asarray(n_points, dtype=float) / 10.0)
    return np.nan_to_num(p_mean * np.abs(dv) * extent * support, nan=0.0)


def _signed(x: float) -> str:
    text = f"{x:+.1f}"
    return text.replace("-", MINUS)
