"""DeepCrack layout: SRC/train_img, SRC/train_lab, SRC/test_img, SRC/test_lab (544x384, 300/237).

Labels are PNG (or JPEG) grey masks paired by stem; read with the mask rule (threshold 127 unless
--crack-values). DeepCrack has no validation split: `PrepareOptions.val_fraction` of train
(seeded) becomes val (0 keeps all), unless the copy has val_img/ + val_lab/, which are used as is.
Common copies reuse some names in train and test for different pictures; those are prefixed by
their split (`crackedge.data.names`). Other folders in SRC are listed as not read.
"""

from __future__ import annotations

from pathlib import Path

from crackedge.data.formats.folders import convert_pairs, list_images, report_unused
from crackedge.data.formats.options import PrepareOptions
from crackedge.data.writer import DatasetWriter, split_by_ratio

FOLDERS = ("train_img", "train_lab", "test_img", "test_lab")


def detect(src: Path) -> bool:
    return all((src / d).is_dir() for d in FOLDERS)


def convert(src: Path, writer: DatasetWriter, opts: PrepareOptions) -> dict:
    has_val = (src / "val_img").is_dir() and (src / "val_lab").is_dir()
    used = {src / d for d in FOLDERS} | ({src / "val_img", src / "val_lab"} if has_val else set())
    report_unused(src, used, writer, "a DeepCrack folder (train_img, train_lab, val_img, val_lab, test_img, test_lab)")
    train_stems = list(list_images(src / "train_img"))
    f = 0.0 if has_val else opts.val_fraction
    parts = split_by_ratio(train_stems, (1.0 - f, f, 0.0), opts.seed) if f > 0 else {"train": train_stems}
    in_val = set(parts.get("val", []))
    notes = convert_pairs(src / "train_img", src / "train_lab", writer, lambda n: "val" if n in in_val else "train")
    parts_ = [("test_img", "test_lab", "test")] + ([("val_img", "val_lab", "val")] if has_val else [])
    for img, lab, split in parts_:
        for k, v in convert_pairs(src / img, src / lab, writer, lambda _n, s=split: s).items():
            notes[k] = notes.get(k, 0) + v
    split = ({"kind": "publisher train/val/test"} if has_val else
             {"kind": "publisher train/test, val carved from train", "val_fraction": f, "seed": opts.seed})
    return {"format": "deepcrack", "mask_notes": notes, "split": split}
