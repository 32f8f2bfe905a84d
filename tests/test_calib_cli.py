"""The `calib` command line end to end: camera -> ground -> show -> measure, printable board, errors."""

from __future__ import annotations

import json
import struct

import cv2
import numpy as np
import pytest

from calib.board import BoardSpec
from calib.calibration import Calibration
from calib.cli import build_parser, main
from calib.ground import ground_to_image_from_pose
from calib.synthetic import board_poses, render_board_view, render_ground_mask, straight_crack

K = np.array([[620.0, 0.0, 322.5], [0.0, 615.0, 236.0], [0.0, 0.0, 1.0]])
DIST = np.array([-0.28, 0.11, 0.0008, -0.0006, -0.02])
SIZE = (640, 480)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_photos")
    board = BoardSpec(9, 6, 25.0)
    for i, (rvec, tvec) in enumerate(board_poses(board, K, SIZE, 8, seed=7)):
        cv2.imwrite(str(folder / f"p{i}.png"), render_board_view(K, DIST, SIZE, board, rvec, tvec, supersample=2, seed=i))
    return folder


def test_camera_ground_show_measure(photos, tmp_path, capsys):
    camera = tmp_path / "camera.yaml"
    assert main(["camera", "--images", str(photos), "--board", "9x6", "--square-mm", "25", "--out", str(camera), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "RMS reprojection error" in out and f"wrote {camera}" in out
    cal = Calibration.load(camera)
    assert cal.camera_matrix[0, 0] == pytest.approx(620.0, rel=0.02) and not cal.has_ground()

    full = tmp_path / "calib.yaml"
    assert main(["ground", "--camera", str(camera), "--height-mm", "1200", "--pitch-deg", "60", "--out", str(full)]) == 0
    out = capsys.readouterr().out
    assert "top row" in out and "bottom row" in out and "isotropic" in out

    assert main(["show", str(full)]) == 0
    out = capsys.readouterr().out
    assert "fx 6" in out and "ground (pose)" in out and "1200 mm above the road" in out

    inside, length = straight_crack((-200.0, 500.0), (150.0, 700.0), 12.0)
    mask = render_ground_mask(K, DIST, SIZE, ground_to_image_from_pose(K, 1200.0, 60.0), inside, supersample=2)
    mask_path = tmp_path / "mask.png"
    cv2.imwrite(str(mask_path), mask.astype(np.uint8) * 255)
    assert main(["measure", str(mask_path), "--calib", str(full), "--parts"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["components"] == 1 and len(result["parts"]) == 1
    assert result["length_mm"] == pytest.approx(length, rel=0.05)
    assert result["mean_width_mm"] == pytest.approx(12.0, rel=0.08)


def test_measure_in_pixels_of_a_0_1_mask(tmp_path, capsys):
    mask = np.zeros((40, 140), np.uint8)
    mask[10:13, 20:120] = 1
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), mask)
    assert main(["measure", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["length_px"] == pytest.approx(100, abs=1) and result["length_mm"] is None and "parts" not in result


def test_render_test_board_prints_to_scale(tmp_path, capsys):
    out = tmp_path / "board.png"
    assert main(["render-test-board", "--board", "9x6", "--square-mm", "25", "--dpi", "200", "--out", str(out)]) == 0
    data = out.read_bytes()
    i = data.find(b"pHYs")
    assert i > 0 and struct.unpack(">IIB", data[i + 4:i + 13]) == (7874, 7874, 1)  # 200 dpi in pixels per metre
    page = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert page.shape[1] == pytest.approx((10 * 25 + 10) / 25.4 * 200, abs=2)
    found, _ = cv2.findChessboardCornersSB(cv2.resize(page, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA), (9, 6))
    assert found
    assert "print at 100 %" in capsys.readouterr().out


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["show", str(tmp_path / "missing.yaml")]) == 2
    assert "calibration file not found" in capsys.readouterr().err
    camera_only = tmp_path / "camera.yaml"
    Calibration.create(SIZE).save(camera_only)
    mask = tmp_path / "m.png"
    cv2.imwrite(str(mask), np.zeros((10, 10), np.uint8))
    assert main(["measure", str(mask), "--calib", str(camera_only)]) == 2
    assert "no ground section" in capsys.readouterr().err
    assert main(["ground", "--height-mm", "1000", "--pitch-deg", "45", "--out", str(tmp_path / "x.yaml")]) == 2
    assert "needs the camera intrinsics" in capsys.readouterr().err
    assert main(["ground", "--target-image", str(tmp_path / "t.png"), "--out", str(tmp_path / "x.yaml")]) == 2
    assert "--target-image needs --board" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["camera", "--images", str(empty), "--board", "9x6", "--square-mm", "25", "--out", str(tmp_path / "c.yaml")]) == 2
    assert "no images" in capsys.readouterr().err
    args = ["--board", "9x6", "--square-mm", "25", "--out", str(tmp_path / "c.yaml")]
    assert main(["camera", "--images", str(tmp_path), *args]) == 2
    assert "any of the 1 images (m.png: image is only 10x10 px)" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["camera", "ground", "measure", "show", "render-test-board", "bench"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: calib " + command in capsys.readouterr().out


def test_overlays_for_calibration_and_measurement(photos, tmp_path, capsys):
    out = tmp_path / "ov"
    assert main(["camera", "--images", str(photos), "--board", "9x6", "--square-mm", "25", "--out",
                 str(tmp_path / "c.yaml"), "--quiet", "--overlays", str(out)]) == 0
    assert (out / "overview.jpg").is_file() and len(list(out.glob("*_corners.jpg"))) == 8
    pic = cv2.imread(str(out / "p0_corners.jpg"))
    assert pic.shape == (480, 640, 3)
    mask = np.zeros((80, 160), np.uint8)
    mask[50:54, 20:140] = 255  # below the caption band
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    frame = tmp_path / "f.png"
    cv2.imwrite(str(frame), np.full((80, 160, 3), 90, np.uint8))
    capsys.readouterr()
    assert main(["measure", str(tmp_path / "m.png"), "--overlay", str(tmp_path / "o.png"), "--image", str(frame)]) == 0
    drawn = cv2.cvtColor(cv2.imread(str(tmp_path / "o.png")), cv2.COLOR_BGR2RGB)
    assert (drawn[51:53, 30:130] == (255, 230, 0)).all(axis=2).sum() >= 90  # the skeleton, in yellow
    cv2.imwrite(str(frame), np.zeros((10, 10, 3), np.uint8))
    assert main(["measure", str(tmp_path / "m.png"), "--overlay", str(tmp_path / "o.png"), "--image", str(frame)]) == 2
    assert "pass the frame the mask was made from" in capsys.readouterr().err
