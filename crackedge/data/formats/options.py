"""Options shared by the dataset converters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crackedge.data.mask_values import MaskRule


@dataclass(frozen=True)
class PrepareOptions:
    strict: bool = False  # fail on the first bad item instead of skipping and reporting it
    ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)  # train/val/test, for sources without a split
    seed: int = 0  # for every generated split
    val_fraction: float = 0.1  # carved from train when a source has train/test but no val
    mask_threshold: int = 127  # grey/JPEG masks: crack = value > threshold
    crack_values: tuple[int, ...] = ()  # grey masks: crack = these values (multi-class masks); replaces the threshold
    cfd_label3: Literal["background", "crack"] = "background"  # CrackForest label 3 (see crackforest.py)
    cfd_label4: Literal["crack", "background"] = "crack"  # CrackForest label 4

    @property
    def mask_rule(self) -> MaskRule:
        return MaskRule(threshold=self.mask_threshold, crack_values=tuple(self.crack_values))
