"""CRACK500-style layout: SRC/{train,val,test}/images/*.jpg + masks/<same stem>.jpg|png.

The masks are JPEG-compressed grey images: crack = value > threshold (127 by default), which
removes the compression ringing. A flat SRC/images + SRC/masks without split folders is also
accepted; it then gets a seeded split by `PrepareOptions.ratios`.
"""

from __future__ import annotations

from pathlib import Path

from crackedge.data.formats.folders import convert_pairs, list_images
from crackedge.data.formats.options import PrepareOptions
from crackedge.data.layout import SPLITS
from crackedge.data.writer import DatasetWriter, split_by_ratio


def detect(src: Path) -> bool:
    split_layout = any((src / s / "images").is_dir() and (src / s / "masks").is_dir() for s in SPLITS)
    return split_layout or ((src / "images").is_dir() and (src / "masks").is_dir())


def convert(src: Path, writer: DatasetWriter, opts: PrepareOptions) -> dict:
    splits = [s for s in SPLITS if (src / s / "images").is_dir()]
    notes: dict[str, int] = {}
    if splits:
        for s in splits:
            for k, v in convert_pairs(src / s / "images", src / s / "masks", writer, lambda _n, s=s: s, opts.mask_threshold).items():
                notes[k] = notes.get(k, 0) + v
        split_info = {"kind": "publisher", "splits": splits}
    else:
        stems = list(list_images(src / "images"))
        split_of = {n: s for s, names in split_by_ratio(stems, opts.ratios, opts.seed).items() for n in names}
        notes = convert_pairs(src / "images", src / "masks", writer, split_of.__getitem__, opts.mask_threshold)
        split_info = {"kind": "generated", "ratios": list(opts.ratios), "seed": opts.seed}
    return {"format": "crack500", "mask_threshold": opts.mask_threshold, "mask_notes": notes, "split": split_info}
