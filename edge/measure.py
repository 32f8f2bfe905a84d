"""A frame's crack measurement through calib, with a pixel-only fallback for a frame calib fails on.

What it uses of calib (imported plainly; calib is the layer below edge, see docs/ARCHITECTURE.md):
    calib.calibration.Calibration.load(path)   camera intrinsics + ground-plane scale
    calib.measure.measure_crack(mask HxW, calibration | None, min_component_px=20,
                                max_area_fraction=Measurer.max_crack_fraction, default MAX_AREA_FRACTION = 0.25)
        -> CrackMeasurement
        .to_dict(): area_px, length_px, mean_width_px, max_width_px, branches, bbox_xywh, components,
                    length_mm, mean_width_mm, max_width_mm, area_mm2 (None without calibration),
                    chain_length_px, removed_components, removed_px, off_ground_px, parts (one dict per
                    component), too_large (crack pixels above max_area_fraction of the frame: area only,
                    length, widths and branches None); the sidecar gets all of it, plus method and mask_size

The mask is measured at the working image's resolution as captured (not undistorted): a
calibration maps any frame size with the calibrated aspect ratio (it scales its intrinsics), so a
reduced-scale JPEG decode measures correctly in mm and pixel values refer to `mask_size`. When
calib raises on a frame (it must not stop the recording), that frame gets the pixel measurement
(area, bbox, components) and the failure is counted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

from calib.calibration import Calibration
from calib.measure import MAX_AREA_FRACTION, measure_crack
from crackedge.errors import ConfigError, CrackedgeError

log = logging.getLogger(__name__)

MM_FIELDS = ("length_mm", "mean_width_mm", "max_width_mm", "area_mm2")


def pixel_measurement(mask: np.ndarray, min_component_px: int = 20) -> dict[str, Any]:
    """Area, bounding box and component count of a HxW {0,1} mask (components smaller than
    `min_component_px` ignored); length/width fields are None."""
    m = (mask > 0).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_component_px]
    area = int(sum(int(stats[i, cv2.CC_STAT_AREA]) for i in keep))
    if keep:
        x0 = min(int(stats[i, cv2.CC_STAT_LEFT]) for i in keep)
        y0 = min(int(stats[i, cv2.CC_STAT_TOP]) for i in keep)
        x1 = max(int(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH]) for i in keep)
        y1 = max(int(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT]) for i in keep)
        bbox = [x0, y0, x1 - x0, y1 - y0]
    else:
        bbox = None
    out: dict[str, Any] = {
        "area_px": area,
        "bbox_xywh": bbox,
        "components": len(keep),
        "length_px": None,
        "mean_width_px": None,
        "max_width_px": None,
        "branches": None,
    }
    out.update({k: None for k in MM_FIELDS})
    return out


class Measurer:
    """Measures crack masks with calib (in mm when a calibration file is given, else in pixels)."""

    method = "calib"

    def __init__(self, calib_path: Optional[Path] = None, min_component_px: int = 20,
                 max_crack_fraction: float = MAX_AREA_FRACTION) -> None:
        self.min_component_px = min_component_px
        self.max_crack_fraction = max_crack_fraction
        self.calibration: Any = None
        if calib_path is not None:
            calib_path = Path(calib_path)
            if not calib_path.is_file():
                raise ConfigError(f"measure.calib: calibration file not found: {calib_path} (run `calib` to make one)")
            self.calibration = self._load_calibration(calib_path)
        self.failures = 0

    @staticmethod
    def _load_calibration(path: Path) -> Any:
        try:
            return Calibration.load(path)
        except CrackedgeError:
            raise
        except Exception as err:
            raise ConfigError(f"measure.calib: cannot load calibration {path}: {err}") from None

    @property
    def has_mm(self) -> bool:
        return self.calibration is not None

    def measure(self, mask: np.ndarray) -> dict[str, Any]:
        """Measure a HxW {0,1} crack mask (the frame as captured). Returns a JSON-ready dict."""
        try:
            result = measure_crack(mask, self.calibration, min_component_px=self.min_component_px,
                                   max_area_fraction=self.max_crack_fraction).to_dict()
            result = {k: _jsonable(v) for k, v in result.items()}
            result["method"] = "calib"
        except Exception as err:  # a measurement problem must not stop the vehicle's recording
            self.failures += 1
            if self.failures <= 3 or self.failures % 100 == 0:
                log.warning("calib.measure failed (%s; %d time(s)); pixel measurement for this frame", err, self.failures)
            result = pixel_measurement(mask, self.min_component_px)
            result["method"] = "pixels"
        result["mask_size"] = [int(mask.shape[1]), int(mask.shape[0])]
        return result


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def caption_lines(t_wall: float, crack_ratio: float, measurement: dict[str, Any], extra: str = "") -> list[str]:
    """Caption for the annotated frame: time, crack area, and length/width in mm when known."""
    import datetime as _dt

    stamp = _dt.datetime.fromtimestamp(t_wall).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    lines = [stamp, f"crack {100 * crack_ratio:.2f}% ({measurement.get('area_px', 0)} px){extra}"]
    if measurement.get("length_mm") is not None:
        mean_w = measurement.get("mean_width_mm")
        max_w = measurement.get("max_width_mm")
        parts = [f"length {measurement['length_mm']:.0f} mm"]
        if mean_w is not None:
            parts.append(f"width {mean_w:.1f} mm")
        if max_w is not None:
            parts.append(f"max {max_w:.1f} mm")
        lines.append("  ".join(parts))
    return lines
