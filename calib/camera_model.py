"""The OpenCV pinhole + distortion camera model: point undistortion that works on OpenCV 4 and 5.

Pixel coordinates follow OpenCV: the centre of the top-left pixel is (0, 0), x to the right, y down.
"Undistorted pixels" are coordinates in the ideal pinhole image with the same camera matrix K and
size, the image that `cv2.initUndistortRectifyMap(K, dist, None, K, size, ...)` produces.
"""

from __future__ import annotations

import cv2
import numpy as np

# Enough iterations that strong barrel distortion in the image corners is inverted to ~1e-9 px
# (OpenCV's default of 5 leaves errors of several hundredths of a pixel there).
UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)


def undistort_points(points_xy: np.ndarray, camera_matrix: np.ndarray, dist_coeffs: np.ndarray) -> np.ndarray:
    """Distorted pixel coordinates (Nx2) -> undistorted pixel coordinates (Nx2 float64), same K."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 1, 2)
    if pts.shape[0] == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4.x
        out = cv2.undistortPointsIter(pts, camera_matrix, dist_coeffs, None, camera_matrix, UNDISTORT_CRITERIA)
    else:  # OpenCV 5 takes the criteria in undistortPoints itself
        out = cv2.undistortPoints(pts, camera_matrix, dist_coeffs, None, None, camera_matrix, UNDISTORT_CRITERIA)
    return out.reshape(-1, 2)


def distort_points(points_xy: np.ndarray, camera_matrix: np.ndarray, dist_coeffs: np.ndarray) -> np.ndarray:
    """Undistorted pixel coordinates (Nx2) -> distorted (observed) pixel coordinates (Nx2 float64)."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        return np.zeros((0, 2), dtype=np.float64)
    k_inv = np.linalg.inv(camera_matrix)
    rays = np.concatenate([pts, np.ones((pts.shape[0], 1))], axis=1) @ k_inv.T
    out, _ = cv2.projectPoints(rays.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), camera_matrix, dist_coeffs)
    return out.reshape(-1, 2)


def scale_camera_matrix(camera_matrix: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Camera matrix for the same camera with the image resized by (sx, sy).

    Pixel centres map as x' = (x + 0.5) * sx - 0.5, so the principal point moves accordingly.
    """
    k = np.array(camera_matrix, dtype=np.float64).copy()
    k[0, 0] *= sx
    k[0, 1] *= sx
    k[1, 1] *= sy
    k[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    k[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return k
