"""The road surface as a plane: homographies from undistorted image pixels to ground millimetres.

Ground coordinates (mm): X to the right, Y forward (away from the camera along the road), on the
road surface. For a pose, the origin is the point of the road directly below the camera; for a
target, it is the target corner nearest the camera (lowest in the image).

Camera pose angles (degrees):
- pitch: tilt of the optical axis below the horizon; 90 = looking straight down (top-down camera,
  image top = forward), 30 = looking ahead and down.
- roll: rotation about the optical axis; positive = camera turned clockwise as seen from behind it.
- yaw: rotation about the vertical; positive = camera turned to the left (seen from above).

A homography H (3x3) maps [u, v, 1] (undistorted pixels) to w * [X, Y, 1]. Its sign is chosen so
that w > 0 for pixels that see the ground in front of the camera; pixels with w <= 0 look at or
above the horizon and have no ground point (NaN).
"""

from __future__ import annotations

import cv2
import numpy as np

from crackedge.errors import DataError


def rotation_world_from_camera(pitch_deg: float, roll_deg: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """3x3 rotation whose columns are the camera's x (right), y (down), z (optical axis) in ground axes."""
    p, r, y = np.deg2rad([pitch_deg, roll_deg, yaw_deg])
    # Camera looking forward along +Y, level: x_c = +X, y_c = -Z (down), z_c = +Y.
    level = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(p), np.sin(p)], [0.0, -np.sin(p), np.cos(p)]])  # about X by -pitch
    turn = np.array([[np.cos(y), -np.sin(y), 0.0], [np.sin(y), np.cos(y), 0.0], [0.0, 0.0, 1.0]])  # about Z (up)
    spin = np.array([[np.cos(r), -np.sin(r), 0.0], [np.sin(r), np.cos(r), 0.0], [0.0, 0.0, 1.0]])  # about z_c
    return turn @ tilt @ level @ spin


def ground_to_image_from_pose(camera_matrix: np.ndarray, height_mm: float, pitch_deg: float,
                              roll_deg: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """3x3 homography ground mm [X, Y, 1] -> undistorted pixels, for a camera `height_mm` above the origin."""
    r_wc = rotation_world_from_camera(pitch_deg, roll_deg, yaw_deg)
    r_cw = r_wc.T
    centre = np.array([0.0, 0.0, float(height_mm)])
    t = -r_cw @ centre
    return np.asarray(camera_matrix, dtype=np.float64) @ np.column_stack([r_cw[:, 0], r_cw[:, 1], t])


def homography_from_pose(camera_matrix: np.ndarray, height_mm: float, pitch_deg: float,
                         roll_deg: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """3x3 homography undistorted pixels -> ground mm for a camera at a known height and angles."""
    if height_mm <= 0:
        raise DataError(f"camera height must be positive, got {height_mm} mm (--height-mm)")
    if not 0.0 < pitch_deg <= 90.0:
        raise DataError(
            f"pitch must be in (0, 90] degrees below the horizon, got {pitch_deg} (--pitch-deg; 90 = looking straight down)"
        )
    h = np.linalg.inv(ground_to_image_from_pose(camera_matrix, height_mm, pitch_deg, roll_deg, yaw_deg))
    return h / np.linalg.norm(h)  # w = 1 / depth > 0 in front of the camera already


def apply_homography(h: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """Map Nx2 points through H; points whose homogeneous w <= 0 (no ground there) become NaN."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    hom = pts @ h[:, :2].T + h[:, 2]
    w = hom[:, 2:3]
    out = np.full((pts.shape[0], 2), np.nan)
    ok = w[:, 0] > 1e-12 * np.abs(hom[:, :2]).max(axis=1, initial=1.0)
    out[ok] = hom[ok, :2] / w[ok]
    return out


def fix_homography_sign(h: np.ndarray, pixels_on_ground: np.ndarray) -> np.ndarray:
    """Scale H to unit norm and choose its sign so that w > 0 at pixels known to see the ground."""
    h = np.asarray(h, dtype=np.float64) / np.linalg.norm(h)
    pts = np.asarray(pixels_on_ground, dtype=np.float64).reshape(-1, 2)
    w = pts @ h[2, :2] + h[2, 2]
    return -h if np.median(w) < 0 else h


def homography_from_points(pixels: np.ndarray, ground_mm: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares homography undistorted pixels (Nx2) -> ground mm (Nx2), N >= 4.

    Returns (H, rms_mm): the RMS distance between the given ground points and the mapped pixels.
    Raises DataError for fewer than 4 points or a degenerate (collinear) configuration.
    """
    px = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    mm = np.asarray(ground_mm, dtype=np.float64).reshape(-1, 2)
    if px.shape[0] < 4 or px.shape[0] != mm.shape[0]:
        raise DataError(f"a ground homography needs at least 4 matching points, got {px.shape[0]} pixel "
                        f"and {mm.shape[0]} ground points")
    for name, pts in (("pixel", px), ("ground", mm)):
        centred = pts - pts.mean(axis=0)
        sv = np.linalg.svd(centred, compute_uv=False)
        if sv[1] < 1e-6 * max(sv[0], 1e-12):
            raise DataError(f"the {name} points are (nearly) on one line; use points spread over an area, not along a line")
    h, _ = cv2.findHomography(px, mm, 0)
    if h is None:
        raise DataError("no homography fits these points; check that each pixel point matches its ground point")
    h = fix_homography_sign(h, px)
    fitted = apply_homography(h, px)
    rms = float(np.sqrt(np.nanmean(np.sum((fitted - mm) ** 2, axis=1))))
    return h, rms


def orient_ground_axes(h: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Relabel ground axes (flips/swap, an isometry) so that Y grows up the image and X to the right.

    A target's own axes depend on which corner the detector started from. Only the axis directions
    change here (an isometry), so lengths and widths are unaffected; move the origin with
    `shift_ground_origin`.
    """
    w, hgt = image_size
    cx, cy = (w - 1) / 2.0, (hgt - 1) / 2.0
    probe = apply_homography(h, np.array([[cx, cy], [cx + 1.0, cy], [cx, cy - 1.0]]))
    if np.isnan(probe).any():
        return h
    right = probe[1] - probe[0]
    up = probe[2] - probe[0]
    # Choose the axis permutation + signs making X follow "right" and Y follow "up".
    best, best_score = None, -np.inf
    for swap in (False, True):
        for sx in (1.0, -1.0):
            for sy in (1.0, -1.0):
                m = np.array([[0.0, 1.0], [1.0, 0.0]]) if swap else np.eye(2)
                m = np.diag([sx, sy]) @ m
                score = (m @ right)[0] / np.linalg.norm(right) + (m @ up)[1] / np.linalg.norm(up)
                if score > best_score:
                    best, best_score = m, score
    relabel = np.eye(3)
    relabel[:2, :2] = best
    return relabel @ h


def shift_ground_origin(h: np.ndarray, origin_mm: np.ndarray) -> np.ndarray:
    """H whose ground coordinates are relative to `origin_mm` (X, Y) of the old coordinates."""
    shift = np.eye(3)
    shift[:2, 2] = -np.asarray(origin_mm, dtype=np.float64)
    out = shift @ h
    return out / np.linalg.norm(out)


def horizon_row(h: np.ndarray, x: float) -> float | None:
    """Row (undistorted pixels) at column x where w = 0, i.e. the horizon line; None if horizontal w."""
    a, b, c = h[2]
    if abs(b) < 1e-15:
        return None
    return float(-(a * x + c) / b)
