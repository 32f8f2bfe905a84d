"""Random-weight student models with measured BatchNorm statistics, and student checkpoints made from them."""

from __future__ import annotations

from pathlib import Path

import torch

from distill.checkpoints import StudentCheckpoint, save_student_checkpoint
from distill.students import build_student


def calibrated_student(name: str, size: int, seed: int = 0) -> torch.nn.Module:
    """A random-weight student whose BatchNorm statistics are measured on random inputs.

    Freshly initialised BN layers (mean 0, var 1) let activations explode in eval mode (logits ~1e7
    for HRNet-W18); measured statistics give logits of order 1.
    """
    torch.manual_seed(seed)
    model = build_student(name).train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 3, size, size))
    return model.eval()


def write_checkpoint(path: Path, name: str, size: int) -> Path:
    """A student checkpoint of `calibrated_student(name, size)` with fixed provenance and metrics."""
    model = calibrated_student(name, size)
    return save_student_checkpoint(path, StudentCheckpoint(
        student=name, model=model.state_dict(), training_data="synthetic-test", teacher="cracksam-test",
        validation_metrics={"iou": 0.42, "f1": 0.5}, step=7, epoch=1,
    ))
