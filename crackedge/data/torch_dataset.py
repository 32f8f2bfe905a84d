"""The torch Datasets over a canonical crack dataset (with `pseudo_labeled`, the torch imports of crackedge.data).

Augmentation is deterministic per (seed, index, variant): see `crackedge.data.augment`.
- `augment=False`: every item is the image resized to `size` (variant 0).
- `augment=True, variants=None`: each epoch draws a fresh variant per item
  (variant = epoch, so epoch e of any run sees the same pixels).
- `augment=True, variants=K`: epoch e uses variant e % K for every item; K views per image is what
  `teacher cache-logits` stores, so distillation can read the teacher's logits back.
- `photometric=P`: each item of each epoch is, with probability P, noised in colour and sharpness
  (`crackedge.data.photometric`) after `load`: the training input only; its mask and the cached
  teacher logits (which `load` serves) are those of the clean view.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from crackedge.data.augment import IDENTITY, AugmentConfig, apply_params, params_for
from crackedge.data.layout import CrackDataset
from crackedge.data.normalization import IMAGENET_MEAN, IMAGENET_STD
from crackedge.data.photometric import apply_photometric, photometric_params
from crackedge.noise import apply_noise


def image_to_tensor(image: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """HxWx3 uint8 RGB -> 3xHxW float32, (x - mean) / std."""
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (t - m) / s


def tensor_to_image(t: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """Inverse of image_to_tensor: 3xHxW normalised -> HxWx3 uint8 RGB."""
    m = torch.tensor(mean, dtype=t.dtype, device=t.device).view(3, 1, 1)
    s = torch.tensor(std, dtype=t.dtype, device=t.device).view(3, 1, 1)
    return (t * s + m).clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()


class CrackSegDataset(Dataset):
    """Items: {"image": float32 3xHxW normalised, "mask": int64 HxW {0,1}, "name": str,
    "index": int, "variant": int} at size=(H, W)."""

    def __init__(
        self,
        root: str | Path | CrackDataset,
        split: str | None,
        size: tuple[int, int] = (448, 448),
        augment: bool = False,
        seed: int = 0,
        variants: int | None = None,
        noise: str = "clean",
        augment_cfg: AugmentConfig = AugmentConfig(),
        photometric: float = 0.0,
    ):
        self.data = root if isinstance(root, CrackDataset) else CrackDataset.open(root)
        self.split = split
        self.names = self.data.names(split)
        self.size = (int(size[0]), int(size[1]))
        self.augment = augment
        self.seed = seed
        if variants is not None and variants < 1:
            raise ValueError(f"variants must be >= 1, got {variants}")
        self.variants = variants
        self.noise = noise
        self.augment_cfg = augment_cfg
        if not 0.0 <= photometric <= 1.0:
            raise ValueError(f"photometric must lie in [0, 1], got {photometric}")
        self.photometric = photometric
        # with photometric noise, also hand out the clean view as "image_clean" (for a teacher run live on
        # the batch; a logit cache already holds the clean views' logits, so off by default)
        self.keep_clean = False
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation variant of this epoch (call before iterating)."""
        self.epoch = int(epoch)

    def variant_for_epoch(self, epoch: int | None = None) -> int:
        e = self.epoch if epoch is None else epoch
        if not self.augment:
            return 0
        return e % self.variants if self.variants else e

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int, variant: int) -> tuple[np.ndarray, np.ndarray]:
        """The augmented (image HxWx3 uint8, mask HxW uint8) of item `index`, view `variant`."""
        image, mask = self.data.read(self.names[index])
        square = self.size[0] == self.size[1]
        params = params_for(self.seed, index, variant, self.augment_cfg, square) if self.augment else IDENTITY
        image, mask = apply_params(image, mask, params, self.size)
        if self.noise != "clean":
            image = apply_noise(image, self.noise)
        return image, mask

    def __getitem__(self, index: int) -> dict:
        variant = self.variant_for_epoch()
        image, mask = self.load(index, variant)
        extra = {}
        if self.photometric > 0:
            if self.keep_clean:
                extra["image_clean"] = image_to_tensor(image)  # what a teacher run live sees (the noise is the student's)
            params = photometric_params(self.seed, index, self.epoch, self.photometric)
            image = apply_photometric(image, params, noise_key=(self.seed, index, self.epoch))
        return {
            "image": image_to_tensor(image),
            "mask": torch.from_numpy(mask.astype(np.int64)),
            "name": self.names[index],
            "index": index,
            "variant": variant,
            **extra,
        }


class MixedSegDataset(CrackSegDataset):
    """A split whose masks may be partly hidden, plus unlabeled images from anywhere.

    Items 0..len(split)-1 are the split's names (in order); the rest are `unlabeled` image files
    (named by their resolved path). Every item has the fields of CrackSegDataset plus "labeled"
    (bool): False for unlabeled files and for split items outside `labeled` (their mask is zeros
    and must not be used). Augmentation is the same deterministic (seed, index, variant) scheme, so
    a logit cache can hold every item.
    """

    def __init__(self, root: str | Path | CrackDataset, split: str, size: tuple[int, int] = (448, 448),
                 augment: bool = False, seed: int = 0, variants: int | None = None,
                 unlabeled: tuple[Path, ...] | list[Path] = (), labeled: set[str] | None = None,
                 photometric: float = 0.0) -> None:
        super().__init__(root, split, size, augment=augment, seed=seed, variants=variants, photometric=photometric)
        self.n_split = len(self.names)
        self.unlabeled_paths = [Path(p).resolve() for p in unlabeled]
        self.labeled = set(self.names) if labeled is None else set(labeled)
        self.names = self.names + [str(p) for p in self.unlabeled_paths]

    def is_labeled(self, index: int) -> bool:
        return index < self.n_split and self.names[index] in self.labeled

    def labeled_indices(self) -> list[int]:
        return [i for i in range(len(self.names)) if self.is_labeled(i)]

    def unlabeled_indices(self) -> list[int]:
        return [i for i in range(len(self.names)) if not self.is_labeled(i)]

    def load(self, index: int, variant: int) -> tuple[np.ndarray, np.ndarray]:
        if index < self.n_split:
            return super().load(index, variant)
        from crackedge.fileio import read_image_rgb

        image = read_image_rgb(self.unlabeled_paths[index - self.n_split])
        square = self.size[0] == self.size[1]
        params = params_for(self.seed, index, variant, self.augment_cfg, square) if self.augment else IDENTITY
        return apply_params(image, np.zeros(image.shape[:2], np.uint8), params, self.size)

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        labeled = self.is_labeled(index)
        if not labeled:
            item["mask"] = torch.zeros_like(item["mask"])
        item["labeled"] = labeled
        return item
