"""Writes a canonical dataset and its provenance file; every skipped item is recorded with its reason."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from crackedge.data.layout import INFO_NAME, CrackDataset
from crackedge.errors import DataError
from crackedge.fileio import atomic_write_text, read_image_rgb, write_image_atomic

log = logging.getLogger(__name__)


@dataclass
class Skipped:
    item: str
    reason: str


@dataclass
class DatasetWriter:
    """Collects image/mask pairs into OUT in the canonical layout.

    `add_file` copies the source image bytes unchanged (no JPEG re-encoding) after checking that the
    image decodes and matches the mask size; problems become a recorded skip (or a DataError when
    `strict`), never a silent drop.
    """

    out: Path
    strict: bool = False
    splits: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if (self.out / "images").exists() and any((self.out / "images").iterdir()):
            raise DataError(f"output folder {self.out} already holds a dataset; choose an empty folder or delete it")
        (self.out / "images").mkdir(parents=True, exist_ok=True)
        (self.out / "masks").mkdir(parents=True, exist_ok=True)
        self._names: set[str] = set()

    def skip(self, item: str, reason: str) -> None:
        if self.strict:
            raise DataError(f"{item}: {reason} (run without --strict to skip such items and report them)")
        log.warning("skipping %s: %s", item, reason)
        self.skipped.append(Skipped(item, reason))

    def _check_name(self, name: str) -> None:
        if name in self._names:
            raise DataError(f"two source items map to the same name {name!r}; rename one of them")
        self._names.add(name)

    def add_file(self, name: str, image_src: Path, mask01: np.ndarray, split: str) -> bool:
        """Copy `image_src` as images/NAME.ext and write mask01 (HxW {0,1}) as masks/NAME.png."""
        try:
            image = read_image_rgb(image_src)
        except DataError as err:
            self.skip(str(image_src), str(err))
            return False
        if image.shape[:2] != mask01.shape:
            self.skip(
                str(image_src),
                f"mask size {mask01.shape[1]}x{mask01.shape[0]} differs from image size {image.shape[1]}x{image.shape[0]}",
            )
            return False
        self._check_name(name)
        ext = image_src.suffix.lower() if image_src.suffix.lower() in (".jpg", ".jpeg", ".png") else ".png"
        if ext == image_src.suffix.lower():
            shutil.copyfile(image_src, self.out / "images" / f"{name}{ext}")
        else:
            write_image_atomic(self.out / "images" / f"{name}{ext}", image)
        self._write_mask(name, mask01)
        self.splits.setdefault(split, []).append(name)
        return True

    def add_array(self, name: str, image: np.ndarray, mask01: np.ndarray, split: str, ext: str = ".png") -> None:
        """Write an in-memory RGB image (HxWx3 uint8) and mask (HxW {0,1})."""
        if image.shape[:2] != mask01.shape:
            raise DataError(f"{name}: mask shape {mask01.shape} differs from image shape {image.shape[:2]}")
        self._check_name(name)
        write_image_atomic(self.out / "images" / f"{name}{ext}", image, jpeg_quality=95)
        self._write_mask(name, mask01)
        self.splits.setdefault(split, []).append(name)

    def _write_mask(self, name: str, mask01: np.ndarray) -> None:
        ok = cv2.imwrite(str(self.out / "masks" / f"{name}.png"), (mask01 > 0).astype(np.uint8) * 255)
        if not ok:
            raise DataError(f"could not write {self.out / 'masks' / f'{name}.png'} (disk full or no permission?)")

    def finish(self, info: dict[str, Any]) -> CrackDataset:
        """Write split lists and dataset.yaml; return the opened dataset."""
        n_total = sum(len(v) for v in self.splits.values())
        if n_total == 0:
            reasons = "; ".join(f"{s.item}: {s.reason}" for s in self.skipped[:3])
            raise DataError(f"no usable image/mask pairs were found (skipped {len(self.skipped)}: {reasons})")
        (self.out / "splits").mkdir(exist_ok=True)
        for split, names in self.splits.items():
            atomic_write_text(self.out / "splits" / f"{split}.txt", "\n".join(names) + "\n")
        full = dict(info)
        full["counts"] = {k: len(v) for k, v in self.splits.items()}
        full["skipped"] = [{"item": s.item, "reason": s.reason} for s in self.skipped]
        if self.notes:
            full["notes"] = list(self.notes)
        atomic_write_text(self.out / INFO_NAME, yaml.safe_dump(full, sort_keys=False))
        return CrackDataset.open(self.out)


def split_by_ratio(names: list[str], ratios: tuple[float, float, float], seed: int) -> dict[str, list[str]]:
    """Deterministic train/val/test split of sorted `names` (a seeded shuffle)."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise DataError(f"split ratios must be three non-negative numbers (train,val,test), got {ratios}")
    total = sum(ratios)
    order = np.random.default_rng(seed).permutation(len(names))
    shuffled = [sorted(names)[i] for i in order]
    n_train = round(len(names) * ratios[0] / total)
    n_val = round(len(names) * ratios[1] / total)
    parts = {
        "train": shuffled[:n_train],
        "val": shuffled[n_train : n_train + n_val],
        "test": shuffled[n_train + n_val :],
    }
    return {k: sorted(v) for k, v in parts.items() if v}
