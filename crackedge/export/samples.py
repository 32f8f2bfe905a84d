"""Images for calibration and parity checks: a canonical dataset, a plain image folder, or synthetic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from crackedge.errors import DataError
from crackedge.evaluation.reports import spread

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class Sample:
    """One image (RGB uint8 H x W x 3) with its mask (uint8 H x W in {0, 1}) when known."""

    name: str
    image: np.ndarray
    mask: Optional[np.ndarray] = None


def is_canonical_dataset(path: Path) -> bool:
    """True for a folder in the canonical layout (images/ beside masks/, splits/); crackedge.data.layout."""
    return (Path(path) / "images").is_dir()


def load_samples(data_dir: Path, n: int, split: Optional[str] = None) -> list[Sample]:
    """Up to n samples spread over a canonical dataset's split (with masks) or over a folder of images.

    Raises DataError naming the folder when it is missing, empty or the split does not exist.
    """
    from crackedge.fileio import read_image_rgb

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"image folder not found: {data_dir} (pass a canonical dataset or a folder of images)")
    if is_canonical_dataset(data_dir):
        from crackedge.data.layout import CrackDataset

        ds = CrackDataset.open(data_dir)
        if split is not None and split not in ds.splits:
            raise DataError(f"{data_dir}: no split {split!r}; it has {ds.splits}")
        names = spread(ds.names(split), n)
        samples = [Sample(name, *ds.read(name)) for name in names]
    else:
        if split is not None:
            raise DataError(f"{data_dir} is a plain image folder (no splits/); drop --split or pass a canonical dataset")
        files = sorted(p for p in data_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        samples = [Sample(p.stem, read_image_rgb(p)) for p in spread(files, n)]
    if not samples:
        raise DataError(f"{data_dir}: no images found (expected {', '.join(IMAGE_SUFFIXES)} files or a canonical dataset)")
    return samples


def synthetic_samples(n: int, size: tuple[int, int], seed: int = 0) -> list[Sample]:
    """n synthetic crack images with exact masks from crackedge.synth (seeds seed .. seed+n-1)."""
    from crackedge.synth import generate_sample

    return [Sample(f"synth-{seed + i:04d}", *generate_sample(seed + i, size=size)) for i in range(n)]
