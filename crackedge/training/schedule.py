"""Linear warm-up then polynomial decay, stepped once per optimiser step.

lr(step) = base_lr * (step + 1) / warmup                         for step < warmup
lr(step) = base_lr * (1 - (step - warmup) / (total - warmup)) ** power   afterwards
(CrackSAM: base 4e-4, 300 warm-up iterations, power 6.)
"""

from __future__ import annotations

import torch


def warmup_poly_factor(step: int, total_steps: int, warmup_steps: int, power: float) -> float:
    """Multiplier of the base learning rate at optimiser step `step` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return (1.0 - progress) ** power


def warmup_poly(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, power: float) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_poly_factor(s, total_steps, min(warmup_steps, total_steps), power)
    )
