"""`teacher cache-logits`: run the teacher once over every (image, augmentation variant) of a split,
plus any unlabeled images, and store its logits for distillation (`crackedge.data.logit_cache`).

Row `index * variants + variant` holds the logits for exactly the pixels that
`MixedSegDataset(..., augment=True, seed=seed, variants=variants, unlabeled=...)` yields for that item
and variant, so `distill train --teacher-cache` can read them back. Items are the split's names in
order, then the unlabeled image files.

One teacher, no TTA: its native-resolution logits ("logits_low" when the teacher has them, 112x112
for CrackSAM at 448; else "logits": PARNet's full-resolution output). With `tta_views > 1` (the
dihedral views, each transformed back) or several teachers (an ensemble), the full-resolution
logits are averaged: each teacher's crack margin z = l_crack - l_background is averaged over views
and teachers (a margin is what every teacher shares; PARNet's logits are (0, z)).

Channels (`channels=None` picks): 2 stores (background, crack) logits - for an ensemble the
symmetric (-z/2, z/2), which has the same softmax; 1 stores z. PARNet's and ensembles' default is 1,
CrackSAM's 2. `stored_size` (optional) area-averages the stored logits down to stored_size x
stored_size (approximate: distillation upsamples them back bilinearly).

Before writing, each teacher (and the TTA teacher, and the ensemble) is scored on the validation
split with crackedge.evaluation, and the crack IoUs go into the cache's index.yaml (`teacher_val`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

from crackedge.errors import ConfigError

log = logging.getLogger(__name__)


class _Views:
    """Dataset over (index, variant) pairs of a MixedSegDataset: the augmented, normalised image."""

    def __init__(self, ds: Any, variants: int) -> None:
        self.ds, self.variants = ds, variants

    def __len__(self) -> int:
        return len(self.ds) * self.variants

    def __getitem__(self, row: int) -> Dict[str, Any]:
        from crackedge.data.torch_dataset import image_to_tensor

        index, variant = divmod(row, self.variants)
        image, _ = self.ds.load(index, variant if self.ds.augment else 0)
        return {"image": image_to_tensor(image), "row": row, "index": index, "variant": variant, "name": self.ds.names[index]}


def score_teachers(models: Sequence[Any], names: Sequence[str], data_root: Path, split: str, tta_views: int,
                   device: Any, progress: bool) -> Dict[str, float]:
    """Crack IoU (CrackSAM convention, each image at its own size) on `split` of every teacher, of each
    with TTA, and of the ensemble (with TTA when asked): what `teacher_val` in the cache records."""
    from crackedge.evaluation import EvalOptions, evaluate
    from teacher.predictor import TeacherPredictor

    opts = EvalOptions(split=split, overlays=0, progress=progress)
    scores: Dict[str, float] = {}
    for i, (model, name) in enumerate(zip(models, names)):
        key = f"{i}:{name}" if len(models) > 1 else name
        scores[key] = evaluate(TeacherPredictor([model], device), data_root, opts).metrics["clean"]["iou"]
        if tta_views > 1:
            tta = TeacherPredictor([model], device, tta_views=tta_views)
            scores[f"{key} +TTA{tta_views}"] = evaluate(tta, data_root, opts).metrics["clean"]["iou"]
    if len(models) > 1:
        scores[f"ensemble{' +TTA' + str(tta_views) if tta_views > 1 else ''}"] = evaluate(
            TeacherPredictor(list(models), device, tta_views=tta_views), data_root, opts).metrics["clean"]["iou"]
    for key, iou in scores.items():
        log.info("teacher %s: %s IoU %.4f", key, split, iou)
    return scores


def _check(models: Sequence[Any], variants: int, augment: bool, channels: Optional[int], tta_views: int) -> int:
    """The input size the images are prepared at (the largest teacher's: teacher.inference.teacher_logits
    resizes them for smaller ones); ConfigError for impossible settings."""
    from teacher.inference import DIHEDRAL, ensemble_size

    if variants < 1:
        raise ConfigError(f"--variants must be >= 1, got {variants}")
    if not augment and variants != 1:
        raise ConfigError(f"without augmentation every variant is the same image: pass --variants 1 (got {variants})")
    if channels not in (None, 1, 2):
        raise ConfigError(f"--channels must be 1 (crack margin) or 2 (both logits), got {channels}")
    if not 1 <= tta_views <= len(DIHEDRAL):
        raise ConfigError(f"--tta views must be between 1 and {len(DIHEDRAL)}, got {tta_views}")
    return ensemble_size(models)


def cache_teacher_logits(
    models: Union[Any, Sequence[Any]],
    checkpoints: Union[Path, Sequence[Path]],
    data_root: Path,
    split: str,
    out_dir: Path,
    variants: int = 1,
    seed: int = 0,
    augment: bool = True,
    channels: Optional[int] = None,
    device: Any = "cpu",
    batch_size: int = 2,
    amp: bool = False,
    workers: int = 0,
    progress: bool = True,
    stored_size: Optional[int] = None,
    tta_views: int = 1,
    unlabeled: Sequence[Path] = (),
    val_split: Optional[str] = "val",
    sam_checkpoint: Optional[Path] = None,
) -> Path:
    """Write the logit cache of `split` (and the `unlabeled` image files) to `out_dir`; returns out_dir.

    models/checkpoints: one teacher, or several averaged (an ensemble). channels None: 2 for one
    teacher with two logit maps, else 1. stored_size None: the native resolution.
    """
    from dataclasses import asdict

    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from crackedge.data.augment import AugmentConfig
    from crackedge.data.layout import CrackDataset
    from crackedge.data.logit_cache import LogitCacheWriter
    from crackedge.data.torch_dataset import MixedSegDataset
    from crackedge.fileio import sha256_file
    from teacher.api import teacher_name
    from teacher.checkpoints import peek_training_labels
    from teacher.inference import default_cache_channels, ensemble_name, teacher_logits

    models = list(models) if isinstance(models, (list, tuple)) else [models]
    checkpoints = list(checkpoints) if isinstance(checkpoints, (list, tuple)) else [checkpoints]
    if not models or len(models) != len(checkpoints):
        raise ConfigError("pass one checkpoint per teacher (at least one)")
    size = _check(models, variants, augment, channels, tta_views)
    averaged = len(models) > 1 or tta_views > 1
    if channels is None:
        channels = 1 if averaged else default_cache_channels(models[0])
    names = [teacher_name(m) for m in models]
    data = CrackDataset.open(data_root)
    if stored_size is not None and not 1 <= stored_size <= size:
        raise ConfigError(f"--stored-size must be between 1 and the teacher's input size {size}, got {stored_size}")
    ds = MixedSegDataset(data, split, (size, size), augment=augment, seed=seed, variants=variants if augment else None,
                         unlabeled=list(unlabeled))
    loader = DataLoader(_Views(ds, variants), batch_size=batch_size, shuffle=False, num_workers=workers)
    meta: Dict[str, Any] = {
        "teacher": ensemble_name(names),
        "teachers": names,
        "checkpoint": ", ".join(Path(c).name for c in checkpoints),
        "checkpoint_sha256": sha256_file(Path(checkpoints[0])) if len(checkpoints) == 1 else None,
        "checkpoints_sha256": [sha256_file(Path(c)) for c in checkpoints],
        "checkpoint_paths": [str(Path(c).resolve()) for c in checkpoints],
        "teachers_training_labels": [peek_training_labels(Path(c)) for c in checkpoints],
        "sam_checkpoint": str(Path(sam_checkpoint).resolve()) if sam_checkpoint else None,
        "dataset": str(Path(data_root).resolve()),
        "split": split,
        "unlabeled_images": len(ds) - ds.n_split,
        "size": [size, size],
        "seed": seed,
        "variants": variants,
        "augment": augment,
        "augment_config": asdict(AugmentConfig()),
        "tta_views": tta_views,
        "noise": "clean",
    }
    if val_split is not None and val_split in data.splits:
        meta["teacher_val"] = {"split": val_split, "basis": "image", "crack_iou": score_teachers(
            models, names, data_root, val_split, tta_views, device, progress)}
    writer = None
    desc = f"cache-logits {split}" + (f" + {meta['unlabeled_images']} unlabeled" if meta["unlabeled_images"] else "")
    for batch in tqdm(loader, desc=desc, disable=not progress, unit="batch"):
        logits = teacher_logits(models, batch["image"], device, amp, tta_views)
        if averaged and channels == 2:
            logits = logits.repeat(1, 2, 1, 1) * logits.new_tensor([-0.5, 0.5]).view(1, 2, 1, 1)
        elif channels == 1 and logits.shape[1] == 2:
            logits = logits[:, 1:2] - logits[:, 0:1]  # crack margin z = l_crack - l_background
        native = tuple(logits.shape[-2:])
        if stored_size is not None and native != (stored_size, stored_size):
            if stored_size > min(native):
                raise ConfigError(f"--stored-size {stored_size} exceeds the teacher's native logits {native[0]}x{native[1]}")
            logits = F.adaptive_avg_pool2d(logits, stored_size)  # area average (approximate, see the docstring)
            meta["downsampled_from"] = list(native)
        logits = logits.cpu().numpy()
        if writer is None:
            writer = LogitCacheWriter(out_dir, meta, len(loader.dataset), channels, tuple(logits.shape[-2:]))
        for i in range(logits.shape[0]):
            writer.write(int(batch["row"][i]), batch["name"][i], int(batch["index"][i]), int(batch["variant"][i]), logits[i])
    if writer is None:
        raise ConfigError(f"split {split!r} of {data_root} is empty; nothing to cache")
    path = writer.close()
    log.info("cached %d x %d logits of %s in %s", len(ds), variants, meta["teacher"], path)
    return path
