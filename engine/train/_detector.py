"""Training the default detector (:class:`engine.detector.GroundSeg`) on context builds.

Each sample is its canvas (the interpolated velocity, the observed scatterers and the
distance to them: :func:`engine.detector.encode_context`) with two targets: the patch
label, and the truth mask averaged over each 4 × 4 block (a soft per-block target). The
loss is the mean binary cross-entropy of the block logits plus that of the patch logit
(the largest block logit in the patch), so the model learns where as well as whether.

Each batch is turned and mirrored on the device; a random constant is added to the
velocity, which the zero-sum stem must ignore (it checks that it does). A seeded tenth is
held out; the epoch with the lowest validation loss is kept.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage
from torch import nn

from engine.config import RunConfig
from engine.detector import CHANNELS, DISTANCE_CAP_PX, VELOCITY_SCALE_MM_YR, GroundSeg
from engine.errors import InputError
from engine.model import load_model, save_model
from engine.synthetic import open_dataset
from engine.train._augment import dihedral
from engine.train._options import FitOptions

__all__ = ["DetectorOptions", "lineage", "train_detector"]

logger = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class DetectorOptions(FitOptions):
    """How to train the detector; the defaults produced the shipped weights."""

    width: int = 24
    epochs: int = 10
    offset_mm_yr: float = 20.0  # random reference offsets in ±this
    init: str | None = None  # weights to start from (a card's path), e.g. to train on
    residual: bool = False  # a fourth input channel: observations − interpolation


@dataclass
class _Data:
    velocity: NDArray[np.float16]  # (n, c, c), mm/yr
    observed: NDArray[np.uint8]  # (n, c·c/8): np.packbits of the observed pixels
    distance: NDArray[np.uint8]  # px to the nearest scatterer, capped
    blocks: NDArray[np.float16]  # (n, s/4, s/4) truth fraction per block
    residual: NDArray[np.float16] | None  # (n, c, c) observations − MC, mm/yr
    labels: NDArray[np.uint8]
    sources: list[dict[str, Any]]


def train_detector(
    data: Sequence[str | Path],
    *,
    out: str | Path,
    options: DetectorOptions = DetectorOptions(),
    config: RunConfig = RunConfig(),
    command: str = "",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train :class:`GroundSeg` on context builds; writes ``<out>.pt`` and its card.

    Raises
    ------
    InputError
        If a build lacks the context canvases, or was rendered at another pixel or patch size.
    """
    d = _load(data, config, options.max_samples, residual=options.residual)
    device = options.torch_device()
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    val, fit = options.split(d.labels.size, rng)
    val = np.sort(val)
    model = GroundSeg(width=options.width, in_channels=_channels(options))
    origin = None
    if options.init:
        start, card = load_model(options.init)
        if card.get("architecture") != "groundseg":
            raise InputError("--init", f"{options.init} is a {card.get('architecture')}",
                             "groundseg weights")  # fmt: skip
        _load_widened(model, start)
        origin = lineage(card)
    model = model.to(device)
    optimiser, schedule = options.optimiser(model, fit.size)
    best: dict[str, Any] = {"val_loss": math.inf}
    history = []
    started = time.perf_counter()
    for epoch in range(1, options.epochs + 1):
        model.train()
        rng.shuffle(fit)
        total = 0.0
        for start in range(0, fit.size, options.batch_size):
            idx = np.sort(fit[start : start + options.batch_size])
            x, blocks, labels = _batch(d, idx, device)
            variant = torch.from_numpy(rng.integers(0, 8, size=idx.size)).to(device)
            x, blocks = dihedral(x, variant), dihedral(blocks, variant)
            offset = rng.uniform(-1.0, 1.0, size=(idx.size, 1, 1)) * options.offset_mm_yr
            x[:, 0] += torch.from_numpy(offset.astype(np.float32)).to(device) / VELOCITY_SCALE_MM_YR
            loss = _loss(model(x), blocks, labels)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * idx.size
            if progress is not None:
                progress({"epoch": epoch, "done": start + idx.size, "total": fit.size})
        row = dict(epoch=epoch, train_loss=round(total / fit.size, 5),
                   **_validate(model, d, val, device))  # fmt: skip
        history.append(row)
        logger.info("epoch %d: %s", epoch, row)
        if progress is not None:
            progress(dict(row, done=fit.size, total=fit.size))
        if row["val_loss"] < best["val_loss"]:
            best = dict(row, state={k: v.detach().clone() for k, v in model.state_dict().items()})
            # the best epoch so far is on disk: a run stopped early still leaves weights
            _save(best, history, out, options, d, fit, val, device, started, command,
                  config, origin, finished=False)  # fmt: skip
        elif epoch - best["epoch"] >= options.patience:
            logger.info("early stop at epoch %d (best %d)", epoch, best["epoch"])
            break
    return _save(best, history, out, options, d, fit, val, device, started, command,
                 config, origin, finished=True)  # fmt: skip


def _save(
    best: dict[str, Any],
    history: list[dict[str, Any]],
    out: str | Path,
    options: DetectorOptions,
    d: _Data,
    fit: NDArray,
    val: NDArray,
    device: torch.device,
    started: float,
    command: str,
    config: RunConfig,
    origin: dict[str, Any] | None,
    *,
    finished: bool,
) -> dict[str, Any]:
    keep = GroundSeg(width=options.width, in_channels=_channels(options))
    keep.load_state_dict(best["state"])
    card = {
        "architecture": "groundseg",
        "architecture_kwargs": {"width": options.width, "in_channels": _channels(options)},
        "input_version": "mc",
        "pixel_size_m": config.grid.pixel_size_m,
        "patch_px": config.model.patch_size_px,
        "context_px": GroundSeg.context,
        "data": d.sources,
        "samples": {"train": int(fit.size), "validation": int(val.size)},
        "options": {k: v for k, v in asdict(options).items() if k != "device"},
        "device": str(device),
        "best_epoch": {k: v for k, v in best.items() if k != "state"},
        "history": list(history),
        "finished": finished,
        "train_seconds": round(time.perf_counter() - started, 1),
        "torch_version": torch.__version__,
        "command": command,
    }
    if origin is not None:
        card["initialised_from"] = origin
    return save_model(keep, out, card)


def lineage(card: dict[str, Any]) -> dict[str, Any]:
    """What a model card keeps of the card of the weights a run started from: enough to
    rebuild them.

    Their command, data, per-epoch history, kept epoch and sha256, and in turn where they
    started from.

    Examples
    --------
    >>> lineage({"sha256": "ab", "weights": "w.pt", "initialised_from": {"sha256": "cd"}})
    {'sha256': 'ab', 'initialised_from': {'sha256': 'cd'}}
    """
    keep = ("command", "data", "options", "history", "best_epoch", "finished",
            "train_seconds", "sha256", "initialised_from")  # fmt: skip
    return {k: card[k] for k in keep if k in card}


def _channels(options: DetectorOptions) -> int:
    return CHANNELS + 1 if options.residual else CHANNELS


def _load_widened(model: GroundSeg, start: nn.Module) -> None:
    """``start``'s weights into ``model``; a stem input channel it lacks starts at zero, so
    the widened model begins as exactly the one it was initialised from."""
    state = start.state_dict()
    key = "stem.0.weight"
    ours = model.state_dict()[key]
    if state[key].shape != ours.shape:
        if state[key].shape[1] > ours.shape[1] or state[key].shape[0] != ours.shape[0]:
            raise InputError("--init", f"stem {tuple(state[key].shape)}",
                             f"a stem of {tuple(ours.shape)} or fewer input channels")  # fmt: skip
        grown = torch.zeros_like(ours)
        grown[:, : state[key].shape[1]] = state[key]
        state = dict(state, **{key: grown})
    model.load_state_dict(state)


def _loss(logits: torch.Tensor, blocks: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    pixel = nn.functional.binary_cross_entropy_with_logits(logits, blocks)
    patch = nn.functional.binary_cross_entropy_with_logits(logits.amax(dim=(1, 2)), labels)
    return pixel + patch


def _batch(
    d: _Data, idx: NDArray[np.intp], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    v = torch.from_numpy(d.velocity[idx].astype(np.float32)) / VELOCITY_SCALE_MM_YR
    bits = np.unpackbits(d.observed[idx], axis=1, count=v.shape[-1] * v.shape[-2])
    obs = torch.from_numpy(bits.reshape(v.shape).astype(np.float32))
    dist = torch.from_numpy(d.distance[idx].astype(np.float32)) / DISTANCE_CAP_PX
    channels = [v, obs, dist]
    if d.residual is not None:
        channels.append(torch.from_numpy(d.residual[idx].astype(np.float32)) / VELOCITY_SCALE_MM_YR)
    x = torch.stack(channels, dim=1).to(device)
    blocks = torch.from_numpy(d.blocks[idx].astype(np.float32)).to(device)
    labels = torch.from_numpy(d.labels[idx].astype(np.float32)).to(device)
    return x, blocks, labels


@torch.no_grad()
def _validate(
    model: nn.Module, d: _Data, val: NDArray[np.intp], device: torch.device
) -> dict[str, float]:
    model.eval()
    losses, patch, hits, unions = [], [], 0.0, 0.0
    for start in range(0, val.size, 64):
        idx = val[start : start + 64]
        x, blocks, labels = _batch(d, idx, device)
        z = model(x)
        losses.append(float(_loss(z, blocks, labels)) * idx.size)
        patch.append(z.amax(dim=(1, 2)).cpu())
        pred, truth = z > 0, blocks >= 0.5
        hits += float((pred & truth).sum())
        unions += float((pred | truth).sum())
    p = torch.cat(patch).numpy() > 0
    y = d.labels[val].astype(bool)
    return {
        "val_loss": round(sum(losses) / val.size, 5),
        "val_accuracy": round(float((p == y).mean()), 5),
        "val_fpr": round(float(p[~y].mean()) if (~y).any() else 0.0, 5),
        "val_recall": round(float(p[y].mean()) if y.any() else 0.0, 5),
        "val_block_iou": round(hits / unions, 5) if unions else 0.0,
    }


def _load(
    data: Sequence[str | Path], config: RunConfig, max_samples: int | None, *, residual: bool
) -> _Data:
    parts: dict[str, list[NDArray]] = {k: [] for k in ("v", "o", "b", "d", "y", "r")}
    sources = []
    stride = GroundSeg.stride
    for path in data:
        ds = open_dataset(path)
        m = ds.manifest
        if (
            m["pixel_size_m"] != config.grid.pixel_size_m
            or m["patch_px"] != config.model.patch_size_px
            or not m.get("context")
            or m.get("margin_px") != GroundSeg.context
        ):
            raise InputError(
                str(path),
                f"built at {m['pixel_size_m']} m, {m['patch_px']} px, context "
                f"{m.get('context', False)}",
                f"a 'synth --context' build at {config.grid.pixel_size_m} m pixels and "
                f"{config.model.patch_size_px} px patches",
            )
        velocity, observed = ds.context()
        if residual:
            r = ds.residual()
            if r is None:
                raise InputError(str(path), "has no observation residual (built before it)",
                                 "a 'synth --context' build of this version")  # fmt: skip
            parts["r"].append(r)
        truth = ds.truth()
        n, s = truth.shape[0], truth.shape[1] // stride
        blocks = truth.reshape(n, s, stride, s, stride).mean(axis=(2, 4))
        distance = np.empty(observed.shape, dtype=np.uint8)
        for i, o in enumerate(observed):
            dist = ndimage.distance_transform_edt(~o) if o.any() else DISTANCE_CAP_PX
            distance[i] = np.minimum(dist, DISTANCE_CAP_PX)
        parts["v"].append(velocity)
        parts["o"].append(np.packbits(observed.reshape(n, -1), axis=1))
        parts["b"].append(blocks.astype(np.float16))
        parts["d"].append(distance)
        parts["y"].append(ds.labels)
        sources.append({"path": str(path), "kind": m["kind"], "seed": m["seed"], "n": m["n"]})
        del velocity, observed, truth, distance
    arrays = {}
    for key in list(parts):  # one at a time, so the copies never all coexist
        chunks = parts.pop(key)
        arrays[key] = np.concatenate(chunks)[:max_samples] if chunks else None
    return _Data(velocity=arrays["v"], observed=arrays["o"], distance=arrays["d"],
                 blocks=arrays["b"], residual=arrays["r"], labels=arrays["y"],
                 sources=sources)  # fmt: skip
