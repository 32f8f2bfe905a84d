"""`crackedge prepare`: convert a published dataset layout into the canonical layout."""

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

# order matters for auto-detection: the most specific layouts first
FORMATS = {"crackforest": crackforest, "deepcrack": deepcrack, "crack500": crack500, "pairs": pairs}


def detect_format(src: Path) -> str:
    """Name of the first format whose layout matches `src`; DataError listing the known layouts."""
    for name, mod in FORMATS.items():
        if mod.detect(src):
            return name
    raise DataError(
        f"cannot tell the layout of {src}; pass --format with one of: "
        "crackforest (image/ + groundTruth/*.mat), deepcrack (train_img/ train_lab/ test_img/ test_lab/), "
        "crack500 ({train,val,test}/images + masks/), pairs (images/ + masks/, or NAME.jpg + NAME_mask.png)"
    )


def prepare(src: str | Path, out: str | Path, fmt: str = "auto", opts: PrepareOptions = PrepareOptions()) -> CrackDataset:
    """Convert `src` (layout `fmt`, or detected) into a canonical dataset at `out`."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataError(f"source folder not found: {src}")
    if fmt == "auto":
        fmt = detect_format(src)
        log.info("detected layout %s for %s", fmt, src)
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; valid formats: auto, {', '.join(FORMATS)}")
    if not FORMATS[fmt].detect(src):
        raise DataError(f"{src} does not look like the {fmt} layout: {FORMATS[fmt].__doc__.strip().splitlines()[0]}")
    writer = DatasetWriter(out, strict=opts.strict)
    info = FORMATS[fmt].convert(src, writer, opts)
    info = {"source": str(src.resolve()), "created": _dt.datetime.now().isoformat(timespec="seconds"), **info}
    ds = writer.finish(info)
    if writer.skipped:
        log.warning("%d item(s) skipped; reasons are listed in %s", len(writer.skipped), out / "dataset.yaml")
    return ds
