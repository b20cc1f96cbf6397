"""What every training run shares: the optimiser, the split, early stopping, the device."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray


@dataclass(frozen=True)
class FitOptions:
    """Options common to the detector and the paper's classifier."""

    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.1
    patience: int = 3
    seed: int = 0
    device: str | None = None  # None: CUDA when present, else CPU
    max_samples: int | None = None

    def torch_device(self) -> torch.device:
        """``device``, or CUDA when present, else the CPU."""
        return torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def split(self, n: int, rng: np.random.Generator) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """``(held out, fitted)`` sample indices: a ``val_fraction`` (at least one) held out."""
        order = rng.permutation(n)
        n_val = max(1, round(self.val_fraction * n))
        return order[:n_val], order[n_val:]

    def optimiser(
        self, model: torch.nn.Module, n_fit: int
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """AdamW and its one-cycle schedule (peak ``learning_rate``) over every epoch's batches."""
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        steps = self.epochs * math.ceil(n_fit / self.batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=self.learning_rate, total_steps=steps, pct_start=0.15
        )
        return optimiser, schedule
