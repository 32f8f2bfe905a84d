"""Student training checkpoints that describe themselves (nanoGPT style).

A checkpoint is one `torch.save` file holding a dict:

    format               "crackedge-student/1"
    student              registry name, e.g. "hrnet_w18" (enough to rebuild the model)
    model                the student's state dict
    config               the training configuration (plain dict)
    training_data        what it was trained on (dataset path or description), or None
    teacher              the teacher's name, or None (hard loss only)
    validation_metrics   {metric: float} of the best validation, e.g. {"iou": 0.63}
    step, epoch          progress when saved
    optimizer            optimizer state dict (optional; needed to resume)
    scheduler            LR scheduler state dict (optional)
    created              UTC time, ISO 8601

Saved atomically (a crash leaves the old file or the new one) and read with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import datetime as _dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from crackedge.fileio import atomic_write_bytes
from distill.errors import CheckpointError

CHECKPOINT_FORMAT = "crackedge-student/1"
_REQUIRED = ("format", "student", "model")


@dataclass
class StudentCheckpoint:
    """The parsed content of a student checkpoint (see the module docstring)."""

    student: str
    model: dict
    config: dict = field(default_factory=dict)
    training_data: Optional[str] = None
    teacher: Optional[str] = None
    validation_metrics: dict[str, float] = field(default_factory=dict)
    step: int = 0
    epoch: int = 0
    optimizer: Optional[dict] = None
    scheduler: Optional[dict] = None
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "student": self.student,
            "model": self.model,
            "config": self.config,
            "training_data": self.training_data,
            "teacher": self.teacher,
            "validation_metrics": {k: float(v) for k, v in self.validation_metrics.items()},
            "step": int(self.step),
            "epoch": int(self.epoch),
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "created": self.created,
        }


def save_student_checkpoint(path: Path, ckpt: StudentCheckpoint) -> Path:
    """Write `ckpt` to `path` atomically; returns the path."""
    import torch

    buf = io.BytesIO()
    torch.save(ckpt.to_dict(), buf)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def load_student_checkpoint(path: Path) -> StudentCheckpoint:
    """Read and check a student checkpoint; CheckpointError naming the file and the problem."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"student checkpoint not found: {path} (pass the best.pt/last.pt written by `distill train`)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable student checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a checkpoint dict, got {type(obj).__name__}")
    if isinstance(obj.get("task"), dict) and obj["task"].get("format") == CHECKPOINT_FORMAT:
        # last.pt of `distill train` (crackedge.training.loop): the student checkpoint sits under "task"
        obj = {**obj["task"], "step": obj.get("step", 0)}
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        hint = " (this looks like a bare state dict; a student checkpoint also names its student)" if "format" in missing else ""
        raise CheckpointError(f"{path}: not a student checkpoint: missing keys {missing}{hint}")
    if obj["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {obj['format']!r}, expected {CHECKPOINT_FORMAT!r}")
    known = set(StudentCheckpoint.__dataclass_fields__)
    fields = {k: v for k, v in obj.items() if k in known}
    # best.pt of `distill train`: the training loop stores the validation metrics as "val_metrics"
    fields["validation_metrics"] = obj.get("validation_metrics") or obj.get("val_metrics") or {}
    return StudentCheckpoint(**fields)


def build_from_checkpoint(ckpt: StudentCheckpoint, source: str = "<checkpoint>"):
    """Rebuild the student named in `ckpt` and load its weights (strict; errors name the keys)."""
    from distill.students import build_student

    model = build_student(ckpt.student)
    target = model.state_dict()
    missing = [k for k in target if k not in ckpt.model]
    unexpected = [k for k in ckpt.model if k not in target]
    shapes = [
        f"{k} {tuple(ckpt.model[k].shape)} vs {tuple(v.shape)}"
        for k, v in target.items()
        if k in ckpt.model and tuple(ckpt.model[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{source}: weights do not fit student {ckpt.student!r}: "
            f"{len(missing)} missing {missing[:5]}, {len(unexpected)} unexpected {unexpected[:5]}, "
            f"{len(shapes)} with other shapes {shapes[:5]}"
        )
    model.load_state_dict(ckpt.model, strict=True)
    return model.eval()
