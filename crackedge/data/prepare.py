"""`crackedge prepare`: convert a published dataset layout into the canonical layout.

The output is built in a hidden staging folder beside OUT and renamed at the end, so a failed or
interrupted run leaves no OUT (see `crackedge.data.staging`). Unlabeled image folders go through
`prepare_unlabeled` (`--format images`).
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

from crackedge.data.formats import crack500, crackforest, deepcrack, pairs
from crackedge.data.formats.options import PrepareOptions
from crackedge.data.layout import CrackDataset
from crackedge.data.writer import DatasetWriter
from crackedge.errors import DataError

log = logging.getLogger(__name__)

# order matters for auto-detection: the most specific layouts first; `pairs` (images/ + masks/
# without split folders, or NAME + NAME_mask in one folder) is the catch-all
FORMATS = {"crackforest": crackforest, "deepcrack": deepcrack, "crack500": crack500, "pairs": pairs}
LAYOUTS = (
    "crackforest (image/ + groundTruth/*.mat), deepcrack (train_img/ train_lab/ test_img/ test_lab/), "
    "crack500 ({train,val,test}/images + masks/, or traincrop/ NAME.jpg + NAME.png), "
    "pairs (images/ + masks/, or NAME.jpg + NAME_mask.png in one folder); "
    "images (unlabeled images, any folder tree)"
)


def detect_format(src: Path) -> str:
    """Name of the first format whose layout matches `src`; DataError listing the known layouts."""
    for name, mod in FORMATS.items():
        if mod.detect(src):
            return name
    raise DataError(f"cannot tell the layout of {src}; pass --format with one of: {LAYOUTS}. "
                    "docs/data.md says how to bring a layout that is not listed")


def prepare(src: str | Path, out: str | Path, fmt: str = "auto", opts: PrepareOptions = PrepareOptions()) -> CrackDataset:
    """Convert `src` (layout `fmt`, or detected) into a canonical dataset at `out`.

    Nothing is left at `out` when this raises.
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataError(f"source folder not found: {src}")
    if fmt == "images":
        raise DataError("--format images makes an unlabeled image set: call crackedge.data.prepare.prepare_unlabeled")
    if fmt == "auto":
        fmt = detect_format(src)
        log.info("detected layout %s for %s", fmt, src)
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; valid formats: auto, {', '.join(FORMATS)}, images")
    if not FORMATS[fmt].detect(src):
        hint = ""
        if fmt == "crack500" and pairs.detect(src):
            hint = " (an images/ + masks/ folder without split folders is the pairs layout: --format pairs)"
        raise DataError(f"{src} does not look like the {fmt} layout: {FORMATS[fmt].__doc__.strip().splitlines()[0]}{hint}")
    if fmt == "crackforest" and opts.crack_values:
        raise DataError("--crack-values applies to grey masks; CrackForest labels are chosen with --cfd-label3/--cfd-label4")
    with DatasetWriter(out, strict=opts.strict, mask_rule=opts.mask_rule) as writer:
        info = FORMATS[fmt].convert(src, writer, opts)
        info = {"source": str(src.resolve()), "created": _dt.datetime.now().isoformat(timespec="seconds"), **info}
        ds = writer.finish(info)
    if writer.skipped:
        log.warning("%d item(s) skipped; reasons are listed in %s", len(writer.skipped), out / "dataset.yaml")
    return ds


def prepare_unlabeled(src: str | Path, out: str | Path, strict: bool = False):
    """`--format images`: copy every usable image under `src` into an unlabeled image set at `out`."""
    from crackedge.data.formats.images import write_unlabeled_set

    return write_unlabeled_set(Path(src), Path(out), strict=strict)
