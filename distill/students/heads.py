"""Segmentation heads for the students (mmseg FCNHead style, and LR-ASPP for MobileNetV3).

Every head maps backbone features to 2-channel logits (channel 0 background, channel 1 crack) at
the stride of its finest input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> ReLU, 'same' padding."""
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False, mmseg's default) of Nx C x h x w to Nx C x size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ResizeConcatFCNHead(nn.Module):
    """mmseg FCNHead with input_transform='resize_concat' (the HRNet 'fcn_hr18' head).

    features: list of N x C_i x h_i x w_i, finest first -> all resized to the finest grid,
    concatenated (sum C_i channels), `num_convs` conv-BN-ReLU of `channels`, 1x1 classifier.
    Returns N x num_classes x h_0 x w_0.
    """

    def __init__(self, in_channels: list[int], channels: int, num_classes: int = 2, num_convs: int = 1,
                 kernel: int = 1, dropout: float = 0.0):
        super().__init__()
        convs = [conv_bn_relu(sum(in_channels) if i == 0 else channels, channels, kernel) for i in range(num_convs)]
        self.convs = nn.Sequential(*convs)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = tuple(features[0].shape[-2:])
        x = torch.cat([features[0]] + [resize_to(f, size) for f in features[1:]], dim=1)
        return self.classifier(self.dropout(self.convs(x)))


class FCNHead(nn.Module):
    """mmseg FCNHead on the last feature map (the 'fcn_r50-d8' head).

    `num_convs` conv-BN-ReLU (kernel 3) of `channels`; with concat_input the input is concatenated
    to their output and fused by one more conv-BN-ReLU; dropout; 1x1 classifier.
    features[-1]: N x in_channels x h x w -> N x num_classes x h x w.
    """

    def __init__(self, in_channels: int, channels: int, num_classes: int = 2, num_convs: int = 2,
                 kernel: int = 3, concat_input: bool = True, dropout: float = 0.1):
        super().__init__()
        self.convs = nn.Sequential(
            *[conv_bn_relu(in_channels if i == 0 else channels, channels, kernel) for i in range(num_convs)]
        )
        self.fuse = conv_bn_relu(in_channels + channels, channels, kernel) if concat_input else None
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        y = self.convs(x)
        if self.fuse is not None:
            y = self.fuse(torch.cat([x, y], dim=1))
        return self.classifier(self.dropout(y))


class LRASPPHead(nn.Module):
    """Lite R-ASPP (Howard et al., MobileNetV3, 2019; torchvision's LRASPPHead).

    features[0]: low level N x low_channels x h x w; features[-1]: high level
    N x high_channels x h' x w'. The high features are gated by a global-pool sigmoid branch,
    resized to h x w and classified; the low features get their own 1x1 classifier; the two
    logits are summed. Returns N x num_classes x h x w. Only ops an NCS2 runs (global average
    pool, sigmoid, bilinear resize).
    """

    def __init__(self, low_channels: int, high_channels: int, inter_channels: int = 128, num_classes: int = 2):
        super().__init__()
        self.cbr = conv_bn_relu(high_channels, inter_channels, 1)
        self.scale = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        low, high = features[0], features[-1]
        x = self.cbr(high) * self.scale(high)
        x = resize_to(x, tuple(low.shape[-2:]))
        return self.low_classifier(low) + self.high_classifier(x)
