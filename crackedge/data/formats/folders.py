"""Helpers to pair images with masks by file stem across two folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crackedge.data.layout import IMAGE_EXTS, binarize_mask
from crackedge.data.writer import DatasetWriter
from crackedge.errors import DataError
from crackedge.fileio import read_mask_gray

MASK_SUFFIXES = ("", "_mask", "_label", "_gt", "_lab")


def list_images(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")}


def find_mask(mask_index: dict[str, Path], stem: str) -> Path | None:
    for suf in MASK_SUFFIXES:
        if stem + suf in mask_index:
            return mask_index[stem + suf]
    return None


def read_binary_mask(path: Path, threshold: int) -> tuple[np.ndarray, str]:
    """Mask file -> ({0,1} mask, note). JPEG masks are thresholded; binary PNGs pass through."""
    gray = read_mask_gray(path)
    values = np.unique(gray)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        note = f"JPEG mask thresholded at {threshold}"
    elif set(values.tolist()) <= {0, 1}:
        return gray.astype(np.uint8), "0/1 mask"
    elif set(values.tolist()) <= {0, 255}:
        note = "0/255 mask"
    else:
        note = f"grey mask with {len(values)} levels thresholded at {threshold}"
    return binarize_mask(gray, threshold), note


def convert_pairs(img_dir: Path, mask_dir: Path, writer: DatasetWriter, split_of, threshold: int, prefix: str = "") -> dict[str, int]:
    """Pair images/masks by stem, add them via `writer`; returns counts of mask notes."""
    if not img_dir.is_dir():
        raise DataError(f"image folder not found: {img_dir}")
    if not mask_dir.is_dir():
        raise DataError(f"mask folder not found: {mask_dir}")
    images, masks = list_images(img_dir), list_images(mask_dir)
    notes: dict[str, int] = {}
    used_masks: set[Path] = set()
    for stem, img in images.items():
        mpath = find_mask(masks, stem)
        if mpath is None:
            writer.skip(str(img), f"no mask for it in {mask_dir} (looked for {stem}{{{','.join(MASK_SUFFIXES)}}}.*)")
            continue
        used_masks.add(mpath)
        try:
            mask, note = read_binary_mask(mpath, threshold)
        except DataError as err:
            writer.skip(str(mpath), str(err))
            continue
        notes[note] = notes.get(note, 0) + 1
        writer.add_file(prefix + stem, img, mask, split_of(stem))
    for mpath in sorted(set(masks.values()) - used_masks):
        writer.skip(str(mpath), f"mask has no image in {img_dir}")
    return notes
