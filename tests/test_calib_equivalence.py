"""The sped-up measurement reports what the previous one did (tests/calib_reference, frozen copy).

Stated tolerance, checked on generated masks (thin ragged cracks in 1280x720 frames, heavy masks
like an untrained model's at 640x360 and 1280x720, small golden shapes), in pixels and in mm:
- the skeleton is the same pixel for pixel;
- components, areas, bounding boxes, branches and removed counts are equal;
- lengths, chain lengths, mean and max widths and areas in mm agree within 1e-9 relative (the sums
  are only taken in a different order).
Every faster path (whole-image or front thinning, per-component distance transform, speck
clearing, two-pass width profiles, batched end march) is also forced on its own and must agree.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calib import measure, skeleton, width
from calib import skeleton_samples as samples
from calib.bench import demo_frame_calibration, frame_crack_mask, heavy_mask
from calib.measure import measure_crack
from calib.skeleton import skeletonize
from tests.calib_reference.measure import measure_crack as reference_measure
from tests.calib_reference.skeleton import skeletonize as reference_skeletonize

REL = 1e-9
EXACT = ("area_px", "branches", "bbox_xywh", "components", "removed_components", "removed_px", "off_ground_px")
CLOSE = ("length_px", "mean_width_px", "max_width_px", "chain_length_px", "length_mm", "mean_width_mm", "max_width_mm",
         "area_mm2")


def _thin(seed: int) -> np.ndarray:
    return frame_crack_mask(seed)


def _heavy(seed: int, fraction: float, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    return heavy_mask(seed, fraction, size)


def _shapes() -> list[np.ndarray]:
    out = []
    bar = np.zeros((40, 140), np.uint8)
    bar[10:13, 20:120] = 1
    out.append(bar)
    for kind in ("T", "X", "ring"):
        img = np.zeros((200, 200), np.uint8)
        if kind == "T":
            img[20:23, 20:180] = 1
            img[20:180, 99:102] = 1
        elif kind == "X":
            cv2.line(img, (20, 20), (180, 180), 1, 4)
            cv2.line(img, (20, 180), (180, 20), 1, 4)
        else:
            cv2.circle(img, (100, 100), 70, 1, 4)
        out.append(img)
    return out


def _same(new: dict, old: dict, where: str) -> None:
    assert set(old) <= set(new), f"{where}: keys missing {set(old) - set(new)}"
    for key in (k for k in EXACT if k in old):
        assert new[key] == old[key], f"{where}: {key} {new[key]} != {old[key]}"
    for key in (k for k in CLOSE if k in old):
        a, b = new[key], old[key]
        if a is None or b is None:
            assert a is None and b is None, f"{where}: {key} {a} vs {b}"
        else:
            assert a == pytest.approx(b, rel=REL, abs=1e-9), f"{where}: {key} {a} != {b}"


def _compare(mask: np.ndarray, calibration=None, min_component_px: int = 20) -> dict:
    new = measure_crack(mask, calibration, min_component_px=min_component_px, max_area_fraction=None).to_dict()
    old = reference_measure(mask, calibration, min_component_px=min_component_px).to_dict()
    _same(new, old, "total")
    assert len(new["parts"]) == len(old["parts"])
    for i, (a, b) in enumerate(zip(new["parts"], old["parts"])):
        _same(a, b, f"part {i + 1}")
    return new


MASKS = (
    [pytest.param(lambda s=s: _thin(s), id=f"thin-{s}") for s in range(4)]
    + [pytest.param(lambda f=f, s=s: _heavy(s, f), id=f"heavy-640-{f}") for s, f in enumerate((0.06, 0.15, 0.3))]
    + [pytest.param(lambda: _heavy(7, 0.1, (1280, 720)), id="heavy-1280-0.1")]
    + [pytest.param(lambda i=i: _shapes()[i], id=f"shape-{i}") for i in range(4)]
)


@pytest.mark.parametrize("make", MASKS)
def test_same_measurement_as_the_reference_in_pixels(make):
    m = _compare(make())
    assert m["components"] > 0


@pytest.mark.parametrize("make", [MASKS[0], MASKS[4], MASKS[8]])
def test_same_measurement_as_the_reference_in_mm(make):
    mask = make()
    m = _compare(mask, demo_frame_calibration((mask.shape[1], mask.shape[0])))
    assert m["length_mm"] > 0 and m["area_mm2"] > 0


def test_small_components_kept_or_dropped_alike():
    mask = _thin(5)
    _compare(mask, min_component_px=1)
    _compare(mask, min_component_px=200)


def _random_masks() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    out = [(rng.random((90, 120)) < p).astype(np.uint8) for p in (0.1, 0.3, 0.5, 0.7, 0.9)]
    out += [_heavy(s, f, (320, 180)) for s, f in enumerate((0.05, 0.2, 0.5))]
    out += [frame_crack_mask(s, (640, 360)) for s in range(3)]
    return out


@pytest.mark.parametrize("ratio", [None, 0, 10**9])
def test_skeleton_is_the_reference_skeleton_in_either_thinning_mode(monkeypatch, ratio):
    """ratio 0: whole-image sub-iterations to the end; 10**9: the front mode from the start."""
    if ratio is not None:
        monkeypatch.setattr(skeleton, "IMAGE_MODE_RATIO", ratio)
    for i, mask in enumerate(_random_masks()):
        assert np.array_equal(skeletonize(mask), reference_skeletonize(mask)), f"mask {i}"


@pytest.mark.parametrize("patch", [
    {"DT_BOX_MAX_COMPONENTS": 0},  # whole-crop distance transform only
    {"DT_BOX_MAX_COMPONENTS": 10**6, "DT_BOX_MAX_SHARE": 10.0},  # per component always
    {"SPECK_LOOP_MAX": 0},  # specks dropped through the label table
    {"FIRST_PASS_SAMPLES": 1},  # width profiles: almost everything in the second pass
    {"FIRST_PASS_SAMPLES": 1000},  # one pass
    {"END_BATCH_STEPS": 1},  # end march one step at a time
])
def test_every_fast_path_alone_gives_the_reference(monkeypatch, patch):
    modules = (samples, measure, width)
    for name, value in patch.items():
        monkeypatch.setattr(next(m for m in modules if hasattr(m, name)), name, value)
    for mask in (_thin(1), _heavy(2, 0.12)):
        _compare(mask)
