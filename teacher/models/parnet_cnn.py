"""The CNN branch of PARNet: a DeepCrack-style encoder (VGG-like stages behind 2x2 max pooling) with
each stage made a residual unit.

DeepCrack (Liu et al., Neurocomputing 2019) uses five stages of 2, 2, 3, 3, 3 3x3 convolutions with
64, 128, 256, 512, 512 channels at strides 1..16; PARNet's CNN adds a sixth stage at stride 32 so that
its four deepest stages sit on the same grids as the four Swin stages (strides 4, 8, 16, 32).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from teacher.models.parnet_blocks import ResidualStage


class DeepCrackEncoder(nn.Module):
    """x: N x 3 x H x W (H, W divisible by 2**(len(widths)-1)) -> list of stage features, stage i being
    N x widths[i] x H/2**i x W/2**i. Stage 0 runs at full resolution; every later stage starts with a
    2x2 max pooling.
    """

    def __init__(self, widths: Sequence[int], convs: Sequence[int], in_ch: int = 3):
        super().__init__()
        if len(widths) != len(convs):
            raise ValueError(f"widths {tuple(widths)} and convs {tuple(convs)} must have the same length")
        stages = []
        prev = in_ch
        for width, n_convs in zip(widths, convs):
            stages.append(ResidualStage(prev, width, n_convs))
            prev = width
        self.stages = nn.ModuleList(stages)
        self.out_channels = tuple(widths)
        self.strides = tuple(2**i for i in range(len(widths)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = stage(x)
            feats.append(x)
        return feats
