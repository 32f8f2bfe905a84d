"""Per-skeleton-pixel samples of a crack mask: direction, step length, width, free ends, branches.

`sample_skeleton` does the pixel work of `calib.measure` (which only aggregates): skeletonise the
kept components, prune spurs (`calib.skeleton_prune`), find each skeleton pixel's local direction,
the length it stands for, the width across it, the free ends with how far the mask continues past
them, and the branch count of each component. Everything is vectorised over skeleton pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tests.calib_reference.skeleton import NEIGHBOUR_OFFSETS, flat_offsets, neighbour_codes, skeleton_flat
from tests.calib_reference.skeleton_graph import (
    END_WINDOW_RADIUS,
    WINDOW_RADIUS,
    chain_links,
    degrees,
    junction_arms,
    junction_clusters,
    step_lengths,
    tangents,
)
from tests.calib_reference.skeleton_prune import prune_spurs
from tests.calib_reference.width import profile_widths, smooth_on_skeleton

# End extension: march along the end direction in steps of this size (px).
END_STEP_PX = 0.1


@dataclass
class SkeletonSamples:
    """Arrays over the N skeleton pixels (image coordinates of the mask given) plus per-end arrays."""

    xs: np.ndarray  # N int, column
    ys: np.ndarray  # N int, row
    comp: np.ndarray  # N int, component label (1..n)
    t: np.ndarray  # N x 2 unit direction (sign arbitrary)
    step_px: np.ndarray  # N, length each pixel stands for (1 .. sqrt(2))
    chain_px: np.ndarray  # N, plain chain links counted at this pixel
    width_px: np.ndarray  # N, width across the crack
    in_width: np.ndarray  # N bool, used for width statistics (not a junction pixel)
    end_index: np.ndarray  # E, index into the N pixels of each free end (an isolated pixel twice)
    end_dir: np.ndarray  # E x 2, unit direction pointing out of the crack at that end
    end_ext_px: np.ndarray  # E, how far the mask continues past the end pixel
    branches: np.ndarray  # n + 1, branches per component label (index 0 unused)
    _flat_idx: np.ndarray  # N, flat index in the padded skeleton image (for window averages)
    _flat_shape: tuple[int, int]

    def smooth(self, values: np.ndarray) -> np.ndarray:
        """Average of `values` over the width pixels within WINDOW_RADIUS of each pixel (N)."""
        return smooth_on_skeleton(values, self.in_width, self._flat_idx, self._flat_shape, WINDOW_RADIUS)


def _end_directions(flat: np.ndarray, idx: np.ndarray, width: int, t: np.ndarray) -> np.ndarray:
    """For end pixels (one neighbour), the unit direction t oriented away from that neighbour."""
    codes = neighbour_codes(flat, idx, flat_offsets(width))
    bit = np.zeros(idx.shape, dtype=np.int64)
    for k in range(8):
        bit[(codes >> k) & 1 == 1] = k
    off = np.array(NEIGHBOUR_OFFSETS, dtype=np.float64)[bit]  # (dy, dx) towards the neighbour
    away = -off[:, ::-1]  # (dx, dy) away from it
    sign = np.where(np.sum(away * t, axis=1) >= 0, 1.0, -1.0)
    return t * sign[:, None]


def end_extensions(kept: np.ndarray, xs: np.ndarray, ys: np.ndarray, d: np.ndarray, max_px: np.ndarray) -> np.ndarray:
    """Length (px) the mask continues past end pixels (xs, ys) along unit directions d (Ex2).

    Marches in END_STEP_PX steps to the first background pixel (or the image edge, at most max_px);
    returns the distance to that crossing minus the half pixel the end pixel itself already counts.
    """
    if xs.size == 0:
        return np.zeros(0)
    h, w = kept.shape
    steps = np.arange(1, int(np.ceil(max_px.max() / END_STEP_PX)) + 2) * END_STEP_PX
    px = np.floor(xs[:, None] + d[:, 0:1] * steps[None, :] + 0.5).astype(np.int64)
    py = np.floor(ys[:, None] + d[:, 1:2] * steps[None, :] + 0.5).astype(np.int64)
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    fg = np.zeros(px.shape, dtype=bool)
    fg[inside] = kept[py[inside], px[inside]]
    fg &= steps[None, :] <= max_px[:, None]
    first_out = np.argmin(fg, axis=1)  # index of the first False
    all_in = fg.all(axis=1)
    crossing = np.where(all_in, max_px, steps[first_out] - END_STEP_PX / 2.0)
    return np.maximum(crossing - 0.5, 0.0)


def _branches(idx: np.ndarray, deg: np.ndarray, comp: np.ndarray, n: int, width: int) -> np.ndarray:
    """Branches per component: (free ends + arms of junction clusters) / 2; a bare loop is 1."""
    ends = np.bincount(comp, weights=(deg == 1) + 2.0 * (deg == 0), minlength=n + 1)
    jidx, jlabels = junction_clusters(idx, deg, width)
    arm_sum = np.zeros(n + 1)
    if jidx.size:
        arms = junction_arms(idx, deg, jidx, jlabels, width)
        cluster_comp = np.zeros(arms.size, dtype=np.int64)
        cluster_comp[jlabels] = comp[np.searchsorted(idx, jidx)]
        arm_sum = np.bincount(cluster_comp[1:], weights=arms[1:], minlength=n + 1)
    total = np.ceil((ends + arm_sum) / 2.0).astype(np.int64)
    has_skeleton = np.bincount(comp, minlength=n + 1) > 0
    return np.where((total == 0) & has_skeleton, 1, total)


def pruned_skeleton(kept: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Skeleton of `kept` (HxW bool) with spurs pruned, in a flat image padded by `pad`.

    Returns (flat 0/1 image, sorted flat indices of the skeleton, padded width, distance transform
    HxW float32). The distance transform only bounds searches (width profile, end march, spur
    length), so the fast 5x5-mask approximation is enough.
    """
    dt = cv2.distanceTransform(kept.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    flat, idx, width = skeleton_flat(kept, pad=pad)
    yy, xx = np.divmod(idx, width)
    idx = prune_spurs(flat, idx, width, dt[yy - pad, xx - pad])
    return flat, idx, width, dt


def sample_skeleton(kept: np.ndarray, labels: np.ndarray, n: int) -> SkeletonSamples:
    """Skeleton samples of mask `kept` (HxW bool) whose components are labelled 1..n in `labels`.

    The mask should have a background border of at least one pixel where the crack does not
    continue (the caller pads its crop).
    """
    h, w = kept.shape
    r = max(WINDOW_RADIUS, END_WINDOW_RADIUS)
    flat, idx, width, dt = pruned_skeleton(kept, r)
    yy, xx = np.divmod(idx, width)
    ys, xs = yy - r, xx - r
    comp = labels[ys, xs].astype(np.int64)
    deg = degrees(flat, idx, width)
    t = tangents(flat, idx, width)
    plain = deg < 3
    has_plain = np.bincount(comp, weights=plain.astype(np.float64), minlength=n + 1) > 0
    in_width = np.where(has_plain[comp], plain, True)  # components made only of junction pixels use all

    e1 = np.flatnonzero(deg == 1)
    e0 = np.flatnonzero(deg == 0)
    end_index = np.concatenate([e1, e0, e0])
    t_end = tangents(flat, idx[e1], width, radius=END_WINDOW_RADIUS)
    end_dir = np.concatenate([_end_directions(flat, idx[e1], width, t_end), t[e0], -t[e0]])
    max_px = 4.0 * dt[ys[end_index], xs[end_index]] + 8.0
    return SkeletonSamples(
        xs=xs, ys=ys, comp=comp, t=t, step_px=step_lengths(t), chain_px=chain_links(flat, idx, width),
        width_px=profile_widths(kept, dt, xs, ys, t), in_width=in_width, end_index=end_index, end_dir=end_dir,
        end_ext_px=end_extensions(kept, xs[end_index], ys[end_index], end_dir, max_px),
        branches=_branches(idx, deg, comp, n, width), _flat_idx=idx, _flat_shape=(h + 2 * r, width),
    )
