"""Network output -> crack mask at the frame's size -> measurement, overlay, save decision.

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

from crackedge.bundle import OutputSpec
from crackedge.fileio import encode_image
from crackedge.overlay import blend_mask, draw_caption, draw_contours


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

    def mask(self, output: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
        """HxW uint8 {0,1} crack mask at `size_wh` (width, height)."""
        score = self.score_map(output)
        if (score.shape[1], score.shape[0]) != tuple(size_wh):
            score = cv2.resize(score, tuple(int(v) for v in size_wh), interpolation=cv2.INTER_LINEAR)
        cut = self.logit_threshold if self.spec.kind == "logits" else self.threshold
        return (score > cut).astype(np.uint8)

    def probability(self, output: np.ndarray, size_wh: Optional[tuple[int, int]] = None) -> np.ndarray:
        """HxW float32 crack probability (for evaluation)."""
        score = self.score_map(output)
        if size_wh is not None and (score.shape[1], score.shape[0]) != tuple(size_wh):
            score = cv2.resize(score, tuple(int(v) for v in size_wh), interpolation=cv2.INTER_LINEAR)
        if self.spec.kind == "logits":
            return (1.0 / (1.0 + np.exp(-np.clip(score, -60, 60)))).astype(np.float32)
        return np.clip(score, 0.0, 1.0)


def annotate_frame(
    image: np.ndarray, mask: np.ndarray, caption: list[str], alpha: float = 0.55, contours: bool = True
) -> np.ndarray:
    """Mask blend + contours + caption on a copy of `image` (HxWx3 RGB uint8)."""
    out = blend_mask(image, mask, alpha=alpha)
    if contours and mask.any():
        out = draw_contours(out, mask)
    return draw_caption(out, caption) if caption else out


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    return encode_image(image, ".jpg", jpeg_quality=quality)


def save_reasons(seq: int, crack_ratio: float, min_crack_ratio: float, every_nth: int) -> list[str]:
    """Why a frame is saved: 'crack' (ratio above the threshold) and/or 'every_nth'."""
    reasons = []
    if crack_ratio > 0 and crack_ratio >= min_crack_ratio:
        reasons.append("crack")
    if every_nth and seq % every_nth == 0:
        reasons.append("every_nth")
    return reasons


def scale_to_width(image: np.ndarray, width: int) -> np.ndarray:
    if image.shape[1] <= width:
        return image
    h = max(1, round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, h), interpolation=cv2.INTER_AREA)


def crack_stats(mask: np.ndarray) -> tuple[int, float]:
    n = int(np.count_nonzero(mask))
    return n, n / float(mask.size) if mask.size else 0.0

