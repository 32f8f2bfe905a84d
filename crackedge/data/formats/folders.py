"""Helpers to find images, masks and split folders under the names published sets use.

- image folders: images, image, img, imgs; mask folders: masks, mask, labels, label, gt,
  groundtruth, annotations (any case);
- split folders: train/training/traincrop, val/valid/validation/valcrop, test/testing/testcrop;
- a mask pairs with an image by stem: the same stem, or the stem + _mask, _label, _gt, _lab, in
  any image format (NAME.jpg with masks/NAME.png, NAME_mask.png, NAME_gt.bmp ...).

Nothing is dropped silently: files that are not images, two images with one stem, masks without
an image and folders nobody reads are reported through `DatasetWriter.skip`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from crackedge.data.layout import IMAGE_EXTS, SPLITS
from crackedge.data.writer import DatasetWriter
from crackedge.errors import DataError

MASK_SUFFIXES = ("", "_mask", "_label", "_gt", "_lab")
IMAGE_DIRS = ("images", "image", "img", "imgs")
MASK_DIRS = ("masks", "mask", "labels", "label", "gt", "groundtruth", "annotations")
SPLIT_ALIASES = {
    "train": "train", "training": "train", "traincrop": "train",
    "val": "val", "valid": "val", "validation": "val", "valcrop": "val",
    "test": "test", "testing": "test", "testcrop": "test",
}
IGNORED_FILES = {"thumbs.db", "desktop.ini"}


@dataclass
class FolderScan:
    """The images of one folder by stem, and what could not be used."""

    images: dict[str, Path] = field(default_factory=dict)
    problems: list[tuple[Path, str]] = field(default_factory=list)


def scan_folder(folder: Path) -> FolderScan:
    """Images directly in `folder` by stem; non-images, sub-folders and second images of a stem as problems."""
    scan = FolderScan()
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.name.lower() in IGNORED_FILES:
            continue
        if p.is_dir():
            scan.problems.append((p, f"a folder inside {folder} is not read"))
        elif p.suffix.lower() not in IMAGE_EXTS:
            scan.problems.append((p, f"not an image file (known: {', '.join(IMAGE_EXTS)})"))
        elif p.stem in scan.images:
            scan.problems.append((p, f"another file has the same name stem: {scan.images[p.stem].name}; rename one"))
        else:
            scan.images[p.stem] = p
    return scan


def list_images(folder: Path) -> dict[str, Path]:
    """Images directly in `folder` by stem (see `scan_folder` for what is left out)."""
    return scan_folder(folder).images


def find_child(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The first sub-folder of `folder` whose lower-case name is in `names` (in that order)."""
    children = {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_dir()} if folder.is_dir() else {}
    for n in names:
        if n in children:
            return children[n]
    return None


def image_mask_dirs(folder: Path) -> tuple[Path, Path] | None:
    """(image folder, mask folder) inside `folder`, or None."""
    img, mask = find_child(folder, IMAGE_DIRS), find_child(folder, MASK_DIRS)
    return (img, mask) if img is not None and mask is not None else None


def split_dirs(folder: Path) -> dict[str, Path]:
    """Split name (train/val/test) -> its sub-folder of `folder`, by the aliases above."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for p in sorted(folder.iterdir()):
        split = SPLIT_ALIASES.get(p.name.lower())
        if p.is_dir() and split is not None:
            if split in found:
                raise DataError(f"{folder} has two folders for split {split!r}: {found[split].name} and {p.name}; keep one")
            found[split] = p
    return {s: found[s] for s in SPLITS if s in found}


def report_unused(folder: Path, used: set[Path], writer: DatasetWriter, what: str) -> None:
    """Skip-report every sub-folder of `folder` not in `used` (a silently ignored folder hides data)."""
    for p in sorted(folder.iterdir()):
        if p.is_dir() and not p.name.startswith(".") and p not in used:
            writer.skip(str(p), f"folder not read: not {what}")


def find_mask(mask_index: dict[str, Path], stem: str) -> Path | None:
    for suf in MASK_SUFFIXES:
        if stem + suf in mask_index:
            return mask_index[stem + suf]
    return None


def convert_pairs(img_dir: Path, mask_dir: Path, writer: DatasetWriter, split_of: Callable[[str], str], prefix: str = "") -> dict[str, int]:
    """Pair images/masks by stem (suffixes above), add them via `writer`; returns counts of mask notes."""
    if not img_dir.is_dir():
        raise DataError(f"image folder not found: {img_dir}")
    if not mask_dir.is_dir():
        raise DataError(f"mask folder not found: {mask_dir}")
    img_scan, mask_scan = scan_folder(img_dir), scan_folder(mask_dir)
    for p, reason in img_scan.problems + mask_scan.problems:
        writer.skip(str(p), reason)
    return _add_pairs(img_scan.images, mask_scan.images, writer, split_of, prefix, f"in {mask_dir}")


def convert_side_by_side(folder: Path, writer: DatasetWriter, split_of: Callable[[str], str], prefix: str = "") -> dict[str, int]:
    """Images and masks in one folder: NAME.jpg + NAME_mask.png (_label, _gt, _lab), or NAME.jpg +
    NAME.png (the PNG is the mask; CRACK500 as published)."""
    images, masks = side_by_side(folder, writer)
    return _add_pairs(images, masks, writer, split_of, prefix, "beside it")


def side_by_side(folder: Path, writer: DatasetWriter | None = None) -> tuple[dict[str, Path], dict[str, Path]]:
    """(images by stem, masks by stem) of a folder holding both; problems go to `writer.skip`."""
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    files: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.name.lower() in IGNORED_FILES:
            continue
        if p.is_dir() or p.suffix.lower() not in IMAGE_EXTS:
            if writer is not None:
                writer.skip(str(p), "a folder inside a folder of pairs is not read" if p.is_dir()
                            else f"not an image file (known: {', '.join(IMAGE_EXTS)})")
            continue
        files.setdefault(p.stem, []).append(p)
    for stem, paths in files.items():
        if any(stem.endswith(s) and stem[: -len(s)] in files for s in MASK_SUFFIXES[1:]):
            target = masks
        elif len(paths) == 2 and {p.suffix.lower() for p in paths} & {".png"} and any(
                p.suffix.lower() in (".jpg", ".jpeg") for p in paths):
            images[stem] = next(p for p in paths if p.suffix.lower() in (".jpg", ".jpeg"))
            masks[stem] = next(p for p in paths if p.suffix.lower() == ".png")
            continue
        else:
            target = images
        target[stem] = paths[0]
        for extra in paths[1:]:
            if writer is not None:
                writer.skip(str(extra), f"another file has the same name stem: {paths[0].name}; rename one")
    return images, masks


def _add_pairs(images: dict[str, Path], masks: dict[str, Path], writer: DatasetWriter, split_of: Callable[[str], str],
               prefix: str, where: str) -> dict[str, int]:
    notes: dict[str, int] = {}
    used_masks: set[Path] = set()
    for stem, img in images.items():
        mpath = find_mask(masks, stem)
        if mpath is None:
            writer.skip(str(img), f"no mask for it {where} (looked for {stem}{{{','.join(MASK_SUFFIXES)}}}.*)")
            continue
        used_masks.add(mpath)
        note = writer.add_grey_mask(prefix + stem, img, mpath, split_of(stem))
        if note is not None:
            notes[note] = notes.get(note, 0) + 1
    for mpath in sorted(set(masks.values()) - used_masks):
        writer.skip(str(mpath), f"mask has no image (looked for the image of {mpath.name})")
    return notes
