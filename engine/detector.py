"""The default detector: a fully convolutional segmenter of interpolated velocity maps.

:class:`GroundSeg` reads the interpolated velocity itself (not a wrapped image) with two
helper channels, and outputs a deformation logit for every 4 × 4 block of pixels; a
patch's logit is the largest block logit inside it. Design choices, each measured against
the alternatives in ``docs/results.md``:

* **Offset-free by construction.** The stem's weights on the velocity channel sum to zero
  over each kernel, so adding a constant to the map (the reference point of an InSAR
  product, the reason for the paper's offsets τ) changes nothing downstream.
* **Valid convolutions only.** A block's logit depends on the 100 px square around it and
  on nothing else, so scoring a whole tile in one pass gives exactly the logits of the
  same blocks scored from cut-out windows (:func:`context_px` of context on each side).
* **Context.** Training samples carry 48 px of canvas around their 224 px patch, as a tile
  does around any of its patches, so the patch is judged with its surroundings.

Inputs (:func:`encode_context`): velocity / 4 mm/yr (no data filled from the nearest
value, so a coast is not a step), the observed-scatterer mask, and the distance to the
nearest scatterer (capped at 32 px) — so a map knows where it is only interpolation.
A fourth channel (``in_channels=4``) carries the observations' residual from the
interpolation / 4 mm/yr (:func:`engine.synthetic.observation_residual`): matrix completion
is a strong low-pass filter at rural densities (a 8 px bowl seen by 5 % of pixels keeps a
quarter of its depth), and the residual gives back what it smoothed away. Both velocity
channels are blind to the reference offset: the first by the zero-sum stem, the residual
by construction.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from scipy import ndimage
from torch import nn

__all__ = ["GroundSeg", "encode_context", "pixel_logits_to_map"]

VELOCITY_SCALE_MM_YR = 4.0
DISTANCE_CAP_PX = 32.0
CHANNELS = 3  # velocity, observed, distance; + the residual with in_channels=4


class _ZeroSumConv(nn.Conv2d):
    """A convolution whose kernels sum to zero over channel 0 (the velocity)."""

    def effective_weight(self) -> torch.Tensor:
        w = self.weight
        w0 = w[:, :1] - w[:, :1].mean(dim=(2, 3), keepdim=True)
        return torch.cat([w0, w[:, 1:]], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)


def _block(cin: int, cout: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class GroundSeg(nn.Module):
    """Block logits at stride 4 from valid (unpadded) convolutions; receptive field 100 px.

    An input of ``(N, 3, H, W)`` gives ``(N, (H − 96)/4, (W − 96)/4)`` logits; the logit
    at ``(i, j)`` belongs to the input pixels ``[48 + 4i, 52 + 4i)`` × ``[48 + 4j, 52 + 4j)``.

    Examples
    --------
    >>> net = GroundSeg().eval()
    >>> net(torch.zeros(2, 3, 320, 320)).shape       # a 224 px patch with its context
    torch.Size([2, 56, 56])
    """

    stride = 4
    context = 48  # pixels of input needed beyond an output block on each side
    dilations = (1, 2, 4, 4, 1)

    def __init__(self, width: int = 16, in_channels: int = CHANNELS) -> None:
        super().__init__()
        if in_channels not in (CHANNELS, CHANNELS + 1):
            raise ValueError(f"in_channels must be {CHANNELS} or {CHANNELS + 1}, got {in_channels}")
        w = width
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            _ZeroSumConv(in_channels, w, 4, stride=4, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
        )
        layers, cin = [], w
        for d in self.dilations:
            layers.append(_block(cin, 32, d))
            cin = 32
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(32, 32, 1), nn.ReLU(inplace=True), nn.Conv2d(32, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))[:, 0]

    @staticmethod
    def patch_logits(block_logits: torch.Tensor, patch_blocks: int) -> torch.Tensor:
        """A patch's logit: the largest block logit of every ``patch_blocks``² window."""
        k = min(patch_blocks, block_logits.shape[-2], block_logits.shape[-1])
        top = F.max_pool2d(block_logits[:, None], (k, 1), stride=1)
        return F.max_pool2d(top, (1, k), stride=1)[:, 0]


def encode_context(
    velocity: NDArray[np.floating],
    observed: NDArray[np.bool_],
    residual: NDArray[np.floating] | None = None,
) -> NDArray[np.float32]:
    """``(…, H, W)`` interpolated velocity and observed mask → ``(…, 3, H, W)`` input.

    NaN velocities (no interpolation there) take the nearest finite value, so a data edge
    is flat rather than a step to zero; the model still sees it in the two other channels.
    With ``residual`` (observations − interpolation, 0 where unobserved) a fourth channel
    holds it / 4 mm/yr.

    Examples
    --------
    >>> x = encode_context(np.array([[4.0, np.nan, 8.0]]), np.array([[True, False, True]]))
    >>> x[0].tolist(), x[1].tolist(), (x[2] * 32).tolist()    # distance in px, / 32
    ([[1.0, 1.0, 2.0]], [[1.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]])
    """
    v = np.asarray(velocity, dtype=np.float32)
    obs = np.asarray(observed, dtype=bool)
    lead = v.shape[:-2]
    v2 = v.reshape(-1, *v.shape[-2:])
    o2 = obs.reshape(-1, *obs.shape[-2:])
    channels = CHANNELS if residual is None else CHANNELS + 1
    out = np.empty((v2.shape[0], channels, *v2.shape[1:]), dtype=np.float32)
    if residual is not None:
        r = np.asarray(residual, dtype=np.float32).reshape(v2.shape)
        out[:, CHANNELS] = np.nan_to_num(r, nan=0.0) / VELOCITY_SCALE_MM_YR
    for i, (vi, oi) in enumerate(zip(v2, o2, strict=True)):
        finite = np.isfinite(vi)
        if not finite.all():
            if finite.any():
                idx = ndimage.distance_transform_edt(~finite, return_distances=False,
                                                     return_indices=True)  # fmt: skip
                vi = vi[tuple(idx)]
            else:
                vi = np.zeros_like(vi)
        out[i, 0] = vi / VELOCITY_SCALE_MM_YR
        out[i, 1] = oi
        if oi.any():
            dist = ndimage.distance_transform_edt(~oi)
        else:
            dist = np.full(oi.shape, DISTANCE_CAP_PX)
        # whole pixels, as the training builds store them
        out[i, 2] = np.floor(np.minimum(dist, DISTANCE_CAP_PX)) / DISTANCE_CAP_PX
    return out.reshape(*lead, channels, *v.shape[-2:])


def pixel_logits_to_map(
    block_logits: NDArray[np.floating], shape: tuple[int, int], *, stride: int = 4,
    context: int = 48,
) -> NDArray[np.float32]:  # fmt: skip
    """Per-pixel probability on the input grid from block logits (NaN where not scored).

    Block ``(i, j)`` covers pixels ``context + stride·(i, j)`` onwards; the logits are
    interpolated bilinearly between block centres (edge blocks held), then squashed.
    """
    z = torch.from_numpy(np.ascontiguousarray(block_logits, dtype=np.float32))[None, None]
    h, w = z.shape[-2:]
    up = F.interpolate(z, size=(h * stride, w * stride), mode="bilinear", align_corners=False)
    out = np.full(shape, np.nan, dtype=np.float32)
    rows = min(h * stride, shape[0] - context)
    cols = min(w * stride, shape[1] - context)
    out[context : context + rows, context : context + cols] = torch.sigmoid(up)[0, 0, :rows, :cols]
    return out
