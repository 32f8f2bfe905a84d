"""DeepCrack layout: SRC/train_img, SRC/train_lab, SRC/test_img, SRC/test_lab (544x384, 300/237).

Labels are PNG (or JPEG) grey masks paired by stem; read with the mask rule (threshold 127 unless
--crack-values). DeepCrack has no validation split: `PrepareOptions.val_fraction` of train
(seeded) becomes val (0 keeps all). Common copies reuse some names in train and test for
different pictures; those are prefixed by their split (`crackedge.data.names`).
"""

from __future__ import annotations

from pathlib import Path

from crackedge.data.formats.folders import convert_pairs, list_images
from crackedge.data.formats.options import PrepareOptions
from crackedge.data.writer import DatasetWriter, split_by_ratio

FOLDERS = ("train_img", "train_lab", "test_img", "test_lab")


def detect(src: Path) -> bool:
    return all((src / d).is_dir() for d in FOLDERS)


def convert(src: Path, writer: DatasetWriter, opts: PrepareOptions) -> dict:
    train_stems = list(list_images(src / "train_img"))
    f = opts.val_fraction
    parts = split_by_ratio(train_stems, (1.0 - f, f, 0.0), opts.seed) if f > 0 else {"train": train_stems}
    in_val = set(parts.get("val", []))
    notes = convert_pairs(src / "train_img", src / "train_lab", writer, lambda n: "val" if n in in_val else "train")
    for k, v in convert_pairs(src / "test_img", src / "test_lab", writer, lambda _n: "test").items():
        notes[k] = notes.get(k, 0) + v
    return {
        "format": "deepcrack",
        "mask_notes": notes,
        "split": {"kind": "publisher train/test, val carved from train", "val_fraction": f, "seed": opts.seed},
    }
