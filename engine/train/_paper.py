"""Training the paper-literal patch classifier on synthetic builds (§III-C, Table I).

Every batch is wrapped afresh, on the torch device (:mod:`engine.train._augment`): each
sample draws an interval ρ from the configured set
(14, 7, 3.5, 1.75 mm/yr) and an offset τ uniformly in [0, ρ) — the over-wrapping the
detector applies at prediction time, seen as augmentation — plus a random flip and
quarter turn (deformation has no preferred orientation in a patch). A seeded tenth of
the samples is held out; training stops when its loss has not improved for ``patience``
epochs and the best epoch's weights are kept. CPU by default, CUDA when present.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from engine.config import RunConfig
from engine.errors import InputError
from engine.model import build_model, save_model
from engine.synthetic import VERSIONS, open_dataset
from engine.train._augment import dihedral, wrap_batch
from engine.train._options import FitOptions

__all__ = ["TrainOptions", "train"]

logger = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainOptions(FitOptions):
    """How to train the paper's classifier; the defaults produced the shipped weights."""

    arch: str = "groundnet"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)


def train(
    data: Sequence[str | Path],
    *,
    version: str,
    out: str | Path,
    options: TrainOptions = TrainOptions(),
    config: RunConfig = RunConfig(),
    command: str = "",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train on the ``version`` inputs (sparse, delaunay or mc) of synthetic builds.

    Writes ``<out>.pt`` and the model card ``<out>.json``; returns the card.

    Raises
    ------
    InputError
        If a build is missing or was rendered at another pixel or patch size.
    """
    if version not in VERSIONS:
        raise InputError("--version", f"{version!r} is not an input version", " | ".join(VERSIONS))
    images, labels, sources = _load(data, version, config, options.max_samples)
    device = options.torch_device()
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    val, fit = options.split(labels.size, rng)
    model = build_model(options.arch, patch_px=config.model.patch_size_px, **options.arch_kwargs)
    model.to(device)
    optimiser, schedule = options.optimiser(model, fit.size)
    loss_fn = nn.BCEWithLogitsLoss()
    rhos = np.asarray(config.wrap.rho_mm_yr, dtype=np.float32)
    val_wraps = _draw_wraps(np.random.default_rng(options.seed + 1), val.size, rhos)
    best: dict[str, Any] = {"val_loss": math.inf}
    history = []
    started = time.perf_counter()
    for epoch in range(1, options.epochs + 1):
        model.train()
        rng.shuffle(fit)
        total = 0.0
        for start in range(0, fit.size, options.batch_size):
            idx = np.sort(fit[start : start + options.batch_size])
            x = _batch(images[idx], _draw_wraps(rng, idx.size, rhos), device)
            y = torch.from_numpy(labels[idx].astype(np.float32)).to(device)
            loss = loss_fn(model(x), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * idx.size
            if progress is not None:
                progress({"epoch": epoch, "done": start + idx.size, "total": fit.size})
        val_loss, val_acc = _validate(model, images[val], labels[val], val_wraps, device)
        row = {
            "epoch": epoch,
            "train_loss": round(total / fit.size, 5),
            "val_loss": round(val_loss, 5),
            "val_accuracy": round(val_acc, 5),
        }
        history.append(row)
        logger.info("epoch %d: %s", epoch, row)
        if progress is not None:
            progress(dict(row, done=fit.size, total=fit.size))
        if val_loss < best["val_loss"]:
            best = dict(row, state={k: v.detach().clone() for k, v in model.state_dict().items()})
        elif epoch - best["epoch"] >= options.patience:
            logger.info("early stop at epoch %d (best %d)", epoch, best["epoch"])
            break
    model.load_state_dict(best.pop("state"))
    card = {
        "architecture": options.arch,
        "architecture_kwargs": dict(options.arch_kwargs, patch_px=config.model.patch_size_px),
        "input_version": version,
        "pixel_size_m": config.grid.pixel_size_m,
        "patch_px": config.model.patch_size_px,
        "wrap_rho_mm_yr": list(config.wrap.rho_mm_yr),
        "data": sources,
        "samples": {"train": int(fit.size), "validation": int(val.size)},
        "options": {k: v for k, v in asdict(options).items() if k != "device"},
        "device": str(device),
        "best_epoch": best,
        "history": history,
        "train_seconds": round(time.perf_counter() - started, 1),
        "torch_version": torch.__version__,
        "command": command,
    }
    return save_model(model.cpu(), out, card)


def _load(
    data: Sequence[str | Path], version: str, config: RunConfig, max_samples: int | None
) -> tuple[NDArray[np.float16], NDArray[np.uint8], list[dict[str, Any]]]:
    images, labels, sources = [], [], []
    for path in data:
        ds = open_dataset(path)
        m = ds.manifest
        if (
            m["pixel_size_m"] != config.grid.pixel_size_m
            or m["patch_px"] != config.model.patch_size_px
        ):
            raise InputError(
                str(path),
                f"built at {m['pixel_size_m']} m, {m['patch_px']} px",
                f"{config.grid.pixel_size_m} m pixels and {config.model.patch_size_px} px patches",
            )
        images.append(np.concatenate(list(ds.shards(version))))
        labels.append(ds.labels)
        sources.append({"path": str(path), "kind": m["kind"], "seed": m["seed"], "n": m["n"]})
    x = np.concatenate(images)
    y = np.concatenate(labels)
    if max_samples is not None:
        x, y = x[:max_samples], y[:max_samples]
    return x, y, sources


def _draw_wraps(
    rng: np.random.Generator, n: int, rhos: NDArray[np.float32]
) -> tuple[NDArray, NDArray, NDArray]:
    rho = rng.choice(rhos, size=n)
    tau = rng.uniform(0.0, 1.0, size=n).astype(np.float32) * rho
    turn = rng.integers(0, 8, size=n)  # 4 quarter turns × optional flip
    return rho, tau, turn


def _batch(
    velocity: NDArray, wraps: tuple[NDArray, NDArray, NDArray], device: torch.device
) -> torch.Tensor:
    """Wrapped, turned and encoded on the device: ``(N, 2, H, W)``, as :func:`encode`."""
    rho, tau, turn = (torch.from_numpy(np.asarray(w)).to(device) for w in wraps)
    v = torch.from_numpy(np.asarray(velocity, dtype=np.float32)).to(device)
    gray = dihedral(wrap_batch(v, rho, tau), turn)
    observed = torch.isfinite(gray)
    phase = torch.where(observed, gray / 127.5 - 1.0, torch.zeros_like(gray))
    return torch.stack([phase, observed.to(phase.dtype)], dim=1)


@torch.no_grad()
def _validate(
    model: nn.Module,
    images: NDArray,
    labels: NDArray[np.uint8],
    wraps: tuple[NDArray, NDArray, NDArray],
    device: torch.device,
) -> tuple[float, float]:
    model.eval()
    logits = []
    for start in range(0, labels.size, 64):
        part = tuple(w[start : start + 64] for w in wraps)
        logits.append(model(_batch(images[start : start + 64], part, device)).cpu())
    z = torch.cat(logits)
    y = torch.from_numpy(labels.astype(np.float32))
    loss = float(nn.functional.binary_cross_entropy_with_logits(z, y))
    return loss, float(((z > 0).float() == y).float().mean())
