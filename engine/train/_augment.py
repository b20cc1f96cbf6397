"""Augmentation on the torch device: quarter turns and flips, wrapping, offsets.

Deformation has no preferred orientation in a map, so every batch is turned by a random
multiple of 90° and optionally mirrored (eight variants); the paper's classifier also sees
each velocity map wrapped at a random interval ρ and offset τ (§III-C). Everything runs
on whole batches on the device: a GPU does not wait for numpy, a CPU does the same work
once in vectorised form.
"""

from __future__ import annotations

import torch

__all__ = ["dihedral", "wrap_batch"]


def dihedral(x: torch.Tensor, variant: torch.Tensor) -> torch.Tensor:
    """Each sample of ``x`` ``(N, …, H, W)`` turned by ``variant % 4`` quarter turns,
    then mirrored left-right when ``variant >= 4``; square maps only.

    Examples
    --------
    >>> x = torch.arange(4.0).reshape(1, 2, 2)
    >>> dihedral(x, torch.tensor([1]))[0].tolist(), dihedral(x, torch.tensor([4]))[0].tolist()
    ([[1.0, 3.0], [0.0, 2.0]], [[1.0, 0.0], [3.0, 2.0]])
    """
    out = torch.empty_like(x)
    for k in range(8):
        sel = (variant == k).nonzero().flatten()
        if sel.numel():
            y = torch.rot90(x[sel], k % 4, dims=(-2, -1))
            out[sel] = torch.flip(y, dims=(-1,)) if k >= 4 else y
    return out


def wrap_batch(velocity: torch.Tensor, rho: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """``255·((v + τ) mod ρ)/ρ`` per sample (``rho``, ``tau``: ``(N,)``); NaN stays NaN.

    The same numbers as :func:`engine.wrap.wrap`, on the device.

    Examples
    --------
    >>> wrap_batch(torch.tensor([[0.0, 3.5, -3.5]]), torch.tensor([7.0]), torch.tensor([0.0]))
    tensor([[  0.0000, 127.5000, 127.5000]])
    """
    shape = (-1,) + (1,) * (velocity.dim() - 1)
    r = rho.reshape(shape).to(velocity.dtype)
    t = tau.reshape(shape).to(velocity.dtype)
    phase = torch.remainder(velocity + t, r) / r
    return 255.0 * torch.where(phase >= 1.0, torch.zeros_like(phase), phase)  # rounding up to ρ
