"""Split folders of pairs (CRACK500 and sets laid out like it):

    SRC/{train,val,test}/images/*.jpg + SRC/{train,val,test}/masks/<same stem>.jpg|png
    SRC/{traincrop,valcrop,testcrop}/NAME.jpg + NAME.png     CRACK500 as published

Split folder names may also be training/valid/validation/testing; image and mask folders
image|img / mask|labels|gt|... (see `folders`). The masks are JPEG-compressed grey images: crack =
value > threshold (127 by default), which removes the compression ringing. A flat images/ + masks/
without split folders is the `pairs` layout.
"""

from __future__ import annotations

from pathlib import Path

from crackedge.data.formats.folders import convert_pairs, convert_side_by_side, image_mask_dirs, report_unused, split_dirs
from crackedge.data.formats.options import PrepareOptions
from crackedge.data.writer import DatasetWriter


def _has_pairs(folder: Path) -> bool:
    if image_mask_dirs(folder) is not None:
        return True
    return folder.is_dir() and any(p.suffix.lower() == ".png" for p in folder.iterdir()) and any(
        p.suffix.lower() in (".jpg", ".jpeg") for p in folder.iterdir())


def detect(src: Path) -> bool:
    return any(_has_pairs(folder) for folder in split_dirs(src).values())


def convert(src: Path, writer: DatasetWriter, opts: PrepareOptions) -> dict:
    splits = split_dirs(src)
    report_unused(src, set(splits.values()), writer, "a split folder (train, val, test or an alias)")
    notes: dict[str, int] = {}
    for split, folder in splits.items():
        dirs = image_mask_dirs(folder)
        if dirs is not None:
            report_unused(folder, set(dirs), writer, "the image or mask folder")
            part = convert_pairs(dirs[0], dirs[1], writer, lambda _n, s=split: s)
        else:
            part = convert_side_by_side(folder, writer, lambda _n, s=split: s)
        for k, v in part.items():
            notes[k] = notes.get(k, 0) + v
    return {"format": "crack500", "mask_notes": notes,
            "split": {"kind": "publisher", "splits": list(splits), "folders": {s: f.name for s, f in splits.items()}}}
