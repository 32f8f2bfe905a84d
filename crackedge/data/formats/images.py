"""`--format images`: a folder of unlabeled images -> an unlabeled image set.

    OUT/images/NAME.jpg|png   the source images, bytes unchanged (other formats become PNG)
    OUT/dataset.yaml          format: images, labels: none, source, counts, skipped items

Which images are taken is `crackedge.data.unlabeled.list_unlabeled_images` (any folder tree; from
an `edge run` folder only the raw frames). NAME is the path below SRC with `/` replaced by `__`
(`2026-11-23T10-00-00/00000042_raw.jpg` -> `2026-11-23T10-00-00__00000042_raw`). The set has no
masks and no splits: distillation from unlabeled frames reads it; training and evaluation cannot.
"""

from __future__ import annotations

import datetime as _dt
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crackedge.data.layout import INFO_NAME
from crackedge.data.staging import StagedFolder
from crackedge.data.unlabeled import dataset_images_dir, is_edge_run_dir, list_unlabeled_images
from crackedge.errors import DataError
from crackedge.fileio import atomic_write_text, read_image_rgb, write_image_atomic

log = logging.getLogger(__name__)

LABELS_NONE = "none"


@dataclass
class UnlabeledSet:
    """An unlabeled image set on disk (made by `write_unlabeled_set`)."""

    root: Path
    images: list[Path]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)


def is_unlabeled_set(root: Path) -> bool:
    """True when `root/dataset.yaml` says `labels: none`."""
    f = Path(root) / INFO_NAME
    if not f.is_file():
        return False
    info = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
    return isinstance(info, dict) and info.get("labels") == LABELS_NONE


def open_unlabeled_set(root: str | Path) -> UnlabeledSet:
    """Open a set written by `write_unlabeled_set`; DataError when `root` is not one."""
    root = Path(root)
    if not is_unlabeled_set(root):
        raise DataError(f"{root} is not an unlabeled image set (no dataset.yaml with labels: none); "
                        "make one with `crackedge prepare --format images SRC OUT`")
    info = yaml.safe_load((root / INFO_NAME).read_text(encoding="utf-8"))
    return UnlabeledSet(root, list_unlabeled_images([root]), info)


def _name_for(path: Path, base: Path) -> str:
    rel = path.relative_to(base) if path.is_relative_to(base) else Path(path.name)
    return "__".join(rel.with_suffix("").parts)


def write_unlabeled_set(src: Path, out: Path, strict: bool = False) -> UnlabeledSet:
    """Copy every usable image under `src` into OUT/images and write dataset.yaml; nothing at OUT on failure."""
    src = Path(src)
    if not src.exists():
        raise DataError(f"source folder not found: {src}")
    paths = list_unlabeled_images([src])
    base = (dataset_images_dir(src) or src).resolve()
    skipped: list[dict[str, str]] = []
    names: dict[str, Path] = {}
    edge_runs = sorted({str(p.parent) for p in paths if is_edge_run_dir(p.parent)})

    def skip(item: Path, reason: str) -> None:
        if strict:
            raise DataError(f"{item}: {reason} (run without --strict to skip such items and report them)")
        log.warning("skipping %s: %s", item, reason)
        skipped.append({"item": str(item), "reason": reason})

    with StagedFolder(out) as stage:
        (stage.path / "images").mkdir()
        for p in paths:
            name = _name_for(p, base)
            if name in names:
                skip(p, f"its name {name!r} is already used by {names[name]}; rename one of them")
                continue
            try:
                image = read_image_rgb(p)
            except DataError as err:
                skip(p, str(err))
                continue
            ext = p.suffix.lower()
            if ext in (".jpg", ".jpeg", ".png"):
                shutil.copyfile(p, stage.path / "images" / f"{name}{ext}")
            else:
                write_image_atomic(stage.path / "images" / f"{name}.png", image)
            names[name] = p
        if not names:
            raise DataError(f"no usable image under {src} (skipped {len(skipped)}: "
                            + "; ".join(f"{s['item']}: {s['reason']}" for s in skipped[:3]) + ")")
        info: dict[str, Any] = {
            "source": str(src.resolve()), "created": _dt.datetime.now().isoformat(timespec="seconds"),
            "format": "images", "labels": LABELS_NONE, "counts": {"images": len(names)},
        }
        if edge_runs:
            info["notes"] = [f"{len(edge_runs)} edge run folder(s): only their raw frames (NNNNNNNN_raw.jpg) were taken, "
                             "never the annotated NNNNNNNN.jpg"]
            info["edge_runs"] = edge_runs
        info["skipped"] = skipped
        atomic_write_text(stage.path / INFO_NAME, yaml.safe_dump(info, sort_keys=False), fsync=False)
        stage.commit()
    return open_unlabeled_set(out)
