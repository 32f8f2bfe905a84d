"""A folder of image/mask pairs (a user's own data, and most small published sets).

    SRC/images/ + SRC/masks/               paired by stem (also image|img / mask|labels|gt|...)
    SRC/images/{train,val,test}/ + SRC/masks/{train,val,test}/   the same, with the publisher's split
    SRC/NAME.jpg + SRC/NAME_mask.png       one folder (also _label, _gt, _lab, any image format)
    SRC/NAME.jpg + SRC/NAME.png            one folder: the PNG is the mask

A mask is found as NAME.*, NAME_mask.*, NAME_label.*, NAME_gt.* or NAME_lab.*. Without split
folders a seeded split by `PrepareOptions.ratios` is generated (`--split-ratios 0,0,1` puts every
pair in test, e.g. to evaluate on it).
"""

from __future__ import annotations

from pathlib import Path

from crackedge.data.formats.folders import (
    convert_pairs, convert_side_by_side, image_mask_dirs, list_images, report_unused, side_by_side,
    split_dirs,
)
from crackedge.data.formats.options import PrepareOptions
from crackedge.data.writer import DatasetWriter, split_by_ratio


def detect(src: Path) -> bool:
    if image_mask_dirs(src) is not None:
        return True
    if not src.is_dir():
        return False
    _, masks = side_by_side(src)
    return bool(masks)


def convert(src: Path, writer: DatasetWriter, opts: PrepareOptions) -> dict:
    dirs = image_mask_dirs(src)
    if dirs is not None:
        img_dir, mask_dir = dirs
        report_unused(src, {img_dir, mask_dir}, writer, "the image or mask folder")
        img_splits, mask_splits = split_dirs(img_dir), split_dirs(mask_dir)
        if img_splits:
            notes: dict[str, int] = {}
            for split, folder in img_splits.items():
                mfolder = mask_splits.get(split, mask_dir / folder.name)
                for k, v in convert_pairs(folder, mfolder, writer, lambda _n, s=split: s).items():
                    notes[k] = notes.get(k, 0) + v
            report_unused(img_dir, set(img_splits.values()), writer, "a split folder (train, val, test)")
            report_unused(mask_dir, set(mask_splits.values()), writer, "a split folder (train, val, test)")
            return _info(notes, {"kind": "publisher", "splits": list(img_splits)}, f"{img_dir.name}/ + {mask_dir.name}/ with split folders")
        split_of = _generated_split(list(list_images(img_dir)), opts)
        notes = convert_pairs(img_dir, mask_dir, writer, lambda n: split_of.get(n, "train"))
        layout = f"{img_dir.name}/ + {mask_dir.name}/"
    else:
        images, _ = side_by_side(src)
        split_of = _generated_split(list(images), opts)
        notes = convert_side_by_side(src, writer, lambda n: split_of.get(n, "train"))
        layout = "one folder, NAME.ext beside NAME_mask.ext"
    split = {"kind": "generated", "ratios": list(opts.ratios), "seed": opts.seed}
    writer.notes.append(
        f"the source has no split: generated a seeded {'/'.join(f'{r:g}' for r in opts.ratios)} train/val/test split "
        f"(seed {opts.seed}); --split-ratios 0,0,1 puts every pair in test")
    return _info(notes, split, layout)


def _generated_split(stems: list[str], opts: PrepareOptions) -> dict[str, str]:
    return {n: s for s, names in split_by_ratio(sorted(set(stems)), opts.ratios, opts.seed).items() for n in names}


def _info(notes: dict[str, int], split: dict, layout: str) -> dict:
    return {"format": "pairs", "layout": layout, "mask_notes": notes, "split": split}
