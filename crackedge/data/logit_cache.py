"""Teacher-logit cache: the teacher runs once, distillation reads its logits back (numpy only).

    CACHE/
      index.yaml    format, teacher, checkpoint hash, dataset, split, size, seed, variants,
                    augment config, channels, stored_size, dtype, and the row of each (index, variant)
      logits.npy    float16 array [entries, channels, h, w] (a .npy file, opened as a memmap)

channels == 2: (background, crack) logits. channels == 1: the crack margin z = l_crack - l_background
(equivalent 2-channel logits are (0, z)). Logits are stored at the teacher's native resolution
`stored_size` and upsampled bilinearly (align_corners=False) to `size` where they are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from crackedge.errors import CrackedgeError
from crackedge.fileio import atomic_write_text

CACHE_FORMAT = "crackedge-logit-cache/1"
INDEX_NAME = "index.yaml"
LOGITS_NAME = "logits.npy"
REQUIRED_META = ("teacher", "dataset", "split", "size", "seed", "variants")


class CacheError(CrackedgeError):
    """A logit cache is missing, incomplete or does not match the training run."""


class LogitCacheWriter:
    """Writes logits row by row into a preallocated float16 memmap; `close` writes the index last,
    so an interrupted run leaves no index and is never mistaken for a complete cache."""

    def __init__(self, out_dir: str | Path, meta: dict[str, Any], n_entries: int, channels: int, stored_size: tuple[int, int]):
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise ValueError(f"logit cache metadata lacks {missing}")
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        if (self.out / INDEX_NAME).exists():
            (self.out / INDEX_NAME).unlink()  # invalidate first: the cache is being rewritten
        self.meta = dict(meta)
        self.shape = (int(n_entries), int(channels), int(stored_size[0]), int(stored_size[1]))
        self._arr = np.lib.format.open_memmap(self.out / LOGITS_NAME, mode="w+", dtype=np.float16, shape=self.shape)
        self._rows: dict[tuple[int, int], int] = {}
        self._names: dict[int, str] = {}

    def write(self, row: int, name: str, index: int, variant: int, logits: np.ndarray) -> None:
        """Store `logits` (C x h x w, any float dtype) for item `index`, view `variant`, at `row`."""
        if logits.shape != self.shape[1:]:
            raise ValueError(f"logits shape {logits.shape} differs from the cache's {self.shape[1:]}")
        if not np.isfinite(logits).all():
            raise CacheError(f"teacher logits for {name} (variant {variant}) contain NaN or inf")
        self._arr[row] = np.clip(logits, -65000, 65000).astype(np.float16)
        self._rows[(int(index), int(variant))] = int(row)
        self._names[int(index)] = name

    def close(self) -> Path:
        if len(self._rows) != self.shape[0]:
            raise CacheError(f"only {len(self._rows)} of {self.shape[0]} cache rows were written")
        self._arr.flush()
        del self._arr
        index = {
            "format": CACHE_FORMAT,
            **self.meta,
            "channels": self.shape[1],
            "stored_size": list(self.shape[2:]),
            "dtype": "float16",
            "entries": [
                {"index": i, "variant": v, "row": r, "name": self._names[i]} for (i, v), r in sorted(self._rows.items())
            ],
        }
        atomic_write_text(self.out / INDEX_NAME, yaml.safe_dump(index, sort_keys=False))
        return self.out


class LogitCache:
    """Read side of the cache; `get(index, variant)` returns float16 C x h x w."""

    def __init__(self, root: Path, meta: dict[str, Any], arr: np.ndarray):
        self.root = root
        self.meta = meta
        self._arr = arr
        self._rows = {(e["index"], e["variant"]): e["row"] for e in meta["entries"]}
        self._names = {e["index"]: e["name"] for e in meta["entries"]}

    @classmethod
    def open(cls, cache_dir: str | Path) -> "LogitCache":
        root = Path(cache_dir)
        idx = root / INDEX_NAME
        if not idx.is_file():
            raise CacheError(
                f"{root} is not a complete logit cache ({INDEX_NAME} missing); run `teacher cache-logits` again"
            )
        meta = yaml.safe_load(idx.read_text(encoding="utf-8")) or {}
        if meta.get("format") != CACHE_FORMAT:
            raise CacheError(f"{idx}: unknown cache format {meta.get('format')!r} (expected {CACHE_FORMAT})")
        try:
            arr = np.load(root / LOGITS_NAME, mmap_mode="r")
        except (OSError, ValueError) as err:
            raise CacheError(f"{root / LOGITS_NAME}: unreadable ({err}); run `teacher cache-logits` again") from None
        expect = (len(meta["entries"]), meta["channels"], *meta["stored_size"])
        if tuple(arr.shape) != expect:
            raise CacheError(f"{root / LOGITS_NAME} has shape {arr.shape}, index says {expect}; the cache is corrupt")
        return cls(root, meta, arr)

    @property
    def channels(self) -> int:
        return int(self.meta["channels"])

    def get(self, index: int, variant: int) -> np.ndarray:
        try:
            row = self._rows[(int(index), int(variant))]
        except KeyError:
            raise CacheError(
                f"the logit cache {self.root} has no entry for item {index} variant {variant} "
                f"(it holds {self.meta['variants']} variant(s) per image)"
            ) from None
        return np.asarray(self._arr[row])

    def check_matches(self, names: list[str], size: tuple[int, int], seed: int, variants: int | None) -> None:
        """CacheError unless the cache was made for exactly this data order, seed and variants, at this
        aspect ratio (the teacher may have seen the same views at a higher resolution than `size`)."""
        problems = []
        cached = [int(v) for v in self.meta["size"]]
        if cached[0] * size[1] != cached[1] * size[0]:  # a teacher may see the views at a higher resolution
            problems.append(f"shape {cached[0]}x{cached[1]} vs training size {size[0]}x{size[1]} (another aspect ratio)")
        if int(self.meta["seed"]) != int(seed):
            problems.append(f"augmentation seed {self.meta['seed']} vs {seed}")
        if variants is not None and int(self.meta["variants"]) != int(variants):
            problems.append(f"variants {self.meta['variants']} vs {variants}")
        cached_names = [self._names.get(i) for i in range(len(names))]
        if cached_names != list(names):
            problems.append("the image list differs (different dataset or split)")
        if problems:
            raise CacheError(
                f"logit cache {self.root} does not match this run: {'; '.join(problems)}. "
                "Re-run `teacher cache-logits` with the same --data/--split/--seed/--variants/--unlabeled"
            )


def cached_teacher_labels(cache_dir: str | Path) -> list[Optional[dict[str, Any]]]:
    """The training-label records (`crackedge.data.label_record`) of the teacher(s) behind a cache, one per
    checkpoint; [None] for a cache made before `teacher cache-logits` recorded them."""
    return list(LogitCache.open(cache_dir).meta.get("teachers_training_labels") or [None])
