"""Detection skill on a fresh synthetic test set, against the physical limit (§IV-A, Table I).

A test set is generated with its own seed (refused when a model was trained on a build of
that seed) and scored by:

* the **default** detector (:class:`engine.detector.GroundSeg`) on the matrix-completion
  canvas: positive when its patch probability is > 0.5; its per-pixel probability is
  compared with each positive's truth mask (IoU);
* the **paper**-literal classifiers of each input version with the paper's over-wrapping,
  ``P_ρ = max_τ P(ρ, τ)``, ``P = mean_ρ P_ρ`` (§III-C), positive when ``P > 0.5`` —
  Table I's rows;
* two references on the raw observations (:mod:`engine.references`), at the default
  detector's false-positive rate: the **oracle** matched filter that knows each source
  (the physical limit) and the **scan** over positions and bowl widths that does not (the
  classical detector). Each threshold is the ``1 − α`` quantile of its statistic on the
  negatives (the oracle scores each negative with a random bowl of the prior).

Every rate is a fraction (0–1). Recall is also given by peak LOS velocity and by source
size (the half-peak radius in pixels).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from engine.config import RunConfig
from engine.detector import encode_context, pixel_logits_to_map
from engine.errors import InputError
from engine.model import encode, for_inference, load_model
from engine.synthetic import VERSIONS, generate_samples, sample_labels
from engine.synthetic._sample import MaskSampler
from engine.wrap import wrap_stack

__all__ = [
    "classification_rates",
    "evaluate",
    "overwrap_probabilities",
    "score_default",
    "training_seeds",
]

VELOCITY_BINS = (1.0, 2.0, 3.0, 5.0, 8.0, 15.0)
SIZE_BINS = {"lt5px": (0.0, 5.0), "5-20px": (5.0, 20.0), "gt20px": (20.0, math.inf)}
DEFAULT_MODEL = "default"
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


@torch.no_grad()
def training_seeds(card: dict[str, Any]) -> set[int]:
    """The seeds of every build a model was trained on, back through the runs it started from.

    Examples
    --------
    >>> sorted(training_seeds({"data": [{"seed": 5}],
    ...                        "initialised_from": {"data": [{"seed": 3}, {"seed": 4}]}}))
    [3, 4, 5]
    """
    seeds: set[int] = set()
    while card:
        seeds.update(int(d["seed"]) for d in card.get("data", []))
        card = card.get("initialised_from") or {}
    return seeds


@torch.no_grad()
def score_default(
    model: torch.nn.Module,
    canvases: NDArray[np.floating],
    observed: NDArray[np.bool_],
    residuals: NDArray[np.floating] | None = None,
    *,
    batch_size: int = 16,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Patch probabilities ``(n,)`` and per-pixel probabilities ``(n, s, s)`` of patches.

    ``canvases`` are the patches with the detector's context around them; ``residuals``
    their observations − interpolation, read by a model with a residual channel only.
    """
    model.eval()
    patch, pixels = [], []
    use_residual = getattr(model, "in_channels", 3) > 3
    for start in range(0, canvases.shape[0], batch_size):
        batch = slice(start, start + batch_size)
        residual = residuals[batch] if use_residual and residuals is not None else None
        if use_residual and residual is None:
            raise ValueError("this detector reads the observations' residual: pass residuals")
        x = torch.from_numpy(encode_context(canvases[batch], observed[batch], residual))
        z = model(x)
        patch.append(torch.sigmoid(z.amax(dim=(1, 2))).numpy())
        for zi in z.numpy():
            full = pixel_logits_to_map(zi, canvases.shape[1:], stride=model.stride,
                                       context=model.context)  # fmt: skip
            c = model.context
            pixels.append(
                full[c : c + zi.shape[0] * model.stride, c : c + zi.shape[1] * model.stride]
            )
    return np.concatenate(patch), np.stack(pixels)


def evaluate(
    n: int,
    seed: int,
    *,
    kind: str = "point",
    config: RunConfig = RunConfig(),
    versions: Sequence[str] = VERSIONS,
    default: str | None = DEFAULT_MODEL,
    references: bool = True,
    masks: MaskSampler | None = None,
    workers: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate ``n`` samples of ``kind`` with ``seed`` and score them; see the module doc.

    Parameters
    ----------
    versions
        The paper models to score (Table I's rows); empty to skip them.
    default
        Weights of the default detector (shipped name or path); None to skip it.
    references
        Score the oracle and scan references (at the default's false-positive rate, or
        1 % without a default model).
    masks
        Where the scatterers are (e.g. :class:`engine.scenes.LandcoverMasks` for rural
        land cover); None = the generated clustered masks. Recorded as ``"masks"``.

    Raises
    ------
    InputError
        If a model was trained on a build with this seed (the test set would not be new).
    """
    paper = {v: load_model(v) for v in versions}
    default_model = load_model(default) if default else None
    for name, (_, card) in [
        *paper.items(),
        *([("default", default_model)] if default_model else []),
    ]:
        used = sorted(training_seeds(card))
        if seed in used:
            raise InputError("--seed", f"{seed} was used to build the training data of the "
                             f"{name} model", f"a seed not in {used}")  # fmt: skip
    started = time.perf_counter()
    labels = sample_labels(kind, n, seed)
    keep = tuple(versions) or ("mc",)
    images: dict[str, list[NDArray]] = {v: [] for v in keep}
    canvases, observed, residuals, truths, records = [], [], [], [], []
    done = 0
    for chunk in generate_samples(kind, labels, seed, config=config, masks=masks,
                                  workers=workers, versions=keep,
                                  references=references):  # fmt: skip
        for sample in chunk:
            for v in keep:
                images[v].append(getattr(sample, v))
            canvases.append(sample.context_mc)
            observed.append(sample.context_observed)
            residuals.append(sample.context_residual)
            truths.append(sample.truth)
            records.append(sample.record)
        done += len(chunk)
        if progress is not None:
            progress("generate", done, n)
    peaks = np.array([abs(r.los_peak_mm_yr or 0.0) for r in records])
    radii = np.array([r.radius_px or 0.0 for r in records])
    result: dict[str, Any] = {
        "n": n,
        "seed": seed,
        "kind": kind,
        "positives": int(labels.sum()),
        "masks": "generated" if masks is None else masks.name,
    }
    models: dict[str, Any] = {}
    fpr = 0.01
    if default_model is not None:
        model = for_inference(default_model[0])
        p_patch, p_pixel = score_default(model, np.stack(canvases), np.stack(observed),
                                         np.stack(residuals))  # fmt: skip
        predicted = p_patch > 0.5
        models["default"] = _scores(labels, predicted, peaks, radii)
        models["default"]["rows"] = {"mc": models["default"].pop("rates")}
        models["default"]["iou_median"] = _iou_median(p_pixel, np.stack(truths), labels, peaks)
        models["default"]["weights"] = default_model[1].get("weights")
        fpr = models["default"]["rows"]["mc"]["fpr"]
        if progress is not None:
            progress("default", 1, 1)
    if paper:
        rhos, taus = config.wrap.rho_mm_yr, config.wrap.tau_mm_yr
        rows, by_velocity = {}, {}
        for k, version in enumerate(versions):
            p = overwrap_probabilities(paper[version][0], np.stack(images[version]), rhos, taus)
            predicted = p.max(axis=2).mean(axis=1) > 0.5
            rows[version] = _rounded(classification_rates(labels, predicted))
            by_velocity[version] = _recall_by_bin(labels, predicted, peaks)
            if progress is not None:
                progress("paper", k + 1, len(versions))
        models["paper"] = {"rows": rows, "recall_by_velocity": by_velocity.get("mc", {}),
                           "recall_by_velocity_per_version": by_velocity}  # fmt: skip
    result["models"] = models
    if references:
        result["references"] = _references(labels, records, peaks, radii, fpr)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _references(
    labels: NDArray, records: list[Any], peaks: NDArray, radii: NDArray, fpr: float
) -> dict[str, Any]:
    negatives = labels == 0
    alpha = max(fpr, 0.5 / max(int(negatives.sum()), 1))  # a zero rate is not reachable
    oracle = np.array([r.oracle_t for r in records], dtype=np.float64)
    scan = np.array([r.scan_t for r in records], dtype=np.float64)
    # both thresholds are the negatives' (1 − α) quantile: the oracle's statistic is only
    # approximately N(0, 1) under H0 (spike noise is heavier-tailed, the whitening is
    # approximate), so its theoretical z would not give the same false-positive rate
    oracle_threshold = float(np.quantile(oracle[negatives], 1.0 - alpha))
    scan_threshold = float(np.quantile(scan[negatives], 1.0 - alpha))
    out = {}
    for name, statistic, threshold in (("oracle", oracle, oracle_threshold),
                                       ("scan", scan, scan_threshold)):  # fmt: skip
        predicted = statistic > threshold
        scores = _scores(labels, predicted, peaks, radii)
        rates = scores.pop("rates")
        out[name] = {"accuracy": rates["accuracy"], "fpr": rates["fpr"], **scores,
                     "threshold": round(threshold, 4)}  # fmt: skip
    out["alpha"] = round(alpha, 5)
    return out


def _scores(labels: NDArray, predicted: NDArray, peaks: NDArray, radii: NDArray) -> dict[str, Any]:
    strong = (labels == 1) & (peaks >= 3.0) & (radii >= 5.0)
    return {
        "rates": _rounded(classification_rates(labels, predicted)),
        "recall_by_velocity": _recall_by_bin(labels, predicted, peaks),
        "recall_by_size": {
            key: _recall(predicted, (labels == 1) & (peaks >= 3.0) & (radii >= lo) & (radii < hi))
            for key, (lo, hi) in SIZE_BINS.items()
        },
        "recall_ge3_ge5px": _recall(predicted, strong),
    }


def _iou_median(
    probability: NDArray, truth: NDArray, labels: NDArray, peaks: NDArray
) -> float | None:
    ious = []
    for i in np.flatnonzero((labels == 1) & (peaks >= 3.0)):
        pred, t = probability[i] > 0.5, truth[i]
        union = np.count_nonzero(pred | t)
        ious.append(np.count_nonzero(pred & t) / union if union else 0.0)
    return round(float(np.median(ious)), 4) if ious else None


def _recall(predicted: NDArray, selected: NDArray) -> float | None:
    return round(float(predicted[selected].mean()), 4) if selected.any() else None


def _recall_by_bin(labels: NDArray, predicted: NDArray, peaks: NDArray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lo, hi in itertools.pairwise(VELOCITY_BINS):
        sel = (labels == 1) & (peaks >= lo) & (peaks < hi + (hi == VELOCITY_BINS[-1]))
        key = f"{lo:g}-{hi:g}"
        out[key] = _recall(predicted, sel)
        out[f"n_{key}"] = int(sel.sum())
    return out


def _rounded(rates: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in rates.items()}
