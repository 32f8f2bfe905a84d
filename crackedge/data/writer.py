"""Writes a canonical dataset and its provenance file; every skipped item is recorded with its reason.

The dataset is built in a hidden staging folder beside OUT (`crackedge.data.staging`) and renamed
to OUT by `finish()`: a run that fails or is interrupted leaves no OUT. Colliding names are
resolved by `crackedge.data.names` (prefix by split, or one copy of identical content), and grey
masks added with `add_grey_mask` are surveyed for values beyond background and crack
(`crackedge.data.mask_values`).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from crackedge.data.layout import INFO_NAME, CrackDataset
from crackedge.data.mask_values import MaskRule, MaskValueSurvey, is_lossy
from crackedge.data.names import NameRegistry
from crackedge.data.staging import StagedFolder
from crackedge.errors import DataError
from crackedge.fileio import atomic_write_text, read_image_rgb, read_mask_gray, sha256_file, write_image_atomic

log = logging.getLogger(__name__)


@dataclass
class Skipped:
    item: str
    reason: str


@dataclass
class DatasetWriter:
    """Collects image/mask pairs for OUT in the canonical layout.

    `add_file` copies the source image bytes unchanged (no JPEG re-encoding) after checking that the
    image decodes and matches the mask size; problems become a recorded skip (or a DataError when
    `strict`), never a silent drop. Use it as a context manager (or call `abort()`) so that a
    failure removes the staging folder; `finish()` renames it to OUT.
    """

    out: Path
    strict: bool = False
    mask_rule: MaskRule = field(default_factory=MaskRule)
    splits: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self._stage = StagedFolder(self.out)
        for p in self._stage.removed_stale:
            self.notes.append(f"removed {p.name}, the staging folder of an interrupted earlier run")
        self.root = self._stage.path  # where files go until finish()
        (self.root / "images").mkdir()
        (self.root / "masks").mkdir()
        self._names = NameRegistry()
        self._ext: dict[str, str] = {}
        self.mask_survey = MaskValueSurvey()

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def abort(self) -> None:
        """Remove everything written so far; OUT is left untouched."""
        self._stage.abort()

    def skip(self, item: str, reason: str) -> None:
        if self.strict:
            raise DataError(f"{item}: {reason} (run without --strict to skip such items and report them)")
        log.warning("skipping %s: %s", item, reason)
        self.skipped.append(Skipped(item, reason))

    def add_grey_mask(self, name: str, image_src: Path, mask_src: Path, split: str) -> str | None:
        """Read `mask_src` with `mask_rule`, add the pair, survey the mask values; the mask note, or
        None when the item was skipped."""
        try:
            gray = read_mask_gray(mask_src)
        except DataError as err:
            self.skip(str(mask_src), str(err))
            return None
        lossy = is_lossy(mask_src)
        mask01, note = self.mask_rule.binarize(gray, lossy)
        if not self.add_file(name, image_src, mask01, split):
            return None
        self.mask_survey.add(str(mask_src), gray, mask01, lossy)
        return note

    def add_file(self, name: str, image_src: Path, mask01: np.ndarray, split: str) -> bool:
        """Copy `image_src` as images/NAME.ext and write mask01 (HxW {0,1}) as masks/NAME.png."""
        try:
            image = read_image_rgb(image_src)
        except DataError as err:
            self.skip(str(image_src), str(err))
            return False
        if image.shape[:2] != mask01.shape:
            self.skip(
                str(image_src),
                f"mask size {mask01.shape[1]}x{mask01.shape[0]} differs from image size {image.shape[1]}x{image.shape[0]}",
            )
            return False
        fingerprint = sha256_file(image_src) + _mask_digest(mask01)
        name = self._claim(name, split, fingerprint, str(image_src))
        if name is None:
            return False
        ext = image_src.suffix.lower() if image_src.suffix.lower() in (".jpg", ".jpeg", ".png") else ".png"
        if ext == image_src.suffix.lower():
            shutil.copyfile(image_src, self.root / "images" / f"{name}{ext}")
        else:
            write_image_atomic(self.root / "images" / f"{name}{ext}", image)
        self._write_mask(name, mask01)
        self._ext[name] = ext
        self.splits.setdefault(split, []).append(name)
        return True

    def add_array(self, name: str, image: np.ndarray, mask01: np.ndarray, split: str, ext: str = ".png") -> None:
        """Write an in-memory RGB image (HxWx3 uint8) and mask (HxW {0,1})."""
        if image.shape[:2] != mask01.shape:
            raise DataError(f"{name}: mask shape {mask01.shape} differs from image shape {image.shape[:2]}")
        fingerprint = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest() + _mask_digest(mask01)
        name = self._claim(name, split, fingerprint, f"array {name}")
        if name is None:
            return
        write_image_atomic(self.root / "images" / f"{name}{ext}", image, jpeg_quality=95)
        self._write_mask(name, mask01)
        self._ext[name] = ext
        self.splits.setdefault(split, []).append(name)

    def _claim(self, name: str, split: str, fingerprint: str, source: str) -> str | None:
        """The output name for this item (renaming earlier items if needed), or None: not to be written."""
        claim = self._names.claim(name, split, fingerprint, source)
        if claim.kind == "clash":
            self.skip(source, claim.reason)
            return None
        if claim.kind == "duplicate":
            if claim.moved_to is not None:
                for names in self.splits.values():
                    if claim.name in names:
                        names.remove(claim.name)
                self.splits.setdefault(claim.moved_to, []).append(claim.name)
            return None
        for old, new in claim.renames:
            ext = self._ext.pop(old)
            (self.root / "images" / f"{old}{ext}").rename(self.root / "images" / f"{new}{ext}")
            (self.root / "masks" / f"{old}.png").rename(self.root / "masks" / f"{new}.png")
            self._ext[new] = ext
            for names in self.splits.values():
                if old in names:
                    names[names.index(old)] = new
        return claim.name

    def _write_mask(self, name: str, mask01: np.ndarray) -> None:
        ok = cv2.imwrite(str(self.root / "masks" / f"{name}.png"), (mask01 > 0).astype(np.uint8) * 255)
        if not ok:
            raise DataError(f"could not write {self.root / 'masks' / f'{name}.png'} (disk full or no permission?)")

    def _name_notes(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        if self._names.renamed:
            info["renamed"] = {base: dict(sorted(by_split.items())) for base, by_split in sorted(self._names.renamed.items())}
            shown = ", ".join("/".join(v.values()) for v in list(info["renamed"].values())[:3])
            self.notes.append(
                f"{len(info['renamed'])} name(s) occur in more than one split with different content; each copy was "
                f"prefixed by its split ({shown}{', ...' if len(info['renamed']) > 3 else ''}; all listed in dataset.yaml under 'renamed')")
        if self._names.duplicates:
            info["duplicates"] = list(self._names.duplicates)
            shown = ", ".join(f"{d['name']} (kept in {d['kept_in']}, dropped from {d['dropped_from']})" for d in info["duplicates"][:3])
            self.notes.append(
                f"{len(info['duplicates'])} item(s) occur twice with identical image and mask and were kept once: {shown}"
                f"{', ...' if len(info['duplicates']) > 3 else ''} (listed in dataset.yaml under 'duplicates')")
        return info

    def finish(self, info: dict[str, Any]) -> CrackDataset:
        """Write split lists and dataset.yaml, rename the staging folder to OUT; return the opened dataset.

        On a DataError nothing is left at OUT (the staging folder is removed).
        """
        try:
            return self._finish(info)
        except BaseException:
            self.abort()
            raise

    def _finish(self, info: dict[str, Any]) -> CrackDataset:
        n_total = sum(len(v) for v in self.splits.values())
        if n_total == 0:
            reasons = "; ".join(f"{s.item}: {s.reason}" for s in self.skipped[:3])
            raise DataError(f"no usable image/mask pairs were found (skipped {len(self.skipped)}: {reasons})")
        full = dict(info)
        full.update(self._name_notes())
        survey = self.mask_survey.report(self.mask_rule)
        if survey is not None:
            self.notes.extend(survey.pop("notes"))
            self.warnings.extend(survey.pop("warnings"))
            full["mask_values"] = survey
        (self.root / "splits").mkdir(exist_ok=True)
        for split, names in self.splits.items():
            if names:
                atomic_write_text(self.root / "splits" / f"{split}.txt", "\n".join(names) + "\n", fsync=False)
        full["counts"] = {k: len(v) for k, v in self.splits.items() if v}
        full["skipped"] = [{"item": s.item, "reason": s.reason} for s in self.skipped]
        if self.notes:
            full["notes"] = list(self.notes)
        if self.warnings:
            full["warnings"] = list(self.warnings)
            for w in self.warnings:
                log.warning("%s", w)
        atomic_write_text(self.root / INFO_NAME, yaml.safe_dump(full, sort_keys=False))
        CrackDataset.open(self.root)  # a last check of what is about to become OUT
        self._stage.commit()
        return CrackDataset.open(self.out)


def _mask_digest(mask01: np.ndarray) -> str:
    m = np.ascontiguousarray(mask01 > 0)
    return hashlib.sha256(np.packbits(m).tobytes() + str(m.shape).encode()).hexdigest()


def split_by_ratio(names: list[str], ratios: tuple[float, float, float], seed: int) -> dict[str, list[str]]:
    """Deterministic train/val/test split of sorted `names` (a seeded shuffle)."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise DataError(f"split ratios must be three non-negative numbers (train,val,test), got {ratios}")
    total = sum(ratios)
    order = np.random.default_rng(seed).permutation(len(names))
    shuffled = [sorted(names)[i] for i in order]
    n_train = round(len(names) * ratios[0] / total)
    n_val = round(len(names) * ratios[1] / total)
    parts = {
        "train": shuffled[:n_train],
        "val": shuffled[n_train : n_train + n_val],
        "test": shuffled[n_train + n_val :],
    }
    return {k: sorted(v) for k, v in parts.items() if v}
