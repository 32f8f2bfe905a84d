"""`calib camera`: intrinsics recovered from rendered checkerboard photos; bad input named clearly."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from calib.board import BoardSpec, parse_board
from calib.intrinsics import Detection, calibrate_detections, calibrate_folder
from calib.synthetic import board_poses, render_board_view
from crackedge.errors import DataError

K = np.array([[620.0, 0.0, 322.5], [0.0, 615.0, 236.0], [0.0, 0.0, 1.0]])
DIST = np.array([-0.28, 0.11, 0.0008, -0.0006, -0.02])
SIZE = (640, 480)
BOARD = BoardSpec(9, 6, 25.0)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """12 anti-aliased, noisy views of the board through a barrel-distorting lens, plus a blank photo."""
    folder = tmp_path_factory.mktemp("photos")
    for i, (rvec, tvec) in enumerate(board_poses(BOARD, K, SIZE, 12, seed=3)):
        cv2.imwrite(str(folder / f"view{i:02d}.png"), render_board_view(K, DIST, SIZE, BOARD, rvec, tvec, supersample=2, seed=i))
    cv2.imwrite(str(folder / "blank.png"), np.full((480, 640), 128, np.uint8))
    return folder


@pytest.fixture(scope="module")
def result(photos):
    return calibrate_folder(photos, BOARD, progress=False)


def test_recovers_the_camera(result):
    k = result.camera_matrix
    assert result.image_size == SIZE
    assert k[0, 0] == pytest.approx(K[0, 0], rel=0.01)
    assert k[1, 1] == pytest.approx(K[1, 1], rel=0.01)
    assert k[0, 2] == pytest.approx(K[0, 2], rel=0.01)
    assert k[1, 2] == pytest.approx(K[1, 2], rel=0.01)
    assert result.dist_coeffs[0] == pytest.approx(DIST[0], abs=0.02)
    assert result.rms_px < 0.5
    assert set(result.std_dev) == {"fx", "fy", "cx", "cy"} and all(0 < v < 5 for v in result.std_dev.values())


def test_reports_per_image_errors_rejects_and_coverage(result):
    assert [name for name, _ in result.per_image] == [f"view{i:02d}.png" for i in range(12)]
    assert all(0 < e < 0.5 for _, e in result.per_image)
    assert result.rejected == [("blank.png", "no 9x6 board found (whole board in view and sharp?)")]
    assert 0.2 < result.coverage <= 1.0
    schema = result.to_schema()
    assert schema.images_used == 12 and schema.rejected[0].image == "blank.png"


def test_low_count_and_coverage_warnings():
    truth = _projected_detections(n=5, noise=0.05)
    res = calibrate_detections(truth, BOARD, SIZE)
    joined = " ".join(res.warnings)
    assert "only 5 usable images" in joined
    assert "cover only" in joined or "no board corners in the" in joined


def _projected_detections(n: int, noise: float, seed: int = 0) -> list[Detection]:
    """Board corners projected exactly (plus Gaussian noise) at n varied poses: no rendering needed."""
    rng = np.random.default_rng(seed)
    obj = BOARD.object_points().astype(np.float64)
    out = []
    for i, (rvec, tvec) in enumerate(board_poses(BOARD, K, SIZE, n, seed=seed)):
        pts, _ = cv2.projectPoints(obj, rvec, tvec, K, DIST)
        out.append(Detection(f"img{i:02d}.png", pts.reshape(-1, 2) + rng.normal(0, noise, (obj.shape[0], 2))))
    return out


def test_misdetected_photo_is_rejected_with_reason():
    dets = _projected_detections(n=12, noise=0.05)
    dets[4].corners = dets[4].corners + np.random.default_rng(1).normal(0, 4.0, dets[4].corners.shape)
    res = calibrate_detections(dets, BOARD, SIZE)
    assert [n for n, _ in res.rejected] == ["img04.png"]
    assert "far above the median" in res.rejected[0][1]
    assert len(res.per_image) == 11 and res.rms_px < 0.2
    assert res.camera_matrix[0, 0] == pytest.approx(K[0, 0], rel=0.005)


def test_wrong_board_size_names_images_and_suggests_the_right_one(photos, tmp_path):
    for name in ("view00.png", "view01.png"):
        shutil.copy(photos / name, tmp_path / name)
    with pytest.raises(DataError) as err:
        calibrate_folder(tmp_path, BoardSpec(8, 5, 25.0), progress=False)
    msg = str(err.value)
    assert "no 8x5 board found in any of the 2 images" in msg and "view00.png" in msg
    assert "INNER corners" in msg and "did you mean --board 9x6" in msg


def test_mixed_image_sizes_are_named(photos, tmp_path):
    for name in ("view00.png", "view01.png", "view02.png"):
        shutil.copy(photos / name, tmp_path / name)
    small = cv2.resize(cv2.imread(str(photos / "view03.png")), (320, 240))
    cv2.imwrite(str(tmp_path / "phone.jpg"), small)
    with pytest.raises(DataError, match=r"different sizes: most are 640x480 but 320x240: phone\.jpg.*remove"):
        calibrate_folder(tmp_path, BOARD, progress=False)


def test_too_few_images(photos, tmp_path):
    for name in ("view00.png", "view01.png", "blank.png"):
        shutil.copy(photos / name, tmp_path / name)
    with pytest.raises(DataError, match=r"only 2 image\(s\) with a detected board.*at least 3.*blank\.png: no 9x6 board"):
        calibrate_folder(tmp_path, BOARD, progress=False)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(DataError, match="image folder not found"):
        calibrate_folder(tmp_path / "nope", BOARD, progress=False)
    (tmp_path / "notes.txt").write_text("no photos here")
    with pytest.raises(DataError, match=r"no images \(\.jpg.*in .*put the checkerboard photos there"):
        calibrate_folder(tmp_path, BOARD, progress=False)


@pytest.mark.parametrize("text, square, message", [
    ("9-6", 25.0, "is not COLSxROWS"),
    ("1x6", 25.0, "at least 2x2 inner corners"),
    ("9x6", 0.0, "square size must be positive"),
])
def test_board_spec_errors(text, square, message):
    with pytest.raises(DataError, match=message):
        parse_board(text, square)
    assert parse_board(" 9X6 ", 25) == BoardSpec(9, 6, 25.0)


def test_unknown_distortion_model():
    with pytest.raises(DataError, match="unknown distortion model 'fisheye'"):
        calibrate_detections(_projected_detections(n=4, noise=0.05), BOARD, SIZE, model="fisheye")
