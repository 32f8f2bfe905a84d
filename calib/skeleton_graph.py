"""Local geometry of a one-pixel-wide skeleton: neighbour counts, end points, junctions, branches,
and the local direction of the skeleton at each pixel.

All functions take a skeleton as a flattened 0/1 uint8 image with a background border of at least
`WINDOW_RADIUS` pixels and the flat indices of its pixels, so they are vectorised over pixels.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from calib.skeleton import POPCOUNT, flat_offsets, neighbour_codes

# The local direction at a skeleton pixel comes from the skeleton pixels in a (2r+1)^2 window.
WINDOW_RADIUS = 3
# At free ends a wider window sees past the kink thinning often leaves in the last pixels.
END_WINDOW_RADIUS = 6


def degrees(flat: np.ndarray, idx: np.ndarray, width: int) -> np.ndarray:
    """Number of 8-neighbours (0..8) of each skeleton pixel `idx`."""
    return POPCOUNT[neighbour_codes(flat, idx, flat_offsets(width))]


@lru_cache(maxsize=16)
def window_offsets(width: int, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat offsets, dx and dy of the (2r+1)^2 window positions (row-major), image `width` wide.

    Cached (the same few sizes come back frame after frame): the arrays are read-only.
    """
    d = np.arange(-radius, radius + 1)
    dy, dx = (a.ravel() for a in np.meshgrid(d, d, indexing="ij"))
    out = (dy * width + dx, dx, dy)
    for a in out:
        a.flags.writeable = False
    return out


def window(flat: np.ndarray, idx: np.ndarray, width: int, radius: int = WINDOW_RADIUS) -> np.ndarray:
    """N x (2r+1)^2 uint8: the flat 0/1 image in the window around each pixel `idx` (row-major)."""
    offsets, _, _ = window_offsets(width, radius)
    return flat[idx[:, None] + offsets[None, :]]


def tangents_from_window(win: np.ndarray, radius: int = WINDOW_RADIUS) -> np.ndarray:
    """Unit directions (Nx2) from the windows `window` returns; see `tangents`."""
    if win.shape[0] == 0:
        return np.zeros((0, 2))
    _, dx, dy = window_offsets(1, radius)
    basis = np.stack([np.ones_like(dx), dx, dy, dx * dx, dy * dy, dx * dy], axis=1).astype(np.float32)
    # Integer moments of at most (2r+1)^2 * r^2 are exact in float32; OpenCV's gemm is ~20x faster
    # than numpy's float64 matmul here and does not wake a BLAS thread pool.
    m = cv2.gemm(win.astype(np.float32), basis, 1.0, None, 0.0).astype(np.float64)  # N x 6: m00, m10, m01, m20, m02, m11
    m00 = m[:, 0]
    mx, my = m[:, 1] / m00, m[:, 2] / m00
    mu20 = m[:, 3] / m00 - mx * mx
    mu02 = m[:, 4] / m00 - my * my
    mu11 = m[:, 5] / m00 - mx * my
    theta = 0.5 * np.arctan2(2.0 * mu11, mu20 - mu02)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def tangents(flat: np.ndarray, idx: np.ndarray, width: int, radius: int = WINDOW_RADIUS) -> np.ndarray:
    """Unit direction (tx, ty) of the skeleton at each pixel `idx`, Nx2 float64.

    The direction is the major axis of the skeleton pixels inside the (2r+1)x(2r+1) window centred
    on the pixel (second central moments). Its sign is arbitrary. An isolated pixel gets (1, 0).
    """
    return tangents_from_window(window(flat, idx, width, radius), radius)


def step_lengths(t: np.ndarray) -> np.ndarray:
    """Length in pixels that one skeleton pixel stands for, given its unit direction t (Nx2).

    A one-pixel-wide digital curve at angle a to the nearest image axis has one pixel per step
    along that axis, so each pixel stands for 1 / cos(a) = 1 / max(|tx|, |ty|): 1 on horizontal or
    vertical runs, sqrt(2) on diagonal runs, and the true slope length in between (a plain chain
    count with 1 and sqrt(2) steps over-estimates a line at 22.5 degrees by 8 %).
    """
    return 1.0 / np.maximum(np.abs(t[:, 0]), np.abs(t[:, 1]))


def chain_links(flat: np.ndarray, idx: np.ndarray, width: int) -> np.ndarray:
    """Plain chain length contributed by each skeleton pixel `idx` (its links to the E, S, SE, SW).

    Each link is counted once: 1 when horizontal or vertical, sqrt(2) when diagonal. A diagonal
    link is skipped when a pixel 4-adjacent to both of its ends is set (the path through that pixel
    is already counted), so small triangles at junctions are not counted twice. Summing gives the
    chain length of the whole skeleton.
    """
    total = flat[idx + 1].astype(np.float64) + flat[idx + width]
    south = flat[idx + width] == 1
    for dx in (1, -1):
        diagonal = flat[idx + width + dx] == 1
        bridged = south | (flat[idx + dx] == 1)
        total += np.sqrt(2.0) * (diagonal & ~bridged)
    return total


def junction_clusters(idx: np.ndarray, deg: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Group junction pixels (3 or more neighbours) into 8-connected clusters.

    Returns (junction flat indices, sorted; their cluster label 1..k). Works on the few junction
    pixels only (label propagation over sorted indices), never on a full image.
    """
    jidx = np.sort(idx[deg >= 3])
    labels = np.arange(1, jidx.size + 1)
    if jidx.size == 0:
        return jidx, labels
    offsets = flat_offsets(width)
    pos = np.searchsorted(jidx, jidx[:, None] + offsets[None, :])
    pos = np.minimum(pos, jidx.size - 1)
    linked = jidx[pos] == jidx[:, None] + offsets[None, :]  # J x 8: neighbour is a junction pixel
    while True:
        nb = np.where(linked, labels[pos], labels[:, None]).min(axis=1)
        new = np.minimum(labels, nb)
        if np.array_equal(new, labels):
            break
        labels = new
    _, labels = np.unique(labels, return_inverse=True)
    return jidx, labels.ravel() + 1


def junction_arms(idx: np.ndarray, deg: np.ndarray, jidx: np.ndarray, jlabels: np.ndarray, width: int) -> np.ndarray:
    """Number of skeleton arms leaving each junction cluster, array of length (clusters + 1).

    An arm is a non-junction skeleton pixel adjacent to the cluster; a pixel adjacent to two
    clusters (a one-pixel link) counts as an arm of both.
    """
    n_clusters = int(jlabels.max()) if jlabels.size else 0
    arms = np.zeros(n_clusters + 1, dtype=np.int64)
    plain = idx[deg < 3]
    if n_clusters == 0 or plain.size == 0:
        return arms
    probe = plain[:, None] + flat_offsets(width)[None, :]
    pos = np.minimum(np.searchsorted(jidx, probe), jidx.size - 1)
    nb = np.where(jidx[pos] == probe, jlabels[pos], 0)  # N x 8 cluster labels of the neighbours
    nb = np.sort(nb, axis=1)
    distinct = (nb[:, 1:] != nb[:, :-1]) & (nb[:, 1:] > 0)
    first = nb[:, 0] > 0
    np.add.at(arms, np.concatenate([nb[first, 0], nb[:, 1:][distinct]]), 1)
    return arms
