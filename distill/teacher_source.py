"""Where the teacher's logits come from during distillation: a live teacher, a logit cache, or none.

Every source returns float32 logits N x 2 x H x W at the teacher's full resolution on the
training device (or None without a teacher); CWD then upsamples the student to that resolution.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from crackedge.errors import ConfigError

log = logging.getLogger(__name__)


class TeacherSource(Protocol):
    name: Optional[str]  # e.g. "cracksam-vit_h-adapter"; None without a teacher

    def logits(self, batch: dict, images: torch.Tensor) -> Optional[torch.Tensor]:
        """Teacher logits N x 2 x H x W float32 for the batch (images: N x 3 x H x W on the device)."""


class NoTeacher:
    name = None

    def logits(self, batch: dict, images: torch.Tensor) -> None:
        return None


class LiveTeacher:
    """Runs a loaded teacher (teacher.api.load_teacher) on every batch, without gradients."""

    def __init__(self, model: Any, device: torch.device, amp: bool = True):
        from teacher.api import teacher_name

        self.model, self.device, self.amp = model, device, amp
        self.name = teacher_name(model)

    def logits(self, batch: dict, images: torch.Tensor) -> torch.Tensor:
        """The teacher's logits for the batch's views; with --photometric on the clean views
        (`image_clean`), as a cache would hold them: the input noise is for the student only."""
        from teacher.inference import run_teacher

        if "image_clean" in batch:
            images = batch["image_clean"].to(self.device, non_blocking=True)
        return run_teacher(self.model, images, self.device, self.amp)["logits"]


class CachedTeacher:
    """Reads the logits `teacher cache-logits` stored for each (index, variant) of the batch."""

    def __init__(self, cache: Any, device: torch.device):
        self.cache, self.device = cache, device
        self.name = str(cache.meta["teacher"])
        self.size = tuple(int(s) for s in cache.meta["size"])
        if cache.channels == 1 and self.name.startswith("cracksam"):
            log.info("logit cache %s holds CrackSAM's crack margin only (channels: 1): CWD sees the symmetric "
                     "logits (-z/2, z/2), not the teacher's own two maps; cache with --channels 2 for those",
                     cache.root)

    def logits(self, batch: dict, images: torch.Tensor) -> torch.Tensor:
        rows = [self.cache.get(int(i), int(v)) for i, v in zip(batch["index"], batch["variant"])]
        t = torch.from_numpy(np.stack(rows).astype(np.float32)).to(self.device)
        if t.shape[1] == 1:  # crack margin z: the symmetric 2-channel logits with the same softmax
            t = torch.cat([-t / 2, t / 2], dim=1)
        return F.interpolate(t, size=self.size, mode="bilinear", align_corners=False)


def check_teacher_kind(kind: str, name: str, source: str) -> None:
    """ConfigError unless the teacher `name` is of `kind` (cracksam-..., parnet)."""
    if not name.startswith(kind):
        raise ConfigError(f"{source} holds teacher {name!r}, not a {kind} teacher; pass --teacher {name.split('-')[0]}")


def open_cached_teacher(cache_dir: Path, kind: str, checkpoint: Optional[Path], device: torch.device) -> CachedTeacher:
    """Open a logit cache for teacher `kind`; when `checkpoint` is given, check the cache came from it."""
    from crackedge.data.logit_cache import LogitCache
    from crackedge.fileio import sha256_file

    cache = LogitCache.open(cache_dir)
    check_teacher_kind(kind, str(cache.meta["teacher"]), f"logit cache {cache_dir}")
    recorded = cache.meta.get("checkpoint_sha256")
    if checkpoint is not None and recorded and sha256_file(checkpoint) != recorded:
        raise ConfigError(
            f"logit cache {cache_dir} was made from another teacher checkpoint than {checkpoint} "
            "(SHA-256 differs); re-run `teacher cache-logits` or drop --teacher-checkpoint"
        )
    return CachedTeacher(cache, device)


def open_live_teacher(checkpoint: Path, sam_checkpoint: Optional[Path], kind: str, device: torch.device,
                      size: tuple[int, int], amp: bool) -> LiveTeacher:
    """Load the teacher once for the whole run; ConfigError if it is of another kind or input size."""
    from teacher.api import load_teacher

    model = load_teacher(checkpoint, sam_checkpoint, device)
    source = LiveTeacher(model, device, amp)
    check_teacher_kind(kind, source.name, f"teacher checkpoint {checkpoint}")
    img_size = getattr(getattr(model, "config", None), "img_size", None)
    if img_size is not None and (img_size, img_size) != tuple(size):
        raise ConfigError(
            f"teacher {source.name} takes {img_size}x{img_size} input, the student trains at {size[0]}x{size[1]}; "
            f"pass --size {img_size}"
        )
    return source
