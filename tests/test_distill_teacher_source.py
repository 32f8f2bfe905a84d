"""CachedTeacher: what a 1-channel (crack margin) cache means for CWD, and when that deserves a warning."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import torch

from distill.teacher_source import CachedTeacher


def _cache(teacher: str, channels: int) -> SimpleNamespace:
    z = np.full((channels, 4, 4), 2.0, dtype=np.float16)
    return SimpleNamespace(meta={"teacher": teacher, "size": [8, 8]}, channels=channels, root="/cache",
                           get=lambda index, variant: z)


def test_margin_cache_of_a_cracksam_teacher_is_explained_but_not_of_parnet(caplog):
    with caplog.at_level(logging.INFO, logger="distill.teacher_source"):
        CachedTeacher(_cache("parnet", 1), torch.device("cpu"))
    assert not caplog.records  # PARNet has one output map: the margin is all it says
    with caplog.at_level(logging.INFO, logger="distill.teacher_source"):
        CachedTeacher(_cache("cracksam-vit_b-adapter", 1), torch.device("cpu"))
    assert "--channels 2" in caplog.text


def test_margin_cache_becomes_symmetric_logits_at_the_teacher_size():
    teacher = CachedTeacher(_cache("parnet", 1), torch.device("cpu"))
    t = teacher.logits({"index": [0, 1], "variant": [0, 0]}, torch.zeros(2, 3, 8, 8))
    assert t.shape == (2, 2, 8, 8)
    # margin z = 2 -> (-1, 1): the same softmax as (0, 2), and CWD's channels carry equal and opposite maps
    assert torch.allclose(t[:, 0], torch.full((2, 8, 8), -1.0)) and torch.allclose(t[:, 1], torch.full((2, 8, 8), 1.0))
