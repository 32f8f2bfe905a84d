"""A plain folder of image/mask pairs.

Either SRC/images + SRC/masks paired by stem, or one folder where NAME.jpg sits beside a mask named
NAME_mask.png (also _label, _gt, _lab). Masks are thresholded at `mask_threshold` unless they are
0/1. A seeded split by `PrepareOptions.ratios` is generated.
"""

from __future__ import annotations

from pathlib import Path

from crackedge.data.formats.folders import MASK_SUFFIXES, convert_pairs, list_images
from crackedge.data.formats.options import PrepareOptions
from crackedge.data.writer import DatasetWriter, split_by_ratio
from crackedge.errors import DataError


def detect(src: Path) -> bool:
    return src.is_dir() and any(p.stem.endswith(s) for p in src.iterdir() for s in MASK_SUFFIXES[1:])


def convert(src: Path, writer: DatasetWriter, opts: PrepareOptions) -> dict:
    if (src / "images").is_dir() and (src / "masks").is_dir():
        img_dir, mask_dir = src / "images", src / "masks"
        stems = list(list_images(img_dir))
    else:
        img_dir = mask_dir = src
        all_stems = list(list_images(src))
        stems = [s for s in all_stems if not any(s.endswith(suf) for suf in MASK_SUFFIXES[1:])]
        if not stems:
            raise DataError(f"{src}: no images found (expected NAME.jpg with NAME_mask.png, or images/ + masks/)")
    split_of = {n: s for s, names in split_by_ratio(stems, opts.ratios, opts.seed).items() for n in names}
    if img_dir == mask_dir:
        mask_only = {s for s in list_images(src) if s not in split_of}
        notes = _convert_single_folder(src, stems, mask_only, writer, split_of, opts)
    else:
        notes = convert_pairs(img_dir, mask_dir, writer, split_of.__getitem__, opts.mask_threshold)
    return {"format": "pairs", "mask_threshold": opts.mask_threshold, "mask_notes": notes,
            "split": {"kind": "generated", "ratios": list(opts.ratios), "seed": opts.seed}}


def _convert_single_folder(src, stems, mask_stems, writer, split_of, opts) -> dict[str, int]:
    from crackedge.data.formats.folders import find_mask, read_binary_mask

    index = list_images(src)
    masks = {s: index[s] for s in mask_stems}
    notes: dict[str, int] = {}
    for stem in stems:
        mpath = find_mask(masks, stem)
        if mpath is None:
            writer.skip(str(index[stem]), f"no mask NAME{{{','.join(MASK_SUFFIXES[1:])}}}.* beside it")
            continue
        try:
            mask, note = read_binary_mask(mpath, opts.mask_threshold)
        except DataError as err:
            writer.skip(str(mpath), str(err))
            continue
        notes[note] = notes.get(note, 0) + 1
        writer.add_file(stem, index[stem], mask, split_of[stem])
    return notes
