"""`teacher cache-logits`: run the teacher once over every (image, augmentation variant) of a split
and store its logits for distillation (`crackedge.data.logit_cache`).

Row `index * variants + variant` holds the teacher's native-resolution logits ("logits_low" when
the teacher has them: 112x112 for CrackSAM at 448; else "logits": PARNet's full-resolution output)
for exactly the pixels that `CrackSegDataset(..., augment=True, seed=seed, variants=variants)` yields
for that item and variant, so `distill train --teacher-cache` can read them back.

Channels (`channels=None` picks per teacher): 2 stores (background, crack) logits; 1 stores the crack
margin z = l_crack - l_background. PARNet's logits are (0, z), so 1 channel loses nothing and is its
default; CrackSAM's default is 2. `stored_size` (optional) area-averages the stored logits down to
stored_size x stored_size: smaller caches, but approximate, since distillation upsamples them back
bilinearly and a 1-2 pixel crack is blurred into its neighbours (docs/parnet.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional

from crackedge.errors import ConfigError

log = logging.getLogger(__name__)


class _Views:
    """Dataset over (index, variant) pairs of a CrackSegDataset: the augmented, normalised image."""

    def __init__(self, ds: Any, variants: int) -> None:
        self.ds, self.variants = ds, variants

    def __len__(self) -> int:
        return len(self.ds) * self.variants

    def __getitem__(self, row: int) -> Dict[str, Any]:
        from crackedge.data.torch_dataset import image_to_tensor

        index, variant = divmod(row, self.variants)
        image, _ = self.ds.load(index, variant if self.ds.augment else 0)
        return {"image": image_to_tensor(image), "row": row, "index": index, "variant": variant, "name": self.ds.names[index]}


def cache_teacher_logits(
    model: Any,
    checkpoint: Path,
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
) -> Path:
    """Write the logit cache for `split` to `out_dir`; returns out_dir. channels None: the teacher's
    default (`default_cache_channels`); stored_size None: the native resolution."""
    from dataclasses import asdict

    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from crackedge.data.augment import AugmentConfig
    from crackedge.data.layout import CrackDataset
    from crackedge.data.logit_cache import LogitCacheWriter
    from crackedge.data.torch_dataset import CrackSegDataset
    from crackedge.fileio import sha256_file
    from teacher.api import teacher_name
    from teacher.inference import default_cache_channels, input_size, run_teacher

    if variants < 1:
        raise ConfigError(f"--variants must be >= 1, got {variants}")
    if not augment and variants != 1:
        raise ConfigError(f"without augmentation every variant is the same image: pass --variants 1 (got {variants})")
    if channels is None:
        channels = default_cache_channels(model)
    if channels not in (1, 2):
        raise ConfigError(f"--channels must be 1 (crack margin) or 2 (both logits), got {channels}")
    data = CrackDataset.open(data_root)
    size = input_size(model)
    if stored_size is not None and not 1 <= stored_size <= size:
        raise ConfigError(f"--stored-size must be between 1 and the teacher's input size {size}, got {stored_size}")
    ds = CrackSegDataset(data, split, (size, size), augment=augment, seed=seed, variants=variants if augment else None)
    loader = DataLoader(_Views(ds, variants), batch_size=batch_size, shuffle=False, num_workers=workers)
    meta = {
        "teacher": teacher_name(model),
        "checkpoint": Path(checkpoint).name,
        "checkpoint_sha256": sha256_file(Path(checkpoint)),
        "dataset": str(Path(data_root).resolve()),
        "split": split,
        "size": [size, size],
        "seed": seed,
        "variants": variants,
        "augment": augment,
        "augment_config": asdict(AugmentConfig()),
        "noise": "clean",
    }
    writer = None
    for batch in tqdm(loader, desc=f"cache-logits {split}", disable=not progress, unit="batch"):
        out = run_teacher(model, batch["image"], device, amp)
        logits = out.get("logits_low", out["logits"])
        if channels == 1:
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
    log.info("cached %d x %d teacher logits (%s) in %s", len(ds), variants, meta["teacher"], path)
    return path
