"""The CNN that classifies wrapped velocity patches (§II-A), and its shipped weights.

:class:`GroundNet` (default) is small and fully convolutional: four stride-2 stages (total
stride 16), then the largest and the mean response of each feature over the patch, then
one linear layer. Its convolutions are unpadded, so a 224 px patch is an 8 × 8 window of
the feature map that depends on nothing outside the patch, and
:meth:`GroundNet.patch_logits` scores every such window of a whole tile in one pass — the
same numbers as cutting the patches out at a 16 px step.
:class:`AlexNetLike` keeps AlexNet's layer shapes (11×11/4 stem, 5×5, three 3×3, three
pooling steps, a fully connected head on 6 × 6) at a quarter of its widths, for comparison
with the paper, which fine-tuned AlexNet.

Inputs have two channels: the wrapped phase scaled to [−1, 1] (0 where unobserved) and the
observed mask, so sparse inputs convolve only the pixels that have values (§IV-A).

Weights live in ``engine/weights/<name>.pt`` beside a model card ``<name>.json`` holding
the architecture, the training data, the metrics and the sha256 of the weights;
:func:`load_model` refuses weights whose hash differs from the card's.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from engine.detector import GroundSeg
from engine.errors import GroundwatchError
from engine.hashing import sha256_files

__all__ = [
    "ARCHITECTURES",
    "WEIGHTS_DIR",
    "AlexNetLike",
    "GroundNet",
    "ModelError",
    "build_model",
    "encode",
    "encode_wrapped",
    "for_inference",
    "load_model",
    "save_model",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODEL_ALIASES = {"paper": "mc"}  # the paper-literal classifier on matrix-completion input
INPUT_CHANNELS = 2


class ModelError(GroundwatchError):
    """Weights missing, not matching their model card, or of an unknown architecture."""


def encode(wrapped: NDArray[np.floating]) -> torch.Tensor:
    """Wrapped grayscale (:func:`engine.wrap.wrap`, NaN = no data) → ``(N, 2, H, W)`` input.

    Examples
    --------
    >>> encode(np.array([[[0.0, 255.0, np.nan]]])).tolist()
    [[[[-1.0, 1.0, 0.0]], [[1.0, 1.0, 0.0]]]]
    """
    gray = np.asarray(wrapped, dtype=np.float32)
    if gray.ndim == 2:
        gray = gray[None]
    observed = np.isfinite(gray)
    phase = np.where(observed, gray / np.float32(127.5) - np.float32(1.0), np.float32(0.0))
    return torch.from_numpy(np.stack([phase, observed.astype(np.float32)], axis=1))


def encode_wrapped(
    velocity: NDArray[np.floating],
    rho_mm_yr: float,
    tau_mm_yr: float = 0.0,
    *,
    finite: NDArray[np.bool_] | None = None,
    out: NDArray[np.float32] | None = None,
) -> torch.Tensor:
    """``encode(wrap(velocity, ρ, τ))`` of one map in one float32 pass, channels-last.

    For whole tiles, where the general path's float64 wrap and NCHW copy cost more than
    the network. Same values to float32 rounding. ``finite`` (``np.isfinite(velocity)``)
    may be passed in when one map is wrapped many times, and ``out`` — the buffer behind an
    earlier result for the same map, ``(1, rows, cols, 2)`` — to rewrite only the phase.

    Examples
    --------
    >>> from engine.wrap import wrap
    >>> v = np.array([[0.0, 3.5, np.nan]], dtype=np.float32)
    >>> encode_wrapped(v, 7.0).tolist() == encode(wrap(v, 7.0)).tolist()
    True
    """
    v = np.asarray(velocity, dtype=np.float32)
    seen = np.isfinite(v) if finite is None else finite
    phase = v + np.float32(tau_mm_yr)  # in place from here: a tile is 9 M pixels
    phase /= np.float32(rho_mm_yr)
    phase -= np.floor(phase)
    phase[phase >= 1.0] = 0.0  # rounding can give 1 for a hair below a whole turn
    phase *= 2.0
    phase -= 1.0
    phase[~seen] = 0.0
    if out is None:
        out = np.empty((1, *v.shape, INPUT_CHANNELS), dtype=np.float32)
        out[0, ..., 1] = seen
    out[0, ..., 0] = phase
    return torch.from_numpy(out).permute(0, 3, 1, 2)  # NCHW view of NHWC memory


def _conv(cin: int, cout: int, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class GroundNet(nn.Module):
    """Fully convolutional patch classifier; total stride 16, receptive field ~180 px.

    With ``padding=0`` (the default) every convolution is "valid": a patch's features do
    not depend on what lies outside it, so :meth:`patch_logits` on a whole tile gives
    exactly the logits of the patches cut out at a 16 px step. ``padding=1`` is the
    earlier zero-padded variant (kept to load weights trained with it).

    Examples
    --------
    >>> net = GroundNet().eval()
    >>> net(torch.zeros(3, 2, 224, 224)).shape
    torch.Size([3])
    >>> net.patch_logits(torch.zeros(1, 2, 448, 320)).shape   # one logit per 16 px step
    torch.Size([1, 15, 7])
    """

    stride = 16

    def __init__(self, width: int = 12, patch_px: int = 224, padding: int = 0) -> None:
        super().__init__()
        w = width
        # stride early: full-resolution convolutions would cost most of the compute
        self.features = nn.Sequential(
            _conv(INPUT_CHANNELS, w, 2, padding),
            _conv(w, 2 * w, 2, padding),
            _conv(2 * w, 4 * w, 2, padding),
            _conv(4 * w, 4 * w, 1, padding),
            _conv(4 * w, 8 * w, 2, padding),
            _conv(8 * w, 8 * w, 1, padding),
            _conv(8 * w, 8 * w, 1, padding),
        )
        size = patch_px
        for block in self.features:
            size = (size + 2 * padding - 3) // block[0].stride[0] + 1
        self.window = size  # a patch's extent in the feature map
        self.head = nn.Conv2d(16 * w, 1, 1)  # on [max, mean] of the features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per patch ``(N,)``: the pooled features of the whole input."""
        f = self.features(x)
        pooled = torch.cat([f.amax(dim=(2, 3), keepdim=True), f.mean(dim=(2, 3), keepdim=True)], 1)
        return self.head(pooled).flatten()

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every ``patch_px`` window at a 16 px step: ``(N, h, w)``."""
        f = self.features(x)
        k = min(self.window, f.shape[2], f.shape[3])
        # separable windows: k + k comparisons a position instead of k²
        top = F.max_pool2d(F.max_pool2d(f, (k, 1), stride=1), (1, k), stride=1)
        mean = F.avg_pool2d(F.avg_pool2d(f, (k, 1), stride=1), (1, k), stride=1)
        pooled = torch.cat([top, mean], dim=1)
        return self.head(pooled)[:, 0]


class AlexNetLike(nn.Module):
    """AlexNet's shapes at a quarter of its widths, with its fixed-size dense head.

    Examples
    --------
    >>> AlexNetLike().eval()(torch.zeros(2, 2, 224, 224)).shape
    torch.Size([2])
    """

    stride = 32

    def __init__(self, width: int = 16, patch_px: int = 224) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(INPUT_CHANNELS, 4 * w, 11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(4 * w, 12 * w, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(12 * w, 24 * w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(24 * w, 16 * w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16 * w, 16 * w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.AdaptiveAvgPool2d(6),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(16 * w * 36, 64 * w),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(64 * w, 64 * w),
            nn.ReLU(inplace=True),
            nn.Linear(64 * w, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1)).flatten()


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "groundnet": GroundNet,
    "alexnet": AlexNetLike,
    "groundseg": GroundSeg,
}


@torch.no_grad()
def for_inference(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for scoring: batch norms folded into their convolutions, NHWC.

    Folding removes a full pass over every feature map, which on whole tiles (memory-bound,
    not compute-bound) is most of the time; the outputs agree to float32 rounding.
    """
    model = copy.deepcopy(model).eval()
    for block in model.modules():
        if isinstance(block, nn.Sequential) and len(block) == 3:
            conv, norm = block[0], block[1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                fused = nn.Conv2d(
                    conv.in_channels,
                    conv.out_channels,
                    conv.kernel_size,
                    stride=conv.stride,
                    padding=conv.padding,
                    dilation=conv.dilation,
                    bias=True,
                )
                # a zero-sum stem folds its constrained kernels, not its free parameters
                weight = getattr(conv, "effective_weight", None)
                weight = conv.weight if weight is None else weight()
                fused.weight.copy_(weight * scale[:, None, None, None])
                bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
                fused.bias.copy_(norm.bias + (bias - norm.running_mean) * scale)
                block[0], block[1] = fused, nn.Identity()
    return model.to(memory_format=torch.channels_last)


def build_model(arch: str = "groundnet", **kwargs: Any) -> nn.Module:
    """A fresh model of a named architecture."""
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r}; expected one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**kwargs)


def save_model(model: nn.Module, path: str | Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write ``<path>.pt`` and its card ``<path>.json`` (with the sha256); returns the card."""
    path = Path(path).with_suffix(".pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    card = dict(card, weights=path.name, sha256=sha256_files(path))
    card_path = path.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card


def load_model(
    name: str | Path = "mc", *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Load shipped weights by name (``"default"``; ``"mc"`` alias ``"paper"``,
    ``"delaunay"``, ``"sparse"``) or path.

    Raises
    ------
    ModelError
        If the weights or the card are missing, or the weights' sha256 is not the card's.
    """
    path = Path(MODEL_ALIASES.get(str(name), name))
    if path.suffix not in (".pt", ".json"):
        path = WEIGHTS_DIR / f"{path}.pt" if path.parent == Path(".") else path.with_suffix(".pt")
    path = path.with_suffix(".pt")
    card_path = path.with_suffix(".json")
    if not path.exists() or not card_path.exists():
        raise ModelError(
            f"{path}: weights or model card missing; train them with 'python -m engine train'"
        )
    card = json.loads(card_path.read_text())
    actual = sha256_files(path)
    if actual != card.get("sha256"):
        raise ModelError(
            f"{path}: sha256 {actual[:12]}… does not match the model card ({card_path.name}: "
            f"{str(card.get('sha256'))[:12]}…); reproduce the weights with: {card.get('command')}"
        )
    model = build_model(card["architecture"], **card.get("architecture_kwargs", {}))
    model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return model.to(device).eval(), card
