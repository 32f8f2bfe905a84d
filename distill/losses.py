"""Distillation losses: channel-wise distillation (CWD) and the student's total loss.

CWD (Shu et al., "Channel-wise Knowledge Distillation for Dense Prediction", ICCV 2021): for every
channel, a softmax over all H*W positions at temperature T turns the teacher's and the student's
logit maps into spatial distributions; the loss is KL(teacher || student) times T^2, averaged over
channels and batch:

    L = T^2 / (N*C) * sum_{n,c} sum_i p_t(i) * (log p_t(i) - log p_s(i)),
    p(i) = softmax_i(z_{n,c,i} / T).

Computed from `log_softmax` (a softmax over ~200k positions underflows if logged afterwards), in
float32 with autocast disabled, at the teacher's full resolution (the student's logits are
upsampled bilinearly first).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_TEMPERATURE = 3.0
DEFAULT_CWD_WEIGHT = 5.0


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
    device_type = student_logits.device.type
    with torch.autocast(device_type=device_type, enabled=False):
        n, c, h, w = teacher_logits.shape
        s = align_to(student_logits.float(), (h, w)).reshape(n, c, h * w) / temperature
        t = teacher_logits.detach().float().reshape(n, c, h * w) / temperature
        log_p_t = F.log_softmax(t, dim=-1)
        log_p_s = F.log_softmax(s, dim=-1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=-1)  # N x C
        return kl.mean() * temperature**2


def distillation_loss(student_logits: torch.Tensor, target: torch.Tensor, teacher_logits: torch.Tensor | None,
                      cwd_weight: float = DEFAULT_CWD_WEIGHT, temperature: float = DEFAULT_TEMPERATURE
                      ) -> dict[str, torch.Tensor]:
    """Hard loss (0.2 CE + 0.8 Dice on the ground truth) + cwd_weight * CWD vs the teacher.

    student_logits: N x 2 x h x w (upsampled to the mask size for the hard loss);
    target: N x H x W int64 {0, 1}; teacher_logits: N x 2 x H' x W' or None (hard loss only).
    Returns {"loss", "hard", "cwd"} (scalars; "cwd" is 0 without a teacher).
    """
    from crackedge.training.losses import ce_dice_loss

    logits_full = align_to(student_logits, tuple(target.shape[-2:]))
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        hard = ce_dice_loss(logits_full.float(), target)
    if teacher_logits is None or cwd_weight == 0:
        soft = hard.new_zeros(())
    else:
        soft = cwd_loss(student_logits, teacher_logits, temperature)
    return {"loss": hard + cwd_weight * soft, "hard": hard.detach(), "cwd": soft.detach()}
