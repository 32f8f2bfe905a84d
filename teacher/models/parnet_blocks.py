"""PARNet building blocks: residual CNN stage, DFA (dual-feature alignment), RFF (residual feature fusion),
decoder stage and side-output head.

Every module takes its sizes through its constructor; shapes are given as N x C x H x W.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, relu: bool = True) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ ReLU); `same` padding for odd kernels."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResidualStage(nn.Module):
    """One DeepCrack stage as a residual unit: `n_convs` 3x3 conv-BN(-ReLU), plus a shortcut.

    x: N x in_ch x H x W -> N x out_ch x H x W. The shortcut is the identity when the widths match,
    else a 1x1 conv + BN; ReLU after the sum (as in ResNet).
    """

    def __init__(self, in_ch: int, out_ch: int, n_convs: int):
        super().__init__()
        if n_convs < 1:
            raise ValueError(f"a residual stage needs at least one conv, got n_convs={n_convs}")
        convs = [conv_bn_relu(in_ch if i == 0 else out_ch, out_ch, relu=i < n_convs - 1) for i in range(n_convs)]
        self.body = nn.Sequential(*convs)
        self.shortcut = nn.Identity() if in_ch == out_ch else conv_bn_relu(in_ch, out_ch, kernel=1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class SqueezeExcite(nn.Module):
    """Channel weights from global average pooling: N x C x H x W -> N x C x 1 x 1 in (0, 1)."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class DFA(nn.Module):
    """Dual-feature alignment: brings a Swin feature to the CNN feature's grid, a common width and content.

    swin: N x swin_ch x h x w, cnn: N x cnn_ch x H x W -> N x out_ch x H x W.

    1. projection: the Swin feature is resized (bilinear) to H x W when the grids differ and projected
       by a 1x1 conv + BN to `out_ch` channels (p);
    2. spatial mask: m = sigmoid(conv3x3(ReLU(BN(conv1x1([p, cnn]))))), N x 1 x H x W, computed from both
       branches, so the CNN feature decides where the global context is let through;
    3. masked conv: a = ReLU(BN(conv3x3(p * m)));
    4. squeeze-excitation: out = a * SE(a), channel weights N x out_ch x 1 x 1.
    The mask and SE weights are kept as `last_mask` / `last_channel_weights` (detached) for inspection.
    """

    def __init__(self, swin_ch: int, cnn_ch: int, out_ch: int, se_reduction: int = 16):
        super().__init__()
        hidden = max(out_ch // 4, 8)
        self.project = conv_bn_relu(swin_ch, out_ch, kernel=1, relu=False)
        self.mask = nn.Sequential(
            conv_bn_relu(out_ch + cnn_ch, hidden, kernel=1), nn.Conv2d(hidden, 1, 3, padding=1)
        )
        self.masked_conv = conv_bn_relu(out_ch, out_ch, kernel=3)
        self.se = SqueezeExcite(out_ch, se_reduction)
        self.last_mask: torch.Tensor | None = None
        self.last_channel_weights: torch.Tensor | None = None

    def forward(self, swin: torch.Tensor, cnn: torch.Tensor) -> torch.Tensor:
        if swin.shape[-2:] != cnn.shape[-2:]:
            swin = F.interpolate(swin, size=cnn.shape[-2:], mode="bilinear", align_corners=False)
        p = self.project(swin)
        mask = torch.sigmoid(self.mask(torch.cat([p, cnn], dim=1)))
        a = self.masked_conv(p * mask)
        weights = self.se(a)
        self.last_mask = mask.detach()
        self.last_channel_weights = weights.detach()
        return a * weights


class RFF(nn.Module):
    """Residual feature fusion of the CNN feature and the DFA-aligned Swin feature.

    cnn: N x cnn_ch x H x W, aligned: N x aligned_ch x H x W -> N x cnn_ch x H x W:
    s = ReLU(BN(conv1x1(cnn)) + BN(conv1x1(aligned))) at `fusion_ch` channels; r = BN(conv3x3(s)) back to
    `cnn_ch`; out = ReLU(cnn + r). The residual goes to the low-level (CNN) branch, so the fusion is the
    CNN feature plus a learned correction carrying the global context.
    """

    def __init__(self, cnn_ch: int, aligned_ch: int, fusion_ch: int):
        super().__init__()
        self.align_cnn = conv_bn_relu(cnn_ch, fusion_ch, kernel=1, relu=False)
        self.align_swin = conv_bn_relu(aligned_ch, fusion_ch, kernel=1, relu=False)
        self.refine = conv_bn_relu(fusion_ch, cnn_ch, kernel=3, relu=False)

    def forward(self, cnn: torch.Tensor, aligned: torch.Tensor) -> torch.Tensor:
        s = F.relu(self.align_cnn(cnn) + self.align_swin(aligned))
        return F.relu(cnn + self.refine(s))


class DecoderStage(nn.Module):
    """Upsample the coarser decoder feature to the skip's grid, concatenate, two conv3x3-BN-ReLU.

    coarse: N x coarse_ch x h x w, skip: N x skip_ch x H x W -> N x out_ch x H x W.
    """

    def __init__(self, coarse_ch: int, skip_ch: int, out_ch: int):
        super().__init__()
        self.convs = nn.Sequential(conv_bn_relu(coarse_ch + skip_ch, out_ch), conv_bn_relu(out_ch, out_ch))

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.convs(torch.cat([up, skip], dim=1))


class SideHead(nn.Module):
    """1x1 conv to one crack logit z: N x C x h x w -> N x 1 x h x w."""

    def __init__(self, in_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SideFusion(nn.Module):
    """Learned fusion of K side logits (DeepCrack/HED): N x K x H x W -> N x 1 x H x W by a 1x1 conv.

    Initialised to the mean of the side outputs (weights 1/K, bias 0).
    """

    def __init__(self, n_sides: int):
        super().__init__()
        self.conv = nn.Conv2d(n_sides, 1, 1)
        nn.init.constant_(self.conv.weight, 1.0 / n_sides)
        nn.init.zeros_(self.conv.bias)

    def forward(self, sides: torch.Tensor) -> torch.Tensor:
        return self.conv(sides)


def two_channel_logits(z: torch.Tensor) -> torch.Tensor:
    """Crack logit z (N x 1 x H x W) -> (background, crack) logits (0, z), N x 2 x H x W.

    softmax((0, z))[1] == sigmoid(z), so the teacher protocol's 2-channel logits carry z exactly.
    """
    return torch.cat([torch.zeros_like(z), z], dim=1)
