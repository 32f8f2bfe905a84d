"""Pictures to check a calibration or a measurement by eye (RGB uint8 images).

- `calibration_overlays`: each checkerboard photo with the detected corners (green) and where the
  fitted camera model puts them (red), the per-photo error, or the reason it was rejected; plus a
  contact sheet of all of them.
- `measurement_overlay`: a frame (or the mask) with the crack, the measured skeleton, each
  component's box and numbers, and the totals in a caption.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from calib.intrinsics import IntrinsicsResult, list_images
from calib.measure import CrackMeasurement
from crackedge.errors import DataError
from crackedge.fileio import read_image_rgb, write_image_atomic
from crackedge.overlay import blend_mask, contact_sheet, draw_caption

DETECTED_RGB = (40, 220, 40)
MODEL_RGB = (255, 40, 40)
SKELETON_RGB = (255, 230, 0)
BOX_RGB = (80, 200, 255)


def corners_overlay(image: np.ndarray, detected: np.ndarray, reprojected: np.ndarray) -> np.ndarray:
    """Detected corners as green circles, model corners as red crosses, on a copy of `image` (RGB)."""
    out = image.copy()
    r = max(3, round(max(out.shape[:2]) / 160))
    thick = max(1, r // 3)
    for (x, y), (u, v) in zip(detected, reprojected):
        cv2.circle(out, (round(x), round(y)), r, DETECTED_RGB, thick, cv2.LINE_AA)
        cv2.drawMarker(out, (round(u), round(v)), MODEL_RGB, cv2.MARKER_CROSS, 2 * r, thick, cv2.LINE_AA)
    return out


def calibration_overlays(folder: Path, result: IntrinsicsResult, out_dir: Path) -> Path:
    """Write one overlay per photo in `folder` and `overview.jpg` into `out_dir`; returns the overview path."""
    out_dir = Path(out_dir)
    errors = dict(result.per_image)
    reasons = dict(result.rejected)
    tiles, labels = [], []
    for path in list_images(folder):
        try:
            image = read_image_rgb(path)
        except DataError:  # unreadable photos are already listed as rejected
            continue
        if path.name in result.views:
            pic = corners_overlay(image, *result.views[path.name])
            short = f"{path.name} {errors[path.name]:.2f} px"
            caption = [f"{path.name}: {errors[path.name]:.2f} px RMS", "green: detected corners, red: camera model"]
        else:
            pic = image
            short = f"{path.name} REJECTED"
            caption = [f"{path.name}: REJECTED", reasons.get(path.name, "not used")]
        write_image_atomic(out_dir / f"{path.stem}_corners.jpg", draw_caption(pic, caption))
        tiles.append(pic)
        labels.append(short)
    overview = out_dir / "overview.jpg"
    if tiles:
        write_image_atomic(overview, contact_sheet(tiles, cols=4, tile_width=320, labels=labels))
    return overview


def measurement_overlay(mask: np.ndarray, m: CrackMeasurement, skeleton: np.ndarray,
                        image: Optional[np.ndarray] = None) -> np.ndarray:
    """RGB picture of a measurement: crack in red, measured skeleton in yellow, numbered boxes.

    mask, skeleton: HxW; image: HxWx3 RGB frame of the same size (grey mask background if None).
    """
    if image is None:
        image = np.repeat((mask != 0).astype(np.uint8)[:, :, None] * 60 + 30, 3, axis=2)
    out = blend_mask(image, mask != 0, alpha=0.45)
    out[skeleton] = SKELETON_RGB
    for part in m.parts:
        x, y, w, h = part.bbox_xywh
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), BOX_RGB, 1)
        text = f"#{part.label}"
        if part.length_mm is not None:
            text += f" {part.length_mm:.0f}mm w{part.mean_width_mm or 0:.1f}"
        cv2.putText(out, text, (x, max(10, y - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, BOX_RGB, 1, cv2.LINE_AA)
    if m.too_large:
        area = f"{m.area_mm2 / 1e6:.3f} m^2" if m.area_mm2 is not None else f"{m.area_px} px"
        caption = [f"{m.components} crack(s), {area}: too large to measure",
                   "(the crack covers more than the max_area_fraction of the frame)"]
    elif m.length_mm is not None:
        caption = [f"{m.components} crack(s), {m.branches} branches, length {m.length_mm:.0f} mm",
                   f"width mean {m.mean_width_mm or 0:.1f} mm, max {m.max_width_mm or 0:.1f} mm"]
    else:
        caption = [f"{m.components} crack(s), {m.branches} branches, length {m.length_px:.0f} px",
                   f"width mean {m.mean_width_px:.1f} px, max {m.max_width_px:.1f} px"]
    return draw_caption(out, caption)
