"""PARNet's deeply supervised loss: a binary cross-entropy (optionally + soft Dice) on the fused output and
on each of the four side outputs, weighted and summed.

The PARNet paper's loss text was not available to us; this follows DeepCrack (Liu et al., Neurocomputing
2019), which supervises every side output and the fused output with a pixel-wise cross-entropy and sums
the terms. Defaults: all weights 1 (side_weights (1, 1, 1, 1), fuse_weight 1), no class weighting, no Dice.
For reference, DeepCrack's public PyTorch code uses a class-weighted 2-way cross-entropy (background 0.03,
crack 1.0) with side weights (0.5, 0.75, 1.0, 0.75, 0.5) for its five sides; `pos_weight` and
`side_weights` reproduce that kind of setting. `kind="ce_dice"` instead applies the project's hard loss
(`crackedge.training.losses.ce_dice_loss`, 0.2 CE + 0.8 Dice) to every output, with the same weights.

Shapes: every logits tensor is N x 2 x H x W (background, crack); the crack margin z = l1 - l0 (N x H x W)
is the binary logit, so BCE(z) equals the 2-way softmax cross-entropy. target: N x H x W in {0, 1}.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from teacher.parnet_loss_config import ParnetLossConfig

__all__ = ["ParnetLossConfig", "crack_margin", "output_loss", "parnet_loss", "parnet_loss_terms", "soft_dice_loss"]


def crack_margin(logits: torch.Tensor) -> torch.Tensor:
    """N x 2 x H x W logits -> N x H x W binary logit z = crack - background (sigmoid(z) = crack prob)."""
    if logits.ndim != 4 or logits.shape[1] != 2:
        raise ValueError(f"expected N x 2 x H x W logits, got shape {tuple(logits.shape)}")
    return logits[:, 1] - logits[:, 0]


def soft_dice_loss(z: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - (2 sum(p t) + smooth) / (sum(p) + sum(t) + smooth), p = sigmoid(z), pooled over the batch."""
    p = torch.sigmoid(z)
    inter = (p * target).sum()
    return 1.0 - (2.0 * inter + smooth) / (p.sum() + target.sum() + smooth)


def output_loss(logits: torch.Tensor, target: torch.Tensor, cfg: ParnetLossConfig) -> torch.Tensor:
    """Loss of one output: mean BCE on the crack margin (+ dice_weight * soft Dice), or 0.2 CE + 0.8 Dice
    for kind "ce_dice". Scalar."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # the loss in float32 under autocast: BCE/Dice sums over ~200k pixels
    z = crack_margin(logits)
    if z.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} do not match (N x H x W)")
    if cfg.kind == "ce_dice":
        from crackedge.training.losses import ce_dice_loss

        return ce_dice_loss(logits, target)
    t = target.to(z.dtype)
    pos_weight = None if cfg.pos_weight is None else torch.tensor(cfg.pos_weight, dtype=z.dtype, device=z.device)
    loss = F.binary_cross_entropy_with_logits(z, t, pos_weight=pos_weight)
    if cfg.dice_weight:
        loss = loss + cfg.dice_weight * soft_dice_loss(z, t, cfg.dice_smooth)
    return loss


def parnet_loss_terms(
    output: Mapping[str, object], target: torch.Tensor, cfg: ParnetLossConfig | None = None
) -> dict[str, torch.Tensor]:
    """Weighted loss terms: {"fuse": ..., "side1".."side4": ..., "total": ...} (scalars).

    output: the model's training output, {"logits": N x 2 x H x W, "aux": four N x 2 x H x W};
    target: N x H x W in {0, 1} (int64, bool or float).
    """
    cfg = cfg or ParnetLossConfig()
    aux: Sequence[torch.Tensor] | None = output.get("aux")  # type: ignore[assignment]
    if aux is None or len(aux) != len(cfg.side_weights):
        got = "no 'aux'" if aux is None else f"{len(aux)} aux outputs"
        raise ValueError(
            f"the PARNet loss needs the four side outputs in output['aux'] (got {got}); "
            "call the model in training mode (model.train())"
        )
    terms = {"fuse": cfg.fuse_weight * output_loss(output["logits"], target, cfg)}  # type: ignore[arg-type]
    for k, (side, weight) in enumerate(zip(aux, cfg.side_weights), start=1):
        terms[f"side{k}"] = weight * output_loss(side, target, cfg)
    terms["total"] = torch.stack(list(terms.values())).sum()
    return terms


def parnet_loss(output: Mapping[str, object], target: torch.Tensor, cfg: ParnetLossConfig | None = None) -> torch.Tensor:
    """Total deeply supervised loss (scalar): fuse_weight * L(fused) + sum_k side_weights[k] * L(side_k)."""
    return parnet_loss_terms(output, target, cfg)["total"]
