"""Unlabeled images, for distillation from unlabeled frames: `list_unlabeled_images(paths)`.

Each path is an image file or a folder, searched recursively:

- a canonical dataset, or an unlabeled set made by `crackedge prepare --format images`: only its
  `images/` folder is read (masks are never images to learn from);
- an `edge run` output folder (`runs/<time>/` holding `run.json` or `NNNNNNNN.json` sidecars):
  only the raw frames `NNNNNNNN_raw.jpg`. The annotated `NNNNNNNN.jpg` beside them carry the drawn
  mask, contours and caption, so a student would learn the overlay; they are never returned. Raw
  frames exist only when the daemon ran with `save: {save_raw: true}`;
- any other folder tree of images. Mask-like content is left out: folders named masks, mask,
  labels, label, gt, groundtruth, annotations (or ending in _lab, _mask, _gt, _label) and files
  NAME_mask.* / NAME_label.* / NAME_gt.* / NAME_lab.* lying beside NAME.*.

Hidden files and folders (a leading dot) are skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from crackedge.data.layout import IMAGE_EXTS, INFO_NAME
from crackedge.errors import DataError

MASK_DIR_NAMES = {"masks", "mask", "labels", "label", "gt", "groundtruth", "annotations", "annotation"}
MASK_DIR_ENDINGS = ("_lab", "_mask", "_masks", "_gt", "_label", "_labels")
MASK_FILE_SUFFIXES = ("_mask", "_label", "_gt", "_lab")
EDGE_SIDECAR = re.compile(r"^\d{8}\.json$")
RAW_SUFFIX = "_raw"


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS and not path.name.startswith(".")


def is_mask_dir(name: str) -> bool:
    low = name.lower()
    return low in MASK_DIR_NAMES or low.endswith(MASK_DIR_ENDINGS)


def is_edge_run_dir(folder: Path, names: Sequence[str] | None = None) -> bool:
    """True for an `edge run` output folder (run.json or NNNNNNNN.json sidecars)."""
    names = os.listdir(folder) if names is None else names
    return "run.json" in names or any(EDGE_SIDECAR.match(n) for n in names)


def dataset_images_dir(folder: Path) -> Path | None:
    """`folder/images` when `folder` is a canonical dataset or an unlabeled set, else None."""
    if (folder / "images").is_dir() and ((folder / "masks").is_dir() or (folder / INFO_NAME).is_file()):
        return folder / "images"
    return None


def _images_in_tree(root: Path) -> tuple[list[Path], int]:
    """(images under `root` by the rules above, number of annotated edge frames left out)."""
    found: list[Path] = []
    annotated = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not is_mask_dir(d))
        folder = Path(dirpath)
        images = [f for f in sorted(filenames) if is_image_file(Path(f))]
        if is_edge_run_dir(folder, filenames):
            raw = [f for f in images if Path(f).stem.endswith(RAW_SUFFIX)]
            annotated += len(images) - len(raw)
            found += [folder / f for f in raw]
            continue
        stems = {Path(f).stem for f in images}
        for f in images:
            stem = Path(f).stem
            if any(stem.endswith(s) and stem[: -len(s)] in stems for s in MASK_FILE_SUFFIXES):
                continue  # NAME_mask.png beside NAME.jpg
            found.append(folder / f)
    return found, annotated


def images_under(path: Path) -> list[Path]:
    """The unlabeled images one path stands for (see the module docstring); DataError when none."""
    path = Path(path)
    if path.is_file():
        if not is_image_file(path):
            raise DataError(f"{path} is not an image file (known: {', '.join(IMAGE_EXTS)})")
        return [path]
    if not path.is_dir():
        raise DataError(f"image folder or file not found: {path}")
    root = dataset_images_dir(path) or path
    found, annotated = _images_in_tree(root)
    if not found:
        if annotated:
            raise DataError(
                f"{path} holds only annotated edge frames ({annotated} NNNNNNNN.jpg with the mask drawn on them), no raw "
                "frames NNNNNNNN_raw.jpg; run `edge run` with `save: {save_raw: true}` in its config to keep raw frames")
        raise DataError(
            f"{path} holds no image ({', '.join(IMAGE_EXTS)}) outside mask folders; pass a folder of images, an "
            "`edge run` output folder or a dataset")
    return found


def list_unlabeled_images(paths: Sequence[str | Path]) -> list[Path]:
    """Every unlabeled image the paths stand for: sorted, absolute, each once.

    DataError naming the path when a path is missing, is not an image, or is a folder without one.
    """
    if not paths:
        raise DataError("no image folder given; pass at least one folder of images or `edge run` output folder")
    seen: set[Path] = set()
    for p in paths:
        seen.update(f.resolve() for f in images_under(Path(p)))
    return sorted(seen)
