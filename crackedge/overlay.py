"""Overlays a person can look at: crack mask blended on the frame, contours, a caption band.

Shared by `edge` (live annotated frames) and by the evaluation tools (teacher/distill eval).
numpy + OpenCV only.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

CRACK_RGB = (255, 40, 40)
CONTOUR_RGB = (255, 230, 0)
FALSE_POS_RGB = (255, 140, 0)
FALSE_NEG_RGB = (40, 120, 255)
TRUE_POS_RGB = (40, 220, 40)


def blend_mask(image: np.ndarray, mask: np.ndarray, color: Sequence[int] = CRACK_RGB, alpha: float = 0.55) -> np.ndarray:
    """Blend `color` over `image` where `mask` is set.

    image: HxWx3 uint8 RGB; mask: HxW bool/uint8 (non-zero = crack). Returns a new HxWx3 uint8.
    """
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape[:2]} does not match image shape {image.shape[:2]}")
    out = image.copy()
    m = mask.astype(bool)
    if m.any():
        col = np.asarray(color, dtype=np.float32)
        out[m] = (image[m].astype(np.float32) * (1.0 - alpha) + col * alpha).astype(np.uint8)
    return out


def draw_contours(image: np.ndarray, mask: np.ndarray, color: Sequence[int] = CONTOUR_RGB, thickness: int = 1) -> np.ndarray:
    """Draw the outer contours of `mask` (HxW) on a copy of `image` (HxWx3 uint8 RGB)."""
    out = image.copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), thickness, lineType=cv2.LINE_AA)
    return out


def draw_caption(image: np.ndarray, lines: Sequence[str], scale: float | None = None) -> np.ndarray:
    """Draw text lines on a dark band at the top of a copy of `image` (HxWx3 uint8 RGB)."""
    return draw_caption_in_place(image.copy(), lines, scale)


def draw_caption_in_place(image: np.ndarray, lines: Sequence[str], scale: float | None = None) -> np.ndarray:
    """`draw_caption` drawn into `image` itself (HxWx3 uint8 RGB, returned): the edge daemon's
    annotated frame, drawn in a buffer it reuses frame after frame."""
    if not lines:
        return image
    h, w = image.shape[:2]
    scale = scale if scale is not None else max(0.35, min(1.0, w / 900.0))
    thick = 1 if scale < 0.7 else 2
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    line_h = th + base + 4
    band_h = min(h, line_h * len(lines) + 4)
    band = image[:band_h]
    cv2.convertScaleAbs(band, dst=band, alpha=0.35)
    for i, text in enumerate(lines):
        y = 2 + (i + 1) * line_h - base - 2
        cv2.putText(image, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return image


def annotate(image: np.ndarray, mask: np.ndarray, caption: Sequence[str] = (), alpha: float = 0.55) -> np.ndarray:
    """Mask blend + contours + caption: the standard annotated frame (HxWx3 uint8 RGB)."""
    out = blend_mask(image, mask, alpha=alpha)
    out = draw_contours(out, mask)
    return draw_caption(out, caption)


def error_overlay(image: np.ndarray, pred: np.ndarray, gt: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Evaluation overlay: true positives green, false positives orange, false negatives blue.

    image: HxWx3 uint8 RGB; pred, gt: HxW binary. Returns HxWx3 uint8.
    """
    p, g = pred.astype(bool), gt.astype(bool)
    out = blend_mask(image, p & g, TRUE_POS_RGB, alpha)
    out = blend_mask(out, p & ~g, FALSE_POS_RGB, alpha)
    return blend_mask(out, ~p & g, FALSE_NEG_RGB, alpha)


def contact_sheet(images: Sequence[np.ndarray], cols: int = 4, tile_width: int = 320, labels: Sequence[str] | None = None) -> np.ndarray:
    """Tile RGB images (any sizes) into one sheet, each resized to `tile_width` wide, optional labels."""
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    tiles = []
    for i, im in enumerate(images):
        if im.ndim == 2:
            im = cv2.cvtColor(im, cv2.COLOR_GRAY2RGB)
        h = max(1, round(im.shape[0] * tile_width / im.shape[1]))
        t = cv2.resize(im, (tile_width, h), interpolation=cv2.INTER_AREA)
        if labels is not None and i < len(labels):
            t = draw_caption(t, [labels[i]], scale=0.45)
        tiles.append(t)
    tile_h = max(t.shape[0] for t in tiles)
    rows = []
    for r in range(0, len(tiles), cols):
        row = [np.pad(t, ((0, tile_h - t.shape[0]), (0, 0), (0, 0))) for t in tiles[r : r + cols]]
        row += [np.zeros((tile_h, tile_width, 3), np.uint8)] * (cols - len(row))
        rows.append(np.hstack(row))
    return np.vstack(rows)
