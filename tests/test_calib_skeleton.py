"""skeletonize: one pixel wide, inside the mask, topology kept (components and holes)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calib.skeleton import CLEANUP, flat_offsets, neighbour_codes, skeletonize


def _components(m: np.ndarray, connectivity: int) -> int:
    return cv2.connectedComponents(m.astype(np.uint8), connectivity=connectivity)[0] - 1


def _holes(m: np.ndarray) -> int:
    background = 1 - np.pad(m.astype(np.uint8), 1)
    return _components(background, 4) - 1


def _removable_pixels(skel: np.ndarray) -> int:
    """Skeleton pixels that could still be deleted without changing topology (0 = fully thin)."""
    p = np.pad(skel.astype(np.uint8), 1)
    idx = np.flatnonzero(p)
    return int(CLEANUP[neighbour_codes(p.ravel(), idx, flat_offsets(p.shape[1]))].sum())


def _random_mask(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(1, 6)):
        a, b = rng.integers(0, size, (2, 2))
        cv2.line(m, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, int(rng.integers(1, 8)))
    if rng.random() < 0.3:
        cv2.circle(m, tuple(int(v) for v in rng.integers(10, size - 10, 2)), int(rng.integers(3, 15)), 1, -1)
    m = m * (rng.random(m.shape) > 0.02)  # pepper holes into the shapes
    n, lab, st, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    return np.isin(lab, [i for i in range(1, n) if st[i, cv2.CC_STAT_AREA] >= 5])


def test_horizontal_bar_thins_to_its_centre_row():
    bar = np.zeros((12, 110), np.uint8)
    bar[4:7, 5:105] = 1
    skel = skeletonize(bar)
    rows, cols = np.nonzero(skel)
    assert set(rows.tolist()) == {5}
    assert cols.min() <= 7 and cols.max() >= 102
    assert skel.sum() == cols.max() - cols.min() + 1  # one connected run


@pytest.mark.parametrize("seed", range(3))
def test_random_shapes_keep_topology_and_are_one_pixel_wide(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        m = _random_mask(rng)
        s = skeletonize(m)
        assert not (s & ~m).any(), "skeleton pixels outside the mask"
        assert _components(s, 8) == _components(m, 8)
        assert _holes(s) == _holes(m)
        assert _removable_pixels(s) == 0


def test_ring_keeps_its_hole():
    ring = np.zeros((80, 80), np.uint8)
    cv2.circle(ring, (40, 40), 25, 1, 5)
    s = skeletonize(ring)
    assert _holes(s) == 1 and _components(s, 8) == 1


def test_empty_mask_and_bad_shape():
    assert not skeletonize(np.zeros((10, 12), np.uint8)).any()
    assert skeletonize(np.zeros((10, 12), bool)).shape == (10, 12)
    with pytest.raises(ValueError, match="HxW"):
        skeletonize(np.zeros((4, 4, 3), np.uint8))


def test_mask_touching_the_image_border():
    m = np.zeros((20, 30), bool)
    m[:, 0:3] = True  # full-height bar on the left edge
    s = skeletonize(m)
    assert _components(s, 8) == 1
    assert s[:, 1].sum() >= 16


def test_measure_module_exports_skeletonize():
    from calib import measure

    assert measure.skeletonize is skeletonize
