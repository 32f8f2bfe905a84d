"""The export-only module: exactly what the runtime consumes (segment-anything `utils/onnx.py` style).

`CrackProbabilityHead(student)`: x float32 N x 3 x H x W (normalised) -> crack probability
N x 1 x H/stride x W/stride in [0, 1]. The probability is softmax(logits, 1)[:, 1], computed as
sigmoid(l_crack - l_background) (identical, and avoids opset-11 Softmax's flatten-to-2D axis
semantics). No upsampling (the host does it: stride^2 times less data back over USB from an NCS2)
and no argmax/threshold (host side).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

OUTPUT_KIND = "probabilities"
OUTPUT_CHANNELS = 1
CRACK_CHANNEL = 0


class CrackProbabilityHead(nn.Module):
    """forward(x: N x 3 x H x W) -> N x 1 x H/stride x W/stride crack probability."""

    def __init__(self, student: nn.Module):
        super().__init__()
        self.student = student

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.student(x)
        return torch.sigmoid(logits[:, 1:2] - logits[:, 0:1])


class Relu6HardSwish(nn.Module):
    """x * relu6(x + 3) / 6: nn.Hardswish written with ops every target runs (Add, Clip, Mul, Div)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


class Relu6HardSigmoid(nn.Module):
    """relu6(x + 3) / 6: nn.Hardsigmoid without ONNX HardSigmoid (which the NCS2 does not run)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


_REPLACEMENTS = {nn.Hardswish: Relu6HardSwish, nn.Hardsigmoid: Relu6HardSigmoid}


def make_export_friendly(model: nn.Module) -> dict[str, int]:
    """Replace modules that export to ops some targets lack with numerically equal ones, in place.

    Returns {module type: count replaced}, also logged.
    """
    counts: dict[str, int] = {}
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            repl = _REPLACEMENTS.get(type(child))
            if repl is not None:
                setattr(parent, child_name, repl())
                counts[type(child).__name__] = counts.get(type(child).__name__, 0) + 1
    if counts:
        log.info("export: replaced modules for portable ONNX ops: %s", counts)
    return counts


def export_module(student: nn.Module) -> CrackProbabilityHead:
    """The eval-mode export wrapper around `student` (its activations made export friendly)."""
    make_export_friendly(student)
    return CrackProbabilityHead(student).eval()
