"""Checkerboard targets: the board spec (`9x6`, square size), its corner coordinates, detection.

A board is named by its INNER corners, as OpenCV does: a board of 10 x 7 squares has 9 x 6 inner
corners and is passed as `--board 9x6`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from calib.schema import BoardInfo
from crackedge.errors import DataError

# Boards are detected on an image at most this many pixels on its long side (then refined at full size).
DETECT_MAX_SIDE = 1600
# Images smaller than this on either side cannot show a usable board.
MIN_IMAGE_SIDE = 32


@dataclass(frozen=True)
class BoardSpec:
    """cols x rows inner corners, squares `square_mm` wide."""

    cols: int
    rows: int
    square_mm: float

    @property
    def pattern_size(self) -> tuple[int, int]:
        return (self.cols, self.rows)

    @property
    def n_corners(self) -> int:
        return self.cols * self.rows

    def label(self) -> str:
        return f"{self.cols}x{self.rows} inner corners, {self.square_mm:g} mm squares"

    def object_points(self) -> np.ndarray:
        """Corner coordinates on the board (N x 3 float32, mm, Z = 0), in OpenCV's detection order:
        row by row, `cols` corners per row."""
        xs, ys = np.meshgrid(np.arange(self.cols), np.arange(self.rows))
        pts = np.stack([xs.ravel(), ys.ravel(), np.zeros(self.n_corners)], axis=1) * [self.square_mm, self.square_mm, 1.0]
        return pts.astype(np.float32)

    def to_info(self) -> BoardInfo:
        return BoardInfo(cols=self.cols, rows=self.rows, square_mm=self.square_mm)


def parse_board(text: str, square_mm: float) -> BoardSpec:
    """Parse `COLSxROWS` (inner corners, e.g. "9x6"); DataError with the fix for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", str(text))
    if not m:
        raise DataError(
            f"board size {text!r} is not COLSxROWS; give the inner corners, e.g. --board 9x6 for a board of 10 x 7 squares"
        )
    cols, rows = int(m.group(1)), int(m.group(2))
    if cols < 2 or rows < 2:
        raise DataError(f"board {cols}x{rows}: need at least 2x2 inner corners (--board counts inner corners, not squares)")
    if not square_mm or square_mm <= 0:
        raise DataError(f"square size must be positive, got {square_mm} (--square-mm, measure the printed squares)")
    return BoardSpec(cols, rows, float(square_mm))


def detect_corners(gray: np.ndarray, board: BoardSpec) -> Optional[np.ndarray]:
    """Sub-pixel inner corners of `board` in a grey image: N x 2 float64 in detection order, or None.

    Tries OpenCV's sector-based detector (findChessboardCornersSB, robust to blur and lighting),
    first quickly, then exhaustively, then the classic detector; the corners are refined with
    cornerSubPix at full resolution (large images are searched downscaled).
    """
    h, w = gray.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        return None
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = gray if scale == 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    try:
        return _detect(gray, small, scale, board)
    except cv2.error:  # OpenCV asserts on degenerate images instead of returning "not found"
        return None


def _detect(gray: np.ndarray, small: np.ndarray, scale: float, board: BoardSpec) -> Optional[np.ndarray]:
    corners = None
    for flags in (cv2.CALIB_CB_NORMALIZE_IMAGE, cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE):
        found, corners = cv2.findChessboardCornersSB(small, board.pattern_size, flags=flags)
        if found:
            break
    else:
        flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
        found, corners = cv2.findChessboardCorners(small, board.pattern_size, flags=flags)
        if not found:
            return None
    corners = corners.reshape(-1, 1, 2).astype(np.float32)
    if scale != 1.0:
        corners = (corners + 0.5) / scale - 0.5
    # Refine at full resolution; the window is a third of the smallest corner spacing.
    pts = corners.reshape(board.rows, board.cols, 2)
    spacing = min(np.linalg.norm(np.diff(pts, axis=0), axis=2).min(), np.linalg.norm(np.diff(pts, axis=1), axis=2).min())
    win = int(np.clip(spacing / 3.0, 2, 11))
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)
    corners = cv2.cornerSubPix(gray, corners, (win, win), (-1, -1), criteria)
    return corners.reshape(-1, 2).astype(np.float64)


def suggest_board_sizes(gray: np.ndarray, board: BoardSpec) -> list[str]:
    """Other inner-corner counts near `board` that ARE found in the image (for an error message)."""
    found = []
    h, w = gray.shape[:2]
    scale = min(1.0, 800 / max(h, w))
    small = gray if scale == 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    candidates = {(board.cols + 1, board.rows + 1), (board.cols - 1, board.rows - 1),
                  (board.cols + 1, board.rows), (board.cols, board.rows + 1),
                  (board.cols - 1, board.rows), (board.cols, board.rows - 1)}
    for cols, rows in sorted(candidates):
        if cols < 2 or rows < 2:
            continue
        try:
            ok, _ = cv2.findChessboardCornersSB(small, (cols, rows), flags=cv2.CALIB_CB_NORMALIZE_IMAGE)
        except cv2.error:
            ok = False
        if ok:
            found.append(f"{cols}x{rows}")
    return found
