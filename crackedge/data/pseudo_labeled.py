"""A training split whose unlabeled items take their masks from a teacher-logit cache: self-training.

`teacher train --labeled-fraction F --pseudo-labels CACHE` trains a new teacher on the share F of
the split that keeps its masks plus every other item with the cached teacher's mask for the same
augmented view (Noisy Student's iteration, Xie et al. 2020: the new model, trained with noise, can
end above the one that labelled for it). The cache must hold this split, data seed and views
(`teacher cache-logits --data D --split S --seed K --variants V`); it may be stored at another
resolution of the same aspect ratio (masks are resized, nearest).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from crackedge.data.layout import CrackDataset
from crackedge.data.logit_cache import CacheError, LogitCache
from crackedge.data.torch_dataset import MixedSegDataset


def cached_mask(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The teacher's mask of one cached view: logits C x h x w (C = 1: the crack margin, > 0 is crack;
    C >= 2: argmax, class 1 is crack) -> uint8 H x W {0, 1} at size=(H, W) (nearest)."""
    logits = np.asarray(logits, dtype=np.float32)
    mask = (logits[0] > 0) if logits.shape[0] == 1 else (logits.argmax(axis=0) == 1)
    mask = mask.astype(np.uint8)
    if mask.shape != tuple(size):
        mask = cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return mask


class PseudoLabeledDataset(MixedSegDataset):
    """MixedSegDataset whose unlabeled split items carry the cached teacher's mask.

    Items: those of MixedSegDataset ("image" float32 3 x H x W, "mask" int64 H x W, "labeled"), plus
    "pseudo" (bool): True where "mask" is the teacher's. Views cycle through the cache's variants.
    """

    def __init__(self, root: str | Path | CrackDataset, split: str, size: tuple[int, int], cache: LogitCache,
                 seed: int = 0, labeled: set[str] | None = None, augment: bool = True, photometric: float = 0.0):
        if bool(cache.meta.get("augment", True)) != augment:
            made = "augmented views" if cache.meta.get("augment", True) else "unaugmented images"
            raise CacheError(f"the pseudo-label cache {cache.root} holds {made}, this run "
                             f"{'augments' if augment else 'does not augment'}: make the cache with the run's "
                             "augmentation (`teacher cache-logits`, --no-augment for none) or change the run's")
        variants = int(cache.meta.get("variants", 1)) if augment else None
        super().__init__(root, split, size, augment=augment, seed=seed, variants=variants, labeled=labeled,
                         photometric=photometric)
        # the split's items come first in a cache; images it holds beyond them are not used here
        cache.check_matches(self.names, size, seed, variants)
        self.cache = cache

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        item["pseudo"] = not item["labeled"]
        if item["pseudo"]:
            mask = cached_mask(self.cache.get(index, item["variant"]), self.size)
            item["mask"] = torch.from_numpy(mask.astype(np.int64))
        return item
