"""The calibration file (`format: crackedge-calib/1`), one YAML file that `edge` loads.

    format: crackedge-calib/1
    image_size: [1280, 720]          # width, height in pixels the camera was calibrated at
    intrinsics:                      # from `calib camera` (null: no lens model, pixels used as they are)
      camera_matrix: [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
      dist_coeffs: [k1, k2, p1, p2, k3]   # OpenCV order; 4, 5, 8, 12 or 14 values
      rms_px: 0.21                   # RMS reprojection error of the checkerboard corners
      ...                            # how it was obtained: board, images, per-image errors, rejects
    ground:                          # from `calib ground` (null: no mm measurements)
      homography: [[...], [...], [...]]   # undistorted pixel [u, v, 1] -> w * [X_mm, Y_mm, 1], w > 0 on the ground
      method: pose | target | points
      ...                            # pose, target or points used, fit error, scale at a few rows

Pixel coordinates are OpenCV's (centre of the top-left pixel = (0, 0)). When `intrinsics` is null
the homography works on raw pixels.
"""

from __future__ import annotations

from typing import Dict, List, Literal, Optional, Tuple

import numpy as np
from pydantic import Field, field_validator

from crackedge.config import StrictModel

CALIB_FORMAT = "crackedge-calib/1"
DIST_COEFF_COUNTS = (4, 5, 8, 12, 14)


def _check_3x3(value: List[List[float]], what: str) -> List[List[float]]:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (3, 3):
        raise ValueError(f"{what} must be a 3x3 list of rows, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains non-finite values")
    return value


class BoardInfo(StrictModel):
    """A checkerboard: inner corners per row (cols) and per column (rows), square side in mm."""

    cols: int = Field(ge=2, description="inner corners along a row (squares per row - 1)")
    rows: int = Field(ge=2, description="inner corners along a column (squares per column - 1)")
    square_mm: float = Field(gt=0)


class ImageError(StrictModel):
    image: str
    rms_px: float = Field(ge=0)


class RejectedImage(StrictModel):
    image: str
    reason: str


class Intrinsics(StrictModel):
    """Camera matrix and lens distortion (OpenCV model) and how they were obtained."""

    camera_matrix: List[List[float]]
    dist_coeffs: List[float]
    method: Literal["checkerboard", "manual"] = "checkerboard"
    rms_px: Optional[float] = Field(default=None, ge=0, description="RMS reprojection error over all corners")
    board: Optional[BoardInfo] = None
    distortion_model: Optional[str] = None
    images_used: Optional[int] = Field(default=None, ge=0)
    per_image_rms_px: List[ImageError] = Field(default_factory=list)
    rejected: List[RejectedImage] = Field(default_factory=list)
    coverage: Optional[float] = Field(default=None, ge=0, le=1, description="image area spanned by the boards")
    std_dev: Optional[Dict[str, float]] = Field(default=None, description="1-sigma uncertainty of fx, fy, cx, cy (px)")
    warnings: List[str] = Field(default_factory=list)

    @field_validator("camera_matrix")
    @classmethod
    def _k_ok(cls, v: List[List[float]]) -> List[List[float]]:
        _check_3x3(v, "camera_matrix")
        k = np.asarray(v, dtype=np.float64)
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise ValueError("camera_matrix focal lengths fx (row 0) and fy (row 1) must be positive")
        if not np.allclose(k[2], [0.0, 0.0, 1.0]) or k[1, 0] != 0:
            raise ValueError("camera_matrix must look like [[fx, s, cx], [0, fy, cy], [0, 0, 1]]")
        return v

    @field_validator("dist_coeffs")
    @classmethod
    def _dist_ok(cls, v: List[float]) -> List[float]:
        if len(v) not in DIST_COEFF_COUNTS:
            raise ValueError(f"dist_coeffs must have 4, 5, 8, 12 or 14 values (OpenCV order k1 k2 p1 p2 [k3 ...]), got {len(v)}")
        if not np.all(np.isfinite(v)):
            raise ValueError("dist_coeffs contains non-finite values")
        return v


class GroundPose(StrictModel):
    height_mm: float = Field(gt=0, description="optical centre above the road surface")
    pitch_deg: float = Field(gt=0, le=90, description="optical axis below the horizon; 90 = straight down")
    roll_deg: float = 0.0
    yaw_deg: float = 0.0


class GroundPoint(StrictModel):
    pixel: Tuple[float, float]
    ground_mm: Tuple[float, float]


class ScaleSample(StrictModel):
    """mm per pixel at one image location (informational; recomputed by `calib show`)."""

    where: str
    x: float
    y: float
    mm_per_px: Optional[float] = None


class Ground(StrictModel):
    """Image -> road-surface mapping and how it was obtained."""

    homography: List[List[float]]
    method: Literal["pose", "target", "points"]
    pose: Optional[GroundPose] = None
    source: Optional[str] = Field(default=None, description="target image or points file used")
    board: Optional[BoardInfo] = None
    points: List[GroundPoint] = Field(default_factory=list)
    fit_rms_mm: Optional[float] = Field(default=None, ge=0)
    scale: List[ScaleSample] = Field(default_factory=list)
    warnings: List[str] = Field(default_factory=list)

    @field_validator("homography")
    @classmethod
    def _h_ok(cls, v: List[List[float]]) -> List[List[float]]:
        _check_3x3(v, "homography")
        h = np.asarray(v, dtype=np.float64)
        norm = np.linalg.norm(h)
        if norm == 0 or abs(np.linalg.det(h / norm)) < 1e-15:
            raise ValueError("homography is singular (not invertible); recompute it with `calib ground`")
        return v


class CalibrationFile(StrictModel):
    """The whole file. `format` must be exactly crackedge-calib/1."""

    format: Literal["crackedge-calib/1"]
    image_size: Tuple[int, int] = Field(description="(width, height) in pixels the calibration was made at")
    created: Optional[str] = None
    intrinsics: Optional[Intrinsics] = None
    ground: Optional[Ground] = None
    notes: Optional[str] = None

    @field_validator("image_size")
    @classmethod
    def _size_ok(cls, v: Tuple[int, int]) -> Tuple[int, int]:
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError(f"image_size must be [width, height] with positive values, got {list(v)}")
        return v
