"""What `distill compare` is asked to do (CompareOptions, the evaluation sets) and what one run did (RunRecord)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from crackedge.errors import ConfigError

if TYPE_CHECKING:
    from distill.train_config import DistillTrainConfig

MAX_AUTO_VARIANTS = 8


@dataclass(frozen=True)
class EvalSet:
    """A canonical dataset the bundles are scored on: `name` labels it in the report and in OUT."""

    path: Path
    split: Optional[str]  # None: every image
    name: str


def parse_eval_set(text: str, default_split: Optional[str], taken: set[str]) -> EvalSet:
    """`DIR` (its `default_split` when it has one, else every image) or `DIR:SPLIT` (`DIR:all`)."""
    from crackedge.data.layout import CrackDataset

    path_text, _, split = str(text).rpartition(":") if ":" in str(text) and not Path(text).exists() else (text, "", "")
    path = Path(path_text)
    ds = CrackDataset.open(path)
    if not split:
        split = default_split if default_split in ds.splits else "all"
    if split != "all" and split not in ds.splits:
        raise ConfigError(f"--eval-data {text}: {path} has no split {split!r} (it has: {', '.join(ds.splits) or 'none'})")
    name = path.name or "data"
    while name in taken:
        name += "_"
    return EvalSet(path, None if split == "all" else split, name)


@dataclass
class CompareOptions:
    train: "DistillTrainConfig"  # the distilled run; the alone run is derived from it
    out: Path
    seeds: tuple[int, ...] = (0,)
    eval_sets: list[EvalSet] = field(default_factory=list)  # default: the training data's test split
    split: str = "test"
    noise: tuple[str, ...] = ("clean", "dim", "blurry")
    online_teacher: bool = False
    int8: bool = False
    int8_full_bias_correction: bool = False
    int8_ranges: str = "histogram"
    calib_images: int = 20
    parity_images: int = 8
    limit: Optional[int] = None
    threads: Optional[int] = None
    progress: bool = True


@dataclass
class RunRecord:
    """What one training run did (from its budget.yaml and best.pt)."""

    name: str
    seed: int
    teacher: Optional[str]
    planned_steps: int
    steps: int
    batch_size: int
    wall_s: float
    best_val_iou: float
    best_step: int
    stopped_by_budget: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def auto_variants(steps: int, batch_size: int, n_train: int) -> int:
    """Augmentation views per image: one per epoch the budget covers, at most MAX_AUTO_VARIANTS."""
    return max(1, min(MAX_AUTO_VARIANTS, math.ceil(steps * batch_size / max(1, n_train))))


