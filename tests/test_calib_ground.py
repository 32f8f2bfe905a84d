"""`calib ground` (pose, target, points) and crack measurement in mm on a rendered road."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from calib.board import BoardSpec
from calib.calibration import Calibration
from calib.ground import ground_to_image_from_pose, homography_from_points, homography_from_pose
from calib.ground_fit import ground_from_points, ground_from_pose, ground_from_target
from calib.measure import measure_crack
from calib.schema import Intrinsics
from calib.synthetic import arc_crack, board_pose_on_ground, render_board_view, render_ground_mask, straight_crack
from crackedge.errors import ConfigError, DataError

K = np.array([[620.0, 0.0, 322.5], [0.0, 615.0, 236.0], [0.0, 0.0, 1.0]])
DIST = np.array([-0.28, 0.11, 0.0008, -0.0006, -0.02])
SIZE = (640, 480)
HEIGHT = 1200.0


def _camera() -> Calibration:
    return Calibration.create(SIZE, intrinsics=Intrinsics(camera_matrix=K.tolist(), dist_coeffs=DIST.tolist(), method="manual"))


def _pairwise(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)


PROBES = np.array([[60.0, 440.0], [320.0, 240.0], [580.0, 420.0], [200.0, 150.0], [500.0, 120.0], [330.0, 470.0]])


def test_pose_geometry_pitch_roll_yaw():
    h45 = homography_from_pose(K, 1000.0, 45.0)
    g = cv2.perspectiveTransform(np.array([[[K[0, 2], K[1, 2]]]]), h45)[0, 0]
    assert g == pytest.approx([0.0, 1000.0], abs=1e-6)  # principal ray hits the road 1 m ahead
    yawed = homography_from_pose(K, 1000.0, 45.0, yaw_deg=90.0)
    g = cv2.perspectiveTransform(np.array([[[K[0, 2], K[1, 2]]]]), yawed)[0, 0]
    assert g == pytest.approx([-1000.0, 0.0], abs=1e-6)  # turned left: looks along -X
    rolled = homography_from_pose(K, 1000.0, 90.0, roll_deg=90.0)
    # Camera turned clockwise seen from behind: the image's right (+x) now points at the road's -Y.
    a, b = cv2.perspectiveTransform(np.array([[[K[0, 2], K[1, 2]], [K[0, 2] + 50.0, K[1, 2]]]]), rolled)[0]
    assert (b - a)[1] < -50 and abs((b - a)[0]) < 1e-6
    with pytest.raises(DataError, match="pitch must be in"):
        homography_from_pose(K, 1000.0, 0.0)
    with pytest.raises(DataError, match="height must be positive"):
        homography_from_pose(K, -5.0, 45.0)


def test_pose_mode_reports_the_perspective():
    cal = ground_from_pose(_camera(), HEIGHT, 45.0)
    scale = {s.where: s.mm_per_px for s in cal.data.ground.scale}
    assert scale["top row"] > 1.5 * scale["centre"] > 1.5 * scale["bottom row"]
    with pytest.raises(ConfigError, match="needs the camera intrinsics.*--camera"):
        ground_from_pose(Calibration.create(SIZE), HEIGHT, 45.0)


def test_target_on_the_road_matches_the_pose(tmp_path):
    big = BoardSpec(9, 6, 60.0)
    rvec, tvec = board_pose_on_ground(HEIGHT, 60.0, (-250.0, 500.0), angle_deg=10.0)
    image = render_board_view(K, DIST, SIZE, big, rvec, tvec, supersample=3, seed=5)
    path = tmp_path / "target.png"
    cv2.imwrite(str(path), image)
    target = ground_from_target(_camera(), path, big)
    pose = ground_from_pose(_camera(), HEIGHT, 60.0)
    assert target.data.ground.fit_rms_mm < 0.5
    # Same road up to the choice of axes: distances between mapped pixels agree.
    np.testing.assert_allclose(_pairwise(target.pixel_to_ground_mm(PROBES)), _pairwise(pose.pixel_to_ground_mm(PROBES)),
                               rtol=0.005, atol=1.0)
    # Axes: X to the right, Y up the image, origin at the board corner lowest in the image.
    g = target.pixel_to_ground_mm(np.array([[320.0, 400.0], [420.0, 400.0], [320.0, 300.0]]))
    assert g[1, 0] > g[0, 0] and g[2, 1] > g[0, 1]
    with pytest.raises(DataError, match=r"no 8x5 board found in .*target\.png.*did you mean --board 9x6"):
        ground_from_target(_camera(), path, BoardSpec(8, 5, 60.0))


def test_points_mode(tmp_path):
    pose = ground_from_pose(_camera(), HEIGHT, 60.0)
    mm = pose.pixel_to_ground_mm(PROBES)
    spec = {"image_size": list(SIZE), "points": [{"pixel": p.tolist(), "ground_mm": g.tolist()} for p, g in zip(PROBES, mm)]}
    path = tmp_path / "points.yaml"
    path.write_text(yaml.safe_dump(spec))
    cal = ground_from_points(_camera(), path)
    assert cal.data.ground.fit_rms_mm < 1e-3
    other = np.array([[100.0, 300.0], [450.0, 350.0]])
    np.testing.assert_allclose(cal.pixel_to_ground_mm(other), pose.pixel_to_ground_mm(other), atol=1e-3)
    spec["points"] = spec["points"][:4]
    path.write_text(yaml.safe_dump(spec))
    assert any("exactly 4 points" in w for w in ground_from_points(_camera(), path).data.ground.warnings)
    spec["points"][0]["grund_mm"] = spec["points"][0].pop("ground_mm")
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"(?s)points\.yaml.*points\.0\.grund_mm: unknown key"):
        ground_from_points(_camera(), path)


def test_degenerate_points_are_refused():
    line = np.array([[0.0, 0.0], [10.0, 10.0], [20.0, 20.0], [30.0, 30.0]])
    with pytest.raises(DataError, match="on one line"):
        homography_from_points(line, np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(DataError, match="at least 4"):
        homography_from_points(line[:3], line[:3])


@pytest.mark.parametrize("pitch", [45.0, 60.0, 90.0])
def test_rendered_crack_measures_within_5_percent(pitch):
    """A crack drawn on the road in mm, seen through the distorting lens, measured back in mm."""
    cal = ground_from_pose(_camera(), HEIGHT, pitch)
    to_image = ground_to_image_from_pose(K, HEIGHT, pitch)
    centre = cal.pixel_to_ground_mm(np.array([[320.0, 240.0], [320.0, 400.0]]))
    cases = {
        "arc": (*arc_crack((centre[0, 0] - 300.0, centre[0, 1]), 300.0, -40.0, 80.0, 14.0), 14.0),
        "straight": (*straight_crack(centre[1] + [-200.0, -60.0], centre[1] + [150.0, 90.0], 10.0), 10.0),
    }
    for name, (inside, length, width) in cases.items():
        mask = render_ground_mask(K, DIST, SIZE, to_image, inside, supersample=3)
        m = measure_crack(mask, cal)
        assert m.components == 1 and m.branches == 1, name
        assert m.length_mm == pytest.approx(length, rel=0.05), name
        assert m.mean_width_mm == pytest.approx(width, rel=0.05), name
        assert m.area_mm2 == pytest.approx(length * width, rel=0.05), name
        assert m.max_width_mm >= m.mean_width_mm and m.off_ground_px == 0
        assert m.mean_width_px >= 3.0, "the test crack must be wide enough in pixels to be meaningful"


def test_undistorted_mask_measures_the_same():
    cal = ground_from_pose(_camera(), HEIGHT, 60.0)
    inside, length = straight_crack((-200.0, 500.0), (150.0, 700.0), 12.0)
    mask = render_ground_mask(K, DIST, SIZE, ground_to_image_from_pose(K, HEIGHT, 60.0), inside, supersample=3)
    raw = measure_crack(mask, cal)
    flat = cal.undistort(mask.astype(np.uint8) * 255) > 127
    undist = measure_crack(flat, cal, undistorted=True)
    assert undist.length_mm == pytest.approx(raw.length_mm, rel=0.02)
    assert undist.mean_width_mm == pytest.approx(raw.mean_width_mm, rel=0.05)
    assert raw.length_mm == pytest.approx(length, rel=0.03)


def test_crack_above_the_horizon_is_counted_off_ground():
    cal = ground_from_pose(_camera(), HEIGHT, 15.0)
    mask = np.zeros((480, 640), np.uint8)
    mask[5:9, 100:540] = 1  # near the top: above the horizon at 15 degrees pitch
    m = measure_crack(mask, cal)
    assert m.off_ground_px > 0 and m.length_px > 400
