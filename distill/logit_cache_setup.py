"""Make (or reuse) a teacher-logit cache for a distillation run: the teacher runs once, here."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from crackedge.errors import ConfigError
from crackedge.fileio import atomic_write_text

log = logging.getLogger(__name__)

CACHE_TIME_NAME = "cache_time.yaml"


def teacher_kind(name: str) -> str:
    """'cracksam', 'parnet' or 'ensemble' for a teacher name such as 'cracksam-tiny-none'; ConfigError otherwise."""
    kind = name.split("-")[0]
    if kind not in ("cracksam", "parnet", "ensemble"):
        raise ConfigError(f"teacher {name!r} is not a cracksam, parnet or ensemble teacher; distill cannot use it")
    return kind


def load_checked_teacher(checkpoint: Path, sam_checkpoint: Optional[Path], size: int, device: Any) -> tuple[Any, str]:
    """(teacher model in eval mode, its name); ConfigError when it takes another input size than `size`."""
    from teacher.api import load_teacher, teacher_name

    model = load_teacher(checkpoint, sam_checkpoint, device)
    name = teacher_name(model)
    img_size = getattr(getattr(model, "config", None), "img_size", None)
    if img_size is not None and int(img_size) != int(size):
        raise ConfigError(f"teacher {name} takes {img_size}x{img_size} input; pass --size {img_size} "
                          "(student and teacher see the same pixels)")
    return model, name


def cache_fits(cache_dir: Path, data: Path, size: int, seed: int, variants: int, checkpoint: Optional[Path],
               unlabeled: Sequence[Path] = (), split: str = "train") -> bool:
    """True when `cache_dir` is a complete cache of `data`'s `split` (plus the `unlabeled` images) at this
    size/seed/variants (and, when given, made from `checkpoint`)."""
    import torch

    from crackedge.data.layout import CrackDataset
    from crackedge.data.logit_cache import CacheError, LogitCache
    from distill.teacher_source import open_cached_teacher

    if not (Path(cache_dir) / "index.yaml").is_file():
        return False
    try:
        kind = teacher_kind(str(LogitCache.open(cache_dir).meta["teacher"]))
        source = open_cached_teacher(Path(cache_dir), kind, checkpoint, torch.device("cpu"))
        names = CrackDataset.open(data).names(split) + [str(Path(p).resolve()) for p in unlabeled]
        source.cache.check_matches(names, (size, size), seed, variants)
    except (CacheError, ConfigError) as err:
        log.warning("the logit cache in %s does not fit (%s); it is made again", cache_dir, err)
        return False
    return True


def ensure_logit_cache(model: Any, checkpoint: Path, data: Path, size: int, seed: int, variants: int,
                       cache_dir: Path, device: Any = "cpu", workers: int = 0, progress: bool = True,
                       unlabeled: Sequence[Path] = (), split: str = "train") -> Path:
    """Reuse `cache_dir` when it fits, else run `teacher.cache_logits` into it and record
    the time it took in cache_dir/cache_time.yaml."""
    from teacher.cache_logits import cache_teacher_logits

    cache_dir = Path(cache_dir)
    if cache_fits(cache_dir, data, size, seed, variants, checkpoint, unlabeled, split):
        log.info("reusing the teacher-logit cache %s", cache_dir)
        return cache_dir
    t0 = time.monotonic()
    cache_teacher_logits(model, checkpoint, data, split, cache_dir, variants=variants, seed=seed, augment=True,
                         channels=None, device=device, batch_size=4, workers=workers, progress=progress,
                         unlabeled=unlabeled, val_split=None)
    atomic_write_text(cache_dir / CACHE_TIME_NAME,
                      yaml.safe_dump({"wall_s": round(time.monotonic() - t0, 1), "variants": variants}))
    return cache_dir
