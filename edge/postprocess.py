"""After the mask: overlay, JPEG encoding, the save decision and crack statistics of a frame."""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from crackedge.fileio import encode_image
from crackedge.overlay import CONTOUR_RGB, CRACK_RGB, blend_mask, draw_caption, draw_caption_in_place, draw_contours


def annotate_frame(
    image: np.ndarray, mask: np.ndarray, caption: list[str], alpha: float = 0.55, contours: bool = True,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Mask blend + contours + caption on a copy of `image` (HxWx3 RGB uint8), drawn in one buffer.

    out: a buffer of the image's shape to draw into (reused frame after frame by the postprocess
    stage: no allocation, no page faults); a new array when None or of another shape. The picture is
    that of crackedge.overlay's blend_mask + draw_contours + draw_caption (the blend rounds where
    blend_mask truncates: a channel value may differ by one), at a fraction of the cost: the blend
    runs on the mask's bounding box only, in OpenCV, and nothing is copied three times.
    """
    if out is None or out.shape != image.shape or out.dtype != image.dtype:
        out = np.empty_like(image)
    np.copyto(out, image)
    x, y, w, h = cv2.boundingRect(mask) if mask.any() else (0, 0, 0, 0)
    if w and h:
        roi = out[y : y + h, x : x + w]
        m = mask[y : y + h, x : x + w]
        blended = cv2.addWeighted(roi, 1.0 - alpha, _colour(out.shape)[:h, :w], alpha, 0.0)
        cv2.copyTo(blended, m, roi)
        if contours:
            found, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(x, y))
            cv2.drawContours(out, found, -1, CONTOUR_RGB, 1, lineType=cv2.LINE_AA)
    if caption:
        draw_caption_in_place(out, caption)
    return out


_COLOUR_CACHE: dict[tuple[int, ...], np.ndarray] = {}


def _colour(shape: tuple[int, ...]) -> np.ndarray:
    """A constant CRACK_RGB image of `shape`, made once per frame shape."""
    key = tuple(shape)
    img = _COLOUR_CACHE.get(key)
    if img is None:
        if len(_COLOUR_CACHE) > 8:
            _COLOUR_CACHE.clear()
        img = np.empty(shape, np.uint8)
        img[:] = CRACK_RGB
        _COLOUR_CACHE[key] = img
    return img


def annotate_frame_reference(
    image: np.ndarray, mask: np.ndarray, caption: list[str], alpha: float = 0.55, contours: bool = True
) -> np.ndarray:
    """The overlay as crackedge.overlay draws it (three copies); kept to check annotate_frame against."""
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

