"""A student = timm feature backbone + segmentation head, with a declared input size and stride."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class StudentSpec:
    """What a student declares: its name, input size (H, W), output stride and channels."""

    name: str
    input_size: tuple[int, int]
    stride: int
    num_classes: int
    backbone: str
    head: str

    def output_size(self, input_size: tuple[int, int] | None = None) -> tuple[int, int]:
        """Logit grid (h, w) for an input of `input_size` (default: the declared one)."""
        h, w = input_size or self.input_size
        return (-(-h // self.stride), -(-w // self.stride))


class StudentSegmentor(nn.Module):
    """forward(x: float32 N x 3 x H x W normalised) -> logits N x 2 x H/stride x W/stride.

    Channel 0 is background, channel 1 crack. H and W should be multiples of 32.
    """

    def __init__(self, spec: StudentSpec, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not, buffers excluded)."""
    return sum(p.numel() for p in model.parameters())
