"""What the demo does, with which budgets (in steps), and what it reports."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from crackedge.errors import CrackedgeError

log = logging.getLogger(__name__)

#: the held-back crack IoU the demo's student bundle must reach on the built-in synthetic data
STUDENT_IOU_FLOOR = 0.6


@dataclass
class DemoConfig:
    out: Path
    data: Optional[Path] = None  # a canonical dataset; None = generate synthetic data
    size: int = 256  # teacher and student input (square); the demo favours CPU speed over 448
    n_train: int = 96
    n_val: int = 16
    n_test: int = 24
    n_unlabeled: int = 96  # synthetic "frames brought back from a drive": images without masks
    student: str = "hrnet_w18_small_v2"  # the light HRNet: twice the steps of an HRNet-W18 in the same minutes
    teacher_steps: int = 400  # PARNet (small preset): full-resolution output, learns thin cracks fast on a CPU
    teacher_crop: Optional[int] = 160  # train on random crop x crop windows (None, or >= size: whole images) ...
    student_steps: int = 800
    student_crop: Optional[int] = 160  # ... of the images and views: about half the CPU time per step, within 0.01 IoU
    batch_size: int = 4
    variants: int = 3  # augmented views per image in the logit cache (x 8 on-the-fly symmetries)
    soft_loss: str = "kl"
    temperature: float = 1.0
    kl_weight: float = 0.5  # beside the hard loss's 0.2 CE + 0.8 Dice: the teacher guides, the labels still lead
    unlabeled_share: float = 0.25  # 1 unlabeled frame per batch of 4: 3 labeled images keep the hard loss's pace
    soft_warmup_steps: int = 30
    max_minutes: Optional[float] = 30.0  # per training stage: a safety net only, reported loudly when it cuts
    edge_frames: int = 40  # frames the daemon processes from the simulated camera
    edge_fps: float = 4.0
    frame_size: tuple[int, int] = (640, 480)  # simulated camera frames (width, height)
    seed: int = 0
    device: str = "cpu"


@dataclass
class DemoResult:
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, text: str) -> None:
        log.info(text)
        self.lines.append(text)

    def warn(self, text: str) -> None:
        log.warning(text)
        self.warnings.append(text)


class StageError(CrackedgeError):
    """A demo stage failed; the message names the stage and the command to rerun it alone."""
