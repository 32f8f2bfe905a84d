"""`calib ground`: the three ways to get the image -> road homography, each returning a `Ground`.

- pose: camera height above the road and pitch (roll, yaw optional) + the intrinsics;
- target: a photo of the checkerboard lying flat on the road (intrinsics optional but recommended);
- points: four or more image points with known road coordinates in mm (a YAML file).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np
from pydantic import Field

from calib.board import BoardSpec, detect_corners, suggest_board_sizes
from calib.calibration import Calibration
from calib.ground import (
    apply_homography,
    homography_from_points,
    homography_from_pose,
    orient_ground_axes,
    shift_ground_origin,
)
from calib.schema import Ground, GroundPoint, GroundPose, ScaleSample
from crackedge.config import StrictModel, load_config
from crackedge.errors import ConfigError, DataError

# A target covering less than this fraction of the image gives a scale that is extrapolated far.
TARGET_SMALL_FRACTION = 0.03
FIT_RMS_WARN_MM = 1.0


class PointsFile(StrictModel):
    """`--points FILE`: image pixels (raw camera frame) with their road coordinates in mm."""

    image_size: Optional[Tuple[int, int]] = Field(default=None, description="(width, height); required without --camera")
    image: Optional[str] = Field(default=None, description="the photo the pixels were read from (for the record)")
    points: List[GroundPoint] = Field(min_length=4)


def base_calibration(camera: Optional[Calibration], image_size: Optional[Tuple[int, int]]) -> Calibration:
    """A calibration carrying the camera's intrinsics (or none) at the right image size."""
    if camera is not None:
        return Calibration.create(camera.image_size, intrinsics=camera.data.intrinsics)
    if image_size is None:
        raise ConfigError("without --camera the image size must be known (it comes from the target image or the "
                          "points file's image_size)")
    return Calibration.create(image_size)


def scale_samples(cal: Calibration) -> List[ScaleSample]:
    """mm per pixel at the image centre and at the middle of the top and bottom rows."""
    w, h = cal.image_size
    out = []
    cx = (w - 1) / 2.0
    for where, x, y in (("centre", cx, (h - 1) / 2.0), ("top row", cx, 0.0), ("bottom row", cx, h - 1.0)):
        s = cal.mm_per_pixel_at(x, y)
        out.append(ScaleSample(where=where, x=float(x), y=float(y), mm_per_px=float(s) if np.isfinite(s) else None))
    return out


def _finish(cal: Calibration, ground: Ground) -> Calibration:
    cal.data.ground = ground
    ground.scale = scale_samples(cal)
    if any(s.mm_per_px is None for s in ground.scale):
        ground.warnings.append("the top of the image sees the horizon or sky: cracks there cannot be measured in mm")
    return cal


def ground_from_pose(camera: Calibration, height_mm: float, pitch_deg: float, roll_deg: float = 0.0,
                     yaw_deg: float = 0.0) -> Calibration:
    """Calibration with intrinsics + the ground homography of a camera at a known pose."""
    if camera is None or not camera.has_intrinsics():
        raise ConfigError("the pose mode needs the camera intrinsics: pass --camera camera.yaml (from `calib camera`)")
    cal = base_calibration(camera, None)
    h = homography_from_pose(cal.camera_matrix, height_mm, pitch_deg, roll_deg, yaw_deg)
    pose = GroundPose(height_mm=height_mm, pitch_deg=pitch_deg, roll_deg=roll_deg, yaw_deg=yaw_deg)
    ground = Ground(homography=h.tolist(), method="pose", pose=pose)
    return _finish(cal, ground)


def ground_from_target(camera: Optional[Calibration], image_path: Path, board: BoardSpec) -> Calibration:
    """Calibration whose ground comes from a photo of `board` lying flat on the road.

    Ground axes: X along the image rows (right), Y up the image (away from the camera), origin at
    the board corner lowest in the image.
    """
    image_path = Path(image_path)
    gray = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise DataError(f"target image not found or unreadable: {image_path}")
    size = (int(gray.shape[1]), int(gray.shape[0]))
    cal = base_calibration(camera, size)
    corners = detect_corners(gray, board)
    if corners is None:
        other = suggest_board_sizes(gray, board)
        hint = f" A {' or '.join(other)} board was found: did you mean --board {other[0]}?" if other else ""
        raise DataError(
            f"no {board.cols}x{board.rows} board found in {image_path} (--board counts INNER corners).{hint} "
            "The whole board must be in view, flat on the road, and in focus."
        )
    px = cal.undistort_points(corners, size)
    obj = board.object_points()[:, :2].astype(np.float64)
    h, rms = homography_from_points(px, obj)
    h = orient_ground_axes(h, cal.image_size)
    outer = [0, board.cols - 1, board.n_corners - board.cols, board.n_corners - 1]
    nearest = outer[int(np.argmax(px[outer, 1]))]
    h = shift_ground_origin(h, apply_homography(h, px[nearest:nearest + 1])[0])
    warnings = []
    if camera is None:
        warnings.append("no --camera given: lens distortion is ignored, mm values are less accurate away from the target")
    hull = cv2.convexHull(corners.astype(np.float32))
    frac = cv2.contourArea(hull) / float(size[0] * size[1])
    if frac < TARGET_SMALL_FRACTION:
        warnings.append(f"the target covers only {100 * frac:.1f}% of the image; the scale elsewhere is extrapolated "
                        "(use a bigger board, or photograph it closer to the middle of the measuring area)")
    if rms > FIT_RMS_WARN_MM:
        warnings.append(f"the target corners fit a plane only to {rms:.2f} mm RMS: is the board flat and --square-mm right?")
    ground = Ground(homography=h.tolist(), method="target", source=str(image_path), board=board.to_info(),
                    fit_rms_mm=rms, warnings=warnings)
    return _finish(cal, ground)


def ground_from_points(camera: Optional[Calibration], points_path: Path) -> Calibration:
    """Calibration whose ground comes from pixel <-> mm point pairs in a YAML file (PointsFile)."""
    spec = load_config(points_path, PointsFile)
    if camera is not None and spec.image_size is not None:
        camera.frame_scale(spec.image_size)  # DataError when the aspect ratio differs
    cal = base_calibration(camera, spec.image_size)
    frame = spec.image_size or cal.image_size
    px = cal.undistort_points(np.array([p.pixel for p in spec.points], dtype=np.float64), frame)
    mm = np.array([p.ground_mm for p in spec.points], dtype=np.float64)
    try:
        h, rms = homography_from_points(px, mm)
    except DataError as err:
        raise DataError(f"{points_path}: {err}") from None
    warnings = []
    if len(spec.points) == 4:
        warnings.append("exactly 4 points fit any homography exactly, so their accuracy cannot be checked; add more points")
    if rms > FIT_RMS_WARN_MM * 5:
        warnings.append(f"the points fit a plane only to {rms:.1f} mm RMS; check each pixel/mm pair")
    if camera is None:
        warnings.append("no --camera given: lens distortion is ignored")
    ground = Ground(homography=h.tolist(), method="points", source=str(points_path), points=list(spec.points),
                    fit_rms_mm=rms, warnings=warnings)
    return _finish(cal, ground)
