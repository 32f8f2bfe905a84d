"""Synthetic camera views with known geometry, for tests and self-checks of the calibration code.

- `render_board_view`: a checkerboard seen by a camera with known K, distortion and pose, rendered
  through the lens model at `supersample` x `supersample` samples per pixel (anti-aliased), with an
  uneven illumination and Gaussian noise.
- `render_ground_mask`: a crack of known shape on the road (given in ground mm) as the binary mask
  a perfect segmenter would produce in the distorted camera image (a pixel is crack when more
  than half of it sees the crack).

Rendering goes backwards: each (sub-)pixel is undistorted to a viewing ray and intersected with
the board or road plane, so the lens model is exactly OpenCV's.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import cv2
import numpy as np

from calib.board import BoardSpec
from calib.camera_model import UNDISTORT_CRITERIA

BLACK, WHITE, BACKGROUND = 35.0, 215.0, 120.0


@lru_cache(maxsize=4)
def _normalised_rays(k_bytes: bytes, d_bytes: bytes, size: tuple[int, int], supersample: int) -> np.ndarray:
    """(H*ss) x (W*ss) x 2 normalised undistorted coordinates of the sub-pixel sample points."""
    k = np.frombuffer(k_bytes, dtype=np.float64).reshape(3, 3)
    d = np.frombuffer(d_bytes, dtype=np.float64)
    w, h = size
    ss = supersample
    sub = (np.arange(ss) + 0.5) / ss - 0.5
    xs = (np.arange(w)[:, None] + sub[None, :]).ravel()
    ys = (np.arange(h)[:, None] + sub[None, :]).ravel()
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 1, 2)
    if hasattr(cv2, "undistortPointsIter"):
        out = cv2.undistortPointsIter(grid, k, d, None, None, UNDISTORT_CRITERIA)
    else:
        out = cv2.undistortPoints(grid, k, d, None, None, None, UNDISTORT_CRITERIA)
    return out.reshape(h * ss, w * ss, 2)


def rays_for(camera_matrix: np.ndarray, dist_coeffs: np.ndarray, image_size: tuple[int, int], supersample: int) -> np.ndarray:
    k = np.ascontiguousarray(camera_matrix, dtype=np.float64)
    d = np.ascontiguousarray(dist_coeffs, dtype=np.float64).ravel()
    return _normalised_rays(k.tobytes(), d.tobytes(), (int(image_size[0]), int(image_size[1])), int(supersample))


def plane_coordinates(rays: np.ndarray, plane_to_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersect normalised rays (..., 2) with a plane given by its 3x3 plane->normalised-camera map
    [r1 r2 t]. Returns (X, Y, valid) in plane units; valid where the plane is in front."""
    inv = np.linalg.inv(plane_to_camera)
    x, y = rays[..., 0], rays[..., 1]
    px = inv[0, 0] * x + inv[0, 1] * y + inv[0, 2]
    py = inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]
    pw = inv[2, 0] * x + inv[2, 1] * y + inv[2, 2]
    # inv([r1 r2 t]) [x, y, 1] = [X, Y, 1] / depth, so pw = 1 / depth is positive in front of the camera.
    valid = pw > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return px / pw, py / pw, valid


def _downsample(values: np.ndarray, supersample: int) -> np.ndarray:
    h, w = values.shape[0] // supersample, values.shape[1] // supersample
    return values.reshape(h, supersample, w, supersample).mean(axis=(1, 3))


def render_board_view(camera_matrix: np.ndarray, dist_coeffs: np.ndarray, image_size: tuple[int, int],
                      board: BoardSpec, rvec: np.ndarray, tvec: np.ndarray, supersample: int = 3,
                      noise_sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    """HxW uint8 grey image of `board` (with a one-square white margin) at pose (rvec, tvec) in mm."""
    rot, _ = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64))
    plane = np.column_stack([rot[:, 0], rot[:, 1], np.asarray(tvec, dtype=np.float64).ravel()])
    bx, by, valid = plane_coordinates(rays_for(camera_matrix, dist_coeffs, image_size, supersample), plane)
    sq = board.square_mm
    a = np.floor(bx / sq)
    b = np.floor(by / sq)
    # Squares a in [-1, cols-1], b in [-1, rows-1]; the corner (0, 0) is an inner corner.
    on_squares = (a >= -1) & (a <= board.cols - 1) & (b >= -1) & (b <= board.rows - 1)
    on_margin = (a >= -2) & (a <= board.cols) & (b >= -2) & (b <= board.rows)
    val = np.full(bx.shape, BACKGROUND)
    val[on_margin & valid] = WHITE
    dark = ((a + b) % 2 == 0) & on_squares & valid
    val[dark] = BLACK
    img = _downsample(val, supersample)
    rng = np.random.default_rng(seed)
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    gx, gy = rng.uniform(-0.25, 0.25, 2)
    light = 1.0 + gx * (xx - 0.5) + gy * (yy - 0.5)
    img = img * light + rng.normal(0.0, noise_sigma, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def board_poses(board: BoardSpec, camera_matrix: np.ndarray, image_size: tuple[int, int], n: int,
                seed: int = 0, fill: float = 0.45, max_tilt_deg: float = 35.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` varied poses (rvec, tvec) of the board that keep its margin inside the image.

    The board centre visits a grid over the image (corners included) so the views cover the frame;
    the distance makes the board span about `fill` of the image width.
    """
    rng = np.random.default_rng(seed)
    w, h = image_size
    k = np.asarray(camera_matrix, dtype=np.float64)
    size_mm = (board.cols + 3) * board.square_mm
    centre_local = np.array([(board.cols - 1) / 2.0, (board.rows - 1) / 2.0, 0.0]) * board.square_mm
    margin = np.array([[-2, -2, 0], [board.cols + 1, -2, 0], [-2, board.rows + 1, 0], [board.cols + 1, board.rows + 1, 0]],
                      dtype=np.float64) * board.square_mm
    targets = [(fx, fy) for fy in (0.25, 0.5, 0.75) for fx in (0.25, 0.5, 0.75)]
    poses: list[tuple[np.ndarray, np.ndarray]] = []
    attempts = 0
    while len(poses) < n and attempts < 200 * n:
        attempts += 1
        fx, fy = targets[len(poses) % len(targets)]
        u = (fx + rng.uniform(-0.12, 0.12)) * w
        v = (fy + rng.uniform(-0.12, 0.12)) * h
        z = k[0, 0] * size_mm / (fill * w) * rng.uniform(0.8, 1.25)
        ang = np.deg2rad([rng.uniform(-max_tilt_deg, max_tilt_deg), rng.uniform(-max_tilt_deg, max_tilt_deg),
                          rng.uniform(-25, 25)])
        rot = cv2.Rodrigues(ang)[0]
        ray = np.linalg.solve(k, [u, v, 1.0])
        tvec = ray * z - rot @ centre_local
        corners = (rot @ margin.T).T + tvec
        if np.any(corners[:, 2] <= 0):
            continue
        proj = (k @ (corners / corners[:, 2:3]).T).T[:, :2]
        if proj.min() < 4 or proj[:, 0].max() > w - 5 or proj[:, 1].max() > h - 5:
            continue
        poses.append((cv2.Rodrigues(rot)[0].ravel(), tvec))
    return poses


def render_ground_mask(camera_matrix: np.ndarray, dist_coeffs: np.ndarray, image_size: tuple[int, int],
                       ground_to_image: np.ndarray, inside: Callable[[np.ndarray, np.ndarray], np.ndarray],
                       supersample: int = 4) -> np.ndarray:
    """HxW bool mask of the ground region `inside(X_mm, Y_mm) -> bool array` seen by the camera.

    ground_to_image: 3x3 ground mm -> undistorted pixels (calib.ground.ground_to_image_from_pose).
    """
    k = np.asarray(camera_matrix, dtype=np.float64)
    plane = np.linalg.inv(k) @ ground_to_image  # ground mm -> normalised camera coordinates
    gx, gy, valid = plane_coordinates(rays_for(k, dist_coeffs, image_size, supersample), plane)
    hit = np.zeros(gx.shape, dtype=np.float64)
    hit[valid] = inside(gx[valid], gy[valid])
    return _downsample(hit, supersample) > 0.5


def arc_crack(centre_mm: tuple[float, float], radius_mm: float, start_deg: float, span_deg: float,
              width_mm: float) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], float]:
    """A curved crack: a circular arc band with flat ends. Returns (inside function, centreline length mm)."""
    cx, cy = centre_mm
    a0 = np.deg2rad(start_deg)
    span = np.deg2rad(span_deg)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = np.hypot(x - cx, y - cy)
        ang = np.mod(np.arctan2(y - cy, x - cx) - a0, 2 * np.pi)
        return (np.abs(r - radius_mm) <= width_mm / 2.0) & (ang <= span)

    return inside, radius_mm * span


def straight_crack(p0_mm: tuple[float, float], p1_mm: tuple[float, float], width_mm: float,
                   ) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], float]:
    """A straight crack with flat ends. Returns (inside function, centreline length mm)."""
    p0 = np.asarray(p0_mm, dtype=np.float64)
    d = np.asarray(p1_mm, dtype=np.float64) - p0
    length = float(np.linalg.norm(d))
    t = d / length

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        along = (x - p0[0]) * t[0] + (y - p0[1]) * t[1]
        across = -(x - p0[0]) * t[1] + (y - p0[1]) * t[0]
        return (np.abs(across) <= width_mm / 2.0) & (along >= 0) & (along <= length)

    return inside, length



def board_pose_on_ground(height_mm: float, pitch_deg: float, origin_mm: tuple[float, float], angle_deg: float = 0.0,
                         roll_deg: float = 0.0, yaw_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(rvec, tvec) of a board lying on the road, its corner (0, 0) at ground `origin_mm`, its
    x axis turned `angle_deg` from the ground X axis, seen by a camera at the given pose."""
    from calib.ground import rotation_world_from_camera

    r_cw = rotation_world_from_camera(pitch_deg, roll_deg, yaw_deg).T
    a = np.deg2rad(angle_deg)
    # Board axes in ground coordinates: x at angle a on the road, y perpendicular on the road, z down.
    r_wb = np.array([[np.cos(a), np.sin(a), 0.0], [np.sin(a), -np.cos(a), 0.0], [0.0, 0.0, -1.0]])
    centre = np.array([0.0, 0.0, float(height_mm)])
    rot = r_cw @ r_wb
    tvec = r_cw @ (np.array([origin_mm[0], origin_mm[1], 0.0]) - centre)
    return cv2.Rodrigues(rot)[0].ravel(), tvec
