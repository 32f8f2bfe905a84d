"""Adapter to the calib package's crack measurement, with a pixel-only fallback.

calib (written in parallel) provides:
    calib.calibration.Calibration.load(path)   camera intrinsics + ground-plane scale
    calib.measure.measure_crack(mask HxW, calibration | None, min_component_px=20) -> CrackMeasurement
        .to_dict(): area_px, length_px, mean_width_px, max_width_px, branches, bbox_xywh, components,
                    length_mm, mean_width_mm, max_width_mm, area_mm2 (None without calibration)

Both are imported lazily. When `calib.measure` is not importable, measurements are pixel-only
(area, bbox, components) and a warning is logged once. The mask is measured at the working image's
resolution as captured (not undistorted): a calibration maps any frame size with the calibrated
aspect ratio (it scales its intrinsics), so a reduced-scale JPEG decode measures correctly in mm
and pixel values refer to `mask_size`.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

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
    """Measures crack masks; `method` is 'calib' or 'pixels' (the fallback)."""

    def __init__(self, calib_path: Optional[Path] = None, min_component_px: int = 20) -> None:
        self.min_component_px = min_component_px
        self.calibration: Any = None
        self._measure_crack: Any = None
        try:
            self._measure_crack = importlib.import_module("calib.measure").measure_crack
        except (ImportError, AttributeError) as err:
            log.warning("calib.measure is not available (%s): measurements are pixel-only (area, bbox), no mm", err)
        if calib_path is not None:
            calib_path = Path(calib_path)
            if not calib_path.is_file():
                raise ConfigError(f"measure.calib: calibration file not found: {calib_path} (run `calib` to make one)")
            if self._measure_crack is None:
                log.warning("measure.calib is set but calib.measure is unavailable: no measurements in mm")
            else:
                self.calibration = self._load_calibration(calib_path)
        self.method = "calib" if self._measure_crack is not None else "pixels"
        self.failures = 0

    @staticmethod
    def _load_calibration(path: Path) -> Any:
        try:
            cls = importlib.import_module("calib.calibration").Calibration
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"measure.calib is set but calib.calibration cannot be imported: {err}") from None
        try:
            return cls.load(path)
        except CrackedgeError:
            raise
        except Exception as err:
            raise ConfigError(f"measure.calib: cannot load calibration {path}: {err}") from None

    @property
    def has_mm(self) -> bool:
        return self.calibration is not None

    def measure(self, mask: np.ndarray) -> dict[str, Any]:
        """Measure a HxW {0,1} crack mask (the frame as captured). Returns a JSON-ready dict."""
        grid = mask
        if self._measure_crack is not None:
            try:
                result = self._measure_crack(grid, self.calibration, min_component_px=self.min_component_px).to_dict()
                result = {k: _jsonable(v) for k, v in result.items()}
            except Exception as err:  # a measurement problem must not stop the vehicle's recording
                self.failures += 1
                if self.failures <= 3 or self.failures % 100 == 0:
                    log.warning("calib.measure failed (%s; %d time(s)); pixel measurement for this frame", err, self.failures)
                result = pixel_measurement(grid, self.min_component_px)
                result["method"] = "pixels"
                result["mask_size"] = [int(grid.shape[1]), int(grid.shape[0])]
                return result
            result["method"] = "calib"
        else:
            result = pixel_measurement(grid, self.min_component_px)
            result["method"] = "pixels"
        result["mask_size"] = [int(grid.shape[1]), int(grid.shape[0])]
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
