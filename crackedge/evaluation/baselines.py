"""Trivial guesses a crack model must beat: background everywhere, or crack everywhere.

Scored with the same loop and metrics as a model. With cracks on every image, all-background scores
IoU = F1 = 0 and all-crack scores IoU = the crack-pixel fraction; on crack-free images the CrackSAM
convention gives all-background 1 (empty prediction vs empty ground truth), which is why these
numbers are worth printing rather than assuming.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from crackedge.evaluation.loop import BASELINES, evaluate
from crackedge.evaluation.options import EvalOptions


class ConstantPredictor:
    """Predicts the same crack probability everywhere."""

    threshold = 0.5

    def __init__(self, value: float, input_size: tuple[int, int] = (448, 448)) -> None:
        self.value, self.input_size = float(value), input_size
        self.name = next((n for n, v in BASELINES.items() if v == value), f"constant {value:g}")

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        return np.full(image.shape[:2], self.value, np.float32), 0.0


def score_baselines(data_dir: Path, split: Optional[str] = "test", basis: str = "image",
                    input_size: tuple[int, int] = (448, 448), progress: bool = False) -> dict[str, dict[str, float]]:
    """Baseline name -> metrics (MetricReport.to_dict()) over `split`, on the given scoring basis."""
    opts = EvalOptions(split=split, basis=basis, baselines=True, overlays=0, progress=progress)
    return evaluate(ConstantPredictor(0.0, input_size), data_dir, opts).baselines
