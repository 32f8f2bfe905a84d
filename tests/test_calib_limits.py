"""measure_crack on masks at the limits: too large to measure, more skeleton pixels than cv2.remap
takes at once, more components than 16-bit labels can number."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from calib.bench import demo_frame_calibration, heavy_mask
from calib.calibration import Calibration
from calib.ground_fit import ground_from_pose
from calib.measure import MAX_AREA_FRACTION, measure_crack
from calib.schema import Intrinsics
from tests.calib_reference.measure import measure_crack as reference_measure


def _block(crack_px: int, size: int = 100) -> np.ndarray:
    """size x size mask with `crack_px` crack pixels in one block (whole rows plus a partial row)."""
    mask = np.zeros((size, size), np.uint8)
    rows, rest = divmod(crack_px, size - 20)
    mask[10:10 + rows, 10:size - 10] = 1
    mask[10 + rows, 10:10 + rest] = 1
    return mask


def test_too_large_reports_area_bbox_and_components_only():
    mask = heavy_mask(0, 0.45, (640, 360))
    m = measure_crack(mask)
    full = measure_crack(mask, max_area_fraction=None)
    assert m.too_large and not full.too_large
    assert (m.area_px, m.components, m.bbox_xywh) == (full.area_px, full.components, full.bbox_xywh)
    assert (m.removed_components, m.removed_px) == (full.removed_components, full.removed_px)
    assert m.length_px is None and m.mean_width_px is None and m.max_width_px is None
    assert m.branches is None and m.chain_length_px is None and m.parts == []
    d = json.loads(json.dumps(m.to_dict()))
    assert d["too_large"] is True and d["length_px"] is None and d["parts"] == []
    assert measure_crack(mask, max_area_fraction=1.0).too_large is False


def test_the_limit_is_a_share_of_the_mask_counted_after_specks_are_dropped():
    limit = int(MAX_AREA_FRACTION * 100 * 100)
    assert not measure_crack(_block(limit)).too_large  # exactly at the limit: measured
    assert measure_crack(_block(limit + 1)).too_large
    assert not measure_crack(_block(limit + 1), max_area_fraction=0.3).too_large
    specks = _block(limit - 50)
    specks[95, 0:99:3] = 1  # 33 one-pixel specks, dropped before the share is taken
    assert not measure_crack(specks).too_large


def test_too_large_in_mm_keeps_the_ground_area():
    mask = heavy_mask(1, 0.3, (640, 360))
    cal = demo_frame_calibration((640, 360))
    m = measure_crack(mask, cal)
    full = measure_crack(mask, cal, max_area_fraction=None)
    assert m.too_large and m.length_mm is None and m.mean_width_mm is None and m.max_width_mm is None
    assert m.area_mm2 == pytest.approx(full.area_mm2, rel=1e-6)
    assert m.off_ground_px == full.off_ground_px == 0


def test_too_large_counts_pixels_above_the_horizon():
    k = [[500.0, 0.0, 319.5], [0.0, 500.0, 179.5], [0.0, 0.0, 1.0]]
    cam = Calibration.create((640, 360), intrinsics=Intrinsics(camera_matrix=k, dist_coeffs=[0, 0, 0, 0, 0], method="manual"))
    cal = ground_from_pose(cam, 1200.0, 15.0)  # pitched 15 degrees down: the horizon crosses the frame
    mask = np.zeros((360, 640), np.uint8)
    mask[:200, :] = 1  # 56 % of the frame, the top rows above the horizon
    m = measure_crack(mask, cal)
    full = measure_crack(mask, cal, max_area_fraction=None)
    assert m.too_large and m.off_ground_px > 0
    assert m.off_ground_px == full.off_ground_px
    assert m.area_mm2 == pytest.approx(full.area_mm2, rel=1e-6)


def test_more_skeleton_pixels_than_remap_takes_at_once():
    """Over 32767 skeleton pixels: the old code's cv2.remap raised (edge fell back to pixels)."""
    mask = np.zeros((220, 1230), np.uint8)
    mask[5:215:4, 15:1215] = 1  # 53 one-pixel lines, 1200 px long: 63,600 skeleton pixels
    with pytest.raises(cv2.error):
        reference_measure(mask, min_component_px=1)
    m = measure_crack(mask, min_component_px=1, max_area_fraction=None)
    assert m.components == 53 and m.branches == 53
    assert m.length_px == pytest.approx(53 * 1200, rel=0.002)
    assert m.mean_width_px == pytest.approx(1.0, abs=0.1)


def test_more_components_than_16_bit_labels():
    mask = np.zeros((600, 600), np.uint8)
    mask[::2, ::2] = 1  # 90,000 isolated pixels
    m = measure_crack(mask)
    assert (m.components, m.removed_components, m.removed_px) == (0, 90000, 90000)
    mask[0:3, 0:39] = 1  # and one real piece, 3 x 39 px, over 40 of the specks
    m = measure_crack(mask, max_area_fraction=None)
    assert (m.components, m.area_px, m.removed_components) == (1, 117, 90000 - 40)
    assert m.length_px == pytest.approx(39.0, abs=1.5)


def test_calib_measure_cli_too_large_and_its_option(tmp_path, capsys):
    from calib.cli import main

    path = tmp_path / "m.png"
    cv2.imwrite(str(path), _block(3000))  # 30 % of a 100 x 100 mask
    assert main(["measure", str(path), "--overlay", str(tmp_path / "o.png")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["too_large"] is True and result["area_px"] == 3000 and result["length_px"] is None
    assert cv2.imread(str(tmp_path / "o.png")).shape == (100, 100, 3)
    assert main(["measure", str(path), "--max-area-fraction", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["too_large"] is False and result["length_px"] > 70
    with pytest.raises(SystemExit) as exit_info:
        main(["measure", str(path), "--max-area-fraction", "0"])
    assert exit_info.value.code == 2
    assert "--max-area-fraction: expected a number in (0, 1], got 0" in capsys.readouterr().err


def test_calib_bench_frames(capsys):
    from calib.cli import main

    assert main(["bench", "--frames", "--frame-size", "320x180", "--masks", "1", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "frame 320x180" in out and "thin #0" in out and "heavy 6 % #0" in out
