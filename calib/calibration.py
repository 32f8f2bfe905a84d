"""`Calibration`: the loaded calibration file, with undistortion and pixel -> ground-mm mapping.

Used by `edge` for every frame, so the expensive parts (undistortion maps, the per-pixel area map)
are built once per frame size and cached.

Frames of another size than the calibrated `image_size` are accepted when the aspect ratio is the
same (within 1 %): the camera matrix is scaled, as for a camera mode that bins or resizes the
sensor image. Any other size is a DataError that names both sizes.

Points passed to the mapping methods are frame pixels of the raw (distorted) camera frame unless
`undistorted=True`, meaning they come from a frame already passed through `undistort()`.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np
import yaml

from calib.camera_model import scale_camera_matrix, undistort_points
from calib.ground import apply_homography
from calib.schema import CALIB_FORMAT, CalibrationFile, Ground, Intrinsics
from crackedge.config import load_config
from crackedge.errors import ConfigError, DataError
from crackedge.fileio import atomic_write_text

FrameSize = Tuple[int, int]
ASPECT_TOLERANCE = 0.01
# Step (frame pixels) of the finite differences that give the local Jacobian of pixel -> mm.
JACOBIAN_STEP_PX = 0.5
# Grid step (frame pixels) of the coarse area-scale map interpolated to full resolution.
AREA_GRID_STEP_PX = 8


class Calibration:
    """A calibration file in memory. Build with `load(path)` or `Calibration(CalibrationFile(...))`."""

    def __init__(self, data: CalibrationFile, source: Optional[str] = None):
        self.data = data
        self.source = source or "<calibration>"
        self._maps: dict[FrameSize, tuple[np.ndarray, np.ndarray]] = {}
        self._area_maps: dict[tuple[FrameSize, bool], np.ndarray] = {}

    # ---------------------------------------------------------------- file I/O
    @classmethod
    def load(cls, path) -> "Calibration":
        """Read and validate a calibration YAML file; ConfigError naming the file and key otherwise."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"calibration file not found: {path} (create one with `calib camera` and `calib ground`, "
                "or pass the right path)"
            )
        return cls(load_config(path, CalibrationFile), source=str(path))

    def save(self, path) -> None:
        """Write the calibration as YAML, atomically (a crash leaves the old file or the new one)."""
        if self.data.created is None:
            self.data.created = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        text = yaml.safe_dump(self.data.model_dump(mode="json"), sort_keys=False, default_flow_style=None, width=110)
        atomic_write_text(Path(path), f"# crackedge camera calibration ({CALIB_FORMAT}); see docs/calib.md\n" + text)

    @classmethod
    def create(cls, image_size: FrameSize, intrinsics: Optional[Intrinsics] = None,
               ground: Optional[Ground] = None, notes: Optional[str] = None) -> "Calibration":
        data = CalibrationFile(format=CALIB_FORMAT, image_size=(int(image_size[0]), int(image_size[1])),
                               intrinsics=intrinsics, ground=ground, notes=notes)
        return cls(data)

    # ---------------------------------------------------------------- properties
    @property
    def image_size(self) -> FrameSize:
        """(width, height) in pixels the camera was calibrated at."""
        return (int(self.data.image_size[0]), int(self.data.image_size[1]))

    def has_intrinsics(self) -> bool:
        return self.data.intrinsics is not None

    def has_ground(self) -> bool:
        return self.data.ground is not None

    @property
    def camera_matrix(self) -> Optional[np.ndarray]:
        """3x3 K at the calibrated image size, or None without intrinsics."""
        if self.data.intrinsics is None:
            return None
        return np.asarray(self.data.intrinsics.camera_matrix, dtype=np.float64)

    @property
    def dist_coeffs(self) -> Optional[np.ndarray]:
        if self.data.intrinsics is None:
            return None
        return np.asarray(self.data.intrinsics.dist_coeffs, dtype=np.float64)

    @property
    def homography(self) -> np.ndarray:
        """3x3 undistorted pixel (calibrated size) -> ground mm. ConfigError without a ground section."""
        if self.data.ground is None:
            raise ConfigError(
                f"{self.source}: no 'ground' section, so pixels cannot be converted to mm; "
                "run `calib ground` to add one (see docs/calib.md)"
            )
        return np.asarray(self.data.ground.homography, dtype=np.float64)

    # ---------------------------------------------------------------- frame sizes
    def frame_scale(self, frame_size: Optional[FrameSize]) -> tuple[float, float]:
        """(sx, sy) = frame size / calibrated size; DataError when the aspect ratio differs."""
        cw, ch = self.image_size
        if frame_size is None:
            return 1.0, 1.0
        fw, fh = int(frame_size[0]), int(frame_size[1])
        if (fw, fh) == (cw, ch):
            return 1.0, 1.0
        sx, sy = fw / cw, fh / ch
        if abs(sx - sy) > ASPECT_TOLERANCE * max(sx, sy):
            raise DataError(
                f"frame size {fw}x{fh} (aspect {fw / fh:.3f}) does not match the calibration {self.source}, "
                f"made at {cw}x{ch} (aspect {cw / ch:.3f}); use a camera mode with the calibrated aspect "
                f"ratio, or recalibrate at {fw}x{fh} with `calib camera`"
            )
        return sx, sy

    def camera_matrix_for(self, frame_size: Optional[FrameSize]) -> Optional[np.ndarray]:
        """K scaled to `frame_size` (same aspect ratio), or None without intrinsics."""
        k = self.camera_matrix
        if k is None:
            return None
        sx, sy = self.frame_scale(frame_size)
        return k if (sx, sy) == (1.0, 1.0) else scale_camera_matrix(k, sx, sy)

    def _to_calibrated(self, points_xy: np.ndarray, frame_size: Optional[FrameSize]) -> np.ndarray:
        pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        sx, sy = self.frame_scale(frame_size)
        if (sx, sy) == (1.0, 1.0):
            return pts
        return (pts + 0.5) / np.array([sx, sy]) - 0.5

    # ---------------------------------------------------------------- undistortion
    def undistort(self, image: np.ndarray) -> np.ndarray:
        """Undistorted copy of a frame (HxW or HxWxC), same size; maps built once per frame size.

        Without intrinsics the frame is returned unchanged.
        """
        if self.data.intrinsics is None:
            return image
        size = (int(image.shape[1]), int(image.shape[0]))
        maps = self._maps.get(size)
        if maps is None:
            k = self.camera_matrix_for(size)
            maps = cv2.initUndistortRectifyMap(k, self.dist_coeffs, None, k, size, cv2.CV_16SC2)
            self._maps[size] = maps
        return cv2.remap(image, maps[0], maps[1], interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def undistort_points(self, points_xy: np.ndarray, frame_size: Optional[FrameSize] = None) -> np.ndarray:
        """Raw frame pixels (Nx2) -> undistorted pixels at the calibrated size (Nx2)."""
        pts = self._to_calibrated(points_xy, frame_size)
        if self.data.intrinsics is None:
            return pts
        return undistort_points(pts, self.camera_matrix, self.dist_coeffs)

    # ---------------------------------------------------------------- ground mapping
    def pixel_to_ground_mm(self, points_xy: np.ndarray, frame_size: Optional[FrameSize] = None,
                           undistorted: bool = False) -> np.ndarray:
        """Frame pixels (Nx2, x then y) -> ground mm (Nx2, X then Y); NaN where no ground is seen.

        frame_size: (width, height) of the frame the points come from (None: the calibrated size).
        undistorted: the points come from a frame already passed through `undistort()`.
        """
        h = self.homography
        if undistorted:
            pts = self._to_calibrated(points_xy, frame_size)
        else:
            pts = self.undistort_points(points_xy, frame_size)
        return apply_homography(h, pts)

    def jacobians(self, points_xy: np.ndarray, frame_size: Optional[FrameSize] = None,
                  undistorted: bool = False) -> np.ndarray:
        """Local linear map frame pixel offsets -> ground mm offsets at each point, Nx2x2.

        J[:, :, 0] is d(X, Y)/dx and J[:, :, 1] is d(X, Y)/dy (central differences). NaN off the ground.
        """
        pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        s = JACOBIAN_STEP_PX
        n = pts.shape[0]
        probes = np.concatenate([pts + [s, 0], pts - [s, 0], pts + [0, s], pts - [0, s]])
        g = self.pixel_to_ground_mm(probes, frame_size, undistorted)
        dx = (g[:n] - g[n:2 * n]) / (2 * s)
        dy = (g[2 * n:3 * n] - g[3 * n:]) / (2 * s)
        return np.stack([dx, dy], axis=2)

    def mm_per_pixel_at(self, x: float, y: float, frame_size: Optional[FrameSize] = None,
                        undistorted: bool = False) -> float:
        """Local isotropic scale at frame pixel (x, y): sqrt(ground area of one pixel) in mm.

        Under perspective a pixel covers a parallelogram on the road, longer along the viewing
        direction; this is the side of the square with the same area. NaN above the horizon.
        """
        j = self.jacobians(np.array([[x, y]]), frame_size, undistorted)[0]
        return float(np.sqrt(abs(j[0, 0] * j[1, 1] - j[0, 1] * j[1, 0])))

    def area_map(self, frame_size: FrameSize, undistorted: bool = False) -> np.ndarray:
        """HxW float32: ground area in mm^2 of each frame pixel (0 where no ground is seen); cached.

        Evaluated on a grid every AREA_GRID_STEP_PX pixels and interpolated bilinearly.
        """
        key = ((int(frame_size[0]), int(frame_size[1])), bool(undistorted))
        cached = self._area_maps.get(key)
        if cached is not None:
            return cached
        fw, fh = key[0]
        gx = np.linspace(0, fw - 1, max(2, int(np.ceil((fw - 1) / AREA_GRID_STEP_PX)) + 1))
        gy = np.linspace(0, fh - 1, max(2, int(np.ceil((fh - 1) / AREA_GRID_STEP_PX)) + 1))
        xx, yy = np.meshgrid(gx, gy)
        j = self.jacobians(np.stack([xx.ravel(), yy.ravel()], axis=1), key[0], undistorted)
        det = np.abs(j[:, 0, 0] * j[:, 1, 1] - j[:, 0, 1] * j[:, 1, 0]).reshape(xx.shape)
        det = np.nan_to_num(det, nan=0.0).astype(np.float32)
        # Grid node i sits at frame pixel i * (fw - 1) / (nx - 1); interpolate at exactly those positions.
        map_x = np.broadcast_to(np.arange(fw, dtype=np.float32) * ((gx.size - 1) / max(fw - 1, 1)), (fh, fw))
        map_y = np.broadcast_to((np.arange(fh, dtype=np.float32) * ((gy.size - 1) / max(fh - 1, 1)))[:, None], (fh, fw))
        full = cv2.remap(det, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
        self._area_maps[key] = full
        return full
