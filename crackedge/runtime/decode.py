"""Network output -> crack probability or mask at the frame's size: the one decoding of every runtime path.

Output layouts (from the bundle's metadata `output`):
- logits, 2 channels: crack probability = softmax(l)[crack] = sigmoid(l_crack - l_background). The
  logit margin z is upsampled bilinearly (like the training code upsamples logits) and compared with
  logit(threshold), which is exactly "softmax probability > threshold" without computing exp per pixel.
- logits, 1 channel: z = the crack logit.
- probabilities: the crack channel is upsampled and compared with the threshold.
"""

from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np

from crackedge.runtime.metadata import OutputSpec


#: samples along the longer side of the output for the crack ratio (224: 4 per cell of a stride-8
#: output at 448x448, 2 of a stride-4 one; 50k samples instead of the frame's pixels)
RATIO_SAMPLES = 224


def ratio_factor(shape_hw: tuple[int, ...]) -> int:
    """k: the crack ratio samples the output's bilinear surface k times per output cell along each axis."""
    return max(1, math.ceil(RATIO_SAMPLES / max(1, max(shape_hw[:2]))))


class MaskDecoder:
    def __init__(self, spec: OutputSpec, threshold: float) -> None:
        self.spec = spec
        self.threshold = float(threshold)
        self.logit_threshold = math.log(self.threshold / (1.0 - self.threshold))

    def score_map(self, output: np.ndarray) -> np.ndarray:
        """1xCxhxw (or Cxhxw) network output -> hxw float32 map (logit margin or probability)."""
        out = output[0] if output.ndim == 4 else output
        if out.ndim != 3:
            raise ValueError(f"expected a Cxhxw output, got shape {output.shape}")
        c = self.spec.crack_channel
        if self.spec.kind == "logits":
            if out.shape[0] >= 2:
                return (out[c] - out[1 - c]).astype(np.float32, copy=False)
            return out[0].astype(np.float32, copy=False)
        return out[c if out.shape[0] > c else 0].astype(np.float32, copy=False)

    @property
    def cut(self) -> float:
        """The value the score map is compared with (logit(threshold) for logits, else the threshold)."""
        return self.logit_threshold if self.spec.kind == "logits" else self.threshold

    def mask(self, output: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
        """HxW uint8 {0,1} crack mask at `size_wh` (width, height)."""
        score = self.score_map(output)
        if (score.shape[1], score.shape[0]) != tuple(size_wh):
            score = cv2.resize(score, tuple(int(v) for v in size_wh), interpolation=cv2.INTER_LINEAR)
        return np.greater(score, self.cut).view(np.uint8)  # bool is one byte of 0/1: no second pass

    def crack_ratio(self, output: np.ndarray) -> float:
        """The crack pixel share of the frame, from the output at its own resolution (the model's output
        stride), without a full-size mask: `RATIO_SAMPLES` / `ratio_factor`.

        The full-size mask thresholds the bilinear surface through the output's scores, sampled at every
        frame pixel. This samples the same surface (cv2 INTER_LINEAR, half-pixel centres, edges
        clamped) on a grid k times finer than the output, k = ceil(RATIO_SAMPLES / longer output side),
        and returns the share of samples above the cut. Shares are resolution independent, so the two
        differ only by where the samples fall on crack edges (tests/test_edge_perf.py states the
        tolerance). Counting whole output cells instead would overstate thin, faint cracks: a cell just
        above the threshold between cells below it is a small spot after upsampling, not a cell.
        """
        score = self.score_map(output)
        k = ratio_factor(score.shape)
        if k > 1:
            score = cv2.resize(score, (score.shape[1] * k, score.shape[0] * k), interpolation=cv2.INTER_LINEAR)
        return int(np.count_nonzero(score > self.cut)) / float(score.size) if score.size else 0.0

    def probability(self, output: np.ndarray, size_wh: Optional[tuple[int, int]] = None) -> np.ndarray:
        """HxW float32 crack probability (for evaluation)."""
        score = self.score_map(output)
        if size_wh is not None and (score.shape[1], score.shape[0]) != tuple(size_wh):
            score = cv2.resize(score, tuple(int(v) for v in size_wh), interpolation=cv2.INTER_LINEAR)
        if self.spec.kind == "logits":
            return (1.0 / (1.0 + np.exp(-np.clip(score, -60, 60)))).astype(np.float32)
        return np.clip(score, 0.0, 1.0)
