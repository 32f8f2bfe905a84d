"""measure_crack in pixels: golden shapes (bar, L, T, Y, cross, ring) and oblique bands."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from calib.measure import CrackMeasurement, measure_crack
from crackedge.errors import DataError


def _band(angle_deg: float, width: float, offset: float, length: float = 200.0, size: int = 300, ss: int = 8) -> np.ndarray:
    """A straight band with flat ends, `width` px wide, rendered at ss x ss samples per pixel and
    thresholded at half coverage (what a good segmenter outputs)."""
    a = np.deg2rad(angle_deg)
    yy, xx = (np.mgrid[0:size * ss, 0:size * ss] + 0.5) / ss - 0.5
    c = size / 2 + offset
    across = -(xx - c) * np.sin(a) + (yy - c) * np.cos(a)
    along = (xx - c) * np.cos(a) + (yy - c) * np.sin(a)
    inside = (np.abs(across) <= width / 2) & (np.abs(along) <= length / 2)
    return inside.reshape(size, ss, size, ss).mean(axis=(1, 3)) > 0.5


def test_bar_100_by_3():
    bar = np.zeros((40, 140), np.uint8)
    bar[10:13, 20:120] = 1
    m = measure_crack(bar)
    assert m.length_px == pytest.approx(100.0, abs=1.0)
    assert m.mean_width_px == pytest.approx(3.0, abs=0.1)
    assert m.max_width_px == pytest.approx(3.0, abs=0.2)
    assert (m.area_px, m.branches, m.components) == (300, 1, 1)
    assert m.bbox_xywh == (20, 10, 100, 3)
    assert m.length_mm is None and m.area_mm2 is None


@pytest.mark.parametrize("width", [1, 2, 4, 5, 8])
def test_axis_bars_of_every_width(width):
    bar = np.zeros((40, 140), np.uint8)
    bar[10:10 + width, 20:120] = 255
    m = measure_crack(bar, min_component_px=1)
    assert m.length_px == pytest.approx(100.0, abs=1.0)
    assert m.mean_width_px == pytest.approx(width, abs=0.1)


def test_l_shape_length_follows_the_centreline():
    shape = np.zeros((120, 120), np.uint8)
    shape[10:100, 20:23] = 1  # vertical arm, x centre 21, from y = 9.5
    shape[97:100, 20:100] = 1  # horizontal arm, y centre 98, to x = 99.5
    m = measure_crack(shape)
    centreline = (98 - 9.5) + (99.5 - 21)
    assert m.length_px == pytest.approx(centreline, rel=0.02)
    assert m.mean_width_px == pytest.approx(3.0, abs=0.15)
    assert m.branches == 1


@pytest.mark.parametrize("kind, branches", [("T", 3), ("Y", 3), ("X", 4)])
def test_branch_count(kind, branches):
    img = np.zeros((200, 200), np.uint8)
    if kind == "T":
        img[20:23, 20:180] = 1
        img[20:180, 99:102] = 1
    elif kind == "Y":
        for end in ((100, 190), (30, 20), (170, 20)):
            cv2.line(img, (100, 100), end, 1, 3)
    else:
        cv2.line(img, (20, 20), (180, 180), 1, 4)
        cv2.line(img, (20, 180), (180, 20), 1, 4)
    assert measure_crack(img).branches == branches


def test_ring_is_one_branch_of_its_circumference():
    img = np.zeros((300, 300), np.uint8)
    cv2.circle(img, (150, 150), 100, 1, 4)
    m = measure_crack(img)
    assert m.branches == 1
    assert m.length_px == pytest.approx(2 * np.pi * 100, rel=0.01)


@pytest.mark.parametrize("angle", [10.0, 22.5, 37.0, 44.0, 71.0])
def test_oblique_bands_length_and_width(angle):
    rng = np.random.default_rng(int(angle * 10))
    width = 4.5
    m = measure_crack(_band(angle, width, rng.uniform(0, 1)))
    assert m.length_px == pytest.approx(200.0, rel=0.015)
    assert m.mean_width_px == pytest.approx(width, abs=0.2)
    # The plain 1 / sqrt(2) chain count over-estimates oblique lines; the reported length does not.
    if angle in (22.5, 71.0):
        assert m.chain_length_px > 1.03 * m.length_px


def test_components_totals_and_minimum_size():
    img = np.zeros((100, 200), np.uint8)
    img[10:13, 10:90] = 1  # 80 px long
    img[50:54, 100:160] = 1  # 60 px long, 4 wide
    img[80:83, 180:184] = 1  # 12 px speck
    m = measure_crack(img, min_component_px=20)
    assert m.components == 2 and m.removed_components == 1 and m.removed_px == 12
    assert len(m.parts) == 2
    assert m.length_px == pytest.approx(sum(p.length_px for p in m.parts))
    assert m.length_px == pytest.approx(140.0, abs=2.0)
    assert m.area_px == 240 + 240
    assert m.max_width_px == pytest.approx(4.0, abs=0.2)
    assert m.mean_width_px == pytest.approx((80 * 3 + 60 * 4) / 140, abs=0.1)  # length-weighted
    assert m.bbox_xywh == (10, 10, 150, 44)
    keep_all = measure_crack(img, min_component_px=1)
    assert keep_all.components == 3 and keep_all.removed_components == 0


def test_empty_mask_and_bad_input():
    m = measure_crack(np.zeros((50, 50), np.uint8))
    assert (m.area_px, m.length_px, m.components, m.branches) == (0, 0.0, 0, 0)
    only_specks = np.zeros((50, 50), np.uint8)
    only_specks[5:7, 5:7] = 1
    assert measure_crack(only_specks).removed_components == 1
    with pytest.raises(DataError, match="HxW"):
        measure_crack(np.zeros((10, 10, 3), np.uint8))


def test_to_dict_is_json():
    img = np.zeros((40, 140), np.uint8)
    img[10:13, 20:120] = 1
    d = measure_crack(img).to_dict()
    back = json.loads(json.dumps(d))
    assert back["bbox_xywh"] == [20, 10, 100, 3]
    assert back["parts"][0]["area_px"] == 300
    assert set(CrackMeasurement.__dataclass_fields__) <= set(back)
