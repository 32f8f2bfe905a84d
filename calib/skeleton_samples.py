"""Per-skeleton-pixel samples of a crack mask: direction, step length, width, free ends, branches.

`sample_skeleton` does the pixel work of `calib.measure` (which only aggregates): skeletonise the
kept components, prune spurs (`calib.skeleton_prune`), find each skeleton pixel's local direction,
the length it stands for, the width across it, the free ends with how far the mask continues past
them, and the branch count of each component. Everything is vectorised over skeleton pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from calib.skeleton import NEIGHBOUR_OFFSETS, flat_offsets, neighbour_codes, skeleton_flat
from calib.skeleton_graph import (
    END_WINDOW_RADIUS,
    WINDOW_RADIUS,
    chain_links,
    degrees,
    junction_arms,
    junction_clusters,
    step_lengths,
    tangents,
    tangents_from_window,
    window,
    window_offsets,
)
from calib.skeleton_prune import prune_spurs
from calib.width import profile_widths, smooth_on_skeleton, window_pairs

# End extension: march along the end direction in steps of this size (px), this many steps at a time
# (most ends leave the mask within the first batch; only those still inside march on).
END_STEP_PX = 0.1
END_BATCH_STEPS = 64
# The distance transform goes component by component (same values) for at most this many kept
# components whose bounding boxes cover at most this share of the crop: a few cracks in a frame.
DT_BOX_MAX_COMPONENTS = 64
DT_BOX_MAX_SHARE = 0.5


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
    _pair_i: np.ndarray  # skeleton pixel pairs (i, j), j within WINDOW_RADIUS of i (for window averages)
    _pair_j: np.ndarray

    def smooth(self, values: np.ndarray) -> np.ndarray:
        """Average of `values` over the width pixels within WINDOW_RADIUS of each pixel (N)."""
        return smooth_on_skeleton(values, self.in_width, self._pair_i, self._pair_j)


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
    The march goes END_BATCH_STEPS steps at a time, continuing only for the ends still inside.
    """
    if xs.size == 0:
        return np.zeros(0)
    h, w = kept.shape
    steps = np.arange(1, int(np.ceil(max_px.max() / END_STEP_PX)) + 2) * END_STEP_PX
    first_out = np.full(xs.size, steps.size - 1)  # past max_px at the latest (steps end beyond it)
    todo = np.arange(xs.size)
    for start in range(0, steps.size, END_BATCH_STEPS):
        st = steps[start:start + END_BATCH_STEPS]
        px = np.floor(xs[todo, None] + d[todo, 0:1] * st[None, :] + 0.5).astype(np.int64)
        py = np.floor(ys[todo, None] + d[todo, 1:2] * st[None, :] + 0.5).astype(np.int64)
        inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
        fg = np.zeros(px.shape, dtype=bool)
        fg[inside] = kept[py[inside], px[inside]]
        fg &= st[None, :] <= max_px[todo, None]
        out = ~fg.all(axis=1)
        first_out[todo[out]] = start + np.argmin(fg[out], axis=1)
        todo = todo[~out]
        if todo.size == 0:
            break
    return np.maximum(steps[first_out] - END_STEP_PX / 2.0 - 0.5, 0.0)


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


def distance_transform(kept: np.ndarray, labels: Optional[np.ndarray] = None, stats: Optional[np.ndarray] = None,
                       ids: Optional[np.ndarray] = None) -> np.ndarray:
    """cv2.distanceTransform (L2, 5x5 mask) of `kept`, HxW float32, valid at the kept pixels.

    With the components' labels, stats (cv2.connectedComponentsWithStats) and the kept ids, a
    sparse mask (a few cracks in a large frame) is transformed component by component inside its
    bounding box plus one pixel, the other components left out: the same values at the component's
    pixels (the nearest pixel outside a component is always background, since components do not
    touch), for a fraction of the image. Elsewhere the result is undefined.
    """
    u8 = kept.view(np.uint8)
    if labels is None or stats is None or ids is None or ids.size > DT_BOX_MAX_COMPONENTS:
        return cv2.distanceTransform(u8, cv2.DIST_L2, cv2.DIST_MASK_5)
    boxes = stats[ids, :4]
    if float((boxes[:, 2] + 2) @ (boxes[:, 3] + 2)) > DT_BOX_MAX_SHARE * kept.size:
        return cv2.distanceTransform(u8, cv2.DIST_L2, cv2.DIST_MASK_5)
    h, w = kept.shape
    out = np.empty(kept.shape, dtype=np.float32)
    for i, (x, y, bw, bh) in zip(ids.tolist(), boxes.tolist()):
        x0, y0, x1, y1 = max(x - 1, 0), max(y - 1, 0), min(x + bw + 1, w), min(y + bh + 1, h)
        own = labels[y0:y1, x0:x1] == i
        d = cv2.distanceTransform(own.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
        np.copyto(out[y0:y1, x0:x1], d, where=own)
    return out


def pruned_skeleton(kept: np.ndarray, pad: int, components: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None
                    ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Skeleton of `kept` (HxW bool) with spurs pruned, in a flat image padded by `pad`.

    Returns (flat 0/1 image, sorted flat indices of the skeleton, padded width, distance transform
    HxW float32, valid at the kept pixels). The distance transform only bounds searches (width
    profile, end march, spur length), so the fast 5x5-mask approximation is enough. components:
    (labels, stats, kept ids) to compute it per component (`distance_transform`).
    """
    dt = distance_transform(kept, *(components or ()))
    flat, idx, width = skeleton_flat(kept, pad=pad)
    yy, xx = np.divmod(idx, width)
    idx = prune_spurs(flat, idx, width, dt[yy - pad, xx - pad])
    return flat, idx, width, dt


def sample_skeleton(kept: np.ndarray, labels: np.ndarray, n: int, label_map: Optional[np.ndarray] = None,
                    stats: Optional[np.ndarray] = None) -> SkeletonSamples:
    """Skeleton samples of mask `kept` (HxW bool) whose components are labelled 1..n in `labels`
    (or in `label_map[labels]` when a label map is given, e.g. to renumber the kept components).

    stats: the components' cv2.connectedComponentsWithStats rows (indexed by `labels`), which lets
    a sparse mask's distance transform be computed per component. The mask should have a
    background border of at least one pixel where the crack does not continue (the caller pads
    its crop).
    """
    r = max(WINDOW_RADIUS, END_WINDOW_RADIUS)
    components = None
    if stats is not None:
        ids = np.flatnonzero(label_map) if label_map is not None else np.arange(1, n + 1)
        components = (labels, stats, ids)
    flat, idx, width, dt = pruned_skeleton(kept, r, components)
    yy, xx = np.divmod(idx, width)
    ys, xs = yy - r, xx - r
    comp = labels[ys, xs].astype(np.int64)
    if label_map is not None:
        comp = label_map[comp].astype(np.int64)
    deg = degrees(flat, idx, width)
    win = window(flat, idx, width, WINDOW_RADIUS)
    t = tangents_from_window(win, WINDOW_RADIUS)
    plain = deg < 3
    has_plain = np.bincount(comp, weights=plain.astype(np.float64), minlength=n + 1) > 0
    in_width = np.where(has_plain[comp], plain, True)  # components made only of junction pixels use all
    pair_i, pair_j = window_pairs(idx, win, window_offsets(width, WINDOW_RADIUS)[0], flat.size)

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
        branches=_branches(idx, deg, comp, n, width), _pair_i=pair_i, _pair_j=pair_j,
    )
