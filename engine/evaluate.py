"""Table I on a fresh synthetic test set: sparse vs Delaunay vs matrix completion (§IV-A).

A test set is generated with its own seed (refused when a model was trained on a build of
that seed) and classified by the model of each input version with the paper's
over-wrapping: ``P_ρ = max_τ P(ρ, τ)``, ``P = mean_ρ P_ρ`` (§III-C), positive when
``P > 0.5``. Besides the four figures of Table I it reports recall per bin of peak LOS
velocity (the smallest rate the detector sees) and, for each version, what over-wrapping
buys over a single interval with no offset.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from engine.config import RunConfig
from engine.errors import InputError
from engine.model import encode, load_model
from engine.synthetic import VERSIONS, generate_samples, sample_labels
from engine.wrap import wrap_stack

__all__ = ["classification_rates", "evaluate", "overwrap_probabilities"]

VELOCITY_BINS = (1.0, 2.0, 3.0, 5.0, 8.0, 15.0)
Progress = Callable[[str, int, int], None]


def classification_rates(truth: NDArray, predicted: NDArray) -> dict[str, float]:
    """Accuracy, precision, recall and false-positive rate as fractions.

    Examples
    --------
    >>> classification_rates(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))
    {'accuracy': 0.5, 'precision': 0.5, 'recall': 0.5, 'fpr': 0.5}
    """
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    tp, fp = int((t & p).sum()), int((~t & p).sum())
    fn, tn = int((t & ~p).sum()), int((~t & ~p).sum())
    return {
        "accuracy": (tp + tn) / max(t.size, 1),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "fpr": fp / (fp + tn) if fp + tn else 0.0,
    }


@torch.no_grad()
def overwrap_probabilities(
    model: torch.nn.Module,
    velocity: NDArray[np.floating],
    rhos: Sequence[float],
    taus: Sequence[float],
    *,
    batch_size: int = 64,
) -> NDArray[np.float32]:
    """``P(ρ, τ)`` of every patch: ``(n, len(rhos), len(taus))`` probabilities.

    Wrapped in groups of patches, so memory stays at ``batch_size`` wrapped images.
    """
    per_patch = len(rhos) * len(taus)
    group = max(1, batch_size // per_patch)
    model.eval()
    probs = []
    for start in range(0, velocity.shape[0], group):
        grays = np.stack([wrap_stack(v, rhos, taus) for v in velocity[start : start + group]])
        flat = grays.reshape(-1, *velocity.shape[1:])
        probs.append(torch.sigmoid(model(encode(flat))).numpy())
    out = np.concatenate(probs).reshape(velocity.shape[0], len(rhos), len(taus))
    return out.astype(np.float32)


def evaluate(
    n: int,
    seed: int,
    *,
    kind: str = "point",
    config: RunConfig = RunConfig(),
    versions: Sequence[str] = VERSIONS,
    workers: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate ``n`` samples with ``seed``, classify them with each shipped model.

    Returns
    -------
    dict
        ``{"rows": {version: {accuracy, precision, recall, fpr}}, "recall_by_velocity":
        {version: {"lo-hi": recall}}, "overwrap": {version: {"single_rho_<ρ>": rates,
        "combined": rates}}, "n", "seed", "kind", "seconds"}``; fractions in 0–1.

    Raises
    ------
    InputError
        If a model was trained on a build with this seed (the test set would not be new).
    """
    models = {v: load_model(v) for v in versions}
    for version, (_, card) in models.items():
        trained = {(d["kind"], d["seed"]) for d in card.get("data", [])}
        if any(s == seed for _, s in trained):
            raise InputError(
                "--seed",
                f"{seed} was used to build the training data of the {version} model",
                f"a seed not in {sorted(s for _, s in trained)}",
            )
    started = time.perf_counter()
    labels = sample_labels(kind, n, seed)
    images: dict[str, list[NDArray]] = {v: [] for v in versions}
    peaks = np.zeros(n)
    done = 0
    for chunk in generate_samples(kind, labels, seed, config=config, workers=workers):
        for sample in chunk:
            for v in versions:
                images[v].append(getattr(sample, v))
            peaks[sample.record.index] = abs(sample.record.los_peak_mm_yr or 0.0)
        done += len(chunk)
        if progress is not None:
            progress("generate", done, n)
    rhos, taus = config.wrap.rho_mm_yr, config.wrap.tau_mm_yr
    rows, by_velocity, overwrap = {}, {}, {}
    for k, version in enumerate(versions):
        p = overwrap_probabilities(models[version][0], np.stack(images[version]), rhos, taus)
        combined = p.max(axis=2).mean(axis=1) > 0.5
        rows[version] = _rounded(classification_rates(labels, combined))
        by_velocity[version] = _recall_by_bin(labels, combined, peaks)
        tau0 = list(taus).index(0.0) if 0.0 in taus else 0
        overwrap[version] = {
            f"single_rho_{rho:g}": _rounded(classification_rates(labels, p[:, i, tau0] > 0.5))
            for i, rho in enumerate(rhos)
        }
        overwrap[version]["combined"] = rows[version]
        if progress is not None:
            progress("classify", k + 1, len(versions))
    return {
        "rows": rows,
        "recall_by_velocity": by_velocity,
        "overwrap": overwrap,
        "n": n,
        "seed": seed,
        "kind": kind,
        "positives": int(labels.sum()),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _recall_by_bin(labels: NDArray, predicted: NDArray, peaks: NDArray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lo, hi in itertools.pairwise(VELOCITY_BINS):
        sel = (labels == 1) & (peaks >= lo) & (peaks < hi + (hi == VELOCITY_BINS[-1]))
        key = f"{lo:g}-{hi:g}"
        out[key] = round(float(predicted[sel].mean()), 4) if sel.any() else None
        out[f"n_{key}"] = int(sel.sum())
    return out


def _rounded(rates: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in rates.items()}
