"""Distillation losses: channel-wise distillation (CWD), pixel-wise KL (Hinton), and the student's total loss.

CWD (Shu et al., "Channel-wise Knowledge Distillation for Dense Prediction", ICCV 2021): for every
channel, a softmax over all H*W positions at temperature T turns the teacher's and the student's
logit maps into spatial distributions; the loss is KL(teacher || student) times T^2, averaged over
channels and batch:

    L = T^2 / (N*C) * sum_{n,c} sum_i p_t(i) * (log p_t(i) - log p_s(i)),
    p(i) = softmax_i(z_{n,c,i} / T).

Pixel-wise KL (Hinton et al., "Distilling the Knowledge in a Neural Network", as torchdistill's
KDLoss and mmrazor's KLDivergence apply it to segmentation): at every pixel a softmax over the C
classes at temperature T; KL(teacher || student) averaged over pixels and batch, times T^2:

    L = T^2 / (N*H*W) * sum_{n,i} sum_c q_t(c) * (log q_t(c) - log q_s(c)),  q(c) = softmax_c(z_{n,c,i} / T).

Pseudo-labels (self-training; "hard distillation" in DeiT's words): the student's hard loss, 0.2 CE +
0.8 Dice, against the teacher's argmax mask. Pixel-wise KL on a thin-crack image is dominated by
the background pixels and carries no region term; the pseudo-label loss gives an unlabeled image the
same Dice signal a labeled one gets from its mask.

CWD and KL are computed from `log_softmax` (a softmax over ~200k positions underflows if logged
afterwards), in float32 with autocast disabled, at the teacher's full resolution (the student's
logits are upsampled bilinearly first).
"""

from __future__ import annotations

from typing import get_args

import torch
import torch.nn.functional as F

from distill.train_config import SoftLoss

DEFAULT_TEMPERATURE = 3.0
DEFAULT_CWD_WEIGHT = 5.0
SOFT_LOSSES = get_args(SoftLoss)  # "cwd", "kl", "pseudo" and their "+" joins


def align_to(student_logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (align_corners=False) of N x C x h x w logits to N x C x size."""
    if tuple(student_logits.shape[-2:]) == tuple(size):
        return student_logits
    return F.interpolate(student_logits, size=size, mode="bilinear", align_corners=False)


def cwd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
             temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
    """Channel-wise distillation loss (scalar, float32).

    student_logits: N x C x h x w (any dtype; upsampled to the teacher's H x W);
    teacher_logits: N x C x H x W (no gradient flows into it).
    """
    if student_logits.ndim != 4 or teacher_logits.ndim != 4:
        raise ValueError(f"expected N x C x H x W logits, got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    if student_logits.shape[:2] != teacher_logits.shape[:2]:
        raise ValueError(
            f"student and teacher logits differ in batch/channels: {tuple(student_logits.shape)} vs {tuple(teacher_logits.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return cwd_per_sample(student_logits, teacher_logits, temperature).mean()


def kl_per_sample(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                  temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
    """Pixel-wise (Hinton) KL divergence, float32, one value per sample: N-vector of the mean over pixels
    times T^2. student_logits: N x C x h x w (upsampled to the teacher's H x W); teacher: N x C x H x W."""
    if student_logits.shape[:2] != teacher_logits.shape[:2]:
        raise ValueError(
            f"student and teacher logits differ in batch/channels: {tuple(student_logits.shape)} vs {tuple(teacher_logits.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        h, w = teacher_logits.shape[-2:]
        log_q_s = F.log_softmax(align_to(student_logits.float(), (h, w)) / temperature, dim=1)
        log_q_t = F.log_softmax(teacher_logits.detach().float() / temperature, dim=1)
        kl = (log_q_t.exp() * (log_q_t - log_q_s)).sum(dim=1)  # N x H x W
        return kl.flatten(1).mean(dim=1) * temperature**2


def cwd_per_sample(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                   temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
    """CWD as N per-sample values (their mean is `cwd_loss`)."""
    n, c = teacher_logits.shape[:2]
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        h, w = teacher_logits.shape[-2:]
        s = align_to(student_logits.float(), (h, w)).reshape(n, c, h * w) / temperature
        t = teacher_logits.detach().float().reshape(n, c, h * w) / temperature
        log_p_t = F.log_softmax(t, dim=-1)
        kl = (log_p_t.exp() * (log_p_t - F.log_softmax(s, dim=-1))).sum(dim=-1)  # N x C
        return kl.mean(dim=1) * temperature**2


def pseudo_label_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """0.2 CE + 0.8 Dice of the student against the teacher's argmax mask (scalar, float32).

    student_logits: N x 2 x h x w (upsampled to the teacher's H x W); teacher_logits: N x 2 x H x W.
    """
    from crackedge.training.losses import ce_dice_loss

    if student_logits.shape[:2] != teacher_logits.shape[:2]:
        raise ValueError(
            f"student and teacher logits differ in batch/channels: {tuple(student_logits.shape)} vs {tuple(teacher_logits.shape)}"
        )
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        mask = teacher_logits.detach().argmax(dim=1)  # N x H x W int64
        return ce_dice_loss(align_to(student_logits.float(), tuple(mask.shape[-2:])), mask)


def soft_weight_at(step: int, warmup_steps: int) -> float:
    """The soft loss's weight factor at `step`: a linear ramp 0 -> 1 over `warmup_steps` (1 when 0)."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


def distillation_loss(student_logits: torch.Tensor, target: torch.Tensor, teacher_logits: torch.Tensor | None,
                      cwd_weight: float = DEFAULT_CWD_WEIGHT, temperature: float = DEFAULT_TEMPERATURE,
                      kind: str = "cwd", kl_weight: float = 1.0, labeled: torch.Tensor | None = None,
                      soft_factor: float = 1.0, soft_on: str = "all", pseudo_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Hard loss on labeled items + soft_factor * (cwd_weight * CWD + kl_weight * KL + pseudo_weight * pseudo-label
    loss, the terms that `kind` names) on every item.

    student_logits: N x 2 x h x w (upsampled to the mask size for the hard loss);
    target: N x H x W int64 {0, 1}; teacher_logits: N x 2 x H' x W' or None (hard loss only);
    labeled: N bools (None: all labeled). Items without a label get the soft loss only; the hard
    loss is computed over the labeled items (0 when the batch has none).
    kind: "cwd", "kl", "pseudo" or several joined by "+". soft_on: "all" items, or "unlabeled" ones only (the soft terms are then
    means over the unlabeled items of the batch, 0 without any). Returns {"loss", "hard", "cwd", "kl", "pseudo"}
    (scalars, 0 where unused).
    """
    from crackedge.training.losses import ce_dice_loss

    if kind not in SOFT_LOSSES:
        raise ValueError(f"unknown soft loss {kind!r}; valid: {', '.join(SOFT_LOSSES)}")
    terms = kind.split("+")
    zero = student_logits.new_zeros((), dtype=torch.float32)
    keep = labeled.to(student_logits.device).bool() if labeled is not None else None
    hard = zero
    if keep is None or bool(keep.any()):
        logits = student_logits if keep is None else student_logits[keep]
        y = target if keep is None else target[keep.to(target.device)]
        logits_full = align_to(logits, tuple(y.shape[-2:]))
        with torch.autocast(device_type=student_logits.device.type, enabled=False):
            hard = ce_dice_loss(logits_full.float(), y)
    if soft_on not in ("all", "unlabeled"):
        raise ValueError(f"soft_on must be 'all' or 'unlabeled', got {soft_on!r}")
    cwd = kl = pseudo = zero
    soft_items = None if soft_on == "all" else (~keep if keep is not None else torch.zeros(
        student_logits.shape[0], dtype=torch.bool, device=student_logits.device))
    if teacher_logits is not None and (soft_items is None or bool(soft_items.any())):
        s_logits = student_logits if soft_items is None else student_logits[soft_items]
        t_logits = teacher_logits if soft_items is None else teacher_logits[soft_items.to(teacher_logits.device)]
        if "cwd" in terms and cwd_weight:
            cwd = cwd_per_sample(s_logits, t_logits, temperature).mean()
        if "kl" in terms and kl_weight:
            kl = kl_per_sample(s_logits, t_logits, temperature).mean()
        if "pseudo" in terms and pseudo_weight:
            pseudo = pseudo_label_loss(s_logits, t_logits)
    soft = cwd_weight * cwd + kl_weight * kl + pseudo_weight * pseudo
    return {"loss": hard + soft_factor * soft, "hard": hard.detach(), "cwd": cwd.detach(), "kl": kl.detach(),
            "pseudo": pseudo.detach()}
