"""What every training run shares: the optimiser, the split, early stopping, the device."""

from __future__ import annotations

from dataclasses import dataclass


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
