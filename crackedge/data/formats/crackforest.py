"""CrackForest (CFD): SRC/image/NNN.jpg + SRC/groundTruth/NNN.mat.

Each .mat holds a MATLAB struct `groundTruth{1}.Segmentation`, uint8 HxW with
1 = background and 2 = crack. 22 of the 118 files also hold 3 and/or 4. Looking at them
(e.g. 093, 097, 101: large label-3 regions) shows that

- 3 marks intact pavement islands enclosed by a network of cracks: a background variant, and
- 4 marks faint, thin hairline cracks (e.g. 084, 107): a crack variant.

So by default 3 -> background and 4 -> crack (`PrepareOptions.cfd_label3/cfd_label4` change this);
any other value is an error naming the file. CFD has no official split: a seeded split by
`PrepareOptions.ratios` is generated and recorded in dataset.yaml.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crackedge.data.formats.options import PrepareOptions
from crackedge.data.writer import DatasetWriter, split_by_ratio
from crackedge.errors import DataError, require

KNOWN_LABELS = {1, 2, 3, 4}


def detect(src: Path) -> bool:
    """image/ + groundTruth/ holding .mat files (a CrackForest copy with PNG labels is the pairs layout)."""
    return (src / "image").is_dir() and (src / "groundTruth").is_dir() and any((src / "groundTruth").glob("*.mat"))


def read_cfd_labels(mat_path: Path) -> np.ndarray:
    """The raw Segmentation label map (HxW uint8, values 1-4) from a CrackForest .mat file."""
    sio = require("scipy.io", "train", "Reading CrackForest .mat files")
    try:
        m = sio.loadmat(str(mat_path))
        seg = m["groundTruth"][0, 0]["Segmentation"]
    except (KeyError, IndexError, ValueError, TypeError) as err:
        raise DataError(f"{mat_path}: no groundTruth{{1}}.Segmentation field ({err}); is this a CrackForest file?") from None
    except Exception as err:  # scipy raises several types for corrupt files
        raise DataError(f"{mat_path}: unreadable .mat file ({err})") from None
    return np.asarray(seg)


def labels_to_mask(labels: np.ndarray, opts: PrepareOptions, source: Path) -> np.ndarray:
    """Map CFD labels to a {0,1} crack mask following the documented convention."""
    values = set(np.unique(labels).tolist())
    unknown = values - KNOWN_LABELS
    if unknown:
        raise DataError(f"{source}: unexpected CrackForest label value(s) {sorted(unknown)}; known labels are 1-4")
    crack = labels == 2
    if opts.cfd_label3 == "crack":
        crack |= labels == 3
    if opts.cfd_label4 == "crack":
        crack |= labels == 4
    return crack.astype(np.uint8)


def convert(src: Path, writer: DatasetWriter, opts: PrepareOptions) -> dict:
    images = {p.stem: p for p in sorted((src / "image").glob("*.jpg"))}
    mats = {p.stem: p for p in sorted((src / "groundTruth").glob("*.mat"))}
    for stem in sorted(set(mats) - set(images)):
        writer.skip(str(mats[stem]), "label file has no image image/{stem}.jpg".format(stem=stem))
    usable = []
    for stem in sorted(images):
        if stem not in mats:
            writer.skip(str(images[stem]), f"no label file groundTruth/{stem}.mat")
        else:
            usable.append(stem)
    split_of = {n: s for s, names in split_by_ratio(usable, opts.ratios, opts.seed).items() for n in names}
    odd = {3: [], 4: []}
    for stem in usable:
        try:
            labels = read_cfd_labels(mats[stem])
            mask = labels_to_mask(labels, opts, mats[stem])
        except DataError as err:
            writer.skip(str(mats[stem]), str(err))
            continue
        for v in (3, 4):
            if np.any(labels == v):
                odd[v].append(stem)
        writer.add_file(f"cfd_{stem}", images[stem], mask, split_of[stem])
    writer.notes.append(
        f"label 3 (enclosed intact pavement) -> {opts.cfd_label3} in {len(odd[3])} file(s); "
        f"label 4 (faint hairline crack) -> {opts.cfd_label4} in {len(odd[4])} file(s)"
    )
    return {
        "format": "crackforest",
        "labels": {"1": "background", "2": "crack", "3": opts.cfd_label3, "4": opts.cfd_label4},
        "files_with_label_3": odd[3],
        "files_with_label_4": odd[4],
        "split": {"kind": "generated", "ratios": list(opts.ratios), "seed": opts.seed},
    }
