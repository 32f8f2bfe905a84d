"""The teacher protocol's entry points (see docs/teacher.md):

    load_teacher(checkpoint, sam_checkpoint=None, device="cpu") -> nn.Module in eval mode whose
        forward(x: float32 N x 3 x H x W normalised) returns {"logits": N x 2 x H x W, ...}
    teacher_name(model) -> "cracksam-vit_h-adapter", "parnet", ...
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from teacher.models.registry import teacher_name

__all__ = ["load_teacher", "teacher_name"]

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


def load_teacher(
    checkpoint: Union[str, Path],
    sam_checkpoint: Optional[Union[str, Path]] = None,
    device: Union[str, "torch.device"] = "cpu",
) -> "nn.Module":
    """Rebuild a trained teacher from its checkpoint, move it to `device`, set eval mode.

    A delta checkpoint (CrackSAM adapters/LoRA + decoder) needs `sam_checkpoint`, the original
    SAM weights file it was trained on (checked by SHA-256); a full checkpoint needs nothing else.
    Raises TeacherCheckpointError / SamCheckpointError with the fix in the message.
    """
    from teacher.checkpoints import load_teacher_checkpoint

    model = load_teacher_checkpoint(Path(checkpoint), Path(sam_checkpoint) if sam_checkpoint is not None else None)
    return model.to(device).eval()
