"""The hard loss of CrackSAM and of the distilled students: 0.2 * cross-entropy + 0.8 * Dice
(PARNet has its own deep-supervised loss in teacher/losses_parnet.py).

Dice follows the CrackSAM / SAMed definition: soft Dice of the softmax probabilities computed over
the whole batch for each class, then averaged over the classes (background and crack). With
`classes="crack"` only the crack channel's Dice is used.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F


def dice_loss(logits: torch.Tensor, target: torch.Tensor, classes: Literal["all", "crack"] = "all", eps: float = 1e-5) -> torch.Tensor:
    """Soft Dice loss. logits: Nx2xHxW; target: NxHxW int64 in {0, 1}. Returns a scalar.

    Per class c: 1 - (2 * sum(p_c * g_c) + eps) / (sum(p_c) + sum(g_c) + eps), sums over N, H, W.
    """
    if logits.shape[1] != 2:
        raise ValueError(f"dice_loss expects 2-channel logits, got shape {tuple(logits.shape)}")
    prob = torch.softmax(logits.float(), dim=1)
    onehot = F.one_hot(target.long(), 2).permute(0, 3, 1, 2).float()
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)
    denom = prob.sum(dims) + onehot.sum(dims)
    per_class = 1.0 - (2.0 * inter + eps) / (denom + eps)
    return per_class.mean() if classes == "all" else per_class[1]


def ce_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ce_weight: float = 0.2, dice_weight: float = 0.8, classes: Literal["all", "crack"] = "all"
) -> torch.Tensor:
    """0.2 * CE + 0.8 * Dice. logits: Nx2xHxW (any float dtype, computed in float32); target: NxHxW int64."""
    ce = F.cross_entropy(logits.float(), target.long())
    return ce_weight * ce + dice_weight * dice_loss(logits, target, classes)
