"""The canonical dataset layout every crackedge tool reads.

    DATASET/
      images/NAME.jpg|png   RGB, any size
      masks/NAME.png        uint8, 0 = background, 255 = crack, the image's size
      splits/train.txt      one NAME per line (also val.txt, test.txt; any may be absent)
      dataset.yaml          provenance: source, format, conventions applied, counts, skipped items

In memory an image is RGB uint8 HxWx3 and a mask uint8 HxW in {0, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from crackedge.errors import DataError
from crackedge.fileio import read_image_rgb, read_mask_gray

SPLITS = ("train", "val", "test")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
INFO_NAME = "dataset.yaml"
MASK_THRESHOLD = 127  # masks are stored 0/255; anything above this is crack


def binarize_mask(gray: np.ndarray, threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """HxW grey mask (any uint8 values) -> HxW uint8 {0, 1} with crack = gray > threshold."""
    return (gray > threshold).astype(np.uint8)


def _index_images(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."):
            if p.stem in out:
                raise DataError(f"two images share the name {p.stem!r} in {folder}: {out[p.stem].name} and {p.name}")
            out[p.stem] = p
    return out


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


@dataclass
class CrackDataset:
    """A dataset in the canonical layout. Open with `CrackDataset.open(root)`."""

    root: Path
    images: dict[str, Path]
    split_names: dict[str, list[str]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, root: str | Path) -> "CrackDataset":
        """Index a canonical dataset; DataError naming what is wrong and how to fix it."""
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"dataset folder not found: {root}")
        img_dir, mask_dir = root / "images", root / "masks"
        if img_dir.is_dir() and not mask_dir.is_dir() and "labels: none" in _read_text(root / INFO_NAME):
            raise DataError(
                f"{root} is an unlabeled image set (made by `crackedge prepare --format images`): it has no masks, so it "
                "can feed distillation from unlabeled images (crackedge.data.unlabeled) but not training or evaluation"
            )
        if not img_dir.is_dir() or not mask_dir.is_dir():
            raise DataError(
                f"{root} is not a crackedge dataset (needs images/ and masks/ folders); convert a published "
                f"layout with `crackedge prepare --format FORMAT {root} OUT` or generate one with `crackedge synth`"
            )
        images = _index_images(img_dir)
        if not images:
            raise DataError(f"{img_dir} contains no images ({', '.join(IMAGE_EXTS)})")
        missing = [n for n in images if not (mask_dir / f"{n}.png").is_file()]
        if missing:
            raise DataError(
                f"{len(missing)} image(s) in {img_dir} have no mask masks/NAME.png, e.g. {', '.join(missing[:5])}"
            )
        splits: dict[str, list[str]] = {}
        split_dir = root / "splits"
        if split_dir.is_dir():
            order = {name: i for i, name in enumerate(SPLITS)}
            for f in sorted(split_dir.glob("*.txt"), key=lambda f: (order.get(f.stem, len(order)), f.stem)):
                names = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
                unknown = [n for n in names if n not in images]
                if unknown:
                    raise DataError(f"{f} lists {len(unknown)} name(s) with no image, e.g. {', '.join(unknown[:5])}")
                splits[f.stem] = names
        info: dict[str, Any] = {}
        if (root / INFO_NAME).is_file():
            info = yaml.safe_load((root / INFO_NAME).read_text(encoding="utf-8")) or {}
        return cls(root=root, images=images, split_names=splits, info=info)

    @property
    def splits(self) -> list[str]:
        return list(self.split_names)

    def names(self, split: str | None = None) -> list[str]:
        """Names in `split`, or every image when split is None."""
        if split is None:
            return list(self.images)
        if split not in self.split_names:
            avail = ", ".join(self.split_names) or "none (no splits/ folder)"
            raise DataError(f"dataset {self.root} has no split {split!r}; available splits: {avail}")
        return list(self.split_names[split])

    def image_path(self, name: str) -> Path:
        try:
            return self.images[name]
        except KeyError:
            raise DataError(f"dataset {self.root} has no image named {name!r}") from None

    def mask_path(self, name: str) -> Path:
        self.image_path(name)
        return self.root / "masks" / f"{name}.png"

    def read_image(self, name: str) -> np.ndarray:
        """HxWx3 uint8 RGB."""
        return read_image_rgb(self.image_path(name))

    def read_mask(self, name: str) -> np.ndarray:
        """HxW uint8 in {0, 1}."""
        return binarize_mask(read_mask_gray(self.mask_path(name)))

    def read(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(image HxWx3 uint8 RGB, mask HxW uint8 {0,1}); DataError when their sizes differ."""
        image, mask = self.read_image(name), self.read_mask(name)
        if image.shape[:2] != mask.shape:
            raise DataError(
                f"{self.mask_path(name)}: mask size {mask.shape[1]}x{mask.shape[0]} differs from image size "
                f"{image.shape[1]}x{image.shape[0]} ({self.image_path(name)})"
            )
        return image, mask

    def __len__(self) -> int:
        return len(self.images)
