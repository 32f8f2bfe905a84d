"""After the mask: overlay, JPEG encoding, the save decision and crack statistics of a frame."""

from __future__ import annotations

import cv2
import numpy as np

from crackedge.fileio import encode_image
from crackedge.overlay import blend_mask, draw_caption, draw_contours


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

