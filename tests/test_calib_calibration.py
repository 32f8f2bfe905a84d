"""The calibration file and `Calibration`: YAML round trip, validation errors, frame sizes, mapping."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from calib.calibration import Calibration
from calib.camera_model import distort_points
from calib.ground_fit import ground_from_pose
from calib.schema import Intrinsics
from crackedge.errors import ConfigError, DataError

K = [[620.0, 0.0, 322.5], [0.0, 615.0, 236.0], [0.0, 0.0, 1.0]]
DIST = [-0.28, 0.11, 0.0008, -0.0006, -0.02]
SIZE = (640, 480)


def _camera(dist=DIST) -> Calibration:
    return Calibration.create(SIZE, intrinsics=Intrinsics(camera_matrix=K, dist_coeffs=list(dist), method="manual"))


def _full(pitch=60.0, dist=DIST) -> Calibration:
    return ground_from_pose(_camera(dist), 1200.0, pitch)


def _write(tmp_path, data: dict):
    path = tmp_path / "calib.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_save_load_round_trip(tmp_path):
    cal = _full()
    path = tmp_path / "sub" / "calib.yaml"
    cal.save(path)
    text = path.read_text()
    assert text.startswith("# crackedge camera calibration") and "format: crackedge-calib/1" in text
    assert not list(path.parent.glob(".*tmp"))  # atomic write left no temp file
    back = Calibration.load(path)
    assert back.image_size == SIZE and back.has_ground() and back.has_intrinsics()
    np.testing.assert_allclose(back.homography, cal.homography)
    np.testing.assert_allclose(back.camera_matrix, np.array(K))
    pts = np.array([[100.0, 400.0], [320.0, 240.0], [600.0, 300.0]])
    np.testing.assert_allclose(back.pixel_to_ground_mm(pts), cal.pixel_to_ground_mm(pts))
    assert back.data.ground.pose.pitch_deg == 60.0


def test_unknown_key_is_named(tmp_path):
    data = _full().data.model_dump(mode="json")
    data["ground"]["homograpy"] = data["ground"].pop("homography")
    with pytest.raises(ConfigError) as err:
        Calibration.load(_write(tmp_path, data))
    msg = str(err.value)
    assert "calib.yaml" in msg and "ground.homograpy" in msg and "unknown key" in msg
    assert "ground.homography" in msg  # the missing required key is named too


def test_missing_file_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"not found: .*nope\.yaml.*calib camera"):
        Calibration.load(tmp_path / "nope.yaml")


@pytest.mark.parametrize("edit, key", [
    (lambda d: d.update(format="crackedge-calib/9"), "format"),
    (lambda d: d["intrinsics"].update(camera_matrix=[[1.0, 0.0], [0.0, 1.0]]), "intrinsics.camera_matrix"),
    (lambda d: d["intrinsics"].update(dist_coeffs=[0.1, 0.2, 0.3]), "intrinsics.dist_coeffs"),
    (lambda d: d.update(image_size=[640, 0]), "image_size"),
    (lambda d: d["ground"].update(homography=[[0.0] * 3] * 3), "ground.homography"),
])
def test_bad_values_name_their_key(tmp_path, edit, key):
    data = _full().data.model_dump(mode="json")
    edit(data)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Calibration.load(_write(tmp_path, data))


def test_frame_of_same_aspect_scales_the_camera_matrix():
    cal = _full()
    pts = np.array([[100.0, 400.0], [320.5, 240.5], [600.0, 300.0]])
    double = (pts + 0.5) * 2 - 0.5  # the same scene points in a 1280x960 frame
    np.testing.assert_allclose(cal.pixel_to_ground_mm(double, frame_size=(1280, 960)), cal.pixel_to_ground_mm(pts), rtol=1e-9)
    assert cal.mm_per_pixel_at(320, 240, frame_size=(1280, 960)) == pytest.approx(cal.mm_per_pixel_at(160, 120) / 2, rel=0.02)


def test_frame_of_other_aspect_is_a_clear_error():
    with pytest.raises(DataError, match=r"frame size 640x640 .* made at 640x480 .* recalibrate"):
        _full().pixel_to_ground_mm(np.array([[1.0, 1.0]]), frame_size=(640, 640))


def test_undistort_keeps_size_and_caches_maps():
    cal = _camera()
    img = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    out = cal.undistort(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    maps = cal._maps[(640, 480)]
    cal.undistort(img)
    assert cal._maps[(640, 480)] is maps
    assert cal.undistort(np.zeros((240, 320), np.uint8)).shape == (240, 320)
    no_lens = Calibration.create(SIZE)
    assert no_lens.undistort(img) is img


def test_undistorted_frame_points_map_like_raw_points():
    cal = _full()
    ideal = np.array([[50.0, 420.0], [320.0, 240.0], [610.0, 80.0]])
    raw = distort_points(ideal, np.array(K), np.array(DIST))
    np.testing.assert_allclose(cal.undistort_points(raw), ideal, atol=1e-6)
    np.testing.assert_allclose(cal.pixel_to_ground_mm(raw), cal.pixel_to_ground_mm(ideal, undistorted=True), atol=1e-6)


def test_top_down_camera_scale_is_height_over_focal_length():
    cal = ground_from_pose(_camera(dist=[0.0] * 5), 1000.0, 90.0)
    cx, cy = K[0][2], K[1][2]
    assert cal.mm_per_pixel_at(cx, cy) == pytest.approx(1000.0 / np.sqrt(620.0 * 615.0), rel=1e-4)
    np.testing.assert_allclose(cal.pixel_to_ground_mm(np.array([[cx, cy]])), [[0.0, 0.0]], atol=1e-6)
    # Image up is forward (+Y), image right is +X.
    g = cal.pixel_to_ground_mm(np.array([[cx, cy - 100.0], [cx + 100.0, cy]]))
    assert g[0, 1] > 150 and abs(g[0, 0]) < 1e-6 and g[1, 0] > 150


def test_sky_has_no_ground_and_no_ground_section_is_an_error():
    cal = _full(pitch=20.0)
    g = cal.pixel_to_ground_mm(np.array([[320.0, 0.0], [320.0, 479.0]]))
    assert np.isnan(g[0]).all() and np.isfinite(g[1]).all()
    assert np.isnan(cal.mm_per_pixel_at(320.0, 0.0))
    with pytest.raises(ConfigError, match="no 'ground' section.*calib ground"):
        _camera().pixel_to_ground_mm(np.array([[1.0, 1.0]]))


def test_area_map_matches_local_scale():
    cal = _full()
    area = cal.area_map((640, 480))
    assert area.shape == (480, 640)
    for x, y in ((320, 240), (100, 450), (600, 100)):
        assert area[y, x] == pytest.approx(cal.mm_per_pixel_at(x, y) ** 2, rel=0.01)
    assert cal.area_map((640, 480)) is area
