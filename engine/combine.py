"""Ascending and descending probability maps into one (§III-D).

The two geometries see the same ground through different atmospheres and noise, and a
real movement shows in both while most false alarms show in one. Each pixel gets the mean
of one ascending and one descending map; with several looks per geometry (two tracks
each, say) the largest of the pair means, so a movement seen well by any pair counts.
Where only one geometry scored a pixel, its own (largest) value stands and the pixel is
flagged: such a detection has no second opinion.

Given ``evidence`` (the scatterers each look has near each pixel), the mean is weighted
by it: a look with no points near a pixel has no opinion there, and its low probability
should not halve what the other geometry sees. With equal evidence this is the paper's
mean; each weight carries one pseudo-point, so with none on either side it is too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Combined", "combine"]


@dataclass(frozen=True)
class Combined:
    """Result of :func:`combine`; arrays ``(rows, cols)``."""

    probability: NDArray[np.float32]
    """Combined P; NaN where no look scored the pixel."""
    single_geometry: NDArray[np.bool_]
    """True where only one geometry scored the pixel."""
    seen: dict[str, NDArray[np.bool_]]
    """Per geometry, the pixels at least one of its looks scored."""


def combine(
    looks: Mapping[str, Sequence[NDArray[np.floating]]],
    evidence: Mapping[str, Sequence[NDArray[np.floating]]] | None = None,
) -> Combined:
    """Combine probability maps, grouped by geometry.

    Parameters
    ----------
    looks
        ``{"ascending": [maps…], "descending": [maps…]}``: one map per look (track), all
        of one shape, NaN where a look did not score. Geometries with no map may be
        missing or empty.
    evidence
        Same keys and shapes as ``looks``: how many scatterers each look has near each
        pixel (≥ 0). A pair's mean is weighted by ``evidence + 1``; None = plain mean.

    Examples
    --------
    >>> nan = np.nan
    >>> c = combine({"ascending": [np.array([[0.9, 0.2, nan]])],
    ...              "descending": [np.array([[0.5, nan, nan]])]})
    >>> c.probability.astype(float).round(3).tolist(), c.single_geometry.tolist()
    ([[0.7, 0.2, nan]], [[False, True, False]])
    >>> four = combine({"ascending": [np.full((1, 1), 0.9), np.full((1, 1), 0.1)],
    ...                 "descending": [np.full((1, 1), 0.3), np.full((1, 1), 0.7)]})
    >>> round(float(four.probability[0, 0]), 3)  # max of the four pair means: (0.9 + 0.7) / 2
    0.8
    >>> blind = combine({"ascending": [np.array([[0.2]])], "descending": [np.array([[0.9]])]},
    ...                 evidence={"ascending": [np.array([[0.0]])],
    ...                           "descending": [np.array([[6.0]])]})
    >>> round(float(blind.probability[0, 0]), 3)  # (1 · 0.2 + 7 · 0.9) / 8
    0.812
    """
    groups = {g: [np.asarray(m, dtype=np.float32) for m in maps] for g, maps in looks.items()}
    groups = {g: maps for g, maps in groups.items() if maps}
    if not groups:
        raise ValueError("no probability maps to combine")
    shapes = {m.shape for maps in groups.values() for m in maps}
    if len(shapes) != 1:
        raise ValueError(f"probability maps differ in shape: {sorted(shapes)}")
    shape = shapes.pop()
    seen = {g: np.any([np.isfinite(m) for m in maps], axis=0) for g, maps in groups.items()}
    best_single = _nanmax([m for maps in groups.values() for m in maps], shape)
    names = sorted(groups)
    if evidence is None:
        weights = {g: [np.float32(1.0)] * len(maps) for g, maps in groups.items()}
    else:
        weights = {g: [np.asarray(e, dtype=np.float32) + np.float32(1.0) for e in evidence[g]]
                   for g in groups}  # fmt: skip
        if any(len(weights[g]) != len(groups[g]) for g in groups):
            raise ValueError("evidence needs one map per probability map")
    pair_means = [
        (a * wa + b * wb) / (wa + wb)
        for i, g in enumerate(names)
        for h in names[i + 1 :]
        for a, wa in zip(groups[g], weights[g], strict=True)
        for b, wb in zip(groups[h], weights[h], strict=True)
    ]
    combined = _nanmax(pair_means, shape) if pair_means else np.full(shape, np.nan, np.float32)
    n_seen = np.sum([s for s in seen.values()], axis=0)
    single = n_seen == 1
    combined = np.where(np.isfinite(combined), combined, best_single)
    return Combined(combined.astype(np.float32), single, seen)


def _nanmax(maps: list[NDArray[np.float32]], shape: tuple[int, ...]) -> NDArray[np.float32]:
    out = np.full(shape, -np.inf, dtype=np.float32)
    for m in maps:
        np.fmax(out, m, out=out)  # fmax ignores NaN
    out[np.isneginf(out)] = np.nan
    return out
