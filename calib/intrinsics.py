"""Camera intrinsics and lens distortion from checkerboard photos (OpenCV's calibrateCamera).

Pipeline: list the photos -> detect the board in each (rejects named with the reason) -> check all
photos have one size -> calibrate -> drop photos whose reprojection error is far above the median
and calibrate again -> report RMS error, per-image errors, coverage of the frame and warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from calib.board import MIN_IMAGE_SIDE, BoardSpec, detect_corners, suggest_board_sizes
from calib.schema import ImageError, Intrinsics, RejectedImage
from crackedge.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
DISTORTION_MODELS = {
    "simple": cv2.CALIB_FIX_K3,  # k1 k2 p1 p2: narrow lenses, few photos
    "standard": 0,  # k1 k2 p1 p2 k3: most lenses
    "rational": cv2.CALIB_RATIONAL_MODEL,  # + k4 k5 k6: wide-angle lenses (~120 degrees), many photos
}
MIN_IMAGES = 3
RECOMMENDED_IMAGES = 10
COVERAGE_WARN = 0.5
OUTLIER_FACTOR = 3.0
OUTLIER_MIN_PX = 1.0
HIGH_RMS_PX = 1.0
CELL_NAMES = (("top-left", "top", "top-right"), ("left", "centre", "right"), ("bottom-left", "bottom", "bottom-right"))


@dataclass
class Detection:
    name: str
    corners: np.ndarray  # N x 2 float64 pixels, OpenCV detection order


@dataclass
class IntrinsicsResult:
    image_size: tuple[int, int]  # (width, height)
    camera_matrix: np.ndarray  # 3x3
    dist_coeffs: np.ndarray  # 5 or 8 values, OpenCV order
    rms_px: float
    per_image: list[tuple[str, float]]  # (image name, RMS reprojection error px) of the images used
    rejected: list[tuple[str, str]]  # (image name, reason)
    coverage: float  # fraction of the image area inside the boards' outlines, all images together
    empty_cells: list[str]  # parts of a 3x3 grid over the frame that no board corner reached
    std_dev: dict[str, float]  # 1-sigma of fx, fy, cx, cy in px
    board: BoardSpec
    model: str
    warnings: list[str] = field(default_factory=list)
    # image name -> (detected corners N x 2, corners reprojected by the model N x 2), images used only
    views: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def to_schema(self) -> Intrinsics:
        return Intrinsics(
            camera_matrix=self.camera_matrix.tolist(),
            dist_coeffs=[float(v) for v in self.dist_coeffs],
            method="checkerboard",
            rms_px=float(self.rms_px),
            board=self.board.to_info(),
            distortion_model=self.model,
            images_used=len(self.per_image),
            per_image_rms_px=[ImageError(image=n, rms_px=float(e)) for n, e in self.per_image],
            rejected=[RejectedImage(image=n, reason=r) for n, r in self.rejected],
            coverage=float(self.coverage),
            std_dev={k: float(v) for k, v in self.std_dev.items()},
            warnings=list(self.warnings),
        )


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name; DataError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder not found: {folder} (pass the folder with the checkerboard photos as --images)")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}; put the checkerboard photos there")
    return paths


def detect_in_images(paths: Sequence[Path], board: BoardSpec, progress: bool = True,
                     ) -> tuple[tuple[int, int], list[Detection], list[tuple[str, str]]]:
    """Detect the board in each image. Returns (image size, detections, rejected (name, reason)).

    Raises DataError when the images do not all have one size, or when no image shows the board.
    """
    detections: list[Detection] = []
    rejected: list[tuple[str, str]] = []
    sizes: dict[tuple[int, int], list[str]] = {}
    first: Optional[tuple[str, np.ndarray]] = None  # the first readable image, for a board-size hint
    for path in tqdm(paths, desc="detecting board", unit="img", disable=not progress):
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            rejected.append((path.name, "unreadable or corrupt image file"))
            continue
        size = (int(gray.shape[1]), int(gray.shape[0]))
        if min(size) < MIN_IMAGE_SIDE:
            rejected.append((path.name, f"image is only {size[0]}x{size[1]} px"))
            continue
        sizes.setdefault(size, []).append(path.name)
        if first is None:
            first = (path.name, gray)
        corners = detect_corners(gray, board)
        if corners is None:
            rejected.append((path.name, f"no {board.cols}x{board.rows} board found (whole board in view and sharp?)"))
            continue
        detections.append(Detection(path.name, corners))
    _check_sizes(sizes)
    if not detections:
        _raise_no_board(paths, board, first, rejected)
    size = next(iter(sizes))
    return size, detections, rejected


def _check_sizes(sizes: dict[tuple[int, int], list[str]]) -> None:
    if len(sizes) <= 1:
        return
    main = max(sizes, key=lambda s: len(sizes[s]))
    others = "; ".join(
        f"{w}x{h}: {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}" for (w, h), names in sizes.items() if (w, h) != main
    )
    raise DataError(
        f"the photos have different sizes: most are {main[0]}x{main[1]} but {others}. Calibrate one camera "
        "mode at a time: remove the odd photos (or re-shoot them at the same resolution and orientation)"
    )


def _raise_no_board(paths: Sequence[Path], board: BoardSpec, first: Optional[tuple[str, np.ndarray]],
                    rejected: Sequence[tuple[str, str]]) -> None:
    board_missing = f"no {board.cols}x{board.rows} board found"
    names = ", ".join(n if r.startswith(board_missing) else f"{n}: {r}" for n, r in rejected[:8])
    names += " ..." if len(rejected) > 8 else ""
    hint = ""
    if first is not None:
        other = suggest_board_sizes(first[1], board)
        if other:
            hint = f" A {' or '.join(other)} board WAS found in {first[0]}: did you mean --board {other[0]}?"
    raise DataError(
        f"no {board.cols}x{board.rows} board found in any of the {len(paths)} images ({names}). --board counts "
        f"INNER corners: a board of 10 x 7 squares is --board 9x6.{hint} Also check that the whole board, with its "
        "white border, is in each photo and in focus."
    )


def coverage_of(detections: Iterable[Detection], image_size: tuple[int, int]) -> tuple[float, list[str]]:
    """(fraction of the image inside the union of the boards' convex hulls, empty 3x3 grid cells)."""
    w, h = image_size
    scale = min(1.0, 400.0 / max(w, h))
    mask = np.zeros((max(1, round(h * scale)), max(1, round(w * scale))), dtype=np.uint8)
    hits = np.zeros((3, 3), dtype=bool)
    for det in detections:
        hull = cv2.convexHull((det.corners * scale).astype(np.float32)).astype(np.int32)
        cv2.fillConvexPoly(mask, hull, 1)
        cx = np.clip((det.corners[:, 0] * 3 / w).astype(int), 0, 2)
        cy = np.clip((det.corners[:, 1] * 3 / h).astype(int), 0, 2)
        hits[cy, cx] = True
    empty = [CELL_NAMES[r][c] for r in range(3) for c in range(3) if not hits[r, c]]
    return float(mask.mean()), empty


def _run_opencv(detections: Sequence[Detection], board: BoardSpec, image_size: tuple[int, int], flags: int):
    obj = [board.object_points() for _ in detections]
    img = [d.corners.astype(np.float32).reshape(-1, 1, 2) for d in detections]
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-9)
    rms, k, dist, rvecs, tvecs, std_int, _, per_view = cv2.calibrateCameraExtended(
        obj, img, image_size, None, None, flags=flags, criteria=criteria)
    reprojected = [cv2.projectPoints(o, r, t, k, dist)[0].reshape(-1, 2) for o, r, t in zip(obj, rvecs, tvecs)]
    return float(rms), k, dist.ravel(), std_int.ravel(), per_view.ravel(), reprojected


def calibrate_detections(detections: list[Detection], board: BoardSpec, image_size: tuple[int, int],
                         model: str = "standard", rejected: Optional[list[tuple[str, str]]] = None) -> IntrinsicsResult:
    """Calibrate from detected corners; drop outlier views once; collect warnings."""
    if model not in DISTORTION_MODELS:
        raise DataError(f"unknown distortion model {model!r}; choose one of {', '.join(DISTORTION_MODELS)}")
    rejected = list(rejected or [])
    _require_enough(detections, rejected)
    flags = DISTORTION_MODELS[model]
    rms, k, dist, std, per_view, reprojected = _run_opencv(detections, board, image_size, flags)
    limit = max(OUTLIER_FACTOR * float(np.median(per_view)), OUTLIER_MIN_PX)
    outliers = [i for i, e in enumerate(per_view) if e > limit]
    if outliers and len(detections) - len(outliers) >= MIN_IMAGES:
        med = float(np.median(per_view))
        for i in outliers:
            rejected.append((detections[i].name, f"reprojection error {per_view[i]:.2f} px, far above the median "
                             f"{med:.2f} px (corners misdetected: motion blur, glare, or a bent board)"))
        detections = [d for i, d in enumerate(detections) if i not in set(outliers)]
        rms, k, dist, std, per_view, reprojected = _run_opencv(detections, board, image_size, flags)
    cov, empty = coverage_of(detections, image_size)
    result = IntrinsicsResult(
        image_size=image_size, camera_matrix=k, dist_coeffs=dist, rms_px=rms,
        per_image=[(d.name, float(e)) for d, e in zip(detections, per_view)], rejected=rejected,
        coverage=cov, empty_cells=empty, std_dev=dict(zip(("fx", "fy", "cx", "cy"), (float(v) for v in std[:4]))),
        board=board, model=model, views={d.name: (d.corners, p) for d, p in zip(detections, reprojected)},
    )
    result.warnings = _warnings(result)
    return result


def _require_enough(detections: Sequence[Detection], rejected: Sequence[tuple[str, str]]) -> None:
    if len(detections) >= MIN_IMAGES:
        return
    why = "; ".join(f"{n}: {r}" for n, r in rejected[:10])
    raise DataError(
        f"only {len(detections)} image(s) with a detected board; calibration needs at least {MIN_IMAGES} "
        f"(15-25 recommended, the board at different positions and angles). Rejected: {why or 'none'}"
    )


def _warnings(r: IntrinsicsResult) -> list[str]:
    out = []
    if len(r.per_image) < RECOMMENDED_IMAGES:
        out.append(f"only {len(r.per_image)} usable images; 15-25 photos give reliable intrinsics")
    if r.coverage < COVERAGE_WARN:
        out.append(f"the boards cover only {100 * r.coverage:.0f}% of the image area across all photos; "
                   "move the board closer and into every part of the frame")
    if r.empty_cells:
        out.append(f"no board corners in the {', '.join(r.empty_cells)} of the frame; lens distortion is "
                   "strongest near the edges, so take photos with the board there")
    if r.rms_px > HIGH_RMS_PX:
        out.append(f"RMS reprojection error {r.rms_px:.2f} px is high (aim for < 0.5 px): check focus and motion "
                   "blur, that the board is flat, and that the camera settings did not change between photos")
    return out


def calibrate_folder(folder: Path, board: BoardSpec, model: str = "standard", progress: bool = True) -> IntrinsicsResult:
    """`calib camera`: every photo in `folder` -> IntrinsicsResult (DataError on unusable input)."""
    paths = list_images(folder)
    size, detections, rejected = detect_in_images(paths, board, progress=progress)
    return calibrate_detections(detections, board, size, model, rejected)
