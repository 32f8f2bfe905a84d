"""The smallest distillation set-up: a synthetic dataset and a random tiny CrackSAM teacher checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

SIZE = 64
STUDENT = "mobilenetv3_large_100"


def tiny_data_and_teacher(tmp: Path, seed: int, n_test: int):
    """A synthetic dataset (4 train, 2 val, n_test test, SIZE px) and a random tiny CrackSAM teacher
    saved as a teacher checkpoint: (data folder, teacher model, checkpoint path)."""
    from crackedge.synth import write_synthetic_dataset
    from teacher.checkpoints import save_teacher_checkpoint
    from teacher.models.cracksam import build_cracksam

    data = tmp / "data"
    write_synthetic_dataset(data, n_train=4, n_val=2, n_test=n_test, size=(SIZE, SIZE), seed=seed, progress=False)
    torch.manual_seed(0)
    teacher = build_cracksam("tiny", "none", img_size=SIZE, freeze_image_encoder=False)
    return data, teacher, save_teacher_checkpoint(tmp / "teacher.pt", teacher)
