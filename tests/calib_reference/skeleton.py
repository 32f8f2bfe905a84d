"""Skeletonisation of binary masks in vectorised numpy (no scikit-image, no cv2.ximgproc).

`skeletonize` runs Zhang-Suen parallel thinning followed by a clean-up that removes the remaining
"staircase" pixels, so the result is exactly one pixel wide (8-connected): every pixel that is not
an end point is needed for connectivity.

Both passes work on flat index arrays of the foreground pixels and a 256-entry lookup table of
8-neighbour patterns, so the cost grows with the number of mask pixels, not the image size.

Neighbour code of a pixel (bit k set when neighbour k is foreground), clockwise from north:

    bit 7 (NW)  bit 0 (N)  bit 1 (NE)
    bit 6 (W)      P       bit 2 (E)
    bit 5 (SW)  bit 4 (S)  bit 3 (SE)
"""

from __future__ import annotations

import cv2
import numpy as np

# (dy, dx) of neighbour bits 0..7: N, NE, E, SE, S, SW, W, NW.
NEIGHBOUR_OFFSETS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _bits(code: int) -> list[int]:
    return [(code >> k) & 1 for k in range(8)]


def _zhang_suen_luts() -> tuple[np.ndarray, np.ndarray]:
    """Deletion tables of the two Zhang-Suen sub-iterations, indexed by neighbour code."""
    first = np.zeros(256, dtype=bool)
    second = np.zeros(256, dtype=bool)
    for code in range(256):
        n, ne, e, se, s, sw, w, nw = _bits(code)
        seq = [n, ne, e, se, s, sw, w, nw, n]
        b = sum(seq[:8])
        a = sum(1 for i in range(8) if seq[i] == 0 and seq[i + 1] == 1)
        if not (2 <= b <= 6 and a == 1):
            continue
        first[code] = n * e * s == 0 and e * s * w == 0
        second[code] = n * e * w == 0 and n * s * w == 0
    return first, second


def _connectivity_number(code: int) -> int:
    """Yokoi's 8-connectivity number: 1 exactly when deleting the pixel keeps the topology."""
    x = _bits(code)
    xb = [1 - v for v in x] + [1 - x[0], 1 - x[1]]
    return sum(xb[k] - xb[k] * xb[k + 1] * xb[k + 2] for k in (0, 2, 4, 6))


def _cleanup_lut() -> np.ndarray:
    """Pixels the clean-up removes: simple (connectivity number 1) and not an end point."""
    lut = np.zeros(256, dtype=bool)
    for code in range(256):
        lut[code] = _connectivity_number(code) == 1 and bin(code).count("1") >= 2
    return lut


ZS_FIRST, ZS_SECOND = _zhang_suen_luts()
CLEANUP = _cleanup_lut()
POPCOUNT = np.array([bin(c).count("1") for c in range(256)], dtype=np.uint8)


def flat_offsets(width: int) -> np.ndarray:
    """Flat-index offsets of the 8 neighbours (bit order) in a C-contiguous image `width` wide."""
    return np.array([dy * width + dx for dy, dx in NEIGHBOUR_OFFSETS], dtype=np.int64)


def neighbour_codes(flat: np.ndarray, idx: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """8-neighbour codes (uint8, bit order above) of pixels `idx` of a flattened 0/1 uint8 image.

    The image must have a background border of at least one pixel so that idx + offsets stays inside.
    """
    code = np.zeros(idx.shape, dtype=np.uint8)
    for bit, off in enumerate(offsets):
        code |= flat[idx + off] << np.uint8(bit)
    return code


def _zhang_suen(flat: np.ndarray, idx: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Thin the padded, flattened 0/1 image in place with Zhang-Suen sub-iterations.

    idx: flat indices of all foreground pixels. Returns those still set afterwards. Only "front"
    pixels are examined: foreground pixels with a background neighbour; after each deletion the
    foreground neighbours of the deleted pixels join the front.
    """
    front = idx[neighbour_codes(flat, idx, offsets) != 255]
    idle_subiterations = 0
    lut_cycle = (ZS_FIRST, ZS_SECOND)
    step = 0
    while idle_subiterations < 2 and front.size:
        lut = lut_cycle[step % 2]
        step += 1
        delete = lut[neighbour_codes(flat, front, offsets)]
        if not delete.any():
            idle_subiterations += 1
            continue
        idle_subiterations = 0
        gone = front[delete]
        flat[gone] = 0
        touched = (gone[:, None] + offsets[None, :]).ravel()
        touched = touched[flat[touched] == 1]
        front = np.union1d(front[~delete], touched)
    return idx[flat[idx] == 1]


def remove_staircases(flat: np.ndarray, idx: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """Delete simple non-end pixels until none is left, in place; returns the remaining indices.

    The pixels are processed in four classes by (row parity, column parity); two pixels of one
    class are never 8-adjacent, so deleting a whole class at once keeps the topology.
    """
    rows, cols = np.divmod(idx, width)
    parity = (rows & 1) * 2 + (cols & 1)
    while True:
        changed = False
        for cls in range(4):
            sel = idx[(parity == cls) & (flat[idx] == 1)]
            if sel.size == 0:
                continue
            delete = CLEANUP[neighbour_codes(flat, sel, offsets)]
            if delete.any():
                flat[sel[delete]] = 0
                changed = True
        if not changed:
            return idx[flat[idx] == 1]


def skeleton_flat(mask: np.ndarray, pad: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """Skeleton of `mask` (HxW, non-zero = foreground) in a zero-padded, flattened uint8 image.

    Returns (flat image of shape (H + 2 pad) * (W + 2 pad), sorted flat indices of the skeleton
    pixels, padded width). Pixel (x, y) of the mask is flat index (y + pad) * width + x + pad.
    """
    if pad < 1:
        raise ValueError("pad must be at least 1")
    m = np.asarray(mask)
    h, w = m.shape
    width = w + 2 * pad
    img = np.zeros((h + 2 * pad, width), dtype=np.uint8)
    img[pad:pad + h, pad:pad + w] = m != 0
    points = cv2.findNonZero(img)  # N x 1 x 2 (x, y), row-major order; None when empty
    if points is None:
        return img.ravel(), np.zeros(0, dtype=np.int64), width
    points = points.reshape(-1, 2).astype(np.int64)
    idx = points[:, 1] * width + points[:, 0]
    flat = img.ravel()
    offsets = flat_offsets(width)
    idx = _zhang_suen(flat, idx, offsets)
    idx = remove_staircases(flat, idx, offsets, width)
    return flat, idx, width


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide, 8-connected skeleton of a binary mask.

    mask: HxW, any dtype (non-zero = foreground). Returns HxW bool. Each 8-connected component of the
    mask keeps its number of holes; components of fewer than about 4 pixels in a 2x2 arrangement can
    vanish (a Zhang-Suen property; measurements drop such specks anyway).
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"skeletonize expects an HxW mask, got shape {m.shape}")
    flat, _, width = skeleton_flat(m, pad=1)
    return flat.reshape(-1, width)[1:-1, 1:-1].astype(bool)
